// The Scheduler (plugins/scheduler.hpp): cron parsing and next-run arithmetic, time zones from
// TZif files with DST gaps and overlaps, runs claimed once per tick across schedulers, retries,
// timeouts, missed-run policies, dead runners' claims taken over, request budgets, enabled state
// shared by every process, and the proofs with processes: 3 schedulers × one job every 2 s for 60 s
// (S3DB_SCHEDULER_PROOF_SECONDS) → every tick once; a runner killed mid-job → the run is recorded
// as failed and retried.

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "s3db/core/database.hpp"
#include "s3db/plugins/scheduler.hpp"
#include "s3db/transport/counting.hpp"
#include "s3db/transport/faulty.hpp"
#include "s3db/transport/retry.hpp"
#include "support/hooked_store.hpp"
#include "support/manual_clock.hpp"
#include "support/stores.hpp"

using namespace s3db;
using namespace std::chrono_literals;

namespace {

std::int64_t utc(int y, unsigned m, unsigned d, int h = 0, int min = 0) { return test::ManualClock::at(y, m, d, h, min); }
std::int64_t local_minute(int y, unsigned m, unsigned d, int h = 0, int min = 0) { return utc(y, m, d, h, min) / 60'000; }
std::string iso(std::optional<std::int64_t> ms) { return ms ? detail::iso_string(*ms) : "never"; }

}  // namespace

// ---- cron ----

TEST(Cron, FieldsListsRangesStepsNamesAndShortcuts) {
    auto c = CronExpr::parse("5,10-12,*/20 9-17/4 * jan-mar,DEC mon-fri");
    // 2026-01-05 is a Monday.
    EXPECT_EQ(c.next(local_minute(2026, 1, 5, 8, 0)), local_minute(2026, 1, 5, 9, 0));
    EXPECT_EQ(c.next(local_minute(2026, 1, 5, 9, 1)), local_minute(2026, 1, 5, 9, 5));
    EXPECT_EQ(c.next(local_minute(2026, 1, 5, 9, 13)), local_minute(2026, 1, 5, 9, 20));
    EXPECT_EQ(c.next(local_minute(2026, 1, 5, 9, 41)), local_minute(2026, 1, 5, 13, 0));
    EXPECT_EQ(c.next(local_minute(2026, 1, 5, 17, 41)), local_minute(2026, 1, 6, 9, 0));
    EXPECT_EQ(c.next(local_minute(2026, 1, 9, 18, 0)), local_minute(2026, 1, 12, 9, 0));  // Friday evening → Monday
    EXPECT_EQ(c.next(local_minute(2026, 3, 31, 18, 0)), local_minute(2026, 12, 1, 9, 0));  // April–November skipped

    EXPECT_EQ(CronExpr::parse("@hourly").next(local_minute(2026, 1, 1, 0, 1)), local_minute(2026, 1, 1, 1, 0));
    EXPECT_EQ(CronExpr::parse("@daily").next(local_minute(2026, 1, 1, 0, 1)), local_minute(2026, 1, 2));
    EXPECT_EQ(CronExpr::parse("@weekly").next(local_minute(2026, 1, 1)), local_minute(2026, 1, 4));  // Sunday
    EXPECT_EQ(CronExpr::parse("@monthly").next(local_minute(2026, 1, 1, 0, 1)), local_minute(2026, 2, 1));
    EXPECT_EQ(CronExpr::parse("@yearly").next(local_minute(2026, 1, 1, 0, 1)), local_minute(2027, 1, 1));
    EXPECT_EQ(CronExpr::parse("0 0 * * 7").next(local_minute(2026, 1, 1)), local_minute(2026, 1, 4));  // 7 = Sunday
    EXPECT_EQ(CronExpr::parse("10/25 * * * *").next(local_minute(2026, 1, 1, 0, 36)), local_minute(2026, 1, 1, 1, 10));
}

TEST(Cron, DayOfMonthAndDayOfWeekMatchEitherWhenBothAreRestricted) {
    // 13th of the month OR a Friday. 2026-02-06 is a Friday, 2026-02-13 one too, 2026-03-13 also.
    auto both = CronExpr::parse("0 0 13 * fri");
    EXPECT_EQ(both.next(local_minute(2026, 2, 1)), local_minute(2026, 2, 6));
    EXPECT_EQ(both.next(local_minute(2026, 2, 6, 0, 1)), local_minute(2026, 2, 13));
    EXPECT_EQ(both.next(local_minute(2026, 4, 1)), local_minute(2026, 4, 3));  // a Friday before the 13th
    // One of them `*`: only the other counts.
    EXPECT_EQ(CronExpr::parse("0 0 13 * *").next(local_minute(2026, 2, 1)), local_minute(2026, 2, 13));
    EXPECT_EQ(CronExpr::parse("0 0 * * fri").next(local_minute(2026, 2, 7)), local_minute(2026, 2, 13));
    // `*/7` starts with `*`, so it is not "restricted" (Vixie's rule): the 13th AND a Sunday.
    EXPECT_EQ(CronExpr::parse("0 0 13 * */7").next(local_minute(2026, 2, 1)), local_minute(2026, 9, 13));
}

TEST(Cron, NextIsArithmeticNotAMinuteWalk) {
    auto leap = CronExpr::parse("0 12 29 2 *");
    auto t0 = std::chrono::steady_clock::now();
    std::optional<std::int64_t> m;
    for (int i = 0; i < 1000; ++i) m = leap.next(local_minute(2025, 3, 1));
    EXPECT_EQ(m, local_minute(2028, 2, 29, 12, 0));
    // 1000 searches three years ahead: a minute walk would be ~1.6 million steps each.
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
}

TEST(Cron, RefusesBadExpressionsNamingThem) {
    for (const char* bad : {"", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *",
                            "* * * * 8", "*/0 * * * *", "5-1 * * * *", "a * * * *", "1,,2 * * * *", "@often",
                            "0 0 30 2 *"}) {
        try {
            CronExpr::parse(bad);
            ADD_FAILURE() << "accepted '" << bad << "'";
        } catch (const CronError& e) {
            EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
        }
    }
}

// ---- time zones ----

TEST(TimeZones, OffsetsFromTzifFilesAndTheirFooterRule) {
    auto ny = TimeZone::load("America/New_York");
    EXPECT_EQ(ny.offset_at(utc(2026, 1, 15) / 1000), -5 * 3600);
    EXPECT_EQ(ny.offset_at(utc(2026, 7, 15) / 1000), -4 * 3600);
    EXPECT_EQ(ny.offset_at(utc(2026, 3, 8, 6, 59) / 1000), -5 * 3600);
    EXPECT_EQ(ny.offset_at(utc(2026, 3, 8, 7, 0) / 1000), -4 * 3600);
    // Past the table (2037): the POSIX footer rule.
    EXPECT_EQ(ny.offset_at(utc(2045, 1, 15) / 1000), -5 * 3600);
    EXPECT_EQ(ny.offset_at(utc(2045, 7, 15) / 1000), -4 * 3600);
    EXPECT_EQ(ny.offset_at(utc(2045, 3, 12, 6, 59) / 1000), -5 * 3600);  // 2045-03-12: second Sunday of March
    EXPECT_EQ(ny.offset_at(utc(2045, 3, 12, 7, 0) / 1000), -4 * 3600);
    auto berlin = TimeZone::load("Europe/Berlin");
    EXPECT_EQ(berlin.offset_at(utc(2026, 1, 15) / 1000), 3600);
    EXPECT_EQ(berlin.offset_at(utc(2026, 7, 15) / 1000), 7200);
    EXPECT_EQ(berlin.offset_at(utc(2050, 10, 30, 0, 59) / 1000), 7200);  // last Sunday of October 2050, 01:00 UTC
    EXPECT_EQ(berlin.offset_at(utc(2050, 10, 30, 1, 0) / 1000), 3600);
    EXPECT_EQ(TimeZone::load("Asia/Kolkata").offset_at(utc(2026, 1, 1) / 1000), 19800);
    EXPECT_THROW(TimeZone::load("Mars/Olympus_Mons"), TimeZoneError);
    EXPECT_THROW(TimeZone::load("../../etc/passwd"), TimeZoneError);
}

TEST(TimeZones, ASpringForwardGapRunsTheJobOnceWhenTheGapEnds) {
    auto ny = TimeZone::load("America/New_York");
    auto at_230 = CronExpr::parse("30 2 * * *");
    // 2026-03-08 02:00 EST → 03:00 EDT: 02:30 does not exist; it runs at 03:00 EDT (07:00 UTC), once.
    auto first = next_cron_run(at_230, ny, utc(2026, 3, 7, 12));
    EXPECT_EQ(iso(first), iso(utc(2026, 3, 8, 7, 0)));
    EXPECT_EQ(iso(next_cron_run(at_230, ny, *first)), iso(utc(2026, 3, 9, 6, 30)));
    // Every 15 minutes of the missing hour: still once.
    auto quarter = CronExpr::parse("*/15 2 * * *");
    auto q = next_cron_run(quarter, ny, utc(2026, 3, 8, 6, 0));
    EXPECT_EQ(iso(q), iso(utc(2026, 3, 8, 7, 0)));
    EXPECT_EQ(iso(next_cron_run(quarter, ny, *q)), iso(utc(2026, 3, 9, 6, 0)));
    // Berlin, 2026-03-29 02:00 CET → 03:00 CEST (01:00 UTC).
    auto berlin = TimeZone::load("Europe/Berlin");
    auto b = next_cron_run(at_230, berlin, utc(2026, 3, 28, 12));
    EXPECT_EQ(iso(b), iso(utc(2026, 3, 29, 1, 0)));
    EXPECT_EQ(iso(next_cron_run(at_230, berlin, *b)), iso(utc(2026, 3, 30, 0, 30)));
}

TEST(TimeZones, AFallBackOverlapRunsTheJobOnceAtItsFirstOccurrence) {
    auto ny = TimeZone::load("America/New_York");
    auto at_130 = CronExpr::parse("30 1 * * *");
    // 2026-11-01 02:00 EDT → 01:00 EST: 01:30 happens at 05:30 and 06:30 UTC; it runs at 05:30 only.
    auto first = next_cron_run(at_130, ny, utc(2026, 10, 31, 12));
    EXPECT_EQ(iso(first), iso(utc(2026, 11, 1, 5, 30)));
    EXPECT_EQ(iso(next_cron_run(at_130, ny, *first)), iso(utc(2026, 11, 2, 6, 30)));
    // A process starting during the repeated hour does not run it again.
    EXPECT_EQ(iso(next_cron_run(at_130, ny, utc(2026, 11, 1, 6, 10))), iso(utc(2026, 11, 2, 6, 30)));
    auto berlin = TimeZone::load("Europe/Berlin");
    auto at_230 = CronExpr::parse("30 2 * * *");
    auto b = next_cron_run(at_230, berlin, utc(2026, 10, 24, 12));
    EXPECT_EQ(iso(b), iso(utc(2026, 10, 25, 0, 30)));  // 02:30 CEST
    EXPECT_EQ(iso(next_cron_run(at_230, berlin, *b)), iso(utc(2026, 10, 26, 1, 30)));
}

// ---- the plugin, on a hand-moved clock ----

namespace {

using Db = BasicDatabase<Counting<Memory>, Scheduler>;

struct Recorder {
    std::shared_ptr<std::mutex> m = std::make_shared<std::mutex>();
    std::shared_ptr<std::vector<std::pair<std::int64_t, int>>> runs = std::make_shared<std::vector<std::pair<std::int64_t, int>>>();
    JobAction action(int fail_first = 0) const {
        return [m = m, runs = runs, fail_first](JobContext& ctx) -> json {
            std::lock_guard g(*m);
            runs->emplace_back(ctx.scheduled_ms, ctx.attempt);
            if (ctx.attempt < fail_first) throw std::runtime_error("attempt " + std::to_string(ctx.attempt) + " fails");
            return json{{"tick", ctx.scheduled_ms}};
        };
    }
    std::size_t size() const {
        std::lock_guard g(*m);
        return runs->size();
    }
};

/// Job "j"'s tick after its first runner died: attempt 0 recorded as `error`, the retry (attempt 1)
/// as `success`, and the claim released as `success` under the takeover's fencing token, 2.
void expect_retried_after_a_dead_runner(Scheduler& s, Memory& bucket, const std::string& claim_key, std::int64_t tick) {
    auto h = s.get_job_history("j");
    ASSERT_EQ(h.size(), 2u);
    EXPECT_EQ(h[0]["id"], "j_" + std::to_string(tick) + "-1");
    EXPECT_EQ(h[0]["status"], "success");
    EXPECT_EQ(h[1]["id"], "j_" + std::to_string(tick) + "-0");
    EXPECT_EQ(h[1]["status"], "error");
    auto claim = json::parse(bucket.get(claim_key)->body);
    EXPECT_EQ(claim["status"], "success");
    EXPECT_EQ(claim["token"], 2);
    EXPECT_EQ(claim["released"], true);
}

SchedulerOptions manual(const test::ManualClock& clock, std::map<std::string, JobConfig> jobs) {
    return {.jobs = std::move(jobs), .retry_base_delay = 1ms, .retry_max_delay = 5ms, .claim_ttl = 10s,
            .max_clock_skew = 1s, .autostart = false, .clock = clock.fn()};
}

}  // namespace

TEST(Scheduler, EachTickRunsOnceAcrossSchedulersWithinItsRequestBudget) {
    Memory bucket(MemoryOptions{.prefix = test::next_prefix()});
    test::ManualClock clock(utc(2026, 5, 1, 10, 0) + 500);
    Recorder rec;
    std::map<std::string, JobConfig> jobs{{"ping", {.interval = 60s, .action = rec.action()}}};
    Db a(Counting<Memory>(bucket), {}, Scheduler(manual(clock, jobs)));
    Db b(Counting<Memory>(bucket), {}, Scheduler(manual(clock, jobs)));
    a.connect();
    b.connect();
    auto& sa = a.plugin<Scheduler>();
    auto& sb = b.plugin<Scheduler>();

    // Idle: nothing due → no request at all.
    a.transport().reset();
    b.transport().reset();
    clock.advance(30s);
    sa.tick(true);
    sb.tick(true);
    EXPECT_EQ(a.transport().counts().total(), 0u);
    EXPECT_EQ(b.transport().counts().total(), 0u);

    // A tick: a claims it, reads its enabled state and runs it (claim, history record + 2 refs,
    // claim end); b's claim gets 412.
    for (int minute = 1; minute <= 3; ++minute) {
        clock.set(utc(2026, 5, 1, 10, minute) + 100);
        a.transport().reset();
        b.transport().reset();
        sa.tick(true);
        sb.tick(true);
        EXPECT_EQ(a.transport().counts(), (RequestCounts{.put = 5, .get = 1})) << minute;  // + the enabled state
        EXPECT_EQ(b.transport().counts(), (RequestCounts{.put = 1})) << minute;
        // b looks at the claim once it could have expired: finished, so forgotten. 1 GET.
        clock.advance(11s + 100ms);
        b.transport().reset();
        sb.tick(true);
        EXPECT_EQ(b.transport().counts(), (RequestCounts{.get = 1})) << minute;
        sb.tick(true);
        EXPECT_EQ(b.transport().counts(), (RequestCounts{.get = 1})) << "checked once, then forgotten";
    }
    EXPECT_EQ(rec.size(), 3u);
    auto history = sa.get_job_history("ping");
    ASSERT_EQ(history.size(), 3u);
    EXPECT_EQ(history[0]["id"], "ping_" + std::to_string(utc(2026, 5, 1, 10, 3)) + "-0");
    EXPECT_EQ(history[0]["status"], "success");
    EXPECT_EQ(history[0]["jobName"], "ping");
    EXPECT_EQ(history[0]["retryCount"], 0);
    EXPECT_EQ(history[0]["result"]["tick"], utc(2026, 5, 1, 10, 3));
    for (const char* f : {"startTime", "endTime", "duration", "createdAt"}) EXPECT_TRUE(history[0].contains(f)) << f;
    auto status = sa.get_job_status("ping");
    EXPECT_EQ(status["runs"], 3);
    EXPECT_EQ(status["lastStatus"], "success");
    EXPECT_EQ(status["nextRun"], detail::iso_string(utc(2026, 5, 1, 10, 4)));
}

TEST(Scheduler, RetriesWithBackoffThenTimeouts) {
    Memory bucket(MemoryOptions{.prefix = test::next_prefix()});
    test::ManualClock clock(utc(2026, 5, 1, 10, 0) + 500);
    Recorder rec;
    std::atomic<int> slow_runs{0};
    Db db(Counting<Memory>(bucket), {},
          Scheduler(manual(clock, {{"flaky", {.schedule = "* * * * *", .action = rec.action(2), .retries = 2}},
                                   {"hopeless", {.schedule = "* * * * *", .action = rec.action(9), .retries = 1}},
                                   {"slow",
                                    {.schedule = "* * * * *",
                                     .action = [&](JobContext& ctx) -> json {
                                         ++slow_runs;
                                         while (!ctx.cancelled()) std::this_thread::sleep_for(5ms);
                                         return nullptr;
                                     },
                                     .timeout = 50ms,
                                     .retries = 0}}})));
    db.connect();
    auto& s = db.plugin<Scheduler>();
    clock.set(utc(2026, 5, 1, 10, 1));
    s.tick(true);
    auto flaky = s.get_job_history("flaky");
    ASSERT_EQ(flaky.size(), 3u);
    EXPECT_EQ(flaky[0]["status"], "success");
    EXPECT_EQ(flaky[0]["retryCount"], 2);
    EXPECT_EQ(flaky[1]["status"], "error");
    EXPECT_EQ(flaky[2]["error"], "attempt 0 fails");
    auto hopeless = s.get_job_history("hopeless");
    ASSERT_EQ(hopeless.size(), 2u);
    EXPECT_EQ(hopeless[0]["status"], "error");
    auto slow = s.get_job_history("slow");
    ASSERT_EQ(slow.size(), 1u);
    EXPECT_EQ(slow[0]["status"], "timeout");
    EXPECT_EQ(slow_runs.load(), 1);
    EXPECT_EQ(s.get_job_history("flaky", 10, "error").size(), 2u);
    // A manual run: now, on the caller's thread, recorded too.
    auto r = s.run_job("flaky");
    EXPECT_EQ(r["status"], "success");
    EXPECT_EQ(s.get_job_history("flaky").size(), 6u);
}

TEST(Scheduler, EnableDisableAddRemove) {
    Memory bucket(MemoryOptions{.prefix = test::next_prefix()});
    test::ManualClock clock(utc(2026, 5, 1, 10, 0) + 500);
    Recorder rec;
    // Listened to from two threads at once (a and b both run at 11:00), and outliving the database.
    std::mutex events_mutex;
    std::vector<std::string> events;
    Db db(Counting<Memory>(bucket), {}, Scheduler(manual(clock, {{"a", {.schedule = "*/2 * * * *", .action = rec.action()}}})));
    db.on_plugin_event("*", [&](std::string_view e, const json&) {
        std::lock_guard lock(events_mutex);
        events.emplace_back(e);
    });
    db.connect();
    auto& s = db.plugin<Scheduler>();
    s.disable_job("a");
    clock.set(utc(2026, 5, 1, 10, 2));
    s.tick(true);
    EXPECT_EQ(rec.size(), 0u);
    s.enable_job("a");  // no catch-up of the time it was disabled
    s.tick(true);
    EXPECT_EQ(rec.size(), 0u);
    clock.set(utc(2026, 5, 1, 10, 4));
    s.tick(true);
    EXPECT_EQ(rec.size(), 1u);
    s.add_job("b", {.schedule = "@hourly", .action = rec.action()});
    EXPECT_THROW(s.add_job("b", {.schedule = "@hourly", .action = rec.action()}), PluginError);
    EXPECT_THROW(s.add_job("c", {.schedule = "61 * * * *", .action = rec.action()}), CronError);
    EXPECT_THROW(s.add_job("c", {.schedule = "@hourly", .action = rec.action(), .timezone = "Nowhere/Land"}), TimeZoneError);
    EXPECT_THROW(s.add_job("c", {.action = rec.action()}), PluginError);
    EXPECT_THROW(s.add_job("c d", {.schedule = "@hourly", .action = rec.action()}), PluginError);
    clock.set(utc(2026, 5, 1, 11, 0));  // an hour later: a's 27 older ticks are missed runs (run_once)
    s.tick(true);
    EXPECT_EQ(rec.size(), 3u);  // a at 11:00 and b at 11:00
    s.remove_job("b");
    EXPECT_THROW(s.get_job_status("b"), PluginError);
    for (const char* e : {"scheduler.job-disabled", "scheduler.job-enabled", "scheduler.job-added", "scheduler.job-start",
                          "scheduler.job-complete", "scheduler.job-removed"})
        EXPECT_NE(std::find(events.begin(), events.end(), e), events.end()) << e;
}

TEST(Scheduler, EnableAndDisableAreSeenByEveryProcess) {
    Memory bucket(MemoryOptions{.prefix = test::next_prefix()});
    test::ManualClock clock(utc(2026, 5, 1, 10, 0) + 500);
    Recorder rec;
    std::map<std::string, JobConfig> jobs{{"ping", {.interval = 60s, .action = rec.action()}}};
    Db a(Counting<Memory>(bucket), {}, Scheduler(manual(clock, jobs)));
    Db b(Counting<Memory>(bucket), {}, Scheduler(manual(clock, jobs)));
    a.connect();
    b.connect();
    auto& sa = a.plugin<Scheduler>();
    auto& sb = b.plugin<Scheduler>();
    auto at = [&](int minute) { clock.set(utc(2026, 5, 1, 10, minute) + 100); };
    auto both = [&] {
        a.transport().reset();
        b.transport().reset();
        sb.tick(true);  // b first: it wins the claims below
        sa.tick(true);
    };

    // a disables; b, which still holds it enabled, wins the 10:01 claim, reads the state, closes the
    // claim as `disabled` and runs nothing; from then on both hold it disabled.
    a.transport().reset();
    sa.disable_job("ping");
    EXPECT_EQ(a.transport().counts(), (RequestCounts{.put = 1}));
    EXPECT_EQ(sb.get_job_status("ping")["enabled"], true);
    at(1);
    both();
    EXPECT_EQ(rec.size(), 0u);
    EXPECT_EQ(b.transport().counts(), (RequestCounts{.put = 2, .get = 1})) << "claim, state, claim closed";
    EXPECT_EQ(a.transport().counts(), (RequestCounts{.get = 1})) << "a holds it disabled: it only reads the state";
    EXPECT_EQ(sb.get_job_status("ping")["enabled"], false);
    auto claim = bucket.get("plugin=scheduler/claims/ping/" + detail::scheduler_rev(utc(2026, 5, 1, 10, 1)));
    ASSERT_TRUE(claim);
    EXPECT_EQ(json::parse(claim->body)["status"], "disabled");
    at(2);
    both();
    EXPECT_EQ(rec.size(), 0u);
    EXPECT_EQ(a.transport().counts(), (RequestCounts{.get = 1}));
    EXPECT_EQ(b.transport().counts(), (RequestCounts{.get = 1}));

    // A process started now adopts it: disabled although its configuration says enabled.
    Db c(Counting<Memory>(bucket), {}, Scheduler(manual(clock, jobs)));
    c.connect();
    EXPECT_EQ(c.plugin<Scheduler>().get_job_status("ping")["enabled"], false);

    // b enables: a sees it at its next tick and the tick runs, once.
    sb.enable_job("ping");
    at(3);
    a.transport().reset();
    sa.tick(true);
    c.plugin<Scheduler>().tick(true);
    sb.tick(true);
    ASSERT_EQ(rec.size(), 1u);
    EXPECT_EQ(sa.get_job_status("ping")["enabled"], true);
    EXPECT_EQ(c.plugin<Scheduler>().get_job_status("ping")["enabled"], true);
    EXPECT_EQ(a.transport().counts(), (RequestCounts{.put = 5, .get = 2})) << "the state (held disabled), the claim, the state, the run";
    at(4);
    both();
    c.plugin<Scheduler>().tick(true);
    EXPECT_EQ(rec.size(), 2u);
    EXPECT_EQ(sa.get_job_history("ping").size(), 2u);

    // Local only (shared_enabled = false): another process does not see it, and a run costs no GET.
    Memory local(MemoryOptions{.prefix = test::next_prefix()});
    auto lo = manual(clock, jobs);
    lo.shared_enabled = false;
    Db d(Counting<Memory>(local), {}, Scheduler(lo));
    Db e(Counting<Memory>(local), {}, Scheduler(lo));
    d.connect();
    e.connect();
    d.plugin<Scheduler>().disable_job("ping");
    at(5);
    d.transport().reset();
    e.transport().reset();
    d.plugin<Scheduler>().tick(true);
    e.plugin<Scheduler>().tick(true);
    EXPECT_EQ(rec.size(), 3u) << "e ran it";
    EXPECT_EQ(d.transport().counts().total(), 0u);
    EXPECT_EQ(e.transport().counts(), (RequestCounts{.put = 5}));
    EXPECT_THROW(d.plugin<Scheduler>().enable_job("nope"), PluginError);
}

TEST(Scheduler, ManualRunsAreClaimedOncePerRunIdAcrossProcesses) {
    Memory bucket(MemoryOptions{.prefix = test::next_prefix()});
    test::ManualClock clock(utc(2026, 5, 1, 10, 0) + 500);
    Recorder rec;
    std::map<std::string, JobConfig> jobs{{"ping", {.schedule = "@daily", .action = rec.action()}}};
    Db a(Counting<Memory>(bucket), {}, Scheduler(manual(clock, jobs)));
    Db b(Counting<Memory>(bucket), {}, Scheduler(manual(clock, jobs)));
    a.connect();
    b.connect();
    auto& sa = a.plugin<Scheduler>();
    auto& sb = b.plugin<Scheduler>();

    a.transport().reset();
    auto r = sa.run_job("ping", "r1");
    EXPECT_EQ(r["status"], "success");
    EXPECT_EQ(r["runId"], "r1");
    EXPECT_EQ(a.transport().counts(), (RequestCounts{.put = 5})) << "claim, history record + 2 refs, claim end";
    b.transport().reset();
    EXPECT_EQ(sb.run_job("ping", "r1")["status"], "duplicate");
    EXPECT_EQ(b.transport().counts(), (RequestCounts{.put = 1})) << "the claim's 412, nothing run";
    EXPECT_EQ(rec.size(), 1u);
    auto claim = bucket.get("plugin=scheduler/runs/ping/r1");
    ASSERT_TRUE(claim);
    EXPECT_EQ(json::parse(claim->body)["status"], "success");

    // 8 threads in two schedulers ask for the same run at once: one runs it.
    std::atomic<int> ran{0}, duplicates{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i)
        threads.emplace_back([&, i] {
            auto out = (i % 2 ? sa : sb).run_job("ping", "r2");
            (out["status"] == "success" ? ran : duplicates) += 1;
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(ran.load(), 1);
    EXPECT_EQ(duplicates.load(), 7);
    EXPECT_EQ(rec.size(), 2u);

    // No run id: a fresh one each call.
    auto x = sa.run_job("ping"), y = sb.run_job("ping");
    EXPECT_EQ(x["status"], "success");
    EXPECT_EQ(y["status"], "success");
    EXPECT_NE(x["runId"], y["runId"]);
    EXPECT_EQ(rec.size(), 4u);
    auto h = sa.get_job_history("ping", 0);
    EXPECT_EQ(h.size(), 4u);
    EXPECT_EQ(std::count_if(h.begin(), h.end(), [](const json& e) { return e["id"] == "ping_r1-0"; }), 1);
    for (const char* bad : {"a b", "123", "a/b"}) EXPECT_THROW(sa.run_job("ping", bad), PluginError) << bad;
    EXPECT_THROW(sa.run_job("nope"), PluginError);
    EXPECT_EQ(rec.size(), 4u);
}

TEST(Scheduler, RunsMissedWhileNoProcessWasUpFollowThePolicy) {
    for (auto policy : {MissedRuns::skip, MissedRuns::run_once, MissedRuns::run_all}) {
        Memory bucket(MemoryOptions{.prefix = test::next_prefix()});
        test::ManualClock clock(utc(2026, 5, 1, 10, 0) + 500);
        Recorder rec;
        auto o = manual(clock, {{"j", {.schedule = "* * * * *", .action = rec.action()}}});
        {
            Db first(Counting<Memory>(bucket), {}, Scheduler(o));
            first.connect();
            clock.set(utc(2026, 5, 1, 10, 1));
            first.plugin<Scheduler>().tick(true);
        }
        ASSERT_EQ(rec.size(), 1u);
        clock.set(utc(2026, 5, 1, 10, 20) + 30'000);  // 19 ticks missed (10:02 … 10:20)
        o.missed_runs = policy;
        o.max_missed_runs = 5;
        Db later(Counting<Memory>(bucket), {}, Scheduler(o));
        later.connect();
        later.plugin<Scheduler>().tick(true);
        std::set<std::int64_t> ran;
        for (auto& [t, a] : *rec.runs) ran.insert(t);
        if (policy == MissedRuns::skip) {
            EXPECT_EQ(ran.size(), 1u);
        }
        if (policy == MissedRuns::run_once) {
            EXPECT_EQ(ran.size(), 2u);
            EXPECT_TRUE(ran.count(utc(2026, 5, 1, 10, 20)));
        }
        if (policy == MissedRuns::run_all) {
            EXPECT_EQ(ran.size(), 6u);  // the newest 5 (bounded) + the first
            EXPECT_TRUE(ran.count(utc(2026, 5, 1, 10, 16)));
        }
    }
}

TEST(Scheduler, AClaimLeftRunningByADeadRunnerIsRecordedAndRetried) {
    Memory bucket(MemoryOptions{.prefix = test::next_prefix()});
    test::ManualClock clock(utc(2026, 5, 1, 10, 0) + 500);
    Recorder rec;
    auto tick = utc(2026, 5, 1, 9, 59);
    // What a runner that died mid-job leaves: its claim, running, no longer renewed.
    auto rev = std::to_string(9'999'999'999'999LL - tick);
    bucket.put("plugin=scheduler/claims/j/" + rev,
               json{{"status", "running"}, {"owner", "dead"}, {"attempt", 0}, {"expiresAt", utc(2026, 5, 1, 9, 59) + 10'000}}.dump());
    Db db(Counting<Memory>(bucket), {},
          Scheduler(manual(clock, {{"j", {.schedule = "0 0 1 1 *", .action = rec.action(), .retries = 1}}})));
    db.connect();  // recover: the claim is watched
    auto& s = db.plugin<Scheduler>();
    s.tick(true);
    ASSERT_EQ(rec.size(), 1u);
    EXPECT_EQ((*rec.runs)[0], std::make_pair(tick, 1));
    // A claim without a token counts as token 1: the takeover's is 2.
    expect_retried_after_a_dead_runner(s, bucket, "plugin=scheduler/claims/j/" + rev, tick);
    // A second scheduler coming up later finds the claim closed: nothing runs again.
    Db other(Counting<Memory>(bucket), {},
             Scheduler(manual(clock, {{"j", {.schedule = "0 0 1 1 *", .action = rec.action(), .retries = 1}}})));
    other.connect();
    other.plugin<Scheduler>().tick(true);
    EXPECT_EQ(rec.size(), 1u);
}

TEST(Scheduler, ARunnerWhoseRenewalsFailGivesTheRunUpOnItsClockAndRunsItAgainUnderAHigherToken) {
    // Renewals answered 503: the runner keeps its claim only while the claim is valid on its own
    // steady clock (claim_ttl - claim_ttl / 4 from the last write that landed), then cancels the
    // action and records nothing. Once the claim is past expiresAt + max_clock_skew, this same
    // process takes it over (fencing token 2) and runs the tick again: the run is not lost.
    Memory bucket(MemoryOptions{.prefix = test::next_prefix()});
    test::ManualClock clock(utc(2026, 5, 1, 10, 0) + 500);
    test::Hooked<Memory> store{bucket};
    std::atomic<bool> refuse_renewals{true};
    *store.before_put = [&](std::string_view key, std::string_view, const PutOptions& o, Memory&) {
        if (refuse_renewals && key.starts_with("plugin=scheduler/claims/") && !o.if_match.empty())
            throw TransportError("renewal refused", {503, "ServiceUnavailable", {}, std::string(key), false});
    };
    std::mutex m;
    std::vector<std::tuple<int, std::uint64_t, bool>> seen;  // attempt, fencing token, cancelled
    JobConfig job{.interval = 60s, .action = [&](JobContext& ctx) -> json {
        auto until = std::chrono::steady_clock::now() + (ctx.fencing_token == 1 ? 10s : 0s);
        while (!ctx.cancelled() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(5ms);
        std::lock_guard g(m);
        seen.emplace_back(ctx.attempt, ctx.fencing_token, ctx.cancelled());
        return json{{"token", ctx.fencing_token}};
    }};
    auto o = manual(clock, {{"j", job}});
    o.claim_ttl = 300ms;
    o.max_clock_skew = 50ms;
    BasicDatabase<test::Hooked<Memory>, Scheduler> db(store, {}, Scheduler(o));
    db.connect();
    auto& s = db.plugin<Scheduler>();
    const auto tick = utc(2026, 5, 1, 10, 1);
    clock.set(tick + 100);
    auto t0 = std::chrono::steady_clock::now();
    s.tick(true);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s) << "the action was not cancelled";
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0], std::make_tuple(0, std::uint64_t{1}, true));
    EXPECT_TRUE(s.get_job_history("j").empty()) << "a runner that lost its claim recorded its run";

    refuse_renewals = false;
    s.tick(true);  // the claim has not expired for anyone yet: nothing runs
    EXPECT_EQ(seen.size(), 1u);
    clock.advance(400ms);  // past expiresAt + max_clock_skew
    s.tick(true);
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[1], std::make_tuple(1, std::uint64_t{2}, false)) << "the retry runs under the takeover's token";
    expect_retried_after_a_dead_runner(s, bucket, "plugin=scheduler/claims/j/" + detail::scheduler_rev(tick), tick);
}

TEST(Scheduler, LostAnswersAndServerErrorsNeitherRunATickTwiceNorLoseOne) {
    Memory bucket(MemoryOptions{.prefix = test::next_prefix()});
    Faulty<Memory> faults(FaultOptions{}, bucket);  // copies share the faults and the bucket
    RetryPolicy retries{.max_attempts = 3, .budget_capacity = 1 << 30, .sleep = [](std::chrono::milliseconds) {}};
    test::ManualClock clock(utc(2026, 5, 1, 10, 0) + 500);
    Recorder rec;
    using FaultyDb = BasicDatabase<Retry<Faulty<Memory>>, Scheduler>;
    auto o = manual(clock, {{"j", {.schedule = "* * * * *", .action = rec.action(), .retries = 0}}});
    FaultyDb a(Retry<Faulty<Memory>>(retries, faults), {}, Scheduler(o));
    FaultyDb b(Retry<Faulty<Memory>>(retries, faults), {}, Scheduler(o));
    a.connect();
    b.connect();
    faults.set_faults(FaultOptions{.seed = 3, .server_error = 0.05, .timeout = 0.05, .lost_response = 0.2});
    for (int m = 1; m <= 30; ++m) {
        clock.set(utc(2026, 5, 1, 10, m) + 50);
        for (int round = 0; round < 4; ++round) {  // the tick, then checks of lost claims and retries
            for (auto* s : {&a.plugin<Scheduler>(), &b.plugin<Scheduler>()}) {
                try {
                    s->tick(true);
                } catch (const TransportError&) {
                }
            }
            clock.advance(12s);
        }
    }
    std::map<std::int64_t, int> runs;
    for (auto& r : *rec.runs) ++runs[r.first];
    EXPECT_EQ(runs.size(), 30u) << "no tick lost";
    for (auto& [t, n] : runs) EXPECT_EQ(n, 1) << "tick " << detail::iso_string(t) << " ran " << n << " times";
    EXPECT_GT(faults.injected().lost_response, 10u);
}

TEST(Scheduler, OldClaimsAreSweptKeepingEachJobsNewest) {
    Memory bucket(MemoryOptions{.prefix = test::next_prefix()});
    test::ManualClock clock(utc(2026, 5, 1, 10, 0) + 500);
    Recorder rec;
    Db db(Counting<Memory>(bucket), {}, Scheduler(manual(clock, {{"j", {.schedule = "* * * * *", .action = rec.action()}},
                                                                 {"y", {.schedule = "0 10 1 5 *", .action = rec.action()}}})));
    db.connect();
    auto& s = db.plugin<Scheduler>();
    for (int m = 1; m <= 3; ++m) {
        clock.set(utc(2026, 5, 1, 10, m));
        s.tick(true);
    }
    auto claims = [&](const std::string& job) {
        std::vector<std::string> keys;
        for (auto& e : bucket.list({.prefix = "plugin=scheduler/claims/" + job + "/"}).objects) keys.push_back(e.key);
        return keys;
    };
    ASSERT_EQ(claims("j").size(), 3u);
    bucket.put("plugin=scheduler/claims/y/" + detail::scheduler_rev(utc(2025, 5, 1, 10, 0)), "{}");  // a yearly job's only claim
    clock.set(utc(2026, 5, 2, 12, 0) + 30'000);  // 26 h later: older than missed_window + 1 h
    db.transport().reset();
    s.tick(true);
    auto left = claims("j");
    ASSERT_EQ(left.size(), 1u) << "the three old claims are gone, the new tick's claim stays";
    EXPECT_EQ(left[0], "plugin=scheduler/claims/j/" + detail::scheduler_rev(utc(2026, 5, 2, 12, 0)));
    EXPECT_EQ(claims("y").size(), 1u) << "a job's newest claim is kept, however old";
    // j: tick (5 PUTs + 1 GET) + sweep (2 LISTs + 1 DeleteObjects); y: 2 LISTs, nothing deleted (its
    // newest); each: 1 LIST of its manual runs' claims (none)
    EXPECT_EQ(db.transport().counts(), (RequestCounts{.put = 5, .get = 1, .remove_many = 1, .list = 6}));
    EXPECT_THROW(Scheduler({.missed_window = std::chrono::hours(2), .claims_retention = std::chrono::hours(1)}), PluginError);
}

// ---- processes ----

namespace {

void append_line(const std::string& path, const std::string& line) {
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0) return;
    auto text = line + "\n";
    (void)!::write(fd, text.data(), text.size());
    ::close(fd);
}

std::vector<std::string> read_lines(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::string> out;
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
}

Filesystem fs_store(const std::filesystem::path& root) { return Filesystem(FilesystemOptions{.root = root, .prefix = "db/"}); }

/// Creates the history resource once, before any child exists (processes creating it together
/// would race on s3db.json, which is not what this test is about).
void prepare(const std::filesystem::path& root) {
    BasicDatabase<Filesystem, Scheduler> db(fs_store(root), {}, Scheduler({.autostart = false}));
    db.connect();
}

}  // namespace

namespace {

/// How long the process proofs run: the 60 s, or S3DB_SCHEDULER_PROOF_SECONDS (at least
/// 10) for a quicker run by hand.
int proof_seconds() {
    const char* v = std::getenv("S3DB_SCHEDULER_PROOF_SECONDS");
    return v && *v ? std::max(10, std::atoi(v)) : 60;
}

/// 3 processes, each a scheduler over `make_store()`, run a job every 2 s for `seconds`; each
/// execution appends its tick to a shared file, which must hold every tick once.
template <class MakeStore>
void three_processes_run_every_tick_once(MakeStore make_store, int seconds) {
    constexpr std::int64_t every = 2000;
    auto root = test::scratch_dir();
    std::filesystem::create_directories(root);
    {
        BasicDatabase<decltype(make_store()), Scheduler> db(make_store(), {}, Scheduler({.autostart = false}));
        db.connect();  // the history resource, made once before the children start
    }
    auto log = (root / "ticks.log").string();
    const auto start = std::chrono::system_clock::now();
    const auto end = start + std::chrono::seconds(seconds);
    std::vector<pid_t> children;
    for (int i = 0; i < 3; ++i) {
        pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            {
                std::this_thread::sleep_for(std::chrono::milliseconds(300 * i));  // staggered starts
                BasicDatabase<decltype(make_store()), Scheduler> db(
                    make_store(), {},
                    Scheduler({.jobs = {{"tick",
                                         {.interval = std::chrono::milliseconds(every),
                                          .action = [&, i](JobContext& ctx) -> json {
                                              append_line(log, std::to_string(ctx.scheduled_ms) + " " + std::to_string(i));
                                              return nullptr;
                                          }}}},
                               .claim_ttl = 2s,
                               .max_clock_skew = 200ms,
                               // a loop stalled past a tick (a loaded machine) still runs it
                               .missed_runs = MissedRuns::run_all,
                               .worker_id = "p" + std::to_string(i)}));
                db.connect();
                std::this_thread::sleep_until(end);
            }
            ::_exit(0);
        }
        children.push_back(pid);
    }
    for (auto pid : children) {
        int status = 0;
        ::waitpid(pid, &status, 0);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    std::map<std::int64_t, int> count;
    std::set<int> runners;
    for (auto& l : read_lines(log)) {
        ++count[std::stoll(l.substr(0, l.find(' ')))];
        runners.insert(std::stoi(l.substr(l.find(' ') + 1)));
    }
    ASSERT_GE(count.size(), static_cast<std::size_t>(seconds * 1000 / every - 2)) << "one tick every 2 s";
    auto first = count.begin()->first, last = count.rbegin()->first;
    EXPECT_EQ(static_cast<std::size_t>((last - first) / every + 1), count.size()) << "no tick in between was missed";
    for (auto& [t, n] : count) EXPECT_EQ(n, 1) << "tick " << t << " ran " << n << " times";
    EXPECT_GE(runners.size(), 2u) << "the ticks were shared out between the processes";
    // The history agrees: one success per tick.
    BasicDatabase<decltype(make_store()), Scheduler> db(make_store(), {},
                                           Scheduler({.jobs = {{"tick", {.interval = std::chrono::milliseconds(every), .action = [](JobContext&) { return json(); }}}},
                                                      .autostart = false}));
    db.connect();
    auto h = db.template plugin<Scheduler>().get_job_history("tick", 0);
    EXPECT_EQ(h.size(), count.size());
    for (auto& r : h) EXPECT_EQ(r["status"], "success");
}

}  // namespace

TEST(SchedulerProcesses, ThreeProcessesRunEveryTickExactlyOnce) {
    auto root = test::scratch_dir();
    three_processes_run_every_tick_once([root] { return fs_store(root); }, proof_seconds());
}

TEST(SchedulerProcesses, ThreeProcessesRunEveryTickExactlyOnceOnRgw) {
    auto bucket = test::TestBucket::name();
    auto prefix = test::next_prefix();
    three_processes_run_every_tick_once([=] { return S3(test::s3_options(test::s3_under_test(), bucket, prefix)); }, proof_seconds());
}

TEST(SchedulerProcesses, ARunnerKilledMidJobIsRecordedAsFailedAndRetried) {
    auto root = test::scratch_dir();
    prepare(root);
    auto log = (root / "ticks.log").string();
    int started[2];
    ASSERT_EQ(::pipe(started), 0);
    auto options = [&](JobAction action) {
        return SchedulerOptions{.jobs = {{"report", {.interval = 2s, .action = std::move(action), .retries = 2}}},
                                .claim_ttl = 1s,
                                .max_clock_skew = 200ms,
                                .missed_runs = MissedRuns::skip};
    };
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::close(started[0]);
        {
            BasicDatabase<Filesystem, Scheduler> db(fs_store(root), {}, Scheduler(options([&](JobContext& ctx) -> json {
                auto t = std::to_string(ctx.scheduled_ms);
                (void)!::write(started[1], t.data(), t.size());  // then never finishes: killed mid-job
                std::this_thread::sleep_for(60s);
                return nullptr;
            })));
            db.connect();
            std::this_thread::sleep_for(60s);
        }
        ::_exit(0);
    }
    ::close(started[1]);
    char buf[32] = {};
    ASSERT_GT(::read(started[0], buf, sizeof buf - 1), 0);
    std::int64_t tick = std::stoll(buf);
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    ::close(started[0]);
    // Another process's scheduler (here, this one) finds the claim dead after claim_ttl + skew.
    BasicDatabase<Filesystem, Scheduler> db(fs_store(root), {}, Scheduler(options([&](JobContext& ctx) -> json {
        append_line(log, std::to_string(ctx.scheduled_ms) + " " + std::to_string(ctx.attempt));
        return json{{"attempt", ctx.attempt}};
    })));
    db.connect();
    auto& s = db.plugin<Scheduler>();
    std::vector<json> h;
    auto id = "report_" + std::to_string(tick);
    for (int i = 0; i < 60; ++i) {
        std::this_thread::sleep_for(100ms);
        h = s.get_job_history("report", 0);
        if (std::count_if(h.begin(), h.end(), [&](const json& r) { return r["id"] == id + "-1"; })) break;
    }
    db.disconnect();
    std::map<std::string, json> by_id;
    for (auto& r : h) by_id[r["id"]] = r;
    ASSERT_TRUE(by_id.count(id + "-0")) << "the killed attempt is recorded";
    EXPECT_EQ(by_id[id + "-0"]["status"], "error");
    EXPECT_NE(by_id[id + "-0"]["error"].get<std::string>().find("died"), std::string::npos);
    ASSERT_TRUE(by_id.count(id + "-1")) << "and retried";
    EXPECT_EQ(by_id[id + "-1"]["status"], "success");
    int runs_of_tick = 0;
    for (auto& l : read_lines(log)) runs_of_tick += l == std::to_string(tick) + " 1";
    EXPECT_EQ(runs_of_tick, 1);
}

TEST(SchedulerProcesses, AManualRunKilledMidJobIsRecordedAsFailedAndRetried) {
    auto root = test::scratch_dir();
    prepare(root);
    auto log = (root / "runs.log").string();
    int started[2];
    ASSERT_EQ(::pipe(started), 0);
    auto options = [&](JobAction action) {
        return SchedulerOptions{.jobs = {{"report", {.schedule = "@yearly", .action = std::move(action), .retries = 2}}},
                                .claim_ttl = 1s,
                                .max_clock_skew = 200ms};
    };
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::close(started[0]);
        {
            BasicDatabase<Filesystem, Scheduler> db(fs_store(root), {}, Scheduler(options([&](JobContext&) -> json {
                (void)!::write(started[1], "x", 1);  // then never finishes: killed mid-job
                std::this_thread::sleep_for(60s);
                return nullptr;
            })));
            db.connect();
            db.plugin<Scheduler>().run_job("report", "nightly-1");
        }
        ::_exit(0);
    }
    ::close(started[1]);
    char buf[4] = {};
    ASSERT_GT(::read(started[0], buf, 1), 0);
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    ::close(started[0]);
    // Another process finds the run's claim at its start, dead once claim_ttl + skew have passed.
    BasicDatabase<Filesystem, Scheduler> db(fs_store(root), {}, Scheduler(options([&](JobContext& ctx) -> json {
        append_line(log, std::to_string(ctx.attempt) + (ctx.manual ? " manual" : " tick"));
        return json{{"attempt", ctx.attempt}};
    })));
    db.connect();
    auto& s = db.plugin<Scheduler>();
    std::vector<json> h;
    for (int i = 0; i < 60; ++i) {
        std::this_thread::sleep_for(100ms);
        h = s.get_job_history("report", 0);
        if (std::count_if(h.begin(), h.end(), [&](const json& r) { return r["id"] == "report_nightly-1-1"; })) break;
    }
    EXPECT_EQ(s.run_job("report", "nightly-1")["status"], "duplicate") << "still one run per run id";
    db.disconnect();
    std::map<std::string, json> by_id;
    for (auto& r : h) by_id[r["id"]] = r;
    ASSERT_TRUE(by_id.count("report_nightly-1-0")) << "the killed attempt is recorded";
    EXPECT_EQ(by_id["report_nightly-1-0"]["status"], "error");
    EXPECT_NE(by_id["report_nightly-1-0"]["error"].get<std::string>().find("died"), std::string::npos);
    ASSERT_TRUE(by_id.count("report_nightly-1-1")) << "and retried";
    EXPECT_EQ(by_id["report_nightly-1-1"]["status"], "success");
    EXPECT_EQ(read_lines(log), std::vector<std::string>{"1 manual"});
}
