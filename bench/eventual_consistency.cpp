// EventualConsistency against s3db.js's own EventualConsistencyPlugin on the same store: requests
// per transaction including consolidation (and GC), transactions per second, and whether the
// consolidated values equal the sum of the transactions. Prints, never asserts.
//
//   build/bench/eventual_consistency [--url memory://b/p | file:///tmp/ec | http://KEY:SECRET@host:port/bucket]
//       [--batches B] [--js-batches B] [--batch 100] [--records 10] [--concurrency C] [--no-gc] [--node-script PATH]
//   Without --url: S3DB_TEST_S3_URL when set (bench/run.sh sets it), else memory. On S3 the bucket
//   is created if missing; each side writes under a prefix of its own, removed at the end. s3db.js
//   is slow on S3 (about 0.2 transactions per second on a local RGW: most of its time is spent
//   waiting), so there it runs 1 batch unless --js-batches says otherwise.
//
// The workload, the same on both sides: B batches of `batch` random add/sub (a 32-bit LCG, seed
// 12345, so both write the same amounts) over `records` records of wallets.balance, each batch
// written by C concurrent writers (threads here, promise workers in node) and then consolidated,
// then collected (GC). s3db-cpp's requests are counted by a Counting transport; s3db.js's by a
// middleware on its AWS SDK client's stack, one count per command sent (bench/s3dbjs_ec_bench.mjs),
// or on its MemoryClient's storage for memory://. Each side writes under a prefix of its own.

#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "s3db/core/database.hpp"
#include "s3db/plugins/eventual_consistency.hpp"
#include "s3db/transport/any.hpp"
#include "s3db/transport/counting.hpp"
#include "s3db/transport/s3.hpp"

using namespace s3db;
using Clock = std::chrono::steady_clock;
using Db = BasicDatabase<Counting<Any>, EventualConsistency>;

namespace {

struct Args {
    std::string url = "memory://bench/ec";
    int batches = 5, batch = 100, records = 10, concurrency = 8;
    int js_batches = 0;  // batches on the s3db.js side (0: the same; 1 on S3)
    bool gc = true;
    std::string script;
};

struct Op {
    std::string id;
    int amount;
    bool sub;
};

std::vector<Op> workload(const Args& a, std::map<std::string, double>& model) {
    std::uint32_t s = 12345;
    auto next = [&] { return s = s * 1664525u + 1013904223u; };
    std::vector<Op> ops;
    for (int i = 0; i < a.batches * a.batch; ++i) {
        Op op;
        op.id = "w" + std::to_string(next() % std::uint32_t(a.records));
        op.amount = 1 + int(next() % 100);
        op.sub = next() % 3 == 0;
        model[op.id] += op.sub ? -op.amount : op.amount;
        ops.push_back(std::move(op));
    }
    return ops;
}

std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

std::optional<nlohmann::json> run_node(const Args& a, const std::string& connection) {
    nlohmann::json cmd{{"connection", connection}, {"batches", a.js_batches > 0 ? a.js_batches : a.batches}, {"batch", a.batch},
                       {"records", a.records}, {"concurrency", a.concurrency}, {"gc", a.gc}};
    auto file = std::filesystem::temp_directory_path() / ("s3db-ec-bench-" + std::to_string(::getpid()) + ".json");
    std::ofstream(file) << cmd.dump();
    std::string cmdline = "node " + shell_quote(a.script) + " < " + shell_quote(file.string()) + " 2>/dev/null";
    std::string out;
    int status = -1;
    if (FILE* p = popen(cmdline.c_str(), "r")) {
        char buf[4096];
        while (std::fgets(buf, sizeof buf, p)) out += buf;
        status = pclose(p);
    }
    std::filesystem::remove(file);
    if (status != 0) {
        std::fprintf(stderr, "s3db.js run failed (status %d; needs node and `npm ci --prefix tests/interop`)\n", status);
        return std::nullopt;
    }
    // s3db.js's logger writes to stdout too: the result is the line that is a JSON object.
    for (std::size_t at = 0; at < out.size();) {
        auto end = out.find('\n', at);
        if (end == std::string::npos) end = out.size();
        if (out[at] == '{') {
            auto j = nlohmann::json::parse(out.substr(at, end - at), nullptr, false);
            if (j.is_object() && j.contains("requests_per_tx")) return j;
        }
        at = end + 1;
    }
    std::fprintf(stderr, "s3db.js printed no result\n");
    return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
    Args a;
    if (const char* u = std::getenv("S3DB_TEST_S3_URL"); u && *u) a.url = u;
    a.script = (std::filesystem::path(__FILE__).parent_path() / "s3dbjs_ec_bench.mjs").string();
    if (!std::filesystem::exists(a.script)) a.script = "bench/s3dbjs_ec_bench.mjs";
    for (int i = 1; i < argc; ++i) {
        std::string k = argv[i];
        auto v = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
        if (k == "--url") a.url = v();
        else if (k == "--batches") a.batches = std::atoi(v().c_str());
        else if (k == "--js-batches") a.js_batches = std::atoi(v().c_str());
        else if (k == "--batch") a.batch = std::atoi(v().c_str());
        else if (k == "--records") a.records = std::atoi(v().c_str());
        else if (k == "--concurrency") a.concurrency = std::atoi(v().c_str());
        else if (k == "--no-gc") a.gc = false;
        else if (k == "--node-script") a.script = v();
    }
    const bool on_s3 = a.url.starts_with("http://") || a.url.starts_with("https://");
    if (on_s3 && a.js_batches == 0) a.js_batches = 1;
    std::optional<S3> admin;
    std::string base = a.url;
    if (on_s3) {
        auto o = s3_options(ConnectionString::parse(a.url));
        o.prefix.clear();
        admin.emplace(o);
        admin->create_bucket();
        while (base.ends_with('/')) base.pop_back();
    }
    const std::string run = std::to_string(::getpid());
    const std::string cpp_url = base + "/ec-cpp-" + run, js_url = base + "/ec-js-" + run;

    std::map<std::string, double> model;
    const auto ops = workload(a, model);
    const double n = double(ops.size());

    // ---- s3db-cpp ----
    auto db = std::make_unique<Db>(Counting<Any>(Any(cpp_url)), DatabaseOptions{},
                                   EventualConsistency({.resources = {{"wallets", {"balance"}}}, .auto_consolidate = false,
                                                        .transaction_retention = std::chrono::milliseconds(0)}));
    db->connect();
    db->create_resource({.name = "wallets", .attributes = {{"owner", "string|optional"}, {"balance", "number|optional"}},
                         .behavior = "body-overflow"});
    auto& ec = db->plugin<EventualConsistency>();
    db->transport().reset();
    std::uint64_t write = 0, consolidate = 0, collect = 0;
    const auto t0 = Clock::now();
    for (int b = 0; b < a.batches; ++b) {
        auto before = db->transport().counts().total();
        std::atomic<int> next{0};
        std::vector<std::thread> writers;
        for (int w = 0; w < a.concurrency; ++w)
            writers.emplace_back([&] {
                for (int i = next++; i < a.batch; i = next++) {
                    const auto& op = ops[std::size_t(b * a.batch + i)];
                    if (op.sub) ec.sub("wallets", op.id, "balance", op.amount);
                    else ec.add("wallets", op.id, "balance", op.amount);
                }
            });
        for (auto& t : writers) t.join();
        write += db->transport().counts().total() - before;
        before = db->transport().counts().total();
        ec.consolidate("wallets", "balance");
        consolidate += db->transport().counts().total() - before;
        if (a.gc) {
            before = db->transport().counts().total();
            ec.gc("wallets", "balance");
            collect += db->transport().counts().total() - before;
        }
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    const auto counts = db->transport().counts();
    int mismatches = 0;
    for (auto& [id, v] : model)
        if (ec.get_consolidated_value("wallets", id, "balance") != v) ++mismatches;

    std::printf("EventualConsistency on %s: %d batches of %d transactions over %d records, %d writers, consolidation %s\n",
                on_s3 ? "S3" : a.url.starts_with("memory://") ? "memory" : "filesystem", a.batches, a.batch, a.records,
                a.concurrency, a.gc ? "+ GC after each batch" : "after each batch");
    std::printf("  s3db-cpp: %.0f tx/s, %.3f requests/tx (write %.3f, consolidate %.3f, gc %.3f; put %llu get %llu head %llu "
                "list %llu delete %llu delete-many %llu), %s\n",
                n / seconds, (write + consolidate + collect) / n, write / n, consolidate / n, collect / n,
                (unsigned long long)counts.put, (unsigned long long)counts.get, (unsigned long long)counts.head,
                (unsigned long long)counts.list, (unsigned long long)counts.remove, (unsigned long long)counts.remove_many,
                mismatches ? (std::to_string(mismatches) + " records wrong").c_str() : "values exact");
    db.reset();

    // ---- s3db.js ----
    if (auto js = run_node(a, js_url)) {
        const auto& r = *js;
        const auto& q = r["requests"];
        const double jn = r["transactions"].get<double>();
        std::printf("  s3db.js (%d batches):  %.1f tx/s, %.3f requests/tx (write %.3f, consolidate %.3f, gc %.3f; put %d get %d head %d "
                    "list %d delete %d delete-many %d), %s\n",
                    int(jn) / a.batch, r["tx_per_s"].get<double>(), r["requests_per_tx"].get<double>(), r["write_requests"].get<double>() / jn,
                    r["consolidate_requests"].get<double>() / jn, r["gc_requests"].get<double>() / jn, q["put"].get<int>(),
                    q["get"].get<int>(), q["head"].get<int>(), q["list"].get<int>(), q["remove"].get<int>(),
                    q["remove_many"].get<int>(),
                    r["exact"].get<bool>() ? "values exact"
                                           : (std::to_string(r["mismatches"].size()) + " records wrong: " +
                                              r["mismatches"].dump()).c_str());
        std::printf("  ratio: s3db.js sends %.1fx the requests per transaction, s3db-cpp is %.1fx the throughput\n",
                    r["requests_per_tx"].get<double>() / ((write + consolidate + collect) / n),
                    (n / seconds) / r["tx_per_s"].get<double>());
    }
    if (admin) {
        auto under = [&](const std::string& url) {  // the prefix within the bucket
            auto o = s3_options(ConnectionString::parse(url));
            return o.prefix.ends_with('/') ? o.prefix : o.prefix + "/";
        };
        for (auto& u : {cpp_url, js_url}) remove_prefix(*admin, under(u));
    }
    return 0;
}
