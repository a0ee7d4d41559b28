#pragma once
// What the Replicator and its targets share: a change as a target receives it (Delivery), the
// resource mapping every target is configured with (ResourceMap: the seed's four formats), and the
// concept a target policy models.

#include <concepts>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "s3db/core/catalogue.hpp"

namespace s3db {

using json = nlohmann::json;

/// One change for one destination: the record as the source's write had it (after the
/// destination's transform), or null for a delete.
struct Delivery {
    std::string source;    // the source resource
    std::string resource;  // the destination's resource (or table, or name) after renaming
    std::string action;    // "insert", "update" or "delete"
    std::string id;
    json data;             // the record with its id; null for a delete
    std::int64_t timestamp_ms = 0;  // when the source write was made
    /// The durable log's entry for the write (its latest, when a replay covers several): the same
    /// when the write is replayed after a crash, so a target can recognise a change it already
    /// has (SQS FIFO deduplication). Empty without the durable log and for sync_all().
    std::string write_id{};
};

/// Where one source resource goes: a destination name (empty: the same name), an optional transform
/// (returning null skips this destination for that record), and the actions it takes.
struct Destination {
    std::string resource{};
    std::function<json(const json&)> transform{};
    std::vector<std::string> actions{"insert", "update", "delete"};

    bool takes(std::string_view action) const {
        for (auto& a : actions)
            if (a == action) return true;
        return false;
    }
};

/// Which resources a target receives, in the seed's formats:
///   ResourceMap::all()                                  every user resource, same names (plg_* left out)
///   ResourceMap::only({"users", "products"})            a list, same names
///   ResourceMap::renamed({{"users", "people"}})         source → destination
///   ResourceMap{}.add("users", {.resource = "people", .transform = f, .actions = {"insert"}})
///                 .add("users", {.resource = "users_copy"})   several destinations per resource
/// Resources created after the plugin installs are routed by the same map.
class ResourceMap {
public:
    ResourceMap() = default;
    static ResourceMap all() {
        ResourceMap m;
        m.all_ = true;
        return m;
    }
    static ResourceMap only(std::vector<std::string> names) {
        ResourceMap m;
        for (auto& n : names) m.add(n, Destination{});
        return m;
    }
    static ResourceMap renamed(const std::map<std::string, std::string>& renames) {
        ResourceMap m;
        for (auto& [from, to] : renames) m.add(from, Destination{.resource = to});
        return m;
    }
    /// One more destination for `source` (a transform with the same name: `{.transform = f}`).
    ResourceMap& add(const std::string& source, Destination d) {
        if (d.resource.empty()) d.resource = source;
        routes_[source].push_back(std::move(d));
        return *this;
    }

    /// The destinations of `source`; empty when this target does not receive it.
    const std::vector<Destination>& route(const std::string& source) const {
        static const std::vector<Destination> none;
        if (auto it = routes_.find(source); it != routes_.end()) return it->second;
        if (all_ && !source.starts_with("plg_")) {
            std::lock_guard lock(*same_mutex_);
            auto& d = (*same_)[source];
            if (d.empty()) d.push_back(Destination{.resource = source});
            return d;
        }
        return none;
    }
    bool routes(std::string_view source) const { return routes_.contains(source) || (all_ && !source.starts_with("plg_")); }

private:
    bool all_ = false;
    std::map<std::string, std::vector<Destination>, std::less<>> routes_;
    // all(): destinations made on first use, kept (the map is node-based: references stay valid).
    std::shared_ptr<std::map<std::string, std::vector<Destination>>> same_ =
        std::make_shared<std::map<std::string, std::vector<Destination>>>();
    std::shared_ptr<std::mutex> same_mutex_ = std::make_shared<std::mutex>();
};

/// A Replicator target policy. `deliver` receives a batch (in the order the writes were made, per
/// record) and returns once every delivery is applied, or throws (ReplicationError::retryable()
/// says whether to try again; any other exception is retried too). A target that applied part of
/// the batch says which deliveries it did not in ReplicationError::failed(): only their changes
/// are retried (and marked failed when the retries run out). Applying a batch twice must
/// leave the destination as applying it once: delivery is at-least-once.
/// Optional: `prepare(destination, source_config)` before the first delivery to a destination.
template <class T>
concept ReplicatorTarget = std::move_constructible<T> && requires(T& t, const T& ct, const std::vector<Delivery>& batch) {
    { ct.target_name() } -> std::convertible_to<std::string>;
    { ct.resources() } -> std::convertible_to<const ResourceMap&>;
    t.deliver(batch);
};

}  // namespace s3db
