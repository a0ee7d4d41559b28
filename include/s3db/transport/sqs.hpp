#pragma once
// SqsClient: Amazon SQS's JSON protocol (POST application/x-amz-json-1.0, X-Amz-Target:
// AmazonSQS.<Action>) signed with SigV4 (service "sqs"), over the library's pooled libcurl client
// and its retry policy. One client per endpoint and credentials; thread-safe (the HTTP pool hands
// each thread its own handle). Used by the Replicator's SqsTarget (SendMessageBatch) and the
// QueueConsumer's SQS driver (ReceiveMessage, DeleteMessageBatch, ChangeMessageVisibility).
//
// Errors: an answer other than 200 throws TransportError with SQS's error code (the JSON
// protocol's `__type` after '#', e.g. QueueDoesNotExist, or the query protocol's code from
// x-amzn-query-error), retryable for throttling and 5xx; no answer at all is status 0, retryable.
// A call given a cancel flag is abandoned within about a second once the flag turns true (code
// "Cancelled"): a long poll (ReceiveMessage with WaitTimeSeconds up to 20) need not run out to stop.
// Messages never hold the credentials.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "s3db/detail/config.hpp"
#include "s3db/detail/encoding.hpp"
#include "s3db/detail/hashing.hpp"
#include "s3db/errors.hpp"
#include "s3db/transport/credentials.hpp"
#include "s3db/transport/s3/http.hpp"
#include "s3db/transport/s3/retry.hpp"
#include "s3db/transport/s3/sigv4.hpp"

namespace s3db {

using json = nlohmann::json;

struct SqsClientOptions {
    /// "" → AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL, else https://sqs.<region>.amazonaws.com.
    std::string endpoint{};
    std::string region{};                      // "" → AWS_REGION, ..., "us-east-1"
    std::optional<Credentials> credentials{};  // unset → the environment, then ~/.aws/credentials
    /// One request (a client that long-polls needs WaitTimeSeconds more).
    std::chrono::milliseconds timeout{10'000};
    RetryPolicy retry{};
    std::size_t max_connections = 4;  // kept-alive connections (one per thread calling at once)
};

namespace detail {

/// Where SQS requests go: "scheme://host[:port]" and the path ("/" or the endpoint's own).
struct SqsEndpoint {
    std::string origin, host, path;
    S3DB_DECL static SqsEndpoint make(std::string_view endpoint, std::string_view region);
};

/// Whether a queue URL or name is a FIFO queue's.
S3DB_DECL bool sqs_fifo(std::string_view queue) noexcept;

/// Whether a TransportError from SQS says the queue does not exist.
S3DB_DECL bool sqs_missing_queue(const TransportError& e) noexcept;

/// Signs and sends one JSON-protocol action, with retries; returns the parsed answer or throws
/// TransportError (code: SQS's error code, e.g. QueueDoesNotExist).
class SqsClient {
public:
    S3DB_DECL explicit SqsClient(const SqsClientOptions& o);
    S3DB_DECL json call(std::string_view action, const json& payload, const std::atomic<bool>* cancel = nullptr);
    /// One attempt, for callers that run their own loop under `retrier()`.
    S3DB_DECL json call_once(std::string_view action, const json& payload, const std::atomic<bool>* cancel = nullptr);
    /// A queue's URL: `queue` itself when it is one, else GetQueueUrl (CreateQueue with
    /// `attributes` when missing and `create`; FifoQueue=true added for a name ending in .fifo).
    S3DB_DECL std::string queue_url(const std::string& queue, bool create = false,
                                    const std::map<std::string, std::string>& attributes = {});
    Retrier& retrier() noexcept { return retrier_; }
    std::uint64_t requests() const noexcept { return http_.stats().requests; }

private:
    std::string region_;
    SqsEndpoint endpoint_;
    Credentials credentials_;
    http::Client http_;
    Retrier retrier_;
};

}  // namespace detail
}  // namespace s3db

#if S3DB_DEFINE_BODIES
namespace s3db::detail {

S3DB_DECL SqsEndpoint SqsEndpoint::make(std::string_view endpoint, std::string_view region) {
    std::string given(endpoint);
    if (given.empty()) given = aws_files::env("AWS_ENDPOINT_URL_SQS").value_or(aws_files::env("AWS_ENDPOINT_URL").value_or(""));
    if (given.empty()) given = "https://sqs." + std::string(region) + ".amazonaws.com";
    const auto sep = given.find("://");
    std::string scheme = aws_files::ascii_lower(given.substr(0, sep == std::string::npos ? 0 : sep));
    if (scheme != "http" && scheme != "https") throw ConfigError("SQS endpoint must start with http:// or https://");
    std::string rest = given.substr(sep + 3);
    if (rest.find_first_of("?#") != std::string::npos) throw ConfigError("SQS endpoint must not carry a query or fragment");
    const auto slash = rest.find('/');
    SqsEndpoint e;
    e.host = rest.substr(0, slash);
    if (e.host.find('@') != std::string::npos)  // never echo it: it holds a secret
        throw ConfigError("SQS endpoint must not carry credentials; pass them in the options' credentials");
    if (e.host.empty()) throw ConfigError("SQS endpoint has no host");
    e.path = slash == std::string::npos ? "/" : rest.substr(slash);
    e.origin = scheme + "://" + e.host;
    return e;
}

S3DB_DECL bool sqs_fifo(std::string_view queue) noexcept { return queue.ends_with(".fifo"); }

S3DB_DECL bool sqs_missing_queue(const TransportError& e) noexcept {
    return e.code() == "QueueDoesNotExist" || e.code() == "AWS.SimpleQueueService.NonExistentQueue";
}

S3DB_DECL SqsClient::SqsClient(const SqsClientOptions& o)
    : region_(resolve_region(o.region)),
      endpoint_(SqsEndpoint::make(o.endpoint, region_)),
      credentials_(resolve_credentials(o.credentials)),
      http_([&] {
          http::Options h;
          h.request_timeout = o.timeout;
          h.max_connections = o.max_connections;
          return h;
      }()),
      retrier_(o.retry) {}

S3DB_DECL json SqsClient::call(std::string_view action, const json& payload, const std::atomic<bool>* cancel) {
    return retrier_.run(RetryMode::idempotent, [&](int) { return call_once(action, payload, cancel); });
}

S3DB_DECL json SqsClient::call_once(std::string_view action, const json& payload, const std::atomic<bool>* cancel) {
    const std::string body = payload.dump();
    sigv4::Request r{"POST",
                     endpoint_.path,
                     {},
                     {{"host", endpoint_.host},
                      {"content-type", "application/x-amz-json-1.0"},
                      {"x-amz-target", "AmazonSQS." + std::string(action)}},
                     sha256_hex(body),
                     true};
    sigv4::sign_request(r, credentials_, region_, "sqs", std::chrono::system_clock::now());
    const std::string url = endpoint_.origin + endpoint_.path;
    http::Request req{"POST", url, r.headers, body, {}};
    req.cancel = cancel;
    auto resp = http_.perform(req);
    std::string request_id(resp.header("x-amzn-requestid"));
    if (request_id.empty()) request_id = resp.header("x-amz-request-id");
    json doc = json::parse(resp.body, nullptr, false);
    if (resp.status == 200) {
        if (doc.is_object()) return doc;
        throw TransportError("SQS " + std::string(action) + " answered HTTP 200 with a body that is not JSON (" +
                                 std::to_string(resp.body.size()) + " bytes)",
                             {200, "MalformedResponse", request_id, {}, true});
    }
    // The JSON protocol's error: {"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": ...};
    // the query protocol's code rides along in x-amzn-query-error ("AWS.SimpleQueueService.NonExistentQueue;Sender").
    std::string code, message;
    if (doc.is_object()) {
        code = doc.value("__type", std::string{});
        if (auto hash = code.rfind('#'); hash != std::string::npos) code.erase(0, hash + 1);
        message = doc.value("message", doc.value("Message", std::string{}));
    }
    if (code.empty()) {
        std::string_view q = resp.header("x-amzn-query-error");
        code = std::string(q.substr(0, q.find(';')));
    }
    std::string what = "SQS " + std::string(action) + " failed";
    if (!message.empty()) what += ": " + printable_message(message);
    throw TransportError(what, {resp.status, printable_message(code), printable_message(request_id), {},
                                retryable_error(resp.status, code),
                                parse_retry_after(resp.header("retry-after"), resp.header("x-amz-retry-after"))});
}

S3DB_DECL std::string SqsClient::queue_url(const std::string& queue, bool create, const std::map<std::string, std::string>& attributes) {
    if (queue.find("://") != std::string::npos) return queue;
    std::string url;
    try {
        url = call("GetQueueUrl", {{"QueueName", queue}}).value("QueueUrl", std::string{});
    } catch (const TransportError& e) {
        if (!create || !sqs_missing_queue(e)) throw;
        json attrs(attributes);
        if (sqs_fifo(queue)) attrs["FifoQueue"] = "true";
        json req = {{"QueueName", queue}};
        if (!attrs.empty()) req["Attributes"] = attrs;
        url = call("CreateQueue", req).value("QueueUrl", std::string{});
    }
    if (url.empty()) throw TransportError("SQS answered without a QueueUrl for '" + queue + "'", {200, "MalformedResponse", {}, {}, true});
    return url;
}

}  // namespace s3db::detail
#endif  // S3DB_DEFINE_BODIES
