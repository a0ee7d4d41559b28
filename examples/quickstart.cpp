// Quickstart: a document database in a local folder (the embedded filesystem store). The same code
// runs on Amazon S3, MinIO or Ceph with an s3:// or http:// connection string instead.

#include <s3db/s3db.hpp>

#include <filesystem>
#include <iostream>

int main() {
    std::filesystem::remove_all("quickstart-db");  // a fresh database on every run
    s3db::Database<> db("file://./quickstart-db");
    db.connect();

    auto& users = db.create_resource({
        .name = "users",
        .attributes = {{"name", "string|required|min:2"}, {"email", "string|optional"},
                       {"region", "string|optional"}, {"visits", "number|integer|min:0|default:0"}},
        .partitions = {{"byRegion", {{"fields", {{"region", "string"}}}}}},
    });

    auto ada = users.insert({{"name", "Ada"}, {"email", "ada@example.com"}, {"region", "eu"}});
    users.insert({{"name", "Grace"}, {"region", "us"}});
    users.insert({{"name", "Linus"}, {"region", "eu"}});
    std::string id = ada["id"];
    std::cout << "inserted  " << ada.dump() << "\n";

    // Updates are compare-and-swap on the object's ETag: concurrent writers never lose an update.
    users.update(id, [](s3db::json& u) { u["visits"] = u["visits"].get<int>() + 1; });
    std::cout << "updated   " << users.get(id).dump() << "\n";

    std::cout << "all users " << users.count() << "\n";
    for (const auto& u : users.list({.partition = "byRegion", .values = {{"region", "eu"}}}))
        std::cout << "  in eu   " << u["name"] << "\n";

    try {
        users.insert({{"name", "X"}, {"visits", -1}});  // refused before anything is written
    } catch (const s3db::ValidationError& e) {
        std::cout << "refused   " << e.what() << "\n";
    }
    return users.count() == 3 ? 0 : 1;
}
