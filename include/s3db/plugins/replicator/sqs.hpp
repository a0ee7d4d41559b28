#pragma once
// SqsTarget: each change as one message on an SQS queue, sent with SendMessageBatch through the
// library's SQS client (transport/sqs.hpp: JSON protocol, SigV4, pooled libcurl, retry policy).
//
//   SqsTarget sqs({.endpoint = "http://127.0.0.1:4566", .credentials = Credentials{"key", "secret"},
//                  .queue = "changes", .queues = {{"orders", "orders.fifo"}}, .create_queues = true});
//
// Queues: `queues` maps a destination resource (its name after the ResourceMap's renaming) to a
// queue, `queue` is the queue of every other resource. Each is a queue URL, used as given, or a
// name, resolved once with GetQueueUrl (and created with CreateQueue when `create_queues`; names
// ending in .fifo get FifoQueue=true). A batch with a resource that has no queue, or whose queue
// does not exist, fails whole before anything is sent (not retried).
//
// Message body, s3db.js's SQS replicator's shape (plus `id`):
//   {"resource": <destination>, "action": "insert"|"update"|"delete", "id": <id>,
//    "data": <the record as written; {"id": <id>} for a delete>, "timestamp": <ISO time of the write>,
//    "source": "s3db-replicator"}
// s3db.js adds `before` (the record before an update) from a GET per write; the Replicator reads
// nothing per write, so it is not sent. Characters SQS refuses in a body that JSON can escape
// (U+FFFE, U+FFFF) are sent as \u escapes: the decoded JSON is the record as written.
// `message_attributes` are sent on every message as String attributes.
//
// FIFO queues (URL or name ending in .fifo): MessageGroupId is the destination resource (so a
// resource's changes keep their order), or what `message_group` returns for the delivery.
// MessageDeduplicationId is the SHA-256 of (destination, source, id, action, the write's log entry
// id), or of the record's content without the durable log: a write replayed after a crash has the
// same id, and SQS drops it when the first send arrived less than its 5-minute window ago. (s3db.js
// uses `<resource>:<action>:<id>`, which also drops a second, different update of a record within
// those 5 minutes.)
//
// Batches: at most 10 entries and `max_batch_bytes` (SQS's 256 KiB: bodies plus attributes) per
// request; a delivery is split into as many requests as that takes, per queue, in order. A message
// larger than `max_batch_bytes` alone is not sent and fails (not retried).
//
// Failures: a request that fails with a throttling code, 5xx, 429 or no answer is tried again under
// `retry` (the S3 transport's RetryPolicy: full-jitter backoff, budget). Entries SendMessageBatch
// lists as Failed are sent again, alone, under the same policy when SQS says the fault is its own
// (SenderFault false); those with SenderFault true fail alone: the ReplicationError lists them in
// failed() (not retryable: their changes are marked failed, retry_failed() tries again), the others
// count as delivered. A request that still fails after its retries throws a retryable
// ReplicationError for the whole batch (the Replicator tries it again later). A retried entry may land after a later one of
// its batch. Errors name queues by URL without user info or query, never the credentials.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "s3db/detail/config.hpp"
#include "s3db/errors.hpp"
#include "s3db/detail/encoding.hpp"
#include "s3db/detail/hashing.hpp"
#include "s3db/detail/time.hpp"
#include "s3db/plugins/replicator/common.hpp"
#include "s3db/plugins/replicator/webhook.hpp"
#include "s3db/transport/s3/retry.hpp"
#include "s3db/transport/sqs.hpp"

namespace s3db {

struct SqsOptions {
    /// "" → AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL, else https://sqs.<region>.amazonaws.com.
    std::string endpoint{};
    std::string region{};                      // "" → AWS_REGION, ..., "us-east-1"
    std::optional<Credentials> credentials{};  // unset → the environment, then ~/.aws/credentials
    std::string queue{};                       // every resource's queue but those in `queues`: URL or name
    std::map<std::string, std::string> queues{};  // destination resource → queue URL or name
    bool create_queues = false;                    // create a queue named and missing
    std::map<std::string, std::string> queue_attributes{};  // CreateQueue's Attributes
    std::function<std::string(const Delivery&)> message_group{};  // FIFO group; unset: the destination resource
    std::map<std::string, std::string> message_attributes{};      // String attributes on every message
    std::size_t max_batch_bytes = 256 * 1024;
    std::chrono::milliseconds timeout{10'000};  // one request
    RetryPolicy retry{};

    SqsClientOptions client_options() const { return {endpoint, region, credentials, timeout, retry}; }
};

namespace detail {

/// The message body for `d` (see the header comment).
S3DB_DECL std::string sqs_message_body(const Delivery& d);

/// MessageDeduplicationId for `d`: hex SHA-256, the same for a replay of the same write.
S3DB_DECL std::string sqs_deduplication_id(const Delivery& d);

/// The size SQS counts for a message: its body plus each attribute's name, type and value.
S3DB_DECL std::size_t sqs_message_size(std::string_view body, const std::map<std::string, std::string>& attributes);

}  // namespace detail

class SqsTarget {
public:
    S3DB_DECL explicit SqsTarget(SqsOptions options, ResourceMap resources = ResourceMap::all(), std::string name = "sqs");

    std::string target_name() const { return name_; }
    const ResourceMap& resources() const noexcept { return resources_; }
    const SqsOptions& options() const noexcept { return state_->options; }

    /// The URL of the queue `resource` (a destination resource) goes to, resolved (and created)
    /// on first use. Throws ReplicationError when it has none or it does not exist.
    S3DB_DECL std::string queue_url(const std::string& resource);

    /// HTTP requests sent so far (every attempt, queue lookups included).
    std::uint64_t requests() const noexcept { return state_->client.requests(); }

    S3DB_DECL void deliver(const std::vector<Delivery>& batch);

private:
    struct Failure {
        std::size_t index;  // in the delivered batch
        std::string why;
    };

    /// Sends `entries` (batch indexes, one queue) in requests of ≤ 10 entries and ≤ max_batch_bytes.
    S3DB_DECL void send(const std::string& url, const std::vector<Delivery>& batch, const std::vector<std::size_t>& indexes,
                        std::vector<Failure>& failures);
    S3DB_DECL void send_request(const std::string& url, const std::vector<Delivery>& batch, std::vector<json> entries,
                                std::vector<Failure>& failures);
    S3DB_DECL std::string resolve(const std::string& queue);

    struct State {
        SqsOptions options;
        detail::SqsClient client;
        std::mutex mutex;                         // resolved
        std::map<std::string, std::string> resolved;  // queue name → URL
        explicit State(SqsOptions o) : options(std::move(o)), client(options.client_options()) {}
    };

    ResourceMap resources_;
    std::string name_;
    std::shared_ptr<State> state_;  // shared: targets are moved into the plugin
};

}  // namespace s3db

#if S3DB_DEFINE_BODIES
namespace s3db {
namespace detail {

S3DB_DECL std::string sqs_message_body(const Delivery& d) {
    json m = {{"resource", d.resource},
              {"action", d.action},
              {"id", d.id},
              {"data", d.action == "delete" || d.data.is_null() ? json{{"id", d.id}} : d.data},
              {"timestamp", iso_string(d.timestamp_ms)},
              {"source", "s3db-replicator"}};
    std::string body = m.dump();  // throws on invalid UTF-8: that change fails, alone
    // U+FFFE and U+FFFF (EF BF BE / EF BF BF) occur only inside JSON strings: escape them there.
    std::string out;
    out.reserve(body.size());
    for (std::size_t i = 0; i < body.size(); ++i) {
        if (body[i] == '\xEF' && i + 2 < body.size() && body[i + 1] == '\xBF' && (body[i + 2] == '\xBE' || body[i + 2] == '\xBF')) {
            out += body[i + 2] == '\xBE' ? "\\ufffe" : "\\uffff";
            i += 2;
        } else {
            out += body[i];
        }
    }
    return out;
}

S3DB_DECL std::string sqs_deduplication_id(const Delivery& d) {
    Hasher h(Digest::sha256);
    for (std::string_view part : {std::string_view(d.resource), std::string_view(d.source), std::string_view(d.id),
                                  std::string_view(d.action)}) {
        h.update(part);
        h.update(std::string_view("\0", 1));
    }
    h.update(d.write_id.empty() ? d.data.dump() : "w:" + d.write_id);
    return to_hex(h.finish());
}

S3DB_DECL std::size_t sqs_message_size(std::string_view body, const std::map<std::string, std::string>& attributes) {
    std::size_t n = body.size();
    for (auto& [k, v] : attributes) n += k.size() + std::string_view("String").size() + v.size();
    return n;
}

}  // namespace detail

S3DB_DECL SqsTarget::SqsTarget(SqsOptions options, ResourceMap resources, std::string name)
    : resources_(std::move(resources)), name_(std::move(name)) {
    if (options.queue.empty() && options.queues.empty())
        throw ConfigError("SqsTarget '" + name_ + "': give a queue (URL or name) or a queues map");
    if (options.max_batch_bytes == 0) throw ConfigError("SqsTarget '" + name_ + "': max_batch_bytes is 0");
    state_ = std::make_shared<State>(std::move(options));
}

S3DB_DECL std::string SqsTarget::queue_url(const std::string& resource) {
    auto& o = state_->options;
    auto it = o.queues.find(resource);
    const std::string& queue = it != o.queues.end() ? it->second : o.queue;
    if (queue.empty()) throw ReplicationError(name_, resource, {}, "no queue for this resource (SqsOptions::queues, queue)", false);
    return resolve(queue);
}

S3DB_DECL std::string SqsTarget::resolve(const std::string& queue) {
    if (queue.find("://") != std::string::npos) return queue;
    {
        std::lock_guard lock(state_->mutex);
        if (auto it = state_->resolved.find(queue); it != state_->resolved.end()) return it->second;
    }
    auto& o = state_->options;
    std::string url;
    try {
        url = state_->client.queue_url(queue, o.create_queues, o.queue_attributes);
    } catch (const TransportError& e) {
        throw ReplicationError(name_, {}, {}, "queue '" + queue + "': " + e.what(), e.retryable());
    }
    std::lock_guard lock(state_->mutex);
    state_->resolved[queue] = url;
    return url;
}

S3DB_DECL void SqsTarget::deliver(const std::vector<Delivery>& batch) {
    // Every queue first: when one cannot be found nothing is sent (the Replicator fails or retries
    // the whole batch, so changes sent now would be sent again).
    std::vector<std::pair<std::string, std::vector<std::size_t>>> by_queue;  // in first-use order
    std::map<std::string, std::string> url_of;                               // resource → URL
    for (std::size_t i = 0; i < batch.size(); ++i) {
        auto& r = batch[i].resource;
        auto known = url_of.find(r);
        if (known == url_of.end()) known = url_of.emplace(r, queue_url(r)).first;
        auto q = std::find_if(by_queue.begin(), by_queue.end(), [&](auto& p) { return p.first == known->second; });
        if (q == by_queue.end()) q = by_queue.insert(by_queue.end(), {known->second, {}});
        q->second.push_back(i);
    }
    std::vector<Failure> failures;
    for (auto& [url, indexes] : by_queue) send(url, batch, indexes, failures);
    if (failures.empty()) return;
    auto& first = batch[failures.front().index];
    std::string what = std::to_string(failures.size()) + " of " + std::to_string(batch.size()) + " messages refused: " + failures.front().why;
    std::vector<std::size_t> refused;
    for (auto& f : failures) refused.push_back(f.index);
    throw ReplicationError(name_, first.resource, first.id, what, false, std::move(refused));
}

S3DB_DECL void SqsTarget::send(const std::string& url, const std::vector<Delivery>& batch, const std::vector<std::size_t>& indexes,
                              std::vector<Failure>& failures) {
    auto& o = state_->options;
    const bool fifo = detail::sqs_fifo(url);
    json attributes = json::object();
    for (auto& [k, v] : o.message_attributes) attributes[k] = {{"DataType", "String"}, {"StringValue", v}};
    std::vector<json> entries;
    std::size_t bytes = 0;
    for (std::size_t i : indexes) {
        auto& d = batch[i];
        std::string body;
        try {
            body = detail::sqs_message_body(d);
        } catch (const json::exception& e) {
            failures.push_back({i, std::string("the record cannot be sent as JSON: ") + e.what()});
            continue;
        }
        const std::size_t size = detail::sqs_message_size(body, o.message_attributes);
        if (size > o.max_batch_bytes) {
            failures.push_back({i, "the message is " + std::to_string(size) + " bytes, more than the " +
                                       std::to_string(o.max_batch_bytes) + " SQS takes"});
            continue;
        }
        if (!entries.empty() && (entries.size() == 10 || bytes + size > o.max_batch_bytes)) {
            send_request(url, batch, std::move(entries), failures);
            entries.clear();
            bytes = 0;
        }
        json e = {{"Id", std::to_string(i)}, {"MessageBody", std::move(body)}};
        if (!attributes.empty()) e["MessageAttributes"] = attributes;
        if (fifo) {
            e["MessageGroupId"] = o.message_group ? o.message_group(d) : d.resource;
            e["MessageDeduplicationId"] = detail::sqs_deduplication_id(d);
        }
        entries.push_back(std::move(e));
        bytes += size;
    }
    if (!entries.empty()) send_request(url, batch, std::move(entries), failures);
}

S3DB_DECL void SqsTarget::send_request(const std::string& url, const std::vector<Delivery>& batch, std::vector<json> entries,
                                      std::vector<Failure>& failures) {
    auto& client = state_->client;
    try {
        // Entries SQS failed on its side are thrown as one retryable error, so the retry policy
        // sends them (and only them) again after its backoff.
        client.retrier().run(detail::RetryMode::idempotent, [&](int) {
            json answer = client.call_once("SendMessageBatch", {{"QueueUrl", url}, {"Entries", entries}});
            std::vector<json> again;
            std::string code, message;
            for (auto& f : answer.value("Failed", json::array())) {
                const std::string id = f.value("Id", std::string{});
                auto e = std::find_if(entries.begin(), entries.end(), [&](const json& x) { return x["Id"] == id; });
                if (e == entries.end()) continue;
                const std::string c = detail::printable_message(f.value("Code", std::string{}));
                const std::string m = detail::printable_message(f.value("Message", std::string{}));
                if (f.value("SenderFault", true)) {
                    failures.push_back({std::stoul(id), c + (m.empty() ? "" : ": " + m)});
                } else {
                    again.push_back(*e);  // copied: a later Failed item may look through `entries` again
                    code = c;
                    message = m;
                }
            }
            entries = std::move(again);
            if (!entries.empty())
                throw TransportError("SQS SendMessageBatch failed " + std::to_string(entries.size()) + " entries: " + message,
                                     {200, code, {}, {}, true});
        });
    } catch (const TransportError& e) {
        auto& first = batch[std::stoul(entries.front()["Id"].get<std::string>())];
        throw ReplicationError(name_, first.resource, {}, "SendMessageBatch to " + detail::redacted_url(url) + ": " + e.what(),
                               e.retryable());
    }
}

}  // namespace s3db
#endif  // S3DB_DEFINE_BODIES
