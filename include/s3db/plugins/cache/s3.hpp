#pragma once
// S3Cache: the driver of `Cache<S3>`. Entries live in the plugin's PluginStorage on the database's
// own store, so every process on the bucket shares them and they outlive the process:
//
//   resource=<r>/plugin=cache/<rest of the key>     entries of a resource (its keys `resource=<r>/…`)
//   plugin=cache/<key>                              any other key (set by hand)
//
// An entry is body-only JSON {"data": value, "expires_at": epoch ms}, written with PluginStorage's
// TTL (`_expiresAt`) as well, so PluginStorage and s3db.js see it expire; `expires_at` is checked
// against the plugin's clock (which tests move). A hit is 1 GET, a store 1 PUT, a removal 1 DELETE.
// Entries nobody can read any more (a generation a write moved past, or one an earlier process
// left) are not found by a read, and deleting them on each write would cost a LIST per write:
// cleanup() deletes every entry older than the ttl by the listing's dates (LISTs and DeleteObjects,
// no GET). The driver does not run it by itself (it would put LISTs into a read): call
// `Cache::cleanup()` on a schedule. Available once the plugin is installed. Thread-safe
// (PluginStorage is).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "s3db/detail/config.hpp"
#include "s3db/plugins/cache/driver.hpp"
#include "s3db/core/plugin_storage.hpp"

namespace s3db {

class S3Cache {
public:
    explicit S3Cache(const CacheOptions& o) : ttl_(o.ttl), clock_(o) {}

    /// Called by the plugin on install with its storage.
    void attach(PluginStorage& storage) noexcept { storage_.store(&storage, std::memory_order_release); }

    S3DB_DECL std::optional<CacheEntry> get(std::string_view key);

    S3DB_DECL void set(std::string_view key, CacheEntry e);

    S3DB_DECL void remove(std::string_view key);

    /// The listing of the prefix, then DeleteObjects batches.
    S3DB_DECL void remove_prefix(std::string_view prefix);
    void drop_prefix(std::string_view) noexcept {}  // left to cleanup() (see above)

    S3DB_DECL void clear();

    /// Deletes the entries written more than the ttl ago (by the store's clock), reachable or not;
    /// returns how many. Entries set by hand with a longer ttl than the options' go then too.
    S3DB_DECL std::size_t cleanup();

    std::uint64_t evictions() const noexcept { return 0; }
    std::uint64_t expirations() const noexcept { return expirations_.load(std::memory_order_relaxed); }

    /// The PluginStorage key an entry lives at.
    S3DB_DECL std::string full_key(std::string_view key);

private:
    /// `resource=<r>/<rest>` → (r, rest); any other key → (nullopt, key).
    S3DB_DECL static std::pair<std::optional<std::string_view>, std::string_view> split(std::string_view key);

    S3DB_DECL PluginStorage& storage() const;

    std::chrono::milliseconds ttl_;
    detail::CacheClock clock_;
    std::atomic<PluginStorage*> storage_{nullptr};
    std::atomic<std::uint64_t> expirations_{0};
};

#if S3DB_DEFINE_BODIES
S3DB_DECL std::optional<CacheEntry> S3Cache::get(std::string_view key) {
    auto full = full_key(key);
    auto data = storage().get(full);
    if (!data) return std::nullopt;
    auto expires = detail::cache_never;
    if (auto it = data->find("expires_at"); it != data->end() && it->is_number_integer())
        expires = detail::cache_from_ms(it->get<std::int64_t>());
    if (expires <= clock_.now()) {
        expirations_.fetch_add(1, std::memory_order_relaxed);
        try {
            storage().remove(full);
        } catch (const TransportError&) {
            // Best effort: it reads as a miss either way.
        }
        return std::nullopt;
    }
    auto it = data->find("data");
    if (it == data->end()) return std::nullopt;
    return CacheEntry{std::make_shared<const json>(std::move(*it)), expires};
}

S3DB_DECL void S3Cache::set(std::string_view key, CacheEntry e) {
    json data{{"data", *e.value}};
    SetOptions o{.behavior = StorageBehavior::body_only};
    if (e.expires != detail::cache_never) {
        data["expires_at"] = detail::epoch_ms(e.expires);
        auto left = std::chrono::ceil<std::chrono::seconds>(e.expires - clock_.now());
        o.ttl = std::max(left, std::chrono::seconds(1));
    }
    storage().set(full_key(key), data, o);
}

S3DB_DECL void S3Cache::remove(std::string_view key) { storage().remove(full_key(key)); }

S3DB_DECL void S3Cache::remove_prefix(std::string_view prefix) {
    if (prefix.empty()) return clear();
    auto [resource, rest] = split(prefix);
    storage().remove_prefix(rest, resource);
}

S3DB_DECL void S3Cache::clear() { storage().remove_all(); }

S3DB_DECL std::size_t S3Cache::cleanup() {
    return storage().remove_written_before(std::chrono::system_clock::now() - ttl_);
}

S3DB_DECL std::string S3Cache::full_key(std::string_view key) {
    auto [resource, rest] = split(key);
    if (resource && !rest.empty()) return storage().plugin_key(*resource, rest);
    return storage().resolve_key(key);
}

S3DB_DECL std::pair<std::optional<std::string_view>, std::string_view> S3Cache::split(std::string_view key) {
    constexpr std::string_view tag = "resource=";
    if (!key.starts_with(tag)) return {std::nullopt, key};
    auto slash = key.find('/');
    if (slash == std::string_view::npos || slash == tag.size()) return {std::nullopt, key};
    return {key.substr(tag.size(), slash - tag.size()), key.substr(slash + 1)};
}

S3DB_DECL PluginStorage& S3Cache::storage() const {
    auto* s = storage_.load(std::memory_order_acquire);
    if (!s) throw CacheError("the S3 driver stores through the plugin's storage: install the plugin first (db.connect())");
    return *s;
}
#endif  // S3DB_DEFINE_BODIES

}  // namespace s3db
