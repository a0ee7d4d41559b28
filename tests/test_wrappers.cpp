// Counting<T> and Faulty<T>: the wrappers tests and benchmarks rely on must themselves be exact.

#include <gtest/gtest.h>

#include "s3db/transport/counting.hpp"
#include "s3db/transport/faulty.hpp"
#include "s3db/transport/memory.hpp"

using namespace s3db;

TEST(Counting, CountsOneRequestPerOperationAndOnePerThousandDeletes) {
    Counting<Memory> store;
    store.put("a", "1");
    store.get("a");
    store.get("missing");
    store.head("a");
    store.copy("a", "b");
    store.list();
    store.remove("b");
    std::vector<std::string> keys(2001, "x");
    store.remove_many(keys);
    static_assert(ReadsInPlace<Counting<Memory>>);
    read_object(store, "a", [](const ObjectView&) { return 0; });  // a GET, read in place
    EXPECT_EQ(store.counts(), (RequestCounts{.put = 1, .get = 3, .head = 1, .copy = 1, .remove = 1, .remove_many = 3, .list = 1}));
    EXPECT_EQ(store.counts().total(), 11u);
    auto before = store.counts();
    EXPECT_THROW(store.put("", "x"), InvalidKey);  // a failed request still counts
    EXPECT_EQ((store.counts() - before).put, 1u);
    store.reset();
    EXPECT_EQ(store.counts().total(), 0u);
}

TEST(Faulty, InjectsTheConfiguredFaultsReproducibly) {
    auto run = [](std::uint64_t seed) {
        Faulty<Memory> store(FaultOptions{.seed = seed, .server_error = 0.2, .throttle = 0.1});
        std::string outcome;
        for (int i = 0; i < 200; ++i) {
            try {
                store.put("k" + std::to_string(i), "v");
                outcome += '.';
            } catch (const TransportError& e) {
                EXPECT_TRUE(e.retryable());
                outcome += e.status() == 503 ? 'T' : 'E';
            }
        }
        return outcome;
    };
    auto a = run(42);
    EXPECT_EQ(a, run(42));
    EXPECT_NE(a, run(43));
    auto faults = std::count_if(a.begin(), a.end(), [](char c) { return c != '.'; });
    EXPECT_GT(faults, 30);
    EXPECT_LT(faults, 90);
}

TEST(Faulty, FailedRequestsChangeNothingButLostResponsesDo) {
    Faulty<Memory> failing(FaultOptions{.server_error = 1.0});
    EXPECT_THROW(failing.put("k", "v"), TransportError);
    failing.set_faults({});
    EXPECT_FALSE(failing.get("k"));

    Faulty<Memory> lossy(FaultOptions{.lost_response = 1.0});
    try {
        lossy.put("k", "v");
        FAIL() << "expected the response to be lost";
    } catch (const TransportError& e) {
        EXPECT_EQ(e.status(), 0);
        EXPECT_TRUE(e.retryable());
    }
    EXPECT_EQ(lossy.get("k")->body, "v");  // reads are never "lost"
    EXPECT_EQ(lossy.injected().lost_response, 1u);
}
