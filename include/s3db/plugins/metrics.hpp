#pragma once
// Metrics: counts, timings and errors of every public resource operation, in memory, flushed now and
// then to the resources s3db.js's MetricsPlugin writes (`plg_metrics`, `plg_metrics_errors`,
// `plg_metrics_performance`: the same fields, behavior body-overflow, partition `byDate {createdAt}`),
// and shown as s3db.js's getMetrics() structure or in the Prometheus text format.
//
//   BasicDatabase<S3, Metrics> db(s3, {}, Metrics({.flush_interval = 30s, .slow_query_threshold = 500ms}));
//   db.plugin<Metrics>().get_metrics().to_json();   // the seed's {performance, usage, errors, cache}
//   db.plugin<Metrics>().prometheus();              // text exposition, version 0.0.4
//
// This header holds the plugin: its options and results, the hooks, get_metrics(), prometheus()
// and flush() to its resources. Its parts:
//   metrics/histogram.hpp    LogHistogram, the latency histogram of a series
//   metrics/series.hpp       the (resource, operation) series and the table that finds them
//   metrics/prometheus.hpp   the Prometheus text format (0.0.4) writer
//
// The hot path (on_operation) finds the (resource, operation) series in an open-addressing table
// read without a lock, then updates it under that series' own mutex: threads on different series
// never meet, and nothing allocates once a series exists.
//
// Latency percentiles come from a fixed-bucket log-linear histogram per series (1 ns to 2^44 ns ≈
// 4.9 h, longer ones in the last bucket). A percentile is the midpoint of the bucket holding the
// nearest-rank sample, clamped to the exact min and max: it is within 1/32 (3.125 %) of that
// sample's true value.
//
// Counts, errors, totals, min and max are exact. `sample_rate` picks which operations are timed into
// the histogram and the performance log (a per-series splitmix64 stream seeded from `sample_seed`:
// reproducible); slow operations are always recorded.
//
// Every resource is observed but the plugin's own three and `exclude_resources`, as in s3db.js: other
// plugins' resources (plg_audits, …) count like the user's.
//
// flush() writes one `plg_metrics` record per (resource, operation) and per operation ("global")
// that had operations since the last flush, one `plg_metrics_performance` record per logged timing
// and one `plg_metrics_errors` record per logged error; on the first flush of each day it deletes
// records whose createdAt is older than `retention_days` (their byDate refs come first in a listing,
// so it stops at the first recent one). A flush with nothing new writes nothing (the day's first
// still looks for records past retention: a LIST per log). A thread started
// in on_start flushes every `flush_interval`; on_stop wakes it (condition variable), joins it and
// flushes once more.

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <typeindex>
#include <typeinfo>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "s3db/detail/config.hpp"
#include "s3db/errors.hpp"
#include "s3db/core/hooks.hpp"
#include "s3db/core/ids.hpp"
#include "s3db/core/layout.hpp"
#include "s3db/core/listing.hpp"
#include "s3db/core/partitions.hpp"
#include "s3db/core/resource.hpp"
#include "s3db/core/resource_ref.hpp"
#include "s3db/detail/time.hpp"
#include "s3db/core/plugin.hpp"
#include "s3db/transport/transport.hpp"
#include "s3db/plugins/metrics/histogram.hpp"
#include "s3db/plugins/metrics/prometheus.hpp"
#include "s3db/plugins/metrics/series.hpp"

namespace s3db {

/// The three resources the plugin writes (s3db.js's `resourceNames`).
struct MetricsResourceNames {
    std::string metrics = "plg_metrics";
    std::string errors = "plg_metrics_errors";
    std::string performance = "plg_metrics_performance";
};

/// One operation that took at least `slow_query_threshold`.
struct SlowOperation {
    std::string resource;
    std::string operation;
    std::string id;                      // the record id, when the operation has one
    std::chrono::nanoseconds duration{};
    std::int64_t timestamp_ms = 0;       // when it finished (epoch ms)
    std::string error;                   // the error type when it failed

    S3DB_DECL json to_json() const;
};

struct MetricsOptions {
    bool enabled = true;              // false: nothing is observed, no resource is created
    bool collect_performance = true;  // latency histograms and the performance log
    bool collect_errors = true;       // the error log (counts by type are kept either way)
    bool collect_usage = true;        // the hour-of-day usage pattern
    int retention_days = 30;          // records older than this are deleted on flush; 0: kept
    std::chrono::milliseconds flush_interval{60'000};  // 0: no flush thread (flush() by hand)
    bool flush_on_stop = true;        // on_stop flushes what is left
    double sample_rate = 1.0;         // share of operations timed, 0..1
    std::uint64_t sample_seed = 0x5eed;
    bool track_slow_queries = true;
    std::chrono::nanoseconds slow_query_threshold = std::chrono::seconds(1);
    std::size_t slow_operations_limit = 100;   // the most recent slow operations kept
    std::size_t performance_log_limit = 100;   // timings logged per (resource, operation) per flush
    std::size_t error_log_limit = 1000;        // errors logged per flush
    std::size_t batch_size = 100;              // records per insert_many at flush
    MetricsResourceNames resource_names{};
    std::vector<std::string> exclude_resources{};  // never observed (the plugin's own always are)
    /// Called on the operation's thread for each slow operation (keep it short).
    std::function<void(const SlowOperation&)> on_slow_query{};
    /// The wall clock of timestamps, usage hours and retention (tests move it); the system's when unset.
    std::function<std::chrono::system_clock::time_point()> clock{};
};

/// Timing of one operation, in milliseconds (seed: `{avg, min, max, total}`), plus errors and
/// percentiles (0 when no operation was timed).
struct OperationTiming {
    std::uint64_t total = 0;   // operations
    std::uint64_t errors = 0;
    double avg = 0, min = 0, max = 0;
    double p50 = 0, p95 = 0, p99 = 0;
    std::uint64_t samples = 0;  // operations timed into the percentiles (sample_rate)

    S3DB_DECL json to_json() const;
};

struct SlowestOperation {
    std::string operation;
    std::string resource;
    double avg_time = 0;  // ms
    std::uint64_t count = 0;
};

struct ResourceUsage {
    std::uint64_t inserts = 0;  // insert, insert_many
    std::uint64_t updates = 0;  // update, patch, replace, upsert
    std::uint64_t deletes = 0;  // delete, delete_many, delete_all
    std::uint64_t reads = 0;    // everything else
};

/// What getMetrics() answers in the seed, since the plugin was made. Times in milliseconds.
struct MetricsSnapshot {
    struct Performance {
        double average_response_time = 0;
        std::uint64_t total_requests = 0;  // public operations observed
        double requests_per_second = 0;
        std::vector<SlowestOperation> slowest_operations;  // up to 10 series, highest average first
        std::map<std::string, OperationTiming> operation_timing;  // by operation, all resources
        std::map<std::string, std::map<std::string, OperationTiming>> resource_timing;  // resource -> op
        std::vector<SlowOperation> slow_operations;  // the most recent over the threshold, oldest first
        std::uint64_t slow_operations_total = 0;
    } performance;
    struct Usage {
        std::map<std::string, ResourceUsage> resources;
        std::uint64_t total_operations = 0;
        std::string most_active_resource;
        std::string peak_usage_hour;  // "14:00" (UTC)
        std::map<std::string, std::uint64_t> daily_patterns;  // "00:00" … "23:00" -> operations
    } usage;
    struct Errors {
        std::uint64_t total = 0;
        std::map<std::string, std::uint64_t> by_type;  // "RecordNotFound", "ValidationError", …
        std::map<std::string, std::uint64_t> by_resource;
        double error_rate = 0;  // errors / operations
    } errors;
    struct Cache {
        double hit_rate = 0;
        std::uint64_t total_hits = 0, total_misses = 0;  // from the cache plugin's cache.hit / cache.miss
    } cache;
    std::int64_t start_time_ms = 0;
    double uptime_seconds = 0;

    /// The seed's field names: performance.averageResponseTime, usage.mostActiveResource, …
    S3DB_DECL json to_json() const;
};

/// What one flush wrote and removed.
struct MetricsFlushResult {
    bool skipped = false;        // the plugin is not installed (or not enabled): nothing to write to
    std::size_t metrics = 0;     // plg_metrics records written
    std::size_t performance = 0; // plg_metrics_performance records written
    std::size_t errors = 0;      // plg_metrics_errors records written
    std::size_t removed = 0;     // old records deleted (retention)
    std::size_t failed = 0;      // records that could not be written
    std::string error;           // the first failure

    bool ok() const noexcept { return failed == 0 && error.empty(); }
    S3DB_DECL json to_json() const;
};

/// Which of the three resources.
enum class MetricsLog { metrics = 0, errors = 1, performance = 2 };

/// Filters of records(): s3db.js's getMetrics / getErrorLogs / getPerformanceLogs options.
struct MetricsRecordQuery {
    std::string type{};       // plg_metrics only ("operation"); empty: any
    std::string resource{};
    std::string operation{};
    std::optional<std::chrono::system_clock::time_point> from{};  // inclusive, on `timestamp`
    std::optional<std::chrono::system_clock::time_point> to{};
    std::size_t limit = 100;  // 0: all
    std::size_t offset = 0;
};

namespace detail {

inline double metrics_ms(std::uint64_t ns) { return static_cast<double>(ns) / 1e6; }

/// "s3db::RecordNotFound" -> "RecordNotFound"; other types keep their namespaces ("std::bad_alloc").
S3DB_DECL std::string metrics_type_name(const std::type_info& type);

/// `<prefix>-<ms>-<9 base36>` as s3db.js names metric records: 4 characters count records made in
/// this process (ids of one millisecond sort in order), 5 are random.
S3DB_DECL std::string metrics_record_id(std::string_view prefix, std::int64_t ms);

/// 0 inserts, 1 updates, 2 deletes, 3 reads.
S3DB_DECL int metrics_usage_kind(std::string_view op) noexcept;

/// The plugin's three resources (metrics, errors, performance), by reference.
struct MetricsBackend {
    DatabaseRef db;
    std::array<ResourceRef, 3> res;
    std::size_t batch = 100;

    /// Inserts `records` into log `which` in batches; `written[i]` tells whether records[i] was stored.
    S3DB_DECL void insert(int which, std::vector<json>& records, std::vector<bool>& written, std::string& first_error) const;
    /// Deletes the records of log `which` whose byDate ref is before `cutoff` (YYYY-MM-DD). Refs
    /// list in date order, so the listing stops at the first recent one. Records and refs go
    /// together in DeleteObjects batches when byDate is the only partition; otherwise through the
    /// resource.
    S3DB_DECL std::size_t remove_before(int which, const std::string& cutoff) const;
    std::vector<json> list(int which) const { return res[which].list(ListQuery{.cache = false}); }
    /// Every key of the three resources (not of resources nested under their names).
    S3DB_DECL std::size_t purge() const;
};

struct MetricsErrorEntry {
    const MetricsSeries* series;
    std::string id, type, message;
    std::int64_t ms;
};

/// Everything the plugin keeps, shared so the plugin stays movable.
struct MetricsCore {
    S3DB_DECL explicit MetricsCore(MetricsOptions o);

    const MetricsOptions options;
    std::int64_t started_ms = 0;
    MetricsSeriesTable table;

    S3DB_DECL std::int64_t now_ms() const;

    S3DB_DECL bool ignored(std::string_view resource) const noexcept;

    // errors (the error path only)
    std::mutex errors_mutex;
    std::map<std::string, std::uint64_t, std::less<>> by_type;
    std::unordered_map<std::type_index, std::string> type_names;
    std::vector<MetricsErrorEntry> error_log;
    std::uint64_t error_log_dropped = 0;

    S3DB_DECL std::string type_name_of(const std::exception& e);  // under errors_mutex

    // slow operations
    mutable std::mutex slow_mutex;
    std::deque<SlowOperation> slow;
    std::uint64_t slow_total = 0;

    // the cache plugin's events
    std::atomic<std::uint64_t> cache_hits{0}, cache_misses{0};

    // the resources
    mutable std::mutex backend_mutex;
    std::shared_ptr<const MetricsBackend> backend;
    const void* listening_to = nullptr;  // the database whose cache events are counted
    std::string last_flush_error;         // under backend_mutex
    S3DB_DECL std::shared_ptr<const MetricsBackend> backend_or_null() const;

    // flushing
    struct Baseline {
        std::uint64_t count = 0, errors = 0, total_ns = 0, slow = 0;
        LogHistogram histogram;
    };
    std::mutex flush_mutex;
    // What earlier flushes wrote of each series: in its own record, and in its operation's global one.
    std::unordered_map<const MetricsSeries*, Baseline> baselines, global_baselines;
    std::string last_cleanup_day;
    std::atomic<std::uint64_t> flushes{0}, flush_failures{0};

    // the flush thread
    std::mutex thread_mutex;
    std::condition_variable wake;
    bool stopping = false;
    std::thread thread;

    S3DB_DECL void stop_thread();
};

}  // namespace detail

class Metrics : public Plugin<Metrics> {
public:
    static constexpr std::string_view name = "Metrics";

    S3DB_DECL explicit Metrics(MetricsOptions options = {}, PluginOptions plugin_options = {});
    Metrics(Metrics&&) noexcept = default;
    Metrics& operator=(Metrics&&) = delete;
    S3DB_DECL ~Metrics();

    const MetricsOptions& options() const noexcept { return core_->options; }
    const MetricsResourceNames& resource_names() const noexcept { return core_->options.resource_names; }

    // ---- lifecycle ------------------------------------------------------------------------------

    S3DB_DECL void validate() const;

    /// Creates the three resources as s3db.js does, or adopts those the bucket has, and counts the
    /// cache plugin's hits and misses.
    template <class Db>
    void on_install(Db& db) {
        auto& core = *core_;
        if (!core.options.enabled) return;
        const auto& n = core.options.resource_names;
        std::array<typename Db::Resource*, 3> res{};
        const std::array<std::string, 3> names{n.metrics, n.errors, n.performance};
        for (int i = 0; i < 3; ++i)
            res[i] = db.has_resource(names[i]) ? &db.resource(names[i])
                                               : &db.create_resource(resource_config(static_cast<MetricsLog>(i)));

        auto b = std::make_shared<detail::MetricsBackend>();
        b->db = DatabaseRef(db);
        for (int i = 0; i < 3; ++i) b->res[i] = ResourceRef(*res[i]);
        b->batch = core.options.batch_size;

        std::lock_guard lock(core.backend_mutex);
        core.backend = std::move(b);
        if (core.listening_to != &db) {  // once per database: reconnecting must not count twice
            core.listening_to = &db;
            std::weak_ptr<detail::MetricsCore> weak = core_;
            db.on_plugin_event("cache.hit", [weak](const json&) {
                if (auto c = weak.lock()) c->cache_hits.fetch_add(1, std::memory_order_relaxed);
            });
            db.on_plugin_event("cache.miss", [weak](const json&) {
                if (auto c = weak.lock()) c->cache_misses.fetch_add(1, std::memory_order_relaxed);
            });
        }
    }

    /// Starts the flush thread (when installed and flush_interval > 0).
    S3DB_DECL void on_start();

    /// Wakes and joins the flush thread at once (whatever is left of its interval), then flushes
    /// once more when flush_on_stop.
    S3DB_DECL void on_stop();

    S3DB_DECL void on_uninstall(const UninstallOptions& o);

    S3DB_DECL PluginHealth health() const;

    /// True while the flush thread runs.
    S3DB_DECL bool flushing_in_background() const;
    std::uint64_t flushes() const noexcept { return core_->flushes.load(std::memory_order_relaxed); }

    // ---- the hook ---------------------------------------------------------------------------------

    S3DB_DECL void on_operation(const OperationEvent& e);

    // ---- what it shows ----------------------------------------------------------------------------

    /// The seed's getMetrics() structure, since the plugin was made (not reset by flushes).
    S3DB_DECL MetricsSnapshot get_metrics() const;

    /// The Prometheus text exposition (format 0.0.4): s3db.js's metric names (operations and errors
    /// by resource and operation, average duration, uptime, resources), plus a latency summary with
    /// quantiles 0.5 / 0.95 / 0.99, slow operations, errors by type and the cache plugin's hits.
    S3DB_DECL std::string prometheus() const;

    // ---- flushing -------------------------------------------------------------------------------

    /// Writes what happened since the last flush to the three resources and applies the retention.
    /// Safe from any thread (flushes run one at a time). Requests: 2 PUTs per record (record +
    /// byDate ref, batch_size at a time on the pool); on the first flush of a day, 1 LIST per
    /// resource per 1000 expired refs (+1) and 1 DeleteObjects per 500 expired records. Records that
    /// fail are counted in the result; a plg_metrics record that failed is written again, grown by
    /// what came since, by the next flush (logged timings and errors are not), and one that was
    /// stored is never counted twice.
    [[nodiscard]] S3DB_DECL MetricsFlushResult flush();

    /// Records of one of the resources, newest first (s3db.js's getMetrics / getErrorLogs /
    /// getPerformanceLogs). Reads the whole resource: LIST + 1 GET per record.
    S3DB_DECL std::vector<json> records(MetricsLog which, const MetricsRecordQuery& q = {}) const;

    /// The definitions s3db.js's MetricsPlugin gives its resources (the same attributes, so an
    /// existing s3db.js plg_metrics is adopted as it is).
    S3DB_DECL ResourceConfig resource_config(MetricsLog which) const;

private:
    S3DB_DECL bool sampled(detail::MetricsSeries& s) const noexcept;  // under s.mutex

    S3DB_DECL void record_error(const detail::MetricsSeries& s, const OperationEvent& e, std::int64_t now);

    S3DB_DECL void record_slow(const detail::MetricsSeries& s, const OperationEvent& e, std::int64_t now);

    S3DB_DECL void flush_loop();

    /// plg_metrics: one record per (resource, operation) and one per operation ("global") with
    /// operations since the last flush.
    S3DB_DECL static void write_counters(detail::MetricsCore& core, const detail::MetricsBackend& backend, std::int64_t now,
                                         const std::string& stamp, MetricsFlushResult& result);

    S3DB_DECL static void count_written(const std::vector<bool>& written, std::size_t& ok, std::size_t& failed);

    /// plg_metrics_performance and plg_metrics_errors: the logged timings and errors, then cleared.
    S3DB_DECL static void write_logs(detail::MetricsCore& core, const detail::MetricsBackend& backend, MetricsFlushResult& result);


    std::shared_ptr<detail::MetricsCore> core_;
};

}  // namespace s3db

#if S3DB_DEFINE_BODIES
#include <cstdlib>
#include <ctime>
#include <limits>
#include <tuple>

#if __has_include(<cxxabi.h>)
#include <cxxabi.h>
#define S3DB_DETAIL_HAS_CXXABI 1
#endif

namespace s3db {

S3DB_DECL json SlowOperation::to_json() const {
    return json{{"resource", resource},
                {"operation", operation},
                {"id", id},
                {"duration", std::chrono::duration<double, std::milli>(duration).count()},
                {"timestamp", detail::iso_string(timestamp_ms)},
                {"error", error}};
}

S3DB_DECL json OperationTiming::to_json() const {
    return json{{"avg", avg}, {"min", min}, {"max", max}, {"total", total}, {"errors", errors},
                {"p50", p50}, {"p95", p95}, {"p99", p99}, {"samples", samples}};
}

S3DB_DECL json MetricsSnapshot::to_json() const {
    json slowest = json::array();
    for (auto& s : performance.slowest_operations)
        slowest.push_back({{"operation", s.operation}, {"resource", s.resource}, {"avgTime", s.avg_time}, {"count", s.count}});
    json timing = json::object();
    for (auto& [op, t] : performance.operation_timing) timing[op] = t.to_json();
    json by_resource_timing = json::object();
    for (auto& [r, ops] : performance.resource_timing)
        for (auto& [op, t] : ops) by_resource_timing[r][op] = t.to_json();
    json slow = json::array();
    for (auto& s : performance.slow_operations) slow.push_back(s.to_json());
    json resources = json::object();
    for (auto& [r, u] : usage.resources)
        resources[r] = {{"inserts", u.inserts}, {"updates", u.updates}, {"deletes", u.deletes}, {"reads", u.reads}};
    return json{
        {"performance",
         {{"averageResponseTime", performance.average_response_time},
          {"totalRequests", performance.total_requests},
          {"requestsPerSecond", performance.requests_per_second},
          {"slowestOperations", std::move(slowest)},
          {"operationTiming", std::move(timing)},
          {"resourceTiming", std::move(by_resource_timing)},
          {"slowOperations", std::move(slow)},
          {"slowOperationsTotal", performance.slow_operations_total}}},
        {"usage",
         {{"resources", std::move(resources)},
          {"totalOperations", usage.total_operations},
          {"mostActiveResource", usage.most_active_resource},
          {"peakUsageHour", usage.peak_usage_hour},
          {"dailyPatterns", usage.daily_patterns}}},
        {"errors",
         {{"total", errors.total},
          {"byType", errors.by_type},
          {"byResource", errors.by_resource},
          {"errorRate", errors.error_rate}}},
        {"cache", {{"hitRate", cache.hit_rate}, {"totalHits", cache.total_hits}, {"totalMisses", cache.total_misses}}},
        {"uptime", {{"startTime", detail::iso_string(start_time_ms)}, {"seconds", uptime_seconds}}}};
}

S3DB_DECL json MetricsFlushResult::to_json() const {
    return json{{"metrics", metrics}, {"performance", performance}, {"errors", errors},
                {"removed", removed}, {"failed", failed}, {"error", error}};
}

namespace detail {

S3DB_DECL std::string metrics_type_name(const std::type_info& type) {
    std::string name = type.name();
#ifdef S3DB_DETAIL_HAS_CXXABI
    int status = 0;
    if (char* d = abi::__cxa_demangle(type.name(), nullptr, nullptr, &status)) {
        if (status == 0) name = d;
        std::free(d);
    }
#endif
    if (name.starts_with("s3db::") && name.find('<') == std::string::npos) name = name.substr(name.rfind("::") + 2);
    return name;
}

S3DB_DECL std::string metrics_record_id(std::string_view prefix, std::int64_t ms) {
    static std::atomic<std::uint64_t> sequence{0};
    static constexpr char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    std::uint64_t n = sequence.fetch_add(1, std::memory_order_relaxed) % (36ull * 36 * 36 * 36);
    unsigned char random[5];
    random_fill(random, sizeof random);
    char tail[9];
    for (int i = 3; i >= 0; --i, n /= 36) tail[i] = digits[n % 36];
    for (int i = 0; i < 5; ++i) tail[4 + i] = digits[random[i] % 36];
    std::string id(prefix);
    id += '-';
    id += std::to_string(ms);
    id += '-';
    id.append(tail, sizeof tail);
    return id;
}

S3DB_DECL void MetricsBackend::insert(int which, std::vector<json>& records, std::vector<bool>& written,
                                     std::string& first_error) const {
    written.assign(records.size(), false);
    for (std::size_t at = 0; at < records.size(); at += batch) {
        const auto end = std::min(records.size(), at + batch);
        std::vector<json> part(std::make_move_iterator(records.begin() + static_cast<std::ptrdiff_t>(at)),
                               std::make_move_iterator(records.begin() + static_cast<std::ptrdiff_t>(end)));
        auto results = res[which].insert_many(std::move(part));
        for (std::size_t i = 0; i < results.size(); ++i) {
            written[at + i] = results[i].record.has_value();
            if (!written[at + i] && first_error.empty()) first_error = results[i].error;
        }
    }
}

S3DB_DECL std::size_t MetricsBackend::remove_before(int which, const std::string& cutoff) const {
    const ResourceRef& r = res[which];
    auto store = db.store();
    std::vector<std::string> ids, keys;
    scan_days(store, r.partitions(), "byDate", "", [&](const std::string& key, std::string id, std::string_view day) {
        if (day >= cutoff) return false;  // refs list in day order: the rest is recent
        keys.push_back(key);
        ids.push_back(std::move(id));
        return true;
    });
    if (ids.empty()) return 0;
    if (r.partitions().partitions().size() != 1) {
        r.remove_many(ids);
        return ids.size();
    }
    for (auto& id : ids) keys.push_back(r.key_of(id));
    for (std::size_t at = 0; at < keys.size(); at += max_delete_keys) {
        std::vector<std::string> part(keys.begin() + static_cast<std::ptrdiff_t>(at),
                                      keys.begin() + static_cast<std::ptrdiff_t>(std::min(keys.size(), at + max_delete_keys)));
        auto removed = store.remove_many(part);
        if (!removed.failed.empty())
            throw TransportError("metrics retention could not delete " + std::to_string(removed.failed.size()) + " objects",
                                 {0, removed.failed.front().code, {}, removed.failed.front().key, false});
    }
    return ids.size();
}

S3DB_DECL std::size_t MetricsBackend::purge() const {
    std::size_t removed = 0;
    const auto catalogue = db.resources();
    auto store = db.store();
    for (auto& r : res) removed += remove_resource_keys(store, r.name(), catalogue);
    return removed;
}

S3DB_DECL int metrics_usage_kind(std::string_view op) noexcept {
    if (op == "insert" || op == "insert_many") return 0;
    if (op == "update" || op == "patch" || op == "replace" || op == "upsert") return 1;
    if (op == "delete" || op == "delete_many" || op == "delete_all") return 2;
    return 3;
}

S3DB_DECL MetricsCore::MetricsCore(MetricsOptions o) : options(std::move(o)) {
    started_ms = now_ms();
}

S3DB_DECL std::int64_t MetricsCore::now_ms() const {
    if (options.clock) return epoch_ms(options.clock());
#if defined(CLOCK_REALTIME_COARSE)
    // A few ms of resolution is enough for timestamps and hours, at a fraction of the cost.
    timespec ts;
    if (::clock_gettime(CLOCK_REALTIME_COARSE, &ts) == 0)
        return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
#endif
    return epoch_ms(std::chrono::system_clock::now());
}

S3DB_DECL bool MetricsCore::ignored(std::string_view resource) const noexcept {
    const auto& n = options.resource_names;
    if (metrics_same(resource, n.metrics) || metrics_same(resource, n.errors) || metrics_same(resource, n.performance))
        return true;
    for (auto& r : options.exclude_resources)
        if (metrics_same(r, resource)) return true;
    return false;
}

S3DB_DECL std::string MetricsCore::type_name_of(const std::exception& e) {  // under errors_mutex
    auto [it, fresh] = type_names.try_emplace(std::type_index(typeid(e)));
    if (fresh) it->second = metrics_type_name(typeid(e));
    return it->second;
}

S3DB_DECL std::shared_ptr<const MetricsBackend> MetricsCore::backend_or_null() const {
    std::lock_guard lock(backend_mutex);
    return backend;
}

S3DB_DECL void MetricsCore::stop_thread() {
    std::thread t;
    {
        std::lock_guard lock(thread_mutex);
        stopping = true;
        t = std::move(thread);
    }
    wake.notify_all();
    if (t.joinable()) t.join();
}
}  // namespace detail

S3DB_DECL Metrics::Metrics(MetricsOptions options, PluginOptions plugin_options)
    : Plugin<Metrics>(plugin_options), core_(std::make_shared<detail::MetricsCore>(std::move(options))) {}

S3DB_DECL Metrics::~Metrics() {
    if (core_) core_->stop_thread();
}

S3DB_DECL void Metrics::validate() const {
    const auto& o = core_->options;
    if (!(o.sample_rate >= 0.0 && o.sample_rate <= 1.0))
        throw ConfigError("Metrics: sample_rate is " + std::to_string(o.sample_rate) + "; it must be between 0 and 1");
    if (o.retention_days < 0)
        throw ConfigError("Metrics: retention_days is " + std::to_string(o.retention_days) + "; it must be 0 (keep) or more");
    if (o.flush_interval.count() < 0) throw ConfigError("Metrics: flush_interval is negative");
    if (o.slow_query_threshold.count() < 0) throw ConfigError("Metrics: slow_query_threshold is negative");
    if (o.batch_size == 0) throw ConfigError("Metrics: batch_size must be at least 1");
    const auto& n = o.resource_names;
    if (n.metrics.empty() || n.errors.empty() || n.performance.empty())
        throw ConfigError("Metrics: resource_names may not be empty");
    if (n.metrics == n.errors || n.metrics == n.performance || n.errors == n.performance)
        throw ConfigError("Metrics: resource_names must be three different resources");
}

S3DB_DECL void Metrics::on_start() {
    auto& core = *core_;
    if (!core.backend_or_null() || core.options.flush_interval.count() <= 0) return;
    std::lock_guard lock(core.thread_mutex);
    if (core.thread.joinable()) return;
    core.stopping = false;
    core.thread = std::thread([this] { flush_loop(); });
}

S3DB_DECL void Metrics::on_stop() {
    core_->stop_thread();
    if (core_->options.flush_on_stop && core_->backend_or_null()) {
        auto r = flush();
        if (!r.ok()) throw PluginError(name, "the last flush failed: " + r.error);
    }
}

S3DB_DECL void Metrics::on_uninstall(const UninstallOptions& o) {
    auto b = core_->backend_or_null();
    if (o.purge_data && b) b->purge();
    std::lock_guard lock(core_->backend_mutex);
    core_->backend.reset();
}

S3DB_DECL PluginHealth Metrics::health() const {
    auto& core = *core_;
    std::lock_guard lock(core.backend_mutex);
    if (core.options.enabled && !core.backend) return {false, "the metric resources are not open"};
    std::string detail = std::to_string(core.flushes.load()) + " flushes";
    if (!core.last_flush_error.empty()) return {false, detail + "; the last one failed: " + core.last_flush_error};
    return {true, detail};
}

S3DB_DECL bool Metrics::flushing_in_background() const {
    std::lock_guard lock(core_->thread_mutex);
    return core_->thread.joinable();
}

S3DB_DECL void Metrics::on_operation(const OperationEvent& e) {
    auto& core = *core_;
    const auto& o = core.options;
    if (!o.enabled || core.ignored(e.resource)) return;
    auto& s = core.table.get(e.resource, e.operation, o.sample_seed);
    const std::uint64_t ns = e.duration.count() > 0 ? static_cast<std::uint64_t>(e.duration.count()) : 0;
    const bool slow = o.track_slow_queries && e.duration >= o.slow_query_threshold;
    const std::int64_t now = o.collect_usage || o.collect_performance || e.error || slow ? core.now_ms() : 0;
    {
        std::lock_guard lock(s.mutex);
        ++s.count;
        s.total_ns += ns;
        s.min_ns = std::min(s.min_ns, ns);
        s.max_ns = std::max(s.max_ns, ns);
        if (e.error) ++s.errors;
        if (slow) ++s.slow;
        if (o.collect_usage) ++s.hourly[static_cast<std::size_t>((detail::floor_div(now, 3'600'000) % 24 + 24) % 24)];
        if (o.collect_performance && sampled(s)) {
            s.histogram.add(ns);
            s.timed_ns += ns;
            if (s.perf.size() < o.performance_log_limit) s.perf.push_back({ns, now});
        }
    }
    if (e.error) record_error(s, e, now);
    if (slow) record_slow(s, e, now);
}

S3DB_DECL MetricsSnapshot Metrics::get_metrics() const {
    auto& core = *core_;
    MetricsSnapshot m;
    m.start_time_ms = core.started_ms;
    const std::int64_t now = core.now_ms();
    m.uptime_seconds = static_cast<double>(std::max<std::int64_t>(0, now - core.started_ms)) / 1000.0;

    struct Sum {
        std::uint64_t count = 0, errors = 0, total_ns = 0;
        std::uint64_t min_ns = ~std::uint64_t{0}, max_ns = 0;
        detail::LogHistogram histogram;
        void add(const Sum& s) {
            count += s.count;
            errors += s.errors;
            total_ns += s.total_ns;
            min_ns = std::min(min_ns, s.min_ns);
            max_ns = std::max(max_ns, s.max_ns);
            histogram += s.histogram;
        }
        OperationTiming timing() const {
            OperationTiming t;
            t.total = count;
            t.errors = errors;
            t.samples = histogram.count();
            if (count == 0) return t;
            t.avg = detail::metrics_ms(total_ns) / static_cast<double>(count);
            t.min = detail::metrics_ms(min_ns);
            t.max = detail::metrics_ms(max_ns);
            t.p50 = detail::metrics_ms(histogram.quantile(0.50, min_ns, max_ns));
            t.p95 = detail::metrics_ms(histogram.quantile(0.95, min_ns, max_ns));
            t.p99 = detail::metrics_ms(histogram.quantile(0.99, min_ns, max_ns));
            return t;
        }
    };
    std::map<std::string, Sum> by_op;
    std::array<std::uint64_t, 24> hours{};
    std::uint64_t total_ns = 0;
    for (auto* sp : core.table.all()) {
        auto& s = *sp;
        Sum one;
        {
            std::lock_guard lock(s.mutex);
            one = Sum{s.count, s.errors, s.total_ns, s.min_ns, s.max_ns, s.histogram};
            for (std::size_t h = 0; h < 24; ++h) hours[h] += s.hourly[h];
        }
        if (one.count == 0) continue;
        by_op[s.operation].add(one);
        auto t = one.timing();
        m.performance.resource_timing[s.resource][s.operation] = t;
        m.performance.slowest_operations.push_back({s.operation, s.resource, t.avg, t.total});
        auto& u = m.usage.resources[s.resource];
        switch (detail::metrics_usage_kind(s.operation)) {
            case 0: u.inserts += one.count; break;
            case 1: u.updates += one.count; break;
            case 2: u.deletes += one.count; break;
            default: u.reads += one.count; break;
        }
        m.usage.total_operations += one.count;
        total_ns += one.total_ns;
        m.errors.total += one.errors;
        if (one.errors) m.errors.by_resource[s.resource] += one.errors;
    }
    for (auto& [op, sum] : by_op) m.performance.operation_timing[op] = sum.timing();

    auto& slowest = m.performance.slowest_operations;
    std::sort(slowest.begin(), slowest.end(), [](const SlowestOperation& a, const SlowestOperation& b) {
        return a.avg_time != b.avg_time ? a.avg_time > b.avg_time : a.count > b.count;
    });
    if (slowest.size() > 10) slowest.resize(10);

    m.performance.total_requests = m.usage.total_operations;
    if (m.usage.total_operations) {
        m.performance.average_response_time = detail::metrics_ms(total_ns) / static_cast<double>(m.usage.total_operations);
        m.errors.error_rate = static_cast<double>(m.errors.total) / static_cast<double>(m.usage.total_operations);
    }
    if (m.uptime_seconds > 0)
        m.performance.requests_per_second = static_cast<double>(m.usage.total_operations) / m.uptime_seconds;

    std::uint64_t most = 0;
    for (auto& [r, u] : m.usage.resources) {
        const std::uint64_t n = u.inserts + u.updates + u.deletes + u.reads;
        if (n > most) most = n, m.usage.most_active_resource = r;
    }
    if (core.options.collect_usage) {
        std::uint64_t peak = 0;
        for (std::size_t h = 0; h < 24; ++h) {
            char label[6] = {static_cast<char>('0' + h / 10), static_cast<char>('0' + h % 10), ':', '0', '0', 0};
            m.usage.daily_patterns[label] = hours[h];
            if (hours[h] > peak) peak = hours[h], m.usage.peak_usage_hour = label;
        }
    }
    {
        std::lock_guard lock(core.errors_mutex);
        for (auto& [type, n] : core.by_type) m.errors.by_type[type] = n;
    }
    {
        std::lock_guard lock(core.slow_mutex);
        m.performance.slow_operations.assign(core.slow.begin(), core.slow.end());
        m.performance.slow_operations_total = core.slow_total;
    }
    m.cache.total_hits = core.cache_hits.load(std::memory_order_relaxed);
    m.cache.total_misses = core.cache_misses.load(std::memory_order_relaxed);
    if (const auto lookups = m.cache.total_hits + m.cache.total_misses)
        m.cache.hit_rate = static_cast<double>(m.cache.total_hits) / static_cast<double>(lookups);
    return m;
}

S3DB_DECL std::string Metrics::prometheus() const {
    auto& core = *core_;
    struct Row {
        std::string resource, operation;
        std::uint64_t count, errors, slow, total_ns, timed_ns, samples;
        double q50, q95, q99;
    };
    std::vector<Row> rows;
    for (auto* sp : core.table.all()) {
        auto& s = *sp;
        std::lock_guard lock(s.mutex);
        if (s.count == 0) continue;
        Row r{s.resource, s.operation, s.count, s.errors, s.slow, s.total_ns, s.timed_ns, s.histogram.count(), 0, 0, 0};
        r.q50 = static_cast<double>(s.histogram.quantile(0.50, s.min_ns, s.max_ns)) / 1e9;
        r.q95 = static_cast<double>(s.histogram.quantile(0.95, s.min_ns, s.max_ns)) / 1e9;
        r.q99 = static_cast<double>(s.histogram.quantile(0.99, s.min_ns, s.max_ns)) / 1e9;
        rows.push_back(std::move(r));
    }
    std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
        return std::tie(a.resource, a.operation) < std::tie(b.resource, b.operation);
    });

    std::string out;
    out.reserve(256 + rows.size() * 640);
    auto per_series = [&](std::string_view metric, std::string_view type, std::string_view help, auto value) {
        detail::prometheus_family(out, metric, type, help);
        for (auto& r : rows)
            detail::prometheus_sample(out, metric, {{"operation", r.operation}, {"resource", r.resource}}, value(r));
    };
    per_series("s3db_operations_total", "counter", "Operations finished, by resource and operation.",
               [](const Row& r) { return static_cast<double>(r.count); });
    per_series("s3db_operation_errors_total", "counter", "Operations that failed, by resource and operation.",
               [](const Row& r) { return static_cast<double>(r.errors); });
    per_series("s3db_slow_operations_total", "counter", "Operations at or over the slow-query threshold.",
               [](const Row& r) { return static_cast<double>(r.slow); });
    per_series("s3db_operation_duration_seconds", "gauge", "Mean duration of an operation, in seconds.",
               [](const Row& r) { return static_cast<double>(r.total_ns) / 1e9 / static_cast<double>(r.count); });

    constexpr std::string_view latency = "s3db_operation_latency_seconds";
    detail::prometheus_family(out, latency, "summary",
                              "Duration of timed operations in seconds; quantiles within 3.125% (log histogram).");
    for (auto& r : rows) {
        const double nan = std::numeric_limits<double>::quiet_NaN();
        const std::pair<std::string_view, double> qs[] = {{"0.5", r.q50}, {"0.95", r.q95}, {"0.99", r.q99}};
        for (auto& [q, v] : qs)
            detail::prometheus_sample(out, latency, {{"operation", r.operation}, {"resource", r.resource}, {"quantile", q}},
                                      r.samples ? v : nan);
        detail::prometheus_sample(out, "s3db_operation_latency_seconds_sum",
                                  {{"operation", r.operation}, {"resource", r.resource}},
                                  static_cast<double>(r.timed_ns) / 1e9);
        detail::prometheus_sample(out, "s3db_operation_latency_seconds_count",
                                  {{"operation", r.operation}, {"resource", r.resource}}, static_cast<double>(r.samples));
    }

    detail::prometheus_family(out, "s3db_errors_by_type_total", "counter", "Failed operations by error type.");
    {
        std::lock_guard lock(core.errors_mutex);
        for (auto& [type, n] : core.by_type)
            detail::prometheus_sample(out, "s3db_errors_by_type_total", {{"type", type}}, static_cast<double>(n));
    }
    detail::prometheus_family(out, "s3db_cache_hits_total", "counter", "Reads the cache plugin answered.");
    detail::prometheus_sample(out, "s3db_cache_hits_total", {}, static_cast<double>(core.cache_hits.load()));
    detail::prometheus_family(out, "s3db_cache_misses_total", "counter", "Reads the cache plugin passed on.");
    detail::prometheus_sample(out, "s3db_cache_misses_total", {}, static_cast<double>(core.cache_misses.load()));
    detail::prometheus_family(out, "s3db_metrics_flushes_total", "counter", "Flushes of the metrics to their resources.");
    detail::prometheus_sample(out, "s3db_metrics_flushes_total", {}, static_cast<double>(core.flushes.load()));
    detail::prometheus_family(out, "s3db_metrics_flush_failures_total", "counter", "Flushes that did not write everything.");
    detail::prometheus_sample(out, "s3db_metrics_flush_failures_total", {}, static_cast<double>(core.flush_failures.load()));

    std::vector<std::string_view> resources;
    for (auto& r : rows)
        if (resources.empty() || resources.back() != r.resource) resources.push_back(r.resource);
    detail::prometheus_family(out, "s3db_resources_total", "gauge", "Resources with operations observed.");
    detail::prometheus_sample(out, "s3db_resources_total", {}, static_cast<double>(resources.size()));
    detail::prometheus_family(out, "s3db_uptime_seconds", "gauge", "Seconds since the metrics plugin was made.");
    detail::prometheus_sample(out, "s3db_uptime_seconds", {},
                              static_cast<double>(std::max<std::int64_t>(0, core.now_ms() - core.started_ms)) / 1000.0);
    return out;
}

S3DB_DECL MetricsFlushResult Metrics::flush() {
    auto& core = *core_;
    std::lock_guard flush_lock(core.flush_mutex);
    MetricsFlushResult result;
    auto backend = core.backend_or_null();
    if (!backend) {
        result.skipped = true;
        return result;
    }
    const std::int64_t now = core.now_ms();
    const std::string stamp = detail::iso_string(now);
    const std::string day = stamp.substr(0, 10);
    try {
        write_counters(core, *backend, now, stamp, result);
        write_logs(core, *backend, result);
        if (core.options.retention_days > 0 && day != core.last_cleanup_day) {
            const std::string cutoff =
                detail::iso_string(now - core.options.retention_days * detail::ms_per_day).substr(0, 10);
            for (int which = 0; which < 3; ++which) result.removed += backend->remove_before(which, cutoff);
            core.last_cleanup_day = day;
        }
    } catch (const std::exception& e) {
        if (result.error.empty()) result.error = e.what();
    }
    if (result.failed && result.error.empty()) result.error = "records could not be written";
    core.flushes.fetch_add(1, std::memory_order_relaxed);
    if (!result.ok()) core.flush_failures.fetch_add(1, std::memory_order_relaxed);
    {
        std::lock_guard lock(core.backend_mutex);
        core.last_flush_error = result.error;
    }
    emit("metrics.flushed", result.to_json());
    return result;
}

S3DB_DECL std::vector<json> Metrics::records(MetricsLog which, const MetricsRecordQuery& q) const {
    auto b = core_->backend_or_null();
    if (!b) throw PluginError(name, "its records can be read once it is installed (db.connect())");
    const std::string from = q.from ? detail::iso_string(detail::epoch_ms(*q.from)) : std::string{};
    const std::string to = q.to ? detail::iso_string(detail::epoch_ms(*q.to)) : std::string{};
    std::vector<json> out;
    for (auto& r : b->list(static_cast<int>(which))) {
        auto field = [&](const char* k) { return r.value(k, std::string{}); };
        if (which == MetricsLog::metrics && !q.type.empty() && field("type") != q.type) continue;
        if (!q.resource.empty() && field("resourceName") != q.resource) continue;
        if (!q.operation.empty() && field("operation") != q.operation) continue;
        const std::string ts = field("timestamp");
        if ((!from.empty() && ts < from) || (!to.empty() && ts > to)) continue;
        out.push_back(std::move(r));
    }
    std::sort(out.begin(), out.end(), [](const json& a, const json& b) {
        return std::pair(a.value("timestamp", std::string{}), a.value("id", std::string{})) >
               std::pair(b.value("timestamp", std::string{}), b.value("id", std::string{}));
    });
    if (q.offset >= out.size()) return {};
    out.erase(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(q.offset));
    if (q.limit && out.size() > q.limit) out.resize(q.limit);
    return out;
}

S3DB_DECL ResourceConfig Metrics::resource_config(MetricsLog which) const {
    const auto& n = core_->options.resource_names;
    ResourceConfig c;
    c.behavior = "body-overflow";
    c.partitions = {{"byDate", {{"fields", {{"createdAt", "dateonly"}}}}}};
    switch (which) {
        case MetricsLog::metrics:
            c.name = n.metrics;
            c.attributes = {{"id", "string|required"},      {"type", "string|required"},
                            {"resourceName", "string"},     {"operation", "string"},
                            {"count", "number|required"},   {"totalTime", "number|required"},
                            {"errors", "number|required"},  {"avgTime", "number|required"},
                            {"timestamp", "datetime|required"}, {"metadata", "json"},
                            {"createdAt", "dateonly|required"}};
            break;
        case MetricsLog::errors:
            c.name = n.errors;
            c.attributes = {{"id", "string|required"},          {"resourceName", "string|required"},
                            {"operation", "string|required"},   {"error", "string|required"},
                            {"timestamp", "datetime|required"}, {"metadata", "json"},
                            {"createdAt", "dateonly|required"}};
            break;
        case MetricsLog::performance:
            c.name = n.performance;
            c.attributes = {{"id", "string|required"},          {"resourceName", "string|required"},
                            {"operation", "string|required"},   {"duration", "number|required"},
                            {"timestamp", "datetime|required"}, {"metadata", "json"},
                            {"createdAt", "dateonly|required"}};
            break;
    }
    return c;
}

S3DB_DECL bool Metrics::sampled(detail::MetricsSeries& s) const noexcept {  // under s.mutex
    const double rate = core_->options.sample_rate;
    if (rate >= 1.0) return true;
    if (rate <= 0.0) return false;
    return static_cast<double>(detail::metrics_splitmix(s.rng) >> 11) * 0x1.0p-53 < rate;
}

S3DB_DECL void Metrics::record_error(const detail::MetricsSeries& s, const OperationEvent& e, std::int64_t now) {
    auto& core = *core_;
    std::lock_guard lock(core.errors_mutex);
    std::string type = core.type_name_of(*e.error);
    auto it = core.by_type.find(type);
    if (it == core.by_type.end()) it = core.by_type.emplace(type, 0).first;
    ++it->second;
    if (!core.options.collect_errors) return;
    if (core.error_log.size() >= core.options.error_log_limit) {
        ++core.error_log_dropped;
        return;
    }
    core.error_log.push_back({&s, std::string(e.id), std::move(type), detail::utf8_prefix(e.error->what(), 1000), now});
}

S3DB_DECL void Metrics::record_slow(const detail::MetricsSeries& s, const OperationEvent& e, std::int64_t now) {
    auto& core = *core_;
    SlowOperation op{s.resource, s.operation, std::string(e.id), e.duration, now, {}};
    if (e.error) {
        std::lock_guard lock(core.errors_mutex);
        op.error = core.type_name_of(*e.error);
    }
    {
        std::lock_guard lock(core.slow_mutex);
        ++core.slow_total;
        if (core.options.slow_operations_limit) {
            if (core.slow.size() >= core.options.slow_operations_limit) core.slow.pop_front();
            core.slow.push_back(op);
        }
    }
    if (core.options.on_slow_query) core.options.on_slow_query(op);
    emit("metrics.slowOperation", op.to_json());
}

S3DB_DECL void Metrics::flush_loop() {
    auto& core = *core_;
    const auto interval = core.options.flush_interval;
    std::unique_lock lock(core.thread_mutex);
    auto next = std::chrono::steady_clock::now() + interval;
    while (!core.stopping) {
        if (core.wake.wait_until(lock, next, [&] { return core.stopping; })) break;
        lock.unlock();
        try {
            (void)flush();  // failures are in health() and the flush_failures counter
        } catch (...) {
        }
        lock.lock();
        next += interval;
        if (const auto now = std::chrono::steady_clock::now(); next < now) next = now + interval;
    }
}

S3DB_DECL void Metrics::write_counters(detail::MetricsCore& core, const detail::MetricsBackend& backend, std::int64_t now,
                                       const std::string& stamp, MetricsFlushResult& result) {
    using Baseline = detail::MetricsCore::Baseline;
    struct Window {
        const detail::MetricsSeries* series;
        Baseline current;
    };
    std::vector<Window> windows;
    struct Global {
        std::uint64_t count = 0, errors = 0, total_ns = 0;
        detail::LogHistogram histogram;
    };
    std::map<std::string, Global> globals;
    std::vector<json> records;
    const std::string day = stamp.substr(0, 10);
    auto record = [&](const std::string& resource, const std::string& operation, std::uint64_t count,
                      std::uint64_t errors, std::uint64_t total_ns, const detail::LogHistogram& h, json metadata) {
        const double total_ms = detail::metrics_ms(total_ns);
        if (h.count()) {
            metadata["p50"] = detail::metrics_ms(h.quantile(0.50));
            metadata["p95"] = detail::metrics_ms(h.quantile(0.95));
            metadata["p99"] = detail::metrics_ms(h.quantile(0.99));
            metadata["samples"] = h.count();
        }
        records.push_back({{"id", detail::metrics_record_id("metrics", now)},
                           {"type", "operation"},
                           {"resourceName", resource},
                           {"operation", operation},
                           {"count", count},
                           {"totalTime", total_ms},
                           {"errors", errors},
                           {"avgTime", total_ms / static_cast<double>(count)},
                           {"timestamp", stamp},
                           {"createdAt", day},
                           {"metadata", std::move(metadata)}});
    };
    // A series' own record and its share of the global record advance separately: after a
    // partial failure, the next flush writes again exactly what was not stored, nothing twice.
    std::map<std::string, std::vector<Window>> members;  // operation → series in its global record
    for (auto* sp : core.table.all()) {
        Baseline current;
        {
            std::lock_guard lock(sp->mutex);
            current = {sp->count, sp->errors, sp->total_ns, sp->slow, sp->histogram};
        }
        const Baseline& base = core.baselines[sp];
        if (const std::uint64_t count = current.count - base.count) {
            record(sp->resource, sp->operation, count, current.errors - base.errors, current.total_ns - base.total_ns,
                   current.histogram.since(base.histogram), json{{"resource", "true"}, {"slow", current.slow - base.slow}});
            windows.push_back({sp, current});
        }
        const Baseline& global_base = core.global_baselines[sp];
        if (const std::uint64_t count = current.count - global_base.count) {
            auto& g = globals[sp->operation];
            g.count += count;
            g.errors += current.errors - global_base.errors;
            g.total_ns += current.total_ns - global_base.total_ns;
            g.histogram += current.histogram.since(global_base.histogram);
            members[sp->operation].push_back({sp, std::move(current)});
        }
    }
    for (auto& [op, g] : globals) record("global", op, g.count, g.errors, g.total_ns, g.histogram, json{{"global", "true"}});
    if (records.empty()) return;
    std::vector<bool> written;
    backend.insert(0, records, written, result.error);
    count_written(written, result.metrics, result.failed);
    for (std::size_t i = 0; i < windows.size(); ++i)
        if (written[i]) core.baselines[windows[i].series] = std::move(windows[i].current);
    std::size_t i = windows.size();
    for (auto& [op, g] : globals)
        if (written[i++])
            for (auto& w : members[op]) core.global_baselines[w.series] = std::move(w.current);
}

S3DB_DECL void Metrics::count_written(const std::vector<bool>& written, std::size_t& ok, std::size_t& failed) {
    for (bool w : written) ++(w ? ok : failed);
}

S3DB_DECL void Metrics::write_logs(detail::MetricsCore& core, const detail::MetricsBackend& backend, MetricsFlushResult& result) {
    std::vector<json> perf;
    for (auto* sp : core.table.all()) {
        std::vector<detail::MetricsPerfSample> samples;
        {
            std::lock_guard lock(sp->mutex);
            if (sp->perf.empty()) continue;
            samples.swap(sp->perf);
            sp->perf.reserve(std::min<std::size_t>(samples.size(), core.options.performance_log_limit));
        }
        for (auto& p : samples) {
            const std::string ts = detail::iso_string(p.ms);
            perf.push_back({{"id", detail::metrics_record_id("perf", p.ms)},
                            {"resourceName", sp->resource},
                            {"operation", sp->operation},
                            {"duration", detail::metrics_ms(p.ns)},
                            {"timestamp", ts},
                            {"createdAt", ts.substr(0, 10)},
                            {"metadata", {{"perf", "true"}}}});
        }
    }
    std::vector<detail::MetricsErrorEntry> logged;
    std::uint64_t dropped = 0;
    {
        std::lock_guard lock(core.errors_mutex);
        logged.swap(core.error_log);
        dropped = std::exchange(core.error_log_dropped, 0);
    }
    std::vector<json> errors;
    for (auto& e : logged) {
        const std::string ts = detail::iso_string(e.ms);
        json metadata{{"error", "true"}, {"type", e.type}};
        if (!e.id.empty()) metadata["id"] = e.id;
        if (dropped) metadata["dropped"] = dropped;  // errors past error_log_limit in this window
        errors.push_back({{"id", detail::metrics_record_id("error", e.ms)},
                          {"resourceName", e.series->resource},
                          {"operation", e.series->operation},
                          {"error", e.message.empty() ? e.type : e.message},
                          {"timestamp", ts},
                          {"createdAt", ts.substr(0, 10)},
                          {"metadata", std::move(metadata)}});
    }
    std::vector<bool> written;
    if (!perf.empty()) {
        backend.insert(2, perf, written, result.error);
        count_written(written, result.performance, result.failed);
    }
    if (!errors.empty()) {
        backend.insert(1, errors, written, result.error);
        count_written(written, result.errors, result.failed);
    }
}

}  // namespace s3db
#endif  // S3DB_DEFINE_BODIES
