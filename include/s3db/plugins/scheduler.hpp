#pragma once
// Scheduler: cron and interval jobs that run exactly once per scheduled time across any number of
// processes, with timeouts, retries with backoff, a history in s3db.js's `plg_job_executions`, and
// runs that survive the death of the process running them.
//
//   BasicDatabase<S3, Scheduler> db(s3, {}, Scheduler({.timezone = "Europe/Berlin", .jobs = {
//       {"cleanup", {.schedule = "0 3 * * *", .action = [](JobContext&) { return json{{"ok", 1}}; }}},
//       {"ping",    {.interval = 2s, .action = ...}}}}));
//   db.connect();   // starts the timer thread
//
// Schedules: 5-field cron (scheduler/cron.hpp: lists, ranges, steps, names, @hourly…@yearly,
// day-of-month/day-of-week OR rule) in a time zone read from the system's TZif files
// (scheduler/tzif.hpp: a local time skipped by a DST gap runs once, when the gap ends; a local time
// repeated by an overlap runs once, at its first occurrence). Interval jobs run at the multiples of
// their interval since the epoch, so every process agrees on the ticks.
//
// One execution per tick, no leader. Each scheduled run is claimed by creating
// `plugin=scheduler/claims/<job>/<13 digits: 9999999999999 - scheduled ms>` with If-None-Match:*:
// the scheduled time is the claim key, so of all processes that see the tick exactly one creates it
// and runs the job; the others get 412. (Why not a leader: a leader would need its own lease
// renewals on every process, fail over only after a ttl, and still need per-run records to survive
// its own crash mid-run; per-run claims give the same exactness with no idle traffic and no
// failover gap.) Keys count down so one LIST with max-keys 1 finds a job's newest claim.
// A claim is a lease of the coordination service (core/lease.hpp: LeaseService::try_create_at at
// the claim key, ttl = claim_ttl) whose body also holds `{job, scheduledAt, status:
// running|success|error|timeout|failed|disabled, attempt, run}`. Its runner renews it (If-Match)
// every claim_ttl / 3 while the job runs and releases it with a terminal status. The runner holds
// the claim on its own steady clock: once a renew could not land within claim_ttl - claim_ttl / 4
// (a store that does not answer, a pause) it counts the claim lost, cancels the action and records
// nothing, and watches the claim like any other process. A process that lost the claim checks it
// once after claim_ttl + max_clock_skew: finished → forgotten; still running but not renewed in
// time → the runner died: the taker takes the lease over (try_take_over_at, If-Match, so one taker;
// the fencing token goes up), records the dead attempt as an `error` ("runner lost") and retries
// per the job's policy. So a run is never lost, and never run twice while its runner renews in
// time. A runner paused past claim_ttl + max_clock_skew (SIGSTOP, a stalled VM) may find its run
// already retried elsewhere; its action sees ctx.cancelled() and it records nothing — but what the
// action did before is done: an action with outside effects that must not repeat should be
// idempotent, or fence them with ctx.fencing_token (it grows with every takeover of the run).
//
// Runs missed while no process was up: at start, the newest claim of each job says when it last
// ran; the ticks since (within `missed_window`) are skipped, run once (the latest), or all run
// (`missed_runs`, at most `max_missed_runs`), each through the same claim (so processes starting
// together still run each once). A job never run before has nothing missed.
//
// run_job(job, run_id) runs now, on the caller's thread, under a claim like a tick's but keyed by
// the run id (`plugin=scheduler/runs/<job>/<run id>`): one call per run id runs, in any process
// (the others get status "duplicate"), renewed while running; a runner that dies mid-run is found
// at the next start or claims sweep of any process (not within claim_ttl as a tick's is: no
// process knows the run id before), recorded as `error` and retried.
//
// Enabled or not is shared (shared_enabled, the default): enable_job / disable_job write
// `plugin=scheduler/jobs/<job>/enabled` ({enabled, updatedAt, worker}; last writer wins) before
// changing this process. The process that wins a tick's claim reads it before running: disabled →
// the claim is closed as `disabled` and the tick not run (event scheduler.job-skipped). A process
// that holds a job disabled reads it at each of the job's ticks, and claims the tick when some
// process enabled it. At start each process adopts it. So from the first tick claimed after a
// disable landed, no process runs the job; after an enable, the next tick runs. Jobs themselves
// (add_job / remove_job) are code: each process adds its own.
//
// Requests (Counting transport in tests/test_scheduler.cpp):
//   idle (no run due)          0 — the loop sleeps until the next tick, it does not poll
//   a run, the process that    1 PUT claim + 1 GET enabled state + 1 PUT history record + 2 PUT
//   executes it                partition refs + 1 PUT claim end = 5 PUTs + 1 GET (+1 PUT per
//                              claim_ttl/3 of run time, + 4 PUTs per retry; no GET without
//                              shared_enabled)
//   a run, every other process 1 PUT (412) + 1 GET claim_ttl later
//   a tick of a disabled job   the winner: 1 PUT claim + 1 GET + 1 PUT claim end; a process that
//                              knows it disabled: 1 GET
//   enable_job / disable_job   1 PUT
//   run_job                    as a run (the claim is `plugin=scheduler/runs/<job>/<run id>`)
//   start                      2 LISTs + ≤ 3 GETs per job (+1 GET, the enabled state; +1 GET
//                              per manual run's claim not seen finished before)
//   claims sweep (hourly)      2 LISTs per job (+1 LIST + 1 DeleteObjects when claims are older
//                              than claims_retention, +1 GET per manual run's claim not seen
//                              finished before, +1 DeleteObjects when some are older)
// s3db.js's scheduler: a lock (PUT + GET + DELETE) per run on the coordinator-elected leader, and
// a coordinator's heartbeats on every process.
//
// Thread-safety: every public member may be called from any thread.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <future>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "s3db/errors.hpp"
#include "s3db/core/catalogue.hpp"
#include "s3db/core/lease.hpp"
#include "s3db/core/listing.hpp"
#include "s3db/core/plugin.hpp"
#include "s3db/core/resource_ref.hpp"
#include "s3db/detail/time.hpp"
#include "s3db/plugins/scheduler/cron.hpp"
#include "s3db/plugins/scheduler/jobs.hpp"
#include "s3db/plugins/scheduler/tzif.hpp"
#include "s3db/transport/transport.hpp"
#include "s3db/transport/transport_ref.hpp"

namespace s3db {

class Scheduler : public Plugin<Scheduler> {
public:
    static constexpr std::string_view name = "Scheduler";

    explicit Scheduler(SchedulerOptions options = {}, PluginOptions plugin_options = {})
        : Plugin<Scheduler>(plugin_options), core_(std::make_shared<Core>()) {
        auto& c = *core_;
        c.o = std::move(options);
        if (!c.o.clock) c.o.clock = [] { return std::chrono::system_clock::now(); };
        if (c.o.worker_id.empty()) c.o.worker_id = detail::default_lease_holder();
        if (c.o.claim_ttl.count() < 30) throw PluginError(name, "claim_ttl must be at least 30 ms");
        if (c.o.max_clock_skew.count() < 0) throw PluginError(name, "max_clock_skew cannot be negative");
        if (c.o.claims_retention.count() == 0) c.o.claims_retention = c.o.missed_window + std::chrono::hours(1);
        if (c.o.claims_retention <= c.o.missed_window + c.o.claim_ttl)
            throw PluginError(name, "claims_retention must exceed missed_window + claim_ttl (an older tick could run again)");
        c.next_sweep = now_ms(c) + c.o.claims_sweep_every.count();
        auto jobs = std::move(c.o.jobs);
        c.o.jobs.clear();
        for (auto& [n, j] : jobs) c.jobs.emplace(n, make_job(c, n, std::move(j)));
    }

    // ---- lifecycle ----

    template <class Db>
    void on_install(Db& db) {
        auto& c = *core_;
        c.store.emplace(db.store());
        c.leases.emplace(*c.store,
                         LeaseOptions{.ttl = c.o.claim_ttl, .max_clock_skew = c.o.max_clock_skew,
                                      .safety_margin = c.o.claim_ttl / 4, .holder = c.o.worker_id, .wall_clock = c.o.clock},
                         "scheduler");
        c.emit = [this](std::string_view e, const json& d) { emit(e, d); };
        if (!c.o.persist_history) return;
        c.history = ResourceRef(db.has_resource(c.o.history_resource) ? db.resource(c.o.history_resource)
                                                                      : db.create_resource(history_config()));
    }

    void on_start() {
        try {
            recover();
        } catch (const TransportError& e) {  // the timer runs anyway; missed runs are not caught up
            emit_event(*core_, "scheduler.error", {{"error", std::string("recover: ") + e.what()}});
        }
        if (core_->o.autostart) start();
    }
    void on_stop() { stop(); }

    /// The definition of `plg_job_executions` (s3db.js's fields; partitions byJob, byDate).
    ResourceConfig history_config() const {
        ResourceConfig c;
        c.name = core_->o.history_resource;
        c.attributes = {{"id", "string|required"},          {"jobName", "string|required"},
                        {"status", "string|required"},      {"startTime", "number|required"},
                        {"endTime", "number|optional"},     {"duration", "number|optional"},
                        {"result", "json|optional"},        {"error", "string|optional"},
                        {"retryCount", "number|default:0"}, {"createdAt", "string|required"},
                        {"scheduledTime", "number|optional"}, {"worker", "string|optional"}};
        c.partitions = {{"byJob", {{"fields", {{"jobName", "string"}}}}},
                        {"byDate", {{"fields", {{"createdAt", "string|maxlength:10"}}}}}};
        c.behavior = "body-overflow";
        return c;
    }

    // ---- the timer ----

    /// Starts the timer thread (on_start does when autostart).
    void start() {
        auto core = core_;
        std::lock_guard g(core->m);
        if (core->loop.joinable()) return;
        core->stopping = false;
        core->loop = std::thread([core] { loop(core); });
    }

    /// Stops the timer, cancels running actions (ctx.cancelled()) and waits for them. Claims of runs
    /// cut short stay `running` and expire: another process retries them.
    void stop() {
        auto& c = *core_;
        std::thread t;
        {
            std::lock_guard g(c.m);
            c.stopping = true;
            t = std::move(c.loop);
            for (auto& f : c.cancels) f->store(true);
        }
        c.cv.notify_all();
        if (t.joinable()) t.join();
        join_runs(c, true);
    }

    /// Claims and runs what is due at the clock's now, checks claims lost to dead runners, and
    /// returns when the next tick is due (epoch ms). The timer thread calls it; with autostart off,
    /// tests call it by hand. Runs start on threads of their own; `wait` joins them before returning.
    std::int64_t tick(bool wait = false) {
        auto next = tick_core(core_);
        if (wait) join_runs(*core_, true);
        return next;
    }

    /// Reads each job's newest claim: runs missed while no process was up (missed_runs policy) and
    /// claims a dead runner left `running`. on_start calls it.
    void recover() { recover_core(core_); }

    // ---- jobs ----

    void add_job(const std::string& job, JobConfig config) {
        auto& c = *core_;
        auto j = make_job(c, job, std::move(config));
        {
            std::lock_guard g(c.m);
            if (c.jobs.count(job)) throw PluginError(name, "job '" + job + "' already exists");
            j.cursor = now_ms(c);
            c.jobs.emplace(job, std::move(j));
            c.jobs_changed = true;
        }
        c.cv.notify_all();
        emit_event(c, "scheduler.job-added", {{"jobName", job}});
    }
    void remove_job(const std::string& job) {
        auto& c = *core_;
        {
            std::lock_guard g(c.m);
            if (!c.jobs.erase(job)) throw PluginError(name, "no job '" + job + "'");
        }
        emit_event(c, "scheduler.job-removed", {{"jobName", job}});
    }
    void enable_job(const std::string& job) { set_enabled(job, true); }
    void disable_job(const std::string& job) { set_enabled(job, false); }

    /// {name, enabled, schedule|interval, timezone, nextRun, lastRun, lastStatus, runs, successes,
    /// errors, running} as this process saw them.
    json get_job_status(const std::string& job) const {
        auto& c = *core_;
        std::lock_guard g(c.m);
        auto it = c.jobs.find(job);
        if (it == c.jobs.end()) throw PluginError(name, "no job '" + job + "'");
        auto& j = it->second;
        json s{{"name", job}, {"enabled", j.config.enabled}, {"timezone", j.zone->name()}, {"runs", j.runs},
               {"successes", j.successes}, {"errors", j.errors}, {"running", j.running > 0},
               {"lastStatus", j.last_status}};
        if (j.cron) s["schedule"] = j.cron->text();
        else s["interval"] = j.config.interval.count();
        s["lastRun"] = j.last_run ? json(detail::iso_string(j.last_run)) : json(nullptr);
        auto n = next_tick(j, std::max(j.cursor, now_ms(c)));
        s["nextRun"] = n ? json(detail::iso_string(*n)) : json(nullptr);
        return s;
    }

    /// The job's executions (every process's), newest first. 1 LIST of the byJob partition + 1 GET each.
    std::vector<json> get_job_history(const std::string& job, std::size_t limit = 50, std::string status = {}) const {
        auto& c = *core_;
        if (!c.history) throw PluginError(name, "no history: not installed, or persist_history is off");
        std::vector<json> all;
        for (auto& r : c.history.get_many(c.history.list_ids(ListQuery{.partition = "byJob", .values = {{"jobName", job}}})))
            if (r) all.push_back(std::move(*r));
        std::erase_if(all, [&](const json& r) { return !status.empty() && r.value("status", "") != status; });
        std::sort(all.begin(), all.end(), [](const json& a, const json& b) {
            return std::pair(a.value("startTime", 0.0), a.value("id", "")) > std::pair(b.value("startTime", 0.0), b.value("id", ""));
        });
        if (limit && all.size() > limit) all.resize(limit);
        return all;
    }

    /// Runs `job` now on the calling thread (timeout and retries apply), claimed like a tick under
    /// `plugin=scheduler/runs/<job>/<run_id>` (If-None-Match): of all calls with one run_id, in any
    /// process, one runs it; the others return {status: "duplicate", runId} at once. The claim is
    /// renewed while it runs; a runner that dies mid-run is found by any process's next start or
    /// claims sweep, recorded as `error` and retried like a tick's. run_id: 1 to 100 letters,
    /// digits, '-', '_', '.', not only digits; empty → a fresh `manual-<ms>-<random>`. History ids:
    /// `<job>_<run_id>-<attempt>`. Returns {status, result, error, retryCount, duration, runId}.
    /// Costs: 1 PUT claim + the history record (3 PUTs) + 1 PUT claim end (+ renewals), as a tick.
    json run_job(const std::string& job, std::string run_id = {}) {
        auto& c = *core_;
        JobConfig cfg;
        {
            std::lock_guard g(c.m);
            auto it = c.jobs.find(job);
            if (it == c.jobs.end()) throw PluginError(name, "no job '" + job + "'");
            cfg = it->second.config;
        }
        auto now = now_ms(c);
        if (run_id.empty()) run_id = "manual-" + std::to_string(now) + "-" + detail::lease_random_hex(6);
        auto id_char = [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.'; };
        if (run_id.size() > 100 || !std::all_of(run_id.begin(), run_id.end(), id_char) ||
            std::all_of(run_id.begin(), run_id.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
            throw PluginError(name, "job '" + job + "': run id '" + InvalidKey::printable(run_id) +
                                        "': 1 to 100 letters, digits, '-', '_', '.', not only digits");
        join_runs(c, false);
        std::optional<Claim> claim;
        if (c.store) {
            claim = create_claim(c, job, now, run_id);
            if (!claim) return json{{"status", "duplicate"}, {"runId", run_id}};
        }
        auto out = execute(core_, job, cfg, now, 0, claim, history_base(job, now, run_id), true, false);
        out["runId"] = run_id;
        return out;
    }

    std::vector<std::string> job_names() const {
        std::lock_guard g(core_->m);
        std::vector<std::string> out;
        for (auto& [n, j] : core_->jobs) out.push_back(n);
        return out;
    }

private:
    struct Watch {
        std::string job;
        std::int64_t scheduled = 0, check_at = 0;
        std::string run{};  // a manual run's claim (then `scheduled` comes from it)
    };
    /// A claim this process holds: the lease at the run's claim key. Its fencing token starts at 1
    /// and goes up with every takeover; `attempt` is the attempt running under it.
    struct Claim {
        Lease lease;
        int attempt = 0;
        std::string run{};  // a manual run's id (run_job); empty for a tick
    };
    struct Core {
        SchedulerOptions o;
        mutable std::mutex m;
        std::condition_variable cv;
        bool stopping = false;
        bool jobs_changed = false;  // add_job / enable_job: the timer computes its next wake-up again
        std::thread loop;
        std::map<std::string, detail::SchedJob> jobs;
        std::vector<Watch> watch;
        std::list<std::pair<std::thread, std::shared_ptr<std::atomic<bool>>>> runs;  // thread, done
        std::list<std::shared_ptr<std::atomic<bool>>> cancels;
        std::optional<TransportRef> store;
        std::optional<LeaseService> leases;  // the claims (set with store)
        std::int64_t next_sweep = 0;
        std::function<void(std::string_view, const json&)> emit;
        ResourceRef history;  // plg_job_executions (unset without persist_history)
        std::set<std::string> settled_runs;  // manual runs' claims seen finished and still listed: not read again

        /// Threads still joinable here (a manual run's action after stop()) are joined; the last
        /// owner may be one of them, which cannot join itself: that one is detached as it ends.
        ~Core() {
            {
                std::lock_guard g(m);
                stopping = true;
            }
            cv.notify_all();
            auto finish = [](std::thread& t) {
                if (!t.joinable()) return;
                if (t.get_id() == std::this_thread::get_id()) t.detach();
                else t.join();
            };
            finish(loop);
            for (auto& r : runs) finish(r.first);
        }
    };
    using CorePtr = std::shared_ptr<Core>;

    static std::int64_t now_ms(const Core& c) { return detail::epoch_ms(c.o.clock()); }

    static detail::SchedJob make_job(const Core& c, const std::string& n, JobConfig cfg) {
        if (n.empty() || n.size() > 100 ||
            !std::all_of(n.begin(), n.end(), [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.'; }))
            throw PluginError(name, "job name '" + InvalidKey::printable(n) + "': 1 to 100 letters, digits, '-', '_', '.'");
        if (!cfg.action) throw PluginError(name, "job '" + n + "' has no action");
        if (cfg.schedule.empty() == (cfg.interval.count() <= 0))
            throw PluginError(name, "job '" + n + "' needs exactly one of schedule (cron) and interval");
        if (cfg.retries && *cfg.retries < 0) throw PluginError(name, "job '" + n + "': retries cannot be negative");
        detail::SchedJob j;
        if (!cfg.schedule.empty()) j.cron = CronExpr::parse(cfg.schedule);
        auto tz = cfg.timezone.empty() ? c.o.timezone : cfg.timezone;
        j.zone = std::make_shared<const TimeZone>(TimeZone::load(tz, c.o.zoneinfo_dir));
        j.config = std::move(cfg);
        j.cursor = now_ms(c);
        return j;
    }

    static std::optional<std::int64_t> next_tick(const detail::SchedJob& j, std::int64_t after) {
        if (j.cron) return next_cron_run(*j.cron, *j.zone, after);
        auto iv = j.config.interval.count();
        return (detail::floor_div(after, iv) + 1) * iv;
    }

    void set_enabled(const std::string& job, bool on) {
        auto& c = *core_;
        {
            std::lock_guard g(c.m);
            if (!c.jobs.count(job)) throw PluginError(name, "no job '" + job + "'");
        }
        // The shared state first: when it cannot be written, nothing changed (the error is thrown).
        if (shared(c)) {
            PutOptions o;
            o.content_type = "application/json";
            c.store->put(enabled_key(job), json{{"enabled", on}, {"updatedAt", now_ms(c)}, {"worker", c.o.worker_id}}.dump(), o);
        }
        {
            std::lock_guard g(c.m);
            auto it = c.jobs.find(job);
            if (it == c.jobs.end()) throw PluginError(name, "no job '" + job + "'");
            believe_enabled(c, it->second, on);
            c.jobs_changed = true;
        }
        c.cv.notify_all();
        emit_event(c, on ? "scheduler.job-enabled" : "scheduler.job-disabled", {{"jobName", job}});
    }

    static void emit_event(Core& c, std::string_view e, const json& d) {
        if (!c.emit) return;
        try {
            c.emit(e, d);
        } catch (const std::exception&) {
        }
    }

    // ---- the shared enabled state ----

    static bool shared(const Core& c) { return c.o.shared_enabled && c.store.has_value(); }
    static std::string enabled_key(const std::string& job) { return "plugin=scheduler/jobs/" + job + "/enabled"; }

    /// The job's enabled state as some process last set it; nullopt when none did (then each
    /// process keeps its JobConfig::enabled). 1 GET.
    static std::optional<bool> read_enabled(Core& c, const std::string& job) {
        auto raw = c.store->get(enabled_key(job));
        if (!raw) return std::nullopt;
        auto j = json::parse(raw->body, nullptr, false);
        if (!j.is_object() || !j.contains("enabled") || !j["enabled"].is_boolean()) return std::nullopt;
        return j["enabled"].get<bool>();
    }

    /// What this process holds (under c.m): a job enabled again starts at now (no catch-up of the
    /// time it was disabled).
    static void believe_enabled(Core& c, detail::SchedJob& j, bool on) {
        if (on && !j.config.enabled) j.cursor = now_ms(c);
        j.config.enabled = on;
    }

    // ---- claims ----

    static std::string claim_key(const std::string& job, std::int64_t scheduled) {
        return "plugin=scheduler/claims/" + job + "/" + detail::scheduler_rev(scheduled);
    }
    static std::string run_prefix(const std::string& job) { return "plugin=scheduler/runs/" + job + "/"; }
    static std::string lease_name(const std::string& job, std::int64_t scheduled, const std::string& run) {
        return run.empty() ? "scheduler/" + job + "/" + std::to_string(scheduled) : "scheduler/runs/" + job + "/" + run;
    }
    static json claim_data(const std::string& job, std::int64_t scheduled, std::string_view status, int attempt,
                           const std::string& run) {
        json d{{"job", job}, {"scheduledAt", scheduled}, {"status", status}, {"attempt", attempt}};
        if (!run.empty()) d["run"] = run;
        return d;
    }

    /// Claims a tick (run empty) or a manual run: 1 PUT If-None-Match. nullopt when another process
    /// has it.
    static std::optional<Claim> create_claim(Core& c, const std::string& job, std::int64_t scheduled,
                                             const std::string& run = {}) {
        auto key = run.empty() ? claim_key(job, scheduled) : run_prefix(job) + run;
        auto l = c.leases->try_create_at(std::move(key), lease_name(job, scheduled, run), 1,
                                         claim_data(job, scheduled, "running", 0, run));
        if (!l) return std::nullopt;
        return Claim{std::move(*l), 0, run};
    }

    // ---- the loop ----

    static void loop(CorePtr core) {
        auto& c = *core;
        std::unique_lock g(c.m);
        while (!c.stopping) {
            g.unlock();
            std::int64_t next = 0;
            try {
                next = tick_core(core);
            } catch (const std::exception& e) {
                emit_event(c, "scheduler.error", {{"error", e.what()}});
                next = now_ms(c) + 1000;
            }
            g.lock();
            auto wait = std::chrono::milliseconds(std::clamp<std::int64_t>(next - now_ms(c), 1, 60'000));
            c.cv.wait_for(g, wait, [&] { return c.stopping || c.jobs_changed; });
            c.jobs_changed = false;
        }
    }

    static std::int64_t tick_core(const CorePtr& core) {
        auto& c = *core;
        join_runs(c, false);
        auto now = now_ms(c);
        std::vector<std::pair<std::string, std::int64_t>> due, polls;
        std::vector<Watch> checks;
        std::int64_t next = now + 60'000;
        const bool share = shared(c);
        {
            std::lock_guard g(c.m);
            for (auto& [n, j] : c.jobs) {
                // A job held disabled: with a shared state, its ticks ask whether another process
                // enabled it (the latest tick runs if so); else it sleeps.
                if (!j.config.enabled && !share) continue;
                // Ticks more than one behind (a stalled loop, a suspended process) are missed runs:
                // the latest always runs, the older ones follow missed_runs.
                std::vector<std::int64_t> ticks;
                for (auto t = next_tick(j, j.cursor); t && *t <= now; t = next_tick(j, j.cursor)) {
                    j.cursor = *t;
                    ticks.push_back(*t);
                    if (ticks.size() > c.o.max_missed_runs + 1) ticks.erase(ticks.begin());
                }
                if (!j.config.enabled) {
                    if (!ticks.empty()) polls.emplace_back(n, ticks.back());
                } else {
                    std::size_t keep = c.o.missed_runs == MissedRuns::run_all ? ticks.size() : std::min<std::size_t>(1, ticks.size());
                    for (auto i = ticks.size() - keep; i < ticks.size(); ++i) due.emplace_back(n, ticks[i]);
                }
                if (auto t = next_tick(j, j.cursor)) next = std::min(next, *t);
            }
            auto split = std::partition(c.watch.begin(), c.watch.end(), [&](const Watch& w) { return w.check_at > now; });
            checks.assign(split, c.watch.end());
            c.watch.erase(split, c.watch.end());
            for (auto& w : c.watch) next = std::min(next, w.check_at);
        }
        for (auto& p : polls)
            guarded(c, p.first, p.second, [&] {
                if (read_enabled(c, p.first).value_or(false) && enable_here(c, p.first)) claim_and_spawn(core, p.first, p.second);
            });
        for (auto& d : due) guarded(c, d.first, d.second, [&] { claim_and_spawn(core, d.first, d.second); });
        if (now >= c.next_sweep) {
            c.next_sweep = now + c.o.claims_sweep_every.count();
            sweep(c, now);
        }
        for (auto& w : checks) guarded(c, w.job, w.scheduled, [&] { check_claim(core, w); }, w.run);
        std::lock_guard g(c.m);
        for (auto& w : c.watch) next = std::min(next, w.check_at);
        return next;
    }

    /// A store error while claiming or checking: look at that tick again in a second.
    template <class F>
    static void guarded(Core& c, const std::string& job, std::int64_t scheduled, F&& f, const std::string& run = {}) {
        try {
            f();
        } catch (const TransportError& e) {
            emit_event(c, "scheduler.error", {{"jobName", job}, {"scheduledTime", scheduled}, {"error", e.what()}});
            std::lock_guard g(c.m);
            c.watch.push_back({job, scheduled, now_ms(c) + 1000, run});
        }
    }

    static void claim_and_spawn(const CorePtr& core, const std::string& job, std::int64_t scheduled) {
        auto& c = *core;
        auto claim = create_claim(c, job, scheduled);
        if (!claim) {  // another process has it: look again once its claim could have expired
            watch_later(c, job, scheduled, {});
            return;
        }
        if (shared(c)) {
            std::optional<bool> on;
            try {
                on = read_enabled(c, job);
            } catch (const TransportError& e) {  // no answer: this process's view decides
                emit_event(c, "scheduler.error", {{"jobName", job}, {"scheduledTime", scheduled}, {"error", std::string("enabled state: ") + e.what()}});
            }
            if (on && !*on) {  // disabled by some process: the tick is closed, not run
                {
                    std::lock_guard g(c.m);
                    if (auto it = c.jobs.find(job); it != c.jobs.end()) believe_enabled(c, it->second, false);
                }
                close_claim(c, *claim, "disabled");
                emit_event(c, "scheduler.job-skipped", {{"jobName", job}, {"scheduledTime", scheduled}, {"reason", "disabled"}});
                return;
            }
        }
        spawn(core, job, scheduled, std::move(*claim));
    }

    /// Looks at a claim again once it could have expired (claim_ttl + max_clock_skew from now).
    static void watch_later(Core& c, const std::string& job, std::int64_t scheduled, const std::string& run) {
        std::lock_guard g(c.m);
        c.watch.push_back({job, scheduled, now_ms(c) + c.o.claim_ttl.count() + c.o.max_clock_skew.count(), run});
    }

    /// A job held disabled found enabled in the shared state: enabled here too. False when it is
    /// gone (removed meanwhile).
    static bool enable_here(Core& c, const std::string& job) {
        std::lock_guard g(c.m);
        auto it = c.jobs.find(job);
        if (it == c.jobs.end()) return false;
        const auto cursor = it->second.cursor;  // the polled tick is the one to run
        believe_enabled(c, it->second, true);
        it->second.cursor = cursor;
        return true;
    }

    /// A claim another process made: finished → forget; renewed → look again later; expired → take
    /// it over, record the dead attempt, retry.
    static void check_claim(const CorePtr& core, const Watch& w) {
        auto& c = *core;
        const bool manual = !w.run.empty();
        auto key = manual ? run_prefix(w.job) + w.run : claim_key(w.job, w.scheduled);
        auto raw = c.store->get(key);
        if (!raw) {  // our claim attempt got no verdict: try again while the tick is recent
            if (!manual && w.scheduled >= now_ms(c) - c.o.missed_window.count()) claim_and_spawn(core, w.job, w.scheduled);
            return;
        }
        auto j = json::parse(raw->body, nullptr, false);
        if (!j.is_object() || j.value("status", "") != "running") {
            if (manual) {
                std::lock_guard g(c.m);
                c.settled_runs.insert(key);
            }
            return;
        }
        const std::int64_t scheduled = manual ? j.value("scheduledAt", std::int64_t{0}) : w.scheduled;
        auto expires = j.value("expiresAt", std::int64_t{0});
        auto now = now_ms(c);
        if (now <= expires + c.o.max_clock_skew.count()) {
            std::lock_guard g(c.m);
            c.watch.push_back({w.job, w.scheduled, expires + c.o.max_clock_skew.count() + 1, w.run});
            return;
        }
        int dead = j.value("attempt", 0);
        JobConfig cfg;
        {
            std::lock_guard g(c.m);
            auto it = c.jobs.find(w.job);
            if (it == c.jobs.end()) return;
            cfg = it->second.config;
        }
        int retries = cfg.retries.value_or(c.o.default_retries);
        bool again = dead < retries;
        // A claim written before claims were leases has no token: its attempt stands in for it.
        auto token = j.value("token", static_cast<std::uint64_t>(dead) + 1) + 1;
        auto taken = c.leases->try_take_over_at(key, lease_name(w.job, scheduled, w.run), raw->info.etag, token,
                                                claim_data(w.job, scheduled, again ? "running" : "failed", dead + 1, w.run));
        if (!taken) return;  // another process took it over first
        Claim claim{std::move(*taken), dead + 1, w.run};
        auto id = history_base(w.job, scheduled, w.run) + "-" + std::to_string(dead);
        std::optional<json> prior;
        if (c.history) prior = c.history.get_or_null(id);
        emit_event(c, "scheduler.job-recovered", {{"jobName", w.job}, {"scheduledTime", scheduled}, {"attempt", dead}});
        if (prior && prior->value("status", "") == "success") {  // it finished, then died before closing the claim
            claim.attempt = dead;
            close_claim(c, claim, "success");
            return;
        }
        if (!prior)
            record(c, id, w.job, scheduled, "error", now, now, json(nullptr),
                   "the runner stopped renewing its claim (process died mid-run)", dead);
        if (!again) return;
        spawn(core, w.job, scheduled, std::move(claim));
    }

    static void spawn(const CorePtr& core, const std::string& job, std::int64_t scheduled, Claim claim) {
        auto& c = *core;
        JobConfig cfg;
        {
            std::lock_guard g(c.m);
            auto it = c.jobs.find(job);
            if (it == c.jobs.end()) return;
            cfg = it->second.config;
        }
        auto done = std::make_shared<std::atomic<bool>>(false);
        std::lock_guard g(c.m);
        c.runs.emplace_back(std::thread([core, job, cfg, scheduled, claim, done] {
                                try {
                                    run_claimed(core, job, cfg, scheduled, claim);
                                } catch (const std::exception& e) {
                                    emit_event(*core, "scheduler.error", {{"jobName", job}, {"error", e.what()}});
                                }
                                done->store(true);
                            }),
                            done);
    }

    /// Joins the finished runs, or all (`all`: also the action threads a run hands over as it ends).
    static void join_runs(Core& c, bool all) {
        for (;;) {
            std::list<std::pair<std::thread, std::shared_ptr<std::atomic<bool>>>> finished;
            {
                std::lock_guard g(c.m);
                for (auto it = c.runs.begin(); it != c.runs.end();) {
                    if (all || it->second->load()) finished.splice(finished.end(), c.runs, it++);
                    else ++it;
                }
            }
            if (finished.empty()) return;
            for (auto& [t, d] : finished) t.join();
            if (!all) return;
        }
    }

    static void run_claimed(const CorePtr& core, const std::string& job, const JobConfig& cfg, std::int64_t scheduled,
                            Claim claim) {
        const bool manual = !claim.run.empty();
        const int attempt = claim.attempt;
        auto base = history_base(job, scheduled, claim.run);
        execute(core, job, cfg, scheduled, attempt, std::move(claim), base, manual, true);
    }

    /// History ids are `<base>-<attempt>`: `<job>_<scheduled ms>` for a tick, `<job>_<run id>` for
    /// a manual run.
    static std::string history_base(const std::string& job, std::int64_t scheduled, const std::string& run) {
        return job + "_" + (run.empty() ? std::to_string(scheduled) : run);
    }

    /// Attempts from `attempt` on until success or retries run out; history per attempt; the claim
    /// (when there is one) renewed while running and closed at the end.
    /// `cancellable`: stop() ends it (runs on the scheduler's threads; not a run_job on its caller's).
    static json execute(const CorePtr& core, const std::string& job, const JobConfig& cfg, std::int64_t scheduled,
                        int attempt, std::optional<Claim> claim, const std::string& base, bool manual,
                        bool cancellable) {
        auto& c = *core;
        // The claim lost (taken over, or not renewed in time on our clock): nothing is recorded;
        // whoever finds it dead retries the run, this process too.
        auto lost = [&] {
            watch_later(c, job, scheduled, claim->run);
            return json{{"status", "lost"}};
        };
        int retries = cfg.retries.value_or(c.o.default_retries);
        auto timeout = cfg.timeout.value_or(c.o.default_timeout);
        for (;;) {
            JobContext ctx{job, scheduled, attempt, manual};
            ctx.fencing_token = claim ? claim->lease.token : 0;
            {
                std::lock_guard g(c.m);
                if (c.stopping && cancellable) return json{{"status", "cancelled"}};
                c.cancels.push_back(ctx.cancel);
                if (auto it = c.jobs.find(job); it != c.jobs.end()) ++it->second.running;
            }
            emit_event(c, "scheduler.job-start", {{"jobName", job}, {"scheduledTime", scheduled}, {"attempt", attempt}});
            auto start = now_ms(c);
            auto steady_start = std::chrono::steady_clock::now();
            auto promise = std::make_shared<std::promise<json>>();
            auto fut = promise->get_future();
            auto action = cfg.action;
            auto worker_done = std::make_shared<std::atomic<bool>>(false);
            std::thread worker([promise, action, ctx, worker_done]() mutable {
                try {
                    promise->set_value(action(ctx));
                } catch (...) {
                    promise->set_exception(std::current_exception());
                }
                worker_done->store(true);
            });
            std::string status = "success", error;
            json result = nullptr;
            bool claim_lost = false;
            auto deadline = steady_start + timeout;
            auto slice = std::max(std::chrono::milliseconds(10), c.o.claim_ttl / 3);
            for (;;) {
                auto left = deadline - std::chrono::steady_clock::now();
                if (fut.wait_for(std::min<std::chrono::steady_clock::duration>(slice, std::max(left, left.zero()))) ==
                    std::future_status::ready) {
                    try {
                        result = fut.get();
                    } catch (const std::exception& e) {
                        status = "error", error = e.what();
                    } catch (...) {
                        status = "error", error = "unknown exception";
                    }
                    break;
                }
                if (std::chrono::steady_clock::now() >= deadline) {
                    status = "timeout", error = "timed out after " + std::to_string(timeout.count()) + " ms";
                    ctx.cancel->store(true);
                    break;
                }
                if (claim && !renew_claim(c, *claim, attempt)) {
                    claim_lost = true;  // taken over, or run out on our clock: whoever finds it dead retries it
                    ctx.cancel->store(true);
                    break;
                }
            }
            auto end = now_ms(c);
            keep_worker(c, std::move(worker), worker_done);
            {
                std::lock_guard g(c.m);
                c.cancels.remove(ctx.cancel);
                if (auto it = c.jobs.find(job); it != c.jobs.end()) {
                    auto& j = it->second;
                    --j.running;
                    if (!claim_lost) {
                        ++j.runs;
                        (status == "success" ? j.successes : j.errors) += 1;
                        j.last_run = start;
                        j.last_status = status;
                    }
                }
            }
            if (claim_lost) return lost();
            record(c, base + "-" + std::to_string(attempt), job, scheduled, status, start, end, result, error, attempt);
            json out{{"status", status}, {"result", result}, {"retryCount", attempt}, {"duration", end - start}};
            if (!error.empty()) out["error"] = error;
            emit_event(c, status == "success" ? "scheduler.job-complete" : status == "timeout" ? "scheduler.job-timeout" : "scheduler.job-error",
                       json{{"jobName", job}, {"scheduledTime", scheduled}, {"attempt", attempt}, {"status", status}, {"error", error}});
            if (status == "success" || attempt >= retries) {
                if (claim) close_claim(c, *claim, status);
                return out;
            }
            // Back off (renewing the claim), then the next attempt.
            auto pause = std::min(c.o.retry_max_delay, c.o.retry_base_delay * (1 << std::min(attempt, 20)));
            auto until = std::chrono::steady_clock::now() + pause;
            while (std::chrono::steady_clock::now() < until) {
                std::unique_lock g(c.m);
                if (c.cv.wait_until(g, std::min(until, std::chrono::steady_clock::now() + slice), [&] { return c.stopping && cancellable; }))
                    return json{{"status", "cancelled"}};
                g.unlock();
                if (claim && !renew_claim(c, *claim, attempt)) return lost();
            }
            ++attempt;
            if (claim && !renew_claim(c, *claim, attempt)) return lost();
        }
    }

    /// The action's thread, joined once it ends (one that outlived its timeout: at the latest at stop).
    static void keep_worker(Core& c, std::thread worker, std::shared_ptr<std::atomic<bool>> done) {
        std::lock_guard g(c.m);
        c.runs.emplace_back(std::move(worker), done);
    }

    /// Renews the claim for `attempt` (1 PUT). False when it is lost: refused (taken over), or no
    /// longer valid on our clock. A renew with no verdict keeps the claim while it is still valid.
    static bool renew_claim(Core& c, Claim& claim, int attempt) {
        claim.attempt = attempt;
        claim.lease.data["attempt"] = attempt;
        try {
            return c.leases->renew(claim.lease);
        } catch (const TransportError&) {
            return claim.lease.valid();
        }
    }

    /// The end of a run: the claim released with its terminal status, retried through store
    /// errors, since a claim left `running` would make another process take the run over (it would
    /// find the history and not run it again, but only if that write landed).
    static void close_claim(Core& c, Claim& claim, std::string_view status) {
        claim.lease.data["status"] = status;
        claim.lease.data["attempt"] = claim.attempt;
        for (int i = 0; i < 5; ++i) {
            try {
                c.leases->release(claim.lease);
                return;
            } catch (const TransportError&) {
                std::this_thread::sleep_for(std::chrono::milliseconds(50 << i));
            }
        }
    }

    static void record(Core& c, const std::string& id, const std::string& job, std::int64_t scheduled,
                       std::string_view status, std::int64_t start, std::int64_t end, const json& result,
                       const std::string& error, int attempt) {
        if (!c.history) return;
        json r{{"id", id}, {"jobName", job}, {"status", status}, {"startTime", start}, {"endTime", end},
               {"duration", end - start}, {"retryCount", attempt}, {"createdAt", detail::iso_string(start)},
               {"scheduledTime", scheduled}, {"worker", c.o.worker_id}};
        if (!result.is_null()) r["result"] = result;
        if (!error.empty()) r["error"] = error;
        try {
            c.history.insert(std::move(r));
        } catch (const AlreadyExists&) {  // written by an earlier attempt whose answer was lost
        } catch (const std::exception& e) {
            emit_event(c, "scheduler.error", {{"jobName", job}, {"error", std::string("history: ") + e.what()}});
        }
    }

    /// A job's manual runs' claims: those older than claims_retention (by the store's clock) are
    /// deleted; the others not yet seen finished are checked (check_claim: a dead runner's run is
    /// taken over). 1 LIST per 1000 claims, +1 GET per claim not seen finished before, +1
    /// DeleteObjects when some are old.
    static void scan_runs(Core& c, const std::string& job, std::int64_t now) {
        const auto prefix = run_prefix(job);
        const auto cutoff = std::chrono::system_clock::now() - c.o.claims_retention;
        std::vector<std::string> old;
        std::set<std::string> listed;  // the claims kept: settled_runs holds no others
        ListOptions lo{.prefix = prefix};
        for (;;) {
            auto page = c.store->list(lo);
            for (auto& e : page.objects) {
                if (e.last_modified != std::chrono::system_clock::time_point{} && e.last_modified < cutoff) {
                    old.push_back(e.key);
                    continue;
                }
                listed.insert(e.key);
                std::lock_guard g(c.m);
                if (c.settled_runs.count(e.key)) continue;
                auto run = e.key.substr(prefix.size());
                if (std::none_of(c.watch.begin(), c.watch.end(), [&](const Watch& w) { return w.job == job && w.run == run; }))
                    c.watch.push_back({job, 0, now, run});
            }
            if (!page.truncated()) break;
            lo.continuation_token = page.next_continuation_token;
        }
        {  // forget runs whose claims are gone (swept here, or by another process)
            std::lock_guard g(c.m);
            for (auto it = c.settled_runs.lower_bound(prefix); it != c.settled_runs.end() && it->starts_with(prefix);)
                it = listed.count(*it) ? std::next(it) : c.settled_runs.erase(it);
        }
        if (!old.empty()) c.store->remove_many(old);
    }

    /// Deletes claims older than claims_retention, each job's newest kept (it dates the last run);
    /// scans the manual runs' claims.
    static void sweep(Core& c, std::int64_t now) {
        std::vector<std::string> names;
        {
            std::lock_guard g(c.m);
            for (auto& [n, j] : c.jobs) names.push_back(n);
        }
        for (auto& job : names) {
            try {
                scan_runs(c, job, now);
            } catch (const TransportError& e) {
                emit_event(c, "scheduler.error", {{"jobName", job}, {"error", std::string("manual runs sweep: ") + e.what()}});
            }
            try {
                auto prefix = "plugin=scheduler/claims/" + job + "/";
                // Keys count down: those after the cutoff's key are the older claims.
                auto old = c.store->list(ListOptions{.prefix = prefix, .start_after = prefix + detail::scheduler_rev(now - c.o.claims_retention.count())});
                if (old.objects.empty()) continue;
                auto newest = c.store->list(ListOptions{.prefix = prefix, .max_keys = 1});
                std::vector<std::string> keys;
                for (auto& e : old.objects)
                    if (newest.objects.empty() || e.key != newest.objects.front().key) keys.push_back(e.key);
                if (!keys.empty()) c.store->remove_many(keys);
            } catch (const TransportError& e) {
                emit_event(c, "scheduler.error", {{"jobName", job}, {"error", std::string("claims sweep: ") + e.what()}});
            }
        }
    }

    static void recover_core(const CorePtr& core) {
        auto& c = *core;
        if (!c.store) return;
        std::vector<std::string> names;
        {
            std::lock_guard g(c.m);
            for (auto& [n, j] : c.jobs) names.push_back(n);
        }
        auto now = now_ms(c);
        for (auto& job : names) {
            if (shared(c))
                if (auto on = read_enabled(c, job)) {
                    std::lock_guard g(c.m);
                    if (auto it = c.jobs.find(job); it != c.jobs.end()) believe_enabled(c, it->second, *on);
                }
            scan_runs(c, job, now);  // manual runs a dead runner left running
            auto page = c.store->list(ListOptions{.prefix = "plugin=scheduler/claims/" + job + "/", .max_keys = 3});
            std::vector<std::int64_t> missed;
            std::optional<std::int64_t> last;
            for (auto& e : page.objects) {
                std::int64_t t = 0;
                try {
                    t = 9'999'999'999'999LL - std::stoll(e.key.substr(e.key.rfind('/') + 1));
                } catch (const std::exception&) {
                    continue;  // not a claim of ours
                }
                if (!last) last = t;
                std::lock_guard g(c.m);
                c.watch.push_back({job, t, now});  // a claim left running by a dead runner is taken over
            }
            if (!last) continue;
            std::lock_guard g(c.m);
            auto it = c.jobs.find(job);
            if (it == c.jobs.end() || !it->second.config.enabled) continue;
            auto& j = it->second;
            auto from = std::max(*last, now - c.o.missed_window.count());
            for (auto t = next_tick(j, from); t && *t <= now; t = next_tick(j, *t)) {
                missed.push_back(*t);
                if (missed.size() > c.o.max_missed_runs) missed.erase(missed.begin());
            }
            if (c.o.missed_runs == MissedRuns::skip || missed.empty()) continue;
            if (c.o.missed_runs == MissedRuns::run_once) missed.erase(missed.begin(), missed.end() - 1);
            // Hand them to the next tick: the cursor goes back to just before the first.
            j.cursor = std::min(j.cursor, missed.front() - 1);
        }
    }

    CorePtr core_;
};

}  // namespace s3db
