// The database on top of the transports: the resource API, its request budgets (counted through
// Counting<T>), validation before any write, partitions, hooks and events.

#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <thread>
#include <vector>

#include "s3db/core/any_database.hpp"
#include "s3db/core/resource_ref.hpp"
#include "s3db/transport/counting.hpp"
#include "s3db/transport/filesystem.hpp"
#include "s3db/transport/memory.hpp"

using namespace s3db;
using ojson = nlohmann::ordered_json;
using Db = BasicDatabase<Counting<Memory>>;

namespace {
ResourceConfig users_config(std::string behavior = "user-managed") {
    return {.name = "users",
            .attributes = ojson{{"name", "string|required|min:2"}, {"email", "string|optional"},
                                {"region", "string|optional"}, {"age", "number|integer|min:0|optional"}},
            .behavior = std::move(behavior),
            .partitions = ojson{{"byRegion", {{"fields", {{"region", "string"}}}}}}};
}

struct Fixture : ::testing::Test {
    Db db{Counting<Memory>{}};
    RequestCounts since(const RequestCounts& before) { return db.transport().counts() - before; }
};
}  // namespace

TEST_F(Fixture, InsertIsOneConditionalPutPlusOnePerPartition) {
    auto& users = db.create_resource(users_config());
    auto before = db.transport().counts();
    auto ada = users.insert({{"name", "Ada"}, {"region", "eu"}, {"age", 36}});
    EXPECT_EQ(since(before), (RequestCounts{.put = 2}));
    EXPECT_EQ(ada["id"].get<std::string>().size(), 22u);
    EXPECT_EQ(ada["name"], "Ada");
    // No partition value, no ref.
    before = db.transport().counts();
    users.insert({{"name", "Bob"}});
    EXPECT_EQ(since(before), (RequestCounts{.put = 1}));
}

TEST_F(Fixture, InsertOfAnExistingIdIsRefused) {
    auto& users = db.create_resource(users_config());
    users.insert({{"id", "u1"}, {"name", "Ada"}});
    EXPECT_THROW(users.insert({{"id", "u1"}, {"name", "Eve"}}), AlreadyExists);
    EXPECT_EQ(users.get("u1")["name"], "Ada");
}

TEST_F(Fixture, GetExistsAndGetOrNullCostOneRequest) {
    auto& users = db.create_resource(users_config());
    users.insert({{"id", "u1"}, {"name", "Ada"}, {"age", 36}});
    auto before = db.transport().counts();
    auto u = users.get("u1");
    EXPECT_EQ(since(before), (RequestCounts{.get = 1}));
    EXPECT_EQ(u, (json{{"id", "u1"}, {"name", "Ada"}, {"age", 36}}));
    before = db.transport().counts();
    EXPECT_TRUE(users.exists("u1"));
    EXPECT_FALSE(users.exists("nobody"));
    EXPECT_EQ(since(before), (RequestCounts{.head = 2}));
    EXPECT_FALSE(users.get_or_null("nobody"));
    EXPECT_THROW(users.get("nobody"), RecordNotFound);
}

TEST_F(Fixture, InvalidRecordsAreRefusedBeforeAnyRequestWithEveryFailure) {
    auto& users = db.create_resource(users_config());
    auto before = db.transport().counts();
    try {
        users.insert({{"name", "A"}, {"age", -3}});
        FAIL() << "expected ValidationError";
    } catch (const ValidationError& e) {
        EXPECT_EQ(e.failures().size(), 2u);
        EXPECT_NE(std::string(e.what()).find("users"), std::string::npos);
    }
    EXPECT_THROW(users.insert({{"id", "a/b"}, {"name", "Ada"}}), InvalidId);
    EXPECT_EQ(since(before).total(), 0u);
}

TEST_F(Fixture, UpdateIsGetPlusConditionalPutAndMovesPartitions) {
    auto& users = db.create_resource(users_config());
    users.insert({{"id", "u1"}, {"name", "Ada"}, {"region", "eu"}});
    auto before = db.transport().counts();
    auto u = users.update("u1", {{"age", 37}});
    EXPECT_EQ(since(before), (RequestCounts{.put = 1, .get = 1}));
    EXPECT_EQ(u["age"], 37);
    EXPECT_EQ(u["region"], "eu");
    before = db.transport().counts();
    users.update("u1", {{"region", "us"}});
    // The moved ref: 1 PUT + 1 DELETE, then 1 HEAD that finds our version still the newest.
    EXPECT_EQ(since(before), (RequestCounts{.put = 2, .get = 1, .head = 1, .remove = 1}));
    EXPECT_EQ(users.list_ids({.partition = "byRegion", .values = {{"region", "us"}}}), std::vector<std::string>{"u1"});
    EXPECT_TRUE(users.list_ids({.partition = "byRegion", .values = {{"region", "eu"}}}).empty());
    EXPECT_THROW(users.update("nobody", {{"age", 1}}), RecordNotFound);
    // A malformed id is refused at the entry, before any request (it was RecordNotFound after a GET).
    before = db.transport().counts();
    EXPECT_THROW(users.update("a/b", {{"age", 1}}), InvalidId);
    EXPECT_THROW(users.update("..", {{"age", 1}}), InvalidId);
    EXPECT_EQ(since(before).total(), 0u);
}

TEST_F(Fixture, ConcurrentUpdatesLoseNothingUnderEveryBehavior) {
    // Every version must have its own ETag for If-Match to see other writers, also when the record
    // lives in metadata only (objects with one body share one ETag).
    for (std::string behavior : {"user-managed", "body-overflow", "body-only", "enforce-limits", "truncate-data"}) {
        auto& counters = db.create_resource(
            {.name = "counters-" + behavior, .attributes = ojson{{"n", "number|integer"}}, .behavior = behavior});
        counters.insert({{"id", "c"}, {"n", 0}});
        std::vector<std::thread> threads;
        for (int t = 0; t < 8; ++t)
            threads.emplace_back([&] {
                for (int i = 0; i < 25; ++i) counters.update("c", [](json& r) { r["n"] = r["n"].get<int>() + 1; });
            });
        for (auto& t : threads) t.join();
        EXPECT_EQ(counters.get("c")["n"], 200) << behavior;
        if (behavior == "enforce-limits") {
            EXPECT_FALSE(counters.has_content("c"));  // the version stamp is not content
            EXPECT_EQ(counters.content("c")->first, "");
        }
    }
}

TEST_F(Fixture, DeleteReadsFirstOnlyWhenPartitionsNeedIt) {
    auto& users = db.create_resource(users_config());
    auto& plain = db.create_resource({.name = "plain", .attributes = ojson{{"v", "string"}}});
    users.insert({{"id", "u1"}, {"name", "Ada"}, {"region", "eu"}});
    plain.insert({{"id", "p1"}, {"v", "x"}});
    auto before = db.transport().counts();
    plain.remove("p1");
    EXPECT_EQ(since(before), (RequestCounts{.remove = 1}));
    before = db.transport().counts();
    users.remove("u1");
    // + 1 HEAD after the ref's delete: a record inserted again under this id may need it back.
    EXPECT_EQ(since(before), (RequestCounts{.get = 1, .head = 1, .remove = 2}));
    EXPECT_EQ(users.count({.partition = "byRegion", .values = {{"region", "eu"}}}), 0u);
    EXPECT_FALSE(users.exists("u1"));
}

TEST_F(Fixture, ListCountAndPages) {
    auto& users = db.create_resource(users_config());
    std::vector<json> batch;
    for (int i = 0; i < 25; ++i)
        batch.push_back({{"id", "u" + std::to_string(100 + i)}, {"name", "user" + std::to_string(i)},
                         {"region", i % 2 ? "eu" : "us"}});
    for (auto& r : users.insert_many(batch)) EXPECT_TRUE(r.record) << r.error;
    auto before = db.transport().counts();
    EXPECT_EQ(users.count(), 25u);
    EXPECT_EQ(since(before), (RequestCounts{.list = 1}));
    EXPECT_EQ(users.count({.partition = "byRegion", .values = {{"region", "eu"}}}), 12u);
    EXPECT_EQ(users.list().size(), 25u);

    std::vector<std::string> seen;
    std::string cursor;
    int pages = 0;
    do {
        before = db.transport().counts();
        auto p = users.page(10, cursor);
        EXPECT_EQ(since(before).list, 1u);
        EXPECT_EQ(since(before).get, p.items.size());
        for (auto& r : p.items) seen.push_back(r["id"]);
        cursor = p.next_cursor;
        ++pages;
    } while (!cursor.empty());
    EXPECT_EQ(pages, 3);
    EXPECT_EQ(seen.size(), 25u);
    EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));

    std::size_t streamed = 0;
    users.for_each([&](json&&) { ++streamed; });
    EXPECT_EQ(streamed, 25u);
}

TEST_F(Fixture, QueryUsesTheBestPartition) {
    auto& users = db.create_resource(users_config());
    for (int i = 0; i < 10; ++i)
        users.insert({{"id", "u" + std::to_string(i)}, {"name", "user" + std::to_string(i)}, {"region", i < 3 ? "eu" : "us"},
                      {"age", i}});
    auto before = db.transport().counts();
    auto found = users.query({{"region", "eu"}}, [](const json& r) { return r["age"].get<int>() > 0; });
    EXPECT_EQ(found.size(), 2u);
    EXPECT_EQ(since(before), (RequestCounts{.get = 3, .list = 1})) << "only the partition is read";
}

TEST_F(Fixture, HooksCanChangeOrRejectAndEventsFire) {
    auto& users = db.create_resource(users_config());
    users.add_hook(Hook::before_insert, [](OperationContext& c) {
        if (c.data.value("name", "") == "Mallory") throw std::runtime_error("no Mallory");
        c.data["email"] = c.data["name"].get<std::string>() + "@example.com";
    });
    std::vector<std::string> events;
    users.on("inserted", [&](const OperationContext& c) { events.push_back("inserted " + c.id); });
    users.on("updated", [&](const OperationContext& c) {
        events.push_back("updated " + (*c.before)["name"].get<std::string>() + "->" + c.data["name"].get<std::string>());
    });
    auto ada = users.insert({{"id", "a"}, {"name", "Ada"}});
    EXPECT_EQ(ada["email"], "Ada@example.com");
    auto before = db.transport().counts();
    EXPECT_THROW(users.insert({{"name", "Mallory"}}), std::runtime_error);
    EXPECT_EQ(since(before).total(), 0u);
    users.update("a", {{"name", "Ada L"}});
    EXPECT_EQ(events, (std::vector<std::string>{"inserted a", "updated Ada->Ada L"}));
}

TEST_F(Fixture, TheCatalogueSurvivesReconnection) {
    auto& users = db.create_resource(users_config("body-overflow"));
    users.insert({{"id", "u1"}, {"name", "Ada"}, {"email", std::string(3000, 'x')}});
    Db other{Counting<Memory>{}};  // a different bucket: nothing there
    other.connect();
    EXPECT_TRUE(other.resources().empty());

    BasicDatabase<Memory> again{db.transport().inner()};
    again.connect();
    auto& reopened = again.resource("users");
    EXPECT_EQ(reopened.behavior(), "body-overflow");
    EXPECT_EQ(reopened.get("u1")["email"].get<std::string>().size(), 3000u);
    EXPECT_THROW(again.resource("missing"), ResourceNotFound);
}

TEST_F(Fixture, RemoveAllNeedsParanoiaOff) {
    auto& users = db.create_resource(users_config());
    users.insert({{"name", "Ada"}, {"region", "eu"}});
    EXPECT_THROW(users.remove_all(), ConfigError);
    auto cfg = users_config();
    cfg.paranoid = false;
    auto& loose = db.create_resource(cfg);
    loose.remove_all();
    EXPECT_EQ(loose.count(), 0u);
    EXPECT_TRUE(db.transport().inner().list({.prefix = "resource=users/"}).objects.empty());
}

TEST_F(Fixture, RemoveManyBatchesItsDeletes) {
    auto& plain = db.create_resource({.name = "plain", .attributes = ojson{{"v", "string"}}});
    auto& users = db.create_resource(users_config());
    std::vector<std::string> ids;
    for (int i = 0; i < 30; ++i) {
        ids.push_back("p" + std::to_string(i));
        plain.insert({{"id", ids.back()}, {"v", "x"}});
        users.insert({{"id", ids.back()}, {"name", "user"}, {"region", "eu"}});
    }
    auto before = db.transport().counts();
    plain.remove_many(ids);
    EXPECT_EQ(since(before), (RequestCounts{.remove_many = 1}));
    EXPECT_EQ(plain.count(), 0u);
    before = db.transport().counts();
    users.remove_many(ids);
    EXPECT_EQ(since(before), (RequestCounts{.get = 30, .head = 30, .remove_many = 1})) << "60 keys, one batch";
    EXPECT_EQ(users.count(), 0u);
    EXPECT_EQ(users.count({.partition = "byRegion", .values = {{"region", "eu"}}}), 0u);
}

namespace typed {
struct User {
    std::string id;
    std::string name;
    int age = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(User, id, name, age)
struct NotJson {};
/// Writes `nick` only when set, as hand-written to_json functions for optionals usually do.
struct Member {
    std::string id;
    std::string name;
    std::optional<std::string> nick;
};
inline void to_json(json& j, const Member& m) {
    j = json{{"id", m.id}, {"name", m.name}};
    if (m.nick) j["nick"] = *m.nick;
}
inline void from_json(const json& j, Member& m) {
    j.at("id").get_to(m.id);
    j.at("name").get_to(m.name);
    if (auto it = j.find("nick"); it != j.end()) m.nick = it->get<std::string>();
}
struct Sample {
    std::string id;
    std::chrono::sys_time<std::chrono::milliseconds> at;
    std::chrono::year_month_day day;
    std::chrono::milliseconds took;
    std::vector<std::uint8_t> blob;
    std::vector<std::uint8_t> flags;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Sample, id, at, day, took, blob, flags)
}  // namespace typed

static_assert(JsonRecord<typed::User>);
static_assert(JsonRecord<typed::Sample>);
static_assert(!JsonRecord<typed::NotJson>);

TEST_F(Fixture, ResourceAndDatabaseRefsAreTheResourcesRequestForRequest) {
    // What plugins keep of the database: every call is the resource's own, at its request count.
    DatabaseRef ref(db);
    EXPECT_FALSE(ref.has_resource("users"));
    EXPECT_THROW(ref.resource("users"), ResourceNotFound);
    ResourceRef users = ref.create_resource(users_config());
    EXPECT_TRUE(ref.has_resource("users"));
    EXPECT_EQ(ref.resources(), std::vector<std::string>{"users"});
    EXPECT_EQ(users.name(), "users");
    EXPECT_NE(users.partitions().find("byRegion"), nullptr);
    EXPECT_EQ(users.key_of("u1"), db.resource("users").key_of("u1"));

    auto before = db.transport().counts();
    users.insert({{"id", "u1"}, {"name", "Ada"}, {"region", "eu"}});
    EXPECT_EQ(since(before), (RequestCounts{.put = 2}));
    before = db.transport().counts();
    EXPECT_EQ(users.get_or_null("u1")->at("name"), "Ada");
    EXPECT_FALSE(users.get_or_null("nobody"));
    EXPECT_EQ(since(before), (RequestCounts{.get = 2}));
    before = db.transport().counts();
    users.update("u1", [](json& r) { r["age"] = 37; });
    EXPECT_EQ(since(before), (RequestCounts{.put = 1, .get = 1}));
    users.update("u1", json{{"region", "us"}});
    EXPECT_EQ(db.resource("users").get("u1")["region"], "us");
    EXPECT_EQ(users.replace("u1", {{"name", "Ada L"}, {"region", "us"}})["name"], "Ada L");

    users.insert({{"id", "u2"}, {"name", "Bob"}});
    EXPECT_THROW(users.insert({{"id", "u3"}, {"name", "x"}}), ValidationError) << "name is min:2";
    EXPECT_EQ(users.list_ids().size(), 2u);
    EXPECT_EQ(users.list_ids(ListQuery{.partition = "byRegion", .values = {{"region", "us"}}}), std::vector<std::string>{"u1"});
    EXPECT_EQ(users.get_many({"u1", "zz"})[1], std::nullopt);
    users.remove_many({"u1", "u2"});
    EXPECT_EQ(users.list().size(), 0u);
    EXPECT_EQ(ResourceRef(ref.resource("users")).name(), "users");
}

TEST_F(Fixture, TypedResourcesMapStructs) {
    db.create_resource({.name = "people", .attributes = ojson{{"name", "string|required"}, {"age", "number|integer"}}});
    auto people = db.resource<typed::User>("people");
    auto ada = people.insert({.id = "", .name = "Ada", .age = 36});
    EXPECT_EQ(ada.id.size(), 22u);
    auto older = people.update(ada.id, [](typed::User& u) { ++u.age; });
    EXPECT_EQ(older.age, 37);
    EXPECT_EQ(people.get(ada.id).name, "Ada");
    EXPECT_FALSE(people.get_or_null("nobody"));
    EXPECT_EQ(people.list().size(), 1u);
}

TEST_F(Fixture, TypedResourcesMapChronoAndBytes) {
    using namespace std::chrono;
    db.create_resource({.name = "samples",
                        .attributes = ojson{{"at", "datetime"}, {"day", "dateonly"}, {"took", "duration"},
                                            {"blob", "buffer"}, {"flags", "bits:12"}}});
    auto events = db.resource<typed::Sample>("samples");
    const typed::Sample e{.id = "e1",
                         .at = sys_days(2024y / 2 / 29) + 3h + 4min + 5s + 678ms,
                         .day = 1969y / 12 / 31,
                         .took = 1h + 30min + 250ms,
                         .blob = {0, 1, 255},
                         .flags = {0xff, 0x0f}};
    auto back = events.insert(e);
    for (const auto& got : {back, events.get("e1")}) {
        EXPECT_EQ(got.at, e.at);
        EXPECT_EQ(got.day, e.day);
        EXPECT_EQ(got.took, e.took);
        EXPECT_EQ(got.blob, e.blob);
        EXPECT_EQ(got.flags, e.flags);
    }
    // stored as s3db.js stores them, read as it reads them
    auto raw = events.untyped().get("e1");
    EXPECT_EQ(raw["at"], "2024-02-29T03:04:05.678Z");
    EXPECT_EQ(raw["day"], "1969-12-31");
    EXPECT_EQ(raw["took"], "PT1H30M0.250S");
    EXPECT_EQ(raw["blob"], (json{{"type", "Buffer"}, {"data", {0, 1, 255}}}));
    // bits:12 holds two bytes
    auto wrong = e;
    wrong.id = "e2";
    wrong.flags = {1};
    EXPECT_THROW(events.insert(wrong), ValidationError);
}

TEST_F(Fixture, TypedResourcesCoverBulkPagedAndQueriedOperations) {
    db.create_resource({.name = "people", .attributes = ojson{{"name", "string|required"}, {"age", "number|integer"}}});
    auto people = db.resource<typed::User>("people");
    people.insert({.id = "a", .name = "Ada", .age = 36});
    auto made = people.insert_many({{.id = "b", .name = "Bob", .age = 41},
                                    {.id = "a", .name = "Again", .age = 1},  // the id exists
                                    {.id = "c", .name = "Cy", .age = 36}});
    ASSERT_EQ(made.size(), 3u);
    EXPECT_EQ(made[0].record->name, "Bob");
    EXPECT_FALSE(made[1].record);
    EXPECT_NE(made[1].error.find("'a'"), std::string::npos) << made[1].error;
    EXPECT_EQ(made[2].record->id, "c");

    auto got = people.get_many({"a", "zz", "c"});
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0]->name, "Ada");
    EXPECT_FALSE(got[1]);
    EXPECT_EQ(got[2]->age, 36);

    auto first = people.page(2);
    ASSERT_EQ(first.items.size(), 2u);
    EXPECT_EQ(first.items[0].id, "a");
    auto second = people.page(2, first.next_cursor);
    ASSERT_EQ(second.items.size(), 1u);
    EXPECT_EQ(second.items[0].id, "c");
    EXPECT_TRUE(second.next_cursor.empty());

    EXPECT_EQ(people.query({{"age", 36}}).size(), 2u);
    auto named = people.query({{"age", 36}}, [](const typed::User& u) { return u.name.starts_with("C"); });
    ASSERT_EQ(named.size(), 1u);
    EXPECT_EQ(named[0].id, "c");

    int seen = 0;
    people.for_each([&](typed::User&& u) { seen += u.age; });
    EXPECT_EQ(seen, 36 + 41 + 36);

    EXPECT_EQ(people.upsert({.id = "b", .name = "Bob", .age = 42}).age, 42);
    EXPECT_EQ(people.upsert({.id = "e", .name = "Eve", .age = 29}).name, "Eve");
    people.remove_many({"a", "e"});
    EXPECT_EQ(people.count(), 2u);
}

TEST_F(Fixture, TypedUpdatesKeepTheFieldsTheStructDoesNotModel) {
    db.create_resource({.name = "people",
                        .attributes = ojson{{"name", "string|required"}, {"age", "number|integer"}, {"city", "string|optional"}},
                        .timestamps = true});
    auto& untyped = db.resource("people");
    const std::string id = untyped.insert({{"name", "Ada"}, {"age", 36}, {"city", "London"}})["id"];
    const std::string created = untyped.get(id)["createdAt"];
    auto people = db.resource<typed::User>("people");
    EXPECT_EQ(people.update(id, [](typed::User& u) { ++u.age; }).age, 37);
    auto stored = untyped.get(id);
    EXPECT_EQ(stored["city"], "London");
    EXPECT_EQ(stored["createdAt"], created);
    EXPECT_EQ(stored["age"], 37);
}

TEST_F(Fixture, TypedUpdatesRemoveAFieldTheStructStopsWriting) {
    db.create_resource({.name = "members",
                        .attributes = ojson{{"name", "string"}, {"nick", "string|optional"}, {"team", "string|optional"}}});
    db.resource("members").insert({{"id", "m1"}, {"name", "Ada"}, {"nick", "countess"}, {"team", "math"}});
    auto members = db.resource<typed::Member>("members");
    EXPECT_FALSE(members.update("m1", [](typed::Member& m) { m.nick.reset(); }).nick);
    auto stored = db.resource("members").get("m1");
    EXPECT_FALSE(stored.contains("nick"));
    EXPECT_EQ(stored["team"], "math");
}

namespace typed {
/// The members core/typed_values.hpp maps, in the forms s3db.js gives those fields.
struct Event {
    std::string id;
    std::chrono::sys_time<std::chrono::milliseconds> at{};  // datetime
    std::chrono::sys_seconds posted{};                      // datetime, whole seconds
    std::chrono::year_month_day day{};                      // dateonly
    std::chrono::milliseconds elapsed{};                    // number
    std::vector<std::uint8_t> payload;                      // base64 text
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Event, id, at, posted, day, elapsed, payload)
}  // namespace typed

namespace {
ResourceConfig events_config() {
    return {.name = "events",
            .attributes = ojson{{"at", "datetime"}, {"posted", "datetime"}, {"day", "dateonly"},
                                {"elapsed", "number|integer"}, {"payload", "string"}}};
}
}  // namespace

TEST_F(Fixture, TypedRecordsMapDatesDurationsAndBytes) {
    using namespace std::chrono;
    db.create_resource(events_config());
    auto events = db.resource<typed::Event>("events");
    const auto may_first = sys_days(year{2024} / May / 1);
    const typed::Event sent{.id = "e1",
                            .at = may_first + 12h + 30min + 250ms,
                            .posted = may_first + 9h,
                            .day = year{2024} / May / 1,
                            .elapsed = 1500ms,
                            .payload = {0x00, 0x01, 0xfe, 0xff, 'h', 'i'}};
    auto stored = events.insert(sent);
    EXPECT_EQ(stored.at, sent.at);
    EXPECT_EQ(stored.posted, sent.posted);
    EXPECT_EQ(stored.day, sent.day);
    EXPECT_EQ(stored.elapsed, sent.elapsed);
    EXPECT_EQ(stored.payload, sent.payload);

    // The record holds them as s3db.js returns those fields.
    auto raw = db.resource("events").get("e1");
    EXPECT_EQ(raw["at"], "2024-05-01T12:30:00.250Z");
    EXPECT_EQ(raw["posted"], "2024-05-01T09:00:00.000Z");
    EXPECT_EQ(raw["day"], "2024-05-01");
    EXPECT_EQ(raw["elapsed"], 1500);
    EXPECT_EQ(raw["payload"], "AAH+/2hp");

    auto got = events.get("e1");
    EXPECT_EQ(got.at, sent.at);
    EXPECT_EQ(got.day, sent.day);
    EXPECT_EQ(got.payload, sent.payload);
    auto later = events.update("e1", [](typed::Event& e) {
        e.at += 24h;
        e.day = sys_days(e.day) + days(1);
        e.elapsed *= 2;
        e.payload.push_back('!');
    });
    EXPECT_EQ(later.at, sent.at + 24h);
    EXPECT_EQ(later.day, year{2024} / May / 2);
    raw = db.resource("events").get("e1");
    EXPECT_EQ(raw["at"], "2024-05-02T12:30:00.250Z");
    EXPECT_EQ(raw["day"], "2024-05-02");
    EXPECT_EQ(raw["elapsed"], 3000);
    EXPECT_EQ(raw["payload"], "AAH+/2hpIQ==");
}

TEST_F(Fixture, TypedRecordsReadTheFormsOtherWritersUse) {
    using namespace std::chrono;
    db.create_resource(events_config());
    // Written untyped, as another program (or s3db.js) would: an offset, epoch ms, base64url.
    db.resource("events").insert({{"id", "e2"}, {"at", "2024-05-01T14:30:00.250+02:00"}, {"posted", 1714554000999},
                                  {"day", "2024-02-29"}, {"elapsed", 42}, {"payload", "AAH-_w"}});
    auto e = db.resource<typed::Event>("events").get("e2");
    EXPECT_EQ(e.at, sys_days(year{2024} / May / 1) + 12h + 30min + 250ms);
    EXPECT_EQ(e.posted, sys_days(year{2024} / May / 1) + 9h);  // seconds: the milliseconds dropped
    EXPECT_EQ(e.day, year{2024} / February / 29);
    EXPECT_EQ(e.elapsed, 42ms);
    EXPECT_EQ(e.payload, (std::vector<std::uint8_t>{0x00, 0x01, 0xfe, 0xff}));

    // A date from a datetime is its UTC day, before the epoch too; bytes also read nlohmann's arrays.
    EXPECT_EQ(json("1969-12-31T23:59:59.999Z").get<year_month_day>(), year{1969} / December / 31);
    EXPECT_EQ(json(-1).get<year_month_day>(), year{1969} / December / 31);
    EXPECT_EQ(json(1500.0).get<milliseconds>(), 1500ms);
    EXPECT_EQ(json::array({1, 2, 255}).get<std::vector<std::uint8_t>>(), (std::vector<std::uint8_t>{1, 2, 255}));
    EXPECT_EQ((json{{"type", "Buffer"}, {"data", {1, 2}}}).get<std::vector<std::uint8_t>>(),
              (std::vector<std::uint8_t>{1, 2}));  // Node's JSON of a Buffer
    // Durations as s3db.js returns duration fields.
    EXPECT_EQ(json("PT1.500S").get<milliseconds>(), 1500ms);
    EXPECT_EQ(json("PT1H2M3.5S").get<milliseconds>(), 1h + 2min + 3500ms);
    EXPECT_EQ(json("P1DT0.250S").get<milliseconds>(), 24h + 250ms);
    EXPECT_EQ(json("P2D").get<milliseconds>(), 48h);
    EXPECT_EQ(json("PT5M").get<milliseconds>(), 5min);
    EXPECT_EQ(json("PT0S").get<milliseconds>(), 0ms);
    EXPECT_EQ(json("PT0.0005S").get<milliseconds>(), 1ms);  // rounded as s3db.js rounds
    for (auto bad : {"P", "PT", "P1", "PT1", "PT1.S", "PT1H2", "P1DT", "PT-1S", "PT1S ", "P99999999999999999D"})
        EXPECT_THROW((void)json(bad).get<milliseconds>(), json::type_error) << bad;

    // Values with no such form are refused as nlohmann refuses a wrong type.
    EXPECT_THROW((void)json("yesterday").get<sys_time<milliseconds>>(), json::type_error);
    EXPECT_THROW((void)json(true).get<sys_seconds>(), json::type_error);
    EXPECT_THROW((void)json("2024-13-01").get<year_month_day>(), json::type_error);
    EXPECT_THROW((void)json(1.5).get<milliseconds>(), json::type_error);
    EXPECT_THROW((void)json("1500ms").get<milliseconds>(), json::type_error);
    EXPECT_THROW((void)json("not base64!").get<std::vector<std::uint8_t>>(), json::type_error);
    EXPECT_THROW((void)json::array({256}).get<std::vector<std::uint8_t>>(), json::type_error);
    EXPECT_THROW((void)json(year{2024} / February / 30), json::out_of_range);
    EXPECT_THROW((void)json(sys_time<milliseconds>(milliseconds(8640000000000001))), json::out_of_range);
    db.resource("events").insert({{"id", "e3"}, {"at", "2024-05-01T00:00:00.000Z"}, {"posted", 0}, {"day", "2024-05-01"},
                                  {"elapsed", 1}, {"payload", "%%%"}});
    EXPECT_THROW(db.resource<typed::Event>("events").get("e3"), json::type_error);
}

TEST_F(Fixture, PatchIsHeadPlusConditionalCopyAndKeepsContent) {
    auto& docs = db.create_resource({.name = "docs", .attributes = ojson{{"title", "string"}, {"tag", "string|optional"}},
                                     .behavior = "enforce-limits",
                                     .partitions = ojson{{"byTag", {{"fields", {{"tag", "string"}}}}}}});
    docs.insert({{"id", "d1"}, {"title", "Notes"}, {"tag", "a"}});
    docs.set_content("d1", std::string("\x89PNG\0bin", 8), "image/png");
    auto before = db.transport().counts();
    auto patched = docs.patch("d1", {{"title", "Notes v2"}});
    EXPECT_EQ(since(before), (RequestCounts{.head = 1, .copy = 1}));
    EXPECT_EQ(patched["title"], "Notes v2");
    auto content = docs.content("d1");
    ASSERT_TRUE(content);
    EXPECT_EQ(content->first, std::string("\x89PNG\0bin", 8));
    EXPECT_EQ(content->second, "image/png");
    EXPECT_TRUE(docs.has_content("d1"));
    EXPECT_EQ(docs.get("d1")["title"], "Notes v2");
    docs.patch("d1", {{"tag", "b"}});
    EXPECT_EQ(docs.list_ids({.partition = "byTag", .values = {{"tag", "b"}}}), std::vector<std::string>{"d1"});
    docs.delete_content("d1");
    EXPECT_FALSE(docs.has_content("d1"));
    EXPECT_EQ(docs.get("d1")["tag"], "b");

    auto& users = db.create_resource(users_config());
    users.insert({{"id", "u"}, {"name", "Ada"}});
    EXPECT_THROW(users.set_content("u", "x"), ConfigError);
}

TEST_F(Fixture, UpdatesOfMetadataOnlyRecordsKeepTheirContent) {
    auto& docs = db.create_resource({.name = "docs", .attributes = ojson{{"n", "number|integer"}}, .behavior = "truncate-data"});
    docs.insert({{"id", "d"}, {"n", 1}});
    docs.set_content("d", "payload", "text/plain");
    auto before = db.transport().counts();
    docs.update("d", [](json& r) { r["n"] = r["n"].get<int>() + 1; });
    EXPECT_EQ(since(before), (RequestCounts{.head = 1, .copy = 1}));
    EXPECT_EQ(docs.get("d")["n"], 2);
    EXPECT_EQ(docs.content("d")->first, "payload");
}

TEST_F(Fixture, RecordsStreamOneHundredThousandRecordsOnePageAtATime) {
    auto& users = db.create_resource(users_config());
    constexpr std::size_t n = 100'000;
    std::vector<json> batch;
    batch.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
        batch.push_back({{"id", "u" + std::to_string(1'000'000 + i)}, {"name", "user"}, {"region", i % 10 ? "eu" : "us"}});
    for (auto& r : users.insert_many(std::move(batch))) ASSERT_TRUE(r.record) << r.error;

    auto before = db.transport().counts();
    auto range = users.records();
    std::size_t seen = 0;
    std::size_t most_ahead = 0;
    std::string last;
    for (auto& r : range) {
        auto id = r["id"].get<std::string>();
        ASSERT_LT(last, id);  // key order, each record once
        last = std::move(id);
        ++seen;
        auto fetched = since(before).get;
        most_ahead = std::max<std::size_t>(most_ahead, fetched - seen);
    }
    EXPECT_EQ(seen, n);
    // Never more than one page read ahead of the consumer: memory stays bounded by the page size.
    EXPECT_LT(most_ahead, max_list_keys);
    EXPECT_EQ(range.pages_read(), n / max_list_keys);
    EXPECT_EQ(since(before), (RequestCounts{.get = n, .list = n / max_list_keys}));

    // The same through a partition: only that prefix is listed.
    before = db.transport().counts();
    std::size_t us = 0;
    for (auto& r : users.records({.partition = "byRegion", .values = {{"region", "us"}}})) us += r["region"] == "us";
    EXPECT_EQ(us, n / 10);
    EXPECT_EQ(since(before), (RequestCounts{.get = n / 10, .list = n / 10 / max_list_keys}));
}

TEST_F(Fixture, ReadHooksSeeRequestsAndResultsAndCanReject) {
    auto& users = db.create_resource(users_config());
    users.insert({{"id", "u1"}, {"name", "Ada"}});
    users.insert({{"id", "u2"}, {"name", "Bob"}});
    std::vector<std::string> seen;
    users.add_hook(Hook::before_list, [&](OperationContext& c) {
        seen.push_back(std::string(c.operation));
        if (c.data["query"]["partition"] == "byRegion") throw ValidationError({}, "no partition listings today");
    });
    users.add_hook(Hook::after_count, [](OperationContext& c) { c.data = c.data.get<std::size_t>() * 10; });
    users.add_hook(Hook::after_get_many, [](OperationContext& c) { c.data.erase(c.data.begin()); });
    EXPECT_EQ(users.list().size(), 2u);
    EXPECT_EQ(seen, (std::vector<std::string>{"list", "list_ids"}));
    EXPECT_THROW(users.list({.partition = "byRegion", .values = {{"region", "eu"}}}), ValidationError);
    EXPECT_EQ(users.count(), 20u);
    EXPECT_EQ(users.get_many({"u1", "u2"}).size(), 1u);
    std::size_t inserted = 0;
    users.on("inserted-many", [&](const OperationContext& c) { inserted = c.data["inserted"]; });
    users.insert_many({{{"name", "Cy"}}, {{"name", "D"}}});  // "D" is too short
    EXPECT_EQ(inserted, 1u);
}

TEST(DatabaseOptions, MetadataLimitAndStrictValidationApplyToEveryResource) {
    BasicDatabase<Memory> small(Memory{}, DatabaseOptions{.metadata_limit = 600});
    BasicDatabase<Memory> usual(Memory{});
    ResourceConfig notes{.name = "notes", .attributes = ojson{{"text", "string"}}, .behavior = "enforce-limits"};
    json big{{"text", std::string(1000, 'x')}};
    EXPECT_THROW(small.create_resource(notes).insert(big), RecordTooLarge);
    EXPECT_EQ(small.create_resource(notes).count(), 0u);  // refused before any write
    EXPECT_NO_THROW(usual.create_resource(notes).insert(big));

    ResourceConfig loose{.name = "loose", .attributes = ojson{{"text", "string"}},
                         .partitions = ojson{{"byKind", {{"fields", {{"kind", "string"}}}}}}};
    EXPECT_THROW(usual.create_resource(loose), PartitionError);  // "kind" is not an attribute
    BasicDatabase<Memory> lenient(Memory{}, DatabaseOptions{.strict_validation = false});
    auto& r = lenient.create_resource(loose);
    r.insert({{"id", "a"}, {"text", "t"}, {"kind", "k"}});
    EXPECT_EQ(r.list({.partition = "byKind", .values = {{"kind", "k"}}}).size(), 1u);
}

TEST_F(Fixture, ASchemaThatDeclaresIdValidatesItAndKeepsItOutOfMetadata) {
    // s3db.js's plg_audits declares `id: 'string|required'`.
    auto& logs = db.create_resource({.name = "logs", .attributes = ojson{{"id", "string|required|min:3"}, {"what", "string"}}});
    auto r = logs.insert({{"id", "log-1"}, {"what", "x"}});
    EXPECT_EQ(logs.get("log-1"), (json{{"id", "log-1"}, {"what", "x"}}));
    auto raw = db.transport().inner().head(logs.key_of("log-1"));
    ASSERT_TRUE(raw);
    for (auto& [k, v] : raw->metadata) EXPECT_NE(v, "log-1") << "the id was stored in metadata under " << k;
    EXPECT_THROW(logs.insert({{"id", "ab"}, {"what", "x"}}), ValidationError);  // min:3 applies to the id
    EXPECT_NO_THROW(logs.insert({{"what", "generated id"}}));
}

TEST_F(Fixture, IdsFollowIdSizeAcrossDefinitionsAndCustomGeneratorsStay) {
    auto config = users_config();
    auto& users = db.create_resource(config);
    const std::string first = users.insert({{"name", "Ada"}})["id"];
    EXPECT_EQ(first.size(), default_id_size);
    EXPECT_EQ(first.find_first_not_of(url_alphabet), std::string::npos) << first;

    config.id_size = 10;  // a new version of the definition
    auto& again = db.create_resource(config);
    ASSERT_EQ(&again, &users);
    const std::string shorter = users.insert({{"name", "Bob"}})["id"];
    EXPECT_EQ(shorter.size(), 10u) << shorter;

    int n = 0;
    users.set_id_generator([&] { return "custom-" + std::to_string(++n); });
    EXPECT_EQ(users.insert({{"name", "Cy"}})["id"], "custom-1");
    config.id_size = 12;
    db.create_resource(config);
    EXPECT_EQ(users.insert({{"name", "Di"}})["id"], "custom-2");  // the user's generator stays
    EXPECT_EQ(users.get("custom-2")["name"], "Di");
}

TEST_F(Fixture, ResourceNamesThatWouldBreakKeysAreRefusedBeforeAnyRequest) {
    db.create_resource({.name = "a", .attributes = ojson{{"name", "string"}}});
    const auto before = db.transport().counts();
    for (std::string name : std::vector<std::string>{"", "a/b", "..", "x\ny", "bad\xff"}) {
        auto config = users_config();
        config.name = name;
        try {
            db.create_resource(config);
            ADD_FAILURE() << "'" << name << "' was accepted";
        } catch (const ConfigError& e) {
            EXPECT_NE(std::string(e.what()).find("resource name"), std::string::npos) << e.what();
        }
    }
    EXPECT_EQ(since(before).total(), 0u);
    EXPECT_EQ(db.resources(), std::vector<std::string>{"a"});
}

TEST_F(Fixture, DefinitionsWhoseIdsCouldNeverBeStoredAreRefusedBeforeAnyRequest) {
    const auto before = db.transport().counts();
    auto negative = users_config();
    negative.id_size = -1;  // used to be accepted, then every insert threw std::length_error
    EXPECT_THROW(db.create_resource(negative), ConfigError);
    auto huge = users_config();
    huge.id_size = 5000;
    EXPECT_THROW(db.create_resource(huge), ConfigError);
    auto long_name = users_config();
    long_name.name = std::string(1020, 'n');  // used to be accepted, then every insert failed
    try {
        db.create_resource(long_name);
        FAIL() << "a 1,020-character name was accepted";
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("1024"), std::string::npos) << e.what();
    }
    EXPECT_EQ(since(before).total(), 0u);
    EXPECT_TRUE(db.resources().empty());
    // A name that leaves room for its ids works, up to the last byte.
    auto fits = users_config();
    fits.name = std::string(1024 - 18 - 22, 'n');
    auto& r = db.create_resource(fits);
    EXPECT_EQ(r.get(r.insert({{"name", "Ada"}})["id"].get<std::string>())["name"], "Ada");
}

TEST_F(Fixture, DeeplyNestedRecordsAreValidationErrorsNotCrashes) {
    auto& users = db.create_resource(users_config());
    nlohmann::json deep = 1;
    for (int i = 0; i < 60000; ++i) deep = nlohmann::json{{"n", std::move(deep)}};
    const auto before = db.transport().counts();
    try {
        users.insert({{"id", "u1"}, {"name", "Ada"}, {"payload", std::move(deep)}});
        FAIL() << "a record nested 60,000 levels deep was accepted";
    } catch (const ValidationError& e) {
        std::string what = e.what();
        EXPECT_NE(what.find("users"), std::string::npos) << what.substr(0, 300);
        EXPECT_NE(what.find("u1"), std::string::npos) << what.substr(0, 300);
        EXPECT_NE(what.find("payload"), std::string::npos) << what.substr(0, 300);
        EXPECT_NE(what.find("100"), std::string::npos) << what.substr(0, 300);
        ASSERT_EQ(e.failures().size(), 1u);
        EXPECT_EQ(e.failures()[0].rule, "nestingDepth");
    }
    EXPECT_EQ(since(before).total(), 0u);
    // A stored body nested that deep (written by hand, or damaged) is not parsed, so nothing recurses
    // into it: the read answers instead of overflowing the stack.
    auto& docs = db.create_resource({.name = "docs", .attributes = ojson{{"name", "string|optional"}}, .behavior = "body-only"});
    const std::size_t levels = 200000;
    std::string text;
    for (std::size_t i = 0; i < levels; ++i) text += "{\"n\":";
    text += "1" + std::string(levels, '}');
    db.transport().put(record_key("docs", "d1"), text, {.metadata = {{"_v", "v1"}}});
    std::optional<nlohmann::json> got;
    try {
        got = docs.get("d1");
    } catch (const s3db::Error&) {
    }
    if (got) {
        EXPECT_FALSE(got->contains("n"));
    }
}

// ---- secrets --------------------------------------------------------------------------------------

namespace {
ResourceConfig vault_config(bool auto_decrypt = true) {
    return {.name = "vault", .attributes = ojson{{"name", "string"}, {"password", "secret"}}, .auto_decrypt = auto_decrypt};
}

/// A database on the process-wide memory bucket `bucket`, so two passphrases can share one store.
Db shared_db(const std::string& bucket, std::string passphrase) {
    return Db(Counting<Memory>(Memory::shared(bucket)), DatabaseOptions{.passphrase = std::move(passphrase)});
}
}  // namespace

TEST(DatabaseSecrets, AWrongPassphraseIsATypedErrorAndCannotOverwriteTheSecret) {
    const std::string bucket = "secrets-wrong-" + std::to_string(::getpid());
    Db right = shared_db(bucket, "right passphrase");
    auto& vault = right.create_resource(vault_config());
    vault.insert({{"id", "v1"}, {"name", "mail"}, {"password", "hunter2"}});

    Db wrong = shared_db(bucket, "Tr0ub4dor&3");
    wrong.connect();
    auto& theirs = wrong.resource("vault");
    try {
        theirs.get("v1");
        FAIL() << "a wrong passphrase returned the ciphertext";
    } catch (const DecryptionFailed& e) {
        EXPECT_EQ(e.resource(), "vault");
        EXPECT_EQ(e.id(), "v1");
        EXPECT_EQ(e.field(), "password");
        EXPECT_EQ(e.stage(), DecryptionFailed::Stage::read);
        std::string what = e.what();
        EXPECT_NE(what.find("'password' of record 'v1' of resource 'vault'"), std::string::npos) << what;
        EXPECT_EQ(what.find("hunter2"), std::string::npos) << what;
        EXPECT_EQ(what.find("Tr0ub4dor"), std::string::npos) << what;
    }
    EXPECT_THROW(theirs.list(), DecryptionFailed);
    // The update reads first: it stops there, and the secret is still there for the right passphrase.
    EXPECT_THROW(theirs.update("v1", json{{"name", "changed"}}), DecryptionFailed);
    auto back = vault.get("v1");
    EXPECT_EQ(back["password"], "hunter2");
    EXPECT_EQ(back["name"], "mail");
    // Overwriting the secret on purpose is a replace, which reads nothing.
    theirs.replace("v1", {{"name", "mail"}, {"password", "their own"}});
    EXPECT_EQ(theirs.get("v1")["password"], "their own");
}

TEST(DatabaseSecrets, WithDecryptionOffUpdatesCarryTheCiphertextThroughUnchanged) {
    const std::string bucket = "secrets-off-" + std::to_string(::getpid());
    Db right = shared_db(bucket, "right passphrase");
    auto& vault = right.create_resource(vault_config(false));
    vault.insert({{"id", "v1"}, {"name", "mail"}, {"password", "hunter2"}});
    const std::string cipher = vault.get("v1")["password"];
    EXPECT_NE(cipher, "hunter2");
    EXPECT_EQ(vault.update("v1", json{{"name", "renamed"}})["password"], cipher);
    EXPECT_EQ(vault.get("v1")["password"], cipher);

    // Another passphrase sees the same ciphertext, and may not seal it a second time.
    Db other = shared_db(bucket, "another passphrase");
    other.connect();
    auto& theirs = other.resource("vault");
    EXPECT_EQ(theirs.get("v1")["password"], cipher);
    try {
        theirs.update("v1", json{{"name", "theirs"}});
        FAIL() << "ciphertext under another passphrase was encrypted again";
    } catch (const DecryptionFailed& e) {
        EXPECT_EQ(e.resource(), "vault");
        EXPECT_EQ(e.id(), "v1");
        EXPECT_EQ(e.field(), "password");
        EXPECT_EQ(e.stage(), DecryptionFailed::Stage::write);
        EXPECT_EQ(std::string(e.what()).find(cipher), std::string::npos);
    }
    auto back = vault.get("v1");
    EXPECT_EQ(back["password"], cipher);
    EXPECT_EQ(back["name"], "renamed");
}

TEST_F(Fixture, TruncateDataWritesReturnTheRecordAsStoredAndNeverCutASecret) {
    auto& notes = db.create_resource({.name = "notes",
                                      .attributes = ojson{{"title", "string"}, {"password", "secret"}, {"body", "string"}},
                                      .behavior = "truncate-data"});
    // The body does not fit: insert returns it cut, as get does.
    auto a = notes.insert({{"title", "a"}, {"password", "hunter2"}, {"body", std::string(3000, 'b')}});
    EXPECT_EQ(a, notes.get(a["id"].get<std::string>()));
    EXPECT_LT(a["body"].get<std::string>().size(), 2000u);
    EXPECT_EQ(a["password"], "hunter2");
    // A secret that does not fit whole is dropped whole: never a fragment of its ciphertext.
    auto b = notes.insert({{"title", "b"}, {"password", std::string(1600, 'p')}, {"body", std::string(3000, 'b')}});
    auto stored = notes.get(b["id"].get<std::string>());
    EXPECT_EQ(b, stored);
    EXPECT_FALSE(stored.contains("password")) << stored["password"].dump().substr(0, 80);
    EXPECT_EQ(stored["title"], "b");
    EXPECT_GT(stored["body"].get<std::string>().size(), 1000u);  // the room the secret left
    // Updates return what they stored too.
    auto u = notes.update(a["id"].get<std::string>(), json{{"title", std::string(100, 't')}});
    EXPECT_EQ(u, notes.get(a["id"].get<std::string>()));
    EXPECT_EQ(u["password"], "hunter2");
}

namespace {
/// s3db.json as stored, edited by `edit` and written back: what s3db.js (or a hand) may leave there,
/// which create_resource would refuse to write.
template <class Store, class Edit>
void edit_catalogue(Store& store, Edit&& edit) {
    auto doc = ojson::parse(store.get("s3db.json")->body);
    edit(doc["resources"]);
    store.put("s3db.json", doc.dump(2), PutOptions{.content_type = "application/json"});
}
}  // namespace

TEST_F(Fixture, AResourceThatCannotBeOpenedDoesNotTakeTheDatabaseDown) {
    db.create_resource(users_config()).insert({{"id", "u1"}, {"name", "Ada"}});
    auto& store = db.transport().inner();
    edit_catalogue(store, [](ojson& resources) {
        ojson geo = resources["users"];
        geo["versions"]["v1"]["attributes"] = ojson{{"loc", "text"}};  // a type s3db-cpp does not support
        geo["versions"]["v1"]["extra"] = {{"kept", 1.5}, {"order", {3, 1, 2}}};
        resources["geo"] = geo;
        ojson odd = resources["users"];
        odd["versions"]["v1"]["behavior"] = "foo";
        resources["odd"] = odd;
        ojson parts = resources["users"];
        parts["partitions"] = {{"byNothing", {{"fields", {{"nope", "string"}}}}}};
        resources["parts"] = parts;
        resources["hollow"] = {{"currentVersion", "v2"}, {"versions", {{"v1", ojson::object()}}}};
        resources["typo"] = resources["users"];
        resources["typo"]["versions"]["v1"]["behavior"] = 42;
    });
    const auto before = ojson::parse(store.get("s3db.json")->body)["resources"];

    BasicDatabase<Memory> again{store};
    ASSERT_NO_THROW(again.connect());
    EXPECT_EQ(again.resources(), (std::vector<std::string>{"geo", "hollow", "odd", "parts", "typo", "users"}));
    const std::vector<std::pair<std::string, std::string>> reasons{
        {"geo", "text"}, {"odd", "foo"}, {"parts", "nope"}, {"hollow", "v2"}, {"typo", "behavior"}};
    for (auto& [name, reason] : reasons) {
        EXPECT_TRUE(again.has_resource(name));
        ASSERT_TRUE(again.resource_error(name)) << name;
        EXPECT_NE(again.resource_error(name)->find(reason), std::string::npos) << *again.resource_error(name);
        try {
            again.resource(name);
            ADD_FAILURE() << name << " opened";
        } catch (const ResourceUnavailable& e) {
            EXPECT_EQ(e.resource(), name);
            EXPECT_NE(std::string(e.what()).find("resource '" + name + "'"), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find(reason), std::string::npos) << e.what();
        }
    }
    // The others work.
    EXPECT_FALSE(again.resource_error("users"));
    auto& users = again.resource("users");
    EXPECT_EQ(users.get("u1")["name"], "Ada");
    users.insert({{"id", "u2"}, {"name", "Bo"}});
    EXPECT_EQ(users.count(), 2u);

    // Rewriting s3db.json (a new resource) keeps the definitions it could not open as they were.
    again.create_resource({.name = "fresh", .attributes = ojson{{"v", "string"}}});
    const auto after = ojson::parse(store.get("s3db.json")->body)["resources"];
    ASSERT_TRUE(after.contains("fresh"));
    for (auto& [name, _] : reasons) {
        ASSERT_TRUE(after.contains(name)) << name << " was dropped";
        EXPECT_EQ(after[name].dump(), before[name].dump()) << name;
    }
    // Redefining over an entry that cannot be read is refused, and the entry stays.
    EXPECT_THROW(again.create_resource({.name = "hollow"}), CorruptMetadata);
    EXPECT_EQ(ojson::parse(store.get("s3db.json")->body)["resources"]["hollow"].dump(), before["hollow"].dump());
    // A definition that can be opened replaces one that could not.
    again.create_resource({.name = "geo", .attributes = ojson{{"loc", "string"}}});
    EXPECT_FALSE(again.resource_error("geo"));
    EXPECT_EQ(again.resource("geo").insert({{"loc", "here"}})["loc"], "here");
}

TEST_F(Fixture, ListingsSkipObjectsTheyCannotDecodeAndReportThem) {
    auto& users = db.create_resource(users_config());
    users.insert({{"id", "u1"}, {"name", "Ada"}, {"region", "eu"}});
    users.insert({{"id", "u3"}, {"name", "Cy"}});
    // Another tool's object in the data prefix: its key holds no id this library accepts.
    db.transport().inner().put("resource=users/data/id=u2%junk", "{\"truncat");
    std::vector<std::pair<std::string, std::string>> skipped;
    users.on("skipped", [&](const OperationContext& c) {
        skipped.emplace_back(c.id, c.data.at("key").get<std::string>());
        EXPECT_FALSE(c.data.at("reason").get<std::string>().empty());
    });

    EXPECT_EQ(users.list().size(), 2u);
    ASSERT_EQ(skipped.size(), 1u);
    EXPECT_EQ(skipped[0], (std::pair<std::string, std::string>{"u2%junk", "resource=users/data/id=u2%junk"}));
    EXPECT_EQ(users.skipped_records(), 1u);
    EXPECT_EQ(users.query({{"name", "Ada"}}).size(), 1u);
    std::size_t n = 0;
    for (auto& r : users.records()) n += r.is_object();
    EXPECT_EQ(n, 2u);
    EXPECT_EQ(users.page(10).items.size(), 2u);
    EXPECT_EQ(users.skipped_records(), 4u);

    try {
        users.list({.strict_decoding = true});
        ADD_FAILURE() << "a strict listing skipped a record";
    } catch (const CorruptRecord& e) {
        EXPECT_EQ(e.resource(), "users");
        EXPECT_EQ(e.id(), "u2%junk");
        EXPECT_NE(std::string(e.what()).find("'u2%junk' of resource 'users'"), std::string::npos) << e.what();
    }
}

TEST(DatabaseOnFilesystem, ATruncatedRecordIsACorruptRecordThatListingsSkip) {
    const auto root = std::filesystem::temp_directory_path() / ("s3db-test-truncated-" + std::to_string(::getpid()));
    std::filesystem::remove_all(root);
    {
        BasicDatabase<Filesystem> db{Filesystem(FilesystemOptions{.root = root, .durable = false})};
        auto& users = db.create_resource(users_config("body-overflow"));
        users.insert({{"id", "u1"}, {"name", "Ada"}});
        users.insert({{"id", "u2"}, {"name", "Bo"}, {"email", std::string(3000, 'x')}});
        std::filesystem::path file;
        for (auto& e : std::filesystem::recursive_directory_iterator(root))
            if (e.path().filename() == "id%3Du2.obj") file = e.path();
        ASSERT_FALSE(file.empty());
        std::filesystem::resize_file(file, std::filesystem::file_size(file) - 100);

        try {
            users.get("u2");
            ADD_FAILURE() << "a truncated record was read";
        } catch (const CorruptRecord& e) {
            EXPECT_EQ(e.resource(), "users");
            EXPECT_EQ(e.id(), "u2");
        }
        auto all = users.list();
        ASSERT_EQ(all.size(), 1u);
        EXPECT_EQ(all[0]["id"], "u1");
        EXPECT_EQ(users.skipped_records(), 1u);
        EXPECT_THROW(users.list({.strict_decoding = true}), CorruptRecord);
    }
    std::filesystem::remove_all(root);
}

TEST_F(Fixture, RemoveAllLeavesTheKeysOfResourcesNestedUnderItsName) {
    auto config = [](std::string name) {
        return ResourceConfig{.name = std::move(name), .attributes = ojson{{"v", "string"}},
                              .partitions = ojson{{"byV", {{"fields", {{"v", "string"}}}}}}, .paranoid = false};
    };
    db.create_resource(config("a"));
    // s3db.js allows '/' in names; create_resource refuses it, so they are written as s3db.js would.
    auto& store = db.transport().inner();
    edit_catalogue(store, [](ojson& resources) {
        for (auto name : {"a/b", "a/data", "a/data/id=x", "a/plugin=p"}) resources[name] = resources["a"];
    });
    BasicDatabase<Memory> again{store};
    again.connect();
    for (auto& name : again.resources()) again.resource(name).insert({{"id", "r1"}, {"v", "1"}});
    auto& a = again.resource("a");
    EXPECT_EQ(a.count(), 1u) << "keys of a resource named a/data/id=x are not a's";
    EXPECT_EQ(a.list_ids(), std::vector<std::string>{"r1"});
    EXPECT_EQ(a.list().size(), 1u);
    EXPECT_EQ(a.skipped_records(), 0u);

    a.remove_all();
    EXPECT_EQ(a.count(), 0u);
    EXPECT_FALSE(a.get_or_null("r1"));
    EXPECT_TRUE(store.list({.prefix = "resource=a/partition="}).objects.empty());
    for (auto name : {"a/b", "a/data", "a/data/id=x", "a/plugin=p"}) {
        auto& nested = again.resource(name);
        EXPECT_EQ(nested.get("r1")["v"], "1") << name;
        EXPECT_EQ(nested.count(), 1u) << name;
        EXPECT_EQ(nested.count({.partition = "byV", .values = {{"v", "1"}}}), 1u) << name;
    }
}

TEST_F(Fixture, PartitionListingsSkipRefsTheyCannotUse) {
    auto& things = db.create_resource({.name = "things", .attributes = ojson{{"region", "json|optional"}},
                                       .partitions = ojson{{"byRegion", {{"fields", {{"region", "string"}}}}}}});
    things.insert({{"id", "t1"}, {"region", "x"}});
    things.insert({{"id", "t2"}, {"region", "x"}});
    auto& store = db.transport().inner();
    // Another tool rewrote t2 with an object where the partition needs text: it cannot be in the partition.
    auto t2 = *store.get("resource=things/data/id=t2");
    for (auto& [k, v] : t2.info.metadata)
        if (k != "_v") v = R"({"a":1})";
    store.put("resource=things/data/id=t2", t2.body, PutOptions{.metadata = t2.info.metadata});
    // And a ref whose key holds no valid id.
    store.put("resource=things/partition=byRegion/region=x/id=t%3", "");
    const ListQuery in_x{.partition = "byRegion", .values = {{"region", "x"}}};
    auto found = things.list(in_x);
    ASSERT_EQ(found.size(), 1u);
    EXPECT_EQ(found[0]["id"], "t1");
    EXPECT_EQ(things.get("t2")["region"], (json{{"a", 1}}));
    EXPECT_EQ(things.skipped_records(), 1u) << "the ref without an id is reported; t2 is just not in the partition";
    EXPECT_THROW(things.list(ListQuery{.partition = "byRegion", .values = {{"region", "x"}}, .strict_decoding = true}),
                 CorruptRecord);
}

TEST_F(Fixture, ABucketWhoseDefinitionNamesS3dbJsOwnTypesOpens) {
    // the attributes s3db.js 21.6.2 wrote to s3db.json for a resource of its own types, with
    // modifiers its aliases ignore (a strict parse refuses "color|min:3"; a bucket's opens)
    db.create_resource(users_config()).insert({{"id", "u1"}, {"name", "Ada"}});
    auto& store = db.transport().inner();
    edit_catalogue(store, [](ojson& resources) {
        ojson typed = resources["users"];
        typed["versions"]["v1"]["attributes"] = ojson::parse(R"({"tm":"timeonly","mac":"mac","cidr":"cidr",
            "sv":"semver","ph":"phone","col":"color|min:3","dur":"duration","cron":"cron","loc":"locale",
            "cur":"currency","ctry":"country","ean":"ean","lat":"geo:lat","lon":"geo:lon:4","pt":"geo:point",
            "sa":"secretAny","sn":"secretNumber","buf":"buffer|optional","bits":"bits:12|optional",
            "d":"date|convert:true|optional","omac":{"type":"mac"},"olat":{"type":"geo:lat"},
            "glat":{"type":"geo-lat"},"opt":{"type":"geo-point"}})");
        typed["versions"]["v1"].erase("hash");
        typed.erase("schemaRegistry");
        typed["partitions"] = {{"byColor", {{"fields", {{"col", "string"}}}}}};
        resources["typed"] = typed;
    });
    BasicDatabase<Memory> again{store};
    again.connect();
    ASSERT_FALSE(again.resource_error("typed")) << *again.resource_error("typed");
    auto& typed = again.resource("typed");
    json record = {{"id", "t1"}, {"tm", "13:45"}, {"mac", "AA-BB-CC-DD-EE-FF"}, {"cidr", "10.0.0.0/8"}, {"sv", "v1.2.3"},
                   {"ph", "+55 11 99999 9999"}, {"col", "#F57"}, {"dur", "90m"}, {"cron", "0 */5 * * *"},
                   {"loc", "pt_br"}, {"cur", "usd"}, {"ctry", "br"}, {"ean", "96385074"}, {"lat", 1.5},
                   {"lon", -2.25}, {"pt", {1, 2}}, {"sa", "x"}, {"sn", 7}, {"buf", {1, 2}},
                   {"omac", "aa-bb-cc-dd-ee-ff"}, {"olat", 3}, {"glat", 4}, {"opt", {{"lat", 5}, {"lon", 6}}}};
    auto written = typed.insert(record);
    EXPECT_EQ(written["col"], "#ff5577");
    EXPECT_EQ(written["dur"], "PT1H30M");
    EXPECT_EQ(typed.get("t1"), written);
    EXPECT_EQ(typed.list_ids({.partition = "byColor", .values = {{"col", "#ff5577"}}}), std::vector<std::string>{"t1"});
}
