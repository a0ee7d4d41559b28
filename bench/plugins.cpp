// Plugin overhead: client CPU per operation on the memory store for the bare resource path (a
// Resource with no host), Database<>, Database<Costs>, Database<Cache<Memory>> (hits and misses) and
// Database<Cache<Memory>, Audit, Costs, Metrics>; then a cache hit against a get from Ceph RGW.
// Prints, never asserts.
//
//   build/bench/plugins [--s3 URL] [--quick]     URL as S3DB_TEST_S3_URL (http://KEY:SECRET@host:port/bucket)


#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "cpu_time.hpp"
#include "s3db/plugins/audit.hpp"
#include "s3db/plugins/cache.hpp"
#include "s3db/plugins/costs.hpp"
#include "s3db/plugins/metrics.hpp"
#include "s3db/s3db.hpp"

using namespace s3db;
using s3db::bench::cpu_seconds;
using Clock = std::chrono::steady_clock;

namespace {

struct Result {
    double cpu_us_per_op;
    double wall_us_per_op;
};

Result measure(std::size_t n, const std::function<void(std::size_t)>& op) {
    double cpu0 = cpu_seconds();
    auto t0 = Clock::now();
    for (std::size_t i = 0; i < n; ++i) op(i);
    double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    return {(cpu_seconds() - cpu0) * 1e6 / double(n), wall * 1e6 / double(n)};
}

ResourceConfig users() {
    return {.name = "users",
            .attributes = nlohmann::ordered_json{{"name", "string|required"}, {"email", "string"}, {"age", "number|integer"},
                                                 {"active", "boolean"}, {"tags", "array|items:string"}},
            .behavior = "body-overflow"};
}
json record(std::size_t i) {
    return {{"id", "u" + std::to_string(1'000'000 + i)}, {"name", "user " + std::to_string(i)},
            {"email", "user" + std::to_string(i) + "@example.com"}, {"age", 20 + i % 50}, {"active", i % 2 == 0},
            {"tags", {"a", "b"}}};
}
std::string id_of(std::size_t i) { return "u" + std::to_string(1'000'000 + i); }

struct Row {
    double insert, get, update;
};

/// insert, get, update of n records through `res` (a Resource of any host).
template <class Res>
Row run(Res& res, std::size_t n) {
    Row r{};
    r.insert = measure(n, [&](std::size_t i) { res.insert(record(i)); }).cpu_us_per_op;
    r.get = measure(n, [&](std::size_t i) { res.get(id_of(i)); }).cpu_us_per_op;
    r.update = measure(n, [&](std::size_t i) { res.update(id_of(i), json{{"age", 30}}); }).cpu_us_per_op;
    return r;
}

void print(const char* name, Row r, Row base) {
    std::printf("%-44s %8.2f %8.2f %8.2f     %5.2fx %5.2fx %5.2fx\n", name, r.insert, r.get, r.update, r.insert / base.insert,
                r.get / base.get, r.update / base.update);
}

template <class Db>
Row run_db(std::size_t n) {
    Db db(Memory{});
    db.connect();
    return run(db.create_resource(users()), n);
}

}  // namespace

int main(int argc, char** argv) {
    std::size_t n = 20'000;
    std::string s3_url = std::getenv("S3DB_TEST_S3_URL") ? std::getenv("S3DB_TEST_S3_URL") : "";
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--s3" && i + 1 < argc) s3_url = argv[++i];
        else if (a == "--quick") n = 3'000;
    }

    std::printf("memory store, 1 thread, %zu records: client CPU per operation (us) and against the bare path\n", n);
    std::printf("%-44s %8s %8s %8s     %6s %6s %6s\n", "composition", "insert", "get", "update", "insert", "get", "update");

    // The bare path: a Resource with no host, built by hand as the database would. Run twice: the
    // first pass also pays for the heap's first growth (page faults), which the later rows do not.
    Row bare;
    for (int pass = 0; pass < 2; ++pass) {
        Memory store;
        detail::WorkerPool pool(10);
        auto m = DatabaseMetadata::blank();
        m.upsert_resource(users());
        Resource<Memory> res(store, pool, *m.resource("users"), {});
        bare = run(res, n);
    }
    print("Resource<Memory> (no host)", bare, bare);
    print("Database<>", run_db<BasicDatabase<Memory>>(n), bare);
    print("Database<Costs>", run_db<BasicDatabase<Memory, Costs>>(n), bare);
    print("Database<Metrics>", run_db<BasicDatabase<Memory, Metrics>>(n), bare);
    print("Database<Audit>", run_db<BasicDatabase<Memory, Audit>>(n), bare);

    {
        // Cache: the first get of each id misses (and fills), the second hits.
        CacheOptions big;
        big.max_size = 2 * n;  // every record fits: the second pass hits
        BasicDatabase<Memory, Cache<Memory>> db(Memory{}, {}, Cache<Memory>(big));
        db.connect();
        auto& res = db.create_resource(users());
        measure(n, [&](std::size_t i) { res.insert(record(i)); });
        auto miss = measure(n, [&](std::size_t i) { res.get(id_of(i)); });
        auto hit = measure(n, [&](std::size_t i) { res.get(id_of(i)); });
        std::printf("%-44s          %8.2f           (%5.2fx the bare get)\n", "Database<Cache<Memory>> get, miss",
                    miss.cpu_us_per_op, miss.cpu_us_per_op / bare.get);
        std::printf("%-44s          %8.2f           (%5.2fx the bare get)\n", "Database<Cache<Memory>> get, hit",
                    hit.cpu_us_per_op, hit.cpu_us_per_op / bare.get);
    }
    print("Database<Cache<Memory>, Audit, Costs, Metrics>", run_db<BasicDatabase<Memory, Cache<Memory>, Audit, Costs, Metrics>>(n),
          bare);

    if (s3_url.empty()) {
        std::printf("(no S3 endpoint: pass --s3 URL or set S3DB_TEST_S3_URL to compare a cache hit with an RGW get)\n");
        return 0;
    }
    auto options = s3_options(ConnectionString::parse(s3_url));
    options.prefix = "bench-plugins-" + std::to_string(::getpid()) + "/";
    {
        S3 admin(options);
        try {
            admin.create_bucket();
        } catch (const std::exception&) {  // it exists already
        }
    }
    BasicDatabase<S3, Cache<Memory>> db{S3(options)};
    db.connect();
    auto& res = db.create_resource(users());
    std::size_t k = n / 20;
    for (std::size_t i = 0; i < k; ++i) res.insert(record(i));
    auto rgw = measure(k, [&](std::size_t i) { res.get(id_of(i), ReadOptions{.cache = false}); });
    measure(k, [&](std::size_t i) { res.get(id_of(i)); });  // fill
    auto hit = measure(k, [&](std::size_t i) { res.get(id_of(i)); });
    std::printf("\nRGW, 1 thread, %zu records: get from RGW %.1f us wall (%.1f us CPU), cache hit %.2f us wall (%.2f us CPU): %.0fx faster\n",
                k, rgw.wall_us_per_op, rgw.cpu_us_per_op, hit.wall_us_per_op, hit.cpu_us_per_op,
                rgw.wall_us_per_op / hit.wall_us_per_op);
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < k; ++i) ids.push_back(res.key_of(id_of(i)));
    for (std::size_t i = 0; i < ids.size(); i += 1000)
        db.transport().remove_many(std::span<const std::string>(ids).subspan(i, std::min<std::size_t>(1000, ids.size() - i)));
    db.transport().remove("s3db.json");
}
