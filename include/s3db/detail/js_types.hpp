#pragma once
// The formats of s3db.js's own attribute types (timeonly, mac, cidr, semver, phone, color, duration,
// cron, locale, currency, country, ean, geo, buffer/bits): the normalisation its validator aliases
// apply, and the compact metadata text its mapper writes and its unmapper reads (§2.2 of the
// internals). Pure functions on text and numbers; the schema and the codec pick them by type.
//
// Where s3db.js accepts a value it then stores as something else (a semver minor of 1000, a phone
// number with a leading 0), the normaliser refuses it instead: the record would read back changed.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "s3db/detail/config.hpp"

namespace s3db::detail {

// ---- validation: the normalised value, nullopt when s3db.js (or the no-loss rule) refuses it ----

/// "HH:mm[:ss[.S{1,3}]]" → "HH:mm:ss.SSS"; `iso_time` is the time of a date-time string holding 'T'.
S3DB_DECL std::optional<std::string> normalize_timeonly(std::string_view s);
/// 12 hex digits with any ':', '-', '.' → "aa:bb:cc:dd:ee:ff".
S3DB_DECL std::optional<std::string> normalize_mac(std::string_view s);
/// IPv4 "a.b.c.d/p" (octets ≤ 255, p ≤ 32) without leading zeros.
S3DB_DECL std::optional<std::string> normalize_cidr(std::string_view s);
/// "[v]M.m.p" → "M.m.p"; minor and patch must be < 1000 (they share one packed number).
S3DB_DECL std::optional<std::string> normalize_semver(std::string_view s);
/// E.164: spaces, '-', '(', ')', '.' dropped, '+' added; 7 to 15 digits, the first not 0.
S3DB_DECL std::optional<std::string> normalize_phone(std::string_view s);
/// "#rgb", "rrggbb", ... → "#rrggbb" lowercase.
S3DB_DECL std::optional<std::string> normalize_color(std::string_view s);
/// ISO-8601 "P[nD][T[nH][nM][n[.n]S]]" or "1h30m", "90s", "250ms"... → milliseconds (rounded).
S3DB_DECL std::optional<double> parse_duration(std::string_view s);
/// Five cron fields separated by whitespace → joined by single spaces.
S3DB_DECL std::optional<std::string> normalize_cron(std::string_view s);
/// "pt_br" → "pt-BR", "EN" → "en".
S3DB_DECL std::optional<std::string> normalize_locale(std::string_view s);
/// `n` ASCII letters, uppercased (currency 3, country 2).
S3DB_DECL std::optional<std::string> normalize_letters(std::string_view s, std::size_t n);
/// 8, 12, 13 or 14 digits.
S3DB_DECL bool is_ean(std::string_view s) noexcept;

// ---- metadata text: nullopt when the value is not in the form the mapper encodes ----

S3DB_DECL std::optional<std::string> encode_timeonly(std::string_view s);
S3DB_DECL std::optional<std::string> decode_timeonly(std::string_view v);
S3DB_DECL std::optional<std::string> encode_mac(std::string_view s);
S3DB_DECL std::optional<std::string> decode_mac(std::string_view v);
S3DB_DECL std::optional<std::string> encode_cidr(std::string_view s);
S3DB_DECL std::optional<std::string> decode_cidr(std::string_view v);
S3DB_DECL std::optional<std::string> encode_semver(std::string_view s);
S3DB_DECL std::optional<std::string> decode_semver(std::string_view v);
S3DB_DECL std::optional<std::string> encode_phone(std::string_view s);
S3DB_DECL std::optional<std::string> decode_phone(std::string_view v);
S3DB_DECL std::optional<std::string> encode_color(std::string_view s);
S3DB_DECL std::optional<std::string> decode_color(std::string_view v);
/// Milliseconds ≥ 0 → b62; the read side renders s3db.js's ISO-8601 text ("PT1H30M", "PT0S").
S3DB_DECL std::string encode_duration(double ms);
S3DB_DECL std::optional<std::string> decode_duration(std::string_view v);
/// Milliseconds as s3db.js's reader renders a duration: "PT1H30M", "PT1.500S", "PT0S".
S3DB_DECL std::string iso_duration(std::uint64_t ms);
S3DB_DECL std::optional<std::string> encode_ean(std::string_view s);
S3DB_DECL std::optional<std::string> decode_ean(std::string_view v);

/// "~" + b62(round((v + offset) · 10^precision)); offset 90 for latitudes, 180 for longitudes.
S3DB_DECL std::string encode_geo(double v, double offset, int precision);
S3DB_DECL std::optional<double> decode_geo(std::string_view v, double offset, int precision);
/// The value a coordinate reads back as: what s3db.js returns, and what its partition keys show.
S3DB_DECL double quantize_geo(double v, double offset, int precision);

/// JavaScript's parseFloat / parseInt of a digit run we already matched.
S3DB_DECL double digits_value(std::string_view digits);

}  // namespace s3db::detail

#if S3DB_DEFINE_BODIES

#include <cmath>
#include <cstdio>

#include "s3db/detail/base62.hpp"
#include "s3db/detail/encoding.hpp"
#include "s3db/detail/js_text.hpp"
#include "s3db/detail/time.hpp"

namespace s3db::detail {

namespace js_types_impl {

inline bool digit(char c) noexcept { return c >= '0' && c <= '9'; }
inline bool letter(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
inline char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
inline char upper(char c) noexcept { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

/// Leading digits of `s` from `i`; returns the end.
inline std::size_t digit_run(std::string_view s, std::size_t i) noexcept {
    while (i < s.size() && digit(s[i])) ++i;
    return i;
}

inline std::string pad(std::string s, std::size_t width, char fill = '0') {
    if (s.size() < width) s.insert(0, width - s.size(), fill);
    return s;
}

inline std::string hex_text(std::uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(v));
    return buf;
}

/// A b62 text s3db.js's fromBase62 reads to a whole number in [0, 2^53].
inline std::optional<std::uint64_t> b62_whole(std::string_view v) {
    if (v.empty()) return std::nullopt;
    auto n = b62_decode(v);
    if (!n || *n < 0 || *n > two_pow_53 || *n != std::floor(*n)) return std::nullopt;
    return static_cast<std::uint64_t>(*n);
}

/// The first match of /(\d+(?:\.\d+)?)<unit>/ in `s` (leftmost, as a JavaScript regex finds it).
inline std::optional<double> first_amount(std::string_view s, char unit) {
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (!digit(s[i])) continue;
        std::size_t j = digit_run(s, i);
        if (j + 1 < s.size() && s[j] == '.' && digit(s[j + 1])) {
            std::size_t k = digit_run(s, j + 1);
            if (k < s.size() && s[k] == unit) return digits_value(s.substr(i, k - i));
        }
        if (j < s.size() && s[j] == unit) return digits_value(s.substr(i, j - i));
    }
    return std::nullopt;
}

/// One cron field: "*", "*/n", or a comma list of n[-n][/n].
inline bool cron_field(std::string_view p) {
    if (p == "*") return true;
    if (p.starts_with("*/")) return p.size() > 2 && digit_run(p, 2) == p.size();
    std::size_t i = 0;
    while (true) {
        std::size_t j = digit_run(p, i);
        if (j == i) return false;
        i = j;
        if (i < p.size() && p[i] == '-') {
            j = digit_run(p, i + 1);
            if (j == i + 1) return false;
            i = j;
        }
        if (i < p.size() && p[i] == '/') {
            j = digit_run(p, i + 1);
            if (j == i + 1) return false;
            i = j;
        }
        if (i == p.size()) return true;
        if (p[i++] != ',') return false;
    }
}

}  // namespace js_types_impl

S3DB_DECL double digits_value(std::string_view digits) {
    return js_string_to_number(digits);  // decimal digits (with one '.'): exactly parseFloat's result
}

S3DB_DECL std::optional<std::string> normalize_timeonly(std::string_view s) {
    using namespace js_types_impl;
    // ^(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?$
    auto two = [&](std::size_t at) { return at + 2 <= s.size() && digit(s[at]) && digit(s[at + 1]); };
    auto num = [&](std::size_t at, std::size_t n) { return static_cast<int>(digits_value(s.substr(at, n))); };
    if (two(0) && s.size() >= 5 && s[2] == ':' && two(3)) {
        int h = num(0, 2), m = num(3, 2), sec = 0, ms = 0;
        bool ok = s.size() == 5;
        if (!ok && s.size() >= 8 && s[5] == ':' && two(6)) {
            sec = num(6, 2);
            if (s.size() == 8) {
                ok = true;
            } else if (s[8] == '.' && s.size() >= 10 && s.size() <= 12 && digit_run(s, 9) == s.size()) {
                std::string frac(s.substr(9));
                frac.append(3 - frac.size(), '0');
                ms = static_cast<int>(digits_value(frac));
                ok = true;
            }
        }
        if (ok && h <= 23 && m <= 59 && sec <= 59) {
            char buf[64];
            std::snprintf(buf, sizeof buf, "%02d:%02d:%02d.%03d", h, m, sec, ms);
            return std::string(buf);
        }
    }
    if (s.find('T') != std::string_view::npos) {
        if (auto t = parse_js_date(s)) return iso_string(*t).substr(11, 12);
    }
    return std::nullopt;
}

S3DB_DECL std::optional<std::string> encode_timeonly(std::string_view s) {
    using namespace js_types_impl;
    // what the mapper matches: the same pattern, without range checks
    if (s.size() < 5 || !digit(s[0]) || !digit(s[1]) || s[2] != ':' || !digit(s[3]) || !digit(s[4])) return std::nullopt;
    double h = digits_value(s.substr(0, 2)), m = digits_value(s.substr(3, 2)), sec = 0, ms = 0;
    if (s.size() > 5) {
        if (s.size() < 8 || s[5] != ':' || !digit(s[6]) || !digit(s[7])) return std::nullopt;
        sec = digits_value(s.substr(6, 2));
        if (s.size() > 8) {
            if (s[8] != '.' || s.size() < 10 || s.size() > 12 || digit_run(s, 9) != s.size()) return std::nullopt;
            std::string frac(s.substr(9));
            frac.append(3 - frac.size(), '0');
            ms = digits_value(frac);
        }
    }
    return b62_encode((h * 3600 + m * 60 + sec) * 1000 + ms);
}

S3DB_DECL std::optional<std::string> decode_timeonly(std::string_view v) {
    auto total = js_types_impl::b62_whole(v);
    if (!total) return std::nullopt;
    std::uint64_t t = *total, ms = t % 1000, secs = t / 1000;
    std::string out = js_types_impl::pad(std::to_string(secs / 3600), 2) + ":" +
                      js_types_impl::pad(std::to_string(secs / 60 % 60), 2) + ":" +
                      js_types_impl::pad(std::to_string(secs % 60), 2) + "." + js_types_impl::pad(std::to_string(ms), 3);
    return out;
}

S3DB_DECL std::optional<std::string> normalize_mac(std::string_view s) {
    std::string hex;
    for (char c : s) {
        if (c == ':' || c == '-' || c == '.') continue;
        if (hex_value(c) < 0 || hex.size() == 12) return std::nullopt;
        hex += js_types_impl::lower(c);
    }
    if (hex.size() != 12) return std::nullopt;
    std::string out;
    for (std::size_t i = 0; i < 12; i += 2) {
        if (i) out += ':';
        out += hex.substr(i, 2);
    }
    return out;
}

S3DB_DECL std::optional<std::string> encode_mac(std::string_view s) {
    std::uint64_t v = 0;
    int n = 0;
    for (char c : s) {
        if (c == ':') continue;
        if (hex_value(c) < 0 || ++n > 12) return std::nullopt;
        v = v * 16 + static_cast<unsigned>(hex_value(c));
    }
    if (n != 12) return std::nullopt;
    return js_types_impl::pad(b62_encode(static_cast<double>(v)), 9);
}

S3DB_DECL std::optional<std::string> decode_mac(std::string_view v) {
    if (v.size() != 9 || v.find(':') != std::string_view::npos) return std::nullopt;
    auto n = js_types_impl::b62_whole(v);
    if (!n || *n >= (std::uint64_t(1) << 48)) return std::nullopt;
    std::string hex = js_types_impl::pad(js_types_impl::hex_text(*n), 12), out;
    for (std::size_t i = 0; i < 12; i += 2) {
        if (i) out += ':';
        out += hex.substr(i, 2);
    }
    return out;
}

S3DB_DECL std::optional<std::string> normalize_cidr(std::string_view s) {
    using namespace js_types_impl;
    unsigned parts[5];
    std::size_t i = 0;
    for (int k = 0; k < 5; ++k) {
        std::size_t j = digit_run(s, i);
        std::size_t max_digits = k < 4 ? 3 : 2;
        if (j == i || j - i > max_digits) return std::nullopt;
        parts[k] = static_cast<unsigned>(digits_value(s.substr(i, j - i)));
        i = j;
        char sep = k < 3 ? '.' : k == 3 ? '/' : '\0';
        if (k < 4) {
            if (i >= s.size() || s[i] != sep) return std::nullopt;
            ++i;
        }
    }
    if (i != s.size() || parts[4] > 32) return std::nullopt;
    std::string out;
    for (int k = 0; k < 4; ++k) {
        if (parts[k] > 255) return std::nullopt;
        out += std::to_string(parts[k]) + (k < 3 ? "." : "/");
    }
    return out + std::to_string(parts[4]);
}

S3DB_DECL std::optional<std::string> encode_cidr(std::string_view s) {
    auto norm = normalize_cidr(s);  // validation left only this form
    if (!norm) return std::nullopt;
    std::uint32_t ip = 0;
    std::size_t i = 0;
    for (int k = 0; k < 4; ++k) {
        std::size_t j = js_types_impl::digit_run(*norm, i);
        ip = ip << 8 | static_cast<std::uint32_t>(std::stoul(norm->substr(i, j - i)));
        i = j + 1;
    }
    return js_types_impl::pad(b62_encode(ip), 6) +
           b62_encode(static_cast<double>(std::stoul(norm->substr(i))));
}

S3DB_DECL std::optional<std::string> decode_cidr(std::string_view v) {
    if (v.size() != 7 || v.find('.') != std::string_view::npos) return std::nullopt;
    auto ip = js_types_impl::b62_whole(v.substr(0, 6));
    auto prefix = js_types_impl::b62_whole(v.substr(6));
    if (!ip || !prefix || *ip > 0xffffffffu) return std::nullopt;
    return std::to_string(*ip >> 24 & 255) + "." + std::to_string(*ip >> 16 & 255) + "." + std::to_string(*ip >> 8 & 255) +
           "." + std::to_string(*ip & 255) + "/" + std::to_string(*prefix);
}

S3DB_DECL std::optional<std::string> normalize_semver(std::string_view s) {
    using namespace js_types_impl;
    if (s.starts_with('v')) s.remove_prefix(1);
    double parts[3];
    std::size_t i = 0;
    for (int k = 0; k < 3; ++k) {
        std::size_t j = digit_run(s, i);
        if (j == i) return std::nullopt;
        parts[k] = digits_value(s.substr(i, j - i));
        i = j;
        if (k < 2) {
            if (i >= s.size() || s[i] != '.') return std::nullopt;
            ++i;
        }
    }
    if (i != s.size()) return std::nullopt;
    // packed as major·10^6 + minor·10^3 + patch: larger parts would read back as another version
    if (parts[1] > 999 || parts[2] > 999 || parts[0] * 1e6 + 999999 > two_pow_53) return std::nullopt;
    return js_number(parts[0]) + "." + js_number(parts[1]) + "." + js_number(parts[2]);
}

S3DB_DECL std::optional<std::string> encode_semver(std::string_view s) {
    using namespace js_types_impl;
    std::size_t a = digit_run(s, 0);
    if (a == 0 || a >= s.size() || s[a] != '.') return std::nullopt;
    std::size_t b = digit_run(s, a + 1);
    if (b == a + 1 || b >= s.size() || s[b] != '.') return std::nullopt;
    std::size_t c = digit_run(s, b + 1);
    if (c == b + 1 || c != s.size()) return std::nullopt;
    return b62_encode(digits_value(s.substr(0, a)) * 1000000 + digits_value(s.substr(a + 1, b - a - 1)) * 1000 +
                    digits_value(s.substr(b + 1)));
}

S3DB_DECL std::optional<std::string> decode_semver(std::string_view v) {
    if (v.find('.') != std::string_view::npos) return std::nullopt;
    auto n = js_types_impl::b62_whole(v);
    if (!n) return std::nullopt;
    return std::to_string(*n / 1000000) + "." + std::to_string(*n % 1000000 / 1000) + "." + std::to_string(*n % 1000);
}

S3DB_DECL std::optional<std::string> normalize_phone(std::string_view s) {
    std::string digits;
    for (std::size_t i = 0; i < s.size();) {
        if (std::size_t n = js_space_prefix(s.substr(i))) {  // \s
            i += n;
            continue;
        }
        char c = s[i++];
        if (c == '-' || c == '(' || c == ')' || c == '.') continue;
        digits += c;
    }
    if (!digits.starts_with('+')) digits.insert(0, 1, '+');
    std::string_view num = std::string_view(digits).substr(1);
    if (num.size() < 7 || num.size() > 15 || js_types_impl::digit_run(num, 0) != num.size()) return std::nullopt;
    if (num.front() == '0') return std::nullopt;  // stored as a number: a leading 0 would be lost
    return digits;
}

S3DB_DECL std::optional<std::string> encode_phone(std::string_view s) {
    if (!s.starts_with('+')) return std::nullopt;
    std::string_view num = s.substr(1);
    if (num.empty() || js_types_impl::digit_run(num, 0) != num.size()) return std::nullopt;
    return b62_encode(digits_value(num));
}

S3DB_DECL std::optional<std::string> decode_phone(std::string_view v) {
    if (v.empty() || v.starts_with('+')) return std::nullopt;
    auto n = js_types_impl::b62_whole(v);
    if (!n) return std::nullopt;
    return "+" + std::to_string(*n);
}

S3DB_DECL std::optional<std::string> normalize_color(std::string_view s) {
    if (s.starts_with('#')) s.remove_prefix(1);
    if (s.size() != 3 && s.size() != 6) return std::nullopt;
    std::string hex;
    for (char c : s) {
        if (hex_value(c) < 0) return std::nullopt;
        hex += js_types_impl::lower(c);
        if (s.size() == 3) hex += js_types_impl::lower(c);
    }
    return "#" + hex;
}

S3DB_DECL std::optional<std::string> encode_color(std::string_view s) {
    if (!s.starts_with('#') || s.size() != 7) return std::nullopt;
    std::uint32_t v = 0;
    for (char c : s.substr(1)) {
        if (hex_value(c) < 0) return std::nullopt;
        v = v * 16 + static_cast<unsigned>(hex_value(c));
    }
    return js_types_impl::pad(b62_encode(v), 5);
}

S3DB_DECL std::optional<std::string> decode_color(std::string_view v) {
    if (v.size() != 5 || v.starts_with('#')) return std::nullopt;
    auto n = js_types_impl::b62_whole(v);
    if (!n || *n > 0xffffff) return std::nullopt;
    return "#" + js_types_impl::pad(js_types_impl::hex_text(*n), 6);
}

S3DB_DECL std::optional<double> parse_duration(std::string_view s) {
    using namespace js_types_impl;
    // ^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$, "P" and "PT" excluded
    if (s.starts_with('P') && s != "P" && s != "PT") {
        double d = 0, h = 0, m = 0, sec = 0;
        std::size_t i = 1;
        bool ok = true;
        auto unit = [&](char u, double& out, bool fraction) {
            std::size_t j = digit_run(s, i);
            if (j == i) return;
            std::size_t k = j;
            if (fraction && k + 1 < s.size() && s[k] == '.' && digit(s[k + 1])) k = digit_run(s, k + 1);
            if (k < s.size() && s[k] == u) {
                out = digits_value(s.substr(i, k - i));
                i = k + 1;
            }
        };
        unit('D', d, false);
        if (i < s.size() && s[i] == 'T') {
            ++i;
            unit('H', h, false);
            unit('M', m, false);
            unit('S', sec, true);
        }
        ok = i == s.size();
        if (ok) return js_round((d * 86400 + h * 3600 + m * 60 + sec) * 1000);
    }
    std::string low(s);
    for (auto& c : low) c = lower(c);
    double total = 0;
    bool matched = false;
    // (\d+)ms counts once; every \d+ms is then cut before the other units are looked for
    std::string clean;
    bool ms_seen = false;
    for (std::size_t i = 0; i < low.size();) {
        if (digit(low[i]) && (i == 0 || !digit(low[i - 1]))) {
            std::size_t j = digit_run(low, i);
            if (low.compare(j, 2, "ms") == 0) {
                if (!ms_seen) total += digits_value(std::string_view(low).substr(i, j - i));
                ms_seen = matched = true;
                i = j + 2;
                continue;
            }
            clean.append(low, i, j - i);
            i = j;
            continue;
        }
        clean += low[i++];
    }
    static constexpr std::pair<char, double> units[] = {{'d', 86400000}, {'h', 3600000}, {'m', 60000}, {'s', 1000}};
    for (auto [u, factor] : units) {
        if (auto a = first_amount(clean, u)) {
            total += *a * factor;
            matched = true;
        }
    }
    if (!matched) return std::nullopt;
    return js_round(total);
}

S3DB_DECL std::string encode_duration(double ms) { return b62_encode(js_round(ms)); }

S3DB_DECL std::optional<std::string> decode_duration(std::string_view v) {
    if (v.empty() || v.starts_with('P')) return std::nullopt;
    auto n = js_types_impl::b62_whole(v);
    if (!n) return std::nullopt;
    return iso_duration(*n);
}

S3DB_DECL std::string iso_duration(std::uint64_t ms) {
    std::uint64_t days = ms / 86400000, hours = ms % 86400000 / 3600000, minutes = ms % 3600000 / 60000,
                  seconds = ms % 60000 / 1000, millis = ms % 1000;
    std::string out = "P";
    if (days) out += std::to_string(days) + "D";
    if (hours || minutes || seconds || millis) {
        out += 'T';
        if (hours) out += std::to_string(hours) + "H";
        if (minutes) out += std::to_string(minutes) + "M";
        if (seconds && millis) out += std::to_string(seconds) + "." + js_types_impl::pad(std::to_string(millis), 3) + "S";
        else if (seconds) out += std::to_string(seconds) + "S";
        else if (millis) out += "0." + js_types_impl::pad(std::to_string(millis), 3) + "S";
    }
    if (out == "P") out = "PT0S";
    return out;
}

S3DB_DECL std::optional<std::string> normalize_cron(std::string_view s) {
    s = js_trim(s, true, true);
    std::vector<std::string_view> parts;
    std::size_t i = 0;
    while (i < s.size()) {
        std::size_t start = i;
        while (i < s.size() && !js_space_prefix(s.substr(i))) ++i;
        parts.push_back(s.substr(start, i - start));
        while (i < s.size())
            if (std::size_t n = js_space_prefix(s.substr(i))) i += n;
            else break;
    }
    if (parts.size() != 5) return std::nullopt;
    std::string out;
    for (auto p : parts) {
        if (!js_types_impl::cron_field(p)) return std::nullopt;
        if (!out.empty()) out += ' ';
        out += p;
    }
    return out;
}

S3DB_DECL std::optional<std::string> normalize_locale(std::string_view s) {
    using js_types_impl::letter;
    if (s.size() == 2 && letter(s[0]) && letter(s[1]))
        return std::string{js_types_impl::lower(s[0]), js_types_impl::lower(s[1])};
    if (s.size() == 5 && letter(s[0]) && letter(s[1]) && (s[2] == '-' || s[2] == '_') && letter(s[3]) && letter(s[4]))
        return std::string{js_types_impl::lower(s[0]), js_types_impl::lower(s[1]), '-', js_types_impl::upper(s[3]),
                           js_types_impl::upper(s[4])};
    return std::nullopt;
}

S3DB_DECL std::optional<std::string> normalize_letters(std::string_view s, std::size_t n) {
    if (s.size() != n) return std::nullopt;
    std::string out;
    for (char c : s) {
        if (!js_types_impl::letter(c)) return std::nullopt;
        out += js_types_impl::upper(c);
    }
    return out;
}

S3DB_DECL bool is_ean(std::string_view s) noexcept {
    return (s.size() == 8 || (s.size() >= 12 && s.size() <= 14)) && js_types_impl::digit_run(s, 0) == s.size();
}

S3DB_DECL std::optional<std::string> encode_ean(std::string_view s) {
    if (!is_ean(s)) return std::nullopt;
    const char* code = s.size() == 8 ? "0" : s.size() == 12 ? "2" : s.size() == 13 ? "1" : "3";
    return code + b62_encode(digits_value(s));
}

S3DB_DECL std::optional<std::string> decode_ean(std::string_view v) {
    // s3db.js leaves a value that already looks like a barcode as it is
    if (v.empty() || v[0] < '0' || v[0] > '3') return std::nullopt;
    if (v.size() >= 8 && v.size() <= 14 && js_types_impl::digit_run(v, 0) == v.size()) return std::nullopt;
    auto n = js_types_impl::b62_whole(v.substr(1));
    if (!n) return std::nullopt;
    static constexpr std::size_t widths[] = {8, 13, 12, 14};
    return js_types_impl::pad(std::to_string(*n), widths[v[0] - '0']);
}

S3DB_DECL std::string encode_geo(double v, double offset, int precision) {
    return "~" + b62_encode(js_round((v + offset) * std::pow(10.0, precision)));
}

S3DB_DECL std::optional<double> decode_geo(std::string_view v, double offset, int precision) {
    if (!v.starts_with('~') || v.size() < 2) return std::nullopt;
    auto n = b62_decode(v.substr(1));
    if (!n || !std::isfinite(*n)) return std::nullopt;
    return *n / std::pow(10.0, precision) - offset;
}

S3DB_DECL double quantize_geo(double v, double offset, int precision) {
    return js_round((v + offset) * std::pow(10.0, precision)) / std::pow(10.0, precision) - offset;
}

}  // namespace s3db::detail

#endif  // S3DB_DEFINE_BODIES
