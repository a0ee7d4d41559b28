#pragma once
// A small XML reader for S3's responses, and the parsers for the documents the S3 transport reads
// (ListObjectsV2, DeleteObjects, CopyObject, multipart, errors). S3 XML is plain: elements, text,
// the five predefined entities and character references, the odd CDATA section. Names and text
// are views into the response; text is decoded only when asked for. Anything that is not
// well-formed gives nullopt, never undefined behaviour: responses come from the network.

#include <chrono>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "s3db/detail/encoding.hpp"
#include "s3db/transport/transport.hpp"

namespace s3db::detail::xml {

struct Node {
    std::string_view name;     // local name: a namespace prefix is dropped
    std::string_view content;  // raw bytes between the start and end tags
    std::string_view outer;    // the element from '<' to the end of its end tag
    std::vector<Node> children;

    const Node* child(std::string_view n) const noexcept {
        for (const auto& c : children)
            if (c.name == n) return &c;
        return nullptr;
    }
    /// The character data directly inside this element, entities and CDATA decoded.
    std::string text() const;
    /// text() of the first child called `n`, or "" when there is none.
    std::string child_text(std::string_view n) const {
        const Node* c = child(n);
        return c ? c->text() : std::string{};
    }
    template <class F>
    void each(std::string_view n, F&& f) const {
        for (const auto& c : children)
            if (c.name == n) f(c);
    }
};

namespace impl {

inline void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xc0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xe0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
        out += static_cast<char>(0xf0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    }
}

/// Decodes the entity at the start of `s` (which starts with '&'). Returns its length, 0 if malformed.
inline std::size_t entity(std::string_view s, std::string* out) {
    auto semi = s.find(';');
    if (semi == std::string_view::npos || semi < 2 || semi > 12) return 0;
    std::string_view name = s.substr(1, semi - 1);
    char plain = 0;
    if (name == "amp") plain = '&';
    else if (name == "lt") plain = '<';
    else if (name == "gt") plain = '>';
    else if (name == "quot") plain = '"';
    else if (name == "apos") plain = '\'';
    if (plain) {
        if (out) *out += plain;
        return semi + 1;
    }
    if (name[0] != '#' || name.size() < 2) return 0;
    bool hex = name[1] == 'x';
    std::string_view digits = name.substr(hex ? 2 : 1);
    if (digits.empty()) return 0;
    std::uint32_t cp = 0;
    for (char c : digits) {
        int v = hex ? hex_value(c) : (c >= '0' && c <= '9' ? c - '0' : -1);
        if (v < 0) return 0;
        cp = cp * (hex ? 16 : 10) + static_cast<std::uint32_t>(v);
        if (cp > 0x10ffff) return 0;
    }
    if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    if (out) append_utf8(*out, cp);
    return semi + 1;
}

class Parser {
public:
    explicit Parser(std::string_view doc) : s_(doc) {}

    std::optional<Node> document() {
        if (s_.starts_with("\xEF\xBB\xBF")) pos_ = 3;  // byte order mark
        if (!misc()) return std::nullopt;
        if (s_.substr(pos_).starts_with("<!DOCTYPE")) {
            // S3 never sends one; a simple one (no internal subset) is skipped.
            auto end = s_.find('>', pos_);
            if (end == std::string_view::npos || s_.substr(pos_, end - pos_).find('[') != std::string_view::npos)
                return std::nullopt;
            pos_ = end + 1;
            if (!misc()) return std::nullopt;
        }
        Node root;
        if (!element(root, 0) || !misc() || pos_ != s_.size()) return std::nullopt;
        return root;
    }

private:
    static constexpr int max_depth = 64;

    static bool space(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
    static bool name_char(char c) noexcept {
        auto u = static_cast<unsigned char>(c);
        return !space(c) && c != '<' && c != '>' && c != '/' && c != '=' && c != '"' && c != '\'' && c != '&' && u > 0x20;
    }
    bool at(std::string_view lit) const noexcept { return s_.substr(pos_).starts_with(lit); }
    void skip_space() noexcept {
        while (pos_ < s_.size() && space(s_[pos_])) ++pos_;
    }
    bool skip_past(std::string_view end) {
        auto p = s_.find(end, pos_);
        if (p == std::string_view::npos) return false;
        pos_ = p + end.size();
        return true;
    }
    // Whitespace, comments and processing instructions around the root element.
    bool misc() {
        for (;;) {
            skip_space();
            if (at("<?")) {
                if (!skip_past("?>")) return false;
            } else if (at("<!--")) {
                if (!skip_past("-->")) return false;
            } else {
                return true;
            }
        }
    }
    std::optional<std::string_view> name() {
        std::size_t start = pos_;
        while (pos_ < s_.size() && name_char(s_[pos_])) ++pos_;
        if (pos_ == start) return std::nullopt;
        return s_.substr(start, pos_ - start);
    }
    static std::string_view local(std::string_view qname) noexcept {
        auto colon = qname.find(':');
        return colon == std::string_view::npos ? qname : qname.substr(colon + 1);
    }
    bool text_ok(std::size_t from, std::size_t to) const {
        for (std::size_t i = from; i < to; ++i) {
            if (s_[i] == '&') {
                std::size_t n = entity(s_.substr(i, to - i), nullptr);
                if (!n) return false;
                i += n - 1;
            }
        }
        return true;
    }

    bool element(Node& node, int depth) {
        if (depth > max_depth || !at("<")) return false;
        std::size_t start = pos_++;
        auto qname = name();
        if (!qname) return false;
        node.name = local(*qname);
        // Attributes are checked for shape and ignored: S3 puts nothing we need in them.
        for (;;) {
            skip_space();
            if (pos_ >= s_.size()) return false;
            if (at("/>")) {
                pos_ += 2;
                node.content = s_.substr(pos_, 0);
                node.outer = s_.substr(start, pos_ - start);
                return true;
            }
            if (s_[pos_] == '>') {
                ++pos_;
                break;
            }
            if (!name()) return false;
            skip_space();
            if (pos_ >= s_.size() || s_[pos_] != '=') return false;
            ++pos_;
            skip_space();
            if (pos_ >= s_.size() || (s_[pos_] != '"' && s_[pos_] != '\'')) return false;
            char q = s_[pos_++];
            auto end = s_.find(q, pos_);
            if (end == std::string_view::npos || !text_ok(pos_, end)) return false;
            if (s_.substr(pos_, end - pos_).find('<') != std::string_view::npos) return false;
            pos_ = end + 1;
        }
        std::size_t content_start = pos_;
        for (;;) {
            auto lt = s_.find('<', pos_);
            if (lt == std::string_view::npos || !text_ok(pos_, lt)) return false;
            pos_ = lt;
            if (at("</")) {
                std::size_t content_end = pos_;
                pos_ += 2;
                auto end_name = name();
                if (!end_name || *end_name != *qname) return false;
                skip_space();
                if (pos_ >= s_.size() || s_[pos_] != '>') return false;
                ++pos_;
                node.content = s_.substr(content_start, content_end - content_start);
                node.outer = s_.substr(start, pos_ - start);
                return true;
            }
            if (at("<![CDATA[")) {
                if (!skip_past("]]>")) return false;
            } else if (at("<!--")) {
                if (!skip_past("-->")) return false;
            } else if (at("<?")) {
                if (!skip_past("?>")) return false;
            } else {
                node.children.emplace_back();
                if (!element(node.children.back(), depth + 1)) return false;
            }
        }
    }

    std::string_view s_;
    std::size_t pos_ = 0;
};

}  // namespace impl

inline std::string Node::text() const {
    std::string out;
    std::size_t next_child = 0;
    const char* base = content.data();
    for (std::size_t i = 0; i < content.size();) {
        if (next_child < children.size() && base + i == children[next_child].outer.data()) {
            i += children[next_child++].outer.size();
            continue;
        }
        std::string_view rest = content.substr(i);
        if (rest.starts_with("<![CDATA[")) {
            auto end = rest.find("]]>");
            out.append(rest.substr(9, end - 9));
            i += end + 3;
        } else if (rest.starts_with("<!--")) {
            i += rest.find("-->") + 3;
        } else if (rest.starts_with("<?")) {
            i += rest.find("?>") + 2;
        } else if (rest[0] == '&') {
            i += impl::entity(rest, &out);  // validated when parsed
        } else {
            out += rest[0];
            ++i;
        }
    }
    return out;
}

/// Parses a whole document; nullopt if it is not well-formed XML. The nodes view into `doc`,
/// which must outlive them (hence no overload for a temporary string).
inline std::optional<Node> parse(std::string_view doc) { return impl::Parser(doc).document(); }
inline std::optional<Node> parse(const char* doc) { return parse(std::string_view(doc)); }
std::optional<Node> parse(std::string&&) = delete;

/// Escapes text for an element or attribute value.
inline std::string escape(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 16);
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&apos;"; break;
            case '\r': out += "&#13;"; break;  // literal CR would be normalised away by the server's parser
            default: out += c;
        }
    }
    return out;
}

// ---- S3 documents -------------------------------------------------------------------------------

/// `2009-10-12T17:50:30.000Z` (S3's XML timestamps); nullopt if malformed.
inline std::optional<std::chrono::system_clock::time_point> parse_iso8601(std::string_view s) {
    auto num = [&](std::size_t pos, std::size_t len) -> int {
        if (pos + len > s.size()) return -1;
        int v = 0;
        for (std::size_t i = pos; i < pos + len; ++i) {
            if (s[i] < '0' || s[i] > '9') return -1;
            v = v * 10 + (s[i] - '0');
        }
        return v;
    };
    if (s.size() < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':') return std::nullopt;
    int Y = num(0, 4), M = num(5, 2), D = num(8, 2), h = num(11, 2), m = num(14, 2), sec = num(17, 2);
    if (Y < 0 || M < 1 || M > 12 || D < 1 || D > 31 || h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 60)
        return std::nullopt;
    std::size_t i = 19;
    long millis = 0;
    if (i < s.size() && s[i] == '.') {
        ++i;
        long scale = 100;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
            millis += (s[i] - '0') * scale;
            scale /= 10;
            ++i;
        }
    }
    if (auto zone = s.substr(i); zone != "Z" && zone != "+00:00") return std::nullopt;
    std::tm tm{};
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    auto t = std::chrono::system_clock::from_time_t(timegm(&tm));
    return t + std::chrono::milliseconds(millis);
}

/// An S3 `<Error>` document.
struct ErrorDocument {
    std::string code, message, request_id, key;
};

/// The `<Error>` in `body`, or nullopt if `body` is not one (also for garbage).
inline std::optional<ErrorDocument> parse_error(std::string_view body) {
    auto doc = parse(body);
    if (!doc || doc->name != "Error") return std::nullopt;
    return ErrorDocument{doc->child_text("Code"), doc->child_text("Message"), doc->child_text("RequestId"),
                         doc->child_text("Key")};
}

/// Decodes a value S3 sent with `encoding-type=url`. S3 form-encodes: '+' is a space.
inline std::optional<std::string> url_decode_form(std::string_view s) {
    std::string plus;
    if (s.find('+') != std::string_view::npos) {
        plus.assign(s);
        for (char& c : plus)
            if (c == '+') c = ' ';
        s = plus;
    }
    return uri_decode(s);
}

inline std::uint64_t parse_u64(std::string_view s, bool& ok) {
    std::uint64_t v = 0;
    if (s.empty() || s.size() > 19) ok = false;
    for (char c : s) {
        if (c < '0' || c > '9') ok = false;
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return v;
}

/// A ListObjectsV2 result page, keys as stored (the caller strips its prefix); nullopt if malformed.
inline std::optional<ListPage> parse_list_objects_v2(std::string_view body) {
    auto doc = parse(body);
    if (!doc || doc->name != "ListBucketResult") return std::nullopt;
    bool url = doc->child_text("EncodingType") == "url";
    bool ok = true;
    auto key_text = [&](const Node& n) -> std::string {
        std::string t = n.text();
        if (!url) return t;
        auto d = url_decode_form(t);
        if (!d) ok = false;
        return d ? std::move(*d) : std::string{};
    };
    ListPage page;
    doc->each("Contents", [&](const Node& c) {
        const Node* key = c.child("Key");
        if (!key) {
            ok = false;
            return;
        }
        ListEntry e;
        e.key = key_text(*key);
        e.etag = c.child_text("ETag");
        if (const Node* size = c.child("Size")) e.size = parse_u64(size->text(), ok);
        if (const Node* lm = c.child("LastModified")) {
            if (auto t = parse_iso8601(lm->text())) e.last_modified = *t;
            else ok = false;
        }
        page.objects.push_back(std::move(e));
    });
    doc->each("CommonPrefixes", [&](const Node& c) {
        if (const Node* p = c.child("Prefix")) page.common_prefixes.push_back(key_text(*p));
        else ok = false;
    });
    if (doc->child_text("IsTruncated") == "true") {
        page.next_continuation_token = doc->child_text("NextContinuationToken");
        if (page.next_continuation_token.empty()) ok = false;  // a truncated V2 page always carries one
    }
    if (!ok) return std::nullopt;
    return page;
}

/// A DeleteObjects result: keys deleted and per-key errors, keys as stored.
struct DeleteResult {
    std::vector<std::string> deleted;
    std::vector<RemoveManyResult::Failure> errors;
};

inline std::optional<DeleteResult> parse_delete_result(std::string_view body) {
    auto doc = parse(body);
    if (!doc || doc->name != "DeleteResult") return std::nullopt;
    DeleteResult r;
    bool ok = true;
    doc->each("Deleted", [&](const Node& d) {
        if (const Node* k = d.child("Key")) r.deleted.push_back(k->text());
        else ok = false;
    });
    doc->each("Error", [&](const Node& e) {
        if (!e.child("Key")) ok = false;
        r.errors.push_back({e.child_text("Key"), e.child_text("Code"), e.child_text("Message")});
    });
    if (!ok) return std::nullopt;
    return r;
}

/// The ETag of a CopyObjectResult; nullopt if the body is anything else (S3 reports some failures
/// of a copy in the body of a 200).
inline std::optional<std::string> parse_copy_result(std::string_view body) {
    auto doc = parse(body);
    if (!doc || doc->name != "CopyObjectResult") return std::nullopt;
    std::string etag = doc->child_text("ETag");
    if (etag.empty()) return std::nullopt;
    return etag;
}

/// The ETag of a CompleteMultipartUploadResult, "" when the element is empty or missing (Ceph RGW
/// 16 sends `<ETag></ETag>`); nullopt if the body is another document.
inline std::optional<std::string> parse_complete_multipart(std::string_view body) {
    auto doc = parse(body);
    if (!doc || doc->name != "CompleteMultipartUploadResult") return std::nullopt;
    return doc->child_text("ETag");
}

/// The UploadId of an InitiateMultipartUploadResult.
inline std::optional<std::string> parse_upload_id(std::string_view body) {
    auto doc = parse(body);
    if (!doc || doc->name != "InitiateMultipartUploadResult") return std::nullopt;
    std::string id = doc->child_text("UploadId");
    if (id.empty()) return std::nullopt;
    return id;
}

}  // namespace s3db::detail::xml
