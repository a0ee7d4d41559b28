#pragma once
// Text encodings used on the wire: hex, base64, percent-encoding (RFC 3986 for SigV4, and the
// `encodeURIComponent` set that s3db.js uses for metadata values), and UTF-8 decoding: the one
// decoder that ids, keys, partitions and record text are checked with.

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "s3db/detail/config.hpp"

namespace s3db::detail {

/// The first byte in [p, end) equal to `a` or `b`, or `end`: 16 bytes a step where SSE2 is there
/// (every x86-64). Decoders look for their escapes with it (XML's '<' and '&', URLs' '%' and '+').
/// `floor` (<= p), when given, says that the bytes from there on may be read too, so that a short
/// tail is read in one step as well.
inline const char* find_either(const char* p, const char* end, char a, char b, const char* floor = nullptr) noexcept {
#if defined(__SSE2__)
    const __m128i va = _mm_set1_epi8(a), vb = _mm_set1_epi8(b);
    auto hits = [&](const char* at) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
        return static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, va), _mm_cmpeq_epi8(v, vb))));
    };
    for (; end - p >= 16; p += 16)
        if (unsigned h = hits(p)) return p + std::countr_zero(h);
    if (p != end && floor && end - floor >= 16) {
        // The last 16 bytes, overlapping some before `p`.
        const unsigned h = hits(end - 16) >> (p - (end - 16));
        return h ? p + std::countr_zero(h) : end;
    }
#else
    (void)floor;
#endif
    for (; p != end; ++p)
        if (*p == a || *p == b) return p;
    return end;
}

inline constexpr char hex_digits[] = "0123456789abcdef";

inline std::string to_hex(std::string_view bytes) {
    std::string out(bytes.size() * 2, '\0');
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        auto b = static_cast<unsigned char>(bytes[i]);
        out[2 * i] = hex_digits[b >> 4];
        out[2 * i + 1] = hex_digits[b & 15];
    }
    return out;
}

/// `v` as 16 lowercase hex digits, most significant first.
inline std::string hex_u64(std::uint64_t v) {
    std::string s(16, '0');
    for (std::size_t i = 16; i-- > 0; v >>= 4) s[i] = hex_digits[v & 15];
    return s;
}

inline int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

inline std::optional<std::string> from_hex(std::string_view hex) {
    if (hex.size() % 2) return std::nullopt;
    std::string out(hex.size() / 2, '\0');
    for (std::size_t i = 0; i < out.size(); ++i) {
        int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out[i] = static_cast<char>(hi * 16 + lo);
    }
    return out;
}

inline constexpr char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

inline std::string base64_encode(std::string_view in) {
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        std::uint32_t v = (std::uint32_t(std::uint8_t(in[i])) << 16) |
                          (std::uint32_t(std::uint8_t(in[i + 1])) << 8) | std::uint8_t(in[i + 2]);
        out += base64_alphabet[v >> 18];
        out += base64_alphabet[(v >> 12) & 63];
        out += base64_alphabet[(v >> 6) & 63];
        out += base64_alphabet[v & 63];
    }
    if (std::size_t rest = in.size() - i) {
        std::uint32_t v = std::uint32_t(std::uint8_t(in[i])) << 16;
        if (rest == 2) v |= std::uint32_t(std::uint8_t(in[i + 1])) << 8;
        out += base64_alphabet[v >> 18];
        out += base64_alphabet[(v >> 12) & 63];
        out += rest == 2 ? base64_alphabet[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

/// base64url without padding (RFC 4648 §5), as JWTs use it.
inline std::string base64url_encode(std::string_view in) {
    std::string out = base64_encode(in);
    while (!out.empty() && out.back() == '=') out.pop_back();
    for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
    return out;
}

/// Decodes standard or URL-safe base64, padded or not; nullopt on any other character.
inline std::optional<std::string> base64_decode(std::string_view in) {
    static constexpr auto table = [] {
        std::array<signed char, 256> t{};
        t.fill(-1);
        for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(base64_alphabet[i])] = static_cast<signed char>(i);
        t['-'] = 62;
        t['_'] = 63;
        return t;
    }();
    while (!in.empty() && in.back() == '=') in.remove_suffix(1);
    if (in.size() % 4 == 1) return std::nullopt;
    std::string out;
    out.reserve(in.size() * 3 / 4);
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : in) {
        int v = table[static_cast<unsigned char>(c)];
        if (v < 0) return std::nullopt;
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xff);
        }
    }
    return out;
}

/// Which bytes percent-encoding leaves alone.
enum class UriSet {
    unreserved,       // RFC 3986 unreserved: A-Z a-z 0-9 - . _ ~ (SigV4 query strings and paths)
    unreserved_path,  // the same, and '/' kept (SigV4 S3 object paths)
    component,        // JavaScript encodeURIComponent: also ! ' ( ) *
};

inline bool uri_keeps(unsigned char c, UriSet set) noexcept {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
    switch (c) {
        case '-': case '.': case '_': case '~': return true;
        case '/': return set == UriSet::unreserved_path;
        case '!': case '\'': case '(': case ')': case '*': return set == UriSet::component;
        default: return false;
    }
}

inline std::string uri_encode(std::string_view in, UriSet set = UriSet::unreserved) {
    std::string out;
    out.reserve(in.size());
    for (char ch : in) {
        auto c = static_cast<unsigned char>(ch);
        if (uri_keeps(c, set)) {
            out += ch;
        } else {
            out += '%';
            out += "0123456789ABCDEF"[c >> 4];
            out += "0123456789ABCDEF"[c & 15];
        }
    }
    return out;
}

/// Appends the decoding of `in` to `out`; false (and `out` as it was) at a malformed escape. With
/// `plus_is_space` a '+' is a space (form encoding, which S3's `encoding-type=url` listings use).
inline bool uri_decode_append(std::string_view in, std::string& out, bool plus_is_space = false) {
    if (in.empty()) return true;
    const std::size_t at = out.size();
    out.reserve(at + in.size());  // an escape is longer than the byte it stands for
    // Runs between escapes are copied in one go: a listing decodes every key it returns.
    for (const char *p = in.data(), *end = p + in.size();;) {
        const char* esc = find_either(p, end, '%', plus_is_space ? '+' : '%', in.data());
        out.append(p, static_cast<std::size_t>(esc - p));
        if (esc == end) return true;
        if (*esc == '+') {
            out += ' ';
            p = esc + 1;
            continue;
        }
        int hi = end - esc < 3 ? -1 : hex_value(esc[1]), lo = hi < 0 ? -1 : hex_value(esc[2]);
        if (lo < 0) {
            out.resize(at);
            return false;
        }
        out += static_cast<char>(hi * 16 + lo);
        p = esc + 3;
    }
}

/// Decodes %XX escapes ('+' stays '+'); nullopt on a malformed escape.
inline std::optional<std::string> uri_decode(std::string_view in) {
    std::string out;
    if (!uri_decode_append(in, out)) return std::nullopt;
    return out;
}

// ---- UTF-8 ----

/// Length of the well-formed UTF-8 sequence starting at `s[i]` (1-4), or 0 if none starts there
/// (stray continuation byte, overlong form, surrogate, past U+10FFFF, truncated). `cp` receives the
/// code point.
S3DB_DECL std::size_t utf8_sequence(std::string_view s, std::size_t i, char32_t* cp = nullptr) noexcept;

/// Whether `s` is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF): JSON
/// text and S3 metadata carry Unicode, and nlohmann's dump throws on anything else.
S3DB_DECL bool valid_utf8(std::string_view s) noexcept;

/// Error text from a server, made safe to show: printable ASCII, bounded.
S3DB_DECL std::string printable_message(std::string_view m);

}  // namespace s3db::detail

#if S3DB_DEFINE_BODIES

namespace s3db::detail {

S3DB_DECL std::size_t utf8_sequence(std::string_view s, std::size_t i, char32_t* cp) noexcept {
    auto b = [&](std::size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u; };
    const unsigned c = b(0);
    auto cont = [&](std::size_t k) { return (b(k) & 0xC0) == 0x80; };
    std::size_t n;
    char32_t v;
    if (c < 0x80) {
        n = 1;
        v = c;
    } else if (c >= 0xC2 && c <= 0xDF) {
        if (!cont(1)) return 0;
        n = 2;
        v = (c & 0x1F) << 6 | (b(1) & 0x3F);
    } else if (c >= 0xE0 && c <= 0xEF) {
        if (!cont(1) || !cont(2)) return 0;
        n = 3;
        v = (c & 0x0F) << 12 | (b(1) & 0x3F) << 6 | (b(2) & 0x3F);
        if (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    } else if (c >= 0xF0 && c <= 0xF4) {
        if (!cont(1) || !cont(2) || !cont(3)) return 0;
        n = 4;
        v = (c & 0x07) << 18 | (b(1) & 0x3F) << 12 | (b(2) & 0x3F) << 6 | (b(3) & 0x3F);
        if (v < 0x10000 || v > 0x10FFFF) return 0;
    } else {
        return 0;
    }
    if (i + n > s.size()) return 0;
    if (cp) *cp = v;
    return n;
}

S3DB_DECL bool valid_utf8(std::string_view s) noexcept {
    std::size_t i = 0;
    const std::size_t n = s.size();
    while (i < n) {
        // Eight ASCII bytes at a time: most text is ASCII.
        while (i + 8 <= n) {
            std::uint64_t w;
            std::memcpy(&w, s.data() + i, 8);
            if (w & 0x8080808080808080ULL) break;
            i += 8;
        }
        if (i >= n) break;
        if (static_cast<unsigned char>(s[i]) < 0x80) {
            ++i;
            continue;
        }
        const std::size_t len = utf8_sequence(s, i);
        if (len == 0) return false;
        i += len;
    }
    return true;
}

S3DB_DECL std::string printable_message(std::string_view m) {
    std::string out;
    for (char c : m.substr(0, 300)) {
        auto u = static_cast<unsigned char>(c);
        out += (u < 0x20 || u >= 0x7f) ? ' ' : c;
    }
    return out;
}

}  // namespace s3db::detail

#endif  // S3DB_DEFINE_BODIES
