#pragma once
// MultiCache<Drivers...>: the driver of `Cache<Multi<Tiers...>>`. Tiers are asked in order, fastest
// first; a hit in a slower tier is copied, with its expiry, into every faster one. Writes and
// removals go to every tier; when one tier fails the others are still done and the first error is
// rethrown, so an invalidation never stops half-way.
//
// A copy into a faster tier may race a write that invalidates the key: the plugin re-checks after
// every read of a driver that `promotes` and removes the key again if a write came in between.

#include <array>
#include <atomic>
#include <cstdint>
#include <exception>
#include <optional>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "s3db/plugins/cache/driver.hpp"

namespace s3db {

template <class... Drivers>
class MultiCache {
    static_assert(sizeof...(Drivers) > 0, "s3db: MultiCache needs at least one tier");
    static_assert((CacheDriver<Drivers> && ...), "s3db: every tier of Multi<...> must be a cache driver");

public:
    static constexpr bool promotes = sizeof...(Drivers) > 1;
    static constexpr std::size_t tier_count = sizeof...(Drivers);

    explicit MultiCache(const CacheOptions& o) : tiers_(((void)std::type_identity<Drivers>{}, o)...) {}

    template <std::size_t I>
    auto& tier() noexcept {
        return std::get<I>(tiers_);
    }

    /// Hits answered by each tier.
    std::array<std::uint64_t, sizeof...(Drivers)> tier_hits() const noexcept {
        std::array<std::uint64_t, sizeof...(Drivers)> out{};
        for (std::size_t i = 0; i < out.size(); ++i) out[i] = tier_hits_[i].load(std::memory_order_relaxed);
        return out;
    }

    template <class Storage>
    void attach(Storage& s) {
        each([&](auto& t) {
            if constexpr (requires { t.attach(s); }) t.attach(s);
        });
    }

    std::optional<CacheEntry> get(std::string_view key) {
        return find<0>(key);
    }

    void set(std::string_view key, const CacheEntry& e) {
        all([&](auto& t) { t.set(key, e); });
    }
    void remove(std::string_view key) {
        all([&](auto& t) { t.remove(key); });
    }
    void remove_prefix(std::string_view prefix) {
        all([&](auto& t) { t.remove_prefix(prefix); });
    }
    void drop_prefix(std::string_view prefix) {
        all([&](auto& t) { t.drop_prefix(prefix); });
    }
    void clear() {
        all([&](auto& t) { t.clear(); });
    }
    void forget_volatile() {
        each([&](auto& t) {
            if constexpr (requires { t.forget_volatile(); }) t.forget_volatile();
        });
    }
    std::size_t cleanup() {
        std::size_t n = 0;
        each([&](auto& t) {
            if constexpr (requires { t.cleanup(); }) n += t.cleanup();
        });
        return n;
    }
    std::uint64_t evictions() const {
        std::uint64_t n = 0;
        each([&](const auto& t) {
            if constexpr (requires { t.evictions(); }) n += t.evictions();
        });
        return n;
    }
    std::uint64_t expirations() const {
        std::uint64_t n = 0;
        each([&](const auto& t) {
            if constexpr (requires { t.expirations(); }) n += t.expirations();
        });
        return n;
    }

private:
    template <std::size_t I>
    std::optional<CacheEntry> find(std::string_view key) {
        if constexpr (I == sizeof...(Drivers)) {
            return std::nullopt;
        } else {
            if (auto hit = std::get<I>(tiers_).get(key)) {
                tier_hits_[I].fetch_add(1, std::memory_order_relaxed);
                promote<0, I>(key, *hit);
                return hit;
            }
            return find<I + 1>(key);
        }
    }

    template <std::size_t J, std::size_t Upto>
    void promote(std::string_view key, const CacheEntry& e) {
        if constexpr (J < Upto) {
            std::get<J>(tiers_).set(key, e);
            promote<J + 1, Upto>(key, e);
        }
    }

    template <class Fn>
    void each(Fn&& fn) {
        std::apply([&](auto&... t) { (fn(t), ...); }, tiers_);
    }
    template <class Fn>
    void each(Fn&& fn) const {
        std::apply([&](const auto&... t) { (fn(t), ...); }, tiers_);
    }

    /// fn on every tier even if one throws; then the first error.
    template <class Fn>
    void all(Fn&& fn) {
        std::exception_ptr first;
        each([&](auto& t) {
            try {
                fn(t);
            } catch (...) {
                if (!first) first = std::current_exception();
            }
        });
        if (first) std::rethrow_exception(first);
    }

    std::tuple<Drivers...> tiers_;
    std::array<std::atomic<std::uint64_t>, sizeof...(Drivers)> tier_hits_{};
};

}  // namespace s3db
