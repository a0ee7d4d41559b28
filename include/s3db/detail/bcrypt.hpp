#pragma once
// bcrypt (`$2a$`, `$2b$`, `$2y$`; what the npm `bcrypt` package writes): EksBlowfish, and bcrypt's own
// base64. OpenSSL 3.0 has no usable Blowfish (legacy provider only), so it is implemented here.
// Blowfish's initial state, the fractional hexadecimal digits of pi, is computed on first use rather
// than pasted as a table.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "s3db/detail/config.hpp"
#include "s3db/errors.hpp"

namespace s3db::detail {

inline constexpr std::size_t bcrypt_salt_bytes = 16;
inline constexpr std::size_t bcrypt_digest_bytes = 23;  // of the 24 bytes of ciphertext, as every bcrypt

/// bcrypt's base64 alphabet (not base64's order; no padding).
inline constexpr char bcrypt_alphabet[] = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Blowfish's initial subkeys and S-boxes: the fractional hexadecimal digits of pi, computed once.
struct BlowfishState {
    std::uint32_t p[18];
    std::uint32_t s[4][256];
};
S3DB_DECL const BlowfishState& blowfish_initial_state();

/// `$2<minor>$<two-digit cost>$`: what stands before a bcrypt hash's salt and digest.
S3DB_DECL std::string bcrypt_prefix(char minor, int cost);

/// The bcrypt hash `$2<minor>$<cost>$<salt><digest>` (minor 'a', 'b' or 'y', computed alike).
S3DB_DECL std::string bcrypt_hash(std::string_view password, int cost, const unsigned char (&salt)[bcrypt_salt_bytes],
                                  char minor = 'b');

/// bcrypt's base64 (bcrypt_alphabet, no padding).
S3DB_DECL std::string bcrypt_base64_encode(const unsigned char* data, std::size_t n);
/// Decodes exactly `n` bytes from the first chars of `s`; nullopt on a char outside the alphabet or
/// too short an input.
S3DB_DECL std::optional<std::string> bcrypt_base64_decode(std::string_view s, std::size_t n);

}  // namespace s3db::detail

#if S3DB_DEFINE_BODIES
#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace s3db::detail {

namespace pw {

/// Wipes a string holding key material when it goes out of scope.
struct Wiped {
    std::string s;
    ~Wiped() { OPENSSL_cleanse(s.data(), s.size()); }
};

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
        out += bcrypt_alphabet[c1 >> 2];
        out += bcrypt_alphabet[((c1 & 3) << 4) | (c2 >> 4)];
        if (i + 1 < n) out += bcrypt_alphabet[((c2 & 15) << 2) | (c3 >> 6)];
        if (i + 2 < n) out += bcrypt_alphabet[c3 & 63];
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
        const char* p = c ? std::strchr(bcrypt_alphabet, c) : nullptr;
        if (!p) return std::nullopt;
        acc = (acc << 6) | static_cast<std::uint32_t>(p - bcrypt_alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xff);
        }
    }
    if (out.size() != n) return std::nullopt;
    return out;
}

S3DB_DECL std::string bcrypt_prefix(char minor, int cost) {
    std::string s = "$2";
    s += minor;
    s += '$';
    s += static_cast<char>('0' + cost / 10);
    s += static_cast<char>('0' + cost % 10);
    s += '$';
    return s;
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
    std::string out = bcrypt_prefix(minor, cost);
    out += bcrypt_base64_encode(salt, bcrypt_salt_bytes);
    out += bcrypt_base64_encode(digest, bcrypt_digest_bytes);
    return out;
}

}  // namespace s3db::detail
#endif  // S3DB_DEFINE_BODIES
