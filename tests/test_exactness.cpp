// Exactness under faults and races: a write acknowledged is applied once, a write reported failed
// not at all (OutcomeUnknown where the store cannot tell), and the partition index names every
// record in exactly the partitions its stored values name. Deterministic replays of the races
// first, then a model-checked campaign over Retry<Faulty<…>> (memory and RGW), then processes.

#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "s3db/core/any_database.hpp"
#include "s3db/transport/counting.hpp"
#include "s3db/transport/faulty.hpp"
#include "s3db/transport/filesystem.hpp"
#include "s3db/transport/memory.hpp"
#include "s3db/transport/retry.hpp"
#include "support/stores.hpp"

using namespace s3db;
using ojson = nlohmann::ordered_json;

namespace {

/// A transport that runs a test's script around writes: `before_put` may throw (nothing applied),
/// `after_put` runs once the write is applied and may throw (the answer is lost) or let another
/// writer in. Each is cleared before it runs, so it fires once.
template <Transport T>
struct Scripted {
    explicit Scripted(T t) : inner(std::move(t)) {}
    T inner;
    std::function<void(std::string_view)> before_put, after_put, after_remove;

    PutResult put(std::string_view key, std::string_view body, PutOptions o = {}) {
        if (auto f = take(before_put, key)) f(key);
        auto r = inner.put(key, body, std::move(o));
        if (auto f = take(after_put, key)) f(key);
        return r;
    }
    std::optional<Object> get(std::string_view key, GetOptions o = {}) { return inner.get(key, std::move(o)); }
    std::optional<ObjectInfo> head(std::string_view key) { return inner.head(key); }
    PutResult copy(std::string_view from, std::string_view to, CopyOptions o = {}) {
        auto r = inner.copy(from, to, std::move(o));
        if (auto f = take(after_put, to)) f(to);
        return r;
    }
    void remove(std::string_view key) {
        inner.remove(key);
        if (auto f = take(after_remove, key)) f(key);
    }
    RemoveManyResult remove_many(std::span<const std::string> keys) { return inner.remove_many(keys); }
    ListPage list(ListOptions o = {}) { return inner.list(std::move(o)); }

    std::string watched;  // the key the scripts fire on (empty: any)

private:
    std::function<void(std::string_view)> take(std::function<void(std::string_view)>& f, std::string_view key) {
        if (!f || (!watched.empty() && key != watched)) return {};
        return std::exchange(f, {});
    }
};

[[noreturn]] void lose_answer(std::string_view key) {
    throw TransportError("lost response (test)", {0, "RequestTimeout", {}, std::string(key), true});
}

RetryPolicy instant_retries(int attempts = 3) {
    return RetryPolicy{.max_attempts = attempts, .budget_capacity = 1 << 30, .sleep = [](std::chrono::milliseconds) {}};
}

using ScriptedDb = BasicDatabase<Retry<Scripted<Memory>>>;

ResourceConfig counters_config(std::string behavior = "body-overflow") {
    return {.name = "counters",
            .attributes = ojson{{"n", "number|integer"}, {"region", "string|optional"}},
            .behavior = std::move(behavior),
            .partitions = ojson{{"byRegion", {{"fields", {{"region", "string"}}}}}}};
}

struct Scenario : ::testing::TestWithParam<std::string> {
    Memory memory{MemoryOptions{}};
    ScriptedDb db{Retry<Scripted<Memory>>(instant_retries(), Scripted<Memory>(memory))};
    BasicDatabase<Memory> other{memory};  // a second writer, with its own view of the bucket
    Scripted<Memory>& script() { return db.transport().inner(); }

    ScriptedDb::Resource& counters() {
        if (!db.has_resource("counters")) {
            db.create_resource(counters_config(GetParam()));
            other.connect();
        }
        return db.resource("counters");
    }
    auto& other_counters() { return other.resource("counters"); }
    std::set<std::string> refs() {
        std::set<std::string> out;
        for (auto& e : memory.list({.prefix = "resource=counters/partition="}).objects) out.insert(e.key);
        return out;
    }
    static std::string ref(const std::string& region, const std::string& id) {
        return "resource=counters/partition=byRegion/region=" + region + "/id=" + id;
    }
};

auto increment = [](json& r) { r["n"] = r["n"].get<int>() + 1; };

}  // namespace

// ---- defect 1: a lost answer, another writer, a retry that meets 412 -----------------------------

TEST_P(Scenario, AnUpdateWhoseAnswerWasLostIsNotAppliedTwice) {
    auto& c = counters();
    c.insert({{"id", "c"}, {"n", 0}});
    script().watched = c.key_of("c");
    script().after_put = [&](std::string_view key) {
        other_counters().update("c", increment);  // lands between our write and our retry
        lose_answer(key);
    };
    c.update("c", increment);
    EXPECT_EQ(c.get("c")["n"], 2) << "our +1 and the other writer's +1, each once";
}

TEST_P(Scenario, AnUpdateWhoseAnswerWasLostAndNeverRetriedIsSettledByOneRead) {
    ScriptedDb once{Retry<Scripted<Memory>>(instant_retries(1), Scripted<Memory>(memory))};
    counters();
    once.connect();
    auto& c = once.resource("counters");
    c.insert({{"id", "c"}, {"n", 0}});
    once.transport().inner().watched = c.key_of("c");
    once.transport().inner().after_put = lose_answer;
    auto r = c.update("c", increment);  // applied: reported so, not as a transport failure
    EXPECT_EQ(r["n"], 1);
    EXPECT_EQ(c.get("c")["n"], 1);
    // An attempt that failed before it was applied is reported failed, and nothing is stored.
    once.transport().inner().before_put = lose_answer;
    EXPECT_THROW(c.update("c", increment), TransportError);
    EXPECT_EQ(c.get("c")["n"], 1);
}

TEST_P(Scenario, BeyondTheTokenWindowTheOutcomeIsUnknownNotRepeated) {
    auto& c = counters();
    c.insert({{"id", "c"}, {"n", 0}});
    script().watched = c.key_of("c");
    script().after_put = [&](std::string_view key) {
        for (int i = 0; i < 6; ++i) other_counters().update("c", increment);  // more writes than tokens kept
        lose_answer(key);
    };
    EXPECT_THROW(c.update("c", increment), OutcomeUnknown);
    EXPECT_EQ(c.get("c")["n"], 7) << "applied once, never twice";
}

TEST_P(Scenario, AnInsertWhoseAnswerWasLostIsReportedInserted) {
    auto& c = counters();
    ScriptedDb once{Retry<Scripted<Memory>>(instant_retries(1), Scripted<Memory>(memory))};
    once.connect();
    auto& c1 = once.resource("counters");
    once.transport().inner().watched = c.key_of("x");
    once.transport().inner().after_put = lose_answer;
    EXPECT_EQ(c1.insert({{"id", "x"}, {"n", 5}, {"region", "eu"}})["n"], 5);
    EXPECT_EQ(refs(), (std::set<std::string>{ref("eu", "x")}));
    // Retried: the 412 the retry meets is our own insert.
    script().watched = c.key_of("y");
    script().after_put = lose_answer;
    EXPECT_EQ(c.insert({{"id", "y"}, {"n", 6}})["n"], 6);
    EXPECT_EQ(c.get("y")["n"], 6);
}

TEST_P(Scenario, AnInsertThatMetSomeoneElsesRecordAfterALostAttemptIsAlreadyExists) {
    auto& c = counters();
    script().watched = c.key_of("x");
    script().before_put = [&](std::string_view key) {
        other_counters().insert({{"id", "x"}, {"n", 1}, {"region", "us"}});
        lose_answer(key);  // ours was not applied; the retry meets the other record
    };
    EXPECT_THROW(c.insert({{"id", "x"}, {"n", 2}, {"region", "eu"}}), AlreadyExists);
    EXPECT_EQ(c.get("x")["n"], 1);
    EXPECT_EQ(refs(), (std::set<std::string>{ref("us", "x")})) << "our eu ref was taken back, theirs stays";
}

// ---- defect 2: two updates moving one record between two partitions -----------------------------

TEST_P(Scenario, CrossingPartitionMovesLeaveTheRecordInItsPartition) {
    auto& c = counters();
    c.insert({{"id", "r"}, {"n", 0}, {"region", "eu"}});
    script().watched = c.key_of("r");
    script().after_put = [&](std::string_view) {
        // A has stored region=us and not yet moved its refs; B moves the record back to eu.
        other_counters().update("r", json{{"region", "eu"}});
    };
    c.update("r", json{{"region", "us"}});
    EXPECT_EQ(c.get("r")["region"], "eu");
    EXPECT_EQ(refs(), (std::set<std::string>{ref("eu", "r")}));
    EXPECT_EQ(c.list_ids({.partition = "byRegion", .values = {{"region", "eu"}}}), std::vector<std::string>{"r"});
    EXPECT_EQ(c.count({.partition = "byRegion", .values = {{"region", "us"}}}), 0u);
    EXPECT_EQ(c.query(json{{"region", "eu"}}).size(), 1u);
}

TEST_P(Scenario, ADeleteRacingAnInsertOfTheSameIdKeepsTheNewRecordsRefs) {
    auto& c = counters();
    c.insert({{"id", "r"}, {"n", 0}, {"region", "eu"}});
    script().watched = c.key_of("r");
    script().after_remove = [&](std::string_view) {
        // The record is deleted, its ref not yet: the id is inserted again, in the same partition.
        other_counters().insert({{"id", "r"}, {"n", 9}, {"region", "eu"}});
    };
    c.remove("r");
    EXPECT_EQ(c.get("r")["n"], 9);
    EXPECT_EQ(refs(), (std::set<std::string>{ref("eu", "r")})) << "the delete put back the ref the new record needs";
}

TEST_P(Scenario, RepairRebuildsRefsFromRecords) {
    BasicDatabase<Counting<Memory>> counted{Counting<Memory>(memory), DatabaseOptions{.stale_ref_grace = std::chrono::seconds(0)}};
    auto& c = counters();
    for (int i = 0; i < 5; ++i) c.insert({{"id", "r" + std::to_string(i)}, {"n", i}, {"region", i % 2 ? "us" : "eu"}});
    memory.remove(ref("eu", "r0"));                   // a crash between writes
    memory.put(ref("us", "ghost"), "", {});           // a record that is gone
    memory.put(ref("eu", "r1"), "", {});              // r1 is in us
    memory.put("resource=counters/partition=byRegion/region=e/u/id=r2", "", {});  // s3db.js, unescaped
    counted.connect();
    auto before = counted.transport().counts();
    auto report = counted.resource("counters").repair_partitions();
    auto used = counted.transport().counts() - before;
    EXPECT_EQ(report.records, 5u);
    EXPECT_EQ(report.refs, 7u);
    EXPECT_EQ(report.added, 1u);
    EXPECT_EQ(report.removed, 3u);
    EXPECT_EQ(used.total(), report.requests);
    std::set<std::string> want;
    for (int i = 0; i < 5; ++i) want.insert(ref(i % 2 ? "us" : "eu", "r" + std::to_string(i)));
    EXPECT_EQ(refs(), want);
    EXPECT_EQ(counted.resource("counters").repair_partitions().added, 0u);
}

TEST_P(Scenario, ListingsSkipAndCleanStaleRefsOnlyAfterTheirGrace) {
    auto& c = counters();
    c.insert({{"id", "r"}, {"n", 0}, {"region", "eu"}});
    c.replace("r", {{"n", 1}, {"region", "us"}});  // replace cannot know the old ref
    EXPECT_TRUE(c.list({.partition = "byRegion", .values = {{"region", "eu"}}}).empty());
    EXPECT_TRUE(refs().count(ref("eu", "r"))) << "younger than the grace: an insert may be writing it";
    BasicDatabase<Memory> prompt{memory, DatabaseOptions{.stale_ref_grace = std::chrono::seconds(0)}};
    prompt.connect();
    EXPECT_TRUE(prompt.resource("counters").list({.partition = "byRegion", .values = {{"region", "eu"}}}).empty());
    EXPECT_EQ(refs(), (std::set<std::string>{ref("us", "r")}));
}

TEST_P(Scenario, WriteTokensCostAtMost35BytesAndS3dbjsFieldsStayClean) {
    auto& c = counters();
    c.insert({{"id", "c"}, {"n", 0}});
    for (int i = 0; i < 6; ++i) c.update("c", increment);
    auto head = memory.head(c.key_of("c"));
    ASSERT_TRUE(head);
    auto it = head->metadata.find("_wt");
    ASSERT_NE(it, head->metadata.end());
    EXPECT_EQ(it->first.size() + it->second.size(), 35u);
    EXPECT_FALSE(c.get("c").contains("_wt"));
}

INSTANTIATE_TEST_SUITE_P(Behaviors, Scenario, ::testing::Values("body-overflow", "enforce-limits", "body-only"));

// ---- the campaign: threads, every fault kind, a model ------------------------------------------

namespace {

struct Tally {
    std::mutex m;
    std::map<std::string, int> acked, unknown;  // counter id -> increments
    std::map<std::string, json> present;        // item id -> record acknowledged
    std::set<std::string> maybe;                // items whose insert or delete is OutcomeUnknown
    std::set<std::string> absent;               // items reported failed, or deleted
    std::uint64_t ok = 0, outcome_unknown = 0, failed = 0, conflicts = 0;
};

/// `threads` writers doing CAS increments (each moving the counter between two partitions),
/// inserts and deletes, under faults; then faults off and the store checked against the model.
template <class Db, class FaultsOn, class FaultsOff>
void campaign(Db& db, FaultsOn&& faults_on, FaultsOff&& faults_off, std::uint64_t seed, int threads, int ops, const std::string& behavior,
              std::string& summary) {
    auto& counters = db.create_resource({.name = "counters",
                                         .attributes = ojson{{"n", "number|integer"}, {"region", "string|optional"}},
                                         .behavior = behavior,
                                         .partitions = ojson{{"byRegion", {{"fields", {{"region", "string"}}}}}}});
    auto& items = db.create_resource({.name = "items",
                                      .attributes = ojson{{"v", "number|integer"}, {"region", "string"}},
                                      .behavior = behavior,
                                      .partitions = ojson{{"byRegion", {{"fields", {{"region", "string"}}}}}}});
    constexpr int n_counters = 8;
    for (int k = 0; k < n_counters; ++k) counters.insert({{"id", "c" + std::to_string(k)}, {"n", 0}, {"region", "eu"}});
    faults_on();
    Tally t;
    std::vector<std::thread> pool;
    for (int w = 0; w < threads; ++w)
        pool.emplace_back([&, w] {
            std::mt19937_64 rng(seed * 1000 + static_cast<std::uint64_t>(w));
            std::vector<std::string> mine;
            for (int i = 0; i < ops; ++i) {
                int dice = static_cast<int>(rng() % 100);
                if (dice < 60) {
                    std::string id = "c" + std::to_string(rng() % n_counters);
                    try {
                        counters.update(id, [](json& r) {
                            int n = r["n"].get<int>() + 1;
                            r["n"] = n;
                            r["region"] = n % 2 ? "us" : "eu";
                        });
                        std::lock_guard l(t.m);
                        ++t.acked[id], ++t.ok;
                    } catch (const OutcomeUnknown&) {
                        std::lock_guard l(t.m);
                        ++t.unknown[id], ++t.outcome_unknown;
                    } catch (const UpdateConflict&) {
                        std::lock_guard l(t.m);
                        ++t.conflicts;
                    } catch (const Error&) {
                        std::lock_guard l(t.m);
                        ++t.failed;
                    }
                } else if (dice < 85 || mine.empty()) {
                    std::string id = "w" + std::to_string(w) + "-" + std::to_string(i);
                    json rec{{"id", id}, {"v", i}, {"region", rng() % 2 ? "us" : "eu"}};
                    try {
                        items.insert(rec);
                        std::lock_guard l(t.m);
                        t.present[id] = rec, ++t.ok;
                        mine.push_back(id);
                    } catch (const OutcomeUnknown&) {
                        std::lock_guard l(t.m);
                        t.maybe.insert(id), ++t.outcome_unknown;
                    } catch (const Error&) {
                        std::lock_guard l(t.m);
                        t.absent.insert(id), ++t.failed;
                    }
                } else {
                    std::string id = mine[rng() % mine.size()];
                    try {
                        items.remove(id);
                        std::lock_guard l(t.m);
                        t.present.erase(id), t.absent.insert(id), ++t.ok;
                        std::erase(mine, id);
                    } catch (const OutcomeUnknown&) {
                        std::lock_guard l(t.m);
                        t.present.erase(id), t.maybe.insert(id), ++t.outcome_unknown;
                        std::erase(mine, id);
                    } catch (const Error&) {
                        std::lock_guard l(t.m);
                        ++t.failed;  // reported failed: still there
                    }
                }
            }
        });
    for (auto& th : pool) th.join();
    faults_off();

    int increments = 0;
    for (int k = 0; k < n_counters; ++k) {
        std::string id = "c" + std::to_string(k);
        auto r = counters.get(id);
        int n = r["n"].template get<int>();
        increments += n;
        EXPECT_GE(n, t.acked[id]) << id << ": an acknowledged update is missing";
        EXPECT_LE(n, t.acked[id] + t.unknown[id]) << id << ": an update was applied twice, or one reported failed was applied";
        EXPECT_EQ(r["region"], n % 2 ? "us" : "eu") << id;
    }
    for (auto& [id, rec] : t.present) {
        auto got = items.get_or_null(id);
        ASSERT_TRUE(got) << id << " was acknowledged and is gone";
        EXPECT_EQ((*got)["v"], rec["v"]) << id;
        EXPECT_EQ((*got)["region"], rec["region"]) << id;
    }
    for (auto& id : t.absent) {
        if (!t.present.count(id)) {
            EXPECT_FALSE(items.exists(id)) << id << " was reported failed or deleted, and is stored";
        }
    }

    // The partition index, read as refs (list_ids does not read records): exactly the records'.
    std::size_t stale = 0, missing = 0;
    for (auto* res : {&counters, &items}) {
        std::map<std::string, std::set<std::string>> want, have;
        for (auto& r : res->list()) want[r["region"].template get<std::string>()].insert(r["id"].template get<std::string>());
        for (std::string region : {"eu", "us"}) {
            for (auto& id : res->list_ids({.partition = "byRegion", .values = {{"region", region}}})) have[region].insert(id);
            for (auto& id : want[region]) missing += !have[region].count(id);
            for (auto& id : have[region]) stale += !want[region].count(id);
            auto listed = res->list({.partition = "byRegion", .values = {{"region", region}}});
            EXPECT_EQ(listed.size(), want[region].size()) << res->name() << " " << region;
        }
    }
    EXPECT_EQ(missing, 0u) << "records missing from a partition they name";
    // A stale ref is the safe way to fail: only where a ref request failed after the record's
    // write had landed (counted, and reported to "partition-error" listeners), or an insert or a
    // delete ended in OutcomeUnknown (its refs kept). Repair removes them.
    const auto partition_failures = counters.partition_failures() + items.partition_failures();
    EXPECT_LE(stale, partition_failures + t.outcome_unknown);
    std::size_t repaired = 0;
    for (auto* res : {&counters, &items}) {
        auto report = res->repair_partitions(std::chrono::seconds(0));
        EXPECT_EQ(report.added, 0u) << res->name();
        repaired += report.removed;
        for (std::string region : {"eu", "us"}) {
            auto ids = res->list_ids({.partition = "byRegion", .values = {{"region", region}}});
            EXPECT_EQ(ids.size(), res->list({.partition = "byRegion", .values = {{"region", region}}}).size());
        }
    }
    EXPECT_EQ(repaired, stale);
    summary = "seed " + std::to_string(seed) + " " + behavior + ": " + std::to_string(threads * ops) + " ops, " +
              std::to_string(t.ok) + " acknowledged, " + std::to_string(t.outcome_unknown) + " outcome unknown, " +
              std::to_string(t.failed) + " failed, " + std::to_string(t.conflicts) + " conflicts; " +
              std::to_string(increments) + " increments stored; index: " + std::to_string(missing) + " missing, " +
              std::to_string(stale) + " stale refs (removed by repair); ref requests failed after their write " +
              std::to_string(partition_failures);
}

/// The mix: about 10 % of requests fail (5xx 3 %, SlowDown 2 %, timeouts 2 %, resets
/// 1.5 %, answers lost after the write 1.5 %).
FaultOptions ten_percent(std::uint64_t seed) {
    return FaultOptions{.seed = seed, .server_error = 0.03, .throttle = 0.02, .timeout = 0.02, .reset = 0.015,
                        .lost_response = 0.015};
}

std::string describe(const FaultCounts& f) {
    return "faults: " + std::to_string(f.server_error) + " 5xx, " + std::to_string(f.throttle) + " SlowDown, " +
           std::to_string(f.timeout) + " timeouts, " + std::to_string(f.reset) + " resets, " +
           std::to_string(f.lost_response) + " lost answers";
}

}  // namespace

TEST(Campaign, ThreadsUnderEveryFaultKindOnMemoryMatchTheModel) {
    for (std::uint64_t seed : {1, 2, 3})
        for (std::string behavior : {"body-overflow", "enforce-limits"}) {
            BasicDatabase<Retry<Faulty<Memory>>> db{Retry<Faulty<Memory>>(instant_retries(), FaultOptions{}, Memory{})};
            auto& faulty = db.transport().inner();
            std::string summary;
            campaign(db, [&] { faulty.set_faults(ten_percent(seed)); }, [&] { faulty.set_faults({}); }, seed, 4, 1250, behavior, summary);
            std::printf("[campaign] memory %s; %s\n", summary.c_str(), describe(db.transport().inner().injected()).c_str());
        }
}

TEST(Campaign, ThreadsUnderEveryFaultKindOnRgwMatchTheModel) {
    BasicDatabase<Retry<Faulty<S3>>> db{Retry<Faulty<S3>>(instant_retries(), FaultOptions{}, test::make_store<S3>())};
    auto& faulty = db.transport().inner();
    std::string summary;
    campaign(db, [&] { faulty.set_faults(ten_percent(7)); }, [&] { faulty.set_faults({}); }, 7, 4, 150, "body-overflow", summary);
    std::printf("[campaign] rgw %s; %s\n", summary.c_str(), describe(db.transport().inner().injected()).c_str());
}

// ---- processes ------------------------------------------------------------------------------

namespace {

/// Runs `body` in `n` child processes (each exits with _exit, never returning into gtest) and
/// returns what each wrote to its pipe.
std::vector<std::string> in_processes(int n, const std::function<std::string(int)>& body) {
    std::vector<std::pair<pid_t, int>> children;
    for (int i = 0; i < n; ++i) {
        int fds[2];
        if (::pipe(fds) != 0) throw std::runtime_error("pipe");
        pid_t pid = ::fork();
        if (pid == 0) {
            ::close(fds[0]);
            std::string out;
            try {
                out = body(i);
            } catch (const std::exception& e) {
                out = std::string("error: ") + e.what();
            }
            (void)!::write(fds[1], out.data(), out.size());
            ::_exit(0);
        }
        ::close(fds[1]);
        children.emplace_back(pid, fds[0]);
    }
    std::vector<std::string> outs;
    for (auto& [pid, fd] : children) {
        std::string out;
        char buf[4096];
        for (ssize_t r; (r = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(r));
        ::close(fd);
        ::waitpid(pid, nullptr, 0);
        outs.push_back(out);
    }
    return outs;
}

template <class Store, class MakeStore>
void processes_count_exactly(MakeStore&& make_store) {
    BasicDatabase<Store> db{make_store()};
    db.create_resource({.name = "counters", .attributes = ojson{{"n", "number|integer"}}, .behavior = "body-overflow"});
    db.resource("counters").insert({{"id", "c"}, {"n", 0}});
    auto outs = in_processes(4, [&](int) {
        BasicDatabase<Store> mine{make_store()};
        mine.connect();
        auto& c = mine.resource("counters");
        int acked = 0, unknown = 0;
        for (int i = 0; i < 250; ++i) {
            try {
                c.update("c", increment);
                ++acked;
            } catch (const UpdateConflict&) {
            } catch (const OutcomeUnknown&) {
                ++unknown;  // applied once or not at all
            }
        }
        return std::to_string(acked) + " " + std::to_string(unknown);
    });
    int acked = 0, unknown = 0;
    for (auto& o : outs) {
        ASSERT_FALSE(o.starts_with("error")) << o;
        acked += std::stoi(o);
        unknown += std::stoi(o.substr(o.find(' ') + 1));
    }
    const int stored = db.resource("counters").get("c")["n"].template get<int>();
    EXPECT_GE(stored, acked);
    EXPECT_LE(stored, acked + unknown);
    std::printf("[processes] 4 x 250 updates: %d acknowledged, %d outcome unknown, %d stored\n", acked, unknown, stored);
}

}  // namespace

TEST(Processes, FourProcessesCountExactlyOnTheFilesystem) {
    auto root = test::scratch_dir();
    processes_count_exactly<Filesystem>([&] { return Filesystem(FilesystemOptions{.root = root}); });
}

TEST(Processes, FourProcessesCountExactlyOnRgw) {
    auto bucket = test::TestBucket::name();
    auto prefix = test::next_prefix();
    processes_count_exactly<S3>([&] { return S3(test::s3_options(test::s3_under_test(), bucket, prefix)); });
}

TEST(Processes, KilledWritersLeaveEveryAcknowledgedRecordWhole) {
    auto root = test::scratch_dir();
    auto open = [&] { return Filesystem(FilesystemOptions{.root = root}); };
    {
        BasicDatabase<Filesystem> db{open()};
        db.create_resource({.name = "items",
                            .attributes = ojson{{"v", "string"}, {"region", "string"}},
                            .behavior = "body-overflow",
                            .partitions = ojson{{"byRegion", {{"fields", {{"region", "string"}}}}}}});
    }
    std::set<std::string> acknowledged;
    for (int round = 0; round < 5; ++round) {
        int fds[2];
        ASSERT_EQ(::pipe(fds), 0);
        pid_t pid = ::fork();
        if (pid == 0) {
            ::close(fds[0]);
            BasicDatabase<Filesystem> db{open()};
            db.connect();
            auto& items = db.resource("items");
            for (int i = 0;; ++i) {
                std::string id = "r" + std::to_string(round) + "-" + std::to_string(i);
                // Large enough to overflow into the body: a torn write would show.
                items.insert({{"id", id}, {"v", std::string(4000, static_cast<char>('a' + i % 26))}, {"region", i % 2 ? "us" : "eu"}});
                std::string line = id + "\n";
                (void)!::write(fds[1], line.data(), line.size());
            }
        }
        ::close(fds[1]);
        std::this_thread::sleep_for(std::chrono::milliseconds(150 + 50 * round));
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        std::string out;
        char buf[4096];
        for (ssize_t r; (r = ::read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(r));
        ::close(fds[0]);
        for (std::size_t at = 0, nl; (nl = out.find('\n', at)) != std::string::npos; at = nl + 1)
            acknowledged.insert(out.substr(at, nl - at));
    }
    ASSERT_GT(acknowledged.size(), 5u);
    BasicDatabase<Filesystem> db{open()};
    db.connect();
    auto& items = db.resource("items");
    for (auto& id : acknowledged) {
        auto r = items.get_or_null(id);
        ASSERT_TRUE(r) << id;
        int i = std::stoi(id.substr(id.find('-') + 1));
        EXPECT_EQ((*r)["v"], std::string(4000, static_cast<char>('a' + i % 26))) << id;
    }
    // Every stored record (acknowledged or cut off before its answer) is whole and in its partition.
    std::size_t listed = 0;
    for (auto& r : items.list()) {
        ++listed;
        int i = std::stoi(r["id"].get<std::string>().substr(r["id"].get<std::string>().find('-') + 1));
        EXPECT_EQ(r["v"].get<std::string>().size(), 4000u);
        auto in = items.list_ids({.partition = "byRegion", .values = {{"region", i % 2 ? "us" : "eu"}}});
        EXPECT_NE(std::find(in.begin(), in.end(), r["id"].get<std::string>()), in.end()) << r["id"];
    }
    EXPECT_GE(listed, acknowledged.size());
    std::printf("[processes] 5 writers killed: %zu acknowledged records, %zu stored, all whole\n", acknowledged.size(), listed);
}
