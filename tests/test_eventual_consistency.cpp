// The EventualConsistency plugin: s3db.js's transactions resource and fields, add/sub/set/increment/
// decrement folded exactly by consolidate (sync and async modes, the async timer), replays that are
// no-ops, lost answers, requests per transaction, GC by retention, events and purge; the proof, on
// Filesystem and on RGW: four processes × 1,000 transactions with 5 % injected faults while two
// consolidate and collect garbage and a third consolidator is killed with SIGKILL and restarted; and
// fencing: a consolidator stopped with SIGSTOP mid-copy, overtaken by one whose clock runs ahead,
// has its late copy refused by the lease's fencing token.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <span>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "s3db/core/database.hpp"
#include "s3db/plugins/eventual_consistency.hpp"
#include "s3db/transport/counting.hpp"
#include "s3db/transport/faulty.hpp"
#include "s3db/transport/filesystem.hpp"
#include "s3db/transport/memory.hpp"
#include "s3db/transport/retry.hpp"
#include "s3db/transport/s3.hpp"
#include "support/hooked_store.hpp"
#include "support/kill_midway.hpp"
#include "support/manual_clock.hpp"
#include "support/stores.hpp"

using namespace s3db;

namespace {

EventualConsistencyOptions wallets(EventualConsistencyOptions o = {}) {
    if (o.resources.empty()) o.resources = {{"wallets", {"balance"}}};
    return o;
}

template <class Db, class Store>
std::unique_ptr<Db> open(Store store, EventualConsistencyOptions o = {}) {
    auto db = std::make_unique<Db>(std::move(store), DatabaseOptions{}, EventualConsistency(wallets(std::move(o))));
    db->connect();
    if (!db->has_resource("wallets"))
        db->create_resource({.name = "wallets",
                             .attributes = {{"owner", "string|optional"}, {"balance", "number|optional"}},
                             .behavior = "body-overflow"});
    return db;
}

using MemDb = BasicDatabase<Counting<Memory>, EventualConsistency>;

EventualConsistencyOptions manual(EventualConsistencyOptions o = {}) {
    o.auto_consolidate = false;
    return o;
}

}  // namespace

TEST(EventualConsistency, TransactionsHaveJsNameAndFieldsAndConsolidateExactly) {
    auto db = open<MemDb>(Counting<Memory>(test::make_store<Memory>()), manual());
    auto& ec = db->plugin<EventualConsistency>();
    db->resource("wallets").insert({{"id", "w1"}, {"owner", "ana"}, {"balance", 100}});
    auto t = ec.add("wallets", "w1", "balance", 10);
    ec.sub("wallets", "w1", "balance", 3);
    ec.increment("wallets", "w1", "balance");
    ec.decrement("wallets", "w2", "balance");
    ec.add("wallets", "w2", "balance", 2.5);

    ASSERT_TRUE(db->has_resource("plg_wallets_tx_balance"));
    EXPECT_FALSE(t.value);  // async: not consolidated by the write
    auto tx = db->resource("plg_wallets_tx_balance").get(t.transaction_id);
    EXPECT_TRUE(t.transaction_id.starts_with("tx-"));
    EXPECT_EQ(tx["originalId"], "w1");
    EXPECT_EQ(tx["field"], "balance");
    EXPECT_EQ(tx["value"], 10);
    EXPECT_EQ(tx["operation"], "add");
    EXPECT_EQ(tx["applied"], false);
    const std::string ts = tx["timestamp"];
    EXPECT_EQ(tx["cohortDate"], ts.substr(0, 10));
    EXPECT_EQ(tx["cohortHour"], ts.substr(0, 13));
    EXPECT_EQ(tx["cohortMonth"], ts.substr(0, 7));
    EXPECT_EQ(ec.pending_transactions("wallets", "balance").size(), 5u);

    // Nothing applied before consolidation.
    EXPECT_EQ(ec.get_consolidated_value("wallets", "w1", "balance"), 100);
    auto r = ec.consolidate("wallets", "balance");
    EXPECT_EQ(r.transactions, 5u);
    EXPECT_EQ(r.records, 2u);
    EXPECT_EQ(ec.get_consolidated_value("wallets", "w1", "balance"), 108);
    EXPECT_EQ(ec.get_consolidated_value("wallets", "w2", "balance"), 1.5);  // created from initial_value 0
    EXPECT_EQ(db->resource("wallets").get("w1")["owner"], "ana");         // other fields kept

    // A replay applies nothing; a set replaces; later adds apply on top.
    EXPECT_EQ(ec.consolidate("wallets", "balance").transactions, 0u);
    ec.set("wallets", "w1", "balance", 50);
    ec.add("wallets", "w1", "balance", 5);
    ec.consolidate("wallets", "balance");
    EXPECT_EQ(ec.get_consolidated_value("wallets", "w1", "balance"), 55);
    EXPECT_TRUE(ec.pending_transactions("wallets", "balance").empty());
    // Recalculating from the kept transactions gives the same value.
    EXPECT_EQ(ec.recalculate("wallets", "w1", "balance"), 55);
}

TEST(EventualConsistency, TheCohortFieldsUseIsoWeeks) {
    auto c = detail::ec_cohorts(test::ManualClock::at(2021, 1, 3, 23, 30));  // a Sunday: ISO week 53 of 2020
    EXPECT_EQ(c.date, "2021-01-03");
    EXPECT_EQ(c.hour, "2021-01-03T23");
    EXPECT_EQ(c.week, "2020-W53");
    EXPECT_EQ(c.month, "2021-01");
    EXPECT_EQ(detail::ec_cohorts(test::ManualClock::at(2024, 12, 30)).week, "2025-W01");
    EXPECT_EQ(detail::ec_cohorts(test::ManualClock::at(2024, 6, 12)).week, "2024-W24");
}

TEST(EventualConsistency, BadInputIsRefusedBeforeAnyWrite) {
    auto db = open<MemDb>(Counting<Memory>(test::make_store<Memory>()), manual());
    auto& ec = db->plugin<EventualConsistency>();
    db->transport().reset();
    EXPECT_THROW(ec.add("nope", "w1", "balance", 1), PluginError);
    EXPECT_THROW(ec.add("wallets", "w1", "other", 1), PluginError);
    EXPECT_THROW(ec.add("wallets", "a/b", "balance", 1), InvalidId);
    EXPECT_THROW(ec.add("wallets", "w1", "balance", std::nan("")), PluginError);
    EXPECT_EQ(db->transport().counts().total(), 0u);
    EXPECT_THROW(EventualConsistency(EventualConsistencyOptions{}).validate(), ConfigError);
}

TEST(EventualConsistency, SyncModeReturnsTheConsolidatedValue) {
    auto db = open<MemDb>(Counting<Memory>(test::make_store<Memory>()), {.mode = ConsistencyMode::sync});
    auto& ec = db->plugin<EventualConsistency>();
    EXPECT_EQ(ec.add("wallets", "w1", "balance", 7).value, 7);
    EXPECT_EQ(ec.sub("wallets", "w1", "balance", 2).value, 5);
    EXPECT_EQ(db->resource("wallets").get("w1")["balance"], 5);
}

TEST(EventualConsistency, AsyncTransactionsAreInTheBucketAndTheTimerConsolidatesThem) {
    auto bucket = test::make_store<Memory>();
    auto db = open<MemDb>(Counting<Memory>(bucket), {.consolidation_interval = std::chrono::milliseconds(50)});
    auto& ec = db->plugin<EventualConsistency>();
    for (int i = 0; i < 10; ++i) ec.add("wallets", "w" + std::to_string(i % 3), "balance", i);
    // Another process sees the transactions at once: nothing is held in memory.
    auto other = open<MemDb>(Counting<Memory>(bucket), manual());
    const auto seen = other->plugin<EventualConsistency>().pending_transactions("wallets", "balance").size();
    EXPECT_LE(seen, 10u);
    std::set<std::string> all_ids;
    for (auto& id : other->resource("plg_wallets_tx_balance").list_ids()) all_ids.insert(id);
    EXPECT_EQ(all_ids.size(), 10u);
    for (int i = 0; i < 100 && ec.get_consolidated_value("wallets", "w0", "balance") != 0 + 3 + 6 + 9; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(ec.get_consolidated_value("wallets", "w0", "balance"), 18);
    EXPECT_EQ(ec.get_consolidated_value("wallets", "w1", "balance"), 1 + 4 + 7);
    EXPECT_EQ(ec.get_consolidated_value("wallets", "w2", "balance"), 2 + 5 + 8);
    db->disconnect();  // stops the timer
    EXPECT_FALSE(ec.status()["timer_running"].get<bool>());
}

TEST(EventualConsistency, LostAnswersAndRacingConsolidatorsApplyEachTransactionOnce) {
    using Store = Retry<Faulty<Memory>>;
    Faulty<Memory> faults(FaultOptions{}, test::make_store<Memory>());
    RetryPolicy retries{.max_attempts = 6, .budget_capacity = 1 << 30, .sleep = [](std::chrono::milliseconds) {}};
    auto db = open<BasicDatabase<Store, EventualConsistency>>(Store(retries, faults),
                                                              manual({.lock_ttl = std::chrono::seconds(2),
                                                                      .lock_timeout = std::chrono::milliseconds(5000),
                                                                      .enable_analytics = true}));
    auto db2 = open<BasicDatabase<Store, EventualConsistency>>(Store(retries, faults),
                                                               manual({.lock_ttl = std::chrono::seconds(2),
                                                                       .lock_timeout = std::chrono::milliseconds(5000),
                                                                       .enable_analytics = true}));
    faults.set_faults(FaultOptions{.seed = 7, .server_error = 0.05, .lost_response = 0.2});
    std::map<std::string, double> acked, unknown_max;
    std::set<std::string> unknown_ids;
    std::atomic<bool> done{false};
    auto consolidator = [&](auto& d) {
        while (!done) {
            try {
                d->template plugin<EventualConsistency>().consolidate("wallets", "balance");
            } catch (const Error&) {
            }
        }
    };
    std::thread c1([&] { consolidator(db); });
    std::thread c2([&] { consolidator(db2); });
    std::mt19937 rng(3);
    for (int i = 0; i < 150; ++i) {
        const std::string id = "w" + std::to_string(rng() % 5);
        const int amount = 1 + static_cast<int>(rng() % 9);
        try {
            db->plugin<EventualConsistency>().add("wallets", id, "balance", amount);
            acked[id] += amount;
        } catch (const TransactionOutcomeUnknown& e) {
            unknown_ids.insert(e.transaction_id());
        } catch (const TransportError&) {  // did not land
        }
    }
    done = true;
    c1.join();
    c2.join();
    faults.set_faults(FaultOptions{});
    ASSERT_GT(faults.injected().lost_response, 10u);
    db->plugin<EventualConsistency>().consolidate("wallets", "balance");
    // Transactions whose write was unknown count iff they landed.
    for (auto& t : db->plugin<EventualConsistency>().transactions("wallets", "balance"))
        if (unknown_ids.count(t.id)) acked[t.original_id] += t.value;
    double total = 0;
    for (auto& [id, v] : acked) {
        EXPECT_EQ(db->plugin<EventualConsistency>().get_consolidated_value("wallets", id, "balance"), v) << id;
        total += v;
    }
    // The rollups took every applied transaction once too.
    double rolled = 0, counted = 0;
    for (auto& m : db->plugin<EventualConsistency>().get_analytics("wallets", "balance", "month"))
        rolled += m["totalValue"].get<double>(), counted += m["transactionCount"].get<double>();
    EXPECT_EQ(rolled, total);
    EXPECT_EQ(counted, static_cast<double>(db->plugin<EventualConsistency>().transactions("wallets", "balance").size()));
}

TEST(EventualConsistency, AnalyticsRollUpByHourDayWeekAndMonth) {
    test::ManualClock clock(test::ManualClock::at(2026, 3, 1, 9, 15));
    auto db = open<MemDb>(Counting<Memory>(test::make_store<Memory>()), manual({.enable_analytics = true, .clock = clock.fn()}));
    auto& ec = db->plugin<EventualConsistency>();
    ASSERT_TRUE(db->has_resource("plg_wallets_an_balance"));
    ec.add("wallets", "w1", "balance", 10);
    ec.add("wallets", "w1", "balance", 4);
    ec.sub("wallets", "w2", "balance", 3);
    clock.set(test::ManualClock::at(2026, 3, 1, 14, 0));
    ec.add("wallets", "w2", "balance", 1);
    ec.consolidate("wallets", "balance");  // one batch over two hours
    clock.set(test::ManualClock::at(2026, 3, 3, 8, 0));
    ec.set("wallets", "w1", "balance", 100);
    ec.add("wallets", "w1", "balance", 2);
    ec.consolidate("wallets", "balance");
    EXPECT_EQ(ec.consolidate("wallets", "balance").transactions, 0u);

    auto hours = ec.get_day_by_hour("wallets", "balance", "2026-03-01");
    ASSERT_EQ(hours.size(), 24u);
    EXPECT_EQ(hours[9]["cohort"], "2026-03-01T09");
    EXPECT_EQ(hours[9]["transactionCount"], 3);
    EXPECT_EQ(hours[9]["totalValue"], 11);
    EXPECT_EQ(hours[9]["minValue"], -3);
    EXPECT_EQ(hours[9]["maxValue"], 10);
    EXPECT_EQ(hours[9]["operations"]["add"]["count"], 2);
    EXPECT_EQ(hours[9]["operations"]["sub"]["sum"], 3);
    EXPECT_EQ(hours[14]["transactionCount"], 1);
    EXPECT_EQ(hours[10]["transactionCount"], 0);  // filled

    auto days = ec.get_last_n_days("wallets", "balance", 3);
    ASSERT_EQ(days.size(), 3u);
    EXPECT_EQ(days[0]["cohort"], "2026-03-01");
    EXPECT_EQ(days[0]["transactionCount"], 4);
    EXPECT_EQ(days[0]["totalValue"], 12);
    EXPECT_EQ(days[1]["transactionCount"], 0);
    EXPECT_EQ(days[2]["transactionCount"], 2);
    EXPECT_EQ(days[2]["operations"]["set"]["sum"], 100);
    EXPECT_EQ(ec.get_month_by_day("wallets", "balance", "2026-03").size(), 31u);
    EXPECT_EQ(ec.get_month_by_day("wallets", "balance", "2026-02").size(), 28u);
    auto months = ec.get_year_by_month("wallets", "balance", 2026);
    ASSERT_EQ(months.size(), 12u);
    EXPECT_EQ(months[2]["transactionCount"], 6);
    EXPECT_EQ(months[3]["transactionCount"], 0);
    auto weeks = ec.get_analytics("wallets", "balance", "week");
    ASSERT_EQ(weeks.size(), 2u);  // Sunday 1 March is in W09, Tuesday 3 March in W10
    EXPECT_EQ(weeks[0]["cohort"], "2026-W09");
    EXPECT_EQ(weeks[1]["cohort"], "2026-W10");

    auto top = ec.get_top_records("wallets", "balance", "2026-03-01");
    ASSERT_EQ(top.size(), 2u);
    EXPECT_EQ(top[0]["recordId"], "w1");  // 2 transactions that day; w2 too, but w1 sorts first among ties
    auto by_value = ec.get_top_records("wallets", "balance", {}, 1, true);
    EXPECT_EQ(by_value.at(0)["recordId"], "w1");
    EXPECT_THROW(ec.get_analytics("wallets", "balance", "year"), PluginError);

    // A batch merged twice (a consolidator killed before clearing it) counts once.
    json rec{{"id", "day-x"}};
    const json delta{{"period", "day"}, {"cohort", "x"}, {"transactionCount", 2}, {"totalValue", 5}};
    detail::ec_merge_rollup(rec, "batch-1", delta);
    detail::ec_merge_rollup(rec, "batch-1", delta);
    EXPECT_EQ(rec["transactionCount"], 2);
    detail::ec_merge_rollup(rec, "batch-2", delta);
    EXPECT_EQ(rec["totalValue"], 10);
}

TEST(EventualConsistency, BudgetIsUnderOneAndAHalfRequestsPerTransactionAtBatchesOf100) {
    test::ManualClock clock(test::ManualClock::at(2026, 3, 1));
    auto db = open<MemDb>(Counting<Memory>(test::make_store<Memory>()),
                          manual({.transaction_retention = std::chrono::milliseconds(0), .clock = clock.fn()}));
    auto& ec = db->plugin<EventualConsistency>();
    for (int i = 0; i < 10; ++i) db->resource("wallets").insert({{"id", "w" + std::to_string(i)}, {"balance", 0}});
    db->transport().reset();
    std::mt19937 rng(5);
    std::map<std::string, double> model;
    const int rounds = 10;
    for (int round = 0; round < rounds; ++round) {
        for (int i = 0; i < 100; ++i) {
            const std::string id = "w" + std::to_string(rng() % 10);
            ec.add("wallets", id, "balance", 1);
            model[id] += 1;
        }
        EXPECT_EQ(ec.consolidate("wallets", "balance").transactions, 100u);
        // Past the retention (0) means older than now: a transaction of GC's own millisecond is not.
        clock.advance(std::chrono::milliseconds(1));
        EXPECT_EQ(ec.gc("wallets", "balance").deleted.size(), 100u);  // every applied one
    }
    const auto c = db->transport().counts();
    const double per_tx = static_cast<double>(c.total()) / (rounds * 100);
    std::printf("requests per transaction (insert + consolidate + gc, batches of 100 over 10 records): %.3f "
                "(put %llu get %llu head %llu delete %llu delete-many %llu list %llu)\n",
                per_tx, (unsigned long long)c.put, (unsigned long long)c.get, (unsigned long long)c.head,
                (unsigned long long)c.remove, (unsigned long long)c.remove_many, (unsigned long long)c.list);
    EXPECT_LE(per_tx, 1.5);
    for (auto& [id, v] : model) EXPECT_EQ(ec.get_consolidated_value("wallets", id, "balance"), v);
}

TEST(EventualConsistency, GcDeletesOnlyAppliedTransactionsPastRetention) {
    test::ManualClock clock(test::ManualClock::at(2026, 3, 1));
    auto db = open<MemDb>(Counting<Memory>(test::make_store<Memory>()),
                          manual({.transaction_retention = std::chrono::hours(24), .clock = clock.fn()}));
    auto& ec = db->plugin<EventualConsistency>();
    auto old_applied = ec.add("wallets", "w1", "balance", 5).transaction_id;
    ec.consolidate("wallets", "balance");
    clock.advance(std::chrono::hours(2));
    auto old_pending_setup = ec.add("wallets", "w1", "balance", 7).transaction_id;  // applied below, in retention
    ec.consolidate("wallets", "balance");
    clock.advance(std::chrono::hours(23));
    // Old, never applied: must stay.
    clock.set(test::ManualClock::at(2026, 3, 1, 0, 30));
    auto old_unapplied = ec.add("wallets", "w2", "balance", 1).transaction_id;
    clock.set(test::ManualClock::at(2026, 3, 2, 1, 0));  // 25 h after the first, 23 h after the second

    auto r = ec.gc("wallets", "balance");
    EXPECT_EQ(r.deleted, std::vector<std::string>{old_applied});
    std::set<std::string> kept;
    for (auto& t : ec.transactions("wallets", "balance")) kept.insert(t.id);
    EXPECT_EQ(kept, (std::set<std::string>{old_pending_setup, old_unapplied}));
    for (auto& t : ec.transactions("wallets", "balance")) EXPECT_EQ(t.applied, t.id == old_pending_setup) << t.id;
    EXPECT_FALSE(db->resource("plg_wallets_tx_balance").exists(old_applied));
    // The value is unchanged, and recalculating from what is kept (base folded) agrees.
    EXPECT_EQ(ec.get_consolidated_value("wallets", "w1", "balance"), 12);
    EXPECT_EQ(ec.recalculate("wallets", "w1", "balance"), 12);
    // The old unapplied one is applied by the next consolidation, then collectable.
    EXPECT_EQ(ec.consolidate("wallets", "balance").transactions, 1u);
    EXPECT_EQ(ec.get_consolidated_value("wallets", "w2", "balance"), 1);
    EXPECT_EQ(ec.gc("wallets", "balance").deleted, std::vector<std::string>{old_unapplied});
    EXPECT_TRUE(ec.gc("wallets", "balance").deleted.empty());
}

TEST(EventualConsistency, EventsHealthStatusAndUninstallWithPurge) {
    auto db = open<MemDb>(Counting<Memory>(test::make_store<Memory>()), manual());
    std::vector<std::string> events;
    db->on_plugin_event("*", [&](std::string_view e, const json&) { events.emplace_back(e); });
    auto& ec = db->plugin<EventualConsistency>();
    ec.add("wallets", "w1", "balance", 1);
    ec.consolidate("wallets", "balance");
    ec.gc("wallets", "balance");
    EXPECT_NE(std::find(events.begin(), events.end(), "plg:eventual-consistency:consolidation-completed"), events.end());
    EXPECT_NE(std::find(events.begin(), events.end(), "plg:eventual-consistency:gc-completed"), events.end());
    EXPECT_TRUE(ec.health().healthy);
    EXPECT_EQ(ec.status()["transactions_applied"], 1);
    db->uninstall_plugin("EventualConsistency", {.purge_data = true});
    EXPECT_GE(ec.purged(), 2u);  // the transaction and the ledger
    EXPECT_TRUE(db->transport().inner().list({.prefix = "resource=plg_wallets_tx_balance/data/"}).objects.empty());
    EXPECT_TRUE(db->transport().inner().list({.prefix = "resource=wallets/plugin="}).objects.empty());
    EXPECT_EQ(db->resource("wallets").get("w1")["balance"], 1);  // the records stay
}

// ---- the proof ------------------------------------------------------------------------------------

namespace {

/// How many transactions the proof writes, and with how short a retention GC runs during it.
struct ProofSize {
    int processes = 4, per_process = 1000, records = 10;
    std::chrono::milliseconds retention{300};
};

/// A database over `base()` behind 5 % injected faults (2 % 500s, 1 % timeouts, 2 % lost answers)
/// and retries; leases of 1 s, taken over 200 ms past their expiry.
template <class Base>
auto open_faulty(const std::function<Base()>& base, std::uint64_t seed, std::chrono::milliseconds retention) {
    using Store = Retry<Faulty<Base>>;
    RetryPolicy retries{.max_attempts = 8, .budget_capacity = 1 << 30, .sleep = [](std::chrono::milliseconds) {}};
    Faulty<Base> faults(FaultOptions{.seed = seed, .server_error = 0.02, .timeout = 0.01, .lost_response = 0.02}, base());
    return open<BasicDatabase<Store, EventualConsistency>>(
        Store(retries, faults), manual({.transaction_retention = retention,
                                        .lock_ttl = std::chrono::seconds(1),
                                        .max_clock_skew = std::chrono::milliseconds(200),
                                        .lock_timeout = std::chrono::milliseconds(200)}));
}

/// 4 processes write random add/sub over 10 records with faults; two of them also consolidate and
/// collect garbage as they go; a fifth consolidator is killed with SIGKILL midway and restarted. Then
/// each record must hold the sum of the acknowledged transactions plus those whose outcome was
/// unknown and that landed (at most once), and GC must have left only unapplied and in-retention
/// transactions.
template <class Base>
void prove(const std::function<Base()>& base, ProofSize size) {
    const auto retention = size.retention;
    open_faulty(base, 1, retention);  // resources created once, before the processes race
    const int processes = size.processes, per_process = size.per_process, records = size.records;
    const auto out_dir = test::scratch_dir();
    std::filesystem::create_directories(out_dir);
    const auto t_start = std::chrono::steady_clock::now();

    auto consolidate_and_collect = [](auto& ec, int round) {
        try {
            ec.consolidate("wallets", "balance");
        } catch (const Error&) {
        }
        if (round % 4 == 3) try {
                ec.gc("wallets", "balance");
            } catch (const Error&) {
            }
    };
    std::vector<pid_t> children;
    for (int p = 0; p < processes; ++p) {
        const pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            int code = 0;
            try {
                auto db = open_faulty(base, 100 + p, retention);
                auto clean = base();  // settles unknown outcomes at once, before GC could take them
                const auto tx_resource = EventualConsistency::transactions_resource("wallets", "balance");
                std::atomic<bool> done{false};
                std::thread consolidator;
                if (p < 2)  // two of the writers consolidate (and collect) as they go
                    consolidator = std::thread([&] {
                        for (int round = 0; !done; ++round) {
                            consolidate_and_collect(db->template plugin<EventualConsistency>(), round);
                            std::this_thread::sleep_for(std::chrono::milliseconds(5));
                        }
                    });
                std::ofstream acked(out_dir / ("acked-" + std::to_string(p)));
                std::ofstream unknown(out_dir / ("unknown-" + std::to_string(p)));
                std::mt19937 rng(static_cast<unsigned>(p * 7919 + 1));
                for (int i = 0; i < per_process; ++i) {
                    const std::string id = "w" + std::to_string(rng() % records);
                    const int amount = 1 + static_cast<int>(rng() % 100);
                    const bool sub = rng() % 3 == 0;
                    try {
                        auto& ec = db->template plugin<EventualConsistency>();
                        if (sub) ec.sub("wallets", id, "balance", amount);
                        else ec.add("wallets", id, "balance", amount);
                        acked << id << ' ' << (sub ? -amount : amount) << '\n';
                    } catch (const TransactionOutcomeUnknown& e) {
                        // Applied at most once, per the contract: it counts iff it is in the bucket.
                        // The write is over (nothing lands later), and GC takes nothing younger than
                        // the retention, so one HEAD now tells.
                        const bool landed = clean.head(record_key(tx_resource, e.transaction_id())).has_value();
                        unknown << e.transaction_id() << ' ' << id << ' ' << (sub ? -amount : amount) << ' ' << landed << '\n';
                    } catch (const TransportError&) {  // refused: did not land
                    }
                }
                acked.close();
                unknown.close();
                std::ofstream(out_dir / ("faults-" + std::to_string(p))) << db->transport().inner().injected().total() << ' '
                                                                         << db->transport().inner().injected().lost_response;
                done = true;
                if (consolidator.joinable()) consolidator.join();
            } catch (...) {
                code = 1;
            }
            ::_exit(code);
        }
        children.push_back(pid);
    }
    // A third consolidator, with faults too, killed with SIGKILL after 5 runs while the writers
    // write (its lease, if it held it, expires after lock_ttl)...
    auto killed = test::kill_midway(5, [&](const std::function<bool()>& ack) {
        auto db = open_faulty(base, 99, retention);
        for (int round = 0;; ++round) {
            consolidate_and_collect(db->template plugin<EventualConsistency>(), round);
            if (!ack()) return;
        }
    });
    ASSERT_TRUE(killed);
    // ... and restarted (here, in this process) until the writers are done.
    std::atomic<bool> writers_done{false};
    std::size_t restarted_runs = 0;
    std::thread restarted([&] {
        auto db = open_faulty(base, 98, retention);
        for (int round = 0; !writers_done; ++round) {
            consolidate_and_collect(db->template plugin<EventualConsistency>(), round);
            ++restarted_runs;
        }
    });
    bool writers_ok = true;
    for (auto pid : children) {
        int status = 0;
        ::waitpid(pid, &status, 0);
        writers_ok = writers_ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    writers_done = true;
    restarted.join();
    ASSERT_TRUE(writers_ok);

    // A last consolidation without faults finishes what the faults interrupted (a lease left by a
    // consolidator killed, or by a release whose answer was lost, expires within 1.2 s).
    auto db = open<BasicDatabase<Base, EventualConsistency>>(
        base(), manual({.transaction_retention = retention, .lock_timeout = std::chrono::milliseconds(3000)}));
    auto& ec = db->template plugin<EventualConsistency>();
    ASSERT_FALSE(ec.consolidate("wallets", "balance").locked);
    EXPECT_TRUE(ec.pending_transactions("wallets", "balance").empty());

    std::map<std::string, double> expected;
    std::size_t acked_count = 0, unknown_count = 0, unknown_landed = 0;
    for (int p = 0; p < processes; ++p) {
        std::ifstream a(out_dir / ("acked-" + std::to_string(p)));
        std::string tx, id;
        double v;
        int landed;
        while (a >> id >> v) expected[id] += v, ++acked_count;
        std::ifstream u(out_dir / ("unknown-" + std::to_string(p)));
        while (u >> tx >> id >> v >> landed) {
            ++unknown_count;
            if (landed) expected[id] += v, ++unknown_landed;
        }
    }
    EXPECT_GT(acked_count, static_cast<std::size_t>(processes * per_process * 9 / 10));
    std::uint64_t faults = 0, lost = 0;
    for (int p = 0; p < processes; ++p) {
        std::ifstream f(out_dir / ("faults-" + std::to_string(p)));
        std::uint64_t a = 0, b = 0;
        f >> a >> b;
        faults += a, lost += b;
    }
    EXPECT_GT(lost, static_cast<std::uint64_t>(processes * per_process / 100));
    const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    std::printf("proof: %d x %d, %zu acknowledged, %zu unknown (%zu landed), %llu faults injected in the writers (%llu "
                "lost answers), consolidator killed after %d runs, restarted one ran %zu, %.1f s\n",
                processes, per_process, acked_count, unknown_count, unknown_landed, (unsigned long long)faults,
                (unsigned long long)lost, *killed, restarted_runs, seconds);
    for (int i = 0; i < records; ++i) {
        const std::string id = "w" + std::to_string(i);
        EXPECT_EQ(ec.get_consolidated_value("wallets", id, "balance"), expected[id]) << id;
    }
    // GC: after the retention has passed, it deletes every applied transaction older than it and
    // nothing else; what is left is in retention or unapplied; the values do not move, and a
    // recalculation from the bases GC folded gives them again.
    const std::size_t before_gc = ec.transactions("wallets", "balance").size();
    std::this_thread::sleep_for(retention + std::chrono::milliseconds(50));
    ec.add("wallets", "w0", "balance", 7);  // in retention, pending
    expected["w0"] += 7;
    const auto cutoff_ms = detail::epoch_ms(std::chrono::system_clock::now()) - retention.count();
    auto collected = ec.gc("wallets", "balance");
    ASSERT_FALSE(collected.locked);
    const auto left = ec.transactions("wallets", "balance");
    for (auto& t : left) EXPECT_TRUE(!t.applied || t.ms >= cutoff_ms) << t.id << " applied and past retention, kept";
    ASSERT_EQ(left.size(), 1u);
    EXPECT_FALSE(left.front().applied);
    EXPECT_EQ(collected.deleted.size(), before_gc);
    std::printf("GC: %zu of %zu transactions deleted during the proof, %zu at the end, %zu kept (unapplied or in retention)\n",
                acked_count + unknown_landed - before_gc, acked_count + unknown_landed, collected.deleted.size(), left.size());
    ec.consolidate("wallets", "balance");
    for (int i = 0; i < records; ++i) {
        const std::string id = "w" + std::to_string(i);
        EXPECT_EQ(ec.get_consolidated_value("wallets", id, "balance"), expected[id]) << id << " after GC";
        EXPECT_EQ(ec.recalculate("wallets", id, "balance"), expected[id]) << id << " recalculated after GC";
    }
}

}  // namespace

TEST(EventualConsistency, ProofFourProcessesFaultsAndAKilledConsolidator) {
    const FilesystemOptions fs{.root = test::scratch_dir(), .prefix = test::next_prefix()};
    prove<Filesystem>([fs] { return Filesystem(fs); }, {});
}

TEST(EventualConsistencyOnS3, ProofFourProcessesFaultsAndAKilledConsolidator) {
    const auto o = test::s3_options(test::s3_under_test(), test::TestBucket::name(), test::next_prefix());
    prove<S3>([o] { return S3(o); }, {});
}

// ---- fencing ----------------------------------------------------------------------------------------

namespace {

/// A Filesystem that stops its process (SIGSTOP) just before the first PUT to `pause_key` once
/// `*armed`: a consolidator paused between reading a record and writing it.
test::Hooked<Filesystem> pausing_fs(Filesystem fs, std::string pause_key, std::shared_ptr<std::atomic<bool>> armed) {
    test::Hooked<Filesystem> store{std::move(fs)};
    *store.before_put = [pause_key, armed](std::string_view key, std::string_view, const PutOptions&, Filesystem&) {
        if (key == pause_key && armed->exchange(false)) ::raise(SIGSTOP);
    };
    return store;
}

}  // namespace

// A consolidator stopped (SIGSTOP) between computing a record's value and writing it, while a
// process whose wall clock is an hour ahead (the lease's clock assumption broken: it takes the
// lease over although the stopped holder's lease is still valid on its own clock) consolidates
// newer transactions: when the stopped one resumes, its write of the older value is refused by the
// fencing token in the record, and the record keeps the newer value.
TEST(EventualConsistency, APausedConsolidatorsLateWriteIsFencedOut) {
    const FilesystemOptions fs{.root = test::scratch_dir(), .prefix = test::next_prefix()};
    auto db = open<BasicDatabase<Filesystem, EventualConsistency>>(Filesystem(fs), manual());
    auto& ec = db->plugin<EventualConsistency>();
    ec.add("wallets", "w1", "balance", 10);

    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        int code = 3;
        try {
            auto armed = std::make_shared<std::atomic<bool>>(false);
            auto mine = open<BasicDatabase<test::Hooked<Filesystem>, EventualConsistency>>(
                pausing_fs(Filesystem(fs), record_key("wallets", "w1"), armed), manual());
            *armed = true;
            mine->plugin<EventualConsistency>().consolidate("wallets", "balance");
            code = 1;  // its stale value landed (or was not refused)
        } catch (const FencedOut&) {
            code = 0;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "child: %s\n", e.what());
            code = 2;
        }
        ::_exit(code);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, WUNTRACED), child);
    ASSERT_TRUE(WIFSTOPPED(status)) << "the consolidator did not reach the record's write";
    {
        // The lease is the child's and live: an honest clock cannot take it.
        EXPECT_TRUE(ec.consolidate("wallets", "balance").locked);
    }
    test::ManualClock ahead(detail::epoch_ms(std::chrono::system_clock::now() + std::chrono::hours(1)));
    auto other = open<BasicDatabase<Filesystem, EventualConsistency>>(Filesystem(fs), manual({.clock = ahead.fn()}));
    auto& ec2 = other->plugin<EventualConsistency>();
    ec2.add("wallets", "w1", "balance", 5);
    auto r = ec2.consolidate("wallets", "balance");
    ASSERT_FALSE(r.locked);
    EXPECT_EQ(r.transactions, 1u);
    EXPECT_EQ(ec2.get_consolidated_value("wallets", "w1", "balance"), 15);
    ASSERT_EQ(::kill(child, SIGCONT), 0);
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "1: the paused consolidator's late write was not refused";
    EXPECT_EQ(ec2.get_consolidated_value("wallets", "w1", "balance"), 15);
    auto rec = db->resource("wallets").get("w1");
    EXPECT_EQ(EventualConsistency::fences_of(rec)["balance"], 2) << rec.dump();
    EXPECT_TRUE(ec2.pending_transactions("wallets", "balance").empty());
}

TEST(EventualConsistency, RgwTwoConsolidatorsAndWritersAgreeWithTheModel) {
    auto store = test::make_store<S3>();
    auto db = open<BasicDatabase<S3, EventualConsistency>>(S3(store), manual({.lock_timeout = std::chrono::milliseconds(2000)}));
    auto db2 = open<BasicDatabase<S3, EventualConsistency>>(S3(store), manual({.lock_timeout = std::chrono::milliseconds(2000)}));
    std::atomic<bool> done{false};
    auto consolidator = [&](auto* d) {
        while (!done) {
            try {
                d->template plugin<EventualConsistency>().consolidate("wallets", "balance");
            } catch (const Error&) {
            }
        }
    };
    std::thread c1([&] { consolidator(db.get()); });
    std::thread c2([&] { consolidator(db2.get()); });
    std::map<std::string, double> model;
    std::mutex m;
    std::vector<std::thread> writers;
    for (int w = 0; w < 3; ++w)
        writers.emplace_back([&, w] {
            std::mt19937 rng(static_cast<unsigned>(w + 1));
            for (int i = 0; i < 40; ++i) {
                const std::string id = "w" + std::to_string(rng() % 4);
                const int amount = 1 + static_cast<int>(rng() % 10);
                (w % 2 ? db2 : db)->plugin<EventualConsistency>().add("wallets", id, "balance", amount);
                std::lock_guard lock(m);
                model[id] += amount;
            }
        });
    for (auto& t : writers) t.join();
    done = true;
    c1.join();
    c2.join();
    db->plugin<EventualConsistency>().consolidate("wallets", "balance");
    for (auto& [id, v] : model) EXPECT_EQ(db->plugin<EventualConsistency>().get_consolidated_value("wallets", id, "balance"), v) << id;
}
