// One conformance suite, run against every transport: Memory, Filesystem, and S3 on a real Ceph RGW.
// Whatever the database does on one store, it must be able to rely on on all of them.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>

#include "s3db/transport/filesystem.hpp"
#include "s3db/transport/memory.hpp"
#include "s3db/transport/s3.hpp"
#include "support/stores.hpp"

using namespace s3db;

template <class T>
class Conformance : public ::testing::Test {
protected:
    T store = test::make_store<T>();
};

using Stores = ::testing::Types<Memory, Filesystem, S3>;
TYPED_TEST_SUITE(Conformance, Stores, test::StoreNames);

TYPED_TEST(Conformance, PutThenGetReturnsBodyContentTypeAndMetadata) {
    auto put = this->store.put("doc", "hello", {.content_type = "text/plain", .metadata = {{"a", "1"}, {"b", "two"}}});
    auto got = this->store.get("doc");
    ASSERT_TRUE(got);
    EXPECT_EQ(got->body, "hello");
    EXPECT_EQ(got->info.key, "doc");
    EXPECT_EQ(got->info.size, 5u);
    EXPECT_EQ(got->info.content_type, "text/plain");
    EXPECT_EQ(got->info.metadata, (Metadata{{"a", "1"}, {"b", "two"}}));
    EXPECT_EQ(got->info.etag, put.etag);
    EXPECT_GT(got->info.last_modified.time_since_epoch().count(), 0);
}

// read_object: in place on the memory store, through get() elsewhere; the same view either way.
static_assert(ReadsInPlace<Memory> && !ReadsInPlace<Filesystem> && !ReadsInPlace<S3>);
TYPED_TEST(Conformance, ReadObjectSeesWhatGetReturns) {
    this->store.put("doc", "hello", {.content_type = "text/plain", .metadata = {{"a", "1"}}});
    auto got = this->store.get("doc");
    auto seen = read_object(this->store, "doc", [&](const ObjectView& v) {
        EXPECT_EQ(v.body, got->body);
        EXPECT_EQ(v.etag, got->info.etag);
        EXPECT_EQ(v.content_type, got->info.content_type);
        EXPECT_EQ(v.metadata, got->info.metadata);
        EXPECT_EQ(v.last_modified, got->info.last_modified);
        return std::string(v.body);
    });
    EXPECT_EQ(seen, std::optional<std::string>("hello"));
    EXPECT_FALSE(read_object(this->store, "nope", [](const ObjectView&) { return 1; }));
}

// The memory store keeps metadata packed, its ETags, content types and keys inline up to a size
// and on the heap beyond, and shows metadata through one refilled map per thread.
TEST(MemoryStore, PackedObjectsReadBackWhateverTheirSizesAndNestedReadsSeeTheirOwnMetadata) {
    Memory a, b;
    const std::string long_value(300, 'v');  // a two-byte length
    const std::string long_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
    const std::string long_key = "resource=r/data/id=" + std::string(100, 'k');
    const Metadata big{{"a", long_value}, {"b", ""}, {"c", "short"}}, small{{"z", "1"}};
    a.put("x", "body", {.content_type = long_type, .metadata = big});
    a.put(long_key, "", {.metadata = small});
    b.put("y", "", {.content_type = "text/plain", .metadata = small});

    auto seen = read_object(a, "x", [&](const ObjectView& outer) {
        EXPECT_EQ(outer.content_type, long_type);
        EXPECT_EQ(outer.metadata, big);
        read_object(b, "y", [&](const ObjectView& inner) {
            EXPECT_EQ(inner.metadata, small);
            EXPECT_EQ(inner.content_type, "text/plain");
            return 0;
        });
        EXPECT_EQ(outer.metadata, big);  // the nested read did not refill the outer view
        return 0;
    });
    EXPECT_TRUE(seen);
    // One map refilled with fewer entries, then more again.
    EXPECT_EQ(read_object(a, long_key, [](const ObjectView& v) { return v.metadata; }), small);
    EXPECT_EQ(read_object(a, "x", [](const ObjectView& v) { return v.metadata; }), big);
    EXPECT_EQ(a.head(long_key)->key, long_key);
    EXPECT_EQ(a.list({.prefix = "resource="}).objects.at(0).key, long_key);

    a.copy("x", "x2", {.directive = MetadataDirective::replace, .metadata = small, .content_type = "text/csv"});
    auto copied = a.get("x2");
    EXPECT_EQ(copied->info.metadata, small);
    EXPECT_EQ(copied->info.content_type, "text/csv");
    EXPECT_EQ(copied->info.etag, a.head("x")->etag);
    a.copy("x", "x3");
    EXPECT_EQ(a.get("x3")->info.metadata, big);
    EXPECT_EQ(a.get("x3")->info.content_type, long_type);
}

TYPED_TEST(Conformance, EtagIsTheQuotedMd5OfTheBody) {
    auto put = this->store.put("k", "hello");
    EXPECT_EQ(put.etag, "\"5d41402abc4b2a76b9719d911017c592\"");
    EXPECT_EQ(this->store.head("k")->etag, put.etag);
}

TYPED_TEST(Conformance, EmptyAndBinaryBodiesRoundTrip) {
    std::string binary("a\0b\xff\x00z", 6);
    this->store.put("empty", "");
    this->store.put("binary", binary);
    EXPECT_EQ(this->store.get("empty")->body, "");
    EXPECT_EQ(this->store.head("empty")->size, 0u);
    EXPECT_EQ(this->store.get("binary")->body, binary);
}

TYPED_TEST(Conformance, MissingKeysReadAsNothing) {
    EXPECT_FALSE(this->store.get("nope"));
    EXPECT_FALSE(this->store.head("nope"));
}

TYPED_TEST(Conformance, HeadDescribesWithoutReadingTheBody) {
    this->store.put("k", std::string(1000, 'x'), {.content_type = "application/json", .metadata = {{"m", "v"}}});
    auto info = this->store.head("k");
    ASSERT_TRUE(info);
    EXPECT_EQ(info->size, 1000u);
    EXPECT_EQ(info->content_type, "application/json");
    EXPECT_EQ(info->metadata.at("m"), "v");
}

TYPED_TEST(Conformance, OverwriteReplacesBodyAndMetadata) {
    this->store.put("k", "one", {.metadata = {{"old", "1"}}});
    this->store.put("k", "two", {.metadata = {{"new", "2"}}});
    auto got = this->store.get("k");
    EXPECT_EQ(got->body, "two");
    EXPECT_EQ(got->info.metadata, (Metadata{{"new", "2"}}));
}

TYPED_TEST(Conformance, MetadataKeysComeBackLowercase) {
    this->store.put("k", "", {.metadata = {{"CamelCase", "Value"}}});
    EXPECT_EQ(this->store.head("k")->metadata, (Metadata{{"camelcase", "Value"}}));
}

TYPED_TEST(Conformance, UnderscoreMarkerKeysRoundTrip) {
    // s3db's markers start with '_' (Ceph RGW returns them as '-v', '-overflow': restored on read).
    Metadata m{{"_v", "v1"}, {"_overflow", "true"}, {"0", "a"}, {"1a", "b"}};
    this->store.put("k", "", {.metadata = m});
    EXPECT_EQ(this->store.head("k")->metadata, m);
    EXPECT_EQ(this->store.get("k")->info.metadata, m);
}

TYPED_TEST(Conformance, Utf8AndLookalikeMetadataValuesRoundTrip) {
    Metadata m{{"city", "São Paulo"},  {"tokyo", "東京"},   {"emoji", "ok 👍"}, {"tab", "a\tb"},
               {"d", "d:j"},           {"u", "u:%41"},     {"b", "b:aGk="},    {"plain", "plain ascii ~!"},
               {"latin", "àéîõü"},     {"empty", ""}};
    this->store.put("k", "", {.metadata = m});
    EXPECT_EQ(this->store.head("k")->metadata, m);
    EXPECT_EQ(this->store.get("k")->info.metadata, m);
}

TYPED_TEST(Conformance, MetadataOverTwoKilobytesIsRefusedAndNothingIsStored) {
    // AWS counts the UTF-8 bytes of keys and values: 2048 fits, 2049 does not.
    this->store.put("fits", "", {.metadata = {{"k", std::string(2047, 'v')}}});
    EXPECT_TRUE(this->store.head("fits"));
    try {
        this->store.put("big", "body", {.metadata = {{"k", std::string(2048, 'v')}}});
        FAIL() << "expected MetadataTooLarge";
    } catch (const MetadataTooLarge& e) {
        EXPECT_EQ(e.size(), 2049u);
        EXPECT_EQ(e.limit(), 2048u);
        EXPECT_NE(std::string(e.what()).find("2048"), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("big"), std::string::npos);
    }
    EXPECT_FALSE(this->store.head("big"));
    // Non-ASCII values are counted as sent: 300 × "aé" is 900 bytes raw but 2102 percent-encoded.
    std::string accents;
    for (int i = 0; i < 300; ++i) accents += "aé";
    EXPECT_THROW(this->store.put("big", "", {.metadata = {{"k", accents}}}), MetadataTooLarge);
    EXPECT_FALSE(this->store.head("big"));
}

TYPED_TEST(Conformance, KeysMustBeOneTo1024Bytes) {
    EXPECT_THROW(this->store.put("", "x"), InvalidKey);
    std::string longest(1024 - test::prefix_bytes(this->store), 'k');
    this->store.put(longest, "x");
    EXPECT_EQ(this->store.get(longest)->body, "x");
    try {
        this->store.put(std::string(1025, 'k'), "x");
        FAIL() << "expected InvalidKey";
    } catch (const InvalidKey& e) {
        EXPECT_NE(std::string(e.what()).find("1024"), std::string::npos);
    }
}

TYPED_TEST(Conformance, IfNoneMatchStarCreatesOnlyOnce) {
    this->store.put("k", "first", {.if_none_match = true});
    EXPECT_THROW(this->store.put("k", "second", {.if_none_match = true}), PreconditionFailed);
    EXPECT_EQ(this->store.get("k")->body, "first");
}

TYPED_TEST(Conformance, IfMatchWritesOnlyOverTheExpectedVersion) {
    auto v1 = this->store.put("k", "v1");
    auto v2 = this->store.put("k", "v2", {.if_match = v1.etag});
    EXPECT_THROW(this->store.put("k", "v3", {.if_match = v1.etag}), PreconditionFailed);
    EXPECT_EQ(this->store.get("k")->body, "v2");
    // Quoted or bare, the same ETag matches.
    this->store.put("k", "v4", {.if_match = std::string(detail::bare_etag(v2.etag))});
    EXPECT_EQ(this->store.get("k")->body, "v4");
}

TYPED_TEST(Conformance, IfMatchOnAMissingKeyFails) {
    EXPECT_THROW(this->store.put("ghost", "x", {.if_match = "\"5d41402abc4b2a76b9719d911017c592\""}), PreconditionFailed);
    EXPECT_FALSE(this->store.head("ghost"));
}

TYPED_TEST(Conformance, ConditionalGets) {
    auto put = this->store.put("k", "body");
    EXPECT_EQ(this->store.get("k", {.if_match = put.etag})->body, "body");
    EXPECT_THROW(this->store.get("k", {.if_match = "\"00000000000000000000000000000000\""}), PreconditionFailed);
    EXPECT_THROW(this->store.get("k", {.if_none_match = put.etag}), NotModified);
    EXPECT_EQ(this->store.get("k", {.if_none_match = "\"00000000000000000000000000000000\""})->body, "body");
}

TYPED_TEST(Conformance, RangedReads) {
    this->store.put("k", "0123456789");
    auto read = [&](ByteRange r) {
        auto o = this->store.get("k", {.range = r});
        EXPECT_EQ(o->info.size, 10u) << "size is the whole object's";
        return o->body;
    };
    EXPECT_EQ(read(ByteRange::between(1, 3)), "123");
    EXPECT_EQ(read(ByteRange::from(7)), "789");
    EXPECT_EQ(read(ByteRange::tail(2)), "89");
    EXPECT_EQ(read(ByteRange::between(8, 100)), "89");
    EXPECT_EQ(read(ByteRange::tail(100)), "0123456789");
    EXPECT_THROW(this->store.get("k", {.range = ByteRange::from(10)}), InvalidRange);
}

TYPED_TEST(Conformance, CopyKeepsOrReplacesMetadata) {
    auto src = this->store.put("src", "body", {.content_type = "text/plain", .metadata = {{"a", "1"}}});
    auto kept = this->store.copy("src", "kept");
    EXPECT_EQ(kept.etag, src.etag);
    auto k = this->store.get("kept");
    EXPECT_EQ(k->body, "body");
    EXPECT_EQ(k->info.content_type, "text/plain");
    EXPECT_EQ(k->info.metadata, (Metadata{{"a", "1"}}));

    this->store.copy("src", "replaced",
                     {.directive = MetadataDirective::replace, .metadata = {{"b", "ü"}}, .content_type = "application/json"});
    auto r = this->store.get("replaced");
    EXPECT_EQ(r->body, "body");
    EXPECT_EQ(r->info.content_type, "application/json");
    EXPECT_EQ(r->info.metadata, (Metadata{{"b", "ü"}}));

    // In place, as an update of metadata only.
    this->store.copy("src", "src", {.directive = MetadataDirective::replace, .metadata = {{"c", "3"}}});
    EXPECT_EQ(this->store.head("src")->metadata, (Metadata{{"c", "3"}}));
}

TYPED_TEST(Conformance, CopyConditionsAndMissingSources) {
    auto v1 = this->store.put("src", "v1");
    this->store.put("src", "v2");
    EXPECT_THROW(this->store.copy("src", "dst", {.source_if_match = v1.etag}), PreconditionFailed);
    EXPECT_FALSE(this->store.head("dst"));
    EXPECT_THROW(this->store.copy("missing", "dst"), NotFound);
    EXPECT_THROW(this->store.copy("src", "dst", {.directive = MetadataDirective::replace,
                                                 .metadata = {{"k", std::string(3000, 'v')}}}),
                 MetadataTooLarge);
    EXPECT_FALSE(this->store.head("dst"));
}

TYPED_TEST(Conformance, RemoveIsIdempotent) {
    this->store.put("k", "x");
    this->store.remove("k");
    EXPECT_FALSE(this->store.head("k"));
    EXPECT_NO_THROW(this->store.remove("k"));
}

namespace {
template <class T>
void put_many(T& store, const std::vector<std::string>& keys) {
    std::atomic<std::size_t> next{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < 8; ++t)
        workers.emplace_back([&] {
            for (std::size_t i; (i = next++) < keys.size();) store.put(keys[i], "x");
        });
    for (auto& w : workers) w.join();
}

template <class T>
std::vector<std::string> list_all(T& store, ListOptions o, std::size_t* pages = nullptr, std::vector<std::string>* prefixes = nullptr) {
    std::vector<std::string> keys;
    std::size_t n = 0;
    for (;;) {
        auto page = store.list(o);
        ++n;
        EXPECT_LE(page.objects.size() + page.common_prefixes.size(), std::max<std::size_t>(o.max_keys, 1));
        for (auto& e : page.objects) keys.push_back(e.key);
        if (prefixes) prefixes->insert(prefixes->end(), page.common_prefixes.begin(), page.common_prefixes.end());
        if (!page.truncated()) break;
        o.continuation_token = page.next_continuation_token;
    }
    if (pages) *pages = n;
    return keys;
}
}  // namespace

TYPED_TEST(Conformance, ListsInByteOrderWhenKeysArePrefixesOfEachOther) {
    std::vector<std::string> keys{"o/a", "o/a-1", "o/a.x", "o/a/b", "o/a/b/c", "o/a b", "o/ab", "o/b", "o/é", "o/~",
                                  "o/A", "o/a//double", "o/a/"};
    put_many(this->store, keys);
    this->store.put("other", "x");
    auto sorted = keys;
    std::sort(sorted.begin(), sorted.end());
    for (std::size_t page_size : {1000, 3, 1}) {
        std::size_t pages = 0;
        EXPECT_EQ(list_all(this->store, {.prefix = "o/", .max_keys = page_size}, &pages), sorted) << page_size;
        EXPECT_EQ(pages, (sorted.size() + page_size - 1) / page_size) << page_size;
    }
    auto listed = this->store.list({.prefix = "o/a/"});
    ASSERT_EQ(listed.objects.size(), 4u);
    EXPECT_EQ(listed.objects[0].key, "o/a/");
    EXPECT_EQ(listed.objects[0].size, 1u);
    EXPECT_EQ(listed.objects[0].etag, this->store.head("o/a/")->etag);
}

TYPED_TEST(Conformance, DelimiterRollsKeysUpIntoCommonPrefixes) {
    put_many(this->store, {"d/1", "d/x/1", "d/x/2", "d/y/1", "d/z", "d/x-", "e"});
    auto page = this->store.list({.prefix = "d/", .delimiter = "/"});
    std::vector<std::string> objects;
    for (auto& e : page.objects) objects.push_back(e.key);
    EXPECT_EQ(objects, (std::vector<std::string>{"d/1", "d/x-", "d/z"}));
    EXPECT_EQ(page.common_prefixes, (std::vector<std::string>{"d/x/", "d/y/"}));
    EXPECT_FALSE(page.truncated());
    // Paging one entry at a time visits every object and prefix once.
    std::vector<std::string> prefixes;
    auto keys = list_all(this->store, {.prefix = "d/", .delimiter = "/", .max_keys = 1}, nullptr, &prefixes);
    EXPECT_EQ(keys, objects);
    EXPECT_EQ(prefixes, page.common_prefixes);
}

TYPED_TEST(Conformance, StartAfterSkipsToTheGivenKey) {
    put_many(this->store, {"s/1", "s/2", "s/3", "s/4"});
    EXPECT_EQ(list_all(this->store, {.prefix = "s/", .start_after = "s/2"}), (std::vector<std::string>{"s/3", "s/4"}));
    EXPECT_EQ(list_all(this->store, {.prefix = "s/", .start_after = "s/25"}), (std::vector<std::string>{"s/3", "s/4"}));
}

TYPED_TEST(Conformance, LargeListingsComeInPagesOf1000AndRemoveManyBatches) {
    std::vector<std::string> keys;
    for (int i = 0; i < 2100; ++i) keys.push_back("bulk/" + std::to_string(100000 + i));
    put_many(this->store, keys);
    std::size_t pages = 0;
    EXPECT_EQ(list_all(this->store, {.prefix = "bulk/"}, &pages), keys);
    EXPECT_EQ(pages, 3u);
    auto removed = this->store.remove_many(keys);
    EXPECT_EQ(removed.removed.size(), keys.size());
    EXPECT_TRUE(removed.failed.empty());
    EXPECT_TRUE(this->store.list({.prefix = "bulk/"}).objects.empty());
}

TYPED_TEST(Conformance, BodiesOverEightMebibytesRoundTrip) {
    std::string body(8 * 1024 * 1024 + 1, '\0');
    std::mt19937 rng(7);
    for (auto& c : body) c = static_cast<char>(rng());
    this->store.put("big", body, {.metadata = {{"kept", "yes"}}});
    auto got = this->store.get("big");
    ASSERT_TRUE(got);
    EXPECT_EQ(got->body.size(), body.size());
    EXPECT_TRUE(got->body == body);
    EXPECT_EQ(got->info.metadata.at("kept"), "yes");
    EXPECT_EQ(this->store.get("big", {.range = ByteRange::tail(3)})->body, body.substr(body.size() - 3));
}

TYPED_TEST(Conformance, RacingIfMatchWritersExactlyOneWins) {
    for (int round = 0; round < 10; ++round) {
        auto base = this->store.put("race", "base");
        std::atomic<int> wins{0}, conflicts{0};
        std::barrier sync(2);
        auto writer = [&](std::string body) {
            sync.arrive_and_wait();
            try {
                this->store.put("race", body, {.if_match = base.etag});
                ++wins;
            } catch (const PreconditionFailed&) {
                ++conflicts;
            }
        };
        std::thread a(writer, "from-a"), b(writer, "from-b");
        a.join();
        b.join();
        ASSERT_EQ(wins, 1) << "round " << round;
        ASSERT_EQ(conflicts, 1) << "round " << round;
    }
}

TYPED_TEST(Conformance, ConcurrentCreatorsExactlyOneWins) {
    std::atomic<int> wins{0}, conflicts{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&, t] {
            try {
                this->store.put("once", std::to_string(t), {.if_none_match = true});
                ++wins;
            } catch (const PreconditionFailed&) {
                ++conflicts;
            }
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(wins, 1);
    EXPECT_EQ(conflicts, 7);
}

TYPED_TEST(Conformance, ForeignContinuationTokensAreRefused) {
    EXPECT_THROW(this->store.list({.continuation_token = "not a token!"}), TransportError);
}
