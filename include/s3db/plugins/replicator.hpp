#pragma once
// Replicator<Targets...>: every write (insert, update, replace, delete) of the resources a target's
// ResourceMap routes is sent to that target, from worker threads, at least once, surviving a crash.
//
//   BasicDatabase<S3, Replicator<S3dbTarget, WebhookTarget>> db(s3, {},
//       Replicator<S3dbTarget, WebhookTarget>({}, S3dbTarget("file:///backup", ResourceMap::only({"users"})),
//                                              WebhookTarget({.url = "http://hooks.local/in", .secret = "k"})));
//
// Targets (policies, plugins/replicator/*.hpp): S3dbTarget (another s3db database, any store),
// WebhookTarget (POST JSON over libcurl, batches, HMAC-SHA256 signature), SqsTarget (SQS's JSON
// protocol, SigV4, SendMessageBatch, FIFO group and deduplication ids), BigQueryTarget (insertAll
// with a service-account JWT, append-only rows), and opt-in PostgresTarget (plugins/replicator/
// postgres.hpp, links libpq: include it yourself, link s3db::postgres). A target is any class
// modelling ReplicatorTarget.
//
// What a write costs, and when it is durable (the durable log, `durable_log`, on by default):
//  1. before the source write (the resource's before hook, on the writer's thread) 1 PUT of a
//     `pending` entry in `plg_replicator_logs` (s3db.js's fields: id, replicator, resource,
//     resourceName, action, operation, recordId, data, timestamp, createdAt, status, error,
//     retryCount). If that PUT fails the write is refused: nothing unlogged is ever written.
//  2. the source write itself; then (after hook) the change, with the record exactly as the write
//     stored it, is offered to a bounded queue without waiting (no GET of the record, ever, on
//     this path). The write returns.
//  3. a worker delivers it to every target that routes the resource (with retries and backoff),
//     then deletes the log entry; deletes of delivered entries are batched (1 DeleteObjects per
//     1000 entries, or fewer when the workers have been idle for `log_flush_interval`).
// So each source write adds 1 PUT + the targets' own writes + 1/1000 to 1 DeleteObjects; a
// write is slowed by the log PUT and an O(1) enqueue, never by a target, dead or alive.
//
// When the queue is full the change is not kept in memory beyond a bounded overflow list
// (`overflow_capacity` ids); both are replayed by the workers once the queue has room, by reading
// the record's current state from the source (1 GET). Past that list the entry is only in the log,
// and is replayed by replay_pending() (run at every start) or retry_failed().
// A change that still fails after `retry_attempts` is marked `failed` in its log entry (1 PUT) and
// the `replicator.replication_error` event is sent; retry_failed() replays failed entries.
//
// Replay (at start, replay_pending(), retry_failed()): the log's entries are grouped by record; for
// each record the source's current state wins: read (1 GET), then sent as an insert/update of that
// state, or as a delete when it is gone. Replays go through the same per-record worker queue as
// live writes, so a replay never overwrites a newer live change. The replay at start takes only the
// entries logged before it began; replay_pending() called later also takes entries of writes in
// flight (harmless: sent twice), so call it when writes are quiet if the overflow list was exceeded. A process killed at any point
// therefore loses nothing: an entry is deleted only after every target applied the change, and a
// target applying a change twice is left as applying it once. Assumes one replicating process per
// source database (two would replay each other's in-flight entries: harmless, only wasted work).
//
// Without the durable log (`durable_log = false`) nothing is written to the source store, and
// changes dropped by a full queue or pending at a crash are lost (counted in stats().lost).
//
// Events (db.on_plugin_event): "replicator.replicated" {resource, count}, "replicator.replication_error"
// {resource, id, target, error}. Ordering: changes of one record are delivered in write order
// (records are spread over `workers` queues by id).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "s3db/detail/config.hpp"
#include "s3db/errors.hpp"
#include "s3db/core/catalogue.hpp"
#include "s3db/core/hooks.hpp"
#include "s3db/core/listing.hpp"
#include "s3db/core/plugin.hpp"
#include "s3db/core/resource_ref.hpp"
#include "s3db/core/ids.hpp"
#include "s3db/detail/time.hpp"
#include "s3db/plugins/replicator/common.hpp"
#include "s3db/plugins/replicator/s3db_target.hpp"
#include "s3db/plugins/replicator/bigquery.hpp"
#include "s3db/plugins/replicator/sqs.hpp"
#include "s3db/plugins/replicator/webhook.hpp"

namespace s3db {

struct ReplicatorOptions {
    bool enabled = true;
    /// The durable log (s3db.js's persistReplicatorLog, on here: it is what makes delivery survive a
    /// crash). See the header comment for what it costs.
    bool durable_log = true;
    std::string log_resource = "plg_replicator_logs";
    std::size_t workers = 1;             // queues; a record always goes through the same one
    std::size_t queue_capacity = 10'000; // changes held per queue before writes stop adding
    std::size_t overflow_capacity = 100'000;  // record ids kept for replay past a full queue
    std::size_t batch_size = 10;         // changes per delivery (one webhook POST carries a batch)
    std::size_t retry_attempts = 3;      // tries after the first
    std::chrono::milliseconds retry_delay{1000};  // before the first retry, doubled each time
    std::chrono::milliseconds max_retry_delay{30'000};
    /// Delivered entries are deleted from the log in batches: when 1000 are waiting, or when a
    /// worker has had nothing to do for this long (and at stop and wait_idle).
    std::chrono::milliseconds log_flush_interval{500};
    bool replay_on_start = true;         // replay_pending() when the plugin starts (on its own thread)
    std::vector<std::string> exclude_resources{};
};

struct ReplicatorStats {
    std::uint64_t queued = 0;       // changes put in a queue by writes
    std::uint64_t replicated = 0;   // changes applied by every target that routes them
    std::uint64_t failed = 0;       // changes that exhausted their retries (marked failed)
    std::uint64_t retries = 0;      // delivery attempts after a failure
    std::uint64_t overflowed = 0;   // changes that found the queue full (replayed from the source)
    std::uint64_t replayed = 0;     // records replayed from the log or the overflow list
    std::uint64_t lost = 0;         // without durable_log: changes dropped by a full queue
    std::uint64_t log_writes = 0;   // PUTs of log entries (pending, failed)
    std::uint64_t log_deletes = 0;  // DeleteObjects requests removing delivered entries
    std::size_t in_queue = 0;       // changes waiting now
};

namespace detail {

/// `repl-<ms>-<counter>-<random>`: unique per process and across processes.
S3DB_DECL std::string replicator_log_id(std::int64_t ms);

/// The log ids a writer's before hook made for (resource, id), handed to its after hook on the same
/// thread. Bounded: entries of writes that failed in between are dropped (they stay in the log,
/// where replay reconciles them against the source).
struct PendingLogIds {
    struct Entry {
        const void* owner;
        std::string resource, id, log_id;
    };
    std::vector<Entry> entries;
    static PendingLogIds& mine() {
        thread_local PendingLogIds p;
        return p;
    }
    void add(const void* owner, std::string_view resource, std::string_view id, std::string log_id) {
        if (entries.size() >= 64) entries.erase(entries.begin());
        entries.push_back({owner, std::string(resource), std::string(id), std::move(log_id)});
    }
    std::vector<std::string> take(const void* owner, std::string_view resource, std::string_view id) {
        std::vector<std::string> out;
        std::erase_if(entries, [&](Entry& e) {
            if (e.owner != owner || e.resource != resource || e.id != id) return false;
            out.push_back(std::move(e.log_id));
            return true;
        });
        return out;
    }
};

}  // namespace detail

template <ReplicatorTarget... Targets>
class Replicator : public Plugin<Replicator<Targets...>> {
    static_assert(sizeof...(Targets) > 0, "s3db: Replicator<Targets...> needs at least one target");

public:
    static constexpr std::string_view name = "Replicator";
    static constexpr bool needs_deleted_record = false;  // a delete replicates by id: no GET first

    explicit Replicator(ReplicatorOptions options, Targets... targets)
        : state_(std::make_shared<State>(std::move(options), std::move(targets)...)) {}
    explicit Replicator(Targets... targets) : Replicator(ReplicatorOptions{}, std::move(targets)...) {}

    const ReplicatorOptions& options() const noexcept { return state_->options; }
    template <std::size_t I>
    auto& target() noexcept { return std::get<I>(state_->targets); }

    // ---- lifecycle ----------------------------------------------------------------------------------

    void validate() const {
        auto& o = state_->options;
        if (o.workers == 0) throw ConfigError("Replicator: workers must be at least 1");
        if (o.queue_capacity == 0) throw ConfigError("Replicator: queue_capacity must be at least 1");
        if (o.batch_size == 0) throw ConfigError("Replicator: batch_size must be at least 1");
        if (o.durable_log && o.log_resource.empty()) throw ConfigError("Replicator: log_resource is empty");
    }

    /// Opens (or creates, with s3db.js's definition) the log resource.
    template <class Db>
    void on_install(Db& db) {
        auto& s = *state_;
        if (!s.options.durable_log) return;
        auto& res = db.has_resource(s.options.log_resource) ? db.resource(s.options.log_resource)
                                                             : db.create_resource(log_config(s.options.log_resource));
        auto log = std::make_shared<Log>(Log{ResourceRef(res)});
        std::lock_guard lock(s.mutex);
        s.log = std::move(log);
    }

    /// Every resource, there at install or created later: how to read it (replays) and its
    /// definition (targets create their destination from it).
    template <class Res>
    void on_resource_created(Res& r) {
        auto& s = *state_;
        if (r.name() == s.options.log_resource) return;
        auto src = std::make_shared<Source>(
            Source{r.config(), ResourceRef(r)});
        std::lock_guard lock(s.mutex);
        s.sources[r.name()] = std::move(src);
    }

    /// Starts the workers (and the replay of the log's entries, on its own thread). Installed
    /// plugins stay where the database keeps them: events are sent through this object.
    void on_start() {
        state_->emit_ = [self = this](std::string_view e, const json& d) { self->emit(e, d); };
        state_->listened_replicated_ = [self = this] {
            static constexpr detail::EventName replicated{"replicator.replicated"};
            return self->listened(replicated);
        };
        state_->start();
    }
    /// Stops the workers after the batch they are delivering; what is still queued stays pending in
    /// the log and is replayed at the next start.
    void on_stop() { state_->stop(); }

    PluginHealth health() const {
        auto st = stats();
        return {true, std::to_string(st.replicated) + " changes replicated, " + std::to_string(st.failed) + " failed, " +
                          std::to_string(st.in_queue) + " queued"};
    }

    // ---- hooks ----------------------------------------------------------------------------------------

    void before_insert(OperationContext& ctx) { state_->log_pending(ctx, "insert"); }
    void before_update(OperationContext& ctx) { state_->log_pending(ctx, "update"); }
    void before_replace(OperationContext& ctx) { state_->log_pending(ctx, "update"); }
    void before_delete(OperationContext& ctx) { state_->log_pending(ctx, "delete"); }
    void after_write(const OperationContext& ctx) { state_->written(ctx); }

    // ---- control ----------------------------------------------------------------------------------------

    /// Waits until the replay at start has queued its records, every queue and overflow list is
    /// empty and no delivery is in flight (false on time-out). Delivered entries' deletions are flushed by then.
    bool wait_idle(std::chrono::milliseconds timeout = std::chrono::minutes(1)) { return state_->wait_idle(timeout); }

    /// Replays every pending and failed entry of the log (see the header comment); returns the
    /// number of records queued. Blocks while queues are full.
    std::size_t replay_pending() { return state_->replay({"pending", "failed"}); }

    /// Replays the entries marked failed; returns the number of records queued.
    std::size_t retry_failed() { return state_->replay({"failed"}); }

    /// Sends every record of `resource` (every routed resource when empty) to the targets as an
    /// insert of its current state, paging through the source (1 LIST + 1 GET per record). Records
    /// a target has that the source lacks are left there. Returns the number of records queued.
    std::size_t sync_all(const std::string& resource = {}) { return state_->sync_all(resource); }

    ReplicatorStats stats() const { return state_->snapshot(); }

    /// The log entries now in the log (pending or failed), oldest first.
    std::vector<json> logs() const { return state_->log_entries(); }

    static ResourceConfig log_config(std::string name) {
        ResourceConfig c;
        c.name = std::move(name);
        // s3db.js's definition (replicator.plugin.js), without its byDate partition: a partition
        // costs one more PUT per logged write and one more delete per delivered entry.
        c.attributes = {{"id", "string|required"},        {"replicator", "string|required"},
                        {"resource", "string|required"},  {"action", "string|required"},
                        {"data", "json"},                 {"timestamp", "datetime|required"},
                        {"createdAt", "dateonly|required"}, {"status", "string|required"},
                        {"error", "string|optional"}};
        c.behavior = "body-only";
        c.created_by = "plugin";
        return c;
    }

private:
    /// The durable log resource.
    struct Log {
        ResourceRef res;
        void insert(json e) const { res.insert(std::move(e)); }
        void replace(std::string id, json e) const { res.replace(std::move(id), std::move(e)); }
        void remove_many(const std::vector<std::string>& ids) const { res.remove_many(ids); }
        std::vector<json> all() const {
            std::vector<json> out;
            for (auto& r : res.get_many(res.list_ids()))
                if (r) out.push_back(std::move(*r));
            return out;
        }
    };
    /// A resource replicated from: its definition as created (targets create their destination
    /// from it), and the resource for replays.
    struct Source {
        ResourceConfig config;
        ResourceRef res;
        std::optional<json> get(const std::string& id) const { return res.get_or_null(id); }
    };
    /// One queued change. `reconcile`: read the record's state from the source when delivered.
    struct Change {
        std::string resource, action, id;
        json data;
        std::int64_t timestamp_ms = 0;
        std::vector<std::string> log_ids;
        bool reconcile = false;
        int retry_count = 0;
    };
    struct Queue {
        std::deque<Change> changes;
        std::deque<Change> overflow;  // reconcile-only changes past a full queue
        bool busy = false;
    };

    struct State {
        ReplicatorOptions options;
        std::tuple<Targets...> targets;
        std::string names;  // the targets' names, comma-separated: the log entries' `replicator`
        std::mutex mutex;  // sources, log, queues
        std::condition_variable wake, idle;
        std::shared_ptr<Log> log;
        std::map<std::string, std::shared_ptr<Source>, std::less<>> sources;
        std::vector<Queue> queues;
        std::vector<std::thread> threads;
        std::thread replayer;
        bool running = false;
        bool replaying = false;  // the replay at start has not queued everything yet
        // Log ids this process wrote while the replay at start runs: the replay leaves them to the
        // writes' own after hooks (a time cut-off alone takes those of its first millisecond too).
        std::atomic<bool> noting_own{false};
        std::set<std::string> own_ids;
        std::mutex own_mutex;
        std::vector<std::string> delivered;  // log ids to delete
        std::mutex deliver_mutex;            // the delivered list
        std::set<std::string> prepared;  // "<target address>/<destination>" prepared
        std::mutex prepare_mutex;
        struct Counters {
            std::atomic<std::uint64_t> queued{0}, replicated{0}, failed{0}, retries{0}, overflowed{0}, replayed{0},
                lost{0}, log_writes{0}, log_deletes{0};
        } n;

        State(ReplicatorOptions o, Targets... t) : options(std::move(o)), targets(std::move(t)...) {
            queues.resize(std::max<std::size_t>(options.workers, 1));
            std::apply([&](const auto&... t) { ((names += (names.empty() ? "" : ","), names += t.target_name()), ...); }, targets);
        }
        ~State() { stop(); }

        /// An entry's timestamp as text (ISO here; s3db.js's may differ): for ordering only.
        static std::string stamp(const json& e) {
            auto it = e.find("timestamp");
            if (it == e.end()) return {};
            return it->is_string() ? it->get<std::string>() : it->dump();
        }

        bool routed(std::string_view resource) const {
            if (!options.enabled || resource == options.log_resource) return false;
            for (auto& e : options.exclude_resources)
                if (e == resource) return false;
            return std::apply([&](const auto&... t) { return (t.resources().routes(resource) || ...); }, targets);
        }

        std::shared_ptr<Log> log_or_null() {
            std::lock_guard lock(mutex);
            return log;
        }

        // ---- the writer's side -------------------------------------------------------------------------

        void log_pending(OperationContext& ctx, const char* action) {
            if (!options.durable_log || !routed(ctx.resource)) return;
            auto l = log_or_null();
            if (!l) return;
            const std::int64_t ms = detail::epoch_ms(std::chrono::system_clock::now());
            const std::string now = detail::iso_string(ms);
            std::string id = detail::replicator_log_id(ms);
            if (noting_own.load(std::memory_order_acquire)) {  // noted before the PUT the replay may read
                std::lock_guard lock(own_mutex);
                own_ids.insert(id);
            }
            json entry = {{"id", id},
                          {"replicator", names},
                          {"resource", ctx.resource},
                          {"resourceName", ctx.resource},
                          {"action", action},
                          {"operation", action},
                          {"recordId", ctx.id},
                          {"timestamp", now},
                          {"createdAt", now.substr(0, 10)},
                          {"status", "pending"},
                          {"retryCount", 0}};
            // s3db.js's `data` is required: a delete logs the id alone (the record is not read).
            entry["data"] = std::string_view(action) != "delete" && ctx.data.is_object() ? ctx.data : json{{"id", ctx.id}};
            l->insert(std::move(entry));  // throws through: the write is refused, nothing unlogged is written
            n.log_writes.fetch_add(1, std::memory_order_relaxed);
            detail::PendingLogIds::mine().add(this, ctx.resource, ctx.id, std::move(id));
        }

        void written(const OperationContext& ctx) {
            if (!routed(ctx.resource)) return;
            std::string_view op = ctx.operation;
            Change c;
            c.resource = std::string(ctx.resource);
            c.action = op == "delete" ? "delete" : op == "insert" ? "insert" : "update";
            c.id = ctx.id;
            if (c.action != "delete") c.data = ctx.data;
            c.timestamp_ms = detail::epoch_ms(std::chrono::system_clock::now());
            if (options.durable_log) c.log_ids = detail::PendingLogIds::mine().take(this, ctx.resource, ctx.id);
            auto& q = queue_of(c.resource, c.id);
            std::unique_lock lock(mutex);
            if (q.changes.size() < options.queue_capacity) {
                q.changes.push_back(std::move(c));
                n.queued.fetch_add(1, std::memory_order_relaxed);
            } else {
                n.overflowed.fetch_add(1, std::memory_order_relaxed);
                if (!options.durable_log) n.lost.fetch_add(1, std::memory_order_relaxed);
                else if (q.overflow.size() < options.overflow_capacity) {
                    c.data = json();
                    c.reconcile = true;
                    q.overflow.push_back(std::move(c));
                }  // else: only in the log, replayed by replay_pending()
            }
            lock.unlock();
            wake.notify_all();
        }

        Queue& queue_of(const std::string& resource, const std::string& id) {
            if (queues.size() == 1) return queues[0];
            return queues[std::hash<std::string>{}(resource + '\0' + id) % queues.size()];
        }

        // ---- workers --------------------------------------------------------------------------------------

        void start() {
            std::lock_guard lock(mutex);
            if (running) return;
            running = true;
            for (std::size_t i = 0; i < queues.size(); ++i) threads.emplace_back([this, i] { work(i); });
            if (options.durable_log && options.replay_on_start) {
                replaying = true;
                // Only what was logged before this start: entries this process logs from now on
                // belong to writes in flight, which their own after hook delivers.
                noting_own.store(true, std::memory_order_release);
                const std::string started = detail::iso_string(detail::epoch_ms(std::chrono::system_clock::now()));
                replayer = std::thread([this, started] {
                    try {
                        replay({"pending", "failed"}, started, true);
                    } catch (...) {  // the log unreadable now: entries stay for the next replay
                    }
                    noting_own.store(false, std::memory_order_release);
                    {
                        std::lock_guard lock(own_mutex);
                        own_ids.clear();
                    }
                    {
                        std::lock_guard lock(mutex);
                        replaying = false;
                    }
                    idle.notify_all();
                });
            }
        }

        void stop() {
            {
                std::lock_guard lock(mutex);
                if (!running) return;
                running = false;
            }
            wake.notify_all();
            idle.notify_all();
            if (replayer.joinable()) replayer.join();
            for (auto& t : threads) t.join();
            threads.clear();
            flush_delivered();
        }

        void work(std::size_t i) {
            auto& q = queues[i];
            for (;;) {
                std::vector<Change> batch;
                {
                    std::unique_lock lock(mutex);
                    auto ready = [&] { return !running || !q.changes.empty() || !q.overflow.empty(); };
                    if (!wake.wait_for(lock, options.log_flush_interval, ready)) {
                        lock.unlock();
                        flush_delivered();  // idle that long: delete what was delivered
                        continue;
                    }
                    if (!running) return;  // what is queued stays pending in the log
                    auto& from = !q.changes.empty() ? q.changes : q.overflow;
                    while (!from.empty() && batch.size() < options.batch_size) {
                        batch.push_back(std::move(from.front()));
                        from.pop_front();
                    }
                    q.busy = true;
                }
                process(batch);
                {
                    std::lock_guard lock(mutex);
                    q.busy = false;
                }
                if (delivered_count() >= 1000) flush_delivered();
                idle.notify_all();
                wake.notify_all();  // a replay waiting for room
            }
        }

        /// Changes a target refused one by one (ReplicationError::failed()), the others it applied.
        struct Refused {
            std::set<const Change*> changes;
            std::string error, target;
            bool retryable = true;
        };

        void process(std::vector<Change>& batch) {
            for (auto& c : batch)
                if (c.reconcile) reconcile(c);
            std::vector<Change*> todo;
            for (auto& c : batch) todo.push_back(&c);
            std::string error, failed_target;
            bool retryable = true;
            std::size_t attempt = 0;
            auto delay = options.retry_delay;
            for (;;) {
                Refused refused;
                bool thrown = true;
                std::optional<std::chrono::milliseconds> asked;  // the target's Retry-After
                try {
                    std::apply([&](auto&... t) { (deliver_to(t, todo, failed_target, refused), ...); }, targets);
                    thrown = false;
                } catch (const ReplicationError& e) {
                    error = e.what();
                    retryable = e.retryable();
                    asked = e.retry_after();
                } catch (const std::exception& e) {
                    error = failed_target.empty() ? std::string(e.what()) : "'" + failed_target + "': " + e.what();
                    retryable = true;
                }
                if (!thrown) {
                    // Every target took every change but the refused ones: those alone are tried again.
                    std::vector<Change*> done, again;
                    for (auto* c : todo) (refused.changes.contains(c) ? again : done).push_back(c);
                    delivered_all(done);
                    if (again.empty()) return;
                    todo = std::move(again);
                    error = refused.error;
                    retryable = refused.retryable;
                    failed_target = refused.target;
                }
                if (!retryable || attempt++ >= options.retry_attempts || !is_running()) break;
                n.retries.fetch_add(1, std::memory_order_relaxed);
                // A target that says when to come back is believed, up to the longest backoff.
                sleep_unless_stopped(asked ? std::min(*asked, options.max_retry_delay) : delay);
                delay = std::min(delay * 2, options.max_retry_delay);
            }
            for (auto* c : todo) fail(*c, error, failed_target);
        }

        void delivered_all(const std::vector<Change*>& done) {
            if (done.empty()) return;
            std::lock_guard lock(deliver_mutex);
            for (auto* c : done) delivered.insert(delivered.end(), c->log_ids.begin(), c->log_ids.end());
            n.replicated.fetch_add(done.size(), std::memory_order_relaxed);
            if (emit_ && listened_replicated_())
                for (auto* c : done)
                    emit_("replicator.replicated", json{{"resource", c->resource}, {"id", c->id}, {"action", c->action}});
        }

        template <class T>
        void deliver_to(T& target, const std::vector<Change*>& batch, std::string& failed_target, Refused& refused) {
            std::vector<Delivery> out;
            std::vector<const Change*> from;  // the change each delivery carries
            for (auto* c : batch) {
                if (c->action.empty()) continue;  // a reconcile that found nothing to do
                for (auto& d : target.resources().route(c->resource)) {
                    if (!d.takes(c->action)) continue;
                    json data = c->data;
                    if (d.transform && !data.is_null()) {
                        data = d.transform(data);
                        if (data.is_null()) continue;
                        if (data.is_object()) data["id"] = c->id;
                    }
                    if constexpr (requires { target.prepare(d.resource, std::declval<const ResourceConfig&>()); })
                        prepare(target, d.resource, c->resource);
                    out.push_back({c->resource, d.resource, c->action, c->id, std::move(data), c->timestamp_ms,
                                   c->log_ids.empty() ? std::string{} : c->log_ids.back()});
                    from.push_back(c);
                }
            }
            if (out.empty()) return;
            failed_target = target.target_name();
            try {
                target.deliver(out);
            } catch (const ReplicationError& e) {
                if (e.failed().empty()) throw;
                for (auto i : e.failed())
                    if (i < from.size()) refused.changes.insert(from[i]);
                if (refused.error.empty()) {
                    refused.error = e.what();
                    refused.target = failed_target;
                }
                refused.retryable = refused.retryable && e.retryable();
            }
            failed_target.clear();
        }

        template <class T>
        void prepare(T& target, const std::string& destination, const std::string& source) {
            // by the target object, not its name: two targets of one kind share a default name
            const std::string key = std::to_string(reinterpret_cast<std::uintptr_t>(&target)) + "/" + destination;
            {
                std::lock_guard lock(prepare_mutex);
                if (prepared.contains(key)) return;
            }
            std::shared_ptr<Source> src;
            {
                std::lock_guard lock(mutex);
                if (auto it = sources.find(source); it != sources.end()) src = it->second;
            }
            if (!src) throw ReplicationError(target.target_name(), source, {}, "the source resource is not open", false);
            target.prepare(destination, src->config);
            std::lock_guard lock(prepare_mutex);
            prepared.insert(key);
        }

        /// The record's state now in the source decides what is sent: it, or its absence.
        void reconcile(Change& c) {
            std::shared_ptr<Source> src;
            {
                std::lock_guard lock(mutex);
                if (auto it = sources.find(c.resource); it != sources.end()) src = it->second;
            }
            n.replayed.fetch_add(1, std::memory_order_relaxed);
            c.timestamp_ms = detail::epoch_ms(std::chrono::system_clock::now());
            if (!src) {  // the resource is gone from the source: nothing to send; the entries go
                c.action.clear();
                return;
            }
            auto current = src->get(c.id);
            if (current) {
                c.data = std::move(*current);
                if (c.action == "delete") c.action = "update";
                if (c.action.empty()) c.action = "insert";
            } else {
                c.data = json();
                c.action = "delete";
            }
        }

        void fail(Change& c, const std::string& error, const std::string& target) {
            n.failed.fetch_add(1, std::memory_order_relaxed);
            if (emit_)
                emit_("replicator.replication_error",
                      json{{"resource", c.resource}, {"id", c.id}, {"target", target}, {"error", error}});
            auto l = log_or_null();
            if (!l || c.log_ids.empty()) return;
            // One entry keeps the failure; the record's other entries are covered by it.
            const std::int64_t ms = detail::epoch_ms(std::chrono::system_clock::now());
            const std::string now = detail::iso_string(ms);
            json entry = {{"replicator", names},
                          {"resource", c.resource},
                          {"resourceName", c.resource},
                          {"action", c.action.empty() ? "update" : c.action},
                          {"operation", c.action.empty() ? "update" : c.action},
                          {"recordId", c.id},
                          {"timestamp", now},
                          {"createdAt", now.substr(0, 10)},
                          {"status", "failed"},
                          {"error", error},
                          {"retryCount", c.retry_count + 1}};
            entry["data"] = c.data.is_object() ? c.data : json{{"id", c.id}};
            try {
                l->replace(c.log_ids.back(), std::move(entry));
                n.log_writes.fetch_add(1, std::memory_order_relaxed);
                if (c.log_ids.size() > 1) {
                    std::lock_guard lock(deliver_mutex);
                    delivered.insert(delivered.end(), c.log_ids.begin(), c.log_ids.end() - 1);
                }
            } catch (...) {  // the pending entries stay: replayed as pending
            }
        }

        std::size_t delivered_count() {
            std::lock_guard lock(deliver_mutex);
            return delivered.size();
        }

        void flush_delivered() {
            std::vector<std::string> ids;
            {
                std::lock_guard lock(deliver_mutex);
                ids.swap(delivered);
            }
            auto l = log_or_null();
            if (ids.empty() || !l) return;
            for (std::size_t i = 0; i < ids.size(); i += 1000) {
                std::vector<std::string> part(ids.begin() + i, ids.begin() + std::min(ids.size(), i + 1000));
                try {
                    l->remove_many(part);
                    n.log_deletes.fetch_add(1, std::memory_order_relaxed);
                } catch (...) {  // left in the log: a later replay finds them delivered already
                }
            }
        }

        bool is_running() {
            std::lock_guard lock(mutex);
            return running;
        }
        void sleep_unless_stopped(std::chrono::milliseconds d) {
            std::unique_lock lock(mutex);
            wake.wait_for(lock, d, [&] { return !running; });
        }

        /// Queues `c` (blocking while its queue is full): replays and syncs, never writers.
        bool push_blocking(Change c) {
            auto& q = queue_of(c.resource, c.id);
            std::unique_lock lock(mutex);
            wake.wait(lock, [&] { return !running || q.changes.size() < options.queue_capacity; });
            if (!running) return false;
            q.changes.push_back(std::move(c));
            lock.unlock();
            wake.notify_all();
            return true;
        }

        std::size_t replay(std::vector<std::string> statuses, const std::string& before = {}, bool skip_own = false) {
            auto l = log_or_null();
            if (!l) return 0;
            std::map<std::pair<std::string, std::string>, Change> by_record;
            auto entries = l->all();
            std::sort(entries.begin(), entries.end(), [](const json& a, const json& b) {
                return stamp(a) < stamp(b);
            });
            for (auto& e : entries) {
                const std::string status = e.value("status", std::string{});
                if (std::find(statuses.begin(), statuses.end(), status) == statuses.end()) continue;
                if (!before.empty() && stamp(e) > before) continue;
                if (skip_own) {
                    std::lock_guard lock(own_mutex);
                    if (own_ids.contains(e.value("id", std::string{}))) continue;
                }
                const std::string resource = e.value("resourceName", e.value("resource", std::string{}));
                const std::string id = e.value("recordId", std::string{});
                if (id.empty() || resource.empty()) continue;  // not one of ours (s3db.js logs failures by data)
                auto& c = by_record[{resource, id}];
                c.resource = resource;
                c.id = id;
                c.action = e.value("action", std::string{"update"});
                c.reconcile = true;
                c.retry_count = std::max(c.retry_count, e.value("retryCount", 0));
                c.log_ids.push_back(e.value("id", std::string{}));
            }
            std::size_t queued = 0;
            for (auto& [key, c] : by_record)
                if (push_blocking(std::move(c))) ++queued;
            return queued;
        }

        std::size_t sync_all(const std::string& only) {
            std::vector<std::pair<std::string, std::shared_ptr<Source>>> list;
            {
                std::lock_guard lock(mutex);
                for (auto& [name, src] : sources)
                    if ((only.empty() || name == only) && routed(name)) list.emplace_back(name, src);
            }
            if (!only.empty() && list.empty()) throw PluginError("Replicator", "sync_all: no routed resource '" + only + "'");
            std::size_t queued = 0;
            for (auto& [name, src] : list) {
                std::string cursor;
                do {
                    auto page = src->res.page(100, cursor);
                    for (auto& r : page.items) {
                        Change c;
                        c.resource = name;
                        c.action = "insert";
                        c.id = r.value("id", std::string{});
                        c.data = std::move(r);
                        c.timestamp_ms = detail::epoch_ms(std::chrono::system_clock::now());
                        if (push_blocking(std::move(c))) ++queued;
                    }
                    cursor = page.next_cursor;
                } while (!cursor.empty());
            }
            return queued;
        }

        bool wait_idle(std::chrono::milliseconds timeout) {
            std::unique_lock lock(mutex);
            bool ok = idle.wait_for(lock, timeout, [&] {
                if (replaying) return false;
                for (auto& q : queues)
                    if (q.busy || !q.changes.empty() || !q.overflow.empty()) return false;
                return true;
            });
            lock.unlock();
            if (ok) flush_delivered();
            return ok;
        }

        std::vector<json> log_entries() {
            auto l = log_or_null();
            if (!l) return {};
            auto all = l->all();
            std::sort(all.begin(), all.end(), [](const json& a, const json& b) {
                return stamp(a) < stamp(b);
            });
            return all;
        }

        ReplicatorStats snapshot() {
            ReplicatorStats s;
            auto ld = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
            s.queued = ld(n.queued);
            s.replicated = ld(n.replicated);
            s.failed = ld(n.failed);
            s.retries = ld(n.retries);
            s.overflowed = ld(n.overflowed);
            s.replayed = ld(n.replayed);
            s.lost = ld(n.lost);
            s.log_writes = ld(n.log_writes);
            s.log_deletes = ld(n.log_deletes);
            std::lock_guard lock(mutex);
            for (auto& q : queues) s.in_queue += q.changes.size() + q.overflow.size();
            return s;
        }

        std::function<void(std::string_view, const json&)> emit_;
        std::function<bool()> listened_replicated_ = [] { return true; };
    };

    std::shared_ptr<State> state_;
};

}  // namespace s3db

#if S3DB_DEFINE_BODIES

namespace s3db::detail {

S3DB_DECL std::string replicator_log_id(std::int64_t ms) {
    static std::atomic<std::uint64_t> sequence{0};
    return "repl-" + std::to_string(ms) + "-" + std::to_string(sequence.fetch_add(1, std::memory_order_relaxed)) + "-" +
           random_id(6, "0123456789abcdefghijklmnopqrstuvwxyz");
}

}  // namespace s3db::detail
#endif  // S3DB_DEFINE_BODIES
