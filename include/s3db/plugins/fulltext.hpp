#pragma once
// FullText: a search index over chosen fields of chosen resources, kept in the bucket and updated by
// every write, ranked with BM25.
//
//   BasicDatabase<S3, FullText> db(s3, {}, FullText({.fields = {{"articles", {"title", "body"}}},
//                                                    .field_weights = {{"title", 3.0}}}));
//   auto hits = db.plugin<FullText>().search_records("articles", "machine learning");
//   // each: the record + _searchScore (0-1), _matchedFields, _matchedWords, _highlights
//
// Layout (PluginStorage keys of the resource, `resource=<r>/plugin=fulltext/<index_name>/`):
//   terms/<hex of the term's first shard_prefix_length code points>   one shard per prefix
//   stats                                                             {"documents", "length", "fields"}
// A shard holds its terms' postings (see fulltext/index.hpp): per document the term frequency per
// field and the document's length, which is all BM25 needs besides the stats.
//
// Writes: each insert, update, replace or delete of an indexed resource updates, from the writer's
// thread and before the write returns, every shard whose terms it adds or removes and the stats,
// each with a compare-and-swap (PUT If-Match on the ETag read; on 412 read again and redo). So a
// write's postings are durable when the write returns, and writers in several processes lose none.
// Costs per write: 1 PUT per shard touched + 1 PUT for the stats, plus 1 GET for each of these the
// process has not cached or that another process changed since. Shards a write does not change
// (an update that leaves the text as it was) are not written. A failed index write is the plugin's
// error (isolated by default: reported in db.status()), never the user's; rebuild_index repairs.
// Updates and deletes take the old postings from the record before the write (the database reads
// it for plugins that hook them); a replace reads the record first (1 GET) for the same reason.
// Two processes writing the *same* record at once may leave that record's postings of the earlier
// version until the next write to it or a rebuild: postings carry no record version.
//
// Searches: the query's words go through the same tokenizer; each word matches its own term, and,
// unless `exact`, terms it prefixes and (with fuzzy_search) terms within fuzzy_distance edits that
// share its first character. A cold search costs 1 GET for the stats + 1 GET per shard touched (+1
// LIST for a word shorter than the shard prefix, or fuzzy matching, to find its shards). Shards are
// cached with their ETag: a warm search revalidates each with a conditional GET (304, no body), or
// sends nothing while younger than cache_max_age.
//
// Phrases: words in double quotes ("machine learning") match only where they follow one another in
// one field, after the tokenizer (so stop words and words under min_word_length are skipped on both
// sides, as they are not indexed: "state of the art" finds "state-of-the-art" and "state art"). A
// phrase's words are exact terms and all required. The index holds no positions, so a phrase of two
// or more words costs 1 GET per document holding all of its words, read before offset and limit to
// check the order (search_records uses these reads again). A phrase ranks as one term, as in FTS5: its
// frequency is how often it occurs, its idf counts the documents that match the query's phrases. An
// unclosed quote's words are loose words.
//
// Ranking: BM25 (k1 1.2, b 0.75) as SQLite FTS5's bm25() computes it: a word's frequency in a
// document is the sum over fields of weight × tf, the document length is its terms over all indexed
// fields, idf = ln((N - n + 0.5) / (n + 0.5)) floored at 1e-6. A prefix or fuzzy match counts
// `expansion_weight` of an exact one.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "s3db/detail/config.hpp"
#include "s3db/errors.hpp"
#include "s3db/core/hooks.hpp"
#include "s3db/core/plugin.hpp"
#include "s3db/core/resource_ref.hpp"
#include "s3db/core/plugin_storage.hpp"
#include "s3db/core/resource.hpp"
#include "s3db/core/write_tokens.hpp"
#include "s3db/plugins/fulltext/highlight.hpp"
#include "s3db/plugins/fulltext/index.hpp"
#include "s3db/plugins/fulltext/tokenizer.hpp"
#include "s3db/transport/transport.hpp"
#include "s3db/transport/transport_ref.hpp"

namespace s3db {

struct FullTextOptions {
    bool enabled = true;  // false: writes are not indexed (searches still read the index)
    /// Resource -> the fields indexed (dotted paths into nested objects; strings, numbers and arrays
    /// of them). Resources not named here are not indexed.
    std::map<std::string, std::vector<std::string>, std::less<>> fields{};
    /// Field -> weight in the ranking (1 when not named).
    std::map<std::string, double, std::less<>> field_weights{};
    // Tokenizing (see fulltext/tokenizer.hpp). Changing these for an existing index needs rebuild_index.
    std::size_t min_word_length = 3;
    bool case_sensitive = false;
    bool accent_folding = true;
    bool remove_stop_words = true;
    std::vector<std::string> stop_words{};  // empty: the English list
    bool stemming = false;                  // Porter2 (English)
    // Matching and results.
    bool prefix_search = true;
    bool fuzzy_search = false;
    std::size_t fuzzy_distance = 1;  // 1 or 2; words shorter than 4 code points match exactly, 2 needs 8
    double expansion_weight = 0.5;   // a prefix or fuzzy match against an exact one
    std::size_t max_results = 100;   // limit of a search that gives none
    fulltext::HighlightOptions highlight{};
    /// The folder of the index under the resource's plugin space.
    std::string index_name = "fulltext_indexes";
    /// Code points of a term that name its shard: more shards (smaller objects) with 3, fewer with 1.
    std::size_t shard_prefix_length = 2;
    /// A cached shard younger than this is used without asking the store (0: always revalidated).
    std::chrono::milliseconds cache_max_age{0};
    /// Conditional writes one shard update may lose before it fails.
    std::size_t cas_attempts = 200;
};

struct SearchOptions {
    std::vector<std::string> fields{};  // only these fields count (empty: all indexed fields)
    std::size_t limit = 0;              // 0: max_results
    std::size_t offset = 0;
    bool exact = false;                 // only whole terms: no prefix, no fuzzy
    bool match_all = false;             // every query word must match (else any, ranked)
};

struct SearchHit {
    std::string id;
    double score = 0;             // BM25
    double normalized_score = 0;  // score / best score of the search: 0-1
    std::vector<std::string> matched_fields;
    std::vector<std::string> matched_words;  // the query's words (folded) that matched
    std::set<std::string> matched_terms;     // the index terms that matched (for highlighting)
};

struct FullTextIndexStats {
    std::uint64_t documents = 0;
    std::uint64_t terms = 0;
    std::uint64_t shards = 0;
    std::uint64_t bytes = 0;  // of the shards
    std::map<std::string, double> average_field_length;
};

class FullText : public Plugin<FullText> {
public:
    static constexpr std::string_view name = "FullText";
    static constexpr std::string_view storage_slug = "fulltext";

    S3DB_DECL explicit FullText(FullTextOptions options = {}, PluginOptions plugin_options = {});

    const FullTextOptions& options() const noexcept { return state_->options; }
    const fulltext::Tokenizer& tokenizer() const noexcept { return state_->tokenizer; }

    // ---- lifecycle ----

    S3DB_DECL void validate() const;

    template <class Db>
    void on_install(Db& db) {
        auto b = std::make_shared<Backend>();
        b->store = std::make_unique<TransportRef>(db.store());
        b->storage = std::make_unique<PluginStorage>(storage());
        b->db = DatabaseRef(db);
        std::unique_lock lock(state_->mutex);
        state_->backend = std::move(b);
    }

    S3DB_DECL PluginHealth health() const;

    // ---- hooks ----

    /// A replace does not read the record it overwrites: read it here for its old postings.
    S3DB_DECL void before_replace(OperationContext& ctx);
    S3DB_DECL void after_write(const OperationContext& ctx);
    bool deletes_need_record() const noexcept { return state_->options.enabled; }

    // ---- searching ----

    /// Ids and scores, best first (ties by id).
    S3DB_DECL std::vector<SearchHit> search(std::string_view resource, std::string_view query,
                                            const SearchOptions& o = {});

    /// The records of search(), each with _searchScore (0-1), _matchedFields, _matchedWords and
    /// _highlights (field -> snippet). 1 GET per record on top of the search (none for one a phrase check read).
    S3DB_DECL std::vector<json> search_records(std::string_view resource, std::string_view query,
                                               const SearchOptions& o = {});

    /// Indexed terms starting with `prefix` (folded as the index is), most documents first.
    S3DB_DECL std::vector<std::string> suggest(std::string_view resource, std::string_view prefix,
                                               std::size_t limit = 10);

    // ---- maintenance ----

    /// Clears the resource's index and indexes every record again; returns how many. Writes made
    /// meanwhile merge with it (shards are CAS-merged), but a record deleted during the rebuild may
    /// keep postings until its next write.
    S3DB_DECL std::size_t rebuild_index(std::string_view resource);

    /// Removes the resource's index; returns the objects removed.
    S3DB_DECL std::size_t clear_index(std::string_view resource);

    /// 1 GET for the stats, 1 LIST, and 1 GET per shard.
    S3DB_DECL FullTextIndexStats index_stats(std::string_view resource);

private:
    struct Backend {
        std::unique_ptr<TransportRef> store;
        std::unique_ptr<PluginStorage> storage;
        DatabaseRef db;

        std::vector<std::optional<json>> get_many(std::string_view r, const std::vector<std::string>& ids) const {
            return db.resource(r).get_many(ids, ReadOptions{.cache = false});
        }
        std::vector<json> list_all(std::string_view r) const { return db.resource(r).list(ListQuery{.cache = false}); }
    };
    /// An object of the index as this process last saw it; etag empty: known absent.
    struct Cached {
        std::shared_ptr<const json> data;
        std::string etag;
        std::string tokens;  // the object's write tokens (core/write_tokens.hpp)
        std::chrono::steady_clock::time_point checked{};
    };
    /// One document's terms, as indexed.
    struct DocIndex {
        fulltext::DocPostings postings;
        std::map<std::string, std::uint32_t> field_lengths;
        std::uint32_t length = 0;
    };
    struct State {
        FullTextOptions options;
        fulltext::Tokenizer tokenizer;
        mutable std::shared_mutex mutex;
        std::shared_ptr<const Backend> backend;
        std::mutex cache_mutex;
        std::map<std::string, Cached, std::less<>> cache;
        std::mutex replaced_mutex;
        std::map<std::string, json, std::less<>> replaced;  // "<resource>\n<id>" -> record before a replace
    };

    S3DB_DECL std::shared_ptr<const Backend> backend() const;
    S3DB_DECL const std::vector<std::string>* indexed_fields(std::string_view resource) const;
    S3DB_DECL double weight(std::string_view field) const;

    S3DB_DECL std::string index_prefix(std::string_view resource) const;  // full key, ends with '/'
    S3DB_DECL std::string shard_key(std::string_view resource, std::string_view shard) const;
    S3DB_DECL std::string stats_key(std::string_view resource) const;

    /// The object at `key`, from the cache when still valid, else read (conditionally when cached).
    S3DB_DECL Cached load(const std::string& key, bool force);
    /// Changes the object at `key` with a compare-and-swap, retried on conflict.
    S3DB_DECL void change(const std::string& key, const std::function<void(json&)>& fn);
    /// Shard names under `hex_prefix` (1 LIST per 1000).
    S3DB_DECL std::vector<std::string> shards_under(std::string_view resource, std::string_view hex_prefix);
    /// The shards a query term may have matches in.
    S3DB_DECL std::vector<std::string> shards_for(std::string_view resource, std::string_view term, bool expand);
    /// search(); the records read to check phrases go to `records` when given.
    S3DB_DECL std::vector<SearchHit> search_impl(std::string_view resource, std::string_view query,
                                                 const SearchOptions& o, std::map<std::string, json>* records);

    S3DB_DECL DocIndex index_of(std::string_view resource, const json& record) const;
    S3DB_DECL void reindex(std::string_view resource, std::string_view id, const json* before, const json* after);

    std::shared_ptr<State> state_;
};

}  // namespace s3db

#if S3DB_DEFINE_BODIES
#include <algorithm>
#include <unordered_map>

namespace s3db {

namespace detail {

/// The text of a field for indexing: strings as they are, numbers and booleans as JSON, arrays
/// joined by newlines; objects and null give nothing.
inline std::string fulltext_text(const json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number() || v.is_boolean()) return v.dump();
    if (v.is_array()) {
        std::string out;
        for (auto& e : v) {
            auto t = fulltext_text(e);
            if (t.empty()) continue;
            if (!out.empty()) out += '\n';
            out += t;
        }
        return out;
    }
    return {};
}

/// A query split into its loose text and its phrases (the words between double quotes).
struct FullTextQuery {
    std::string loose;
    std::vector<std::string> phrases;
};

inline FullTextQuery fulltext_parse_query(std::string_view query) {
    FullTextQuery q;
    std::string phrase;
    bool quoted = false;
    for (const char c : query) {
        if (c == '"') {
            if (quoted) q.phrases.push_back(std::move(phrase));
            phrase.clear();
            quoted = !quoted;
            q.loose += ' ';
        } else {
            (quoted ? phrase : q.loose) += c;
        }
    }
    if (quoted) q.loose += " " + phrase;
    return q;
}

/// How many times `terms` follow one another among the terms of `v` (each element of an array alone).
inline std::size_t fulltext_phrase_count(const json& v, const fulltext::Tokenizer& tokenizer, const std::vector<std::string>& terms);

/// The value at a dotted path of `record`, or null.
inline const json* fulltext_field(const json& record, std::string_view path) {
    const json* at = &record;
    while (!path.empty()) {
        const auto dot = path.find('.');
        const std::string part(path.substr(0, dot));
        if (!at->is_object()) return nullptr;
        auto it = at->find(part);
        if (it == at->end()) return nullptr;
        at = &*it;
        path = dot == std::string_view::npos ? std::string_view{} : path.substr(dot + 1);
    }
    return at;
}

inline std::size_t fulltext_phrase_count(const json& v, const fulltext::Tokenizer& tokenizer, const std::vector<std::string>& terms) {
    std::size_t n = 0;
    if (v.is_array()) {
        for (const json& e : v) n += fulltext_phrase_count(e, tokenizer, terms);
        return n;
    }
    const auto tokens = tokenizer.tokens(fulltext_text(v));
    for (std::size_t i = 0; i + terms.size() <= tokens.size(); ++i) {
        std::size_t k = 0;
        while (k < terms.size() && tokens[i + k].term == terms[k]) ++k;
        n += k == terms.size();
    }
    return n;
}

inline std::size_t code_points(std::string_view s) {
    std::size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
}

}  // namespace detail

S3DB_DECL FullText::FullText(FullTextOptions options, PluginOptions plugin_options)
    : Plugin<FullText>(plugin_options), state_(std::make_shared<State>()) {
    state_->tokenizer = fulltext::Tokenizer(TokenizerOptions{.min_word_length = options.min_word_length,
                                                             .case_sensitive = options.case_sensitive,
                                                             .accent_folding = options.accent_folding,
                                                             .stop_words = options.remove_stop_words,
                                                             .stop_word_list = options.stop_words,
                                                             .stemming = options.stemming});
    state_->options = std::move(options);
}

S3DB_DECL void FullText::validate() const {
    const auto& o = state_->options;
    if (o.index_name.empty() || o.index_name.find('/') != std::string::npos)
        throw ConfigError("FullText: index_name must be a non-empty name without '/'");
    if (o.shard_prefix_length < 1 || o.shard_prefix_length > 8)
        throw ConfigError("FullText: shard_prefix_length must be 1 to 8 code points");
    if (o.fuzzy_distance < 1 || o.fuzzy_distance > 2) throw ConfigError("FullText: fuzzy_distance must be 1 or 2");
    if (o.min_word_length < 1) throw ConfigError("FullText: min_word_length must be at least 1");
    for (auto& [field, w] : o.field_weights)
        if (!(w > 0)) throw ConfigError("FullText: the weight of '" + field + "' must be positive");
    for (auto& [resource, fields] : o.fields)
        if (fields.empty()) throw ConfigError("FullText: no field to index for '" + resource + "'");
}

S3DB_DECL PluginHealth FullText::health() const {
    if (!backend()) return {false, "not installed"};
    return {true, std::to_string(state_->options.fields.size()) + " resources indexed"};
}

S3DB_DECL std::shared_ptr<const FullText::Backend> FullText::backend() const {
    std::shared_lock lock(state_->mutex);
    return state_->backend;
}

S3DB_DECL const std::vector<std::string>* FullText::indexed_fields(std::string_view resource) const {
    auto it = state_->options.fields.find(resource);
    return it == state_->options.fields.end() ? nullptr : &it->second;
}

S3DB_DECL double FullText::weight(std::string_view field) const {
    auto it = state_->options.field_weights.find(field);
    return it == state_->options.field_weights.end() ? 1.0 : it->second;
}

S3DB_DECL std::string FullText::index_prefix(std::string_view resource) const {
    auto b = backend();
    if (!b) throw PluginError(name, "the index is reachable once the plugin is installed (db.connect())");
    return b->storage->plugin_key(resource, state_->options.index_name) + "/";
}

S3DB_DECL std::string FullText::shard_key(std::string_view resource, std::string_view shard) const {
    return index_prefix(resource) + "terms/" + std::string(shard);
}

S3DB_DECL std::string FullText::stats_key(std::string_view resource) const { return index_prefix(resource) + "stats"; }

S3DB_DECL FullText::Cached FullText::load(const std::string& key, bool force) {
    const auto now = std::chrono::steady_clock::now();
    std::optional<Cached> cached;
    {
        std::lock_guard lock(state_->cache_mutex);
        if (auto it = state_->cache.find(key); it != state_->cache.end()) cached = it->second;
    }
    if (cached && !force && now - cached->checked < state_->options.cache_max_age) return *cached;
    auto b = backend();
    Cached fresh;
    fresh.checked = now;
    try {
        auto obj = b->store->get(key, GetOptions{.if_none_match = cached && !cached->etag.empty() ? cached->etag : ""});
        if (obj) {
            fresh.data = std::make_shared<const json>(json::parse(obj->body));
            fresh.etag = obj->info.etag;
            fresh.tokens = std::string(detail::stored_write_tokens(obj->info.metadata));
        }
    } catch (const NotModified&) {
        fresh = *cached;
        fresh.checked = now;
    }
    std::lock_guard lock(state_->cache_mutex);
    state_->cache[key] = fresh;
    return fresh;
}

S3DB_DECL void FullText::change(const std::string& key, const std::function<void(json&)>& fn) {
    auto b = backend();
    Cached current;
    bool known = false;  // cached, absent included: the first PUT goes out without a GET
    {
        std::lock_guard lock(state_->cache_mutex);
        if (auto it = state_->cache.find(key); it != state_->cache.end()) {
            current = it->second;
            known = true;
        }
    }
    if (!known) current = load(key, true);
    for (std::size_t attempt = 1;; ++attempt) {
        const auto round_start = std::chrono::steady_clock::now();
        json next = current.data ? *current.data : json::object();
        fn(next);
        const std::string body = next.dump(-1, ' ', false, json::error_handler_t::replace);
        // A write token, as records carry: after a lost answer it tells whether this write landed,
        // so the stats' counters are never added twice.
        const std::string token = detail::new_write_token();
        try {
            PutOptions po{.content_type = "application/json"};
            detail::stamp_write_tokens(po.metadata, current.tokens, token, s3db_metadata_limit);
            std::string tokens(detail::stored_write_tokens(po.metadata));
            if (current.etag.empty()) po.if_none_match = true;
            else po.if_match = current.etag;
            auto put = b->store->put(key, body, po);
            std::lock_guard lock(state_->cache_mutex);
            state_->cache[key] = Cached{std::make_shared<const json>(std::move(next)), put.etag, std::move(tokens),
                                        std::chrono::steady_clock::now()};
            return;
        } catch (const PreconditionFailed& e) {
            if (attempt >= state_->options.cas_attempts)
                throw PluginError(name, "index object '" + key + "' changed under " + std::to_string(attempt) +
                                            " conditional writes in a row");
            if (!e.after_unanswered_attempt()) {
                // Someone else wrote it: redo on theirs, after a pause that grows with each lost round.
                detail::contention_pause(attempt, std::chrono::microseconds(200), std::chrono::milliseconds(10),
                                         detail::elapsed_since(round_start));
                current = load(key, true);
                continue;
            }
            // Our answer was lost, then the retry found the object changed: did ours land? Read now,
            // while its token is still in the chain.
            const std::string base_newest(detail::newest_write_token(current.tokens));
            const bool created = current.etag.empty();
            current = load(key, true);
            if (detail::has_write_token(current.tokens, token)) return;  // it landed: applied once
            // Not applied when the version it replaced is still in the chain, or the chain is whole
            // from the object's creation without ours; otherwise the store cannot tell.
            const bool not_applied = created ? current.tokens.size() < detail::write_tokens_kept * detail::write_token_size
                                             : !base_newest.empty() && detail::has_write_token(current.tokens, base_newest);
            if (!not_applied)
                throw PluginError(name, "index object '" + key +
                                            "': a write's answer was lost and it cannot be told whether it landed; "
                                            "rebuild_index repairs the index");
        }
    }
}

S3DB_DECL std::vector<std::string> FullText::shards_under(std::string_view resource, std::string_view hex_prefix) {
    auto b = backend();
    const std::string root = index_prefix(resource) + "terms/";
    std::vector<std::string> out;
    ListOptions o{.prefix = root + std::string(hex_prefix)};
    for (;;) {
        auto page = b->store->list(o);
        for (auto& e : page.objects) out.push_back(e.key.substr(root.size()));
        if (!page.truncated()) return out;
        o.continuation_token = page.next_continuation_token;
    }
}

S3DB_DECL std::vector<std::string> FullText::shards_for(std::string_view resource, std::string_view term, bool expand) {
    const auto& o = state_->options;
    const std::size_t points = detail::code_points(term);
    const bool fuzzy = expand && o.fuzzy_search && points >= 4;
    if (fuzzy && o.shard_prefix_length > 1) return shards_under(resource, fulltext::shard_of(term, 1));
    if (expand && o.prefix_search && points < o.shard_prefix_length)
        return shards_under(resource, fulltext::hex(term));
    return {fulltext::shard_of(term, o.shard_prefix_length)};
}

S3DB_DECL FullText::DocIndex FullText::index_of(std::string_view resource, const json& record) const {
    DocIndex out;
    const auto* fields = indexed_fields(resource);
    if (!fields) return out;
    for (const auto& field : *fields) {
        const json* v = detail::fulltext_field(record, field);
        if (!v) continue;
        const auto tokens = state_->tokenizer.tokens(detail::fulltext_text(*v));
        for (auto& t : tokens) ++out.postings[t.term].fields[field];
        out.field_lengths[field] = static_cast<std::uint32_t>(tokens.size());
        out.length += static_cast<std::uint32_t>(tokens.size());
    }
    for (auto& [_, p] : out.postings) p.length = out.length;
    return out;
}

S3DB_DECL void FullText::reindex(std::string_view resource, std::string_view id, const json* before, const json* after) {
    const DocIndex old_doc = before ? index_of(resource, *before) : DocIndex{};
    const DocIndex new_doc = after ? index_of(resource, *after) : DocIndex{};
    const std::size_t plen = state_->options.shard_prefix_length;
    std::map<std::string, std::pair<fulltext::DocPostings, fulltext::DocPostings>> by_shard;  // old, new
    for (auto& [term, p] : old_doc.postings) by_shard[fulltext::shard_of(term, plen)].first.emplace(term, p);
    for (auto& [term, p] : new_doc.postings) by_shard[fulltext::shard_of(term, plen)].second.emplace(term, p);
    auto same = [](const fulltext::DocPostings& a, const fulltext::DocPostings& b) {
        return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](auto& x, auto& y) {
                   return x.first == y.first && x.second.length == y.second.length && x.second.fields == y.second.fields;
               });
    };
    for (auto& [shard, change_of] : by_shard) {
        // Plain references: clang before 16 cannot capture structured bindings in a lambda.
        const auto& old_terms = change_of.first;
        const auto& new_terms = change_of.second;
        if (same(old_terms, new_terms)) continue;
        change(shard_key(resource, shard),
               [&](json& s) { fulltext::apply_document(s, id, old_terms, new_terms); });
    }
    const int docs = (after ? 1 : 0) - (before ? 1 : 0);
    if (docs == 0 && old_doc.field_lengths == new_doc.field_lengths) return;
    change(stats_key(resource), [&](json& s) {
        s["documents"] = s.value("documents", std::int64_t{0}) + docs;
        s["length"] = s.value("length", std::int64_t{0}) + std::int64_t{new_doc.length} - std::int64_t{old_doc.length};
        json& f = s["fields"];
        if (!f.is_object()) f = json::object();
        for (auto& [field, n] : old_doc.field_lengths) f[field] = f.value(field, std::int64_t{0}) - std::int64_t{n};
        for (auto& [field, n] : new_doc.field_lengths) f[field] = f.value(field, std::int64_t{0}) + std::int64_t{n};
    });
}

S3DB_DECL void FullText::before_replace(OperationContext& ctx) {
    if (!state_->options.enabled || !indexed_fields(ctx.resource)) return;
    auto b = backend();
    if (!b) return;
    std::optional<json> old;
    try {
        auto got = b->get_many(ctx.resource, {ctx.id});
        if (!got.empty()) old = std::move(got[0]);
    } catch (const std::exception&) {
        return;  // a before hook that throws would refuse the replace: after_write reports the gap
    }
    std::lock_guard lock(state_->replaced_mutex);
    const std::string key = std::string(ctx.resource) + "\n" + ctx.id;
    if (old) state_->replaced[key] = std::move(*old);
    else state_->replaced.erase(key);
}

S3DB_DECL void FullText::after_write(const OperationContext& ctx) {
    if (!state_->options.enabled || !indexed_fields(ctx.resource) || !backend()) return;
    if (ctx.operation == "insert") return reindex(ctx.resource, ctx.id, nullptr, &ctx.data);
    if (ctx.operation == "update") return reindex(ctx.resource, ctx.id, ctx.before, &ctx.data);
    if (ctx.operation == "delete") {
        if (ctx.before) reindex(ctx.resource, ctx.id, ctx.before, nullptr);
        return;
    }
    if (ctx.operation == "replace") {
        std::optional<json> old;
        {
            std::lock_guard lock(state_->replaced_mutex);
            auto it = state_->replaced.find(std::string(ctx.resource) + "\n" + ctx.id);
            if (it != state_->replaced.end()) {
                old = std::move(it->second);
                state_->replaced.erase(it);
            }
        }
        reindex(ctx.resource, ctx.id, old ? &*old : nullptr, &ctx.data);
    }
}

S3DB_DECL std::vector<SearchHit> FullText::search(std::string_view resource, std::string_view query,
                                                  const SearchOptions& so) {
    return search_impl(resource, query, so, nullptr);
}

S3DB_DECL std::vector<SearchHit> FullText::search_impl(std::string_view resource, std::string_view query,
                                                       const SearchOptions& so, std::map<std::string, json>* records) {
    const auto& o = state_->options;
    const auto& tok = state_->tokenizer;
    const auto parsed = detail::fulltext_parse_query(query);
    // The query's words and their terms, each once; a phrase's words match exactly.
    struct Word {
        std::string word, term;  // folded, and as indexed
        bool exact = false;
    };
    std::vector<Word> words;
    auto add_word = [&](std::string word, std::string term, bool exact) {
        auto it = std::find_if(words.begin(), words.end(), [&](const Word& x) { return x.term == term; });
        if (it == words.end()) words.push_back({std::move(word), std::move(term), exact});
        else it->exact = it->exact || exact;
    };
    for (auto& w : fulltext::split_words(parsed.loose, tok.options()))
        if (std::string term = tok.term(w.term); !term.empty()) add_word(std::move(w.term), std::move(term), so.exact);
    std::vector<std::vector<std::string>> phrases;  // each phrase's terms, in order
    for (const auto& text : parsed.phrases) {
        std::vector<std::string> terms;
        for (auto& w : fulltext::split_words(text, tok.options()))
            if (std::string term = tok.term(w.term); !term.empty()) {
                terms.push_back(term);
                add_word(std::move(w.term), std::move(term), true);
            }
        if (!terms.empty()) phrases.push_back(std::move(terms));
    }
    if (words.empty()) return {};

    std::map<std::string, std::vector<std::string>> shards_of_word;
    std::map<std::string, std::shared_ptr<const json>> shards;
    for (auto& w : words) {
        const auto& term = w.term;
        auto names = shards_for(resource, term, !w.exact);
        for (auto& n : names)
            if (!shards.contains(n)) shards[n] = load(shard_key(resource, n), false).data;
        shards_of_word[term] = std::move(names);
    }
    const auto stats = load(stats_key(resource), false).data;
    const double documents = stats ? static_cast<double>(stats->value("documents", std::int64_t{0})) : 0.0;
    const double total_length = stats ? static_cast<double>(stats->value("length", std::int64_t{0})) : 0.0;
    const double average = documents > 0 ? total_length / documents : 0.0;
    auto allowed = [&](const std::string& field) {
        return so.fields.empty() || std::find(so.fields.begin(), so.fields.end(), field) != so.fields.end();
    };

    struct Acc {
        std::map<std::string, double> score;  // term -> its BM25 part
        std::uint32_t length = 0;
        std::set<std::string> fields, words, terms;
        std::size_t words_matched = 0;
    };
    std::unordered_map<std::string, Acc> acc;
    for (auto& [word, term, exact] : words) {
        const bool expand = !exact;
        const std::size_t points = detail::code_points(term);
        const std::size_t distance = !(expand && o.fuzzy_search) || points < 4 ? 0 : points < 8 ? 1 : o.fuzzy_distance;
        struct Hit {
            double freq = 0;
            std::uint32_t length = 0;
            std::set<std::string> fields, terms;
        };
        std::map<std::string, Hit> hits;
        auto add = [&](const std::string& candidate, const json& docs, double factor) {
            for (auto& [doc, p] : docs.items()) {
                double freq = 0;
                Hit& h = hits[doc];
                for (auto& [field, tf] : p.at(1).items())
                    if (allowed(field)) {
                        freq += weight(field) * tf.get<double>();
                        h.fields.insert(field);
                    }
                if (freq == 0) continue;
                h.freq += factor * freq;
                h.length = p.at(0).get<std::uint32_t>();
                h.terms.insert(candidate);
            }
        };
        const bool prefix = expand && o.prefix_search;
        for (auto& name : shards_of_word[term]) {
            const auto& shard = shards[name];
            if (!shard || !shard->contains("terms")) continue;
            const auto& all = shard->at("terms").get_ref<const json::object_t&>();
            if (distance) {  // fuzzy: every term of the shard is a candidate
                for (auto& [candidate, docs] : all)
                    if (candidate == term) add(candidate, docs, 1);
                    else if ((prefix && candidate.starts_with(term)) ||
                             fulltext::within_edit_distance(candidate, term, distance))
                        add(candidate, docs, o.expansion_weight);
            } else if (prefix) {  // terms are sorted: the ones term prefixes follow it
                for (auto it = all.lower_bound(term); it != all.end() && it->first.starts_with(term); ++it)
                    add(it->first, it->second, it->first == term ? 1 : o.expansion_weight);
            } else if (auto it = all.find(term); it != all.end()) {
                add(it->first, it->second, 1);
            }
        }
        std::erase_if(hits, [](auto& kv) { return kv.second.freq == 0; });
        const double idf = fulltext::bm25_idf(documents, static_cast<double>(hits.size()));
        for (auto& [doc, h] : hits) {
            Acc& a = acc[doc];
            a.score[term] += fulltext::bm25(idf, h.freq, h.length, average);
            a.length = h.length;
            a.fields.insert(h.fields.begin(), h.fields.end());
            a.terms.insert(h.terms.begin(), h.terms.end());
            a.words.insert(word);
            ++a.words_matched;
        }
    }
    // Every phrase's terms are required; the order is checked on the records of the documents that
    // hold them all (the index has no positions).
    auto has_terms = [](const Acc& a, const std::vector<std::string>& terms) {
        return std::all_of(terms.begin(), terms.end(), [&](const std::string& t) { return a.terms.contains(t); });
    };
    std::erase_if(acc, [&](auto& kv) {
        return !std::all_of(phrases.begin(), phrases.end(), [&](auto& p) { return has_terms(kv.second, p); });
    });
    // A phrase of several words ranks as FTS5 ranks it: as one term, its frequency the times it occurs
    // (weighted per field), its idf from the documents holding it; its words' own parts drop out.
    std::map<std::string, std::vector<double>> phrase_freq;  // document -> per phrase
    if (std::any_of(phrases.begin(), phrases.end(), [](auto& p) { return p.size() > 1; }) && !acc.empty()) {
        std::vector<std::string> ids;
        for (auto& [doc, _] : acc) ids.push_back(doc);
        const auto got = backend()->get_many(resource, ids);
        const auto* configured = indexed_fields(resource);
        const std::vector<std::string> fields = !so.fields.empty() ? so.fields
                                                : configured      ? *configured
                                                                  : std::vector<std::string>{};
        for (std::size_t i = 0; i < ids.size(); ++i) {
            std::vector<double> freq(phrases.size(), 0.0);
            for (std::size_t p = 0; i < got.size() && got[i] && p < phrases.size(); ++p) {
                if (phrases[p].size() == 1) {
                    freq[p] = 1;  // in the postings already
                    continue;
                }
                for (const auto& f : fields)
                    if (const json* v = detail::fulltext_field(*got[i], f))
                        freq[p] += weight(f) * static_cast<double>(detail::fulltext_phrase_count(*v, tok, phrases[p]));
            }
            if (std::any_of(freq.begin(), freq.end(), [](double f) { return f == 0; })) {
                acc.erase(ids[i]);
                continue;
            }
            phrase_freq.emplace(ids[i], std::move(freq));
            if (records) records->emplace(ids[i], *got[i]);
        }
    }
    std::set<std::string> phrase_terms;
    std::vector<double> phrase_idf(phrases.size(), 0.0);
    for (std::size_t p = 0; p < phrases.size(); ++p)
        if (phrases[p].size() > 1) {
            phrase_terms.insert(phrases[p].begin(), phrases[p].end());
            phrase_idf[p] = fulltext::bm25_idf(documents, static_cast<double>(phrase_freq.size()));
        }

    std::vector<SearchHit> out;
    for (auto& [doc, a] : acc) {
        if (so.match_all && a.words_matched < words.size()) continue;
        double score = 0;
        for (auto& [term, part] : a.score)
            if (!phrase_terms.contains(term)) score += part;
        if (auto it = phrase_freq.find(doc); it != phrase_freq.end())
            for (std::size_t p = 0; p < phrases.size(); ++p)
                if (phrases[p].size() > 1) score += fulltext::bm25(phrase_idf[p], it->second[p], a.length, average);
        out.push_back({doc, score, 0, {a.fields.begin(), a.fields.end()}, {a.words.begin(), a.words.end()}, std::move(a.terms)});
    }
    std::sort(out.begin(), out.end(), [](auto& x, auto& y) { return x.score != y.score ? x.score > y.score : x.id < y.id; });
    const double best = out.empty() ? 0 : out.front().score;
    for (auto& h : out) h.normalized_score = best > 0 ? h.score / best : 0;
    const std::size_t limit = so.limit ? so.limit : o.max_results;
    if (so.offset >= out.size()) return {};
    out.erase(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(so.offset));
    if (out.size() > limit) out.resize(limit);
    return out;
}

S3DB_DECL std::vector<json> FullText::search_records(std::string_view resource, std::string_view query,
                                                     const SearchOptions& so) {
    std::map<std::string, json> read;  // records a phrase check read already
    auto hits = search_impl(resource, query, so, &read);
    std::vector<std::string> ids;
    for (auto& h : hits)
        if (!read.contains(h.id)) ids.push_back(h.id);
    auto got = backend()->get_many(resource, ids);
    for (std::size_t i = 0; i < ids.size() && i < got.size(); ++i)
        if (got[i]) read.emplace(ids[i], std::move(*got[i]));
    std::vector<json> out;
    for (std::size_t i = 0; i < hits.size(); ++i) {
        auto found = read.find(hits[i].id);
        if (found == read.end()) continue;  // deleted since it was indexed
        json r = std::move(found->second);
        const auto& h = hits[i];
        json highlights = json::object();
        for (auto& field : h.matched_fields)
            if (const json* v = detail::fulltext_field(r, field)) {
                auto text = detail::fulltext_text(*v);
                auto marked = fulltext::highlight(
                    text, state_->tokenizer, [&](std::string_view t) { return h.matched_terms.contains(std::string(t)); },
                    state_->options.highlight);
                if (!marked.empty()) highlights[field] = std::move(marked);
            }
        r["_searchScore"] = h.normalized_score;
        r["_matchedFields"] = h.matched_fields;
        r["_matchedWords"] = h.matched_words;
        r["_highlights"] = std::move(highlights);
        out.push_back(std::move(r));
    }
    return out;
}

S3DB_DECL std::vector<std::string> FullText::suggest(std::string_view resource, std::string_view prefix, std::size_t limit) {
    auto words = fulltext::split_words(prefix, state_->tokenizer.options());
    if (words.size() != 1) return {};
    const std::string& p = words[0].term;
    const auto& o = state_->options;
    std::vector<std::string> names = detail::code_points(p) < o.shard_prefix_length
                                         ? shards_under(resource, fulltext::hex(p))
                                         : std::vector<std::string>{fulltext::shard_of(p, o.shard_prefix_length)};
    std::vector<std::pair<std::size_t, std::string>> found;
    for (auto& n : names) {
        auto shard = load(shard_key(resource, n), false).data;
        if (!shard || !shard->contains("terms")) continue;
        for (auto& [term, docs] : shard->at("terms").items())
            if (term.starts_with(p)) found.emplace_back(docs.size(), term);
    }
    std::sort(found.begin(), found.end(), [](auto& a, auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
    std::vector<std::string> out;
    for (auto& [_, term] : found) {
        if (out.size() >= limit) break;
        out.push_back(term);
    }
    return out;
}

S3DB_DECL std::size_t FullText::clear_index(std::string_view resource) {
    auto b = backend();
    const std::string prefix = index_prefix(resource);
    const std::size_t removed = b->storage->remove_prefix(state_->options.index_name + "/", resource);
    std::lock_guard lock(state_->cache_mutex);
    for (auto it = state_->cache.lower_bound(prefix); it != state_->cache.end() && it->first.starts_with(prefix);)
        it = state_->cache.erase(it);
    return removed;
}

S3DB_DECL std::size_t FullText::rebuild_index(std::string_view resource) {
    if (!indexed_fields(resource)) throw PluginError(name, "'" + std::string(resource) + "' has no indexed fields");
    auto b = backend();
    clear_index(resource);
    const auto records = b->list_all(resource);
    const std::size_t plen = state_->options.shard_prefix_length;
    std::map<std::string, std::map<std::string, fulltext::DocPostings>> by_shard;  // shard -> doc -> postings
    std::int64_t length = 0;
    std::map<std::string, std::int64_t> field_lengths;
    for (auto& r : records) {
        const std::string id = r.value("id", std::string{});
        auto doc = index_of(resource, r);
        for (auto& [term, p] : doc.postings) by_shard[fulltext::shard_of(term, plen)][id].emplace(term, p);
        length += doc.length;
        for (auto& [f, n] : doc.field_lengths) field_lengths[f] += n;
    }
    for (auto& entry : by_shard) {
        const auto& docs = entry.second;  // not a structured binding: captured below (clang < 16)
        change(shard_key(resource, entry.first), [&](json& s) {
            for (auto& [id, postings] : docs) fulltext::apply_document(s, id, {}, postings);
        });
    }
    change(stats_key(resource), [&](json& s) {
        s["documents"] = s.value("documents", std::int64_t{0}) + static_cast<std::int64_t>(records.size());
        s["length"] = s.value("length", std::int64_t{0}) + length;
        json& f = s["fields"];
        if (!f.is_object()) f = json::object();
        for (auto& [field, n] : field_lengths) f[field] = f.value(field, std::int64_t{0}) + n;
    });
    return records.size();
}

S3DB_DECL FullTextIndexStats FullText::index_stats(std::string_view resource) {
    FullTextIndexStats out;
    const auto stats = load(stats_key(resource), true).data;
    if (stats) {
        out.documents = static_cast<std::uint64_t>(std::max<std::int64_t>(0, stats->value("documents", std::int64_t{0})));
        if (out.documents && stats->contains("fields"))
            for (auto& [field, n] : stats->at("fields").items())
                out.average_field_length[field] = n.get<double>() / static_cast<double>(out.documents);
    }
    auto b = backend();
    const std::string root = index_prefix(resource) + "terms/";
    ListOptions lo{.prefix = root};
    for (;;) {
        auto page = b->store->list(lo);
        for (auto& e : page.objects) {
            ++out.shards;
            out.bytes += e.size;
            if (auto shard = load(e.key, true).data; shard && shard->contains("terms")) out.terms += shard->at("terms").size();
        }
        if (!page.truncated()) break;
        lo.continuation_token = page.next_continuation_token;
    }
    return out;
}

}  // namespace s3db
#endif  // S3DB_DEFINE_BODIES
