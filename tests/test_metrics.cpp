// The Metrics plugin: counts per resource and operation, errors by type and resource, percentiles
// within the histogram's bound, slow operations, deterministic sampling, flushes to s3db.js's metric
// resources within their request budget, retention, the Prometheus text format (checked by a small
// parser), the flush thread's start and prompt stop, and the hot path's cost — on Memory, and on S3
// (Ceph RGW).

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "s3db/s3db.hpp"
#include "s3db/plugins/metrics.hpp"
#include "support/manual_clock.hpp"
#include "support/stores.hpp"

using namespace s3db;
using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;

namespace {

using MemDb = BasicDatabase<Counting<Memory>, Metrics>;

Counting<Memory> memory_store() { return Counting<Memory>(test::make_store<Memory>()); }

/// Starts on 2024-03-01 09:00 UTC.
struct TestClock : test::ManualClock {
    TestClock() : ManualClock(at(2024, 3, 1, 9)) {}
};

ResourceConfig users_config() {
    return {.name = "users",
            .attributes = {{"name", "string|required|min:2"}, {"age", "number|optional"}},
            .behavior = "body-overflow"};
}

/// An operation fed to on_operation directly.
OperationEvent event(std::string_view resource, std::string_view op, std::chrono::nanoseconds d,
                     const std::exception* error = nullptr, std::string_view id = {}) {
    return OperationEvent{resource, op, id, d, error};
}

const OperationTiming& timing(const MetricsSnapshot& m, const std::string& resource, const std::string& op) {
    return m.performance.resource_timing.at(resource).at(op);
}

// ---- a small parser of the Prometheus text format (0.0.4), strict about what it accepts -----------

struct PromSample {
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0;
};
struct PromDoc {
    std::map<std::string, std::string> types, helps;
    std::vector<PromSample> samples;

    /// The value of the one sample with this name and these labels (fails the test if not exactly one).
    double value(const std::string& name, const std::map<std::string, std::string>& labels = {}) const {
        const PromSample* found = nullptr;
        int n = 0;
        for (auto& s : samples)
            if (s.name == name && s.labels == labels) found = &s, ++n;
        EXPECT_EQ(n, 1) << name;
        return found ? found->value : std::nan("");
    }
};

bool metric_name_ok(const std::string& n) {
    if (n.empty() || !(std::isalpha(static_cast<unsigned char>(n[0])) || n[0] == '_' || n[0] == ':')) return false;
    return std::all_of(n.begin(), n.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':'; });
}
bool label_name_ok(const std::string& n) {
    if (n.empty() || !(std::isalpha(static_cast<unsigned char>(n[0])) || n[0] == '_')) return false;
    return std::all_of(n.begin(), n.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}
std::optional<double> parse_value(const std::string& v) {
    if (v == "NaN") return std::nan("");
    if (v == "+Inf") return HUGE_VAL;
    if (v == "-Inf") return -HUGE_VAL;
    if (v.empty()) return std::nullopt;
    char* end = nullptr;
    double d = std::strtod(v.c_str(), &end);
    if (end != v.c_str() + v.size()) return std::nullopt;
    return d;
}

/// The family a sample belongs to: itself, or a summary's base for _sum / _count.
std::string family_of(const PromDoc& doc, const std::string& name) {
    if (doc.types.count(name)) return name;
    for (const char* suffix : {"_sum", "_count", "_bucket"}) {
        std::string s = suffix;
        if (name.size() > s.size() && name.ends_with(s)) {
            auto base = name.substr(0, name.size() - s.size());
            if (auto it = doc.types.find(base); it != doc.types.end() && (it->second == "summary" || it->second == "histogram"))
                return base;
        }
    }
    return {};
}

void parse_into(const std::string& text, PromDoc& doc) {
    EXPECT_TRUE(text.empty() || text.back() == '\n') << "the exposition ends with a newline";
    std::set<std::string> closed;  // families whose samples are over (families are contiguous)
    std::string current;
    std::set<std::string> series;
    std::size_t at = 0;
    while (at < text.size()) {
        const std::size_t nl = text.find('\n', at);
        const std::string line = text.substr(at, nl - at);
        at = nl + 1;
        SCOPED_TRACE(line);
        ASSERT_FALSE(line.empty()) << "no blank lines";
        if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
            const bool help = line[2] == 'H';
            const std::string rest = line.substr(7);
            const auto sp = rest.find(' ');
            ASSERT_NE(sp, std::string::npos);
            const std::string name = rest.substr(0, sp), what = rest.substr(sp + 1);
            EXPECT_TRUE(metric_name_ok(name)) << name;
            if (help) {
                EXPECT_FALSE(doc.helps.count(name)) << "one HELP per family";
                for (std::size_t i = 0; i < what.size(); ++i)
                    if (what[i] == '\\') {
                        ASSERT_LT(i + 1, what.size());
                        EXPECT_TRUE(what[i + 1] == '\\' || what[i + 1] == 'n') << "HELP escapes only \\\\ and \\n";
                        ++i;
                    }
                doc.helps[name] = what;
            } else {
                EXPECT_FALSE(doc.types.count(name)) << "one TYPE per family";
                EXPECT_TRUE(what == "counter" || what == "gauge" || what == "summary" || what == "histogram" || what == "untyped");
                EXPECT_FALSE(closed.count(name) || current == name) << "TYPE comes before the family's samples";
                doc.types[name] = what;
            }
            continue;
        }
        ASSERT_NE(line[0], '#') << "only HELP and TYPE comments are written";
        PromSample s;
        std::size_t i = 0;
        while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
        s.name = line.substr(0, i);
        EXPECT_TRUE(metric_name_ok(s.name)) << s.name;
        if (i < line.size() && line[i] == '{') {
            ++i;
            while (true) {
                ASSERT_LT(i, line.size());
                if (line[i] == '}') {
                    ++i;
                    break;
                }
                const auto eq = line.find('=', i);
                ASSERT_NE(eq, std::string::npos);
                const std::string label = line.substr(i, eq - i);
                EXPECT_TRUE(label_name_ok(label)) << label;
                ASSERT_LT(eq + 1, line.size());
                ASSERT_EQ(line[eq + 1], '"');
                std::string value;
                i = eq + 2;
                for (;; ++i) {
                    ASSERT_LT(i, line.size()) << "unterminated label value";
                    if (line[i] == '"') break;
                    if (line[i] == '\\') {
                        ASSERT_LT(i + 1, line.size());
                        const char c = line[++i];
                        ASSERT_TRUE(c == '\\' || c == '"' || c == 'n') << "label values escape only \\\\, \\\" and \\n";
                        value += c == 'n' ? '\n' : c;
                    } else {
                        value += line[i];
                    }
                }
                ++i;
                EXPECT_FALSE(s.labels.count(label)) << "a label appears once";
                s.labels[label] = value;
                ASSERT_LT(i, line.size());
                if (line[i] == ',') ++i;
                else ASSERT_EQ(line[i], '}');
            }
        }
        ASSERT_LT(i, line.size());
        ASSERT_EQ(line[i], ' ');
        auto v = parse_value(line.substr(i + 1));
        ASSERT_TRUE(v.has_value()) << "value '" << line.substr(i + 1) << "'";
        s.value = *v;

        const std::string family = family_of(doc, s.name);
        ASSERT_FALSE(family.empty()) << s.name << " has no TYPE";
        const std::string& type = doc.types[family];
        if (type == "counter") {
            EXPECT_TRUE(family.ends_with("_total")) << family;
            EXPECT_GE(s.value, 0);
        }
        if (type == "summary") {
            if (s.name == family) EXPECT_TRUE(s.labels.count("quantile")) << "summary samples carry a quantile";
            else EXPECT_FALSE(s.labels.count("quantile")) << "_sum and _count carry no quantile";
        }
        if (family != current) {
            EXPECT_FALSE(closed.count(family)) << "the samples of " << family << " are not contiguous";
            if (!current.empty()) closed.insert(current);
            current = family;
        }
        std::string key = s.name;
        for (auto& [k, val] : s.labels) key += "\x1f" + k + "=" + val;
        EXPECT_TRUE(series.insert(key).second) << "duplicate series " << s.name;
        doc.samples.push_back(std::move(s));
    }
    for (auto& [name, type] : doc.types) EXPECT_TRUE(doc.helps.count(name)) << name << " has no HELP";
}

PromDoc parse_prometheus(const std::string& text) {
    PromDoc doc;
    parse_into(text, doc);
    return doc;
}

TEST(PrometheusParser, RefusesWhatTheFormatForbids) {
    // The parser must be able to fail, or the format test proves nothing.
    auto failures = [](const std::string& text) {
        ::testing::TestPartResultArray results;
        {
            ::testing::ScopedFakeTestPartResultReporter reporter(::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD,
                                                                 &results);
            parse_prometheus(text);
        }
        return results.size();
    };
    EXPECT_EQ(failures("# HELP a_total x\n# TYPE a_total counter\na_total{r=\"v\"} 1\n"), 0);
    EXPECT_GT(failures("a_total 1\n"), 0);                                                       // no TYPE
    EXPECT_GT(failures("# HELP a x\n# TYPE a counter\na 1\n"), 0);                               // counter without _total
    EXPECT_GT(failures("# HELP a_total x\n# TYPE a_total counter\na_total{r=\"a\\x\"} 1\n"), 0); // bad escape
    EXPECT_GT(failures("# HELP a_total x\n# TYPE a_total counter\na_total{r=\"v} 1\n"), 0);      // unterminated
    EXPECT_GT(failures("# HELP a_total x\n# TYPE a_total counter\na_total one\n"), 0);           // bad value
    EXPECT_GT(failures("# HELP a_total x\n# TYPE a_total counter\na_total 1\na_total 2\n"), 0); // duplicate series
    EXPECT_GT(failures("# HELP s x\n# TYPE s summary\ns_sum{quantile=\"0.5\"} 1\n"), 0);        // quantile on _sum
}

// ---- counts and errors through a database -----------------------------------------------------------

TEST(Metrics, CountsEveryOperationByResourceAndOperation) {
    MemDb db(memory_store(), {}, Metrics({.flush_interval = 0ms}));
    db.connect();
    auto& users = db.create_resource(users_config());
    auto ada = users.insert({{"name", "Ada"}});
    users.insert({{"name", "Bob"}});
    const std::string id = ada["id"];
    users.get(id);
    users.get(id);
    users.update(id, json{{"age", 36}});
    users.list();
    users.count();
    users.exists(id);
    users.remove(id);

    auto m = db.plugin<Metrics>().get_metrics();
    EXPECT_EQ(timing(m, "users", "insert").total, 2u);
    EXPECT_EQ(timing(m, "users", "get").total, 2u);
    EXPECT_EQ(timing(m, "users", "update").total, 1u);
    EXPECT_EQ(timing(m, "users", "list").total, 1u);
    EXPECT_EQ(timing(m, "users", "count").total, 1u);
    EXPECT_EQ(timing(m, "users", "exists").total, 1u);
    EXPECT_EQ(timing(m, "users", "delete").total, 1u);
    EXPECT_EQ(m.usage.total_operations, 9u);
    EXPECT_EQ(m.performance.total_requests, 9u);
    const auto& u = m.usage.resources.at("users");
    EXPECT_EQ(u.inserts, 2u);
    EXPECT_EQ(u.updates, 1u);
    EXPECT_EQ(u.deletes, 1u);
    EXPECT_EQ(u.reads, 5u);
    EXPECT_EQ(m.usage.most_active_resource, "users");
    EXPECT_EQ(m.errors.total, 0u);
    // Only the user's resource: the plugin's own three are never observed.
    EXPECT_EQ(m.performance.resource_timing.size(), 1u);

    // The JSON carries the seed's field names.
    json j = m.to_json();
    EXPECT_EQ(j["usage"]["totalOperations"], 9);
    EXPECT_EQ(j["usage"]["resources"]["users"]["inserts"], 2);
    EXPECT_EQ(j["performance"]["operationTiming"]["get"]["total"], 2);
    for (const char* k : {"avg", "min", "max", "total"}) EXPECT_TRUE(j["performance"]["operationTiming"]["get"].contains(k));
    for (const char* k : {"averageResponseTime", "totalRequests", "requestsPerSecond", "slowestOperations"})
        EXPECT_TRUE(j["performance"].contains(k)) << k;
    for (const char* k : {"total", "byType", "byResource", "errorRate"}) EXPECT_TRUE(j["errors"].contains(k)) << k;
    for (const char* k : {"hitRate", "totalHits", "totalMisses"}) EXPECT_TRUE(j["cache"].contains(k)) << k;
    EXPECT_EQ(j["usage"]["dailyPatterns"].size(), 24u);
}

TEST(Metrics, CountsErrorsByTypeAndByResource) {
    MemDb db(memory_store(), {}, Metrics({.flush_interval = 0ms}));
    db.connect();
    auto& users = db.create_resource(users_config());
    users.insert({{"name", "Ada"}});
    EXPECT_THROW(users.get("missing-id"), RecordNotFound);
    EXPECT_THROW(users.insert({{"name", "X"}}), ValidationError);  // min:2
    EXPECT_THROW(users.insert({{"age", 3}}), ValidationError);     // name required

    auto m = db.plugin<Metrics>().get_metrics();
    EXPECT_EQ(m.errors.total, 3u);
    EXPECT_EQ(m.errors.by_type, (std::map<std::string, std::uint64_t>{{"RecordNotFound", 1}, {"ValidationError", 2}}));
    EXPECT_EQ(m.errors.by_resource, (std::map<std::string, std::uint64_t>{{"users", 3}}));
    EXPECT_EQ(m.usage.total_operations, 4u);
    EXPECT_DOUBLE_EQ(m.errors.error_rate, 3.0 / 4.0);
    EXPECT_EQ(timing(m, "users", "get").errors, 1u);
    EXPECT_EQ(timing(m, "users", "insert").errors, 2u);
    EXPECT_EQ(timing(m, "users", "insert").total, 3u);
}

// ---- timing --------------------------------------------------------------------------------------

TEST(Metrics, PercentilesOfKnownDurationsAreWithinTheHistogramBound) {
    Metrics m;
    std::vector<int> ms(1000);
    for (int i = 0; i < 1000; ++i) ms[i] = i + 1;
    std::shuffle(ms.begin(), ms.end(), std::mt19937(7));
    for (int v : ms) m.on_operation(event("orders", "get", std::chrono::milliseconds(v)));

    auto t = timing(m.get_metrics(), "orders", "get");
    EXPECT_EQ(t.total, 1000u);
    EXPECT_DOUBLE_EQ(t.min, 1.0);     // exact
    EXPECT_DOUBLE_EQ(t.max, 1000.0);  // exact
    EXPECT_DOUBLE_EQ(t.avg, 500.5);   // exact
    // Nearest rank of 1..1000: p50 = 500, p95 = 950, p99 = 990; the bucket midpoint is within 1/32.
    EXPECT_NEAR(t.p50, 500.0, 500.0 / 32);
    EXPECT_NEAR(t.p95, 950.0, 950.0 / 32);
    EXPECT_NEAR(t.p99, 990.0, 990.0 / 32);
    EXPECT_NE(t.p50, t.p95);
}

TEST(Metrics, HistogramQuantilesStayWithinOneThirtySecondOfTheExactNearestRank) {
    std::mt19937_64 rng(42);
    std::uniform_real_distribution<double> exponent(0.0, 40.0);  // 1 ns … ~18 min, log-uniform
    std::vector<std::uint64_t> values(20000);
    detail::LogHistogram h;
    for (auto& v : values) {
        v = static_cast<std::uint64_t>(std::exp2(exponent(rng)));
        h.add(v);
    }
    std::sort(values.begin(), values.end());
    for (double q : {0.001, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0}) {
        const auto rank = std::max<std::size_t>(1, static_cast<std::size_t>(std::ceil(q * values.size())));
        const double exact = static_cast<double>(values[rank - 1]);
        const double got = static_cast<double>(h.quantile(q));
        EXPECT_LE(std::abs(got - exact), exact / 32) << "q=" << q << " exact " << exact << " got " << got;
    }
    // Every bucket's midpoint is within 1/32 of every value it holds.
    for (std::uint64_t v : {1ull, 15ull, 16ull, 17ull, 31ull, 32ull, 1000ull, 123456789ull, (1ull << 44) - 1}) {
        const auto i = detail::LogHistogram::index(v);
        EXPECT_GE(v, detail::LogHistogram::lower(i));
        EXPECT_LT(v, detail::LogHistogram::lower(i) + detail::LogHistogram::width(i));
        const double rep = static_cast<double>(detail::LogHistogram::representative(i));
        EXPECT_LE(std::abs(rep - static_cast<double>(v)), static_cast<double>(v) / 32) << v;
    }
}

TEST(Metrics, ASeriesOfOneDurationReportsItExactly) {
    Metrics m;
    for (int i = 0; i < 10; ++i) m.on_operation(event("r", "query", 7ms));
    auto t = timing(m.get_metrics(), "r", "query");
    EXPECT_DOUBLE_EQ(t.p50, 7.0);  // clamped to the exact min and max
    EXPECT_DOUBLE_EQ(t.p99, 7.0);
    EXPECT_DOUBLE_EQ(t.avg, 7.0);
}

TEST(Metrics, OperationTimingMergesResourcesAndSlowestOperationsRankByAverage) {
    Metrics m;
    for (int i = 0; i < 4; ++i) m.on_operation(event("a", "get", 10ms));
    for (int i = 0; i < 2; ++i) m.on_operation(event("b", "get", 40ms));
    m.on_operation(event("b", "list", 100ms));
    auto s = m.get_metrics();
    auto& get = s.performance.operation_timing.at("get");
    EXPECT_EQ(get.total, 6u);
    EXPECT_DOUBLE_EQ(get.avg, 20.0);
    EXPECT_DOUBLE_EQ(get.min, 10.0);
    EXPECT_DOUBLE_EQ(get.max, 40.0);
    ASSERT_EQ(s.performance.slowest_operations.size(), 3u);
    EXPECT_EQ(s.performance.slowest_operations[0].operation, "list");
    EXPECT_EQ(s.performance.slowest_operations[1].resource, "b");
    EXPECT_EQ(s.performance.slowest_operations[2].resource, "a");
    EXPECT_EQ(s.performance.slowest_operations[2].count, 4u);
    EXPECT_NEAR(s.performance.average_response_time, (40.0 + 80.0 + 100.0) / 7, 1e-9);
}

TEST(Metrics, SlowOperationsOverTheThresholdAreKeptInABoundedList) {
    auto seen = std::make_shared<std::vector<std::string>>();
    Metrics m({.slow_query_threshold = 100ms,
               .slow_operations_limit = 3,
               .on_slow_query = [seen](const SlowOperation& op) { seen->push_back(op.id); }});
    RecordNotFound missing("users", "x9");
    m.on_operation(event("users", "get", 50ms, nullptr, "fast"));
    m.on_operation(event("users", "get", 100ms, nullptr, "at-threshold"));
    m.on_operation(event("users", "get", 300ms, &missing, "x9"));
    for (int i = 0; i < 5; ++i) m.on_operation(event("users", "list", 150ms + std::chrono::milliseconds(i)));

    auto s = m.get_metrics();
    EXPECT_EQ(s.performance.slow_operations_total, 7u);
    ASSERT_EQ(s.performance.slow_operations.size(), 3u);  // the most recent three
    EXPECT_EQ(s.performance.slow_operations[0].operation, "list");
    EXPECT_EQ(s.performance.slow_operations[0].duration, 152ms);
    EXPECT_EQ(s.performance.slow_operations[2].duration, 154ms);
    EXPECT_EQ(seen->size(), 7u);
    EXPECT_EQ((*seen)[0], "at-threshold");
    EXPECT_EQ((*seen)[1], "x9");
    auto j = s.to_json()["performance"]["slowOperations"];
    EXPECT_DOUBLE_EQ(j[2]["duration"].get<double>(), 154.0);

    auto doc = parse_prometheus(m.prometheus());
    EXPECT_EQ(doc.value("s3db_slow_operations_total", {{"resource", "users"}, {"operation", "get"}}), 2);
    EXPECT_EQ(doc.value("s3db_slow_operations_total", {{"resource", "users"}, {"operation", "list"}}), 5);

    Metrics off({.track_slow_queries = false, .slow_query_threshold = 1ms});
    off.on_operation(event("users", "get", 5s));
    EXPECT_EQ(off.get_metrics().performance.slow_operations_total, 0u);
}

TEST(Metrics, SamplingTimesADeterministicShareAndKeepsCountsExact) {
    auto run = [](double rate, std::uint64_t seed) {
        Metrics m({.sample_rate = rate, .sample_seed = seed});
        for (int i = 0; i < 4000; ++i) m.on_operation(event("r", "get", std::chrono::microseconds(100 + i)));
        return timing(m.get_metrics(), "r", "get");
    };
    auto a = run(0.25, 1), b = run(0.25, 1), c = run(0.25, 2);
    EXPECT_EQ(a.total, 4000u);  // counts, totals, min and max are never sampled
    EXPECT_DOUBLE_EQ(a.min, 0.1);
    EXPECT_DOUBLE_EQ(a.avg, (100.0 + 4099.0) / 2 / 1000);
    EXPECT_GT(a.samples, 850u);
    EXPECT_LT(a.samples, 1150u);
    EXPECT_EQ(a.samples, b.samples);  // the same seed: the same operations timed
    EXPECT_EQ(a.p50, b.p50);
    EXPECT_NE(a.samples, c.samples);
    EXPECT_NEAR(a.p50, 2.1, 2.1 * 0.1);  // the sampled median is still near the true one

    auto none = run(0.0, 1), all = run(1.0, 1);
    EXPECT_EQ(none.samples, 0u);
    EXPECT_EQ(none.total, 4000u);
    EXPECT_EQ(all.samples, 4000u);
}

// ---- flushing -----------------------------------------------------------------------------------

TEST(Metrics, FlushWritesS3dbJsRecordsWithinItsRequestBudget) {
    TestClock clock;
    MemDb db(memory_store(), {}, Metrics({.flush_interval = 0ms, .clock = clock.fn()}));
    db.connect();
    auto& m = db.plugin<Metrics>();
    for (auto& name : {"plg_metrics", "plg_metrics_errors", "plg_metrics_performance"}) {
        ASSERT_TRUE(db.has_resource(name)) << name;
        EXPECT_EQ(db.resource(name).config().behavior, "body-overflow");
        EXPECT_NE(db.resource(name).partitions().find("byDate"), nullptr);
    }
    auto& users = db.create_resource(users_config());
    std::string id = users.insert({{"name", "Ada"}})["id"];
    users.insert({{"name", "Bob"}});
    users.insert({{"name", "Cy"}});
    users.get(id);
    users.get(id);
    EXPECT_THROW(users.get("missing-id"), RecordNotFound);
    EXPECT_THROW(users.insert({{"name", "X"}}), ValidationError);

    auto& store = db.transport();
    auto before = store.counts();
    auto r = m.flush();
    auto spent = store.counts() - before;
    EXPECT_TRUE(r.ok()) << r.error;
    // users/insert, users/get, global/insert, global/get; 7 timings; 2 errors.
    EXPECT_EQ(r.metrics, 4u);
    EXPECT_EQ(r.performance, 7u);
    EXPECT_EQ(r.errors, 2u);
    // Each record: 1 PUT + 1 byDate ref. The first flush of the day: 1 LIST per resource (retention).
    EXPECT_EQ(spent.put, 2u * 13);
    EXPECT_EQ(spent.list, 3u);
    EXPECT_EQ(spent.total(), 2u * 13 + 3);

    auto records = m.records(MetricsLog::metrics, {.limit = 0});
    ASSERT_EQ(records.size(), 4u);
    const std::string stamp = detail::iso_string(clock.ms->load());
    bool saw_users_insert = false, saw_global_get = false;
    for (auto& rec : records) {
        EXPECT_EQ(rec["type"], "operation");
        EXPECT_EQ(rec["timestamp"], stamp);
        EXPECT_EQ(rec["createdAt"], "2024-03-01");
        EXPECT_TRUE(rec["id"].get<std::string>().starts_with("metrics-"));
        ASSERT_TRUE(rec["metadata"].is_object()) << rec.dump();
        if (rec["resourceName"] == "users" && rec["operation"] == "insert") {
            saw_users_insert = true;
            EXPECT_EQ(rec["count"], 4);
            EXPECT_EQ(rec["errors"], 1);
            EXPECT_NEAR(rec["avgTime"].get<double>(), rec["totalTime"].get<double>() / 4, 1e-9);
            EXPECT_EQ(rec["metadata"]["resource"], "true");
            EXPECT_EQ(rec["metadata"]["samples"], 4);
        }
        if (rec["resourceName"] == "global" && rec["operation"] == "get") {
            saw_global_get = true;
            EXPECT_EQ(rec["count"], 3);
            EXPECT_EQ(rec["errors"], 1);
            EXPECT_EQ(rec["metadata"]["global"], "true");
        }
    }
    EXPECT_TRUE(saw_users_insert);
    EXPECT_TRUE(saw_global_get);

    auto errors = m.records(MetricsLog::errors);
    ASSERT_EQ(errors.size(), 2u);
    std::set<std::string> types;
    for (auto& e : errors) {
        types.insert(e["metadata"]["type"].get<std::string>());
        EXPECT_EQ(e["resourceName"], "users");
        EXPECT_FALSE(e["error"].get<std::string>().empty());
        if (e["operation"] == "get") {
            EXPECT_EQ(e["metadata"]["id"], "missing-id");
            EXPECT_NE(e["error"].get<std::string>().find("missing-id"), std::string::npos);
        }
    }
    EXPECT_EQ(types, (std::set<std::string>{"RecordNotFound", "ValidationError"}));
    auto perf = m.records(MetricsLog::performance, {.operation = "get", .limit = 0});
    EXPECT_EQ(perf.size(), 3u);
    for (auto& p : perf) EXPECT_GE(p["duration"].get<double>(), 0.0);

    // Nothing new: no request at all.
    before = store.counts();
    r = m.flush();
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.metrics + r.performance + r.errors, 0u);
    EXPECT_EQ((store.counts() - before).total(), 0u);

    // One more get: only what happened since the last flush is written.
    users.get(id);
    before = store.counts();
    r = m.flush();
    EXPECT_EQ(r.metrics, 2u);  // users/get and global/get, count 1
    EXPECT_EQ(r.performance, 1u);
    EXPECT_EQ((store.counts() - before).put, 6u);
    EXPECT_EQ((store.counts() - before).list, 0u);
    auto latest = m.records(MetricsLog::metrics, {.resource = "users", .operation = "get", .limit = 0});
    ASSERT_EQ(latest.size(), 2u);
    std::multiset<int> counts{latest[0]["count"].get<int>(), latest[1]["count"].get<int>()};
    EXPECT_EQ(counts, (std::multiset<int>{1, 3}));
    // In-memory metrics are cumulative: flushing does not reset them.
    EXPECT_EQ(timing(m.get_metrics(), "users", "get").total, 4u);
    EXPECT_EQ(m.flushes(), 3u);
}

TEST(Metrics, AFlushThatStoredPartOfItsRecordsWritesTheRestNextTimeAndNothingTwice) {
    TestClock clock;
    MemDb db(memory_store(), {}, Metrics({.flush_interval = 0ms, .clock = clock.fn()}));
    db.connect();
    auto& m = db.plugin<Metrics>();
    auto& users = db.create_resource(users_config());
    std::string reject;  // "global" or "users": plg_metrics records of that resourceName fail
    db.resource("plg_metrics").add_hook(Hook::before_insert, [&](OperationContext& c) {
        if (c.data.value("resourceName", "") == reject) throw std::runtime_error("refused by the test");
    });
    // Sums of `count` over the stored records, by resourceName.
    auto stored = [&] {
        std::map<std::string, std::int64_t> sum;
        for (auto& rec : m.records(MetricsLog::metrics, {.limit = 0})) sum[rec["resourceName"]] += rec["count"].get<std::int64_t>();
        return sum;
    };

    users.insert({{"name", "Ada"}});
    users.insert({{"name", "Bob"}});
    reject = "global";
    auto r = m.flush();
    EXPECT_EQ(r.metrics, 1u);
    EXPECT_EQ(r.failed, 1u);
    EXPECT_NE(r.error.find("refused by the test"), std::string::npos) << r.error;

    users.insert({{"name", "Cy"}});
    reject = "users";
    r = m.flush();
    EXPECT_EQ(r.metrics, 1u);  // the global record, now of all three inserts
    EXPECT_EQ(r.failed, 1u);

    reject.clear();
    r = m.flush();
    EXPECT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.metrics, 1u);  // the users record of the third insert
    EXPECT_EQ(stored(), (std::map<std::string, std::int64_t>{{"global", 3}, {"users", 3}}));
    r = m.flush();
    EXPECT_EQ(r.metrics, 0u);  // nothing new, nothing written again
}

TEST(Metrics, RetentionRemovesRecordsOlderThanRetentionDaysOnFlush) {
    TestClock clock;
    MemDb db(memory_store(), {}, Metrics({.retention_days = 30, .flush_interval = 0ms, .clock = clock.fn()}));
    db.connect();
    auto& m = db.plugin<Metrics>();
    auto& users = db.create_resource(users_config());
    users.insert({{"name", "Ada"}});
    EXPECT_THROW(users.get("gone"), RecordNotFound);
    ASSERT_TRUE(m.flush().ok());
    const auto day0 = std::array{m.records(MetricsLog::metrics, {.limit = 0}).size(),
                                 m.records(MetricsLog::errors, {.limit = 0}).size(),
                                 m.records(MetricsLog::performance, {.limit = 0}).size()};
    EXPECT_EQ(day0, (std::array<std::size_t, 3>{4, 1, 2}));

    // 30 days later: day 0 is not older than 30 days yet.
    clock.advance(30 * detail::ms_per_day);
    users.insert({{"name", "Bob"}});
    auto r = m.flush();
    EXPECT_EQ(r.removed, 0u);
    EXPECT_EQ(m.records(MetricsLog::metrics, {.limit = 0}).size(), 6u);

    // 31 days later: day 0's records go, with their refs; one listing per resource finds them.
    clock.advance(detail::ms_per_day);
    users.insert({{"name", "Cy"}});
    auto& store = db.transport();
    auto before = store.counts();
    r = m.flush();
    auto spent = store.counts() - before;
    EXPECT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.removed, 4u + 1 + 2);
    EXPECT_EQ(spent.list, 3u);
    EXPECT_EQ(spent.remove_many, 3u);
    EXPECT_EQ(spent.get, 0u);  // deleted by key: no record is read first
    auto left = m.records(MetricsLog::metrics, {.limit = 0});
    EXPECT_EQ(left.size(), 4u);
    for (auto& rec : left) EXPECT_NE(rec["createdAt"], "2024-03-01");
    EXPECT_TRUE(m.records(MetricsLog::errors, {.limit = 0}).empty());
    EXPECT_EQ(m.records(MetricsLog::performance, {.limit = 0}).size(), 2u);
    // No ref of a removed record is left behind.
    ListOptions o{.prefix = "resource=plg_metrics/partition=byDate/createdAt=2024-03-01/"};
    EXPECT_TRUE(store.list(o).objects.empty());
}

TEST(Metrics, PerformanceAndErrorLogsAreBoundedPerFlush) {
    TestClock clock;
    MemDb db(memory_store(), {},
             Metrics({.flush_interval = 0ms, .performance_log_limit = 3, .error_log_limit = 2, .clock = clock.fn()}));
    db.connect();
    auto& users = db.create_resource(users_config());
    for (int i = 0; i < 5; ++i) EXPECT_THROW(users.get("missing-" + std::to_string(i)), RecordNotFound);
    auto r = db.plugin<Metrics>().flush();
    EXPECT_EQ(r.performance, 3u);
    EXPECT_EQ(r.errors, 2u);
    auto errors = db.plugin<Metrics>().records(MetricsLog::errors);
    ASSERT_EQ(errors.size(), 2u);
    EXPECT_EQ(errors[0]["metadata"]["dropped"], 3);
    EXPECT_EQ(timing(db.plugin<Metrics>().get_metrics(), "users", "get").errors, 5u);  // counts stay exact
}

// ---- Prometheus ------------------------------------------------------------------------------------

TEST(Metrics, PrometheusTextFollowsTheFormatAndCarriesTheCounts) {
    Metrics m;
    ValidationError invalid({{"name", "required", "", "", "name is required"}});
    for (int i = 0; i < 3; ++i) m.on_operation(event("users", "insert", 2ms));
    m.on_operation(event("users", "insert", 4ms, &invalid));
    m.on_operation(event("orders", "get", 1ms));
    const std::string weird = "we\"ird\\name\nline";
    m.on_operation(event(weird, "list", 10ms));

    const std::string text = m.prometheus();
    auto doc = parse_prometheus(text);
    EXPECT_EQ(doc.types["s3db_operations_total"], "counter");
    EXPECT_EQ(doc.types["s3db_operation_errors_total"], "counter");
    EXPECT_EQ(doc.types["s3db_operation_duration_seconds"], "gauge");
    EXPECT_EQ(doc.types["s3db_operation_latency_seconds"], "summary");
    EXPECT_EQ(doc.value("s3db_operations_total", {{"resource", "users"}, {"operation", "insert"}}), 4);
    EXPECT_EQ(doc.value("s3db_operation_errors_total", {{"resource", "users"}, {"operation", "insert"}}), 1);
    EXPECT_EQ(doc.value("s3db_operations_total", {{"resource", "orders"}, {"operation", "get"}}), 1);
    EXPECT_DOUBLE_EQ(doc.value("s3db_operation_duration_seconds", {{"resource", "users"}, {"operation", "insert"}}), 0.0025);
    EXPECT_DOUBLE_EQ(doc.value("s3db_operation_latency_seconds", {{"resource", "users"}, {"operation", "insert"}, {"quantile", "0.5"}}),
                     0.002);
    EXPECT_NEAR(doc.value("s3db_operation_latency_seconds", {{"resource", "users"}, {"operation", "insert"}, {"quantile", "0.99"}}),
                0.004, 0.004 / 32);  // the 4 ms bucket's midpoint
    EXPECT_DOUBLE_EQ(doc.value("s3db_operation_latency_seconds_sum", {{"resource", "users"}, {"operation", "insert"}}), 0.010);
    EXPECT_EQ(doc.value("s3db_operation_latency_seconds_count", {{"resource", "users"}, {"operation", "insert"}}), 4);
    EXPECT_EQ(doc.value("s3db_errors_by_type_total", {{"type", "ValidationError"}}), 1);
    EXPECT_EQ(doc.value("s3db_resources_total"), 3);
    // A label value with a quote, a backslash and a newline is escaped, and reads back as it was.
    EXPECT_EQ(doc.value("s3db_operations_total", {{"resource", weird}, {"operation", "list"}}), 1);
    EXPECT_NE(text.find("resource=\"we\\\"ird\\\\name\\nline\""), std::string::npos);
}

TEST(Metrics, PrometheusSummaryOfUntimedSeriesIsNaN) {
    Metrics m({.sample_rate = 0.0});
    m.on_operation(event("r", "get", 1ms));
    auto doc = parse_prometheus(m.prometheus());
    EXPECT_TRUE(std::isnan(doc.value("s3db_operation_latency_seconds", {{"resource", "r"}, {"operation", "get"}, {"quantile", "0.5"}})));
    EXPECT_EQ(doc.value("s3db_operation_latency_seconds_count", {{"resource", "r"}, {"operation", "get"}}), 0);
    EXPECT_EQ(doc.value("s3db_operations_total", {{"resource", "r"}, {"operation", "get"}}), 1);
}

// ---- the flush thread -----------------------------------------------------------------------------

TEST(Metrics, FlushThreadFlushesEveryIntervalAndStopsWithTheDatabase) {
    MemDb db(memory_store(), {}, Metrics({.flush_interval = 20ms, .flush_on_stop = false}));
    db.connect();
    auto& m = db.plugin<Metrics>();
    EXPECT_TRUE(m.flushing_in_background());
    auto& users = db.create_resource(users_config());
    users.insert({{"name", "Ada"}});
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (m.flushes() < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
    ASSERT_GE(m.flushes(), 2u);
    // Written by the thread, not by hand.
    std::size_t found = 0;
    for (int i = 0; i < 200 && found == 0; ++i) {
        found = m.records(MetricsLog::metrics, {.resource = "users"}).size();
        if (!found) std::this_thread::sleep_for(10ms);
    }
    EXPECT_EQ(found, 1u);
    db.disconnect();
    EXPECT_FALSE(m.flushing_in_background());
    const auto after = m.flushes();
    std::this_thread::sleep_for(60ms);
    EXPECT_EQ(m.flushes(), after);  // nothing flushes once stopped
    db.connect();                   // and it starts again with the database
    EXPECT_TRUE(m.flushing_in_background());
}

TEST(Metrics, StopWakesTheFlushThreadAtOnceAndFlushesWhatIsLeft) {
    MemDb db(memory_store(), {}, Metrics({.flush_interval = std::chrono::hours(1)}));
    db.connect();
    auto& m = db.plugin<Metrics>();
    auto& users = db.create_resource(users_config());
    users.insert({{"name", "Ada"}});
    ASSERT_TRUE(m.flushing_in_background());
    EXPECT_EQ(m.flushes(), 0u);
    const auto t0 = std::chrono::steady_clock::now();
    db.disconnect();
    const auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_LT(took, 1s) << "stop waited for the interval";
    EXPECT_FALSE(m.flushing_in_background());
    EXPECT_EQ(m.flushes(), 1u);  // flush_on_stop
    EXPECT_EQ(m.records(MetricsLog::metrics, {.resource = "users"}).size(), 1u);
    std::cout << "[ metrics  ] stop with a 1 h interval took "
              << std::chrono::duration_cast<std::chrono::microseconds>(took).count() << " us\n";
}

TEST(Metrics, NoThreadWithoutAnIntervalOrBeforeInstall) {
    MemDb db(memory_store(), {}, Metrics({.flush_interval = 0ms}));
    db.connect();
    EXPECT_FALSE(db.plugin<Metrics>().flushing_in_background());
    Metrics loose({.flush_interval = 10ms});
    loose.on_start();  // not installed: nothing to flush to
    EXPECT_FALSE(loose.flushing_in_background());
    EXPECT_TRUE(loose.flush().skipped);
}

// ---- scope, options, lifecycle -------------------------------------------------------------------

TEST(Metrics, ExcludedResourcesAndTheDisabledPluginAreNotObserved) {
    {
        MemDb db(memory_store(), {}, Metrics({.flush_interval = 0ms, .exclude_resources = {"secret_stuff"}}));
        db.connect();
        auto& a = db.create_resource(users_config());
        auto cfg = users_config();
        cfg.name = "secret_stuff";
        auto& b = db.create_resource(cfg);
        a.insert({{"name", "Ada"}});
        b.insert({{"name", "Bob"}});
        auto m = db.plugin<Metrics>().get_metrics();
        EXPECT_EQ(m.usage.total_operations, 1u);
        EXPECT_FALSE(m.usage.resources.count("secret_stuff"));
        ASSERT_TRUE(db.plugin<Metrics>().flush().ok());
        // Its own writes were not observed either.
        EXPECT_FALSE(db.plugin<Metrics>().get_metrics().usage.resources.count("plg_metrics"));
    }
    MemDb off(memory_store(), {}, Metrics({.enabled = false}));
    off.connect();
    EXPECT_FALSE(off.has_resource("plg_metrics"));
    off.create_resource(users_config()).insert({{"name", "Ada"}});
    EXPECT_EQ(off.plugin<Metrics>().get_metrics().usage.total_operations, 0u);
    EXPECT_TRUE(off.plugin<Metrics>().flush().skipped);
}

TEST(Metrics, ValidateRefusesUnusableOptions) {
    EXPECT_THROW(MemDb(memory_store(), {}, Metrics({.sample_rate = 1.5})), PluginError);
    EXPECT_THROW(MemDb(memory_store(), {}, Metrics({.retention_days = -1})), PluginError);
    EXPECT_THROW(MemDb(memory_store(), {}, Metrics({.batch_size = 0})), PluginError);
    EXPECT_THROW(MemDb(memory_store(), {}, Metrics({.resource_names = {.metrics = "x", .errors = "x"}})), PluginError);
}

TEST(Metrics, CountsTheCachePluginsHitsAndMissesOncePerEvent) {
    MemDb db(memory_store(), {}, Metrics({.flush_interval = 0ms}));
    db.connect();
    db.disconnect();
    db.connect();  // a second install must not listen twice
    for (int i = 0; i < 3; ++i) db.emit_plugin_event("cache.hit", json::object());
    db.emit_plugin_event("cache.miss", json::object());
    auto c = db.plugin<Metrics>().get_metrics().cache;
    EXPECT_EQ(c.total_hits, 3u);
    EXPECT_EQ(c.total_misses, 1u);
    EXPECT_DOUBLE_EQ(c.hit_rate, 0.75);
    auto doc = parse_prometheus(db.plugin<Metrics>().prometheus());
    EXPECT_EQ(doc.value("s3db_cache_hits_total"), 3);
}

TEST(Metrics, UsagePatternCountsOperationsByUtcHour) {
    TestClock clock;  // 09:00 UTC
    Metrics m({.clock = clock.fn()});
    m.on_operation(event("r", "get", 1ms));
    m.on_operation(event("r", "get", 1ms));
    clock.advance(5 * 3'600'000LL);  // 14:00
    for (int i = 0; i < 3; ++i) m.on_operation(event("r", "insert", 1ms));
    auto u = m.get_metrics().usage;
    EXPECT_EQ(u.daily_patterns.at("09:00"), 2u);
    EXPECT_EQ(u.daily_patterns.at("14:00"), 3u);
    EXPECT_EQ(u.daily_patterns.at("00:00"), 0u);
    EXPECT_EQ(u.peak_usage_hour, "14:00");
}

TEST(Metrics, WorksAddedAtRunTimeAndUninstallWithPurgeDeletesItsRecords) {
    BasicDatabase<Counting<Memory>> db(memory_store());
    db.connect();
    auto& m = db.use_plugin(Metrics({.flush_interval = 0ms}));
    auto& users = db.create_resource(users_config());
    users.insert({{"name", "Ada"}});
    EXPECT_EQ(m.get_metrics().usage.total_operations, 1u);
    ASSERT_TRUE(m.flush().ok());
    EXPECT_FALSE(m.records(MetricsLog::metrics).empty());
    db.uninstall_plugin("Metrics", {.purge_data = true});
    ListOptions o{.prefix = "resource=plg_metrics"};
    EXPECT_TRUE(db.transport().list(o).objects.empty());
    users.insert({{"name", "Bob"}});
    EXPECT_EQ(m.get_metrics().usage.total_operations, 1u);  // uninstalled: no longer observing
}

// ---- threads and cost -----------------------------------------------------------------------------

TEST(Metrics, ConcurrentObserversAndReadersLoseNoCount) {
    Metrics m({.slow_query_threshold = 1ms});
    const std::array<std::string, 8> resources{"r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7"};
    std::atomic<bool> done{false};
    std::thread reader([&] {
        while (!done) {
            (void)m.get_metrics();
            (void)m.prometheus();
        }
    });
    std::vector<std::thread> writers;
    RecordNotFound missing("r", "x");
    for (int t = 0; t < 4; ++t)
        writers.emplace_back([&, t] {
            for (int i = 0; i < 5000; ++i)
                m.on_operation(event(resources[(i + t) % 8], i % 2 ? "get" : "insert",
                                     std::chrono::microseconds(i % 1500), i % 100 == 0 ? &missing : nullptr));
        });
    for (auto& w : writers) w.join();
    done = true;
    reader.join();
    auto s = m.get_metrics();
    EXPECT_EQ(s.usage.total_operations, 20000u);
    EXPECT_EQ(s.errors.total, 200u);
    EXPECT_EQ(s.errors.by_type.at("RecordNotFound"), 200u);
    EXPECT_EQ(s.performance.operation_timing.at("get").total, 10000u);
    EXPECT_EQ(s.performance.resource_timing.size(), 8u);
    std::uint64_t slow = 0;
    for (int i = 0; i < 5000; ++i) slow += (i % 1500) >= 1000;
    EXPECT_EQ(s.performance.slow_operations_total, slow * 4);
}

TEST(Metrics, CostOfOnOperationIsPrinted) {
    // Prints only: the cost of the hook on this machine, for the README's table.
    const std::array<std::string, 4> resources{"users", "orders", "items", "carts"};
    const std::array<std::string_view, 4> ops{"get", "insert", "list", "update"};
    constexpr int n = 400'000;
    auto measure = [&](Metrics& m, int threads) {
        std::vector<std::thread> ts;
        const auto t0 = std::chrono::steady_clock::now();
        for (int t = 0; t < threads; ++t)
            ts.emplace_back([&, t] {
                for (int i = 0; i < n; ++i)
                    m.on_operation(event(resources[(i + t) & 3], ops[(i >> 2) & 3], std::chrono::microseconds(100 + (i & 1023))));
            });
        for (auto& t : ts) t.join();
        return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / n;
    };
    Metrics all({.track_slow_queries = false}), sampled({.sample_rate = 0.1, .track_slow_queries = false}),
        counts_only({.collect_performance = false, .collect_usage = false, .track_slow_queries = false});
    for (Metrics* m : {&all, &sampled, &counts_only})
        for (auto& r : resources)
            for (auto op : ops) m->on_operation(event(r, op, 1ms));  // the series exist: steady state
    const double one = measure(all, 1), two = measure(all, 2);
    const double one_sampled = measure(sampled, 1), one_counts = measure(counts_only, 1);
    std::cout << "[ metrics  ] on_operation: " << one << " ns/call (1 thread, defaults), " << two
              << " ns wall per call and thread (2 threads), " << one_sampled << " ns/call (sample_rate 0.1), "
              << one_counts << " ns/call (counts only)\n";
    EXPECT_EQ(all.get_metrics().usage.total_operations, 16u + 3u * n);
}

}  // namespace

// ---- on S3 (Ceph RGW) ------------------------------------------------------------------------------

TEST(MetricsOnS3, CountsFlushesAndReadsBackThroughRgw) {
    TestClock clock;
    BasicDatabase<Counting<S3>, Metrics> db(Counting<S3>(test::make_store<S3>()), {},
                                            Metrics({.flush_interval = 0ms, .clock = clock.fn()}));
    db.connect();
    auto& users = db.create_resource(users_config());
    std::string id = users.insert({{"name", "Ada"}})["id"];
    users.insert({{"name", "Bob"}});
    users.get(id);
    EXPECT_THROW(users.get("missing-id"), RecordNotFound);
    auto& m = db.plugin<Metrics>();
    auto before = db.transport().counts();
    auto r = m.flush();
    auto spent = db.transport().counts() - before;
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.metrics, 4u);
    EXPECT_EQ(r.performance, 4u);
    EXPECT_EQ(r.errors, 1u);
    EXPECT_EQ(spent.put, 2u * 9);
    EXPECT_EQ(spent.list, 3u);

    auto records = m.records(MetricsLog::metrics, {.resource = "users", .operation = "get"});
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0]["count"], 2);
    EXPECT_EQ(records[0]["errors"], 1);
    EXPECT_EQ(records[0]["createdAt"], "2024-03-01");
    auto errors = m.records(MetricsLog::errors);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0]["metadata"]["type"], "RecordNotFound");

    auto doc = parse_prometheus(m.prometheus());
    EXPECT_EQ(doc.value("s3db_operations_total", {{"resource", "users"}, {"operation", "insert"}}), 2);
    EXPECT_EQ(doc.value("s3db_operation_errors_total", {{"resource", "users"}, {"operation", "get"}}), 1);

    // Retention on RGW: 31 days on, the first day's records are deleted by key.
    clock.advance(31 * detail::ms_per_day);
    users.get(id);
    r = m.flush();
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.removed, 9u);
    EXPECT_TRUE(m.records(MetricsLog::errors).empty());
    EXPECT_EQ(m.records(MetricsLog::metrics, {.limit = 0}).size(), 2u);
}
