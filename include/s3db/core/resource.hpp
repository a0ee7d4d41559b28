#pragma once
// Resource: a collection of JSON documents stored as S3 objects in the s3db.js layout
// (`resource=<name>/data/id=<id>`, fields in metadata, overflow by behavior, partition refs).
// Every operation validates before it writes, sends the fewest requests the layout allows, and
// leaves no partial record behind when a request fails. Thread-safe: operations may run
// concurrently; hooks and listeners are registered before use. What listing needs apart from the
// resource (ListQuery, Page, the LIST walk, RecordRange) is in listing.hpp.

#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <iterator>
#include <thread>
#include <map>
#include <set>
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
#include "s3db/errors.hpp"
#include "s3db/core/hooks.hpp"
#include "s3db/core/ids.hpp"
#include "s3db/core/layout.hpp"
#include "s3db/core/listing.hpp"
#include "s3db/core/catalogue.hpp"
#include "s3db/core/partitions.hpp"
#include "s3db/core/schema.hpp"
#include "s3db/core/write_tokens.hpp"
#include "s3db/transport/s3/retry.hpp"
#include "s3db/transport/s3/rules.hpp"
#include "s3db/detail/worker_pool.hpp"
#include "s3db/transport/transport.hpp"
#include "s3db/transport/transport_ref.hpp"

namespace s3db {

using json = nlohmann::json;

/// One result of `Resource::insert_many`: the record stored, or the error message.
struct BulkResult {
    std::optional<json> record;
    std::string error;
};

/// What `Resource::repair_partitions` found and did.
struct PartitionRepair {
    std::size_t records = 0;   // records read
    std::size_t refs = 0;      // refs listed
    std::size_t added = 0;     // missing refs written
    std::size_t removed = 0;   // stale refs deleted
    std::size_t requests = 0;  // requests sent (LIST, GET/HEAD, PUT, DeleteObjects, settling HEADs)
};

/// Options of reads by id.
struct ReadOptions {
    bool cache = true;  // false: plugins that answer reads (the cache) are bypassed
    json context{};     // the caller's context for this read (see WriteOptions)
};

/// Options of writes.
struct WriteOptions {
    /// The caller's context for this one operation: who makes it, from where (`{"user": …,
    /// "source": …}`). Every hook, listener and plugin of the operation sees it, as `context` in
    /// OperationContext, ReadContext and OperationEvent; null (the default) costs nothing.
    json context{};
};

/// A resource's engine, the same class whatever its store and plugins: it reaches the store through
/// a TransportRef and the plugins through a HostRef (one indirect call each), so its code is compiled
/// once per program (S3DB_SEPARATE_COMPILATION) rather than once per database type. `Resource<T,
/// Host>` is the typed face a database hands out.
class ResourceCore {
public:
    using Hook = s3db::Hook;
    using HookFn = std::function<void(OperationContext&)>;
    using Listener = std::function<void(const OperationContext&)>;

    struct Settings {
        std::string passphrase = "secret";
        int max_update_attempts = 16;
        std::size_t metadata_limit = s3db_metadata_limit;
        bool strict_validation = true;
        /// A partition ref younger than this is never taken for stale: an insert writes its refs
        /// just before its record, and a listing must not delete them in between.
        std::chrono::seconds stale_ref_grace{60};
        PasswordOptions password{};  // how `password` fields hash a plaintext
    };

    S3DB_DECL ResourceCore(TransportRef transport, detail::WorkerPool& pool, const StoredResource& stored,
                           Settings settings, detail::HostRef host = {});
    ResourceCore(const ResourceCore&) = delete;
    ResourceCore& operator=(const ResourceCore&) = delete;
    S3DB_DECL ~ResourceCore();

    const std::string& name() const noexcept { return config_.name; }
    const ResourceConfig& config() const noexcept { return config_; }
    const Schema& schema() const noexcept { return codec_->schema(); }
    const Partitions& partitions() const noexcept { return partitions_; }
    std::string_view behavior() const noexcept { return behavior_name(behavior_); }
    const std::string& version() const noexcept { return version_; }

    /// Adopts a new definition (a new version of the resource in s3db.json). Not safe to call while
    /// operations on this resource are running.
    /// A definition that cannot be used throws before anything changes: the resource keeps working
    /// with the definition it had.
    S3DB_DECL void configure(const StoredResource& stored);

    S3DB_DECL void set_id_generator(IdGenerator g);
    /// Hook functions run at hook point `h` (see S3DB_RESOURCE_HOOKS), before the plugins'.
    /// Register them before operations run.
    void add_hook(Hook h, HookFn fn) { hooks_[static_cast<std::size_t>(h)].push_back(std::move(fn)); }
    /// Events: inserted, inserted-many, updated, replaced, deleted, deleted-many, fetched, listed,
    /// counted, queried, skipped (a listed record that cannot be decoded: its id, and the key and
    /// reason in the context's data).
    void on(std::string event, Listener fn) { listeners_[std::move(event)].push_back(std::move(fn)); }

    std::string key_of(std::string_view id) const { return record_key(config_.name, id); }

    /// Every resource name of the database's catalogue: remove_all leaves alone the keys of resources
    /// nested under this one's name (`a/b` under `a`, which s3db.js allows). Set by the database.
    S3DB_DECL void set_catalogue(std::vector<std::string> names);

    /// Records that listings skipped because they could not be decoded, since the resource opened.
    std::size_t skipped_records() const noexcept { return skipped_.load(std::memory_order_relaxed); }

    // ---- writes ---------------------------------------------------------------------------------

    /// 1 PUT with If-None-Match: * (+1 PUT per partition). An existing id → AlreadyExists.
    S3DB_DECL json insert(json data, const WriteOptions& o = {});

    /// Inserts on the pool; one result per input, the error message where an insert failed.
    using BulkResult = s3db::BulkResult;
    S3DB_DECL std::vector<BulkResult> insert_many(std::vector<json> items, const WriteOptions& o = {});

    /// 1 PUT, unconditional (+ refs). Partition refs of values the record no longer has are not
    /// found without reading it first; listings by partition skip such stale refs.
    S3DB_DECL json replace(std::string id, json data, const WriteOptions& wo = {});

    /// Read, change, write back with If-Match: 1 GET + 1 PUT (+2 per moved partition, +1 HEAD that
    /// checks the moved refs against the stored record). When another writer got there first the
    /// record is read again and the change re-applied; no update is lost, none applied twice. A
    /// write whose answer was lost is settled by the next read (write tokens, core/write_tokens.hpp);
    /// when the store cannot tell, OutcomeUnknown.
    S3DB_DECL json update(std::string_view id, const json& partial, const WriteOptions& o = {});

    template <class Fn>
        requires std::invocable<Fn&, json&>
    json update(std::string_view id, Fn&& change, const WriteOptions& o = {}) {
        const json* cx = context_of(o.context);
        return observed("update", id, cx, [&] { return update_impl(id, std::ref(change), cx); });
    }

    /// s3db.js's patch: the same as update here, which for behaviors that keep records in metadata
    /// only (enforce-limits, truncate-data) is already 1 HEAD + 1 COPY onto itself.
    S3DB_DECL json patch(std::string_view id, const json& partial, const WriteOptions& o = {});

    // ---- binary content (behaviors that keep records in metadata only) ----------------------------

    /// Stores `body` as the record's content: 1 HEAD + 1 PUT with the record's metadata, If-Match.
    S3DB_DECL void set_content(std::string_view id, std::string_view body, std::string content_type = "application/octet-stream");

    /// The record's content and its type: 1 GET. nullopt when the record does not exist.
    S3DB_DECL std::optional<std::pair<std::string, std::string>> content(std::string_view id);

    /// 1 HEAD.
    S3DB_DECL bool has_content(std::string_view id);

    void delete_content(std::string_view id) { set_content(id, {}, "application/octet-stream"); }

    /// Insert, or update when the id exists.
    S3DB_DECL json upsert(json data, const WriteOptions& o = {});

    /// 1 DELETE, +1 GET first when partitions or hooks need the old record, + its refs.
    S3DB_DECL void remove(std::string_view id, const WriteOptions& o = {});

    /// Batched: DeleteObjects of up to 1000 keys (records and their refs). When partitions or hooks
    /// need the old records, they are read first (1 GET each, on the pool).
    S3DB_DECL void remove_many(const std::vector<std::string>& ids, const WriteOptions& o = {});

    /// Deletes every record, partition ref and plugin object of the resource, in DeleteObjects batches
    /// of 1000; the keys of resources nested under its name (`a/b` under `a`) stay (see layout.hpp).
    /// Refused while the resource is `paranoid` (the default), as in s3db.js.
    S3DB_DECL void remove_all();

    using PartitionRepair = s3db::PartitionRepair;

    /// Rebuilds the resource's partition refs from its records: each ref a record names is written
    /// when missing, every other ref deleted, but for refs younger than stale_ref_grace (an insert
    /// may be writing them). For buckets damaged by a crash or written by s3db.js (which writes refs
    /// twice and does not escape values). Requests: ⌈records/1000⌉ + ⌈refs/1000⌉ LIST, 1 GET per
    /// record (HEAD where records live in metadata), 1 PUT per missing ref, 1 DeleteObjects per
    /// 1000 stale refs and 1 HEAD (+1 GET for body behaviors) per record that had stale refs.
    PartitionRepair repair_partitions() { return repair_partitions(settings_.stale_ref_grace); }
    /// The same, with another grace (0: every ref no record names, e.g. once writers are stopped).
    S3DB_DECL PartitionRepair repair_partitions(std::chrono::seconds grace);

    /// Partition ref writes and deletes that failed after the record's write had landed (counted,
    /// and reported to "partition-error" listeners, instead of failing the acknowledged write).
    /// A ref a record needs that could not be put is owed: put before this resource's next
    /// partition listing or write, or by `repair_partitions`, which brings every ref back in line.
    std::uint64_t partition_failures() const noexcept { return partition_failures_.load(std::memory_order_relaxed); }

    // ---- reads ----------------------------------------------------------------------------------

    /// 1 GET. A missing record → RecordNotFound.
    S3DB_DECL json get(std::string_view id, const ReadOptions& o = {});

    /// 1 GET.
    S3DB_DECL std::optional<json> get_or_null(std::string_view id, const ReadOptions& o = {});

    /// 1 HEAD.
    S3DB_DECL bool exists(std::string_view id);

    /// 1 GET each, on the pool; nullopt where a record does not exist.
    S3DB_DECL std::vector<std::optional<json>> get_many(const std::vector<std::string>& ids, const ReadOptions& o = {});

    /// ⌈n/1000⌉ LIST requests.
    S3DB_DECL std::size_t count(const ListQuery& q = {});

    /// Ids in key order: LIST pages of the data prefix, or of the partition prefix.
    S3DB_DECL std::vector<std::string> list_ids(const ListQuery& q = {});

    /// Records in key order: LIST pages + 1 GET per record, on the pool.
    S3DB_DECL std::vector<json> list(const ListQuery& q = {});

    /// One page of `size` records after `cursor`: 1 LIST (asking for one key more, to know whether
    /// another page follows) + `size` GETs.
    S3DB_DECL Page page(std::size_t size, const std::string& cursor = {}, ListQuery q = {});

    /// Records whose fields equal `filter`'s (top-level equality) and satisfy `predicate`. With no
    /// partition named, the partition whose fields the filter covers best narrows the listing.
    /// A query with a predicate is never answered by a cache (a function has no key).
    S3DB_DECL std::vector<json> query(const json& filter, const std::function<bool(const json&)>& predicate = {},
                            ListQuery q = {});

    /// A lazy input range over every record (or a partition's): one LIST page at a time, its records
    /// read on the pool, at most one page of `page_size` (≤ 1000) records held in memory.
    S3DB_DECL RecordRange<ResourceCore> records(ListQuery q = {}, std::size_t page_size = max_list_keys);

    /// The same pass as `records`, with a function.
    template <class Fn>
        requires std::invocable<Fn&, json&&>
    void for_each(Fn&& fn, ListQuery q = {}) {
        for (auto& r : records(std::move(q))) fn(std::move(r));
    }

private:
    template <class Res>
    friend class RecordRange;

    // ---- operations, without the outer observation (so nested calls count once) ------------------

    struct Fetched {
        json record;
        std::string etag;
        std::string content_type;
        std::uint64_t size = 0;  // of the body
        std::string tokens;      // the version's write tokens (`_wt`), oldest first
        /// A body that is the user's content (set_content), not empty and not a version stamp.
        bool has_content() const noexcept { return size > 0 && content_type != detail::version_content_type; }
    };
    /// A write attempt that got no answer (or a 412 after one that got none): what a later read
    /// needs to settle whether it landed.
    struct Unanswered {
        std::string token;        // the attempt's write token (empty: it had no room for one)
        std::string base_newest;  // the newest token of the version it replaced
        std::string base_etag;    // that version's ETag, where versions' ETags differ
        std::string cause;        // what the attempt met, for OutcomeUnknown
        std::exception_ptr error; // a transport failure to report when it proves not applied
    };
    enum class Settled { applied, not_applied, unknown };

    S3DB_DECL static Settled settle(const Unanswered& u, const Fetched* current);

    S3DB_DECL json insert_impl(json data, const json* cx);

    /// The read that settles an unanswered insert; failing, the insert's outcome stays unknown.
    S3DB_DECL std::optional<Fetched> settle_read(std::string_view id, const std::string& cause);

    /// An insert that may or may not have landed keeps its refs (written first): stale at worst,
    /// which listings and repair_partitions delete once the record is known not to be there.
    [[noreturn]] S3DB_DECL void unknown_insert(std::string_view id, const std::string& cause);

    /// An update that may have landed: the refs its version needs are written, and settled against
    /// whatever the record holds now (deleted there if it does not name them).
    S3DB_DECL void refs_for_unknown(std::string_view id, const std::vector<PartitionRef>& put);

    /// One attempt of an update, kept while its outcome is unknown.
    struct UpdateAttempt {
        Unanswered unanswered;
        json before;
        OperationContext ctx;
        json result;
        PartitionUpdate moves;
        std::string token;
    };

    S3DB_DECL json update_impl(std::string_view id, const std::function<void(json&)>& change, const json* cx);

    /// An update that landed: its partition refs, then its hooks and events.
    S3DB_DECL json complete_update(UpdateAttempt& a);

    S3DB_DECL bool delete_needs_record() const;

    S3DB_DECL void remove_impl(std::string_view id, const json* cx);

    S3DB_DECL void remove_many_impl(const std::vector<std::string>& ids, const json* cx);

    S3DB_DECL std::optional<json> get_impl(std::string_view id, bool cache, const json* cx);

    S3DB_DECL std::vector<std::optional<json>> get_many_impl(const std::vector<std::string>& ids, bool cache, const json* cx);

    S3DB_DECL std::vector<std::string> list_ids_impl(const ListQuery& q);

    /// The records at `ids`, read on the pool, in order. Ids whose record is gone (or, in a
    /// partition listing, no longer in that partition) are left out. Filled in place: a listing's
    /// results are the bulk of its memory, so they are not copied from one vector into another.
    /// A record that cannot be decoded is skipped and reported (CorruptRecord with strict_decoding).
    S3DB_DECL std::vector<json> read_listed(const std::vector<std::string>& ids, const ListQuery& q);

    /// Refs a partition listing met whose record is gone or no longer in the partition: each one
    /// older than stale_ref_grace is deleted and settled (1 HEAD of the ref, 1 DELETE, 1 HEAD of
    /// the record). Cleanup only: a failure leaves the ref for the next listing. Refs are found
    /// only where the listing named every field of the partition (else the key is not known).
    S3DB_DECL void clean_stale_refs(const ListQuery& q, const std::vector<std::string>& ids, const std::vector<std::size_t>& stale);

    S3DB_DECL std::vector<json> list_impl(const ListQuery& q);

    S3DB_DECL Page page_impl(std::size_t size, const ListQuery& q);

    // ---- what plugins see -------------------------------------------------------------------------

    /// The caller's context as hooks see it: null when the call gave none.
    static const json* context_of(const json& context) noexcept { return context.is_null() ? nullptr : &context; }

    S3DB_DECL bool wants(Hook h) const;

    template <Hook H>
    void run(OperationContext& ctx) {
        for (auto& fn : hooks_[static_cast<std::size_t>(H)]) fn(ctx);
        if (host_) host_.fire(H, ctx);
    }

    /// A public operation: timed and reported to plugins that measure, when there are any.
    template <class Fn>
    auto observed(std::string_view op, std::string_view id, const json* cx, Fn&& fn) -> decltype(fn()) {
        if (host_ && host_.observes_operations()) {
            auto t0 = std::chrono::steady_clock::now();
            auto report = [&](const std::exception* error) {
                host_.on_operation(OperationEvent{config_.name, op, id, std::chrono::steady_clock::now() - t0, error, cx});
            };
            try {
                auto r = fn();
                report(nullptr);
                return r;
            } catch (const std::exception& e) {
                report(&e);
                throw;
            }
        }
        return fn();
    }

    /// A read with its before/after hooks, answered by a plugin (the cache) when one does.
    /// `make_params` builds the request as JSON (nullptr for reads by id) only when a hook or a
    /// plugin is there to see it: a plain read pays nothing for it.
    template <Hook Before, Hook After, class R, class MakeParams, class Compute>
    R read_op(std::string_view op, std::string_view id, MakeParams&& make_params, bool interceptable, const json* cx,
              Compute&& compute) {
        std::optional<json> params;
        auto request = [&]() -> const json* {
            if constexpr (std::same_as<std::decay_t<MakeParams>, std::nullptr_t>) return nullptr;
            else {
                if (!params) params = make_params();
                return &*params;
            }
        };
        if (wants(Before)) {
            const json* q = request();
            OperationContext c{config_.name, op, std::string(id), q ? json{{"query", *q}} : json::object(), nullptr, cx};
            run<Before>(c);
        }
        R r = [&] {
            if (interceptable && host_ && host_.intercepts_reads()) {
                ReadContext rc{config_.name, op, id, request(), cx};
                return from_wire<R>(host_.around_read(rc, [&] { return to_wire(compute()); }));
            }
            return compute();
        }();
        if constexpr (std::same_as<R, std::optional<json>>)
            if (!r) return r;
        if (wants(After)) {
            OperationContext c{config_.name, op, std::string(id), to_wire(std::move(r)), nullptr, cx};
            run<After>(c);
            r = from_wire<R>(std::move(c.data));
        }
        return r;
    }

    // Read results as JSON, the form hooks and caches handle.
    static json to_wire(std::optional<json> r) { return r ? std::move(*r) : json(nullptr); }
    static json to_wire(bool b) { return b; }
    static json to_wire(std::size_t n) { return n; }
    static json to_wire(std::vector<std::string> ids) { return json(std::move(ids)); }
    static json to_wire(std::vector<json> records) { return json(std::move(records)); }
    S3DB_DECL static json to_wire(std::vector<std::optional<json>> records);
    static json to_wire(Page p) { return json{{"items", std::move(p.items)}, {"next_cursor", std::move(p.next_cursor)}}; }

    template <class R>
    static R from_wire(json j) {
        if constexpr (std::same_as<R, std::optional<json>>) {
            if (j.is_null()) return std::nullopt;
            return std::optional<json>(std::move(j));
        } else if constexpr (std::same_as<R, std::vector<json>>) {
            std::vector<json> out;
            out.reserve(j.size());
            for (auto& r : j) out.push_back(std::move(r));
            return out;
        } else if constexpr (std::same_as<R, std::vector<std::optional<json>>>) {
            std::vector<std::optional<json>> out;
            out.reserve(j.size());
            for (auto& r : j) out.push_back(r.is_null() ? std::nullopt : std::optional<json>(std::move(r)));
            return out;
        } else if constexpr (std::same_as<R, Page>) {
            Page p;
            for (auto& r : j.at("items")) p.items.push_back(std::move(r));
            p.next_cursor = j.at("next_cursor").template get<std::string>();
            return p;
        } else {
            return j.template get<R>();
        }
    }

    struct Prepared {
        StoredRecord stored;
        std::string body;
        json result;  // the record as stored, with its id
    };

    S3DB_DECL OperationContext begin(std::string_view operation, json data, const json* before, const json* cx);

    /// Validation, mapping and the behavior's layout: everything that can refuse a record, before
    /// any request.
    S3DB_DECL Prepared prepare(OperationContext& ctx, WriteKind kind);

    S3DB_DECL static PutOptions put_options(StoredRecord stored);

    template <Hook After>
    json finish(OperationContext& ctx, const char* event, json result) {
        ctx.data = std::move(result);
        run<After>(ctx);
        emit(event, ctx);
        return std::move(ctx.data);
    }

    /// The record `id` as stored in `metadata` and `body`.
    /// What cannot be decoded → CorruptRecord.
    S3DB_DECL json decode_record(std::string_view id, const Metadata& metadata, std::string_view body) const;

    /// `read_object` of the record's key; an object the store cannot hand back whole → CorruptRecord.
    template <class Fn>
    auto read_record_object(std::string_view id, Fn&& fn) {
        try {
            return read_object(transport_, key_of(id), std::forward<Fn>(fn));
        } catch (const CorruptObject& e) {
            throw CorruptRecord(config_.name, std::string(id), e.what());
        }
    }

    /// The record and its version with one GET (read in place by in-process stores).
    S3DB_DECL std::optional<Fetched> fetch(std::string_view id);

    /// The record alone with one GET: what get and list return.
    S3DB_DECL std::optional<json> fetch_record(std::string_view id);

    /// The record with one HEAD, for behaviors that never read the body (and, for the others,
    /// the version and its tokens with a record that may lack its body's fields).
    S3DB_DECL std::optional<Fetched> head_record(std::string_view id);

    S3DB_DECL static std::vector<std::string> keys_of(const std::vector<PartitionRef>& refs);

    // ---- partition refs ---------------------------------------------------------------------------
    // A ref (an empty object) says "this record may be in this partition"; the record is the truth,
    // and a partition listing reads it before returning it. What must never happen is a record
    // missing from a partition it names. Three rules keep that true under any interleaving:
    //  1. refs a version needs are written before (insert) or right after (update) the version;
    //  2. whoever deletes a ref reads the record afterwards and puts the ref back if the record
    //     names it (a writer may have moved the record back meanwhile) — `settle_refs`;
    //  3. when that read or put fails, the ref is put back anyway: a stale ref costs a listing one
    //     read, a missing one loses a record. Stale refs are deleted by listings and `repair`; a
    //     ref a record needs whose put failed is owed, and put before the next listing or write.

    /// Puts the refs of record `id`; if one fails, those written are removed (settled) and the
    /// failure rethrown. The ref whose put failed is removed too when the failure leaves its outcome
    /// unknown: an attempt may have landed before its answer was lost (Retry then reports the last
    /// attempt's failure), which would leave a stale ref no counter accounts for.
    S3DB_DECL void write_refs(std::string_view id, const std::vector<PartitionRef>& refs);

    void put_ref(const std::string& key) { transport_.put(key, "", PutOptions{.metadata = {{"_v", version_}}}); }

    /// Refs a landed update of record `id` needs: its write is acknowledged whatever happens here,
    /// so a failure is counted and reported ("partition-error"), never thrown, and the ref owed.
    S3DB_DECL void write_refs_after(std::string_view id, const std::vector<PartitionRef>& refs);

    S3DB_DECL void remove_refs_quietly(std::vector<std::string>& keys);

    /// Deletes refs of record `id` that its stored version may no longer name, then settles them.
    S3DB_DECL void retire_refs(std::string_view id, std::vector<std::string> keys);

    /// After this writer put `put` and deleted `removed` refs of record `id`, reads the record and
    /// brings those refs in line with it: a deleted ref it names is put back, a put ref it does not
    /// name is deleted (and that delete settled in the next round). `ours` is the write token of
    /// the version this writer stored: a HEAD showing it newest settles everything at once.
    /// Returns the requests it sent.
    S3DB_DECL std::size_t settle_refs(std::string_view id, std::vector<std::string> put, std::vector<std::string> removed,
                            std::string_view ours);

    // Refs owed: refs that a stored record may name but that could not be put (each one counted as
    // a partition failure). A record must never be missing from a partition it names, so they are
    // kept and paid — the record read, the refs it still names put, as `settle_refs` does — before
    // this resource's next partition listing and its next single-record write; repair_partitions
    // rebuilds them with every other ref. Owing nothing (the fault-free path) costs an atomic load.

    S3DB_DECL void owe_ref(std::string_view id, const std::string& key);

    /// Hands over what is owed, leaving nothing owed.
    S3DB_DECL std::map<std::string, std::set<std::string>, std::less<>> take_owed_refs();

    /// Settles every owed ref; one that fails again is owed again.
    S3DB_DECL void pay_owed_refs();

    /// The body of repair_partitions.
    S3DB_DECL PartitionRepair rebuild_partitions(std::chrono::seconds grace);

    S3DB_DECL void partition_failure(const std::string& key, const std::exception& e);

    S3DB_DECL void remove_keys(std::vector<std::string>& keys);

    /// Up to `limit` (0: all) ids after the cursor, each with its position (the key past the
    /// listing prefix, which is what a cursor encodes).
    S3DB_DECL std::vector<std::pair<std::string, std::string>> collect(const ListQuery& q, std::size_t limit);

    /// Where the listing of `q` starts (see listing.hpp).
    S3DB_DECL detail::ListState list_state(const ListQuery& q, std::size_t hint) const;

    /// One LIST of the listing; visits each id with its position until `visit` says stop.
    template <class Visit>
    bool scan_page(detail::ListState& st, Visit&& visit) {
        return detail::scan_page(transport_, partitions_, st, std::forward<Visit>(visit));
    }

    /// Walks the ids of the data prefix, or of a partition prefix, page by page from the cursor.
    /// `hint` (0: none) lets the first LIST ask for no more keys than the caller wants.
    template <class Visit>
    void scan(const ListQuery& q, std::size_t hint, Visit&& visit) {
        if (!q.partition.empty()) pay_owed_refs();
        auto st = list_state(q, hint);
        while (!st.done)
            if (!scan_page(st, visit)) return;
    }

    /// The records of the next LIST page (1 LIST + their GETs on the pool); empty only at the end.
    S3DB_DECL std::vector<json> next_records(detail::ListState& st, const ListQuery& q);

    /// Values merged or copied before validation are checked for depth first: both recurse.
    S3DB_DECL void refuse_too_deep(const json& v, std::string_view id) const;

    /// s3db.js's update merge: nested objects merged one level deep, everything else replaced.
    S3DB_DECL static void merge_into(json& record, const json& partial);

    S3DB_DECL void require_free_body(const char* op) const;

    S3DB_DECL void emit(const std::string& event, const OperationContext& ctx);

    TransportRef transport_;
    detail::WorkerPool& pool_;
    Settings settings_;
    ResourceConfig config_;
    std::string version_;
    std::optional<Codec> codec_;  // set by configure
    Partitions partitions_;
    AnyBehavior behavior_;
    std::string map_json_;
    IdGenerator id_generator_;
    bool custom_id_generator_ = false;
    std::string data_prefix_;
    mutable std::mutex catalogue_mutex_;
    std::vector<std::string> catalogue_;
    std::atomic<std::size_t> skipped_{0};
    std::vector<HookFn> hooks_[static_cast<std::size_t>(Hook::hook_count)];
    std::map<std::string, std::vector<Listener>, std::less<>> listeners_;
    detail::HostRef host_;
    std::atomic<std::uint64_t> partition_failures_{0};
    std::mutex owed_mutex_;
    std::map<std::string, std::set<std::string>, std::less<>> owed_refs_;  // record id -> refs it may name
    std::atomic<bool> owes_refs_{false};
};

/// A resource on store `T` whose operations `Host` hears about (the database's plugins; `NoHost`
/// for none, see core/hooks.hpp). Everything is ResourceCore's: this only ties the two together.
template <class T, class Host = NoHost>
class Resource : public ResourceCore {
    static_assert(Transport<T>, "s3db: a Resource needs a store that models s3db::Transport");

public:
    Resource(T& transport, detail::WorkerPool& pool, const StoredResource& stored, Settings settings,
             Host* host = nullptr)
        : ResourceCore(transport, pool, stored, std::move(settings), detail::HostRef::of(host)) {}
};

}  // namespace s3db

#if S3DB_DEFINE_BODIES
namespace s3db {

S3DB_DECL ResourceCore::ResourceCore(TransportRef transport, detail::WorkerPool& pool, const StoredResource& stored,
                                     Settings settings, detail::HostRef host)
    : transport_(transport), pool_(pool), settings_(std::move(settings)), host_(host) {
    configure(stored);
}

S3DB_DECL ResourceCore::~ResourceCore() = default;

S3DB_DECL void ResourceCore::configure(const StoredResource& stored) {
    const auto& c = stored.config;
    // A stored definition may come from s3db.js: parsed as loosely as it parses it (what
    // create_resource writes was parsed strictly before it was written).
    auto schema = Schema::parse(c.attributes, SchemaOptions{.all_nested_objects_optional = c.all_nested_objects_optional,
                                                            .strict = false,
                                                            .password = settings_.password});
    auto partitions = Partitions::parse(c.name, c.partitions, schema, PartitionOptions{.strict = settings_.strict_validation});
    auto behavior = behavior_from_name(c.behavior);
    auto id_generator = custom_id_generator_ ? IdGenerator{} : make_id_generator(static_cast<std::size_t>(c.id_size));
    Codec codec(std::move(schema), stored.registry.mapping,
                CodecOptions{.passphrase = settings_.passphrase, .auto_decrypt = c.auto_decrypt, .version = stored.version});
    config_ = c;
    version_ = stored.version;
    partitions_ = std::move(partitions);
    codec_.emplace(std::move(codec));
    behavior_ = behavior;
    map_json_ = schema_map_json(codec_->schema(), stored.registry.mapping);
    // A new definition may change idSize; a generator the user set stays.
    if (!custom_id_generator_) id_generator_ = std::move(id_generator);
    data_prefix_ = "resource=" + config_.name + "/data/";
}

S3DB_DECL void ResourceCore::set_id_generator(IdGenerator g) {
    id_generator_ = std::move(g);
    custom_id_generator_ = true;
}

S3DB_DECL void ResourceCore::set_catalogue(std::vector<std::string> names) {
    std::lock_guard lock(catalogue_mutex_);
    catalogue_ = std::move(names);
}

S3DB_DECL json ResourceCore::insert(json data, const WriteOptions& o) {
    const json* cx = context_of(o.context);
    return observed("insert", {}, cx, [&] { return insert_impl(std::move(data), cx); });
}

S3DB_DECL auto ResourceCore::insert_many(std::vector<json> items, const WriteOptions& o) -> std::vector<BulkResult> {
    const json* cx = context_of(o.context);
    return observed("insert_many", {}, cx, [&] {
        std::vector<BulkResult> out(items.size());
        pool_.for_each_index(items.size(), [&](std::size_t i) {
            try {
                out[i].record = insert_impl(std::move(items[i]), cx);
            } catch (const std::exception& e) {
                out[i].error = e.what();
            }
        });
        if (listeners_.count("inserted-many")) {
            std::size_t ok = 0;
            for (auto& r : out) ok += r.record.has_value();
            OperationContext ctx{config_.name, "insert_many", {},
                                 json{{"inserted", ok}, {"failed", out.size() - ok}}, nullptr, cx};
            emit("inserted-many", ctx);
        }
        return out;
    });
}

S3DB_DECL json ResourceCore::replace(std::string id, json data, const WriteOptions& wo) {
    const json* cx = context_of(wo.context);
    return observed("replace", id, cx, [&] {
        data["id"] = std::move(id);
        OperationContext ctx = begin("replace", std::move(data), nullptr, cx);
        auto record = prepare(ctx, WriteKind::insert);
        auto refs = partitions_.refs(record.result, ctx.id);
        PutOptions o = put_options(std::move(record.stored));
        detail::stamp_write_tokens(o.metadata, {}, detail::new_write_token(), settings_.metadata_limit);
        write_refs(ctx.id, refs);
        transport_.put(key_of(ctx.id), record.body, std::move(o));
        return finish<Hook::after_replace>(ctx, "replaced", std::move(record.result));
    });
}

S3DB_DECL json ResourceCore::update(std::string_view id, const json& partial, const WriteOptions& o) {
    refuse_too_deep(partial, id);
    auto merge = [&](json& record) { merge_into(record, partial); };
    const json* cx = context_of(o.context);
    return observed("update", id, cx, [&] { return update_impl(id, merge, cx); });
}

S3DB_DECL json ResourceCore::patch(std::string_view id, const json& partial, const WriteOptions& o) {
    refuse_too_deep(partial, id);
    auto merge = [&](json& record) { merge_into(record, partial); };
    const json* cx = context_of(o.context);
    return observed("patch", id, cx, [&] { return update_impl(id, merge, cx); });
}

S3DB_DECL void ResourceCore::set_content(std::string_view id, std::string_view body, std::string content_type) {
    require_free_body("set_content");
    for (int attempt = 1; attempt <= settings_.max_update_attempts; ++attempt) {
        const auto round_start = std::chrono::steady_clock::now();
        auto info = transport_.head(key_of(id));
        if (!info) throw RecordNotFound(config_.name, std::string(id));
        try {
            if (body.empty()) {  // no content: a version stamp keeps later updates' ETags distinct
                auto stamped = detail::with_digest_body(std::move(info->metadata));
                detail::append_etag_salt(stamped.body);
                transport_.put(key_of(id), stamped.body,
                               PutOptions{.content_type = std::string(detail::version_content_type),
                                          .metadata = std::move(stamped.metadata), .if_match = info->etag});
            } else {
                transport_.put(key_of(id), body,
                               PutOptions{.content_type = content_type, .metadata = std::move(info->metadata),
                                          .if_match = info->etag});
            }
            return;
        } catch (const PreconditionFailed&) {
            detail::contention_pause(attempt, std::chrono::microseconds(500), std::chrono::milliseconds(64),
                                     detail::elapsed_since(round_start));
        }
    }
    throw UpdateConflict(config_.name, std::string(id), settings_.max_update_attempts);
}

S3DB_DECL std::optional<std::pair<std::string, std::string>> ResourceCore::content(std::string_view id) {
    require_free_body("content");
    auto obj = transport_.get(key_of(id));
    if (!obj) return std::nullopt;
    if (obj->info.content_type == detail::version_content_type) return std::pair{std::string{}, std::string{}};
    return std::pair{std::move(obj->body), std::move(obj->info.content_type)};
}

S3DB_DECL bool ResourceCore::has_content(std::string_view id) {
    require_free_body("has_content");
    auto info = transport_.head(key_of(id));
    return info && info->size > 0 && info->content_type != detail::version_content_type;
}

S3DB_DECL json ResourceCore::upsert(json data, const WriteOptions& o) {
    refuse_too_deep(data, {});  // it is copied below, and a copy recurses
    const json* cx = context_of(o.context);
    return observed("upsert", {}, cx, [&] {
        std::string id = data.contains("id") && data["id"].is_string() ? data["id"].get<std::string>() : std::string{};
        if (id.empty()) return insert_impl(std::move(data), cx);
        try {
            return insert_impl(data, cx);
        } catch (const AlreadyExists&) {
            data.erase("id");
            auto merge = [&](json& record) { merge_into(record, data); };
            return update_impl(id, merge, cx);
        }
    });
}

S3DB_DECL void ResourceCore::remove(std::string_view id, const WriteOptions& o) {
    const json* cx = context_of(o.context);
    observed("delete", id, cx, [&] {
        remove_impl(id, cx);
        return 0;
    });
}

S3DB_DECL void ResourceCore::remove_many(const std::vector<std::string>& ids, const WriteOptions& o) {
    const json* cx = context_of(o.context);
    observed("delete_many", {}, cx, [&] {
        remove_many_impl(ids, cx);
        return 0;
    });
}

S3DB_DECL void ResourceCore::remove_all() {
    observed("delete_all", {}, nullptr, [&] {
        if (config_.paranoid)
            throw ConfigError("resource '" + config_.name +
                              "' is paranoid: set paranoid to false in its definition to allow remove_all");
        std::vector<std::string> catalogue;
        {
            std::lock_guard lock(catalogue_mutex_);
            catalogue = catalogue_;
        }
        remove_resource_keys(transport_, config_.name, catalogue);
        OperationContext ctx{config_.name, "delete_all", {}, json::object(), nullptr};
        emit("deleted-many", ctx);
        return 0;
    });
}

S3DB_DECL auto ResourceCore::repair_partitions(std::chrono::seconds grace) -> PartitionRepair {
    if (partitions_.empty()) return {};
    // Refs owed (see owe_ref) are rebuilt with the others; owed still if the repair fails.
    auto owed = take_owed_refs();
    try {
        return rebuild_partitions(grace);
    } catch (...) {
        for (auto& [id, keys] : owed)
            for (auto& k : keys) owe_ref(id, k);
        throw;
    }
}

S3DB_DECL json ResourceCore::get(std::string_view id, const ReadOptions& o) {
    const json* cx = context_of(o.context);
    return observed("get", id, cx, [&] {
        auto r = get_impl(id, o.cache, cx);
        if (!r) throw RecordNotFound(config_.name, std::string(id));
        return std::move(*r);
    });
}

S3DB_DECL std::optional<json> ResourceCore::get_or_null(std::string_view id, const ReadOptions& o) {
    const json* cx = context_of(o.context);
    return observed("get", id, cx, [&] { return get_impl(id, o.cache, cx); });
}

S3DB_DECL bool ResourceCore::exists(std::string_view id) {
    return observed("exists", id, nullptr, [&] {
        validate_id(config_.name, id);
        return read_op<Hook::before_exists, Hook::after_exists, bool>("exists", id, nullptr, false, nullptr,
                                                                      [&] { return transport_.head(key_of(id)).has_value(); });
    });
}

S3DB_DECL std::vector<std::optional<json>> ResourceCore::get_many(const std::vector<std::string>& ids, const ReadOptions& o) {
    const json* cx = context_of(o.context);
    return observed("get_many", {}, cx, [&] {
        return read_op<Hook::before_get_many, Hook::after_get_many, std::vector<std::optional<json>>>(
            "get_many", {}, [&] { return json{{"ids", ids}}; }, false, cx, [&] { return get_many_impl(ids, o.cache, cx); });
    });
}

S3DB_DECL std::size_t ResourceCore::count(const ListQuery& q) {
    const json* cx = context_of(q.context);
    return observed("count", {}, cx, [&] {
        auto n = read_op<Hook::before_count, Hook::after_count, std::size_t>("count", {}, [&] { return q.to_json(); }, q.cache, cx, [&] {
            std::size_t n = 0;
            scan(q, 0, [&](std::string_view, std::string_view) {
                ++n;
                return true;
            });
            return n;
        });
        if (listeners_.count("counted")) {
            OperationContext ctx{config_.name, "count", {}, json{{"count", n}}, nullptr, cx};
            emit("counted", ctx);
        }
        return n;
    });
}

S3DB_DECL std::vector<std::string> ResourceCore::list_ids(const ListQuery& q) {
    return observed("list_ids", {}, context_of(q.context), [&] { return list_ids_impl(q); });
}

S3DB_DECL std::vector<json> ResourceCore::list(const ListQuery& q) {
    return observed("list", {}, context_of(q.context), [&] { return list_impl(q); });
}

S3DB_DECL Page ResourceCore::page(std::size_t size, const std::string& cursor, ListQuery q) {
    return observed("page", {}, context_of(q.context), [&] {
        q.cursor = cursor;
        auto params = [&] {
            json j = q.to_json();
            j["size"] = size;
            return j;
        };
        return read_op<Hook::before_page, Hook::after_page, Page>("page", {}, params, q.cache, context_of(q.context),
                                                                  [&] { return page_impl(size, q); });
    });
}

S3DB_DECL std::vector<json> ResourceCore::query(const json& filter, const std::function<bool(const json&)>& predicate, ListQuery q) {
    const json* cx = context_of(q.context);
    return observed("query", {}, cx, [&] {
        if (q.partition.empty()) detail::plan_partition(partitions_, filter, q);
        auto params = [&] {
            json j = q.to_json();
            j["filter"] = filter;
            return j;
        };
        auto out = read_op<Hook::before_query, Hook::after_query, std::vector<json>>(
            "query", {}, params, q.cache && !predicate, cx, [&] {
                std::vector<json> found;
                auto all = q;
                all.limit = 0;
                for (auto& r : list_impl(all)) {
                    bool ok = true;
                    for (auto& [k, v] : filter.items())
                        if (!r.contains(k) || r[k] != v) {
                            ok = false;
                            break;
                        }
                    if (ok && (!predicate || predicate(r))) found.push_back(std::move(r));
                    if (q.limit && found.size() >= q.limit) break;
                }
                return found;
            });
        if (listeners_.count("queried")) {
            OperationContext ctx{config_.name, "query", {}, json{{"count", out.size()}}, nullptr, cx};
            emit("queried", ctx);
        }
        return out;
    });
}

S3DB_DECL RecordRange<ResourceCore> ResourceCore::records(ListQuery q, std::size_t page_size) {
    return RecordRange<ResourceCore>(*this, std::move(q), page_size);
}

S3DB_DECL auto ResourceCore::settle(const Unanswered& u, const Fetched* current) -> Settled {
    if (!current) return Settled::unknown;  // deleted since: it may have landed first
    if (!u.token.empty() && detail::has_write_token(current->tokens, u.token)) return Settled::applied;
    // The replaced version's token still in the chain, ours not behind it: its successor is
    // someone else's, and a CAS on a replaced version never lands later.
    if (!u.base_newest.empty() && detail::has_write_token(current->tokens, u.base_newest)) return Settled::not_applied;
    if (!u.base_etag.empty() && detail::etag_equal(current->etag, u.base_etag)) return Settled::not_applied;
    return Settled::unknown;
}

S3DB_DECL json ResourceCore::insert_impl(json data, const json* cx) {
    pay_owed_refs();
    OperationContext ctx = begin("insert", std::move(data), nullptr, cx);
    auto record = prepare(ctx, WriteKind::insert);
    auto refs = partitions_.refs(record.result, ctx.id);
    PutOptions o = put_options(std::move(record.stored));
    o.if_none_match = true;
    const std::string token = detail::new_write_token();
    detail::stamp_write_tokens(o.metadata, {}, token, settings_.metadata_limit);
    const bool has_token = o.metadata.contains(detail::write_tokens_key);
    // Refs first: a record is never stored without its refs. A writer killed in between leaves
    // refs without a record, which listings skip and clean up (after stale_ref_grace).
    write_refs(ctx.id, refs);
    auto not_inserted = [&] { retire_refs(ctx.id, keys_of(refs)); };
    auto created_by_other = [&](const Fetched& current) {
        // The chain is whole back to its creation (fewer tokens than kept): its first token is
        // the creator's, and it is not ours.
        return has_token && !current.tokens.empty() &&
               current.tokens.size() < detail::write_tokens_kept * detail::write_token_size &&
               !detail::has_write_token(current.tokens, token);
    };
    try {
        transport_.put(key_of(ctx.id), record.body, std::move(o));
    } catch (const PreconditionFailed& e) {
        if (!e.after_unanswered_attempt()) {
            not_inserted();
            throw AlreadyExists(config_.name, ctx.id);
        }
        auto current = settle_read(ctx.id, e.what());
        if (!current) unknown_insert(ctx.id, e.what());
        if (created_by_other(*current)) {
            not_inserted();
            throw AlreadyExists(config_.name, ctx.id);
        }
        if (!has_token || !detail::has_write_token(current->tokens, token)) unknown_insert(ctx.id, e.what());
    } catch (const TransportError& e) {
        if (!detail::outcome_unknown(e)) {
            not_inserted();
            throw;
        }
        auto current = settle_read(ctx.id, e.what());
        if (!current || created_by_other(*current)) {  // not there, or someone else's: ours did not land
            not_inserted();
            throw;
        }
        if (!has_token || !detail::has_write_token(current->tokens, token)) unknown_insert(ctx.id, e.what());
    }
    return finish<Hook::after_insert>(ctx, "inserted", std::move(record.result));
}

S3DB_DECL auto ResourceCore::settle_read(std::string_view id, const std::string& cause) -> std::optional<Fetched> {
    try {
        return head_record(id);
    } catch (const Error& e) {
        unknown_insert(id, cause + "; then reading it: " + e.what());
    }
}

S3DB_DECL void ResourceCore::unknown_insert(std::string_view id, const std::string& cause) {
    throw OutcomeUnknown(config_.name, std::string(id), "insert", cause);
}

S3DB_DECL void ResourceCore::refs_for_unknown(std::string_view id, const std::vector<PartitionRef>& put) {
    if (put.empty()) return;
    write_refs_after(id, put);
    settle_refs(id, keys_of(put), {}, {});
}

S3DB_DECL json ResourceCore::update_impl(std::string_view id, const std::function<void(json&)>& change, const json* cx) {
    validate_id(config_.name, id);
    pay_owed_refs();
    // Records kept in metadata only are rewritten in place (HEAD + COPY onto itself): cheaper,
    // and a body stored with set_content survives. Others are read with GET and written with PUT.
    const bool in_place = !behavior_reads_body(behavior_);
    // The record as it was is kept (a deep copy) only for partitions, hooks and listeners.
    const bool keep_before = !partitions_.empty() || wants(Hook::before_update) || wants(Hook::after_update) ||
                             listeners_.count("updated");
    std::optional<UpdateAttempt> pending;  // an attempt that may have landed
    for (int attempt = 1;; ++attempt) {
        const auto round_start = std::chrono::steady_clock::now();
        std::optional<Fetched> current;
        try {
            current = in_place ? head_record(id) : fetch(id);
        } catch (const Error& e) {
            if (pending) {
                refs_for_unknown(id, pending->moves.put);
                throw OutcomeUnknown(config_.name, std::string(id), "update",
                                     pending->unanswered.cause + "; then reading it: " + e.what());
            }
            throw;
        }
        if (pending) {
            switch (settle(pending->unanswered, current ? &*current : nullptr)) {
                case Settled::applied:
                    return complete_update(*pending);
                case Settled::unknown:
                    // It may have landed: its new refs must be there (stale at worst, never missing).
                    refs_for_unknown(id, pending->moves.put);
                    throw OutcomeUnknown(config_.name, std::string(id), "update", pending->unanswered.cause);
                case Settled::not_applied:
                    if (pending->unanswered.error) std::rethrow_exception(pending->unanswered.error);
                    pending.reset();
            }
        }
        if (!current) throw RecordNotFound(config_.name, std::string(id));
        if (attempt > settings_.max_update_attempts)
            throw UpdateConflict(config_.name, std::string(id), settings_.max_update_attempts);
        json before;
        json next = std::move(current->record);
        if (keep_before) before = next;
        change(next);
        if (!next.is_object())
            throw ValidationError({{"", "object", "", "", "an update must leave the record a JSON object"}},
                                  "resource '" + config_.name + "', record '" + std::string(id) + "'");
        next["id"] = std::string(id);
        if (config_.timestamps) next["updatedAt"] = detail::iso_now();
        OperationContext ctx = begin("update", std::move(next), keep_before ? &before : nullptr, cx);
        auto record = prepare(ctx, WriteKind::update);
        auto moves = keep_before ? partitions_.plan_update(before, record.result) : PartitionUpdate{};
        std::string token = detail::new_write_token();
        detail::stamp_write_tokens(record.stored.metadata, current->tokens, token, settings_.metadata_limit);
        if (!record.stored.metadata.contains(detail::write_tokens_key)) token.clear();
        const bool copy = in_place && current->has_content();
        auto keep = [&](std::string cause, std::exception_ptr error) {
            // A version's ETag is its own unless it is the content's (COPY) or an empty body's.
            std::string base_etag = copy || current->size == 0 ? std::string{} : current->etag;
            pending.emplace(UpdateAttempt{
                Unanswered{token, std::string(detail::newest_write_token(current->tokens)), std::move(base_etag),
                           std::move(cause), std::move(error)},
                std::move(before), std::move(ctx), std::move(record.result), std::move(moves), token});
            pending->ctx.before = keep_before ? &pending->before : nullptr;
        };
        try {
            if (copy) {
                // The body is the user's content and must stay: COPY onto itself. Its ETag is the
                // content's MD5, the same for every version, so this CAS cannot see a concurrent
                // update of the metadata (a limit of S3's conditions; see set_content).
                transport_.copy(key_of(ctx.id), key_of(ctx.id),
                                CopyOptions{.directive = MetadataDirective::replace,
                                            .metadata = std::move(record.stored.metadata),
                                            .content_type = current->content_type,
                                            .source_if_match = current->etag});
            } else if (in_place) {
                // No content: a digest body gives this version its own ETag, so If-Match sees
                // every concurrent writer (objects with an empty body all share one ETag).
                auto stamped = detail::with_digest_body(std::move(record.stored.metadata));
                detail::append_etag_salt(stamped.body);
                transport_.put(key_of(ctx.id), stamped.body,
                               PutOptions{.content_type = std::string(detail::version_content_type),
                                          .metadata = std::move(stamped.metadata),
                                          .if_match = current->etag});
            } else {
                PutOptions o = put_options(std::move(record.stored));
                o.if_match = current->etag;
                // Every layout a body-reading behavior writes on update is JSON.
                if (!record.body.empty()) detail::append_etag_salt(record.body);
                transport_.put(key_of(ctx.id), record.body, std::move(o));
            }
        } catch (const PreconditionFailed& e) {
            // Someone else wrote it (or, after an unanswered attempt, perhaps we did: the next
            // read tells). Read again and re-apply, after a jittered pause that grows with each
            // lost round, so that writers contending for one record spread out.
            if (e.after_unanswered_attempt()) {
                keep(e.what(), nullptr);
                continue;  // read now, while the tokens of our write are still in the record
            }
            detail::contention_pause(attempt, std::chrono::microseconds(500), std::chrono::milliseconds(64),
                                     detail::elapsed_since(round_start));
            continue;
        } catch (const TransportError& e) {
            if (!detail::outcome_unknown(e)) throw;
            keep(e.what(), std::current_exception());  // the next read settles it
            continue;
        }
        UpdateAttempt done{{}, std::move(before), std::move(ctx), std::move(record.result), std::move(moves), std::move(token)};
        done.ctx.before = keep_before ? &done.before : nullptr;
        return complete_update(done);
    }
}

S3DB_DECL json ResourceCore::complete_update(UpdateAttempt& a) {
    if (!a.moves.empty()) {
        write_refs_after(a.ctx.id, a.moves.put);
        auto removed = keys_of(a.moves.remove);
        remove_refs_quietly(removed);
        settle_refs(a.ctx.id, keys_of(a.moves.put), std::move(removed), a.token);
    }
    return finish<Hook::after_update>(a.ctx, "updated", std::move(a.result));
}

S3DB_DECL bool ResourceCore::delete_needs_record() const {
    if (!partitions_.empty() || !hooks_[static_cast<std::size_t>(Hook::before_delete)].empty() ||
        !hooks_[static_cast<std::size_t>(Hook::after_delete)].empty() || listeners_.count("deleted"))
        return true;
    return host_ && host_.wants_deleted_record();
}

S3DB_DECL void ResourceCore::remove_impl(std::string_view id, const json* cx) {
    validate_id(config_.name, id);
    pay_owed_refs();
    std::optional<json> before;
    if (delete_needs_record()) {
        before = fetch_record(id);
        if (!before) return;  // nothing to delete (S3 deletes are idempotent too)
    }
    OperationContext ctx{config_.name, "delete", std::string(id), json::object(), before ? &*before : nullptr, cx};
    run<Hook::before_delete>(ctx);
    try {
        transport_.remove(key_of(id));
    } catch (const TransportError& e) {
        // A delete that got no answer is settled by the record's absence (deleting is idempotent).
        if (!detail::outcome_unknown(e)) throw;
        bool still_there = false;
        try {
            still_there = transport_.head(key_of(id)).has_value();
        } catch (const Error& again) {
            // Gone or not, refs it may no longer need are settled against what is there.
            if (before) retire_refs(id, keys_of(partitions_.refs(*before, id)));
            throw OutcomeUnknown(config_.name, std::string(id), "delete", std::string(e.what()) + "; then reading it: " + again.what());
        }
        if (still_there) throw;
    }
    if (before) retire_refs(id, keys_of(partitions_.refs(*before, id)));
    run<Hook::after_delete>(ctx);
    emit("deleted", ctx);
}

S3DB_DECL void ResourceCore::remove_many_impl(const std::vector<std::string>& ids, const json* cx) {
    for (auto& id : ids) validate_id(config_.name, id);
    pay_owed_refs();
    bool needs_records = delete_needs_record();
    std::vector<std::optional<json>> before(ids.size());
    if (needs_records)
        pool_.for_each_index(ids.size(), [&](std::size_t i) {
            before[i] = fetch_record(ids[i]);
        });
    std::vector<OperationContext> contexts;
    std::vector<std::string> keys;
    std::vector<std::pair<std::string, std::vector<std::string>>> refs;  // id -> its refs
    for (std::size_t i = 0; i < ids.size(); ++i) {
        if (needs_records && !before[i]) continue;  // already gone
        contexts.push_back({config_.name, "delete", ids[i], json::object(), before[i] ? &*before[i] : nullptr, cx});
        run<Hook::before_delete>(contexts.back());
        keys.push_back(key_of(ids[i]));
        if (before[i] && !partitions_.empty()) {
            refs.emplace_back(ids[i], keys_of(partitions_.refs(*before[i], ids[i])));
            keys.insert(keys.end(), refs.back().second.begin(), refs.back().second.end());
        }
    }
    remove_keys(keys);
    // A record inserted again under one of these ids may need a ref just deleted.
    pool_.for_each_index(refs.size(), [&](std::size_t i) { settle_refs(refs[i].first, {}, std::move(refs[i].second), {}); });
    for (auto& ctx : contexts) {
        run<Hook::after_delete>(ctx);
        emit("deleted", ctx);
    }
    if (listeners_.count("deleted-many")) {
        OperationContext ctx{config_.name, "delete_many", {}, json{{"deleted", contexts.size()}}, nullptr, cx};
        emit("deleted-many", ctx);
    }
}

S3DB_DECL std::optional<json> ResourceCore::get_impl(std::string_view id, bool cache, const json* cx) {
    validate_id(config_.name, id);
    auto r = read_op<Hook::before_get, Hook::after_get, std::optional<json>>("get", id, nullptr, cache, cx,
                                                                             [&] { return fetch_record(id); });
    if (r && listeners_.count("fetched")) {
        OperationContext ctx{config_.name, "get", std::string(id), *r, nullptr, cx};
        emit("fetched", ctx);
    }
    return r;
}

S3DB_DECL std::vector<std::optional<json>> ResourceCore::get_many_impl(const std::vector<std::string>& ids, bool cache, const json* cx) {
    std::vector<std::optional<json>> out(ids.size());
    pool_.for_each_index(ids.size(), [&](std::size_t i) { out[i] = get_impl(ids[i], cache, cx); });
    return out;
}

S3DB_DECL std::vector<std::string> ResourceCore::list_ids_impl(const ListQuery& q) {
    return read_op<Hook::before_list, Hook::after_list, std::vector<std::string>>("list_ids", {}, [&] { return q.to_json(); }, q.cache, context_of(q.context), [&] {
        std::vector<std::string> ids;
        scan(q, q.limit, [&](std::string_view id, std::string_view) {
            ids.emplace_back(id);
            return !q.limit || ids.size() < q.limit;
        });
        return ids;
    });
}

S3DB_DECL std::vector<json> ResourceCore::read_listed(const std::vector<std::string>& ids, const ListQuery& q) {
    std::vector<json> out(ids.size());  // null: not found (a record is an object)
    std::vector<std::optional<CorruptRecord>> corrupt(ids.size());
    pool_.for_each_index(ids.size(), [&](std::size_t i) {
        try {
            try {
                if (auto r = get_impl(ids[i], q.cache, context_of(q.context))) out[i] = std::move(*r);
            } catch (const InvalidId& e) {  // a listed key whose id part is no id: another tool's object
                throw CorruptRecord(config_.name, ids[i], "its key holds no valid id: " + e.reason());
            }
        } catch (const CorruptRecord& e) {
            if (q.strict_decoding) throw;
            corrupt[i] = e;
        }
    });
    for (std::size_t i = 0; i < ids.size(); ++i)
        if (corrupt[i]) {
            skipped_.fetch_add(1, std::memory_order_relaxed);
            if (listeners_.count("skipped")) {
                OperationContext ctx{config_.name, "list", ids[i],
                                     json{{"key", key_of(ids[i])}, {"reason", corrupt[i]->reason()}}, nullptr,
                                     context_of(q.context)};
                emit("skipped", ctx);
            }
        }
    if (!q.partition.empty()) {
        std::vector<std::size_t> stale;
        for (std::size_t i = 0; i < out.size(); ++i)
            if (!corrupt[i] && (out[i].is_null() || !detail::matches_partition(partitions_, q, out[i]))) stale.push_back(i);
        if (!stale.empty()) clean_stale_refs(q, ids, stale);
    }
    std::erase_if(out, [&](const json& r) { return r.is_null() || !detail::matches_partition(partitions_, q, r); });
    return out;
}

S3DB_DECL void ResourceCore::clean_stale_refs(const ListQuery& q, const std::vector<std::string>& ids, const std::vector<std::size_t>& stale) {
    auto prefix = partitions_.prefix(q.partition, q.values);
    if (!prefix.exact()) return;
    const auto young = std::chrono::system_clock::now() - settings_.stale_ref_grace;
    pool_.for_each_index(stale.size(), [&](std::size_t i) {
        const std::string& id = ids[stale[i]];
        std::string key = prefix.key + "id=" + id;
        try {
            auto info = transport_.head(key);
            if (!info || info->last_modified > young) return;
            retire_refs(id, {std::move(key)});
        } catch (const std::exception&) {
        }
    });
}

S3DB_DECL std::vector<json> ResourceCore::list_impl(const ListQuery& q) {
    auto out = read_op<Hook::before_list, Hook::after_list, std::vector<json>>(
        "list", {}, [&] { return q.to_json(); }, q.cache, context_of(q.context),
        [&] { return read_listed(list_ids_impl(q), q); });
    if (listeners_.count("listed")) {
        OperationContext ctx{config_.name, "list", {}, json{{"count", out.size()}}, nullptr, context_of(q.context)};
        emit("listed", ctx);
    }
    return out;
}

S3DB_DECL Page ResourceCore::page_impl(std::size_t size, const ListQuery& q) {
    auto found = collect(q, size + 1);
    Page p;
    if (found.size() > size) {
        found.pop_back();
        p.next_cursor = detail::base64_encode(found.back().second);
    }
    std::vector<std::string> ids;
    for (auto& f : found) ids.push_back(std::move(f.first));
    p.items = read_listed(ids, q);
    return p;
}

S3DB_DECL bool ResourceCore::wants(Hook h) const {
    if (!hooks_[static_cast<std::size_t>(h)].empty()) return true;
    return host_ && host_.wants(h);
}

S3DB_DECL json ResourceCore::to_wire(std::vector<std::optional<json>> records) {
    json a = json::array();
    for (auto& r : records) a.push_back(r ? std::move(*r) : json(nullptr));
    return a;
}

S3DB_DECL OperationContext ResourceCore::begin(std::string_view operation, json data, const json* before, const json* cx) {
    if (!data.is_object()) throw ValidationError({{"", "object", data.dump(), "", "a record must be a JSON object"}},
                                                 "resource '" + config_.name + "'");
    std::string id;
    if (auto it = data.find("id"); it != data.end()) {
        if (!it->is_null()) {
            if (!it->is_string() || it->get_ref<const std::string&>().empty())
                throw InvalidId(config_.name, it->is_string() ? "" : it->dump(), "ids are non-empty strings");
            id = std::move(it->get_ref<std::string&>());
        }
        data.erase(it);
    }
    if (id.empty()) id = id_generator_();
    validate_id(config_.name, id);
    if (config_.timestamps && operation != "update") {
        auto now = detail::iso_now();
        if (!data.contains("createdAt")) data["createdAt"] = now;
        if (!data.contains("updatedAt")) data["updatedAt"] = now;
    }
    OperationContext ctx{config_.name, operation, std::move(id), std::move(data), before, cx};
    if (operation == "insert") run<Hook::before_insert>(ctx);
    else if (operation == "update") run<Hook::before_update>(ctx);
    else run<Hook::before_replace>(ctx);
    return ctx;
}

S3DB_DECL auto ResourceCore::prepare(OperationContext& ctx, WriteKind kind) -> Prepared {
    json data = std::move(ctx.data);  // finish() puts the stored record back
    data.erase("id");
    // A schema may declare `id` (s3db.js's plg_audits: "string|required"): validate it as s3db.js
    // does, then keep it out of the metadata, where the key already holds it.
    const bool declares_id = codec_->schema().find("id") != nullptr;
    if (declares_id) data["id"] = ctx.id;
    // check() rather than validate(): the error's context is built only when there is an error.
    if (auto failures = codec_->schema().check(data); !failures.empty())
        throw ValidationError(std::move(failures), "resource '" + config_.name + "', record '" + ctx.id + "'");
    json valid = std::move(data);
    if (declares_id) valid.erase("id");
    MappedRecord mapped;
    try {
        mapped = codec_->map(valid);
    } catch (const DecryptionFailed& e) {
        throw e.in_record(config_.name, ctx.id);
    }
    BehaviorContext bc{config_.name, ctx.id,
                       calculate_effective_limit(settings_.metadata_limit, version_, config_.timestamps,
                                                 kind == WriteKind::update ? std::string_view(ctx.id) : std::string_view{}),
                       kind, map_json_, {}, &*codec_};
    auto stored = behavior_write(behavior_, std::move(mapped), bc);
    valid["id"] = ctx.id;
    if (stored.lossy) valid = decode_record(ctx.id, stored.metadata, stored.body);  // what get returns
    Prepared p{std::move(stored), {}, std::move(valid)};
    p.body = std::move(p.stored.body);
    return p;
}

S3DB_DECL PutOptions ResourceCore::put_options(StoredRecord stored) {
    PutOptions o;
    o.metadata = std::move(stored.metadata);
    if (!stored.content_type.empty()) o.content_type = std::move(stored.content_type);
    return o;
}

S3DB_DECL json ResourceCore::decode_record(std::string_view id, const Metadata& metadata, std::string_view body) const {
    json record;
    try {
        record = behavior_read(behavior_, *codec_, metadata, body);
    } catch (const DecryptionFailed& e) {
        throw e.in_record(config_.name, std::string(id));
    } catch (const nlohmann::json::exception& e) {
        throw CorruptRecord(config_.name, std::string(id), e.what());
    } catch (const Error& e) {
        throw CorruptRecord(config_.name, std::string(id), e.what());
    }
    if (!record.is_object()) throw CorruptRecord(config_.name, std::string(id), "it does not decode to an object");
    record["id"] = std::string(id);
    return record;
}

S3DB_DECL auto ResourceCore::fetch(std::string_view id) -> std::optional<Fetched> {
    return read_record_object(id, [&](const ObjectView& o) {
        return Fetched{decode_record(id, o.metadata, o.body), std::string(o.etag), std::string(o.content_type),
                       o.body.size(), std::string(detail::stored_write_tokens(o.metadata))};
    });
}

S3DB_DECL std::optional<json> ResourceCore::fetch_record(std::string_view id) {
    return read_record_object(id, [&](const ObjectView& o) { return decode_record(id, o.metadata, o.body); });
}

S3DB_DECL auto ResourceCore::head_record(std::string_view id) -> std::optional<Fetched> {
    auto info = [&] {
        try {
            return transport_.head(key_of(id));
        } catch (const CorruptObject& e) {
            throw CorruptRecord(config_.name, std::string(id), e.what());
        }
    }();
    if (!info) return std::nullopt;
    std::string tokens(detail::stored_write_tokens(info->metadata));
    return Fetched{decode_record(id, info->metadata, {}), std::move(info->etag), std::move(info->content_type),
                   info->size, std::move(tokens)};
}

S3DB_DECL std::vector<std::string> ResourceCore::keys_of(const std::vector<PartitionRef>& refs) {
    std::vector<std::string> keys;
    keys.reserve(refs.size());
    for (auto& r : refs) keys.push_back(r.key);
    return keys;
}

S3DB_DECL void ResourceCore::write_refs(std::string_view id, const std::vector<PartitionRef>& refs) {
    std::size_t written = 0;
    auto retire = [&](std::size_t n) {
        std::vector<std::string> keys;
        for (std::size_t i = 0; i < n && i < refs.size(); ++i) keys.push_back(refs[i].key);
        retire_refs(id, std::move(keys));
    };
    try {
        for (; written < refs.size(); ++written) put_ref(refs[written].key);
    } catch (const TransportError& e) {
        retire(written + (detail::outcome_unknown(e) ? 1 : 0));
        throw;
    } catch (...) {
        retire(written + 1);
        throw;
    }
}

S3DB_DECL void ResourceCore::write_refs_after(std::string_view id, const std::vector<PartitionRef>& refs) {
    for (auto& r : refs) {
        try {
            put_ref(r.key);
        } catch (const std::exception& e) {
            partition_failure(r.key, e);
            owe_ref(id, r.key);
        }
    }
}

S3DB_DECL void ResourceCore::remove_refs_quietly(std::vector<std::string>& keys) {
    try {
        remove_keys(keys);
    } catch (const std::exception& e) {
        for (auto& k : keys) partition_failure(k, e);
    }
}

S3DB_DECL void ResourceCore::retire_refs(std::string_view id, std::vector<std::string> keys) {
    if (keys.empty()) return;
    remove_refs_quietly(keys);
    settle_refs(id, {}, std::move(keys), {});
}

S3DB_DECL std::size_t ResourceCore::settle_refs(std::string_view id, std::vector<std::string> put, std::vector<std::string> removed, std::string_view ours) {
    constexpr int rounds = 4;
    std::size_t requests = 0;
    for (int round = 0; round < rounds && !(put.empty() && removed.empty()); ++round) {
        std::vector<std::string> desired;
        try {
            ++requests;
            auto info = transport_.head(key_of(id));
            if (info && !ours.empty() && detail::newest_write_token(detail::stored_write_tokens(info->metadata)) == ours)
                return requests;
            ours = {};
            if (info) {
                std::optional<json> record;
                if (behavior_reads_body(behavior_)) ++requests, record = fetch_record(id);
                else record = decode_record(id, info->metadata, {});
                if (record) desired = keys_of(partitions_.refs(*record, id));
            }
        } catch (const std::exception& e) {
            // Cannot tell what the record names: keep every ref we deleted, and report each ref
            // we touched as unsettled, since any of them may now be stale.
            for (auto& k : removed) {
                try {
                    ++requests;
                    put_ref(k);
                } catch (const std::exception&) {
                    owe_ref(id, k);
                }
                partition_failure(k, e);
            }
            for (auto& k : put) partition_failure(k, e);
            return requests;
        }
        auto named = [&](const std::string& k) { return std::find(desired.begin(), desired.end(), k) != desired.end(); };
        std::vector<std::string> restore, drop;
        for (auto& k : removed)
            if (named(k)) restore.push_back(k);
        for (auto& k : put)
            if (!named(k)) drop.push_back(k);
        for (auto& k : restore) {
            try {
                ++requests;
                put_ref(k);
            } catch (const std::exception& e) {
                partition_failure(k, e);
                owe_ref(id, k);
            }
        }
        requests += !drop.empty();
        remove_refs_quietly(drop);
        put = std::move(restore);   // a put may land after the record moved on
        removed = std::move(drop);  // a delete may land after the record moved back
    }
    if (!put.empty() || !removed.empty()) {  // the record kept moving: what is left is unsettled
        const Error unsettled("record '" + std::string(id) + "' kept changing while its refs were settled");
        for (auto& k : put) partition_failure(k, unsettled);
        for (auto& k : removed) partition_failure(k, unsettled), owe_ref(id, k);  // the record may name it again
    }
    return requests;
}

S3DB_DECL void ResourceCore::owe_ref(std::string_view id, const std::string& key) {
    std::lock_guard lock(owed_mutex_);
    owed_refs_[std::string(id)].insert(key);
    owes_refs_.store(true, std::memory_order_release);
}

S3DB_DECL std::map<std::string, std::set<std::string>, std::less<>> ResourceCore::take_owed_refs() {
    std::map<std::string, std::set<std::string>, std::less<>> owed;
    if (!owes_refs_.load(std::memory_order_acquire)) return owed;
    std::lock_guard lock(owed_mutex_);
    owed.swap(owed_refs_);
    owes_refs_.store(false, std::memory_order_relaxed);
    return owed;
}

S3DB_DECL void ResourceCore::pay_owed_refs() {
    if (!owes_refs_.load(std::memory_order_acquire)) return;  // the fault-free path: one load
    for (auto& [id, keys] : take_owed_refs()) {
        std::vector<std::string> removed(keys.begin(), keys.end());
        try {
            settle_refs(id, {}, removed, {});
        } catch (const std::exception&) {
            for (auto& k : removed) owe_ref(id, k);
        }
    }
}

S3DB_DECL auto ResourceCore::rebuild_partitions(std::chrono::seconds grace) -> PartitionRepair {
    PartitionRepair report;
    // Refs first: a record inserted during the repair has written its refs already, and one
    // deleted during it is found missing and its refs left for a later listing.
    std::vector<ListEntry> refs;
    ListOptions lo{.prefix = "resource=" + config_.name + "/partition="};
    for (;;) {
        auto page = transport_.list(lo);
        ++report.requests;
        for (auto& e : page.objects) refs.push_back(std::move(e));
        if (!page.truncated()) break;
        lo.continuation_token = page.next_continuation_token;
    }
    report.refs = refs.size();
    std::vector<std::string> ids;
    auto st = list_state(ListQuery{}, 0);
    while (!st.done)
        scan_page(st, [&](std::string_view id, std::string_view) {
            ids.emplace_back(id);
            return true;
        });
    report.requests += st.lists;
    std::vector<std::vector<std::string>> named(ids.size());
    pool_.for_each_index(ids.size(), [&](std::size_t i) {
        std::optional<json> r;
        if (behavior_reads_body(behavior_)) r = fetch_record(ids[i]);
        else if (auto f = head_record(ids[i])) r = std::move(f->record);
        if (r) named[i] = keys_of(partitions_.refs(*r, ids[i]));
    });
    report.records = ids.size();
    report.requests += ids.size();
    std::set<std::string, std::less<>> desired, existing;
    for (auto& keys : named) desired.insert(keys.begin(), keys.end());
    for (auto& e : refs) existing.insert(e.key);
    std::vector<std::string> missing;
    for (auto& k : desired)
        if (!existing.count(k)) missing.push_back(k);
    pool_.for_each_index(missing.size(), [&](std::size_t i) { put_ref(missing[i]); });
    report.added = missing.size();
    report.requests += missing.size();
    const auto young = std::chrono::system_clock::now() - grace;
    std::map<std::string, std::vector<std::string>, std::less<>> stale;  // record id -> its stale refs
    std::vector<std::string> stale_keys;
    for (auto& e : refs) {
        if (desired.count(e.key) || e.last_modified > young) continue;
        auto ref = partitions_.parse_ref(e.key);
        stale[ref ? ref->id : std::string{}].push_back(e.key);
        stale_keys.push_back(e.key);
    }
    for (std::size_t at = 0; at < stale_keys.size(); at += max_list_keys) {
        std::vector<std::string> batch(stale_keys.begin() + static_cast<std::ptrdiff_t>(at),
                                       stale_keys.begin() + static_cast<std::ptrdiff_t>(std::min(stale_keys.size(), at + max_list_keys)));
        remove_keys(batch);
        ++report.requests;
    }
    report.removed = stale_keys.size();
    std::vector<std::pair<std::string, std::vector<std::string>>> settle(stale.begin(), stale.end());
    std::erase_if(settle, [](auto& s) { return s.first.empty(); });  // keys no partition of ours can parse
    std::vector<std::size_t> sent(settle.size());
    pool_.for_each_index(settle.size(), [&](std::size_t i) { sent[i] = settle_refs(settle[i].first, {}, std::move(settle[i].second), {}); });
    for (auto n : sent) report.requests += n;
    return report;
}

S3DB_DECL void ResourceCore::partition_failure(const std::string& key, const std::exception& e) {
    partition_failures_.fetch_add(1, std::memory_order_relaxed);
    if (listeners_.count("partition-error")) {
        OperationContext ctx{config_.name, "partition", {}, json{{"key", key}, {"error", e.what()}}, nullptr};
        emit("partition-error", ctx);
    }
}

S3DB_DECL void ResourceCore::remove_keys(std::vector<std::string>& keys) {
    if (keys.empty()) return;
    if (keys.size() == 1) transport_.remove(keys[0]);
    else transport_.remove_many(keys);
}

S3DB_DECL std::vector<std::pair<std::string, std::string>> ResourceCore::collect(const ListQuery& q, std::size_t limit) {
    std::vector<std::pair<std::string, std::string>> out;
    scan(q, limit, [&](std::string_view id, std::string_view position) {
        out.emplace_back(id, position);
        return !limit || out.size() < limit;
    });
    return out;
}

S3DB_DECL detail::ListState ResourceCore::list_state(const ListQuery& q, std::size_t hint) const {
    return detail::list_state(partitions_, config_.name, data_prefix_, q, hint);
}

S3DB_DECL std::vector<json> ResourceCore::next_records(detail::ListState& st, const ListQuery& q) {
    if (!q.partition.empty()) pay_owed_refs();
    while (!st.done) {
        std::vector<std::string> ids;
        scan_page(st, [&](std::string_view id, std::string_view) {
            ids.emplace_back(id);
            return true;
        });
        auto out = read_listed(ids, q);
        if (!out.empty()) return out;
    }
    return {};
}

S3DB_DECL void ResourceCore::refuse_too_deep(const json& v, std::string_view id) const {
    if (auto failure = detail::nesting_failure(v))
        throw ValidationError({std::move(*failure)}, "resource '" + config_.name + "', record '" + std::string(id) + "'");
}

S3DB_DECL void ResourceCore::merge_into(json& record, const json& partial) {
    for (auto& [k, v] : partial.items()) {
        if (k == "id") continue;
        if (v.is_object() && record.contains(k) && record[k].is_object())
            for (auto& [k2, v2] : v.items()) record[k][k2] = v2;
        else record[k] = v;
    }
}

S3DB_DECL void ResourceCore::require_free_body(const char* op) const {
    if (behavior_reads_body(behavior_))
        throw ConfigError("resource '" + config_.name + "': " + op + " needs a behavior that keeps records in "
                          "metadata only (enforce-limits or truncate-data), not " + std::string(behavior()));
}

S3DB_DECL void ResourceCore::emit(const std::string& event, const OperationContext& ctx) {
    auto it = listeners_.find(event);
    if (it == listeners_.end()) return;
    for (auto& fn : it->second) fn(ctx);
}

}  // namespace s3db
#endif  // S3DB_DEFINE_BODIES
