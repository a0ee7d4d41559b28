#pragma once
// The Scheduler's job model: what an action receives (JobContext), a job's configuration
// (JobConfig), the plugin's options (SchedulerOptions), and the next tick of a cron expression in a
// time zone (next_cron_run). See plugins/scheduler.hpp.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "s3db/detail/time.hpp"
#include "s3db/plugins/scheduler/cron.hpp"
#include "s3db/plugins/scheduler/tzif.hpp"

namespace s3db {

using json = nlohmann::json;

/// What a job's action gets.
struct JobContext {
    std::string job;
    std::int64_t scheduled_ms = 0;  // the tick (epoch ms); the start time for a manual run
    int attempt = 0;                // 0 first, then retries
    bool manual = false;            // run_job
    std::shared_ptr<std::atomic<bool>> cancel = std::make_shared<std::atomic<bool>>(false);
    /// Set when the run timed out or the scheduler stops: a long action should return early.
    bool cancelled() const noexcept { return cancel->load(); }
    /// The fencing token of the run's claim (a lease): 1 for its first holder, higher after each
    /// takeover of a dead runner's run. An action writing elsewhere can store it and refuse writes
    /// that carry a lower one. 0 when the scheduler has no store.
    std::uint64_t fencing_token = 0;
};

using JobAction = std::function<json(JobContext&)>;

struct JobConfig {
    std::string schedule{};                 // cron or @shortcut; empty for an interval job
    std::chrono::milliseconds interval{0};  // > 0: every interval, at multiples of it since the epoch
    JobAction action{};
    bool enabled = true;
    std::optional<std::chrono::milliseconds> timeout{};  // default SchedulerOptions::default_timeout
    std::optional<int> retries{};                        // retries after the first attempt
    std::string timezone{};                              // default SchedulerOptions::timezone
    std::string description{};
};

enum class MissedRuns { skip, run_once, run_all };

struct SchedulerOptions {
    std::map<std::string, JobConfig> jobs{};
    std::string timezone = "UTC";
    std::string zoneinfo_dir = "/usr/share/zoneinfo";
    std::chrono::milliseconds default_timeout{300'000};  // s3db.js's defaultTimeout
    int default_retries = 1;                             // s3db.js's defaultRetries
    std::chrono::milliseconds retry_base_delay{1000};    // retry n waits base·2^n, at most max (s3db.js: 2^n s ≤ 5 s)
    std::chrono::milliseconds retry_max_delay{5000};
    std::chrono::milliseconds claim_ttl{30'000};      // a claim not renewed for this long (+ skew) is dead
    std::chrono::milliseconds max_clock_skew{1'000};  // between processes' wall clocks
    MissedRuns missed_runs = MissedRuns::run_once;
    std::size_t max_missed_runs = 10;
    std::chrono::milliseconds missed_window{std::chrono::hours(24)};
    /// Claims older than this are deleted (except each job's newest), by a sweep every
    /// claims_sweep_every: 1 LIST (+1 LIST and 1 DeleteObjects when there are old ones) per job.
    /// Must exceed missed_window: a tick whose claim is gone could be claimed again. 0: missed_window + 1 h.
    std::chrono::milliseconds claims_retention{0};
    std::chrono::milliseconds claims_sweep_every{std::chrono::hours(1)};
    std::string history_resource = "plg_job_executions";
    bool persist_history = true;
    bool autostart = true;  // on_start starts the timer thread (false: call tick() yourself)
    std::string worker_id{};
    std::function<std::chrono::system_clock::time_point()> clock{};
    /// enable_job / disable_job are seen by every process: the state is kept at
    /// `plugin=scheduler/jobs/<job>/enabled`, and checked by the runner of each tick (+1 GET a run)
    /// and, for a job a process holds disabled, by that process at each of its ticks (1 GET).
    /// false: they act on this process only (and a run costs no GET).
    bool shared_enabled = true;
};

namespace detail {

inline std::string scheduler_rev(std::int64_t ms) {
    auto s = std::to_string(9'999'999'999'999LL - ms);
    return std::string(13 - std::min<std::size_t>(13, s.size()), '0') + s;
}

/// One job as the scheduler keeps it.
struct SchedJob {
    JobConfig config;
    std::optional<CronExpr> cron;
    std::shared_ptr<const TimeZone> zone;
    std::int64_t cursor = 0;  // ticks up to here were considered
    std::uint64_t runs = 0, successes = 0, errors = 0;
    std::int64_t last_run = 0;
    std::string last_status;
    int running = 0;
};

}  // namespace detail

/// The next tick of a cron expression in `zone` strictly after `after_ms` (epoch ms), with the DST
/// rules of scheduler/tzif.hpp; nullopt if the expression never matches again.
inline std::optional<std::int64_t> next_cron_run(const CronExpr& cron, const TimeZone& zone, std::int64_t after_ms) {
    std::int64_t after = detail::floor_div(after_ms, 1000);
    std::int64_t local_min = detail::floor_div(after + zone.offset_at(after), 60) + 1;
    for (int i = 0; i < 1000; ++i) {
        auto m = cron.next(local_min);
        if (!m) return std::nullopt;
        auto r = zone.resolve(*m * 60);
        if (r.utc > after) return r.utc * 1000;
        local_min = *m + 1;
    }
    return std::nullopt;
}

}  // namespace s3db
