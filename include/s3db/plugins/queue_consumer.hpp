#pragma once
// QueueConsumer: messages from external queues (SQS; RabbitMQ as an opt-in driver) applied to the
// database's resources, s3db.js's message contract:
//
//   {"resource": "users", "action": "insert" | "update" | "delete", "data": {"id": "u1", ...}}
//   (the same object may come nested under "$body", as an object or as a JSON string)
//
//   insert → resource.insert(data); update → resource.update(data.id, data without id);
//   delete → resource.remove(data.id).
//
//   BasicDatabase<S3, QueueConsumer> db(s3, {}, QueueConsumer({.consumers = {{
//       .name = "users-in", .resources = {"users"},
//       .driver = std::make_shared<SqsQueue>(SqsQueueOptions{.queue = "users.fifo", .dead_letter_queue = "users-dlq.fifo"})}}}));
//   db.plugin<QueueConsumer>().publish("users-in", {{"resource", "users"}, {"action", "insert"}, {"data", {{"id", "u1"}}}});
//
// Each consumer is one queue (its driver) and the resources its messages may name; `concurrency`
// worker threads start in on_start, each long-polling its queue, and stop in on_stop: the stop flag
// cancels a long poll in flight (within about a second, no waiting out WaitTimeSeconds) and a worker
// finishes only the message it is applying. Messages a stopped worker had received and not applied
// are not acknowledged: the broker delivers them again.
//
// Delivery is at least once: a message is acknowledged (SQS: DeleteMessageBatch after each received
// batch) only after it was applied; a worker that dies before that leaves it to be delivered again.
// So applying a message twice must leave the database as applying it once (the idempotence rule):
//  - insert of an id that exists counts as done when every field the message gives equals the
//    stored record's (it is this message, applied before); different data is a real conflict
//    (QueueError, dead-lettered). An insert without data.id gets an id derived from the broker's
//    message id (stable across redeliveries), so a redelivery finds its own record instead of
//    inserting a second one.
//  - update merges the same fields again (a merge is idempotent); delete of a missing id is done.
//  - Ordering between messages is the broker's: SQS standard queues promise none, so a stale
//    redelivery could undo a later change; use a FIFO queue with one message group per record
//    (what publish() sends by default): SQS then holds a group's next message until the current one
//    is deleted, so a redelivery is always of the newest change of its record. Within a received
//    batch, once a message of a group fails, the group's later messages are left for redelivery.
//
// Failures: a message that cannot be applied is not acknowledged. It is dead-lettered by the plugin
// (moved to the driver's dead-letter queue with the error, then deleted) when the failure is
// permanent (QueueError: no resource/action/data/id, not JSON, a resource the consumer does not
// serve, an insert conflict; ValidationError, InvalidId) or when it has been delivered
// `max_receive_count` times (SQS: ApproximateReceiveCount); otherwise it is left to the broker's
// visibility timeout (or made visible again after `retry_delay`, when the driver has one). Why the
// plugin moves it rather than SQS's redrive policy: the dead letter then carries why it failed (as a
// message attribute), permanent failures go at once instead of after maxReceiveCount tries, and it
// works on queues whose redrive the application does not own. Without a dead-letter queue, the
// message is left to the queue's own RedrivePolicy (or redelivered forever). Moving is send then
// delete: a crash between leaves the message in both (at least once, again). RabbitMQ (s3db.js's
// behaviour): every failure is nacked without requeue, so the queue's dead-letter exchange takes it
// at once (queue_consumer/rabbitmq.hpp).
//
// Costs per message applied: the resource operation's own (insert 1 PUT; update 1 GET + 1 PUT;
// delete 1 DELETE, +1 GET with partitions/hooks; an insert redelivered over its own record: its
// refused PUT + 1 GET), plus the broker's: SQS 1 ReceiveMessage per batch of up to 10 and 1
// DeleteMessageBatch per batch; an idle worker makes 1 ReceiveMessage per `wait_time` (long poll).
// publish: 1 SendMessage (RabbitMQ: basic.publish and its confirm).
//
// Events (db.on_plugin_event): "queue-consumer.applied" {consumer, resource, action, id, duplicate},
// "queue-consumer.error" {consumer, message, error, dead}. Thread-safety: publish and stats from
// any thread.
//
// Its bodies (and SqsQueue's) are inline in every mode: the umbrella s3db.hpp, which the
// compiled-once implementation file compiles, does not include this plugin.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "s3db/core/plugin.hpp"
#include "s3db/core/resource_ref.hpp"
#include "s3db/detail/config.hpp"
#include "s3db/detail/hashing.hpp"
#include "s3db/errors.hpp"
#include "s3db/plugins/queue_consumer/driver.hpp"
#include "s3db/plugins/queue_consumer/sqs.hpp"

namespace s3db {

/// One consumer: a queue (its driver) and what its messages may do.
struct QueueConsumerConfig {
    std::string name{};                   // publish(name, …); "" → the driver's describe()
    std::vector<std::string> resources{};  // the resources its messages may name; empty: any
    std::shared_ptr<QueueDriver> driver{};
    std::size_t concurrency = 1;  // worker threads, each with its own long poll
    std::size_t batch_size = 10;  // messages per receive (SQS: at most 10)
};

struct QueueConsumerOptions {
    bool enabled = true;  // false: no worker starts (publish still works)
    std::vector<QueueConsumerConfig> consumers{};
    /// A message delivered this many times without being applied is dead-lettered.
    int max_receive_count = 5;
    /// After a receive fails (broker unreachable), the wait before the next, doubled up to 30 s.
    std::chrono::milliseconds error_backoff{500};
};

struct QueueConsumerStats {
    std::uint64_t received = 0;
    std::uint64_t applied = 0;     // acknowledged after being applied (duplicates included)
    std::uint64_t duplicates = 0;  // inserts found already applied (a redelivery)
    std::uint64_t failed = 0;      // deliveries that failed and were left for redelivery
    std::uint64_t dead_lettered = 0;
    std::uint64_t receive_errors = 0;
};

namespace detail {

/// A message's command, checked: resource, action and data (an object); id for update/delete.
struct QueueCommand {
    std::string resource, action, id;
    json data;
    bool id_derived = false;  // an insert without data.id: id from the message id
};

/// Parses a body under the contract (see the header comment); throws QueueError (permanent).
inline QueueCommand parse_queue_message(std::string_view consumer, const QueueMessage& m);

/// The id an insert without one gets: the same for every delivery of one broker message.
inline std::string queue_message_record_id(std::string_view consumer, const QueueMessage& m);

/// Whether `stored` holds every field of `given` with the same value (an insert already applied).
inline bool queue_same_fields(const json& given, const json& stored);

/// Applies `c` to `res`; returns true when it was found already applied (insert duplicate).
inline bool apply_queue_command(std::string_view consumer, const ResourceRef& res, QueueCommand& c) {
    if (c.action == "insert") {
        try {
            res.insert(c.data);
            return false;
        } catch (const AlreadyExists&) {
            auto stored = res.get_or_null(c.id);
            if (stored && queue_same_fields(c.data, *stored)) return true;
            throw QueueError(std::string(consumer), c.resource, c.id,
                             stored ? "insert of an id that exists with other data" : "insert raced a delete of its id",
                             stored.has_value());  // a conflict stays one; a race may not
        }
    }
    if (c.action == "update") {
        json rest = c.data;
        rest.erase("id");
        res.update(c.id, rest);
        return false;
    }
    res.remove(c.id);  // idempotent: a missing id is done
    return false;
}

/// Whether an error means the message can never be applied (dead-letter it at once).
inline bool queue_permanent(const std::exception& e) noexcept;

}  // namespace detail

class QueueConsumer : public Plugin<QueueConsumer> {
public:
    static constexpr std::string_view name = "QueueConsumer";

    explicit QueueConsumer(QueueConsumerOptions options = {}) : state_(std::make_shared<State>(std::move(options))) {
        for (auto& c : state_->options.consumers)
            if (c.name.empty() && c.driver) c.name = c.driver->describe();
    }

    const QueueConsumerOptions& options() const noexcept { return state_->options; }

    void validate() const {
        std::set<std::string> names;
        for (auto& c : state_->options.consumers) {
            if (!c.driver) throw ConfigError("QueueConsumer: consumer '" + c.name + "' has no driver");
            if (c.concurrency == 0) throw ConfigError("QueueConsumer: consumer '" + c.name + "': concurrency must be at least 1");
            if (c.batch_size == 0) throw ConfigError("QueueConsumer: consumer '" + c.name + "': batch_size must be at least 1");
            if (!names.insert(c.name).second) throw ConfigError("QueueConsumer: two consumers are named '" + c.name + "'");
        }
        if (state_->options.max_receive_count < 1) throw ConfigError("QueueConsumer: max_receive_count must be at least 1");
    }

    template <class Db>
    void on_install(Db& db) {
        state_->db = DatabaseRef(db);
    }

    void on_start() {
        state_->emit = [self = this](std::string_view e, const json& d) {
            if (self->listened(e)) self->emit(e, d);
        };
        state_->start();
    }
    void on_stop() { state_->stop(); }

    PluginHealth health() const {
        auto s = stats();
        return {true, std::to_string(s.applied) + " messages applied, " + std::to_string(s.failed) + " failed, " +
                          std::to_string(s.dead_lettered) + " dead-lettered"};
    }

    /// Sends `message` ({resource, action, data}) to consumer `consumer`'s queue. Checked first:
    /// QueueError (nothing sent) when the consumer does not exist or the message breaks the contract.
    /// FIFO queues: the group is "<resource>:<data.id>" (one per record), else the resource.
    inline void publish(const std::string& consumer, const json& message);

    QueueConsumerStats stats() const {
        auto& s = *state_;
        return {s.received.load(), s.applied.load(), s.duplicates.load(), s.failed.load(), s.dead_lettered.load(),
                s.receive_errors.load()};
    }

    /// Waits until `pred(stats())` holds (false after `timeout`): for tests and graceful drains.
    bool wait_for(const std::function<bool(const QueueConsumerStats&)>& pred, std::chrono::milliseconds timeout) const {
        const auto until = std::chrono::steady_clock::now() + timeout;
        while (!pred(stats())) {
            if (std::chrono::steady_clock::now() >= until) return false;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return true;
    }

private:
    struct State {
        QueueConsumerOptions options;
        DatabaseRef db;
        std::function<void(std::string_view, const json&)> emit;
        std::atomic<bool> stopping{false};
        std::mutex mutex;  // workers, sleeping
        std::condition_variable wake;
        std::vector<std::thread> workers;
        std::atomic<std::uint64_t> received{0}, applied{0}, duplicates{0}, failed{0}, dead_lettered{0}, receive_errors{0};

        explicit State(QueueConsumerOptions o) : options(std::move(o)) {}
        ~State() { stop(); }

        /// Applies a command to its resource; true when it was found already applied.
        bool apply(std::string_view consumer, detail::QueueCommand& c) const {
            if (!db.has_resource(c.resource))  // may be created later: not permanent
                throw QueueError(std::string(consumer), c.resource, c.id, "the database has no such resource", false);
            return detail::apply_queue_command(consumer, db.resource(c.resource), c);
        }
        inline void start();
        inline void stop();
        inline void run(const QueueConsumerConfig& c);
        /// Applies a batch; returns the messages to acknowledge.
        inline std::vector<QueueMessage> handle(const QueueConsumerConfig& c, std::vector<QueueMessage>& batch);
        /// Sleeps `d` unless stopping; false when stopping.
        inline bool pause(std::chrono::milliseconds d);
    };

    std::shared_ptr<State> state_;
};

}  // namespace s3db

namespace s3db {
namespace detail {

inline QueueCommand parse_queue_message(std::string_view consumer, const QueueMessage& m) {
    auto refuse = [&](const std::string& why, std::string resource = {}, std::string id = {}) {
        return QueueError(std::string(consumer), std::move(resource), std::move(id), "message " + m.id + ": " + why, true);
    };
    json doc = json::parse(m.body, nullptr, false);
    if (doc.is_discarded()) throw refuse("the body is not JSON");
    if (doc.is_object() && doc.contains("$body") && !doc.contains("resource")) {
        doc = doc["$body"];
        if (doc.is_string()) doc = json::parse(doc.get<std::string>(), nullptr, false);
    }
    if (!doc.is_object()) throw refuse("the body is not a JSON object");
    QueueCommand c;
    auto r = doc.find("resource");
    if (r == doc.end() || !r->is_string() || r->get<std::string>().empty()) throw refuse("no resource (a string) in the message");
    c.resource = r->get<std::string>();
    auto a = doc.find("action");
    if (a == doc.end() || !a->is_string()) throw refuse("no action (a string) in the message", c.resource);
    c.action = a->get<std::string>();
    if (c.action != "insert" && c.action != "update" && c.action != "delete")
        throw refuse("action '" + printable_message(c.action) + "' is none of insert, update, delete", c.resource);
    auto d = doc.find("data");
    if (d == doc.end() || !d->is_object()) throw refuse("no data (an object) in the message", c.resource);
    c.data = std::move(*d);
    if (auto id = c.data.find("id"); id != c.data.end()) {
        if (!id->is_string() || id->get<std::string>().empty()) throw refuse("data.id is not a non-empty string", c.resource);
        c.id = id->get<std::string>();
    } else if (c.action == "insert") {
        c.id = queue_message_record_id(consumer, m);
        c.data["id"] = c.id;
        c.id_derived = true;
    } else {
        throw refuse(c.action + " without data.id", c.resource);
    }
    return c;
}

inline std::string queue_message_record_id(std::string_view consumer, const QueueMessage& m) {
    return sha256_hex(std::string(consumer) + '\0' + m.id).substr(0, 22);
}

inline bool queue_same_fields(const json& given, const json& stored) {
    for (auto& [k, v] : given.items()) {
        auto s = stored.find(k);
        if (s == stored.end() || *s != v) return false;
    }
    return true;
}

inline bool queue_permanent(const std::exception& e) noexcept {
    if (auto q = dynamic_cast<const QueueError*>(&e)) return q->permanent();
    return dynamic_cast<const ValidationError*>(&e) || dynamic_cast<const InvalidId*>(&e) ||
           dynamic_cast<const RecordTooLarge*>(&e);
}

}  // namespace detail

inline void QueueConsumer::publish(const std::string& consumer, const json& message) {
    auto& cs = state_->options.consumers;
    auto c = std::find_if(cs.begin(), cs.end(), [&](auto& x) { return x.name == consumer; });
    if (c == cs.end()) throw QueueError(consumer, {}, {}, "no consumer of that name to publish through", true);
    std::string body = message.dump();  // throws on invalid UTF-8, before anything is sent
    QueueMessage probe{.id = "publish", .body = body};
    auto cmd = detail::parse_queue_message(consumer, probe);
    if (!c->resources.empty() && std::find(c->resources.begin(), c->resources.end(), cmd.resource) == c->resources.end())
        throw QueueError(consumer, cmd.resource, cmd.id_derived ? std::string{} : cmd.id, "the consumer does not serve this resource", true);
    c->driver->publish(body, cmd.id_derived ? cmd.resource : cmd.resource + ":" + cmd.id);
}

inline void QueueConsumer::State::start() {
    std::lock_guard lock(mutex);
    if (!options.enabled || !workers.empty()) return;
    stopping = false;
    for (auto& c : options.consumers)
        for (std::size_t i = 0; i < c.concurrency; ++i) workers.emplace_back([this, &c] { run(c); });
}

inline void QueueConsumer::State::stop() {
    std::vector<std::thread> joining;
    {
        std::lock_guard lock(mutex);
        stopping = true;
        joining.swap(workers);
    }
    wake.notify_all();
    for (auto& t : joining)
        if (t.joinable()) t.join();
}

inline bool QueueConsumer::State::pause(std::chrono::milliseconds d) {
    std::unique_lock lock(mutex);
    return !wake.wait_for(lock, d, [&] { return stopping.load(); });
}

inline void QueueConsumer::State::run(const QueueConsumerConfig& c) {
    auto backoff = options.error_backoff;
    while (!stopping) {
        std::vector<QueueMessage> batch;
        try {
            batch = c.driver->receive(c.batch_size, stopping);
            backoff = options.error_backoff;
        } catch (const std::exception& e) {
            if (stopping) break;
            ++receive_errors;
            if (emit) emit("queue-consumer.error", json{{"consumer", c.name}, {"message", nullptr}, {"error", e.what()}, {"dead", false}});
            if (!pause(backoff)) break;
            backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(30));
            continue;
        }
        received += batch.size();
        auto done = handle(c, batch);
        if (done.empty()) continue;
        try {
            c.driver->ack(done);
            applied += done.size();
        } catch (const std::exception& e) {
            // Applied but not acknowledged: they come back and are found applied (idempotence rule).
            ++receive_errors;
            if (emit) emit("queue-consumer.error", json{{"consumer", c.name}, {"message", nullptr}, {"error", e.what()}, {"dead", false}});
        }
    }
    try {
        c.driver->worker_done();
    } catch (const std::exception&) {  // only closing: what it held is redelivered either way
    }
}

inline std::vector<QueueMessage> QueueConsumer::State::handle(const QueueConsumerConfig& c, std::vector<QueueMessage>& batch) {
    std::vector<QueueMessage> done;
    std::set<std::string> blocked;  // FIFO groups with a failed message in this batch
    for (auto& m : batch) {
        if (stopping) break;  // the rest are redelivered
        if (!m.group.empty() && blocked.contains(m.group)) continue;
        std::string error;
        bool permanent = false;
        try {
            auto cmd = detail::parse_queue_message(c.name, m);
            if (!c.resources.empty() && std::find(c.resources.begin(), c.resources.end(), cmd.resource) == c.resources.end())
                throw QueueError(c.name, cmd.resource, cmd.id, "message " + m.id + ": the consumer does not serve this resource", true);
            if (!db) throw QueueError(c.name, cmd.resource, cmd.id, "the plugin is not installed", false);
            const bool duplicate = apply(c.name, cmd);
            if (duplicate) ++duplicates;
            if (emit)
                emit("queue-consumer.applied",
                     json{{"consumer", c.name}, {"resource", cmd.resource}, {"action", cmd.action}, {"id", cmd.id}, {"duplicate", duplicate}});
            done.push_back(std::move(m));
            continue;
        } catch (const QueueError& e) {
            error = e.what();
            permanent = e.permanent();
        } catch (const std::exception& e) {  // the database's: named with the consumer and message
            error = "queue consumer '" + c.name + "' message " + m.id + ": " + e.what();
            permanent = detail::queue_permanent(e);
        }
        const bool dead = permanent || m.receive_count >= options.max_receive_count;
        bool moved = false;
        try {
            moved = c.driver->fail(m, error, dead);
        } catch (const std::exception& e) {
            error += std::string("; then: ") + e.what();
        }
        if (moved) ++dead_lettered;
        else ++failed;
        if (!moved && !m.group.empty()) blocked.insert(m.group);
        if (emit) emit("queue-consumer.error", json{{"consumer", c.name}, {"message", m.id}, {"error", error}, {"dead", moved}});
    }
    return done;
}

}  // namespace s3db
