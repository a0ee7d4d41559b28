#pragma once
// Which keys a resource owns. s3db.js allows '/' in resource names, so a bucket it wrote may hold
// both `a` and `a/b`: every key of `a/b` (`resource=a/b/...`) then lies under `a`'s prefix
// `resource=a/`. Operations over a resource's whole prefix (remove_all, plugin purges) keep to the
// sub-prefixes the resource owns and leave the keys of resources nested under its name alone.

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "s3db/detail/config.hpp"
#include "s3db/transport/transport.hpp"

namespace s3db {

namespace detail {

/// What a resource writes under `resource=<name>/` in s3db.js's layout (records, partition refs,
/// historical versions, id sequences, plugin data, cache-driver metadata).
inline constexpr std::array<std::string_view, 6> owned_sub_prefixes = {"data/",      "partition=", "historical/",
                                                                       "sequence=", "plugin=",    "meta/"};
/// Earlier s3db.js layouts of records (v3: `id=`, v4-v5: `v=`), deleted with the resource but not
/// taken as a sign of ownership: `resource=a/b/id=x` is `a`'s record `b/id=x` only in no layout,
/// while under v3 it is a record of `a/b`.
inline constexpr std::array<std::string_view, 2> legacy_sub_prefixes = {"id=", "v="};

inline bool starts_with_any(std::string_view rest, auto const& prefixes) {
    for (auto p : prefixes)
        if (rest.starts_with(p)) return true;
    return false;
}

}  // namespace detail

/// The names among `catalogue` nested under `name` (`name/...`), whose keys lie under `name`'s prefix.
S3DB_DECL std::vector<std::string> nested_resources(std::string_view name, const std::vector<std::string>& catalogue);

/// Whether `key` belongs to resource `name`: it lies in one of the resource's sub-prefixes and not in
/// one of a nested resource's (`nested`, from nested_resources).
S3DB_DECL bool resource_owns_key(std::string_view name, const std::vector<std::string>& nested, std::string_view key);

/// Deletes the keys resource `name` owns (see resource_owns_key), given every resource name of the
/// catalogue: LIST pages of `resource=<name>/`, the owned keys of each removed with one DeleteObjects.
/// Returns how many were removed.
template <Transport T>
std::size_t remove_resource_keys(T& store, std::string_view name, const std::vector<std::string>& catalogue) {
    const auto nested = nested_resources(name, catalogue);
    return remove_prefix(store, "resource=" + std::string(name) + "/",
                         [&](std::string_view key) { return resource_owns_key(name, nested, key); });
}

#if S3DB_DEFINE_BODIES
S3DB_DECL std::vector<std::string> nested_resources(std::string_view name, const std::vector<std::string>& catalogue) {
    std::vector<std::string> out;
    for (const auto& other : catalogue)
        if (other.size() > name.size() + 1 && other.starts_with(name) && other[name.size()] == '/') out.push_back(other);
    return out;
}

S3DB_DECL bool resource_owns_key(std::string_view name, const std::vector<std::string>& nested, std::string_view key) {
    constexpr std::string_view tag = "resource=";
    if (!key.starts_with(tag) || key.size() <= tag.size() + name.size() || key.substr(tag.size(), name.size()) != name ||
        key[tag.size() + name.size()] != '/')
        return false;
    const auto rest = key.substr(tag.size() + name.size() + 1);
    if (!detail::starts_with_any(rest, detail::owned_sub_prefixes) &&
        !detail::starts_with_any(rest, detail::legacy_sub_prefixes))
        return false;
    for (const auto& other : nested) {
        // `rest` starts with "<suffix>/" where other == name + "/" + suffix.
        const std::string_view suffix = std::string_view(other).substr(name.size() + 1);
        if (rest.size() > suffix.size() && rest.starts_with(suffix) && rest[suffix.size()] == '/' &&
            detail::starts_with_any(rest.substr(suffix.size() + 1), detail::owned_sub_prefixes))
            return false;
    }
    return true;
}
#endif  // S3DB_DEFINE_BODIES

}  // namespace s3db
