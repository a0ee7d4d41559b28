#pragma once
// FullText's tokenizer: UTF-8 text -> terms with their byte spans, so the same code indexes a record,
// reads a query and finds the words to highlight.
//
// A token is a maximal run of word characters: ASCII letters and digits, and every code point from
// U+0080 up except Latin-1 punctuation and symbols (U+0080-U+00BF but ª µ º, × and ÷), general
// punctuation, symbols, arrows and math (U+2000-U+2BFF), CJK punctuation (U+3000-U+303F), variation
// selectors and specials (U+FE00-U+FE0F, U+FFF0-U+FFFF) and the BOM. Everything else separates
// tokens (apostrophes included, as in SQLite FTS5's unicode61 tokenizer).
//
// Case folding (unless case_sensitive) covers ASCII, Latin-1 Supplement, Latin Extended-A, basic
// Greek (with final sigma folded to σ) and basic Cyrillic (U+0400-U+042F); other scripts keep their
// case. Accent folding (optional) maps the letters of Latin-1 Supplement and Latin Extended-A to
// their base letters (ß -> ss, æ -> ae, œ -> oe, þ -> th), Greek vowels with tonos or dialytika to
// the bare vowel and ё to е.
//
// Then, in this order: words shorter than min_word_length code points are dropped, stop words are
// dropped (compared folded to lower case, whatever case_sensitive says), and, with stemming, what is
// left is stemmed with Porter2 (English; words holding anything but ASCII letters are kept as they are).

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "s3db/detail/config.hpp"

namespace s3db {

/// How text becomes terms. Changing any of these for an existing index needs rebuild_index.
struct TokenizerOptions {
    std::size_t min_word_length = 3;  // in code points
    bool case_sensitive = false;
    bool accent_folding = true;
    bool stop_words = true;                  // drop stop words
    std::vector<std::string> stop_word_list{};  // empty: the English list (fulltext::english_stop_words)
    bool stemming = false;                   // Porter2 (English)
};

namespace fulltext {

/// One term of a text and the bytes [begin, end) of the word it came from.
struct Token {
    std::string term;
    std::size_t begin = 0;
    std::size_t end = 0;
};

/// The English stop word list (the seed's list plus the most common function words).
S3DB_DECL const std::vector<std::string>& english_stop_words();

/// The next code point of `s` at `i` (advancing `i`); malformed bytes read as U+FFFD, one byte each.
S3DB_DECL char32_t next_code_point(std::string_view s, std::size_t& i) noexcept;

S3DB_DECL void append_utf8(std::string& out, char32_t c);

S3DB_DECL bool is_word_char(char32_t c) noexcept;

/// Lower case, for the ranges the header lists.
S3DB_DECL char32_t fold_case(char32_t c) noexcept;

/// `c` without its accent, appended to `out` (ß -> "ss").
S3DB_DECL void append_unaccented(std::string& out, char32_t c);

/// The words of `text` and their spans, before any filtering (folded as `o` says).
S3DB_DECL std::vector<Token> split_words(std::string_view text, const TokenizerOptions& o);

class Tokenizer {
public:
    S3DB_DECL explicit Tokenizer(TokenizerOptions options = {});

    const TokenizerOptions& options() const noexcept { return options_; }

    /// The terms of `text` as indexed: split, folded, filtered, stemmed.
    S3DB_DECL std::vector<Token> tokens(std::string_view text) const;

    /// A word as typed (already split) to its term; empty if it is filtered out.
    S3DB_DECL std::string term(std::string_view word) const;

    S3DB_DECL bool is_stop_word(std::string_view folded) const;

private:
    /// The term of a split word, or empty when filtered out.
    S3DB_DECL std::string finish(std::string word) const;

    TokenizerOptions options_;
    std::set<std::string, std::less<>> stop_words_;
};

}  // namespace fulltext
}  // namespace s3db

#if S3DB_DEFINE_BODIES
#include "s3db/plugins/fulltext/porter2.hpp"

namespace s3db::fulltext {

S3DB_DECL const std::vector<std::string>& english_stop_words() {
    static const std::vector<std::string> words{
        "a",     "about", "above", "after", "again", "against", "all",   "am",    "an",    "and",   "any",
        "are",   "as",    "at",    "be",    "because", "been", "before", "being", "below", "between", "both",
        "but",   "by",    "can",   "could", "did",   "do",    "does",  "doing", "down",  "during", "each",
        "few",   "for",   "from",  "further", "had", "has",   "have",  "having", "he",   "her",   "here",
        "hers",  "herself", "him", "himself", "his", "how",   "i",     "if",    "in",    "into",  "is",
        "it",    "its",   "itself", "me",   "might", "more",  "most",  "must",  "my",    "myself", "no",
        "nor",   "not",   "of",    "off",   "on",    "once",  "only",  "or",    "other", "our",   "ours",
        "ourselves", "out", "over", "own",  "same",  "she",   "should", "so",   "some",  "such",  "than",
        "that",  "the",   "their", "theirs", "them", "themselves", "then", "there", "these", "they", "this",
        "those", "through", "to",  "too",   "under", "until", "up",    "very",  "was",   "we",    "were",
        "what",  "when",  "where", "which", "while", "who",   "whom",  "why",   "will",  "with",  "would",
        "you",   "your",  "yours", "yourself", "yourselves", "may"};
    return words;
}

S3DB_DECL char32_t next_code_point(std::string_view s, std::size_t& i) noexcept {
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) {
        ++i;
        return b0;
    }
    int n = b0 >= 0xF0 && b0 < 0xF5 ? 3 : b0 >= 0xE0 ? (b0 < 0xF0 ? 2 : -1) : b0 >= 0xC2 ? 1 : -1;
    if (n < 0 || i + n >= s.size()) {
        ++i;
        return 0xFFFD;
    }
    char32_t c = b0 & (0x3F >> n);
    for (int k = 1; k <= n; ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        if ((b & 0xC0) != 0x80) {
            ++i;
            return 0xFFFD;
        }
        c = (c << 6) | (b & 0x3F);
    }
    // Overlong three- and four-byte forms, surrogates and code points past U+10FFFF are malformed.
    if ((n == 2 && (c < 0x800 || (c >= 0xD800 && c <= 0xDFFF))) || (n == 3 && (c < 0x10000 || c > 0x10FFFF))) {
        ++i;
        return 0xFFFD;
    }
    i += n + 1;
    return c;
}

S3DB_DECL void append_utf8(std::string& out, char32_t c) {
    if (c < 0x80) {
        out += static_cast<char>(c);
    } else if (c < 0x800) {
        out += static_cast<char>(0xC0 | (c >> 6));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        out += static_cast<char>(0xE0 | (c >> 12));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (c >> 18));
        out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    }
}

S3DB_DECL bool is_word_char(char32_t c) noexcept {
    if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (c <= 0xBF) return c == 0xAA || c == 0xB5 || c == 0xBA;
    if (c == 0xD7 || c == 0xF7) return false;
    if (c >= 0x2000 && c <= 0x2BFF) return false;
    if (c >= 0x3000 && c <= 0x303F) return false;
    if ((c >= 0xFE00 && c <= 0xFE0F) || c == 0xFEFF || (c >= 0xFFF0 && c <= 0xFFFF)) return false;
    return true;
}

S3DB_DECL char32_t fold_case(char32_t c) noexcept {
    if (c < 0x80) return c >= 'A' && c <= 'Z' ? c + 32 : c;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 0x20;
    if (c >= 0x100 && c <= 0x17F) {
        if (c == 0x130) return 'i';          // İ
        if (c == 0x178) return 0xFF;         // Ÿ
        if (c == 0x17F) return 's';          // ſ
        if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return c % 2 == 1 ? c + 1 : c;
        if (c == 0x131 || c == 0x138 || c == 0x149) return c;
        return c % 2 == 0 ? c + 1 : c;
    }
    if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 0x20;
    if (c == 0x3C2) return 0x3C3;  // final sigma
    if (c == 0x386) return 0x3AC;
    if (c >= 0x388 && c <= 0x38A) return c + 0x25;
    if (c == 0x38C) return 0x3CC;
    if (c == 0x38E || c == 0x38F) return c + 0x3F;
    if (c >= 0x410 && c <= 0x42F) return c + 0x20;
    if (c >= 0x400 && c <= 0x40F) return c + 0x50;
    return c;
}

S3DB_DECL void append_unaccented(std::string& out, char32_t c) {
    // Latin-1 Supplement from U+00C0, then Latin Extended-A: the base letters, '\0' for "as is".
    using namespace std::string_view_literals;
    static constexpr std::string_view latin1 = "AAAAAA\0CEEEEIIII\0NOOOOO\0OUUUUY\0\0aaaaaa\0ceeeeiiii\0nooooo\0ouuuuy\0y"sv;
    static constexpr std::string_view ext_a =
        "AaAaAaCcCcCcCcDdDdEeEeEeEeEeGgGgGgGgHhHhIiIiIiIiIi\0\0JjKk\0LlLlLlLlLlNnNnNn\0\0\0OoOoOo\0\0RrRrRrSsSsSsSsTtTtTtUuUuUuUuUuUuWwYyYZzZzZz\0"sv;
    auto base = [&](std::string_view table, char32_t first) -> char {
        return c - first < table.size() ? table[c - first] : '\0';
    };
    char b = '\0';
    if (c >= 0xC0 && c <= 0xFF) b = base(latin1, 0xC0);
    else if (c >= 0x100 && c <= 0x17F) b = base(ext_a, 0x100);
    if (b) {
        out += b;
        return;
    }
    switch (c) {
        case 0xC6: out += "AE"; return;
        case 0xE6: out += "ae"; return;
        case 0xDF: out += "ss"; return;
        case 0xDE: out += "TH"; return;
        case 0xFE: out += "th"; return;
        case 0xD0: out += 'D'; return;
        case 0xF0: out += 'd'; return;
        case 0x152: out += "OE"; return;
        case 0x153: out += "oe"; return;
        case 0x141: out += 'L'; return;
        case 0x142: out += 'l'; return;
        case 0x110: out += 'D'; return;
        case 0x111: out += 'd'; return;
        case 0x3AC: c = 0x3B1; break;  // ά
        case 0x3AD: c = 0x3B5; break;  // έ
        case 0x3AE: c = 0x3B7; break;  // ή
        case 0x3AF: case 0x3CA: case 0x390: c = 0x3B9; break;  // ί ϊ ΐ
        case 0x3CC: c = 0x3BF; break;  // ό
        case 0x3CD: case 0x3CB: case 0x3B0: c = 0x3C5; break;  // ύ ϋ ΰ
        case 0x3CE: c = 0x3C9; break;  // ώ
        case 0x386: c = 0x391; break;
        case 0x388: c = 0x395; break;
        case 0x389: c = 0x397; break;
        case 0x38A: case 0x3AA: c = 0x399; break;
        case 0x38C: c = 0x39F; break;
        case 0x38E: case 0x3AB: c = 0x3A5; break;
        case 0x38F: c = 0x3A9; break;
        case 0x451: c = 0x435; break;  // ё
        case 0x401: c = 0x415; break;  // Ё
        default: break;
    }
    append_utf8(out, c);
}

S3DB_DECL std::vector<Token> split_words(std::string_view text, const TokenizerOptions& o) {
    std::vector<Token> out;
    std::size_t i = 0;
    while (i < text.size()) {
        std::size_t start = i;
        char32_t c = next_code_point(text, i);
        if (!is_word_char(c)) continue;
        Token t{{}, start, i};
        for (;;) {
            if (!o.case_sensitive) c = fold_case(c);
            if (o.accent_folding) append_unaccented(t.term, c);
            else append_utf8(t.term, c);
            t.end = i;
            if (i >= text.size()) break;
            std::size_t next = i;
            c = next_code_point(text, next);
            if (!is_word_char(c)) break;
            i = next;
        }
        out.push_back(std::move(t));
    }
    return out;
}

S3DB_DECL Tokenizer::Tokenizer(TokenizerOptions options) : options_(std::move(options)) {
    const auto& list = options_.stop_word_list.empty() ? english_stop_words() : options_.stop_word_list;
    for (const auto& w : list) {
        std::string folded;
        std::size_t i = 0;
        while (i < w.size()) {
            const char32_t c = fold_case(next_code_point(w, i));
            if (options_.accent_folding) append_unaccented(folded, c);
            else append_utf8(folded, c);
        }
        stop_words_.insert(std::move(folded));
    }
}

S3DB_DECL bool Tokenizer::is_stop_word(std::string_view folded) const {
    return options_.stop_words && stop_words_.contains(folded);
}

S3DB_DECL std::string Tokenizer::finish(std::string word) const {
    std::size_t points = 0;
    for (unsigned char ch : word) points += (ch & 0xC0) != 0x80;
    if (points < options_.min_word_length) return {};
    if (options_.stop_words) {
        std::string lower;
        if (options_.case_sensitive) {
            std::size_t i = 0;
            while (i < word.size()) append_utf8(lower, fold_case(next_code_point(word, i)));
        }
        if (is_stop_word(options_.case_sensitive ? lower : word)) return {};
    }
    if (options_.stemming) return porter2_stem(std::move(word));
    return word;
}

S3DB_DECL std::vector<Token> Tokenizer::tokens(std::string_view text) const {
    auto words = split_words(text, options_);
    std::vector<Token> out;
    out.reserve(words.size());
    for (auto& w : words) {
        std::string t = finish(std::move(w.term));
        if (!t.empty()) out.push_back({std::move(t), w.begin, w.end});
    }
    return out;
}

S3DB_DECL std::string Tokenizer::term(std::string_view word) const {
    auto words = split_words(word, options_);
    return words.size() == 1 ? finish(std::move(words[0].term)) : std::string{};
}

}  // namespace s3db::fulltext
#endif  // S3DB_DEFINE_BODIES
