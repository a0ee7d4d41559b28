#pragma once
// Resource: a collection of JSON documents stored as S3 objects in the s3db.js layout
// (`resource=<name>/data/id=<id>`, fields in metadata, overflow by behavior, partition refs).
// Every operation validates before it writes, sends the fewest requests the layout allows, and
// leaves no partial record behind when a request fails. Thread-safe: operations may run
// concurrently; hooks and listeners are registered before use.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "s3db/core/behaviors.hpp"
#include "s3db/core/codec.hpp"
#include "s3db/core/errors.hpp"
#include "s3db/core/ids.hpp"
#include "s3db/core/metadata.hpp"
#include "s3db/core/partitions.hpp"
#include "s3db/core/schema.hpp"
#include "s3db/detail/worker_pool.hpp"
#include "s3db/transport/transport.hpp"

namespace s3db {

using json = nlohmann::json;

/// A record id that is already taken (insert over an existing record).
class AlreadyExists : public Error {
public:
    AlreadyExists(const std::string& resource, const std::string& id)
        : Error("record '" + InvalidKey::printable(id) + "' of resource '" + resource + "' already exists") {}
};

/// A record that is not there, where the operation needs it.
class RecordNotFound : public Error {
public:
    RecordNotFound(const std::string& resource, const std::string& id)
        : Error("record '" + InvalidKey::printable(id) + "' of resource '" + resource + "' does not exist") {}
};

/// An update that kept losing the race with other writers for `attempts` rounds.
class UpdateConflict : public Error {
public:
    UpdateConflict(const std::string& resource, const std::string& id, int attempts)
        : Error("record '" + InvalidKey::printable(id) + "' of resource '" + resource + "' changed under " +
                std::to_string(attempts) + " update attempts in a row") {}
};

/// What a hook or listener sees of an operation. `data` is the record going in (before hooks may
/// change it, or throw to reject the operation: nothing is written then); `before` is the stored
/// record an update or delete replaces.
struct OperationContext {
    std::string_view resource;
    std::string_view operation;  // "insert", "update", "replace", "delete", "get"
    std::string id;
    json data;
    const json* before = nullptr;
};

/// Options of list, list_ids, count and stream.
struct ListQuery {
    std::string partition{};             // list through this partition's refs
    json values = json::object();        // partition field -> value
    std::size_t limit = 0;               // 0: no limit
    std::string cursor{};                // from a previous page
};

struct Page {
    std::vector<json> items;
    std::string next_cursor;  // empty on the last page
};

template <Transport T>
class Resource {
public:
    enum class Hook { before_insert, after_insert, before_update, after_update, before_replace, after_replace,
                      before_delete, after_delete, after_get, hook_count };
    using HookFn = std::function<void(OperationContext&)>;
    using Listener = std::function<void(const OperationContext&)>;

    struct Settings {
        std::string passphrase = "secret";
        int max_update_attempts = 10;
    };

    Resource(T& transport, detail::WorkerPool& pool, const StoredResource& stored, Settings settings)
        : transport_(transport), pool_(pool), settings_(std::move(settings)) {
        configure(stored);
    }

    const std::string& name() const noexcept { return config_.name; }
    const ResourceConfig& config() const noexcept { return config_; }
    const Schema& schema() const noexcept { return codec_->schema(); }
    const Partitions& partitions() const noexcept { return partitions_; }
    std::string_view behavior() const noexcept { return behavior_name(behavior_); }
    const std::string& version() const noexcept { return version_; }

    /// Adopts a new definition (a new version of the resource in s3db.json). Not safe to call while
    /// operations on this resource are running.
    void configure(const StoredResource& stored) {
        config_ = stored.config;
        version_ = stored.version;
        auto schema = Schema::parse(config_.attributes,
                                    SchemaOptions{.all_nested_objects_optional = config_.all_nested_objects_optional});
        partitions_ = Partitions::parse(config_.name, config_.partitions, schema);
        codec_.emplace(std::move(schema), stored.registry.mapping,
                       CodecOptions{.passphrase = settings_.passphrase, .auto_decrypt = config_.auto_decrypt,
                                    .version = version_});
        behavior_ = behavior_from_name(config_.behavior);
        map_json_ = schema_map_json(codec_->schema(), stored.registry.mapping);
        if (!id_generator_) id_generator_ = make_id_generator(static_cast<std::size_t>(config_.id_size));
        data_prefix_ = "resource=" + config_.name + "/data/";
    }

    void set_id_generator(IdGenerator g) { id_generator_ = std::move(g); }
    void add_hook(Hook h, HookFn fn) { hooks_[static_cast<std::size_t>(h)].push_back(std::move(fn)); }
    /// Events: inserted, updated, replaced, deleted, fetched, listed.
    void on(std::string event, Listener fn) { listeners_[std::move(event)].push_back(std::move(fn)); }

    std::string key_of(std::string_view id) const { return record_key(config_.name, id); }

    // ---- writes ---------------------------------------------------------------------------------

    /// 1 PUT with If-None-Match: * (+1 PUT per partition). An existing id → AlreadyExists.
    json insert(json data) {
        OperationContext ctx = begin("insert", std::move(data));
        auto record = prepare(ctx, WriteKind::insert);
        auto refs = partitions_.refs(record.result, ctx.id);
        PutOptions o = put_options(std::move(record.stored));
        o.if_none_match = true;
        try {
            transport_.put(key_of(ctx.id), record.body, std::move(o));
        } catch (const PreconditionFailed&) {
            throw AlreadyExists(config_.name, ctx.id);
        }
        write_refs(refs, [&] { transport_.remove(key_of(ctx.id)); });
        return finish(ctx, Hook::after_insert, "inserted", std::move(record.result));
    }

    /// Inserts on the pool; one result per input, the error message where an insert failed.
    struct BulkResult {
        std::optional<json> record;
        std::string error;
    };
    std::vector<BulkResult> insert_many(std::vector<json> items) {
        std::vector<BulkResult> out(items.size());
        pool_.for_each_index(items.size(), [&](std::size_t i) {
            try {
                out[i].record = insert(std::move(items[i]));
            } catch (const std::exception& e) {
                out[i].error = e.what();
            }
        });
        return out;
    }

    /// 1 PUT, unconditional (+ refs). Partition refs of values the record no longer has are not
    /// found without reading it first; listings by partition skip such stale refs.
    json replace(std::string id, json data) {
        data["id"] = std::move(id);
        OperationContext ctx = begin("replace", std::move(data));
        auto record = prepare(ctx, WriteKind::insert);
        auto refs = partitions_.refs(record.result, ctx.id);
        transport_.put(key_of(ctx.id), record.body, put_options(std::move(record.stored)));
        write_refs(refs, [] {});
        return finish(ctx, Hook::after_replace, "replaced", std::move(record.result));
    }

    /// Read, change, write back with If-Match: 1 GET + 1 PUT (+2 per moved partition). When another
    /// writer got there first the record is read again and the change re-applied; no update is lost.
    json update(std::string_view id, const json& partial) {
        return update(id, [&](json& record) { merge_into(record, partial); });
    }

    template <class Fn>
        requires std::invocable<Fn&, json&>
    json update(std::string_view id, Fn&& change) {
        // Records kept in metadata only are rewritten in place (HEAD + COPY onto itself): cheaper,
        // and a body stored with set_content survives. Others are read with GET and written with PUT.
        const bool in_place = !behavior_reads_body(behavior_);
        for (int attempt = 1; attempt <= settings_.max_update_attempts; ++attempt) {
            auto current = in_place ? head_record(id) : fetch(id);
            if (!current) throw RecordNotFound(config_.name, std::string(id));
            json before = std::move(current->record);
            json next = before;
            change(next);
            next["id"] = std::string(id);
            if (config_.timestamps) next["updatedAt"] = detail::iso_now();
            OperationContext ctx = begin("update", std::move(next), &before);
            auto record = prepare(ctx, WriteKind::update);
            auto moves = partitions_.plan_update(before, record.result);
            try {
                if (in_place)
                    transport_.copy(key_of(ctx.id), key_of(ctx.id),
                                    CopyOptions{.directive = MetadataDirective::replace,
                                                .metadata = std::move(record.stored.metadata),
                                                .content_type = std::move(current->content_type),
                                                .source_if_match = current->etag});
                else {
                    PutOptions o = put_options(std::move(record.stored));
                    o.if_match = current->etag;
                    transport_.put(key_of(ctx.id), record.body, std::move(o));
                }
            } catch (const PreconditionFailed&) {
                continue;  // someone else wrote it: read again and re-apply
            }
            apply_moves(moves);
            return finish(ctx, Hook::after_update, "updated", std::move(record.result));
        }
        throw UpdateConflict(config_.name, std::string(id), settings_.max_update_attempts);
    }

    /// s3db.js's patch: the same as update here, which for behaviors that keep records in metadata
    /// only (enforce-limits, truncate-data) is already 1 HEAD + 1 COPY onto itself.
    json patch(std::string_view id, const json& partial) { return update(id, partial); }

    // ---- binary content (behaviors that keep records in metadata only) ----------------------------

    /// Stores `body` as the record's content: 1 HEAD + 1 PUT with the record's metadata, If-Match.
    void set_content(std::string_view id, std::string_view body, std::string content_type = "application/octet-stream") {
        require_free_body("set_content");
        for (int attempt = 1; attempt <= settings_.max_update_attempts; ++attempt) {
            auto info = transport_.head(key_of(id));
            if (!info) throw RecordNotFound(config_.name, std::string(id));
            try {
                transport_.put(key_of(id), body,
                               PutOptions{.content_type = content_type, .metadata = std::move(info->metadata),
                                          .if_match = info->etag});
                return;
            } catch (const PreconditionFailed&) {
            }
        }
        throw UpdateConflict(config_.name, std::string(id), settings_.max_update_attempts);
    }

    /// The record's content and its type: 1 GET. nullopt when the record does not exist.
    std::optional<std::pair<std::string, std::string>> content(std::string_view id) {
        require_free_body("content");
        auto obj = transport_.get(key_of(id));
        if (!obj) return std::nullopt;
        return std::pair{std::move(obj->body), std::move(obj->info.content_type)};
    }

    /// 1 HEAD.
    bool has_content(std::string_view id) {
        require_free_body("has_content");
        auto info = transport_.head(key_of(id));
        return info && info->size > 0;
    }

    void delete_content(std::string_view id) { set_content(id, {}, "application/octet-stream"); }

    /// Insert, or update when the id exists.
    json upsert(json data) {
        std::string id = data.contains("id") && data["id"].is_string() ? data["id"].get<std::string>() : std::string{};
        if (id.empty()) return insert(std::move(data));
        try {
            return insert(data);
        } catch (const AlreadyExists&) {
            data.erase("id");
            return update(id, data);
        }
    }

    /// 1 DELETE, +1 GET first when partitions or hooks need the old record, + its refs.
    void remove(std::string_view id) {
        validate_id(config_.name, id);
        std::optional<json> before;
        if (!partitions_.empty() || has_hooks(Hook::before_delete) || has_hooks(Hook::after_delete) ||
            listeners_.count("deleted")) {
            auto current = fetch(id);
            if (!current) return;  // nothing to delete (S3 deletes are idempotent too)
            before = std::move(current->record);
        }
        OperationContext ctx{config_.name, "delete", std::string(id), json::object(), before ? &*before : nullptr};
        run(Hook::before_delete, ctx);
        transport_.remove(key_of(id));
        if (before) {
            std::vector<std::string> keys;
            for (auto& ref : partitions_.refs(*before, id)) keys.push_back(std::move(ref.key));
            remove_keys(keys);
        }
        run(Hook::after_delete, ctx);
        emit("deleted", ctx);
    }

    /// Batched: DeleteObjects of up to 1000 keys (records and their refs). When partitions or hooks
    /// need the old records, they are read first (1 GET each, on the pool).
    void remove_many(const std::vector<std::string>& ids) {
        for (auto& id : ids) validate_id(config_.name, id);
        bool needs_records = !partitions_.empty() || has_hooks(Hook::before_delete) || has_hooks(Hook::after_delete) ||
                             listeners_.count("deleted");
        std::vector<std::optional<json>> before(ids.size());
        if (needs_records)
            pool_.for_each_index(ids.size(), [&](std::size_t i) {
                if (auto current = fetch(ids[i])) before[i] = std::move(current->record);
            });
        std::vector<OperationContext> contexts;
        std::vector<std::string> keys;
        for (std::size_t i = 0; i < ids.size(); ++i) {
            if (needs_records && !before[i]) continue;  // already gone
            contexts.push_back({config_.name, "delete", ids[i], json::object(), before[i] ? &*before[i] : nullptr});
            run(Hook::before_delete, contexts.back());
            keys.push_back(key_of(ids[i]));
            if (before[i])
                for (auto& ref : partitions_.refs(*before[i], ids[i])) keys.push_back(std::move(ref.key));
        }
        remove_keys(keys);
        for (auto& ctx : contexts) {
            run(Hook::after_delete, ctx);
            emit("deleted", ctx);
        }
    }

    /// Deletes every record, partition ref and plugin object of the resource, in DeleteObjects batches
    /// of 1000. Refused while the resource is `paranoid` (the default), as in s3db.js.
    void remove_all() {
        if (config_.paranoid)
            throw ConfigError("resource '" + config_.name +
                              "' is paranoid: set paranoid to false in its definition to allow remove_all");
        ListOptions o{.prefix = "resource=" + config_.name + "/"};
        for (;;) {
            auto page = transport_.list(o);
            std::vector<std::string> keys;
            for (auto& e : page.objects) keys.push_back(std::move(e.key));
            remove_keys(keys);
            if (!page.truncated()) break;
            o.continuation_token = page.next_continuation_token;
        }
    }

    // ---- reads ----------------------------------------------------------------------------------

    /// 1 GET. A missing record → RecordNotFound.
    json get(std::string_view id) {
        auto r = get_or_null(id);
        if (!r) throw RecordNotFound(config_.name, std::string(id));
        return std::move(*r);
    }

    /// 1 GET.
    std::optional<json> get_or_null(std::string_view id) {
        validate_id(config_.name, id);
        auto current = fetch(id);
        if (!current) return std::nullopt;
        OperationContext ctx{config_.name, "get", std::string(id), std::move(current->record), nullptr};
        run(Hook::after_get, ctx);
        emit("fetched", ctx);
        return std::move(ctx.data);
    }

    /// 1 HEAD.
    bool exists(std::string_view id) {
        validate_id(config_.name, id);
        return transport_.head(key_of(id)).has_value();
    }

    /// 1 GET each, on the pool; nullopt where a record does not exist.
    std::vector<std::optional<json>> get_many(const std::vector<std::string>& ids) {
        std::vector<std::optional<json>> out(ids.size());
        pool_.for_each_index(ids.size(), [&](std::size_t i) { out[i] = get_or_null(ids[i]); });
        return out;
    }

    /// ⌈n/1000⌉ LIST requests.
    std::size_t count(const ListQuery& q = {}) {
        std::size_t n = 0;
        scan(q, 0, [&](std::string_view, std::string_view) {
            ++n;
            return true;
        });
        return n;
    }

    /// Ids in key order: LIST pages of the data prefix, or of the partition prefix.
    std::vector<std::string> list_ids(const ListQuery& q = {}) {
        std::vector<std::string> ids;
        for (auto& [id, position] : collect(q, q.limit)) ids.push_back(std::move(id));
        return ids;
    }

    /// Records in key order: LIST pages + 1 GET per record, on the pool.
    std::vector<json> list(const ListQuery& q = {}) {
        auto ids = list_ids(q);
        auto records = get_many(ids);
        std::vector<json> out;
        out.reserve(records.size());
        for (auto& r : records)
            if (r && matches_partition(q, *r)) out.push_back(std::move(*r));
        OperationContext ctx{config_.name, "list", {}, json{{"count", out.size()}}, nullptr};
        emit("listed", ctx);
        return out;
    }

    /// One page of `size` records after `cursor`: 1 LIST (asking for one key more, to know whether
    /// another page follows) + `size` GETs.
    Page page(std::size_t size, const std::string& cursor = {}, ListQuery q = {}) {
        q.cursor = cursor;
        auto found = collect(q, size + 1);
        Page p;
        if (found.size() > size) {
            found.pop_back();
            p.next_cursor = detail::base64_encode(found.back().second);
        }
        std::vector<std::string> ids;
        for (auto& f : found) ids.push_back(std::move(f.first));
        for (auto& r : get_many(ids))
            if (r && matches_partition(q, *r)) p.items.push_back(std::move(*r));
        return p;
    }

    /// Records whose fields equal `filter`'s (top-level equality) and satisfy `predicate`. With no
    /// partition named, the partition whose fields the filter covers best narrows the listing.
    std::vector<json> query(const json& filter, const std::function<bool(const json&)>& predicate = {},
                            ListQuery q = {}) {
        if (q.partition.empty()) plan_partition(filter, q);
        std::vector<json> out;
        for (auto& r : list(ListQuery{q.partition, q.values, 0, q.cursor})) {
            bool ok = true;
            for (auto& [k, v] : filter.items())
                if (!r.contains(k) || r[k] != v) {
                    ok = false;
                    break;
                }
            if (ok && (!predicate || predicate(r))) out.push_back(std::move(r));
            if (q.limit && out.size() >= q.limit) break;
        }
        return out;
    }

    /// A lazy pass over every record (or a partition's): one LIST page at a time, its records read
    /// on the pool, at most one page held in memory.
    template <class Fn>
        requires std::invocable<Fn&, json&&>
    void for_each(Fn&& fn, ListQuery q = {}) {
        for (;;) {
            auto p = page(max_list_keys, q.cursor, q);
            for (auto& r : p.items) fn(std::move(r));
            if (p.next_cursor.empty()) break;
            q.cursor = p.next_cursor;
        }
    }

private:
    struct Fetched {
        json record;
        std::string etag;
        std::string content_type;
    };
    struct Prepared {
        StoredRecord stored;
        std::string body;
        json result;  // the record as stored, with its id
    };

    OperationContext begin(std::string_view operation, json data, const json* before = nullptr) {
        if (!data.is_object()) throw ValidationError({{"", "object", data.dump(), "", "a record must be a JSON object"}},
                                                     "resource '" + config_.name + "'");
        std::string id;
        if (auto it = data.find("id"); it != data.end() && !it->is_null()) {
            if (!it->is_string() || it->get_ref<const std::string&>().empty())
                throw InvalidId(config_.name, it->is_string() ? "" : it->dump(), "ids are non-empty strings");
            id = it->get<std::string>();
        }
        if (id.empty()) id = id_generator_();
        validate_id(config_.name, id);
        data.erase("id");
        if (config_.timestamps && operation != "update") {
            auto now = detail::iso_now();
            if (!data.contains("createdAt")) data["createdAt"] = now;
            if (!data.contains("updatedAt")) data["updatedAt"] = now;
        }
        OperationContext ctx{config_.name, operation, std::move(id), std::move(data), before};
        run(operation == "insert" ? Hook::before_insert
            : operation == "update" ? Hook::before_update
                                    : Hook::before_replace,
            ctx);
        return ctx;
    }

    /// Validation, mapping and the behavior's layout: everything that can refuse a record, before
    /// any request.
    Prepared prepare(OperationContext& ctx, WriteKind kind) {
        json data = ctx.data;
        data.erase("id");
        json valid = codec_->schema().validate(std::move(data), "resource '" + config_.name + "', record '" + ctx.id + "'");
        auto mapped = codec_->map(valid);
        BehaviorContext bc{config_.name, ctx.id,
                           calculate_effective_limit(s3db_metadata_limit, version_, config_.timestamps,
                                                     kind == WriteKind::update ? std::string_view(ctx.id) : std::string_view{}),
                           kind, map_json_, {}, &*codec_};
        auto stored = behavior_write(behavior_, std::move(mapped), bc);
        valid["id"] = ctx.id;
        Prepared p{std::move(stored), {}, std::move(valid)};
        p.body = std::move(p.stored.body);
        return p;
    }

    static PutOptions put_options(StoredRecord stored) {
        PutOptions o;
        o.metadata = std::move(stored.metadata);
        if (!stored.content_type.empty()) o.content_type = std::move(stored.content_type);
        return o;
    }

    json finish(OperationContext& ctx, Hook after, const char* event, json result) {
        ctx.data = std::move(result);
        run(after, ctx);
        emit(event, ctx);
        return std::move(ctx.data);
    }

    std::optional<Fetched> fetch(std::string_view id) {
        auto obj = transport_.get(key_of(id));
        if (!obj) return std::nullopt;
        json record = behavior_read(behavior_, *codec_, obj->info.metadata, obj->body);
        record["id"] = std::string(id);
        return Fetched{std::move(record), std::move(obj->info.etag), std::move(obj->info.content_type)};
    }

    /// The record with one HEAD, for behaviors that never read the body.
    std::optional<Fetched> head_record(std::string_view id) {
        auto info = transport_.head(key_of(id));
        if (!info) return std::nullopt;
        json record = behavior_read(behavior_, *codec_, info->metadata, {});
        record["id"] = std::string(id);
        return Fetched{std::move(record), std::move(info->etag), std::move(info->content_type)};
    }

    /// Partition refs: empty objects whose metadata names the resource version. If one fails, the
    /// refs written so far and (through `undo`) the record itself are removed before rethrowing.
    template <class Undo>
    void write_refs(const std::vector<PartitionRef>& refs, Undo&& undo) {
        std::size_t written = 0;
        try {
            for (; written < refs.size(); ++written)
                transport_.put(refs[written].key, "", PutOptions{.metadata = {{"_v", version_}}});
        } catch (...) {
            std::vector<std::string> keys;
            for (std::size_t i = 0; i < written; ++i) keys.push_back(refs[i].key);
            try {
                remove_keys(keys);
                undo();
            } catch (...) {
            }
            throw;
        }
    }

    void apply_moves(const PartitionUpdate& moves) {
        std::vector<std::string> stale;
        for (auto& r : moves.remove) stale.push_back(r.key);
        remove_keys(stale);
        write_refs(moves.put, [] {});
    }

    void remove_keys(std::vector<std::string>& keys) {
        if (keys.empty()) return;
        if (keys.size() == 1) transport_.remove(keys[0]);
        else transport_.remove_many(keys);
    }

    /// Up to `limit` (0: all) ids after the cursor, each with its position (the key past the
    /// listing prefix, which is what a cursor encodes).
    std::vector<std::pair<std::string, std::string>> collect(const ListQuery& q, std::size_t limit) {
        std::vector<std::pair<std::string, std::string>> out;
        scan(q, limit, [&](std::string_view id, std::string_view position) {
            out.emplace_back(id, position);
            return !limit || out.size() < limit;
        });
        return out;
    }

    /// Walks the ids of the data prefix, or of a partition prefix, page by page from the cursor.
    /// `hint` (0: none) lets the first LIST ask for no more keys than the caller wants.
    template <class Visit>
    void scan(const ListQuery& q, std::size_t hint, Visit&& visit) {
        std::string prefix = data_prefix_ + "id=";
        std::optional<PartitionPrefix> part;
        if (!q.partition.empty()) {
            part = partitions_.prefix(q.partition, q.values);
            prefix = part->key;
        }
        ListOptions o{.prefix = prefix};
        if (hint) o.max_keys = std::min(hint, max_list_keys);
        if (!q.cursor.empty()) {
            auto after = detail::base64_decode(q.cursor);
            if (!after) throw ConfigError("resource '" + config_.name + "': the cursor is not one this resource issued");
            o.start_after = prefix + *after;
        }
        for (;;) {
            auto page = transport_.list(o);
            for (auto& e : page.objects) {
                std::string_view id;
                if (part) {
                    auto ref = partitions_.parse_ref(e.key);
                    if (!ref || !part->matches(*ref)) continue;
                    if (!visit(std::string_view(ref->id), std::string_view(e.key).substr(prefix.size()))) return;
                    continue;
                }
                id = std::string_view(e.key).substr(prefix.size());
                if (!visit(id, id)) return;
            }
            if (!page.truncated()) return;
            o.continuation_token = page.next_continuation_token;
        }
    }

    /// A partition listing can meet refs left by replace (or by a crash between writes): keep only
    /// records whose current values still put them in the partition.
    bool matches_partition(const ListQuery& q, const json& record) const {
        if (q.partition.empty()) return true;
        auto prefix = partitions_.prefix(q.partition, q.values);
        auto key = partitions_.key(q.partition, record, record.at("id").template get<std::string>());
        if (!key || !key->starts_with(prefix.key)) return false;
        if (prefix.exact()) return true;
        auto ref = partitions_.parse_ref(*key);
        return ref && prefix.matches(*ref);
    }

    void plan_partition(const json& filter, ListQuery& q) const {
        std::size_t best = 0;
        for (const auto& p : partitions_.partitions()) {
            bool covered = !p.fields.empty();
            for (const auto& f : p.fields)
                if (!filter.contains(f.name)) covered = false;
            if (covered && p.fields.size() > best) {
                best = p.fields.size();
                q.partition = p.name;
                q.values = json::object();
                for (const auto& f : p.fields) q.values[f.name] = filter[f.name];
            }
        }
    }

    /// s3db.js's update merge: nested objects merged one level deep, everything else replaced.
    static void merge_into(json& record, const json& partial) {
        for (auto& [k, v] : partial.items()) {
            if (k == "id") continue;
            if (v.is_object() && record.contains(k) && record[k].is_object())
                for (auto& [k2, v2] : v.items()) record[k][k2] = v2;
            else record[k] = v;
        }
    }

    void require_free_body(const char* op) const {
        if (behavior_reads_body(behavior_))
            throw ConfigError("resource '" + config_.name + "': " + op + " needs a behavior that keeps records in "
                              "metadata only (enforce-limits or truncate-data), not " + std::string(behavior()));
    }

    bool has_hooks(Hook h) const { return !hooks_[static_cast<std::size_t>(h)].empty(); }
    void run(Hook h, OperationContext& ctx) {
        for (auto& fn : hooks_[static_cast<std::size_t>(h)]) fn(ctx);
    }
    void emit(const std::string& event, const OperationContext& ctx) {
        auto it = listeners_.find(event);
        if (it == listeners_.end()) return;
        for (auto& fn : it->second) fn(ctx);
    }

    T& transport_;
    detail::WorkerPool& pool_;
    Settings settings_;
    ResourceConfig config_;
    std::string version_;
    std::optional<Codec> codec_;  // set by configure
    Partitions partitions_;
    AnyBehavior behavior_;
    std::string map_json_;
    IdGenerator id_generator_;
    std::string data_prefix_;
    std::vector<HookFn> hooks_[static_cast<std::size_t>(Hook::hook_count)];
    std::map<std::string, std::vector<Listener>, std::less<>> listeners_;
};

}  // namespace s3db
