#pragma once
// Dates as JavaScript's Date handles them, in UTC: civil-day arithmetic, `toISOString()`, and the
// ISO 8601 forms `new Date(string)` reads. Shared by the schema (datetime fields), the catalogue and
// the S3 responses, so every timestamp is produced and read one way.

#include <chrono>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "s3db/detail/config.hpp"

namespace s3db::detail {

// ---- dates: what JavaScript's Date does for the ISO formats, in UTC ----

inline constexpr std::int64_t ms_per_day = 86400000;
inline constexpr std::int64_t max_time_ms = 8640000000000000;  // ±100 000 000 days, JS's range

S3DB_DECL std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept;

struct Civil {
    std::int64_t year;
    unsigned month, day;
};

S3DB_DECL Civil civil_from_days(std::int64_t z) noexcept;

inline std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
    std::int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/// `Date.prototype.toISOString()`.
S3DB_DECL std::string iso_string(std::int64_t ms);

/// Milliseconds since the epoch: JavaScript's `Date.getTime()`.
inline std::int64_t epoch_ms(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

/// The current time as `toISOString()` prints it.
inline std::string iso_now() { return iso_string(epoch_ms(std::chrono::system_clock::now())); }

/// Parses the ISO 8601 forms JavaScript's `new Date(string)` reads: YYYY[-MM[-DD]], ±YYYYYY,
/// then optionally [T|t|space]HH:mm[:ss[.fraction]] and Z or ±HH[:]mm. Day overflow rolls into
/// the next month as in V8 ("2023-02-29" is March 1st). Times without an offset are taken as UTC
/// (JavaScript would use the process's local zone). Other formats ("Jan 2 2024") are refused.
S3DB_DECL std::optional<std::int64_t> parse_js_date(std::string_view s);

/// `new Date(number)`: the time value truncated to whole milliseconds, within JS's range.
inline std::optional<std::int64_t> js_time_from_number(double v) {
    if (!std::isfinite(v) || std::fabs(v) > static_cast<double>(max_time_ms)) return std::nullopt;
    return static_cast<std::int64_t>(std::trunc(v));
}

}  // namespace s3db::detail

#if S3DB_DEFINE_BODIES

#include "s3db/detail/js_text.hpp"

namespace s3db::detail {

S3DB_DECL std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

S3DB_DECL Civil civil_from_days(std::int64_t z) noexcept {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    return {y + (m <= 2), m, d};
}

S3DB_DECL std::string iso_string(std::int64_t ms) {
    const std::int64_t days = floor_div(ms, ms_per_day);
    const auto rest = static_cast<unsigned>(ms - days * ms_per_day);
    const Civil c = civil_from_days(days);
    char buf[32];
    char* p = buf;
    auto put = [&p](std::uint64_t v, int width) {
        char* end = p + width;
        for (char* q = end; q != p;) {
            *--q = static_cast<char>('0' + v % 10);
            v /= 10;
        }
        p = end;
    };
    if (c.year >= 0 && c.year <= 9999) {
        put(static_cast<std::uint64_t>(c.year), 4);
    } else {
        *p++ = c.year < 0 ? '-' : '+';
        put(static_cast<std::uint64_t>(c.year < 0 ? -c.year : c.year), 6);
    }
    *p++ = '-';
    put(c.month, 2);
    *p++ = '-';
    put(c.day, 2);
    *p++ = 'T';
    put(rest / 3600000, 2);
    *p++ = ':';
    put(rest / 60000 % 60, 2);
    *p++ = ':';
    put(rest / 1000 % 60, 2);
    *p++ = '.';
    put(rest % 1000, 3);
    *p++ = 'Z';
    return std::string(buf, p);
}

S3DB_DECL std::optional<std::int64_t> parse_js_date(std::string_view s) {
    s = js_trim(s, true, true);
    std::size_t i = 0;
    auto digits = [&](std::size_t min, std::size_t max, std::int64_t& out) {
        std::size_t start = i;
        out = 0;
        while (i < s.size() && i - start < max && s[i] >= '0' && s[i] <= '9') out = out * 10 + (s[i++] - '0');
        return i - start >= min;
    };
    std::int64_t year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0, millis = 0;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
        bool neg = s[i++] == '-';
        if (!digits(6, 6, year)) return std::nullopt;
        if (neg) year = -year;
    } else if (!digits(4, 4, year)) {
        return std::nullopt;
    }
    if (i < s.size() && s[i] == '-') {
        ++i;
        if (!digits(1, 2, month) || month < 1 || month > 12) return std::nullopt;
        if (i < s.size() && s[i] == '-') {
            ++i;
            if (!digits(1, 2, day) || day < 1 || day > 31) return std::nullopt;
        }
    }
    std::int64_t offset_minutes = 0;
    if (i < s.size()) {
        if (s[i] != 'T' && s[i] != 't' && s[i] != ' ') return std::nullopt;
        ++i;
        if (!digits(2, 2, hour) || i >= s.size() || s[i++] != ':' || !digits(2, 2, minute)) return std::nullopt;
        if (i < s.size() && s[i] == ':') {
            ++i;
            if (!digits(2, 2, second)) return std::nullopt;
            if (i < s.size() && s[i] == '.') {
                ++i;
                std::size_t start = i;
                std::int64_t frac = 0;
                int kept = 0;
                while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
                    if (kept < 3) {
                        frac = frac * 10 + (s[i] - '0');
                        ++kept;
                    }
                    ++i;
                }
                if (i == start) return std::nullopt;
                while (kept < 3) {
                    frac *= 10;
                    ++kept;
                }
                millis = frac;
            }
        }
        if (hour > 24 || minute > 59 || second > 59 || (hour == 24 && (minute || second || millis))) return std::nullopt;
        if (i < s.size()) {
            if (s[i] == 'Z' || s[i] == 'z') {
                ++i;
            } else if (s[i] == '+' || s[i] == '-') {
                bool neg = s[i++] == '-';
                std::int64_t oh = 0, om = 0;
                if (!digits(2, 2, oh)) return std::nullopt;
                if (i < s.size() && s[i] == ':') ++i;
                if (!digits(2, 2, om) || oh > 23 || om > 59) return std::nullopt;
                offset_minutes = (neg ? -1 : 1) * (oh * 60 + om);
            } else {
                return std::nullopt;
            }
        }
        if (i != s.size()) return std::nullopt;
    }
    std::int64_t days = days_from_civil(year, static_cast<unsigned>(month), 1) + (day - 1);
    std::int64_t ms = days * ms_per_day + ((hour * 60 + minute - offset_minutes) * 60 + second) * 1000 + millis;
    if (ms > max_time_ms || ms < -max_time_ms) return std::nullopt;
    return ms;
}

}  // namespace s3db::detail

#endif  // S3DB_DEFINE_BODIES
