// The FullText plugin: chosen fields of chosen resources are indexed in the bucket as they are
// written (sharded, merged by compare-and-swap, durable when the write returns), and searched with
// BM25: ranked records with a 0-1 score, the fields and words that matched, and highlighted snippets.
// Here: weighted fields, stemming, a typo found by fuzzy matching, suggestions, and a second database
// on the same folder that finds the index without rebuilding it.

#include <s3db/s3db.hpp>

#include "check.hpp"
#include <s3db/plugins/fulltext.hpp>

#include <filesystem>
#include <iomanip>
#include <iostream>
#include <string>

int main() {
    std::filesystem::remove_all("fulltext-db");  // a fresh database on every run
    const s3db::FullTextOptions options{
        .fields = {{"products", {"name", "description", "tags"}}},
        .field_weights = {{"name", 3.0}, {"tags", 2.0}},
        .stemming = true,      // "gaming" and "games" share the stem "game"
        .fuzzy_search = true,  // "wireles" finds "wireless"
        .highlight = {.start_tag = "<b>", .end_tag = "</b>"},
    };
    {
        s3db::Database<s3db::FullText> db("file://./fulltext-db", {}, s3db::FullText(options));
        db.connect();
        auto& products = db.create_resource({
            .name = "products",
            .attributes = {{"name", "string"}, {"description", "string"}, {"tags", "array|items:string"}},
        });
        products.insert({{"id", "laptop"}, {"name", "Gaming Laptop Pro"},
                         {"description", "High-performance laptop for gaming and productivity"},
                         {"tags", {"gaming", "laptop", "computer"}}});
        products.insert({{"id", "mouse"}, {"name", "Wireless Gaming Mouse"},
                         {"description", "Precision wireless mouse designed for gamers"},
                         {"tags", {"gaming", "mouse", "wireless"}}});
        products.insert({{"id", "keyboard"}, {"name", "Mechanical Keyboard"},
                         {"description", "Professional mechanical keyboard with RGB lighting"},
                         {"tags", {"keyboard", "mechanical", "typing"}}});

        auto& search = db.plugin<s3db::FullText>();
        auto gaming = search.search_records("products", "gaming");
        std::cout << "gaming:\n";
        for (auto& p : gaming)
            std::cout << "  " << std::fixed << std::setprecision(2) << p["_searchScore"].get<double>() << "  "
                      << p["name"].get<std::string>() << "  matched in " << p["_matchedFields"].dump() << "\n";
        check(gaming.size() == 2 && gaming[0]["_searchScore"] == 1.0, "two products match gaming, the best scores 1");
        check(gaming[1]["_searchScore"].get<double>() < 1.0, "the other scores less");

        auto typo = search.search_records("products", "wireles mouse");
        check(!typo.empty() && typo[0]["id"] == "mouse", "a typo still finds the wireless mouse");
        std::cout << "wireles mouse -> " << typo[0]["_highlights"]["description"].get<std::string>() << "\n";
        check(typo[0]["_highlights"]["description"] == "Precision <b>wireless mouse</b> designed for gamers",
              "the snippet marks the matched words");

        // Words that begin with "key": terms as indexed (stemmed, folded), most frequent first.
        auto suggestions = search.suggest("products", "key");
        check(!suggestions.empty() && suggestions[0] == "keyboard", "suggestions complete a prefix");

        products.update("keyboard", s3db::json{{"description", "Quiet membrane keyboard"}});
        check(search.search("products", "mechanical", {.fields = {"description"}}).empty(),
              "an update takes the old words out of the index");

        auto stats = search.index_stats("products");
        std::cout << stats.documents << " documents, " << stats.terms << " terms in " << stats.shards
                  << " shards (" << stats.bytes << " bytes)\n";
        check(stats.documents == 3, "three documents indexed");
    }
    // Another process (here: another database object) reads the same index: nothing to rebuild.
    s3db::Database<s3db::FullText> again("file://./fulltext-db", {}, s3db::FullText(options));
    again.connect();
    auto hits = again.plugin<s3db::FullText>().search("products", "productivity");
    check(hits.size() == 1 && hits[0].id == "laptop", "a new database finds the index as it was left");
    std::cout << "ok\n";
}
