#pragma once
// The s3db CLI's commands, each a function of the parsed line and the open database. They print
// to stdout (records, tables, summaries) and stderr (progress, warnings); failures are exceptions,
// turned into one line and an exit code by main.cpp.
//
// Requests per command (from s3db.json's 1 GET on connect on; `--costs` prints the real count):
//   resources, schema     1 GET (the catalogue)
//   get                   +1 GET              insert   +1 PUT (+1 per partition)
//   update                +1 GET +1 PUT (+ partition moves)
//   delete                +1 DELETE per id, or 1 DeleteObjects per 1000 ids (+1 GET each with partitions)
//   list/query/export     +1 LIST per 1000 records +1 GET per record (list --limit N: 1 LIST, N GETs)
//   count                 +1 LIST per 1000 records (export on a terminal counts first, for the ETA)
//   import                +1 PUT per record (+1 per partition); --upsert +1 GET +1 PUT for ids that exist
//   backup/restore        as the Backup plugin says (plugins/backup.hpp); queue stats: the S3Queue's LISTs

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <s3db/s3db.hpp>
#include <s3db/plugins/s3_queue.hpp>

#include "args.hpp"
#include "output.hpp"

namespace s3db::cli {

/// The database the CLI opens: any store a connection string names, every request counted (the
/// catalogue's GET on connect included) and priced by the Costs plugin.
using Db = BasicDatabase<Counting<Any>, Costs>;

/// Input that is not what the command needs (bad JSON, not an object): exit code 3.
class InputError : public std::runtime_error {
    using std::runtime_error::runtime_error;
};
/// The store cannot be reached or the connection string is malformed: exit code 5.
class ConnectionError : public std::runtime_error {
    using std::runtime_error::runtime_error;
};
/// A bulk command where some items failed (their errors are on stderr): exit code 7, or 6 when
/// some outcomes are unknown.
class PartialFailure : public std::runtime_error {
public:
    PartialFailure(const std::string& what, bool unknown) : std::runtime_error(what), unknown_(unknown) {}
    bool unknown() const noexcept { return unknown_; }

private:
    bool unknown_;
};

struct Context {
    Args args;
    std::string command;
    Mode mode = Mode::table;
    bool stdout_tty = false;
    bool progress = false;  // stderr is a terminal and --no-progress was not given
    std::string connection;
    std::unique_ptr<Db> db;

    /// Opens and connects the database (1 GET of s3db.json).
    Db& open() {
        if (db) return *db;
        if (connection.empty())
            throw UsageError("no connection: give --connection URL or set S3DB_CONNECTION "
                             "(file:///path, s3://KEY:SECRET@bucket/prefix, http://KEY:SECRET@host:port/bucket/prefix)",
                             command);
        ConnectionString cs;
        try {
            cs = ConnectionString::parse(connection);
        } catch (const ConfigError& e) {
            throw ConnectionError(e.what());  // already redacted by the parser
        }
        DatabaseOptions o;
        if (auto p = args.value("parallelism")) {
            o.parallelism = parse_count(*p, "parallelism", command);
            if (o.parallelism == 0) throw UsageError("--parallelism must be at least 1", command);
        }
        if (auto p = args.value("passphrase")) o.passphrase = *p;
        else if (const char* env = std::getenv("S3DB_PASSPHRASE"); env && *env) o.passphrase = env;
        try {
            db = std::make_unique<Db>(Counting<Any>(cs), std::move(o));
        } catch (const ConfigError& e) {
            throw ConnectionError(e.what());
        }
        db->connect();
        return *db;
    }

    Db::Resource& resource(const std::string& name) { return open().resource(name); }

    std::FILE* out() const { return stdout; }
};

inline void need_words(const Context& c, std::size_t min, std::size_t max, const char* what) {
    const std::size_t n = c.args.words.size() - 1;  // words[0] is the command
    if (n < min) throw UsageError(std::string("missing ") + what, c.command);
    if (n > max) throw UsageError("too many arguments", c.command);
}

inline std::string pretty(const json& j, bool tty) {
    return (tty ? j.dump(2, ' ', false, json::error_handler_t::replace) : j.dump(-1, ' ', false, json::error_handler_t::replace)) + "\n";
}

/// One JSON value: --json pretty on a terminal, compact when piped; in table mode by `table`.
inline void print_value(const Context& c, const json& j) { write_out(c.out(), pretty(j, c.stdout_tty)); }

/// A record in table mode: FIELD / VALUE rows.
inline void print_record(const Context& c, const json& record) {
    if (c.mode != Mode::table) return print_value(c, record);
    std::vector<std::vector<std::string>> rows;
    for (auto& [k, v] : record.items()) rows.push_back({k, cell(v, 100)});
    write_out(c.out(), render_table({"FIELD", "VALUE"}, rows));
}

/// `JSON` or `-` (stdin) as a JSON object.
inline json read_object(const Context& c, const std::string& text) {
    std::string src = text;
    if (text == "-") {
        std::ostringstream buf;
        buf << std::cin.rdbuf();
        src = buf.str();
    }
    auto j = json::parse(src, nullptr, false);
    if (j.is_discarded()) throw InputError(c.command + ": the data is not valid JSON");
    if (!j.is_object()) throw InputError(c.command + ": the data must be a JSON object, not " + std::string(j.type_name()));
    return j;
}

inline std::vector<std::string> attribute_names(const ResourceConfig& config) {
    std::vector<std::string> out{"id"};
    for (auto& [k, _] : config.attributes.items()) out.push_back(k);
    return out;
}

inline ListQuery list_query(const Context& c) {
    ListQuery q;
    if (auto p = c.args.value("partition")) q.partition = *p;
    auto values = c.args.all("values");
    if (!values.empty()) {
        if (q.partition.empty()) throw UsageError("--values needs --partition", c.command);
        q.values = parse_pairs(values, "values", c.command);
    }
    if (auto l = c.args.value("limit")) q.limit = parse_count(*l, "limit", c.command);
    return q;
}

// ---- catalogue ------------------------------------------------------------------------------------

/// A resource's definition, in the catalogue's order (the order of attributes is what maps them
/// to metadata keys), or its name and why it cannot be opened.
inline nlohmann::ordered_json describe(Db& db, const std::string& name) {
    using ojson = nlohmann::ordered_json;
    if (auto err = db.resource_error(name)) return ojson{{"name", name}, {"error", *err}};
    auto& r = db.resource(name);
    const auto& cfg = r.config();
    return ojson{{"name", name},
                 {"version", r.version()},
                 {"behavior", std::string(r.behavior())},
                 {"timestamps", cfg.timestamps},
                 {"paranoid", cfg.paranoid},
                 {"idSize", cfg.id_size},
                 {"idGenerator", cfg.id_generator},
                 {"createdBy", cfg.created_by},
                 {"attributes", cfg.attributes},
                 {"partitions", cfg.partitions}};
}

inline std::string text_of(const nlohmann::ordered_json& j, const char* key) {
    return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string{};
}

inline int cmd_resources(Context& c) {
    need_words(c, 0, 0, "");
    auto& db = c.open();
    auto names = db.resources();
    if (c.mode == Mode::table) {
        std::vector<std::vector<std::string>> rows;
        for (auto& n : names) {
            auto d = describe(db, n);
            if (d.contains("error")) {
                rows.push_back({n, "", "", "", "", "unavailable: " + cell(json::parse(d["error"].dump()), 60)});
                continue;
            }
            std::string parts;
            for (auto& [k, _] : d["partitions"].items()) parts += (parts.empty() ? "" : ",") + k;
            rows.push_back({n, text_of(d, "version"), text_of(d, "behavior"), std::to_string(d["attributes"].size()), parts, "ok"});
        }
        write_out(c.out(), "database " + ConnectionString::redact(c.connection) + "\n");
        if (rows.empty()) write_out(c.out(), "(no resources)\n");
        else write_out(c.out(), render_table({"NAME", "VERSION", "BEHAVIOR", "ATTRIBUTES", "PARTITIONS", "STATUS"}, rows));
        return 0;
    }
    auto all = nlohmann::ordered_json::array();
    for (auto& n : names) all.push_back(describe(db, n));
    if (c.mode == Mode::json) write_out(c.out(), all.dump(c.stdout_tty ? 2 : -1) + "\n");
    else
        for (auto& d : all) write_out(c.out(), d.dump() + "\n");
    return 0;
}

inline int cmd_schema(Context& c) {
    need_words(c, 1, 1, "resource name");
    auto& db = c.open();
    const std::string& name = c.args.words[1];
    if (!db.has_resource(name)) throw ResourceNotFound(name);
    auto d = describe(db, name);
    if (d.contains("error")) throw ResourceUnavailable(name, text_of(d, "error"));
    if (c.mode != Mode::table) return write_out(c.out(), d.dump(c.stdout_tty ? 2 : -1) + "\n"), 0;
    std::string head = "resource " + name + " " + text_of(d, "version") + ", behavior " + text_of(d, "behavior") +
                       (d["timestamps"].get<bool>() ? ", timestamps" : "") + (d["paranoid"].get<bool>() ? ", paranoid" : "") + "\n";
    auto plain = [](const nlohmann::ordered_json& v) { return json::parse(v.dump()); };
    std::vector<std::vector<std::string>> rows;
    for (auto& [k, v] : d["attributes"].items()) rows.push_back({k, cell(plain(v), 80)});
    write_out(c.out(), head + render_table({"ATTRIBUTE", "TYPE"}, rows));
    if (!d["partitions"].empty()) {
        rows.clear();
        for (auto& [k, v] : d["partitions"].items()) rows.push_back({k, v.contains("fields") ? v["fields"].dump() : v.dump()});
        write_out(c.out(), "\n" + render_table({"PARTITION", "FIELDS"}, rows));
    }
    return 0;
}

// ---- records --------------------------------------------------------------------------------------

inline int cmd_get(Context& c) {
    need_words(c, 2, 2, "resource name and id");
    print_record(c, c.resource(c.args.words[1]).get(c.args.words[2]));
    return 0;
}

inline int cmd_insert(Context& c) {
    need_words(c, 2, 2, "resource name and JSON (or - for stdin)");
    auto& r = c.resource(c.args.words[1]);
    auto data = read_object(c, c.args.words[2]);
    print_record(c, r.insert(std::move(data)));
    return 0;
}

inline int cmd_update(Context& c) {
    need_words(c, 3, 3, "resource name, id and JSON (or - for stdin)");
    auto& r = c.resource(c.args.words[1]);
    auto patch = read_object(c, c.args.words[3]);
    if (patch.contains("id") && patch["id"] != c.args.words[2])
        throw InputError("update: the data's id differs from '" + c.args.words[2] + "' (ids cannot change)");
    patch.erase("id");
    print_record(c, r.update(c.args.words[2], patch));
    return 0;
}

inline int cmd_delete(Context& c) {
    need_words(c, 2, SIZE_MAX, "resource name and at least one id");
    auto& r = c.resource(c.args.words[1]);
    std::vector<std::string> ids(c.args.words.begin() + 2, c.args.words.end());
    if (ids.size() == 1) r.remove(ids[0]);
    else r.remove_many(ids);
    if (c.mode == Mode::table) write_out(c.out(), "deleted " + std::to_string(ids.size()) + (ids.size() == 1 ? " record\n" : " records\n"));
    else print_value(c, json{{"deleted", ids.size()}, {"ids", ids}});
    return 0;
}

inline int cmd_list(Context& c) {
    need_words(c, 1, 1, "resource name");
    auto& r = c.resource(c.args.words[1]);
    auto q = list_query(c);
    auto cursor = c.args.value("cursor");
    if (cursor && !q.limit) q.limit = 100;
    if (q.limit) {
        // One page: 1 LIST + `limit` GETs, and the cursor of the next page.
        auto page = r.page(q.limit, cursor.value_or(""), q);
        if (c.mode == Mode::json) {
            print_value(c, json{{"items", page.items}, {"next_cursor", page.next_cursor.empty() ? json(nullptr) : json(page.next_cursor)}});
            return 0;
        }
        RecordSink sink(c.out(), c.mode, attribute_names(r.config()));
        for (auto& item : page.items) sink.add(item);
        sink.finish();
        if (!page.next_cursor.empty()) {
            // Piped: records alone on stdout (every line a record), the cursor on stderr.
            if (c.mode == Mode::table) write_out(c.out(), "next cursor: " + page.next_cursor + "\n");
            else write_out(stderr, "next_cursor=" + page.next_cursor + "\n");
        }
        return 0;
    }
    RecordSink sink(c.out(), c.mode, attribute_names(r.config()));
    for (auto& record : r.records(q)) sink.add(record);
    sink.finish();
    return 0;
}

inline int cmd_count(Context& c) {
    need_words(c, 1, 1, "resource name");
    auto& r = c.resource(c.args.words[1]);
    auto q = list_query(c);
    auto n = r.count(q);
    if (c.mode == Mode::json) print_value(c, json{{"count", n}});
    else write_out(c.out(), std::to_string(n) + "\n");
    return 0;
}

inline int cmd_query(Context& c) {
    need_words(c, 1, 1, "resource name");
    auto filters = c.args.all("filter");
    if (filters.empty()) throw UsageError("query needs at least one --filter field=value", c.command);
    auto& r = c.resource(c.args.words[1]);
    json filter = parse_pairs(filters, "filter", c.command);
    auto q = list_query(c);
    const std::size_t limit = q.limit;
    q.limit = 0;
    // The partition whose fields the filter covers best narrows the listing; records stream.
    if (q.partition.empty()) detail::plan_partition(r.partitions(), filter, q);
    RecordSink sink(c.out(), c.mode, attribute_names(r.config()));
    for (auto& record : r.records(q)) {
        bool ok = true;
        for (auto& [k, v] : filter.items())
            if (!record.contains(k) || record[k] != v) {
                ok = false;
                break;
            }
        if (!ok) continue;
        sink.add(record);
        if (limit && sink.count() >= limit) break;
    }
    sink.finish();
    return 0;
}

// ---- export / import ------------------------------------------------------------------------------

inline int cmd_export(Context& c) {
    need_words(c, 1, 1, "resource name");
    auto& r = c.resource(c.args.words[1]);
    auto q = list_query(c);
    auto output = c.args.value("output");
    std::FILE* out = stdout;
    std::string part;
    if (output && *output != "-") {
        part = *output + ".part";
        out = std::fopen(part.c_str(), "wb");
        if (!out) throw InputError("export: cannot write '" + part + "'");
    }
    static char buffer[1 << 16];
    std::setvbuf(out, buffer, _IOFBF, sizeof buffer);
    Progress progress(c.progress && (out != stdout || !c.stdout_tty), "export " + r.name());
    progress.work_is_records();
    if (progress.enabled()) {
        auto total = r.count(q);
        progress.set_total(q.limit ? std::min<std::size_t>(q.limit, total) : total);
    }
    std::size_t n = 0;
    try {
        for (auto& record : r.records(q)) {
            write_out(out, record.dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
            ++n;
            progress.add_records();
        }
        if (std::fflush(out) != 0 || std::ferror(out)) throw InputError("export: cannot write the output");
    } catch (...) {
        progress.finish();
        if (out != stdout) {
            std::fclose(out);
            std::remove(part.c_str());
        }
        throw;
    }
    progress.finish();
    if (out != stdout) {
        if (std::fclose(out) != 0) throw InputError("export: cannot write '" + part + "'");
        std::error_code ec;
        std::filesystem::rename(part, *output, ec);
        if (ec) throw InputError("export: cannot rename '" + part + "' to '" + *output + "': " + ec.message());
        if (c.mode == Mode::json) print_value(c, json{{"exported", n}, {"file", *output}});
        else write_out(c.out(), "exported " + std::to_string(n) + " records to " + *output + "\n");
    } else {
        write_out(stderr, "exported " + std::to_string(n) + " records\n");
    }
    return 0;
}

/// JSON lines into a resource: batches of `--batch` lines (default 1000) inserted on the
/// database's bounded pool (`--parallelism`), so memory holds one batch whatever the input's size.
/// Each failure is reported with its line number; an insert whose outcome S3 could not tell is
/// reported as unknown (exit 6), never retried blindly. `--upsert` updates records whose id exists.
inline int cmd_import(Context& c) {
    need_words(c, 1, 2, "resource name");
    auto& r = c.resource(c.args.words[1]);
    const std::string source = c.args.words.size() > 2 ? c.args.words[2] : "-";
    const bool upsert = c.args.flag("upsert");
    std::size_t batch = 1000;
    if (auto b = c.args.value("batch")) batch = std::max<std::size_t>(1, parse_count(*b, "batch", c.command));

    std::ifstream file;
    std::istream* in = &std::cin;
    std::uint64_t total_bytes = 0;
    if (source != "-") {
        file.open(source, std::ios::binary);
        if (!file) throw InputError("import: cannot read '" + source + "'");
        in = &file;
        std::error_code ec;
        total_bytes = std::filesystem::file_size(source, ec);
        if (ec) total_bytes = 0;
    } else {
        struct stat st{};
        if (::fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode)) total_bytes = static_cast<std::uint64_t>(st.st_size);
    }
    Progress progress(c.progress, "import " + r.name());
    progress.set_total(total_bytes);

    std::mutex mutex;
    std::size_t imported = 0, failed = 0, unknown = 0, shown = 0;
    auto report = [&](std::size_t line, const std::string& what, bool is_unknown) {
        std::lock_guard lock(mutex);
        (is_unknown ? unknown : failed)++;
        if (shown++ < 20) write_out(stderr, std::string(progress.enabled() ? "\r\x1b[K" : "") + "s3db: import: line " + std::to_string(line) + ": " + what + "\n");
    };
    std::vector<std::pair<std::size_t, std::string>> lines;
    lines.reserve(batch);
    std::size_t line_no = 0;
    std::uint64_t bytes = 0;
    std::string line;
    auto flush = [&] {
        c.db->pool().for_each_index(lines.size(), [&](std::size_t i) {
            auto& [no, text] = lines[i];
            auto j = json::parse(text, nullptr, false);
            if (j.is_discarded() || !j.is_object()) return report(no, "not a JSON object", false);
            try {
                if (upsert) r.upsert(std::move(j));
                else r.insert(std::move(j));
                std::lock_guard lock(mutex);
                ++imported;
            } catch (const OutcomeUnknown& e) {
                return report(no, e.what(), true);
            } catch (const std::exception& e) {
                return report(no, e.what(), false);
            }
            progress.add_records();
        });
        lines.clear();
        progress.set_work(bytes);
    };
    while (std::getline(*in, line)) {
        ++line_no;
        bytes += line.size() + 1;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.find_first_not_of(" \t") == std::string::npos) continue;
        lines.emplace_back(line_no, std::move(line));
        line.clear();
        if (lines.size() >= batch) flush();
    }
    if (in->bad()) throw InputError("import: cannot read '" + source + "'");
    flush();
    progress.finish();
    if (shown > 20) write_out(stderr, "s3db: import: " + std::to_string(shown - 20) + " more errors not shown\n");
    json summary{{"imported", imported}, {"failed", failed}, {"unknown", unknown}};
    if (c.mode == Mode::table || c.mode == Mode::lines)
        write_out(c.mode == Mode::table ? c.out() : stderr,
                  "imported " + std::to_string(imported) + " records" +
                      (failed || unknown ? " (" + std::to_string(failed) + " failed, " + std::to_string(unknown) + " unknown)" : "") + "\n");
    if (c.mode != Mode::table) print_value(c, summary);
    if (unknown) throw PartialFailure("import: " + std::to_string(unknown) + " inserts may or may not have landed (see above); check those ids", true);
    if (failed) throw PartialFailure("import: " + std::to_string(failed) + " of " + std::to_string(imported + failed) + " records failed (see above)", false);
    return 0;
}

// ---- backup / restore / queue ---------------------------------------------------------------------

inline std::vector<std::string> split_list(const std::optional<std::string>& v) {
    std::vector<std::string> out;
    if (!v) return out;
    std::stringstream ss(*v);
    for (std::string item; std::getline(ss, item, ',');)
        if (!item.empty()) out.push_back(item);
    return out;
}

inline BackupOptions backup_options() {
    BackupOptions o;
    if (const char* p = std::getenv("S3DB_BACKUP_PASSPHRASE"); p && *p) o.passphrase = p;
    return o;
}

/// A destination that names a store (scheme://) is written as objects there (S3Backup over Any);
/// a plain path is a directory (FilesystemBackup). Backups go to <destination>/<backup id>/.
template <class Fn>
int with_backup(Context& c, const std::string& destination, Fn&& fn) {
    auto& db = c.open();
    if (destination.find("://") != std::string::npos) {
        auto& b = db.use_plugin(Backup<S3Backup<Any>>(S3Backup<Any>(std::string_view(destination), ""), backup_options()));
        return fn(b);
    }
    auto& b = db.use_plugin(Backup<FilesystemBackup>(FilesystemBackup(destination), backup_options()));
    return fn(b);
}

inline int cmd_backup(Context& c) {
    need_words(c, 0, 1, "");
    const std::string action = c.args.words.size() > 1 ? c.args.words[1] : "create";
    if (action == "list") {
        return with_backup(c, c.args.value("to").value_or("./backups"), [&](auto& b) {
            RecordSink sink(c.out(), c.mode, {"id", "type", "status", "createdAt", "parent"});
            for (auto& j : b.list_backups()) sink.add(j);
            sink.finish();
            return 0;
        });
    }
    if (action != "create") throw UsageError("unknown backup action '" + action + "' (create or list)", c.command);
    auto to = c.args.value("to");
    if (!to) throw UsageError("backup needs --to DIRECTORY or --to URL", c.command);
    const auto type = c.args.flag("incremental") ? BackupType::incremental : BackupType::full;
    const auto only = split_list(c.args.value("resources"));
    return with_backup(c, *to, [&](auto& b) {
        auto r = b.backup(type, only);
        json j{{"id", r.id}, {"type", r.type}, {"parent", r.parent}, {"records", r.records}, {"deleted", r.deleted},
               {"files", r.files}, {"bytes", r.bytes}, {"checksum", r.checksum}, {"durationMs", r.duration_ms}};
        if (c.mode == Mode::table)
            write_out(c.out(), "backup " + r.id + ": " + r.type + ", " + std::to_string(r.records) + " records, " +
                                   std::to_string(r.deleted) + " deletions, " + std::to_string(r.files) + " files, " +
                                   grouped(r.bytes) + " bytes in " + std::to_string(r.duration_ms) + " ms\n");
        else print_value(c, j);
        return 0;
    });
}

inline int cmd_restore(Context& c) {
    need_words(c, 1, 1, "backup id");
    auto from = c.args.value("from");
    if (!from) throw UsageError("restore needs --from DIRECTORY or --from URL (where the backup was written)", c.command);
    RestoreOptions o;
    o.resources = split_list(c.args.value("resources"));
    const std::string mode = c.args.value("mode").value_or("merge");
    if (mode == "merge") o.mode = RestoreMode::merge;
    else if (mode == "replace") o.mode = RestoreMode::replace;
    else if (mode == "skip") o.mode = RestoreMode::skip;
    else throw UsageError("--mode is merge, replace or skip, not '" + mode + "'", c.command);
    return with_backup(c, *from, [&](auto& b) {
        auto r = b.restore(c.args.words[1], o);
        json j{{"id", r.id}, {"chain", r.chain}, {"resources", r.resources}, {"written", r.written},
               {"skipped", r.skipped}, {"deleted", r.deleted}};
        if (c.mode == Mode::table)
            write_out(c.out(), "restored " + r.id + " (" + std::to_string(r.chain.size()) + " backups): " +
                                   std::to_string(r.written) + " written, " + std::to_string(r.skipped) + " skipped, " +
                                   std::to_string(r.deleted) + " deleted\n");
        else print_value(c, j);
        return 0;
    });
}

inline int cmd_queue(Context& c) {
    need_words(c, 2, 2, "'stats' and the queue's resource name");
    if (c.args.words[1] != "stats") throw UsageError("unknown queue action '" + c.args.words[1] + "' (stats)", c.command);
    const std::string& name = c.args.words[2];
    auto& db = c.open();
    if (!db.has_resource(name)) throw ResourceNotFound(name);
    // Only reads: no handler, no workers, no dead letter resource created.
    auto& q = db.use_plugin(S3Queue(S3QueueOptions{.resource = name, .dead_letter = false, .auto_start = false}));
    auto st = q.stats();
    if (c.mode == Mode::table) {
        std::vector<std::vector<std::string>> rows;
        const json counts = st.to_json();  // a range-for over a temporary's items() would dangle
        for (auto& [k, v] : counts.items()) rows.push_back({k, grouped(v.get<std::uint64_t>())});
        write_out(c.out(), render_table({"STATUS", "MESSAGES"}, rows));
    } else {
        print_value(c, st.to_json());
    }
    return 0;
}

}  // namespace s3db::cli
