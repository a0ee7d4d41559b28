// Connection strings come from configuration and environment variables: parsing one either
// succeeds with a store to open or throws ConfigError, never anything else.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "s3db/transport/connection.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view url(reinterpret_cast<const char*>(data), size);
    (void)s3db::ConnectionString::redact(url);
    try {
        const auto c = s3db::ConnectionString::parse(url);
        if (c.kind == s3db::ConnectionString::Kind::filesystem && c.path.empty()) std::abort();
        if (c.kind != s3db::ConnectionString::Kind::filesystem && c.bucket.empty()) std::abort();
    } catch (const s3db::ConfigError&) {
    }
    return 0;
}
