// The Scheduler plugin: cron and interval jobs, each tick run once however many processes run the
// scheduler (every run is claimed with its scheduled time as the key), with timeouts, retries and
// a history in `plg_job_executions`. Here: two schedulers on one store (as two processes would be)
// share an every-second job without running a tick twice, a flaky job is retried, a cron job's
// next run is shown in Berlin time across the DST change, and a lease from the coordination
// service fences a stale holder's write.

#include <s3db/s3db.hpp>

#include "check.hpp"
#include <s3db/core/lease.hpp>
#include <s3db/plugins/scheduler.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

int main() {
    std::filesystem::remove_all("scheduler-db");
    std::mutex m;
    std::map<std::int64_t, int> ticks;  // scheduled time → executions, over both schedulers
    std::atomic<int> flaky_calls{0};
    auto options = [&](std::string worker) {
        return s3db::SchedulerOptions{
            .jobs = {{"heartbeat",
                      {.interval = 1s,
                       .action = [&](s3db::JobContext& ctx) -> s3db::json {
                           std::lock_guard g(m);
                           ++ticks[ctx.scheduled_ms];
                           return {{"tick", ctx.scheduled_ms}};
                       }}},
                     {"nightly-report",
                      {.schedule = "30 2 * * *",  // 02:30 Berlin time
                       .action = [](s3db::JobContext&) -> s3db::json { return {{"rows", 42}}; },
                       .timezone = "Europe/Berlin"}},
                     {"flaky",
                      {.schedule = "@yearly",
                       .action = [&](s3db::JobContext& ctx) -> s3db::json {
                           ++flaky_calls;
                           if (ctx.attempt < 2) throw std::runtime_error("upstream not ready");
                           return {{"ok", true}};
                       },
                       .timeout = 5s,
                       .retries = 3}}},
            .retry_base_delay = 10ms,
            .claim_ttl = 3s,
            .worker_id = std::move(worker)};
    };
    s3db::Database<s3db::Scheduler> a("file://./scheduler-db", {}, s3db::Scheduler(options("worker-a")));
    s3db::Database<s3db::Scheduler> b("file://./scheduler-db", {}, s3db::Scheduler(options("worker-b")));
    a.connect();  // creates plg_job_executions, starts the timer thread
    b.connect();
    std::this_thread::sleep_for(3500ms);
    a.disconnect();
    b.disconnect();

    std::cout << "heartbeat ticks over 3.5 s, two schedulers:\n";
    for (auto& [t, n] : ticks) std::cout << "  " << s3db::detail::iso_string(t) << " ran " << n << " time(s)\n";
    check(ticks.size() >= 2, "the every-second job ran");
    for (auto& [t, n] : ticks) check(n == 1, "each tick ran exactly once across both schedulers");

    auto& s = a.plugin<s3db::Scheduler>();
    auto history = s.get_job_history("heartbeat");
    check(history.size() == ticks.size(), "one history record per tick");
    std::cout << "newest history record: " << history.front().dump() << "\n";

    // A manual run: now, on this thread, with the job's retries (2 failures, then success).
    auto r = s.run_job("flaky");
    std::cout << "run_job(\"flaky\"): " << r.dump() << "\n";
    check(r["status"] == "success" && r["retryCount"] == 2 && flaky_calls == 3, "retried with backoff until it succeeded");
    check(s.get_job_history("flaky", 0, "error").size() == 2, "each failed attempt is in the history");

    // A manual run with a run id is claimed like a tick: asked of both schedulers, it runs once.
    auto first = s.run_job("flaky", "rerun-after-incident");
    auto again = b.plugin<s3db::Scheduler>().run_job("flaky", "rerun-after-incident");
    std::cout << "run_job(\"flaky\", \"rerun-after-incident\") on a: " << first["status"] << ", on b: " << again["status"] << "\n";
    check(first["status"] == "success" && again["status"] == "duplicate", "one run per run id across schedulers");

    // Next runs in Berlin time: on 2026-03-29 02:30 does not exist (clocks jump 02:00 → 03:00),
    // the job runs once, at 03:00 CEST; the day after at 02:30 again.
    auto cron = s3db::CronExpr::parse("30 2 * * *");
    auto berlin = s3db::TimeZone::load("Europe/Berlin");
    auto t = s3db::detail::days_from_civil(2026, 3, 27) * s3db::detail::ms_per_day + 12 * 3'600'000;
    std::vector<std::string> runs;
    std::cout << "nightly-report around the spring DST change (UTC):";
    for (int i = 0; i < 3; ++i) {
        t = *s3db::next_cron_run(cron, berlin, t);
        runs.push_back(s3db::detail::iso_string(t));
        std::cout << " " << runs.back();
    }
    std::cout << "\n";
    check(runs[0] == "2026-03-28T01:30:00.000Z", "02:30 CET on the 28th");
    check(runs[1] == "2026-03-29T01:00:00.000Z", "the 29th: once, at 03:00 CEST, when the gap ends");
    check(runs[2] == "2026-03-30T00:30:00.000Z", "02:30 CEST on the 30th");
    std::cout << "status: " << s.get_job_status("nightly-report").dump() << "\n";

    // The coordination service the scheduler's claims are modelled on: a lease with a fencing token.
    s3db::Filesystem store(s3db::FilesystemOptions{.root = "scheduler-db"});
    auto clock = std::make_shared<std::atomic<std::int64_t>>(0);
    auto wall = [clock] { return std::chrono::system_clock::now() + std::chrono::milliseconds(clock->load()); };
    s3db::LeaseService one(store, {.ttl = 10s, .holder = "one", .wall_clock = wall});
    s3db::LeaseService two(store, {.ttl = 10s, .holder = "two", .wall_clock = wall});
    auto l1 = one.try_acquire("report-writer");
    check(l1 && l1->token == 1, "first holder, token 1");
    one.fenced_put(*l1, "reports/latest", "from one");
    clock->store(12'000);  // one stalls past its ttl (its wall clock as others see it)
    auto l2 = two.try_acquire("report-writer");
    check(l2 && l2->token == 2, "taken over with token 2");
    try {
        one.fenced_put(*l1, "reports/latest", "stale write from one");
        check(false, "a stale holder's write must be refused");
    } catch (const s3db::FencedOut& e) {
        std::cout << "fenced: " << e.what() << "\n";
    }
    check(store.get("reports/latest")->body == "from one", "the stale write did not land");
    return 0;
}
