#pragma once
// Memory: an in-process S3 bucket. A product part, not a test double: MD5 ETags, 412 on failed
// conditions, byte-order listing in pages of 1000, delimiters, and the 2 KB metadata limit.
// Thread-safe; copies of a Memory share one bucket.

#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <type_traits>
#include <unordered_map>

#include "s3db/detail/hashing.hpp"
#include "s3db/detail/s3_rules.hpp"
#include "s3db/transport/transport.hpp"

namespace s3db {

struct MemoryOptions {
    std::string prefix{};                                 // keys live under this prefix
    std::size_t metadata_limit = default_metadata_limit;  // 0 turns the check off
};

class Memory {
private:
    struct Stored {
        std::string body, etag, content_type;
        std::chrono::system_clock::time_point last_modified;
        Metadata metadata;
    };
    /// A key held in the map's node. A lookup in a large bucket is a dozen comparisons of keys that
    /// share a long prefix ("resource=users/data/id="); kept inline (a record's key is ~45 bytes),
    /// each compares bytes next to the node instead of following a pointer to a heap string, and
    /// a write allocates one node instead of a node and a string.
    class NodeKey {
    public:
        explicit NodeKey(std::string_view s) : size_(s.size()) {
            if (size_ > inline_capacity) heap_ = std::make_unique<char[]>(size_);
            std::memcpy(heap_ ? heap_.get() : inline_, s.data(), size_);
        }
        std::string_view view() const noexcept { return {heap_ ? heap_.get() : inline_, size_}; }

    private:
        static constexpr std::size_t inline_capacity = 64;
        std::size_t size_;
        std::unique_ptr<char[]> heap_;
        char inline_[inline_capacity];
    };
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
    static Memory shared(const std::string& name, Options o = {}) {
        static std::mutex m;
        static std::unordered_map<std::string, std::shared_ptr<Bucket>> buckets;
        std::lock_guard lock(m);
        auto& b = buckets[name];
        if (!b) b = std::make_shared<Bucket>();
        return Memory(b, std::move(o));
    }

    PutResult put(std::string_view key, std::string_view body, PutOptions o = {}) {
        auto full = prefix_.apply(key);
        Stored obj{std::string(body), detail::etag_of(body), std::move(o.content_type), std::chrono::system_clock::now(),
                   detail::normalize_metadata(std::move(o.metadata), full, opts_.metadata_limit)};
        PutResult r{obj.etag};
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
            return fn(ObjectView{obj->etag, obj->content_type, obj->body, obj->last_modified, obj->metadata});
        });
    }

    std::optional<Object> get(std::string_view key, GetOptions o = {}) {
        return with_object(key, [&](const Stored* obj) -> std::optional<Object> {
            if (!obj) {
                if (!o.if_match.empty()) throw PreconditionFailed(prefix_.apply(key));
                return std::nullopt;
            }
            if (!o.if_match.empty() && !detail::etag_equal(o.if_match, obj->etag)) throw PreconditionFailed(prefix_.apply(key));
            if (!o.if_none_match.empty() && (o.if_none_match == "*" || detail::etag_equal(o.if_none_match, obj->etag)))
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

    PutResult copy(std::string_view from, std::string_view to, CopyOptions o = {}) {
        auto src_key = prefix_.apply(from), dst_key = prefix_.apply(to);
        std::optional<Metadata> replaced;
        if (o.directive == MetadataDirective::replace)
            replaced = detail::normalize_metadata(std::move(o.metadata), dst_key, opts_.metadata_limit);
        std::unique_lock lock(bucket_->mutex);
        auto src = bucket_->objects.find(std::string_view(src_key));
        if (src == bucket_->objects.end()) throw NotFound(src_key);
        if (!o.source_if_match.empty() && !detail::etag_equal(o.source_if_match, src->second.etag))
            throw PreconditionFailed(src_key);
        Stored obj = src->second;
        if (replaced) {
            obj.metadata = std::move(*replaced);
            if (!o.content_type.empty()) obj.content_type = std::move(o.content_type);
        }
        obj.last_modified = std::chrono::system_clock::now();
        PutResult r{obj.etag};
        if (auto it = bucket_->objects.find(dst_key); it != bucket_->objects.end()) it->second = std::move(obj);
        else bucket_->objects.emplace(std::piecewise_construct, std::forward_as_tuple(dst_key), std::forward_as_tuple(std::move(obj)));
        return r;
    }

    void remove(std::string_view key) {
        auto full = prefix_.apply(key);
        std::unique_lock lock(bucket_->mutex);
        if (auto it = bucket_->objects.find(std::string_view(full)); it != bucket_->objects.end()) bucket_->objects.erase(it);
    }

    RemoveManyResult remove_many(std::span<const std::string> keys) {
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

    ListPage list(ListOptions o = {}) {
        auto opts = prefix_.apply(std::move(o));
        detail::ListBuilder page(opts);
        {
            std::shared_lock lock(bucket_->mutex);
            for (auto it = bucket_->objects.lower_bound(std::string_view(page.seek())); it != bucket_->objects.end(); ++it) {
                std::string_view k = it->first.view();
                const Stored& obj = it->second;
                if (!page.add(k, [&] { return ListEntry{std::string(k), obj.etag, obj.body.size(), obj.last_modified}; }))
                    break;
            }
        }
        return prefix_.strip(std::move(page).finish());
    }

    const Options& options() const noexcept { return opts_; }

private:

    Memory(std::shared_ptr<Bucket> b, Options o) : opts_(std::move(o)), prefix_(opts_.prefix), bucket_(std::move(b)) {}

    void check_write_conditions(Iter it, const std::string& full, const std::string& if_match, bool if_none_match) {
        bool exists = it != bucket_->objects.end();
        if (if_none_match && exists) throw PreconditionFailed(full);
        if (!if_match.empty() && (!exists || !detail::etag_equal(if_match, it->second.etag)))
            throw PreconditionFailed(full);
    }

    static ObjectInfo info(std::string_view key, const Stored& s) {
        return ObjectInfo{std::string(key), s.etag, s.body.size(), s.content_type, s.last_modified, s.metadata};
    }

private:
    Options opts_;
    detail::KeyPrefix prefix_;
    std::shared_ptr<Bucket> bucket_;
};

static_assert(Transport<Memory>);

}  // namespace s3db
