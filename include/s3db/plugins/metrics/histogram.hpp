#pragma once
// LogHistogram: the Metrics plugin's latency histogram. Fixed log-linear buckets of nanoseconds (16
// sub-buckets per power of two, 656 buckets, 1 ns to 2^44 ns ≈ 4.9 h, longer ones in the last
// bucket), so a series' histogram never allocates and histograms add and subtract bucket by bucket.
// A quantile is the midpoint of the bucket holding the nearest-rank sample: within 1/32 (3.125 %)
// of that sample's true value.

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

#include "s3db/detail/config.hpp"

namespace s3db::detail {

/// Log-linear histogram of nanoseconds: values below 16 exact, then 16 buckets per power of two.
class LogHistogram {
public:
    static constexpr unsigned sub_bits = 4;
    static constexpr std::uint64_t sub = 1u << sub_bits;
    static constexpr unsigned max_exponent = 43;  // [2^43, 2^44) is the last regular octave
    static constexpr std::size_t size = (max_exponent - sub_bits + 2) * sub;

    static std::size_t index(std::uint64_t v) noexcept {
        if (v < sub) return static_cast<std::size_t>(v);
        const unsigned e = static_cast<unsigned>(std::bit_width(v)) - 1;
        if (e > max_exponent) return size - 1;
        return (e - sub_bits + 1) * sub + ((v >> (e - sub_bits)) & (sub - 1));
    }
    static std::uint64_t lower(std::size_t i) noexcept {
        if (i < sub) return i;
        const std::size_t octave = i / sub;
        return (sub + i % sub) << (octave - 1);
    }
    static std::uint64_t width(std::size_t i) noexcept { return i < sub ? 1 : std::uint64_t{1} << (i / sub - 1); }
    /// The bucket's midpoint: within width/2 <= lower/32 of any value in it.
    static std::uint64_t representative(std::size_t i) noexcept { return lower(i) + (width(i) - 1) / 2; }

    void add(std::uint64_t v) noexcept {
        ++counts_[index(v)];
        ++n_;
    }
    std::uint64_t count() const noexcept { return n_; }

    /// The nearest-rank q-quantile (q in [0, 1]) as its bucket's midpoint, clamped to [lo, hi].
    S3DB_DECL std::uint64_t quantile(double q, std::uint64_t lo = 0, std::uint64_t hi = ~std::uint64_t{0}) const noexcept;

    S3DB_DECL LogHistogram& operator+=(const LogHistogram& o) noexcept;
    /// What was added since `base` (a copy of this histogram taken earlier).
    S3DB_DECL LogHistogram since(const LogHistogram& base) const noexcept;

private:
    std::array<std::uint64_t, size> counts_{};
    std::uint64_t n_ = 0;
};

}  // namespace s3db::detail

#if S3DB_DEFINE_BODIES
#include <algorithm>
#include <cmath>

namespace s3db::detail {

S3DB_DECL std::uint64_t LogHistogram::quantile(double q, std::uint64_t lo, std::uint64_t hi) const noexcept {
    if (n_ == 0) return 0;
    const double wanted = std::ceil(std::clamp(q, 0.0, 1.0) * static_cast<double>(n_));
    const std::uint64_t rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(wanted));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < size; ++i) {
        seen += counts_[i];
        if (seen >= rank) return std::clamp(representative(i), lo, std::max(lo, hi));
    }
    return std::clamp(representative(size - 1), lo, std::max(lo, hi));
}

S3DB_DECL LogHistogram& LogHistogram::operator+=(const LogHistogram& o) noexcept {
    for (std::size_t i = 0; i < size; ++i) counts_[i] += o.counts_[i];
    n_ += o.n_;
    return *this;
}

S3DB_DECL LogHistogram LogHistogram::since(const LogHistogram& base) const noexcept {
    LogHistogram d;
    for (std::size_t i = 0; i < size; ++i) d.counts_[i] = counts_[i] - base.counts_[i];
    d.n_ = n_ - base.n_;
    return d;
}

}  // namespace s3db::detail
#endif  // S3DB_DEFINE_BODIES
