#pragma once
// BigQueryTarget: stream the changes into BigQuery tables with tabledata.insertAll, authorised by a
// service-account key (Google's OAuth 2.0 JWT bearer flow), over the library's libcurl client.
//
// Auth: a JWT {"alg":"RS256","typ":"JWT","kid":<private_key_id>} . {"iss":<client_email>,
// "scope":"https://www.googleapis.com/auth/bigquery","aud":<token_uri>,"iat":now,"exp":now+3600},
// signed RS256 (OpenSSL EVP_DigestSign, SHA-256) with the key's private_key, is POSTed to the key's
// token_uri as `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<jwt>`. The access
// token is kept until a minute before its expires_in, and fetched again when insertAll answers 401.
//
// Rows: BigQuery's streaming insert is append-only, so every change is a new row (s3db.js's
// `mutability: 'append-only'`): the record (its top-level `$…` and `_…` fields left out, as s3db.js
// does), its `id`, `_operation_type` ("insert", "update" or "delete") and `_operation_timestamp`
// (ISO time of the source write). A delete is a row with only those three. A table's current state
// is, per id, the row with the latest `_operation_timestamp`, absent when that row is a delete.
// Updates and deletes are never applied in place (s3db.js's `mutable` mode, DML jobs, is not here).
// With `log_table`, each change also appends s3db.js's log row {resource_name, operation, record_id,
// data (JSON text), timestamp, source: "s3db-replicator"} there.
//
// Destinations: the ResourceMap's destination name is the table (the seed's `table:`), in
// `dataset_id`; its `actions` pick which changes the table receives.
//
// Requests: POST <api_base>/projects/<p>/datasets/<d>/tables/<t>/insertAll with
// {"kind":"bigquery#tableDataInsertAllRequest","skipInvalidRows","ignoreUnknownValues",
//  "rows":[{"insertId","json"}]}, at most `max_rows_per_request` (≤ 500) rows each. The insertId is
// a hash of (table, source, id, action, time of the write, row), so a batch the Replicator sends
// again carries the same ids and BigQuery's best-effort de-duplication drops the copies. (A replay
// after a crash sends the record's current state as a new write: at worst one more row with the
// same state, which the latest-row reading absorbs.)
//
// Failures: rows listed in the answer's insertErrors, and every row of a request answered 429, 5xx
// or not at all (retryable) or another 4xx (not retryable), are failures of their deliveries only
// (ReplicationError::failed()): the Replicator retries those and marks them failed when the retries
// run out; the rest are delivered. Per-row reasons "stopped", "backendError", "internalError",
// "timeout", "rateLimitExceeded" and "quotaExceeded" are retryable, others ("invalid"…) are not.
// Errors name the table and the reasons; never the private key, the assertion or a token.
//
// Tested against a local HTTP endpoint that checks Google's documented shapes (token request,
// JWT signature and claims, insertAll path, headers and body), not against a real BigQuery.

#include <openssl/types.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "s3db/detail/config.hpp"
#include "s3db/errors.hpp"
#include "s3db/detail/encoding.hpp"
#include "s3db/detail/hashing.hpp"
#include "s3db/detail/time.hpp"
#include "s3db/plugins/replicator/common.hpp"
#include "s3db/plugins/replicator/webhook.hpp"  // detail::redacted_url
#include "s3db/transport/s3/http.hpp"

namespace s3db {

/// What the JWT flow needs from a Google service-account key file.
struct ServiceAccountKey {
    std::string client_email;
    std::string private_key;       // PEM ("-----BEGIN PRIVATE KEY-----"), RSA
    std::string private_key_id{};  // the JWT header's kid, when the key file has one
    std::string token_uri = "https://oauth2.googleapis.com/token";
    std::string project_id{};

    /// From the key file's JSON text. Throws ConfigError, which never quotes the text.
    static S3DB_DECL ServiceAccountKey from_json(std::string_view text);
    /// From the key file at `path`.
    static S3DB_DECL ServiceAccountKey from_file(const std::string& path);
};

struct BigQueryOptions {
    std::string project_id{};  // empty: the key's project_id
    std::string dataset_id;
    ServiceAccountKey credentials;
    std::string api_base = "https://bigquery.googleapis.com/bigquery/v2";
    std::string token_uri{};   // empty: the key's token_uri
    std::string scope = "https://www.googleapis.com/auth/bigquery";
    std::string log_table{};   // empty: no log rows
    bool skip_invalid_rows = true;  // false: one invalid row stops its whole request ("stopped" rows)
    bool ignore_unknown_values = false;
    std::size_t max_rows_per_request = 500;
    std::chrono::milliseconds timeout{30'000};
};

namespace detail {

using PrivateKey = std::shared_ptr<EVP_PKEY>;

/// The RSA private key in `pem`; null when it is not one (nothing is printed or prompted for).
S3DB_DECL PrivateKey rsa_private_key(std::string_view pem);

/// base64url(header) "." base64url(claims) "." base64url(RS256 signature).
S3DB_DECL std::string jwt_rs256(const json& header, const json& claims, EVP_PKEY* key);

/// The row a change appends (see the header comment).
S3DB_DECL json bigquery_row(const Delivery& d);

/// The insertId of `row` for `d` in `table`: the same for the same write, whatever sends it.
S3DB_DECL std::string bigquery_insert_id(const Delivery& d, const std::string& table, const json& row);

/// Whether insertAll's per-row error `reason` may go away by sending the row again.
S3DB_DECL bool bigquery_reason_retryable(std::string_view reason);

}  // namespace detail

class BigQueryTarget {
public:
    S3DB_DECL explicit BigQueryTarget(BigQueryOptions options, ResourceMap resources = ResourceMap::all(),
                                      std::string name = "bigquery");

    std::string target_name() const { return name_; }
    const ResourceMap& resources() const noexcept { return resources_; }
    const BigQueryOptions& options() const noexcept { return options_; }

    S3DB_DECL void deliver(const std::vector<Delivery>& batch);

private:
    struct Auth {
        std::mutex mutex;
        detail::PrivateKey key;
        std::string token;
        std::chrono::steady_clock::time_point expires{};
    };
    /// What deliver() collects from its requests.
    struct Outcome {
        std::vector<std::size_t> failed;  // delivery indices
        std::string error;                // the first failure, described
        bool retryable = true;            // every failure is
        std::string auth_error{};         // no token: the remaining requests are not tried
        bool auth_retryable = true;
    };

    /// Rows for one table, in batch order; `from[k]` is the delivery row k came from.
    struct Table {
        std::vector<json> rows;
        std::vector<std::size_t> from;
    };
    static S3DB_DECL void add(Table& table, std::string insert_id, json row, std::size_t from);

    static void fail(Outcome& out, std::size_t index, const std::string& error, bool retryable) {
        out.failed.push_back(index);
        if (out.error.empty()) out.error = error;
        out.retryable = out.retryable && retryable;
    }

    std::string url_of(const std::string& table) const {
        using detail::uri_encode;
        return options_.api_base + "/projects/" + uri_encode(options_.project_id) + "/datasets/" +
               uri_encode(options_.dataset_id) + "/tables/" + uri_encode(table) + "/insertAll";
    }

    /// One insertAll request for rows [first, last) of `t`; its failures go to `out`.
    S3DB_DECL void send(const std::string& table, const Table& t, std::size_t first, std::size_t last,
                        const std::vector<Delivery>& batch, Outcome& out);

    S3DB_DECL detail::http::Response post_insert(const std::string& url, const std::string& body, const std::string& token);

    /// " (<status>: <message>)" from Google's error JSON {"error":{"message","status"}}, or "".
    static S3DB_DECL std::string google_message(const std::string& body);

    /// The cached access token, or a new one when there is none, it is about to expire, or it is
    /// `rejected` (the one insertAll just answered 401 to; another thread may have replaced it).
    S3DB_DECL std::string access_token(const std::string& rejected = {});

    BigQueryOptions options_;
    ResourceMap resources_;
    std::string name_;
    std::shared_ptr<Auth> auth_;  // shared: targets are moved into the plugin
    std::shared_ptr<detail::http::Client> client_;
};

}  // namespace s3db

#if S3DB_DEFINE_BODIES
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <fstream>
#include <sstream>

namespace s3db {

S3DB_DECL BigQueryTarget::BigQueryTarget(BigQueryOptions options, ResourceMap resources, std::string name)
    : options_(std::move(options)), resources_(std::move(resources)), name_(std::move(name)),
      auth_(std::make_shared<Auth>()) {
    auto& o = options_;
    if (o.project_id.empty()) o.project_id = o.credentials.project_id;
    if (o.token_uri.empty()) o.token_uri = o.credentials.token_uri;
    const std::string who = "BigQueryTarget '" + name_ + "': ";
    if (o.project_id.empty()) throw ConfigError(who + "project_id is empty (and the key has none)");
    if (o.dataset_id.empty()) throw ConfigError(who + "dataset_id is empty");
    if (o.credentials.client_email.empty()) throw ConfigError(who + "the key has no client_email");
    if (o.token_uri.empty()) throw ConfigError(who + "no token_uri");
    if (o.max_rows_per_request == 0 || o.max_rows_per_request > 500)
        throw ConfigError(who + "max_rows_per_request must be 1 to 500");
    auth_->key = detail::rsa_private_key(o.credentials.private_key);
    if (!auth_->key) throw ConfigError(who + "the key's private_key is not an unencrypted RSA private key in PEM");
    detail::http::Options h;
    h.request_timeout = o.timeout;
    h.max_connections = 4;
    client_ = std::make_shared<detail::http::Client>(h);
}

S3DB_DECL void BigQueryTarget::deliver(const std::vector<Delivery>& batch) {
    std::map<std::string, Table> tables;
    for (std::size_t i = 0; i < batch.size(); ++i) {
        auto& d = batch[i];
        json row = detail::bigquery_row(d);
        add(tables[d.resource], detail::bigquery_insert_id(d, d.resource, row), std::move(row), i);
        if (!options_.log_table.empty()) {
            json log = {{"resource_name", d.source},
                        {"operation", d.action},
                        {"record_id", d.id},
                        {"data", d.data.dump()},
                        {"timestamp", detail::iso_string(d.timestamp_ms)},
                        {"source", "s3db-replicator"}};
            add(tables[options_.log_table], detail::bigquery_insert_id(d, options_.log_table, log), std::move(log), i);
        }
    }
    Outcome out;
    for (auto& [table, t] : tables)
        for (std::size_t first = 0; first < t.rows.size(); first += options_.max_rows_per_request) {
            const std::size_t last = std::min(t.rows.size(), first + options_.max_rows_per_request);
            send(table, t, first, last, batch, out);
        }
    if (out.failed.empty()) return;
    std::sort(out.failed.begin(), out.failed.end());
    out.failed.erase(std::unique(out.failed.begin(), out.failed.end()), out.failed.end());
    const Delivery* one = out.failed.size() == 1 ? &batch[out.failed[0]] : nullptr;
    const std::string what = std::to_string(out.failed.size()) + " of " + std::to_string(batch.size()) +
                             " changes not inserted: " + out.error;
    throw ReplicationError(name_, one ? one->resource : std::string{}, one ? one->id : std::string{}, what,
                           out.retryable, std::move(out.failed));
}

S3DB_DECL void BigQueryTarget::add(Table& table, std::string insert_id, json row, std::size_t from) {
    table.rows.push_back(json{{"insertId", std::move(insert_id)}, {"json", std::move(row)}});
    table.from.push_back(from);
}

S3DB_DECL void BigQueryTarget::send(const std::string& table, const Table& t, std::size_t first, std::size_t last,
                                   const std::vector<Delivery>& batch, Outcome& out) {
    auto fail_all = [&](const std::string& why, bool retryable) {
        for (std::size_t k = first; k < last; ++k) fail(out, t.from[k], why, retryable);
    };
    if (!out.auth_error.empty()) return fail_all(out.auth_error, out.auth_retryable);
    json body = {{"kind", "bigquery#tableDataInsertAllRequest"},
                 {"skipInvalidRows", options_.skip_invalid_rows},
                 {"ignoreUnknownValues", options_.ignore_unknown_values},
                 {"rows", json::array()}};
    for (std::size_t k = first; k < last; ++k) body["rows"].push_back(t.rows[k]);
    const std::string text = body.dump(), url = url_of(table);
    const std::string where = "insertAll " + detail::redacted_url(url);
    detail::http::Response resp;
    try {
        std::string token = access_token();
        resp = post_insert(url, text, token);
        if (resp.status == 401) resp = post_insert(url, text, access_token(token));  // expired or revoked
    } catch (const ReplicationError& e) {  // from the token endpoint
        out.auth_error = e.what();
        out.auth_retryable = e.retryable();
        return fail_all(out.auth_error, out.auth_retryable);
    } catch (const TransportError&) {
        return fail_all(where + ": no HTTP answer (refused, reset or timed out)", true);
    }
    if (resp.status < 200 || resp.status >= 300)
        return fail_all(where + " answered HTTP " + std::to_string(resp.status) + google_message(resp.body),
                        resp.status == 429 || resp.status >= 500);
    json answer = json::parse(resp.body, nullptr, false);
    if (!answer.is_object())
        return fail_all(where + " answered HTTP " + std::to_string(resp.status) + " without a JSON object", true);
    auto errors = answer.find("insertErrors");
    if (errors == answer.end() || !errors->is_array()) return;
    for (auto& e : *errors) {
        const std::size_t index = e.value("index", std::size_t{0});
        if (index >= last - first) continue;  // not one of ours
        std::string reasons;
        bool retryable = true;
        if (auto list = e.find("errors"); list != e.end() && list->is_array())
            for (auto& r : *list) {
                const std::string reason = r.value("reason", std::string{});
                retryable = retryable && detail::bigquery_reason_retryable(reason);
                reasons += (reasons.empty() ? "" : "; ") + reason + ": " + r.value("message", std::string{});
            }
        const Delivery& d = batch[t.from[first + index]];
        fail(out, t.from[first + index],
             "table '" + table + "' refused record '" + d.id + "' (" + d.action + "): " + reasons, retryable);
    }
}

S3DB_DECL detail::http::Response BigQueryTarget::post_insert(const std::string& url, const std::string& body,
                                                             const std::string& token) {
    detail::http::HeaderList headers{{"Content-Type", "application/json"}, {"Authorization", "Bearer " + token}};
    return client_->perform({.method = "POST", .url = url, .headers = headers, .body = body, .key = {}});
}

S3DB_DECL std::string BigQueryTarget::google_message(const std::string& body) {
    json e = json::parse(body, nullptr, false);
    if (!e.is_object()) return {};
    auto it = e.find("error");
    if (it == e.end()) return {};
    if (it->is_object()) return " (" + it->value("status", std::string{}) + ": " + it->value("message", std::string{}) + ")";
    // The token endpoint's form: {"error":"invalid_grant","error_description":"…"}
    if (it->is_string()) return " (" + it->get<std::string>() + ": " + e.value("error_description", std::string{}) + ")";
    return {};
}

S3DB_DECL std::string BigQueryTarget::access_token(const std::string& rejected) {
    std::lock_guard lock(auth_->mutex);
    const auto now = std::chrono::steady_clock::now();
    if (!auth_->token.empty() && auth_->token != rejected && now < auth_->expires) return auth_->token;
    auth_->token.clear();
    const std::int64_t iat = detail::epoch_ms(std::chrono::system_clock::now()) / 1000;
    json header = {{"alg", "RS256"}, {"typ", "JWT"}};
    if (!options_.credentials.private_key_id.empty()) header["kid"] = options_.credentials.private_key_id;
    const json claims = {{"iss", options_.credentials.client_email},
                         {"scope", options_.scope},
                         {"aud", options_.token_uri},
                         {"iat", iat},
                         {"exp", iat + 3600}};
    const std::string form = "grant_type=" + detail::uri_encode("urn:ietf:params:oauth:grant-type:jwt-bearer") +
                             "&assertion=" + detail::uri_encode(detail::jwt_rs256(header, claims, auth_->key.get()));
    const std::string where = "token request to " + detail::redacted_url(options_.token_uri);
    detail::http::HeaderList headers{{"Content-Type", "application/x-www-form-urlencoded"}};
    detail::http::Response resp;
    try {
        resp = client_->perform({.method = "POST", .url = options_.token_uri, .headers = headers, .body = form, .key = {}});
    } catch (const TransportError&) {
        throw ReplicationError(name_, {}, {}, where + ": no HTTP answer (refused, reset or timed out)", true);
    }
    if (resp.status < 200 || resp.status >= 300)
        throw ReplicationError(name_, {}, {}, where + " answered HTTP " + std::to_string(resp.status) + google_message(resp.body),
                               resp.status == 429 || resp.status >= 500);
    json answer = json::parse(resp.body, nullptr, false);
    auto token = answer.is_object() ? answer.find("access_token") : answer.end();
    if (!answer.is_object() || token == answer.end() || !token->is_string() || token->get<std::string>().empty())
        throw ReplicationError(name_, {}, {}, where + " answered without an access_token", true);
    const std::int64_t lifetime = answer.value("expires_in", std::int64_t{3600});
    // A minute before it expires (half its life when shorter): never sent stale.
    auth_->expires = now + std::chrono::seconds(std::max<std::int64_t>(lifetime - 60, lifetime / 2));
    auth_->token = token->get<std::string>();
    return auth_->token;
}

S3DB_DECL ServiceAccountKey ServiceAccountKey::from_json(std::string_view text) {
    // nlohmann's parse errors quote the text near the fault, which may be the private key.
    json j = json::parse(text, nullptr, false);
    if (!j.is_object()) throw ConfigError("service-account key: not a JSON object");
    auto field = [&](const char* name) {
        auto it = j.find(name);
        return it != j.end() && it->is_string() ? it->get<std::string>() : std::string{};
    };
    if (auto type = field("type"); !type.empty() && type != "service_account")
        throw ConfigError("service-account key: type is '" + type + "', not 'service_account'");
    ServiceAccountKey k;
    k.client_email = field("client_email");
    k.private_key = field("private_key");
    k.private_key_id = field("private_key_id");
    k.project_id = field("project_id");
    if (auto uri = field("token_uri"); !uri.empty()) k.token_uri = uri;
    if (k.client_email.empty()) throw ConfigError("service-account key: no client_email");
    if (k.private_key.empty()) throw ConfigError("service-account key: no private_key");
    return k;
}

S3DB_DECL ServiceAccountKey ServiceAccountKey::from_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ConfigError("service-account key: cannot read '" + path + "'");
    std::ostringstream text;
    text << in.rdbuf();
    try {
        return from_json(text.str());
    } catch (const ConfigError& e) {
        throw ConfigError(std::string(e.what()) + " (in '" + path + "')");
    }
}

}  // namespace s3db

namespace s3db::detail {

S3DB_DECL PrivateKey rsa_private_key(std::string_view pem) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
    if (!bio) return nullptr;
    // A passphrase callback that gives none: an encrypted key fails instead of prompting.
    auto no_passphrase = [](char*, int, int, void*) { return 0; };
    EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr);
    ERR_clear_error();
    if (!key) return nullptr;
    PrivateKey owned(key, &EVP_PKEY_free);
    if (!EVP_PKEY_is_a(key, "RSA")) return nullptr;
    return owned;
}

S3DB_DECL std::string jwt_rs256(const json& header, const json& claims, EVP_PKEY* key) {
    const std::string input = base64url_encode(header.dump()) + "." + base64url_encode(claims.dump());
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    std::size_t length = 0;
    auto data = reinterpret_cast<const unsigned char*>(input.data());
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &length, data, input.size()) != 1) {
        ERR_clear_error();
        throw CryptoError("RS256: cannot sign with the service-account key");
    }
    std::string signature(length, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length, data, input.size()) != 1) {
        ERR_clear_error();
        throw CryptoError("RS256: cannot sign with the service-account key");
    }
    signature.resize(length);
    return input + "." + base64url_encode(signature);
}

S3DB_DECL json bigquery_row(const Delivery& d) {
    json row = json::object();
    if (d.data.is_object())
        for (auto& [k, v] : d.data.items())
            if (!k.empty() && k[0] != '$' && k[0] != '_') row[k] = v;
    row["id"] = d.id;
    row["_operation_type"] = d.action;
    row["_operation_timestamp"] = iso_string(d.timestamp_ms);
    return row;
}

S3DB_DECL std::string bigquery_insert_id(const Delivery& d, const std::string& table, const json& row) {
    std::string key = table;
    for (auto* part : {&d.source, &d.id, &d.action}) key += '\0' + *part;
    key += '\0' + std::to_string(d.timestamp_ms) + '\0' + row.dump();
    return sha256_hex(key).substr(0, 32);
}

S3DB_DECL bool bigquery_reason_retryable(std::string_view reason) {
    for (std::string_view r : {"stopped", "backendError", "internalError", "timeout", "rateLimitExceeded", "quotaExceeded"})
        if (reason == r) return true;
    return false;
}

}  // namespace s3db::detail
#endif  // S3DB_DEFINE_BODIES
