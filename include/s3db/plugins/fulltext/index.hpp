#pragma once
// FullText's index model: what a shard holds, which shard a term lives in, how one document's
// postings go in and out of a shard, and the BM25 arithmetic.
//
// A shard is one JSON object, `{"terms": {term: {docId: [docLength, {field: tf, …}]}}}`: every
// term of the shard, and per document the term frequency in each field and the document's length
// (its indexed terms over all fields), so a search scores from the shards of its terms alone.
// Terms sharing their first `prefix_length` code points share a shard, named by those bytes in hex,
// so a prefix query reads one shard (or lists the few its prefix spans).

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "s3db/detail/config.hpp"

namespace s3db::fulltext {

using json = nlohmann::json;

/// One document's postings of one term: its length and the term's frequency per field.
struct Posting {
    std::uint32_t length = 0;
    std::map<std::string, std::uint32_t> fields;
};

/// A document's postings, by term.
using DocPostings = std::map<std::string, Posting>;

/// The shard name of `term`: its first `prefix_length` code points, hex encoded.
S3DB_DECL std::string shard_of(std::string_view term, std::size_t prefix_length);

/// Hex of `bytes` (lower case): shard names, and prefixes of shard names.
S3DB_DECL std::string hex(std::string_view bytes);

/// Takes document `id` out of every term of `shard` in `old_terms`, then puts `postings` in (only
/// terms of this shard are passed). Terms left without documents are removed.
S3DB_DECL void apply_document(json& shard, std::string_view id, const DocPostings& old_terms, const DocPostings& postings);

S3DB_DECL Posting posting_from_json(const json& p);
S3DB_DECL json posting_to_json(const Posting& p);

/// BM25's idf as SQLite FTS5 computes it: ln((N - n + 0.5) / (n + 0.5)), at least 1e-6 so that a
/// term in more than half the documents still counts a little.
S3DB_DECL double bm25_idf(double documents, double with_term) noexcept;

/// One term's BM25 contribution: `freq` its (field-weighted) frequency in a document of `length`.
S3DB_DECL double bm25(double idf, double freq, double length, double average_length, double k1 = 1.2,
                      double b = 0.75) noexcept;

/// Whether the edit distance (insertions, deletions, substitutions of code points) between `a` and
/// `b` is at most `max`.
S3DB_DECL bool within_edit_distance(std::string_view a, std::string_view b, std::size_t max);

}  // namespace s3db::fulltext

#if S3DB_DEFINE_BODIES
#include <algorithm>
#include <cmath>
#include <vector>

#include "s3db/plugins/fulltext/tokenizer.hpp"

namespace s3db::fulltext {

S3DB_DECL std::string hex(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char c : bytes) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

S3DB_DECL std::string shard_of(std::string_view term, std::size_t prefix_length) {
    std::size_t i = 0;
    for (std::size_t n = 0; n < prefix_length && i < term.size(); ++n) (void)next_code_point(term, i);
    return hex(term.substr(0, i));
}

S3DB_DECL Posting posting_from_json(const json& p) {
    Posting out;
    out.length = p.at(0).get<std::uint32_t>();
    for (auto& [field, tf] : p.at(1).items()) out.fields[field] = tf.get<std::uint32_t>();
    return out;
}

S3DB_DECL json posting_to_json(const Posting& p) { return json::array({p.length, p.fields}); }

S3DB_DECL void apply_document(json& shard, std::string_view id, const DocPostings& old_terms, const DocPostings& postings) {
    if (!shard.is_object()) shard = json::object();
    json& terms = shard["terms"];
    if (!terms.is_object()) terms = json::object();
    const std::string key(id);
    for (auto& [term, _] : old_terms) {
        auto it = terms.find(term);
        if (it == terms.end()) continue;
        it->erase(key);
        if (it->empty()) terms.erase(it);
    }
    for (auto& [term, p] : postings) terms[term][key] = posting_to_json(p);
}

S3DB_DECL double bm25_idf(double documents, double with_term) noexcept {
    const double idf = std::log((documents - with_term + 0.5) / (with_term + 0.5));
    return idf > 0 ? idf : 1e-6;
}

S3DB_DECL double bm25(double idf, double freq, double length, double average_length, double k1, double b) noexcept {
    const double norm = average_length > 0 ? length / average_length : 1.0;
    return idf * (freq * (k1 + 1.0)) / (freq + k1 * (1.0 - b + b * norm));
}

S3DB_DECL bool within_edit_distance(std::string_view a, std::string_view b, std::size_t max) {
    auto points = [](std::string_view s) {
        std::vector<char32_t> out;
        for (std::size_t i = 0; i < s.size();) out.push_back(next_code_point(s, i));
        return out;
    };
    const auto x = points(a), y = points(b);
    const std::size_t diff = x.size() > y.size() ? x.size() - y.size() : y.size() - x.size();
    if (diff > max) return false;
    std::vector<std::size_t> prev(y.size() + 1), cur(y.size() + 1);
    for (std::size_t j = 0; j <= y.size(); ++j) prev[j] = j;
    for (std::size_t i = 1; i <= x.size(); ++i) {
        cur[0] = i;
        std::size_t row_min = cur[0];
        for (std::size_t j = 1; j <= y.size(); ++j) {
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1)});
            row_min = std::min(row_min, cur[j]);
        }
        if (row_min > max) return false;  // every later row is at least this far
        std::swap(prev, cur);
    }
    return prev[y.size()] <= max;
}

}  // namespace s3db::fulltext
#endif  // S3DB_DEFINE_BODIES
