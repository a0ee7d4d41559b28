#pragma once
// Forward declarations, for headers that only name s3db's types (in signatures, pointers, friends)
// and should not pay for including their definitions. Standard headers only, as nlohmann's
// json_fwd.hpp: including this costs nothing.

namespace s3db {

class Memory;
struct MemoryOptions;

class Filesystem;
struct FilesystemOptions;

class S3;
struct S3Options;

class Any;

struct NoHost;
template <class T, class Host>
class Resource;
template <class T, class... Plugins>
class BasicDatabase;
/// A database on the store a connection string picks (defined with Any in core/any_database.hpp).
template <class... Plugins>
using Database = BasicDatabase<Any, Plugins...>;

}  // namespace s3db
