// The EventualConsistency plugin: a counter field changed by appending transactions (one PUT each,
// durable when the call returns) and folded into the records by a consolidation that applies each
// transaction exactly once, however often it runs and whoever runs it. Here: wallets credited and
// debited by two "processes" (two databases on one folder), consolidated by both, a sync-mode write
// that returns the new balance, and garbage collection of applied transactions.

#include <s3db/s3db.hpp>

#include "check.hpp"
#include <s3db/plugins/eventual_consistency.hpp>

#include <filesystem>
#include <iostream>
#include <string>

using Db = s3db::Database<s3db::EventualConsistency>;

int main() {
    std::filesystem::remove_all("eventual-db");  // a fresh database on every run
    const s3db::EventualConsistencyOptions options{
        .resources = {{"wallets", {"balance"}}},
        .mode = s3db::ConsistencyMode::async,
        .auto_consolidate = false,  // we consolidate by hand here; the timer would every 60 s
        .transaction_retention = std::chrono::milliseconds(0),  // GC may delete anything applied
    };
    Db a("file://./eventual-db", {}, s3db::EventualConsistency(options));
    a.connect();
    a.create_resource({.name = "wallets",
                       .attributes = {{"owner", "string|optional"}, {"balance", "number|optional"}},
                       .behavior = "body-overflow"});
    a.resource("wallets").insert({{"id", "ana"}, {"owner", "Ana"}, {"balance", 100}});
    Db b("file://./eventual-db", {}, s3db::EventualConsistency(options));  // another process
    b.connect();

    auto& ea = a.plugin<s3db::EventualConsistency>();
    auto& eb = b.plugin<s3db::EventualConsistency>();
    for (int i = 0; i < 10; ++i) {
        ea.add("wallets", "ana", "balance", 5);   // +50
        eb.sub("wallets", "ana", "balance", 2);   // -20
        eb.increment("wallets", "bob", "balance");  // bob does not exist yet: created at 10
    }
    std::cout << "pending transactions: " << ea.pending_transactions("wallets", "balance").size() << "\n";
    check(ea.get_consolidated_value("wallets", "ana", "balance") == 100, "nothing applied before consolidation");

    // Both consolidate; the second finds nothing left to apply.
    auto first = ea.consolidate("wallets", "balance");
    auto second = eb.consolidate("wallets", "balance");
    std::cout << "consolidation 1 applied " << first.transactions << " transactions to " << first.records
              << " records; consolidation 2 applied " << second.transactions << "\n";
    check(first.transactions == 30 && second.transactions == 0, "each transaction is applied once");
    const double ana = eb.get_consolidated_value("wallets", "ana", "balance");
    const double bob = eb.get_consolidated_value("wallets", "bob", "balance");
    std::cout << "ana: " << ana << ", bob: " << bob << "\n";
    check(ana == 130 && bob == 10, "balances are the sums of their transactions");
    check(a.resource("wallets").get("ana")["owner"] == "Ana", "other fields are left alone");

    // A transaction is an ordinary record of s3db.js's transactions resource.
    auto tx = a.resource("plg_wallets_tx_balance").list({.limit = 1}).at(0);
    std::cout << "a transaction: " << tx.dump() << "\n";

    auto gc = ea.gc("wallets", "balance");
    std::cout << "GC deleted " << gc.deleted.size() << " applied transactions\n";
    check(gc.deleted.size() == 30 && ea.transactions("wallets", "balance").empty(), "GC deletes what was applied");
    check(ea.recalculate("wallets", "ana", "balance") == 130, "recalculating from the folded base agrees");

    // Sync mode: the write consolidates and returns the new value.
    auto sync_options = options;
    sync_options.mode = s3db::ConsistencyMode::sync;
    Db c("file://./eventual-db", {}, s3db::EventualConsistency(sync_options));
    c.connect();
    auto w = c.plugin<s3db::EventualConsistency>().add("wallets", "ana", "balance", 70);
    std::cout << "sync add returned " << *w.value << "\n";
    check(w.value == 200.0, "a sync write returns the consolidated value");
    std::filesystem::remove_all("eventual-db");
    return 0;
}
