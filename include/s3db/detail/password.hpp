#pragma once
// One-way `password` fields, hashed the way s3db.js hashes them so either library verifies what the
// other stored: bcrypt (`$2b$`, what the npm `bcrypt` package writes) and argon2id (RFC 9106, PHC
// string, what the npm `argon2` package writes), then "compacted" as s3db.js stores them:
//
//   bcrypt    $2b$12$<22-char salt><31-char digest>         ->  $<b62 cost>$<salt><digest>
//   argon2id  $argon2id$v=19$m=65536,t=3,p=4$<salt>$<dig>    ->  $<b62 v>|<b62 log2 m>|<b62 t>|<b62 p>$<salt>$<dig>
//
// OpenSSL 3.0 has neither argon2 nor a usable Blowfish (legacy provider only) nor a variable-length
// BLAKE2b, so EksBlowfish, BLAKE2b and argon2 are implemented here. Blowfish's initial state, the
// fractional hexadecimal digits of pi, is computed on first use rather than pasted as a table.
//
// Plaintexts and peppers never appear in an error message.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "s3db/detail/config.hpp"
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

namespace detail {

// ---- bcrypt ----

inline constexpr std::size_t bcrypt_salt_bytes = 16;
inline constexpr std::size_t bcrypt_digest_bytes = 23;  // of the 24 bytes of ciphertext, as every bcrypt

/// Blowfish's initial subkeys and S-boxes: the fractional hexadecimal digits of pi, computed once.
struct BlowfishState {
    std::uint32_t p[18];
    std::uint32_t s[4][256];
};
S3DB_DECL const BlowfishState& blowfish_initial_state();

/// The bcrypt hash `$2<minor>$<cost>$<salt><digest>` (minor 'a', 'b' or 'y', computed alike).
S3DB_DECL std::string bcrypt_hash(std::string_view password, int cost, const unsigned char (&salt)[bcrypt_salt_bytes],
                                  char minor = 'b');

/// bcrypt's base64 (alphabet ./A-Za-z0-9, no padding).
S3DB_DECL std::string bcrypt_base64_encode(const unsigned char* data, std::size_t n);
/// Decodes exactly `n` bytes from the first chars of `s`; nullopt on a char outside the alphabet or
/// too short an input.
S3DB_DECL std::optional<std::string> bcrypt_base64_decode(std::string_view s, std::size_t n);

// ---- BLAKE2b (RFC 7693) ----

class Blake2b {
public:
    /// `out_len` 1..64 bytes; `key` up to 64 bytes.
    S3DB_DECL explicit Blake2b(std::size_t out_len, std::string_view key = {});
    S3DB_DECL void update(const void* data, std::size_t n);
    void update(std::string_view s) { update(s.data(), s.size()); }
    /// Writes out_len bytes.
    S3DB_DECL void final(unsigned char* out);

private:
    S3DB_DECL void compress(const unsigned char* block, bool last);
    std::uint64_t h_[8];
    std::uint64_t t_[2] = {0, 0};
    unsigned char buf_[128];
    std::size_t fill_ = 0;
    std::size_t out_len_;
};

/// BLAKE2b of `data` with an `out_len`-byte digest (1..64).
S3DB_DECL std::string blake2b(std::string_view data, std::size_t out_len = 64, std::string_view key = {});

// ---- argon2 (RFC 9106) ----

enum class Argon2Type : std::uint32_t { d = 0, i = 1, id = 2 };

struct Argon2Params {
    Argon2Type type = Argon2Type::id;
    std::uint32_t version = 0x13;
    std::uint32_t memory_kib = 65536;
    std::uint32_t time = 3;
    std::uint32_t parallelism = 4;
    std::uint32_t tag_bytes = 32;
};

/// The argon2 tag of `password` and `salt`, with the optional `secret` (K) and `associated` data
/// (X) of RFC 9106. Lanes are computed one after another. PasswordError on parameters out of range.
S3DB_DECL std::string argon2(const Argon2Params& params, std::string_view password, std::string_view salt,
                             std::string_view secret = {}, std::string_view associated = {});

/// PHC string `$argon2id$v=19$m=…,t=…,p=…$<salt>$<tag>` (unpadded standard base64).
S3DB_DECL std::string argon2_phc(const Argon2Params& params, std::string_view salt, std::string_view tag);

/// Unpadded standard base64, as PHC strings use it.
S3DB_DECL std::string phc_base64_encode(std::string_view bytes);
S3DB_DECL std::optional<std::string> phc_base64_decode(std::string_view s);

}  // namespace detail
}  // namespace s3db

#if S3DB_DEFINE_BODIES
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <memory>
#include <vector>

namespace s3db {
namespace detail {

// ---- small helpers ----

namespace pw {

inline constexpr char b62_digits[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

inline std::string b62(std::uint64_t n) {
    if (n == 0) return "0";
    std::string s;
    while (n) {
        s.insert(s.begin(), b62_digits[n % 62]);
        n /= 62;
    }
    return s;
}

/// s3db.js's base62 decode of a small non-negative number; nullopt for anything else.
inline std::optional<std::uint64_t> unb62(std::string_view s) {
    if (s.empty() || s.size() > 6) return std::nullopt;
    std::uint64_t n = 0;
    for (char c : s) {
        const char* p = std::strchr(b62_digits, c);
        if (!c || !p) return std::nullopt;
        n = n * 62 + static_cast<std::uint64_t>(p - b62_digits);
    }
    return n;
}

/// A decimal number without sign or leading zeros (one "0" allowed), at most 10 digits.
inline std::optional<std::uint64_t> decimal(std::string_view s) {
    if (s.empty() || s.size() > 10 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
    std::uint64_t v = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
    return v;
}

inline std::string random_salt(std::size_t n) {
    std::string s(n, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(s.data()), static_cast<int>(n)) != 1)
        throw CryptoError("RAND_bytes failed to produce a salt");
    return s;
}

inline void store32(unsigned char* p, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
inline void store64(unsigned char* p, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
inline std::uint64_t load64(const unsigned char* p) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}
inline std::uint64_t rotr64(std::uint64_t x, int n) { return (x >> n) | (x << (64 - n)); }

/// Wipes a string holding key material when it goes out of scope.
struct Wiped {
    std::string s;
    ~Wiped() { OPENSSL_cleanse(s.data(), s.size()); }
};

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

inline bool bcrypt_char(char c) {
    return c == '.' || c == '/' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
inline bool b64_char(char c) {
    return c == '+' || c == '/' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

inline constexpr std::uint32_t max_argon2_memory = 1u << 22;  // KiB: 4 GiB, so a stored hash cannot ask for more
inline constexpr std::uint32_t max_argon2_time = 1u << 16;
inline constexpr std::uint32_t max_argon2_lanes = (1u << 24) - 1;

/// Why an argon2 parameter set cannot be used; nullptr when it can.
inline const char* argon2_params_problem(std::uint32_t version, std::uint32_t m, std::uint32_t t, std::uint32_t p) {
    if (version != 0x13 && version != 0x10) return "unsupported argon2 version (s3db-cpp knows 16 and 19)";
    if (p < 1 || p > max_argon2_lanes) return "argon2 parallelism out of range";
    if (t < 1 || t > max_argon2_time) return "argon2 time cost out of range (1 to 65536)";
    if (m < 8 * p) return "argon2 memory below 8 KiB per lane";
    if (m > max_argon2_memory) return "argon2 memory cost above the 4 GiB s3db-cpp accepts";
    return nullptr;
}

/// Unpadded base64 of at least `min_bytes`, its unused low bits zero (as every encoder leaves them),
/// so that one byte string has one spelling.
inline bool valid_b64_field(std::string_view s, std::size_t min_bytes) {
    if (s.size() % 4 == 1 || s.size() * 3 / 4 < min_bytes) return false;
    for (char c : s)
        if (!b64_char(c)) return false;
    const char last = s.back();
    const int v = last >= 'A' && last <= 'Z' ? last - 'A' : last >= 'a' && last <= 'z' ? last - 'a' + 26
                  : last >= '0' && last <= '9' ? last - '0' + 52 : last == '+' ? 62 : 63;
    const int unused = s.size() % 4 == 2 ? 15 : s.size() % 4 == 3 ? 3 : 0;
    return (v & unused) == 0;
}

/// Splits a hash in either form; nullopt (with `why`) when it is not one this library can read.
inline std::optional<Parsed> parse(std::string_view h, const char*& why) {
    Parsed out;
    why = "not a bcrypt or argon2 hash";
    if (h.size() < 2 || h[0] != '$') return std::nullopt;
    auto split = [](std::string_view s, char sep) {
        std::vector<std::string_view> parts;
        while (true) {
            auto p = s.find(sep);
            parts.push_back(s.substr(0, p));
            if (p == std::string_view::npos) return parts;
            s.remove_prefix(p + 1);
        }
    };
    auto check_bcrypt_tail = [&](std::string_view tail) {
        if (tail.size() != 53) return (why = "bcrypt salt and digest must be 53 chars"), false;
        for (char c : tail)
            if (!bcrypt_char(c)) return (why = "bcrypt salt or digest holds a char outside its alphabet"), false;
        // the salt's last char carries 2 bits: other values never come out of a bcrypt
        if (std::strchr(".Oeu", tail[21]) == nullptr) return (why = "bcrypt salt is not canonical"), false;
        return true;
    };
    auto check_argon = [&]() {
        if (const char* p = argon2_params_problem(out.version, out.memory, out.time, out.lanes)) return (why = p), false;
        if (!valid_b64_field(out.salt64, 8)) return (why = "argon2 salt is not unpadded base64 of at least 8 bytes"), false;
        if (!valid_b64_field(out.tag64, 4)) return (why = "argon2 digest is not unpadded base64 of at least 4 bytes"), false;
        out.argon = true;
        return true;
    };
    auto parts = split(h.substr(1), '$');
    if (h.starts_with("$argon2")) {
        // $argon2id$v=19$m=..,t=..,p=..$salt$tag
        if (parts.size() != 5) return (why = "malformed argon2 hash"), std::nullopt;
        if (parts[0] == "argon2id") out.type = Argon2Type::id;
        else if (parts[0] == "argon2i") out.type = Argon2Type::i;
        else if (parts[0] == "argon2d") out.type = Argon2Type::d;
        else return (why = "unknown argon2 variant"), std::nullopt;
        if (!parts[1].starts_with("v=")) return (why = "malformed argon2 version"), std::nullopt;
        auto v = decimal(parts[1].substr(2));
        auto kv = split(parts[2], ',');
        if (!v || kv.size() != 3 || !kv[0].starts_with("m=") || !kv[1].starts_with("t=") || !kv[2].starts_with("p="))
            return (why = "malformed argon2 parameters (s3db-cpp reads v, m, t, p only)"), std::nullopt;
        auto m = decimal(kv[0].substr(2)), t = decimal(kv[1].substr(2)), p = decimal(kv[2].substr(2));
        if (!m || !t || !p || *v > 0xffffffffu || *m > 0xffffffffu || *t > 0xffffffffu || *p > 0xffffffffu)
            return (why = "malformed argon2 parameters"), std::nullopt;
        out.version = static_cast<std::uint32_t>(*v);
        out.memory = static_cast<std::uint32_t>(*m);
        out.time = static_cast<std::uint32_t>(*t);
        out.lanes = static_cast<std::uint32_t>(*p);
        out.salt64 = parts[3];
        out.tag64 = parts[4];
        if (!check_argon()) return std::nullopt;
        return out;
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
    if (h.find('|') != std::string_view::npos) {
        // compact argon2id: $v|log2 m|t|p$salt$tag
        if (parts.size() != 3) return (why = "malformed compact argon2 hash"), std::nullopt;
        auto params = split(parts[0], '|');
        if (params.size() != 4) return (why = "a compact argon2 hash has 4 parameters"), std::nullopt;
        auto v = unb62(params[0]), lm = unb62(params[1]), t = unb62(params[2]), p = unb62(params[3]);
        if (!v || !lm || !t || !p || *v > 0xffffffffu || *lm > 31 || *t > 0xffffffffu || *p > 0xffffffffu)
            return (why = "malformed compact argon2 parameters"), std::nullopt;
        out.type = Argon2Type::id;
        out.version = static_cast<std::uint32_t>(*v);
        out.memory = 1u << *lm;
        out.time = static_cast<std::uint32_t>(*t);
        out.lanes = static_cast<std::uint32_t>(*p);
        out.salt64 = parts[1];
        out.tag64 = parts[2];
        if (!check_argon()) return std::nullopt;
        return out;
    }
    // compact bcrypt: $<b62 cost>$<53>
    if (parts.size() != 2) return (why = "malformed compact bcrypt hash"), std::nullopt;
    auto cost = unb62(parts[0]);
    if (!cost) return (why = "malformed compact bcrypt cost"), std::nullopt;
    if (*cost < 4 || *cost > 31) return (why = "bcrypt cost out of range (4 to 31)"), std::nullopt;
    out.cost = static_cast<int>(*cost);
    if (!check_bcrypt_tail(parts[1])) return std::nullopt;
    out.tail = parts[1];
    return out;
}

inline std::string full_form(const Parsed& p) {
    if (!p.argon) {
        std::string s = "$2";
        s += p.minor;
        s += '$';
        s += static_cast<char>('0' + p.cost / 10);
        s += static_cast<char>('0' + p.cost % 10);
        s += '$';
        s += p.tail;
        return s;
    }
    static constexpr const char* names[] = {"argon2d", "argon2i", "argon2id"};
    std::string s = "$";
    s += names[static_cast<int>(p.type)];
    s += "$v=" + std::to_string(p.version) + "$m=" + std::to_string(p.memory) + ",t=" + std::to_string(p.time) +
         ",p=" + std::to_string(p.lanes) + "$";
    s += p.salt64;
    s += '$';
    s += p.tag64;
    return s;
}

}  // namespace pw

// ---- Blowfish's initial state: pi in hexadecimal ----

S3DB_DECL const BlowfishState& blowfish_initial_state() {
    static const BlowfishState state = [] {
        // pi = 16·atan(1/5) − 4·atan(1/239) (Machin), in fixed point: limb 0 is the integer part,
        // then 32-bit fractional limbs, most significant first. 1042 limbs are needed; 3 more guard
        // against the truncation of each term (a few thousand ulps at most).
        constexpr std::size_t needed = 18 + 4 * 256, limbs = 1 + needed + 3;
        using Big = std::vector<std::uint32_t>;
        auto div_small = [](Big& x, std::size_t from, std::uint32_t d) {
            std::uint64_t r = 0;
            for (std::size_t i = from; i < x.size(); ++i) {
                std::uint64_t cur = (r << 32) | x[i];
                x[i] = static_cast<std::uint32_t>(cur / d);
                r = cur % d;
            }
        };
        auto add_sub = [](Big& a, const Big& b, std::size_t from, bool subtract) {
            std::uint64_t carry = 0;
            for (std::size_t i = a.size(); i-- > 0;) {
                if (i < from && carry == 0) break;
                std::uint64_t bi = i >= from ? b[i] : 0;
                if (!subtract) {
                    std::uint64_t s = std::uint64_t(a[i]) + bi + carry;
                    a[i] = static_cast<std::uint32_t>(s);
                    carry = s >> 32;
                } else {
                    std::uint64_t s = std::uint64_t(a[i]) - bi - carry;
                    a[i] = static_cast<std::uint32_t>(s);
                    carry = (s >> 32) ? 1 : 0;
                }
            }
        };
        Big sum(limbs, 0);
        // adds factor·atan(1/x) = factor · Σ (−1)^k / ((2k+1)·x^(2k+1))
        auto atan_inv = [&](std::uint32_t x, std::uint32_t factor, bool subtract) {
            Big power(limbs, 0), term(limbs, 0);
            power[0] = factor;
            div_small(power, 0, x);
            const std::uint32_t xx = x * x;
            std::size_t lead = 0;  // limbs of `power` known to be zero
            for (std::uint32_t k = 0;; ++k) {
                while (lead < limbs && power[lead] == 0) ++lead;
                if (lead == limbs) break;
                std::copy(power.begin() + static_cast<std::ptrdiff_t>(lead), power.end(),
                          term.begin() + static_cast<std::ptrdiff_t>(lead));
                div_small(term, lead, 2 * k + 1);
                add_sub(sum, term, lead, subtract != (k % 2 == 1));
                div_small(power, lead, xx);
            }
        };
        atan_inv(5, 16, false);
        atan_inv(239, 4, true);
        BlowfishState s{};
        for (std::size_t i = 0; i < 18; ++i) s.p[i] = sum[1 + i];
        for (std::size_t b = 0; b < 4; ++b)
            for (std::size_t i = 0; i < 256; ++i) s.s[b][i] = sum[1 + 18 + b * 256 + i];
        // A wrong digit would make every hash wrong: check the known ends of the table.
        if (sum[0] != 3 || s.p[0] != 0x243F6A88u || s.p[17] != 0x8979FB1Bu || s.s[0][0] != 0xD1310BA6u ||
            s.s[3][255] != 0x3AC372E6u)
            throw CryptoError("computing Blowfish's initial state (pi) went wrong");
        return s;
    }();
    return state;
}

// ---- bcrypt ----

namespace pw {

inline constexpr char bcrypt_alphabet[] = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

struct Blowfish {
    BlowfishState st;

    std::uint32_t f(std::uint32_t x) const {
        return ((st.s[0][x >> 24] + st.s[1][(x >> 16) & 0xff]) ^ st.s[2][(x >> 8) & 0xff]) + st.s[3][x & 0xff];
    }
    void encrypt(std::uint32_t& l, std::uint32_t& r) const {
        std::uint32_t a = l, b = r;
        for (int i = 0; i < 16; i += 2) {
            a ^= st.p[i];
            b ^= f(a);
            b ^= st.p[i + 1];
            a ^= f(b);
        }
        a ^= st.p[16];
        b ^= st.p[17];
        l = b;
        r = a;
    }
    /// The next 32 bits of `data` read cyclically, big-endian.
    static std::uint32_t stream_word(const unsigned char* data, std::size_t n, std::size_t& pos) {
        std::uint32_t w = 0;
        for (int i = 0; i < 4; ++i) {
            w = (w << 8) | data[pos];
            pos = (pos + 1) % n;
        }
        return w;
    }
    /// ExpandKey(state, salt, key); with salt == nullptr, ExpandKey(state, 0, key).
    void expand(const unsigned char* key, std::size_t key_len, const unsigned char* salt) {
        std::size_t kp = 0, sp = 0;
        for (auto& w : st.p) w ^= stream_word(key, key_len, kp);
        std::uint32_t l = 0, r = 0;
        auto next = [&](std::uint32_t& a, std::uint32_t& b) {
            if (salt) {
                l ^= stream_word(salt, bcrypt_salt_bytes, sp);
                r ^= stream_word(salt, bcrypt_salt_bytes, sp);
            }
            encrypt(l, r);
            a = l;
            b = r;
        };
        for (int i = 0; i < 18; i += 2) next(st.p[i], st.p[i + 1]);
        for (auto& box : st.s)
            for (int i = 0; i < 256; i += 2) next(box[i], box[i + 1]);
    }
};

}  // namespace pw

S3DB_DECL std::string bcrypt_base64_encode(const unsigned char* data, std::size_t n) {
    std::string out;
    for (std::size_t i = 0; i < n; i += 3) {
        std::uint32_t c1 = data[i], c2 = i + 1 < n ? data[i + 1] : 0, c3 = i + 2 < n ? data[i + 2] : 0;
        out += pw::bcrypt_alphabet[c1 >> 2];
        out += pw::bcrypt_alphabet[((c1 & 3) << 4) | (c2 >> 4)];
        if (i + 1 < n) out += pw::bcrypt_alphabet[((c2 & 15) << 2) | (c3 >> 6)];
        if (i + 2 < n) out += pw::bcrypt_alphabet[c3 & 63];
    }
    return out;
}

S3DB_DECL std::optional<std::string> bcrypt_base64_decode(std::string_view s, std::size_t n) {
    if (s.size() < (n * 4 + 2) / 3) return std::nullopt;
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : s) {
        if (out.size() == n) break;
        const char* p = c ? std::strchr(pw::bcrypt_alphabet, c) : nullptr;
        if (!p) return std::nullopt;
        acc = (acc << 6) | static_cast<std::uint32_t>(p - pw::bcrypt_alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xff);
        }
    }
    if (out.size() != n) return std::nullopt;
    return out;
}

S3DB_DECL std::string bcrypt_hash(std::string_view password, int cost, const unsigned char (&salt)[bcrypt_salt_bytes],
                                  char minor) {
    if (cost < 4 || cost > 31) throw PasswordError("bcrypt cost out of range (4 to 31)");
    if (minor != 'a' && minor != 'b' && minor != 'y') throw PasswordError("unsupported bcrypt variant");
    // The key is the password and its NUL terminator, cut at 72 bytes (what $2b$ does; $2a$ and $2y$
    // hash the same for passwords under 255 bytes, and s3db-cpp does not reproduce $2a$'s wrap-around).
    pw::Wiped key{std::string(password)};
    key.s.push_back('\0');
    if (key.s.size() > 72) key.s.resize(72);
    const auto* k = reinterpret_cast<const unsigned char*>(key.s.data());
    pw::Blowfish bf{blowfish_initial_state()};
    bf.expand(k, key.s.size(), salt);
    const std::uint64_t rounds = std::uint64_t(1) << cost;
    for (std::uint64_t i = 0; i < rounds; ++i) {
        bf.expand(k, key.s.size(), nullptr);
        bf.expand(salt, bcrypt_salt_bytes, nullptr);
    }
    static constexpr char magic[] = "OrpheanBeholderScryDoubt";
    std::uint32_t text[6];
    for (int i = 0; i < 6; ++i) {
        std::size_t pos = static_cast<std::size_t>(i) * 4;
        text[i] = pw::Blowfish::stream_word(reinterpret_cast<const unsigned char*>(magic), 24, pos);
    }
    for (int n = 0; n < 64; ++n)
        for (int i = 0; i < 6; i += 2) bf.encrypt(text[i], text[i + 1]);
    unsigned char digest[24];
    for (int i = 0; i < 6; ++i)
        for (int b = 0; b < 4; ++b) digest[i * 4 + b] = static_cast<unsigned char>(text[i] >> (24 - 8 * b));
    OPENSSL_cleanse(&bf, sizeof bf);
    std::string out = "$2";
    out += minor;
    out += '$';
    out += static_cast<char>('0' + cost / 10);
    out += static_cast<char>('0' + cost % 10);
    out += '$';
    out += bcrypt_base64_encode(salt, bcrypt_salt_bytes);
    out += bcrypt_base64_encode(digest, bcrypt_digest_bytes);
    return out;
}

// ---- BLAKE2b ----

namespace pw {

inline constexpr std::uint64_t blake2b_iv[8] = {0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL,
                                                0xa54ff53a5f1d36f1ULL, 0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL,
                                                0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL};

inline constexpr unsigned char blake2b_sigma[12][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4}, {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13}, {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11}, {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5}, {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3}};

}  // namespace pw

S3DB_DECL Blake2b::Blake2b(std::size_t out_len, std::string_view key) : out_len_(out_len) {
    if (out_len < 1 || out_len > 64 || key.size() > 64) throw CryptoError("BLAKE2b output or key length out of range");
    for (int i = 0; i < 8; ++i) h_[i] = pw::blake2b_iv[i];
    h_[0] ^= 0x01010000ULL ^ (static_cast<std::uint64_t>(key.size()) << 8) ^ out_len;
    if (!key.empty()) {
        unsigned char block[128] = {};
        std::memcpy(block, key.data(), key.size());
        update(block, 128);
        OPENSSL_cleanse(block, sizeof block);
    }
}

S3DB_DECL void Blake2b::compress(const unsigned char* block, bool last) {
    std::uint64_t m[16], v[16];
    for (int i = 0; i < 16; ++i) m[i] = pw::load64(block + 8 * i);
    for (int i = 0; i < 8; ++i) {
        v[i] = h_[i];
        v[i + 8] = pw::blake2b_iv[i];
    }
    v[12] ^= t_[0];
    v[13] ^= t_[1];
    if (last) v[14] = ~v[14];
    auto g = [&](int a, int b, int c, int d, std::uint64_t x, std::uint64_t y) {
        v[a] = v[a] + v[b] + x;
        v[d] = pw::rotr64(v[d] ^ v[a], 32);
        v[c] = v[c] + v[d];
        v[b] = pw::rotr64(v[b] ^ v[c], 24);
        v[a] = v[a] + v[b] + y;
        v[d] = pw::rotr64(v[d] ^ v[a], 16);
        v[c] = v[c] + v[d];
        v[b] = pw::rotr64(v[b] ^ v[c], 63);
    };
    for (const auto& s : pw::blake2b_sigma) {
        g(0, 4, 8, 12, m[s[0]], m[s[1]]);
        g(1, 5, 9, 13, m[s[2]], m[s[3]]);
        g(2, 6, 10, 14, m[s[4]], m[s[5]]);
        g(3, 7, 11, 15, m[s[6]], m[s[7]]);
        g(0, 5, 10, 15, m[s[8]], m[s[9]]);
        g(1, 6, 11, 12, m[s[10]], m[s[11]]);
        g(2, 7, 8, 13, m[s[12]], m[s[13]]);
        g(3, 4, 9, 14, m[s[14]], m[s[15]]);
    }
    for (int i = 0; i < 8; ++i) h_[i] ^= v[i] ^ v[i + 8];
}

S3DB_DECL void Blake2b::update(const void* data, std::size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    while (n > 0) {
        // the last block is compressed in final(), with its flag: keep a full buffer until more comes
        if (fill_ == 128) {
            t_[0] += 128;
            if (t_[0] < 128) ++t_[1];
            compress(buf_, false);
            fill_ = 0;
        }
        std::size_t take = std::min(n, 128 - fill_);
        std::memcpy(buf_ + fill_, p, take);
        fill_ += take;
        p += take;
        n -= take;
    }
}

S3DB_DECL void Blake2b::final(unsigned char* out) {
    t_[0] += fill_;
    if (t_[0] < fill_) ++t_[1];
    std::memset(buf_ + fill_, 0, 128 - fill_);
    compress(buf_, true);
    unsigned char full[64];
    for (int i = 0; i < 8; ++i) pw::store64(full + 8 * i, h_[i]);
    std::memcpy(out, full, out_len_);
    OPENSSL_cleanse(full, sizeof full);
    OPENSSL_cleanse(buf_, sizeof buf_);
}

S3DB_DECL std::string blake2b(std::string_view data, std::size_t out_len, std::string_view key) {
    Blake2b h(out_len, key);
    h.update(data);
    std::string out(out_len, '\0');
    h.final(reinterpret_cast<unsigned char*>(out.data()));
    return out;
}

// ---- argon2 ----

namespace pw {

using Block = std::array<std::uint64_t, 128>;

/// H'(T, X) of RFC 9106 §3.3: BLAKE2b stretched to `out_len` bytes.
inline void blake2b_long(unsigned char* out, std::uint32_t out_len, const unsigned char* in, std::size_t in_len) {
    unsigned char len_le[4];
    store32(len_le, out_len);
    if (out_len <= 64) {
        Blake2b h(out_len);
        h.update(len_le, 4);
        h.update(in, in_len);
        h.final(out);
        return;
    }
    unsigned char v[64];
    Blake2b h(64);
    h.update(len_le, 4);
    h.update(in, in_len);
    h.final(v);
    std::memcpy(out, v, 32);
    out += 32;
    std::uint32_t left = out_len - 32;
    while (left > 64) {
        Blake2b next(64);
        next.update(v, 64);
        next.final(v);
        std::memcpy(out, v, 32);
        out += 32;
        left -= 32;
    }
    Blake2b last(left);
    last.update(v, 64);
    last.final(out);
    OPENSSL_cleanse(v, sizeof v);
}

/// GB of RFC 9106 §3.6: BLAKE2b's G with the multiplication that makes it memory-hard to shortcut.
inline void gb(std::uint64_t& a, std::uint64_t& b, std::uint64_t& c, std::uint64_t& d) {
    auto fma = [](std::uint64_t x, std::uint64_t y) { return x + y + 2 * (x & 0xffffffffu) * (y & 0xffffffffu); };
    a = fma(a, b);
    d = rotr64(d ^ a, 32);
    c = fma(c, d);
    b = rotr64(b ^ c, 24);
    a = fma(a, b);
    d = rotr64(d ^ a, 16);
    c = fma(c, d);
    b = rotr64(b ^ c, 63);
}

inline void permute(std::uint64_t* v0, std::uint64_t* v1, std::uint64_t* v2, std::uint64_t* v3, std::uint64_t* v4,
                    std::uint64_t* v5, std::uint64_t* v6, std::uint64_t* v7, std::uint64_t* v8, std::uint64_t* v9,
                    std::uint64_t* v10, std::uint64_t* v11, std::uint64_t* v12, std::uint64_t* v13, std::uint64_t* v14,
                    std::uint64_t* v15) {
    gb(*v0, *v4, *v8, *v12);
    gb(*v1, *v5, *v9, *v13);
    gb(*v2, *v6, *v10, *v14);
    gb(*v3, *v7, *v11, *v15);
    gb(*v0, *v5, *v10, *v15);
    gb(*v1, *v6, *v11, *v12);
    gb(*v2, *v7, *v8, *v13);
    gb(*v3, *v4, *v9, *v14);
}

/// out = G(x, y) (xor_into: out ^= G(x, y), version 0x13's later passes).
inline void compress_g(const Block& x, const Block& y, Block& out, bool xor_into) {
    Block r, z;
    for (int i = 0; i < 128; ++i) r[i] = x[i] ^ y[i];
    z = r;
    for (int i = 0; i < 8; ++i) {  // rows: 8 consecutive 16-byte registers
        std::uint64_t* q = z.data() + 16 * i;
        permute(q, q + 1, q + 2, q + 3, q + 4, q + 5, q + 6, q + 7, q + 8, q + 9, q + 10, q + 11, q + 12, q + 13, q + 14,
                q + 15);
    }
    for (int i = 0; i < 8; ++i) {  // columns: register i of each row
        std::uint64_t* q = z.data() + 2 * i;
        permute(q, q + 1, q + 16, q + 17, q + 32, q + 33, q + 48, q + 49, q + 64, q + 65, q + 80, q + 81, q + 96, q + 97,
                q + 112, q + 113);
    }
    if (xor_into)
        for (int i = 0; i < 128; ++i) out[i] ^= z[i] ^ r[i];
    else
        for (int i = 0; i < 128; ++i) out[i] = z[i] ^ r[i];
}

}  // namespace pw

S3DB_DECL std::string argon2(const Argon2Params& prm, std::string_view password, std::string_view salt,
                             std::string_view secret, std::string_view associated) {
    if (const char* p = pw::argon2_params_problem(prm.version, prm.memory_kib, prm.time, prm.parallelism))
        throw PasswordError(p);
    if (prm.tag_bytes < 4 || prm.tag_bytes > 1024) throw PasswordError("argon2 tag length out of range (4 to 1024)");
    if (salt.size() < 8) throw PasswordError("argon2 salt shorter than 8 bytes");
    using pw::Block;
    const std::uint32_t lanes = prm.parallelism;
    // H0 of §3.2
    unsigned char h0[72];
    {
        Blake2b h(64);
        unsigned char w[4];
        auto word = [&](std::uint32_t v) {
            pw::store32(w, v);
            h.update(w, 4);
        };
        auto field = [&](std::string_view s) {
            word(static_cast<std::uint32_t>(s.size()));
            h.update(s);
        };
        word(lanes);
        word(prm.tag_bytes);
        word(prm.memory_kib);
        word(prm.time);
        word(prm.version);
        word(static_cast<std::uint32_t>(prm.type));
        field(password);
        field(salt);
        field(secret);
        field(associated);
        h.final(h0);
    }
    const std::uint32_t segment = prm.memory_kib / (4 * lanes);
    const std::uint32_t lane_len = 4 * segment;
    const std::size_t blocks = static_cast<std::size_t>(lane_len) * lanes;
    auto mem = std::make_unique_for_overwrite<Block[]>(blocks);  // every block is written before it is read
    auto at = [&](std::uint32_t lane, std::uint32_t col) -> Block& {
        return mem[static_cast<std::size_t>(lane) * lane_len + col];
    };
    auto load_block = [](Block& b, const unsigned char* bytes) {
        for (int i = 0; i < 128; ++i) b[i] = pw::load64(bytes + 8 * i);
    };
    {
        unsigned char bytes[1024];
        for (std::uint32_t l = 0; l < lanes; ++l)
            for (std::uint32_t c = 0; c < 2; ++c) {
                pw::store32(h0 + 64, c);
                pw::store32(h0 + 68, l);
                pw::blake2b_long(bytes, 1024, h0, 72);
                load_block(at(l, c), bytes);
            }
        OPENSSL_cleanse(bytes, sizeof bytes);
    }
    OPENSSL_cleanse(h0, sizeof h0);
    const Block zero{};
    for (std::uint32_t pass = 0; pass < prm.time; ++pass) {
        for (std::uint32_t slice = 0; slice < 4; ++slice) {
            // Lanes one after another: a slice only references other lanes' finished slices.
            const bool independent =
                prm.type == Argon2Type::i || (prm.type == Argon2Type::id && pass == 0 && slice < 2);
            for (std::uint32_t lane = 0; lane < lanes; ++lane) {
                Block input{}, addresses{};
                if (independent) {
                    input[0] = pass;
                    input[1] = lane;
                    input[2] = slice;
                    input[3] = static_cast<std::uint64_t>(lane_len) * lanes;
                    input[4] = prm.time;
                    input[5] = static_cast<std::uint64_t>(prm.type);
                }
                auto next_addresses = [&] {
                    ++input[6];
                    pw::compress_g(zero, input, addresses, false);
                    pw::compress_g(zero, addresses, addresses, false);
                };
                std::uint32_t start = pass == 0 && slice == 0 ? 2 : 0;
                if (independent && start == 2) next_addresses();
                for (std::uint32_t idx = start; idx < segment; ++idx) {
                    const std::uint32_t col = slice * segment + idx;
                    const std::uint32_t prev = col == 0 ? lane_len - 1 : col - 1;
                    std::uint64_t rand;
                    if (independent) {
                        if (idx % 128 == 0) next_addresses();
                        rand = addresses[idx % 128];
                    } else {
                        rand = at(lane, prev)[0];
                    }
                    const std::uint32_t j1 = static_cast<std::uint32_t>(rand), j2 = static_cast<std::uint32_t>(rand >> 32);
                    std::uint32_t ref_lane = pass == 0 && slice == 0 ? lane : j2 % lanes;
                    const bool same = ref_lane == lane;
                    // the blocks this one may reference (§3.4.1.1)
                    std::uint64_t area;
                    if (pass == 0) {
                        area = same ? std::uint64_t(slice) * segment + idx - 1
                                    : std::uint64_t(slice) * segment - (idx == 0 ? 1 : 0);
                    } else {
                        area = same ? std::uint64_t(lane_len) - segment + idx - 1
                                    : std::uint64_t(lane_len) - segment - (idx == 0 ? 1 : 0);
                    }
                    std::uint64_t x = (std::uint64_t(j1) * j1) >> 32;
                    std::uint64_t y = (area * x) >> 32;
                    std::uint64_t rel = area - 1 - y;
                    std::uint64_t first = pass == 0 || slice == 3 ? 0 : std::uint64_t(slice + 1) * segment;
                    auto ref_col = static_cast<std::uint32_t>((first + rel) % lane_len);
                    const bool xor_into = pass > 0 && prm.version == 0x13;
                    pw::compress_g(at(lane, prev), at(ref_lane, ref_col), at(lane, col), xor_into);
                }
            }
        }
    }
    Block c = at(0, lane_len - 1);
    for (std::uint32_t l = 1; l < lanes; ++l)
        for (int i = 0; i < 128; ++i) c[i] ^= at(l, lane_len - 1)[i];
    unsigned char bytes[1024];
    for (int i = 0; i < 128; ++i) pw::store64(bytes + 8 * i, c[i]);
    std::string tag(prm.tag_bytes, '\0');
    pw::blake2b_long(reinterpret_cast<unsigned char*>(tag.data()), prm.tag_bytes, bytes, sizeof bytes);
    OPENSSL_cleanse(bytes, sizeof bytes);
    OPENSSL_cleanse(c.data(), sizeof c);
    OPENSSL_cleanse(mem.get(), blocks * sizeof(Block));
    return tag;
}

S3DB_DECL std::string phc_base64_encode(std::string_view bytes) {
    static constexpr char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    const auto* d = reinterpret_cast<const unsigned char*>(bytes.data());
    const std::size_t n = bytes.size();
    for (std::size_t i = 0; i < n; i += 3) {
        std::uint32_t c1 = d[i], c2 = i + 1 < n ? d[i + 1] : 0, c3 = i + 2 < n ? d[i + 2] : 0;
        out += a[c1 >> 2];
        out += a[((c1 & 3) << 4) | (c2 >> 4)];
        if (i + 1 < n) out += a[((c2 & 15) << 2) | (c3 >> 6)];
        if (i + 2 < n) out += a[c3 & 63];
    }
    return out;
}

S3DB_DECL std::optional<std::string> phc_base64_decode(std::string_view s) {
    if (s.size() % 4 == 1) return std::nullopt;
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : s) {
        int v = c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26 : c >= '0' && c <= '9' ? c - '0' + 52
                : c == '+' ? 62 : c == '/' ? 63 : -1;
        if (v < 0) return std::nullopt;
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xff);
        }
    }
    if (acc & ((1u << bits) - 1)) return std::nullopt;  // leftover bits must be zero (canonical)
    return out;
}

S3DB_DECL std::string argon2_phc(const Argon2Params& p, std::string_view salt, std::string_view tag) {
    static constexpr const char* names[] = {"argon2d", "argon2i", "argon2id"};
    return std::string("$") + names[static_cast<int>(p.type)] + "$v=" + std::to_string(p.version) +
           "$m=" + std::to_string(p.memory_kib) + ",t=" + std::to_string(p.time) + ",p=" + std::to_string(p.parallelism) +
           "$" + phc_base64_encode(salt) + "$" + phc_base64_encode(tag);
}

}  // namespace detail

// ---- the public functions ----

S3DB_DECL void check_password_options(const PasswordOptions& o) {
    if (o.algorithm == PasswordAlgorithm::argon2id) {
        const std::uint32_t m = o.argon2_memory_kib;
        if (m == 0 || (m & (m - 1)) != 0)
            throw PasswordError("argon2 memory cost must be a power of two (s3db.js stores its log2)");
        if (const char* why = detail::pw::argon2_params_problem(0x13, m, o.argon2_time, o.argon2_parallelism))
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
        const std::string salt = detail::pw::random_salt(16);  // what the npm `argon2` package uses
        return detail::argon2_phc(p, salt, detail::argon2(p, peppered.s, salt));
    }
    unsigned char salt[detail::bcrypt_salt_bytes];
    if (RAND_bytes(salt, sizeof salt) != 1) throw CryptoError("RAND_bytes failed to produce a salt");
    return detail::bcrypt_hash(peppered.s, o.bcrypt_rounds, salt, 'b');
}

S3DB_DECL std::string compact_password_hash(std::string_view hash) {
    const char* why = nullptr;
    auto p = detail::pw::parse(hash, why);
    if (!p) throw PasswordError(std::string("cannot compact the password hash: ") + why);
    if (!hash.starts_with("$2") && !hash.starts_with("$argon2")) return std::string(hash);  // compact already
    if (!p->argon) return "$" + detail::pw::b62(static_cast<std::uint64_t>(p->cost)) + "$" + std::string(p->tail);
    if (p->type != detail::Argon2Type::id) throw PasswordError("s3db.js compacts argon2id hashes only");
    if ((p->memory & (p->memory - 1)) != 0) throw PasswordError("s3db.js compacts argon2 hashes whose memory is a power of two only");
    std::uint32_t log2m = 0;
    while ((1u << log2m) != p->memory) ++log2m;
    using detail::pw::b62;
    return "$" + b62(p->version) + "|" + b62(log2m) + "|" + b62(p->time) + "|" + b62(p->lanes) + "$" +
           std::string(p->salt64) + "$" + std::string(p->tag64);
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
