// The Replicator's SqsTarget. Without a server: the message body, deduplication ids, endpoints, and
// the SQS JSON protocol against a scripted loopback server (signing, throttling retried, a partial
// batch failure: only the entries SQS failed on its side are sent again); a dead endpoint fails
// without slowing source writes. Against fauxqs on 127.0.0.1 (suite SqsServer; FAUXQS_PORT, started
// by the ctest fixture sqs:start): inserts, updates and deletes received back field by field; FIFO
// group and deduplication ids (a replayed write is received once); batching (requests counted); a
// message the queue refuses fails alone.

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "s3db/core/database.hpp"
#include "s3db/plugins/replicator.hpp"
#include "s3db/transport/memory.hpp"
#include "support/http_server.hpp"

using namespace s3db;
using namespace std::chrono_literals;

namespace {

const Credentials test_credentials{"sqs-test-key", "sqs-secret-never-printed", ""};

ResourceConfig users_config() {
    return {.name = "users",
            .attributes = {{"name", "string|required"}, {"region", "string|optional"}, {"visits", "number|optional"}}};
}

ReplicatorOptions fast(ReplicatorOptions o = {}) {
    o.retry_delay = 5ms;
    o.max_retry_delay = 40ms;
    return o;
}

RetryPolicy no_waits(int attempts = 3) {
    RetryPolicy p;
    p.max_attempts = attempts;
    p.sleep = [](std::chrono::milliseconds) {};
    return p;
}

Memory memory_store() {
    static std::atomic<int> n{0};
    return Memory(MemoryOptions{.prefix = "sqs-" + std::to_string(getpid()) + "-" + std::to_string(n++)});
}

Delivery delivery(std::string id, std::string action, json data, std::string write_id = {}) {
    return {"users", "users", std::move(action), std::move(id), std::move(data), 1'700'000'000'000, std::move(write_id)};
}

// ---- without a server ------------------------------------------------------------------------------

TEST(SqsTarget, BodyHasS3dbJsShapeAndEscapesWhatSqsRefuses) {
    json record = {{"id", "u1"}, {"name", "Zoë \xEF\xBF\xBF end"}, {"visits", 3}};
    const std::string body = detail::sqs_message_body(delivery("u1", "insert", record));
    EXPECT_EQ(body.find("\xEF\xBF\xBF"), std::string::npos) << "U+FFFF is refused by SQS in a body";
    EXPECT_NE(body.find("\\uffff"), std::string::npos);
    json m = json::parse(body);
    EXPECT_EQ(m["resource"], "users");
    EXPECT_EQ(m["action"], "insert");
    EXPECT_EQ(m["id"], "u1");
    EXPECT_EQ(m["data"], record) << "the escape decodes to the record as written";
    EXPECT_EQ(m["timestamp"], "2023-11-14T22:13:20.000Z");
    EXPECT_EQ(m["source"], "s3db-replicator");
    EXPECT_EQ(json::parse(detail::sqs_message_body(delivery("u1", "delete", nullptr)))["data"], json({{"id", "u1"}}));
    EXPECT_THROW(detail::sqs_message_body(delivery("u1", "insert", {{"bad", "\xC3"}})), json::exception);
}

TEST(SqsTarget, DeduplicationIdIsTheSameForAReplayOfTheWriteOnly) {
    auto a = delivery("u1", "update", {{"id", "u1"}, {"visits", 1}}, "repl-1");
    auto replay = a;
    replay.timestamp_ms += 60'000;  // a replay reads the record again, later
    EXPECT_EQ(detail::sqs_deduplication_id(a), detail::sqs_deduplication_id(replay));
    EXPECT_EQ(detail::sqs_deduplication_id(a).size(), 64u);
    // The same content written again is another write: not dropped as a duplicate.
    auto again = a;
    again.write_id = "repl-2";
    EXPECT_NE(detail::sqs_deduplication_id(a), detail::sqs_deduplication_id(again));
    auto other_destination = a;
    other_destination.resource = "people";
    EXPECT_NE(detail::sqs_deduplication_id(a), detail::sqs_deduplication_id(other_destination));
    // Without the durable log the content decides.
    auto no_log = delivery("u1", "update", {{"id", "u1"}, {"visits", 1}});
    auto no_log_other = delivery("u1", "update", {{"id", "u1"}, {"visits", 2}});
    EXPECT_NE(detail::sqs_deduplication_id(no_log), detail::sqs_deduplication_id(no_log_other));
    EXPECT_TRUE(detail::sqs_fifo("http://h/0/q.fifo"));
    EXPECT_FALSE(detail::sqs_fifo("q"));
}

TEST(SqsTarget, EndpointsAndConfiguration) {
    auto aws = detail::SqsEndpoint::make("", "eu-west-1");
    if (!std::getenv("AWS_ENDPOINT_URL_SQS") && !std::getenv("AWS_ENDPOINT_URL")) {
        EXPECT_EQ(aws.origin, "https://sqs.eu-west-1.amazonaws.com");
        EXPECT_EQ(aws.host, "sqs.eu-west-1.amazonaws.com");
    }
    auto local = detail::SqsEndpoint::make("http://127.0.0.1:4566", "us-east-1");
    EXPECT_EQ(local.origin, "http://127.0.0.1:4566");
    EXPECT_EQ(local.path, "/");
    try {
        detail::SqsEndpoint::make("http://key:hunter2@127.0.0.1:4566", "us-east-1");
        ADD_FAILURE() << "credentials in the endpoint were accepted";
    } catch (const ConfigError& e) {
        EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos);
    }
    EXPECT_THROW(SqsTarget({.endpoint = "http://127.0.0.1:1", .credentials = test_credentials}), ConfigError);
}

/// SendMessageBatch answered from a script, as SQS's JSON protocol does.
std::string json_answer(int status, const json& body) {
    return test::http_response(status, status == 200 ? "OK" : "Bad Request", body.dump(),
                               {"Content-Type: application/x-amz-json-1.0", "x-amzn-RequestId: req-1"});
}

TEST(SqsTarget, ThrottlingIsRetriedAndOnlyEntriesFailedOnSqsSideAreSentAgain) {
    test::HttpServer server([](const test::HttpRequest&, int i) {
        if (i == 0) return json_answer(400, {{"__type", "com.amazonaws.sqs#RequestThrottled"}, {"message", "slow down"}});
        if (i == 1)
            return json_answer(200, {{"Successful", {{{"Id", "0"}}, {{"Id", "1"}}, {{"Id", "2"}}}},
                                     {"Failed", {{{"Id", "3"}, {"SenderFault", false}, {"Code", "InternalError"}},
                                                 {{"Id", "4"}, {"SenderFault", true}, {"Code", "InvalidMessageContents"},
                                                  {"Message", "bad characters"}}}}});
        return json_answer(200, {{"Successful", {{{"Id", "3"}}}}, {"Failed", json::array()}});
    });
    const std::string queue = server.url("/000000000000/changes");
    SqsTarget sqs({.endpoint = server.url(""), .region = "eu-west-1", .credentials = test_credentials, .queue = queue,
                   .message_attributes = {{"origin", "tests"}}, .retry = no_waits()});
    std::vector<Delivery> batch;
    for (int i = 0; i < 5; ++i) batch.push_back(delivery("u" + std::to_string(i), "insert", {{"id", "u" + std::to_string(i)}}));
    try {
        sqs.deliver(batch);
        ADD_FAILURE() << "a message SQS refused was not reported";
    } catch (const ReplicationError& e) {
        EXPECT_FALSE(e.retryable()) << "SenderFault: sending it again cannot help";
        EXPECT_EQ(e.id(), "u4");
        EXPECT_EQ(e.failed(), std::vector<std::size_t>{4});
        std::string what = e.what();
        EXPECT_NE(what.find("1 of 5"), std::string::npos) << what;
        EXPECT_NE(what.find("InvalidMessageContents"), std::string::npos) << what;
        EXPECT_EQ(what.find(test_credentials.secret_access_key), std::string::npos);
    }
    auto reqs = server.requests();
    ASSERT_EQ(reqs.size(), 3u);
    std::vector<json> sent;
    for (auto& r : reqs) {
        EXPECT_EQ(r.method, "POST");
        EXPECT_EQ(r.path, "/");
        EXPECT_EQ(r.header("content-type"), "application/x-amz-json-1.0");
        EXPECT_EQ(r.header("x-amz-target"), "AmazonSQS.SendMessageBatch");
        EXPECT_TRUE(r.header("authorization").starts_with("AWS4-HMAC-SHA256 Credential=sqs-test-key/"));
        EXPECT_NE(r.header("authorization").find("/eu-west-1/sqs/aws4_request"), std::string::npos);
        EXPECT_EQ(r.body.find(test_credentials.secret_access_key), std::string::npos);
        sent.push_back(json::parse(r.body));
    }
    EXPECT_EQ(sent[0], sent[1]) << "a throttled request is sent again as it was";
    ASSERT_EQ(sent[1]["Entries"].size(), 5u);
    EXPECT_EQ(sent[1]["QueueUrl"], queue);
    auto& first = sent[1]["Entries"][0];
    EXPECT_EQ(first["MessageAttributes"]["origin"], json({{"DataType", "String"}, {"StringValue", "tests"}}));
    EXPECT_FALSE(first.contains("MessageGroupId")) << "a standard queue gets no FIFO fields";
    EXPECT_EQ(json::parse(first["MessageBody"].get<std::string>())["id"], "u0");
    ASSERT_EQ(sent[2]["Entries"].size(), 1u) << "only the entry SQS failed on its side";
    EXPECT_EQ(sent[2]["Entries"][0], sent[1]["Entries"][3]);
}

TEST(SqsTarget, ADeadEndpointFailsWithoutSlowingSourceWrites) {
    // A port nothing listens on: a server bound and closed at once.
    std::string dead;
    {
        test::HttpServer gone([](const test::HttpRequest&, int) { return std::string(); });
        dead = gone.url("");
    }
    using R = Replicator<SqsTarget>;
    ReplicatorOptions o = fast();
    o.retry_attempts = 1;
    SqsTarget sqs({.endpoint = dead, .credentials = test_credentials, .queue = dead + "/000000000000/q",
                   .timeout = 2000ms, .retry = no_waits(2)},
                  ResourceMap::only({"users"}));
    BasicDatabase<Memory, R> db(memory_store(), {}, R(o, std::move(sqs)));
    db.connect();
    auto& users = db.create_resource(users_config());
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 20; ++i) users.insert({{"id", "d" + std::to_string(i)}, {"name", "n"}});
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s) << "writes waited on the dead target";
    auto& rep = db.plugin<R>();
    ASSERT_TRUE(rep.wait_idle());
    EXPECT_EQ(rep.stats().failed, 20u);
    EXPECT_EQ(rep.stats().replicated, 0u);
    EXPECT_EQ(users.count(), 20u);
    auto logs = rep.logs();
    ASSERT_FALSE(logs.empty());
    for (auto& l : logs) {
        EXPECT_EQ(l["status"], "failed");
        const std::string error = l["error"];
        EXPECT_NE(error.find("no response"), std::string::npos) << error;
        EXPECT_EQ(error.find(test_credentials.secret_access_key), std::string::npos) << error;
    }
}

TEST(SqsTarget, OptionsFromAConnectionString) {
    auto a = SqsOptions::from_url("sqs://AKID:se%2Fcr%40et@sqs.eu-west-1.amazonaws.com/123456789012/orders.fifo?group=g1");
    EXPECT_EQ(a.endpoint, "https://sqs.eu-west-1.amazonaws.com");
    EXPECT_EQ(a.region, "eu-west-1") << "from the AWS host name";
    EXPECT_EQ(a.queue, "https://sqs.eu-west-1.amazonaws.com/123456789012/orders.fifo") << "two segments: the queue's URL";
    ASSERT_TRUE(a.credentials);
    EXPECT_EQ(a.credentials->access_key_id, "AKID");
    EXPECT_EQ(a.credentials->secret_access_key, "se/cr@et") << "percent-decoded";
    ASSERT_TRUE(a.message_group);
    EXPECT_EQ(a.message_group(delivery("u1", "insert", nullptr)), "g1");
    EXPECT_FALSE(a.create_queues);

    auto b = SqsOptions::from_url("sqs+http://k:s@127.0.0.1:4566/changes?create=true&region=us-east-2&sessionToken=tok");
    EXPECT_EQ(b.endpoint, "http://127.0.0.1:4566");
    EXPECT_EQ(b.queue, "changes") << "one segment: a queue name";
    EXPECT_EQ(b.region, "us-east-2");
    EXPECT_TRUE(b.create_queues);
    EXPECT_EQ(b.credentials->session_token, "tok");

    auto c = SqsOptions::from_url("sqs://sqs.us-east-1.amazonaws.com/1/q");
    EXPECT_FALSE(c.credentials) << "no userinfo: the environment's credentials";

    for (const char* bad : {"http://k:s@host/q", "sqs://k:s@host", "sqs://k:s@host/a/b/c", "sqs://k:s@/q", "sqs://k:s@host/q?bogus=1",
                            "sqs://k:s@host/q?create=maybe", "sqs://k@host/q", "sqs://k:s@ho st/q", "sqs://host/q?sessionToken=t"}) {
        try {
            SqsOptions::from_url(bad);
            ADD_FAILURE() << bad << " was accepted";
        } catch (const ConfigError& e) {
            EXPECT_EQ(std::string(e.what()).find("k:s"), std::string::npos) << e.what();
        }
    }
}

TEST(SqsTarget, OptionsFromTheSeedsConfigObject) {
    json config = {{"region", "us-east-1"},
                   {"credentials", {{"accessKeyId", "AKID"}, {"secretAccessKey", "SECRET"}}},
                   {"queues", {{"orders", "https://sqs.us-east-1.amazonaws.com/123456789012/order-events.fifo"}}},
                   {"defaultQueueUrl", "https://sqs.us-east-1.amazonaws.com/123456789012/default-events.fifo"},
                   {"messageGroupId", "s3db-replicator"},
                   {"deduplicationId", true},
                   {"messageAttributes", {{"source", {{"StringValue", "production-db"}, {"DataType", "String"}}}, {"version", "1.0"}}}};
    auto o = SqsOptions::from_config(config);
    EXPECT_EQ(o.queue, "https://sqs.us-east-1.amazonaws.com/123456789012/default-events.fifo");
    EXPECT_EQ(o.queues.at("orders"), "https://sqs.us-east-1.amazonaws.com/123456789012/order-events.fifo");
    EXPECT_EQ(o.endpoint, "https://sqs.us-east-1.amazonaws.com") << "the queue URL's origin";
    EXPECT_EQ(o.region, "us-east-1");
    EXPECT_EQ(o.credentials->secret_access_key, "SECRET");
    EXPECT_EQ(o.message_group(delivery("u1", "insert", nullptr)), "s3db-replicator");
    EXPECT_EQ(o.message_attributes, (std::map<std::string, std::string>{{"source", "production-db"}, {"version", "1.0"}}));
    EXPECT_EQ(SqsOptions::from_config({{"queueUrl", "https://sqs.ap-south-1.amazonaws.com/1/q"}}).region, "ap-south-1");

    for (json bad : {json{{"region", "us-east-1"}}, json{{"queueUrl", "q"}, {"deduplicationId", false}}, json{{"queueUrl", "q"}, {"queueURL", "x"}},
                     json{{"queueUrl", "q"}, {"defaultQueueUrl", "p"}}, json{{"queueUrl", ""}}, json{{"queues", {{"a", 1}}}},
                     json{{"queueUrl", "q"}, {"credentials", {{"accessKeyId", "k"}}}},
                     json{{"queueUrl", "q"}, {"messageAttributes", {{"n", {{"StringValue", "1"}, {"DataType", "Number"}}}}}}})
        EXPECT_THROW(SqsOptions::from_config(bad), ConfigError) << bad.dump();
}

// ---- against fauxqs ----------------------------------------------------------------------------------

class SqsServer : public ::testing::Test {
protected:
    static std::string endpoint() {
        const char* port = std::getenv("FAUXQS_PORT");
        return std::string("http://127.0.0.1:") + (port && *port ? port : "4566");
    }
    /// A queue name no other run of these tests uses on the same server.
    static std::string unique(const std::string& base) {
        static std::atomic<int> n{0};
        const auto now = std::chrono::system_clock::now().time_since_epoch() / 1ms;
        return base + "-" + std::to_string(getpid()) + "-" + std::to_string(now) + "-" + std::to_string(n++);
    }
    static SqsOptions options(SqsOptions o = {}) {
        o.endpoint = endpoint();
        o.credentials = test_credentials;
        o.retry = no_waits();
        return o;
    }

    /// Every message now on `url`, received and deleted (FIFO groups unlock as they are deleted).
    std::vector<json> drain(const std::string& url) {
        std::vector<json> out;
        for (;;) {
            json got = client_.call("ReceiveMessage", {{"QueueUrl", url},
                                                       {"MaxNumberOfMessages", 10},
                                                       {"WaitTimeSeconds", 1},
                                                       {"MessageAttributeNames", {"All"}},
                                                       {"MessageSystemAttributeNames", {"All"}}});
            auto messages = got.value("Messages", json::array());
            if (messages.empty()) return out;
            for (auto& m : messages) {
                client_.call("DeleteMessage", {{"QueueUrl", url}, {"ReceiptHandle", m["ReceiptHandle"]}});
                out.push_back(m);
            }
        }
    }
    std::string create_queue(const std::string& name, json attributes = json::object()) {
        if (name.ends_with(".fifo")) attributes["FifoQueue"] = "true";
        json req = {{"QueueName", name}};
        if (!attributes.empty()) req["Attributes"] = attributes;
        return client_.call("CreateQueue", req)["QueueUrl"];
    }

    detail::SqsClient client_{options().client_options()};
};

TEST_F(SqsServer, InsertsUpdatesDeletesArriveFieldByField) {
    using R = Replicator<SqsTarget>;
    const std::string queue = unique("changes");
    SqsTarget sqs(options({.queue = queue, .create_queues = true, .message_attributes = {{"origin", "s3db-tests"}}}), ResourceMap::only({"users"}));
    BasicDatabase<Memory, R> db(memory_store(), {}, R(fast(), std::move(sqs)));
    db.connect();
    auto& users = db.create_resource(users_config());
    // What each write stored, as the messages must carry it.
    std::map<std::string, std::vector<std::pair<std::string, json>>> expected;  // id → (action, data)
    for (int i = 0; i < 12; ++i) {
        const std::string id = "u" + std::to_string(i);
        expected[id].emplace_back("insert", users.insert({{"id", id}, {"name", "name ✓ " + std::to_string(i)}, {"region", "eu"}}));
        if (i % 3 != 0) expected[id].emplace_back("update", users.update(id, {{"visits", i}}));
        if (i % 4 == 0) {
            users.remove(id);
            expected[id].emplace_back("delete", json{{"id", id}});
        }
    }
    auto& rep = db.plugin<R>();
    ASSERT_TRUE(rep.wait_idle());
    EXPECT_EQ(rep.stats().failed, 0u);
    const std::string url = rep.target<0>().queue_url("users");
    EXPECT_EQ(url, endpoint() + "/000000000000/" + queue) << "the queue was created by name";

    std::map<std::string, std::vector<std::pair<std::string, json>>> received;
    for (auto& m : drain(url)) {
        EXPECT_EQ(m["MessageAttributes"]["origin"]["StringValue"], "s3db-tests");
        json body = json::parse(m["Body"].get<std::string>());
        EXPECT_EQ(body["resource"], "users");
        EXPECT_EQ(body["source"], "s3db-replicator");
        EXPECT_TRUE(detail::parse_js_date(body["timestamp"].get<std::string>())) << body["timestamp"];
        received[body["id"]].emplace_back(body["action"], body["data"]);
    }
    // A standard queue does not keep order between messages: compare each record's changes as a set.
    for (auto& [id, changes] : received) std::sort(changes.begin(), changes.end());
    for (auto& [id, changes] : expected) std::sort(changes.begin(), changes.end());
    EXPECT_EQ(received, expected);
}

TEST_F(SqsServer, TargetsFromAConnectionStringAndFromTheSeedsConfig) {
    // sqs+http://KEY:SECRET@127.0.0.1:<port>/<name>?create=true, and the seed's {queueUrl, …} for a
    // second queue: both deliver the same writes.
    using R = Replicator<SqsTarget, SqsTarget>;
    const std::string name = unique("from-url");
    const std::string host = endpoint().substr(std::string("http://").size());
    auto from_url = SqsOptions::from_url("sqs+http://" + test_credentials.access_key_id + ":" + test_credentials.secret_access_key + "@" +
                                         host + "/" + name + "?create=true&region=us-east-1");
    from_url.retry = no_waits();
    const std::string second = create_queue(unique("from-config"));
    auto from_config = SqsOptions::from_config({{"queueUrl", second},
                                                {"region", "us-east-1"},
                                                {"credentials", {{"accessKeyId", test_credentials.access_key_id},
                                                                 {"secretAccessKey", test_credentials.secret_access_key}}},
                                                {"messageAttributes", {{"source", {{"StringValue", "seed"}, {"DataType", "String"}}}}}});
    EXPECT_EQ(from_config.endpoint, endpoint());
    from_config.retry = no_waits();
    BasicDatabase<Memory, R> db(memory_store(), {},
                                R(fast(), SqsTarget(std::move(from_url), ResourceMap::only({"users"}), "url"),
                                  SqsTarget(std::move(from_config), ResourceMap::only({"users"}), "config")));
    db.connect();
    auto& users = db.create_resource(users_config());
    std::map<std::string, json> expected;
    for (int i = 0; i < 5; ++i) expected["u" + std::to_string(i)] = users.insert({{"id", "u" + std::to_string(i)}, {"name", "n" + std::to_string(i)}});
    auto& rep = db.plugin<R>();
    ASSERT_TRUE(rep.wait_idle());
    EXPECT_EQ(rep.stats().failed, 0u);
    const std::string first = rep.target<0>().queue_url("users");
    EXPECT_EQ(first, endpoint() + "/000000000000/" + name) << "created by the name the URL gives";
    for (const auto& url : {first, second}) {
        std::map<std::string, json> got;
        for (auto& m : drain(url)) {
            json body = json::parse(m["Body"].get<std::string>());
            EXPECT_EQ(body["action"], "insert");
            if (url == second) {
                EXPECT_EQ(m["MessageAttributes"]["source"]["StringValue"], "seed");
            }
            got[body["id"]] = body["data"];
        }
        EXPECT_EQ(got, expected) << url;
    }
}

/// Sends, then reports a failure that cannot be retried the first `n` times: a process that
/// delivered a change but died before it could record so.
struct SendsThenFails {
    SqsTarget inner;
    std::shared_ptr<std::atomic<int>> failures_left = std::make_shared<std::atomic<int>>(0);
    std::string target_name() const { return inner.target_name(); }
    const ResourceMap& resources() const { return inner.resources(); }
    void deliver(const std::vector<Delivery>& batch) {
        inner.deliver(batch);
        if (failures_left->fetch_sub(1) > 0) throw ReplicationError("sqs", {}, {}, "lost the answer", false);
    }
};

TEST_F(SqsServer, FifoGroupsAndDropsAReplayedWrite) {
    using R = Replicator<SendsThenFails>;
    const std::string queue = unique("changes") + ".fifo";
    SendsThenFails target{SqsTarget(options({.queue = queue, .create_queues = true}), ResourceMap::only({"users"}))};
    target.failures_left->store(1);
    ReplicatorOptions o = fast();
    o.batch_size = 1;
    BasicDatabase<Memory, R> db(memory_store(), {}, R(o, target));
    db.connect();
    auto& users = db.create_resource(users_config());
    users.insert({{"id", "a"}, {"name", "first"}});  // sent, then "failed": its log entry stays
    auto& rep = db.plugin<R>();
    ASSERT_TRUE(rep.wait_idle());
    ASSERT_EQ(rep.stats().failed, 1u);
    users.update("a", {{"visits", 1}});
    users.update("a", {{"visits", 1}});  // the same content written again: another write, sent
    ASSERT_TRUE(rep.wait_idle());
    users.insert({{"id", "b"}, {"name", "second"}});
    ASSERT_TRUE(rep.wait_idle());
    target.failures_left->store(1);
    users.update("b", {{"visits", 2}});  // sent, then "failed"
    ASSERT_TRUE(rep.wait_idle());
    // Both replays carry the write id of their record's failed entry, so SQS drops them: "b" is the
    // same write again; "a" has changed since, but every later write of it was delivered already
    // (a replay's write id is its record's latest pending entry).
    EXPECT_EQ(rep.retry_failed(), 2u);
    ASSERT_TRUE(rep.wait_idle());
    EXPECT_TRUE(rep.logs().empty());

    const std::string url = rep.target<0>().inner.queue_url("users");
    std::vector<std::string> seen;
    for (auto& m : drain(url)) {
        json body = json::parse(m["Body"].get<std::string>());
        EXPECT_EQ(m["Attributes"]["MessageGroupId"], "users") << "one group per resource by default";
        EXPECT_EQ(m["Attributes"]["MessageDeduplicationId"].get<std::string>().size(), 64u);
        seen.push_back(body["id"].get<std::string>() + ":" + body["action"].get<std::string>() + ":" +
                       std::to_string(body["data"].value("visits", 0)));
    }
    // In write order (one group), each write once: the replays were dropped.
    EXPECT_EQ(seen, (std::vector<std::string>{"a:insert:0", "a:update:1", "a:update:1", "b:insert:0", "b:update:2"}));
}

TEST_F(SqsServer, MessageGroupFromAFunctionAndDirectReplayDropped) {
    const std::string url = create_queue(unique("groups") + ".fifo");
    SqsTarget sqs(options({.queue = url, .message_group = [](const Delivery& d) { return "rec-" + d.id; }}));
    std::vector<Delivery> batch = {delivery("x", "insert", {{"id", "x"}}, "w1"), delivery("y", "insert", {{"id", "y"}}, "w2")};
    sqs.deliver(batch);
    sqs.deliver(batch);  // the same writes again, within SQS's deduplication window
    std::map<std::string, std::string> groups;
    for (auto& m : drain(url)) groups[json::parse(m["Body"].get<std::string>())["id"]] = m["Attributes"]["MessageGroupId"];
    EXPECT_EQ(groups, (std::map<std::string, std::string>{{"x", "rec-x"}, {"y", "rec-y"}}));
}

TEST_F(SqsServer, BatchesHoldTenMessagesAndTheByteLimit) {
    const std::string url = create_queue(unique("batches"));
    SqsTarget sqs(options({.queue = url}));
    std::vector<Delivery> batch;
    for (int i = 0; i < 25; ++i) batch.push_back(delivery("b" + std::to_string(i), "insert", {{"id", "b" + std::to_string(i)}}));
    auto before = sqs.requests();
    sqs.deliver(batch);
    EXPECT_EQ(sqs.requests() - before, 3u) << "25 messages: 10 + 10 + 5";
    EXPECT_EQ(drain(url).size(), 25u);

    // ~1 KiB messages under a 2.5 KiB limit: two per request.
    SqsTarget small(options({.queue = url, .max_batch_bytes = 2560}));
    std::vector<Delivery> big;
    for (int i = 0; i < 5; ++i)
        big.push_back(delivery("k" + std::to_string(i), "insert", {{"id", "k" + std::to_string(i)}, {"pad", std::string(1000, 'x')}}));
    before = small.requests();
    small.deliver(big);
    EXPECT_EQ(small.requests() - before, 3u);
    EXPECT_EQ(drain(url).size(), 5u);
}

TEST_F(SqsServer, AMessageTheQueueRefusesFailsAlone) {
    const std::string url = create_queue(unique("small"), {{"MaximumMessageSize", "1024"}});
    SqsTarget sqs(options({.queue = url}));
    std::vector<Delivery> batch;
    for (int i = 0; i < 5; ++i)
        batch.push_back(delivery("m" + std::to_string(i), "insert", {{"id", "m" + std::to_string(i)}, {"pad", std::string(i == 2 ? 2000 : 10, 'x')}}));
    try {
        sqs.deliver(batch);
        ADD_FAILURE() << "the refused message was not reported";
    } catch (const ReplicationError& e) {
        EXPECT_FALSE(e.retryable());
        EXPECT_EQ(e.id(), "m2");
        EXPECT_EQ(e.failed(), std::vector<std::size_t>{2}) << "the others count as delivered";
        EXPECT_NE(std::string(e.what()).find("1 of 5"), std::string::npos) << e.what();
    }
    std::vector<std::string> ids;
    for (auto& m : drain(url)) ids.push_back(json::parse(m["Body"].get<std::string>())["id"]);
    std::sort(ids.begin(), ids.end());
    EXPECT_EQ(ids, (std::vector<std::string>{"m0", "m1", "m3", "m4"}));
}

TEST_F(SqsServer, AMissingQueueFailsTheBatchUnlessCreated) {
    const std::string known = create_queue(unique("known"));
    SqsTarget sqs(options({.queue = unique("absent"), .queues = {{"orders", known}}, .create_queues = false}));
    auto order = delivery("o", "insert", {{"id", "o"}});
    order.resource = "orders";
    try {
        sqs.deliver({order, delivery("z", "insert", {{"id", "z"}})});
        ADD_FAILURE() << "a missing queue was not reported";
    } catch (const ReplicationError& e) {
        EXPECT_FALSE(e.retryable());
        EXPECT_NE(std::string(e.what()).find("QueueDoesNotExist"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(drain(known).empty()) << "nothing of a batch is sent when one of its queues is missing";
    // Created on request, with the FIFO attribute its name asks for.
    const std::string fifo = unique("made") + ".fifo";
    SqsTarget creating(options({.queue = fifo, .create_queues = true}));
    creating.deliver({delivery("z", "insert", {{"id", "z"}}, "w1")});
    const std::string url = creating.queue_url("users");
    EXPECT_EQ(url, endpoint() + "/000000000000/" + fifo);
    EXPECT_EQ(client_.call("GetQueueAttributes", {{"QueueUrl", url}, {"AttributeNames", {"FifoQueue"}}})["Attributes"]["FifoQueue"], "true");
    EXPECT_EQ(drain(url).size(), 1u);
}

}  // namespace
