#pragma once
// A small XML reader for S3's responses: one pull scanner (impl::Scanner) that knows the grammar, a
// DOM (Node, parse) built on it, reference decoding and escape. S3 XML is plain: elements, text, the
// five predefined entities and character references, the odd CDATA section. Anything that is not
// well-formed gives nullopt, never undefined behaviour: responses come from the network. The S3
// documents read with it are in xml.hpp.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "s3db/detail/config.hpp"
#include "s3db/detail/encoding.hpp"

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

}  // namespace s3db::detail::xml
#endif  // S3DB_DEFINE_BODIES
