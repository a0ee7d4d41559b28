#pragma once
// BasicDatabase<Transport, Plugins...>: one database per bucket and prefix. It owns the transport,
// the s3db.json catalogue, the resources, the plugins and the bounded pool that bulk operations
// share. `Database<Plugins...>`, the same on the store a connection string picks, is in
// core/any_database.hpp.
//
// Plugins named in the type are called statically (see core/plugin.hpp); `use_plugin` adds more
// at run time. Plugins install on the first connect() (or at once when added to a connected
// database), stop on disconnect() and on destruction, and start again on the next connect().
//
// What depends on neither the store nor the plugins (the catalogue and the map of open resources)
// is DatabaseCore, one class compiled once for every database type.

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "s3db/errors.hpp"
#include "s3db/core/catalogue.hpp"
#include "s3db/core/resource.hpp"
#include "s3db/core/typed_resource.hpp"
#include "s3db/fwd.hpp"
#include "s3db/core/observed.hpp"
#include "s3db/detail/worker_pool.hpp"
#include "s3db/core/plugin.hpp"
#include "s3db/transport/transport.hpp"
#include "s3db/transport/transport_ref.hpp"

namespace s3db {

struct DatabaseOptions {
    std::size_t parallelism = 10;        // requests in flight for bulk operations (s3db.js's default)
    std::string passphrase = "secret";   // key of `secret` fields (s3db.js's default, change it)
    /// How `password` fields hash (s3db.js's `security.bcrypt.rounds`, `security.argon2`,
    /// `security.pepper`): bcrypt cost 12, argon2id m=65536 KiB, t=3, p=4, no pepper by default.
    /// The field's type picks the algorithm; `algorithm` here is not used.
    PasswordOptions password{};
    int max_update_attempts = 16;        // compare-and-swap rounds before UpdateConflict
    std::size_t metadata_limit = s3db_metadata_limit;  // bytes of metadata a record may use (S3: 2 KB)
    bool strict_validation = true;  // s3db.js's strictValidation: partitions must name attributes
    /// Partition refs younger than this are never deleted as stale (an insert writes its refs just
    /// before its record); see Resource::repair_partitions.
    std::chrono::seconds stale_ref_grace{60};
};

/// The catalogue and the open resources of a database, whatever its store and plugins: the part of
/// BasicDatabase that is not a template (its bodies compile once in S3DB_SEPARATE_COMPILATION).
/// BasicDatabase makes the resources (the function given to bind), so each is the Resource of its
/// type.
class DatabaseCore {
public:
    using CreateHook = std::function<void(ResourceConfig&)>;

    DatabaseCore(const DatabaseCore&) = delete;
    DatabaseCore& operator=(const DatabaseCore&) = delete;

    /// Whether s3db.json has the resource, openable or not (see resource_error).
    S3DB_DECL bool has_resource(std::string_view name) const;
    /// The names of every resource of s3db.json, those that could not be opened included, in order.
    S3DB_DECL std::vector<std::string> resources() const;
    /// Why the resource could not be opened; nullopt when it is open (or not in the catalogue).
    S3DB_DECL std::optional<std::string> resource_error(std::string_view name) const;

    void before_create_resource(CreateHook h) { before_create_.push_back(std::move(h)); }
    const DatabaseOptions& options() const noexcept { return options_; }

protected:
    /// Deletes the resource as the type it was made as.
    using ResourcePtr = std::unique_ptr<ResourceCore, void (*)(ResourceCore*)>;
    using MakeResource = ResourcePtr (*)(DatabaseCore&, const StoredResource&, ResourceCore::Settings);

    explicit DatabaseCore(DatabaseOptions options) : options_(std::move(options)) {}
    ~DatabaseCore() = default;

    /// The store the catalogue is read from and how a resource is made; set once by BasicDatabase's
    /// constructor.
    void bind(TransportRef store, MakeResource make) noexcept {
        store_.emplace(store);
        make_ = make;
    }

    /// Reads s3db.json (1 GET) and opens every resource it describes (see BasicDatabase::connect).
    S3DB_DECL void load_catalogue();
    /// Validates, records the definition in s3db.json and opens the resource (see create_resource).
    S3DB_DECL ResourceCore& create(ResourceConfig config, const std::optional<RegistrySeed>& seed);
    /// ResourceNotFound or ResourceUnavailable as BasicDatabase::resource.
    S3DB_DECL ResourceCore& find(std::string_view name);
    /// Destroys the resources (before the store and plugins they use).
    S3DB_DECL void close_resources();

private:
    S3DB_DECL void try_open(const DatabaseMetadata& m, const std::string& name);
    S3DB_DECL std::vector<std::string> names_locked() const;
    S3DB_DECL void share_catalogue(const DatabaseMetadata& m);
    S3DB_DECL ResourceCore& open(const StoredResource& stored);

    DatabaseOptions options_;
    std::optional<TransportRef> store_;
    MakeResource make_ = nullptr;
    mutable std::mutex mutex_;
    std::map<std::string, ResourcePtr, std::less<>> resources_;
    std::map<std::string, std::string, std::less<>> unavailable_;  // name -> why it cannot be opened
    std::vector<CreateHook> before_create_;
};

template <class T, class... Plugins>
class BasicDatabase : public DatabaseCore {
    static_assert(Transport<T>, "s3db: a database needs a store that models s3db::Transport");
public:
    class Host;
    /// What resources talk to: the transport, seen by plugins that watch requests.
    using Store = detail::Observed<T>;
    using Resource = s3db::Resource<Store, Host>;
    using CreatedHook = std::function<void(Resource&)>;

    /// The plugins, named in the type or added at run time.
    class Host : public detail::PluginHost<BasicDatabase, Resource, Plugins...> {
        using detail::PluginHost<BasicDatabase, Resource, Plugins...>::PluginHost;
    };

    /// Plugins named in the type are default-constructed unless given here: any of them, in any
    /// order, each at most once (`Database<Audit, Costs> db(url, {}, Costs{…})`). A plugin with no
    /// default constructor must be given.
    explicit BasicDatabase(T transport, DatabaseOptions options = {})
        : BasicDatabase(std::move(options), std::move(transport), detail::take_plugin<Plugins>()...) {}

    /// Every plugin in the type's order (braced arguments work here).
    BasicDatabase(T transport, DatabaseOptions options, Plugins... plugins)
        requires(sizeof...(Plugins) > 0)
        : BasicDatabase(std::move(options), std::move(transport), std::move(plugins)...) {}

    template <class... Given>
        requires(sizeof...(Given) > 0)
    BasicDatabase(T transport, DatabaseOptions options, Given&&... given)
        : BasicDatabase(std::move(options), std::move(transport), detail::take_plugin<Plugins>(std::forward<Given>(given)...)...) {
        static_assert(detail::check_plugin_arguments<std::tuple<Plugins...>, std::remove_cvref_t<Given>...>());
    }

    /// Opens the database of a connection string (see transport/connection.hpp).
    explicit BasicDatabase(std::string_view url, DatabaseOptions options = {})
        requires std::constructible_from<T, std::string_view>
        : BasicDatabase(T(url), std::move(options)) {}

    BasicDatabase(std::string_view url, DatabaseOptions options, Plugins... plugins)
        requires std::constructible_from<T, std::string_view> && (sizeof...(Plugins) > 0)
        : BasicDatabase(std::move(options), T(url), std::move(plugins)...) {}

    template <class... Given>
        requires std::constructible_from<T, std::string_view> && (sizeof...(Given) > 0)
    BasicDatabase(std::string_view url, DatabaseOptions options, Given&&... given)
        : BasicDatabase(T(url), std::move(options), std::forward<Given>(given)...) {}

    /// Plugin hooks still running past their timeout use the store, the resources and the plugins:
    /// they are waited for here, before any member is destroyed.
    ~BasicDatabase() {
        disconnect();
        host_.join_stragglers();
        close_resources();
    }

    /// Reads s3db.json (1 GET) and opens every resource it describes, then installs and starts the
    /// plugins. A database without one is empty until the first create_resource writes it. A corrupt
    /// catalogue → CorruptMetadata. A resource that cannot be opened (unknown attribute type or
    /// behavior, broken partitions) does not stop the others: it is listed by resources(), says why in
    /// resource_error(), and resource() throws ResourceUnavailable for it.
    void connect() {
        load_catalogue();
        connected_ = true;
        host_.install_all();
    }

    /// Stops the plugins (on_stop, in reverse order). The database can connect again: plugins then
    /// start again (on_start), without a second on_install; uninstalled ones stay uninstalled.
    void disconnect() {
        if (!connected_) return;
        connected_ = false;
        host_.stop_all();
    }

    bool connected() const noexcept { return connected_; }

    /// Creates a resource, or records a new version of its definition, in s3db.json (a conditional
    /// write that keeps what other processes wrote meanwhile), and returns it. `seed`: the registries
    /// a resource the catalogue does not have yet starts from (DatabaseMetadata::upsert_resource;
    /// Backup's restore passes the archived ones); ConfigError when two attributes share an index.
    Resource& create_resource(ResourceConfig config, const std::optional<RegistrySeed>& seed = std::nullopt) {
        auto& r = static_cast<Resource&>(create(std::move(config), seed));
        for (auto& h : after_create_) h(r);
        if (connected_) host_.resource_created(r);
        return r;
    }

    /// ResourceNotFound when s3db.json has no such resource, ResourceUnavailable when it has one this
    /// library cannot open.
    Resource& resource(std::string_view name) { return static_cast<Resource&>(find(name)); }

    /// The resource seen through a user struct (nlohmann to_json/from_json).
    template <class Record>
    TypedResource<Resource, Record> resource(std::string_view name) {
        return TypedResource<Resource, Record>(resource(name));
    }

    void after_create_resource(CreatedHook h) { after_create_.push_back(std::move(h)); }

    // ---- plugins ------------------------------------------------------------------------------------

    /// The plugin of type P, named in the type or added at run time (uninstalled too: what it
    /// left can still be read). PluginError when absent.
    template <class P>
    P& plugin() {
        if (auto* p = host_.template find<P>()) return *p;
        throw PluginError(P::name, "not in this database");
    }

    /// The plugin of that name, named in the type or added at run time, in any state: its type,
    /// its status, and the plugin through `as<P>()`. PluginError when absent.
    PluginRef plugin(std::string_view name) {
        if (auto p = host_.find(name)) return *p;
        throw PluginError(name, "not in this database");
    }

    /// Whether the database has that plugin in use: named in the type or added at run time, and
    /// not uninstalled (as s3db.js forgets an uninstalled plugin; plugin() still reaches it).
    bool has_plugin(std::string_view name) const noexcept {
        auto s = host_.state_of(name);
        return s && *s != PluginState::uninstalled;
    }
    template <class P>
    bool has_plugin() const noexcept {
        auto s = host_.template state_of<P>();
        return s && *s != PluginState::uninstalled;
    }

    /// Adds a plugin at run time (type-erased): validated now (PluginError), installed now when the
    /// database is connected, else on connect(). Not safe while operations run.
    template <DatabasePlugin P>
    P& use_plugin(P plugin) {
        return host_.add(std::move(plugin));
    }

    /// Stops and uninstalls the plugin of that name, for the life of this database object (a
    /// reconnect does not bring it back); with purge_data its storage is deleted too. Returns the
    /// number of objects purged.
    std::size_t uninstall_plugin(std::string_view name, UninstallOptions o = {}) { return host_.uninstall(name, o); }

    /// Every plugin's state, errors and health.
    std::vector<PluginStatus> status() const { return host_.status(); }
    /// True when every plugin that is not uninstalled is healthy.
    bool healthy() const {
        for (auto& s : host_.status())
            if (s.state != PluginState::uninstalled && !s.healthy) return false;
        return true;
    }

    /// Listeners of plugin errors that were isolated (the operation went on).
    void on_plugin_error(std::function<void(std::string_view plugin, std::string_view what)> fn) {
        host_.on_plugin_error(std::move(fn));
    }
    /// Plugin events: `emit` from a plugin (Plugin<Self>::emit) or here. `fn(data)` or
    /// `fn(event, data)`; "*" listens to all (the second form tells which).
    template <class Fn>
        requires std::invocable<Fn&, std::string_view, const json&> || std::invocable<Fn&, const json&>
    void on_plugin_event(std::string event, Fn fn) {
        host_.on_plugin_event(std::move(event), std::move(fn));
    }
    void emit_plugin_event(std::string_view event, const json& data) { host_.emit_plugin_event(event, data); }

    T& transport() noexcept { return transport_; }
    /// The transport as resources and plugins use it (requests seen by plugins that watch them).
    Store& store() noexcept { return store_; }
    detail::WorkerPool& pool() noexcept { return pool_; }

private:
    BasicDatabase(DatabaseOptions options, T transport, Plugins... plugins)
        : DatabaseCore(std::move(options)),
          transport_(std::move(transport)),
          pool_(this->options().parallelism),
          host_(*this, std::move(plugins)...),
          store_(transport_, detail::HostRef::of(&host_)) {
        bind(TransportRef(store_), &make_resource);
        host_.validate_all();
    }

    static ResourcePtr make_resource(DatabaseCore& core, const StoredResource& stored, ResourceCore::Settings settings) {
        auto& db = static_cast<BasicDatabase&>(core);
        return ResourcePtr(new Resource(db.store_, db.pool_, stored, std::move(settings), &db.host_),
                           [](ResourceCore* r) { delete static_cast<Resource*>(r); });
    }

    T transport_;
    detail::WorkerPool pool_;
    Host host_;
    Store store_;
    bool connected_ = false;
    std::vector<CreatedHook> after_create_;
};

}  // namespace s3db

#if S3DB_DEFINE_BODIES
namespace s3db {

S3DB_DECL bool DatabaseCore::has_resource(std::string_view name) const {
    std::lock_guard lock(mutex_);
    return resources_.find(name) != resources_.end() || unavailable_.find(name) != unavailable_.end();
}

S3DB_DECL std::vector<std::string> DatabaseCore::resources() const {
    std::lock_guard lock(mutex_);
    return names_locked();
}

S3DB_DECL std::optional<std::string> DatabaseCore::resource_error(std::string_view name) const {
    std::lock_guard lock(mutex_);
    if (auto it = unavailable_.find(name); it != unavailable_.end()) return it->second;
    return std::nullopt;
}

S3DB_DECL void DatabaseCore::load_catalogue() {
    auto current = store_->get(DatabaseMetadata::key);
    std::lock_guard lock(mutex_);
    if (current) {
        auto m = DatabaseMetadata::parse(current->body);
        for (auto& name : m.resource_names()) try_open(m, name);
        share_catalogue(m);
    }
}

S3DB_DECL ResourceCore& DatabaseCore::create(ResourceConfig config, const std::optional<RegistrySeed>& seed) {
    for (auto& h : before_create_) h(config);
    // Everything that can refuse the definition does so before anything is written.
    validate_resource_name(config.name, 1);  // its characters first, so the next message can show it
    validate_id_size(config.name, config.id_size);
    validate_resource_name(config.name, static_cast<std::size_t>(config.id_size));
    {
        auto probe = config;
        detail::apply_timestamps(probe);
        auto schema = Schema::parse(probe.attributes,
                                    SchemaOptions{.all_nested_objects_optional = probe.all_nested_objects_optional,
                                                  .password = options_.password});
        Partitions::parse(probe.name, probe.partitions, schema, PartitionOptions{.strict = options_.strict_validation});
        behavior_from_name(probe.behavior);
    }
    if (seed) {
        std::set<int> used;
        for (auto& b : seed->registry.burned) used.insert(b.index);
        for (auto& [attribute, index] : seed->registry.mapping)
            if (index < 0 || !used.insert(index).second)
                throw ConfigError("resource '" + config.name + "': the registry to start from gives attribute '" + attribute +
                                  "' index " + std::to_string(index) + ", negative or already taken");
    }
    auto m = update_metadata(*store_, [&](DatabaseMetadata& md) { return md.upsert_resource(config, seed ? &*seed : nullptr); });
    std::lock_guard lock(mutex_);
    auto& r = open(*m.resource(config.name));
    unavailable_.erase(config.name);
    share_catalogue(m);
    return r;
}

S3DB_DECL ResourceCore& DatabaseCore::find(std::string_view name) {
    std::lock_guard lock(mutex_);
    if (auto bad = unavailable_.find(name); bad != unavailable_.end()) throw ResourceUnavailable(std::string(name), bad->second);
    auto it = resources_.find(name);
    if (it == resources_.end()) throw ResourceNotFound(std::string(name));
    return *it->second;
}

S3DB_DECL void DatabaseCore::close_resources() {
    std::lock_guard lock(mutex_);
    resources_.clear();
}

/// A resource already open keeps its previous definition (references to it stay valid) but reports
/// the error too.
S3DB_DECL void DatabaseCore::try_open(const DatabaseMetadata& m, const std::string& name) {
    try {
        open(*m.resource(name));
        unavailable_.erase(name);
    } catch (const Error& e) {
        unavailable_[name] = e.what();
    } catch (const nlohmann::json::exception& e) {
        unavailable_[name] = std::string("malformed definition: ") + e.what();
    }
}

S3DB_DECL std::vector<std::string> DatabaseCore::names_locked() const {
    std::vector<std::string> names;
    for (auto& [name, _] : resources_) names.push_back(name);
    for (auto& [name, _] : unavailable_)
        if (!resources_.contains(name)) names.push_back(name);
    std::sort(names.begin(), names.end());
    return names;
}

/// Tells every open resource the catalogue's names (see ResourceCore::set_catalogue).
S3DB_DECL void DatabaseCore::share_catalogue(const DatabaseMetadata& m) {
    auto names = m.resource_names();
    for (auto& n : names_locked())
        if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
    for (auto& [_, r] : resources_) r->set_catalogue(names);
}

S3DB_DECL ResourceCore& DatabaseCore::open(const StoredResource& stored) {
    if (auto it = resources_.find(stored.config.name); it != resources_.end()) {
        it->second->configure(stored);
        return *it->second;
    }
    // Made before it takes a slot: a definition that cannot be opened leaves no empty one.
    auto r = make_(*this, stored, ResourceCore::Settings{options_.passphrase, options_.max_update_attempts,
                                                         options_.metadata_limit, options_.strict_validation,
                                                         options_.stale_ref_grace, options_.password});
    return *resources_.emplace(stored.config.name, std::move(r)).first->second;
}

}  // namespace s3db
#endif  // S3DB_DEFINE_BODIES
