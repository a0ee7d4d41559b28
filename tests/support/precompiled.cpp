// The source of s3db_test_pch (tests/CMakeLists.txt), the target that builds the tests' precompiled
// header; it compiles nothing of its own.
