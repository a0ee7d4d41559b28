#pragma once
// PostgresTarget: replicate into PostgreSQL tables, over libpq. Opt-in: this is the only header of
// the library that includes <libpq-fe.h>; nothing else includes it. Link the CMake target
// s3db::postgres (defined when libpq is found; `find_package(s3db COMPONENTS postgres)` when
// installed) or pkg-config's `s3db-postgres`, and include this header next to the Replicator:
//
//   #include <s3db/plugins/replicator.hpp>
//   #include <s3db/plugins/replicator/postgres.hpp>
//   using R = Replicator<PostgresTarget>;
//   BasicDatabase<S3, R> db(s3, {}, R(PostgresTarget({.connection_string = "postgresql://app:pw@db:5432/analytics"},
//                                                     PostgresTarget::tables({{"users", {{"table", "users_tbl"}}}}))));
//
// Tables: the ResourceMap routes each source resource to one or more tables (the destination name
// is the table; "schema.table" is split at its first dot), with the seed's per-table actions and
// transforms. PostgresTarget::tables() reads the seed's JSON shape: ["users"], {"users": "users_tbl"},
// {"users": {"table": "users_tbl", "actions": ["insert", "update", "delete"]}}, or a list of such
// objects per resource (several tables); "upsert" in `actions` means insert and update.
//
// Layouts (PostgresOptions::layout):
//  - jsonb (the default): a table holds `id text PRIMARY KEY, data jsonb NOT NULL`: the record as
//    the source's write had it (after the destination's transform). With `create_tables` (the
//    default) a missing table is created before its first delivery; otherwise it must exist with
//    those two columns.
//  - columns: a column per field, as the seed's postgres examples have it (`operational_users` with
//    the record's fields plus `sync_timestamp`, `source_system` from a transform). The table has an
//    `id` column with a unique constraint or primary key; each top-level field of the (transformed)
//    record goes to the column of the same name (case-sensitive), converted by PostgreSQL from JSON
//    (jsonb_populate_recordset: text, numeric, boolean, timestamptz from ISO strings, jsonb for
//    objects and arrays, arrays for array columns). An upsert writes exactly the columns its record
//    has: others keep their value (update) or default (insert). A field the table has no column
//    for fails the batch, not retried, naming table and field (the columns are read again first, in
//    case one was added). With `create_tables`, a missing table is created from the resource's
//    schema: `id text PRIMARY KEY`, then per attribute string-like types (and date) → text, number →
//    numeric, boolean → boolean, datetime → timestamptz, anything else → jsonb; `createdAt` and
//    `updatedAt` (timestamps) are datetimes. A transform that adds fields needs its table created
//    by the user. Columns are read once per table (pg_attribute: 1 query) and cached.
//
// Writes: a delivered batch is one transaction. Inserts and updates are upserts
// (INSERT … ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data), deletes are DELETE … WHERE id:
// applying a batch twice leaves the tables as applying it once, so replays after a crash are
// harmless. Within a batch only a record's last change per table is sent (its earlier ones would be
// overwritten in the same transaction): per table one DELETE and one INSERT, each taking the whole
// list as one jsonb parameter (PQexecParams; no value is ever spliced into SQL text, and table
// names are quoted identifiers).
//
// Connections: a small pool (one connection per worker delivering at once). A broken connection
// (server restarted, backend terminated, network gone) and transient server states (serialization
// failure, deadlock, too many connections, shutdown) are retried with the project's RetryPolicy
// (full-jitter backoff, a shared budget) on a fresh connection; what is still failing then reaches
// the Replicator as a retryable ReplicationError (it backs off and retries, then marks the entry
// failed). Other SQL errors (a missing table, a wrong column type, text PostgreSQL refuses such as
// \u0000 in jsonb) are non-retryable ReplicationErrors. Error messages name the server as host,
// port, database and user, never the password.

#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "s3db/core/catalogue.hpp"
#include "s3db/errors.hpp"
#include "s3db/plugins/replicator/common.hpp"
#include "s3db/transport/s3/retry.hpp"

namespace s3db {

struct PostgresOptions {
    /// A libpq connection string ("host=db port=5432 dbname=analytics user=app password=…") or URL
    /// ("postgresql://app:pw@db:5432/analytics"). Never printed: errors name host, port, database, user.
    std::string connection_string;
    bool create_tables = true;  // CREATE TABLE IF NOT EXISTS before a table's first delivery
    /// jsonb: `id, data jsonb`; columns: a column per field (see the header comment).
    enum class Layout { jsonb, columns } layout = Layout::jsonb;
    /// How a broken connection or a transient server error is retried within one delivery.
    RetryPolicy retry{.max_attempts = 4, .base_delay = std::chrono::milliseconds(100),
                      .throttle_base_delay = std::chrono::milliseconds(500), .max_delay = std::chrono::seconds(5)};
    std::chrono::seconds connect_timeout{10};
    std::chrono::milliseconds statement_timeout{30'000};  // 0: the server's setting
    /// How long sent data may stay unacknowledged before the connection counts as broken (a silent
    /// network cut would otherwise hold a worker for the kernel's ~15 minutes). 0: the system's.
    std::chrono::milliseconds tcp_user_timeout{60'000};
    std::string application_name = "s3db-replicator";    // pg_stat_activity shows it
};

namespace detail {

// Everything here is `inline` rather than S3DB_DECL: the compiled-once unit
// (s3db/implementation.hpp) never includes this header, so it must not need libpq.

struct PgConnClose {
    void operator()(PGconn* c) const noexcept { PQfinish(c); }
};
struct PgResultClear {
    void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using PgConn = std::unique_ptr<PGconn, PgConnClose>;
using PgResult = std::unique_ptr<PGresult, PgResultClear>;

/// `name` as a quoted SQL identifier: "a""b" for a"b.
inline std::string pg_quote_identifier(std::string_view name) {
    if (name.empty() || name.find('\0') != std::string_view::npos)
        throw ConfigError("PostgresTarget: table name '" + std::string(name) + "' is empty or holds a NUL");
    std::string out = "\"";
    for (char c : name) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + '"';
}

/// A table name as SQL: "schema.table" → "schema"."table" (split at the first dot), else "table".
inline std::string pg_table_sql(std::string_view table) {
    if (auto dot = table.find('.'); dot != std::string_view::npos)
        return pg_quote_identifier(table.substr(0, dot)) + "." + pg_quote_identifier(table.substr(dot + 1));
    return pg_quote_identifier(table);
}

/// What errors may say about the server: "host=… port=… dbname=… user=…", never the password.
/// Throws ConfigError (without libpq's message, which may quote the string) when libpq cannot parse it.
inline std::pair<std::string, std::string> pg_describe(const std::string& conninfo) {
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
    if (!opts) {
        if (err) PQfreemem(err);
        throw ConfigError("PostgresTarget: the connection string is neither a libpq connection string nor a "
                          "postgresql:// URL");
    }
    std::map<std::string, std::string, std::less<>> found;
    for (auto* o = opts; o->keyword; ++o)
        if (o->val && *o->val) found[o->keyword] = o->val;
    std::string description, password = found.count("password") ? found["password"] : std::string{};
    for (const char* k : {"host", "hostaddr", "port", "dbname", "user"})
        if (auto it = found.find(k); it != found.end()) description += (description.empty() ? "" : " ") + it->first + "=" + it->second;
    PQconninfoFree(opts);
    if (description.empty()) description = "(libpq defaults)";
    return {description, password};
}

/// `text` with every occurrence of `secret` replaced by ***.
inline std::string pg_scrub(std::string text, const std::string& secret) {
    if (secret.empty()) return text;
    for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at + 3)) text.replace(at, secret.size(), "***");
    return text;
}

/// SQLSTATEs worth another attempt: connection exceptions (08), transaction rollbacks such as
/// serialization failure and deadlock (40), insufficient resources such as too many connections
/// (53), operator intervention such as shutdown or a cancelled statement (57), lock not available.
inline bool pg_transient_state(std::string_view sqlstate) {
    return sqlstate.starts_with("08") || sqlstate.starts_with("40") || sqlstate.starts_with("53") ||
           sqlstate.starts_with("57") || sqlstate == "55P03";
}

/// A broken connection or a transient server state: worth another attempt on a new connection.
class PgTransientError : public Error {
public:
    using Error::Error;
};

/// A statement PostgreSQL refused for good (a missing table, a bad value): not retried.
class PgStatementError : public Error {
public:
    PgStatementError(const std::string& what, std::string sqlstate) : Error(what), sqlstate_(std::move(sqlstate)) {}
    const std::string& sqlstate() const noexcept { return sqlstate_; }

private:
    std::string sqlstate_;
};

/// One change per (table, id): the record's last change in the batch decides the row.
struct PgTablePlan {
    std::string table;
    json upserts = json::array();  // [{"id": …, "data": …}]
    json deletes = json::array();  // [id, …]
};

inline std::vector<PgTablePlan> pg_plan(const std::vector<Delivery>& batch) {
    std::map<std::pair<std::string, std::string>, const Delivery*> last;
    std::vector<std::string> order;  // tables in first-seen order: a deterministic statement order
    for (auto& d : batch) {
        if (std::find(order.begin(), order.end(), d.resource) == order.end()) order.push_back(d.resource);
        last[{d.resource, d.id}] = &d;
    }
    std::vector<PgTablePlan> plans;
    for (auto& table : order) {
        PgTablePlan p{.table = table};
        for (auto it = last.lower_bound({table, std::string{}}); it != last.end() && it->first.first == table; ++it) {
            const Delivery& d = *it->second;
            if (d.action == "delete") p.deletes.push_back(d.id);
            else p.upserts.push_back(json{{"id", d.id}, {"data", d.data}});
        }
        plans.push_back(std::move(p));
    }
    return plans;
}

/// The column type the `columns` layout creates for an s3db attribute definition.
inline std::string pg_column_type(const json& definition) {
    if (!definition.is_string()) return "jsonb";  // a nested object
    const std::string d = definition.get<std::string>();
    const std::string type = d.substr(0, d.find('|'));
    if (type == "string" || type == "secret" || type == "email" || type == "url" || type == "uuid" || type == "ip4" || type == "ip6" ||
        type == "enum" || type == "password")
        return "text";
    if (type == "datetime") return "timestamptz";  // ISO 8601 strings (the timestamps behavior's)
    if (type == "date") return "text";            // a date as the source wrote it, in whatever format
    if (type == "number") return "numeric";
    if (type == "boolean") return "boolean";
    return "jsonb";
}

}  // namespace detail

class PostgresTarget {
public:
    explicit PostgresTarget(PostgresOptions options, ResourceMap tables = ResourceMap::all(), std::string name = "postgres")
        : resources_(std::move(tables)), name_(std::move(name)), state_(std::make_shared<State>(std::move(options))) {
        if (state_->options.connection_string.empty()) throw ConfigError("PostgresTarget '" + name_ + "': connection_string is empty");
        std::tie(state_->description, state_->password) = detail::pg_describe(state_->options.connection_string);
    }

    /// The seed's `resources` for the postgres driver, as a ResourceMap (see the header comment).
    static ResourceMap tables(const json& seed) {
        ResourceMap map;
        auto one = [&](const std::string& resource, const json& spec) {
            Destination d;
            if (spec.is_string()) {
                d.resource = spec.get<std::string>();
            } else if (spec.is_object()) {
                d.resource = spec.value("table", std::string{});
                if (auto a = spec.find("actions"); a != spec.end()) {
                    if (!a->is_array() || a->empty()) throw ConfigError("PostgresTarget: '" + resource + "': actions must be a non-empty list");
                    d.actions.clear();
                    for (auto& x : *a) {
                        const std::string action = x.is_string() ? x.get<std::string>() : std::string{};
                        if (action == "upsert") d.actions.insert(d.actions.end(), {"insert", "update"});
                        else if (action == "insert" || action == "update" || action == "delete") d.actions.push_back(action);
                        else throw ConfigError("PostgresTarget: '" + resource + "': unknown action " + x.dump());
                    }
                }
            } else {
                throw ConfigError("PostgresTarget: '" + resource + "': a table is a name or {table, actions}");
            }
            map.add(resource, std::move(d));
        };
        if (seed.is_array()) {
            for (auto& r : seed) {
                if (!r.is_string()) throw ConfigError("PostgresTarget: a resource list holds names");
                one(r.get<std::string>(), json::object());
            }
        } else if (seed.is_object()) {
            for (auto& [resource, spec] : seed.items()) {
                if (spec.is_array())
                    for (auto& s : spec) one(resource, s);
                else one(resource, spec);
            }
        } else {
            throw ConfigError("PostgresTarget: resources are a list of names or an object by resource");
        }
        return map;
    }

    std::string target_name() const { return name_; }
    const ResourceMap& resources() const noexcept { return resources_; }
    /// The server as errors name it: host, port, database and user (no password).
    const std::string& describe() const noexcept { return state_->description; }
    /// Connections opened so far (a reconnect after a broken one counts).
    std::uint64_t connections_opened() const noexcept { return state_->opened.load(std::memory_order_relaxed); }

    /// Creates `table` when `create_tables` is on and it does not exist.
    void prepare(const std::string& table, const ResourceConfig& config) {
        if (!state_->options.create_tables) return;
        {
            std::lock_guard lock(state_->mutex);
            if (state_->created.contains(table)) return;
        }
        std::string sql;
        try {
            if (state_->options.layout == PostgresOptions::Layout::jsonb) {
                sql = "CREATE TABLE IF NOT EXISTS " + detail::pg_table_sql(table) + " (id text PRIMARY KEY, data jsonb NOT NULL)";
            } else {
                sql = "CREATE TABLE IF NOT EXISTS " + detail::pg_table_sql(table) + " (id text PRIMARY KEY";
                std::set<std::string> seen{"id"};
                auto column = [&](const std::string& name, const std::string& type) {
                    if (seen.insert(name).second) sql += ", " + detail::pg_quote_identifier(name) + " " + type;
                };
                if (config.attributes.is_object())
                    for (auto& [name, definition] : config.attributes.items()) column(name, detail::pg_column_type(definition));
                if (config.timestamps) {
                    column("createdAt", "timestamptz");
                    column("updatedAt", "timestamptz");
                }
                sql += ")";
            }
        } catch (const ConfigError& e) {  // a name no retry will make valid
            throw ReplicationError(name_, table, {}, e.what(), false);
        }
        run(table, {}, [&](PGconn* c) {
            try {
                exec(c, sql, {});
            } catch (const detail::PgStatementError& e) {
                // Two creators at once: the loser sees the winner's row type (42710, or 23505 on
                // pg_type's index) or its table (42P07), once the winner committed: the table is there.
                if (e.sqlstate() != "23505" && e.sqlstate() != "42P07" && e.sqlstate() != "42710") throw;
            }
        });
        std::lock_guard lock(state_->mutex);
        state_->created.insert(table);
    }

    void deliver(const std::vector<Delivery>& batch) {
        if (batch.empty()) return;
        std::vector<detail::PgTablePlan> plans;
        std::vector<std::pair<std::string, std::string>> statements;  // (sql, jsonb parameter)
        try {
            plans = detail::pg_plan(batch);
        } catch (const std::exception& e) {
            throw ReplicationError(name_, batch[0].resource, batch[0].id, e.what(), false);
        }
        for (auto& p : plans) {
            std::string t;
            try {
                t = detail::pg_table_sql(p.table);
                if (!p.deletes.empty())
                    statements.emplace_back("DELETE FROM " + t + " WHERE id IN (SELECT jsonb_array_elements_text($1::jsonb))",
                                            p.deletes.dump());
                if (p.upserts.empty()) continue;
                if (state_->options.layout == PostgresOptions::Layout::jsonb) {
                    statements.emplace_back("INSERT INTO " + t + " (id, data) SELECT e->>'id', e->'data' FROM "
                                            "jsonb_array_elements($1::jsonb) AS e ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data",
                                            p.upserts.dump());
                    continue;
                }
            } catch (const std::exception& e) {  // a table name we cannot quote, text JSON cannot hold
                throw ReplicationError(name_, p.table, {}, e.what(), false);
            }
            column_upserts(p, t, statements);
        }
        run(batch.size() == 1 ? batch[0].resource : std::string{}, batch.size() == 1 ? batch[0].id : std::string{},
            [&](PGconn* c) {
                exec(c, "BEGIN", {});
                for (auto& [sql, param] : statements) exec(c, sql, {&param});
                exec(c, "COMMIT", {});
            });
    }

private:
    struct State {
        explicit State(PostgresOptions o) : options(std::move(o)), retrier(options.retry) {}
        PostgresOptions options;
        std::string description, password;
        detail::Retrier retrier;
        std::mutex mutex;  // idle, created, columns
        std::vector<detail::PgConn> idle;
        std::set<std::string, std::less<>> created;
        std::map<std::string, std::set<std::string>, std::less<>> columns;  // columns layout: table → its columns
        std::atomic<std::uint64_t> opened{0};
    };

    /// The columns of `table` (cached; `fresh` reads them again): 1 query.
    std::set<std::string> table_columns(const std::string& table, bool fresh) {
        if (!fresh) {
            std::lock_guard lock(state_->mutex);
            if (auto it = state_->columns.find(table); it != state_->columns.end()) return it->second;
        }
        std::set<std::string> out;
        const std::string name = detail::pg_table_sql(table);
        run(table, {}, [&](PGconn* c) {
            out.clear();
            const char* values[] = {name.c_str()};
            detail::PgResult r(PQexecParams(c,
                                            "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped",
                                            1, nullptr, values, nullptr, nullptr, 0));
            if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK) {
                const char* state = r ? PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) : nullptr;
                const std::string message = state_->description + ": " + trimmed(r ? PQresultErrorMessage(r.get()) : PQerrorMessage(c));
                if (PQstatus(c) != CONNECTION_OK || detail::pg_transient_state(state ? state : "")) throw transient(message);
                throw detail::PgStatementError(detail::pg_scrub(message, state_->password), state ? state : "");
            }
            for (int i = 0; i < PQntuples(r.get()); ++i) out.insert(PQgetvalue(r.get(), i, 0));
        });
        std::lock_guard lock(state_->mutex);
        state_->columns[table] = out;
        return out;
    }

    /// The columns layout: per set of fields, one INSERT … SELECT FROM jsonb_populate_recordset
    /// … ON CONFLICT (id) DO UPDATE of those columns.
    void column_upserts(const detail::PgTablePlan& p, const std::string& t, std::vector<std::pair<std::string, std::string>>& statements) {
        std::map<std::vector<std::string>, json> groups;  // the record's fields → its rows
        for (auto& u : p.upserts) {
            json row = u["data"].is_object() ? u["data"] : json::object();
            row["id"] = u["id"];
            std::vector<std::string> fields;
            for (auto& [k, v] : row.items()) fields.push_back(k);
            groups[fields].push_back(std::move(row));
        }
        auto columns = table_columns(p.table, false);
        for (auto& [fields, rows] : groups) {
            for (auto& f : fields)
                if (!columns.count(f)) {
                    columns = table_columns(p.table, true);  // a column added since: read them again
                    if (!columns.count(f)) {
                        const std::string id = rows[0].value("id", std::string{});
                        throw ReplicationError(name_, p.table, id,
                                               "table " + t + " has no column \"" + f + "\" for field '" + f + "' (layout columns)", false);
                    }
                }
            std::string list, set;
            for (auto& f : fields) {
                const std::string q = detail::pg_quote_identifier(f);
                list += (list.empty() ? "" : ", ") + q;
                if (f != "id") set += (set.empty() ? "" : ", ") + q + " = EXCLUDED." + q;
            }
            std::string sql = "INSERT INTO " + t + " (" + list + ") SELECT " + list + " FROM jsonb_populate_recordset(NULL::" + t +
                              ", $1::jsonb) ON CONFLICT (id) DO " + (set.empty() ? std::string("NOTHING") : "UPDATE SET " + set);
            try {
                statements.emplace_back(std::move(sql), rows.dump());
            } catch (const std::exception& e) {
                throw ReplicationError(name_, p.table, {}, e.what(), false);
            }
        }
    }

    detail::PgTransientError transient(const std::string& what) const {
        return detail::PgTransientError(detail::pg_scrub(what, state_->password));
    }

    detail::PgConn connect() {
        const std::string timeout = std::to_string(std::max<long long>(1, state_->options.connect_timeout.count()));
        const std::string tcp_timeout = std::to_string(std::max<long long>(0, state_->options.tcp_user_timeout.count()));
        std::string server_options;
        if (state_->options.statement_timeout.count() > 0)
            server_options = "-c statement_timeout=" + std::to_string(state_->options.statement_timeout.count());
        // Ours first: values in the connection string (expanded from "dbname", last) win.
        std::vector<const char*> keys{"connect_timeout", "application_name", "tcp_user_timeout"};
        std::vector<const char*> values{timeout.c_str(), state_->options.application_name.c_str(), tcp_timeout.c_str()};
        if (!server_options.empty()) {
            keys.push_back("options");
            values.push_back(server_options.c_str());
        }
        keys.push_back("dbname");
        values.push_back(state_->options.connection_string.c_str());
        keys.push_back(nullptr);
        values.push_back(nullptr);
        detail::PgConn c(PQconnectdbParams(keys.data(), values.data(), 1));
        if (!c) throw transient("out of memory opening a connection");
        if (PQstatus(c.get()) != CONNECTION_OK)
            throw transient("cannot connect to " + state_->description + ": " + trimmed(PQerrorMessage(c.get())));
        PQsetNoticeProcessor(c.get(), [](void*, const char*) {}, nullptr);  // "already exists, skipping" and the like
        state_->opened.fetch_add(1, std::memory_order_relaxed);
        return c;
    }

    detail::PgConn acquire() {
        {
            std::lock_guard lock(state_->mutex);
            while (!state_->idle.empty()) {
                detail::PgConn c = std::move(state_->idle.back());
                state_->idle.pop_back();
                if (PQstatus(c.get()) == CONNECTION_OK) return c;
            }
        }
        return connect();
    }

    void release(detail::PgConn c) {
        if (PQstatus(c.get()) != CONNECTION_OK || PQtransactionStatus(c.get()) != PQTRANS_IDLE) return;  // dropped
        std::lock_guard lock(state_->mutex);
        state_->idle.push_back(std::move(c));
    }

    static std::string trimmed(const char* s) {
        std::string out = s ? s : "";
        while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
        return out;
    }

    /// Runs one statement with text parameters. Throws PgTransientError when the
    /// connection broke or the server state is transient, PgStatementError for any other refusal.
    void exec(PGconn* c, const std::string& sql, std::initializer_list<const std::string*> params) {
        std::vector<const char*> values;
        for (auto* p : params) values.push_back(p->c_str());
        detail::PgResult r(PQexecParams(c, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                                        nullptr, 0));
        const auto status = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
        if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return;
        const char* state = r ? PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) : nullptr;
        const std::string sqlstate = state ? state : "";
        std::string message = trimmed(r ? PQresultErrorMessage(r.get()) : PQerrorMessage(c));
        if (message.empty()) message = trimmed(PQerrorMessage(c));
        if (PQstatus(c) != CONNECTION_OK || detail::pg_transient_state(sqlstate))
            throw transient(state_->description + ": " + message);
        throw detail::PgStatementError(detail::pg_scrub(state_->description + ": " + message, state_->password), sqlstate);
    }

    /// `work` on a pooled connection, under the retry policy; failures become ReplicationErrors.
    template <class Work>
    void run(const std::string& resource, const std::string& id, Work&& work) {
        std::string last;  // the last transient failure, as the Retrier gives up on it
        try {
            state_->retrier.run(detail::RetryMode::idempotent, [&](int) {
                try {
                    detail::PgConn c = acquire();
                    try {
                        work(c.get());
                    } catch (const detail::PgStatementError&) {
                        // The transaction is aborted: roll it back so the connection can be used again.
                        if (PQstatus(c.get()) == CONNECTION_OK) detail::PgResult(PQexec(c.get(), "ROLLBACK"));
                        release(std::move(c));
                        throw;
                    }  // PgTransientError: the connection is dropped with `c`; the next attempt opens another
                    release(std::move(c));
                } catch (const detail::PgTransientError& e) {
                    last = e.what();
                    // The Retrier's currency: a retryable failure without an answer.
                    throw TransportError("postgres", {.status = 0, .code = {}, .request_id = {}, .key = {},
                                                      .retryable = true, .retry_after = {}});
                }
            });
        } catch (const TransportError&) {
            throw ReplicationError(name_, resource, id, last, true);
        } catch (const detail::PgStatementError& e) {
            throw ReplicationError(name_, resource, id, e.what(), false);
        }
    }

    ResourceMap resources_;
    std::string name_;
    std::shared_ptr<State> state_;  // shared: targets are moved into the plugin
};

}  // namespace s3db
