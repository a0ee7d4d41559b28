// The bulk-work pool: every index runs once, never more than `size` at a time, errors come back.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "s3db/detail/worker_pool.hpp"

using s3db::detail::WorkerPool;

TEST(WorkerPool, RunsEveryIndexOnceWithBoundedConcurrency) {
    WorkerPool pool(4);
    std::vector<std::atomic<int>> seen(500);
    std::atomic<int> in_flight{0}, peak{0};
    pool.for_each_index(seen.size(), [&](std::size_t i) {
        int now = ++in_flight;
        for (int p = peak; now > p && !peak.compare_exchange_weak(p, now);) {}
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        ++seen[i];
        --in_flight;
    });
    for (auto& s : seen) EXPECT_EQ(s, 1);
    EXPECT_LE(peak, 4);
    EXPECT_GE(peak, 2) << "the work ran in parallel";
}

TEST(WorkerPool, RethrowsAfterTheOthersFinish) {
    WorkerPool pool(3);
    std::atomic<int> ran{0};
    EXPECT_THROW(pool.for_each_index(50, [&](std::size_t i) {
        ++ran;
        if (i == 7) throw std::runtime_error("boom");
    }), std::runtime_error);
    EXPECT_EQ(ran, 50);
}

TEST(WorkerPool, NestedAndConcurrentBatchesComplete) {
    WorkerPool pool(2);
    std::atomic<int> total{0};
    std::vector<std::thread> callers;
    for (int c = 0; c < 4; ++c)
        callers.emplace_back([&] {
            pool.for_each_index(10, [&](std::size_t) { pool.for_each_index(10, [&](std::size_t) { ++total; }); });
        });
    for (auto& t : callers) t.join();
    EXPECT_EQ(total, 400);
}
