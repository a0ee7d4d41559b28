#pragma once
// JavaScript's reading of text, where s3db.js's behaviour depends on it: what counts as whitespace
// (String.prototype.trim), how String.prototype.split cuts text, and what Number(string) makes of a
// string.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "s3db/detail/base62.hpp"
#include "s3db/detail/config.hpp"
#include "s3db/detail/encoding.hpp"

namespace s3db::detail {

/// Length in bytes of the JavaScript whitespace character (WhiteSpace or LineTerminator) at the
/// start of `s`, 0 if there is none.
S3DB_DECL std::size_t js_space_prefix(std::string_view s) noexcept;

S3DB_DECL std::size_t js_space_suffix(std::string_view s) noexcept;

S3DB_DECL std::string_view js_trim(std::string_view s, bool left, bool right) noexcept;

/// JavaScript's `s.split(sep)` for a one-char separator: every part, the empty ones too ("" gives
/// one empty part). The views point into `s`.
inline std::vector<std::string_view> js_split(std::string_view s, char sep) {
    std::vector<std::string_view> parts;
    while (true) {
        auto p = s.find(sep);
        parts.push_back(s.substr(0, p));
        if (p == std::string_view::npos) return parts;
        s.remove_prefix(p + 1);
    }
}

/// A number as JSON: an integer when it is one (and exact), else a double.
inline nlohmann::json json_number(double v) {
    if (v == std::floor(v) && std::fabs(v) < two_pow_53 && !(v == 0 && std::signbit(v)))
        return static_cast<std::int64_t>(v);
    return v;
}

/// JavaScript `Number(string)`: surrounding whitespace ignored, "" is 0, 0x/0o/0b prefixes,
/// "Infinity"; NaN for anything else.
S3DB_DECL double js_string_to_number(std::string_view s);


// ---- nesting depth --------------------------------------------------------------------------------

/// How deeply a record, a definition or stored JSON may nest objects and arrays. JSON itself has no
/// limit, but everything that walks a value (validation, mapping, JSON.stringify; s3db.js's too)
/// recurses, and a value nested 60,000 levels deep overflows the stack. Real documents stay far
/// below 100 levels; s3db.js's own recursion gives up (RangeError) some thousands deep.
inline constexpr std::size_t max_nesting_depth = 100;

/// Where `v` nests objects and arrays deeper than `limit` (a scalar is depth 0, `{"a":1}` depth 1):
/// the top-level key ("[i]" for an array item) under which it does, or "" when `v` itself is the
/// problem; nullopt when it is within the limit. Iterative, so any depth is safe to check.
template <class Json>
std::optional<std::string> too_deep(const Json& v, std::size_t limit = max_nesting_depth) {
    struct Item {
        const Json* value;
        std::size_t depth;
        std::size_t top;  // index of the top-level member it lies under
    };
    if (!v.is_structured() || limit == 0) return limit == 0 && v.is_structured() ? std::optional<std::string>("") : std::nullopt;
    // Most records are flat: no allocation for them.
    if (limit > 1 && std::none_of(v.begin(), v.end(), [](const Json& m) { return m.is_structured(); })) return std::nullopt;
    std::vector<Item> stack{{&v, 0, SIZE_MAX}};
    std::size_t top_count = 0;
    while (!stack.empty()) {
        Item it = stack.back();
        stack.pop_back();
        if (!it.value->is_structured()) continue;
        if (it.depth + 1 > limit) {
            if (it.top == SIZE_MAX) return std::string();
            std::size_t k = 0;
            for (auto m = v.begin(); m != v.end(); ++m, ++k)
                if (k == it.top) return v.is_object() ? std::string(m.key()) : "[" + std::to_string(k) + "]";
            return std::string();
        }
        for (auto m = it.value->begin(); m != it.value->end(); ++m)
            stack.push_back({&*m, it.depth + 1, it.top == SIZE_MAX ? top_count++ : it.top});
    }
    return std::nullopt;
}

/// The top-level member of `v` under which a string or a key is not UTF-8 ("" for `v` itself), or
/// nullopt. Iterative; call it on values already within max_nesting_depth.
template <class Json>
std::optional<std::string> invalid_utf8_at(const Json& v) {
    if (v.is_string()) return valid_utf8(v.template get_ref<const std::string&>()) ? std::nullopt : std::optional<std::string>("");
    if (!v.is_structured()) return std::nullopt;
    std::vector<const Json*> stack;
    std::size_t k = 0;
    for (auto m = v.begin(); m != v.end(); ++m, ++k) {
        // Every write checks its record: the member is named only when it fails.
        auto top = [&] { return v.is_object() ? std::string(m.key()) : "[" + std::to_string(k) + "]"; };
        if (v.is_object() && !valid_utf8(m.key())) return std::string("(a field name that is not UTF-8)");
        if (!m->is_structured()) {  // most members: no walk
            if (m->is_string() && !valid_utf8(m->template get_ref<const std::string&>())) return top();
            continue;
        }
        stack.assign(1, &*m);
        while (!stack.empty()) {
            const Json* x = stack.back();
            stack.pop_back();
            if (x->is_string()) {
                if (!valid_utf8(x->template get_ref<const std::string&>())) return top();
            } else if (x->is_object()) {
                for (auto c = x->begin(); c != x->end(); ++c) {
                    if (!valid_utf8(c.key())) return top();
                    stack.push_back(&*c);
                }
            } else if (x->is_array()) {
                for (auto& c : *x) stack.push_back(&c);
            }
        }
    }
    return std::nullopt;
}

/// Whether JSON text nests deeper than `limit`, from its brackets alone (strings skipped), so a
/// stored value is refused before it is parsed.
S3DB_DECL bool json_text_too_deep(std::string_view text, std::size_t limit = max_nesting_depth) noexcept;

}  // namespace s3db::detail

#if S3DB_DEFINE_BODIES

namespace s3db::detail {

S3DB_DECL std::size_t js_space_prefix(std::string_view s) noexcept {
    if (s.empty()) return 0;
    auto b = [&](std::size_t i) { return i < s.size() ? static_cast<unsigned char>(s[i]) : 0u; };
    unsigned c = b(0);
    if (c == ' ' || (c >= 0x09 && c <= 0x0D)) return 1;
    if (c == 0xC2 && b(1) == 0xA0) return 2;                              // U+00A0
    if (c == 0xE1 && b(1) == 0x9A && b(2) == 0x80) return 3;              // U+1680
    if (c == 0xE2 && b(1) == 0x80 && (b(2) <= 0x8A || b(2) == 0xA8 || b(2) == 0xA9 || b(2) == 0xAF))
        return b(2) >= 0x80 ? 3 : 0;                                      // U+2000-200A, 2028, 2029, 202F
    if (c == 0xE2 && b(1) == 0x81 && b(2) == 0x9F) return 3;              // U+205F
    if (c == 0xE3 && b(1) == 0x80 && b(2) == 0x80) return 3;              // U+3000
    if (c == 0xEF && b(1) == 0xBB && b(2) == 0xBF) return 3;              // U+FEFF
    return 0;
}

S3DB_DECL std::size_t js_space_suffix(std::string_view s) noexcept {
    for (std::size_t len : {std::size_t(1), std::size_t(2), std::size_t(3)})
        if (s.size() >= len && js_space_prefix(s.substr(s.size() - len)) == len) return len;
    return 0;
}

S3DB_DECL std::string_view js_trim(std::string_view s, bool left, bool right) noexcept {
    if (left)
        while (std::size_t n = js_space_prefix(s)) s.remove_prefix(n);
    if (right)
        while (std::size_t n = js_space_suffix(s)) s.remove_suffix(n);
    return s;
}

S3DB_DECL double js_string_to_number(std::string_view s) {
    s = js_trim(s, true, true);
    if (s.empty()) return 0;
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X' || s[1] == 'o' || s[1] == 'O' || s[1] == 'b' || s[1] == 'B')) {
        int base = (s[1] == 'x' || s[1] == 'X') ? 16 : (s[1] == 'o' || s[1] == 'O') ? 8 : 2;
        double v = 0;
        for (char c : s.substr(2)) {
            int d = hex_value(c);
            if (d < 0 || d >= base) return std::nan("");
            v = v * base + d;
        }
        return v;
    }
    std::string_view body = s;
    bool negative = false;
    if (body.front() == '+' || body.front() == '-') {
        negative = body.front() == '-';
        body.remove_prefix(1);
    }
    if (body == "Infinity") return negative ? -HUGE_VAL : HUGE_VAL;
    // JS accepts "5." and ".5"; from_chars wants a digit on at least one side, which those have.
    for (char c : body)
        if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')) return std::nan("");
    if (body.empty() || body.front() == '+' || body.front() == '-') return std::nan("");
    auto v = parse_double(body);
    if (!v) return std::nan("");
    return negative ? -*v : *v;
}

S3DB_DECL bool json_text_too_deep(std::string_view text, std::size_t limit) noexcept {
    std::size_t depth = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (in_string) {
            if (c == '\\') ++i;
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > limit) return true;
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return false;
}

}  // namespace s3db::detail

#endif  // S3DB_DEFINE_BODIES
