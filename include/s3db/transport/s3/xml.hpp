#pragma once
// A small XML reader for S3's responses, and the parsers for the documents the S3 transport reads
// (ListObjectsV2, DeleteObjects, CopyObject, multipart, errors). S3 XML is plain: elements, text,
// the five predefined entities and character references, the odd CDATA section. Anything that is
// not well-formed gives nullopt, never undefined behaviour: responses come from the network.
//
// One scanner (impl::Scanner) knows the grammar. The small documents are read through a DOM built
// on it. ListObjectsV2 pages (up to 1000 entries, ~300 KB) are read straight off the scanner, and
// entries after the first are matched against its markup (see ListReader), so that a listing costs
// the client about as much as receiving it: a tree of vectors cost ~13,000 instructions per entry.

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "s3db/detail/config.hpp"
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
    S3DB_DECL std::string text() const;
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

/// Whether the `n` bytes at `a` and `b` are equal. Inline, as names and markup are short: whole
/// words, the last one overlapping the one before.
S3DB_DECL bool same_bytes(const char* a, const char* b, std::size_t n) noexcept;

/// Writes `cp` as UTF-8 at `out`; returns the number of bytes.
S3DB_DECL std::size_t put_utf8(char* out, std::uint32_t cp) noexcept;

/// Reads the reference at the start of `s` (which starts with '&'): returns its length, 0 if
/// malformed, and sets `cp` to the character it stands for.
S3DB_DECL std::size_t entity(std::string_view s, std::uint32_t& cp) noexcept;

/// Appends character data (no '<' in it, references already checked) with its references decoded.
S3DB_DECL void append_decoded(std::string_view raw, std::string& out);

/// How a run of character data inside an element reads.
enum class Run {
    plain,  // as is
    refs,   // has entity or character references to decode
    cdata,  // the inside of a CDATA section: as is
};

/// A start tag.
struct Tag {
    std::string_view qname;  // as written, namespace prefix included
    std::string_view name;   // local name
    std::size_t begin = 0;   // offset of its '<'
    bool empty = false;      // `<x/>`: no content and no end tag
};

/// A run of character data as the scanner met it (see Scanner::record).
struct Note {
    std::size_t begin, end;  // offsets in the document
    Run kind;
    int depth;         // nesting level of the element it is directly inside (the root's is 0)
    std::uint8_t tag;  // free for the recorder's use; 0 when noted
};

// Bytes of an XML name: 1 for a name byte, 2 for ':' (which ends a namespace prefix).
inline constexpr std::array<std::uint8_t, 256> name_bytes = [] {
    std::array<std::uint8_t, 256> t{};
    for (int c = 0; c < 256; ++c)
        t[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
               c == '.' || c >= 0x80;
    t[':'] = 2;
    return t;
}();

/// The length of the run of name bytes (name_bytes) at `p`, and whether it has a ':'. SSE2 takes
/// a name of up to 16 bytes in one step.
S3DB_DECL std::size_t name_length(const char* p, const char* end, bool& colon) noexcept;

/// A pull scanner over a whole document: the one place that knows XML's grammar. The caller walks
/// the elements it cares about with content() and skips the rest; everything is checked as it is
/// passed, so a document read to its end this way is well-formed.
class Scanner {
public:
    static constexpr int max_depth = 64;

    explicit Scanner(std::string_view doc) noexcept : s_(doc) {}

    std::string_view doc() const noexcept { return s_; }
    std::size_t pos() const noexcept { return pos_; }
    /// Nesting level of the element whose content is being read (the root's is 0).
    int depth() const noexcept { return depth_; }

    /// Reads the prolog and the root element's start tag.
    S3DB_DECL bool root(Tag& t);

    /// After the root element: nothing but space, comments and processing instructions.
    bool at_end() { return misc() && pos_ == s_.size(); }

    /// Reads a start tag at the current position (a '<').
    S3DB_DECL bool start_tag(Tag& t);

    /// Reads the character data from the current position up to the next '<', checking its
    /// references; `kind` says whether it has any. Returns the end of the run (a '<' or the end of
    /// the document), nullptr at a malformed reference.
    S3DB_DECL const char* char_data(Run& kind);

    /// Reads the content of the element `t` (whose start tag was just read) through its end tag.
    /// Character data goes to on_text(std::string_view, Run), already checked; each child element
    /// to on_child(const Tag&) -> bool, which must read it through its end tag (content() or
    /// skip()), and may go on over following siblings that it checks itself. Comments and
    /// processing instructions are passed over. `inner`, when given, gets the bytes between the
    /// tags.
    template <class OnText, class OnChild>
    bool content(const Tag& t, OnText&& on_text, OnChild&& on_child, std::string_view* inner = nullptr) {
        if (t.empty) {
            if (inner) *inner = s_.substr(pos_, 0);
            return true;
        }
        const char* const base = s_.data();
        const char* const end = base + s_.size();
        const std::size_t start = pos_;
        for (;;) {
            Run kind;
            const char* p = char_data(kind);
            if (!p || end - p < 2) return false;  // a bad reference, or the document ends inside the element
            if (const auto stop = static_cast<std::size_t>(p - base); stop != pos_) {
                if (notes_) notes_->push_back({pos_, stop, kind, depth_, 0});
                on_text(s_.substr(pos_, stop - pos_), kind);
                pos_ = stop;
            }
            switch (p[1]) {
                case '/':
                    if (!end_tag(t.qname)) return false;
                    if (inner) *inner = s_.substr(start, static_cast<std::size_t>(p - base) - start);
                    return true;
                case '!':
                    if (at("<![CDATA[")) {
                        auto close = s_.find("]]>", pos_ + 9);
                        if (close == std::string_view::npos) return false;
                        if (notes_) notes_->push_back({pos_ + 9, close, Run::cdata, depth_, 0});
                        on_text(s_.substr(pos_ + 9, close - pos_ - 9), Run::cdata);
                        pos_ = close + 3;
                    } else if (!at("<!--") || !skip_past(4, "-->")) {
                        return false;
                    }
                    break;
                case '?':
                    if (!skip_past(2, "?>")) return false;
                    break;
                default: {
                    if (depth_ >= max_depth) return false;
                    Tag child;
                    if (!start_tag(child)) return false;
                    ++depth_;
                    bool ok = on_child(child);
                    --depth_;
                    if (!ok) return false;
                }
            }
        }
    }

    /// Checks and passes over the element `t` (whose start tag was just read).
    S3DB_DECL bool skip(const Tag& t);

    /// Reads the character data directly inside `t` (references and CDATA decoded, child elements
    /// passed over) into `out`: a view into the document when it is one plain run, as nearly all
    /// of S3's is, else into `scratch`.
    S3DB_DECL bool text(const Tag& t, std::string& scratch, std::string_view& out);

    /// While `notes` is set, every run of character data read (at any depth) is appended to it.
    void record(std::vector<Note>* notes) noexcept { notes_ = notes; }

    /// Passes over `bytes`, from earlier in the document, if the document continues with them.
    S3DB_DECL bool literal(std::string_view bytes) noexcept;
    void move_to(std::size_t pos) noexcept { pos_ = pos; }

private:
    static bool space(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
    bool at(std::string_view lit) const noexcept { return s_.substr(pos_).starts_with(lit); }
    S3DB_DECL bool skip_space() noexcept;
    // Past the first `close` that starts at least `open` bytes after the current position.
    S3DB_DECL bool skip_past(std::size_t open, std::string_view close);
    // Whitespace, comments and processing instructions around the root element.
    S3DB_DECL bool misc();
    // name = "value" (or 'value'), at the attribute's name.
    S3DB_DECL bool attribute();
    // At "</": the end tag of `qname`.
    S3DB_DECL bool end_tag(std::string_view qname);

    std::string_view s_;
    std::size_t pos_ = 0;
    int depth_ = 0;
    std::vector<Note>* notes_ = nullptr;
};

S3DB_DECL bool build(Scanner& s, const Tag& t, Node& node);

}  // namespace impl

/// Parses a whole document; nullopt if it is not well-formed XML. The nodes view into `doc`,
/// which must outlive them (hence no overload for a temporary string).
S3DB_DECL std::optional<Node> parse(std::string_view doc);
S3DB_DECL std::optional<Node> parse(const char* doc);
std::optional<Node> parse(std::string&&) = delete;

/// Escapes text for an element or attribute value.
S3DB_DECL std::string escape(std::string_view s);

// ---- S3 documents -------------------------------------------------------------------------------

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
#include <bit>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace s3db::detail::xml {

namespace impl {

S3DB_DECL bool same_bytes(const char* a, const char* b, std::size_t n) noexcept {
    auto differ = [&]<class W>(W, std::size_t at) {
        W x, y;
        std::memcpy(&x, a + at, sizeof x);
        std::memcpy(&y, b + at, sizeof y);
        return x != y;
    };
    if (n >= 8) {
        for (std::size_t i = 0; i + 8 < n; i += 8)
            if (differ(std::uint64_t{}, i)) return false;
        return !differ(std::uint64_t{}, n - 8);
    }
    if (n >= 4) return !differ(std::uint32_t{}, 0) && !differ(std::uint32_t{}, n - 4);
    if (n >= 2) return !differ(std::uint16_t{}, 0) && !differ(std::uint16_t{}, n - 2);
    return n == 0 || *a == *b;
}

S3DB_DECL std::size_t put_utf8(char* out, std::uint32_t cp) noexcept {
    auto put = [&](std::size_t n, unsigned lead) {
        out[0] = static_cast<char>(lead | (cp >> (6 * (n - 1))));
        for (std::size_t i = 1; i < n; ++i) out[i] = static_cast<char>(0x80 | ((cp >> (6 * (n - 1 - i))) & 0x3f));
        return n;
    };
    if (cp < 0x80) return put(1, 0);
    if (cp < 0x800) return put(2, 0xc0);
    if (cp < 0x10000) return put(3, 0xe0);
    return put(4, 0xf0);
}

S3DB_DECL std::size_t entity(std::string_view s, std::uint32_t& cp) noexcept {
    auto named = [&](std::string_view ref, char c) -> std::size_t {
        if (s.size() < ref.size() || !same_bytes(s.data(), ref.data(), ref.size())) return 0;
        cp = static_cast<unsigned char>(c);
        return ref.size();
    };
    if (s.size() < 4) return 0;
    switch (s[1]) {
        case 'q': return named("&quot;", '"');
        case 'a': return s[2] == 'm' ? named("&amp;", '&') : named("&apos;", '\'');
        case 'l': return named("&lt;", '<');
        case 'g': return named("&gt;", '>');
        case '#': break;
        default: return 0;
    }
    const bool hex = s[2] == 'x';
    const std::size_t first = hex ? 3 : 2;
    std::size_t i = first;
    cp = 0;
    for (; i < s.size(); ++i) {
        int v = hex ? hex_value(s[i]) : (s[i] >= '0' && s[i] <= '9' ? s[i] - '0' : -1);
        if (v < 0) break;
        cp = cp * (hex ? 16 : 10) + static_cast<std::uint32_t>(v);
        if (cp > 0x10ffff) return 0;
    }
    if (i == first || i == s.size() || s[i] != ';') return 0;
    if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return i + 1;
}

S3DB_DECL void append_decoded(std::string_view raw, std::string& out) {
    out.reserve(out.size() + raw.size());  // a reference is longer than what it stands for
    for (const char *p = raw.data(), *end = p + raw.size();;) {
        const char* amp = find_either(p, end, '&', '&', raw.data());
        out.append(p, static_cast<std::size_t>(amp - p));
        if (amp == end) return;
        std::uint32_t cp;
        p = amp + entity(std::string_view(amp, static_cast<std::size_t>(end - amp)), cp);
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else {
            char utf8[4];
            out.append(utf8, put_utf8(utf8, cp));
        }
    }
}

S3DB_DECL std::size_t name_length(const char* p, const char* end, bool& colon) noexcept {
    const char* const start = p;
    unsigned seen = 0;
#if defined(__SSE2__)
    for (; end - p >= 16; p += 16) {
        auto in = [](__m128i v, char lo, char hi) {
            return _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8(static_cast<char>(lo - 1))),
                                 _mm_cmplt_epi8(v, _mm_set1_epi8(static_cast<char>(hi + 1))));
        };
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        const __m128i ok = _mm_or_si128(
            _mm_or_si128(in(_mm_or_si128(v, _mm_set1_epi8(0x20)), 'a', 'z'), in(v, '0', ':')),
            _mm_or_si128(_mm_or_si128(in(v, '-', '.'), _mm_cmpeq_epi8(v, _mm_set1_epi8('_'))),
                         _mm_cmplt_epi8(v, _mm_setzero_si128())));  // bytes >= 0x80
        const auto bytes = static_cast<unsigned>(_mm_movemask_epi8(ok));
        const auto colons = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(':'))));
        if (bytes != 0xffff) {
            const int n = std::countr_one(bytes);
            colon = (seen | (colons & ((1u << n) - 1))) != 0;
            return static_cast<std::size_t>(p - start) + static_cast<std::size_t>(n);
        }
        seen |= colons;
    }
#endif
    for (; p != end; ++p) {
        unsigned k = name_bytes[static_cast<unsigned char>(*p)];
        if (!k) break;
        seen |= k & 2;
    }
    colon = seen != 0;
    return static_cast<std::size_t>(p - start);
}

S3DB_DECL bool Scanner::root(Tag& t) {
    if (s_.starts_with("\xEF\xBB\xBF")) pos_ = 3;  // byte order mark
    if (!misc()) return false;
    if (at("<!DOCTYPE")) {
        // S3 never sends one; a simple one (no internal subset) is skipped.
        auto end = s_.find('>', pos_);
        if (end == std::string_view::npos || s_.substr(pos_, end - pos_).find('[') != std::string_view::npos)
            return false;
        pos_ = end + 1;
        if (!misc()) return false;
    }
    return start_tag(t);
}

S3DB_DECL bool Scanner::start_tag(Tag& t) {
    if (pos_ == s_.size() || s_[pos_] != '<') return false;
    t.begin = pos_++;
    bool colon;
    const std::size_t n = name_length(s_.data() + pos_, s_.data() + s_.size(), colon);
    if (n == 0 || (s_[pos_] >= '0' && s_[pos_] <= '9') || s_[pos_] == '-' || s_[pos_] == '.') return false;
    t.qname = s_.substr(pos_, n);
    t.name = colon ? t.qname.substr(t.qname.find(':') + 1) : t.qname;
    pos_ += n;
    if (pos_ != s_.size() && s_[pos_] == '>') {  // the usual case: no attributes
        ++pos_;
        t.empty = false;
        return true;
    }
    // Attributes are checked for shape and ignored: S3 puts nothing we need in them.
    for (;;) {
        bool spaced = skip_space();
        if (pos_ == s_.size()) return false;
        if (s_[pos_] == '>') {
            ++pos_;
            t.empty = false;
            return true;
        }
        if (s_[pos_] == '/') {
            if (!at("/>")) return false;
            pos_ += 2;
            t.empty = true;
            return true;
        }
        if (!spaced || !attribute()) return false;
    }
}

S3DB_DECL const char* Scanner::char_data(Run& kind) {
    const char* const end = s_.data() + s_.size();
    const char* p = find_either(s_.data() + pos_, end, '<', '&');
    kind = Run::plain;
    while (p != end && *p == '&') {
        std::uint32_t cp;
        std::size_t n = entity(std::string_view(p, static_cast<std::size_t>(end - p)), cp);
        if (!n) return nullptr;
        kind = Run::refs;
        p = find_either(p + n, end, '<', '&');
    }
    return p;
}

S3DB_DECL bool Scanner::skip(const Tag& t) {
    return content(t, [](std::string_view, Run) {}, [this](const Tag& c) { return skip(c); });
}

S3DB_DECL bool Scanner::text(const Tag& t, std::string& scratch, std::string_view& out) {
    out = {};
    bool in_scratch = false;
    bool ok = content(
        t,
        [&](std::string_view run, Run kind) {
            if (!in_scratch && kind == Run::plain && out.empty()) {
                out = run;
                return;
            }
            if (!in_scratch) {
                scratch.assign(out);
                in_scratch = true;
            }
            if (kind == Run::refs) append_decoded(run, scratch);
            else scratch.append(run);
        },
        [this](const Tag& c) { return skip(c); });
    if (in_scratch) out = scratch;
    return ok;
}

S3DB_DECL bool Scanner::literal(std::string_view bytes) noexcept {
    const std::size_t n = bytes.size();
    const char* here = s_.data() + pos_;
#if defined(__SSE2__)
    // 16 bytes a step, reading up to 15 past the ends: fine while the document goes on that
    // far after `here`, and `bytes` end before `here` (they are from an earlier entry).
    if (s_.size() - pos_ >= n + 16 && bytes.data() + n <= here) {
        for (std::size_t i = 0;; i += 16) {
            const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(here + i));
            const __m128i y = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes.data() + i));
            const auto same = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(x, y)));
            if (n - i <= 16) {
                if ((~same & ((1u << (n - i)) - 1)) != 0) return false;
                break;
            }
            if (same != 0xffff) return false;
        }
        pos_ += n;
        return true;
    }
#endif
    if (s_.size() - pos_ < n || !same_bytes(here, bytes.data(), n)) return false;
    pos_ += n;
    return true;
}

S3DB_DECL bool Scanner::skip_space() noexcept {
    std::size_t from = pos_;
    while (pos_ < s_.size() && space(s_[pos_])) ++pos_;
    return pos_ != from;
}

S3DB_DECL bool Scanner::skip_past(std::size_t open, std::string_view close) {
    auto p = s_.find(close, pos_ + open);
    if (p == std::string_view::npos) return false;
    pos_ = p + close.size();
    return true;
}

S3DB_DECL bool Scanner::misc() {
    for (;;) {
        skip_space();
        if (at("<?")) {
            if (!skip_past(2, "?>")) return false;
        } else if (at("<!--")) {
            if (!skip_past(4, "-->")) return false;
        } else {
            return true;
        }
    }
}

S3DB_DECL bool Scanner::attribute() {
    bool colon;
    const std::size_t n = name_length(s_.data() + pos_, s_.data() + s_.size(), colon);
    if (n == 0) return false;
    pos_ += n;
    skip_space();
    if (pos_ == s_.size() || s_[pos_] != '=') return false;
    ++pos_;
    skip_space();
    if (pos_ == s_.size() || (s_[pos_] != '"' && s_[pos_] != '\'')) return false;
    const char quote = s_[pos_++];
    const std::size_t close = s_.find(quote, pos_);
    if (close == std::string_view::npos) return false;
    const char* end = s_.data() + close;
    for (const char* p = s_.data() + pos_; (p = find_either(p, end, '<', '&')) != end;) {
        std::uint32_t cp;
        std::size_t n = *p == '&' ? entity(std::string_view(p, static_cast<std::size_t>(end - p)), cp) : 0;
        if (!n) return false;
        p += n;
    }
    pos_ = close + 1;
    return true;
}

S3DB_DECL bool Scanner::end_tag(std::string_view qname) {
    const std::size_t n = qname.size();
    if (s_.size() - pos_ < n + 3 || !same_bytes(s_.data() + pos_ + 2, qname.data(), n)) return false;
    pos_ += n + 2;
    if (s_[pos_] != '>') {
        skip_space();
        if (pos_ == s_.size() || s_[pos_] != '>') return false;
    }
    ++pos_;
    return true;
}

S3DB_DECL bool build(Scanner& s, const Tag& t, Node& node) {
    node.name = t.name;
    std::string_view inner;
    bool ok = s.content(
        t, [](std::string_view, Run) {}, [&](const Tag& c) { return build(s, c, node.children.emplace_back()); },
        &inner);
    if (!ok) return false;
    node.content = inner;
    node.outer = s.doc().substr(t.begin, s.pos() - t.begin);
    return true;
}

}  // namespace impl

S3DB_DECL std::string Node::text() const {
    // Nearly all S3 text is a leaf with nothing to decode: copy it in one go.
    const char* end = content.data() + content.size();
    if (children.empty() && find_either(content.data(), end, '<', '&') == end) return std::string(content);
    // The node was checked when the document was parsed, so reading it again cannot fail.
    impl::Scanner s(outer);
    impl::Tag t;
    std::string scratch;
    std::string_view text;
    if (!s.start_tag(t) || !s.text(t, scratch, text)) return {};
    return std::string(text);
}

S3DB_DECL std::optional<Node> parse(std::string_view doc) {
    impl::Scanner s(doc);
    impl::Tag t;
    Node root;
    if (!s.root(t) || !impl::build(s, t, root) || !s.at_end()) return std::nullopt;
    return root;
}

S3DB_DECL std::optional<Node> parse(const char* doc) { return parse(std::string_view(doc)); }

S3DB_DECL std::string escape(std::string_view s) {
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
