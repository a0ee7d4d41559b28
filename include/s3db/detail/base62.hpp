#pragma once
// The number encodings of s3db.js records: base62 integers (`0-9a-zA-Z`, '-' for negatives),
// base62-decimal numbers (`b62(int part) '.' decimal digits`), fixed-point values (`^...`),
// base36 attribute keys, and JavaScript's `String(number)`, which those formats are built on.
// Output is byte-identical to s3db.js wherever s3db.js round-trips; where it does not (numbers JS
// prints in exponent form, integers past 2^53) we write a form s3db.js still reads exactly.

#include <array>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "s3db/detail/config.hpp"

namespace s3db::detail {

inline constexpr char b62_alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
inline constexpr double two_pow_53 = 9007199254740992.0;
inline constexpr double two_pow_64 = 18446744073709551616.0;

/// Value of one base62 digit, -1 for any other byte.
inline constexpr std::array<signed char, 256> b62_values = [] {
    std::array<signed char, 256> t{};
    t.fill(-1);
    for (int i = 0; i < 62; ++i) t[static_cast<unsigned char>(b62_alphabet[i])] = static_cast<signed char>(i);
    return t;
}();

/// Appends the digits of `n` in `base` (2..62) using the base62 alphabet (so base 36 gives `0-9a-z`).
S3DB_DECL void append_digits(std::string& out, std::uint64_t n, unsigned base);

/// The unsigned integer `append_digits` wrote in `base` (2..62): 1 to `max_digits` digits, nothing
/// else (no sign); nullopt otherwise. `base` to the power `max_digits` must fit 64 bits.
S3DB_DECL std::optional<std::uint64_t> parse_digits(std::string_view s, unsigned base, std::size_t max_digits);

/// s3db.js `encode` for magnitudes past 2^64, with JavaScript's double arithmetic (digit for digit).
S3DB_DECL void append_b62_double(std::string& out, double n);

/// s3db.js `encode(n)`: floor(n) in base62, '-' for negatives (floor first, so -1.5 → "-2").
/// Exact up to 2^64 (identical to s3db.js below 2^53, where its double arithmetic is exact too).
/// Non-finite values have no encoding; callers never pass them (s3db.js writes "undefined").
S3DB_DECL void append_b62(std::string& out, double n);

inline std::string b62_encode(double n) {
    std::string out;
    append_b62(out, n);
    return out;
}

S3DB_DECL void append_b62_int(std::string& out, std::int64_t n);

/// s3db.js `decode`: "" is 0, a leading '-' negates, any other non-digit fails (JS NaN).
/// Exact while the value fits 64 bits; beyond that, JavaScript's double Horner scheme.
S3DB_DECL std::optional<double> b62_decode(std::string_view s);

/// Base36 (`0-9a-z`) rendering of an attribute index: the metadata key of that attribute.
inline std::string b36_encode(std::uint64_t n) {
    std::string out;
    append_digits(out, n, 36);
    return out;
}

/// Index of a base36 key; nullopt for anything else (uppercase, '-', empty, overflow).
S3DB_DECL std::optional<std::uint64_t> b36_decode(std::string_view s);

/// Shortest round-trip digits of a finite positive double: `digits` (no leading/trailing zeros)
/// and the decimal point position `point`, so the value is 0.digits × 10^point.
struct DecimalDigits {
    char digits[20];
    int count = 0;
    int point = 0;
};

S3DB_DECL DecimalDigits shortest_digits(double x);

/// JavaScript's `String(x)` (ECMAScript Number::toString) for doubles.
S3DB_DECL void append_js_number(std::string& out, double x);

inline std::string js_number(double x) {
    std::string out;
    append_js_number(out, x);
    return out;
}

/// JavaScript's `String(n)` for an integer JSON number: exact below 2^53, as the double JS would hold above.
inline void append_js_integer(std::string& out, std::int64_t v) {
    if (v > -9007199254740992LL && v < 9007199254740992LL) out += std::to_string(v);
    else append_js_number(out, static_cast<double>(v));
}

/// `Math.round`: halves go up (towards +infinity), as JavaScript rounds.
inline double js_round(double x) {
    double r = std::floor(x);
    return x - r >= 0.5 ? r + 1 : r;
}

/// s3db.js `encodeDecimal`: "<b62 int part>.<decimal digits>" with the digits of `String(|x|)`.
/// Where JS prints an exponent (|x| < 1e-6 or ≥ 1e21) s3db.js keeps "d.ddde-7" — which reads back
/// right — but turns a one-digit mantissa ("1e-7") into "" (its defect, §13.6); past 2^53 its
/// base62 integer loses precision. In those cases we write the exponent form with at least one
/// fraction digit ("1.0e-7", "1.152921504606847e+18"), which s3db.js decodes exactly.
S3DB_DECL void append_b62_decimal(std::string& out, double x);

inline std::string b62_decimal_encode(double x) {
    std::string out;
    append_b62_decimal(out, x);
    return out;
}

/// Parses a complete decimal number (digits, optional fraction, optional exponent); nothing else.
S3DB_DECL std::optional<double> parse_double(std::string_view s);

/// s3db.js `decodeDecimal`: reads our writes and every form s3db.js writes, including its
/// exponent forms ("1.5e-7"). s3db.js's own empty string (from 1e-7 and the like) reads as 0.
S3DB_DECL std::optional<double> b62_decimal_decode(std::string_view s);

/// s3db.js `encodeFixedPoint` without the '^': round(x·10^precision) in base62, '-' for negatives.
S3DB_DECL void append_fixed_point_digits(std::string& out, double x, int precision);

/// `decimal:p` values: '^' + fixed point.
inline std::string fixed_point_encode(double x, int precision) {
    std::string out = "^";
    append_fixed_point_digits(out, x, precision);
    return out;
}

/// Reads '^' + fixed point; nullopt when `s` is not one.
S3DB_DECL std::optional<double> fixed_point_decode(std::string_view s, int precision);

}  // namespace s3db::detail

#if S3DB_DEFINE_BODIES
#include <charconv>
#include <cstdlib>
#include <system_error>

namespace s3db::detail {

S3DB_DECL void append_digits(std::string& out, std::uint64_t n, unsigned base) {
    char buf[64];
    char* end = buf + sizeof buf;
    char* p = end;
    do {
        *--p = b62_alphabet[n % base];
        n /= base;
    } while (n);
    out.append(p, end);
}

S3DB_DECL void append_b62_double(std::string& out, double n) {
    if (!std::isfinite(n)) return;  // JavaScript would loop forever; there is no encoding
    std::string rev;
    while (n != 0) {
        rev += b62_alphabet[static_cast<int>(std::fmod(n, 62.0))];
        n = std::floor(n / 62.0);
    }
    out.append(rev.rbegin(), rev.rend());
}

S3DB_DECL void append_b62(std::string& out, double n) {
    n = std::floor(n);
    if (n < 0) {
        out += '-';
        n = -n;
    }
    if (n < two_pow_64) append_digits(out, static_cast<std::uint64_t>(n), 62);
    else append_b62_double(out, n);
}

S3DB_DECL void append_b62_int(std::string& out, std::int64_t n) {
    if (n < 0) {
        out += '-';
        append_digits(out, std::uint64_t(0) - static_cast<std::uint64_t>(n), 62);
    } else {
        append_digits(out, static_cast<std::uint64_t>(n), 62);
    }
}

S3DB_DECL std::optional<double> b62_decode(std::string_view s) {
    bool negative = false;
    if (!s.empty() && s.front() == '-') {
        negative = true;
        s.remove_prefix(1);
    }
    std::uint64_t exact = 0;
    double approx = 0;
    bool overflow = false;
    for (char c : s) {
        int v = b62_values[static_cast<unsigned char>(c)];
        if (v < 0) return std::nullopt;
        if (!overflow && exact > (UINT64_MAX - static_cast<std::uint64_t>(v)) / 62) {
            overflow = true;
            approx = static_cast<double>(exact);
        }
        if (overflow) approx = approx * 62 + v;
        else exact = exact * 62 + static_cast<std::uint64_t>(v);
    }
    double r = overflow ? approx : static_cast<double>(exact);
    return negative ? -r : r;
}

S3DB_DECL std::optional<std::uint64_t> parse_digits(std::string_view s, unsigned base, std::size_t max_digits) {
    if (s.empty() || s.size() > max_digits) return std::nullopt;
    std::uint64_t r = 0;
    for (char c : s) {
        int v = b62_values[static_cast<unsigned char>(c)];
        if (v < 0 || static_cast<unsigned>(v) >= base) return std::nullopt;
        r = r * base + static_cast<std::uint64_t>(v);
    }
    return r;
}

S3DB_DECL std::optional<std::uint64_t> b36_decode(std::string_view s) { return parse_digits(s, 36, 12); }

S3DB_DECL DecimalDigits shortest_digits(double x) {
    char buf[40];
    auto res = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific);
    DecimalDigits d;
    const char* p = buf;
    for (; p != res.ptr && *p != 'e'; ++p)
        if (*p != '.') d.digits[d.count++] = *p;
    int exponent = 0;
    if (p != res.ptr) std::from_chars(p + 1 + (p[1] == '+'), res.ptr, exponent);
    while (d.count > 1 && d.digits[d.count - 1] == '0') --d.count;
    d.point = exponent + 1;
    return d;
}

S3DB_DECL void append_js_number(std::string& out, double x) {
    if (std::isnan(x)) {
        out += "NaN";
        return;
    }
    if (x == 0) {
        out += '0';  // also -0
        return;
    }
    if (x < 0) {
        out += '-';
        x = -x;
    }
    if (std::isinf(x)) {
        out += "Infinity";
        return;
    }
    DecimalDigits d = shortest_digits(x);
    const int k = d.count, n = d.point;
    if (k <= n && n <= 21) {
        out.append(d.digits, static_cast<std::size_t>(k));
        out.append(static_cast<std::size_t>(n - k), '0');
    } else if (0 < n && n <= 21) {
        out.append(d.digits, static_cast<std::size_t>(n));
        out += '.';
        out.append(d.digits + n, static_cast<std::size_t>(k - n));
    } else if (-6 < n && n <= 0) {
        out += "0.";
        out.append(static_cast<std::size_t>(-n), '0');
        out.append(d.digits, static_cast<std::size_t>(k));
    } else {
        out += d.digits[0];
        if (k > 1) {
            out += '.';
            out.append(d.digits + 1, static_cast<std::size_t>(k - 1));
        }
        out += 'e';
        out += n - 1 >= 0 ? '+' : '-';
        out += std::to_string(std::abs(n - 1));
    }
}

S3DB_DECL void append_b62_decimal(std::string& out, double x) {
    if (!std::isfinite(x)) return;  // validation rejects these; s3db.js would write "undefined"
    if (x < 0) {
        out += '-';
        x = -x;
    }
    if (x == 0) {
        out += '0';
        return;
    }
    DecimalDigits d = shortest_digits(x);
    const int k = d.count, n = d.point;
    const bool exponent_form = n > 21 || n <= -6 || x >= two_pow_53;
    if (!exponent_form) {
        if (n <= 0) {
            out += "0.";
            out.append(static_cast<std::size_t>(-n), '0');
            out.append(d.digits, static_cast<std::size_t>(k));
        } else {
            std::uint64_t int_part = 0;
            for (int i = 0; i < n; ++i) int_part = int_part * 10 + static_cast<unsigned>(i < k ? d.digits[i] - '0' : 0);
            append_digits(out, int_part, 62);
            if (k > n) {
                out += '.';
                out.append(d.digits + n, static_cast<std::size_t>(k - n));
            }
        }
        return;
    }
    out += d.digits[0];  // a decimal digit 1-9 is its own base62 digit
    out += '.';
    if (k > 1) out.append(d.digits + 1, static_cast<std::size_t>(k - 1));
    else out += '0';
    out += 'e';
    out += n - 1 >= 0 ? '+' : '-';
    out += std::to_string(std::abs(n - 1));
}

S3DB_DECL std::optional<double> parse_double(std::string_view s) {
    double v = 0;
    auto res = std::from_chars(s.data(), s.data() + s.size(), v, std::chars_format::general);
    if (res.ec != std::errc() || res.ptr != s.data() + s.size()) {
        if (res.ec == std::errc::result_out_of_range && res.ptr == s.data() + s.size()) {
            // from_chars refuses to round to 0 or infinity; JavaScript does round.
            std::string copy(s);
            return std::strtod(copy.c_str(), nullptr);
        }
        return std::nullopt;
    }
    return v;
}

S3DB_DECL std::optional<double> b62_decimal_decode(std::string_view s) {
    bool negative = false;
    if (!s.empty() && s.front() == '-') {
        negative = true;
        s.remove_prefix(1);
    }
    auto dot = s.find('.');
    auto int_part = b62_decode(s.substr(0, dot));
    if (!int_part) return std::nullopt;
    double v = *int_part;
    if (dot != std::string_view::npos) {
        // JS: Number(String(int) + '.' + rest), with the rest up to a second '.' (split semantics)
        std::string_view rest = s.substr(dot + 1);
        rest = rest.substr(0, rest.find('.'));
        if (!rest.empty()) {
            std::string text;
            text.reserve(24 + rest.size());
            append_js_number(text, v);
            text += '.';
            text += rest;
            auto parsed = parse_double(text);
            if (!parsed) return std::nullopt;
            v = *parsed;
        }
    }
    return negative ? -v : v;
}

S3DB_DECL void append_fixed_point_digits(std::string& out, double x, int precision) {
    double scaled = js_round(x * std::pow(10.0, precision));
    if (scaled == 0) {
        out += '0';
        return;
    }
    if (scaled < 0) {
        out += '-';
        scaled = -scaled;
    }
    if (scaled < two_pow_64) append_digits(out, static_cast<std::uint64_t>(scaled), 62);
    else append_b62_double(out, scaled);
}

S3DB_DECL std::optional<double> fixed_point_decode(std::string_view s, int precision) {
    if (s.empty() || s.front() != '^') return std::nullopt;
    s.remove_prefix(1);
    if (s.empty()) return std::nullopt;  // s3db.js: "^" decodes to 0 via an empty loop; treat as bad
    auto v = b62_decode(s);
    if (!v) return std::nullopt;
    return *v / std::pow(10.0, precision);
}

}  // namespace s3db::detail
#endif  // S3DB_DEFINE_BODIES
