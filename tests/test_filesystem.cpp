// Filesystem transport: what is specific to keeping a bucket on disk. Key mapping (any key stored
// and listed back exactly, nothing escaping the root), atomic writes under concurrent readers,
// conditional writes between processes, crash leftovers, and listing cost in a large store. The
// S3 rules shared with every transport are in test_conformance.cpp.

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <array>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "s3db/transport/filesystem.hpp"
#include "s3db/transport/memory.hpp"

using namespace s3db;
namespace stdfs = std::filesystem;

namespace {

/// A fresh folder per test, removed afterwards.
class Scratch {
public:
    Scratch() {
        static std::atomic<int> n{0};
        path_ = stdfs::temp_directory_path() / ("s3db-fs-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
        stdfs::remove_all(path_);
        stdfs::create_directories(path_);
    }
    ~Scratch() {
        std::error_code ec;
        stdfs::remove_all(path_, ec);
    }
    const stdfs::path& path() const { return path_; }

private:
    stdfs::path path_;
};

std::vector<std::string> all_keys(Filesystem& fs, ListOptions o = {}) {
    std::vector<std::string> keys;
    for (;;) {
        auto page = fs.list(o);
        for (auto& e : page.objects) keys.push_back(e.key);
        if (!page.truncated()) return keys;
        o.continuation_token = page.next_continuation_token;
    }
}

/// Pages through both stores with the same options and expects the same pages.
template <class A, class B>
void expect_same_listing(A& actual, B& expected, ListOptions o) {
    ListOptions oa = o, ob = o;
    for (int page_no = 0;; ++page_no) {
        auto pa = actual.list(oa);
        auto pb = expected.list(ob);
        std::vector<std::string> ka, kb;
        for (auto& e : pa.objects) ka.push_back(e.key + " " + std::to_string(e.size) + " " + e.etag);
        for (auto& e : pb.objects) kb.push_back(e.key + " " + std::to_string(e.size) + " " + e.etag);
        ASSERT_EQ(ka, kb) << "page " << page_no << ", prefix '" << o.prefix << "', delimiter '" << o.delimiter
                          << "', start_after '" << o.start_after << "', max_keys " << o.max_keys;
        ASSERT_EQ(pa.common_prefixes, pb.common_prefixes) << "page " << page_no << ", delimiter '" << o.delimiter << "'";
        ASSERT_EQ(pa.truncated(), pb.truncated()) << "page " << page_no;
        if (!pa.truncated()) return;
        oa.continuation_token = pa.next_continuation_token;
        ob.continuation_token = pb.next_continuation_token;
    }
}

/// Every name under `root`, relative, with what it is.
std::vector<std::pair<std::string, stdfs::file_type>> tree(const stdfs::path& root) {
    std::vector<std::pair<std::string, stdfs::file_type>> out;
    for (auto& e : stdfs::recursive_directory_iterator(root))
        out.emplace_back(stdfs::relative(e.path(), root).string(), e.symlink_status().type());
    return out;
}

std::string long_segment(char c, std::size_t n) { return std::string(n, c); }

}  // namespace

TEST(Filesystem, TrickyKeysRoundTripExactly) {
    Scratch dir;
    Filesystem fs({.root = dir.path()});
    std::vector<std::string> keys{
        "o/a", "o/a-1", "o/a.x", "o/a/b", "o/a/", "o//", "o//x", "/", "//", "o/.", "o/..", "o/../x", "o/./x",
        "..", ".", "o/a.obj", "o/a%+", "o/%", "o/%41", "o/A", "o/.tmp.1.abc", std::string("o/nul\0byte", 10),
        std::string("\0", 1), "o/\x01\x1f\x7f", "o/\xff\xfe", "o/é", "o/space here", "o/tab\there", "o/a\\b",
        "o/" + long_segment('x', 199), "o/" + long_segment('x', 200), "o/" + long_segment('x', 201),
        "o/" + long_segment('x', 450), "o/" + long_segment('x', 450) + "/deeper", "o/" + long_segment('x', 201) + "-1",
        "o/" + long_segment('.', 300), "o/" + long_segment('.', 67) + "/y", "o/" + long_segment('.', 66) + "-",
        std::string(1024, '/'), std::string(1024, '\x01'), std::string(1023, 'k') + ".",
    };
    std::string deep;
    for (int i = 0; i < 400; ++i) deep += "d/";
    keys.push_back(deep + "leaf");
    keys.push_back(deep);
    for (auto& k : keys) fs.put(k, "body of " + k, {.metadata = {{"k", std::to_string(k.size())}}});
    for (auto& k : keys) {
        auto got = fs.get(k);
        ASSERT_TRUE(got) << InvalidKey::printable(k);
        EXPECT_EQ(got->body, "body of " + k);
        EXPECT_EQ(got->info.key, k);
        EXPECT_EQ(got->info.metadata.at("k"), std::to_string(k.size()));
    }
    auto sorted = keys;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(all_keys(fs), sorted);
    EXPECT_EQ(all_keys(fs, {.max_keys = 3}), sorted);
    for (auto& k : keys) fs.remove(k);
    EXPECT_TRUE(all_keys(fs).empty());
    EXPECT_TRUE(tree(dir.path()).empty()) << "deletes leave no empty directories behind";
}

TEST(Filesystem, KeysThatArePrefixesOfEachOtherListInByteOrderAcrossPages) {
    Scratch dir;
    Filesystem fs({.root = dir.path()});
    std::vector<std::string> keys{"o/a", "o/a-1", "o/a.x", "o/a/b", "o/a/b/c", "o/a0", "o/a/", "o/a//", "o/b"};
    for (auto& k : keys) fs.put(k, k);
    auto sorted = keys;
    std::sort(sorted.begin(), sorted.end());
    ASSERT_EQ(sorted[0], "o/a");
    ASSERT_EQ(sorted[1], "o/a-1");
    ASSERT_EQ(sorted[2], "o/a.x");
    ASSERT_EQ(sorted[3], "o/a/");
    std::size_t pages = 0;
    std::vector<std::string> listed;
    ListOptions o{.prefix = "o/", .max_keys = 3};
    for (;;) {
        auto page = fs.list(o);
        ++pages;
        EXPECT_LE(page.objects.size(), 3u);
        for (auto& e : page.objects) listed.push_back(e.key);
        if (!page.truncated()) break;
        o.continuation_token = page.next_continuation_token;
    }
    EXPECT_EQ(listed, sorted);
    EXPECT_EQ(pages, 3u);
}

TEST(Filesystem, ListingMatchesTheMemoryModelForEveryOptionCombination) {
    // Memory is the reference: the same keys must give the same pages, whatever the layout on disk.
    Scratch dir;
    Filesystem fs({.root = dir.path(), .durable = false});
    Memory mem;
    std::vector<std::string> keys{"a", "a-1", "a.x", "a/", "a//", "a/b", "a/b/c", "a/b-", "a0", "b/x", "b/y/z", "b/yy",
                                  "c=1/d", "c=1/e=2/f", "c=2", "/", "//x", "é/1", std::string("z\0z", 3)};
    for (auto n : {199u, 200u, 201u, 400u}) {
        keys.push_back("l/" + long_segment('q', n));
        keys.push_back("l/" + long_segment('q', n) + "/in");
        keys.push_back("l/" + long_segment('q', n) + "-");
        keys.push_back("l/" + long_segment('q', n) + "0");
    }
    for (auto& k : keys) {
        auto a = fs.put(k, k);
        auto b = mem.put(k, k);
        ASSERT_EQ(a.etag, b.etag);
    }
    for (std::string prefix : {"", "a", "a/", "a/b", "b/", "c", "l/", "l/qq", "zz", "/"})
        for (std::string delimiter : {"", "/", "=", "-", "/b"})
            for (std::string start_after : {"", "a/", "a/b", "b/y", "l/q"})
                for (std::size_t max_keys : {1000u, 2u, 1u}) {
                    expect_same_listing(fs, mem, {.prefix = prefix, .delimiter = delimiter, .start_after = start_after,
                                                  .max_keys = max_keys});
                    if (HasFatalFailure()) return;
                }
}

TEST(Filesystem, ListingMatchesTheMemoryModelOnRandomKeysAndOptions) {
    // Short keys over an alphabet dense in separators and bytes that sort around '/', plus long
    // segments, so directories, continuations and objects interleave in every way.
    Scratch dir;
    Filesystem fs({.root = dir.path(), .durable = false});
    Memory mem;
    std::mt19937 rng(20240501);
    const std::string alphabet("ab/-.=\0\xc3", 8);
    auto random_text = [&](std::size_t max_len) {
        std::string s(1 + rng() % max_len, 'a');
        for (auto& c : s) c = alphabet[rng() % alphabet.size()];
        return s;
    };
    std::set<std::string> keys;
    while (keys.size() < 400) keys.insert(random_text(7));
    for (int i = 0; i < 12; ++i) keys.insert(random_text(3) + std::string(190 + rng() % 30, 'z') + random_text(3));
    for (auto& k : keys) {
        fs.put(k, k);
        mem.put(k, k);
    }
    for (int round = 0; round < 300; ++round) {
        ListOptions o;
        if (rng() % 4) o.prefix = random_text(3).substr(0, rng() % 3);
        if (rng() % 2) o.delimiter = rng() % 2 ? "/" : random_text(2);
        if (rng() % 3 == 0) o.start_after = random_text(4);
        o.max_keys = std::array<std::size_t, 4>{1, 3, 50, 1000}[rng() % 4];
        expect_same_listing(fs, mem, o);
        if (HasFatalFailure()) return;
    }
}

TEST(Filesystem, ConcurrentDeletesNeverHideOtherKeysFromAListing) {
    // While half the keys of a directory come and go, every page still lists the other half.
    Scratch dir;
    Filesystem fs({.root = dir.path(), .durable = false});
    std::vector<std::string> stable, churn;
    char buf[32];
    for (int i = 0; i < 3000; ++i) {
        std::snprintf(buf, sizeof buf, "dir/%05d", i);
        (i % 3 ? churn : stable).emplace_back(buf);
        fs.put(buf, "v");
    }
    std::atomic<bool> done{false};
    std::thread churner([&] {
        while (!done)
            for (auto& k : churn) {
                fs.remove(k);
                fs.put(k, "v");
            }
    });
    for (int pass = 0; pass < 20; ++pass) {
        std::vector<std::string> seen;
        for (auto& k : all_keys(fs, {.prefix = "dir/", .max_keys = 100}))
            if (std::binary_search(stable.begin(), stable.end(), k)) seen.push_back(k);
        EXPECT_EQ(seen, stable) << "pass " << pass;
    }
    done = true;
    churner.join();
}

TEST(Filesystem, NoKeyReachesOutsideTheRoot) {
    Scratch box;
    auto root = box.path() / "root";
    Filesystem fs({.root = root});
    std::vector<std::string> keys{"../escape", "../../escape", "/etc/passwd", "//etc/passwd", "..", ".", "./x",
                                  "a/../../../escape", std::string("\0/../x", 6), "..\\..\\escape", "~/x", "%2e%2e/x",
                                  "a/./b", "a/.../b", ".obj", "x.obj/..", "$HOME/x", "*", "?/[", std::string(300, '.')};
    for (auto& k : keys) fs.put(k, "x");
    // The box holds the root and nothing else; inside, only encoded directories and .obj files.
    std::vector<std::string> in_box;
    for (auto& e : stdfs::directory_iterator(box.path())) in_box.push_back(e.path().filename().string());
    EXPECT_EQ(in_box, std::vector<std::string>{"root"});
    std::size_t files = 0;
    for (auto& [rel, type] : tree(root)) {
        for (auto& part : stdfs::path(rel)) {
            auto name = part.string();
            EXPECT_NE(name, "..");
            EXPECT_NE(name, ".");
            EXPECT_LE(name.size(), 255u);
            EXPECT_TRUE(std::all_of(name.begin(), name.end(), [](unsigned char c) {
                return std::isalnum(c) || c == '-' || c == '_' || c == '%' || c == '.' || c == '+';
            })) << name;
        }
        if (type == stdfs::file_type::regular) {
            ++files;
            EXPECT_TRUE(rel.ends_with(".obj")) << rel;
            EXPECT_EQ(stdfs::path(rel).filename().string().find('.'), stdfs::path(rel).filename().string().size() - 4) << rel;
        } else {
            EXPECT_EQ(type, stdfs::file_type::directory) << rel;
            EXPECT_EQ(stdfs::path(rel).filename().string().find('.'), std::string::npos) << rel;
        }
    }
    EXPECT_EQ(files, keys.size()) << "one file per object";
    auto sorted = keys;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(all_keys(fs), sorted);
}

TEST(Filesystem, SymlinksPlantedInTheRootAreNeverFollowed) {
    Scratch box;
    auto root = box.path() / "root";
    auto outside = box.path() / "outside";
    stdfs::create_directories(outside);
    Filesystem fs({.root = root});
    fs.put("x", "1");
    stdfs::create_directory_symlink(outside, root / "evil");
    EXPECT_THROW(fs.put("evil/k", "x"), TransportError);
    EXPECT_TRUE(stdfs::is_empty(outside));
    // A symlinked object file is not read either.
    { std::ofstream(outside / "k.obj") << "S3DBOBJ1 forged"; }
    stdfs::create_symlink(outside / "k.obj", root / "k.obj");
    EXPECT_THROW(fs.get("k"), TransportError);
    EXPECT_EQ(all_keys(fs), std::vector<std::string>{"x"});
}

TEST(Filesystem, ReadersNeverSeeATornOrMismatchedObject) {
    Scratch dir;
    Filesystem fs({.root = dir.path()});
    std::string a(512 * 1024, '\0'), b(512 * 1024, '\0');
    for (std::size_t i = 0; i < a.size(); ++i) {
        a[i] = static_cast<char>('a' + i % 13);
        b[i] = static_cast<char>('A' + i % 7);
    }
    auto etag_a = detail::etag_of(a), etag_b = detail::etag_of(b);
    fs.put("hot", a, {.content_type = "text/a", .metadata = {{"v", "a"}}});
    std::atomic<bool> done{false};
    std::atomic<long> reads{0}, torn{0}, mismatched{0};
    std::vector<std::thread> readers;
    for (int r = 0; r < 4; ++r)
        readers.emplace_back([&, r] {
            while (!done) {
                if (r == 3) {  // one reader checks head: description always of one version
                    auto h = fs.head("hot");
                    if (!h || !((h->etag == etag_a && h->metadata.at("v") == "a" && h->content_type == "text/a") ||
                                (h->etag == etag_b && h->metadata.at("v") == "b" && h->content_type == "text/b")))
                        ++mismatched;
                    ++reads;
                    continue;
                }
                auto got = fs.get("hot");
                if (!got) {
                    ++torn;
                    continue;
                }
                bool is_a = got->body == a, is_b = got->body == b;
                if (!is_a && !is_b) ++torn;
                else if (got->info.metadata.at("v") != (is_a ? "a" : "b") || got->info.etag != (is_a ? etag_a : etag_b) ||
                         got->info.content_type != (is_a ? "text/a" : "text/b"))
                    ++mismatched;
                ++reads;
            }
        });
    for (int i = 0; i < 150; ++i) {
        bool odd = i % 2;
        fs.put("hot", odd ? a : b, {.content_type = odd ? "text/a" : "text/b", .metadata = {{"v", odd ? "a" : "b"}}});
    }
    done = true;
    for (auto& t : readers) t.join();
    EXPECT_EQ(torn, 0);
    EXPECT_EQ(mismatched, 0);
    EXPECT_GT(reads, 100);
    // Nothing but the object is left in the folder: every temp file was renamed or removed.
    EXPECT_EQ(tree(dir.path()).size(), 1u);
}

namespace {
/// Forks `n` processes that wait on a pipe, then all run `attempt` at once. Returns their exit codes.
template <class Attempt>
std::vector<int> race_processes(int n, Attempt attempt) {
    int gate[2];
    if (::pipe(gate) != 0) throw std::runtime_error("pipe failed");
    std::vector<pid_t> pids;
    for (int i = 0; i < n; ++i) {
        pid_t pid = ::fork();
        if (pid == 0) {
            ::close(gate[1]);
            char c;
            while (::read(gate[0], &c, 1) < 0 && errno == EINTR) {}
            int code = 3;
            try {
                code = attempt(i);
            } catch (...) {
                code = 4;
            }
            ::_exit(code);
        }
        pids.push_back(pid);
    }
    ::close(gate[0]);
    ::close(gate[1]);  // end of file releases every waiting child at once
    std::vector<int> codes;
    for (auto pid : pids) {
        int status = 0;
        ::waitpid(pid, &status, 0);
        codes.push_back(WIFEXITED(status) ? WEXITSTATUS(status) : 100);
    }
    return codes;
}
}  // namespace

TEST(Filesystem, ConditionalWritesFromSeparateProcessesLetExactlyOneWin) {
    Scratch dir;
    Filesystem::Options opts{.root = dir.path()};
    Filesystem fs(opts);
    for (int round = 0; round < 12; ++round) {
        bool create = round % 2 == 0;
        std::string base_etag;
        if (create) fs.remove("shared/key");
        else base_etag = fs.put("shared/key", "base " + std::to_string(round)).etag;
        auto codes = race_processes(4, [&](int i) {
            Filesystem mine(opts);  // a separate store object, as another program would have
            try {
                auto body = "from process " + std::to_string(i);
                if (create) mine.put("shared/key", body, {.if_none_match = true});
                else mine.put("shared/key", body, {.if_match = base_etag});
                return 0;
            } catch (const PreconditionFailed&) {
                return 1;
            }
        });
        ASSERT_EQ(std::count(codes.begin(), codes.end(), 0), 1) << "round " << round;
        ASSERT_EQ(std::count(codes.begin(), codes.end(), 1), 3) << "round " << round;
        auto winner = std::find(codes.begin(), codes.end(), 0) - codes.begin();
        EXPECT_EQ(fs.get("shared/key")->body, "from process " + std::to_string(winner));
    }
}

TEST(Filesystem, LeftoverTempFilesAreInvisibleAndSweptOnlyWhenStaleAndUnlocked) {
    Scratch dir;
    Filesystem fs({.root = dir.path()});
    fs.put("c/k", "v1");
    auto obj_dir = dir.path() / "c";
    ASSERT_TRUE(stdfs::exists(obj_dir / "k.obj"));
    // A crash mid-write: a temp file holding the start of a newer version, next to the object and
    // in a directory of its own.
    auto write_leftover = [](const stdfs::path& p) {
        std::ofstream(p, std::ios::binary) << "S3DBOBJ1 and half a header";
    };
    stdfs::create_directories(dir.path() / "lonely");
    write_leftover(obj_dir / ".tmp.999.deadbeefdeadbeef");
    write_leftover(dir.path() / "lonely" / ".tmp.999.0123456789abcdef");
    EXPECT_EQ(fs.get("c/k")->body, "v1");
    EXPECT_EQ(all_keys(fs), std::vector<std::string>{"c/k"});
    EXPECT_TRUE(fs.list({.prefix = "lonely/"}).objects.empty());
    EXPECT_TRUE(stdfs::exists(obj_dir / ".tmp.999.deadbeefdeadbeef")) << "a fresh temp file may be a live writer's";

    // Old, but its writer still holds the lock: kept. Old and unlocked: removed by the next listing.
    auto age = [](const stdfs::path& p) {
        timespec old[2] = {{::time(nullptr) - 3600, 0}, {::time(nullptr) - 3600, 0}};
        ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), old, 0), 0);
    };
    age(obj_dir / ".tmp.999.deadbeefdeadbeef");
    age(dir.path() / "lonely" / ".tmp.999.0123456789abcdef");
    int held = ::open((obj_dir / ".tmp.999.deadbeefdeadbeef").c_str(), O_RDONLY);
    ASSERT_GE(held, 0);
    ASSERT_EQ(::flock(held, LOCK_EX), 0);
    all_keys(fs);
    EXPECT_TRUE(stdfs::exists(obj_dir / ".tmp.999.deadbeefdeadbeef"));
    EXPECT_FALSE(stdfs::exists(dir.path() / "lonely" / ".tmp.999.0123456789abcdef"));
    ::close(held);
    all_keys(fs);
    EXPECT_FALSE(stdfs::exists(obj_dir / ".tmp.999.deadbeefdeadbeef"));
    EXPECT_EQ(fs.get("c/k")->body, "v1");
    // The next write still works, and deleting the last object clears its directory.
    fs.put("c/k", "v2");
    EXPECT_EQ(fs.get("c/k")->body, "v2");
    fs.remove("c/k");
    EXPECT_FALSE(stdfs::exists(obj_dir));
}

TEST(Filesystem, NonDurableStoresWorkAndPersistAcrossInstances) {
    Scratch dir;
    {
        Filesystem fs({.root = dir.path() / "nested" / "root", .prefix = "app", .durable = false});
        EXPECT_FALSE(fs.options().durable);
        auto v1 = fs.put("users/1", "alice", {.content_type = "application/json", .metadata = {{"name", "Alice"}}});
        fs.copy("users/1", "users/2", {.directive = MetadataDirective::replace, .metadata = {{"name", "Bob"}}});
        EXPECT_THROW(fs.put("users/1", "x", {.if_none_match = true}), PreconditionFailed);
        fs.put("users/1", "alice v2", {.if_match = v1.etag});
        fs.put("tmp", "gone");
        fs.remove("tmp");
    }
    Filesystem again({.root = dir.path() / "nested" / "root", .prefix = "app/"});
    EXPECT_EQ(again.get("users/1")->body, "alice v2");
    EXPECT_EQ(again.get("users/2")->body, "alice");
    EXPECT_EQ(again.head("users/2")->metadata.at("name"), "Bob");
    EXPECT_EQ(again.head("users/2")->content_type, "application/json") << "a copy keeps the content type";
    EXPECT_EQ(all_keys(again), (std::vector<std::string>{"users/1", "users/2"}));
    Filesystem whole({.root = dir.path() / "nested" / "root"});
    EXPECT_EQ(all_keys(whole), (std::vector<std::string>{"app/users/1", "app/users/2"}));
}

TEST(Filesystem, RangedReadsWorkAndCutShortFilesAreReported) {
    Scratch dir;
    Filesystem fs({.root = dir.path()});
    std::string body(3 * 1024 * 1024, 'x');
    body.replace(body.size() - 5, 5, "tail!");
    fs.put("big", body);
    EXPECT_EQ(fs.get("big", {.range = ByteRange::tail(5)})->body, "tail!");
    // A file cut short on disk (not something a write can leave) is reported, never returned.
    auto file = dir.path() / "big.obj";
    auto full_size = stdfs::file_size(file);
    stdfs::resize_file(file, full_size - 1);
    EXPECT_THROW(fs.head("big"), TransportError) << "sizes are checked against the header";
    EXPECT_THROW(fs.get("big", {.range = ByteRange::between(0, 9)}), TransportError);
    stdfs::resize_file(file, full_size);
    EXPECT_EQ(fs.head("big")->size, body.size());
}

TEST(Filesystem, IoErrorsNameTheKeyAndTheSystemError) {
    Scratch dir;
    Filesystem fs({.root = dir.path()});
    { std::ofstream(dir.path() / "blocked") << "a file where a directory would go"; }
    try {
        fs.put("blocked/doc", "x");
        FAIL() << "expected TransportError";
    } catch (const TransportError& e) {
        std::string what = e.what();
        EXPECT_NE(what.find("blocked/doc"), std::string::npos) << what;
        EXPECT_NE(what.find("Not a directory"), std::string::npos) << what;
        EXPECT_EQ(e.key(), "blocked/doc");
    }
    // A damaged object file is reported, not returned.
    fs.put("doc", "fine");
    { std::ofstream(dir.path() / "doc.obj", std::ios::trunc) << "garbage"; }
    try {
        fs.get("doc");
        FAIL() << "expected CorruptObject";
    } catch (const CorruptObject& e) {
        EXPECT_NE(std::string(e.what()).find("corrupt"), std::string::npos) << e.what();
        EXPECT_EQ(e.key(), "doc");
    }
    EXPECT_THROW(fs.head("doc"), CorruptObject);
    // Listings do not read objects (as on S3): the damaged one is listed and hides no other.
    fs.put("doe", "fine");
    EXPECT_EQ(all_keys(fs), (std::vector<std::string>{"doc", "doe"}));
}

TEST(Filesystem, WritersAndDeletersSharingDirectoriesNeverLoseAWrite) {
    // Deletes remove directories left empty while other threads write into them.
    Scratch dir;
    Filesystem fs({.root = dir.path(), .durable = false});
    std::atomic<int> lost{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            auto key = "deep/er/still/k" + std::to_string(t);
            for (int i = 0; i < 400; ++i) {
                fs.put(key, std::to_string(i), {.if_none_match = true});
                auto got = fs.get(key);
                if (!got || got->body != std::to_string(i)) ++lost;
                fs.remove(key);
            }
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(lost, 0);
    EXPECT_TRUE(tree(dir.path()).empty());
}

TEST(Filesystem, HundredThousandObjectsListInHundredPagesAndAPrefixReadsLittle) {
    Scratch dir;
    Filesystem fs({.root = dir.path(), .durable = false});
    std::vector<std::string> keys;
    keys.reserve(100000);
    char buf[32];
    for (int d = 0; d < 100; ++d)
        for (int i = 0; i < 1000; ++i) {
            std::snprintf(buf, sizeof buf, "p%03d/item-%04d", d, i);
            keys.emplace_back(buf);
        }
    for (auto& k : keys) fs.put(k, "v");  // one writer: file creation is the cost, threads only contend

    std::size_t pages = 0;
    std::vector<std::string> listed;
    ListOptions o;
    for (;;) {
        auto page = fs.list(o);
        ++pages;
        ASSERT_LE(page.objects.size(), 1000u);
        for (auto& e : page.objects) listed.push_back(std::move(e.key));
        if (!page.truncated()) break;
        o.continuation_token = page.next_continuation_token;
    }
    EXPECT_EQ(pages, 100u);
    EXPECT_EQ(listed, keys) << "complete and in order";

    // A prefix listing opens only the directory of that prefix; a deeper start skips to its spot.
    auto before = fs.stats();
    auto page = fs.list({.prefix = "p042/"});
    auto after = fs.stats();
    EXPECT_EQ(page.objects.size(), 1000u);
    EXPECT_EQ(page.objects.front().key, "p042/item-0000");
    EXPECT_EQ(after.directories_read - before.directories_read, 1u);
    EXPECT_EQ(after.entries_read - before.entries_read, 1000u);

    before = fs.stats();
    page = fs.list({.prefix = "p04", .delimiter = "/"});
    after = fs.stats();
    EXPECT_EQ(page.common_prefixes.size(), 10u);
    EXPECT_TRUE(page.objects.empty());
    EXPECT_LE(after.entries_read - before.entries_read, 100u + 10u * 1000u);

    before = fs.stats();
    page = fs.list({.prefix = "p0", .start_after = "p099/item-0990"});
    after = fs.stats();
    EXPECT_EQ(page.objects.size(), 9u);
    EXPECT_EQ(after.directories_read - before.directories_read, 2u) << "the root and p099 only";
}

TEST(Filesystem, DamagedHeaderLengthsAreReportedWithoutAllocatingWhatTheyClaim) {
    Scratch dir;
    Filesystem fs({.root = dir.path()});
    fs.put("doc", "fine", {.metadata = {{"a", "b"}}});
    auto file = dir.path() / "doc.obj";
    auto patch = [&](std::streamoff at, std::string_view bytes) {
        std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(at);
        f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    };
    // The u32 header length right after the magic: 4 bytes asked for 4 GB on every read.
    patch(8, std::string("\xf0\xff\xff\xff", 4));
    auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < 3; ++i) {
        try {
            fs.get("doc");
            FAIL() << "a damaged object was returned";
        } catch (const TransportError& e) {
            std::string what = e.what();
            EXPECT_NE(what.find("4294967280"), std::string::npos) << what;
            EXPECT_NE(what.find("doc"), std::string::npos) << what;
            EXPECT_EQ(e.key(), "doc");
        }
        EXPECT_THROW(fs.head("doc"), TransportError);
        EXPECT_NO_THROW(all_keys(fs));  // listed as S3 lists, without reading it; reads refuse it
    }
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(1));
    // A string length inside the header past its end is refused the same way.
    fs.put("doc", "fine", {.metadata = {{"a", "b"}}});
    patch(12 + 16, std::string("\xff\xff\xff\x7f", 4));  // the key's length
    EXPECT_THROW(fs.get("doc"), TransportError);
}

namespace {
/// Every temp file under `root`.
std::vector<stdfs::path> temp_files(const stdfs::path& root) {
    std::vector<stdfs::path> out;
    for (auto& e : stdfs::recursive_directory_iterator(root))
        if (e.path().filename().string().starts_with(".tmp.")) out.push_back(e.path());
    return out;
}

/// The body a writer puts under key `k` in version `v`: its checksum is in the metadata.
std::string version_body(int k, int v) {
    std::string body(256 * 1024 + (v % 7) * 1000, '\0');
    for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + (i + k * 7 + v) % 26);
    return body;
}
}  // namespace

TEST(Filesystem, KilledWritersLeaveNoTornObjectAndTheirTempFilesAreCleanedUp) {
    Scratch dir;
    Filesystem::Options opts{.root = dir.path(), .durable = false};
    // Kill writers (SIGKILL, no unwinding) until some leave temp files behind, in folders no
    // listing below visits.
    std::vector<stdfs::path> leftovers;
    for (int round = 0; round < 50 && leftovers.size() < 2; ++round) {
        pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            Filesystem mine(opts);
            for (int v = 0;; ++v) {
                int k = v % 16;
                mine.put("never-listed/k" + std::to_string(k) + "/doc", version_body(k, v),
                         {.metadata = {{"k", std::to_string(k)}, {"v", std::to_string(v)}}});
            }
        }
        ::usleep(static_cast<useconds_t>(20000 + round * 3000));
        ::kill(pid, SIGKILL);
        int status = 0;
        ::waitpid(pid, &status, 0);
        ASSERT_TRUE(WIFSIGNALED(status));
        leftovers = temp_files(dir.path());
    }
    ASSERT_FALSE(leftovers.empty()) << "no writer was killed mid-write";

    // Fresh leftovers may belong to a live writer: opening keeps them (5-minute grace).
    { Filesystem reopened(opts); }
    for (auto& p : leftovers) EXPECT_TRUE(stdfs::exists(p)) << p;
    // Old ones go when the store is opened.
    for (auto& p : leftovers) {
        timespec old[2] = {{::time(nullptr) - 3600, 0}, {::time(nullptr) - 3600, 0}};
        ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), old, 0), 0);
    }
    Filesystem reopened(opts);
    EXPECT_TRUE(temp_files(dir.path()).empty());

    // Every object is one whole version: body, size, ETag and metadata agree.
    std::size_t objects = 0;
    for (int k = 0; k < 16; ++k) {
        auto got = reopened.get("never-listed/k" + std::to_string(k) + "/doc");
        if (!got) continue;
        ++objects;
        int v = std::stoi(got->info.metadata.at("v"));
        EXPECT_EQ(got->info.metadata.at("k"), std::to_string(k));
        EXPECT_EQ(got->body, version_body(k, v)) << "key " << k << " torn";
        EXPECT_EQ(got->info.etag, detail::etag_of(got->body));
        EXPECT_EQ(got->info.size, got->body.size());
    }
    EXPECT_GT(objects, 0u);
    EXPECT_EQ(all_keys(reopened).size(), objects);

    // The explicit call takes any age, and still spares a temp file whose writer holds its lock.
    auto lonely = dir.path() / "lonely";
    stdfs::create_directories(lonely);
    { std::ofstream(lonely / ".tmp.1.dead", std::ios::binary) << "S3DBOBJ1 half"; }
    { std::ofstream(lonely / ".tmp.1.live", std::ios::binary) << "S3DBOBJ1 half"; }
    int held = ::open((lonely / ".tmp.1.live").c_str(), O_RDONLY);
    ASSERT_GE(held, 0);
    ASSERT_EQ(::flock(held, LOCK_EX), 0);
    EXPECT_EQ(reopened.cleanup_temp_files(std::chrono::hours(1)), 0u);
    EXPECT_EQ(reopened.cleanup_temp_files(std::chrono::seconds(0)), 1u);
    EXPECT_FALSE(stdfs::exists(lonely / ".tmp.1.dead"));
    EXPECT_TRUE(stdfs::exists(lonely / ".tmp.1.live"));
    ::close(held);
    EXPECT_EQ(reopened.cleanup_temp_files(std::chrono::seconds(0)), 1u);
}
