// The Backup plugin: backup → wipe → restore gives back every record object byte for byte (secrets
// as stored ciphertext, binary content, every behavior) with partitions rebuilt, on Memory and
// Filesystem, into the same and into another database; a flipped byte or a wrong passphrase refuses
// before anything is written; full + incremental chains; retention; multi destinations; events;
// request counts; gzip compression (valid gzip, smaller, compress-then-encrypt, a flipped byte
// refused); storage classes sent signed. Tests on Ceph RGW are named OnS3.

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "s3db/s3db.hpp"
#include "s3db/plugins/backup.hpp"
#include "s3db/plugins/backup/gzip.hpp"
#include "s3db/plugins/scheduler.hpp"
#include "support/http_server.hpp"
#include "support/manual_clock.hpp"
#include "support/stores.hpp"

using namespace s3db;
using ojson = nlohmann::ordered_json;

namespace {

using FsBackup = Backup<FilesystemBackup>;
using GzBackup = Backup<FilesystemBackup, GzipCompression>;

ResourceConfig users_config() {  // body-overflow, a secret, a partition, timestamps
    return {.name = "users",
            .attributes = ojson{{"name", "string|required"}, {"region", "string|optional"}, {"password", "secret"},
                                {"bio", "string|optional"}},
            .behavior = "body-overflow",
            .timestamps = true,
            .partitions = ojson{{"byRegion", {{"fields", {{"region", "string"}}}}}}};
}
std::vector<ResourceConfig> all_configs() {
    return {users_config(),
            {.name = "docs", .attributes = ojson{{"title", "string"}, {"text", "string"}}, .behavior = "body-only"},
            {.name = "limited", .attributes = ojson{{"code", "string"}, {"n", "number"}}, .behavior = "enforce-limits"},
            {.name = "trunc", .attributes = ojson{{"text", "string"}}, .behavior = "truncate-data"},
            {.name = "files",
             .attributes = ojson{{"filename", "string"}, {"kind", "string"}},
             .behavior = "enforce-limits",
             .partitions = ojson{{"byKind", {{"fields", {{"kind", "string"}}}}}}},
            {.name = "free", .attributes = ojson{{"note", "string"}}, .behavior = "user-managed"}};
}

template <class Db>
void populate(Db& db, int users = 30) {
    for (auto& c : all_configs()) db.create_resource(c);
    auto& u = db.resource("users");
    for (int i = 0; i < users; ++i)
        u.insert({{"id", "u" + std::to_string(i)},
                  {"name", "User " + std::to_string(i)},
                  {"region", i % 3 == 0 ? "eu" : "us"},
                  {"password", "pw-" + std::to_string(i)},
                  {"bio", i % 5 == 0 ? std::string(3000, 'b') : "short"}});
    db.resource("docs").insert({{"id", "d1"}, {"title", "Doc"}, {"text", std::string(5000, 't')}});
    db.resource("limited").insert({{"id", "l1"}, {"code", "X1"}, {"n", 42}});
    db.resource("trunc").insert({{"id", "t1"}, {"text", std::string(4000, 'z')}});
    db.resource("free").insert({{"id", "m1"}, {"note", std::string(600, 'm')}});
    auto& f = db.resource("files");
    f.insert({{"id", "f1"}, {"filename", "a.bin"}, {"kind", "img"}});
    f.insert({{"id", "f2"}, {"filename", "b.bin"}, {"kind", "doc"}});
    std::string binary;
    for (int i = 0; i < 512; ++i) binary += static_cast<char>(i % 256);
    f.set_content("f1", binary, "image/png");
}

/// Every object under `resource=` but partition refs: key → content type, metadata, body.
template <class Store>
std::map<std::string, std::string> objects(Store& store) {
    std::map<std::string, std::string> out;
    ListOptions o{.prefix = "resource="};
    for (;;) {
        auto page = store.list(o);
        for (auto& e : page.objects) {
            if (e.key.find("/partition=") != std::string::npos || e.key.starts_with("resource=plg_")) continue;
            auto obj = store.get(e.key, GetOptions{});
            std::string s = obj->info.content_type + "\n";
            for (auto& [k, v] : obj->info.metadata) s += k + "=" + v + "\n";
            out[e.key] = s + obj->body;
        }
        if (!page.truncated()) return out;
        o.continuation_token = page.next_continuation_token;
    }
}

/// Every record as the resource API returns it, and the content of files.
template <class Db>
std::map<std::string, json> records(Db& db) {
    std::map<std::string, json> out;
    for (auto& c : all_configs()) {
        if (!db.has_resource(c.name)) continue;
        for (auto& r : db.resource(c.name).list()) out[c.name + "/" + r["id"].template get<std::string>()] = r;
    }
    if (db.has_resource("files"))
        for (auto id : {"f1", "f2"})
            if (auto c = db.resource("files").content(id)) out[std::string("content/") + id] = json{c->first.size(), c->second, detail::sha256_hex(c->first)};
    return out;
}

template <class Store>
void wipe(Store& store) {
    for (auto& c : all_configs()) remove_prefix(store, "resource=" + c.name + "/");
}

template <class Db>
std::set<std::string> partition_ids(Db& db, const std::string& res, const std::string& partition, const std::string& field,
                                    const std::string& value) {
    auto ids = db.resource(res).list_ids(ListQuery{.partition = partition, .values = {{field, value}}});
    return {ids.begin(), ids.end()};
}

std::filesystem::path backup_dir() { return test::scratch_dir() / "backups"; }

std::string read_bytes(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}
void write_bytes(const std::filesystem::path& p, const std::string& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << bytes;
}
/// The whole content of a gzip file, read with zlib's own gzread (not the code under test).
std::string gunzip_file(const std::filesystem::path& p) {
    gzFile f = gzopen(p.c_str(), "rb");
    if (!f) return "<gzopen failed>";
    std::string out;
    char buf[16384];
    int n;
    while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    const bool ok = n == 0 && gzclose(f) == Z_OK;
    return ok ? out : "<gzread failed>";
}

template <class T>
class BackupOn : public ::testing::Test {};
using Stores = ::testing::Types<Memory, Filesystem>;
TYPED_TEST_SUITE(BackupOn, Stores, test::StoreNames);

TYPED_TEST(BackupOn, FullBackupWipeRestoreGivesBackEveryObjectAndPartitions) {
    using Db = BasicDatabase<TypeParam, FsBackup>;
    const auto dir = backup_dir();
    Db db(test::make_store<TypeParam>(), {}, FsBackup(FilesystemBackup{(dir / "{date}/").string()}));
    db.connect();
    populate(db);
    const auto before_objects = objects(db.store());
    const auto before_records = records(db);
    const auto eu = partition_ids(db, "users", "byRegion", "region", "eu");
    ASSERT_EQ(eu.size(), 10u);
    // A secret is stored as ciphertext: the plaintext is nowhere in the object.
    ASSERT_EQ(before_objects.at("resource=users/data/id=u1").find("pw-1"), std::string::npos);

    auto& plugin = db.template plugin<FsBackup>();
    auto result = plugin.backup();
    EXPECT_EQ(result.type, "full");
    EXPECT_EQ(result.records, 30u + 1 + 1 + 1 + 2 + 1);
    auto status = *plugin.get_backup_status(result.id);
    EXPECT_EQ(status.at("status"), "completed");
    EXPECT_EQ(status.at("type"), "full");
    EXPECT_EQ(status.at("records"), 36);
    EXPECT_EQ(status.at("size"), result.bytes);
    EXPECT_EQ(status.at("checksum"), result.checksum);
    EXPECT_EQ(status.at("checksum").template get<std::string>().size(), 64u);
    EXPECT_EQ(json::parse(status.at("files").template get<std::string>()).size(), result.files - 1);  // all but the manifest
    EXPECT_TRUE(status.contains("durationMs"));

    wipe(db.store());
    ASSERT_TRUE(db.resource("users").list().empty());
    ASSERT_TRUE(partition_ids(db, "users", "byRegion", "region", "eu").empty());

    auto restored = plugin.restore(result.id);
    EXPECT_EQ(restored.written, 36u);
    EXPECT_EQ(objects(db.store()), before_objects);  // byte for byte: metadata (secret ciphertext), bodies, types
    EXPECT_EQ(records(db), before_records);          // field by field through the resource API
    EXPECT_EQ(db.resource("users").get("u3")["password"], "pw-3");
    EXPECT_EQ(partition_ids(db, "users", "byRegion", "region", "eu"), eu);
    EXPECT_EQ(partition_ids(db, "files", "byKind", "kind", "img"), std::set<std::string>{"f1"});
}

TYPED_TEST(BackupOn, RestoresIntoAnotherDatabase) {
    using Db = BasicDatabase<TypeParam, FsBackup>;
    const auto dir = backup_dir();
    Db source(test::make_store<TypeParam>(), {}, FsBackup(FilesystemBackup{(dir / "{year}/{month}/{type}-{backupId}").string()}));
    source.connect();
    populate(source);
    auto id = source.template plugin<FsBackup>().backup().id;

    Db target(test::make_store<TypeParam>(), {}, FsBackup(FilesystemBackup{(dir / "{year}/{month}/{type}-{backupId}").string()}));
    target.connect();
    ASSERT_FALSE(target.has_resource("users"));
    target.template plugin<FsBackup>().restore(id);
    EXPECT_EQ(objects(target.store()), objects(source.store()));
    EXPECT_EQ(records(target), records(source));
    EXPECT_EQ(partition_ids(target, "users", "byRegion", "region", "us").size(), 20u);
    EXPECT_EQ(target.resource("users").config().behavior, "body-overflow");
}

TYPED_TEST(BackupOn, OneFlippedByteRefusesAndWritesNothing) {
    using Db = BasicDatabase<TypeParam, FsBackup>;
    const auto dir = backup_dir();
    Db db(test::make_store<TypeParam>(), {}, FsBackup(FilesystemBackup{(dir / "{date}").string()}));
    db.connect();
    populate(db);
    auto& plugin = db.template plugin<FsBackup>();
    auto result = plugin.backup();
    // Change the database after the backup, so a restore would show.
    db.resource("users").update("u1", json{{"name", "Changed"}});
    db.resource("users").remove("u2");
    const auto before = objects(db.store());

    // The last file of `users` records, one byte flipped.
    const auto file = plugin.driver().directory(*detail::backup_stamp(result.id)) / "users" / "records-00000.jsonl";
    std::string bytes;
    {
        std::ifstream in(file, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    ASSERT_GT(bytes.size(), 100u);
    bytes[bytes.size() / 2] ^= 0x01;
    std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;

    try {
        plugin.restore(result.id, {.mode = RestoreMode::replace});
        FAIL() << "restore accepted a damaged archive";
    } catch (const BackupChecksumMismatch& e) {
        EXPECT_EQ(e.backup_id(), result.id);
        EXPECT_EQ(e.file(), "users/records-00000.jsonl");
    }
    EXPECT_EQ(objects(db.store()), before);
    EXPECT_EQ(db.resource("users").get("u1")["name"], "Changed");
}

TYPED_TEST(BackupOn, IncrementalChainRestoresTheLastState) {
    using Db = BasicDatabase<Counting<TypeParam>, FsBackup>;
    const auto dir = backup_dir();
    Db db(Counting<TypeParam>(test::make_store<TypeParam>()), {}, FsBackup(FilesystemBackup{(dir / "{date}").string()}));
    db.connect();
    populate(db);
    auto& plugin = db.template plugin<FsBackup>();
    auto full = plugin.backup();

    auto& users = db.resource("users");
    users.update("u1", json{{"region", "eu"}});  // moves partition
    users.update("u4", json{{"bio", std::string(2500, 'n')}});
    users.remove("u5");
    users.insert({{"id", "u100"}, {"name", "New"}, {"region", "eu"}, {"password", "pw-new"}});
    db.resource("files").set_content("f2", "second content", "text/plain");
    auto inc1 = plugin.backup(BackupType::incremental);
    EXPECT_EQ(inc1.type, "incremental");
    EXPECT_EQ(inc1.parent, full.id);
    EXPECT_EQ(inc1.records, 4u);  // u1, u4, u100, f2
    EXPECT_EQ(inc1.deleted, 1u);  // u5

    users.remove("u6");
    users.update("u7", json{{"name", "Seven"}});
    auto inc2 = plugin.backup(BackupType::incremental);
    EXPECT_EQ(inc2.parent, inc1.id);
    EXPECT_EQ(inc2.records, 1u);
    EXPECT_EQ(inc2.deleted, 1u);

    // Over an unchanged database: LISTs only, no GET of any record.
    const auto counts = db.transport().counts();
    auto inc3 = plugin.backup(BackupType::incremental);
    const auto used = db.transport().counts() - counts;
    EXPECT_EQ(inc3.records, 0u);
    EXPECT_EQ(inc3.deleted, 0u);
    // GETs: s3db.json and the metadata resource's records (3 backups, insert/update reads), none per record.
    EXPECT_LE(used.get, 10u) << "gets " << used.get;
    EXPECT_LE(used.list, 5u + 2) << "lists " << used.list;  // one per resource + the metadata listing
    std::printf("incremental over an unchanged database (36 records, 6 resources): %llu GET, %llu LIST, %llu PUT, %llu HEAD\n",
                (unsigned long long)used.get, (unsigned long long)used.list, (unsigned long long)used.put,
                (unsigned long long)used.head);

    const auto at_inc2 = objects(db.store());
    const auto records_at_inc2 = records(db);
    users.insert({{"id", "later"}, {"name", "After the backup"}, {"password", "x"}});
    wipe(db.store());
    users.insert({{"id", "stray"}, {"name", "Written after the wipe"}, {"password", "x"}});
    auto r = plugin.restore(inc2.id, {.mode = RestoreMode::replace});
    EXPECT_EQ(r.chain, (std::vector<std::string>{full.id, inc1.id, inc2.id}));
    EXPECT_EQ(objects(db.store()), at_inc2);
    EXPECT_EQ(records(db), records_at_inc2);
    EXPECT_FALSE(users.exists("u5"));
    EXPECT_FALSE(users.exists("u6"));
    EXPECT_FALSE(users.exists("stray"));
    EXPECT_TRUE(partition_ids(db, "users", "byRegion", "region", "eu").count("u1"));
    EXPECT_TRUE(partition_ids(db, "users", "byRegion", "region", "eu").count("u100"));
    EXPECT_EQ(db.resource("files").content("f2")->first, "second content");
}

TEST(Backup, IncrementalSeesAMetadataOnlyChangeThatKeepsTheETag) {
    // s3db.js leaves a metadata-only record's body empty: a change keeps its ETag, not its LastModified.
    using Db = BasicDatabase<Memory, FsBackup>;
    Db db(test::make_store<Memory>(), {}, FsBackup(FilesystemBackup{(backup_dir() / "{date}").string()}, {.records_per_file = 7}));
    db.connect();
    auto& items = db.create_resource({.name = "items", .attributes = ojson{{"n", "number"}}});
    for (int i = 0; i < 20; ++i) items.insert({{"id", "i" + std::to_string(i)}, {"n", i}});
    const std::string key = record_key("items", "i3");
    auto obj = db.store().get(key, GetOptions{});
    db.store().put(key, "", PutOptions{.content_type = obj->info.content_type, .metadata = obj->info.metadata});
    auto& plugin = db.plugin<FsBackup>();
    auto full = plugin.backup();
    EXPECT_EQ(full.records, 20u);
    EXPECT_EQ(full.files, 1u /*s3db.json*/ + 1 /*definition*/ + 3 /*records: 7 + 7 + 6*/ + 3 /*index parts*/ + 1 /*manifest*/);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const auto before_etag = db.store().head(key)->etag;
    // Rewrite the record with n = 99 by hand, body still empty: same ETag.
    items.update("i3", json{{"n", 99}});
    auto now = db.store().get(key, GetOptions{});
    db.store().put(key, "", PutOptions{.content_type = now->info.content_type, .metadata = now->info.metadata});
    ASSERT_EQ(db.store().head(key)->etag, before_etag);
    auto inc = plugin.backup(BackupType::incremental);
    EXPECT_EQ(inc.records, 1u);
    remove_prefix(db.store(), "resource=items/");
    plugin.restore(inc.id);
    EXPECT_EQ(items.get("i3")["n"], 99);
    EXPECT_EQ(items.count(), 20u);
}

TEST(Backup, IncrementalMergesAParentWithOneIndexTsvOrIndexParts) {
    // Archives written before index parts have one `index.tsv`: rewrite a full backup's parts into
    // one (manifest updated), and an incremental over it finds exactly the changes and deletions.
    using Db = BasicDatabase<Memory, FsBackup>;
    const auto dir = backup_dir() / ("old-index-" + std::to_string(std::random_device{}()));
    Db db(test::make_store<Memory>(), {}, FsBackup(FilesystemBackup{(dir / "{backupId}").string()}, {.records_per_file = 4}));
    db.connect();
    auto& items = db.create_resource({.name = "items", .attributes = ojson{{"n", "number"}}});
    for (int i = 10; i < 30; ++i) items.insert({{"id", "i" + std::to_string(i)}, {"n", i}});
    auto& plugin = db.plugin<FsBackup>();
    auto full = plugin.backup();
    {  // the parts into one index.tsv
        const auto root = dir / full.id;
        json manifest = json::parse(std::ifstream(root / "manifest.json"));
        std::string index;
        json files = json::array(), names = json::array();
        for (auto& f : manifest["files"]) {
            const auto name = f["name"].get<std::string>();
            if (name.starts_with("items/index-")) {
                std::ifstream in(root / name, std::ios::binary);
                index += std::string(std::istreambuf_iterator<char>(in), {});
                std::filesystem::remove(root / name);
            } else {
                files.push_back(f);
            }
        }
        ASSERT_EQ(std::count(index.begin(), index.end(), '\n'), 20);
        std::ofstream(root / "items" / "index.tsv", std::ios::binary) << index;
        files.push_back({{"name", "items/index.tsv"}, {"size", index.size()}, {"sha256", detail::sha256_hex(index)},
                         {"plainSize", index.size()}, {"records", 20}});
        for (auto& r : manifest["resources"]) {
            if (r["name"] != "items") continue;
            for (auto& n : r["files"])
                if (!n.get<std::string>().starts_with("items/index-")) names.push_back(n);
            names.push_back("items/index.tsv");
            r["files"] = names;
        }
        manifest["files"] = files;
        std::ofstream(root / "manifest.json") << manifest.dump(2);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    items.update("i10", json{{"n", -10}});                     // first key
    items.update("i29", json{{"n", -29}});                     // last key
    items.remove("i11");
    items.remove("i20");
    items.insert({{"id", "i0"}, {"n", 0}});                    // before every key
    items.insert({{"id", "i205"}, {"n", 205}});                // between two
    items.insert({{"id", "i9"}, {"n", 9}});                    // after every key
    auto inc = plugin.backup(BackupType::incremental);
    EXPECT_EQ(inc.parent, full.id);
    EXPECT_EQ(inc.records, 5u);
    EXPECT_EQ(inc.deleted, 2u);
    // And an incremental over that one reads its parts: nothing changed but one deletion.
    items.remove("i9");
    auto inc2 = plugin.backup(BackupType::incremental);
    EXPECT_EQ(inc2.parent, inc.id);
    EXPECT_EQ(inc2.records, 0u);
    EXPECT_EQ(inc2.deleted, 1u);
    const auto want = items.list();
    remove_prefix(db.store(), "resource=items/");
    auto res = plugin.restore(inc2.id);
    EXPECT_EQ(res.chain.size(), 3u);
    EXPECT_EQ(items.list(), want);
    EXPECT_EQ(items.count(), 20u);
    std::filesystem::remove_all(dir);
}

TEST(Backup, ScheduledThroughTheSchedulerWhenBothAreComposed) {
    // A schedule is a Scheduler job that calls backup(): each tick runs once, whatever number of
    // processes run the scheduler, and its history records what the backup wrote.
    using Db = BasicDatabase<Memory, FsBackup, Scheduler>;
    Db db(test::make_store<Memory>(), {}, FsBackup(FilesystemBackup{(backup_dir() / "{backupId}").string()}),
          Scheduler({.worker_id = "backup-test"}));
    db.connect();
    auto& items = db.create_resource({.name = "items", .attributes = ojson{{"n", "number"}}});
    for (int i = 0; i < 5; ++i) items.insert({{"id", "i" + std::to_string(i)}, {"n", i}});
    db.plugin<Scheduler>().add_job("backup", {.interval = std::chrono::seconds(1), .action = [&db](JobContext&) -> json {
                                                  auto r = db.plugin<FsBackup>().backup();
                                                  return {{"id", r.id}, {"records", r.records}};
                                              }});
    std::this_thread::sleep_for(std::chrono::milliseconds(2600));
    db.disconnect();  // stops the scheduler's timer
    const auto history = db.plugin<Scheduler>().get_job_history("backup");
    const auto backups = db.plugin<FsBackup>().list_backups();
    ASSERT_GE(history.size(), 2u);
    EXPECT_EQ(backups.size(), history.size());
    std::set<std::string> ids;
    for (auto& b : backups) ids.insert(b["id"].get<std::string>());
    for (auto& run : history) {
        EXPECT_EQ(run["status"], "success") << run.dump();
        EXPECT_TRUE(ids.count(run["result"]["id"].get<std::string>())) << run.dump();
        EXPECT_GE(run["result"]["records"], 5) << run.dump();  // the items, and the plugins' own records
    }
}

TEST(Backup, RestoreModesMergeAndSkip) {
    using Db = BasicDatabase<Memory, FsBackup>;
    Db db(test::make_store<Memory>(), {}, FsBackup(FilesystemBackup{(backup_dir() / "{date}").string()}));
    db.connect();
    populate(db, 5);
    auto& plugin = db.plugin<FsBackup>();
    auto id = plugin.backup().id;
    auto& users = db.resource("users");
    users.update("u1", json{{"name", "Local"}});
    users.insert({{"id", "extra"}, {"name", "Extra"}, {"password", "p"}});

    auto skip = plugin.restore(id, {.resources = {"users"}, .mode = RestoreMode::skip});
    EXPECT_EQ(skip.resources, std::vector<std::string>{"users"});
    EXPECT_EQ(skip.skipped, 5u);
    EXPECT_EQ(users.get("u1")["name"], "Local");

    auto merge = plugin.restore(id, {.resources = {"users"}, .mode = RestoreMode::merge});
    EXPECT_EQ(merge.written, 5u);
    EXPECT_EQ(users.get("u1")["name"], "User 1");
    EXPECT_TRUE(users.exists("extra"));  // merge keeps what the backup does not have

    plugin.restore(id, {.resources = {"users"}, .mode = RestoreMode::replace});
    EXPECT_FALSE(users.exists("extra"));
    EXPECT_THROW(plugin.restore(id, {.resources = {"nope"}}), BackupNotFound);
}

/// A resource whose registry has history: `email` removed (index 1 burned), `city` added (index 3).
template <class Db>
void people_with_history(Db& db) {
    db.create_resource({.name = "people", .attributes = ojson{{"name", "string"}, {"email", "string|optional"}, {"age", "number|optional"}}});
    auto& p = db.resource("people");
    for (int i = 0; i < 8; ++i)
        p.insert({{"id", "old" + std::to_string(i)}, {"name", "Old " + std::to_string(i)}, {"email", "o" + std::to_string(i) + "@x"}, {"age", 20 + i}});
    // The definition changes: a new version, whose registry burns email's index and gives city the next.
    db.create_resource({.name = "people", .attributes = ojson{{"name", "string"}, {"age", "number|optional"}, {"city", "string|optional"}}});
    for (int i = 0; i < 8; ++i)
        p.insert({{"id", "new" + std::to_string(i)}, {"name", "New " + std::to_string(i)}, {"age", 40 + i}, {"city", "City " + std::to_string(i)}});
    p.update("old3", json{{"city", "Later"}});
}

template <class Store>
SchemaRegistry registry_of(Store& store, const std::string& resource) {
    return DatabaseMetadata::parse(store.get(std::string(DatabaseMetadata::key), GetOptions{})->body).resource(resource)->registry;
}

TEST(Backup, RestoreIntoAFreshDatabaseKeepsARegistryWithHistory) {
    using Db = BasicDatabase<Memory, FsBackup>;
    const std::string tmpl = (backup_dir() / "{date}").string();
    Db source(test::make_store<Memory>(), {}, FsBackup(FilesystemBackup{tmpl}));
    source.connect();
    people_with_history(source);
    const auto reg = registry_of(source.store(), "people");
    ASSERT_EQ(reg.mapping, (std::map<std::string, int>{{"name", 0}, {"age", 2}, {"city", 3}}));
    ASSERT_EQ(reg.burned.size(), 1u);
    ASSERT_EQ(reg.burned[0].index, 1);
    ASSERT_EQ(reg.next_index, 4);
    auto id = source.plugin<FsBackup>().backup().id;

    Db target(test::make_store<Memory>(), {}, FsBackup(FilesystemBackup{tmpl}));
    target.connect();
    ASSERT_FALSE(target.has_resource("people"));
    auto res = target.plugin<FsBackup>().restore(id);
    EXPECT_EQ(res.written, 16u);
    EXPECT_EQ(registry_of(target.store(), "people"), reg);  // mapping, burned (index, attribute, time), nextIndex

    auto& from = source.resource("people");
    auto& to = target.resource("people");
    auto sorted = [](std::vector<json> v) {
        std::sort(v.begin(), v.end(), [](const json& x, const json& y) { return x["id"] < y["id"]; });
        return v;
    };
    const auto want = sorted(from.list());
    ASSERT_EQ(want.size(), 16u);
    EXPECT_EQ(sorted(to.list()), want);
    for (auto& r : want) EXPECT_EQ(to.get(r["id"].get<std::string>()), r) << r.dump();
    // What a registry numbered afresh (name 0, age 1, city 2) would have got wrong.
    EXPECT_EQ(to.get("new2")["age"], 42);
    EXPECT_EQ(to.get("new2")["city"], "City 2");
    EXPECT_EQ(to.get("old3")["age"], 23);
    EXPECT_EQ(to.get("old3")["city"], "Later");
    EXPECT_FALSE(to.get("old1").contains("city"));
    EXPECT_FALSE(to.get("old1").contains("email"));

    // Restoring again into the target, whose registry now is the archive's, passes the check.
    EXPECT_EQ(target.plugin<FsBackup>().restore(id, {.mode = RestoreMode::replace}).written, 16u);
    EXPECT_EQ(sorted(to.list()), want);
}

TEST(Backup, RestoreRefusesATargetThatMapsAttributesElsewhereAndWritesNothing) {
    using Db = BasicDatabase<Memory, FsBackup>;
    const std::string tmpl = (backup_dir() / "{date}").string();
    Db source(test::make_store<Memory>(), {}, FsBackup(FilesystemBackup{tmpl}));
    source.connect();
    people_with_history(source);
    source.create_resource({.name = "other", .attributes = ojson{{"x", "string"}}});
    source.resource("other").insert({{"id", "o1"}, {"x", "y"}});
    auto id = source.plugin<FsBackup>().backup().id;

    // The target defines `people` with today's attributes and no history: name 0, age 1, city 2.
    Db target(test::make_store<Memory>(), {}, FsBackup(FilesystemBackup{tmpl}));
    target.connect();
    target.create_resource({.name = "people", .attributes = ojson{{"name", "string"}, {"age", "number|optional"}, {"city", "string|optional"}}});
    target.resource("people").insert({{"id", "mine"}, {"name", "Mine"}, {"age", 1}, {"city", "Here"}});
    auto all_objects = [&] {
        std::map<std::string, std::string> out;
        for (auto& e : target.store().list(ListOptions{}).objects) out[e.key] = target.store().get(e.key, GetOptions{})->body + "|" + e.etag;
        return out;
    };
    const auto before = all_objects();
    std::vector<std::string> events;
    target.on_plugin_event("*", [&](std::string_view event, const json&) { events.emplace_back(event); });
    for (auto mode : {RestoreMode::merge, RestoreMode::replace, RestoreMode::skip}) {
        try {
            target.plugin<FsBackup>().restore(id, {.mode = mode});
            FAIL() << "restore wrote into a resource that maps the archive's attributes elsewhere";
        } catch (const BackupRegistryMismatch& e) {
            EXPECT_EQ(e.backup_id(), id);
            EXPECT_EQ(e.resource(), "people");
            EXPECT_EQ(e.attribute(), "age");  // the first of the archive's mapping that differs
            EXPECT_EQ(e.archive_index(), "2");
            EXPECT_EQ(e.target_index(), "1");
            EXPECT_NE(std::string(e.what()).find("'city'"), std::string::npos) << e.what();  // the target reads 2 as city
        }
        EXPECT_EQ(all_objects(), before);  // not even `other`, which the target lacks, was created
        EXPECT_FALSE(target.has_resource("other"));
    }
    EXPECT_EQ(std::count(events.begin(), events.end(), "restore.error"), 3);
    EXPECT_EQ(target.resource("people").get("mine")["city"], "Here");
    // A BackupError, an s3db::Error.
    EXPECT_THROW(target.plugin<FsBackup>().restore(id, {.resources = {"people"}}), BackupError);

    // Only `other`: restored, `people` left alone.
    EXPECT_EQ(target.plugin<FsBackup>().restore(id, {.resources = {"other"}}).written, 1u);
    EXPECT_EQ(target.resource("other").get("o1")["x"], "y");

    // A target that uses an index the archive burned (email's 1) is refused: older records carry it.
    Db reuses(test::make_store<Memory>(), {}, FsBackup(FilesystemBackup{tmpl}));
    reuses.connect();
    reuses.create_resource({.name = "people",
                            .attributes = ojson{{"name", "string"}, {"tag", "string|optional"}, {"age", "number|optional"}, {"city", "string|optional"}}});
    try {
        reuses.plugin<FsBackup>().restore(id, {.resources = {"people"}});
        FAIL() << "restore accepted a target that reads the archive's burned index";
    } catch (const BackupRegistryMismatch& e) {
        EXPECT_EQ(e.attribute(), "tag");
        EXPECT_EQ(e.archive_index(), "");
        EXPECT_EQ(e.target_index(), "1");
    }
    EXPECT_EQ(reuses.resource("people").count(), 0u);

    // A target that burned the index the archive uses for an attribute (it removed city since) reads
    // no attribute there: accepted. The restored records read as its own records written before the
    // removal do (the value under its raw metadata key, never as another attribute).
    Db removed(test::make_store<Memory>(), {}, FsBackup(FilesystemBackup{tmpl}));
    removed.connect();
    people_with_history(removed);
    removed.create_resource({.name = "people", .attributes = ojson{{"name", "string"}, {"age", "number|optional"}}});
    const auto own = removed.resource("people").get("new2");
    EXPECT_FALSE(own.contains("city"));
    remove_prefix(removed.store(), "resource=people/");
    EXPECT_EQ(removed.plugin<FsBackup>().restore(id, {.resources = {"people"}}).written, 16u);
    EXPECT_EQ(removed.resource("people").get("new2"), own);
    EXPECT_EQ(removed.resource("people").get("new2")["age"], 42);
}

TEST(Backup, CreateResourceFromARegistrySeed) {
    BasicDatabase<Memory> db(test::make_store<Memory>());
    db.connect();
    SchemaRegistry seed{.next_index = 7, .mapping = {{"a", 5}, {"b", 2}}, .burned = {{3, "gone", "2024-01-01T00:00:00.000Z", "removed"}}};
    auto& r = db.create_resource({.name = "s", .attributes = ojson{{"a", "string"}, {"b", "number"}, {"c", "string|optional"}}},
                                 RegistrySeed{.registry = seed, .plugin_registry = ojson{{"audit", {{"mapping", {{"x", "p1ab"}}}}}}});
    auto stored = DatabaseMetadata::parse(db.store().get("s3db.json", GetOptions{})->body);
    auto got = stored.resource("s")->registry;
    EXPECT_EQ(got.mapping, (std::map<std::string, int>{{"a", 5}, {"b", 2}, {"c", 7}}));  // c: the next index
    EXPECT_EQ(got.next_index, 8);
    EXPECT_EQ(got.burned, seed.burned);
    EXPECT_EQ(stored.document()["resources"]["s"]["pluginSchemaRegistry"]["audit"]["mapping"]["x"], "p1ab");
    r.insert({{"id", "1"}, {"a", "A"}, {"b", 3}});
    auto obj = db.store().get(record_key("s", "1"), GetOptions{});
    EXPECT_EQ(obj->info.metadata.at("5"), "A");
    // An existing resource ignores the seed; a seed with two attributes on one index is refused.
    db.create_resource({.name = "s", .attributes = ojson{{"a", "string"}, {"b", "number"}, {"c", "string|optional"}}},
                       RegistrySeed{.registry = SchemaRegistry{.next_index = 3, .mapping = {{"a", 0}, {"b", 1}, {"c", 2}}, .burned = {}}});
    EXPECT_EQ(registry_of(db.store(), "s").mapping.at("a"), 5);
    EXPECT_THROW(db.create_resource({.name = "t", .attributes = ojson{{"a", "string"}, {"b", "string"}}},
                                    RegistrySeed{.registry = SchemaRegistry{.next_index = 2, .mapping = {{"a", 1}, {"b", 1}}, .burned = {}}}),
                 ConfigError);
    EXPECT_FALSE(db.has_resource("t"));
}

TEST(Backup, FullBackupRequestCounts) {
    using Db = BasicDatabase<Counting<Memory>, FsBackup>;
    const std::string tmpl = (backup_dir() / "{date}").string();
    Db db(Counting<Memory>(test::make_store<Memory>()), {}, FsBackup(FilesystemBackup{tmpl}));
    db.connect();
    auto& items = db.create_resource({.name = "items", .attributes = ojson{{"n", "number"}}});
    std::vector<json> batch;
    for (int i = 0; i < 2500; ++i) batch.push_back({{"n", i}});
    items.insert_many(std::move(batch));
    const auto before = db.transport().counts();
    auto r = db.plugin<FsBackup>().backup();
    const auto used = db.transport().counts() - before;
    EXPECT_EQ(r.records, 2500u);
    // 1 GET per record, s3db.json, and the metadata record's reads (insert, update: a handful).
    EXPECT_GE(used.get, 2500u);
    EXPECT_LE(used.get, 2500u + 6) << used.get;
    EXPECT_EQ(used.list, 3u) << used.list;  // ⌈2500/1000⌉
    std::printf("full backup of 2500 records: %llu GET, %llu LIST, %llu PUT, %llu HEAD\n",
                (unsigned long long)used.get, (unsigned long long)used.list, (unsigned long long)used.put,
                (unsigned long long)used.head);

    // Restore into another database: 1 PUT per record, then the partition repair's LISTs and reads.
    Db target(Counting<Memory>(test::make_store<Memory>()), {}, FsBackup(FilesystemBackup{tmpl}));
    target.connect();
    const auto t0 = target.transport().counts();
    auto res = target.plugin<FsBackup>().restore(r.id);
    const auto t = target.transport().counts() - t0;
    EXPECT_EQ(res.written, 2500u);
    EXPECT_EQ(target.resource("items").count(), 2500u);
    EXPECT_GE(t.put, 2500u);
    EXPECT_LE(t.put, 2500u + 3) << t.put;  // + s3db.json for the created resource
    std::printf("restore of 2500 records: %llu PUT, %llu GET, %llu HEAD, %llu LIST\n", (unsigned long long)t.put,
                (unsigned long long)t.get, (unsigned long long)t.head, (unsigned long long)t.list);
}

TEST(Backup, EncryptionReallyEncryptsAndAWrongPassphraseWritesNothing) {
    using Db = BasicDatabase<Memory, FsBackup>;
    const auto dir = backup_dir();
    const std::string tmpl = (dir / "{date}").string();
    Db db(test::make_store<Memory>(), {}, FsBackup(FilesystemBackup{tmpl}, {.passphrase = "correct horse", .kdf_iterations = 2000}));
    db.connect();
    populate(db, 4);
    auto& plugin = db.plugin<FsBackup>();
    auto id = plugin.backup().id;
    // No plaintext in the archive: the names inserted are nowhere in its files.
    for (auto& e : std::filesystem::recursive_directory_iterator(plugin.driver().directory(*detail::backup_stamp(id)))) {
        if (!e.is_regular_file()) continue;
        std::ifstream in(e.path(), std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(in)), {});
        EXPECT_EQ(bytes.find("User 2"), std::string::npos) << e.path();
        EXPECT_EQ(bytes.find("byRegion"), e.path().filename() == "manifest.json" ? std::string::npos : std::string::npos) << e.path();
    }
    db.resource("users").update("u1", json{{"name", "Changed"}});
    const auto before = objects(db.store());

    for (const char* wrong : {"wrong horse", ""}) {
        Db other(test::make_store<Memory>(), {}, FsBackup(FilesystemBackup{tmpl}, {.passphrase = wrong}));
        other.connect();
        EXPECT_THROW(other.plugin<FsBackup>().restore(id), BackupDecryptionFailed) << wrong;
        EXPECT_FALSE(other.has_resource("users"));
    }
    Db wrong(Memory(db.transport()), {}, FsBackup(FilesystemBackup{tmpl}, {.passphrase = "wrong horse"}));
    wrong.connect();
    try {
        wrong.plugin<FsBackup>().restore(id);
        FAIL();
    } catch (const BackupDecryptionFailed& e) {
        EXPECT_EQ(std::string(e.what()).find("horse"), std::string::npos);  // the passphrase is never printed
    }
    EXPECT_EQ(objects(wrong.store()), before);

    Db right(test::make_store<Memory>(), {}, FsBackup(FilesystemBackup{tmpl}, {.passphrase = "correct horse"}));
    right.connect();
    right.plugin<FsBackup>().restore(id);
    EXPECT_EQ(right.resource("users").get("u2")["name"], "User 2");
    EXPECT_EQ(right.resource("users").get("u2")["password"], "pw-2");
}

TEST(Backup, RetentionDeletesWhatFallsOutFromDestinationAndMetadata) {
    using Db = BasicDatabase<Memory, FsBackup>;
    test::ManualClock clock(test::ManualClock::at(2024, 1, 1, 12));
    const auto dir = backup_dir();
    Db db(test::make_store<Memory>(), {},
          FsBackup(FilesystemBackup{(dir / "{date}").string()},
                   {.retention = {.daily = 3, .weekly = 2, .monthly = 2}, .clock = clock.fn()}));
    db.connect();
    db.create_resource({.name = "items", .attributes = ojson{{"n", "number"}}}).insert({{"n", 1}});
    auto& plugin = db.plugin<FsBackup>();
    std::vector<std::string> ids;
    for (int day = 0; day < 45; ++day) {  // one full backup a day, 2024-01-01 … 2024-02-14
        ids.push_back(plugin.backup().id);
        clock.advance(std::chrono::hours(24));
    }
    std::set<std::string> kept;
    for (auto& b : plugin.list_backups()) kept.insert(b["id"].get<std::string>());
    // Daily: Feb 12, 13, 14. Weekly: newest of this week (Feb 14) and of last week (Sun Feb 11).
    // Monthly: newest of February (Feb 14) and of January (Jan 31).
    std::set<std::string> expected = {ids[44], ids[43], ids[42], ids[41], ids[30]};
    EXPECT_EQ(kept, expected);
    for (std::size_t i = 0; i < ids.size(); ++i) {
        const bool on_disk = std::filesystem::exists(plugin.driver().directory(*detail::backup_stamp(ids[i])) / "manifest.json");
        EXPECT_EQ(on_disk, expected.count(ids[i]) == 1) << ids[i];
    }
}

TEST(Backup, RetentionKeepsTheChainOfAKeptIncremental) {
    std::vector<json> backups = {{{"id", "f"}, {"ms", 0}, {"parent", ""}},
                                 {{"id", "i1"}, {"ms", 10LL * 86'400'000}, {"parent", "f"}},
                                 {{"id", "i2"}, {"ms", 20LL * 86'400'000}, {"parent", "i1"}}};
    auto keep = detail::backup_retained(backups, {.daily = 1}, 20LL * 86'400'000 + 1000);
    EXPECT_EQ(keep, (std::set<std::string>{"f", "i1", "i2"}));
    keep = detail::backup_retained({{{"id", "f"}, {"ms", 0}, {"parent", ""}}, {{"id", "g"}, {"ms", 20LL * 86'400'000}, {"parent", ""}}},
                                   {.daily = 1}, 20LL * 86'400'000 + 1000);
    EXPECT_EQ(keep, std::set<std::string>{"g"});
}

TEST(Backup, EventsForBackupAndRestore) {
    using Db = BasicDatabase<Memory, FsBackup>;
    Db db(test::make_store<Memory>(), {}, FsBackup(FilesystemBackup{(backup_dir() / "{date}").string()}));
    std::vector<std::string> events;
    db.on_plugin_event("*", [&](std::string_view e, const json&) {
        if (e.starts_with("backup.") || e.starts_with("restore.")) events.emplace_back(e);
    });
    db.connect();
    db.create_resource({.name = "a", .attributes = ojson{{"n", "number"}}}).insert({{"n", 1}});
    db.create_resource({.name = "b", .attributes = ojson{{"n", "number"}}}).insert({{"n", 2}});
    auto& plugin = db.plugin<FsBackup>();
    auto id = plugin.backup().id;
    plugin.restore(id);
    EXPECT_EQ(events, (std::vector<std::string>{"backup.start", "backup.resource", "backup.resource", "backup.complete",
                                                "restore.start", "restore.resource", "restore.resource", "restore.complete"}));
    events.clear();
    EXPECT_THROW(plugin.restore("full-2020-01-01T00-00-00-000Z-zzzzzz"), BackupNotFound);
    EXPECT_EQ(events, (std::vector<std::string>{"restore.start", "restore.error"}));
}

TEST(Backup, FailedBackupIsMarkedFailed) {
    // A destination that cannot be written: a regular file where its directory should be.
    const auto dir = backup_dir();
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "blocked") << "x";
    using Db = BasicDatabase<Memory, FsBackup>;
    Db db(test::make_store<Memory>(), {}, FsBackup(FilesystemBackup{(dir / "blocked" / "{date}").string()}));
    std::vector<std::string> events;
    db.on_plugin_event("backup.error", [&](const json& e) { events.push_back(e["id"].get<std::string>()); });
    db.connect();
    db.create_resource({.name = "a", .attributes = ojson{{"n", "number"}}}).insert({{"n", 1}});
    EXPECT_ANY_THROW(db.plugin<FsBackup>().backup());
    ASSERT_EQ(events.size(), 1u);
    auto status = db.plugin<FsBackup>().get_backup_status(events[0]);
    ASSERT_TRUE(status);
    EXPECT_EQ((*status)["status"], "failed");
    EXPECT_FALSE((*status)["error"].get<std::string>().empty());
}

TEST(Backup, MultiDestinationsAllAnyPriority) {
    const auto dir = backup_dir();
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "blocked") << "x";
    using Multi2 = MultiBackup<FilesystemBackup, S3Backup<Memory>>;
    using Db = BasicDatabase<Memory, Backup<Multi2>>;
    Memory dest = test::make_store<Memory>();

    {  // all: both destinations get every file
        Db db(test::make_store<Memory>(), {},
              Backup<Multi2>(Multi2(FilesystemBackup{(dir / "all/{date}").string()}, S3Backup<Memory>(dest, "bk/{date}/"), MultiStrategy::all)));
        db.connect();
        populate(db, 3);
        auto id = db.plugin<Backup<Multi2>>().backup().id;
        EXPECT_TRUE(std::filesystem::exists(std::get<0>(db.plugin<Backup<Multi2>>().driver().drivers()).directory(*detail::backup_stamp(id)) / "manifest.json"));
        EXPECT_TRUE(dest.get(S3Backup<Memory>(dest, "bk/{date}/").prefix(*detail::backup_stamp(id)) + "manifest.json", {}));
        // A restore from the S3 destination alone (another database that only knows it).
        BasicDatabase<Memory, Backup<S3Backup<Memory>>> other(test::make_store<Memory>(), {},
                                                             Backup<S3Backup<Memory>>(S3Backup<Memory>(dest, "bk/{date}/")));
        other.connect();
        other.plugin<Backup<S3Backup<Memory>>>().restore(id);
        EXPECT_EQ(records(other), records(db));
    }
    {  // all with a broken destination fails; any succeeds with the one that works
        Db all(test::make_store<Memory>(), {},
               Backup<Multi2>(Multi2(FilesystemBackup{(dir / "blocked/{date}").string()}, S3Backup<Memory>(dest, "bk2/"), MultiStrategy::all)));
        all.connect();
        populate(all, 2);
        EXPECT_THROW(all.plugin<Backup<Multi2>>().backup(), BackupError);

        Db any(test::make_store<Memory>(), {},
               Backup<Multi2>(Multi2(FilesystemBackup{(dir / "blocked/{date}").string()}, S3Backup<Memory>(dest, "bk3/"), MultiStrategy::any)));
        any.connect();
        populate(any, 2);
        auto& p = any.plugin<Backup<Multi2>>();
        auto id = p.backup().id;
        EXPECT_EQ(p.driver().failures().size(), 1u);
        wipe(any.store());
        p.restore(id);
        EXPECT_EQ(any.resource("users").list().size(), 2u);
    }
    {  // priority: only the first destination that works is written
        Db pri(test::make_store<Memory>(), {},
               Backup<Multi2>(Multi2(FilesystemBackup{(dir / "pri/{date}").string()}, S3Backup<Memory>(dest, "bk4/"), MultiStrategy::priority)));
        pri.connect();
        populate(pri, 2);
        auto id = pri.plugin<Backup<Multi2>>().backup().id;
        EXPECT_TRUE(std::filesystem::exists(std::get<0>(pri.plugin<Backup<Multi2>>().driver().drivers()).directory(*detail::backup_stamp(id)) / "manifest.json"));
        EXPECT_FALSE(dest.get("bk4/" + id + "/manifest.json", {}));
    }
}

TEST(Backup, PathTemplatesAndIds) {
    auto s = detail::backup_stamp("full-2024-03-05T07-08-09-010Z-abc123");
    ASSERT_TRUE(s);
    EXPECT_EQ(s->ms, test::ManualClock::at(2024, 3, 5, 7, 8) + 9010);
    EXPECT_EQ(detail::backup_path("b/{year}/{month}/{day}/{date}_{time}_{type}/", *s),
              "b/2024/03/05/2024-03-05_07-08-09_full/full-2024-03-05T07-08-09-010Z-abc123/");
    EXPECT_EQ(detail::backup_path("x/{backupId}", *s), "x/full-2024-03-05T07-08-09-010Z-abc123/");
    auto id = detail::backup_id("incremental", s->ms);
    EXPECT_EQ(detail::backup_stamp(id)->ms, s->ms);
    EXPECT_FALSE(detail::backup_stamp("nope"));
}

TEST(BackupOnS3, FullBackupToAnotherPrefixAndRestoreOnRgw) {
    using Db = BasicDatabase<S3, Backup<S3Backup<S3>>>;
    S3 dest = test::make_store<S3>();
    Db db(test::make_store<S3>(), {}, Backup<S3Backup<S3>>(S3Backup<S3>(std::move(dest), "backups/{date}/")));
    db.connect();
    populate(db, 12);
    const auto before_objects = objects(db.store());
    const auto before_records = records(db);
    auto& plugin = db.plugin<Backup<S3Backup<S3>>>();
    auto id = plugin.backup().id;
    wipe(db.store());
    plugin.restore(id);
    EXPECT_EQ(objects(db.store()), before_objects);
    EXPECT_EQ(records(db), before_records);
    EXPECT_EQ(partition_ids(db, "users", "byRegion", "region", "eu").size(), 4u);

    // Migration: a database on another store restores the same archive from RGW.
    BasicDatabase<Memory, Backup<S3Backup<S3>>> local(test::make_store<Memory>(), {}, Backup<S3Backup<S3>>(plugin.driver()));
    local.connect();
    local.plugin<Backup<S3Backup<S3>>>().restore(id);
    EXPECT_EQ(objects(local.store()), before_objects);
    EXPECT_EQ(records(local), before_records);
}

// ---- compression ---------------------------------------------------------------------------------

TYPED_TEST(BackupOn, GzipBackupIsValidGzipSmallerAndRestoresEveryObject) {
    using Db = BasicDatabase<TypeParam, GzBackup>;
    const auto dir = backup_dir();
    Db db(test::make_store<TypeParam>(), {}, GzBackup(FilesystemBackup{(dir / "{date}").string()}, {.records_per_file = 8}, GzipCompression{.level = 6}));
    db.connect();
    populate(db);
    const auto before_objects = objects(db.store());
    const auto before_records = records(db);
    auto& plugin = db.template plugin<GzBackup>();
    auto full = plugin.backup();
    const auto where = plugin.driver().directory(*detail::backup_stamp(full.id));

    // The manifest says gzip and describes every stored file: .gz name, stored size and SHA-256, plain size.
    const json manifest = json::parse(read_bytes(where / "manifest.json"));
    EXPECT_EQ(manifest["compression"], (json{{"algorithm", "gzip"}, {"level", 6}}));
    std::uint64_t plain_total = 0;
    std::size_t checked = 0;
    for (auto& f : manifest["files"]) {
        const auto name = f["name"].template get<std::string>();
        ASSERT_TRUE(name.ends_with(".gz")) << name;
        const auto path = where / name;
        const std::string stored = read_bytes(path);
        EXPECT_EQ(stored.size(), f["size"].template get<std::size_t>()) << name;
        EXPECT_EQ(detail::sha256_hex(stored), f["sha256"]) << name;
        // Valid gzip by zlib's own reader and by gzip(1).
        const std::string plain = gunzip_file(path);
        EXPECT_EQ(plain.size(), f["plainSize"].template get<std::size_t>()) << name;
        if (name.find("/records-") != std::string::npos) {
            EXPECT_TRUE(plain.starts_with("{\"body\":") || plain.starts_with("{\"contentType\":")) << name;
            EXPECT_NE(plain.find("\"key\":\""), std::string::npos) << name;
        }
        EXPECT_EQ(std::system(("gzip -t '" + path.string() + "'").c_str()), 0) << name;
        plain_total += plain.size();
        ++checked;
    }
    EXPECT_GT(checked, 10u);  // s3db.json + per resource definition, records files, index
    EXPECT_EQ(full.plain_bytes, plain_total + read_bytes(where / "manifest.json").size());
    const double ratio = static_cast<double>(full.bytes) / static_cast<double>(full.plain_bytes);
    std::printf("gzip level 6 archive: %llu bytes for %llu plain (ratio %.3f)\n", (unsigned long long)full.bytes,
                (unsigned long long)full.plain_bytes, ratio);
    EXPECT_LT(ratio, 0.5) << "repeated bios and texts compress";
    auto status = *plugin.get_backup_status(full.id);
    EXPECT_EQ(status.at("compression"), "gzip");
    EXPECT_EQ(status.at("plainSize"), full.plain_bytes);

    // An incremental over it (reads the parent's index.tsv.gz), then the chain restores exactly.
    db.resource("users").update("u1", json{{"name", "Changed"}, {"region", "eu"}});
    db.resource("users").remove("u2");
    auto inc = plugin.backup(BackupType::incremental);
    EXPECT_EQ(inc.records, 1u);
    EXPECT_EQ(inc.deleted, 1u);
    const auto at_inc = objects(db.store());
    const auto records_at_inc = records(db);
    wipe(db.store());
    auto r = plugin.restore(inc.id, {.mode = RestoreMode::replace});
    EXPECT_EQ(r.chain, (std::vector<std::string>{full.id, inc.id}));
    EXPECT_EQ(objects(db.store()), at_inc);  // every behavior, secrets, binary content, byte for byte
    EXPECT_EQ(records(db), records_at_inc);
    EXPECT_TRUE(partition_ids(db, "users", "byRegion", "region", "eu").count("u1"));

    // The full alone gives back the state before.
    wipe(db.store());
    plugin.restore(full.id, {.mode = RestoreMode::replace});
    EXPECT_EQ(objects(db.store()), before_objects);
    EXPECT_EQ(records(db), before_records);
}

TEST(Backup, GzipFlippedByteRefusesBeforeWriting) {
    using Db = BasicDatabase<Memory, GzBackup>;
    Db db(test::make_store<Memory>(), {}, GzBackup(FilesystemBackup{(backup_dir() / "{date}").string()}));
    db.connect();
    populate(db);
    auto& plugin = db.plugin<GzBackup>();
    auto id = plugin.backup().id;
    db.resource("users").update("u1", json{{"name", "Changed"}});
    db.resource("users").remove("u2");
    const auto before = objects(db.store());

    const auto where = plugin.driver().directory(*detail::backup_stamp(id));
    const auto file = where / "users" / "records-00000.jsonl.gz";
    const std::string good = read_bytes(file);
    std::string bad = good;
    bad[bad.size() / 2] = static_cast<char>(bad[bad.size() / 2] ^ 0x01);
    write_bytes(file, bad);
    for (auto mode : {RestoreMode::merge, RestoreMode::replace}) {
        EXPECT_THROW(plugin.restore(id, {.mode = mode}), BackupChecksumMismatch);
        EXPECT_EQ(objects(db.store()), before);
    }

    // A manifest rewritten to match the damaged file: the SHA-256 passes, gzip's CRC-32 and the
    // plain size do not, and still nothing is written.
    const auto manifest_path = where / "manifest.json";
    const std::string manifest_text = read_bytes(manifest_path);
    json manifest = json::parse(manifest_text);
    for (auto& f : manifest["files"])
        if (f["name"] == "users/records-00000.jsonl.gz") f["sha256"] = detail::sha256_hex(bad);
    write_bytes(manifest_path, manifest.dump(2));
    try {
        plugin.restore(id, {.mode = RestoreMode::replace});
        FAIL() << "a file that does not decompress was restored";
    } catch (const BackupChecksumMismatch& e) {
        EXPECT_NE(std::string(e.what()).find("decompress"), std::string::npos) << e.what();
        EXPECT_EQ(e.file(), "users/records-00000.jsonl.gz");
    }
    EXPECT_EQ(objects(db.store()), before);

    write_bytes(file, good);
    write_bytes(manifest_path, manifest_text);
    plugin.restore(id, {.mode = RestoreMode::replace});
    EXPECT_EQ(db.resource("users").get("u1")["name"], "User 1");
    EXPECT_TRUE(db.resource("users").exists("u2"));
}

TEST(Backup, GzipWithEncryptionCompressesThenEncrypts) {
    using Db = BasicDatabase<Memory, GzBackup>;
    const std::string tmpl = (backup_dir() / "{date}").string();
    Db db(test::make_store<Memory>(), {}, GzBackup(FilesystemBackup{tmpl}, {.passphrase = "correct horse", .kdf_iterations = 2000}, GzipCompression{.level = 9}));
    db.connect();
    populate(db);
    auto& plugin = db.plugin<GzBackup>();
    auto result = plugin.backup();
    EXPECT_LT(result.bytes * 2, result.plain_bytes) << "compressed before it was encrypted";
    const auto where = plugin.driver().directory(*detail::backup_stamp(result.id));
    const json manifest = json::parse(read_bytes(where / "manifest.json"));
    EXPECT_EQ(manifest["compression"]["level"], 9);
    ASSERT_TRUE(manifest["encryption"].is_object());

    // Open one stored file by hand: IV + AES-256-GCM around a gzip member (magic 1f 8b) of the lines.
    const std::string stored = read_bytes(where / "users" / "records-00000.jsonl.gz");
    EXPECT_EQ(stored.find("User 2"), std::string::npos);
    const auto salt = *detail::base64_decode(manifest["encryption"]["salt"].get<std::string>());
    const std::string key = detail::pbkdf2_sha256("correct horse", salt, manifest["encryption"]["iterations"].get<int>());
    auto opened = detail::aes_256_gcm_open(key, std::string_view(stored).substr(0, detail::secret_iv_bytes),
                                           std::string_view(stored).substr(detail::secret_iv_bytes));
    ASSERT_TRUE(opened);
    ASSERT_GE(opened->size(), 2u);
    EXPECT_EQ(static_cast<unsigned char>((*opened)[0]), 0x1f);
    EXPECT_EQ(static_cast<unsigned char>((*opened)[1]), 0x8b);
    std::size_t plain_size = 0;
    for (auto& f : manifest["files"])
        if (f["name"] == "users/records-00000.jsonl.gz") plain_size = f["plainSize"].get<std::size_t>();
    auto lines = GzipCompression{}.decompress(*opened, plain_size);
    ASSERT_TRUE(lines);
    EXPECT_NE(lines->find("\"key\":\"u2\""), std::string::npos) << lines->substr(0, 300);

    const auto before = objects(db.store());
    Db wrong(test::make_store<Memory>(), {}, GzBackup(FilesystemBackup{tmpl}, {.passphrase = "wrong horse"}));
    wrong.connect();
    EXPECT_THROW(wrong.plugin<GzBackup>().restore(result.id), BackupDecryptionFailed);
    EXPECT_FALSE(wrong.has_resource("users"));

    Db right(test::make_store<Memory>(), {}, GzBackup(FilesystemBackup{tmpl}, {.passphrase = "correct horse"}));
    right.connect();
    right.plugin<GzBackup>().restore(result.id);
    EXPECT_EQ(objects(right.store()), before);
    EXPECT_EQ(right.resource("users").get("u2")["password"], "pw-2");
}

TEST(Backup, CompressionIsReadFromEachArchive) {
    const std::string tmpl = (backup_dir() / "{date}").string();
    BasicDatabase<Memory, GzBackup> gz(test::make_store<Memory>(), {}, GzBackup(FilesystemBackup{tmpl}));
    gz.connect();
    populate(gz, 5);
    const auto gz_id = gz.plugin<GzBackup>().backup().id;

    // A Backup without gzip cannot read a gzip archive: it says so, and writes nothing.
    BasicDatabase<Memory, FsBackup> plain(test::make_store<Memory>(), {}, FsBackup(FilesystemBackup{tmpl}));
    plain.connect();
    try {
        plain.plugin<FsBackup>().restore(gz_id);
        FAIL();
    } catch (const BackupError& e) {
        EXPECT_NE(std::string(e.what()).find("GzipCompression"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(plain.has_resource("users"));

    // A gzip Backup reads an uncompressed archive (older ones, or another database's).
    populate(plain, 5);
    const auto plain_id = plain.plugin<FsBackup>().backup().id;
    BasicDatabase<Memory, GzBackup> other(test::make_store<Memory>(), {}, GzBackup(FilesystemBackup{tmpl}));
    other.connect();
    other.plugin<GzBackup>().restore(plain_id);
    EXPECT_EQ(objects(other.store()), objects(plain.store()));
}

TEST(Backup, GzipCompressionRoundTripsAndRefusesWhatIsNotOneMember) {
    const GzipCompression gz{.level = 1};
    std::string big;  // over 1 MiB: several input chunks; half random so it does not all collapse
    std::mt19937 rng(7);
    while (big.size() < 3 * 1024 * 1024 + 17) big += (rng() % 2 ? std::string(100, 'a') : std::to_string(rng()));
    for (const std::string& plain : {std::string{}, std::string("x"), big}) {
        const auto packed = gz.compress(plain);
        auto back = gz.decompress(packed, plain.size());
        ASSERT_TRUE(back) << plain.size();
        EXPECT_EQ(*back, plain);
        EXPECT_FALSE(gz.decompress(packed, plain.size() + 1)) << "shorter than the manifest says";
        if (!plain.empty()) {
            EXPECT_FALSE(gz.decompress(packed, plain.size() - 1)) << "longer than the manifest says";
        }
        EXPECT_FALSE(gz.decompress(packed + "junk", plain.size())) << "bytes after the member";
        EXPECT_FALSE(gz.decompress(packed.substr(0, packed.size() - 1), plain.size())) << "truncated";
    }
    EXPECT_LT(gz.compress(big).size(), big.size() / 2);
    EXPECT_THROW((GzipCompression{.level = 10}.validate()), ConfigError);
    using Db = BasicDatabase<Memory, GzBackup>;
    EXPECT_THROW(Db(test::make_store<Memory>(), {}, GzBackup(FilesystemBackup{(backup_dir() / "x").string()}, {}, GzipCompression{.level = 12})),
                 PluginError);  // the plugin's validate(), whose message names the level
}

// ---- storage classes -----------------------------------------------------------------------------

TEST(Backup, StorageClassNamesAreCheckedOnEveryStore) {
    Memory m = test::make_store<Memory>();
    Filesystem f = test::make_store<Filesystem>();
    m.put("a", "x", {.storage_class = "STANDARD_IA"});  // one tier: accepted, not kept
    f.put("a", "x", {.storage_class = "GLACIER_IR"});
    EXPECT_EQ(m.head("a")->storage_class, "");
    EXPECT_EQ(f.head("a")->storage_class, "");
    EXPECT_THROW(m.put("b", "x", {.storage_class = "standard ia"}), InvalidStorageClass);
    EXPECT_THROW(f.put("b", "x", {.storage_class = "STANDARD\r\nX-Evil: 1"}), InvalidStorageClass);
    EXPECT_FALSE(m.head("b"));
    EXPECT_FALSE(f.head("b"));
    EXPECT_THROW(S3Backup<Memory>(m, "bk/", "lower"), InvalidStorageClass);
}

TEST(Backup, S3SendsTheStorageClassSignedAndTypesARefusal) {
    std::vector<std::string> classes;
    test::HttpServer server([](const test::HttpRequest& r, int) {
        if (r.header("x-amz-storage-class") == "DEEP_FREEZE")
            return test::http_response(400, "Bad Request",
                                       "<?xml version=\"1.0\"?><Error><Code>InvalidStorageClass</Code><Message>The storage class you "
                                       "specified is not valid</Message><RequestId>R1</RequestId></Error>",
                                       {"Content-Type: application/xml"});
        return test::http_response(200, "OK", "", {"ETag: \"0cc175b9c0f1b6a831c399e269772661\""});
    });
    S3Options o;
    o.bucket = "bucket";
    o.endpoint = server.url();
    o.region = "us-east-1";
    o.credentials = Credentials{"AKIDEXAMPLE", "secret", ""};
    S3 s3(o);
    s3.put("k", "a", {.storage_class = "STANDARD_IA"});
    s3.put("k2", "a");
    try {
        s3.put("k3", "a", {.storage_class = "DEEP_FREEZE"});
        FAIL();
    } catch (const InvalidStorageClass& e) {
        EXPECT_EQ(e.storage_class(), "DEEP_FREEZE");
        EXPECT_EQ(e.code(), "InvalidStorageClass");
        EXPECT_EQ(e.status(), 400);
        EXPECT_NE(std::string(e.what()).find("not valid"), std::string::npos) << e.what();
    }
    auto reqs = server.requests();
    ASSERT_EQ(reqs.size(), 3u) << "a refused class is not retried";
    EXPECT_EQ(reqs[0].header("x-amz-storage-class"), "STANDARD_IA");
    const auto auth = reqs[0].header("authorization");
    const auto signed_headers = auth.substr(auth.find("SignedHeaders=") + 14);
    EXPECT_NE(signed_headers.substr(0, signed_headers.find(',')).find("x-amz-storage-class"), std::string::npos) << auth;
    EXPECT_EQ(reqs[1].header("x-amz-storage-class"), "") << "no class: the bucket's default, nothing sent";
}

TEST(BackupOnS3, StorageClassReachesRgwAndAnUnknownOneFailsTheBackupTyped) {
    using Bk = Backup<S3Backup<S3>>;
    S3 dest = test::make_store<S3>();
    BasicDatabase<Memory, Bk> db(test::make_store<Memory>(), {}, Bk(S3Backup<S3>(dest, "sc/{date}/", "STANDARD")));
    db.connect();
    populate(db, 3);
    auto& plugin = db.plugin<Bk>();
    auto id = plugin.backup().id;
    const auto prefix = plugin.driver().prefix(*detail::backup_stamp(id));
    auto head = dest.head(prefix + "manifest.json");
    ASSERT_TRUE(head);
    EXPECT_EQ(head->storage_class, "STANDARD") << "RGW reports the class it stored";
    EXPECT_EQ(dest.head(prefix + "users/records-00000.jsonl")->storage_class, "STANDARD");
    plugin.restore(id, {.mode = RestoreMode::replace});

    // RGW's default placement has STANDARD only: STANDARD_IA is refused (400 InvalidArgument).
    BasicDatabase<Memory, Bk> ia(test::make_store<Memory>(), {}, Bk(S3Backup<S3>(dest, "sc-ia/{date}/", "STANDARD_IA")));
    std::vector<std::string> failed;
    ia.on_plugin_event("backup.error", [&](const json& e) { failed.push_back(e["id"].get<std::string>()); });
    ia.connect();
    populate(ia, 2);
    try {
        ia.plugin<Bk>().backup();
        FAIL() << "RGW took STANDARD_IA";
    } catch (const InvalidStorageClass& e) {
        EXPECT_EQ(e.storage_class(), "STANDARD_IA");
        EXPECT_EQ(e.status(), 400);
        std::printf("RGW's answer to STANDARD_IA: %s\n", e.what());
    }
    ASSERT_EQ(failed.size(), 1u);
    EXPECT_EQ((*ia.plugin<Bk>().get_backup_status(failed[0]))["status"], "failed");
    EXPECT_TRUE(dest.list({.prefix = "sc-ia/"}).objects.empty());
}

}  // namespace
