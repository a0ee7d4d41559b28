// The S3Queue plugin: a work queue on a resource, with workers in any number of processes sharing
// one bucket. enqueue() inserts the record and queues it; workers claim each message with a
// conditional write (one holder per attempt), run the handler, and end the message exactly once.
// A handler that throws is retried with backoff, then dead-lettered into plg_s3queue_<res>_dead.
// Here: three worker threads send "emails", one of which always fails, on a folder store.

#include <s3db/s3db.hpp>

#include "check.hpp"
#include <s3db/plugins/s3_queue.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>

int main() {
    using namespace std::chrono_literals;
    std::filesystem::remove_all("queue-db");  // a fresh database on every run
    std::atomic<int> sent{0};
    s3db::S3QueueOptions options{
        .resource = "emails",
        .concurrency = 3,
        .visibility_timeout = 5s,  // a worker that dies gives its messages back after this
        .poll_interval = 50ms,     // an idle worker sends one LIST per poll
        .max_attempts = 2,
        .retry_base = 100ms,
        .handler = [&](const s3db::json& email, s3db::S3QueueContext& ctx) -> s3db::json {
            if (email["to"] == "nobody@nowhere") throw std::runtime_error("mailbox does not exist");
            ++sent;
            return {{"sentBy", ctx.worker_id}, {"attempt", ctx.attempts}};
        },
    };
    s3db::Database<s3db::S3Queue> db("file://./queue-db", {}, s3db::S3Queue(options));
    db.connect();
    db.create_resource({.name = "emails", .attributes = {{"to", "string"}, {"subject", "string"}}});
    db.on_plugin_event("s3queue.message-dead", [](const s3db::json& e) {
        std::cout << "dead letter: " << e["originalId"].get<std::string>() << " (" << e["error"].get<std::string>()
                  << ")\n";
    });

    auto& queue = db.plugin<s3db::S3Queue>();
    // Workers started with the database (auto_start); each enqueue is 2 PUTs.
    for (int i = 0; i < 20; ++i)
        queue.enqueue({{"to", "user" + std::to_string(i) + "@example.com"}, {"subject", "Welcome"}});
    auto poison = queue.enqueue({{"to", "nobody@nowhere"}, {"subject", "Welcome"}});

    for (int i = 0; i < 200 && queue.ended_count() < 21; ++i) std::this_thread::sleep_for(50ms);
    auto stats = queue.stats();
    std::cout << "stats: " << stats.to_json().dump() << "\n";
    check(sent == 20, "every good email was sent once");
    check(stats.completed == 20 && stats.dead == 1 && stats.total() == 21, "20 completed, 1 dead, nothing else");
    auto dead = queue.dead_letters();
    check(dead.size() == 1 && dead[0]["queueId"] == poison["id"] && dead[0]["attempts"] == 2,
          "the poison message is in plg_s3queue_emails_dead after 2 attempts");
    auto ended = queue.ended_entry(poison["id"].get<std::string>());
    check(ended && (*ended)["status"] == "dead", "its queue entry ended as dead");
    std::cout << "sent " << sent << " emails; dead letter data: " << dead[0]["data"].dump() << "\n";
    db.disconnect();  // workers stop
    std::filesystem::remove_all("queue-db");
    return 0;
}
