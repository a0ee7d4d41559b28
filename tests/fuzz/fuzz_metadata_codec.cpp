// Metadata as read back from a store is untrusted: decoding it must never throw or misbehave, and
// every value written must come back unchanged.
//
// The input is used twice: whole, as one value through the wire codec (decode, and encode →
// decode round trip); and split into "key=value" lines, as a stored record decoded by a Codec
// whose schema has every attribute type.

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "s3db/core/codec.hpp"
#include "s3db/detail/metadata_codec.hpp"

namespace {

s3db::Codec make_codec(const char* definition) {
    const auto attributes = nlohmann::ordered_json::parse(definition);
    return s3db::Codec(s3db::Schema::parse(attributes), s3db::assign_indices(attributes));
}

// Every type but `secret`: nothing stored under these may make decode throw.
const s3db::Codec& codec() {
    static const s3db::Codec c = make_codec(R"({
        "i":"number|integer","d":"number","b":"boolean","s":"array|items:string","n":"array|items:number",
        "ni":"array|items:number|integer","emb":"embedding:4","aj":"array","j":"json","dt":"datetime",
        "do":"dateonly","u":"uuid","ip":"ip4","ip6":"ip6","m":"money","m4":"money:4","c":"crypto",
        "dec":"decimal","dec4":"decimal:4","st":"string","any":"any",
        "nest":{"a":"string","deep":{"x":"number"}},"opt":"string|optional"})");
    return c;
}

// A secret whose ciphertext does not open may be refused, with an s3db::Error and nothing else.
const s3db::Codec& secret_codec() {
    static const s3db::Codec c = make_codec(R"({"0":"secret","1":"string"})");
    return c;
}

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "fuzz_metadata_codec: %s\n", what);
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);

    // The wire codec: any value read decodes; any value written is printable and comes back.
    (void)s3db::detail::decode_metadata_value(input);
    const std::string wire = s3db::detail::encode_metadata_value(input);
    if (!s3db::detail::printable_ascii(wire)) fail("an encoded value is not printable ASCII");
    if (s3db::detail::decode_metadata_value(wire) != input) fail("a value does not survive encode → decode");
    if (s3db::detail::encoded_metadata_size(input) != wire.size()) fail("encoded_metadata_size disagrees with the encoding");

    // A stored record: decoding takes whatever is there and never throws.
    s3db::Metadata::container_type entries;
    for (std::string_view rest = input; !rest.empty();) {
        const auto nl = rest.find('\n');
        const std::string_view line = rest.substr(0, nl);
        rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
        const auto eq = line.find('=');
        if (eq == std::string_view::npos) continue;
        entries.emplace_back(std::string(line.substr(0, eq)), s3db::detail::decode_metadata_value(line.substr(eq + 1)));
    }
    const auto metadata = s3db::Metadata::from_entries(std::move(entries));
    nlohmann::json record = codec().decode(metadata);

    // What decodes and validates must encode again.
    if (codec().schema().check(record).empty()) (void)codec().encode(record);

    try {
        (void)secret_codec().decode(metadata);
    } catch (const s3db::Error&) {
    }
    return 0;
}
