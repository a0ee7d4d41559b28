#pragma once
// Partitions: secondary indexes kept as empty "reference" objects whose keys carry the indexed values,
//
//     resource=<name>/partition=<partition>/<field1>=<value1>/<field2>=<value2>/id=<id>
//
// so that listing a key prefix finds the ids with given values. Definitions are s3db.js's
// (`{byRegion: {fields: {region: "string", "utm.source": "string|maxlength:10"}}}`, or the array
// shorthand `["status"]`), and keys come out byte-identical to what s3db.js 21.x writes for the values
// it writes correctly: fields in `localeCompare` order, the same value rules, the same rendering of
// numbers, booleans and arrays.
//
// Where s3db.js breaks, we escape instead (defect §13.8: it joins values into the key unescaped, so a
// '/' adds key levels and "//" collapses, losing data). A value is written as it is except for:
//   - '/'                                   -> %2F
//   - C0 controls, DEL, U+FFFE, U+FFFF      -> %XX per UTF-8 byte (S3 listings cannot carry them)
//   - bytes that are not valid UTF-8        -> %XX (S3 keys are UTF-8)
//   - '%' followed by two hex digits        -> %25 (so that decoding is unambiguous)
// and decoding turns every %XX (two hex digits) back into its byte and leaves any other '%' alone.
// A '%' not followed by two hex digits ("50% off") is written as it is, so such values still match
// s3db.js byte for byte. The ordinary values we write differently are those holding '%' plus two hex
// digits ("%41" becomes "%2541"; s3db.js's key for it reads back here as "A"), and strings only V8's
// legacy date parser reads under a `date` rule (see `js_date_rule`).
//
// Unlike s3db.js this module never lists a partition to find stale refs on update (defect §13.2):
// `plan_update` compares the keys the old and the new record produce, so an update costs one DELETE
// and one PUT per partition whose key changed and nothing for the others. Everything here is pure
// computation: the resource does the requests.
//
// A `Partitions` object is immutable after `parse`; its const members are safe to call from many
// threads.

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "s3db/errors.hpp"
#include "s3db/detail/config.hpp"
#include "s3db/core/ids.hpp"
#include "s3db/core/schema.hpp"
#include "s3db/detail/base62.hpp"
#include "s3db/detail/encoding.hpp"
#include "s3db/transport/transport.hpp"

namespace s3db {

/// One indexed field of a partition.
struct PartitionField {
    std::string name;  // attribute path, dotted for nested attributes ("utm.source")
    std::string rule;  // as defined: "string|maxlength:10"; only `maxlength:N` and `date` act
    std::optional<std::size_t> max_length;  // `maxlength:N`: strings cut to N UTF-16 units, as JS counts
    bool date = false;  // the rule mentions `date`: ISO dates and date-times become YYYY-MM-DD (UTC)
    /// The field is a `date` attribute: s3db.js keys the value it reads back, the JSON text of the
    /// Date (quotes included: `d="2024-01-02` under a date rule), so the key holds that text.
    bool json_text = false;
};

struct Partition {
    std::string name;
    std::vector<PartitionField> fields;  // in key order (s3db.js's localeCompare order)
    nlohmann::ordered_json definition;   // `{"fields": {...}}` as defined, fields in definition order
};

/// One reference object: the partition it belongs to and its key.
struct PartitionRef {
    std::string partition;
    std::string key;
    friend bool operator==(const PartitionRef&, const PartitionRef&) = default;
};

/// What a reference key says: its partition, the (decoded) values in key order, and the record id.
struct ParsedRef {
    std::string partition;
    std::vector<std::pair<std::string, std::string>> values;
    std::string id;

    const std::string* value(std::string_view field) const noexcept {
        for (const auto& [name, v] : values)
            if (name == field) return &v;
        return nullptr;
    }
};

/// Where to list for a partition query. Fields are in a fixed order in the key, so only a leading run
/// of given values can be part of the prefix; values given after an omitted field are `filters` that
/// the caller applies to each listed key (`matches`). s3db.js instead skipped the omitted field and
/// built a prefix no key has.
struct PartitionPrefix {
    std::string partition;
    std::string key;  // ends with '/': "city=SP" does not also match "city=SPX"
    std::vector<std::pair<std::string, std::string>> filters;  // field -> value (after the rule, decoded)

    /// True when every given value is in `key`, so every listed ref matches.
    bool exact() const noexcept { return filters.empty(); }

    S3DB_DECL bool matches(const ParsedRef& ref) const;
};

/// The reference objects an update must delete and write.
struct PartitionUpdate {
    std::vector<PartitionRef> remove;
    std::vector<PartitionRef> put;
    bool empty() const noexcept { return remove.empty() && put.empty(); }
};

struct PartitionOptions {
    /// Every partition field must be an attribute of the schema (or start with '_', as s3db.js's
    /// `_v`). s3db.js's `strictValidation`; turn off for definitions read from a bucket.
    bool strict = true;
};

namespace detail {

/// Printable ASCII in the order `String.prototype.localeCompare` (ICU root collation, as Node ships
/// it) puts single characters: spaces and punctuation, symbols, digits, then letters with lowercase
/// before uppercase. Measured with Node 22 / ICU 78.
inline constexpr std::string_view js_collation_order =
    " _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$0123456789aAbBcCdDeEfFgGhHiIjJkKlLmMnNoOpPqQrRsStTuUvVwWxXyYzZ";

inline constexpr std::array<std::uint8_t, 128> js_primary_weights = [] {
    std::array<std::uint8_t, 128> w{};
    std::uint8_t next = 0;
    for (char c : js_collation_order) {
        auto u = static_cast<unsigned char>(c);
        // A letter and its capital differ only at the tertiary (case) level.
        w[u] = (c >= 'A' && c <= 'Z') ? w[u - 'A' + 'a'] : ++next;
    }
    return w;
}();

S3DB_DECL bool is_printable_ascii(std::string_view s) noexcept;

/// `a.localeCompare(b)` for printable-ASCII strings: first the primary weights of the whole strings
/// (a proper prefix sorts first), then case, left to right (lowercase first). "_a" < "a" < "A" <
/// "a_" < "a1" < "Aa" < "ab" < "aB" < "Ab". Distinct strings never compare equal.
S3DB_DECL int js_locale_compare(std::string_view a, std::string_view b) noexcept;

S3DB_DECL void append_percent(std::string& out, unsigned char c);

S3DB_DECL bool percent_escape_at(std::string_view s, std::size_t i) noexcept;

/// A partition value as it goes into a key (see the top of this file).
S3DB_DECL std::string escape_partition_value(std::string_view v);

/// The inverse of `escape_partition_value`: every %XX becomes its byte, any other '%' stays.
S3DB_DECL std::string unescape_partition_value(std::string_view v);

/// The longest prefix of `s` with at most `units` UTF-16 code units, never splitting a character
/// (JS's `substring` would split a surrogate pair, which then reaches S3 as U+FFFD). Bytes that are
/// not UTF-8 count one unit each.
S3DB_DECL std::string_view js_truncate(std::string_view s, std::size_t units) noexcept;

/// s3db.js's `date` rule on a string: text with both 'T' and 'Z' is cut at the first 'T' (without
/// parsing, as s3db.js does); anything else JavaScript's Date reads becomes its UTC date. Local-time
/// forms ("2024-01-02 10:00") are read as UTC — s3db.js reads them in the process's zone, so the two
/// agree on UTC machines — and forms only V8's legacy parser reads ("Jan 2 2024", "2024/01/02", a bare
/// "202" as a year) are left as they are.
S3DB_DECL std::string js_date_rule(std::string s);

/// The N of the first `maxlength:N` in a rule, as s3db.js's /maxlength:(\d+)/ finds it.
S3DB_DECL std::optional<std::size_t> rule_max_length(std::string_view rule) noexcept;

/// JavaScript's `String(value)` for JSON values (`${value}` in s3db.js's key template): numbers as JS
/// prints them, arrays joined with ',' (null items empty). False for objects, which JS renders as
/// "[object Object]" — a value no one means to index by.
S3DB_DECL bool append_js_string(std::string& out, const nlohmann::json& v);

/// The value at a dotted path, walking nested objects (and array indices), as s3db.js's
/// `getNestedFieldValue`; nullptr when absent.
S3DB_DECL const nlohmann::json* partition_field_value(const nlohmann::json& record, std::string_view path);

}  // namespace detail

/// A resource's partitions, parsed and checked once.
class Partitions {
public:
    Partitions() = default;

    /// Parses s3db.js partition definitions: an object `{name: {fields: {field: rule}}}` (partitions in
    /// JavaScript key order), an array of top-level attribute names (`["status"]` is
    /// `{byStatus: {fields: {status: <its type>}}}`), or null for none. Throws PartitionError naming
    /// the partition and field for a malformed definition, a name that would break keys, a field that
    /// is not an attribute (strict mode), or non-ASCII field names in a partition with several fields
    /// (their ICU order is not reproduced here).
    S3DB_DECL static Partitions parse(std::string resource, const nlohmann::ordered_json& definitions,
                                      const Schema& schema, PartitionOptions options = {});

    const std::string& resource() const noexcept { return resource_; }
    const std::vector<Partition>& partitions() const noexcept { return partitions_; }
    bool empty() const noexcept { return partitions_.empty(); }
    std::size_t size() const noexcept { return partitions_.size(); }

    const Partition* find(std::string_view name) const noexcept {
        for (const auto& p : partitions_)
            if (p.name == name) return &p;
        return nullptr;
    }

    /// The definitions as s3db.json stores them: `{name: {fields: {...}}}`, the array shorthand expanded.
    S3DB_DECL nlohmann::ordered_json definition() const;

    /// The reference key of `record` in one partition, nullopt when a field is null or missing (or the
    /// partition has no fields), as s3db.js writes no ref then. Throws PartitionError for an unknown
    /// partition, InvalidId for an id `validate_id` refuses, ValidationError when a field holds an
    /// object, and InvalidKey when the key would pass S3's 1024 bytes.
    S3DB_DECL std::optional<std::string> key(std::string_view partition, const nlohmann::json& record,
                                             std::string_view id) const;

    /// Every reference of a record, for insert and delete, in partition order. The id is the record's
    /// "id" member unless given.
    std::vector<PartitionRef> refs(const nlohmann::json& record) const { return refs(record, record_id(record)); }

    S3DB_DECL std::vector<PartitionRef> refs(const nlohmann::json& record, std::string_view id) const;

    /// The refs to delete and to write when `old_record` becomes `new_record`: for each partition whose
    /// key changed, the old ref (if the old record had one) and the new (if the new record has one).
    /// Unchanged partitions cost nothing. The old record's keys are computed leniently: a key it cannot
    /// have (an object value, too long) was never written, so there is nothing to remove.
    S3DB_DECL PartitionUpdate plan_update(const nlohmann::json& old_record, const nlohmann::json& new_record) const;

    S3DB_DECL PartitionUpdate plan_update(const nlohmann::json& old_record, const nlohmann::json& new_record,
                                          std::string_view id) const;

    /// The listing prefix for `values` (field -> value; null or absent fields are omitted), with the
    /// same rules applied as when writing. Throws PartitionError for an unknown partition or field.
    S3DB_DECL PartitionPrefix prefix(std::string_view partition,
                                     const nlohmann::json& values = nlohmann::json::object()) const;

    /// Reads a reference key of this resource: partition, decoded values, id. Nullopt when the key is
    /// not a ref of one of these partitions (another resource, a removed partition, other fields).
    /// Keys s3db.js wrote for values containing '/' are read back with the '/' (a "//" it collapsed
    /// stays collapsed).
    S3DB_DECL std::optional<ParsedRef> parse_ref(std::string_view key) const;

private:
    std::string resource_;
    std::vector<Partition> partitions_;

    [[noreturn]] void fail(const std::string& partition, const std::string& field, const std::string& why) const {
        throw PartitionError(resource_, partition, field, why);
    }

    S3DB_DECL const Partition& require(std::string_view name) const;

    S3DB_DECL std::string record_id(const nlohmann::json& record) const;

    /// Partition and field names go into keys verbatim: s3db.js refuses '/', '\', '=' and '%' in them;
    /// we also refuse what S3 listings cannot carry.
    S3DB_DECL void check_name(const std::string& name, const std::string& partition, const char* what) const;

    S3DB_DECL nlohmann::ordered_json expand_shorthand(const nlohmann::ordered_json& names, const Schema& schema) const;

    S3DB_DECL static std::string attribute_list(const Schema& schema);

    S3DB_DECL static std::string field_list(const Partition& p);

    /// s3db.js's `applyRule` followed by `${value}`: the value's text before escaping; nullopt for an
    /// object.
    S3DB_DECL static std::optional<std::string> apply_rule(const PartitionField& f, const nlohmann::json& v);

    S3DB_DECL std::optional<std::string> build_key(const Partition& p, const nlohmann::json& record,
                                                   std::string_view id, bool lenient) const;
};

#if S3DB_DEFINE_BODIES
S3DB_DECL bool PartitionPrefix::matches(const ParsedRef& ref) const {
    if (ref.partition != partition) return false;
    for (const auto& [field, v] : filters) {
        const std::string* got = ref.value(field);
        if (!got || *got != v) return false;
    }
    return true;
}

S3DB_DECL bool detail::is_printable_ascii(std::string_view s) noexcept {
    return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7F; });
}

S3DB_DECL int detail::js_locale_compare(std::string_view a, std::string_view b) noexcept {
    const std::size_t n = std::min(a.size(), b.size());
    for (std::size_t i = 0; i < n; ++i) {
        const auto pa = js_primary_weights[static_cast<unsigned char>(a[i]) & 0x7F];
        const auto pb = js_primary_weights[static_cast<unsigned char>(b[i]) & 0x7F];
        if (pa != pb) return pa < pb ? -1 : 1;
    }
    if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
    for (std::size_t i = 0; i < n; ++i) {
        const bool ua = a[i] >= 'A' && a[i] <= 'Z', ub = b[i] >= 'A' && b[i] <= 'Z';
        if (ua != ub) return ua ? 1 : -1;
    }
    return 0;
}

S3DB_DECL void detail::append_percent(std::string& out, unsigned char c) {
    static constexpr char hex[] = "0123456789ABCDEF";
    out += '%';
    out += hex[c >> 4];
    out += hex[c & 15];
}

S3DB_DECL bool detail::percent_escape_at(std::string_view s, std::size_t i) noexcept {
    return s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0;
}

S3DB_DECL std::string detail::escape_partition_value(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (std::size_t i = 0; i < v.size();) {
        char32_t cp = 0;
        const std::size_t n = utf8_sequence(v, i, &cp);
        if (n == 0) {
            append_percent(out, static_cast<unsigned char>(v[i++]));
            continue;
        }
        if (cp == '/' || key_hostile(cp) || percent_escape_at(v, i)) {
            for (std::size_t k = 0; k < n; ++k) append_percent(out, static_cast<unsigned char>(v[i + k]));
        } else {
            out.append(v.substr(i, n));
        }
        i += n;
    }
    return out;
}

S3DB_DECL std::string detail::unescape_partition_value(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (std::size_t i = 0; i < v.size();) {
        if (percent_escape_at(v, i)) {
            out += static_cast<char>(hex_value(v[i + 1]) * 16 + hex_value(v[i + 2]));
            i += 3;
        } else {
            out += v[i++];
        }
    }
    return out;
}

S3DB_DECL std::string_view detail::js_truncate(std::string_view s, std::size_t units) noexcept {
    std::size_t used = 0, i = 0;
    while (i < s.size()) {
        std::size_t n = utf8_sequence(s, i);
        const std::size_t u = n == 4 ? 2 : 1;
        if (n == 0) n = 1;
        if (used + u > units) break;
        used += u;
        i += n;
    }
    return s.substr(0, i);
}

S3DB_DECL std::string detail::js_date_rule(std::string s) {
    if (s.find('T') != std::string::npos && s.find('Z') != std::string::npos) return s.substr(0, s.find('T'));
    if (auto ms = parse_js_date(s)) {
        std::string iso = iso_string(*ms);
        return iso.substr(0, iso.find('T'));
    }
    return s;
}

S3DB_DECL std::optional<std::size_t> detail::rule_max_length(std::string_view rule) noexcept {
    for (std::size_t at = rule.find("maxlength:"); at != std::string_view::npos; at = rule.find("maxlength:", at + 1)) {
        std::size_t i = at + 10, v = 0;
        const std::size_t start = i;
        for (; i < rule.size() && rule[i] >= '0' && rule[i] <= '9'; ++i)
            v = v > (std::numeric_limits<std::size_t>::max() - 9) / 10 ? std::numeric_limits<std::size_t>::max()
                                                                       : v * 10 + static_cast<std::size_t>(rule[i] - '0');
        if (i > start) return v;
    }
    return std::nullopt;
}

S3DB_DECL bool detail::append_js_string(std::string& out, const nlohmann::json& v) {
    using T = nlohmann::json::value_t;
    switch (v.type()) {
        case T::null: return true;
        case T::boolean: out += v.get<bool>() ? "true" : "false"; return true;
        case T::number_integer: append_js_integer(out, v.get<std::int64_t>()); return true;
        case T::number_unsigned: {
            const auto u = v.get<std::uint64_t>();
            if (u < 9007199254740992ULL) out += std::to_string(u);
            else append_js_number(out, static_cast<double>(u));
            return true;
        }
        case T::number_float: append_js_number(out, v.get<double>()); return true;
        case T::string: out += v.get_ref<const std::string&>(); return true;
        case T::array: {
            bool first = true;
            for (const auto& item : v) {
                if (!first) out += ',';
                first = false;
                if (!append_js_string(out, item)) return false;
            }
            return true;
        }
        default: return false;
    }
}

S3DB_DECL const nlohmann::json* detail::partition_field_value(const nlohmann::json& record, std::string_view path) {
    const nlohmann::json* at = &record;
    while (true) {
        const auto dot = path.find('.');
        const std::string part(path.substr(0, dot));
        if (at->is_object()) {
            auto it = at->find(part);
            if (it == at->end()) return nullptr;
            at = &*it;
        } else if (at->is_array() && !part.empty() && part.size() < 10 && (part == "0" || part[0] != '0') &&
                   std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            const std::size_t index = std::stoul(part);
            if (index >= at->size()) return nullptr;
            at = &(*at)[index];
        } else {
            return nullptr;
        }
        if (dot == std::string_view::npos) return at;
        path.remove_prefix(dot + 1);
    }
}

S3DB_DECL Partitions Partitions::parse(std::string resource, const nlohmann::ordered_json& definitions,
                                       const Schema& schema, PartitionOptions options) {
    Partitions out;
    out.resource_ = std::move(resource);
    if (definitions.is_null()) return out;
    if (definitions.is_array()) return parse(out.resource_, out.expand_shorthand(definitions, schema), schema, options);
    if (!definitions.is_object()) out.fail("", "", "partitions must be an object or an array of field names");

    for (const auto& name : detail::js_keys(definitions)) {
        out.check_name(name, "", "partition name");
        const auto& def = definitions[name];
        if (!def.is_object()) out.fail(name, "", "the definition must be an object with 'fields'");
        auto fields_it = def.find("fields");
        if (fields_it == def.end() || !fields_it->is_object())
            out.fail(name, "", "the definition needs a 'fields' object");
        Partition p{name, {}, def};
        for (const auto& field : detail::js_keys(*fields_it)) {
            out.check_name(field, name, "field name");
            const auto& rule = (*fields_it)[field];
            if (!rule.is_string()) out.fail(name, field, "the rule must be a string such as \"string\"");
            if (options.strict && !field.starts_with("_") && !schema.find(field))
                out.fail(name, field, "not an attribute of the resource (attributes: " + attribute_list(schema) + ")");
            const auto& text = rule.get_ref<const std::string&>();
            const Attribute* attr = schema.find(field);
            p.fields.push_back({field, text, detail::rule_max_length(text), text.find("date") != std::string::npos,
                                attr && attr->type == FieldType::date});
        }
        if (p.fields.size() > 1) {
            for (const auto& f : p.fields)
                if (!detail::is_printable_ascii(f.name))
                    out.fail(name, f.name,
                             "non-ASCII field names cannot be put in s3db.js's key order (ICU collation) when a "
                             "partition has several fields; use ASCII names");
            std::stable_sort(p.fields.begin(), p.fields.end(), [](const auto& a, const auto& b) {
                return detail::js_locale_compare(a.name, b.name) < 0;
            });
        }
        out.partitions_.push_back(std::move(p));
    }
    return out;
}

S3DB_DECL nlohmann::ordered_json Partitions::definition() const {
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    for (const auto& p : partitions_) out[p.name] = p.definition;
    return out;
}

S3DB_DECL std::optional<std::string> Partitions::key(std::string_view partition, const nlohmann::json& record,
                                                     std::string_view id) const {
    validate_id(resource_, id);
    return build_key(require(partition), record, id, false);
}

S3DB_DECL std::vector<PartitionRef> Partitions::refs(const nlohmann::json& record, std::string_view id) const {
    validate_id(resource_, id);
    std::vector<PartitionRef> out;
    for (const auto& p : partitions_)
        if (auto k = build_key(p, record, id, false)) out.push_back({p.name, std::move(*k)});
    return out;
}

S3DB_DECL PartitionUpdate Partitions::plan_update(const nlohmann::json& old_record,
                                                  const nlohmann::json& new_record) const {
    const bool new_has_id = new_record.is_object() && new_record.contains("id") && new_record["id"].is_string();
    return plan_update(old_record, new_record, record_id(new_has_id ? new_record : old_record));
}

S3DB_DECL PartitionUpdate Partitions::plan_update(const nlohmann::json& old_record, const nlohmann::json& new_record,
                                                  std::string_view id) const {
    validate_id(resource_, id);
    PartitionUpdate plan;
    for (const auto& p : partitions_) {
        auto before = build_key(p, old_record, id, true);
        auto after = build_key(p, new_record, id, false);
        if (before == after) continue;
        if (before) plan.remove.push_back({p.name, std::move(*before)});
        if (after) plan.put.push_back({p.name, std::move(*after)});
    }
    return plan;
}

S3DB_DECL PartitionPrefix Partitions::prefix(std::string_view partition, const nlohmann::json& values) const {
    const Partition& p = require(partition);
    if (!values.is_object() && !values.is_null())
        fail(p.name, "", "partition values must be a JSON object of field -> value");
    if (values.is_object())
        for (auto it = values.begin(); it != values.end(); ++it)
            if (std::none_of(p.fields.begin(), p.fields.end(), [&](const auto& f) { return f.name == it.key(); }))
                fail(p.name, it.key(), "not a field of this partition (fields: " + field_list(p) + ")");
    PartitionPrefix out{p.name, "resource=" + resource_ + "/partition=" + p.name + "/", {}};
    bool gap = false;
    for (const auto& f : p.fields) {
        auto it = values.is_object() ? values.find(f.name) : values.end();
        if (it == values.end() || it->is_null()) {
            gap = true;
            continue;
        }
        auto v = apply_rule(f, *it);
        if (!v) fail(p.name, f.name, "a partition value cannot be an object");
        if (gap) {
            out.filters.emplace_back(f.name, std::move(*v));
        } else {
            out.key.append(f.name).append("=").append(detail::escape_partition_value(*v)).append("/");
        }
    }
    return out;
}

S3DB_DECL std::optional<ParsedRef> Partitions::parse_ref(std::string_view key) const {
    const std::string head = "resource=" + resource_ + "/partition=";
    if (!key.starts_with(head)) return std::nullopt;
    key.remove_prefix(head.size());
    const auto slash = key.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    const Partition* p = find(key.substr(0, slash));
    if (!p || p->fields.empty()) return std::nullopt;
    key.remove_prefix(slash + 1);

    const auto last = key.rfind('/');
    if (last == std::string_view::npos || !key.substr(last + 1).starts_with("id=")) return std::nullopt;
    ParsedRef out{p->name, {}, std::string(key.substr(last + 4))};
    if (out.id.empty()) return std::nullopt;
    std::vector<std::string_view> segments;
    for (std::string_view middle = key.substr(0, last);;) {
        const auto s = middle.find('/');
        segments.push_back(middle.substr(0, s));
        if (s == std::string_view::npos) break;
        middle.remove_prefix(s + 1);
    }
    std::size_t i = 0;
    for (std::size_t j = 0; j < p->fields.size(); ++j) {
        const std::string label = p->fields[j].name + "=";
        if (i >= segments.size() || !segments[i].starts_with(label)) return std::nullopt;
        std::string raw(segments[i++].substr(label.size()));
        // Segments up to the next field's "name=" belong to this value (an s3db.js value with '/').
        const std::string next = j + 1 < p->fields.size() ? p->fields[j + 1].name + "=" : std::string{};
        while (i < segments.size() && (next.empty() || !segments[i].starts_with(next)))
            raw.append("/").append(segments[i++]);
        out.values.emplace_back(p->fields[j].name, detail::unescape_partition_value(raw));
    }
    return out;
}

S3DB_DECL const Partition& Partitions::require(std::string_view name) const {
    if (const Partition* p = find(name)) return *p;
    std::string known;
    for (const auto& p : partitions_) known += (known.empty() ? "" : ", ") + p.name;
    fail(std::string(name), "", "no such partition (partitions: " + (known.empty() ? "none" : known) + ")");
}

S3DB_DECL std::string Partitions::record_id(const nlohmann::json& record) const {
    if (record.is_object()) {
        auto it = record.find("id");
        if (it != record.end() && it->is_string()) return it->get<std::string>();
    }
    throw InvalidId(resource_, "", "the record has no string 'id'");
}

S3DB_DECL void Partitions::check_name(const std::string& name, const std::string& partition, const char* what) const {
    const std::string& p = partition.empty() ? name : partition;
    const std::string f = partition.empty() ? std::string{} : name;
    if (name.empty()) fail(p, f, std::string(what) + " is empty");
    for (std::size_t i = 0; i < name.size();) {
        char32_t cp = 0;
        const std::size_t n = detail::utf8_sequence(name, i, &cp);
        if (n == 0) fail(p, f, std::string(what) + " is not valid UTF-8");
        if (cp == '/' || cp == '\\' || cp == '=' || cp == '%')
            fail(p, f, std::string(what) + " contains '" + static_cast<char>(cp) + "' (not allowed: / \\ = %)");
        if (detail::key_hostile(cp)) fail(p, f, std::string(what) + " contains " + detail::code_point_name(cp));
        i += n;
    }
}

S3DB_DECL nlohmann::ordered_json Partitions::expand_shorthand(const nlohmann::ordered_json& names,
                                                             const Schema& schema) const {
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    for (const auto& item : names) {
        if (!item.is_string()) fail("", "", "partition shorthand items must be field names (strings)");
        const auto& field = item.get_ref<const std::string&>();
        // s3db.js looks the name up among top-level attributes only, strict or not.
        const auto& attrs = schema.definition();
        auto def = attrs.is_object() ? attrs.find(field) : attrs.end();
        if (field.empty() || def == attrs.end())
            fail("", field, "partition shorthand names a field that is not a top-level attribute");
        const auto first = static_cast<unsigned char>(field[0]);
        if (first >= 0x80)
            fail("", field, "the shorthand names partitions by<Field> with JavaScript's Unicode upper-casing, "
                            "which is not reproduced for non-ASCII names; use the object form");
        std::string name = "by" + field;
        if (first >= 'a' && first <= 'z') name[2] = static_cast<char>(first - 'a' + 'A');
        std::string type = "string";
        if (def->is_string()) {
            auto text = std::string_view(def->get_ref<const std::string&>());
            text = text.substr(0, text.find('|'));
            type = std::string(detail::js_trim(text, true, true));
        } else if (def->is_object() && def->contains("type") && (*def)["type"].is_string()) {
            type = (*def)["type"].get<std::string>();
        }
        out[name] = {{"fields", {{field, type}}}};
    }
    return out;
}

S3DB_DECL std::string Partitions::attribute_list(const Schema& schema) {
    std::string out;
    for (const auto& a : schema.attributes()) out += (out.empty() ? "" : ", ") + a.path;
    return out.empty() ? "none" : out;
}

S3DB_DECL std::string Partitions::field_list(const Partition& p) {
    std::string out;
    for (const auto& f : p.fields) out += (out.empty() ? "" : ", ") + f.name;
    return out.empty() ? "none" : out;
}

S3DB_DECL std::optional<std::string> Partitions::apply_rule(const PartitionField& f, const nlohmann::json& v) {
    if (v.is_string()) {
        std::string s = f.json_text ? "\"" + v.get<std::string>() + "\"" : v.get<std::string>();  // an ISO text: nothing to escape
        if (f.max_length) s = std::string(detail::js_truncate(s, *f.max_length));
        if (f.date) s = detail::js_date_rule(std::move(s));
        return s;
    }
    std::string out;
    if (!detail::append_js_string(out, v)) return std::nullopt;
    return out;
}

S3DB_DECL std::optional<std::string> Partitions::build_key(const Partition& p, const nlohmann::json& record,
                                                           std::string_view id, bool lenient) const {
    if (p.fields.empty()) return std::nullopt;
    std::string key = "resource=" + resource_ + "/partition=" + p.name;
    for (const auto& f : p.fields) {
        const nlohmann::json* v = detail::partition_field_value(record, f.name);
        if (!v || v->is_null()) return std::nullopt;
        auto text = apply_rule(f, *v);
        if (!text) {
            if (lenient) return std::nullopt;
            throw ValidationError(
                {{f.name, "partition", detail::render_value(*v, false), "",
                  "The '" + f.name + "' field is an object; partition '" + p.name +
                      "' needs a string, number, boolean or array."}},
                "resource '" + resource_ + "'");
        }
        key.append("/").append(f.name).append("=").append(detail::escape_partition_value(*text));
    }
    key.append("/id=").append(id);
    if (key.size() > max_key_bytes) {
        if (lenient) return std::nullopt;
        throw InvalidKey(key, "the reference of partition '" + p.name + "' would be " + std::to_string(key.size()) +
                                  " bytes, over S3's limit of " + std::to_string(max_key_bytes));
    }
    return key;
}
#endif  // S3DB_DEFINE_BODIES

}  // namespace s3db
