// The Cache plugin: repeated reads are answered from memory without a request, and a write forgets
// exactly what it changed. The database is a local folder (the filesystem store); the transport is
// wrapped in Counting so the example can show, and check, the requests each read sends.

#include <s3db/plugins/cache.hpp>
#include <s3db/s3db.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <iostream>

int main() {
    using namespace std::chrono_literals;
    std::filesystem::remove_all("cache-db");  // a fresh database on every run

    using Store = s3db::Counting<s3db::Any>;
    s3db::BasicDatabase<Store, s3db::Cache<s3db::Memory>> db(
        Store("file://./cache-db"), {}, s3db::Cache<s3db::Memory>({.ttl = 10min, .max_size = 500}));
    db.connect();
    auto& cache = db.plugin<s3db::Cache<s3db::Memory>>();

    auto& products = db.create_resource({
        .name = "products",
        .attributes = {{"name", "string|required"}, {"price", "number|min:0"}},
    });
    std::string id = products.insert({{"name", "Lamp"}, {"price", 30}})["id"];
    products.insert({{"name", "Desk"}, {"price", 120}});

    // Requests a piece of code sends to the store.
    auto requests = [&](const std::function<void()>& fn) {
        auto before = db.transport().counts();
        fn();
        return (db.transport().counts() - before).total();
    };
    bool ok = true;
    auto claim = [&](bool holds, const std::string& what) {
        std::cout << (holds ? "ok    " : "WRONG ") << what << "\n";
        ok = ok && holds;
    };

    std::size_t n = 0;
    claim(requests([&] { n = products.count(); }) == 1, "first count: 1 LIST");
    claim(requests([&] { n = products.count(); }) == 0 && n == 2, "second count: from the cache, no request");
    claim(requests([&] { products.get(id); }) == 1, "first get: 1 GET");
    claim(requests([&] { products.get(id); }) == 0, "second get: from the cache, no request");

    // A write drops the record's entry and the resource's collection entries, nothing else.
    products.update(id, {{"price", 25}});
    s3db::json lamp;
    claim(requests([&] { lamp = products.get(id); }) == 1 && lamp["price"] == 25,
          "after the update, get reads the new price from the store");
    claim(requests([&] { n = products.count(); }) == 1, "after the update, count lists again");

    // One read may skip the cache.
    claim(requests([&] { products.get(id, s3db::ReadOptions{.cache = false}); }) == 1,
          "get with .cache = false asks the store");

    auto s = cache.stats();
    std::cout << "hits " << s.hits << ", misses " << s.misses << ", hit rate " << s.hit_rate << "\n";
    claim(s.hits == 2 && s.misses == 4, "2 hits and 4 misses counted");
    return ok ? 0 : 1;
}
