// Record ids: the default generator (s3db.js's alphabet, length and uniform distribution) and the
// checks every id passes before it becomes part of a key.

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <mutex>
#include <thread>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "s3db/core/ids.hpp"

using namespace s3db;

namespace {

/// Pearson's chi-square statistic of `counts` against a uniform distribution.
double chi_square(const std::vector<double>& counts) {
    double total = 0;
    for (double c : counts) total += c;
    const double expected = total / static_cast<double>(counts.size());
    double x2 = 0;
    for (double c : counts) x2 += (c - expected) * (c - expected) / expected;
    return x2;
}

/// The InvalidId that validate_id throws for `id` (reason empty when it throws none).
InvalidId rejection(const std::string& id, const std::string& resource = "users") {
    try {
        validate_id(resource, id);
    } catch (const InvalidId& e) {
        return e;
    }
    return InvalidId(resource, id, "");
}

}  // namespace

TEST(Ids, UrlAlphabetIsS3dbJsSixtyFourCharacters) {
    // s3db.js 21.6.2 `getUrlAlphabet()`.
    EXPECT_EQ(url_alphabet, "useandom-26T198340PX75pxJACKVERYMINDBUSHWOLF_GQZbfghjklqvwyzrict");
    EXPECT_EQ(std::set<char>(url_alphabet.begin(), url_alphabet.end()).size(), 64u);
    EXPECT_EQ(default_id_size, 22u);
}

TEST(Ids, HundredThousandDefaultIdsAreDistinct22CharacterUrlSafeIds) {
    std::unordered_set<std::string> seen;
    seen.reserve(100000);
    for (int i = 0; i < 100000; ++i) {
        std::string id = random_id();
        ASSERT_EQ(id.size(), 22u) << id;
        ASSERT_EQ(id.find_first_not_of(url_alphabet), std::string::npos) << id;
        ASSERT_TRUE(seen.insert(std::move(id)).second) << "duplicate id after " << i << " ids";
    }
}

TEST(Ids, AForkedChildNeverRepeatsItsParentsIds) {
    // Ids come from a per-thread buffer of CSPRNG bytes: a child that kept its copy of the buffer
    // would hand out the parent's next ids.
    (void)random_id();  // the buffer now holds bytes for the ids to come
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        close(fds[0]);
        std::string ids;
        for (int i = 0; i < 20; ++i) ids += random_id();
        const bool ok = write(fds[1], ids.data(), ids.size()) == static_cast<ssize_t>(ids.size());
        _exit(ok ? 0 : 1);
    }
    close(fds[1]);
    std::string theirs(20 * default_id_size, '\0');
    std::size_t got = 0;
    for (ssize_t r; got < theirs.size() && (r = read(fds[0], theirs.data() + got, theirs.size() - got)) > 0;) got += r;
    close(fds[0]);
    int status = 0;
    waitpid(child, &status, 0);
    ASSERT_EQ(got, theirs.size());
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    std::set<std::string> seen;
    for (int i = 0; i < 20; ++i) seen.insert(random_id());
    for (int i = 0; i < 20; ++i) {
        const std::string id = theirs.substr(i * default_id_size, default_id_size);
        EXPECT_TRUE(seen.insert(id).second) << "the child's id " << id << " is one the parent made";
    }
}

TEST(Ids, ThreadsDrawDistinctIds) {
    std::mutex m;
    std::unordered_set<std::string> seen;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            std::vector<std::string> mine;
            for (int i = 0; i < 5000; ++i) mine.push_back(random_id());
            std::lock_guard lock(m);
            for (auto& id : mine) seen.insert(std::move(id));
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(seen.size(), 20000u);
}

TEST(Ids, DefaultIdCharactersAreUniformOverTheAlphabetAndPositions) {
    std::array<std::vector<double>, 22> per_position;
    for (auto& counts : per_position) counts.assign(64, 0);
    std::vector<double> overall(64, 0);
    for (int i = 0; i < 100000; ++i) {
        const std::string id = random_id();
        for (std::size_t pos = 0; pos < id.size(); ++pos) {
            const auto index = url_alphabet.find(id[pos]);
            ++per_position[pos][index];
            ++overall[index];
        }
    }
    // 63 degrees of freedom: a fair generator passes 132 once in a million runs. One character 10%
    // likelier adds about 340 overall; a stuck position adds millions.
    EXPECT_LT(chi_square(overall), 135);
    for (std::size_t pos = 0; pos < 22; ++pos) EXPECT_LT(chi_square(per_position[pos]), 145) << "position " << pos;
}

TEST(Ids, CustomAlphabetOfNinetyOneCharactersHasNoModuloBias) {
    // 256 = 2*91 + 74: `byte % 91` would make the first 74 characters 1.5 times as likely as the rest.
    std::string alphabet;
    for (char c = 0x20; c < 0x7F; ++c)
        if (c != '/' && c != '\\' && c != '=' && c != '%') alphabet += c;
    ASSERT_EQ(alphabet.size(), 91u);
    std::vector<double> counts(91, 0);
    for (int i = 0; i < 20000; ++i)
        for (char c : random_id(50, alphabet)) ++counts[alphabet.find(c)];
    // 90 degrees of freedom: a fair generator passes 169 once in a million runs; modulo bias gives
    // about 19 000.
    EXPECT_LT(chi_square(counts), 175);
}

TEST(Ids, GeneratorHonoursIdSizeAndAlphabet) {
    IdGenerator eight = make_id_generator(8);
    EXPECT_EQ(eight().size(), 8u);
    IdGenerator hex = make_id_generator(32, "0123456789abcdef");
    const std::string h = hex();
    EXPECT_EQ(h.size(), 32u);
    EXPECT_EQ(h.find_first_not_of("0123456789abcdef"), std::string::npos);
    IdGenerator single = make_id_generator(5, "x");
    EXPECT_EQ(single(), "xxxxx");
    IdGenerator custom = [n = 0]() mutable { return "order-" + std::to_string(++n); };
    EXPECT_EQ(custom(), "order-1");
    EXPECT_EQ(custom(), "order-2");
}

TEST(Ids, GeneratorRefusesUnusableAlphabetsAndSizes) {
    EXPECT_THROW(make_id_generator(0), ConfigError);
    EXPECT_THROW(make_id_generator(10, ""), ConfigError);
    EXPECT_THROW(make_id_generator(10, "abca"), ConfigError);   // repeated: 'a' twice as likely
    EXPECT_THROW(make_id_generator(10, "ab/c"), ConfigError);   // ids could not hold it
    EXPECT_THROW(make_id_generator(10, "ab%c"), ConfigError);
    EXPECT_THROW(make_id_generator(10, "ab\nc"), ConfigError);
    EXPECT_THROW(make_id_generator(10, "ab\xC3\xA9"), ConfigError);  // drawn bytewise: no UTF-8
    EXPECT_THROW(random_id(10, "aa"), ConfigError);
}

TEST(Ids, ValidateAcceptsGeneratedAndOrdinaryIds) {
    for (int i = 0; i < 1000; ++i) EXPECT_NO_THROW(validate_id("users", random_id()));
    for (const char* id : {"u1", "user-1", "a.b", "a..b", "José", "with space", "2024-01-02T03:04:05Z", "😀", "+x"})
        EXPECT_NO_THROW(validate_id("users", id)) << id;
}

TEST(Ids, ValidateRejectsEmptyAndDotIdsNamingResourceAndId) {
    auto e = rejection("");
    EXPECT_EQ(e.resource(), "users");
    EXPECT_EQ(e.id(), "");
    EXPECT_EQ(e.reason(), "it is empty");
    EXPECT_STREQ(e.what(), "invalid id '' for resource 'users': it is empty");
    EXPECT_NE(rejection(".").reason(), "");
    EXPECT_NE(rejection("..").reason(), "");
    EXPECT_STREQ(rejection("..", "orders").what(),
                 "invalid id '..' for resource 'orders': '.' and '..' are not allowed as ids");
}

TEST(Ids, ValidateRejectsCharactersS3dbJsRefuses) {
    for (const char* id : {"a/b", "a\\b", "a=b", "50%"}) {
        auto e = rejection(id);
        EXPECT_EQ(e.id(), id);
        EXPECT_NE(e.reason().find("s3db.js does not allow"), std::string::npos) << id << ": " << e.reason();
    }
    EXPECT_STREQ(rejection("a/b").what(),
                 "invalid id 'a/b' for resource 'users': it contains '/', which s3db.js does not allow in ids");
}

TEST(Ids, ValidateRejectsControlCharactersAndBadUtf8WithoutPrintingThem) {
    auto newline = rejection("a\nb");
    EXPECT_EQ(newline.reason(), "it contains U+000A, which S3 listings cannot carry");
    EXPECT_STREQ(newline.what(),
                 "invalid id 'a\\x0ab' for resource 'users': it contains U+000A, which S3 listings cannot carry");
    EXPECT_EQ(rejection(std::string("a\0b", 3)).reason(), "it contains U+0000, which S3 listings cannot carry");
    EXPECT_EQ(rejection("a\x7f").reason(), "it contains U+007F, which S3 listings cannot carry");
    EXPECT_EQ(rejection("a\xEF\xBF\xBE").reason(), "it contains U+FFFE, which S3 listings cannot carry");
    EXPECT_EQ(rejection("a\xff").reason(), "it is not valid UTF-8 (byte 1)");
    EXPECT_EQ(rejection("\xC0\xAF").reason(), "it is not valid UTF-8 (byte 0)");      // overlong '/'
    EXPECT_EQ(rejection("\xED\xA0\x80").reason(), "it is not valid UTF-8 (byte 0)");  // a surrogate
    EXPECT_EQ(rejection("ab\xC3").reason(), "it is not valid UTF-8 (byte 2)");        // truncated
}

TEST(Ids, ValidateRejectsIdsWhoseRecordKeyPassesTheKeyLimit) {
    // "resource=users/data/id=" is 23 bytes, so 1001 bytes of id make a 1024-byte key.
    EXPECT_EQ(record_key("users", std::string(1001, 'a')).size(), 1024u);
    EXPECT_NO_THROW(validate_id("users", std::string(1001, 'a')));
    auto e = rejection(std::string(1002, 'a'));
    EXPECT_EQ(e.reason(), "its record key would be 1025 bytes, over S3's limit of 1024");
    EXPECT_EQ(e.id().size(), 1002u);
    EXPECT_LT(std::string(e.what()).size(), 400u);  // the message shows a bounded piece of the id
    // The limit counts the resource name too.
    EXPECT_THROW(validate_id(std::string(990, 'r'), std::string(20, 'a')), InvalidId);
}

TEST(Ids, RecordKeyIsS3dbJsLayout) {
    EXPECT_EQ(record_key("users", "u1"), "resource=users/data/id=u1");
}

TEST(Ids, IdSizesThatCannotMakeAKeyAreRefusedAtTheEntry) {
    // A negative idSize used to become a huge size_t and throw std::length_error at the first insert.
    EXPECT_THROW(make_id_generator(static_cast<std::size_t>(-1)), ConfigError);
    EXPECT_THROW(make_id_generator(max_key_bytes + 1), ConfigError);
    EXPECT_EQ(make_id_generator(max_key_bytes)().size(), max_key_bytes);
    for (long long bad : {-1LL, 0LL, 1002LL, 1LL << 40}) {
        try {
            validate_id_size("users", bad);
            ADD_FAILURE() << bad << " was accepted";
        } catch (const ConfigError& e) {
            std::string what = e.what();
            EXPECT_NE(what.find("'users'"), std::string::npos) << what;
            EXPECT_NE(what.find(std::to_string(bad)), std::string::npos) << what;
            EXPECT_NE(what.find("1024"), std::string::npos) << what;
        }
    }
    // "resource=users/data/id=" is 23 bytes: 1001 characters of id still fit.
    EXPECT_NO_THROW(validate_id_size("users", 1));
    EXPECT_NO_THROW(validate_id_size("users", 1001));
}

TEST(Ids, ResourceNamesTooLongForARecordKeyAreRefused) {
    // 18 bytes of layout + name + a 22-character id must fit in 1024 bytes.
    EXPECT_NO_THROW(validate_resource_name(std::string(984, 'r')));
    EXPECT_THROW(validate_resource_name(std::string(985, 'r')), ConfigError);
    try {
        validate_resource_name(std::string(1020, 'r'));
        FAIL() << "a 1,020-byte name was accepted";
    } catch (const ConfigError& e) {
        std::string what = e.what();
        EXPECT_NE(what.find("1020 bytes"), std::string::npos) << what;
        EXPECT_NE(what.find("1024"), std::string::npos) << what;
        EXPECT_LT(what.size(), 500u) << "the name is shown bounded";
    }
    // The resource's own idSize decides.
    EXPECT_NO_THROW(validate_resource_name(std::string(1000, 'r'), 6));
    EXPECT_THROW(validate_resource_name(std::string(1000, 'r'), 7), ConfigError);
}
