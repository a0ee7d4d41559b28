// Typed records: `db.resource<T>(name)` speaks a user struct instead of JSON, through nlohmann's
// to_json/from_json. The schema still validates every write, the struct only decides which fields
// the program sees: fields it does not model (here the timestamps) are kept by updates.

#include <s3db/s3db.hpp>

#include "check.hpp"

#include <filesystem>
#include <iostream>
#include <string>

struct Book {
    std::string id;  // left empty on insert, the resource generates one
    std::string title;
    std::string genre;
    int pages = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Book, id, title, genre, pages)

int main() {
    std::filesystem::remove_all("typed-records-db");  // a fresh database on every run
    s3db::Database<> db("file://./typed-records-db");
    db.connect();
    db.create_resource({
        .name = "books",
        .attributes = {{"title", "string|required|min:1"}, {"genre", "string"}, {"pages", "number|integer|min:1"}},
        .timestamps = true,
        .partitions = {{"byGenre", {{"fields", {{"genre", "string"}}}}}},
    });
    auto books = db.resource<Book>("books");

    auto dune = books.insert({.id = "", .title = "Dune", .genre = "sf", .pages = 412});
    check(dune.id.size() == 22, "a struct inserted without an id gets a generated one");
    auto made = books.insert_many({{.id = "hobbit", .title = "The Hobbit", .genre = "fantasy", .pages = 310},
                                   {.id = "solaris", .title = "Solaris", .genre = "sf", .pages = 204},
                                   {.id = "bad", .title = "Nothing", .genre = "sf", .pages = 0}});
    check(made[0].record && made[1].record, "valid structs are stored");
    check(!made[2].record, "a struct the schema refuses is reported, not stored");
    std::cout << "refused: " << made[2].error << "\n";

    // A compare-and-swap update over the struct; the stored createdAt stays.
    const std::string created = db.resource("books").get("solaris")["createdAt"];
    auto longer = books.update("solaris", [](Book& b) { b.pages += 10; });
    check(longer.pages == 214, "the update returns the struct as stored");
    check(db.resource("books").get("solaris")["createdAt"] == created, "fields the struct does not model stay");

    // Reads by partition, as structs.
    auto sf = books.list({.partition = "byGenre", .values = {{"genre", "sf"}}});
    check(sf.size() == 2, "the sf partition holds two books");
    for (auto& b : sf) std::cout << b.title << " (" << b.pages << " pages)\n";
    auto short_sf = books.query({{"genre", "sf"}}, [](const Book& b) { return b.pages < 300; });
    check(short_sf.size() == 1 && short_sf[0].id == "solaris", "query with a predicate over the struct");
}
