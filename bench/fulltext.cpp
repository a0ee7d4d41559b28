// FullText against SQLite FTS5 on a real corpus: the package descriptions apt knows
// (`apt-cache dumpavail`, tens of thousands of documents: name + description). Prints, never asserts:
//   - overlap@10 of our top 10 with FTS5's bm25() top 10, per query and on average, with stemming
//     off, no stop words, minimum word length 1, equal field weights and every word required (FTS5's
//     implicit AND), so both rank the same documents by the same formula;
//   - the same for phrases: every multi-word query quoted, on both sides (FTS5's phrase query), with
//     the records read per phrase search (the index has no positions: the order is checked on the
//     records holding every word);
//   - index build rate: incremental (each insert indexed as it is written) and rebuild_index;
//   - requests per cold search (GETs and LISTs, and the shards the query touches);
//   - warm search latency p50 / p99 over the whole corpus, in process (Memory store), revalidating
//     the shards (conditional GETs) and with a fresh cache (no request).
//
//   build/bench/fulltext [--docs N] [--incremental N]

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "s3db/core/database.hpp"
#include "s3db/plugins/fulltext.hpp"
#include "s3db/transport/counting.hpp"
#include "s3db/transport/memory.hpp"

using namespace s3db;
using Clock = std::chrono::steady_clock;

namespace {

struct Doc {
    std::string name, description;
};

/// Package name and full description of every package apt knows, first occurrence of each name.
std::vector<Doc> apt_corpus(std::size_t limit) {
    std::vector<Doc> docs;
    FILE* p = popen("apt-cache dumpavail 2>/dev/null", "r");
    if (!p) return docs;
    std::set<std::string> seen;
    Doc cur;
    bool in_description = false;
    char* line = nullptr;
    std::size_t cap = 0;
    auto flush = [&] {
        if (!cur.name.empty() && !cur.description.empty() && seen.insert(cur.name).second) docs.push_back(cur);
        cur = {};
        in_description = false;
    };
    while (getline(&line, &cap, p) > 0 && docs.size() < limit) {
        std::string l(line);
        if (!l.empty() && l.back() == '\n') l.pop_back();
        if (l.empty()) flush();
        else if (l.starts_with("Package: ")) cur.name = l.substr(9);
        else if (l.starts_with("Description: ")) {
            cur.description = l.substr(13);
            in_description = true;
        } else if (in_description && (l[0] == ' ' || l[0] == '\t')) {
            if (l != " .") cur.description += "\n" + l.substr(1);
        } else in_description = false;
    }
    flush();
    free(line);
    pclose(p);
    return docs;
}

double percentile(std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))];
}

/// FTS5's top 10 (id, -bm25) for `words` (all required; as one phrase when `phrase`), best first,
/// by bm25() with equal weights.
std::vector<std::pair<std::string, double>> fts5_top10(sqlite3* db, const std::vector<std::string>& words,
                                                       bool phrase = false) {
    std::string match;
    for (auto& w : words) match += (match.empty() ? "\"" : phrase ? " " : "\" \"") + w;
    if (!match.empty()) match += "\"";
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "SELECT id, bm25(docs) FROM docs WHERE docs MATCH ?1 ORDER BY bm25(docs), rowid LIMIT 10", -1, &st, nullptr);
    sqlite3_bind_text(st, 1, match.c_str(), -1, SQLITE_TRANSIENT);
    std::vector<std::pair<std::string, double>> out;
    while (sqlite3_step(st) == SQLITE_ROW)
        out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), -sqlite3_column_double(st, 1));
    sqlite3_finalize(st);
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    std::size_t max_docs = 100000, incremental = 2000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--docs")) max_docs = std::strtoull(argv[i + 1], nullptr, 10);
        if (!std::strcmp(argv[i], "--incremental")) incremental = std::strtoull(argv[i + 1], nullptr, 10);
    }
    const auto docs = apt_corpus(max_docs);
    std::printf("corpus: %zu package descriptions (apt-cache dumpavail)\n", docs.size());
    if (docs.size() < 100) {
        std::printf("too few documents: is apt's package list there (apt-get update)?\n");
        return 0;
    }
    const FullTextOptions options{.fields = {{"packages", {"name", "description"}}},
                                  .min_word_length = 1,
                                  .remove_stop_words = false,
                                  .prefix_search = false};
    const ResourceConfig packages{.name = "packages",
                                  .attributes = {{"name", "string"}, {"description", "string"}},
                                  .behavior = "body-only"};
    // Ids in rowid order (zero-padded), so documents of equal score come in the same order from both.
    auto id_of = [](std::size_t i) {
        std::string n = std::to_string(i);
        return "p" + std::string(7 - n.size(), '0') + n;
    };
    auto record = [&](std::size_t i) { return json{{"id", id_of(i)}, {"name", docs[i].name}, {"description", docs[i].description}}; };

    // Incremental: every insert indexed as it is written.
    {
        BasicDatabase<Memory, FullText> db(Memory{}, {}, FullText(options));
        db.connect();
        auto& r = db.create_resource(packages);
        const std::size_t n = std::min(incremental, docs.size());
        const auto t0 = Clock::now();
        for (std::size_t i = 0; i < n; ++i) r.insert(record(i));
        const double s = std::chrono::duration<double>(Clock::now() - t0).count();
        std::printf("incremental indexing: %zu inserts in %.2f s = %.0f docs/s (record + shards + stats by CAS)\n", n, s, n / s);
    }

    Memory bucket;
    {
        FullTextOptions off = options;
        off.enabled = false;
        BasicDatabase<Memory, FullText> db(bucket, {}, FullText(off));
        db.connect();
        auto& r = db.create_resource(packages);
        for (std::size_t i = 0; i < docs.size(); ++i) r.insert(record(i));
    }
    BasicDatabase<Counting<Memory>, FullText> db(Counting<Memory>(bucket), {}, FullText(options));
    db.connect();
    auto& ft = db.plugin<FullText>();
    {
        const auto t0 = Clock::now();
        const auto n = ft.rebuild_index("packages");
        const double s = std::chrono::duration<double>(Clock::now() - t0).count();
        auto stats = ft.index_stats("packages");
        std::printf("rebuild_index: %zu docs in %.2f s = %.0f docs/s (listing and reading the records included); "
                    "%llu terms in %llu shards, %.1f MB\n",
                    n, s, n / s, static_cast<unsigned long long>(stats.terms), static_cast<unsigned long long>(stats.shards),
                    static_cast<double>(stats.bytes) / 1e6);
    }

    sqlite3* sq = nullptr;
    sqlite3_open(":memory:", &sq);
    sqlite3_exec(sq, "CREATE VIRTUAL TABLE docs USING fts5(id UNINDEXED, name, description, tokenize = 'unicode61 remove_diacritics 2')",
                 nullptr, nullptr, nullptr);
    sqlite3_exec(sq, "BEGIN", nullptr, nullptr, nullptr);
    {
        sqlite3_stmt* st = nullptr;
        sqlite3_prepare_v2(sq, "INSERT INTO docs(id, name, description) VALUES (?1, ?2, ?3)", -1, &st, nullptr);
        for (std::size_t i = 0; i < docs.size(); ++i) {
            const std::string id = id_of(i);
            sqlite3_bind_text(st, 1, id.c_str(), -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 2, docs[i].name.c_str(), -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 3, docs[i].description.c_str(), -1, SQLITE_TRANSIENT);
            sqlite3_step(st);
            sqlite3_reset(st);
        }
        sqlite3_finalize(st);
    }
    sqlite3_exec(sq, "COMMIT", nullptr, nullptr, nullptr);

    const std::vector<std::string> queries{
        "python library", "web server", "font", "database", "image processing", "network monitoring tool",
        "compression", "game", "kernel module", "documentation", "perl module", "xml parser", "audio player",
        "video editor", "ssl", "encryption", "json", "haskell", "rust crate", "java", "gnome desktop",
        "qt widgets", "command line", "bluetooth", "printer driver", "sql", "http client", "mathematics",
        "scientific computing", "terminal emulator", "debug symbols", "transitional package", "emacs",
        "ruby gem", "machine learning", "spell checker", "pdf viewer", "email client", "backup", "firewall"};
    const auto& tok = ft.tokenizer();
    // overlap@10 with FTS5 over `qs`; as phrases: every query quoted on both sides.
    auto compare = [&](const std::vector<std::string>& qs, bool phrase) {
        double overlap_sum = 0, max_score_error = 0;
        std::size_t compared = 0;
        const auto before = db.transport().counts();
        for (auto& q : qs) {
            std::vector<std::string> words;
            for (auto& t : tok.tokens(q)) words.push_back(t.term);
            auto theirs = fts5_top10(sq, words, phrase);
            auto ours = ft.search("packages", phrase ? "\"" + q + "\"" : q, {.limit = 10, .exact = true, .match_all = true});
            std::set<std::string> a;
            for (auto& [id, _] : theirs) a.insert(id);
            if (!theirs.empty() && !ours.empty() && ours[0].id == theirs[0].first)
                max_score_error = std::max(max_score_error, std::abs(ours[0].score - theirs[0].second) / theirs[0].second);
            std::size_t common = 0;
            for (auto& h : ours) common += a.count(h.id);
            const std::size_t denominator = std::max<std::size_t>(1, std::min<std::size_t>(10, theirs.size()));
            const double overlap = theirs.empty() && ours.empty() ? 1.0 : static_cast<double>(common) / denominator;
            overlap_sum += overlap;
            ++compared;
            std::printf("  %s%-26s overlap@10 %.1f (fts5 %zu, ours %zu)\n", phrase ? "phrase " : "", q.c_str(), overlap,
                        theirs.size(), ours.size());
        }
        std::printf("overlap@10 with FTS5 bm25()%s: %.3f over %zu queries; top-1 score vs -bm25(): largest relative "
                    "difference %.2g\n", phrase ? " on phrases" : "", overlap_sum / compared, compared, max_score_error);
        std::printf("  %.1f GETs per query (shards revalidated + the stats%s)\n",
                    static_cast<double>(db.transport().counts().get - before.get) / compared,
                    phrase ? " + the records read to check the order" : "");
    };
    compare(queries, false);
    std::vector<std::string> phrases;
    for (auto& q : queries)
        if (q.find(' ') != std::string::npos) phrases.push_back(q);
    compare(phrases, true);

    // Requests per cold search: a new database (empty cache) per query.
    {
        std::uint64_t gets = 0, lists = 0, total = 0;
        for (auto& q : queries) {
            BasicDatabase<Counting<Memory>, FullText> cold(Counting<Memory>(bucket), {}, FullText(options));
            cold.connect();
            const auto before = cold.transport().counts();
            cold.plugin<FullText>().search("packages", q, {.exact = true});
            const auto after = cold.transport().counts();
            gets += after.get - before.get;
            lists += after.list - before.list;
            total += after.total() - before.total();
        }
        std::printf("cold search: %.2f GETs, %.2f LISTs, %.2f requests per query (shards touched + 1 stats)\n",
                    static_cast<double>(gets) / queries.size(), static_cast<double>(lists) / queries.size(),
                    static_cast<double>(total) / queries.size());
    }

    auto latency = [&](FullText& f, const char* label) {
        std::vector<double> ms;
        for (int round = 0; round < 10; ++round)
            for (auto& q : queries) {
                const auto t0 = Clock::now();
                f.search("packages", q, {.limit = 10});
                ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
            }
        std::printf("warm search %s over %zu docs: p50 %.2f ms, p99 %.2f ms\n", label, docs.size(), percentile(ms, 0.5),
                    percentile(ms, 0.99));
    };
    for (auto& q : queries) ft.search("packages", q, {.limit = 10});  // warm the cache
    latency(ft, "(revalidated: conditional GETs)");
    FullTextOptions fresh = options;
    fresh.cache_max_age = std::chrono::hours(1);
    BasicDatabase<Memory, FullText> cached(bucket, {}, FullText(fresh));
    cached.connect();
    for (auto& q : queries) cached.plugin<FullText>().search("packages", q, {.limit = 10});
    latency(cached.plugin<FullText>(), "(cache within cache_max_age: no request)");
    sqlite3_close(sq);
}
