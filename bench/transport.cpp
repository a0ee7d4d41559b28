// Transport benchmark: PUT / GET / HEAD / LIST throughput and client CPU per request for Memory,
// Filesystem and S3 (Ceph RGW), at concurrency 1, 16 and 64, next to a plain libcurl loop sending
// the same signed requests to the same server (the limit for this machine). Prints, never asserts.
//
//   build/bench/transport [--s3 URL] [--quick]     URL as S3DB_TEST_S3_URL (http://KEY:SECRET@host:port/bucket)

#include <curl/curl.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "cpu_time.hpp"
#include "s3db/detail/hashing.hpp"
#include "s3db/transport/s3/sigv4.hpp"
#include "s3db/transport/any.hpp"
#include "s3db/transport/counting.hpp"
#include "s3db/transport/filesystem.hpp"
#include "s3db/transport/memory.hpp"
#include "s3db/transport/s3.hpp"

using namespace s3db;
using s3db::bench::cpu_seconds;
using Clock = std::chrono::steady_clock;

namespace {

struct Result {
    double ops_per_s, cpu_us_per_op;
};

/// Runs `op(i)` for i in [0, n) on `threads` threads; wall time gives ops/s, process CPU time per op.
Result measure(std::size_t n, int threads, const std::function<void(std::size_t)>& op) {
    std::atomic<std::size_t> next{0};
    double cpu0 = cpu_seconds();
    auto t0 = Clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&] {
            for (std::size_t i; (i = next++) < n;) op(i);
        });
    for (auto& t : pool) t.join();
    double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    return {double(n) / wall, (cpu_seconds() - cpu0) * 1e6 / double(n)};
}

const std::string body(150, 'x');
Metadata four_entries() { return {{"0", "alice"}, {"1", "alice@example.com"}, {"2", "p"}, {"_v", "v1"}}; }
std::string key_of(std::size_t i) { return "bench/data/id=" + std::to_string(1000000 + i); }

void row(const char* store, const char* op, int conc, Result r, double requests_per_op) {
    std::printf("%-22s %-5s %4d %12.0f %10.2f %8.2f\n", store, op, conc, r.ops_per_s, r.cpu_us_per_op, requests_per_op);
    std::fflush(stdout);
}

/// PUT, GET, HEAD over n keys and LIST pages over them, for one transport.
template <class T>
std::vector<Result> run_store(const char* name, Counting<T>& store, std::size_t n, int conc, bool cold_and_warm) {
    std::vector<Result> out;
    auto put = [&](std::size_t i) { store.put(key_of(i), body, {.content_type = "application/json", .metadata = four_entries()}); };
    auto count = [&](auto fn, std::size_t ops) {
        store.reset();
        auto r = measure(ops, conc, fn);
        return std::pair{r, double(store.counts().total()) / double(ops)};
    };
    auto [p, pr] = count(put, n);
    row(name, cold_and_warm ? "PUT0" : "PUT", conc, p, pr);
    out.push_back(p);
    if (cold_and_warm) {  // the first pass pays the kernel's first-touch page faults as the store grows
        auto [w, wr] = count(put, n);
        row(name, "PUT", conc, w, wr);
        out.back() = w;
    }
    auto [g, gr] = count([&](std::size_t i) { store.get(key_of(i)); }, n);
    row(name, "GET", conc, g, gr);
    out.push_back(g);
    auto [h, hr] = count([&](std::size_t i) { store.head(key_of(i)); }, n);
    row(name, "HEAD", conc, h, hr);
    out.push_back(h);
    std::size_t pages = std::max<std::size_t>(n / 1000, 1);
    auto [l, lr] = count([&](std::size_t) { store.list({.prefix = "bench/"}); }, std::min<std::size_t>(n / 10, 200 * pages));
    row(name, "LIST", conc, l, lr);
    out.push_back(l);
    return out;
}

/// The plain libcurl loop: one easy handle per thread, keep-alive, the same SigV4-signed requests.
class RawCurl {
public:
    RawCurl(const ConnectionString& c, std::string bucket) : c_(c), bucket_(std::move(bucket)) {
        host_ = c.endpoint.substr(c.endpoint.find("://") + 3);
    }
    std::vector<Result> run(std::size_t n, int conc) {
        std::vector<Result> out;
        out.push_back(measure(n, conc, [&](std::size_t i) { send("PUT", "/" + bucket_ + "/raw/" + key_of(i), body); }));
        row("rgw plain libcurl", "PUT", conc, out.back(), 1);
        out.push_back(measure(n, conc, [&](std::size_t i) { send("GET", "/" + bucket_ + "/raw/" + key_of(i), {}); }));
        row("rgw plain libcurl", "GET", conc, out.back(), 1);
        out.push_back(measure(n, conc, [&](std::size_t i) { send("HEAD", "/" + bucket_ + "/raw/" + key_of(i), {}); }));
        row("rgw plain libcurl", "HEAD", conc, out.back(), 1);
        std::size_t pages = std::max<std::size_t>(n / 1000, 1);
        out.push_back(measure(std::min<std::size_t>(n / 10, 200 * pages), conc, [&](std::size_t) {
            send("GET", "/" + bucket_, {}, {{"list-type", "2"}, {"prefix", "raw/bench/"}});
        }));
        row("rgw plain libcurl", "LIST", conc, out.back(), 1);
        return out;
    }

private:
    static size_t sink(char* p, size_t size, size_t n, void* out) {
        static_cast<std::string*>(out)->append(p, size * n);
        return size * n;
    }
    void send(const char* method, const std::string& path, std::string_view payload,
              std::vector<std::pair<std::string, std::string>> query = {}) {
        thread_local CURL* h = curl_easy_init();
        std::string wire_path = detail::uri_encode(path, detail::UriSet::unreserved_path);
        detail::sigv4::Request r{method, wire_path, query, {{"host", host_}, {"x-amz-content-sha256", detail::sha256_hex(payload)}},
                                 detail::sha256_hex(payload)};
        if (payload.size()) {
            r.headers.emplace_back("content-type", "application/json");
            for (auto& [k, v] : four_entries()) r.headers.emplace_back("x-amz-meta-" + k, v);
        }
        detail::sigv4::sign_request(r, Credentials{c_.access_key_id, c_.secret_access_key, {}}, "us-east-1", "s3",
                                    std::chrono::system_clock::now());
        std::string url = c_.endpoint + wire_path;
        for (std::size_t i = 0; i < query.size(); ++i)
            url += (i ? "&" : "?") + query[i].first + "=" + detail::uri_encode(query[i].second);
        curl_slist* headers = nullptr;
        for (auto& [k, v] : r.headers)
            if (k != "host") headers = curl_slist_append(headers, (k + ": " + v).c_str());
        std::string response;
        curl_easy_reset(h);
        curl_easy_setopt(h, CURLOPT_URL, url.c_str());
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &response);
        if (std::string_view(method) == "PUT") {
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload.data());
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, long(payload.size()));
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
        } else if (std::string_view(method) == "HEAD") {
            curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        }
        CURLcode rc = curl_easy_perform(h);
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        curl_slist_free_all(headers);
        if (rc != CURLE_OK || status >= 300) std::fprintf(stderr, "plain loop: %s %s -> %ld\n", method, path.c_str(), status);
    }

    ConnectionString c_;
    std::string bucket_, host_;
};

void ratio_rows(const std::vector<Result>& lib, const std::vector<Result>& raw, int conc) {
    const char* ops[] = {"PUT", "GET", "HEAD", "LIST"};
    for (std::size_t i = 0; i < 4; ++i)
        std::printf("%-22s %-5s %4d   throughput %5.2fx   cpu/request %5.2fx\n", "s3db vs plain libcurl", ops[i], conc,
                    lib[i].ops_per_s / raw[i].ops_per_s, lib[i].cpu_us_per_op / raw[i].cpu_us_per_op);
}

}  // namespace

int main(int argc, char** argv) {
    std::string s3_url = std::getenv("S3DB_TEST_S3_URL") ? std::getenv("S3DB_TEST_S3_URL") : "";
    bool quick = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--s3" && i + 1 < argc) s3_url = argv[++i];
        else if (a == "--quick") quick = true;
    }
    std::printf("%-22s %-5s %4s %12s %10s %8s\n", "store", "op", "conc", "ops/s", "cpu us/op", "req/op");
    for (int conc : {1, 16, 64}) {
        Counting<Memory> memory;
        run_store("memory", memory, quick ? 20000 : 200000, conc, true);
    }
    auto dir = std::filesystem::temp_directory_path() / "s3db-bench-fs";
    for (bool durable : {false, true}) {
        for (int conc : {1, 16, 64}) {
            std::filesystem::remove_all(dir);
            Counting<Filesystem> fs(FilesystemOptions{.root = dir, .durable = durable});
            run_store(durable ? "filesystem durable" : "filesystem", fs, durable ? 500 : (quick ? 2000 : 10000), conc, false);
        }
    }
    std::filesystem::remove_all(dir);
    if (s3_url.empty()) {
        std::printf("(no S3 endpoint: pass --s3 URL or set S3DB_TEST_S3_URL to include Ceph RGW)\n");
        return 0;
    }
    auto c = ConnectionString::parse(s3_url);
    auto bucket = c.bucket + "-bench";
    auto opts = s3_options(c);
    opts.bucket = bucket;
    Counting<S3> s3(opts);
    try {
        s3.inner().create_bucket();
    } catch (const TransportError& e) {
        if (e.code() != "BucketAlreadyOwnedByYou" && e.code() != "BucketAlreadyExists") throw;
    }
    RawCurl raw(c, bucket);
    std::size_t n = quick ? 300 : 1500;
    // RGW's first writes into a fresh bucket are slow; warm both key sets before measuring.
    run_store("rgw s3db (warm-up)", s3, n, 16, false);
    raw.run(n, 16);
    for (int conc : {1, 16, 64}) {
        auto lib = run_store("rgw s3db", s3, n, conc, false);
        auto plain = raw.run(n, conc);
        ratio_rows(lib, plain, conc);
    }
    return 0;
}
