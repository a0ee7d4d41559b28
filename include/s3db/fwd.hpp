#pragma once
// Forward declarations, for headers that only name s3db's types (in signatures, pointers, friends)
// and should not pay for including their definitions.

#include "s3db/transport/transport.hpp"

namespace s3db {

class Memory;
struct MemoryOptions;

class Filesystem;
struct FilesystemOptions;

class S3;
struct S3Options;

class Any;

struct NoHost;
template <Transport T, class Host>
class Resource;
template <Transport T, class... Plugins>
class BasicDatabase;
/// A database on the store a connection string picks.
template <class... Plugins>
using Database = BasicDatabase<Any, Plugins...>;

}  // namespace s3db
