#pragma once
// FilesystemCache: the driver of `Cache<Filesystem>`. One file per entry under `directory`, its path
// made of the key's segments (each percent-encoded, so a key's '/' are the only separators and no
// name holds a '.' but the ".cache" suffix), so a resource's or a generation's entries go with one
// directory removal. A file is its expiry then the JSON:
//
//   s3db-cache 1 <expires, epoch ms; 0 = never>\n<json>
//
// Writes go to a temporary file renamed over the entry, so readers (other threads, other processes)
// see the old entry or the new one, never half of one. Expired entries are removed when read, and
// all of them by a sweep at most every `cleanup_interval`, run by the write that finds it due.
// No fsync: a cache entry lost in a crash is a miss, and a torn one reads as a miss too.
// Thread- and process-safe; several databases must not share a directory (keys name resources, not
// databases).

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "s3db/detail/config.hpp"
#include "s3db/plugins/cache/driver.hpp"

namespace s3db {

class FilesystemCache {
public:
    explicit FilesystemCache(const CacheOptions& o)
        : root_(o.directory), cleanup_interval_(o.cleanup_interval), clock_(o) {}

    const std::filesystem::path& directory() const noexcept { return root_; }

    S3DB_DECL std::optional<CacheEntry> get(std::string_view key);

    S3DB_DECL void set(std::string_view key, CacheEntry e);

    S3DB_DECL void remove(std::string_view key);

    S3DB_DECL void remove_prefix(std::string_view prefix);
    void drop_prefix(std::string_view prefix) { remove_prefix(prefix); }

    /// Removes every entry (the directory itself stays).
    S3DB_DECL void clear();

    /// Removes every expired entry, and temporary files left by writers that died; returns how many
    /// entries expired.
    S3DB_DECL std::size_t cleanup();

    std::uint64_t evictions() const noexcept { return 0; }
    std::uint64_t expirations() const noexcept { return expirations_.load(std::memory_order_relaxed); }

    /// The file an entry lives in.
    S3DB_DECL std::filesystem::path path_of(std::string_view key) const;

private:
    S3DB_DECL std::filesystem::path dir_of(std::string_view segments) const;

    /// A key segment as a file name: letters, digits, '_', '-' and '=' as they are, every other
    /// byte as %XX; "%" alone for an empty segment; "~<sha256>" when too long for a name.
    S3DB_DECL static std::string encode(std::string_view segment);

    S3DB_DECL static std::string header(std::chrono::system_clock::time_point expires);

    /// The expiry in a header line (without its newline); nullopt if it is not one.
    S3DB_DECL static std::optional<std::chrono::system_clock::time_point> parse_header(std::string_view line);

    S3DB_DECL static std::optional<CacheEntry> parse(std::string_view text);

    S3DB_DECL static void discard(const std::filesystem::path& p);

    /// From the fork-safe CSPRNG: processes forked from one parent must not share temp names.
    S3DB_DECL static std::string random_suffix();

    S3DB_DECL void maybe_sweep();

    std::filesystem::path root_;
    std::chrono::milliseconds cleanup_interval_;
    detail::CacheClock clock_;
    std::atomic<std::int64_t> last_sweep_ms_{0};
    std::atomic<std::uint64_t> expirations_{0};
};

}  // namespace s3db

#if S3DB_DEFINE_BODIES
#include <charconv>
#include <fstream>
#include <iterator>
#include <sstream>
#include <system_error>

#include "s3db/detail/hashing.hpp"
#include "s3db/detail/js_text.hpp"
#include "s3db/detail/random.hpp"

namespace s3db {

S3DB_DECL std::optional<CacheEntry> FilesystemCache::get(std::string_view key) {
    auto path = path_of(key);
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    in.close();
    auto parsed = parse(text);
    if (!parsed) {  // torn or foreign: a miss, and out of the way
        discard(path);
        return std::nullopt;
    }
    if (parsed->expires <= clock_.now()) {
        discard(path);
        expirations_.fetch_add(1, std::memory_order_relaxed);
        return std::nullopt;
    }
    return parsed;
}

S3DB_DECL void FilesystemCache::set(std::string_view key, CacheEntry e) {
    auto path = path_of(key);
    std::string text = header(e.expires) + e.value->dump();
    auto tmp = path;
    tmp += ".tmp-" + random_suffix();
    // A concurrent remove_prefix may take the parent directory away between the two steps.
    for (int attempt = 0;; ++attempt) {
        std::error_code ec;
        std::filesystem::create_directories(path.parent_path(), ec);
        {
            std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
            if (out) out.write(text.data(), static_cast<std::streamsize>(text.size()));
            if (out && out.flush()) {
                out.close();
                std::filesystem::rename(tmp, path, ec);
                if (!ec) break;
            }
        }
        std::filesystem::remove(tmp, ec);
        if (attempt == 3) throw CacheError("cannot write cache entry file '" + path.string() + "'");
    }
    maybe_sweep();
}

S3DB_DECL void FilesystemCache::remove(std::string_view key) { discard(path_of(key)); }

S3DB_DECL void FilesystemCache::remove_prefix(std::string_view prefix) {
    if (prefix.empty()) return clear();
    if (!prefix.ends_with('/')) throw CacheError("a prefix to remove must end with '/'");
    prefix.remove_suffix(1);
    std::error_code ec;
    auto dir = dir_of(prefix);
    // A writer that recreates an entry inside while it goes makes remove_all fail: try again.
    for (int attempt = 0; attempt < 4; ++attempt) {
        std::filesystem::remove_all(dir, ec);
        if (!ec) return;
    }
    throw CacheError("cannot remove cache directory '" + dir.string() + "': " + ec.message());
}

S3DB_DECL void FilesystemCache::clear() {
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(root_, ec); !ec && it != std::filesystem::directory_iterator();
         it.increment(ec)) {
        std::error_code rec;
        std::filesystem::remove_all(it->path(), rec);
    }
}

S3DB_DECL std::size_t FilesystemCache::cleanup() {
    last_sweep_ms_.store(detail::epoch_ms(clock_.now()), std::memory_order_relaxed);
    std::size_t n = 0;
    std::error_code ec;
    auto now = clock_.now();
    auto stale_tmp = std::filesystem::file_time_type::clock::now() - std::chrono::minutes(10);
    for (auto it = std::filesystem::recursive_directory_iterator(root_, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
        std::error_code fec;
        if (!it->is_regular_file(fec)) continue;
        auto name = it->path().filename().string();
        if (name.ends_with(".cache")) {
            std::ifstream in(it->path(), std::ios::binary);
            std::string line;
            if (!std::getline(in, line)) continue;
            auto expires = parse_header(line);
            if (expires && *expires > now) continue;
            in.close();
            if (std::filesystem::remove(it->path(), fec) && expires) ++n;
        } else if (name.find(".tmp-") != std::string::npos) {
            auto t = std::filesystem::last_write_time(it->path(), fec);
            if (!fec && t < stale_tmp) std::filesystem::remove(it->path(), fec);
        }
    }
    expirations_.fetch_add(n, std::memory_order_relaxed);
    return n;
}

S3DB_DECL std::filesystem::path FilesystemCache::path_of(std::string_view key) const {
    auto slash = key.rfind('/');
    auto dir = slash == std::string_view::npos ? root_ : dir_of(key.substr(0, slash));
    auto last = slash == std::string_view::npos ? key : key.substr(slash + 1);
    return dir / (encode(last) + ".cache");
}

S3DB_DECL std::filesystem::path FilesystemCache::dir_of(std::string_view segments) const {
    auto dir = root_;
    for (;;) {
        auto slash = segments.find('/');
        dir /= encode(segments.substr(0, slash));
        if (slash == std::string_view::npos) return dir;
        segments.remove_prefix(slash + 1);
    }
}

S3DB_DECL std::string FilesystemCache::encode(std::string_view segment) {
    if (segment.empty()) return "%";
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(segment.size());
    for (char ch : segment) {
        auto c = static_cast<unsigned char>(ch);
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
            c == '=')
            out += ch;
        else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    if (out.size() > 200) return "~" + detail::sha256_hex(segment);
    return out;
}

S3DB_DECL std::string FilesystemCache::header(std::chrono::system_clock::time_point expires) {
    auto ms = expires == detail::cache_never ? std::int64_t{0} : std::max<std::int64_t>(1, detail::epoch_ms(expires));
    return "s3db-cache 1 " + std::to_string(ms) + "\n";
}

S3DB_DECL std::optional<std::chrono::system_clock::time_point> FilesystemCache::parse_header(std::string_view line) {
    constexpr std::string_view magic = "s3db-cache 1 ";
    if (!line.starts_with(magic)) return std::nullopt;
    line.remove_prefix(magic.size());
    std::int64_t ms = 0;
    auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), ms);
    if (ec != std::errc{} || p != line.data() + line.size() || ms < 0) return std::nullopt;
    return ms == 0 ? detail::cache_never : detail::cache_from_ms(ms);
}

S3DB_DECL std::optional<CacheEntry> FilesystemCache::parse(std::string_view text) {
    auto nl = text.find('\n');
    if (nl == std::string_view::npos) return std::nullopt;
    auto expires = parse_header(text.substr(0, nl));
    if (!expires) return std::nullopt;
    // Entries hold records (at most max_nesting_depth deep) inside lists: far deeper is damage,
    // which nothing should recurse into.
    if (detail::json_text_too_deep(text.substr(nl + 1), 2 * detail::max_nesting_depth)) return std::nullopt;
    auto value = json::parse(text.substr(nl + 1), nullptr, false);
    if (value.is_discarded()) return std::nullopt;
    return CacheEntry{std::make_shared<const json>(std::move(value)), *expires};
}

S3DB_DECL void FilesystemCache::discard(const std::filesystem::path& p) {
    std::error_code ec;
    std::filesystem::remove(p, ec);
}

S3DB_DECL std::string FilesystemCache::random_suffix() { return detail::hex_u64(detail::random_u64()); }

S3DB_DECL void FilesystemCache::maybe_sweep() {
    auto now = detail::epoch_ms(clock_.now());
    auto last = last_sweep_ms_.load(std::memory_order_relaxed);
    if (now - last < cleanup_interval_.count()) return;
    // One writer sweeps; the others go on.
    if (last_sweep_ms_.compare_exchange_strong(last, now, std::memory_order_relaxed)) cleanup();
}

}  // namespace s3db
#endif  // S3DB_DEFINE_BODIES
