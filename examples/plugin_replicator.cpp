// The Replicator plugin: every insert, update and delete of the resources you pick is copied to
// other systems, from background workers, without slowing the writes, and without losing a change
// if the process dies (a durable log, `plg_replicator_logs`, replayed at the next start).
// Here: a second s3db database opened from a connection string, with a rename, a transform and an
// inserts-only destination; then a restart that replays what was pending; then, when SQS_ENDPOINT
// names an SQS server (e.g. fauxqs: `FAUXQS_PORT=4566 node tests/sqs/fauxqs-loopback.mjs`, then
// SQS_ENDPOINT=http://127.0.0.1:4566), the same changes as messages on a FIFO queue.

#include <s3db/s3db.hpp>

#include "check.hpp"
#include <s3db/plugins/replicator.hpp>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

using Replicator = s3db::Replicator<s3db::S3dbTarget>;

/// users → "people" (as they are), "directory" (name and email only), "signups" (inserts only).
s3db::ResourceMap mapping() {
    s3db::ResourceMap map = s3db::ResourceMap::renamed({{"users", "people"}});
    map.add("users", {.resource = "directory",
                      .transform = [](const s3db::json& u) {
                          return s3db::json{{"name", u.value("name", "")}, {"email", u.value("email", "")}};
                      }});
    map.add("users", {.resource = "signups", .actions = {"insert"}});
    return map;
}

int main() {
    std::filesystem::remove_all("replicator-db");
    std::filesystem::remove_all("replicator-backup-db");
    {
        // The target is any connection string (s3://…, memory://…); it is opened on first use.
        s3db::Database<Replicator> db("file://./replicator-db", {},
                                      Replicator({.retry_delay = std::chrono::milliseconds(100)},
                                                 s3db::S3dbTarget("file://./replicator-backup-db", mapping(), "backup")));
        db.connect();  // creates plg_replicator_logs
        auto& users = db.create_resource({.name = "users",
                                          .attributes = {{"name", "string|required"}, {"email", "email"},
                                                         {"plan", "string|optional"}}});
        // Each write: 1 PUT of a pending log entry before it, then the write, then a worker delivers.
        users.insert({{"id", "u1"}, {"name", "Ana"}, {"email", "ana@example.com"}});
        users.insert({{"id", "u2"}, {"name", "Bo"}, {"email", "bo@example.com"}});
        users.update("u1", s3db::json{{"plan", "pro"}});
        users.remove("u2");

        auto& rep = db.plugin<Replicator>();
        check(rep.wait_idle(), "the workers delivered everything");
        auto st = rep.stats();
        std::cout << st.replicated << " changes replicated, " << st.failed << " failed, " << st.log_writes
                  << " log entries written\n";
        check(st.replicated == 4 && st.failed == 0, "four changes replicated");
        check(rep.logs().empty(), "delivered entries left the log");
    }
    {
        s3db::Database<> backup("file://./replicator-backup-db");
        backup.connect();
        auto people = backup.resource("people").list();
        check(people.size() == 1 && people[0]["plan"] == "pro", "people has u1 as updated, and u2 is gone");
        auto directory = backup.resource("directory").get("u1");
        check(!directory.contains("plan") && directory["email"] == "ana@example.com", "directory has the transform's fields");
        check(backup.resource("signups").count() == 2, "signups took the inserts only (u2 stays)");
        std::cout << "people: " << people[0].dump() << "\ndirectory: " << directory.dump() << "\n";
    }
    {
        // A restart after a crash: entries left pending are replayed against the source's state.
        // (Simulated: a pending entry for u1 written by hand, as a killed process would leave it.)
        s3db::Database<> raw("file://./replicator-db");
        raw.connect();
        raw.resource("users").update("u1", s3db::json{{"plan", "team"}});  // a write nobody replicated
        raw.resource("plg_replicator_logs")
            .insert({{"id", "repl-crash-1"}, {"replicator", "backup"}, {"resource", "users"}, {"resourceName", "users"},
                     {"action", "update"}, {"operation", "update"}, {"recordId", "u1"}, {"data", {{"id", "u1"}}},
                     {"timestamp", s3db::detail::iso_now()}, {"createdAt", s3db::detail::iso_now().substr(0, 10)},
                     {"status", "pending"}, {"retryCount", 0}});
    }
    {
        s3db::Database<Replicator> db("file://./replicator-db", {},
                                      Replicator({}, s3db::S3dbTarget("file://./replicator-backup-db", mapping(), "backup")));
        db.connect();  // starts the replay
        auto& rep = db.plugin<Replicator>();
        check(rep.wait_idle(), "the replay finished");
        check(rep.stats().replayed == 1, "one record replayed from the log");
        s3db::Database<> backup("file://./replicator-backup-db");
        backup.connect();
        check(backup.resource("people").get("u1")["plan"] == "team", "the backup caught up with the source");
        std::cout << "after restart: " << backup.resource("people").get("u1").dump() << "\n";
    }
    if (const char* endpoint = std::getenv("SQS_ENDPOINT")) {
        // SQS: each change one message {resource, action, id, data, timestamp, source}, sent with
        // SendMessageBatch; on a .fifo queue grouped per resource and deduplicated per write.
        using ToSqs = s3db::Replicator<s3db::SqsTarget>;
        s3db::SqsOptions sqs{.endpoint = endpoint,
                             .credentials = s3db::Credentials{"example", "example-secret", ""},
                             .queue = "s3db-example-changes.fifo",
                             .create_queues = true,  // by name: GetQueueUrl, else CreateQueue
                             .message_attributes = {{"origin", "plugin_replicator example"}}};
        s3db::Database<ToSqs> db("memory://replicator-sqs", {}, ToSqs(s3db::SqsTarget(sqs, s3db::ResourceMap::only({"orders"}))));
        db.connect();
        auto& orders = db.create_resource({.name = "orders", .attributes = {{"total", "number"}}});
        orders.insert({{"id", "o1"}, {"total", 10}});
        orders.update("o1", s3db::json{{"total", 12}});
        auto& rep = db.plugin<ToSqs>();
        check(rep.wait_idle() && rep.stats().replicated == 2, "two changes sent to SQS");
        std::cout << "sqs: 2 messages on " << rep.target<0>().queue_url("orders") << " in "
                  << rep.target<0>().requests() << " requests\n";
    } else {
        std::cout << "sqs: set SQS_ENDPOINT to an SQS server to replicate to a queue too\n";
    }
    std::cout << "ok\n";
}
