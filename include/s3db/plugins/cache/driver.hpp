#pragma once
// What every Cache driver shares: the options, the entry, the contract a driver meets, and the map
// from the tag named in `Cache<Tag>` to the driver that does the work:
//
//   Cache<Memory>                  MemoryCache       LRU in this process
//   Cache<Filesystem>              FilesystemCache   one file per entry under a directory
//   Cache<S3>                      S3Cache           the plugin's PluginStorage on the database's store
//   Cache<Multi<Memory, ...>>      MultiCache<...>   tiers, fastest first
//
// The tags are s3db's transport types (only named here, never instantiated). Any other type that
// meets `CacheDriver` may be named directly: `Cache<MyDriver>`.

#include <chrono>
#include <concepts>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "s3db/detail/config.hpp"
#include "s3db/detail/time.hpp"
#include "s3db/fwd.hpp"
#include "s3db/core/plugin.hpp"

namespace s3db {

using json = nlohmann::json;

/// Tiers of a multi-level cache, fastest first: `Cache<Multi<Memory, Filesystem>>`. Reads walk the
/// tiers in order and copy a hit into the faster tiers; writes go to every tier.
template <class... Tiers>
struct Multi {
    static_assert(sizeof...(Tiers) > 0, "s3db: Multi<...> needs at least one tier");
};

/// Which reads the cache answers. `get` unset means: cached unless every tier is the S3 driver,
/// where a cached record costs the same GET as the record itself (and a miss costs more).
struct CachedOperations {
    std::optional<bool> get{};
    bool list = true;
    bool list_ids = true;
    bool count = true;
    bool page = true;
    bool query = true;
};

struct CacheOptions {
    std::chrono::milliseconds ttl{300'000};  // life of an entry (s3db.js: 5 min); 0 = until invalidated
    std::size_t max_size = 1000;             // memory: most entries held, least recently used go first
    std::size_t max_memory_bytes = 0;        // memory: approximate cap on what entries hold; 0 = none
    std::filesystem::path directory{};       // filesystem: where entries live (required)
    std::vector<std::string> include{};      // cache only these resources (empty: all but `plg_*`)
    std::vector<std::string> exclude{};      // never cache these
    CachedOperations operations{};
    bool cache_missing = true;  // remember that a get found nothing (dropped when that id is written)
    /// Plugin events cache.hit / cache.miss (Metrics counts them), built only while someone listens:
    /// a read nobody listens to pays one atomic load. false: never.
    bool emit_events = true;
    std::chrono::milliseconds cleanup_interval{60'000};  // sweep expired entries at most this often
    /// Wall clock for expiry (tests move it instead of sleeping). Empty: the system clock.
    std::function<std::chrono::system_clock::time_point()> clock{};
};

/// A cached value and when it stops being valid (time_point::max(): never).
struct CacheEntry {
    std::shared_ptr<const json> value;
    std::chrono::system_clock::time_point expires = std::chrono::system_clock::time_point::max();
};

/// A cache driver that cannot do what was asked (bad directory, unreadable entry, not installed).
/// Names the plugin and what failed; never a value.
class CacheError : public PluginError {
public:
    explicit CacheError(const std::string& what) : PluginError("Cache", what) {}
};

/// The contract of a driver. It is built from the plugin's options and must be safe to call from
/// several threads at once. Keys are the plugin's (`resource=<r>/...`); a prefix given to
/// remove_prefix / drop_prefix ends with '/'.
///   remove_prefix  removes every entry under the prefix (manual clears, `delete_all`)
///   drop_prefix    reclaims entries nobody can reach any more, if that is cheap (else nothing)
/// Optional members: `attach(PluginStorage&)` (called on install), `cleanup()` (sweeps expired
/// entries, returns how many), `forget_volatile()` (drops what lives in this process only),
/// `evictions()` / `expirations()`, and `static constexpr bool promotes` (get may copy entries
/// between tiers).
template <class D>
concept CacheDriver = std::constructible_from<D, const CacheOptions&> &&
                      requires(D& d, const std::string& key, CacheEntry e) {
                          { d.get(key) } -> std::same_as<std::optional<CacheEntry>>;
                          d.set(key, e);
                          d.remove(key);
                          d.remove_prefix(key);
                          d.drop_prefix(key);
                          d.clear();
                      };

class MemoryCache;
class FilesystemCache;
class S3Cache;
template <class... Drivers>
class MultiCache;

/// The driver a `Cache<Tag>` uses. Specialized for the transport tags and Multi; any other type is
/// taken to be a driver itself.
template <class Tag>
struct CacheDriverFor {
    using type = Tag;
};
template <>
struct CacheDriverFor<Memory> {
    using type = MemoryCache;
};
template <>
struct CacheDriverFor<Filesystem> {
    using type = FilesystemCache;
};
template <>
struct CacheDriverFor<S3> {
    using type = S3Cache;
};
template <class... Tiers>
struct CacheDriverFor<Multi<Tiers...>> {
    using type = MultiCache<typename CacheDriverFor<Tiers>::type...>;
};

template <class Tag>
using cache_driver_t = typename CacheDriverFor<Tag>::type;

namespace detail {

/// The options' clock, or the system clock.
class CacheClock {
public:
    explicit CacheClock(const CacheOptions& o) : fn_(o.clock) {}
    std::chrono::system_clock::time_point now() const { return fn_ ? fn_() : std::chrono::system_clock::now(); }

private:
    std::function<std::chrono::system_clock::time_point()> fn_;
};

inline constexpr auto cache_never = std::chrono::system_clock::time_point::max();

S3DB_DECL std::chrono::system_clock::time_point cache_from_ms(std::int64_t ms);

/// Roughly what a JSON value holds in memory (nodes, keys, strings): enough to cap a cache by bytes
/// without serializing every entry.
S3DB_DECL std::size_t approx_json_bytes(const json& j);

}  // namespace detail

#if S3DB_DEFINE_BODIES
namespace detail {

S3DB_DECL std::chrono::system_clock::time_point cache_from_ms(std::int64_t ms) {
    return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
}

S3DB_DECL std::size_t approx_json_bytes(const json& j) {
    constexpr std::size_t node = sizeof(json);
    switch (j.type()) {
        case json::value_t::object: {
            std::size_t n = node + 48;
            for (auto& [k, v] : j.items()) n += 64 + k.size() + approx_json_bytes(v);
            return n;
        }
        case json::value_t::array: {
            std::size_t n = node + 24;
            for (auto& v : j) n += approx_json_bytes(v);
            return n;
        }
        case json::value_t::string: return node + 32 + j.get_ref<const std::string&>().size();
        case json::value_t::binary: return node + 32 + j.get_binary().size();
        default: return node;
    }
}

}  // namespace detail
#endif  // S3DB_DEFINE_BODIES

}  // namespace s3db
