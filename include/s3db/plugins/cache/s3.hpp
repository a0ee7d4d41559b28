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
// Entries of a generation nobody reads any more are not listed and deleted (that would cost a LIST
// per write): they expire. Available once the plugin is installed. Thread-safe (PluginStorage is).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "s3db/plugins/cache/driver.hpp"
#include "s3db/plugins/plugin_storage.hpp"

namespace s3db {

class S3Cache {
public:
    explicit S3Cache(const CacheOptions& o) : clock_(o) {}

    /// Called by the plugin on install with its storage.
    void attach(PluginStorage& storage) noexcept { storage_.store(&storage, std::memory_order_release); }

    std::optional<CacheEntry> get(std::string_view key) {
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

    void set(std::string_view key, CacheEntry e) {
        json data{{"data", *e.value}};
        SetOptions o{.behavior = StorageBehavior::body_only};
        if (e.expires != detail::cache_never) {
            data["expires_at"] = detail::cache_epoch_ms(e.expires);
            auto left = std::chrono::ceil<std::chrono::seconds>(e.expires - clock_.now());
            o.ttl = std::max(left, std::chrono::seconds(1));
        }
        storage().set(full_key(key), data, o);
    }

    void remove(std::string_view key) { storage().remove(full_key(key)); }

    /// A resource's whole space: one listing and DeleteObjects batches. A part of it: the listing,
    /// then a DELETE per key.
    void remove_prefix(std::string_view prefix) {
        if (prefix.empty()) return clear();
        auto& s = storage();
        auto [resource, rest] = split(prefix);
        if (!resource) {
            for (auto& k : s.list(prefix)) s.remove(k);
        } else if (rest.empty()) {
            s.remove_all(std::string(*resource));
        } else {
            for (auto& k : s.list_for_resource(*resource, rest)) s.remove(k);
        }
    }
    void drop_prefix(std::string_view) noexcept {}  // unreachable entries expire (see above)

    void clear() { storage().remove_all(); }

    std::uint64_t evictions() const noexcept { return 0; }
    std::uint64_t expirations() const noexcept { return expirations_.load(std::memory_order_relaxed); }

    /// The PluginStorage key an entry lives at.
    std::string full_key(std::string_view key) {
        auto [resource, rest] = split(key);
        if (resource && !rest.empty()) return storage().plugin_key(*resource, rest);
        return storage().resolve_key(key);
    }

private:
    /// `resource=<r>/<rest>` → (r, rest); any other key → (nullopt, key).
    static std::pair<std::optional<std::string_view>, std::string_view> split(std::string_view key) {
        constexpr std::string_view tag = "resource=";
        if (!key.starts_with(tag)) return {std::nullopt, key};
        auto slash = key.find('/');
        if (slash == std::string_view::npos || slash == tag.size()) return {std::nullopt, key};
        return {key.substr(tag.size(), slash - tag.size()), key.substr(slash + 1)};
    }

    PluginStorage& storage() const {
        auto* s = storage_.load(std::memory_order_acquire);
        if (!s) throw CacheError("the S3 driver stores through the plugin's storage: install the plugin first (db.connect())");
        return *s;
    }

    detail::CacheClock clock_;
    std::atomic<PluginStorage*> storage_{nullptr};
    std::atomic<std::uint64_t> expirations_{0};
};

}  // namespace s3db
