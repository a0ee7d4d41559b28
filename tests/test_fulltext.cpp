// The FullText plugin: the tokenizer (folding across scripts, stop words, lengths), Porter2 against
// Snowball's own output, BM25 against hand-computed scores, ranking, prefix and fuzzy matching,
// highlights, postings removed by updates, replaces and deletes, two "processes" indexing into one
// bucket at once (Memory and Filesystem) without losing a posting, requests per search, and an index
// a new database finds without a rebuild.

#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "s3db/core/database.hpp"
#include "s3db/plugins/fulltext.hpp"
#include "s3db/plugins/fulltext/porter2.hpp"
#include "s3db/transport/counting.hpp"
#include "s3db/transport/faulty.hpp"
#include "s3db/transport/filesystem.hpp"
#include "s3db/transport/memory.hpp"
#include "s3db/transport/retry.hpp"
#include "support/stores.hpp"

using namespace s3db;
using fulltext::Token;
using fulltext::Tokenizer;

namespace {

std::vector<std::string> terms(const Tokenizer& t, std::string_view text) {
    std::vector<std::string> out;
    for (auto& tok : t.tokens(text)) out.push_back(tok.term);
    return out;
}

ResourceConfig articles_config() {
    return {.name = "articles",
            .attributes = {{"title", "string"}, {"body", "string|optional"}},
            .behavior = "body-overflow"};
}

FullTextOptions article_index(FullTextOptions o = {}) {
    if (o.fields.empty()) o.fields = {{"articles", {"title", "body"}}};
    return o;
}

std::vector<std::string> ids_of(const std::vector<SearchHit>& hits) {
    std::vector<std::string> out;
    for (auto& h : hits) out.push_back(h.id);
    return out;
}

using MemDb = BasicDatabase<Counting<Memory>, FullText>;

/// A database on a copy of `store` (a second process on the same bucket), connected, with articles.
template <class Db, class Store>
std::unique_ptr<Db> open(Store store, FullTextOptions o = {}) {
    auto db = std::make_unique<Db>(std::move(store), DatabaseOptions{}, FullText(article_index(std::move(o))));
    db->connect();
    if (!db->has_resource("articles")) db->create_resource(articles_config());
    return db;
}

}  // namespace

// ---- tokenizer ----------------------------------------------------------------------------------------

TEST(FullTextTokenizer, FoldsCaseAndAccentsInLatinGreekAndCyrillic) {
    Tokenizer t({.min_word_length = 1, .stop_words = false});
    EXPECT_EQ(terms(t, "Ünïcode ÇAFÉ Straße ΣΟΦΊΑ Москва Ёлка Łódź ŒUVRE"),
              (std::vector<std::string>{"unicode", "cafe", "strasse", "σοφια", "москва", "елка", "lodz", "oeuvre"}));
    Tokenizer keep({.min_word_length = 1, .accent_folding = false, .stop_words = false});
    EXPECT_EQ(terms(keep, "ÇAFÉ ΣΟΦΊΑ ΟΔΟΣ Straße"), (std::vector<std::string>{"çafé", "σοφία", "οδοσ", "straße"}));
    Tokenizer cased({.min_word_length = 1, .case_sensitive = true, .accent_folding = false, .stop_words = false});
    EXPECT_EQ(terms(cased, "Café CAFÉ"), (std::vector<std::string>{"Café", "CAFÉ"}));
}

TEST(FullTextTokenizer, SplitsOnPunctuationAndKeepsByteSpans) {
    Tokenizer t({.min_word_length = 1, .stop_words = false});
    const std::string text = "«Crème-brûlée», it's 42€ — done";
    auto toks = t.tokens(text);
    ASSERT_EQ(toks.size(), 6u);
    EXPECT_EQ(toks[0].term, "creme");
    EXPECT_EQ(toks[1].term, "brulee");
    EXPECT_EQ(text.substr(toks[1].begin, toks[1].end - toks[1].begin), "brûlée");
    EXPECT_EQ(toks[2].term, "it");
    EXPECT_EQ(toks[3].term, "s");  // the apostrophe splits, as in FTS5's unicode61
    EXPECT_EQ(toks[4].term, "42");
    EXPECT_EQ(toks[5].term, "done") << "€ and — separate words";
}

TEST(FullTextTokenizer, MinimumLengthStopWordsAndCustomLists) {
    Tokenizer t(TokenizerOptions{});  // min 3, English stop words
    EXPECT_EQ(terms(t, "The cat and an ox sat on THE mat"), (std::vector<std::string>{"cat", "sat", "mat"}));
    Tokenizer all({.min_word_length = 2, .stop_words = false});
    EXPECT_EQ(terms(all, "The cat and an ox"), (std::vector<std::string>{"the", "cat", "and", "an", "ox"}));
    Tokenizer custom({.min_word_length = 1, .stop_word_list = {"Cat", "ÉTÉ"}});
    EXPECT_EQ(terms(custom, "the cat été dog"), (std::vector<std::string>{"the", "dog"}));
    Tokenizer cased({.min_word_length = 1, .case_sensitive = true});
    EXPECT_EQ(terms(cased, "The Dog"), (std::vector<std::string>{"Dog"})) << "stop words match whatever the case";
    Tokenizer stem({.min_word_length = 1, .stemming = true});
    EXPECT_EQ(terms(stem, "Running dogs were jumping"), (std::vector<std::string>{"run", "dog", "jump"}));
}

// ---- Porter2 ------------------------------------------------------------------------------------------

TEST(FullTextPorter2, MatchesSnowballEnglish) {
    // Snowball's own output (libstemmer 2.2 "english") for these words.
    const std::vector<std::pair<std::string, std::string>> pairs{
        {"consign", "consign"}, {"consigned", "consign"}, {"consigning", "consign"}, {"consignment", "consign"},
        {"consist", "consist"}, {"consisted", "consist"}, {"consistency", "consist"}, {"consistent", "consist"},
        {"consistently", "consist"}, {"consisting", "consist"}, {"consists", "consist"}, {"consolation", "consol"},
        {"consolations", "consol"}, {"consolatory", "consolatori"}, {"console", "consol"}, {"consoled", "consol"},
        {"consolidate", "consolid"}, {"consolidating", "consolid"}, {"consolingly", "consol"}, {"consonant", "conson"},
        {"conspicuous", "conspicu"}, {"conspicuously", "conspicu"}, {"conspiracy", "conspiraci"},
        {"conspirators", "conspir"}, {"conspiring", "conspir"}, {"constable", "constabl"}, {"constancy", "constanc"},
        {"constant", "constant"}, {"knackeries", "knackeri"}, {"knaves", "knave"}, {"kneaded", "knead"},
        {"knightly", "knight"}, {"caresses", "caress"}, {"ponies", "poni"}, {"ties", "tie"}, {"cries", "cri"},
        {"gaps", "gap"}, {"gas", "gas"}, {"kiwis", "kiwi"}, {"running", "run"}, {"hopping", "hop"},
        {"hoped", "hope"}, {"generously", "generous"}, {"generate", "generat"}, {"communism", "communism"},
        {"arsenal", "arsenal"}, {"skies", "sky"}, {"dying", "die"}, {"news", "news"}, {"succeeded", "succeed"},
        {"proceeding", "proceed"}, {"innings", "inning"}, {"happily", "happili"}, {"relational", "relat"},
        {"conditional", "condit"}, {"rational", "ration"}, {"hesitanci", "hesit"}, {"digitizer", "digit"},
        {"differentli", "differ"}, {"analogousli", "analog"}, {"vietnamization", "vietnam"}, {"operator", "oper"},
        {"feudalism", "feudal"}, {"decisiveness", "decis"}, {"hopefulness", "hope"}, {"callousness", "callous"},
        {"sensibiliti", "sensibl"}, {"triplicate", "triplic"}, {"formative", "format"}, {"electrical", "electr"},
        {"goodness", "good"}, {"allowance", "allow"}, {"airliner", "airlin"}, {"adjustable", "adjust"},
        {"defensible", "defens"}, {"replacement", "replac"}, {"dependent", "depend"}, {"adoption", "adopt"},
        {"homologous", "homolog"}, {"effective", "effect"}, {"bowdlerize", "bowdler"}, {"probate", "probat"},
        {"rate", "rate"}, {"cease", "ceas"}, {"controll", "control"}, {"roll", "roll"}, {"flies", "fli"},
        {"flying", "fli"}, {"cry", "cri"}, {"say", "say"}, {"by", "by"}, {"abatement", "abat"},
    };
    for (auto& [word, stem] : pairs) EXPECT_EQ(fulltext::porter2_stem(word), stem) << word;
    EXPECT_EQ(fulltext::porter2_stem("naïve"), "naïve") << "non-ASCII words are kept";
    EXPECT_EQ(fulltext::porter2_stem("mp3s"), "mp3s");
}

// ---- index primitives ---------------------------------------------------------------------------------

TEST(FullTextIndex, EditDistanceAndShardNames) {
    EXPECT_TRUE(fulltext::within_edit_distance("machine", "machne", 1));
    EXPECT_TRUE(fulltext::within_edit_distance("machine", "mahcine", 2));
    EXPECT_FALSE(fulltext::within_edit_distance("machine", "mahcine", 1));
    EXPECT_TRUE(fulltext::within_edit_distance("café", "cafe", 1)) << "code points, not bytes";
    EXPECT_FALSE(fulltext::within_edit_distance("cat", "category", 2));
    EXPECT_EQ(fulltext::shard_of("machine", 2), "6d61");
    EXPECT_EQ(fulltext::shard_of("élan", 1), "c3a9");
    EXPECT_EQ(fulltext::shard_of("a", 2), "61");
}

// ---- ranking ------------------------------------------------------------------------------------------

TEST(FullText, Bm25ScoreEqualsTheHandComputedValue) {
    auto db = open<MemDb>(Counting<Memory>(test::make_store<Memory>()),
                          {.fields = {{"articles", {"title"}}}, .min_word_length = 1, .remove_stop_words = false});
    auto& a = db->resource("articles");
    a.insert({{"id", "d1"}, {"title", "apple banana apple"}});
    a.insert({{"id", "d2"}, {"title", "banana cherry"}});
    a.insert({{"id", "d3"}, {"title", "cherry date elderberry fig"}});
    auto& ft = db->plugin<FullText>();
    // N = 3, average length 9/3 = 3. "apple": n = 1, idf = ln(2.5/1.5); d1: tf 2, length 3.
    auto apple = ft.search("articles", "apple", {.exact = true});
    ASSERT_EQ(apple.size(), 1u);
    EXPECT_NEAR(apple[0].score, std::log(2.5 / 1.5) * (2 * 2.2) / (2 + 1.2 * 1.0), 1e-12);
    EXPECT_NEAR(apple[0].score, 0.7023852326782372, 1e-12);
    // "date": d3, tf 1, length 4: 2.2 / (1 + 1.2 * (0.25 + 0.75 * 4/3)) = 0.88.
    auto date = ft.search("articles", "date", {.exact = true});
    ASSERT_EQ(date.size(), 1u);
    EXPECT_NEAR(date[0].score, 0.5108256237659907 * 0.88, 1e-12);
    // "banana" is in 2 of 3 documents: idf is floored at 1e-6 (as FTS5), d1 and d2 still both match.
    auto banana = ft.search("articles", "banana", {.exact = true});
    EXPECT_EQ(ids_of(banana), (std::vector<std::string>{"d2", "d1"})) << "the shorter document first";
    EXPECT_NEAR(banana[0].score, 1e-6 * 2.2 / (1 + 1.2 * (0.25 + 0.75 * 2.0 / 3)), 1e-15);
}

TEST(FullText, APhraseScoresAsOneTermAsFts5Does) {
    auto db = open<MemDb>(Counting<Memory>(test::make_store<Memory>()),
                          {.fields = {{"articles", {"title"}}}, .min_word_length = 1, .remove_stop_words = false});
    auto& a = db->resource("articles");
    a.insert({{"id", "once"}, {"title", "red apple pie"}});
    a.insert({{"id", "reversed"}, {"title", "apple red"}});
    a.insert({{"id", "twice"}, {"title", "red apple red apple"}});
    for (auto& [id, title] : {std::pair{"d", "green pear"}, {"e", "blue plum"}, {"f", "yellow lemon"}})
        a.insert({{"id", id}, {"title", title}});
    // N = 6, average length 15/6 = 2.5. The phrase is in 2 documents: idf = ln(4.5/2.5); "twice": tf 2,
    // length 4; "once": tf 1, length 3. The words' own idf (3 documents hold each) plays no part.
    auto hits = db->plugin<FullText>().search("articles", "\"red apple\"");
    ASSERT_EQ(ids_of(hits), (std::vector<std::string>{"twice", "once"}));
    const double idf = std::log(4.5 / 2.5);
    EXPECT_NEAR(hits[0].score, idf * 2 * 2.2 / (2 + 1.2 * (0.25 + 0.75 * 4 / 2.5)), 1e-12);
    EXPECT_NEAR(hits[1].score, idf * 2.2 / (1 + 1.2 * (0.25 + 0.75 * 3 / 2.5)), 1e-12);
}

TEST(FullText, FieldWeightsAndFrequencyRankResults) {
    auto db = open<MemDb>(Counting<Memory>(test::make_store<Memory>()), {.field_weights = {{"title", 5.0}}});
    // Bread in the title (weight 5) beats twice in a shorter body, which beats once: BM25 with
    // N = 4, average length 19/4 (stop words aside) gives 1.66, 1.44 and 0.98 (times the idf).
    auto& a = db->resource("articles");
    a.insert({{"id", "body-once"}, {"title", "Cooking at home"}, {"body", "a recipe for bread and soup"}});
    a.insert({{"id", "title"}, {"title", "Bread baking basics"}, {"body", "flour water salt yeast"}});
    a.insert({{"id", "body-twice"}, {"title", "Weekend notes"}, {"body", "bread again, more bread"}});
    a.insert({{"id", "none"}, {"title", "Gardening"}, {"body", "tomatoes and basil"}});
    auto& ft = db->plugin<FullText>();
    auto hits = ft.search("articles", "bread");
    EXPECT_EQ(ids_of(hits), (std::vector<std::string>{"title", "body-twice", "body-once"}));
    EXPECT_DOUBLE_EQ(hits[0].normalized_score, 1.0);
    EXPECT_GT(hits[2].normalized_score, 0.0);
    EXPECT_LT(hits[2].normalized_score, hits[1].normalized_score);
    // Restricted to the body, the title match is gone.
    EXPECT_EQ(ids_of(ft.search("articles", "bread", {.fields = {"body"}})),
              (std::vector<std::string>{"body-twice", "body-once"}));
    // limit / offset page through the same order.
    EXPECT_EQ(ids_of(ft.search("articles", "bread", {.limit = 1, .offset = 1})), (std::vector<std::string>{"body-twice"}));
    EXPECT_TRUE(ft.search("articles", "bread", {.offset = 3}).empty());
    // Any word matches by default; match_all wants every word.
    EXPECT_EQ(ft.search("articles", "bread tomatoes").size(), 4u);
    EXPECT_EQ(ids_of(ft.search("articles", "bread salt", {.match_all = true})), (std::vector<std::string>{"title"}));
    // Only stop words or short words: nothing to search.
    EXPECT_TRUE(ft.search("articles", "the and of").empty());
}

TEST(FullText, PrefixFuzzyAndExactMatching) {
    auto db = open<MemDb>(Counting<Memory>(test::make_store<Memory>()), {.fuzzy_search = true});
    auto& a = db->resource("articles");
    a.insert({{"id", "ml"}, {"title", "Machine learning"}});
    a.insert({{"id", "mac"}, {"title", "Macintosh history"}});
    a.insert({{"id", "mach"}, {"title", "Mach numbers in aerodynamics"}});
    auto& ft = db->plugin<FullText>();
    auto prefix = ft.search("articles", "mach");
    EXPECT_EQ(ids_of(prefix), (std::vector<std::string>{"mach", "ml"})) << "the exact term outranks the prefix match";
    EXPECT_EQ(ids_of(ft.search("articles", "mach", {.exact = true})), (std::vector<std::string>{"mach"}));
    EXPECT_EQ(ids_of(ft.search("articles", "machne")), (std::vector<std::string>{"ml"})) << "one edit";
    EXPECT_EQ(ids_of(ft.search("articles", "lerning")), (std::vector<std::string>{"ml"}));
    EXPECT_TRUE(ft.search("articles", "machne", {.exact = true}).empty());

    auto wide = open<MemDb>(Counting<Memory>(test::make_store<Memory>()), {.shard_prefix_length = 4});
    for (auto& [id, title] : {std::pair{"ml", "Machine learning"}, {"mac", "Macintosh history"}, {"mach", "Mach 3"}})
        wide->resource("articles").insert({{"id", id}, {"title", title}});
    const auto lists = wide->transport().counts().list;
    EXPECT_EQ(ids_of(wide->plugin<FullText>().search("articles", "mac")), (std::vector<std::string>{"mach", "mac", "ml"}))
        << "a word shorter than the shard prefix lists the shards it spans; all prefix matches, the shortest record first";
    EXPECT_EQ(wide->transport().counts().list - lists, 1u);
    EXPECT_TRUE(ft.search("articles", "ma").empty()) << "query words shorter than min_word_length are dropped";

    auto strict = open<MemDb>(Counting<Memory>(test::make_store<Memory>()), {.prefix_search = false});
    strict->resource("articles").insert({{"id", "ml"}, {"title", "Machine learning"}});
    EXPECT_TRUE(strict->plugin<FullText>().search("articles", "mach").empty());
    EXPECT_TRUE(strict->plugin<FullText>().search("articles", "machne").empty()) << "fuzzy is off by default";
}

TEST(FullText, StemmingMatchesWordForms) {
    auto db = open<MemDb>(Counting<Memory>(test::make_store<Memory>()), {.stemming = true, .prefix_search = false});
    db->resource("articles").insert({{"id", "r"}, {"title", "Running shoes"}, {"body", "for runners who run daily"}});
    auto hits = db->plugin<FullText>().search("articles", "runs");
    ASSERT_EQ(ids_of(hits), (std::vector<std::string>{"r"}));
    EXPECT_EQ(hits[0].matched_terms, (std::set<std::string>{"run"}));
    EXPECT_EQ(hits[0].matched_fields, (std::vector<std::string>{"body", "title"}));
}

TEST(FullText, SearchRecordsCarryScoresMatchesAndHighlights) {
    FullTextOptions o;
    o.highlight = {.start_tag = "[", .end_tag = "]", .snippet_bytes = 40};
    auto db = open<MemDb>(Counting<Memory>(test::make_store<Memory>()), o);
    auto& a = db->resource("articles");
    a.insert({{"id", "ml"},
              {"title", "Introduction to Machine Learning"},
              {"body", "Some history first. Then a long detour through statistics and, finally, machine learning "
                       "itself, which is a subset of artificial intelligence."}});
    a.insert({{"id", "other"}, {"title", "Learning to cook"}});
    auto records = db->plugin<FullText>().search_records("articles", "machine learning");
    ASSERT_EQ(records.size(), 2u);
    const json& top = records[0];
    EXPECT_EQ(top["id"], "ml");
    EXPECT_EQ(top["title"], "Introduction to Machine Learning") << "the record itself";
    EXPECT_DOUBLE_EQ(top["_searchScore"].get<double>(), 1.0);
    EXPECT_LT(records[1]["_searchScore"].get<double>(), 1.0);
    EXPECT_EQ(top["_matchedFields"], json({"body", "title"}));
    EXPECT_EQ(top["_matchedWords"], json({"learning", "machine"}));
    EXPECT_EQ(top["_highlights"]["title"], "Introduction to [Machine Learning]");
    EXPECT_EQ(top["_highlights"]["body"], "…finally, [machine learning] itself, which…");
    EXPECT_EQ(records[1]["_matchedWords"], json({"learning"}));
    EXPECT_EQ(records[1]["_highlights"], json({{"title", "[Learning] to cook"}}));
}

TEST(FullText, PhrasesMatchWordsInOrderInOneField) {
    auto db = open<MemDb>(Counting<Memory>(test::make_store<Memory>()));
    auto& a = db->resource("articles");
    a.insert({{"id", "in-order"}, {"title", "Machine learning for everyone"}});
    a.insert({{"id", "reversed"}, {"title", "Learning about the machine"}});
    a.insert({{"id", "apart"}, {"title", "A machine that is always learning"}});
    a.insert({{"id", "split"}, {"title", "Machine"}, {"body", "learning"}});
    a.insert({{"id", "stop-words"}, {"title", "State of the art machine"}});
    a.insert({{"id", "art-state"}, {"title", "Tags"}, {"body", "art state"}});
    auto& ft = db->plugin<FullText>();
    EXPECT_EQ(ids_of(ft.search("articles", "\"machine learning\"")), (std::vector<std::string>{"in-order"}))
        << "order, adjacency and one field";
    EXPECT_EQ(ft.search("articles", "machine learning", {.match_all = true}).size(), 4u) << "without quotes any order counts";
    EXPECT_EQ(ids_of(ft.search("articles", "\"state of the art\"")), (std::vector<std::string>{"stop-words"}))
        << "stop words are skipped on both sides, as the index skips them";
    EXPECT_EQ(ids_of(ft.search("articles", "\"mach learn\"")), (std::vector<std::string>{}))
        << "a phrase's words are exact terms, never prefixes";
    EXPECT_EQ(ids_of(ft.search("articles", "everyone \"machine learning\"", {.match_all = false})),
              (std::vector<std::string>{"in-order"}))
        << "a phrase is required even when loose words are not";
    const auto one_word = db->transport().counts();
    auto hits = ft.search("articles", "\"machine\" always");
    EXPECT_EQ(hits.size(), 5u) << "every record with the word";
    ASSERT_FALSE(hits.empty());
    EXPECT_EQ(hits[0].id, "apart") << "the loose word ranks";
    EXPECT_EQ(db->transport().counts().get - one_word.get, 3u) << "a one-word phrase reads no record: 2 shards + the stats";
    EXPECT_EQ(ft.search("articles", "\"machine learning").size(), 5u) << "an unclosed quote's words are loose";

    // Cost: the reads that check the order, once per document holding every word of the phrase, and
    // search_records reuses them.
    const auto before = db->transport().counts();
    auto records = ft.search_records("articles", "\"machine learning\"");
    const auto after = db->transport().counts();
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0]["_highlights"]["title"], "<mark>Machine learning</mark> for everyone");
    EXPECT_EQ(after.get - before.get, 4u + 3) << "4 candidates read once + 2 shards and the stats revalidated";
}

TEST(FullText, SuggestsIndexedTermsByDocumentFrequency) {
    auto db = open<MemDb>(Counting<Memory>(test::make_store<Memory>()));
    auto& a = db->resource("articles");
    a.insert({{"id", "1"}, {"title", "macro photography"}});
    a.insert({{"id", "2"}, {"title", "machine vision, machine learning"}});
    a.insert({{"id", "3"}, {"title", "machine translation"}});
    a.insert({{"id", "4"}, {"title", "Macintosh"}});
    auto& ft = db->plugin<FullText>();
    EXPECT_EQ(ft.suggest("articles", "Mac"), (std::vector<std::string>{"machine", "macintosh", "macro"}));
    EXPECT_EQ(ft.suggest("articles", "ma", 1), (std::vector<std::string>{"machine"}));
    EXPECT_TRUE(ft.suggest("articles", "zzz").empty());
}

// ---- keeping the index right ----------------------------------------------------------------------------

TEST(FullText, UpdatesReplacesAndDeletesRemoveOldPostings) {
    auto db = open<MemDb>(Counting<Memory>(test::make_store<Memory>()));
    auto& a = db->resource("articles");
    auto& ft = db->plugin<FullText>();
    a.insert({{"id", "x"}, {"title", "alpha particles"}});
    EXPECT_EQ(ids_of(ft.search("articles", "alpha")), (std::vector<std::string>{"x"}));
    a.update("x", json{{"title", "beta particles"}});
    EXPECT_TRUE(ft.search("articles", "alpha").empty());
    EXPECT_EQ(ids_of(ft.search("articles", "beta")), (std::vector<std::string>{"x"}));
    a.replace("x", json{{"title", "gamma rays"}});
    EXPECT_TRUE(ft.search("articles", "beta").empty());
    EXPECT_TRUE(ft.search("articles", "particles").empty());
    EXPECT_EQ(ids_of(ft.search("articles", "gamma")), (std::vector<std::string>{"x"}));
    a.insert({{"id", "y"}, {"title", "gamma knife"}});
    EXPECT_EQ(ft.index_stats("articles").documents, 2u);
    a.remove("x");
    EXPECT_EQ(ids_of(ft.search("articles", "gamma")), (std::vector<std::string>{"y"}));
    EXPECT_TRUE(ft.search("articles", "rays").empty());
    a.remove("y");
    auto stats = ft.index_stats("articles");
    EXPECT_EQ(stats.documents, 0u);
    EXPECT_EQ(stats.terms, 0u) << "terms left without documents are removed";
}

TEST(FullText, AnUpdateThatLeavesTheTextWritesNoShard) {
    auto db = open<MemDb>(Counting<Memory>(test::make_store<Memory>()));
    auto& a = db->resource("articles");
    a.insert({{"id", "x"}, {"title", "alpha beta"}, {"body", "gamma"}});
    const auto before = db->transport().counts();
    a.update("x", json{{"body", "gamma"}});
    const auto after = db->transport().counts();
    EXPECT_EQ(after.put - before.put, 1u) << "the record only";
}

TEST(FullText, RebuildIndexAndClearIndex) {
    Memory bucket = test::make_store<Memory>();
    {
        auto plain = open<MemDb>(Counting<Memory>(bucket), {.enabled = false});
        for (int i = 0; i < 30; ++i)
            plain->resource("articles").insert({{"id", "a" + std::to_string(i)}, {"title", "record number " + std::to_string(1000 + i)}});
    }
    auto db = open<MemDb>(Counting<Memory>(bucket));
    auto& ft = db->plugin<FullText>();
    EXPECT_TRUE(ft.search("articles", "record").empty()) << "written while indexing was off";
    EXPECT_EQ(ft.rebuild_index("articles"), 30u);
    EXPECT_EQ(ft.search("articles", "record").size(), 30u);
    EXPECT_EQ(ids_of(ft.search("articles", "1017")), (std::vector<std::string>{"a17"}));
    auto stats = ft.index_stats("articles");
    EXPECT_EQ(stats.documents, 30u);
    EXPECT_EQ(stats.terms, 2u + 30u);  // record, number and the 30 numbers
    EXPECT_GT(stats.bytes, 0u);
    EXPECT_DOUBLE_EQ(stats.average_field_length.at("title"), 3.0);
    EXPECT_GT(ft.clear_index("articles"), 0u);
    EXPECT_TRUE(ft.search("articles", "record").empty());
    EXPECT_EQ(ft.index_stats("articles").shards, 0u);
}

// ---- several processes, requests, persistence ----------------------------------------------------------

namespace {

/// Two databases on one bucket (two processes), each inserting from 4 threads into overlapping
/// terms (every record has "shared", and a word shared with a tenth of the others).
template <class Db, class MakeStore>
void two_processes_lose_nothing(MakeStore make_store) {
    auto first = open<Db>(make_store());
    auto second = open<Db>(make_store());
    constexpr int per_thread = 15;
    std::vector<std::thread> threads;
    for (int p = 0; p < 2; ++p)
        for (int t = 0; t < 4; ++t)
            threads.emplace_back([&, p, t] {
                auto& db = p == 0 ? *first : *second;
                for (int i = 0; i < per_thread; ++i) {
                    const std::string id = "p" + std::to_string(p) + "t" + std::to_string(t) + "i" + std::to_string(i);
                    db.resource("articles").insert(
                        {{"id", id}, {"title", "shared group" + std::to_string(i % 10)}, {"body", "only" + id}});
                }
            });
    for (auto& th : threads) th.join();
    for (auto* db : {first.get(), second.get()})
        EXPECT_EQ(db->status().at(0).errors, 0u) << db->status().at(0).last_error;
    auto fresh = open<Db>(make_store());
    auto& ft = fresh->template plugin<FullText>();
    EXPECT_EQ(ft.search("articles", "shared", {.limit = 1000}).size(), 2u * 4 * per_thread);
    EXPECT_EQ(ft.search("articles", "group3", {.exact = true}).size(), 2u * 4 * 2);
    for (int p = 0; p < 2; ++p)
        for (int t = 0; t < 4; ++t)
            for (int i = 0; i < per_thread; ++i) {
                const std::string id = "p" + std::to_string(p) + "t" + std::to_string(t) + "i" + std::to_string(i);
                ASSERT_EQ(ids_of(ft.search("articles", "only" + id, {.exact = true})), std::vector<std::string>{id});
            }
    EXPECT_EQ(ft.index_stats("articles").documents, 2u * 4 * per_thread);
}

}  // namespace

TEST(FullText, TwoProcessesIndexingAtOnceLoseNothingOnMemory) {
    Memory bucket = test::make_store<Memory>();
    two_processes_lose_nothing<MemDb>([&] { return Counting<Memory>(bucket); });
}

TEST(FullText, TwoProcessesIndexingAtOnceLoseNothingOnFilesystem) {
    const FilesystemOptions o{.root = test::scratch_dir(), .prefix = test::next_prefix()};
    two_processes_lose_nothing<BasicDatabase<Filesystem, FullText>>([&] { return Filesystem(o); });
}

TEST(FullText, AColdSearchSendsOneGetPerShardTouched) {
    Memory bucket = test::make_store<Memory>();
    {
        auto writer = open<MemDb>(Counting<Memory>(bucket));
        auto& a = writer->resource("articles");
        a.insert({{"id", "1"}, {"title", "machine learning"}, {"body", "neural networks"}});
        a.insert({{"id", "2"}, {"title", "deep learning"}, {"body", "machine vision"}});
        // An insert: the record (1 PUT) + 1 PUT per shard of its terms + the stats, a GET for each the
        // process had not seen.
        const auto before = writer->transport().counts();
        a.insert({{"id", "3"}, {"title", "learning machines"}, {"body", "zebra"}});  // shards le, ma, ze
        const auto after = writer->transport().counts();
        EXPECT_EQ(after.put - before.put, 1u + 3 + 1);
        EXPECT_EQ(after.get - before.get, 1u) << "only the new shard 'ze' was not cached";
    }
    auto reader = open<MemDb>(Counting<Memory>(bucket));
    auto& ft = reader->plugin<FullText>();
    auto base = reader->transport().counts();
    auto hits = ft.search("articles", "machine learning");  // shards "ma" and "le"
    auto cold = reader->transport().counts();
    EXPECT_EQ(hits.size(), 3u);
    EXPECT_EQ(cold.get - base.get, 2u + 1) << "2 shards + the stats";
    EXPECT_EQ(cold.total() - base.total(), 3u);
    ft.search("articles", "machine learning");
    auto warm = reader->transport().counts();
    EXPECT_EQ(warm.get - cold.get, 3u) << "revalidated (304 without a body)";
    EXPECT_EQ(warm.total() - cold.total(), 3u);

    auto cached = open<MemDb>(Counting<Memory>(bucket), {.cache_max_age = std::chrono::minutes(1)});
    auto& ft2 = cached->plugin<FullText>();
    ft2.search("articles", "learning");
    auto first = cached->transport().counts();
    ft2.search("articles", "learning");
    EXPECT_EQ(cached->transport().counts().total(), first.total()) << "a fresh cache sends nothing";
}

TEST(FullText, ANewDatabaseFindsTheIndexWithoutARebuild) {
    const FilesystemOptions o{.root = test::scratch_dir(), .prefix = test::next_prefix()};
    {
        auto db = open<BasicDatabase<Filesystem, FullText>>(Filesystem(o));
        db->resource("articles").insert({{"id", "k"}, {"title", "persistent postings"}});
    }
    auto db = open<BasicDatabase<Filesystem, FullText>>(Filesystem(o));
    EXPECT_EQ(ids_of(db->plugin<FullText>().search("articles", "postings")), (std::vector<std::string>{"k"}));
}

TEST(FullText, ValidatesItsOptions) {
    EXPECT_THROW(FullText({.shard_prefix_length = 0}).validate(), ConfigError);
    EXPECT_THROW(FullText({.fuzzy_distance = 3}).validate(), ConfigError);
    EXPECT_THROW(FullText({.index_name = "a/b"}).validate(), ConfigError);
    EXPECT_THROW(FullText({.field_weights = {{"title", 0.0}}}).validate(), ConfigError);
    EXPECT_NO_THROW(FullText(article_index()).validate());
}

TEST(FullText, CaseSensitiveIndexAndAccentFoldedSearch) {
    auto cased = open<MemDb>(Counting<Memory>(test::make_store<Memory>()), {.case_sensitive = true, .prefix_search = false});
    cased->resource("articles").insert({{"id", "1"}, {"title", "Apple pie"}});
    cased->resource("articles").insert({{"id", "2"}, {"title", "apple tree"}});
    EXPECT_EQ(ids_of(cased->plugin<FullText>().search("articles", "Apple")), (std::vector<std::string>{"1"}));
    EXPECT_EQ(ids_of(cased->plugin<FullText>().search("articles", "apple")), (std::vector<std::string>{"2"}));

    auto folded = open<MemDb>(Counting<Memory>(test::make_store<Memory>()));
    folded->resource("articles").insert({{"id", "fr"}, {"title", "Crème brûlée à la française"}});
    auto records = folded->plugin<FullText>().search_records("articles", "CREME brulee");
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0]["_highlights"]["title"], "<mark>Crème brûlée</mark> à la française")
        << "the text as written is marked, whatever the folding";
}

TEST(FullText, SnippetsCutLongTextAtWordsAndWholeCharacters) {
    const std::string text = "Ωραία μέρα σήμερα, και μετά από πολλές λέξεις βρίσκουμε τη θάλασσα που ψάχναμε όλοι μαζί εδώ";
    Tokenizer t(TokenizerOptions{});
    auto s = fulltext::highlight(text, t, [](std::string_view term) { return term == "θαλασσα"; },
                                 {.start_tag = "<", .end_tag = ">", .snippet_bytes = 60, .ellipsis = "..."});
    // 15 bytes (a quarter) before the match is inside βρίσκουμε: the snippet starts at the next word,
    // takes 60 bytes from there and ends at the last blank within them.
    EXPECT_EQ(s, "...τη <θάλασσα> που ψάχναμε όλοι μαζί...");
    EXPECT_TRUE(fulltext::highlight(text, t, [](std::string_view) { return false; }, {}).empty());
}

TEST(FullText, LostAnswersNeverCountADocumentTwice) {
    // Writes whose answer is lost after they landed (Faulty), retried (Retry): the retry meets 412,
    // and each index object's write tokens tell that the write landed, so the stats' increments are
    // applied once. Without the tokens a lost stats write was applied again and counted twice.
    using Store = Retry<Faulty<Memory>>;
    Faulty<Memory> faults(FaultOptions{}, test::make_store<Memory>());  // copies share the fault settings
    RetryPolicy retries{.max_attempts = 4, .budget_capacity = 1 << 30, .sleep = [](std::chrono::milliseconds) {}};
    auto db = open<BasicDatabase<Store, FullText>>(Store(retries, faults));
    faults.set_faults(FaultOptions{.seed = 11, .lost_response = 0.3});
    std::set<std::string> acknowledged;
    for (int i = 0; i < 60; ++i) {
        const std::string id = "d" + std::to_string(i);
        try {
            db->resource("articles").insert({{"id", id}, {"title", "lost answers " + id}});
            acknowledged.insert(id);
        } catch (const OutcomeUnknown&) {  // the record's own write may be unknown: not indexed then
        }
    }
    faults.set_faults(FaultOptions{});
    ASSERT_GT(faults.injected().lost_response, 20u);
    ASSERT_GT(acknowledged.size(), 40u);
    EXPECT_EQ(db->plugin<FullText>().index_stats("articles").documents, acknowledged.size());
    auto hits = ids_of(db->plugin<FullText>().search("articles", "lost", {.limit = 100}));
    EXPECT_EQ(std::set<std::string>(hits.begin(), hits.end()), acknowledged);
}
