#pragma once
// ResourceRef and DatabaseRef: what a plugin keeps of the database it was installed in. A plugin's
// on_install is a template over the database (its store and plugin set); the plugin's own code is
// not, so it reaches resources through these two handles instead of each plugin wrapping the
// calls it needs in std::function members of its own. Like TransportRef: a pointer and a table of
// functions made once per database type; one indirect call per operation, none per field.
//
//   template <class Db> void on_install(Db& db) {
//       history_ = ResourceRef(db.has_resource("jobs") ? db.resource("jobs") : db.create_resource(config));
//       db_ = DatabaseRef(db);                  // resources by name, the store, the pool
//   }
//
// Both refer, they do not own: the database and its resources must outlive them (a plugin's do).
//
// What the table holds costs every database type that makes a handle: each entry instantiates that
// operation of Resource<T, Host>, used or not (each is 0.2-0.3 s of a translation unit at -O1).
// So it holds the operations several plugins use; an operation only one plugin needs (Metrics'
// insert_many, Replicator's page, Backup's repair_partitions) stays a lambda in that plugin, so
// only databases with that plugin compile it.

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
    template <class R>
        requires(!std::same_as<std::remove_cv_t<R>, ResourceRef>)
    explicit ResourceRef(R& resource) noexcept : self_(std::addressof(resource)), vtable_(&vtable_for<R>) {}

    explicit operator bool() const noexcept { return self_ != nullptr; }

    const std::string& name() const { return config().name; }
    const ResourceConfig& config() const { return vtable_->config(self_); }
    const Partitions& partitions() const { return vtable_->partitions(self_); }
    /// The object key of record `id`.
    std::string key_of(std::string_view id) const { return record_key(name(), id); }

    json insert(json data) const { return vtable_->insert(self_, std::move(data)); }
    json replace(std::string id, json data) const { return vtable_->replace(self_, std::move(id), std::move(data)); }
    json update(std::string_view id, const json& partial) const { return vtable_->update(self_, id, partial); }
    /// A read-modify-write (a CAS on the record): `change` may run more than once.
    json update(std::string_view id, const std::function<void(json&)>& change) const {
        return vtable_->update_with(self_, id, change);
    }
    void remove(std::string_view id) const { vtable_->remove(self_, id); }
    void remove_many(const std::vector<std::string>& ids) const { vtable_->remove_many(self_, ids); }

    std::optional<json> get_or_null(std::string_view id, const ReadOptions& o = {}) const {
        return vtable_->get_or_null(self_, id, o);
    }
    std::vector<std::optional<json>> get_many(const std::vector<std::string>& ids, const ReadOptions& o = {}) const {
        return vtable_->get_many(self_, ids, o);
    }
    std::vector<std::string> list_ids(const ListQuery& q = {}) const { return vtable_->list_ids(self_, q); }
    std::vector<json> list(const ListQuery& q = {}) const { return vtable_->list(self_, q); }

private:
    struct VTable {
        const ResourceConfig& (*config)(void*);
        const Partitions& (*partitions)(void*);
        json (*insert)(void*, json);
        json (*replace)(void*, std::string, json);
        json (*update)(void*, std::string_view, const json&);
        json (*update_with)(void*, std::string_view, const std::function<void(json&)>&);
        void (*remove)(void*, std::string_view);
        void (*remove_many)(void*, const std::vector<std::string>&);
        std::optional<json> (*get_or_null)(void*, std::string_view, const ReadOptions&);
        std::vector<std::optional<json>> (*get_many)(void*, const std::vector<std::string>&, const ReadOptions&);
        std::vector<std::string> (*list_ids)(void*, const ListQuery&);
        std::vector<json> (*list)(void*, const ListQuery&);
    };

    template <class R>
    static constexpr VTable vtable_for{
        [](void* r) -> const ResourceConfig& { return static_cast<R*>(r)->config(); },
        [](void* r) -> const Partitions& { return static_cast<R*>(r)->partitions(); },
        [](void* r, json d) { return static_cast<R*>(r)->insert(std::move(d)); },
        [](void* r, std::string id, json d) { return static_cast<R*>(r)->replace(std::move(id), std::move(d)); },
        [](void* r, std::string_view id, const json& p) { return static_cast<R*>(r)->update(id, p); },
        [](void* r, std::string_view id, const std::function<void(json&)>& f) { return static_cast<R*>(r)->update(id, f); },
        [](void* r, std::string_view id) { static_cast<R*>(r)->remove(id); },
        [](void* r, const std::vector<std::string>& ids) { static_cast<R*>(r)->remove_many(ids); },
        [](void* r, std::string_view id, const ReadOptions& o) { return static_cast<R*>(r)->get_or_null(id, o); },
        [](void* r, const std::vector<std::string>& ids, const ReadOptions& o) { return static_cast<R*>(r)->get_many(ids, o); },
        [](void* r, const ListQuery& q) { return static_cast<R*>(r)->list_ids(q); },
        [](void* r, const ListQuery& q) { return static_cast<R*>(r)->list(q); },
    };

    void* self_ = nullptr;
    const VTable* vtable_ = nullptr;
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
