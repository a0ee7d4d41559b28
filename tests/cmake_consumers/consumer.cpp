// What every consumer project builds: one include, one store, one object in and out.
// Exits non-zero when anything differs, so a broken package or link line fails the test.
// (The store's header, not the umbrella: these prove the package, its include path and link
// line; that every header compiles in each mode is the build's s3db_header_check. The umbrella
// cost 20 s of CPU per consumer, six times per test run.)

#include <s3db/transport/memory.hpp>

#include <cstdio>
#include <string>

int main() {
    s3db::Memory store;
    const std::string body = "hello";
    auto put = store.put("greetings/en.txt", body, {.content_type = "text/plain", .metadata = {{"lang", "en"}}});

    // The ETag is the quoted MD5 of the body, computed through OpenSSL: proves libcrypto is linked.
    if (put.etag != "\"5d41402abc4b2a76b9719d911017c592\"") {
        std::fprintf(stderr, "unexpected etag %s\n", put.etag.c_str());
        return 1;
    }
    auto got = store.get("greetings/en.txt");
    if (!got || got->body != body || got->info.content_type != "text/plain" ||
        got->info.metadata != s3db::Metadata{{"lang", "en"}}) {
        std::fprintf(stderr, "object read back differs from the one written\n");
        return 1;
    }
    std::printf("s3db consumer ok: put and got %s (etag %s)\n", got->info.key.c_str(), got->info.etag.c_str());
    return 0;
}
