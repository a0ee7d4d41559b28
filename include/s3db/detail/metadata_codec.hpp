#pragma once
// How metadata values travel: HTTP headers carry printable ASCII only, so values are encoded the
// way s3db.js encodes them (`u:` percent-encoding, `b:` base64) and decoded on the way back,
// including s3db.js's `d:` dictionary, so buckets written by either library read the same.

#include <array>
#include <string>
#include <string_view>
#include <utility>

#include "s3db/detail/config.hpp"
#include "s3db/detail/encoding.hpp"

namespace s3db::detail {

inline bool printable_ascii(std::string_view s) noexcept {
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u > 0x7e) return false;
    }
    return true;
}

inline bool has_codec_prefix(std::string_view v) noexcept {
    // Called on every value written: two byte tests, not four string comparisons.
    return v.size() >= 2 && v[1] == ':' && (v[0] == 'd' || v[0] == 'u' || v[0] == 'b' || v[0] == 'z');
}

/// Encodes one metadata value for the wire. Mirrors s3db.js's choice between `u:` and `b:`, which
/// counts UTF-16 code units: over 30 % non-ASCII-non-Latin-1 units (or over 50 % Latin-1) → base64.
S3DB_DECL std::string encode_metadata_value(std::string_view v);

/// Bytes `v` occupies on the wire once encoded (what S3's 2 KB limit counts).
inline std::size_t encoded_metadata_size(std::string_view v) {
    if (!has_codec_prefix(v) && printable_ascii(v)) return v.size();
    return encode_metadata_value(v).size();
}

namespace dictionary {
// s3db.js's `d:` tables (dictionary-encoding): one-letter codes for whole values, `@x` codes for
// URL prefixes. Status words win over content types on the shared letter 'f', as in s3db.js.
inline constexpr std::pair<char, std::string_view> whole[] = {
    {'p', "processing"}, {'c', "completed"}, {'s', "succeeded"}, {'f', "failed"}, {'x', "cancelled"},
    {'t', "timeout"}, {'r', "retrying"}, {'a', "authorized"}, {'K', "captured"}, {'R', "refunded"},
    {'d', "declined"}, {'h', "shipped"}, {'D', "delivered"}, {'e', "returned"}, {'i', "in_transit"},
    {'n', "initialized"}, {'m', "terminated"},
    {'j', "application/json"}, {'X', "application/xml"}, {'J', "application/ld+json"},
    {'H', "text/html"}, {'T', "text/plain"}, {'C', "text/css"}, {'V', "text/javascript"},
    {'v', "text/csv"}, {'P', "image/png"}, {'I', "image/jpeg"}, {'G', "image/gif"},
    {'S', "image/svg+xml"}, {'W', "image/webp"}, {'Q', "application/pdf"}, {'z', "application/zip"},
    {'o', "application/octet-stream"}, {'u', "application/x-www-form-urlencoded"},
    {'F', "multipart/form-data"}, {'w', "font/woff"},
};
inline constexpr std::pair<char, std::string_view> prefixes[] = {
    {'1', "/api/v1/"}, {'2', "/api/v2/"}, {'3', "/api/v3/"}, {'a', "/api/"},
    {'A', "https://api.example.com/"}, {'H', "https://api."}, {'W', "https://www."},
    {'h', "https://"}, {'t', "http://"}, {'s', "https://s3.amazonaws.com/"}, {'S', "https://s3-"},
    {'L', "http://localhost:"}, {'l', "http://localhost"}, {'v', "/v1/"}, {'u', "/users/"},
    {'p', "/products/"},
};
}  // namespace dictionary

/// Decodes a value read from the wire. Anything that is not a well-formed encoding is returned as it
/// came (s3db.js does the same); `z:` compressed values are not decoded.
S3DB_DECL std::string decode_metadata_value(std::string_view v);

}  // namespace s3db::detail

#if S3DB_DEFINE_BODIES
namespace s3db::detail {

S3DB_DECL std::string encode_metadata_value(std::string_view v) {
    if (has_codec_prefix(v)) return "b:" + base64_encode(v);  // keep the reader from misreading it
    if (printable_ascii(v)) return std::string(v);
    std::size_t units = 0, latin1 = 0, multibyte = 0;
    for (std::size_t i = 0; i < v.size();) {
        auto c = static_cast<unsigned char>(v[i]);
        std::uint32_t cp;
        std::size_t len;
        if (c < 0x80) { cp = c; len = 1; }
        else if ((c >> 5) == 6) { cp = c & 0x1f; len = 2; }
        else if ((c >> 4) == 14) { cp = c & 0x0f; len = 3; }
        else if ((c >> 3) == 30) { cp = c & 0x07; len = 4; }
        else { cp = 0xfffd; len = 1; }  // stray byte: counted as one multibyte unit
        for (std::size_t k = 1; k < len && i + k < v.size(); ++k)
            cp = (cp << 6) | (static_cast<unsigned char>(v[i + k]) & 0x3f);
        i += len;
        std::size_t n = cp > 0xffff ? 2 : 1;  // surrogate pair
        units += n;
        if (cp >= 0x20 && cp <= 0x7e) continue;
        if (cp >= 0x80 && cp <= 0xff) latin1 += n;
        else multibyte += n;
    }
    bool base64 = multibyte ? multibyte * 10 > units * 3 : latin1 * 2 > units;
    if (base64) return "b:" + base64_encode(v);
    return "u:" + uri_encode(v, UriSet::component);
}

S3DB_DECL std::string decode_metadata_value(std::string_view v) {
    if (v.size() <= 2 || v[1] != ':') return std::string(v);
    std::string_view payload = v.substr(2);
    switch (v[0]) {
        case 'd':
            if (payload.size() == 1)
                for (auto& [code, word] : dictionary::whole)
                    if (code == payload[0]) return std::string(word);
            if (payload.size() >= 2 && payload[0] == '@')
                for (auto& [code, prefix] : dictionary::prefixes)
                    if (code == payload[1]) return std::string(prefix).append(payload.substr(2));
            return std::string(v);
        case 'u':
            if (auto d = uri_decode(payload)) return *d;
            return std::string(v);
        case 'b':
            if (auto d = base64_decode(payload)) return *d;
            return std::string(v);
        default:
            return std::string(v);
    }
}

}  // namespace s3db::detail
#endif  // S3DB_DEFINE_BODIES
