#pragma once
// Backup<Driver>: every record of every resource out of the bucket into an archive a driver keeps
// (plugins/backup/driver.hpp: FilesystemBackup, S3Backup<T>, MultiBackup<D...>), and back. What
// does not depend on the driver or the compression policy is BackupCore, compiled once.
//
//   BasicDatabase<Filesystem, Backup<FilesystemBackup>> db(fs, {}, Backup(FilesystemBackup{"./backups/{date}/"}));
//   auto full = db.plugin<Backup<FilesystemBackup>>().backup();                       // BackupType::full
//   auto inc  = db.plugin<Backup<FilesystemBackup>>().backup(BackupType::incremental);
//   db.plugin<Backup<FilesystemBackup>>().restore(inc.id, {.mode = RestoreMode::replace});
//
// The archive (one directory / key prefix per backup, found again from the backup id alone):
//
//   manifest.json                 {"format":"s3db-backup","version":1,"id","type","createdAt","parent",
//                                  "chain":[full id, …, this id],"resources":[{"name","records","present",
//                                  "deleted","files":[…]}],"files":[{"name","size","sha256","plainSize",
//                                  "records"}],"compression":null | {"algorithm":"gzip","level"},
//                                  "encryption":null | {"algorithm":"AES-256-GCM","kdf":"PBKDF2-HMAC-SHA256",
//                                  "iterations","salt"(base64),"check"(base64)}}  — never compressed or encrypted
//   s3db.json                     the database's catalogue as it was
//   <resource>/definition.json    {"config": the resource's definition} (its schema registry: in s3db.json)
//   <resource>/records-NNNNN.jsonl one line per record object, at most `records_per_file` per file:
//                                  {"key": key after `resource=<r>/data/`, "etag", "lastModified" (ms),
//                                  "contentType", "metadata": {…}, "body": base64 (absent when empty)}
//   <resource>/deleted.jsonl      incremental only: {"key"} of each record gone since the parent
//   <resource>/index-NNNNN.tsv    `<key>\t<etag>\t<lastModified ms>` of every record at backup time,
//                                  in key order, at most `records_per_file` lines per part (at least
//                                  one part): what the next incremental merges LIST's pages with.
//                                  (Archives before parts have one `index.tsv`; still read.)
//
// Compression is a policy, `Backup<Driver, Compression>`: NoCompression (the default) or
// GzipCompression from s3db/plugins/backup/gzip.hpp (the one header that needs zlib; CMake target
// s3db::gzip). Compressed, every file but the manifest is stored as `<name>.gz`, one gzip member;
// `size` and `sha256` are of the bytes stored, `plainSize` of the file before compression. Each
// file is compressed, then encrypted (ciphertext does not compress); restore checks size and
// SHA-256, decrypts, then decompresses to exactly `plainSize` bytes (gzip's CRC-32 checked), all
// before it writes anything. A restore reads each backup as its manifest says: a gzip Backup
// restores uncompressed archives too; one without gzip refuses a gzip archive (BackupError).
//
// Records are the stored objects, byte for byte (metadata, body, content type): secrets stay the
// ciphertext they are, binary content and every behavior's body come back exactly, and restore
// writes them with 1 PUT each, then rebuilds the partition refs (Resource::repair_partitions).
// Secrets need the same database passphrase wherever they are restored. Each file's SHA-256 (of
// the bytes stored, i.e. after compression and encryption) is in the manifest; restore reads and checks every file
// of the whole chain, and the passphrase, before it writes anything.
//
// Events (db.on_plugin_event): backup.start, backup.resource (per resource: records, present,
// deleted), backup.complete, backup.error, backup.deleted (retention); restore.start,
// restore.resource (written, skipped, deleted), restore.complete, restore.error. A restore that
// fails while writing (the store fails mid-way) leaves what it wrote: run it again (merge/replace
// are idempotent).
//
// Requests on the database's store: full = 1 LIST per 1000 records + 1 GET per record (+ s3db.json
// and the metadata resource's own reads and writes); incremental = the LISTs, and a GET only per
// new or changed record (ETag or LastModified differs from the parent's index). Memory is flat in the
// number of records: one LIST page, one records file and one index part are held at a time, and an
// incremental reads the parent's index one part at a time, merged with the LIST pages (both in key
// order); only deleted.jsonl grows, with the deletions. Restore holds one archive file at a time
// and reads each file twice (check, then apply); `skip` mode also holds the target's keys.
// (test_backup_memory.cpp: BackupMemory.FlatFrom10kTo100kRecords measures it.)
//
// A backup taken while writers run is not a point-in-time snapshot: each record is as its GET found
// it. Record objects keep their attributes under the metadata keys of the source's schema registry
// (s3db.json `schemaRegistry`, and `pluginSchemaRegistry`): a resource the target database lacks is
// created with the archived registries (mapping, burned indices, nextIndex, as the newest backup of
// the chain has them), so a history of removed and added attributes maps the same there. A resource
// the target has must map every attribute of the archive's mapping to the same index (or have burned
// that index) and use no index the archive burned; otherwise restore throws BackupRegistryMismatch
// (backup, resource, attribute, both indices) before it writes anything.
//
// S3 storage classes: S3Backup's `storage_class` (plugins/backup/driver.hpp).
//
// Schedules: compose the Scheduler (plugins/scheduler.hpp) and add a job that calls backup(); each
// tick runs once across processes and its history holds the result (test_backup.cpp:
// Backup.ScheduledThroughTheSchedulerWhenBothAreComposed).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "s3db/detail/config.hpp"
#include "s3db/detail/crypto.hpp"
#include "s3db/detail/encoding.hpp"
#include "s3db/detail/hashing.hpp"
#include "s3db/detail/random.hpp"
#include "s3db/detail/time.hpp"
#include "s3db/errors.hpp"
#include "s3db/core/catalogue.hpp"
#include "s3db/core/ids.hpp"
#include "s3db/core/plugin.hpp"
#include "s3db/core/resource_ref.hpp"
#include "s3db/plugins/backup/driver.hpp"
#include "s3db/transport/transport.hpp"

namespace s3db {

enum class BackupType { full, incremental };
enum class RestoreMode {
    merge,    // records of the backup overwrite those with the same id; others stay
    replace,  // each restored resource is emptied first: it ends exactly as backed up
    skip,     // records that exist are left as they are
};

/// Grandfather-father-son retention, applied after each completed backup. All zero: keep every
/// backup. Otherwise a backup is kept when it is younger than `daily` days, or the newest of one of
/// the `weekly` most recent ISO weeks, `monthly` months or `yearly` years that have backups — and
/// so is every backup a kept incremental builds on. The rest is deleted from the destination and
/// from the metadata resource.
struct BackupRetention {
    int daily = 0, weekly = 0, monthly = 0, yearly = 0;
    bool keeps_all() const noexcept { return daily <= 0 && weekly <= 0 && monthly <= 0 && yearly <= 0; }
};

struct BackupOptions {
    std::vector<std::string> include{};  // only these resources (empty: all)
    std::vector<std::string> exclude{};  // never these (the metadata resource never is backed up)
    /// Non-empty: every file but the manifest is AES-256-GCM encrypted with a key derived from this
    /// (PBKDF2-HMAC-SHA256, a random salt per backup, kept in the manifest).
    std::string passphrase{};
    int kdf_iterations = 100'000;
    std::size_t records_per_file = 1000;
    BackupRetention retention{};
    std::string resource_name = "plg_backup_metadata";
    /// The time of a backup (tests move it); the system clock when unset.
    std::function<std::chrono::system_clock::time_point()> clock{};
};

struct RestoreOptions {
    std::vector<std::string> resources{};  // only these (empty: every resource of the backup)
    RestoreMode mode = RestoreMode::merge;
};

struct BackupResult {
    std::string id{}, type{}, parent{};
    std::size_t records = 0;  // record objects written to the archive
    std::size_t deleted = 0;  // deletions recorded (incremental)
    std::size_t files = 0;
    std::uint64_t bytes = 0;  // archive bytes, manifest included
    std::uint64_t plain_bytes = 0;  // the same files before compression and encryption
    std::string checksum{};   // SHA-256 of manifest.json
    std::int64_t duration_ms = 0;
};

struct RestoreResult {
    std::string id{};
    std::vector<std::string> chain{};      // backups applied, full first
    std::vector<std::string> resources{};  // resources restored
    std::size_t written = 0, skipped = 0, deleted = 0;
};

/// How archive files are compressed: a policy, `Backup<Driver, Compression>`. `algorithm` names it
/// in the manifest (`"compression": describe()`), `suffix` is appended to every file name but the
/// manifest's, `compress` takes a whole file and `decompress(bytes, size)` gives it back, or
/// nullopt unless it yields exactly `size` bytes (the manifest's `plainSize`: no bomb gets past
/// it). Both run once per file: memory holds one file, plain and packed, at a time.
template <class C>
concept BackupCompression = requires(const C& c, std::string_view bytes, std::size_t size) {
    { C::algorithm } -> std::convertible_to<std::string_view>;
    { C::suffix } -> std::convertible_to<std::string_view>;
    { c.compress(bytes) } -> std::same_as<std::string>;
    { c.decompress(bytes, size) } -> std::same_as<std::optional<std::string>>;
    { c.describe() } -> std::convertible_to<json>;
};

/// The default: files are stored as they are (`"compression": null`). gzip is
/// `GzipCompression` in s3db/plugins/backup/gzip.hpp, the one header that needs zlib.
struct NoCompression {
    static constexpr std::string_view algorithm = "none";
    static constexpr std::string_view suffix = "";
    std::string compress(std::string_view bytes) const { return std::string(bytes); }
    std::optional<std::string> decompress(std::string_view bytes, std::size_t size) const {
        if (bytes.size() != size) return std::nullopt;
        return std::string(bytes);
    }
    json describe() const { return nullptr; }
};

namespace detail {

/// A resource definition as the archive keeps it, and back; ordered, since the order of attributes
/// decides which metadata key each one is stored under.
S3DB_DECL nlohmann::ordered_json backup_config_json(const ResourceConfig& c);
S3DB_DECL ResourceConfig backup_config_from(const nlohmann::ordered_json& j);
/// One archive line for a record object.
S3DB_DECL std::string backup_line(std::string_view key_tail, const Object& o);
/// Which of `backups` (completed, {"id","ms","parent"}) retention keeps at `now_ms`.
S3DB_DECL std::set<std::string> backup_retained(const std::vector<json>& backups, const BackupRetention& r, std::int64_t now_ms);

}  // namespace detail

/// What every Backup<Driver, Compression> does that depends on neither: backup, restore,
/// retention and the queries, compiled once (S3DB_SEPARATE_COMPILATION) instead of once per driver
/// and compression policy. It reaches the driver and the policy through a table of functions that
/// Backup makes once per type, and its own plugin events through a function Backup gives it.
class BackupCore {
public:
    static constexpr std::string_view name = "Backup";

    const BackupOptions& options() const noexcept { return options_; }
    S3DB_DECL PluginHealth health() const;

    // ---- backup -----------------------------------------------------------------------------------

    /// Backs up every selected resource; an incremental with no completed backup before it is a full.
    /// Throws (after marking the backup failed and emitting backup.error) when anything fails.
    S3DB_DECL BackupResult backup(BackupType type = BackupType::full, const std::vector<std::string>& resources = {});

    // ---- restore ----------------------------------------------------------------------------------

    /// Restores backup `id` (with the chain it builds on) into this plugin's database. Every file of
    /// the chain is read and checked (size, SHA-256, GCM tag) before the first write: a damaged
    /// archive or a wrong passphrase throws and leaves the database as it was.
    S3DB_DECL RestoreResult restore(const std::string& id, const RestoreOptions& o = {});

    // ---- queries ----------------------------------------------------------------------------------

    /// Every backup of the metadata resource, newest first.
    S3DB_DECL std::vector<json> list_backups() const;
    /// The metadata record of one backup (status, type, sizes, checksum, duration, error).
    S3DB_DECL std::optional<json> get_backup_status(const std::string& id) const;
    /// The definition of the metadata resource.
    S3DB_DECL ResourceConfig metadata_config() const;

protected:
    struct Backend;
    /// What a Backup and its copies share: the installed database, the lock that runs one backup or
    /// restore at a time and, in Backup<Driver, Compression>::Owned, the driver and the policy.
    struct Shared {
        std::mutex mutex;      // guards backend
        std::mutex run_mutex;  // one backup or restore at a time
        std::shared_ptr<const Backend> backend;
    };
    /// The driver's and the compression policy's functions, one table per Backup<Driver, Compression>.
    struct Policies {
        void (*write)(Shared&, const BackupStamp&, std::string_view name, std::string_view bytes);
        std::optional<std::string> (*read)(Shared&, const BackupStamp&, std::string_view name);
        void (*remove)(Shared&, const BackupStamp&);
        std::string (*describe)(const Shared&);
        std::string_view algorithm, suffix;
        bool compresses;  // false for NoCompression: files go to the driver as they are, not copied
        std::string (*compress)(const Shared&, std::string_view bytes);
        std::optional<std::string> (*decompress)(const Shared&, std::string_view bytes, std::size_t size);
        json (*describe_compression)(const Shared&);
    };
    /// Sends a plugin event through Backup's Plugin base (Plugin<Backup<…>>::emit).
    using Emit = void (*)(BackupCore&, std::string_view, const json&);

    BackupCore(BackupOptions options, std::shared_ptr<Shared> shared, const Policies& policies, Emit emit)
        : options_(std::move(options)), state_(std::move(shared)), policies_(&policies), emit_(emit) {}

    Shared& shared() const noexcept { return *state_; }
    /// ConfigError for options that cannot work (Backup::validate).
    S3DB_DECL void check_options() const;
    /// Keeps what backup and restore need of the database the plugin was installed in.
    S3DB_DECL void install(DatabaseRef db, ResourceRef meta);

private:
    static constexpr std::string_view key_check = "s3db-backup key check";
    /// Files being written for one backup, one backup of a chain being restored, and the parent's
    /// index read as a cursor (defined with the bodies).
    struct Writer;
    struct Loaded;
    class ParentIndex;

    void notify(std::string_view event, const json& data) { emit_(*this, event, data); }
    S3DB_DECL std::chrono::system_clock::time_point now() const;
    S3DB_DECL std::shared_ptr<const Backend> backend() const;
    S3DB_DECL std::shared_ptr<const Backend> need_backend() const;

    S3DB_DECL static std::string seal(const std::string& key, std::string_view plain);
    S3DB_DECL static std::optional<std::string> open(const std::string& key, std::string_view sealed);
    S3DB_DECL static BackupStamp stamp_of(const std::string& id);
    S3DB_DECL json read_manifest(const std::string& id) const;
    /// The backup's key: derived from the passphrase and the manifest's salt, checked against the
    /// manifest's sealed probe. Empty for a backup that is not encrypted.
    S3DB_DECL std::string key_of(const Loaded& l) const;
    /// A file of a loaded backup, checked against the manifest and decrypted.
    S3DB_DECL std::string read_file(const Loaded& l, const json& f) const;
    /// The compression entry of a manifest (null: none; absent in archives older than compression).
    S3DB_DECL static const json& compression_of(const json& manifest);
    /// The suffix of a backup's files (`users/index.tsv` → `users/index.tsv.gz` in a gzip backup).
    S3DB_DECL std::string suffix_of(const json& manifest) const;
    /// A file name without its compression suffix.
    S3DB_DECL std::string logical_name(const Loaded& l, const std::string& file) const;
    S3DB_DECL static const json* resource_entry(const json& manifest, const std::string& r);
    S3DB_DECL static const json& file_entry(const Loaded& l, const std::string& file);
    S3DB_DECL static bool wanted(const std::string& file, const std::vector<std::string>& names);
    /// The registries of resource `r` in a catalogue (schemaRegistry, pluginSchemaRegistry);
    /// nullopt when it has no such resource.
    S3DB_DECL static std::optional<RegistrySeed> registries_of(const DatabaseMetadata& m, const std::string& r);
    /// The registries resource `r` had when the newest backup of the chain that has it was taken
    /// (its records, and the older ones', were written with them or with earlier states of them:
    /// indices never move, removed attributes' are burned).
    S3DB_DECL RegistrySeed archived_registries(const std::vector<Loaded>& chain,
                                               const std::vector<std::optional<DatabaseMetadata>>& catalogues,
                                               const std::string& r) const;
    /// BackupRegistryMismatch unless every attribute the archive maps has the same index in the
    /// target (or the target burned that index: it removed the attribute and ignores its values, as
    /// the source does), and no index the archive burned is in use in the target (older records
    /// still carry values there). Plugin attributes: the same key per plugin and attribute.
    S3DB_DECL static void check_registries(const std::string& id, const std::string& r, const RegistrySeed& archive,
                                           const RegistrySeed& target);
    S3DB_DECL nlohmann::ordered_json definition_of(const std::vector<Loaded>& chain, const std::string& r) const;
    S3DB_DECL std::vector<std::string> selected(const Backend& b, const std::vector<std::string>& only) const;
    /// Completed backups, newest first.
    S3DB_DECL std::vector<json> completed(const Backend&) const;
    /// One resource into the archive: its definition, its records (all, or those whose ETag differs
    /// from the parent's index), its deletions and its index. Returns its manifest entry.
    S3DB_DECL json backup_resource(const Backend& b, Writer& w, const std::string& r, const std::optional<json>& parent) const;
    S3DB_DECL void apply_retention(const Backend& b);

    BackupOptions options_;
    std::shared_ptr<Shared> state_;
    const Policies* policies_;
    Emit emit_;
};

template <BackupDriver Driver, BackupCompression Compression = NoCompression>
class Backup : public Plugin<Backup<Driver, Compression>>, public BackupCore {
    using Base = Plugin<Backup<Driver, Compression>>;

public:
    static constexpr std::string_view name = BackupCore::name;

    explicit Backup(Driver driver, BackupOptions options = {}, PluginOptions plugin_options = {})
        : Backup(std::move(driver), std::move(options), Compression{}, plugin_options) {}
    /// With a compression policy: `Backup(FilesystemBackup{…}, {}, GzipCompression{.level = 9})`.
    Backup(Driver driver, BackupOptions options, Compression compression, PluginOptions plugin_options = {})
        : Base(plugin_options),
          BackupCore(std::move(options), std::make_shared<Owned>(std::move(driver), std::move(compression)), policies, &emit_event) {}

    const Compression& compression() const noexcept { return owned().compression; }
    Driver& driver() noexcept { return owned().driver; }

    void validate() const {
        if constexpr (requires(const Compression& c) { c.validate(); }) owned().compression.validate();
        check_options();
    }

    /// Opens (or creates) the metadata resource and keeps what backup and restore need of `db`.
    template <class Db>
    void on_install(Db& db) {
        auto& meta = db.has_resource(options().resource_name) ? db.resource(options().resource_name)
                                                               : db.create_resource(metadata_config());
        install(DatabaseRef(db), ResourceRef(meta));
    }

private:
    struct Owned : Shared {
        Owned(Driver d, Compression c) : driver(std::move(d)), compression(std::move(c)) {}
        Driver driver;
        Compression compression;
    };
    Owned& owned() const noexcept { return static_cast<Owned&>(shared()); }

    static void emit_event(BackupCore& core, std::string_view event, const json& data) {
        static_cast<Backup&>(core).emit(event, data);
    }
    static constexpr Policies policies{
        [](Shared& s, const BackupStamp& at, std::string_view n, std::string_view bytes) { static_cast<Owned&>(s).driver.write(at, n, bytes); },
        [](Shared& s, const BackupStamp& at, std::string_view n) { return static_cast<Owned&>(s).driver.read(at, n); },
        [](Shared& s, const BackupStamp& at) { static_cast<Owned&>(s).driver.remove(at); },
        [](const Shared& s) { return std::string(static_cast<const Owned&>(s).driver.describe()); },
        Compression::algorithm,
        Compression::suffix,
        !std::same_as<Compression, NoCompression>,
        [](const Shared& s, std::string_view bytes) { return static_cast<const Owned&>(s).compression.compress(bytes); },
        [](const Shared& s, std::string_view bytes, std::size_t size) {
            return static_cast<const Owned&>(s).compression.decompress(bytes, size);
        },
        [](const Shared& s) { return json(static_cast<const Owned&>(s).compression.describe()); },
    };
};

}  // namespace s3db

#if S3DB_DEFINE_BODIES
namespace s3db::detail {

S3DB_DECL nlohmann::ordered_json backup_config_json(const ResourceConfig& c) {
    return nlohmann::ordered_json{{"name", c.name},
                {"attributes", c.attributes},
                {"behavior", c.behavior},
                {"timestamps", c.timestamps},
                {"partitions", c.partitions},
                {"paranoid", c.paranoid},
                {"allNestedObjectsOptional", c.all_nested_objects_optional},
                {"autoDecrypt", c.auto_decrypt},
                {"idSize", c.id_size},
                {"idGenerator", c.id_generator},
                {"createdBy", c.created_by}};
}

S3DB_DECL ResourceConfig backup_config_from(const nlohmann::ordered_json& j) {
    ResourceConfig c;
    c.name = j.at("name").get<std::string>();
    c.attributes = j.at("attributes");
    c.behavior = j.value("behavior", c.behavior);
    c.timestamps = j.value("timestamps", c.timestamps);
    c.partitions = j.value("partitions", nlohmann::ordered_json::object());
    c.paranoid = j.value("paranoid", c.paranoid);
    c.all_nested_objects_optional = j.value("allNestedObjectsOptional", c.all_nested_objects_optional);
    c.auto_decrypt = j.value("autoDecrypt", c.auto_decrypt);
    c.id_size = j.value("idSize", c.id_size);
    c.id_generator = j.value("idGenerator", c.id_generator);
    c.created_by = j.value("createdBy", c.created_by);
    return c;
}

S3DB_DECL std::string backup_line(std::string_view key_tail, const Object& o) {
    json meta = json::object();
    for (auto& [k, v] : o.info.metadata) meta[k] = v;
    json line = {{"key", key_tail},
                 {"etag", o.info.etag},
                 {"lastModified", epoch_ms(o.info.last_modified)},
                 {"contentType", o.info.content_type},
                 {"metadata", std::move(meta)}};
    if (!o.body.empty()) line["body"] = base64_encode(o.body);
    return line.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

S3DB_DECL std::set<std::string> backup_retained(const std::vector<json>& backups, const BackupRetention& r, std::int64_t now_ms) {
    std::set<std::string> keep;
    if (r.keeps_all()) {
        for (auto& b : backups) keep.insert(b.at("id").get<std::string>());
        return keep;
    }
    std::vector<std::pair<std::int64_t, std::string>> by_time;  // newest first
    for (auto& b : backups) by_time.emplace_back(b.at("ms").get<std::int64_t>(), b.at("id").get<std::string>());
    std::sort(by_time.begin(), by_time.end(), std::greater<>());
    constexpr std::int64_t day = 86'400'000;
    for (auto& [ms, id] : by_time)
        if (r.daily > 0 && ms > now_ms - r.daily * day) keep.insert(id);
    // The newest backup of each of the `count` most recent buckets.
    auto newest_per = [&](int count, auto bucket_of) {
        if (count <= 0) return;
        std::set<std::int64_t> seen;
        for (auto& [ms, id] : by_time) {
            const std::int64_t bucket = bucket_of(ms);
            if (seen.count(bucket)) continue;
            if (static_cast<int>(seen.size()) >= count) break;
            seen.insert(bucket);
            keep.insert(id);
        }
    };
    auto civil = [](std::int64_t ms) {
        return std::chrono::year_month_day(std::chrono::sys_days(std::chrono::days(floor_div(ms, day))));
    };
    newest_per(r.weekly, [](std::int64_t ms) { return floor_div(floor_div(ms, day) + 3, 7); });  // weeks from Monday
    newest_per(r.monthly, [&](std::int64_t ms) {
        auto d = civil(ms);
        return static_cast<std::int64_t>(static_cast<int>(d.year())) * 12 + static_cast<unsigned>(d.month());
    });
    newest_per(r.yearly, [&](std::int64_t ms) { return static_cast<std::int64_t>(static_cast<int>(civil(ms).year())); });
    // An incremental needs its whole chain.
    std::map<std::string, std::string> parent;
    for (auto& b : backups) parent[b.at("id").get<std::string>()] = b.value("parent", std::string{});
    std::vector<std::string> todo(keep.begin(), keep.end());
    while (!todo.empty()) {
        auto id = todo.back();
        todo.pop_back();
        auto it = parent.find(id);
        if (it != parent.end() && !it->second.empty() && keep.insert(it->second).second) todo.push_back(it->second);
    }
    return keep;
}

}  // namespace s3db::detail

namespace s3db {

/// The database the plugin was installed in, as backup and restore use it.
struct BackupCore::Backend {
    DatabaseRef db;
    ResourceRef meta;  // plg_backup_metadata

    std::vector<std::string> resources() const { return db.resources(); }
    std::optional<Object> get(const std::string& k) const { return db.store().get(k, GetOptions{}); }
    ListPage list(const ListOptions& o) const { return db.store().list(o); }
    void put(const std::string& k, std::string_view body, PutOptions o) const { db.store().put(k, body, std::move(o)); }
    void remove(const std::string& k) const { db.store().remove(k); }
    void remove_prefix(const std::string& p) const {
        auto store = db.store();
        s3db::remove_prefix(store, p);
    }
    void parallel(std::size_t n, const std::function<void(std::size_t)>& fn) const { db.pool().for_each_index(n, fn); }
    nlohmann::ordered_json definition(const std::string& r) const { return detail::backup_config_json(db.resource(r).config()); }
    /// Creates the resource an archive defines unless the database has one of that name: true when created.
    bool ensure(const nlohmann::ordered_json& config, const RegistrySeed& seed) const {
        auto c = detail::backup_config_from(config);
        if (db.has_resource(c.name)) return false;
        db.create_resource(std::move(c), seed);
        return true;
    }
    /// The database's s3db.json, read now.
    DatabaseMetadata catalogue() const {
        auto o = db.store().get(std::string(DatabaseMetadata::key), GetOptions{});
        return o ? DatabaseMetadata::parse(o->body) : DatabaseMetadata::blank();
    }
    void meta_insert(json r) const { meta.insert(std::move(r)); }
    void meta_update(const std::string& id, const json& patch) const { meta.update(id, patch); }
    std::optional<json> meta_get(const std::string& id) const { return meta.get_or_null(id); }
    std::vector<json> meta_list() const { return meta.list(); }
    void meta_remove(const std::string& id) const { meta.remove(id); }
};

/// Files being written for one backup: each compressed, then sealed when there is a key,
/// hashed, handed to the driver. Compression comes first because ciphertext does not compress
/// (it looks random); compressing first also hides nothing from a reader without the key, who
/// sees sizes either way.
struct BackupCore::Writer {
    const BackupCore& self;
    BackupStamp stamp;
    std::string key;
    json files;
    std::uint64_t bytes, plain_bytes;
    void put(const std::string& logical, std::string_view plain, std::size_t records) {
        std::string packed;
        std::string_view data = plain;
        if (self.policies_->compresses) {
            packed = self.policies_->compress(*self.state_, plain);
            data = packed;
        }
        std::string sealed = key.empty() ? std::string(data) : seal(key, data);
        packed = std::string{};  // one file's bytes at a time
        const std::string name = logical + std::string(self.policies_->suffix);
        self.policies_->write(*self.state_, stamp, name, sealed);
        bytes += sealed.size();
        plain_bytes += plain.size();
        files.push_back({{"name", name},
                         {"size", sealed.size()},
                         {"sha256", detail::sha256_hex(sealed)},
                         {"plainSize", plain.size()},
                         {"records", records}});
    }
};

/// One backup of a chain being restored.
struct BackupCore::Loaded {
    BackupStamp stamp;
    json manifest;
    std::string key;
};

/// The parent backup's index of one resource (`index-NNNNN.tsv` parts, or the single
/// `index.tsv` of archives written before parts), read one file at a time as a cursor in key
/// order: an incremental merges it with the LIST pages and holds neither whole.
class BackupCore::ParentIndex {
public:
    ParentIndex(const BackupCore& self, const std::optional<json>& parent, const std::string& r) : self_(self) {
        if (!parent || !resource_entry(*parent, r)) return;
        loaded_.emplace(Loaded{stamp_of(parent->at("id").get<std::string>()), *parent, {}});
        loaded_->key = self_.key_of(*loaded_);
        for (auto& n : (*resource_entry(*parent, r))["files"]) {
            const auto name = n.get<std::string>();
            const auto file = self_.logical_name(*loaded_, name);
            if (file == r + "/index.tsv" || (file.starts_with(r + "/index-") && file.ends_with(".tsv"))) files_.push_back(name);
        }
        if (files_.empty()) throw BackupChecksumMismatch(loaded_->stamp.id, "the manifest lists no index of resource '" + r + "'");
        next();
    }
    /// The cursor is on `tail`.
    bool at(const std::string& tail) const { return has_ && key_ == tail; }
    const std::string& stamp() const { return stamp_; }
    /// Calls gone(key) for each key before `tail` (in the parent, not listed now) and passes it.
    template <class F>
    void skip_before(const std::string& tail, F&& gone) {
        while (has_ && key_ < tail) {
            gone(key_);
            next();
        }
    }
    template <class F>
    void skip_rest(F&& gone) {
        while (has_) {
            gone(key_);
            next();
        }
    }
    void next() {
        for (;;) {
            if (at_ < text_.size()) {
                auto nl = text_.find('\n', at_);
                if (nl == std::string::npos) nl = text_.size();
                const auto tab = text_.find('\t', at_);  // key, then "<etag>\t<lastModified ms>"
                const std::size_t from = at_;
                at_ = nl + 1;
                if (tab == std::string::npos || tab >= nl) continue;
                std::string key = text_.substr(from, tab - from);
                if (has_ && key <= key_)
                    throw BackupError(loaded_->stamp.id, "the index is not in key order at '" + key + "'", files_[file_ - 1]);
                key_ = std::move(key);
                stamp_ = text_.substr(tab + 1, nl - tab - 1);
                has_ = true;
                return;
            }
            if (file_ >= files_.size()) {
                has_ = false;
                text_ = std::string{};
                return;
            }
            text_ = self_.read_file(*loaded_, file_entry(*loaded_, files_[file_++]));
            at_ = 0;
        }
    }

private:
    const BackupCore& self_;
    std::optional<Loaded> loaded_;
    std::vector<std::string> files_;
    std::size_t file_ = 0, at_ = 0;
    std::string text_, key_, stamp_;
    bool has_ = false;
};

S3DB_DECL void BackupCore::check_options() const {
    if (options_.resource_name.empty()) throw ConfigError("Backup: resource_name is empty");
    if (options_.records_per_file == 0) throw ConfigError("Backup: records_per_file must be at least 1");
    if (!options_.passphrase.empty() && options_.kdf_iterations < 1000)
        throw ConfigError("Backup: kdf_iterations must be at least 1000");
}

S3DB_DECL void BackupCore::install(DatabaseRef db, ResourceRef meta) {
    auto b = std::make_shared<Backend>();
    b->db = db;
    b->meta = meta;
    std::lock_guard lock(state_->mutex);
    state_->backend = std::move(b);
}

S3DB_DECL PluginHealth BackupCore::health() const {
    if (!backend()) return {false, "the metadata resource '" + options_.resource_name + "' is not open"};
    return {true, "backups to " + policies_->describe(*state_)};
}

S3DB_DECL BackupResult BackupCore::backup(BackupType type, const std::vector<std::string>& resources) {
    auto b = need_backend();
    std::lock_guard run(state_->run_mutex);  // one backup or restore at a time per plugin
    const auto started = std::chrono::steady_clock::now();
    const std::int64_t ms = detail::epoch_ms(now());

    std::optional<json> parent_manifest;
    if (type == BackupType::incremental) {
        try {
            auto done = completed(*b);
            if (!done.empty()) parent_manifest = read_manifest(done.front().at("id").get<std::string>());
        } catch (const std::exception& e) {  // no backup id yet: the error names the parent
            notify("backup.error", {{"id", ""}, {"type", "incremental"}, {"error", e.what()}});
            throw;
        }
    }
    const std::string type_name = parent_manifest ? "incremental" : "full";
    BackupStamp stamp{detail::backup_id(type_name, ms), type_name, ms};
    BackupResult result{.id = stamp.id, .type = type_name};
    if (parent_manifest) result.parent = parent_manifest->at("id").get<std::string>();

    b->meta_insert(json{{"id", stamp.id},
                        {"type", type_name},
                        {"status", "in_progress"},
                        {"createdAt", detail::iso_string(ms)},
                        {"parent", result.parent},
                        {"destination", policies_->describe(*state_)},
                        {"compression", std::string(policies_->algorithm)},
                        {"encrypted", !options_.passphrase.empty()}});
    notify("backup.start", {{"id", stamp.id}, {"type", type_name}, {"parent", result.parent}});
    try {
        Writer w{*this, stamp, {}, json::array(), 0, 0};
        json encryption = nullptr;
        if (!options_.passphrase.empty()) {
            std::string salt(detail::secret_salt_bytes, '\0');
            detail::random_fill(reinterpret_cast<unsigned char*>(salt.data()), salt.size());
            w.key = detail::pbkdf2_sha256(options_.passphrase, salt, options_.kdf_iterations);
            encryption = {{"algorithm", "AES-256-GCM"},
                          {"kdf", "PBKDF2-HMAC-SHA256"},
                          {"iterations", options_.kdf_iterations},
                          {"salt", detail::base64_encode(salt)},
                          {"check", detail::base64_encode(seal(w.key, key_check))}};
        }
        if (auto cat = b->get(std::string(DatabaseMetadata::key))) w.put("s3db.json", cat->body, 0);

        json chain = parent_manifest ? parent_manifest->at("chain") : json::array();
        chain.push_back(stamp.id);
        json manifest_resources = json::array();
        for (const auto& r : selected(*b, resources)) {
            json entry = backup_resource(*b, w, r, parent_manifest);
            result.records += entry["records"].get<std::size_t>();
            result.deleted += entry["deleted"].get<std::size_t>();
            notify("backup.resource", {{"id", stamp.id}, {"resource", r}, {"records", entry["records"]},
                                           {"present", entry["present"]}, {"deleted", entry["deleted"]}});
            manifest_resources.push_back(std::move(entry));
        }
        json manifest = {{"format", "s3db-backup"},
                         {"version", 1},
                         {"id", stamp.id},
                         {"type", type_name},
                         {"createdAt", detail::iso_string(ms)},
                         {"parent", result.parent.empty() ? json(nullptr) : json(result.parent)},
                         {"chain", chain},
                         {"resources", manifest_resources},
                         {"files", w.files},
                         {"compression", policies_->describe_compression(*state_)},
                         {"encryption", encryption}};
        const std::string text = manifest.dump(2);
        policies_->write(*state_, stamp, "manifest.json", text);
        result.files = w.files.size() + 1;
        result.bytes = w.bytes + text.size();
        result.plain_bytes = w.plain_bytes + text.size();
        result.checksum = detail::sha256_hex(text);
        result.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
        json files_summary = json::array();
        for (auto& f : w.files) files_summary.push_back({{"name", f["name"]}, {"sha256", f["sha256"]}, {"size", f["size"]}});
        b->meta_update(stamp.id, json{{"status", "completed"},
                                      {"completedAt", detail::iso_string(detail::epoch_ms(now()))},
                                      {"size", result.bytes},
                                      {"plainSize", result.plain_bytes},
                                      {"records", result.records},
                                      {"deleted", result.deleted},
                                      {"checksum", result.checksum},
                                      {"files", files_summary.dump()},
                                      {"durationMs", result.duration_ms}});
    } catch (const std::exception& e) {
        const std::string why = e.what();
        try {
            b->meta_update(stamp.id, json{{"status", "failed"}, {"error", why}});
        } catch (...) {  // the store that failed the backup may fail this too: the error below matters more
        }
        notify("backup.error", {{"id", stamp.id}, {"type", type_name}, {"error", why}});
        throw;
    }
    notify("backup.complete", {{"id", result.id}, {"type", result.type}, {"records", result.records},
                                   {"deleted", result.deleted}, {"bytes", result.bytes}, {"durationMs", result.duration_ms}});
    apply_retention(*b);
    return result;
}

S3DB_DECL RestoreResult BackupCore::restore(const std::string& id, const RestoreOptions& o) {
    auto b = need_backend();
    std::lock_guard run(state_->run_mutex);
    RestoreResult result{.id = id};
    notify("restore.start", {{"id", id}});
    try {
        // The chain, full first, each manifest with its key.
        std::vector<Loaded> chain;
        for (std::string at = id; !at.empty();) {
            Loaded l{stamp_of(at), read_manifest(at), {}};
            l.key = key_of(l);
            const json& parent = l.manifest["parent"];
            at = parent.is_string() ? parent.get<std::string>() : std::string{};
            chain.insert(chain.begin(), std::move(l));
        }
        for (auto& l : chain) result.chain.push_back(l.stamp.id);
        const json& last = chain.back().manifest;
        std::vector<std::string> names;
        for (auto& r : last["resources"]) {
            auto n = r["name"].get<std::string>();
            if (o.resources.empty() || std::find(o.resources.begin(), o.resources.end(), n) != o.resources.end())
                names.push_back(std::move(n));
        }
        for (auto& want : o.resources)
            if (std::find(names.begin(), names.end(), want) == names.end())
                throw BackupNotFound(id, "the backup has no resource '" + want + "'");

        // Check everything before writing anything: every file, and that each resource the
        // target has maps the archive's attributes to the same metadata keys.
        std::vector<std::optional<DatabaseMetadata>> catalogues(chain.size());  // each backup's s3db.json
        for (std::size_t i = 0; i < chain.size(); ++i)
            for (auto& f : chain[i].manifest["files"]) {
                const auto file = logical_name(chain[i], f["name"].get<std::string>());
                if (file != "s3db.json" && !wanted(file, names)) continue;
                auto text = read_file(chain[i], f);
                if (file == "s3db.json") catalogues[i] = DatabaseMetadata::parse(text);
            }
        std::map<std::string, RegistrySeed> archived;
        {
            const auto target = b->catalogue();
            for (auto& r : names) {
                auto& seed = archived[r] = archived_registries(chain, catalogues, r);
                if (auto t = registries_of(target, r)) check_registries(id, r, seed, *t);
            }
        }

        for (auto& r : names) {
            std::size_t written = 0, skipped = 0, deleted = 0;
            if (b->ensure(definition_of(chain, r), archived.at(r))) {
                // Created from the archived registries, so they match, unless another process
                // created the resource first: checked again before any record is written.
                auto t = registries_of(b->catalogue(), r);
                if (!t) throw BackupError(id, "resource '" + r + "' is not in s3db.json after it was created");
                check_registries(id, r, archived.at(r), *t);
            }
            const std::string prefix = record_key(r, "");
            if (o.mode == RestoreMode::replace) {
                b->remove_prefix(prefix);
                b->remove_prefix("resource=" + r + "/partition=");
            }
            std::set<std::string> existing;  // skip mode: the keys the database had
            if (o.mode == RestoreMode::skip) {
                ListOptions lo{.prefix = prefix};
                for (;;) {
                    auto page = b->list(lo);
                    for (auto& e : page.objects) existing.insert(e.key.substr(prefix.size()));
                    if (!page.truncated()) break;
                    lo.continuation_token = page.next_continuation_token;
                }
            }
            for (auto& l : chain) {
                const json* entry = resource_entry(l.manifest, r);
                if (!entry) continue;
                for (auto& fname : (*entry)["files"]) {
                    const json& f = file_entry(l, fname.get<std::string>());
                    const auto file = logical_name(l, f["name"].get<std::string>());
                    const bool records = file.find("/records-") != std::string::npos;
                    const bool deletions = file.ends_with("/deleted.jsonl");
                    if (!records && !deletions) continue;
                    const std::string text = read_file(l, f);
                    std::vector<json> lines;
                    for (std::size_t at = 0; at < text.size();) {
                        auto nl = text.find('\n', at);
                        if (nl == std::string::npos) nl = text.size();
                        if (nl > at) lines.push_back(json::parse(std::string_view(text).substr(at, nl - at)));
                        at = nl + 1;
                    }
                    if (deletions) {
                        for (auto& line : lines) {
                            const auto tail = line["key"].get<std::string>();
                            if (existing.count(tail)) continue;
                            b->remove(prefix + tail);
                            ++deleted;
                        }
                        continue;
                    }
                    std::vector<char> skip(lines.size(), 0);
                    for (std::size_t i = 0; i < lines.size(); ++i)
                        skip[i] = existing.count(lines[i]["key"].get<std::string>()) ? 1 : 0;
                    b->parallel(lines.size(), [&](std::size_t i) {
                        if (skip[i]) return;
                        const json& line = lines[i];
                        PutOptions po{.content_type = line.value("contentType", std::string("application/octet-stream"))};
                        for (auto& [k, v] : line["metadata"].items()) po.metadata[k] = v.get<std::string>();
                        std::string body;
                        if (auto it = line.find("body"); it != line.end()) {
                            auto raw = detail::base64_decode(it->get<std::string>());
                            if (!raw) throw BackupError(id, "a record body is not base64", file);
                            body = std::move(*raw);
                        }
                        b->put(prefix + line["key"].get<std::string>(), body, std::move(po));
                    });
                    for (char s : skip) (s ? skipped : written) += 1;
                }
            }
            b->db.resource(r).repair_partitions(std::chrono::seconds(0));
            result.written += written;
            result.skipped += skipped;
            result.deleted += deleted;
            result.resources.push_back(r);
            notify("restore.resource", {{"id", id}, {"resource", r}, {"written", written}, {"skipped", skipped},
                                            {"deleted", deleted}});
        }
    } catch (const std::exception& e) {
        notify("restore.error", {{"id", id}, {"error", e.what()}});
        throw;
    }
    notify("restore.complete", {{"id", id}, {"chain", result.chain}, {"written", result.written},
                                    {"skipped", result.skipped}, {"deleted", result.deleted}});
    return result;
}

S3DB_DECL std::vector<json> BackupCore::list_backups() const {
    auto b = need_backend();
    auto all = b->meta_list();
    std::sort(all.begin(), all.end(), [](const json& x, const json& y) {
        return std::pair(x.value("createdAt", std::string{}), x.value("id", std::string{})) >
               std::pair(y.value("createdAt", std::string{}), y.value("id", std::string{}));
    });
    return all;
}

S3DB_DECL std::optional<json> BackupCore::get_backup_status(const std::string& id) const { return need_backend()->meta_get(id); }

S3DB_DECL ResourceConfig BackupCore::metadata_config() const {
    return ResourceConfig{.name = options_.resource_name,
                          .attributes = {{"type", "string|required"},
                                         {"status", "string|required"},
                                         {"createdAt", "string|required"},
                                         {"completedAt", "string|optional"},
                                         {"parent", "string|optional"},
                                         {"destination", "string|optional"},
                                         {"encrypted", "boolean|optional"},
                                         {"size", "number|optional"},
                                         {"plainSize", "number|optional"},
                                         {"compression", "string|optional"},
                                         {"records", "number|optional"},
                                         {"deleted", "number|optional"},
                                         {"checksum", "string|optional"},
                                         {"files", "string|optional"},
                                         {"durationMs", "number|optional"},
                                         {"error", "string|optional"}},
                          .behavior = "body-overflow"};
}

S3DB_DECL std::chrono::system_clock::time_point BackupCore::now() const {
    return options_.clock ? options_.clock() : std::chrono::system_clock::now();
}

S3DB_DECL std::shared_ptr<const BackupCore::Backend> BackupCore::backend() const {
    std::lock_guard lock(state_->mutex);
    return state_->backend;
}

S3DB_DECL std::shared_ptr<const BackupCore::Backend> BackupCore::need_backend() const {
    auto b = backend();
    if (!b) throw PluginError(name, "backup and restore need the plugin installed (db.connect())");
    return b;
}

S3DB_DECL std::string BackupCore::seal(const std::string& key, std::string_view plain) {
    std::string iv(detail::secret_iv_bytes, '\0');
    detail::random_fill(reinterpret_cast<unsigned char*>(iv.data()), iv.size());
    return iv + detail::aes_256_gcm_seal(key, iv, plain);
}

S3DB_DECL std::optional<std::string> BackupCore::open(const std::string& key, std::string_view sealed) {
    if (sealed.size() < detail::secret_iv_bytes) return std::nullopt;
    return detail::aes_256_gcm_open(key, sealed.substr(0, detail::secret_iv_bytes), sealed.substr(detail::secret_iv_bytes));
}

S3DB_DECL BackupStamp BackupCore::stamp_of(const std::string& id) {
    auto s = detail::backup_stamp(id);
    if (!s) throw BackupNotFound(id, "not a backup id (expected <full|incremental>-<time>-<6 characters>)");
    return *s;
}

S3DB_DECL json BackupCore::read_manifest(const std::string& id) const {
    const auto stamp = stamp_of(id);
    auto text = policies_->read(*state_, stamp, "manifest.json");
    if (!text) throw BackupNotFound(id, "no manifest at " + policies_->describe(*state_), "manifest.json");
    json m = json::parse(*text, nullptr, false);
    if (m.is_discarded() || !m.is_object() || m.value("format", std::string{}) != "s3db-backup" || m.value("id", std::string{}) != id ||
        !m["files"].is_array() || !m["resources"].is_array() || !m["chain"].is_array())
        throw BackupChecksumMismatch(id, "the manifest is damaged or not this backup's", "manifest.json");
    if (const json& c = compression_of(m); !c.is_null()) {
        const auto algorithm = c.is_object() ? c.value("algorithm", std::string{}) : std::string{};
        if (algorithm != policies_->algorithm)
            throw BackupError(id, "the archive is compressed with '" + algorithm + "'; this Backup's compression is '" +
                                      std::string(policies_->algorithm) +
                                      "' (gzip: Backup<Driver, GzipCompression> from s3db/plugins/backup/gzip.hpp)",
                              "manifest.json");
    }
    return m;
}

S3DB_DECL std::string BackupCore::key_of(const Loaded& l) const {
    const json& enc = l.manifest["encryption"];
    if (enc.is_null()) return {};
    if (options_.passphrase.empty()) throw BackupDecryptionFailed(l.stamp.id, "the backup is encrypted and no passphrase is set");
    auto salt = detail::base64_decode(enc.value("salt", std::string{}));
    auto check = detail::base64_decode(enc.value("check", std::string{}));
    if (!salt || !check) throw BackupDecryptionFailed(l.stamp.id, "the manifest's encryption entry is damaged", "manifest.json");
    std::string key = detail::pbkdf2_sha256(options_.passphrase, *salt, enc.value("iterations", 0));
    auto probe = open(key, *check);
    if (!probe || *probe != key_check) throw BackupDecryptionFailed(l.stamp.id, "wrong passphrase");
    return key;
}

S3DB_DECL std::string BackupCore::read_file(const Loaded& l, const json& f) const {
    const auto file = f["name"].get<std::string>();
    auto bytes = policies_->read(*state_, l.stamp, file);
    if (!bytes) throw BackupNotFound(l.stamp.id, "the file is missing at " + policies_->describe(*state_), file);
    if (bytes->size() != f["size"].get<std::size_t>() || detail::sha256_hex(*bytes) != f["sha256"].get<std::string>())
        throw BackupChecksumMismatch(l.stamp.id, "SHA-256 or size differs from the manifest's", file);
    std::string data = std::move(*bytes);
    if (!l.key.empty()) {  // decrypt, then decompress: the reverse of Writer::put
        auto plain = open(l.key, data);
        if (!plain) throw BackupDecryptionFailed(l.stamp.id, "the file does not decrypt (GCM tag)", file);
        data = std::move(*plain);
    }
    // A flag and a number, not std::optional: GCC at -O1 warns (falsely) that the optional's value
    // may be used uninitialised once decompress() is inlined.
    const bool has_plain_size = f.contains("plainSize");
    const std::size_t plain_size = has_plain_size ? f["plainSize"].get<std::size_t>() : 0;
    if (!compression_of(l.manifest).is_null()) {  // this policy's (read_manifest checked)
        const std::string algorithm(policies_->algorithm);
        if (!has_plain_size) throw BackupChecksumMismatch(l.stamp.id, "a compressed file without plainSize in the manifest", file);
        auto plain = policies_->decompress(*state_, data, plain_size);
        if (!plain)
            throw BackupChecksumMismatch(l.stamp.id, "the file does not decompress (" + algorithm + ") to the manifest's " +
                                                         std::to_string(plain_size) + " bytes",
                                         file);
        return std::move(*plain);
    }
    if (has_plain_size && data.size() != plain_size)
        throw BackupChecksumMismatch(l.stamp.id, "the plain size differs from the manifest's", file);
    return data;
}

S3DB_DECL const json& BackupCore::compression_of(const json& manifest) {
    static const json none = nullptr;
    auto it = manifest.find("compression");
    return it == manifest.end() ? none : *it;
}

S3DB_DECL std::string BackupCore::suffix_of(const json& manifest) const {
    const json& c = compression_of(manifest);
    if (c.is_null()) return {};
    return std::string(policies_->suffix);  // read_manifest let only this policy's archives in
}

S3DB_DECL std::string BackupCore::logical_name(const Loaded& l, const std::string& file) const {
    const auto suffix = suffix_of(l.manifest);
    return !suffix.empty() && file.ends_with(suffix) ? file.substr(0, file.size() - suffix.size()) : file;
}

S3DB_DECL const json* BackupCore::resource_entry(const json& manifest, const std::string& r) {
    for (auto& e : manifest["resources"])
        if (e["name"] == r) return &e;
    return nullptr;
}

S3DB_DECL const json& BackupCore::file_entry(const Loaded& l, const std::string& file) {
    for (auto& f : l.manifest["files"])
        if (f["name"] == file) return f;
    throw BackupChecksumMismatch(l.stamp.id, "the manifest names a file it does not describe", file);
}

S3DB_DECL bool BackupCore::wanted(const std::string& file, const std::vector<std::string>& names) {
    for (auto& n : names)
        if (file.size() > n.size() && file.starts_with(n) && file[n.size()] == '/' &&
            file.find('/', n.size() + 1) == std::string::npos)
            return true;
    return false;
}

S3DB_DECL std::optional<RegistrySeed> BackupCore::registries_of(const DatabaseMetadata& m, const std::string& r) {
    auto stored = m.resource(r);
    if (!stored) return std::nullopt;
    RegistrySeed out{.registry = std::move(stored->registry)};
    const auto& entry = m.document()["resources"][r];
    if (auto it = entry.find("pluginSchemaRegistry"); it != entry.end() && it->is_object()) out.plugin_registry = *it;
    return out;
}

S3DB_DECL RegistrySeed BackupCore::archived_registries(const std::vector<Loaded>& chain,
                                             const std::vector<std::optional<DatabaseMetadata>>& catalogues, const std::string& r) const {
    for (std::size_t i = chain.size(); i-- > 0;) {
        if (!resource_entry(chain[i].manifest, r)) continue;
        if (!catalogues[i])
            throw BackupError(chain[i].stamp.id, "the backup has no s3db.json: the schema registry of resource '" + r + "' is unknown");
        auto reg = registries_of(*catalogues[i], r);
        if (!reg) throw BackupError(chain[i].stamp.id, "the archived s3db.json has no entry for resource '" + r + "'", "s3db.json");
        return std::move(*reg);
    }
    throw BackupNotFound(chain.back().stamp.id, "no definition of resource '" + r + "'");
}

S3DB_DECL void BackupCore::check_registries(const std::string& id, const std::string& r, const RegistrySeed& archive,
                                           const RegistrySeed& target) {
    const auto& a = archive.registry;
    const auto& t = target.registry;
    auto burned_in = [](const SchemaRegistry& reg, int index) {
        return std::any_of(reg.burned.begin(), reg.burned.end(), [&](const SchemaRegistry::Burned& b) { return b.index == index; });
    };
    auto mapped_to = [](const SchemaRegistry& reg, int index) -> const std::string* {
        for (auto& [attribute, i] : reg.mapping)
            if (i == index) return &attribute;
        return nullptr;
    };
    for (auto& [attribute, index] : a.mapping) {
        auto it = t.mapping.find(attribute);
        if (it != t.mapping.end() && it->second == index) continue;
        if (it == t.mapping.end() && burned_in(t, index) && !mapped_to(t, index)) continue;
        const std::string* other = mapped_to(t, index);
        throw BackupRegistryMismatch(id, r, attribute, std::to_string(index), it == t.mapping.end() ? std::string{} : std::to_string(it->second),
                                     other ? "the target reads index " + std::to_string(index) + " as '" + *other + "'"
                                           : "its restored values would not be read as '" + attribute + "'");
    }
    for (auto& burned : a.burned)
        if (const std::string* other = mapped_to(t, burned.index); other && !a.mapping.count(*other))
            throw BackupRegistryMismatch(id, r, *other, std::string{}, std::to_string(burned.index),
                                         "the archive burned index " + std::to_string(burned.index) + " (removed attribute '" +
                                             burned.attribute + "'): older records still carry values there");
    if (!archive.plugin_registry.is_object()) return;
    auto key_text = [](const nlohmann::ordered_json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); };
    for (auto& [plugin, reg] : archive.plugin_registry.items()) {
        if (!reg.is_object() || !reg.contains("mapping") || !reg["mapping"].is_object()) continue;
        for (auto& [attribute, key] : reg["mapping"].items()) {
            std::string theirs;
            if (target.plugin_registry.is_object())
                if (auto p = target.plugin_registry.find(plugin); p != target.plugin_registry.end() && p->is_object())
                    if (auto m = p->find("mapping"); m != p->end() && m->is_object())
                        if (auto k = m->find(attribute); k != m->end()) theirs = key_text(*k);
            if (theirs != key_text(key))
                throw BackupRegistryMismatch(id, r, plugin + ":" + attribute, key_text(key), theirs,
                                             "plugin '" + plugin + "' stores it under another key");
        }
    }
}

S3DB_DECL nlohmann::ordered_json BackupCore::definition_of(const std::vector<Loaded>& chain, const std::string& r) const {
    for (auto it = chain.rbegin(); it != chain.rend(); ++it)
        if (resource_entry(it->manifest, r)) {
            auto text = read_file(*it, file_entry(*it, r + "/definition.json" + suffix_of(it->manifest)));
            return nlohmann::ordered_json::parse(text).at("config");
        }
    throw BackupNotFound(chain.back().stamp.id, "no definition of resource '" + r + "'");
}

S3DB_DECL std::vector<std::string> BackupCore::selected(const Backend& b, const std::vector<std::string>& only) const {
    std::vector<std::string> out;
    auto in = [](const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); };
    for (auto& r : b.resources()) {
        if (r == options_.resource_name || in(options_.exclude, r)) continue;
        if (!options_.include.empty() && !in(options_.include, r)) continue;
        if (!only.empty() && !in(only, r)) continue;
        out.push_back(r);
    }
    return out;
}

S3DB_DECL std::vector<json> BackupCore::completed(const Backend&) const {
    auto all = list_backups();
    std::erase_if(all, [](const json& r) { return r.value("status", std::string{}) != "completed"; });
    return all;
}

S3DB_DECL json BackupCore::backup_resource(const Backend& b, Writer& w, const std::string& r, const std::optional<json>& parent) const {
    const std::size_t first_file = w.files.size();
    w.put(r + "/definition.json", nlohmann::ordered_json{{"config", b.definition(r)}}.dump(), 0);

    // The parent's index of this resource, read one part at a time and merged with the LIST
    // pages: both are in key order (LIST's, the index was written in), so neither is held whole.
    ParentIndex before(*this, parent, r);

    const std::string prefix = record_key(r, "");
    std::string index, part, gone;
    std::size_t in_part = 0, parts = 0, in_index = 0, index_parts = 0, records = 0, present = 0, deleted = 0;
    auto flush = [&] {
        if (in_part == 0) return;
        char n[16];
        std::snprintf(n, sizeof n, "%05zu", parts++);
        w.put(r + "/records-" + n + ".jsonl", part, in_part);
        part.clear();
        in_part = 0;
    };
    auto flush_index = [&](bool last) {
        if (in_index == 0 && !(last && index_parts == 0)) return;  // an empty resource still has index-00000
        char n[16];
        std::snprintf(n, sizeof n, "%05zu", index_parts++);
        w.put(r + "/index-" + n + ".tsv", index, in_index);
        index.clear();
        in_index = 0;
    };
    auto record_gone = [&](const std::string& key) {
        gone += json{{"key", key}}.dump() + "\n";
        ++deleted;
    };
    std::string last_tail;
    ListOptions lo{.prefix = prefix};
    for (;;) {
        auto page = b.list(lo);
        std::vector<std::size_t> changed;
        for (std::size_t i = 0; i < page.objects.size(); ++i) {
            auto& e = page.objects[i];
            std::string tail = e.key.substr(prefix.size());
            if (present > 0 && tail <= last_tail)
                throw BackupError(w.stamp.id, "LIST of resource '" + r + "' is not in key order at '" + tail + "'");
            // ETag and LastModified both: a record kept in metadata only may keep its ETag across
            // a change when another writer (s3db.js) leaves its body empty.
            std::string stamp = e.etag + "\t" + std::to_string(detail::epoch_ms(e.last_modified));
            index.append(tail).append("\t").append(stamp).append("\n");
            ++present;
            if (++in_index >= options_.records_per_file) flush_index(false);
            if (parent) {
                before.skip_before(tail, record_gone);  // keys the parent had and the LIST passed
                const bool same = before.at(tail) && before.stamp() == stamp;
                if (before.at(tail)) before.next();
                if (!same) changed.push_back(i);
            } else {
                changed.push_back(i);
            }
            last_tail = std::move(tail);
        }
        std::vector<std::optional<Object>> got(changed.size());
        b.parallel(changed.size(), [&](std::size_t i) { got[i] = b.get(page.objects[changed[i]].key); });
        for (std::size_t i = 0; i < changed.size(); ++i) {
            if (!got[i]) continue;  // deleted since the LIST: not in this backup
            part += detail::backup_line(page.objects[changed[i]].key.substr(prefix.size()), *got[i]);
            ++records;
            if (++in_part >= options_.records_per_file) flush();
        }
        if (!page.truncated()) break;
        lo.continuation_token = page.next_continuation_token;
    }
    flush();
    if (parent) {  // what the parent had after the last key listed
        before.skip_rest(record_gone);
        w.put(r + "/deleted.jsonl", gone, deleted);
    }
    flush_index(true);
    json files = json::array();
    for (std::size_t i = first_file; i < w.files.size(); ++i) files.push_back(w.files[i]["name"]);
    return {{"name", r}, {"records", records}, {"present", present}, {"deleted", deleted}, {"files", files}};
}

S3DB_DECL void BackupCore::apply_retention(const Backend& b) {
    if (options_.retention.keeps_all()) return;
    std::vector<json> done;
    for (auto& r : completed(b)) {
        auto s = detail::backup_stamp(r.value("id", std::string{}));
        if (!s) continue;
        done.push_back({{"id", s->id}, {"ms", s->ms}, {"parent", r.value("parent", std::string{})}});
    }
    const auto keep = detail::backup_retained(done, options_.retention, detail::epoch_ms(now()));
    for (auto& r : done) {
        const auto id = r["id"].get<std::string>();
        if (keep.count(id)) continue;
        try {
            policies_->remove(*state_, *detail::backup_stamp(id));
            b.meta_remove(id);
            notify("backup.deleted", {{"id", id}});
        } catch (const std::exception& e) {
            notify("backup.error", {{"id", id}, {"error", std::string("retention: ") + e.what()}});
        }
    }
}

}  // namespace s3db
#endif  // S3DB_DEFINE_BODIES
