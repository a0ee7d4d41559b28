// Metadata values on the wire must match what s3db.js writes and reads. Expected encodings were
// printed by s3db.js 21.6.2 (metadataEncode / metadataDecode from its npm package).

#include <gtest/gtest.h>

#include "s3db/detail/metadata_codec.hpp"
#include "s3db/detail/s3_rules.hpp"

using namespace s3db;
using namespace s3db::detail;

TEST(MetadataCodec, EncodesAsS3dbJsDoes) {
    EXPECT_EQ(encode_metadata_value("plain"), "plain");
    EXPECT_EQ(encode_metadata_value("São Paulo"), "u:S%C3%A3o%20Paulo");
    EXPECT_EQ(encode_metadata_value("José Ñandú"), "u:Jos%C3%A9%20%C3%91and%C3%BA");
    EXPECT_EQ(encode_metadata_value("東京"), "b:5p2x5Lqs");
    EXPECT_EQ(encode_metadata_value("àéîõü"), "b:w6DDqcOuw7XDvA==");
    EXPECT_EQ(encode_metadata_value("ok 👍"), "b:b2sg8J+RjQ==");  // a surrogate pair counts twice
    EXPECT_EQ(encode_metadata_value("a\tb"), "b:YQli");           // control characters are not ASCII
    EXPECT_EQ(encode_metadata_value("d:j"), "b:ZDpq");            // lookalikes are forced to base64
}

TEST(MetadataCodec, DecodesEverythingS3dbJsWrites) {
    for (auto v : {"plain", "São Paulo", "José Ñandú", "東京", "àéîõü", "ok 👍", "a\tb", "d:j", "u:x", "b:y", ""})
        EXPECT_EQ(decode_metadata_value(encode_metadata_value(v)), v);
    // s3db.js's dictionary: whole values and URL prefixes (its 'f' means "failed", also for font/woff2).
    EXPECT_EQ(decode_metadata_value("d:j"), "application/json");
    EXPECT_EQ(decode_metadata_value("d:@hx.io/a"), "https://x.io/a");
    EXPECT_EQ(decode_metadata_value("d:@hexample.com/x"), "https://example.com/x");
    EXPECT_EQ(decode_metadata_value("d:f"), "failed");
    EXPECT_EQ(decode_metadata_value("d:p"), "processing");
}

TEST(MetadataCodec, MalformedEncodingsAreKeptAsTheyCame) {
    EXPECT_EQ(decode_metadata_value("u:%zz"), "u:%zz");
    EXPECT_EQ(decode_metadata_value("b:***"), "b:***");
    EXPECT_EQ(decode_metadata_value("d:?"), "d:?");
    EXPECT_EQ(decode_metadata_value("u:"), "u:");
    EXPECT_EQ(decode_metadata_value("z:abc"), "z:abc");
}

TEST(MetadataCodec, SizeIsCountedOnTheEncodedForm) {
    EXPECT_EQ(encoded_metadata_size("abc"), 3u);
    EXPECT_EQ(encoded_metadata_size("東京"), std::string("b:5p2x5Lqs").size());
    EXPECT_EQ(encoded_metadata_size("d:j"), std::string("b:ZDpq").size());
}

TEST(MetadataRules, KeysAreLowercasedAndMustBeHeaderNames) {
    auto m = normalize_metadata({{"Mixed-Case", "v"}}, "obj", 2048);
    EXPECT_EQ(m, (Metadata{{"mixed-case", "v"}}));
    EXPECT_THROW(normalize_metadata({{"bad key", "v"}}, "obj", 2048), TransportError);
    EXPECT_THROW(normalize_metadata({{"", "v"}}, "obj", 2048), TransportError);
    EXPECT_NO_THROW(normalize_metadata({{"k", std::string(5000, 'v')}}, "obj", 0));  // 0: no limit
}
