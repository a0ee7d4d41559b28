// The EventualConsistency plugin: s3db.js's transactions resource and fields, add/sub/set/increment/
// decrement folded exactly by consolidate (sync and async modes, the async timer), replays that are
// no-ops, lost answers, requests per transaction, GC by retention, events and purge, and the proof:
// four processes writing at once with injected faults while two consolidate and a third consolidator
// is killed with SIGKILL and restarted.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
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

using FaultyFs = Retry<Faulty<Filesystem>>;

std::unique_ptr<BasicDatabase<FaultyFs, EventualConsistency>> open_faulty(const FilesystemOptions& fs, std::uint64_t seed) {
    RetryPolicy retries{.max_attempts = 8, .budget_capacity = 1 << 30, .sleep = [](std::chrono::milliseconds) {}};
    Faulty<Filesystem> faults(FaultOptions{.seed = seed, .server_error = 0.02, .timeout = 0.01, .lost_response = 0.02},
                              Filesystem(fs));
    return open<BasicDatabase<FaultyFs, EventualConsistency>>(
        FaultyFs(retries, faults), manual({.lock_ttl = std::chrono::seconds(1), .lock_timeout = std::chrono::milliseconds(200)}));
}

}  // namespace

TEST(EventualConsistency, ProofFourProcessesFaultsAndAKilledConsolidator) {
    const FilesystemOptions fs{.root = test::scratch_dir(), .prefix = test::next_prefix()};
    open_faulty(fs, 1);  // resources created once, before the processes race
    const int processes = 4, per_process = 500, records = 10;
    const auto out_dir = test::scratch_dir();
    std::filesystem::create_directories(out_dir);

    std::vector<pid_t> children;
    for (int p = 0; p < processes; ++p) {
        const pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            int code = 0;
            try {
                auto db = open_faulty(fs, 100 + p);
                std::atomic<bool> done{false};
                std::thread consolidator;
                if (p < 2)  // two of the writers consolidate as they go
                    consolidator = std::thread([&] {
                        while (!done) {
                            try {
                                db->plugin<EventualConsistency>().consolidate("wallets", "balance");
                            } catch (const Error&) {
                            }
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
                        auto& ec = db->plugin<EventualConsistency>();
                        if (sub) ec.sub("wallets", id, "balance", amount);
                        else ec.add("wallets", id, "balance", amount);
                        acked << id << ' ' << (sub ? -amount : amount) << '\n';
                    } catch (const TransactionOutcomeUnknown& e) {
                        unknown << e.transaction_id() << '\n';
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
        auto db = open_faulty(fs, 99);
        for (;;) {
            try {
                db->plugin<EventualConsistency>().consolidate("wallets", "balance");
            } catch (const Error&) {
            }
            if (!ack()) return;
        }
    });
    ASSERT_TRUE(killed);
    // ... and restarted (here, in this process) until the writers are done.
    std::atomic<bool> writers_done{false};
    std::size_t restarted_runs = 0;
    std::thread restarted([&] {
        auto db = open_faulty(fs, 98);
        while (!writers_done) {
            try {
                db->plugin<EventualConsistency>().consolidate("wallets", "balance");
                ++restarted_runs;
            } catch (const Error&) {
            }
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

    // A last consolidation without faults finishes what the faults interrupted.
    auto db = open<BasicDatabase<Filesystem, EventualConsistency>>(Filesystem(fs), manual({.lock_timeout = std::chrono::milliseconds(3000)}));
    auto& ec = db->plugin<EventualConsistency>();
    ec.consolidate("wallets", "balance");
    EXPECT_TRUE(ec.pending_transactions("wallets", "balance").empty());

    std::map<std::string, double> expected;
    std::set<std::string> unknown;
    std::size_t acked_count = 0;
    for (int p = 0; p < processes; ++p) {
        std::ifstream a(out_dir / ("acked-" + std::to_string(p)));
        std::string id;
        double v;
        while (a >> id >> v) expected[id] += v, ++acked_count;
        std::ifstream u(out_dir / ("unknown-" + std::to_string(p)));
        while (u >> id) unknown.insert(id);
    }
    EXPECT_GT(acked_count, static_cast<std::size_t>(processes * per_process * 9 / 10));
    std::uint64_t faults = 0, lost = 0;
    for (int p = 0; p < processes; ++p) {
        std::ifstream f(out_dir / ("faults-" + std::to_string(p)));
        std::uint64_t a = 0, b = 0;
        f >> a >> b;
        faults += a, lost += b;
    }
    EXPECT_GT(lost, 20u);
    // A write whose outcome was unknown counts iff its transaction is in the bucket.
    std::size_t unknown_landed = 0;
    for (auto& t : ec.transactions("wallets", "balance"))
        if (unknown.count(t.id)) expected[t.original_id] += t.op == 's' ? -t.value : t.value, ++unknown_landed;
    std::printf("proof: %zu acknowledged, %zu unknown (%zu landed), %llu faults injected in the writers (%llu lost answers), consolidator killed after %d runs, restarted one "
                "ran %zu\n", acked_count, unknown.size(), unknown_landed, (unsigned long long)faults, (unsigned long long)lost, *killed, restarted_runs);
    for (int i = 0; i < records; ++i) {
        const std::string id = "w" + std::to_string(i);
        EXPECT_EQ(ec.get_consolidated_value("wallets", id, "balance"), expected[id]) << id;
    }
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
