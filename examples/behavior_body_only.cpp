// Behavior body-only: the whole record goes into the object body as JSON, whatever its size; the
// metadata only carries the resource version `_v` and `_map` (attribute -> stored key), so every
// object describes itself. No 2 KB limit applies, at the price of a GET (not a HEAD) per read.

#include <s3db/s3db.hpp>

#include "check.hpp"

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <set>
#include <string>

int main() {
    std::filesystem::remove_all("behavior-body-only-db");  // a fresh database on every run
    s3db::Database<> db("file://./behavior-body-only-db");
    db.connect();

    auto& pages = db.create_resource({
        .name = "pages",
        .attributes = {{"title", "string|required"}, {"text", "string"}, {"tags", "array|items:string"}},
        .behavior = "body-only",
    });

    // 40 KB of text, far past what metadata holds, with non-ASCII characters: JSON carries them as is.
    std::string text = "Zürich, São Paulo, 東京.";
    while (text.size() < 40000) text += " Zürich, São Paulo, 東京.";
    pages.insert({{"id", "cities"}, {"title", "Cities"}, {"text", text}, {"tags", {"travel", "maps"}}});
    pages.insert({{"id", "tiny"}, {"title", "Tiny"}, {"text", "Small ones go to the body, too."}, {"tags", {"notes"}}});

    for (std::string id : {"cities", "tiny"}) {
        auto obj = db.transport().get(pages.key_of(id));
        check(obj.has_value(), "the object of record '" + id + "' exists");
        std::set<std::string> keys;
        for (const auto& [key, value] : obj->info.metadata) keys.insert(key);
        std::cout << "stored    " << id << ": metadata _v=" << obj->info.metadata["_v"] << " _map="
                  << obj->info.metadata["_map"] << ", body " << obj->body.size() << " B of " << obj->info.content_type
                  << "\n";
        check(keys == std::set<std::string>{"_map", "_v", "_wt"}, "metadata holds only _v, _map and the write tokens");
        auto map = s3db::json::parse(obj->info.metadata["_map"]);
        check(map.contains("title") && map.contains("text") && map.contains("tags"), "_map names every attribute");
        auto body = s3db::json::parse(obj->body);  // keyed by the stored keys that _map gives
        check(body.contains(map["title"].get<std::string>()), "the record's fields are in the body");
        check(obj->info.content_type == "application/json", "the body is application/json");
    }

    // Reads parse the body back into the record; updates rewrite the body.
    auto cities = pages.get("cities");
    check(cities["text"] == text && cities["tags"] == s3db::json({"travel", "maps"}), "get returns the record whole");
    pages.update("tiny", [](s3db::json& page) { page["tags"] = {"small"}; });
    check(pages.get("tiny")["tags"] == s3db::json({"small"}), "the update was applied");
    std::cout << "get       cities: " << cities["text"].get<std::string>().size() << " bytes of text, tiny: "
              << pages.get("tiny").dump() << "\n";

    // The body is the record, so there is no room for binary content.
    try {
        pages.set_content("tiny", "bytes");
        check(false, "set_content is refused on body-only");
    } catch (const s3db::ConfigError& e) {
        std::cout << "refused   " << e.what() << "\n";
    }

    std::cout << "body-only: every record in the body, metadata holds only _v, _map and _wt\n";
    return 0;
}
