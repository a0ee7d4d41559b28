// Metrics: every public operation counted and timed by resource and operation, errors by type,
// percentiles, s3db.js's getMetrics() structure, the Prometheus text format, and the flush to the
// resources s3db.js uses (plg_metrics, plg_metrics_errors, plg_metrics_performance).

#include <s3db/s3db.hpp>
#include <s3db/plugins/metrics.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

namespace {

void check(bool ok, const char* claim) {
    if (ok) return;
    std::cerr << "FAILED: " << claim << "\n";
    std::exit(1);
}

}  // namespace

int main() {
    using namespace std::chrono_literals;
    std::filesystem::remove_all("metrics-db");
    s3db::Database<s3db::Metrics> db("file://./metrics-db", {},
                                     s3db::Metrics({.flush_interval = 30s, .slow_query_threshold = 250ms}));
    db.connect();  // creates the three metric resources and starts the flush thread
    auto& metrics = db.plugin<s3db::Metrics>();
    check(db.has_resource("plg_metrics") && db.has_resource("plg_metrics_errors") &&
              db.has_resource("plg_metrics_performance"),
          "the plugin creates s3db.js's metric resources");
    check(metrics.flushing_in_background(), "the flush thread runs while the database is connected");

    auto& orders = db.create_resource({.name = "orders",
                                       .attributes = {{"customer", "string|required|min:3"},
                                                      {"amount", "number|min:0"},
                                                      {"status", "string|optional"}}});
    for (int i = 0; i < 10; ++i)
        orders.insert({{"customer", "customer-" + std::to_string(i)}, {"amount", 10.5 * i}, {"status", "pending"}});
    orders.count();
    orders.list({.limit = 5});
    for (auto& o : orders.list({.limit = 3})) orders.update(o["id"].get<std::string>(), s3db::json{{"status", "paid"}});
    try {
        orders.get("no-such-order");
    } catch (const s3db::RecordNotFound&) {
    }
    try {
        orders.insert({{"customer", "x"}, {"amount", 1}});
    } catch (const s3db::ValidationError&) {
    }

    auto m = metrics.get_metrics();
    std::cout << "getMetrics():\n" << m.to_json().dump(2) << "\n\n";
    check(m.usage.total_operations == 18, "18 operations: 11 inserts, 1 count, 2 lists, 3 updates, 1 get");
    check(m.performance.operation_timing.at("insert").total == 11, "11 inserts, one of them refused");
    check(m.performance.operation_timing.at("update").total == 3, "3 updates");
    check(m.errors.total == 2 && m.errors.by_type.at("RecordNotFound") == 1 && m.errors.by_type.at("ValidationError") == 1,
          "errors by type: one RecordNotFound, one ValidationError");
    check(m.errors.by_resource.at("orders") == 2, "both errors are the orders resource's");
    const auto& insert = m.performance.operation_timing.at("insert");
    check(insert.min <= insert.p50 && insert.p50 <= insert.p99 && insert.p99 <= insert.max, "min <= p50 <= p99 <= max");
    check(m.usage.most_active_resource == "orders", "orders is the most active resource");

    const std::string text = metrics.prometheus();
    std::cout << "Prometheus:\n" << text << "\n";
    check(text.find("# TYPE s3db_operations_total counter\n") != std::string::npos, "operations are a counter");
    check(text.find("s3db_operations_total{operation=\"insert\",resource=\"orders\"} 11\n") != std::string::npos,
          "11 inserts on orders in the exposition");
    check(text.find("s3db_operation_errors_total{operation=\"get\",resource=\"orders\"} 1\n") != std::string::npos,
          "1 failed get on orders in the exposition");
    check(text.find("s3db_operation_latency_seconds{operation=\"insert\",resource=\"orders\",quantile=\"0.99\"}") !=
              std::string::npos,
          "a latency summary with quantiles");

    auto flushed = metrics.flush();  // what the thread does every 30 s, by hand
    std::cout << "flush: " << flushed.to_json().dump() << "\n";
    check(flushed.ok(), "the flush wrote every record");
    check(flushed.errors == 2, "two error records");
    auto stored = metrics.records(s3db::MetricsLog::metrics, {.resource = "orders", .operation = "insert"});
    check(stored.size() == 1 && stored[0]["count"] == 11 && stored[0]["errors"] == 1,
          "plg_metrics holds the window: 11 inserts, 1 error");
    std::cout << "plg_metrics record: " << stored[0].dump() << "\n";

    db.disconnect();  // wakes and joins the flush thread at once, then flushes what is left
    check(!metrics.flushing_in_background(), "no thread is left after disconnect");
    std::cout << "ok\n";
}
