#pragma once
// Audit: one record per write (insert, update, replace, delete) of every resource, kept in the
// resource s3db.js's AuditPlugin writes, `plg_audits`: the same fields (all strings, JSON inside),
// behavior body-overflow and partitions `byDate {createdAt}` and `byResource {resourceName}`, so
// either library reads the other's trail.
//
//   BasicDatabase<S3, Audit> db(s3);
//   users.update(id, {{"plan", "pro"}}, {.context = {{"user", "ana"}}});   // userId "ana"
//   db.plugin<Audit>().record_history("users", id);   // oldest first
//
// Each audited write costs 1 PUT of the audit record + 1 PUT per partition ref (2 by default), made
// from the writer's own thread after its write: no lock is held, so writers never wait on each other
// for the audit. A failed audit write is the plugin's error (isolated by default: reported in
// db.status() and to db.on_plugin_error listeners), never the user's. Its own resource is never
// audited. Queries read only the partition they need: a resource's trail lists
// `partition=byResource/resourceName=<r>/`, a date range lists the `partition=byDate/` keys of those
// days and no others, and ids (`audit-<ms>-…`) drop records outside the range before any GET.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "s3db/detail/config.hpp"
#include "s3db/errors.hpp"
#include "s3db/core/hooks.hpp"
#include "s3db/core/ids.hpp"
#include "s3db/core/layout.hpp"
#include "s3db/core/listing.hpp"
#include "s3db/core/catalogue.hpp"
#include "s3db/core/partitions.hpp"
#include "s3db/core/resource.hpp"
#include "s3db/detail/time.hpp"
#include "s3db/core/plugin.hpp"
#include "s3db/core/resource_ref.hpp"
#include "s3db/transport/transport.hpp"

namespace s3db {

struct AuditOptions {
    /// false: no write is audited (the audit resource is still opened, and queries answer).
    bool enabled = true;
    bool include_data = true;        // oldData / newData: the record before and after, as JSON text
    bool include_partitions = true;  // partition / partitionValues of the audited record
    /// Bytes each of oldData / newData may take (0: no limit). Longer data is stored as a marker
    /// `{"_truncated":true,"_originalSize":<bytes>,"_truncatedAt":<ISO>,"_preview":<the JSON text cut
    /// on a UTF-8 character boundary>}` that itself fits in this many bytes. At least 128 when set.
    std::size_t max_data_size = 10'000;
    /// Which writes to audit: any of "insert", "update" (also patch and upsert's update), "replace",
    /// "delete" (also each id of remove_many).
    std::vector<std::string> track_operations{"insert", "update", "replace", "delete"};
    std::vector<std::string> exclude_resources{};  // never audited (the audit resource always is)
    /// userId of a write; when unset or empty, the caller's context gives it
    /// (`users.insert(r, {.context = {{"user", "ana"}}})`: "userId", "user" as a string, or
    /// "user"."id"), else "system". Called on the writer's thread; it sees the context as `ctx.context`.
    std::function<std::string(const OperationContext&)> get_user_id{};
    /// Extra metadata of a write (a JSON object), merged over {"source":"audit-plugin","version":"2.0"}.
    std::function<json(const OperationContext&)> get_metadata{};
    std::string resource_name = "plg_audits";  // s3db.js's `resourceNames.audit`
    /// The time of a write (tests move it); the system clock when unset.
    std::function<std::chrono::system_clock::time_point()> clock{};
};

/// Which audit records to read. Every field narrows; results are in time order.
struct AuditQuery {
    std::string resource{};   // lists only this resource's byResource partition
    std::string record_id{};
    std::string operation{};
    std::optional<std::chrono::system_clock::time_point> from{};  // inclusive
    std::optional<std::chrono::system_clock::time_point> to{};    // inclusive
    std::size_t limit = 0;    // 0: all
    bool newest_first = false;
};

namespace detail {

inline constexpr std::size_t audit_min_data_size = 128;
inline constexpr std::int64_t audit_id_slack_ms = 60'000;  // ids vs timestamps written by s3db.js

/// What one byte of a JSON string costs once nlohmann's dump() escapes it (UTF-8 kept as is).
S3DB_DECL std::size_t json_escaped_bytes(unsigned char c) noexcept;

/// oldData / newData as stored: `text` when it fits in `max` bytes (0: no limit), else the truncation
/// marker holding the longest prefix of `text` that keeps the marker within `max` bytes, cut between
/// UTF-8 characters. Below the marker's own size only the marker is kept.
S3DB_DECL std::string audit_fit(std::string text, std::size_t max, std::string_view now_iso);

/// s3db.js's getPartitionValues: for each partition (in definition order) whose fields the record
/// has, field -> value; fields the record lacks are left out.
S3DB_DECL nlohmann::ordered_json audit_partition_values(const Partitions& partitions, const json& record);

/// `audit-<ms>-<9 base36>` as s3db.js writes, where the first 4 of the 9 count writes in this
/// process, so ids of the same millisecond sort in the order they were made, and 5 are random.
S3DB_DECL std::string audit_id(std::int64_t ms);

/// The milliseconds an `audit-<ms>-…` id was made at; nullopt for other ids.
S3DB_DECL std::optional<std::int64_t> audit_id_ms(std::string_view id);

S3DB_DECL std::string audit_day(std::int64_t ms);

/// The user a caller's context names: "userId", "user" as a string, or "user"."id"; empty if none.
S3DB_DECL std::string audit_context_user(const json* context);

}  // namespace detail

class Audit : public Plugin<Audit> {
public:
    static constexpr std::string_view name = "Audit";

    S3DB_DECL explicit Audit(AuditOptions options = {}, PluginOptions plugin_options = {});

    const AuditOptions& options() const noexcept { return options_; }
    const std::string& resource_name() const noexcept { return options_.resource_name; }
    /// Audit records written so far by this plugin.
    std::uint64_t logged() const noexcept { return state_->logged.load(std::memory_order_relaxed); }
    /// Objects of the audit resource deleted by uninstall with purge_data.
    std::size_t purged() const noexcept { return state_->purged.load(std::memory_order_relaxed); }

    // ---- lifecycle ------------------------------------------------------------------------------

    S3DB_DECL void validate() const;

    /// Creates the audit resource as s3db.js does, or adopts the one the bucket has (its definition,
    /// behavior included, is left as it is).
    template <class Db>
    void on_install(Db& db) {
        auto& res = db.has_resource(options_.resource_name) ? db.resource(options_.resource_name)
                                                            : db.create_resource(resource_config());
        auto b = std::make_shared<Backend>();
        b->db = DatabaseRef(db);
        b->res = ResourceRef(res);
        std::unique_lock lock(state_->mutex);
        state_->backend = std::move(b);
    }

    /// Every resource, there at install or created later (deferred setup): its partitions, for the
    /// partition fields of its audit records.
    template <class Res>
    void on_resource_created(Res& r) {
        if (r.name() == options_.resource_name || excluded(r.name())) return;
        std::unique_lock lock(state_->mutex);
        state_->partitions[r.name()] = &r.partitions();
    }

    S3DB_DECL void on_uninstall(const UninstallOptions& o);

    S3DB_DECL PluginHealth health() const;

    // ---- the hook ---------------------------------------------------------------------------------

    /// Deletes read the record first (for oldData) only while deletes are audited.
    bool deletes_need_record() const noexcept { return options_.enabled && (tracked_ & bit("delete")); }

    S3DB_DECL void after_write(const OperationContext& ctx);

    // ---- queries ----------------------------------------------------------------------------------

    /// Audit records matching `q`, in time order (ties in the order they were written here).
    /// Requests: the LIST pages of one prefix — the resource's byResource partition, else the byDate
    /// keys from `from`'s day to `to`'s, else every record — then 1 GET per listed record whose id
    /// is not outside [from, to].
    S3DB_DECL std::vector<json> logs(const AuditQuery& q = {}) const;

    S3DB_DECL std::vector<json> logs_by_resource(std::string_view resource, std::size_t limit = 0) const;

    /// Every audited write of one record, oldest first.
    S3DB_DECL std::vector<json> record_history(std::string_view resource, std::string_view id) const;

    S3DB_DECL std::vector<json> logs_between(std::chrono::system_clock::time_point from,
                                             std::chrono::system_clock::time_point to, std::string_view resource = {}) const;

    /// One operation's records; through the resource's partition when `resource` is given (there is
    /// no partition by operation: without a resource every audit record is read).
    S3DB_DECL std::vector<json> logs_by_operation(std::string_view operation, std::string_view resource = {}) const;

    /// The definition s3db.js's AuditPlugin gives its resource (the same attributes, so the same
    /// definition hash).
    S3DB_DECL ResourceConfig resource_config() const;

private:
    /// The database and the audit resource, by reference (the plugin is not a template).
    struct Backend {
        DatabaseRef db;
        ResourceRef res;

        void insert(json record) const { res.insert(std::move(record)); }
        std::vector<std::string> list_ids(const ListQuery& q) const { return res.list_ids(q); }
        std::vector<std::optional<json>> get_many(const std::vector<std::string>& ids) const { return res.get_many(ids); }
        bool has_partition(std::string_view p) const { return res.partitions().find(p) != nullptr; }
        std::vector<std::string> ids_between_days(const std::string& from, const std::string& to) const {
            auto store = db.store();
            return Audit::ids_between_days(store, res.partitions(), from, to);
        }
        /// Only the audit resource's own keys: a resource nested under its name keeps its own.
        std::size_t purge() const {
            auto store = db.store();
            return remove_resource_keys(store, res.name(), db.resources());
        }
    };
    /// Shared so the plugin stays movable; the mutex guards the two maps' shape only (taken for
    /// reading on writes, for writing at install and when a resource appears).
    struct State {
        mutable std::shared_mutex mutex;
        std::shared_ptr<const Backend> backend;
        std::map<std::string, const Partitions*, std::less<>> partitions;
        std::atomic<std::uint64_t> logged{0};
        std::atomic<std::size_t> purged{0};
    };

    static unsigned bit(std::string_view op) noexcept {
        if (op == "insert") return 1;
        if (op == "update") return 2;
        if (op == "replace") return 4;
        if (op == "delete") return 8;
        return 0;
    }

    S3DB_DECL bool excluded(std::string_view resource) const;

    S3DB_DECL std::shared_ptr<const Backend> backend_or_null() const;

    S3DB_DECL const Partitions* partitions_of(std::string_view resource) const;

    /// Halves the data budget after the record did not fit; false when there is nothing left to cut.
    S3DB_DECL static bool smaller(std::size_t& budget, std::size_t largest);

    S3DB_DECL json build(const OperationContext& ctx, std::int64_t ms, std::size_t budget, std::size_t& largest) const;

    /// The ids of the byDate refs from day `from` to day `to` (YYYY-MM-DD, inclusive; empty: open),
    /// listed from the first key of `from` and stopped at the first key past `to`.
    template <class Store>
    static std::vector<std::string> ids_between_days(Store& store, const Partitions& partitions, const std::string& from,
                                                     const std::string& to) {
        std::vector<std::string> ids;
        detail::scan_days(store, partitions, "byDate", from, [&](const std::string&, std::string id, std::string_view day) {
            if (!to.empty() && day > to) return false;  // keys come in day order: the rest is later
            if (from.empty() || day >= from) ids.push_back(std::move(id));
            return true;
        });
        return ids;
    }

    AuditOptions options_;
    unsigned tracked_ = 0;
    std::shared_ptr<State> state_;
};

}  // namespace s3db

#if S3DB_DEFINE_BODIES
#include <algorithm>

namespace s3db {

namespace detail {

S3DB_DECL std::size_t json_escaped_bytes(unsigned char c) noexcept {
    switch (c) {
        case '"': case '\\': case '\b': case '\f': case '\n': case '\r': case '\t': return 2;
        default: return c < 0x20 ? 6 : 1;
    }
}

S3DB_DECL std::string audit_fit(std::string text, std::size_t max, std::string_view now_iso) {
    if (max == 0 || text.size() <= max) return text;
    json marker = {{"_truncated", true}, {"_originalSize", text.size()}, {"_truncatedAt", now_iso}, {"_preview", ""}};
    const std::size_t overhead = marker.dump().size();
    if (overhead > max) {
        marker.erase("_preview");
        return marker.dump();
    }
    const std::size_t budget = max - overhead;
    std::size_t used = 0, end = 0;
    while (end < text.size()) {
        const std::size_t n = utf8_sequence(text, end);
        if (n == 0) break;  // not UTF-8 (dump() never writes that): stop before it
        const std::size_t cost = n == 1 ? json_escaped_bytes(static_cast<unsigned char>(text[end])) : n;
        if (used + cost > budget) break;
        used += cost;
        end += n;
    }
    text.resize(end);
    marker["_preview"] = std::move(text);
    return marker.dump(-1, ' ', false, json::error_handler_t::replace);
}

S3DB_DECL nlohmann::ordered_json audit_partition_values(const Partitions& partitions, const json& record) {
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    for (const auto& p : partitions.partitions()) {
        nlohmann::ordered_json values = nlohmann::ordered_json::object();
        bool any = false;
        for (const auto& f : p.fields)
            if (const json* v = partition_field_value(record, f.name)) {
                values[f.name] = *v;
                any = any || !v->is_null();
            }
        if (any) out[p.name] = std::move(values);
    }
    return out;
}

S3DB_DECL std::string audit_id(std::int64_t ms) {
    static std::atomic<std::uint64_t> sequence{0};
    static constexpr char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    std::uint64_t n = sequence.fetch_add(1, std::memory_order_relaxed) % (36ull * 36 * 36 * 36);
    unsigned char random[5];
    random_fill(random, sizeof random);
    std::string id = "audit-" + std::to_string(ms) + "-";
    char tail[9];
    for (int i = 3; i >= 0; --i, n /= 36) tail[i] = digits[n % 36];
    for (int i = 0; i < 5; ++i) tail[4 + i] = digits[random[i] % 36];
    id.append(tail, sizeof tail);
    return id;
}

S3DB_DECL std::optional<std::int64_t> audit_id_ms(std::string_view id) {
    if (!id.starts_with("audit-")) return std::nullopt;
    id.remove_prefix(6);
    std::int64_t ms = 0;
    std::size_t i = 0;
    for (; i < id.size() && i < 16 && id[i] >= '0' && id[i] <= '9'; ++i) ms = ms * 10 + (id[i] - '0');
    if (i == 0 || i >= id.size() || id[i] != '-') return std::nullopt;
    return ms;
}

S3DB_DECL std::string audit_day(std::int64_t ms) { return iso_string(ms).substr(0, 10); }

S3DB_DECL std::string audit_context_user(const json* context) {
    if (!context || !context->is_object()) return {};
    auto text = [](const json& v) -> std::string {
        if (v.is_string()) return v.get<std::string>();
        if (v.is_number_integer() || v.is_number_unsigned()) return v.dump();
        return {};
    };
    if (auto it = context->find("userId"); it != context->end())
        if (auto s = text(*it); !s.empty()) return s;
    if (auto it = context->find("user"); it != context->end()) {
        if (auto s = text(*it); !s.empty()) return s;
        if (it->is_object())
            if (auto id = it->find("id"); id != it->end()) return text(*id);
    }
    return {};
}
}  // namespace detail

S3DB_DECL Audit::Audit(AuditOptions options, PluginOptions plugin_options)
    : Plugin<Audit>(plugin_options), options_(std::move(options)), state_(std::make_shared<State>()) {
    for (auto& op : options_.track_operations) tracked_ |= bit(op);
}

S3DB_DECL void Audit::validate() const {
    if (options_.resource_name.empty()) throw ConfigError("Audit: resource_name is empty");
    for (auto& op : options_.track_operations)
        if (!bit(op))
            throw ConfigError("Audit: track_operations names '" + op +
                              "'; writes that can be audited are insert, update, replace and delete");
    if (options_.max_data_size != 0 && options_.max_data_size < detail::audit_min_data_size)
        throw ConfigError("Audit: max_data_size is " + std::to_string(options_.max_data_size) +
                          " bytes; it must be 0 (no limit) or at least " +
                          std::to_string(detail::audit_min_data_size) + " to hold the truncation marker");
}

S3DB_DECL void Audit::on_uninstall(const UninstallOptions& o) {
    auto b = backend_or_null();
    if (o.purge_data && b) state_->purged.store(b->purge(), std::memory_order_relaxed);
}

S3DB_DECL PluginHealth Audit::health() const {
    if (!backend_or_null()) return {false, "the audit resource '" + options_.resource_name + "' is not open"};
    return {true, std::to_string(logged()) + " writes audited to '" + options_.resource_name + "'"};
}

S3DB_DECL void Audit::after_write(const OperationContext& ctx) {
    if (ctx.resource == options_.resource_name) return;  // its own records: no audit of the audit
    if (!options_.enabled || !(tracked_ & bit(ctx.operation)) || excluded(ctx.resource)) return;
    auto b = backend_or_null();
    if (!b) return;
    const auto now = options_.clock ? options_.clock() : std::chrono::system_clock::now();
    const std::int64_t ms = detail::epoch_ms(now);
    std::size_t budget = options_.max_data_size;
    // A resource that must keep records in metadata (an adopted plg_audits with enforce-limits)
    // refuses big ones: cut the data further until the record fits, down to the bare marker.
    for (;;) {
        std::size_t largest = 0;
        json record = build(ctx, ms, budget, largest);
        try {
            b->insert(std::move(record));
            break;
        } catch (const RecordTooLarge&) {
            if (!smaller(budget, largest)) throw;
        } catch (const MetadataTooLarge&) {
            if (!smaller(budget, largest)) throw;
        }
    }
    state_->logged.fetch_add(1, std::memory_order_relaxed);
}

S3DB_DECL std::vector<json> Audit::logs(const AuditQuery& q) const {
    auto b = backend_or_null();
    if (!b) throw PluginError(name, "queries need the plugin installed (db.connect())");
    const std::optional<std::int64_t> from = q.from ? std::optional(detail::epoch_ms(*q.from)) : std::nullopt;
    const std::optional<std::int64_t> to = q.to ? std::optional(detail::epoch_ms(*q.to)) : std::nullopt;

    std::vector<std::string> ids;
    if (!q.resource.empty() && b->has_partition("byResource"))
        ids = b->list_ids(ListQuery{.partition = "byResource", .values = {{"resourceName", q.resource}}});
    else if ((from || to) && b->has_partition("byDate"))
        ids = b->ids_between_days(from ? detail::audit_day(*from) : std::string{},
                                  to ? detail::audit_day(*to) : std::string{});
    else
        ids = b->list_ids(ListQuery{});

    if (from || to)
        std::erase_if(ids, [&](const std::string& id) {
            auto ms = detail::audit_id_ms(id);
            return ms && ((from && *ms < *from - detail::audit_id_slack_ms) ||
                          (to && *ms > *to + detail::audit_id_slack_ms));
        });

    const std::string from_iso = from ? detail::iso_string(*from) : std::string{};
    const std::string to_iso = to ? detail::iso_string(*to) : std::string{};
    std::vector<json> out;
    for (auto& r : b->get_many(ids)) {
        if (!r) continue;  // deleted meanwhile
        auto field = [&](const char* k) { return r->value(k, std::string{}); };
        if (!q.resource.empty() && field("resourceName") != q.resource) continue;
        if (!q.record_id.empty() && field("recordId") != q.record_id) continue;
        if (!q.operation.empty() && field("operation") != q.operation) continue;
        const std::string ts = field("timestamp");
        if ((from && ts < from_iso) || (to && ts > to_iso)) continue;
        out.push_back(std::move(*r));
    }
    std::sort(out.begin(), out.end(), [&](const json& a, const json& b) {
        auto ka = std::pair(a.value("timestamp", std::string{}), a.value("id", std::string{}));
        auto kb = std::pair(b.value("timestamp", std::string{}), b.value("id", std::string{}));
        return q.newest_first ? kb < ka : ka < kb;
    });
    if (q.limit && out.size() > q.limit) out.resize(q.limit);
    return out;
}

S3DB_DECL std::vector<json> Audit::logs_by_resource(std::string_view resource, std::size_t limit) const {
    return logs(AuditQuery{.resource = std::string(resource), .limit = limit});
}

S3DB_DECL std::vector<json> Audit::record_history(std::string_view resource, std::string_view id) const {
    return logs(AuditQuery{.resource = std::string(resource), .record_id = std::string(id)});
}

S3DB_DECL std::vector<json> Audit::logs_between(std::chrono::system_clock::time_point from,
                                                std::chrono::system_clock::time_point to, std::string_view resource) const {
    return logs(AuditQuery{.resource = std::string(resource), .from = from, .to = to});
}

S3DB_DECL std::vector<json> Audit::logs_by_operation(std::string_view operation, std::string_view resource) const {
    return logs(AuditQuery{.resource = std::string(resource), .operation = std::string(operation)});
}

S3DB_DECL ResourceConfig Audit::resource_config() const {
    ResourceConfig c;
    c.name = options_.resource_name;
    c.attributes = {{"id", "string|required"},
                    {"resourceName", "string|required"},
                    {"operation", "string|required"},
                    {"recordId", "string|required"},
                    {"userId", "string|optional"},
                    {"timestamp", "string|required"},
                    {"createdAt", "string|required"},
                    {"oldData", "string|optional"},
                    {"newData", "string|optional"},
                    {"partition", "string|optional"},
                    {"partitionValues", "string|optional"},
                    {"metadata", "string|optional"}};
    c.partitions = {{"byDate", {{"fields", {{"createdAt", "string|maxlength:10"}}}}},
                    {"byResource", {{"fields", {{"resourceName", "string"}}}}}};
    c.behavior = "body-overflow";
    return c;
}

S3DB_DECL bool Audit::excluded(std::string_view resource) const {
    return std::find(options_.exclude_resources.begin(), options_.exclude_resources.end(), resource) !=
           options_.exclude_resources.end();
}

S3DB_DECL std::shared_ptr<const Audit::Backend> Audit::backend_or_null() const {
    std::shared_lock lock(state_->mutex);
    return state_->backend;
}

S3DB_DECL const Partitions* Audit::partitions_of(std::string_view resource) const {
    std::shared_lock lock(state_->mutex);
    auto it = state_->partitions.find(resource);
    return it == state_->partitions.end() ? nullptr : it->second;
}

S3DB_DECL bool Audit::smaller(std::size_t& budget, std::size_t largest) {
    const std::size_t current = budget ? std::min(budget, largest) : largest;
    if (largest == 0 || current <= 1) return false;
    budget = current / 2 >= detail::audit_min_data_size ? current / 2 : 1;  // 1: the marker alone
    return true;
}

S3DB_DECL json Audit::build(const OperationContext& ctx, std::int64_t ms, std::size_t budget, std::size_t& largest) const {
    const std::string now = detail::iso_string(ms);
    std::string user = options_.get_user_id ? options_.get_user_id(ctx) : std::string{};
    if (user.empty()) user = detail::audit_context_user(ctx.context);
    json metadata = {{"source", "audit-plugin"}, {"version", "2.0"}};
    if (options_.get_metadata) {
        json extra = options_.get_metadata(ctx);
        if (extra.is_object()) metadata.update(extra);
        else if (!extra.is_null()) metadata["value"] = std::move(extra);
    }
    json record = {{"id", detail::audit_id(ms)},
                   {"resourceName", ctx.resource},
                   {"operation", ctx.operation},
                   {"recordId", ctx.id},
                   {"userId", user.empty() ? "system" : std::move(user)},
                   {"timestamp", now},
                   {"createdAt", now.substr(0, 10)},
                   {"metadata", metadata.dump(-1, ' ', false, json::error_handler_t::replace)}};
    const bool deleted = ctx.operation == "delete";
    if (options_.include_data) {
        auto put = [&](const char* field, const json& data) {
            std::string text = data.dump(-1, ' ', false, json::error_handler_t::replace);
            largest = std::max(largest, text.size());
            record[field] = detail::audit_fit(std::move(text), budget, now);
        };
        if (ctx.before) put("oldData", *ctx.before);
        if (!deleted) put("newData", ctx.data);
    }
    if (options_.include_partitions) {
        const json& subject = deleted && ctx.before ? *ctx.before : ctx.data;
        if (const Partitions* p = partitions_of(ctx.resource)) {
            auto values = detail::audit_partition_values(*p, subject);
            if (!values.empty()) {
                record["partition"] = values.begin().key();
                record["partitionValues"] = values.dump(-1, ' ', false, json::error_handler_t::replace);
            }
        }
    }
    return record;
}

}  // namespace s3db
#endif  // S3DB_DEFINE_BODIES
