#pragma once
// RabbitMqQueue: the QueueConsumer's RabbitMQ driver (AMQP 0-9-1 through rabbitmq-c). Opt-in: this
// is the one header that includes rabbitmq-c, nothing else includes it; programs that do link
// s3db::rabbitmq (Debian: librabbitmq-dev).
//
//   #include <s3db/plugins/queue_consumer.hpp>
//   #include <s3db/plugins/queue_consumer/rabbitmq.hpp>
//   auto q = std::make_shared<s3db::RabbitMqQueue>(s3db::RabbitMqQueueOptions{
//       .url = "amqp://guest:guest@127.0.0.1:5672", .queue = "users"});
//
// Topology (declared by every connection, idempotently): a durable queue `queue` whose
// x-dead-letter-exchange is `dead_letter_exchange` (default "<queue>.dead", direct, durable) with
// routing key `queue`, and a durable `dead_letter_queue` (default "<queue>.dead") bound to it. A
// queue that exists with other arguments is refused by the broker (PRECONDITION_FAILED): the error
// says so.
//
// Consuming, s3db.js's behaviour: basic.consume with manual acknowledgement and basic.qos
// `prefetch` (10); ack after the message was applied; on an error basic.nack without requeue, so
// the broker dead-letters it at once (x-death records why: "rejected"; a transient failure is not
// retried — AMQP's redelivery count is not kept by classic queues). Each consumer worker thread has
// its own connection and channel (rabbitmq-c connections are not thread-safe, and an ack must go on
// the channel that received the delivery); a receive waits in slices of 200 ms so stop is prompt.
// A connection that fails is dropped and opened again by the next call; deliveries not acked on it
// are redelivered by the broker (the idempotence rule of queue_consumer.hpp makes that harmless).
//
// Publishing: one more connection (under a mutex) in publisher-confirm mode: publish() returns once
// the broker confirmed the message (persistent, delivery_mode 2, content_type application/json,
// message_id random: an insert without id takes its record id from it, the same on redelivery).
// Errors: TransportError (retryable) naming host, port and queue, never the password.

#include <amqp.h>
#include <amqp_tcp_socket.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "s3db/detail/encoding.hpp"
#include "s3db/detail/random.hpp"
#include "s3db/errors.hpp"
#include "s3db/plugins/queue_consumer/driver.hpp"

namespace s3db {

struct RabbitMqQueueOptions {
    std::string url = "amqp://guest:guest@127.0.0.1:5672";  // amqp://user:password@host:port[/vhost]
    std::string queue{};
    std::string dead_letter_exchange{};  // "" → "<queue>.dead"
    std::string dead_letter_queue{};     // "" → "<queue>.dead"
    std::uint16_t prefetch = 10;
    std::chrono::seconds wait_time{10};  // how long one receive waits for a first message
};

class RabbitMqQueue final : public QueueDriver {
public:
    explicit RabbitMqQueue(RabbitMqQueueOptions o) : options_(std::move(o)) {
        if (options_.queue.empty()) throw ConfigError("RabbitMqQueue: give a queue name");
        if (options_.dead_letter_exchange.empty()) options_.dead_letter_exchange = options_.queue + ".dead";
        if (options_.dead_letter_queue.empty()) options_.dead_letter_queue = options_.queue + ".dead";
        std::string buf = options_.url;
        amqp_connection_info info;
        if (amqp_parse_url(buf.data(), &info) != AMQP_STATUS_OK)
            throw ConfigError("RabbitMqQueue '" + options_.queue + "': the url is not amqp://user:password@host:port[/vhost]");
        host_ = info.host;
        port_ = info.port;
        user_ = info.user;
        password_ = info.password;
        vhost_ = info.vhost;
    }
    ~RabbitMqQueue() override = default;

    std::string describe() const override { return "amqp://" + host_ + ":" + std::to_string(port_) + "/" + options_.queue; }
    const RabbitMqQueueOptions& options() const noexcept { return options_; }

    std::vector<QueueMessage> receive(std::size_t max, const std::atomic<bool>& stop) override {
        Session& s = consumer_session();
        std::vector<QueueMessage> out;
        const auto until = std::chrono::steady_clock::now() + options_.wait_time;
        while (out.size() < max && !stop) {
            amqp_maybe_release_buffers(s.conn);
            // The first message is waited for in slices (stop is checked between them); later ones
            // only if they are here already.
            timeval slice{0, out.empty() ? 200'000 : 0};
            amqp_envelope_t env;
            amqp_rpc_reply_t r = amqp_consume_message(s.conn, &env, &slice, 0);
            if (r.reply_type == AMQP_RESPONSE_NORMAL) {
                QueueMessage m;
                m.body.assign(static_cast<const char*>(env.message.body.bytes), env.message.body.len);
                m.handle = std::to_string(env.delivery_tag);
                if (env.message.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG)
                    m.id.assign(static_cast<const char*>(env.message.properties.message_id.bytes), env.message.properties.message_id.len);
                else
                    m.id = "delivery-" + m.handle;  // no stable id: an insert without data.id is not idempotent
                m.receive_count = env.redelivered ? 2 : 1;
                amqp_destroy_envelope(&env);
                out.push_back(std::move(m));
                continue;
            }
            if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT) {
                if (!out.empty() || std::chrono::steady_clock::now() >= until) break;
                continue;
            }
            drop_consumer_session();
            if (!out.empty()) break;  // unacked on a closed channel: the broker redelivers them
            throw failure("basic.consume", r);
        }
        return out;
    }

    void ack(const std::vector<QueueMessage>& done) override {
        Session& s = consumer_session();
        for (auto& m : done)
            if (amqp_basic_ack(s.conn, 1, std::stoull(m.handle), 0) != AMQP_STATUS_OK) {
                drop_consumer_session();
                throw TransportError("RabbitMQ basic.ack on " + describe() + " failed: the connection is gone (redelivered)",
                                     {0, "NetworkError", {}, {}, true});
            }
    }

    /// Always basic.nack without requeue: the dead-letter exchange takes it (true).
    bool fail(const QueueMessage& m, const std::string&, bool) override {
        Session& s = consumer_session();
        if (amqp_basic_nack(s.conn, 1, std::stoull(m.handle), 0, 0) != AMQP_STATUS_OK) {
            drop_consumer_session();
            throw TransportError("RabbitMQ basic.nack on " + describe() + " failed: the connection is gone (redelivered)",
                                 {0, "NetworkError", {}, {}, true});
        }
        return true;
    }

    /// Closes the calling worker's connection: what it had prefetched and not acked goes back.
    void worker_done() override { drop_consumer_session(); }

    void publish(const std::string& body, const std::string&) override {
        std::lock_guard lock(publish_mutex_);
        if (!publisher_) publisher_ = open(false);
        amqp_connection_state_t c = publisher_->conn;
        const std::string id = detail::to_hex(detail::random_bytes(16));
        amqp_basic_properties_t props{};
        props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG;
        props.content_type = amqp_cstring_bytes("application/json");
        props.delivery_mode = 2;
        props.message_id = amqp_cstring_bytes(id.c_str());
        amqp_bytes_t payload{body.size(), const_cast<char*>(body.data())};
        int rc = amqp_basic_publish(c, 1, amqp_cstring_bytes(""), amqp_cstring_bytes(options_.queue.c_str()), 0, 0, &props, payload);
        if (rc != AMQP_STATUS_OK) {
            publisher_.reset();
            throw TransportError("RabbitMQ basic.publish to " + describe() + " failed: " + amqp_error_string2(rc),
                                 {0, "NetworkError", {}, {}, true});
        }
        // Publisher confirm: the broker's basic.ack (or nack) for this message.
        for (;;) {
            amqp_frame_t frame;
            timeval wait{10, 0};
            rc = amqp_simple_wait_frame_noblock(c, &frame, &wait);
            if (rc != AMQP_STATUS_OK) {
                publisher_.reset();
                throw TransportError("RabbitMQ publish to " + describe() + ": no confirm (" + amqp_error_string2(rc) +
                                         "); it may have been queued",
                                     {0, "NetworkError", {}, {}, true});
            }
            if (frame.frame_type != AMQP_FRAME_METHOD) continue;
            if (frame.payload.method.id == AMQP_BASIC_ACK_METHOD) return;
            publisher_.reset();
            throw TransportError("RabbitMQ refused a message for " + describe() + " (" +
                                     amqp_method_name(frame.payload.method.id) + ")",
                                 {0, "Refused", {}, {}, true});
        }
    }

private:
    struct Session {
        amqp_connection_state_t conn = nullptr;
        ~Session() {
            if (!conn) return;
            amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
            amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
            amqp_destroy_connection(conn);
        }
    };

    TransportError failure(const std::string& what, const amqp_rpc_reply_t& r) const {
        std::string why;
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
            why = amqp_error_string2(r.library_error);
        } else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION) {
            if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
                auto* m = static_cast<amqp_channel_close_t*>(r.reply.decoded);
                why = "channel closed: " + std::to_string(m->reply_code) + " " +
                      std::string(static_cast<const char*>(m->reply_text.bytes), m->reply_text.len);
            } else if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
                auto* m = static_cast<amqp_connection_close_t*>(r.reply.decoded);
                why = "connection closed: " + std::to_string(m->reply_code) + " " +
                      std::string(static_cast<const char*>(m->reply_text.bytes), m->reply_text.len);
            } else {
                why = std::string("server said ") + amqp_method_name(r.reply.id);
            }
        } else {
            why = "no reply";
        }
        return TransportError("RabbitMQ " + what + " on " + describe() + " failed: " + detail::printable_message(why),
                              {0, "AmqpError", {}, {}, true});
    }

    /// A new connection with channel 1 and the topology; consuming (qos + consume) or publishing (confirms).
    std::unique_ptr<Session> open(bool consume) {
        auto s = std::make_unique<Session>();
        s->conn = amqp_new_connection();
        amqp_socket_t* sock = amqp_tcp_socket_new(s->conn);
        if (!sock) throw TransportError("RabbitMQ: no socket for " + describe(), {0, "NetworkError", {}, {}, true});
        timeval connect_timeout{10, 0};
        if (int rc = amqp_socket_open_noblock(sock, host_.c_str(), port_, &connect_timeout); rc != AMQP_STATUS_OK)
            throw TransportError("RabbitMQ connect to " + describe() + " failed: " + amqp_error_string2(rc), {0, "NetworkError", {}, {}, true});
        auto check = [&](const char* what) {
            amqp_rpc_reply_t r = amqp_get_rpc_reply(s->conn);
            if (r.reply_type != AMQP_RESPONSE_NORMAL) throw failure(what, r);
        };
        amqp_rpc_reply_t login = amqp_login(s->conn, vhost_.c_str(), 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, user_.c_str(), password_.c_str());
        if (login.reply_type != AMQP_RESPONSE_NORMAL) throw failure("login", login);
        amqp_channel_open(s->conn, 1);
        check("channel.open");
        amqp_exchange_declare(s->conn, 1, amqp_cstring_bytes(options_.dead_letter_exchange.c_str()), amqp_cstring_bytes("direct"),
                              0, 1, 0, 0, amqp_empty_table);
        check("exchange.declare (dead letters)");
        amqp_queue_declare(s->conn, 1, amqp_cstring_bytes(options_.dead_letter_queue.c_str()), 0, 1, 0, 0, amqp_empty_table);
        check("queue.declare (dead letters)");
        amqp_queue_bind(s->conn, 1, amqp_cstring_bytes(options_.dead_letter_queue.c_str()),
                        amqp_cstring_bytes(options_.dead_letter_exchange.c_str()), amqp_cstring_bytes(options_.queue.c_str()),
                        amqp_empty_table);
        check("queue.bind (dead letters)");
        amqp_table_entry_t args[2];
        args[0].key = amqp_cstring_bytes("x-dead-letter-exchange");
        args[0].value.kind = AMQP_FIELD_KIND_UTF8;
        args[0].value.value.bytes = amqp_cstring_bytes(options_.dead_letter_exchange.c_str());
        args[1].key = amqp_cstring_bytes("x-dead-letter-routing-key");
        args[1].value.kind = AMQP_FIELD_KIND_UTF8;
        args[1].value.value.bytes = amqp_cstring_bytes(options_.queue.c_str());
        amqp_table_t table{2, args};
        amqp_queue_declare(s->conn, 1, amqp_cstring_bytes(options_.queue.c_str()), 0, 1, 0, 0, table);
        check("queue.declare");
        if (consume) {
            amqp_basic_qos(s->conn, 1, 0, options_.prefetch, 0);
            check("basic.qos");
            amqp_basic_consume(s->conn, 1, amqp_cstring_bytes(options_.queue.c_str()), amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
            check("basic.consume");
        } else {
            amqp_confirm_select(s->conn, 1);
            check("confirm.select");
        }
        return s;
    }

    Session& consumer_session() {
        {
            std::lock_guard lock(sessions_mutex_);
            if (auto it = sessions_.find(std::this_thread::get_id()); it != sessions_.end()) return *it->second;
        }
        auto s = open(true);  // outside the lock: other workers go on meanwhile
        std::lock_guard lock(sessions_mutex_);
        return *(sessions_[std::this_thread::get_id()] = std::move(s));
    }
    void drop_consumer_session() {
        std::unique_ptr<Session> gone;
        std::lock_guard lock(sessions_mutex_);
        auto it = sessions_.find(std::this_thread::get_id());
        if (it == sessions_.end()) return;
        gone = std::move(it->second);
        sessions_.erase(it);
    }

    RabbitMqQueueOptions options_;
    std::string host_, user_, password_, vhost_;
    int port_ = 5672;
    std::mutex sessions_mutex_;
    std::map<std::thread::id, std::unique_ptr<Session>> sessions_;  // one per consuming thread
    std::mutex publish_mutex_;
    std::unique_ptr<Session> publisher_;
};

}  // namespace s3db
