#pragma once
// Any: one of Memory, Filesystem or S3, chosen at run time from a connection string
// (see connection.hpp). `Database<...>` sits on it by default. Dispatch is one std::visit per call.

#include <string_view>
#include <utility>
#include <variant>

#include "s3db/transport/connection.hpp"
#include "s3db/transport/credentials.hpp"
#include "s3db/transport/filesystem.hpp"
#include "s3db/transport/memory.hpp"
#include "s3db/transport/s3.hpp"

namespace s3db {

/// The S3 settings a connection string gives; what it leaves out is resolved from the environment.
inline S3Options s3_options(const ConnectionString& c) {
    S3Options o;
    o.bucket = c.bucket;
    o.prefix = c.prefix;
    o.region = c.region;
    o.endpoint = c.endpoint;
    o.path_style = c.path_style;
    if (!c.access_key_id.empty()) o.credentials = Credentials{c.access_key_id, c.secret_access_key, c.session_token};
    return o;
}

class Any {
public:
    using Variant = std::variant<Memory, Filesystem, S3>;

    /// Opens the store a connection string names; throws ConfigError for a malformed one.
    explicit Any(std::string_view url) : store_(open(ConnectionString::parse(url))) {}
    explicit Any(const ConnectionString& c) : store_(open(c)) {}
    Any(Memory m) : store_(std::move(m)) {}
    Any(Filesystem f) : store_(std::move(f)) {}
    Any(S3 s) : store_(std::move(s)) {}

    /// The concrete store, for what only one kind offers (presigned URLs, bucket creation).
    template <class T>
    T* get_if() noexcept { return std::get_if<T>(&store_); }
    template <class F>
    decltype(auto) visit(F&& f) { return std::visit(std::forward<F>(f), store_); }

    PutResult put(std::string_view key, std::string_view body, PutOptions o = {}) {
        return visit([&](auto& s) { return s.put(key, body, std::move(o)); });
    }
    std::optional<Object> get(std::string_view key, GetOptions o = {}) {
        return visit([&](auto& s) { return s.get(key, std::move(o)); });
    }
    std::optional<ObjectInfo> head(std::string_view key) {
        return visit([&](auto& s) { return s.head(key); });
    }
    PutResult copy(std::string_view from, std::string_view to, CopyOptions o = {}) {
        return visit([&](auto& s) { return s.copy(from, to, std::move(o)); });
    }
    void remove(std::string_view key) {
        visit([&](auto& s) { s.remove(key); });
    }
    RemoveManyResult remove_many(std::span<const std::string> keys) {
        return visit([&](auto& s) { return s.remove_many(keys); });
    }
    ListPage list(ListOptions o = {}) {
        return visit([&](auto& s) { return s.list(std::move(o)); });
    }

private:
    static Variant open(const ConnectionString& c) {
        switch (c.kind) {
            case ConnectionString::Kind::memory:
                return Memory::shared(c.bucket, MemoryOptions{.prefix = c.prefix});
            case ConnectionString::Kind::filesystem:
                return Filesystem(FilesystemOptions{.root = c.path});
            case ConnectionString::Kind::s3:
                return S3(s3_options(c));
        }
        throw ConfigError("unknown store kind");
    }

    Variant store_;
};

static_assert(Transport<Any>);

}  // namespace s3db
