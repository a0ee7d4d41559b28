// Behavior truncate-data: a record lives in its object's metadata only, and one that does not fit
// S3's 2 KB of user metadata is cut to fit instead of refused: its smallest fields are kept whole,
// the next one is cut to the bytes left, larger ones are dropped, and the object is marked
// `_truncated`. The cut never splits a UTF-8 character. Suited to logs and previews.

#include <s3db/s3db.hpp>

#include "check.hpp"

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

int main() {
    std::filesystem::remove_all("behavior-truncate-data-db");  // a fresh database on every run
    s3db::Database<> db("file://./behavior-truncate-data-db");
    db.connect();

    auto& logs = db.create_resource({
        .name = "logs",
        .attributes = {{"level", "string|required"}, {"message", "string"}, {"trace", "string|optional"}},
        .behavior = "truncate-data",
    });
    auto truncated = [&](const std::string& id) {
        auto head = db.transport().head(logs.key_of(id));
        check(head.has_value(), "the object of record '" + id + "' exists");
        return head->metadata.count("_truncated") == 1 && head->metadata.at("_truncated") == "true";
    };

    // 1. A record that fits is stored as it is, unmarked.
    logs.insert({{"id", "boot"}, {"level", "info"}, {"message", "service started"}});
    check(!truncated("boot") && logs.get("boot")["message"] == "service started", "a small record is kept whole");

    // 2. 2.5 KB of message and 6 KB of trace: the level (smallest) stays whole, the message is cut
    //    to what is left, the trace (largest) is dropped. The write succeeds.
    const std::string message(2500, 'm'), trace(6000, 't');
    logs.insert({{"id", "crash"}, {"level", "error"}, {"message", message}, {"trace", trace}});
    auto crash = logs.get("crash");
    const std::size_t kept = crash["message"].get<std::string>().size();
    std::cout << "stored    crash: level \"" << crash["level"].get<std::string>() << "\", message cut to " << kept
              << " of " << message.size() << " bytes, trace " << (crash.contains("trace") ? "kept" : "dropped") << "\n";
    check(truncated("crash"), "a cut record is marked _truncated=true");
    check(crash["level"] == "error", "the smallest field is kept whole");
    check(kept > 1500 && kept < message.size() && message.starts_with(crash["message"].get<std::string>()),
          "the next field keeps the prefix that fits");
    check(!crash.contains("trace"), "fields larger than the cut one are dropped");

    // 3. The same record with a 3-byte character where that cut falls: the character is not
    //    split, the cut moves before it.
    std::string accented = std::string(kept - 1, 'm') + "\u20ac" + std::string(1000, 'm');  // "€"
    logs.insert({{"id", "euro"}, {"level", "error"}, {"message", accented}, {"trace", trace}});
    auto euro = logs.get("euro")["message"].get<std::string>();
    std::cout << "stored    euro: message cut to " << euro.size() << " bytes, before the '\u20ac' at byte "
              << kept - 1 << "\n";
    check(truncated("euro") && euro == std::string(kept - 1, 'm'), "the cut never splits a UTF-8 character");

    // 4. Updates are cut the same way; a record that fits again loses the marker.
    logs.update("crash", [](s3db::json& log) {
        log["message"] = "out of memory";
        log.erase("trace");
    });
    check(!truncated("crash") && logs.get("crash")["message"] == "out of memory", "a record that fits is unmarked");
    check(logs.count() == 3, "every record was written");

    std::cout << "truncate-data: records over 2 KB are cut to fit and marked _truncated\n";
    return 0;
}
