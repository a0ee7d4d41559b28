#pragma once
// Plugins composed in the database's type: `Database<Cache<Memory>, Audit, Costs>`.
//
// A plugin is a class deriving from `Plugin<Self>` with a `static constexpr std::string_view name`.
// It defines only the hooks it needs, as plain member functions; the database finds them with
// requires-expressions and calls nothing else, so a hook a plugin lacks costs nothing:
//
//   lifecycle     validate() const, on_install(db), on_start(), on_stop(), on_uninstall(options),
//                 health() -> PluginHealth, on_resource_created(resource)
//   operations    before_insert(ctx) … after_page(ctx) (see S3DB_RESOURCE_HOOKS), after_write(ctx)
//                 (after any insert, update, replace or delete), around_read(read, next) to answer
//                 a read or pass it on (the cache), on_operation(event) after every public operation;
//                 a plugin hooking deletes gets the deleted record (1 GET first) unless its type says
//                 `needs_deleted_record = false`, or `deletes_need_record() const` says no for now
//   requests      on_request(event) before and on_response(event) after every S3 request
//
// A member named like a hook that the database cannot call that way (`on_install()` without the
// database, `before_insert(json&)`, a non-const `health()`) is a compile error naming the hook and
// the signature it needs: it would otherwise never run.
//
// Before hooks always throw through (that is how a plugin rejects an operation). Errors in every
// other hook are isolated when the plugin's options say so (the default): they are counted in its
// status and reported to `on_plugin_error` listeners, and the operation goes on.
//
// The caller's context: an operation may carry one (`users.insert(r, {.context = {{"user", "ana"}}})`;
// WriteOptions, ReadOptions and ListQuery have `context`). Hooks keep their one signature: the
// context travels in what they receive, as `const json* context` of OperationContext, ReadContext
// and OperationEvent, for every hook, listener and event of that operation (records a listing reads
// through get included); null when the call gave none, so an operation without one pays nothing.
// S3 request events (on_request) do not carry it. Audit takes its userId from it.
//
// Plugins are found by type (`db.plugin<Audit>()`) or by name (`db.plugin("Audit")`, a PluginRef
// with the status and `as<P>()`), named in the type or added at run time; `db.has_plugin(…)` says
// whether one is in use. Plugin events (`emit`) reach `db.on_plugin_event` listeners, plugins'
// included (Metrics counts the cache's hits); a plugin that emits on a hot path asks
// `listened(event)` first (one atomic load) and builds the event only when someone listens.
//
// The same plugin classes can also be added at run time, type-erased behind one virtual interface
// (`db.use_plugin(Audit{…})`), for setups chosen by configuration.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "s3db/detail/config.hpp"
#include "s3db/errors.hpp"
#include "s3db/core/hooks.hpp"
#include "s3db/core/plugin_storage.hpp"
#include "s3db/transport/transport.hpp"
#include "s3db/transport/transport_ref.hpp"

namespace s3db {

struct UninstallOptions {
    bool purge_data = false;  // also delete everything the plugin stored (its PluginStorage keys)
};

enum class PluginState { registered, installed, started, stopped, failed, uninstalled };

constexpr std::string_view to_string(PluginState s) noexcept {
    switch (s) {
        case PluginState::registered: return "registered";
        case PluginState::installed: return "installed";
        case PluginState::started: return "started";
        case PluginState::stopped: return "stopped";
        case PluginState::failed: return "failed";
        case PluginState::uninstalled: return "uninstalled";
    }
    return "?";
}

/// What a plugin's health() hook answers.
struct PluginHealth {
    bool healthy = true;
    std::string detail{};
};

/// One plugin as `db.status()` reports it.
struct PluginStatus {
    std::string name;
    PluginState state = PluginState::registered;
    bool healthy = true;
    std::string detail;      // from health(), or why the plugin failed
    std::size_t errors = 0;  // isolated hook errors so far
    std::string last_error;
};

/// Options every plugin has (through `Plugin<Self>`).
struct PluginOptions {
    bool isolate_errors = true;  // errors outside before hooks are reported, not thrown
    std::chrono::milliseconds install_timeout{30'000};
    std::chrono::milliseconds stop_timeout{30'000};
};

namespace detail {
/// "EventualConsistency" -> "eventual-consistency": the plugin's PluginStorage namespace.
S3DB_DECL std::string slug_of(std::string_view name);
template <class Db, class Res>
class PluginHostBase;
template <class Db, class Res, class... Plugins>
class PluginHost;

/// The bit of a plugin event's name in the host's mask of listened events (bit 63: "*"). Two names
/// may share a bit: a false "listened" only costs building data nobody receives.
constexpr std::uint64_t event_bit(std::string_view event) noexcept {
    if (event == "*") return std::uint64_t{1} << 63;
    std::uint64_t h = 14695981039346656037ull;  // FNV-1a
    for (char c : event) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    return std::uint64_t{1} << (h % 63);
}

/// An event's name with its bit and the bit of "*": what `listened` tests, computed once when
/// made constexpr.
struct EventName {
    std::uint64_t bits;
    constexpr explicit EventName(std::string_view event) noexcept : bits(event_bit(event) | event_bit("*")) {}
};
}  // namespace detail

/// The CRTP base of every plugin: its options, its storage and its events. What the plugin does
/// lives in the hooks Derived defines.
template <class Derived>
class Plugin {
public:
    Plugin() = default;
    explicit Plugin(PluginOptions options) : plugin_options_(options) {}

    /// Derived::storage_slug if it has one, else the kebab-case of Derived::name.
    static std::string slug() {
        if constexpr (requires { std::string_view(Derived::storage_slug); }) return std::string(Derived::storage_slug);
        else return detail::slug_of(Derived::name);
    }

    const PluginOptions& plugin_options() const noexcept { return plugin_options_; }
    PluginOptions& plugin_options() noexcept { return plugin_options_; }

    /// The plugin's own keys (`plugin=<slug>/…`), on the database's store. Available once installed.
    PluginStorage& storage() {
        if (!storage_) throw PluginError(Derived::name, "its storage is available once it is installed");
        return *storage_;
    }
    bool attached() const noexcept { return storage_.has_value(); }

    /// Sends a plugin event to every `db.on_plugin_event(event, …)` listener.
    void emit(std::string_view event, const json& data = json::object()) {
        if (emit_) emit_(event, data);
    }

    /// Whether a listener of the database may want `event` (one atomic load): a plugin that emits
    /// on a hot path builds the event's data only then. False before the plugin is installed.
    bool listened(std::string_view event) const noexcept { return listened(detail::EventName(event)); }
    /// The same for a name hashed once (`static constexpr detail::EventName hit{"cache.hit"}`).
    bool listened(detail::EventName event) const noexcept {
        return listened_ && (listened_->load(std::memory_order_relaxed) & event.bits) != 0;
    }

private:
    template <class Db, class Res>
    friend class detail::PluginHostBase;
    void attach(TransportRef store, std::function<void(std::string_view, const json&)> emit,
                const std::atomic<std::uint64_t>* listened) {
        storage_.emplace(store, slug());
        emit_ = std::move(emit);
        listened_ = listened;
    }

    PluginOptions plugin_options_{};
    std::optional<PluginStorage> storage_;
    std::function<void(std::string_view, const json&)> emit_;
    const std::atomic<std::uint64_t>* listened_ = nullptr;  // the host's mask of listened events
};

/// A plugin found by name (`db.plugin("Audit")`), named in the database's type or added with
/// use_plugin: its name, type, status, and the plugin itself through `as<P>()`. It refers to the
/// database's plugin: valid while the database lives.
class PluginRef {
public:
    std::string_view name() const noexcept { return name_; }
    const std::type_info& type() const noexcept { return *type_; }
    PluginState state() const noexcept { return state_(slot_); }
    PluginStatus status() const { return status_(slot_); }
    /// The plugin, when it is a P; nullptr otherwise.
    template <class P>
    P* as() const noexcept {
        return *type_ == typeid(P) ? static_cast<P*>(object_) : nullptr;
    }

private:
    template <class Db, class Res, class... Plugins>
    friend class detail::PluginHost;
    PluginRef(std::string_view name, const std::type_info& type, void* object, const void* slot,
              PluginState (*state)(const void*) noexcept, PluginStatus (*status)(const void*))
        : name_(name), type_(&type), object_(object), slot_(slot), state_(state), status_(status) {}

    std::string_view name_;
    const std::type_info* type_;
    void* object_;
    const void* slot_;
    PluginState (*state_)(const void*) noexcept;
    PluginStatus (*status_)(const void*);
};

/// A plugin: derives from Plugin<P>, has a name, and can be moved into the database.
template <class P>
concept DatabasePlugin = std::derived_from<P, Plugin<P>> && std::move_constructible<P> && requires {
    { P::name } -> std::convertible_to<std::string_view>;
};

namespace detail {

template <class P>
consteval bool check_plugin() {
    static_assert(std::derived_from<P, Plugin<P>>,
                  "s3db: every type in Database<...> must be a plugin: derive it from s3db::Plugin<Self>");
    static_assert(requires { { P::name } -> std::convertible_to<std::string_view>; },
                  "s3db: a plugin needs a name: static constexpr std::string_view name = \"...\";");
    static_assert(std::move_constructible<P>, "s3db: a plugin must be move-constructible");
    return true;
}

/// Two plugins may not share a name (both would answer the same reads and own the same storage),
/// and a plugin may list types it cannot run with in `using conflicts_with = std::tuple<…>`.
template <class P, class Q>
constexpr bool conflicts() {
    if constexpr (requires { typename P::conflicts_with; }) {
        return []<class... C>(std::tuple<C...>*) { return (std::same_as<C, Q> || ...); }(
            static_cast<typename P::conflicts_with*>(nullptr));
    } else return false;
}

template <class... P>
consteval bool check_coexistence() {
    constexpr std::size_t n = sizeof...(P);
    if constexpr (n > 1) {
        constexpr std::string_view names[] = {std::string_view(P::name)...};
        constexpr bool unique = [&] {
            for (std::size_t i = 0; i < n; ++i)
                for (std::size_t j = i + 1; j < n; ++j)
                    if (names[i] == names[j]) return false;
            return true;
        }();
        static_assert(unique, "s3db: two plugins in Database<...> have the same name: they cannot coexist");
        constexpr bool compatible = []<class... A>() {
            return ([]<class X>() { return (!conflicts<X, P>() && ...); }.template operator()<A>() && ...);
        }.template operator()<P...>();
        static_assert(compatible, "s3db: Database<...> names two plugins that cannot coexist (see their conflicts_with)");
    }
    return true;
}

// ---- hook detection: one requires-expression per hook point ---------------------------------------

// A member named like a hook that the host cannot call would never run: that is a compile error.
// `names_<hook><P>()` sees a member of that name of any kind (function, overload set, template):
// in a class deriving from P and from a class with an int of that name, the name is ambiguous
// exactly when P has one too. (A final P is probed with &P::hook, which misses overloads and
// templates.)
#define S3DB_DETAIL_PLUGIN_HOOK_NAMES(X)                                                                  \
    X(validate) X(on_install) X(on_start) X(on_stop) X(on_uninstall) X(health) X(on_resource_created)  \
    X(after_write) X(around_read) X(on_operation) X(on_request) X(on_response) X(deletes_need_record) \
    S3DB_RESOURCE_HOOKS(X)
#define S3DB_DETAIL_NAME_PROBE(hook)                                     \
    struct probe_##hook {                                                \
        int hook;                                                        \
    };                                                                   \
    template <class P>                                                   \
    struct probe_##hook##_of : P, probe_##hook {};                       \
    template <class P>                                                   \
    consteval bool names_##hook() {                                      \
        if constexpr (std::is_final_v<P>) return requires { &P::hook; }; \
        else return !requires { &probe_##hook##_of<P>::hook; };          \
    }
S3DB_DETAIL_PLUGIN_HOOK_NAMES(S3DB_DETAIL_NAME_PROBE)
#undef S3DB_DETAIL_NAME_PROBE
#undef S3DB_DETAIL_PLUGIN_HOOK_NAMES

/// Every member of P named like a hook must be callable as that hook, with Db the database's type
/// and Res its resource type; else a static_assert names the hook and the signature it needs.
template <class P, class Db, class Res>
consteval bool check_hooks() {
#define S3DB_DETAIL_CHECK_HOOK(hook, callable, signature)                                                  \
    static_assert(!names_##hook<P>() || (callable), "s3db: plugin hook " #hook                                \
                  " has a signature the database cannot call, so it would never run; it must be callable as " \
                  signature)
    S3DB_DETAIL_CHECK_HOOK(validate, (requires(P& p) { p.validate(); }), "validate() const");
    S3DB_DETAIL_CHECK_HOOK(on_install, (requires(P& p, Db& db) { p.on_install(db); }),
                           "on_install(Db& db), Db the database's type (e.g. template <class Db> void on_install(Db&))");
    S3DB_DETAIL_CHECK_HOOK(on_start, (requires(P& p) { p.on_start(); }), "on_start()");
    S3DB_DETAIL_CHECK_HOOK(on_stop, (requires(P& p) { p.on_stop(); }), "on_stop()");
    S3DB_DETAIL_CHECK_HOOK(on_uninstall, (requires(P& p, const UninstallOptions& o) { p.on_uninstall(o); }),
                           "on_uninstall(const UninstallOptions&)");
    S3DB_DETAIL_CHECK_HOOK(health, (requires(const P& p) { { p.health() } -> std::convertible_to<PluginHealth>; }),
                           "health() const -> PluginHealth");
    S3DB_DETAIL_CHECK_HOOK(on_resource_created, (requires(P& p, Res& r) { p.on_resource_created(r); }),
                           "on_resource_created(Res& resource), Res the database's resource type (e.g. template <class Res> void on_resource_created(Res&))");
    S3DB_DETAIL_CHECK_HOOK(after_write, (requires(P& p, OperationContext& c) { p.after_write(c); }),
                           "after_write(OperationContext&) or after_write(const OperationContext&)");
    S3DB_DETAIL_CHECK_HOOK(around_read,
                           (requires(P& p, const ReadContext& r, std::function<json()>& next) {
                               { p.around_read(r, next) } -> std::convertible_to<json>;
                           }),
                           "around_read(const ReadContext&, Next& next) -> json, where next() -> json reads on");
    S3DB_DETAIL_CHECK_HOOK(on_operation, (requires(P& p, const OperationEvent& e) { p.on_operation(e); }),
                           "on_operation(const OperationEvent&)");
    S3DB_DETAIL_CHECK_HOOK(on_request, (requires(P& p, const RequestEvent& e) { p.on_request(e); }),
                           "on_request(const RequestEvent&)");
    S3DB_DETAIL_CHECK_HOOK(on_response, (requires(P& p, const RequestEvent& e) { p.on_response(e); }),
                           "on_response(const RequestEvent&)");
    S3DB_DETAIL_CHECK_HOOK(deletes_need_record,
                           (requires(const P& p) { { p.deletes_need_record() } -> std::convertible_to<bool>; }),
                           "deletes_need_record() const -> bool");
#define S3DB_DETAIL_CHECK_RESOURCE_HOOK(hook)                                                 \
    S3DB_DETAIL_CHECK_HOOK(hook, (requires(P& p, OperationContext& c) { p.hook(c); }), #hook \
                           "(OperationContext&) or " #hook "(const OperationContext&)");
    S3DB_RESOURCE_HOOKS(S3DB_DETAIL_CHECK_RESOURCE_HOOK)
#undef S3DB_DETAIL_CHECK_RESOURCE_HOOK
#undef S3DB_DETAIL_CHECK_HOOK
    return true;
}

template <Hook H, class P>
consteval bool has_resource_hook() {
#define S3DB_DETAIL_HAS(name)                                                      \
    if constexpr (H == Hook::name) return requires(P& p, OperationContext& c) { p.name(c); }; \
    else
    S3DB_RESOURCE_HOOKS(S3DB_DETAIL_HAS)
#undef S3DB_DETAIL_HAS
    return false;
}

template <Hook H, class P>
void call_resource_hook(P& p, OperationContext& c) {
#define S3DB_DETAIL_CALL(name)                                                                    \
    if constexpr (H == Hook::name) {                                                              \
        if constexpr (requires { p.name(c); }) p.name(c);                                          \
    } else
    S3DB_RESOURCE_HOOKS(S3DB_DETAIL_CALL)
#undef S3DB_DETAIL_CALL
    {}
}

constexpr bool is_before(Hook h) noexcept { return hook_name(h).starts_with("before_"); }
constexpr bool is_write_done(Hook h) noexcept {
    return h == Hook::after_insert || h == Hook::after_update || h == Hook::after_replace || h == Hook::after_delete;
}

template <class P>
inline constexpr bool has_after_write = requires(P& p, OperationContext& c) { p.after_write(c); };
template <class P>
inline constexpr bool has_around_read =
    requires(P& p, const ReadContext& r, std::function<json()>& next) { { p.around_read(r, next) } -> std::convertible_to<json>; };
template <class P>
inline constexpr bool has_on_operation = requires(P& p, const OperationEvent& e) { p.on_operation(e); };
template <class P>
inline constexpr bool has_on_request = requires(P& p, const RequestEvent& e) { p.on_request(e); };
template <class P>
inline constexpr bool has_on_response = requires(P& p, const RequestEvent& e) { p.on_response(e); };

template <Hook H, class P>
inline constexpr bool handles = has_resource_hook<H, P>() || (is_write_done(H) && has_after_write<P>);

/// Whether a delete must read the record first for this plugin (1 GET): when it hooks deletes,
/// unless it says `static constexpr bool needs_deleted_record = false;` (the cache needs the id only).
template <class P>
consteval bool wants_deleted_record() {
    if constexpr (requires { { P::needs_deleted_record } -> std::convertible_to<bool>; }) return P::needs_deleted_record;
    else return handles<Hook::before_delete, P> || handles<Hook::after_delete, P>;
}

/// Whether a delete must read the record first for this plugin as it is now: its type asks for it,
/// it is active, and it says yes through `bool deletes_need_record() const` when it has one (a
/// plugin configured off spares each delete the GET).
template <class P, class S>
bool needs_deleted_record_now(const S& slot) noexcept {
    if constexpr (!wants_deleted_record<P>()) return false;
    else {
        if (!slot.active()) return false;
        if constexpr (requires { { slot.plugin.deletes_need_record() } -> std::convertible_to<bool>; })
            return slot.plugin.deletes_need_record();
        else return true;
    }
}

// ---- the database's constructor: plugins given in any order, the others default-constructed -----

template <class G, class... Plugins>
consteval bool check_plugin_argument() {
    static_assert((std::same_as<G, Plugins> || ...),
                  "s3db: an argument after the DatabaseOptions is not one of the plugins named in Database<...>");
    return true;
}

/// Each argument is one of the database's plugins (take_plugin refuses one given twice).
template <class PluginTuple, class... Given>
consteval bool check_plugin_arguments() {
    return []<class... Plugins>(std::tuple<Plugins...>*) {
        return (check_plugin_argument<Given, Plugins...>() && ...);
    }(static_cast<PluginTuple*>(nullptr));
}

template <class P, class... Given>
consteval std::size_t count_given() {
    return (std::size_t{std::same_as<std::remove_cvref_t<Given>, P>} + ... + 0);
}

/// Plugin P for the database: the argument of type P, else P{}.
template <class P, class... Given>
P take_plugin(Given&&... given) {
    constexpr std::size_t n = count_given<P, Given...>();
    static_assert(n <= 1, "s3db: a plugin is given twice to the database's constructor");
    if constexpr (n == 1) {
        constexpr std::size_t at = [] {
            constexpr bool same[] = {std::same_as<std::remove_cvref_t<Given>, P>...};
            std::size_t i = 0;
            while (!same[i]) ++i;
            return i;
        }();
        return P(std::get<at>(std::forward_as_tuple(std::forward<Given>(given)...)));
    } else {
        static_assert(std::default_initializable<P>,
                      "s3db: a plugin in Database<...> has no default constructor: pass it to the database's constructor");
        if constexpr (std::default_initializable<P>) return P{};
        else std::terminate();  // (not reached: the assertion above stops the build)
    }
}

/// Where isolated errors go: the database's error listeners.
using ErrorSink = std::function<void(std::string_view plugin, std::string_view what)>;

/// One plugin and its state: the only code that calls a plugin's hooks, shared by plugins in the
/// type and plugins added at run time.
template <class P>
class Slot {
public:
    explicit Slot(P p) : plugin(std::move(p)) {}

    P plugin;

    bool active() const noexcept {
        auto s = state_.load(std::memory_order_acquire);
        return s == PluginState::installed || s == PluginState::started;
    }
    PluginState state() const noexcept { return state_.load(std::memory_order_acquire); }
    void set_state(PluginState s) noexcept { state_.store(s, std::memory_order_release); }

    template <Hook H>
    void fire(OperationContext& ctx, const ErrorSink& sink) {
        if (!active()) return;
        if constexpr (is_before(H)) {
            call_resource_hook<H>(plugin, ctx);  // a before hook rejects by throwing: never isolated
        } else {
            guarded(sink, [&] {
                call_resource_hook<H>(plugin, ctx);
                if constexpr (is_write_done(H) && has_after_write<P>) plugin.after_write(ctx);
            });
        }
    }

    /// The plugin's around_read, with `next` reading on. When the plugin fails (isolated), the read
    /// still returns what the store said; an error of the store itself always throws through.
    template <class Next>
    json around_read(const ReadContext& rc, Next&& next, const ErrorSink& sink) {
        std::optional<json> result;
        bool inner_failed = false;
        std::function<json()> wrapped = [&]() -> json {
            try {
                result = next();
            } catch (...) {
                inner_failed = true;
                throw;
            }
            return *result;
        };
        if (!plugin.plugin_options().isolate_errors) return plugin.around_read(rc, wrapped);
        try {
            return plugin.around_read(rc, wrapped);
        } catch (const std::exception& e) {
            if (inner_failed) throw;
            record(sink, e.what());
            return result ? std::move(*result) : next();
        }
    }

    template <class Fn>
    void guarded(const ErrorSink& sink, Fn&& fn) {
        if (!plugin.plugin_options().isolate_errors) {
            fn();
            return;
        }
        try {
            fn();
        } catch (const std::exception& e) {
            record(sink, e.what());
        }
    }

    void record(const ErrorSink& sink, std::string_view what) {
        errors_.fetch_add(1, std::memory_order_relaxed);
        {
            std::lock_guard lock(mutex_);
            last_error_ = what;
        }
        if (sink) sink(P::name, what);
    }

    void fail(const ErrorSink& sink, std::string_view what) {
        set_state(PluginState::failed);
        record(sink, what);
    }

    /// True the first time it is asked about `resource`: a plugin hears of each resource once,
    /// however often the database reconnects (resources live as long as their database).
    bool first_sight(const void* resource) {
        std::lock_guard lock(mutex_);
        if (std::find(announced_.begin(), announced_.end(), resource) != announced_.end()) return false;
        announced_.push_back(resource);
        return true;
    }

    PluginStatus status() const {
        PluginStatus s{std::string(P::name), state(), true, {}, errors_.load(std::memory_order_relaxed), {}};
        {
            std::lock_guard lock(mutex_);
            s.last_error = last_error_;
        }
        if (s.state == PluginState::failed) {
            s.healthy = false;
            s.detail = s.last_error;
        } else if constexpr (requires { { plugin.health() } -> std::convertible_to<PluginHealth>; }) {
            if (active()) {
                try {
                    PluginHealth h = const_cast<P&>(plugin).health();
                    s.healthy = h.healthy;
                    s.detail = std::move(h.detail);
                } catch (const std::exception& e) {
                    s.healthy = false;
                    s.detail = e.what();
                }
            }
        }
        return s;
    }

private:
    std::atomic<PluginState> state_{PluginState::registered};
    std::atomic<std::size_t> errors_{0};
    mutable std::mutex mutex_;
    std::string last_error_;
    std::vector<const void*> announced_;
};

/// Runs `fn` on its own thread and waits at most `timeout`. On time-out the thread is kept and
/// false is returned: the host joins it before the plugin and the database it uses are destroyed.
/// Not a template: the thread, promise and future are compiled once, not per plugin and database.
S3DB_DECL bool run_with_timeout(std::chrono::milliseconds timeout, std::vector<std::thread>& stragglers,
                                std::function<void()> fn);

/// The virtual face of a plugin added at run time.
template <class Db, class Res>
class ErasedPlugin {
public:
    virtual ~ErasedPlugin() = default;
    virtual std::string_view name() const noexcept = 0;
    virtual const std::type_info& type() const noexcept = 0;
    virtual void* object() noexcept = 0;
    virtual bool active() const noexcept = 0;
    virtual PluginState state() const noexcept = 0;
    virtual void fire(Hook h, OperationContext& ctx, const ErrorSink& sink) = 0;
    virtual bool handles(Hook h) const noexcept = 0;
    virtual bool needs_deleted_record() const noexcept = 0;
    virtual bool reads() const noexcept = 0;
    virtual json around_read(const ReadContext& rc, const std::function<json()>& next, const ErrorSink& sink) = 0;
    virtual bool observes_operations() const noexcept = 0;
    virtual void on_operation(const OperationEvent& e, const ErrorSink& sink) = 0;
    virtual bool observes_requests() const noexcept = 0;
    virtual void on_request(const RequestEvent& e, const ErrorSink& sink) = 0;
    virtual void on_response(const RequestEvent& e, const ErrorSink& sink) = 0;
    virtual void install(PluginHostBase<Db, Res>& host) = 0;
    virtual void stop(PluginHostBase<Db, Res>& host) = 0;
    virtual std::size_t uninstall(PluginHostBase<Db, Res>& host, const UninstallOptions& o) = 0;
    virtual void resource_created(Res& r, const ErrorSink& sink) = 0;
    virtual PluginStatus status() const = 0;
};

/// What a database's plugins share whatever the database's type: the listeners of their events
/// and errors, and the hooks that outlived their timeout. Not a template (compiled once).
class PluginHostCore {
public:
    PluginHostCore() = default;
    PluginHostCore(const PluginHostCore&) = delete;
    PluginHostCore& operator=(const PluginHostCore&) = delete;
    ~PluginHostCore() { join_stragglers(); }

    /// Waits for hooks that outlived their timeout. Whoever owns what they use (the plugins, the
    /// database) calls it before destroying that.
    S3DB_DECL void join_stragglers();

    const ErrorSink& sink() const noexcept { return sink_; }

    void on_plugin_error(std::function<void(std::string_view, std::string_view)> fn) {
        error_listeners_.push_back(std::move(fn));
    }
    /// `fn(data)` or `fn(event, data)`; a "*" listener hears every event.
    template <class Fn>
        requires std::invocable<Fn&, std::string_view, const json&> || std::invocable<Fn&, const json&>
    void on_plugin_event(std::string event, Fn fn) {
        if constexpr (std::invocable<Fn&, std::string_view, const json&>) add_event_listener(std::move(event), std::move(fn));
        else add_event_listener(std::move(event), [f = std::move(fn)](std::string_view, const json& d) mutable { f(d); });
    }
    S3DB_DECL void emit_plugin_event(std::string_view event, const json& data);

protected:
    using EventListener = std::function<void(std::string_view, const json&)>;
    S3DB_DECL void add_event_listener(std::string event, EventListener listener);

    ErrorSink sink_ = [this](std::string_view plugin, std::string_view what) {
        for (auto& fn : error_listeners_) fn(plugin, what);
    };
    std::vector<std::function<void(std::string_view, std::string_view)>> error_listeners_;
    using EventListeners = std::vector<std::pair<std::string, EventListener>>;
    std::mutex events_mutex_;
    std::shared_ptr<const EventListeners> event_listeners_;
    std::atomic<std::uint64_t> listened_{0};  // event_bit of every event listened to
    std::vector<std::thread> stragglers_;
};

/// The lifecycle and fan-out shared by the plugins in the type and those added at run time.
template <class Db, class Res>
class PluginHostBase : public PluginHostCore {
public:
    explicit PluginHostBase(Db& db) : db_(&db) {}

    Db& db() noexcept { return *db_; }

    /// The first time: on_install(db) (bounded by install_timeout) → on_resource_created for every
    /// resource that exists → on_start. A stopped plugin only starts again (on_resource_created for
    /// resources it has not heard of, then on_start): install runs once per database. A plugin that
    /// fails any step is marked failed and reported, and the database goes on without it; failed
    /// and uninstalled plugins stay so (a timed-out on_install may still be running).
    template <class P>
    void install(Slot<P>& slot) {
        if (slot.state() == PluginState::stopped) return start(slot);
        if (slot.state() != PluginState::registered) return;
        auto& p = slot.plugin;
        p.attach(db_->store(), [this](std::string_view e, const json& d) { emit_plugin_event(e, d); }, &listened_);
        try {
            // Captures the plugin and the database, not this frame: on time-out the hook runs on.
            bool in_time = run_with_timeout(p.plugin_options().install_timeout, stragglers_, [&p, db = db_] {
                if constexpr (requires { p.on_install(*db); }) p.on_install(*db);
                else (void)p, (void)db;  // clang's -Wunused-lambda-capture
            });
            if (!in_time) {
                slot.fail(sink_, "on_install did not finish within " +
                                     std::to_string(p.plugin_options().install_timeout.count()) + " ms");
                return;
            }
            slot.set_state(PluginState::installed);
            for (auto& name : db_->resources())
                if (!db_->resource_error(name)) resource_created(slot, db_->resource(name));
            if constexpr (requires { p.on_start(); }) p.on_start();
            slot.set_state(PluginState::started);
            emit_plugin_event("plugin.installed", json{{"plugin", P::name}});
        } catch (const std::exception& e) {
            slot.fail(sink_, std::string("install failed: ") + e.what());
        }
    }

    template <class P>
    void resource_created(Slot<P>& slot, Res& r) {
        if constexpr (requires { slot.plugin.on_resource_created(r); })
            if (slot.active() && slot.first_sight(&r)) slot.guarded(sink_, [&] { slot.plugin.on_resource_created(r); });
    }

    /// A stopped plugin back on reconnect: resources opened or created meanwhile, then on_start.
    template <class P>
    void start(Slot<P>& slot) {
        auto& p = slot.plugin;
        try {
            slot.set_state(PluginState::installed);
            for (auto& name : db_->resources()) resource_created(slot, db_->resource(name));
            if constexpr (requires { p.on_start(); }) p.on_start();
            slot.set_state(PluginState::started);
        } catch (const std::exception& e) {
            slot.fail(sink_, std::string("start failed: ") + e.what());
        }
    }

    template <class P>
    void stop(Slot<P>& slot) {
        if (slot.state() != PluginState::started) return;
        auto& p = slot.plugin;
        try {
            bool in_time = run_with_timeout(p.plugin_options().stop_timeout, stragglers_, [&p] {
                if constexpr (requires { p.on_stop(); }) p.on_stop();
                else (void)p;
            });
            slot.set_state(PluginState::stopped);
            if (!in_time)
                slot.record(sink_, "on_stop did not finish within " + std::to_string(p.plugin_options().stop_timeout.count()) + " ms");
        } catch (const std::exception& e) {
            slot.set_state(PluginState::stopped);
            slot.record(sink_, std::string("stop failed: ") + e.what());
        }
    }

    /// Stops the plugin, calls on_uninstall, and with purge_data deletes its storage. Returns the
    /// number of objects purged.
    template <class P>
    std::size_t uninstall(Slot<P>& slot, const UninstallOptions& o) {
        stop(slot);
        auto& p = slot.plugin;
        if constexpr (requires { p.on_uninstall(o); }) p.on_uninstall(o);
        slot.set_state(PluginState::uninstalled);
        std::size_t purged = 0;
        if (o.purge_data && p.attached()) {
            purged = p.storage().remove_all();
            emit_plugin_event("plugin.dataPurged", json{{"plugin", P::name}, {"deleted", purged}});
        }
        emit_plugin_event("plugin.uninstalled", json{{"plugin", P::name}});
        return purged;
    }

protected:
    Db* db_;
};

template <class Db, class Res, class P>
class ErasedModel final : public ErasedPlugin<Db, Res> {
public:
    explicit ErasedModel(P p) : slot_(std::move(p)) { static_assert(check_hooks<P, Db, Res>()); }
    Slot<P>& slot() noexcept { return slot_; }

    std::string_view name() const noexcept override { return P::name; }
    const std::type_info& type() const noexcept override { return typeid(P); }
    void* object() noexcept override { return &slot_.plugin; }
    bool active() const noexcept override { return slot_.active(); }
    PluginState state() const noexcept override { return slot_.state(); }
    void fire(Hook h, OperationContext& ctx, const ErrorSink& sink) override { fire_as(h, ctx, sink); }
    bool handles(Hook h) const noexcept override { return handles_as(h); }
    bool needs_deleted_record() const noexcept override { return needs_deleted_record_now<P>(slot_); }
    bool reads() const noexcept override { return has_around_read<P>; }
    json around_read(const ReadContext& rc, const std::function<json()>& next, const ErrorSink& sink) override {
        if constexpr (has_around_read<P>) return slot_.around_read(rc, next, sink);
        else return next();
    }
    bool observes_operations() const noexcept override { return has_on_operation<P>; }
    void on_operation(const OperationEvent& e, const ErrorSink& sink) override {
        if constexpr (has_on_operation<P>) slot_.guarded(sink, [&] { slot_.plugin.on_operation(e); });
    }
    bool observes_requests() const noexcept override { return has_on_request<P> || has_on_response<P>; }
    void on_request(const RequestEvent& e, const ErrorSink& sink) override {
        if constexpr (has_on_request<P>) slot_.guarded(sink, [&] { slot_.plugin.on_request(e); });
    }
    void on_response(const RequestEvent& e, const ErrorSink& sink) override {
        if constexpr (has_on_response<P>) slot_.guarded(sink, [&] { slot_.plugin.on_response(e); });
    }
    void install(PluginHostBase<Db, Res>& host) override { host.install(slot_); }
    void stop(PluginHostBase<Db, Res>& host) override { host.stop(slot_); }
    std::size_t uninstall(PluginHostBase<Db, Res>& host, const UninstallOptions& o) override {
        return host.uninstall(slot_, o);
    }
    void resource_created(Res& r, const ErrorSink& sink) override {
        if constexpr (requires { slot_.plugin.on_resource_created(r); })
            if (slot_.active() && slot_.first_sight(&r)) slot_.guarded(sink, [&] { slot_.plugin.on_resource_created(r); });
    }
    PluginStatus status() const override { return slot_.status(); }

private:
    void fire_as(Hook h, OperationContext& ctx, const ErrorSink& sink) {
        switch (h) {
#define S3DB_DETAIL_CASE(name) \
    case Hook::name: slot_.template fire<Hook::name>(ctx, sink); break;
            S3DB_RESOURCE_HOOKS(S3DB_DETAIL_CASE)
#undef S3DB_DETAIL_CASE
            default: break;
        }
    }
    static bool handles_as(Hook h) noexcept {
        switch (h) {
#define S3DB_DETAIL_CASE(name) \
    case Hook::name: return s3db::detail::handles<Hook::name, P>;
            S3DB_RESOURCE_HOOKS(S3DB_DETAIL_CASE)
#undef S3DB_DETAIL_CASE
            default: return false;
        }
    }

    Slot<P> slot_;
};

/// The database's plugins: those named in its type (a tuple, dispatched statically) and those
/// added at run time (behind ErasedPlugin). This is the `Host` its resources call; see hooks.hpp.
template <class Db, class Res, class... Plugins>
class PluginHost : public PluginHostBase<Db, Res> {
    static_assert((check_plugin<Plugins>() && ...));
    static_assert(check_coexistence<Plugins...>());
    using Base = PluginHostBase<Db, Res>;

public:
    using Base::resource_created;
    explicit PluginHost(Db& db, Plugins... plugins) : Base(db), slots_(std::move(plugins)...) {
        // Here, not at the class: the database's type is complete only once its constructor is.
        static_assert((check_hooks<Plugins, Db, Res>() && ...));
    }
    // Hooks that outlived their timeout use the plugins: they end before the plugins are destroyed.
    ~PluginHost() { this->join_stragglers(); }

    // ---- what resources call ----------------------------------------------------------------------

    template <Hook H>
    static constexpr bool has = (handles<H, Plugins> || ...);

    /// Whether anything listens at hook point `h` (resources skip work nobody needs).
    bool wants(Hook h) const noexcept {
        bool any = false;
        switch (h) {
#define S3DB_DETAIL_CASE(name) \
    case Hook::name: any = has<Hook::name>; break;
            S3DB_RESOURCE_HOOKS(S3DB_DETAIL_CASE)
#undef S3DB_DETAIL_CASE
            default: break;
        }
        if (any) return true;
        for (auto& d : dynamic_)
            if (d->handles(h)) return true;
        return false;
    }

    /// Whether a delete must read the record first for some plugin.
    bool wants_deleted_record() const noexcept {
        if (std::apply([](const auto&... slot) { return (detail::needs_deleted_record_now<Plugins>(slot) || ...); }, slots_))
            return true;
        for (auto& d : dynamic_)
            if (d->needs_deleted_record()) return true;
        return false;
    }

    template <Hook H>
    void fire(OperationContext& ctx) {
        if constexpr (has<H>)
            std::apply([&](auto&... slot) { (fire_one<H>(slot, ctx), ...); }, slots_);
        for (auto& d : dynamic_)
            if (d->active()) d->fire(H, ctx, this->sink_);
    }

    bool intercepts_reads() const noexcept {
        if constexpr ((has_around_read<Plugins> || ...)) return true;
        for (auto& d : dynamic_)
            if (d->reads() && d->active()) return true;
        return false;
    }

    /// The read through every plugin that may answer it, in the order they are named.
    template <class Compute>
    json around_read(const ReadContext& rc, Compute&& compute) {
        return read_chain<0>(rc, compute);
    }

    bool observes_operations() const noexcept {
        if constexpr ((has_on_operation<Plugins> || ...)) return true;
        for (auto& d : dynamic_)
            if (d->observes_operations()) return true;
        return false;
    }
    void on_operation(const OperationEvent& e) {
        std::apply([&](auto&... slot) { (operation_one(slot, e), ...); }, slots_);
        for (auto& d : dynamic_)
            if (d->active()) d->on_operation(e, this->sink_);
    }

    static constexpr bool static_observes_requests = ((has_on_request<Plugins> || has_on_response<Plugins>) || ...);
    bool observes_requests() const noexcept {
        if constexpr (static_observes_requests) return true;
        for (auto& d : dynamic_)
            if (d->observes_requests()) return true;
        return false;
    }
    void on_request(const RequestEvent& e) { request_event<true>(e); }
    void on_response(const RequestEvent& e) { request_event<false>(e); }

    // ---- what the database calls ------------------------------------------------------------------

    void install_all() {
        std::apply([&](auto&... slot) { (this->install(slot), ...); }, slots_);
        for (auto& d : dynamic_) d->install(*this);
        running_ = true;
    }
    void stop_all() {
        running_ = false;
        for (auto it = dynamic_.rbegin(); it != dynamic_.rend(); ++it) (*it)->stop(*this);
        std::apply([&](auto&... slot) { (this->stop(slot), ...); }, slots_);
    }
    void resource_created(Res& r) {
        std::apply([&](auto&... slot) { (this->resource_created(slot, r), ...); }, slots_);
        for (auto& d : dynamic_) d->resource_created(r, this->sink_);
    }

    template <DatabasePlugin P>
    P& add(P plugin) {
        if constexpr (requires { plugin.validate(); }) validate(plugin);
        for (auto& d : dynamic_)
            if (d->name() == P::name && d->status().state != PluginState::uninstalled)
                throw PluginError(P::name, "a plugin of this name is already in use");
        if constexpr (sizeof...(Plugins) > 0)
            if (((P::name == Plugins::name) || ...))
                throw PluginError(P::name, "a plugin of this name is already in the database's type");
        auto model = std::make_unique<ErasedModel<Db, Res, P>>(std::move(plugin));
        auto& ref = *model;
        dynamic_.push_back(std::move(model));
        if (running_) ref.install(*this);  // else on the next connect
        return ref.slot().plugin;
    }

    template <class P>
    static void validate(P& plugin) {
        if constexpr (requires { plugin.validate(); }) {
            try {
                plugin.validate();
            } catch (const PluginError&) {
                throw;
            } catch (const std::exception& e) {
                throw PluginError(P::name, std::string("invalid configuration: ") + e.what());
            }
        }
    }
    void validate_all() {
        std::apply([&](auto&... slot) { (validate(slot.plugin), ...); }, slots_);
    }

    template <class P>
    P* find() noexcept {
        if constexpr ((std::same_as<P, Plugins> || ...)) return &std::get<Slot<P>>(slots_).plugin;
        ErasedPlugin<Db, Res>* best = nullptr;  // as find(name): the one in use, else the latest
        for (auto& d : dynamic_)
            if (d->type() == typeid(P) && (!best || d->state() != PluginState::uninstalled ||
                                           best->state() == PluginState::uninstalled))
                best = d.get();
        return best ? static_cast<P*>(best->object()) : nullptr;
    }

    /// The plugin of that name: the one in the type, else the latest added at run time that is not
    /// uninstalled, else the latest uninstalled one.
    std::optional<PluginRef> find(std::string_view name) noexcept {
        std::optional<PluginRef> found;
        std::apply([&](auto&... slot) { (find_in(slot, name, found), ...); }, slots_);
        if (found) return found;
        ErasedPlugin<Db, Res>* best = nullptr;
        for (auto& d : dynamic_)
            if (d->name() == name && (!best || d->state() != PluginState::uninstalled ||
                                      best->state() == PluginState::uninstalled))
                best = d.get();
        if (best)
            found.emplace(PluginRef(best->name(), best->type(), best->object(), best,
                                    [](const void* e) noexcept { return static_cast<const ErasedPlugin<Db, Res>*>(e)->state(); },
                                    [](const void* e) { return static_cast<const ErasedPlugin<Db, Res>*>(e)->status(); }));
        return found;
    }

    /// The state of the plugin of that name (as find(name) picks it); nullopt when there is none.
    std::optional<PluginState> state_of(std::string_view name) const noexcept {
        std::optional<PluginState> s;
        std::apply([&](const auto&... slot) { ((!s && Plugins::name == name ? (void)(s = slot.state()) : void()), ...); },
                   slots_);
        if (s) return s;
        for (auto& d : dynamic_)
            if (d->name() == name && (!s || *s == PluginState::uninstalled)) s = d->state();
        return s;
    }

    /// The state of the plugin of type P; nullopt when the database has none.
    template <class P>
    std::optional<PluginState> state_of() const noexcept {
        if constexpr ((std::same_as<P, Plugins> || ...)) return std::get<Slot<P>>(slots_).state();
        std::optional<PluginState> s;
        for (auto& d : dynamic_)
            if (d->type() == typeid(P) && (!s || *s == PluginState::uninstalled)) s = d->state();
        return s;
    }

    std::size_t uninstall(std::string_view name, const UninstallOptions& o) {
        std::optional<std::size_t> purged;
        std::apply([&](auto&... slot) { (uninstall_if(slot, name, o, purged), ...); }, slots_);
        for (auto& d : dynamic_)
            if (!purged && d->name() == name && d->status().state != PluginState::uninstalled)
                purged = d->uninstall(*this, o);
        if (!purged) throw PluginError(name, "no such plugin is installed");
        return *purged;
    }

    std::vector<PluginStatus> status() const {
        std::vector<PluginStatus> out;
        std::apply([&](const auto&... slot) { (out.push_back(slot.status()), ...); }, slots_);
        for (auto& d : dynamic_) out.push_back(d->status());
        return out;
    }

private:
    template <class P>
    void find_in(Slot<P>& s, std::string_view name, std::optional<PluginRef>& found) noexcept {
        if (!found && P::name == name)
            found.emplace(PluginRef(P::name, typeid(P), &s.plugin, &s,
                                    [](const void* x) noexcept { return static_cast<const Slot<P>*>(x)->state(); },
                                    [](const void* x) { return static_cast<const Slot<P>*>(x)->status(); }));
    }
    template <class P>
    void uninstall_if(Slot<P>& s, std::string_view name, const UninstallOptions& o, std::optional<std::size_t>& purged) {
        if (!purged && P::name == name && s.state() != PluginState::uninstalled) purged = Base::uninstall(s, o);
    }
    template <class P>
    void operation_one(Slot<P>& s, const OperationEvent& e) {
        if constexpr (has_on_operation<P>)
            if (s.active()) s.guarded(this->sink_, [&] { s.plugin.on_operation(e); });
    }
    template <bool Request, class P>
    void request_one(Slot<P>& s, const RequestEvent& e) {
        if constexpr (Request && has_on_request<P>) {
            if (s.active()) s.guarded(this->sink_, [&] { s.plugin.on_request(e); });
        } else if constexpr (!Request && has_on_response<P>) {
            if (s.active()) s.guarded(this->sink_, [&] { s.plugin.on_response(e); });
        }
    }

    template <Hook H, class P>
    void fire_one(Slot<P>& slot, OperationContext& ctx) {
        if constexpr (handles<H, P>) slot.template fire<H>(ctx, this->sink_);
    }

    template <std::size_t I, class Compute>
    json read_chain(const ReadContext& rc, Compute& compute) {
        if constexpr (I == sizeof...(Plugins)) {
            return dynamic_chain(rc, compute, 0);
        } else {
            auto& slot = std::get<I>(slots_);
            using P = std::remove_reference_t<decltype(slot.plugin)>;
            if constexpr (has_around_read<P>)
                if (slot.active())
                    return slot.around_read(rc, [&] { return read_chain<I + 1>(rc, compute); }, this->sink_);
            return read_chain<I + 1>(rc, compute);
        }
    }
    template <class Compute>
    json dynamic_chain(const ReadContext& rc, Compute& compute, std::size_t i) {
        for (; i < dynamic_.size(); ++i)
            if (dynamic_[i]->reads() && dynamic_[i]->active())
                return dynamic_[i]->around_read(rc, [&, i] { return dynamic_chain(rc, compute, i + 1); }, this->sink_);
        return compute();
    }

    template <bool Request>
    void request_event(const RequestEvent& e) {
        std::apply([&](auto&... slot) { (request_one<Request>(slot, e), ...); }, slots_);
        for (auto& d : dynamic_)
            if (d->active() && d->observes_requests()) {
                if (Request) d->on_request(e, this->sink_);
                else d->on_response(e, this->sink_);
            }
    }

    std::tuple<Slot<Plugins>...> slots_;
    std::vector<std::unique_ptr<ErasedPlugin<Db, Res>>> dynamic_;
    bool running_ = false;  // between install_all and stop_all: the database is connected
};

}  // namespace detail

#if S3DB_DEFINE_BODIES
namespace detail {

S3DB_DECL void PluginHostCore::join_stragglers() {
    for (auto& t : stragglers_)
        if (t.joinable()) t.join();
    stragglers_.clear();
}

S3DB_DECL void PluginHostCore::add_event_listener(std::string event, EventListener listener) {
    std::lock_guard lock(events_mutex_);
    // Copied on write: emit reads a snapshot without holding the lock while listeners run.
    auto next = std::make_shared<EventListeners>(event_listeners_ ? *event_listeners_ : EventListeners{});
    listened_.fetch_or(event_bit(event), std::memory_order_relaxed);
    next->emplace_back(std::move(event), std::move(listener));
    event_listeners_ = std::move(next);
}

S3DB_DECL void PluginHostCore::emit_plugin_event(std::string_view event, const json& data) {
    if (!(listened_.load(std::memory_order_relaxed) & (event_bit(event) | event_bit("*")))) return;
    std::shared_ptr<const EventListeners> targets;
    {
        std::lock_guard lock(events_mutex_);
        targets = event_listeners_;
    }
    if (!targets) return;
    for (auto& [name, fn] : *targets)
        if (name == event || name == "*") fn(event, data);
}

S3DB_DECL bool run_with_timeout(std::chrono::milliseconds timeout, std::vector<std::thread>& stragglers,
                                std::function<void()> fn) {
    auto done = std::make_shared<std::promise<void>>();
    auto future = done->get_future();
    std::thread t([done, f = std::move(fn)] {
        try {
            f();
            done->set_value();
        } catch (...) {
            done->set_exception(std::current_exception());
        }
    });
    if (future.wait_for(timeout) == std::future_status::timeout) {
        stragglers.push_back(std::move(t));
        return false;
    }
    t.join();
    future.get();  // rethrows what fn threw
    return true;
}


S3DB_DECL std::string slug_of(std::string_view name) {
    std::string out;
    for (std::size_t i = 0; i < name.size(); ++i) {
        char c = name[i];
        if (c >= 'A' && c <= 'Z') {
            if (i > 0 && name[i - 1] != '-' && name[i - 1] != '_') out += '-';
            out += static_cast<char>(c - 'A' + 'a');
        } else out += (c == '_' ? '-' : c);
    }
    return out;
}

}  // namespace detail
#endif  // S3DB_DEFINE_BODIES

}  // namespace s3db
