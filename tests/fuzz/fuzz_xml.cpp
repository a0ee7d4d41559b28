// S3 responses come from the network: every parser returns a result or nullopt, never undefined
// behaviour. ListObjectsV2 pages are also checked against a plain reading of the DOM, since
// ListReader reads entries after the first by matching the markup of the one before.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "s3db/transport/s3/xml.hpp"

namespace xml = s3db::detail::xml;

namespace {

// ListObjectsV2 as documented: the first of each element counts; an entry needs a Key, and its
// Size and LastModified, when present, must parse; keys are url-decoded when the first
// EncodingType says "url"; a truncated page must carry its continuation token.
std::optional<s3db::ListPage> list_from_dom(std::string_view body) {
    auto doc = xml::parse(body);
    if (!doc || doc->name != "ListBucketResult") return std::nullopt;
    const bool url = doc->child("EncodingType") && doc->child_text("EncodingType") == "url";
    auto key_of = [&](const xml::Node& n) -> std::optional<std::string> {
        return url ? xml::url_decode_form(n.text()) : n.text();
    };
    s3db::ListPage page;
    for (const auto& c : doc->children) {
        if (c.name == "Contents") {
            const xml::Node* key = c.child("Key");
            if (!key) return std::nullopt;
            auto& e = page.objects.emplace_back();
            auto k = key_of(*key);
            if (!k) return std::nullopt;
            e.key = std::move(*k);
            e.etag = c.child_text("ETag");
            if (const xml::Node* size = c.child("Size")) {
                bool ok = true;
                e.size = xml::parse_u64(size->text(), ok);
                if (!ok) return std::nullopt;
            }
            if (const xml::Node* modified = c.child("LastModified")) {
                auto when = xml::parse_iso8601(modified->text());
                if (!when) return std::nullopt;
                e.last_modified = *when;
            }
        } else if (c.name == "CommonPrefixes") {
            const xml::Node* prefix = c.child("Prefix");
            if (!prefix) return std::nullopt;
            auto p = key_of(*prefix);
            if (!p) return std::nullopt;
            page.common_prefixes.push_back(std::move(*p));
        }
    }
    if (doc->child("IsTruncated") && doc->child_text("IsTruncated") == "true") {
        if (!doc->child("NextContinuationToken")) return std::nullopt;
        page.next_continuation_token = doc->child_text("NextContinuationToken");
        if (page.next_continuation_token.empty()) return std::nullopt;
    }
    return page;
}

[[noreturn]] void differ(const char* what) {
    std::fprintf(stderr, "fuzz_xml: ListReader and the DOM differ: %s\n", what);
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // A copy of exactly `size` bytes, so that ASan sees any read past the end of the document.
    const std::string copy(reinterpret_cast<const char*>(data), size);
    const std::string_view body(copy);

    if (auto doc = xml::parse(body)) {
        (void)doc->text();
        for (const auto& c : doc->children) (void)c.text();
    }
    (void)xml::parse_error(body);
    (void)xml::parse_delete_result(body);
    (void)xml::parse_copy_result(body);
    (void)xml::parse_complete_multipart(body);
    (void)xml::parse_upload_id(body);
    (void)xml::parse_iso8601(body);

    const auto fast = xml::parse_list_objects_v2(body);
    const auto slow = list_from_dom(body);
    if (fast.has_value() != slow.has_value()) differ(fast ? "only ListReader accepts it" : "only the DOM accepts it");
    if (!fast) return 0;
    if (fast->objects.size() != slow->objects.size()) differ("number of entries");
    for (std::size_t i = 0; i < fast->objects.size(); ++i) {
        const auto &a = fast->objects[i], &b = slow->objects[i];
        if (a.key != b.key || a.etag != b.etag || a.size != b.size || a.last_modified != b.last_modified)
            differ("an entry");
    }
    if (fast->common_prefixes != slow->common_prefixes) differ("common prefixes");
    if (fast->next_continuation_token != slow->next_continuation_token) differ("continuation token");
    return 0;
}
