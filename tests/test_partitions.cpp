// Partition definitions, reference keys, listing prefixes and update plans. Expected keys for values
// s3db.js writes correctly were printed by s3db.js 21.6.2 (`ResourcePartitions.getKey`) for the same
// definitions and records; field orders were checked against Node's `localeCompare` (ICU 78).

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <utility>
#include <vector>

#include "s3db/core/partitions.hpp"

using namespace s3db;
using nlohmann::json;
using nlohmann::ordered_json;

namespace {

const Schema& users_schema() {
    static const Schema schema = Schema::parse(ordered_json::parse(R"({
        "name": "string", "region": "string", "status": "string|required", "age": "number|integer",
        "active": "boolean", "tags": "array|items:string", "createdAt": "datetime|optional",
        "city": {"type": "string"}, "utm": {"source": "string", "medium": "string"}, "meta": "json",
        "A": "number", "b": "string", "a_b": "string", "a": {"b": "string"}, "a1": "string", "Z": "string",
        "z": "string", "f": "any", "g": "any"})"));
    return schema;
}

Partitions parse(const char* definitions, PartitionOptions options = {}) {
    return Partitions::parse("users", ordered_json::parse(definitions), users_schema(), options);
}

/// The key of `record` in the only partition of a one-field definition with `rule`.
std::optional<std::string> key_with(const std::string& rule, const json& value) {
    auto parts = Partitions::parse("users", ordered_json{{"p", {{"fields", {{"f", rule}}}}}}, users_schema());
    return parts.key("p", json{{"f", value}}, "u1");
}

std::string one(const std::string& segment) { return "resource=users/partition=p/" + segment + "/id=u1"; }

PartitionError partition_error(const char* definitions, PartitionOptions options = {}) {
    try {
        parse(definitions, options);
    } catch (const PartitionError& e) {
        return e;
    }
    return PartitionError("", "", "", "no error");
}

std::vector<std::string> keys_of(const std::vector<PartitionRef>& refs) {
    std::vector<std::string> out;
    for (const auto& r : refs) out.push_back(r.key);
    return out;
}

}  // namespace

// ---- definitions ----------------------------------------------------------------------------

TEST(PartitionDefinitions, ObjectFormKeepsPartitionOrderAndReadsRules) {
    auto parts = parse(R"({"byRegion": {"fields": {"region": "string"}},
                           "bySource": {"fields": {"utm.source": "string|maxlength:10"}},
                           "byDay": {"fields": {"createdAt": "date|maxlength:10"}}})");
    ASSERT_EQ(parts.size(), 3u);
    EXPECT_EQ(parts.partitions()[0].name, "byRegion");
    EXPECT_EQ(parts.partitions()[1].name, "bySource");
    EXPECT_EQ(parts.partitions()[2].name, "byDay");
    const auto& source = parts.partitions()[1].fields.at(0);
    EXPECT_EQ(source.name, "utm.source");
    EXPECT_EQ(source.rule, "string|maxlength:10");
    EXPECT_EQ(source.max_length, 10u);
    EXPECT_FALSE(source.date);
    EXPECT_TRUE(parts.partitions()[2].fields.at(0).date);
    EXPECT_EQ(parts.find("byDay"), &parts.partitions()[2]);
    EXPECT_EQ(parts.find("byNothing"), nullptr);
    EXPECT_EQ(parts.definition().dump(),
              R"({"byRegion":{"fields":{"region":"string"}},"bySource":{"fields":{"utm.source":"string|maxlength:10"}},)"
              R"("byDay":{"fields":{"createdAt":"date|maxlength:10"}}})");
}

TEST(PartitionDefinitions, ArrayShorthandNamesPartitionsByFieldWithItsType) {
    auto parts = parse(R"(["status", "city", "age", "utm"])");
    EXPECT_EQ(parts.definition().dump(),
              R"({"byStatus":{"fields":{"status":"string"}},"byCity":{"fields":{"city":"string"}},)"
              R"("byAge":{"fields":{"age":"number"}},"byUtm":{"fields":{"utm":"string"}}})");
}

TEST(PartitionDefinitions, ArrayShorthandNeedsTopLevelAttributes) {
    auto e = partition_error(R"(["nope"])");
    EXPECT_EQ(e.field(), "nope");
    EXPECT_STREQ(e.what(),
                 "resource 'users', field 'nope': partition shorthand names a field that is not a top-level attribute");
    EXPECT_EQ(partition_error(R"(["utm.source"])").field(), "utm.source");
    EXPECT_EQ(partition_error(R"(["nope"])", {.strict = false}).field(), "nope");  // s3db.js checks it either way
    EXPECT_THROW(parse(R"([1])"), PartitionError);
}

TEST(PartitionDefinitions, StrictModeRejectsFieldsThatAreNotAttributes) {
    auto e = partition_error(R"({"byX": {"fields": {"region": "string", "regoin": "string"}}})");
    EXPECT_EQ(e.resource(), "users");
    EXPECT_EQ(e.partition(), "byX");
    EXPECT_EQ(e.field(), "regoin");
    EXPECT_NE(std::string(e.what()).find("resource 'users', partition 'byX', field 'regoin': not an attribute"),
              std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("region"), std::string::npos);  // lists what exists
    EXPECT_EQ(partition_error(R"({"p": {"fields": {"utm.nope": "string"}}})").field(), "utm.nope");
    EXPECT_EQ(partition_error(R"({"p": {"fields": {"meta.source": "string"}}})").field(), "meta.source");
}

TEST(PartitionDefinitions, NestedAndUnderscoreFieldsAreAccepted) {
    EXPECT_NO_THROW(parse(R"({"p": {"fields": {"utm.source": "string", "_v": "string"}}})"));
}

TEST(PartitionDefinitions, LenientModeAcceptsUnknownFields) {
    auto parts = parse(R"({"byX": {"fields": {"gone": "string"}}})", {.strict = false});
    EXPECT_EQ(parts.partitions().at(0).fields.at(0).name, "gone");
}

TEST(PartitionDefinitions, NamesThatWouldBreakKeysAreRejected) {
    EXPECT_EQ(partition_error(R"({"by/x": {"fields": {"region": "string"}}})").partition(), "by/x");
    EXPECT_EQ(partition_error(R"({"byX": {"fields": {"a=b": "string"}}})", {.strict = false}).field(), "a=b");
    EXPECT_EQ(partition_error(R"({"byX": {"fields": {"a%b": "string"}}})", {.strict = false}).field(), "a%b");
    EXPECT_EQ(partition_error(R"({"byX": {"fields": {"a\\b": "string"}}})", {.strict = false}).field(), "a\\b");
    EXPECT_EQ(partition_error(R"({"byX": {"fields": {"a\nb": "string"}}})", {.strict = false}).field(), "a\nb");
    EXPECT_NE(std::string(partition_error(R"({"": {"fields": {"region": "string"}}})").what()).find("is empty"),
              std::string::npos);
}

TEST(PartitionDefinitions, MalformedDefinitionsAreRejected) {
    EXPECT_EQ(partition_error(R"({"byX": "region"})").partition(), "byX");
    EXPECT_EQ(partition_error(R"({"byX": {"field": {"region": "string"}}})").partition(), "byX");
    EXPECT_EQ(partition_error(R"({"byX": {"fields": ["region"]}})").partition(), "byX");
    EXPECT_EQ(partition_error(R"({"byX": {"fields": {"region": 1}}})").field(), "region");
    EXPECT_THROW(parse(R"("byRegion")"), PartitionError);
    EXPECT_TRUE(parse("null").empty());
    EXPECT_TRUE(parse("{}").empty());
}

TEST(PartitionDefinitions, NonAsciiFieldNamesOnlyWhereOrderDoesNotMatter) {
    auto schema = Schema::parse(ordered_json::parse(R"({"régión": "string", "city": "string"})"));
    EXPECT_NO_THROW(Partitions::parse("users", ordered_json::parse(R"({"p": {"fields": {"régión": "string"}}})"), schema));
    try {
        Partitions::parse("users", ordered_json::parse(R"({"p": {"fields": {"régión": "string", "city": "string"}}})"),
                          schema);
        FAIL() << "expected PartitionError";
    } catch (const PartitionError& e) {
        EXPECT_EQ(e.field(), "régión");
        EXPECT_NE(std::string(e.what()).find("use ASCII names"), std::string::npos);
    }
}

TEST(PartitionDefinitions, PartitionErrorIsAConfigError) {
    EXPECT_THROW(parse(R"({"byX": {"fields": {"nope": "string"}}})"), ConfigError);
}

// ---- field order ----------------------------------------------------------------------------

TEST(PartitionFieldOrder, FollowsLocaleCompareForAsciiNames) {
    // Node: ["_a","a","A","a ","a_","a-","a1","Aa","ab","aB","Ab","AB"].sort((x, y) => x.localeCompare(y))
    std::vector<std::string> names = {"ab", "Aa", "aB", "Ab", "AB", "a", "A", "a_", "a-", "a1", "a ", "_a"};
    std::sort(names.begin(), names.end(),
              [](const std::string& x, const std::string& y) { return detail::js_locale_compare(x, y) < 0; });
    EXPECT_EQ(names, (std::vector<std::string>{"_a", "a", "A", "a ", "a_", "a-", "a1", "Aa", "ab", "aB", "Ab", "AB"}));
    // Every printable character, as Node sorts them one by one.
    std::string all;
    for (char c = 0x20; c < 0x7F; ++c) all += c;
    std::stable_sort(all.begin(), all.end(), [](char x, char y) {
        return detail::js_locale_compare(std::string_view(&x, 1), std::string_view(&y, 1)) < 0;
    });
    EXPECT_EQ(all, " _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$0123456789aAbBcCdDeEfFgGhHiIjJkKlLmMnNoOpPqQrRsStTuUvVwWxXyYzZ");
    EXPECT_LT(detail::js_locale_compare("a10", "a2"), 0);  // no numeric collation
    EXPECT_EQ(detail::js_locale_compare("same", "same"), 0);
}

TEST(PartitionFieldOrder, SeveralFieldsMakeTheKeyS3dbJsWrites) {
    auto parts = parse(R"({"byX": {"fields": {"region": "string", "utm.source": "string|maxlength:10", "b": "string",
        "A": "number", "_v": "string", "a_b": "string", "a.b": "string", "a1": "string", "Z": "string", "z": "string"}}})");
    json record = {{"region", "eu"}, {"utm", {{"source", "googleadwords"}}}, {"b", "x"}, {"A", 3}, {"_v", "v1"},
                   {"a_b", "u"}, {"a", {{"b", "dot"}}}, {"a1", "one"}, {"Z", "Zed"}, {"z", "zed"}};
    EXPECT_EQ(parts.key("byX", record, "u1"),
              "resource=users/partition=byX/_v=v1/A=3/a_b=u/a.b=dot/a1=one/b=x/region=eu/utm.source=googleadwo/"
              "z=zed/Z=Zed/id=u1");
}

// ---- reference keys -------------------------------------------------------------------------

TEST(PartitionKeys, OneFieldKeyIsS3dbJsLayout) {
    auto parts = parse(R"({"byRegion": {"fields": {"region": "string"}}})");
    EXPECT_EQ(parts.key("byRegion", json{{"region", "eu"}}, "u1"), "resource=users/partition=byRegion/region=eu/id=u1");
    EXPECT_EQ(key_with("string", "x"), one("f=x"));
}

TEST(PartitionKeys, OrdinaryStringsAreWrittenAsS3dbJsWritesThem) {
    for (const char* v : {"plain", "José Ñandú", "with space", "50% off", "100%", "a%zz", "%4", "ab%c", "back\\slash",
                          "a=b", "q?x#y&z", "😀 emoji", "", "tab\u00a0nbsp", "+plus", "中文字符", ".", "..", "~tilde",
                          "quote'\""})
        EXPECT_EQ(key_with("string", v), one(std::string("f=") + v)) << v;
}

TEST(PartitionKeys, NumbersBooleansAndArraysRenderAsJavaScriptStrings) {
    const std::vector<std::pair<json, std::string>> cases = {
        {0, "0"}, {1, "1"}, {-1, "-1"}, {1.5, "1.5"}, {-0.25, "-0.25"}, {1e21, "1e+21"}, {1e-7, "1e-7"},
        {123456789, "123456789"}, {0.1 + 0.2, "0.30000000000000004"}, {9007199254740992.0, "9007199254740992"},
        {5e-324, "5e-324"}, {1.7976931348623157e308, "1.7976931348623157e+308"}, {100.0, "100"},
        {1e20, "100000000000000000000"}, {123e-20, "1.23e-18"}, {true, "true"}, {false, "false"},
        {json::array({1, "a", nullptr, json::array({2, 3}), true}), "1,a,,2,3,true"}};
    for (const auto& [value, text] : cases) EXPECT_EQ(key_with("number", value), one("f=" + text)) << value.dump();
}

TEST(PartitionKeys, DateRuleMakesUtcDays) {
    const std::vector<std::pair<json, std::string>> cases = {
        {"2024-01-02T03:04:05.000Z", "2024-01-02"}, {"2024-01-02T23:00:00-05:00", "2024-01-03"},
        {"2024-01-02", "2024-01-02"}, {"2024-02-30", "2024-03-01"}, {"2024", "2024-01-01"}, {"2024-06", "2024-06-01"},
        {"+012345-01-01T00:00:00Z", "+012345-01-01"}, {"not a date", "not a date"},
        {"Tom Zed", ""},  // s3db.js cuts anything with a 'T' and a 'Z' at the 'T', unparsed
        {"2024-01-02T10:00:00+14:00", "2024-01-01"}, {"1999-12-31T23:59:59.999+00:00", "1999-12-31"},
        {20240102, "20240102"}};
    for (const auto& [value, text] : cases) EXPECT_EQ(key_with("date", value), one("f=" + text)) << value.dump();
}

TEST(PartitionKeys, MaxlengthCutsUtf16UnitsLikeJavaScript) {
    EXPECT_EQ(key_with("string|maxlength:10", "googleadwords"), one("f=googleadwo"));
    EXPECT_EQ(key_with("string|maxlength:10", "😀😀😀😀😀😀"), one("f=😀😀😀😀😀"));  // two units each
    EXPECT_EQ(key_with("string|maxlength:10", "éééééééééééé"), one("f=éééééééééé"));      // one unit, two bytes
    EXPECT_EQ(key_with("string|maxlength:10", "short"), one("f=short"));
    EXPECT_EQ(key_with("string|maxlength:0", "abc"), one("f="));
    EXPECT_EQ(key_with("string|maxlength:10", 12345678901.0), one("f=12345678901"));  // only strings are cut
    EXPECT_EQ(key_with("date|maxlength:10", "2024-01-02T03:04:05.000Z"), one("f=2024-01-02"));
    EXPECT_EQ(key_with("date|maxlength:10", "2024-01-02T23:00:00-05:00"), one("f=2024-01-02"));  // cut first
}

TEST(PartitionKeys, MaxlengthNeverSplitsACharacter) {
    // s3db.js keeps half of the fifth emoji, which reaches S3 as U+FFFD; we stop before it.
    EXPECT_EQ(key_with("string|maxlength:9", "😀😀😀😀😀😀"), one("f=😀😀😀😀"));
}

TEST(PartitionKeys, NestedFieldsAreReadFromNestedObjects) {
    auto parts = parse(R"({"p": {"fields": {"utm.source": "string"}}})");
    EXPECT_EQ(parts.key("p", json{{"utm", {{"source", "ads"}}}}, "u1"), "resource=users/partition=p/utm.source=ads/id=u1");
    EXPECT_EQ(parts.key("p", json{{"utm", "ads"}}, "u1"), std::nullopt);
    EXPECT_EQ(parts.key("p", json{{"utm.source", "flat"}}, "u1"), std::nullopt);  // a path, not a flat name
}

TEST(PartitionKeys, NullOrMissingFieldMeansNoReference) {
    auto parts = parse(R"({"p": {"fields": {"f": "string", "g": "string"}}, "q": {"fields": {"f": "string"}}})");
    EXPECT_EQ(parts.key("p", json{{"f", "x"}}, "u1"), std::nullopt);
    EXPECT_EQ(parts.key("p", json{{"f", "x"}, {"g", nullptr}}, "u1"), std::nullopt);
    auto refs = parts.refs(json{{"id", "u1"}, {"f", "x"}});
    ASSERT_EQ(refs.size(), 1u);
    EXPECT_EQ(refs[0], (PartitionRef{"q", "resource=users/partition=q/f=x/id=u1"}));
    EXPECT_TRUE(parts.refs(json{{"id", "u1"}}).empty());
}

TEST(PartitionKeys, RefsListEveryPartitionInDefinitionOrder) {
    auto parts = parse(R"({"byRegion": {"fields": {"region": "string"}}, "byAge": {"fields": {"age": "number"}},
                           "byBoth": {"fields": {"region": "string", "age": "number"}}})");
    json record = {{"id", "u7"}, {"region", "eu"}, {"age", 33}};
    EXPECT_EQ(keys_of(parts.refs(record)),
              (std::vector<std::string>{"resource=users/partition=byRegion/region=eu/id=u7",
                                        "resource=users/partition=byAge/age=33/id=u7",
                                        "resource=users/partition=byBoth/age=33/region=eu/id=u7"}));
    EXPECT_EQ(parts.refs(record, "other").at(0).key, "resource=users/partition=byRegion/region=eu/id=other");
}

TEST(PartitionKeys, UnusableInputsRaiseTypedErrors) {
    auto parts = parse(R"({"byRegion": {"fields": {"region": "string"}}, "byMeta": {"fields": {"meta": "string"}}})");
    EXPECT_THROW(parts.key("byNope", json{{"region", "eu"}}, "u1"), PartitionError);
    EXPECT_THROW(parts.key("byRegion", json{{"region", "eu"}}, "a/b"), InvalidId);
    EXPECT_THROW(parts.refs(json{{"region", "eu"}}), InvalidId);  // no id
    EXPECT_THROW(parts.refs(json{{"id", 5}, {"region", "eu"}}), InvalidId);
    try {
        parts.key("byMeta", json{{"meta", {{"k", 1}}}}, "u1");
        FAIL() << "expected ValidationError";
    } catch (const ValidationError& e) {
        ASSERT_EQ(e.failures().size(), 1u);
        EXPECT_EQ(e.failures()[0].field, "meta");
        EXPECT_EQ(e.failures()[0].rule, "partition");
        EXPECT_NE(std::string(e.what()).find("byMeta"), std::string::npos);
    }
    try {
        parts.key("byRegion", json{{"region", std::string(1000, 'x')}}, "u1");
        FAIL() << "expected InvalidKey";
    } catch (const InvalidKey& e) {
        EXPECT_NE(std::string(e.what()).find("over S3's limit of 1024"), std::string::npos);
    }
}

// ---- escaping -------------------------------------------------------------------------------

TEST(PartitionEscaping, OnlyWhatWouldBreakTheKeyIsEscaped) {
    EXPECT_EQ(key_with("string", "eu/west"), one("f=eu%2Fwest"));
    EXPECT_EQ(key_with("string", "https://example.com/x"), one("f=https:%2F%2Fexample.com%2Fx"));
    EXPECT_EQ(key_with("string", "a\nb\tc\r"), one("f=a%0Ab%09c%0D"));
    EXPECT_EQ(key_with("string", "del\u007f"), one("f=del%7F"));
    EXPECT_EQ(key_with("string", "\ufffe\uffff"), one("f=%EF%BF%BE%EF%BF%BF"));
    EXPECT_EQ(key_with("string", "%2F"), one("f=%252F"));     // would otherwise decode to '/'
    EXPECT_EQ(key_with("string", "50%ab"), one("f=50%25ab"));
    EXPECT_EQ(key_with("string", "50% off"), one("f=50% off")); // unambiguous: kept as s3db.js writes it
    EXPECT_EQ(detail::escape_partition_value("bad\xff\xc3"), "bad%FF%C3");  // not UTF-8
}

TEST(PartitionEscaping, RandomValuesRoundTripAndNeverBreakTheKey) {
    std::mt19937 rng(20240102);
    const std::string pool = "%/aF09g\x01\n\x7f=. \xc3\xa9\xff\xef\xbf\xbe";
    for (int i = 0; i < 20000; ++i) {
        std::string v;
        const int n = static_cast<int>(rng() % 12);
        for (int k = 0; k < n; ++k) v += pool[rng() % pool.size()];
        const std::string escaped = detail::escape_partition_value(v);
        ASSERT_EQ(detail::unescape_partition_value(escaped), v) << escaped;
        ASSERT_EQ(escaped.find('/'), std::string::npos) << escaped;
        for (std::size_t at = 0; at < escaped.size();) {
            char32_t cp = 0;
            const std::size_t len = detail::utf8_sequence(escaped, at, &cp);
            ASSERT_NE(len, 0u) << escaped;
            ASSERT_FALSE(detail::key_hostile(cp)) << escaped;
            at += len;
        }
    }
}

TEST(PartitionEscaping, ValuesSurviveAKeyRoundTrip) {
    auto parts = parse(R"({"p": {"fields": {"f": "string", "g": "string"}}})");
    for (const char* v : {"eu/west", "a//b", "%2F", "50% off", "x\ny", "", "/", "g=1", "id=x"}) {
        auto key = parts.key("p", json{{"f", v}, {"g", v}}, "u1");
        ASSERT_TRUE(key) << v;
        auto parsed = parts.parse_ref(*key);
        ASSERT_TRUE(parsed) << *key;
        EXPECT_EQ(*parsed->value("f"), v) << *key;
        EXPECT_EQ(*parsed->value("g"), v) << *key;
        EXPECT_EQ(parsed->id, "u1");
    }
}

// ---- prefixes -------------------------------------------------------------------------------

TEST(PartitionPrefixes, NoValuesListsTheWholePartition) {
    auto parts = parse(R"({"byX": {"fields": {"region": "string", "age": "number", "name": "string"}}})");
    auto p = parts.prefix("byX");
    EXPECT_EQ(p.key, "resource=users/partition=byX/");
    EXPECT_TRUE(p.exact());
}

TEST(PartitionPrefixes, LeadingRunOfSortedFieldsFormsThePrefix) {
    // Key order: age, name, region.
    auto parts = parse(R"({"byX": {"fields": {"region": "string", "age": "number", "name": "string"}}})");
    auto p1 = parts.prefix("byX", json{{"age", 33}});
    EXPECT_EQ(p1.key, "resource=users/partition=byX/age=33/");
    EXPECT_TRUE(p1.exact());
    auto p2 = parts.prefix("byX", json{{"age", 33}, {"name", "Ann"}, {"region", "eu/w"}});
    EXPECT_EQ(p2.key, "resource=users/partition=byX/age=33/name=Ann/region=eu%2Fw/");
    EXPECT_TRUE(p2.exact());
    auto full = parts.key("byX", json{{"age", 33}, {"name", "Ann"}, {"region", "eu/w"}}, "u1");
    EXPECT_TRUE(full->starts_with(p2.key));
}

TEST(PartitionPrefixes, ValuesAfterAGapBecomeFilters) {
    auto parts = parse(R"({"byX": {"fields": {"region": "string", "age": "number", "name": "string"}}})");
    auto p = parts.prefix("byX", json{{"age", 33}, {"region", "eu"}, {"name", nullptr}});
    EXPECT_EQ(p.key, "resource=users/partition=byX/age=33/");
    ASSERT_FALSE(p.exact());
    EXPECT_EQ(p.filters, (std::vector<std::pair<std::string, std::string>>{{"region", "eu"}}));
    auto hit = parts.parse_ref(*parts.key("byX", json{{"age", 33}, {"name", "A"}, {"region", "eu"}}, "u1"));
    auto miss = parts.parse_ref(*parts.key("byX", json{{"age", 33}, {"name", "A"}, {"region", "us"}}, "u2"));
    EXPECT_TRUE(p.matches(*hit));
    EXPECT_FALSE(p.matches(*miss));
    auto no_lead = parts.prefix("byX", json{{"name", "A"}});
    EXPECT_EQ(no_lead.key, "resource=users/partition=byX/");
    EXPECT_EQ(no_lead.filters.size(), 1u);
}

TEST(PartitionPrefixes, PrefixDoesNotMatchLongerValues) {
    auto parts = parse(R"({"byCity": {"fields": {"city": "string"}}})");
    auto p = parts.prefix("byCity", json{{"city", "SP"}});
    EXPECT_TRUE(parts.key("byCity", json{{"city", "SP"}}, "u1")->starts_with(p.key));
    EXPECT_FALSE(parts.key("byCity", json{{"city", "SPX"}}, "u1")->starts_with(p.key));
}

TEST(PartitionPrefixes, RulesApplyToQueryValues) {
    auto parts = parse(R"({"byDay": {"fields": {"createdAt": "date|maxlength:10"}},
                           "bySource": {"fields": {"utm.source": "string|maxlength:3"}}})");
    EXPECT_EQ(parts.prefix("byDay", json{{"createdAt", "2024-01-02T03:04:05.000Z"}}).key,
              "resource=users/partition=byDay/createdAt=2024-01-02/");
    EXPECT_EQ(parts.prefix("bySource", json{{"utm.source", "google"}}).key,
              "resource=users/partition=bySource/utm.source=goo/");
}

TEST(PartitionPrefixes, UnknownPartitionOrFieldIsAnError) {
    auto parts = parse(R"({"byCity": {"fields": {"city": "string"}}})");
    EXPECT_THROW(parts.prefix("byTown"), PartitionError);
    try {
        parts.prefix("byCity", json{{"town", "x"}});
        FAIL() << "expected PartitionError";
    } catch (const PartitionError& e) {
        EXPECT_EQ(e.partition(), "byCity");
        EXPECT_EQ(e.field(), "town");
    }
    EXPECT_THROW(parts.prefix("byCity", json::array()), PartitionError);
    EXPECT_THROW(parts.prefix("byCity", json{{"city", {{"a", 1}}}}), PartitionError);
}

// ---- reading ref keys -----------------------------------------------------------------------

TEST(PartitionRefParsing, ReadsPartitionValuesAndId) {
    auto parts = parse(R"({"byX": {"fields": {"region": "string", "age": "number"}}})");
    auto ref = parts.parse_ref("resource=users/partition=byX/age=33/region=eu/id=u1");
    ASSERT_TRUE(ref);
    EXPECT_EQ(ref->partition, "byX");
    EXPECT_EQ(ref->values, (std::vector<std::pair<std::string, std::string>>{{"age", "33"}, {"region", "eu"}}));
    EXPECT_EQ(ref->id, "u1");
    EXPECT_EQ(ref->value("nope"), nullptr);
}

TEST(PartitionRefParsing, KeysOfOtherShapesAreNotRefs) {
    auto parts = parse(R"({"byX": {"fields": {"region": "string", "age": "number"}}})");
    for (const char* key : {"resource=orders/partition=byX/age=33/region=eu/id=u1",  // other resource
                            "resource=users/partition=byY/age=33/region=eu/id=u1",   // unknown partition
                            "resource=users/partition=byX/region=eu/age=33/id=u1",   // wrong order
                            "resource=users/partition=byX/age=33/id=u1",             // missing field
                            "resource=users/partition=byX/age=33/region=eu/id=",     // empty id
                            "resource=users/partition=byX/age=33/region=eu",         // no id
                            "resource=users/data/id=u1", "resource=users/partition=byX"})
        EXPECT_FALSE(parts.parse_ref(key)) << key;
}

TEST(PartitionRefParsing, ReadsS3dbJsKeysWhoseValuesHoldSlashes) {
    // What s3db.js 21.6.2 wrote for city "https://example.com/x" (its path.join collapsed the "//").
    auto parts = parse(R"({"byCity": {"fields": {"city": "string"}}, "byX": {"fields": {"city": "string", "name": "string"}}})");
    auto ref = parts.parse_ref("resource=users/partition=byCity/city=https:/example.com/x/id=u1");
    ASSERT_TRUE(ref);
    EXPECT_EQ(*ref->value("city"), "https:/example.com/x");
    EXPECT_EQ(ref->id, "u1");
    auto two = parts.parse_ref("resource=users/partition=byX/city=a/b/name=n/o/id=u1");
    ASSERT_TRUE(two);
    EXPECT_EQ(*two->value("city"), "a/b");
    EXPECT_EQ(*two->value("name"), "n/o");
}

// ---- updates --------------------------------------------------------------------------------

TEST(PartitionUpdates, UnchangedKeysCostNothing) {
    auto parts = parse(R"({"byRegion": {"fields": {"region": "string"}}, "byAge": {"fields": {"age": "number"}}})");
    json before = {{"id", "u1"}, {"region", "eu"}, {"age", 33}, {"name", "Ann"}};
    json after = before;
    after["name"] = "Anne";
    EXPECT_TRUE(parts.plan_update(before, after).empty());
}

TEST(PartitionUpdates, OnlyThePartitionWhoseKeyChangedMoves) {
    auto parts = parse(R"({"byRegion": {"fields": {"region": "string"}}, "byAge": {"fields": {"age": "number"}}})");
    json before = {{"id", "u1"}, {"region", "eu"}, {"age", 33}};
    json after = before;
    after["region"] = "us";
    auto plan = parts.plan_update(before, after);
    ASSERT_EQ(plan.remove.size(), 1u);
    ASSERT_EQ(plan.put.size(), 1u);
    EXPECT_EQ(plan.remove[0], (PartitionRef{"byRegion", "resource=users/partition=byRegion/region=eu/id=u1"}));
    EXPECT_EQ(plan.put[0], (PartitionRef{"byRegion", "resource=users/partition=byRegion/region=us/id=u1"}));
}

TEST(PartitionUpdates, FieldsBecomingNullOrSetOnlyRemoveOrOnlyPut) {
    auto parts = parse(R"({"byRegion": {"fields": {"region": "string"}}})");
    auto cleared = parts.plan_update(json{{"id", "u1"}, {"region", "eu"}}, json{{"id", "u1"}, {"region", nullptr}});
    EXPECT_EQ(keys_of(cleared.remove), (std::vector<std::string>{"resource=users/partition=byRegion/region=eu/id=u1"}));
    EXPECT_TRUE(cleared.put.empty());
    auto set = parts.plan_update(json{{"id", "u1"}}, json{{"id", "u1"}, {"region", "eu"}});
    EXPECT_TRUE(set.remove.empty());
    EXPECT_EQ(keys_of(set.put), (std::vector<std::string>{"resource=users/partition=byRegion/region=eu/id=u1"}));
}

TEST(PartitionUpdates, ChangesTheRulesHideDoNotMoveRefs) {
    auto parts = parse(R"({"bySource": {"fields": {"utm.source": "string|maxlength:3"}},
                           "byDay": {"fields": {"createdAt": "date|maxlength:10"}}})");
    json before = {{"id", "u1"}, {"utm", {{"source", "google"}}}, {"createdAt", "2024-01-02T03:00:00.000Z"}};
    json after = {{"id", "u1"}, {"utm", {{"source", "goofy"}}}, {"createdAt", "2024-01-02T22:00:00.000Z"}};
    EXPECT_TRUE(parts.plan_update(before, after).empty());
}

TEST(PartitionUpdates, OldKeysThatCouldNotExistAreNotRemoved) {
    auto parts = parse(R"({"byMeta": {"fields": {"meta": "string"}}})");
    auto plan = parts.plan_update(json{{"id", "u1"}, {"meta", {{"a", 1}}}}, json{{"id", "u1"}, {"meta", "x"}});
    EXPECT_TRUE(plan.remove.empty());
    EXPECT_EQ(keys_of(plan.put), (std::vector<std::string>{"resource=users/partition=byMeta/meta=x/id=u1"}));
    EXPECT_THROW(parts.plan_update(json{{"id", "u1"}, {"meta", "x"}}, json{{"id", "u1"}, {"meta", {{"a", 1}}}}),
                 ValidationError);
}

TEST(PartitionUpdates, IdComesFromTheRecordsOrIsGiven) {
    auto parts = parse(R"({"byRegion": {"fields": {"region": "string"}}})");
    auto from_old = parts.plan_update(json{{"id", "u9"}, {"region", "eu"}}, json{{"region", "us"}});
    EXPECT_EQ(from_old.put.at(0).key, "resource=users/partition=byRegion/region=us/id=u9");
    auto given = parts.plan_update(json{{"region", "eu"}}, json{{"region", "us"}}, "u3");
    EXPECT_EQ(given.remove.at(0).key, "resource=users/partition=byRegion/region=eu/id=u3");
    EXPECT_THROW(parts.plan_update(json{{"region", "eu"}}, json{{"region", "us"}}), InvalidId);
}

TEST(PartitionKeys, S3dbJsOwnTypesAsS3dbJsKeysThem) {
    // keys s3db.js 21.6.2 wrote for {at: datetime, d: 'date|convert:true', dur: duration, tm: timeonly,
    // ean, pt: geo:point} given d "2024-01-02T10:00:00Z", dur "90m", tm "13:45", ean 123, pt [1, 2]:
    // it keys the values it reads back (a date as its JSON text, quotes included)
    auto schema = Schema::parse(ordered_json::parse(R"({"at":"datetime","d":"date|convert:true","dur":"duration",
        "tm":"timeonly","ean":"ean","pt":"geo:point","lat":"geo:lat"})"));
    auto parts = Partitions::parse("t", ordered_json::parse(R"({"byD":{"fields":{"d":"date"}},"byDs":{"fields":{"d":"string"}},
        "byDur":{"fields":{"dur":"string"}},"byTm":{"fields":{"tm":"string"}},"byEan":{"fields":{"ean":"string"}},
        "byPt":{"fields":{"pt":"string"}},"byLat":{"fields":{"lat":"number"}}})"), schema);
    json record = schema.validate({{"at", "2024-01-02T03:04:05.678Z"}, {"d", "2024-01-02T10:00:00Z"}, {"dur", "90m"},
                                   {"tm", "13:45"}, {"ean", 123}, {"pt", {1, 2}}, {"lat", -23.55052}});
    EXPECT_EQ(parts.key("byD", record, "a"), "resource=t/partition=byD/d=\"2024-01-02/id=a");
    EXPECT_EQ(parts.key("byDs", record, "a"), "resource=t/partition=byDs/d=\"2024-01-02T10:00:00.000Z\"/id=a");
    EXPECT_EQ(parts.key("byDur", record, "a"), "resource=t/partition=byDur/dur=PT1H30M/id=a");
    EXPECT_EQ(parts.key("byTm", record, "a"), "resource=t/partition=byTm/tm=13:45:00.000/id=a");
    EXPECT_EQ(parts.key("byEan", record, "a"), "resource=t/partition=byEan/ean=0000000000123/id=a");
    // its fixed point read back (seen with s3db.js on RGW: lat=-23.550520000000006)
    EXPECT_EQ(parts.key("byLat", record, "a"), "resource=t/partition=byLat/lat=-23.550520000000006/id=a");
    // s3db.js writes "pt=[object Object]" for a point; we refuse to key an object
    EXPECT_THROW(parts.key("byPt", record, "a"), ValidationError);
    // listing by a date value finds what the key holds
    EXPECT_EQ(parts.prefix("byD", json{{"d", "2024-01-02T10:00:00.000Z"}}).key, "resource=t/partition=byD/d=\"2024-01-02/");
}
