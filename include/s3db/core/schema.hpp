#pragma once
// Attribute definitions in s3db.js's language ("string|required|min:2", "number|integer|min:0",
// nested object literals, `{type: ..., ...}` objects) parsed once into a typed Schema, which
// validates records with fastest-validator's semantics (which s3db.js uses): fields are required
// unless `optional`, strings are trimmed, numbers and booleans are converted from strings, defaults
// are applied, unknown fields are kept. Every failing field is reported, in definition order.
// This header holds the parser and class Schema; the validator's bodies are in validation.hpp, the
// JavaScript-compatible value checks in detail/js_formats.hpp, date parsing in detail/time.hpp.
//
// Where s3db.js silently ignores a mistake (an unknown modifier, `enum:` in shorthand, which it
// cannot compile at all) a strict parse (the default) reports it; `SchemaOptions::strict = false`
// accepts everything s3db.js accepts, for definitions read from a bucket s3db.js wrote.

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "s3db/errors.hpp"
#include "s3db/detail/config.hpp"
#include "s3db/detail/time.hpp"
#include "s3db/detail/base62.hpp"
#include "s3db/detail/encoding.hpp"
#include "s3db/detail/js_formats.hpp"
#include "s3db/detail/js_text.hpp"
#include "s3db/detail/password.hpp"
#include "s3db/detail/regex.hpp"

namespace s3db {

enum class FieldType : std::uint8_t {
    string,
    number,
    boolean,
    any,
    email,
    url,
    uuid,
    enumeration,  // {type: 'enum', values: [...]}
    array,
    object,  // a nested object literal: its leaves are fields of their own
    json,    // `json`, and `object` as a type name (any JSON object), stored as JSON text
    secret,
    datetime,
    dateonly,
    ip4,
    ip6,
    embedding,
    money,    // money[:decimals], crypto[:decimals]
    decimal,  // decimal[:precision]
    password,  // password[:bcrypt|:argon2id]: a plaintext is hashed while validating (one-way)
    // s3db.js's own formats (detail/js_types.hpp): normalised strings stored compactly
    date,      // fastest-validator's Date: only with `convert`, stored as JSON text
    timeonly,  // "HH:mm:ss.SSS"
    mac,
    cidr,
    semver,
    phone,
    color,
    duration,  // milliseconds; read back as ISO-8601 text
    cron,
    locale,
    currency,
    country,
    ean,
    buffer,     // bytes, as Node's JSON form of a Buffer: {"type":"Buffer","data":[...]}
    bits,       // bits[:N]: a buffer of (N + 7) / 8 bytes
    geo_lat,    // geo:lat[:precision]
    geo_lon,    // geo:lon[:precision]
    geo_point,  // geo:point[:precision]: {"latitude","longitude"}
    secret_any,     // secretAny: any scalar, encrypted as its text
    secret_number,  // secretNumber: a number, encrypted as its text
};

/// The types whose stored value is a `secret`'s ciphertext.
constexpr bool is_secret_type(FieldType t) noexcept {
    return t == FieldType::secret || t == FieldType::secret_any || t == FieldType::secret_number;
}

/// How an array attribute is written (s3db.js picks it from the definition text).
enum class ArrayEncoding : std::uint8_t {
    json,       // JSON text
    strings,    // items joined by '|', '\' and '|' escaped with '\'
    decimals,   // base62-decimal items joined by '|'
    integers,   // base62 integer items joined by '|'
    embedding,  // "^[" fixed-point items "]"
};

/// fastest-validator's checks for one field; unset members check nothing.
struct Rules {
    std::optional<double> min, max, length;  // string length (UTF-16 units), number value, array size
    std::optional<double> equal, not_equal;
    bool integer = false, positive = false, negative = false;
    bool convert = false;
    bool trim = false, trim_left = false, trim_right = false;
    std::optional<bool> empty;
    bool numeric = false, alpha = false, alphanum = false, alphadash = false, hex = false;
    bool single_line = false, base64 = false, unique = false;
    std::optional<std::string> pattern, contains;
    std::string pattern_flags;
    std::shared_ptr<const detail::LinearRegex> pattern_regex;
    std::vector<nlohmann::json> allowed;  // `enum` (string, array) and `values` (enum type)
    std::optional<int> uuid_version;
    bool email_precise = false, email_normalize = false;
    bool object_only = false;  // the `object` type name: the JSON value must be an object
    // Accepted because s3db.js accepts them, and kept for partition rules, but s3db.js (and so
    // this library) does not enforce them on attributes: string length limits are min/max.
    std::optional<double> minlength, maxlength;
};

/// One attribute: a leaf field, or a nested object with `children`.
struct Attribute {
    std::string name;        // key inside its parent
    std::string path;        // dotted from the root: "profile.city"
    std::string definition;  // the shorthand text, "" for object forms and nested objects
    FieldType type = FieldType::string;
    bool optional = false;
    bool nullable = false;
    bool object_form = false;  // defined as {type: ...}; s3db.js then stores uuid/dates verbatim
    std::optional<nlohmann::json> default_value;
    Rules rules;
    int scale = 0;  // money decimals, decimal precision, geo precision, bits count (-1: any)
    bool integer_encoding = false;  // numbers written as base62 integers ("|integer" in the text)
    ArrayEncoding array_encoding = ArrayEncoding::json;
    std::shared_ptr<const Attribute> items;  // arrays: the rule every item follows
    std::vector<Attribute> children;         // nested objects
    std::shared_ptr<const PasswordOptions> password;  // password fields: how a plaintext is hashed

    bool is_object() const noexcept { return type == FieldType::object; }
    const Attribute* child(std::string_view n) const noexcept {
        for (const auto& c : children)
            if (c.name == n) return &c;
        return nullptr;
    }
};

struct SchemaOptions {
    /// Nested object literals may be absent unless their `$$type` says `required` (s3db.js's
    /// resource default).
    bool all_nested_objects_optional = true;
    /// Reject modifiers s3db.js would silently ignore. Turn off for definitions s3db.js wrote.
    bool strict = true;
    /// How `password` fields hash a plaintext (their type picks the algorithm).
    PasswordOptions password{};
};

namespace detail {

/// The failure Schema::check reports when `v` nests objects and arrays deeper than
/// max_nesting_depth (rule "nestingDepth", naming the top-level field), nullopt when it does not.
/// Resource refuses an update with it before anything copies (and so recurses over) the value.
S3DB_DECL std::optional<ValidationError::Failure> nesting_failure(const nlohmann::json& v);

}  // namespace detail

/// A parsed resource schema. Immutable and cheap to share; validation is thread-safe.
class Schema {
public:
    using Failure = ValidationError::Failure;

    Schema() = default;

    /// Parses attribute definitions. Pass an `ordered_json` to keep the definition order (it
    /// decides validation order and the attribute indices of a new resource); a plain
    /// `nlohmann::json` converts to it with its keys sorted. Throws SchemaError.
    S3DB_DECL static Schema parse(const nlohmann::ordered_json& attributes, SchemaOptions options = {});

    const std::vector<Attribute>& attributes() const noexcept { return attributes_; }
    const nlohmann::ordered_json& definition() const noexcept { return definition_; }
    const SchemaOptions& options() const noexcept { return options_; }

    /// The attribute at a dotted path ("profile.city"), nested objects included; nullptr if none.
    S3DB_DECL const Attribute* find(std::string_view path) const noexcept;

    /// Validates `record` in place: applies defaults, trims strings, converts numbers and booleans,
    /// normalises dates. Returns every failure (empty when the record is valid).
    S3DB_DECL std::vector<Failure> check(nlohmann::json& record) const;

    /// The validated, normalised record; throws ValidationError listing every failing field.
    S3DB_DECL nlohmann::json validate(nlohmann::json record, const std::string& context = {}) const;

private:
    // ---------------------------------------------------------------------------------------
    // parsing

    S3DB_DECL static bool is_validator_type(const std::string& t);

    S3DB_DECL static Attribute parse_attribute(const std::string& name, const std::string& path,
                                               const nlohmann::ordered_json& def, const SchemaOptions& options);

    S3DB_DECL static Attribute parse_nested(const std::string& name, const std::string& path,
                                            const nlohmann::ordered_json& def, const SchemaOptions& options);

    /// The part of the type token before ':' and the parameter after it ("money:4").
    S3DB_DECL static void set_type(Attribute& a, std::string_view base, std::string_view param, bool has_param,
                                   const std::string& token);

    S3DB_DECL static Attribute parse_shorthand(const std::string& name, const std::string& path,
                                               const std::string& text, const SchemaOptions& options);

    /// A password field's hashing options: the schema's, with the algorithm its type names.
    S3DB_DECL static void bind_password(Attribute& a, const SchemaOptions& options);

    S3DB_DECL static std::optional<double> number_token(std::string_view s);

    /// `default:X` in shorthand, cast by type as s3db.js's applyDefaults does.
    S3DB_DECL static nlohmann::json shorthand_default(const Attribute& a, const std::string& raw,
                                                      const std::string& token);

    S3DB_DECL static Attribute parse_object_form(const std::string& name, const std::string& path,
                                                 const nlohmann::ordered_json& def, const SchemaOptions& options);

    /// Picks the array encoding exactly as s3db.js's auto hooks do.
    S3DB_DECL static void finish_array(Attribute& a, bool integer_flag);

    S3DB_DECL static void apply_modifier(Attribute& a, const std::string& key, const nlohmann::json& value,
                                         const std::string& token, const SchemaOptions& options, bool shorthand);

    // ---------------------------------------------------------------------------------------
    // validation

    /// Where a failing value sits: a path, and for array items an index appended as "[i]".
    struct FieldRef {
        const std::string& path;
        std::size_t index = static_cast<std::size_t>(-1);
        const FieldRef* parent = nullptr;  // the array's own reference, for items of items
        S3DB_DECL std::string str() const;
    };

    static Failure make_failure(std::string field, const char* rule, std::string value, std::string expected,
                                std::string message) {
        return Failure{std::move(field), rule, std::move(value), std::move(expected), std::move(message)};
    }

    static std::string fmt_number(double v) { return detail::js_number(v); }

    /// fastest-validator's message for a rule.
    S3DB_DECL static std::string message(std::string_view rule, const std::string& field, const std::string& expected);

    struct Reporter {
        std::vector<Failure>& out;
        const Attribute& attr;
        const FieldRef& ref;
        const nlohmann::json* shown;
        S3DB_DECL void operator()(const char* rule, std::string expected = {}) const;
    };

    S3DB_DECL static void check_object_fields(const std::vector<Attribute>& attrs, nlohmann::json& object,
                                              std::vector<Failure>& failures);

    /// fastest-validator's required/optional/default wrapper around a rule.
    S3DB_DECL static void check_present(const Attribute& attr, nlohmann::json& value, const FieldRef& ref,
                                        std::vector<Failure>& failures);

    S3DB_DECL static void check_value(const Attribute& attr, nlohmann::json& value, const FieldRef& ref,
                                      std::vector<Failure>& failures);

    static bool needs_original(const Attribute& attr) noexcept {
        using T = FieldType;
        return attr.type == T::number || attr.type == T::money || attr.type == T::decimal || attr.type == T::boolean ||
               attr.type == T::datetime || attr.type == T::dateonly || attr.type == T::date ||
               attr.type == T::geo_lat || attr.type == T::geo_lon || attr.type == T::secret_number ||
               attr.type == T::duration || attr.type == T::ean;
    }

    static bool url_like(std::string_view s) {
        std::size_t p = s.starts_with("http://") ? 7 : s.starts_with("https://") ? 8 : 0;
        return p && p < s.size() && detail::js_space_prefix(s.substr(p)) == 0;
    }

    S3DB_DECL static std::string join_allowed(const std::vector<nlohmann::json>& allowed);

    S3DB_DECL static void check_string(const Attribute& attr, nlohmann::json& value, const Reporter& fail);

    /// /^-?[0-9]\d*(\.\d+)?$/
    S3DB_DECL static bool is_numeric_string(std::string_view s);

    /// fastest-validator's base64 pattern: groups of 4, optional padded tail.
    S3DB_DECL static bool is_padded_base64(std::string_view s);

    S3DB_DECL static void check_number(const Attribute& attr, nlohmann::json& value, const Reporter& fail);

    S3DB_DECL static void check_boolean(const Attribute& attr, nlohmann::json& value, const Reporter& fail);

    S3DB_DECL static void check_email(const Attribute& attr, nlohmann::json& value, const Reporter& fail);

    S3DB_DECL static void check_array(const Attribute& attr, nlohmann::json& value, const FieldRef& ref,
                                      std::vector<Failure>& failures, const Reporter& fail);

    S3DB_DECL static void check_date(const Attribute& attr, nlohmann::json& value, const Reporter& fail);

    /// The s3db.js formats of detail/js_types.hpp, `date`, buffers, geo and the secret variants.
    S3DB_DECL static void check_js_type(const Attribute& attr, nlohmann::json& value, const Reporter& fail);

    std::vector<Attribute> attributes_;
    nlohmann::ordered_json definition_;
    SchemaOptions options_;
};

}  // namespace s3db

#if S3DB_DEFINE_BODIES

#include <charconv>

// The validator: Schema::check and its helpers.
#include "s3db/core/validation.hpp"

namespace s3db {

S3DB_DECL Schema Schema::parse(const nlohmann::ordered_json& attributes, SchemaOptions options) {
    if (!attributes.is_object()) throw SchemaError("", "", "attribute definitions must be a JSON object");
    if (auto where = detail::too_deep(attributes))
        throw SchemaError(*where, "", "the definition nests deeper than " + std::to_string(detail::max_nesting_depth) +
                                          " levels");
    Schema s;
    s.definition_ = attributes;
    s.options_ = options;
    for (const auto& name : detail::js_keys(attributes)) {
        if (name.starts_with("$$")) continue;  // validator meta keys
        s.attributes_.push_back(parse_attribute(name, name, attributes[name], options));
    }
    return s;
}

S3DB_DECL const Attribute* Schema::find(std::string_view path) const noexcept {
    const std::vector<Attribute>* level = &attributes_;
    while (true) {
        auto dot = path.find('.');
        std::string_view head = path.substr(0, dot);
        const Attribute* hit = nullptr;
        for (const auto& a : *level)
            if (a.name == head) hit = &a;
        if (!hit || dot == std::string_view::npos) return hit;
        level = &hit->children;
        path.remove_prefix(dot + 1);
    }
}

S3DB_DECL bool Schema::is_validator_type(const std::string& t) {
    // s3db.js's list: an object whose `type` is one of these is a field, not a nested object.
    static const char* const names[] = {
        "string", "number", "boolean", "bool", "any", "object", "array", "date", "dateonly", "datetime",
        "timeonly", "email", "url", "uuid", "enum", "custom", "ip4", "ip6", "mac", "cidr", "semver",
        "phone", "color", "duration", "cron", "locale", "currency", "country", "ean", "buffer", "bits",
        "money", "crypto", "decimal", "geo:lat", "geo:lon", "geo:point", "geo-lat", "geo-lon",
        "geo-point", "secret", "password", "password:bcrypt", "password:argon2id", "embedding"};
    if (t.find('|') != std::string::npos) return false;
    for (const char* n : names)
        if (t == n) return true;
    return t.starts_with("bits:") || t.starts_with("embedding:");
}

S3DB_DECL Attribute Schema::parse_attribute(const std::string& name, const std::string& path,
                                            const nlohmann::ordered_json& def, const SchemaOptions& options) {
    if (name.empty()) throw SchemaError(path, "", "attribute names cannot be empty");
    if (name.find('.') != std::string::npos)
        throw SchemaError(path, name, "attribute names cannot contain '.' (nest an object instead)");
    if (def.is_string()) return parse_shorthand(name, path, def.get_ref<const std::string&>(), options);
    if (def.is_object()) {
        auto type = def.find("type");
        if (type != def.end() && type->is_string() && is_validator_type(type->get<std::string>()))
            return parse_object_form(name, path, def, options);
        return parse_nested(name, path, def, options);
    }
    throw SchemaError(path, def.dump(), "a definition must be a string or an object");
}

S3DB_DECL Attribute Schema::parse_nested(const std::string& name, const std::string& path,
                                         const nlohmann::ordered_json& def, const SchemaOptions& options) {
    Attribute a;
    a.name = name;
    a.path = path;
    a.type = FieldType::object;
    a.optional = options.all_nested_objects_optional;
    if (auto t = def.find("$$type"); t != def.end()) {
        if (!t->is_string()) throw SchemaError(path, t->dump(), "$$type must be a string");
        const std::string& text = t->get_ref<const std::string&>();
        // s3db.js only looks for the words; a strict parse wants "object[|required|optional]".
        bool required = text.find("required") != std::string::npos;
        bool optional = text.find("optional") != std::string::npos;
        if (options.strict) {
            auto tokens = detail::js_split(text, '|');
            if (tokens[0] != "object") throw SchemaError(path, text, "$$type must start with 'object'");
            for (std::size_t k = 1; k < tokens.size(); ++k)
                if (tokens[k] != "required" && tokens[k] != "optional")
                    throw SchemaError(path, std::string(tokens[k]), "unknown $$type modifier");
        }
        if (required) a.optional = false;
        else if (optional) a.optional = true;
    }
    for (const auto& key : detail::js_keys(def)) {
        if (key.starts_with("$$")) continue;
        a.children.push_back(parse_attribute(key, path + "." + key, def[key], options));
    }
    return a;
}

S3DB_DECL void Schema::set_type(Attribute& a, std::string_view base, std::string_view param, bool has_param,
                                const std::string& token) {
    auto param_number = [&](int fallback, int max) {
        if (!has_param) return fallback;
        int v = 0;
        auto r = std::from_chars(param.data(), param.data() + param.size(), v);
        if (param.empty() || r.ec != std::errc() || r.ptr != param.data() + param.size() || v < 0 || v > max)
            throw SchemaError(a.path, token, "the type parameter must be a whole number up to " + std::to_string(max));
        return v;
    };
    auto no_param = [&] {
        if (has_param) throw SchemaError(a.path, token, "this type takes no parameter");
    };
    using T = FieldType;
    if (base == "string") { no_param(); a.type = T::string; }
    else if (base == "number") { no_param(); a.type = T::number; }
    else if (base == "boolean" || base == "bool") { no_param(); a.type = T::boolean; }
    else if (base == "any") { no_param(); a.type = T::any; }
    else if (base == "email") { no_param(); a.type = T::email; }
    else if (base == "url") { no_param(); a.type = T::url; }
    else if (base == "uuid") { no_param(); a.type = T::uuid; }
    else if (base == "array") { no_param(); a.type = T::array; }
    else if (base == "json") { no_param(); a.type = T::json; }
    else if (base == "object") { no_param(); a.type = T::json; a.rules.object_only = true; }
    else if (base == "secret") { no_param(); a.type = T::secret; }
    else if (base == "datetime") { no_param(); a.type = T::datetime; }
    else if (base == "dateonly") { no_param(); a.type = T::dateonly; }
    else if (base == "ip4") { no_param(); a.type = T::ip4; }
    else if (base == "ip6") { no_param(); a.type = T::ip6; }
    else if (base == "enum") { no_param(); a.type = T::enumeration; }
    else if (base == "embedding") {
        a.type = T::embedding;
        if (has_param) {
            int n = param_number(0, 1 << 20);
            if (n == 0) throw SchemaError(a.path, token, "an embedding needs a length");
            a.rules.length = n;
        }
        a.rules.empty = false;
    }
    else if (base == "money") { a.type = T::money; a.scale = param_number(2, 15); }
    else if (base == "crypto") { a.type = T::money; a.scale = param_number(8, 15); }
    else if (base == "decimal") { a.type = T::decimal; a.scale = param_number(2, 15); }
    else if (base == "password" || base.starts_with("password:")) {
        // shorthand "password:argon2id" arrives split at ':', the object form whole
        std::string_view algo = base == "password" ? (has_param ? param : "bcrypt") : base.substr(9);
        PasswordOptions o;
        if (algo == "bcrypt") o.algorithm = PasswordAlgorithm::bcrypt;
        else if (algo == "argon2id") o.algorithm = PasswordAlgorithm::argon2id;
        else throw SchemaError(a.path, token, "a password is 'password:bcrypt' or 'password:argon2id'");
        a.type = T::password;
        a.password = std::make_shared<const PasswordOptions>(std::move(o));  // costs: see bind_password
    }
    else if (base == "date") { no_param(); a.type = T::date; }
    else if (base == "timeonly") { no_param(); a.type = T::timeonly; }
    else if (base == "mac") { no_param(); a.type = T::mac; }
    else if (base == "cidr") { no_param(); a.type = T::cidr; }
    else if (base == "semver") { no_param(); a.type = T::semver; }
    else if (base == "phone") { no_param(); a.type = T::phone; }
    else if (base == "color") { no_param(); a.type = T::color; }
    else if (base == "duration") { no_param(); a.type = T::duration; }
    else if (base == "cron") { no_param(); a.type = T::cron; }
    else if (base == "locale") { no_param(); a.type = T::locale; }
    else if (base == "currency") { no_param(); a.type = T::currency; }
    else if (base == "country") { no_param(); a.type = T::country; }
    else if (base == "ean") { no_param(); a.type = T::ean; }
    else if (base == "buffer") { no_param(); a.type = T::buffer; }
    else if (base == "bits") {
        a.type = T::bits;
        a.scale = has_param ? param_number(0, 1 << 20) : -1;
        if (has_param && a.scale == 0) throw SchemaError(a.path, token, "bits needs a count");
    }
    else if (base == "secretAny") { no_param(); a.type = T::secret_any; }
    else if (base == "secretNumber") { no_param(); a.type = T::secret_number; }
    else if (!a.object_form && (base == "geo-lat" || base == "geo-lon" || base == "geo-point"))
        throw SchemaError(a.path, token, "unknown type (s3db.js takes '" + std::string(base) + "' in the object form only)");
    else if (base == "geo" || base == "geo:lat" || base == "geo:lon" || base == "geo:point" || base == "geo-lat" ||
             base == "geo-lon" || base == "geo-point") {
        // shorthand "geo:lat[:p]" arrives as base "geo", param "lat[:p]"; object forms whole, without p
        std::string_view kind = base.size() > 3 ? base.substr(4) : param.substr(0, param.find(':'));
        bool precision = base.size() == 3 && param.find(':') != std::string_view::npos;
        if (base.size() == 3 && !has_param) throw SchemaError(a.path, token, "unknown type");
        if (kind == "lat") { a.type = T::geo_lat; a.rules.min = -90; a.rules.max = 90; }
        else if (kind == "lon") { a.type = T::geo_lon; a.rules.min = -180; a.rules.max = 180; }
        else if (kind == "point") a.type = T::geo_point;
        else throw SchemaError(a.path, token, "unknown type");
        a.scale = 6;
        if (precision) {
            std::string_view p = param.substr(param.find(':') + 1);
            int v = 0;
            auto r = std::from_chars(p.data(), p.data() + p.size(), v);
            if (p.empty() || r.ec != std::errc() || r.ptr != p.data() + p.size() || v < 0 || v > 15)
                throw SchemaError(a.path, token, "the geo precision must be a whole number up to 15");
            a.scale = v;
        }
    }
    else if (is_validator_type(std::string(base)) || base == "text")
        throw SchemaError(a.path, token, "type '" + std::string(base) + "' is not supported by s3db-cpp yet");
    else throw SchemaError(a.path, token, "unknown type");
    // fastest-validator's defaults (s3db.js sets string trim, number/boolean convert)
    switch (a.type) {
        case T::string: case T::secret: case T::ip4: case T::ip6: case T::password: a.rules.trim = true; break;
        case T::number: case T::money: case T::decimal: case T::boolean: case T::geo_lat: case T::geo_lon:
        case T::secret_number: a.rules.convert = true; break;
        default: break;
    }
    if (a.type == T::money) a.rules.min = 0;  // s3db.js: money is `number|min:0` unless min is given
}

S3DB_DECL Attribute Schema::parse_shorthand(const std::string& name, const std::string& path, const std::string& text,
                                            const SchemaOptions& options) {
    Attribute a;
    a.name = name;
    a.path = path;
    a.definition = text;
    auto tokens = detail::js_split(text, '|');
    std::string_view head = tokens[0];
    auto colon = head.find(':');
    set_type(a, head.substr(0, colon), colon == std::string_view::npos ? std::string_view{} : head.substr(colon + 1),
             colon != std::string_view::npos, std::string(head));
    bind_password(a, options);
    if (a.type == FieldType::enumeration)
        throw SchemaError(path, text, "an enum needs its values: use {type: 'enum', values: [...]}");
    bool array_integer_flag = false;
    for (std::size_t k = 1; k < tokens.size(); ++k) {
        std::string_view tok = tokens[k];
        auto c = tok.find(':');
        std::string key(tok.substr(0, c));
        if (key == "integer") array_integer_flag = true;  // s3db.js: any "|integer" token, even :false
        if (c == std::string_view::npos) {
            if (key.empty()) {
                if (options.strict) throw SchemaError(path, text, "empty modifier");
                continue;
            }
            apply_modifier(a, key, nlohmann::json(true), std::string(tok), options, true);
            continue;
        }
        std::string raw(tok.substr(c + 1));
        if (key == "default") {
            a.default_value = shorthand_default(a, raw, std::string(tok));
            continue;
        }
        if (key == "items") {
            apply_modifier(a, key, nlohmann::json(raw), std::string(tok), options, true);
            continue;
        }
        if (key == "enum" || key == "values")
            throw SchemaError(path, std::string(tok), "s3db.js cannot compile '" + key + "' in shorthand: use the object form");
        nlohmann::json value;
        if (raw == "true") value = true;
        else if (raw == "false") value = false;
        else if (auto n = number_token(raw)) value = *n;
        else value = raw;
        apply_modifier(a, key, value, std::string(tok), options, true);
    }
    if (array_integer_flag && a.type == FieldType::number) {
        // s3db.js writes base62 integers for any "|integer" token (even integer:false) and
        // floors the value; requiring integers keeps that from losing data silently.
        a.integer_encoding = true;
        a.rules.integer = true;
    }
    finish_array(a, array_integer_flag);
    return a;
}

S3DB_DECL void Schema::bind_password(Attribute& a, const SchemaOptions& options) {
    if (a.type != FieldType::password) return;
    PasswordOptions o = options.password;
    o.algorithm = a.password->algorithm;
    try {
        check_password_options(o);
    } catch (const PasswordError& e) {
        throw SchemaError(a.path, "", std::string("cannot hash passwords: ") + e.what());
    }
    a.password = std::make_shared<const PasswordOptions>(std::move(o));
}

S3DB_DECL std::optional<double> Schema::number_token(std::string_view s) {
    if (s.empty()) return std::nullopt;
    double v = detail::js_string_to_number(s);
    if (std::isnan(v)) return std::nullopt;
    return v;
}

S3DB_DECL nlohmann::json Schema::shorthand_default(const Attribute& a, const std::string& raw,
                                                   const std::string& token) {
    using T = FieldType;
    switch (a.type) {
        case T::boolean: return raw == "true";
        case T::number: case T::money: case T::decimal: case T::geo_lat: case T::geo_lon: case T::secret_number: {
            auto n = number_token(raw);
            if (!n || !std::isfinite(*n)) throw SchemaError(a.path, token, "the default of a number must be a number");
            return detail::json_number(*n);
        }
        case T::array: case T::embedding: case T::object:
            throw SchemaError(a.path, token, "defaults for arrays need the object form");
        default: return raw;
    }
}

S3DB_DECL Attribute Schema::parse_object_form(const std::string& name, const std::string& path,
                                              const nlohmann::ordered_json& def, const SchemaOptions& options) {
    Attribute a;
    a.name = name;
    a.path = path;
    a.object_form = true;
    const std::string type = def["type"].get<std::string>();
    auto colon = type.find(':');
    if (type.starts_with("geo:") || type.starts_with("password:")) colon = std::string::npos;
    set_type(a, std::string_view(type).substr(0, colon),
             colon == std::string::npos ? std::string_view{} : std::string_view(type).substr(colon + 1),
             colon != std::string::npos, type);
    bind_password(a, options);
    for (auto it = def.begin(); it != def.end(); ++it) {
        const std::string& key = it.key();
        if (key == "type" || key == "__plugin__" || key == "__pluginCreated__") continue;
        if (key == "default") {
            a.default_value = nlohmann::json(it.value());
            continue;
        }
        apply_modifier(a, key, nlohmann::json(it.value()), key, options, false);
    }
    if (a.type == FieldType::enumeration && a.rules.allowed.empty() && !def.contains("values"))
        throw SchemaError(path, "enum", "an enum needs its values");
    bool integer_items = false;
    if (a.type == FieldType::array) {
        auto items = def.find("items");
        integer_items = items != def.end() && items->is_string() &&
                        items->get_ref<const std::string&>().find("integer") != std::string::npos;
    }
    finish_array(a, integer_items);
    return a;
}

S3DB_DECL void Schema::finish_array(Attribute& a, bool integer_flag) {
    if (a.type == FieldType::embedding) {
        a.array_encoding = ArrayEncoding::embedding;
        auto item = std::make_shared<Attribute>();
        item->path = a.path + "[]";
        item->type = FieldType::number;
        item->rules.convert = true;
        a.items = std::move(item);
        return;
    }
    if (a.type != FieldType::array) return;
    a.array_encoding = ArrayEncoding::json;
    if (!a.items) return;
    // s3db.js tests the items *text*: "string"/"number" (possibly with modifiers); items given
    // as an object, or any other type, are stored as JSON.
    const std::string& items_text = a.items->definition;
    if (items_text.empty()) return;
    if (a.items->type == FieldType::string && items_text.find("string") != std::string::npos) {
        a.array_encoding = ArrayEncoding::strings;
    } else if (a.items->type == FieldType::number) {
        double length = a.rules.length.value_or(-1);
        if (!a.object_form) {
            // s3db.js: /length:(\d+)/ anywhere in the definition (maxlength:300 counts too)
            auto p = a.definition.find("length:");
            length = -1;
            if (p != std::string::npos) {
                std::size_t q = p + 7;
                double v = 0;
                bool any = false;
                while (q < a.definition.size() && a.definition[q] >= '0' && a.definition[q] <= '9') {
                    v = v * 10 + (a.definition[q++] - '0');
                    any = true;
                }
                if (any) length = v;
            }
        }
        if (integer_flag) {
            a.array_encoding = ArrayEncoding::integers;
            // s3db.js floors the items silently; we refuse what would not round-trip.
            auto item = std::make_shared<Attribute>(*a.items);
            item->rules.integer = true;
            a.items = std::move(item);
        } else if (length >= 256) {
            a.array_encoding = ArrayEncoding::embedding;
        } else {
            a.array_encoding = ArrayEncoding::decimals;
        }
    }
}

S3DB_DECL void Schema::apply_modifier(Attribute& a, const std::string& key, const nlohmann::json& value,
                                      const std::string& token, const SchemaOptions& options, bool shorthand) {
    using T = FieldType;
    auto need_bool = [&]() -> bool {
        if (!value.is_boolean()) throw SchemaError(a.path, token, "modifier '" + key + "' needs true or false");
        return value.get<bool>();
    };
    auto need_number = [&]() -> double {
        if (!value.is_number() || !std::isfinite(value.get<double>()))
            throw SchemaError(a.path, token, "modifier '" + key + "' needs a number");
        return value.get<double>();
    };
    auto need_count = [&]() -> double {
        double v = need_number();
        if (v < 0) throw SchemaError(a.path, token, "modifier '" + key + "' needs a count");
        return v;
    };
    auto need_string = [&]() -> std::string {
        if (value.is_string()) return value.get<std::string>();
        if (value.is_number() && shorthand) return token.substr(token.find(':') + 1);
        throw SchemaError(a.path, token, "modifier '" + key + "' needs text");
    };
    const bool stringy =
        a.type == T::string || a.type == T::secret || a.type == T::ip4 || a.type == T::ip6 || a.type == T::password;
    const bool numeric = a.type == T::number || a.type == T::money || a.type == T::decimal || a.type == T::geo_lat ||
                         a.type == T::geo_lon || a.type == T::secret_number;
    const bool listy = a.type == T::array || a.type == T::embedding;

    if (key == "optional") { a.optional = need_bool(); return; }
    if (key == "required") { need_bool(); return; }  // fields are required unless optional
    if (key == "nullable") { a.nullable = need_bool(); return; }
    if (key == "convert") { a.rules.convert = need_bool(); return; }
    if (key == "label" || key == "messages") return;
    if (key == "minlength") { a.rules.minlength = need_count(); return; }
    if (key == "maxlength") { a.rules.maxlength = need_count(); return; }
    if (stringy || listy || a.type == T::email) {
        if (key == "min") { a.rules.min = need_count(); return; }
        if (key == "max") { a.rules.max = need_count(); return; }
    }
    if (stringy || listy) {
        if (key == "length") { a.rules.length = need_count(); return; }
    }
    if (stringy || listy || a.type == T::email || a.type == T::url) {
        if (key == "empty") { a.rules.empty = need_bool(); return; }
    }
    if (stringy) {
        if (key == "trim") { a.rules.trim = need_bool(); return; }
        if (key == "trimLeft") { a.rules.trim_left = need_bool(); return; }
        if (key == "trimRight") { a.rules.trim_right = need_bool(); return; }
        if (key == "numeric") { a.rules.numeric = need_bool(); return; }
        if (key == "alpha") { a.rules.alpha = need_bool(); return; }
        if (key == "alphanum") { a.rules.alphanum = need_bool(); return; }
        if (key == "alphadash") { a.rules.alphadash = need_bool(); return; }
        if (key == "hex") { a.rules.hex = need_bool(); return; }
        if (key == "singleLine") { a.rules.single_line = need_bool(); return; }
        if (key == "base64") { a.rules.base64 = need_bool(); return; }
        if (key == "contains") { a.rules.contains = need_string(); return; }
        if (key == "pattern" || key == "patternFlags") {
            if (key == "pattern") a.rules.pattern = need_string();
            else a.rules.pattern_flags = need_string();
            // ECMAScript syntax, as JavaScript's RegExp; of the flags only 'i' changes a test
            if (a.rules.pattern_flags.find_first_not_of("gimsuy") != std::string::npos)
                throw SchemaError(a.path, token, "unknown pattern flag");
            if (a.rules.pattern) {
                try {
                    a.rules.pattern_regex =
                        std::make_shared<const detail::LinearRegex>(*a.rules.pattern, a.rules.pattern_flags);
                } catch (const detail::RegexError& e) {
                    throw SchemaError(a.path, token, std::string("invalid or unsupported pattern: ") + e.what());
                }
            }
            return;
        }
        if (key == "enum") {
            if (!value.is_array() || value.empty()) throw SchemaError(a.path, token, "enum needs a list of values");
            a.rules.allowed.assign(value.begin(), value.end());
            return;
        }
    }
    if (numeric) {
        if (key == "min") { a.rules.min = need_number(); return; }
        if (key == "max") { a.rules.max = need_number(); return; }
        if (key == "equal") { a.rules.equal = need_number(); return; }
        if (key == "notEqual") { a.rules.not_equal = need_number(); return; }
        if (key == "integer") { a.rules.integer = need_bool(); return; }
        if (key == "positive") { a.rules.positive = need_bool(); return; }
        if (key == "negative") { a.rules.negative = need_bool(); return; }
    }
    if (listy) {
        if (key == "unique") { a.rules.unique = need_bool(); return; }
        if (key == "integer") { need_bool(); return; }  // an encoding flag (see finish_array)
        if (key == "enum") {
            if (!value.is_array() || value.empty()) throw SchemaError(a.path, token, "enum needs a list of values");
            a.rules.allowed.assign(value.begin(), value.end());
            return;
        }
        if (key == "items" && a.type == T::array) {
            if (value.is_string()) {
                a.items = std::make_shared<const Attribute>(
                    parse_shorthand("", a.path + "[]", value.get<std::string>(), options));
            } else if (value.is_object() && value.contains("type") && value["type"].is_string() &&
                       is_validator_type(value["type"].get<std::string>())) {
                a.items = std::make_shared<const Attribute>(
                    parse_object_form("", a.path + "[]", nlohmann::ordered_json(value), options));
            } else {
                throw SchemaError(a.path, token, "items must be a type definition");
            }
            return;
        }
    }
    if (a.type == T::email) {
        if (key == "mode") {
            std::string m = need_string();
            if (m != "quick" && m != "precise") throw SchemaError(a.path, token, "mode is 'quick' or 'precise'");
            a.rules.email_precise = m == "precise";
            return;
        }
        if (key == "normalize") { a.rules.email_normalize = need_bool(); return; }
    }
    if (a.type == T::uuid && key == "version") {
        double v = need_number();
        if (v < 0 || v > 8 || v != std::floor(v)) throw SchemaError(a.path, token, "uuid version is 0 to 8");
        a.rules.uuid_version = static_cast<int>(v);
        return;
    }
    if (a.type == T::enumeration && key == "values") {
        if (!value.is_array() || value.empty()) throw SchemaError(a.path, token, "values needs a list");
        a.rules.allowed.assign(value.begin(), value.end());
        return;
    }
    if (options.strict) throw SchemaError(a.path, token, "unknown modifier '" + key + "' for this type");
}

}  // namespace s3db

#endif  // S3DB_DEFINE_BODIES
