#pragma once
// Memory: an in-process S3 bucket. A product part, not a test double: MD5 ETags, 412 on failed
// conditions, byte-order listing in pages of 1000, delimiters, and the 2 KB metadata limit.
// Thread-safe; copies of a Memory share one bucket.

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <type_traits>

#include "s3db/detail/config.hpp"
#include "s3db/detail/hashing.hpp"
#include "s3db/transport/s3/rules.hpp"
#include "s3db/transport/transport.hpp"

namespace s3db {

namespace detail {

/// Text held inline up to N bytes and on the heap beyond: a key, ETag or content type of an
/// object in the memory store costs no allocation of its own.
template <std::size_t N>
class InlineText {
public:
    InlineText() noexcept = default;
    explicit InlineText(std::string_view s) { assign(s); }
    InlineText(const InlineText& o) { assign(o.view()); }
    InlineText(InlineText&& o) noexcept { take(o); }
    InlineText& operator=(const InlineText& o) {
        if (this != &o) assign(o.view());
        return *this;
    }
    InlineText& operator=(InlineText&& o) noexcept {
        if (this != &o) take(o);
        return *this;
    }

    std::string_view view() const noexcept { return {heap_ ? heap_.get() : inline_, size_}; }

private:
    void assign(std::string_view s) {
        heap_.reset();
        if (s.size() > N) heap_ = std::make_unique<char[]>(s.size());
        if (!s.empty()) std::memcpy(heap_ ? heap_.get() : inline_, s.data(), s.size());
        size_ = static_cast<std::uint32_t>(s.size());
    }
    void take(InlineText& o) noexcept {
        heap_ = std::move(o.heap_);
        size_ = o.size_;
        if (!heap_) std::memcpy(inline_, o.inline_, size_);
        o.size_ = 0;
    }

    std::unique_ptr<char[]> heap_;
    std::uint32_t size_ = 0;
    char inline_[N];
};

/// Metadata as the memory store keeps it: the entry count, then each key and value behind its
/// length (LEB128), in one string. A record's handful of short entries takes one allocation of
/// some 60 bytes, where a Metadata takes a vector of string pairs (64 bytes an entry) and a heap
/// block for each value over 15 bytes. Stored objects are the store's memory, and on a machine
/// where first touches of pages are dear, a store that grows less leaves more warm memory to the
/// records its readers build.
class PackedMetadata {
public:
    PackedMetadata() = default;
    explicit PackedMetadata(const Metadata& m) {
        std::size_t n = length_size(m.size());
        for (const auto& [k, v] : m) n += length_size(k.size()) + k.size() + length_size(v.size()) + v.size();
        bytes_.reserve(n);
        put_length(m.size());
        for (const auto& [k, v] : m) {
            put_length(k.size());
            bytes_ += k;
            put_length(v.size());
            bytes_ += v;
        }
    }

    /// Refills `out`, reusing the storage of its strings (see Metadata::refill_sorted).
    void unpack_into(Metadata& out) const {
        std::size_t pos = 0;
        const std::size_t n = get_length(pos);
        out.refill_sorted(n, [&](std::size_t, std::string& key, std::string& value) {
            std::size_t len = get_length(pos);
            key.assign(bytes_, pos, len);
            pos += len;
            len = get_length(pos);
            value.assign(bytes_, pos, len);
            pos += len;
        });
    }
    Metadata unpack() const {
        Metadata m;
        unpack_into(m);
        return m;
    }

private:
    static std::size_t length_size(std::size_t v) noexcept {
        std::size_t n = 1;
        for (; v >= 0x80; v >>= 7) ++n;
        return n;
    }
    void put_length(std::size_t v) {
        for (; v >= 0x80; v >>= 7) bytes_ += static_cast<char>((v & 0x7f) | 0x80);
        bytes_ += static_cast<char>(v);
    }
    std::size_t get_length(std::size_t& pos) const noexcept {
        std::size_t v = 0;
        for (int shift = 0;; shift += 7) {
            auto b = static_cast<unsigned char>(bytes_[pos++]);
            v |= std::size_t(b & 0x7f) << shift;
            if (!(b & 0x80)) return v;
        }
    }

    std::string bytes_;
};

/// The Metadata a read in place shows, one per thread and refilled per object: reading a record
/// allocates nothing for its metadata once the strings have grown. A read that starts inside
/// another read's callback (another store's, on the same thread) unpacks into a map of its own.
struct MetadataScratch {
    Metadata metadata;
    bool busy = false;
};
inline MetadataScratch& metadata_scratch() noexcept {
    thread_local MetadataScratch scratch;
    return scratch;
}

}  // namespace detail

struct MemoryOptions {
    std::string prefix{};                                 // keys live under this prefix
    std::size_t metadata_limit = default_metadata_limit;  // 0 turns the check off
};

class Memory {
private:
    using ShortText = detail::InlineText<36>;  // holds a quoted MD5 and the content types s3db writes
    struct Stored {
        std::string body;
        ShortText etag, content_type;
        std::chrono::system_clock::time_point last_modified;
        detail::PackedMetadata metadata;
    };
    /// A key held in the map's node. A lookup in a large bucket is a dozen comparisons of keys that
    /// share a long prefix ("resource=users/data/id="); kept inline (a record's key is ~45 bytes),
    /// each compares bytes next to the node instead of following a pointer to a heap string, and
    /// a write allocates one node instead of a node and a string.
    using NodeKey = detail::InlineText<64>;
    struct KeyLess {
        using is_transparent = void;
        static std::string_view view(const NodeKey& k) noexcept { return k.view(); }
        static std::string_view view(std::string_view k) noexcept { return k; }
        template <class A, class B>
        bool operator()(const A& a, const B& b) const noexcept { return view(a) < view(b); }
    };
    struct Bucket {
        std::shared_mutex mutex;
        // Objects by value, in the map's nodes: one allocation less per write than a shared_ptr,
        // and readers copy what they return under the shared lock.
        std::map<NodeKey, Stored, KeyLess> objects;
    };
    using Iter = std::map<NodeKey, Stored, KeyLess>::iterator;

    /// `fn(object or nullptr)` for the object at `key` (before the prefix), under the shared lock.
    /// Without a prefix the key is looked up as given, with no string built: reads are the hot path
    /// of an in-process store.
    template <class Fn>
    std::invoke_result_t<Fn&, const Stored*> with_object(std::string_view key, Fn&& fn) const {
        std::string full;
        if (prefix_.empty()) detail::check_key(key);
        else key = full = prefix_.apply(key);
        std::shared_lock lock(bucket_->mutex);
        auto it = bucket_->objects.find(key);
        return fn(it == bucket_->objects.end() ? nullptr : &it->second);
    }

public:
    using Options = MemoryOptions;

    /// A new, private bucket.
    Memory() : Memory(Options{}) {}
    explicit Memory(Options o) : Memory(std::make_shared<Bucket>(), std::move(o)) {}

    /// The process-wide bucket called `name` (what `memory://name/prefix` opens): every Memory
    /// made from the same name sees the same objects.
    S3DB_DECL static Memory shared(const std::string& name, Options o = {});

    PutResult put(std::string_view key, std::string_view body, PutOptions o = {}) {
        auto full = prefix_.apply(key);
        check_storage_class(full, o.storage_class);  // one tier: checked, not kept
        auto etag = detail::etag_of(body);
        Stored obj{std::string(body), ShortText(etag), ShortText(o.content_type),
                   std::chrono::system_clock::now(),
                   detail::PackedMetadata(detail::normalize_metadata(std::move(o.metadata), full, opts_.metadata_limit))};
        PutResult r{std::move(etag)};
        std::unique_lock lock(bucket_->mutex);
        auto& objects = bucket_->objects;
        auto it = objects.lower_bound(full);  // one descent serves the check and the insert
        bool exists = it != objects.end() && it->first.view() == full;
        check_write_conditions(exists ? it : objects.end(), full, o.if_match, o.if_none_match);
        if (exists) it->second = std::move(obj);
        else objects.emplace_hint(it, std::piecewise_construct, std::forward_as_tuple(full), std::forward_as_tuple(std::move(obj)));
        return r;
    }

    /// `fn(view)` of the object under the shared lock (ReadsInPlace): writers of the bucket wait
    /// while `fn` runs, so it must not call back into this store.
    template <class Fn>
    std::optional<std::invoke_result_t<Fn&, const ObjectView&>> read(std::string_view key, Fn&& fn) const {
        return with_object(key, [&](const Stored* obj) -> std::optional<std::invoke_result_t<Fn&, const ObjectView&>> {
            if (!obj) return std::nullopt;
            auto& scratch = detail::metadata_scratch();
            if (scratch.busy) {
                Metadata own = obj->metadata.unpack();
                return fn(ObjectView{obj->etag.view(), obj->content_type.view(), obj->body, obj->last_modified, own});
            }
            scratch.busy = true;
            struct Release {
                bool& busy;
                ~Release() { busy = false; }
            } release{scratch.busy};
            obj->metadata.unpack_into(scratch.metadata);
            return fn(ObjectView{obj->etag.view(), obj->content_type.view(), obj->body, obj->last_modified, scratch.metadata});
        });
    }

    std::optional<Object> get(std::string_view key, GetOptions o = {}) {
        return with_object(key, [&](const Stored* obj) -> std::optional<Object> {
            if (!obj) {
                if (!o.if_match.empty()) throw PreconditionFailed(prefix_.apply(key));
                return std::nullopt;
            }
            if (!o.if_match.empty() && !detail::etag_equal(o.if_match, obj->etag.view())) throw PreconditionFailed(prefix_.apply(key));
            if (!o.if_none_match.empty() && (o.if_none_match == "*" || detail::etag_equal(o.if_none_match, obj->etag.view())))
                throw NotModified(prefix_.apply(key));
            if (!o.range) return Object{info(key, *obj), obj->body};
            auto [first, count] = detail::resolve_range(*o.range, obj->body.size(), prefix_.apply(key));
            return Object{info(key, *obj), obj->body.substr(first, count)};
        });
    }

    std::optional<ObjectInfo> head(std::string_view key) {
        return with_object(key, [&](const Stored* obj) -> std::optional<ObjectInfo> {
            if (!obj) return std::nullopt;
            return info(key, *obj);
        });
    }

    S3DB_DECL PutResult copy(std::string_view from, std::string_view to, CopyOptions o = {});

    S3DB_DECL void remove(std::string_view key);

    S3DB_DECL RemoveManyResult remove_many(std::span<const std::string> keys);

    S3DB_DECL ListPage list(ListOptions o = {});

    const Options& options() const noexcept { return opts_; }

private:

    Memory(std::shared_ptr<Bucket> b, Options o) : opts_(std::move(o)), prefix_(opts_.prefix), bucket_(std::move(b)) {}

    void check_write_conditions(Iter it, const std::string& full, const std::string& if_match, bool if_none_match) {
        bool exists = it != bucket_->objects.end();
        if (if_none_match && exists) throw PreconditionFailed(full);
        if (!if_match.empty() && (!exists || !detail::etag_equal(if_match, it->second.etag.view())))
            throw PreconditionFailed(full);
    }

    static ObjectInfo info(std::string_view key, const Stored& s) {
        return ObjectInfo{std::string(key), std::string(s.etag.view()), s.body.size(), std::string(s.content_type.view()),
                          s.last_modified, s.metadata.unpack()};
    }

private:
    Options opts_;
    detail::KeyPrefix prefix_;
    std::shared_ptr<Bucket> bucket_;
};

static_assert(Transport<Memory>);

}  // namespace s3db

#if S3DB_DEFINE_BODIES
#include <unordered_map>

namespace s3db {

S3DB_DECL Memory Memory::shared(const std::string& name, Options o) {
    static std::mutex m;
    static std::unordered_map<std::string, std::shared_ptr<Bucket>> buckets;
    std::lock_guard lock(m);
    auto& b = buckets[name];
    if (!b) b = std::make_shared<Bucket>();
    return Memory(b, std::move(o));
}

S3DB_DECL PutResult Memory::copy(std::string_view from, std::string_view to, CopyOptions o) {
    auto src_key = prefix_.apply(from), dst_key = prefix_.apply(to);
    std::optional<detail::PackedMetadata> replaced;
    if (o.directive == MetadataDirective::replace)
        replaced.emplace(detail::normalize_metadata(std::move(o.metadata), dst_key, opts_.metadata_limit));
    std::unique_lock lock(bucket_->mutex);
    auto src = bucket_->objects.find(std::string_view(src_key));
    if (src == bucket_->objects.end()) throw NotFound(src_key);
    if (!o.source_if_match.empty() && !detail::etag_equal(o.source_if_match, src->second.etag.view()))
        throw PreconditionFailed(src_key);
    Stored obj = src->second;
    if (replaced) {
        obj.metadata = std::move(*replaced);
        if (!o.content_type.empty()) obj.content_type = ShortText(o.content_type);
    }
    obj.last_modified = std::chrono::system_clock::now();
    PutResult r{std::string(obj.etag.view())};
    if (auto it = bucket_->objects.find(dst_key); it != bucket_->objects.end()) it->second = std::move(obj);
    else bucket_->objects.emplace(std::piecewise_construct, std::forward_as_tuple(dst_key), std::forward_as_tuple(std::move(obj)));
    return r;
}

S3DB_DECL void Memory::remove(std::string_view key) {
    auto full = prefix_.apply(key);
    std::unique_lock lock(bucket_->mutex);
    if (auto it = bucket_->objects.find(std::string_view(full)); it != bucket_->objects.end()) bucket_->objects.erase(it);
}

S3DB_DECL RemoveManyResult Memory::remove_many(std::span<const std::string> keys) {
    RemoveManyResult r;
    std::vector<std::string> full;
    full.reserve(keys.size());
    for (auto& k : keys) full.push_back(prefix_.apply(k));
    std::unique_lock lock(bucket_->mutex);
    for (std::size_t i = 0; i < keys.size(); ++i) {
        if (auto it = bucket_->objects.find(std::string_view(full[i])); it != bucket_->objects.end()) bucket_->objects.erase(it);
        r.removed.push_back(keys[i]);
    }
    return r;
}

S3DB_DECL ListPage Memory::list(ListOptions o) {
    auto opts = prefix_.apply(std::move(o));
    detail::ListBuilder page(opts);
    {
        std::shared_lock lock(bucket_->mutex);
        for (auto it = bucket_->objects.lower_bound(std::string_view(page.seek())); it != bucket_->objects.end(); ++it) {
            std::string_view k = it->first.view();
            const Stored& obj = it->second;
            if (!page.add(k, [&] { return ListEntry{std::string(k), std::string(obj.etag.view()), obj.body.size(), obj.last_modified}; }))
                break;
        }
    }
    return prefix_.strip(std::move(page).finish());
}

}  // namespace s3db
#endif  // S3DB_DEFINE_BODIES
