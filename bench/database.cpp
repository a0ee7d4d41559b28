// Database benchmark: the same workloads through s3db-cpp and s3db.js 21.6.2, in one run, with
// ops/s, client CPU per operation, S3 requests per operation and the ratios between them:
//   - memory store, concurrency 1: insert, get, update, list (target: s3db-cpp >= 30x s3db.js ops/s)
//   - Ceph RGW, concurrency 16: insert and get, against s3db.js (target >= 2x) and against the bare
//     S3 transport sending the same PUTs and GETs (same keys, metadata and bodies; target >= 0.9x).
// s3db.js runs in node (bench/s3dbjs_bench.mjs), which measures inside the process: node's start-up
// and s3db.js's connect are not counted. Both sides first run the workloads untimed on a second
// resource (JIT, heap growth, connection pools); on memory each workload keeps the fastest of 3
// rounds, on RGW s3db-cpp and the raw transport alternate. Prints, never asserts; a missed target
// is printed as MISSED.
//
//   build/bench/database [--s3 URL] [--quick] [--n-memory N] [--n-rgw N] [--node-script PATH]
//   URL as S3DB_TEST_S3_URL (http://KEY:SECRET@host:port/bucket); without one, memory only.

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cpu_time.hpp"
#include "s3db/s3db.hpp"

using namespace s3db;
using s3db::bench::cpu_seconds;
using s3db::bench::minor_faults;
using Clock = std::chrono::steady_clock;

namespace {

/// What one client did in one or more timed phases; rounds add up.
struct Totals {
    double ops = 0, wall_s = 0, cpu_s = 0, requests = 0, faults = 0;

    Totals& operator+=(const Totals& o) {
        ops += o.ops, wall_s += o.wall_s, cpu_s += o.cpu_s, requests += o.requests, faults += o.faults;
        return *this;
    }
    double ops_per_s() const { return ops / wall_s; }
    double cpu_us_per_op() const { return cpu_s * 1e6 / ops; }
    double requests_per_op() const { return requests / ops; }
    double faults_per_op() const { return faults / ops; }
};

/// Runs op(i) for i in [begin, end) on `threads` threads sharing one counter (as s3db.js's promise
/// workers share theirs). `ops` is what the phase counts as done (a list of n records is n ops).
template <class Op>
Totals measure(std::size_t begin, std::size_t end, int threads, double ops, Op&& op) {
    std::atomic<std::size_t> next{begin};
    std::exception_ptr error;
    std::mutex error_mutex;
    double cpu0 = cpu_seconds();
    long faults0 = minor_faults();
    auto t0 = Clock::now();
    auto work = [&] {
        try {
            for (std::size_t i; (i = next++) < end;) op(i);
        } catch (...) {
            std::lock_guard lock(error_mutex);
            error = std::current_exception();
            next = end;
        }
    };
    if (threads <= 1) work();
    else {
        std::vector<std::thread> pool;
        for (int t = 0; t < threads; ++t) pool.emplace_back(work);
        for (auto& t : pool) t.join();
    }
    Totals r{ops, std::chrono::duration<double>(Clock::now() - t0).count(), cpu_seconds() - cpu0, 0,
             double(minor_faults() - faults0)};
    if (error) std::rethrow_exception(error);
    return r;
}

// ---- the workloads (the same records and resource as bench/s3dbjs_bench.mjs) ----------------------

ResourceConfig bench_resource(std::string name) {
    return {.name = std::move(name),
            .attributes = {{"name", "string|required"}, {"email", "string"}, {"age", "number|integer"},
                           {"active", "boolean"}, {"tags", "array|items:string"}}};
}

std::string id_of(std::size_t i) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "id%08zu", i);
    return buf;
}

json record_of(std::size_t i) {
    return {{"id", id_of(i)}, {"name", "user-" + std::to_string(i)}, {"email", "user" + std::to_string(i) + "@example.com"},
            {"age", 20 + i % 50}, {"active", i % 2 == 0}, {"tags", json::array({"t" + std::to_string(i % 7), "bench"})}};
}

/// One workload over records [begin, end) of `res` ("list": one list of those records, which must
/// be all the resource holds). The records, ids and expected names are built before the clock
/// starts (as in the node driver), so the figures are the library's. Requests are counted on the
/// database's Counting transport.
template <class Inner, class Res>
Totals run_workload(Counting<Inner>& counting, Res& res, const std::string& w, std::size_t begin, std::size_t end,
                    int conc) {
    std::vector<json> records(end);
    std::vector<std::string> ids(end), names(end);
    for (std::size_t i = begin; i < end; ++i) {
        if (w == "insert") records[i] = record_of(i);
        ids[i] = id_of(i);
        names[i] = "user-" + std::to_string(i);
    }
    counting.reset();
    double n = double(end - begin);
    Totals t;
    if (w == "insert") {
        t = measure(begin, end, conc, n, [&](std::size_t i) { res.insert(std::move(records[i])); });
    } else if (w == "get") {
        t = measure(begin, end, conc, n, [&](std::size_t i) {
            auto r = res.get(ids[i]);
            if (r["name"] != names[i]) throw std::runtime_error("get " + ids[i] + " read " + r.dump());
        });
    } else if (w == "update") {
        t = measure(begin, end, conc, n, [&](std::size_t i) { res.update(ids[i], json{{"age", 21 + i % 50}}); });
    } else {  // the database's pool (parallelism = concurrency) reads the records
        // The records are freed after the clock stops, as node's GC frees its list after the timing.
        std::vector<json> all;
        t = measure(0, 1, 1, n, [&](std::size_t) {
            all = res.list(ListQuery{.limit = end - begin});
            if (all.size() != end - begin) throw std::runtime_error("list returned " + std::to_string(all.size()) + " records");
        });
    }
    t.requests = double(counting.counts().total());
    return t;
}

// ---- s3db.js through node -------------------------------------------------------------------------

std::string shell_quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

/// Runs the workloads in node; nullopt (the reason on stderr) when node or s3db.js is missing or
/// the run failed.
std::optional<std::vector<Totals>> run_js(const std::string& script, const std::string& connection,
                                          const std::vector<std::string>& workloads, std::size_t n, int conc,
                                          std::size_t warmup, int rounds = 1) {
    auto command_file = std::filesystem::temp_directory_path() / ("s3db-bench-" + std::to_string(getpid()) + ".json");
    std::ofstream(command_file) << json{{"connection", connection}, {"n", n},           {"concurrency", conc},
                                        {"workloads", workloads},   {"warmup", warmup}, {"rounds", rounds}}
                                       .dump();
    std::string cmd = "node " + shell_quote(script) + " < " + shell_quote(command_file.string());
    std::string out;
    int status = -1;
    if (FILE* p = popen(cmd.c_str(), "r")) {
        char buf[4096];
        for (std::size_t got; (got = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, got);
        status = pclose(p);
    }
    std::filesystem::remove(command_file);
    if (status != 0) {
        std::fprintf(stderr, "s3db.js run failed (status %d; needs node and `npm ci --prefix tests/interop`)\n", status);
        return std::nullopt;
    }
    try {
        std::vector<Totals> totals;
        auto result = json::parse(out);
        for (auto& r : result.at("results")) {
            double ops = r.at("ops"), seconds = r.at("seconds"), cpu_us = r.at("cpu_us_per_op"), req = r.at("requests_per_op"),
                   faults = r.at("faults_per_op");
            totals.push_back({ops, seconds, cpu_us * ops / 1e6, req * ops, faults * ops});
        }
        if (totals.size() != workloads.size()) throw std::runtime_error("not one result per workload");
        return totals;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "s3db.js run: unreadable result (%s): %s\n", e.what(), out.c_str());
        return std::nullopt;
    }
}

// ---- printing -------------------------------------------------------------------------------------

void row(const char* store, const char* client, const std::string& op, int conc, const Totals& t) {
    std::printf("%-7s %-18s %-7s %4d %7.0f %10.0f %10.2f %11.0f %7.2f %9.2f\n", store, client, op.c_str(), conc, t.ops,
                t.ops_per_s(), t.cpu_us_per_op(), 1e6 / t.cpu_us_per_op(), t.requests_per_op(), t.faults_per_op());
    std::fflush(stdout);
}

std::vector<std::string> missed;

void ratio(const char* store, const char* what, const std::string& op, const Totals& a, const Totals& b, double target) {
    double r = a.ops_per_s() / b.ops_per_s();
    bool ok = r >= target;
    std::printf("%-7s %-24s %-7s ops/s %6.2fx (target >= %gx: %s)   cpu/op %5.3fx   ops/cpu-s %6.2fx\n", store, what,
                op.c_str(), r, target, ok ? "met" : "MISSED", a.cpu_us_per_op() / b.cpu_us_per_op(),
                b.cpu_us_per_op() / a.cpu_us_per_op());
    if (!ok) missed.push_back(std::string(store) + " " + what + " " + op);
    std::fflush(stdout);
}

std::string default_node_script() {
    // Next to this source file (the path the compiler was given), else relative to the working directory.
    auto here = std::filesystem::path(__FILE__).parent_path() / "s3dbjs_bench.mjs";
    return std::filesystem::exists(here) ? here.string() : "bench/s3dbjs_bench.mjs";
}

/// Memory: single-threaded on both sides (node runs JavaScript on one thread), so this compares the
/// CPU each library spends per operation. After an untimed warm-up, the workloads run `rounds`
/// times on fresh resources and each workload keeps its fastest round: on a shared machine other
/// processes only ever slow a round down.
void bench_memory(const std::string& script, const std::string& run_id, std::size_t n) {
    const int conc = 1, rounds = 3;
    const std::size_t warm_n = std::min<std::size_t>(n, 2000);
    const std::vector<std::string> workloads{"insert", "get", "update", "list"};
    BasicDatabase<Counting<Memory>> db(Counting<Memory>(), DatabaseOptions{.parallelism = std::size_t(conc)});
    db.connect();
    auto& warm = db.create_resource(bench_resource("bench_warmup"));
    for (auto& w : workloads) run_workload(db.transport(), warm, w, 0, warm_n, conc);
    std::vector<Totals> cpp(workloads.size());
    for (int r = 0; r < rounds; ++r) {
        auto& res = db.create_resource(bench_resource("bench_r" + std::to_string(r)));
        for (std::size_t i = 0; i < workloads.size(); ++i) {
            auto t = run_workload(db.transport(), res, workloads[i], 0, n, conc);
            if (r == 0 || t.ops_per_s() > cpp[i].ops_per_s()) cpp[i] = t;
        }
    }
    for (std::size_t i = 0; i < workloads.size(); ++i) row("memory", "s3db-cpp", workloads[i], conc, cpp[i]);
    auto js = run_js(script, "memory://s3db-bench/js-" + run_id, workloads, n, conc, warm_n, rounds);
    if (!js) return;
    for (std::size_t i = 0; i < workloads.size(); ++i) row("memory", "s3db.js", workloads[i], conc, (*js)[i]);
    for (std::size_t i = 0; i < workloads.size(); ++i) ratio("memory", "s3db-cpp / s3db.js", workloads[i], cpp[i], (*js)[i], 30);
}

/// RGW at concurrency 16. s3db-cpp and the raw transport alternate in rounds over slices of the
/// records, so a slow spell of the shared server falls on both; s3db.js runs once in node.
void bench_rgw(const std::string& script, const std::string& run_id, const std::string& s3_url, std::size_t n) {
    const int conc = 16, rounds = 4;
    const std::size_t warm_n = std::max<std::size_t>(n / 5, 100);
    auto c = ConnectionString::parse(s3_url);
    auto opts = s3_options(c);
    opts.bucket = c.bucket + "-db";
    opts.prefix.clear();
    S3 admin(opts);
    admin.create_bucket();
    auto under = [&](std::string prefix) {
        auto o = opts;
        o.prefix = std::move(prefix);
        return o;
    };
    const std::string cpp_prefix = "cpp-" + run_id + "/", raw_prefix = "raw-" + run_id + "/", js_prefix = "js-" + run_id;

    // The raw transport sends what s3db-cpp sends: the objects an insert of the same records stores
    // (taken from a memory database), put with the same If-None-Match under the same keys.
    struct Stored {
        std::string key, body;
        PutOptions put;
    };
    std::vector<Stored> objects;
    {
        Memory m;
        BasicDatabase<Memory> source(m);
        source.connect();
        auto& res = source.create_resource(bench_resource("bench"));
        for (std::size_t i = 0; i < n + warm_n; ++i) {
            res.insert(record_of(i));
            auto o = m.get(res.key_of(id_of(i)));
            objects.push_back({res.key_of(id_of(i)), o->body,
                               {.content_type = o->info.content_type, .metadata = o->info.metadata, .if_none_match = true}});
        }
    }
    Counting<S3> raw(under(raw_prefix));
    auto raw_phase = [&](bool put, std::size_t begin, std::size_t end) {
        raw.reset();
        auto t = put ? measure(begin, end, conc, double(end - begin),
                               [&](std::size_t i) { raw.put(objects[i].key, objects[i].body, objects[i].put); })
                     : measure(begin, end, conc, double(end - begin), [&](std::size_t i) {
                           if (!raw.get(objects[i].key)) throw std::runtime_error("raw GET: " + objects[i].key + " missing");
                       });
        t.requests = double(raw.counts().total());
        return t;
    };
    BasicDatabase<Counting<S3>> db(Counting<S3>(under(cpp_prefix)), DatabaseOptions{.parallelism = std::size_t(conc)});
    db.connect();
    auto& res = db.create_resource(bench_resource("bench"));

    // Warm-up (records n .. n+warm_n): RGW's first writes into a bucket are slow, and both clients
    // open their connections.
    raw_phase(true, n, n + warm_n);
    raw_phase(false, n, n + warm_n);
    run_workload(db.transport(), res, "insert", n, n + warm_n, conc);
    run_workload(db.transport(), res, "get", n, n + warm_n, conc);

    Totals raw_put, raw_get, cpp_insert, cpp_get;
    for (int r = 0; r < rounds; ++r) {
        std::size_t begin = n * r / rounds, end = n * (r + 1) / rounds;
        auto cpp_round = [&] {
            cpp_insert += run_workload(db.transport(), res, "insert", begin, end, conc);
            cpp_get += run_workload(db.transport(), res, "get", begin, end, conc);
        };
        auto raw_round = [&] {
            raw_put += raw_phase(true, begin, end);
            raw_get += raw_phase(false, begin, end);
        };
        if (r % 2) cpp_round(), raw_round();
        else raw_round(), cpp_round();
    }

    auto scheme_end = c.endpoint.find("://") + 3;
    auto js_url = c.endpoint.substr(0, scheme_end) + detail::uri_encode(c.access_key_id) + ":" +
                  detail::uri_encode(c.secret_access_key) + "@" + c.endpoint.substr(scheme_end) + "/" + opts.bucket + "/" +
                  js_prefix;
    auto js = run_js(script, js_url, {"insert", "get"}, n, conc, warm_n);

    row("rgw", "s3db-cpp", "insert", conc, cpp_insert);
    if (js) row("rgw", "s3db.js", "insert", conc, (*js)[0]);
    row("rgw", "raw S3 transport", "PUT", conc, raw_put);
    row("rgw", "s3db-cpp", "get", conc, cpp_get);
    if (js) row("rgw", "s3db.js", "get", conc, (*js)[1]);
    row("rgw", "raw S3 transport", "GET", conc, raw_get);
    if (js) ratio("rgw", "s3db-cpp / s3db.js", "insert", cpp_insert, (*js)[0], 2);
    ratio("rgw", "s3db-cpp / raw S3", "insert", cpp_insert, raw_put, 0.9);
    if (js) ratio("rgw", "s3db-cpp / s3db.js", "get", cpp_get, (*js)[1], 2);
    ratio("rgw", "s3db-cpp / raw S3", "get", cpp_get, raw_get, 0.9);
    for (auto& p : {cpp_prefix, raw_prefix, js_prefix + "/"}) remove_prefix(admin, p);
}

}  // namespace

int main(int argc, char** argv) {
    std::string s3_url = std::getenv("S3DB_TEST_S3_URL") ? std::getenv("S3DB_TEST_S3_URL") : "";
    std::string script = default_node_script();
    bool quick = false;
    std::size_t n_memory = 0, n_rgw = 0;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--s3" && i + 1 < argc) s3_url = argv[++i];
        else if (a == "--node-script" && i + 1 < argc) script = argv[++i];
        else if (a == "--n-memory" && i + 1 < argc) n_memory = std::stoul(argv[++i]);
        else if (a == "--n-rgw" && i + 1 < argc) n_rgw = std::stoul(argv[++i]);
        else if (a == "--quick") quick = true;
    }
    if (!n_memory) n_memory = quick ? 1000 : 4000;
    if (!n_rgw) n_rgw = quick ? 300 : 1500;
    const std::string run_id = std::to_string(getpid());

    std::printf("records {name, email, age, active, tags[2]} in resource 'bench' (user-managed); s3db.js from %s\n",
                script.c_str());
    // ops/cpu-s (ops per second of client CPU) depends less than ops/s on what else the machine runs.
    // faults/op: first touches of fresh pages (getrusage's minor faults), which a virtual machine
    // can make costly; a list must touch fresh memory for the records it returns.
    std::printf("%-7s %-18s %-7s %4s %7s %10s %10s %11s %7s %9s\n", "store", "client", "op", "conc", "ops", "ops/s",
                "cpu us/op", "ops/cpu-s", "req/op", "faults/op");
    bench_memory(script, run_id, n_memory);
    if (s3_url.empty()) std::printf("(no S3 endpoint: pass --s3 URL or set S3DB_TEST_S3_URL to include Ceph RGW)\n");
    else bench_rgw(script, run_id, s3_url, n_rgw);
    if (!missed.empty()) {
        std::printf("targets missed:");
        for (auto& m : missed) std::printf(" [%s]", m.c_str());
        std::printf("\n");
    }
    return 0;
}
