#pragma once
// Output of the s3db CLI: tables on a terminal, JSON lines when piped, one JSON document with
// --json; and the progress bar, drawn on stderr only when stderr is a terminal. Streams of records
// are written as they come (a table is drawn per chunk of rows), so no command holds a whole
// resource in memory to print it.

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace s3db::cli {

using json = nlohmann::json;

enum class Mode { table, lines, json };

inline void write_out(std::FILE* f, std::string_view s) {
    if (!s.empty()) std::fwrite(s.data(), 1, s.size(), f);
}

/// Code points of UTF-8 text (continuation bytes do not count), for column widths.
inline std::size_t display_width(std::string_view s) {
    std::size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
}

/// A cell: text as it is, other values as JSON, on one line and at most `max` code points.
inline std::string cell(const json& v, std::size_t max = 40) {
    std::string s = v.is_string() ? v.get<std::string>() : v.is_null() ? std::string{} : v.dump(-1, ' ', false, json::error_handler_t::replace);
    for (auto& c : s)
        if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    if (display_width(s) <= max) return s;
    std::size_t points = 0, i = 0;
    for (; i < s.size(); ++i) {
        if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && points++ == max - 1) break;
    }
    return s.substr(0, i) + "\u2026";
}

/// Rows under a header, columns padded to their widest cell.
inline std::string render_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
    std::vector<std::size_t> width(header.size(), 0);
    for (std::size_t c = 0; c < header.size(); ++c) width[c] = display_width(header[c]);
    for (auto& r : rows)
        for (std::size_t c = 0; c < r.size() && c < width.size(); ++c) width[c] = std::max(width[c], display_width(r[c]));
    auto line = [&](const std::vector<std::string>& r) {
        std::string out;
        for (std::size_t c = 0; c < header.size(); ++c) {
            const std::string& v = c < r.size() ? r[c] : std::string{};
            out += v;
            if (c + 1 < header.size()) out.append(width[c] - display_width(v) + 2, ' ');
        }
        while (!out.empty() && out.back() == ' ') out.pop_back();
        return out + "\n";
    };
    std::string out = line(header);
    for (auto& r : rows) out += line(r);
    return out;
}

/// Records written as they arrive: one JSON line each, elements of one JSON array, or table chunks
/// of up to `chunk` rows (columns: id, then the schema's attributes, then any other field met).
class RecordSink {
public:
    RecordSink(std::FILE* out, Mode mode, std::vector<std::string> columns = {}, std::size_t chunk = 1000)
        : out_(out), mode_(mode), columns_(std::move(columns)), chunk_(chunk) {
        if (std::find(columns_.begin(), columns_.end(), "id") == columns_.end()) columns_.insert(columns_.begin(), "id");
    }

    void add(const json& record) {
        ++count_;
        switch (mode_) {
            case Mode::lines:
                write_out(out_, record.dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
                break;
            case Mode::json:
                write_out(out_, (count_ == 1 ? "[" : ",\n") + record.dump(-1, ' ', false, json::error_handler_t::replace));
                break;
            case Mode::table:
                pending_.push_back(record);
                if (pending_.size() >= chunk_) flush_table();
                break;
        }
    }

    /// Ends the output (closes the array, draws the last chunk).
    void finish() {
        if (mode_ == Mode::json) write_out(out_, count_ == 0 ? "[]\n" : "]\n");
        if (mode_ == Mode::table) {
            flush_table();
            if (count_ == 0) write_out(out_, "(no records)\n");
        }
        std::fflush(out_);
    }

    std::size_t count() const noexcept { return count_; }

private:
    void flush_table() {
        if (pending_.empty()) return;
        auto columns = columns_;
        for (auto& r : pending_)
            if (r.is_object())
                for (auto& [k, _] : r.items())
                    if (std::find(columns.begin(), columns.end(), k) == columns.end()) columns.push_back(k);
        std::vector<std::vector<std::string>> rows;
        rows.reserve(pending_.size());
        for (auto& r : pending_) {
            std::vector<std::string> row;
            for (auto& c : columns) row.push_back(r.is_object() && r.contains(c) ? cell(r[c]) : std::string{});
            rows.push_back(std::move(row));
        }
        if (tables_++) write_out(out_, "\n");
        write_out(out_, render_table(columns, rows));
        pending_.clear();
    }

    std::FILE* out_;
    Mode mode_;
    std::vector<std::string> columns_;
    std::size_t chunk_;
    std::vector<json> pending_;
    std::size_t count_ = 0, tables_ = 0;
};

/// "1,234,567"
inline std::string grouped(std::uint64_t n) {
    std::string s = std::to_string(n), out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (i && (s.size() - i) % 3 == 0) out += ',';
        out += s[i];
    }
    return out;
}

inline std::string clock_text(double seconds) {
    if (!(seconds >= 0) || seconds > 360000) return "--:--";
    auto s = static_cast<std::uint64_t>(seconds + 0.5);
    char buf[32];
    if (s >= 3600) std::snprintf(buf, sizeof buf, "%llu:%02llu:%02llu", static_cast<unsigned long long>(s / 3600),
                                 static_cast<unsigned long long>(s / 60 % 60), static_cast<unsigned long long>(s % 60));
    else std::snprintf(buf, sizeof buf, "%llu:%02llu", static_cast<unsigned long long>(s / 60), static_cast<unsigned long long>(s % 60));
    return buf;
}

/// A progress bar on stderr, redrawn 5 times a second by a thread of its own from counters the
/// workers bump (so workers never wait on the terminal): records done, records/s and, when the
/// total is known (as records, or as bytes of an input file), percent, a bar and the ETA.
/// Disabled (every call a no-op) unless stderr is a terminal and --no-progress is not given.
class Progress {
public:
    Progress(bool enabled, std::string label) : enabled_(enabled), label_(std::move(label)) {
        if (!enabled_) return;
        start_ = std::chrono::steady_clock::now();
        thread_ = std::thread([this] {
            std::unique_lock lock(mutex_);
            while (!stop_) {
                wake_.wait_for(lock, std::chrono::milliseconds(200));
                if (!stop_) draw(false);
            }
        });
    }
    Progress(const Progress&) = delete;
    Progress& operator=(const Progress&) = delete;
    ~Progress() { finish(); }

    bool enabled() const noexcept { return enabled_; }
    /// The whole, in the unit `advance_work` counts (records, or bytes of the input).
    void set_total(std::uint64_t total) { total_.store(total); }
    void add_records(std::uint64_t n = 1) { records_.fetch_add(n, std::memory_order_relaxed); }
    void set_work(std::uint64_t done) { work_.store(done, std::memory_order_relaxed); }
    /// Work counted in records (export): the bar follows the record count.
    void work_is_records() { work_in_records_ = true; }

    /// Draws the final state and ends the line.
    void finish() {
        if (!enabled_ || finished_) return;
        finished_ = true;
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        wake_.notify_all();
        thread_.join();
        draw(true);
    }

    static int terminal_columns() {
        winsize w{};
        if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col > 20) return w.ws_col;
        return 80;
    }

private:
    void draw(bool final) {
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
        const std::uint64_t records = records_.load(), total = total_.load();
        const std::uint64_t work = work_in_records_ ? records : work_.load();
        const double rate = elapsed > 0 ? static_cast<double>(records) / elapsed : 0;
        char rate_text[64];
        std::snprintf(rate_text, sizeof rate_text, "%.0f rec/s", rate);
        std::string tail = "  " + grouped(records) + (work_in_records_ && total ? "/" + grouped(total) : std::string{}) +
                           " records  " + rate_text;
        std::string head = label_;
        if (total) {
            double f = std::min(1.0, static_cast<double>(work) / static_cast<double>(total));
            if (final) f = 1.0;
            const double eta = f > 0 ? elapsed * (1 - f) / f : -1;
            tail += "  ETA " + (final ? std::string("0:00") : clock_text(eta));
            char pct[16];
            std::snprintf(pct, sizeof pct, " %3.0f%%", f * 100);
            const int room = terminal_columns() - static_cast<int>(display_width(head) + display_width(tail) + 8);
            const int bar = std::clamp(room, 10, 40);
            const int filled = static_cast<int>(f * bar);
            head += " [" + std::string(static_cast<std::size_t>(filled), '#') + std::string(static_cast<std::size_t>(bar - filled), '-') + "]" + pct;
        } else {
            tail += "  " + clock_text(elapsed);
        }
        std::string line = "\r" + head + tail + "\x1b[K";
        if (final) line += "\n";
        write_out(stderr, line);
        std::fflush(stderr);
    }

    bool enabled_;
    std::string label_;
    std::chrono::steady_clock::time_point start_{};
    std::atomic<std::uint64_t> records_{0}, work_{0}, total_{0};
    bool work_in_records_ = false, finished_ = false, stop_ = false;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::thread thread_;
};

}  // namespace s3db::cli
