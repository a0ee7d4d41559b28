// The QueueConsumer plugin: messages `{resource, action, data}` from a queue become inserts, updates
// and deletes on the database, applied by background workers; a message is acknowledged only after
// it was applied, and a message that can never be applied goes to a dead-letter queue with its error.
// Here the broker is a small in-process queue written against the QueueDriver interface (how you
// plug in a broker of your own), so the example runs anywhere; when SQS_ENDPOINT names an SQS server
// (e.g. fauxqs: `FAUXQS_PORT=4566 tests/sqs/fauxqs.sh start`, then SQS_ENDPOINT=http://127.0.0.1:4566)
// the same messages go through a FIFO queue on it with the SqsQueue driver.

#include <s3db/s3db.hpp>

#include "check.hpp"
#include <s3db/plugins/queue_consumer.hpp>

#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <string>

/// At-least-once in memory: a message leaves only when acknowledged; a failure puts it back.
class InProcessQueue final : public s3db::QueueDriver {
public:
    std::string describe() const override { return "in-process"; }
    std::vector<s3db::QueueMessage> receive(std::size_t max, const std::atomic<bool>& stop) override {
        std::unique_lock lock(mutex_);
        ready_.wait_for(lock, std::chrono::milliseconds(200), [&] { return !pending_.empty() || stop; });
        std::vector<s3db::QueueMessage> out;
        while (!pending_.empty() && out.size() < max) {
            auto m = std::move(pending_.front());
            pending_.pop_front();
            m.receive_count++;
            out.push_back(std::move(m));
        }
        return out;
    }
    void ack(const std::vector<s3db::QueueMessage>&) override {}  // received = gone from pending_
    bool fail(const s3db::QueueMessage& m, const std::string& error, bool dead) override {
        std::lock_guard lock(mutex_);
        if (dead) {
            dead_letters.push_back(m.body + "  <- " + error);
            return true;
        }
        pending_.push_back(m);  // delivered again
        return false;
    }
    void publish(const std::string& body, const std::string&) override {
        std::lock_guard lock(mutex_);
        pending_.push_back({.id = "m" + std::to_string(++next_), .body = body, .receive_count = 0});
        ready_.notify_one();
    }
    std::vector<std::string> dead_letters;

private:
    std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<s3db::QueueMessage> pending_;
    int next_ = 0;
};

void run(std::shared_ptr<s3db::QueueDriver> driver, const std::string& where) {
    std::filesystem::remove_all("queue-consumer-db");
    s3db::Database<s3db::QueueConsumer> db(
        "file://./queue-consumer-db", {},
        s3db::QueueConsumer({.consumers = {{.name = "users-in", .resources = {"users"}, .driver = driver}}}));
    db.connect();  // the workers start polling
    auto& users = db.create_resource({.name = "users", .attributes = {{"name", "string|required"}, {"plan", "string|optional"}}});
    auto& qc = db.plugin<s3db::QueueConsumer>();

    // What another system would send; publish() sends through the consumer's own queue.
    qc.publish("users-in", {{"resource", "users"}, {"action", "insert"}, {"data", {{"id", "u1"}, {"name", "Ana"}}}});
    qc.publish("users-in", {{"resource", "users"}, {"action", "insert"}, {"data", {{"id", "u2"}, {"name", "Bo"}}}});
    qc.publish("users-in", {{"resource", "users"}, {"action", "update"}, {"data", {{"id", "u1"}, {"plan", "pro"}}}});
    qc.publish("users-in", {{"$body", {{"resource", "users"}, {"action", "delete"}, {"data", {{"id", "u2"}}}}}});
    // Fails on every delivery (no such record): dead-lettered after max_receive_count (5) tries.
    qc.publish("users-in", {{"resource", "users"}, {"action", "update"}, {"data", {{"id", "nobody"}, {"plan", "x"}}}});
    try {
        qc.publish("users-in", {{"resource", "orders"}, {"action", "insert"}, {"data", s3db::json::object()}});
    } catch (const s3db::QueueError& e) {
        std::cout << "refused before sending: " << e.what() << "\n";
    }

    check(qc.wait_for([](auto& s) { return s.applied == 4 && s.dead_lettered == 1; }, std::chrono::seconds(60)),
          "four messages applied, the poison dead-lettered");
    db.disconnect();  // the workers stop (a long poll in flight is cancelled)
    auto s = qc.stats();
    std::cout << where << ": " << s.applied << " applied, " << s.failed << " failed deliveries, " << s.dead_lettered
              << " dead-lettered\n";
    check(users.get("u1")["plan"] == "pro", "u1 inserted, then updated");
    check(!users.get_or_null("u2"), "u2 inserted, then deleted");
}

int main() {
    auto memory = std::make_shared<InProcessQueue>();
    run(memory, "in-process queue");
    for (auto& d : memory->dead_letters) std::cout << "dead letter: " << d << "\n";

    if (const char* endpoint = std::getenv("SQS_ENDPOINT"); endpoint && *endpoint) {
        auto sqs = std::make_shared<s3db::SqsQueue>(s3db::SqsQueueOptions{
            .endpoint = endpoint, .credentials = s3db::Credentials{"key", "secret", ""},
            .queue = "example-users.fifo", .dead_letter_queue = "example-users-dead.fifo", .create_queues = true,
            .wait_time = std::chrono::seconds(1), .retry_delay = std::chrono::seconds(0)});
        run(sqs, "SQS " + sqs->queue_url());
    }
    return 0;
}
