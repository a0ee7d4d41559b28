#pragma once
// Cache<Driver>: answers reads from a cache instead of the store, and forgets exactly what each
// write changes. The driver is a policy named by s3db's transport types:
//
//   s3db::Database<s3db::Cache<s3db::Memory>> db(url);                      // LRU in this process
//   s3db::Cache<s3db::Filesystem>({.directory = "/var/cache/app"})          // files, survive restarts
//   s3db::Cache<s3db::S3>{}                                                  // PluginStorage on the bucket
//   s3db::Cache<s3db::Multi<s3db::Memory, s3db::Filesystem>>({.directory = …})  // tiers, fastest first
//
// What is cached: get (a missing record too, unless cache_missing is off), list, list_ids, count,
// page and query (not a query with a predicate: a function has no key). get_many and the records
// of a list are read through get, one entry per id. `ReadOptions{.cache = false}` /
// `ListQuery{.cache = false}` bypass it for one call.
//
// Keys (see cache_key_for):
//   resource=<r>/get/<id>                               a record
//   resource=<r>/v<generation>/<operation>/<hash>       a collection read; hash = 128 bits of the
//                                                       SHA-256 of the query's JSON
// A write to record `id` of `r` removes `resource=<r>/get/<id>` and moves r's generation on, which
// makes every collection entry of r unreachable at once (drivers for which it is cheap also drop
// the old generation's entries then; S3's are reclaimed by cleanup()). Entries of other resources
// stay. `delete_all`, and a failed write whose record is not known, drop everything of that
// resource; a failed write of one record does what its success would.
//
// A read that fills the cache while a write lands must not leave the old value behind:
//  - collection entries are stored under the generation read before the store was asked, so a
//    write that lands meanwhile has already made that key unreachable;
//  - record entries are guarded by a counter per id (1024 stripes) and one per resource, read
//    before the store is asked: if either moved, the value is not stored, and if one moves while it
//    is being stored, it is removed again. The writer moves the counter before removing the entry,
//    so one of the two always sees the other.
// Generations start at a random value in each process, so collection entries left in a persistent
// driver by an earlier process are never read; record entries are kept, and like any entry, reflect
// writes this process did not see (other processes, or while the plugin was stopped) only once
// they expire.
//
// Thread-safe: hooks may run on several threads at once.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <nlohmann/json.hpp>

#include "s3db/detail/config.hpp"
#include "s3db/errors.hpp"
#include "s3db/core/hooks.hpp"
#include "s3db/core/resource.hpp"
#include "s3db/detail/hashing.hpp"
#include "s3db/detail/random.hpp"
#include "s3db/plugins/cache/driver.hpp"
#include "s3db/plugins/cache/filesystem.hpp"
#include "s3db/plugins/cache/memory.hpp"
#include "s3db/plugins/cache/multi.hpp"
#include "s3db/plugins/cache/s3.hpp"
#include "s3db/core/plugin.hpp"

namespace s3db {

struct CacheStats {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::uint64_t sets = 0;           // entries stored by reads
    std::uint64_t skipped_sets = 0;   // fills not stored (or removed again) because a write came in
    std::uint64_t invalidations = 0;  // writes (and clears) that dropped entries
    std::uint64_t evictions = 0;      // entries pushed out by max_size / max_memory_bytes (driver's lifetime total)
    std::uint64_t expirations = 0;    // entries found or swept past their ttl (driver's lifetime total)
    double hit_rate = 0;              // hits / (hits + misses)
};

namespace detail {

template <class D>
inline constexpr bool cache_driver_remote = std::same_as<D, S3Cache>;
template <class... D>
inline constexpr bool cache_driver_remote<MultiCache<D...>> = (cache_driver_remote<D> && ...);

template <class D>
inline constexpr bool cache_driver_uses_directory = std::same_as<D, FilesystemCache>;
template <class... D>
inline constexpr bool cache_driver_uses_directory<MultiCache<D...>> = (cache_driver_uses_directory<D> || ...);

/// Drivers whose entries outlive the process: a generation another process (or an earlier run)
/// left behind is reclaimed only by age, so their entries need a ttl.
template <class D>
inline constexpr bool cache_driver_persistent = std::same_as<D, S3Cache> || std::same_as<D, FilesystemCache>;
template <class... D>
inline constexpr bool cache_driver_persistent<MultiCache<D...>> = (cache_driver_persistent<D> || ...);

template <class D>
inline constexpr bool cache_driver_promotes = requires { requires D::promotes; };

/// Empties what a purge of the plugin's PluginStorage does not reach (the host purges that itself
/// and reports the count).
template <class D>
void purge_cache_outside_storage(D& d) {
    if constexpr (std::same_as<D, S3Cache>) return;
    else d.clear();
}
template <class... D>
void purge_cache_outside_storage(MultiCache<D...>& m) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        (purge_cache_outside_storage(m.template tier<I>()), ...);
    }(std::index_sequence_for<D...>{});
}

/// A resource name as one key segment ('/' and '%' escaped).
S3DB_DECL std::string cache_key_segment(std::string_view name);


}  // namespace detail

template <class Driver>
class Cache : public Plugin<Cache<Driver>> {
public:
    using Store = cache_driver_t<Driver>;
    static_assert(CacheDriver<Store>,
                  "s3db: Cache<X>: X must be Memory, Filesystem, S3, Multi<...> of them, or a type meeting CacheDriver");

    static constexpr std::string_view name = "Cache";
    /// A write invalidates by id: a delete need not read the record first.
    static constexpr bool needs_deleted_record = false;

    explicit Cache(CacheOptions options = {}, PluginOptions plugin_options = {})
        : Plugin<Cache<Driver>>(plugin_options), state_(std::make_unique<State>(std::move(options))) {}
    Cache(Cache&&) = default;

    const CacheOptions& options() const noexcept { return state_->options; }
    /// The driver (for a Multi, `driver().template tier<I>()` reaches one tier).
    Store& driver() noexcept { return state_->store; }

    // ---- hooks --------------------------------------------------------------------------------------

    void validate() const {
        auto& o = state_->options;
        if (o.ttl.count() < 0) throw CacheError("ttl cannot be negative (0 keeps entries until they are invalidated)");
        if constexpr (detail::cache_driver_persistent<Store>)
            if (o.ttl.count() == 0)
                throw CacheError("the filesystem and S3 drivers need a ttl: their entries outlive the process, and those "
                                 "a restart leaves unreachable are only reclaimed once they expire");
        if (o.cleanup_interval.count() < 0) throw CacheError("cleanup_interval cannot be negative");
        if (o.max_size == 0) throw CacheError("max_size must be at least 1 entry");
        if constexpr (detail::cache_driver_uses_directory<Store>)
            if (o.directory.empty()) throw CacheError("the filesystem driver needs options.directory");
    }

    template <class Db>
    void on_install(Db&) {
        if constexpr (requires(PluginStorage& s) { state_->store.attach(s); }) state_->store.attach(this->storage());
    }

    /// A stopped cache sees no writes: what it holds in memory goes, and collection entries in
    /// persistent drivers become unreachable.
    void on_stop() {
        // Counters first, entries after (see the top): a fill that stores meanwhile is then seen.
        state_->advance_all();
        if constexpr (requires { state_->store.forget_volatile(); }) state_->store.forget_volatile();
    }

    void on_uninstall(const UninstallOptions& o) {
        if constexpr (requires { state_->store.forget_volatile(); }) state_->store.forget_volatile();
        if (o.purge_data) detail::purge_cache_outside_storage(state_->store);
    }

    PluginHealth health() const {
        auto s = stats();
        return {true, "hits " + std::to_string(s.hits) + ", misses " + std::to_string(s.misses) + ", evictions " +
                          std::to_string(s.evictions)};
    }

    template <class Next>
    json around_read(const ReadContext& r, Next& next) {
        auto& s = *state_;
        auto& rs = s.resource(r.resource);
        if (!rs.cached) return next();
        if (r.operation == "get") return read_record(rs, r, next);
        if (!s.collection_enabled(r.operation)) return next();
        static const json no_params;
        const json& params = r.params ? *r.params : no_params;
        const auto generation = rs.generation.load();
        auto key = s.collection_key(rs, generation, r.operation, params);
        if (auto e = s.store.get(key)) {
            hit(r, key);
            return *e->value;
        }
        miss(r, key);
        json v = next();
        // Stored under the generation read before the store was asked: if a write came in since,
        // the key is already unreachable, and storing would only waste room.
        if (rs.generation.load() == generation) s.put(key, v);
        else s.skipped_sets.fetch_add(1, std::memory_order_relaxed);
        return v;
    }

    void after_write(OperationContext& ctx) { invalidate(ctx.resource, ctx.id); }

    /// Writes that never reach after_write: `delete_all`, and writes that failed after changing
    /// something (a partition ref, a rollback, a throwing after hook).
    void on_operation(const OperationEvent& e) {
        if (e.operation == "delete_all") return clear(e.resource);
        if (!e.error || !is_write(e.operation) || nothing_written(*e.error)) return;
        if (e.id.empty()) clear(e.resource);
        else invalidate(e.resource, e.id);
    }

    // ---- manual use ---------------------------------------------------------------------------------

    /// The key a read is cached under now: `operation` is get (then `id_or_params` is the id),
    /// list, list_ids, count, page or query (then it is the query as the resource passes it:
    /// `ListQuery::to_json()`, plus "size" for page and "filter" for query).
    std::string cache_key_for(std::string_view resource, std::string_view operation, const json& id_or_params = nullptr) {
        auto& s = *state_;
        auto& rs = s.resource(resource);
        if (operation == "get") {
            if (!id_or_params.is_string())
                throw CacheError("cache_key_for(\"" + std::string(resource) + "\", \"get\", …) needs the record id as a string");
            return s.record_key(rs, id_or_params.get_ref<const std::string&>());
        }
        return s.collection_key(rs, rs.generation.load(), operation, id_or_params);
    }

    std::optional<json> get(std::string_view key) {
        if (auto e = state_->store.get(std::string(key))) return *e->value;
        return std::nullopt;
    }
    /// Stores `value` at `key` for `ttl` (the options' ttl when unset; 0 = until removed).
    void set(std::string_view key, json value, std::optional<std::chrono::milliseconds> ttl = {}) {
        state_->store.set(std::string(key), state_->entry(std::move(value), ttl.value_or(state_->options.ttl)));
    }
    void remove(std::string_view key) { state_->store.remove(std::string(key)); }

    /// Forgets what the cache holds for record `id` of `resource` and every collection read of
    /// `resource`: what a write of that record does.
    void invalidate(std::string_view resource, std::string_view id) {
        auto& s = *state_;
        auto& rs = s.resource(resource);
        if (!rs.cached) return;  // nothing of it is ever stored: no request, nothing to count
        s.invalidations.fetch_add(1, std::memory_order_relaxed);
        // Counters first, entries after: a fill running now sees one or the other (see the top).
        const auto old = rs.generation.fetch_add(1);
        if (!id.empty()) {
            s.stripe(resource, id).fetch_add(1);
            if (s.cache_gets) s.store.remove(s.record_key(rs, id));
        }
        s.store.drop_prefix(s.generation_prefix(rs, old));
    }

    /// Forgets everything cached for `resource`.
    void clear(std::string_view resource) {
        auto& s = *state_;
        auto& rs = s.resource(resource);
        if (!rs.cached) return;
        s.invalidations.fetch_add(1, std::memory_order_relaxed);
        rs.generation.fetch_add(1);
        rs.epoch.fetch_add(1);
        s.store.remove_prefix("resource=" + rs.segment + "/");
    }

    /// Forgets everything.
    void clear() {
        state_->invalidations.fetch_add(1, std::memory_order_relaxed);
        state_->advance_all();
        state_->store.clear();
    }

    /// Removes expired entries now (drivers also do it on their own, every cleanup_interval);
    /// returns how many.
    std::size_t cleanup() {
        if constexpr (requires { state_->store.cleanup(); }) return state_->store.cleanup();
        else return 0;
    }

    CacheStats stats() const {
        auto& s = *state_;
        CacheStats out;
        out.hits = s.hits.load(std::memory_order_relaxed);
        out.misses = s.misses.load(std::memory_order_relaxed);
        out.sets = s.sets.load(std::memory_order_relaxed);
        out.skipped_sets = s.skipped_sets.load(std::memory_order_relaxed);
        out.invalidations = s.invalidations.load(std::memory_order_relaxed);
        if constexpr (requires { s.store.evictions(); }) out.evictions = s.store.evictions();
        if constexpr (requires { s.store.expirations(); }) out.expirations = s.store.expirations();
        if (auto n = out.hits + out.misses) out.hit_rate = static_cast<double>(out.hits) / static_cast<double>(n);
        return out;
    }
    /// Zeroes the plugin's counters; evictions and expirations are the driver's and keep counting.
    void reset_stats() {
        for (auto* c : {&state_->hits, &state_->misses, &state_->sets, &state_->skipped_sets, &state_->invalidations})
            c->store(0);
    }

private:
    struct ResourceState {
        std::string segment;  // the name as a key segment
        bool cached = true;
        std::atomic<std::uint64_t> generation;  // of collection entries
        std::atomic<std::uint64_t> epoch{0};    // moved when all of the resource's entries go
        ResourceState(std::string s, bool c, std::uint64_t g) : segment(std::move(s)), cached(c), generation(g) {}
    };

    struct State {
        explicit State(CacheOptions o)
            : options(std::move(o)), store(options), clock(options),
              cache_gets(options.operations.get.value_or(!detail::cache_driver_remote<Store>)) {}

        CacheOptions options;
        Store store;
        detail::CacheClock clock;
        bool cache_gets;

        std::shared_mutex mutex;
        std::map<std::string, std::unique_ptr<ResourceState>, std::less<>> resources;
        std::array<std::atomic<std::uint64_t>, 1024> stripes{};

        std::atomic<std::uint64_t> hits{0}, misses{0}, sets{0}, skipped_sets{0}, invalidations{0};

        ResourceState& resource(std::string_view name) {
            {
                std::shared_lock lock(mutex);
                if (auto it = resources.find(name); it != resources.end()) return *it->second;
            }
            std::unique_lock lock(mutex);
            auto [it, inserted] = resources.try_emplace(std::string(name));
            // A random first generation: processes sharing a persistent store (forked ones too)
            // must not reuse each other's generations.
            if (inserted)
                it->second = std::make_unique<ResourceState>(detail::cache_key_segment(name), wanted(name),
                                                             detail::random_u64());
            return *it->second;
        }

        bool wanted(std::string_view name) const {
            auto listed = [&](const std::vector<std::string>& names) {
                for (auto& n : names)
                    if (n == name) return true;
                return false;
            };
            if (listed(options.exclude)) return false;
            if (!options.include.empty()) return listed(options.include);
            return !name.starts_with("plg_");  // plugins' own resources, as s3db.js skips them
        }

        bool collection_enabled(std::string_view op) const {
            auto& o = options.operations;
            if (op == "list") return o.list;
            if (op == "list_ids") return o.list_ids;
            if (op == "count") return o.count;
            if (op == "page") return o.page;
            if (op == "query") return o.query;
            return false;
        }

        std::atomic<std::uint64_t>& stripe(std::string_view resource, std::string_view id) {
            auto h = std::hash<std::string_view>{}(id) * 31 + std::hash<std::string_view>{}(resource);
            return stripes[h % stripes.size()];
        }

        /// Every resource's entries unreachable or unstorable for fills running now.
        void advance_all() {
            std::shared_lock lock(mutex);
            for (auto& [_, rs] : resources) {
                rs->generation.fetch_add(1);
                rs->epoch.fetch_add(1);
            }
        }

        std::string record_key(const ResourceState& rs, std::string_view id) const {
            std::string k;
            k.reserve(rs.segment.size() + id.size() + 14);
            k += "resource=";
            k += rs.segment;
            k += "/get/";
            k += id;
            return k;
        }
        std::string generation_prefix(const ResourceState& rs, std::uint64_t generation) const {
            return "resource=" + rs.segment + "/v" + detail::hex_u64(generation) + "/";
        }
        std::string collection_key(const ResourceState& rs, std::uint64_t generation, std::string_view op,
                                   const json& params) const {
            return generation_prefix(rs, generation) + std::string(op) + "/" +
                   detail::sha256_hex(params.dump()).substr(0, 32);
        }

        CacheEntry entry(json value, std::chrono::milliseconds ttl) const {
            CacheEntry e{std::make_shared<const json>(std::move(value))};
            if (ttl.count() > 0) e.expires = clock.now() + ttl;
            return e;
        }

        void put(const std::string& key, const json& value) {
            store.set(key, entry(value, options.ttl));
            sets.fetch_add(1, std::memory_order_relaxed);
        }
    };

    template <class Next>
    json read_record(ResourceState& rs, const ReadContext& r, Next& next) {
        auto& s = *state_;
        if (!s.cache_gets || r.id.empty()) return next();
        auto& stripe = s.stripe(r.resource, r.id);
        const auto stripe_seen = stripe.load();
        const auto epoch_seen = rs.epoch.load();
        auto written = [&] { return stripe.load() != stripe_seen || rs.epoch.load() != epoch_seen; };
        auto key = s.record_key(rs, r.id);
        if (auto e = s.store.get(key)) {
            // A tier may have copied the entry into a faster one just as a write removed it.
            if constexpr (detail::cache_driver_promotes<Store>)
                if (written()) s.store.remove(key);
            hit(r, key);
            return *e->value;
        }
        miss(r, key);
        json v = next();
        if (v.is_null() && !s.options.cache_missing) return v;
        if (written()) {
            s.skipped_sets.fetch_add(1, std::memory_order_relaxed);
            return v;
        }
        s.put(key, v);
        if (written()) {  // the writer's removal may have run before this store
            s.store.remove(key);
            s.skipped_sets.fetch_add(1, std::memory_order_relaxed);
        }
        return v;
    }

    void hit(const ReadContext& r, const std::string& key) {
        state_->hits.fetch_add(1, std::memory_order_relaxed);
        static constexpr detail::EventName event{"cache.hit"};
        if (state_->options.emit_events && this->listened(event))
            this->emit("cache.hit", json{{"resource", r.resource}, {"operation", r.operation}, {"key", key}});
    }
    void miss(const ReadContext& r, const std::string& key) {
        state_->misses.fetch_add(1, std::memory_order_relaxed);
        static constexpr detail::EventName event{"cache.miss"};
        if (state_->options.emit_events && this->listened(event))
            this->emit("cache.miss", json{{"resource", r.resource}, {"operation", r.operation}, {"key", key}});
    }

    static bool is_write(std::string_view op) {
        return op == "insert" || op == "insert_many" || op == "update" || op == "patch" || op == "replace" ||
               op == "upsert" || op == "delete" || op == "delete_many";
    }
    /// Errors raised before anything is written.
    static bool nothing_written(const std::exception& e) {
        return dynamic_cast<const ValidationError*>(&e) || dynamic_cast<const InvalidId*>(&e) ||
               dynamic_cast<const AlreadyExists*>(&e) || dynamic_cast<const RecordNotFound*>(&e) ||
               dynamic_cast<const UpdateConflict*>(&e) || dynamic_cast<const RecordTooLarge*>(&e) ||
               dynamic_cast<const ConfigError*>(&e);
    }

    std::unique_ptr<State> state_;
};

#if S3DB_DEFINE_BODIES
namespace detail {

S3DB_DECL std::string cache_key_segment(std::string_view name) {
    std::string out;
    out.reserve(name.size());
    for (char c : name) {
        if (c == '%') out += "%25";
        else if (c == '/') out += "%2F";
        else out += c;
    }
    return out;
}

}  // namespace detail
#endif  // S3DB_DEFINE_BODIES

}  // namespace s3db
