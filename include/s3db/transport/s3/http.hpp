#pragma once
// HTTP over libcurl for the S3 transport: a pool of easy handles, each used by one thread at a time
// and handed back after the call, so its kept-alive connection, TLS session and DNS entry serve the
// next request (no CURLSH is shared between threads). Header lines live in buffers owned by the
// handle and are rewritten in place, so a warm handle sends a request without allocating for it.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "s3db/detail/config.hpp"
#include "s3db/errors.hpp"

namespace s3db::detail::http {

/// curl_global_init, once per process, before the first handle; never torn down (other code in the
/// process may still use curl at exit).
S3DB_DECL void global_init();

struct Options {
    std::chrono::milliseconds connect_timeout{10000};
    std::chrono::milliseconds request_timeout{0};  // whole attempt; 0 = no limit
    long low_speed_limit = 1;                      // bytes per second...
    std::chrono::seconds low_speed_time{30};       // ...for this long counts as stalled; 0 = off
    std::size_t max_connections = 64;              // handles (hence connections) in the pool
    bool verify_tls = true;
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct Request {
    std::string_view method;  // GET, HEAD, PUT, POST, DELETE
    std::string_view url;
    std::span<const std::pair<std::string, std::string>> headers;  // sent as given (Host included)
    std::string_view body;    // sent for PUT and POST (an empty body is sent as Content-Length: 0)
    std::string_view key;     // object key, only for error messages
    /// When set and it turns true, the transfer is abandoned within about a second (libcurl's
    /// progress callback): TransportError code "Cancelled", not retryable. Lets a long poll stop.
    const std::atomic<bool>* cancel = nullptr;
};

struct Response {
    int status = 0;
    HeaderList headers;  // names lowercased
    std::string body;

    /// The value of a header (name given in lowercase), or "" when absent.
    std::string_view header(std::string_view lower_name) const noexcept {
        for (const auto& [n, v] : headers)
            if (n == lower_name) return v;
        return {};
    }
    bool has_header(std::string_view lower_name) const noexcept {
        for (const auto& h : headers)
            if (h.first == lower_name) return true;
        return false;
    }
};

struct Stats {
    std::uint64_t requests = 0;  // transfers performed
    std::uint64_t connects = 0;  // new connections opened for them (the rest reused one)
};

class Client {
public:
    S3DB_DECL explicit Client(Options o);
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;
    S3DB_DECL ~Client();

    /// Performs one request. Throws TransportError with status 0 when no HTTP response arrived
    /// (code RequestTimeout for timeouts and stalls, NetworkError otherwise, TlsError for a TLS
    /// trust failure, which is not retryable). Any HTTP status is returned, not thrown.
    S3DB_DECL Response perform(const Request& r);

    Stats stats() const noexcept {
        return {requests_.load(std::memory_order_relaxed), connects_.load(std::memory_order_relaxed)};
    }
    const Options& options() const noexcept { return opts_; }

private:
    struct Handle;  // a curl easy handle and its buffers (defined with the bodies: it holds curl types)

    struct Lease;

    S3DB_DECL std::unique_ptr<Handle> acquire();

    S3DB_DECL void release(std::unique_ptr<Handle> h);

    S3DB_DECL static std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user);

    S3DB_DECL static std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user);

    S3DB_DECL void set_header_lines(Handle& h, const Request& r);

    S3DB_DECL static bool equal_ci(std::string_view a, std::string_view b) noexcept;

    S3DB_DECL void setup(Handle& h, const Request& r, Response& resp);

    // curl_code is a CURLcode, passed as int so that this declaration needs no curl.h.
    [[noreturn]] S3DB_DECL static void fail(const Handle& h, const Request& r, int curl_code);

    S3DB_DECL static int on_progress(void* cancel, std::int64_t, std::int64_t, std::int64_t, std::int64_t);

    Options opts_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::vector<std::unique_ptr<Handle>> idle_;
    std::size_t total_ = 0;
    std::atomic<std::uint64_t> requests_{0}, connects_{0};
};

}  // namespace s3db::detail::http

#if S3DB_DEFINE_BODIES
#include <curl/curl.h>

namespace s3db::detail::http {

S3DB_DECL void global_init() {
    static const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) throw ConfigError(std::string("libcurl could not be initialised: ") + curl_easy_strerror(rc));
}

struct Client::Handle {
    CURL* curl = nullptr;
    std::string url;
    std::vector<std::string> lines;  // "name: value", capacity kept between requests
    std::vector<curl_slist> nodes;   // list cells over `lines`, never freed by curl
    char error[CURL_ERROR_SIZE] = {};
    Response* target = nullptr;
};

struct Client::Lease {
    explicit Lease(Client& c) : client(c), handle(c.acquire()) {}
    ~Lease() { client.release(std::move(handle)); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Client& client;
    std::unique_ptr<Handle> handle;
};

S3DB_DECL Client::Client(Options o) : opts_(o) {
    global_init();
    if (opts_.max_connections == 0) throw ConfigError("max_connections must be at least 1");
}

S3DB_DECL Client::~Client() {
    for (auto& h : idle_) curl_easy_cleanup(h->curl);
}

S3DB_DECL Response Client::perform(const Request& r) {
    Lease lease(*this);
    Handle& h = *lease.handle;
    Response resp;
    setup(h, r, resp);
    CURLcode rc = curl_easy_perform(h.curl);
    long connects = 0;
    curl_easy_getinfo(h.curl, CURLINFO_NUM_CONNECTS, &connects);
    requests_.fetch_add(1, std::memory_order_relaxed);
    connects_.fetch_add(static_cast<std::uint64_t>(connects), std::memory_order_relaxed);
    if (rc != CURLE_OK) fail(h, r, rc);
    long status = 0;
    curl_easy_getinfo(h.curl, CURLINFO_RESPONSE_CODE, &status);
    resp.status = static_cast<int>(status);
    return resp;
}

S3DB_DECL std::unique_ptr<Client::Handle> Client::acquire() {
    {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [&] { return !idle_.empty() || total_ < opts_.max_connections; });
        if (!idle_.empty()) {
            auto h = std::move(idle_.back());  // the most recently used: its connection is warm
            idle_.pop_back();
            return h;
        }
        ++total_;
    }
    auto h = std::make_unique<Handle>();
    h->curl = curl_easy_init();
    if (!h->curl) {
        std::lock_guard lock(mutex_);
        --total_;
        cv_.notify_one();
        throw TransportError("libcurl could not create a handle", {0, "NetworkError", {}, {}, false});
    }
    return h;
}

S3DB_DECL void Client::release(std::unique_ptr<Handle> h) {
    h->target = nullptr;
    {
        std::lock_guard lock(mutex_);
        idle_.push_back(std::move(h));
    }
    cv_.notify_one();
}

S3DB_DECL std::size_t Client::on_body(char* data, std::size_t size, std::size_t n, void* user) {
    auto* h = static_cast<Handle*>(user);
    h->target->body.append(data, size * n);
    return size * n;
}

S3DB_DECL std::size_t Client::on_header(char* data, std::size_t size, std::size_t n, void* user) {
    auto* h = static_cast<Handle*>(user);
    std::string_view line(data, size * n);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
    if (line.starts_with("HTTP/")) {  // a new response (after 100 Continue or a redirect)
        h->target->headers.clear();
        return size * n;
    }
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return size * n;
    std::string name(line.substr(0, colon));
    for (char& c : name)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    h->target->headers.emplace_back(std::move(name), std::string(value));
    return size * n;
}

S3DB_DECL void Client::set_header_lines(Handle& h, const Request& r) {
    // Headers curl would add on its own and S3 does not want: Accept, a form Content-Type on
    // POST, and Expect: 100-continue (an extra round trip per upload).
    static constexpr std::string_view suppress[] = {"accept", "content-type", "expect"};
    std::size_t n = r.headers.size() + std::size(suppress);
    if (h.lines.size() < n) h.lines.resize(n);
    std::size_t used = 0;
    for (const auto& [name, value] : r.headers) {
        std::string& line = h.lines[used++];
        line.assign(name);
        if (value.empty()) {
            line += ';';  // curl's way to send a header with an empty value
        } else {
            line += ": ";
            line += value;
        }
    }
    for (auto s : suppress) {
        bool given = false;
        for (const auto& hd : r.headers) given = given || equal_ci(hd.first, s);
        if (given) continue;
        h.lines[used++].assign(s).append(":");
    }
    h.nodes.resize(used);
    for (std::size_t i = 0; i < used; ++i) {
        h.nodes[i].data = h.lines[i].data();
        h.nodes[i].next = i + 1 < used ? &h.nodes[i + 1] : nullptr;
    }
}

S3DB_DECL bool Client::equal_ci(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
        if (x != y) return false;
    }
    return true;
}

S3DB_DECL void Client::setup(Handle& h, const Request& r, Response& resp) {
    CURL* c = h.curl;
    // Reset keeps the live connection, TLS session cache and DNS cache; only options go.
    curl_easy_reset(c);
    h.target = &resp;
    h.error[0] = '\0';
    set_header_lines(h, r);
    h.url.assign(r.url);  // NUL-terminated, in a buffer the handle keeps
    curl_easy_setopt(c, CURLOPT_URL, h.url.c_str());
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);  // keys may hold "./" and "../": send them as signed
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h.error);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &Client::on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &h);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &Client::on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h.nodes.empty() ? nullptr : h.nodes.data());
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opts_.connect_timeout.count()));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(opts_.request_timeout.count()));
    if (opts_.low_speed_time.count() > 0) {
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, opts_.low_speed_limit);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(opts_.low_speed_time.count()));
    }
    if (r.cancel) {
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &Client::on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(r.cancel));
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    }
    if (!opts_.verify_tls) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    std::string_view m = r.method;
    if (m == "HEAD") {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (m == "PUT" || m == "POST") {
        // POSTFIELDS (not an upload callback) lets curl resend the body by itself when a reused
        // connection turns out to be dead; the verb is then set explicitly.
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, r.body.empty() ? "" : r.body.data());
        if (m == "PUT") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
    } else if (m == "DELETE") {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
    } else if (m != "GET") {
        throw ConfigError("unsupported HTTP method " + std::string(m));
    }
}

static_assert(sizeof(curl_off_t) == sizeof(std::int64_t), "on_progress is libcurl's xferinfo callback");
S3DB_DECL int Client::on_progress(void* cancel, std::int64_t, std::int64_t, std::int64_t, std::int64_t) {
    return static_cast<const std::atomic<bool>*>(cancel)->load(std::memory_order_relaxed) ? 1 : 0;
}

[[noreturn]] S3DB_DECL void Client::fail(const Handle& h, const Request& r, int curl_code) {
    const auto rc = static_cast<CURLcode>(curl_code);
    std::string code = "NetworkError";
    bool retryable = true;
    switch (rc) {
        case CURLE_OPERATION_TIMEDOUT:
            code = "RequestTimeout";
            break;
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
            code = "TlsError";
            retryable = false;
            break;
        case CURLE_ABORTED_BY_CALLBACK:
            code = "Cancelled";
            retryable = false;
            break;
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_URL_MALFORMAT:
            code = "InvalidEndpoint";
            retryable = false;
            break;
        default:
            break;
    }
    // curl's own text names the host and port at most; the URL (and so any query) is not in it.
    std::string what = std::string(r.method) + " request failed: " + curl_easy_strerror(rc);
    if (h.error[0]) what += std::string(" (") + h.error + ")";
    throw TransportError(what, {0, code, {}, std::string(r.key), retryable});
}

}  // namespace s3db::detail::http
#endif  // S3DB_DEFINE_BODIES
