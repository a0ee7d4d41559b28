// The database on every store (Memory, Filesystem, and S3 on Ceph RGW), with its request budgets
// counted on each: what a resource costs does not depend on where it lives.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <type_traits>
#include <thread>

#include "s3db/core/any_database.hpp"
#include "s3db/transport/counting.hpp"
#include "support/stores.hpp"

using namespace s3db;
using ojson = nlohmann::ordered_json;

template <class T>
class DatabaseOn : public ::testing::Test {
protected:
    BasicDatabase<Counting<T>> db{Counting<T>(test::make_store<T>())};
    RequestCounts since(const RequestCounts& before) { return db.transport().counts() - before; }
};

using Stores = ::testing::Types<Memory, Filesystem, S3>;
TYPED_TEST_SUITE(DatabaseOn, Stores, test::StoreNames);

TYPED_TEST(DatabaseOn, RecordLifecycleWithinItsRequestBudget) {
    auto& users = this->db.create_resource(
        {.name = "users",
         .attributes = ojson{{"name", "string|required"}, {"region", "string|optional"}, {"bio", "string|optional"},
                             {"tags", "array|items:string|optional"}},
         .behavior = "body-overflow",
         .partitions = ojson{{"byRegion", {{"fields", {{"region", "string"}}}}}}});

    auto before = this->db.transport().counts();
    users.insert({{"id", "ada"}, {"name", "Ada"}, {"region", "eu"}, {"bio", std::string(3000, 'b')}, {"tags", {"x", "y|z"}}});
    EXPECT_EQ(this->since(before), (RequestCounts{.put = 2}));

    before = this->db.transport().counts();
    auto ada = users.get("ada");
    EXPECT_EQ(this->since(before), (RequestCounts{.get = 1}));
    EXPECT_EQ(ada["bio"].template get<std::string>().size(), 3000u);
    EXPECT_EQ(ada["tags"], (json{"x", "y|z"}));

    before = this->db.transport().counts();
    users.update("ada", {{"region", "us"}});
    EXPECT_EQ(this->since(before), (RequestCounts{.put = 2, .get = 1, .head = 1, .remove = 1}));

    before = this->db.transport().counts();
    auto in_us = users.list({.partition = "byRegion", .values = {{"region", "us"}}});
    EXPECT_EQ(this->since(before), (RequestCounts{.get = 1, .list = 1}));
    ASSERT_EQ(in_us.size(), 1u);
    EXPECT_EQ(in_us[0]["name"], "Ada");

    before = this->db.transport().counts();
    users.remove("ada");
    EXPECT_EQ(this->since(before), (RequestCounts{.get = 1, .head = 1, .remove = 2}));
    EXPECT_EQ(users.count(), 0u);
    EXPECT_EQ(users.count({.partition = "byRegion", .values = {{"region", "us"}}}), 0u);
}

TYPED_TEST(DatabaseOn, CatalogueIsSharedThroughTheStore) {
    this->db.create_resource({.name = "notes", .attributes = ojson{{"text", "string"}}});
    this->db.resource("notes").insert({{"id", "n1"}, {"text", "hello"}});
    BasicDatabase<TypeParam> other{TypeParam(this->db.transport().inner())};
    other.connect();
    EXPECT_EQ(other.resource("notes").get("n1")["text"], "hello");
}

TYPED_TEST(DatabaseOn, ConcurrentUpdatesLoseNothingUnderEveryBehavior) {
    // On a real server too: each version of a record has its own ETag, so If-Match catches every
    // concurrent writer, also for records kept in metadata only. The model: every acknowledged
    // update is applied exactly once; one that ends in OutcomeUnknown at most once. (RGW answers
    // 500 to the loser of two simultaneous PUTs of one object, an answer S3 does not promise to be
    // "not applied"; when more writes than the record's token chain keeps land before the writer
    // reads again, it cannot tell and says so.) Any other error fails the test.
    for (std::string behavior : {"user-managed", "body-overflow", "body-only", "enforce-limits", "truncate-data"}) {
        auto& counters = this->db.create_resource(
            {.name = "counters-" + behavior, .attributes = ojson{{"n", "number|integer"}}, .behavior = behavior});
        counters.insert({{"id", "c"}, {"n", 0}});
        std::vector<std::thread> threads;
        std::mutex failures_mutex;
        std::vector<std::string> failures;  // an escaped exception would abort the whole binary
        std::atomic<int> acknowledged = 0, unknown = 0;
        for (int t = 0; t < 4; ++t)
            threads.emplace_back([&] {
                for (int i = 0; i < 10; ++i) try {
                        counters.update("c", [](json& r) { r["n"] = r["n"].template get<int>() + 1; });
                        ++acknowledged;
                    } catch (const s3db::OutcomeUnknown&) {
                        ++unknown;
                    } catch (const std::exception& e) {
                        std::lock_guard lock(failures_mutex);
                        failures.push_back(e.what());
                    }
            });
        for (auto& t : threads) t.join();
        EXPECT_THAT(failures, ::testing::IsEmpty()) << behavior;
        const int n = counters.get("c")["n"].template get<int>();
        EXPECT_GE(n, acknowledged.load()) << behavior;
        EXPECT_LE(n, acknowledged.load() + unknown.load()) << behavior;
        if (!std::is_same_v<TypeParam, s3db::S3>) EXPECT_EQ(unknown.load(), 0) << behavior;  // every answer arrives
    }
}
