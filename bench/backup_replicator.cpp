// Backup and Replicator on Ceph RGW, each against the raw transport doing the same work at the same
// concurrency:
//   backup   (full) of N records: records/s against a loop of GETs of the same objects, with the
//            database's pool (DatabaseOptions::parallelism, 10); requests per record; then an
//            incremental over the unchanged database (LISTs only);
//   restore  (replace) of that backup into the emptied resource: records/s against a loop of PUTs
//            of the same objects at the same concurrency;
//   replication to another s3db database on the same RGW, 16 writer threads: the source's insert
//            rate with the Replicator against the rate without it, the sustained rate (inserts until
//            the target holds them all) against the source's insert rate, and the requests a
//            replicated write adds to the source's own.
// The archive is an S3Backup on the same server (another prefix). Prints, never asserts.
//
//   build/bench/backup_replicator [--s3 URL] [--quick]   URL as S3DB_TEST_S3_URL (http://KEY:SECRET@host:port/bucket)
//
// Measured 2026-12-07, 10,000 records, the shared RGW on loopback, 2 cores shared with other builds
// (load ~7), -O2:
//   backup (full)       1087 records/s, raw GET loop 1198/s: 0.91x; 1.001 requests/record (GET 1.000, LIST 0.0010)
//   incremental (same)  0.0016 requests/record (LIST 0.0011, GET 0.0003: s3db.json, metadata), 0 records
//   restore (replace)   524 records/s, raw PUT loop 281/s: 1.86x (the raw loop ran in a busier moment); 1.000 PUT/record
//   replication         source inserts 139/s with the Replicator against 528/s without (0.26x: each replicated
//                       insert is 3 writes on the one RGW, which is the bottleneck: 417 writes/s); sustained
//                       replication 139/s = 1.00x the source's insert rate; added per write: PUT 1.000 (log
//                       entry), DeleteObjects 0.0079, other 0.0001

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cpu_time.hpp"
#include "s3db/core/database.hpp"
#include "s3db/plugins/backup.hpp"
#include "s3db/plugins/replicator.hpp"
#include "s3db/transport/counting.hpp"
#include "s3db/transport/s3.hpp"

using namespace s3db;
using Clock = std::chrono::steady_clock;

namespace {

/// Runs fn(0..n-1) on `threads` threads; returns the wall seconds it took.
double parallel(std::size_t n, std::size_t threads, const std::function<void(std::size_t)>& fn) {
    std::atomic<std::size_t> next{0};
    auto t0 = Clock::now();
    std::vector<std::thread> pool;
    for (std::size_t t = 0; t < threads; ++t)
        pool.emplace_back([&] {
            for (std::size_t i; (i = next++) < n;) fn(i);
        });
    for (auto& t : pool) t.join();
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

ResourceConfig bench_resource() {
    return {.name = "people",
            .attributes = nlohmann::ordered_json{{"name", "string|required"}, {"email", "string"}, {"age", "number|integer"},
                                                 {"active", "boolean"}, {"tags", "array|items:string"}},
            .behavior = "body-overflow"};
}
json record(std::size_t i) {
    return {{"id", "p" + std::to_string(1'000'000 + i)}, {"name", "person " + std::to_string(i)},
            {"email", "person" + std::to_string(i) + "@example.com"}, {"age", 20 + i % 50}, {"active", i % 2 == 0},
            {"tags", {"a", "b"}}};
}

double per(std::uint64_t requests, std::size_t n) { return double(requests) / double(n); }

void bench_backup(const S3Options& base, const std::string& run, std::size_t n) {
    auto under = [&](const std::string& prefix) {
        auto o = base;
        o.prefix = prefix;
        return o;
    };
    using Bk = Backup<S3Backup<S3>>;
    const std::size_t conc = DatabaseOptions{}.parallelism;
    BasicDatabase<Counting<S3>, Bk> db(Counting<S3>(under("bk-src-" + run + "/")), {},
                                       Bk(S3Backup<S3>(S3(under("bk-archive-" + run + "/")))));
    db.connect();
    auto& people = db.create_resource(bench_resource());
    parallel(n, 16, [&](std::size_t i) { people.insert(record(i)); });

    // The raw loop: GET every record object, as backup does, at the pool's concurrency.
    std::vector<std::string> keys;
    auto& raw = db.transport();
    for (ListOptions o{.prefix = "resource=people/data/"};;) {
        auto page = raw.list(o);
        for (auto& e : page.objects) keys.push_back(std::move(e.key));
        if (!page.truncated()) break;
        o.continuation_token = page.next_continuation_token;
    }
    const double raw_get = parallel(keys.size(), conc, [&](std::size_t i) { raw.get(keys[i]); });

    auto c0 = db.transport().counts();
    auto t0 = Clock::now();
    auto full = db.plugin<Bk>().backup();
    const double backup_s = std::chrono::duration<double>(Clock::now() - t0).count();
    auto full_req = db.transport().counts() - c0;

    c0 = db.transport().counts();
    auto inc = db.plugin<Bk>().backup(BackupType::incremental);
    auto inc_req = db.transport().counts() - c0;

    // The raw loop for restore: PUT the objects back as they are, at the same concurrency.
    std::vector<Object> objects(keys.size());
    parallel(keys.size(), conc, [&](std::size_t i) { objects[i] = *raw.get(keys[i]); });
    const double raw_put = parallel(objects.size(), conc, [&](std::size_t i) {
        auto& o = objects[i];
        raw.put(o.info.key, o.body, PutOptions{.content_type = o.info.content_type, .metadata = o.info.metadata});
    });

    remove_prefix(db.transport(), "resource=people/");
    c0 = db.transport().counts();
    t0 = Clock::now();
    auto restored = db.plugin<Bk>().restore(inc.id, {.mode = RestoreMode::replace});
    const double restore_s = std::chrono::duration<double>(Clock::now() - t0).count();
    auto restore_req = db.transport().counts() - c0;
    if (people.count() != n || restored.written != n)
        std::printf("!! restore wrote %zu of %zu records\n", restored.written, n);

    const double nd = double(n);
    std::printf("%-34s %10s %10s %8s   requests/record on the database's store\n", ("RGW, " + std::to_string(n) + " records").c_str(), "records/s",
                "raw/s", "ratio");
    std::printf("%-34s %10.0f %10.0f %7.2fx   %.3f (GET %.3f, LIST %.4f)\n", "backup (full)", nd / backup_s, keys.size() / raw_get,
                (nd / backup_s) / (keys.size() / raw_get), per(full_req.total(), n), per(full_req.get, n), per(full_req.list, n));
    std::printf("%-34s %10s %10s %8s   %.4f (GET %.4f, LIST %.4f), %zu records in it\n", "backup (incremental, unchanged)", "", "", "",
                per(inc_req.total(), n), per(inc_req.get, n), per(inc_req.list, n), inc.records);
    std::printf("%-34s %10.0f %10.0f %7.2fx   %.3f (PUT %.3f)\n", "restore (replace)", nd / restore_s, objects.size() / raw_put,
                (nd / restore_s) / (objects.size() / raw_put), per(restore_req.total(), n), per(restore_req.put, n));
    (void)full;
}

void bench_replication(const S3Options& base, const std::string& run, std::size_t n) {
    auto under = [&](const std::string& prefix) {
        auto o = base;
        o.prefix = prefix;
        return o;
    };
    const std::size_t writers = 16;

    // Without the Replicator: the source's own insert rate and requests.
    double plain_rate = 0;
    RequestCounts plain_req;
    {
        BasicDatabase<Counting<S3>> plain(Counting<S3>(under("rp-plain-" + run + "/")));
        plain.connect();
        auto& people = plain.create_resource(bench_resource());
        auto c0 = plain.transport().counts();
        plain_rate = double(n) / parallel(n, writers, [&](std::size_t i) { people.insert(record(i)); });
        plain_req = plain.transport().counts() - c0;
    }

    BasicDatabase<S3> target(S3(under("rp-target-" + run + "/")));
    target.connect();
    using Rp = Replicator<S3dbTarget>;
    BasicDatabase<Counting<S3>, Rp> source(Counting<S3>(under("rp-source-" + run + "/")), {},
                                           Rp({.workers = writers}, S3dbTarget(target)));
    source.connect();
    auto& people = source.create_resource(bench_resource());
    auto c0 = source.transport().counts();
    auto t0 = Clock::now();
    const double insert_s = parallel(n, writers, [&](std::size_t i) { people.insert(record(i)); });
    const bool idle = source.plugin<Rp>().wait_idle(std::chrono::minutes(10));
    const double until_replicated = std::chrono::duration<double>(Clock::now() - t0).count();
    auto req = source.transport().counts() - c0;
    const auto delivered = target.resource("people").count();
    if (!idle || delivered != n) std::printf("!! the target holds %zu of %zu records\n", delivered, n);

    const double nd = double(n);
    std::printf("%-34s %10s %10s %8s   requests/write on the source's store\n", "RGW, 16 writers", "records/s", "base/s", "ratio");
    std::printf("%-34s %10.0f %10.0f %7.2fx   %.3f (plain %.3f)\n", "insert with the Replicator", nd / insert_s, plain_rate,
                (nd / insert_s) / plain_rate, per(req.total(), n), per(plain_req.total(), n));
    std::printf("%-34s %10.0f %10.0f %7.2fx   added: PUT %.3f, DeleteObjects %.4f, other %.4f\n", "replicated (sustained)",
                nd / until_replicated, nd / insert_s, insert_s / until_replicated, per(req.put - plain_req.put, n),
                per(req.remove_many - plain_req.remove_many, n),
                per(req.total() - plain_req.total() - (req.put - plain_req.put) - (req.remove_many - plain_req.remove_many), n));
    // Each replicated insert is three writes on this one server (log entry, record, target's record):
    // when the server is the bottleneck, that, not the client, sets the insert rate.
    std::printf("%-34s %10.0f %10.0f            (the server's writes/s: source + log + target, against plain)\n",
                "RGW writes/s", 3 * nd / until_replicated, plain_rate);
}

}  // namespace

int main(int argc, char** argv) {
    std::string url = std::getenv("S3DB_TEST_S3_URL") ? std::getenv("S3DB_TEST_S3_URL") : "";
    bool quick = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--quick") quick = true;
        else if (a == "--s3" && i + 1 < argc) url = argv[++i];
    }
    if (url.empty()) {
        std::printf("(no S3 endpoint: pass --s3 URL or set S3DB_TEST_S3_URL; this bench runs on Ceph RGW only)\n");
        return 0;
    }
    const std::size_t n = quick ? 1000 : 10'000;
    auto c = ConnectionString::parse(url);
    auto opts = s3_options(c);
    opts.bucket = c.bucket + "-bk";
    opts.prefix.clear();
    S3(opts).create_bucket();
    const std::string run = std::to_string(std::random_device{}() % 1'000'000);
    bench_backup(opts, run, n);
    bench_replication(opts, run, n);
}
