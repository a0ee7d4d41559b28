#pragma once
// The retry policy shared by the S3 transport and the generic Retry<T> wrapper: which failures are
// worth another attempt, full-jitter exponential backoff, Retry-After, a token-bucket budget that
// stops retry storms, and the reconciliation that keeps a retried conditional write from reporting
// a conflict that our own earlier, lost attempt caused.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "s3db/errors.hpp"
#include "s3db/detail/config.hpp"
#include "s3db/detail/encoding.hpp"
#include "s3db/transport/s3/rules.hpp"
#include "s3db/transport/transport.hpp"

namespace s3db {

/// How failed requests are tried again. The defaults follow the AWS SDKs' "standard" mode.
struct RetryPolicy {
    int max_attempts = 3;  // first attempt included; 1 turns retries off
    std::chrono::milliseconds base_delay{100};            // backoff base for transient failures
    std::chrono::milliseconds throttle_base_delay{1000};  // backoff base for throttling (SlowDown, 429, 503)
    std::chrono::milliseconds max_delay{20000};           // no single wait is longer
    // Retry budget, shared by every request of one transport: a retry takes tokens, a success
    // gives some back; an empty bucket means failures are reported at once instead of retried.
    int budget_capacity = 500;
    int retry_cost = 5;
    int timeout_cost = 10;
    int success_refund = 1;
    // Conditional writes (If-Match / If-None-Match) are retried, and a 412 on a retry is checked
    // against the ETag our body would have. Turn off for stores whose ETags are not body MD5s
    // (e.g. SSE-KMS on AWS): conditional writes are then never retried.
    bool reconcile_conditional_writes = true;
    // Test hooks: how to wait, and a source of U[0,1). Empty means the real clock / a PRNG.
    std::function<void(std::chrono::milliseconds)> sleep{};
    std::function<double()> random{};
};

namespace detail {

/// Full jitter: a pause drawn from [0, min(cap, base × 2^attempt)], for a writer that lost a race
/// (a compare-and-swap round, a lock) before it tries again. `round` is how long the lost round took:
/// on a slow or loaded server a fixed cap is shorter than one round, so writers never spread out
/// and one can lose every round; the window then grows from the round's length instead (up to 32
/// rounds, at most 2 s).
S3DB_DECL void contention_pause(std::size_t attempt, std::chrono::microseconds base, std::chrono::microseconds cap,
                                std::chrono::microseconds round = std::chrono::microseconds::zero());

/// How long since `start`, for `contention_pause`'s `round`.
inline std::chrono::microseconds elapsed_since(std::chrono::steady_clock::time_point start) noexcept {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
}

/// What to do when an attempt fails.
enum class RetryMode {
    never,       // not idempotent: one attempt only
    idempotent,  // safe to repeat as it is
};

S3DB_DECL bool retryable_status(int status) noexcept;

S3DB_DECL bool throttling_code(std::string_view code) noexcept;

/// Whether an S3 error is transient. 409 ConditionalRequestConflict (a racing conditional write
/// on AWS) is included: the condition is evaluated again on the next attempt.
S3DB_DECL bool retryable_error(int status, std::string_view code) noexcept;

S3DB_DECL bool throttling_error(const TransportError& e) noexcept;

/// A request that got no answer because time ran out costs the budget more than other failures.
S3DB_DECL bool timeout_error(const TransportError& e) noexcept;

/// A failure after which the request may or may not have been applied.
S3DB_DECL bool outcome_unknown(const TransportError& e) noexcept;

/// Token bucket shared by every request of one transport.
class RetryBudget {
public:
    explicit RetryBudget(int capacity) : capacity_(capacity), tokens_(capacity) {}
    S3DB_DECL bool acquire(int cost) noexcept;
    S3DB_DECL void refund(int n) noexcept;
    int available() const noexcept { return tokens_.load(std::memory_order_relaxed); }

private:
    int capacity_;
    std::atomic<int> tokens_;
};

/// Runs attempts under one RetryPolicy. Thread-safe; one per transport (copies of a transport share it).
class Retrier {
public:
    S3DB_DECL explicit Retrier(RetryPolicy p = {});

    const RetryPolicy& policy() const noexcept { return policy_; }
    const RetryBudget& budget() const noexcept { return budget_; }

    /// The wait before retry number `retry` (0 for the first retry): U(0, min(cap, base·2^retry)),
    /// stretched to the server's Retry-After when it asks for longer, never beyond the cap.
    S3DB_DECL std::chrono::milliseconds backoff(int retry, bool throttled,
                                                std::optional<std::chrono::milliseconds> retry_after) const;

    /// Calls `attempt(n)` (n = 0, 1, ...) until it returns, the failure is not retryable, the
    /// attempts run out or the budget is empty; then rethrows the last failure.
    template <class Attempt>
    auto run(RetryMode mode, Attempt&& attempt) -> std::invoke_result_t<Attempt&, int> {
        for (int n = 0;; ++n) {
            try {
                if constexpr (std::is_void_v<std::invoke_result_t<Attempt&, int>>) {
                    attempt(n);
                    budget_.refund(policy_.success_refund);
                    return;
                } else {
                    auto r = attempt(n);
                    budget_.refund(policy_.success_refund);
                    return r;
                }
            } catch (const TransportError& e) {
                if (mode == RetryMode::never || !should_retry(e, n)) throw;
            }
        }
    }

    /// A conditional write (If-Match / If-None-Match). It is retried like an idempotent request,
    /// but once an attempt has failed without a clear answer, a later 412 (or whatever
    /// `reconcilable` accepts, e.g. NoSuchUpload for a multipart completion) may be our own
    /// earlier write showing through: then `current_etag()` (a HEAD) is compared with
    /// `our_etag()` and equal ETags mean the write succeeded. `our_etag()` returns nullopt when
    /// the body's ETag is not ours alone (an empty body: every such object has it); the 412 is
    /// then thrown marked `after_unanswered_attempt`, for the writer to settle.
    ///
    /// `condition_holds(current)` (current: the object's ETag, nullopt when absent) says whether
    /// the write's condition still holds. After an attempt without a clear answer the object is
    /// read at once, before any wait: our ETag there is success; a condition that no longer holds
    /// means a retry could only meet 412, so the 412 is thrown now, marked, for the writer to
    /// settle while the record's history is fresh (Ceph RGW answers racing conditional writes with
    /// 500, so this is the common case under contention, not a rare one).
    template <class Attempt, class CurrentEtag, class OurEtag, class Reconcilable, class ConditionHolds>
    PutResult run_conditional_write(Attempt&& attempt, CurrentEtag&& current_etag, OurEtag&& our_etag,
                                    Reconcilable&& reconcilable, ConditionHolds&& condition_holds) {
        if (!policy_.reconcile_conditional_writes) return run(RetryMode::never, attempt);
        bool unknown = false;  // an earlier attempt may have been applied
        for (int n = 0;; ++n) {
            try {
                PutResult r = attempt(n);
                budget_.refund(policy_.success_refund);
                return r;
            } catch (const TransportError& e) {
                if (unknown && reconcilable(e)) {
                    if (auto done = reconcile(current_etag, our_etag)) return *done;
                    if (e.status() == 412) throw PreconditionFailed(e.key(), e.request_id(), true);
                    throw;
                }
                if (outcome_unknown(e) && e.retryable()) {
                    std::optional<std::string> current;
                    bool read = false;
                    try {
                        current = current_etag();
                        read = true;
                    } catch (const TransportError&) {
                    }
                    if (read) {
                        if (current) {
                            std::optional<std::string> ours = our_etag();
                            if (ours && etag_equal(*current, *ours)) {
                                budget_.refund(policy_.success_refund);
                                return PutResult{quoted_etag(*current)};
                            }
                        }
                        if (!condition_holds(current)) throw PreconditionFailed(e.key(), e.request_id(), true);
                    }
                }
                if (!should_retry(e, n)) throw;
                unknown = unknown || outcome_unknown(e);
            }
        }
    }

    template <class Attempt, class CurrentEtag, class OurEtag, class Reconcilable>
    PutResult run_conditional_write(Attempt&& attempt, CurrentEtag&& current_etag, OurEtag&& our_etag,
                                    Reconcilable&& reconcilable) {
        return run_conditional_write(std::forward<Attempt>(attempt), std::forward<CurrentEtag>(current_etag),
                                     std::forward<OurEtag>(our_etag), std::forward<Reconcilable>(reconcilable),
                                     [](const std::optional<std::string>&) { return true; });
    }

    template <class Attempt, class CurrentEtag, class OurEtag>
    PutResult run_conditional_write(Attempt&& attempt, CurrentEtag&& current_etag, OurEtag&& our_etag) {
        return run_conditional_write(std::forward<Attempt>(attempt), std::forward<CurrentEtag>(current_etag),
                                     std::forward<OurEtag>(our_etag),
                                     [](const TransportError& e) { return e.status() == 412; });
    }

private:
    S3DB_DECL bool should_retry(const TransportError& e, int n);

    template <class CurrentEtag, class OurEtag>
    std::optional<PutResult> reconcile(CurrentEtag& current_etag, OurEtag& our_etag) {
        std::optional<std::string> current;
        try {
            current = current_etag();
        } catch (const TransportError&) {
            return std::nullopt;  // cannot tell: report the 412 as it came
        }
        if (!current) return std::nullopt;
        std::optional<std::string> ours = our_etag();
        if (!ours || !etag_equal(*current, *ours)) return std::nullopt;
        budget_.refund(policy_.success_refund);
        return PutResult{quoted_etag(*current)};
    }

    S3DB_DECL void sleep(std::chrono::milliseconds d) const;

    S3DB_DECL double random() const;

    RetryPolicy policy_;
    RetryBudget budget_;
};

/// Whether the condition of a write (If-Match / If-None-Match in `o`) holds for an object whose
/// ETag is `current` (nullopt: absent).
template <class Options>
bool write_condition_holds(const Options& o, const std::optional<std::string>& current) {
    if (o.if_none_match && current) return false;
    if (!o.if_match.empty() && (!current || !etag_equal(*current, o.if_match))) return false;
    return true;
}

/// The ETag S3 gives an upload of `body` cut into parts of `part_size`: the MD5 of the parts'
/// raw MD5s, then "-<count>".
S3DB_DECL std::string multipart_etag(std::string_view body, std::size_t part_size);

/// Parses a Retry-After value: delta-seconds (an HTTP date is not worth the complexity here: S3
/// sends seconds, and `x-amz-retry-after` in milliseconds is preferred when both are present).
S3DB_DECL std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view seconds, std::string_view amz_ms);

}  // namespace detail
}  // namespace s3db

#if S3DB_DEFINE_BODIES
#include <cmath>
#include <random>
#include <thread>

#include "s3db/detail/hashing.hpp"

namespace s3db::detail {

S3DB_DECL void contention_pause(std::size_t attempt, std::chrono::microseconds base, std::chrono::microseconds cap,
                                std::chrono::microseconds round) {
    thread_local std::minstd_rand rng{std::random_device{}()};
    auto ceiling = std::min<std::int64_t>(cap.count(), base.count() << std::min<std::size_t>(attempt, 20));
    if (round.count() > 0)
        ceiling = std::max<std::int64_t>(ceiling, std::min<std::int64_t>(2'000'000, round.count() << std::min<std::size_t>(attempt, 5)));
    if (ceiling > 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % (static_cast<std::uint64_t>(ceiling) + 1)));
}

S3DB_DECL bool retryable_status(int status) noexcept {
    switch (status) {
        case 0: case 408: case 429: case 500: case 502: case 503: case 504: return true;
        default: return false;
    }
}

S3DB_DECL bool throttling_code(std::string_view code) noexcept {
    // RequestThrottled: SQS's (answered with HTTP 400, so only the code tells).
    return code == "SlowDown" || code.starts_with("Throttling") || code == "TooManyRequests" ||
           code == "RequestLimitExceeded" || code.starts_with("RequestThrottled");
}

S3DB_DECL bool retryable_error(int status, std::string_view code) noexcept {
    if (retryable_status(status)) return true;
    return throttling_code(code) || code == "InternalError" || code == "RequestTimeout" ||
           code == "ServiceUnavailable" || code == "ConditionalRequestConflict";
}

S3DB_DECL bool throttling_error(const TransportError& e) noexcept {
    return e.status() == 429 || e.status() == 503 || throttling_code(e.code());
}

S3DB_DECL bool timeout_error(const TransportError& e) noexcept {
    return e.status() == 0 && e.code() == "RequestTimeout";
}

S3DB_DECL bool outcome_unknown(const TransportError& e) noexcept {
    return e.status() == 0 || e.status() >= 500 || e.status() == 408;
}

S3DB_DECL bool RetryBudget::acquire(int cost) noexcept {
    int t = tokens_.load(std::memory_order_relaxed);
    do {
        if (t < cost) return false;
    } while (!tokens_.compare_exchange_weak(t, t - cost, std::memory_order_relaxed));
    return true;
}

S3DB_DECL void RetryBudget::refund(int n) noexcept {
    int t = tokens_.load(std::memory_order_relaxed);
    while (t < capacity_ && !tokens_.compare_exchange_weak(t, std::min(capacity_, t + n), std::memory_order_relaxed)) {
    }
}

S3DB_DECL Retrier::Retrier(RetryPolicy p) : policy_(std::move(p)), budget_(policy_.budget_capacity) {
    if (policy_.max_attempts < 1) throw ConfigError("retry policy: max_attempts must be at least 1");
}

S3DB_DECL std::chrono::milliseconds Retrier::backoff(int retry, bool throttled,
                                                     std::optional<std::chrono::milliseconds> retry_after) const {
    using ms = std::chrono::milliseconds;
    double base = static_cast<double>((throttled ? policy_.throttle_base_delay : policy_.base_delay).count());
    double cap = static_cast<double>(policy_.max_delay.count());
    double ceiling = std::min(cap, base * std::ldexp(1.0, std::min(retry, 62)));
    auto delay = ms(static_cast<ms::rep>(random() * ceiling));
    if (retry_after) delay = std::max(delay, std::min(*retry_after, policy_.max_delay));
    return delay;
}

S3DB_DECL bool Retrier::should_retry(const TransportError& e, int n) {
    if (!e.retryable() || n + 1 >= policy_.max_attempts) return false;
    if (!budget_.acquire(timeout_error(e) ? policy_.timeout_cost : policy_.retry_cost)) return false;
    sleep(backoff(n, throttling_error(e), e.retry_after()));
    return true;
}

S3DB_DECL void Retrier::sleep(std::chrono::milliseconds d) const {
    if (policy_.sleep) policy_.sleep(d);
    else if (d.count() > 0) std::this_thread::sleep_for(d);
}

S3DB_DECL double Retrier::random() const {
    if (policy_.random) return std::clamp(policy_.random(), 0.0, 1.0);
    thread_local std::mt19937_64 gen{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(gen);
}

S3DB_DECL std::string multipart_etag(std::string_view body, std::size_t part_size) {
    Hasher all(Digest::md5);
    std::size_t parts = 0, off = 0;
    do {
        all.update(digest(Digest::md5, body.substr(off, part_size)));
        ++parts;
        off += part_size;
    } while (off < body.size());
    return '"' + to_hex(all.finish()) + '-' + std::to_string(parts) + '"';
}

S3DB_DECL std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view seconds, std::string_view amz_ms) {
    auto number = [](std::string_view s) -> std::optional<std::int64_t> {
        while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
        while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
        if (s.empty() || s.size() > 12) return std::nullopt;
        std::int64_t v = 0;
        for (char c : s) {
            if (c < '0' || c > '9') return std::nullopt;
            v = v * 10 + (c - '0');
        }
        return v;
    };
    if (auto ms = number(amz_ms)) return std::chrono::milliseconds(*ms);
    if (auto s = number(seconds)) return std::chrono::milliseconds(*s * 1000);
    return std::nullopt;
}

}  // namespace s3db::detail
#endif  // S3DB_DEFINE_BODIES
