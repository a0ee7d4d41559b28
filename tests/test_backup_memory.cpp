// Backup and restore stream: a child process writes 10,000 (then, in another, 100,000) records to a
// Memory store, resets its peak RSS (/proc/self/clear_refs: 5), backs up (full, then incremental
// after a few changes), wipes the records, restores the chain and checks it; what its peak grew
// above the RSS it had before the backup is what backup and restore held. That growth may differ
// by no more than a small bound between 10,000 and 100,000 records. (The wipe frees the records'
// memory to malloc, and restore's records of the same sizes take it again: one malloc arena.) Holding every key of
// the resource once, as the index in one string or the parent's index as a map did before the
// index came in parts, is already more than the bound at 100,000 records.

#include <gtest/gtest.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "s3db/s3db.hpp"
#include "s3db/plugins/backup.hpp"
#include "support/stores.hpp"

using namespace s3db;
using ojson = nlohmann::ordered_json;

namespace {

using FsBackup = Backup<FilesystemBackup>;
using Db = BasicDatabase<Memory, FsBackup>;

struct Measured {
    int code = -1;           // the child's exit code; -1: killed, or no report
    long rss_before_kb = 0;  // VmRSS with the records written, before the backup
    long peak_kb = 0;        // VmHWM after backup, wipe and restore (reset before the backup)
    long backup_peak_kb = 0; // VmHWM after the two backups
    double seconds = 0;
};

long status_kb(const char* field) {
    std::ifstream in("/proc/self/status");
    for (std::string line; std::getline(in, line);)
        if (line.starts_with(field)) return std::atol(line.c_str() + std::strlen(field));
    return -1;
}

std::string item_id(int i) {
    char b[16];
    std::snprintf(b, sizeof b, "item%07d", i);
    return b;
}

/// In a forked child: write `n` records, reset the peak, then backup full → change 3, delete 2 →
/// incremental → wipe → restore the chain → check. Codes: 0 ok, 2..8 a check failed, 98 it threw.
Measured backup_and_restore(int n) {
    const auto dir = test::scratch_dir() / ("backup-memory-" + std::to_string(::getpid()) + "-" + std::to_string(n));
    std::filesystem::remove_all(dir);
    int report[2];
    if (::pipe(report) != 0) return {};
    std::fflush(nullptr);
    const auto t0 = std::chrono::steady_clock::now();
    const pid_t pid = ::fork();
    if (pid < 0) return {};
    if (pid == 0) {
        ::close(report[0]);
        long numbers[3] = {0, 0, 0};
        auto run = [&]() -> int {
            // One malloc arena for every thread: the wipe frees the records on this thread and the
            // restore's pool threads allocate them again; with an arena per thread that memory
            // would not be reused, and the peak would measure malloc, not what restore holds.
            ::mallopt(M_ARENA_MAX, 1);
            Db db(Memory{}, {}, FsBackup(FilesystemBackup{(dir / "{backupId}").string()}));
            db.connect();
            auto& items = db.create_resource({.name = "items", .attributes = ojson{{"n", "number"}, {"name", "string"}}});
            for (int at = 0; at < n; at += 1000) {
                std::vector<json> batch;
                for (int i = at; i < std::min(n, at + 1000); ++i)
                    batch.push_back({{"id", item_id(i)}, {"n", i}, {"name", "item " + std::to_string(i)}});
                items.insert_many(std::move(batch));
            }
            auto& plugin = db.plugin<FsBackup>();
            std::ofstream("/proc/self/clear_refs") << "5";  // the peak (VmHWM) starts again from here
            numbers[0] = status_kb("VmRSS:");
            auto full = plugin.backup();
            if (full.records != static_cast<std::size_t>(n)) return 2;
            for (int i = 0; i < 3; ++i) items.update(item_id(i * 7), {{"n", -1}});
            items.remove(item_id(n - 1));
            items.remove(item_id(n / 2));
            auto inc = plugin.backup(BackupType::incremental);
            if (inc.type != "incremental" || inc.records != 3 || inc.deleted != 2) return 3;
            numbers[2] = status_kb("VmHWM:");
            if (remove_prefix(db.store(), "resource=items/data/") != static_cast<std::size_t>(n) - 2) return 4;
            auto res = plugin.restore(inc.id);
            if (res.written != static_cast<std::size_t>(n) + 3 || res.deleted != 2) return 5;
            numbers[1] = status_kb("VmHWM:");
            if (items.count() != static_cast<std::size_t>(n) - 2) return 6;
            if (items.get(item_id(7)).at("n") != -1 || items.get(item_id(8)).at("n") != 8) return 7;
            if (items.exists(item_id(n - 1)) || items.exists(item_id(n / 2))) return 8;
            return 0;
        };
        int rc = 98;
        try {
            rc = run();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "child: %s\n", e.what());
        }
        if (::write(report[1], numbers, sizeof numbers) != static_cast<ssize_t>(sizeof numbers)) rc = 99;
        std::fflush(nullptr);
        ::_exit(rc);
    }
    ::close(report[1]);
    Measured m;
    long numbers[3] = {0, 0, 0};
    const bool got = ::read(report[0], numbers, sizeof numbers) == static_cast<ssize_t>(sizeof numbers);
    ::close(report[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (got && WIFEXITED(status)) m.code = WEXITSTATUS(status);
    m.rss_before_kb = numbers[0];
    m.peak_kb = numbers[1];
    m.backup_peak_kb = numbers[2];
    std::filesystem::remove_all(dir);
    return m;
}

TEST(BackupMemory, FlatFrom10kTo100kRecords) {
    if (!std::ofstream("/proc/self/clear_refs")) GTEST_SKIP() << "/proc/self/clear_refs cannot be written here: the peak cannot be reset";
    const auto small = backup_and_restore(10'000);
    const auto large = backup_and_restore(100'000);
    ASSERT_EQ(small.code, 0);
    ASSERT_EQ(large.code, 0);
    const long small_growth = small.peak_kb - small.rss_before_kb, large_growth = large.peak_kb - large.rss_before_kb;
    std::printf("backup + incremental + wipe + restore: 10,000 records: RSS %ld KiB, peak +%ld KiB (backups +%ld) (%.1f s); "
                "100,000 records: RSS %ld KiB, peak +%ld KiB (backups +%ld) (%.1f s)\n",
                small.rss_before_kb, small_growth, small.backup_peak_kb - small.rss_before_kb, small.seconds, large.rss_before_kb,
                large_growth, large.backup_peak_kb - large.rss_before_kb, large.seconds);
    ASSERT_GT(small.rss_before_kb, 0);
    ASSERT_GT(large.rss_before_kb, small.rss_before_kb) << "the records are in the store's memory";
    // 90,000 more keys held once would be >= 90,000 x ~50 bytes = 4.4 MiB (an index line is ~70 bytes).
    // Measured: ~250 KiB; the plugin before index parts (one index string, the parent's index in a
    // map): +28 MiB.
    EXPECT_LE(large_growth - small_growth, 2 * 1024);
}

}  // namespace
