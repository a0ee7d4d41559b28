// The XML reader and the S3 response parsers: documents as AWS and Ceph RGW send them, entities,
// url-encoded listings, errors inside 200 answers, and input that is not XML at all.

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "s3db/detail/xml.hpp"

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
