// s3db.json: the s3db.js 21 layout, versions and permanent attribute indices, conditional updates
// that keep a concurrent writer's resources, and a corrupt catalogue that is never overwritten.

#include <gtest/gtest.h>

#include <thread>

#include "s3db/core/catalogue.hpp"
#include "s3db/transport/counting.hpp"
#include "s3db/transport/memory.hpp"

using namespace s3db;
using ojson = nlohmann::ordered_json;

TEST(DefinitionHash, MatchesS3dbJs) {
    // Expected values computed with json-stable-stringify and node's sha256, as s3db.js 21 does.
    ResourceConfig users{.name = "users",
                         .attributes = ojson{{"name", "string|required|min:2"}, {"email", "string|optional"},
                                             {"age", "number|integer|min:0"}},
                         .behavior = "body-overflow",
                         .partitions = ojson{{"byAge", {{"fields", {{"age", "number"}}}}}}};
    EXPECT_EQ(definition_hash(users), "sha256:88b0bc11ee4e3519c2ed532ba560be2ccf36e16636e91e2046b1565e7b1abf14");

    ResourceConfig stamped{.name = "t", .attributes = ojson{{"name", "string"}}, .timestamps = true};
    detail::apply_timestamps(stamped);  // timestamp attributes are left out of the hash, their partitions are not
    EXPECT_EQ(definition_hash(stamped), "sha256:36279e60615aaabed5ef5a598add97bfe7cd0ae59feae294b02c3ed8e3ef48bf");
}

TEST(DatabaseMetadata, WritesTheS3dbJsLayout) {
    auto m = DatabaseMetadata::blank();
    EXPECT_TRUE(m.upsert_resource({.name = "users", .attributes = ojson{{"name", "string"}, {"age", "number"}}, .timestamps = true}));
    auto doc = ojson::parse(m.serialize());
    EXPECT_EQ(doc["version"], "1");
    EXPECT_TRUE(doc.contains("s3dbVersion"));
    EXPECT_TRUE(doc.contains("lastUpdated"));
    auto& users = doc["resources"]["users"];
    EXPECT_EQ(users["currentVersion"], "v1");
    EXPECT_EQ(users["createdBy"], "user");
    auto& v1 = users["versions"]["v1"];
    EXPECT_EQ(v1["behavior"], "user-managed");
    EXPECT_EQ(v1["attributes"]["createdAt"], "datetime|optional");
    EXPECT_TRUE(v1["partitions"].contains("byCreatedDate"));
    EXPECT_EQ(v1["idSize"], 22);
    EXPECT_TRUE(v1["hash"].get<std::string>().starts_with("sha256:"));
    EXPECT_EQ(users["schemaRegistry"]["mapping"], (ojson{{"age", 1}, {"createdAt", 2}, {"name", 0}, {"updatedAt", 3}}));
    EXPECT_EQ(users["schemaRegistry"]["nextIndex"], 4);
}

TEST(DatabaseMetadata, RoundTripsThroughItsText) {
    auto m = DatabaseMetadata::blank();
    m.upsert_resource({.name = "orders", .attributes = ojson{{"total", "number"}}, .behavior = "body-only", .id_size = 10});
    auto back = DatabaseMetadata::parse(m.serialize());
    auto r = back.resource("orders");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->config.behavior, "body-only");
    EXPECT_EQ(r->config.id_size, 10);
    EXPECT_EQ(r->version, "v1");
    EXPECT_EQ(r->registry.mapping.at("total"), 0);
    EXPECT_FALSE(back.resource("missing"));
    EXPECT_EQ(back.resource_names(), std::vector<std::string>{"orders"});
}

TEST(DatabaseMetadata, ChangedDefinitionsGetANewVersionAndIndicesArePermanent) {
    auto m = DatabaseMetadata::blank();
    m.upsert_resource({.name = "u", .attributes = ojson{{"a", "string"}, {"b", "string"}}});
    EXPECT_FALSE(m.upsert_resource({.name = "u", .attributes = ojson{{"a", "string"}, {"b", "string"}}}));
    EXPECT_TRUE(m.upsert_resource({.name = "u", .attributes = ojson{{"a", "string"}, {"c", "number"}}}));
    auto r = m.resource("u");
    EXPECT_EQ(r->version, "v2");
    EXPECT_EQ(r->registry.mapping, (std::map<std::string, int>{{"a", 0}, {"c", 2}}));
    ASSERT_EQ(r->registry.burned.size(), 1u);
    EXPECT_EQ(r->registry.burned[0].attribute, "b");
    EXPECT_EQ(r->registry.burned[0].index, 1);
    // b comes back: its old index stays burned, it takes a new one.
    m.upsert_resource({.name = "u", .attributes = ojson{{"a", "string"}, {"b", "string"}, {"c", "number"}}});
    EXPECT_EQ(m.resource("u")->registry.mapping.at("b"), 3);
    EXPECT_EQ(m.resource("u")->version, "v3");
    EXPECT_TRUE(m.document()["resources"]["u"]["versions"].contains("v1"));  // old versions are kept
}

TEST(DatabaseMetadata, FieldsItDoesNotKnowSurviveARewrite) {
    auto text = R"({"version":"1","s3dbVersion":"21.6.2","lastUpdated":"x","resources":{"legacy":{
        "currentVersion":"v1","versions":{"v1":{"hash":"h","attributes":{"n":"string"},"hooks":{"beforeInsert":{"count":1}}}},
        "pluginSchemaRegistry":{"audit":{"mapping":{"x":"p1ab"}}}}}, "somethingElse":42})";
    auto m = DatabaseMetadata::parse(text);
    m.upsert_resource({.name = "fresh", .attributes = ojson{{"n", "string"}}});
    auto doc = ojson::parse(m.serialize());
    EXPECT_EQ(doc["somethingElse"], 42);
    EXPECT_EQ(doc["resources"]["legacy"]["pluginSchemaRegistry"]["audit"]["mapping"]["x"], "p1ab");
    EXPECT_EQ(doc["resources"]["legacy"]["versions"]["v1"]["hooks"]["beforeInsert"]["count"], 1);
    // A catalogue without a registry gets the indices s3db.js derives from the attribute order.
    EXPECT_EQ(m.resource("legacy")->registry.mapping.at("n"), 0);
}

TEST(DatabaseMetadata, CorruptCataloguesAreRefusedWithTheReason) {
    for (auto bad : {"{not json", "[1,2]", R"({"resources":[]})"}) {
        try {
            DatabaseMetadata::parse(bad);
            ADD_FAILURE() << bad;
        } catch (const CorruptMetadata& e) {
            EXPECT_NE(std::string(e.what()).find("s3db.json"), std::string::npos);
        }
    }
}

TEST(DatabaseMetadata, AnUnreadableResourceEntryFailsAloneAndIsKeptAsItIs) {
    auto text = R"({"resources":{"u":{"currentVersion":"v2","versions":{"v1":{}}},"s":"not an entry",
        "t":{"versions":{"v1":{"behavior":7}}},"ok":{"versions":{"v1":{"attributes":{"n":"string"}}}}}})";
    auto m = DatabaseMetadata::parse(text);
    EXPECT_EQ(m.resource_names(), (std::vector<std::string>{"u", "s", "t", "ok"}));
    for (auto [name, reason] : std::vector<std::pair<std::string, std::string>>{
             {"u", "current version v2"}, {"s", "not an object"}, {"t", "'behavior'"}}) {
        try {
            m.resource(name);
            ADD_FAILURE() << name;
        } catch (const CorruptMetadata& e) {
            EXPECT_NE(std::string(e.what()).find("resource '" + name + "'"), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find(reason), std::string::npos) << e.what();
        }
    }
    EXPECT_EQ(m.resource("ok")->config.attributes, ojson({{"n", "string"}}));
    const auto before = ojson::parse(text)["resources"];
    EXPECT_THROW(m.upsert_resource({.name = "u"}), CorruptMetadata);
    m.upsert_resource({.name = "fresh"});
    const auto after = ojson::parse(m.serialize())["resources"];
    for (auto name : {"u", "s", "t", "ok"}) EXPECT_EQ(after[name].dump(), before[name].dump()) << name;
}

TEST(DatabaseMetadata, CataloguesNestedFarTooDeepAreCorruptNotCrashes) {
    // A damaged s3db.json nested 100,000 levels deep: whatever walked it would overflow the stack.
    std::string deep = R"({"resources":{},"damage":)" + std::string(100000, '[') + "1" + std::string(100000, ']') + "}";
    try {
        DatabaseMetadata::parse(deep);
        FAIL() << "a catalogue nested 100,000 levels deep was accepted";
    } catch (const CorruptMetadata& e) {
        EXPECT_NE(std::string(e.what()).find("200 levels"), std::string::npos) << e.what();
    }
    // Strings may hold any brackets.
    EXPECT_NO_THROW(DatabaseMetadata::parse(R"({"resources":{},"note":")" + std::string(500, '[') + "\"}"));
}

TEST(UpdateMetadata, CreatesThenUpdatesWithConditionalWrites) {
    Counting<Memory> store;
    update_metadata(store, [](DatabaseMetadata& m) { return m.upsert_resource({.name = "a"}); });
    EXPECT_EQ(store.counts(), (RequestCounts{.put = 1, .get = 1}));
    store.reset();
    auto m = update_metadata(store, [](DatabaseMetadata& m) { return m.upsert_resource({.name = "a"}); });
    EXPECT_EQ(store.counts(), (RequestCounts{.get = 1})) << "an unchanged catalogue is not rewritten";
    EXPECT_TRUE(m.resource("a"));
}

TEST(UpdateMetadata, ConcurrentCreatorsOfDifferentResourcesBothSurvive) {
    Memory store;
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&, t] {
            update_metadata(store, [&](DatabaseMetadata& m) {
                return m.upsert_resource({.name = "r" + std::to_string(t), .attributes = ojson{{"f", "string"}}});
            }, 64);
        });
    for (auto& t : threads) t.join();
    auto m = DatabaseMetadata::parse(store.get("s3db.json")->body);
    EXPECT_EQ(m.resource_names().size(), 8u);
}

TEST(UpdateMetadata, ACorruptCatalogueIsNeverOverwritten) {
    Memory store;
    store.put("s3db.json", "{broken");
    EXPECT_THROW(update_metadata(store, [](DatabaseMetadata& m) { return m.upsert_resource({.name = "a"}); }), CorruptMetadata);
    EXPECT_EQ(store.get("s3db.json")->body, "{broken");
}
