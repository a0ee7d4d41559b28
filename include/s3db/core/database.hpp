#pragma once
// BasicDatabase<Transport, Plugins...>: one database per bucket and prefix. It owns the transport,
// the s3db.json catalogue, the resources and the bounded pool that bulk operations share.
// `Database<Plugins...>` sits on the transport a connection string picks (Any).

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "s3db/core/errors.hpp"
#include "s3db/core/metadata.hpp"
#include "s3db/core/resource.hpp"
#include "s3db/core/typed_resource.hpp"
#include "s3db/fwd.hpp"
#include "s3db/detail/worker_pool.hpp"
#include "s3db/transport/any.hpp"
#include "s3db/transport/transport.hpp"

namespace s3db {

/// A resource name that is not in the catalogue.
class ResourceNotFound : public Error {
public:
    explicit ResourceNotFound(const std::string& name) : Error("resource '" + name + "' does not exist") {}
};

struct DatabaseOptions {
    std::size_t parallelism = 10;        // requests in flight for bulk operations (s3db.js's default)
    std::string passphrase = "secret";   // key of `secret` fields (s3db.js's default, change it)
    int max_update_attempts = 10;        // compare-and-swap rounds before UpdateConflict
};

template <Transport T, class... Plugins>
class BasicDatabase {
public:
    using Resource = s3db::Resource<T>;
    using CreateHook = std::function<void(ResourceConfig&)>;
    using CreatedHook = std::function<void(Resource&)>;

    explicit BasicDatabase(T transport, DatabaseOptions options = {})
        : transport_(std::move(transport)), options_(std::move(options)), pool_(options_.parallelism) {}

    /// Opens the database of a connection string (see transport/connection.hpp).
    explicit BasicDatabase(std::string_view url, DatabaseOptions options = {})
        requires std::constructible_from<T, std::string_view>
        : BasicDatabase(T(url), std::move(options)) {}

    BasicDatabase(const BasicDatabase&) = delete;
    BasicDatabase& operator=(const BasicDatabase&) = delete;

    /// Reads s3db.json (1 GET) and opens every resource it describes. A database without one is
    /// empty until the first create_resource writes it. A corrupt catalogue → CorruptMetadata.
    void connect() {
        auto current = transport_.get(DatabaseMetadata::key);
        std::lock_guard lock(mutex_);
        if (!current) return;
        auto m = DatabaseMetadata::parse(current->body);
        for (auto& name : m.resource_names()) open(*m.resource(name));
    }

    void disconnect() {}

    /// Creates a resource, or records a new version of its definition, in s3db.json (a conditional
    /// write that keeps what other processes wrote meanwhile), and returns it.
    Resource& create_resource(ResourceConfig config) {
        for (auto& h : before_create_) h(config);
        // Everything that can refuse the definition does so before anything is written.
        {
            auto probe = config;
            detail::apply_timestamps(probe);
            auto schema = Schema::parse(probe.attributes, SchemaOptions{.all_nested_objects_optional =
                                                                            probe.all_nested_objects_optional});
            Partitions::parse(probe.name, probe.partitions, schema);
            behavior_from_name(probe.behavior);
        }
        if (config.name.empty()) throw ConfigError("a resource needs a name");
        auto m = update_metadata(transport_, [&](DatabaseMetadata& md) { return md.upsert_resource(config); });
        Resource* r;
        {
            std::lock_guard lock(mutex_);
            r = &open(*m.resource(config.name));
        }
        for (auto& h : after_create_) h(*r);
        return *r;
    }

    Resource& resource(std::string_view name) {
        std::lock_guard lock(mutex_);
        auto it = resources_.find(name);
        if (it == resources_.end()) throw ResourceNotFound(std::string(name));
        return *it->second;
    }

    /// The resource seen through a user struct (nlohmann to_json/from_json).
    template <class Record>
    TypedResource<T, Record> resource(std::string_view name) {
        return TypedResource<T, Record>(resource(name));
    }

    bool has_resource(std::string_view name) const {
        std::lock_guard lock(mutex_);
        return resources_.find(name) != resources_.end();
    }

    std::vector<std::string> resources() const {
        std::lock_guard lock(mutex_);
        std::vector<std::string> names;
        for (auto& [name, _] : resources_) names.push_back(name);
        return names;
    }

    void before_create_resource(CreateHook h) { before_create_.push_back(std::move(h)); }
    void after_create_resource(CreatedHook h) { after_create_.push_back(std::move(h)); }

    T& transport() noexcept { return transport_; }
    const DatabaseOptions& options() const noexcept { return options_; }

private:
    Resource& open(const StoredResource& stored) {
        auto& slot = resources_[stored.config.name];
        if (slot) slot->configure(stored);
        else
            slot = std::make_unique<Resource>(transport_, pool_, stored,
                                              typename Resource::Settings{options_.passphrase, options_.max_update_attempts});
        return *slot;
    }

    T transport_;
    DatabaseOptions options_;
    detail::WorkerPool pool_;
    mutable std::mutex mutex_;
    std::map<std::string, std::unique_ptr<Resource>, std::less<>> resources_;
    std::vector<CreateHook> before_create_;
    std::vector<CreatedHook> after_create_;
};

}  // namespace s3db
