#pragma once
// Porter2, the Snowball English stemmer (snowballstem.org/algorithms/english/stemmer.html), for
// lower-case ASCII words; a word holding anything else (digits, accents, upper case) is returned as
// it is. Checked against libstemmer's "english" in tests/test_fulltext.cpp.

#include <string>

#include "s3db/detail/config.hpp"

namespace s3db::fulltext {

S3DB_DECL std::string porter2_stem(std::string word);

}  // namespace s3db::fulltext

#if S3DB_DEFINE_BODIES
#include <array>
#include <cstddef>
#include <string_view>
#include <utility>

namespace s3db::fulltext {
namespace porter2 {

// 'Y' marks a y that is a consonant; it is not a vowel.
inline bool vowel(char c) noexcept {
    return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u' || c == 'y';
}

inline bool ends_with(const std::string& w, std::string_view s) noexcept { return std::string_view(w).ends_with(s); }

/// Start of the region after the first non-vowel following a vowel at or after `from`.
inline std::size_t region_after(const std::string& w, std::size_t from) noexcept {
    for (std::size_t i = from + 1; i < w.size(); ++i)
        if (!vowel(w[i]) && vowel(w[i - 1])) return i + 1;
    return w.size();
}

/// A short syllable ending at w[end-1]: non-vowel, vowel, non-vowel (not w, x or Y); or, at the
/// start of the word, vowel then non-vowel.
inline bool short_syllable_at(const std::string& w, std::size_t end) noexcept {
    if (end == 2) return vowel(w[0]) && !vowel(w[1]);
    if (end < 3) return false;
    const char a = w[end - 3], b = w[end - 2], c = w[end - 1];
    return !vowel(a) && vowel(b) && !vowel(c) && c != 'w' && c != 'x' && c != 'Y';
}

struct Stemmer {
    std::string w;
    std::size_t r1 = 0, r2 = 0;

    bool in_r1(std::size_t suffix) const noexcept { return w.size() - suffix >= r1; }
    bool in_r2(std::size_t suffix) const noexcept { return w.size() - suffix >= r2; }
    void replace(std::size_t suffix, std::string_view with) { w.replace(w.size() - suffix, suffix, with); }

    /// The longest of `suffixes` the word ends with (its index), or -1.
    template <std::size_t N>
    int longest(const std::array<std::string_view, N>& suffixes) const noexcept {
        int best = -1;
        for (std::size_t i = 0; i < N; ++i)
            if (ends_with(w, suffixes[i]) && (best < 0 || suffixes[i].size() > suffixes[best].size()))
                best = static_cast<int>(i);
        return best;
    }

    bool has_vowel(std::size_t end) const noexcept {
        for (std::size_t i = 0; i < end; ++i)
            if (vowel(w[i])) return true;
        return false;
    }

    void step_0() {
        for (std::string_view s : {"'s'", "'s", "'"})
            if (ends_with(w, s)) {
                replace(s.size(), "");
                return;
            }
    }

    void step_1a() {
        static constexpr std::array<std::string_view, 6> sfx{"sses", "ied", "ies", "s", "us", "ss"};
        const int i = longest(sfx);
        if (i < 0) return;
        const std::string_view s = sfx[i];
        if (s == "sses") replace(4, "ss");
        else if (s == "ied" || s == "ies") replace(3, w.size() > 4 ? "i" : "ie");
        else if (s == "s") {
            // a vowel before the letter that precedes the s
            if (w.size() >= 3 && has_vowel(w.size() - 2)) w.pop_back();
        }
    }

    void step_1b() {
        static constexpr std::array<std::string_view, 6> sfx{"eed", "eedly", "ed", "edly", "ing", "ingly"};
        const int i = longest(sfx);
        if (i < 0) return;
        const std::string_view s = sfx[i];
        if (s == "eed" || s == "eedly") {
            if (in_r1(s.size())) replace(s.size(), "ee");
            return;
        }
        if (!has_vowel(w.size() - s.size())) return;
        replace(s.size(), "");
        if (ends_with(w, "at") || ends_with(w, "bl") || ends_with(w, "iz")) {
            w += 'e';
        } else if (w.size() >= 2 && w.back() == w[w.size() - 2] &&
                   std::string_view("bdfgmnprt").find(w.back()) != std::string_view::npos) {
            w.pop_back();
        } else if (r1 >= w.size() && short_syllable_at(w, w.size())) {
            w += 'e';
        }
    }

    void step_1c() {
        if (w.size() > 2 && (w.back() == 'y' || w.back() == 'Y') && !vowel(w[w.size() - 2])) w.back() = 'i';
    }

    void step_2() {
        static constexpr std::array<std::pair<std::string_view, std::string_view>, 24> rules{{
            {"tional", "tion"}, {"enci", "ence"}, {"anci", "ance"}, {"abli", "able"}, {"entli", "ent"},
            {"izer", "ize"}, {"ization", "ize"}, {"ational", "ate"}, {"ation", "ate"}, {"ator", "ate"},
            {"alism", "al"}, {"aliti", "al"}, {"alli", "al"}, {"fulness", "ful"}, {"ousli", "ous"},
            {"ousness", "ous"}, {"iveness", "ive"}, {"iviti", "ive"}, {"biliti", "ble"}, {"bli", "ble"},
            {"ogi", "og"}, {"fulli", "ful"}, {"lessli", "less"}, {"li", ""},
        }};
        std::size_t best = rules.size();
        for (std::size_t i = 0; i < rules.size(); ++i)
            if (ends_with(w, rules[i].first) && (best == rules.size() || rules[i].first.size() > rules[best].first.size()))
                best = i;
        if (best == rules.size()) return;
        const auto [s, with] = rules[best];
        if (!in_r1(s.size())) return;
        if (s == "ogi") {
            if (w.size() >= 4 && w[w.size() - 4] == 'l') replace(3, "og");
        } else if (s == "li") {
            if (w.size() >= 3 && std::string_view("cdeghkmnrt").find(w[w.size() - 3]) != std::string_view::npos)
                replace(2, "");
        } else {
            replace(s.size(), with);
        }
    }

    void step_3() {
        static constexpr std::array<std::pair<std::string_view, std::string_view>, 9> rules{{
            {"tional", "tion"}, {"ational", "ate"}, {"alize", "al"}, {"icate", "ic"}, {"iciti", "ic"},
            {"ical", "ic"}, {"ful", ""}, {"ness", ""}, {"ative", ""},
        }};
        int best = -1;
        for (std::size_t i = 0; i < rules.size(); ++i)
            if (ends_with(w, rules[i].first) && (best < 0 || rules[i].first.size() > rules[best].first.size()))
                best = static_cast<int>(i);
        if (best < 0) return;
        const auto [s, with] = rules[best];
        if (!in_r1(s.size())) return;
        if (s == "ative" && !in_r2(s.size())) return;
        replace(s.size(), with);
    }

    void step_4() {
        static constexpr std::array<std::string_view, 18> sfx{"al",  "ance", "ence", "er",  "ic",  "able", "ible",
                                                              "ant", "ement", "ment", "ent", "ism", "ate",  "iti",
                                                              "ous", "ive",  "ize",  "ion"};
        int i = longest(sfx);
        if (i < 0) return;
        std::string_view s = sfx[i];
        if (s == "ion") {
            // ion: deleted when in R2 and preceded by s or t
            if (!in_r2(3) || w.size() < 4 || (w[w.size() - 4] != 's' && w[w.size() - 4] != 't')) return;
            replace(3, "");
            return;
        }
        if (in_r2(s.size())) replace(s.size(), "");
    }

    void step_5() {
        if (w.empty()) return;
        if (w.back() == 'e') {
            if (in_r2(1) || (in_r1(1) && !short_syllable_at(w, w.size() - 1))) w.pop_back();
        } else if (w.back() == 'l') {
            if (in_r2(1) && w.size() >= 2 && w[w.size() - 2] == 'l') w.pop_back();
        }
    }
};

inline const char* exception(std::string_view w) noexcept {
    static constexpr std::array<std::pair<std::string_view, const char*>, 17> words{{
        {"skis", "ski"}, {"skies", "sky"}, {"dying", "die"}, {"lying", "lie"}, {"tying", "tie"},
        {"idly", "idl"}, {"gently", "gentl"}, {"ugly", "ugli"}, {"early", "earli"}, {"only", "onli"},
        {"singly", "singl"}, {"sky", "sky"}, {"news", "news"}, {"howe", "howe"}, {"atlas", "atlas"},
        {"cosmos", "cosmos"}, {"bias", "bias"},
    }};
    for (auto& [word, stem] : words)
        if (w == word) return stem;
    if (w == "andes") return "andes";
    return nullptr;
}

}  // namespace porter2

S3DB_DECL std::string porter2_stem(std::string word) {
    using namespace porter2;
    for (char c : word)
        if ((c < 'a' || c > 'z') && c != '\'') return word;
    if (word.size() <= 2) return word;
    if (const char* e = exception(word)) return e;
    Stemmer s{std::move(word)};
    if (s.w.front() == '\'') s.w.erase(0, 1);
    for (std::size_t i = 0; i < s.w.size(); ++i)
        if (s.w[i] == 'y' && (i == 0 || vowel(s.w[i - 1]))) s.w[i] = 'Y';
    // R1 after gener, commun, arsen; else after the first non-vowel following a vowel.
    s.r1 = region_after(s.w, 0);
    for (std::string_view p : {"gener", "commun", "arsen"})
        if (std::string_view(s.w).starts_with(p)) s.r1 = p.size();
    s.r2 = s.r1 < s.w.size() ? region_after(s.w, s.r1) : s.w.size();
    s.step_0();
    s.step_1a();
    static constexpr std::array<std::string_view, 8> after_1a{"inning", "outing",  "canning", "herring",
                                                              "earring", "proceed", "exceed",  "succeed"};
    bool invariant = false;
    for (auto x : after_1a) invariant = invariant || s.w == x;
    if (!invariant) {
        s.step_1b();
        s.step_1c();
        s.step_2();
        s.step_3();
        s.step_4();
        s.step_5();
    }
    for (char& c : s.w)
        if (c == 'Y') c = 'y';
    return std::move(s.w);
}

}  // namespace s3db::fulltext
#endif  // S3DB_DEFINE_BODIES
