// BigQueryTarget against a local HTTP endpoint playing Google: its token endpoint verifies the JWT
// (RS256 signature with the public half of a key made here, and the claims: iss, scope, aud, iat/exp)
// before it issues an access token; its insertAll checks the bearer token, the path and the body's
// documented shape, appends rows (dropping repeated insertIds, as BigQuery's best-effort
// de-duplication does) and refuses chosen records with insertErrors. No real BigQuery is reached:
// none can be installed here.

#include <gtest/gtest.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "s3db/core/database.hpp"
#include "s3db/detail/encoding.hpp"
#include "s3db/plugins/replicator.hpp"
#include "s3db/transport/memory.hpp"
#include "support/http_server.hpp"

using namespace s3db;
using namespace std::chrono_literals;

namespace {

const std::string scope = "https://www.googleapis.com/auth/bigquery";
const std::string email = "replicator@test-project.iam.gserviceaccount.com";

using Key = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

/// A throwaway RSA key and its PEMs (PKCS#8 private, as Google's key files hold it; SPKI public).
struct RsaPair {
    Key key{EVP_RSA_gen(2048), &EVP_PKEY_free};
    std::string private_pem = pem(true);

    std::string pem(bool secret) const {
        std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
        if (secret) PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
        else PEM_write_bio_PUBKEY(bio.get(), key.get());
        char* data = nullptr;
        long n = BIO_get_mem_data(bio.get(), &data);
        return std::string(data, static_cast<std::size_t>(n));
    }
    /// The base64 body of the private PEM, without its armour: what must never be printed.
    std::string secret_body() const {
        auto from = private_pem.find('\n') + 1;
        return private_pem.substr(from, 64);
    }
};

const RsaPair& service_key() {
    static const RsaPair k;
    return k;
}

/// Google's key-file JSON for `k`.
std::string key_json(const RsaPair& k, const std::string& token_uri) {
    return json{{"type", "service_account"},
                {"project_id", "test-project"},
                {"private_key_id", "kid-1"},
                {"private_key", k.private_pem},
                {"client_email", email},
                {"token_uri", token_uri}}
        .dump();
}

bool verify_rs256(EVP_PKEY* key, const std::string& input, const std::string& signature) {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    return EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1 &&
           EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                            reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
}

std::map<std::string, std::string> parse_form(const std::string& body) {
    std::map<std::string, std::string> out;
    std::size_t pos = 0;
    while (pos <= body.size()) {
        auto amp = body.find('&', pos);
        if (amp == std::string::npos) amp = body.size();
        auto pair = body.substr(pos, amp - pos);
        auto eq = pair.find('=');
        out[pair.substr(0, eq)] = eq == std::string::npos ? "" : detail::uri_decode(pair.substr(eq + 1)).value_or("");
        pos = amp + 1;
    }
    return out;
}

std::string json_answer(int status, const json& body) {
    return test::http_response(status, "X", body.dump(), {"Content-Type: application/json"});
}

/// Google's token endpoint and BigQuery's insertAll, checking what the documentation says a client
/// sends. `problems` lists every departure from it; each test expects none.
class FakeGoogle {
public:
    std::string token_uri;   // set once the server has its port
    const std::string base = "/bigquery/v2/projects/test-project/datasets/analytics/tables/";

    test::HttpServer::Handler handler() {
        return [this](const test::HttpRequest& r, int) {
            std::unique_lock lock(mutex_);
            if (r.method == "POST" && r.path == "/token") return token(r);
            if (r.method == "POST" && r.path.starts_with(base) && r.path.ends_with("/insertAll")) {
                lock.unlock();
                wait_while_held();
                lock.lock();
                return insert(r);
            }
            problem("unexpected request " + r.method + " " + r.target);
            return json_answer(404, {{"error", {{"code", 404}, {"message", "Not found"}, {"status", "NOT_FOUND"}}}});
        };
    }

    // ---- what tests set and read ----

    /// insertAll requests wait (unanswered) from now until release_inserts().
    void hold_inserts() { std::lock_guard lock(gate_mutex_); held_ = true; }
    void release_inserts() {
        std::lock_guard lock(gate_mutex_);
        held_ = false;
        gate_.notify_all();
    }
    /// Waits until an insertAll request is held.
    bool wait_for_held_request() {
        std::unique_lock lock(gate_mutex_);
        return gate_.wait_for(lock, 10s, [&] { return waiting_ > 0; });
    }

    /// The public key JWT signatures are verified with (the service key's by default).
    void verify_with(EVP_PKEY* key) { std::lock_guard lock(mutex_); verify_with_ = key; }
    void refuse(const std::string& id) { std::lock_guard lock(mutex_); refused_.insert(id); }
    void accept_all() { std::lock_guard lock(mutex_); refused_.clear(); }
    void revoke_tokens() { std::lock_guard lock(mutex_); valid_.clear(); }
    void script_insert_statuses(std::vector<int> s) { std::lock_guard lock(mutex_); statuses_.insert(statuses_.end(), s.begin(), s.end()); }
    std::vector<json> rows(const std::string& table) { std::lock_guard lock(mutex_); return tables_[table]; }
    std::vector<std::string> problems() { std::lock_guard lock(mutex_); return problems_; }
    int token_requests() { std::lock_guard lock(mutex_); return token_requests_; }
    int insert_requests() { std::lock_guard lock(mutex_); return insert_requests_; }
    std::vector<std::string> issued() { std::lock_guard lock(mutex_); return issued_; }

private:
    void wait_while_held() {
        std::unique_lock lock(gate_mutex_);
        if (!held_) return;
        ++waiting_;
        gate_.notify_all();
        gate_.wait(lock, [&] { return !held_; });
        --waiting_;
    }

    void problem(std::string p) { problems_.push_back(std::move(p)); }

    std::string invalid_grant(const std::string& why) {
        problem("token request refused: " + why);
        return json_answer(400, {{"error", "invalid_grant"}, {"error_description", why}});
    }

    std::string token(const test::HttpRequest& r) {
        ++token_requests_;
        if (r.header("content-type") != "application/x-www-form-urlencoded") return invalid_grant("content type");
        auto form = parse_form(r.body);
        if (form["grant_type"] != "urn:ietf:params:oauth:grant-type:jwt-bearer") return invalid_grant("grant_type");
        const std::string jwt = form["assertion"];
        auto dot1 = jwt.find('.'), dot2 = jwt.rfind('.');
        if (dot1 == std::string::npos || dot1 == dot2) return invalid_grant("assertion is not a JWS");
        auto part = [&](std::size_t from, std::size_t to) { return detail::base64_decode(jwt.substr(from, to - from)); };
        auto header = part(0, dot1), claims = part(dot1 + 1, dot2), signature = part(dot2 + 1, jwt.size());
        if (!header || !claims || !signature || jwt.find_first_of("+/=") != std::string::npos)
            return invalid_grant("not base64url");
        if (!verify_rs256(verify_with_, jwt.substr(0, dot2), *signature)) return invalid_grant("Invalid JWT Signature.");
        json h = json::parse(*header, nullptr, false), c = json::parse(*claims, nullptr, false);
        if (h != json{{"alg", "RS256"}, {"typ", "JWT"}, {"kid", "kid-1"}}) return invalid_grant("header " + h.dump());
        const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
        if (c.value("iss", "") != email || c.value("scope", "") != scope || c.value("aud", "") != token_uri)
            return invalid_grant("claims " + c.dump());
        const auto iat = c.value("iat", std::int64_t{0}), exp = c.value("exp", std::int64_t{0});
        if (iat < now - 60 || iat > now + 60 || exp <= iat || exp - iat > 3600) return invalid_grant("iat/exp " + c.dump());
        std::string t = "ya29.test-token-" + std::to_string(token_requests_);
        valid_.insert(t);
        issued_.push_back(t);
        return json_answer(200, {{"access_token", t}, {"expires_in", 3599}, {"token_type", "Bearer"}});
    }

    std::string insert(const test::HttpRequest& r) {
        ++insert_requests_;
        const std::string auth = r.header("authorization");
        if (!auth.starts_with("Bearer ") || !valid_.contains(auth.substr(7)))
            return json_answer(401, {{"error", {{"code", 401}, {"message", "Request had invalid authentication credentials."},
                                                {"status", "UNAUTHENTICATED"}}}});
        if (!statuses_.empty()) {
            int s = statuses_.front();
            statuses_.pop_front();
            return json_answer(s, {{"error", {{"code", s}, {"message", "try again"}, {"status", "UNAVAILABLE"}}}});
        }
        const std::string table = r.path.substr(base.size(), r.path.size() - base.size() - std::string("/insertAll").size());
        if (r.header("content-type") != "application/json") problem("insertAll content type " + r.header("content-type"));
        json body = json::parse(r.body, nullptr, false);
        const bool shaped = body.is_object() && body.value("kind", "") == "bigquery#tableDataInsertAllRequest" &&
                            body.contains("skipInvalidRows") && body["skipInvalidRows"].is_boolean() &&
                            body.contains("ignoreUnknownValues") && body["ignoreUnknownValues"].is_boolean() &&
                            body.contains("rows") && body["rows"].is_array() && !body["rows"].empty() &&
                            body["rows"].size() <= 500;
        if (!shaped) {
            problem("insertAll body " + r.body.substr(0, 200));
            return json_answer(400, {{"error", {{"code", 400}, {"message", "bad body"}, {"status", "INVALID_ARGUMENT"}}}});
        }
        json errors = json::array();
        std::vector<json> accepted;
        for (std::size_t i = 0; i < body["rows"].size(); ++i) {
            auto& row = body["rows"][i];
            if (!row.contains("insertId") || !row["insertId"].is_string() || row["insertId"].get<std::string>().empty() ||
                !row.contains("json") || !row["json"].is_object() || row.size() != 2)
                problem("insertAll row " + row.dump());
            std::string id = row["json"].value("id", row["json"].value("record_id", ""));
            if (refused_.contains(id)) {
                errors.push_back({{"index", i}, {"errors", {{{"reason", "invalid"}, {"location", "vip"}, {"message", "no such field: vip."}}}}});
                continue;
            }
            accepted.push_back(row);
        }
        if (errors.empty() || body["skipInvalidRows"].get<bool>())
            for (auto& row : accepted)
                if (seen_.insert(table + "/" + row["insertId"].get<std::string>()).second) tables_[table].push_back(row["json"]);
        json answer = {{"kind", "bigquery#tableDataInsertAllResponse"}};
        if (!errors.empty()) answer["insertErrors"] = errors;
        return json_answer(200, answer);
    }

    std::mutex mutex_;
    EVP_PKEY* verify_with_ = service_key().key.get();
    std::set<std::string> refused_, valid_, seen_;
    std::deque<int> statuses_;
    std::map<std::string, std::vector<json>> tables_;
    std::vector<std::string> problems_, issued_;
    int token_requests_ = 0, insert_requests_ = 0;
    std::mutex gate_mutex_;
    std::condition_variable gate_;
    bool held_ = false;
    int waiting_ = 0;
};

/// A FakeGoogle on loopback and options pointing a BigQueryTarget at it.
struct Google {
    FakeGoogle fake;
    test::HttpServer server{fake.handler()};
    Google() { fake.token_uri = server.url("/token"); }
    ~Google() { fake.release_inserts(); }  // a failed test may leave a request held: the server must stop

    BigQueryOptions options(const RsaPair& key = service_key()) {
        return {.dataset_id = "analytics",
                .credentials = ServiceAccountKey::from_json(key_json(key, server.url("/token"))),
                .api_base = server.url("/bigquery/v2")};
    }
};

ReplicatorOptions fast() {
    ReplicatorOptions o;
    o.retry_delay = 5ms;
    o.max_retry_delay = 20ms;
    return o;
}

ResourceConfig users_config() {
    return {.name = "users", .attributes = {{"name", "string|required"}, {"visits", "number|optional"}}};
}

/// Each id's latest row (by _operation_timestamp, then arrival): the table's current state, deletes left out.
std::map<std::string, json> current_state(const std::vector<json>& rows) {
    std::map<std::string, json> latest;
    for (auto& r : rows) {
        auto& l = latest[r["id"].get<std::string>()];
        if (l.is_null() || r["_operation_timestamp"].get<std::string>() >= l["_operation_timestamp"].get<std::string>()) l = r;
    }
    std::map<std::string, json> out;
    for (auto& [id, r] : latest) {
        if (r["_operation_type"] == "delete") continue;
        json record = r;
        record.erase("_operation_type");
        record.erase("_operation_timestamp");
        out[id] = record;
    }
    return out;
}

std::vector<Delivery> inserts(int n, const std::string& prefix) {
    std::vector<Delivery> out;
    for (int i = 0; i < n; ++i) {
        std::string id = prefix + std::to_string(i);
        out.push_back({"users", "users", "insert", id, json{{"id", id}, {"name", "n" + std::to_string(i)}}, 1700000000000 + i});
    }
    return out;
}

}  // namespace

TEST(BigQueryTarget, InsertsUpdatesAndDeletesArriveAsAppendOnlyRows) {
    Google g;
    using R = Replicator<BigQueryTarget>;
    auto o = g.options();
    o.log_table = "replication_log";
    BigQueryTarget target(o, ResourceMap::renamed({{"users", "people"}}));
    BasicDatabase<Memory, R> db(Memory(MemoryOptions{.prefix = "bq-crud"}), {}, R(fast(), target));
    db.connect();
    auto& users = db.create_resource(users_config());
    users.insert({{"id", "a"}, {"name", "ana"}, {"visits", 1}});
    users.insert({{"id", "b"}, {"name", "bo"}});
    users.insert({{"id", "c"}, {"name", "cy"}});
    users.update("a", {{"visits", 2}});
    users.remove("b");
    ASSERT_TRUE(db.plugin<R>().wait_idle());

    EXPECT_TRUE(g.fake.problems().empty()) << g.fake.problems().front();
    auto rows = g.fake.rows("people");
    ASSERT_EQ(rows.size(), 5u);
    std::multiset<std::string> ops;
    for (auto& r : rows) {
        ops.insert(r["id"].get<std::string>() + ":" + r["_operation_type"].get<std::string>());
        EXPECT_EQ(r["_operation_timestamp"].get<std::string>().size(), 24u) << r;  // ISO, ms, Z
        for (auto& [k, v] : r.items()) EXPECT_FALSE(k.starts_with("$")) << k;
    }
    EXPECT_EQ(ops, (std::multiset<std::string>{"a:insert", "b:insert", "c:insert", "a:update", "b:delete"}));
    for (auto& r : rows) {
        if (r["_operation_type"] == "delete") {
            EXPECT_EQ(r.size(), 3u) << "a delete is id, type and time: " << r;
        }
    }

    // The latest row per id is the source's state.
    std::map<std::string, json> source;
    for (auto& r : users.list()) {
        json rec = json::object();
        for (auto& [k, v] : r.items())
            if (!k.starts_with("_") && !k.starts_with("$")) rec[k] = v;
        source[r["id"].get<std::string>()] = rec;
    }
    EXPECT_EQ(current_state(rows), source);

    // s3db.js's log rows, one per change.
    auto log = g.fake.rows("replication_log");
    ASSERT_EQ(log.size(), 5u);
    for (auto& l : log) {
        EXPECT_EQ(l["resource_name"], "users");
        EXPECT_EQ(l["source"], "s3db-replicator");
        EXPECT_TRUE(l["data"].is_string());
        EXPECT_TRUE(l["record_id"].is_string());
        EXPECT_TRUE(l["operation"].is_string());
    }
    EXPECT_EQ(g.fake.token_requests(), 1);
}

TEST(BigQueryTarget, OneTokenServesManyRequestsAndA401FetchesANewOne) {
    Google g;
    BigQueryTarget target(g.options(), ResourceMap::all());
    target.deliver(inserts(1200, "x"));  // 500 + 500 + 200 rows
    EXPECT_EQ(g.fake.insert_requests(), 3);
    target.deliver(inserts(10, "y"));
    EXPECT_EQ(g.fake.token_requests(), 1) << "the token is reused until it nears expiry";
    EXPECT_EQ(g.fake.insert_requests(), 4);

    g.fake.revoke_tokens();  // the next insertAll is answered 401
    target.deliver(inserts(3, "z"));
    EXPECT_EQ(g.fake.token_requests(), 2);
    EXPECT_EQ(g.fake.insert_requests(), 6) << "the refused request is sent again with the new token";
    target.deliver(inserts(3, "w"));
    EXPECT_EQ(g.fake.token_requests(), 2);
    EXPECT_EQ(g.fake.rows("users").size(), 1200u + 10 + 3 + 3);
    EXPECT_TRUE(g.fake.problems().empty()) << g.fake.problems().front();

    // The same deliveries again carry the same insertIds: BigQuery's de-duplication drops them.
    target.deliver(inserts(3, "w"));
    EXPECT_EQ(g.fake.rows("users").size(), 1200u + 10 + 3 + 3);
}

TEST(BigQueryTarget, ARefusedRowFailsItsDeliveryOnly) {
    Google g;
    BigQueryTarget target(g.options(), ResourceMap::all());
    g.fake.refuse("x1");
    try {
        target.deliver(inserts(3, "x"));
        FAIL() << "a refused row must throw";
    } catch (const ReplicationError& e) {
        EXPECT_EQ(e.failed(), std::vector<std::size_t>{1});
        EXPECT_FALSE(e.retryable()) << "reason 'invalid' does not go away by itself";
        EXPECT_EQ(e.id(), "x1");
        EXPECT_NE(std::string(e.what()).find("no such field: vip."), std::string::npos) << e.what();
    }
    EXPECT_EQ(g.fake.rows("users").size(), 2u);
}

TEST(BigQueryTarget, ARefusedRowBecomesAFailureAndRetryFailedDeliversIt) {
    Google g;
    using R = Replicator<BigQueryTarget>;
    BasicDatabase<Memory, R> db(Memory(MemoryOptions{.prefix = "bq-refused"}), {},
                                R(fast(), BigQueryTarget(g.options(), ResourceMap::only({"users"}))));
    db.connect();
    auto& users = db.create_resource(users_config());
    auto& rep = db.plugin<R>();
    g.fake.refuse("bad");
    // good1's request is held while the two others queue up: they go as one batch, one row refused.
    g.fake.hold_inserts();
    users.insert({{"id", "good1"}, {"name", "good1"}});
    ASSERT_TRUE(g.fake.wait_for_held_request());
    for (std::string id : {"bad", "good2"}) users.insert({{"id", id}, {"name", id}});
    g.fake.release_inserts();
    ASSERT_TRUE(rep.wait_idle());
    EXPECT_EQ(g.fake.insert_requests(), 2) << "[good1], then [bad, good2]";
    EXPECT_EQ(rep.stats().failed, 1u);
    EXPECT_EQ(rep.stats().replicated, 2u);
    EXPECT_EQ(rep.stats().retries, 0u) << "'invalid' is not retried";
    auto logs = rep.logs();
    ASSERT_EQ(logs.size(), 1u);
    EXPECT_EQ(logs[0]["recordId"], "bad");
    EXPECT_EQ(logs[0]["status"], "failed");
    EXPECT_NE(logs[0]["error"].get<std::string>().find("invalid: no such field"), std::string::npos) << logs[0];
    EXPECT_EQ(current_state(g.fake.rows("users")).size(), 2u);

    g.fake.accept_all();  // the table's schema was fixed
    EXPECT_EQ(rep.retry_failed(), 1u);
    ASSERT_TRUE(rep.wait_idle());
    auto state = current_state(g.fake.rows("users"));
    ASSERT_EQ(state.size(), 3u);
    EXPECT_EQ(state["bad"]["name"], "bad");
    EXPECT_EQ(g.fake.rows("users").size(), 3u) << "the good rows were not sent again";
    EXPECT_TRUE(rep.logs().empty());
    EXPECT_TRUE(g.fake.problems().empty()) << g.fake.problems().front();
}

TEST(BigQueryTarget, RetriesOn503And429WithBackoff) {
    Google g;
    using R = Replicator<BigQueryTarget>;
    BasicDatabase<Memory, R> db(Memory(MemoryOptions{.prefix = "bq-retry"}), {},
                                R(fast(), BigQueryTarget(g.options(), ResourceMap::only({"users"}))));
    db.connect();
    auto& users = db.create_resource(users_config());
    g.fake.script_insert_statuses({503, 429});
    users.insert({{"id", "r"}, {"name", "r"}});
    ASSERT_TRUE(db.plugin<R>().wait_idle());
    EXPECT_EQ(db.plugin<R>().stats().retries, 2u);
    EXPECT_EQ(db.plugin<R>().stats().failed, 0u);
    EXPECT_EQ(g.fake.rows("users").size(), 1u);
    EXPECT_EQ(g.fake.insert_requests(), 3);
}

TEST(BigQueryTarget, SecretsNeverAppearInErrors) {
    Google g;
    const std::string body = service_key().secret_body();
    auto clean = [&](const std::string& message) {
        EXPECT_EQ(message.find(body), std::string::npos) << message;
        EXPECT_EQ(message.find("PRIVATE KEY"), std::string::npos) << message;
        EXPECT_EQ(message.find("eyJ"), std::string::npos) << "a JWT part: " << message;  // base64url of '{"'
        for (auto& t : g.fake.issued()) EXPECT_EQ(message.find(t), std::string::npos) << message;
    };

    // A key file that is not JSON: the parser's excerpt of it is not repeated.
    std::string broken = key_json(service_key(), "http://x/token");
    broken.insert(broken.find("-----END"), "\"oops");
    try {
        ServiceAccountKey::from_json(broken);
        FAIL();
    } catch (const ConfigError& e) {
        clean(e.what());
    }
    // A private_key that is not a key.
    auto o = g.options();
    o.credentials.private_key = "-----BEGIN PRIVATE KEY-----\n" + body + "\n-----END PRIVATE KEY-----\n";
    try {
        BigQueryTarget t(o);
        FAIL();
    } catch (const ConfigError& e) {
        clean(e.what());
    }

    // The token endpoint refuses a JWT signed by another key (the fake verifies every signature).
    RsaPair other;
    g.fake.verify_with(other.key.get());
    try {
        BigQueryTarget(g.options(service_key())).deliver(inserts(2, "s"));
        FAIL();
    } catch (const ReplicationError& e) {
        EXPECT_FALSE(e.retryable());
        EXPECT_NE(std::string(e.what()).find("invalid_grant"), std::string::npos) << e.what();
        EXPECT_EQ(e.failed().size(), 2u);
        clean(e.what());
    }
    EXPECT_EQ(g.fake.token_requests(), 1) << "after a refused token, the other requests are not tried";
    g.fake.verify_with(service_key().key.get());

    // insertAll answering 403 to a valid token: the token is not in the error.
    BigQueryTarget target(g.options());
    g.fake.script_insert_statuses({403});
    try {
        target.deliver(inserts(1, "f"));
        FAIL();
    } catch (const ReplicationError& e) {
        EXPECT_FALSE(e.retryable());
        EXPECT_NE(std::string(e.what()).find("HTTP 403"), std::string::npos) << e.what();
        clean(e.what());
    }
    ASSERT_EQ(g.fake.issued().size(), 1u);
}

TEST(BigQueryTarget, ReadsTheKeyFileAndChecksItsOptions) {
    Google g;
    const std::string path = testing::TempDir() + "bq-key.json";
    {
        std::ofstream(path) << key_json(service_key(), g.server.url("/token"));
    }
    auto key = ServiceAccountKey::from_file(path);
    EXPECT_EQ(key.client_email, email);
    EXPECT_EQ(key.private_key_id, "kid-1");
    EXPECT_EQ(key.project_id, "test-project");
    EXPECT_EQ(key.token_uri, g.server.url("/token"));
    EXPECT_THROW(ServiceAccountKey::from_file(path + ".missing"), ConfigError);
    EXPECT_THROW(ServiceAccountKey::from_json(R"({"type":"authorized_user","client_email":"a","private_key":"b"})"), ConfigError);

    auto o = g.options();
    o.dataset_id.clear();
    EXPECT_THROW(BigQueryTarget{o}, ConfigError);
    o = g.options();
    o.max_rows_per_request = 501;
    EXPECT_THROW(BigQueryTarget{o}, ConfigError);
    o = g.options();
    o.credentials.project_id.clear();
    EXPECT_THROW(BigQueryTarget{o}, ConfigError) << "no project anywhere";
    BigQueryTarget from_file({.dataset_id = "analytics", .credentials = key, .api_base = g.server.url("/bigquery/v2")});
    from_file.deliver(inserts(1, "k"));
    EXPECT_EQ(g.fake.rows("users").size(), 1u);
    EXPECT_TRUE(g.fake.problems().empty()) << g.fake.problems().front();
}
