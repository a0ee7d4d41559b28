// s3db: the command line for any bucket s3db (or s3db.js) wrote. Resources come from the bucket's
// catalogue (s3db.json), so no schema is needed here. See `s3db --help`.
//
//   export S3DB_CONNECTION=file:///var/data/app     # or s3://KEY:SECRET@bucket/prefix, http://...
//   s3db resources
//   s3db list users --partition byPlan --values plan=pro --limit 20
//   s3db export users -o users.jsonl && s3db -c file:///tmp/copy import users users.jsonl
//
// Output: tables when stdout is a terminal, JSON lines when piped, one JSON document with --json.
// Errors: one line `s3db: <message>` on stderr (the library's messages never hold a secret, and a
// connection string is only ever printed redacted), and an exit code a script can test.

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "args.hpp"
#include "commands.hpp"
#include "output.hpp"

namespace s3db::cli {
namespace {

struct Command {
    const char* name;
    const char* usage;
    const char* summary;
    const char* details;
    std::set<std::string, std::less<>> values;
    std::set<std::string, std::less<>> flags;
    std::function<int(Context&)> run;
};

const std::vector<Command>& commands() {
    static const std::vector<Command> all = {
        {"resources", "s3db resources", "list the resources of the catalogue (s3db.json)",
         "Each resource with its version, behavior, attribute count and partitions; a resource this\n"
         "library cannot open is listed with the reason.\n",
         {}, {}, cmd_resources},
        {"schema", "s3db schema NAME", "show a resource's definition",
         "Attributes, behavior, timestamps and partitions as s3db.json holds them (--json: the whole\n"
         "definition as JSON).\n",
         {}, {}, cmd_schema},
        {"get", "s3db get NAME ID", "print one record", "Exit code 2 when the record does not exist.\n", {}, {}, cmd_get},
        {"insert", "s3db insert NAME JSON|-", "insert one record (JSON object; - reads it from stdin)",
         "An \"id\" field picks the id, else one is generated. Exit code 3 when the record does not\n"
         "validate, 4 when the id exists.\n",
         {}, {}, cmd_insert},
        {"update", "s3db update NAME ID JSON|-", "merge fields into a record",
         "Read, merge, write back with If-Match (retried on contention: no update is lost). Exit code\n"
         "2 when the record does not exist, 3 when the result does not validate, 4 on lasting contention.\n",
         {}, {}, cmd_update},
        {"delete", "s3db delete NAME ID...", "delete records",
         "Deleting an id that does not exist is not an error (S3 deletes are idempotent).\n", {}, {}, cmd_delete},
        {"list", "s3db list NAME [--partition P --values k=v,...] [--limit N] [--cursor C]", "list records",
         "Without --limit every record streams out (one LIST page at a time). With --limit (or\n"
         "--cursor) one page: the next page's cursor is printed after the table, on stderr as\n"
         "next_cursor=C when piped, or as \"next_cursor\" with --json.\n"
         "Values are JSON when they parse (age=30 is a number), else text.\n",
         {"partition", "values", "limit", "cursor"}, {}, cmd_list},
        {"count", "s3db count NAME [--partition P --values k=v,...]", "count records (LISTs only, no GET)", "", {"partition", "values"}, {}, cmd_count},
        {"query", "s3db query NAME --filter k=v [--filter k=v...] [--limit N]", "records whose fields equal the filter",
         "The partition whose fields the filter covers best narrows the listing; records stream.\n",
         {"filter", "partition", "values", "limit"}, {}, cmd_query},
        {"export", "s3db export NAME [-o FILE] [--partition P --values k=v]", "write records as JSON lines",
         "One record per line, streamed: memory holds one LIST page of records whatever the size.\n"
         "With -o the file appears complete or not at all (written to FILE.part, then renamed).\n"
         "A progress bar (records/s, ETA) is drawn on stderr when it is a terminal.\n",
         {"output", "partition", "values", "limit"}, {}, cmd_export},
        {"import", "s3db import NAME [FILE|-] [--upsert] [--batch N]", "insert JSON lines (stdin by default)",
         "Batches of --batch lines (1000) are inserted by a bounded pool of --parallelism workers\n"
         "(10), so memory stays flat. Every failed line is reported with its number; exit code 7\n"
         "when some failed, 6 when S3 could not tell whether some inserts landed (never retried\n"
         "blindly). --upsert updates records whose id exists instead of failing.\n",
         {"batch"}, {"upsert"}, cmd_import},
        {"backup", "s3db backup [create] --to DIR|URL [--incremental] [--resources a,b] | s3db backup list",
         "back up every resource (Backup plugin)",
         "A plain path is a directory (DIR/<backup id>/); a URL (file://, s3://, http://) a store.\n"
         "S3DB_BACKUP_PASSPHRASE encrypts the archive (AES-256-GCM). `backup list` shows the backups\n"
         "recorded in the database (resource plg_backup_metadata).\n",
         {"to", "resources"}, {"incremental"}, cmd_backup},
        {"restore", "s3db restore ID --from DIR|URL [--mode merge|replace|skip] [--resources a,b]",
         "restore a backup (and the chain it builds on)",
         "Every archive file is checked (size, SHA-256) before anything is written.\n",
         {"from", "mode", "resources"}, {}, cmd_restore},
        {"queue", "s3db queue stats NAME", "message counts of an S3Queue on resource NAME",
         "pending, processing, completed, failed, dead (from LISTs; nothing is written).\n", {}, {}, cmd_queue},
        {"costs", "s3db costs COMMAND [ARGS...]", "run COMMAND, then print its S3 requests and their price",
         "The same as the global --costs, with the report on stdout after the command's output.\n"
         "Requests are every request sent (the catalogue's GET included); the price is Amazon S3's\n"
         "us-east-1 list price for those requests plus data transferred out (Costs plugin).\n",
         {}, {}, nullptr},
    };
    return all;
}

const char* global_help =
    "Global options (anywhere on the line):\n"
    "  -c, --connection URL   the database (default: $S3DB_CONNECTION): file:///path, file://./rel,\n"
    "                         s3://KEY:SECRET@bucket/prefix?region=R, http(s)://KEY:SECRET@host:port/bucket/prefix;\n"
    "                         without KEY:SECRET credentials come from AWS_ACCESS_KEY_ID /\n"
    "                         AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN or ~/.aws/credentials\n"
    "  --json                 one JSON document (default when piped: JSON lines)\n"
    "  --table                tables even when piped (default on a terminal)\n"
    "  --costs                print the requests and price of the command on stderr\n"
    "  --no-progress          no progress bar (drawn only when stderr is a terminal)\n"
    "  --parallelism N        requests in flight for bulk work (default 10)\n"
    "  --passphrase P         key of `secret` fields (default: $S3DB_PASSPHRASE, else s3db's default)\n"
    "  -h, --help             help (also `s3db help COMMAND`, `s3db COMMAND --help`)\n"
    "\n"
    "Exit codes:\n"
    "  0 ok    1 usage    2 not found (resource, record, backup)    3 invalid input or record\n"
    "  4 conflict (id exists, lasting contention)    5 connection or transport (S3 errors, bad URL)\n"
    "  6 outcome unknown (S3 could not tell whether a write landed)    7 some items of a bulk\n"
    "  command failed    8 other errors (corrupt data, a resource that cannot be opened, ...)\n";

const Command* find_command(const std::string& name) {
    for (auto& c : commands())
        if (name == c.name) return &c;
    return nullptr;
}

std::string main_help() {
    std::string out = "s3db - a document database on any S3-compatible store, from the shell\n\nUsage: s3db [options] COMMAND [ARGS...]\n\nCommands:\n";
    for (auto& c : commands()) {
        std::string name = c.name;
        out += "  " + name + std::string(name.size() < 11 ? 11 - name.size() : 1, ' ') + c.summary + "\n";
    }
    out += "\n";
    out += global_help;
    out += "\nExample:\n  S3DB_CONNECTION=file:///tmp/db s3db list users --limit 10\n";
    return out;
}

std::string command_help(const Command& c) {
    return std::string("Usage: ") + c.usage + "\n\n" + c.summary + ".\n" + (c.details[0] ? std::string("\n") + c.details : "") +
           "\n" + global_help;
}

/// The exit code and message of an exception.
int exit_code_of(const std::exception& e) {
    auto is = [&]<class T>() { return dynamic_cast<const T*>(&e) != nullptr; };
    if (is.template operator()<UsageError>()) return 1;
    if (is.template operator()<PartialFailure>()) return static_cast<const PartialFailure&>(e).unknown() ? 6 : 7;
    if (is.template operator()<OutcomeUnknown>() || is.template operator()<S3QueueOutcomeUnknown>()) return 6;
    if (is.template operator()<ResourceNotFound>() || is.template operator()<RecordNotFound>() ||
        is.template operator()<BackupNotFound>())
        return 2;
    if (is.template operator()<InputError>() || is.template operator()<ValidationError>() ||
        is.template operator()<SchemaError>() || is.template operator()<InvalidId>() ||
        is.template operator()<RecordTooLarge>() || is.template operator()<MetadataTooLarge>() ||
        is.template operator()<PartitionError>() || is.template operator()<InvalidKey>())
        return 3;
    if (is.template operator()<AlreadyExists>() || is.template operator()<UpdateConflict>() ||
        is.template operator()<PreconditionFailed>())
        return 4;
    if (is.template operator()<ConnectionError>() || is.template operator()<TransportError>()) return 5;
    if (is.template operator()<ConfigError>()) return 1;  // a bad option value (a cursor not from this resource, ...)
    return 8;
}

std::string money(double usd) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "$%.6f", usd);
    return buf;
}

/// The requests of the command (every one, counted by the transport) and their price.
json costs_report(Db& db) {
    const auto n = db.transport().counts();
    const auto report = db.plugin<Costs>().costs();
    const double requests_usd = report.prices.of(n);
    return {{"requests",
             {{"total", n.total()}, {"get", n.get}, {"put", n.put}, {"head", n.head}, {"copy", n.copy},
              {"delete", n.remove}, {"deleteObjects", n.remove_many}, {"list", n.list}}},
            {"requestsUsd", requests_usd},
            {"transferOutBytes", report.data_transfer.out_bytes},
            {"transferOutUsd", report.data_transfer.subtotal},
            {"writtenBytes", report.storage.total_bytes},
            {"storageUsdPerMonth", report.storage.subtotal},
            {"totalUsd", requests_usd + report.data_transfer.subtotal}};
}

std::string costs_text(const json& r) {
    const auto& q = r["requests"];
    std::string parts;
    for (auto [key, label] : {std::pair{"get", "GET"}, {"put", "PUT"}, {"head", "HEAD"}, {"copy", "COPY"}, {"delete", "DELETE"},
                              {"deleteObjects", "DeleteObjects"}, {"list", "LIST"}}) {
        auto v = q[key].get<std::uint64_t>();
        if (v) parts += (parts.empty() ? "" : ", ") + std::to_string(v) + " " + label;
    }
    return "costs: " + std::to_string(q["total"].get<std::uint64_t>()) + " requests" + (parts.empty() ? "" : " (" + parts + ")") +
           ", " + money(r["totalUsd"].get<double>()) + " (requests " + money(r["requestsUsd"].get<double>()) + ", transfer out " +
           grouped(r["transferOutBytes"].get<std::uint64_t>()) + " bytes " + money(r["transferOutUsd"].get<double>()) + ")\n";
}

int run(int argc, char** argv) {
    std::vector<std::string> raw(argv + 1, argv + argc);
    std::set<std::string, std::less<>> values, flags;
    for (auto& c : commands()) {
        values.insert(c.values.begin(), c.values.end());
        flags.insert(c.flags.begin(), c.flags.end());
    }
    Context ctx;
    bool costs_on_stdout = false;
    ctx.args = parse_args(raw, values, flags);
    if (ctx.args.flag("version")) {
        write_out(stdout, "s3db (s3db-cpp command line)\n");
        return 0;
    }
    auto& words = ctx.args.words;
    if (!words.empty() && words[0] == "help") {
        if (words.size() > 1) {
            auto* c = find_command(words[1]);
            if (!c) throw UsageError("unknown command '" + words[1] + "' (see s3db --help)");
            return write_out(stdout, command_help(*c)), 0;
        }
        return write_out(stdout, main_help()), 0;
    }
    if (!words.empty() && words[0] == "costs") {
        costs_on_stdout = true;
        words.erase(words.begin());
        if (words.empty()) {
            if (ctx.args.flag("help")) return write_out(stdout, command_help(*find_command("costs"))), 0;
            throw UsageError("costs needs a command to run: s3db costs get users u1", "costs");
        }
    }
    if (words.empty()) {
        if (ctx.args.flag("help")) return write_out(stdout, main_help()), 0;
        write_out(stderr, main_help());
        return 1;
    }
    const Command* cmd = find_command(words[0]);
    if (!cmd || !cmd->run) throw UsageError("unknown command '" + words[0] + "' (see s3db --help)");
    ctx.command = cmd->name;
    if (ctx.args.flag("help")) return write_out(stdout, command_help(*cmd)), 0;
    check_options(ctx.args, ctx.command, cmd->values, cmd->flags);

    ctx.stdout_tty = ::isatty(STDOUT_FILENO) == 1;
    ctx.mode = ctx.args.flag("json") ? Mode::json : ctx.args.flag("table") ? Mode::table : ctx.stdout_tty ? Mode::table : Mode::lines;
    ctx.progress = ::isatty(STDERR_FILENO) == 1 && !ctx.args.flag("no-progress");
    if (auto c = ctx.args.value("connection")) ctx.connection = *c;
    else if (const char* env = std::getenv("S3DB_CONNECTION")) ctx.connection = env;

    const bool want_costs = costs_on_stdout || ctx.args.flag("costs");
    auto print_costs = [&] {
        if (!want_costs || !ctx.db) return;
        auto r = costs_report(*ctx.db);
        std::FILE* to = costs_on_stdout ? stdout : stderr;
        if (ctx.mode == Mode::table || !costs_on_stdout) write_out(to, costs_text(r));
        else write_out(to, pretty(json{{"costs", r}}, ctx.stdout_tty));
        std::fflush(to);
    };
    try {
        int rc = cmd->run(ctx);
        std::fflush(stdout);
        print_costs();
        return rc;
    } catch (...) {
        std::fflush(stdout);
        print_costs();
        throw;
    }
}

}  // namespace
}  // namespace s3db::cli

int main(int argc, char** argv) {
    std::ios::sync_with_stdio(false);
    try {
        return s3db::cli::run(argc, argv);
    } catch (const s3db::cli::UsageError& e) {
        std::fprintf(stderr, "s3db: %s\n", e.what());
        if (auto* c = s3db::cli::find_command(e.command())) std::fprintf(stderr, "usage: %s\n", c->usage);
        return 1;
    } catch (const std::exception& e) {
        std::string message = e.what();  // one line, whatever the message holds
        for (auto& ch : message)
            if (ch == '\n' || ch == '\r') ch = ' ';
        std::fprintf(stderr, "s3db: %s\n", message.c_str());
        return s3db::cli::exit_code_of(e);
    }
}
