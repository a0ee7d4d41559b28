// Attribute definitions and record validation. Expected failure lists and normalised records
// were printed by s3db.js 21.6.2 (its ResourceValidator, i.e. fastest-validator with s3db.js's
// aliases) for the same definitions and records, unless a comment says we differ on purpose.

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "s3db/core/schema.hpp"
#include "s3db/detail/js_types.hpp"

using namespace s3db;
using nlohmann::json;
using nlohmann::ordered_json;

namespace {

Schema parse(const char* definition, SchemaOptions options = {}) {
    return Schema::parse(ordered_json::parse(definition), options);
}

/// (field, rule) of every failure, in order.
std::vector<std::pair<std::string, std::string>> failures(const Schema& schema, json record) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& f : schema.check(record)) out.emplace_back(f.field, f.rule);
    return out;
}

using Fails = std::vector<std::pair<std::string, std::string>>;

/// The SchemaError a definition raises (empty attribute/token when none).
std::pair<std::string, std::string> schema_error(const char* definition, SchemaOptions options = {}) {
    try {
        parse(definition, options);
    } catch (const SchemaError& e) {
        return {e.attribute(), e.token()};
    }
    return {};
}

}  // namespace

TEST(SchemaParse, ReadsShorthandTypesAndModifiers) {
    auto s = parse(R"({"name":"string|required|min:2|max:50","age":"number|integer|min:0","active":"boolean",
                       "tags":"array|items:string","scores":"array|items:number","bio":"string|optional",
                       "status":"string|default:new","vec":"embedding:1536","price":"money","btc":"crypto",
                       "ratio":"decimal:4","meta":"json","pw":"secret","at":"datetime","day":"dateonly",
                       "ip":"ip4","ip6":"ip6","id2":"uuid"})");
    ASSERT_EQ(s.attributes().size(), 18u);
    const Attribute* name = s.find("name");
    ASSERT_NE(name, nullptr);
    EXPECT_EQ(name->type, FieldType::string);
    EXPECT_FALSE(name->optional);
    EXPECT_EQ(name->rules.min, 2);
    EXPECT_EQ(name->rules.max, 50);
    EXPECT_TRUE(name->rules.trim);  // fastest-validator default in s3db.js
    const Attribute* age = s.find("age");
    EXPECT_EQ(age->type, FieldType::number);
    EXPECT_TRUE(age->rules.integer);
    EXPECT_TRUE(age->integer_encoding);
    EXPECT_EQ(age->rules.min, 0);
    EXPECT_EQ(s.find("tags")->array_encoding, ArrayEncoding::strings);
    EXPECT_EQ(s.find("scores")->array_encoding, ArrayEncoding::decimals);
    EXPECT_TRUE(s.find("bio")->optional);
    EXPECT_EQ(*s.find("status")->default_value, "new");
    EXPECT_EQ(s.find("vec")->type, FieldType::embedding);
    EXPECT_EQ(s.find("vec")->rules.length, 1536);
    EXPECT_EQ(s.find("price")->scale, 2);
    EXPECT_EQ(s.find("price")->rules.min, 0);  // money is number|min:0
    EXPECT_EQ(s.find("btc")->scale, 8);
    EXPECT_EQ(s.find("ratio")->scale, 4);
    EXPECT_EQ(s.find("pw")->type, FieldType::secret);
    EXPECT_EQ(s.find("id2")->type, FieldType::uuid);
}

TEST(SchemaParse, ArrayEncodingFollowsS3dbJsRules) {
    auto s = parse(R"({"a":"array|items:number|integer","b":"array|items:number|length:300",
                       "c":"array|items:number|maxlength:300","d":"array","e":"array|items:boolean",
                       "f":{"type":"array","items":"string"},"g":{"type":"array","items":"number|integer"},
                       "h":{"type":"array","items":"number","length":256},"i":"array|items:email"})");
    EXPECT_EQ(s.find("a")->array_encoding, ArrayEncoding::integers);
    EXPECT_EQ(s.find("b")->array_encoding, ArrayEncoding::embedding);
    EXPECT_EQ(s.find("c")->array_encoding, ArrayEncoding::embedding);  // s3db.js's /length:(\d+)/ matches maxlength
    EXPECT_EQ(s.find("d")->array_encoding, ArrayEncoding::json);
    EXPECT_EQ(s.find("e")->array_encoding, ArrayEncoding::json);
    EXPECT_EQ(s.find("f")->array_encoding, ArrayEncoding::strings);
    EXPECT_EQ(s.find("g")->array_encoding, ArrayEncoding::integers);
    EXPECT_EQ(s.find("h")->array_encoding, ArrayEncoding::embedding);
    EXPECT_EQ(s.find("i")->array_encoding, ArrayEncoding::json);
}

TEST(SchemaParse, NestedObjectsAreOptionalUnlessTypeSaysRequired) {
    auto s = parse(R"({"profile":{"bio":"string","address":{"street":"string"}},
                       "billing":{"$$type":"object|required","card":"string"},
                       "extra":{"$$type":"object|optional","x":"number"}})");
    const Attribute* profile = s.find("profile");
    ASSERT_NE(profile, nullptr);
    EXPECT_EQ(profile->type, FieldType::object);
    EXPECT_TRUE(profile->optional);
    EXPECT_EQ(s.find("profile.address.street")->path, "profile.address.street");
    EXPECT_FALSE(s.find("billing")->optional);
    EXPECT_EQ(s.find("billing")->children.size(), 1u);  // $$type is not a field
    EXPECT_TRUE(s.find("extra")->optional);

    auto strict_nesting = parse(R"({"profile":{"bio":"string"}})", {.all_nested_objects_optional = false});
    EXPECT_FALSE(strict_nesting.find("profile")->optional);
    EXPECT_EQ(failures(strict_nesting, json::object()), (Fails{{"profile", "required"}}));
}

TEST(SchemaParse, ObjectFormDefinitionsAreFieldsNotNestedObjects) {
    auto s = parse(R"({"age":{"type":"number","min":0,"integer":true},"status":{"type":"enum","values":["a","b"]},
                       "nested":{"type":"string|max:3","y":"string"}})");
    EXPECT_EQ(s.find("age")->type, FieldType::number);
    EXPECT_TRUE(s.find("age")->object_form);
    EXPECT_EQ(s.find("age")->rules.min, 0);
    EXPECT_EQ(s.find("status")->type, FieldType::enumeration);
    // "string|max:3" is not a bare validator type, so this is a nested object whose fields are
    // "type" and "y" (s3db.js decides the same way)
    EXPECT_EQ(s.find("nested")->type, FieldType::object);
    EXPECT_EQ(s.find("nested.type")->type, FieldType::string);
    EXPECT_EQ(s.find("nested.type")->rules.max, 3);
    EXPECT_EQ(s.find("nested.y")->type, FieldType::string);
}

TEST(SchemaParse, DefinitionOrderIsKeptWithOrderedJson) {
    auto s = parse(R"({"zeta":"string","alpha":"string","mid":"number"})");
    ASSERT_EQ(s.attributes().size(), 3u);
    EXPECT_EQ(s.attributes()[0].name, "zeta");
    EXPECT_EQ(s.attributes()[1].name, "alpha");
    EXPECT_EQ(s.attributes()[2].name, "mid");
    EXPECT_EQ(failures(s, json::object()), (Fails{{"zeta", "required"}, {"alpha", "required"}, {"mid", "required"}}));
}

TEST(SchemaParse, BadDefinitionsNameTheAttributeAndTheToken) {
    // unknown type: s3db.js throws "Invalid 'strin' type in validator schema."
    EXPECT_EQ(schema_error(R"({"x":"strin"})"), (std::pair<std::string, std::string>{"x", "strin"}));
    // s3db.js accepts this and then throws "abc is not defined" on every validation
    EXPECT_EQ(schema_error(R"({"x":"string|min:abc"})"), (std::pair<std::string, std::string>{"x", "min:abc"}));
    // s3db.js cannot compile enum in shorthand ("schema.enum.join is not a function")
    EXPECT_EQ(schema_error(R"({"x":"string|enum:a,b"})").first, "x");
    EXPECT_EQ(schema_error(R"({"x":"enum"})").first, "x");
    // s3db.js ignores unknown modifiers; a strict parse reports the typo
    EXPECT_EQ(schema_error(R"({"x":"string|optinal"})"), (std::pair<std::string, std::string>{"x", "optinal"}));
    EXPECT_EQ(schema_error(R"({"x":"string|in:a,b"})"), (std::pair<std::string, std::string>{"x", "in:a,b"}));
    EXPECT_EQ(schema_error(R"({"p":{"q":"number|integer:maybe"}})"), (std::pair<std::string, std::string>{"p.q", "integer:maybe"}));
    EXPECT_EQ(schema_error(R"({"x":"number|default:abc"})"), (std::pair<std::string, std::string>{"x", "default:abc"}));
    EXPECT_EQ(schema_error(R"({"x":"money:abc"})"), (std::pair<std::string, std::string>{"x", "money:abc"}));
    EXPECT_EQ(schema_error(R"({"x":"embedding:0"})").first, "x");
    EXPECT_EQ(schema_error(R"({"x":"string|pattern:(["})").first, "x");
    EXPECT_EQ(schema_error(R"({"x":42})").first, "x");
    EXPECT_EQ(schema_error(R"({"a.b":"string"})").first, "a.b");
    EXPECT_EQ(schema_error(R"({"x":"password:scrypt"})"), (std::pair<std::string, std::string>{"x", "password:scrypt"}));
    EXPECT_EQ(schema_error(R"({"p":{"$$type":"objekt","a":"string"}})").first, "p");
    try {
        parse(R"({"x":"string|optinal"})");
        FAIL() << "no SchemaError";
    } catch (const SchemaError& e) {
        EXPECT_NE(std::string(e.what()).find("optinal"), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("'x'"), std::string::npos);
    }
}

TEST(SchemaParse, LenientParseAcceptsWhatS3dbJsAccepts) {
    SchemaOptions lenient{.strict = false};
    auto s = parse(R"({"x":"string|optinal|in:a,b","y":"string|maxlength:3","p":{"$$type":"objekt","a":"string"}})", lenient);
    EXPECT_EQ(s.attributes().size(), 3u);
    EXPECT_FALSE(s.find("x")->optional);  // the typo does nothing, as in s3db.js
    EXPECT_EQ(failures(s, json{{"x", "c"}, {"y", "abcdef"}}), Fails{});  // neither in: nor maxlength is enforced by s3db.js
}

TEST(SchemaValidate, CollectsEveryFailingFieldInOneError) {
    auto s = parse(R"({"name":"string|min:2","age":"number|integer|min:0","email":"email","tags":"array|items:string",
                       "active":"boolean","profile":{"city":"string"},"code":"string","password":"secret|min:8"})");
    json record = {{"name", " a "}, {"age", -1.5}, {"email", "x"}, {"tags", {"a", 2}}, {"active", "maybe"},
                   {"profile", json::object()}, {"password", "hunter2"}};
    const Fails expected = {{"name", "stringMin"},   {"age", "numberMin"},   {"age", "numberInteger"},
                            {"email", "email"},      {"tags[1]", "string"},  {"active", "boolean"},
                            {"profile.city", "required"}, {"code", "required"}, {"password", "stringMin"}};
    EXPECT_EQ(failures(s, record), expected);
    try {
        s.validate(record, "resource 'users'");
        FAIL() << "no ValidationError";
    } catch (const ValidationError& e) {
        ASSERT_EQ(e.failures().size(), expected.size());
        const auto& age = e.failures()[1];
        EXPECT_EQ(age.value, "-1.5");
        EXPECT_EQ(age.expected, "0");
        EXPECT_EQ(age.message, "The 'age' field must be greater than or equal to 0.");
        EXPECT_EQ(e.failures()[0].message,
                  "The 'name' field length must be greater than or equal to 2 characters long.");
        EXPECT_EQ(e.failures()[6].message, "The 'profile.city' field is required.");
        std::string what = e.what();
        EXPECT_NE(what.find("resource 'users'"), std::string::npos);
        EXPECT_NE(what.find("9 problems"), std::string::npos);
        // a secret's value never shows up, neither in the failure nor in the message
        EXPECT_EQ(e.failures()[8].value, "<secret>");
        EXPECT_EQ(what.find("hunter2"), std::string::npos);
    }
}

TEST(SchemaValidate, AppliesDefaultsTrimsAndConverts) {
    auto s = parse(R"({"name":"string","n":"number|default:5","b":"boolean|default:false",
                       "p":{"z":"number|default:3","s":"string|default:x"},"when":"datetime","day":"dateonly","cnt":"number"})");
    json out = s.validate({{"name", "  José  "}, {"p", json::object()}, {"when", "2024-01-02T03:04:05+01:00"},
                           {"day", "2024-02-30"}, {"cnt", "42"}});
    EXPECT_EQ(out, json::parse(R"({"name":"José","p":{"z":3,"s":"x"},"when":"2024-01-02T02:04:05.000Z",
                                   "day":"2024-03-01","cnt":42,"n":5,"b":false})"));
}

TEST(SchemaValidate, DefaultsKeepTheirWholeText) {
    // top level, s3db.js's applyDefaults keeps "http://x.com/a"; inside a nested object its
    // fastest-validator default is cut at the second ':' ("http"). We keep the whole text everywhere.
    auto s = parse(R"({"u":"string|default:http://x.com/a","p":{"u":"string|default:http://x.com/a"}})");
    EXPECT_EQ(s.validate({{"p", json::object()}}), json::parse(R"({"u":"http://x.com/a","p":{"u":"http://x.com/a"}})"));
    EXPECT_EQ(s.validate({{"u", nullptr}, {"p", json::object()}})["u"], "http://x.com/a");  // null takes the default too
}

TEST(SchemaValidate, RequiredOptionalAndNullable) {
    auto s = parse(R"({"a":"string","b":"string|optional","c":"string|nullable","d":"boolean|optional"})");
    EXPECT_EQ(failures(s, {{"a", nullptr}, {"c", nullptr}, {"d", nullptr}}), (Fails{{"a", "required"}}));
    EXPECT_EQ(failures(s, {{"b", nullptr}}), (Fails{{"a", "required"}, {"c", "required"}}));
    EXPECT_EQ(failures(s, {{"a", 12}, {"b", "x"}, {"c", "y"}}), (Fails{{"a", "string"}}));
}

TEST(SchemaValidate, NumbersAndBooleansConvertLikeFastestValidator) {
    auto n = parse(R"({"x":"number"})");
    EXPECT_EQ(n.validate({{"x", ""}})["x"], 0);
    EXPECT_EQ(n.validate({{"x", true}})["x"], 1);
    EXPECT_EQ(n.validate({{"x", " 0x1F "}})["x"], 31);
    EXPECT_EQ(n.validate({{"x", "1.5e3"}})["x"], 1500);
    EXPECT_EQ(failures(n, {{"x", "abc"}}), (Fails{{"x", "number"}}));
    EXPECT_EQ(failures(n, {{"x", "Infinity"}}), (Fails{{"x", "number"}}));
    EXPECT_EQ(failures(parse(R"({"x":"number|positive"})"), {{"x", 0}}), (Fails{{"x", "numberPositive"}}));
    EXPECT_EQ(failures(parse(R"({"x":"number|equal:5"})"), {{"x", 4}}), (Fails{{"x", "numberEqual"}}));
    auto b = parse(R"({"x":"boolean"})");
    EXPECT_EQ(b.validate({{"x", "on"}})["x"], true);
    EXPECT_EQ(b.validate({{"x", 0}})["x"], false);
    EXPECT_EQ(failures(b, {{"x", "yes"}}), (Fails{{"x", "boolean"}}));
}

TEST(SchemaValidate, StringRules) {
    EXPECT_EQ(parse(R"({"x":"string|trim:false"})").validate({{"x", "  abc  "}})["x"], "  abc  ");
    EXPECT_EQ(parse(R"({"x":"string"})").validate({{"x", "\u00a0 \u00e9 \u2003"}})["x"], "\u00e9");  // JS whitespace
    EXPECT_EQ(failures(parse(R"({"x":"string|min:2"})"), {{"x", "\U0001F600"}}), Fails{});  // 2 UTF-16 units
    EXPECT_EQ(failures(parse(R"({"x":"string|length:3|alpha"})"), {{"x", "ab1"}}), (Fails{{"x", "stringAlpha"}}));
    EXPECT_EQ(failures(parse(R"({"x":"string|hex"})"), {{"x", "abc"}}), (Fails{{"x", "stringHex"}}));
    EXPECT_EQ(failures(parse(R"({"x":"string|numeric"})"), {{"x", "a"}}), (Fails{{"x", "stringNumeric"}}));
    EXPECT_EQ(failures(parse(R"({"x":"string|pattern:^[a-z]+$"})"), {{"x", "ABC"}}), (Fails{{"x", "stringPattern"}}));
    EXPECT_EQ(failures(parse(R"({"x":"string|empty:false"})"), {{"x", ""}}), (Fails{{"x", "stringEmpty"}}));
    EXPECT_EQ(failures(parse(R"({"x":{"type":"string","enum":["a","b"]}})"), {{"x", "c"}}), (Fails{{"x", "stringEnum"}}));
    EXPECT_EQ(failures(parse(R"({"x":{"type":"enum","values":["a","b"]}})"), {{"x", "c"}}), (Fails{{"x", "enumValue"}}));
    EXPECT_EQ(failures(parse(R"({"x":{"type":"string","min":3}})"), {{"x", "a"}}), (Fails{{"x", "stringMin"}}));
}

TEST(SchemaValidate, FormatsEmailUrlUuid) {
    auto s = parse(R"({"e":"email","u":"url","id":"uuid"})");
    EXPECT_EQ(failures(s, {{"e", "a@"}, {"u", "x"}, {"id", "not-a-uuid"}}),
              (Fails{{"e", "email"}, {"u", "url"}, {"id", "uuid"}}));
    EXPECT_EQ(failures(s, {{"e", ""}, {"u", "https://e.com"}, {"id", "550E8400-e29b-41d4-a716-446655440000"}}),
              (Fails{{"e", "emailEmpty"}}));
    EXPECT_EQ(failures(s, {{"e", "a@b.co"}, {"u", "http://x"}, {"id", "550e8400-e29b-41d4-c716-446655440000"}}),
              (Fails{{"id", "uuid"}}));  // version 4 needs variant 8, 9, a or b
}

TEST(SchemaValidate, ArraysAndEmbeddings) {
    EXPECT_EQ(parse(R"({"t":"array|items:string"})").validate({{"t", {" a ", "b"}}})["t"], json({"a", "b"}));
    EXPECT_EQ(parse(R"({"t":"array|items:number"})").validate({{"t", {"1", 2}}})["t"], json({1, 2}));
    EXPECT_EQ(failures(parse(R"({"t":"array|items:string|min:2"})"), {{"t", {"a"}}}), (Fails{{"t", "arrayMin"}}));
    EXPECT_EQ(failures(parse(R"({"t":"array|items:number"})"), {{"t", "x"}}), (Fails{{"t", "array"}}));
    EXPECT_EQ(failures(parse(R"({"t":"array|items:string|unique"})"), {{"t", {"a", "a"}}}), (Fails{{"t", "arrayUnique"}}));
    auto e = parse(R"({"e":"embedding:3"})");
    EXPECT_EQ(failures(e, {{"e", {1, 2}}}), (Fails{{"e", "arrayLength"}}));
    EXPECT_EQ(failures(e, {{"e", json::array()}}), (Fails{{"e", "arrayEmpty"}, {"e", "arrayLength"}}));
    EXPECT_EQ(e.validate({{"e", {1, "2", 3}}})["e"], json({1, 2, 3}));
}

TEST(SchemaValidate, IntegerArraysMustHoldIntegers) {
    // we differ on purpose: s3db.js accepts 1.5 here and then stores floor(1.5) = 1
    EXPECT_EQ(failures(parse(R"({"t":"array|items:number|integer"})"), {{"t", {1, 1.5}}}), (Fails{{"t[1]", "numberInteger"}}));
}

TEST(SchemaValidate, IpAddressesAreChecked) {
    // we differ on purpose: s3db.js accepts any string for ip4/ip6 and stores invalid ones verbatim
    auto s = parse(R"({"a":"ip4","b":"ip6"})");
    EXPECT_EQ(failures(s, {{"a", "1.2.3.4"}, {"b", "::ffff:1.2.3.4"}}), Fails{});
    EXPECT_EQ(failures(s, {{"a", "999.1.1.1"}, {"b", "1::2::3"}}), (Fails{{"a", "ip4"}, {"b", "ip6"}}));
}

TEST(SchemaValidate, DatesNormaliseToIso) {
    auto s = parse(R"({"t":"datetime","d":"dateonly"})");
    EXPECT_EQ(s.validate({{"t", "2024-01-02"}, {"d", "2024-01-02T10:00:00Z"}}),
              json::parse(R"({"t":"2024-01-02T00:00:00.000Z","d":"2024-01-02"})"));
    EXPECT_EQ(s.validate({{"t", 1704164645000}, {"d", "2024-01-02"}})["t"], "2024-01-02T03:04:05.000Z");
    EXPECT_EQ(failures(s, {{"t", "nope"}, {"d", true}}), (Fails{{"t", "datetime"}, {"d", "date"}}));
}

TEST(SchemaValidate, UnknownFieldsAreKeptEverywhere) {
    auto s = parse(R"({"p":{"n":"string"}})");
    json out = s.validate({{"p", {{"n", "x"}, {"extra", 1}}}, {"free", {1, 2}}});
    EXPECT_EQ(out, json::parse(R"({"p":{"n":"x","extra":1},"free":[1,2]})"));
    EXPECT_EQ(failures(s, {{"p", "str"}}), (Fails{{"p", "object"}}));
    EXPECT_EQ(failures(s, json::array()), (Fails{{"", "object"}}));
}

TEST(SchemaValidate, NestedFailuresCarryTheirPath) {
    auto s = parse(R"({"x":"string","y":{"z":{"w":"number"}}})");
    EXPECT_EQ(failures(s, {{"x", "a"}, {"y", {{"z", {{"w", "k"}}}}}}), (Fails{{"y.z.w", "number"}}));
}

TEST(SchemaDates, ParsesTheIsoFormsJavaScriptReads) {
    // expected values printed by node 20: new Date(s).toISOString() (TZ=UTC)
    using detail::iso_string;
    using detail::parse_js_date;
    auto iso = [](const char* s) {
        auto ms = parse_js_date(s);
        return ms ? iso_string(*ms) : std::string("INVALID");
    };
    EXPECT_EQ(iso("2024-02-30"), "2024-03-01T00:00:00.000Z");
    EXPECT_EQ(iso("2024-13-01"), "INVALID");
    EXPECT_EQ(iso("2024-01-02T03:04:05.1Z"), "2024-01-02T03:04:05.100Z");
    EXPECT_EQ(iso("2024-01-02T03:04:05.123456Z"), "2024-01-02T03:04:05.123Z");
    EXPECT_EQ(iso("2024-01-02 03:04:05Z"), "2024-01-02T03:04:05.000Z");
    EXPECT_EQ(iso("2024-01-02t03:04:05z"), "2024-01-02T03:04:05.000Z");
    EXPECT_EQ(iso("2024"), "2024-01-01T00:00:00.000Z");
    EXPECT_EQ(iso("+002024-01-02"), "2024-01-02T00:00:00.000Z");
    EXPECT_EQ(iso("-000001-01-01T00:00:00Z"), "-000001-01-01T00:00:00.000Z");
    EXPECT_EQ(iso("2024-01-02T24:00:00Z"), "2024-01-03T00:00:00.000Z");
    EXPECT_EQ(iso("2024-01-02T03:04:05+0100"), "2024-01-02T02:04:05.000Z");
    EXPECT_EQ(iso("2024-1-2"), "2024-01-02T00:00:00.000Z");
    EXPECT_EQ(iso("20240102"), "INVALID");
    EXPECT_EQ(iso(""), "INVALID");
    EXPECT_EQ(iso("2024-01-02T25:00:00Z"), "INVALID");
    EXPECT_EQ(iso("2023-02-29"), "2023-03-01T00:00:00.000Z");
    EXPECT_EQ(iso("0000-01-01"), "0000-01-01T00:00:00.000Z");
    EXPECT_EQ(iso("2024-01-02T03:04:60Z"), "INVALID");
    EXPECT_EQ(iso_string(-1), "1969-12-31T23:59:59.999Z");
    EXPECT_EQ(iso_string(8640000000000000), "+275760-09-13T00:00:00.000Z");
}

TEST(SchemaKeys, JavaScriptOrderPutsIndexKeysFirst) {
    auto keys = detail::js_keys(ordered_json::parse(R"({"b":1,"2":1,"a":1,"1":1,"01":1,"4294967295":1})"));
    EXPECT_EQ(keys, (std::vector<std::string>{"1", "2", "b", "a", "01", "4294967295"}));
}

// ---- inputs that used to crash: long values against patterns, deep nesting ----------------------

namespace {
ordered_json pattern_def(const std::string& pattern, const std::string& flags = "") {
    ordered_json field = {{"type", "string"}, {"pattern", pattern}};
    if (!flags.empty()) field["patternFlags"] = flags;
    return ordered_json{{"x", field}};
}
/// Whether `value` passes `pattern` (RegExp.prototype.test), trim off so the value is seen as is.
bool matches(const std::string& pattern, const std::string& value, const std::string& flags = "") {
    ordered_json field = {{"type", "string"}, {"pattern", pattern}, {"trim", false}};
    if (!flags.empty()) field["patternFlags"] = flags;
    auto s = Schema::parse(ordered_json{{"x", field}});
    json record = {{"x", value}};
    return s.check(record).empty();
}
}  // namespace

TEST(SchemaPattern, LongValuesMatchInLinearTime) {
    // std::regex recursed once per character here and overflowed the stack at 20-50k characters.
    std::string ab;
    for (int i = 0; i < 50000; ++i) ab += i % 3 ? 'a' : 'b';
    EXPECT_TRUE(matches("^(a|b)*$", ab));
    EXPECT_FALSE(matches("^(a|b)*$", ab + "c"));
    EXPECT_TRUE(matches("^(?:[a-z]+\\s?)+$", std::string(50000, 'x')));
    // The classic exponential case for backtracking matchers answers at once.
    EXPECT_FALSE(matches("^(a+)+$", std::string(40000, 'a') + "!"));
    EXPECT_FALSE(matches("^(a|aa)*b$", std::string(30000, 'a')));
}

TEST(SchemaPattern, JavaScriptSyntaxTheSchemasUse) {
    EXPECT_TRUE(matches("^[a-z0-9_-]{3,16}$", "user_name-1"));
    EXPECT_FALSE(matches("^[a-z0-9_-]{3,16}$", "ab"));
    EXPECT_FALSE(matches("^[a-z0-9_-]{3,16}$", "abcdefghijklmnopq"));
    EXPECT_TRUE(matches("^\\d{3}-\\d{4}$", "555-1234"));
    EXPECT_FALSE(matches("^\\d{3}-\\d{4}$", "555-12345"));
    EXPECT_TRUE(matches("^\\+?[1-9]\\d{1,14}$", "+14155552671"));
    EXPECT_TRUE(matches("^#?([a-fA-F0-9]{6}|[a-fA-F0-9]{3})$", "#1aF"));
    EXPECT_FALSE(matches("^#?([a-fA-F0-9]{6}|[a-fA-F0-9]{3})$", "#1aFF"));
    EXPECT_TRUE(matches("abc", "xxabcxx"));  // unanchored: found anywhere
    EXPECT_FALSE(matches("^abc", "xabc"));
    EXPECT_TRUE(matches("^ABC$", "abc", "i"));
    EXPECT_FALSE(matches("^ABC$", "abc"));
    EXPECT_TRUE(matches("^[^\\s@]+@[^\\s@]+$", "a@b"));
    EXPECT_FALSE(matches("^[^\\s@]+@[^\\s@]+$", "a b@c"));
    EXPECT_TRUE(matches("^\\w+\\.\\w+$", "file.txt"));
    EXPECT_FALSE(matches("^\\w+\\.\\w+$", "filetxt"));
    EXPECT_TRUE(matches("^.$", "\u00e9"));        // one character, two UTF-8 bytes
    EXPECT_FALSE(matches("^.$", "\n"));           // '.' stops at line breaks...
    EXPECT_TRUE(matches("^.$", "\n", "s"));       // ...unless the s flag
    EXPECT_TRUE(matches("^b$", "a\nb", "m"));     // m: ^ and $ at line breaks
    EXPECT_FALSE(matches("^b$", "a\nb"));
    EXPECT_TRUE(matches("\\bcat\\b", "a cat."));
    EXPECT_FALSE(matches("\\bcat\\b", "concatenate"));
    EXPECT_TRUE(matches("^[\\u00e0-\\u00ff]+$", "\u00e9\u00e8"));
    EXPECT_TRUE(matches("^a{2,}$", "aaaa"));
    EXPECT_FALSE(matches("^a{2,}$", "a"));
    EXPECT_TRUE(matches("^x{2}y?$", "xx"));
    EXPECT_TRUE(matches("^a{,2}$", "a{,2}"));     // not a quantifier: literal, as in JavaScript
    EXPECT_TRUE(matches("^(?<year>\\d{4})-\\d{2}$", "2024-05"));
    EXPECT_TRUE(matches("^[^]$", "\n"));           // [^] is any character
    EXPECT_FALSE(matches("[]", "anything"));      // [] is none
    EXPECT_TRUE(matches("^\\S+$", "abc"));
    EXPECT_FALSE(matches("^\\S+$", "a\u00a0c"));    // no-break space is \s in JavaScript
    EXPECT_TRUE(matches("^[\\D]+$", "abc"));
    EXPECT_TRUE(matches("^(a|)+$", "aaa"));       // empty loops end
    EXPECT_TRUE(matches("^\\x41\\u0042\\.$", "AB."));
    EXPECT_TRUE(matches("^(?:a*)*$", ""));
    // The i flag folds case as JavaScript does beyond ASCII (checked against node on random patterns).
    EXPECT_TRUE(matches("^\u00e9l\u00e8ve$", "\u00c9L\u00c8VE", "i"));
    EXPECT_TRUE(matches("^[\u03b1-\u03c9]+$", "\u0391\u0392\u0393", "i"));
    EXPECT_TRUE(matches("^\u03c2$", "\u03c3", "i"));                  // final sigma: both are Sigma
    EXPECT_TRUE(matches("^[^\u0436]$", "\u0416"));
    EXPECT_FALSE(matches("^[^\u0436]$", "\u0416", "i"));
    EXPECT_FALSE(matches("^\u0131$", "I", "i"));                       // dotless i never meets ASCII
    EXPECT_TRUE(matches("^\u00b5$", "\u039c", "i"));                  // micro sign: Greek capital mu
}

TEST(SchemaPattern, UnsupportedOrOversizedPatternsAreSchemaErrors) {
    for (const char* p : {"(a)\\1", "(?=a)", "(?!a)", "(?<=a)b", "(?<!a)b", "(?<n>a)\\k<n>", "a**", "*a", "(a", "a)",
                          "[a", "[z-a]", "a{3,1}", "x{100000}", "(?:a{1000}){1000}", "^*"}) {
        try {
            Schema::parse(pattern_def(p));
            ADD_FAILURE() << p << " was accepted";
        } catch (const SchemaError& e) {
            EXPECT_EQ(e.attribute(), "x") << p;
            EXPECT_NE(std::string(e.what()).find("pattern"), std::string::npos) << e.what();
        }
    }
    std::string nested(200, '(');
    nested += "a" + std::string(200, ')');
    EXPECT_THROW(Schema::parse(pattern_def(nested)), SchemaError);
}

TEST(SchemaPattern, PreciseEmailIsALinearScan) {
    auto s = parse(R"({"e":{"type":"email","mode":"precise"}})");
    auto ok = [&](const std::string& v) {
        json r = {{"e", v}};
        return s.check(r).empty();
    };
    for (const char* good : {"a@b.co", "first.last@sub.example.com", "\"quoted name\"@example.com", "x@[127.0.0.1]",
                             "\"a@b\"@example.org", "u+tag@ex-ample.io", "\u00e9l\u00e8ve@ecole.fr"})
        EXPECT_TRUE(ok(good)) << good;
    for (const char* bad : {"a@b", "a@b.c", "a..b@c.com", ".a@b.com", "a.@b.com", "a b@c.com", "a@b.c0m", "a@-.com.",
                            "a@[1.2.3]", "a@[1234.1.1.1]", "\"\"@b.com", "a@b..com", "@b.com", "a@", "a(b)@c.com",
                            "\"a\nb\"@c.com", "a@b_c.com"})
        EXPECT_FALSE(ok(bad)) << bad;
    // 50k characters: std::regex overflowed the stack on these.
    EXPECT_TRUE(ok(std::string(50000, 'a') + "@example.com"));
    EXPECT_FALSE(ok(std::string(50000, 'a') + "@example"));
    EXPECT_TRUE(ok("\"" + std::string(50000, 'a') + "\"@example.com"));
    std::string dotted;
    for (int i = 0; i < 20000; ++i) dotted += "a.";
    EXPECT_FALSE(ok(dotted + "@example.com"));
    EXPECT_TRUE(ok(dotted + "a@example.com"));
}

namespace {
json nest(std::size_t depth) {
    json v = 1;
    for (std::size_t i = 0; i < depth; ++i) v = json{{"n", std::move(v)}};
    return v;
}
}  // namespace

TEST(SchemaNesting, DeepRecordsAreRefusedBeforeAnyRecursion) {
    auto s = parse(R"({"name":"string"})");
    json deep = {{"name", "a"}, {"payload", nest(60000)}};
    auto failures_deep = s.check(deep);
    ASSERT_EQ(failures_deep.size(), 1u);
    EXPECT_EQ(failures_deep[0].field, "payload");
    EXPECT_EQ(failures_deep[0].rule, "nestingDepth");
    EXPECT_EQ(failures_deep[0].expected, "100");
    EXPECT_NE(failures_deep[0].message.find("100"), std::string::npos);
    try {
        s.validate(json{{"name", "a"}, {"payload", json::array({nest(60000)})}}, "resource 'r', record 'id1'");
        FAIL() << "no ValidationError";
    } catch (const ValidationError& e) {
        std::string what = e.what();
        EXPECT_NE(what.find("resource 'r'"), std::string::npos) << what;
        EXPECT_NE(what.find("'payload'"), std::string::npos) << what;
    }
    // The limit counts the record itself: 100 levels pass, 101 do not.
    json at_limit = {{"name", "a"}, {"payload", nest(99)}};
    EXPECT_TRUE(s.check(at_limit).empty());
    json over = {{"name", "a"}, {"payload", nest(100)}};
    EXPECT_EQ(failures(s, over), (Fails{{"payload", "nestingDepth"}}));
    json deep_array = json::array();
    for (int i = 0; i < 60000; ++i) deep_array = json::array({std::move(deep_array)});
    EXPECT_EQ(failures(s, deep_array), (Fails{{"[0]", "nestingDepth"}}));  // not rendered for the report either
}

TEST(SchemaNesting, DeepDefinitionsAreSchemaErrors) {
    ordered_json def = "string";
    for (int i = 0; i < 60000; ++i) def = ordered_json{{"n", std::move(def)}};
    try {
        Schema::parse(ordered_json{{"top", std::move(def)}});
        FAIL() << "no SchemaError";
    } catch (const SchemaError& e) {
        EXPECT_EQ(e.attribute(), "top");
        EXPECT_NE(std::string(e.what()).find("100"), std::string::npos);
    }
}

// ---- s3db.js's own types ----

namespace {

// s3db.js 21.6.2's validator on these values: [value, normalised value or null, failing rule or null]
constexpr const char* js_type_cases = R"({
    "timeonly":[["00:00","00:00:00.000",null],["23:59:59","23:59:59.000",null],["23:59:59.9","23:59:59.900",null],["12:30:15.25","12:30:15.250",null],["24:00",null,"timeonly"],["12:60",null,"timeonly"],["1:30",null,"timeonly"],["12:30:15.1234",null,"timeonly"],["2024-01-02T03:04:05.678Z","03:04:05.678",null],["2024-01-02T25:00:00Z",null,"timeonly"],[5,null,"timeonly"]],
    "mac":[["AA:BB:CC:DD:EE:FF","aa:bb:cc:dd:ee:ff",null],["aabb.ccdd.eeff","aa:bb:cc:dd:ee:ff",null],["AA-BB-CC-DD-EE-F",null,"mac"],["gg:bb:cc:dd:ee:ff",null,"mac"],["0123456789ab","01:23:45:67:89:ab",null],[1,null,"mac"]],
    "cidr":[["192.168.1.0/24","192.168.1.0/24",null],["0.0.0.0/0","0.0.0.0/0",null],["255.255.255.255/32","255.255.255.255/32",null],["256.0.0.0/8",null,"cidr"],["1.2.3.4/33",null,"cidr"],["1.2.3/8",null,"cidr"],["01.02.03.04/004",null,"cidr"]],
    "semver":[["1.2.3","1.2.3",null],["v10.20.30","10.20.30",null],["01.002.0003","1.2.3",null],["1.2",null,"semver"],["1.2.3-beta",null,"semver"],["V1.2.3",null,"semver"],["1.999.999","1.999.999",null]],
    "phone":[["+1 (555) 123-4567","+15551234567",null],["5511999999999","+5511999999999",null],["+123456",null,"phone"],["+1234567","+1234567",null],["123456789012345","+123456789012345",null],["1234567890123456",null,"phone"],["+55.11.9999.9999","+551199999999",null],["++5511999999999",null,"phone"],["+55 11 9999x9999",null,"phone"]],
    "color":[["#FFF","#ffffff",null],["abc","#aabbcc",null],["#a1B2c3","#a1b2c3",null],["#abcd",null,"color"],["ggg",null,"color"],["#12345",null,"color"],["FFFFFF","#ffffff",null]],
    "duration":[["PT1H",3600000,null],["P1D",86400000,null],["P1DT2H3M4.5S",93784500,null],["PT",null,"duration"],["P",null,"duration"],["PT0.0005S",1,null],["90m",5400000,null],["1.5h",5400000,null],["2d3h",183600000,null],["250ms",250,null],["1m30s500ms",90500,null],["abc",null,"duration"],["5",null,"duration"],["10 min",null,"duration"],["1H30M",5400000,null],[0,0,null],[1.4,1.4,null],[2.5,2.5,null],[-1,null,"duration"]],
    "cron":[["* * * * *","* * * * *",null],["*/5 0 1-15 1,6 0-6/2","*/5 0 1-15 1,6 0-6/2",null],["0 0 * * * *",null,"cron"],["0 0 ? * *",null,"cron"],[" 1 2 3 4 5 ","1 2 3 4 5",null],["a b c d e",null,"cron"],["1-2-3 * * * *",null,"cron"],["*/5,3 * * * *",null,"cron"]],
    "locale":[["en","en",null],["EN","en",null],["pt_br","pt-BR",null],["pt-BR","pt-BR",null],["en-us","en-US",null],["eng",null,"locale"],["pt-BRA",null,"locale"],["p1",null,"locale"]],
    "currency":[["usd","USD",null],["EUR","EUR",null],["us",null,"currency"],["usdd",null,"currency"],["u$d",null,"currency"]],
    "country":[["br","BR",null],["US","US",null],["bra",null,"country"],["b",null,"country"]],
    "ean":[["12345678","12345678",null],["123456789012","123456789012",null],["1234567890123","1234567890123",null],["12345678901234","12345678901234",null],["1234567",null,"ean"],["123456789",null,"ean"],[12345678,"0000012345678",null],[0,"0000000000000",null],[123456789012345,null,"ean"],[-1,null,"ean"],[1.5,null,"ean"]]})";

}  // namespace

TEST(SchemaJsTypes, NormaliseAndRefuseAsS3dbJs) {
    const json all = json::parse(js_type_cases);
    for (auto& [type, cases] : all.items()) {
        Schema schema = Schema::parse(ordered_json{{"x", type}});
        for (auto& c : cases) {
            json record = {{"x", c[0]}};
            auto failed = schema.check(record);
            SCOPED_TRACE(type + " " + c[0].dump());
            if (c[2].is_null()) {
                ASSERT_TRUE(failed.empty()) << failed[0].message;
                json expected = c[1];
                // s3db.js's validator leaves a duration in ms (its insert returns the ISO text
                // every read returns); we return that text at once
                if (type == "duration")
                    expected = *detail::decode_duration(detail::encode_duration(c[1].get<double>()));
                EXPECT_EQ(record["x"], expected);
            } else {
                ASSERT_EQ(failed.size(), 1u);
                EXPECT_EQ(failed[0].field, "x");
                EXPECT_EQ(failed[0].rule, c[2].get<std::string>());
                EXPECT_TRUE(failed[0].message.starts_with("The 'x' field must be a ")) << failed[0].message;
            }
        }
    }
}

TEST(SchemaJsTypes, MessagesAsS3dbJs) {
    auto message = [](const char* type, json value) {
        json record = {{"x", std::move(value)}};
        auto failed = Schema::parse(ordered_json{{"x", type}}).check(record);
        return failed.empty() ? std::string() : failed[0].message;
    };
    EXPECT_EQ(message("timeonly", "24:00"), "The 'x' field must be a valid time (HH:mm, HH:mm:ss, or HH:mm:ss.SSS).");
    EXPECT_EQ(message("timeonly", 1), "The 'x' field must be a valid time.");
    EXPECT_EQ(message("duration", -1), "The 'x' field must be a non-negative duration.");
    EXPECT_EQ(message("duration", "-5"), "The 'x' field must be a valid duration (e.g., PT1H30M, 1h30m, 90m).");
    EXPECT_EQ(message("mac", "zz"), "The 'x' field must be a valid MAC address (e.g., AA:BB:CC:DD:EE:FF).");
    EXPECT_EQ(message("cron", "* * * *"), "The 'x' field must be a valid 5-field cron expression (e.g., 0 */5 * * *).");
    EXPECT_EQ(message("ean", "123"), "The 'x' field must be a valid barcode (EAN-8, UPC-A 12, EAN-13, or GTIN-14 digits).");
}

TEST(SchemaJsTypes, RefusesWhatWouldReadBackChanged) {
    // s3db.js accepts these and stores something else (we differ on purpose)
    EXPECT_EQ(failures(parse(R"({"v":"semver"})"), {{"v", "1.1000.0"}}), (Fails{{"v", "semver"}}));  // = 2.0.0
    EXPECT_EQ(failures(parse(R"({"p":"phone"})"), {{"p", "(011) 5555-5555"}}), (Fails{{"p", "phone"}}));  // loses the 0
    EXPECT_EQ(failures(parse(R"({"l":"geo:lat|min:-100"})"), {{"l", -95}}), (Fails{{"l", "numberMin"}}));
    EXPECT_EQ(failures(parse(R"({"s":"secretAny"})"), {{"s", {{"a", 1}}}}), (Fails{{"s", "secretAny"}}));  // "[object Object]"
    EXPECT_EQ(failures(parse(R"({"b":"buffer"})"), {{"b", "not base64!"}}), (Fails{{"b", "buffer"}}));
    EXPECT_EQ(failures(parse(R"({"b":"buffer"})"), {{"b", {1, 256}}}), (Fails{{"b", "buffer"}}));
}

TEST(SchemaJsTypes, GeoBuffersDatesAndSecrets) {
    Schema s = parse(R"({"lat":"geo:lat","lon":"geo:lon:2","pt":"geo:point","opt":{"type":"geo-point"},
                         "olat":{"type":"geo-lat"},"bits":"bits:12","buf":"buffer","d":"date|convert:true",
                         "dn":"date|optional","sa":"secretAny","sn":"secretNumber|min:10","ob":{"type":"bits:9"}})");
    json r = {{"lat", "-23.55052"}, {"lon", 10.126}, {"pt", {-1.5, 2}}, {"opt", {{"latitude", 1}, {"longitude", 2}}},
              {"olat", 12.3456789}, {"bits", {255, 15}}, {"buf", json::array()}, {"d", 0}, {"sa", 1.5}, {"sn", "42"},
              {"ob", {{"type", "Buffer"}, {"data", {1, 2}}}}};
    ASSERT_TRUE(s.check(r).empty()) << s.check(r)[0].message;
    EXPECT_EQ(r["lat"], -23.550520000000006);  // the fixed point s3db.js reads back (and partitions on)
    EXPECT_EQ(r["lon"], 10.129999999999995);
    EXPECT_EQ(r["pt"], (json{{"latitude", -1.5}, {"longitude", 2}}));
    EXPECT_EQ(r["opt"], (json{{"latitude", 1}, {"longitude", 2}}));
    EXPECT_EQ(r["olat"], 12.3456789);  // object forms are stored as given
    EXPECT_EQ(r["bits"], (json{{"type", "Buffer"}, {"data", {255, 15}}}));
    EXPECT_EQ(r["buf"], (json{{"type", "Buffer"}, {"data", json::array()}}));
    json b64 = {{"bits", "/w8="}, {"buf", "AAEC"}};  // base64 text, which s3db.js reads back as a Buffer
    ASSERT_TRUE(parse(R"({"bits":"bits:12","buf":"buffer"})").check(b64).empty());
    EXPECT_EQ(b64["bits"], (json{{"type", "Buffer"}, {"data", {255, 15}}}));
    EXPECT_EQ(b64["buf"], (json{{"type", "Buffer"}, {"data", {0, 1, 2}}}));
    EXPECT_EQ(r["d"], "1970-01-01T00:00:00.000Z");
    EXPECT_EQ(r["sa"], "1.5");  // String(value), as s3db.js encrypts and reads it back
    EXPECT_EQ(r["sn"], "42");
    json bad = {{"lat", 90.5},         {"lon", "x"},       {"pt", {{"lat", 1}}}, {"opt", {1, 200}}, {"olat", -91},
                {"bits", {255}},        {"buf", {1, -1}},   {"d", "not a date"}, {"dn", "2024-01-02"},
                {"sa", json::array()},  {"sn", 9},          {"ob", {1, 2, 3}}};
    EXPECT_EQ(failures(s, bad), (Fails{{"lat", "numberMax"}, {"lon", "number"}, {"pt", "geoPoint"}, {"opt", "geoPoint"},
                                       {"olat", "numberMin"}, {"bits", "bits"}, {"buf", "buffer"}, {"d", "date"},
                                       {"dn", "date"}, {"sa", "secretAny"}, {"sn", "numberMin"}, {"ob", "bits"}}));
    // fastest-validator's message for its Date type; a date without `convert` takes no JSON value
    for (const auto& f : s.check(bad)) {
        if (f.field == "dn") {
            EXPECT_EQ(f.message, "The 'dn' field must be a Date.");
        }
        if (f.field == "sn") {
            EXPECT_EQ(f.value, "<secret>");
        }
    }
}

TEST(SchemaJsTypes, ParsesEverySpellingS3dbJsAccepts) {
    Schema s = parse(R"({"a":"geo:lat:4|optional","b":"geo:lon","c":"geo:point:3","d":{"type":"geo:lat"},
                         "e":{"type":"geo-lon"},"f":{"type":"geo:point"},"g":{"type":"bits","optional":true},
                         "h":"bits","i":"bits:64","j":{"type":"bits:8"},"k":"secretAny|optional",
                         "l":{"type":"secretNumber"},"m":"date","n":{"type":"timeonly"},"o":"mac|optional",
                         "p":{"type":"currency"}})");
    EXPECT_EQ(s.find("a")->type, FieldType::geo_lat);
    EXPECT_EQ(s.find("a")->scale, 4);
    EXPECT_TRUE(s.find("a")->optional);
    EXPECT_EQ(s.find("b")->scale, 6);
    EXPECT_EQ(s.find("c")->type, FieldType::geo_point);
    EXPECT_EQ(s.find("c")->scale, 3);
    EXPECT_EQ(s.find("d")->type, FieldType::geo_lat);
    EXPECT_TRUE(s.find("d")->object_form);
    EXPECT_EQ(s.find("e")->type, FieldType::geo_lon);
    EXPECT_EQ(s.find("f")->type, FieldType::geo_point);
    EXPECT_EQ(s.find("g")->type, FieldType::bits);
    EXPECT_EQ(s.find("g")->scale, -1);
    EXPECT_EQ(s.find("i")->scale, 64);
    EXPECT_EQ(s.find("j")->scale, 8);
    EXPECT_EQ(s.find("k")->type, FieldType::secret_any);
    // not in s3db.js's list of validator types: {type: 'secretNumber'} is a nested object
    // whose field "type" is a secretNumber (for s3db.js too)
    EXPECT_EQ(s.find("l")->type, FieldType::object);
    EXPECT_EQ(s.find("l.type")->type, FieldType::secret_number);
    EXPECT_EQ(s.find("m")->type, FieldType::date);
    EXPECT_EQ(s.find("n")->type, FieldType::timeonly);
    EXPECT_EQ(s.find("p")->type, FieldType::currency);
    // s3db.js cannot compile these ("Invalid 'geo-lat' type in validator schema")
    EXPECT_EQ(schema_error(R"({"x":"geo-lat"})").first, "x");
    EXPECT_EQ(schema_error(R"({"x":"geo:height"})").first, "x");
    EXPECT_EQ(schema_error(R"({"x":"geo"})").first, "x");
    EXPECT_EQ(schema_error(R"({"x":"bits:0"})").first, "x");
    EXPECT_EQ(schema_error(R"({"x":"mac:4"})").first, "x");
    // modifiers s3db.js's aliases ignore: a strict parse reports them, a bucket's definition opens
    EXPECT_EQ(schema_error(R"({"x":"color|min:3"})"), (std::pair<std::string, std::string>{"x", "min:3"}));
    SchemaOptions loose;
    loose.strict = false;
    EXPECT_NO_THROW(Schema::parse(ordered_json::parse(R"({"x":"color|min:3","y":{"type":"mac","foo":1}})"), loose));
}
