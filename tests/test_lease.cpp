// Leases, fencing tokens and leader election (core/lease.hpp), on every store: races between
// threads, expiry and takeover on a hand-moved clock, fenced writes interleaved with a takeover at
// each step, lost answers, and processes paused with SIGSTOP past their ttl.

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "s3db/core/lease.hpp"
#include "s3db/transport/counting.hpp"
#include "s3db/transport/faulty.hpp"
#include "s3db/transport/retry.hpp"
#include "support/manual_clock.hpp"
#include "support/stores.hpp"

using namespace s3db;
using namespace std::chrono_literals;

namespace {

template <class T>
class LeaseTest : public ::testing::Test {
protected:
    T store = test::make_store<T>();
};
using Stores = ::testing::Types<Memory, Filesystem, S3>;
TYPED_TEST_SUITE(LeaseTest, Stores, test::StoreNames);

/// Runs `before(key)` once, just before the first PUT or HEAD of `key` that `armed` allows: the
/// other holder's move lands exactly between two steps of a fenced write.
template <Transport T>
class Interleave {
public:
    explicit Interleave(T& inner) : inner_(inner) {}
    std::function<void()> before_head, before_put;
    std::string key;
    PutResult put(std::string_view k, std::string_view b, PutOptions o = {}) {
        if (k == key && before_put) std::exchange(before_put, nullptr)();
        return inner_.put(k, b, std::move(o));
    }
    std::optional<Object> get(std::string_view k, GetOptions o = {}) { return inner_.get(k, std::move(o)); }
    std::optional<ObjectInfo> head(std::string_view k) {
        if (k == key && before_head) std::exchange(before_head, nullptr)();
        return inner_.head(k);
    }
    PutResult copy(std::string_view f, std::string_view t, CopyOptions o = {}) { return inner_.copy(f, t, std::move(o)); }
    void remove(std::string_view k) { inner_.remove(k); }
    RemoveManyResult remove_many(std::span<const std::string> ks) { return inner_.remove_many(ks); }
    ListPage list(ListOptions o = {}) { return inner_.list(std::move(o)); }

private:
    T& inner_;
};

LeaseOptions opts(const test::ManualClock& clock, std::string holder) {
    return {.ttl = 10s, .max_clock_skew = 1s, .safety_margin = 1s, .holder = std::move(holder), .wall_clock = clock.fn()};
}

}  // namespace

TYPED_TEST(LeaseTest, ConcurrentAcquiresHaveExactlyOneWinner) {
    for (int round = 0; round < 3; ++round) {
        std::string name = "race-" + std::to_string(round);
        std::atomic<int> winners{0};
        std::vector<std::uint64_t> tokens(8);
        std::vector<std::thread> threads;
        for (int i = 0; i < 8; ++i)
            threads.emplace_back([&, i] {
                LeaseService s(this->store, {.holder = "h" + std::to_string(i)});
                if (auto l = s.try_acquire(name)) {
                    ++winners;
                    tokens[i] = l->token;
                }
            });
        for (auto& t : threads) t.join();
        EXPECT_EQ(winners.load(), 1) << name;
        EXPECT_EQ(*std::max_element(tokens.begin(), tokens.end()), 1u);
    }
}

TYPED_TEST(LeaseTest, ExpiryAndTakeoverIncreaseTheToken) {
    test::ManualClock clock;
    LeaseService a(this->store, opts(clock, "a")), b(this->store, opts(clock, "b"));
    auto la = a.try_acquire("job");
    ASSERT_TRUE(la);
    EXPECT_EQ(la->token, 1u);
    EXPECT_FALSE(b.try_acquire("job"));
    EXPECT_TRUE(a.renew(*la));
    EXPECT_EQ(la->token, 1u);  // renewing keeps the token

    clock.advance(10s);  // past the ttl, within the skew bound: still a's
    EXPECT_FALSE(b.try_acquire("job"));
    clock.advance(1001ms);  // past ttl + skew on b's clock
    auto lb = b.try_acquire("job");
    ASSERT_TRUE(lb);
    EXPECT_EQ(lb->token, 2u);
    EXPECT_EQ(b.read("job")->holder, "b");

    EXPECT_FALSE(a.renew(*la)) << "a's version was replaced: its renew must be refused";
    EXPECT_TRUE(la->lost);
    EXPECT_FALSE(a.release(*la)) << "a stale holder cannot release the new holder's lease";
    EXPECT_EQ(b.read("job")->token, 2u);
    EXPECT_FALSE(b.read("job")->released);

    // A release keeps the token: the next holder gets 3, never 1 again.
    EXPECT_TRUE(b.release(*lb));
    EXPECT_TRUE(b.read("job")->released);
    auto la2 = a.try_acquire("job");
    ASSERT_TRUE(la2);
    EXPECT_EQ(la2->token, 3u);
}

TYPED_TEST(LeaseTest, LeasesAtTheCallersKeysCarryDataFenceAndAreTakenOverOnce) {
    // The Scheduler's claims: created at a key of its own layout with its fields in the body,
    // renewed, then taken over from the version a taker read.
    test::ManualClock clock;
    Counting<TransportRef> counted{TransportRef(this->store)};
    LeaseService a(counted, opts(clock, "a")), b(this->store, opts(clock, "b")), c(this->store, opts(clock, "c"));
    const std::string key = "plugin=scheduler/claims/j/0001";
    auto la = a.try_create_at(key, "j/1", 1, {{"status", "running"}, {"attempt", 0}});
    ASSERT_TRUE(la);
    EXPECT_EQ(counted.counts(), (RequestCounts{.put = 1}));
    EXPECT_FALSE(b.try_create_at(key, "j/1", 1));
    auto stored = [&] { return nlohmann::json::parse(this->store.get(key)->body); };
    EXPECT_EQ(stored()["status"], "running");
    EXPECT_EQ(stored()["token"], 1);
    EXPECT_EQ(stored()["holder"], "a");

    // check and fenced_put find the lease at its own key (not at key_of(name)).
    EXPECT_TRUE(a.check(*la));
    a.fenced_put(*la, "data/j", "from a");
    la->data["status"] = "retrying";
    ASSERT_TRUE(a.renew(*la));
    EXPECT_EQ(stored()["status"], "retrying");
    EXPECT_EQ(stored()["token"], 1) << "the caller's fields never replace the lease's";

    // Two takers that read the same version: one wins, with the token it chose.
    auto read = this->store.get(key);
    auto lb = b.try_take_over_at(key, "j/1", read->info.etag, 2, {{"status", "running"}, {"attempt", 1}});
    auto lc = c.try_take_over_at(key, "j/1", read->info.etag, 2, {{"status", "running"}, {"attempt", 1}});
    ASSERT_TRUE(lb);
    EXPECT_FALSE(lc);
    EXPECT_EQ(lb->token, 2u);
    EXPECT_EQ(stored()["holder"], "b");
    EXPECT_EQ(stored()["attempt"], 1);

    // The old holder: its renew is refused and its fenced writes too.
    Lease copy = *la;
    EXPECT_THROW(a.fenced_put(*la, "data/j", "stale"), FencedOut);
    EXPECT_FALSE(a.renew(copy)) << "refused by the store (If-Match on a replaced version)";
    b.fenced_put(*lb, "data/j", "from b");
    EXPECT_EQ(this->store.get("data/j")->body, "from b");
    EXPECT_TRUE(b.release(*lb));
    EXPECT_FALSE(c.try_take_over_at("plugin=scheduler/claims/gone", "j/2", "\"nope\"", 2)) << "a key that is not there";
    EXPECT_THROW(c.try_take_over_at(key, "j/1", "", 3), LeaseError);
    EXPECT_THROW(c.try_create_at("k2", "j/3", 1, nlohmann::json::array()), LeaseError);
}

TYPED_TEST(LeaseTest, RequestBudgets) {
    Counting<TransportRef> counted{TransportRef(this->store)};
    LeaseService s(counted, {.holder = "x"});
    LeaseService other(counted, {.holder = "y"});
    auto l = s.try_acquire("b");
    ASSERT_TRUE(l);
    EXPECT_EQ(counted.counts(), (RequestCounts{.put = 1, .get = 1}));  // GET (missing) + PUT If-None-Match
    counted.reset();
    EXPECT_FALSE(other.try_acquire("b"));
    EXPECT_EQ(counted.counts(), (RequestCounts{.get = 1}));
    counted.reset();
    EXPECT_TRUE(s.renew(*l));
    EXPECT_EQ(counted.counts(), (RequestCounts{.put = 1}));
    counted.reset();
    s.fenced_put(*l, "data/x", "v1");
    EXPECT_EQ(counted.counts(), (RequestCounts{.put = 1, .get = 1, .head = 1}));
    counted.reset();
    EXPECT_TRUE(s.release(*l));
    EXPECT_EQ(counted.counts(), (RequestCounts{.put = 1}));
}

TYPED_TEST(LeaseTest, AStaleHoldersFencedWritesAreRefused) {
    test::ManualClock clock;
    LeaseService a(this->store, opts(clock, "a")), b(this->store, opts(clock, "b"));
    auto la = a.try_acquire("writer");
    ASSERT_TRUE(la);
    a.fenced_put(*la, "data/report", "from a, token 1");
    clock.advance(12s);
    auto lb = b.try_acquire("writer");
    ASSERT_TRUE(lb);
    EXPECT_EQ(lb->token, 2u);
    // a's steady clock says it is still valid (no time passed for it): the store must refuse it.
    ASSERT_TRUE(la->valid());
    try {
        a.fenced_put(*la, "data/report", "from a, stale");
        FAIL() << "a stale holder's write landed";
    } catch (const FencedOut& e) {
        EXPECT_EQ(e.token(), 1u);
        EXPECT_EQ(e.newer_token(), 2u);
        EXPECT_EQ(e.lease(), "writer");
    }
    EXPECT_TRUE(la->lost);
    EXPECT_EQ(this->store.get("data/report")->body, "from a, token 1");
    b.fenced_put(*lb, "data/report", "from b");
    EXPECT_EQ(this->store.get("data/report")->body, "from b");
    EXPECT_EQ(LeaseService::fence_of(this->store.head("data/report")->metadata), 2u);
}

TYPED_TEST(LeaseTest, ATakeoverBetweenTheChecksAndTheWriteStillFencesTheStaleHolder) {
    // The stale holder passed the lease check; the new holder takes over and writes before the
    // stale holder's HEAD (case 1) or between its HEAD and its PUT (case 2).
    for (int which = 0; which < 2; ++which) {
        test::ManualClock clock;
        Interleave<TypeParam> mid(this->store);
        std::string key = "data/obj" + std::to_string(which);
        mid.key = key;
        LeaseService a(mid, opts(clock, "a")), b(this->store, opts(clock, "b"));
        std::string name = "w" + std::to_string(which);
        auto la = a.try_acquire(name);
        ASSERT_TRUE(la);
        a.fenced_put(*la, key, "a1");
        std::optional<Lease> lb;
        auto takeover = [&] {
            clock.advance(12s);
            lb = b.try_acquire(name);
            ASSERT_TRUE(lb);
            b.fenced_put(*lb, key, "b1");
        };
        (which == 0 ? mid.before_head : mid.before_put) = takeover;
        EXPECT_THROW(a.fenced_put(*la, key, "a2 stale"), FencedOut) << "case " << which;
        ASSERT_TRUE(lb);
        EXPECT_EQ(this->store.get(key)->body, "b1") << "case " << which;
    }
}

TYPED_TEST(LeaseTest, LostAnswersNeverMakeTwoHolders) {
    Faulty<TransportRef> faults(FaultOptions{}, TransportRef(this->store));
    RetryPolicy retries{.max_attempts = 3, .budget_capacity = 1 << 30, .sleep = [](std::chrono::milliseconds) {}};
    Retry<Faulty<TransportRef>> store(retries, faults);
    faults.set_faults(FaultOptions{.seed = 5, .timeout = 0.1, .lost_response = 0.3});
    test::ManualClock clock;
    // Model: at any wall time at most one holder believes it holds the lease, and tokens grow.
    std::uint64_t last_token = 0;
    int acquired = 0;
    for (int i = 0; i < 40; ++i) {
        LeaseService s(store, opts(clock, "h" + std::to_string(i)));
        std::optional<Lease> l;
        try {
            l = s.try_acquire("lossy");
        } catch (const TransportError&) {
        }
        if (!l) {
            clock.advance(12s);  // whatever happened, the lease is free after ttl + skew
            continue;
        }
        ++acquired;
        EXPECT_GT(l->token, last_token);
        last_token = l->token;
        faults.set_faults(FaultOptions{});
        auto stored = s.read("lossy");
        EXPECT_EQ(stored->nonce, l->nonce) << "we think we hold it, so the store must say so";
        EXPECT_EQ(stored->token, l->token);
        faults.set_faults(FaultOptions{.seed = 5 + static_cast<std::uint64_t>(i), .timeout = 0.1, .lost_response = 0.3});
        try {
            if (i % 2) s.release(*l);
            else s.renew(*l);
        } catch (const TransportError&) {
        }
        clock.advance(12s);
    }
    EXPECT_GT(acquired, 10);
    EXPECT_GT(faults.injected().lost_response, 0u);
}

TYPED_TEST(LeaseTest, LeaderElectionHasOneLeaderAndFailsOver) {
    LeaseOptions o{.ttl = 1500ms, .max_clock_skew = 100ms, .safety_margin = 200ms};
    std::vector<std::unique_ptr<LeaseService>> services;
    std::vector<std::unique_ptr<LeaderElection>> elections;
    std::atomic<int> elected{0};
    for (int i = 0; i < 3; ++i) {
        o.holder = "node" + std::to_string(i);
        services.push_back(std::make_unique<LeaseService>(this->store, o));
        elections.push_back(std::make_unique<LeaderElection>(
            *services.back(), "leader", ElectionOptions{.campaign_every = 100ms, .on_elected = [&](const Lease&) { ++elected; }}));
        elections.back()->start();
    }
    auto leaders = [&] {
        int n = 0;
        for (auto& e : elections) n += e->is_leader();
        return n;
    };
    auto wait_for_leader = [&] {
        for (int i = 0; i < 60 && leaders() == 0; ++i) std::this_thread::sleep_for(50ms);
    };
    wait_for_leader();
    ASSERT_EQ(leaders(), 1);
    std::size_t first = 0;
    while (!elections[first]->is_leader()) ++first;
    auto token = elections[first]->fencing_token();
    EXPECT_GE(token, 1u);
    for (int i = 0; i < 10; ++i) {  // renewals keep it (ttl 1.5 s, renewed every 0.5 s; 1.5 s observed)
        std::this_thread::sleep_for(150ms);
        EXPECT_LE(leaders(), 1);
    }
    EXPECT_TRUE(elections[first]->is_leader());
    elections[first]->stop();  // resigns: another takes over at once, with a newer token
    wait_for_leader();
    ASSERT_EQ(leaders(), 1);
    for (auto& e : elections)
        if (e->is_leader()) {
            EXPECT_GT(e->fencing_token(), token);
        }
    EXPECT_EQ(elected.load(), 2);
    for (auto& e : elections) e->stop();
}

// ---- processes: a holder paused past its ttl ----

namespace {

/// The child holds the lease, is stopped by the parent past its ttl while another process takes
/// over, and after SIGCONT reports on `out`: whether its fenced write was refused with LeaseLost
/// (from its own clock), whether a fenced write with a lease whose clock lies (still "valid") was
/// refused by the store with FencedOut, and whether renew said lost.
template <class MakeStore>
void paused_holder_is_fenced_out(MakeStore make_store) {
    int up[2], down[2];
    ASSERT_EQ(::pipe(up), 0);
    ASSERT_EQ(::pipe(down), 0);
    const LeaseOptions o{.ttl = 1000ms, .max_clock_skew = 200ms, .safety_margin = 200ms};
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::close(up[0]);
        ::close(down[1]);
        std::string report;
        try {
            auto store = make_store();
            auto co = o;
            co.holder = "child";
            LeaseService s(store, co);
            auto l = s.try_acquire("proc");
            if (!l) ::_exit(2);
            s.fenced_put(*l, "data/out", "child, token " + std::to_string(l->token));
            char c = 'a';
            if (::write(up[1], &c, 1) != 1) ::_exit(3);
            if (::read(down[0], &c, 1) != 1) ::_exit(4);  // stopped here, then continued
            try {
                s.fenced_put(*l, "data/out", "child, stale");
                report += 'W';
            } catch (const FencedOut&) {
                report += 'F';
            } catch (const LeaseLost&) {
                report += 'L';
            }
            Lease liar = *l;
            liar.lost = false;
            liar.valid_until = std::chrono::steady_clock::now() + 1h;
            try {
                s.fenced_put(liar, "data/out", "child, lying clock");
                report += 'W';
            } catch (const FencedOut& e) {
                report += e.newer_token() == 2 ? 'F' : 'f';
            } catch (const LeaseLost&) {
                report += 'L';
            }
            liar.lost = false;
            report += s.renew(liar) ? 'R' : 'r';
        } catch (...) {
            report = "X";
        }
        bool ok = ::write(up[1], report.data(), report.size()) == static_cast<ssize_t>(report.size());
        ::_exit(ok ? 0 : 5);
    }
    ::close(up[1]);
    ::close(down[0]);
    char c;
    ASSERT_EQ(::read(up[0], &c, 1), 1);
    ASSERT_EQ(::kill(child, SIGSTOP), 0);
    auto store = make_store();
    auto po = o;
    po.holder = "parent";
    LeaseService s(store, po);
    EXPECT_FALSE(s.try_acquire("proc")) << "the child's lease is live";
    std::this_thread::sleep_for(o.ttl + o.max_clock_skew + 150ms);
    auto l = s.try_acquire("proc");
    ASSERT_TRUE(l);
    EXPECT_EQ(l->token, 2u);
    s.fenced_put(*l, "data/out", "parent, token 2");
    ASSERT_EQ(::kill(child, SIGCONT), 0);
    ASSERT_EQ(::write(down[1], "g", 1), 1);
    std::string report;
    char buf[16];
    for (ssize_t n; (n = ::read(up[0], buf, sizeof buf)) > 0;) report.append(buf, static_cast<std::size_t>(n));
    int status = 0;
    ::waitpid(child, &status, 0);
    ::close(up[0]);
    ::close(down[1]);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    // L: its own clock told it; F: the store refused the lying clock (newer token 2); r: renew lost.
    EXPECT_EQ(report, "LFr");
    EXPECT_EQ(store.get("data/out")->body, "parent, token 2");
    EXPECT_EQ(s.read("proc")->holder, "parent");
}

}  // namespace

TEST(LeaseProcesses, PausedHolderIsFencedOutOnFilesystem) {
    auto root = test::scratch_dir();
    auto prefix = test::next_prefix();
    paused_holder_is_fenced_out([&] { return Filesystem(FilesystemOptions{.root = root, .prefix = prefix}); });
}

TEST(LeaseProcesses, PausedHolderIsFencedOutOnRgw) {
    auto bucket = test::TestBucket::name();
    auto prefix = test::next_prefix();
    paused_holder_is_fenced_out([&] { return S3(test::s3_options(test::s3_under_test(), bucket, prefix)); });
}

TEST(LeaseService, RefusesBadNamesAndOptions) {
    Memory m(MemoryOptions{.prefix = test::next_prefix()});
    EXPECT_THROW(LeaseService(m, {.ttl = 0ms}), LeaseError);
    EXPECT_THROW(LeaseService(m, {.ttl = 1s, .safety_margin = 1s}), LeaseError);
    LeaseService s(m);
    EXPECT_THROW(s.try_acquire(""), LeaseError);
    EXPECT_THROW(s.try_acquire("a b"), LeaseError);
    EXPECT_THROW(s.try_acquire("a//b"), LeaseError);
    m.put("plugin=coordination/leases/junk", "not json");
    EXPECT_THROW(s.try_acquire("junk"), LeaseError);  // never taken over blindly: its token is unknown
}
