#pragma once
// Record validation with fastest-validator's semantics (which s3db.js uses): the bodies of
// Schema::check and Schema::validate and of the private helpers class Schema declares for them
// (schema.hpp, whose bodies include this file), and detail::nesting_failure, which Resource reports
// too. The parser is in schema.hpp.

#include "s3db/core/schema.hpp"
#include "s3db/detail/config.hpp"

#if S3DB_DEFINE_BODIES

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "s3db/detail/base62.hpp"
#include "s3db/detail/encoding.hpp"
#include "s3db/detail/js_formats.hpp"
#include "s3db/detail/js_text.hpp"
#include "s3db/detail/js_types.hpp"
#include "s3db/detail/time.hpp"

namespace s3db {

S3DB_DECL std::optional<ValidationError::Failure> detail::nesting_failure(const nlohmann::json& v) {
    auto where = too_deep(v);
    if (!where) return std::nullopt;
    const std::string field = where->empty() ? std::string("record") : *where;
    return ValidationError::Failure{*where, "nestingDepth", "", std::to_string(max_nesting_depth),
                                    "The '" + field + "' field nests objects and arrays deeper than " +
                                        std::to_string(max_nesting_depth) + " levels."};
}

S3DB_DECL std::vector<Schema::Failure> Schema::check(nlohmann::json& record) const {
    std::vector<Failure> failures;
    // First: everything below (and every later step of a write) recurses over the value.
    if (auto failure = detail::nesting_failure(record)) {
        failures.push_back(std::move(*failure));
        return failures;
    }
    if (!record.is_object()) {
        failures.push_back(make_failure("", "object", detail::render_value(record, false), "",
                                        "The record must be a JSON object."));
        return failures;
    }
    // Text is Unicode in JSON and in S3 metadata; bytes that are not UTF-8 would be stored as
    // something else, or make a later dump throw.
    if (auto where = detail::invalid_utf8_at(record)) {
        failures.push_back(make_failure(*where, "utf8", "", "", "The '" + *where + "' field holds text that is not UTF-8."));
        return failures;
    }
    check_object_fields(attributes_, record, failures);
    return failures;
}

S3DB_DECL nlohmann::json Schema::validate(nlohmann::json record, const std::string& context) const {
    auto failures = check(record);
    if (!failures.empty()) throw ValidationError(std::move(failures), context);
    return record;
}

S3DB_DECL std::string Schema::FieldRef::str() const {
    std::string s = parent ? parent->str() : path;
    if (index != static_cast<std::size_t>(-1)) s += "[" + std::to_string(index) + "]";
    return s;
}

S3DB_DECL std::string Schema::message(std::string_view rule, const std::string& field, const std::string& expected) {
    const std::string f = "The '" + field + "' field";
    if (rule == "required") return f + " is required.";
    if (rule == "string") return f + " must be a string.";
    if (rule == "stringEmpty") return f + " must not be empty.";
    if (rule == "stringMin") return f + " length must be greater than or equal to " + expected + " characters long.";
    if (rule == "stringMax") return f + " length must be less than or equal to " + expected + " characters long.";
    if (rule == "stringLength") return f + " length must be " + expected + " characters long.";
    if (rule == "stringPattern") return f + " fails to match the required pattern.";
    if (rule == "stringContains") return f + " must contain the '" + expected + "' text.";
    if (rule == "stringEnum") return f + " does not match any of the allowed values.";
    if (rule == "stringNumeric") return f + " must be a numeric string.";
    if (rule == "stringAlpha") return f + " must be an alphabetic string.";
    if (rule == "stringAlphanum") return f + " must be an alphanumeric string.";
    if (rule == "stringAlphadash") return f + " must be an alphadash string.";
    if (rule == "stringHex") return f + " must be a hex string.";
    if (rule == "stringSingleLine") return f + " must be a single line string.";
    if (rule == "stringBase64") return f + " must be a base64 string.";
    if (rule == "number") return f + " must be a number.";
    if (rule == "numberMin") return f + " must be greater than or equal to " + expected + ".";
    if (rule == "numberMax") return f + " must be less than or equal to " + expected + ".";
    if (rule == "numberEqual") return f + " must be equal to " + expected + ".";
    if (rule == "numberNotEqual") return f + " can't be equal to " + expected + ".";
    if (rule == "numberInteger") return f + " must be an integer.";
    if (rule == "numberPositive") return f + " must be a positive number.";
    if (rule == "numberNegative") return f + " must be a negative number.";
    if (rule == "boolean") return f + " must be a boolean.";
    if (rule == "array") return f + " must be an array.";
    if (rule == "arrayEmpty") return f + " must not be an empty array.";
    if (rule == "arrayMin") return f + " must contain at least " + expected + " items.";
    if (rule == "arrayMax") return f + " must contain less than or equal to " + expected + " items.";
    if (rule == "arrayLength") return f + " must contain " + expected + " items.";
    if (rule == "arrayUnique") return f + " must contain unique items.";
    if (rule == "arrayEnum") return f + " items do not match any of the allowed values.";
    if (rule == "object") return f + " must be an Object.";
    if (rule == "email") return f + " must be a valid e-mail.";
    if (rule == "emailEmpty") return f + " must not be empty.";
    if (rule == "emailMin") return f + " length must be greater than or equal to " + expected + " characters long.";
    if (rule == "emailMax") return f + " length must be less than or equal to " + expected + " characters long.";
    if (rule == "url") return f + " must be a valid URL.";
    if (rule == "urlEmpty") return f + " must not be empty.";
    if (rule == "uuid") return f + " must be a valid UUID.";
    if (rule == "uuidVersion") return f + " must be a valid UUID version provided.";
    if (rule == "enumValue") return f + " value does not match any of the allowed values.";
    if (rule == "datetime") return f + " must be a valid datetime.";
    if (rule == "date") return f + " must be a valid date.";
    if (rule == "ip4") return f + " must be a valid IPv4 address.";
    if (rule == "ip6") return f + " must be a valid IPv6 address.";
    if (rule == "passwordHashingProblem") return f + " could not be hashed: " + expected + ".";
    // s3db.js's own types (its validator aliases' messages)
    if (rule == "timeonly") return f + " must be a valid time (HH:mm, HH:mm:ss, or HH:mm:ss.SSS).";
    if (rule == "mac") return f + " must be a valid MAC address (e.g., AA:BB:CC:DD:EE:FF).";
    if (rule == "cidr") return f + " must be a valid CIDR notation (e.g., 192.168.1.0/24).";
    if (rule == "semver") return f + " must be a valid semantic version (e.g., 1.2.3), minor and patch below 1000.";
    if (rule == "phone") return f + " must be a valid phone number in E.164 format (e.g., +5511999999999).";
    if (rule == "color") return f + " must be a valid hex color (e.g., #FF5733 or #F57).";
    if (rule == "duration") return f + " must be a valid duration (e.g., PT1H30M, 1h30m, 90m).";
    if (rule == "cron") return f + " must be a valid 5-field cron expression (e.g., 0 */5 * * *).";
    if (rule == "locale") return f + " must be a valid locale (e.g., pt-BR, en-US, or just en).";
    if (rule == "currency") return f + " must be a valid 3-letter currency code (e.g., USD, BRL, EUR).";
    if (rule == "country") return f + " must be a valid 2-letter country code (e.g., BR, US, DE).";
    if (rule == "ean") return f + " must be a valid barcode (EAN-8, UPC-A 12, EAN-13, or GTIN-14 digits).";
    if (rule == "buffer") return f + " must be bytes: {\"type\": \"Buffer\", \"data\": [...]}, an array of bytes or base64 text.";
    if (rule == "bits") return f + " must hold " + expected + " bytes.";
    if (rule == "geoPoint") return f + " must be a point: [lat, lon], {lat, lon} or {latitude, longitude}, in range.";
    if (rule == "secretAny") return f + " must be a string, a number or a boolean.";
    return f + " is invalid (" + std::string(rule) + ").";
}

S3DB_DECL void Schema::Reporter::operator()(const char* rule, std::string expected) const {
    std::string field = ref.str();
    // fastest-validator's `date` (the Date type) shares its rule name with s3db.js's dateonly; s3db.js's
    // timeonly and duration word a value that is not text (a negative number) apart
    std::string msg = attr.type == FieldType::date ? "The '" + field + "' field must be a Date."
                      : attr.type == FieldType::timeonly && !shown->is_string() ? "The '" + field + "' field must be a valid time."
                      : attr.type == FieldType::duration && shown->is_number()
                          ? "The '" + field + "' field must be a non-negative duration."
                          : message(rule, field, expected);
    out.push_back(make_failure(std::move(field), rule, detail::render_value(*shown, is_secret_type(attr.type) || attr.type == FieldType::password),
                               std::move(expected), std::move(msg)));
}

S3DB_DECL void Schema::check_object_fields(const std::vector<Attribute>& attrs, nlohmann::json& object,
                                           std::vector<Failure>& failures) {
    for (const auto& attr : attrs) {
        auto it = object.find(attr.name);
        if (it == object.end()) {
            if (attr.default_value) {
                object[attr.name] = *attr.default_value;
            } else if (!attr.optional) {
                failures.push_back(make_failure(attr.path, "required", "", "", message("required", attr.path, "")));
            }
            continue;
        }
        FieldRef ref{attr.path};
        check_present(attr, *it, ref, failures);
    }
}

S3DB_DECL void Schema::check_present(const Attribute& attr, nlohmann::json& value, const FieldRef& ref,
                                     std::vector<Failure>& failures) {
    if (value.is_null()) {
        if (attr.default_value && !attr.nullable) {
            value = *attr.default_value;
        } else if (!attr.optional && !attr.nullable) {
            std::string field = ref.str();
            std::string msg = message("required", field, "");
            failures.push_back(make_failure(std::move(field), "required", "null", "", std::move(msg)));
        }
        return;
    }
    check_value(attr, value, ref, failures);
}

S3DB_DECL void Schema::check_value(const Attribute& attr, nlohmann::json& value, const FieldRef& ref,
                                   std::vector<Failure>& failures) {
    using T = FieldType;
    // types whose check rewrites the value report what the caller sent
    const nlohmann::json original = needs_original(attr) ? value : nlohmann::json();
    Reporter fail{failures, attr, ref, needs_original(attr) ? &original : &value};
    switch (attr.type) {
        case T::string: case T::secret: case T::ip4: case T::ip6: check_string(attr, value, fail); break;
        case T::password: {
            // s3db.js checks the plaintext as a string, then hashes it; a hash (a stored record
            // validated again on update) is kept as it is.
            const std::size_t before = failures.size();
            check_string(attr, value, fail);
            if (failures.size() != before || !value.is_string()) break;
            const auto& s = value.get_ref<const std::string&>();
            if (is_password_hash(s)) break;
            try {
                value = compact_password_hash(hash_password(s, *attr.password));
            } catch (const PasswordError& e) {
                fail("passwordHashingProblem", e.what());
            }
            break;
        }
        case T::number: case T::money: case T::decimal: check_number(attr, value, fail); break;
        case T::boolean: check_boolean(attr, value, fail); break;
        case T::any: break;
        case T::json:
            if (attr.rules.object_only && !value.is_object()) fail("object");
            break;
        case T::email: check_email(attr, value, fail); break;
        case T::url:
            if (!value.is_string()) return fail("string");
            if (value.get_ref<const std::string&>().empty()) {
                if (!attr.rules.empty.value_or(false)) fail("urlEmpty");
                return;
            }
            if (!url_like(value.get_ref<const std::string&>())) fail("url");
            break;
        case T::uuid:
            if (!value.is_string()) return fail("string");
            if (const char* rule = detail::uuid_failure(value.get_ref<const std::string&>(), attr.rules.uuid_version))
                fail(rule, rule == std::string_view("uuidVersion") ? std::to_string(*attr.rules.uuid_version) : "");
            break;
        case T::enumeration:
            if (std::find(attr.rules.allowed.begin(), attr.rules.allowed.end(), value) == attr.rules.allowed.end() ||
                value.is_object() || value.is_array())
                fail("enumValue", join_allowed(attr.rules.allowed));
            break;
        case T::array: case T::embedding: check_array(attr, value, ref, failures, fail); break;
        case T::object:
            if (!value.is_object()) return fail("object");
            check_object_fields(attr.children, value, failures);
            break;
        case T::datetime: case T::dateonly: check_date(attr, value, fail); break;
        case T::date: case T::timeonly: case T::mac: case T::cidr: case T::semver: case T::phone: case T::color:
        case T::duration: case T::cron: case T::locale: case T::currency: case T::country: case T::ean:
        case T::buffer: case T::bits: case T::geo_lat: case T::geo_lon: case T::geo_point: case T::secret_any:
        case T::secret_number:
            check_js_type(attr, value, fail);
            break;
    }
}

S3DB_DECL std::string Schema::join_allowed(const std::vector<nlohmann::json>& allowed) {
    std::string out;
    for (const auto& v : allowed) {
        if (!out.empty()) out += ", ";
        out += v.is_string() ? v.get<std::string>() : v.dump();
    }
    return out;
}

S3DB_DECL void Schema::check_string(const Attribute& attr, nlohmann::json& value, const Reporter& fail) {
    const Rules& r = attr.rules;
    if (!value.is_string()) {
        if (r.convert && (value.is_number() || value.is_boolean())) {
            std::string s;
            if (value.is_boolean()) s = value.get<bool>() ? "true" : "false";
            else if (value.is_number_float()) s = detail::js_number(value.get<double>());
            else if (value.is_number_unsigned()) s = std::to_string(value.get<std::uint64_t>());
            else detail::append_js_integer(s, value.get<std::int64_t>());
            value = std::move(s);
        } else {
            return fail("string");
        }
    }
    auto& s = value.get_ref<std::string&>();
    if (r.trim || r.trim_left || r.trim_right) {
        std::string_view t = detail::js_trim(s, r.trim || r.trim_left, r.trim || r.trim_right);
        if (t.size() != s.size()) s = std::string(t);
    }
    if (r.empty || r.min || r.max || r.length) {  // a walk over the text, so only when a rule reads it
        const std::size_t len = detail::utf16_length(s);
        if (r.empty && !*r.empty && len == 0) fail("stringEmpty");
        else if (r.empty && *r.empty && len == 0) return;
        if (r.min && static_cast<double>(len) < *r.min) fail("stringMin", fmt_number(*r.min));
        if (r.max && static_cast<double>(len) > *r.max) fail("stringMax", fmt_number(*r.max));
        if (r.length && static_cast<double>(len) != *r.length) fail("stringLength", fmt_number(*r.length));
    }
    if (r.pattern_regex && !r.pattern_regex->search(s)) fail("stringPattern", *r.pattern);
    if (r.contains && s.find(*r.contains) == std::string::npos) fail("stringContains", *r.contains);
    if (!r.allowed.empty() && std::find(r.allowed.begin(), r.allowed.end(), value) == r.allowed.end())
        fail("stringEnum", join_allowed(r.allowed));
    auto all = [&](auto pred) { return !s.empty() && std::all_of(s.begin(), s.end(), pred); };
    auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
    if (r.numeric && !is_numeric_string(s)) fail("stringNumeric");
    if (r.alpha && !all([](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); })) fail("stringAlpha");
    if (r.alphanum && !all(alnum)) fail("stringAlphanum");
    if (r.alphadash && !all([&](char c) { return alnum(c) || c == '_' || c == '-'; })) fail("stringAlphadash");
    if (r.hex && (s.size() % 2 != 0 || !all([](char c) { return detail::hex_value(c) >= 0; }))) fail("stringHex");
    if (r.single_line && s.find('\n') != std::string::npos) fail("stringSingleLine");
    if (r.base64 && !is_padded_base64(s)) fail("stringBase64");
    if (attr.type == FieldType::ip4 && !detail::is_ipv4(s)) fail("ip4");
    if (attr.type == FieldType::ip6 && !detail::parse_ipv6(s)) fail("ip6");
}

S3DB_DECL bool Schema::is_numeric_string(std::string_view s) {
    std::size_t i = s.starts_with('-') ? 1 : 0, start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == start) return false;
    if (i == s.size()) return true;
    if (s[i++] != '.') return false;
    start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > start && i == s.size();
}

S3DB_DECL bool Schema::is_padded_base64(std::string_view s) {
    auto ok = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/'; };
    if (s.size() % 4 != 0) return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (ok(s[i])) continue;
        std::size_t rest = s.size() - i;
        if (s[i] == '=' && (rest == 1 || (rest == 2 && s[i + 1] == '='))) return true;
        return false;
    }
    return true;
}

S3DB_DECL void Schema::check_number(const Attribute& attr, nlohmann::json& value, const Reporter& fail) {
    const Rules& r = attr.rules;
    double v;
    if (value.is_number()) {
        v = value.get<double>();
    } else if (r.convert && value.is_string()) {
        v = detail::js_string_to_number(value.get_ref<const std::string&>());
    } else if (r.convert && value.is_boolean()) {
        v = value.get<bool>() ? 1 : 0;
    } else {
        return fail("number");
    }
    if (!std::isfinite(v)) return fail("number");
    if (!value.is_number()) value = detail::json_number(v);
    if (r.min && v < *r.min) fail("numberMin", fmt_number(*r.min));
    if (r.max && v > *r.max) fail("numberMax", fmt_number(*r.max));
    if (r.equal && v != *r.equal) fail("numberEqual", fmt_number(*r.equal));
    if (r.not_equal && v == *r.not_equal) fail("numberNotEqual", fmt_number(*r.not_equal));
    if (r.integer && v != std::floor(v)) fail("numberInteger");
    if (r.positive && v <= 0) fail("numberPositive");
    if (r.negative && v >= 0) fail("numberNegative");
}

S3DB_DECL void Schema::check_boolean(const Attribute& attr, nlohmann::json& value, const Reporter& fail) {
    if (value.is_boolean()) return;
    if (attr.rules.convert) {
        if (value.is_number()) {
            double d = value.get<double>();
            if (d == 1 || d == 0) {
                value = d == 1;
                return;
            }
        } else if (value.is_string()) {
            const auto& s = value.get_ref<const std::string&>();
            if (s == "true" || s == "1" || s == "on") { value = true; return; }
            if (s == "false" || s == "0" || s == "off") { value = false; return; }
        }
    }
    fail("boolean");
}

S3DB_DECL void Schema::check_email(const Attribute& attr, nlohmann::json& value, const Reporter& fail) {
    const Rules& r = attr.rules;
    if (!value.is_string()) return fail("string");
    auto& s = value.get_ref<std::string&>();
    if (s.empty()) {
        if (!r.empty.value_or(false)) fail("emailEmpty");
        return;
    }
    if (r.email_normalize) {
        s = std::string(detail::js_trim(s, true, true));
        for (auto& c : s)
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    const double len = static_cast<double>(detail::utf16_length(s));
    if (r.min && len < *r.min) fail("emailMin", fmt_number(*r.min));
    if (r.max && len > *r.max) fail("emailMax", fmt_number(*r.max));
    bool ok = r.email_precise ? detail::is_precise_email(s) : detail::is_basic_email(s);
    if (!ok) fail("email");
}

S3DB_DECL void Schema::check_array(const Attribute& attr, nlohmann::json& value, const FieldRef& ref,
                                   std::vector<Failure>& failures, const Reporter& fail) {
    const Rules& r = attr.rules;
    if (!value.is_array()) {
        if (r.convert) value = nlohmann::json::array({value});
        else return fail("array");
    }
    const double n = static_cast<double>(value.size());
    if (r.empty && !*r.empty && value.empty()) fail("arrayEmpty");
    if (r.min && n < *r.min) fail("arrayMin", fmt_number(*r.min));
    if (r.max && n > *r.max) fail("arrayMax", fmt_number(*r.max));
    if (r.length && n != *r.length) fail("arrayLength", fmt_number(*r.length));
    if (r.unique) {
        for (std::size_t i = 0; i < value.size(); ++i) {
            if (value[i].is_structured()) continue;  // JS Set compares objects by identity
            bool dup = false;
            for (std::size_t j = 0; j < i && !dup; ++j) dup = value[j] == value[i];
            if (dup) {
                fail("arrayUnique");
                break;
            }
        }
    }
    if (!r.allowed.empty())
        for (const auto& item : value)
            if (std::find(r.allowed.begin(), r.allowed.end(), item) == r.allowed.end()) fail("arrayEnum", join_allowed(r.allowed));
    if (attr.items) {
        for (std::size_t i = 0; i < value.size(); ++i) {
            FieldRef item_ref{ref.path, i, &ref};
            check_present(*attr.items, value[i], item_ref, failures);
        }
    }
}

S3DB_DECL void Schema::check_date(const Attribute& attr, nlohmann::json& value, const Reporter& fail) {
    const bool date_only = attr.type == FieldType::dateonly;
    const char* rule = date_only ? "date" : "datetime";
    std::optional<std::int64_t> ms;
    if (value.is_number()) {
        ms = detail::js_time_from_number(value.get<double>());
    } else if (value.is_string()) {
        const auto& s = value.get_ref<const std::string&>();
        if (date_only && s.find('T') == std::string::npos) ms = detail::parse_js_date(s + "T00:00:00.000Z");
        else ms = detail::parse_js_date(s);
    }
    if (!ms) return fail(rule);
    std::string iso = detail::iso_string(*ms);
    if (date_only) iso.resize(iso.size() - 14);  // drop "THH:mm:ss.sssZ"
    value = std::move(iso);
}

S3DB_DECL void Schema::check_js_type(const Attribute& attr, nlohmann::json& value, const Reporter& fail) {
    using T = FieldType;
    const std::string* text = value.is_string() ? &value.get_ref<const std::string&>() : nullptr;
    // a string rewritten to its normal form, or the type's failure
    auto normalise = [&](const char* rule, auto&& fn) {
        std::optional<std::string> norm;
        if (text) norm = fn(*text);
        if (!norm) return fail(rule);
        value = std::move(*norm);
    };
    switch (attr.type) {
        case T::date: {  // fastest-validator: a Date, or with `convert` what `new Date(value)` reads
            std::optional<std::int64_t> ms;
            if (attr.rules.convert && value.is_number()) ms = detail::js_time_from_number(value.get<double>());
            else if (attr.rules.convert && text) ms = detail::parse_js_date(*text);
            if (!ms) return fail("date");
            value = detail::iso_string(*ms);
            return;
        }
        case T::timeonly: return normalise("timeonly", detail::normalize_timeonly);
        case T::mac: return normalise("mac", detail::normalize_mac);
        case T::cidr: return normalise("cidr", detail::normalize_cidr);
        case T::semver: return normalise("semver", detail::normalize_semver);
        case T::phone: return normalise("phone", detail::normalize_phone);
        case T::color: return normalise("color", detail::normalize_color);
        case T::cron: return normalise("cron", detail::normalize_cron);
        case T::locale: return normalise("locale", detail::normalize_locale);
        case T::currency: return normalise("currency", [](std::string_view s) { return detail::normalize_letters(s, 3); });
        case T::country: return normalise("country", [](std::string_view s) { return detail::normalize_letters(s, 2); });
        case T::duration: {  // as every read returns it (s3db.js's insert too): ISO-8601 of the stored ms
            std::optional<double> ms;
            if (value.is_number()) {
                double v = value.get<double>();
                if (std::isfinite(v) && v >= 0) ms = v;
            } else if (text) {
                ms = detail::parse_duration(*text);
            }
            if (!ms || *ms > detail::two_pow_53) return fail("duration");
            value = detail::iso_duration(static_cast<std::uint64_t>(detail::js_round(*ms)));
            return;
        }
        case T::ean: {
            if (text) {
                if (!detail::is_ean(*text)) fail("ean");
                return;
            }
            if (value.is_number()) {  // a whole number of up to 14 digits, padded to 13
                double v = value.get<double>();
                if (v >= 0 && v < 1e14 && v == std::floor(v)) {
                    std::string s = detail::js_number(v);
                    if (s.size() < 13) s.insert(0, 13 - s.size(), '0');
                    value = std::move(s);
                    return;
                }
            }
            return fail("ean");
        }
        case T::buffer:
        case T::bits: {
            nlohmann::json decoded;  // base64 text, which s3db.js stores as given and reads back as a Buffer
            if (value.is_string()) {
                auto text = detail::base64_decode(value.get_ref<const std::string&>());
                if (!text) return fail("buffer");
                decoded = nlohmann::json::array();
                for (unsigned char c : *text) decoded.push_back(c);
            }
            const nlohmann::json* bytes = value.is_string() ? &decoded : &value;
            if (value.is_object() && value.size() == 2 && value.contains("type") && value["type"] == "Buffer" &&
                value.contains("data"))
                bytes = &value["data"];
            bool ok = bytes->is_array();
            if (ok)
                for (const auto& b : *bytes)
                    if (!b.is_number_integer() || b.get<std::int64_t>() < 0 || b.get<std::int64_t>() > 255) ok = false;
            if (!ok) return fail("buffer");
            if (attr.type == T::bits && attr.scale > 0) {
                const std::size_t want = (static_cast<std::size_t>(attr.scale) + 7) / 8;
                if (bytes->size() != want) return fail("bits", std::to_string(want));
            }
            nlohmann::json data = bytes == &decoded ? std::move(decoded) : *bytes;
            value = nlohmann::json{{"type", "Buffer"}, {"data", std::move(data)}};
            return;
        }
        case T::geo_lat:
        case T::geo_lon: {
            const std::size_t before = fail.out.size();
            check_number(attr, value, fail);
            if (fail.out.size() != before || !value.is_number()) return;
            const double offset = attr.type == T::geo_lat ? 90 : 180;
            // a range the definition widened still cannot be encoded (s3db.js then stores the raw number)
            if (value.get<double>() < -offset) return fail("numberMin", fmt_number(-offset));
            if (value.get<double>() > offset) return fail("numberMax", fmt_number(offset));
            // stored in fixed point: the value becomes what every read (and partition key) shows
            if (!attr.object_form) value = detail::json_number(detail::quantize_geo(value.get<double>(), offset, attr.scale));
            return;
        }
        case T::geo_point: {
            const nlohmann::json *lat = nullptr, *lon = nullptr;
            if (value.is_array() && value.size() == 2) {
                lat = &value[0];
                lon = &value[1];
            } else if (value.is_object()) {
                if (value.contains("lat") && value.contains("lon")) lat = &value["lat"], lon = &value["lon"];
                else if (value.contains("latitude") && value.contains("longitude"))
                    lat = &value["latitude"], lon = &value["longitude"];
            }
            if (!lat || !lat->is_number() || !lon->is_number()) return fail("geoPoint");
            double la = lat->get<double>(), lo = lon->get<double>();
            if (!(std::fabs(la) <= 90) || !(std::fabs(lo) <= 180)) return fail("geoPoint");
            if (!attr.object_form) {
                la = detail::quantize_geo(la, 90, attr.scale);
                lo = detail::quantize_geo(lo, 180, attr.scale);
            }
            nlohmann::json point = nlohmann::json::object();
            point["latitude"] = detail::json_number(la);
            point["longitude"] = detail::json_number(lo);
            value = std::move(point);
            return;
        }
        case T::secret_number: {  // a number (converted, ranged), then encrypted as its text
            const std::size_t before = fail.out.size();
            check_number(attr, value, fail);
            if (fail.out.size() == before && value.is_number()) value = detail::js_number(value.get<double>());
            return;
        }
        case T::secret_any: {  // String(value): objects would be stored as "[object Object]"
            if (value.is_structured()) return fail("secretAny");
            if (value.is_boolean()) value = value.get<bool>() ? "true" : "false";
            else if (value.is_number()) value = detail::js_number(value.get<double>());
            return;
        }
        default: return;
    }
}

}  // namespace s3db

#endif  // S3DB_DEFINE_BODIES
