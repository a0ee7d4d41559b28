#pragma once
// Any: one of Memory, Filesystem or S3, chosen at run time from a connection string
// (see connection.hpp). `Database<...>` sits on it by default. Dispatch is one std::visit per call.
//
// The stores live behind a pointer, so this header does not need their definitions: compiled once
// (S3DB_SEPARATE_COMPILATION), a program's translation units that only name Any parse and compile
// none of the stores, the S3 client or libcurl; the one implementation file does.

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "s3db/detail/config.hpp"
#include "s3db/fwd.hpp"
#include "s3db/transport/connection.hpp"
#include "s3db/transport/transport.hpp"

namespace s3db {

/// The S3 settings a connection string gives; what it leaves out is resolved from the environment.
S3DB_DECL S3Options s3_options(const ConnectionString& c);

class Any {
public:
    /// Opens the store a connection string names; throws ConfigError for a malformed one.
    S3DB_DECL explicit Any(std::string_view url);
    S3DB_DECL explicit Any(const ConnectionString& c);
    S3DB_DECL Any(Memory m);
    S3DB_DECL Any(Filesystem f);
    S3DB_DECL Any(S3 s);
    S3DB_DECL Any(Any&&) noexcept;
    S3DB_DECL Any& operator=(Any&&) noexcept;
    S3DB_DECL ~Any();

    /// The concrete store (Memory, Filesystem or S3), for what only one kind offers (presigned
    /// URLs, bucket creation); null when the connection string picked another kind.
    template <class T>
    T* get_if() noexcept {
        constexpr std::size_t index = std::is_same_v<T, Memory> ? 0 : std::is_same_v<T, Filesystem> ? 1 : 2;
        static_assert(index < 2 || std::is_same_v<T, S3>, "Any holds a Memory, a Filesystem or an S3");
        return static_cast<T*>(get_if_index(index));
    }

    S3DB_DECL PutResult put(std::string_view key, std::string_view body, PutOptions o = {});
    S3DB_DECL std::optional<Object> get(std::string_view key, GetOptions o = {});
    S3DB_DECL std::optional<ObjectInfo> head(std::string_view key);
    S3DB_DECL PutResult copy(std::string_view from, std::string_view to, CopyOptions o = {});
    S3DB_DECL void remove(std::string_view key);
    S3DB_DECL RemoveManyResult remove_many(std::span<const std::string> keys);
    S3DB_DECL ListPage list(ListOptions o = {});

private:
    struct Store;  // std::variant<Memory, Filesystem, S3>
    S3DB_DECL void* get_if_index(std::size_t index) noexcept;

    std::unique_ptr<Store> store_;
};

static_assert(Transport<Any>);

}  // namespace s3db

#if S3DB_DEFINE_BODIES
#include <utility>
#include <variant>

#include "s3db/transport/credentials.hpp"
#include "s3db/transport/filesystem.hpp"
#include "s3db/transport/memory.hpp"
#include "s3db/transport/s3.hpp"

namespace s3db {

struct Any::Store {
    std::variant<Memory, Filesystem, S3> kind;

    static Store open(const ConnectionString& c) {
        switch (c.kind) {
            case ConnectionString::Kind::memory:
                return {Memory::shared(c.bucket, MemoryOptions{.prefix = c.prefix})};
            case ConnectionString::Kind::filesystem:
                return {Filesystem(FilesystemOptions{.root = c.path})};
            case ConnectionString::Kind::s3:
                return {S3(s3_options(c))};
        }
        throw ConfigError("unknown store kind");
    }
};

S3DB_DECL S3Options s3_options(const ConnectionString& c) {
    S3Options o;
    o.bucket = c.bucket;
    o.prefix = c.prefix;
    o.region = c.region;
    o.endpoint = c.endpoint;
    o.path_style = c.path_style;
    if (!c.access_key_id.empty()) o.credentials = Credentials{c.access_key_id, c.secret_access_key, c.session_token};
    return o;
}

S3DB_DECL Any::Any(std::string_view url) : Any(ConnectionString::parse(url)) {}
S3DB_DECL Any::Any(const ConnectionString& c) : store_(std::make_unique<Store>(Store::open(c))) {}
S3DB_DECL Any::Any(Memory m) : store_(std::make_unique<Store>(Store{std::move(m)})) {}
S3DB_DECL Any::Any(Filesystem f) : store_(std::make_unique<Store>(Store{std::move(f)})) {}
S3DB_DECL Any::Any(S3 s) : store_(std::make_unique<Store>(Store{std::move(s)})) {}
S3DB_DECL Any::Any(Any&&) noexcept = default;
S3DB_DECL Any& Any::operator=(Any&&) noexcept = default;
S3DB_DECL Any::~Any() = default;

S3DB_DECL void* Any::get_if_index(std::size_t index) noexcept {
    if (!store_ || store_->kind.index() != index) return nullptr;
    return std::visit([](auto& s) -> void* { return &s; }, store_->kind);
}

S3DB_DECL PutResult Any::put(std::string_view key, std::string_view body, PutOptions o) {
    return std::visit([&](auto& s) { return s.put(key, body, std::move(o)); }, store_->kind);
}
S3DB_DECL std::optional<Object> Any::get(std::string_view key, GetOptions o) {
    return std::visit([&](auto& s) { return s.get(key, std::move(o)); }, store_->kind);
}
S3DB_DECL std::optional<ObjectInfo> Any::head(std::string_view key) {
    return std::visit([&](auto& s) { return s.head(key); }, store_->kind);
}
S3DB_DECL PutResult Any::copy(std::string_view from, std::string_view to, CopyOptions o) {
    return std::visit([&](auto& s) { return s.copy(from, to, std::move(o)); }, store_->kind);
}
S3DB_DECL void Any::remove(std::string_view key) {
    std::visit([&](auto& s) { s.remove(key); }, store_->kind);
}
S3DB_DECL RemoveManyResult Any::remove_many(std::span<const std::string> keys) {
    return std::visit([&](auto& s) { return s.remove_many(keys); }, store_->kind);
}
S3DB_DECL ListPage Any::list(ListOptions o) {
    return std::visit([&](auto& s) { return s.list(std::move(o)); }, store_->kind);
}

}  // namespace s3db
#endif  // S3DB_DEFINE_BODIES
