// S3Queue: requests per message from enqueue to ack, and messages per second, with P worker
// processes (fork) of C handler threads on one store. Prints, never asserts.
//
//   build/bench/s3_queue [--url memory://b/p | file:///tmp/q | http://KEY:SECRET@host:port/bucket/prefix]
//   (on S3 the bucket is created, and emptied and deleted at the end: give it a bucket of its own)
//                        [--messages N] [--processes P] [--concurrency C]
//
// Requests are counted by a Counting transport in every process (the parent's enqueues, each
// worker's claims, reads, acks, LISTs and deletes) and summed; the workers' own "are we done yet"
// checks are left out.
//
// Against s3db.js (on S3 only; --s3dbjs 0 skips it): after the C++ run, the same number of
// messages goes through s3db.js 21.6.2's S3QueuePlugin on the same RGW bucket (a prefix of its
// own) by bench/s3queue_s3dbjs.mjs in node: P databases standing for the P worker processes, each
// with C concurrent handlers, one producer enqueuing one message after the other, poll interval
// 100 ms and visibility timeout 30 s on both sides. Its requests are counted in node by a
// middleware on each database's AWS SDK client (every S3 command sent, as bench/s3dbjs_bench.mjs
// counts them), its "done yet?" check by the plugin's completion events (no request).
// --js-coordinator 1 runs s3db.js with its coordinator (its default: leader election, tickets);
// the default 0 is its plain path, the one the reference's ≈ 24 requests/message is for
// (§11.12: enqueue 2 data PUT + 3 ref PUT (+3 duplicates), then ≈ 10 PUT, 8 GET, 3 LIST, 3 DELETE).
//
// A memory:// store is one process's memory: with it, workers are threads of this process.
//
// Measured on the shared Ceph RGW (2 cores, 2026-12-07), requests/message enqueue to ack, msg/s processing:
//   1 process x 1 thread, 100 messages:    s3db-cpp 5.10, 66 msg/s   s3db.js 62.2, 4.6 msg/s (coordinator off)
//   4 processes x 4 threads, 200 messages: s3db-cpp 5.62, 94 msg/s   s3db.js 79.9, 0.9 msg/s (coordinator off)
//   4 processes x 4 threads, 50 messages:  s3db-cpp 6.76, 59 msg/s   s3db.js 271, 0.6 msg/s (coordinator on, its default)
//   4 processes x 4 threads, 1000 messages: s3db-cpp 5.36, 87 msg/s  (s3db.js not run: ~20 min at its rate)

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "s3db/core/database.hpp"
#include "s3db/plugins/s3_queue.hpp"
#include "s3db/transport/any.hpp"
#include "s3db/transport/counting.hpp"
#include "s3db/transport/s3.hpp"

using namespace s3db;
using Clock = std::chrono::steady_clock;
using Db = BasicDatabase<Counting<Any>, S3Queue>;

namespace {

struct Args {
    std::string url = "memory://bench/queue";
    int messages = 1000, processes = 1, concurrency = 4;
    bool s3dbjs = true, js_coordinator = false;
    std::string node_script;
};

Args parse(int argc, char** argv) {
    Args a;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string k = argv[i], v = argv[i + 1];
        if (k == "--url") a.url = v;
        else if (k == "--messages") a.messages = std::atoi(v.c_str());
        else if (k == "--processes") a.processes = std::atoi(v.c_str());
        else if (k == "--concurrency") a.concurrency = std::atoi(v.c_str());
        else if (k == "--s3dbjs") a.s3dbjs = v != "0";
        else if (k == "--js-coordinator") a.js_coordinator = v != "0";
        else if (k == "--node-script") a.node_script = v;
    }
    return a;
}

std::unique_ptr<Db> open(Any store, int concurrency) {
    auto db = std::make_unique<Db>(Counting<Any>(std::move(store)), DatabaseOptions{},
                                   S3Queue({.resource = "jobs", .concurrency = std::size_t(concurrency),
                                            .poll_interval = std::chrono::milliseconds(100)}));
    db->connect();
    if (!db->has_resource("jobs"))
        db->create_resource({.name = "jobs", .attributes = {{"n", "number"}}, .behavior = "body-overflow"});
    return db;
}

/// Runs workers until `total` messages ended; returns the requests they sent. The "done yet?"
/// checks go through `checker`, another handle on the store, uncounted.
RequestCounts work(Db& db, Any& checker, int total) {
    auto& q = db.plugin<S3Queue>();
    db.transport().reset();
    q.start_processing([](const json& r, S3QueueContext&) { return json{{"n", r.value("n", 0)}}; });
    for (;;) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        std::size_t ended = 0;
        ListOptions o{.prefix = "plugin=s3queue/jobs/d/"};
        for (;;) {
            auto page = checker.list(o);
            ended += page.objects.size();
            if (!page.truncated()) break;
            o.continuation_token = page.next_continuation_token;
        }
        if (ended >= std::size_t(total)) break;
    }
    q.stop_processing();
    q.flush(true);  // the live keys' deletion, due visibility_timeout/3 after each end (bench only)
    return db.transport().counts();
}

std::string shell_quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

/// s3db.js's S3Queue in node (bench/s3queue_s3dbjs.mjs) with the same workload; its JSON result,
/// nullopt (the reason on stderr) when node or s3db.js is missing or the run failed.
std::optional<json> run_s3dbjs(const Args& a, const std::string& connection) {
    std::string script = a.node_script;
    if (script.empty()) {
        auto here = std::filesystem::path(__FILE__).parent_path() / "s3queue_s3dbjs.mjs";
        script = std::filesystem::exists(here) ? here.string() : "bench/s3queue_s3dbjs.mjs";
    }
    auto command_file = std::filesystem::temp_directory_path() / ("s3queue-bench-" + std::to_string(::getpid()) + ".json");
    std::ofstream(command_file) << json{{"connection", connection},
                                        {"messages", a.messages},
                                        {"workers", a.processes},
                                        {"concurrency", a.concurrency},
                                        {"pollInterval", 100},
                                        {"visibilityTimeout", 30000},
                                        {"enableCoordinator", a.js_coordinator},
                                        {"timeoutSeconds", 1800}}
                                       .dump();
    const std::string cmd = "node " + shell_quote(script) + " < " + shell_quote(command_file.string());
    std::string out;
    int status = -1;
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
        char buf[4096];
        for (std::size_t got; (got = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, got);
        status = ::pclose(p);
    }
    std::filesystem::remove(command_file);
    if (status != 0) {
        std::fprintf(stderr, "s3db.js run failed (status %d; needs node and `npm ci --prefix tests/interop`)\n", status);
        return std::nullopt;
    }
    try {
        return json::parse(out);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "s3db.js run: unreadable result (%s): %s\n", e.what(), out.c_str());
        return std::nullopt;
    }
}

}  // namespace

int main(int argc, char** argv) {
    const Args a = parse(argc, argv);
    const bool in_memory = a.url.starts_with("memory://");
    const bool on_s3 = a.url.starts_with("http://") || a.url.starts_with("https://") || a.url.starts_with("s3://");
    std::optional<S3> admin;  // on S3: the bucket is created if missing, and emptied and removed after
    if (on_s3) {
        auto o = s3_options(ConnectionString::parse(a.url));
        o.prefix.clear();
        admin.emplace(o);
        admin->create_bucket();
    }
    auto db = open(Any(a.url), a.concurrency);
    auto& q = db->plugin<S3Queue>();
    db->transport().reset();
    const auto t0 = Clock::now();
    for (int i = 0; i < a.messages; ++i) q.enqueue({{"n", i}});
    const auto t1 = Clock::now();
    RequestCounts enqueue = db->transport().counts();
    RequestCounts workers{};
    int pipes[2];
    if (::pipe(pipes) != 0) return 1;
    if (in_memory || a.processes <= 1) {
        workers = work(*db, db->transport().inner(), a.messages);
    } else {
        for (int p = 0; p < a.processes; ++p) {
            if (::fork() == 0) {
                ::close(pipes[0]);
                auto mine = open(Any(a.url), a.concurrency);
                Any checker(a.url);
                RequestCounts c = work(*mine, checker, a.messages);
                if (::write(pipes[1], &c, sizeof c) != sizeof c) ::_exit(1);
                ::_exit(0);
            }
        }
        ::close(pipes[1]);
        for (int p = 0; p < a.processes; ++p) {
            RequestCounts c{};
            if (::read(pipes[0], &c, sizeof c) == sizeof c) workers += c;
            ::wait(nullptr);
        }
    }
    const auto t2 = Clock::now();
    RequestCounts total = enqueue;
    total += workers;
    const auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
    const double n = a.messages;
    std::printf("S3Queue on %s: %d messages, %d process(es) x %d thread(s)\n", (in_memory ? "memory" : on_s3 ? "S3" : "filesystem"),
                a.messages, in_memory ? 1 : a.processes, a.concurrency);
    std::printf("  enqueue: %.0f msg/s, %.2f requests/message\n", n * 1000.0 / std::max<long long>(1, ms(t1 - t0)),
                enqueue.total() / n);
    std::printf("  process: %.0f msg/s (claim, read, handle, ack)\n", n * 1000.0 / std::max<long long>(1, ms(t2 - t1)));
    std::printf("  requests per message, enqueue to ack: %.2f (put %.2f get %.2f list %.3f delete %.3f head %.3f)\n",
                total.total() / n, total.put / n, total.get / n, total.list / n, (total.remove + total.remove_many) / n,
                total.head / n);
    const double cpp_rpm = total.total() / n, cpp_rate = n * 1000.0 / std::max<long long>(1, ms(t2 - t1));
    if (on_s3 && a.s3dbjs) {
        // The same bucket, a prefix of its own: "<url>-s3dbjs".
        std::string url = a.url;
        while (!url.empty() && url.back() == '/') url.pop_back();
        if (auto js = run_s3dbjs(a, url + "-s3dbjs")) {
            const double js_n = (*js)["messages"].get<double>();
            const double js_rpm = (*js)["requests_per_message"].get<double>();
            const double js_rate = (*js)["completed"].get<double>() / std::max(1e-9, (*js)["process_seconds"].get<double>());
            const auto& r = (*js)["requests"];
            std::printf("s3db.js S3Queue on the same S3 (%s): %d messages, %d worker(s) x %d concurrency, %d completed\n",
                        a.js_coordinator ? "coordinator on" : "coordinator off", a.messages, a.processes, a.concurrency,
                        (*js)["completed"].get<int>());
            std::printf("  enqueue: %.0f msg/s, %.2f requests/message\n", js_n / std::max(1e-9, (*js)["enqueue_seconds"].get<double>()),
                        (*js)["enqueue_requests"].get<double>() / js_n);
            std::printf("  process: %.1f msg/s\n", js_rate);
            std::printf("  requests per message, enqueue to ack: %.2f (put %.2f get %.2f list %.3f delete %.3f head %.3f)\n", js_rpm,
                        r["put"].get<double>() / js_n, r["get"].get<double>() / js_n, r["list"].get<double>() / js_n,
                        (r["remove"].get<double>() + r["remove_many"].get<double>()) / js_n, r["head"].get<double>() / js_n);
            std::printf("s3db-cpp vs s3db.js: %.1fx fewer requests per message (%.2f vs %.2f), %.1fx the msg/s (%.0f vs %.1f)\n",
                        js_rpm / cpp_rpm, cpp_rpm, js_rpm, cpp_rate / std::max(1e-9, js_rate), cpp_rate, js_rate);
        }
    } else {
        std::printf("  s3db.js S3Queue (reference 11.12): ~24 requests per message -> %.1fx fewer\n", 24.0 / cpp_rpm);
    }
    if (admin) {
        db.reset();
        remove_prefix(*admin, "");
        admin->delete_bucket();
    }
    return 0;
}
