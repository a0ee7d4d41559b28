// Records ↔ metadata. Expected metadata, sizes and decoded records were printed by s3db.js 21.6.2
// (its Schema mapper/unmapper, ResourceValidator and calculator, metadata keys sanitised as its
// clients do) for the same definitions and records, unless a comment says we differ on purpose.

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "s3db/core/codec.hpp"

using namespace s3db;
using nlohmann::json;
using nlohmann::ordered_json;

namespace {

struct Fixture {
    ordered_json attributes;
    Schema schema;
    std::map<std::string, int> mapping;
    Codec codec;

    explicit Fixture(const char* definition, CodecOptions options = {})
        : attributes(ordered_json::parse(definition)),
          schema(Schema::parse(attributes)),
          mapping(assign_indices(attributes)),
          codec(schema, mapping, std::move(options)) {}

    Metadata encode(const json& record) const { return codec.encode(schema.validate(record)); }
};

Metadata meta(std::initializer_list<std::pair<const std::string, std::string>> entries) {
    return Metadata(entries.begin(), entries.end());
}

// The resource of Appendix A of s3db-js-internals.md (timestamps on).
constexpr const char* appendix_a_attributes = R"({
    "name":"string","email":"string","age":"number|integer","score":"number","active":"boolean",
    "tags":"array|items:string","ip":"ip4","password":"secret","profile":{"bio":"string","city":"string"},
    "extra":"json","created":"datetime","city":"string","createdAt":"datetime|optional","updatedAt":"datetime|optional"})";

constexpr const char* appendix_a_record = R"({
    "id":"u1","name":"José Ñandú","email":"a@b.com","age":33,"score":12.5,"active":true,"tags":["a","b|c"],
    "ip":"192.168.0.1","password":"hunter2","profile":{"bio":"hi","city":"SP"},"extra":{"x":[1,2]},
    "created":"2024-01-02T03:04:05.000Z","city":"https://example.com/x",
    "createdAt":"2024-05-06T07:08:09.010Z","updatedAt":"2024-05-06T07:08:09.011Z"})";

}  // namespace

TEST(CodecAppendixA, AssignsTheIndicesS3dbJsAssigns) {
    auto mapping = assign_indices(ordered_json::parse(appendix_a_attributes));
    const std::map<std::string, int> expected = {
        {"name", 0},  {"email", 1}, {"age", 2},    {"score", 3},     {"active", 4},     {"tags", 5},
        {"ip", 6},    {"password", 7}, {"profile.bio", 8}, {"profile.city", 9}, {"extra", 10}, {"created", 11},
        {"city", 12}, {"createdAt", 13}, {"updatedAt", 14}, {"profile", 15}};
    EXPECT_EQ(mapping, expected);
}

TEST(CodecAppendixA, EncodesRecordU1ToTheSameMetadata) {
    Fixture f(appendix_a_attributes);
    auto mapped = f.codec.map(f.schema.validate(json::parse(appendix_a_record)));
    EXPECT_EQ(calculate_total_size(mapped), 183u);  // s3db.js calculateTotalSize of its mapped record
    Metadata m = Codec::to_metadata(std::move(mapped));
    ASSERT_TRUE(m.count("7"));
    std::string secret = m["7"];
    m.erase("7");
    EXPECT_EQ(m, meta({{"0", "José Ñandú"}, {"1", "a@b.com"}, {"2", "x"}, {"3", "c.5"}, {"4", "1"},
                       {"5", "a|b\\|c"}, {"6", "wKgAAQ=="}, {"8", "hi"}, {"9", "SP"}, {"a", "{\"x\":[1,2]}"},
                       {"b", "u0aFb6g"}, {"c", "https://example.com/x"}, {"d", "ubYyk2m"}, {"e", "ubYyk2n"},
                       {"_v", "v1"}}));
    // the secret is random: base64 of salt(16) iv(12) "hunter2"(7) tag(16), as s3db.js's was
    EXPECT_EQ(secret.size(), 68u);
    EXPECT_EQ(secret.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="), std::string::npos);
    EXPECT_EQ(f.codec.decode(meta({{"7", secret}}))["password"], "hunter2");
}

TEST(CodecAppendixA, DecodesTheMetadataS3dbJsWrote) {
    Fixture f(appendix_a_attributes);
    // as stored by s3db.js, including its own encryption of "hunter2"
    Metadata stored = meta({{"0", "José Ñandú"}, {"1", "a@b.com"}, {"2", "x"}, {"3", "c.5"}, {"4", "1"},
                            {"5", "a|b\\|c"}, {"6", "wKgAAQ=="},
                            {"7", "WXre+nXBTNZ2ENo2HKIZBNdeIOgmdKLbGg5TFG7JMbAY4MHz1ZcSH9P5CD1dDiuVpSkl"},
                            {"8", "hi"}, {"9", "SP"}, {"a", "{\"x\":[1,2]}"}, {"b", "u0aFb6g"},
                            {"c", "https://example.com/x"}, {"d", "ubYyk2m"}, {"e", "ubYyk2n"}, {"_v", "v1"}});
    json expected = json::parse(appendix_a_record);
    expected.erase("id");
    EXPECT_EQ(f.codec.decode(stored), expected);
}

TEST(CodecAppendixA, RoundTripsIncludingTheSecret) {
    Fixture f(appendix_a_attributes);
    json record = json::parse(appendix_a_record);
    json back = f.codec.decode(f.encode(record));
    record.erase("id");
    EXPECT_EQ(back, record);
}

namespace {

constexpr const char* all_types = R"({
    "i":"number|integer","d":"number","b":"boolean","f":"boolean",
    "s":"array|items:string","e":"array|items:string","n":"array|items:number","ni":"array|items:number|integer",
    "emb":"embedding:4","aj":"array","j1":"json","j3":"json",
    "dt":"datetime","dt2":"datetime","do1":"dateonly","do2":"dateonly","u":"uuid","ip":"ip4",
    "ip6a":"ip6","ip6b":"ip6","ip6c":"ip6","m":"money","m4":"money:4","c":"crypto","dec":"decimal","dec4":"decimal:4",
    "nest":{"a":"string","deep":{"x":"number"}},"empty":{"q":"string|optional"},"nul":{"r":"string|optional"},
    "ou":{"type":"uuid"},"odt":{"type":"datetime"},"on":{"type":"number","integer":true},"opt":"string|optional"})";

constexpr const char* all_types_record = R"({
    "i":-62,"d":-12.5,"b":true,"f":false,"s":["a\\b","c|d",""," x"],"e":[],"n":[1.5,-2,0,1.5e-7],"ni":[1,2,62,-3],
    "emb":[0.5,-0.25,0,1.0000004],"aj":[1,"a",true,null],"j1":{"a":1,"b":[true,null]},"j3":12.5,
    "dt":"2024-01-02T03:04:05.678Z","dt2":"1969-12-31T23:59:59.999Z","do1":"2024-01-02","do2":"1960-03-01",
    "u":"550e8400-e29b-41d4-a716-446655440000","ip":"10.0.0.255","ip6a":"2001:db8::1","ip6b":"::1",
    "ip6c":"fe80:0:0:1:0:0:0:2","m":19.99,"m4":1.23456,"c":0.00012345,"dec":12.345,"dec4":-3.14159,
    "nest":{"a":"x","deep":{"x":0.1}},"empty":{},"nul":null,"ou":"550e8400-e29b-41d4-a716-446655440000",
    "odt":"2024-01-02T03:04:05.000Z","on":7,"opt":null,
    "unk_num":1.5,"unk_bool":true,"unk_obj":{"a":{"b":1},"c":"x"},"unk_arr":[1,2],"José Ñ":"v","camelCase":"w",
    "unk_null":null,"unk_emptyobj":{},"unk_json":"{\"a\":1}"})";

// what s3db.js stored for all_types_record
const Metadata all_types_stored = {
    {"0", "-10"}, {"1", "-c.5"}, {"10", "{}"}, {"11", "null"}, {"12", "550e8400-e29b-41d4-a716-446655440000"},
    {"13", "2024-01-02T03:04:05.000Z"}, {"14", "7"}, {"2", "1"}, {"3", "0"}, {"4", "a\\\\b|c\\|d||x"}, {"5", ""},
    {"6", "1.5|-2|0|1.5e-7"}, {"7", "1|2|10|-3"}, {"8", "^[264w,-132g,0,4c92]"}, {"9", "[1,\"a\",true,null]"},
    {"_v", "v1"}, {"a", "{\"a\":1,\"b\":[true,null]}"}, {"b", "12.5"}, {"c", "u0aFbhc"}, {"camelcase", "w"},
    {"d", "-1"}, {"e", "588"}, {"f", "-VX"}, {"g", "1yzBHq49i4y833Iawe1yOjy8"}, {"h", "CgAA/w=="},
    {"i", "IAENuAAAAAAAAAAAAAAAAQ=="}, {"j", "AAAAAAAAAAAAAAAAAAAAAQ=="}, {"jos___", "v"},
    {"k", "/oAAAAAAAAEAAAAAAAAAAg=="}, {"l", "$wf"}, {"m", "$3d8"}, {"n", "$3d7"}, {"o", "^jV"}, {"p", "^-8aI"},
    {"q", "x"}, {"r", "0.1"}, {"unk_arr", "[1,2]"}, {"unk_bool", "true"}, {"unk_emptyobj", "{}"},
    {"unk_json", "{\"a\":1}"}, {"unk_null", "null"}, {"unk_num", "1.5"}, {"unk_obj_a_b", "1"}, {"unk_obj_c", "x"},
    {"y", "null"}};

}  // namespace

TEST(CodecTypes, EncodesEveryTypeAsS3dbJs) {
    Fixture f(all_types);
    auto mapped = f.codec.map(f.schema.validate(json::parse(all_types_record)));
    EXPECT_EQ(calculate_total_size(mapped), 466u);
    EXPECT_EQ(Codec::to_metadata(std::move(mapped)), all_types_stored);
}

TEST(CodecTypes, DecodesEveryTypeAsS3dbJs) {
    Fixture f(all_types);
    // s3db.js's unmapper on the same metadata, except "on": s3db.js hands object-form numbers back
    // as the string "7" (it never encodes them); we return the number the schema declares.
    json expected = json::parse(R"({
        "i":-62,"d":-12.5,"b":true,"f":false,"s":["a\\b","c|d","","x"],"e":[],"n":[1.5,-2,0,1.5e-7],"ni":[1,2,62,-3],
        "emb":[0.5,-0.25,0,1],"aj":[1,"a",true,null],"j1":{"a":1,"b":[true,null]},"j3":12.5,
        "dt":"2024-01-02T03:04:05.678Z","dt2":"1969-12-31T23:59:59.999Z","do1":"2024-01-02","do2":"1960-03-01",
        "u":"550e8400-e29b-41d4-a716-446655440000","ip":"10.0.0.255","ip6a":"2001:db8::1","ip6b":"::1",
        "ip6c":"fe80:0:0:1::2","m":19.99,"m4":1.2346,"c":0.00012345,"dec":12.35,"dec4":-3.1416,
        "nest":{"a":"x","deep":{"x":0.1}},"empty":{},"nul":null,"ou":"550e8400-e29b-41d4-a716-446655440000",
        "odt":"2024-01-02T03:04:05.000Z","on":7,"opt":null,
        "unk_num":"1.5","unk_bool":"true","unk_obj_a_b":"1","unk_obj_c":"x","unk_arr":[1,2],"jos___":"v",
        "camelcase":"w","unk_null":null,"unk_emptyobj":{},"unk_json":{"a":1}})");
    EXPECT_EQ(f.codec.decode(all_types_stored), expected);
}

TEST(CodecTypes, TypedFieldsRoundTrip) {
    Fixture f(all_types);
    json record = f.schema.validate(json::parse(all_types_record));
    json back = f.codec.decode(f.codec.encode(record));
    for (const char* unknown : {"unk_num", "unk_bool", "unk_obj", "unk_arr", "José Ñ", "camelCase", "unk_null",
                                "unk_emptyobj", "unk_json"})
        record.erase(unknown);  // unknown fields come back under sanitised names, as strings
    for (auto it = record.begin(); it != record.end(); ++it) {
        if (it.key() == "s") EXPECT_EQ(back["s"], json({"a\\b", "c|d", "", "x"}));  // trimmed items
        else if (it.key() == "emb") EXPECT_EQ(back["emb"], json({0.5, -0.25, 0, 1}));  // 6 decimals
        else if (it.key() == "m4") EXPECT_EQ(back["m4"], 1.2346);
        else if (it.key() == "dec") EXPECT_EQ(back["dec"], 12.35);
        else if (it.key() == "dec4") EXPECT_EQ(back["dec4"], -3.1416);
        else if (it.key() == "ip6c") EXPECT_EQ(back["ip6c"], "fe80:0:0:1::2");
        else EXPECT_EQ(back[it.key()], it.value()) << it.key();
    }
}

TEST(CodecTypes, TinyNumbersAreNotCorrupted) {
    // we differ on purpose: s3db.js writes "" for 1e-7 (and reads it back as "" or NaN)
    Fixture f(R"({"x":"number","xs":"array|items:number"})");
    Metadata m = f.encode({{"x", 1e-7}, {"xs", {1e-7, 1.5e-7}}});
    EXPECT_EQ(m["0"], "1.0e-7");
    EXPECT_EQ(m["1"], "1.0e-7|1.5e-7");
    EXPECT_EQ(f.codec.decode(m), json::parse(R"({"x":1e-7,"xs":[1e-7,1.5e-7]})"));
    // and what s3db.js wrote for them reads as s3db.js reads it (0 / NaN)
    EXPECT_EQ(f.codec.decode(meta({{"0", ""}, {"1", "1.5|-2|0||1.5e-7"}})),
              json::parse(R"({"x":0,"xs":[1.5,-2,0,null,1.5e-7]})"));
}

TEST(CodecTypes, JsonStringsAreStoredAsJson) {
    // we differ on purpose: s3db.js stores a json field's string verbatim ("str"), so "123" would
    // read back as a number; both forms read back here as they were written
    Fixture f(R"({"j":"json"})");
    EXPECT_EQ(f.encode({{"j", "str"}})["0"], "\"str\"");
    EXPECT_EQ(f.codec.decode(f.encode({{"j", "123"}})), json({{"j", "123"}}));
    EXPECT_EQ(f.codec.decode(meta({{"0", "str"}})), json({{"j", "str"}}));  // s3db.js's form
}

TEST(CodecTypes, ObjectFormFieldsAreStoredAsPlainText) {
    // s3db.js hooks its encoders to flattened definition paths ("n.type"), so object-form fields
    // are written with String(value) (object-form arrays excepted); we write the same bytes. s3db.js
    // reads them back as strings ("12.5", "true"); we return the declared types.
    Fixture f(R"({"n":{"type":"number"},"b":{"type":"boolean"},"d":{"type":"datetime"},"t":{"type":"array","items":"string"}})");
    EXPECT_EQ(f.mapping, (std::map<std::string, int>{{"n.type", 0}, {"b.type", 1}, {"d.type", 2}, {"t.type", 3},
                                                     {"t.items", 4}, {"n", 5}, {"b", 6}, {"d", 7}, {"t", 8}}));
    Metadata m = f.encode({{"n", 12.5}, {"b", true}, {"d", "2024-01-02"}, {"t", {"a", "b"}}});
    EXPECT_EQ(m, meta({{"5", "12.5"}, {"6", "true"}, {"7", "2024-01-02T00:00:00.000Z"}, {"8", "a|b"}, {"_v", "v1"}}));
    EXPECT_EQ(f.codec.decode(m), json::parse(R"({"n":12.5,"b":true,"d":"2024-01-02T00:00:00.000Z","t":["a","b"]})"));
}

TEST(CodecTypes, StringsThatLookLikeJsonStayStrings) {
    // we differ on purpose (s3db.js defect §13.5): s3db.js returns these parsed
    Fixture f(R"({"s":"string"})");
    EXPECT_EQ(f.codec.decode(f.encode({{"s", "[1,2]"}})), json({{"s", "[1,2]"}}));
    EXPECT_EQ(f.codec.decode(meta({{"0", "{\"a\":1}"}})), json({{"s", "{\"a\":1}"}}));
}

TEST(CodecTypes, NullsAreWrittenAsNullAndSizedAsEmpty) {
    Fixture f(R"({"a":"string","n":"number|optional"})");
    MappedRecord mapped = f.codec.map(f.schema.validate(json::parse(R"({"a":"Ω","n":1.5,"flag":true,"nothing":null,"count":12,"Ünï":"x"})")));
    EXPECT_EQ(calculate_total_size(mapped), 36u);
    Metadata m = Codec::to_metadata(std::move(mapped));
    EXPECT_EQ(m, meta({{"0", "Ω"}, {"1", "1.5"}, {"_v", "v1"}, {"flag", "true"}, {"nothing", "null"},
                       {"count", "12"}, {"_n_", "x"}}));
    EXPECT_EQ(f.codec.decode(m), json::parse(R"({"a":"Ω","n":1.5,"flag":"true","nothing":null,"count":"12","_n_":"x"})"));
    EXPECT_EQ(f.codec.decode(meta({{"1", "null"}})), json({{"n", nullptr}}));
    EXPECT_EQ(f.codec.decode(meta({{"1", "undefined"}})), json::object());
}

TEST(CodecTypes, StoredValuesOfTheWrongShapeComeBackAsText) {
    Fixture f(R"({"t":"datetime","u":"uuid","m":"money","d":"decimal","n":"number","ip":"ip4","j":"json"})");
    EXPECT_EQ(f.codec.decode(meta({{"0", "not b62!"}, {"1", "short"}, {"2", "12"}, {"3", "12"}, {"4", "1.2x"},
                                   {"5", "nope"}, {"6", "{oops"}})),
              json::parse(R"({"t":"not b62!","u":"short","m":"12","d":"12","n":"1.2x","ip":"nope","j":"{oops"})"));
}

TEST(CodecTypes, IdIsNeverStored) {
    Fixture f(R"({"a":"string"})");
    EXPECT_EQ(f.encode({{"id", "u1"}, {"a", "x"}}), meta({{"0", "x"}, {"_v", "v1"}}));
}

TEST(CodecTypes, AttributesWithoutAnIndexUseTheirPath) {
    auto attrs = ordered_json::parse(R"({"a":"number","p":{"q":"boolean"}})");
    Codec codec(Schema::parse(attrs), {{"a", 40}});
    Metadata m = codec.encode({{"a", 2.5}, {"p", {{"q", true}}}});
    EXPECT_EQ(m, meta({{"14", "2.5"}, {"p_q", "1"}, {"_v", "v1"}}));
    EXPECT_EQ(codec.decode(m), json::parse(R"({"a":2.5,"p":{"q":true}})"));
}

TEST(CodecKeys, SanitisesUnknownKeysLikeS3dbJsClients) {
    using detail::sanitize_metadata_key;
    EXPECT_EQ(sanitize_metadata_key("$overflow"), "_overflow");
    EXPECT_EQ(sanitize_metadata_key("_pluginMap"), "_pluginmap");
    EXPECT_EQ(sanitize_metadata_key("metadata.updatedAt"), "metadata_updatedat");
    EXPECT_EQ(sanitize_metadata_key("José Ñ"), "jos___");
    EXPECT_EQ(sanitize_metadata_key("a\U0001F600b"), "a__b");  // one character, two UTF-16 units
}

TEST(CodecIndices, FollowS3dbJsKeyOrder) {
    // printed by s3db.js: integer-like keys first, object-form definitions spend indices on their
    // own keys, object paths come last, `$$type: 'object'` (exactly) makes s3db.js list inner objects
    auto m1 = assign_indices(ordered_json::parse(
        R"({"name":"string","profile":{"bio":"string","address":{"street":"string","zip":"number"}},
            "age":{"type":"number","min":0},"2":"string","1":"string","z":"string"})"));
    EXPECT_EQ(m1, (std::map<std::string, int>{{"1", 0}, {"2", 1}, {"name", 2}, {"profile.bio", 3},
                                              {"profile.address.street", 4}, {"profile.address.zip", 5},
                                              {"age.type", 6}, {"age.min", 7}, {"z", 8}, {"profile", 9}, {"age", 10}}));
    auto m2 = assign_indices(ordered_json::parse(
        R"({"p":{"$$type":"object","a":"string","q":{"$$type":"object|required","b":"string"},"r":{"c":"string"}},
            "e":{},"f":{"$$type":"object"}})"));
    EXPECT_EQ(m2, (std::map<std::string, int>{{"p.a", 0}, {"p.q.b", 1}, {"p.r.c", 2}, {"e", 3}, {"p", 4},
                                              {"p.q", 5}, {"p.r", 6}, {"f", 7}}));
}

TEST(CodecIndices, RegistryKeepsIndicesAndBurnsRemovedOnes) {
    // s3db.js: registry {nextIndex 2, a:0, b:1} with attributes {a, c} → c:2, b burned, nextIndex 3
    SchemaRegistry r{2, {{"a", 0}, {"b", 1}}, {}};
    EXPECT_TRUE(update_registry(r, {"a", "c"}, "2024-01-01T00:00:00.000Z"));
    EXPECT_EQ(r.next_index, 3);
    EXPECT_EQ(r.mapping, (std::map<std::string, int>{{"a", 0}, {"c", 2}}));
    ASSERT_EQ(r.burned.size(), 1u);
    EXPECT_EQ(r.burned[0].index, 1);
    EXPECT_EQ(r.burned[0].attribute, "b");
    EXPECT_EQ(r.burned[0].reason, "removed");
    EXPECT_FALSE(update_registry(r, {"a", "c"}, "later"));
    // a burned index is never handed out again, even when b comes back
    EXPECT_TRUE(update_registry(r, {"a", "c", "b"}, "later"));
    EXPECT_EQ(r.mapping.at("b"), 3);
}

TEST(CodecSize, OverheadAndEffectiveLimitAsS3dbJs) {
    EXPECT_EQ(calculate_system_overhead("v1", false, ""), 4u);
    EXPECT_EQ(calculate_system_overhead("v1", true, std::string(22, 'x')), 94u);
    EXPECT_EQ(calculate_effective_limit(s3db_metadata_limit, "v1", false, std::string(22, 'x')), 2019);
    EXPECT_EQ(calculate_effective_limit(s3db_metadata_limit, "v1", true, std::string(22, 'x')), 1953);
    EXPECT_EQ(calculate_effective_limit(s3db_metadata_limit, "v1", true, ""), 1977);
}

TEST(CodecSecret, ReadsWhatS3dbJsEncrypted) {
    Fixture f(R"({"pw":"secret"})");
    EXPECT_EQ(f.codec.decode(meta({{"0", "27E2IGUAq0Jp//jeIgPfy3TZd2+MRcMOu+1p/+Myn2j2PTlrT4VlnhIX4BlHS2mIGTth"}})),
              json({{"pw", "hunter2"}}));
}

TEST(CodecSecret, EncryptsSoS3dbJsCanDecrypt) {
    // s3db.js's decrypt() opened values written this way ("José ñ secret" and "") with passphrase
    // "secret" when checked with node; here: format, freshness, and our own decryption.
    Fixture f(R"({"pw":"secret"})");
    std::string a = f.encode({{"pw", "José ñ secret"}})["0"];
    std::string b = f.encode({{"pw", "José ñ secret"}})["0"];
    EXPECT_NE(a, b);  // a fresh IV every time
    auto blob = detail::base64_decode(a);
    ASSERT_TRUE(blob);
    EXPECT_EQ(blob->size(), 16 + 12 + std::string("José ñ secret").size() + 16);
    EXPECT_EQ(f.codec.decode(meta({{"0", a}})), json({{"pw", "José ñ secret"}}));
    EXPECT_EQ(f.codec.decode(meta({{"0", b}})), json({{"pw", "José ñ secret"}}));
}

TEST(CodecSecret, AlreadyEncryptedValuesAreNotEncryptedTwice) {
    Fixture f(R"({"pw":"secret"})");
    const std::string sealed = "27E2IGUAq0Jp//jeIgPfy3TZd2+MRcMOu+1p/+Myn2j2PTlrT4VlnhIX4BlHS2mIGTth";
    EXPECT_EQ(f.encode({{"pw", sealed}})["0"], sealed);
}

TEST(CodecSecret, DisabledDecryptionSeesCiphertext) {
    const std::string sealed = "27E2IGUAq0Jp//jeIgPfy3TZd2+MRcMOu+1p/+Myn2j2PTlrT4VlnhIX4BlHS2mIGTth";
    Fixture off(R"({"pw":"secret"})", CodecOptions{.auto_encrypt = false, .auto_decrypt = false});
    EXPECT_EQ(off.encode({{"pw", "plain"}})["0"], "plain");
    EXPECT_EQ(off.codec.decode(meta({{"0", sealed}})), json({{"pw", sealed}}));
}

TEST(CodecSecret, CiphertextThatDoesNotOpenIsATypedErrorNeverTheValue) {
    const std::string sealed = "27E2IGUAq0Jp//jeIgPfy3TZd2+MRcMOu+1p/+Myn2j2PTlrT4VlnhIX4BlHS2mIGTth";
    Fixture wrong(R"({"pw":"secret"})", CodecOptions{.passphrase = "not-it"});
    try {
        wrong.codec.decode(meta({{"0", sealed}}));
        FAIL() << "a wrong passphrase returned the ciphertext";
    } catch (const DecryptionFailed& e) {
        EXPECT_EQ(e.field(), "pw");
        EXPECT_EQ(e.stage(), DecryptionFailed::Stage::read);
        std::string what = e.what();
        EXPECT_NE(what.find("'pw'"), std::string::npos) << what;
        EXPECT_EQ(what.find(sealed), std::string::npos) << what;
        EXPECT_EQ(what.find("not-it"), std::string::npos) << what;
    }
    // The right passphrase on altered ciphertext: the tag fails too.
    Fixture f(R"({"pw":"secret"})");
    std::string altered = sealed;
    altered[30] = altered[30] == 'A' ? 'B' : 'A';
    EXPECT_THROW(f.codec.decode(meta({{"0", altered}})), DecryptionFailed);
    // Nested secrets are named by their path.
    Fixture right(R"({"creds":{"pw":"secret"}})");
    Metadata stored = right.encode({{"creds", {{"pw", "hunter2"}}}});
    Fixture wrong_nested(R"({"creds":{"pw":"secret"}})", CodecOptions{.passphrase = "not-it"});
    try {
        wrong_nested.codec.decode(stored);
        FAIL() << "a wrong passphrase returned the ciphertext";
    } catch (const DecryptionFailed& e) {
        EXPECT_EQ(e.field(), "creds.pw");
        EXPECT_TRUE(e.resource().empty() && e.id().empty());
        auto placed = e.in_record("users", "u1");
        EXPECT_NE(std::string(placed.what()).find("'creds.pw' of record 'u1' of resource 'users'"), std::string::npos)
            << placed.what();
    }
    // What cannot be ciphertext (written with encryption off) is still returned as stored.
    EXPECT_EQ(f.codec.decode(meta({{"0", "plain"}})), json({{"pw", "plain"}}));
    EXPECT_EQ(f.codec.decode(meta({{"0", std::string(64, '-')}})), json({{"pw", std::string(64, '-')}}));
}

TEST(CodecSecret, WithDecryptionOffCiphertextIsCarriedThroughAndNeverSealedAgain) {
    Fixture right(R"({"pw":"secret"})");
    Metadata stored = right.encode({{"pw", "hunter2"}});
    // Same passphrase, decryption off: the caller sees the ciphertext and writes it back unchanged.
    Fixture off(R"({"pw":"secret"})", CodecOptions{.auto_decrypt = false});
    json seen = off.codec.decode(stored);
    EXPECT_EQ(seen["pw"], stored.at("0"));
    EXPECT_EQ(off.encode(seen).at("0"), stored.at("0"));
    // Another passphrase cannot tell that ciphertext from a plaintext: it neither seals it again
    // (which would lose the secret for the right passphrase) nor stores it as given.
    Fixture other(R"({"pw":"secret"})", CodecOptions{.passphrase = "not-it", .auto_decrypt = false});
    json foreign = other.codec.decode(stored);
    EXPECT_EQ(foreign["pw"], stored.at("0"));
    try {
        other.encode(foreign);
        FAIL() << "ciphertext under another passphrase was encrypted again";
    } catch (const DecryptionFailed& e) {
        EXPECT_EQ(e.field(), "pw");
        EXPECT_EQ(e.stage(), DecryptionFailed::Stage::write);
        EXPECT_EQ(std::string(e.what()).find(stored.at("0")), std::string::npos);
    }
    // New plaintext is still encrypted, under its own passphrase.
    std::string fresh = other.encode({{"pw", "new secret"}}).at("0");
    EXPECT_NE(fresh, "new secret");
    Fixture other_on(R"({"pw":"secret"})", CodecOptions{.passphrase = "not-it"});
    EXPECT_EQ(other_on.codec.decode(meta({{"0", fresh}}))["pw"], "new secret");
}

TEST(CodecSecret, SecretsAreMarkedInTheMappedRecord) {
    Fixture f(R"({"name":"string","pw":"secret"})");
    MappedRecord mapped = f.codec.map(f.schema.validate(json{{"name", "Ada"}, {"pw", "hunter2"}}));
    const std::string pw_key = detail::b36_encode(static_cast<std::uint64_t>(f.mapping.at("pw")));
    ASSERT_EQ(mapped.size(), 3u);  // _v, name, pw
    for (const auto& field : mapped) EXPECT_EQ(field.secret, field.key == pw_key) << field.key;
}

TEST(CodecSecret, KeyDerivationIsPaidOncePerSalt) {
    // s3db.js runs PBKDF2 (100 000 rounds) for every value; 200 values here must not
    Fixture f(R"({"pw":"secret"})");
    f.encode({{"pw", "warm-up"}});
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 200; ++i) {
        Metadata m = f.encode({{"pw", "value " + std::to_string(i)}});
        ASSERT_EQ(f.codec.decode(m)["pw"], "value " + std::to_string(i));
    }
    auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_LT(elapsed, std::chrono::seconds(2));  // 400 derivations would take 10 s or more
}

TEST(CodecJson, StringifiesLikeJavaScript) {
    EXPECT_EQ(detail::js_json(json::parse(R"({"a":[1,2.5,1e-7,true,null,"x\"\n\u0001é"],"b":{}})")),
              "{\"a\":[1,2.5,1e-7,true,null,\"x\\\"\\n\\u0001é\"],\"b\":{}}");
    EXPECT_EQ(detail::js_json(json(100.0)), "100");
    EXPECT_EQ(detail::js_json(json(1e21)), "1e+21");
}

TEST(CodecSize, MappedValuesKeepTheirJavaScriptTypeForBodies) {
    Fixture f(R"({"a":"string"})");
    MappedRecord mapped = f.codec.map(json::parse(R"({"a":"x","n":1.5,"big":1e21,"t":true,"z":null})"));
    json body = json::object();
    std::size_t values = 0;
    for (const auto& field : mapped) {
        body[field.key] = mapped_value_json(field);
        values += accounted_value_size(field);
    }
    EXPECT_EQ(body, json::parse(R"({"_v":"v1","0":"x","n":1.5,"big":1e21,"t":true,"z":null})"));
    EXPECT_EQ(values, 2u + 1 + 3 + 5 + 1 + 0);  // "v1" "x" "1.5" "1e+21" true→1 null→0
}

TEST(CodecIndices, OutOfRangeIndicesAreRefused) {
    auto attrs = ordered_json::parse(R"({"a":"string"})");
    EXPECT_THROW(Codec(Schema::parse(attrs), {{"a", -1}}), SchemaError);
    EXPECT_THROW(Codec(Schema::parse(attrs), {{"a", 1 << 21}}), SchemaError);
}

// ---- s3db.js's own types (detail/js_types.hpp) ----

namespace {

constexpr const char* js_types = R"({
    "tm":"timeonly","tm2":"timeonly","mac":"mac","mac0":"mac","cidr":"cidr","sv":"semver","ph":"phone","col":"color",
    "col2":"color","dur":"duration","dur2":"duration","dur3":"duration","durz":"duration","cron":"cron","loc":"locale",
    "loc2":"locale","cur":"currency","ctry":"country","ean":"ean","ean8":"ean","ean12":"ean","ean14":"ean",
    "eannum":"ean","lat":"geo:lat","lon":"geo:lon:4","pt":"geo:point","sa":"secretAny","sn":"secretNumber",
    "omac":{"type":"mac"},"olat":{"type":"geo:lat"}})";

constexpr const char* js_types_record = R"({
    "tm":"13:45","tm2":"2024-01-02T03:04:05.678Z","mac":"AA-BB-CC-DD-EE-FF","mac0":"00:00:00:00:00:01",
    "cidr":"010.0.0.0/08","sv":"v1.2.3","ph":"+55 (11) 99999-9999","col":"#F57","col2":"000000","dur":"1h30m",
    "dur2":"PT1.5S","dur3":250,"durz":0,"cron":"0  */5 * * *","loc":"pt_br","loc2":"EN","cur":"usd","ctry":"br",
    "ean":"4006381333931","ean8":"96385074","ean12":"036000291452","ean14":"10012345678902","eannum":123,
    "lat":-23.55052,"lon":-46.633308,"pt":{"lat":1.5,"lon":-2.25},"sa":true,"sn":"42",
    "omac":"AA:BB:CC:DD:EE:FF","olat":12.5})";

// what s3db.js 21.6.2 stored for js_types_record (its insert, metadata as the client wrote it),
// the two secrets left out (random salt and IV)
const Metadata js_types_stored = {
    {"0", "3lHd6"}, {"1", "Klu6"}, {"2", "0RiYGo9Lp"}, {"3", "000000001"}, {"4", "0blXcA8"}, {"5", "4cFl"},
    {"6", "1z2ASgSr"}, {"7", "18da7"}, {"8", "00000"}, {"9", "mEMM"}, {"_v", "v1"}, {"a", "oc"}, {"b", "42"},
    {"c", "0"}, {"d", "0 */5 * * *"}, {"e", "pt-BR"}, {"f", "en"}, {"g", "USD"}, {"h", "BR"}, {"i", "118x8XMN5"},
    {"j", "06wq9Y"}, {"k", "2Dilym8"}, {"l", "32QgVg6RU"}, {"m", "11Z"}, {"n", "~4uOxO"}, {"o", "~5AWL"},
    {"p", "~6bVks~c1OTu"}, {"u", "aa:bb:cc:dd:ee:ff"}, {"v", "12.5"}};

// what s3db.js's unmapper returned for it (insert() returned the same)
constexpr const char* js_types_read = R"({
    "tm":"13:45:00.000","tm2":"03:04:05.678","mac":"aa:bb:cc:dd:ee:ff","mac0":"00:00:00:00:00:01",
    "cidr":"10.0.0.0/8","sv":"1.2.3","ph":"+5511999999999","col":"#ff5577","col2":"#000000","dur":"PT1H30M",
    "dur2":"PT1.500S","dur3":"PT0.250S","durz":"PT0S","cron":"0 */5 * * *","loc":"pt-BR","loc2":"en","cur":"USD",
    "ctry":"BR","ean":"4006381333931","ean8":"96385074","ean12":"036000291452","ean14":"10012345678902",
    "eannum":"0000000000123","lat":-23.550520000000006,"lon":-46.63329999999999,
    "pt":{"latitude":1.5,"longitude":-2.25},"sa":"true","sn":"42","omac":"aa:bb:cc:dd:ee:ff","olat":12.5})";

Metadata without_secrets(Metadata m) {
    m.erase("q");
    m.erase("r");
    return m;
}

}  // namespace

TEST(CodecJsTypes, EncodesAsS3dbJs) {
    Fixture f(js_types);
    auto stored = f.encode(json::parse(js_types_record));
    ASSERT_TRUE(stored.count("q") && stored.count("r"));
    EXPECT_EQ(without_secrets(stored), js_types_stored);
}

TEST(CodecJsTypes, DecodesAsS3dbJs) {
    Fixture f(js_types);
    auto stored = f.encode(json::parse(js_types_record));  // with secrets under our passphrase
    // "olat": s3db.js hands the object-form number back as the string "12.5"; we as the number
    EXPECT_EQ(f.codec.decode(stored), json::parse(js_types_read));
    // and what validation returns is what every read returns
    EXPECT_EQ(f.schema.validate(json::parse(js_types_record)), json::parse(js_types_read));
}

TEST(CodecJsTypes, ReadsTheSecretsS3dbJsWrote) {
    Fixture f(js_types);
    Metadata m = js_types_stored;
    m["q"] = "+uQTA3zal7YJrvu0fiJX9bS1sV9cHkqi5okFn9xi3NJtXpslqvt9xGI+YsB+VnvV";  // secretAny true
    m["r"] = "31Yqt0PEsymRaf9OBF7xvXP0o667WI548aVoAlQxzNw4HJDy7IFq9P8Xxcp3oQ==";  // secretNumber 42
    auto back = f.codec.decode(m);
    EXPECT_EQ(back["sa"], "true");  // s3db.js reads both back as text
    EXPECT_EQ(back["sn"], "42");
}

TEST(CodecJsTypes, EdgeValuesAsS3dbJs) {
    // s3db.js's mapper and unmapper on these values
    Fixture f(R"({"dur":"duration","durz":"duration","dur2":"duration","dur3":"duration","lat":"geo:lat",
                  "lon":"geo:lon:4","pt":"geo:point"})");
    json record = {{"dur", 0}, {"durz", 86400000 + 3723004}, {"dur2", 61000}, {"dur3", 5}, {"lat", 90}, {"lon", -180},
                   {"pt", {-90, 180}}};
    const Metadata stored = {{"_v", "v1"}, {"0", "0"}, {"1", "6696Q"}, {"2", "fRS"}, {"3", "5"},
                             {"4", "~cbgdO"}, {"5", "~0"}, {"6", "~0~omwrC"}};
    EXPECT_EQ(f.encode(record), stored);
    EXPECT_EQ(f.codec.decode(stored), json::parse(R"({"dur":"PT0S","durz":"P1DT1H2M3.004S","dur2":"PT1M1S",
        "dur3":"PT0.005S","lat":90,"lon":-180,"pt":{"latitude":-90,"longitude":180}})"));
}

TEST(CodecJsTypes, DatesBuffersAndBits) {
    Fixture f(R"({"d":"date|convert:true","buf":"buffer","bits":"bits:12","od":{"type":"date","convert":true},
                  "obuf":{"type":"buffer"}})");
    json record = {{"d", "2024-01-02"}, {"buf", {0, 1, 2, 255}}, {"bits", {{"type", "Buffer"}, {"data", {255, 15}}}},
                   {"od", 1700000000000}, {"obuf", {7}}};
    // s3db.js's mapper: JSON.stringify of the Date, base64 of the bytes. A Buffer in an
    // object-form field (whose hooks s3db.js registers under "obuf.type", never met) we differ on
    // purpose: s3db.js flattens it into one key per byte ("obuf.0": 7) and never reads it back as
    // one value; we write Node's JSON of the Buffer, which s3db.js reads back as that object.
    const Metadata stored = {{"_v", "v1"},
                             {"0", "\"2024-01-02T00:00:00.000Z\""},
                             {"1", "AAEC/w=="},
                             {"2", "/w8="},
                             {"6", "\"2023-11-14T22:13:20.000Z\""},  // od.type..obuf.type take 3 to 5
                             {"7", "{\"type\":\"Buffer\",\"data\":[7]}"}};
    EXPECT_EQ(f.encode(record), stored);
    auto buffer = [](std::initializer_list<int> bytes) { return json{{"type", "Buffer"}, {"data", bytes}}; };
    // s3db.js returns the date text with its quotes and Buffers; we return the ISO text, and a
    // Buffer as Node writes it in JSON
    EXPECT_EQ(f.codec.decode(stored), (json{{"d", "2024-01-02T00:00:00.000Z"}, {"buf", buffer({0, 1, 2, 255})},
                                            {"bits", buffer({255, 15})}, {"od", "2023-11-14T22:13:20.000Z"},
                                            {"obuf", buffer({7})}}));
    // a stored value of the wrong size or alphabet comes back as the text
    EXPECT_EQ(f.codec.decode({{"2", "AAEC"}})["bits"], "AAEC");
    EXPECT_EQ(f.codec.decode({{"1", "not base64!"}})["buf"], "not base64!");
}

TEST(CodecJsTypes, ForeignTextOfTheWrongShapeComesBackAsStored) {
    Fixture f(js_types);
    // s3db.js's guards: a value already in its plain form is returned as is
    Metadata m = {{"2", "aa:bb:cc:dd:ee:ff"}, {"4", "10.0.0.0/8"}, {"5", "1.2.3"}, {"6", "+551199"},
                  {"7", "#ffffff"}, {"9", "PT1H"}, {"i", "4006381333931"}, {"n", "12.5"}, {"p", "~1"}};
    auto back = f.codec.decode(m);
    EXPECT_EQ(back["mac"], "aa:bb:cc:dd:ee:ff");
    EXPECT_EQ(back["cidr"], "10.0.0.0/8");
    EXPECT_EQ(back["sv"], "1.2.3");
    EXPECT_EQ(back["ph"], "+551199");
    EXPECT_EQ(back["col"], "#ffffff");
    EXPECT_EQ(back["dur"], "PT1H");
    EXPECT_EQ(back["ean"], "4006381333931");
    EXPECT_EQ(back["lat"], "12.5");
    EXPECT_EQ(back["pt"], "~1");
}
