// The plugin system: hooks found in the type and called statically, plugins added at run time,
// the lifecycle (install, start, stop, uninstall with purge), deferred setup, error isolation,
// timeouts, status and health, plugin-to-plugin access and plugin events.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <typeinfo>
#include <vector>

#include "s3db/s3db.hpp"

using namespace s3db;
using namespace std::chrono_literals;

namespace {

std::string fresh_bucket() {
    static std::atomic<int> n{0};
    return "memory://plugins-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
}

ResourceConfig users_config() {
    return {.name = "users", .attributes = {{"name", "string|required"}, {"visits", "number|optional"}}};
}

/// Stamps every insert, counts writes, and records its lifecycle.
struct Stamp : Plugin<Stamp> {
    static constexpr std::string_view name = "Stamp";
    std::vector<std::string> log;
    int writes = 0;

    void on_install(auto& db) { log.push_back("install:" + std::to_string(db.resources().size())); }
    void on_start() { log.push_back("start"); }
    void on_stop() { log.push_back("stop"); }
    void on_uninstall(const UninstallOptions& o) { log.push_back(o.purge_data ? "uninstall+purge" : "uninstall"); }
    void before_insert(OperationContext& ctx) {
        if (ctx.data.value("name", "") == "forbidden") throw ValidationError({}, "Stamp refuses 'forbidden'");
        ctx.data["name"] = ctx.data["name"].get<std::string>() + "!";
    }
    void after_write(const OperationContext&) { ++writes; }
};

/// Answers `get` for one id without asking the store.
struct Oracle : Plugin<Oracle> {
    static constexpr std::string_view name = "Oracle";
    int asked = 0;
    template <class Next>
    json around_read(const ReadContext& r, Next& next) {
        ++asked;
        if (r.operation == "get" && r.id == "known") return json{{"id", "known"}, {"name", "from the oracle"}};
        return next();
    }
};

/// Counts S3 requests by command, and operations by name.
struct Watch : Plugin<Watch> {
    static constexpr std::string_view name = "Watch";
    std::map<std::string, int> requests;
    std::map<std::string, int> operations;
    std::mutex m;
    Watch() = default;
    Watch(Watch&& o) noexcept : Plugin<Watch>(std::move(o)) {}
    void on_response(const RequestEvent& e) {
        std::lock_guard lock(m);
        ++requests[std::string(e.command)];
    }
    void on_operation(const OperationEvent& e) {
        std::lock_guard lock(m);
        ++operations[std::string(e.operation) + (e.error ? ":error" : "")];
    }
};

/// Throws in an after hook: isolated by default.
struct Clumsy : Plugin<Clumsy> {
    static constexpr std::string_view name = "Clumsy";
    void after_insert(const OperationContext&) { throw std::runtime_error("clumsy broke"); }
    PluginHealth health() const { return {false, "always tired"}; }
};

/// Sets up on a resource that may not exist yet (the seeds' wallets example).
struct Wallets : Plugin<Wallets> {
    static constexpr std::string_view name = "Wallets";
    std::string target = "wallets";
    std::vector<std::string> ready;
    void validate() const {
        if (target.empty()) throw ConfigError("`target` names the resource to set up");
    }
    template <class Res>
    void on_resource_created(Res& r) {
        if (r.name() == target) ready.push_back(r.name());
    }
};

struct SlowInstall : Plugin<SlowInstall> {
    static constexpr std::string_view name = "SlowInstall";
    SlowInstall() : Plugin<SlowInstall>(PluginOptions{.install_timeout = 50ms}) {}
    void on_install(auto&) { std::this_thread::sleep_for(300ms); }
};

/// What a hook that outlived its timeout found when it resumed, kept outside the plugin.
struct Afterlife {
    std::atomic<bool> plugin_alive{true};
    std::atomic<bool> hook_done{false};
    std::atomic<bool> found_dead{false};
};

/// on_install or on_stop sleeps past its timeout, then touches the plugin's members and the
/// database, as a real hook finishing its work would.
struct Straggler : Plugin<Straggler> {
    static constexpr std::string_view name = "Straggler";
    std::shared_ptr<Afterlife> after;
    bool slow_install = false;
    std::vector<std::string> log;

    Straggler(std::shared_ptr<Afterlife> a, bool install)
        : Plugin<Straggler>(PluginOptions{.install_timeout = 50ms, .stop_timeout = 50ms}), after(std::move(a)),
          slow_install(install) {
        log.reserve(16);  // heap memory the late hook writes into
    }
    Straggler(Straggler&&) = default;
    ~Straggler() {
        if (after) after->plugin_alive = false;
    }

    template <class Count>
    void linger(std::string what, Count resources) {
        auto a = after;  // its own copy: readable whatever became of *this
        std::this_thread::sleep_for(300ms);
        if (!a->plugin_alive) a->found_dead = true;
        log.push_back(std::move(what) + ":" + std::to_string(resources()));
        a->hook_done = true;
    }
    void on_install(auto& db) {
        if (slow_install) linger("install", [&db] { return db.resources().size(); });
    }
    void on_stop() {
        if (!slow_install) linger("stop", [] { return std::size_t{0}; });
    }
};

struct BrokenInstall : Plugin<BrokenInstall> {
    static constexpr std::string_view name = "BrokenInstall";
    void on_install(auto&) { throw std::runtime_error("cannot reach its server"); }
};

struct Writer : Plugin<Writer> {
    static constexpr std::string_view name = "Writer";
    void on_start() { storage().set("state", json{{"on", true}}); }
};

}  // namespace

TEST(Plugins, HooksInTheTypeChangeRejectAndObserveWrites) {
    Database<Stamp> db(fresh_bucket());
    db.connect();
    auto& users = db.create_resource(users_config());
    auto ada = users.insert({{"name", "Ada"}});
    EXPECT_EQ(ada["name"], "Ada!");
    EXPECT_EQ(users.get(ada["id"].get<std::string>())["name"], "Ada!");
    EXPECT_THROW(users.insert({{"name", "forbidden"}}), ValidationError);
    EXPECT_EQ(users.count(), 1u);  // the rejected insert wrote nothing
    users.update(ada["id"].get<std::string>(), json{{"visits", 1}});
    users.remove(ada["id"].get<std::string>());
    EXPECT_EQ(db.plugin<Stamp>().writes, 3);
}

TEST(Plugins, LifecycleRunsInOrderAndStatusFollowsIt) {
    Database<Stamp> db(fresh_bucket());
    EXPECT_EQ(db.status().at(0).state, PluginState::registered);
    db.connect();
    EXPECT_EQ(db.status().at(0).state, PluginState::started);
    db.disconnect();
    EXPECT_EQ(db.status().at(0).state, PluginState::stopped);
    db.uninstall_plugin("Stamp");
    EXPECT_EQ(db.status().at(0).state, PluginState::uninstalled);
    EXPECT_EQ(db.plugin<Stamp>().log, (std::vector<std::string>{"install:0", "start", "stop", "uninstall"}));
}

TEST(Plugins, UninstalledPluginsAreNoLongerCalled) {
    Database<Stamp> db(fresh_bucket());
    db.connect();
    auto& users = db.create_resource(users_config());
    db.uninstall_plugin("Stamp");
    EXPECT_EQ(users.insert({{"name", "Bob"}})["name"], "Bob");
    EXPECT_EQ(db.plugin<Stamp>().writes, 0);
}

TEST(Plugins, AReadPluginAnswersGetWithoutARequest) {
    BasicDatabase<Counting<Memory>, Oracle> db(Counting<Memory>{});
    db.connect();
    auto& users = db.create_resource(users_config());
    db.transport().reset();
    EXPECT_EQ(users.get("known")["name"], "from the oracle");
    EXPECT_EQ(db.transport().counts().get, 0u);
    EXPECT_FALSE(users.get_or_null("unknown"));
    EXPECT_EQ(db.transport().counts().get, 1u);
    // A per-call bypass goes to the store.
    EXPECT_FALSE(users.get_or_null("known", ReadOptions{.cache = false}));
    EXPECT_EQ(db.transport().counts().get, 2u);
}

TEST(Plugins, RequestAndOperationObserversSeeEverything) {
    BasicDatabase<Counting<Memory>, Watch> db(Counting<Memory>{});
    db.connect();
    auto& users = db.create_resource(users_config());
    auto& w = db.plugin<Watch>();
    w.requests.clear();
    auto id = users.insert({{"name", "Ada"}})["id"].get<std::string>();
    users.get(id);
    users.list();
    EXPECT_THROW(users.get("missing"), RecordNotFound);
    EXPECT_EQ(w.requests["PUT"], 1);
    EXPECT_EQ(w.requests["GET"], 3);  // get, the list's get, the miss
    EXPECT_EQ(w.requests["LIST"], 1);
    EXPECT_EQ(w.operations["insert"], 1);
    EXPECT_EQ(w.operations["get"], 1);
    EXPECT_EQ(w.operations["get:error"], 1);
    EXPECT_EQ(w.operations["list"], 1);  // the list's own reads are not separate operations
}

TEST(Plugins, ErrorsInIsolatedHooksAreReportedNotThrown) {
    Database<Clumsy> db(fresh_bucket());
    std::vector<std::string> reported;
    db.on_plugin_error([&](std::string_view p, std::string_view what) { reported.push_back(std::string(p) + ": " + std::string(what)); });
    db.connect();
    auto& users = db.create_resource(users_config());
    EXPECT_NO_THROW(users.insert({{"name", "Ada"}}));
    EXPECT_EQ(users.count(), 1u);
    ASSERT_EQ(reported.size(), 1u);
    EXPECT_EQ(reported[0], "Clumsy: clumsy broke");
    auto s = db.status().at(0);
    EXPECT_EQ(s.errors, 1u);
    EXPECT_EQ(s.last_error, "clumsy broke");
    EXPECT_FALSE(s.healthy);
    EXPECT_EQ(s.detail, "always tired");
    EXPECT_FALSE(db.healthy());
}

TEST(Plugins, NotIsolatedErrorsThrowThrough) {
    Clumsy c;
    c.plugin_options().isolate_errors = false;
    Database<Clumsy> db(fresh_bucket(), {}, std::move(c));
    db.connect();
    auto& users = db.create_resource(users_config());
    EXPECT_THROW(users.insert({{"name", "Ada"}}), std::runtime_error);
}

TEST(Plugins, AFailedInstallIsReportedAndTheDatabaseKeepsWorking) {
    Database<BrokenInstall, Stamp> db(fresh_bucket());
    db.connect();
    auto st = db.status();
    EXPECT_EQ(st[0].state, PluginState::failed);
    EXPECT_NE(st[0].detail.find("cannot reach its server"), std::string::npos);
    EXPECT_EQ(st[1].state, PluginState::started);
    auto& users = db.create_resource(users_config());
    EXPECT_EQ(users.insert({{"name", "Ada"}})["name"], "Ada!");
}

TEST(Plugins, InstallTimeoutMarksThePluginFailed) {
    Database<SlowInstall> db(fresh_bucket());
    auto t0 = std::chrono::steady_clock::now();
    db.connect();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 250ms);  // did not wait for the slow install
    auto s = db.status().at(0);
    EXPECT_EQ(s.state, PluginState::failed);
    EXPECT_NE(s.detail.find("within 50 ms"), std::string::npos);
}

TEST(Plugins, AnInstallThatTimedOutEndsBeforeThePluginAndTheDatabaseAreDestroyed) {
    auto after = std::make_shared<Afterlife>();
    {
        auto db = std::make_unique<Database<Straggler>>(fresh_bucket(), DatabaseOptions{}, Straggler(after, true));
        db->create_resource(users_config());
        db->connect();
        EXPECT_EQ(db->status().at(0).state, PluginState::failed);
        EXPECT_FALSE(after->hook_done);
    }  // destroyed while on_install still sleeps
    EXPECT_TRUE(after->hook_done);
    EXPECT_FALSE(after->found_dead) << "on_install ran on after its plugin was destroyed";
    EXPECT_FALSE(after->plugin_alive);
}

TEST(Plugins, AStopThatTimedOutEndsBeforeThePluginAndTheDatabaseAreDestroyed) {
    auto after = std::make_shared<Afterlife>();
    {
        auto db = std::make_unique<Database<Straggler>>(fresh_bucket(), DatabaseOptions{}, Straggler(after, false));
        db->connect();
        EXPECT_EQ(db->status().at(0).state, PluginState::started);
    }  // on_stop times out in the destructor's disconnect
    EXPECT_TRUE(after->hook_done);
    EXPECT_FALSE(after->found_dead) << "on_stop ran on after its plugin was destroyed";
}

TEST(Plugins, ReconnectingStartsThePluginsAgainWithoutInstallingThemAgain) {
    Database<Stamp> db(fresh_bucket());
    db.connect();
    db.disconnect();
    db.connect();
    EXPECT_EQ(db.status().at(0).state, PluginState::started);
    db.disconnect();
    db.connect();
    EXPECT_EQ(db.plugin<Stamp>().log, (std::vector<std::string>{"install:0", "start", "stop", "start", "stop", "start"}));
    auto& users = db.create_resource(users_config());
    EXPECT_EQ(users.insert({{"name", "Ada"}})["name"], "Ada!");
}

TEST(Plugins, UninstallIsForTheLifeOfTheDatabase) {
    Database<Stamp> db(fresh_bucket());
    db.connect();
    auto& users = db.create_resource(users_config());
    db.uninstall_plugin("Stamp");
    db.disconnect();
    db.connect();
    EXPECT_EQ(db.status().at(0).state, PluginState::uninstalled);
    EXPECT_EQ(db.plugin<Stamp>().log, (std::vector<std::string>{"install:0", "start", "stop", "uninstall"}));
    EXPECT_EQ(users.insert({{"name", "Bob"}})["name"], "Bob");
    EXPECT_EQ(db.plugin<Stamp>().writes, 0);

    // The same for plugins added at run time.
    Database<> later(fresh_bucket());
    later.connect();
    auto& s = later.use_plugin(Stamp{});
    later.uninstall_plugin("Stamp");
    later.disconnect();
    later.connect();
    EXPECT_EQ(later.status().at(0).state, PluginState::uninstalled);
    EXPECT_EQ(s.log, (std::vector<std::string>{"install:0", "start", "stop", "uninstall"}));
}

TEST(Plugins, APluginAddedWhileDisconnectedInstallsOnTheNextConnect) {
    Database<> db(fresh_bucket());
    db.connect();
    db.disconnect();
    auto& s = db.use_plugin(Stamp{});
    EXPECT_EQ(db.status().at(0).state, PluginState::registered);
    EXPECT_TRUE(s.log.empty());
    db.connect();
    EXPECT_EQ(s.log, (std::vector<std::string>{"install:0", "start"}));
}

TEST(Plugins, EachResourceIsAnnouncedOnceAcrossReconnects) {
    Database<Wallets> db(fresh_bucket());
    db.connect();
    db.disconnect();
    db.create_resource({.name = "wallets", .attributes = {{"balance", "number|default:0"}}});
    EXPECT_TRUE(db.plugin<Wallets>().ready.empty());  // stopped: it hears on the next connect
    db.connect();
    EXPECT_EQ(db.plugin<Wallets>().ready, std::vector<std::string>{"wallets"});
    db.disconnect();
    db.connect();
    EXPECT_EQ(db.plugin<Wallets>().ready, std::vector<std::string>{"wallets"});
}

TEST(Plugins, DeferredSetupWaitsForTheResourceAndImmediateSetupDoesNot) {
    // Added before the resource exists: set up when it is created.
    Database<Wallets> db(fresh_bucket());
    db.connect();
    EXPECT_TRUE(db.plugin<Wallets>().ready.empty());
    db.create_resource({.name = "wallets", .attributes = {{"balance", "number|default:0"}}});
    EXPECT_EQ(db.plugin<Wallets>().ready, std::vector<std::string>{"wallets"});

    // Added after: set up at once.
    Database<> later(fresh_bucket());
    later.connect();
    later.create_resource({.name = "wallets", .attributes = {{"balance", "number|default:0"}}});
    auto& w = later.use_plugin(Wallets{});
    EXPECT_EQ(w.ready, std::vector<std::string>{"wallets"});
}

TEST(Plugins, ConfigurationIsValidatedBeforeInstall) {
    Wallets bad;
    bad.target.clear();
    Database<> db(fresh_bucket());
    try {
        db.use_plugin(std::move(bad));
        FAIL() << "an invalid configuration was accepted";
    } catch (const PluginError& e) {
        EXPECT_EQ(e.plugin(), "Wallets");
        EXPECT_NE(std::string(e.what()).find("`target` names the resource"), std::string::npos);
    }
    Wallets bad2;
    bad2.target.clear();
    EXPECT_THROW((Database<Wallets>(fresh_bucket(), {}, std::move(bad2))), PluginError);
}

TEST(Plugins, RuntimePluginsUseTheSameHooks) {
    BasicDatabase<Counting<Memory>> db(Counting<Memory>{});
    db.connect();
    auto& users = db.create_resource(users_config());
    db.use_plugin(Stamp{});
    db.use_plugin(Oracle{});
    auto& watch = db.use_plugin(Watch{});
    EXPECT_EQ(users.insert({{"name", "Ada"}})["name"], "Ada!");
    EXPECT_EQ(users.get("known")["name"], "from the oracle");
    EXPECT_EQ(db.plugin<Stamp>().writes, 1);
    EXPECT_EQ(watch.requests["PUT"], 1);
    EXPECT_THROW(db.use_plugin(Stamp{}), PluginError);  // one plugin per name
    EXPECT_THROW(db.plugin<Clumsy>(), PluginError);
    db.uninstall_plugin("Stamp");
    EXPECT_EQ(users.insert({{"name", "Bob"}})["name"], "Bob");
    EXPECT_THROW(db.uninstall_plugin("Nobody"), PluginError);
}

TEST(Plugins, UninstallWithPurgeDeletesThePluginsStorage) {
    Database<Writer> db(fresh_bucket());
    db.connect();
    auto& s = db.plugin<Writer>().storage();
    ASSERT_TRUE(s.get("state"));
    EXPECT_EQ(db.uninstall_plugin("Writer", {.purge_data = true}), 1u);
    EXPECT_FALSE(s.get("state"));
}

TEST(Plugins, UninstallWithoutPurgeKeepsIt) {
    Database<Writer> db(fresh_bucket());
    db.connect();
    EXPECT_EQ(db.uninstall_plugin("Writer"), 0u);
    EXPECT_TRUE(db.plugin<Writer>().storage().get("state"));
}

TEST(Plugins, PluginEventsReachListeners) {
    Database<Stamp> db(fresh_bucket());
    std::vector<std::string> seen;
    db.on_plugin_event("plugin.installed", [&](const json& d) { seen.push_back(d["plugin"]); });
    db.on_plugin_event("stamp.custom", [&](const json& d) { seen.push_back(d["x"]); });
    db.connect();
    db.plugin<Stamp>().emit("stamp.custom", json{{"x", "hello"}});
    EXPECT_EQ(seen, (std::vector<std::string>{"Stamp", "hello"}));
}

TEST(Plugins, AnEmptyPackCompilesEveryHookAway) {
    using Host = Database<>::Host;
    static_assert(!Host::has<Hook::before_insert> && !Host::has<Hook::after_get>);
    static_assert(!Host::static_observes_requests);
    using StampHost = Database<Stamp>::Host;
    static_assert(StampHost::has<Hook::before_insert> && StampHost::has<Hook::after_update>);
    static_assert(!StampHost::has<Hook::before_update> && !StampHost::has<Hook::after_get>);
    static_assert(DatabasePlugin<Stamp> && !DatabasePlugin<int>);
    // The same requests as before plugins existed: no hook, no extra request.
    BasicDatabase<Counting<Memory>> db(Counting<Memory>{});
    db.connect();
    auto& users = db.create_resource(users_config());
    db.transport().reset();
    auto id = users.insert({{"name", "Ada"}})["id"].get<std::string>();
    users.get(id);
    users.remove(id);
    EXPECT_EQ(db.transport().counts(), (RequestCounts{.put = 1, .get = 1, .remove = 1}));
}

TEST(Plugins, RecordsStreamPageByPage) {
    BasicDatabase<Counting<Memory>> db(Counting<Memory>{});
    db.connect();
    auto& users = db.create_resource(users_config());
    std::vector<json> batch;
    for (int i = 0; i < 2500; ++i) batch.push_back({{"id", "u" + std::to_string(10000 + i)}, {"name", "n"}});
    users.insert_many(std::move(batch));
    db.transport().reset();
    auto range = users.records();
    std::size_t seen = 0;
    for (auto& r : range) {
        ASSERT_TRUE(r.contains("name"));
        // Lazy: never more GETs than one page ahead of what was consumed.
        EXPECT_LE(db.transport().counts().get, seen + max_list_keys);
        ++seen;
    }
    EXPECT_EQ(seen, 2500u);
    EXPECT_EQ(range.pages_read(), 3u);
    static_assert(std::ranges::input_range<decltype(range)>);
}

namespace {
/// Needs only the id of what was written (like the cache).
struct IdOnly : Plugin<IdOnly> {
    static constexpr std::string_view name = "IdOnly";
    static constexpr bool needs_deleted_record = false;
    std::vector<std::string> ids;
    void after_write(const OperationContext& c) { ids.push_back(c.id); }
};
}  // namespace

TEST(Plugins, DeletesReadTheRecordOnlyForPluginsThatNeedIt) {
    BasicDatabase<Counting<Memory>, IdOnly> lean(Counting<Memory>{});
    lean.connect();
    auto& a = lean.create_resource(users_config());
    a.insert({{"id", "u1"}, {"name", "Ada"}});
    lean.transport().reset();
    a.remove("u1");
    EXPECT_EQ(lean.transport().counts(), (RequestCounts{.remove = 1}));
    EXPECT_EQ(lean.plugin<IdOnly>().ids, (std::vector<std::string>{"u1", "u1"}));

    BasicDatabase<Counting<Memory>, Stamp> full(Counting<Memory>{});  // after_write: sees ctx.before
    full.connect();
    auto& b = full.create_resource(users_config());
    b.insert({{"id", "u1"}, {"name", "Ada"}});
    full.transport().reset();
    b.remove("u1");
    EXPECT_EQ(full.transport().counts(), (RequestCounts{.get = 1, .remove = 1}));
}

// ---- the API as a newcomer meets it ----------------------------------------------------------------

// Hooks are found by name whatever their form (a template, an overload set); a member named like a
// hook that cannot be called as one stops the build (tests/compile_fail/hook_*.cpp).
static_assert(detail::names_on_install<Stamp>() && detail::names_around_read<Oracle>() &&
              detail::names_on_resource_created<Wallets>());
static_assert(!detail::names_on_install<Oracle>() && !detail::names_before_insert<Watch>());
static_assert(detail::check_hooks<Stamp, Database<Stamp>, Database<Stamp>::Resource>());

TEST(Plugins, TheConstructorTakesAnySubsetOfThePluginsInAnyOrder) {
    Stamp given;
    given.log.push_back("given");
    // Straggler has no default constructor: it must be given; Stamp and Watch default.
    auto after = std::make_shared<Afterlife>();
    Database<Stamp, Watch, Straggler> a(fresh_bucket(), {}, Straggler(after, false));
    EXPECT_TRUE(a.plugin<Stamp>().log.empty());
    EXPECT_EQ(a.plugin<Straggler>().after, after);

    Database<Stamp, Watch, Oracle> b(fresh_bucket(), {}, Oracle{}, std::move(given));  // out of order
    EXPECT_EQ(b.plugin<Stamp>().log, std::vector<std::string>{"given"});

    Stamp lvalue;
    lvalue.writes = 7;
    BasicDatabase<Memory, Oracle, Stamp> c(Memory{}, {}, lvalue);  // the transport form, a copy
    EXPECT_EQ(c.plugin<Stamp>().writes, 7);
    EXPECT_EQ(lvalue.writes, 7);

    BasicDatabase<Memory, Oracle, Stamp> d(Memory{}, {}, Oracle{}, Stamp{});  // all, in order: as before
    d.connect();
    EXPECT_EQ(d.plugin<Stamp>().log.front(), "install:0");
}

TEST(Plugins, PluginsAreFoundByNameWhereverTheyCameFrom) {
    Database<Stamp> db(fresh_bucket());
    EXPECT_TRUE(db.has_plugin("Stamp"));
    EXPECT_TRUE(db.has_plugin<Stamp>());
    EXPECT_FALSE(db.has_plugin("Clumsy"));
    EXPECT_FALSE(db.has_plugin<Clumsy>());
    EXPECT_THROW(db.plugin("Clumsy"), PluginError);

    auto stamp = db.plugin("Stamp");
    EXPECT_EQ(stamp.name(), "Stamp");
    EXPECT_EQ(stamp.type(), typeid(Stamp));
    EXPECT_EQ(stamp.as<Stamp>(), &db.plugin<Stamp>());
    EXPECT_EQ(stamp.as<Clumsy>(), nullptr);
    EXPECT_EQ(stamp.state(), PluginState::registered);

    db.use_plugin(Clumsy{});  // added at run time: found the same way
    db.connect();
    EXPECT_TRUE(db.has_plugin("Clumsy"));
    EXPECT_TRUE(db.has_plugin<Clumsy>());
    auto clumsy = db.plugin("Clumsy");
    EXPECT_EQ(clumsy.as<Clumsy>(), &db.plugin<Clumsy>());
    EXPECT_EQ(clumsy.state(), PluginState::started);
    EXPECT_EQ(clumsy.status().detail, "always tired");
    EXPECT_EQ(stamp.state(), PluginState::started);

    db.uninstall_plugin("Clumsy");  // gone from use, still reachable for what it left
    db.uninstall_plugin("Stamp");
    EXPECT_FALSE(db.has_plugin("Clumsy"));
    EXPECT_FALSE(db.has_plugin<Clumsy>());
    EXPECT_FALSE(db.has_plugin("Stamp"));
    EXPECT_FALSE(db.has_plugin<Stamp>());
    EXPECT_EQ(db.plugin("Clumsy").state(), PluginState::uninstalled);
    db.use_plugin(Clumsy{});  // a new one of that name: the one found now
    EXPECT_TRUE(db.has_plugin("Clumsy"));
    EXPECT_EQ(db.plugin("Clumsy").state(), PluginState::started);
    EXPECT_EQ(db.plugin("Clumsy").as<Clumsy>(), &db.plugin<Clumsy>());
}

namespace {
/// Records the caller's context each hook, listener and event of an operation saw ("-": none).
struct Witness : Plugin<Witness> {
    static constexpr std::string_view name = "Witness";
    std::shared_ptr<std::mutex> m = std::make_shared<std::mutex>();
    std::shared_ptr<std::vector<std::string>> seen = std::make_shared<std::vector<std::string>>();
    void note(std::string what, const json* context) {
        std::lock_guard lock(*m);
        seen->push_back(what + "=" + (context ? context->value("user", "?") : "-"));
    }
    void before_insert(OperationContext& c) { note("before_insert", c.context); }
    void before_update(OperationContext& c) { note("before_update", c.context); }
    void after_write(const OperationContext& c) { note("after_" + std::string(c.operation), c.context); }
    void after_get(OperationContext& c) { note("after_get", c.context); }
    void after_list(OperationContext& c) { note("after_" + std::string(c.operation), c.context); }
    template <class Next>
    json around_read(const ReadContext& r, Next& next) {
        note("read_" + std::string(r.operation), r.context);
        return next();
    }
    void on_operation(const OperationEvent& e) { note("op_" + std::string(e.operation), e.context); }
    std::vector<std::string> take() {
        std::lock_guard lock(*m);
        return std::exchange(*seen, {});
    }
};
}  // namespace

TEST(Plugins, EveryHookOfAnOperationSeesTheCallersContext) {
    Database<Witness> db(fresh_bucket());
    db.connect();
    auto& users = db.create_resource(users_config());
    auto& w = db.plugin<Witness>();
    std::vector<std::string> heard;
    users.on("inserted", [&](const OperationContext& c) { heard.push_back(c.context ? c.context->dump() : "-"); });
    const json ana = {{"user", "ana"}};

    users.insert({{"id", "u1"}, {"name", "Ada"}}, {.context = ana});
    EXPECT_EQ(w.take(), (std::vector<std::string>{"before_insert=ana", "after_insert=ana", "op_insert=ana"}));
    EXPECT_EQ(heard, std::vector<std::string>{ana.dump()});
    users.insert({{"id", "u2"}, {"name", "Bo"}});  // none given: none seen
    EXPECT_EQ(w.take(), (std::vector<std::string>{"before_insert=-", "after_insert=-", "op_insert=-"}));

    users.update("u1", json{{"visits", 1}}, {.context = ana});
    EXPECT_EQ(w.take(), (std::vector<std::string>{"before_update=ana", "after_update=ana", "op_update=ana"}));
    users.update("u1", [](json& r) { r["visits"] = 2; }, {.context = {{"user", "bo"}}});
    EXPECT_EQ(w.take(), (std::vector<std::string>{"before_update=bo", "after_update=bo", "op_update=bo"}));
    users.upsert({{"id", "u1"}, {"name", "Ada"}}, {.context = ana});  // exists: insert refused, then update
    EXPECT_EQ(w.take(), (std::vector<std::string>{"before_insert=ana", "before_update=ana", "after_update=ana",
                                                  "op_upsert=ana"}));
    users.get("u1", {.context = ana});
    EXPECT_EQ(w.take(), (std::vector<std::string>{"read_get=ana", "after_get=ana", "op_get=ana"}));
    users.list({.context = ana});
    auto listed = w.take();  // the listing, then each record read through get (on the pool)
    EXPECT_EQ(std::count(listed.begin(), listed.end(), "read_get=ana"), 2);
    EXPECT_EQ(std::count(listed.begin(), listed.end(), "after_list=ana"), 1);
    EXPECT_EQ(std::count(listed.begin(), listed.end(), "op_list=ana"), 1);
    EXPECT_EQ(std::count_if(listed.begin(), listed.end(), [](auto& s) { return !s.ends_with("=ana"); }), 0);
    users.remove("u2", {.context = ana});
    EXPECT_EQ(w.take(), (std::vector<std::string>{"after_delete=ana", "op_delete=ana"}));
    users.remove_many({"u1"}, {.context = ana});
    EXPECT_EQ(w.take(), (std::vector<std::string>{"after_delete=ana", "op_delete_many=ana"}));
}

TEST(Plugins, AStarListenerHearsWhichEvent) {
    Database<Stamp> db(fresh_bucket());
    std::vector<std::string> named, bare;
    db.on_plugin_event("*", [&](std::string_view event, const json&) { named.emplace_back(event); });
    db.on_plugin_event("*", [&](const json& d) { bare.push_back(d.dump()); });  // the data-only form
    db.connect();
    db.plugin<Stamp>().emit("stamp.custom", json{{"x", 1}});
    EXPECT_EQ(named, (std::vector<std::string>{"plugin.installed", "stamp.custom"}));
    EXPECT_EQ(bare.size(), 2u);
    EXPECT_EQ(bare.back(), R"({"x":1})");
}

TEST(Plugins, APluginKnowsWhetherAnEventIsListenedTo) {
    Database<Stamp> db(fresh_bucket());
    auto& stamp = db.plugin<Stamp>();
    EXPECT_FALSE(stamp.listened("stamp.custom"));  // not installed
    db.connect();
    EXPECT_FALSE(stamp.listened("stamp.custom"));
    db.on_plugin_event("stamp.custom", [](const json&) {});
    EXPECT_TRUE(stamp.listened("stamp.custom"));
    Database<Stamp> all(fresh_bucket());
    all.connect();
    all.on_plugin_event("*", [](std::string_view, const json&) {});
    EXPECT_TRUE(all.plugin<Stamp>().listened("anything"));
}

TEST(Plugins, MetricsCountsTheHitsOfADefaultCache) {
    Database<Cache<Memory>, Metrics> db(fresh_bucket(), {}, Metrics({.flush_interval = 0ms}));
    db.connect();
    auto& users = db.create_resource(users_config());
    auto id = users.insert({{"name", "Ada"}})["id"].get<std::string>();
    users.get(id);  // miss
    users.get(id);  // hit
    users.get(id);  // hit
    auto c = db.plugin<Metrics>().get_metrics().cache;
    EXPECT_EQ(c.total_hits, 2u);
    EXPECT_EQ(c.total_misses, 1u);
    EXPECT_EQ(db.plugin<Cache<Memory>>().stats().hits, 2u);
}
