// QueueConsumer. Without a server: the message contract (nested $body, typed errors for what breaks
// it) and the idempotence rule applied to a database (an insert redelivered over its own record is
// done, over other data a conflict; delete of a missing id is done; an insert without id gets the
// same id on every delivery). Against fauxqs on 127.0.0.1 (suite SqsServer; FAUXQS_PORT, started by
// the ctest fixture sqs:start): 1,000 published messages (insert/update/delete on a FIFO queue, one
// group per record) leave the resource equal to a model while a poison message and a malformed one
// are dead-lettered with their error and the rest go on; acknowledgements lost (the consumer "dies"
// before DeleteMessageBatch) → every message redelivered and found applied, nothing doubled; a
// consumer process SIGKILLed midway (forked, Filesystem store) → a restarted one finishes the queue
// and the resource equals the model, each id-less insert present once; a long poll of 20 s is
// cancelled by stop within a couple of seconds. Request budgets (database and SQS) are asserted.

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <thread>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "s3db/core/database.hpp"
#include "s3db/plugins/queue_consumer.hpp"
#include "s3db/transport/counting.hpp"
#include "s3db/transport/filesystem.hpp"
#include "s3db/transport/memory.hpp"
#include "support/kill_midway.hpp"

using namespace s3db;
using namespace std::chrono_literals;

namespace {

const Credentials test_credentials{"sqs-test-key", "sqs-secret-never-printed", ""};

ResourceConfig users_config() {
    return {.name = "users",
            .attributes = {{"name", "string|required"}, {"region", "string|optional"}, {"visits", "number|optional"}}};
}

Memory memory_store() {
    static std::atomic<int> n{0};
    return Memory(MemoryOptions{.prefix = "qc-" + std::to_string(getpid()) + "-" + std::to_string(n++)});
}

QueueMessage message(std::string body, std::string id = "m-1") { return {.id = std::move(id), .body = std::move(body)}; }

// ---- without a server ------------------------------------------------------------------------------

TEST(QueueConsumerContract, ParsesTopLevelAndNestedBodies) {
    auto c = detail::parse_queue_message("c", message(R"({"resource":"users","action":"update","data":{"id":"u1","visits":2}})"));
    EXPECT_EQ(c.resource, "users");
    EXPECT_EQ(c.action, "update");
    EXPECT_EQ(c.id, "u1");
    EXPECT_EQ(c.data["visits"], 2);
    auto nested = detail::parse_queue_message("c", message(R"({"$body":{"resource":"users","action":"delete","data":{"id":"u2"}}})"));
    EXPECT_EQ(nested.action, "delete");
    EXPECT_EQ(nested.id, "u2");
    auto as_string = detail::parse_queue_message(
        "c", message(json{{"$body", R"({"resource":"users","action":"insert","data":{"id":"u3","name":"x"}})"}}.dump()));
    EXPECT_EQ(as_string.id, "u3");
}

TEST(QueueConsumerContract, WhatBreaksTheContractIsAPermanentQueueError) {
    for (const char* body : {"not json", "[1]", R"({"action":"insert","data":{}})", R"({"resource":"users","data":{}})",
                             R"({"resource":"users","action":"upsert","data":{}})", R"({"resource":"users","action":"insert"})",
                             R"({"resource":"users","action":"update","data":{"visits":1}})",
                             R"({"resource":"users","action":"delete","data":{"id":7}})"}) {
        try {
            detail::parse_queue_message("orders-in", message(body, "msg-9"));
            ADD_FAILURE() << "accepted: " << body;
        } catch (const QueueError& e) {
            EXPECT_TRUE(e.permanent()) << body;
            EXPECT_EQ(e.consumer(), "orders-in");
            EXPECT_NE(std::string(e.what()).find("msg-9"), std::string::npos) << e.what();
        }
    }
}

TEST(QueueConsumerContract, InsertWithoutIdGetsTheSameIdOnEveryDelivery) {
    auto a = detail::parse_queue_message("c", message(R"({"resource":"users","action":"insert","data":{"name":"n"}})", "sqs-id-1"));
    auto again = detail::parse_queue_message("c", message(R"({"resource":"users","action":"insert","data":{"name":"n"}})", "sqs-id-1"));
    auto other = detail::parse_queue_message("c", message(R"({"resource":"users","action":"insert","data":{"name":"n"}})", "sqs-id-2"));
    EXPECT_EQ(a.id, again.id);
    EXPECT_NE(a.id, other.id);
    EXPECT_EQ(a.data["id"], a.id);
}

TEST(QueueConsumerContract, RedeliveriesLeaveTheDatabaseAsOneDelivery) {
    BasicDatabase<Memory> db(memory_store());
    db.connect();
    auto& res = db.create_resource(users_config());
    ResourceRef users(res);
    auto cmd = [](const char* body) { return detail::parse_queue_message("c", message(body)); };
    auto insert = cmd(R"({"resource":"users","action":"insert","data":{"id":"u1","name":"Ana","visits":1}})");
    EXPECT_FALSE(detail::apply_queue_command("c", users, insert));
    EXPECT_TRUE(detail::apply_queue_command("c", users, insert)) << "the same insert again is found applied";
    auto conflicting = cmd(R"({"resource":"users","action":"insert","data":{"id":"u1","name":"Bob"}})");
    try {
        detail::apply_queue_command("c", users, conflicting);
        ADD_FAILURE() << "an insert over other data was accepted";
    } catch (const QueueError& e) {
        EXPECT_TRUE(e.permanent());
        EXPECT_EQ(e.id(), "u1");
    }
    auto update = cmd(R"({"resource":"users","action":"update","data":{"id":"u1","visits":5}})");
    detail::apply_queue_command("c", users, update);
    detail::apply_queue_command("c", users, update);
    EXPECT_EQ(res.get("u1")["visits"], 5);
    EXPECT_EQ(res.get("u1")["name"], "Ana");
    auto remove = cmd(R"({"resource":"users","action":"delete","data":{"id":"u1"}})");
    detail::apply_queue_command("c", users, remove);
    EXPECT_NO_THROW(detail::apply_queue_command("c", users, remove)) << "delete of a missing id is done";
    EXPECT_FALSE(users.get_or_null("u1"));
    auto invalid = cmd(R"({"resource":"users","action":"insert","data":{"id":"u2","visits":"many"}})");
    try {
        detail::apply_queue_command("c", users, invalid);
        ADD_FAILURE() << "a record the schema refuses was accepted";
    } catch (const std::exception& e) {
        EXPECT_TRUE(detail::queue_permanent(e)) << e.what();
    }
}

TEST(QueueConsumerContract, ConfigurationIsChecked) {
    EXPECT_THROW(QueueConsumer({.consumers = {{.name = "x"}}}).validate(), ConfigError);
    RetryPolicy once;
    once.max_attempts = 1;
    auto q = std::make_shared<SqsQueue>(
        SqsQueueOptions{.endpoint = "http://127.0.0.1:1", .credentials = test_credentials, .queue = "http://127.0.0.1:1/000/q", .retry = once});
    EXPECT_THROW(QueueConsumer({.consumers = {{.name = "a", .driver = q}, {.name = "a", .driver = q}}}).validate(), ConfigError);
    EXPECT_THROW(QueueConsumer({.consumers = {{.driver = q, .concurrency = 0}}}).validate(), ConfigError);
    EXPECT_THROW(SqsQueue({.credentials = test_credentials}), ConfigError);
    EXPECT_THROW(SqsQueue({.credentials = test_credentials, .queue = "q", .wait_time = 21s}), ConfigError);
    QueueConsumer ok({.consumers = {{.resources = {"users"}, .driver = q}}});
    EXPECT_NO_THROW(ok.validate());
    EXPECT_EQ(ok.options().consumers[0].name, "http://127.0.0.1:1/000/q") << "a consumer is named after its queue by default";
    EXPECT_THROW(ok.publish("nope", {{"resource", "users"}, {"action", "insert"}, {"data", json::object()}}), QueueError);
    EXPECT_THROW(ok.publish("http://127.0.0.1:1/000/q", {{"resource", "orders"}, {"action", "insert"}, {"data", json::object()}}), QueueError)
        << "a resource the consumer does not serve is refused before sending";
    EXPECT_THROW(ok.publish("http://127.0.0.1:1/000/q", {{"resource", "users"}, {"action", "drop"}, {"data", json::object()}}), QueueError);
    // A valid message (nested under $body) gets as far as the broker, here unreachable: a TransportError.
    EXPECT_THROW(ok.publish("http://127.0.0.1:1/000/q", {{"$body", {{"resource", "users"}, {"action", "delete"}, {"data", {{"id", "u1"}}}}}}), TransportError);
}

// ---- against fauxqs ----------------------------------------------------------------------------------

class SqsServer : public ::testing::Test {
protected:
    static std::string endpoint() {
        const char* port = std::getenv("FAUXQS_PORT");
        return std::string("http://127.0.0.1:") + (port && *port ? port : "4566");
    }
    static std::string unique(const std::string& base) {
        static std::atomic<int> n{0};
        const auto now = std::chrono::system_clock::now().time_since_epoch() / 1ms;
        return base + "-" + std::to_string(getpid()) + "-" + std::to_string(now) + "-" + std::to_string(n++);
    }
    static RetryPolicy quick() {
        RetryPolicy p;
        p.max_attempts = 3;
        p.base_delay = 10ms;
        return p;
    }
    static SqsQueueOptions options(SqsQueueOptions o) {
        o.endpoint = endpoint();
        o.credentials = test_credentials;
        o.create_queues = true;
        o.retry = quick();
        return o;
    }
    /// Every message now on `url`, received and deleted.
    std::vector<json> drain(const std::string& url) {
        std::vector<json> out;
        for (;;) {
            json got = client_.call("ReceiveMessage", {{"QueueUrl", url},
                                                       {"MaxNumberOfMessages", 10},
                                                       {"WaitTimeSeconds", 1},
                                                       {"MessageAttributeNames", {"All"}}});
            auto messages = got.value("Messages", json::array());
            if (messages.empty()) return out;
            for (auto& m : messages) {
                client_.call("DeleteMessage", {{"QueueUrl", url}, {"ReceiptHandle", m["ReceiptHandle"]}});
                out.push_back(m);
            }
        }
    }
    /// Messages on the queue named `name`, visible or in flight (GetQueueAttributes).
    std::size_t drain_count(const std::string& name) {
        json a = client_.call("GetQueueAttributes", {{"QueueUrl", client_.queue_url(name)},
                                                     {"AttributeNames", {"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"}}});
        auto& attrs = a["Attributes"];
        return std::stoul(attrs.value("ApproximateNumberOfMessages", std::string("0"))) +
               std::stoul(attrs.value("ApproximateNumberOfMessagesNotVisible", std::string("0")));
    }
    detail::SqsClient client_{SqsClientOptions{.endpoint = endpoint(), .credentials = test_credentials, .retry = quick()}};
};

TEST_F(SqsServer, AThousandMessagesLeaveTheModelAndThePoisonIsDeadLettered) {
    const std::string source = unique("users") + ".fifo", dead = unique("users-dead") + ".fifo";
    auto sqs_options = options({.queue = source, .dead_letter_queue = dead, .wait_time = 1s, .visibility_timeout = 5s,
                                .retry_delay = 0s});
    // Published first, by a QueueConsumer that consumes nothing (publish needs no database), so the
    // consumer's requests per message are measured on a full queue.
    auto outbox = std::make_shared<SqsQueue>(sqs_options);
    QueueConsumer producer({.enabled = false, .consumers = {{.name = "users-in", .resources = {"users"}, .driver = outbox}}});
    auto& qc = producer;
    std::uint64_t inserts = 0, updates = 0, deletes = 0;

    // 1,000 messages over 150 records: each a valid next step of its record in the model.
    std::mt19937 rng(20261207);
    std::map<std::string, json> model;
    for (int i = 0; i < 1000; ++i) {
        const std::string id = "u" + std::to_string(rng() % 150);
        json msg = {{"resource", "users"}};
        if (!model.contains(id)) {
            json data = {{"id", id}, {"name", "name " + std::to_string(i)}, {"visits", 0}};
            msg["action"] = "insert";
            msg["data"] = data;
            model[id] = data;
            ++inserts;
        } else if (rng() % 5 == 0) {
            msg["action"] = "delete";
            msg["data"] = {{"id", id}};
            model.erase(id);
            ++deletes;
        } else {
            msg["action"] = "update";
            msg["data"] = {{"id", id}, {"visits", i}, {"region", i % 2 ? "eu" : "us"}};
            model[id]["visits"] = i;
            model[id]["region"] = i % 2 ? "eu" : "us";
            ++updates;
        }
        qc.publish("users-in", msg);
        if (i == 500) {
            // Poison: an update of a record that never exists fails on every delivery.
            qc.publish("users-in", {{"resource", "users"}, {"action", "update"}, {"data", {{"id", "ghost"}, {"visits", 1}}}});
            // Malformed: not the contract at all, dead-lettered on its first delivery.
            client_.call("SendMessage", {{"QueueUrl", outbox->queue_url()}, {"MessageBody", "{not json"},
                                         {"MessageGroupId", "raw"}, {"MessageDeduplicationId", "raw-1"}});
        }
    }

    Memory store = memory_store();  // copies share one bucket
    {
        BasicDatabase<Memory> setup(store);  // the resource exists before the workers start
        setup.connect();
        setup.create_resource(users_config());
    }
    auto queue = std::make_shared<SqsQueue>(sqs_options);
    BasicDatabase<Counting<Memory>, QueueConsumer> db(
        Counting<Memory>(store), {},
        QueueConsumer({.consumers = {{.name = "users-in", .resources = {"users"}, .driver = queue, .concurrency = 4}},
                       .max_receive_count = 3}));
    db.connect();  // 1 GET of s3db.json, then the workers start
    auto& consumer = db.plugin<QueueConsumer>();
    ASSERT_TRUE(consumer.wait_for([](auto& s) { return s.applied >= 1000 && s.dead_lettered >= 2; }, 45s))
        << "applied " << consumer.stats().applied << ", dead " << consumer.stats().dead_lettered << ", failed " << consumer.stats().failed;
    db.disconnect();
    auto s = consumer.stats();
    EXPECT_EQ(s.applied, 1000u);
    EXPECT_EQ(s.dead_lettered, 2u);
    EXPECT_EQ(s.failed, 2u) << "the poison failed twice before its third delivery dead-lettered it";
    // Budget on the database: insert 1 PUT, update 1 GET + 1 PUT, delete 1 DELETE; the poison 1 GET
    // per delivery (3); the malformed message none; + the catalogue's GET at connect.
    const auto c = db.transport().counts();
    EXPECT_EQ(c.put, inserts + updates);
    EXPECT_EQ(c.get, updates + 3 + 1);
    EXPECT_EQ(c.remove, deletes);
    EXPECT_EQ(c.head + c.list + c.copy + c.remove_many, 0u);
    // On SQS: per received batch (≤ 10) 1 ReceiveMessage and 1 DeleteMessageBatch, 2 requests per
    // dead letter, 1 ChangeMessageVisibility per failure, 2 to resolve the queues, the idle polls at the end.
    const auto consuming = queue->requests();
    std::cout << "[ budget ] database " << c.total() << " requests for 1,000 messages (" << inserts << " inserts, " << updates
              << " updates, " << deletes << " deletes); SQS " << consuming << " requests to consume 1,002 messages\n";
    EXPECT_LE(consuming, 320u) << "batches of up to 10: ~0.23 requests per message measured (s3db.js: 1 DeleteMessage each)";

    auto& users = db.resource("users");
    auto ids = users.list_ids();
    EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), model.size());
    for (auto& [id, expected] : model) {
        auto got = users.get_or_null(id);
        ASSERT_TRUE(got) << id;
        for (auto& [k, v] : expected.items()) EXPECT_EQ((*got)[k], v) << id << "." << k;
    }
    EXPECT_FALSE(users.get_or_null("ghost"));

    auto dead_letters = drain(queue->dead_letter_url());
    ASSERT_EQ(dead_letters.size(), 2u);
    std::set<std::string> bodies;
    for (auto& m : dead_letters) {
        bodies.insert(m["Body"].get<std::string>());
        const std::string error = m["MessageAttributes"]["s3db-error"]["StringValue"];
        EXPECT_NE(error.find("queue consumer 'users-in'"), std::string::npos) << error;
        EXPECT_EQ(error.find(test_credentials.secret_access_key), std::string::npos);
        EXPECT_EQ(m["MessageAttributes"]["s3db-source-queue"]["StringValue"], source);
    }
    EXPECT_TRUE(bodies.contains("{not json"));
    EXPECT_EQ(drain(queue->queue_url()).size(), 0u) << "nothing left behind on the source queue";
}

/// A driver whose first acknowledgements are lost: the consumer "dies" after applying, before
/// DeleteMessageBatch, so SQS delivers the same messages again.
class LosesFirstAcks final : public QueueDriver {
public:
    LosesFirstAcks(std::shared_ptr<SqsQueue> q, int lose) : q_(std::move(q)), lose_(lose) {}
    std::string describe() const override { return q_->describe(); }
    std::vector<QueueMessage> receive(std::size_t max, const std::atomic<bool>& stop) override { return q_->receive(max, stop); }
    void ack(const std::vector<QueueMessage>& done) override {
        if (lose_-- > 0) throw TransportError("acknowledgement lost (test)", {0, "NetworkError", {}, {}, true});
        q_->ack(done);
    }
    bool fail(const QueueMessage& m, const std::string& e, bool dead) override { return q_->fail(m, e, dead); }
    void publish(const std::string& body, const std::string& group) override { q_->publish(body, group); }

private:
    std::shared_ptr<SqsQueue> q_;
    std::atomic<int> lose_;
};

TEST_F(SqsServer, LostAcknowledgementsRedeliverAndNothingIsAppliedTwice) {
    auto sqs = std::make_shared<SqsQueue>(options({.queue = unique("redeliver"), .wait_time = 1s, .visibility_timeout = 1s}));
    auto driver = std::make_shared<LosesFirstAcks>(sqs, 3);
    BasicDatabase<Memory, QueueConsumer> db(memory_store(), {},
                                            QueueConsumer({.consumers = {{.name = "in", .driver = driver, .batch_size = 10}}}));
    db.connect();
    auto& users = db.create_resource(users_config());
    auto& qc = db.plugin<QueueConsumer>();
    for (int i = 0; i < 20; ++i)  // inserts without ids: the id comes from the SQS message id
        qc.publish("in", {{"resource", "users"}, {"action", "insert"}, {"data", {{"name", "n" + std::to_string(i)}}}});
    qc.publish("in", {{"resource", "users"}, {"action", "insert"}, {"data", {{"id", "fixed"}, {"name", "f"}}}});
    ASSERT_TRUE(qc.wait_for([](auto& s) { return s.applied >= 21; }, 30s)) << qc.stats().applied;
    db.disconnect();
    auto s = qc.stats();
    EXPECT_GT(s.duplicates, 0u) << "lost acknowledgements were redelivered and found applied";
    EXPECT_EQ(s.applied, 21u);
    EXPECT_EQ(s.dead_lettered, 0u);
    EXPECT_EQ(s.failed, 0u);
    EXPECT_EQ(users.list_ids().size(), 21u) << "no insert doubled by its redelivery";
}

TEST_F(SqsServer, AConsumerKilledMidwayLosesNothingAndDoublesNothing) {
    const std::string source = unique("crash") + ".fifo";
    auto sqs_options = options({.queue = source, .wait_time = 1s, .visibility_timeout = 2s});
    auto outbox = std::make_shared<SqsQueue>(sqs_options);
    QueueConsumer producer({.enabled = false, .consumers = {{.name = "in", .driver = outbox}}});
    std::mt19937 rng(9);
    std::map<std::string, json> model;
    int anonymous = 0;
    for (int i = 0; i < 300; ++i) {
        if (i % 6 == 0) {  // an insert without id: its id comes from the SQS message id
            producer.publish("in", {{"resource", "users"}, {"action", "insert"},
                                    {"data", {{"name", "anon-" + std::to_string(anonymous++)}}}});
            continue;
        }
        const std::string id = "c" + std::to_string(rng() % 60);
        if (!model.contains(id)) {
            model[id] = {{"id", id}, {"name", "n" + std::to_string(i)}, {"visits", 0}};
            producer.publish("in", {{"resource", "users"}, {"action", "insert"}, {"data", model[id]}});
        } else if (rng() % 8 == 0) {
            model.erase(id);
            producer.publish("in", {{"resource", "users"}, {"action", "delete"}, {"data", {{"id", id}}}});
        } else {
            model[id]["visits"] = i;
            producer.publish("in", {{"resource", "users"}, {"action", "update"}, {"data", {{"id", id}, {"visits", i}}}});
        }
    }
    const auto dir = std::filesystem::temp_directory_path() / unique("qc-crash");
    auto store = [&] { return Filesystem(FilesystemOptions{.root = dir, .durable = false}); };
    {
        BasicDatabase<Filesystem> setup(store());
        setup.connect();
        setup.create_resource(users_config());
    }
    // The child consumes with 3 workers and is SIGKILLed after 120 messages applied: some of them
    // applied and not yet deleted from the queue, others received and not applied.
    auto applied = test::kill_midway(120, [&](const std::function<bool()>& ack) {
        BasicDatabase<Filesystem, QueueConsumer> db(
            store(), {}, QueueConsumer({.consumers = {{.name = "in", .driver = std::make_shared<SqsQueue>(sqs_options), .concurrency = 3}}}));
        db.on_plugin_event("queue-consumer.applied", [&](std::string_view, const json&) { ack(); });
        db.connect();
        std::this_thread::sleep_for(60s);
    });
    ASSERT_TRUE(applied);
    EXPECT_GE(*applied, 120);

    BasicDatabase<Filesystem, QueueConsumer> db(
        store(), {}, QueueConsumer({.consumers = {{.name = "in", .driver = std::make_shared<SqsQueue>(sqs_options), .concurrency = 3}}}));
    db.connect();
    auto& users = db.resource("users");
    auto& qc = db.plugin<QueueConsumer>();
    const std::size_t expected = model.size() + static_cast<std::size_t>(anonymous);
    // Done when the queue is empty: every message the child left (in flight or not received) came back.
    ASSERT_TRUE(qc.wait_for([&](auto&) { return users.list_ids().size() == expected && drain_count(source) == 0; }, 40s))
        << users.list_ids().size() << " records, expected " << expected;
    db.disconnect();
    const auto st = qc.stats();
    std::cout << "[ crash ] the child applied " << *applied << " before SIGKILL; after the restart " << st.applied
              << " applied, " << st.duplicates << " of them inserts found already applied\n";
    EXPECT_EQ(st.failed + st.dead_lettered, 0u);
    std::set<std::string> names;
    for (auto& r : users.list()) {
        const std::string id = r["id"];
        if (model.contains(id)) {
            for (auto& [k, v] : model[id].items()) EXPECT_EQ(r[k], v) << id << "." << k;
        } else {
            names.insert(r["name"].get<std::string>());
        }
    }
    EXPECT_EQ(names.size(), static_cast<std::size_t>(anonymous)) << "each id-less insert once, none doubled by a redelivery";
    std::filesystem::remove_all(dir);
}

TEST_F(SqsServer, StopCancelsALongPoll) {
    auto sqs = std::make_shared<SqsQueue>(options({.queue = unique("idle"), .wait_time = 20s}));
    sqs->queue_url();
    BasicDatabase<Memory, QueueConsumer> db(memory_store(), {}, QueueConsumer({.consumers = {{.driver = sqs, .concurrency = 2}}}));
    db.connect();
    std::this_thread::sleep_for(1500ms);  // both workers are in their 20 s poll
    const auto before = sqs->requests();
    const auto t0 = std::chrono::steady_clock::now();
    db.disconnect();
    const auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_LT(took, 3s) << "stop waited for the long poll";
    EXPECT_LE(sqs->requests(), before + 2) << "no request after stop but the two polls it cancelled";
    EXPECT_EQ(db.plugin<QueueConsumer>().stats().receive_errors, 0u) << "a cancelled poll is no error";
}

}  // namespace
