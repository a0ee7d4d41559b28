#pragma once
// Forward declarations, for headers that only name s3db's types (in signatures, pointers, friends)
// and should not pay for including their definitions.

namespace s3db {

class Memory;
struct MemoryOptions;

class Filesystem;
struct FilesystemOptions;

class S3;
struct S3Options;

class Any;

}  // namespace s3db
