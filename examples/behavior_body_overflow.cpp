// Behavior body-overflow: a record lives in its object's metadata while it fits in S3's 2 KB of
// user metadata; a larger one keeps its smallest fields there and spills the rest into the object
// body, marked `_overflow`. Reads put the halves back together: nothing is refused or lost.
// This example opens the stored objects through db.transport() to show where each field went.

#include <s3db/s3db.hpp>

#include "check.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

int main() {
    std::filesystem::remove_all("behavior-body-overflow-db");  // a fresh database on every run
    s3db::Database<> db("file://./behavior-body-overflow-db");
    db.connect();

    auto& posts = db.create_resource({
        .name = "posts",
        .attributes = {{"title", "string|required"}, {"text", "string"}},
        .behavior = "body-overflow",
    });

    // The raw object of a record: metadata keys are the attributes' short keys ("0", "1", ...).
    auto stored = [&](const std::string& id) {
        auto obj = db.transport().get(posts.key_of(id));
        check(obj.has_value(), "the object of record '" + id + "' exists");
        std::cout << "  stored " << id << ": metadata {";
        for (const auto& [key, value] : obj->info.metadata) std::cout << ' ' << key << ':' << value.size() << "B";
        std::cout << " }, body " << obj->body.size() << " B\n";
        return *obj;
    };
    auto metadata_holds = [](const s3db::Object& obj, const std::string& value) {
        return std::any_of(obj.info.metadata.begin(), obj.info.metadata.end(),
                           [&](const auto& entry) { return entry.second == value; });
    };

    // 1. A small post fits: every field in metadata, an empty body, no marker.
    posts.insert({{"id", "hello"}, {"title", "Hello"}, {"text", "A short post."}});
    auto small = stored("hello");
    check(metadata_holds(small, "A short post.") && small.body.empty(), "a small record is kept in metadata only");
    check(!small.info.metadata.count("_overflow"), "a record that fits carries no _overflow marker");

    // 2. A 3 KB post does not fit: the title stays in metadata, the text moves to a JSON body.
    std::string essay = "All work and no play makes Jack a dull boy.";
    while (essay.size() < 3000) essay += " All work and no play makes Jack a dull boy.";
    posts.insert({{"id", "essay"}, {"title", "On work"}, {"text", essay}});
    auto big = stored("essay");
    check(big.info.metadata.count("_overflow") && big.info.metadata.at("_overflow") == "true",
          "a record over the limit is marked _overflow=true");
    check(metadata_holds(big, "On work"), "the small fields of a spilled record stay in metadata");
    check(!metadata_holds(big, essay), "the large field is not in metadata");
    auto body = s3db::json::parse(big.body);
    check(std::any_of(body.begin(), body.end(), [&](const auto& v) { return v == essay; }),
          "the large field is in the JSON body");
    check(big.info.content_type == "application/json", "the spilled body is application/json");

    // 3. Reading merges metadata and body: the record comes back whole.
    auto essay_back = posts.get("essay");
    check(essay_back["title"] == "On work" && essay_back["text"] == essay, "get returns the spilled record whole");
    std::cout << "  get essay: title \"" << essay_back["title"].get<std::string>() << "\", text "
              << essay_back["text"].get<std::string>().size() << " chars\n";

    // 4. Every write lays the record out again: shrunk, it moves back into metadata.
    posts.update("essay", [](s3db::json& post) { post["text"] = "Now a short post, too."; });
    auto shrunk = stored("essay");
    // (An update leaves a small version stamp, {"_v", "_digest"}, as the body: it gives this version
    // its own ETag, so concurrent updates cannot overwrite each other. Readers skip it.)
    bool no_fields_in_body = true;
    if (!shrunk.body.empty()) {
        auto stamp = s3db::json::parse(shrunk.body);
        for (auto& [k, v] : stamp.items()) no_fields_in_body = no_fields_in_body && k.starts_with("_");
    }
    check(no_fields_in_body && !shrunk.info.metadata.count("_overflow"), "a record that shrinks leaves the body");
    check(posts.list().size() == 2, "both posts are listed");

    std::cout << "body-overflow: small records in metadata, large ones split into metadata + body\n";
    return 0;
}
