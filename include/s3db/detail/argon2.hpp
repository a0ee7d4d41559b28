#pragma once
// argon2 (RFC 9106: argon2d, argon2i and argon2id, versions 0x10 and 0x13) on BLAKE2b (RFC 7693),
// and the PHC string the npm `argon2` package writes: `$argon2id$v=19$m=…,t=…,p=…$<salt>$<tag>`.
// OpenSSL 3.0 has neither argon2 nor a variable-length BLAKE2b, so both are implemented here.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "s3db/detail/config.hpp"
#include "s3db/detail/encoding.hpp"
#include "s3db/errors.hpp"

namespace s3db::detail {

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

inline constexpr std::uint32_t max_argon2_memory = 1u << 22;  // KiB: 4 GiB, so a stored hash cannot ask for more
inline constexpr std::uint32_t max_argon2_time = 1u << 16;
inline constexpr std::uint32_t max_argon2_lanes = (1u << 24) - 1;

/// Why an argon2 parameter set cannot be used (a stored hash may ask for anything); nullptr when it can.
S3DB_DECL const char* argon2_params_problem(std::uint32_t version, std::uint32_t m, std::uint32_t t,
                                            std::uint32_t p) noexcept;

/// The argon2 tag of `password` and `salt`, with the optional `secret` (K) and `associated` data
/// (X) of RFC 9106. Lanes are computed one after another. PasswordError on parameters out of range.
S3DB_DECL std::string argon2(const Argon2Params& params, std::string_view password, std::string_view salt,
                             std::string_view secret = {}, std::string_view associated = {});

/// PHC string `$argon2id$v=19$m=…,t=…,p=…$<salt>$<tag>` (unpadded standard base64).
S3DB_DECL std::string argon2_phc(const Argon2Params& params, std::string_view salt, std::string_view tag);

/// The same from a salt and a tag already in PHC's base64 (`tag_bytes` is not written).
S3DB_DECL std::string argon2_phc_encoded(const Argon2Params& params, std::string_view salt64, std::string_view tag64);

/// Unpadded standard base64, as PHC strings use it.
S3DB_DECL std::string phc_base64_encode(std::string_view bytes);

/// Whether `s` is PHC's base64: the standard alphabet, no padding, and the unused low bits of its
/// last char zero (as every encoder leaves them), so that one byte string has one spelling.
S3DB_DECL bool phc_base64_canonical(std::string_view s) noexcept;

/// The bytes of `s`; nullopt unless phc_base64_canonical(s).
S3DB_DECL std::optional<std::string> phc_base64_decode(std::string_view s);

}  // namespace s3db::detail

#if S3DB_DEFINE_BODIES
#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>

namespace s3db::detail {

// ---- little-endian words ----

namespace pw {

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

}  // namespace pw

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

S3DB_DECL const char* argon2_params_problem(std::uint32_t version, std::uint32_t m, std::uint32_t t,
                                            std::uint32_t p) noexcept {
    if (version != 0x13 && version != 0x10) return "unsupported argon2 version (s3db-cpp knows 16 and 19)";
    if (p < 1 || p > max_argon2_lanes) return "argon2 parallelism out of range";
    if (t < 1 || t > max_argon2_time) return "argon2 time cost out of range (1 to 65536)";
    if (m < 8 * p) return "argon2 memory below 8 KiB per lane";
    if (m > max_argon2_memory) return "argon2 memory cost above the 4 GiB s3db-cpp accepts";
    return nullptr;
}

S3DB_DECL std::string argon2(const Argon2Params& prm, std::string_view password, std::string_view salt,
                             std::string_view secret, std::string_view associated) {
    if (const char* p = argon2_params_problem(prm.version, prm.memory_kib, prm.time, prm.parallelism))
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
    std::string out = base64_encode(bytes);
    while (!out.empty() && out.back() == '=') out.pop_back();
    return out;
}

S3DB_DECL bool phc_base64_canonical(std::string_view s) noexcept {
    if (s.size() % 4 == 1) return false;
    const std::string_view alphabet(base64_alphabet);
    for (char c : s)
        if (alphabet.find(c) == std::string_view::npos) return false;
    const std::size_t unused = s.size() % 4 == 2 ? 15 : s.size() % 4 == 3 ? 3 : 0;
    return unused == 0 || (alphabet.find(s.back()) & unused) == 0;
}

S3DB_DECL std::optional<std::string> phc_base64_decode(std::string_view s) {
    if (!phc_base64_canonical(s)) return std::nullopt;
    return base64_decode(s);
}

S3DB_DECL std::string argon2_phc_encoded(const Argon2Params& p, std::string_view salt64, std::string_view tag64) {
    static constexpr const char* names[] = {"argon2d", "argon2i", "argon2id"};
    std::string s = "$";
    s += names[static_cast<int>(p.type)];
    s += "$v=" + std::to_string(p.version) + "$m=" + std::to_string(p.memory_kib) + ",t=" + std::to_string(p.time) +
         ",p=" + std::to_string(p.parallelism) + "$";
    s += salt64;
    s += '$';
    s += tag64;
    return s;
}

S3DB_DECL std::string argon2_phc(const Argon2Params& p, std::string_view salt, std::string_view tag) {
    return argon2_phc_encoded(p, phc_base64_encode(salt), phc_base64_encode(tag));
}

}  // namespace s3db::detail
#endif  // S3DB_DEFINE_BODIES
