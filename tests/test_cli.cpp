// The `s3db` command line (examples/cli), run as a separate process the way a shell runs it: every
// subcommand on a file:// store and on Ceph RGW (CliRgw.*), exit codes, JSON vs table output, the
// request budget `costs` reports, secrets never printed, a 100,000-record export/import round trip
// whose peak memory stays flat (wait4's ru_maxrss, 10k vs 100k), and the progress bar drawn in a
// real terminal (tmux).
//
// The binary: S3DB_CLI_PATH (set by CMake, which builds s3db_cli first) or $S3DB_CLI.

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "s3db/core/any_database.hpp"
#include "s3db/plugins/s3_queue.hpp"
#include "support/stores.hpp"

extern char** environ;

namespace {

using s3db::json;
namespace fs = std::filesystem;

std::string cli_path() {
    if (const char* p = std::getenv("S3DB_CLI"); p && *p) return p;
#ifdef S3DB_CLI_PATH
    return S3DB_CLI_PATH;
#else
    return {};
#endif
}

struct CliRun {
    int rc = -1;
    std::string out, err;
    long max_rss_kb = 0;
    std::vector<std::string> lines() const {
        std::vector<std::string> v;
        std::istringstream in(out);
        for (std::string l; std::getline(in, l);)
            if (!l.empty()) v.push_back(l);
        return v;
    }
    json last_json() const {
        auto l = lines();
        return l.empty() ? json() : json::parse(l.back());
    }
    std::string all() const { return out + err; }
};

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream b;
    b << in.rdbuf();
    return b.str();
}

fs::path scratch() {
    static fs::path root = [] {
        fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
        auto p = base / ("s3db-cli-test-" + std::to_string(::getpid()));
        fs::create_directories(p);
        return p;
    }();
    static struct Cleanup {
        ~Cleanup() {
            std::error_code ec;
            fs::remove_all(root, ec);
        }
    } cleanup;
    return root;
}

fs::path fresh_dir(const std::string& name) {
    static int n = 0;
    auto p = scratch() / (name + "-" + std::to_string(++n));
    fs::create_directories(p);
    return p;
}

/// Runs the CLI with `args`, stdin from `input`, stdout and stderr into files (no pipe to fill),
/// S3DB_CONNECTION from `env_connection` (unset when empty); the child's peak RSS from wait4.
CliRun run_cli(std::vector<std::string> args, const std::string& input = {}, const std::string& env_connection = {}) {
    static int n = 0;
    auto dir = scratch() / "io";
    fs::create_directories(dir);
    const auto id = std::to_string(++n);
    const auto in_p = dir / ("in" + id), out_p = dir / ("out" + id), err_p = dir / ("err" + id);
    std::ofstream(in_p, std::ios::binary) << input;
    const std::string bin = cli_path();
    std::vector<std::string> env_s;
    for (char** e = environ; *e; ++e)
        if (!std::string_view(*e).starts_with("S3DB_CONNECTION=")) env_s.push_back(*e);
    if (!env_connection.empty()) env_s.push_back("S3DB_CONNECTION=" + env_connection);
    std::vector<char*> argv{const_cast<char*>(bin.c_str())}, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid == 0) {
        int i = ::open(in_p.c_str(), O_RDONLY), o = ::open(out_p.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600),
            e = ::open(err_p.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ::dup2(i, 0), ::dup2(o, 1), ::dup2(e, 2);
        ::execve(bin.c_str(), argv.data(), envp.data());
        ::_exit(127);
    }
    CliRun r;
    int status = 0;
    rusage usage{};
    ::wait4(pid, &status, 0, &usage);
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.max_rss_kb = usage.ru_maxrss;
    r.out = slurp(out_p);
    r.err = slurp(err_p);
    fs::remove(in_p), fs::remove(out_p), fs::remove(err_p);
    return r;
}

#define REQUIRE_CLI()                                                                          \
    do {                                                                                       \
        if (cli_path().empty() || !fs::exists(cli_path()))                                     \
            GTEST_SKIP() << "the s3db CLI is not built (build target s3db_cli or set S3DB_CLI)"; \
    } while (0)

/// Runs `args` on `url` and expects exit code `rc` (the output in the failure message).
CliRun expect_rc(int rc, const std::string& url, std::vector<std::string> args, const std::string& input = {}) {
    args.insert(args.begin(), {"--connection", url});
    auto r = run_cli(args, input);
    std::string shown;
    for (auto& a : args) shown += a + " ";
    EXPECT_EQ(r.rc, rc) << shown << "\nstdout: " << r.out << "\nstderr: " << r.err;
    return r;
}
CliRun ok(const std::string& url, std::vector<std::string> args, const std::string& input = {}) {
    return expect_rc(0, url, std::move(args), input);
}

/// The records of JSON lines, by id.
std::map<std::string, json> by_id(const std::vector<std::string>& lines) {
    std::map<std::string, json> m;
    for (auto& l : lines) {
        auto j = json::parse(l);
        m[j.at("id").get<std::string>()] = j;
    }
    return m;
}

/// The requests `s3db costs ...` reports for a command (its last line, piped: JSON).
json requests_of(const std::string& url, std::vector<std::string> args) {
    args.insert(args.begin(), "costs");
    auto r = ok(url, args);
    auto last = r.last_json();
    EXPECT_TRUE(last.contains("costs")) << r.out;
    return last.contains("costs") ? last["costs"]["requests"] : json::object();
}

/// A database made with the library, as an application would leave it.
void seed(const std::string& url) {
    s3db::Database<> db(url);
    db.connect();
    db.create_resource({.name = "users",
                        .attributes = {{"name", "string|required|min:2"}, {"plan", "string"}, {"age", "number|optional"}},
                        .behavior = "body-overflow",
                        .timestamps = true,
                        .partitions = {{"byPlan", {{"fields", {{"plan", "string"}}}}}}});
    db.create_resource({.name = "users_copy",
                        .attributes = {{"name", "string|required|min:2"}, {"plan", "string"}, {"age", "number|optional"}},
                        .behavior = "body-overflow",
                        .timestamps = true});
    db.create_resource({.name = "emails", .attributes = {{"to", "string"}}});
    db.use_plugin(s3db::S3Queue({.resource = "emails", .dead_letter = false, .auto_start = false}));
    for (int i = 0; i < 3; ++i) db.plugin<s3db::S3Queue>().enqueue({{"to", "u" + std::to_string(i) + "@x"}});
}

/// Every subcommand against one store; `backup_to` is where backups go (a directory or a URL).
void every_subcommand(const std::string& url, const std::string& backup_to) {
    seed(url);
    // resources / schema
    auto res = ok(url, {"resources"});
    std::set<std::string> names;
    for (auto& l : res.lines()) names.insert(json::parse(l)["name"].get<std::string>());
    EXPECT_TRUE(names.count("users") && names.count("users_copy") && names.count("emails")) << res.out;
    auto table = ok(url, {"--table", "resources"});
    EXPECT_NE(table.out.find("NAME"), std::string::npos);
    EXPECT_NE(table.out.find("byPlan"), std::string::npos);
    auto schema_text = ok(url, {"schema", "users"}).out;
    // The definition's order (it maps attributes to metadata keys), not alphabetical.
    const auto attrs = schema_text.find("\"attributes\"");
    ASSERT_NE(attrs, std::string::npos) << schema_text;
    EXPECT_LT(schema_text.find("\"name\"", attrs), schema_text.find("\"plan\"", attrs)) << schema_text;
    EXPECT_LT(schema_text.find("\"plan\"", attrs), schema_text.find("\"age\"", attrs)) << schema_text;
    auto schema = json::parse(schema_text);
    EXPECT_EQ(schema["attributes"]["name"], "string|required|min:2");
    EXPECT_EQ(schema["behavior"], "body-overflow");
    EXPECT_TRUE(schema["partitions"].contains("byPlan"));
    expect_rc(2, url, {"schema", "nope"});

    // insert / get / update, with the model of what the resource holds
    std::map<std::string, json> model;
    for (int i = 0; i < 7; ++i) {
        json rec{{"id", "u" + std::to_string(i)}, {"name", "User " + std::to_string(i)}, {"plan", i % 3 == 0 ? "pro" : "free"}};
        auto r = ok(url, {"insert", "users", rec.dump()});
        auto got = r.last_json();
        EXPECT_EQ(got["name"], rec["name"]);
        EXPECT_TRUE(got.contains("createdAt"));
        model[rec["id"]] = got;
    }
    auto from_stdin = ok(url, {"insert", "users", "-"}, R"({"id":"u7","name":"Stdin","plan":"free","age":40})").last_json();
    model["u7"] = from_stdin;
    EXPECT_EQ(ok(url, {"get", "users", "u7"}).last_json(), from_stdin);
    expect_rc(4, url, {"insert", "users", R"({"id":"u1","name":"Again","plan":"free"})"});
    expect_rc(3, url, {"insert", "users", R"({"id":"bad","name":"x"})"});  // min:2
    expect_rc(3, url, {"insert", "users", "{not json"});
    expect_rc(3, url, {"insert", "users", "[1,2]"});
    expect_rc(2, url, {"get", "users", "missing"});
    expect_rc(2, url, {"get", "nope", "u1"});
    auto updated = ok(url, {"update", "users", "u2", R"({"plan":"pro","age":31})"}).last_json();
    EXPECT_EQ(updated["plan"], "pro");
    EXPECT_EQ(updated["age"], 31);
    EXPECT_EQ(updated["name"], "User 2");
    model["u2"] = updated;
    expect_rc(2, url, {"update", "users", "missing", R"({"plan":"pro"})"});
    expect_rc(3, url, {"update", "users", "u2", R"({"name":"x"})"});
    auto as_table = ok(url, {"--table", "get", "users", "u2"});
    EXPECT_NE(as_table.out.find("FIELD"), std::string::npos);
    EXPECT_NE(as_table.out.find("User 2"), std::string::npos);

    // list: all, a partition, pages with cursors
    auto all = ok(url, {"list", "users"});
    EXPECT_EQ(by_id(all.lines()), model);
    std::set<std::string> pro;
    for (auto& [id, r] : model)
        if (r["plan"] == "pro") pro.insert(id);
    auto part = ok(url, {"list", "users", "--partition", "byPlan", "--values", "plan=pro"});
    std::set<std::string> listed;
    for (auto& [id, _] : by_id(part.lines())) listed.insert(id);
    EXPECT_EQ(listed, pro);
    std::map<std::string, json> paged;
    std::string cursor;
    int pages = 0;
    do {
        std::vector<std::string> a{"list", "users", "--limit", "3"};
        if (!cursor.empty()) a.insert(a.end(), {"--cursor", cursor});
        auto page = ok(url, a);
        EXPECT_LE(page.lines().size(), 3u);
        for (auto& [id, r] : by_id(page.lines())) paged[id] = r;
        auto at = page.err.find("next_cursor=");
        cursor = at == std::string::npos ? std::string{} : page.err.substr(at + 12, page.err.find('\n', at) - at - 12);
        ++pages;
    } while (!cursor.empty() && pages < 10);
    EXPECT_EQ(pages, 3);
    EXPECT_EQ(paged, model);
    auto json_page = ok(url, {"--json", "list", "users", "--limit", "5"}).out;
    auto jp = json::parse(json_page);
    EXPECT_EQ(jp["items"].size(), 5u);
    EXPECT_TRUE(jp["next_cursor"].is_string());
    expect_rc(1, url, {"list", "users", "--limit", "x"});
    expect_rc(1, url, {"list", "users", "--cursor", "!!not-base64!!", "--limit", "2"});

    // count / query
    EXPECT_EQ(ok(url, {"count", "users"}).out, std::to_string(model.size()) + "\n");
    EXPECT_EQ(ok(url, {"count", "users", "--partition", "byPlan", "--values", "plan=pro"}).out, std::to_string(pro.size()) + "\n");
    auto q = ok(url, {"query", "users", "--filter", "plan=pro", "--filter", "age=31"});
    ASSERT_EQ(q.lines().size(), 1u) << q.out;
    EXPECT_EQ(json::parse(q.lines()[0])["id"], "u2");
    EXPECT_EQ(ok(url, {"query", "users", "--filter", "plan=free"}).lines().size(), model.size() - pro.size());
    expect_rc(1, url, {"query", "users"});

    // request budgets, as `costs` reports them (the catalogue's GET on connect included)
    auto g = requests_of(url, {"get", "users", "u1"});
    EXPECT_EQ(g["total"], 2);
    EXPECT_EQ(g["get"], 2);
    auto c = requests_of(url, {"count", "users"});
    EXPECT_EQ(c["total"], 2);
    EXPECT_EQ(c["list"], 1);
    auto p = requests_of(url, {"list", "users", "--limit", "2"});
    EXPECT_EQ(p["total"], 4);  // catalogue + 1 LIST + 2 GET
    EXPECT_EQ(p["list"], 1);
    auto i = requests_of(url, {"insert", "users", R"({"id":"u8","name":"Costly","plan":"pro"})"});
    // The record + one ref per partition: byPlan, and byCreatedDate / byUpdatedDate (timestamps).
    EXPECT_EQ(i["put"], 4);
    EXPECT_EQ(i["total"], 5);
    model["u8"] = ok(url, {"get", "users", "u8"}).last_json();
    auto stderr_costs = ok(url, {"--costs", "get", "users", "u8"});
    EXPECT_NE(stderr_costs.err.find("costs: 2 requests (2 GET)"), std::string::npos) << stderr_costs.err;
    EXPECT_EQ(stderr_costs.last_json(), model["u8"]);  // stdout is the record alone

    // export -> import into another resource: equal records
    auto file = fresh_dir("export") / "users.jsonl";
    ok(url, {"export", "users", "-o", file.string()});
    EXPECT_FALSE(fs::exists(file.string() + ".part"));
    std::vector<std::string> exported;
    {
        std::ifstream in(file);
        for (std::string l; std::getline(in, l);) exported.push_back(l);
    }
    EXPECT_EQ(by_id(exported), model);
    auto piped = ok(url, {"export", "users"});
    EXPECT_EQ(by_id(piped.lines()), model);
    auto imported = ok(url, {"import", "users_copy", file.string()});
    EXPECT_EQ(imported.last_json(), (json{{"imported", model.size()}, {"failed", 0}, {"unknown", 0}}));
    EXPECT_EQ(by_id(ok(url, {"list", "users_copy"}).lines()), model);
    // again: every line exists now (exit 7, each line named); --upsert makes it idempotent
    auto again = expect_rc(7, url, {"import", "users_copy", file.string()});
    EXPECT_NE(again.err.find("line 1: record"), std::string::npos) << again.err;
    // (an upsert of an existing id is an update: it stamps updatedAt anew)
    ok(url, {"import", "users_copy", "--upsert", file.string()});
    auto without_updated_at = [](std::map<std::string, json> m) {
        for (auto& [_, r] : m) r.erase("updatedAt");
        return m;
    };
    EXPECT_EQ(without_updated_at(by_id(ok(url, {"list", "users_copy"}).lines())), without_updated_at(model));
    auto bad = expect_rc(7, url, {"import", "users_copy", "-"},
                         "{\"id\":\"n1\",\"name\":\"New\",\"plan\":\"free\"}\nnot json\n{\"id\":\"n2\",\"name\":\"y\",\"plan\":\"free\"}\n");
    EXPECT_NE(bad.err.find("line 2: not a JSON object"), std::string::npos) << bad.err;
    EXPECT_NE(bad.err.find("line 3:"), std::string::npos) << bad.err;
    EXPECT_EQ(ok(url, {"get", "users_copy", "n1"}).last_json()["name"], "New");

    // queue stats: the three messages the library queued
    auto qs = ok(url, {"queue", "stats", "emails"}).last_json();
    EXPECT_EQ(qs["pending"], 3);
    EXPECT_EQ(qs["total"], 3);
    expect_rc(2, url, {"queue", "stats", "nope"});
    expect_rc(1, url, {"queue", "purge", "emails"});

    // backup, delete, restore
    auto b = ok(url, {"backup", "--to", backup_to}).last_json();
    ASSERT_TRUE(b.contains("id")) << b;
    EXPECT_GE(b["records"].get<std::size_t>(), model.size());
    auto listed_backups = ok(url, {"backup", "list"});
    EXPECT_NE(listed_backups.out.find(b["id"].get<std::string>()), std::string::npos);
    ok(url, {"delete", "users", "u0", "u1", "u2"});
    expect_rc(2, url, {"get", "users", "u1"});
    ok(url, {"delete", "users", "u3"});
    EXPECT_EQ(ok(url, {"count", "users"}).out, std::to_string(model.size() - 4) + "\n");
    auto restored = ok(url, {"restore", b["id"].get<std::string>(), "--from", backup_to, "--resources", "users"}).last_json();
    EXPECT_EQ(restored["written"], model.size());
    EXPECT_EQ(by_id(ok(url, {"list", "users"}).lines()), model);
    expect_rc(2, url, {"restore", "full-2020-01-01T00-00-00-000Z-abcdef", "--from", backup_to});
    expect_rc(1, url, {"restore", b["id"].get<std::string>()});
}

TEST(Cli, EverySubcommandOnAFileStore) {
    REQUIRE_CLI();
    auto dir = fresh_dir("db");
    every_subcommand("file://" + (dir / "data").string(), (dir / "backups").string());
}

/// The RGW under test with the test bucket and a fresh prefix, as a connection string.
std::string rgw_url(const std::string& prefix) {
    auto c = s3db::test::s3_under_test();
    auto host = c.endpoint.substr(c.endpoint.find("://") + 3);
    return "http://" + c.access_key_id + ":" + c.secret_access_key + "@" + host + "/" + s3db::test::TestBucket::name() + "/" + prefix;
}

TEST(CliRgw, EverySubcommand) {
    REQUIRE_CLI();
    const std::string prefix = s3db::test::next_prefix();
    const std::string url = rgw_url(prefix.substr(0, prefix.size() - 1));
    // The backups go to another prefix of the same bucket (S3Backup over a connection string).
    every_subcommand(url, rgw_url(prefix + "backups"));
}

TEST(CliRgw, SecretsNeverPrinted) {
    REQUIRE_CLI();
    auto c = s3db::test::s3_under_test();
    const std::string prefix = s3db::test::next_prefix();
    const std::string url = rgw_url(prefix.substr(0, prefix.size() - 1));
    seed(url);
    const std::string secret = c.secret_access_key;
    std::vector<CliRun> runs;
    runs.push_back(ok(url, {"--table", "resources"}));
    runs.push_back(ok(url, {"--costs", "list", "users"}));
    runs.push_back(expect_rc(2, url, {"get", "users", "nope"}));
    runs.push_back(ok(url, {"backup", "--to", rgw_url(prefix + "b")}));
    EXPECT_NE(runs[0].out.find("****@"), std::string::npos) << runs[0].out;  // the connection, redacted
    // A wrong secret: RGW refuses the signature; the message names neither secret.
    const std::string wrong = "WrongSecret" + std::to_string(::getpid());
    auto bad_url = url;
    bad_url.replace(bad_url.find(secret + "@"), secret.size(), wrong);
    runs.push_back(expect_rc(5, bad_url, {"count", "users"}));
    runs.push_back(expect_rc(5, bad_url, {"--costs", "resources"}));
    for (auto& r : runs) {
        EXPECT_EQ(r.all().find(secret), std::string::npos) << r.all();
        EXPECT_EQ(r.all().find(wrong), std::string::npos) << r.all();
    }
    EXPECT_NE(runs[4].err.find("s3db: "), std::string::npos);
}

TEST(Cli, SecretsNeverPrintedWhenTheStoreCannotBeReached) {
    REQUIRE_CLI();
    const std::string secret = "Hunter2SecretValue";
    std::vector<CliRun> runs;
    // Nothing listens on port 1; a malformed connection string; an unknown parameter; via the env.
    runs.push_back(expect_rc(5, "http://AKIAKEY:" + secret + "@127.0.0.1:1/bucket/p", {"resources"}));
    runs.push_back(expect_rc(5, "http://AKIAKEY:" + secret + "@127.0.0.1:99999/bucket", {"resources"}));
    runs.push_back(expect_rc(5, "s3://AKIAKEY:" + secret + "@bucket/p?bogus=1", {"get", "users", "x"}));
    runs.push_back(expect_rc(5, "s3://AKIAKEY:" + secret + "@bucket/p?sessionToken=" + secret + "&bogus=1", {"count", "users"}));
    auto env = run_cli({"resources"}, {}, "http://AKIAKEY:" + secret + "@127.0.0.1:1/bucket");
    EXPECT_EQ(env.rc, 5) << env.err;
    runs.push_back(env);
    for (auto& r : runs) {
        EXPECT_EQ(r.all().find(secret), std::string::npos) << r.all();
        EXPECT_EQ(r.out, "");
        EXPECT_TRUE(r.err.starts_with("s3db: ")) << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
    }
}

TEST(Cli, HelpForEveryCommandAndExitCodes) {
    REQUIRE_CLI();
    auto help = run_cli({"--help"});
    EXPECT_EQ(help.rc, 0);
    for (auto code : {"0 ok", "1 usage", "2 not found", "3 invalid", "4 conflict", "5 connection", "6 outcome unknown", "7 some items"})
        EXPECT_NE(help.out.find(code), std::string::npos) << code;
    for (auto cmd : {"resources", "schema", "get", "insert", "update", "delete", "list", "count", "query", "export", "import",
                     "backup", "restore", "queue", "costs"}) {
        EXPECT_NE(help.out.find(std::string("\n  ") + cmd + " "), std::string::npos) << cmd;
        auto h = run_cli({cmd, "--help"});
        EXPECT_EQ(h.rc, 0) << cmd;
        EXPECT_TRUE(h.out.starts_with(std::string("Usage: s3db ") + cmd)) << h.out;
        EXPECT_EQ(run_cli({"help", cmd}).out, h.out);
    }
    EXPECT_EQ(run_cli({}).rc, 1);                       // no command: help on stderr
    EXPECT_EQ(run_cli({"frobnicate"}).rc, 1);
    EXPECT_EQ(run_cli({"list", "users", "--frob"}).rc, 1);
    auto no_conn = run_cli({"count", "users"});
    EXPECT_EQ(no_conn.rc, 1);
    EXPECT_NE(no_conn.err.find("S3DB_CONNECTION"), std::string::npos);
    EXPECT_NE(no_conn.err.find("usage: s3db count"), std::string::npos);
    auto dir = fresh_dir("env");
    const std::string url = "file://" + (dir / "data").string();
    seed(url);
    auto from_env = run_cli({"count", "users"}, {}, url);  // the connection from S3DB_CONNECTION
    EXPECT_EQ(from_env.rc, 0) << from_env.err;
    EXPECT_EQ(from_env.out, "0\n");
    expect_rc(1, url, {"get", "users"});                 // missing argument
    expect_rc(1, url, {"delete", "users"});
    expect_rc(1, url, {"list", "users", "--limit"});     // option without its value
    expect_rc(1, url, {"get", "users", "u1", "--limit", "2"});  // an option get does not take
}

/// Generates `n` records as JSON lines.
fs::path generate(std::size_t n) {
    auto p = fresh_dir("gen") / ("in" + std::to_string(n) + ".jsonl");
    std::ofstream out(p);
    for (std::size_t i = 0; i < n; ++i) {
        char id[32];
        std::snprintf(id, sizeof id, "r%07zu", i);
        out << json{{"id", id}, {"name", "item " + std::to_string(i)}, {"n", i}, {"tags", {"a", std::to_string(i % 7)}}}.dump() << "\n";
    }
    return p;
}

std::string make_items(const fs::path& dir) {
    const std::string url = "file://" + (dir / "data").string();
    s3db::Database<> db(url);
    db.connect();
    db.create_resource({.name = "items",
                        .attributes = {{"name", "string|required"}, {"n", "number"}, {"tags", "array|items:string"}},
                        .behavior = "body-overflow"});
    return url;
}

struct RoundTrip {
    long import_rss_kb = 0, export_rss_kb = 0;
};

/// Imports `n` generated records, exports them again and checks the export equals the input.
RoundTrip round_trip(std::size_t n) {
    auto input = generate(n);
    auto dir = fresh_dir("rt");
    auto url = make_items(dir);
    auto imp = ok(url, {"import", "items", input.string()});
    EXPECT_EQ(imp.last_json()["imported"], n);
    auto out = dir / "out.jsonl";
    auto exp = ok(url, {"export", "items", "-o", out.string()});
    std::vector<std::string> in_lines, out_lines;
    {
        std::ifstream a(input), b(out);
        for (std::string l; std::getline(a, l);) in_lines.push_back(l);
        for (std::string l; std::getline(b, l);) out_lines.push_back(l);
    }
    EXPECT_EQ(out_lines.size(), n);
    // Ids are zero-padded, so the export (key order) is in the input's order: compare line by line.
    std::size_t differ = 0;
    for (std::size_t i = 0; i < std::min(in_lines.size(), out_lines.size()); ++i)
        differ += json::parse(in_lines[i]) != json::parse(out_lines[i]);
    EXPECT_EQ(differ, 0u);
    fs::remove_all(dir);
    fs::remove(input);
    return {imp.max_rss_kb, exp.max_rss_kb};
}

TEST(Cli, ExportImportRoundTripOf100kRecordsInFlatMemory) {
    REQUIRE_CLI();
    const auto start = std::chrono::steady_clock::now();
    auto small = round_trip(10'000);
    auto large = round_trip(100'000);
    const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("peak RSS: import %ld KB (10k) vs %ld KB (100k); export %ld KB vs %ld KB; %.1f s\n", small.import_rss_kb,
                large.import_rss_kb, small.export_rss_kb, large.export_rss_kb, seconds);
    // Ten times the records, the same memory (one batch / one LIST page at a time): a CLI that held
    // the records would need ~10x more at 100k than at 10k (tens of MB).
    EXPECT_LE(large.import_rss_kb, small.import_rss_kb * 5 / 4 + 4096);
    EXPECT_LE(large.export_rss_kb, small.export_rss_kb * 5 / 4 + 4096);
}

TEST(Cli, ImportKilledMidwayThenRerunWithUpsertEndsExact) {
    REQUIRE_CLI();
    const std::size_t n = 30'000;
    auto input = generate(n);
    auto dir = fresh_dir("kill");
    auto url = make_items(dir);
    const std::string bin = cli_path();
    pid_t pid = ::fork();
    if (pid == 0) {
        int null = ::open("/dev/null", O_RDWR);
        ::dup2(null, 0), ::dup2(null, 1), ::dup2(null, 2);
        ::execl(bin.c_str(), bin.c_str(), "--connection", url.c_str(), "import", "items", input.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    // The trigger only: the files of the records written so far (the checks below use the CLI).
    const auto records_dir = dir / "data" / "resource%3Ditems" / "data";
    std::size_t seen = 0;
    for (int i = 0; i < 5000 && seen < 1000; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        std::error_code ec;
        seen = 0;
        for (auto it = fs::directory_iterator(records_dir, ec); !ec && it != fs::directory_iterator() && seen < 1000; ++it) ++seen;
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the import ended before it was killed: exit code " << WEXITSTATUS(status)
                                     << ", " << seen << " records seen";
    s3db::Database<> db(url);
    db.connect();
    const std::size_t at_kill = db.resource("items").count();
    std::printf("killed with %zu of %zu records imported\n", at_kill, n);
    EXPECT_GT(at_kill, 0u);
    EXPECT_LT(at_kill, n);
    // Run again: what landed is updated with the same data, the rest inserted; nothing is lost or doubled.
    auto again = ok(url, {"import", "items", "--upsert", input.string()});
    EXPECT_EQ(again.last_json(), (json{{"imported", n}, {"failed", 0}, {"unknown", 0}}));
    EXPECT_EQ(db.resource("items").count(), n);
    auto out = ok(url, {"export", "items"});
    auto lines = out.lines();
    ASSERT_EQ(lines.size(), n);
    std::ifstream in(input);
    std::size_t i = 0, differ = 0;
    for (std::string l; std::getline(in, l); ++i) differ += json::parse(l) != json::parse(lines[i]);
    EXPECT_EQ(differ, 0u);
}

// ---- the progress bar in a real terminal -----------------------------------------------------------

bool has_tmux() { return std::system("tmux -V >/dev/null 2>&1") == 0; }

std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

TEST(Cli, ProgressBarInARealTerminalOnlyThere) {
    REQUIRE_CLI();
    if (!has_tmux()) GTEST_SKIP() << "tmux is not installed: the progress bar cannot be checked in a terminal";
    auto input = generate(10'000);
    auto dir = fresh_dir("tty");
    auto url = make_items(dir);
    const std::string socket = "s3db-cli-test-" + std::to_string(::getpid());
    const std::string tmux = "tmux -L " + socket + " ";
    const std::string script = shell_quote(cli_path()) + " -c " + shell_quote(url) + " import items " + shell_quote(input.string()) +
                               "; " + shell_quote(cli_path()) + " -c " + shell_quote(url) + " export items -o " +
                               shell_quote((dir / "out.jsonl").string()) + "; echo CLI-DONE; sleep 60";
    ASSERT_EQ(std::system((tmux + "new-session -d -x 120 -y 10 -s cli " + shell_quote(script)).c_str()), 0);
    auto capture = [&] {
        std::string out;
        if (FILE* p = ::popen((tmux + "capture-pane -p -t cli").c_str(), "r")) {
            char buf[4096];
            for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
            ::pclose(p);
        }
        return out;
    };
    std::string screen;
    bool seen_midway = false;
    for (int i = 0; i < 1200 && screen.find("CLI-DONE") == std::string::npos; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        screen = capture();
        if (screen.find("rec/s") != std::string::npos && screen.find("CLI-DONE") == std::string::npos &&
            screen.find("100%") == std::string::npos)
            seen_midway = true;
    }
    std::system((tmux + "kill-server").c_str());
    std::printf("%s\n(the bar was seen mid-way: %s)\n", screen.c_str(), seen_midway ? "yes" : "no");
    ASSERT_NE(screen.find("CLI-DONE"), std::string::npos) << screen;
    // Both commands drew a bar that ended at 100% with a rate and an ETA, then their summary.
    EXPECT_NE(screen.find("import items ["), std::string::npos) << screen;
    EXPECT_NE(screen.find("export items ["), std::string::npos) << screen;
    EXPECT_NE(screen.find("100%"), std::string::npos) << screen;
    EXPECT_NE(screen.find("10,000/10,000 records"), std::string::npos) << screen;
    EXPECT_NE(screen.find("rec/s"), std::string::npos) << screen;
    EXPECT_NE(screen.find("ETA 0:00"), std::string::npos) << screen;
    EXPECT_NE(screen.find("imported 10000 records"), std::string::npos) << screen;
    // Piped (not a terminal), the same commands draw nothing: stderr has no bar.
    auto piped = ok(url, {"export", "items", "-o", (dir / "again.jsonl").string()});
    EXPECT_EQ(piped.err.find("rec/s"), std::string::npos) << piped.err;
    EXPECT_EQ(piped.err.find('\r'), std::string::npos);
    auto imp = ok(url, {"import", "items", "--upsert", (dir / "again.jsonl").string()});
    EXPECT_EQ(imp.err.find("rec/s"), std::string::npos) << imp.err;
}

}  // namespace
