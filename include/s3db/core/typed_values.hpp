#pragma once
// Struct members of standard types for the attribute types that are not plain JSON, so that a
// TypedResource's to_json/from_json (NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE) can map them:
//
//   std::chrono::sys_time<std::chrono::milliseconds>  datetime  (written as ISO text, read from ISO text or ms)
//   std::chrono::year_month_day                        dateonly  ("YYYY-MM-DD")
//   std::chrono::milliseconds                          duration  (written as ms, read from s3db.js's ISO-8601 text or ms)
//   std::vector<std::uint8_t>                          buffer, bits (written as an array of bytes, read from
//                                                      that or Node's {"type":"Buffer","data":[...]})
//
// These are nlohmann::adl_serializer specialisations, so they apply to every nlohmann::json
// conversion of these types in the program; a vector of bytes still writes the array nlohmann writes
// by default, and only reads more forms.

#include <chrono>
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "s3db/detail/config.hpp"

namespace nlohmann {

template <>
struct adl_serializer<std::chrono::sys_time<std::chrono::milliseconds>> {
    S3DB_DECL static void to_json(json& j, const std::chrono::sys_time<std::chrono::milliseconds>& t);
    S3DB_DECL static void from_json(const json& j, std::chrono::sys_time<std::chrono::milliseconds>& t);
};

template <>
struct adl_serializer<std::chrono::year_month_day> {
    S3DB_DECL static void to_json(json& j, const std::chrono::year_month_day& d);
    S3DB_DECL static void from_json(const json& j, std::chrono::year_month_day& d);
};

template <>
struct adl_serializer<std::chrono::milliseconds> {
    S3DB_DECL static void to_json(json& j, const std::chrono::milliseconds& d);
    S3DB_DECL static void from_json(const json& j, std::chrono::milliseconds& d);
};

template <>
struct adl_serializer<std::vector<std::uint8_t>> {
    S3DB_DECL static void to_json(json& j, const std::vector<std::uint8_t>& bytes);
    S3DB_DECL static void from_json(const json& j, std::vector<std::uint8_t>& bytes);
};

}  // namespace nlohmann

#if S3DB_DEFINE_BODIES

#include <string>

#include "s3db/detail/js_types.hpp"
#include "s3db/detail/time.hpp"

namespace nlohmann {

S3DB_DECL void adl_serializer<std::chrono::sys_time<std::chrono::milliseconds>>::to_json(
    json& j, const std::chrono::sys_time<std::chrono::milliseconds>& t) {
    j = s3db::detail::iso_string(t.time_since_epoch().count());
}

S3DB_DECL void adl_serializer<std::chrono::sys_time<std::chrono::milliseconds>>::from_json(
    const json& j, std::chrono::sys_time<std::chrono::milliseconds>& t) {
    std::optional<std::int64_t> ms;
    if (j.is_string()) ms = s3db::detail::parse_js_date(j.get_ref<const std::string&>());
    else if (j.is_number()) ms = s3db::detail::js_time_from_number(j.get<double>());
    if (!ms) throw detail::type_error::create(302, "a datetime must be ISO text or epoch milliseconds", &j);
    t = std::chrono::sys_time<std::chrono::milliseconds>(std::chrono::milliseconds(*ms));
}

S3DB_DECL void adl_serializer<std::chrono::year_month_day>::to_json(json& j, const std::chrono::year_month_day& d) {
    const std::int64_t days = std::chrono::sys_days(d).time_since_epoch().count();
    std::string iso = s3db::detail::iso_string(days * s3db::detail::ms_per_day);
    j = iso.substr(0, iso.find('T'));  // "YYYY-MM-DD" (±YYYYYY-MM-DD beyond year 9999, as JavaScript writes it)
}

S3DB_DECL void adl_serializer<std::chrono::year_month_day>::from_json(const json& j, std::chrono::year_month_day& d) {
    std::optional<std::int64_t> ms;
    if (j.is_string()) {
        const auto& s = j.get_ref<const std::string&>();
        ms = s3db::detail::parse_js_date(s.find('T') == std::string::npos ? s + "T00:00:00.000Z" : s);
    }
    if (!ms) throw detail::type_error::create(302, "a dateonly must be YYYY-MM-DD text", &j);
    d = std::chrono::year_month_day(std::chrono::sys_days(std::chrono::days(s3db::detail::floor_div(*ms, s3db::detail::ms_per_day))));
}

S3DB_DECL void adl_serializer<std::chrono::milliseconds>::to_json(json& j, const std::chrono::milliseconds& d) {
    j = d.count();
}

S3DB_DECL void adl_serializer<std::chrono::milliseconds>::from_json(const json& j, std::chrono::milliseconds& d) {
    std::optional<double> ms;
    if (j.is_number()) ms = j.get<double>();
    else if (j.is_string()) ms = s3db::detail::parse_duration(j.get_ref<const std::string&>());
    if (!ms || !(*ms >= -9007199254740992.0 && *ms <= 9007199254740992.0))
        throw detail::type_error::create(302, "a duration must be ISO-8601 text (PT1H30M) or milliseconds", &j);
    d = std::chrono::milliseconds(static_cast<std::int64_t>(*ms));
}

S3DB_DECL void adl_serializer<std::vector<std::uint8_t>>::to_json(json& j, const std::vector<std::uint8_t>& bytes) {
    j = json::array();
    for (auto b : bytes) j.push_back(b);
}

S3DB_DECL void adl_serializer<std::vector<std::uint8_t>>::from_json(const json& j, std::vector<std::uint8_t>& bytes) {
    const json* data = &j;
    if (j.is_object() && j.contains("data") && j.value("type", "") == "Buffer") data = &j["data"];
    if (!data->is_array()) throw detail::type_error::create(302, "bytes must be an array or a Buffer's JSON", &j);
    bytes.clear();
    bytes.reserve(data->size());
    for (const auto& b : *data) {
        if (!b.is_number_integer() || b.get<std::int64_t>() < 0 || b.get<std::int64_t>() > 255)
            throw detail::type_error::create(302, "a byte must be a whole number from 0 to 255", &j);
        bytes.push_back(static_cast<std::uint8_t>(b.get<std::int64_t>()));
    }
}

}  // namespace nlohmann

#endif  // S3DB_DEFINE_BODIES
