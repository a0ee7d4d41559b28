// The Replicator: inserts, updates and deletes reach another s3db database (end state equal to the
// source and to a model), on Memory and Filesystem; a target that fails then recovers; resources
// created after install; mappings (rename, transform, per action, several destinations); the webhook
// against a loopback server (body, batches, retries on 503/429 honouring Retry-After, HMAC); a process killed with SIGKILL
// in the middle of 1,000 writes, then replayed; the requests each write adds; a full queue.

#include <gtest/gtest.h>


#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "s3db/s3db.hpp"
#include "s3db/detail/hashing.hpp"
#include "s3db/plugins/replicator.hpp"
#include "support/http_server.hpp"
#include "support/kill_midway.hpp"
#include "support/stores.hpp"

using namespace s3db;
using namespace std::chrono_literals;

namespace {

ResourceConfig users_config() {
    return {.name = "users",
            .attributes = {{"name", "string|required"}, {"region", "string|optional"}, {"visits", "number|optional"}},
            .behavior = "body-overflow",
            .partitions = {{"byRegion", {{"fields", {{"region", "string"}}}}}}};
}

ReplicatorOptions fast(ReplicatorOptions o = {}) {
    o.retry_delay = 5ms;
    o.max_retry_delay = 40ms;
    return o;
}

/// Every record of `resource`, by id.
template <class Db>
std::map<std::string, json> records_of(Db& db, const std::string& resource) {
    std::map<std::string, json> out;
    if (!db.has_resource(resource)) return out;
    for (auto& r : db.resource(resource).list()) out[r.at("id").template get<std::string>()] = r;
    return out;
}

/// Random inserts, updates and deletes on `users`, mirrored in `model`.
template <class Res>
void random_writes(Res& users, std::map<std::string, json>& model, int n, unsigned seed) {
    std::mt19937 rng(seed);
    const char* regions[] = {"eu", "us", "br"};
    for (int i = 0; i < n; ++i) {
        const int op = model.empty() ? 0 : static_cast<int>(rng() % 3);
        if (op == 0) {
            json r = {{"id", "u" + std::to_string(seed) + "-" + std::to_string(i)},
                      {"name", "name" + std::to_string(i)},
                      {"region", regions[rng() % 3]}};
            model[r["id"]] = users.insert(r);
        } else {
            auto it = std::next(model.begin(), static_cast<long>(rng() % model.size()));
            const std::string id = it->first;
            if (op == 1) {
                model[id] = users.update(id, {{"visits", static_cast<int>(rng() % 100)}, {"region", regions[rng() % 3]}});
            } else {
                users.remove(id);
                model.erase(id);
            }
        }
    }
}

template <class T>
class ReplicatorOn : public ::testing::Test {};
using Stores = ::testing::Types<Memory, Filesystem>;
TYPED_TEST_SUITE(ReplicatorOn, Stores, test::StoreNames);

TYPED_TEST(ReplicatorOn, InsertsUpdatesDeletesReachAnotherDatabase) {
    using T = TypeParam;
    BasicDatabase<Counting<T>> target{Counting<T>(test::make_store<T>())};
    target.connect();
    using R = Replicator<S3dbTarget>;
    ReplicatorOptions o = fast();
    o.workers = 3;  // records spread over three queues; each record's changes stay in order
    BasicDatabase<Counting<T>, R> db(Counting<T>(test::make_store<T>()), {}, R(o, S3dbTarget(target)));
    db.connect();
    auto& users = db.create_resource(users_config());
    std::map<std::string, json> model;
    random_writes(users, model, 300, 1);
    ASSERT_TRUE(db.template plugin<R>().wait_idle());

    EXPECT_EQ(records_of(db, "users"), model);
    EXPECT_EQ(records_of(target, "users"), model);
    // The destination has the source's definition (its partitions too).
    EXPECT_EQ(target.resource("users").partitions().partitions().size(), 1u);
    auto st = db.template plugin<R>().stats();
    EXPECT_EQ(st.replicated, 300u);
    EXPECT_EQ(st.failed, 0u);
    EXPECT_TRUE(db.template plugin<R>().logs().empty()) << "delivered entries are deleted from the log";
}

TYPED_TEST(ReplicatorOn, ReplayingTwiceLeavesTheSameState) {
    using T = TypeParam;
    BasicDatabase<T> target{test::make_store<T>()};
    target.connect();
    using R = Replicator<S3dbTarget>;
    BasicDatabase<T, R> db(test::make_store<T>(), {}, R(fast(), S3dbTarget(target)));
    db.connect();
    auto& users = db.create_resource(users_config());
    std::map<std::string, json> model;
    random_writes(users, model, 60, 2);
    auto& rep = db.template plugin<R>();
    ASSERT_TRUE(rep.wait_idle());
    // A full copy twice over what is there already: the same records, nothing doubled.
    EXPECT_EQ(rep.sync_all("users"), model.size());
    EXPECT_EQ(rep.sync_all(), model.size());
    ASSERT_TRUE(rep.wait_idle());
    EXPECT_EQ(records_of(target, "users"), model);
}

TEST(Replicator, WritesAddOneLogPutAndTheTargetsOwnWrites) {
    BasicDatabase<Counting<Memory>> target{Counting<Memory>(test::make_store<Memory>())};
    target.connect();
    using R = Replicator<S3dbTarget>;
    ReplicatorOptions o = fast();
    o.batch_size = 50;
    BasicDatabase<Counting<Memory>, R> db(Counting<Memory>(test::make_store<Memory>()), {}, R(o, S3dbTarget(target)));
    db.connect();
    auto& notes = db.create_resource({.name = "notes", .attributes = {{"text", "string"}}});
    BasicDatabase<Counting<Memory>> plain{Counting<Memory>(test::make_store<Memory>())};
    plain.connect();
    auto& plain_notes = plain.create_resource({.name = "notes", .attributes = {{"text", "string"}}});
    // The first write creates the destination resource: not counted.
    notes.insert({{"id", "warm"}, {"text", "x"}});
    ASSERT_TRUE(db.plugin<R>().wait_idle());

    const int n = 200;
    auto src0 = db.transport().counts();
    auto tgt0 = target.transport().counts();
    auto plain0 = plain.transport().counts();
    for (int i = 0; i < n; ++i) {
        notes.insert({{"id", "n" + std::to_string(i)}, {"text", "t"}});
        plain_notes.insert({{"id", "n" + std::to_string(i)}, {"text", "t"}});
    }
    ASSERT_TRUE(db.plugin<R>().wait_idle());
    auto src = db.transport().counts() - src0;
    auto tgt = target.transport().counts() - tgt0;
    auto own = plain.transport().counts() - plain0;
    // Added on the source: 1 log PUT per write, deletes of delivered entries batched, no GET.
    EXPECT_EQ(src.put - own.put, static_cast<std::uint64_t>(n));
    EXPECT_EQ(src.get, own.get);
    EXPECT_EQ(src.head, own.head);
    // Entries delivered within the flush interval go in one DeleteObjects (a DELETE for one key).
    EXPECT_EQ(src.remove + src.remove_many, 1u);
    // On the target: its own writes only (1 PUT per record, no reads).
    EXPECT_EQ(tgt.put, static_cast<std::uint64_t>(n));
    EXPECT_EQ(tgt.get + tgt.head + tgt.list, 0u);
    std::printf("[ counts ] per source insert: +%.3f PUT (log), +%.3f DeleteObjects (log), target %.3f PUT\n",
                double(src.put - own.put) / n, double(src.remove + src.remove_many) / n, double(tgt.put) / n);

    // Updates and deletes: the same, and no read of the record (a delete is replicated by id).
    src0 = db.transport().counts();
    tgt0 = target.transport().counts();
    plain0 = plain.transport().counts();
    for (int i = 0; i < n; ++i) {
        const std::string id = "n" + std::to_string(i);
        if (i % 2) {
            notes.update(id, {{"text", "u"}});
            plain_notes.update(id, {{"text", "u"}});
        } else {
            notes.remove(id);
            plain_notes.remove(id);
        }
    }
    ASSERT_TRUE(db.plugin<R>().wait_idle());
    src = db.transport().counts() - src0;
    tgt = target.transport().counts() - tgt0;
    own = plain.transport().counts() - plain0;
    EXPECT_EQ(src.put - own.put, static_cast<std::uint64_t>(n));
    EXPECT_EQ(src.get, own.get);
    EXPECT_EQ(src.head, own.head);
    EXPECT_EQ(src.remove - own.remove + src.remove_many - own.remove_many, 1u);
    EXPECT_EQ(tgt.put, static_cast<std::uint64_t>(n / 2));
    EXPECT_EQ(tgt.remove, static_cast<std::uint64_t>(n / 2));
    EXPECT_EQ(tgt.get + tgt.head + tgt.list, 0u);
    std::printf("[ counts ] per source update/delete: +%.3f PUT (log), +%.3f DeleteObjects (log), target %.3f requests\n",
                double(src.put - own.put) / n, double(src.remove - own.remove + src.remove_many - own.remove_many) / n,
                double(tgt.total()) / n);
}

/// A target that fails its first `failures` deliveries, then writes through S3dbTarget.
struct FlakyTarget {
    S3dbTarget inner;
    std::shared_ptr<std::atomic<int>> failures = std::make_shared<std::atomic<int>>(0);
    std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
    std::shared_ptr<std::atomic<bool>> hung = std::make_shared<std::atomic<bool>>(false);  // deliver waits
    std::string target_name() const { return "flaky"; }
    const ResourceMap& resources() const { return inner.resources(); }
    void prepare(const std::string& d, const ResourceConfig& c) { inner.prepare(d, c); }
    void deliver(const std::vector<Delivery>& batch) {
        ++*calls;
        while (hung->load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        if (failures->fetch_sub(1) > 0) throw ReplicationError("flaky", batch[0].resource, batch[0].id, "503 Slow Down", true);
        inner.deliver(batch);
    }
};

TYPED_TEST(ReplicatorOn, ATargetThatFailsThenRecoversEndsEqual) {
    using T = TypeParam;
    BasicDatabase<T> target{test::make_store<T>()};
    target.connect();
    using R = Replicator<FlakyTarget>;
    FlakyTarget flaky{S3dbTarget(target)};
    auto failures = flaky.failures;
    failures->store(3);  // within retry_attempts (3)
    ReplicatorOptions o = fast();
    o.batch_size = 1000;
    BasicDatabase<T, R> db(test::make_store<T>(), {}, R(o, flaky));
    std::vector<json> errors;
    std::mutex m;
    db.on_plugin_event("replicator.replication_error", [&](std::string_view, const json& e) {
        std::lock_guard lock(m);
        errors.push_back(e);
    });
    db.connect();
    auto& users = db.create_resource(users_config());
    auto& rep = db.template plugin<R>();
    std::map<std::string, json> model;
    random_writes(users, model, 40, 3);
    ASSERT_TRUE(rep.wait_idle());
    EXPECT_EQ(records_of(target, "users"), model);
    EXPECT_GE(rep.stats().retries, 3u);
    EXPECT_EQ(rep.stats().failed, 0u);

    // Dead for longer than the retries: entries are marked failed, events sent, nothing lost.
    failures->store(1'000'000);
    random_writes(users, model, 30, 4);
    ASSERT_TRUE(rep.wait_idle());
    EXPECT_GT(rep.stats().failed, 0u);
    EXPECT_NE(records_of(target, "users"), model);
    {
        std::lock_guard lock(m);
        ASSERT_FALSE(errors.empty());
        EXPECT_EQ(errors[0]["target"], "flaky");
    }
    auto logs = rep.logs();
    ASSERT_FALSE(logs.empty());
    EXPECT_TRUE(std::any_of(logs.begin(), logs.end(), [](const json& e) { return e["status"] == "failed"; }));
    for (auto& e : logs)
        for (const char* f : {"id", "replicator", "resource", "action", "timestamp", "createdAt", "status"})
            EXPECT_TRUE(e.contains(f)) << f;

    // Back: retry_failed() replays from the source's state.
    failures->store(0);
    EXPECT_GT(rep.retry_failed(), 0u);
    ASSERT_TRUE(rep.wait_idle());
    EXPECT_EQ(records_of(target, "users"), model);
    EXPECT_TRUE(rep.logs().empty());
}

TEST(Replicator, ResourcesCreatedAfterInstallReplicate) {
    BasicDatabase<Memory> target{test::make_store<Memory>()};
    target.connect();
    using R = Replicator<S3dbTarget>;
    auto store = test::make_store<Memory>();
    {
        BasicDatabase<Memory> before{store};
        before.connect();
        before.create_resource({.name = "early", .attributes = {{"v", "number"}}});
    }
    BasicDatabase<Memory, R> db(store, {}, R(fast(), S3dbTarget(target)));
    db.connect();  // the plugin installs here; "late" comes after
    auto& late = db.create_resource({.name = "late", .attributes = {{"v", "number"}}});
    late.insert({{"id", "a"}, {"v", 1}});
    db.resource("early").insert({{"id", "b"}, {"v", 2}});
    ASSERT_TRUE(db.plugin<R>().wait_idle());
    EXPECT_EQ(records_of(target, "late"), records_of(db, "late"));
    EXPECT_EQ(records_of(target, "early"), records_of(db, "early"));
    EXPECT_EQ(records_of(target, "late").size(), 1u);
}

TEST(Replicator, TwoTargetsOfOneKindAreEachPrepared) {
    // Both targets are named "s3db": each still creates its own destination resource.
    BasicDatabase<Memory> first{test::make_store<Memory>()}, second{test::make_store<Memory>()};
    first.connect();
    second.connect();
    using R = Replicator<S3dbTarget, S3dbTarget>;
    BasicDatabase<Memory, R> db(test::make_store<Memory>(), {}, R(fast(), S3dbTarget(first), S3dbTarget(second)));
    db.connect();
    auto& items = db.create_resource({.name = "items", .attributes = {{"v", "number"}}});
    items.insert({{"id", "a"}, {"v", 1}});
    items.insert({{"id", "b"}, {"v", 2}});
    ASSERT_TRUE(db.plugin<R>().wait_idle());
    EXPECT_EQ(records_of(first, "items"), records_of(db, "items"));
    EXPECT_EQ(records_of(second, "items"), records_of(db, "items"));
    EXPECT_EQ(records_of(second, "items").size(), 2u);
}

TEST(Replicator, MappingRenamesTransformsAndFiltersActions) {
    BasicDatabase<Memory> target{test::make_store<Memory>()};
    target.connect();
    ResourceMap map = ResourceMap::renamed({{"users", "people"}});
    map.add("users", {.resource = "shouts",
                      .transform = [](const json& r) {
                          json out = r;
                          out["name"] = r.value("name", std::string{}) + "!";
                          return out;
                      }})
        .add("users", {.resource = "signups", .actions = {"insert"}})
        .add("users", {.resource = "only_eu",
                       .transform = [](const json& r) { return r.value("region", "") == "eu" ? r : json(); }});
    using R = Replicator<S3dbTarget>;
    BasicDatabase<Memory, R> db(test::make_store<Memory>(), {}, R(fast(), S3dbTarget(target, map)));
    db.connect();
    auto& users = db.create_resource(users_config());
    auto& orders = db.create_resource({.name = "orders", .attributes = {{"item", "string"}}});
    users.insert({{"id", "a"}, {"name", "ana"}, {"region", "eu"}});
    users.insert({{"id", "b"}, {"name", "bo"}, {"region", "us"}});
    users.update("a", {{"name", "ana2"}});
    users.remove("b");
    orders.insert({{"id", "o1"}, {"item", "x"}});  // not mapped
    ASSERT_TRUE(db.plugin<R>().wait_idle());

    EXPECT_EQ(records_of(target, "people"), records_of(db, "users"));
    EXPECT_FALSE(target.has_resource("users"));
    EXPECT_FALSE(target.has_resource("orders"));
    auto shouts = records_of(target, "shouts");
    ASSERT_EQ(shouts.size(), 1u);
    EXPECT_EQ(shouts["a"]["name"], "ana2!");
    auto signups = records_of(target, "signups");  // inserts only: b stays, a keeps its first name
    ASSERT_EQ(signups.size(), 2u);
    EXPECT_EQ(signups["a"]["name"], "ana");
    EXPECT_EQ(signups["b"]["name"], "bo");
    auto eu = records_of(target, "only_eu");
    ASSERT_EQ(eu.size(), 1u);
    EXPECT_TRUE(eu.count("a"));
    EXPECT_EQ(ResourceMap::only({"users"}).route("orders").size(), 0u);
    EXPECT_EQ(ResourceMap::only({"users"}).route("users").at(0).resource, "users");
    EXPECT_TRUE(ResourceMap::all().routes("anything"));
    EXPECT_FALSE(ResourceMap::all().routes("plg_audits"));
}

TEST(Replicator, WebhookPostsSignedBatchesAndRetriesOn503And429) {
    test::StatusScript statuses({503, 429});  // the first POST fails twice, then 200
    test::HttpServer server(statuses.handler());
    using R = Replicator<WebhookTarget>;
    ReplicatorOptions o = fast();
    o.batch_size = 10;
    WebhookTarget hook({.url = server.url("/hook"), .secret = "s3cr3t", .headers = {{"X-Team", "core"}}}, ResourceMap::only({"users"}));
    BasicDatabase<Memory, R> db(test::make_store<Memory>(), {}, R(o, hook));
    db.connect();
    auto& users = db.create_resource(users_config());
    // Held back until all five are queued, so they go in one batch.
    std::vector<json> rows;
    for (int i = 0; i < 5; ++i) rows.push_back({{"id", "w" + std::to_string(i)}, {"name", "n"}, {"region", "eu"}});
    for (auto& r : rows) users.insert(r);
    users.remove("w0");
    ASSERT_TRUE(db.plugin<R>().wait_idle());
    auto reqs = server.requests();
    ASSERT_GE(reqs.size(), 3u);
    std::size_t items = 0;
    std::vector<std::string> actions;
    for (std::size_t i = 0; i < reqs.size(); ++i) {
        auto& r = reqs[i];
        EXPECT_EQ(r.method, "POST");
        EXPECT_EQ(r.path, "/hook");
        EXPECT_EQ(r.headers["content-type"], "application/json");
        EXPECT_EQ(r.headers["x-team"], "core");
        EXPECT_EQ(r.headers["x-s3db-signature"], "sha256=" + detail::to_hex(detail::hmac_sha256("s3cr3t", r.body)));
        json body = json::parse(r.body);
        ASSERT_TRUE(body.contains("batch"));
        if (i < 2) continue;  // the two refused attempts (their batch is sent again)
        for (auto& it : body["batch"]) {
            ++items;
            actions.push_back(it["action"]);
            EXPECT_EQ(it["source"], "s3db-replicator");
            EXPECT_EQ(it["resource"], "users");
            if (it["action"] == "insert") EXPECT_EQ(it["data"]["name"], "n");
            else EXPECT_TRUE(it["data"].is_null());
        }
    }
    EXPECT_EQ(json::parse(reqs[0].body), json::parse(reqs[2].body)) << "a retry sends the same batch";
    EXPECT_EQ(items, 6u);
    EXPECT_EQ(actions.back(), "delete");
    EXPECT_LT(reqs.size(), 2u + 6u) << "changes were batched";
    EXPECT_EQ(db.plugin<R>().stats().retries, 2u);

    // A 4xx other than 429 is not retried: marked failed at once.
    statuses.add({400});
    users.insert({{"id", "bad"}, {"name", "n"}});
    ASSERT_TRUE(db.plugin<R>().wait_idle());
    EXPECT_EQ(db.plugin<R>().stats().failed, 1u);
    EXPECT_EQ(server.requests().size(), reqs.size() + 1);
    auto logs = db.plugin<R>().logs();
    ASSERT_EQ(logs.size(), 1u);
    EXPECT_EQ(logs[0]["status"], "failed");
    EXPECT_NE(logs[0]["error"].get<std::string>().find("HTTP 400"), std::string::npos);
    EXPECT_EQ(logs[0]["error"].get<std::string>().find("s3cr3t"), std::string::npos);
}

TEST(Replicator, WebhookHonoursRetryAfterSecondsAndDatesCappedByTheMaxBackoff) {
    // The wait is read from the server's arrival times: a lower bound (a loaded machine only makes
    // the gap longer) where Retry-After is honoured, a generous upper one where it is capped.
    using Clock = std::chrono::steady_clock;
    auto http_date = [](std::chrono::system_clock::time_point t) {
        const std::time_t tt = std::chrono::system_clock::to_time_t(t);
        std::tm tm{};
        gmtime_r(&tt, &tm);
        char buf[64];
        std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        return std::string(buf);
    };
    const auto now = std::chrono::system_clock::now();
    EXPECT_EQ(detail::retry_after_wait(" 3 ", now), 3000ms);
    EXPECT_EQ(detail::retry_after_wait("soon", now), std::nullopt);
    EXPECT_EQ(detail::retry_after_wait(http_date(now - 1h), now), 0ms);
    const auto in_ten = detail::retry_after_wait(http_date(now + 10s), now);
    ASSERT_TRUE(in_ten);
    EXPECT_GT(*in_ten, 8900ms);
    EXPECT_LE(*in_ten, 10000ms);

    test::StatusScript script;
    test::HttpServer server(script.handler());
    using R = Replicator<WebhookTarget>;
    ReplicatorOptions o;
    o.retry_delay = 1ms;  // the backoff alone would retry at once
    o.max_retry_delay = 5s;
    o.retry_attempts = 5;
    // No replay at start: on a loaded machine it can begin after the first insert and send it
    // again (at-least-once, harmless elsewhere), which would shift the requests compared here.
    o.replay_on_start = false;
    BasicDatabase<Memory, R> db(test::make_store<Memory>(), {}, R(o, WebhookTarget({.url = server.url("/hook")})));
    db.connect();
    auto& users = db.create_resource(users_config());
    auto gap = [&](std::size_t from) {
        auto reqs = server.requests();
        EXPECT_EQ(reqs.size(), from + 2);
        return std::chrono::duration_cast<std::chrono::milliseconds>(reqs.at(from + 1).received - reqs.at(from).received);
    };

    script.add(429, {"Retry-After: 1"});
    users.insert({{"id", "a"}, {"name", "n"}});
    ASSERT_TRUE(db.plugin<R>().wait_idle());
    const auto seconds_gap = gap(0);
    EXPECT_GE(seconds_gap, 950ms) << "Retry-After: 1 (seconds)";

    script.add(503, {"Retry-After: " + http_date(std::chrono::system_clock::now() + 3s)});  // 2 to 3 s from now
    users.insert({{"id", "b"}, {"name", "n"}});
    ASSERT_TRUE(db.plugin<R>().wait_idle());
    const auto date_gap = gap(2);
    EXPECT_GE(date_gap, 1900ms) << "Retry-After as an HTTP date";

    // An hour asked, the cap (max_retry_delay, here 300 ms) given.
    ReplicatorOptions capped = o;
    capped.max_retry_delay = 300ms;
    BasicDatabase<Memory, R> db2(test::make_store<Memory>(), {}, R(capped, WebhookTarget({.url = server.url("/hook")})));
    db2.connect();
    auto& users2 = db2.create_resource(users_config());
    script.add(429, {"Retry-After: 3600"});
    const auto started = Clock::now();
    users2.insert({{"id", "c"}, {"name", "n"}});
    ASSERT_TRUE(db2.plugin<R>().wait_idle(60s));
    const auto capped_gap = gap(4);
    EXPECT_GE(capped_gap, 280ms);
    EXPECT_LT(Clock::now() - started, 30s) << "capped, not an hour";
    EXPECT_EQ(db2.plugin<R>().stats().replicated, 1u);
    std::printf("Retry-After gaps: seconds %lld ms, date %lld ms, capped %lld ms\n", (long long)seconds_gap.count(),
                (long long)date_gap.count(), (long long)capped_gap.count());
}

TEST(Replicator, ErrorsNeverPrintTheUrlsCredentials) {
    EXPECT_EQ(detail::redacted_url("https://user:pw@hooks.example.com/in?token=abc"), "https://hooks.example.com/in");
    EXPECT_EQ(detail::redacted_url("http://127.0.0.1:9/x"), "http://127.0.0.1:9/x");
}

TEST(Replicator, AFullQueueKeepsChangesInTheLogAndReplaysThem) {
    BasicDatabase<Memory> target{test::make_store<Memory>()};
    target.connect();
    using R = Replicator<FlakyTarget>;
    FlakyTarget slow{S3dbTarget(target)};
    ReplicatorOptions o = fast();
    o.queue_capacity = 2;
    o.batch_size = 1;
    o.overflow_capacity = 3;
    BasicDatabase<Memory, R> db(test::make_store<Memory>(), {}, R(o, slow));
    db.connect();
    auto& users = db.create_resource(users_config());
    // A target that never answers does not hold the writes: they all return while its one
    // delivery hangs (were a write waiting on it, this test would never finish).
    slow.hung->store(true);
    std::map<std::string, json> model;
    random_writes(users, model, 40, 5);
    auto& rep = db.plugin<R>();
    EXPECT_GT(rep.stats().overflowed, 0u);
    EXPECT_LE(slow.calls->load(), static_cast<int>(o.workers));  // each worker stuck in one delivery
    slow.hung->store(false);
    ASSERT_TRUE(rep.wait_idle());
    rep.replay_pending();  // what neither the queue nor the overflow list held
    ASSERT_TRUE(rep.wait_idle());
    EXPECT_EQ(records_of(target, "users"), model);
    EXPECT_TRUE(rep.logs().empty());
}

// ---- crash: SIGKILL in the middle of 1,000 writes ---------------------------------------------------

/// The crash proof on any store two processes share: a child replicating 1000 random writes is
/// killed midway; a restart replays the log, and then the target equals the source.
template <class T, class MakeSource, class MakeTarget>
void killed_midway_loses_nothing(MakeSource source_store, MakeTarget target_store) {
    using R = Replicator<S3dbTarget>;
    {
        BasicDatabase<T> setup{source_store()};
        setup.connect();
        setup.create_resource(users_config());
    }
    const auto acked = test::kill_midway(400, [&](const std::function<bool()>& ack) {
        BasicDatabase<T> target{target_store()};
        target.connect();
        ReplicatorOptions o = fast();
        o.batch_size = 5;
        BasicDatabase<T, R> db(source_store(), {}, R(o, S3dbTarget(target)));
        db.connect();
        auto& users = db.resource("users");
        std::map<std::string, json> model;
        std::mt19937 rng(7);
        for (int i = 0; i < 1000; ++i) {
            const int op = model.empty() ? 0 : static_cast<int>(rng() % 3);
            if (op == 0) {
                std::string id = "k" + std::to_string(i);
                model[id] = users.insert({{"id", id}, {"name", "n"}, {"region", "eu"}});
            } else {
                auto it = std::next(model.begin(), static_cast<long>(rng() % model.size()));
                std::string id = it->first;
                if (op == 1) model[id] = users.update(id, {{"visits", i}});
                else {
                    users.remove(id);
                    model.erase(id);
                }
            }
            if (!ack()) break;
        }
    });
    ASSERT_TRUE(acked);
    const int done = *acked;

    std::size_t pending = 0;
    bool diverged = false;
    {
        BasicDatabase<T> src{source_store()}, tgt{target_store()};
        src.connect();
        tgt.connect();
        pending = src.resource("plg_replicator_logs").count();
        diverged = records_of(src, "users") != records_of(tgt, "users");
    }
    BasicDatabase<T> target{target_store()};
    target.connect();
    BasicDatabase<T, R> db(source_store(), {}, R(fast(), S3dbTarget(target)));
    db.connect();  // replays the log's pending entries against the source's state
    auto& rep = db.template plugin<R>();
    ASSERT_TRUE(rep.wait_idle());
    auto source = records_of(db, "users");
    EXPECT_GE(source.size(), 1u);
    EXPECT_EQ(records_of(target, "users"), source);
    EXPECT_TRUE(rep.logs().empty());
    std::printf("[ crash  ] killed after %d acknowledged writes; %zu log entries pending, target %s the source; "
                "%llu records replayed; %zu records equal\n",
                done, pending, diverged ? "behind" : "equal to", static_cast<unsigned long long>(rep.stats().replayed),
                source.size());
}

TEST(Replicator, AProcessKilledMidwayLosesNothing) {
    const auto root = test::scratch_dir();
    const std::string src_prefix = test::next_prefix(), tgt_prefix = test::next_prefix();
    killed_midway_loses_nothing<Filesystem>([&] { return Filesystem(FilesystemOptions{.root = root, .prefix = src_prefix}); },
                                            [&] { return Filesystem(FilesystemOptions{.root = root, .prefix = tgt_prefix}); });
}

TEST(Replicator, AProcessKilledMidwayLosesNothingOnRgw) {
    const auto bucket = test::TestBucket::name();
    const std::string src_prefix = test::next_prefix(), tgt_prefix = test::next_prefix();
    killed_midway_loses_nothing<S3>([&] { return S3(test::s3_options(test::s3_under_test(), bucket, src_prefix)); },
                                    [&] { return S3(test::s3_options(test::s3_under_test(), bucket, tgt_prefix)); });
}

}  // namespace
