#pragma once
// The parsers for the documents the S3 transport reads (ListObjectsV2, DeleteObjects, CopyObject,
// multipart, errors), on the scanner of xml_scanner.hpp. The small documents are read through its
// DOM. ListObjectsV2 pages (up to 1000 entries, ~300 KB) are read straight off the scanner, and
// entries after the first are matched against its markup (see ListReader), so that a listing costs
// the client about as much as receiving it: a tree of vectors cost ~13,000 instructions per entry.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "s3db/detail/config.hpp"
#include "s3db/detail/encoding.hpp"
#include "s3db/transport/s3/xml_scanner.hpp"
#include "s3db/transport/transport.hpp"

namespace s3db::detail::xml {

namespace impl {

/// The layout of 8 bytes of a timestamp: '0' for a digit, other bytes as they must be.
struct DigitLayout {
    std::uint64_t bytes = 0;       // the layout, first byte lowest
    std::uint64_t separators = 0;  // 0xff where a byte is not a digit
};
consteval DigitLayout digit_layout(const char (&layout)[9]) {
    DigitLayout d;
    for (int i = 0; i < 8; ++i) {
        d.bytes |= std::uint64_t{static_cast<unsigned char>(layout[i])} << (8 * i);
        if (layout[i] != '0') d.separators |= std::uint64_t{0xff} << (8 * i);
    }
    return d;
}

/// The 8 bytes at `p`, which must follow `layout`, with pairs of digits combined: byte k (first
/// byte lowest) is 10 * digit k + digit k+1. nullopt if a byte does not fit. Every byte is checked
/// at once, as a timestamp is read for every entry of a listing.
S3DB_DECL std::optional<std::uint64_t> digit_pairs(const char* p, DigitLayout layout) noexcept;

}  // namespace impl

/// `2009-10-12T17:50:30.000Z` (S3's XML timestamps; the fraction is optional and read to the
/// millisecond); nullopt if malformed, including a day the month does not have or an instant the
/// clock cannot hold.
S3DB_DECL std::optional<std::chrono::system_clock::time_point> parse_iso8601(std::string_view s);

/// An S3 `<Error>` document.
struct ErrorDocument {
    std::string code, message, request_id, key;
};

/// The `<Error>` in `body`, or nullopt if `body` is not one (also for garbage).
S3DB_DECL std::optional<ErrorDocument> parse_error(std::string_view body);

/// Decodes a value S3 sent with `encoding-type=url`. S3 form-encodes: '+' is a space.
S3DB_DECL std::optional<std::string> url_decode_form(std::string_view s);

S3DB_DECL std::uint64_t parse_u64(std::string_view s, bool& ok);

namespace impl {

/// Reads a ListObjectsV2 page straight off the scanner. The first of each element counts, as in a
/// DOM lookup: EncodingType, IsTruncated and NextContinuationToken of the result; Key, ETag, Size
/// and LastModified of each Contents; Prefix of each CommonPrefixes.
///
/// The entries of a page are alike, so the markup of the last <Contents> read in full (every
/// byte of it, between its runs of text) is kept as its shape. A following entry whose markup is
/// the same bytes has the same structure, already checked; only its runs of text are left to
/// check, and each is known to be a field or nothing. Anything else is read in full.
class ListReader {
public:
    explicit ListReader(std::string_view body) : s_(body) {}

    S3DB_DECL std::optional<ListPage> read();

private:
    enum Field : std::uint8_t { none, key, etag, size, modified, end };

    struct Piece {
        std::string_view markup;  // bytes to match...
        Field field;              // ...then a run of text for this field (`end`: none, the entry is over)
        // When `field` is none: the bytes from `markup` through the markup of piece `after` (the
        // next one with a field, or the end), runs included. Runs that are no field (storage
        // class, owner, type) are nearly always the same in every entry: one match passes them.
        std::string_view glued{};
        std::size_t after = 0;
    };

    S3DB_DECL static Field field_of(std::string_view name) noexcept;

    S3DB_DECL bool contents(const Tag& t);

    S3DB_DECL bool in_full(const Tag& t, ListEntry& e);

    S3DB_DECL void learn(const Tag& t, std::size_t start, bool shapely);

    S3DB_DECL bool by_shape(ListEntry& e);

    // The text of field `f`, still to be decoded if `kind` is Run::refs.
    S3DB_DECL bool take(Field f, std::string_view text, Run kind, ListEntry& e);

    // Keys are url-decoded once the first EncodingType says so; those read before it, at the end.
    S3DB_DECL bool key_text(std::string_view text, std::string& out);
    S3DB_DECL bool url_decode(std::string& k);

    S3DB_DECL bool common_prefixes(const Tag& t);

    Scanner s_;
    ListPage page_;
    std::string scratch_;
    std::string_view text_;
    std::optional<bool> url_;
    std::size_t objects_before_url_ = 0, prefixes_before_url_ = 0;
    std::vector<Note> notes_;
    std::vector<Piece> shape_;
    std::string_view shape_qname_;  // of the <Contents> the shape was learnt from
    std::string_view shape_open_;   // its start tag
};

}  // namespace impl

/// A ListObjectsV2 result page, keys as stored (the caller strips its prefix); nullopt if malformed.
S3DB_DECL std::optional<ListPage> parse_list_objects_v2(std::string_view body);

/// A DeleteObjects result: keys deleted and per-key errors, keys as stored.
struct DeleteResult {
    std::vector<std::string> deleted;
    std::vector<RemoveManyResult::Failure> errors;
};

S3DB_DECL std::optional<DeleteResult> parse_delete_result(std::string_view body);

/// The ETag of a CopyObjectResult; nullopt if the body is anything else (S3 reports some failures
/// of a copy in the body of a 200).
S3DB_DECL std::optional<std::string> parse_copy_result(std::string_view body);

/// The ETag of a CompleteMultipartUploadResult, "" when the element is empty or missing (Ceph RGW
/// 16 sends `<ETag></ETag>`); nullopt if the body is another document.
S3DB_DECL std::optional<std::string> parse_complete_multipart(std::string_view body);

/// The UploadId of an InitiateMultipartUploadResult.
S3DB_DECL std::optional<std::string> parse_upload_id(std::string_view body);

}  // namespace s3db::detail::xml

#if S3DB_DEFINE_BODIES
#include <algorithm>
#include <bit>
#include <cstring>

namespace s3db::detail::xml {

namespace impl {

S3DB_DECL std::optional<std::uint64_t> digit_pairs(const char* p, DigitLayout layout) noexcept {
    std::uint64_t x;
    std::memcpy(&x, p, 8);
    if constexpr (std::endian::native == std::endian::big) x = __builtin_bswap64(x);
    x ^= layout.bytes;  // a digit becomes its value, a right separator 0
    constexpr std::uint64_t ones = 0x0101010101010101;
    if ((x & layout.separators) || (((x + 0x76 * ones) | x) & 0x80 * ones)) return std::nullopt;  // a byte above 9
    return x * 10 + (x >> 8);
}

}  // namespace impl

S3DB_DECL std::optional<std::chrono::system_clock::time_point> parse_iso8601(std::string_view s) {
    if (s.size() < 20) return std::nullopt;
    constexpr auto date_layout = impl::digit_layout("0000-00-"), day_layout = impl::digit_layout("00T00:00"),
                   time_layout = impl::digit_layout("00:00:00");
    const auto ymd = impl::digit_pairs(s.data(), date_layout), dhm = impl::digit_pairs(s.data() + 8, day_layout),
               hms = impl::digit_pairs(s.data() + 11, time_layout);
    if (!ymd || !dhm || !hms) return std::nullopt;
    auto pair = [](std::uint64_t pairs, int k) { return static_cast<unsigned>((pairs >> (8 * k)) & 0xff); };
    const unsigned h = pair(*dhm, 3), m = pair(*dhm, 6), sec = pair(*hms, 6);
    std::size_t i = 19;
    unsigned millis = 0;
    if (s[i] == '.') {
        unsigned digits = 0;
        for (++i; i < s.size() && static_cast<unsigned char>(s[i] - '0') <= 9; ++i, ++digits)
            if (digits < 3) millis = millis * 10 + static_cast<unsigned>(s[i] - '0');
        if (!digits) return std::nullopt;
        for (; digits < 3; ++digits) millis *= 10;
    }
    const std::string_view zone = s.substr(i);
    if (zone != "Z" && zone != "+00:00") return std::nullopt;
    using namespace std::chrono;
    const year_month_day date{std::chrono::year(static_cast<int>(pair(*ymd, 0) * 100 + pair(*ymd, 2))),
                              std::chrono::month(pair(*ymd, 5)), std::chrono::day(pair(*dhm, 0))};
    if (!date.ok() || h > 23 || m > 59 || sec > 60) return std::nullopt;
    const std::int64_t ms = std::int64_t{sys_days(date).time_since_epoch().count()} * 86'400'000 +
                            (h * 3600 + m * 60 + sec) * std::int64_t{1000} + millis;
    // The clock counts nanoseconds on some platforms: years outside 1678-2261 do not fit.
    constexpr std::int64_t limit = duration_cast<milliseconds>(system_clock::duration::max()).count();
    if (ms > limit || ms < -limit) return std::nullopt;
    return system_clock::time_point(duration_cast<system_clock::duration>(milliseconds(ms)));
}

S3DB_DECL std::optional<ErrorDocument> parse_error(std::string_view body) {
    auto doc = parse(body);
    if (!doc || doc->name != "Error") return std::nullopt;
    return ErrorDocument{doc->child_text("Code"), doc->child_text("Message"), doc->child_text("RequestId"),
                         doc->child_text("Key")};
}

S3DB_DECL std::optional<std::string> url_decode_form(std::string_view s) {
    std::string out;
    if (!uri_decode_append(s, out, true)) return std::nullopt;
    return out;
}

S3DB_DECL std::uint64_t parse_u64(std::string_view s, bool& ok) {
    std::uint64_t v = 0;
    if (s.empty() || s.size() > 19) ok = false;
    for (char c : s) {
        if (c < '0' || c > '9') ok = false;
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return v;
}

namespace impl {

S3DB_DECL std::optional<ListPage> ListReader::read() {
    Tag root;
    if (!s_.root(root) || root.name != "ListBucketResult") return std::nullopt;
    std::optional<std::string> truncated, token;
    auto first_text = [&](const Tag& t, std::optional<std::string>& out) {
        if (out) return s_.skip(t);
        if (!s_.text(t, scratch_, text_)) return false;
        out.emplace(text_);
        return true;
    };
    bool ok = s_.content(
        root, [](std::string_view, Run) {},
        [&](const Tag& c) {
            if (c.name == "Contents") return contents(c);
            if (c.name == "CommonPrefixes") return common_prefixes(c);
            if (c.name == "IsTruncated") return first_text(c, truncated);
            if (c.name == "NextContinuationToken") return first_text(c, token);
            if (c.name == "EncodingType" && !url_) {
                if (!s_.text(c, scratch_, text_)) return false;
                url_ = text_ == "url";
                objects_before_url_ = page_.objects.size();
                prefixes_before_url_ = page_.common_prefixes.size();
                return true;
            }
            return s_.skip(c);
        });
    if (!ok || !s_.at_end()) return std::nullopt;
    // S3 sends EncodingType before the entries, but the schema does not order it.
    if (url_.value_or(false)) {
        for (std::size_t i = 0; i < objects_before_url_; ++i)
            if (!url_decode(page_.objects[i].key)) return std::nullopt;
        for (std::size_t i = 0; i < prefixes_before_url_; ++i)
            if (!url_decode(page_.common_prefixes[i])) return std::nullopt;
    }
    if (truncated == "true") {
        if (!token || token->empty()) return std::nullopt;  // a truncated V2 page always carries one
        page_.next_continuation_token = std::move(*token);
    }
    return std::move(page_);
}

S3DB_DECL ListReader::Field ListReader::field_of(std::string_view name) noexcept {
    if (name == "Key") return key;
    if (name == "ETag") return etag;
    if (name == "Size") return size;
    if (name == "LastModified") return modified;
    return none;
}

S3DB_DECL bool ListReader::contents(const Tag& t) {
    ListEntry& e = page_.objects.emplace_back();
    const std::size_t start = s_.pos();
    if (shape_.empty() || t.qname != shape_qname_ || !by_shape(e)) {
        s_.move_to(start);
        e = ListEntry{};
        if (!in_full(t, e)) return false;
    }
    if (page_.objects.size() == 1) {
        // Entries of a page are about the same size: room for the rest at once.
        const std::size_t bytes = s_.pos() - t.begin, rest = s_.doc().size() - s_.pos();
        page_.objects.reserve(std::min(max_list_keys, 1 + rest / bytes));
    }
    // The next entry nearly always follows at once with the same start tag: matched as bytes
    // too, it is read here rather than through the scanner's loop (siblings, so the same
    // depth), which would cost more than the entry.
    while (!shape_.empty()) {
        const std::size_t at = s_.pos();
        if (!s_.literal(shape_open_)) break;
        if (!by_shape(page_.objects.emplace_back())) {
            page_.objects.pop_back();
            s_.move_to(at);
            break;
        }
    }
    return true;
}

S3DB_DECL bool ListReader::in_full(const Tag& t, ListEntry& e) {
    const std::size_t start = s_.pos();
    notes_.clear();
    s_.record(&notes_);
    bool seen[end] = {};
    bool shapely = true;  // whether each field's text is one run (or none) that a Piece can carry
    bool ok = s_.content(
        t, [](std::string_view, Run) {},
        [&](const Tag& c) {
            const Field f = field_of(c.name);
            if (f == none || seen[f]) return s_.skip(c);
            seen[f] = true;
            const std::size_t first = notes_.size();
            const int depth = s_.depth();
            if (!s_.text(c, scratch_, text_)) return false;
            int runs = 0;
            for (std::size_t i = first; i < notes_.size(); ++i)
                if (notes_[i].depth == depth) notes_[i].tag = f, ++runs;
            shapely &= runs <= 1;
            return take(f, text_, Run::plain, e);
        });
    s_.record(nullptr);
    if (!ok || !seen[key]) return false;
    learn(t, start, shapely);
    return true;
}

S3DB_DECL void ListReader::learn(const Tag& t, std::size_t start, bool shapely) {
    shape_.clear();
    if (!shapely) return;
    const std::string_view doc = s_.doc();
    std::size_t from = start;
    for (const Note& n : notes_) {
        if (n.kind == Run::cdata) {
            shape_.clear();
            return;
        }
        shape_.push_back({doc.substr(from, n.begin - from), static_cast<Field>(n.tag)});
        from = n.end;
    }
    shape_.push_back({doc.substr(from, s_.pos() - from), end});
    for (std::size_t i = shape_.size() - 1; i-- > 0;) {
        if (shape_[i].field != none) continue;
        const std::size_t j = shape_[i + 1].field == none ? shape_[i + 1].after : i + 1;
        const char* first = shape_[i].markup.data();
        const char* last = shape_[j].markup.data() + shape_[j].markup.size();
        shape_[i].glued = std::string_view(first, static_cast<std::size_t>(last - first));
        shape_[i].after = j;
    }
    shape_qname_ = t.qname;
    shape_open_ = doc.substr(t.begin, start - t.begin);
}

S3DB_DECL bool ListReader::by_shape(ListEntry& e) {
    for (std::size_t i = 0; i < shape_.size(); ++i) {
        const Piece* piece = &shape_[i];
        if (piece->field == none && s_.literal(piece->glued)) {
            i = piece->after;
            piece = &shape_[i];
        } else if (!s_.literal(piece->markup)) {
            return false;
        }
        if (piece->field == end) return true;
        const std::size_t begin = s_.pos();
        Run kind;
        const char* stop = s_.char_data(kind);
        if (!stop) return false;
        s_.move_to(static_cast<std::size_t>(stop - s_.doc().data()));
        if (piece->field == none) continue;
        if (!take(piece->field, s_.doc().substr(begin, s_.pos() - begin), kind, e)) return false;
    }
    return false;  // not reached: the last piece is the end
}

S3DB_DECL bool ListReader::take(Field f, std::string_view text, Run kind, ListEntry& e) {
    if (f == etag) {  // its quotes are nearly always sent as &quot;: decoded straight in
        e.etag.clear();
        if (kind == Run::refs) append_decoded(text, e.etag);
        else e.etag.assign(text);
        return true;
    }
    if (kind == Run::refs) {
        scratch_.clear();
        append_decoded(text, scratch_);
        text = scratch_;
    }
    switch (f) {
        case key: return key_text(text, e.key);
        case size: {
            bool ok = true;
            e.size = parse_u64(text, ok);
            return ok;
        }
        case modified: {
            auto when = parse_iso8601(text);
            if (when) e.last_modified = *when;
            return when.has_value();
        }
        default: return true;
    }
}

S3DB_DECL bool ListReader::key_text(std::string_view text, std::string& out) {
    if (!url_.value_or(false)) {
        out.assign(text);
        return true;
    }
    return uri_decode_append(text, out, true);
}

S3DB_DECL bool ListReader::url_decode(std::string& k) {
    scratch_.clear();
    if (!uri_decode_append(k, scratch_, true)) return false;
    k.assign(scratch_);
    return true;
}

S3DB_DECL bool ListReader::common_prefixes(const Tag& t) {
    bool seen = false;
    return s_.content(
               t, [](std::string_view, Run) {},
               [&](const Tag& c) {
                   if (c.name != "Prefix" || seen) return s_.skip(c);
                   seen = true;
                   return s_.text(c, scratch_, text_) && key_text(text_, page_.common_prefixes.emplace_back());
               }) &&
           seen;
}

}  // namespace impl

S3DB_DECL std::optional<ListPage> parse_list_objects_v2(std::string_view body) { return impl::ListReader(body).read(); }

S3DB_DECL std::optional<DeleteResult> parse_delete_result(std::string_view body) {
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

S3DB_DECL std::optional<std::string> parse_copy_result(std::string_view body) {
    auto doc = parse(body);
    if (!doc || doc->name != "CopyObjectResult") return std::nullopt;
    std::string etag = doc->child_text("ETag");
    if (etag.empty()) return std::nullopt;
    return etag;
}

S3DB_DECL std::optional<std::string> parse_complete_multipart(std::string_view body) {
    auto doc = parse(body);
    if (!doc || doc->name != "CompleteMultipartUploadResult") return std::nullopt;
    return doc->child_text("ETag");
}

S3DB_DECL std::optional<std::string> parse_upload_id(std::string_view body) {
    auto doc = parse(body);
    if (!doc || doc->name != "InitiateMultipartUploadResult") return std::nullopt;
    std::string id = doc->child_text("UploadId");
    if (id.empty()) return std::nullopt;
    return id;
}

}  // namespace s3db::detail::xml
#endif  // S3DB_DEFINE_BODIES
