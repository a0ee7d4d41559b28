// The Cache plugin: reads answered without requests, invalidation of exactly what a write changes,
// LRU and byte caps, TTL on an injected clock, stats, bypass, each driver (memory, filesystem, the
// plugin's storage on Memory and on RGW, tiers with promotion), concurrent writes during fills,
// and the cache next to a plugin added at run time.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "s3db/plugins/cache.hpp"
#include "s3db/s3db.hpp"
#include "support/manual_clock.hpp"
#include "support/stores.hpp"

using namespace s3db;
using namespace std::chrono_literals;

namespace {

using test::ManualClock;

ResourceConfig users_config() {
    return {.name = "users",
            .attributes = {{"name", "string|required"}, {"visits", "number|optional"}, {"region", "string|optional"}},
            .partitions = {{"byRegion", {{"fields", {{"region", "string"}}}}}},
            .paranoid = false};
}
ResourceConfig posts_config() { return {.name = "posts", .attributes = {{"title", "string|required"}}}; }

template <class Db>
RequestCounts counted(Db& db, const std::function<void()>& fn) {
    auto before = db.transport().counts();
    fn();
    return db.transport().counts() - before;
}

/// Runs `then` once, inside the next read it passes on, after the store answered and before the
/// cache (in front of it) stores the answer: a write landing in the middle of a fill.
struct Interleave : Plugin<Interleave> {
    static constexpr std::string_view name = "Interleave";
    std::function<void()> then;
    template <class Next>
    json around_read(const ReadContext&, Next& next) {
        json v = next();
        if (auto fn = std::exchange(then, nullptr)) fn();
        return v;
    }
};

/// Counts the S3 requests it sees (a plugin added at run time).
struct RequestLog : Plugin<RequestLog> {
    static constexpr std::string_view name = "RequestLog";
    std::shared_ptr<std::atomic<int>> seen = std::make_shared<std::atomic<int>>(0);
    void on_response(const RequestEvent&) { ++*seen; }
};

/// Logs the command and key of every request (a plugin added at run time).
struct KeyLog : Plugin<KeyLog> {
    static constexpr std::string_view name = "KeyLog";
    explicit KeyLog(std::vector<std::string>* k) : keys(k) {}
    std::shared_ptr<std::mutex> m = std::make_shared<std::mutex>();
    std::vector<std::string>* keys;
    void on_request(const RequestEvent& e) {
        std::lock_guard lock(*m);
        keys->push_back(std::string(e.command) + " " + std::string(e.key));
    }
};

/// A memory tier that runs `hooked_tier_once` after it finds an entry, before the tiers in front
/// of it get their copy.
std::function<void()> hooked_tier_once;
struct HookedTier : MemoryCache {
    using MemoryCache::MemoryCache;
    std::optional<CacheEntry> get(std::string_view key) {
        auto e = MemoryCache::get(key);
        if (e)
            if (auto fn = std::exchange(hooked_tier_once, nullptr)) fn();
        return e;
    }
};

/// A memory driver that runs `hooked_set_once` just before it stores an entry: a write landing
/// after the fill checked for writes, and removing the key before the fill stored it.
std::function<void()> hooked_set_once;
struct HookedSetMemory : MemoryCache {
    using MemoryCache::MemoryCache;
    void set(std::string_view key, CacheEntry e) {
        if (auto fn = std::exchange(hooked_set_once, nullptr)) fn();
        MemoryCache::set(key, std::move(e));
    }
};

using MemDb = BasicDatabase<Counting<Memory>, Cache<Memory>>;

struct MemoryFixture : ::testing::Test {
    ManualClock clock;
    std::unique_ptr<MemDb> db;

    void open(CacheOptions o = {}) {
        o.clock = clock.fn();
        db = std::make_unique<MemDb>(Counting<Memory>(test::make_store<Memory>()), DatabaseOptions{}, Cache<Memory>(o));
        db->connect();
        db->create_resource(users_config());
        db->create_resource(posts_config());
    }
    Cache<Memory>& cache() { return db->plugin<Cache<Memory>>(); }
    MemDb::Resource& users() { return db->resource("users"); }
    MemDb::Resource& posts() { return db->resource("posts"); }
    RequestCounts run(const std::function<void()>& fn) { return counted(*db, fn); }
};

}  // namespace

static_assert(DatabasePlugin<Cache<Memory>> && DatabasePlugin<Cache<Filesystem>> && DatabasePlugin<Cache<S3>> &&
              DatabasePlugin<Cache<Multi<Memory, Filesystem>>>);
static_assert(std::same_as<Cache<Multi<Memory, Filesystem>>::Store, MultiCache<MemoryCache, FilesystemCache>>);
static_assert(CacheDriver<MemoryCache> && CacheDriver<FilesystemCache> && CacheDriver<S3Cache> &&
              CacheDriver<MultiCache<MemoryCache, S3Cache>>);

// ---- requests saved ---------------------------------------------------------------------------------

TEST_F(MemoryFixture, GetHitSendsNoRequest) {
    open();
    std::string id = users().insert({{"name", "Ada"}})["id"];
    auto miss = run([&] { EXPECT_EQ(users().get(id)["name"], "Ada"); });
    EXPECT_EQ(miss.total(), 1u);
    EXPECT_EQ(miss.get, 1u);
    auto hit = run([&] { EXPECT_EQ(users().get(id)["name"], "Ada"); });
    EXPECT_EQ(hit.total(), 0u);
    EXPECT_EQ(cache().stats().hits, 1u);
    EXPECT_EQ(cache().stats().misses, 1u);
}

TEST_F(MemoryFixture, CollectionReadsHitWithoutRequests) {
    open();
    for (auto n : {"Ada", "Grace", "Linus"}) users().insert({{"name", n}, {"region", "eu"}});
    auto eu = ListQuery{.partition = "byRegion", .values = {{"region", "eu"}}};

    std::vector<json> first_list;
    std::vector<std::string> first_ids;
    std::size_t first_count = 0;
    Page first_page;
    std::vector<json> first_query;
    auto misses = run([&] {
        first_list = users().list();
        first_ids = users().list_ids(eu);
        first_count = users().count();
        first_page = users().page(2);
        first_query = users().query({{"name", "Grace"}});
    });
    EXPECT_GT(misses.list, 0u);

    auto hits = run([&] {
        EXPECT_EQ(users().list(), first_list);
        EXPECT_EQ(users().list_ids(eu), first_ids);
        EXPECT_EQ(users().count(), first_count);
        auto p = users().page(2);
        EXPECT_EQ(p.items, first_page.items);
        EXPECT_EQ(p.next_cursor, first_page.next_cursor);
        EXPECT_EQ(users().query({{"name", "Grace"}}), first_query);
    });
    EXPECT_EQ(hits.total(), 0u);
    EXPECT_EQ(first_count, 3u);
    EXPECT_EQ(first_ids.size(), 3u);
    EXPECT_EQ(first_query.size(), 1u);
    // Different parameters are different entries.
    EXPECT_EQ(run([&] { EXPECT_EQ(users().page(1).items.size(), 1u); }).list, 1u);
}

TEST_F(MemoryFixture, GetManyIsServedPerIdThroughGet) {
    open();
    std::string a = users().insert({{"name", "A"}})["id"];
    std::string b = users().insert({{"name", "B"}})["id"];
    std::string c = users().insert({{"name", "C"}})["id"];
    users().get(a);
    users().get(b);
    EXPECT_EQ(run([&] { EXPECT_EQ(users().get_many({a, b}).size(), 2u); }).total(), 0u);
    EXPECT_EQ(run([&] { users().get_many({a, c}); }).get, 1u);
}

TEST_F(MemoryFixture, MissingRecordIsCachedUntilThatIdIsInserted) {
    open();
    EXPECT_EQ(run([&] { EXPECT_FALSE(users().get_or_null("later")); }).get, 1u);
    EXPECT_EQ(run([&] { EXPECT_FALSE(users().get_or_null("later")); }).total(), 0u);
    users().insert({{"id", "later"}, {"name", "Late"}});
    EXPECT_EQ(run([&] { EXPECT_EQ(users().get_or_null("later").value()["name"], "Late"); }).get, 1u);
}

TEST_F(MemoryFixture, MissingRecordsAreNotCachedWhenCacheMissingIsOff) {
    open({.cache_missing = false});
    EXPECT_EQ(run([&] { EXPECT_FALSE(users().get_or_null("nobody")); }).get, 1u);
    EXPECT_EQ(run([&] { EXPECT_FALSE(users().get_or_null("nobody")); }).get, 1u);
}

// ---- invalidation -----------------------------------------------------------------------------------

TEST_F(MemoryFixture, WriteInvalidatesItsRecordAndItsResourceCollectionsOnly) {
    open();
    std::string a = users().insert({{"name", "A"}})["id"];
    std::string b = users().insert({{"name", "B"}})["id"];
    std::string p = posts().insert({{"title", "P"}})["id"];
    auto warm = [&] {
        users().get(a);
        users().get(b);
        users().count();
        posts().get(p);
        posts().count();
        posts().list();
    };
    warm();
    ASSERT_EQ(run(warm).total(), 0u);

    users().update(a, {{"name", "A2"}});
    EXPECT_EQ(run([&] { EXPECT_EQ(users().get(a)["name"], "A2"); }).get, 1u);  // the written record
    EXPECT_EQ(run([&] { users().get(b); }).total(), 0u);                        // another record stays
    EXPECT_EQ(run([&] { EXPECT_EQ(users().count(), 2u); }).list, 1u);          // its collections go
    EXPECT_EQ(run([&] {
                  posts().get(p);  // another resource's entries stay
                  posts().count();
                  posts().list();
              }).total(),
              0u);

    users().remove(b);
    EXPECT_EQ(run([&] { EXPECT_FALSE(users().get_or_null(b)); }).get, 1u);
    EXPECT_EQ(run([&] { EXPECT_EQ(users().count(), 1u); }).list, 1u);

    users().replace(a, {{"name", "A3"}});
    EXPECT_EQ(users().get(a)["name"], "A3");
    users().insert({{"name", "C"}});
    EXPECT_EQ(users().count(), 2u);
    EXPECT_EQ(run([&] { posts().count(); }).total(), 0u);
}

TEST_F(MemoryFixture, InvalidationDropsTheOldGenerationFromMemory) {
    open();
    users().insert({{"name", "A"}});
    users().count();
    users().list_ids();
    auto held = cache().driver().size();
    users().insert({{"name", "B"}});  // its get entry is removed, the two collection entries dropped
    EXPECT_EQ(cache().driver().size(), held - 2);
}

TEST_F(MemoryFixture, DeleteAllDropsEverythingOfThatResource) {
    open();
    std::string a = users().insert({{"name", "A"}})["id"];
    std::string p = posts().insert({{"title", "P"}})["id"];
    users().get(a);
    users().count();
    posts().get(p);
    users().remove_all();
    EXPECT_EQ(run([&] { EXPECT_FALSE(users().get_or_null(a)); }).get, 1u);
    EXPECT_EQ(users().count(), 0u);
    EXPECT_EQ(run([&] { posts().get(p); }).total(), 0u);
}

TEST_F(MemoryFixture, BatchWritesInvalidateEachRecord) {
    open();
    std::string a = users().insert({{"name", "A"}})["id"];
    std::string b = users().insert({{"name", "B"}})["id"];
    users().get(a);
    users().get(b);
    EXPECT_EQ(users().count(), 2u);
    users().remove_many({a, b});
    EXPECT_FALSE(users().get_or_null(a));
    EXPECT_FALSE(users().get_or_null(b));
    EXPECT_EQ(users().count(), 0u);
    users().insert_many({{{"name", "X"}}, {{"name", "Y"}}});
    EXPECT_EQ(users().count(), 2u);
}

TEST_F(MemoryFixture, FailedWriteBeforeAnyRequestKeepsTheEntries) {
    open();
    std::string a = users().insert({{"name", "A"}})["id"];
    users().get(a);
    users().count();
    EXPECT_THROW(users().insert({{"visits", 1}}), ValidationError);  // no name: refused up front
    EXPECT_THROW(users().insert({{"id", a}, {"name", "again"}}), AlreadyExists);
    EXPECT_EQ(run([&] {
                  users().get(a);
                  users().count();
              }).total(),
              0u);
}

// ---- capacity and time ------------------------------------------------------------------------------

TEST_F(MemoryFixture, LruEvictsTheLeastRecentlyUsedEntry) {
    open({.max_size = 3});
    std::vector<std::string> ids;
    for (auto n : {"A", "B", "C", "D"}) ids.push_back(users().insert({{"name", n}})["id"]);
    users().get(ids[0]);
    users().get(ids[1]);
    users().get(ids[2]);
    users().get(ids[0]);  // A is now more recent than B
    users().get(ids[3]);  // evicts B
    EXPECT_EQ(cache().stats().evictions, 1u);
    EXPECT_EQ(cache().driver().size(), 3u);
    EXPECT_EQ(run([&] {
                  users().get(ids[0]);
                  users().get(ids[2]);
                  users().get(ids[3]);
              }).total(),
              0u);
    EXPECT_EQ(run([&] { users().get(ids[1]); }).get, 1u);
}

TEST(CacheMemoryDriver, MaxMemoryBytesCapsWhatEntriesHold) {
    MemoryCache m(CacheOptions{.max_size = 1000, .max_memory_bytes = 8000});
    for (int i = 0; i < 40; ++i)
        m.set("k" + std::to_string(i), CacheEntry{std::make_shared<const json>(json{{"blob", std::string(500, 'x')}})});
    EXPECT_LE(m.bytes(), 8000u);
    EXPECT_GT(m.evictions(), 0u);
    EXPECT_TRUE(m.get("k39"));
    EXPECT_FALSE(m.get("k0"));
    // One value over the whole budget is not kept, and does not leave an older value behind.
    m.set("k39", CacheEntry{std::make_shared<const json>(json{{"blob", std::string(9000, 'y')}})});
    EXPECT_FALSE(m.get("k39"));
}

TEST(CacheMemoryDriver, CleanupSweepsExpiredEntries) {
    ManualClock clock;
    MemoryCache m(CacheOptions{.cleanup_interval = 1h, .clock = clock.fn()});
    auto now = clock.fn()();
    m.set("short", CacheEntry{std::make_shared<const json>(1), now + 1s});
    m.set("long", CacheEntry{std::make_shared<const json>(2), now + 1h});
    m.set("forever", CacheEntry{std::make_shared<const json>(3)});
    clock.advance(2s);
    EXPECT_EQ(m.size(), 3u);
    EXPECT_EQ(m.cleanup(), 1u);
    EXPECT_EQ(m.size(), 2u);
    // The periodic sweep runs from a write once the interval has passed.
    clock.advance(2h);
    m.set("new", CacheEntry{std::make_shared<const json>(4)});
    EXPECT_EQ(m.size(), 2u);  // "long" swept, "forever" and "new" stay
    EXPECT_EQ(m.expirations(), 2u);
}

TEST_F(MemoryFixture, TtlExpiresEntriesOnTheInjectedClock) {
    open({.ttl = 1000ms});
    std::string a = users().insert({{"name", "A"}})["id"];
    users().get(a);
    users().count();
    clock.advance(999ms);
    EXPECT_EQ(run([&] {
                  users().get(a);
                  users().count();
              }).total(),
              0u);
    clock.advance(2ms);
    auto after = run([&] {
        users().get(a);
        users().count();
    });
    EXPECT_EQ(after.get, 1u);
    EXPECT_EQ(after.list, 1u);
    EXPECT_EQ(cache().stats().expirations, 2u);
}

TEST_F(MemoryFixture, ZeroTtlKeepsEntriesUntilInvalidated) {
    open({.ttl = 0ms});
    std::string a = users().insert({{"name", "A"}})["id"];
    users().get(a);
    clock.advance(std::chrono::hours(24 * 365));
    EXPECT_EQ(run([&] { users().get(a); }).total(), 0u);
}

// ---- stats, keys, manual use, options ------------------------------------------------------------------

TEST_F(MemoryFixture, StatsCountHitsMissesAndRate) {
    open();
    std::string a = users().insert({{"name", "A"}})["id"];
    users().get(a);
    users().get(a);
    users().get(a);
    users().get(a);
    auto s = cache().stats();
    EXPECT_EQ(s.hits, 3u);
    EXPECT_EQ(s.misses, 1u);
    EXPECT_EQ(s.sets, 1u);
    EXPECT_DOUBLE_EQ(s.hit_rate, 0.75);
    EXPECT_GE(s.invalidations, 1u);  // the insert
    cache().reset_stats();
    EXPECT_EQ(cache().stats().hits, 0u);
    EXPECT_DOUBLE_EQ(cache().stats().hit_rate, 0.0);
    auto status = db->status();
    ASSERT_EQ(status.size(), 1u);
    EXPECT_TRUE(status[0].healthy);
}

TEST_F(MemoryFixture, CacheKeyForNamesTheEntryAReadUses) {
    open();
    std::string a = users().insert({{"name", "A"}})["id"];
    users().get(a);
    EXPECT_EQ(users().count(), 1u);
    auto count_key = cache().cache_key_for("users", "count", ListQuery{}.to_json());
    EXPECT_EQ(cache().get(count_key), json(1));
    EXPECT_EQ(cache().get(cache().cache_key_for("users", "get", a)).value()["name"], "A");
    EXPECT_EQ(cache().cache_key_for("users", "get", a), "resource=users/get/" + a);
    EXPECT_TRUE(count_key.starts_with("resource=users/v"));
    users().insert({{"name", "B"}});
    EXPECT_NE(cache().cache_key_for("users", "count", ListQuery{}.to_json()), count_key);  // a new generation
    EXPECT_FALSE(cache().get(count_key));
    EXPECT_THROW(cache().cache_key_for("users", "get", 42), CacheError);
}

TEST_F(MemoryFixture, ManualSetGetRemoveAndClear) {
    open();
    cache().set("greeting", {{"hello", "world"}}, 500ms);
    EXPECT_EQ(cache().get("greeting").value()["hello"], "world");
    clock.advance(501ms);
    EXPECT_FALSE(cache().get("greeting"));
    cache().set("greeting", "again");
    cache().remove("greeting");
    EXPECT_FALSE(cache().get("greeting"));

    // A count placed by hand is what the next count answers.
    cache().set(cache().cache_key_for("users", "count", ListQuery{}.to_json()), 42);
    EXPECT_EQ(run([&] { EXPECT_EQ(users().count(), 42u); }).total(), 0u);

    std::string p = posts().insert({{"title", "P"}})["id"];
    posts().get(p);
    cache().clear("users");
    EXPECT_EQ(run([&] { EXPECT_EQ(users().count(), 0u); }).list, 1u);
    EXPECT_EQ(run([&] { posts().get(p); }).total(), 0u);
    cache().clear();
    EXPECT_EQ(cache().driver().size(), 0u);
    EXPECT_EQ(run([&] { posts().get(p); }).get, 1u);
}

TEST_F(MemoryFixture, BypassReadsTheStoreAndStoresNothing) {
    open();
    std::string a = users().insert({{"name", "A"}})["id"];
    users().get(a);
    EXPECT_EQ(run([&] { users().get(a, ReadOptions{.cache = false}); }).get, 1u);
    EXPECT_EQ(run([&] { users().get_or_null(a, ReadOptions{.cache = false}); }).get, 1u);
    EXPECT_EQ(run([&] { users().count(ListQuery{.cache = false}); }).list, 1u);
    EXPECT_EQ(run([&] { users().count(ListQuery{.cache = false}); }).list, 1u);
    EXPECT_EQ(run([&] { users().count(); }).list, 1u);  // the bypassed reads filled nothing
    EXPECT_EQ(run([&] { users().count(); }).total(), 0u);
    auto listed = run([&] { users().list(ListQuery{.cache = false}); });
    EXPECT_EQ(listed.list, 1u);
    EXPECT_EQ(listed.get, 1u);  // its records are read from the store too
    auto s = cache().stats();
    EXPECT_EQ(s.hits + s.misses, 3u);  // get miss; count miss, hit
}

TEST_F(MemoryFixture, IncludeAndExcludeChooseResources) {
    open({.exclude = {"posts"}});
    std::string p = posts().insert({{"title", "P"}})["id"];
    posts().get(p);
    EXPECT_EQ(run([&] { posts().get(p); }).get, 1u);
    users().count();
    EXPECT_EQ(run([&] { users().count(); }).total(), 0u);

    open({.include = {"posts"}});
    p = posts().insert({{"title", "P"}})["id"];
    posts().get(p);
    EXPECT_EQ(run([&] { posts().get(p); }).total(), 0u);
    users().count();
    EXPECT_EQ(run([&] { users().count(); }).list, 1u);
}

TEST_F(MemoryFixture, OperationsChooseWhatIsCached) {
    open({.operations = {.get = false, .count = false}});
    std::string a = users().insert({{"name", "A"}})["id"];
    users().get(a);
    users().count();
    users().list_ids();
    EXPECT_EQ(run([&] { users().get(a); }).get, 1u);
    EXPECT_EQ(run([&] { users().count(); }).list, 1u);
    EXPECT_EQ(run([&] { users().list_ids(); }).total(), 0u);
}

TEST_F(MemoryFixture, EventsReachListenersByDefaultAndCanBeTurnedOff) {
    open({.emit_events = false});
    std::atomic<int> hits{0}, misses{0};
    db->on_plugin_event("cache.hit", [&](const json&) { ++hits; });
    db->on_plugin_event("cache.miss", [&](const json&) { ++misses; });
    users().count();
    users().count();
    EXPECT_EQ(hits + misses, 0);

    open();  // the default: events for whoever listens
    json last;
    db->on_plugin_event("cache.hit", [&](const json& e) {
        ++hits;
        last = e;
    });
    db->on_plugin_event("cache.miss", [&](const json&) { ++misses; });
    users().count();
    users().count();
    EXPECT_EQ(hits, 1);
    EXPECT_EQ(misses, 1);
    EXPECT_EQ(last["resource"], "users");
    EXPECT_EQ(last["operation"], "count");
    EXPECT_TRUE(last["key"].get<std::string>().starts_with("resource=users/v"));
}

TEST_F(MemoryFixture, StopForgetsMemoryEntries) {
    open();
    std::string a = users().insert({{"name", "A"}})["id"];
    users().get(a);
    db->disconnect();
    EXPECT_EQ(cache().driver().size(), 0u);
    db->connect();
    EXPECT_EQ(run([&] { users().get(a); }).get, 1u);
    EXPECT_EQ(run([&] { users().get(a); }).total(), 0u);
}

TEST(CacheOptionsCheck, RefusesConfigurationsThatCannotWork) {
    using FsDb = BasicDatabase<Counting<Memory>, Cache<Filesystem>>;
    EXPECT_THROW(FsDb(Counting<Memory>{}), PluginError);  // no directory
    EXPECT_THROW(MemDb(Counting<Memory>{}, {}, Cache<Memory>({.max_size = 0})), PluginError);
    EXPECT_THROW(MemDb(Counting<Memory>{}, {}, Cache<Memory>({.ttl = -1ms})), PluginError);
    // Persistent drivers keep entries past the process: without a ttl, those left unreachable stay forever.
    EXPECT_THROW(FsDb(Counting<Memory>{}, {}, Cache<Filesystem>({.ttl = 0ms, .directory = test::scratch_dir()})), PluginError);
    using S3Db = BasicDatabase<Counting<Memory>, Cache<S3>>;
    EXPECT_THROW(S3Db(Counting<Memory>{}, {}, Cache<S3>({.ttl = 0ms})), PluginError);
    using TieredDb = BasicDatabase<Counting<Memory>, Cache<Multi<Memory, S3>>>;
    EXPECT_THROW(TieredDb(Counting<Memory>{}, {}, Cache<Multi<Memory, S3>>({.ttl = 0ms})), PluginError);
    EXPECT_NO_THROW(MemDb(Counting<Memory>{}, {}, Cache<Memory>({.ttl = 0ms})));
}

TEST(CacheInvalidation, WritesToResourcesItDoesNotCacheCostNoRequest) {
    using S3Db = BasicDatabase<Counting<Memory>, Cache<S3>>;
    S3Db db(Counting<Memory>{}, {}, Cache<S3>({.exclude = {"users"}, .operations = {.get = true}}));
    db.connect();
    auto& users = db.create_resource(users_config());
    std::string a = users.insert({{"name", "A"}})["id"];
    // No DELETE of an entry: update is GET + PUT, remove GET (the plugin's hooks see the record) + DELETE.
    EXPECT_EQ(counted(db, [&] { users.update(a, {{"name", "B"}}); }).total(), 2u);
    EXPECT_EQ(counted(db, [&] { users.remove(a); }).total(), 2u);
    EXPECT_EQ(db.plugin<Cache<S3>>().stats().invalidations, 0u);
}

// ---- concurrent writes during fills -------------------------------------------------------------------

TEST(CacheConsistency, WriteDuringARecordFillLeavesNoStaleEntry) {
    BasicDatabase<Counting<Memory>, Cache<Memory>, Interleave> db(Counting<Memory>{});
    db.connect();
    auto& users = db.create_resource(users_config());
    std::string a = users.insert({{"name", "old"}})["id"];
    db.plugin<Interleave>().then = [&] { users.update(a, {{"name", "new"}}); };
    EXPECT_EQ(users.get(a)["name"], "old");  // the read began before the write: either is right
    EXPECT_EQ(users.get(a)["name"], "new");  // but the old value was not kept
    EXPECT_GE(db.plugin<Cache<Memory>>().stats().skipped_sets, 1u);
    EXPECT_EQ(counted(db, [&] { users.get(a); }).total(), 0u);  // and the new one is cached
}

TEST(CacheConsistency, WriteDuringACollectionFillLeavesNoStaleEntry) {
    BasicDatabase<Counting<Memory>, Cache<Memory>, Interleave> db(Counting<Memory>{});
    db.connect();
    auto& users = db.create_resource(users_config());
    users.insert({{"name", "A"}});
    db.plugin<Interleave>().then = [&] { users.insert({{"name", "B"}}); };
    EXPECT_EQ(users.count(), 1u);
    EXPECT_EQ(users.count(), 2u);
    EXPECT_EQ(counted(db, [&] { EXPECT_EQ(users.count(), 2u); }).total(), 0u);
}

TEST(CacheConsistency, WriteDuringAMissingRecordFillLeavesNoStaleNegativeEntry) {
    BasicDatabase<Counting<Memory>, Cache<Memory>, Interleave> db(Counting<Memory>{});
    db.connect();
    auto& users = db.create_resource(users_config());
    db.plugin<Interleave>().then = [&] { users.insert({{"id", "x"}, {"name", "X"}}); };
    EXPECT_FALSE(users.get_or_null("x"));
    EXPECT_TRUE(users.get_or_null("x"));
}

TEST(CacheConsistency, WriteBetweenTheCheckAndTheStoreIsUndone) {
    BasicDatabase<Counting<Memory>, Cache<HookedSetMemory>> db(Counting<Memory>{});
    db.connect();
    auto& users = db.create_resource(users_config());
    std::string a = users.insert({{"name", "old"}})["id"];
    hooked_set_once = [&] { users.update(a, {{"name", "new"}}); };
    EXPECT_EQ(users.get(a)["name"], "old");
    EXPECT_FALSE(hooked_set_once);
    EXPECT_FALSE(db.plugin<Cache<HookedSetMemory>>().get("resource=users/get/" + a));
    EXPECT_EQ(users.get(a)["name"], "new");
}

TEST(CacheConsistency, ConcurrentReadersEndOnTheLastWrite) {
    BasicDatabase<Counting<Memory>, Cache<Memory>> db(Counting<Memory>{});
    db.connect();
    auto& users = db.create_resource(users_config());
    std::string a = users.insert({{"name", "A"}, {"visits", 0}})["id"];
    std::atomic<bool> done{false};
    std::vector<std::thread> readers;
    for (int t = 0; t < 4; ++t)
        readers.emplace_back([&] {
            while (!done) {
                users.get(a);
                users.count();
                users.list();
            }
        });
    constexpr int writes = 200;
    for (int i = 1; i <= writes; ++i) {
        users.update(a, {{"visits", i}});
        if (i % 20 == 0) users.insert({{"name", "n" + std::to_string(i)}});
    }
    done = true;
    for (auto& t : readers) t.join();
    EXPECT_EQ(users.get(a)["visits"], writes);
    EXPECT_EQ(users.count(), 1u + writes / 20);
    for (auto& r : users.list())
        if (r["id"] == a) {
            EXPECT_EQ(r["visits"], writes);
        }
    EXPECT_GT(db.plugin<Cache<Memory>>().stats().hits, 0u);
}

// ---- filesystem driver --------------------------------------------------------------------------------

TEST(CacheFilesystemDriver, HitsFromFilesInvalidationAndRestart) {
    ManualClock clock;
    auto dir = test::scratch_dir();
    Memory store;  // copies share the bucket: two databases on one store
    CacheOptions o{.ttl = 60s, .directory = dir, .clock = clock.fn()};
    using FsDb = BasicDatabase<Counting<Memory>, Cache<Filesystem>>;
    std::string a;
    {
        FsDb db(Counting<Memory>(store), {}, Cache<Filesystem>(o));
        db.connect();
        auto& users = db.create_resource(users_config());
        a = users.insert({{"name", "A"}})["id"];
        std::string b = users.insert({{"name", "B"}})["id"];
        users.get(a);
        users.get(b);
        users.count();
        EXPECT_EQ(counted(db, [&] {
                      users.get(a);
                      EXPECT_EQ(users.count(), 2u);
                  }).total(),
                  0u);
        auto file = db.plugin<Cache<Filesystem>>().driver().path_of("resource=users/get/" + a);
        EXPECT_TRUE(std::filesystem::exists(file));
        users.update(b, {{"name", "B2"}});
        EXPECT_EQ(counted(db, [&] { users.get(a); }).total(), 0u);
        EXPECT_EQ(counted(db, [&] { EXPECT_EQ(users.get(b)["name"], "B2"); }).get, 1u);
        EXPECT_EQ(counted(db, [&] { users.count(); }).list, 1u);
        // A torn file reads as a miss.
        std::ofstream(file, std::ios::trunc) << "s3db-cache 1 0\n{\"na";
        EXPECT_EQ(counted(db, [&] { EXPECT_EQ(users.get(a)["name"], "A"); }).get, 1u);
    }
    {
        // Another process (here: another database) finds the record entries; collection entries
        // of an earlier process are never read.
        FsDb db(Counting<Memory>(store), {}, Cache<Filesystem>(o));
        db.connect();
        auto& users = db.resource("users");
        EXPECT_EQ(counted(db, [&] { EXPECT_EQ(users.get(a)["name"], "A"); }).total(), 0u);
        EXPECT_EQ(counted(db, [&] { users.count(); }).list, 1u);
        clock.advance(61s);
        EXPECT_EQ(counted(db, [&] { users.get(a); }).get, 1u);
        EXPECT_GE(db.plugin<Cache<Filesystem>>().stats().expirations, 1u);
        // Uninstall with purge empties the directory.
        db.uninstall_plugin("Cache", {.purge_data = true});
        EXPECT_TRUE(std::filesystem::is_empty(dir));
    }
}

TEST(CacheFilesystemDriver, KeysBecomeSafePathsAndCleanupSweeps) {
    ManualClock clock;
    auto dir = test::scratch_dir();
    FilesystemCache fs(CacheOptions{.directory = dir, .cleanup_interval = 1h, .clock = clock.fn()});
    auto now = clock.fn()();
    for (std::string key : std::vector<std::string>{"resource=a/get/x.y", "resource=a/get/..", "weird key/ü/%", "resource=a/get/" + std::string(300, 'z')}) {
        fs.set(key, CacheEntry{std::make_shared<const json>(key), now + 10s});
        auto path = fs.path_of(key);
        EXPECT_TRUE(path.string().starts_with(dir.string())) << path;
        EXPECT_EQ(path.filename().string().find('.'), path.filename().string().size() - 6) << path;  // only ".cache"
        EXPECT_EQ(fs.get(key).value().value->get<std::string>(), key);
    }
    fs.set("resource=a/v1/count/h", CacheEntry{std::make_shared<const json>(1)});
    fs.remove_prefix("resource=a/v1/");
    EXPECT_FALSE(fs.get("resource=a/v1/count/h"));
    EXPECT_TRUE(fs.get("resource=a/get/x.y"));
    clock.advance(11s);
    EXPECT_EQ(fs.cleanup(), 4u);
    fs.clear();
    EXPECT_TRUE(std::filesystem::is_empty(dir));
}

TEST(CacheFilesystemDriver, EntriesNestedFarTooDeepAreMissesNotValues) {
    ManualClock clock;
    auto dir = test::scratch_dir();
    FilesystemCache fs(CacheOptions{.directory = dir, .cleanup_interval = 1h, .clock = clock.fn()});
    const std::string key = "resource=a/get/deep";
    fs.set(key, CacheEntry{std::make_shared<const json>(json{{"n", 1}}), clock.fn()() + 10s});
    auto path = fs.path_of(key);
    std::string text;
    {
        std::ifstream in(path, std::ios::binary);
        text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    auto header = text.substr(0, text.find('\n') + 1);
    auto nested = [](std::size_t levels) {
        std::string t;
        for (std::size_t i = 0; i < levels; ++i) t += "[";
        return t + "1" + std::string(levels, ']');
    };
    std::ofstream(path, std::ios::binary | std::ios::trunc) << header << nested(150);  // deep, but a value
    EXPECT_TRUE(fs.get(key));
    // Damage nested 100,000 deep: anything that walked the value would overflow the stack.
    std::ofstream(path, std::ios::binary | std::ios::trunc) << header << nested(100000);
    EXPECT_FALSE(fs.get(key));
    EXPECT_FALSE(std::filesystem::exists(path)) << "a damaged entry is put out of the way";
}

// ---- S3 driver (the plugin's storage), on Memory and on RGW ----------------------------------------------

template <class T>
struct CacheS3Driver : ::testing::Test {};
using S3DriverStores = ::testing::Types<Memory, S3>;
TYPED_TEST_SUITE(CacheS3Driver, S3DriverStores, test::StoreNames);

TYPED_TEST(CacheS3Driver, CollectionHitIsOneGetOfThePluginKey) {
    using Store = Counting<TypeParam>;
    ManualClock clock;
    BasicDatabase<Store, Cache<S3>, RequestLog> db(Store(test::make_store<TypeParam>()), {},
                                                   Cache<S3>({.ttl = 60s, .clock = clock.fn()}), RequestLog{});
    db.connect();
    auto& users = db.create_resource(users_config());
    for (auto n : {"A", "B", "C"}) users.insert({{"name", n}});
    EXPECT_EQ(users.count(), 3u);
    auto listed = users.list();

    std::vector<std::string> keys;
    db.use_plugin(KeyLog(&keys));
    auto hit = counted(db, [&] {
        EXPECT_EQ(users.count(), 3u);
        EXPECT_EQ(users.list(), listed);
    });
    EXPECT_EQ(hit.get, 2u);
    EXPECT_EQ(hit.list, 0u);
    EXPECT_EQ(hit.total(), 2u);
    for (auto& k : keys) EXPECT_TRUE(k.starts_with("GET resource=users/plugin=cache/v")) << k;

    // Records are not cached by default on this driver (a cached record costs the same GET).
    std::string a = listed[0]["id"];
    EXPECT_EQ(counted(db, [&] { users.get(a); }).get, 1u);

    // A write makes the resource's collection entries unreachable without a request for them.
    keys.clear();
    users.insert({{"name", "D"}});
    for (auto& k : keys) EXPECT_FALSE(k.find("plugin=cache") != std::string::npos) << k;
    auto after = counted(db, [&] { EXPECT_EQ(users.count(), 4u); });
    EXPECT_EQ(after.list, 1u);

    // Expiry on the plugin's clock.
    clock.advance(61s);
    EXPECT_EQ(counted(db, [&] { users.count(); }).list, 1u);

    // Purge on uninstall deletes the entries.
    auto purged = db.uninstall_plugin("Cache", {.purge_data = true});
    EXPECT_GE(purged, 2u);
    EXPECT_TRUE(db.template plugin<Cache<S3>>().driver().full_key("resource=users/get/x").starts_with("resource=users/plugin=cache/"));
}

TYPED_TEST(CacheS3Driver, RecordsCachedOnRequestAndInvalidatedByWrites) {
    using Store = Counting<TypeParam>;
    BasicDatabase<Store, Cache<S3>> db(Store(test::make_store<TypeParam>()), {}, Cache<S3>({.operations = {.get = true}}));
    db.connect();
    auto& users = db.create_resource(users_config());
    std::string a = users.insert({{"name", "A"}})["id"];
    users.get(a);
    EXPECT_EQ(counted(db, [&] { EXPECT_EQ(users.get(a)["name"], "A"); }).get, 1u);  // the entry, not the record
    users.update(a, {{"name", "A2"}});
    EXPECT_EQ(users.get(a)["name"], "A2");
    auto& cache = db.template plugin<Cache<S3>>();
    EXPECT_EQ(cache.get(cache.cache_key_for("users", "get", a)).value()["name"], "A2");
    cache.clear("users");
    EXPECT_FALSE(cache.get(cache.cache_key_for("users", "get", a)));
}

TYPED_TEST(CacheS3Driver, CleanupDeletesEntriesOlderThanTheTtlWhicheverTheirGeneration) {
    using Store = Counting<TypeParam>;
    BasicDatabase<Store, Cache<S3>> db(Store(test::make_store<TypeParam>()), {}, Cache<S3>({.ttl = 3s}));
    db.connect();
    auto& users = db.create_resource(users_config());
    users.insert({{"name", "A"}});
    users.count();
    users.list();
    users.insert({{"name", "B"}});  // the entries above (count, list and the list's ids) are now unreachable
    auto& cache = db.template plugin<Cache<S3>>();
    auto cache_keys = [&] { return db.transport().list({.prefix = "resource=users/plugin=cache/"}).objects.size(); };
    ASSERT_EQ(cache_keys(), 3u);
    EXPECT_EQ(cache.cleanup(), 0u);  // young: kept
    std::this_thread::sleep_for(4s);  // the store dates objects; S3 to the second
    users.count();                    // a fresh entry of the current generation
    EXPECT_EQ(cache.cleanup(), 3u);
    EXPECT_EQ(cache_keys(), 1u);
    EXPECT_EQ(counted(db, [&] { EXPECT_EQ(users.count(), 2u); }).total(), 1u);  // the fresh one still answers
}

// ---- tiers ------------------------------------------------------------------------------------------------

TEST(CacheMulti, HitsInASlowerTierArePromotedAndWritesReachEveryTier) {
    using Tiered = Cache<Multi<Memory, Filesystem>>;
    auto dir = test::scratch_dir();
    BasicDatabase<Counting<Memory>, Tiered> db(Counting<Memory>{}, {}, Tiered({.directory = dir}));
    db.connect();
    auto& users = db.create_resource(users_config());
    std::string a = users.insert({{"name", "A"}})["id"];
    auto& tiers = db.plugin<Tiered>().driver();
    users.get(a);
    auto key = "resource=users/get/" + a;
    EXPECT_TRUE(tiers.tier<0>().get(key));
    EXPECT_TRUE(tiers.tier<1>().get(key));

    tiers.tier<0>().clear();
    EXPECT_EQ(counted(db, [&] { EXPECT_EQ(users.get(a)["name"], "A"); }).total(), 0u);
    EXPECT_EQ(tiers.tier_hits()[1], 1u);
    EXPECT_TRUE(tiers.tier<0>().get(key));  // promoted
    users.get(a);
    EXPECT_EQ(tiers.tier_hits()[0], 1u);

    users.update(a, {{"name", "A2"}});
    EXPECT_FALSE(tiers.tier<0>().get(key));
    EXPECT_FALSE(tiers.tier<1>().get(key));
    EXPECT_EQ(users.get(a)["name"], "A2");
}

TEST(CacheMulti, PromotionRacingAWriteIsUndone) {
    // The slower tier answers with the old record, a write lands, then the answer is copied into
    // the faster tier: the plugin must take that copy out again.
    using Tiered = Cache<Multi<Memory, HookedTier>>;
    BasicDatabase<Counting<Memory>, Tiered> db(Counting<Memory>{});
    db.connect();
    auto& users = db.create_resource(users_config());
    std::string a = users.insert({{"name", "A"}})["id"];
    users.get(a);
    auto& tiers = db.plugin<Tiered>().driver();
    tiers.tier<0>().clear();
    hooked_tier_once = [&] { users.update(a, {{"name", "A2"}}); };
    EXPECT_EQ(users.get(a)["name"], "A");  // read before the write finished
    EXPECT_FALSE(hooked_tier_once);
    EXPECT_FALSE(tiers.tier<0>().get("resource=users/get/" + a));
    EXPECT_EQ(users.get(a)["name"], "A2");
}

// ---- with other plugins ---------------------------------------------------------------------------------

TEST(CacheWithOthers, RuntimePluginSeesNoRequestOnHits) {
    MemDb db(Counting<Memory>{});
    auto& log = db.use_plugin(RequestLog{});
    db.connect();
    auto& users = db.create_resource(users_config());
    std::string a = users.insert({{"name", "A"}})["id"];
    users.get(a);
    users.count();
    int before = *log.seen;
    users.get(a);
    users.count();
    EXPECT_EQ(*log.seen, before);
    users.update(a, {{"name", "B"}});
    before = *log.seen;
    EXPECT_EQ(users.get(a)["name"], "B");
    EXPECT_EQ(*log.seen, before + 1);
}

TEST(CacheWithOthers, CacheAddedAtRunTimeWorksTheSame) {
    BasicDatabase<Counting<Memory>, RequestLog> db(Counting<Memory>{});
    db.connect();
    auto& cache = db.use_plugin(Cache<Memory>({.max_size = 10}));
    auto& users = db.create_resource(users_config());
    std::string a = users.insert({{"name", "A"}})["id"];
    users.get(a);
    users.count();
    EXPECT_EQ(counted(db, [&] {
                  users.get(a);
                  users.count();
              }).total(),
              0u);
    users.remove(a);
    EXPECT_FALSE(users.get_or_null(a));
    EXPECT_EQ(users.count(), 0u);
    EXPECT_EQ(cache.stats().hits, 2u);
    EXPECT_EQ(&db.plugin<Cache<Memory>>(), &cache);
}

TEST(CacheWithOthers, DatabaseOnAConnectionStringTakesTheCacheInItsType) {
    Database<Cache<Memory>> db("memory://cache-url-" + std::to_string(::getpid()));
    db.connect();
    auto& users = db.create_resource(users_config());
    std::string a = users.insert({{"name", "A"}})["id"];
    users.get(a);
    users.get(a);
    EXPECT_EQ(users.count(), 1u);
    EXPECT_EQ(users.count(), 1u);
    auto s = db.plugin<Cache<Memory>>().stats();
    EXPECT_EQ(s.hits, 2u);
    EXPECT_EQ(s.misses, 2u);
}
