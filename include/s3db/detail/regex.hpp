#pragma once
// A linear-time matcher for the JavaScript RegExp subset s3db.js schemas use in `pattern:`. The
// pattern compiles to a small program run as a Pike VM (every thread advances in lock step over the
// text), so time is O(text × program) and memory O(program) whatever the pattern: no backtracking,
// no recursion over the text, where std::regex overflows the stack on a 20k-character value.
//
// Supported: literals, '.', classes [...] with ranges and negation, \d \w \s \D \W \S \b \B, escapes
// (\n \t \xHH \uHHHH \u{...} \cX, identity), anchors ^ $, groups (...) (?:...) (?<name>...),
// alternation, quantifiers * + ? {n} {n,} {n,m} (lazy forms too: only match/no match is asked).
// Flags i (JavaScript's case canonicalisation for Latin, Greek and Cyrillic), m and s. Backreferences and lookaround are refused (RegexError).
// Text is read as UTF-8 code points; an invalid byte reads as U+FFFD.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "s3db/detail/config.hpp"
#include "s3db/errors.hpp"

namespace s3db::detail {

class LinearRegex {
public:
    /// Largest compiled program; a {n,m} counted repeat is unrolled, so this bounds counts too.
    static constexpr std::size_t max_program = 20000;
    /// Deepest group nesting the parser follows.
    static constexpr int max_nesting = 100;

    LinearRegex() = default;
    S3DB_DECL LinearRegex(std::string_view pattern, std::string_view flags);

    /// RegExp.prototype.test: does the pattern match anywhere in `text`?
    S3DB_DECL bool search(std::string_view text) const;

    std::size_t program_size() const noexcept { return prog_.size(); }

private:
    enum class Op : std::uint8_t { chr, any, cls, split, jmp, bol, eol, word, not_word, match };
    struct Inst {
        Op op;
        char32_t c = 0;
        int x = 0, y = 0;
    };
    struct Class {
        std::vector<std::pair<char32_t, char32_t>> ranges;
        bool negated = false;
    };
    enum class Kind : std::uint8_t { empty, chr, any, cls, bol, eol, word, not_word, cat, alt, repeat };
    struct Node {
        Node(Kind k = Kind::empty, char32_t ch = 0) : kind(k), c(ch) {}  // NOLINT: {Kind::bol} reads well
        Kind kind = Kind::empty;
        char32_t c = 0;
        int cls = -1;
        int min = 0, max = -1;  // repeat; max -1: unbounded
        std::vector<int> kids;
    };

    std::vector<Inst> prog_;
    std::vector<Class> classes_;
    std::vector<Node> nodes_;
    bool icase_ = false, multiline_ = false, dotall_ = false;

    S3DB_DECL static std::u32string decode(std::string_view s);

    static bool line_terminator(char32_t c) noexcept { return c == '\n' || c == '\r' || c == 0x2028 || c == 0x2029; }
    static bool word_char(char32_t c) noexcept {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    }
    /// JavaScript's case canonicalisation for the i flag (without u): the upper case, unless that
    /// would turn a non-ASCII character into an ASCII one. Covers ASCII, Latin-1, Latin Extended-A,
    /// Greek and Cyrillic; other scripts match case-sensitively.
    S3DB_DECL static char32_t upper(char32_t c) noexcept;
    /// The characters whose upper case is `u` (besides `u` itself): at most two (σ and ς for Σ, μ and µ for Μ).
    S3DB_DECL static int lowers_of(char32_t u, char32_t out[2]) noexcept;
    bool same_char(char32_t a, char32_t b) const noexcept { return a == b || (icase_ && upper(a) == upper(b)); }
    S3DB_DECL bool class_has(const Class& k, char32_t c) const noexcept;

    /// Adds the thread at `pc` and everything it reaches without reading, with an explicit stack
    /// (no recursion). True when one of them matches.
    S3DB_DECL bool add(std::vector<int>& list, std::vector<std::size_t>& mark, std::vector<int>& stack, int pc,
                       const std::u32string& in, std::size_t pos) const;

    // ---- compiling ------------------------------------------------------------------------------

    int node(Node n) {
        nodes_.push_back(std::move(n));
        return static_cast<int>(nodes_.size() - 1);
    }

    /// Instructions `n` compiles to, saturating (so a huge count is refused, not overflowed).
    S3DB_DECL std::uint64_t size_of(int id) const;

    void push(Inst i) {
        if (prog_.size() >= max_program)
            throw RegexError("pattern compiles to more than " + std::to_string(max_program) + " instructions");
        prog_.push_back(i);
    }
    int here() const noexcept { return static_cast<int>(prog_.size()); }

    S3DB_DECL void emit_node(int id);

    struct Parser {
        LinearRegex& re;
        std::u32string p;
        std::size_t i = 0;
        int depth = 0;

        [[noreturn]] void error(const std::string& why) const {
            throw RegexError(why + " at position " + std::to_string(i));
        }
        bool more() const noexcept { return i < p.size(); }
        char32_t peek() const noexcept { return i < p.size() ? p[i] : 0; }

        S3DB_DECL int parse();

        S3DB_DECL int alternation();

        S3DB_DECL int sequence();

        /// Reads a decimal count, saturating past the program bound.
        S3DB_DECL bool number(int& out);

        S3DB_DECL std::optional<std::pair<int, int>> quantifier();

        S3DB_DECL int atom(bool& assertion);

        S3DB_DECL int class_node(Class k);

        static void add_digit(Class& k) { k.ranges.emplace_back('0', '9'); }
        S3DB_DECL static void add_word(Class& k);
        S3DB_DECL static void add_space(Class& k);
        /// Adds the complement of what `fill` adds (for \D \W \S inside a class).
        template <class Fill>
        static void add_complement(Class& k, Fill fill) {
            Class c;
            fill(c);
            std::sort(c.ranges.begin(), c.ranges.end());
            char32_t from = 0;
            for (auto [lo, hi] : c.ranges) {
                if (lo > from) k.ranges.emplace_back(from, lo - 1);
                from = hi + 1;
            }
            k.ranges.emplace_back(from, 0x10FFFF);
        }
        /// \d \w \s and their negations into `k`; false when `c` is none of them.
        S3DB_DECL static bool add_shorthand(Class& k, char32_t c);

        S3DB_DECL unsigned hex_digits(std::size_t count);

        /// The character an escape stands for (after the backslash), for escapes that are one.
        S3DB_DECL char32_t escaped_char(bool in_class);

        S3DB_DECL int escape(bool& assertion);

        S3DB_DECL int char_class();
    };
};

#if S3DB_DEFINE_BODIES

S3DB_DECL LinearRegex::LinearRegex(std::string_view pattern, std::string_view flags) {
    for (char f : flags) {
        if (f == 'i') icase_ = true;
        else if (f == 'm') multiline_ = true;
        else if (f == 's') dotall_ = true;
    }
    Parser p{*this, decode(pattern)};
    int root = p.parse();
    emit_node(root);
    push({Op::match});
}

S3DB_DECL bool LinearRegex::search(std::string_view text) const {
    auto in = decode(text);
    const std::size_t n = prog_.size();
    std::vector<int> cur, next, stack;
    std::vector<std::size_t> mark(n, SIZE_MAX);  // the step a pc was last added in
    cur.reserve(n);
    next.reserve(n);
    for (std::size_t pos = 0; pos <= in.size(); ++pos) {
        // A new thread at every position makes the search unanchored; pc 0 first keeps it cheap.
        if (add(cur, mark, stack, 0, in, pos)) return true;
        if (pos == in.size()) break;
        const char32_t c = in[pos];
        next.clear();
        for (int pc : cur) {
            const Inst& ins = prog_[static_cast<std::size_t>(pc)];
            bool ok = false;
            switch (ins.op) {
                case Op::chr: ok = same_char(ins.c, c); break;
                case Op::any: ok = dotall_ || !line_terminator(c); break;
                case Op::cls: ok = class_has(classes_[ins.x], c); break;
                default: break;
            }
            if (ok && add(next, mark, stack, pc + 1, in, pos + 1)) return true;
        }
        std::swap(cur, next);
    }
    return false;
}

S3DB_DECL std::u32string LinearRegex::decode(std::string_view s) {
    std::u32string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        auto b = [&](std::size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u; };
        unsigned c = b(0);
        auto cont = [&](std::size_t k) { return (b(k) & 0xC0) == 0x80; };
        char32_t v = 0xFFFD;
        std::size_t len = 1;
        if (c < 0x80) {
            v = c;
        } else if (c >= 0xC2 && c <= 0xDF && cont(1)) {
            v = (c & 0x1F) << 6 | (b(1) & 0x3F);
            len = 2;
        } else if (c >= 0xE0 && c <= 0xEF && cont(1) && cont(2)) {
            v = (c & 0x0F) << 12 | (b(1) & 0x3F) << 6 | (b(2) & 0x3F);
            len = 3;
            if (v < 0x800) v = 0xFFFD;
        } else if (c >= 0xF0 && c <= 0xF4 && cont(1) && cont(2) && cont(3)) {
            v = (c & 0x07) << 18 | (b(1) & 0x3F) << 12 | (b(2) & 0x3F) << 6 | (b(3) & 0x3F);
            len = 4;
            if (v < 0x10000 || v > 0x10FFFF) v = 0xFFFD;
        }
        out += v;
        i += len;
    }
    return out;
}

S3DB_DECL char32_t LinearRegex::upper(char32_t c) noexcept {
    if (c < 0x80) return c >= 'a' && c <= 'z' ? c - 32 : c;
    if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 32;
    if (c == 0xB5) return 0x39C;  // micro sign: Greek capital mu
    if (c == 0xFF) return 0x178;
    if (c >= 0x100 && c <= 0x17F) {
        if (c == 0x130 || c == 0x131 || c == 0x138 || c == 0x149 || c == 0x178 || c == 0x17F) return c;
        bool odd_upper = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
        bool lower = odd_upper ? (c % 2 == 0) : (c % 2 == 1);
        return lower ? c - 1 : c;
    }
    if (c >= 0x3B1 && c <= 0x3C9) return c == 0x3C2 ? char32_t(0x3A3) : c - 32;
    if (c >= 0x430 && c <= 0x44F) return c - 32;
    if (c >= 0x450 && c <= 0x45F) return c - 80;
    return c;
}

S3DB_DECL int LinearRegex::lowers_of(char32_t u, char32_t out[2]) noexcept {
    int n = 0;
    auto consider = [&](char32_t c) {
        if (c != u && upper(c) == u) out[n++] = c;
    };
    if (u < 0x80) consider(u + 32);
    else if (u >= 0xC0 && u <= 0xDE) consider(u + 32);
    else if (u == 0x178) consider(0xFF);
    else if (u >= 0x100 && u <= 0x17F) consider(u + 1);
    else if (u >= 0x391 && u <= 0x3A9) {
        consider(u + 32);
        if (u == 0x3A3) consider(0x3C2);
        if (u == 0x39C) consider(0xB5);
    } else if (u >= 0x410 && u <= 0x42F) consider(u + 32);
    else if (u >= 0x400 && u <= 0x40F) consider(u + 80);
    return n;
}

S3DB_DECL bool LinearRegex::class_has(const Class& k, char32_t c) const noexcept {
    auto in = [&](char32_t v) {
        for (auto [lo, hi] : k.ranges)
            if (v >= lo && v <= hi) return true;
        return false;
    };
    bool hit = in(c);
    if (!hit && icase_) {
        // Some member has the same canonical case as c: its upper case, or a lower case of that.
        char32_t u = upper(c), l[2];
        hit = in(u);
        for (int i = 0, n = lowers_of(u, l); !hit && i < n; ++i) hit = in(l[i]);
    }
    return hit != k.negated;
}

S3DB_DECL bool LinearRegex::add(std::vector<int>& list, std::vector<std::size_t>& mark, std::vector<int>& stack, int pc,
                                const std::u32string& in, std::size_t pos) const {
    const std::size_t step = pos;
    stack.clear();
    stack.push_back(pc);
    const char32_t prev = pos > 0 ? in[pos - 1] : 0, next = pos < in.size() ? in[pos] : 0;
    while (!stack.empty()) {
        int p = stack.back();
        stack.pop_back();
        auto& m = mark[static_cast<std::size_t>(p)];
        if (m == step) continue;
        m = step;
        const Inst& ins = prog_[static_cast<std::size_t>(p)];
        switch (ins.op) {
            case Op::match: return true;
            case Op::jmp: stack.push_back(ins.x); break;
            case Op::split:
                stack.push_back(ins.y);
                stack.push_back(ins.x);
                break;
            case Op::bol:
                if (pos == 0 || (multiline_ && line_terminator(prev))) stack.push_back(p + 1);
                break;
            case Op::eol:
                if (pos == in.size() || (multiline_ && line_terminator(next))) stack.push_back(p + 1);
                break;
            case Op::word:
            case Op::not_word: {
                bool boundary = (pos > 0 && word_char(prev)) != (pos < in.size() && word_char(next));
                if (boundary == (ins.op == Op::word)) stack.push_back(p + 1);
                break;
            }
            default: list.push_back(p); break;
        }
    }
    return false;
}

S3DB_DECL std::uint64_t LinearRegex::size_of(int id) const {
    const Node& n = nodes_[static_cast<std::size_t>(id)];
    std::uint64_t s = 0;
    switch (n.kind) {
        case Kind::empty: return 0;
        case Kind::cat:
            for (int k : n.kids) s += size_of(k);
            return s;
        case Kind::alt:
            for (int k : n.kids) s += size_of(k) + 2;
            return s;
        case Kind::repeat: {
            std::uint64_t e = size_of(n.kids[0]);
            s = e * static_cast<std::uint64_t>(n.min);
            if (n.max < 0) s += e + 2;
            else s += (e + 1) * static_cast<std::uint64_t>(n.max - n.min);
            return s;
        }
        default: return 1;
    }
}

S3DB_DECL void LinearRegex::emit_node(int id) {
    const Node& n = nodes_[static_cast<std::size_t>(id)];  // nodes_ no longer grows
    switch (n.kind) {
        case Kind::empty: return;
        case Kind::chr: return push({Op::chr, n.c, 0, 0});
        case Kind::any: return push({Op::any});
        case Kind::cls: return push({Op::cls, 0, n.cls, 0});
        case Kind::bol: return push({Op::bol});
        case Kind::eol: return push({Op::eol});
        case Kind::word: return push({Op::word});
        case Kind::not_word: return push({Op::not_word});
        case Kind::cat:
            for (int k : n.kids) emit_node(k);
            return;
        case Kind::alt: {
            // split L1, next; L1: a; jmp end; next: split L2, next2; ... last alternative plain
            std::vector<int> jumps;
            for (std::size_t i = 0; i < n.kids.size(); ++i) {
                if (i + 1 < n.kids.size()) {
                    int split = here();
                    push({Op::split, 0, split + 1, 0});
                    emit_node(n.kids[i]);
                    jumps.push_back(here());
                    push({Op::jmp});
                    prog_[static_cast<std::size_t>(split)].y = here();
                } else {
                    emit_node(n.kids[i]);
                }
            }
            for (int j : jumps) prog_[static_cast<std::size_t>(j)].x = here();
            return;
        }
        case Kind::repeat: {
            int e = n.kids[0];
            for (int i = 0; i < n.min; ++i) emit_node(e);
            if (n.max < 0) {
                // L: split body, end; body; jmp L
                int loop = here();
                push({Op::split, 0, loop + 1, 0});
                emit_node(e);
                push({Op::jmp, 0, loop, 0});
                prog_[static_cast<std::size_t>(loop)].y = here();
            } else {
                // Nested optionals: (e(e(e)?)?)? — every skip jumps to the end.
                std::vector<int> splits;
                for (int i = n.min; i < n.max; ++i) {
                    splits.push_back(here());
                    push({Op::split, 0, here() + 1, 0});
                    emit_node(e);
                }
                for (int s : splits) prog_[static_cast<std::size_t>(s)].y = here();
            }
            return;
        }
    }
}

S3DB_DECL int LinearRegex::Parser::parse() {
    int n = alternation();
    if (more()) error(peek() == ')' ? "unmatched ')'" : "unexpected character");
    if (re.size_of(n) > max_program)
        throw RegexError("pattern compiles to more than " + std::to_string(max_program) + " instructions");
    return n;
}

S3DB_DECL int LinearRegex::Parser::alternation() {
    if (++depth > max_nesting) error("groups nested deeper than " + std::to_string(max_nesting) + " levels");
    Node alt{Kind::alt};
    alt.kids.push_back(sequence());
    while (more() && peek() == '|') {
        ++i;
        alt.kids.push_back(sequence());
    }
    --depth;
    return alt.kids.size() == 1 ? alt.kids[0] : re.node(std::move(alt));
}

S3DB_DECL int LinearRegex::Parser::sequence() {
    Node cat{Kind::cat};
    while (more() && peek() != '|' && peek() != ')') {
        bool assertion = false;
        int a = atom(assertion);
        if (auto q = quantifier()) {
            if (assertion) error("nothing to repeat");
            Node r{Kind::repeat};
            r.min = q->first;
            r.max = q->second;
            r.kids.push_back(a);
            a = re.node(std::move(r));
            // A sum of sizes keeps huge counts from overflowing before the final check.
            if (re.size_of(a) > max_program)
                throw RegexError("pattern compiles to more than " + std::to_string(max_program) + " instructions");
        }
        cat.kids.push_back(a);
    }
    return re.node(std::move(cat));
}

S3DB_DECL bool LinearRegex::Parser::number(int& out) {
    std::size_t start = i;
    long long v = 0;
    while (more() && peek() >= '0' && peek() <= '9') {
        v = std::min<long long>(v * 10 + (peek() - '0'), 1LL << 30);
        ++i;
    }
    out = static_cast<int>(v);
    return i > start;
}

S3DB_DECL std::optional<std::pair<int, int>> LinearRegex::Parser::quantifier() {
    if (!more()) return std::nullopt;
    std::pair<int, int> q;
    char32_t c = peek();
    if (c == '*') q = {0, -1};
    else if (c == '+') q = {1, -1};
    else if (c == '?') q = {0, 1};
    else if (c == '{') {
        // "{" that is not a well-formed count is a literal (JavaScript's web-compatibility rule)
        std::size_t save = i;
        ++i;
        int lo = 0, hi = 0;
        if (!number(lo)) {
            i = save;
            return std::nullopt;
        }
        hi = lo;
        if (more() && peek() == ',') {
            ++i;
            if (!number(hi)) hi = -1;
        }
        if (!more() || peek() != '}') {
            i = save;
            return std::nullopt;
        }
        if (hi >= 0 && hi < lo) error("numbers out of order in {} quantifier");
        if (lo > static_cast<int>(max_program) || hi > static_cast<int>(max_program))
            error("repetition count over " + std::to_string(max_program));
        q = {lo, hi};
    } else {
        return std::nullopt;
    }
    ++i;
    if (more() && peek() == '?') ++i;  // lazy: the same language
    if (more() && (peek() == '*' || peek() == '+' || peek() == '?' )) error("nothing to repeat");
    return q;
}

S3DB_DECL int LinearRegex::Parser::atom(bool& assertion) {
    char32_t c = p[i++];
    switch (c) {
        case '^': assertion = true; return re.node({Kind::bol});
        case '$': assertion = true; return re.node({Kind::eol});
        case '.': return re.node({Kind::any});
        case '*': case '+': case '?': error("nothing to repeat");
        case '{': {
            --i;
            if (quantifier()) error("nothing to repeat");
            ++i;
            return re.node({Kind::chr, '{'});
        }
        case '[': return char_class();
        case '(': {
            if (more() && peek() == '?') {
                ++i;
                char32_t k = more() ? p[i++] : 0;
                if (k == ':') {
                } else if (k == '<' && more() && peek() != '=' && peek() != '!') {
                    while (more() && peek() != '>') ++i;  // a named group: the name does not matter here
                    if (!more()) error("unterminated group name");
                    ++i;
                } else if (k == '=' || k == '!' || k == '<') {
                    error("lookaround assertions are not supported");
                } else {
                    error("invalid group");
                }
            }
            int inner = alternation();
            if (!more() || peek() != ')') error("missing ')'");
            ++i;
            return inner;
        }
        case ')': error("unmatched ')'");
        case '\\': return escape(assertion);
        default: return re.node({Kind::chr, c});
    }
}

S3DB_DECL int LinearRegex::Parser::class_node(Class k) {
    re.classes_.push_back(std::move(k));
    Node n{Kind::cls};
    n.cls = static_cast<int>(re.classes_.size() - 1);
    return re.node(std::move(n));
}

S3DB_DECL void LinearRegex::Parser::add_word(Class& k) {
    k.ranges.emplace_back('0', '9');
    k.ranges.emplace_back('A', 'Z');
    k.ranges.emplace_back('_', '_');
    k.ranges.emplace_back('a', 'z');
}

S3DB_DECL void LinearRegex::Parser::add_space(Class& k) {
    for (auto r : std::initializer_list<std::pair<char32_t, char32_t>>{
             {0x09, 0x0D}, {0x20, 0x20}, {0xA0, 0xA0}, {0x1680, 0x1680}, {0x2000, 0x200A},
             {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000}, {0xFEFF, 0xFEFF}})
        k.ranges.push_back(r);
}

S3DB_DECL bool LinearRegex::Parser::add_shorthand(Class& k, char32_t c) {
    switch (c) {
        case 'd': add_digit(k); return true;
        case 'w': add_word(k); return true;
        case 's': add_space(k); return true;
        case 'D': add_complement(k, add_digit); return true;
        case 'W': add_complement(k, add_word); return true;
        case 'S': add_complement(k, add_space); return true;
        default: return false;
    }
}

S3DB_DECL unsigned LinearRegex::Parser::hex_digits(std::size_t count) {
    unsigned v = 0;
    for (std::size_t k = 0; k < count; ++k) {
        if (!more()) error("incomplete escape");
        char32_t h = p[i++];
        int d = (h >= '0' && h <= '9') ? int(h - '0') : (h >= 'a' && h <= 'f') ? int(h - 'a' + 10)
              : (h >= 'A' && h <= 'F') ? int(h - 'A' + 10) : -1;
        if (d < 0) error("invalid hexadecimal escape");
        v = v * 16 + static_cast<unsigned>(d);
    }
    return v;
}

S3DB_DECL char32_t LinearRegex::Parser::escaped_char(bool in_class) {
    if (!more()) error("\\ at end of pattern");
    char32_t c = p[i++];
    switch (c) {
        case 'n': return '\n';
        case 'r': return '\r';
        case 't': return '\t';
        case 'f': return '\f';
        case 'v': return '\v';
        case '0':
            if (more() && peek() >= '0' && peek() <= '9') error("octal escapes are not supported");
            return 0;
        case 'b': return in_class ? char32_t(8) : c;
        case 'x': return hex_digits(2);
        case 'u':
            if (more() && peek() == '{') {
                ++i;
                char32_t v = 0;
                std::size_t start = i;
                while (more() && peek() != '}') {
                    v = v * 16 + hex_digits(1);
                    if (v > 0x10FFFF) error("code point out of range");
                }
                if (!more() || i == start) error("invalid \\u{...} escape");
                ++i;
                return v;
            }
            return hex_digits(4);
        case 'c': {
            if (!more()) error("invalid \\c escape");
            char32_t l = p[i++];
            if (!((l >= 'a' && l <= 'z') || (l >= 'A' && l <= 'Z'))) error("invalid \\c escape");
            return l % 32;
        }
        case 'k': error("backreferences are not supported");
        default:
            if (c >= '1' && c <= '9') error("backreferences are not supported");
            return c;  // identity escape: \. \\ \/ \- \[ ...
    }
}

S3DB_DECL int LinearRegex::Parser::escape(bool& assertion) {
    if (!more()) error("\\ at end of pattern");
    char32_t c = peek();
    if (c == 'b' || c == 'B') {
        ++i;
        assertion = true;
        return re.node({c == 'b' ? Kind::word : Kind::not_word});
    }
    Class k;
    if (add_shorthand(k, c)) {
        ++i;
        return class_node(std::move(k));
    }
    return re.node({Kind::chr, escaped_char(false)});
}

S3DB_DECL int LinearRegex::Parser::char_class() {
    Class k;
    if (more() && peek() == '^') {
        k.negated = true;
        ++i;
    }
    // ']' first closes an empty class: [] matches nothing, [^] anything.
    while (true) {
        if (!more()) error("missing ']'");
        if (peek() == ']') {
            ++i;
            break;
        }
        char32_t lo;
        if (peek() == '\\') {
            ++i;
            if (more() && add_shorthand(k, peek())) {
                ++i;
                continue;
            }
            lo = escaped_char(true);
        } else {
            lo = p[i++];
        }
        if (more() && peek() == '-' && i + 1 < p.size() && p[i + 1] != ']') {
            ++i;
            char32_t hi;
            if (peek() == '\\') {
                ++i;
                Class probe;
                if (more() && add_shorthand(probe, peek())) {
                    // [a-\d]: web-compatible JavaScript reads '-' literally
                    ++i;
                    k.ranges.emplace_back(lo, lo);
                    k.ranges.emplace_back('-', '-');
                    for (auto r : probe.ranges) k.ranges.push_back(r);
                    continue;
                }
                hi = escaped_char(true);
            } else {
                hi = p[i++];
            }
            if (hi < lo) error("range out of order in character class");
            k.ranges.emplace_back(lo, hi);
        } else {
            k.ranges.emplace_back(lo, lo);
        }
    }
    return class_node(std::move(k));
}

#endif  // S3DB_DEFINE_BODIES

}  // namespace s3db::detail
