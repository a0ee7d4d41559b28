// The Audit plugin: every insert, update, replace and delete leaves a record in `plg_audits` (the
// resource s3db.js's AuditPlugin uses, so both libraries read the trail): who did it, when, the
// record before and after, its partition. Here: a record's history, who changed it, data cut to
// `max_data_size`, and a resource left out of the trail.

#include <s3db/s3db.hpp>

#include "check.hpp"
#include <s3db/plugins/audit.hpp>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

int main() {
    std::filesystem::remove_all("audit-db");  // a fresh database on every run
    s3db::Database<s3db::Audit> db("file://./audit-db", {},
                                   s3db::Audit({.max_data_size = 256,
                                                .exclude_resources = {"sessions"},
                                                .get_metadata = [](const s3db::OperationContext& op) {
                                                    return s3db::json{{"app", "billing"}, {"via", op.operation}};
                                                }}));
    db.connect();  // creates plg_audits (body-overflow, partitions byDate and byResource)
    check(db.has_resource("plg_audits"), "connect created the audit resource");

    auto& accounts = db.create_resource({
        .name = "accounts",
        .attributes = {{"owner", "string|required"}, {"plan", "string"}, {"notes", "string|optional"}},
        .behavior = "body-overflow",
        .partitions = {{"byPlan", {{"fields", {{"plan", "string"}}}}}},
    });
    auto& sessions = db.create_resource({.name = "sessions", .attributes = {{"token", "string"}}});

    // Who is acting travels with each call (in a server: from the request), and the audit records it.
    accounts.insert({{"id", "acct-1"}, {"owner", "Ana"}, {"plan", "free"}}, {.context = {{"user", "ana@example.com"}}});
    const s3db::WriteOptions support{.context = {{"user", "support@example.com"}}};
    accounts.update("acct-1", s3db::json{{"plan", "pro"}}, support);
    accounts.update("acct-1", s3db::json{{"notes", std::string(2000, '.') + " long call log"}}, support);
    sessions.insert({{"token", "not worth auditing"}});
    accounts.remove("acct-1", {.context = {{"user", {{"id", "admin@example.com"}, {"role", "admin"}}}}});

    // 1. The record's history, oldest first: one LIST of the byResource partition + one GET each.
    auto& audit = db.plugin<s3db::Audit>();
    auto history = audit.record_history("accounts", "acct-1");
    std::cout << "history of accounts/acct-1:\n";
    for (auto& log : history) {
        std::cout << "  " << log["timestamp"].get<std::string>() << "  " << log["operation"].get<std::string>()
                  << "  by " << log["userId"].get<std::string>();
        if (log.contains("partitionValues")) std::cout << "  partitions " << log["partitionValues"].get<std::string>();
        std::cout << "\n";
    }
    check(history.size() == 4, "four writes, four audit records");
    check(history[0]["operation"] == "insert" && history[1]["operation"] == "update" &&
              history[2]["operation"] == "update" && history[3]["operation"] == "delete",
          "the history is in the order the writes happened");
    check(history[0]["userId"] == "ana@example.com" && history[3]["userId"] == "admin@example.com",
          "each record names who acted (the call's context)");
    check(s3db::json::parse(history[0]["metadata"].get<std::string>())["app"] == "billing",
          "get_metadata's fields are in each record");

    // 2. Before and after: the plan change carries both sides.
    auto before = s3db::json::parse(history[1]["oldData"].get<std::string>());
    auto after = s3db::json::parse(history[1]["newData"].get<std::string>());
    std::cout << "plan: " << before["plan"].get<std::string>() << " -> " << after["plan"].get<std::string>() << "\n";
    check(before["plan"] == "free" && after["plan"] == "pro", "an update keeps the record before and after");
    check(history[1]["partition"] == "byPlan", "the audited record's partition is noted");

    // 3. Data over max_data_size is cut to that many bytes, and marked.
    const std::string cut = history[2]["newData"];
    auto marker = s3db::json::parse(cut);
    std::cout << "long update stored in " << cut.size() << " of " << marker["_originalSize"] << " bytes\n";
    check(cut.size() <= 256 && marker["_truncated"] == true, "data over max_data_size is cut and marked");

    // 4. Excluded resources leave no trail; the audit never audits itself.
    check(audit.logs_by_resource("sessions").empty(), "excluded resources are not audited");
    check(audit.logs().size() == 4, "the trail holds the four account writes and nothing else");
    std::cout << "ok\n";
}
