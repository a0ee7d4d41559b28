#pragma once
// Test stores: every transport made fresh for one test, under a key prefix of the same length, and
// cleaned up when the test binary exits. The S3 store is Ceph RGW, reached through S3DB_TEST_S3_URL.

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <random>
#include <string>
#include <unistd.h>

#include "s3db/transport/any.hpp"
#include "s3db/transport/filesystem.hpp"
#include "s3db/transport/memory.hpp"
#include "s3db/transport/s3.hpp"

namespace s3db::test {

/// A unique, same-length prefix per store ("t" + 12 digits + "/"), so key-length tests know the budget.
inline std::string next_prefix() {
    static std::atomic<std::uint64_t> counter{std::random_device{}() % 1000000 * 1000000};
    auto n = std::to_string(counter++ % 1000000000000ULL);
    return "t" + std::string(12 - n.size(), '0') + n + "/";
}
inline constexpr std::size_t test_prefix_bytes = 14;
template <class T>
std::size_t prefix_bytes(const T&) { return test_prefix_bytes; }

/// The S3 endpoint under test, from S3DB_TEST_S3_URL; fails the test loudly when it is not set.
inline ConnectionString s3_under_test() {
    const char* url = std::getenv("S3DB_TEST_S3_URL");
    if (!url || !*url) {
        ADD_FAILURE() << "S3DB_TEST_S3_URL is not set: run ./tests/run.sh, which starts Ceph RGW and sets it";
        throw std::runtime_error("S3DB_TEST_S3_URL is not set");
    }
    return ConnectionString::parse(url);
}

inline S3Options s3_options(const ConnectionString& c, std::string bucket, std::string prefix) {
    auto o = s3db::s3_options(c);
    o.bucket = std::move(bucket);
    o.prefix = std::move(prefix);
    return o;
}

/// One bucket per test binary run, created on first use. It is emptied and removed by a gtest
/// environment, so before static destruction tears down the transport's connection pool.
class TestBucket : public ::testing::Environment {
public:
    static const std::string& name() {
        std::lock_guard lock(mutex());
        auto& b = instance();
        if (b.name_.empty()) b.create();
        return b.name_;
    }
    void TearDown() override {
        std::lock_guard lock(mutex());
        if (name_.empty()) return;
        S3 admin(s3_options(s3_under_test(), name_, ""));
        for (;;) {
            auto page = admin.list({});
            if (page.objects.empty()) break;
            std::vector<std::string> keys;
            for (auto& e : page.objects) keys.push_back(e.key);
            admin.remove_many(keys);
        }
        admin.delete_bucket();
        name_.clear();
    }

private:
    static std::mutex& mutex() {
        static std::mutex m;
        return m;
    }
    static TestBucket& instance();
    void create() {
        auto c = s3_under_test();
        std::mt19937_64 rng(std::random_device{}());
        name_ = c.bucket + "-" + std::to_string(::getpid()) + "-" + std::to_string(rng() % 100000);
        S3 admin(s3_options(c, name_, ""));
        admin.create_bucket();
    }
    std::string name_;
};

// Registered before main, as gtest asks; gtest owns it and runs TearDown after the last test.
inline TestBucket* const test_bucket = static_cast<TestBucket*>(::testing::AddGlobalTestEnvironment(new TestBucket));
inline TestBucket& TestBucket::instance() { return *test_bucket; }

/// Scratch directories for filesystem stores, removed when the binary exits.
inline std::filesystem::path scratch_dir() {
    static struct Root {
        std::filesystem::path path = std::filesystem::temp_directory_path() / ("s3db-test-" + std::to_string(::getpid()));
        ~Root() {
            std::error_code ec;
            std::filesystem::remove_all(path, ec);
        }
    } root;
    static std::atomic<int> n{0};
    return root.path / std::to_string(n++);
}

template <class T>
T make_store();

template <>
inline Memory make_store<Memory>() {
    return Memory(MemoryOptions{.prefix = next_prefix()});
}
template <>
inline Filesystem make_store<Filesystem>() {
    // Durable writes are the default, and what the suite checks.
    return Filesystem(FilesystemOptions{.root = scratch_dir(), .prefix = next_prefix()});
}
template <>
inline S3 make_store<S3>() {
    return S3(s3_options(s3_under_test(), TestBucket::name(), next_prefix()));
}

struct StoreNames {
    template <class T>
    static std::string GetName(int) {
        if constexpr (std::is_same_v<T, Memory>) return "Memory";
        else if constexpr (std::is_same_v<T, Filesystem>) return "Filesystem";
        else return "S3";
    }
};

}  // namespace s3db::test
