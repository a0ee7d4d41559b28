#pragma once
// What the QueueConsumer needs from a broker (QueueDriver), the message as a driver hands it over
// (QueueMessage), and the consumer's typed error (QueueError). Drivers: SqsQueue
// (queue_consumer/sqs.hpp), RabbitMqQueue (queue_consumer/rabbitmq.hpp, opt-in: links rabbitmq-c).

#include <atomic>
#include <cstddef>
#include <string>
#include <vector>

#include "s3db/errors.hpp"

namespace s3db {

/// A message the QueueConsumer could not apply, or may not publish: names the consumer, and the
/// resource and record id when the message got that far. `permanent()`: it can never be applied
/// as it is (dead-lettered at once) — as opposed to a failure that a redelivery may get past.
class QueueError : public Error {
public:
    QueueError(std::string consumer, std::string resource, std::string id, const std::string& what, bool permanent)
        : Error("queue consumer '" + consumer + "'" + (resource.empty() ? std::string{} : " resource '" + resource + "'") +
                (id.empty() ? std::string{} : " record '" + InvalidKey::printable(id) + "'") + ": " + what),
          consumer_(std::move(consumer)), resource_(std::move(resource)), id_(std::move(id)), permanent_(permanent) {}
    const std::string& consumer() const noexcept { return consumer_; }
    const std::string& resource() const noexcept { return resource_; }
    const std::string& id() const noexcept { return id_; }
    bool permanent() const noexcept { return permanent_; }

private:
    std::string consumer_, resource_, id_;
    bool permanent_;
};

/// One message as a driver received it.
struct QueueMessage {
    std::string id{};         // the broker's id, the same on every delivery (SQS MessageId)
    std::string body{};
    std::string handle{};     // the driver's token for this delivery (SQS receipt handle)
    std::string group{};      // FIFO message group; "" when the queue has none
    int receive_count = 1;    // deliveries so far, this one included (SQS ApproximateReceiveCount)
};

/// A broker queue behind one consumer. Called from the consumer's worker threads at once: a driver
/// is thread-safe.
class QueueDriver {
public:
    virtual ~QueueDriver() = default;
    /// How errors and the default consumer name call it (never with credentials).
    virtual std::string describe() const = 0;
    /// Up to `max` messages, waiting for the first up to the driver's long poll; returns soon (or
    /// throws) once `stop` turns true.
    virtual std::vector<QueueMessage> receive(std::size_t max, const std::atomic<bool>& stop) = 0;
    /// The messages were applied: remove them from the queue.
    virtual void ack(const std::vector<QueueMessage>& done) = 0;
    /// Applying `m` failed with `error`. `dead`: it should not be tried again — the driver moves it
    /// to its dead-letter queue and returns true, or returns false when it has none (the queue's own
    /// redrive decides). Otherwise it is left for redelivery (false).
    virtual bool fail(const QueueMessage& m, const std::string& error, bool dead) = 0;
    /// Sends `body`; `group` keeps one record's messages in order where the queue can (FIFO).
    virtual void publish(const std::string& body, const std::string& group) = 0;
    /// The calling worker thread stops receiving (a driver with per-thread connections closes its
    /// own, so deliveries it holds go back to the queue at once).
    virtual void worker_done() {}
};

}  // namespace s3db
