#pragma once
// The Transport concept: the only layer that does I/O. Every model (Memory, Filesystem, S3, Any and
// the wrappers) follows S3's rules, so code written against one behaves the same on all of them.

#include <chrono>
#include <concepts>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "s3db/core/errors.hpp"

namespace s3db {

/// User metadata (`x-amz-meta-*`). Keys are lowercase on every store, as S3 returns them; values
/// are UTF-8 and any byte sequence is accepted (the S3 transport encodes what HTTP cannot carry).
using Metadata = std::map<std::string, std::string, std::less<>>;

/// S3's limits, shared by every transport.
inline constexpr std::size_t max_key_bytes = 1024;
inline constexpr std::size_t default_metadata_limit = 2048;  // AWS: 2 KB of keys + values
inline constexpr std::size_t max_list_keys = 1000;           // per ListObjectsV2 page
inline constexpr std::size_t max_delete_keys = 1000;         // per DeleteObjects request

/// What a store knows about one object.
struct ObjectInfo {
    std::string key;
    std::string etag;  // quoted, as S3 sends it: "\"<md5 hex>\"" or "\"<hex>-<parts>\""
    std::uint64_t size = 0;  // size of the whole object, also for a ranged read
    std::string content_type;
    std::chrono::system_clock::time_point last_modified{};
    Metadata metadata;
};

/// An object read with GET: its description and the bytes asked for.
struct Object {
    ObjectInfo info;
    std::string body;
};

/// A byte range: [first, last] inclusive, [first, end), or the last `suffix` bytes.
struct ByteRange {
    std::uint64_t first = 0;
    std::optional<std::uint64_t> last{};
    std::optional<std::uint64_t> suffix{};

    static ByteRange between(std::uint64_t first, std::uint64_t last) { return {first, last, {}}; }
    static ByteRange from(std::uint64_t first) { return {first, {}, {}}; }
    static ByteRange tail(std::uint64_t n) { return {0, {}, n}; }

    std::string header_value() const {
        if (suffix) return "bytes=-" + std::to_string(*suffix);
        return "bytes=" + std::to_string(first) + "-" + (last ? std::to_string(*last) : std::string{});
    }
};

struct PutOptions {
    std::string content_type = "application/octet-stream";
    Metadata metadata{};
    std::string if_match{};      // write only if the current ETag is this one (quoted or not)
    bool if_none_match = false;  // `If-None-Match: *`: write only if the key does not exist
};

struct PutResult {
    std::string etag;
};

struct GetOptions {
    std::optional<ByteRange> range{};
    std::string if_match{};       // 412 unless the current ETag matches
    std::string if_none_match{};  // 304 (NotModified) if the current ETag matches; "*" matches any
};

enum class MetadataDirective { copy, replace };

struct CopyOptions {
    MetadataDirective directive = MetadataDirective::copy;
    Metadata metadata{};         // used with `replace`
    std::string content_type{};  // used with `replace`; empty keeps the source's
    std::string source_if_match{};  // `x-amz-copy-source-if-match`: copy only that version
};

struct ListOptions {
    std::string prefix{};
    std::string delimiter{};
    std::string start_after{};
    std::size_t max_keys = max_list_keys;  // capped at 1000
    std::string continuation_token{};     // opaque, from the previous page
};

struct ListEntry {
    std::string key;
    std::string etag;
    std::uint64_t size = 0;
    std::chrono::system_clock::time_point last_modified{};
};

struct ListPage {
    std::vector<ListEntry> objects;
    std::vector<std::string> common_prefixes;
    std::string next_continuation_token;  // empty on the last page
    bool truncated() const noexcept { return !next_continuation_token.empty(); }
};

struct RemoveManyResult {
    struct Failure {
        std::string key;
        std::string code;
        std::string message;
    };
    std::vector<std::string> removed;
    std::vector<Failure> failed;
};

/// The operations every store offers. All are thread-safe on every model.
template <class T>
concept Transport = requires(T& t, std::string_view key, std::string_view body,
                             std::span<const std::string> keys) {
    { t.put(key, body, PutOptions{}) } -> std::same_as<PutResult>;
    { t.get(key, GetOptions{}) } -> std::same_as<std::optional<Object>>;
    { t.head(key) } -> std::same_as<std::optional<ObjectInfo>>;
    { t.copy(key, key, CopyOptions{}) } -> std::same_as<PutResult>;
    { t.remove(key) } -> std::same_as<void>;
    { t.remove_many(keys) } -> std::same_as<RemoveManyResult>;
    { t.list(ListOptions{}) } -> std::same_as<ListPage>;
};

/// Deletes every object under `prefix`: LIST pages of up to 1000 keys, each removed with one
/// DeleteObjects. Returns how many were removed.
template <Transport T>
std::size_t remove_prefix(T& store, const std::string& prefix) {
    ListOptions o{.prefix = prefix};
    std::size_t removed = 0;
    for (;;) {
        auto page = store.list(o);
        std::vector<std::string> keys;
        keys.reserve(page.objects.size());
        for (auto& e : page.objects) keys.push_back(std::move(e.key));
        if (keys.size() == 1) {
            store.remove(keys[0]);
            ++removed;
        } else if (!keys.empty()) {
            removed += keys.size() - store.remove_many(keys).failed.size();
        }
        if (!page.truncated()) return removed;
        o.continuation_token = page.next_continuation_token;
    }
}

}  // namespace s3db
