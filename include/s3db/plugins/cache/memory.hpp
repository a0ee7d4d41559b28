#pragma once
// MemoryCache: the driver of `Cache<Memory>`. Entries live in this process, in key order (so a
// resource's or a generation's entries go with one range erase) with a recency list for LRU.
// Capped by entry count and, optionally, by approximate bytes; expired entries are dropped when
// read, and all of them in a sweep at most every `cleanup_interval`, run by the write that finds
// the interval passed (no thread: memory only grows on writes, so that is when it is needed).
// Thread-safe: one mutex, held for map work only; values are shared, copied outside it.

#include <atomic>
#include <cstdint>
#include <iterator>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "s3db/detail/config.hpp"
#include "s3db/plugins/cache/driver.hpp"

namespace s3db {

class MemoryCache {
public:
    explicit MemoryCache(const CacheOptions& o)
        : max_size_(o.max_size), max_bytes_(o.max_memory_bytes), cleanup_interval_(o.cleanup_interval), clock_(o) {}

    S3DB_DECL std::optional<CacheEntry> get(std::string_view key);

    S3DB_DECL void set(std::string_view key, CacheEntry e);

    S3DB_DECL void remove(std::string_view key);

    S3DB_DECL void remove_prefix(std::string_view prefix);
    void drop_prefix(std::string_view prefix) { remove_prefix(prefix); }

    S3DB_DECL void clear();
    void forget_volatile() { clear(); }

    /// Drops every expired entry now; returns how many.
    S3DB_DECL std::size_t cleanup();

    S3DB_DECL std::size_t size() const;
    S3DB_DECL std::size_t bytes() const;
    std::uint64_t evictions() const noexcept { return evictions_.load(std::memory_order_relaxed); }
    std::uint64_t expirations() const noexcept { return expirations_.load(std::memory_order_relaxed); }

private:
    struct Item {
        std::string key;
        CacheEntry entry;
        std::size_t bytes;
    };
    using Items = std::list<Item>;
    using Index = std::map<std::string_view, Items::iterator, std::less<>>;  // views into Item::key

    S3DB_DECL Index::iterator erase(Index::iterator it);

    S3DB_DECL std::size_t sweep(std::chrono::system_clock::time_point now);

    const std::size_t max_size_;
    const std::size_t max_bytes_;
    const std::chrono::milliseconds cleanup_interval_;
    const detail::CacheClock clock_;
    mutable std::mutex mutex_;
    Items items_;  // most recently used first
    Index index_;
    std::size_t bytes_ = 0;
    std::chrono::system_clock::time_point last_sweep_{};
    std::atomic<std::uint64_t> evictions_{0}, expirations_{0};
};

#if S3DB_DEFINE_BODIES
S3DB_DECL std::optional<CacheEntry> MemoryCache::get(std::string_view key) {
    std::lock_guard lock(mutex_);
    auto it = index_.find(key);
    if (it == index_.end()) return std::nullopt;
    if (it->second->entry.expires <= clock_.now()) {
        erase(it);
        expirations_.fetch_add(1, std::memory_order_relaxed);
        return std::nullopt;
    }
    items_.splice(items_.begin(), items_, it->second);
    return it->second->entry;
}

S3DB_DECL void MemoryCache::set(std::string_view key, CacheEntry e) {
    const std::size_t bytes = key.size() + 96 + detail::approx_json_bytes(*e.value);
    std::lock_guard lock(mutex_);
    auto now = clock_.now();
    if (now - last_sweep_ >= cleanup_interval_) sweep(now);
    auto it = index_.find(key);
    if (max_bytes_ && bytes > max_bytes_) {
        // Larger than the whole budget: keeping it would evict everything else. An older value
        // under the key must not outlive the newer one either.
        if (it != index_.end()) erase(it);
        return;
    }
    if (it != index_.end()) {
        bytes_ -= it->second->bytes;
        it->second->entry = std::move(e);
        it->second->bytes = bytes;
        items_.splice(items_.begin(), items_, it->second);
    } else {
        items_.push_front(Item{std::string(key), std::move(e), bytes});
        index_.emplace(items_.front().key, items_.begin());
    }
    bytes_ += bytes;
    while (items_.size() > max_size_ || (max_bytes_ && bytes_ > max_bytes_)) {
        auto last = std::prev(items_.end());
        if (last == items_.begin()) break;  // never evict what was just stored
        erase(index_.find(last->key));
        evictions_.fetch_add(1, std::memory_order_relaxed);
    }
}

S3DB_DECL void MemoryCache::remove(std::string_view key) {
    std::lock_guard lock(mutex_);
    if (auto it = index_.find(key); it != index_.end()) erase(it);
}

S3DB_DECL void MemoryCache::remove_prefix(std::string_view prefix) {
    std::lock_guard lock(mutex_);
    auto it = index_.lower_bound(prefix);
    while (it != index_.end() && std::string_view(it->first).starts_with(prefix)) it = erase(it);
}

S3DB_DECL void MemoryCache::clear() {
    std::lock_guard lock(mutex_);
    index_.clear();
    items_.clear();
    bytes_ = 0;
}

S3DB_DECL std::size_t MemoryCache::cleanup() {
    std::lock_guard lock(mutex_);
    return sweep(clock_.now());
}

S3DB_DECL std::size_t MemoryCache::size() const {
    std::lock_guard lock(mutex_);
    return items_.size();
}

S3DB_DECL std::size_t MemoryCache::bytes() const {
    std::lock_guard lock(mutex_);
    return bytes_;
}

S3DB_DECL MemoryCache::Index::iterator MemoryCache::erase(Index::iterator it) {
    auto item = it->second;
    bytes_ -= item->bytes;
    auto next = index_.erase(it);
    items_.erase(item);
    return next;
}

S3DB_DECL std::size_t MemoryCache::sweep(std::chrono::system_clock::time_point now) {
    last_sweep_ = now;
    std::size_t n = 0;
    for (auto it = index_.begin(); it != index_.end();) {
        if (it->second->entry.expires <= now) {
            it = erase(it);
            ++n;
        } else ++it;
    }
    expirations_.fetch_add(n, std::memory_order_relaxed);
    return n;
}
#endif  // S3DB_DEFINE_BODIES

}  // namespace s3db
