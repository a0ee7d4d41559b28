#pragma once
// A wall clock a test moves by hand. Copies share the time, so the function a plugin was given
// (fn()) sees every later set() and advance().

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include "s3db/detail/time.hpp"

namespace s3db::test {

struct ManualClock {
    using Clock = std::chrono::system_clock;

    /// Milliseconds since the epoch of a UTC date and time.
    static std::int64_t at(int y, unsigned m, unsigned d, int hour = 0, int minute = 0) {
        return detail::days_from_civil(y, m, d) * detail::ms_per_day + (hour * 60 + minute) * 60'000LL;
    }

    explicit ManualClock(std::int64_t start_ms = 1'700'000'000'000) : ms(std::make_shared<std::atomic<std::int64_t>>(start_ms)) {}

    std::function<Clock::time_point()> fn() const {
        return [ms = ms] { return Clock::time_point(std::chrono::milliseconds(ms->load())); };
    }
    void set(std::int64_t v) const { ms->store(v); }
    void advance(std::int64_t d) const { ms->fetch_add(d); }
    void advance(std::chrono::milliseconds d) const { ms->fetch_add(d.count()); }

    std::shared_ptr<std::atomic<std::int64_t>> ms;
};

}  // namespace s3db::test
