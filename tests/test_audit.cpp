// The Audit plugin: one record per write in s3db.js's `plg_audits` layout, every option, queries that
// read only their partition (request counts), truncation that really cuts, failures that stay the
// plugin's, writers that are not serialized, deferred setup, a second plugin alongside, uninstall
// with purge — on Memory, and on S3 (Ceph RGW).

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "s3db/s3db.hpp"
#include "s3db/plugins/audit.hpp"
#include "support/hooked_store.hpp"
#include "support/manual_clock.hpp"
#include "support/stores.hpp"

using namespace s3db;
using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;

namespace {

using MemDb = BasicDatabase<Counting<Memory>, Audit>;

Counting<Memory> memory_store() { return Counting<Memory>(test::make_store<Memory>()); }

/// Starts on 2024-03-01 09:00 UTC.
struct TestClock : test::ManualClock {
    TestClock() : ManualClock(at(2024, 3, 1, 9)) {}
};
Clock::time_point tp(std::int64_t ms) { return Clock::time_point(std::chrono::milliseconds(ms)); }

ResourceConfig users_config() {
    return {.name = "users",
            .attributes = {{"name", "string|required"}, {"region", "string|optional"}, {"note", "string|optional"},
                           {"visits", "number|optional"}},
            .behavior = "body-overflow",
            .partitions = {{"byRegion", {{"fields", {{"region", "string"}}}}}}};
}
ResourceConfig orders_config() {
    return {.name = "orders", .attributes = {{"item", "string|required"}, {"status", "string|optional"}},
            .partitions = {{"byStatus", {{"fields", {{"status", "string"}}}}}}};
}

json parsed(const json& log, const char* field) { return json::parse(log.at(field).get<std::string>()); }

std::vector<std::string> keys_under(auto& store, const std::string& prefix) {
    std::vector<std::string> keys;
    ListOptions o{.prefix = prefix};
    for (;;) {
        auto page = store.list(o);
        for (auto& e : page.objects) keys.push_back(e.key);
        if (!page.truncated()) return keys;
        o.continuation_token = page.next_continuation_token;
    }
}

/// Records the prefix of every LIST request.
struct ListSpy : Plugin<ListSpy> {
    static constexpr std::string_view name = "ListSpy";
    std::shared_ptr<std::mutex> m = std::make_shared<std::mutex>();
    std::shared_ptr<std::vector<std::string>> prefixes = std::make_shared<std::vector<std::string>>();
    void on_request(const RequestEvent& e) {
        if (e.command != "LIST") return;
        std::lock_guard lock(*m);
        prefixes->push_back(std::string(e.key));
    }
    std::vector<std::string> take() {
        std::lock_guard lock(*m);
        return std::exchange(*prefixes, {});
    }
};

/// A small read-through cache of `get`, dropped on every write: a second plugin next to the audit.
struct TinyCache : Plugin<TinyCache> {
    static constexpr std::string_view name = "TinyCache";
    struct State {
        std::mutex m;
        std::map<std::string, json> records;
        std::atomic<int> hits{0};
    };
    std::shared_ptr<State> s = std::make_shared<State>();
    template <class Next>
    json around_read(const ReadContext& r, Next& next) {
        if (r.operation != "get") return next();
        const std::string key = std::string(r.resource) + "/" + std::string(r.id);
        {
            std::lock_guard lock(s->m);
            if (auto it = s->records.find(key); it != s->records.end()) {
                ++s->hits;
                return it->second;
            }
        }
        json v = next();
        if (!v.is_null()) {
            std::lock_guard lock(s->m);
            s->records[key] = v;
        }
        return v;
    }
    void after_write(OperationContext& ctx) {
        std::lock_guard lock(s->m);
        s->records.erase(std::string(ctx.resource) + "/" + ctx.id);
    }
};

/// Memory with a hook in front of every PUT (to fail or hold the audit's writes).
using Hooked = test::Hooked<Memory>;
static_assert(Transport<Hooked>);

const std::string audit_data = "resource=plg_audits/data/";

}  // namespace

// ---- the resource -----------------------------------------------------------------------------------

TEST(Audit, InstallCreatesPlgAuditsWithS3dbJsFieldsPartitionsAndBehavior) {
    MemDb db(memory_store());
    db.connect();
    ASSERT_TRUE(db.has_resource("plg_audits"));
    auto catalogue = json::parse(db.store().get("s3db.json")->body);
    auto& entry = catalogue["resources"]["plg_audits"];
    auto& v = entry["versions"][entry["currentVersion"].get<std::string>()];
    std::set<std::string> fields;
    for (auto& [k, _] : v["attributes"].items()) fields.insert(k);
    EXPECT_EQ(fields, (std::set<std::string>{"id", "resourceName", "operation", "recordId", "userId", "timestamp",
                                             "createdAt", "oldData", "newData", "partition", "partitionValues",
                                             "metadata"}));
    for (auto& [k, rule] : v["attributes"].items()) EXPECT_TRUE(rule.get<std::string>().starts_with("string")) << k;
    EXPECT_EQ(v["behavior"], "body-overflow");
    EXPECT_EQ(v["partitions"], json::parse(R"({"byDate":{"fields":{"createdAt":"string|maxlength:10"}},
                                               "byResource":{"fields":{"resourceName":"string"}}})"));
}

TEST(Audit, ReconnectingAdoptsTheResourceWithoutRewritingTheCatalogue) {
    auto store = memory_store();
    Memory shared = store.inner();  // copies of a Memory share its bucket
    {
        MemDb db(std::move(store));
        db.connect();
    }
    MemDb again(Counting<Memory>{shared});
    again.connect();
    EXPECT_EQ(again.transport().counts().put, 0u);  // s3db.json untouched
    EXPECT_TRUE(again.has_resource("plg_audits"));
}

// ---- what a record holds ------------------------------------------------------------------------------

TEST(Audit, EachWriteLeavesOneRecordWithWhoWhatWhenAndTheData) {
    TestClock clock;
    MemDb db(memory_store(), {}, Audit({.clock = clock.fn()}));
    db.connect();
    auto& users = db.create_resource(users_config());
    auto& audit = db.plugin<Audit>();

    db.transport().reset();
    auto ada = users.insert({{"id", "ada"}, {"name", "Ada"}, {"region", "eu"}});
    // The user's PUT and its ref, then the audit record and its two refs (byDate, byResource).
    auto c = db.transport().counts();
    EXPECT_EQ(c.put, 5u);
    EXPECT_EQ(c.get + c.head + c.list, 0u);
    clock.advance(1000);
    users.update("ada", json{{"visits", 3}});
    clock.advance(1000);
    users.replace("ada", {{"name", "Ada L."}, {"region", "us"}});
    clock.advance(1000);
    users.remove("ada");
    EXPECT_EQ(audit.logged(), 4u);

    auto logs = audit.record_history("users", "ada");
    ASSERT_EQ(logs.size(), 4u);
    std::vector<std::string> ops;
    for (auto& l : logs) ops.push_back(l["operation"]);
    EXPECT_EQ(ops, (std::vector<std::string>{"insert", "update", "replace", "delete"}));
    for (auto& l : logs) {
        EXPECT_EQ(l["resourceName"], "users");
        EXPECT_EQ(l["recordId"], "ada");
        EXPECT_EQ(l["userId"], "system");
        EXPECT_EQ(l["createdAt"], "2024-03-01");
        EXPECT_EQ(parsed(l, "metadata"), json::parse(R"({"source":"audit-plugin","version":"2.0"})"));
        EXPECT_TRUE(l["id"].get<std::string>().starts_with("audit-"));
    }
    EXPECT_EQ(logs[0]["timestamp"], "2024-03-01T09:00:00.000Z");
    EXPECT_EQ(logs[3]["timestamp"], "2024-03-01T09:00:03.000Z");
    EXPECT_EQ(logs[0]["id"].get<std::string>().substr(0, 20), "audit-" + std::to_string(TestClock::at(2024, 3, 1, 9)) + "-");

    EXPECT_FALSE(logs[0].contains("oldData"));
    EXPECT_EQ(parsed(logs[0], "newData"), ada);
    EXPECT_EQ(parsed(logs[1], "oldData"), ada);
    EXPECT_EQ(parsed(logs[1], "newData")["visits"], 3);
    EXPECT_FALSE(logs[2].contains("oldData"));  // replace does not read what it overwrites
    EXPECT_EQ(parsed(logs[2], "newData")["region"], "us");
    EXPECT_EQ(parsed(logs[3], "oldData")["name"], "Ada L.");
    EXPECT_FALSE(logs[3].contains("newData"));
}

TEST(Audit, RemoveManyAuditsEachIdAsADelete) {
    MemDb db(memory_store());
    db.connect();
    auto& users = db.create_resource(users_config());
    for (auto id : {"a", "b", "c"}) users.insert({{"id", id}, {"name", id}});
    users.remove_many({"a", "b", "missing"});
    auto deletes = db.plugin<Audit>().logs_by_operation("delete", "users");
    ASSERT_EQ(deletes.size(), 2u);
    std::set<std::string> ids{deletes[0]["recordId"], deletes[1]["recordId"]};
    EXPECT_EQ(ids, (std::set<std::string>{"a", "b"}));
    EXPECT_EQ(parsed(deletes[0], "oldData")["name"], deletes[0]["recordId"]);
}

TEST(Audit, PartitionsOfTheAuditedRecordAreRecordedWhenIncluded) {
    auto store = memory_store();
    Memory shared = store.inner();
    MemDb db(std::move(store));
    db.connect();
    auto& users = db.create_resource(users_config());
    auto& orders = db.create_resource(orders_config());
    auto& plain = db.create_resource({.name = "notes", .attributes = {{"text", "string"}}});
    users.insert({{"id", "u1"}, {"name", "Ada"}, {"region", "eu"}});
    users.insert({{"id", "u2"}, {"name", "Bob"}});  // no region: no partition
    orders.insert({{"id", "o1"}, {"item", "book"}, {"status", "paid"}});
    plain.insert({{"id", "n1"}, {"text", "hi"}});
    auto& audit = db.plugin<Audit>();

    auto u1 = audit.record_history("users", "u1").at(0);
    EXPECT_EQ(u1["partition"], "byRegion");
    EXPECT_EQ(parsed(u1, "partitionValues"), json::parse(R"({"byRegion":{"region":"eu"}})"));
    EXPECT_FALSE(audit.record_history("users", "u2").at(0).contains("partition"));
    EXPECT_EQ(parsed(audit.record_history("orders", "o1").at(0), "partitionValues"),
              json::parse(R"({"byStatus":{"status":"paid"}})"));
    EXPECT_FALSE(audit.record_history("notes", "n1").at(0).contains("partitionValues"));

    // include_partitions = false, on the same bucket.
    MemDb off(Counting<Memory>{shared}, {}, Audit({.include_partitions = false}));
    off.connect();
    off.resource("users").update("u1", json{{"name", "Ada L."}});
    auto last = off.plugin<Audit>().logs(AuditQuery{.resource = "users", .record_id = "u1", .newest_first = true}).at(0);
    EXPECT_EQ(last["operation"], "update");
    EXPECT_FALSE(last.contains("partition"));
    EXPECT_FALSE(last.contains("partitionValues"));
}

TEST(Audit, IncludeDataFalseStoresNoData) {
    MemDb db(memory_store(), {}, Audit({.include_data = false}));
    db.connect();
    auto& users = db.create_resource(users_config());
    users.insert({{"id", "x"}, {"name", "Ada"}});
    users.update("x", json{{"name", "Ada L."}});
    for (auto& l : db.plugin<Audit>().record_history("users", "x")) {
        EXPECT_FALSE(l.contains("oldData"));
        EXPECT_FALSE(l.contains("newData"));
    }
    EXPECT_EQ(db.plugin<Audit>().record_history("users", "x").size(), 2u);
}

TEST(Audit, UserIdAndMetadataComeFromTheCallbacks) {
    static thread_local std::string current_user;
    std::atomic<int> metadata_calls{0};
    MemDb db(memory_store(), {},
             Audit({.get_user_id = [](const OperationContext&) { return current_user; },
                    .get_metadata = [&](const OperationContext& ctx) {
                        ++metadata_calls;
                        return json{{"ip", "10.0.0.7"}, {"op", ctx.operation}, {"version", "app-3"}};
                    }}));
    db.connect();
    auto& users = db.create_resource(users_config());
    current_user = "admin-456";
    users.insert({{"id", "x"}, {"name", "Ada"}});
    current_user = "";  // empty: "system"
    users.update("x", json{{"name", "Ada L."}});
    auto logs = db.plugin<Audit>().record_history("users", "x");
    ASSERT_EQ(logs.size(), 2u);
    EXPECT_EQ(logs[0]["userId"], "admin-456");
    EXPECT_EQ(logs[1]["userId"], "system");
    EXPECT_EQ(parsed(logs[0], "metadata"),
              json::parse(R"({"source":"audit-plugin","version":"app-3","ip":"10.0.0.7","op":"insert"})"));
    EXPECT_EQ(parsed(logs[1], "metadata")["op"], "update");
    EXPECT_EQ(metadata_calls.load(), 2);
}

TEST(Audit, UserIdComesFromTheCallersContext) {
    MemDb db(memory_store());
    db.connect();
    auto& users = db.create_resource(users_config());
    users.insert({{"id", "x"}, {"name", "Ada"}}, {.context = {{"user", "ana"}}});
    users.update("x", json{{"name", "Ada L."}}, {.context = {{"user", {{"id", "u-7"}, {"role", "admin"}}}}});
    users.upsert({{"id", "x"}, {"name", "Ada"}}, {.context = {{"userId", "svc-1"}}});
    users.replace("x", {{"name", "Ada"}}, {.context = {{"source", "replicator"}}});  // no user in it
    users.remove("x", {.context = {{"user", "bob"}}});
    auto logs = db.plugin<Audit>().record_history("users", "x");
    ASSERT_EQ(logs.size(), 5u);
    std::vector<std::string> who;
    for (auto& l : logs) who.push_back(l["userId"]);
    EXPECT_EQ(who, (std::vector<std::string>{"ana", "u-7", "svc-1", "system", "bob"}));

    // get_user_id still decides when it answers; its empty answer leaves it to the context.
    MemDb db2(memory_store(), {}, Audit({.get_user_id = [](const OperationContext& ctx) {
                  return ctx.context && ctx.context->contains("tenant") ? std::string("from-callback") : std::string{};
              }}));
    db2.connect();
    auto& people = db2.create_resource(users_config());
    people.insert({{"id", "y"}, {"name", "Ada"}}, {.context = {{"tenant", "t1"}, {"user", "ana"}}});
    people.update("y", json{{"name", "Ada L."}}, {.context = {{"user", "ana"}}});
    auto logs2 = db2.plugin<Audit>().record_history("users", "y");
    ASSERT_EQ(logs2.size(), 2u);
    EXPECT_EQ(logs2[0]["userId"], "from-callback");
    EXPECT_EQ(logs2[1]["userId"], "ana");
}

TEST(Audit, TrackOperationsAuditsOnlyTheWritesNamed) {
    MemDb db(memory_store(), {}, Audit({.track_operations = {"delete"}}));
    db.connect();
    auto& users = db.create_resource(users_config());
    users.insert({{"id", "x"}, {"name", "Ada"}});
    users.update("x", json{{"name", "Ada L."}});
    users.replace("x", {{"name", "Ada"}});
    EXPECT_EQ(db.plugin<Audit>().logged(), 0u);
    users.remove("x");
    auto logs = db.plugin<Audit>().logs();
    ASSERT_EQ(logs.size(), 1u);
    EXPECT_EQ(logs[0]["operation"], "delete");
}

TEST(Audit, DisabledAuditsNothingButStillAnswersQueries) {
    MemDb db(memory_store(), {}, Audit({.enabled = false}));
    db.connect();
    auto config = users_config();
    config.partitions.clear();  // refs would need the deleted record for themselves
    auto& users = db.create_resource(config);
    auto before = db.transport().counts();
    users.insert({{"id", "x"}, {"name", "Ada"}});
    users.remove("x");
    EXPECT_EQ(db.transport().counts() - before, (RequestCounts{.put = 1, .remove = 1}));  // no GET for oldData, no audit record
    EXPECT_EQ(db.plugin<Audit>().logged(), 0u);
    EXPECT_TRUE(db.has_resource("plg_audits"));
    EXPECT_TRUE(db.plugin<Audit>().logs().empty());
}

TEST(Audit, ConfigurationsThatCannotWorkAreRefusedBeforeInstall) {
    EXPECT_THROW(MemDb(memory_store(), {}, Audit({.track_operations = {"insert", "get"}})), PluginError);
    EXPECT_THROW(MemDb(memory_store(), {}, Audit({.max_data_size = 64})), PluginError);
    EXPECT_THROW(MemDb(memory_store(), {}, Audit({.resource_name = ""})), PluginError);
    BasicDatabase<Counting<Memory>> plain(memory_store());
    plain.connect();
    try {
        plain.use_plugin(Audit({.track_operations = {"list"}}));
        FAIL() << "an unknown operation was accepted";
    } catch (const PluginError& e) {
        EXPECT_NE(std::string(e.what()).find("'list'"), std::string::npos) << e.what();
    }
    EXPECT_NO_THROW(MemDb(memory_store(), {}, Audit({.max_data_size = 0})));
}

TEST(Audit, ExcludedResourcesAndItsOwnAreNeverAudited) {
    MemDb db(memory_store(), {}, Audit({.exclude_resources = {"sessions"}}));
    db.connect();
    auto& users = db.create_resource(users_config());
    auto& sessions = db.create_resource({.name = "sessions", .attributes = {{"token", "string"}}});
    sessions.insert({{"id", "s1"}, {"token", "t"}});
    sessions.remove("s1");
    users.insert({{"id", "x"}, {"name", "Ada"}});
    users.insert({{"id", "y"}, {"name", "Bob"}});
    // Two audit records, each with its two refs: nothing audits the audit records themselves.
    EXPECT_EQ(db.resource("plg_audits").count(), 2u);
    EXPECT_EQ(keys_under(db.store(), "resource=plg_audits/").size(), 6u);
    EXPECT_TRUE(db.plugin<Audit>().logs_by_resource("sessions").empty());
    EXPECT_TRUE(db.plugin<Audit>().logs_by_resource("plg_audits").empty());
}

// ---- max_data_size ---------------------------------------------------------------------------------

TEST(Audit, MaxDataSizeCutsTheDataToThatManyBytesOnACharacterBoundary) {
    std::string text;
    for (int i = 0; i < 300; ++i) text += (i % 3 == 0 ? "é" : i % 3 == 1 ? "😀" : "\"a");  // 2, 4, 2 bytes raw
    for (std::size_t max : {128u, 129u, 130u, 131u, 200u, 333u, 500u, 900u}) {
        MemDb db(memory_store(), {}, Audit({.max_data_size = max}));
        db.connect();
        auto& users = db.create_resource(users_config());
        auto rec = users.insert({{"id", "big"}, {"name", "Ada"}, {"note", text}});
        users.insert({{"id", "small"}, {"name", "Bob"}});
        const std::string full = rec.dump();
        ASSERT_GT(full.size(), max);

        auto log = db.plugin<Audit>().record_history("users", "big").at(0);
        const std::string stored = log["newData"];
        EXPECT_LE(stored.size(), max);
        json marker = json::parse(stored);  // parses: valid JSON and valid UTF-8
        EXPECT_EQ(marker["_truncated"], true);
        EXPECT_EQ(marker["_originalSize"], full.size());
        EXPECT_EQ(marker["_truncatedAt"], log["timestamp"]);
        const std::string preview = marker["_preview"];
        EXPECT_TRUE(full.starts_with(preview)) << max;
        // Maximal: one more character of the original would not have fitted.
        std::size_t next = preview.size() + 1;
        while (next < full.size() && (static_cast<unsigned char>(full[next]) & 0xC0) == 0x80) ++next;
        marker["_preview"] = full.substr(0, next);
        EXPECT_GT(marker.dump().size(), max) << max;

        auto small = db.plugin<Audit>().record_history("users", "small").at(0);
        EXPECT_EQ(parsed(small, "newData")["name"], "Bob");  // data that fits is kept whole
    }
}

TEST(Audit, AnAdoptedEnforceLimitsResourceGetsRecordsCutUnderTheMetadataLimit) {
    MemDb db(memory_store());
    auto config = Audit{}.resource_config();
    config.behavior = "enforce-limits";
    db.create_resource(config);  // the bucket already has plg_audits, kept in metadata only
    std::vector<std::string> errors;
    db.on_plugin_error([&](std::string_view, std::string_view what) { errors.emplace_back(what); });
    db.connect();
    auto& users = db.create_resource(users_config());
    users.insert({{"id", "big"}, {"name", "Ada"}, {"note", std::string(6000, 'x')}});
    users.update("big", json{{"note", std::string(5000, 'y')}});
    EXPECT_TRUE(errors.empty()) << errors.front();
    EXPECT_EQ(db.resource("plg_audits").behavior(), "enforce-limits");
    auto logs = db.plugin<Audit>().record_history("users", "big");
    ASSERT_EQ(logs.size(), 2u);
    for (auto& l : logs) {
        auto head = db.store().head(db.resource("plg_audits").key_of(l["id"].get<std::string>()));
        ASSERT_TRUE(head);
        EXPECT_EQ(head->size, 0u);  // everything in metadata
        EXPECT_EQ(parsed(l, "newData")["_truncated"], true);
    }
    EXPECT_EQ(parsed(logs[1], "oldData")["_truncated"], true);
}

// ---- queries and what they read ----------------------------------------------------------------------

TEST(Audit, RecordHistoryIsInTimeOrderAndReadsOnlyTheResourcesPartition) {
    TestClock clock;
    MemDb db(memory_store(), {}, Audit({.clock = clock.fn()}));
    db.connect();
    auto& users = db.create_resource(users_config());
    auto& orders = db.create_resource(orders_config());
    users.insert({{"id", "x"}, {"name", "v0"}});
    for (int i = 1; i <= 3; ++i) {
        // Same millisecond for some writes: they keep the order they were made in.
        if (i == 2) clock.advance(5);
        users.update("x", json{{"name", "v" + std::to_string(i)}});
    }
    users.insert({{"id", "y"}, {"name", "other"}});
    for (int i = 0; i < 4; ++i) orders.insert({{"item", "i" + std::to_string(i)}});
    clock.advance(10);
    users.remove("x");

    auto& spy = db.use_plugin(ListSpy{});
    db.transport().reset();
    auto history = db.plugin<Audit>().record_history("users", "x");
    auto c = db.transport().counts();
    EXPECT_EQ(c.list, 1u);
    EXPECT_EQ(c.get, 6u);  // the users' 6 audit records, none of the orders'
    EXPECT_EQ(spy.take(), (std::vector<std::string>{"resource=plg_audits/partition=byResource/resourceName=users/"}));

    ASSERT_EQ(history.size(), 5u);
    std::vector<std::string> seen;
    for (auto& l : history) seen.push_back(l["operation"].get<std::string>() + ":" +
                                           (l.contains("newData") ? parsed(l, "newData")["name"].get<std::string>() : "-"));
    EXPECT_EQ(seen, (std::vector<std::string>{"insert:v0", "update:v1", "update:v2", "update:v3", "delete:-"}));
    auto newest = db.plugin<Audit>().logs(AuditQuery{.resource = "users", .record_id = "x", .limit = 2, .newest_first = true});
    ASSERT_EQ(newest.size(), 2u);
    EXPECT_EQ(newest[0]["operation"], "delete");
    EXPECT_EQ(parsed(newest[1], "newData")["name"], "v3");
}

TEST(Audit, ByOperationAndByResourceReadOnlyThatResource) {
    MemDb db(memory_store());
    db.connect();
    auto& users = db.create_resource(users_config());
    auto& orders = db.create_resource(orders_config());
    for (int i = 0; i < 5; ++i) users.insert({{"id", "u" + std::to_string(i)}, {"name", "n"}});
    orders.insert({{"id", "o1"}, {"item", "book"}});
    orders.update("o1", json{{"status", "paid"}});
    orders.insert({{"id", "o2"}, {"item", "pen"}});

    auto& audit = db.plugin<Audit>();
    db.transport().reset();
    auto order_logs = audit.logs_by_resource("orders");
    EXPECT_EQ(order_logs.size(), 3u);
    EXPECT_EQ(db.transport().counts().list, 1u);
    EXPECT_EQ(db.transport().counts().get, 3u);

    db.transport().reset();
    auto updates = audit.logs_by_operation("update", "orders");
    ASSERT_EQ(updates.size(), 1u);
    EXPECT_EQ(updates[0]["recordId"], "o1");
    EXPECT_EQ(db.transport().counts().get, 3u);  // the orders' records only
    EXPECT_EQ(audit.logs_by_operation("insert").size(), 7u);  // no resource: every record
    EXPECT_EQ(audit.logs_by_resource("users", 2).size(), 2u);
}

TEST(Audit, DateRangesReadOnlyTheirDays) {
    TestClock clock;
    MemDb db(memory_store(), {}, Audit({.clock = clock.fn()}));
    db.connect();
    auto& users = db.create_resource(users_config());
    // Day 1: 3 writes; day 2: 4 writes at 08:00, 10:00, 12:00, 23:59; day 3: 2 writes.
    clock.set(TestClock::at(2024, 3, 1, 10));
    for (int i = 0; i < 3; ++i) users.insert({{"name", "d1"}});
    for (int h : {8, 10, 12}) {
        clock.set(TestClock::at(2024, 3, 2, h));
        users.insert({{"name", "d2-" + std::to_string(h)}});
    }
    clock.set(TestClock::at(2024, 3, 2, 23, 59));
    users.insert({{"name", "d2-late"}});
    clock.set(TestClock::at(2024, 3, 3, 0, 1));
    for (int i = 0; i < 2; ++i) users.insert({{"name", "d3"}});

    auto& audit = db.plugin<Audit>();
    auto& spy = db.use_plugin(ListSpy{});
    db.transport().reset();
    auto day2 = audit.logs_between(tp(TestClock::at(2024, 3, 2)), tp(TestClock::at(2024, 3, 3) - 1));
    EXPECT_EQ(day2.size(), 4u);
    EXPECT_EQ(db.transport().counts().list, 1u);
    EXPECT_EQ(db.transport().counts().get, 4u);  // day 1 and day 3 are never read
    EXPECT_EQ(spy.take(), (std::vector<std::string>{"resource=plg_audits/partition=byDate/"}));
    for (auto& l : day2) EXPECT_EQ(l["createdAt"], "2024-03-02");

    // Within a day, ids (audit-<ms>-…) leave out records outside the range before any GET.
    db.transport().reset();
    auto morning = audit.logs_between(tp(TestClock::at(2024, 3, 2, 9)), tp(TestClock::at(2024, 3, 2, 12)));
    ASSERT_EQ(morning.size(), 2u);
    EXPECT_EQ(parsed(morning[0], "newData")["name"], "d2-10");
    EXPECT_EQ(parsed(morning[1], "newData")["name"], "d2-12");
    EXPECT_EQ(db.transport().counts().get, 2u);
    EXPECT_EQ(spy.take(), (std::vector<std::string>{"resource=plg_audits/partition=byDate/"}));

    // Across days, with a resource: its partition, the ids narrowing the GETs.
    db.transport().reset();
    auto late = audit.logs_between(tp(TestClock::at(2024, 3, 2, 23)), tp(TestClock::at(2024, 3, 4)), "users");
    EXPECT_EQ(late.size(), 3u);
    EXPECT_EQ(db.transport().counts().get, 3u);
    EXPECT_EQ(spy.take(), (std::vector<std::string>{"resource=plg_audits/partition=byResource/resourceName=users/"}));
}

TEST(Audit, ADateRangeListsFromItsFirstDayAndStopsAfterItsLast) {
    // 1200 records the day before and 1200 the day after: reading them would take more than one
    // LIST page (1000 keys) on either side.
    TestClock clock;
    MemDb db(memory_store(), {}, Audit({.include_data = false, .clock = clock.fn()}));
    db.connect();
    auto& notes = db.create_resource({.name = "notes", .attributes = {{"text", "string"}}});
    std::vector<json> batch(1200, json{{"text", "."}});
    clock.set(TestClock::at(2024, 3, 1, 12));
    notes.insert_many(batch);
    clock.set(TestClock::at(2024, 3, 2, 12));
    for (int i = 0; i < 3; ++i) notes.insert({{"text", "wanted"}});
    clock.set(TestClock::at(2024, 3, 3, 12));
    notes.insert_many(batch);

    db.transport().reset();
    auto day2 = db.plugin<Audit>().logs_between(tp(TestClock::at(2024, 3, 2)), tp(TestClock::at(2024, 3, 3) - 1));
    EXPECT_EQ(day2.size(), 3u);
    EXPECT_EQ(db.transport().counts().list, 1u);
    EXPECT_EQ(db.transport().counts().get, 3u);
}

// ---- failures, concurrency ---------------------------------------------------------------------------

TEST(Audit, AFailedAuditWriteIsThePluginsErrorNotTheUsers) {
    Hooked store{test::make_store<Memory>()};
    auto down = std::make_shared<std::atomic<bool>>(false);
    *store.before_put = [down](std::string_view key, std::string_view, const PutOptions&, Memory&) {
        if (*down && key.starts_with(audit_data))
            throw TransportError("audit store unreachable", {.status = 503, .code = "ServiceUnavailable", .request_id = {}, .key = std::string(key)});
    };
    BasicDatabase<Hooked, Audit> db(store);
    std::vector<std::string> reported;
    db.on_plugin_error([&](std::string_view p, std::string_view what) { reported.push_back(std::string(p) + ": " + std::string(what)); });
    db.connect();
    auto& users = db.create_resource(users_config());
    *down = true;
    EXPECT_NO_THROW(users.insert({{"id", "x"}, {"name", "Ada"}}));
    EXPECT_EQ(users.get("x")["name"], "Ada");
    ASSERT_EQ(reported.size(), 1u);
    EXPECT_NE(reported[0].find("Audit: audit store unreachable"), std::string::npos) << reported[0];
    EXPECT_EQ(db.status().at(0).errors, 1u);
    *down = false;
    users.update("x", json{{"name", "Ada L."}});
    EXPECT_EQ(db.plugin<Audit>().record_history("users", "x").size(), 1u);

    // Not isolated: the caller hears of it (the write itself is done).
    Hooked strict_store{test::make_store<Memory>()};
    *strict_store.before_put = *store.before_put;
    BasicDatabase<Hooked, Audit> strict(strict_store, {}, Audit({}, PluginOptions{.isolate_errors = false}));
    strict.connect();
    auto& u2 = strict.create_resource(users_config());
    *down = true;
    EXPECT_THROW(u2.insert({{"id", "x"}, {"name", "Ada"}}), TransportError);
    EXPECT_TRUE(u2.exists("x"));
}

TEST(Audit, ConcurrentWritersAreNotSerializedBehindTheAudit) {
    // Every audit PUT waits until all four are in flight at once; one lock around the audit would
    // keep them at one, and each would give up after the time-out.
    constexpr int writers = 4;
    struct Gate {
        std::mutex m;
        std::condition_variable cv;
        int arrived = 0, in_flight = 0, most = 0;
    };
    auto gate = std::make_shared<Gate>();
    Hooked store{test::make_store<Memory>()};
    *store.before_put = [gate](std::string_view key, std::string_view, const PutOptions&, Memory&) {
        if (!key.starts_with(audit_data)) return;
        std::unique_lock lock(gate->m);
        ++gate->arrived;
        gate->most = std::max(gate->most, ++gate->in_flight);
        gate->cv.notify_all();
        gate->cv.wait_for(lock, 5s, [&] { return gate->arrived >= writers; });
        --gate->in_flight;
    };
    BasicDatabase<Hooked, Audit> db(store);
    db.connect();
    auto& users = db.create_resource(users_config());
    std::vector<std::thread> threads;
    for (int i = 0; i < writers; ++i)
        threads.emplace_back([&, i] { users.insert({{"id", "w" + std::to_string(i)}, {"name", "n"}}); });
    for (auto& t : threads) t.join();
    EXPECT_EQ(gate->most, writers);
    EXPECT_EQ(db.plugin<Audit>().logged(), static_cast<std::uint64_t>(writers));

    // insert_many on the pool: one audit record per record.
    *store.before_put = nullptr;
    std::vector<json> many;
    for (int i = 0; i < 40; ++i) many.push_back({{"name", "m" + std::to_string(i)}});
    users.insert_many(many);
    EXPECT_EQ(db.plugin<Audit>().logs_by_resource("users").size(), 44u);
}

// ---- setup, neighbours, uninstall --------------------------------------------------------------------

TEST(Audit, DeferredSetupCoversResourcesCreatedLaterAndThoseInTheBucket) {
    auto store = memory_store();
    Memory shared = store.inner();
    {
        BasicDatabase<Counting<Memory>> before(Counting<Memory>{shared});
        before.connect();
        before.create_resource(orders_config()).insert({{"id", "o1"}, {"item", "book"}, {"status", "new"}});
    }
    MemDb db(std::move(store));
    db.connect();  // audit installs with `orders` in the bucket and no `users` yet
    db.resource("orders").update("o1", json{{"status", "paid"}});
    auto& users = db.create_resource(users_config());
    users.insert({{"id", "x"}, {"name", "Ada"}, {"region", "sa"}});

    auto& audit = db.plugin<Audit>();
    auto o1 = audit.record_history("orders", "o1");
    ASSERT_EQ(o1.size(), 1u);  // the insert happened before the audit existed
    EXPECT_EQ(parsed(o1[0], "partitionValues"), json::parse(R"({"byStatus":{"status":"paid"}})"));
    auto x = audit.record_history("users", "x");
    ASSERT_EQ(x.size(), 1u);
    EXPECT_EQ(x[0]["partition"], "byRegion");

    // Added at run time to a connected database: the same.
    BasicDatabase<Counting<Memory>> later(Counting<Memory>{shared});
    later.connect();
    auto& added = later.use_plugin(Audit{});
    later.resource("users").update("x", json{{"region", "eu"}});
    auto logs = added.record_history("users", "x");
    ASSERT_EQ(logs.size(), 2u);
    EXPECT_EQ(parsed(logs[1], "partitionValues"), json::parse(R"({"byRegion":{"region":"eu"}})"));
}

TEST(Audit, WorksNextToACachingPlugin) {
    BasicDatabase<Counting<Memory>, Audit, TinyCache> db(memory_store());
    db.connect();
    auto& users = db.create_resource(users_config());
    users.insert({{"id", "x"}, {"name", "Ada"}});
    users.get("x");
    db.transport().reset();
    EXPECT_EQ(users.get("x")["name"], "Ada");  // from the cache
    EXPECT_EQ(db.transport().counts().get, 0u);
    users.update("x", json{{"name", "Ada L."}});  // both plugins see the write
    EXPECT_EQ(users.get("x")["name"], "Ada L.");
    auto history = db.plugin<Audit>().record_history("users", "x");
    ASSERT_EQ(history.size(), 2u);
    EXPECT_EQ(parsed(history[1], "oldData")["name"], "Ada");
    EXPECT_GE(db.plugin<TinyCache>().s->hits.load(), 1);
    EXPECT_TRUE(db.healthy());
}

TEST(Audit, UninstallWithPurgeDataDeletesTheTrailAndStopsAuditing) {
    MemDb db(memory_store());
    db.connect();
    auto& users = db.create_resource(users_config());
    users.insert({{"id", "x"}, {"name", "Ada"}});
    users.update("x", json{{"name", "Ada L."}, {"note", std::string(4000, 'n')}});  // an overflow body too
    EXPECT_EQ(keys_under(db.store(), "resource=plg_audits/").size(), 6u);

    db.uninstall_plugin("Audit", {.purge_data = true});
    EXPECT_TRUE(keys_under(db.store(), "resource=plg_audits/").empty());
    EXPECT_EQ(db.plugin<Audit>().purged(), 6u);
    users.remove("x");
    EXPECT_TRUE(keys_under(db.store(), "resource=plg_audits/").empty());
    EXPECT_TRUE(users.count() == 0u);

    // Without purge_data the trail stays.
    MemDb keep(memory_store());
    keep.connect();
    keep.create_resource(users_config()).insert({{"name", "Bob"}});
    keep.uninstall_plugin("Audit");
    EXPECT_EQ(keys_under(keep.store(), "resource=plg_audits/").size(), 3u);
}

// ---- S3 (Ceph RGW) -------------------------------------------------------------------------------

TEST(AuditOnS3, WritesAreAuditedAndQueriedThroughTheirPartitions) {
    TestClock clock;
    clock.set(TestClock::at(2024, 5, 10, 12));
    BasicDatabase<Counting<S3>, Audit> db(Counting<S3>(test::make_store<S3>()), {},
                                          Audit({.max_data_size = 300, .clock = clock.fn()}));
    db.connect();
    auto& users = db.create_resource(users_config());
    auto& orders = db.create_resource(orders_config());

    db.transport().reset();
    users.insert({{"id", "ana"}, {"name", "Ana"}, {"region", "sa"}, {"note", "São Paulo 🌎"}});
    EXPECT_EQ(db.transport().counts().put, 5u);
    clock.advance(1000);
    users.update("ana", json{{"note", std::string(100, 'x') + "ção" + std::string(400, 'y')}});
    clock.set(TestClock::at(2024, 5, 11, 8));
    orders.insert({{"id", "o1"}, {"item", "book"}});
    users.remove("ana");

    auto& audit = db.plugin<Audit>();
    db.transport().reset();
    auto history = audit.record_history("users", "ana");
    EXPECT_EQ(db.transport().counts().list, 1u);
    EXPECT_EQ(db.transport().counts().get, 3u);
    ASSERT_EQ(history.size(), 3u);
    EXPECT_EQ(history[0]["operation"], "insert");
    EXPECT_EQ(parsed(history[0], "newData")["note"], "São Paulo 🌎");
    EXPECT_EQ(history[0]["partition"], "byRegion");
    EXPECT_EQ(history[1]["operation"], "update");
    EXPECT_LE(history[1]["newData"].get<std::string>().size(), 300u);
    EXPECT_EQ(parsed(history[1], "newData")["_truncated"], true);
    EXPECT_EQ(history[2]["operation"], "delete");
    EXPECT_EQ(history[2]["createdAt"], "2024-05-11");

    db.transport().reset();
    auto may11 = audit.logs_between(tp(TestClock::at(2024, 5, 11)), tp(TestClock::at(2024, 5, 12) - 1));
    EXPECT_EQ(may11.size(), 2u);
    EXPECT_EQ(db.transport().counts().get, 2u);
    EXPECT_EQ(audit.logs_by_resource("orders").size(), 1u);

    db.uninstall_plugin("Audit", {.purge_data = true});
    EXPECT_EQ(audit.purged(), 12u);  // 4 records, 2 refs each
    EXPECT_TRUE(keys_under(db.store(), "resource=plg_audits/").empty());
}
