#pragma once
// AWS Signature Version 4 (HMAC-SHA256) over OpenSSL: the canonical request, the string to sign, the
// derived signing key, the Authorization header and presigned query strings. Every stage is a free
// function so tests can check each one against AWS's published vectors. All functions are
// thread-safe; the signing-key cache is shared and locked.

#include <chrono>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "s3db/detail/config.hpp"
#include "s3db/errors.hpp"
#include "s3db/detail/encoding.hpp"
#include "s3db/detail/hashing.hpp"
#include "s3db/transport/credentials.hpp"

namespace s3db::detail::sigv4 {

inline constexpr std::string_view algorithm = "AWS4-HMAC-SHA256";
inline constexpr std::string_view unsigned_payload = "UNSIGNED-PAYLOAD";
inline constexpr std::string_view empty_payload_hash =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// AWS refuses presigned URLs valid for longer than seven days.
inline constexpr std::chrono::seconds max_presign_expiry{7 * 24 * 3600};

struct Request {
    std::string method;  // "GET", "PUT", ...
    std::string path;    // as sent on the wire, already URI-encoded ("/bucket/a%20b")
    std::vector<std::pair<std::string, std::string>> query;    // decoded; the signer encodes and sorts
    std::vector<std::pair<std::string, std::string>> headers;  // any case; must contain "host"
    std::string payload_hash;     // hex SHA-256 of the body, or "UNSIGNED-PAYLOAD"
    bool normalize_path = false;  // true only for non-S3 services (S3 paths are signed as sent)
};

/// The credential scope's parts; date is YYYYMMDD.
struct Scope {
    std::string date;
    std::string region;
    std::string service;

    /// "20150830/us-east-1/service/aws4_request"
    std::string str() const { return date + "/" + region + "/" + service + "/aws4_request"; }
};

namespace impl {

S3DB_DECL std::string lower(std::string_view s);

S3DB_DECL bool is_space(char c) noexcept;

/// Trims and collapses every run of whitespace, including the line breaks of a folded
/// (multi-line) value, to one space.
S3DB_DECL std::string header_value(std::string_view v);

/// Headers that are never signed: `authorization` carries the signature itself; the others are
/// hop-by-hop or rewritten by proxies and HTTP stacks (curl sets `expect` on its own), so signing
/// them would make valid requests fail verification after they are changed in transit.
S3DB_DECL bool unsignable(std::string_view name) noexcept;

/// Lowercased name → values in the order given (duplicates joined with ',' later).
using HeaderMap = std::map<std::string, std::vector<std::string>>;

S3DB_DECL HeaderMap signable_headers(const std::vector<std::pair<std::string, std::string>>& headers);

S3DB_DECL std::string signed_header_list(const HeaderMap& h);

/// RFC 3986 dot-segment removal, plus collapsing of empty segments ("//"), as SigV4 asks of
/// non-S3 services. A path ending in '/', '.' or '..' keeps a trailing slash.
S3DB_DECL std::string normalize_path(std::string_view path);

S3DB_DECL void remove_headers(std::vector<std::pair<std::string, std::string>>& headers,
                              std::initializer_list<std::string_view> names);

S3DB_DECL std::string format_utc(std::chrono::system_clock::time_point t, const char* fmt);

}  // namespace impl

/// The canonical URI: the wire path as is for S3; for other services (normalize_path), the path
/// with dot segments and duplicate slashes removed and then percent-encoded once more, which is
/// the spec's "encode each segment twice" applied to an already encoded path.
S3DB_DECL std::string canonical_uri(const Request& r);

/// `name=value` pairs, each side RFC 3986-encoded, sorted by encoded name then value, joined with
/// '&'; an empty value stays as `name=`. The result is also a valid query string to send.
S3DB_DECL std::string canonical_query(const std::vector<std::pair<std::string, std::string>>& query);

/// The six-part canonical request. Sets *signed_headers to the `;`-joined list of signed header
/// names. Throws ConfigError when there is no host header or no payload hash.
S3DB_DECL std::string canonical_request(const Request& r, std::string* signed_headers = nullptr);

S3DB_DECL std::string string_to_sign(std::string_view amz_date, const Scope& s, std::string_view canonical_request);

/// HMAC chain "AWS4"+secret → date → region → service → "aws4_request", raw bytes. Keys are cached
/// per (secret, date, region, service): one key serves a whole day of requests.
S3DB_DECL std::string signing_key(std::string_view secret, const Scope& s);

/// Hex HMAC-SHA256 of the string to sign under the derived key.
S3DB_DECL std::string signature(std::string_view secret, std::string_view amz_date, const Scope& s,
                                std::string_view canonical_request);

/// "20150830T123600Z"
S3DB_DECL std::string amz_date(std::chrono::system_clock::time_point t);

S3DB_DECL Scope make_scope(std::string_view amz_date, std::string_view region, std::string_view service);

/// The Authorization header value for an already computed signature.
S3DB_DECL std::string authorization(std::string_view access_key_id, const Scope& s, std::string_view signed_headers,
                                    std::string_view signature_hex);

/// Adds x-amz-date, x-amz-security-token (when the credentials have a session token) and
/// authorization to r.headers, replacing any earlier ones, so a retried request can be re-signed.
/// Callers put host and (for S3) x-amz-content-sha256 into r.headers first.
S3DB_DECL void sign_request(Request& r, const Credentials& c, std::string_view region, std::string_view service,
                            std::chrono::system_clock::time_point now);

/// The query string of a presigned URL (encoded, without '?'): r.query plus X-Amz-Algorithm,
/// -Credential, -Date, -Expires, -SignedHeaders (host and the other headers in r.headers, which the
/// user of the URL must then send), -Security-Token when there is one, and -Signature last.
/// For S3, r.payload_hash is normally "UNSIGNED-PAYLOAD".
S3DB_DECL std::string presign_query(const Request& r, const Credentials& c, std::string_view region,
                                    std::string_view service, std::chrono::system_clock::time_point now,
                                    std::chrono::seconds expires);

}  // namespace s3db::detail::sigv4

#if S3DB_DEFINE_BODIES
#include <algorithm>
#include <ctime>
#include <iterator>
#include <mutex>

namespace s3db::detail::sigv4 {

namespace impl {

S3DB_DECL std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

S3DB_DECL bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

S3DB_DECL std::string header_value(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    bool pending_space = false;
    for (char c : v) {
        if (is_space(c)) {
            pending_space = !out.empty();
            continue;
        }
        if (pending_space) out += ' ';
        pending_space = false;
        out += c;
    }
    return out;
}

S3DB_DECL bool unsignable(std::string_view name) noexcept {
    static constexpr std::string_view skip[] = {
        "authorization", "connection", "expect",  "keep-alive", "proxy-authorization", "te",
        "trailer",       "transfer-encoding",     "upgrade",    "user-agent",          "x-amzn-trace-id"};
    return std::find(std::begin(skip), std::end(skip), name) != std::end(skip);
}

S3DB_DECL HeaderMap signable_headers(const std::vector<std::pair<std::string, std::string>>& headers) {
    HeaderMap out;
    for (const auto& [name, value] : headers) {
        std::string n = lower(header_value(name));
        if (n.empty() || unsignable(n)) continue;
        out[n].push_back(header_value(value));
    }
    if (!out.count("host")) throw ConfigError("SigV4: the request to sign has no host header");
    return out;
}

S3DB_DECL std::string signed_header_list(const HeaderMap& h) {
    std::string out;
    for (const auto& [name, values] : h) {
        if (!out.empty()) out += ';';
        out += name;
    }
    return out;
}

S3DB_DECL std::string normalize_path(std::string_view path) {
    std::vector<std::string_view> out;
    bool trailing_slash = false;
    std::size_t pos = 0;
    while (pos <= path.size()) {
        auto next = path.find('/', pos);
        if (next == std::string_view::npos) next = path.size();
        std::string_view seg = path.substr(pos, next - pos);
        bool last = next == path.size();
        if (seg.empty() || seg == ".") {
            if (last) trailing_slash = true;
        } else if (seg == "..") {
            if (!out.empty()) out.pop_back();
            if (last) trailing_slash = true;
        } else {
            out.push_back(seg);
            if (last) trailing_slash = false;
        }
        pos = next + 1;
    }
    std::string result;
    for (auto seg : out) {
        result += '/';
        result += seg;
    }
    if (result.empty() || trailing_slash) result += '/';
    return result;
}

S3DB_DECL void remove_headers(std::vector<std::pair<std::string, std::string>>& headers,
                              std::initializer_list<std::string_view> names) {
    std::erase_if(headers, [&](const auto& h) {
        std::string n = lower(header_value(h.first));
        return std::find(names.begin(), names.end(), n) != names.end();
    });
}

S3DB_DECL std::string format_utc(std::chrono::system_clock::time_point t, const char* fmt) {
    std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::size_t n = std::strftime(buf, sizeof buf, fmt, &tm);
    return std::string(buf, n);
}

}  // namespace impl

S3DB_DECL std::string canonical_uri(const Request& r) {
    if (!r.normalize_path) return r.path.empty() ? std::string("/") : r.path;
    return uri_encode(impl::normalize_path(r.path), UriSet::unreserved_path);
}

S3DB_DECL std::string canonical_query(const std::vector<std::pair<std::string, std::string>>& query) {
    std::vector<std::pair<std::string, std::string>> enc;
    enc.reserve(query.size());
    for (const auto& [k, v] : query) enc.emplace_back(uri_encode(k), uri_encode(v));
    std::sort(enc.begin(), enc.end());
    std::string out;
    for (const auto& [k, v] : enc) {
        if (!out.empty()) out += '&';
        out += k;
        out += '=';
        out += v;
    }
    return out;
}

S3DB_DECL std::string canonical_request(const Request& r, std::string* signed_headers) {
    if (r.payload_hash.empty())
        throw ConfigError("SigV4: payload_hash is empty (use the body's SHA-256 hex or UNSIGNED-PAYLOAD)");
    auto headers = impl::signable_headers(r.headers);
    std::string out = r.method;
    out += '\n';
    out += canonical_uri(r);
    out += '\n';
    out += canonical_query(r.query);
    out += '\n';
    for (const auto& [name, values] : headers) {
        out += name;
        out += ':';
        for (std::size_t i = 0; i < values.size(); ++i) {
            if (i) out += ',';
            out += values[i];
        }
        out += '\n';
    }
    out += '\n';
    std::string list = impl::signed_header_list(headers);
    out += list;
    out += '\n';
    out += r.payload_hash;
    if (signed_headers) *signed_headers = std::move(list);
    return out;
}

S3DB_DECL std::string string_to_sign(std::string_view amz_date, const Scope& s, std::string_view canonical_request) {
    std::string out(algorithm);
    out += '\n';
    out += amz_date;
    out += '\n';
    out += s.str();
    out += '\n';
    out += sha256_hex(canonical_request);
    return out;
}

S3DB_DECL std::string signing_key(std::string_view secret, const Scope& s) {
    static std::mutex mutex;
    static std::map<std::string, std::string, std::less<>> cache;
    std::string id;
    id.reserve(secret.size() + s.date.size() + s.region.size() + s.service.size() + 3);
    id.append(secret).append(1, '\0').append(s.date).append(1, '\0').append(s.region).append(1, '\0').append(s.service);
    {
        std::lock_guard lock(mutex);
        if (auto it = cache.find(id); it != cache.end()) return it->second;
    }
    std::string key = hmac_sha256("AWS4" + std::string(secret), s.date);
    key = hmac_sha256(key, s.region);
    key = hmac_sha256(key, s.service);
    key = hmac_sha256(key, "aws4_request");
    std::lock_guard lock(mutex);
    if (cache.size() >= 64) cache.clear();  // dates roll over; keep the cache small rather than clever
    cache.emplace(std::move(id), key);
    return key;
}

S3DB_DECL std::string signature(std::string_view secret, std::string_view amz_date, const Scope& s,
                                std::string_view canonical_request) {
    return to_hex(hmac_sha256(signing_key(secret, s), string_to_sign(amz_date, s, canonical_request)));
}

S3DB_DECL std::string amz_date(std::chrono::system_clock::time_point t) { return impl::format_utc(t, "%Y%m%dT%H%M%SZ"); }

S3DB_DECL Scope make_scope(std::string_view amz_date, std::string_view region, std::string_view service) {
    return Scope{std::string(amz_date.substr(0, 8)), std::string(region), std::string(service)};
}

S3DB_DECL std::string authorization(std::string_view access_key_id, const Scope& s, std::string_view signed_headers,
                                    std::string_view signature_hex) {
    std::string out(algorithm);
    out += " Credential=";
    out += access_key_id;
    out += '/';
    out += s.str();
    out += ", SignedHeaders=";
    out += signed_headers;
    out += ", Signature=";
    out += signature_hex;
    return out;
}

S3DB_DECL void sign_request(Request& r, const Credentials& c, std::string_view region, std::string_view service,
                            std::chrono::system_clock::time_point now) {
    if (!c.complete()) throw ConfigError("SigV4: cannot sign without an access key id and a secret access key");
    impl::remove_headers(r.headers, {"authorization", "x-amz-date", "x-amz-security-token"});
    std::string date = amz_date(now);
    Scope scope = make_scope(date, region, service);
    r.headers.emplace_back("x-amz-date", date);
    if (!c.session_token.empty()) r.headers.emplace_back("x-amz-security-token", c.session_token);
    std::string signed_headers;
    std::string creq = canonical_request(r, &signed_headers);
    r.headers.emplace_back("authorization", authorization(c.access_key_id, scope, signed_headers,
                                                          signature(c.secret_access_key, date, scope, creq)));
}

S3DB_DECL std::string presign_query(const Request& r, const Credentials& c, std::string_view region,
                                    std::string_view service, std::chrono::system_clock::time_point now,
                                    std::chrono::seconds expires) {
    if (!c.complete()) throw ConfigError("SigV4: cannot presign without an access key id and a secret access key");
    if (expires.count() < 1 || expires > max_presign_expiry)
        throw ConfigError("SigV4: a presigned URL must expire within 1 second to 7 days, not " +
                          std::to_string(expires.count()) + " seconds");
    Request q = r;
    // Header-signing fields would be stale or contradict the query ones.
    impl::remove_headers(q.headers, {"authorization", "x-amz-date", "x-amz-security-token"});
    std::string date = amz_date(now);
    Scope scope = make_scope(date, region, service);
    q.query.emplace_back("X-Amz-Algorithm", std::string(algorithm));
    q.query.emplace_back("X-Amz-Credential", c.access_key_id + "/" + scope.str());
    q.query.emplace_back("X-Amz-Date", date);
    q.query.emplace_back("X-Amz-Expires", std::to_string(expires.count()));
    q.query.emplace_back("X-Amz-SignedHeaders", impl::signed_header_list(impl::signable_headers(q.headers)));
    if (!c.session_token.empty()) q.query.emplace_back("X-Amz-Security-Token", c.session_token);
    std::string creq = canonical_request(q, nullptr);
    return canonical_query(q.query) + "&X-Amz-Signature=" + signature(c.secret_access_key, date, scope, creq);
}

}  // namespace s3db::detail::sigv4
#endif  // S3DB_DEFINE_BODIES
