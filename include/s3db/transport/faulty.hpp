#pragma once
// Faulty<T>: injects the failures a real store produces — 5xx, throttling, timeouts, connection
// resets, responses lost after the write was applied, and latency — from a seeded generator, so a
// failing run can be replayed. For tests of retry and recovery paths, and for benchmarks under faults.
// Thread-safe; copies share the fault settings, the generator and the counts.

#include <chrono>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <utility>

#include "s3db/transport/transport.hpp"

namespace s3db {

struct FaultOptions {
    std::uint64_t seed = 1;
    double server_error = 0;   // 500 InternalError, nothing applied
    double throttle = 0;       // 503 SlowDown, nothing applied (carries a Retry-After)
    double timeout = 0;        // no response, nothing applied
    double reset = 0;          // connection reset, nothing applied
    double lost_response = 0;  // writes only: applied, then the response is lost (no response)
    std::chrono::microseconds latency{0};  // added to every request
    std::chrono::milliseconds throttle_retry_after{0};
};

/// How many faults of each kind were injected.
struct FaultCounts {
    std::uint64_t server_error = 0, throttle = 0, timeout = 0, reset = 0, lost_response = 0;
    std::uint64_t total() const noexcept { return server_error + throttle + timeout + reset + lost_response; }
};

template <Transport T>
class Faulty {
public:
    template <class... Args>
    explicit Faulty(FaultOptions o, Args&&... args)
        : inner_(std::forward<Args>(args)...), s_(std::make_shared<State>(o)) {}

    T& inner() noexcept { return inner_; }
    void set_faults(FaultOptions o) {
        std::lock_guard lock(s_->mutex);
        s_->opts = o;
        s_->rng.seed(o.seed);
    }
    FaultCounts injected() const {
        std::lock_guard lock(s_->mutex);
        return s_->counts;
    }

    PutResult put(std::string_view key, std::string_view body, PutOptions o = {}) {
        return write(key, [&] { return inner_.put(key, body, std::move(o)); });
    }
    std::optional<Object> get(std::string_view key, GetOptions o = {}) {
        before(key);
        return inner_.get(key, std::move(o));
    }
    std::optional<ObjectInfo> head(std::string_view key) {
        before(key);
        return inner_.head(key);
    }
    PutResult copy(std::string_view from, std::string_view to, CopyOptions o = {}) {
        return write(to, [&] { return inner_.copy(from, to, std::move(o)); });
    }
    void remove(std::string_view key) {
        write(key, [&] { inner_.remove(key); return 0; });
    }
    RemoveManyResult remove_many(std::span<const std::string> keys) {
        return write({}, [&] { return inner_.remove_many(keys); });
    }
    ListPage list(ListOptions o = {}) {
        before(o.prefix);
        return inner_.list(std::move(o));
    }

private:
    enum class Fault { none, server_error, throttle, timeout, reset, lost_response };

    Fault draw(bool is_write, std::chrono::microseconds& latency) {
        std::lock_guard lock(s_->mutex);
        auto& opts = s_->opts;
        auto& counts = s_->counts;
        latency = opts.latency;
        double x = std::uniform_real_distribution<double>(0, 1)(s_->rng);
        auto pick = [&](double p, Fault f, std::uint64_t& n) {
            if (x < p) { ++n; return f; }
            x -= p;
            return Fault::none;
        };
        for (auto [p, f, n] : {std::tuple{opts.server_error, Fault::server_error, &counts.server_error},
                               std::tuple{opts.throttle, Fault::throttle, &counts.throttle},
                               std::tuple{opts.timeout, Fault::timeout, &counts.timeout},
                               std::tuple{opts.reset, Fault::reset, &counts.reset},
                               std::tuple{is_write ? opts.lost_response : 0.0, Fault::lost_response,
                                          &counts.lost_response}})
            if (auto hit = pick(p, f, *n); hit != Fault::none) return hit;
        return Fault::none;
    }

    [[noreturn]] void raise(Fault f, std::string_view key) {
        std::string k(key);
        switch (f) {
            case Fault::server_error:
                throw TransportError("injected server error", {500, "InternalError", {}, k, true});
            case Fault::throttle: {
                TransportError::Details d{503, "SlowDown", {}, k, true};
                std::chrono::milliseconds after;
                {
                    std::lock_guard lock(s_->mutex);
                    after = s_->opts.throttle_retry_after;
                }
                if (after.count()) d.retry_after = after;
                throw TransportError("injected throttling", d);
            }
            case Fault::reset:
                throw TransportError("injected connection reset", {0, "ConnectionReset", {}, k, true});
            default:
                throw TransportError("injected timeout", {0, "RequestTimeout", {}, k, true});
        }
    }

    Fault before(std::string_view key, bool is_write = false) {
        std::chrono::microseconds latency{};
        Fault f = draw(is_write, latency);
        if (latency.count()) std::this_thread::sleep_for(latency);
        if (f != Fault::none && f != Fault::lost_response) raise(f, key);
        return f;
    }

    template <class Op>
    auto write(std::string_view key, Op&& op) {
        Fault f = before(key, true);
        auto result = op();
        if (f == Fault::lost_response) raise(Fault::timeout, key);
        return result;
    }

    struct State {
        explicit State(FaultOptions o) : opts(o), rng(o.seed) {}
        std::mutex mutex;
        FaultOptions opts;
        std::mt19937_64 rng;
        FaultCounts counts;
    };

    T inner_;
    std::shared_ptr<State> s_;
};

}  // namespace s3db
