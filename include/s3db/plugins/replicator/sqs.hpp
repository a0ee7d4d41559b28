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
#include <set>
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

    /// From a connection string:
    ///   sqs://KEY:SECRET@sqs.eu-west-1.amazonaws.com/123456789012/orders.fifo   a queue URL (https)
    ///   sqs+http://KEY:SECRET@127.0.0.1:4566/changes?create=true&region=us-east-1  a queue name, plain HTTP
    /// The host (with its port) is the endpoint; a path of two segments is the queue's URL on it,
    /// of one segment a queue name (GetQueueUrl). KEY and SECRET are percent-decoded; without them
    /// the environment's credentials apply. Query: region (else taken from an AWS host name
    /// `sqs.<region>.amazonaws.com`), sessionToken, create (create_queues), group (one FIFO group
    /// for every message). Anything else, or a malformed URL, throws ConfigError that never shows
    /// the credentials.
    S3DB_DECL static SqsOptions from_url(std::string_view url);

    /// From s3db.js's SQS replicator config object (the seed's form): queueUrl, defaultQueueUrl,
    /// queues {resource: URL}, region, endpoint, credentials {accessKeyId, secretAccessKey,
    /// sessionToken}, messageGroupId (one FIFO group for every message), messageAttributes
    /// {name: {StringValue, DataType: "String"} or a string}, deduplicationId (true only:
    /// deduplication ids are always sent to FIFO queues, so a replay is received once),
    /// createQueues. Without `endpoint`, the origin of the first queue URL is the endpoint (and
    /// its AWS host name gives the region). Unknown keys throw ConfigError naming them.
    S3DB_DECL static SqsOptions from_config(const json& config);
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

namespace detail {

/// "eu-west-1" from "sqs.eu-west-1.amazonaws.com[:port]"; "" for any other host.
inline std::string sqs_region_of_host(std::string_view host) {
    host = host.substr(0, host.find(':'));
    constexpr std::string_view head = "sqs.", tail = ".amazonaws.com";
    if (host.size() <= head.size() + tail.size() || !host.starts_with(head) || !host.ends_with(tail)) return {};
    return std::string(host.substr(head.size(), host.size() - head.size() - tail.size()));
}

/// "https://host:port" of an http(s) URL; "" when it is not one.
inline std::string sqs_origin_of(std::string_view url) {
    for (std::string_view scheme : {"https://", "http://"}) {
        if (!url.starts_with(scheme)) continue;
        const auto end = url.find_first_of("/?#", scheme.size());
        return std::string(url.substr(0, end));
    }
    return {};
}

}  // namespace detail

S3DB_DECL SqsOptions SqsOptions::from_url(std::string_view url) {
    auto fail = [&](const std::string& why) {
        // Everything up to the last '@' may be credentials: never shown.
        const auto at = url.rfind('@');
        const std::string shown = at == std::string_view::npos ? std::string(url) : "sqs://…@" + std::string(url.substr(at + 1));
        return ConfigError("SqsOptions::from_url: " + why + " (" + shown + ")");
    };
    if (url.find('\0') != std::string_view::npos) throw fail("the URL holds a NUL");
    std::string scheme;
    for (std::string_view s : {"sqs+https://", "sqs+http://", "sqs://"})
        if (url.starts_with(s)) {
            scheme = s == "sqs+http://" ? "http://" : "https://";
            url.remove_prefix(s.size());
            break;
        }
    if (scheme.empty()) throw ConfigError("SqsOptions::from_url: expected sqs://, sqs+http:// or sqs+https://");
    SqsOptions o;
    std::string_view rest = url;
    if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
        const auto userinfo = rest.substr(0, at);
        const auto colon = userinfo.find(':');
        auto key = detail::uri_decode(userinfo.substr(0, colon));
        auto secret = colon == std::string_view::npos ? std::optional<std::string>{} : detail::uri_decode(userinfo.substr(colon + 1));
        if (!key || !secret || key->empty() || secret->empty() || key->find('\0') != std::string::npos ||
            secret->find('\0') != std::string::npos)
            throw fail("credentials must be KEY:SECRET, percent-encoded");
        o.credentials = Credentials{std::move(*key), std::move(*secret), ""};
        rest.remove_prefix(at + 1);
    }
    const auto query_at = rest.find('?');
    std::string_view query = query_at == std::string_view::npos ? std::string_view{} : rest.substr(query_at + 1);
    rest = rest.substr(0, query_at);
    const auto slash = rest.find('/');
    const std::string_view host = rest.substr(0, slash);
    std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    while (path.ends_with('/')) path.remove_suffix(1);
    if (host.empty()) throw fail("no host");
    if (host.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:[]") != std::string_view::npos)
        throw fail("the host may hold letters, digits, '.', '-', '_' and a port only");
    o.endpoint = scheme + std::string(host);
    if (path.empty()) throw fail("no queue: sqs://…@host/<queue name> or /<account>/<queue name>");
    const auto segments = std::count(path.begin(), path.end(), '/') + 1;
    auto decoded = detail::uri_decode(path);
    if (!decoded || decoded->find('\0') != std::string::npos) throw fail("the queue is not percent-encoded right");
    if (segments == 1) o.queue = std::move(*decoded);
    else if (segments == 2) o.queue = o.endpoint + "/" + std::string(path);
    else throw fail("the path is a queue name or <account>/<queue name>");
    o.region = detail::sqs_region_of_host(host);
    while (!query.empty()) {
        const auto amp = query.find('&');
        const auto pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (pair.empty()) continue;
        const auto eq = pair.find('=');
        const std::string name(pair.substr(0, eq));
        auto value = detail::uri_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
        if (!value || value->find('\0') != std::string::npos) throw fail("parameter '" + name + "' is not percent-encoded right");
        if (name == "region") o.region = std::move(*value);
        else if (name == "sessionToken") {
            if (!o.credentials) throw fail("sessionToken without KEY:SECRET");
            o.credentials->session_token = std::move(*value);
        } else if (name == "create") {
            if (*value == "true" || *value == "1") o.create_queues = true;
            else if (*value == "false" || *value == "0") o.create_queues = false;
            else throw fail("create must be true or false");
        } else if (name == "group") {
            if (value->empty()) throw fail("group is empty");
            o.message_group = [g = std::move(*value)](const Delivery&) { return g; };
        } else {
            throw fail("unknown parameter '" + name + "' (region, sessionToken, create, group)");
        }
    }
    return o;
}

S3DB_DECL SqsOptions SqsOptions::from_config(const json& c) {
    auto fail = [](const std::string& why) { return ConfigError("SqsOptions::from_config: " + why); };
    if (!c.is_object()) throw fail("the config is not an object");
    static const std::set<std::string> known = {"queueUrl", "defaultQueueUrl", "queues", "region", "endpoint", "credentials",
                                                "messageGroupId", "messageAttributes", "deduplicationId", "createQueues"};
    for (auto& [k, v] : c.items())
        if (!known.count(k)) throw fail("unknown key '" + k + "'");
    auto text = [&](const json& v, const std::string& what) {
        if (!v.is_string() || v.get_ref<const std::string&>().empty()) throw fail(what + " must be a non-empty string");
        return v.get<std::string>();
    };
    SqsOptions o;
    if (c.contains("queueUrl")) o.queue = text(c["queueUrl"], "queueUrl");
    if (c.contains("defaultQueueUrl")) {
        if (!o.queue.empty()) throw fail("give queueUrl or defaultQueueUrl, not both");
        o.queue = text(c["defaultQueueUrl"], "defaultQueueUrl");
    }
    if (c.contains("queues")) {
        if (!c["queues"].is_object()) throw fail("queues must be an object {resource: queue URL}");
        for (auto& [r, q] : c["queues"].items()) o.queues[r] = text(q, "queues." + r);
    }
    if (o.queue.empty() && o.queues.empty()) throw fail("no queue: queueUrl, defaultQueueUrl or queues");
    if (c.contains("region")) o.region = text(c["region"], "region");
    if (c.contains("endpoint")) o.endpoint = text(c["endpoint"], "endpoint");
    if (c.contains("credentials")) {
        const json& k = c["credentials"];
        if (!k.is_object() || !k.contains("accessKeyId") || !k.contains("secretAccessKey"))
            throw fail("credentials must be {accessKeyId, secretAccessKey[, sessionToken]}");
        o.credentials = Credentials{text(k["accessKeyId"], "credentials.accessKeyId"), text(k["secretAccessKey"], "credentials.secretAccessKey"),
                                    k.contains("sessionToken") ? text(k["sessionToken"], "credentials.sessionToken") : std::string{}};
    }
    if (c.contains("messageGroupId"))
        o.message_group = [g = text(c["messageGroupId"], "messageGroupId")](const Delivery&) { return g; };
    if (c.contains("messageAttributes")) {
        if (!c["messageAttributes"].is_object()) throw fail("messageAttributes must be an object");
        for (auto& [name, a] : c["messageAttributes"].items()) {
            if (a.is_string()) {
                o.message_attributes[name] = a.get<std::string>();
                continue;
            }
            if (!a.is_object() || !a.contains("StringValue") || a.value("DataType", std::string("String")) != "String")
                throw fail("messageAttributes." + name + " must be a string or {StringValue, DataType: \"String\"}");
            o.message_attributes[name] = text(a["StringValue"], "messageAttributes." + name + ".StringValue");
        }
    }
    if (c.contains("deduplicationId") && c["deduplicationId"] != true)
        throw fail("deduplicationId must be true: deduplication ids are always sent to FIFO queues, so a replayed write is received once");
    if (c.contains("createQueues")) {
        if (!c["createQueues"].is_boolean()) throw fail("createQueues must be a boolean");
        o.create_queues = c["createQueues"].get<bool>();
    }
    std::string first_url = detail::sqs_origin_of(o.queue);
    for (auto& [r, q] : o.queues)
        if (first_url.empty()) first_url = detail::sqs_origin_of(q);
    if (o.endpoint.empty()) o.endpoint = first_url;
    if (o.region.empty()) o.region = detail::sqs_region_of_host(detail::sqs_origin_of(o.endpoint).empty() ? std::string_view{}
                                                                 : std::string_view(o.endpoint).substr(o.endpoint.find("//") + 2));
    return o;
}

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
