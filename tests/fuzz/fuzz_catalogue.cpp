// s3db.json is shared with s3db.js and any other writer of the bucket: connecting to a database
// whose catalogue holds any bytes opens it or throws an s3db::Error (CorruptMetadata, SchemaError,
// ...), never another exception. A catalogue that parses can be edited, and what is written
// parses again.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "s3db/s3db.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    // What connect() does with the catalogue it reads.
    s3db::Memory store;
    store.put(s3db::DatabaseMetadata::key, text);
    try {
        s3db::BasicDatabase<s3db::Memory> db{store};
        db.connect();
    } catch (const s3db::Error&) {
    }

    // The edit of create_resource: in place, keeping what it does not know.
    std::optional<s3db::DatabaseMetadata> m;
    try {
        m = s3db::DatabaseMetadata::parse(text);
    } catch (const s3db::CorruptMetadata&) {
        return 0;
    }
    for (const auto& name : m->resource_names()) {
        try {
            (void)m->resource(name);
        } catch (const s3db::Error&) {  // one resource's entry is malformed
        }
    }
    s3db::ResourceConfig config{.name = "users", .attributes = {{"name", "string"}, {"age", "number|optional"}},
                                .timestamps = true};
    if (auto names = m->resource_names(); !names.empty()) config.name = names.front();
    try {
        m->upsert_resource(config);
    } catch (const s3db::Error&) {  // an entry that cannot be read is not overwritten
        return 0;
    }
    const auto again = s3db::DatabaseMetadata::parse(m->serialize());
    if (!again.resource(config.name)) std::abort();  // the resource just written is there
    return 0;
}
