// The Replicator's PostgreSQL target on a throwaway PostgreSQL cluster (cmake/postgres-server.sh,
// started by ctest; S3DB_TEST_PG_URL or PG_PORT say where): inserts, updates and deletes land in the
// tables field by field; replays are idempotent; a terminated connection is reopened; SQL errors are
// not retried; and a process killed with SIGKILL in the middle of 1,000 writes replicating to an s3db
// database and to PostgreSQL leaves, after a restart replays its log, both equal to the source's
// acknowledged state. Suite PostgresTarget needs no server; PostgresServer does.

#include <gtest/gtest.h>


#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <libpq-fe.h>

#include "s3db/core/database.hpp"
#include "s3db/plugins/replicator.hpp"
#include "s3db/plugins/replicator/postgres.hpp"
#include "s3db/transport/filesystem.hpp"
#include "s3db/transport/memory.hpp"
#include "support/kill_midway.hpp"
#include "support/stores.hpp"

using namespace s3db;
using namespace std::chrono_literals;

namespace {

std::string pg_url() {
    if (const char* url = std::getenv("S3DB_TEST_PG_URL"); url && *url) return url;
    const char* port = std::getenv("PG_PORT");
    return std::string("postgresql://postgres@127.0.0.1:") + (port && *port ? port : "5433") + "/postgres";
}

/// A unique table name per test and run (the dev server outlives runs).
std::string unique_table(const std::string& stem) {
    auto p = test::next_prefix();
    return stem + "_" + p.substr(1, p.size() - 2) + "_" + std::to_string(::getpid());
}

/// The test's own connection, to read tables and to break the target's connections.
class Admin {
public:
    Admin() : c_(PQconnectdb(pg_url().c_str())) {
        if (PQstatus(c_.get()) != CONNECTION_OK)
            throw std::runtime_error("no PostgreSQL at " + pg_url() + " (ctest starts cmake/postgres-server.sh): " +
                                     PQerrorMessage(c_.get()));
        PQsetNoticeProcessor(c_.get(), [](void*, const char*) {}, nullptr);
    }
    std::vector<std::vector<std::string>> query(const std::string& sql, const std::vector<std::string>& params = {}) {
        std::vector<const char*> values;
        for (auto& p : params) values.push_back(p.c_str());
        detail::PgResult r(PQexecParams(c_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(),
                                        nullptr, nullptr, 0));
        auto st = PQresultStatus(r.get());
        if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) throw std::runtime_error(sql + ": " + PQresultErrorMessage(r.get()));
        std::vector<std::vector<std::string>> rows;
        for (int i = 0; i < PQntuples(r.get()); ++i) {
            rows.emplace_back();
            for (int j = 0; j < PQnfields(r.get()); ++j) rows.back().push_back(PQgetvalue(r.get(), i, j));
        }
        return rows;
    }
    /// Every row of `table`: id → data.
    std::map<std::string, json> rows(const std::string& table) {
        std::map<std::string, json> out;
        for (auto& r : query("SELECT id, data::text FROM " + detail::pg_table_sql(table))) out[r[0]] = json::parse(r[1]);
        return out;
    }
    bool exists(const std::string& table) { return query("SELECT to_regclass($1) IS NOT NULL", {table})[0][0] == "t"; }

private:
    detail::PgConn c_;
};

template <class Db>
std::map<std::string, json> records_of(Db& db, const std::string& resource) {
    std::map<std::string, json> out;
    if (!db.has_resource(resource)) return out;
    for (auto& r : db.resource(resource).list()) out[r.at("id").template get<std::string>()] = r;
    return out;
}

ReplicatorOptions fast(ReplicatorOptions o = {}) {
    o.retry_delay = 5ms;
    o.max_retry_delay = 40ms;
    return o;
}

PostgresOptions pg_options(std::string app = "s3db-replicator-test") {
    PostgresOptions o{.connection_string = pg_url()};
    o.retry.base_delay = 10ms;
    o.retry.throttle_base_delay = 10ms;
    o.application_name = std::move(app);
    return o;
}

/// Field types jsonb must carry back exactly: nested objects, arrays, floats, booleans, unicode.
ResourceConfig users_config() {
    return {.name = "users",
            .attributes = {{"name", "string|required"},
                           {"region", "string|optional"},
                           {"visits", "number|optional"},
                           {"score", "number|optional"},
                           {"active", "boolean|optional"},
                           {"tags", "array|optional"},
                           {"profile", "json|optional"}},
            .behavior = "body-overflow"};
}

json rich_user(const std::string& id, std::mt19937& rng) {
    const char* names[] = {"Zoë", "渡辺", "O'Brien \"the\" \\ one", "plain"};
    return {{"id", id},
            {"name", names[rng() % 4]},
            {"region", rng() % 2 ? "eu" : "us"},
            {"visits", static_cast<int>(rng() % 1000)},
            {"score", static_cast<double>(rng() % 100000) / 7.0},
            {"active", rng() % 2 == 0},
            {"tags", json::array({"a", std::to_string(rng() % 10)})},
            {"profile", {{"city", "Zürich"}, {"zip", rng() % 90000}, {"nested", {{"deep", json::array({1, 2.5, nullptr})}}}}}};
}

// ---- no server ---------------------------------------------------------------------------------------

TEST(PostgresTarget, SeedTableFormatsBecomeResourceMaps) {
    auto list = PostgresTarget::tables(json::array({"users", "orders"}));
    EXPECT_EQ(list.route("users").at(0).resource, "users");
    EXPECT_TRUE(list.route("products").empty());

    auto map = PostgresTarget::tables(json::parse(R"({
        "users": [{"actions": ["insert", "update", "delete"], "table": "users_table"},
                  {"actions": ["insert"], "table": "users_analytics"}],
        "orders": "orders_table",
        "products": {"table": "dim_products", "actions": ["upsert"]},
        "events": {}
    })"));
    ASSERT_EQ(map.route("users").size(), 2u);
    EXPECT_EQ(map.route("users")[0].resource, "users_table");
    EXPECT_TRUE(map.route("users")[0].takes("delete"));
    EXPECT_EQ(map.route("users")[1].resource, "users_analytics");
    EXPECT_TRUE(map.route("users")[1].takes("insert"));
    EXPECT_FALSE(map.route("users")[1].takes("update"));
    EXPECT_EQ(map.route("orders").at(0).resource, "orders_table");
    EXPECT_TRUE(map.route("products").at(0).takes("insert"));
    EXPECT_TRUE(map.route("products").at(0).takes("update"));
    EXPECT_FALSE(map.route("products").at(0).takes("delete"));
    EXPECT_EQ(map.route("events").at(0).resource, "events");

    EXPECT_THROW(PostgresTarget::tables(json::parse(R"({"users": {"actions": ["truncate"]}})")), ConfigError);
    EXPECT_THROW(PostgresTarget::tables(json::parse(R"({"users": {"actions": []}})")), ConfigError);
    EXPECT_THROW(PostgresTarget::tables(json::parse(R"({"users": 3})")), ConfigError);
    EXPECT_THROW(PostgresTarget::tables(json(1)), ConfigError);
}

TEST(PostgresTarget, TableNamesAreQuotedIdentifiers) {
    EXPECT_EQ(detail::pg_table_sql("users"), "\"users\"");
    EXPECT_EQ(detail::pg_table_sql("analytics.users"), "\"analytics\".\"users\"");
    EXPECT_EQ(detail::pg_table_sql("x\"; DROP TABLE t; --"), "\"x\"\"; DROP TABLE t; --\"");
    EXPECT_THROW(detail::pg_table_sql(""), ConfigError);
    EXPECT_THROW(detail::pg_table_sql(std::string("a\0b", 3)), ConfigError);
}

TEST(PostgresTarget, ABatchSendsEachRecordsLastChangePerTable) {
    std::vector<Delivery> batch{
        {"users", "t1", "insert", "a", {{"id", "a"}, {"v", 1}}, 0},
        {"users", "t1", "update", "a", {{"id", "a"}, {"v", 2}}, 0},
        {"users", "t1", "insert", "b", {{"id", "b"}, {"v", 1}}, 0},
        {"users", "t1", "delete", "b", nullptr, 0},
        {"users", "t2", "insert", "a", {{"id", "a"}, {"v", 1}}, 0},
        {"users", "t1", "delete", "c", nullptr, 0},
        {"users", "t1", "insert", "c", {{"id", "c"}, {"v", 3}}, 0},
    };
    auto plans = detail::pg_plan(batch);
    ASSERT_EQ(plans.size(), 2u);
    EXPECT_EQ(plans[0].table, "t1");
    EXPECT_EQ(plans[0].deletes, json::array({"b"}));
    EXPECT_EQ(plans[0].upserts, json::parse(R"([{"id":"a","data":{"id":"a","v":2}},{"id":"c","data":{"id":"c","v":3}}])"));
    EXPECT_EQ(plans[1].table, "t2");
    EXPECT_EQ(plans[1].upserts.size(), 1u);
    EXPECT_TRUE(plans[1].deletes.empty());
}

TEST(PostgresTarget, ErrorsNameTheServerWithoutThePassword) {
    PostgresTarget url({.connection_string = "postgresql://app:hunter2pw@127.0.0.1:1/analytics?sslmode=disable"});
    EXPECT_EQ(url.describe(), "host=127.0.0.1 port=1 dbname=analytics user=app");
    PostgresTarget kv({.connection_string = "host=127.0.0.1 port=1 dbname=analytics user=app password='hunter2pw'"});
    EXPECT_EQ(kv.describe(), "host=127.0.0.1 port=1 dbname=analytics user=app");
    try {
        PostgresTarget bad({.connection_string = "host=x password=hunter2pw dbname"});
        FAIL() << "an unparsable connection string is refused";
    } catch (const ConfigError& e) {
        EXPECT_EQ(std::string(e.what()).find("hunter2pw"), std::string::npos) << e.what();
    }
    EXPECT_THROW(PostgresTarget({.connection_string = ""}), ConfigError);

    // Nothing listens on port 1: a retryable failure, after the policy's attempts, naming no password.
    PostgresOptions o{.connection_string = "postgresql://app:hunter2pw@127.0.0.1:1/analytics"};
    o.retry.max_attempts = 2;
    o.retry.base_delay = 1ms;
    PostgresTarget down(o, ResourceMap::only({"users"}));
    try {
        down.deliver({{"users", "users", "insert", "a", {{"id", "a"}}, 0}});
        FAIL() << "delivered to a server that is not there";
    } catch (const ReplicationError& e) {
        EXPECT_TRUE(e.retryable());
        const std::string what = e.what();
        EXPECT_EQ(what.find("hunter2pw"), std::string::npos) << what;
        EXPECT_NE(what.find("cannot connect to host=127.0.0.1 port=1"), std::string::npos) << what;
    }
    EXPECT_EQ(down.connections_opened(), 0u);
}

// ---- on the PostgreSQL server ------------------------------------------------------------------------

TEST(PostgresServer, InsertsUpdatesDeletesLandFieldByField) {
    Admin admin;
    const std::string table = unique_table("users"), signups = unique_table("signups");
    // The seed's per-table config: every action into one table, inserts only into another.
    auto tables = PostgresTarget::tables({{"users", json::array({{{"table", table}, {"actions", {"insert", "update", "delete"}}},
                                                                 {{"table", signups}, {"actions", {"insert"}}}})}});
    using R = Replicator<PostgresTarget>;
    ReplicatorOptions o = fast();
    o.workers = 3;  // three deliveries at once: three pooled connections
    o.batch_size = 20;
    BasicDatabase<Memory, R> db(test::make_store<Memory>(), {}, R(o, PostgresTarget(pg_options(), tables)));
    db.connect();
    auto& users = db.create_resource(users_config());
    std::mt19937 rng(11);
    std::map<std::string, json> first;  // each id's first inserted state: what `signups` keeps
    std::vector<std::string> ids;
    for (int i = 0; i < 600; ++i) {
        const unsigned roll = rng() % 10;  // 50 % inserts, 30 % updates, 20 % deletes
        const int op = ids.empty() || roll < 5 ? 0 : roll < 8 ? 1 : 2;
        if (op == 0) {
            auto r = users.insert(rich_user("r" + std::to_string(i), rng));
            first[r["id"]] = r;
            ids.push_back(r["id"]);
        } else {
            const std::size_t k = rng() % ids.size();
            if (op == 1) {
                users.update(ids[k], {{"visits", i}, {"profile", {{"city", "Lyon"}, {"v", i}}}, {"active", nullptr}});
            } else {
                users.remove(ids[k]);
                ids.erase(ids.begin() + static_cast<long>(k));
            }
        }
    }
    auto& rep = db.plugin<R>();
    ASSERT_TRUE(rep.wait_idle());
    EXPECT_EQ(rep.stats().failed, 0u);
    auto source = records_of(db, "users");
    ASSERT_GT(source.size(), 50u);
    auto rows = admin.rows(table);
    EXPECT_EQ(rows.size(), source.size());
    for (auto& [id, record] : source) {
        ASSERT_TRUE(rows.count(id)) << id;
        for (auto& [field, value] : record.items()) EXPECT_EQ(rows[id][field], value) << id << "." << field;
        EXPECT_EQ(rows[id], record) << id;  // and no field more
    }
    EXPECT_EQ(admin.rows(signups), first) << "the insert-only table keeps every inserted record as inserted";
    EXPECT_LE(rep.target<0>().connections_opened(), 3u);
    EXPECT_EQ(admin.query("SELECT data_type FROM information_schema.columns WHERE table_name = $1 AND column_name = 'data'",
                          {table})[0][0],
              "jsonb");
}

TEST(PostgresServer, ColumnsLayoutCreatesAColumnPerAttributeAndUpserts) {
    Admin admin;
    const std::string table = unique_table("people");
    using R = Replicator<PostgresTarget>;
    auto o = pg_options();
    o.layout = PostgresOptions::Layout::columns;
    BasicDatabase<Memory, R> db(test::make_store<Memory>(), {},
                                R(fast(), PostgresTarget(o, ResourceMap::renamed({{"people", table}}))));
    db.connect();
    auto& people = db.create_resource({.name = "people",
                                       .attributes = {{"name", "string|required"},
                                                      {"visits", "number|optional"},
                                                      {"active", "boolean|optional"},
                                                      {"tags", "array|optional"},
                                                      {"profile", "json|optional"}},
                                       .timestamps = true});
    std::map<std::string, json> model;
    for (int i = 0; i < 40; ++i) {
        const std::string id = "p" + std::to_string(i);
        model[id] = people.insert({{"id", id}, {"name", "Zoë " + std::to_string(i)}, {"visits", i}, {"active", i % 2 == 0},
                                   {"tags", json::array({"a", std::to_string(i)})}, {"profile", {{"city", "Zürich"}, {"n", i}}}});
    }
    for (int i = 0; i < 40; i += 3) model["p" + std::to_string(i)] = people.update("p" + std::to_string(i), {{"visits", 1000 + i}});
    for (int i = 1; i < 40; i += 5) {
        people.remove("p" + std::to_string(i));
        model.erase("p" + std::to_string(i));
    }
    auto& rep = db.plugin<R>();
    ASSERT_TRUE(rep.wait_idle());
    EXPECT_EQ(rep.stats().failed, 0u);
    // The table was made from the schema: a typed column per attribute, timestamps included.
    std::map<std::string, std::string> types;
    for (auto& r : admin.query("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1", {table})) types[r[0]] = r[1];
    EXPECT_EQ(types, (std::map<std::string, std::string>{{"id", "text"}, {"name", "text"}, {"visits", "numeric"}, {"active", "boolean"},
                                                          {"tags", "jsonb"}, {"profile", "jsonb"}, {"createdAt", "timestamp with time zone"},
                                                          {"updatedAt", "timestamp with time zone"}}));
    std::map<std::string, json> rows;
    for (auto& r : admin.query("SELECT id, json_build_object('id', id, 'name', name, 'visits', visits, 'active', active, 'tags', tags, "
                               "'profile', profile, 'updatedAt', (extract(epoch from \"updatedAt\") * 1000)::bigint)::text FROM " +
                               detail::pg_table_sql(table)))
        rows[r[0]] = json::parse(r[1]);
    ASSERT_EQ(rows.size(), model.size());
    for (auto& [id, record] : model) {
        ASSERT_TRUE(rows.count(id)) << id;
        for (const char* f : {"id", "name", "visits", "active", "tags", "profile"}) EXPECT_EQ(rows[id][f], record[f]) << id << "." << f;
        EXPECT_EQ(rows[id]["updatedAt"], *detail::parse_js_date(record["updatedAt"].get<std::string>())) << id;
    }
}

TEST(PostgresServer, ColumnsLayoutIntoAUsersTableWithTheSeedsTransform) {
    // The seed's operational_users: the record's fields plus sync_timestamp and source_system from
    // a transform, into a table the user made; a column the records do not name keeps its value.
    Admin admin;
    const std::string table = unique_table("operational_users");
    admin.query("CREATE TABLE " + detail::pg_table_sql(table) +
                " (id text PRIMARY KEY, name text, visits integer, sync_timestamp timestamptz, source_system text, "
                "note text DEFAULT 'kept')");
    ResourceMap map;
    map.add("users", {.resource = table, .transform = [](const json& r) {
                          json out = r;
                          out["sync_timestamp"] = "2026-01-02T03:04:05.000Z";
                          out["source_system"] = "s3db";
                          return out;
                      }});
    using R = Replicator<PostgresTarget>;
    auto o = pg_options();
    o.layout = PostgresOptions::Layout::columns;
    o.create_tables = false;
    BasicDatabase<Memory, R> db(test::make_store<Memory>(), {}, R(fast(), PostgresTarget(o, map)));
    db.connect();
    auto& users = db.create_resource({.name = "users", .attributes = {{"name", "string|required"}, {"visits", "number|optional"}}});
    users.insert({{"id", "u1"}, {"name", "Ann"}, {"visits", 1}});
    users.insert({{"id", "u2"}, {"name", "O'Brien"}});
    auto& rep = db.plugin<R>();
    ASSERT_TRUE(rep.wait_idle());
    admin.query("UPDATE " + detail::pg_table_sql(table) + " SET note = 'mine' WHERE id = 'u1'");
    users.update("u1", {{"visits", 2}});
    ASSERT_TRUE(rep.wait_idle());
    EXPECT_EQ(rep.stats().failed, 0u);
    auto rows = admin.query("SELECT id, name, coalesce(visits::text, '-'), source_system, "
                            "to_char(sync_timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), note FROM " + detail::pg_table_sql(table) +
                            " ORDER BY id");
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0], (std::vector<std::string>{"u1", "Ann", "2", "s3db", "2026-01-02 03:04:05", "mine"}));
    EXPECT_EQ(rows[1], (std::vector<std::string>{"u2", "O'Brien", "-", "s3db", "2026-01-02 03:04:05", "kept"}));

    // A field with no column fails, not retried, naming it; a column added later is found.
    admin.query("ALTER TABLE " + detail::pg_table_sql(table) + " DROP COLUMN source_system");
    users.update("u2", {{"visits", 6}});
    ASSERT_TRUE(rep.wait_idle());
    EXPECT_EQ(rep.stats().failed, 1u);
    EXPECT_EQ(rep.stats().retries, 0u) << "a missing column is not retried";
    auto failed = rep.logs();
    ASSERT_EQ(failed.size(), 1u);
    EXPECT_NE(failed[0].dump().find("source_system"), std::string::npos) << failed[0].dump();
    admin.query("ALTER TABLE " + detail::pg_table_sql(table) + " ADD COLUMN source_system text");
    rep.retry_failed();
    ASSERT_TRUE(rep.wait_idle());
    EXPECT_EQ(rep.stats().failed, 1u) << "counted once";
    EXPECT_TRUE(rep.logs().empty());
    EXPECT_EQ(admin.query("SELECT visits::text, source_system FROM " + detail::pg_table_sql(table) + " WHERE id = 'u2'")[0],
              (std::vector<std::string>{"6", "s3db"}));
}

TEST(PostgresServer, ReplayingBatchesAgainChangesNothing) {
    Admin admin;
    const std::string table = unique_table("replay");
    PostgresTarget target(pg_options(), ResourceMap::renamed({{"items", table}}));
    target.prepare(table, ResourceConfig{});
    std::vector<std::vector<Delivery>> batches;
    std::map<std::string, json> model;
    const int n = 5000, per = 100;
    for (int b = 0; b < n / per; ++b) {
        batches.emplace_back();
        for (int i = 0; i < per; ++i) {
            const std::string id = "i" + std::to_string((b * per + i) % 3000);  // some ids twice: updates
            json data = {{"id", id}, {"n", b * per + i}, {"text", "x" + std::to_string(i)}};
            const bool del = (b * per + i) % 7 == 0;
            batches.back().push_back({"items", table, del ? "delete" : "update", id, del ? json() : data, 0});
            if (del) model.erase(id);
            else model[id] = data;
        }
    }
    const auto t0 = std::chrono::steady_clock::now();
    for (auto& b : batches) target.deliver(b);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(admin.rows(table), model);
    // At-least-once: every batch again, and a stale prefix again — the replay of a crash's log
    // replays the source's current state, but a batch redelivered as it was must do no harm either.
    for (auto& b : batches) target.deliver(b);
    EXPECT_EQ(admin.rows(table), model);
    target.deliver(batches.back());
    target.deliver(batches.back());
    EXPECT_EQ(admin.rows(table), model);
    EXPECT_EQ(admin.query("SELECT count(*) FROM " + detail::pg_table_sql(table))[0][0], std::to_string(model.size()));
    std::printf("[ pg     ] %d changes in batches of %d: %.0f changes/s (one transaction per batch)\n", n, per, n / secs);
}

TEST(PostgresServer, ABrokenConnectionIsReopened) {
    Admin admin;
    const std::string table = unique_table("broken"), app = "s3db-broken-" + std::to_string(::getpid());
    using R = Replicator<PostgresTarget>;
    BasicDatabase<Memory, R> db(test::make_store<Memory>(), {},
                                R(fast(), PostgresTarget(pg_options(app), ResourceMap::renamed({{"users", table}}))));
    db.connect();
    auto& users = db.create_resource(users_config());
    auto& rep = db.plugin<R>();
    std::mt19937 rng(3);
    for (int i = 0; i < 20; ++i) users.insert(rich_user("a" + std::to_string(i), rng));
    ASSERT_TRUE(rep.wait_idle());
    EXPECT_EQ(rep.target<0>().connections_opened(), 1u);

    for (int round = 0; round < 3; ++round) {
        // The server ends the target's backend (as a restart or a network cut would): the pooled
        // connection is dead and libpq learns it only on its next statement.
        auto killed = admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", {app});
        ASSERT_EQ(killed.size(), 1u);
        for (int i = 0; i < 10; ++i) {
            users.insert(rich_user("b" + std::to_string(round) + "-" + std::to_string(i), rng));
            users.update("a" + std::to_string(i), {{"visits", round * 100 + i}});
        }
        users.remove("a" + std::to_string(19 - round));
        ASSERT_TRUE(rep.wait_idle());
    }
    EXPECT_EQ(rep.stats().failed, 0u);
    EXPECT_EQ(rep.stats().retries, 0u) << "reopened within the delivery: the Replicator saw no failure";
    EXPECT_EQ(rep.target<0>().connections_opened(), 4u) << "one connection, reopened after each termination";
    EXPECT_EQ(admin.rows(table), records_of(db, "users"));
    EXPECT_TRUE(rep.logs().empty());
}

TEST(PostgresServer, SqlErrorsAreFailuresNotRetried) {
    Admin admin;
    const std::string missing = unique_table("missing");
    PostgresOptions o = pg_options();
    o.create_tables = false;
    using R = Replicator<PostgresTarget>;
    BasicDatabase<Memory, R> db(test::make_store<Memory>(), {}, R(fast(), PostgresTarget(o, ResourceMap::renamed({{"users", missing}}))));
    std::vector<json> errors;
    std::mutex m;
    db.on_plugin_event("replicator.replication_error", [&](std::string_view, const json& e) {
        std::lock_guard lock(m);
        errors.push_back(e);
    });
    db.connect();
    auto& rep = db.plugin<R>();
    // The replay at start takes log entries stamped up to its start's millisecond: let it finish
    // first, or an insert in that millisecond is delivered (and fails) twice.
    ASSERT_TRUE(rep.wait_idle());
    auto& users = db.create_resource(users_config());
    std::mt19937 rng(4);
    users.insert(rich_user("x", rng));
    ASSERT_TRUE(rep.wait_idle());
    EXPECT_FALSE(admin.exists(missing)) << "create_tables = false creates nothing";
    EXPECT_EQ(rep.stats().failed, 1u);
    EXPECT_EQ(rep.stats().retries, 0u) << "a missing table is not retried";
    {
        std::lock_guard lock(m);
        ASSERT_EQ(errors.size(), 1u);
        EXPECT_NE(errors[0]["error"].get<std::string>().find("does not exist"), std::string::npos) << errors[0];
    }
    auto logs = rep.logs();
    ASSERT_EQ(logs.size(), 1u);
    EXPECT_EQ(logs[0]["status"], "failed");

    // The table made by hand: retry_failed() delivers it, from the source's state.
    admin.query("CREATE TABLE " + detail::pg_table_sql(missing) + " (id text PRIMARY KEY, data jsonb NOT NULL)");
    EXPECT_EQ(rep.retry_failed(), 1u);
    ASSERT_TRUE(rep.wait_idle());
    EXPECT_EQ(admin.rows(missing), records_of(db, "users"));
    EXPECT_TRUE(rep.logs().empty());
}

// ---- crash: SIGKILL in the middle of 1,000 writes replicating to s3db and PostgreSQL -----------------

ResourceConfig crash_config() {
    return {.name = "users",
            .attributes = {{"name", "string|required"}, {"region", "string|optional"}, {"visits", "number|optional"}},
            .behavior = "body-overflow",
            .partitions = {{"byRegion", {{"fields", {{"region", "string"}}}}}}};
}

/// The writes of the crash test, by a fixed seed: call `step(i)` for i = 0, 1, …; `apply` receives
/// each operation, so the child performs them and the parent replays them into a model.
class CrashScript {
public:
    struct Op {
        enum Kind { insert, update, remove } kind;
        std::string id;
        json body;
    };
    Op next(int i) {
        const unsigned roll = rng_() % 10;  // 50 % inserts, 30 % updates, 20 % deletes
        const int op = alive_.empty() || roll < 5 ? 0 : roll < 8 ? 1 : 2;
        const char* regions[] = {"eu", "us", "br"};
        if (op == 0) {
            std::string id = "k" + std::to_string(i);
            alive_.push_back(id);
            return {Op::insert, id, {{"id", id}, {"name", "n" + std::to_string(i)}, {"region", regions[rng_() % 3]}}};
        }
        const std::size_t k = rng_() % alive_.size();
        std::string id = alive_[k];
        if (op == 1) return {Op::update, id, {{"visits", i}, {"region", regions[rng_() % 3]}}};
        alive_.erase(alive_.begin() + static_cast<long>(k));
        return {Op::remove, id, nullptr};
    }
    static void apply(std::map<std::string, json>& model, const Op& op) {
        if (op.kind == Op::insert) model[op.id] = op.body;
        else if (op.kind == Op::update) model[op.id].update(op.body);
        else model.erase(op.id);
    }

private:
    std::mt19937 rng_{2026};
    std::vector<std::string> alive_;
};

TEST(PostgresServer, AProcessKilledMidwayLosesNothingInEitherTarget) {
    Admin admin;
    const std::string table = unique_table("crash");
    const auto root = test::scratch_dir();
    const std::string src_prefix = test::next_prefix(), tgt_prefix = test::next_prefix();
    auto source_store = [&] { return Filesystem(FilesystemOptions{.root = root, .prefix = src_prefix}); };
    auto target_store = [&] { return Filesystem(FilesystemOptions{.root = root, .prefix = tgt_prefix}); };
    auto pg = [&] { return PostgresTarget(pg_options(), ResourceMap::renamed({{"users", table}})); };
    using R = Replicator<S3dbTarget, PostgresTarget>;
    {
        BasicDatabase<Filesystem> setup{source_store()};
        setup.connect();
        setup.create_resource(crash_config());
    }
    constexpr int total = 1000, kill_after = 400;
    const auto acked_or = test::kill_midway(kill_after, [&](const std::function<bool()>& ack) {
        BasicDatabase<Filesystem> target{target_store()};
        target.connect();
        ReplicatorOptions o = fast();
        o.batch_size = 5;
        o.workers = 2;
        BasicDatabase<Filesystem, R> db(source_store(), {}, R(o, S3dbTarget(target), pg()));
        db.connect();
        auto& users = db.resource("users");
        CrashScript script;
        for (int i = 0; i < total; ++i) {
            auto op = script.next(i);
            if (op.kind == CrashScript::Op::insert) users.insert(op.body);
            else if (op.kind == CrashScript::Op::update) users.update(op.id, op.body);
            else users.remove(op.id);
            if (!ack()) break;  // acknowledged: the write returned
        }
    });
    ASSERT_TRUE(acked_or);
    const int acked = *acked_or;
    ASSERT_LT(acked, total);

    // The model: the acknowledged writes; the write in flight at the kill may or may not be in.
    std::map<std::string, json> model, model_next;
    {
        CrashScript script;
        for (int i = 0; i < acked; ++i) CrashScript::apply(model, script.next(i));
        model_next = model;
        CrashScript::apply(model_next, script.next(acked));
    }

    std::size_t pending = 0;
    bool s3db_behind = false, pg_behind = false;
    {
        BasicDatabase<Filesystem> src{source_store()}, tgt{target_store()};
        src.connect();
        tgt.connect();
        pending = src.resource("plg_replicator_logs").count();
        auto before = records_of(src, "users");
        s3db_behind = records_of(tgt, "users") != before;
        pg_behind = admin.rows(table) != before;
    }
    BasicDatabase<Filesystem> target{target_store()};
    target.connect();
    const auto t0 = std::chrono::steady_clock::now();
    BasicDatabase<Filesystem, R> db(source_store(), {}, R(fast(), S3dbTarget(target), pg()));
    db.connect();  // replays the log's pending entries against the source's state
    auto& rep = db.plugin<R>();
    ASSERT_TRUE(rep.wait_idle());
    const double replay_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();

    auto source = records_of(db, "users");
    const bool in_flight_applied = source == model_next && source != model;
    EXPECT_TRUE(source == model || source == model_next) << "the source holds exactly the acknowledged writes (+ the one in flight)";
    EXPECT_EQ(records_of(target, "users"), source) << "s3db target";
    EXPECT_EQ(admin.rows(table), source) << "PostgreSQL target";
    EXPECT_TRUE(rep.logs().empty());
    EXPECT_EQ(rep.stats().failed, 0u);
    std::printf("[ crash  ] killed after %d acknowledged writes (in-flight write %s); %zu log entries pending; "
                "before the restart the s3db target was %s and PostgreSQL %s the source; %llu records replayed in %.0f ms; "
                "%zu records equal in both\n",
                acked, in_flight_applied ? "applied" : "not applied", pending, s3db_behind ? "behind" : "equal to",
                pg_behind ? "behind" : "equal to",
                static_cast<unsigned long long>(rep.stats().replayed), replay_ms, source.size());
}

}  // namespace
