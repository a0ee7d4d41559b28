#pragma once
// Write tokens: how a writer whose response was lost proves whether its write landed.
//
// Every insert and compare-and-swap update stores a fresh random token in the record's metadata
// (`_wt`), behind the tokens of the version it read, keeping the newest `kept` of them. Versions
// of one record form a chain (each CAS names the version it replaces), so a record's `_wt` is the
// tail of the chain's tokens. A writer that got no answer reads the record once and knows:
//  - its token is there: the write landed (and later writers built on it): applied, once;
//  - the newest token of the version it replaced is there but its own is not: that version's
//    successor is somebody else's, and a CAS on a replaced version can never land: not applied;
//  - neither: more than `kept` writes went by (or a writer that keeps no tokens, such as s3db.js,
//    wrote): the store cannot tell, and the caller gets OutcomeUnknown.
// s3db.js drops every `_` field on read, so the key is invisible to it. Cost: 3 bytes of key and
// 8 per token, 35 bytes of metadata for a record written four times or more.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "s3db/detail/config.hpp"
#include "s3db/detail/metadata_codec.hpp"
#include "s3db/detail/random.hpp"
#include "s3db/transport/transport.hpp"

namespace s3db::detail {

inline constexpr std::string_view write_tokens_key = "_wt";
inline constexpr std::size_t write_token_size = 8;
inline constexpr std::size_t write_tokens_kept = 4;

/// 8 characters of [0-9A-Za-z] from the per-thread CSPRNG: 47 bits, unique within any chain.
S3DB_DECL std::string new_write_token();

/// The `_wt` value of `metadata`, or empty when it has none or it is not a whole number of tokens
/// (written by something else: then it proves nothing and is not carried on).
S3DB_DECL std::string_view stored_write_tokens(const Metadata& metadata);

S3DB_DECL bool has_write_token(std::string_view tokens, std::string_view token) noexcept;

inline std::string_view newest_write_token(std::string_view tokens) noexcept {
    return tokens.size() < write_token_size ? std::string_view{} : tokens.substr(tokens.size() - write_token_size);
}

/// Adds `_wt` = `previous` + `mine`, the newest `kept`, dropping the oldest until the metadata fits
/// in `limit` bytes (S3 counts keys and encoded values). Without room for `mine` alone nothing is
/// added: that write cannot be settled after a lost response, and says so (OutcomeUnknown).
S3DB_DECL void stamp_write_tokens(Metadata& metadata, std::string_view previous, std::string_view mine,
                                  std::size_t limit);

#if S3DB_DEFINE_BODIES
S3DB_DECL std::string new_write_token() {
    static constexpr char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    std::uint64_t r = random_u64();
    std::string t(write_token_size, '0');
    for (auto& c : t) {
        c = alphabet[r % 62];
        r /= 62;
    }
    return t;
}

S3DB_DECL std::string_view stored_write_tokens(const Metadata& metadata) {
    auto it = metadata.find(write_tokens_key);
    if (it == metadata.end()) return {};
    std::string_view v = it->second;
    if (v.empty() || v.size() % write_token_size || v.size() > write_token_size * write_tokens_kept) return {};
    for (char c : v)
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) return {};
    return v;
}

S3DB_DECL bool has_write_token(std::string_view tokens, std::string_view token) noexcept {
    if (token.size() != write_token_size) return false;
    for (std::size_t i = 0; i + write_token_size <= tokens.size(); i += write_token_size)
        if (tokens.substr(i, write_token_size) == token) return true;
    return false;
}

S3DB_DECL void stamp_write_tokens(Metadata& metadata, std::string_view previous, std::string_view mine,
                                  std::size_t limit) {
    std::size_t used = 0;
    for (const auto& [k, v] : metadata)
        if (k != write_tokens_key) used += k.size() + encoded_metadata_size(v);
    std::string tokens;
    tokens.reserve(previous.size() + mine.size());
    tokens.append(previous).append(mine);
    std::size_t keep = write_tokens_kept * write_token_size;
    while (keep && used + write_tokens_key.size() + keep > limit) keep -= write_token_size;
    if (keep == 0) {
        metadata.erase(std::string(write_tokens_key));
        return;
    }
    if (tokens.size() > keep) tokens.erase(0, tokens.size() - keep);
    metadata.insert_or_assign(std::string(write_tokens_key), std::move(tokens));
}
#endif  // S3DB_DEFINE_BODIES

}  // namespace s3db::detail
