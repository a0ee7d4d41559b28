#pragma once
// How s3db's non-template code is compiled: header-only (the default) or compiled once.
//
// Header-only: every function is defined in its header, `inline`, and compiled again in each
// translation unit that uses it. Nothing to set up.
//
// Compiled once: define S3DB_SEPARATE_COMPILATION for every translation unit of the program (e.g.
// `target_compile_definitions(app PRIVATE S3DB_SEPARATE_COMPILATION)`), and in exactly one source
// file include <s3db/implementation.hpp> before anything else. The headers then only declare the
// non-template functions, and that one file compiles them; the templates (Resource, BasicDatabase,
// the plugins) stay in the headers. Every other translation unit skips the bodies, and through
// Any never sees the stores it does not name (no S3 client, no libcurl).
//
// In a header, a non-template function is declared with S3DB_DECL and defined after the class in a
// `#if S3DB_DEFINE_BODIES` block, with S3DB_DECL again (`inline` in header-only mode, nothing when
// compiled once).

#if defined(S3DB_SEPARATE_COMPILATION)
#define S3DB_DECL
#if defined(S3DB_IMPLEMENTATION)
#define S3DB_DEFINE_BODIES 1
#else
#define S3DB_DEFINE_BODIES 0
#endif
#else
#if defined(S3DB_IMPLEMENTATION)
#error "s3db/implementation.hpp is for S3DB_SEPARATE_COMPILATION: define it for the whole program"
#endif
#define S3DB_DECL inline
#define S3DB_DEFINE_BODIES 1
#endif
