// The database on every store (Memory, Filesystem, and S3 on Ceph RGW), with its request budgets
// counted on each: what a resource costs does not depend on where it lives.

#include <gtest/gtest.h>

#include "s3db/core/database.hpp"
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
    EXPECT_EQ(this->since(before), (RequestCounts{.put = 2, .get = 1, .remove = 1}));

    before = this->db.transport().counts();
    auto in_us = users.list({.partition = "byRegion", .values = {{"region", "us"}}});
    EXPECT_EQ(this->since(before), (RequestCounts{.get = 1, .list = 1}));
    ASSERT_EQ(in_us.size(), 1u);
    EXPECT_EQ(in_us[0]["name"], "Ada");

    before = this->db.transport().counts();
    users.remove("ada");
    EXPECT_EQ(this->since(before), (RequestCounts{.get = 1, .remove = 2}));
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
