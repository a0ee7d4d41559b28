#pragma once
// The metadata text of s3db.js's own attribute types (date, timeonly, mac, cidr, semver, phone,
// color, duration, ean, geo, buffer/bits) for the codec: what s3db.js's mapper writes for a value of
// the attribute's type, and what its unmapper returns for that text (§2.2 of the internals). The
// formats themselves are in detail/js_types.hpp; secrets and the types s3db.js stores as given
// (cron, locale, currency, country, object forms) stay in the codec.

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "s3db/core/schema.hpp"
#include "s3db/detail/config.hpp"

namespace s3db::detail {

/// The stored text of `v` for attribute `a`; nullopt when `v` is not in the form s3db.js encodes
/// (then it is stored as given, as s3db.js does).
S3DB_DECL std::optional<std::string> encode_js_type(const Attribute& a, const nlohmann::json& v);

/// The value s3db.js reads back from `text` (a Buffer as Node's JSON of it, a date without the
/// quotes s3db.js keeps); nullopt when the text is not in the encoded form (returned as stored).
S3DB_DECL std::optional<nlohmann::json> decode_js_type(const Attribute& a, std::string_view text);

}  // namespace s3db::detail

#if S3DB_DEFINE_BODIES

#include <cmath>
#include <cstdint>

#include "s3db/detail/encoding.hpp"
#include "s3db/detail/js_text.hpp"
#include "s3db/detail/js_types.hpp"

namespace s3db::detail {

S3DB_DECL std::optional<std::string> encode_js_type(const Attribute& a, const nlohmann::json& v) {
    using T = FieldType;
    switch (a.type) {
        case T::date: {  // JSON.stringify of the Date: its ISO text in quotes
            if (!v.is_string()) return std::nullopt;
            const auto& s = v.get_ref<const std::string&>();
            if (s.find_first_of("\"\\") != std::string::npos || !parse_js_date(s)) return std::nullopt;
            return "\"" + s + "\"";
        }
        case T::timeonly: case T::mac: case T::cidr: case T::semver: case T::phone: case T::color: case T::ean: {
            if (!v.is_string()) return std::nullopt;
            const auto& s = v.get_ref<const std::string&>();
            switch (a.type) {
                case T::timeonly: return encode_timeonly(s);
                case T::mac: return encode_mac(s);
                case T::cidr: return encode_cidr(s);
                case T::semver: return encode_semver(s);
                case T::phone: return encode_phone(s);
                case T::color: return encode_color(s);
                default: return encode_ean(s);
            }
        }
        case T::duration:
            if (v.is_number() && std::isfinite(v.get<double>()) && v.get<double>() >= 0) return encode_duration(v.get<double>());
            if (v.is_string())
                if (auto ms = parse_duration(v.get_ref<const std::string&>())) return encode_duration(*ms);
            return std::nullopt;
        case T::geo_lat:
        case T::geo_lon: {
            const double offset = a.type == T::geo_lat ? 90 : 180;
            if (!v.is_number() || !(std::fabs(v.get<double>()) <= offset)) return std::nullopt;
            return encode_geo(v.get<double>(), offset, a.scale);
        }
        case T::geo_point: {  // lat then lon, each "~" + fixed point
            const nlohmann::json *lat = nullptr, *lon = nullptr;
            if (v.is_array() && v.size() == 2) lat = &v[0], lon = &v[1];
            else if (v.is_object() && v.contains("latitude") && v.contains("longitude")) lat = &v["latitude"], lon = &v["longitude"];
            else if (v.is_object() && v.contains("lat") && v.contains("lon")) lat = &v["lat"], lon = &v["lon"];
            if (!lat || !lat->is_number() || !lon->is_number() || !(std::fabs(lat->get<double>()) <= 90) ||
                !(std::fabs(lon->get<double>()) <= 180))
                return std::nullopt;
            return encode_geo(lat->get<double>(), 90, a.scale) + encode_geo(lon->get<double>(), 180, a.scale);
        }
        case T::buffer:
        case T::bits: {  // base64 of the bytes
            const nlohmann::json* data = v.is_object() && v.contains("data") ? &v["data"] : &v;
            if (!data->is_array()) return std::nullopt;
            std::string bytes;
            for (const auto& b : *data) {
                if (!b.is_number_integer() || b.get<std::int64_t>() < 0 || b.get<std::int64_t>() > 255) return std::nullopt;
                bytes += static_cast<char>(b.get<std::int64_t>());
            }
            return base64_encode(bytes);
        }
        default: return std::nullopt;
    }
}

S3DB_DECL std::optional<nlohmann::json> decode_js_type(const Attribute& a, std::string_view text) {
    using T = FieldType;
    auto string = [](std::optional<std::string> s) -> std::optional<nlohmann::json> {
        if (!s) return std::nullopt;
        return nlohmann::json(std::move(*s));
    };
    switch (a.type) {
        case T::date:  // s3db.js returns the JSON text, quotes included; we return the ISO text
            if (text.size() >= 2 && text.front() == '"' && text.back() == '"' &&
                text.substr(1, text.size() - 2).find_first_of("\"\\") == std::string_view::npos)
                return nlohmann::json(std::string(text.substr(1, text.size() - 2)));
            return std::nullopt;
        case T::timeonly: return string(decode_timeonly(text));
        case T::mac: return string(decode_mac(text));
        case T::cidr: return string(decode_cidr(text));
        case T::semver: return string(decode_semver(text));
        case T::phone: return string(decode_phone(text));
        case T::color: return string(decode_color(text));
        case T::duration: return string(decode_duration(text));
        case T::ean: return string(decode_ean(text));
        case T::geo_lat:
        case T::geo_lon: {
            auto n = decode_geo(text, a.type == T::geo_lat ? 90 : 180, a.scale);
            if (!n) return std::nullopt;
            return json_number(*n);
        }
        case T::geo_point: {  // "~lat~lon" → {latitude, longitude}
            if (!text.starts_with('~')) return std::nullopt;
            auto second = text.find('~', 1);
            if (second == std::string_view::npos) return std::nullopt;
            auto lat = decode_geo(text.substr(0, second), 90, a.scale);
            auto lon = decode_geo(text.substr(second), 180, a.scale);
            if (!lat || !lon) return std::nullopt;
            nlohmann::json point = nlohmann::json::object();
            point["latitude"] = json_number(*lat);
            point["longitude"] = json_number(*lon);
            return point;
        }
        case T::buffer:
        case T::bits: {  // the Buffer s3db.js returns, as Node writes it in JSON
            auto bytes = base64_decode(text);
            if (!bytes) return std::nullopt;
            if (a.type == T::bits && a.scale > 0 && bytes->size() != (static_cast<std::size_t>(a.scale) + 7) / 8)
                return std::nullopt;
            nlohmann::json data = nlohmann::json::array();
            for (unsigned char b : *bytes) data.push_back(b);
            return nlohmann::json{{"type", "Buffer"}, {"data", std::move(data)}};
        }
        default: return std::nullopt;
    }
}

}  // namespace s3db::detail

#endif  // S3DB_DEFINE_BODIES
