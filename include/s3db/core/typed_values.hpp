#pragma once
// The JSON forms of the member types typed records (core/typed_resource.hpp) map beyond nlohmann's
// own (strings, numbers, booleans, containers, optionals): the forms s3db.js gives those fields.
//
//   std::chrono::sys_time<std::chrono::milliseconds>  datetime: "2024-05-01T12:30:00.250Z", as
//   std::chrono::sys_seconds                          toISOString() writes it. Read from any text a
//                                                     datetime field accepts, or epoch ms; seconds
//                                                     drop the milliseconds (rounded down).
//   std::chrono::year_month_day                       dateonly: "2024-05-01". Read from a date or a
//                                                     datetime (its UTC day), or epoch ms.
//   std::chrono::milliseconds                         number: the count of milliseconds. Read from
//                                                     a whole number, or from the ISO 8601 text
//                                                     s3db.js gives duration fields ("PT1H2M3.500S",
//                                                     "P1DT0.250S", "PT0S").
//   std::vector<std::uint8_t>                         text: base64 (buffer fields). Read from base64
//                                                     or base64url, padded or not, from an array of
//                                                     bytes (nlohmann's own form) or from Node's
//                                                     {"type": "Buffer", "data": [bytes]}.
//
// They are nlohmann::adl_serializer specializations, so NLOHMANN_DEFINE_TYPE_* and hand-written
// to_json/from_json pick them up; they hold for every conversion of these types in a program that
// includes s3db (include it before converting them). A value with no such form (not a date, a
// fraction of a millisecond, not base64, out of JavaScript's date range) throws json::type_error or
// json::out_of_range, as nlohmann's own conversions do.

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "s3db/detail/config.hpp"
#include "s3db/detail/time.hpp"

namespace s3db::detail {

/// `ms` as toISOString() writes it; nullopt outside JavaScript's date range.
S3DB_DECL std::optional<std::string> typed_datetime_text(std::int64_t ms);
/// The day `days` after 1970-01-01 as "YYYY-MM-DD" (toISOString's date); nullopt outside JS's range.
S3DB_DECL std::optional<std::string> typed_date_text(std::int64_t days);
/// Epoch ms of a datetime or date text (a date alone is its UTC midnight); nullopt if it is neither.
S3DB_DECL std::optional<std::int64_t> typed_time_from_text(std::string_view text);
/// Epoch ms of a number, as `new Date(number)` reads it; nullopt if it is no date.
S3DB_DECL std::optional<std::int64_t> typed_time_from_number(double value);
/// Milliseconds of s3db.js's duration text, P[nD][T[nH][nM][n[.f]S]] (seconds rounded to whole
/// milliseconds, as s3db.js rounds them); nullopt for anything else.
S3DB_DECL std::optional<std::int64_t> typed_duration_from_text(std::string_view text);
/// The whole number `value` holds, if it holds one an int64 can.
S3DB_DECL std::optional<std::int64_t> typed_whole_number(double value);
S3DB_DECL std::string typed_base64(const std::vector<std::uint8_t>& bytes);
S3DB_DECL std::optional<std::vector<std::uint8_t>> typed_bytes_from_base64(std::string_view text);

/// Epoch ms of a JSON datetime: text or number. Throws as nlohmann does.
template <class BasicJsonType>
std::int64_t typed_time(const BasicJsonType& j, const char* what) {
    std::optional<std::int64_t> ms;
    if (j.is_string()) ms = typed_time_from_text(j.template get_ref<const typename BasicJsonType::string_t&>());
    else if (j.is_number()) ms = typed_time_from_number(j.template get<double>());
    else throw BasicJsonType::type_error::create(302, std::string(what) + " must be a string or a number, but is " + j.type_name(), &j);
    if (!ms) throw BasicJsonType::type_error::create(302, std::string(what) + " is no valid date: " + j.dump(), &j);
    return *ms;
}

/// ms as an ISO datetime, or out_of_range.
template <class BasicJsonType>
void typed_datetime_to_json(BasicJsonType& j, std::int64_t ms) {
    auto text = typed_datetime_text(ms);
    if (!text) throw BasicJsonType::out_of_range::create(406, "a datetime beyond JavaScript's date range", &j);
    j = std::move(*text);
}

}  // namespace s3db::detail

NLOHMANN_JSON_NAMESPACE_BEGIN

template <>
struct adl_serializer<std::chrono::sys_time<std::chrono::milliseconds>> {
    using T = std::chrono::sys_time<std::chrono::milliseconds>;
    template <class BasicJsonType>
    static void to_json(BasicJsonType& j, const T& t) {
        s3db::detail::typed_datetime_to_json(j, t.time_since_epoch().count());
    }
    template <class BasicJsonType>
    static void from_json(const BasicJsonType& j, T& t) {
        t = T(std::chrono::milliseconds(s3db::detail::typed_time(j, "a datetime")));
    }
};

template <>
struct adl_serializer<std::chrono::sys_seconds> {
    template <class BasicJsonType>
    static void to_json(BasicJsonType& j, const std::chrono::sys_seconds& t) {
        constexpr auto limit = std::numeric_limits<std::int64_t>::max() / 1000;
        const std::int64_t s = t.time_since_epoch().count();
        if (s > limit || s < -limit)
            throw BasicJsonType::out_of_range::create(406, "a datetime beyond JavaScript's date range", &j);
        s3db::detail::typed_datetime_to_json(j, s * 1000);
    }
    template <class BasicJsonType>
    static void from_json(const BasicJsonType& j, std::chrono::sys_seconds& t) {
        const std::chrono::milliseconds ms(s3db::detail::typed_time(j, "a datetime"));
        t = std::chrono::sys_seconds(std::chrono::floor<std::chrono::seconds>(ms));
    }
};

template <>
struct adl_serializer<std::chrono::year_month_day> {
    template <class BasicJsonType>
    static void to_json(BasicJsonType& j, const std::chrono::year_month_day& d) {
        if (!d.ok()) throw BasicJsonType::out_of_range::create(406, "not a calendar date", &j);
        auto text = s3db::detail::typed_date_text(std::chrono::sys_days(d).time_since_epoch().count());
        if (!text) throw BasicJsonType::out_of_range::create(406, "a date beyond JavaScript's date range", &j);
        j = std::move(*text);
    }
    template <class BasicJsonType>
    static void from_json(const BasicJsonType& j, std::chrono::year_month_day& d) {
        const auto days = s3db::detail::floor_div(s3db::detail::typed_time(j, "a date"), s3db::detail::ms_per_day);
        d = std::chrono::year_month_day(std::chrono::sys_days(std::chrono::days(days)));
    }
};

template <>
struct adl_serializer<std::chrono::milliseconds> {
    template <class BasicJsonType>
    static void to_json(BasicJsonType& j, const std::chrono::milliseconds& d) {
        j = static_cast<std::int64_t>(d.count());
    }
    template <class BasicJsonType>
    static void from_json(const BasicJsonType& j, std::chrono::milliseconds& d) {
        if (j.is_number_unsigned()) {
            const auto u = j.template get<std::uint64_t>();
            if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
                throw BasicJsonType::out_of_range::create(406, "milliseconds beyond int64: " + j.dump(), &j);
            d = std::chrono::milliseconds(static_cast<std::int64_t>(u));
        } else if (j.is_number_integer()) {
            d = std::chrono::milliseconds(j.template get<std::int64_t>());
        } else if (j.is_number_float()) {
            auto whole = s3db::detail::typed_whole_number(j.template get<double>());
            if (!whole) throw BasicJsonType::type_error::create(302, "not a whole number of milliseconds: " + j.dump(), &j);
            d = std::chrono::milliseconds(*whole);
        } else if (j.is_string()) {
            auto ms = s3db::detail::typed_duration_from_text(j.template get_ref<const typename BasicJsonType::string_t&>());
            if (!ms) throw BasicJsonType::type_error::create(302, "not an ISO 8601 duration: " + j.dump(), &j);
            d = std::chrono::milliseconds(*ms);
        } else {
            throw BasicJsonType::type_error::create(302, std::string("milliseconds must be a number, but is ") + j.type_name(), &j);
        }
    }
};

template <>
struct adl_serializer<std::vector<std::uint8_t>> {
    template <class BasicJsonType>
    static void to_json(BasicJsonType& j, const std::vector<std::uint8_t>& bytes) {
        j = s3db::detail::typed_base64(bytes);
    }
    template <class BasicJsonType>
    static void from_json(const BasicJsonType& j, std::vector<std::uint8_t>& bytes) {
        if (j.is_string()) {
            auto decoded = s3db::detail::typed_bytes_from_base64(j.template get_ref<const typename BasicJsonType::string_t&>());
            if (!decoded) throw BasicJsonType::type_error::create(302, "bytes must be base64 text: " + j.dump(), &j);
            bytes = std::move(*decoded);
        } else if (j.is_array() || (j.is_object() && j.size() == 2 && j.contains("type") && j["type"] == "Buffer" &&
                                    j.contains("data") && j["data"].is_array())) {
            const auto& items = j.is_array() ? j : j["data"];
            std::vector<std::uint8_t> out;
            out.reserve(items.size());
            for (const auto& b : items) {
                if (!b.is_number_integer() || b.template get<std::int64_t>() < 0 || b.template get<std::int64_t>() > 255)
                    throw BasicJsonType::type_error::create(302, "a byte must be an integer from 0 to 255, not " + b.dump(), &j);
                out.push_back(static_cast<std::uint8_t>(b.template get<std::int64_t>()));
            }
            bytes = std::move(out);
        } else {
            throw BasicJsonType::type_error::create(302, std::string("bytes must be base64 text, but are ") + j.type_name(), &j);
        }
    }
};

NLOHMANN_JSON_NAMESPACE_END

#if S3DB_DEFINE_BODIES
#include <cmath>
#include <utility>

#include "s3db/detail/encoding.hpp"

namespace s3db::detail {

S3DB_DECL std::optional<std::string> typed_datetime_text(std::int64_t ms) {
    if (ms > max_time_ms || ms < -max_time_ms) return std::nullopt;
    return iso_string(ms);
}

S3DB_DECL std::optional<std::string> typed_date_text(std::int64_t days) {
    if (days > max_time_ms / ms_per_day || days < -max_time_ms / ms_per_day) return std::nullopt;
    auto iso = iso_string(days * ms_per_day);
    iso.resize(iso.size() - 14);  // drop "THH:mm:ss.sssZ"
    return iso;
}

S3DB_DECL std::optional<std::int64_t> typed_time_from_text(std::string_view text) { return parse_js_date(text); }

S3DB_DECL std::optional<std::int64_t> typed_time_from_number(double value) { return js_time_from_number(value); }

S3DB_DECL std::optional<std::int64_t> typed_duration_from_text(std::string_view text) {
    // s3db.js's pattern: ^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$, not "P" nor "PT".
    if (text.size() < 3 || text.front() != 'P') return std::nullopt;
    std::size_t i = 1;
    auto digits = [&](std::size_t& end) {
        end = i;
        while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
        return end > i;
    };
    constexpr std::int64_t limit = std::numeric_limits<std::int64_t>::max() / 1000 - 1;  // room for the fraction
    std::int64_t ms = 0;
    auto add = [&](std::string_view number, std::int64_t unit_ms) {
        std::int64_t n = 0;
        for (char c : number) {
            if (n > limit / 10) return false;
            n = n * 10 + (c - '0');
        }
        if (n > (limit - ms / 1000) / (unit_ms / 1000)) return false;
        ms += n * unit_ms;
        return true;
    };
    std::size_t end = 0;
    if (digits(end) && end < text.size() && text[end] == 'D') {
        if (!add(text.substr(i, end - i), 86400000)) return std::nullopt;
        i = end + 1;
    }
    if (i == text.size()) return ms;
    if (text[i] != 'T' || i + 1 == text.size()) return std::nullopt;
    ++i;
    for (auto [unit, unit_ms] : {std::pair{'H', std::int64_t{3600000}}, std::pair{'M', std::int64_t{60000}}}) {
        if (digits(end) && end < text.size() && text[end] == unit) {
            if (!add(text.substr(i, end - i), unit_ms)) return std::nullopt;
            i = end + 1;
        }
    }
    if (i < text.size()) {
        if (!digits(end)) return std::nullopt;
        if (!add(text.substr(i, end - i), 1000)) return std::nullopt;
        i = end;
        if (i < text.size() && text[i] == '.') {
            ++i;
            if (!digits(end)) return std::nullopt;
            // The fraction in milliseconds, rounded half up like Math.round.
            std::int64_t frac = 0;
            for (std::size_t k = 0; k < 3; ++k) frac = frac * 10 + (i + k < end ? text[i + k] - '0' : 0);
            if (i + 3 < end && text[i + 3] >= '5') ++frac;
            ms += frac;
            i = end;
        }
        if (i + 1 != text.size() || text[i] != 'S') return std::nullopt;
    }
    return ms;
}

S3DB_DECL std::optional<std::int64_t> typed_whole_number(double value) {
    // 2^63 is the first double past int64's range.
    if (!std::isfinite(value) || value != std::trunc(value) || value >= 9223372036854775808.0 ||
        value < -9223372036854775808.0)
        return std::nullopt;
    return static_cast<std::int64_t>(value);
}

S3DB_DECL std::string typed_base64(const std::vector<std::uint8_t>& bytes) {
    return base64_encode(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

S3DB_DECL std::optional<std::vector<std::uint8_t>> typed_bytes_from_base64(std::string_view text) {
    auto decoded = base64_decode(text);
    if (!decoded) return std::nullopt;
    return std::vector<std::uint8_t>(decoded->begin(), decoded->end());
}

}  // namespace s3db::detail
#endif  // S3DB_DEFINE_BODIES
