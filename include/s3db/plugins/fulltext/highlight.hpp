#pragma once
// FullText's highlights: a field's text with the words that matched wrapped in tags, cut to a snippet
// around the first match. Neighbouring matched words separated only by blanks share one pair of tags
// ("<mark>Machine Learning</mark>"). The text is not HTML-escaped: escape it first if it may hold markup.

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "s3db/detail/config.hpp"
#include "s3db/plugins/fulltext/tokenizer.hpp"

namespace s3db::fulltext {

struct HighlightOptions {
    std::string start_tag = "<mark>";
    std::string end_tag = "</mark>";
    std::size_t snippet_bytes = 160;  // of text (tags aside); 0: the whole text
    std::string ellipsis = "…";
};

/// `text` with the tokens `matched` accepts (by term) tagged; empty if none is.
S3DB_DECL std::string highlight(std::string_view text, const Tokenizer& tokenizer,
                                const std::function<bool(std::string_view term)>& matched, const HighlightOptions& o);

}  // namespace s3db::fulltext

#if S3DB_DEFINE_BODIES
#include <utility>
#include <vector>

namespace s3db::fulltext {

S3DB_DECL std::string highlight(std::string_view text, const Tokenizer& tokenizer,
                                const std::function<bool(std::string_view term)>& matched, const HighlightOptions& o) {
    std::vector<std::pair<std::size_t, std::size_t>> spans;  // merged [begin, end) of matched words
    for (auto& t : tokenizer.tokens(text)) {
        if (!matched(t.term)) continue;
        const bool joins = !spans.empty() && text.substr(spans.back().second, t.begin - spans.back().second)
                                                     .find_first_not_of(" \t") == std::string_view::npos;
        if (joins) spans.back().second = t.end;
        else spans.emplace_back(t.begin, t.end);
    }
    if (spans.empty()) return {};
    std::size_t from = 0, to = text.size();
    if (o.snippet_bytes && text.size() > o.snippet_bytes) {
        // A window starting a quarter of the snippet before the first match, moved to word edges.
        from = spans.front().first > o.snippet_bytes / 4 ? spans.front().first - o.snippet_bytes / 4 : 0;
        while (from > 0 && from < spans.front().first && text[from - 1] != ' ') ++from;
        to = std::min(text.size(), std::max(from + o.snippet_bytes, spans.front().second));
        while (to < text.size() && to > spans.front().second && text[to] != ' ') --to;
        while (to < text.size() && (static_cast<unsigned char>(text[to]) & 0xC0) == 0x80) ++to;  // whole characters
    }
    std::string out = from > 0 ? o.ellipsis : std::string{};
    std::size_t at = from;
    for (auto [b, e] : spans) {
        if (b < from || e > to) continue;
        out.append(text.substr(at, b - at));
        out += o.start_tag;
        out.append(text.substr(b, e - b));
        out += o.end_tag;
        at = e;
    }
    out.append(text.substr(at, to - at));
    if (to < text.size()) out += o.ellipsis;
    return out;
}

}  // namespace s3db::fulltext
#endif  // S3DB_DEFINE_BODIES
