// S3Queue: requests per message from enqueue to ack, and messages per second, with P worker
// processes (fork) of C handler threads on one store. Prints, never asserts.
//
//   build/bench/s3_queue [--url memory://b/p | file:///tmp/q | http://KEY:SECRET@host:port/bucket/prefix]
//   (on S3 the bucket is created, and emptied and deleted at the end: give it a bucket of its own)
//                        [--messages N] [--processes P] [--concurrency C]
//
// Requests are counted by a Counting transport in every process (the parent's enqueues, each
// worker's claims, reads, acks, LISTs and deletes) and summed; the workers' own "are we done yet"
// checks are left out. s3db.js's S3Queue costs ≈ 24 requests per message on the same path
// (reference §11.12: enqueue 2 data PUT + 3 ref PUT (+3 duplicates), then ≈ 10 PUT, 8 GET, 3 LIST,
// 3 DELETE to claim, handle and ack one message).
//
// A memory:// store is one process's memory: with it, workers are threads of this process.

#include <sys/wait.h>
#include <unistd.h>

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
};

Args parse(int argc, char** argv) {
    Args a;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string k = argv[i], v = argv[i + 1];
        if (k == "--url") a.url = v;
        else if (k == "--messages") a.messages = std::atoi(v.c_str());
        else if (k == "--processes") a.processes = std::atoi(v.c_str());
        else if (k == "--concurrency") a.concurrency = std::atoi(v.c_str());
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
    std::printf("  s3db.js S3Queue (reference 11.12): ~24 requests per message -> %.1fx fewer\n", 24.0 / (total.total() / n));
    if (admin) {
        db.reset();
        remove_prefix(*admin, "");
        admin->delete_bucket();
    }
    return 0;
}
