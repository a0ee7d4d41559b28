#pragma once
// Retry<T>: any transport, with failed calls tried again under a RetryPolicy — the same policy,
// budget and conditional-write reconciliation code the S3 transport uses inside (transport/s3/retry.hpp).
// Useful over transports that do not retry by themselves, e.g. Retry<Faulty<Memory>> in tests.
// Thread-safe when T is; copies share the retry budget.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "s3db/detail/hashing.hpp"
#include "s3db/transport/s3/retry.hpp"
#include "s3db/transport/transport.hpp"

namespace s3db {

template <Transport T>
class Retry {
public:
    /// Builds the inner transport from `args`.
    template <class... Args>
    explicit Retry(RetryPolicy policy, Args&&... args)
        : inner_(std::forward<Args>(args)...), retrier_(std::make_shared<detail::Retrier>(std::move(policy))) {}

    T& inner() noexcept { return inner_; }
    const detail::RetryBudget& retry_budget() const noexcept { return retrier_->budget(); }

    PutResult put(std::string_view key, std::string_view body, PutOptions o = {}) {
        auto attempt = [&](int) { return inner_.put(key, body, o); };
        if (o.if_match.empty() && !o.if_none_match) return retrier_->run(detail::RetryMode::idempotent, attempt);
        return retrier_->run_conditional_write(
            attempt,
            [&]() -> std::optional<std::string> {
                auto info = head(key);
                if (!info) return std::nullopt;
                return info->etag;
            },
            [&]() -> std::optional<std::string> {
                if (body.empty()) return std::nullopt;  // every empty object has this ETag
                return expected_etag(body, o);
            },
            [](const TransportError& e) { return e.status() == 412; },
            [&](const std::optional<std::string>& current) { return detail::write_condition_holds(o, current); });
    }

    std::optional<Object> get(std::string_view key, GetOptions o = {}) {
        return retrier_->run(detail::RetryMode::idempotent, [&](int) { return inner_.get(key, o); });
    }
    std::optional<ObjectInfo> head(std::string_view key) {
        return retrier_->run(detail::RetryMode::idempotent, [&](int) { return inner_.head(key); });
    }
    /// A copy is repeatable: a repeat copies the same source (or fails its source condition).
    PutResult copy(std::string_view from, std::string_view to, CopyOptions o = {}) {
        return retrier_->run(detail::RetryMode::idempotent, [&](int) { return inner_.copy(from, to, o); });
    }
    void remove(std::string_view key) {
        retrier_->run(detail::RetryMode::idempotent, [&](int) { inner_.remove(key); });
    }
    RemoveManyResult remove_many(std::span<const std::string> keys) {
        return retrier_->run(detail::RetryMode::idempotent, [&](int) { return inner_.remove_many(keys); });
    }
    ListPage list(ListOptions o = {}) {
        return retrier_->run(detail::RetryMode::idempotent, [&](int) { return inner_.list(o); });
    }

private:
    /// The ETag the inner store gives `body`: its own rule when it has one (S3's multipart form),
    /// else the MD5 every single-part store uses.
    std::string expected_etag(std::string_view body, const PutOptions& o) {
        if constexpr (requires { { inner_.etag_for(body, o) } -> std::convertible_to<std::string>; })
            return inner_.etag_for(body, o);
        else
            return detail::etag_of(body);
    }

    T inner_;
    std::shared_ptr<detail::Retrier> retrier_;
};

}  // namespace s3db
