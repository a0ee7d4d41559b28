#pragma once
// Time zones for the Scheduler, read from the system's TZif files (RFC 8536: /usr/share/zoneinfo,
// versions 1–4; GCC 12's libstdc++ has no tzdb). The 64-bit transition table is used, and past its
// last transition the POSIX TZ footer (`EST5EDT,M3.2.0,M11.1.0`, `<+0330>-3:30`, `M3.5.0/3`
// rules) extends it, so dates after 2037 in "slim" files work too.
//
// Local → UTC, the two DST cases (what `resolve` returns):
//   gap      a local time that does not exist (02:30 on the day clocks spring forward): the
//            instant the gap ends (03:00 new time). A job at 02:30 runs once that day, at 03:00.
//   overlap  a local time that happens twice (01:30 on the day clocks fall back): its FIRST
//            occurrence only. Each local wall-clock time runs once.

#include <cctype>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "s3db/errors.hpp"
#include "s3db/detail/time.hpp"

namespace s3db {

/// A zone name that is not a readable TZif file under the zoneinfo folder.
class TimeZoneError : public ConfigError {
public:
    TimeZoneError(const std::string& zone, const std::string& why)
        : ConfigError("time zone '" + InvalidKey::printable(zone) + "': " + why), zone_(zone) {}
    const std::string& zone() const noexcept { return zone_; }

private:
    std::string zone_;
};

class TimeZone {
public:
    enum class Kind { unique, gap, overlap };
    struct Resolved {
        std::int64_t utc;  // seconds since the epoch
        Kind kind;
    };

    static TimeZone utc() { return TimeZone("UTC"); }

    /// Loads `name` ("America/New_York", "UTC", "Etc/GMT+5") from `dir`.
    static TimeZone load(const std::string& name, const std::string& dir = "/usr/share/zoneinfo") {
        if (name == "UTC" || name == "Etc/UTC" || name == "Z") return utc();
        if (name.empty() || name.front() == '/' || name.find("..") != std::string::npos)
            throw TimeZoneError(name, "not a zone name");
        std::ifstream in(dir + "/" + name, std::ios::binary);
        if (!in) throw TimeZoneError(name, "no such zone in " + dir);
        std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        TimeZone z(name);
        z.parse(data);
        return z;
    }

    const std::string& name() const noexcept { return name_; }

    /// UTC offset in seconds at instant `t` (seconds since the epoch).
    std::int32_t offset_at(std::int64_t t) const {
        if (times_.empty() || t < times_.front()) {
            if (times_.empty() && rule_) return rule_offset(t);
            return initial_;
        }
        if (t >= times_.back() && rule_) return rule_offset(t);
        // last transition <= t
        std::size_t lo = 0, hi = times_.size();
        while (hi - lo > 1) {
            auto mid = (lo + hi) / 2;
            (times_[mid] <= t ? lo : hi) = mid;
        }
        return offsets_[lo];
    }

    /// The instant of local time `local` (seconds since 1970-01-01 00:00 local): see the header.
    Resolved resolve(std::int64_t local) const {
        std::int32_t cand[4] = {offset_at(local - 2 * 86400), offset_at(local + 2 * 86400), 0, 0};
        cand[2] = offset_at(local - cand[0]);
        cand[3] = offset_at(local - cand[1]);
        std::optional<std::int64_t> first, second;
        for (auto o : cand) {
            std::int64_t u = local - o;
            if (offset_at(u) != o) continue;
            if (!first || u < *first) {
                if (first && *first != u) second = first;
                first = u;
            } else if (u != *first) {
                second = u;
            }
        }
        if (first) return {*first, second ? Kind::overlap : Kind::unique};
        // A gap: local lies in [T + before, T + after). Find T, the transition, by bisection.
        std::int32_t before = cand[0], after = cand[1];
        if (before >= after) std::swap(before, after);  // defensive: a gap needs after > before
        std::int64_t lo = local - after, hi = local - before;  // offset_at(lo) == before side
        while (hi - lo > 1) {
            auto mid = lo + (hi - lo) / 2;
            (offset_at(mid) == after ? hi : lo) = mid;
        }
        return {hi, Kind::gap};
    }

private:
    struct Rule {
        std::int32_t std_off = 0, dst_off = 0;  // seconds east of UTC
        bool has_dst = false;
        struct When {
            int month = 0, week = 0, wday = 0;  // Mm.w.d
            std::int32_t time = 7200;           // local seconds after midnight
        } start, end;
    };

    explicit TimeZone(std::string name) : name_(std::move(name)) {}

    [[noreturn]] void bad(const std::string& why) const { throw TimeZoneError(name_, "not a valid TZif file: " + why); }

    static std::int64_t be(const std::string& d, std::size_t at, int bytes) {
        std::uint64_t v = 0;
        for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(d[at + static_cast<std::size_t>(i)]);
        if (bytes == 4) return static_cast<std::int32_t>(static_cast<std::uint32_t>(v));
        return static_cast<std::int64_t>(v);
    }

    void parse(const std::string& d) {
        if (d.size() < 44 || d.compare(0, 4, "TZif") != 0) bad("no TZif header");
        auto counts = [&](std::size_t at) {
            std::vector<std::int64_t> c(6);
            for (int i = 0; i < 6; ++i) c[static_cast<std::size_t>(i)] = be(d, at + 20 + 4 * static_cast<std::size_t>(i), 4);
            return c;  // isutcnt isstdcnt leapcnt timecnt typecnt charcnt
        };
        auto c = counts(0);
        std::size_t pos = 44;
        int tsize = 4;
        if (d[4] >= '2') {  // skip the v1 block; use the 64-bit one
            pos += static_cast<std::size_t>(c[3] * 4 + c[3] + c[4] * 6 + c[5] + c[2] * 8 + c[1] + c[0]);
            if (d.size() < pos + 44 || d.compare(pos, 4, "TZif") != 0) bad("no second header");
            c = counts(pos);
            pos += 44;
            tsize = 8;
        }
        auto timecnt = static_cast<std::size_t>(c[3]), typecnt = static_cast<std::size_t>(c[4]);
        std::size_t need = timecnt * static_cast<std::size_t>(tsize) + timecnt + typecnt * 6 + static_cast<std::size_t>(c[5]) +
                           static_cast<std::size_t>(c[2]) * static_cast<std::size_t>(tsize + 4) +
                           static_cast<std::size_t>(c[1] + c[0]);
        if (typecnt == 0 || d.size() < pos + need) bad("truncated");
        std::vector<std::int64_t> times(timecnt);
        for (std::size_t i = 0; i < timecnt; ++i) times[i] = be(d, pos + i * static_cast<std::size_t>(tsize), tsize);
        pos += timecnt * static_cast<std::size_t>(tsize);
        std::vector<std::size_t> idx(timecnt);
        for (std::size_t i = 0; i < timecnt; ++i) idx[i] = static_cast<unsigned char>(d[pos + i]);
        pos += timecnt;
        std::vector<std::int32_t> type_off(typecnt);
        std::vector<bool> type_dst(typecnt);
        for (std::size_t i = 0; i < typecnt; ++i) {
            type_off[i] = static_cast<std::int32_t>(be(d, pos + i * 6, 4));
            type_dst[i] = d[pos + i * 6 + 4] != 0;
        }
        pos += typecnt * 6 + static_cast<std::size_t>(c[5]) + static_cast<std::size_t>(c[2]) * static_cast<std::size_t>(tsize + 4) +
               static_cast<std::size_t>(c[1] + c[0]);
        for (std::size_t i = 0; i < timecnt; ++i) {
            if (idx[i] >= typecnt) bad("transition type out of range");
            times_.push_back(times[i]);
            offsets_.push_back(type_off[idx[i]]);
        }
        initial_ = type_off[0];
        for (std::size_t i = 0; i < typecnt; ++i)
            if (!type_dst[i]) {
                initial_ = type_off[i];
                break;
            }
        if (tsize == 8 && pos < d.size() && d[pos] == '\n') {
            auto end = d.find('\n', pos + 1);
            if (end != std::string::npos) parse_footer(std::string_view(d).substr(pos + 1, end - pos - 1));
        }
    }

    // ---- the POSIX TZ footer ----

    static bool parse_name(std::string_view& s) {
        if (!s.empty() && s.front() == '<') {
            auto e = s.find('>');
            if (e == std::string_view::npos) return false;
            s.remove_prefix(e + 1);
            return true;
        }
        std::size_t n = 0;
        while (n < s.size() && std::isalpha(static_cast<unsigned char>(s[n]))) ++n;
        if (n < 3) return false;
        s.remove_prefix(n);
        return true;
    }
    /// [+-]hh[:mm[:ss]] in seconds.
    static std::optional<std::int32_t> parse_time(std::string_view& s) {
        int sign = 1;
        if (!s.empty() && (s.front() == '+' || s.front() == '-')) {
            sign = s.front() == '-' ? -1 : 1;
            s.remove_prefix(1);
        }
        std::int32_t total = 0;
        for (int part = 0; part < 3; ++part) {
            if (part > 0) {
                if (s.empty() || s.front() != ':') break;
                s.remove_prefix(1);
            }
            std::size_t n = 0;
            std::int32_t v = 0;
            while (n < s.size() && n < 3 && std::isdigit(static_cast<unsigned char>(s[n]))) v = v * 10 + (s[n++] - '0');
            if (n == 0) return std::nullopt;
            s.remove_prefix(n);
            total += v * (part == 0 ? 3600 : part == 1 ? 60 : 1);
        }
        return sign * total;
    }
    static std::optional<Rule::When> parse_when(std::string_view& s) {
        if (s.empty() || s.front() != 'M') return std::nullopt;  // Jn and n forms are not used by tzdata
        s.remove_prefix(1);
        int v[3] = {0, 0, 0};
        for (int i = 0; i < 3; ++i) {
            if (i > 0) {
                if (s.empty() || s.front() != '.') return std::nullopt;
                s.remove_prefix(1);
            }
            std::size_t n = 0;
            while (n < s.size() && std::isdigit(static_cast<unsigned char>(s[n]))) v[i] = v[i] * 10 + (s[n++] - '0');
            if (n == 0) return std::nullopt;
            s.remove_prefix(n);
        }
        Rule::When w{v[0], v[1], v[2], 7200};
        if (w.month < 1 || w.month > 12 || w.week < 1 || w.week > 5 || w.wday > 6) return std::nullopt;
        if (!s.empty() && s.front() == '/') {
            s.remove_prefix(1);
            auto t = parse_time(s);
            if (!t) return std::nullopt;
            w.time = *t;
        }
        return w;
    }

    void parse_footer(std::string_view s) {
        if (s.empty()) return;
        Rule r;
        if (!parse_name(s)) return;
        auto off = parse_time(s);
        if (!off) return;
        r.std_off = -*off;  // POSIX counts west-positive
        if (!s.empty() && parse_name(s)) {
            r.has_dst = true;
            r.dst_off = r.std_off + 3600;
            if (!s.empty() && s.front() != ',') {
                auto d = parse_time(s);
                if (!d) return;
                r.dst_off = -*d;
            }
            if (s.empty() || s.front() != ',') return;
            s.remove_prefix(1);
            auto a = parse_when(s);
            if (!a || s.empty() || s.front() != ',') return;
            s.remove_prefix(1);
            auto b = parse_when(s);
            if (!b) return;
            r.start = *a;
            r.end = *b;
        }
        rule_ = r;
    }

    /// Local midnight (seconds, as if UTC) of rule `w`'s day in `year`.
    static std::int64_t rule_day(std::int64_t year, const Rule::When& w) {
        auto first = detail::days_from_civil(year, static_cast<unsigned>(w.month), 1);
        int wday_first = static_cast<int>(((first + 4) % 7 + 7) % 7);
        int d = (w.wday - wday_first + 7) % 7 + (w.week - 1) * 7;
        auto next_month = w.month == 12 ? detail::days_from_civil(year + 1, 1, 1)
                                        : detail::days_from_civil(year, static_cast<unsigned>(w.month + 1), 1);
        while (first + d >= next_month) d -= 7;  // week 5 = the last such day
        return (first + d) * 86400;
    }

    std::int32_t rule_offset(std::int64_t t) const {
        const Rule& r = *rule_;
        if (!r.has_dst) return r.std_off;
        auto year = detail::civil_from_days(detail::floor_div(t + r.std_off, 86400)).year;
        // DST starts at start.time in standard time and ends at end.time in daylight time.
        auto start = rule_day(year, r.start) + r.start.time - r.std_off;
        auto end = rule_day(year, r.end) + r.end.time - r.dst_off;
        bool dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
        return dst ? r.dst_off : r.std_off;
    }

    std::string name_;
    std::vector<std::int64_t> times_;
    std::vector<std::int32_t> offsets_;
    std::int32_t initial_ = 0;
    std::optional<Rule> rule_;
};

}  // namespace s3db
