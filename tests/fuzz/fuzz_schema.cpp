// Attribute definitions come from s3db.json, which any s3db.js or s3db-cpp process may have
// written: parsing one succeeds or throws an s3db::Error, and a parsed schema validates any record
// (returning failures, never throwing) and maps a valid one to metadata and back.
//
// The first line of the input is the definition: a JSON object of attributes, or else one rule
// string ("string|min:2|pattern:^a") for an attribute `f`. The rest, when it is JSON, is a record
// to validate; a few fixed records are validated too.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "s3db/core/codec.hpp"
#include "s3db/core/schema.hpp"

namespace {

void exercise(const s3db::Schema& schema, const std::map<std::string, int>& mapping, nlohmann::json record) {
    if (!schema.check(record).empty()) return;
    // Secrets stay plain: a key derivation per value (PBKDF2, as s3db.js) would take seconds an input.
    const s3db::Codec codec(schema, mapping, {.auto_encrypt = false, .auto_decrypt = false});
    s3db::Metadata metadata;
    try {
        metadata = codec.encode(record);
    } catch (const s3db::Error&) {  // a value the metadata cannot carry (a secret without its key, ...)
        return;
    }
    (void)codec.decode(metadata);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const auto nl = input.find('\n');
    const std::string_view head = input.substr(0, nl);
    const std::string_view tail = nl == std::string_view::npos ? std::string_view{} : input.substr(nl + 1);

    auto attributes = nlohmann::ordered_json::parse(head.begin(), head.end(), nullptr, false);
    const bool single = !attributes.is_object();
    if (single) attributes = nlohmann::ordered_json{{"f", std::string(head)}};

    for (bool strict : {true, false}) {
        s3db::Schema schema;
        std::map<std::string, int> mapping;
        try {
            schema = s3db::Schema::parse(attributes, {.strict = strict});
            mapping = s3db::assign_indices(attributes);
        } catch (const s3db::Error&) {
            continue;
        }
        auto record = nlohmann::json::parse(tail.begin(), tail.end(), nullptr, false);
        if (!record.is_discarded()) exercise(schema, mapping, std::move(record));
        if (single) {
            for (const char* value : {"\"a@b.co\"", "\"  Text  \"", "12.5", "-3", "true", "null", "[1,\"x\"]",
                                      "{\"a\":1}", "\"2024-01-02T03:04:05.000Z\"", "\"10.0.0.1\""})
                exercise(schema, mapping, nlohmann::json{{"f", nlohmann::json::parse(value)}});
        }
        exercise(schema, mapping, nlohmann::json::object());
    }
    return 0;
}
