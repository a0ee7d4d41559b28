#pragma once
// Digests and MACs over OpenSSL's EVP interface. Algorithms are fetched once and contexts are kept
// per thread, so hashing a small body costs the digest and nothing else.

#include <openssl/types.h>

#include <array>
#include <stdexcept>
#include <string>
#include <string_view>

#include "s3db/detail/config.hpp"
#include "s3db/errors.hpp"
#include "s3db/detail/encoding.hpp"

namespace s3db::detail {

enum class Digest { md5, sha256 };

S3DB_DECL const EVP_MD* evp_digest(Digest d);

/// Incremental digest, for bodies that arrive in parts.
class Hasher {
public:
    S3DB_DECL explicit Hasher(Digest d);
    Hasher(const Hasher&) = delete;
    Hasher& operator=(const Hasher&) = delete;
    S3DB_DECL ~Hasher();

    S3DB_DECL void update(std::string_view data);
    /// Raw digest bytes.
    S3DB_DECL std::string finish();

private:
    EVP_MD_CTX* ctx_;
};

/// Raw digest of `data` into `out` (EVP_MAX_MD_SIZE bytes), reusing one context per thread and
/// algorithm; returns its length.
S3DB_DECL std::size_t digest_into(Digest d, std::string_view data, unsigned char* out);

/// Raw digest of `data`.
S3DB_DECL std::string digest(Digest d, std::string_view data);

inline std::string md5_hex(std::string_view data) { return to_hex(digest(Digest::md5, data)); }
inline std::string sha256_hex(std::string_view data) { return to_hex(digest(Digest::sha256, data)); }

/// HMAC-SHA256(key, data), raw bytes.
S3DB_DECL std::string hmac_sha256(std::string_view key, std::string_view data);

/// The ETag S3 gives a single-part upload: the quoted MD5 hex of the body. Built in one string:
/// an in-process store computes one per write.
S3DB_DECL std::string etag_of(std::string_view body);

}  // namespace s3db::detail

#if S3DB_DEFINE_BODIES
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace s3db::detail {

S3DB_DECL const EVP_MD* evp_digest(Digest d) {
    // Explicit fetches: OpenSSL 3 re-resolves the implicit EVP_md5()/EVP_sha256() on every init.
    static EVP_MD* md5 = EVP_MD_fetch(nullptr, "MD5", nullptr);
    static EVP_MD* sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    const EVP_MD* md = d == Digest::md5 ? md5 : sha256;
    if (!md) throw CryptoError("OpenSSL does not provide the digest this library needs");
    return md;
}

S3DB_DECL Hasher::Hasher(Digest d) : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_, evp_digest(d), nullptr) != 1)
        throw CryptoError("EVP_DigestInit_ex failed");
}

S3DB_DECL Hasher::~Hasher() { EVP_MD_CTX_free(ctx_); }

S3DB_DECL void Hasher::update(std::string_view data) { EVP_DigestUpdate(ctx_, data.data(), data.size()); }

S3DB_DECL std::string Hasher::finish() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_, out, &n);
    return std::string(reinterpret_cast<char*>(out), n);
}

S3DB_DECL std::size_t digest_into(Digest d, std::string_view data, unsigned char* out) {
    struct Ctx {
        EVP_MD_CTX* p = EVP_MD_CTX_new();
        ~Ctx() { EVP_MD_CTX_free(p); }
    };
    thread_local Ctx ctx[2];
    EVP_MD_CTX* c = ctx[d == Digest::md5 ? 0 : 1].p;
    unsigned int n = 0;
    if (!c || EVP_DigestInit_ex(c, evp_digest(d), nullptr) != 1 ||
        EVP_DigestUpdate(c, data.data(), data.size()) != 1 || EVP_DigestFinal_ex(c, out, &n) != 1)
        throw CryptoError("digest computation failed");
    return n;
}

S3DB_DECL std::string digest(Digest d, std::string_view data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    auto n = digest_into(d, data, out);
    return std::string(reinterpret_cast<char*>(out), n);
}

S3DB_DECL std::string hmac_sha256(std::string_view key, std::string_view data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!HMAC(evp_digest(Digest::sha256), key.data(), static_cast<int>(key.size()),
              reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &n))
        throw CryptoError("HMAC-SHA256 failed");
    return std::string(reinterpret_cast<char*>(out), n);
}

S3DB_DECL std::string etag_of(std::string_view body) {
    if (body.empty()) return "\"d41d8cd98f00b204e9800998ecf8427e\"";  // MD5("") : most records have no body
    unsigned char raw[EVP_MAX_MD_SIZE];
    auto n = digest_into(Digest::md5, body, raw);
    std::string etag(2 * n + 2, '"');
    for (std::size_t i = 0; i < n; ++i) {
        etag[1 + 2 * i] = hex_digits[raw[i] >> 4];
        etag[2 + 2 * i] = hex_digits[raw[i] & 15];
    }
    return etag;
}

}  // namespace s3db::detail
#endif  // S3DB_DEFINE_BODIES
