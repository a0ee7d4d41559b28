// PluginStorage on every store (Memory, Filesystem, and S3 on Ceph RGW): the s3db.js key layout and
// encoding, TTLs on an injected clock, locks, counters that lose no update under contention,
// isolation between plugins and resources, purges, paging, and the request budget of each call.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <limits>
#include <thread>
#include <type_traits>
#include <vector>

#include "s3db/core/plugin_storage.hpp"
#include "s3db/transport/counting.hpp"
#include "support/manual_clock.hpp"
#include "support/stores.hpp"

using namespace s3db;
using namespace std::chrono_literals;

namespace {

using TestClock = test::ManualClock;

}  // namespace

template <class T>
class PluginStorageOn : public ::testing::Test {
protected:
    Counting<T> store{test::make_store<T>()};
    TestClock clock;
    PluginStorage storage{store, "my-plugin", options()};

    PluginStorageOptions options() const { return {.clock = clock.fn()}; }
    PluginStorage other(std::string slug) { return PluginStorage(store, std::move(slug), options()); }
    RequestCounts since(const RequestCounts& before) const { return store.counts() - before; }
};

using Stores = ::testing::Types<Memory, Filesystem, S3>;
TYPED_TEST_SUITE(PluginStorageOn, Stores, test::StoreNames);

// ---- keys ----

TEST(PluginStorageKeys, FollowTheS3dbJsLayout) {
    Memory m;
    PluginStorage s(m, "my-plugin");
    EXPECT_EQ(s.plugin_key(std::nullopt, "config"), "plugin=my-plugin/config");
    EXPECT_EQ(s.plugin_key(std::nullopt, "state", "current"), "plugin=my-plugin/state/current");
    EXPECT_EQ(s.plugin_key("users", "cache", "user-123"), "resource=users/plugin=my-plugin/cache/user-123");
    EXPECT_EQ(s.plugin_key("wallets", std::string("transactions"), "id=txn-456"),
              "resource=wallets/plugin=my-plugin/transactions/id=txn-456");
    EXPECT_EQ(s.lock_key("consolidate:user123"), "plugin=my-plugin/locks/consolidate:user123");
    // Keys already in the plugin's space stay as they are; other relative keys go into its space.
    EXPECT_EQ(s.resolve_key("plugin=my-plugin/config"), "plugin=my-plugin/config");
    EXPECT_EQ(s.resolve_key("resource=users/plugin=my-plugin/a"), "resource=users/plugin=my-plugin/a");
    EXPECT_EQ(s.resolve_key("session:abc123"), "plugin=my-plugin/session:abc123");
}

TEST(PluginStorageKeys, BadKeysAndOptionsAreRefusedNamingPluginAndKey) {
    Memory m;
    PluginStorage s(m, "my-plugin");
    auto refused = [&](auto&& call, std::string_view fragment) {
        try {
            call();
            ADD_FAILURE() << "expected PluginStorageError mentioning " << fragment;
        } catch (const PluginStorageError& e) {
            EXPECT_EQ(e.plugin(), "my-plugin");
            EXPECT_NE(std::string(e.what()).find("my-plugin"), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
        }
    };
    refused([&] { s.set("", {{"a", 1}}); }, "cannot be empty");
    refused([&] { s.set("/abs", {{"a", 1}}); }, "'/abs'");
    refused([&] { s.set("a//b", {{"a", 1}}); }, "empty segment");
    refused([&] { s.set("dir/", {{"a", 1}}); }, "empty segment");
    refused([&] { s.set("a/../b", {{"a", 1}}); }, "'..'");
    refused([&] { s.set(std::string("bad\x01key"), {{"a", 1}}); }, "U+0001");
    refused([&] { s.get("plugin=other-plugin/config"); }, "outside this plugin's space");
    refused([&] { s.get("resource=users/data/id=1"); }, "outside this plugin's space");
    refused([&] { s.set(std::string(1100, 'k'), {{"a", 1}}); }, "1024 bytes");
    refused([&] { s.plugin_key("", "x"); }, "resource name cannot be empty");
    refused([&] { s.plugin_key("a/b", "x"); }, "cannot contain '/'");
    refused([&] { s.plugin_key(std::nullopt, "x", ""); }, "empty segment");
    refused([&] { s.set("k", json::array({1, 2})); }, "must be a JSON object");
    refused([&] { s.set("k", {{"_expiresAt", 1}}); }, "reserved");
    refused([&] { s.set("k", {{"a", 1}}, {.ttl = 0s}); }, "ttl must be positive");
    refused([&] { s.acquire_lock("l", {.ttl = 0s}); }, "ttl must be positive");
    refused([&] { s.acquire_lock("l", {.timeout = -1ms}); }, "timeout cannot be negative");
    refused([&] { s.acquire_lock(""); }, "lock name cannot be empty");
    refused([&] { s.touch("k", -5s); }, "cannot be negative");
    EXPECT_THROW(PluginStorage(m, "bad/slug"), PluginStorageError);
    EXPECT_THROW(PluginStorage(m, ""), PluginStorageError);
    EXPECT_THROW(parse_storage_behavior("truncate-data"), ConfigError);
    EXPECT_EQ(parse_storage_behavior("body-only"), StorageBehavior::body_only);
    EXPECT_EQ(m.list({}).objects.size(), 0u);  // nothing refused reached the store
}

// ---- set / get ----

TYPED_TEST(PluginStorageOn, EntriesRoundTripExactlyWithinOneRequestEach) {
    // Every kind of value, including those s3db.js would misread from metadata (numeric-looking or
    // boolean-looking strings, camelCase names, blanks, JSON-looking text): they must come back as set.
    json data = {{"enabled", true},
                 {"retries", 3},
                 {"ratio", 0.1},
                 {"tiny", 1e-7},
                 {"big", 18446744073709551615ull},
                 {"negative", -42},
                 {"name", "Alice"},
                 {"accented", "José Ñandú"},
                 {"numeric_text", "123"},
                 {"bool_text", "true"},
                 {"null_text", "null"},
                 {"json_text", "{\"a\":1}"},
                 {"hex_text", "0x1F"},
                 {"padded", "  spaced  "},
                 {"empty", ""},
                 {"prefixed", "d:j"},
                 {"firstName", "camel"},
                 {"nothing", nullptr},
                 {"settings", {{"timeout", 30000}, {"nested", {1, "two", nullptr}}}},
                 {"tags", {"a", "b|c"}},
                 {"huge", std::string(3000, 'h')}};
    auto key = this->storage.plugin_key(std::nullopt, "config");
    auto before = this->store.counts();
    this->storage.set(key, data);
    EXPECT_EQ(this->since(before), (RequestCounts{.put = 1}));

    before = this->store.counts();
    auto back = this->storage.get(key);
    EXPECT_EQ(this->since(before), (RequestCounts{.get = 1}));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, data);

    for (auto behavior : {StorageBehavior::body_only, StorageBehavior::body_overflow}) {
        this->storage.set("again", data, {.behavior = behavior});
        EXPECT_EQ(this->storage.get("again"), data) << to_string(behavior);
    }
    EXPECT_EQ(this->storage.get(this->storage.plugin_key(std::nullopt, "missing")), std::nullopt);
}

TYPED_TEST(PluginStorageOn, BehaviorsPlaceFieldsAsS3dbJsDoes) {
    auto& raw = this->store;
    // body-overflow: small fields in metadata (lowercase names, text values), the large one in the body.
    this->storage.set("overflow", {{"mode", "async"}, {"interval", 5000}, {"blob", std::string(2500, 'x')}});
    auto o = raw.get("plugin=my-plugin/overflow");
    ASSERT_TRUE(o);
    EXPECT_EQ(o->info.metadata, (Metadata{{"interval", "5000"}, {"mode", "async"}}));
    EXPECT_EQ(json::parse(o->body), (json{{"blob", std::string(2500, 'x')}}));
    EXPECT_EQ(o->info.content_type, "application/json");

    // body-only: no metadata, everything in the body, the expiry as `_expiresAt`.
    this->storage.set("only", {{"mode", "async"}}, {.ttl = 60s, .behavior = StorageBehavior::body_only});
    o = raw.get("plugin=my-plugin/only");
    ASSERT_TRUE(o);
    EXPECT_TRUE(o->info.metadata.empty());
    auto body = json::parse(o->body);
    EXPECT_EQ(body["mode"], "async");
    EXPECT_EQ(body["_expiresAt"], *this->clock.ms + 60000);

    // enforce-limits: fits → all metadata, with the expiry as `_expiresat`; too large → refused
    // before any request.
    this->storage.set("small", {{"enabled", true}}, {.ttl = 60s, .behavior = StorageBehavior::enforce_limits});
    o = raw.get("plugin=my-plugin/small");
    ASSERT_TRUE(o);
    EXPECT_EQ(o->info.metadata,
              (Metadata{{"_expiresat", std::to_string(*this->clock.ms + 60000)}, {"enabled", "true"}}));
    auto before = raw.counts();
    try {
        this->storage.set("large", {{"blob", std::string(2100, 'x')}}, {.behavior = StorageBehavior::enforce_limits});
        ADD_FAILURE() << "enforce-limits accepted 2 KB of metadata";
    } catch (const PluginDataTooLarge& e) {
        EXPECT_EQ(e.limit(), plugin_metadata_budget);
        EXPECT_GT(e.size(), plugin_metadata_budget);
        EXPECT_EQ(e.key(), "plugin=my-plugin/large");
    }
    EXPECT_EQ(this->since(before), RequestCounts{});
}

TEST(PluginStorageInterop, BodiesNestedFarTooDeepAreRefusedNamingTheKey) {
    Memory m;
    PluginStorage s(m, "my-plugin");
    std::string deep;
    for (int i = 0; i < 100000; ++i) deep += "{\"n\":";
    deep += "1" + std::string(100000, '}');
    m.put("plugin=my-plugin/state", deep);
    try {
        s.get("state");
        FAIL() << "a body nested 100,000 levels deep was returned";
    } catch (const PluginStorageError& e) {
        std::string what = e.what();
        EXPECT_NE(what.find("plugin=my-plugin/state"), std::string::npos) << what;
        EXPECT_NE(what.find("200 levels"), std::string::npos) << what;
    }
}

TEST(PluginStorageInterop, ReadsEntriesAsS3dbJsWritesThem) {
    // What s3db.js's PluginStorage leaves in a bucket: values as text in lowercased metadata
    // (numbers, booleans, JSON-stringified objects), overflow in a JSON body that wins, the expiry as
    // `_expiresat` (metadata) or `_expiresAt` (body-only); an empty body when nothing overflowed.
    Memory m;
    TestClock clock;
    PluginStorage s(m, "eventual-consistency", {.clock = clock.fn()});
    auto future = std::to_string(*clock.ms + 30000);
    m.put("plugin=eventual-consistency/config", "",
          {.metadata = {{"enabled", "true"}, {"interval", "5000"}, {"ratio", "0.25"}, {"mode", "async"},
                        {"settings", R"({"retries":3})"}, {"_expiresat", future}}});
    m.put("resource=users/plugin=eventual-consistency/txn/id=1", R"({"note":"from body","amount":7})",
          {.metadata = {{"amount", "1"}, {"field", "balance"}}});
    m.put("plugin=eventual-consistency/locks/job",
          R"({"workerId":4242,"token":"abc","acquiredAt":1,"_expiresAt":)" + future + "}");

    EXPECT_EQ(s.get("config"),
              (json{{"enabled", true}, {"interval", 5000}, {"ratio", 0.25}, {"mode", "async"}, {"settings", {{"retries", 3}}}}));
    EXPECT_EQ(s.ttl("config"), 30s);
    EXPECT_EQ(s.get(s.plugin_key("users", "txn", "id=1")),
              (json{{"note", "from body"}, {"amount", 7}, {"field", "balance"}}));
    EXPECT_TRUE(s.is_locked("job"));
    clock.advance(31s);
    EXPECT_FALSE(s.is_locked("job"));
    EXPECT_EQ(s.get("config"), std::nullopt);
}

TYPED_TEST(PluginStorageOn, EveryWriteGetsItsOwnEtagSoCompareAndSwapSeesIt) {
    // S3 ETags hash the body; entries that live in metadata have bodies too small to tell apart
    // unless each write makes its own. Same data twice must still give two versions.
    auto first = this->storage.set("cfg", {{"mode", "a"}});
    auto second = this->storage.set("cfg", {{"mode", "a"}});
    EXPECT_NE(first, second);

    auto seen = this->storage.get_with_version("cfg");
    ASSERT_TRUE(seen);
    EXPECT_TRUE(detail::etag_equal(seen->etag, second));
    this->storage.set("cfg", {{"mode", "a"}});  // someone else rewrites the same content
    EXPECT_EQ(this->storage.set_if_version("cfg", {{"mode", "b"}}, seen->etag), std::nullopt);
    EXPECT_EQ(this->storage.get("cfg"), (json{{"mode", "a"}}));

    auto fresh = this->storage.get_with_version("cfg");
    ASSERT_TRUE(fresh);
    EXPECT_TRUE(this->storage.set_if_version("cfg", {{"mode", "b"}}, fresh->etag));
    EXPECT_EQ(this->storage.get("cfg"), (json{{"mode", "b"}}));

    EXPECT_TRUE(this->storage.set_if_absent("once", {{"v", 1}}));
    EXPECT_EQ(this->storage.set_if_absent("once", {{"v", 2}}), std::nullopt);
    EXPECT_EQ(this->storage.get("once"), (json{{"v", 1}}));
}

// ---- TTL ----

TYPED_TEST(PluginStorageOn, TtlExpiresWithTheClockAndExpiredEntriesAreRemovedLazily) {
    auto key = this->storage.plugin_key("users", "session", "user-1");
    this->storage.set(key, {{"token", "abc123"}}, {.ttl = 60s});
    EXPECT_EQ(this->storage.ttl(key), 60s);
    EXPECT_FALSE(this->storage.is_expired(key));

    this->clock.advance(30s);
    EXPECT_EQ(this->storage.ttl(key), 30s);
    EXPECT_TRUE(this->storage.has(key));
    EXPECT_EQ(this->storage.get(key), (json{{"token", "abc123"}}));

    this->clock.advance(30s + 1ms);
    EXPECT_TRUE(this->storage.is_expired(key));
    EXPECT_EQ(this->storage.ttl(key), std::nullopt);
    EXPECT_TRUE(this->store.head(key));  // still stored until someone reads it
    auto before = this->store.counts();
    EXPECT_EQ(this->storage.get(key), std::nullopt);
    EXPECT_EQ(this->since(before), (RequestCounts{.get = 1, .remove = 1}));
    EXPECT_FALSE(this->store.head(key));
    EXPECT_FALSE(this->storage.has(key));

    // No TTL: never expires, no remaining time.
    this->storage.set("forever", {{"a", 1}});
    this->clock.advance(24h * 365);
    EXPECT_FALSE(this->storage.is_expired("forever"));
    EXPECT_EQ(this->storage.ttl("forever"), std::nullopt);
    EXPECT_TRUE(this->storage.is_expired("never-written"));
}

TYPED_TEST(PluginStorageOn, TouchExtendsTheTtlInOneGetAndOneConditionalPut) {
    for (auto behavior : {StorageBehavior::body_overflow, StorageBehavior::body_only}) {
        this->storage.set("session", {{"user", "u1"}}, {.ttl = 10s, .behavior = behavior});
        auto before = this->store.counts();
        EXPECT_TRUE(this->storage.touch("session", 20s));
        EXPECT_EQ(this->since(before), (RequestCounts{.put = 1, .get = 1}));
        EXPECT_EQ(this->storage.ttl("session"), 30s);
        EXPECT_EQ(this->storage.get("session"), (json{{"user", "u1"}}));
    }
    this->storage.set("no-ttl", {{"a", 1}});
    EXPECT_FALSE(this->storage.touch("no-ttl", 5s));
    EXPECT_FALSE(this->storage.touch("missing", 5s));
    this->clock.advance(31s);
    EXPECT_FALSE(this->storage.touch("session", 5s));  // expired: nothing to extend
}

TYPED_TEST(PluginStorageOn, ConcurrentTouchesAllCount) {
    this->storage.set("session", {{"user", "u1"}}, {.ttl = 10s});
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 10; ++i) EXPECT_TRUE(this->storage.touch("session", 1s));
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(this->storage.ttl("session"), 50s);
}

// ---- counters ----

TYPED_TEST(PluginStorageOn, CountersAddUpWithinTheirBudget) {
    this->storage.set("counter", {{"value", 0}});
    auto before = this->store.counts();
    EXPECT_EQ(this->storage.increment("counter", 5), 5);
    EXPECT_EQ(this->since(before), (RequestCounts{.put = 1, .get = 1}));
    EXPECT_EQ(this->storage.increment("counter", 3), 8);
    EXPECT_EQ(this->storage.decrement("counter", 2), 6);
    EXPECT_EQ(this->storage.get("counter"), (json{{"value", 6}}));
    // The value stays in metadata, where s3db.js keeps it.
    EXPECT_EQ(this->store.head("plugin=my-plugin/counter")->metadata.at("value"), "6");

    before = this->store.counts();
    EXPECT_EQ(this->storage.increment("api-calls"), 1);  // created on first use
    EXPECT_EQ(this->since(before), (RequestCounts{.put = 1, .get = 1}));

    EXPECT_EQ(this->storage.increment("hourly", 1, {.ttl = 3600s}), 1);
    EXPECT_EQ(this->storage.ttl("hourly"), 3600s);
    this->clock.advance(3601s);
    EXPECT_EQ(this->storage.increment("hourly", 1, {.ttl = 3600s}), 1);  // expired: starts over

    this->storage.set("not-a-counter", {{"value", "seven"}});
    EXPECT_THROW(this->storage.increment("not-a-counter"), PluginStorageError);

    // Past 64 bits: an error that names the key, and the stored value untouched.
    constexpr auto max = std::numeric_limits<std::int64_t>::max(), min = std::numeric_limits<std::int64_t>::min();
    this->storage.set("big", {{"value", max - 1}});
    EXPECT_EQ(this->storage.increment("big"), max);
    EXPECT_THROW(this->storage.increment("big"), PluginStorageError);
    EXPECT_EQ(this->storage.get("big"), (json{{"value", max}}));
    EXPECT_THROW(this->storage.decrement("big", min), PluginStorageError);
    this->storage.set("small", {{"value", min}});
    EXPECT_THROW(this->storage.decrement("small"), PluginStorageError);
}

TYPED_TEST(PluginStorageOn, ConcurrentIncrementsLoseNoUpdate) {
    // s3db.js's increment (HEAD + COPY) loses updates here; a compare-and-swap must not. Every write
    // races seven others either way; on RGW 8 × 500 took 39 s of retries, so it does 8 × 150 there.
    constexpr int threads = 8;
    const int per_thread = std::is_same_v<TypeParam, S3> ? 150 : 500;
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&] {
            for (int i = 0; i < per_thread; ++i) this->storage.increment("hits");
        });
    for (auto& t : pool) t.join();
    EXPECT_EQ(this->storage.get("hits"), (json{{"value", threads * per_thread}}));
}

TYPED_TEST(PluginStorageOn, UpdateIsAReadModifyWrite) {
    std::vector<std::thread> pool;
    for (int t = 0; t < 4; ++t)
        pool.emplace_back([&, t] {
            for (int i = 0; i < 5; ++i)
                this->storage.update("log", [&](const std::optional<json>& cur) {
                    json next = cur.value_or(json{{"items", json::array()}});
                    next["items"].push_back(t * 100 + i);
                    return next;
                });
        });
    for (auto& t : pool) t.join();
    auto log = this->storage.get("log");
    ASSERT_TRUE(log);
    EXPECT_EQ((*log)["items"].size(), 20u);
    // Returning nullopt writes nothing.
    auto before = this->store.counts();
    auto same = this->storage.update("log", [](const std::optional<json>&) { return std::optional<json>{}; });
    EXPECT_EQ(same, log);
    EXPECT_EQ(this->since(before), (RequestCounts{.get = 1}));
}

// ---- locks ----

TYPED_TEST(PluginStorageOn, OfTwoWorkersOneTakesTheLock) {
    std::atomic<int> winners{0};
    std::vector<std::optional<Lock>> locks(2);
    std::vector<std::thread> workers;
    for (int w = 0; w < 2; ++w)
        workers.emplace_back([&, w] {
            locks[w] = this->storage.acquire_lock("consolidate:user123", {.ttl = 300s, .worker_id = "w" + std::to_string(w)});
            if (locks[w]) ++winners;
        });
    for (auto& t : workers) t.join();
    EXPECT_EQ(winners, 1);
    EXPECT_TRUE(this->storage.is_locked("consolidate:user123"));
    const Lock& held = locks[0] ? *locks[0] : *locks[1];
    EXPECT_EQ(held.key, "plugin=my-plugin/locks/consolidate:user123");
    EXPECT_EQ(held.expires_at - held.acquired_at, 300s);

    // The stored payload is s3db.js's.
    auto body = json::parse(this->store.get(held.key)->body);
    EXPECT_EQ(body["token"], held.token);
    EXPECT_EQ(body["workerId"], held.worker_id);
    EXPECT_TRUE(body["acquiredAt"].is_number());
    EXPECT_TRUE(body["_expiresAt"].is_number());

    auto before = this->store.counts();
    EXPECT_TRUE(this->storage.release_lock(held));
    EXPECT_EQ(this->since(before), (RequestCounts{.head = 1, .remove = 1}));
    EXPECT_FALSE(this->storage.is_locked("consolidate:user123"));
    before = this->store.counts();
    auto again = this->storage.acquire_lock("consolidate:user123");
    EXPECT_EQ(this->since(before), (RequestCounts{.put = 1}));
    ASSERT_TRUE(again);
    EXPECT_FALSE(this->storage.release_lock(held));  // an old handle is not the holder
    EXPECT_TRUE(this->storage.is_locked("consolidate:user123"));
}

TYPED_TEST(PluginStorageOn, LockTimeoutIsHonoured) {
    auto held = this->storage.acquire_lock("job", {.ttl = 300s});
    ASSERT_TRUE(held);
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(this->storage.acquire_lock("job", {.timeout = 0ms}), std::nullopt);
    auto quick = std::chrono::steady_clock::now() - start;
    EXPECT_LT(quick, 2s);

    start = std::chrono::steady_clock::now();
    EXPECT_EQ(this->storage.acquire_lock("job", {.timeout = 400ms}), std::nullopt);
    auto waited = std::chrono::steady_clock::now() - start;
    EXPECT_GE(waited, 400ms);
    EXPECT_LT(waited, 3s);

    // Released while a worker waits: the waiter gets it within its timeout.
    std::thread releaser([&] {
        std::this_thread::sleep_for(200ms);
        EXPECT_TRUE(this->storage.release_lock(*held));
    });
    auto waiter = this->storage.acquire_lock("job", {.timeout = 10s});
    releaser.join();
    EXPECT_TRUE(waiter);
}

TYPED_TEST(PluginStorageOn, ExpiredLockIsTakenOverAndItsOldHolderCannotReleaseIt) {
    auto a = this->storage.acquire_lock("job", {.ttl = 10s, .worker_id = "a"});
    ASSERT_TRUE(a);
    EXPECT_EQ(this->storage.acquire_lock("job", {.worker_id = "b"}), std::nullopt);
    this->clock.advance(11s);
    EXPECT_FALSE(this->storage.is_locked("job"));

    auto before = this->store.counts();
    auto b = this->storage.acquire_lock("job", {.ttl = 60s, .worker_id = "b"});  // timeout 0: takeover still happens
    ASSERT_TRUE(b);
    EXPECT_EQ(this->since(before), (RequestCounts{.put = 2, .get = 1}));
    EXPECT_TRUE(this->storage.is_locked("job"));

    EXPECT_FALSE(this->storage.release_lock(*a));  // expired holder: refused, b keeps it
    EXPECT_TRUE(this->storage.is_locked("job"));
    EXPECT_EQ(json::parse(this->store.get(b->key)->body)["workerId"], "b");

    // A handle forged from the name and a guessed token is refused too.
    Lock forged = *b;
    forged.token = "not-the-token";
    forged.etag = "\"0123456789abcdef0123456789abcdef\"";
    EXPECT_FALSE(this->storage.release_lock(forged));
    EXPECT_TRUE(this->storage.is_locked("job"));
    EXPECT_TRUE(this->storage.release_lock(*b));
    EXPECT_FALSE(this->storage.is_locked("job"));
}

TYPED_TEST(PluginStorageOn, LockCloseToExpiryIsReleasedByAConditionalOverwrite) {
    auto a = this->storage.acquire_lock("job", {.ttl = 3s});  // under the 5 s release margin
    ASSERT_TRUE(a);
    auto before = this->store.counts();
    EXPECT_TRUE(this->storage.release_lock(*a));
    EXPECT_EQ(this->since(before), (RequestCounts{.put = 1}));
    EXPECT_FALSE(this->storage.is_locked("job"));
    EXPECT_FALSE(this->storage.release_lock(*a));  // once only
    EXPECT_TRUE(this->storage.acquire_lock("job"));

    // extend_lock keeps a lock alive, conditionally on still holding it.
    auto c = this->storage.acquire_lock("other", {.ttl = 10s});
    ASSERT_TRUE(c);
    this->clock.advance(8s);
    EXPECT_TRUE(this->storage.extend_lock(*c, 10s));
    this->clock.advance(8s);
    EXPECT_TRUE(this->storage.is_locked("other"));
    EXPECT_TRUE(this->storage.release_lock(*c));
}

TYPED_TEST(PluginStorageOn, ReleaseByNameReleasesOnlyTheLockThisHolderHolds) {
    // Two holders of one plugin's locks: two storages on one bucket (two workers, two processes).
    PluginStorage a = this->other("my-plugin");
    PluginStorage b = this->other("my-plugin");
    ASSERT_TRUE(a.acquire_lock("job", {.ttl = 60s, .worker_id = "a"}));
    EXPECT_EQ(b.acquire_lock("job", {.worker_id = "b"}), std::nullopt);

    // b does not hold it: refused without a request, and a keeps its lock.
    auto before = this->store.counts();
    EXPECT_EQ(b.release_lock("job"), LockRelease::not_held);
    EXPECT_EQ(this->since(before), RequestCounts{});
    EXPECT_TRUE(b.is_locked("job"));
    EXPECT_EQ(json::parse(this->store.get(a.lock_key("job"))->body)["workerId"], "a");

    // a holds it: HEAD + DELETE, as release_lock(lock) far from expiry.
    before = this->store.counts();
    EXPECT_EQ(a.release_lock("job"), LockRelease::released);
    EXPECT_EQ(this->since(before), (RequestCounts{.head = 1, .remove = 1}));
    EXPECT_FALSE(a.is_locked("job"));
    EXPECT_EQ(a.release_lock("job"), LockRelease::not_held);  // once only
    EXPECT_EQ(a.release_lock("never-taken"), LockRelease::not_held);

    // b takes it now; a, which held it before, cannot release it by name.
    ASSERT_TRUE(b.acquire_lock("job", {.ttl = 60s, .worker_id = "b"}));
    EXPECT_EQ(a.release_lock("job"), LockRelease::not_held);
    EXPECT_TRUE(a.is_locked("job"));
    EXPECT_EQ(json::parse(this->store.get(b.lock_key("job"))->body)["workerId"], "b");
    EXPECT_EQ(b.release_lock("job"), LockRelease::released);
    EXPECT_FALSE(b.is_locked("job"));
}

TYPED_TEST(PluginStorageOn, ReleaseByNameOfALockTakenOverAfterExpiryIsLostAndChangesNothing) {
    PluginStorage a = this->other("my-plugin");
    PluginStorage b = this->other("my-plugin");
    ASSERT_TRUE(a.acquire_lock("job", {.ttl = 10s, .worker_id = "a"}));
    this->clock.advance(11s);
    ASSERT_TRUE(b.acquire_lock("job", {.ttl = 60s, .worker_id = "b"}));  // takes the expired lock over

    EXPECT_EQ(a.release_lock("job"), LockRelease::lost);
    EXPECT_TRUE(b.is_locked("job"));
    EXPECT_EQ(json::parse(this->store.get(b.lock_key("job"))->body)["workerId"], "b");
    EXPECT_EQ(a.release_lock("job"), LockRelease::not_held);  // forgotten once lost

    // An extended lock is released by name at its new version; a copy of the holder is the holder.
    this->clock.advance(50s);
    auto held = b.acquire_lock("other", {.ttl = 10s});
    ASSERT_TRUE(held);
    EXPECT_TRUE(b.extend_lock(*held, 60s));
    Lock stale = *held;
    ASSERT_TRUE(b.extend_lock(*held, 60s));
    EXPECT_FALSE(b.release_lock(stale));  // an older version of it: refused, and b still holds the newer
    EXPECT_TRUE(b.is_locked("other"));
    PluginStorage copy = b;
    EXPECT_EQ(copy.release_lock("other"), LockRelease::released);
    EXPECT_EQ(b.release_lock("other"), LockRelease::not_held);
    EXPECT_FALSE(b.is_locked("other"));
    EXPECT_EQ(b.release_lock("job"), LockRelease::released);

    // with_lock releases what it took: nothing is left to release by name.
    EXPECT_TRUE(a.with_lock("scoped", {}, [] {}));
    EXPECT_EQ(a.release_lock("scoped"), LockRelease::not_held);
    EXPECT_FALSE(a.is_locked("scoped"));
}

TYPED_TEST(PluginStorageOn, LocksExcludeEachOtherUnderContention) {
    std::atomic<int> inside{0}, overlaps{0}, done{0};
    std::vector<std::thread> workers;
    for (int w = 0; w < 4; ++w)
        workers.emplace_back([&] {
            for (int i = 0; i < 4; ++i) {
                bool ran = this->storage.with_lock("critical", {.ttl = 300s, .timeout = 60s}, [&] {
                    if (inside.fetch_add(1) != 0) ++overlaps;
                    std::this_thread::sleep_for(5ms);
                    inside.fetch_sub(1);
                    ++done;
                });
                EXPECT_TRUE(ran);
            }
        });
    for (auto& t : workers) t.join();
    EXPECT_EQ(overlaps, 0);
    EXPECT_EQ(done, 16);
    EXPECT_FALSE(this->storage.is_locked("critical"));
    EXPECT_EQ(this->storage.with_lock("critical", {}, [] { return 42; }), 42);
}

// ---- isolation, listing, purge ----

TYPED_TEST(PluginStorageOn, PluginsAndResourcesAreIsolated) {
    auto cache = this->other("cache");
    this->storage.set(this->storage.plugin_key("users", "cache", "u1"), {{"n", 1}});
    this->storage.set(this->storage.plugin_key("orders", "cache", "o1"), {{"n", 2}});
    this->storage.set(this->storage.plugin_key(std::nullopt, "cache", "g1"), {{"n", 3}});
    cache.set(cache.plugin_key("users", "cache", "u1"), {{"n", 4}});

    EXPECT_EQ(this->storage.list_for_resource("users"),
              (std::vector<std::string>{"resource=users/plugin=my-plugin/cache/u1"}));
    EXPECT_EQ(this->storage.list_for_resource("users", "cache/u"),
              (std::vector<std::string>{"resource=users/plugin=my-plugin/cache/u1"}));
    EXPECT_EQ(this->storage.list(), (std::vector<std::string>{"plugin=my-plugin/cache/g1"}));
    EXPECT_EQ(cache.list_for_resource("users"), (std::vector<std::string>{"resource=users/plugin=cache/cache/u1"}));
    EXPECT_EQ(cache.get(cache.plugin_key("users", "cache", "u1")), (json{{"n", 4}}));
    EXPECT_THROW(cache.get(this->storage.plugin_key("users", "cache", "u1")), PluginStorageError);

    EXPECT_EQ(this->storage.remove_all("users"), 1u);
    EXPECT_EQ(this->storage.list_for_resource("users"), std::vector<std::string>{});
    EXPECT_EQ(this->storage.list_for_resource("orders").size(), 1u);
    EXPECT_EQ(this->storage.list().size(), 1u);
    EXPECT_EQ(cache.list_for_resource("users").size(), 1u);
}

TYPED_TEST(PluginStorageOn, RemoveAllPurgesEveryKeyOfThePluginAndNothingElse) {
    auto cache = this->other("cache");
    this->storage.set("config", {{"a", 1}});
    this->storage.set("session:abc", {{"a", 1}}, {.ttl = 60s});
    ASSERT_TRUE(this->storage.acquire_lock("job"));
    this->storage.set(this->storage.plugin_key("users", "cache", "u1"), {{"a", 1}});
    this->storage.set(this->storage.plugin_key("users", "cache", "u2"), {{"a", 1}});
    this->storage.set(this->storage.plugin_key("orders", "x"), {{"a", 1}});
    cache.set("config", {{"a", 1}});
    cache.set(cache.plugin_key("users", "cache", "u1"), {{"a", 1}});
    this->store.put("resource=users/data/id=u1", "", {});
    this->store.put("resource=users/partition=byRegion/region=eu/id=u1", "", {});
    this->store.put("s3db.json", "{}", {});

    auto before = this->store.counts();
    EXPECT_EQ(this->storage.remove_all(), 6u);
    // One listing of the plugin's space, one of the resources' names, one per resource, one delete.
    EXPECT_EQ(this->since(before), (RequestCounts{.remove_many = 1, .list = 4}));
    EXPECT_EQ(this->storage.list(), std::vector<std::string>{});
    EXPECT_EQ(this->storage.list_for_resource("users"), std::vector<std::string>{});
    EXPECT_FALSE(this->storage.is_locked("job"));
    EXPECT_EQ(cache.list().size(), 1u);
    EXPECT_EQ(cache.list_for_resource("users").size(), 1u);
    EXPECT_TRUE(this->store.head("resource=users/data/id=u1"));
    EXPECT_TRUE(this->store.head("resource=users/partition=byRegion/region=eu/id=u1"));
    EXPECT_TRUE(this->store.head("s3db.json"));
    EXPECT_EQ(this->storage.remove_all(), 0u);
}

TYPED_TEST(PluginStorageOn, BatchesReportEachItem) {
    std::vector<BatchPutItem> items{{"item-1", {{"value", 1}}},
                                    {"item-2", {{"value", 2}}, {.behavior = StorageBehavior::body_only}},
                                    {"plugin=someone-else/x", {{"value", 3}}},
                                    {"item-4", json::array()}};
    auto put = this->storage.batch_put(items);
    ASSERT_EQ(put.size(), 4u);
    EXPECT_TRUE(put[0].ok);
    EXPECT_TRUE(put[1].ok);
    EXPECT_FALSE(put[2].ok);
    EXPECT_NE(put[2].error.find("outside this plugin's space"), std::string::npos);
    EXPECT_FALSE(put[3].ok);
    EXPECT_EQ(put[3].key, "item-4");

    auto got = this->storage.batch_get(std::vector<std::string>{"item-1", "item-2", "missing", ""});
    ASSERT_EQ(got.size(), 4u);
    EXPECT_TRUE(got[0].ok);
    EXPECT_EQ(got[0].data, (json{{"value", 1}}));
    EXPECT_EQ(got[1].data, (json{{"value", 2}}));
    EXPECT_TRUE(got[2].ok);
    EXPECT_EQ(got[2].data, std::nullopt);
    EXPECT_FALSE(got[3].ok);
}

TEST(PluginStorageListing, PagesPastAThousandKeys) {
    Counting<Memory> store{Memory(MemoryOptions{.prefix = "p/"})};
    PluginStorage s(store, "bulk");
    std::vector<BatchPutItem> items;
    for (int i = 0; i < 2500; ++i) {
        char name[16];
        std::snprintf(name, sizeof name, "k%05d", i);
        items.push_back({s.plugin_key(i % 2 ? std::optional<std::string_view>("users") : std::nullopt, name), {{"i", i}}});
    }
    for (auto& r : s.batch_put(items)) ASSERT_TRUE(r.ok) << r.error;

    auto before = store.counts();
    auto global = s.list();
    EXPECT_EQ(global.size(), 1250u);
    EXPECT_EQ(store.counts() - before, (RequestCounts{.list = 2}));
    EXPECT_TRUE(std::is_sorted(global.begin(), global.end()));
    EXPECT_EQ(global.front(), "plugin=bulk/k00000");

    before = store.counts();
    auto limited = s.list_for_resource("users", "", {.limit = 1100});
    EXPECT_EQ(limited.size(), 1100u);
    EXPECT_EQ(store.counts() - before, (RequestCounts{.list = 2}));
    EXPECT_EQ(s.list_for_resource("users").size(), 1250u);
    EXPECT_EQ(s.list("k0000").size(), 5u);  // k00000, k00002, ... k00008

    before = store.counts();
    EXPECT_EQ(s.remove_all(), 2500u);
    EXPECT_EQ((store.counts() - before).remove_many, 3u);
    EXPECT_TRUE(store.list({}).objects.empty());
}
