// The S3 transport. Three groups:
//  - S3Addressing: URL building and presigning, no network;
//  - S3Scripted: a tiny local HTTP server that answers with what a test scripts (garbage bodies,
//    errors inside a 200, throttling, lost answers), to check error mapping and retries exactly;
//  - S3Rgw: against the Ceph RGW that ./tests/run.sh starts, named by S3DB_TEST_S3_URL
//    (http://KEY:SECRET@host:port/<bucket>): every run works in its own new bucket and deletes it.
// What every transport must do alike is the lead's conformance suite; this file is S3-only.

#include <curl/curl.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "s3db/transport/s3.hpp"
#include "support/http_server.hpp"

using namespace s3db;
using namespace std::chrono_literals;

namespace {

Credentials test_credentials() { return {"AKIDEXAMPLE", "s3cr3t-never-shown-0123456789", ""}; }

// ---- a scripted HTTP server -------------------------------------------------------------------

using test::http_response;

std::string s3_error(const std::string& code, const std::string& message = "") {
    return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>" + code + "</Code><Message>" + message +
           "</Message><RequestId>REQ123</RequestId></Error>";
}

S3Options scripted_options(const test::HttpServer& server, std::vector<std::chrono::milliseconds>* sleeps = nullptr) {
    S3Options o;
    o.bucket = "bucket";
    o.endpoint = server.url();
    o.region = "us-east-1";
    o.credentials = test_credentials();
    o.retry.random = [] { return 0.5; };
    o.retry.sleep = [sleeps](std::chrono::milliseconds d) {
        if (sleeps) sleeps->push_back(d);
    };
    return o;
}

// ---- plain libcurl, for presigned URLs ------------------------------------------------------

struct PlainResponse {
    long status = 0;
    std::string body;
};

PlainResponse plain_curl(const std::string& method, const std::string& url, const std::string& body = {}) {
    PlainResponse out;
    CURL* c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, +[](char* d, std::size_t s, std::size_t n, void* u) {
        static_cast<std::string*>(u)->append(d, s * n);
        return s * n;
    });
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out.body);
    if (method == "PUT") {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
    }
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out.status);
    curl_easy_cleanup(c);
    return out;
}

}  // namespace

// ---- addressing (no network) ----------------------------------------------------------------

class S3Addressing : public ::testing::Test {
protected:
    void SetUp() override {
        ::unsetenv("AWS_ENDPOINT_URL_S3");
        ::unsetenv("AWS_ENDPOINT_URL");
    }
    static S3Options aws(std::string bucket) {
        S3Options o;
        o.bucket = std::move(bucket);
        o.region = "eu-west-1";
        o.credentials = test_credentials();
        return o;
    }
};

TEST_F(S3Addressing, AwsUsesVirtualHostedUrls) {
    S3 s3(aws("my-bucket"));
    EXPECT_EQ(s3.object_url("a b/c+d/é.txt"),
              "https://my-bucket.s3.eu-west-1.amazonaws.com/a%20b/c%2Bd/%C3%A9.txt");
    EXPECT_EQ(s3.address().request_host(), "my-bucket.s3.eu-west-1.amazonaws.com");
    EXPECT_EQ(s3.address().bucket_path(), "/");
}

TEST_F(S3Addressing, KeyPrefixIsPartOfTheUrl) {
    auto o = aws("my-bucket");
    o.prefix = "/app/v1";
    EXPECT_EQ(S3(o).object_url("x"), "https://my-bucket.s3.eu-west-1.amazonaws.com/app/v1/x");
}

TEST_F(S3Addressing, PathStyleWhenAskedOrWhenTheBucketCannotBeAHostName) {
    auto o = aws("my-bucket");
    o.path_style = true;
    EXPECT_EQ(S3(o).object_url("k"), "https://s3.eu-west-1.amazonaws.com/my-bucket/k");
    EXPECT_EQ(S3(aws("my.dotted.bucket")).object_url("k"), "https://s3.eu-west-1.amazonaws.com/my.dotted.bucket/k");
}

TEST_F(S3Addressing, CustomEndpointsArePathStyleUnlessToldOtherwise) {
    auto o = aws("b1");
    o.endpoint = "http://127.0.0.1:7480/";
    EXPECT_EQ(S3(o).object_url("x/../y"), "http://127.0.0.1:7480/b1/x/../y");
    o.endpoint = "https://minio.internal:9000/s3";
    EXPECT_EQ(S3(o).object_url("k"), "https://minio.internal:9000/s3/b1/k");
    o.path_style = false;
    EXPECT_EQ(S3(o).object_url("k"), "https://b1.minio.internal:9000/s3/k");
}

TEST_F(S3Addressing, BadSettingsAreConfigErrorsThatShowNoSecret) {
    auto o = aws("");
    EXPECT_THROW(S3{o}, ConfigError);
    o = aws("b");
    o.endpoint = "ftp://host";
    EXPECT_THROW(S3{o}, ConfigError);
    o.endpoint = "http://KEY:topsecretvalue@host:1";
    try {
        S3 s3(o);
        ADD_FAILURE() << "credentials in the endpoint were accepted";
    } catch (const ConfigError& e) {
        EXPECT_EQ(std::string(e.what()).find("topsecretvalue"), std::string::npos) << e.what();
    }
    o = aws("b");
    o.part_size = 1024;
    EXPECT_THROW(S3{o}, ConfigError);
}

TEST_F(S3Addressing, PresignedUrlsCarryTheSignatureInTheQuery) {
    S3 s3(aws("my-bucket"));
    auto url = s3.presign_get("dir/a b", 300s);
    EXPECT_TRUE(url.starts_with("https://my-bucket.s3.eu-west-1.amazonaws.com/dir/a%20b?")) << url;
    for (const char* part : {"X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Credential=AKIDEXAMPLE%2F",
                             "%2Feu-west-1%2Fs3%2Faws4_request", "X-Amz-Expires=300", "X-Amz-SignedHeaders=host",
                             "&X-Amz-Signature="})
        EXPECT_NE(url.find(part), std::string::npos) << part << " in " << url;
    EXPECT_EQ(url.find("s3cr3t"), std::string::npos);
    EXPECT_NE(s3.presign_put("dir/a b", 300s), url);
    EXPECT_THROW(s3.presign_get("k", std::chrono::seconds(8 * 24 * 3600)), ConfigError);
}

// ---- scripted server --------------------------------------------------------------------------

TEST(S3Scripted, RequestsAreSignedAndKeysEncodedPerSegment) {
    test::HttpServer server([](const test::HttpRequest&, int) {
        return http_response(200, "OK", "", {"ETag: \"5d41402abc4b2a76b9719d911017c592\""});
    });
    S3 s3(scripted_options(server));
    auto r = s3.put("a b/c+d&é", "hello", {.content_type = "text/plain", .metadata = {{"Name", "Zoë"}}});
    EXPECT_EQ(r.etag, "\"5d41402abc4b2a76b9719d911017c592\"");
    auto seen = server.requests();
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].method, "PUT");
    EXPECT_EQ(seen[0].target, "/bucket/a%20b/c%2Bd%26%C3%A9");
    EXPECT_EQ(seen[0].body, "hello");
    EXPECT_EQ(seen[0].header("x-amz-content-sha256"), detail::sha256_hex("hello"));
    EXPECT_EQ(seen[0].header("content-type"), "text/plain");
    EXPECT_EQ(seen[0].header("x-amz-meta-name"), detail::encode_metadata_value("Zoë"));
    EXPECT_TRUE(seen[0].header("authorization").starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"));
    EXPECT_EQ(seen[0].header("expect"), "") << "no 100-continue round trip";
}

TEST(S3Scripted, MetadataOverTheLimitIsRefusedBeforeSending) {
    test::HttpServer server([](const test::HttpRequest&, int) { return http_response(200, "OK", ""); });
    S3 s3(scripted_options(server));
    EXPECT_THROW(s3.put("k", "v", {.metadata = {{"big", std::string(3000, 'x')}}}), MetadataTooLarge);
    EXPECT_THROW(s3.copy("a", "b", {.directive = MetadataDirective::replace, .metadata = {{"big", std::string(3000, 'x')}}}),
                 MetadataTooLarge);
    EXPECT_TRUE(server.requests().empty());
}

TEST(S3Scripted, GarbageErrorBodyGivesAClearTransportError) {
    test::HttpServer server([](const test::HttpRequest&, int) {
        return http_response(502, "Bad Gateway", "<html><body>upstream s3cr3t-never-shown broke</body>",
                             {"Content-Type: text/html"});
    });
    auto o = scripted_options(server);
    o.retry.max_attempts = 1;
    S3 s3(o);
    try {
        s3.get("k");
        ADD_FAILURE() << "no exception";
    } catch (const TransportError& e) {
        std::string what = e.what();
        EXPECT_EQ(e.status(), 502);
        EXPECT_TRUE(e.retryable());
        EXPECT_NE(what.find("HTTP 502"), std::string::npos) << what;
        EXPECT_NE(what.find("not an S3 error document"), std::string::npos) << what;
        EXPECT_NE(what.find("text/html"), std::string::npos) << what;
        EXPECT_EQ(what.find("s3cr3t"), std::string::npos) << what;
        EXPECT_EQ(what.find("Signature"), std::string::npos) << what;
    }
}

TEST(S3Scripted, ErrorsMapToTheErrorHierarchy) {
    std::string reply;
    test::HttpServer server([&](const test::HttpRequest&, int) { return reply; });
    auto o = scripted_options(server);
    o.retry.max_attempts = 1;
    S3 s3(o);
    reply = http_response(404, "Not Found", s3_error("NoSuchBucket"));
    EXPECT_THROW(s3.list(), NoSuchBucket);
    EXPECT_THROW(s3.get("k"), NoSuchBucket);
    reply = http_response(404, "Not Found", s3_error("NoSuchKey"));
    EXPECT_FALSE(s3.get("k"));
    EXPECT_THROW(s3.copy("src", "dst"), NotFound);
    EXPECT_NO_THROW(s3.remove("k"));
    reply = http_response(403, "Forbidden", s3_error("SignatureDoesNotMatch", "The request signature we calculated does not match"));
    try {
        s3.put("k", "v");
        ADD_FAILURE();
    } catch (const AccessDenied& e) {
        EXPECT_EQ(e.code(), "SignatureDoesNotMatch");
        EXPECT_EQ(e.request_id(), "REQ123");
        EXPECT_NE(std::string(e.what()).find("does not match"), std::string::npos);
        EXPECT_EQ(std::string(e.what()).find("s3cr3t"), std::string::npos);
    }
    reply = http_response(412, "Precondition Failed", s3_error("PreconditionFailed"));
    EXPECT_THROW(s3.put("k", "v", {.if_none_match = true}), PreconditionFailed);
    reply = http_response(416, "Range Not Satisfiable", s3_error("InvalidRange"));
    EXPECT_THROW(s3.get("k", {.range = ByteRange::from(10)}), InvalidRange);
    reply = http_response(304, "Not Modified", "");
    EXPECT_THROW(s3.get("k", {.if_none_match = "\"e\""}), NotModified);
    reply = http_response(400, "Bad Request", s3_error("MetadataTooLarge"));
    EXPECT_THROW(s3.put("k", "v", {.metadata = {{"a", "b"}}}), MetadataTooLarge);
    reply = http_response(400, "Bad Request", s3_error("InvalidArgument", "Bad &amp; wrong"));
    try {
        s3.list();
        ADD_FAILURE();
    } catch (const TransportError& e) {
        EXPECT_EQ(e.code(), "InvalidArgument");
        EXPECT_FALSE(e.retryable());
        EXPECT_NE(std::string(e.what()).find("Bad & wrong"), std::string::npos) << e.what();
    }
    reply = "";  // connection closed with no answer
    try {
        s3.head("k");
        ADD_FAILURE();
    } catch (const TransportError& e) {
        EXPECT_EQ(e.status(), 0);
        EXPECT_TRUE(e.retryable());
    }
}

TEST(S3Scripted, AnErrorInsideA200CopyIsThrownAndRetried) {
    test::HttpServer server([](const test::HttpRequest&, int) {
        return http_response(200, "OK", s3_error("InternalError", "We encountered an internal error."));
    });
    std::vector<std::chrono::milliseconds> sleeps;
    S3 s3(scripted_options(server, &sleeps));
    try {
        s3.copy("a", "b");
        ADD_FAILURE() << "a failed copy was reported as done";
    } catch (const TransportError& e) {
        EXPECT_EQ(e.code(), "InternalError");
        EXPECT_EQ(e.status(), 200);
        EXPECT_TRUE(e.retryable());
    }
    EXPECT_EQ(server.requests().size(), 3u);
    EXPECT_EQ(sleeps.size(), 2u);
}

TEST(S3Scripted, ThrottlingHonoursRetryAfter) {
    test::HttpServer server([](const test::HttpRequest&, int i) {
        if (i == 0) return http_response(503, "Slow Down", s3_error("SlowDown"), {"Retry-After: 3"});
        return http_response(200, "OK", "body", {"ETag: \"e\"", "Content-Type: text/plain"});
    });
    std::vector<std::chrono::milliseconds> sleeps;
    S3 s3(scripted_options(server, &sleeps));
    auto got = s3.get("k");
    ASSERT_TRUE(got);
    EXPECT_EQ(got->body, "body");
    EXPECT_EQ(got->info.size, 4u);
    EXPECT_EQ(sleeps, std::vector<std::chrono::milliseconds>{3000ms});
}

TEST(S3Scripted, ConditionalPutWhoseAnswerIsLostIsReconciled) {
    std::string stored_etag = detail::etag_of("mine");
    test::HttpServer server([&](const test::HttpRequest& r, int i) -> std::string {
        if (i == 0) return "";  // applied, answer lost
        if (r.method == "PUT") return http_response(412, "Precondition Failed", s3_error("PreconditionFailed"));
        return http_response(200, "OK", "", {"ETag: " + stored_etag});  // the HEAD
    });
    S3 s3(scripted_options(server));
    EXPECT_EQ(s3.put("k", "mine", {.if_none_match = true}).etag, stored_etag);
    auto seen = server.requests();
    // Read back at once, before any retry: the object is ours.
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[1].method, "HEAD");
    // Someone else's object behind a 412: a real conflict.
    stored_etag = detail::etag_of("theirs");
    EXPECT_THROW(s3.put("k2", "mine", {.if_none_match = true}), PreconditionFailed);
}

TEST(S3Scripted, IfMatchIsSentBareByDefault) {
    test::HttpServer server([](const test::HttpRequest&, int) { return http_response(200, "OK", "", {"ETag: \"new\""}); });
    auto o = scripted_options(server);
    S3 bare(o);
    bare.put("k", "v", {.if_match = "\"abc\""});
    o.quote_condition_etags = true;
    S3 quoted(o);
    quoted.put("k", "v", {.if_match = "abc"});
    auto seen = server.requests();
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0].header("if-match"), "abc");
    EXPECT_EQ(seen[1].header("if-match"), "\"abc\"");
}

TEST(S3Scripted, ContinuationTokensAreTaggedAndSentBackRaw) {
    test::HttpServer server([](const test::HttpRequest&, int) {
        return http_response(200, "OK",
                             "<ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>a</Key><Size>1</Size>"
                             "<ETag>e</ETag></Contents><NextContinuationToken>abc/+=</NextContinuationToken>"
                             "</ListBucketResult>");
    });
    S3 s3(scripted_options(server));
    auto page = s3.list({.max_keys = 1});
    EXPECT_EQ(page.objects.at(0).etag, "\"e\"");
    EXPECT_EQ(page.next_continuation_token, "s3:abc/+=");
    s3.list({.continuation_token = page.next_continuation_token});
    EXPECT_THROW(s3.list({.continuation_token = "abc/+="}), TransportError) << "a token this store did not issue";
    auto seen = server.requests();
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_NE(seen[0].target.find("list-type=2"), std::string::npos) << seen[0].target;
    EXPECT_NE(seen[0].target.find("max-keys=1"), std::string::npos) << seen[0].target;
    EXPECT_NE(seen[1].target.find("continuation-token=abc%2F%2B%3D"), std::string::npos) << seen[1].target;
}

// ---- against Ceph RGW ---------------------------------------------------------------------------

namespace {

struct RgwTarget {
    std::string endpoint, access_key, secret, bucket;
    std::string error;
};

RgwTarget rgw_target() {
    RgwTarget t;
    const char* url = std::getenv("S3DB_TEST_S3_URL");
    if (!url || !*url) {
        t.error = "S3DB_TEST_S3_URL is not set: run ./tests/run.sh, which starts Ceph RGW and sets it "
                  "(http://KEY:SECRET@127.0.0.1:7480/<bucket>)";
        return t;
    }
    std::string u = url;
    auto scheme = u.find("://"), at = u.find('@'), colon = u.find(':', scheme + 3);
    auto slash = u.find('/', at == std::string::npos ? 0 : at);
    if (scheme == std::string::npos || at == std::string::npos || colon > at || slash == std::string::npos) {
        t.error = "S3DB_TEST_S3_URL must look like http://KEY:SECRET@host:port/bucket";
        return t;
    }
    t.access_key = u.substr(scheme + 3, colon - scheme - 3);
    t.secret = u.substr(colon + 1, at - colon - 1);
    t.endpoint = u.substr(0, scheme + 3) + u.substr(at + 1, slash - at - 1);
    std::string base = u.substr(slash + 1);
    if (auto s = base.find('/'); s != std::string::npos) base.resize(s);
    if (base.empty()) base = "s3db-test";
    std::random_device rd;
    char suffix[16];
    std::snprintf(suffix, sizeof suffix, "-%08x", rd());
    t.bucket = base.substr(0, 40) + "-s3" + suffix;  // a new bucket per run
    return t;
}

}  // namespace

class S3Rgw : public ::testing::Test {
protected:
    static inline RgwTarget target;
    static inline std::unique_ptr<S3> shared;

    static S3Options options(const std::string& prefix = {}) {
        S3Options o;
        o.bucket = target.bucket;
        o.endpoint = target.endpoint;
        o.region = "us-east-1";
        o.credentials = Credentials{target.access_key, target.secret, ""};
        o.prefix = prefix;
        return o;
    }

    static void SetUpTestSuite() {
        target = rgw_target();
        if (!target.error.empty()) return;
        try {
            shared = std::make_unique<S3>(options());
            shared->create_bucket();
        } catch (const std::exception& e) {
            target.error = std::string("cannot create the test bucket: ") + e.what();
        }
    }

    static void TearDownTestSuite() {
        if (!shared) return;
        try {
            for (;;) {
                auto page = shared->list();
                if (page.objects.empty()) break;
                std::vector<std::string> keys;
                for (auto& e : page.objects) keys.push_back(e.key);
                shared->remove_many(keys);
            }
            shared->delete_bucket();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "warning: test bucket %s not deleted: %s\n", target.bucket.c_str(), e.what());
        }
        shared.reset();
    }

    void SetUp() override {
        if (!target.error.empty()) FAIL() << target.error;
    }

    S3& s3() { return *shared; }
    /// A key unique to the running test.
    static std::string key(const std::string& name) {
        return std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "/" + name;
    }
};

TEST_F(S3Rgw, PresignedGetAndPutWorkThroughPlainCurl) {
    std::string k = key("presigned file.txt");
    auto put = plain_curl("PUT", s3().presign_put(k, 60s), "uploaded by a presigned URL");
    EXPECT_EQ(put.status, 200) << put.body;
    auto got = s3().get(k);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->body, "uploaded by a presigned URL");

    auto url = s3().presign_get(k, 60s);
    auto read = plain_curl("GET", url);
    EXPECT_EQ(read.status, 200);
    EXPECT_EQ(read.body, "uploaded by a presigned URL");
    // The signature covers the path: another key with the same query is refused.
    auto q = url.find('?');
    auto other = plain_curl("GET", s3().object_url(key("other")) + url.substr(q));
    EXPECT_EQ(other.status, 403);
}

TEST_F(S3Rgw, WrongSecretIsAccessDeniedWithoutTheSecret) {
    auto o = options();
    o.credentials->secret_access_key = "wrong-secret-Zq9xW2";
    S3 bad(o);
    for (auto op : std::vector<std::function<void()>>{[&] { bad.put(key("k"), "v"); }, [&] { bad.get(key("k")); },
                                                      [&] { bad.list(); }}) {
        try {
            op();
            ADD_FAILURE() << "a wrong secret was accepted";
        } catch (const AccessDenied& e) {
            std::string what = e.what();
            EXPECT_EQ(e.status(), 403);
            EXPECT_EQ(what.find("wrong-secret-Zq9xW2"), std::string::npos) << what;
            EXPECT_EQ(what.find(target.secret), std::string::npos) << what;
            EXPECT_EQ(what.find("Signature="), std::string::npos) << what;
        }
    }
    EXPECT_THROW(bad.head(key("k")), AccessDenied) << "a HEAD (no body) is refused as well";
}

TEST_F(S3Rgw, MultipartUploadOfEightMiBPlusOneByteKeepsMetadata) {
    std::string body(8 * mebibyte + 1, '\0');
    for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i * 7 + i / 4096);
    std::string k = key("big");
    auto before = s3().http_stats().requests;
    auto r = s3().put(k, body, {.content_type = "application/x-big", .metadata = {{"owner", "Zoë"}, {"n", "1"}}});
    EXPECT_EQ(s3().http_stats().requests - before, 4u) << "initiate, two parts, complete";
    EXPECT_TRUE(r.etag.ends_with("-2\"")) << r.etag;
    EXPECT_EQ(r.etag, s3().etag_for(body));
    auto info = s3().head(k);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->etag, r.etag);
    EXPECT_EQ(info->size, body.size());
    EXPECT_EQ(info->content_type, "application/x-big");
    EXPECT_EQ(info->metadata, (Metadata{{"n", "1"}, {"owner", "Zoë"}}));
    auto got = s3().get(k);
    ASSERT_TRUE(got);
    EXPECT_TRUE(got->body == body);
    auto tail = s3().get(k, {.range = ByteRange::tail(3)});
    EXPECT_EQ(tail->body, body.substr(body.size() - 3));
    EXPECT_EQ(tail->info.size, body.size());
    // A conditional put of the same size stays one PUT, so the condition holds on every store.
    EXPECT_THROW(s3().put(k, body, {.if_none_match = true}), PreconditionFailed);
    EXPECT_THROW(s3().put(k, body, {.if_match = "\"0123456789abcdef0123456789abcdef\""}), PreconditionFailed);
    auto swapped = s3().put(k, body, {.if_match = r.etag});
    EXPECT_EQ(swapped.etag, detail::etag_of(body));
}

TEST_F(S3Rgw, IfMatchAcceptsQuotedAndBareEtags) {
    std::string k = key("doc");
    auto v1 = s3().put(k, "v1");
    ASSERT_EQ(v1.etag.front(), '"');
    auto v2 = s3().put(k, "v2", {.if_match = v1.etag});  // quoted, as S3 gave it
    auto v3 = s3().put(k, "v3", {.if_match = std::string(detail::bare_etag(v2.etag))});
    EXPECT_EQ(v3.etag, detail::etag_of("v3"));
    EXPECT_THROW(s3().put(k, "v4", {.if_match = v1.etag}), PreconditionFailed);
    EXPECT_THROW(s3().put(k, "v4", {.if_none_match = true}), PreconditionFailed);
    EXPECT_THROW(s3().put(key("absent"), "v", {.if_match = v1.etag}), PreconditionFailed);
    EXPECT_EQ(s3().get(k)->body, "v3");
    // Conditional reads take either form too.
    EXPECT_EQ(s3().get(k, {.if_match = v3.etag})->body, "v3");
    EXPECT_EQ(s3().get(k, {.if_match = std::string(detail::bare_etag(v3.etag))})->body, "v3");
    EXPECT_THROW(s3().get(k, {.if_match = v1.etag}), PreconditionFailed);
    EXPECT_THROW(s3().get(k, {.if_none_match = v3.etag}), NotModified);
    EXPECT_THROW(s3().get(k, {.if_none_match = "*"}), NotModified);
    EXPECT_EQ(s3().get(k, {.if_none_match = v1.etag})->body, "v3");
}

TEST_F(S3Rgw, CopyWithReplaceReplacesMetadataAndContentType) {
    std::string src = key("src"), dst = key("dst");
    auto put = s3().put(src, "payload", {.content_type = "text/plain", .metadata = {{"a", "1"}, {"b", "Ünïcode"}}});
    auto replaced = s3().copy(src, dst,
                              {.directive = MetadataDirective::replace, .metadata = {{"c", "3"}},
                               .content_type = "application/json"});
    EXPECT_EQ(replaced.etag, put.etag);
    auto info = s3().head(dst);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->metadata, (Metadata{{"c", "3"}}));
    EXPECT_EQ(info->content_type, "application/json");
    EXPECT_EQ(s3().get(dst)->body, "payload");
    EXPECT_EQ(s3().head(src)->metadata, (Metadata{{"a", "1"}, {"b", "Ünïcode"}}));

    s3().copy(src, dst, {.directive = MetadataDirective::replace, .metadata = {{"d", "4"}}});
    info = s3().head(dst);
    EXPECT_EQ(info->metadata, (Metadata{{"d", "4"}}));
    EXPECT_EQ(info->content_type, "text/plain") << "no content type given keeps the source's";

    s3().copy(src, dst);
    EXPECT_EQ(s3().head(dst)->metadata, (Metadata{{"a", "1"}, {"b", "Ünïcode"}}));

    EXPECT_NO_THROW(s3().copy(src, dst, {.source_if_match = put.etag}));
    EXPECT_THROW(s3().copy(src, dst, {.source_if_match = "\"0123456789abcdef0123456789abcdef\""}), PreconditionFailed);
    EXPECT_THROW(s3().copy(key("missing"), dst), NotFound);
}

TEST_F(S3Rgw, DeleteObjectsOf2500KeysTakesThreeRequests) {
    std::vector<std::string> keys;
    for (int i = 0; i < 2500; ++i) keys.push_back(key("k" + std::to_string(10000 + i)));
    std::vector<std::thread> threads;
    std::atomic<std::size_t> next{0};
    for (int t = 0; t < 16; ++t)
        threads.emplace_back([&] {
            for (std::size_t i; (i = next++) < keys.size();) s3().put(keys[i], "x");
        });
    for (auto& t : threads) t.join();

    keys.push_back(key("never-existed"));  // S3 reports a missing key as deleted
    auto before = s3().http_stats().requests;
    auto r = s3().remove_many(keys);
    EXPECT_EQ(s3().http_stats().requests - before, 3u);
    EXPECT_TRUE(r.failed.empty()) << r.failed.front().key << ": " << r.failed.front().code;
    EXPECT_EQ(r.removed, keys) << "results follow the order of the keys given";
    EXPECT_TRUE(s3().list({.prefix = key("")}).objects.empty());
}

TEST_F(S3Rgw, ConnectionsAreReusedAcrossCallsAndThreads) {
    S3 fresh(options());  // its own pool
    fresh.put(key("k"), "v");
    for (int i = 0; i < 30; ++i) ASSERT_TRUE(fresh.head(key("k")));
    auto st = fresh.http_stats();
    EXPECT_EQ(st.requests, 31u);
    EXPECT_EQ(st.connects, 1u) << "one kept-alive connection serves sequential calls";

    std::vector<std::thread> threads;
    for (int t = 0; t < 16; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 10; ++i) EXPECT_TRUE(fresh.get(key("k")));
        });
    for (auto& t : threads) t.join();
    st = fresh.http_stats();
    EXPECT_EQ(st.requests, 191u);
    EXPECT_LE(st.connects, 16u) << "at most one connection per concurrent caller";

    auto o = options();
    o.max_connections = 2;
    S3 narrow(o);
    threads.clear();
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 5; ++i) EXPECT_TRUE(narrow.head(key("k")));
        });
    for (auto& t : threads) t.join();
    EXPECT_LE(narrow.http_stats().connects, 2u) << "max_connections bounds the pool";
}

TEST_F(S3Rgw, SixteenThreadsShareOneTransport) {
    std::atomic<int> errors{0}, winners{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 16; ++t)
        threads.emplace_back([&, t] {
            try {
                for (int i = 0; i < 10; ++i) {
                    std::string k = key("t" + std::to_string(t) + "/" + std::to_string(i));
                    std::string body = "body " + std::to_string(t * 100 + i);
                    auto put = s3().put(k, body, {.metadata = {{"thread", std::to_string(t)}}});
                    auto got = s3().get(k);
                    if (!got || got->body != body || got->info.etag != put.etag ||
                        got->info.metadata.at("thread") != std::to_string(t))
                        ++errors;
                    if (!s3().head(k)) ++errors;
                }
                if (s3().list({.prefix = key("t" + std::to_string(t) + "/")}).objects.size() != 10) ++errors;
                try {
                    s3().put(key("lock"), "owner " + std::to_string(t), {.if_none_match = true});
                    ++winners;
                } catch (const PreconditionFailed&) {
                }
            } catch (const std::exception& e) {
                ++errors;
                std::fprintf(stderr, "thread %d: %s\n", t, e.what());
            }
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(errors, 0);
    EXPECT_EQ(winners, 1) << "one conditional create wins, the others see 412";
    EXPECT_EQ(s3().list({.prefix = key("t")}).objects.size(), 160u);
}

TEST_F(S3Rgw, ListDecodesAwkwardKeysPagesAndStripsThePrefix) {
    S3 scoped(options(key("scope")));
    std::set<std::string> keys{"plain", "with space", "plus+sign", "percent%20", "amp&lt;", "caf\xC3\xA9",
                               "dir/one", "dir/two", "dir/sub/three", "tab\tkey", "ctl\x01key"};
    for (const auto& k : keys) scoped.put(k, k);
    std::set<std::string> listed;
    std::string token;
    int pages = 0;
    do {
        auto page = scoped.list({.max_keys = 4, .continuation_token = token});
        EXPECT_LE(page.objects.size(), 4u);
        for (auto& e : page.objects) {
            EXPECT_EQ(e.size, e.key.size());
            EXPECT_EQ(e.etag, detail::etag_of(e.key));
            listed.insert(e.key);
        }
        token = page.next_continuation_token;
        ++pages;
    } while (!token.empty() && pages < 10);
    EXPECT_EQ(listed, keys);
    EXPECT_EQ(pages, 3);

    auto top = scoped.list({.delimiter = "/"});
    EXPECT_EQ(top.common_prefixes, std::vector<std::string>{"dir/"});
    EXPECT_EQ(top.objects.size(), keys.size() - 3);
    auto dir = scoped.list({.prefix = "dir/", .delimiter = "/"});
    EXPECT_EQ(dir.common_prefixes, std::vector<std::string>{"dir/sub/"});
    ASSERT_EQ(dir.objects.size(), 2u);
    EXPECT_EQ(dir.objects[0].key, "dir/one");
    auto after = scoped.list({.start_after = "plain"});
    ASSERT_EQ(after.objects.size(), 3u);
    EXPECT_EQ(after.objects[0].key, "plus+sign");
    EXPECT_EQ(after.objects[1].key, "tab\tkey");
    EXPECT_EQ(after.objects[2].key, "with space");
    for (const auto& k : keys) EXPECT_EQ(scoped.get(k)->body, k);
    // DeleteObjects cannot name "ctl\x01key" in XML 1.0: it goes alone, the rest in one request.
    std::vector<std::string> all(keys.begin(), keys.end());
    auto before = scoped.http_stats().requests;
    auto removed = scoped.remove_many(all);
    EXPECT_EQ(scoped.http_stats().requests - before, 2u);
    EXPECT_EQ(removed.removed, all);
    EXPECT_TRUE(scoped.list().objects.empty());
}

TEST_F(S3Rgw, RangedReadsReportTheWholeObjectSize) {
    std::string k = key("r");
    s3().put(k, "hello world");
    auto mid = s3().get(k, {.range = ByteRange::between(1, 3)});
    EXPECT_EQ(mid->body, "ell");
    EXPECT_EQ(mid->info.size, 11u);
    EXPECT_EQ(s3().get(k, {.range = ByteRange::from(6)})->body, "world");
    EXPECT_EQ(s3().get(k, {.range = ByteRange::between(6, 100)})->body, "world");
    EXPECT_THROW(s3().get(k, {.range = ByteRange::from(11)}), InvalidRange);
}

TEST_F(S3Rgw, MissingKeysAndBuckets) {
    EXPECT_FALSE(s3().get(key("none")));
    EXPECT_FALSE(s3().head(key("none")));
    EXPECT_NO_THROW(s3().remove(key("none")));
    auto o = options();
    o.bucket = target.bucket + "-absent";
    S3 absent(o);
    EXPECT_THROW(absent.list(), NoSuchBucket);
    EXPECT_THROW(absent.get("k"), NoSuchBucket);
    EXPECT_THROW(absent.put("k", "v"), NoSuchBucket);
}

TEST_F(S3Rgw, MetadataValuesRoundTripThroughTheirEncoding) {
    Metadata meta{{"ascii", "plain value"},   {"latin", "São Paulo"},    {"cjk", "東京"},
                  {"prefixed", "u:looks-encoded"}, {"emoji", "🙂 ok"}, {"empty", ""}};
    std::string k = key("m");
    s3().put(k, "", {.metadata = {{"UPPER", "x"}}});
    EXPECT_EQ(s3().head(k)->metadata, (Metadata{{"upper", "x"}})) << "keys are lowercased, as S3 stores them";
    s3().put(k, "", {.metadata = meta});
    auto info = s3().head(k);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->metadata, meta);
    EXPECT_EQ(info->size, 0u);
}
