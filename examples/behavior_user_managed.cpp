// Behavior user-managed (the default): a record that fits in S3's 2 KB of user metadata is stored
// in metadata; a larger one is not refused, cut or split: the metadata keeps only the version `_v`
// and the whole record goes into the object body as JSON, with no marker. Updates are laid out the
// same way. (s3db.js sends an oversized update's metadata anyway, and S3 refuses it; s3db-cpp never
// sends more metadata than S3 accepts, and moves such a record into the body instead.)

#include <s3db/s3db.hpp>

#include "check.hpp"

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

int main() {
    std::filesystem::remove_all("behavior-user-managed-db");  // a fresh database on every run
    s3db::Database<> db("file://./behavior-user-managed-db");
    db.connect();

    auto& people = db.create_resource({
        .name = "people",
        .attributes = {{"name", "string|required"}, {"bio", "string|optional"}},
        .behavior = "user-managed",  // what create_resource picks when no behavior is named
    });

    // The raw object of a record, as the store holds it.
    auto stored = [&](const std::string& id) {
        auto obj = db.transport().get(people.key_of(id));
        check(obj.has_value(), "the object of record '" + id + "' exists");
        std::cout << "stored    " << id << ": " << obj->info.metadata.size() << " metadata entries, body "
                  << obj->body.size() << " B\n";
        return *obj;
    };
    std::string long_bio = "Wrote the first program.";
    while (long_bio.size() < 3000) long_bio += " Wrote the first program.";

    // 1. Insert, fits: every field in metadata, no body.
    people.insert({{"id", "ada"}, {"name", "Ada"}, {"bio", "Mathematician."}});
    auto ada = stored("ada");
    // _v, the two fields, and _wt (the write tokens that settle lost answers).
    check(ada.body.empty() && ada.info.metadata.size() == 4, "a small record is stored in metadata only");

    // 2. Insert, too large: metadata is just `_v`, the whole record is the body. No marker.
    people.insert({{"id", "charles"}, {"name", "Charles"}, {"bio", long_bio}});
    auto charles = stored("charles");
    check(charles.info.metadata.size() == 2 && charles.info.metadata.count("_v") && charles.info.metadata.count("_wt"),
          "metadata holds only _v (and the write tokens)");
    auto body = s3db::json::parse(charles.body);
    check(body.size() == 3 && charles.body.find("Charles") != std::string::npos, "the body holds the whole record");
    check(people.get("charles")["bio"] == long_bio, "get returns the large record whole");

    // 3. Update, fits: every field is in metadata again.
    people.update("ada", [](s3db::json& p) { p["bio"] = "Mathematician, first programmer."; });
    ada = stored("ada");
    check(ada.info.metadata.size() == 4, "an update that fits keeps every field in metadata");  // + _wt
    check(people.get("ada")["bio"] == "Mathematician, first programmer.", "the update was applied");

    // 4. Update, too large: the same layout as a large insert, never metadata over 2 KB.
    people.update("ada", [&](s3db::json& p) { p["bio"] = long_bio; });
    ada = stored("ada");
    check(ada.info.metadata.size() == 2 && ada.info.metadata.count("_v") && ada.info.metadata.count("_wt"),
          "a grown record moves to the body");
    check(people.get("ada")["bio"] == long_bio, "get returns the grown record");

    // Reads merge body and metadata (metadata wins), so every layout reads the same.
    for (const auto& p : people.list())
        std::cout << "list      " << p["id"].get<std::string>() << ": " << p["name"].get<std::string>() << ", bio "
                  << p["bio"].get<std::string>().size() << " chars\n";
    check(people.count() == 2, "both records are stored");

    std::cout << "user-managed: metadata while it fits, otherwise the whole record in the body\n";
    return 0;
}
