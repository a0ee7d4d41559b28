// Behavior enforce-limits: a record lives in its object's metadata only, and one that does not fit
// S3's 2 KB of user metadata is refused with s3db::RecordTooLarge before any request is sent, so
// nothing is written. Since records never use the object body, it is free for binary content.

#include <s3db/s3db.hpp>

#include "check.hpp"

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

int main() {
    std::filesystem::remove_all("behavior-enforce-limits-db");  // a fresh database on every run
    s3db::Database<> db("file://./behavior-enforce-limits-db");
    db.connect();

    auto& notes = db.create_resource({
        .name = "notes",
        .attributes = {{"title", "string|required"}, {"text", "string|optional"}},
        .behavior = "enforce-limits",
    });

    // 1. A record that fits is stored in metadata only: the object body is empty.
    notes.insert({{"id", "groceries"}, {"title", "Groceries"}, {"text", "eggs, milk, bread"}});
    auto head = db.transport().head(notes.key_of("groceries"));
    // Three entries: _v, the two fields; and _wt, the write tokens that settle lost answers.
    check(head && head->size == 0 && head->metadata.size() == 4, "a record is kept in metadata only");
    std::cout << "stored    groceries: " << head->metadata.size() << " metadata entries, empty body\n";

    // 2. A 3 KB record is refused. The error names the resource, the record and the limit.
    std::string diary(3000, '.');
    try {
        notes.insert({{"id", "diary"}, {"title", "Diary"}, {"text", diary}});
        check(false, "a record over the limit is refused");
    } catch (const s3db::RecordTooLarge& e) {
        std::cout << "refused   " << e.what() << "\n";
        check(e.limit() < 2048 && e.size() > static_cast<std::size_t>(e.limit()), "the error carries size and limit");
        check(std::string(e.what()).find(std::to_string(e.limit())) != std::string::npos,
              "the message names the limit");
    }
    check(!notes.exists("diary") && notes.count() == 1, "nothing was written for the refused record");

    // 3. An update that would grow a record past the limit is refused too; the stored one is intact.
    try {
        notes.update("groceries", [&](s3db::json& note) { note["text"] = diary; });
        check(false, "an update over the limit is refused");
    } catch (const s3db::RecordTooLarge& e) {
        std::cout << "refused   update: " << e.what() << "\n";
    }
    check(notes.get("groceries")["text"] == "eggs, milk, bread", "a refused update leaves the record as it was");

    // 4. The body is free: attach a file to the record. Updates rewrite the metadata in place
    //    (HEAD + COPY onto itself), so the content survives them.
    const std::string photo("\x89PNG\r\n\x1a\n...pixels...", 20);
    notes.set_content("groceries", photo, "image/png");
    notes.update("groceries", [](s3db::json& note) { note["text"] = "eggs, milk, bread, coffee"; });
    auto content = notes.content("groceries");
    check(content && content->first == photo && content->second == "image/png", "the content survives an update");
    check(notes.get("groceries")["text"] == "eggs, milk, bread, coffee", "the update was applied");
    std::cout << "content   groceries: " << content->first.size() << " bytes of " << content->second
              << ", record " << notes.get("groceries").dump() << "\n";

    std::cout << "enforce-limits: records over 2 KB are refused before anything is written\n";
    return 0;
}
