#pragma once
// Records ↔ object metadata, byte-compatible with s3db.js (§2 of the internals): each attribute
// is stored under the base36 rendering of its permanent index, with a compact per-type value
// (base62 numbers and dates, '|'-joined arrays, base64 IPs, AES-GCM secrets, ...). Unknown fields
// go under their own (sanitised, lowercased) name. Values here are raw UTF-8; the transports do
// the `u:`/`b:` wire encoding.
//
// The mapper's output (MappedRecord) is kept as its own step because s3db.js's behaviors and its
// 2 KB size accounting work on it, before key sanitising and value stringification. The attribute
// indices come from the schema registry (schema_registry.hpp, kept by the catalogue).

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "s3db/errors.hpp"
#include "s3db/core/schema.hpp"
#include "s3db/core/schema_registry.hpp"
#include "s3db/detail/base62.hpp"
#include "s3db/detail/config.hpp"
#include "s3db/detail/encoding.hpp"
#include "s3db/core/js_type_codec.hpp"
#include "s3db/transport/transport.hpp"

namespace s3db {

/// One entry of a mapped record, as s3db.js's mapper leaves it.
struct MappedField {
    /// JavaScript type of the mapped value: the size calculator counts `true` as 1 byte and null
    /// as 0, while the store receives "true" and "null".
    enum class Kind : std::uint8_t { string, number, boolean, null };

    std::string key;    // base36 index, "_v", or the raw path of an unknown field (not yet sanitised)
    std::string value;  // the metadata value text
    Kind kind = Kind::string;
    bool secret = false;  // a `secret` value or a password hash: whole or not at all (a cut one is useless)
};
using MappedRecord = std::vector<MappedField>;

struct CodecOptions {
    std::string passphrase = "secret";  // s3db.js's default `security.passphrase`
    bool auto_encrypt = true;           // encrypt `secret` fields on write
    bool auto_decrypt = true;           // decrypt them on read (off: ciphertext is returned, and written back as is)
    std::string version = "v1";         // written as `_v`; empty writes none
};

/// s3db.js's metadata limit and size accounting (§2.4).
inline constexpr std::size_t s3db_metadata_limit = 2047;

namespace detail {

class SecretBox;  // detail/crypto.hpp comes with the bodies, the only code that opens one

/// JavaScript's `JSON.stringify` (numbers as `String(n)`, non-finite as null).
S3DB_DECL void append_js_json(std::string& out, const nlohmann::json& v);

inline std::string js_json(const nlohmann::json& v) {
    std::string out;
    append_js_json(out, v);
    return out;
}

/// The key s3db.js's clients write: every UTF-16 unit outside [A-Za-z0-9_-] becomes '_', then
/// lowercase (so a character outside the BMP becomes "__").
S3DB_DECL std::string sanitize_metadata_key(std::string_view key);

S3DB_DECL bool is_sanitary_key(std::string_view key) noexcept;

/// '|'-joined items, '\' and '|' inside an item escaped with '\' (s3db.js `fromArray`).
S3DB_DECL void append_escaped_item(std::string& out, std::string_view item);

/// s3db.js `toArray`: calls `fn(std::string&&)` for each item split on unescaped '|'; "" is the
/// empty array.
template <class Fn>
void for_each_escaped(std::string_view s, Fn&& fn) {
    if (s.empty()) return;
    std::string current;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) {
            current += s[++i];
        } else if (s[i] == '|') {
            fn(std::move(current));
            current.clear();
        } else {
            current += s[i];
        }
    }
    fn(std::move(current));
}

/// JSON text that s3db.js would parse (JSON.parse); nullopt when it does not parse.
/// Text nesting deeper than max_nesting_depth does not parse: nothing could walk the value safely.
S3DB_DECL std::optional<nlohmann::json> parse_json(std::string_view s);

/// s3db.js's compressed IPv6 form: lowercase groups without leading zeros, the longest run (of
/// at least two) of zero groups, the first on ties, written as "::".
S3DB_DECL std::string compress_ipv6(const unsigned char* b);

}  // namespace detail

// ---- sizes (§2.4) ----

/// Bytes s3db.js counts for a mapped value (`calculateAttributeSizes`): UTF-8 bytes of the text,
/// with booleans counted as "1"/"0" and nulls as "".
inline std::size_t accounted_value_size(const MappedField& f) noexcept {
    switch (f.kind) {
        case MappedField::Kind::boolean: return 1;
        case MappedField::Kind::null: return 0;
        default: return f.value.size();
    }
}

/// s3db.js `calculateTotalSize` of a mapped record: every key plus every accounted value.
inline std::size_t calculate_total_size(const MappedRecord& record) noexcept {
    std::size_t total = 0;
    for (const auto& f : record) total += f.key.size() + accounted_value_size(f);
    return total;
}

/// A mapped value as the JSON s3db.js puts in a body (behaviors that move fields out of the
/// metadata write `{key: value}` with these).
S3DB_DECL nlohmann::json mapped_value_json(const MappedField& f);

/// s3db.js `calculateSystemOverhead`: `_v`, the two timestamps (ISO placeholders) and the id.
inline std::size_t calculate_system_overhead(std::string_view version, bool timestamps, std::string_view id) noexcept {
    std::size_t n = 2 + version.size();
    if (timestamps) n += 2 * (9 + 24);
    if (!id.empty()) n += 2 + id.size();
    return n;
}

/// Bytes left for a record's own fields (may be negative for absurd ids).
inline std::int64_t calculate_effective_limit(std::size_t limit, std::string_view version, bool timestamps,
                                              std::string_view id) noexcept {
    return static_cast<std::int64_t>(limit) - static_cast<std::int64_t>(calculate_system_overhead(version, timestamps, id));
}

// ---- the codec ----

/// Maps records of one schema to metadata and back. Immutable after construction, cheap to copy
/// (copies share the schema and the secret keys), and thread-safe.
class Codec {
public:
    /// `mapping` is the schema registry's attribute path → index (use `assign_indices` for a new
    /// resource). Attributes without an index are written under their path, as s3db.js does.
    S3DB_DECL Codec(Schema schema, const std::map<std::string, int>& mapping, CodecOptions options = {});

    const Schema& schema() const noexcept { return state_->schema; }
    const CodecOptions& options() const noexcept { return state_->options; }

    /// s3db.js's mapper: the record (validated) as mapped fields, `_v` first. `id` is not stored.
    S3DB_DECL MappedRecord map(const nlohmann::json& record) const;

    /// What the store receives: keys sanitised and lowercased as s3db.js's clients do.
    static S3DB_DECL Metadata to_metadata(MappedRecord&& record);

    Metadata encode(const nlohmann::json& record) const { return to_metadata(map(record)); }

    /// The record stored in `metadata` (`_v` left out; other `_` keys such as `_overflow` are
    /// returned like any unknown field, for the caller to drop). Values that are not in the form
    /// their attribute expects come back as the stored text, never dropped or thrown on, except a
    /// secret's ciphertext that does not open (DecryptionFailed: it is never passed off as the value).
    S3DB_DECL nlohmann::json decode(const Metadata& metadata) const;

    /// `decode_field` for each entry of `metadata` that `handled(key, value)` does not take. A
    /// record is a std::map: the top-level fields, which are most of a record, are added in name
    /// order behind the last one, with no search; nested and unknown fields take decode_field.
    template <class Handled>
    void decode_fields(nlohmann::json& out, const Metadata& metadata, Handled&& handled) const {
        struct Top {
            const Node* node;
            std::string_view value;
        };
        Top tops[64];
        std::size_t n = 0;
        for (const auto& [key, value] : metadata) {
            if (handled(std::string_view(key), value) || key == "_v") continue;
            const Node* node = lookup(key);
            if (node && node->segments.size() == 1 && n < std::size(tops) && out.is_object()) tops[n++] = {node, value};
            else decode_field(out, key, value);
        }
        for (std::size_t i = 1; i < n; ++i)
            for (std::size_t j = i; j > 0 && tops[j].node->rank < tops[j - 1].node->rank; --j) std::swap(tops[j], tops[j - 1]);
        if (!n) return;
        auto& fields = out.get_ref<nlohmann::json::object_t&>();
        for (std::size_t i = 0; i < n; ++i) {
            if (tops[i].value == "undefined") continue;
            if (auto v = decode_value(*tops[i].node->attr, tops[i].value))
                fields.insert_or_assign(fields.end(), tops[i].node->segments.back(), std::move(*v));
        }
    }

    /// Decodes one stored entry into `out` (for behaviors that keep fields in the body).
    S3DB_DECL void decode_field(nlohmann::json& out, std::string_view key, std::string_view value) const;

private:
    static constexpr int max_index = 1 << 20;  // the decode table is indexed by it

    struct Node {
        const Attribute* attr = nullptr;
        std::string key;                    // metadata key: base36 index, or the path when unmapped
        std::vector<std::string> segments;  // path split on '.'
        std::vector<Node> children;         // nested objects, sorted by name
        std::size_t rank = 0;               // position among its siblings, in name order
    };

    struct State {
        State(Schema s, CodecOptions o) : schema(std::move(s)), options(std::move(o)) {}
        Schema schema;
        CodecOptions options;
        std::vector<Node> nodes;              // top level, sorted by name
        std::vector<const Node*> by_index;    // registry index → node
        std::vector<std::pair<std::string, const Node*>> unmapped;  // stored key → leaf without an index
        std::shared_ptr<detail::SecretBox> box;
    };

    static S3DB_DECL std::vector<Node> build(const std::vector<Attribute>& attrs, const std::map<std::string, int>& mapping,
                                             State& st, const std::vector<std::string>& parent = {});

    static S3DB_DECL void index_nodes(const std::vector<Node>& nodes, const std::map<std::string, int>& mapping, State& st);

    S3DB_DECL const Node* lookup(std::string_view key) const noexcept;

    // ---- writing ----

    static void push(MappedRecord& out, const std::string& key, std::string value,
                     MappedField::Kind kind = MappedField::Kind::string) {
        out.push_back(MappedField{key, std::move(value), kind});
    }

    /// A secret's stored text, marked so that behaviors never cut it.
    static void push_secret(MappedRecord& out, const std::string& key, std::string value) {
        out.push_back(MappedField{key, std::move(value), MappedField::Kind::string, true});
    }

    /// A value s3db.js passes through untyped (unknown fields, untyped values of typed fields).
    static S3DB_DECL void push_plain(MappedRecord& out, const std::string& key, const nlohmann::json& v);

    S3DB_DECL void map_object(const std::vector<Node>& nodes, const nlohmann::json& object, std::string& prefix, bool top,
                              MappedRecord& out) const;

    /// Unknown fields: flattened like s3db.js's `flatten`, under their raw path.
    static S3DB_DECL void map_unknown(std::string& prefix, const std::string& name, const nlohmann::json& v, MappedRecord& out);

    S3DB_DECL void map_value(const Node& node, const nlohmann::json& v, MappedRecord& out) const;

    static S3DB_DECL std::optional<std::string> pack_uuid(std::string_view s);

    static S3DB_DECL std::string encode_array(ArrayEncoding encoding, const nlohmann::json& items);

    // ---- reading ----

    /// An entry no attribute owns: s3db.js returns it as stored, JSON-parsed when it looks like JSON.
    static S3DB_DECL nlohmann::json decode_unknown(std::string_view value);

    S3DB_DECL std::optional<nlohmann::json> decode_value(const Attribute& a, std::string_view value) const;

    static S3DB_DECL nlohmann::json decode_array(const Attribute& a, std::string_view value);

    std::shared_ptr<const State> state_;
};

}  // namespace s3db

#if S3DB_DEFINE_BODIES
#include "s3db/detail/crypto.hpp"

namespace s3db {

namespace detail {

S3DB_DECL void append_js_json(std::string& out, const nlohmann::json& v) {
    switch (v.type()) {
        case nlohmann::json::value_t::null: out += "null"; break;
        case nlohmann::json::value_t::boolean: out += v.get<bool>() ? "true" : "false"; break;
        case nlohmann::json::value_t::number_integer: append_js_integer(out, v.get<std::int64_t>()); break;
        case nlohmann::json::value_t::number_unsigned: {
            auto u = v.get<std::uint64_t>();
            if (u < 9007199254740992ULL) out += std::to_string(u);
            else append_js_number(out, static_cast<double>(u));
            break;
        }
        case nlohmann::json::value_t::number_float: {
            double d = v.get<double>();
            if (std::isfinite(d)) append_js_number(out, d);
            else out += "null";
            break;
        }
        case nlohmann::json::value_t::string: {
            out += '"';
            for (char ch : v.get_ref<const std::string&>()) {
                auto c = static_cast<unsigned char>(ch);
                switch (c) {
                    case '"': out += "\\\""; break;
                    case '\\': out += "\\\\"; break;
                    case '\b': out += "\\b"; break;
                    case '\f': out += "\\f"; break;
                    case '\n': out += "\\n"; break;
                    case '\r': out += "\\r"; break;
                    case '\t': out += "\\t"; break;
                    default:
                        if (c < 0x20) {
                            out += "\\u00";
                            out += hex_digits[c >> 4];
                            out += hex_digits[c & 15];
                        } else {
                            out += ch;
                        }
                }
            }
            out += '"';
            break;
        }
        case nlohmann::json::value_t::array: {
            out += '[';
            bool first = true;
            for (const auto& item : v) {
                if (!first) out += ',';
                first = false;
                append_js_json(out, item);
            }
            out += ']';
            break;
        }
        case nlohmann::json::value_t::object: {
            out += '{';
            bool first = true;
            for (auto it = v.begin(); it != v.end(); ++it) {
                if (!first) out += ',';
                first = false;
                append_js_json(out, nlohmann::json(it.key()));
                out += ':';
                append_js_json(out, it.value());
            }
            out += '}';
            break;
        }
        default: out += "null"; break;  // binary / discarded: nothing JSON can carry
    }
}

S3DB_DECL std::string sanitize_metadata_key(std::string_view key) {
    std::string out;
    out.reserve(key.size());
    for (std::size_t i = 0; i < key.size(); ++i) {
        auto c = static_cast<unsigned char>(key[i]);
        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '_' || c == '-') {
            out += static_cast<char>(c);
        } else if (c >= 'A' && c <= 'Z') {
            out += static_cast<char>(c - 'A' + 'a');
        } else if (c < 0x80) {
            out += '_';
        } else if ((c & 0xC0) != 0x80) {  // a lead byte: one '_' per UTF-16 unit of its code point
            out += '_';
            if (c >= 0xF0) out += '_';
        }
    }
    return out;
}

S3DB_DECL bool is_sanitary_key(std::string_view key) noexcept {
    for (char ch : key) {
        auto c = static_cast<unsigned char>(ch);
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '_' || c == '-')) return false;
    }
    return true;
}

S3DB_DECL void append_escaped_item(std::string& out, std::string_view item) {
    for (char c : item) {
        if (c == '\\' || c == '|') out += '\\';
        out += c;
    }
}

S3DB_DECL std::optional<nlohmann::json> parse_json(std::string_view s) {
    if (json_text_too_deep(s)) return std::nullopt;
    auto j = nlohmann::json::parse(s.begin(), s.end(), nullptr, false);
    if (j.is_discarded()) return std::nullopt;
    return j;
}

S3DB_DECL std::string compress_ipv6(const unsigned char* b) {
    unsigned groups[8];
    for (int k = 0; k < 8; ++k) groups[k] = static_cast<unsigned>(b[2 * k]) << 8 | b[2 * k + 1];
    int best = -1, best_len = 0;
    for (int k = 0; k < 8;) {
        if (groups[k] != 0) {
            ++k;
            continue;
        }
        int start = k;
        while (k < 8 && groups[k] == 0) ++k;
        if (k - start >= 2 && k - start > best_len) {
            best = start;
            best_len = k - start;
        }
    }
    auto hex = [](unsigned g) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "%x", g);
        return std::string(buf);
    };
    std::string out;
    if (best < 0) {
        for (int k = 0; k < 8; ++k) {
            if (k) out += ':';
            out += hex(groups[k]);
        }
        return out;
    }
    for (int k = 0; k < best; ++k) {
        if (k) out += ':';
        out += hex(groups[k]);
    }
    out += "::";
    for (int k = best + best_len; k < 8; ++k) {
        if (k > best + best_len) out += ':';
        out += hex(groups[k]);
    }
    return out;
}

}  // namespace detail

S3DB_DECL nlohmann::json mapped_value_json(const MappedField& f) {
    switch (f.kind) {
        case MappedField::Kind::null: return nullptr;
        case MappedField::Kind::boolean: return f.value == "true";
        case MappedField::Kind::number: {
            auto n = detail::parse_double(f.value);
            return n ? detail::json_number(*n) : nlohmann::json(f.value);
        }
        default: return f.value;
    }
}

S3DB_DECL Codec::Codec(Schema schema, const std::map<std::string, int>& mapping, CodecOptions options) {
    auto st = std::make_shared<State>(std::move(schema), std::move(options));
    for (const auto& [path, index] : mapping)
        if (index < 0 || index > max_index)
            throw SchemaError(path, std::to_string(index), "attribute index out of range (0 to 2^20)");
    st->nodes = build(st->schema.attributes(), mapping, *st);
    if (st->options.auto_encrypt || st->options.auto_decrypt)
        st->box = std::make_shared<detail::SecretBox>(st->options.passphrase);
    state_ = std::move(st);
}

S3DB_DECL MappedRecord Codec::map(const nlohmann::json& record) const {
    // Schema::check refuses such records first; this guards callers that map without it.
    if (auto where = detail::too_deep(record))
        throw ValidationError({{*where, "nestingDepth", "", std::to_string(detail::max_nesting_depth),
                                "The '" + *where + "' field nests objects and arrays deeper than " +
                                    std::to_string(detail::max_nesting_depth) + " levels."}});
    MappedRecord out;
    // One entry per field and `_v`: nested objects add entries and grow it, but most records
    // have none, and an exact size keeps the vector small enough for malloc's per-thread cache.
    out.reserve(record.is_object() ? record.size() + 1 : 1);
    if (!state_->options.version.empty()) out.push_back({"_v", state_->options.version, MappedField::Kind::string});
    if (!record.is_object()) return out;
    std::string prefix;
    map_object(state_->nodes, record, prefix, true, out);
    return out;
}

S3DB_DECL Metadata Codec::to_metadata(MappedRecord&& record) {
    Metadata::container_type entries;
    entries.reserve(record.size());
    for (auto& f : record) {
        std::string key = detail::is_sanitary_key(f.key) ? std::move(f.key) : detail::sanitize_metadata_key(f.key);
        entries.emplace_back(std::move(key), std::move(f.value));
    }
    return Metadata::from_entries(std::move(entries));
}

S3DB_DECL nlohmann::json Codec::decode(const Metadata& metadata) const {
    nlohmann::json out = nlohmann::json::object();
    decode_fields(out, metadata, [](std::string_view, const std::string&) { return false; });
    return out;
}

S3DB_DECL void Codec::decode_field(nlohmann::json& out, std::string_view key, std::string_view value) const {
    if (key == "_v") return;
    const Node* node = lookup(key);
    if (value == "undefined") return;
    if (!node) {
        nlohmann::json* target = &out;
        std::string_view rest = key;
        for (auto dot = rest.find('.'); dot != std::string_view::npos; dot = rest.find('.')) {
            nlohmann::json& next = (*target)[std::string(rest.substr(0, dot))];
            if (!next.is_object()) next = nlohmann::json::object();
            target = &next;
            rest.remove_prefix(dot + 1);
        }
        (*target)[std::string(rest)] = decode_unknown(value);
        return;
    }
    nlohmann::json* target = &out;
    for (std::size_t i = 0; i + 1 < node->segments.size(); ++i) {
        nlohmann::json& next = (*target)[node->segments[i]];
        if (!next.is_object()) next = nlohmann::json::object();
        target = &next;
    }
    std::optional<nlohmann::json> v = decode_value(*node->attr, value);
    if (v) (*target)[node->segments.back()] = std::move(*v);
}

S3DB_DECL std::vector<Codec::Node> Codec::build(const std::vector<Attribute>& attrs,
                                                const std::map<std::string, int>& mapping, State& st,
                                                const std::vector<std::string>& parent) {
    std::vector<Node> nodes;
    nodes.reserve(attrs.size());
    for (const auto& a : attrs) {
        Node n;
        n.attr = &a;
        n.segments = parent;
        n.segments.push_back(a.name);
        auto it = mapping.find(a.path);
        n.key = it != mapping.end() ? detail::b36_encode(static_cast<std::uint64_t>(it->second)) : a.path;
        if (a.is_object()) n.children = build(a.children, mapping, st, n.segments);
        nodes.push_back(std::move(n));
    }
    std::sort(nodes.begin(), nodes.end(), [](const Node& x, const Node& y) { return x.attr->name < y.attr->name; });
    for (std::size_t i = 0; i < nodes.size(); ++i) nodes[i].rank = i;
    // index only after sorting: the addresses are final now (children vectors are already built)
    if (parent.empty()) index_nodes(nodes, mapping, st);
    return nodes;
}

S3DB_DECL void Codec::index_nodes(const std::vector<Node>& nodes, const std::map<std::string, int>& mapping, State& st) {
    for (const auto& n : nodes) {
        auto it = mapping.find(n.attr->path);
        if (it != mapping.end()) {
            auto i = static_cast<std::size_t>(it->second);
            if (i >= st.by_index.size()) st.by_index.resize(i + 1, nullptr);
            st.by_index[i] = &n;
        } else if (!n.attr->is_object()) {
            st.unmapped.emplace_back(detail::sanitize_metadata_key(n.attr->path), &n);
        }
        index_nodes(n.children, mapping, st);
    }
}

S3DB_DECL const Codec::Node* Codec::lookup(std::string_view key) const noexcept {
    for (const auto& [k, node] : state_->unmapped)
        if (k == key) return node;
    if (auto index = detail::b36_decode(key); index && *index < state_->by_index.size()) return state_->by_index[*index];
    return nullptr;
}

S3DB_DECL void Codec::push_plain(MappedRecord& out, const std::string& key, const nlohmann::json& v) {
    using K = MappedField::Kind;
    switch (v.type()) {
        case nlohmann::json::value_t::string: push(out, key, v.get<std::string>()); break;
        case nlohmann::json::value_t::null: push(out, key, "null", K::null); break;
        case nlohmann::json::value_t::boolean: push(out, key, v.get<bool>() ? "true" : "false", K::boolean); break;
        case nlohmann::json::value_t::number_integer:
        case nlohmann::json::value_t::number_unsigned:
        case nlohmann::json::value_t::number_float: {
            std::string s;
            if (v.is_number_float()) detail::append_js_number(s, v.get<double>());
            else detail::append_js_json(s, v);
            push(out, key, std::move(s), K::number);
            break;
        }
        default: push(out, key, detail::js_json(v)); break;  // arrays, objects
    }
}

S3DB_DECL void Codec::map_object(const std::vector<Node>& nodes, const nlohmann::json& object, std::string& prefix,
                                 bool top, MappedRecord& out) const {
    // Both sides are sorted by name (nlohmann::json objects are std::maps): walk them together.
    auto next = nodes.begin();
    for (auto it = object.begin(); it != object.end(); ++it) {
        const std::string& name = it.key();
        const nlohmann::json& v = it.value();
        if (top && name == "id") continue;  // the id lives in the object key
        while (next != nodes.end() && next->attr->name < name) ++next;
        const Node* node = next != nodes.end() && next->attr->name == name ? &*next : nullptr;
        if (!node) {
            map_unknown(prefix, name, v, out);
            continue;
        }
        if (node->attr->is_object()) {
            if (v.is_object() && !v.empty()) {
                std::size_t mark = prefix.size();
                prefix += name;
                prefix += '.';
                map_object(node->children, v, prefix, false, out);
                prefix.resize(mark);
            } else {
                push_plain(out, node->key, v);  // {} as "{}", null as null
            }
            continue;
        }
        map_value(*node, v, out);
    }
}

S3DB_DECL void Codec::map_unknown(std::string& prefix, const std::string& name, const nlohmann::json& v, MappedRecord& out) {
    std::size_t mark = prefix.size();
    prefix += name;
    if (v.is_object() && !v.empty()) {
        prefix += '.';
        for (auto it = v.begin(); it != v.end(); ++it) map_unknown(prefix, it.key(), it.value(), out);
    } else {
        push_plain(out, prefix, v);
    }
    prefix.resize(mark);
}

S3DB_DECL void Codec::map_value(const Node& node, const nlohmann::json& v, MappedRecord& out) const {
    using T = FieldType;
    const Attribute& a = *node.attr;
    const std::string& key = node.key;
    if (v.is_null()) return push(out, key, "null", MappedField::Kind::null);
    // s3db.js stores the (compact) hash validation made as it is, whatever the definition's form
    if (a.type == T::password && v.is_string()) return push_secret(out, key, v.get<std::string>());
    // s3db.js registers its type hooks under the *flattened* definition ("age.type"), so an
    // object-form attribute ({type: 'number'}) is stored as plain text; only its arrays (and
    // secrets, encrypted while validating) are encoded. Same bytes here, for s3db.js readers.
    if (a.object_form && a.type != T::array && !is_secret_type(a.type) && a.type != T::json) {
        // a Buffer or a point is an object to s3db.js's mapper: JSON text
        if ((a.type == T::buffer || a.type == T::bits) && v.is_object() && v.contains("data"))
            return push(out, key, "{\"type\":\"Buffer\",\"data\":" + detail::js_json(v["data"]) + "}");  // Node's key order
        if (a.type == T::buffer || a.type == T::bits || a.type == T::geo_point) return push(out, key, detail::js_json(v));
        if (a.type == T::date && v.is_string()) return push(out, key, detail::js_json(v));
        return push_plain(out, key, v);
    }
    switch (a.type) {
        case T::number:
            if (!v.is_number()) break;
            {
                std::string s;
                if (a.integer_encoding) detail::append_b62(s, v.get<double>());
                else detail::append_b62_decimal(s, v.get<double>());
                if (s.empty()) return;  // non-finite: s3db.js writes "undefined", i.e. nothing
                return push(out, key, std::move(s));
            }
        case T::boolean: {
            bool truthy = v.is_boolean() ? v.get<bool>()
                          : v.is_number() ? v.get<double>() == 1
                          : v.is_string() && (v == "true" || v == "1" || v == "yes" || v == "y");
            return push(out, key, truthy ? "1" : "0");
        }
        case T::json: return push(out, key, detail::js_json(v));
        case T::secret:
        case T::secret_any:
        case T::secret_number: {
            std::string plain;
            if (v.is_string()) plain = v.get<std::string>();
            else detail::append_js_json(plain, v);
            if (!state_->options.auto_encrypt) return push_secret(out, key, std::move(plain));
            if (state_->box->open(plain)) return push_secret(out, key, std::move(plain));  // already sealed
            // With auto_decrypt off, callers hold the stored ciphertext on purpose, so what looks
            // sealed but does not open is taken for ciphertext under another passphrase: refused,
            // since sealing it again loses the secret and keeping it could store a plaintext.
            if (!state_->options.auto_decrypt && detail::SecretBox::looks_sealed(plain))
                throw DecryptionFailed({}, {}, a.path, DecryptionFailed::Stage::write);
            return push_secret(out, key, state_->box->seal(plain));
        }
        case T::datetime:
        case T::dateonly: {
            if (a.object_form || !v.is_string()) break;  // s3db.js stores object-form dates as given
            const auto& s = v.get_ref<const std::string&>();
            std::optional<std::int64_t> ms;
            if (a.type == T::dateonly && s.find('T') == std::string::npos) ms = detail::parse_js_date(s + "T00:00:00.000Z");
            else ms = detail::parse_js_date(s);
            if (!ms) break;
            std::string out_s;
            if (a.type == T::datetime) detail::append_b62_int(out_s, *ms);
            else detail::append_b62_int(out_s, detail::floor_div(*ms, detail::ms_per_day));
            return push(out, key, std::move(out_s));
        }
        case T::uuid: {
            if (a.object_form || !v.is_string()) break;
            auto packed = pack_uuid(v.get_ref<const std::string&>());
            if (!packed) break;
            return push(out, key, std::move(*packed));
        }
        case T::ip4: {
            if (!v.is_string() || !detail::is_ipv4(v.get_ref<const std::string&>())) break;
            unsigned char bytes[4];
            std::string_view s = v.get_ref<const std::string&>();
            for (int k = 0; k < 4; ++k) {
                unsigned o = 0;
                while (!s.empty() && s.front() != '.') {
                    o = o * 10 + static_cast<unsigned>(s.front() - '0');
                    s.remove_prefix(1);
                }
                if (!s.empty()) s.remove_prefix(1);
                bytes[k] = static_cast<unsigned char>(o);
            }
            return push(out, key, detail::base64_encode(std::string_view(reinterpret_cast<char*>(bytes), 4)));
        }
        case T::ip6: {
            if (!v.is_string()) break;
            auto bytes = detail::parse_ipv6(v.get_ref<const std::string&>());
            if (!bytes) break;
            return push(out, key, detail::base64_encode(std::string_view(reinterpret_cast<const char*>(bytes->data()), 16)));
        }
        case T::money: {
            if (!v.is_number()) break;
            std::string s = "$";
            detail::append_b62(s, detail::js_round(v.get<double>() * std::pow(10.0, a.scale)));
            return push(out, key, std::move(s));
        }
        case T::decimal: {
            if (!v.is_number()) break;
            return push(out, key, detail::fixed_point_encode(v.get<double>(), a.scale));
        }
        case T::array:
        case T::embedding: {
            if (!v.is_array()) break;
            return push(out, key, encode_array(a.array_encoding, v));
        }
        case T::enumeration:
            break;
        case T::date: case T::timeonly: case T::mac: case T::cidr: case T::semver: case T::phone: case T::color:
        case T::duration: case T::ean: case T::geo_lat: case T::geo_lon: case T::geo_point: case T::buffer: case T::bits:
            if (auto packed = detail::encode_js_type(a, v)) return push(out, key, std::move(*packed));
            break;  // not in the form s3db.js encodes: stored as given
        default:  // string, email, url, any, cron, locale, currency, country
            if (v.is_structured()) return push(out, key, detail::js_json(v));  // s3db.js would scatter it
            break;
    }
    push_plain(out, key, v);
}

S3DB_DECL std::optional<std::string> Codec::pack_uuid(std::string_view s) {
    char hex[32];
    int n = 0;
    for (char c : s) {
        if (c == '-') continue;
        if (n == 32 || detail::hex_value(c) < 0) return std::nullopt;
        hex[n++] = c;
    }
    if (n != 32) return std::nullopt;
    std::string out;
    out.reserve(24);
    for (int part = 0; part < 4; ++part) {
        std::uint64_t v = 0;
        for (int k = 0; k < 8; ++k) v = v * 16 + static_cast<unsigned>(detail::hex_value(hex[part * 8 + k]));
        std::string digits;
        detail::append_digits(digits, v, 62);
        out.append(6 - digits.size(), '0');
        out += digits;
    }
    return out;
}

S3DB_DECL std::string Codec::encode_array(ArrayEncoding encoding, const nlohmann::json& items) {
    std::string s;
    switch (encoding) {
        case ArrayEncoding::json: return detail::js_json(items);
        case ArrayEncoding::embedding: {
            s.reserve(2 + items.size() * 6);
            s += "^[";
            bool first = true;
            for (const auto& item : items) {
                if (!first) s += ',';
                first = false;
                if (item.is_number() && std::isfinite(item.get<double>()))
                    detail::append_fixed_point_digits(s, item.get<double>(), 6);
            }
            s += ']';
            return s;
        }
        default: break;
    }
    bool first = true;
    for (const auto& item : items) {
        if (!first) s += '|';
        first = false;
        switch (encoding) {
            case ArrayEncoding::strings:
                if (item.is_string()) detail::append_escaped_item(s, item.get_ref<const std::string&>());
                else if (item.is_number_float()) detail::append_js_number(s, item.get<double>());
                else if (item.is_null()) s += "null";
                else detail::append_js_json(s, item);  // String(x) for the scalars validation lets through
                break;
            case ArrayEncoding::decimals:
                if (item.is_number()) detail::append_b62_decimal(s, item.get<double>());
                break;
            case ArrayEncoding::integers:
                if (item.is_number() && std::isfinite(item.get<double>())) detail::append_b62(s, item.get<double>());
                break;
            default: break;
        }
    }
    return s;
}

S3DB_DECL nlohmann::json Codec::decode_unknown(std::string_view value) {
    if (value == "null") return nullptr;
    if (!value.empty() && (value.front() == '{' || value.front() == '['))
        if (auto j = detail::parse_json(value)) return std::move(*j);
    return std::string(value);
}

S3DB_DECL std::optional<nlohmann::json> Codec::decode_value(const Attribute& a, std::string_view value) const {
    using T = FieldType;
    if (value == "null") return nlohmann::json(nullptr);
    auto raw = [&] { return nlohmann::json(std::string(value)); };
    if (a.object_form && a.type != T::array && !is_secret_type(a.type) && a.type != T::json) {
        // stored as plain text (see map_value); s3db.js hands it back as a string, we as its type
        switch (a.type) {
            case T::number: case T::money: case T::decimal: {
                double n = value.empty() ? std::nan("") : detail::js_string_to_number(value);
                return std::isfinite(n) ? detail::json_number(n) : raw();
            }
            case T::boolean:
                if (value == "true" || value == "1") return nlohmann::json(true);
                if (value == "false" || value == "0") return nlohmann::json(false);
                return raw();
            case T::any: case T::embedding: case T::buffer: case T::bits: case T::geo_point: return decode_unknown(value);
            case T::geo_lat: case T::geo_lon: {
                double n = value.empty() ? std::nan("") : detail::js_string_to_number(value);
                return std::isfinite(n) ? detail::json_number(n) : raw();
            }
            case T::date:
                if (value.size() >= 2 && value.front() == '"')
                    if (auto j = detail::parse_json(value); j && j->is_string()) return std::move(*j);
                return raw();
            case T::enumeration: break;
            default: return raw();
        }
    }
    switch (a.type) {
        case T::string:
        case T::email:
        case T::url:
        case T::ip4:
            if (a.type == T::ip4 && value.size() == 8) {
                auto bytes = detail::base64_decode(value);
                if (bytes && bytes->size() == 4) {
                    std::string s;
                    for (int k = 0; k < 4; ++k) {
                        if (k) s += '.';
                        s += std::to_string(static_cast<unsigned char>((*bytes)[static_cast<std::size_t>(k)]));
                    }
                    return nlohmann::json(std::move(s));
                }
            }
            return raw();  // strings that look like JSON stay strings (s3db.js defect §13.5)
        case T::ip6: {
            if (value.size() == 24 && value.find(':') == std::string_view::npos) {
                auto bytes = detail::base64_decode(value);
                if (bytes && bytes->size() == 16)
                    return nlohmann::json(detail::compress_ipv6(reinterpret_cast<const unsigned char*>(bytes->data())));
            }
            return raw();
        }
        case T::any:
        case T::object:
            return decode_unknown(value);
        case T::json: {
            if (value.empty()) return raw();
            if (auto j = detail::parse_json(value)) return std::move(*j);
            return raw();
        }
        case T::enumeration: {
            for (const auto& allowed : a.rules.allowed) {  // enum values keep their JSON type
                std::string text;
                if (allowed.is_string()) {
                    if (allowed.get_ref<const std::string&>() == value) return allowed;
                    continue;
                }
                if (allowed.is_number_float()) detail::append_js_number(text, allowed.get<double>());
                else detail::append_js_json(text, allowed);
                if (text == value) return allowed;
            }
            return decode_unknown(value);
        }
        case T::number: {
            if (value.empty()) return nlohmann::json(0);  // what s3db.js wrote for 1e-7 and the like
            auto n = a.integer_encoding ? detail::b62_decode(value) : detail::b62_decimal_decode(value);
            if (!n) return raw();
            return detail::json_number(*n);
        }
        case T::boolean:
            return nlohmann::json(value == "1" || value == "true" || value == "yes" || value == "y");
        case T::password:
            return raw();  // the hash, compact as s3db.js stores it (or full, if given so)
        case T::secret:
        case T::secret_any:
        case T::secret_number: {  // s3db.js reads all three back as text
            if (!state_->options.auto_decrypt) return raw();
            auto plain = state_->box->open(value);
            if (!plain) {
                // Ciphertext that does not open must not pass for the secret: an update would
                // encrypt it again. Plaintext (written with auto_encrypt off) is returned as is.
                if (detail::SecretBox::looks_sealed(value))
                    throw DecryptionFailed({}, {}, a.path, DecryptionFailed::Stage::read);
                return raw();
            }
            if (*plain == "null") return nlohmann::json(nullptr);
            if (*plain == "undefined") return std::nullopt;
            return nlohmann::json(std::move(*plain));
        }
        case T::datetime:
        case T::dateonly: {
            if (a.object_form || value.empty()) return raw();
            auto n = detail::b62_decode(value);
            if (!n || !std::isfinite(*n)) return raw();
            double ms = a.type == T::datetime ? *n : *n * static_cast<double>(detail::ms_per_day);
            if (std::fabs(ms) > static_cast<double>(detail::max_time_ms)) return raw();
            std::string iso = detail::iso_string(static_cast<std::int64_t>(ms));
            if (a.type == T::dateonly) iso.resize(iso.size() - 14);
            return nlohmann::json(std::move(iso));
        }
        case T::uuid: {
            if (a.object_form || value.size() != 24 || value.find('-') != std::string_view::npos) return raw();
            std::string hex;
            hex.reserve(36);
            for (int part = 0; part < 4; ++part) {
                auto n = detail::b62_decode(value.substr(static_cast<std::size_t>(part) * 6, 6));
                if (!n || *n < 0 || *n > 4294967295.0) return raw();
                char buf[16];
                std::snprintf(buf, sizeof buf, "%08llx", static_cast<unsigned long long>(*n));
                hex += buf;
            }
            return nlohmann::json(hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
                                  hex.substr(16, 4) + "-" + hex.substr(20, 12));
        }
        case T::money: {
            if (value.empty() || value.front() != '$') return raw();
            auto n = detail::b62_decode(value.substr(1));
            if (!n) return raw();
            return detail::json_number(*n / std::pow(10.0, a.scale));
        }
        case T::decimal: {
            auto n = detail::fixed_point_decode(value, a.scale);
            if (!n) return raw();
            return detail::json_number(*n);
        }
        case T::array:
        case T::embedding:
            return decode_array(a, value);
        case T::cron: case T::locale: case T::currency: case T::country:
            return raw();
        case T::date: case T::timeonly: case T::mac: case T::cidr: case T::semver: case T::phone: case T::color:
        case T::duration: case T::ean: case T::geo_lat: case T::geo_lon: case T::geo_point: case T::buffer: case T::bits:
            if (auto decoded = detail::decode_js_type(a, value)) return std::move(*decoded);
            return raw();  // stored as given (s3db.js's guards leave it too)
    }
    return raw();
}

S3DB_DECL nlohmann::json Codec::decode_array(const Attribute& a, std::string_view value) {
    nlohmann::json out = nlohmann::json::array();
    auto& items = out.get_ref<nlohmann::json::array_t&>();
    auto strings = [&] {
        items.reserve(static_cast<std::size_t>(std::count(value.begin(), value.end(), '|')) + 1);
        detail::for_each_escaped(value, [&](std::string&& item) { items.emplace_back(std::move(item)); });
    };
    switch (a.array_encoding) {
        case ArrayEncoding::json: {
            if (auto j = detail::parse_json(value); j && j->is_array()) return std::move(*j);
            strings();
            return out;
        }
        case ArrayEncoding::strings:
            strings();
            return out;
        case ArrayEncoding::decimals:
        case ArrayEncoding::integers:
            detail::for_each_escaped(value, [&](std::string&& item) {
                auto n = a.array_encoding == ArrayEncoding::integers ? detail::b62_decode(item)
                                                                     : detail::b62_decimal_decode(item);
                if (item.empty() || !n) items.emplace_back(nullptr);  // JavaScript's NaN
                else items.push_back(detail::json_number(*n));
            });
            return out;
        case ArrayEncoding::embedding: {
            if (value.empty() || value == "^[]") return out;
            if (value.starts_with("^[") && value.ends_with("]")) {
                std::string_view inner = value.substr(2, value.size() - 3);
                out.get_ref<nlohmann::json::array_t&>().reserve(static_cast<std::size_t>(std::count(inner.begin(), inner.end(), ',')) + 1);
                while (true) {
                    auto comma = inner.find(',');
                    std::string_view part = inner.substr(0, comma);
                    auto n = part.empty() ? std::nullopt : detail::b62_decode(part);
                    if (n) out.push_back(*n / 1e6);
                    else out.push_back(nullptr);
                    if (comma == std::string_view::npos) break;
                    inner.remove_prefix(comma + 1);
                }
                return out;
            }
            detail::for_each_escaped(value, [&](std::string&& item) {
                auto n = detail::fixed_point_decode(item, 6);
                if (n) items.emplace_back(*n);
                else items.emplace_back(nullptr);
            });
            return out;
        }
    }
    return out;
}

}  // namespace s3db
#endif  // S3DB_DEFINE_BODIES
