#pragma once
// ResourceRef and DatabaseRef: what a plugin keeps of the database it was installed in. A plugin's
// on_install is a template over the database (its store and plugin set); the plugin's own code is
// not, so it reaches resources through these two handles instead of each plugin wrapping the
// calls it needs in std::function members of its own. A ResourceRef is a pointer to the resource's
// engine (ResourceCore, the same class for every database); a DatabaseRef a pointer and a table of
// functions made once per database type, like TransportRef.
//
//   template <class Db> void on_install(Db& db) {
//       history_ = ResourceRef(db.has_resource("jobs") ? db.resource("jobs") : db.create_resource(config));
//       db_ = DatabaseRef(db);                  // resources by name, the store, the pool
//   }
//
// Both refer, they do not own: the database and its resources must outlive them (a plugin's do).

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "s3db/core/catalogue.hpp"
#include "s3db/core/listing.hpp"
#include "s3db/core/partitions.hpp"
#include "s3db/core/resource.hpp"
#include "s3db/detail/worker_pool.hpp"
#include "s3db/transport/transport_ref.hpp"

namespace s3db {

/// A resource of any database, by reference.
class ResourceRef {
public:
    ResourceRef() = default;
    explicit ResourceRef(ResourceCore& resource) noexcept : r_(&resource) {}

    explicit operator bool() const noexcept { return r_ != nullptr; }

    const std::string& name() const { return r_->name(); }
    const ResourceConfig& config() const { return r_->config(); }
    const Partitions& partitions() const { return r_->partitions(); }
    /// The object key of record `id`.
    std::string key_of(std::string_view id) const { return r_->key_of(id); }

    json insert(json data) const { return r_->insert(std::move(data)); }
    /// Inserts on the pool; one result per input (see Resource::insert_many).
    std::vector<BulkResult> insert_many(std::vector<json> items) const { return r_->insert_many(std::move(items)); }
    json replace(std::string id, json data) const { return r_->replace(std::move(id), std::move(data)); }
    json update(std::string_view id, const json& partial) const { return r_->update(id, partial); }
    /// A read-modify-write (a CAS on the record): `change` may run more than once.
    json update(std::string_view id, const std::function<void(json&)>& change) const { return r_->update(id, change); }
    void remove(std::string_view id) const { r_->remove(id); }
    void remove_many(const std::vector<std::string>& ids) const { r_->remove_many(ids); }

    std::optional<json> get_or_null(std::string_view id, const ReadOptions& o = {}) const { return r_->get_or_null(id, o); }
    std::vector<std::optional<json>> get_many(const std::vector<std::string>& ids, const ReadOptions& o = {}) const {
        return r_->get_many(ids, o);
    }
    std::vector<std::string> list_ids(const ListQuery& q = {}) const { return r_->list_ids(q); }
    std::vector<json> list(const ListQuery& q = {}) const { return r_->list(q); }
    Page page(std::size_t size, const std::string& cursor = {}) const { return r_->page(size, cursor); }
    PartitionRepair repair_partitions(std::chrono::seconds grace) const { return r_->repair_partitions(grace); }

private:
    ResourceCore* r_ = nullptr;
};

/// A database of any store and plugin set, by reference: its resources by name, its store and its
/// worker pool.
class DatabaseRef {
public:
    DatabaseRef() = default;
    template <class Db>
        requires(!std::same_as<std::remove_cv_t<Db>, DatabaseRef>)
    explicit DatabaseRef(Db& db) noexcept : self_(std::addressof(db)), vtable_(&vtable_for<Db>) {}

    explicit operator bool() const noexcept { return self_ != nullptr; }

    /// Throws ResourceNotFound as the database does.
    ResourceRef resource(std::string_view name) const { return vtable_->resource(self_, name); }
    bool has_resource(std::string_view name) const { return vtable_->has_resource(self_, name); }
    std::vector<std::string> resources() const { return vtable_->resources(self_); }
    ResourceRef create_resource(ResourceConfig config, const std::optional<RegistrySeed>& seed = std::nullopt) const {
        return vtable_->create_resource(self_, std::move(config), seed);
    }
    TransportRef store() const { return vtable_->store(self_); }
    detail::WorkerPool& pool() const { return vtable_->pool(self_); }

private:
    struct VTable {
        ResourceRef (*resource)(void*, std::string_view);
        bool (*has_resource)(void*, std::string_view);
        std::vector<std::string> (*resources)(void*);
        ResourceRef (*create_resource)(void*, ResourceConfig, const std::optional<RegistrySeed>&);
        TransportRef (*store)(void*);
        detail::WorkerPool& (*pool)(void*);
    };

    template <class Db>
    static constexpr VTable vtable_for{
        [](void* d, std::string_view n) { return ResourceRef(static_cast<Db*>(d)->resource(n)); },
        [](void* d, std::string_view n) { return static_cast<Db*>(d)->has_resource(n); },
        [](void* d) { return static_cast<Db*>(d)->resources(); },
        [](void* d, ResourceConfig c, const std::optional<RegistrySeed>& s) {
            return ResourceRef(static_cast<Db*>(d)->create_resource(std::move(c), s));
        },
        [](void* d) { return TransportRef(static_cast<Db*>(d)->store()); },
        [](void* d) -> detail::WorkerPool& { return static_cast<Db*>(d)->pool(); },
    };

    void* self_ = nullptr;
    const VTable* vtable_ = nullptr;
};

}  // namespace s3db
