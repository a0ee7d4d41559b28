#pragma once
// The schema registry of s3db.json (§2.1 of the internals): the permanent index each attribute is
// stored under. A new resource's attributes are numbered as s3db.js numbers them (assign_indices);
// the catalogue (catalogue.hpp) persists the registry, gives an added attribute the next index and
// burns a removed one's, so a stored record is never read under another attribute's name. Codec
// takes the resulting path → index mapping.

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "s3db/detail/config.hpp"

namespace s3db {

/// The attribute paths s3db.js numbers, in its order: every leaf of the definition object
/// (skipping `$$` keys; an object-form definition `{type: ...}` contributes its own keys, as in
/// s3db.js), then every object-valued path, without duplicates.
S3DB_DECL std::vector<std::string> attribute_keys(const nlohmann::ordered_json& attributes);

/// The indices s3db.js gives a resource that has no schema registry yet: position in
/// `attribute_keys`. A new resource must persist them as its registry.
S3DB_DECL std::map<std::string, int> assign_indices(const nlohmann::ordered_json& attributes);

/// `schemaRegistry` of s3db.json: indices are permanent, removed attributes burn theirs.
struct SchemaRegistry {
    struct Burned {
        int index = 0;
        std::string attribute;
        std::string burned_at;
        std::string reason;
        bool operator==(const Burned&) const = default;
    };
    int next_index = 0;
    std::map<std::string, int> mapping;
    std::vector<Burned> burned;
    bool operator==(const SchemaRegistry&) const = default;
};

/// s3db.js `generateMappingFromRegistry`: known keys keep their index, new keys take
/// `next_index++`, keys no longer present are burned. Returns whether the registry changed.
S3DB_DECL bool update_registry(SchemaRegistry& registry, const std::vector<std::string>& keys, const std::string& now_iso);

}  // namespace s3db

#if S3DB_DEFINE_BODIES

#include <algorithm>

#include "s3db/detail/js_formats.hpp"

namespace s3db {

S3DB_DECL std::vector<std::string> attribute_keys(const nlohmann::ordered_json& attributes) {
    std::vector<std::string> keys;
    auto flatten = [&](auto&& self, const nlohmann::ordered_json& node, const std::string& path) -> void {
        if (node.is_object() && !node.empty()) {
            for (const auto& k : detail::js_keys(node))
                self(self, node[k], path.empty() ? k : path + "." + k);
            return;
        }
        if (path.find("$$") == std::string::npos) keys.push_back(path);
    };
    if (attributes.is_object() && !attributes.empty()) flatten(flatten, attributes, "");
    auto objects = [&](auto&& self, const nlohmann::ordered_json& node, const std::string& prefix) -> void {
        for (const auto& k : detail::js_keys(node)) {
            if (k.starts_with("$$")) continue;
            const auto& value = node[k];
            std::string full = prefix.empty() ? k : prefix + "." + k;
            if (value.is_object()) {
                keys.push_back(full);
                auto t = value.find("$$type");
                if (t != value.end() && t->is_string() && t->get_ref<const std::string&>() == "object")
                    self(self, value, full);
            }
        }
    };
    if (attributes.is_object()) objects(objects, attributes, "");
    std::vector<std::string> unique;
    unique.reserve(keys.size());
    for (auto& k : keys)
        if (std::find(unique.begin(), unique.end(), k) == unique.end()) unique.push_back(std::move(k));
    return unique;
}

S3DB_DECL std::map<std::string, int> assign_indices(const nlohmann::ordered_json& attributes) {
    std::map<std::string, int> mapping;
    int i = 0;
    for (auto& k : attribute_keys(attributes)) mapping.emplace(std::move(k), i++);
    return mapping;
}

S3DB_DECL bool update_registry(SchemaRegistry& registry, const std::vector<std::string>& keys, const std::string& now_iso) {
    bool changed = false;
    int max_index = -1;
    for (const auto& [k, v] : registry.mapping) max_index = std::max(max_index, v);
    for (const auto& b : registry.burned) max_index = std::max(max_index, b.index);
    if (registry.next_index <= max_index) {
        registry.next_index = max_index + 1;
        changed = true;
    }
    for (const auto& key : keys) {
        if (registry.mapping.count(key)) continue;
        registry.mapping.emplace(key, registry.next_index++);
        changed = true;
    }
    for (auto it = registry.mapping.begin(); it != registry.mapping.end();) {
        if (std::find(keys.begin(), keys.end(), it->first) != keys.end()) {
            ++it;
            continue;
        }
        bool already = std::any_of(registry.burned.begin(), registry.burned.end(),
                                   [&](const SchemaRegistry::Burned& b) { return b.index == it->second; });
        if (!already) {
            registry.burned.push_back({it->second, it->first, now_iso, "removed"});
            changed = true;
        }
        it = registry.mapping.erase(it);
    }
    return changed;
}

}  // namespace s3db

#endif  // S3DB_DEFINE_BODIES
