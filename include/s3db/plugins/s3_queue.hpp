#pragma once
// S3Queue: a work queue on one resource, with workers in any number of processes, exact
// acknowledgement by compare-and-swap, visibility timeouts, retries and a dead letter resource.
//
//   BasicDatabase<Filesystem, S3Queue> db(fs, {}, S3Queue({.resource = "emails", .concurrency = 4,
//       .handler = [](const json& email, S3QueueContext& ctx) { send(email); return json{{"sent", true}}; }}));
//   db.connect();                                   // workers start (on_start), stop on disconnect
//   db.plugin<S3Queue>().enqueue({{"to", "ana@x"}}); // inserts the record and queues it
//
// Layout (keys under `plugin=s3queue/<resource>/`; <seq> = 16-digit order + '-' + queue id, order =
// enqueue time in µs-ish steps, inverted for LIFO, so a LIST returns messages in processing order):
//   q/<seq>/m=<originalId>     the message (pending), body: queuedAt, maxAttempts, createdAt
//   q/<seq>/c=<NNNN>           claim of attempt N: a lease of the coordination service
//                              (core/lease.hpp, LeaseService::try_create_at: If-None-Match, one
//                              holder per attempt, fencing token N), body: the lease's (holder =
//                              worker id, nonce = lockToken, token, renewedAt, expiresAt, wt);
//                              renewed with If-Match (LeaseService::renew)
//   q/<seq>/r=<NNNN>-<delay>   attempt N failed and released: visible again `delay` ms later
//   d/<seq>                    the end of the message (If-None-Match: one per message), body: the
//                              s3db.js entry (status completed|failed|dead, result, error, attempts…)
//   dead/<seq>, failed/<seq>   markers that split d/ by status for stats(), written just before d/
// and the dead letter resource `plg_s3queue_<resource>_dead` (originalId, queueId, data, error,
// attempts), id = the queue id. s3db.js keeps entries as records of `plg_s3queue_<res>_queue` with a
// byStatus partition: every status change moves partition refs (≈24 requests per message). Here the
// status is where the keys are: one LIST of `q/` shows every live message, its attempts and whether
// it is held, without reading any object.
//
// Costs per message, enqueue to ack, no contention: enqueue 2 PUT (record, message); claim 1 PUT;
// read the record 1 GET; ack 1 PUT (d/); the LIST that found it is shared by up to `batch` messages
// and the two DeleteObjects that remove the live keys (messages, then claims) by up to 1000:
// ≈ 5 + 1/batch + 2/1000 (5.08 measured in one process; on RGW with 4 processes × 4 threads 5.36
// for 1,000 messages, 5.62 for 200; with few messages per consumer claims collide more: 6.76 for 50
// messages among 16 threads, each lost claim 1 PUT). bench/s3_queue.cpp, against s3db.js.
// A retry adds 1 PUT (r=) + 1 PUT (next claim) + 1 GET (d/: was it acked by a stale holder?) + 1 GET
// (record); a claim that landed ≥ visibility_timeout/4 after its LIST adds that GET of d/ too. A
// held message costs 1 PUT per visibility_timeout/3 (renewal). An idle worker process sends 1 LIST
// per poll_interval (and nothing else: the renewer thread sends nothing while nothing is held).
//
// The coordination service (core/lease.hpp), where it fits without raising those costs:
//  - used: every claim is a Lease at the queue's own key (created without a read, 1 PUT), renewed
//    by LeaseService::renew on a thread of its own, with ttl = visibility_timeout and a local
//    validity on the holder's steady clock of 5/6 of it from each send; an ack or nack is written
//    only while that lease is valid (the fence; no request), else dropped and counted (fenced(),
//    event s3queue.message-fenced), and the taker's run is the one that ends the message.
//  - not used: takeover by the lease's `expiresAt` + max_clock_skew (a stale claim is one whose ETag
//    this observer has seen unchanged for a full timeout on its own clock: no skew assumption, and
//    the LIST that finds messages shows it at no cost); fenced_put for acks (GET lease + HEAD + PUT,
//    +2 requests a message: over budget; the end's If-None-Match already makes it once per
//    message); leader-run recovery (a LeaderElection costs each idle follower 1 GET per campaign,
//    over the 1 LIST per poll of an idle worker, and every worker's own LIST already shows stale
//    claims, so a leader would only add requests and a single point of delay).
//
// Guarantees:
//  - A message ends (completed, failed or dead) exactly once: the end is the creation of d/<seq>
//    with If-None-Match. A write whose answer was lost is settled by one HEAD: every body written
//    here holds a fresh token, so its ETag (MD5 of the body) tells whether ours landed (a claim: one
//    GET of the lease's `wt`); if the store cannot answer, S3QueueOutcomeUnknown is thrown, never a
//    second ack.
//  - One holder per attempt: the claim c=N is created with If-None-Match. While its handler runs the
//    holder renews the claim (an If-Match PUT every visibility_timeout/3, on a renewer thread that
//    sends nothing else, so slow LISTs and deletions cannot delay it), so a live process keeps its
//    messages and, without a crash, every handler runs exactly once.
//  - The fence: a holder acks or nacks only while its lease is valid on its steady clock (5/6 of
//    the timeout from its last renewal's send). An observer takes the claim over no earlier than a
//    full timeout after it saw that renewal (seen from the LIST's answer, so after it landed, so
//    after it was sent), so an ack sent in time has visibility_timeout/6 to land before the taker
//    reads d/. A holder paused (SIGSTOP, swap) or cut off past that does not write: its run
//    counts as lost, like a crash's, and the taker's run ends the message.
//  - A claim is stale when its ETag has not changed for visibility_timeout as the observer's own
//    clock measures it (no clock is compared with another's: skew does not matter, a new observer
//    waits one full timeout). A stale claim is taken over as attempt N+1 (fencing: the attempt
//    number); before running it the taker reads d/ (1 GET), so a message a stale holder acknowledged
//    is not run again. A killed worker's messages run again after the timeout; nothing is lost.
//    A stale holder that comes back may still race the new holder to d/: exactly one of them acks.
//  - The live keys of an ended message are deleted visibility_timeout/3 after its end (batched:
//    one DeleteObjects for the messages, then one for their claims, as RGW removes the keys of one
//    request in any order): before any observer can take its last claim for stale (2/3 of the timeout after its
//    last renewal at the earliest), and after every LIST that showed it unclaimed is too old to
//    claim from (a worker claims only from a LIST younger than visibility_timeout/6), so a claim
//    never lands on a deleted message, which would run it again. A claim PUT that lands late (a
//    thread stalled, a transport retrying with backoff) may re-create a deleted c=N: one that
//    returns ≥ visibility_timeout/4 after its LIST reads d/ before running (1 GET, rare path).
//  - Polls list from a cursor past the messages seen held; a full listing from the beginning runs
//    every visibility_timeout/3 and when a seen release comes due, so a killed worker's claims are
//    taken over between 1 and 4/3 visibility timeouts after its last renewal.
//  - stats() counts each status from LISTs (s3db.js's per-status counts all equal the total).
// Thread-safety: every member may be called from any thread.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "s3db/errors.hpp"
#include "s3db/core/catalogue.hpp"
#include "s3db/core/ids.hpp"
#include "s3db/core/lease.hpp"
#include "s3db/core/plugin.hpp"
#include "s3db/core/resource_ref.hpp"
#include "s3db/detail/hashing.hpp"
#include "s3db/detail/random.hpp"
#include "s3db/transport/s3/retry.hpp"
#include "s3db/transport/s3/rules.hpp"
#include "s3db/transport/transport.hpp"
#include "s3db/transport/transport_ref.hpp"

namespace s3db {

/// A queue write whose answer was lost and whose effect the store could not show either way.
class S3QueueOutcomeUnknown : public PluginError {
public:
    S3QueueOutcomeUnknown(const std::string& resource, const std::string& key, const std::string& cause)
        : PluginError("S3Queue", "resource '" + resource + "': write of '" + key +
                                     "': outcome unknown (applied once or not at all): " + cause) {}
};

enum class QueueOrdering { fifo, lifo };

class S3QueueContext;
/// The handler: the record (as stored now) and its context. Its return value is the result the
/// entry keeps when auto_acknowledge is on; a throw is a nack.
using S3QueueHandler = std::function<json(const json& record, S3QueueContext& ctx)>;

struct S3QueueOptions {
    std::string resource;  // the target resource (required)
    std::size_t concurrency = 1;  // handler threads per process
    std::chrono::milliseconds visibility_timeout{30'000};
    std::chrono::milliseconds poll_interval{1'000};
    int max_attempts = 3;
    std::chrono::milliseconds retry_base{1'000};  // retry after min(base·2^(attempt-1), cap)
    std::chrono::milliseconds retry_cap{30'000};
    QueueOrdering ordering = QueueOrdering::fifo;
    bool auto_acknowledge = true;  // false: the handler calls ctx.ack()/nack(); neither → redelivered after the timeout
    bool dead_letter = true;       // false: messages out of attempts end as `failed`
    std::string dead_letter_resource{};  // default plg_s3queue_<resource>_dead
    S3QueueHandler handler{};      // with auto_start, workers start when the database connects
    bool auto_start = true;
    std::string worker_id{};       // default <host pid>-<random>
    std::size_t batch = 0;         // claims taken from one LIST; 0: max(4·concurrency, 16)
    std::function<std::chrono::system_clock::time_point()> clock{};  // default system_clock::now
};

/// Counts per status (exact at the time of the LISTs).
struct S3QueueStats {
    std::uint64_t pending = 0, processing = 0, completed = 0, failed = 0, dead = 0;
    std::uint64_t total() const noexcept { return pending + processing + completed + failed + dead; }
    json to_json() const {
        return {{"pending", pending}, {"processing", processing}, {"completed", completed},
                {"failed", failed},   {"dead", dead},             {"total", total()}};
    }
};

/// What a handler knows about the message it runs, and how it settles it.
class S3QueueContext {
public:
    std::string queue_id, original_id, worker_id, lock_token;
    int attempts = 0, max_attempts = 0;
    std::int64_t visible_until = 0;  // ms since the epoch, as the worker's clock says

    void ack(json result = nullptr) {
        outcome_ = Outcome::ack;
        result_ = std::move(result);
    }
    void nack(std::string error) {
        outcome_ = Outcome::nack;
        error_ = std::move(error);
    }

private:
    friend class S3Queue;
    enum class Outcome { none, ack, nack };
    Outcome outcome_ = Outcome::none;
    json result_;
    std::string error_;
};

class S3Queue : public Plugin<S3Queue> {
public:
    static constexpr std::string_view name = "S3Queue";
    static constexpr std::string_view storage_slug = "s3queue";

    explicit S3Queue(S3QueueOptions options = {}, PluginOptions plugin_options = {})
        : Plugin<S3Queue>(plugin_options), s_(std::make_shared<State>()) {
        if (!options.clock) options.clock = [] { return std::chrono::system_clock::now(); };
        if (options.worker_id.empty()) {
            char host[64] = {};
            ::gethostname(host, sizeof host - 1);
            options.worker_id = std::string(host) + "-" + std::to_string(::getpid()) + "-" + random_id(6, alnum);
        }
        if (options.batch == 0) options.batch = std::max<std::size_t>(4 * options.concurrency, 16);
        if (options.dead_letter_resource.empty()) options.dead_letter_resource = "plg_s3queue_" + options.resource + "_dead";
        s_->o = std::move(options);
    }
    S3Queue(S3Queue&&) = default;
    ~S3Queue() {
        if (s_) stop_processing();
    }

    const S3QueueOptions& options() const noexcept { return s_->o; }
    const std::string& worker_id() const noexcept { return s_->o.worker_id; }

    // ---- lifecycle ----

    void validate() const {
        const auto& o = s_->o;
        if (o.resource.empty()) throw ConfigError("S3Queue: `resource` is required");
        if (o.concurrency < 1) throw ConfigError("S3Queue: concurrency must be at least 1");
        if (o.max_attempts < 1) throw ConfigError("S3Queue: max_attempts must be at least 1");
        if (o.visibility_timeout < std::chrono::milliseconds(100))
            throw ConfigError("S3Queue: visibility_timeout must be at least 100 ms");
        if (o.poll_interval.count() < 1) throw ConfigError("S3Queue: poll_interval must be positive");
        validate_resource_name(o.dead_letter_resource);
    }

    template <class Db>
    void on_install(Db& db) {
        auto b = std::make_shared<Backend>();
        b->store = std::make_unique<TransportRef>(db.store());
        b->leases = std::make_unique<LeaseService>(*b->store, lease_options(), std::string(storage_slug));
        b->base = storage().plugin_key(std::nullopt, s_->o.resource) + "/";
        b->db = DatabaseRef(db);
        b->target = s_->o.resource;
        b->dead = s_->o.dead_letter_resource;
        if (s_->o.dead_letter && !db.has_resource(b->dead)) db.create_resource(dead_letter_config());
        std::lock_guard lock(s_->mutex);
        s_->backend = std::move(b);
    }

    void on_start() {
        if (s_->o.auto_start && s_->o.handler) start_processing(s_->o.handler);
    }
    void on_stop() { stop_processing(); }
    void on_uninstall(const UninstallOptions&) { stop_processing(); }

    PluginHealth health() const {
        if (!backend()) return {false, "not installed"};
        std::lock_guard lock(s_->mutex);
        std::string d = std::string(s_->running ? "processing" : "idle") + "; handled " +
                        std::to_string(s_->handled.load()) + ", acked " + std::to_string(s_->acked.load());
        if (!s_->last_error.empty()) d += "; last error: " + s_->last_error;
        return {s_->errors.load() == 0 || s_->running, d};
    }

    /// The definition of the dead letter resource (s3db.js's fields).
    ResourceConfig dead_letter_config() const {
        ResourceConfig c;
        c.name = s_->o.dead_letter_resource;
        c.attributes = {{"id", "string|required"},  {"originalId", "string|required"}, {"queueId", "string|required"},
                        {"data", "json"},           {"error", "string|optional"},      {"attempts", "number"}};
        c.behavior = "body-overflow";
        c.timestamps = true;
        c.created_by = "S3Queue";
        return c;
    }

    // ---- producing ----

    /// Inserts `data` into the resource and queues it: 2 PUT. Returns the queue entry (s3db.js's
    /// fields). A failure after the record was inserted throws with the record's id in the message.
    json enqueue(json data) {
        auto b = require_backend();
        json record = b->insert(std::move(data));
        const std::string original_id = record.value("id", "");
        const std::int64_t now = now_ms();
        const std::string qid = random_id(16, alnum);
        const std::string seq = order_key(now) + "-" + qid;
        json entry = {{"id", qid}, {"originalId", original_id}, {"status", "pending"}, {"visibleAt", now},
                      {"attempts", 0}, {"maxAttempts", s_->o.max_attempts}, {"queuedAt", now}, {"createdAt", iso(now)},
                      {"claimedBy", nullptr}, {"claimedAt", nullptr}, {"lockToken", nullptr}, {"error", nullptr},
                      {"result", nullptr}, {"completedAt", nullptr}};
        try {
            create(*b, b->base + "q/" + seq + "/m=" + original_id, with_nonce(entry));
        } catch (const std::exception& e) {
            throw PluginError(name, "resource '" + s_->o.resource + "': record '" + original_id +
                                        "' was inserted but not queued: " + e.what());
        }
        emit("s3queue.message-enqueued", {{"queueId", qid}, {"originalId", original_id}});
        return entry;
    }

    // ---- consuming ----

    /// Starts `concurrency` handler threads and one poller in this process (idempotent).
    void start_processing(S3QueueHandler handler) {
        require_backend();
        std::lock_guard lock(s_->mutex);
        if (s_->running) return;
        s_->handler = std::move(handler);
        s_->running = true;
        s_->stopping = false;
        s_->threads.emplace_back([s = s_, this] { poller(s); });
        s_->threads.emplace_back([s = s_, this] { renewer(s); });
        for (std::size_t i = 0; i < s_->o.concurrency; ++i) s_->threads.emplace_back([s = s_, this] { worker(s); });
        emit("s3queue.workers-started", {{"workerId", s_->o.worker_id}, {"concurrency", s_->o.concurrency}});
    }

    /// Stops taking messages, waits for running handlers to end, and deletes what is due.
    void stop_processing() {
        std::vector<std::thread> threads;
        {
            std::lock_guard lock(s_->mutex);
            if (!s_->running) return;
            s_->stopping = true;
            threads.swap(s_->threads);
        }
        s_->cv.notify_all();
        s_->renew_cv.notify_all();
        for (auto& t : threads) t.join();
        {
            std::lock_guard lock(s_->mutex);
            s_->running = false;
            s_->candidates.clear();
        }
        try {
            flush(false);
        } catch (const std::exception& e) {
            note_error(e.what());
        }
        emit("s3queue.workers-stopped", {{"workerId", s_->o.worker_id}});
    }
    bool processing() const {
        std::lock_guard lock(s_->mutex);
        return s_->running;
    }

    /// Processes what is visible now on the calling thread, until a LIST finds nothing to claim;
    /// returns how many handler runs it made. Leases are not renewed meanwhile: for tools and
    /// tests with handlers shorter than 5/6 of the visibility timeout (a longer run is fenced).
    std::size_t drain(const S3QueueHandler& handler) {
        auto b = require_backend();
        std::size_t runs = 0;
        for (;;) {
            flush(false);
            auto found = scan(*b, s_->o.batch, true);
            if (found.empty()) return runs;
            for (auto& c : found) runs += process(*b, c, handler) ? 1 : 0;
        }
    }

    /// Deletes the live keys of ended messages: those ended visibility_timeout ago, or all with
    /// `all` (only when no other worker may hold an older LIST). Returns the keys deleted.
    std::size_t flush(bool all) {
        auto b = backend();
        if (!b) return 0;
        std::vector<Deletion> due;
        {
            std::lock_guard lock(s_->mutex);
            const std::int64_t now = now_ms();
            auto& q = s_->deletions;
            while (!q.empty() && (all || q.front().due <= now)) {
                due.push_back(std::move(q.front()));
                q.pop_front();
            }
        }
        if (due.empty()) return 0;
        // Messages first, in requests of their own: DeleteObjects may remove its keys in any order
        // (RGW does), and a message listed without its claims would look unclaimed and run again.
        std::vector<std::string> messages;
        for (auto& d : due) messages.push_back(d.keys.front());
        std::set<std::string> kept;
        auto remove = [&](const std::vector<std::string>& keys, std::set<std::string>* failed) {
            std::size_t removed = 0;
            for (std::size_t at = 0; at < keys.size(); at += max_delete_keys) {
                std::vector<std::string> part(keys.begin() + at, keys.begin() + std::min(keys.size(), at + max_delete_keys));
                auto r = b->store->remove_many(part);
                removed += part.size() - r.failed.size();
                if (failed)
                    for (auto& f : r.failed) failed->insert(f.key);
            }
            return removed;
        };
        std::size_t removed = remove(messages, &kept);
        std::vector<std::string> rest;
        for (auto& d : due) {
            if (kept.count(d.keys.front())) {
                std::lock_guard lock(s_->mutex);
                s_->deletions.push_back(std::move(d));  // its message is still there: later
                continue;
            }
            rest.insert(rest.end(), d.keys.begin() + 1, d.keys.end());
        }
        return removed + remove(rest, nullptr);
    }

    // ---- reading ----

    /// Counts per status: LISTs of q/, d/, dead/ and failed/ (every page). A message whose end is
    /// written counts as ended even while its live keys wait for deletion.
    S3QueueStats stats() {
        auto b = require_backend();
        auto ended = list_names(*b, "d/");
        auto dead = list_names(*b, "dead/");
        auto failed = list_names(*b, "failed/");
        // A marker counts once its end is written (it is written just before).
        std::erase_if(dead, [&](const std::string& seq) { return !ended.count(seq); });
        std::erase_if(failed, [&](const std::string& seq) { return !ended.count(seq); });
        S3QueueStats st;
        st.dead = dead.size();
        st.failed = failed.size();
        st.completed = ended.size() - std::min<std::size_t>(ended.size(), dead.size() + failed.size());
        const std::int64_t now = now_ms();
        std::lock_guard lock(s_->mutex);
        bool complete = false;
        for (auto& g : groups(*b, SIZE_MAX, now, {}, SIZE_MAX, complete)) {
            if (!g.has_message || ended.count(g.seq)) continue;
            if (g.claims == 0 || g.released) ++st.pending;
            else ++st.processing;
        }
        return st;
    }

    /// Messages ended (completed, failed or dead): the LIST pages of d/ only.
    std::uint64_t ended_count() { return list_names(*require_backend(), "d/").size(); }

    /// The ended entry of a message (s3db.js's fields), by its queue id; nullopt while it is live.
    std::optional<json> ended_entry(std::string_view queue_id) {
        auto b = require_backend();
        for (auto& seq : list_names(*b, "d/"))
            if (seq.size() > queue_id.size() && seq.substr(seq.size() - queue_id.size()) == queue_id)
                if (auto o = b->store->get(b->base + "d/" + seq)) return strip(json::parse(o->body));
        return std::nullopt;
    }

    /// The dead letter records.
    std::vector<json> dead_letters() { return require_backend()->dead_letters(); }

    std::uint64_t handled() const noexcept { return s_->handled.load(); }   // handler runs here
    std::uint64_t acked() const noexcept { return s_->acked.load(); }       // completions written here
    std::uint64_t conflicts() const noexcept { return s_->conflicts.load(); }  // claims lost to others
    std::uint64_t fenced() const noexcept { return s_->fenced.load(); }  // acks/nacks refused: lease ran out

    /// The claims' lease options: ttl = visibility_timeout, given up locally visibility_timeout/6
    /// early (the margin an ack has to land before any observer can take the claim over).
    LeaseOptions lease_options() const {
        LeaseOptions l;
        l.ttl = s_->o.visibility_timeout;
        l.safety_margin = s_->o.visibility_timeout / 6;
        l.max_clock_skew = std::chrono::milliseconds(0);  // takeovers are judged by observed ETag age, not expiresAt
        l.holder = s_->o.worker_id;
        l.wall_clock = s_->o.clock;
        return l;
    }

private:
    static constexpr std::string_view alnum = "0123456789abcdefghijklmnopqrstuvwxyz";

    struct Backend {
        std::unique_ptr<TransportRef> store;
        std::unique_ptr<LeaseService> leases;  // claims are leases at the queue's own keys
        std::string base;  // plugin=s3queue/<resource>/
        DatabaseRef db;
        std::string target, dead;  // the queued resource and the dead letters' (both by name: created later is fine)

        json insert(json data) const { return db.resource(target).insert(std::move(data)); }
        std::optional<json> get(const std::string& id) const { return db.resource(target).get_or_null(id); }
        void insert_dead(json record) const {
            try {
                db.resource(dead).insert(std::move(record));
            } catch (const AlreadyExists&) {  // written before a crash: once is enough
            }
        }
        void remove_dead(const std::string& id) const {
            if (db.has_resource(dead)) db.resource(dead).remove(id);
        }
        std::vector<json> dead_letters() const { return db.has_resource(dead) ? db.resource(dead).list() : std::vector<json>{}; }
    };

    /// One live message as a LIST shows it.
    struct Group {
        std::string seq, original_id;
        bool has_message = false, released = false;
        int claims = 0;  // the highest attempt claimed
        std::string claim_key, release_key;
        std::int64_t release_delay = 0;
        std::vector<std::string> keys;  // message first
        bool visible = false, stale = false;
    };
    struct Candidate {
        Group g;
        std::int64_t listed_at = 0;
    };
    struct Seen {
        std::string etag;
        std::int64_t since = 0;
        std::uint64_t generation = 0;
    };
    struct Held {
        Lease lease;  // the claim: valid() on this process's steady clock
        // When it was last sent (claim or renewal), on the steady clock too: renewals follow the
        // validity they extend, whatever the wall clock (options.clock) does.
        std::chrono::steady_clock::time_point renewed{};
    };
    struct Deletion {
        std::int64_t due = 0;
        std::vector<std::string> keys;
    };
    struct State {
        S3QueueOptions o;
        mutable std::mutex mutex;
        std::condition_variable cv, renew_cv;
        std::shared_ptr<const Backend> backend;
        S3QueueHandler handler;
        bool running = false, stopping = false;
        std::vector<std::thread> threads;
        std::deque<Candidate> candidates;
        std::set<std::string> inflight;  // messages taken from candidates and not finished here
        std::size_t busy = 0;
        bool found_work = false;
        std::map<std::string, Seen> seen;  // key -> its ETag and since when this process sees it
        std::uint64_t generation = 0;
        std::map<std::string, Held> held;
        std::deque<Deletion> deletions;
        std::size_t order_counter = 0;
        int spread = 0;  // claims met others' lately: sample candidates at random for this many scans
        std::string cursor;   // the seq past which scans resume
        std::int64_t next_full = 0;  // when a scan lists from the beginning again
        std::string last_error;
        std::atomic<std::uint64_t> handled{0}, acked{0}, conflicts{0}, errors{0}, fenced{0};
    };

    // ---- helpers ----

    std::int64_t now_ms() const {
        return std::chrono::duration_cast<std::chrono::milliseconds>(s_->o.clock().time_since_epoch()).count();
    }
    static std::string iso(std::int64_t ms) {
        std::time_t t = ms / 1000;
        std::tm tm{};
        ::gmtime_r(&t, &tm);
        char buf[32];
        std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
        char out[40];
        std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms % 1000));
        return out;
    }
    std::string order_key(std::int64_t now) {
        std::uint64_t n;
        {
            std::lock_guard lock(s_->mutex);
            n = s_->order_counter++ % 1000;
        }
        std::uint64_t v = static_cast<std::uint64_t>(now) * 1000 + n;
        if (s_->o.ordering == QueueOrdering::lifo) v = 9'999'999'999'999'999ULL - v;
        std::string s = std::to_string(v);
        return std::string(16 - std::min<std::size_t>(16, s.size()), '0') + s;
    }
    static std::string with_nonce(json body) {
        body["_n"] = random_id(16, alnum);  // every version's ETag is its own
        return body.dump();
    }
    static json strip(json j) {
        j.erase("_n");
        return j;
    }
    std::shared_ptr<const Backend> backend() const {
        std::lock_guard lock(s_->mutex);
        return s_->backend;
    }
    std::shared_ptr<const Backend> require_backend() const {
        auto b = backend();
        if (!b) throw PluginError(name, "resource '" + s_->o.resource + "': the queue works once installed (db.connect())");
        return b;
    }
    void note_error(const std::string& what) {
        s_->errors.fetch_add(1);
        {
            std::lock_guard lock(s_->mutex);
            s_->last_error = what;
        }
        emit("s3queue.error", {{"workerId", s_->o.worker_id}, {"error", what}});
    }

    /// Creates `key` with If-None-Match. True: created by this call; false: it existed. A lost
    /// answer is settled by a HEAD (the body's ETag is unique); S3QueueOutcomeUnknown when not.
    bool create(const Backend& b, const std::string& key, const std::string& body) {
        for (int attempt = 1;; ++attempt) {
            std::string cause;
            try {
                b.store->put(key, body, PutOptions{.content_type = "application/json", .if_none_match = true});
                return true;
            } catch (const PreconditionFailed& e) {
                if (!e.after_unanswered_attempt()) return false;
                cause = e.what();
            } catch (const TransportError& e) {
                if (!detail::outcome_unknown(e)) throw;
                cause = e.what();
            }
            std::optional<ObjectInfo> now;
            try {
                now = b.store->head(key);
            } catch (const TransportError& e) {
                throw S3QueueOutcomeUnknown(s_->o.resource, key, cause + "; the read to settle it failed: " + e.what());
            }
            if (now) return detail::etag_equal(now->etag, detail::etag_of(body));
            if (attempt >= 5) throw S3QueueOutcomeUnknown(s_->o.resource, key, cause);
            // Not there: it did not land; send it again.
        }
    }

    /// Overwrites `key` if its ETag is still `etag`; the new ETag, or nullopt when it changed.
    std::optional<std::string> replace(const Backend& b, const std::string& key, const std::string& etag,
                                       const std::string& body) {
        std::string cause;
        try {
            return b.store->put(key, body, PutOptions{.content_type = "application/json", .if_match = etag}).etag;
        } catch (const PreconditionFailed& e) {
            if (!e.after_unanswered_attempt()) return std::nullopt;
            cause = e.what();
        } catch (const TransportError& e) {
            if (!detail::outcome_unknown(e)) throw;
            cause = e.what();
        }
        auto now = b.store->head(key);
        const std::string ours = detail::etag_of(body);
        if (now && detail::etag_equal(now->etag, ours)) return ours;
        return std::nullopt;
    }

    std::set<std::string> list_names(const Backend& b, const std::string& sub) {
        std::set<std::string> out;
        const std::string prefix = b.base + sub;
        ListOptions o{.prefix = prefix};
        for (;;) {
            auto page = b.store->list(o);
            for (auto& e : page.objects) out.insert(e.key.substr(prefix.size()));
            if (!page.truncated()) return out;
            o.continuation_token = page.next_continuation_token;
        }
    }

    /// The live messages in LIST order from after `start_after` (a seq; empty: the beginning),
    /// reading pages (1 LIST each) until `want` of them are visible, the listing ends, or `pages`
    /// pages were read; with what this process has seen of their claims. `complete`: the listing
    /// ended. Call with s_->mutex held (it is released during each request).
    std::vector<Group> groups(const Backend& b, std::size_t pages, std::int64_t now, const std::string& start_after,
                              std::size_t want, bool& complete) {
        const std::string prefix = b.base + "q/";
        std::vector<Group> out;
        std::map<std::string, std::size_t> at;
        const std::uint64_t gen = ++s_->generation;
        // '~' sorts after every child name (c=, m=, r=): the listing resumes after the whole message.
        ListOptions o{.prefix = prefix, .start_after = start_after.empty() ? std::string{} : prefix + start_after + "/~"};
        complete = false;
        std::size_t judged = 0, visible = 0;
        for (std::size_t n = 0; n < pages; ++n) {
            s_->mutex.unlock();  // workers go on during the request
            ListPage page;
            try {
                page = b.store->list(o);
            } catch (...) {
                s_->mutex.lock();
                throw;
            }
            s_->mutex.lock();
            // A version is seen from the answer on: it landed before then, so no earlier (the
            // scan's start would date it up to one scan too early, and take a claim over early).
            const std::int64_t answered = std::max(now, now_ms());
            for (auto& e : page.objects) {
                std::string_view rest = std::string_view(e.key).substr(prefix.size());
                const auto slash = rest.find('/');
                if (slash == std::string_view::npos || rest.size() < slash + 3) continue;
                const std::string seq(rest.substr(0, slash));
                std::string_view child = rest.substr(slash + 1);
                auto [it, fresh] = at.try_emplace(seq, out.size());
                if (fresh) {
                    out.emplace_back();
                    out.back().seq = seq;
                }
                Group& g = out[it->second];
                if (child.starts_with("m=")) {
                    g.has_message = true;
                    g.original_id = std::string(child.substr(2));
                    g.keys.insert(g.keys.begin(), e.key);
                    continue;
                }
                g.keys.push_back(e.key);
                auto& seen = s_->seen[e.key];
                if (!detail::etag_equal(seen.etag, e.etag)) seen = Seen{e.etag, answered, gen};
                seen.generation = gen;
                if (child.starts_with("c=")) {
                    const int n_attempt = std::atoi(std::string(child.substr(2)).c_str());
                    if (n_attempt > g.claims) {
                        g.claims = n_attempt;
                        g.claim_key = e.key;
                    }
                } else if (child.starts_with("r=")) {
                    const auto dash = child.find('-');
                    const int n_attempt = std::atoi(std::string(child.substr(2, dash - 2)).c_str());
                    if (n_attempt >= g.claims) {
                        g.release_key = e.key;
                        g.release_delay = dash == std::string_view::npos ? 0 : std::atoll(std::string(child.substr(dash + 1)).c_str());
                    }
                }
            }
            if (!page.truncated()) complete = true;
            // The last message of a page may have more keys on the next one: judged with the next.
            const std::size_t ready = complete ? out.size() : (out.empty() ? 0 : out.size() - 1);
            for (; judged < ready; ++judged) {
                judge(out[judged], now);
                visible += out[judged].has_message && out[judged].visible;
            }
            if (complete || visible >= want) break;
            o.continuation_token = page.next_continuation_token;
        }
        out.resize(judged);
        if (complete && start_after.empty())
            std::erase_if(s_->seen, [&](auto& kv) { return kv.second.generation != gen && !s_->held.count(kv.first); });
        return out;
    }

    /// Whether a listed message can be claimed now (call with s_->mutex held).
    void judge(Group& g, std::int64_t now) {
        const int release_attempt =
            g.release_key.empty() ? 0 : std::atoi(g.release_key.substr(g.release_key.rfind("r=") + 2).c_str());
        g.released = g.claims > 0 && release_attempt == g.claims;
        if (g.claims == 0) g.visible = true;
        else if (g.released) g.visible = now >= s_->seen[g.release_key].since + g.release_delay;
        else {
            const bool ours = s_->held.count(g.claim_key) > 0;
            g.stale = !ours && now >= s_->seen[g.claim_key].since + s_->o.visibility_timeout.count();
            g.visible = g.stale;
        }
    }

    /// One poll: the visible messages to try, at most `batch`. Polls list from a cursor past the
    /// messages this process saw held or waiting (ended ones stay listed until their deletion); a
    /// full listing from the beginning runs every visibility_timeout/3, when a release this process
    /// saw comes due, and (with `thorough`, for drain) when the cursor's finds nothing.
    std::vector<Candidate> scan(const Backend& b, std::size_t batch, bool thorough) {
        std::lock_guard lock(s_->mutex);
        const std::int64_t now = now_ms();
        std::set<std::string> queued;
        for (auto& c : s_->candidates) queued.insert(c.g.seq);
        std::vector<Candidate> visible;
        for (int round = 0; round < 2; ++round) {
            const bool full = s_->cursor.empty() || round == 1 || now >= s_->next_full;
            if (full) {
                s_->next_full = now + s_->o.visibility_timeout.count() / 3;
                s_->cursor.clear();
            }
            const std::string start = s_->cursor;
            bool complete = false;
            auto found = groups(b, 10, now, start, batch, complete);
            std::vector<std::size_t> takeable;
            for (std::size_t i = 0; i < found.size(); ++i) {
                auto& g = found[i];
                if (g.released && !g.visible)
                    s_->next_full = std::min(s_->next_full, s_->seen[g.release_key].since + g.release_delay);
                if (g.has_message && g.visible && !s_->inflight.count(g.seq) && !queued.count(g.seq)) takeable.push_back(i);
            }
            if (takeable.size() > batch) {
                if (s_->spread > 0) {
                    // Other consumers take from the same listing: each takes its own random sample
                    // (kept in order), so they seldom meet on one message.
                    std::mt19937_64 rng(detail::random_u64());
                    std::shuffle(takeable.begin(), takeable.end(), rng);
                    takeable.resize(batch);
                    std::sort(takeable.begin(), takeable.end());
                } else takeable.resize(batch);
            }
            // The cursor moves past the leading messages nobody can take now and those taken here.
            std::string cursor = start;
            std::size_t next_taken = 0;
            for (std::size_t i = 0; i < found.size(); ++i) {
                const bool taken = next_taken < takeable.size() && takeable[next_taken] == i;
                if (taken) ++next_taken;
                else if (found[i].has_message && found[i].visible) break;
                cursor = found[i].seq;
            }
            for (auto i : takeable) visible.push_back(Candidate{std::move(found[i]), now});
            s_->cursor = cursor;
            if (!visible.empty() || full || !thorough) break;
        }
        if (s_->spread > 0) --s_->spread;
        return visible;
    }

    static std::string queue_id_of(const std::string& seq) { return seq.substr(seq.find('-') + 1); }
    std::int64_t queued_at(const std::string& seq) const {
        std::uint64_t v = std::strtoull(seq.substr(0, seq.find('-')).c_str(), nullptr, 10);
        if (s_->o.ordering == QueueOrdering::lifo) v = 9'999'999'999'999'999ULL - v;
        return static_cast<std::int64_t>(v / 1000);
    }
    static std::string attempt_name(int n) {
        std::string s = std::to_string(n);
        return std::string(s.size() < 4 ? 4 - s.size() : 0, '0') + s;
    }

    /// Claims and runs one candidate. True when its handler ran here.
    bool process(const Backend& b, const Candidate& c, const S3QueueHandler& handler) {
        const Group& g = c.g;
        if (now_ms() - c.listed_at > s_->o.visibility_timeout.count() / 6) return false;  // too old to trust
        const int attempt = g.claims + 1;
        const std::string qid = queue_id_of(g.seq);
        const std::string claim_key = b.base + "q/" + g.seq + "/c=" + attempt_name(attempt);
        const std::int64_t claimed_at = now_ms();
        const auto claim_sent = std::chrono::steady_clock::now();
        std::optional<Lease> lease;
        try {
            lease = b.leases->try_create_at(claim_key, qid, static_cast<std::uint64_t>(attempt));
        } catch (const LeaseError& e) {
            throw S3QueueOutcomeUnknown(s_->o.resource, claim_key, e.what());
        } catch (const TransportError& e) {
            if (!detail::outcome_unknown(e)) throw;
            throw S3QueueOutcomeUnknown(s_->o.resource, claim_key, e.what());
        }
        if (!lease) {
            s_->conflicts.fetch_add(1);
            std::lock_guard lock(s_->mutex);
            s_->spread = 64;
            return false;
        }
        const std::string token = lease->nonce;
        std::vector<std::string> keys = g.keys;
        keys.push_back(claim_key);
        {
            std::lock_guard lock(s_->mutex);
            s_->seen[claim_key] = Seen{lease->etag, claimed_at, s_->generation};
            // Held from here on: renewed by the renewer thread, never judged stale by this process.
            s_->held[claim_key] = Held{*lease, claim_sent};
        }
        struct Unhold {
            S3Queue* q;
            const std::string& key;
            ~Unhold() {
                std::lock_guard lock(q->s_->mutex);
                q->s_->held.erase(key);
            }
        } unhold{this, claim_key};
        // A claim that landed late (a stalled thread, a retrying transport): the LIST it came from
        // may be older than the deletion of an ended message's keys (visibility_timeout/3 after its
        // end), and this claim may have re-created the deleted c=N of a message already run. Only
        // the end tells: read it (1 GET, only on this rare path and on retries).
        const bool late = now_ms() - c.listed_at >= s_->o.visibility_timeout.count() / 4;
        json entry = {{"id", qid},          {"originalId", g.original_id},  {"status", "processing"},
                      {"queuedAt", queued_at(g.seq)}, {"createdAt", iso(queued_at(g.seq))},
                      {"visibleAt", claimed_at + s_->o.visibility_timeout.count()},
                      {"claimedBy", s_->o.worker_id}, {"claimedAt", claimed_at}, {"lockToken", token},
                      {"attempts", attempt}, {"maxAttempts", s_->o.max_attempts}, {"error", nullptr},
                      {"result", nullptr},  {"completedAt", nullptr}};
        if (attempt > 1 || late) {
            // A stale holder may have ended it after all: then only finish what it left.
            if (auto ended = b.store->get(b.base + "d/" + g.seq)) {
                json e = json::parse(ended->body);
                after_end(b, g.seq, e, keys);
                return false;
            }
            if (attempt > 1 && !g.released) emit("s3queue.message-recovered", {{"queueId", qid}, {"originalId", g.original_id}, {"attempts", attempt}});
        }
        if (attempt > s_->o.max_attempts) {
            entry["error"] = "visibility timeout expired after " + std::to_string(attempt - 1) + " attempts";
            end(b, g.seq, entry, s_->o.dead_letter ? "dead" : "failed", keys, std::nullopt);
            return false;
        }
        auto record = b.get(g.original_id);
        if (!record) {
            entry["error"] = "record '" + g.original_id + "' of resource '" + s_->o.resource + "' does not exist";
            end(b, g.seq, entry, s_->o.dead_letter ? "dead" : "failed", keys, std::nullopt);
            return false;
        }
        S3QueueContext ctx;
        ctx.queue_id = qid;
        ctx.original_id = g.original_id;
        ctx.worker_id = s_->o.worker_id;
        ctx.lock_token = token;
        ctx.attempts = attempt;
        ctx.max_attempts = s_->o.max_attempts;
        ctx.visible_until = claimed_at + s_->o.visibility_timeout.count();
        s_->handled.fetch_add(1);
        try {
            json result = handler(*record, ctx);
            if (s_->o.auto_acknowledge && ctx.outcome_ == S3QueueContext::Outcome::none) ctx.ack(std::move(result));
        } catch (const std::exception& e) {
            ctx.nack(e.what());
        } catch (...) {
            ctx.nack("unknown exception");
        }
        // The fence: a holder whose lease ran out on its own steady clock (renewals failed, or the
        // process was paused past the timeout) may have been taken over; it neither acks nor
        // nacks. The taker, which read d/ after its claim, ends the message instead.
        bool valid = false;
        {
            std::lock_guard lock(s_->mutex);
            auto it = s_->held.find(claim_key);
            valid = it != s_->held.end() && it->second.lease.valid();
        }
        if (!valid && ctx.outcome_ != S3QueueContext::Outcome::none) {
            s_->fenced.fetch_add(1);
            note_error("claim '" + claim_key + "' expired before its " +
                       (ctx.outcome_ == S3QueueContext::Outcome::ack ? "ack" : "nack") + ": not written");
            emit("s3queue.message-fenced", {{"queueId", qid}, {"originalId", g.original_id}, {"attempts", attempt}});
            return true;
        }
        if (ctx.outcome_ == S3QueueContext::Outcome::ack) {
            entry["result"] = ctx.result_;
            end(b, g.seq, entry, "completed", keys, std::nullopt);
        } else if (ctx.outcome_ == S3QueueContext::Outcome::nack) {
            entry["error"] = ctx.error_;
            if (attempt < s_->o.max_attempts) {
                const std::int64_t delay = std::min<std::int64_t>(s_->o.retry_cap.count(),
                                                                  s_->o.retry_base.count() << std::min(attempt - 1, 30));
                const std::string rkey = b.base + "q/" + g.seq + "/r=" + attempt_name(attempt) + "-" + std::to_string(delay);
                const std::string rbody = with_nonce({{"queueId", qid}, {"attempt", attempt}, {"error", ctx.error_},
                                                      {"visibleAt", now_ms() + delay}});
                create(b, rkey, rbody);
                std::lock_guard lock(s_->mutex);
                s_->seen[rkey] = Seen{detail::etag_of(rbody), now_ms(), s_->generation};
                s_->next_full = std::min(s_->next_full, now_ms() + delay);
                emit("s3queue.message-retry", {{"queueId", qid}, {"originalId", g.original_id}, {"attempts", attempt},
                                               {"error", ctx.error_}, {"delay", delay}});
            } else {
                end(b, g.seq, entry, s_->o.dead_letter ? "dead" : "failed", keys, record);
            }
        }
        // Neither: the claim expires and the message is delivered again.
        return true;
    }

    /// Writes the end of a message (once per message), then what follows it. A dead or failed end
    /// writes its marker (and dead letter) first, so whoever sees the end sees them too; if another
    /// writer ended the message otherwise, they are taken back.
    void end(const Backend& b, const std::string& seq, json entry, const std::string& status,
             const std::vector<std::string>& keys, const std::optional<json>& record) {
        const std::int64_t now = now_ms();
        entry["status"] = status;
        entry["completedAt"] = iso(now);
        entry["queuedAt"] = queued_at(seq);
        if (record) entry["data"] = *record;
        if (status != "completed") before_end(b, seq, entry);
        const std::string end_key = b.base + "d/" + seq;
        const bool ours = create(b, end_key, with_nonce(entry));
        if (!ours) {
            if (status != "completed") {
                auto winner = b.store->get(end_key);
                const std::string theirs = winner ? json::parse(winner->body).value("status", "") : "";
                if (theirs != status) {
                    b.store->remove(b.base + status + "/" + seq);
                    if (status == "dead") b.remove_dead(entry["id"].get<std::string>());
                }
            }
            emit("s3queue.message-outcome", {{"queueId", entry["id"]}, {"status", "already-ended"}});
            schedule(keys);
            return;
        }
        if (status == "completed") s_->acked.fetch_add(1);
        schedule(keys);
        emit(status == "completed" ? "s3queue.message-completed" : "s3queue.message-" + status,
             {{"queueId", entry["id"]}, {"originalId", entry["originalId"]}, {"attempts", entry["attempts"]},
              {"error", entry["error"]}, {"result", entry["result"]}});
    }

    /// The dead letter and the status marker of a dead or failed end (repeatable).
    void before_end(const Backend& b, const std::string& seq, const json& entry) {
        const std::string status = entry.value("status", "completed");
        if (status == "dead") {
            json data = entry.contains("data") ? entry["data"] : json(nullptr);
            if (data.is_null()) {
                try {
                    if (auto r = b.get(entry.value("originalId", ""))) data = *r;
                } catch (const std::exception&) {
                }
            }
            b.insert_dead(json{{"id", entry["id"]}, {"originalId", entry["originalId"]}, {"queueId", entry["id"]},
                               {"data", data}, {"error", entry["error"].is_string() ? entry["error"] : json("")},
                               {"attempts", entry["attempts"]}});
        }
        if (status == "dead" || status == "failed") b.store->put(b.base + status + "/" + seq, "", PutOptions{});
    }

    /// What an end found by a later taker still needs (a writer may have died before them).
    void after_end(const Backend& b, const std::string& seq, const json& entry, const std::vector<std::string>& keys) {
        before_end(b, seq, entry);
        schedule(keys);
    }

    void schedule(std::vector<std::string> keys) {
        if (keys.empty()) return;
        std::lock_guard lock(s_->mutex);
        s_->deletions.push_back(Deletion{now_ms() + s_->o.visibility_timeout.count() / 3, std::move(keys)});
    }

    /// Renews the held claims due (1 PUT each, If-Match through the lease service). A claim whose
    /// lease ran out locally is not renewed (it cannot be acked either).
    void renew_due(const Backend& b) {
        std::vector<std::pair<std::string, Lease>> due;
        {
            std::lock_guard lock(s_->mutex);
            const auto now = std::chrono::steady_clock::now();
            for (auto& [k, h] : s_->held)
                if (now - h.renewed >= s_->o.visibility_timeout / 3) due.emplace_back(k, h.lease);
        }
        for (auto& [key, lease] : due) {
            const std::int64_t at = now_ms();
            const auto sent = std::chrono::steady_clock::now();
            bool ok = false;
            try {
                ok = b.leases->renew(lease);
            } catch (const std::exception& e) {
                note_error(std::string("lease renewal: ") + e.what());
                continue;  // still valid locally until its time: tried again next round
            }
            std::lock_guard lock(s_->mutex);
            auto it = s_->held.find(key);
            if (it == s_->held.end()) continue;
            it->second.lease = lease;
            if (!ok) {
                s_->last_error = "lease of '" + key + "' lost";
                continue;
            }
            it->second.renewed = sent;
            s_->seen[key] = Seen{lease.etag, at, s_->generation};
        }
    }

    /// Renewals on a thread of their own: the poller's LISTs and deletions (many requests when the
    /// store is slow) must not delay them past the timeout, when others take the claims over while
    /// their handlers still run.
    void renewer(std::shared_ptr<State> s) {
        auto b = backend();
        const auto step = std::chrono::milliseconds(std::max<std::int64_t>(1, s->o.visibility_timeout.count() / 12));
        for (;;) {
            try {
                renew_due(*b);
            } catch (const std::exception& e) {
                note_error(e.what());
            }
            std::unique_lock lock(s->mutex);
            if (s->renew_cv.wait_for(lock, step, [&] { return s->stopping; })) return;
        }
    }

    void poller(std::shared_ptr<State> s) {
        auto b = backend();
        std::int64_t next_poll = 0;
        const auto step = std::chrono::milliseconds(std::max<std::int64_t>(
            1, std::min<std::int64_t>(s->o.poll_interval.count(), s->o.visibility_timeout.count() / 6)));
        for (;;) {
            {
                std::unique_lock lock(s->mutex);
                if (s->stopping) return;
            }
            try {
                flush(false);
                bool poll_now;
                {
                    std::lock_guard lock(s->mutex);
                    const bool idle = s->candidates.empty() && s->busy < s->o.concurrency;
                    poll_now = idle && (now_ms() >= next_poll || s->found_work);
                }
                if (poll_now) {
                    auto found = scan(*b, s->o.batch, false);
                    std::lock_guard lock(s->mutex);
                    s->found_work = !found.empty();
                    for (auto& c : found) s->candidates.push_back(std::move(c));
                    next_poll = now_ms() + s->o.poll_interval.count();
                    s->cv.notify_all();
                }
            } catch (const std::exception& e) {
                note_error(e.what());
                next_poll = now_ms() + s->o.poll_interval.count();
            }
            std::unique_lock lock(s->mutex);
            if (s->stopping) return;
            s->cv.wait_for(lock, step, [&] {
                return s->stopping || (s->candidates.empty() && s->found_work && s->busy < s->o.concurrency);
            });
        }
    }

    void worker(std::shared_ptr<State> s) {
        auto b = backend();
        for (;;) {
            Candidate c;
            S3QueueHandler handler;
            {
                std::unique_lock lock(s->mutex);
                s->cv.wait(lock, [&] { return s->stopping || !s->candidates.empty(); });
                if (s->stopping) return;
                c = std::move(s->candidates.front());
                s->candidates.pop_front();
                s->inflight.insert(c.g.seq);
                ++s->busy;
                handler = s->handler;
            }
            try {
                process(*b, c, handler);
            } catch (const std::exception& e) {
                note_error(e.what());
            }
            std::lock_guard lock(s->mutex);
            s->inflight.erase(c.g.seq);
            --s->busy;
            if (s->candidates.empty()) s->cv.notify_all();
        }
    }

    std::shared_ptr<State> s_;
};

}  // namespace s3db
