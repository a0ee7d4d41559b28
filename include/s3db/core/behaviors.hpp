#pragma once
// The five s3db.js behaviors (§4 of the internals): how a mapped record is split between object
// metadata (2 KB) and the object body, and how it is put back together on read.
//
// Objects are laid out as s3db.js lays them out (same markers `_v`, `_overflow`, `_truncated`,
// `_map`, `_pluginmap`, same body JSON keyed by mapped keys), so each library reads the other's.
// Where s3db.js's algorithm is broken we keep its layout and fix the algorithm, and say so:
// - truncate-data and body-overflow pack counting key bytes too (s3db.js counts values only and
//   can write metadata the store rejects); truncate-data keeps the prefix that fits and always
//   terminates (s3db.js blanks the cut field, or loops forever: §13.1); it never cuts a secret,
//   whose prefix would not decrypt: a secret that does not fit is dropped whole;
// - user-managed updates too large for metadata use the insert layout (s3db.js writes the
//   oversized metadata anyway and the store refuses it), and updates that fit are stored as
//   inserts are, metadata only (see UserManaged);
// - sizes are measured as the store measures them too: a value with non-ASCII text travels
//   `u:`/`b:`-encoded and takes more bytes than s3db.js counts (§13.7), so packing by s3db.js's
//   count alone writes metadata over 2 KB that S3 refuses;
// - s3db.js reads back only the metadata half of a nested object split between metadata and body:
//   given the codec, body-overflow keeps such an object together, and our reader merges the
//   halves of objects s3db.js split, leaf by leaf.

#include <nlohmann/json.hpp>

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "s3db/core/codec.hpp"
#include "s3db/errors.hpp"
#include "s3db/core/schema.hpp"
#include "s3db/detail/base62.hpp"
#include "s3db/detail/config.hpp"
#include "s3db/detail/metadata_codec.hpp"
#include "s3db/transport/transport.hpp"

namespace s3db {

/// s3db.js lays some behaviors out differently for updates (upserts count as updates).
enum class WriteKind { insert, update };

/// What the transport receives for one record. `content_type` is empty when there is no body
/// (s3db.js sends none then).
struct StoredRecord {
    Metadata metadata;
    std::string body;
    std::string content_type;
    /// The behavior dropped or cut fields (truncate-data): what is stored is not the record given,
    /// so a write returns the record read back from `metadata` and `body`.
    bool lossy = false;
};

struct BehaviorContext {
    std::string_view resource;  // for error messages
    std::string_view id;
    std::int64_t effective_limit = static_cast<std::int64_t>(s3db_metadata_limit);  // calculate_effective_limit
    WriteKind kind = WriteKind::insert;
    std::string_view map_json{};         // schema_map_json(): body-only stores it as `_map`
    std::string_view plugin_map_json{};  // `_pluginMap` JSON when the resource has plugin attributes
    /// The resource's codec, if given, lets body-overflow keep the fields of one nested object
    /// together: s3db.js loses the body half of an object split between metadata and body.
    const Codec* codec = nullptr;
};

namespace detail {

inline constexpr std::string_view json_content_type = "application/json";
/// The content type of a digest body under a behavior whose body is the user's content
/// (enforce-limits, truncate-data): marks "no content, only a version stamp".
inline constexpr std::string_view version_content_type = "application/vnd.s3db.version+json";
inline constexpr std::int64_t overflow_flag_bytes = 13;   // "$overflow" + "true", as s3db.js reserves
inline constexpr std::int64_t truncated_flag_bytes = 14;  // "$truncated" + "true"

/// What a field costs in metadata: its key and the larger of s3db.js's count of its value and the
/// bytes the value takes on the wire, once encoded for the headers (what the store's 2 KB counts).
inline std::int64_t field_size(const MappedField& f) {
    return static_cast<std::int64_t>(f.key.size() + std::max(accounted_value_size(f), encoded_metadata_size(f.value)));
}

/// `field_size` summed over the record: `calculate_total_size`, corrected for the wire encoding.
S3DB_DECL std::int64_t stored_total_size(const MappedRecord& record);

/// A JavaScript array-index key ("0", "17", not "01"): JS objects list those first, ascending.
S3DB_DECL std::optional<std::uint32_t> js_index_key(std::string_view k) noexcept;

/// `keys[order[i]]` reordered as a JavaScript object built in that order would list them.
template <class KeyOf>
void js_object_order(std::vector<std::size_t>& order, KeyOf key_of) {
    auto mid = std::stable_partition(order.begin(), order.end(),
                                     [&](std::size_t i) { return js_index_key(key_of(i)).has_value(); });
    std::sort(order.begin(), mid, [&](std::size_t a, std::size_t b) { return *js_index_key(key_of(a)) < *js_index_key(key_of(b)); });
}

/// JSON.stringify of the JS object holding `fields` in this insertion order.
S3DB_DECL std::string mapped_body_json(const MappedRecord& record, std::vector<std::size_t> order);

S3DB_DECL std::string mapped_body_json(const MappedRecord& record);

/// Indices of the non-`_v` fields, in JS object order, stably sorted by accounted value size
/// (s3db.js `Object.entries(calculateAttributeSizes(mapped)).sort((a, b) => a - b)`).
S3DB_DECL std::vector<std::size_t> by_value_size(const MappedRecord& record);

S3DB_DECL const MappedField* find_version(const MappedRecord& record) noexcept;

/// The longest prefix of `s` of at most `max_bytes` bytes that ends on a UTF-8 character boundary.
S3DB_DECL std::string utf8_prefix(std::string_view s, std::size_t max_bytes);

/// A prefix of `s` (on a character boundary) that takes at most `max_bytes` once encoded for the
/// wire, and to which the next character cannot be added. Encoding never shrinks text (`u:`
/// escapes take 3 bytes per byte, `b:` base64 4 per 3), so the raw prefix of `max_bytes` is the
/// longest candidate: cut a third of the excess per round until it fits, then add characters back
/// one at a time while they fit.
S3DB_DECL std::string encoded_prefix(std::string_view s, std::size_t max_bytes);

/// Fields s3db.js drops from every record it returns (`_v`, `_overflow`, the §13.3 junk, ...).
inline bool is_internal_field(std::string_view name) noexcept {
    return name.starts_with('_') && name != "_geohash" && !name.starts_with("_geohash_zoom");
}

/// Plugin attribute keys (`_pluginmap`: attribute name → stored key) reversed.
S3DB_DECL std::map<std::string, std::string, std::less<>> plugin_names(const Metadata& metadata);

S3DB_DECL nlohmann::json& at_path(nlohmann::json& out, std::string_view path);

/// A value no attribute of ours describes, as s3db.js's unmapper returns it: JSON text parsed.
S3DB_DECL nlohmann::json loose_value(const nlohmann::json& v);

/// Puts a body value that is not text (numbers and booleans of untyped fields, values of an
/// s3db.js user-managed update body) where the codec would put `key`: the codec tells us the path
/// by decoding "null", which every attribute type decodes to a null leaf.
S3DB_DECL void place_raw(const Codec& codec, nlohmann::json& out, std::string_view key, nlohmann::json value);

using Renames = std::map<std::string, std::string, std::less<>>;  // stored key → attribute path

/// One stored entry into `out`. `loose` holds keys whose attribute our schema does not have
/// (plugin attributes, attributes removed since the object was written).
S3DB_DECL void decode_entry(const Codec& codec, nlohmann::json& out, std::string_view key, const nlohmann::json& value,
                            const Renames& loose);

S3DB_DECL void decode_metadata(const Codec& codec, const Metadata& metadata, nlohmann::json& out, const Renames& loose);

/// Decodes a body holding a JSON object of stored keys; anything else is ignored, as s3db.js does.
/// Returns whether the body was such an object.
S3DB_DECL bool decode_body(const Codec& codec, std::string_view body, nlohmann::json& out, const Renames& loose);

/// Drops what s3db.js never returns (plugin attribute names excepted) and the id, which the
/// caller takes from the object key.
S3DB_DECL void drop_internal(nlohmann::json& out, const Renames& loose);

/// The top-level record field a stored key belongs to ("profile" for "profile.city"'s key).
S3DB_DECL std::string top_level_field(const Codec& codec, std::string_view key);

/// Metadata of `record`'s fields at `keep` (moved out).
S3DB_DECL Metadata metadata_of(MappedRecord& record, const std::vector<std::size_t>& keep);

S3DB_DECL StoredRecord with_body(Metadata metadata, std::string body);

/// The body of an update that keeps the whole record in metadata: `{"_v", "_digest"}`, a digest of
/// the metadata, which both libraries' readers skip. It gives each version of the record its own
/// ETag: every object with an empty body has the same one, so compare-and-swap updates (If-Match)
/// could not tell one version from the next and concurrent updates would be lost.
S3DB_DECL StoredRecord with_digest_body(Metadata metadata);

/// Whether `body` has the shape with_digest_body writes (plus an ETag salt): `_v` and a 64-byte
/// `_digest`, both without quotes or escapes. Such a body holds no field (both names are internal,
/// and were it not JSON it would be ignored), so reads skip it without a parse. The digest's
/// characters are not checked one by one: a search for the quote and backslash is vectorised.
S3DB_DECL bool is_digest_body(std::string_view body) noexcept;

/// `{_v}` (+ `_pluginmap`) in metadata and the whole mapped record as the body: s3db.js's layout
/// for user-managed records too large for metadata.
S3DB_DECL StoredRecord version_only_layout(MappedRecord record, const BehaviorContext& ctx);

}  // namespace detail

/// `JSON.stringify(schema.map)` of s3db.js: attribute path → base36 key, for body-only's `_map`.
/// `mapping` is the resource's registry mapping (path → index).
S3DB_DECL std::string schema_map_json(const Schema& schema, const std::map<std::string, int>& mapping);

/// A behavior: how records are stored and read back. `write` may throw RecordTooLarge before any
/// request is made; `read` returns the record without `id` and without `_` fields. `reads_body`
/// says whether `read` looks at the body at all (when false, a HEAD is enough).
template <class B>
concept Behavior = std::default_initializable<B> &&
    requires(const B& b, MappedRecord record, const BehaviorContext& ctx, const Codec& codec, const Metadata& metadata,
             std::string_view body) {
        { B::name } -> std::convertible_to<std::string_view>;
        { B::reads_body } -> std::convertible_to<bool>;
        { b.write(std::move(record), ctx) } -> std::same_as<StoredRecord>;
        { b.read(codec, metadata, body) } -> std::same_as<nlohmann::json>;
    };

/// s3db.js's default. Fits: all in metadata. Too large: `_v` in metadata, everything in the body.
/// Reads merge body and metadata, metadata winning.
///
/// An update that fits also writes a body, as s3db.js's does, but not s3db.js's: its update body
/// holds the record under attribute names with values as its validator left them, and its reader
/// cannot take the record under mapped keys there (when the metadata holds the fields too, it
/// returns the body's keys, "0", "1", ..., as extra fields). Metadata wins on both readers, so the
/// body needs no field: it is `detail::with_digest_body`'s, there for the ETag.
struct UserManaged {
    static constexpr std::string_view name = "user-managed";
    static constexpr bool reads_body = true;

    S3DB_DECL StoredRecord write(MappedRecord record, const BehaviorContext& ctx) const;

    nlohmann::json read(const Codec& codec, const Metadata& metadata, std::string_view body) const {
        return read_merged(codec, metadata, body);
    }

    /// Body first, then metadata over it leaf by leaf.
    static S3DB_DECL nlohmann::json read_merged(const Codec& codec, const Metadata& metadata, std::string_view body);
};

/// Metadata only; a record over the limit is refused with RecordTooLarge. Updates also write the
/// mapped record as the body, as s3db.js does; reads ignore the body, as s3db.js does.
struct EnforceLimits {
    static constexpr std::string_view name = "enforce-limits";
    static constexpr bool reads_body = false;

    S3DB_DECL StoredRecord write(MappedRecord record, const BehaviorContext& ctx) const;

    nlohmann::json read(const Codec& codec, const Metadata& metadata, std::string_view) const {
        return UserManaged::read_merged(codec, metadata, {});
    }
};

/// Metadata only; a record over the limit keeps its smallest fields whole, the next one cut to
/// the bytes left (never inside a UTF-8 character) and loses the rest; `_truncated=true` marks it.
/// A secret is never cut: a prefix of its ciphertext decrypts to nothing, so a secret that does not
/// fit whole is dropped whole, like the fields larger than the cut one, and the next field is cut
/// instead. The write is `lossy`: insert and update return the record as stored.
struct TruncateData {
    static constexpr std::string_view name = "truncate-data";
    static constexpr bool reads_body = false;

    S3DB_DECL StoredRecord write(MappedRecord record, const BehaviorContext& ctx) const;

    nlohmann::json read(const Codec& codec, const Metadata& metadata, std::string_view body) const {
        return EnforceLimits{}.read(codec, metadata, body);
    }
};

/// The smallest fields in metadata while they fit, the rest as a JSON body; `_overflow=true`
/// marks a split record. Used by almost every s3db.js plugin resource.
struct BodyOverflow {
    static constexpr std::string_view name = "body-overflow";
    static constexpr bool reads_body = true;

    S3DB_DECL StoredRecord write(MappedRecord record, const BehaviorContext& ctx) const;

    nlohmann::json read(const Codec& codec, const Metadata& metadata, std::string_view body) const {
        return UserManaged::read_merged(codec, metadata, body);
    }
};

/// Everything in the body; metadata holds `_v` and `_map` (attribute path → key) so the object
/// describes itself. Needs BehaviorContext::map_json (schema_map_json()).
struct BodyOnly {
    static constexpr std::string_view name = "body-only";
    static constexpr bool reads_body = true;

    S3DB_DECL StoredRecord write(MappedRecord record, const BehaviorContext& ctx) const;

    /// The body, its keys read through the object's own `_map`: a key whose attribute our schema no
    /// longer has comes back under the attribute's old name, untyped, as s3db.js returns it. (Other
    /// keys are decoded by index, which the schema registry keeps permanent.) A body without user
    /// fields falls back to the metadata.
    S3DB_DECL nlohmann::json read(const Codec& codec, const Metadata& metadata, std::string_view body) const;
};

static_assert(Behavior<UserManaged> && Behavior<EnforceLimits> && Behavior<TruncateData> && Behavior<BodyOverflow> &&
              Behavior<BodyOnly>);

/// A behavior chosen at run time (from s3db.json).
using AnyBehavior = std::variant<UserManaged, EnforceLimits, TruncateData, BodyOverflow, BodyOnly>;

/// s3db.js's name → behavior; throws ConfigError naming an unknown one.
S3DB_DECL AnyBehavior behavior_from_name(std::string_view name);

inline std::string_view behavior_name(const AnyBehavior& behavior) {
    return std::visit([](const auto& b) { return std::string_view(b.name); }, behavior);
}

inline bool behavior_reads_body(const AnyBehavior& behavior) {
    return std::visit([](const auto& b) { return b.reads_body; }, behavior);
}

inline StoredRecord behavior_write(const AnyBehavior& behavior, MappedRecord record, const BehaviorContext& ctx) {
    return std::visit([&](const auto& b) { return b.write(std::move(record), ctx); }, behavior);
}

inline nlohmann::json behavior_read(const AnyBehavior& behavior, const Codec& codec, const Metadata& metadata,
                                    std::string_view body) {
    return std::visit([&](const auto& b) { return b.read(codec, metadata, body); }, behavior);
}

}  // namespace s3db

#if S3DB_DEFINE_BODIES
#include <set>

#include "s3db/detail/hashing.hpp"

namespace s3db {

namespace detail {

S3DB_DECL std::int64_t stored_total_size(const MappedRecord& record) {
    std::int64_t total = 0;
    for (const auto& f : record) total += field_size(f);
    return total;
}

S3DB_DECL std::optional<std::uint32_t> js_index_key(std::string_view k) noexcept {
    if (k.empty() || k.size() > 10 || (k.size() > 1 && k[0] == '0')) return std::nullopt;
    std::uint64_t v = 0;
    for (char c : k) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (v >= 4294967295ULL) return std::nullopt;
    return static_cast<std::uint32_t>(v);
}

S3DB_DECL std::string mapped_body_json(const MappedRecord& record, std::vector<std::size_t> order) {
    js_object_order(order, [&](std::size_t i) -> std::string_view { return record[i].key; });
    std::string out;
    std::size_t bytes = 2;
    for (std::size_t i : order) bytes += record[i].key.size() + record[i].value.size() + 6;
    out.reserve(bytes);
    out += '{';
    bool first = true;
    for (std::size_t i : order) {
        if (!first) out += ',';
        first = false;
        append_js_json(out, nlohmann::json(record[i].key));
        out += ':';
        if (record[i].kind == MappedField::Kind::string) append_js_json(out, nlohmann::json(record[i].value));
        else append_js_json(out, mapped_value_json(record[i]));
    }
    out += '}';
    return out;
}

S3DB_DECL std::string mapped_body_json(const MappedRecord& record) {
    std::vector<std::size_t> order(record.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    return mapped_body_json(record, std::move(order));
}

S3DB_DECL std::vector<std::size_t> by_value_size(const MappedRecord& record) {
    std::vector<std::size_t> order;
    order.reserve(record.size());
    for (std::size_t i = 0; i < record.size(); ++i)
        if (record[i].key != "_v") order.push_back(i);
    js_object_order(order, [&](std::size_t i) -> std::string_view { return record[i].key; });
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        return accounted_value_size(record[a]) < accounted_value_size(record[b]);
    });
    return order;
}

S3DB_DECL const MappedField* find_version(const MappedRecord& record) noexcept {
    for (const auto& f : record)
        if (f.key == "_v") return &f;
    return nullptr;
}

S3DB_DECL std::string utf8_prefix(std::string_view s, std::size_t max_bytes) {
    if (s.size() <= max_bytes) return std::string(s);
    std::size_t n = max_bytes;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;  // s[n] starts the cut char
    return std::string(s.substr(0, n));
}

S3DB_DECL std::string encoded_prefix(std::string_view s, std::size_t max_bytes) {
    auto char_end = [&](std::size_t i) {  // end of the UTF-8 character starting at s[i]
        do ++i;
        while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80);
        return i;
    };
    std::size_t n = utf8_prefix(s, max_bytes).size();
    for (std::size_t size; n > 0 && (size = encoded_metadata_size(s.substr(0, n))) > max_bytes;)
        n = utf8_prefix(s.substr(0, n), n - std::max<std::size_t>(1, (size - max_bytes) / 3)).size();
    for (std::size_t next; n < s.size() && (next = char_end(n)) <= max_bytes &&
                           encoded_metadata_size(s.substr(0, next)) <= max_bytes;)
        n = next;
    return std::string(s.substr(0, n));
}

S3DB_DECL std::map<std::string, std::string, std::less<>> plugin_names(const Metadata& metadata) {
    std::map<std::string, std::string, std::less<>> out;
    auto it = metadata.find("_pluginmap");
    if (it == metadata.end()) return out;
    auto parsed = parse_json(it->second);
    if (!parsed || !parsed->is_object()) return out;
    for (auto e = parsed->begin(); e != parsed->end(); ++e)
        if (e.value().is_string()) out.emplace(e.value().get<std::string>(), e.key());
    return out;
}

S3DB_DECL nlohmann::json& at_path(nlohmann::json& out, std::string_view path) {
    nlohmann::json* target = &out;
    while (true) {
        if (!target->is_object()) *target = nlohmann::json::object();
        auto dot = path.find('.');
        target = &(*target)[std::string(path.substr(0, dot))];
        if (dot == std::string_view::npos) return *target;
        path.remove_prefix(dot + 1);
    }
}

S3DB_DECL nlohmann::json loose_value(const nlohmann::json& v) {
    if (!v.is_string()) return v;
    const auto& s = v.get_ref<const std::string&>();
    if (s == "[object Object]") return nlohmann::json::object();
    if (!s.empty() && (s.front() == '{' || s.front() == '['))
        if (auto j = parse_json(s)) return std::move(*j);
    return v;
}

S3DB_DECL void place_raw(const Codec& codec, nlohmann::json& out, std::string_view key, nlohmann::json value) {
    nlohmann::json probe = nlohmann::json::object();
    codec.decode_field(probe, key, "null");
    const nlohmann::json* src = &probe;
    nlohmann::json* dst = &out;
    bool placed = false;
    while (src->is_object() && src->size() == 1) {
        auto it = src->begin();
        if (!dst->is_object()) *dst = nlohmann::json::object();
        dst = &(*dst)[it.key()];
        src = &it.value();
        placed = true;
    }
    if (placed) *dst = std::move(value);
}

S3DB_DECL void decode_entry(const Codec& codec, nlohmann::json& out, std::string_view key, const nlohmann::json& value,
                            const Renames& loose) {
    if (auto it = loose.find(key); it != loose.end()) {
        at_path(out, it->second) = loose_value(value);
        return;
    }
    if (value.is_string()) codec.decode_field(out, key, value.get_ref<const std::string&>());
    else if (value.is_null()) codec.decode_field(out, key, "null");
    else place_raw(codec, out, key, value);
}

S3DB_DECL void decode_metadata(const Codec& codec, const Metadata& metadata, nlohmann::json& out, const Renames& loose) {
    codec.decode_fields(out, metadata, [&](std::string_view key, const std::string& value) {
        if (is_internal_field(key)) return true;
        auto it = loose.find(key);
        if (it == loose.end()) return false;
        at_path(out, it->second) = loose_value(nlohmann::json(value));
        return true;
    });
}

S3DB_DECL bool decode_body(const Codec& codec, std::string_view body, nlohmann::json& out, const Renames& loose) {
    if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return false;
    auto parsed = parse_json(body);
    if (!parsed || !parsed->is_object()) return false;
    for (auto it = parsed->begin(); it != parsed->end(); ++it) {
        if (is_internal_field(it.key()) || it.key() == "id") continue;
        decode_entry(codec, out, it.key(), it.value(), loose);
    }
    return true;
}

S3DB_DECL void drop_internal(nlohmann::json& out, const Renames& loose) {
    auto kept = [&](const std::string& name) {
        for (const auto& [key, path] : loose)
            if (path == name) return true;
        return false;
    };
    for (auto it = out.begin(); it != out.end();) {
        if (it.key() == "id" || (is_internal_field(it.key()) && !kept(it.key()))) it = out.erase(it);
        else ++it;
    }
}

S3DB_DECL std::string top_level_field(const Codec& codec, std::string_view key) {
    nlohmann::json probe = nlohmann::json::object();
    codec.decode_field(probe, key, "null");
    return probe.size() == 1 ? probe.begin().key() : std::string(key);
}

S3DB_DECL Metadata metadata_of(MappedRecord& record, const std::vector<std::size_t>& keep) {
    MappedRecord subset;
    subset.reserve(keep.size());
    for (std::size_t i : keep) subset.push_back(std::move(record[i]));
    return Codec::to_metadata(std::move(subset));
}

S3DB_DECL StoredRecord with_body(Metadata metadata, std::string body) {
    StoredRecord r{std::move(metadata), std::move(body), {}};
    if (!r.body.empty()) r.content_type = json_content_type;
    return r;
}

S3DB_DECL StoredRecord with_digest_body(Metadata metadata) {
    std::size_t size = 0;
    for (const auto& [k, v] : metadata) size += k.size() + v.size() + 2;
    std::string stamp;
    stamp.reserve(size);
    for (const auto& [k, v] : metadata) stamp.append(k).append(1, '\0').append(v).append(1, '\0');
    auto version = metadata.find("_v");
    std::string body;
    body.reserve(128 + (version == metadata.end() ? 0 : version->second.size()));  // room for the ETag salt
    body += "{\"_v\":";
    append_js_json(body, version == metadata.end() ? nlohmann::json() : nlohmann::json(version->second));
    body.append(",\"_digest\":\"").append(sha256_hex(stamp)).append("\"}");
    return with_body(std::move(metadata), std::move(body));
}

S3DB_DECL bool is_digest_body(std::string_view body) noexcept {
    constexpr std::string_view head = "{\"_v\":\"", mid = "\",\"_digest\":\"";
    constexpr std::size_t digest_size = 64;
    auto plain_until_quote = [](std::string_view s) {  // where the string's closing quote is
        auto quote = s.find('"');
        return quote != std::string_view::npos && s.substr(0, quote).find('\\') == std::string_view::npos
                   ? quote
                   : std::string_view::npos;
    };
    if (!body.starts_with(head)) return false;
    body.remove_prefix(head.size());
    auto end_v = plain_until_quote(body);
    if (end_v == std::string_view::npos) return false;
    body.remove_prefix(end_v);
    if (!body.starts_with(mid)) return false;
    body.remove_prefix(mid.size());
    if (plain_until_quote(body) != digest_size) return false;
    body.remove_prefix(digest_size);
    if (!body.starts_with("\"}")) return false;
    body.remove_prefix(2);
    return body.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

S3DB_DECL StoredRecord version_only_layout(MappedRecord record, const BehaviorContext& ctx) {
    std::string body = mapped_body_json(record);
    Metadata m;
    if (const MappedField* v = find_version(record)) m.emplace("_v", v->value);
    if (!ctx.plugin_map_json.empty()) m.emplace("_pluginmap", std::string(ctx.plugin_map_json));
    return with_body(std::move(m), std::move(body));
}

}  // namespace detail

S3DB_DECL std::string schema_map_json(const Schema& schema, const std::map<std::string, int>& mapping) {
    std::vector<std::string> keys;
    for (auto& k : attribute_keys(schema.definition()))
        if (mapping.count(k)) keys.push_back(std::move(k));
    std::vector<std::size_t> order(keys.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    detail::js_object_order(order, [&](std::size_t i) -> std::string_view { return keys[i]; });
    std::string out = "{";
    for (std::size_t i : order) {
        if (out.size() > 1) out += ',';
        detail::append_js_json(out, nlohmann::json(keys[i]));
        out += ':';
        detail::append_js_json(out, nlohmann::json(detail::b36_encode(static_cast<std::uint64_t>(mapping.at(keys[i])))));
    }
    out += '}';
    return out;
}

S3DB_DECL StoredRecord UserManaged::write(MappedRecord record, const BehaviorContext& ctx) const {
    if (detail::stored_total_size(record) > ctx.effective_limit) return detail::version_only_layout(std::move(record), ctx);
    Metadata m = Codec::to_metadata(std::move(record));
    if (ctx.kind == WriteKind::insert) return {std::move(m), {}, {}};
    return detail::with_digest_body(std::move(m));
}

S3DB_DECL nlohmann::json UserManaged::read_merged(const Codec& codec, const Metadata& metadata, std::string_view body) {
    nlohmann::json out = nlohmann::json::object();
    auto loose = detail::plugin_names(metadata);
    const bool decoded = !body.empty() && !detail::is_digest_body(body) && detail::decode_body(codec, body, out, loose);
    // A body that is not JSON is ignored, as s3db.js does, unless the metadata says part of the
    // record is there: then returning the rest would lose fields without a word.
    if (!decoded)
        if (auto flag = metadata.find("_overflow"); flag != metadata.end() && flag->second == "true")
            throw Error("its metadata says fields overflowed into the body, and the body holds no JSON object");
    detail::decode_metadata(codec, metadata, out, loose);
    detail::drop_internal(out, loose);
    return out;
}

S3DB_DECL StoredRecord EnforceLimits::write(MappedRecord record, const BehaviorContext& ctx) const {
    auto size = detail::stored_total_size(record);
    if (size > ctx.effective_limit)
        throw RecordTooLarge(std::string(ctx.resource), std::string(ctx.id), static_cast<std::size_t>(size),
                             ctx.effective_limit);
    if (ctx.kind == WriteKind::insert) return {Codec::to_metadata(std::move(record)), {}, {}};
    std::string body = detail::mapped_body_json(record);
    return detail::with_body(Codec::to_metadata(std::move(record)), std::move(body));
}

S3DB_DECL StoredRecord TruncateData::write(MappedRecord record, const BehaviorContext& ctx) const {
    if (detail::stored_total_size(record) <= ctx.effective_limit) return {Codec::to_metadata(std::move(record)), {}, {}};
    const std::int64_t budget = ctx.effective_limit - detail::truncated_flag_bytes;
    std::vector<std::size_t> keep;
    std::int64_t used = 0;
    for (std::size_t i = 0; i < record.size(); ++i)
        if (record[i].key == "_v") {
            keep.push_back(i);
            used += detail::field_size(record[i]);
        }
    for (std::size_t i : detail::by_value_size(record)) {
        MappedField& f = record[i];
        if (used + detail::field_size(f) <= budget) {
            keep.push_back(i);
            used += detail::field_size(f);
            continue;
        }
        if (f.secret) continue;
        std::int64_t room = budget - used - static_cast<std::int64_t>(f.key.size());
        if (room >= 0) {  // the first field that does not fit keeps what fits; larger ones are dropped
            f.value = detail::encoded_prefix(f.value, static_cast<std::size_t>(room));
            f.kind = MappedField::Kind::string;
            keep.push_back(i);
        }
        break;
    }
    Metadata m = detail::metadata_of(record, keep);
    m.insert_or_assign("_truncated", "true");
    return {std::move(m), {}, {}, true};
}

S3DB_DECL StoredRecord BodyOverflow::write(MappedRecord record, const BehaviorContext& ctx) const {
    const std::int64_t plugin_map_size =
        ctx.plugin_map_json.empty() ? 0 : static_cast<std::int64_t>(10 + ctx.plugin_map_json.size());
    if (detail::stored_total_size(record) + plugin_map_size <= ctx.effective_limit) {
        Metadata m = Codec::to_metadata(std::move(record));
        if (plugin_map_size) m.emplace("_pluginmap", std::string(ctx.plugin_map_json));
        // An update gets a digest body, so its ETag differs from the version it replaces.
        if (ctx.kind == WriteKind::update) return detail::with_digest_body(std::move(m));
        return {std::move(m), {}, {}};
    }
    const std::int64_t budget = ctx.effective_limit - detail::overflow_flag_bytes;
    std::vector<std::size_t> keep, spill;
    std::int64_t used = plugin_map_size;
    for (std::size_t i = 0; i < record.size(); ++i)
        if (record[i].key == "_v") {
            keep.push_back(i);
            used += detail::field_size(record[i]);
        }
    const std::vector<std::size_t> sorted = detail::by_value_size(record);
    std::vector<char> spilled(record.size(), 0);
    bool spilling = false;
    for (std::size_t i : sorted) {
        // once one field spills, every larger one does too (s3db.js)
        spilling = spilling || used + detail::field_size(record[i]) > budget;
        if (spilling) spilled[i] = 1;
        else used += detail::field_size(record[i]);
    }
    if (ctx.codec) {  // a nested object goes to the body whole if any of its fields does
        std::vector<std::string> groups(record.size());
        std::set<std::string_view> spilled_groups;
        for (std::size_t i : sorted) {
            groups[i] = detail::top_level_field(*ctx.codec, record[i].key);
            if (spilled[i]) spilled_groups.insert(groups[i]);
        }
        for (std::size_t i : sorted)
            if (!spilled[i] && spilled_groups.count(groups[i])) spilled[i] = 1;
    }
    for (std::size_t i : sorted) (spilled[i] ? spill : keep).push_back(i);
    std::string body = detail::mapped_body_json(record, spill);
    Metadata m = detail::metadata_of(record, keep);
    if (plugin_map_size) m.emplace("_pluginmap", std::string(ctx.plugin_map_json));
    m.insert_or_assign("_overflow", "true");
    return detail::with_body(std::move(m), std::move(body));
}

S3DB_DECL StoredRecord BodyOnly::write(MappedRecord record, const BehaviorContext& ctx) const {
    if (ctx.map_json.empty())
        throw ConfigError("behavior body-only of resource '" + std::string(ctx.resource) +
                          "' needs the attribute map (BehaviorContext::map_json, from schema_map_json)");
    std::string body = detail::mapped_body_json(record);
    Metadata m;
    if (const MappedField* v = detail::find_version(record)) m.emplace("_v", v->value);
    m.emplace("_map", std::string(ctx.map_json));
    if (!ctx.plugin_map_json.empty()) m.emplace("_pluginmap", std::string(ctx.plugin_map_json));
    return detail::with_body(std::move(m), std::move(body));
}

S3DB_DECL nlohmann::json BodyOnly::read(const Codec& codec, const Metadata& metadata, std::string_view body) const {
    nlohmann::json out = nlohmann::json::object();
    auto loose = detail::plugin_names(metadata);
    if (auto it = metadata.find("_map"); it != metadata.end())
        if (auto map = detail::parse_json(it->second); map && map->is_object())
            for (auto e = map->begin(); e != map->end(); ++e)
                if (e.value().is_string() && !codec.schema().find(e.key()))
                    loose.emplace(e.value().get<std::string>(), e.key());
    if (!detail::decode_body(codec, body, out, loose) && body.find_first_not_of(" \t\r\n") != std::string_view::npos)
        throw Error("its body is the record under body-only, and holds no JSON object");
    detail::drop_internal(out, loose);
    if (!out.empty()) return out;
    detail::decode_metadata(codec, metadata, out, loose);
    detail::drop_internal(out, loose);
    return out;
}

S3DB_DECL AnyBehavior behavior_from_name(std::string_view name) {
    if (name == UserManaged::name) return UserManaged{};
    if (name == EnforceLimits::name) return EnforceLimits{};
    if (name == TruncateData::name) return TruncateData{};
    if (name == BodyOverflow::name) return BodyOverflow{};
    if (name == BodyOnly::name) return BodyOnly{};
    throw ConfigError("unknown behavior '" + std::string(name) +
                      "' (expected user-managed, enforce-limits, truncate-data, body-overflow or body-only)");
}

}  // namespace s3db
#endif  // S3DB_DEFINE_BODIES
