// Connection strings: the forms s3db.js accepts, clear errors for the rest, and no secret in any message.

#include <gtest/gtest.h>

#include "s3db/transport/any.hpp"
#include "s3db/transport/memory.hpp"

using namespace s3db;
using Kind = ConnectionString::Kind;

TEST(ConnectionString, S3WithCredentialsBucketPrefixAndRegion) {
    auto c = ConnectionString::parse("s3://AKID:se%2Fcret@my-bucket/data/app?region=eu-west-1&sessionToken=tok");
    EXPECT_EQ(c.kind, Kind::s3);
    EXPECT_EQ(c.access_key_id, "AKID");
    EXPECT_EQ(c.secret_access_key, "se/cret");
    EXPECT_EQ(c.session_token, "tok");
    EXPECT_EQ(c.bucket, "my-bucket");
    EXPECT_EQ(c.prefix, "data/app");
    EXPECT_EQ(c.region, "eu-west-1");
    EXPECT_EQ(c.endpoint, "");
    EXPECT_FALSE(c.path_style);
}

TEST(ConnectionString, SecretsWithUnescapedSlashesStillParse) {
    auto c = ConnectionString::parse("s3://AKID:wJalr/K7MDENG+bPxR@bucket");
    EXPECT_EQ(c.secret_access_key, "wJalr/K7MDENG+bPxR");
    EXPECT_EQ(c.bucket, "bucket");
    EXPECT_EQ(c.prefix, "");
}

TEST(ConnectionString, HttpEndpointsArePathStyle) {
    auto c = ConnectionString::parse("http://minio:minio123@localhost:9000/bucket/p/q");
    EXPECT_EQ(c.kind, Kind::s3);
    EXPECT_EQ(c.endpoint, "http://localhost:9000");
    EXPECT_EQ(c.bucket, "bucket");
    EXPECT_EQ(c.prefix, "p/q");
    EXPECT_EQ(c.path_style, true);
    EXPECT_EQ(ConnectionString::parse("https://k:s@s3.example.com").bucket, "s3db");
}

TEST(ConnectionString, MemoryAndFile) {
    auto m = ConnectionString::parse("memory://mem/db/x");
    EXPECT_EQ(m.kind, Kind::memory);
    EXPECT_EQ(m.bucket, "mem");
    EXPECT_EQ(m.prefix, "db/x");
    EXPECT_EQ(ConnectionString::parse("memory://").bucket, "s3db");
    EXPECT_EQ(ConnectionString::parse("file:///var/data").path, "/var/data");
    EXPECT_EQ(ConnectionString::parse("file://./rel/dir").path, "./rel/dir");
    EXPECT_EQ(ConnectionString::parse("file:///var/data").kind, Kind::filesystem);
}

TEST(ConnectionString, MalformedUrlsGiveConfigErrorsWithoutSecrets) {
    for (auto url : {"no-scheme", "ftp://x/y", "s3://AKID:topsecret@/prefix", "http://AKID:topsecret@host:99999/b",
                     "http://AKID:topsecret@host:port/b", "s3://AKID:topsecret@b?unknown=1", "file://",
                     "s3://AKID:top%zzsecret@b", "http://AKID:topsecret@h/b?forcePathStyle=maybe"}) {
        try {
            ConnectionString::parse(url);
            ADD_FAILURE() << url << " was accepted";
        } catch (const ConfigError& e) {
            std::string what = e.what();
            EXPECT_EQ(what.find("topsecret"), std::string::npos) << what;
            EXPECT_EQ(what.find("secret"), std::string::npos) << what;
        }
    }
}

TEST(ConnectionString, SecretsWithRawAtAndQuestionMarksParse) {
    auto c = ConnectionString::parse("s3://AKID:p@ss?w/rd@bucket/prefix?region=eu-west-1");
    EXPECT_EQ(c.access_key_id, "AKID");
    EXPECT_EQ(c.secret_access_key, "p@ss?w/rd");
    EXPECT_EQ(c.bucket, "bucket");
    EXPECT_EQ(c.prefix, "prefix");
    EXPECT_EQ(c.region, "eu-west-1");
    auto h = ConnectionString::parse("http://minio:se@cr?et@localhost:9000/b");
    EXPECT_EQ(h.secret_access_key, "se@cr?et");
    EXPECT_EQ(h.endpoint, "http://localhost:9000");
    // An '@' in a prefix without credentials stays in the prefix.
    EXPECT_EQ(ConnectionString::parse("s3://bucket/mail/a@b.com").prefix, "mail/a@b.com");
}

TEST(ConnectionString, UnparseableUrlsShowNothingBeforeTheLastAt) {
    for (std::string url : {"s3://AKID:to@psec?ret@b?unknown=1", "http://AKID:to@psec?ret@host:99999/b",
                            "s3://AKID:to@psec?ret@", "AKID:to@psec?ret@bucket", "s3://AKID:to@psec?ret@b?forcePathStyle=x",
                            "ftp://AKID:to@psec?ret@b", "http://AKID:to@psec%zzret@h/b"}) {
        try {
            ConnectionString::parse(url);
            ADD_FAILURE() << url << " was accepted";
        } catch (const ConfigError& e) {
            std::string what = e.what();
            for (const char* piece : {"to@", "psec", "ret@", "AKID"}) EXPECT_EQ(what.find(piece), std::string::npos) << what;
        }
    }
}

TEST(ConnectionString, NulIsRefusedRawOrEscaped) {
    // file:///tmp/a%00b used to open /tmp/a.
    for (std::string url : {std::string("file:///tmp/a%00b"), std::string("file:///tmp/a\0b", 16), std::string("memory://b%00x"),
                            std::string("s3://AKID:se%00cret@bucket"), std::string("s3://AKID:secret@bu%00cket/p"),
                            std::string("s3://AKID:secret@bucket/p?region=eu%00west"), std::string("file:///tmp/a%0")}) {
        try {
            ConnectionString::parse(url);
            ADD_FAILURE() << InvalidKey::printable(url) << " was accepted";
        } catch (const ConfigError& e) {
            std::string what = e.what();
            EXPECT_EQ(what.find('\0'), std::string::npos);
            EXPECT_EQ(what.find("cret"), std::string::npos) << what;
        }
    }
    EXPECT_EQ(ConnectionString::parse("file:///tmp/a%20b").path, "/tmp/a b");
}

TEST(Any, OpensTheStoreTheUrlNames) {
    Any a("memory://any-test/p1");
    a.put("k", "v");
    EXPECT_TRUE(a.get_if<Memory>());
    // Same bucket name, same objects; the prefix separates them.
    Any same("memory://any-test/p1"), other("memory://any-test/p2");
    EXPECT_EQ(same.get("k")->body, "v");
    EXPECT_FALSE(other.get("k"));
    EXPECT_EQ(Memory::shared("any-test").get("p1/k")->body, "v");
}
