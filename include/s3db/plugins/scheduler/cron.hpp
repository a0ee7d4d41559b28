#pragma once
// Cron expressions for the Scheduler: the 5 fields `minute hour day-of-month month day-of-week`,
// each a comma list of `*`, `n`, `a-b`, `*/s`, `a-b/s`, `a/s` (a to the field's end), with month
// names jan–dec and day names sun–sat (any case; 0 and 7 are Sunday), and the shortcuts
// `@hourly @daily @midnight @weekly @monthly @yearly @annually`.
//
// Day-of-month and day-of-week: when both are restricted (neither starts with `*`) a day matches if
// EITHER does (Vixie cron's rule, s3db.js's too); when one starts with `*` only the other counts.
//
// `next(local_minute)` finds the first matching local minute at or after the given one by skipping
// whole months, days and hours that cannot match: a few dozen steps, never a minute-by-minute walk.
// Times here are local civil times counted as minutes since 1970-01-01 00:00 (no zone): the time
// zone rules (DST gaps and overlaps) are applied by the caller (scheduler/tzif.hpp).

#include <cctype>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "s3db/errors.hpp"
#include "s3db/detail/time.hpp"

namespace s3db {

/// A cron expression the Scheduler cannot read; names the expression and the field.
class CronError : public ConfigError {
public:
    CronError(const std::string& expression, const std::string& why)
        : ConfigError("cron expression '" + InvalidKey::printable(expression) + "': " + why), expression_(expression) {}
    const std::string& expression() const noexcept { return expression_; }

private:
    std::string expression_;
};

class CronExpr {
public:
    /// Throws CronError for anything that is not a valid expression.
    static CronExpr parse(std::string_view text) {
        CronExpr c;
        c.text_ = std::string(text);
        std::string t = trim(text);
        if (t.starts_with('@')) {
            std::string lower;
            for (char ch : t) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
            if (lower == "@hourly") t = "0 * * * *";
            else if (lower == "@daily" || lower == "@midnight") t = "0 0 * * *";
            else if (lower == "@weekly") t = "0 0 * * 0";
            else if (lower == "@monthly") t = "0 0 1 * *";
            else if (lower == "@yearly" || lower == "@annually") t = "0 0 1 1 *";
            else throw CronError(c.text_, "unknown shortcut (expected @hourly, @daily, @weekly, @monthly or @yearly)");
        }
        std::vector<std::string> fields;
        std::string cur;
        for (char ch : t) {
            if (ch == ' ' || ch == '\t') {
                if (!cur.empty()) fields.push_back(std::move(cur)), cur.clear();
            } else {
                cur += ch;
            }
        }
        if (!cur.empty()) fields.push_back(std::move(cur));
        if (fields.size() != 5)
            throw CronError(c.text_, "expected 5 fields (minute hour day-of-month month day-of-week), got " +
                                         std::to_string(fields.size()));
        c.minutes_ = c.field(fields[0], "minute", 0, 59);
        c.hours_ = c.field(fields[1], "hour", 0, 23);
        c.mdays_ = c.field(fields[2], "day-of-month", 1, 31);
        static constexpr const char* months[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                                 "jul", "aug", "sep", "oct", "nov", "dec"};
        c.months_ = c.field(fields[3], "month", 1, 12, months);
        static constexpr const char* days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
        auto dow = c.field(fields[4], "day-of-week", 0, 7, days);
        if (dow & (1u << 7)) dow = (dow | 1u) & ~(std::uint64_t{1} << 7);  // 7 is Sunday
        c.wdays_ = dow;
        c.mday_star_ = fields[2].starts_with('*');
        c.wday_star_ = fields[4].starts_with('*');
        if (!c.next(0)) throw CronError(c.text_, "matches no date (e.g. February 30th)");
        return c;
    }

    const std::string& text() const noexcept { return text_; }

    bool day_matches(std::int64_t days_since_epoch, unsigned mday) const noexcept {
        auto wday = static_cast<unsigned>(((days_since_epoch + 4) % 7 + 7) % 7);  // 1970-01-01 was a Thursday
        bool m = (mdays_ >> mday) & 1, w = (wdays_ >> wday) & 1;
        if (mday_star_ || wday_star_) return m && w;
        return m || w;
    }

    /// The first matching local minute >= `minute` (minutes since 1970-01-01 00:00 local), within
    /// 8 years; nullopt if none (an expression like `0 0 30 2 *`).
    std::optional<std::int64_t> next(std::int64_t minute) const {
        const std::int64_t limit = minute + 8LL * 366 * 1440;
        std::int64_t t = minute;
        while (t <= limit) {
            std::int64_t day = detail::floor_div(t, 1440);
            auto civ = detail::civil_from_days(day);
            unsigned hour = static_cast<unsigned>((t - day * 1440) / 60), min = static_cast<unsigned>(t % 60);
            if (!((months_ >> civ.month) & 1)) {  // to the 1st of the next month
                unsigned m = civ.month == 12 ? 1 : civ.month + 1;
                auto y = civ.year + (civ.month == 12);
                t = detail::days_from_civil(y, m, 1) * 1440;
                continue;
            }
            if (!day_matches(day, civ.day)) {
                t = (day + 1) * 1440;
                continue;
            }
            if (!((hours_ >> hour) & 1)) {
                auto h = next_bit(hours_, hour + 1, 23);
                t = h ? day * 1440 + *h * 60 : (day + 1) * 1440;
                continue;
            }
            if (!((minutes_ >> min) & 1)) {
                auto m = next_bit(minutes_, min + 1, 59);
                t = m ? day * 1440 + hour * 60 + *m : day * 1440 + (hour + 1) * 60;
                continue;
            }
            return t;
        }
        return std::nullopt;
    }

private:
    static std::string trim(std::string_view s) {
        while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
        while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
        return std::string(s);
    }
    static std::optional<unsigned> next_bit(std::uint64_t bits, unsigned from, unsigned last) {
        for (unsigned i = from; i <= last; ++i)
            if ((bits >> i) & 1) return i;
        return std::nullopt;
    }

    unsigned value(std::string_view v, const char* name, unsigned lo, unsigned hi, std::span<const char* const> names) const {
        if (!names.empty() && v.size() == 3 && std::isalpha(static_cast<unsigned char>(v[0]))) {
            std::string l;
            for (char ch : v) l += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
            for (unsigned i = 0; i < names.size(); ++i)
                if (l == names[i]) return lo + i;
        }
        if (v.empty() || v.size() > 3) throw CronError(text_, std::string("bad ") + name + " value '" + std::string(v) + "'");
        unsigned n = 0;
        for (char ch : v) {
            if (ch < '0' || ch > '9') throw CronError(text_, std::string("bad ") + name + " value '" + std::string(v) + "'");
            n = n * 10 + static_cast<unsigned>(ch - '0');
        }
        if (n < lo || n > hi)
            throw CronError(text_, std::string(name) + " " + std::to_string(n) + " out of range " + std::to_string(lo) +
                                       "-" + std::to_string(hi));
        return n;
    }

    std::uint64_t field(std::string_view f, const char* name, unsigned lo, unsigned hi, std::span<const char* const> names = {}) const {
        std::uint64_t bits = 0;
        std::size_t start = 0;
        for (;;) {
            auto comma = f.find(',', start);
            auto item = f.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
            if (item.empty()) throw CronError(text_, std::string("empty item in the ") + name + " field");
            unsigned step = 1;
            bool stepped = false;
            if (auto slash = item.find('/'); slash != std::string_view::npos) {
                step = value(item.substr(slash + 1), name, 1, hi - lo + 1, {});
                item = item.substr(0, slash);
                stepped = true;
            }
            unsigned a = lo, b = hi;
            if (item == "*") {
            } else if (auto dash = item.find('-'); dash != std::string_view::npos) {
                a = value(item.substr(0, dash), name, lo, hi, names);
                b = value(item.substr(dash + 1), name, lo, hi, names);
                if (a > b) throw CronError(text_, std::string("range ") + std::string(item) + " of the " + name + " field runs backwards");
            } else {
                a = value(item, name, lo, hi, names);
                b = stepped ? hi : a;  // `a/s`: from a to the field's end
            }
            for (unsigned i = a; i <= b; i += step) bits |= std::uint64_t{1} << i;
            if (comma == std::string_view::npos) break;
            start = comma + 1;
        }
        return bits;
    }

    std::string text_;
    std::uint64_t minutes_ = 0, hours_ = 0, mdays_ = 0, months_ = 0, wdays_ = 0;
    bool mday_star_ = true, wday_star_ = true;
};

}  // namespace s3db
