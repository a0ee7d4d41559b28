#pragma once
// Values as JavaScript and fastest-validator see them: string length in UTF-16 units, object keys in
// JavaScript's order, the formats fastest-validator and s3db.js check (IPv4, IPv6, uuid, e-mail), and
// a value rendered for an error report. The schema's parser and validator, the codec and the
// partitions share them.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "s3db/detail/config.hpp"

namespace s3db::detail {

/// JavaScript `String.prototype.length`: UTF-16 code units of UTF-8 text.
S3DB_DECL std::size_t utf16_length(std::string_view s) noexcept;

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

}  // namespace s3db::detail

#if S3DB_DEFINE_BODIES

#include "s3db/detail/encoding.hpp"
#include "s3db/detail/js_text.hpp"

namespace s3db::detail {

S3DB_DECL std::size_t utf16_length(std::string_view s) noexcept {
    std::size_t n = 0;
    for (unsigned char c : s) {
        if ((c & 0xC0) == 0x80) continue;
        n += c >= 0xF0 ? 2 : 1;
    }
    return n;
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

}  // namespace s3db::detail

#endif  // S3DB_DEFINE_BODIES
