#pragma once
// S3: the transport that talks to Amazon S3 or any S3-compatible store (Ceph RGW, MinIO, ...) over
// libcurl, signing every attempt with SigV4. Virtual-hosted addressing on AWS, path-style on custom
// endpoints; retries with the shared RetryPolicy (including reconciliation of conditional writes);
// multipart upload above a threshold; S3 XML errors mapped to the s3db::Error hierarchy.
// Thread-safe; copies of an S3 share one connection pool, retry budget and credentials.

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "s3db/detail/config.hpp"
#include "s3db/errors.hpp"
#include "s3db/detail/encoding.hpp"
#include "s3db/detail/hashing.hpp"
#include "s3db/transport/s3/http.hpp"
#include "s3db/detail/metadata_codec.hpp"
#include "s3db/transport/s3/retry.hpp"
#include "s3db/transport/s3/rules.hpp"
#include "s3db/transport/s3/sigv4.hpp"
#include "s3db/detail/time.hpp"
#include "s3db/transport/s3/xml.hpp"
#include "s3db/transport/credentials.hpp"
#include "s3db/transport/transport.hpp"

namespace s3db {

inline constexpr std::size_t mebibyte = 1024 * 1024;
inline constexpr std::size_t max_single_put = std::size_t{5} * 1024 * mebibyte;  // S3's PutObject limit

/// Settings of an S3 transport. Empty region / endpoint / credentials are resolved from the
/// environment and the AWS shared files (see credentials.hpp) when the transport is made.
struct S3Options {
    std::string bucket;
    std::string prefix{};    // keys live under this prefix
    std::string region{};    // "" → AWS_REGION, ..., "us-east-1"
    std::string endpoint{};  // "" → AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else AWS itself
    std::optional<bool> path_style{};  // unset: virtual-hosted on AWS, path-style on a custom endpoint
    std::optional<Credentials> credentials{};
    std::chrono::milliseconds connect_timeout{10000};
    std::chrono::milliseconds request_timeout{120000};  // one attempt; 0 = no limit
    long stall_bytes_per_second = 1;                    // slower than this...
    std::chrono::seconds stall_time{30};                // ...for this long fails the attempt; 0 = off
    RetryPolicy retry{};
    std::size_t metadata_limit = default_metadata_limit;  // 0 turns the check off
    std::size_t multipart_threshold = 8 * mebibyte;       // bodies larger than this go multipart
    std::size_t part_size = 8 * mebibyte;                 // at least 5 MiB (S3's minimum part)
    std::size_t max_connections = 64;
    bool verify_tls = true;
    // ETags in If-Match / x-amz-copy-source-if-match are sent bare (no quotes): Ceph RGW 16 and
    // DigitalOcean Spaces match only the bare form, and AWS accepts both. Set for a store that
    // insists on RFC 7232's quoted form.
    bool quote_condition_etags = false;
};

namespace detail {

/// Where requests go: scheme, host[:port] and an optional base path of the endpoint, and how the
/// bucket is addressed. Pure string work, so addressing can be tested without a network.
struct S3Address {
    std::string scheme;     // "https" or "http"
    std::string host;       // endpoint host[:port] (without the bucket)
    std::string base_path;  // "" or "/path" (no trailing slash)
    std::string bucket;
    bool virtual_hosted = false;

    /// AWS's `s3.<region>.amazonaws.com`, or the parsed custom endpoint.
    S3DB_DECL static S3Address make(std::string_view endpoint, std::string_view region, std::string bucket,
                                    std::optional<bool> path_style);

    S3DB_DECL static bool dns_compatible(std::string_view b) noexcept;

    /// The Host header value.
    std::string request_host() const { return virtual_hosted ? bucket + "." + host : host; }
    /// "scheme://host"
    std::string origin() const { return scheme + "://" + request_host(); }
    /// The encoded path of the bucket itself.
    std::string bucket_path() const { return virtual_hosted ? base_path + "/" : base_path + "/" + bucket; }
    /// The encoded path of an object (each segment percent-encoded, '/' kept).
    S3DB_DECL std::string object_path(std::string_view full_key) const;
};

/// Parses an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`); nullopt if malformed.
S3DB_DECL std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view s);

}  // namespace detail

class S3 {
public:
    using Options = S3Options;

    /// Resolves region, endpoint and credentials now; sends nothing. Throws ConfigError.
    S3DB_DECL explicit S3(Options o);

    S3DB_DECL PutResult put(std::string_view key, std::string_view body, PutOptions o = {});

    S3DB_DECL std::optional<Object> get(std::string_view key, GetOptions o = {});

    std::optional<ObjectInfo> head(std::string_view key) {
        auto full = prefix_.apply(key);
        return head_full(full, std::string(key));
    }

    S3DB_DECL PutResult copy(std::string_view from, std::string_view to, CopyOptions o = {});

    S3DB_DECL void remove(std::string_view key);

    /// DeleteObjects in requests of up to 1000 keys; results come back in the order of `keys`.
    /// A key XML 1.0 cannot carry (control characters) is deleted on its own with DELETE.
    S3DB_DECL RemoveManyResult remove_many(std::span<const std::string> keys);

    S3DB_DECL ListPage list(ListOptions o = {});

    /// Creates the bucket; a bucket we already own counts as created.
    S3DB_DECL void create_bucket();

    /// Deletes the bucket, which must be empty.
    S3DB_DECL void delete_bucket();

    /// A URL anyone can GET the object with until it expires (at most 7 days).
    std::string presign_get(std::string_view key, std::chrono::seconds expires) const {
        return presign("GET", prefix_.apply(key), expires);
    }
    /// A URL anyone can PUT the object's body to until it expires (at most 7 days).
    std::string presign_put(std::string_view key, std::chrono::seconds expires) const {
        return presign("PUT", prefix_.apply(key), expires);
    }

    /// The plain (unsigned) URL of an object.
    S3DB_DECL std::string object_url(std::string_view key) const;

    /// The ETag a put of `body` with options `o` gets here: the MD5 for a single PUT, the
    /// multipart form when it goes multipart.
    S3DB_DECL std::string etag_for(std::string_view body, const PutOptions& o = {}) const;

    /// Requests sent and connections opened so far (by this transport and its copies).
    detail::http::Stats http_stats() const noexcept { return s_->http.stats(); }
    const Options& options() const noexcept { return s_->opts; }
    const std::string& region() const noexcept { return s_->region; }
    const detail::S3Address& address() const noexcept { return s_->address; }
    const detail::RetryBudget& retry_budget() const noexcept { return s_->retrier.budget(); }

private:
    struct State {
        S3DB_DECL explicit State(S3Options o);
        S3DB_DECL static std::string check_bucket(const std::string& b);
        S3DB_DECL static detail::http::Options http_options(const S3Options& o);

        S3Options opts;
        std::string region, endpoint;
        detail::S3Address address;
        std::string host, origin;
        Credentials credentials;
        detail::http::Client http;
        detail::Retrier retrier;
    };

    /// One S3 request, sent (and signed) again on every attempt.
    struct Call {
        const char* method = "GET";
        std::string path;  // encoded
        std::vector<std::pair<std::string, std::string>> query;    // decoded
        std::vector<std::pair<std::string, std::string>> headers;  // lowercase names
        std::string_view body;
        std::string payload_hash{detail::sigv4::empty_payload_hash};
        std::string error_key;  // the key errors are about
        std::size_t metadata_bytes = 0;
    };

    S3DB_DECL Call object_call(const char* method, const std::string& full) const;
    S3DB_DECL Call bucket_call(const char* method) const;

    static constexpr std::string_view token_tag = "s3:";

    S3DB_DECL static bool xml_safe(std::string_view key) noexcept;

    /// ETags in results are quoted, as S3 sends them (RGW leaves the quotes off some).
    static std::string quoted(std::string_view etag) { return etag.empty() ? std::string{} : detail::quoted_etag(etag); }

    std::string condition_etag(std::string_view etag) const {
        return s_->opts.quote_condition_etags ? detail::quoted_etag(etag) : std::string(detail::bare_etag(etag));
    }

    S3DB_DECL void add_content_headers(Call& c, const std::string& content_type, const Metadata& meta) const;

    S3DB_DECL void add_write_conditions(Call& c, const PutOptions& o) const;
    S3DB_DECL static void add_storage_class(Call& c, const PutOptions& o);

    /// One attempt: sign with the current time, send, return whatever HTTP status came back.
    S3DB_DECL detail::http::Response send(const Call& c) const;

    static bool ok(const detail::http::Response& r) noexcept { return r.status >= 200 && r.status < 300; }

    S3DB_DECL static std::string error_code(const detail::http::Response& r);

    /// A 404 about the key (not the bucket). HEAD answers carry no body: a bare 404 is the key.
    S3DB_DECL static bool missing_key(const detail::http::Response& r);

    S3DB_DECL static std::string request_id(const detail::http::Response& r, const std::optional<detail::xml::ErrorDocument>& d);

    /// Turns a failed response (or an error document inside a 200) into the matching exception.
    [[noreturn]] S3DB_DECL void raise(const detail::http::Response& r, const Call& c) const;

    /// A success status with a body that is not the expected document: the outcome is unknown,
    /// so the (idempotent) request may be retried.
    [[noreturn]] S3DB_DECL static void raise_malformed(const detail::http::Response& r, const Call& c, const char* op);

    S3DB_DECL ObjectInfo info_from(const detail::http::Response& r, std::string key) const;

    S3DB_DECL std::optional<ObjectInfo> head_full(const std::string& full, std::string key) const;

    /// For reconciliation: the key's ETag now, via HEAD.
    struct CurrentEtag {
        const S3* self;
        const std::string* full;
        S3DB_DECL std::optional<std::string> operator()() const;
    };
    CurrentEtag current_etag(const std::string& full) const { return {this, &full}; }

    /// Whether a put goes multipart. Conditional puts stay single up to S3's 5 GiB PUT limit:
    /// Ceph RGW 16 ignores If-Match / If-None-Match on CompleteMultipartUpload, which would turn a
    /// compare-and-swap into a blind overwrite.
    S3DB_DECL bool multipart(std::size_t size, const PutOptions& o) const noexcept;

    S3DB_DECL std::size_t part_size_for(std::size_t size) const;

    S3DB_DECL PutResult put_multipart(const std::string& full, std::string_view body, const PutOptions& o, const Metadata& meta);

    S3DB_DECL void abort_upload(const std::string& full, const std::string& upload_id) noexcept;

    S3DB_DECL std::string presign(const char* method, const std::string& full, std::chrono::seconds expires) const;

    std::shared_ptr<State> s_;
    detail::KeyPrefix prefix_;
};

static_assert(Transport<S3>);

}  // namespace s3db

#if S3DB_DEFINE_BODIES
#include <algorithm>
#include <ctime>
#include <unordered_map>
#include <unordered_set>

namespace s3db {

namespace detail {

S3DB_DECL S3Address S3Address::make(std::string_view endpoint, std::string_view region, std::string bucket,
                                    std::optional<bool> path_style) {
    S3Address a;
    a.bucket = std::move(bucket);
    if (endpoint.empty()) {
        a.scheme = "https";
        a.host = "s3." + std::string(region) + ".amazonaws.com";
        // Dotted buckets break the TLS wildcard *.s3...; names that are not DNS labels cannot be hosts.
        a.virtual_hosted = path_style ? !*path_style : dns_compatible(a.bucket);
        return a;
    }
    auto sep = endpoint.find("://");
    if (sep == std::string_view::npos) throw ConfigError("S3 endpoint must start with http:// or https://");
    a.scheme = std::string(endpoint.substr(0, sep));
    for (char& c : a.scheme) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    if (a.scheme != "http" && a.scheme != "https")
        throw ConfigError("S3 endpoint scheme must be http or https, not '" + a.scheme + "'");
    std::string_view rest = endpoint.substr(sep + 3);
    if (rest.find_first_of("?#") != std::string_view::npos)
        throw ConfigError("S3 endpoint must not carry a query or fragment");
    auto slash = rest.find('/');
    std::string_view host = rest.substr(0, slash);
    if (host.find('@') != std::string_view::npos)  // never echo it: it holds a secret
        throw ConfigError("S3 endpoint must not carry credentials; pass them in S3Options::credentials");
    if (host.empty()) throw ConfigError("S3 endpoint has no host");
    a.host = std::string(host);
    if (slash != std::string_view::npos) {
        std::string_view path = rest.substr(slash);
        while (!path.empty() && path.back() == '/') path.remove_suffix(1);
        a.base_path = std::string(path);
    }
    a.virtual_hosted = path_style ? !*path_style : false;
    return a;
}

S3DB_DECL bool S3Address::dns_compatible(std::string_view b) noexcept {
    if (b.size() < 3 || b.size() > 63) return false;
    for (char c : b)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    return b.front() != '-' && b.back() != '-';
}

S3DB_DECL std::string S3Address::object_path(std::string_view full_key) const {
    std::string p = virtual_hosted ? base_path : base_path + "/" + bucket;
    p += '/';
    p += uri_encode(full_key, UriSet::unreserved_path);
    return p;
}

S3DB_DECL std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view s) {
    static constexpr std::string_view months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    auto comma = s.find(", ");
    if (comma == std::string_view::npos || s.size() < comma + 22) return std::nullopt;
    s = s.substr(comma + 2);  // "06 Nov 1994 08:49:37 GMT"
    auto num = [&](std::size_t pos, std::size_t len) {
        int v = 0;
        for (std::size_t i = pos; i < pos + len; ++i) {
            if (s[i] < '0' || s[i] > '9') return -1;
            v = v * 10 + (s[i] - '0');
        }
        return v;
    };
    int mon = -1;
    for (int i = 0; i < 12; ++i)
        if (s.substr(3, 3) == months[i]) mon = i;
    int day = num(0, 2), year = num(7, 4), h = num(12, 2), m = num(15, 2), sec = num(18, 2);
    if (mon < 0 || day < 1 || year < 0 || h < 0 || m < 0 || sec < 0 || s[14] != ':' || s[17] != ':')
        return std::nullopt;
    std::int64_t days = days_from_civil(year, static_cast<unsigned>(mon + 1), static_cast<unsigned>(day));
    return std::chrono::system_clock::time_point(std::chrono::seconds(days * 86400 + h * 3600 + m * 60 + sec));
}

}  // namespace detail

S3DB_DECL S3::S3(Options o) : s_(std::make_shared<State>(std::move(o))), prefix_(s_->opts.prefix) {}

S3DB_DECL PutResult S3::put(std::string_view key, std::string_view body, PutOptions o) {
    auto full = prefix_.apply(key);
    Metadata meta = detail::normalize_metadata(std::move(o.metadata), full, s_->opts.metadata_limit);
    check_storage_class(full, o.storage_class);
    if (multipart(body.size(), o)) return put_multipart(full, body, o, meta);
    Call c = object_call("PUT", full);
    c.body = body;
    c.payload_hash = detail::sha256_hex(body);
    add_content_headers(c, o.content_type, meta);
    add_storage_class(c, o);
    add_write_conditions(c, o);
    auto attempt = [&](int) {
        auto r = send(c);
        if (!ok(r)) raise(r, c);
        std::string etag(r.header("etag"));
        // S3 always sends one; a store that does not gets the ETag S3 would have given.
        return PutResult{etag.empty() ? detail::etag_of(body) : quoted(etag)};
    };
    if (!o.if_match.empty() || o.if_none_match)
        return s_->retrier.run_conditional_write(
            attempt, current_etag(full),
            [&]() -> std::optional<std::string> {
                if (body.empty()) return std::nullopt;  // every empty object has this ETag
                return detail::etag_of(body);
            },
            [](const TransportError& e) { return e.status() == 412; },
            [&](const std::optional<std::string>& current) { return detail::write_condition_holds(o, current); });
    return s_->retrier.run(detail::RetryMode::idempotent, attempt);
}

S3DB_DECL std::optional<Object> S3::get(std::string_view key, GetOptions o) {
    auto full = prefix_.apply(key);
    Call c = object_call("GET", full);
    if (o.range) c.headers.emplace_back("range", o.range->header_value());
    if (!o.if_match.empty()) c.headers.emplace_back("if-match", condition_etag(o.if_match));
    if (!o.if_none_match.empty())
        c.headers.emplace_back("if-none-match", o.if_none_match == "*" ? std::string("*") : condition_etag(o.if_none_match));
    return s_->retrier.run(detail::RetryMode::idempotent, [&](int) -> std::optional<Object> {
        auto r = send(c);
        if (!ok(r)) {
            if (missing_key(r)) {
                if (!o.if_match.empty()) throw PreconditionFailed(full, request_id(r, {}));
                return std::nullopt;
            }
            raise(r, c);
        }
        // RGW answers `If-None-Match: *` with the object; "*" matches any object that exists.
        if (o.if_none_match == "*") throw NotModified(full);
        Object out{info_from(r, std::string(key)), {}};
        out.body = std::move(r.body);
        return out;
    });
}

S3DB_DECL PutResult S3::copy(std::string_view from, std::string_view to, CopyOptions o) {
    auto src = prefix_.apply(from), dst = prefix_.apply(to);
    Call c = object_call("PUT", dst);
    c.error_key = src;  // NoSuchKey and 412 are about the source
    c.headers.emplace_back("x-amz-copy-source", "/" + s_->address.bucket + "/" +
                                                    detail::uri_encode(src, detail::UriSet::unreserved_path));
    if (o.directive == MetadataDirective::replace) {
        Metadata meta = detail::normalize_metadata(std::move(o.metadata), dst, s_->opts.metadata_limit);
        std::string content_type = std::move(o.content_type);
        if (content_type.empty()) {  // keep the source's, as the other transports do; S3 would reset it
            auto info = head_full(src, src);
            if (!info) throw NotFound(src);
            content_type = info->content_type;
        }
        c.headers.emplace_back("x-amz-metadata-directive", "REPLACE");
        add_content_headers(c, content_type, meta);
    } else {
        c.headers.emplace_back("x-amz-metadata-directive", "COPY");
    }
    if (!o.source_if_match.empty()) {
        c.headers.emplace_back("x-amz-copy-source-if-match", condition_etag(o.source_if_match));
        // Ceph RGW (16, 17) reads the condition from this older name and ignores the AWS one.
        if (!s_->endpoint.empty()) c.headers.emplace_back("x-amz-copy-if-match", condition_etag(o.source_if_match));
    }
    return s_->retrier.run(detail::RetryMode::idempotent, [&](int) {
        auto r = send(c);
        if (!ok(r)) raise(r, c);
        // A copy can fail after the 200 status went out; the error is then the body.
        if (detail::xml::parse_error(r.body)) raise(r, c);
        auto etag = detail::xml::parse_copy_result(r.body);
        if (!etag) raise_malformed(r, c, "CopyObject");
        return PutResult{quoted(*etag)};
    });
}

S3DB_DECL void S3::remove(std::string_view key) {
    auto full = prefix_.apply(key);
    Call c = object_call("DELETE", full);
    s_->retrier.run(detail::RetryMode::idempotent, [&](int) {
        auto r = send(c);
        if (!ok(r) && !missing_key(r)) raise(r, c);
    });
}

S3DB_DECL RemoveManyResult S3::remove_many(std::span<const std::string> keys) {
    std::vector<std::string> full;
    full.reserve(keys.size());
    for (const auto& k : keys) full.push_back(prefix_.apply(k));
    std::vector<std::optional<RemoveManyResult::Failure>> failure(keys.size());
    std::vector<std::size_t> batch;
    batch.reserve(keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) {
        if (xml_safe(full[i])) {
            batch.push_back(i);
            continue;
        }
        try {
            remove(keys[i]);
        } catch (const TransportError& e) {
            failure[i] = RemoveManyResult::Failure{keys[i], e.code(), e.what()};
        }
    }
    for (std::size_t start = 0; start < batch.size(); start += max_delete_keys) {
        std::size_t end = std::min(batch.size(), start + max_delete_keys);
        std::string xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                          "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>false</Quiet>";
        for (std::size_t b = start; b < end; ++b)
            xml += "<Object><Key>" + detail::xml::escape(full[batch[b]]) + "</Key></Object>";
        xml += "</Delete>";
        Call c = bucket_call("POST");
        c.query.emplace_back("delete", "");
        c.body = xml;
        c.payload_hash = detail::sha256_hex(xml);
        c.headers.emplace_back("content-md5", detail::base64_encode(detail::digest(detail::Digest::md5, xml)));
        c.headers.emplace_back("content-type", "application/xml");
        auto outcome = s_->retrier.run(detail::RetryMode::idempotent, [&](int) {
            auto r = send(c);
            if (!ok(r) || detail::xml::parse_error(r.body)) raise(r, c);
            auto d = detail::xml::parse_delete_result(r.body);
            if (!d) raise_malformed(r, c, "DeleteObjects");
            return std::move(*d);
        });
        std::unordered_set<std::string> deleted(outcome.deleted.begin(), outcome.deleted.end());
        std::unordered_map<std::string, RemoveManyResult::Failure> errors;
        for (auto& e : outcome.errors) errors.emplace(e.key, std::move(e));
        for (std::size_t b = start; b < end; ++b) {
            std::size_t i = batch[b];
            if (auto it = errors.find(full[i]); it != errors.end())
                failure[i] = RemoveManyResult::Failure{keys[i], it->second.code, it->second.message};
            else if (!deleted.count(full[i]))
                failure[i] = RemoveManyResult::Failure{keys[i], "NoResult", "the store did not report on this key"};
        }
    }
    RemoveManyResult result;
    for (std::size_t i = 0; i < keys.size(); ++i) {
        if (failure[i]) result.failed.push_back(std::move(*failure[i]));
        else result.removed.push_back(keys[i]);
    }
    return result;
}

S3DB_DECL ListPage S3::list(ListOptions o) {
    auto opts = prefix_.apply(std::move(o));
    Call c = bucket_call("GET");
    c.query.emplace_back("list-type", "2");
    // Keys may hold bytes XML 1.0 cannot carry; url encoding brings them back intact.
    c.query.emplace_back("encoding-type", "url");
    c.query.emplace_back("max-keys", std::to_string(std::min(opts.max_keys, max_list_keys)));
    if (!opts.prefix.empty()) c.query.emplace_back("prefix", opts.prefix);
    if (!opts.delimiter.empty()) c.query.emplace_back("delimiter", opts.delimiter);
    if (!opts.start_after.empty()) c.query.emplace_back("start-after", opts.start_after);
    if (!opts.continuation_token.empty()) {
        // Tokens are tagged when issued, so one from another store or made up is refused here
        // as on the other transports, instead of being read by the server as some position.
        if (!opts.continuation_token.starts_with(token_tag))
            throw TransportError("the continuation token is not one this store issued",
                                 {400, "InvalidArgument", {}, {}});
        c.query.emplace_back("continuation-token", opts.continuation_token.substr(token_tag.size()));
    }
    auto page = s_->retrier.run(detail::RetryMode::idempotent, [&](int) {
        auto r = send(c);
        if (!ok(r)) raise(r, c);
        auto p = detail::xml::parse_list_objects_v2(r.body);
        if (!p) raise_malformed(r, c, "ListObjectsV2");
        return std::move(*p);
    });
    for (auto& e : page.objects)
        if (!(e.etag.size() >= 2 && e.etag.front() == '"' && e.etag.back() == '"')) e.etag = quoted(e.etag);
    if (!page.next_continuation_token.empty()) page.next_continuation_token.insert(0, token_tag);
    return prefix_.strip(std::move(page));
}

S3DB_DECL void S3::create_bucket() {
    Call c = bucket_call("PUT");
    std::string xml;
    if (s_->endpoint.empty() && s_->region != "us-east-1") {  // AWS wants the region spelled out elsewhere
        xml = "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>" +
              detail::xml::escape(s_->region) + "</LocationConstraint></CreateBucketConfiguration>";
    }
    c.body = xml;
    c.payload_hash = detail::sha256_hex(xml);
    s_->retrier.run(detail::RetryMode::idempotent, [&](int) {
        auto r = send(c);
        if (!ok(r) && error_code(r) != "BucketAlreadyOwnedByYou") raise(r, c);
    });
}

S3DB_DECL void S3::delete_bucket() {
    Call c = bucket_call("DELETE");
    s_->retrier.run(detail::RetryMode::idempotent, [&](int) {
        auto r = send(c);
        if (!ok(r)) raise(r, c);
    });
}

S3DB_DECL std::string S3::object_url(std::string_view key) const {
    return s_->address.origin() + s_->address.object_path(prefix_.apply(key));
}

S3DB_DECL std::string S3::etag_for(std::string_view body, const PutOptions& o) const {
    if (!multipart(body.size(), o)) return detail::etag_of(body);
    return detail::multipart_etag(body, part_size_for(body.size()));
}

S3DB_DECL S3::State::State(S3Options o)
    : opts(std::move(o)),
      region(resolve_region(opts.region)),
      endpoint(resolve_endpoint(opts.endpoint)),
      address(detail::S3Address::make(endpoint, region, check_bucket(opts.bucket), opts.path_style)),
      host(address.request_host()),
      origin(address.origin()),
      credentials(resolve_credentials(opts.credentials)),
      http(http_options(opts)),
      retrier(opts.retry) {
    if (opts.part_size < 5 * mebibyte) throw ConfigError("S3 part_size must be at least 5 MiB");
    if (opts.multipart_threshold < opts.part_size)
        throw ConfigError("S3 multipart_threshold must be at least part_size");
}

S3DB_DECL std::string S3::State::check_bucket(const std::string& b) {
    if (b.empty()) throw ConfigError("S3 needs a bucket name");
    return b;
}

S3DB_DECL detail::http::Options S3::State::http_options(const S3Options& o) {
    detail::http::Options h;
    h.connect_timeout = o.connect_timeout;
    h.request_timeout = o.request_timeout;
    h.low_speed_limit = o.stall_bytes_per_second;
    h.low_speed_time = o.stall_time;
    h.max_connections = o.max_connections;
    h.verify_tls = o.verify_tls;
    return h;
}

S3DB_DECL S3::Call S3::object_call(const char* method, const std::string& full) const {
    Call c;
    c.method = method;
    c.path = s_->address.object_path(full);
    c.error_key = full;
    return c;
}

S3DB_DECL S3::Call S3::bucket_call(const char* method) const {
    Call c;
    c.method = method;
    c.path = s_->address.bucket_path();
    return c;
}

S3DB_DECL bool S3::xml_safe(std::string_view key) noexcept {
    for (char ch : key) {
        auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return false;
    }
    return true;
}

S3DB_DECL void S3::add_content_headers(Call& c, const std::string& content_type, const Metadata& meta) const {
    if (!content_type.empty()) c.headers.emplace_back("content-type", content_type);
    for (const auto& [k, v] : meta) {
        std::string encoded = detail::encode_metadata_value(v);
        c.metadata_bytes += k.size() + encoded.size();
        c.headers.emplace_back("x-amz-meta-" + k, std::move(encoded));
    }
}

S3DB_DECL void S3::add_storage_class(Call& c, const PutOptions& o) {
    // An x-amz-* header: sign_request signs it with the others.
    if (!o.storage_class.empty()) c.headers.emplace_back("x-amz-storage-class", o.storage_class);
}

S3DB_DECL void S3::add_write_conditions(Call& c, const PutOptions& o) const {
    if (!o.if_match.empty()) c.headers.emplace_back("if-match", condition_etag(o.if_match));
    if (o.if_none_match) c.headers.emplace_back("if-none-match", "*");
}

S3DB_DECL detail::http::Response S3::send(const Call& c) const {
    detail::sigv4::Request r{c.method, c.path, c.query, c.headers, c.payload_hash};
    r.headers.emplace_back("host", s_->host);
    r.headers.emplace_back("x-amz-content-sha256", c.payload_hash);
    detail::sigv4::sign_request(r, s_->credentials, s_->region, "s3", std::chrono::system_clock::now());
    std::string url = s_->origin;
    url += c.path;
    if (!c.query.empty()) {
        url += '?';
        url += detail::sigv4::canonical_query(c.query);
    }
    return s_->http.perform({c.method, url, r.headers, c.body, c.error_key});
}

S3DB_DECL std::string S3::error_code(const detail::http::Response& r) {
    auto doc = detail::xml::parse_error(r.body);
    return doc ? doc->code : std::string{};
}

S3DB_DECL bool S3::missing_key(const detail::http::Response& r) {
    if (r.status != 404) return false;
    std::string code = error_code(r);
    return code.empty() || code == "NoSuchKey";
}

S3DB_DECL std::string S3::request_id(const detail::http::Response& r, const std::optional<detail::xml::ErrorDocument>& d) {
    if (d && !d->request_id.empty()) return d->request_id;
    return std::string(r.header("x-amz-request-id"));
}

[[noreturn]] S3DB_DECL void S3::raise(const detail::http::Response& r, const Call& c) const {
    auto doc = detail::xml::parse_error(r.body);
    std::string code = doc ? doc->code : std::string{};
    std::string rid = request_id(r, doc);
    const std::string& key = c.error_key;
    if (r.status == 304) throw NotModified(key);
    if (r.status == 412 || code == "PreconditionFailed") throw PreconditionFailed(key, rid);
    if (code == "NoSuchKey" || (r.status == 404 && code.empty() && !key.empty())) throw NotFound(key, rid);
    if (r.status == 416 || code == "InvalidRange") throw InvalidRange(key);
    if (code == "MetadataTooLarge") throw MetadataTooLarge(key, c.metadata_bytes, s_->opts.metadata_limit);
    if (code == "InvalidStorageClass" || (r.status == 400 && code == "InvalidArgument")) {
        // RGW answers a class its placement target lacks with a bare InvalidArgument: on a
        // request that names a class, that is what it refused.
        const std::string* sent = nullptr;
        for (const auto& [name, value] : c.headers)
            if (name == "x-amz-storage-class") sent = &value;
        if (sent || code == "InvalidStorageClass")
            throw InvalidStorageClass(key, sent ? *sent : std::string{},
                                      "the server does not offer it" +
                                          (doc && !doc->message.empty() ? " (" + detail::printable_message(doc->message) + ")" : std::string{}),
                                      rid, code);
    }
    TransportError::Details d{r.status, code, rid, key, detail::retryable_error(r.status, code),
                              detail::parse_retry_after(r.header("retry-after"), r.header("x-amz-retry-after"))};
    std::string what = std::string("S3 ") + c.method + " failed";
    if (doc) {
        if (!doc->message.empty()) what += ": " + detail::printable_message(doc->message);
    } else if (r.body.empty()) {
        what += " with no error document";
    } else {
        // The body is not shown: it is not S3's, and could echo anything (a proxy page, headers).
        std::string type(r.header("content-type"));
        what += ": the " + std::to_string(r.body.size()) + "-byte response" +
                (type.empty() ? std::string{} : " (" + detail::printable_message(type) + ")") +
                " is not an S3 error document";
    }
    if (code == "NoSuchBucket")
        throw NoSuchBucket("bucket '" + s_->address.bucket + "' does not exist", std::move(d));
    if (r.status == 403 || code == "AccessDenied" || code == "SignatureDoesNotMatch" ||
        code == "InvalidAccessKeyId" || code == "InvalidToken" || code == "ExpiredToken")
        throw AccessDenied(what, std::move(d));
    throw TransportError(what, std::move(d));
}

[[noreturn]] S3DB_DECL void S3::raise_malformed(const detail::http::Response& r, const Call& c, const char* op) {
    throw TransportError(std::string("S3 ") + op + " answered HTTP " + std::to_string(r.status) +
                             " with a body that is not its result document (" + std::to_string(r.body.size()) +
                             " bytes)",
                         {r.status, "MalformedResponse", request_id(r, std::nullopt), c.error_key, true});
}

S3DB_DECL ObjectInfo S3::info_from(const detail::http::Response& r, std::string key) const {
    ObjectInfo info;
    info.key = std::move(key);
    info.etag = quoted(r.header("etag"));
    info.content_type = std::string(r.header("content-type"));
    info.storage_class = std::string(r.header("x-amz-storage-class"));
    if (auto t = detail::parse_http_date(r.header("last-modified"))) info.last_modified = *t;
    // A ranged read reports the whole object's size after the '/' of "bytes 0-9/443".
    std::string_view range = r.header("content-range"), length = r.header("content-length");
    auto slash = range.find('/');
    bool good = true;
    if (slash != std::string_view::npos && range.substr(slash + 1) != "*")
        info.size = detail::xml::parse_u64(range.substr(slash + 1), good);
    else if (!length.empty())
        info.size = detail::xml::parse_u64(length, good);
    else
        info.size = r.body.size();
    if (!good) {
        Call c;
        c.error_key = info.key;
        raise_malformed(r, c, "a read (bad Content-Length or Content-Range)");
    }
    for (const auto& [name, value] : r.headers) {
        if (!name.starts_with("x-amz-meta-")) continue;
        std::string key = name.substr(11);
        // Ceph RGW hands metadata names back with '_' turned into '-'. Keys starting with '_'
        // (s3db's markers: _v, _overflow, _map, ...) are restored; no key of ours starts with '-'.
        if (key.starts_with('-')) key[0] = '_';
        info.metadata.insert_or_assign(std::move(key), detail::decode_metadata_value(value));
    }
    return info;
}

S3DB_DECL std::optional<ObjectInfo> S3::head_full(const std::string& full, std::string key) const {
    Call c = object_call("HEAD", full);
    return s_->retrier.run(detail::RetryMode::idempotent, [&](int) -> std::optional<ObjectInfo> {
        auto r = send(c);
        if (r.status == 404) return std::nullopt;
        if (!ok(r)) raise(r, c);
        return info_from(r, key);
    });
}

S3DB_DECL std::optional<std::string> S3::CurrentEtag::operator()() const {
    auto info = self->head_full(*full, *full);
    if (!info) return std::nullopt;
    return info->etag;
}

S3DB_DECL bool S3::multipart(std::size_t size, const PutOptions& o) const noexcept {
    if (size <= s_->opts.multipart_threshold) return false;
    return (o.if_match.empty() && !o.if_none_match) || size > max_single_put;
}

S3DB_DECL std::size_t S3::part_size_for(std::size_t size) const {
    // S3 allows 10,000 parts: grow the parts for bodies that would need more.
    std::size_t part = s_->opts.part_size;
    if (size > part * 10000) part = (size + 9999) / 10000;
    return part;
}

S3DB_DECL PutResult S3::put_multipart(const std::string& full, std::string_view body, const PutOptions& o, const Metadata& meta) {
    Call init = object_call("POST", full);
    init.query.emplace_back("uploads", "");
    add_content_headers(init, o.content_type, meta);
    add_storage_class(init, o);  // a multipart object gets its class when the upload starts
    // A retried initiation can leave an unused upload behind; S3 bills nothing for it and a
    // lifecycle rule cleans it. Worth it against a failed put.
    std::string upload_id = s_->retrier.run(detail::RetryMode::idempotent, [&](int) {
        auto r = send(init);
        if (!ok(r) || detail::xml::parse_error(r.body)) raise(r, init);
        auto id = detail::xml::parse_upload_id(r.body);
        if (!id) raise_malformed(r, init, "CreateMultipartUpload");
        return std::move(*id);
    });
    try {
        std::size_t part = part_size_for(body.size());
        std::string xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
        std::size_t number = 1;
        for (std::size_t off = 0; off < body.size(); off += part, ++number) {
            Call p = object_call("PUT", full);
            p.query = {{"partNumber", std::to_string(number)}, {"uploadId", upload_id}};
            p.body = body.substr(off, part);
            p.payload_hash = detail::sha256_hex(p.body);
            std::string etag = s_->retrier.run(detail::RetryMode::idempotent, [&](int) {
                auto r = send(p);
                if (!ok(r)) raise(r, p);
                std::string e(r.header("etag"));
                if (e.empty()) raise_malformed(r, p, "UploadPart");
                return e;
            });
            xml += "<Part><PartNumber>" + std::to_string(number) + "</PartNumber><ETag>" +
                   detail::xml::escape(etag) + "</ETag></Part>";
        }
        xml += "</CompleteMultipartUpload>";
        Call done = object_call("POST", full);
        done.query.emplace_back("uploadId", upload_id);
        done.body = xml;
        done.payload_hash = detail::sha256_hex(xml);
        done.headers.emplace_back("content-type", "application/xml");
        add_write_conditions(done, o);
        auto attempt = [&](int) {
            auto r = send(done);
            if (!ok(r)) raise(r, done);
            if (detail::xml::parse_error(r.body)) raise(r, done);  // completion can fail inside a 200
            auto etag = detail::xml::parse_complete_multipart(r.body);
            if (!etag) raise_malformed(r, done, "CompleteMultipartUpload");
            // Ceph RGW 16 leaves <ETag/> empty: the ETag is then the one S3's rule gives.
            if (etag->empty()) return PutResult{detail::multipart_etag(body, part)};
            return PutResult{quoted(*etag)};
        };
        // A completion whose answer was lost leaves NoSuchUpload (or, if conditional, 412) for
        // the retry: the object's ETag then tells whether it was ours.
        bool conditional = !o.if_match.empty() || o.if_none_match;
        if (!conditional && !s_->retrier.policy().reconcile_conditional_writes)
            return s_->retrier.run(detail::RetryMode::idempotent, attempt);
        return s_->retrier.run_conditional_write(
            attempt, current_etag(full), [&] { return detail::multipart_etag(body, part); },
            [conditional](const TransportError& e) {
                return e.code() == "NoSuchUpload" || (conditional && e.status() == 412);
            });
    } catch (...) {
        abort_upload(full, upload_id);
        throw;
    }
}

S3DB_DECL void S3::abort_upload(const std::string& full, const std::string& upload_id) noexcept {
    try {
        Call c = object_call("DELETE", full);
        c.query.emplace_back("uploadId", upload_id);
        auto r = send(c);
        (void)r;  // best effort: the failure being reported matters more than this one
    } catch (...) {
    }
}

S3DB_DECL std::string S3::presign(const char* method, const std::string& full, std::chrono::seconds expires) const {
    detail::sigv4::Request r{method, s_->address.object_path(full), {}, {{"host", s_->host}},
                             std::string(detail::sigv4::unsigned_payload)};
    return s_->origin + r.path + "?" +
           detail::sigv4::presign_query(r, s_->credentials, s_->region, "s3", std::chrono::system_clock::now(),
                                        expires);
}

}  // namespace s3db
#endif  // S3DB_DEFINE_BODIES
