#pragma once
// Record ids: the default generator (what s3db.js 21.x produces for `idSize: 22`) and the check every
// id passes before it becomes part of a key.
//
// s3db.js draws ids from a 64-character URL-safe alphabet (nanoid's "useandom…" ordering) with
// `bytes[i] & 63`, so every character is equally likely. We draw from OpenSSL's CSPRNG with the same
// mask and reject masked values past the alphabet's end, which keeps custom alphabets (any size up
// to 256) unbiased too; for the 64-character default nothing is ever rejected.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "s3db/errors.hpp"
#include "s3db/detail/config.hpp"
#include "s3db/detail/encoding.hpp"
#include "s3db/detail/random.hpp"
#include "s3db/transport/transport.hpp"

namespace s3db {

/// The alphabet of s3db.js's default ids (64 characters: A-Z a-z 0-9 '_' '-').
inline constexpr std::string_view url_alphabet = "useandom-26T198340PX75pxJACKVERYMINDBUSHWOLF_GQZbfghjklqvwyzrict";

/// s3db.js's default `idSize`: 22 characters, 132 random bits.
inline constexpr std::size_t default_id_size = 22;

/// A custom id source: called once per insert that has no id. It must be safe to call from several
/// threads at once if the resource is used that way. Its ids still pass `validate_id`.
using IdGenerator = std::function<std::string()>;

namespace detail {

/// Characters S3 stores in a key but that break it in practice: C0 controls and DEL (XML 1.0 listings
/// cannot carry most of them, and parsers turn CR into LF), and U+FFFE/U+FFFF (not XML characters).
inline bool key_hostile(char32_t cp) noexcept { return cp < 0x20 || cp == 0x7F || cp == 0xFFFE || cp == 0xFFFF; }

/// "U+001F": how messages name a character they cannot show.
S3DB_DECL std::string code_point_name(char32_t cp);

/// An alphabet is usable when it has 1-256 distinct bytes, each one `validate_id` accepts (so every
/// generated id is a valid id), and no byte of a multi-byte character (ids are drawn bytewise).
S3DB_DECL void check_alphabet(std::string_view alphabet);

}  // namespace detail

/// `size` characters, each drawn uniformly from `alphabet` with a CSPRNG. Throws ConfigError for an
/// alphabet `check_alphabet` refuses.
S3DB_DECL std::string random_id(std::size_t size = default_id_size, std::string_view alphabet = url_alphabet);

/// A generator of `id_size`-character ids over `alphabet` (s3db.js's `idSize` option; its default
/// resources use 22 and the URL alphabet). The alphabet is checked here, once.
S3DB_DECL IdGenerator make_id_generator(std::size_t id_size = default_id_size,
                                        std::string alphabet = std::string(url_alphabet));

/// The key a record is stored under: `resource=<name>/data/id=<id>`.
S3DB_DECL std::string record_key(std::string_view resource, std::string_view id);

namespace detail {
/// Why `s` cannot stand between two '/' of a key (nullopt when it can): it is empty, "." or ".."
/// (path tools and the filesystem store take those for directories), not valid UTF-8, or holds one
/// of the ASCII characters `refused` (named with `why`) or a character S3 listings cannot carry.
S3DB_DECL std::optional<std::string> key_segment_flaw(std::string_view s, std::string_view noun,
                                                      std::string_view refused, std::string_view why);
}  // namespace detail

/// Throws InvalidId (naming resource, id and reason) unless `id` can be a record id:
/// - not empty, not "." or "..";
/// - none of '/', '\', '=', '%' — s3db.js refuses them in ids (its `validateS3KeySegment`), and '/'
///   would move the record to another key level;
/// - valid UTF-8 without control characters, DEL, U+FFFE or U+FFFF, which S3 listings cannot carry;
/// - short enough that `record_key(resource, id)` fits S3's 1024-byte key limit.
S3DB_DECL void validate_id(std::string_view resource, std::string_view id);

/// Throws ConfigError unless resource `resource` can have ids of `id_size` characters (its idSize):
/// at least 1, and short enough that `record_key(resource, id)` fits S3's 1024-byte key limit.
S3DB_DECL void validate_id_size(std::string_view resource, long long id_size);

/// Throws ConfigError unless `name` can name a new resource: one key segment (`resource=<name>/`),
/// so no '/', which would put one resource's keys inside another's (and its remove_all would delete
/// both), the same rules of UTF-8 and listable characters as ids, and short enough that a record
/// key with an id of `id_size` characters fits S3's 1024-byte limit (else every insert would fail).
S3DB_DECL void validate_resource_name(std::string_view name, std::size_t id_size = default_id_size);

#if S3DB_DEFINE_BODIES
S3DB_DECL std::string detail::code_point_name(char32_t cp) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out = "U+";
    for (int shift = cp > 0xFFFF ? 20 : 12; shift >= 0; shift -= 4) out += hex[(cp >> shift) & 15];
    return out;
}

S3DB_DECL void detail::check_alphabet(std::string_view alphabet) {
    if (alphabet.empty() || alphabet.size() > 256)
        throw ConfigError("id alphabet must have 1 to 256 characters, not " + std::to_string(alphabet.size()));
    std::array<bool, 256> seen{};
    for (char ch : alphabet) {
        auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c >= 0x7F || ch == '/' || ch == '\\' || ch == '=' || ch == '%')
            throw ConfigError("id alphabet may only hold printable ASCII other than / \\ = %; it has byte " +
                              std::to_string(c));
        // A repeated character would be drawn twice as often as the others.
        if (seen[c]) throw ConfigError(std::string("id alphabet repeats '") + ch + "'");
        seen[c] = true;
    }
}

S3DB_DECL std::string random_id(std::size_t size, std::string_view alphabet) {
    detail::check_alphabet(alphabet);
    std::string id;
    id.reserve(size);
    const std::size_t n = alphabet.size();
    // The smallest all-ones mask covering n-1: masked values are uniform over [0, mask], and the ones
    // >= n are thrown away (rejection), so no character is favoured.
    unsigned mask = 0;
    while (mask < n - 1) mask = mask << 1 | 1;
    // Enough bytes for the whole id in one draw on average, with margin for rejected ones.
    const std::size_t step = (size * (mask + 1) * 5) / (n * 4) + 1;
    std::string buffer(step, '\0');
    auto* bytes = reinterpret_cast<unsigned char*>(buffer.data());
    while (id.size() < size) {
        detail::random_fill(bytes, step);
        for (std::size_t i = 0; i < step && id.size() < size; ++i) {
            const unsigned v = bytes[i] & mask;
            if (v < n) id += alphabet[v];
        }
    }
    return id;
}

S3DB_DECL IdGenerator make_id_generator(std::size_t id_size, std::string alphabet) {
    // A negative idSize from a definition arrives here as a huge size_t: refuse it now, not at the
    // first insert (std::length_error).
    if (id_size == 0 || id_size > max_key_bytes)
        throw ConfigError("idSize must be from 1 to " + std::to_string(max_key_bytes) + ", not " +
                          (id_size > (std::size_t(1) << 62) ? "negative" : std::to_string(id_size)));
    detail::check_alphabet(alphabet);
    return [id_size, alphabet = std::move(alphabet)] { return random_id(id_size, alphabet); };
}

S3DB_DECL std::string record_key(std::string_view resource, std::string_view id) {
    std::string key;
    key.reserve(resource.size() + id.size() + 18);
    key.append("resource=").append(resource).append("/data/id=").append(id);
    return key;
}

S3DB_DECL std::optional<std::string> detail::key_segment_flaw(std::string_view s, std::string_view noun,
                                                              std::string_view refused, std::string_view why) {
    if (s.empty()) return "it is empty";
    if (s == "." || s == "..") return "'.' and '..' are not allowed as " + std::string(noun);
    for (std::size_t i = 0; i < s.size();) {
        char32_t cp = 0;
        const std::size_t n = utf8_sequence(s, i, &cp);
        if (n == 0) return "it is not valid UTF-8 (byte " + std::to_string(i) + ")";
        if (cp < 0x80 && refused.find(static_cast<char>(cp)) != std::string_view::npos)
            return std::string("it contains '") + static_cast<char>(cp) + "', " + std::string(why);
        if (key_hostile(cp)) return "it contains " + code_point_name(cp) + ", which S3 listings cannot carry";
        i += n;
    }
    return std::nullopt;
}

S3DB_DECL void validate_id(std::string_view resource, std::string_view id) {
    if (auto flaw = detail::key_segment_flaw(id, "ids", "/\\=%", "which s3db.js does not allow in ids"))
        throw InvalidId(std::string(resource), std::string(id), *flaw);
    const std::size_t key_bytes = resource.size() + id.size() + 18;  // "resource=" "/data/id="
    if (key_bytes > max_key_bytes)
        throw InvalidId(std::string(resource), std::string(id),
                        "its record key would be " + std::to_string(key_bytes) + " bytes, over S3's limit of " +
                            std::to_string(max_key_bytes));
}

S3DB_DECL void validate_id_size(std::string_view resource, long long id_size) {
    const long long room = static_cast<long long>(max_key_bytes) - 18 - static_cast<long long>(resource.size());
    if (id_size < 1 || id_size > std::max(room, 1LL))
        throw ConfigError("resource '" + InvalidKey::printable(std::string(resource)) + "': idSize " +
                          std::to_string(id_size) + " is out of range: ids need 1 to " +
                          std::to_string(std::max(room, 1LL)) + " characters for the record key to fit S3's limit of " +
                          std::to_string(max_key_bytes) + " bytes");
}

S3DB_DECL void validate_resource_name(std::string_view name, std::size_t id_size) {
    if (auto flaw = detail::key_segment_flaw(name, "resource names", "/", "which would split the keys of its records"))
        throw ConfigError("resource name '" + InvalidKey::printable(std::string(name)) + "' cannot be used: " + *flaw);
    const std::size_t key_bytes = name.size() + id_size + 18;  // "resource=" "/data/id="
    if (key_bytes > max_key_bytes)
        throw ConfigError("resource name '" + InvalidKey::printable(std::string(name)) + "' cannot be used: it is " +
                          std::to_string(name.size()) + " bytes, so the key of a record with a " +
                          std::to_string(id_size) + "-character id would be " + std::to_string(key_bytes) +
                          " bytes, over S3's limit of " + std::to_string(max_key_bytes));
}
#endif  // S3DB_DEFINE_BODIES

}  // namespace s3db
