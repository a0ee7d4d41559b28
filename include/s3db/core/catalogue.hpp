#pragma once
// s3db.json: the database's catalogue, in the layout s3db.js 21 reads and writes. Each resource
// keeps every version of its definition (`versions.vN`, `currentVersion`) and a schema registry
// (schema_registry.hpp) whose attribute indices are permanent. The document is edited in place, so
// fields this library does not know (another tool's plugin registries, hook descriptions) survive a
// rewrite, and it is written with a conditional PUT: two processes creating different resources at
// once both survive.

#include <algorithm>
#include <chrono>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "s3db/core/schema_registry.hpp"
#include "s3db/errors.hpp"
#include "s3db/detail/config.hpp"
#include "s3db/detail/js_text.hpp"
#include "s3db/detail/time.hpp"
#include "s3db/transport/transport.hpp"

namespace s3db {

/// The definition of a resource, as one version of it is stored in s3db.json.
struct ResourceConfig {
    std::string name;
    // Built from value_t::object, not object(): an empty object without instantiating the
    // initializer-list constructor in every file that includes this one. (Not in braces: those
    // pick that constructor, and make [{}].)
    nlohmann::ordered_json attributes = nlohmann::ordered_json(nlohmann::ordered_json::value_t::object);
    std::string behavior = "user-managed";
    bool timestamps = false;
    nlohmann::ordered_json partitions = nlohmann::ordered_json(nlohmann::ordered_json::value_t::object);
    bool paranoid = true;
    bool all_nested_objects_optional = true;
    bool auto_decrypt = true;
    int id_size = 22;
    std::string id_generator = "default";
    std::string created_by = "user";
};

/// A resource as s3db.json describes it now.
struct StoredResource {
    ResourceConfig config;
    SchemaRegistry registry;
    std::string version;  // "v3"
    std::string hash;     // "sha256:<hex>"
};

/// What a new resource's registries start from instead of numbering its attributes afresh: the
/// registries another catalogue keeps for it (restoring a backup into a database that lacks the
/// resource), so its records keep decoding into the same fields.
struct RegistrySeed {
    SchemaRegistry registry;
    /// `pluginSchemaRegistry` of that catalogue's entry, written as it is; null: none.
    nlohmann::ordered_json plugin_registry = nullptr;
};

namespace detail {

/// json-stable-stringify: compact JSON with object keys sorted, which is what nlohmann's sorted
/// `json` prints.
S3DB_DECL std::string stable_stringify(const nlohmann::ordered_json& v);

/// The timestamp attributes and partitions s3db.js adds to a resource with `timestamps: true`.
S3DB_DECL void apply_timestamps(ResourceConfig& c);

}  // namespace detail

/// `"sha256:" + hex(sha256(stable JSON of {attributes, behavior, partitions}))`, timestamp attributes
/// left out, as s3db.js computes it: equal hashes mean the same definition across both libraries.
S3DB_DECL std::string definition_hash(const ResourceConfig& c);

class DatabaseMetadata {
public:
    static constexpr std::string_view key = "s3db.json";
    static constexpr std::string_view library_version = "s3db-cpp 0.1.0";

    /// The catalogue of a database that has none yet.
    static S3DB_DECL DatabaseMetadata blank();

    /// Reads s3db.json; anything that is not a catalogue throws CorruptMetadata. A malformed resource
    /// entry does not: resource() throws for it alone, and a rewrite keeps it as it is.
    static S3DB_DECL DatabaseMetadata parse(std::string_view text);

    /// What is wrong with a resource's entry, nullopt when it can be read.
    static S3DB_DECL std::optional<std::string> entry_flaw(const nlohmann::ordered_json& entry);

    /// Pretty-printed with two spaces, as s3db.js writes it.
    S3DB_DECL std::string serialize() const;

    S3DB_DECL std::vector<std::string> resource_names() const;

    /// The resource's current definition, nullopt when there is none; CorruptMetadata (naming the
    /// resource) when its entry cannot be read.
    S3DB_DECL std::optional<StoredResource> resource(std::string_view name) const;

    /// Adds a resource or records a new version of its definition (only when the hash changed), and
    /// brings its schema registry up to date: known attributes keep their index, new ones take the
    /// next, removed ones are burned. Returns whether the document changed. An existing entry that
    /// cannot be read is left as it is: CorruptMetadata. A resource the catalogue does not have yet
    /// starts from `seed`'s registries when given (the definition's attributes it lacks still take
    /// the next index, those it maps that the definition lacks are burned); for one it has, `seed`
    /// is ignored.
    S3DB_DECL bool upsert_resource(ResourceConfig config, const RegistrySeed* seed = nullptr);

    const nlohmann::ordered_json& document() const noexcept { return doc_; }

private:
    /// `o[k]` as a V, `fallback` when absent; CorruptMetadata naming the resource and the setting
    /// when it holds another type.
    template <class V>
    static V setting(std::string_view resource, const nlohmann::ordered_json& o, const char* k, V fallback) {
        auto it = o.find(k);
        if (it == o.end()) return fallback;
        try {
            return it->template get<V>();
        } catch (const nlohmann::json::exception&) {
            throw CorruptMetadata(std::string(key), "resource '" + std::string(resource) + "': its setting '" + k +
                                                        "' is a " + it->type_name() + ", not what s3db.js writes there");
        }
    }

    static S3DB_DECL StoredResource read_resource(std::string_view name, const nlohmann::ordered_json& entry);

    S3DB_DECL bool upsert_entry(ResourceConfig config, const RegistrySeed* seed);

    static S3DB_DECL std::string next_version(const nlohmann::ordered_json& versions);

    /// The stored registry, or (for a catalogue written without one) the indices s3db.js would derive.
    static S3DB_DECL SchemaRegistry read_registry(const nlohmann::ordered_json& entry, const ResourceConfig& c);

    static S3DB_DECL void write_registry(nlohmann::ordered_json& entry, const SchemaRegistry& r);

    nlohmann::ordered_json doc_;
};

/// Reads s3db.json, applies `edit` and writes it back with a conditional PUT (If-Match the ETag read,
/// or If-None-Match: * when there was none). On a conflict it re-reads and re-applies `edit`, so a
/// concurrent writer's resources are kept, never overwritten. Returns the catalogue as written (or as
/// read, when `edit` changed nothing).
template <Transport T, class Edit>
DatabaseMetadata update_metadata(T& transport, Edit&& edit, int max_attempts = 8) {
    for (int attempt = 1;; ++attempt) {
        auto current = transport.get(DatabaseMetadata::key);
        DatabaseMetadata m = current ? DatabaseMetadata::parse(current->body) : DatabaseMetadata::blank();
        bool changed = edit(m) || !current;
        if (!changed) return m;
        PutOptions o{.content_type = "application/json"};
        if (current) o.if_match = current->info.etag;
        else o.if_none_match = true;
        try {
            transport.put(DatabaseMetadata::key, m.serialize(), std::move(o));
            return m;
        } catch (const PreconditionFailed&) {
            if (attempt >= max_attempts) throw;
        }
    }
}

}  // namespace s3db

#if S3DB_DEFINE_BODIES
#include "s3db/detail/hashing.hpp"

namespace s3db {

namespace detail {

S3DB_DECL std::string stable_stringify(const nlohmann::ordered_json& v) { return nlohmann::json(v).dump(); }

S3DB_DECL void apply_timestamps(ResourceConfig& c) {
    if (!c.timestamps) return;
    if (!c.attributes.contains("createdAt")) c.attributes["createdAt"] = "datetime|optional";
    if (!c.attributes.contains("updatedAt")) c.attributes["updatedAt"] = "datetime|optional";
    if (!c.partitions.is_object()) c.partitions = nlohmann::ordered_json::object();
    if (!c.partitions.contains("byCreatedDate"))
        c.partitions["byCreatedDate"] = {{"fields", {{"createdAt", "date|maxlength:10"}}}};
    if (!c.partitions.contains("byUpdatedDate"))
        c.partitions["byUpdatedDate"] = {{"fields", {{"updatedAt", "date|maxlength:10"}}}};
}

}  // namespace detail

S3DB_DECL std::string definition_hash(const ResourceConfig& c) {
    nlohmann::ordered_json attributes = c.attributes;
    if (c.timestamps) {
        attributes.erase("createdAt");
        attributes.erase("updatedAt");
    }
    nlohmann::ordered_json h = {{"attributes", attributes}, {"behavior", c.behavior}, {"partitions", c.partitions}};
    return "sha256:" + detail::sha256_hex(detail::stable_stringify(h));
}

S3DB_DECL DatabaseMetadata DatabaseMetadata::blank() {
    DatabaseMetadata m;
    m.doc_ = {{"version", "1"},
              {"s3dbVersion", library_version},
              {"lastUpdated", detail::iso_now()},
              {"resources", nlohmann::ordered_json::object()}};
    return m;
}

S3DB_DECL DatabaseMetadata DatabaseMetadata::parse(std::string_view text) {
    DatabaseMetadata m;
    auto fail = [](const std::string& why) { return CorruptMetadata(std::string(key), why); };
    // Definitions sit a few levels down; far deeper is damage, and would overflow whatever walks it.
    if (detail::json_text_too_deep(text, 2 * detail::max_nesting_depth))
        throw fail("it nests deeper than " + std::to_string(2 * detail::max_nesting_depth) + " levels");
    m.doc_ = nlohmann::ordered_json::parse(text.begin(), text.end(), nullptr, false);
    if (m.doc_.is_discarded()) throw fail("not valid JSON");
    if (!m.doc_.is_object()) throw fail("the top level is not an object");
    if (!m.doc_.contains("resources")) m.doc_["resources"] = nlohmann::ordered_json::object();
    if (!m.doc_["resources"].is_object()) throw fail("'resources' is not an object");
    return m;
}

S3DB_DECL std::optional<std::string> DatabaseMetadata::entry_flaw(const nlohmann::ordered_json& entry) {
    if (!entry.is_object()) return "its entry is not an object";
    auto cv = entry.find("currentVersion");
    if (cv != entry.end() && !cv->is_string()) return "its currentVersion is not a string";
    const std::string version = cv != entry.end() ? cv->get<std::string>() : "v1";
    auto versions = entry.find("versions");
    if (versions == entry.end() || !versions->is_object() || !versions->contains(version) ||
        !(*versions)[version].is_object())
        return "it has no definition for its current version " + version;
    if (entry.contains("schemaRegistry") && !entry["schemaRegistry"].is_object())
        return "its schemaRegistry is not an object";
    return std::nullopt;
}

S3DB_DECL std::string DatabaseMetadata::serialize() const { return doc_.dump(2); }

S3DB_DECL std::vector<std::string> DatabaseMetadata::resource_names() const {
    std::vector<std::string> names;
    for (auto& [name, entry] : doc_["resources"].items()) names.push_back(name);
    return names;
}

S3DB_DECL std::optional<StoredResource> DatabaseMetadata::resource(std::string_view name) const {
    const auto& resources = doc_["resources"];
    auto it = resources.find(std::string(name));
    if (it == resources.end()) return std::nullopt;
    auto fail = [&](const std::string& why) {
        return CorruptMetadata(std::string(key), "resource '" + std::string(name) + "': " + why);
    };
    if (auto flaw = entry_flaw(*it)) throw fail(*flaw);
    try {
        return read_resource(name, *it);
    } catch (const nlohmann::json::exception& e) {
        throw fail(std::string("a setting has the wrong type (") + e.what() + ")");
    }
}

S3DB_DECL bool DatabaseMetadata::upsert_resource(ResourceConfig config, const RegistrySeed* seed) {
    if (auto it = doc_["resources"].find(config.name); it != doc_["resources"].end())
        if (auto flaw = entry_flaw(*it))
            throw CorruptMetadata(std::string(key), "resource '" + config.name + "': " + *flaw);
    return upsert_entry(std::move(config), seed);
}

S3DB_DECL StoredResource DatabaseMetadata::read_resource(std::string_view name, const nlohmann::ordered_json& entry) {
    using ojson = nlohmann::ordered_json;
    StoredResource r;
    r.version = setting(name, entry, "currentVersion", std::string("v1"));
    const auto& v = entry["versions"][r.version];
    auto& c = r.config;
    c.name = std::string(name);
    c.attributes = setting(name, v, "attributes", ojson::object());
    c.behavior = setting(name, v, "behavior", std::string("user-managed"));
    c.timestamps = setting(name, v, "timestamps", false);
    // The top-level `partitions` is what s3db.js prefers when it restores a resource.
    c.partitions = entry.contains("partitions") ? entry["partitions"] : setting(name, v, "partitions", ojson::object());
    if (c.partitions.is_null()) c.partitions = ojson::object();
    c.paranoid = setting(name, v, "paranoid", true);
    c.all_nested_objects_optional = setting(name, v, "allNestedObjectsOptional", true);
    c.auto_decrypt = setting(name, v, "autoDecrypt", true);
    c.id_size = setting(name, v, "idSize", 22);
    c.id_generator = setting(name, v, "idGenerator", std::string("default"));
    c.created_by = setting(name, entry, "createdBy", std::string("user"));
    r.hash = setting(name, v, "hash", std::string{});
    r.registry = read_registry(entry, c);
    return r;
}

S3DB_DECL bool DatabaseMetadata::upsert_entry(ResourceConfig config, const RegistrySeed* seed) {
    detail::apply_timestamps(config);
    auto& resources = doc_["resources"];
    bool exists = resources.contains(config.name);
    auto& entry = resources[config.name];
    std::string hash = definition_hash(config);
    auto now = detail::iso_now();

    bool changed = !exists;
    std::string version = exists ? entry.value("currentVersion", std::string("v1")) : "v1";
    // Settings outside the hash (paranoid, idSize, ...) are updated in place, as s3db.js does;
    // a different hash makes a new version.
    nlohmann::ordered_json settings = {{"timestamps", config.timestamps},
                                       {"paranoid", config.paranoid},
                                       {"allNestedObjectsOptional", config.all_nested_objects_optional},
                                       {"autoDecrypt", config.auto_decrypt},
                                       {"idSize", config.id_size},
                                       {"idGenerator", config.id_generator}};
    if (!exists || entry["versions"][version].value("hash", std::string{}) != hash) {
        if (exists) version = next_version(entry["versions"]);
        entry["currentVersion"] = version;
        entry["partitions"] = config.partitions;
        if (!entry.contains("createdBy")) entry["createdBy"] = config.created_by;
        auto& v = entry["versions"][version];
        v = {{"hash", hash}, {"attributes", config.attributes}, {"behavior", config.behavior},
             {"partitions", config.partitions}};
        v.update(settings);
        v["createdAt"] = now;
        changed = true;
    } else {
        auto& v = entry["versions"][version];
        for (auto& [k, value] : settings.items())
            if (!v.contains(k) || v[k] != value) {
                v[k] = value;
                changed = true;
            }
    }

    if (exists) seed = nullptr;
    auto registry = seed ? seed->registry : read_registry(entry, config);
    if (seed && seed->plugin_registry.is_object()) entry["pluginSchemaRegistry"] = seed->plugin_registry;
    bool registry_changed = update_registry(registry, attribute_keys(config.attributes), now);
    if (registry_changed || seed || !entry.contains("schemaRegistry")) {
        write_registry(entry, registry);
        changed = true;
    }
    if (changed) doc_["lastUpdated"] = now;
    return changed;
}

S3DB_DECL std::string DatabaseMetadata::next_version(const nlohmann::ordered_json& versions) {
    int max = 0;
    for (auto& [v, _] : versions.items()) {
        if (v.size() < 2 || v[0] != 'v') continue;
        try {
            max = std::max(max, std::stoi(v.substr(1)));
        } catch (...) {
        }
    }
    return "v" + std::to_string(max + 1);
}

S3DB_DECL SchemaRegistry DatabaseMetadata::read_registry(const nlohmann::ordered_json& entry, const ResourceConfig& c) {
    SchemaRegistry r;
    if (!entry.contains("schemaRegistry")) {
        r.mapping = assign_indices(c.attributes);
        r.next_index = static_cast<int>(r.mapping.size());
        return r;
    }
    const auto& s = entry["schemaRegistry"];
    // Read loosely, as s3db.js does: a field of the wrong type counts as absent (a fuzzed or
    // hand-edited s3db.json must open, never throw nlohmann's type_error).
    auto int_of = [](const nlohmann::ordered_json& o, const char* key, int fallback) {
        auto it = o.find(key);
        return it != o.end() && it->is_number_integer() ? it->get<int>() : fallback;
    };
    auto text_of = [](const nlohmann::ordered_json& o, const char* key) {
        auto it = o.find(key);
        return it != o.end() && it->is_string() ? it->get<std::string>() : std::string{};
    };
    if (!s.is_object()) {
        r.mapping = assign_indices(c.attributes);
        r.next_index = static_cast<int>(r.mapping.size());
        return r;
    }
    if (s.contains("mapping") && s["mapping"].is_object())
        for (auto& [k, v] : s["mapping"].items())
            if (v.is_number_integer()) r.mapping.emplace(k, v.get<int>());
    int next = 0;
    for (auto& [k, v] : r.mapping) next = std::max(next, v + 1);
    r.next_index = int_of(s, "nextIndex", next);
    if (s.contains("burned") && s["burned"].is_array())
        for (auto& b : s["burned"])
            if (b.is_object())
                r.burned.push_back({int_of(b, "index", 0), text_of(b, "attribute"), text_of(b, "burnedAt"), text_of(b, "reason")});
    return r;
}

S3DB_DECL void DatabaseMetadata::write_registry(nlohmann::ordered_json& entry, const SchemaRegistry& r) {
    nlohmann::ordered_json mapping = nlohmann::ordered_json::object();
    for (auto& [k, v] : r.mapping) mapping[k] = v;
    nlohmann::ordered_json burned = nlohmann::ordered_json::array();
    for (auto& b : r.burned)
        burned.push_back({{"index", b.index}, {"attribute", b.attribute}, {"burnedAt", b.burned_at}, {"reason", b.reason}});
    entry["schemaRegistry"] = {{"nextIndex", r.next_index}, {"mapping", mapping}, {"burned", burned}};
}

}  // namespace s3db
#endif  // S3DB_DEFINE_BODIES
