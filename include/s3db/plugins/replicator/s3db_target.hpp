#pragma once
// S3dbTarget: replicate into another s3db database, on any store: a connection string (memory://,
// file://, s3://…; the target database is opened and connected on first use) or a database the
// caller owns, of any type (BasicDatabase<Filesystem>, Database<Cache<Memory>>…).
//
// Inserts and updates are written as the whole record with replace (1 PUT, + its partition refs):
// applying an entry twice leaves the same record, whatever was there. Deletes remove by id (S3
// deletes are idempotent). A destination resource that does not exist is created with the source
// resource's definition under the destination's name, on first delivery.

#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "s3db/core/any_database.hpp"
#include "s3db/core/catalogue.hpp"
#include "s3db/core/resource_ref.hpp"
#include "s3db/plugins/replicator/common.hpp"

namespace s3db {

class S3dbTarget {
public:
    /// Opens the database at `connection_string` on first use (connecting it then).
    /// (Compiled once: it is what instantiates Database<> over every store.)
    S3DB_DECL explicit S3dbTarget(std::string connection_string, ResourceMap resources = ResourceMap::all(),
                                  std::string name = "s3db");

    /// Writes into `db`, which the caller keeps alive (and connected) while the target is used.
    template <class Db>
        requires requires(Db& d) { d.resource(std::string_view{}); d.has_resource(std::string_view{}); }
    explicit S3dbTarget(Db& db, ResourceMap resources = ResourceMap::all(), std::string name = "s3db")
        : resources_(std::move(resources)), name_(std::move(name)), state_(std::make_shared<State>()) {
        state_->bind(db);
    }

    std::string target_name() const { return name_; }
    const ResourceMap& resources() const noexcept { return resources_; }

    /// Creates `destination` with the source's definition when the target has no such resource.
    void prepare(const std::string& destination, const ResourceConfig& source) {
        std::lock_guard lock(state_->mutex);
        state_->ensure_open();
        if (state_->ready.count(destination)) return;
        if (!state_->has(destination)) {
            ResourceConfig c = source;
            c.name = destination;
            c.created_by = "replicator";
            state_->create(c);
        }
        state_->ready.insert(destination);
    }

    void deliver(const std::vector<Delivery>& batch) {
        {
            std::lock_guard lock(state_->mutex);
            state_->ensure_open();
        }
        for (auto& d : batch) {
            try {
                if (d.action == "delete") state_->remove(d.resource, d.id);
                else state_->put(d.resource, d.id, d.data);
            } catch (const ReplicationError&) {
                throw;
            } catch (const TransportError& e) {
                throw ReplicationError(name_, d.resource, d.id, e.what(), true);
            } catch (const std::exception& e) {
                // Validation and the like: the same record will fail again, but the destination may
                // be fixed meanwhile (retry_failed()).
                throw ReplicationError(name_, d.resource, d.id, e.what(), false);
            }
        }
    }

private:
    struct State {
        std::mutex mutex;  // opening and creating resources; writes run unlocked
        std::function<void(State&)> open;
        std::shared_ptr<void> owned;
        std::set<std::string, std::less<>> ready;
        DatabaseRef db;  // the target database, once open

        template <class Db>
        void bind(Db& target) {
            db = DatabaseRef(target);
        }
        void ensure_open() {
            if (!db && open) open(*this);
        }
        bool has(const std::string& r) const { return db.has_resource(r); }
        void create(const ResourceConfig& c) const { db.create_resource(c); }
        void put(const std::string& r, const std::string& id, const json& data) const { db.resource(r).replace(id, data); }
        void remove(const std::string& r, const std::string& id) const {
            if (db.has_resource(r)) db.resource(r).remove(id);
        }
    };

    ResourceMap resources_;
    std::string name_;
    std::shared_ptr<State> state_;
};

}  // namespace s3db

#if S3DB_DEFINE_BODIES
namespace s3db {

S3DB_DECL S3dbTarget::S3dbTarget(std::string connection_string, ResourceMap resources, std::string name)
    : resources_(std::move(resources)), name_(std::move(name)), state_(std::make_shared<State>()) {
    state_->open = [url = std::move(connection_string)](State& s) {
        auto db = std::make_shared<Database<>>(url);
        db->connect();
        s.bind(*db);
        s.owned = std::move(db);
    };
}

}  // namespace s3db
#endif  // S3DB_DEFINE_BODIES
