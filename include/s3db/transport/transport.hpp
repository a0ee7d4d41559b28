#pragma once
// The Transport concept: the only layer that does I/O. Every model (Memory, Filesystem, S3, Any and
// the wrappers) follows S3's rules, so code written against one behaves the same on all of them.

#include <algorithm>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "s3db/errors.hpp"

namespace s3db {

/// User metadata (`x-amz-meta-*`). Keys are lowercase on every store, as S3 returns them; values
/// are UTF-8 and any byte sequence is accepted (the S3 transport encodes what HTTP cannot carry).
///
/// A map from key to value with std::map's interface and order (byte order of keys), kept as one
/// sorted vector: metadata is a handful of short entries, which a vector holds in one allocation
/// where a node-based map needs one per entry. Every record read and written goes through one.
class Metadata {
public:
    using key_type = std::string;
    using mapped_type = std::string;
    using value_type = std::pair<std::string, std::string>;
    using container_type = std::vector<value_type>;
    using iterator = container_type::iterator;
    using const_iterator = container_type::const_iterator;
    using size_type = std::size_t;

    Metadata() = default;
    Metadata(std::initializer_list<value_type> entries) {
        entries_.reserve(entries.size());
        for (const auto& [k, v] : entries) insert_or_assign(k, v);
    }
    template <std::input_iterator It>
    Metadata(It first, It last) {
        for (; first != last; ++first) emplace(first->first, first->second);
    }

    /// Takes entries in any order; of equal keys the last wins (as repeated insert_or_assign).
    static Metadata from_entries(container_type entries) {
        Metadata m;
        m.entries_ = std::move(entries);
        auto& e = m.entries_;
        bool duplicates = false;
        if (e.size() <= 64) {
            // A record's few fields: an insertion sort (stable, no buffer) that moves each entry once
            // rather than swapping it along; on sorted input it is n - 1 comparisons.
            for (std::size_t i = 1; i < e.size(); ++i) {
                if (!key_less(e[i].first, e[i - 1].first)) {
                    duplicates = duplicates || e[i].first == e[i - 1].first;
                    continue;
                }
                value_type moving = std::move(e[i]);
                std::size_t j = i;
                do {
                    e[j] = std::move(e[j - 1]);
                } while (--j > 0 && key_less(moving.first, e[j - 1].first));
                duplicates = duplicates || (j > 0 && e[j - 1].first == moving.first);
                e[j] = std::move(moving);
            }
        } else {
            std::stable_sort(e.begin(), e.end(), [](const value_type& a, const value_type& b) { return key_less(a.first, b.first); });
            duplicates = true;  // let the pass below look
        }
        if (!duplicates) return m;
        auto out = e.begin();
        for (auto it = e.begin(); it != e.end(); ++it) {
            if (std::next(it) != e.end() && std::next(it)->first == it->first) continue;  // a later one wins
            if (out != it) *out = std::move(*it);
            ++out;
        }
        e.erase(out, e.end());
        return m;
    }

    iterator begin() noexcept { return entries_.begin(); }
    iterator end() noexcept { return entries_.end(); }
    const_iterator begin() const noexcept { return entries_.begin(); }
    const_iterator end() const noexcept { return entries_.end(); }
    const_iterator cbegin() const noexcept { return entries_.begin(); }
    const_iterator cend() const noexcept { return entries_.end(); }
    size_type size() const noexcept { return entries_.size(); }
    bool empty() const noexcept { return entries_.empty(); }
    void clear() noexcept { entries_.clear(); }
    void reserve(size_type n) { entries_.reserve(n); }

    /// Refills the map with `n` entries that come in key order without duplicates: `entry(i, key,
    /// value)` assigns the i-th into the strings already there, so a reader that refills one map
    /// record after record stops allocating once its strings are long enough.
    template <class Fn>
    void refill_sorted(size_type n, Fn&& entry) {
        entries_.resize(n);
        for (size_type i = 0; i < n; ++i) entry(i, entries_[i].first, entries_[i].second);
    }

    iterator lower_bound(std::string_view key) {
        return std::lower_bound(entries_.begin(), entries_.end(), key,
                                [](const value_type& e, std::string_view k) { return key_less(e.first, k); });
    }
    const_iterator lower_bound(std::string_view key) const { return const_cast<Metadata&>(*this).lower_bound(key); }
    iterator find(std::string_view key) {
        auto it = lower_bound(key);
        return it != end() && it->first == key ? it : end();
    }
    const_iterator find(std::string_view key) const { return const_cast<Metadata&>(*this).find(key); }
    size_type count(std::string_view key) const { return find(key) != end() ? 1 : 0; }
    bool contains(std::string_view key) const { return find(key) != end(); }

    std::string& at(std::string_view key) {
        auto it = find(key);
        if (it == end()) throw std::out_of_range("metadata has no key '" + std::string(key) + "'");
        return it->second;
    }
    const std::string& at(std::string_view key) const { return const_cast<Metadata&>(*this).at(key); }
    std::string& operator[](std::string_view key) { return try_emplace(key).first->second; }

    /// Inserts when the key is absent (std::map::emplace / try_emplace).
    template <class K, class... V>
        requires std::convertible_to<const K&, std::string_view>
    std::pair<iterator, bool> try_emplace(K&& key, V&&... value) {
        auto it = lower_bound(std::string_view(key));
        if (it != end() && it->first == std::string_view(key)) return {it, false};
        return {entries_.emplace(it, std::piecewise_construct, std::forward_as_tuple(std::forward<K>(key)),
                                 std::forward_as_tuple(std::forward<V>(value)...)),
                true};
    }
    template <class K, class V>
        requires std::convertible_to<const K&, std::string_view>
    std::pair<iterator, bool> emplace(K&& key, V&& value) {
        return try_emplace(std::forward<K>(key), std::forward<V>(value));
    }
    std::pair<iterator, bool> insert(value_type entry) { return try_emplace(std::move(entry.first), std::move(entry.second)); }
    iterator insert(const_iterator, value_type entry) { return insert(std::move(entry)).first; }  // std::inserter

    template <class K, class V>
        requires std::convertible_to<const K&, std::string_view>
    std::pair<iterator, bool> insert_or_assign(K&& key, V&& value) {
        auto result = try_emplace(std::forward<K>(key));
        result.first->second = std::forward<V>(value);
        return result;
    }

    size_type erase(std::string_view key) {
        auto it = find(key);
        if (it == end()) return 0;
        entries_.erase(it);
        return 1;
    }
    iterator erase(const_iterator it) { return entries_.erase(it); }

    friend bool operator==(const Metadata&, const Metadata&) = default;

private:
    /// Byte order. Metadata keys are mostly one or two characters (base36 indices), for which a
    /// loop beats a call to memcmp.
    static bool key_less(std::string_view a, std::string_view b) noexcept {
        std::size_t n = std::min(a.size(), b.size());
        if (n > 8) return a < b;
        for (std::size_t i = 0; i < n; ++i)
            if (a[i] != b[i]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[i]);
        return a.size() < b.size();
    }

    container_type entries_;
};

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
    /// S3's `x-amz-storage-class` as the store reports it; empty where it reports none (S3 omits
    /// it for STANDARD; Memory and Filesystem keep no class).
    std::string storage_class{};
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
    /// `x-amz-storage-class` (STANDARD, STANDARD_IA, GLACIER_IR, ...); empty: the bucket's default.
    /// S3 sends it (signed) and the server decides what it accepts: a class it does not know
    /// throws InvalidStorageClass. Memory and Filesystem have one tier: they check the name's form
    /// (check_storage_class) and keep nothing, so a malformed name fails on every store alike.
    std::string storage_class{};
};

/// InvalidStorageClass unless `name` is empty or looks like an S3 storage class: 1 to 64 of
/// A-Z, 0-9 and '_' (AWS's classes and RGW's placement classes all do). Which classes exist is
/// the server's to say.
inline void check_storage_class(std::string_view key, std::string_view name) {
    if (name.empty()) return;
    bool ok = name.size() <= 64;
    for (char c : name) ok = ok && ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_');
    if (!ok) throw InvalidStorageClass(std::string(key), std::string(name), "not a storage class name (A-Z, 0-9, '_')");
}

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

/// An object as a read sees it: views of the store's own strings, valid during the call they are
/// passed to and no longer.
struct ObjectView {
    std::string_view etag, content_type, body;
    std::chrono::system_clock::time_point last_modified;
    const Metadata& metadata;

    static ObjectView of(const Object& o) noexcept {
        return {o.info.etag, o.info.content_type, o.body, o.info.last_modified, o.info.metadata};
    }
};

namespace detail {
struct ViewProbe {
    int operator()(const ObjectView&) const { return 0; }
};
}  // namespace detail

/// A transport that can also show an object where it lies (an in-process store): `read(key, fn)`
/// returns `fn(view)` for the object at `key`, or nullopt when there is none. It is one GET, and
/// spares the copy of the body, metadata and ETag that get() returns.
template <class T>
concept ReadsInPlace = requires(T& t, std::string_view key) {
    { t.read(key, detail::ViewProbe{}) } -> std::same_as<std::optional<int>>;
};

namespace detail {
/// read_object's answer for a transport that copies: `fn` over what get() returned.
template <class T, class Fn>
std::optional<std::invoke_result_t<Fn&, const ObjectView&>> read_copied(T& store, std::string_view key, Fn& fn) {
    auto obj = store.get(key);
    if (!obj) return std::nullopt;
    return fn(ObjectView::of(*obj));
}
}  // namespace detail

/// `fn(view)` of the object at `key` with one GET, nullopt when it does not exist: in place where
/// the transport can, from get()'s copy otherwise.
template <Transport T, class Fn>
std::optional<std::invoke_result_t<Fn&, const ObjectView&>> read_object(T& store, std::string_view key, Fn&& fn) {
    if constexpr (ReadsInPlace<T>) return store.read(key, fn);
    else return detail::read_copied(store, key, fn);
}

/// Deletes every object under `prefix` that `selected(key)` accepts (all, by default): LIST pages
/// of up to 1000 keys, each removed with one DeleteObjects. Returns how many were removed.
template <Transport T, class Selected = bool (*)(std::string_view)>
std::size_t remove_prefix(T& store, const std::string& prefix,
                          Selected&& selected = [](std::string_view) { return true; }) {
    ListOptions o{.prefix = prefix};
    std::size_t removed = 0;
    for (;;) {
        auto page = store.list(o);
        std::vector<std::string> keys;
        keys.reserve(page.objects.size());
        for (auto& e : page.objects)
            if (selected(std::string_view(e.key))) keys.push_back(std::move(e.key));
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
