// Metadata values on the wire must match what s3db.js writes and reads. Expected encodings were
// printed by s3db.js 21.6.2 (metadataEncode / metadataDecode from its npm package).

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>

#include "s3db/detail/metadata_codec.hpp"
#include "s3db/transport/s3/rules.hpp"
#include "s3db/transport/transport.hpp"

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

// Metadata is a sorted vector with std::map's interface: the same order and the same answers.
TEST(MetadataMap, BehavesAsAnOrderedMap) {
    Metadata m{{"b", "2"}, {"a", "1"}, {"b", "3"}};  // a repeated key: the later value wins
    ASSERT_EQ(m.size(), 2u);
    EXPECT_EQ(m.begin()->first, "a");
    EXPECT_EQ(m.at("b"), "3");
    EXPECT_TRUE(m.emplace("c", "4").second);
    EXPECT_FALSE(m.emplace("c", "5").second);  // emplace never overwrites
    EXPECT_EQ(m.at("c"), "4");
    EXPECT_FALSE(m.insert_or_assign("c", "6").second);
    EXPECT_EQ(m.at("c"), "6");
    m["_v"] = "v1";  // '_' sorts before lowercase letters
    std::string order;
    for (const auto& [k, v] : m) order += k + "=" + v + ";";
    EXPECT_EQ(order, "_v=v1;a=1;b=3;c=6;");
    EXPECT_EQ(m.count("a"), 1u);
    EXPECT_EQ(m.count("z"), 0u);
    EXPECT_EQ(m.find("z"), m.end());
    EXPECT_THROW((void)m.at("z"), std::out_of_range);
    EXPECT_EQ(m.erase("a"), 1u);
    EXPECT_EQ(m.erase("a"), 0u);
    EXPECT_FALSE(m.contains("a"));
    EXPECT_EQ(m, (Metadata{{"c", "6"}, {"b", "3"}, {"_v", "v1"}}));
    EXPECT_NE(m, (Metadata{{"c", "6"}}));
}

TEST(MetadataMap, FromEntriesSortsAndKeepsTheLastOfEqualKeys) {
    // Small inputs take the insertion sort, large ones stable_sort: both must keep the last value.
    for (std::size_t n : {0u, 1u, 5u, 64u, 65u, 300u}) {
        Metadata::container_type entries;
        std::map<std::string, std::string> expected;
        for (std::size_t i = 0; i < n; ++i) {
            auto key = std::to_string((i * 7919) % (n / 2 + 1));  // every key more than once when n > 1
            entries.emplace_back(key, std::to_string(i));
            expected[key] = std::to_string(i);
        }
        auto m = Metadata::from_entries(std::move(entries));
        ASSERT_EQ(m.size(), expected.size()) << n;
        EXPECT_TRUE(std::equal(m.begin(), m.end(), expected.begin(), expected.end(),
                               [](const auto& a, const auto& b) { return a.first == b.first && a.second == b.second; }))
            << n;
    }
}
