#pragma once
// S3's rules that every transport applies the same way: key and metadata checks, ETag comparison,
// the key prefix of a store, and ListObjectsV2 paging (prefix, delimiter, start-after, tokens).

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "s3db/errors.hpp"
#include "s3db/detail/config.hpp"
#include "s3db/detail/encoding.hpp"
#include "s3db/detail/metadata_codec.hpp"
#include "s3db/detail/random.hpp"
#include "s3db/transport/transport.hpp"

namespace s3db::detail {

S3DB_DECL void check_key(std::string_view key);

/// RFC 9110 token characters, as a table: every metadata key of every write goes through it.
inline constexpr auto header_token_chars = [] {
    std::array<bool, 256> t{};
    for (int c = 0; c < 256; ++c)
        t[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
    return t;
}();
inline bool header_token_char(unsigned char c) noexcept { return header_token_chars[c]; }

/// Lowercases metadata keys (as S3 stores them), checks they can be HTTP header names, and enforces
/// the size limit on what would be sent. Throws before anything is stored.
S3DB_DECL Metadata normalize_metadata(Metadata metadata, std::string_view object_key, std::size_t limit);

/// ETags compare without their quotes and weak marker.
inline std::string_view bare_etag(std::string_view e) noexcept {
    if (e.starts_with("W/")) e.remove_prefix(2);
    if (e.size() >= 2 && e.front() == '"' && e.back() == '"') e = e.substr(1, e.size() - 2);
    return e;
}
inline bool etag_equal(std::string_view a, std::string_view b) noexcept { return bare_etag(a) == bare_etag(b); }
inline std::string quoted_etag(std::string_view e) { return '"' + std::string(bare_etag(e)) + '"'; }

/// 32 bytes of JSON whitespace carrying 64 random bits. S3's ETag is the body's MD5, so two writes
/// of the same bytes share one ETag and If-Match cannot tell them apart (nor can a retry tell its
/// own earlier write from another writer's). Appended to a JSON body, which every JSON parser
/// ignores, it gives each write its own ETag.
S3DB_DECL void append_etag_salt(std::string& out);

/// Resolves a range against an object of `size` bytes, as S3 does: an end past the object is
/// clipped, a start past it is unsatisfiable (416). Returns {first byte, byte count}.
S3DB_DECL std::pair<std::size_t, std::size_t> resolve_range(const ByteRange& r, std::uint64_t size,
                                                            const std::string& key);

/// The part of the bucket a transport works in: every key is `prefix + key` on the store.
class KeyPrefix {
public:
    KeyPrefix() = default;
    S3DB_DECL explicit KeyPrefix(std::string prefix);
    const std::string& str() const noexcept { return prefix_; }
    bool empty() const noexcept { return prefix_.empty(); }

    S3DB_DECL std::string apply(std::string_view key) const;
    std::string strip(std::string_view full) const {
        return std::string(full.starts_with(prefix_) ? full.substr(prefix_.size()) : full);
    }
    S3DB_DECL ListOptions apply(ListOptions o) const;
    S3DB_DECL ListPage strip(ListPage page) const;

private:
    std::string prefix_;
};

/// Builds one ListObjectsV2 page from keys fed in byte order, for stores that list by walking their
/// keys (memory, filesystem). The continuation token is opaque to callers: base64 of the position,
/// either the last key returned (`k`) or the last common prefix returned (`p`).
class ListBuilder {
public:
    S3DB_DECL explicit ListBuilder(const ListOptions& o);

    /// The first key worth looking at; a store can seek there (everything before is skipped).
    std::string_view seek() const noexcept { return std::max<std::string_view>(opts_.prefix, after_); }

    /// Whether every key starting with `dir` (a key prefix) would be skipped, so a walker can prune it.
    S3DB_DECL bool skips_all_under(std::string_view dir) const noexcept;

    /// Feeds the next key in byte order; `make` builds its entry only if it is returned.
    /// Returns false when the walk can stop (page full, or past the prefix).
    template <class MakeEntry>
    bool add(std::string_view key, MakeEntry&& make) {
        if (!key.starts_with(opts_.prefix)) return key < std::string_view(opts_.prefix);
        if (!after_.empty()) {
            if (after_is_prefix_ ? key.starts_with(after_) || key < std::string_view(after_)
                                 : key <= std::string_view(after_))
                return true;
        }
        std::string_view rest = key.substr(opts_.prefix.size());
        if (!opts_.delimiter.empty()) {
            if (auto pos = rest.find(opts_.delimiter); pos != std::string_view::npos) {
                std::string_view cp = key.substr(0, opts_.prefix.size() + pos + opts_.delimiter.size());
                if (!page_.common_prefixes.empty() && page_.common_prefixes.back() == cp) return true;
                if (!room(key)) return false;
                page_.common_prefixes.emplace_back(cp);
                last_ = 'p' + std::string(cp);
                return true;
            }
        }
        if (!room(key)) return false;
        page_.objects.push_back(make());
        last_ = 'k' + std::string(key);
        return true;
    }

    ListPage finish() && {
        if (truncated_) page_.next_continuation_token = base64_encode(last_);
        return std::move(page_);
    }

private:
    bool room(std::string_view) {
        if (page_.objects.size() + page_.common_prefixes.size() < max_) return true;
        truncated_ = max_ > 0;
        return false;
    }

    const ListOptions& opts_;
    std::size_t max_;
    std::string after_;
    bool after_is_prefix_ = false;
    ListPage page_;
    std::string last_;
    bool truncated_ = false;
};

#if S3DB_DEFINE_BODIES
S3DB_DECL void check_key(std::string_view key) {
    if (key.empty()) throw InvalidKey(std::string(key), "keys cannot be empty");
    if (key.size() > max_key_bytes)
        throw InvalidKey(std::string(key), "keys are at most " + std::to_string(max_key_bytes) +
                                               " bytes, this one is " + std::to_string(key.size()));
}

S3DB_DECL Metadata normalize_metadata(Metadata metadata, std::string_view object_key, std::size_t limit) {
    std::size_t size = 0;
    bool lowercase = true;
    for (const auto& [k, v] : metadata) {
        if (k.empty()) throw TransportError("empty metadata key", {400, "InvalidArgument", {}, std::string(object_key)});
        for (char c : k) {
            auto u = static_cast<unsigned char>(c);
            if (!header_token_char(u))
                throw TransportError("metadata key '" + InvalidKey::printable(k) + "' is not a valid header name",
                                     {400, "InvalidArgument", {}, std::string(object_key)});
            if (u >= 'A' && u <= 'Z') lowercase = false;
        }
        size += k.size() + encoded_metadata_size(v);
    }
    if (limit && size > limit) throw MetadataTooLarge(std::string(object_key), size, limit);
    if (lowercase) return metadata;
    Metadata out;
    for (auto& [k, v] : metadata) {
        std::string lower = k;
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](unsigned char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c); });
        out.insert_or_assign(std::move(lower), v);
    }
    return out;
}

S3DB_DECL void append_etag_salt(std::string& out) {
    static constexpr char ws[] = {' ', '\t', '\n', '\r'};
    std::uint64_t bits = random_u64();
    char salt[32];
    for (auto& c : salt) {
        c = ws[bits & 3];
        bits >>= 2;
    }
    out.append(salt, sizeof salt);
}

S3DB_DECL std::pair<std::size_t, std::size_t> resolve_range(const ByteRange& r, std::uint64_t size,
                                                            const std::string& key) {
    if (r.suffix) {
        if (*r.suffix == 0) throw InvalidRange(key);
        auto n = std::min<std::uint64_t>(*r.suffix, size);
        return {size - n, n};
    }
    if (r.first >= size || (r.last && *r.last < r.first)) throw InvalidRange(key);
    auto last = std::min<std::uint64_t>(r.last.value_or(size - 1), size - 1);
    return {r.first, last - r.first + 1};
}

S3DB_DECL KeyPrefix::KeyPrefix(std::string prefix) : prefix_(std::move(prefix)) {
    while (prefix_.starts_with('/')) prefix_.erase(0, 1);
    if (!prefix_.empty() && !prefix_.ends_with('/')) prefix_ += '/';
}

S3DB_DECL std::string KeyPrefix::apply(std::string_view key) const {
    check_key(key);
    std::string full;
    full.reserve(prefix_.size() + key.size());
    full.append(prefix_).append(key);
    if (full.size() > max_key_bytes) check_key(full);
    return full;
}

S3DB_DECL ListOptions KeyPrefix::apply(ListOptions o) const {
    if (prefix_.empty()) return o;
    o.prefix = prefix_ + o.prefix;
    if (!o.start_after.empty()) o.start_after = prefix_ + o.start_after;
    return o;
}

S3DB_DECL ListPage KeyPrefix::strip(ListPage page) const {
    if (prefix_.empty()) return page;
    auto cut = [&](std::string& k) {
        if (k.starts_with(prefix_)) k.erase(0, prefix_.size());
    };
    for (auto& e : page.objects) cut(e.key);
    for (auto& p : page.common_prefixes) cut(p);
    return page;
}

S3DB_DECL ListBuilder::ListBuilder(const ListOptions& o) : opts_(o) {
    max_ = std::min(o.max_keys, max_list_keys);
    after_ = o.start_after;
    if (!o.continuation_token.empty()) {
        auto raw = base64_decode(o.continuation_token);
        if (!raw || raw->empty() || ((*raw)[0] != 'k' && (*raw)[0] != 'p'))
            throw TransportError("the continuation token is not one this store issued",
                                 {400, "InvalidArgument", {}, {}});
        after_is_prefix_ = (*raw)[0] == 'p';
        after_ = raw->substr(1);
    }
}

S3DB_DECL bool ListBuilder::skips_all_under(std::string_view dir) const noexcept {
    bool overlaps_prefix = dir.starts_with(opts_.prefix) || std::string_view(opts_.prefix).starts_with(dir);
    if (!overlaps_prefix) return true;
    if (after_.empty()) return false;
    if (after_is_prefix_ && dir.starts_with(after_)) return true;
    if (std::string_view(after_).starts_with(dir)) return false;
    return dir < std::string_view(after_);  // the whole range [dir, dir~) lies before `after`
}
#endif  // S3DB_DEFINE_BODIES

}  // namespace s3db::detail
