// The QueueConsumer's RabbitMQ driver (opt-in, links rabbitmq-c: built when s3db::rabbitmq exists).
// Against a throwaway RabbitMQ node on 127.0.0.1 (suite RabbitMqServer; RMQ_PORT, started by the
// ctest fixture rabbitmq:start, cmake/rabbitmq-server.sh): 1,000 published messages (insert/update/
// delete, confirmed by the broker) leave the resource equal to a model while a poison message is
// nacked without requeue and lands on the dead-letter queue, the rest going on; a durable queue
// declared with its dead-letter exchange; deliveries a stopped worker held go back to the queue.

#include <gtest/gtest.h>

#include <unistd.h>

#include <amqp.h>
#include <amqp_tcp_socket.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "s3db/core/database.hpp"
#include "s3db/plugins/queue_consumer.hpp"
#include "s3db/plugins/queue_consumer/rabbitmq.hpp"
#include "s3db/transport/memory.hpp"

using namespace s3db;
using namespace std::chrono_literals;

namespace {

ResourceConfig users_config() {
    return {.name = "users",
            .attributes = {{"name", "string|required"}, {"region", "string|optional"}, {"visits", "number|optional"}}};
}

Memory memory_store() {
    static std::atomic<int> n{0};
    return Memory(MemoryOptions{.prefix = "qcr-" + std::to_string(getpid()) + "-" + std::to_string(n++)});
}

class RabbitMqServer : public ::testing::Test {
protected:
    static std::string url() {
        if (const char* u = std::getenv("S3DB_TEST_AMQP_URL"); u && *u) return u;
        const char* port = std::getenv("RMQ_PORT");
        return std::string("amqp://guest:guest@127.0.0.1:") + (port && *port ? port : "5672");
    }
    static std::string unique(const std::string& base) {
        static std::atomic<int> n{0};
        const auto now = std::chrono::system_clock::now().time_since_epoch() / 1ms;
        return base + "-" + std::to_string(getpid()) + "-" + std::to_string(now) + "-" + std::to_string(n++);
    }

    /// Every message now on `queue`, taken with basic.get (auto-ack): their bodies.
    static std::vector<std::string> drain(const std::string& queue) {
        std::string buf = url();
        amqp_connection_info info;
        EXPECT_EQ(amqp_parse_url(buf.data(), &info), AMQP_STATUS_OK);
        amqp_connection_state_t c = amqp_new_connection();
        amqp_socket_t* s = amqp_tcp_socket_new(c);
        EXPECT_EQ(amqp_socket_open(s, info.host, info.port), AMQP_STATUS_OK);
        EXPECT_EQ(amqp_login(c, info.vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, info.user, info.password).reply_type,
                  AMQP_RESPONSE_NORMAL);
        amqp_channel_open(c, 1);
        std::vector<std::string> out;
        for (;;) {
            amqp_maybe_release_buffers(c);
            amqp_rpc_reply_t r = amqp_basic_get(c, 1, amqp_cstring_bytes(queue.c_str()), 1);
            if (r.reply_type != AMQP_RESPONSE_NORMAL || r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD) break;
            amqp_message_t m;
            if (amqp_read_message(c, 1, &m, 0).reply_type != AMQP_RESPONSE_NORMAL) break;
            out.emplace_back(static_cast<const char*>(m.body.bytes), m.body.len);
            amqp_destroy_message(&m);
        }
        amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
        amqp_connection_close(c, AMQP_REPLY_SUCCESS);
        amqp_destroy_connection(c);
        return out;
    }
};

TEST_F(RabbitMqServer, AThousandMessagesLeaveTheModelAndThePoisonIsDeadLettered) {
    const std::string queue = unique("users");
    auto rmq = std::make_shared<RabbitMqQueue>(RabbitMqQueueOptions{.url = url(), .queue = queue, .wait_time = 1s});
    // One worker: a queue with one consumer keeps the order of one record's messages.
    BasicDatabase<Memory, QueueConsumer> db(memory_store(), {},
                                            QueueConsumer({.consumers = {{.name = "users-in", .resources = {"users"}, .driver = rmq}}}));
    db.connect();
    auto& users = db.create_resource(users_config());
    auto& qc = db.plugin<QueueConsumer>();

    std::mt19937 rng(5672);
    std::map<std::string, json> model;
    for (int i = 0; i < 1000; ++i) {
        const std::string id = "u" + std::to_string(rng() % 150);
        json msg = {{"resource", "users"}};
        if (!model.contains(id)) {
            json data = {{"id", id}, {"name", "name " + std::to_string(i)}, {"visits", 0}};
            msg["action"] = "insert";
            msg["data"] = data;
            model[id] = data;
        } else if (rng() % 5 == 0) {
            msg["action"] = "delete";
            msg["data"] = {{"id", id}};
            model.erase(id);
        } else {
            msg["action"] = "update";
            msg["data"] = {{"id", id}, {"visits", i}, {"region", i % 2 ? "eu" : "us"}};
            model[id]["visits"] = i;
            model[id]["region"] = i % 2 ? "eu" : "us";
        }
        qc.publish("users-in", msg);
        if (i == 500)  // poison: an update of a record that never exists
            qc.publish("users-in", {{"resource", "users"}, {"action", "update"}, {"data", {{"id", "ghost"}, {"visits", 1}}}});
    }
    ASSERT_TRUE(qc.wait_for([](auto& s) { return s.applied >= 1000 && s.dead_lettered >= 1; }, 45s))
        << "applied " << qc.stats().applied << ", dead " << qc.stats().dead_lettered;
    db.disconnect();
    auto s = qc.stats();
    EXPECT_EQ(s.applied, 1000u);
    EXPECT_EQ(s.dead_lettered, 1u);
    EXPECT_EQ(s.duplicates, 0u);

    auto ids = users.list_ids();
    EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), model.size());
    for (auto& [id, expected] : model) {
        auto got = users.get_or_null(id);
        ASSERT_TRUE(got) << id;
        for (auto& [k, v] : expected.items()) EXPECT_EQ((*got)[k], v) << id << "." << k;
    }
    auto dead = drain(queue + ".dead");
    ASSERT_EQ(dead.size(), 1u);
    EXPECT_EQ(json::parse(dead[0])["data"]["id"], "ghost");
    EXPECT_TRUE(drain(queue).empty()) << "everything else was acknowledged";
}

TEST_F(RabbitMqServer, DeliveriesAStoppedWorkerHeldGoBackToTheQueue) {
    const std::string queue = unique("held");
    auto rmq = std::make_shared<RabbitMqQueue>(RabbitMqQueueOptions{.url = url(), .queue = queue, .prefetch = 50, .wait_time = 1s});
    for (int i = 0; i < 30; ++i)
        rmq->publish(json{{"resource", "users"}, {"action", "insert"}, {"data", {{"id", "h" + std::to_string(i)}, {"name", "n"}}}}.dump(), "");
    std::atomic<bool> stop{false};
    auto got = rmq->receive(5, stop);  // 5 taken, up to 50 prefetched onto this thread's channel
    ASSERT_EQ(got.size(), 5u);
    rmq->ack({got[0], got[1]});
    rmq->worker_done();  // a worker that stops: its connection closes
    EXPECT_EQ(drain(queue).size(), 28u) << "the 3 received and not acked and the 25 prefetched are back";
}

TEST_F(RabbitMqServer, ErrorsNameTheQueueNotThePassword) {
    auto rmq = std::make_shared<RabbitMqQueue>(
        RabbitMqQueueOptions{.url = "amqp://guest:wrong-password-xyz@127.0.0.1:" + std::string(std::getenv("RMQ_PORT") ? std::getenv("RMQ_PORT") : "5672"),
                             .queue = "q"});
    std::atomic<bool> stop{false};
    try {
        rmq->receive(1, stop);
        ADD_FAILURE() << "a wrong password was accepted";
    } catch (const TransportError& e) {
        EXPECT_EQ(std::string(e.what()).find("wrong-password-xyz"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("/q"), std::string::npos) << e.what();
    }
    EXPECT_THROW(RabbitMqQueue({.url = "http://x", .queue = "q"}), ConfigError);
}

}  // namespace
