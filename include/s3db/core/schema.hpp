#pragma once
// Attribute definitions in s3db.js's language ("string|required|min:2", "number|integer|min:0",
// nested object literals, `{type: ..., ...}` objects) parsed once into a typed Schema, and record
// validation with fastest-validator's semantics (which s3db.js uses): fields are required unless
// `optional`, strings are trimmed, numbers and booleans are converted from strings, defaults are
// applied, unknown fields are kept. Every failing field is reported, in definition order.
//
// Where s3db.js silently ignores a mistake (an unknown modifier, `enum:` in shorthand, which it
// cannot compile at all) a strict parse (the default) reports it; `SchemaOptions::strict = false`
// accepts everything s3db.js accepts, for definitions read from a bucket s3db.js wrote.

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "s3db/errors.hpp"
#include "s3db/detail/config.hpp"
#include "s3db/detail/time.hpp"
#include "s3db/detail/base62.hpp"
#include "s3db/detail/encoding.hpp"
#include "s3db/detail/js_text.hpp"
#include "s3db/detail/regex.hpp"

namespace s3db {

enum class FieldType : std::uint8_t {
    string,
    number,
    boolean,
    any,
    email,
    url,
    uuid,
    enumeration,  // {type: 'enum', values: [...]}
    array,
    object,  // a nested object literal: its leaves are fields of their own
    json,    // `json`, and `object` as a type name (any JSON object), stored as JSON text
    secret,
    datetime,
    dateonly,
    ip4,
    ip6,
    embedding,
    money,    // money[:decimals], crypto[:decimals]
    decimal,  // decimal[:precision]
};

/// How an array attribute is written (s3db.js picks it from the definition text).
enum class ArrayEncoding : std::uint8_t {
    json,       // JSON text
    strings,    // items joined by '|', '\' and '|' escaped with '\'
    decimals,   // base62-decimal items joined by '|'
    integers,   // base62 integer items joined by '|'
    embedding,  // "^[" fixed-point items "]"
};

/// fastest-validator's checks for one field; unset members check nothing.
struct Rules {
    std::optional<double> min, max, length;  // string length (UTF-16 units), number value, array size
    std::optional<double> equal, not_equal;
    bool integer = false, positive = false, negative = false;
    bool convert = false;
    bool trim = false, trim_left = false, trim_right = false;
    std::optional<bool> empty;
    bool numeric = false, alpha = false, alphanum = false, alphadash = false, hex = false;
    bool single_line = false, base64 = false, unique = false;
    std::optional<std::string> pattern, contains;
    std::string pattern_flags;
    std::shared_ptr<const detail::LinearRegex> pattern_regex;
    std::vector<nlohmann::json> allowed;  // `enum` (string, array) and `values` (enum type)
    std::optional<int> uuid_version;
    bool email_precise = false, email_normalize = false;
    bool object_only = false;  // the `object` type name: the JSON value must be an object
    // Accepted because s3db.js accepts them, and kept for partition rules, but s3db.js (and so
    // this library) does not enforce them on attributes: string length limits are min/max.
    std::optional<double> minlength, maxlength;
};

/// One attribute: a leaf field, or a nested object with `children`.
struct Attribute {
    std::string name;        // key inside its parent
    std::string path;        // dotted from the root: "profile.city"
    std::string definition;  // the shorthand text, "" for object forms and nested objects
    FieldType type = FieldType::string;
    bool optional = false;
    bool nullable = false;
    bool object_form = false;  // defined as {type: ...}; s3db.js then stores uuid/dates verbatim
    std::optional<nlohmann::json> default_value;
    Rules rules;
    int scale = 0;  // money decimals, decimal precision
    bool integer_encoding = false;  // numbers written as base62 integers ("|integer" in the text)
    ArrayEncoding array_encoding = ArrayEncoding::json;
    std::shared_ptr<const Attribute> items;  // arrays: the rule every item follows
    std::vector<Attribute> children;         // nested objects

    bool is_object() const noexcept { return type == FieldType::object; }
    const Attribute* child(std::string_view n) const noexcept {
        for (const auto& c : children)
            if (c.name == n) return &c;
        return nullptr;
    }
};

struct SchemaOptions {
    /// Nested object literals may be absent unless their `$$type` says `required` (s3db.js's
    /// resource default).
    bool all_nested_objects_optional = true;
    /// Reject modifiers s3db.js would silently ignore. Turn off for definitions s3db.js wrote.
    bool strict = true;
};

namespace detail {

/// JavaScript `String.prototype.length`: UTF-16 code units of UTF-8 text.
S3DB_DECL std::size_t utf16_length(std::string_view s) noexcept;

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

// ---- formats fastest-validator and s3db.js check ----

S3DB_DECL bool is_ipv4(std::string_view s) noexcept;

/// The 16 bytes of an IPv6 address (with `::` and an embedded IPv4 tail); nullopt if it is not one.
S3DB_DECL std::optional<std::array<unsigned char, 16>> parse_ipv6(std::string_view s);

/// fastest-validator's uuid check; returns the failing rule name or nullptr.
S3DB_DECL const char* uuid_failure(std::string_view v, std::optional<int> version) noexcept;

S3DB_DECL bool is_js_space_free(std::string_view s) noexcept;

/// fastest-validator's quick e-mail pattern /^\S+@\S+\.\S+$/.
S3DB_DECL bool is_basic_email(std::string_view s) noexcept;

/// fastest-validator's precise e-mail pattern, as one linear scan (the regex backtracks, and
/// std::regex overflows the stack on long values):
/// ^(([^<>()[\]\\.,;:\s@"]+(\.[^<>()[\]\\.,;:\s@"]+)*)|(".+"))@((\[[0-9]{1,3}(\.[0-9]{1,3}){3}\])|(([a-zA-Z\-0-9]+\.)+[a-zA-Z]{2,}))$
/// Neither domain form holds '@', so the local part ends at the last '@'.
S3DB_DECL bool is_precise_email(std::string_view s) noexcept;

/// A JSON value rendered for an error report: bounded, and never a secret.
S3DB_DECL std::string render_value(const nlohmann::json& v, bool secret);

/// Object keys in JavaScript's order: array-index-like keys ascending, then the rest in insertion
/// order. s3db.js's flatten and attribute walks see keys in this order.
template <class Json>
std::vector<std::string> js_keys(const Json& obj) {
    std::vector<std::pair<std::uint32_t, std::string>> indices;
    std::vector<std::string> names;
    for (auto it = obj.begin(); it != obj.end(); ++it) {
        const std::string& k = it.key();
        bool index = !k.empty() && k.size() <= 10 && (k == "0" || k[0] != '0') &&
                     std::all_of(k.begin(), k.end(), [](char c) { return c >= '0' && c <= '9'; });
        if (index) {
            std::uint64_t v = std::stoull(k);
            if (v < 4294967295ULL) {
                indices.emplace_back(static_cast<std::uint32_t>(v), k);
                continue;
            }
        }
        names.push_back(k);
    }
    std::sort(indices.begin(), indices.end());
    std::vector<std::string> out;
    out.reserve(indices.size() + names.size());
    for (auto& [v, k] : indices) out.push_back(std::move(k));
    for (auto& k : names) out.push_back(std::move(k));
    return out;
}

}  // namespace detail

/// A parsed resource schema. Immutable and cheap to share; validation is thread-safe.
class Schema {
public:
    using Failure = ValidationError::Failure;

    Schema() = default;

    /// Parses attribute definitions. Pass an `ordered_json` to keep the definition order (it
    /// decides validation order and the attribute indices of a new resource); a plain
    /// `nlohmann::json` converts to it with its keys sorted. Throws SchemaError.
    S3DB_DECL static Schema parse(const nlohmann::ordered_json& attributes, SchemaOptions options = {});

    const std::vector<Attribute>& attributes() const noexcept { return attributes_; }
    const nlohmann::ordered_json& definition() const noexcept { return definition_; }
    const SchemaOptions& options() const noexcept { return options_; }

    /// The attribute at a dotted path ("profile.city"), nested objects included; nullptr if none.
    S3DB_DECL const Attribute* find(std::string_view path) const noexcept;

    /// Validates `record` in place: applies defaults, trims strings, converts numbers and booleans,
    /// normalises dates. Returns every failure (empty when the record is valid).
    S3DB_DECL std::vector<Failure> check(nlohmann::json& record) const;

    /// The validated, normalised record; throws ValidationError listing every failing field.
    S3DB_DECL nlohmann::json validate(nlohmann::json record, const std::string& context = {}) const;

private:
    // ---------------------------------------------------------------------------------------
    // parsing

    S3DB_DECL static bool is_validator_type(const std::string& t);

    S3DB_DECL static Attribute parse_attribute(const std::string& name, const std::string& path,
                                               const nlohmann::ordered_json& def, const SchemaOptions& options);

    S3DB_DECL static Attribute parse_nested(const std::string& name, const std::string& path,
                                            const nlohmann::ordered_json& def, const SchemaOptions& options);

    S3DB_DECL static std::vector<std::string_view> split(std::string_view s, char sep);

    /// The part of the type token before ':' and the parameter after it ("money:4").
    S3DB_DECL static void set_type(Attribute& a, std::string_view base, std::string_view param, bool has_param,
                                   const std::string& token);

    S3DB_DECL static Attribute parse_shorthand(const std::string& name, const std::string& path,
                                               const std::string& text, const SchemaOptions& options);

    S3DB_DECL static std::optional<double> number_token(std::string_view s);

    /// `default:X` in shorthand, cast by type as s3db.js's applyDefaults does.
    S3DB_DECL static nlohmann::json shorthand_default(const Attribute& a, const std::string& raw,
                                                      const std::string& token);

    S3DB_DECL static Attribute parse_object_form(const std::string& name, const std::string& path,
                                                 const nlohmann::ordered_json& def, const SchemaOptions& options);

    /// Picks the array encoding exactly as s3db.js's auto hooks do.
    S3DB_DECL static void finish_array(Attribute& a, bool integer_flag);

    S3DB_DECL static void apply_modifier(Attribute& a, const std::string& key, const nlohmann::json& value,
                                         const std::string& token, const SchemaOptions& options, bool shorthand);

    // ---------------------------------------------------------------------------------------
    // validation

    /// Where a failing value sits: a path, and for array items an index appended as "[i]".
    struct FieldRef {
        const std::string& path;
        std::size_t index = static_cast<std::size_t>(-1);
        const FieldRef* parent = nullptr;  // the array's own reference, for items of items
        S3DB_DECL std::string str() const;
    };

    static Failure make_failure(std::string field, const char* rule, std::string value, std::string expected,
                                std::string message) {
        return Failure{std::move(field), rule, std::move(value), std::move(expected), std::move(message)};
    }

    static std::string fmt_number(double v) { return detail::js_number(v); }

    /// fastest-validator's message for a rule.
    S3DB_DECL static std::string message(std::string_view rule, const std::string& field, const std::string& expected);

    struct Reporter {
        std::vector<Failure>& out;
        const Attribute& attr;
        const FieldRef& ref;
        const nlohmann::json* shown;
        S3DB_DECL void operator()(const char* rule, std::string expected = {}) const;
    };

    S3DB_DECL static void check_object_fields(const std::vector<Attribute>& attrs, nlohmann::json& object,
                                              std::vector<Failure>& failures);

    /// fastest-validator's required/optional/default wrapper around a rule.
    S3DB_DECL static void check_present(const Attribute& attr, nlohmann::json& value, const FieldRef& ref,
                                        std::vector<Failure>& failures);

    S3DB_DECL static void check_value(const Attribute& attr, nlohmann::json& value, const FieldRef& ref,
                                      std::vector<Failure>& failures);

    static bool needs_original(const Attribute& attr) noexcept {
        using T = FieldType;
        return attr.type == T::number || attr.type == T::money || attr.type == T::decimal || attr.type == T::boolean ||
               attr.type == T::datetime || attr.type == T::dateonly;
    }

    static bool url_like(std::string_view s) {
        std::size_t p = s.starts_with("http://") ? 7 : s.starts_with("https://") ? 8 : 0;
        return p && p < s.size() && detail::js_space_prefix(s.substr(p)) == 0;
    }

    S3DB_DECL static std::string join_allowed(const std::vector<nlohmann::json>& allowed);

    S3DB_DECL static void check_string(const Attribute& attr, nlohmann::json& value, const Reporter& fail);

    /// /^-?[0-9]\d*(\.\d+)?$/
    S3DB_DECL static bool is_numeric_string(std::string_view s);

    /// fastest-validator's base64 pattern: groups of 4, optional padded tail.
    S3DB_DECL static bool is_padded_base64(std::string_view s);

    S3DB_DECL static void check_number(const Attribute& attr, nlohmann::json& value, const Reporter& fail);

    S3DB_DECL static void check_boolean(const Attribute& attr, nlohmann::json& value, const Reporter& fail);

    S3DB_DECL static void check_email(const Attribute& attr, nlohmann::json& value, const Reporter& fail);

    S3DB_DECL static void check_array(const Attribute& attr, nlohmann::json& value, const FieldRef& ref,
                                      std::vector<Failure>& failures, const Reporter& fail);

    S3DB_DECL static void check_date(const Attribute& attr, nlohmann::json& value, const Reporter& fail);

    std::vector<Attribute> attributes_;
    nlohmann::ordered_json definition_;
    SchemaOptions options_;
};

}  // namespace s3db

#if S3DB_DEFINE_BODIES

#include <charconv>

namespace s3db {

namespace detail {

S3DB_DECL std::size_t utf16_length(std::string_view s) noexcept {
    std::size_t n = 0;
    for (unsigned char c : s) {
        if ((c & 0xC0) == 0x80) continue;
        n += c >= 0xF0 ? 2 : 1;
    }
    return n;
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

S3DB_DECL bool is_ipv4(std::string_view s) noexcept {
    int parts = 0;
    std::size_t i = 0;
    while (true) {
        std::size_t start = i;
        unsigned v = 0;
        while (i < s.size() && i - start < 3 && s[i] >= '0' && s[i] <= '9') v = v * 10 + static_cast<unsigned>(s[i++] - '0');
        if (i == start || v > 255) return false;
        if (++parts == 4) return i == s.size();
        if (i >= s.size() || s[i++] != '.') return false;
    }
}

S3DB_DECL std::optional<std::array<unsigned char, 16>> parse_ipv6(std::string_view s) {
    std::array<std::uint16_t, 8> groups{};
    int count = 0, gap = -1;
    std::size_t i = 0;
    if (s.starts_with("::")) {
        gap = 0;
        i = 2;
        if (s.size() == 2) return std::array<unsigned char, 16>{};
    } else if (s.empty() || s.front() == ':') {
        return std::nullopt;
    }
    while (i < s.size()) {
        std::size_t start = i;
        unsigned v = 0;
        while (i < s.size() && i - start < 4 && hex_value(s[i]) >= 0) v = v * 16 + static_cast<unsigned>(hex_value(s[i++]));
        if (i < s.size() && s[i] == '.') {  // dotted IPv4 tail
            std::size_t end = s.size();
            if (!is_ipv4(s.substr(start, end - start)) || count > 6) return std::nullopt;
            unsigned octets[4];
            std::size_t p = start;
            for (int k = 0; k < 4; ++k) {
                unsigned o = 0;
                while (p < end && s[p] != '.') o = o * 10 + static_cast<unsigned>(s[p++] - '0');
                ++p;
                octets[k] = o;
            }
            groups[static_cast<std::size_t>(count++)] = static_cast<std::uint16_t>(octets[0] << 8 | octets[1]);
            groups[static_cast<std::size_t>(count++)] = static_cast<std::uint16_t>(octets[2] << 8 | octets[3]);
            i = end;
            break;
        }
        if (i == start || count == 8) return std::nullopt;
        groups[static_cast<std::size_t>(count++)] = static_cast<std::uint16_t>(v);
        if (i == s.size()) break;
        if (s[i] != ':') return std::nullopt;
        ++i;
        if (i < s.size() && s[i] == ':') {
            if (gap >= 0) return std::nullopt;
            gap = count;
            ++i;
            if (i == s.size()) break;
        } else if (i == s.size()) {
            return std::nullopt;  // trailing single ':'
        }
    }
    if (gap < 0 ? count != 8 : count > 7) return std::nullopt;
    std::array<std::uint16_t, 8> full{};
    if (gap < 0) {
        full = groups;
    } else {
        int tail = count - gap;
        for (int k = 0; k < gap; ++k) full[static_cast<std::size_t>(k)] = groups[static_cast<std::size_t>(k)];
        for (int k = 0; k < tail; ++k) full[static_cast<std::size_t>(8 - tail + k)] = groups[static_cast<std::size_t>(gap + k)];
    }
    std::array<unsigned char, 16> bytes{};
    for (std::size_t k = 0; k < 8; ++k) {
        bytes[2 * k] = static_cast<unsigned char>(full[k] >> 8);
        bytes[2 * k + 1] = static_cast<unsigned char>(full[k] & 0xff);
    }
    return bytes;
}

S3DB_DECL const char* uuid_failure(std::string_view v, std::optional<int> version) noexcept {
    static constexpr int layout[] = {8, 4, 4, 4, 12};
    if (v.size() != 36) return "uuid";
    std::size_t p = 0;
    bool all_zero = true;
    for (int part = 0; part < 5; ++part) {
        if (part) {
            if (v[p++] != '-') return "uuid";
        }
        for (int k = 0; k < layout[part]; ++k, ++p) {
            if (hex_value(v[p]) < 0) return "uuid";
            if (v[p] != '0') all_zero = false;
        }
    }
    int ver = v[14] - '0';
    if (!all_zero && (ver < 1 || ver > 8)) return "uuid";
    if (all_zero) ver = 0;
    if (version && *version < 9 && *version != ver) return "uuidVersion";
    if (ver >= 3 && ver != 6) {
        char variant = static_cast<char>(v[19] | 0x20);
        if (variant != '8' && variant != '9' && variant != 'a' && variant != 'b') return "uuid";
    }
    return nullptr;
}

S3DB_DECL bool is_js_space_free(std::string_view s) noexcept {
    for (std::size_t i = 0; i < s.size(); ++i)
        if (js_space_prefix(s.substr(i))) return false;
    return true;
}

S3DB_DECL bool is_basic_email(std::string_view s) noexcept {
    if (!is_js_space_free(s)) return false;
    auto at = s.find('@', 1);
    auto dot = s.rfind('.');
    return at != std::string_view::npos && dot != std::string_view::npos && dot > at + 1 && dot + 1 < s.size();
}

S3DB_DECL bool is_precise_email(std::string_view s) noexcept {
    auto at = s.rfind('@');
    if (at == std::string_view::npos) return false;
    std::string_view local = s.substr(0, at), domain = s.substr(at + 1);
    auto line_break = [](std::string_view t) {
        for (std::size_t i = 0; i < t.size(); ++i) {
            if (t[i] == '\n' || t[i] == '\r') return true;
            if (t.substr(i).starts_with("\xE2\x80\xA8") || t.substr(i).starts_with("\xE2\x80\xA9")) return true;
        }
        return false;
    };
    bool local_ok;
    if (local.size() >= 3 && local.front() == '"' && local.back() == '"') {
        local_ok = !line_break(local.substr(1, local.size() - 2));  // ".+": anything but a line break
    } else {
        // dot-separated non-empty runs of anything but <>()[]\.,;:"@ and JavaScript whitespace
        local_ok = !local.empty();
        std::size_t run = 0;
        for (std::size_t i = 0; local_ok && i < local.size();) {
            char c = local[i];
            if (c == '.') {
                local_ok = run > 0;
                run = 0;
                ++i;
                continue;
            }
            if (std::string_view("<>()[]\\,;:\"@").find(c) != std::string_view::npos) local_ok = false;
            if (std::size_t n = js_space_prefix(local.substr(i))) {
                local_ok = false;
                i += n;
            } else {
                ++i;
            }
            ++run;
        }
        local_ok = local_ok && run > 0;
    }
    if (!local_ok) return false;
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
    if (domain.size() >= 2 && domain.front() == '[' && domain.back() == ']') {
        std::string_view ip = domain.substr(1, domain.size() - 2);
        int parts = 0;
        std::size_t digits = 0;
        for (char c : ip) {
            if (digit(c)) {
                if (++digits > 3) return false;
            } else if (c == '.' && digits > 0) {
                ++parts;
                digits = 0;
            } else {
                return false;
            }
        }
        return digits > 0 && parts == 3;
    }
    // ([a-zA-Z0-9-]+\.)+[a-zA-Z]{2,}: at least two labels, the last of letters only
    auto dot = domain.rfind('.');
    if (dot == std::string_view::npos) return false;
    std::string_view tld = domain.substr(dot + 1);
    if (tld.size() < 2 || !std::all_of(tld.begin(), tld.end(), letter)) return false;
    std::size_t label = 0;
    for (char c : domain.substr(0, dot + 1)) {
        if (c == '.') {
            if (label == 0) return false;
            label = 0;
        } else if (letter(c) || digit(c) || c == '-') {
            ++label;
        } else {
            return false;
        }
    }
    return true;
}

S3DB_DECL std::string render_value(const nlohmann::json& v, bool secret) {
    if (secret) return "<secret>";
    std::string s = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (s.size() > 200) s = s.substr(0, 200) + "...";
    return s;
}

}  // namespace detail

S3DB_DECL Schema Schema::parse(const nlohmann::ordered_json& attributes, SchemaOptions options) {
    if (!attributes.is_object()) throw SchemaError("", "", "attribute definitions must be a JSON object");
    if (auto where = detail::too_deep(attributes))
        throw SchemaError(*where, "", "the definition nests deeper than " + std::to_string(detail::max_nesting_depth) +
                                          " levels");
    Schema s;
    s.definition_ = attributes;
    s.options_ = options;
    for (const auto& name : detail::js_keys(attributes)) {
        if (name.starts_with("$$")) continue;  // validator meta keys
        s.attributes_.push_back(parse_attribute(name, name, attributes[name], options));
    }
    return s;
}

S3DB_DECL const Attribute* Schema::find(std::string_view path) const noexcept {
    const std::vector<Attribute>* level = &attributes_;
    while (true) {
        auto dot = path.find('.');
        std::string_view head = path.substr(0, dot);
        const Attribute* hit = nullptr;
        for (const auto& a : *level)
            if (a.name == head) hit = &a;
        if (!hit || dot == std::string_view::npos) return hit;
        level = &hit->children;
        path.remove_prefix(dot + 1);
    }
}

S3DB_DECL std::vector<Schema::Failure> Schema::check(nlohmann::json& record) const {
    std::vector<Failure> failures;
    // First: everything below (and every later step of a write) recurses over the value.
    if (auto where = detail::too_deep(record)) {
        const std::string field = where->empty() ? std::string("record") : *where;
        failures.push_back(make_failure(*where, "nestingDepth", "", std::to_string(detail::max_nesting_depth),
                                        "The '" + field + "' field nests objects and arrays deeper than " +
                                            std::to_string(detail::max_nesting_depth) + " levels."));
        return failures;
    }
    if (!record.is_object()) {
        failures.push_back(make_failure("", "object", detail::render_value(record, false), "",
                                        "The record must be a JSON object."));
        return failures;
    }
    // Text is Unicode in JSON and in S3 metadata; bytes that are not UTF-8 would be stored as
    // something else, or make a later dump throw.
    if (auto where = detail::invalid_utf8_at(record)) {
        failures.push_back(make_failure(*where, "utf8", "", "", "The '" + *where + "' field holds text that is not UTF-8."));
        return failures;
    }
    check_object_fields(attributes_, record, failures);
    return failures;
}

S3DB_DECL nlohmann::json Schema::validate(nlohmann::json record, const std::string& context) const {
    auto failures = check(record);
    if (!failures.empty()) throw ValidationError(std::move(failures), context);
    return record;
}

S3DB_DECL bool Schema::is_validator_type(const std::string& t) {
    // s3db.js's list: an object whose `type` is one of these is a field, not a nested object.
    static const char* const names[] = {
        "string", "number", "boolean", "bool", "any", "object", "array", "date", "dateonly", "datetime",
        "timeonly", "email", "url", "uuid", "enum", "custom", "ip4", "ip6", "mac", "cidr", "semver",
        "phone", "color", "duration", "cron", "locale", "currency", "country", "ean", "buffer", "bits",
        "money", "crypto", "decimal", "geo:lat", "geo:lon", "geo:point", "geo-lat", "geo-lon",
        "geo-point", "secret", "password", "password:bcrypt", "password:argon2id", "embedding"};
    if (t.find('|') != std::string::npos) return false;
    for (const char* n : names)
        if (t == n) return true;
    return t.starts_with("bits:") || t.starts_with("embedding:");
}

S3DB_DECL Attribute Schema::parse_attribute(const std::string& name, const std::string& path,
                                            const nlohmann::ordered_json& def, const SchemaOptions& options) {
    if (name.empty()) throw SchemaError(path, "", "attribute names cannot be empty");
    if (name.find('.') != std::string::npos)
        throw SchemaError(path, name, "attribute names cannot contain '.' (nest an object instead)");
    if (def.is_string()) return parse_shorthand(name, path, def.get_ref<const std::string&>(), options);
    if (def.is_object()) {
        auto type = def.find("type");
        if (type != def.end() && type->is_string() && is_validator_type(type->get<std::string>()))
            return parse_object_form(name, path, def, options);
        return parse_nested(name, path, def, options);
    }
    throw SchemaError(path, def.dump(), "a definition must be a string or an object");
}

S3DB_DECL Attribute Schema::parse_nested(const std::string& name, const std::string& path,
                                         const nlohmann::ordered_json& def, const SchemaOptions& options) {
    Attribute a;
    a.name = name;
    a.path = path;
    a.type = FieldType::object;
    a.optional = options.all_nested_objects_optional;
    if (auto t = def.find("$$type"); t != def.end()) {
        if (!t->is_string()) throw SchemaError(path, t->dump(), "$$type must be a string");
        const std::string& text = t->get_ref<const std::string&>();
        // s3db.js only looks for the words; a strict parse wants "object[|required|optional]".
        bool required = text.find("required") != std::string::npos;
        bool optional = text.find("optional") != std::string::npos;
        if (options.strict) {
            auto tokens = split(text, '|');
            if (tokens[0] != "object") throw SchemaError(path, text, "$$type must start with 'object'");
            for (std::size_t k = 1; k < tokens.size(); ++k)
                if (tokens[k] != "required" && tokens[k] != "optional")
                    throw SchemaError(path, std::string(tokens[k]), "unknown $$type modifier");
        }
        if (required) a.optional = false;
        else if (optional) a.optional = true;
    }
    for (const auto& key : detail::js_keys(def)) {
        if (key.starts_with("$$")) continue;
        a.children.push_back(parse_attribute(key, path + "." + key, def[key], options));
    }
    return a;
}

S3DB_DECL std::vector<std::string_view> Schema::split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    while (true) {
        auto p = s.find(sep);
        out.push_back(s.substr(0, p));
        if (p == std::string_view::npos) return out;
        s.remove_prefix(p + 1);
    }
}

S3DB_DECL void Schema::set_type(Attribute& a, std::string_view base, std::string_view param, bool has_param,
                                const std::string& token) {
    auto param_number = [&](int fallback, int max) {
        if (!has_param) return fallback;
        int v = 0;
        auto r = std::from_chars(param.data(), param.data() + param.size(), v);
        if (param.empty() || r.ec != std::errc() || r.ptr != param.data() + param.size() || v < 0 || v > max)
            throw SchemaError(a.path, token, "the type parameter must be a whole number up to " + std::to_string(max));
        return v;
    };
    auto no_param = [&] {
        if (has_param) throw SchemaError(a.path, token, "this type takes no parameter");
    };
    using T = FieldType;
    if (base == "string") { no_param(); a.type = T::string; }
    else if (base == "number") { no_param(); a.type = T::number; }
    else if (base == "boolean" || base == "bool") { no_param(); a.type = T::boolean; }
    else if (base == "any") { no_param(); a.type = T::any; }
    else if (base == "email") { no_param(); a.type = T::email; }
    else if (base == "url") { no_param(); a.type = T::url; }
    else if (base == "uuid") { no_param(); a.type = T::uuid; }
    else if (base == "array") { no_param(); a.type = T::array; }
    else if (base == "json") { no_param(); a.type = T::json; }
    else if (base == "object") { no_param(); a.type = T::json; a.rules.object_only = true; }
    else if (base == "secret") { no_param(); a.type = T::secret; }
    else if (base == "datetime") { no_param(); a.type = T::datetime; }
    else if (base == "dateonly") { no_param(); a.type = T::dateonly; }
    else if (base == "ip4") { no_param(); a.type = T::ip4; }
    else if (base == "ip6") { no_param(); a.type = T::ip6; }
    else if (base == "enum") { no_param(); a.type = T::enumeration; }
    else if (base == "embedding") {
        a.type = T::embedding;
        if (has_param) {
            int n = param_number(0, 1 << 20);
            if (n == 0) throw SchemaError(a.path, token, "an embedding needs a length");
            a.rules.length = n;
        }
        a.rules.empty = false;
    }
    else if (base == "money") { a.type = T::money; a.scale = param_number(2, 15); }
    else if (base == "crypto") { a.type = T::money; a.scale = param_number(8, 15); }
    else if (base == "decimal") { a.type = T::decimal; a.scale = param_number(2, 15); }
    else if (is_validator_type(std::string(base)) || base == "secretAny" || base == "secretNumber" || base == "text" || base == "geo")
        throw SchemaError(a.path, token, "type '" + std::string(base) + "' is not supported by s3db-cpp yet");
    else throw SchemaError(a.path, token, "unknown type");
    // fastest-validator's defaults (s3db.js sets string trim, number/boolean convert)
    switch (a.type) {
        case T::string: case T::secret: case T::ip4: case T::ip6: a.rules.trim = true; break;
        case T::number: case T::money: case T::decimal: case T::boolean: a.rules.convert = true; break;
        default: break;
    }
    if (a.type == T::money) a.rules.min = 0;  // s3db.js: money is `number|min:0` unless min is given
}

S3DB_DECL Attribute Schema::parse_shorthand(const std::string& name, const std::string& path, const std::string& text,
                                            const SchemaOptions& options) {
    Attribute a;
    a.name = name;
    a.path = path;
    a.definition = text;
    auto tokens = split(text, '|');
    std::string_view head = tokens[0];
    auto colon = head.find(':');
    set_type(a, head.substr(0, colon), colon == std::string_view::npos ? std::string_view{} : head.substr(colon + 1),
             colon != std::string_view::npos, std::string(head));
    if (a.type == FieldType::enumeration)
        throw SchemaError(path, text, "an enum needs its values: use {type: 'enum', values: [...]}");
    bool array_integer_flag = false;
    for (std::size_t k = 1; k < tokens.size(); ++k) {
        std::string_view tok = tokens[k];
        auto c = tok.find(':');
        std::string key(tok.substr(0, c));
        if (key == "integer") array_integer_flag = true;  // s3db.js: any "|integer" token, even :false
        if (c == std::string_view::npos) {
            if (key.empty()) {
                if (options.strict) throw SchemaError(path, text, "empty modifier");
                continue;
            }
            apply_modifier(a, key, nlohmann::json(true), std::string(tok), options, true);
            continue;
        }
        std::string raw(tok.substr(c + 1));
        if (key == "default") {
            a.default_value = shorthand_default(a, raw, std::string(tok));
            continue;
        }
        if (key == "items") {
            apply_modifier(a, key, nlohmann::json(raw), std::string(tok), options, true);
            continue;
        }
        if (key == "enum" || key == "values")
            throw SchemaError(path, std::string(tok), "s3db.js cannot compile '" + key + "' in shorthand: use the object form");
        nlohmann::json value;
        if (raw == "true") value = true;
        else if (raw == "false") value = false;
        else if (auto n = number_token(raw)) value = *n;
        else value = raw;
        apply_modifier(a, key, value, std::string(tok), options, true);
    }
    if (array_integer_flag && a.type == FieldType::number) {
        // s3db.js writes base62 integers for any "|integer" token (even integer:false) and
        // floors the value; requiring integers keeps that from losing data silently.
        a.integer_encoding = true;
        a.rules.integer = true;
    }
    finish_array(a, array_integer_flag);
    return a;
}

S3DB_DECL std::optional<double> Schema::number_token(std::string_view s) {
    if (s.empty()) return std::nullopt;
    double v = detail::js_string_to_number(s);
    if (std::isnan(v)) return std::nullopt;
    return v;
}

S3DB_DECL nlohmann::json Schema::shorthand_default(const Attribute& a, const std::string& raw,
                                                   const std::string& token) {
    using T = FieldType;
    switch (a.type) {
        case T::boolean: return raw == "true";
        case T::number: case T::money: case T::decimal: {
            auto n = number_token(raw);
            if (!n || !std::isfinite(*n)) throw SchemaError(a.path, token, "the default of a number must be a number");
            return detail::json_number(*n);
        }
        case T::array: case T::embedding: case T::object:
            throw SchemaError(a.path, token, "defaults for arrays need the object form");
        default: return raw;
    }
}

S3DB_DECL Attribute Schema::parse_object_form(const std::string& name, const std::string& path,
                                              const nlohmann::ordered_json& def, const SchemaOptions& options) {
    Attribute a;
    a.name = name;
    a.path = path;
    a.object_form = true;
    const std::string type = def["type"].get<std::string>();
    auto colon = type.find(':');
    if (type.starts_with("geo:") || type.starts_with("password:")) colon = std::string::npos;
    set_type(a, std::string_view(type).substr(0, colon),
             colon == std::string::npos ? std::string_view{} : std::string_view(type).substr(colon + 1),
             colon != std::string::npos, type);
    for (auto it = def.begin(); it != def.end(); ++it) {
        const std::string& key = it.key();
        if (key == "type" || key == "__plugin__" || key == "__pluginCreated__") continue;
        if (key == "default") {
            a.default_value = nlohmann::json(it.value());
            continue;
        }
        apply_modifier(a, key, nlohmann::json(it.value()), key, options, false);
    }
    if (a.type == FieldType::enumeration && a.rules.allowed.empty() && !def.contains("values"))
        throw SchemaError(path, "enum", "an enum needs its values");
    bool integer_items = false;
    if (a.type == FieldType::array) {
        auto items = def.find("items");
        integer_items = items != def.end() && items->is_string() &&
                        items->get_ref<const std::string&>().find("integer") != std::string::npos;
    }
    finish_array(a, integer_items);
    return a;
}

S3DB_DECL void Schema::finish_array(Attribute& a, bool integer_flag) {
    if (a.type == FieldType::embedding) {
        a.array_encoding = ArrayEncoding::embedding;
        auto item = std::make_shared<Attribute>();
        item->path = a.path + "[]";
        item->type = FieldType::number;
        item->rules.convert = true;
        a.items = std::move(item);
        return;
    }
    if (a.type != FieldType::array) return;
    a.array_encoding = ArrayEncoding::json;
    if (!a.items) return;
    // s3db.js tests the items *text*: "string"/"number" (possibly with modifiers); items given
    // as an object, or any other type, are stored as JSON.
    const std::string& items_text = a.items->definition;
    if (items_text.empty()) return;
    if (a.items->type == FieldType::string && items_text.find("string") != std::string::npos) {
        a.array_encoding = ArrayEncoding::strings;
    } else if (a.items->type == FieldType::number) {
        double length = a.rules.length.value_or(-1);
        if (!a.object_form) {
            // s3db.js: /length:(\d+)/ anywhere in the definition (maxlength:300 counts too)
            auto p = a.definition.find("length:");
            length = -1;
            if (p != std::string::npos) {
                std::size_t q = p + 7;
                double v = 0;
                bool any = false;
                while (q < a.definition.size() && a.definition[q] >= '0' && a.definition[q] <= '9') {
                    v = v * 10 + (a.definition[q++] - '0');
                    any = true;
                }
                if (any) length = v;
            }
        }
        if (integer_flag) {
            a.array_encoding = ArrayEncoding::integers;
            // s3db.js floors the items silently; we refuse what would not round-trip.
            auto item = std::make_shared<Attribute>(*a.items);
            item->rules.integer = true;
            a.items = std::move(item);
        } else if (length >= 256) {
            a.array_encoding = ArrayEncoding::embedding;
        } else {
            a.array_encoding = ArrayEncoding::decimals;
        }
    }
}

S3DB_DECL void Schema::apply_modifier(Attribute& a, const std::string& key, const nlohmann::json& value,
                                      const std::string& token, const SchemaOptions& options, bool shorthand) {
    using T = FieldType;
    auto need_bool = [&]() -> bool {
        if (!value.is_boolean()) throw SchemaError(a.path, token, "modifier '" + key + "' needs true or false");
        return value.get<bool>();
    };
    auto need_number = [&]() -> double {
        if (!value.is_number() || !std::isfinite(value.get<double>()))
            throw SchemaError(a.path, token, "modifier '" + key + "' needs a number");
        return value.get<double>();
    };
    auto need_count = [&]() -> double {
        double v = need_number();
        if (v < 0) throw SchemaError(a.path, token, "modifier '" + key + "' needs a count");
        return v;
    };
    auto need_string = [&]() -> std::string {
        if (value.is_string()) return value.get<std::string>();
        if (value.is_number() && shorthand) return token.substr(token.find(':') + 1);
        throw SchemaError(a.path, token, "modifier '" + key + "' needs text");
    };
    const bool stringy = a.type == T::string || a.type == T::secret || a.type == T::ip4 || a.type == T::ip6;
    const bool numeric = a.type == T::number || a.type == T::money || a.type == T::decimal;
    const bool listy = a.type == T::array || a.type == T::embedding;

    if (key == "optional") { a.optional = need_bool(); return; }
    if (key == "required") { need_bool(); return; }  // fields are required unless optional
    if (key == "nullable") { a.nullable = need_bool(); return; }
    if (key == "convert") { a.rules.convert = need_bool(); return; }
    if (key == "label" || key == "messages") return;
    if (key == "minlength") { a.rules.minlength = need_count(); return; }
    if (key == "maxlength") { a.rules.maxlength = need_count(); return; }
    if (stringy || listy || a.type == T::email) {
        if (key == "min") { a.rules.min = need_count(); return; }
        if (key == "max") { a.rules.max = need_count(); return; }
    }
    if (stringy || listy) {
        if (key == "length") { a.rules.length = need_count(); return; }
    }
    if (stringy || listy || a.type == T::email || a.type == T::url) {
        if (key == "empty") { a.rules.empty = need_bool(); return; }
    }
    if (stringy) {
        if (key == "trim") { a.rules.trim = need_bool(); return; }
        if (key == "trimLeft") { a.rules.trim_left = need_bool(); return; }
        if (key == "trimRight") { a.rules.trim_right = need_bool(); return; }
        if (key == "numeric") { a.rules.numeric = need_bool(); return; }
        if (key == "alpha") { a.rules.alpha = need_bool(); return; }
        if (key == "alphanum") { a.rules.alphanum = need_bool(); return; }
        if (key == "alphadash") { a.rules.alphadash = need_bool(); return; }
        if (key == "hex") { a.rules.hex = need_bool(); return; }
        if (key == "singleLine") { a.rules.single_line = need_bool(); return; }
        if (key == "base64") { a.rules.base64 = need_bool(); return; }
        if (key == "contains") { a.rules.contains = need_string(); return; }
        if (key == "pattern" || key == "patternFlags") {
            if (key == "pattern") a.rules.pattern = need_string();
            else a.rules.pattern_flags = need_string();
            // ECMAScript syntax, as JavaScript's RegExp; of the flags only 'i' changes a test
            if (a.rules.pattern_flags.find_first_not_of("gimsuy") != std::string::npos)
                throw SchemaError(a.path, token, "unknown pattern flag");
            if (a.rules.pattern) {
                try {
                    a.rules.pattern_regex =
                        std::make_shared<const detail::LinearRegex>(*a.rules.pattern, a.rules.pattern_flags);
                } catch (const detail::RegexError& e) {
                    throw SchemaError(a.path, token, std::string("invalid or unsupported pattern: ") + e.what());
                }
            }
            return;
        }
        if (key == "enum") {
            if (!value.is_array() || value.empty()) throw SchemaError(a.path, token, "enum needs a list of values");
            a.rules.allowed.assign(value.begin(), value.end());
            return;
        }
    }
    if (numeric) {
        if (key == "min") { a.rules.min = need_number(); return; }
        if (key == "max") { a.rules.max = need_number(); return; }
        if (key == "equal") { a.rules.equal = need_number(); return; }
        if (key == "notEqual") { a.rules.not_equal = need_number(); return; }
        if (key == "integer") { a.rules.integer = need_bool(); return; }
        if (key == "positive") { a.rules.positive = need_bool(); return; }
        if (key == "negative") { a.rules.negative = need_bool(); return; }
    }
    if (listy) {
        if (key == "unique") { a.rules.unique = need_bool(); return; }
        if (key == "integer") { need_bool(); return; }  // an encoding flag (see finish_array)
        if (key == "enum") {
            if (!value.is_array() || value.empty()) throw SchemaError(a.path, token, "enum needs a list of values");
            a.rules.allowed.assign(value.begin(), value.end());
            return;
        }
        if (key == "items" && a.type == T::array) {
            if (value.is_string()) {
                a.items = std::make_shared<const Attribute>(
                    parse_shorthand("", a.path + "[]", value.get<std::string>(), options));
            } else if (value.is_object() && value.contains("type") && value["type"].is_string() &&
                       is_validator_type(value["type"].get<std::string>())) {
                a.items = std::make_shared<const Attribute>(
                    parse_object_form("", a.path + "[]", nlohmann::ordered_json(value), options));
            } else {
                throw SchemaError(a.path, token, "items must be a type definition");
            }
            return;
        }
    }
    if (a.type == T::email) {
        if (key == "mode") {
            std::string m = need_string();
            if (m != "quick" && m != "precise") throw SchemaError(a.path, token, "mode is 'quick' or 'precise'");
            a.rules.email_precise = m == "precise";
            return;
        }
        if (key == "normalize") { a.rules.email_normalize = need_bool(); return; }
    }
    if (a.type == T::uuid && key == "version") {
        double v = need_number();
        if (v < 0 || v > 8 || v != std::floor(v)) throw SchemaError(a.path, token, "uuid version is 0 to 8");
        a.rules.uuid_version = static_cast<int>(v);
        return;
    }
    if (a.type == T::enumeration && key == "values") {
        if (!value.is_array() || value.empty()) throw SchemaError(a.path, token, "values needs a list");
        a.rules.allowed.assign(value.begin(), value.end());
        return;
    }
    if (options.strict) throw SchemaError(a.path, token, "unknown modifier '" + key + "' for this type");
}

S3DB_DECL std::string Schema::FieldRef::str() const {
    std::string s = parent ? parent->str() : path;
    if (index != static_cast<std::size_t>(-1)) s += "[" + std::to_string(index) + "]";
    return s;
}

S3DB_DECL std::string Schema::message(std::string_view rule, const std::string& field, const std::string& expected) {
    const std::string f = "The '" + field + "' field";
    if (rule == "required") return f + " is required.";
    if (rule == "string") return f + " must be a string.";
    if (rule == "stringEmpty") return f + " must not be empty.";
    if (rule == "stringMin") return f + " length must be greater than or equal to " + expected + " characters long.";
    if (rule == "stringMax") return f + " length must be less than or equal to " + expected + " characters long.";
    if (rule == "stringLength") return f + " length must be " + expected + " characters long.";
    if (rule == "stringPattern") return f + " fails to match the required pattern.";
    if (rule == "stringContains") return f + " must contain the '" + expected + "' text.";
    if (rule == "stringEnum") return f + " does not match any of the allowed values.";
    if (rule == "stringNumeric") return f + " must be a numeric string.";
    if (rule == "stringAlpha") return f + " must be an alphabetic string.";
    if (rule == "stringAlphanum") return f + " must be an alphanumeric string.";
    if (rule == "stringAlphadash") return f + " must be an alphadash string.";
    if (rule == "stringHex") return f + " must be a hex string.";
    if (rule == "stringSingleLine") return f + " must be a single line string.";
    if (rule == "stringBase64") return f + " must be a base64 string.";
    if (rule == "number") return f + " must be a number.";
    if (rule == "numberMin") return f + " must be greater than or equal to " + expected + ".";
    if (rule == "numberMax") return f + " must be less than or equal to " + expected + ".";
    if (rule == "numberEqual") return f + " must be equal to " + expected + ".";
    if (rule == "numberNotEqual") return f + " can't be equal to " + expected + ".";
    if (rule == "numberInteger") return f + " must be an integer.";
    if (rule == "numberPositive") return f + " must be a positive number.";
    if (rule == "numberNegative") return f + " must be a negative number.";
    if (rule == "boolean") return f + " must be a boolean.";
    if (rule == "array") return f + " must be an array.";
    if (rule == "arrayEmpty") return f + " must not be an empty array.";
    if (rule == "arrayMin") return f + " must contain at least " + expected + " items.";
    if (rule == "arrayMax") return f + " must contain less than or equal to " + expected + " items.";
    if (rule == "arrayLength") return f + " must contain " + expected + " items.";
    if (rule == "arrayUnique") return f + " must contain unique items.";
    if (rule == "arrayEnum") return f + " items do not match any of the allowed values.";
    if (rule == "object") return f + " must be an Object.";
    if (rule == "email") return f + " must be a valid e-mail.";
    if (rule == "emailEmpty") return f + " must not be empty.";
    if (rule == "emailMin") return f + " length must be greater than or equal to " + expected + " characters long.";
    if (rule == "emailMax") return f + " length must be less than or equal to " + expected + " characters long.";
    if (rule == "url") return f + " must be a valid URL.";
    if (rule == "urlEmpty") return f + " must not be empty.";
    if (rule == "uuid") return f + " must be a valid UUID.";
    if (rule == "uuidVersion") return f + " must be a valid UUID version provided.";
    if (rule == "enumValue") return f + " value does not match any of the allowed values.";
    if (rule == "datetime") return f + " must be a valid datetime.";
    if (rule == "date") return f + " must be a valid date.";
    if (rule == "ip4") return f + " must be a valid IPv4 address.";
    if (rule == "ip6") return f + " must be a valid IPv6 address.";
    return f + " is invalid (" + std::string(rule) + ").";
}

S3DB_DECL void Schema::Reporter::operator()(const char* rule, std::string expected) const {
    std::string field = ref.str();
    std::string msg = message(rule, field, expected);
    out.push_back(make_failure(std::move(field), rule, detail::render_value(*shown, attr.type == FieldType::secret),
                               std::move(expected), std::move(msg)));
}

S3DB_DECL void Schema::check_object_fields(const std::vector<Attribute>& attrs, nlohmann::json& object,
                                           std::vector<Failure>& failures) {
    for (const auto& attr : attrs) {
        auto it = object.find(attr.name);
        if (it == object.end()) {
            if (attr.default_value) {
                object[attr.name] = *attr.default_value;
            } else if (!attr.optional) {
                failures.push_back(make_failure(attr.path, "required", "", "", message("required", attr.path, "")));
            }
            continue;
        }
        FieldRef ref{attr.path};
        check_present(attr, *it, ref, failures);
    }
}

S3DB_DECL void Schema::check_present(const Attribute& attr, nlohmann::json& value, const FieldRef& ref,
                                     std::vector<Failure>& failures) {
    if (value.is_null()) {
        if (attr.default_value && !attr.nullable) {
            value = *attr.default_value;
        } else if (!attr.optional && !attr.nullable) {
            std::string field = ref.str();
            std::string msg = message("required", field, "");
            failures.push_back(make_failure(std::move(field), "required", "null", "", std::move(msg)));
        }
        return;
    }
    check_value(attr, value, ref, failures);
}

S3DB_DECL void Schema::check_value(const Attribute& attr, nlohmann::json& value, const FieldRef& ref,
                                   std::vector<Failure>& failures) {
    using T = FieldType;
    // types whose check rewrites the value report what the caller sent
    const nlohmann::json original = needs_original(attr) ? value : nlohmann::json();
    Reporter fail{failures, attr, ref, needs_original(attr) ? &original : &value};
    switch (attr.type) {
        case T::string: case T::secret: case T::ip4: case T::ip6: check_string(attr, value, fail); break;
        case T::number: case T::money: case T::decimal: check_number(attr, value, fail); break;
        case T::boolean: check_boolean(attr, value, fail); break;
        case T::any: break;
        case T::json:
            if (attr.rules.object_only && !value.is_object()) fail("object");
            break;
        case T::email: check_email(attr, value, fail); break;
        case T::url:
            if (!value.is_string()) return fail("string");
            if (value.get_ref<const std::string&>().empty()) {
                if (!attr.rules.empty.value_or(false)) fail("urlEmpty");
                return;
            }
            if (!url_like(value.get_ref<const std::string&>())) fail("url");
            break;
        case T::uuid:
            if (!value.is_string()) return fail("string");
            if (const char* rule = detail::uuid_failure(value.get_ref<const std::string&>(), attr.rules.uuid_version))
                fail(rule, rule == std::string_view("uuidVersion") ? std::to_string(*attr.rules.uuid_version) : "");
            break;
        case T::enumeration:
            if (std::find(attr.rules.allowed.begin(), attr.rules.allowed.end(), value) == attr.rules.allowed.end() ||
                value.is_object() || value.is_array())
                fail("enumValue", join_allowed(attr.rules.allowed));
            break;
        case T::array: case T::embedding: check_array(attr, value, ref, failures, fail); break;
        case T::object:
            if (!value.is_object()) return fail("object");
            check_object_fields(attr.children, value, failures);
            break;
        case T::datetime: case T::dateonly: check_date(attr, value, fail); break;
    }
}

S3DB_DECL std::string Schema::join_allowed(const std::vector<nlohmann::json>& allowed) {
    std::string out;
    for (const auto& v : allowed) {
        if (!out.empty()) out += ", ";
        out += v.is_string() ? v.get<std::string>() : v.dump();
    }
    return out;
}

S3DB_DECL void Schema::check_string(const Attribute& attr, nlohmann::json& value, const Reporter& fail) {
    const Rules& r = attr.rules;
    if (!value.is_string()) {
        if (r.convert && (value.is_number() || value.is_boolean())) {
            std::string s;
            if (value.is_boolean()) s = value.get<bool>() ? "true" : "false";
            else if (value.is_number_float()) s = detail::js_number(value.get<double>());
            else if (value.is_number_unsigned()) s = std::to_string(value.get<std::uint64_t>());
            else detail::append_js_integer(s, value.get<std::int64_t>());
            value = std::move(s);
        } else {
            return fail("string");
        }
    }
    auto& s = value.get_ref<std::string&>();
    if (r.trim || r.trim_left || r.trim_right) {
        std::string_view t = detail::js_trim(s, r.trim || r.trim_left, r.trim || r.trim_right);
        if (t.size() != s.size()) s = std::string(t);
    }
    if (r.empty || r.min || r.max || r.length) {  // a walk over the text, so only when a rule reads it
        const std::size_t len = detail::utf16_length(s);
        if (r.empty && !*r.empty && len == 0) fail("stringEmpty");
        else if (r.empty && *r.empty && len == 0) return;
        if (r.min && static_cast<double>(len) < *r.min) fail("stringMin", fmt_number(*r.min));
        if (r.max && static_cast<double>(len) > *r.max) fail("stringMax", fmt_number(*r.max));
        if (r.length && static_cast<double>(len) != *r.length) fail("stringLength", fmt_number(*r.length));
    }
    if (r.pattern_regex && !r.pattern_regex->search(s)) fail("stringPattern", *r.pattern);
    if (r.contains && s.find(*r.contains) == std::string::npos) fail("stringContains", *r.contains);
    if (!r.allowed.empty() && std::find(r.allowed.begin(), r.allowed.end(), value) == r.allowed.end())
        fail("stringEnum", join_allowed(r.allowed));
    auto all = [&](auto pred) { return !s.empty() && std::all_of(s.begin(), s.end(), pred); };
    auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
    if (r.numeric && !is_numeric_string(s)) fail("stringNumeric");
    if (r.alpha && !all([](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); })) fail("stringAlpha");
    if (r.alphanum && !all(alnum)) fail("stringAlphanum");
    if (r.alphadash && !all([&](char c) { return alnum(c) || c == '_' || c == '-'; })) fail("stringAlphadash");
    if (r.hex && (s.size() % 2 != 0 || !all([](char c) { return detail::hex_value(c) >= 0; }))) fail("stringHex");
    if (r.single_line && s.find('\n') != std::string::npos) fail("stringSingleLine");
    if (r.base64 && !is_padded_base64(s)) fail("stringBase64");
    if (attr.type == FieldType::ip4 && !detail::is_ipv4(s)) fail("ip4");
    if (attr.type == FieldType::ip6 && !detail::parse_ipv6(s)) fail("ip6");
}

S3DB_DECL bool Schema::is_numeric_string(std::string_view s) {
    std::size_t i = s.starts_with('-') ? 1 : 0, start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == start) return false;
    if (i == s.size()) return true;
    if (s[i++] != '.') return false;
    start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > start && i == s.size();
}

S3DB_DECL bool Schema::is_padded_base64(std::string_view s) {
    auto ok = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/'; };
    if (s.size() % 4 != 0) return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (ok(s[i])) continue;
        std::size_t rest = s.size() - i;
        if (s[i] == '=' && (rest == 1 || (rest == 2 && s[i + 1] == '='))) return true;
        return false;
    }
    return true;
}

S3DB_DECL void Schema::check_number(const Attribute& attr, nlohmann::json& value, const Reporter& fail) {
    const Rules& r = attr.rules;
    double v;
    if (value.is_number()) {
        v = value.get<double>();
    } else if (r.convert && value.is_string()) {
        v = detail::js_string_to_number(value.get_ref<const std::string&>());
    } else if (r.convert && value.is_boolean()) {
        v = value.get<bool>() ? 1 : 0;
    } else {
        return fail("number");
    }
    if (!std::isfinite(v)) return fail("number");
    if (!value.is_number()) value = detail::json_number(v);
    if (r.min && v < *r.min) fail("numberMin", fmt_number(*r.min));
    if (r.max && v > *r.max) fail("numberMax", fmt_number(*r.max));
    if (r.equal && v != *r.equal) fail("numberEqual", fmt_number(*r.equal));
    if (r.not_equal && v == *r.not_equal) fail("numberNotEqual", fmt_number(*r.not_equal));
    if (r.integer && v != std::floor(v)) fail("numberInteger");
    if (r.positive && v <= 0) fail("numberPositive");
    if (r.negative && v >= 0) fail("numberNegative");
}

S3DB_DECL void Schema::check_boolean(const Attribute& attr, nlohmann::json& value, const Reporter& fail) {
    if (value.is_boolean()) return;
    if (attr.rules.convert) {
        if (value.is_number()) {
            double d = value.get<double>();
            if (d == 1 || d == 0) {
                value = d == 1;
                return;
            }
        } else if (value.is_string()) {
            const auto& s = value.get_ref<const std::string&>();
            if (s == "true" || s == "1" || s == "on") { value = true; return; }
            if (s == "false" || s == "0" || s == "off") { value = false; return; }
        }
    }
    fail("boolean");
}

S3DB_DECL void Schema::check_email(const Attribute& attr, nlohmann::json& value, const Reporter& fail) {
    const Rules& r = attr.rules;
    if (!value.is_string()) return fail("string");
    auto& s = value.get_ref<std::string&>();
    if (s.empty()) {
        if (!r.empty.value_or(false)) fail("emailEmpty");
        return;
    }
    if (r.email_normalize) {
        s = std::string(detail::js_trim(s, true, true));
        for (auto& c : s)
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    const double len = static_cast<double>(detail::utf16_length(s));
    if (r.min && len < *r.min) fail("emailMin", fmt_number(*r.min));
    if (r.max && len > *r.max) fail("emailMax", fmt_number(*r.max));
    bool ok = r.email_precise ? detail::is_precise_email(s) : detail::is_basic_email(s);
    if (!ok) fail("email");
}

S3DB_DECL void Schema::check_array(const Attribute& attr, nlohmann::json& value, const FieldRef& ref,
                                   std::vector<Failure>& failures, const Reporter& fail) {
    const Rules& r = attr.rules;
    if (!value.is_array()) {
        if (r.convert) value = nlohmann::json::array({value});
        else return fail("array");
    }
    const double n = static_cast<double>(value.size());
    if (r.empty && !*r.empty && value.empty()) fail("arrayEmpty");
    if (r.min && n < *r.min) fail("arrayMin", fmt_number(*r.min));
    if (r.max && n > *r.max) fail("arrayMax", fmt_number(*r.max));
    if (r.length && n != *r.length) fail("arrayLength", fmt_number(*r.length));
    if (r.unique) {
        for (std::size_t i = 0; i < value.size(); ++i) {
            if (value[i].is_structured()) continue;  // JS Set compares objects by identity
            bool dup = false;
            for (std::size_t j = 0; j < i && !dup; ++j) dup = value[j] == value[i];
            if (dup) {
                fail("arrayUnique");
                break;
            }
        }
    }
    if (!r.allowed.empty())
        for (const auto& item : value)
            if (std::find(r.allowed.begin(), r.allowed.end(), item) == r.allowed.end()) fail("arrayEnum", join_allowed(r.allowed));
    if (attr.items) {
        for (std::size_t i = 0; i < value.size(); ++i) {
            FieldRef item_ref{ref.path, i, &ref};
            check_present(*attr.items, value[i], item_ref, failures);
        }
    }
}

S3DB_DECL void Schema::check_date(const Attribute& attr, nlohmann::json& value, const Reporter& fail) {
    const bool date_only = attr.type == FieldType::dateonly;
    const char* rule = date_only ? "date" : "datetime";
    std::optional<std::int64_t> ms;
    if (value.is_number()) {
        ms = detail::js_time_from_number(value.get<double>());
    } else if (value.is_string()) {
        const auto& s = value.get_ref<const std::string&>();
        if (date_only && s.find('T') == std::string::npos) ms = detail::parse_js_date(s + "T00:00:00.000Z");
        else ms = detail::parse_js_date(s);
    }
    if (!ms) return fail(rule);
    std::string iso = detail::iso_string(*ms);
    if (date_only) iso.resize(iso.size() - 14);  // drop "THH:mm:ss.sssZ"
    value = std::move(iso);
}

}  // namespace s3db

#endif  // S3DB_DEFINE_BODIES
