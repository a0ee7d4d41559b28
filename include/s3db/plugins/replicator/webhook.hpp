#pragma once
// WebhookTarget: POST the changes as JSON to a URL, over libcurl.
//
// Requests go through the library's pooled libcurl client (transport/s3/http.hpp): connections are
// kept alive between POSTs.
//
// Body: with `batch` (the default) one POST per delivered batch, `{"batch":[item, …]}`; without,
// one POST per change, the item itself. An item is
//   {"resource": <destination>, "sourceResource": <source>, "action": "insert"|"update"|"delete",
//    "id": <id>, "data": <record or null>, "timestamp": <ISO time of the write>, "source": "s3db-replicator"}
// With `secret`, the header `X-S3DB-Signature: sha256=<hex HMAC-SHA256(secret, body)>` signs the body.
// A 2xx answer is success; 429, 5xx and transport failures (refused, reset, timed out) throw a
// retryable ReplicationError (the Replicator retries them with exponential backoff), any other
// status a non-retryable one (marked failed at once; retry_failed() tries again). A 429 or 503
// with `Retry-After` (seconds, or an HTTP date) sets the wait before the next attempt instead
// of the backoff, capped by ReplicatorOptions::max_retry_delay (a date in the past: at once).
// Error messages name the URL without its user info or query, never the secret.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "s3db/detail/config.hpp"
#include "s3db/errors.hpp"
#include "s3db/detail/hashing.hpp"
#include "s3db/detail/time.hpp"
#include "s3db/plugins/replicator/common.hpp"
#include "s3db/transport/s3.hpp"  // detail::parse_http_date
#include "s3db/transport/s3/http.hpp"

namespace s3db {

struct WebhookOptions {
    std::string url;
    std::string secret{};  // HMAC-SHA256 key; empty: no signature header
    std::string signature_header = "X-S3DB-Signature";
    std::map<std::string, std::string> headers{};  // added to every POST (e.g. Authorization)
    bool batch = true;
    std::chrono::milliseconds timeout{10'000};
};

namespace detail {

/// The webhook's JSON for one delivery.
S3DB_DECL json webhook_item(const Delivery& d);

/// `url` without user info, query or fragment: what errors may print.
S3DB_DECL std::string redacted_url(const std::string& url);

/// What a webhook answered: its status and, on 429 and 503, the Retry-After it asked for.
struct WebhookAnswer {
    int status = 0;
    std::optional<std::chrono::milliseconds> retry_after{};
};

/// A Retry-After value (delay-seconds or an HTTP date) as a wait from `now`; nullopt when it is
/// neither. A date in the past is no wait.
S3DB_DECL std::optional<std::chrono::milliseconds> retry_after_wait(std::string_view value, std::chrono::system_clock::time_point now);

/// POSTs `body` through `client`; returns the answer, or throws ReplicationError (retryable)
/// when no answer came.
S3DB_DECL WebhookAnswer webhook_post(http::Client& client, const WebhookOptions& o, const std::string& target,
                                     const std::string& body);

}  // namespace detail

class WebhookTarget {
public:
    explicit WebhookTarget(WebhookOptions options, ResourceMap resources = ResourceMap::all(), std::string name = "webhook")
        : options_(std::move(options)), resources_(std::move(resources)), name_(std::move(name)) {
        if (options_.url.empty()) throw ConfigError("WebhookTarget '" + name_ + "': url is empty");
        detail::http::Options h;
        h.request_timeout = options_.timeout;
        h.max_connections = 4;
        client_ = std::make_shared<detail::http::Client>(h);
    }

    std::string target_name() const { return name_; }
    const ResourceMap& resources() const noexcept { return resources_; }
    const WebhookOptions& options() const noexcept { return options_; }

    void deliver(const std::vector<Delivery>& batch) {
        if (options_.batch) {
            json items = json::array();
            for (auto& d : batch) items.push_back(detail::webhook_item(d));
            send(json{{"batch", std::move(items)}}.dump(), batch.size() == 1 ? batch[0] : Delivery{});
        } else {
            for (auto& d : batch) send(detail::webhook_item(d).dump(), d);
        }
    }

private:
    void send(const std::string& body, const Delivery& about) {
        const auto answer = detail::webhook_post(*client_, options_, name_, body);
        const int status = answer.status;
        if (status >= 200 && status < 300) return;
        const bool retryable = status == 429 || status >= 500;
        throw ReplicationError(name_, about.resource, about.id,
                               "POST " + detail::redacted_url(options_.url) + " answered HTTP " + std::to_string(status) +
                                   (answer.retry_after ? " (Retry-After " + std::to_string(answer.retry_after->count()) + " ms)" : std::string{}),
                               retryable, {}, answer.retry_after);
    }

    WebhookOptions options_;
    ResourceMap resources_;
    std::string name_;
    std::shared_ptr<detail::http::Client> client_;  // shared: targets are moved into the plugin
};

}  // namespace s3db

#if S3DB_DEFINE_BODIES
namespace s3db::detail {

S3DB_DECL json webhook_item(const Delivery& d) {
    return json{{"resource", d.resource},
                {"sourceResource", d.source},
                {"action", d.action},
                {"id", d.id},
                {"data", d.data},
                {"timestamp", iso_string(d.timestamp_ms)},
                {"source", "s3db-replicator"}};
}

S3DB_DECL std::string redacted_url(const std::string& url) {
    std::string out = url;
    if (auto q = out.find_first_of("?#"); q != std::string::npos) out.resize(q);
    const auto scheme = out.find("://");
    const std::size_t host = scheme == std::string::npos ? 0 : scheme + 3;
    const auto slash = out.find('/', host);
    const auto at = out.rfind('@', slash == std::string::npos ? out.size() : slash);
    if (at != std::string::npos && at >= host) out.erase(host, at + 1 - host);
    return out;
}

S3DB_DECL std::optional<std::chrono::milliseconds> retry_after_wait(std::string_view value, std::chrono::system_clock::time_point now) {
    if (auto seconds = parse_retry_after(value, {})) return seconds;  // delay-seconds, read as S3's answers are
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    auto at = parse_http_date(value);
    if (!at) return std::nullopt;
    return std::max(std::chrono::milliseconds(0), std::chrono::duration_cast<std::chrono::milliseconds>(*at - now));
}

S3DB_DECL WebhookAnswer webhook_post(http::Client& client, const WebhookOptions& o, const std::string& target,
                                     const std::string& body) {
    http::HeaderList headers{{"Content-Type", "application/json"}};
    for (auto& [k, v] : o.headers) headers.emplace_back(k, v);
    if (!o.secret.empty()) headers.emplace_back(o.signature_header, "sha256=" + to_hex(hmac_sha256(o.secret, body)));
    try {
        auto r = client.perform({.method = "POST", .url = o.url, .headers = headers, .body = body, .key = {}});
        WebhookAnswer answer{r.status, {}};
        if (r.status == 429 || r.status == 503) answer.retry_after = retry_after_wait(r.header("retry-after"), std::chrono::system_clock::now());
        return answer;
    } catch (const TransportError&) {
        // Its message may hold the URL as given (user info, query): say what happened without it.
        throw ReplicationError(target, {}, {}, "POST " + redacted_url(o.url) + ": no HTTP answer (refused, reset or timed out)",
                               true);
    }
}

}  // namespace s3db::detail
#endif  // S3DB_DEFINE_BODIES
