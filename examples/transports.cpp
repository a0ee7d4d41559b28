// The transport API on the embedded filesystem store, opened from a connection string.
// Every store (Memory, Filesystem, S3) answers these calls the same way, with S3's rules: ETags,
// conditional writes, sorted listings. The database layer is built on exactly these calls.

#include <s3db/s3db.hpp>

#include <filesystem>
#include <iostream>
#include <string>

int main() {
    std::filesystem::remove_all("transports-data");  // start from an empty bucket on every run
    s3db::Any store("file://./transports-data");

    auto put = store.put("users/ada.json", R"({"name":"Ada","lang":"en"})",
                         {.content_type = "application/json", .metadata = {{"role", "admin"}}});
    std::cout << "put users/ada.json          etag " << put.etag << "\n";
    store.put("users/grace.json", R"({"name":"Grace"})", {.content_type = "application/json"});
    std::cout << "put users/grace.json\n";

    auto ada = store.get("users/ada.json");
    if (!ada) {
        std::cerr << "users/ada.json is missing\n";
        return 1;
    }
    std::cout << "get users/ada.json          " << ada->body << " (role " << ada->info.metadata["role"] << ")\n";

    // If-None-Match: * makes a write an insert: the second one is refused with 412.
    try {
        store.put("users/ada.json", R"({"name":"someone else"})", {.if_none_match = true});
        std::cerr << "an insert over an existing key was accepted\n";
        return 1;
    } catch (const s3db::PreconditionFailed& e) {
        std::cout << "insert over users/ada.json  refused: " << e.what() << "\n";
    }

    // If-Match makes it a compare-and-swap on the ETag read before.
    auto swapped = store.put("users/ada.json", R"({"name":"Ada","lang":"fr"})",
                             {.content_type = "application/json", .if_match = ada->info.etag});
    std::cout << "update with If-Match        etag " << swapped.etag << "\n";

    auto page = store.list({.prefix = "users/"});
    std::cout << "list users/                 ";
    for (const auto& entry : page.objects) std::cout << entry.key << " (" << entry.size << " B) ";
    std::cout << "\n";

    store.remove("users/grace.json");
    std::cout << "remove users/grace.json     head now finds "
              << (store.head("users/grace.json") ? "it" : "nothing") << "\n";
    return page.objects.size() == 2 && !store.head("users/grace.json") ? 0 : 1;
}
