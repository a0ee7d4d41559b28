#pragma once
// SqsQueue: the QueueConsumer's SQS driver, over the library's SQS client (transport/sqs.hpp).
//
//   auto q = std::make_shared<SqsQueue>(SqsQueueOptions{.endpoint = "http://127.0.0.1:4566",
//       .queue = "users.fifo", .dead_letter_queue = "users-dead.fifo", .create_queues = true});
//
// Receive: ReceiveMessage with WaitTimeSeconds `wait_time` (long poll, cancelled on stop),
// MaxNumberOfMessages ≤ 10, VisibilityTimeout when set (else the queue's), asking for
// ApproximateReceiveCount and MessageGroupId. Acknowledge: DeleteMessageBatch (10 per request);
// entries SQS failed to delete are redelivered (and found applied). A failure: left to the
// visibility timeout, or made visible again after `retry_delay`·2^(receives−1) (ChangeMessageVisibility,
// at most 12 h) when `retry_delay` is set. Dead letter: SendMessage of the body to
// `dead_letter_queue` with String attributes s3db-error, s3db-source-queue, s3db-message-id,
// s3db-receive-count (FIFO: the same group, deduplicated by the source message id, so a move
// repeated after a crash within SQS's 5 minutes lands once), then DeleteMessage from the source.
// Publish: SendMessage; on a FIFO queue MessageGroupId is the group the consumer gives and
// MessageDeduplicationId is random per publish call (the same for its retries: a send whose answer
// was lost and is sent again lands once).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "s3db/detail/config.hpp"
#include "s3db/detail/encoding.hpp"
#include "s3db/detail/hashing.hpp"
#include "s3db/detail/random.hpp"
#include "s3db/errors.hpp"
#include "s3db/plugins/queue_consumer/driver.hpp"
#include "s3db/transport/sqs.hpp"

namespace s3db {

struct SqsQueueOptions {
    std::string endpoint{};                    // see SqsClientOptions
    std::string region{};
    std::optional<Credentials> credentials{};
    std::string queue{};                       // URL or name (resolved once with GetQueueUrl)
    std::string dead_letter_queue{};           // URL or name; "" → the queue's own RedrivePolicy decides
    bool create_queues = false;                // create the queues named and missing
    std::map<std::string, std::string> queue_attributes{};  // CreateQueue's Attributes (the source queue)
    std::chrono::seconds wait_time{10};        // long poll, 0–20
    std::optional<std::chrono::seconds> visibility_timeout{};  // per receive; unset: the queue's
    std::optional<std::chrono::seconds> retry_delay{};         // failed messages visible again after this
    std::chrono::milliseconds timeout{10'000};  // one request, beyond the long poll
    RetryPolicy retry{};
    std::size_t max_connections = 16;  // at least the consumer's concurrency + 1: a long poll holds one
};

class SqsQueue final : public QueueDriver {
public:
    inline explicit SqsQueue(SqsQueueOptions options);

    std::string describe() const override { return options_.queue; }
    const SqsQueueOptions& options() const noexcept { return options_; }
    /// The queue's and the dead-letter queue's URLs, resolved (created) on first use.
    inline std::string queue_url();
    inline std::string dead_letter_url();
    /// HTTP requests sent so far (every attempt).
    std::uint64_t requests() const noexcept { return client_.requests(); }
    detail::SqsClient& client() noexcept { return client_; }

    inline std::vector<QueueMessage> receive(std::size_t max, const std::atomic<bool>& stop) override;
    inline void ack(const std::vector<QueueMessage>& done) override;
    inline bool fail(const QueueMessage& m, const std::string& error, bool dead) override;
    inline void publish(const std::string& body, const std::string& group) override;

private:
    inline std::string resolve(const std::string& queue, std::string& cache, bool source);

    SqsQueueOptions options_;
    detail::SqsClient client_;
    std::mutex mutex_;  // the cached URLs
    std::string url_, dead_url_;
};

}  // namespace s3db

namespace s3db {

inline SqsQueue::SqsQueue(SqsQueueOptions options)
    : options_(std::move(options)),
      client_([&] {
          if (options_.queue.empty()) throw ConfigError("SqsQueue: give a queue (URL or name)");
          if (options_.wait_time < std::chrono::seconds(0) || options_.wait_time > std::chrono::seconds(20))
              throw ConfigError("SqsQueue '" + options_.queue + "': wait_time must be 0-20 s");
          return SqsClientOptions{options_.endpoint, options_.region, options_.credentials,
                                  options_.timeout + options_.wait_time, options_.retry, options_.max_connections};
      }()) {}

inline std::string SqsQueue::resolve(const std::string& queue, std::string& cache, bool source) {
    {
        std::lock_guard lock(mutex_);
        if (!cache.empty()) return cache;
    }
    std::string url = client_.queue_url(queue, options_.create_queues,
                                        source ? options_.queue_attributes : std::map<std::string, std::string>{});
    std::lock_guard lock(mutex_);
    cache = url;
    return url;
}

inline std::string SqsQueue::queue_url() { return resolve(options_.queue, url_, true); }

inline std::string SqsQueue::dead_letter_url() {
    if (options_.dead_letter_queue.empty()) return {};
    return resolve(options_.dead_letter_queue, dead_url_, false);
}

inline std::vector<QueueMessage> SqsQueue::receive(std::size_t max, const std::atomic<bool>& stop) {
    json req = {{"QueueUrl", queue_url()},
                {"MaxNumberOfMessages", std::clamp<std::size_t>(max, 1, 10)},
                {"WaitTimeSeconds", options_.wait_time.count()},
                {"AttributeNames", {"ApproximateReceiveCount", "MessageGroupId"}},
                {"MessageSystemAttributeNames", {"ApproximateReceiveCount", "MessageGroupId"}}};
    if (options_.visibility_timeout) req["VisibilityTimeout"] = options_.visibility_timeout->count();
    json answer = client_.call("ReceiveMessage", req, &stop);
    std::vector<QueueMessage> out;
    for (auto& m : answer.value("Messages", json::array())) {
        QueueMessage q;
        q.id = m.value("MessageId", std::string{});
        q.body = m.value("Body", std::string{});
        q.handle = m.value("ReceiptHandle", std::string{});
        auto attrs = m.value("Attributes", json::object());
        q.group = attrs.value("MessageGroupId", std::string{});
        try {
            q.receive_count = std::stoi(attrs.value("ApproximateReceiveCount", std::string("1")));
        } catch (const std::exception&) {
            q.receive_count = 1;
        }
        out.push_back(std::move(q));
    }
    return out;
}

inline void SqsQueue::ack(const std::vector<QueueMessage>& done) {
    const std::string url = queue_url();
    std::size_t failed = 0;
    std::string why;
    for (std::size_t i = 0; i < done.size(); i += 10) {
        json entries = json::array();
        for (std::size_t j = i; j < std::min(done.size(), i + 10); ++j)
            entries.push_back({{"Id", std::to_string(j)}, {"ReceiptHandle", done[j].handle}});
        json answer = client_.call("DeleteMessageBatch", {{"QueueUrl", url}, {"Entries", entries}});
        for (auto& f : answer.value("Failed", json::array())) {
            ++failed;
            why = detail::printable_message(f.value("Code", std::string{}) + " " + f.value("Message", std::string{}));
        }
    }
    if (failed)
        throw TransportError("SQS DeleteMessageBatch on " + options_.queue + " failed " + std::to_string(failed) + " of " +
                                 std::to_string(done.size()) + " entries: " + why,
                             {200, "BatchEntryFailed", {}, {}, true});
}

inline bool SqsQueue::fail(const QueueMessage& m, const std::string& error, bool dead) {
    if (dead && !options_.dead_letter_queue.empty()) {
        const std::string dlq = dead_letter_url();
        std::string why = detail::printable_message(error);
        if (why.size() > 1024) why.resize(1024);
        auto attr = [](const std::string& v) { return json{{"DataType", "String"}, {"StringValue", v.empty() ? "-" : v}}; };
        json req = {{"QueueUrl", dlq},
                    {"MessageBody", m.body},
                    {"MessageAttributes",
                     {{"s3db-error", attr(why)},
                      {"s3db-source-queue", attr(options_.queue)},
                      {"s3db-message-id", attr(m.id)},
                      {"s3db-receive-count", attr(std::to_string(m.receive_count))}}}};
        if (detail::sqs_fifo(dlq)) {
            req["MessageGroupId"] = m.group.empty() ? "dead" : m.group;
            req["MessageDeduplicationId"] = detail::sha256_hex(m.id).substr(0, 64);
        }
        client_.call("SendMessage", req);
        client_.call("DeleteMessage", {{"QueueUrl", queue_url()}, {"ReceiptHandle", m.handle}});
        return true;
    }
    if (options_.retry_delay) {
        const long long base = options_.retry_delay->count();
        const int doublings = std::clamp(m.receive_count - 1, 0, 20);
        const long long delay = std::min<long long>(base << doublings, 43'200);
        client_.call("ChangeMessageVisibility", {{"QueueUrl", queue_url()}, {"ReceiptHandle", m.handle}, {"VisibilityTimeout", delay}});
    }
    return false;
}

inline void SqsQueue::publish(const std::string& body, const std::string& group) {
    const std::string url = queue_url();
    json req = {{"QueueUrl", url}, {"MessageBody", body}};
    if (detail::sqs_fifo(url)) {
        req["MessageGroupId"] = group.empty() ? "default" : group.size() > 128 ? detail::sha256_hex(group) : group;  // SQS: ≤ 128 characters
        req["MessageDeduplicationId"] = detail::to_hex(detail::random_bytes(16));
    }
    client_.call("SendMessage", req);
}

}  // namespace s3db
