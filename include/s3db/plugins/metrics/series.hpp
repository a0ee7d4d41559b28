#pragma once
// The Metrics plugin's series: one MetricsSeries per (resource, operation), holding its counts,
// timings, latency histogram and sampling stream under its own mutex, and the MetricsSeriesTable
// that finds it. The table is open addressing read without a lock: series are only ever added, a
// full table is replaced by a bigger one under a mutex, and the old one stays readable. So threads
// on different series never meet, and nothing allocates once a series exists.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "s3db/detail/config.hpp"
#include "s3db/plugins/metrics/histogram.hpp"

namespace s3db::detail {

/// String equality inlined for the short names of the hot path (std::string's == calls memcmp).
inline bool metrics_same(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    if (a.data() == b.data()) return true;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i] != b[i]) return false;
    return true;
}

inline std::uint64_t metrics_splitmix(std::uint64_t& state) noexcept {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

struct MetricsPerfSample {
    std::uint64_t ns;
    std::int64_t ms;  // when it finished
};

/// One (resource, operation): everything under its own mutex.
struct MetricsSeries {
    MetricsSeries(std::string_view r, std::string_view op, std::size_t h, std::uint64_t seed)
        : resource(r), operation(op), hash(h), rng(seed ^ h) {}

    const std::string resource;
    const std::string operation;
    const std::size_t hash;

    mutable std::mutex mutex;
    std::uint64_t count = 0, errors = 0, slow = 0;
    std::uint64_t total_ns = 0;
    std::uint64_t min_ns = ~std::uint64_t{0}, max_ns = 0;
    std::uint64_t timed_ns = 0;  // sum of the durations in `histogram`
    LogHistogram histogram;
    std::array<std::uint64_t, 24> hourly{};
    std::uint64_t rng;
    std::vector<MetricsPerfSample> perf;
};

/// (resource, operation) -> series. Lookups take no lock; additions take `mutex_`.
class MetricsSeriesTable {
public:
    S3DB_DECL MetricsSeriesTable();

    /// Inline, 8 bytes a step: names are short, and a library call per lookup showed in profiles.
    static std::size_t hash(std::string_view r, std::string_view op) noexcept {
        std::uint64_t h = 0x243f6a8885a308d3ULL ^ (static_cast<std::uint64_t>(r.size()) << 32 | op.size());
        auto mix = [&h](std::string_view s) {
            std::size_t i = 0;
            for (; i + 8 <= s.size(); i += 8) {
                std::uint64_t w;
                std::memcpy(&w, s.data() + i, 8);
                h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
                h ^= h >> 29;
            }
            std::uint64_t w = 0;
            for (std::size_t k = 0; i < s.size(); ++i, k += 8) w |= std::uint64_t(static_cast<unsigned char>(s[i])) << k;
            h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
            h ^= h >> 31;
        };
        mix(r);
        mix(op);
        return static_cast<std::size_t>(h);
    }

    MetricsSeries& get(std::string_view r, std::string_view op, std::uint64_t seed) {
        const std::size_t h = hash(r, op);
        if (MetricsSeries* s = find(table_.load(std::memory_order_acquire), r, op, h)) return *s;
        return add(r, op, h, seed);
    }

    /// Every series so far, in the order they appeared.
    S3DB_DECL std::vector<MetricsSeries*> all() const;

private:
    struct Table {
        S3DB_DECL explicit Table(std::size_t capacity);
        std::size_t mask;
        std::unique_ptr<std::atomic<MetricsSeries*>[]> slots;
    };

    static MetricsSeries* find(const Table* t, std::string_view r, std::string_view op, std::size_t h) noexcept {
        for (std::size_t i = h & t->mask;; i = (i + 1) & t->mask) {
            MetricsSeries* s = t->slots[i].load(std::memory_order_acquire);
            if (!s) return nullptr;
            if (s->hash == h && metrics_same(s->operation, op) && metrics_same(s->resource, r)) return s;
        }
    }
    S3DB_DECL static void place(Table& t, MetricsSeries* s) noexcept;
    S3DB_DECL void publish(std::size_t capacity);

    S3DB_DECL MetricsSeries& add(std::string_view r, std::string_view op, std::size_t h, std::uint64_t seed);

    std::atomic<Table*> table_{nullptr};
    mutable std::mutex mutex_;
    std::vector<std::unique_ptr<Table>> tables_;
    std::vector<std::unique_ptr<MetricsSeries>> series_;
};

}  // namespace s3db::detail

#if S3DB_DEFINE_BODIES
namespace s3db::detail {

S3DB_DECL MetricsSeriesTable::MetricsSeriesTable() { publish(64); }

S3DB_DECL std::vector<MetricsSeries*> MetricsSeriesTable::all() const {
    std::lock_guard lock(mutex_);
    std::vector<MetricsSeries*> out;
    out.reserve(series_.size());
    for (auto& s : series_) out.push_back(s.get());
    return out;
}

S3DB_DECL MetricsSeriesTable::Table::Table(std::size_t capacity)
    : mask(capacity - 1), slots(new std::atomic<MetricsSeries*>[capacity]) {
    for (std::size_t i = 0; i < capacity; ++i) slots[i].store(nullptr, std::memory_order_relaxed);
}

S3DB_DECL void MetricsSeriesTable::place(Table& t, MetricsSeries* s) noexcept {
    std::size_t i = s->hash & t.mask;
    while (t.slots[i].load(std::memory_order_relaxed)) i = (i + 1) & t.mask;
    t.slots[i].store(s, std::memory_order_release);
}

S3DB_DECL void MetricsSeriesTable::publish(std::size_t capacity) {
    auto t = std::make_unique<Table>(capacity);
    for (auto& s : series_) place(*t, s.get());
    table_.store(t.get(), std::memory_order_release);
    tables_.push_back(std::move(t));  // older tables stay: a reader may still be probing one
}

S3DB_DECL MetricsSeries& MetricsSeriesTable::add(std::string_view r, std::string_view op, std::size_t h, std::uint64_t seed) {
    std::lock_guard lock(mutex_);
    Table* t = table_.load(std::memory_order_relaxed);
    if (MetricsSeries* s = find(t, r, op, h)) return *s;
    auto s = std::make_unique<MetricsSeries>(r, op, h, seed);
    MetricsSeries* raw = s.get();
    series_.push_back(std::move(s));
    if (series_.size() * 2 > t->mask + 1) publish((t->mask + 1) * 2);  // places the new one too
    else place(*t, raw);
    return *raw;
}

}  // namespace s3db::detail
#endif  // S3DB_DEFINE_BODIES
