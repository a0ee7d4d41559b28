#pragma once
// PluginStorage: a plugin's own key-value space in the bucket, laid out and encoded as s3db.js's
// PluginStorage lays it out, so either library reads what the other wrote:
//
//   plugin=<slug>/<parts...>                    global data of the plugin
//   resource=<name>/plugin=<slug>/<parts...>    data the plugin keeps per resource
//   plugin=<slug>/locks/<name>                  locks
//
// An entry is a JSON object. Fields go into S3 user metadata (lowercase keys, values as text,
// `_expiresat` = expiry in epoch ms) and, by behavior, overflow into a JSON body that wins on read.
//
// Unlike s3db.js, every read-modify-write here is a compare-and-swap on the ETag (If-Match /
// If-None-Match) retried a bounded number of times, so counters, TTL extensions and lock takeovers
// lose no update. S3 ETags hash the body only, so two writes of the same body (or of an empty body
// with different metadata) would share an ETag and an If-Match could not tell them apart: every write
// made here ends its body with 32 random JSON-whitespace bytes, which parsers (ours, JSON.parse,
// s3db.js's "blank body" check) ignore but which make each version's ETag unique.
//
// The Transport has no conditional DELETE, so two deletes keep a small window, each documented where
// it happens: `get`'s lazy removal of an expired entry, and `release_lock`'s DELETE of a lock that is
// far from expiring (near expiry it uses a conditional overwrite instead).
//
// Keys: any method taking a key accepts a full key of this plugin (from `plugin_key`, `list`) or a
// relative one, which lands under `plugin=<slug>/`; keys of other plugins or of records are refused.
//
// Thread-safety: every member may be called from several threads at once; copies share the batch pool
// and the locks held (a copy is the same holder: see release_lock(name)).
//
// The lock types (Lock, LockOptions) are in core/plugin_locks.hpp; taking and releasing locks are
// members here.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "s3db/errors.hpp"
#include "s3db/detail/config.hpp"
#include "s3db/core/ids.hpp"
#include "s3db/core/plugin_locks.hpp"
#include "s3db/detail/js_text.hpp"
#include "s3db/detail/metadata_codec.hpp"
#include "s3db/transport/s3/retry.hpp"
#include "s3db/transport/s3/rules.hpp"
#include "s3db/detail/worker_pool.hpp"
#include "s3db/transport/transport.hpp"
#include "s3db/transport/transport_ref.hpp"

namespace s3db {

using json = nlohmann::json;

// ---- options and results ----

/// Where `set` puts an entry's fields (s3db.js's behavior names).
enum class StorageBehavior {
    body_overflow,   // "body-overflow": small fields in metadata, the rest in the body (default)
    body_only,       // "body-only": everything in the body, no metadata
    enforce_limits,  // "enforce-limits": must fit the metadata budget, else PluginDataTooLarge
};

S3DB_DECL std::string_view to_string(StorageBehavior b) noexcept;

/// Parses s3db.js's behavior names; throws ConfigError for any other.
S3DB_DECL StorageBehavior parse_storage_behavior(std::string_view name);

struct SetOptions {
    std::optional<std::chrono::seconds> ttl{};  // expires `ttl` after the write (must be positive)
    StorageBehavior behavior = StorageBehavior::body_overflow;
};

struct CounterOptions {
    std::optional<std::chrono::seconds> ttl{};  // (re)sets the expiry on every change, as s3db.js does
};

struct ListKeysOptions {
    std::optional<std::size_t> limit{};  // at most this many keys; all of them when unset
};

/// An entry with the ETag of the version read (for `set_if_version`).
struct Versioned {
    json data;
    std::string etag;
};

struct BatchPutItem {
    std::string key;
    json data;
    SetOptions options{};
};
struct BatchPutResult {
    std::string key;  // as given
    bool ok = false;
    std::string error;  // the exception's message when !ok
};
struct BatchGetResult {
    std::string key;  // as given
    bool ok = false;
    std::optional<json> data;  // nullopt: missing or expired
    std::string error;
};

struct PluginStorageOptions {
    /// Wall clock for TTLs and lock expiry (tests move it instead of sleeping). Empty: system clock.
    std::function<std::chrono::system_clock::time_point()> clock{};
    /// Requests in flight for batch_put / batch_get.
    std::size_t concurrency = 8;
    /// Conditional writes one increment / touch / update may lose before PluginStorageConflict.
    std::size_t cas_attempts = 1000;
    /// release_lock deletes a lock only while it has more than this left before expiring; closer to
    /// expiry it overwrites it with an expired one instead (see release_lock). Should exceed request
    /// latency plus clock skew between workers.
    std::chrono::milliseconds lock_release_margin{5000};
    /// get / has remove an entry they find expired (s3db.js's lazy expiry).
    bool remove_expired_on_read = true;
};

/// s3db.js's metadata budget for PluginStorage: 2047 bytes less the `_v` overhead it always reserves.
inline constexpr std::size_t plugin_metadata_budget = 2044;

namespace detail {

/// Whether JavaScript's `Number(s)` reads `s` as a number and s3db.js's reader takes it for one (it
/// also asks for text besides blanks): what makes a metadata value come back as another type.
S3DB_DECL bool js_numeric(std::string_view s) noexcept;

/// The number s3db.js's reader makes of a metadata value, if it makes one that JSON can hold
/// (Infinity, as from "1e999", stays a string here).
S3DB_DECL std::optional<json> parse_js_number(std::string_view s);

S3DB_DECL bool json_looking(std::string_view v) noexcept;

/// A metadata value as s3db.js's PluginStorage reads it: JSON-looking text parsed, numbers, booleans,
/// the rest strings.
S3DB_DECL json parse_plugin_metadata_value(std::string_view v);

/// Whether a string survives the trip through metadata unchanged, both into s3db.js's reader and into
/// ours: it must not read back as another type, nor lose blanks HTTP trims, nor be empty (some stores
/// drop empty headers). Anything else is kept in the body.
S3DB_DECL bool metadata_safe_string(std::string_view s);

/// A field name s3db.js and S3 keep as it is in metadata (S3 lowercases, s3db.js rewrites the rest).
S3DB_DECL bool metadata_safe_name(std::string_view k) noexcept;

/// The text a value takes in metadata, or nullopt if it must live in the body to round-trip.
S3DB_DECL std::optional<std::string> plugin_metadata_text(const json& v);

}  // namespace detail

// ---- PluginStorage ----

class PluginStorage {
public:
    /// `transport` must outlive the storage. `slug` names the plugin's space: letters, digits, `.`,
    /// `_` and `-` (s3db.js slugs are kebab-case).
    S3DB_DECL PluginStorage(TransportRef transport, std::string slug, PluginStorageOptions options = {});

    const std::string& slug() const noexcept { return slug_; }

    // ---- keys ----

    /// `plugin=<slug>/a/b`, or `resource=<r>/plugin=<slug>/a/b` when a resource is given (s3db.js's
    /// getPluginKey). Parts may contain '/', but no part may be empty.
    template <class... Parts>
        requires(sizeof...(Parts) > 0 && (std::convertible_to<const Parts&, std::string_view> && ...))
    std::string plugin_key(std::optional<std::string_view> resource, const Parts&... parts) const {
        std::string key = resource ? resource_prefix(*resource) : global_prefix_;
        bool first = true;
        ((key += (first ? "" : "/"), key += std::string_view(parts), first = false), ...);
        check_key_text(key);
        return key;
    }

    /// The full key `key` stands for: a key already in this plugin's space is kept; any other relative
    /// key goes under `plugin=<slug>/` (so `set("session:1", ...)` stays inside the plugin's space and
    /// `remove_all` finds it). Throws PluginStorageError for keys that are malformed or belong to
    /// another plugin's (or a resource's) space.
    S3DB_DECL std::string resolve_key(std::string_view key) const;

    // ---- entries ----

    /// Stores `data` (a JSON object) at `key`, replacing what was there. 1 PUT. Returns the new ETag.
    S3DB_DECL std::string set(std::string_view key, const json& data, SetOptions o = {});

    /// The entry at `key`, nullopt if missing or expired. 1 GET (+1 DELETE for an expired entry).
    /// Lazy removal: the expired entry is deleted after the GET saw it expired; a write to the same key
    /// landing within that round trip would be deleted with it (the Transport has no conditional
    /// DELETE). Locks are never removed this way. Off with `remove_expired_on_read = false`.
    S3DB_DECL std::optional<json> get(std::string_view key);

    /// The entry and the ETag of its version, nullopt if missing or expired. 1 GET.
    S3DB_DECL std::optional<Versioned> get_with_version(std::string_view key);

    /// Stores `data` only if `key` does not exist: the new ETag, or nullopt if it exists. 1 PUT.
    S3DB_DECL std::optional<std::string> set_if_absent(std::string_view key, const json& data, SetOptions o = {});

    /// Stores `data` only if the entry is still the version `etag`: the new ETag, or nullopt if it
    /// changed or went away. 1 PUT.
    S3DB_DECL std::optional<std::string> set_if_version(std::string_view key, const json& data, std::string_view etag,
                                                        SetOptions o = {});

    /// Atomic read-modify-write: `fn` gets the current entry (nullopt if missing or expired) and
    /// returns the new one, or nullopt to leave it alone. Retried on conflict, so `fn` may run more
    /// than once. `o.ttl` sets a new expiry; without it a live entry keeps its own. Returns what is
    /// stored afterwards. Uncontended: 1 GET + 1 PUT.
    S3DB_DECL std::optional<json> update(std::string_view key,
                                         const std::function<std::optional<json>(const std::optional<json>&)>& fn,
                                         SetOptions o = {});

    /// Removes `key` (nothing happens if it is missing). 1 DELETE.
    void remove(std::string_view key) { transport_.remove(resolve_key(key)); }

    /// Whether `key` holds a live entry (same requests as get).
    bool has(std::string_view key) { return get(key).has_value(); }

    /// True if `key` is missing or past its expiry; false if live (with or without a TTL). 1 GET.
    S3DB_DECL bool is_expired(std::string_view key);

    /// Whole seconds left before `key` expires; nullopt if missing, expired or without a TTL. 1 GET.
    S3DB_DECL std::optional<std::chrono::seconds> ttl(std::string_view key);

    /// Pushes the expiry of a live entry with a TTL back by `additional`. False if the entry is
    /// missing, expired or has no TTL. A compare-and-swap: concurrent touches all count.
    /// Uncontended: 1 GET + 1 PUT.
    S3DB_DECL bool touch(std::string_view key, std::chrono::seconds additional);

    // ---- counters ----

    /// Adds `amount` to the `value` field of the entry at `key` (created as {"value": amount} when
    /// missing or expired) and returns the new value. Atomic: concurrent increments all count.
    /// Uncontended: 1 GET + 1 PUT.
    S3DB_DECL std::int64_t increment(std::string_view key, std::int64_t amount = 1, CounterOptions o = {});

    S3DB_DECL std::int64_t decrement(std::string_view key, std::int64_t amount = 1, CounterOptions o = {});

    // ---- listing and removal ----

    /// Keys under `plugin=<slug>/<prefix>` (full keys, as s3db.js returns them), in byte order, across
    /// as many pages as needed. 1 LIST per 1000 keys.
    S3DB_DECL std::vector<std::string> list(std::string_view prefix = {}, ListKeysOptions o = {});

    /// Keys under `resource=<resource>/plugin=<slug>/<sub_prefix>`.
    S3DB_DECL std::vector<std::string> list_for_resource(std::string_view resource, std::string_view sub_prefix = {},
                                                         ListKeysOptions o = {});

    /// Removes the plugin's data for `resource`, or, without one, every key of the plugin: its global
    /// space and its space under every resource. The resources are found with one delimited listing
    /// of `resource=*/` names, not by listing the bucket. Returns the number of keys removed;
    /// throws PluginStorageError naming the first failure if some could not be removed.
    std::size_t remove_all(std::optional<std::string> resource = {}) { return remove_keys(plugin_keys(resource, {})); }

    /// remove_all, limited to keys last written before `cutoff` (as the store's listing dates them):
    /// a sweep of entries nobody reads any more that costs LISTs and DeleteObjects, no GET.
    std::size_t remove_written_before(std::chrono::system_clock::time_point cutoff,
                                      std::optional<std::string> resource = {}) {
        return remove_keys(plugin_keys(resource, cutoff));
    }

    /// Removes the keys under `plugin=<slug>/<prefix>` (or `resource=<r>/plugin=<slug>/<prefix>`):
    /// the listing, then DeleteObjects batches. Returns how many.
    S3DB_DECL std::size_t remove_prefix(std::string_view prefix, std::optional<std::string_view> resource = {});

    // ---- batches ----

    /// set() for each item, `concurrency` at a time; per-item results in input order.
    S3DB_DECL std::vector<BatchPutResult> batch_put(std::span<const BatchPutItem> items);

    /// get() for each key, `concurrency` at a time; per-key results in input order.
    S3DB_DECL std::vector<BatchGetResult> batch_get(std::span<const std::string> keys);

    // ---- locks ----

    /// The key of lock `name`: `plugin=<slug>/locks/<name>`.
    S3DB_DECL std::string lock_key(std::string_view name) const;

    /// Takes lock `name` with a conditional create (If-None-Match: *). A lock found expired (or
    /// unreadable) is taken over with a write conditional on its ETag, so of several workers taking
    /// it over exactly one wins; a live one is waited for, with jittered backoff, up to `timeout`.
    /// nullopt if it stays held. Uncontended: 1 PUT. The payload is s3db.js's
    /// {workerId, token, acquiredAt, _expiresAt} body.
    S3DB_DECL std::optional<Lock> acquire_lock(std::string_view name, LockOptions o = {});

    /// Releases a lock held by `lock`'s holder: true if it was released, false if it was no longer
    /// `lock`'s version (taken over after expiry, released already, or not ours), and then nothing
    /// changes. With more than `lock_release_margin` left: HEAD (its ETag must still be lock.etag)
    /// then DELETE; nobody else may write a live lock, so the only window is a DELETE delayed past
    /// the expiry (by more than the margin, plus clock skew). Closer to expiry: one PUT conditional
    /// on lock.etag replacing it with an expired lock, which is atomic and which the next acquirer
    /// takes over like any expired lock.
    S3DB_DECL bool release_lock(const Lock& lock);

    /// s3db.js's `releaseLock(name)`: releases lock `name` if this holder holds it. The holder is this
    /// storage (and its copies): it remembers the locks its acquire_lock took, and releases only
    /// those, as release_lock(lock) does, so another holder's lock is never touched: `not_held`
    /// (0 requests) when it holds none of that name, `lost` when the one it took has been taken over.
    S3DB_DECL LockRelease release_lock(std::string_view name);

    /// Extends a held lock to expire `ttl` from now: true if it was still `lock`'s version (then
    /// `lock`, and the holder's own record of it, are updated), false otherwise. 1 PUT conditional
    /// on lock.etag.
    S3DB_DECL bool extend_lock(Lock& lock, std::chrono::seconds ttl);

    /// Whether lock `name` is held by anyone (exists, well-formed, not expired). 1 GET.
    S3DB_DECL bool is_locked(std::string_view name);

    /// Runs `fn()` holding lock `name`, releasing it afterwards (also when `fn` throws). Returns
    /// nullopt (false for a void `fn`) when the lock could not be taken.
    template <class F>
    auto with_lock(std::string_view name, LockOptions o, F&& fn) {
        using R = std::invoke_result_t<F&>;
        auto lock = acquire_lock(name, std::move(o));
        struct Release {
            PluginStorage* self;
            std::optional<Lock>* lock;
            ~Release() {
                if (!*lock) return;
                try {
                    (void)self->release_lock(**lock);
                } catch (const std::exception&) {
                    // The lock expires on its own; an exception must not escape a destructor.
                }
            }
        } release{this, &lock};
        if constexpr (std::is_void_v<R>) {
            if (!lock) return false;
            fn();
            return true;
        } else {
            if (!lock) return std::optional<R>{};
            return std::optional<R>{fn()};
        }
    }

private:
    struct Entry {
        json data;                              // without the expiry field
        std::optional<std::int64_t> expires_ms; // epoch ms
        std::string etag;
        bool in_metadata = false;               // some fields live in metadata (not body-only)
    };
    struct Write {
        json data;
        StorageBehavior behavior;
        std::optional<std::int64_t> expires_ms;
    };
    struct LockHolder {
        bool valid = false;
        std::string token;
        std::int64_t expires_ms = 0;
    };
    /// The locks this holder took and has not released, by name (the latest version it wrote).
    struct HeldLocks {
        std::mutex mutex;
        std::map<std::string, Lock, std::less<>> by_name;
    };
    S3DB_DECL void remember(const Lock& lock);
    /// Forgets `lock` if the holder's record of its name is this very version (same token and ETag:
    /// a stale copy of a lock extended since does not make the holder forget the newer version).
    S3DB_DECL void forget(const Lock& lock);

    PluginStorageError error(std::string_view key, const std::string& why) const {
        return PluginStorageError(slug_, std::string(key), why);
    }

    std::int64_t now_ms() const {
        return std::chrono::duration_cast<std::chrono::milliseconds>(options_.clock().time_since_epoch()).count();
    }
    static std::chrono::system_clock::time_point from_ms(std::int64_t ms) {
        return std::chrono::system_clock::time_point(
            std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::milliseconds(ms)));
    }
    static std::int64_t to_ms(std::chrono::system_clock::time_point t) {
        return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    }

    bool expired(const Entry& e) const { return e.expires_ms && now_ms() > *e.expires_ms; }

    S3DB_DECL std::optional<std::int64_t> expiry_for(std::string_view key,
                                                     std::optional<std::chrono::seconds> ttl) const;

    // -- keys --

    S3DB_DECL std::string resource_prefix(std::string_view resource) const;

    S3DB_DECL bool owns(std::string_view key) const;

    /// Keys S3 would take and that name one object on every store: valid UTF-8 without control
    /// characters, no empty, "." or ".." segment, no leading or trailing '/', at most 1024 bytes.
    S3DB_DECL void check_key_text(std::string_view key) const;

    S3DB_DECL void check_prefix_text(std::string_view prefix) const;

    S3DB_DECL void check_text(std::string_view text, std::string_view key) const;

    // -- reading --

    S3DB_DECL std::optional<Entry> read(const std::string& full);

    S3DB_DECL Entry decode(const std::string& full, const Object& raw) const;

    // -- writing --

    /// Lays `data` out by `behavior` (s3db.js's PluginStorage rules, minus its lossy cases: fields
    /// whose name or value would not read back unchanged from metadata go to the body) and PUTs it.
    S3DB_DECL std::string write(const std::string& full, const json& data, StorageBehavior behavior,
                                std::optional<std::int64_t> expires_ms, PutOptions put);

    /// The compare-and-swap loop: read, let `plan` decide the write from the live entry (nullopt if
    /// missing or expired), write conditionally on what was read, retry on conflict.
    template <class Plan>
    std::optional<json> cas(const std::string& full, Plan&& plan) {
        std::chrono::microseconds round{};
        for (std::size_t attempt = 0; attempt < options_.cas_attempts; ++attempt) {
            if (attempt > 0) detail::contention_pause(attempt, std::chrono::milliseconds(1), std::chrono::milliseconds(50), round);
            const auto round_start = std::chrono::steady_clock::now();
            auto entry = read(full);
            std::optional<Entry> live;
            if (entry && !expired(*entry)) live = *entry;
            auto w = plan(live);
            if (!w) return live ? std::optional<json>(std::move(live->data)) : std::nullopt;
            PutOptions put;
            if (entry) put.if_match = entry->etag;  // an expired entry is replaced only if unchanged
            else put.if_none_match = true;
            try {
                write(full, w->data, w->behavior, w->expires_ms, std::move(put));
                return std::move(w->data);
            } catch (const PreconditionFailed&) {
            } catch (const NotFound&) {  // some stores answer If-Match on a vanished key with 404
            }
            round = detail::elapsed_since(round_start);
        }
        throw PluginStorageConflict(slug_, full, options_.cas_attempts);
    }

    // -- locks --

    S3DB_DECL std::string lock_body(const Lock& lock, std::int64_t expires_ms) const;

    /// Who holds a lock object. Anything unreadable or not shaped like s3db.js's lock payload is
    /// invalid, and an invalid lock may be taken over like an expired one.
    S3DB_DECL LockHolder lock_holder(const Object& raw) const;

    // -- listing --

    S3DB_DECL std::vector<std::string> list_keys(
        const std::string& prefix, std::optional<std::size_t> limit,
        std::optional<std::chrono::system_clock::time_point> written_before = {});

    /// The plugin's keys under `resource` or, without one, all of them: its global space and its
    /// space under every resource (found with one delimited listing, not by listing the bucket).
    S3DB_DECL std::vector<std::string> plugin_keys(const std::optional<std::string>& resource,
                                                   std::optional<std::chrono::system_clock::time_point> written_before);

    /// Every `resource=<r>/` at the top of the store, from a listing with delimiter '/'.
    S3DB_DECL std::vector<std::string> resource_prefixes();

    S3DB_DECL std::size_t remove_keys(const std::vector<std::string>& keys);

    TransportRef transport_;
    std::string slug_;
    PluginStorageOptions options_;
    std::string global_prefix_;
    std::shared_ptr<detail::WorkerPool> pool_;
    std::shared_ptr<HeldLocks> held_ = std::make_shared<HeldLocks>();
};

}  // namespace s3db

#if S3DB_DEFINE_BODIES
#include <charconv>
#include <cmath>

namespace s3db {

S3DB_DECL std::string_view to_string(StorageBehavior b) noexcept {
    switch (b) {
        case StorageBehavior::body_only: return "body-only";
        case StorageBehavior::enforce_limits: return "enforce-limits";
        default: return "body-overflow";
    }
}

S3DB_DECL StorageBehavior parse_storage_behavior(std::string_view name) {
    if (name == "body-overflow") return StorageBehavior::body_overflow;
    if (name == "body-only") return StorageBehavior::body_only;
    if (name == "enforce-limits") return StorageBehavior::enforce_limits;
    throw ConfigError("unknown plugin storage behavior '" + InvalidKey::printable(std::string(name)) +
                      "' (expected body-overflow, body-only or enforce-limits)");
}

S3DB_DECL bool detail::js_numeric(std::string_view s) noexcept {
    return !js_trim(s, true, true).empty() && !std::isnan(js_string_to_number(s));
}

S3DB_DECL std::optional<json> detail::parse_js_number(std::string_view s) {
    if (!js_numeric(s)) return std::nullopt;
    s = js_trim(s, true, true);
    if (s.size() > 2 && s[0] == '0' && std::string_view("xXoObB").find(s[1]) != std::string_view::npos) {
        int base = (s[1] == 'x' || s[1] == 'X') ? 16 : (s[1] == 'o' || s[1] == 'O') ? 8 : 2;
        std::uint64_t v = 0;
        auto [p, ec] = std::from_chars(s.data() + 2, s.data() + s.size(), v, base);
        if (ec == std::errc{} && p == s.data() + s.size()) return json(v);
        return std::nullopt;
    }
    bool negative = s.front() == '-';
    if (s.front() == '+' || s.front() == '-') s.remove_prefix(1);
    if (s == "Infinity") return std::nullopt;
    const char* end = s.data() + s.size();
    if (s.find_first_of(".eE") == std::string_view::npos) {
        std::uint64_t u = 0;
        auto [p, ec] = std::from_chars(s.data(), end, u);
        if (ec == std::errc{} && p == end) {
            if (!negative) return json(u <= std::uint64_t(std::numeric_limits<std::int64_t>::max()) ? json(std::int64_t(u)) : json(u));
            if (u <= std::uint64_t(std::numeric_limits<std::int64_t>::max()) + 1) return json(std::int64_t(0 - u));
        }
    }
    double d = 0;
    auto [p, ec] = std::from_chars(s.data(), end, d);
    if (p != end) return std::nullopt;
    if (ec == std::errc::result_out_of_range) {
        // from_chars leaves `d` alone: tell overflow (Infinity in JS) from underflow (0).
        auto e = s.find_first_of("eE");
        bool tiny = e != std::string_view::npos ? s.substr(e + 1).starts_with('-')
                                                : s.substr(0, s.find('.')).find_first_not_of('0') == std::string_view::npos;
        if (!tiny) return std::nullopt;
        d = 0;
    } else if (ec != std::errc{} || !std::isfinite(d)) {
        return std::nullopt;
    }
    return json(negative ? -d : d);
}

S3DB_DECL bool detail::json_looking(std::string_view v) noexcept {
    return v.size() >= 2 && ((v.front() == '{' && v.back() == '}') || (v.front() == '[' && v.back() == ']'));
}

S3DB_DECL json detail::parse_plugin_metadata_value(std::string_view v) {
    if (json_looking(v)) {
        auto parsed = json::parse(v, nullptr, false);
        if (!parsed.is_discarded()) return parsed;
    }
    if (auto n = parse_js_number(v)) return *n;
    if (v == "true") return true;
    if (v == "false") return false;
    return std::string(v);
}

S3DB_DECL bool detail::metadata_safe_string(std::string_view s) {
    if (s.empty() || js_space_prefix(s) || js_space_suffix(s)) return false;
    if (s == "true" || s == "false" || s == "null" || s == "undefined") return false;
    return !json_looking(s) && !js_numeric(s);
}

S3DB_DECL bool detail::metadata_safe_name(std::string_view k) noexcept {
    if (k.empty()) return false;
    for (char c : k)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
    return true;
}

S3DB_DECL std::optional<std::string> detail::plugin_metadata_text(const json& v) {
    switch (v.type()) {
        case json::value_t::string: {
            const auto& s = v.get_ref<const std::string&>();
            if (!metadata_safe_string(s)) return std::nullopt;
            return s;
        }
        case json::value_t::boolean: return v.get<bool>() ? "true" : "false";
        case json::value_t::number_integer: return std::to_string(v.get<std::int64_t>());
        case json::value_t::number_unsigned: return std::to_string(v.get<std::uint64_t>());
        case json::value_t::number_float:
            if (!std::isfinite(v.get<double>())) return std::nullopt;
            return v.dump();  // shortest text that reads back as the same double
        case json::value_t::object:
        case json::value_t::array: return v.dump();
        default: return std::nullopt;  // null: s3db.js's client turns the text "null" into a null it cannot parse
    }
}

S3DB_DECL PluginStorage::PluginStorage(TransportRef transport, std::string slug, PluginStorageOptions options)
    : transport_(transport), slug_(std::move(slug)), options_(std::move(options)) {
    if (slug_.empty()) throw PluginStorageError(slug_, {}, "the plugin slug cannot be empty");
    for (char c : slug_)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-'))
            throw PluginStorageError(slug_, {}, "a plugin slug may only hold letters, digits, '.', '_' and '-'");
    if (!options_.clock) options_.clock = [] { return std::chrono::system_clock::now(); };
    if (options_.cas_attempts == 0) options_.cas_attempts = 1;
    pool_ = std::make_shared<detail::WorkerPool>(options_.concurrency);
    global_prefix_ = "plugin=" + slug_ + "/";
}

S3DB_DECL std::string PluginStorage::resolve_key(std::string_view key) const {
    check_key_text(key);
    if (owns(key)) return std::string(key);
    if (key.starts_with("plugin=") || key.starts_with("resource="))
        throw error(key, "the key is outside this plugin's space (expected plugin=" + slug_ +
                             "/... or resource=<name>/plugin=" + slug_ + "/...)");
    std::string full = global_prefix_ + std::string(key);
    check_key_text(full);
    return full;
}

S3DB_DECL std::string PluginStorage::set(std::string_view key, const json& data, SetOptions o) {
    auto full = resolve_key(key);
    auto expires = expiry_for(full, o.ttl);
    return write(full, data, o.behavior, expires, {});
}

S3DB_DECL std::optional<json> PluginStorage::get(std::string_view key) {
    auto full = resolve_key(key);
    auto entry = read(full);
    if (!entry) return std::nullopt;
    if (expired(*entry)) {
        if (options_.remove_expired_on_read && !full.starts_with(global_prefix_ + "locks/")) {
            try {
                transport_.remove(full);
            } catch (const TransportError&) {
                // Best effort: the entry reads as missing either way.
            }
        }
        return std::nullopt;
    }
    return std::move(entry->data);
}

S3DB_DECL std::optional<Versioned> PluginStorage::get_with_version(std::string_view key) {
    auto full = resolve_key(key);
    auto entry = read(full);
    if (!entry || expired(*entry)) return std::nullopt;
    return Versioned{std::move(entry->data), std::move(entry->etag)};
}

S3DB_DECL std::optional<std::string> PluginStorage::set_if_absent(std::string_view key, const json& data, SetOptions o) {
    auto full = resolve_key(key);
    try {
        return write(full, data, o.behavior, expiry_for(full, o.ttl), {.if_none_match = true});
    } catch (const PreconditionFailed&) {
        return std::nullopt;
    }
}

S3DB_DECL std::optional<std::string> PluginStorage::set_if_version(std::string_view key, const json& data,
                                                                   std::string_view etag, SetOptions o) {
    auto full = resolve_key(key);
    if (etag.empty()) throw error(full, "set_if_version needs the ETag of the version to replace");
    try {
        return write(full, data, o.behavior, expiry_for(full, o.ttl), {.if_match = std::string(etag)});
    } catch (const PreconditionFailed&) {
        return std::nullopt;
    } catch (const NotFound&) {
        return std::nullopt;
    }
}

S3DB_DECL std::optional<json> PluginStorage::update(std::string_view key,
                                                    const std::function<std::optional<json>(const std::optional<json>&)>& fn,
                                                    SetOptions o) {
    auto full = resolve_key(key);
    return cas(full, [&](std::optional<Entry>& live) -> std::optional<Write> {
        std::optional<json> current;
        if (live) current = live->data;
        auto next = fn(current);
        if (!next) return std::nullopt;
        auto expires = o.ttl ? expiry_for(full, o.ttl) : (live ? live->expires_ms : std::nullopt);
        return Write{std::move(*next), o.behavior, expires};
    });
}

S3DB_DECL bool PluginStorage::is_expired(std::string_view key) {
    auto entry = read(resolve_key(key));
    return !entry || expired(*entry);
}

S3DB_DECL std::optional<std::chrono::seconds> PluginStorage::ttl(std::string_view key) {
    auto entry = read(resolve_key(key));
    if (!entry || !entry->expires_ms || expired(*entry)) return std::nullopt;
    return std::chrono::seconds((*entry->expires_ms - now_ms()) / 1000);
}

S3DB_DECL bool PluginStorage::touch(std::string_view key, std::chrono::seconds additional) {
    auto full = resolve_key(key);
    if (additional.count() < 0) throw error(full, "touch adds time: additional seconds cannot be negative");
    bool touched = false;
    cas(full, [&](std::optional<Entry>& live) -> std::optional<Write> {
        touched = false;
        if (!live || !live->expires_ms) return std::nullopt;
        touched = true;
        auto behavior = live->in_metadata ? StorageBehavior::body_overflow : StorageBehavior::body_only;
        return Write{live->data, behavior, *live->expires_ms + additional.count() * 1000};
    });
    return touched;
}

S3DB_DECL std::int64_t PluginStorage::increment(std::string_view key, std::int64_t amount, CounterOptions o) {
    auto full = resolve_key(key);
    std::int64_t result = 0;
    cas(full, [&](std::optional<Entry>& live) -> std::optional<Write> {
        json data = live ? live->data : json::object();
        std::int64_t value = 0;
        if (auto it = data.find("value"); it != data.end() && !it->is_null()) {
            if (it->is_number_integer()) value = it->get<std::int64_t>();
            else if (it->is_number_float() && std::trunc(it->get<double>()) == it->get<double>() &&
                     std::abs(it->get<double>()) < 9.2e18)
                value = static_cast<std::int64_t>(it->get<double>());
            else
                throw error(full, "the counter's 'value' is " + it->dump() + ", not an integer");
        }
        if (__builtin_add_overflow(value, amount, &result))
            throw error(full, "the counter would overflow: " + std::to_string(value) + " + " + std::to_string(amount));
        data["value"] = result;
        auto expires = o.ttl ? expiry_for(full, o.ttl) : (live ? live->expires_ms : std::nullopt);
        auto behavior = !live || live->in_metadata ? StorageBehavior::body_overflow : StorageBehavior::body_only;
        return Write{std::move(data), behavior, expires};
    });
    return result;
}

S3DB_DECL std::int64_t PluginStorage::decrement(std::string_view key, std::int64_t amount, CounterOptions o) {
    if (amount == std::numeric_limits<std::int64_t>::min())
        throw error(resolve_key(key), "cannot decrement by -2^63: its negation overflows");
    return increment(key, -amount, o);
}

S3DB_DECL std::vector<std::string> PluginStorage::list(std::string_view prefix, ListKeysOptions o) {
    check_prefix_text(prefix);
    return list_keys(global_prefix_ + std::string(prefix), o.limit);
}

S3DB_DECL std::vector<std::string> PluginStorage::list_for_resource(std::string_view resource,
                                                                    std::string_view sub_prefix, ListKeysOptions o) {
    check_prefix_text(sub_prefix);
    return list_keys(resource_prefix(resource) + std::string(sub_prefix), o.limit);
}

S3DB_DECL std::size_t PluginStorage::remove_prefix(std::string_view prefix, std::optional<std::string_view> resource) {
    check_prefix_text(prefix);
    auto base = resource ? resource_prefix(*resource) : global_prefix_;
    return remove_keys(list_keys(base + std::string(prefix), std::nullopt));
}

S3DB_DECL std::vector<BatchPutResult> PluginStorage::batch_put(std::span<const BatchPutItem> items) {
    std::vector<BatchPutResult> out(items.size());
    pool_->for_each_index(items.size(), [&](std::size_t i) {
        out[i].key = items[i].key;
        try {
            set(items[i].key, items[i].data, items[i].options);
            out[i].ok = true;
        } catch (const std::exception& e) {
            out[i].error = e.what();
        }
    });
    return out;
}

S3DB_DECL std::vector<BatchGetResult> PluginStorage::batch_get(std::span<const std::string> keys) {
    std::vector<BatchGetResult> out(keys.size());
    pool_->for_each_index(keys.size(), [&](std::size_t i) {
        out[i].key = keys[i];
        try {
            out[i].data = get(keys[i]);
            out[i].ok = true;
        } catch (const std::exception& e) {
            out[i].error = e.what();
        }
    });
    return out;
}

S3DB_DECL std::string PluginStorage::lock_key(std::string_view name) const {
    if (name.empty()) throw error(global_prefix_ + "locks/", "a lock name cannot be empty");
    auto key = global_prefix_ + "locks/" + std::string(name);
    check_key_text(key);
    return key;
}

S3DB_DECL std::optional<Lock> PluginStorage::acquire_lock(std::string_view name, LockOptions o) {
    auto key = lock_key(name);
    if (o.ttl.count() <= 0) throw error(key, "a lock ttl must be positive");
    if (o.timeout.count() < 0) throw error(key, "a lock timeout cannot be negative");
    const auto token = random_id();
    const auto deadline = std::chrono::steady_clock::now() + o.timeout;
    std::size_t vanished = 0;
    for (std::size_t attempt = 0;; ++attempt) {
        const auto now = now_ms();
        Lock lock{std::string(name), key, token, o.worker_id, from_ms(now), from_ms(now + o.ttl.count() * 1000), {}};
        const auto body = lock_body(lock, now + o.ttl.count() * 1000);
        try {
            lock.etag = transport_.put(key, body, {.content_type = "application/json", .if_none_match = true}).etag;
            remember(lock);
            return lock;
        } catch (const PreconditionFailed&) {
        }
        auto raw = transport_.get(key);
        if (raw) {
            auto holder = lock_holder(*raw);
            if (holder.token == token) {  // our own create, answered 412 on a retry
                lock.etag = raw->info.etag;
                remember(lock);
                return lock;
            }
            if (!holder.valid || now > holder.expires_ms) {
                try {
                    lock.etag = transport_.put(key, body, {.content_type = "application/json",
                                                          .if_match = raw->info.etag}).etag;
                    remember(lock);
                    return lock;
                } catch (const PreconditionFailed&) {
                } catch (const NotFound&) {
                }
                continue;  // someone else moved first: look again
            }
        }
        if (!raw && ++vanished <= 3) continue;  // released in between: try to create it again
        auto left = deadline - std::chrono::steady_clock::now();
        if (left <= std::chrono::steady_clock::duration::zero()) return std::nullopt;
        auto pause = std::chrono::duration_cast<std::chrono::milliseconds>(left);
        detail::contention_pause(attempt, std::chrono::milliseconds(50), std::min(pause, std::chrono::milliseconds(1000)));
    }
}

S3DB_DECL bool PluginStorage::release_lock(const Lock& lock) {
    auto key = lock_key(lock.name);
    if (lock.etag.empty()) return false;
    auto now = now_ms();
    if (to_ms(lock.expires_at) - options_.lock_release_margin.count() > now) {
        auto info = transport_.head(key);
        if (!info || !detail::etag_equal(info->etag, lock.etag)) {
            forget(lock);
            return false;
        }
        transport_.remove(key);
        forget(lock);
        return true;
    }
    try {
        transport_.put(key, lock_body(lock, 0), {.content_type = "application/json", .if_match = lock.etag});
        forget(lock);
        return true;
    } catch (const PreconditionFailed&) {
    } catch (const NotFound&) {
    }
    forget(lock);
    return false;
}

S3DB_DECL LockRelease PluginStorage::release_lock(std::string_view name) {
    (void)lock_key(name);  // the same checks as every lock call
    std::optional<Lock> held;
    {
        std::lock_guard guard(held_->mutex);
        if (auto it = held_->by_name.find(name); it != held_->by_name.end()) held = it->second;
    }
    if (!held) return LockRelease::not_held;
    return release_lock(*held) ? LockRelease::released : LockRelease::lost;
}

S3DB_DECL void PluginStorage::remember(const Lock& lock) {
    std::lock_guard guard(held_->mutex);
    held_->by_name.insert_or_assign(lock.name, lock);
}

S3DB_DECL void PluginStorage::forget(const Lock& lock) {
    std::lock_guard guard(held_->mutex);
    if (auto it = held_->by_name.find(lock.name);
        it != held_->by_name.end() && it->second.token == lock.token && it->second.etag == lock.etag)
        held_->by_name.erase(it);
}

S3DB_DECL bool PluginStorage::extend_lock(Lock& lock, std::chrono::seconds ttl) {
    auto key = lock_key(lock.name);
    if (ttl.count() <= 0) throw error(key, "a lock ttl must be positive");
    if (lock.etag.empty()) return false;
    auto expires = now_ms() + ttl.count() * 1000;
    try {
        lock.etag = transport_.put(key, lock_body(lock, expires),
                                   {.content_type = "application/json", .if_match = lock.etag}).etag;
        lock.expires_at = from_ms(expires);
        std::lock_guard guard(held_->mutex);
        if (auto it = held_->by_name.find(lock.name); it != held_->by_name.end() && it->second.token == lock.token)
            it->second = lock;
        return true;
    } catch (const PreconditionFailed&) {
    } catch (const NotFound&) {
    }
    forget(lock);  // this version is not the lock's any more: not held
    return false;
}

S3DB_DECL bool PluginStorage::is_locked(std::string_view name) {
    auto raw = transport_.get(lock_key(name));
    if (!raw) return false;
    auto holder = lock_holder(*raw);
    return holder.valid && now_ms() <= holder.expires_ms;
}

S3DB_DECL std::optional<std::int64_t> PluginStorage::expiry_for(std::string_view key,
                                                                std::optional<std::chrono::seconds> ttl) const {
    if (!ttl) return std::nullopt;
    if (ttl->count() <= 0) throw error(key, "a ttl must be positive (got " + std::to_string(ttl->count()) + " s)");
    return now_ms() + ttl->count() * 1000;
}

S3DB_DECL std::string PluginStorage::resource_prefix(std::string_view resource) const {
    if (resource.empty()) throw error({}, "a resource name cannot be empty");
    if (resource.find('/') != std::string_view::npos)
        throw error("resource=" + std::string(resource), "a resource name cannot contain '/'");
    return "resource=" + std::string(resource) + "/" + global_prefix_;
}

S3DB_DECL bool PluginStorage::owns(std::string_view key) const {
    if (key.starts_with(global_prefix_)) return key.size() > global_prefix_.size();
    if (!key.starts_with("resource=")) return false;
    auto slash = key.find('/');
    if (slash == std::string_view::npos || slash == 9) return false;
    auto rest = key.substr(slash + 1);
    return rest.starts_with(global_prefix_) && rest.size() > global_prefix_.size();
}

S3DB_DECL void PluginStorage::check_key_text(std::string_view key) const {
    if (key.empty()) throw error(key, "a key cannot be empty");
    if (key.size() > max_key_bytes)
        throw error(key, "a key is at most " + std::to_string(max_key_bytes) + " bytes, this one is " +
                             std::to_string(key.size()));
    check_text(key, key);
    std::size_t start = 0;
    for (;;) {
        auto slash = key.find('/', start);
        auto segment = key.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
        if (segment.empty()) throw error(key, "a key cannot have an empty segment (leading, trailing or double '/')");
        if (segment == "." || segment == "..") throw error(key, "a key cannot have a '.' or '..' segment");
        if (slash == std::string_view::npos) break;
        start = slash + 1;
    }
}

S3DB_DECL void PluginStorage::check_prefix_text(std::string_view prefix) const {
    if (prefix.starts_with('/')) throw error(prefix, "a prefix is relative: it cannot start with '/'");
    check_text(prefix, prefix);
}

S3DB_DECL void PluginStorage::check_text(std::string_view text, std::string_view key) const {
    for (std::size_t i = 0; i < text.size();) {
        char32_t cp = 0;
        auto n = detail::utf8_sequence(text, i, &cp);
        if (n == 0) throw error(key, "a key must be valid UTF-8 (bad byte at offset " + std::to_string(i) + ")");
        if (detail::key_hostile(cp))
            throw error(key, "a key cannot contain " + detail::code_point_name(cp));
        i += n;
    }
}

S3DB_DECL std::optional<PluginStorage::Entry> PluginStorage::read(const std::string& full) {
    auto raw = transport_.get(full);
    if (!raw) return std::nullopt;
    return decode(full, *raw);
}

S3DB_DECL PluginStorage::Entry PluginStorage::decode(const std::string& full, const Object& raw) const {
    Entry e;
    e.data = json::object();
    for (const auto& [k, v] : raw.info.metadata) e.data[k] = detail::parse_plugin_metadata_value(v);
    e.in_metadata = !raw.info.metadata.empty();
    auto text = detail::js_trim(raw.body, true, true);
    if (!text.empty()) {
        if (detail::json_text_too_deep(text, 2 * detail::max_nesting_depth))
            throw error(full, "the stored body nests deeper than " + std::to_string(2 * detail::max_nesting_depth) + " levels");
        auto body = json::parse(text, nullptr, false);
        if (body.is_discarded()) throw error(full, "the stored body is not valid JSON");
        if (!body.is_object()) throw error(full, "the stored body is JSON but not an object");
        for (auto& [k, v] : body.items()) e.data[k] = std::move(v);
    }
    // s3db.js reads `_expiresat` (metadata, lowercased) before `_expiresAt` (body).
    for (const char* field : {"_expiresat", "_expiresAt"}) {
        auto it = e.data.find(field);
        if (it == e.data.end()) continue;
        if (!e.expires_ms && it->is_number()) {
            double ms = it->get<double>();
            if (std::isfinite(ms)) e.expires_ms = static_cast<std::int64_t>(std::floor(ms));
        }
        e.data.erase(it);
    }
    e.etag = raw.info.etag;
    return e;
}

S3DB_DECL std::string PluginStorage::write(const std::string& full, const json& data, StorageBehavior behavior,
                                           std::optional<std::int64_t> expires_ms, PutOptions put) {
    if (!data.is_object()) throw error(full, std::string("data must be a JSON object, not ") + data.type_name());
    for (const char* reserved : {"_expiresat", "_expiresAt"})
        if (data.contains(reserved))
            throw error(full, std::string("'") + reserved + "' is reserved for the expiry: use the ttl option");

    Metadata metadata;
    json body = json::object();
    if (behavior == StorageBehavior::body_only) {
        body = data;
        if (expires_ms) body["_expiresAt"] = *expires_ms;
    } else {
        struct Candidate {
            std::string_view name;
            std::string text;
            std::size_t size;
        };
        std::vector<Candidate> candidates;
        std::size_t used = 0, total = 0;
        if (expires_ms) {
            auto text = std::to_string(*expires_ms);
            used = total = 10 + text.size();  // "_expiresat" goes first, whatever the rest needs
            metadata.emplace("_expiresat", std::move(text));
        }
        for (const auto& [name, value] : data.items()) {
            auto text = detail::metadata_safe_name(name) ? detail::plugin_metadata_text(value) : std::nullopt;
            if (!text) {
                total += name.size() + detail::encoded_metadata_size(value.dump());
                body[name] = value;
                continue;
            }
            auto size = name.size() + detail::encoded_metadata_size(*text);
            total += size;
            candidates.push_back({name, std::move(*text), size});
        }
        if (behavior == StorageBehavior::enforce_limits && total > plugin_metadata_budget)
            throw PluginDataTooLarge(slug_, full, total, plugin_metadata_budget);
        // Smallest first, as s3db.js does: the most fields stay readable from metadata alone.
        std::stable_sort(candidates.begin(), candidates.end(),
                         [](const Candidate& a, const Candidate& b) { return a.size < b.size; });
        for (auto& c : candidates) {
            if (used + c.size <= plugin_metadata_budget) {
                used += c.size;
                metadata.emplace(std::string(c.name), std::move(c.text));
            } else {
                body[std::string(c.name)] = data[std::string(c.name)];
            }
        }
    }
    std::string text = body.empty() ? std::string() : body.dump();
    detail::append_etag_salt(text);
    put.content_type = "application/json";
    put.metadata = std::move(metadata);
    return transport_.put(full, text, std::move(put)).etag;
}

S3DB_DECL std::string PluginStorage::lock_body(const Lock& lock, std::int64_t expires_ms) const {
    json body = {{"workerId", lock.worker_id},
                 {"token", lock.token},
                 {"acquiredAt", to_ms(lock.acquired_at)},
                 {"_expiresAt", expires_ms}};
    auto text = body.dump();
    detail::append_etag_salt(text);
    return text;
}

S3DB_DECL PluginStorage::LockHolder PluginStorage::lock_holder(const Object& raw) const {
    LockHolder h;
    Entry e;
    try {
        e = decode(raw.info.key, raw);
    } catch (const PluginStorageError&) {
        return h;
    }
    auto token = e.data.find("token");
    auto acquired = e.data.find("acquiredAt");
    if (token == e.data.end() || !token->is_string() || acquired == e.data.end() || !acquired->is_number())
        return h;
    h.token = token->get<std::string>();
    h.valid = true;
    h.expires_ms = e.expires_ms.value_or(std::numeric_limits<std::int64_t>::max());
    return h;
}

S3DB_DECL std::vector<std::string> PluginStorage::list_keys(
    const std::string& prefix, std::optional<std::size_t> limit,
    std::optional<std::chrono::system_clock::time_point> written_before) {
    std::vector<std::string> keys;
    ListOptions o{.prefix = prefix};
    for (;;) {
        if (limit && keys.size() >= *limit) break;
        o.max_keys = limit ? std::min(max_list_keys, *limit - keys.size()) : max_list_keys;
        auto page = transport_.list(o);
        for (auto& e : page.objects)
            if (!written_before || e.last_modified < *written_before) keys.push_back(std::move(e.key));
        if (!page.truncated()) break;
        o.continuation_token = std::move(page.next_continuation_token);
    }
    if (limit && keys.size() > *limit) keys.resize(*limit);
    return keys;
}

S3DB_DECL std::vector<std::string> PluginStorage::plugin_keys(
    const std::optional<std::string>& resource, std::optional<std::chrono::system_clock::time_point> written_before) {
    if (resource) return list_keys(resource_prefix(*resource), std::nullopt, written_before);
    auto keys = list_keys(global_prefix_, std::nullopt, written_before);
    for (const auto& top : resource_prefixes()) {
        auto more = list_keys(top + global_prefix_, std::nullopt, written_before);
        keys.insert(keys.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
    }
    return keys;
}

S3DB_DECL std::vector<std::string> PluginStorage::resource_prefixes() {
    std::vector<std::string> out;
    ListOptions o{.prefix = "resource=", .delimiter = "/"};
    for (;;) {
        auto page = transport_.list(o);
        for (auto& p : page.common_prefixes) out.push_back(std::move(p));
        if (!page.truncated()) break;
        o.continuation_token = std::move(page.next_continuation_token);
    }
    return out;
}

S3DB_DECL std::size_t PluginStorage::remove_keys(const std::vector<std::string>& keys) {
    std::size_t removed = 0, failed = 0;
    std::optional<RemoveManyResult::Failure> first_failure;
    for (std::size_t i = 0; i < keys.size(); i += max_delete_keys) {
        auto n = std::min(max_delete_keys, keys.size() - i);
        auto r = transport_.remove_many(std::span<const std::string>(keys.data() + i, n));
        removed += r.removed.size();
        failed += r.failed.size();
        if (!first_failure && !r.failed.empty()) first_failure = r.failed.front();
    }
    if (first_failure)
        throw error(first_failure->key, "removed " + std::to_string(removed) + " keys but " +
                                            std::to_string(failed) + " could not be removed, first: " +
                                            first_failure->code + " " + first_failure->message);
    return removed;
}

}  // namespace s3db
#endif  // S3DB_DEFINE_BODIES
