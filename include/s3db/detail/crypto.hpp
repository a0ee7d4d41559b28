#pragma once
// `secret` fields, encrypted the way s3db.js does it so either library opens what the other wrote:
// AES-256-GCM with a key from PBKDF2-HMAC-SHA256 (100 000 iterations, 16-byte random salt), a
// 12-byte random IV, and the stored value base64(salt ‖ iv ‖ ciphertext ‖ 16-byte tag).
//
// PBKDF2 is deliberately slow (tens of milliseconds), and s3db.js pays it on every write and read.
// A SecretBox derives once per salt instead: it encrypts under one salt (a fresh random IV per
// value, which is what GCM requires) and keeps the keys of salts it has opened.

#include <openssl/types.h>

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

#include "s3db/detail/config.hpp"
#include "s3db/errors.hpp"
#include "s3db/detail/encoding.hpp"

namespace s3db::detail {

inline constexpr int secret_pbkdf2_iterations = 100000;
inline constexpr std::size_t secret_salt_bytes = 16;
inline constexpr std::size_t secret_iv_bytes = 12;
inline constexpr std::size_t secret_tag_bytes = 16;
inline constexpr std::size_t secret_key_bytes = 32;

/// PBKDF2-HMAC-SHA256 (what WebCrypto's deriveKey computes for s3db.js).
S3DB_DECL std::string pbkdf2_sha256(std::string_view passphrase, std::string_view salt, int iterations,
                                    std::size_t key_bytes = secret_key_bytes);

S3DB_DECL const EVP_CIPHER* aes_256_gcm();

/// AES-256-GCM: returns ciphertext ‖ tag (WebCrypto's layout).
S3DB_DECL std::string aes_256_gcm_seal(std::string_view key, std::string_view iv, std::string_view plaintext);

/// Opens ciphertext ‖ tag; nullopt when the tag does not verify (wrong key or tampered data).
S3DB_DECL std::optional<std::string> aes_256_gcm_open(std::string_view key, std::string_view iv,
                                                      std::string_view sealed);

/// Encrypts and decrypts `secret` values under one passphrase. Thread-safe.
class SecretBox {
public:
    explicit SecretBox(std::string_view passphrase) : passphrase_(passphrase) {}
    SecretBox(const SecretBox&) = delete;
    SecretBox& operator=(const SecretBox&) = delete;
    S3DB_DECL ~SecretBox();

    /// base64(salt ‖ iv ‖ ciphertext ‖ tag), readable by s3db.js's `decrypt`.
    S3DB_DECL std::string seal(std::string_view plaintext);

    /// The plaintext of a value `seal` (or s3db.js) produced under this passphrase; nullopt for
    /// anything else. Cheap for values that cannot be ciphertext; one key derivation per new salt.
    S3DB_DECL std::optional<std::string> open(std::string_view value);

    /// Whether `value` has the form `seal` gives its output (padded standard base64 of at least salt,
    /// IV and tag): what `open` failing on it means a wrong key or altered data, not plaintext.
    static S3DB_DECL bool looks_sealed(std::string_view value) noexcept;

private:
    S3DB_DECL std::string key_for(std::string_view salt);

    S3DB_DECL void remember(const std::string& salt, const std::string& key);

    static constexpr std::size_t max_cached_keys = 4096;
    std::mutex mutex_;
    std::string passphrase_;
    std::string seal_salt_, seal_key_;
    std::uint32_t seal_uses_ = 0;
    std::unordered_map<std::string, std::string> open_keys_;
};

}  // namespace s3db::detail

#if S3DB_DEFINE_BODIES
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "s3db/detail/hashing.hpp"
#include "s3db/detail/random.hpp"

namespace s3db::detail {

S3DB_DECL std::string pbkdf2_sha256(std::string_view passphrase, std::string_view salt, int iterations,
                                    std::size_t key_bytes) {
    std::string key(key_bytes, '\0');
    if (PKCS5_PBKDF2_HMAC(passphrase.data(), static_cast<int>(passphrase.size()),
                          reinterpret_cast<const unsigned char*>(salt.data()), static_cast<int>(salt.size()),
                          iterations, evp_digest(Digest::sha256), static_cast<int>(key_bytes),
                          reinterpret_cast<unsigned char*>(key.data())) != 1)
        throw CryptoError("PBKDF2 key derivation failed");
    return key;
}

S3DB_DECL const EVP_CIPHER* aes_256_gcm() {
    static EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
    if (!cipher) throw CryptoError("OpenSSL does not provide AES-256-GCM");
    return cipher;
}

struct CipherCtx {
    EVP_CIPHER_CTX* p = EVP_CIPHER_CTX_new();
    CipherCtx() {
        if (!p) throw CryptoError("EVP_CIPHER_CTX_new failed");
    }
    CipherCtx(const CipherCtx&) = delete;
    CipherCtx& operator=(const CipherCtx&) = delete;
    ~CipherCtx() { EVP_CIPHER_CTX_free(p); }
};

S3DB_DECL std::string aes_256_gcm_seal(std::string_view key, std::string_view iv, std::string_view plaintext) {
    thread_local CipherCtx ctx;
    auto* c = ctx.p;
    auto u = [](std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); };
    std::string out(plaintext.size() + secret_tag_bytes, '\0');
    auto* o = reinterpret_cast<unsigned char*>(out.data());
    int len = 0, tail = 0;
    if (key.size() != secret_key_bytes || iv.size() != secret_iv_bytes ||
        EVP_EncryptInit_ex(c, aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(iv.size()), nullptr) != 1 ||
        EVP_EncryptInit_ex(c, nullptr, nullptr, u(key), u(iv)) != 1 ||
        EVP_EncryptUpdate(c, o, &len, u(plaintext), static_cast<int>(plaintext.size())) != 1 ||
        EVP_EncryptFinal_ex(c, o + len, &tail) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, static_cast<int>(secret_tag_bytes), o + len + tail) != 1)
        throw CryptoError("AES-256-GCM encryption failed");
    return out;
}

S3DB_DECL std::optional<std::string> aes_256_gcm_open(std::string_view key, std::string_view iv,
                                                      std::string_view sealed) {
    if (key.size() != secret_key_bytes || iv.size() != secret_iv_bytes || sealed.size() < secret_tag_bytes)
        return std::nullopt;
    thread_local CipherCtx ctx;
    auto* c = ctx.p;
    auto u = [](std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); };
    const std::size_t n = sealed.size() - secret_tag_bytes;
    std::string out(n, '\0');
    auto* o = reinterpret_cast<unsigned char*>(out.data());
    std::string tag(sealed.substr(n));
    int len = 0, tail = 0;
    if (EVP_DecryptInit_ex(c, aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(iv.size()), nullptr) != 1 ||
        EVP_DecryptInit_ex(c, nullptr, nullptr, u(key), u(iv)) != 1 ||
        EVP_DecryptUpdate(c, o, &len, u(sealed), static_cast<int>(n)) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, static_cast<int>(secret_tag_bytes), tag.data()) != 1 ||
        EVP_DecryptFinal_ex(c, o + len, &tail) != 1)
        return std::nullopt;
    out.resize(static_cast<std::size_t>(len + tail));
    return out;
}

S3DB_DECL SecretBox::~SecretBox() {
    OPENSSL_cleanse(passphrase_.data(), passphrase_.size());
    OPENSSL_cleanse(seal_key_.data(), seal_key_.size());
    for (auto& [salt, key] : open_keys_) OPENSSL_cleanse(key.data(), key.size());
}

S3DB_DECL std::string SecretBox::seal(std::string_view plaintext) {
    std::string salt, key;
    {
        std::lock_guard lock(mutex_);
        // A fresh salt (and key) every 2^24 values keeps random-IV collisions out of reach.
        if (seal_key_.empty() || seal_uses_ >= (1u << 24)) {
            seal_salt_ = random_bytes(secret_salt_bytes);
            seal_key_ = pbkdf2_sha256(passphrase_, seal_salt_, secret_pbkdf2_iterations);
            seal_uses_ = 0;
            remember(seal_salt_, seal_key_);
        }
        ++seal_uses_;
        salt = seal_salt_;
        key = seal_key_;
    }
    std::string iv = random_bytes(secret_iv_bytes);
    std::string blob;
    blob.reserve(secret_salt_bytes + secret_iv_bytes + plaintext.size() + secret_tag_bytes);
    blob += salt;
    blob += iv;
    blob += aes_256_gcm_seal(key, iv, plaintext);
    OPENSSL_cleanse(key.data(), key.size());
    return base64_encode(blob);
}

S3DB_DECL std::optional<std::string> SecretBox::open(std::string_view value) {
    if (value.size() < 60) return std::nullopt;  // base64 of salt+iv+tag alone is 60 chars
    auto blob = base64_decode(value);
    if (!blob || blob->size() < secret_salt_bytes + secret_iv_bytes + secret_tag_bytes) return std::nullopt;
    std::string_view b = *blob;
    std::string_view salt = b.substr(0, secret_salt_bytes);
    std::string key = key_for(salt);
    auto plain = aes_256_gcm_open(key, b.substr(secret_salt_bytes, secret_iv_bytes),
                                  b.substr(secret_salt_bytes + secret_iv_bytes));
    OPENSSL_cleanse(key.data(), key.size());
    return plain;
}

S3DB_DECL bool SecretBox::looks_sealed(std::string_view value) noexcept {
    constexpr std::size_t min_chars = (secret_salt_bytes + secret_iv_bytes + secret_tag_bytes + 2) / 3 * 4;
    if (value.size() < min_chars || value.size() % 4 != 0) return false;
    std::size_t pad = 0;
    while (pad < 2 && value[value.size() - 1 - pad] == '=') ++pad;
    for (std::size_t i = 0; i + pad < value.size(); ++i) {
        char c = value[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/'))
            return false;
    }
    return true;
}

S3DB_DECL std::string SecretBox::key_for(std::string_view salt) {
    {
        std::lock_guard lock(mutex_);
        if (auto it = open_keys_.find(std::string(salt)); it != open_keys_.end()) return it->second;
    }
    std::string key = pbkdf2_sha256(passphrase_, salt, secret_pbkdf2_iterations);  // outside the lock
    std::lock_guard lock(mutex_);
    remember(std::string(salt), key);
    return key;
}

S3DB_DECL void SecretBox::remember(const std::string& salt, const std::string& key) {
    if (open_keys_.size() >= max_cached_keys) {
        for (auto& [s, k] : open_keys_) OPENSSL_cleanse(k.data(), k.size());
        open_keys_.clear();
    }
    open_keys_.emplace(salt, key);
}

}  // namespace s3db::detail
#endif  // S3DB_DEFINE_BODIES
