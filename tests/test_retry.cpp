// The retry policy (transport/s3/retry.hpp) and the Retry<T> wrapper: backoff bounds, the budget,
// Retry-After, which failures are retried, and the reconciliation of conditional writes whose
// answer was lost. Sleeps and randomness go through the policy's test hooks, so nothing waits.

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "s3db/transport/s3/retry.hpp"
#include "s3db/transport/faulty.hpp"
#include "s3db/transport/memory.hpp"
#include "s3db/transport/retry.hpp"

using namespace s3db;
using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;

namespace {

/// A policy that records its waits instead of sleeping and draws a fixed "random" number.
RetryPolicy recording(std::vector<ms>& sleeps, double random = 0.5) {
    RetryPolicy p;
    p.sleep = [&sleeps](ms d) { sleeps.push_back(d); };
    p.random = [random] { return random; };
    return p;
}

TransportError server_error() { return TransportError("boom", {500, "InternalError", {}, "k", true}); }
TransportError timeout() { return TransportError("no answer", {0, "RequestTimeout", {}, "k", true}); }

}  // namespace

static_assert(Transport<Retry<Memory>>);
static_assert(Transport<Retry<Faulty<Memory>>>);

TEST(RetryPolicy, BackoffIsFullJitterUnderAnExponentialCeilingAndTheCap) {
    std::vector<ms> sleeps;
    for (double r : {0.0, 0.25, 0.999999}) {
        detail::Retrier retrier(recording(sleeps, r));
        for (int n = 0; n < 12; ++n) {
            double ceiling = std::min(20000.0, 100.0 * (1 << n));
            auto d = retrier.backoff(n, false, std::nullopt);
            EXPECT_GE(d.count(), 0);
            EXPECT_LE(d.count(), static_cast<long>(ceiling)) << "retry " << n;
            EXPECT_NEAR(static_cast<double>(d.count()), r * ceiling, 1.0) << "retry " << n;
            auto t = retrier.backoff(n, true, std::nullopt);
            EXPECT_NEAR(static_cast<double>(t.count()), r * std::min(20000.0, 1000.0 * (1 << n)), 1.0)
                << "throttled retry " << n;
        }
    }
    detail::Retrier retrier(recording(sleeps, 1.0));
    EXPECT_EQ(retrier.backoff(60, false, std::nullopt), ms(20000)) << "huge exponents stay at the cap";
}

TEST(RetryPolicy, RealRandomSourceStaysInBounds) {
    RetryPolicy p;
    detail::Retrier retrier(p);
    for (int i = 0; i < 1000; ++i) {
        auto d = retrier.backoff(2, false, std::nullopt);
        EXPECT_GE(d.count(), 0);
        EXPECT_LE(d.count(), 400);
    }
}

TEST(RetryPolicy, RetryAfterIsHonouredUpToTheCap) {
    std::vector<ms> sleeps;
    detail::Retrier retrier(recording(sleeps, 0.1));
    EXPECT_EQ(retrier.backoff(0, true, ms(3000)), ms(3000));
    EXPECT_EQ(retrier.backoff(0, true, ms(60000)), ms(20000));
    EXPECT_EQ(retrier.backoff(0, false, ms(1)), ms(10)) << "a shorter Retry-After does not shorten the backoff";

    int calls = 0;
    auto r = retrier.run(detail::RetryMode::idempotent, [&](int) {
        if (++calls == 1) {
            TransportError::Details d{503, "SlowDown", {}, "k", true, ms(2500)};
            throw TransportError("slow down", d);
        }
        return 7;
    });
    EXPECT_EQ(r, 7);
    EXPECT_EQ(sleeps, std::vector<ms>{ms(2500)});
}

TEST(RetryPolicy, ParsesRetryAfterHeaders) {
    EXPECT_EQ(detail::parse_retry_after("3", ""), ms(3000));
    EXPECT_EQ(detail::parse_retry_after(" 2 ", "150"), ms(150)) << "x-amz-retry-after (ms) wins";
    EXPECT_EQ(detail::parse_retry_after("", ""), std::nullopt);
    EXPECT_EQ(detail::parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", ""), std::nullopt);
    EXPECT_EQ(detail::parse_retry_after("-1", "x"), std::nullopt);
}

TEST(RetryPolicy, RetriesTransientFailuresUpToMaxAttempts) {
    std::vector<ms> sleeps;
    auto p = recording(sleeps);
    p.max_attempts = 4;
    detail::Retrier retrier(p);
    int calls = 0;
    EXPECT_THROW(retrier.run(detail::RetryMode::idempotent, [&](int n) {
        EXPECT_EQ(n, calls);
        ++calls;
        throw server_error();
    }),
                 TransportError);
    EXPECT_EQ(calls, 4);
    ASSERT_EQ(sleeps.size(), 3u);
    EXPECT_EQ(sleeps[0], ms(50));
    EXPECT_EQ(sleeps[1], ms(100));
    EXPECT_EQ(sleeps[2], ms(200));
}

TEST(RetryPolicy, ClassifiesRetryableFailures) {
    for (int status : {0, 408, 429, 500, 502, 503, 504}) EXPECT_TRUE(detail::retryable_error(status, "")) << status;
    for (int status : {400, 401, 403, 404, 409, 412, 416, 501}) EXPECT_FALSE(detail::retryable_error(status, "")) << status;
    for (const char* code : {"SlowDown", "InternalError", "RequestTimeout", "ServiceUnavailable", "Throttling",
                             "ThrottlingException", "ConditionalRequestConflict"})
        EXPECT_TRUE(detail::retryable_error(400, code)) << code;
    for (const char* code : {"AccessDenied", "SignatureDoesNotMatch", "NoSuchKey", "InvalidArgument"})
        EXPECT_FALSE(detail::retryable_error(400, code)) << code;
}

TEST(RetryPolicy, NonRetryableFailuresAreThrownAtOnce) {
    std::vector<ms> sleeps;
    detail::Retrier retrier(recording(sleeps));
    int calls = 0;
    EXPECT_THROW(retrier.run(detail::RetryMode::idempotent, [&](int) -> int {
        ++calls;
        throw PreconditionFailed("k");
    }),
                 PreconditionFailed);
    EXPECT_THROW(retrier.run(detail::RetryMode::idempotent, [&](int) -> int {
        ++calls;
        throw AccessDenied("denied", {403, "AccessDenied", {}, "k", false});
    }),
                 AccessDenied);
    EXPECT_EQ(calls, 2);
    EXPECT_TRUE(sleeps.empty());
}

TEST(RetryPolicy, NonIdempotentRequestsAreNotRetried) {
    std::vector<ms> sleeps;
    detail::Retrier retrier(recording(sleeps));
    int calls = 0;
    EXPECT_THROW(retrier.run(detail::RetryMode::never, [&](int) {
        ++calls;
        throw server_error();
    }),
                 TransportError);
    EXPECT_EQ(calls, 1);
    EXPECT_TRUE(sleeps.empty());
}

TEST(RetryPolicy, EmptyBudgetStopsRetrying) {
    std::vector<ms> sleeps;
    auto p = recording(sleeps);
    p.max_attempts = 10;
    p.budget_capacity = 12;  // two retries at 5, then nothing left
    detail::Retrier retrier(p);
    int calls = 0;
    EXPECT_THROW(retrier.run(detail::RetryMode::idempotent, [&](int) {
        ++calls;
        throw server_error();
    }),
                 TransportError);
    EXPECT_EQ(calls, 3);
    EXPECT_EQ(retrier.budget().available(), 2);
    // The budget is shared: the next request gets no retry at all...
    calls = 0;
    EXPECT_THROW(retrier.run(detail::RetryMode::idempotent, [&](int) {
        ++calls;
        throw server_error();
    }),
                 TransportError);
    EXPECT_EQ(calls, 1);
    // ...until successes refund it.
    for (int i = 0; i < 3; ++i) retrier.run(detail::RetryMode::idempotent, [](int) { return 0; });
    EXPECT_EQ(retrier.budget().available(), 5);
    calls = 0;
    EXPECT_EQ(retrier.run(detail::RetryMode::idempotent, [&](int) {
        if (++calls == 1) throw server_error();
        return 1;
    }),
              1);
    EXPECT_EQ(calls, 2);
}

TEST(RetryPolicy, TimeoutsCostMoreAndRefundsStopAtCapacity) {
    std::vector<ms> sleeps;
    auto p = recording(sleeps);
    p.budget_capacity = 30;
    detail::Retrier retrier(p);
    int calls = 0;
    retrier.run(detail::RetryMode::idempotent, [&](int) {
        if (++calls == 1) throw timeout();
        return 0;
    });
    EXPECT_EQ(retrier.budget().available(), 21);  // 30 - 10 + 1
    for (int i = 0; i < 20; ++i) retrier.run(detail::RetryMode::idempotent, [](int) { return 0; });
    EXPECT_EQ(retrier.budget().available(), 30);
}

TEST(RetryPolicy, InvalidPolicyIsAConfigError) {
    RetryPolicy p;
    p.max_attempts = 0;
    EXPECT_THROW(detail::Retrier{p}, ConfigError);
}

TEST(RetryPolicy, MultipartEtagFollowsS3Rule) {
    // MD5 of the concatenated raw part MD5s, then "-<parts>".
    std::string body(11, 'x');
    std::string expected = detail::to_hex(detail::digest(
        detail::Digest::md5, detail::digest(detail::Digest::md5, body.substr(0, 5)) +
                                 detail::digest(detail::Digest::md5, body.substr(5, 5)) +
                                 detail::digest(detail::Digest::md5, body.substr(10))));
    EXPECT_EQ(detail::multipart_etag(body, 5), '"' + expected + "-3\"");
    EXPECT_EQ(detail::multipart_etag(body, 11).substr(33), "-1\"");
}

// ---- Retry<Faulty<Memory>> ----------------------------------------------------------------------

namespace {

/// Retry over Faulty over Memory, whose faults are switched off during the first backoff: the
/// first attempt fails as configured, every later one reaches the store.
struct FaultyStore {
    explicit FaultyStore(FaultOptions faults, RetryPolicy p = {})
        : store(with_hooks(std::move(p)), faults) {}

    RetryPolicy with_hooks(RetryPolicy p) {
        p.sleep = [this](ms d) {
            sleeps.push_back(d);
            store.inner().set_faults({});
        };
        p.random = [] { return 0.5; };
        return p;
    }

    std::vector<ms> sleeps;
    Retry<Faulty<Memory>> store;
};

}  // namespace

TEST(RetryWrapper, ConditionalCreateWhoseResponseIsLostReportsSuccess) {
    FaultyStore f(FaultOptions{.lost_response = 1.0});
    auto r = f.store.put("doc", "mine", {.if_none_match = true});
    EXPECT_EQ(r.etag, detail::etag_of("mine"));
    EXPECT_EQ(f.store.inner().injected().lost_response, 1u) << "the first attempt was applied and its answer lost";
    EXPECT_TRUE(f.sleeps.empty()) << "read back at once, before any wait: our ETag is there";
    EXPECT_EQ(f.store.get("doc")->body, "mine");
}

TEST(RetryWrapper, CompareAndSwapWhoseResponseIsLostReportsSuccess) {
    FaultyStore f(FaultOptions{});
    auto v1 = f.store.put("doc", "v1");
    f.store.inner().set_faults(FaultOptions{.lost_response = 1.0});
    auto v2 = f.store.put("doc", "v2", {.if_match = v1.etag});
    EXPECT_EQ(v2.etag, detail::etag_of("v2"));
    EXPECT_EQ(f.store.inner().injected().lost_response, 1u);
    EXPECT_EQ(f.store.get("doc")->body, "v2");
}

TEST(RetryWrapper, GenuineConflictStillFailsAfterARetry) {
    FaultyStore f(FaultOptions{});
    f.store.put("doc", "theirs");
    // The first attempt fails before it is applied; the retry meets the other writer's object.
    f.store.inner().set_faults(FaultOptions{.server_error = 1.0});
    EXPECT_THROW(f.store.put("doc", "mine", {.if_none_match = true}), PreconditionFailed);
    EXPECT_EQ(f.sleeps.size(), 1u);
    EXPECT_EQ(f.store.get("doc")->body, "theirs");
}

TEST(RetryWrapper, GenuineConflictAfterALostResponseIsStillAConflict) {
    // Our first attempt is lost *and* someone else has since written: their ETag is not ours.
    FaultyStore f(FaultOptions{});
    auto v1 = f.store.put("doc", "v1");
    std::vector<ms> sleeps;
    detail::Retrier retrier(recording(sleeps));
    int calls = 0;
    EXPECT_THROW(retrier.run_conditional_write(
                     [&](int) {
                         if (++calls == 1) {
                             f.store.inner().inner().put("doc", "v2");  // applied...
                             f.store.inner().inner().put("doc", "other writer");
                             throw timeout();  // ...but the answer was lost
                         }
                         return f.store.inner().inner().put("doc", "v2", {.if_match = v1.etag});
                     },
                     [&]() -> std::optional<std::string> { return f.store.inner().inner().head("doc")->etag; },
                     [] { return detail::etag_of("v2"); }),
                 PreconditionFailed);
    EXPECT_EQ(calls, 2);
}

TEST(RetryWrapper, ConflictOnTheFirstAttemptIsNotRetried) {
    FaultyStore f(FaultOptions{});
    f.store.put("doc", "theirs");
    EXPECT_THROW(f.store.put("doc", "mine", {.if_none_match = true}), PreconditionFailed);
    EXPECT_TRUE(f.sleeps.empty());
}

TEST(RetryWrapper, WithoutReconciliationConditionalWritesAreNotRetried) {
    RetryPolicy p;
    p.reconcile_conditional_writes = false;
    FaultyStore f(FaultOptions{.server_error = 1.0}, p);
    EXPECT_THROW(f.store.put("doc", "mine", {.if_none_match = true}), TransportError);
    EXPECT_TRUE(f.sleeps.empty());
    f.store.inner().set_faults({});
    EXPECT_FALSE(f.store.get("doc"));
    // Unconditional writes are still retried.
    f.store.inner().set_faults(FaultOptions{.server_error = 1.0});
    EXPECT_EQ(f.store.put("doc", "mine").etag, detail::etag_of("mine"));
    EXPECT_EQ(f.sleeps.size(), 1u);
}

TEST(RetryWrapper, ReadsListsAndDeletesAreRetried) {
    FaultyStore f(FaultOptions{});
    f.store.put("a", "1");
    for (auto faults : {FaultOptions{.throttle = 1.0}, FaultOptions{.timeout = 1.0}, FaultOptions{.reset = 1.0}}) {
        f.store.inner().set_faults(faults);
        EXPECT_EQ(f.store.get("a")->body, "1");
        f.store.inner().set_faults(faults);
        EXPECT_TRUE(f.store.head("a"));
        f.store.inner().set_faults(faults);
        EXPECT_EQ(f.store.list().objects.at(0).key, "a");
        f.store.inner().set_faults(faults);
        EXPECT_EQ(f.store.copy("a", "b").etag, detail::etag_of("1"));
    }
    f.store.inner().set_faults(FaultOptions{.lost_response = 1.0});
    f.store.remove("b");
    std::vector<std::string> keys{"a", "b"};
    f.store.inner().set_faults(FaultOptions{.lost_response = 1.0});
    EXPECT_EQ(f.store.remove_many(keys).removed.size(), 2u);
    EXPECT_TRUE(f.store.list().objects.empty());
    EXPECT_EQ(f.sleeps.size(), 14u);
}

TEST(RetryWrapper, SeededFaultStormLosesNoWriteAndInventsNoConflict) {
    RetryPolicy p;
    p.max_attempts = 12;
    p.budget_capacity = 1000000;
    p.sleep = [](ms) {};
    Retry<Faulty<Memory>> store(p, FaultOptions{.seed = 42, .server_error = 0.1, .throttle = 0.1, .timeout = 0.05,
                                                .reset = 0.05, .lost_response = 0.15});
    int conflicts = 0;
    for (int i = 0; i < 300; ++i) {
        std::string key = "k" + std::to_string(i);
        auto created = store.put(key, "v0-" + key, {.if_none_match = true});
        EXPECT_EQ(created.etag, detail::etag_of("v0-" + key));
        auto swapped = store.put(key, "v1-" + key, {.if_match = created.etag});
        EXPECT_EQ(swapped.etag, detail::etag_of("v1-" + key));
        try {
            store.put(key, "again", {.if_none_match = true});
        } catch (const PreconditionFailed&) {
            ++conflicts;
        }
    }
    EXPECT_EQ(conflicts, 300) << "every create of an existing key is a real conflict";
    auto faults = store.inner().injected();
    EXPECT_GT(faults.lost_response, 50u);
    EXPECT_GT(faults.total(), 200u);
    for (int i = 0; i < 300; ++i) {
        std::string key = "k" + std::to_string(i);
        EXPECT_EQ(store.inner().inner().get(key)->body, "v1-" + key);
    }
}
