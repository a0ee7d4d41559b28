// The XML reader and the S3 response parsers: documents as AWS and Ceph RGW send them, entities,
// url-encoded listings, errors inside 200 answers, and input that is not XML at all.

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "s3db/transport/s3/xml.hpp"

namespace xml = s3db::detail::xml;

TEST(Xml, ParsesNestedElementsAndIgnoresNamespacesAttributesAndComments) {
    auto doc = xml::parse(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- hi -->"
        "<s3:Root xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\" a='1'>"
        "<s3:A>one</s3:A><B x=\"&lt;y&gt;\"/><!-- c --><A>two</A><C>  <D>deep</D>  </C></s3:Root>\n");
    ASSERT_TRUE(doc);
    EXPECT_EQ(doc->name, "Root");
    ASSERT_EQ(doc->children.size(), 4u);
    EXPECT_EQ(doc->child_text("A"), "one");
    EXPECT_EQ(doc->child_text("B"), "");
    EXPECT_EQ(doc->child_text("Missing"), "");
    std::vector<std::string> as;
    doc->each("A", [&](const xml::Node& n) { as.push_back(n.text()); });
    EXPECT_EQ(as, (std::vector<std::string>{"one", "two"}));
    EXPECT_EQ(doc->child("C")->child_text("D"), "deep");
}

TEST(Xml, DecodesPredefinedEntitiesCharacterReferencesAndCdata) {
    auto doc = xml::parse("<a>&amp;&lt;&gt;&quot;&apos; &#233;&#x00e9;&#x1F600; <![CDATA[<raw & kept>]]><!--x-->!</a>");
    ASSERT_TRUE(doc);
    EXPECT_EQ(doc->text(), "&<>\"' \xC3\xA9\xC3\xA9\xF0\x9F\x98\x80 <raw & kept>!");
}

TEST(Xml, EscapedTextRoundTrips) {
    std::string s = "a&b<c>d\"e'f\r\ng \xC3\xA9";
    std::string text = "<k>" + xml::escape(s) + "</k>";
    auto doc = xml::parse(text);
    ASSERT_TRUE(doc);
    EXPECT_EQ(doc->text(), s);
}

TEST(Xml, RejectsInputThatIsNotWellFormed) {
    for (const char* bad : {"", "   ", "not xml", "<a>", "<a></b>", "<a><b></a></b>", "<a>x</a><b/>", "<a>x</a>junk",
                            "<a>&foo;</a>", "<a>&amp</a>", "<a>&#0;</a>", "<a>&#xD800;</a>", "<a>&#x110000;</a>",
                            "<a b=c></a>", "<a b=\"<\"></a>", "<a><!-- unterminated </a>", "<a><![CDATA[x</a>",
                            "<>x</>", "<!DOCTYPE a [<!ENTITY e \"x\">]><a>&e;</a>", "<html><body>502</body>",
                            "\xff\xfe<\x00a\x00>"})
        EXPECT_FALSE(xml::parse(bad)) << bad;
}

TEST(Xml, DeepNestingIsRejectedNotACrash) {
    std::string deep;
    for (int i = 0; i < 100000; ++i) deep += "<a>";
    EXPECT_FALSE(xml::parse(deep));
    std::string ok;
    for (int i = 0; i < 50; ++i) ok += "<a>";
    for (int i = 0; i < 50; ++i) ok += "</a>";
    EXPECT_TRUE(xml::parse(ok));
}

TEST(Xml, ParsesIso8601Timestamps) {
    auto t = xml::parse_iso8601("2009-10-12T17:50:30.123Z");
    ASSERT_TRUE(t);
    EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(t->time_since_epoch()).count(), 1255369830123);
    EXPECT_TRUE(xml::parse_iso8601("2009-10-12T17:50:30Z"));
    EXPECT_FALSE(xml::parse_iso8601("2009-13-12T17:50:30Z"));
    EXPECT_FALSE(xml::parse_iso8601("yesterday"));
}

constexpr const char* list_with_prefixes = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bucket</Name><Prefix>p/</Prefix><KeyCount>4</KeyCount><MaxKeys>4</MaxKeys><Delimiter>/</Delimiter>
  <IsTruncated>true</IsTruncated>
  <Contents><Key>p/a&amp;b &lt;1&gt;</Key><LastModified>2024-01-02T03:04:05.000Z</LastModified>
    <ETag>&quot;5d41402abc4b2a76b9719d911017c592&quot;</ETag><Size>5</Size><StorageClass>STANDARD</StorageClass></Contents>
  <Contents><Key>p/caf&#x00e9;</Key><LastModified>2024-01-02T03:04:06.000Z</LastModified>
    <ETag>"0cc175b9c0f1b6a831c399e269772661-2"</ETag><Size>10485761</Size></Contents>
  <CommonPrefixes><Prefix>p/dir1/</Prefix></CommonPrefixes>
  <CommonPrefixes><Prefix>p/dir2/</Prefix></CommonPrefixes>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
</ListBucketResult>)";

TEST(XmlS3, ListObjectsV2WithCommonPrefixesAndEntities) {
    auto page = xml::parse_list_objects_v2(list_with_prefixes);
    ASSERT_TRUE(page);
    ASSERT_EQ(page->objects.size(), 2u);
    EXPECT_EQ(page->objects[0].key, "p/a&b <1>");
    EXPECT_EQ(page->objects[0].etag, "\"5d41402abc4b2a76b9719d911017c592\"");
    EXPECT_EQ(page->objects[0].size, 5u);
    EXPECT_EQ(page->objects[0].last_modified, *xml::parse_iso8601("2024-01-02T03:04:05Z"));
    EXPECT_EQ(page->objects[1].key, "p/caf\xC3\xA9");
    EXPECT_EQ(page->objects[1].size, 10485761u);
    EXPECT_EQ(page->common_prefixes, (std::vector<std::string>{"p/dir1/", "p/dir2/"}));
    EXPECT_EQ(page->next_continuation_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
    EXPECT_TRUE(page->truncated());
}

TEST(XmlS3, ListObjectsV2UrlEncodedKeysAreDecodedFormStyle) {
    // With encoding-type=url S3 sends '+' for a space and %2B for a plus.
    auto page = xml::parse_list_objects_v2(
        "<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>"
        "<Contents><Key>a+b%2Bc%01%C3%A9</Key><ETag>\"x\"</ETag><Size>1</Size></Contents>"
        "<CommonPrefixes><Prefix>d%20e/</Prefix></CommonPrefixes></ListBucketResult>");
    ASSERT_TRUE(page);
    ASSERT_EQ(page->objects.size(), 1u);
    EXPECT_EQ(page->objects[0].key, "a b+c\x01\xC3\xA9");
    EXPECT_EQ(page->common_prefixes, (std::vector<std::string>{"d e/"}));
    EXPECT_FALSE(page->truncated());
}

TEST(XmlS3, ListObjectsV2KeysAreNotUrlDecodedWithoutEncodingType) {
    auto page = xml::parse_list_objects_v2(
        "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a+b%20</Key></Contents></ListBucketResult>");
    ASSERT_TRUE(page);
    EXPECT_EQ(page->objects.at(0).key, "a+b%20");
}

TEST(XmlS3, EmptyListing) {
    auto page = xml::parse_list_objects_v2(
        "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name><Prefix>none/</Prefix>"
        "<KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>");
    ASSERT_TRUE(page);
    EXPECT_TRUE(page->objects.empty());
    EXPECT_TRUE(page->common_prefixes.empty());
    EXPECT_FALSE(page->truncated());
}

TEST(XmlS3, MalformedListingsAreRejected) {
    EXPECT_FALSE(xml::parse_list_objects_v2("<Error><Code>NoSuchBucket</Code></Error>"));
    EXPECT_FALSE(xml::parse_list_objects_v2("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>"))
        << "a truncated page must carry a continuation token";
    EXPECT_FALSE(xml::parse_list_objects_v2("<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>"));
    EXPECT_FALSE(xml::parse_list_objects_v2(
        "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>"));
    EXPECT_FALSE(xml::parse_list_objects_v2(
        "<ListBucketResult><EncodingType>url</EncodingType><Contents><Key>%zz</Key></Contents></ListBucketResult>"));
    EXPECT_FALSE(xml::parse_list_objects_v2("<ListBucketResult>"));
}

TEST(XmlS3, DeleteObjectsResultWithErrors) {
    auto r = xml::parse_delete_result(R"(<?xml version="1.0" encoding="UTF-8"?>
<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Deleted><Key>a</Key></Deleted>
  <Error><Key>b&amp;c</Key><Code>AccessDenied</Code><Message>Access &quot;Denied&quot;</Message></Error>
  <Deleted><Key>d</Key><VersionId>v</VersionId></Deleted>
  <Error><Key>e</Key><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>
</DeleteResult>)");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->deleted, (std::vector<std::string>{"a", "d"}));
    ASSERT_EQ(r->errors.size(), 2u);
    EXPECT_EQ(r->errors[0].key, "b&c");
    EXPECT_EQ(r->errors[0].code, "AccessDenied");
    EXPECT_EQ(r->errors[0].message, "Access \"Denied\"");
    EXPECT_EQ(r->errors[1].code, "InternalError");
    EXPECT_FALSE(xml::parse_delete_result("<DeleteResult><Deleted><VersionId>v</VersionId></Deleted></DeleteResult>"));
}

TEST(XmlS3, CopyObjectResultAndAnErrorInsideA200) {
    auto etag = xml::parse_copy_result(
        "<CopyObjectResult><LastModified>2024-01-02T03:04:05.000Z</LastModified>"
        "<ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag></CopyObjectResult>");
    ASSERT_TRUE(etag);
    EXPECT_EQ(*etag, "\"9b2cf535f27731c974343645a3985328\"");
    // What S3 sends when a copy fails after the 200 status line went out.
    std::string failed = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\n<Error><Code>InternalError</Code>"
                         "<Message>We encountered an internal error. Please try again.</Message>"
                         "<RequestId>656c76696e6727732072657175657374</RequestId></Error>";
    EXPECT_FALSE(xml::parse_copy_result(failed));
    auto err = xml::parse_error(failed);
    ASSERT_TRUE(err);
    EXPECT_EQ(err->code, "InternalError");
    EXPECT_FALSE(xml::parse_copy_result("<CopyObjectResult></CopyObjectResult>"));
}

TEST(XmlS3, MultipartDocuments) {
    auto id = xml::parse_upload_id(
        "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>2~abc&amp;def</UploadId>"
        "</InitiateMultipartUploadResult>");
    ASSERT_TRUE(id);
    EXPECT_EQ(*id, "2~abc&def");
    EXPECT_FALSE(xml::parse_upload_id("<InitiateMultipartUploadResult></InitiateMultipartUploadResult>"));
    auto done = xml::parse_complete_multipart(
        "<CompleteMultipartUploadResult><Key>k</Key><ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag>"
        "</CompleteMultipartUploadResult>");
    ASSERT_TRUE(done);
    EXPECT_EQ(*done, "\"3858f62230ac3c915f300c664312c11f-9\"");
    // Ceph RGW 16 leaves the ETag empty: recognised as the result, with no ETag in it.
    auto rgw = xml::parse_complete_multipart("<CompleteMultipartUploadResult><ETag></ETag></CompleteMultipartUploadResult>");
    ASSERT_TRUE(rgw);
    EXPECT_EQ(*rgw, "");
    EXPECT_FALSE(xml::parse_complete_multipart("<Error><Code>SlowDown</Code></Error>"));
}

TEST(XmlS3, ErrorBodies) {
    auto e = xml::parse_error(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchKey</Code>"
        "<Message>The resource you requested does not exist &amp; never did</Message>"
        "<Key>a&lt;b</Key><RequestId>4442587FB7D0A2F9</RequestId><HostId>x</HostId></Error>");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->code, "NoSuchKey");
    EXPECT_EQ(e->message, "The resource you requested does not exist & never did");
    EXPECT_EQ(e->key, "a<b");
    EXPECT_EQ(e->request_id, "4442587FB7D0A2F9");
    // Ceph RGW's form: no Message, BucketName and HostId instead.
    auto rgw = xml::parse_error(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchBucket</Code><BucketName>b</BucketName>"
        "<RequestId>tx0000</RequestId><HostId>1008-default</HostId></Error>");
    ASSERT_TRUE(rgw);
    EXPECT_EQ(rgw->code, "NoSuchBucket");
    EXPECT_EQ(rgw->message, "");
}

TEST(XmlS3, GarbageIsNotAnErrorDocument) {
    for (const char* garbage : {"", "<html><body><h1>502 Bad Gateway</h1></body></html>", "Service Unavailable",
                                "<Error><Code>x</Code>", "{\"error\":\"json\"}", "<ListBucketResult/>"})
        EXPECT_FALSE(xml::parse_error(garbage)) << garbage;
}

// ---- The ListObjectsV2 reader against a plain DOM reading --------------------------------------

namespace {

using Clock = std::chrono::system_clock;

// The straightforward reading of a listing through the DOM: what parse_list_objects_v2 must agree
// with on every document, well-formed or not.
std::optional<s3db::ListPage> dom_list_objects_v2(std::string_view body) {
    auto doc = xml::parse(body);
    if (!doc || doc->name != "ListBucketResult") return std::nullopt;
    bool url = doc->child_text("EncodingType") == "url";
    bool ok = true;
    auto key_text = [&](const xml::Node& n) -> std::string {
        std::string t = n.text();
        if (!url) return t;
        auto d = xml::url_decode_form(t);
        if (!d) ok = false;
        return d ? std::move(*d) : std::string{};
    };
    s3db::ListPage page;
    doc->each("Contents", [&](const xml::Node& c) {
        const xml::Node* key = c.child("Key");
        if (!key) {
            ok = false;
            return;
        }
        s3db::ListEntry e;
        e.key = key_text(*key);
        e.etag = c.child_text("ETag");
        if (const xml::Node* size = c.child("Size")) e.size = xml::parse_u64(size->text(), ok);
        if (const xml::Node* lm = c.child("LastModified")) {
            if (auto t = xml::parse_iso8601(lm->text())) e.last_modified = *t;
            else ok = false;
        }
        page.objects.push_back(std::move(e));
    });
    doc->each("CommonPrefixes", [&](const xml::Node& c) {
        if (const xml::Node* p = c.child("Prefix")) page.common_prefixes.push_back(key_text(*p));
        else ok = false;
    });
    if (doc->child_text("IsTruncated") == "true") {
        page.next_continuation_token = doc->child_text("NextContinuationToken");
        if (page.next_continuation_token.empty()) ok = false;
    }
    if (!ok) return std::nullopt;
    return page;
}

bool same_page(const s3db::ListPage& a, const s3db::ListPage& b) {
    if (a.objects.size() != b.objects.size() || a.common_prefixes != b.common_prefixes ||
        a.next_continuation_token != b.next_continuation_token)
        return false;
    for (std::size_t i = 0; i < a.objects.size(); ++i) {
        const auto &x = a.objects[i], &y = b.objects[i];
        if (x.key != y.key || x.etag != y.etag || x.size != y.size || x.last_modified != y.last_modified) return false;
    }
    return true;
}

std::string describe(const std::optional<s3db::ListPage>& p) {
    if (!p) return "nullopt";
    std::string s = std::to_string(p->objects.size()) + " objects:";
    for (const auto& e : p->objects)
        s += " [" + e.key + "|" + e.etag + "|" + std::to_string(e.size) + "|" +
             std::to_string(e.last_modified.time_since_epoch().count()) + "]";
    s += " prefixes:";
    for (const auto& c : p->common_prefixes) s += " [" + c + "]";
    return s + " token: " + p->next_continuation_token;
}

// Random listings as S3, Ceph RGW or an odd server could send them, with what they hold.
class PageMaker {
public:
    explicit PageMaker(unsigned seed) : rng_(seed) {}

    struct Made {
        std::string body;
        s3db::ListPage expected;
    };

    Made make() {
        Made m;
        prefix_ = pick(4) == 0 ? "s3:" : "";
        pretty_ = pick(5) == 0;
        url_ = pick(3) != 0;
        const bool url_first = pick(5) != 0;
        const int layout = pick(4);  // how entries are laid out; most pages keep one for all
        const std::string owner = "owner-" + std::to_string(pick(3));
        std::string& b = m.body;
        if (pick(5) == 0) b += "\xEF\xBB\xBF";
        if (pick(2)) b += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
        b += open("ListBucketResult", prefix_.empty() ? " xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""
                                                      : " xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\"");
        b += leaf("Name", "bucket") + leaf("Prefix", "") + leaf("MaxKeys", "1000");
        if (url_ && url_first) b += leaf("EncodingType", "url");
        const bool truncated = pick(2);
        b += leaf("IsTruncated", truncated ? "true" : "false");
        const int entries = pick(4) == 0 ? pick(3) : 1 + pick(25);
        for (int i = 0; i < entries; ++i) {
            const int this_layout = pick(12) == 0 ? pick(4) : layout;
            m.expected.objects.push_back(entry(b, this_layout, pick(8) == 0 ? "owner-x" : owner));
        }
        const int prefixes = pick(3) == 0 ? 1 + pick(4) : 0;
        for (int i = 0; i < prefixes; ++i) {
            std::string p = random_key() + "/";
            b += open("CommonPrefixes") + ws() + element("Prefix", encode_key(p)) + ws() + close("CommonPrefixes");
            m.expected.common_prefixes.push_back(p);
        }
        if (url_ && !url_first) b += leaf("EncodingType", "url");
        if (truncated) {
            m.expected.next_continuation_token = "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=" + std::to_string(pick(99));
            b += leaf("NextContinuationToken", m.expected.next_continuation_token);
        }
        b += close("ListBucketResult");
        if (pick(2)) b += "\n";
        return m;
    }

    int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
    std::mt19937& rng() { return rng_; }

private:
    std::string open(std::string_view name, std::string_view attrs = "") {
        return "<" + prefix_ + std::string(name) + std::string(attrs) + ">";
    }
    std::string close(std::string_view name) { return "</" + prefix_ + std::string(name) + ">"; }
    std::string element(std::string_view name, const std::string& xml_text) {
        return open(name) + xml_text + close(name);
    }
    std::string leaf(std::string_view name, std::string_view text) {
        return ws() + element(name, xml::escape(text));
    }
    std::string ws() { return pretty_ ? std::string("\n  ").substr(0, 1 + static_cast<std::size_t>(pick(3))) : ""; }

    std::string random_key() {
        static const std::vector<std::string> parts = {
            "a", "b", "Z", "9", "/", "-", "_", ".", " ", "+", "%", "&", "<", ">", "\"", "'", "=", "]]>", "]",
            "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "t000000000001/bench/data/id=", "caf\xC3\xA9"};
        std::string k;
        const int n = 1 + pick(12);
        for (int i = 0; i < n; ++i) k += parts[static_cast<std::size_t>(pick(static_cast<int>(parts.size())))];
        return k;
    }
    // A key as it goes into the XML: form-encoded with encoding-type=url, then written as text
    // with entities, character references, CDATA or a comment here and there.
    std::string encode_key(const std::string& key) {
        std::string text = key;
        if (url_) {
            text.clear();
            for (unsigned char c : key) {
                if (std::isalnum(c) || c == '/' || c == '-' || c == '_' || c == '.') {
                    text += static_cast<char>(c);
                } else if (c == ' ' && pick(2)) {
                    text += '+';
                } else {
                    const char* digits = pick(2) ? "0123456789ABCDEF" : "0123456789abcdef";
                    text += '%';
                    text += digits[c >> 4];
                    text += digits[c & 15];
                }
            }
        }
        if (pick(6) == 0 && text.find("]]>") == std::string::npos) return "<![CDATA[" + text + "]]>";
        std::string out;
        for (std::size_t i = 0; i < text.size(); ++i) {
            const char c = text[i];
            if (pick(15) == 0) out += pick(2) ? "<!-- - -->" : "<?pi x?>";
            if (c == '&' || c == '<' || (c == '>' && pick(2)) || (c == '"' && pick(2))) {
                out += xml::escape(std::string(1, c));
            } else if (static_cast<unsigned char>(c) < 0x80 && pick(10) == 0) {
                out += (pick(2) ? "&#" + std::to_string(static_cast<int>(c)) : "&#x" + to_hex(c)) + ";";
            } else {
                out += c;
            }
        }
        return out;
    }
    static std::string to_hex(char c) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "%X", static_cast<unsigned char>(c));
        return buf;
    }
    // A timestamp as S3 writes it (mostly), and the instant it means.
    std::pair<std::string, Clock::time_point> timestamp() {
        using namespace std::chrono;
        const sys_days day = sys_days(year(1990) / 1 / 1) + days(pick(40000));
        const year_month_day ymd(day);
        const int h = pick(24), m = pick(60), s = pick(60), digits = pick(6) == 0 ? pick(7) : 3;
        int fraction = 0;
        char buf[64];
        std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d", static_cast<int>(ymd.year()),
                      static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()), h, m, s);
        std::string text = buf;
        if (digits) {
            text += '.';
            for (int i = 0; i < digits; ++i) {
                const int d = pick(10);
                text += static_cast<char>('0' + d);
                if (i < 3) fraction = fraction * 10 + d;
            }
            for (int i = digits; i < 3; ++i) fraction *= 10;
        }
        text += pick(8) == 0 ? "+00:00" : "Z";
        return {text, Clock::time_point(day) + hours(h) + minutes(m) + seconds(s) + milliseconds(fraction)};
    }

    s3db::ListEntry entry(std::string& b, int layout, const std::string& owner) {
        s3db::ListEntry e;
        e.key = random_key();
        auto [when, at] = timestamp();
        e.last_modified = at;
        e.size = pick(5) == 0 ? std::uniform_int_distribution<std::uint64_t>(0, 9'999'999'999'999'999'999u)(rng_)
                              : static_cast<std::uint64_t>(pick(100000));
        char hex[40];
        std::snprintf(hex, sizeof hex, "%08x%08x%08x%08x", pick(1 << 30), pick(1 << 30), pick(1 << 30), pick(1 << 30));
        e.etag = std::string("\"") + hex + (pick(4) == 0 ? "-" + std::to_string(1 + pick(99)) : "") + "\"";
        const std::string etag = pick(4) ? xml::escape(e.etag) : e.etag;
        std::vector<std::string> fields = {
            ws() + element("Key", encode_key(e.key)), ws() + element("LastModified", when),
            ws() + element("ETag", etag), ws() + element("Size", std::to_string(e.size)),
            ws() + element("StorageClass", "STANDARD")};
        if (layout == 1) std::reverse(fields.begin(), fields.end());
        if (layout == 2) fields.push_back(ws() + "<Extra a='1' b=\"&amp;\"><Key>not this one</Key>x<Deep/></Extra>");
        if (layout != 3)
            fields.push_back(ws() + open("Owner") + element("ID", xml::escape(owner)) +
                             element("DisplayName", "M. Tester &amp; co") + close("Owner"));
        fields.push_back(ws() + element("Type", "Normal"));
        b += ws() + open("Contents", pick(30) == 0 ? " x=\"y\"" : "");
        for (const auto& f : fields) b += f;
        b += ws() + close("Contents");
        return e;
    }

    std::mt19937 rng_;
    std::string prefix_;
    bool pretty_ = false;
    bool url_ = false;
};

// A copy of `doc` with one random fault: bytes flipped, dropped, repeated or inserted, or the end
// cut off.
std::string mutate(const std::string& doc, PageMaker& r) {
    std::string d = doc;
    auto at = [&] { return static_cast<std::size_t>(r.pick(static_cast<int>(d.size()))); };
    static const std::string specials = "<>&;/=\"'!?[]#x -:0aZ\x80\xff";
    switch (r.pick(6)) {
        case 0: d[at()] = specials[static_cast<std::size_t>(r.pick(static_cast<int>(specials.size())))]; break;
        case 1: d.erase(at(), 1 + static_cast<std::size_t>(r.pick(8))); break;
        case 2: d.resize(at()); break;
        case 3: {
            const std::size_t from = at();
            d.insert(at(), d.substr(from, 1 + static_cast<std::size_t>(r.pick(40))));
            break;
        }
        case 4: d.insert(at(), 1, specials[static_cast<std::size_t>(r.pick(static_cast<int>(specials.size())))]); break;
        default: d[at()] ^= static_cast<char>(1 << r.pick(8));
    }
    return d;
}

}  // namespace

TEST(XmlS3, ListObjectsV2ReadsGeneratedPagesAsTheyWereMade) {
    PageMaker maker(20240501);
    for (int i = 0; i < 3000; ++i) {
        auto made = maker.make();
        auto page = xml::parse_list_objects_v2(made.body);
        ASSERT_TRUE(page) << made.body;
        ASSERT_TRUE(same_page(*page, made.expected))
            << made.body << "\nread:     " << describe(page) << "\nexpected: " << describe(made.expected);
        auto dom = dom_list_objects_v2(made.body);
        ASSERT_TRUE(dom && same_page(*page, *dom)) << made.body << "\nDOM: " << describe(dom);
    }
}

TEST(XmlS3, ListObjectsV2AgreesWithTheDomOnDamagedPages) {
    PageMaker maker(7);
    int rejected = 0, accepted = 0;
    for (int i = 0; i < 3000; ++i) {
        const std::string body = maker.make().body;
        for (int j = 0; j < 10; ++j) {
            const std::string bad = mutate(body, maker);
            auto fast = xml::parse_list_objects_v2(bad);
            auto dom = dom_list_objects_v2(bad);
            ASSERT_EQ(fast.has_value(), dom.has_value())
                << bad << "\nfast: " << describe(fast) << "\nDOM:  " << describe(dom);
            if (fast) {
                ASSERT_TRUE(same_page(*fast, *dom)) << bad << "\nfast: " << describe(fast) << "\nDOM:  " << describe(dom);
                ++accepted;
            } else {
                ++rejected;
            }
        }
    }
    // Both outcomes must be well represented, or this would prove little.
    EXPECT_GT(rejected, 5000);
    EXPECT_GT(accepted, 2000);
}

// Pages of alike entries are read by matching each entry's markup against the last one read in
// full; these are the ways that could go wrong.
namespace {

std::string page_of(const std::vector<std::string>& entries, std::string_view head = "") {
    std::string b = "<ListBucketResult>" + std::string(head) + "<IsTruncated>false</IsTruncated>";
    for (const auto& e : entries) b += e;
    return b + "</ListBucketResult>";
}

std::string rgw_entry(std::string_view key, std::string_view owner = "testid") {
    return "<Contents><Key>" + std::string(key) +
           "</Key><LastModified>2024-05-01T12:34:56.789Z</LastModified><ETag>&quot;d41d8cd98f00b204e9800998ecf8427e&quot;"
           "</ETag><Size>1234</Size><StorageClass>STANDARD</StorageClass><Owner><ID>" +
           std::string(owner) + "</ID><DisplayName>M. Tester</DisplayName></Owner><Type>Normal</Type></Contents>";
}

}  // namespace

TEST(XmlS3, ListObjectsV2ReadsEveryEntryOfAPageOfAlikeEntries) {
    std::vector<std::string> entries;
    for (int i = 0; i < 50; ++i) entries.push_back(rgw_entry("k" + std::to_string(i) + "&amp;", i % 7 ? "a" : "b"));
    auto page = xml::parse_list_objects_v2(page_of(entries));
    ASSERT_TRUE(page);
    ASSERT_EQ(page->objects.size(), 50u);
    for (int i = 0; i < 50; ++i) {
        EXPECT_EQ(page->objects[static_cast<std::size_t>(i)].key, "k" + std::to_string(i) + "&");
        EXPECT_EQ(page->objects[static_cast<std::size_t>(i)].etag, "\"d41d8cd98f00b204e9800998ecf8427e\"");
        EXPECT_EQ(page->objects[static_cast<std::size_t>(i)].size, 1234u);
        EXPECT_EQ(page->objects[static_cast<std::size_t>(i)].last_modified, *xml::parse_iso8601("2024-05-01T12:34:56.789Z"));
    }
}

TEST(XmlS3, ListObjectsV2RejectsAFaultInAnEntryAfterTheFirst) {
    const std::string good = rgw_entry("a"), later = rgw_entry("b");
    auto with = [&](std::string_view from, std::string_view to) {
        std::string bad = later;
        bad.replace(bad.find(from), from.size(), to);
        return page_of({good, good, bad, good});
    };
    ASSERT_TRUE(xml::parse_list_objects_v2(page_of({good, good, later, good})));
    EXPECT_FALSE(xml::parse_list_objects_v2(with("<Key>b", "<Key>b&bogus;")));
    EXPECT_FALSE(xml::parse_list_objects_v2(with("<Key>b", "<Key>b<")));
    EXPECT_FALSE(xml::parse_list_objects_v2(with("STANDARD", "STAND&ARD")));
    EXPECT_FALSE(xml::parse_list_objects_v2(with("M. Tester", "M. <Tester")));
    EXPECT_FALSE(xml::parse_list_objects_v2(with("<Size>1234", "<Size>12x4")));
    EXPECT_FALSE(xml::parse_list_objects_v2(with("2024-05-01", "2024-02-30")));
    EXPECT_FALSE(xml::parse_list_objects_v2(with("</Type></Contents>", "</Type></Content>")));
    EXPECT_FALSE(xml::parse_list_objects_v2(with("<Key>b</Key>", "")));
    std::string cut = page_of({good, good, later});
    for (std::size_t n = 1; n < later.size() + 20; ++n)
        EXPECT_FALSE(xml::parse_list_objects_v2(std::string_view(cut).substr(0, cut.size() - n))) << n;
}

TEST(XmlS3, ListObjectsV2ChecksEachEntrysEndTagAgainstItsOwnStartTag) {
    // The same markup after a start tag with another name is not the same structure.
    const std::string plain = rgw_entry("a");
    std::string prefixed = rgw_entry("b");
    prefixed.replace(0, 10, "<s3:Contents>");
    EXPECT_FALSE(xml::parse_list_objects_v2(page_of({plain, plain, prefixed})));
    std::string matched = prefixed;
    matched.replace(matched.size() - 11, 11, "</s3:Contents>");
    auto page = xml::parse_list_objects_v2(page_of({plain, plain, matched, plain}));
    ASSERT_TRUE(page);
    EXPECT_EQ(page->objects.size(), 4u);
    EXPECT_EQ(page->objects[2].key, "b");
}

TEST(XmlS3, ListObjectsV2TakesOnlyTheTextDirectlyInsideAField) {
    // As a DOM lookup does: text inside a child of <Key> is not the key's.
    const std::string e = "<Contents><Key><i>x</i></Key><Size>1</Size></Contents>";
    const std::string f = "<Contents><Key>k<i>x</i>y</Key><Size>1<!-- -->2</Size></Contents>";
    auto page = xml::parse_list_objects_v2(page_of({e, e, e, f, f, f}));
    ASSERT_TRUE(page);
    ASSERT_EQ(page->objects.size(), 6u);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(page->objects[static_cast<std::size_t>(i)].key, "");
    for (int i = 3; i < 6; ++i) {
        EXPECT_EQ(page->objects[static_cast<std::size_t>(i)].key, "ky");
        EXPECT_EQ(page->objects[static_cast<std::size_t>(i)].size, 12u);
    }
}

TEST(XmlS3, ListObjectsV2FollowsTheFirstEncodingTypeWhereverItIs) {
    const std::string entries = "<Contents><Key>a%20b</Key></Contents><CommonPrefixes><Prefix>c+d/</Prefix></CommonPrefixes>";
    auto after = xml::parse_list_objects_v2("<ListBucketResult>" + entries +
                                            "<EncodingType>url</EncodingType><EncodingType>no</EncodingType></ListBucketResult>");
    ASSERT_TRUE(after);
    EXPECT_EQ(after->objects.at(0).key, "a b");
    EXPECT_EQ(after->common_prefixes.at(0), "c d/");
    auto not_url = xml::parse_list_objects_v2("<ListBucketResult><EncodingType>no</EncodingType>" + entries +
                                              "<EncodingType>url</EncodingType></ListBucketResult>");
    ASSERT_TRUE(not_url);
    EXPECT_EQ(not_url->objects.at(0).key, "a%20b");
    EXPECT_FALSE(xml::parse_list_objects_v2(
        "<ListBucketResult><Contents><Key>%zz</Key></Contents><EncodingType>url</EncodingType></ListBucketResult>"));
}

TEST(Xml, TimestampsMustNameARealInstant) {
    for (const char* good : {"2024-02-29T00:00:00Z", "2023-12-31T23:59:59.999Z", "1970-01-01T00:00:00+00:00",
                             "2009-10-12T17:50:30.1Z", "2009-10-12T17:50:30.123456Z"})
        EXPECT_TRUE(xml::parse_iso8601(good)) << good;
    EXPECT_EQ(*xml::parse_iso8601("2009-10-12T17:50:30.1Z") - *xml::parse_iso8601("2009-10-12T17:50:30Z"),
              std::chrono::milliseconds(100));
    EXPECT_EQ(*xml::parse_iso8601("2009-10-12T17:50:30.123456Z"), *xml::parse_iso8601("2009-10-12T17:50:30.123Z"));
    EXPECT_EQ(*xml::parse_iso8601("2024-03-01T00:00:00Z") - *xml::parse_iso8601("2024-02-28T00:00:00Z"),
              std::chrono::hours(48));
    for (const char* bad : {"2023-02-29T00:00:00Z", "2024-02-30T00:00:00Z", "2024-04-31T00:00:00Z",
                            "2024-00-10T00:00:00Z", "2024-01-00T00:00:00Z", "2024-01-01T24:00:00Z",
                            "2024-01-01T00:60:00Z", "2024-01-01T00:00:61Z", "2024-01-01T00:00:00.Z",
                            "2024-01-01T00:00:00", "2024-01-01T00:00:00+01:00", "2024-01-01T00:00:00ZZ",
                            "2024-01-01 00:00:00Z", "2024/01/01T00:00:00Z", "9999-12-31T23:59:59Z",
                            "0001-01-01T00:00:00Z"})
        EXPECT_FALSE(xml::parse_iso8601(bad)) << bad;
    // Every digit checked: a non-digit in any place is refused.
    const std::string good = "2009-10-12T17:50:30.000Z";
    for (std::size_t i = 0; i < good.size(); ++i) {
        if (good[i] < '0' || good[i] > '9') continue;
        for (char c : {'a', '/', ':', ' ', '\xff', '\x10'}) {
            std::string bad = good;
            bad[i] = c;
            EXPECT_FALSE(xml::parse_iso8601(bad)) << bad;
        }
    }
}

TEST(Xml, ReferencesAreCheckedToTheLetter) {
    for (const char* good : {"<a>&#x10FFFF;</a>", "<a>&#00000000065;</a>", "<a>&#x0041;&#65;&apos;</a>"})
        EXPECT_TRUE(xml::parse(good)) << good;
    for (const char* bad : {"<a>&#X41;</a>", "<a>&#x;</a>", "<a>&#;</a>", "<a>&#65</a>", "<a>&quot</a>", "<a>&Amp;</a>",
                            "<a>&am;</a>", "<a>&ampx;</a>", "<a>&#xDFFF;</a>", "<a>&#1114112;</a>", "<a b='&x;'/>",
                            "<a>&</a>", "<a>x&</a>"})
        EXPECT_FALSE(xml::parse(bad)) << bad;
    EXPECT_EQ(xml::parse("<a>&#00000000065;&#x00e9;</a>")->text(), "A\xC3\xA9");
}

TEST(Xml, TextOfAnElementLeavesOutItsChildren) {
    auto doc = xml::parse("<a>x<b>in b</b>&amp;<!-- c --><![CDATA[<d>]]><e/>y</a>");
    ASSERT_TRUE(doc);
    EXPECT_EQ(doc->text(), "x&<d>y");
    EXPECT_EQ(doc->child_text("b"), "in b");
}

TEST(Xml, NamesAreReadByteForByteAsTheTableSays) {
    // The SSE2 path reads 16 bytes at a time: each byte value, at each place, must be judged like
    // the byte-at-a-time path judges it.
    for (int c = 0; c < 256; ++c) {
        for (std::size_t at = 0; at < 20; ++at) {
            std::string s(40, 'a');
            s[at] = static_cast<char>(c);
            bool colon = false;
            const std::size_t n = xml::impl::name_length(s.data(), s.data() + s.size(), colon);
            const bool name_byte = xml::impl::name_bytes[static_cast<std::size_t>(c)] != 0;
            EXPECT_EQ(n, name_byte ? s.size() : at) << c << " at " << at;
            EXPECT_EQ(colon, c == ':' ) << c << " at " << at;
        }
    }
}

TEST(Xml, FindEitherFindsTheFirstOfTwoBytesAtEveryPlace) {
    for (std::size_t size = 0; size < 40; ++size) {
        for (std::size_t at = 0; at <= size; ++at) {
            for (std::size_t from = 0; from <= size; ++from) {
                std::string s(size, 'x');
                if (at < size) s[at] = at % 2 ? '<' : '&';
                const char* floor = s.data();
                const char* want = s.data() + (at >= from && at < size ? at : size);
                EXPECT_EQ(s3db::detail::find_either(s.data() + from, s.data() + size, '<', '&'), want);
                EXPECT_EQ(s3db::detail::find_either(s.data() + from, s.data() + size, '<', '&', floor), want);
            }
        }
    }
}

TEST(Xml, FormDecodingTurnsPlusIntoSpaceAndChecksEscapes) {
    EXPECT_EQ(xml::url_decode_form("a+b%2Bc%2b%41"), "a b+c+A");
    EXPECT_EQ(xml::url_decode_form(""), "");
    EXPECT_EQ(s3db::detail::uri_decode("a+b%20"), "a+b ");
    for (const char* bad : {"%", "%4", "%g0", "a%0", "%%41"}) EXPECT_FALSE(xml::url_decode_form(bad)) << bad;
    std::string out = "kept";
    EXPECT_FALSE(s3db::detail::uri_decode_append("x%zz", out, true));
    EXPECT_EQ(out, "kept");
}
