#pragma once
// One-way `password` fields, hashed the way s3db.js hashes them so either library verifies what the
// other stored: bcrypt (`$2b$`, what the npm `bcrypt` package writes) and argon2id (RFC 9106, PHC
// string, what the npm `argon2` package writes), then "compacted" as s3db.js stores them:
//
//   bcrypt    $2b$12$<22-char salt><31-char digest>         ->  $<b62 cost>$<salt><digest>
//   argon2id  $argon2id$v=19$m=65536,t=3,p=4$<salt>$<dig>    ->  $<b62 v>|<b62 log2 m>|<b62 t>|<b62 p>$<salt>$<dig>
//
// The hashes themselves are made in detail/bcrypt.hpp and detail/argon2.hpp; this header picks one,
// reads stored hashes in either form and converts between the forms.
//
// Plaintexts and peppers never appear in an error message.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "s3db/detail/argon2.hpp"
#include "s3db/detail/base62.hpp"
#include "s3db/detail/bcrypt.hpp"
#include "s3db/detail/config.hpp"
#include "s3db/detail/js_text.hpp"
#include "s3db/errors.hpp"

namespace s3db {

enum class PasswordAlgorithm : std::uint8_t { bcrypt, argon2id };

/// How new password hashes are made (s3db.js's `security.bcrypt`, `security.argon2`,
/// `security.pepper`). Verifying reads the costs from the stored hash; only the pepper matters.
struct PasswordOptions {
    PasswordAlgorithm algorithm = PasswordAlgorithm::bcrypt;
    /// log2 of bcrypt's cost. s3db.js hashes with 12 to 31 only; 4 to 11 are refused unless
    /// `allow_low_bcrypt_rounds` (meant for tests: every bcrypt verifies them, s3db.js included).
    int bcrypt_rounds = 12;
    bool allow_low_bcrypt_rounds = false;
    /// argon2id memory in KiB: a power of two (s3db.js stores its log2), at least 8 · parallelism.
    std::uint32_t argon2_memory_kib = 65536;
    std::uint32_t argon2_time = 3;
    std::uint32_t argon2_parallelism = 4;
    /// Appended to every plaintext before hashing and verifying (s3db.js's `security.pepper`).
    std::string pepper;
};

/// Throws PasswordError when `options` cannot make a hash (costs out of range, memory not a power of
/// two): a schema checks this when it is parsed, not at the first insert.
S3DB_DECL void check_password_options(const PasswordOptions& options);

/// A new full-form hash of `plaintext` (+ pepper): `$2b$…` or `$argon2id$…`, with a fresh random
/// salt. Throws PasswordError for an empty plaintext or options out of range.
S3DB_DECL std::string hash_password(std::string_view plaintext, const PasswordOptions& options = {});

/// s3db.js's compact form of a full-form hash; a compact hash is returned as is. PasswordError when
/// `hash` is neither (or is an argon2 hash that s3db.js cannot compact: not argon2id, or a memory
/// cost that is not a power of two).
S3DB_DECL std::string compact_password_hash(std::string_view hash);

/// The full form of a compact hash (a full-form hash is returned as is). PasswordError when `hash`
/// is not a well-formed password hash.
S3DB_DECL std::string expand_password_hash(std::string_view hash);

/// Whether `value` is a well-formed bcrypt or argon2 hash, full or compact. Stricter than s3db.js's
/// check (which takes any "$x$y" for a hash and keeps it): a plaintext of that shape is hashed here,
/// never stored as it is.
S3DB_DECL bool is_password_hash(std::string_view value) noexcept;

/// Whether `plaintext` (+ pepper) matches `stored` (compact or full; bcrypt $2a$/$2b$/$2y$, argon2id,
/// argon2i, argon2d, versions 0x10 and 0x13). False for a wrong password, an empty plaintext or a
/// tampered digest; PasswordError when `stored` is not a hash this library can check (never a
/// made-up answer). Constant-time comparison.
S3DB_DECL bool verify_password(std::string_view plaintext, std::string_view stored, std::string_view pepper = {});

}  // namespace s3db

#if S3DB_DEFINE_BODIES
#include <openssl/crypto.h>
#include "s3db/detail/random.hpp"

#include <charconv>
#include <cstring>
#include <system_error>
#include <vector>

namespace s3db {
namespace detail {
namespace pw {

/// A decimal number without sign or leading zeros (one "0" allowed), at most 10 digits.
inline std::optional<std::uint64_t> decimal(std::string_view s) {
    if (s.empty() || s.size() > 10 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
    std::uint64_t v = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
    return v;
}

/// A parsed hash: either form, both algorithms.
struct Parsed {
    bool argon = false;
    // bcrypt
    char minor = 'b';
    int cost = 0;
    std::string_view tail;  // 53 chars: salt and digest
    // argon2
    Argon2Type type = Argon2Type::id;
    std::uint32_t version = 0, memory = 0, time = 0, lanes = 0;
    std::string_view salt64, tag64;
};

/// Splits a hash in either form; nullopt (with `why`) when it is not one this library can read.
inline std::optional<Parsed> parse(std::string_view h, const char*& why) {
    Parsed out;
    why = "not a bcrypt or argon2 hash";
    if (h.size() < 2 || h[0] != '$') return std::nullopt;
    auto check_bcrypt_tail = [&](std::string_view tail) {
        if (tail.size() != 53) return (why = "bcrypt salt and digest must be 53 chars"), false;
        if (tail.find_first_not_of(bcrypt_alphabet) != std::string_view::npos)
            return (why = "bcrypt salt or digest holds a char outside its alphabet"), false;
        // the salt's last char carries 2 bits: other values never come out of a bcrypt
        if (std::strchr(".Oeu", tail[21]) == nullptr) return (why = "bcrypt salt is not canonical"), false;
        return true;
    };
    // both argon2 forms, once their numbers are read (each within 32 bits)
    auto take_argon = [&](std::uint64_t version, std::uint64_t memory, std::uint64_t time, std::uint64_t lanes,
                          std::string_view salt64, std::string_view tag64) -> std::optional<Parsed> {
        out.version = static_cast<std::uint32_t>(version);
        out.memory = static_cast<std::uint32_t>(memory);
        out.time = static_cast<std::uint32_t>(time);
        out.lanes = static_cast<std::uint32_t>(lanes);
        out.salt64 = salt64;
        out.tag64 = tag64;
        if (const char* p = argon2_params_problem(out.version, out.memory, out.time, out.lanes))
            return (why = p), std::nullopt;
        if (!phc_base64_canonical(salt64) || salt64.size() * 3 / 4 < 8)
            return (why = "argon2 salt is not unpadded base64 of at least 8 bytes"), std::nullopt;
        if (!phc_base64_canonical(tag64) || tag64.size() * 3 / 4 < 4)
            return (why = "argon2 digest is not unpadded base64 of at least 4 bytes"), std::nullopt;
        out.argon = true;
        return out;
    };
    auto parts = js_split(h.substr(1), '$');
    if (h.starts_with("$argon2")) {
        // $argon2id$v=19$m=..,t=..,p=..$salt$tag
        if (parts.size() != 5) return (why = "malformed argon2 hash"), std::nullopt;
        if (parts[0] == "argon2id") out.type = Argon2Type::id;
        else if (parts[0] == "argon2i") out.type = Argon2Type::i;
        else if (parts[0] == "argon2d") out.type = Argon2Type::d;
        else return (why = "unknown argon2 variant"), std::nullopt;
        if (!parts[1].starts_with("v=")) return (why = "malformed argon2 version"), std::nullopt;
        auto v = decimal(parts[1].substr(2));
        auto kv = js_split(parts[2], ',');
        if (!v || kv.size() != 3 || !kv[0].starts_with("m=") || !kv[1].starts_with("t=") || !kv[2].starts_with("p="))
            return (why = "malformed argon2 parameters (s3db-cpp reads v, m, t, p only)"), std::nullopt;
        auto m = decimal(kv[0].substr(2)), t = decimal(kv[1].substr(2)), p = decimal(kv[2].substr(2));
        if (!m || !t || !p || *v > 0xffffffffu || *m > 0xffffffffu || *t > 0xffffffffu || *p > 0xffffffffu)
            return (why = "malformed argon2 parameters"), std::nullopt;
        return take_argon(*v, *m, *t, *p, parts[3], parts[4]);
    }
    if (h.starts_with("$2")) {
        // $2b$12$<53>
        if (parts.size() != 3) return (why = "malformed bcrypt hash"), std::nullopt;
        if (parts[0] == "2a" || parts[0] == "2b" || parts[0] == "2y") out.minor = parts[0][1];
        else return (why = "unsupported bcrypt variant (s3db-cpp knows $2a$, $2b$, $2y$)"), std::nullopt;
        if (parts[1].size() != 2 || parts[1][0] < '0' || parts[1][0] > '9' || parts[1][1] < '0' || parts[1][1] > '9')
            return (why = "malformed bcrypt cost"), std::nullopt;
        out.cost = (parts[1][0] - '0') * 10 + (parts[1][1] - '0');
        if (out.cost < 4 || out.cost > 31) return (why = "bcrypt cost out of range (4 to 31)"), std::nullopt;
        if (!check_bcrypt_tail(parts[2])) return std::nullopt;
        out.tail = parts[2];
        return out;
    }
    // s3db.js's compact numbers: base62 of small non-negative integers, no sign, up to 6 digits
    auto b62 = [](std::string_view s) { return parse_digits(s, 62, 6); };
    if (h.find('|') != std::string_view::npos) {
        // compact argon2id: $v|log2 m|t|p$salt$tag
        if (parts.size() != 3) return (why = "malformed compact argon2 hash"), std::nullopt;
        auto params = js_split(parts[0], '|');
        if (params.size() != 4) return (why = "a compact argon2 hash has 4 parameters"), std::nullopt;
        auto v = b62(params[0]), lm = b62(params[1]), t = b62(params[2]), p = b62(params[3]);
        if (!v || !lm || !t || !p || *v > 0xffffffffu || *lm > 31 || *t > 0xffffffffu || *p > 0xffffffffu)
            return (why = "malformed compact argon2 parameters"), std::nullopt;
        out.type = Argon2Type::id;
        return take_argon(*v, std::uint64_t(1) << *lm, *t, *p, parts[1], parts[2]);
    }
    // compact bcrypt: $<b62 cost>$<53>
    if (parts.size() != 2) return (why = "malformed compact bcrypt hash"), std::nullopt;
    auto cost = b62(parts[0]);
    if (!cost) return (why = "malformed compact bcrypt cost"), std::nullopt;
    if (*cost < 4 || *cost > 31) return (why = "bcrypt cost out of range (4 to 31)"), std::nullopt;
    out.cost = static_cast<int>(*cost);
    if (!check_bcrypt_tail(parts[1])) return std::nullopt;
    out.tail = parts[1];
    return out;
}

/// The full form of a parsed hash.
inline std::string full_form(const Parsed& p) {
    if (!p.argon) return bcrypt_prefix(p.minor, p.cost) + std::string(p.tail);
    return argon2_phc_encoded(Argon2Params{p.type, p.version, p.memory, p.time, p.lanes, 0}, p.salt64, p.tag64);
}

}  // namespace pw
}  // namespace detail

// ---- the public functions ----

S3DB_DECL void check_password_options(const PasswordOptions& o) {
    if (o.algorithm == PasswordAlgorithm::argon2id) {
        const std::uint32_t m = o.argon2_memory_kib;
        if (m == 0 || (m & (m - 1)) != 0)
            throw PasswordError("argon2 memory cost must be a power of two (s3db.js stores its log2)");
        if (const char* why = detail::argon2_params_problem(0x13, m, o.argon2_time, o.argon2_parallelism))
            throw PasswordError(why);
        return;
    }
    if (o.bcrypt_rounds < 4 || o.bcrypt_rounds > 31) throw PasswordError("bcrypt rounds out of range (4 to 31)");
    if (o.bcrypt_rounds < 12 && !o.allow_low_bcrypt_rounds)
        throw PasswordError("bcrypt rounds below 12, which s3db.js refuses (set allow_low_bcrypt_rounds for tests)");
}

S3DB_DECL std::string hash_password(std::string_view plaintext, const PasswordOptions& o) {
    check_password_options(o);
    if (plaintext.empty()) throw PasswordError("a password must be a non-empty string");
    detail::pw::Wiped peppered{std::string(plaintext)};
    peppered.s += o.pepper;
    if (o.algorithm == PasswordAlgorithm::argon2id) {
        detail::Argon2Params p{detail::Argon2Type::id, 0x13, o.argon2_memory_kib, o.argon2_time, o.argon2_parallelism, 32};
        const std::string salt = detail::random_bytes(16);  // what the npm `argon2` package uses
        return detail::argon2_phc(p, salt, detail::argon2(p, peppered.s, salt));
    }
    unsigned char salt[detail::bcrypt_salt_bytes];
    detail::random_fill(salt, sizeof salt);
    return detail::bcrypt_hash(peppered.s, o.bcrypt_rounds, salt, 'b');
}

S3DB_DECL std::string compact_password_hash(std::string_view hash) {
    const char* why = nullptr;
    auto p = detail::pw::parse(hash, why);
    if (!p) throw PasswordError(std::string("cannot compact the password hash: ") + why);
    if (!hash.starts_with("$2") && !hash.starts_with("$argon2")) return std::string(hash);  // compact already
    using detail::b62_encode;  // s3db.js's base62 of the small integers
    if (!p->argon) return "$" + b62_encode(p->cost) + "$" + std::string(p->tail);
    if (p->type != detail::Argon2Type::id) throw PasswordError("s3db.js compacts argon2id hashes only");
    if ((p->memory & (p->memory - 1)) != 0) throw PasswordError("s3db.js compacts argon2 hashes whose memory is a power of two only");
    std::uint32_t log2m = 0;
    while ((1u << log2m) != p->memory) ++log2m;
    return "$" + b62_encode(p->version) + "|" + b62_encode(log2m) + "|" + b62_encode(p->time) + "|" +
           b62_encode(p->lanes) + "$" + std::string(p->salt64) + "$" + std::string(p->tag64);
}

S3DB_DECL std::string expand_password_hash(std::string_view hash) {
    const char* why = nullptr;
    auto p = detail::pw::parse(hash, why);
    if (!p) throw PasswordError(std::string("cannot expand the password hash: ") + why);
    if (hash.starts_with("$2") || hash.starts_with("$argon2")) return std::string(hash);
    return detail::pw::full_form(*p);
}

S3DB_DECL bool is_password_hash(std::string_view value) noexcept {
    const char* why = nullptr;
    try {
        return detail::pw::parse(value, why).has_value();
    } catch (...) {  // std::bad_alloc from the split: not a hash we could read anyway
        return false;
    }
}

S3DB_DECL bool verify_password(std::string_view plaintext, std::string_view stored, std::string_view pepper) {
    const char* why = nullptr;
    auto p = detail::pw::parse(stored, why);
    if (!p) throw PasswordError(std::string("cannot verify against the stored value: ") + why);
    if (plaintext.empty()) return false;  // s3db.js: never a match
    detail::pw::Wiped peppered{std::string(plaintext)};
    peppered.s += pepper;
    std::string expected, actual;
    if (!p->argon) {
        auto salt = detail::bcrypt_base64_decode(p->tail.substr(0, 22), detail::bcrypt_salt_bytes);
        if (!salt) throw PasswordError("cannot verify against the stored value: malformed bcrypt salt");
        unsigned char s[detail::bcrypt_salt_bytes];
        std::memcpy(s, salt->data(), sizeof s);
        expected = detail::pw::full_form(*p);
        actual = detail::bcrypt_hash(peppered.s, p->cost, s, p->minor);
    } else {
        auto salt = detail::phc_base64_decode(p->salt64);
        auto tag = detail::phc_base64_decode(p->tag64);
        if (!salt || !tag || salt->size() < 8 || tag->size() < 4 || tag->size() > 1024)
            throw PasswordError("cannot verify against the stored value: malformed argon2 salt or digest");
        detail::Argon2Params prm{p->type, p->version, p->memory, p->time, p->lanes, static_cast<std::uint32_t>(tag->size())};
        expected = std::move(*tag);
        actual = detail::argon2(prm, peppered.s, *salt);
    }
    return expected.size() == actual.size() && CRYPTO_memcmp(expected.data(), actual.data(), expected.size()) == 0;
}

}  // namespace s3db
#endif  // S3DB_DEFINE_BODIES
