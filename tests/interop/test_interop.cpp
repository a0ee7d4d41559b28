// Interop with s3db.js 21.6.2 through Ceph RGW, both ways: s3db.js reads what s3db-cpp wrote, and
// s3db-cpp reads what s3db.js wrote, compared field by field (s3db.js's own extras, `_…` and the
// `-…` names RGW makes of them, are left out).

#include "s3dbjs.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <unistd.h>

#include "s3db/s3db.hpp"

namespace {

using ojson = nlohmann::ordered_json;
using json = nlohmann::json;
using s3db::test::s3dbjs;

/// A fresh prefix in the interop bucket, as one connection string both libraries accept.
std::string fresh_connection() {
    const char* url = std::getenv("S3DB_TEST_S3_URL");
    if (!url || !*url) throw std::runtime_error("S3DB_TEST_S3_URL is not set: run ./tests/run.sh, which starts Ceph RGW and sets it");
    auto c = s3db::ConnectionString::parse(url);
    auto bucket = c.bucket + "-interop";
    auto o = s3db::s3_options(c);
    o.bucket = bucket;
    try {
        s3db::S3(o).create_bucket();
    } catch (const s3db::TransportError& e) {
        if (e.code() != "BucketAlreadyOwnedByYou" && e.code() != "BucketAlreadyExists") throw;
    }
    static std::atomic<int> n{0};
    auto stamp = std::chrono::system_clock::now().time_since_epoch() / std::chrono::milliseconds(1);
    return c.endpoint.substr(0, c.endpoint.find("://") + 3) + c.access_key_id + ":" + c.secret_access_key + "@" +
           c.endpoint.substr(c.endpoint.find("://") + 3) + "/" + bucket + "/interop-" + std::to_string(::getpid()) + "-" +
           std::to_string(stamp) + "-" + std::to_string(n++);
}

/// The record without what either library adds on its own (s3db.js: `_etag`, `_v`, ...).
json fields(const json& record) {
    json out = json::object();
    for (auto& [k, v] : record.items())
        if (!k.starts_with('_') && !k.starts_with('-')) out[k] = v;
    return out;
}

const ojson attributes = {{"name", "string|required"},
                          {"age", "number|integer|min:0"},
                          {"score", "number"},
                          {"active", "boolean"},
                          {"tags", "array|items:string"},
                          {"region", "string"},
                          {"city", "string|optional"},
                          {"bio", "string|optional"}};

const std::vector<json> people = {
    {{"id", "ada"}, {"name", "José Ñandú"}, {"age", 36}, {"score", 12.5}, {"active", true}, {"tags", {"a", "b|c"}},
     {"region", "eu"}, {"city", "São Paulo"}},
    {{"id", "grace"}, {"name", "Grace 東京"}, {"age", 85}, {"score", -1.25}, {"active", false}, {"tags", json::array()},
     {"region", "us"}},
    {{"id", "linus"}, {"name", "Linus"}, {"age", 54}, {"score", 0.001}, {"active", true}, {"tags", {"kernel"}},
     {"region", "eu"}, {"bio", std::string(2500, 'x')}},  // over 2 KB: into the body
};

TEST(Interop, S3dbJsReadsWhatS3dbCppWrote) {
    auto connection = fresh_connection();
    s3db::Database<> db(connection);
    db.connect();
    auto& users = db.create_resource({.name = "users",
                                      .attributes = attributes,
                                      .behavior = "body-overflow",
                                      .partitions = ojson{{"byRegion", {{"fields", {{"region", "string"}}}}}}});
    for (auto& p : people) users.insert(p);

    auto got = s3dbjs({{"op", "get"}, {"connection", connection}, {"resource", "users"}, {"ids", {"ada", "grace", "linus"}}});
    ASSERT_EQ(got["records"].size(), 3u);
    for (std::size_t i = 0; i < people.size(); ++i) EXPECT_EQ(fields(got["records"][i]), people[i]) << i;

    auto eu = s3dbjs({{"op", "list_partition"}, {"connection", connection}, {"resource", "users"},
                      {"partition", "byRegion"}, {"values", {{"region", "eu"}}}});
    auto ids = json(eu["ids"]).get<std::vector<std::string>>();
    std::sort(ids.begin(), ids.end());
    EXPECT_EQ(ids, (std::vector<std::string>{"ada", "linus"}));
    s3dbjs({{"op", "clear"}, {"connection", connection}});
}

TEST(Interop, S3dbCppReadsWhatS3dbJsWrote) {
    auto connection = fresh_connection();
    ojson config = {{"name", "users"},
                    {"attributes", attributes},
                    {"behavior", "body-overflow"},
                    {"partitions", {{"byRegion", {{"fields", {{"region", "string"}}}}}}}};
    ojson records = ojson::array();
    for (auto& p : people) records.push_back(ojson::parse(p.dump()));
    s3dbjs({{"op", "insert"}, {"connection", connection}, {"resource", config}, {"records", records}});

    s3db::Database<> db(connection);
    db.connect();
    auto& users = db.resource("users");
    EXPECT_EQ(users.behavior(), "body-overflow");
    for (auto& p : people) EXPECT_EQ(fields(users.get(p["id"].get<std::string>())), p) << p["id"];
    auto eu = users.list_ids({.partition = "byRegion", .values = {{"region", "eu"}}});
    std::sort(eu.begin(), eu.end());
    EXPECT_EQ(eu, (std::vector<std::string>{"ada", "linus"}));
    EXPECT_EQ(users.count(), 3u);

    // And the two share one catalogue: a resource s3db-cpp adds is there for s3db.js.
    db.create_resource({.name = "notes", .attributes = ojson{{"text", "string"}}});
    db.resource("notes").insert({{"id", "n1"}, {"text", "hi"}});
    auto note = s3dbjs({{"op", "get"}, {"connection", connection}, {"resource", "notes"}, {"ids", {"n1"}}});
    EXPECT_EQ(fields(note["records"][0]), (json{{"id", "n1"}, {"text", "hi"}}));
    s3dbjs({{"op", "clear"}, {"connection", connection}});
}

}  // namespace
