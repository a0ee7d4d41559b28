#pragma once
// Filesystem: an S3 bucket in a local folder, the embedded store for demos and tests. Same rules as
// Memory (MD5 ETags, 412 on failed conditions, byte-order listing in pages of 1000, delimiters, the
// 2 KB metadata limit), but on disk, shared safely by threads and by processes. Linux: it relies on
// openat, flock, fsync and copy_file_range.
//
// Layout. A key is split on '/'; every segment is percent-encoded into a file name that never holds
// '.', so `.`/`..`, absolute paths and NUL can never reach the filesystem, and the encoded names of
// directories ("seg") and objects ("seg.obj") can never collide: `a`, `a/b`, `a-1` and `a.x` all
// coexist. Only [A-Za-z0-9_-] stay as they are (the POSIX portable set less '.'); everything else is
// "%XX" (uppercase hex, one canonical spelling per segment). An empty segment ("a//b", "a/") is the
// lone marker "%". A segment whose encoding would pass 200 characters (NAME_MAX is 255) is cut into
// continuation directories "<piece>%+" holding the rest, so every key up to 1024 bytes fits, and
// every relative path stays under PATH_MAX. Temp files are ".tmp.<pid>.<random>": dotted, never an
// object name. Case-insensitive filesystems are not supported (keys differing in case would meet).
//
// Files. One file per object: a small header (key, ETag, content type, last-modified, metadata, body
// size) then the body, so body and metadata always travel together. A write goes to a temp file in
// the object's directory, is fsynced (when durable), renamed over the object, and the directory is
// fsynced: readers hold either the old file or the new one, never a mix, and a crash leaves the old
// object plus a temp file that lists and reads ignore and that a later listing removes once it is
// old and no writer holds its lock.
//
// Listing. Keys come back in the byte order of the keys, not of the encoded names: a listing starts
// at the directory of the prefix's complete segments, reads each directory once, orders its entries
// by the key text they stand for, keeps only the few objects a page can use, and skips every
// directory that holds nothing after the start position, so a small prefix in a big store is cheap.
// Names are decodable (rather than hashed) so no object file has to be opened to know its key.
// Every path is opened beneath the root without following symlinks (openat2, or openat with
// O_NOFOLLOW per component), so a link planted in the folder cannot lead a key outside it.
//
// Concurrency. Check-and-rename of a write, and every delete, run under an exclusive flock on the
// object's directory, which conflicts between open file descriptions, so If-Match / If-None-Match
// are race-free between threads and between processes sharing the folder. Deletes remove directories
// left empty; a writer whose directory vanished under it starts again.

#include <sys/types.h>  // ssize_t; the system headers the bodies need are included with them

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "s3db/detail/config.hpp"
#include "s3db/detail/hashing.hpp"
#include "s3db/transport/s3/rules.hpp"
#include "s3db/transport/transport.hpp"

namespace s3db {

struct FilesystemOptions {
    std::filesystem::path root;                           // the bucket's folder, created if missing
    std::string prefix{};                                 // keys live under this prefix
    bool durable = true;                                  // fsync files and directories before returning
    std::size_t metadata_limit = default_metadata_limit;  // 0 turns the check off
    bool clean_temp_files_on_open = true;                 // remove killed writers' stale temp files
};

namespace detail::fs {

/// Longest encoded segment name; leaves room for ".obj" and "%+" under NAME_MAX.
inline constexpr std::size_t max_name_chars = 200;
inline constexpr std::string_view object_suffix = ".obj";
inline constexpr std::string_view continuation_suffix = "%+";
inline constexpr std::string_view temp_prefix = ".tmp.";
/// A temp file this old whose writer no longer holds its lock is a crash's leftover.
inline constexpr std::chrono::minutes stale_temp_age{5};

class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) noexcept : fd_(fd) {}
    Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    Fd& operator=(Fd&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    ~Fd() { reset(); }
    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }
    int release() noexcept { return std::exchange(fd_, -1); }
    S3DB_DECL void reset() noexcept;

private:
    int fd_ = -1;
};

[[noreturn]] S3DB_DECL void throw_io(const std::string& what, const std::string& key, int err);

[[noreturn]] S3DB_DECL void throw_corrupt(const std::string& rel, const std::string& key, const std::string& why);

// ---- names -------------------------------------------------------------------------------------

S3DB_DECL bool name_keeps(unsigned char c) noexcept;
S3DB_DECL std::size_t encoded_len(char c) noexcept;

S3DB_DECL void encode_name_into(std::string& out, std::string_view raw);

/// Decodes an encoded (non-empty) segment name into `out`; false unless it is the canonical spelling.
S3DB_DECL bool decode_name(std::string_view enc, std::string& out);

/// Appends the physical names of one key segment to a relative path: continuation directories for
/// a long segment, then its last piece, as a directory or as an object file.
S3DB_DECL void append_segment(std::string& path, std::string_view seg, bool as_object);

/// Where a key lives, relative to the root: its directory ("" for the root) and its file name.
struct Location {
    std::string dir;
    std::string file;
    std::string rel() const { return dir.empty() ? file : dir + '/' + file; }
};

S3DB_DECL Location locate(std::string_view key);

/// The directory holding every key that starts with `dir_key` (which ends with '/' or is empty).
S3DB_DECL std::string directory_of(std::string_view dir_key);

enum class EntryKind { object, directory, continuation, temp, other };

/// What a directory entry is; `seg` receives the key segment (or segment piece) it stands for.
S3DB_DECL EntryKind classify(std::string_view name, std::string& seg);

// ---- object file format ------------------------------------------------------------------------
// "S3DBOBJ1", u32 header length, header, body. The header: u64 body size, i64 last-modified in ns
// since the epoch, then length-prefixed key, ETag, content type, u32 metadata count and pairs.
// Integers are little-endian.

inline constexpr std::string_view magic = "S3DBOBJ1";
inline constexpr std::size_t preamble_size = 12;

struct Record {
    std::string key, etag, content_type;
    std::chrono::system_clock::time_point last_modified{};
    Metadata metadata;
    std::uint64_t size = 0;
    std::uint64_t body_offset = 0;  // filled when read
};

S3DB_DECL void put_u64(std::string& out, std::uint64_t v);
S3DB_DECL void put_u32(std::string& out, std::uint32_t v);
S3DB_DECL void put_str(std::string& out, std::string_view s);

S3DB_DECL std::string encode_header(const Record& r);

class HeaderReader {
public:
    explicit HeaderReader(std::string_view in) : in_(in) {}
    S3DB_DECL bool u64(std::uint64_t& v);
    S3DB_DECL bool u32(std::uint32_t& v);
    S3DB_DECL bool str(std::string& s);
    bool done() const noexcept { return in_.empty(); }

private:
    std::string_view in_;
};

/// Reads everything from `offset`, or fails with the errno; short reads only at end of file.
S3DB_DECL ssize_t pread_full(int fd, char* buf, std::size_t n, std::uint64_t offset);

S3DB_DECL void write_full(int fd, std::string_view data, const std::string& key);

/// Reads and checks an object file's header. `expected_key` must be the key stored in it.
S3DB_DECL Record read_header(int fd, const std::string& rel, const std::string& expected_key);

/// Opens `rel` (relative, no "..") strictly beneath `root`, following no symlink on the way: with
/// openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) where the kernel has it, else component by
/// component with O_NOFOLLOW. Returns an invalid Fd and sets errno on failure.
S3DB_DECL Fd open_beneath(int root, const std::string& rel, int flags);

S3DB_DECL void sync_or_throw(int fd, const std::string& what, const std::string& key);

/// An exclusive flock held for a scope.
class FileLock {
public:
    S3DB_DECL FileLock(int fd, const std::string& key);
    FileLock(const FileLock&) = delete;
    FileLock& operator=(const FileLock&) = delete;
    S3DB_DECL ~FileLock();

private:
    int fd_;
};

S3DB_DECL std::string temp_name();

/// Removes the temp file `name` in `dir` if it is older than `older_than` and no writer holds its
/// lock (a live writer keeps it locked until its rename). Returns whether it was removed.
S3DB_DECL bool sweep_temp(int dir, const char* name, std::chrono::nanoseconds older_than);

}  // namespace detail::fs

class Filesystem {
public:
    using Options = FilesystemOptions;

    /// What listing walks have read since the store was opened (shared by copies).
    struct Stats {
        std::uint64_t directories_read = 0;
        std::uint64_t entries_read = 0;
    };

    S3DB_DECL explicit Filesystem(Options o);
    explicit Filesystem(std::filesystem::path root) : Filesystem(Options{.root = std::move(root)}) {}

    /// Removes the temp files of writers that died mid-write, anywhere under the root: those at
    /// least `older_than` old whose writer holds no lock (a live writer, in this process or
    /// another, holds it until its rename, and one whose file is taken early writes it again).
    /// Returns how many were removed. Opening the store does this with a 5-minute grace period.
    S3DB_DECL std::size_t cleanup_temp_files(std::chrono::seconds older_than);

    S3DB_DECL PutResult put(std::string_view key, std::string_view body, PutOptions o = {});

    S3DB_DECL std::optional<Object> get(std::string_view key, GetOptions o = {});

    S3DB_DECL std::optional<ObjectInfo> head(std::string_view key);

    S3DB_DECL PutResult copy(std::string_view from, std::string_view to, CopyOptions o = {});

    void remove(std::string_view key) { remove_full(prefix_.apply(key)); }

    S3DB_DECL RemoveManyResult remove_many(std::span<const std::string> keys);

    S3DB_DECL ListPage list(ListOptions o = {});

    const Options& options() const noexcept { return opts_; }

    Stats stats() const noexcept {
        return {state_->directories_read.load(std::memory_order_relaxed), state_->entries_read.load(std::memory_order_relaxed)};
    }

private:
    struct State {
        detail::fs::Fd root;
        std::atomic<std::uint64_t> directories_read{0}, entries_read{0};
    };

    int root() const noexcept { return state_->root.get(); }

    /// The object's file, or an invalid Fd when there is no such object.
    S3DB_DECL detail::fs::Fd open_object(const detail::fs::Location& where, const std::string& full) const;

    /// The directory `rel`, created with its parents if missing. An invalid Fd means a concurrent
    /// delete removed part of the path while it was being made: the caller starts again.
    S3DB_DECL detail::fs::Fd open_dir_creating(const std::string& rel, const std::string& key) const;

    /// Writes header + body to a temp file, then, under the directory lock, checks the conditions and
    /// renames it over the object.
    template <class WriteBody>
    void write_object(detail::fs::Record& r, WriteBody&& write_body, const std::string& if_match, bool if_none_match);

    S3DB_DECL std::optional<std::string> current_etag(int dir, const detail::fs::Location& where, const std::string& key) const;

    S3DB_DECL static void copy_range(int in, std::uint64_t offset, std::uint64_t size, int out, const std::string& key);

    S3DB_DECL void remove_full(const std::string& full);

    S3DB_DECL static ObjectInfo info(std::string key, const detail::fs::Record& r);

    /// One listing: walks directories in the byte order of the keys they hold, pruning every
    /// directory the page cannot use. Within a directory, entries are ordered by the key text they
    /// stand for ("seg" for an object, "seg/" for a directory, which keeps each directory's keys
    /// together) through a heap; a continuation directory's entries join the heap when it comes up.
    struct Walk;

    Options opts_;
    detail::KeyPrefix prefix_;
    std::shared_ptr<State> state_;
};

static_assert(Transport<Filesystem>);

}  // namespace s3db

#if S3DB_DEFINE_BODIES
#include <dirent.h>
#include <fcntl.h>
#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#endif
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <random>
#include <system_error>

namespace s3db {

namespace detail::fs {

S3DB_DECL void Fd::reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

[[noreturn]] S3DB_DECL void throw_io(const std::string& what, const std::string& key, int err) {
    bool transient = err == EINTR || err == EAGAIN || err == EBUSY || err == EMFILE || err == ENFILE || err == ENOMEM;
    throw TransportError("filesystem: " + what + ": " + std::system_category().message(err),
                         {0, {}, {}, key, transient});
}

[[noreturn]] S3DB_DECL void throw_corrupt(const std::string& rel, const std::string& key, const std::string& why) {
    throw CorruptObject("filesystem: object file '" + InvalidKey::printable(rel) + "' is corrupt: " + why, key);
}

S3DB_DECL bool name_keeps(unsigned char c) noexcept {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

S3DB_DECL std::size_t encoded_len(char c) noexcept { return name_keeps(static_cast<unsigned char>(c)) ? 1 : 3; }

S3DB_DECL void encode_name_into(std::string& out, std::string_view raw) {
    for (char ch : raw) {
        auto c = static_cast<unsigned char>(ch);
        if (name_keeps(c)) {
            out += ch;
        } else {
            out += '%';
            out += "0123456789ABCDEF"[c >> 4];
            out += "0123456789ABCDEF"[c & 15];
        }
    }
}

S3DB_DECL bool decode_name(std::string_view enc, std::string& out) {
    out.clear();
    if (enc.empty()) return false;
    auto hex = [](char h) -> int {
        if (h >= '0' && h <= '9') return h - '0';
        if (h >= 'A' && h <= 'F') return h - 'A' + 10;
        return -1;
    };
    for (std::size_t i = 0; i < enc.size(); ++i) {
        auto c = static_cast<unsigned char>(enc[i]);
        if (name_keeps(c)) {
            out += enc[i];
            continue;
        }
        if (c != '%' || i + 2 >= enc.size()) return false;
        int hi = hex(enc[i + 1]), lo = hex(enc[i + 2]);
        if (hi < 0 || lo < 0) return false;
        auto byte = static_cast<unsigned char>(hi * 16 + lo);
        if (name_keeps(byte)) return false;  // "%41" is not how "A" is spelled
        out += static_cast<char>(byte);
        i += 2;
    }
    return true;
}

S3DB_DECL void append_segment(std::string& path, std::string_view seg, bool as_object) {
    if (!path.empty()) path += '/';
    if (seg.empty()) {
        path += '%';
        if (as_object) path += object_suffix;
        return;
    }
    for (;;) {
        std::size_t n = 0, chars = 0;
        while (n < seg.size() && chars + encoded_len(seg[n]) <= max_name_chars) chars += encoded_len(seg[n++]);
        if (n == seg.size()) break;
        encode_name_into(path, seg.substr(0, n));
        path += continuation_suffix;
        path += '/';
        seg.remove_prefix(n);
    }
    encode_name_into(path, seg);
    if (as_object) path += object_suffix;
}

S3DB_DECL Location locate(std::string_view key) {
    std::string path;
    for (std::size_t slash; (slash = key.find('/')) != std::string_view::npos;) {
        append_segment(path, key.substr(0, slash), false);
        key.remove_prefix(slash + 1);
    }
    append_segment(path, key, true);
    auto cut = path.rfind('/');
    if (cut == std::string::npos) return {{}, std::move(path)};
    return {path.substr(0, cut), path.substr(cut + 1)};
}

S3DB_DECL std::string directory_of(std::string_view dir_key) {
    std::string path;
    for (std::size_t slash; (slash = dir_key.find('/')) != std::string_view::npos;) {
        append_segment(path, dir_key.substr(0, slash), false);
        dir_key.remove_prefix(slash + 1);
    }
    return path;
}

S3DB_DECL EntryKind classify(std::string_view name, std::string& seg) {
    seg.clear();
    if (name.starts_with(temp_prefix)) return EntryKind::temp;
    auto decode = [&](std::string_view enc) { return enc == "%" || decode_name(enc, seg); };
    if (name.ends_with(object_suffix))
        return decode(name.substr(0, name.size() - object_suffix.size())) ? EntryKind::object : EntryKind::other;
    if (name.ends_with(continuation_suffix))
        return decode_name(name.substr(0, name.size() - continuation_suffix.size()), seg) ? EntryKind::continuation
                                                                                         : EntryKind::other;
    return decode(name) ? EntryKind::directory : EntryKind::other;
}

S3DB_DECL void put_u64(std::string& out, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

S3DB_DECL void put_u32(std::string& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

S3DB_DECL void put_str(std::string& out, std::string_view s) {
    put_u32(out, static_cast<std::uint32_t>(s.size()));
    out.append(s);
}

S3DB_DECL std::string encode_header(const Record& r) {
    std::string h;
    put_u64(h, r.size);
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(r.last_modified.time_since_epoch()).count();
    put_u64(h, static_cast<std::uint64_t>(ns));
    put_str(h, r.key);
    put_str(h, r.etag);
    put_str(h, r.content_type);
    put_u32(h, static_cast<std::uint32_t>(r.metadata.size()));
    for (const auto& [k, v] : r.metadata) {
        put_str(h, k);
        put_str(h, v);
    }
    if (h.size() > 0xffffffffu) throw TransportError("filesystem: object header too large", {0, {}, {}, r.key, false});
    std::string out(magic);
    put_u32(out, static_cast<std::uint32_t>(h.size()));
    return out + h;
}

S3DB_DECL bool HeaderReader::u64(std::uint64_t& v) {
    if (in_.size() < 8) return false;
    v = 0;
    for (int i = 0; i < 8; ++i) v |= std::uint64_t(static_cast<unsigned char>(in_[i])) << (8 * i);
    in_.remove_prefix(8);
    return true;
}

S3DB_DECL bool HeaderReader::u32(std::uint32_t& v) {
    if (in_.size() < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i) v |= std::uint32_t(static_cast<unsigned char>(in_[i])) << (8 * i);
    in_.remove_prefix(4);
    return true;
}

S3DB_DECL bool HeaderReader::str(std::string& s) {
    std::uint32_t n;
    if (!u32(n) || in_.size() < n) return false;
    s.assign(in_.substr(0, n));
    in_.remove_prefix(n);
    return true;
}

S3DB_DECL ssize_t pread_full(int fd, char* buf, std::size_t n, std::uint64_t offset) {
    std::size_t got = 0;
    while (got < n) {
        ssize_t r = ::pread(fd, buf + got, n - got, static_cast<off_t>(offset + got));
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (r == 0) break;
        got += static_cast<std::size_t>(r);
    }
    return static_cast<ssize_t>(got);
}

S3DB_DECL void write_full(int fd, std::string_view data, const std::string& key) {
    while (!data.empty()) {
        ssize_t w = ::write(fd, data.data(), data.size());
        if (w < 0) {
            if (errno == EINTR) continue;
            throw_io("cannot write a temp file", key, errno);
        }
        data.remove_prefix(static_cast<std::size_t>(w));
    }
}

S3DB_DECL Record read_header(int fd, const std::string& rel, const std::string& expected_key) {
    // The file's size bounds every length in the header: a damaged length must fail here, not
    // allocate what it claims (a 4-byte edit asked for 4 GB on every read).
    struct stat st;
    if (::fstat(fd, &st) != 0) throw_io("cannot stat '" + InvalidKey::printable(rel) + "'", expected_key, errno);
    const auto file_size = static_cast<std::uint64_t>(st.st_size);
    char first[4096];
    ssize_t got = pread_full(fd, first, sizeof first, 0);
    if (got < 0) throw_io("cannot read '" + InvalidKey::printable(rel) + "'", expected_key, errno);
    auto n = static_cast<std::size_t>(got);
    if (n < preamble_size || std::string_view(first, magic.size()) != magic)
        throw_corrupt(rel, expected_key, "no object header");
    std::uint32_t header_len = 0;
    HeaderReader(std::string_view(first + magic.size(), 4)).u32(header_len);
    if (header_len > file_size - preamble_size)
        throw_corrupt(rel, expected_key, "its header claims " + std::to_string(header_len) + " bytes, more than the " +
                                             std::to_string(file_size) + "-byte file holds");
    std::string header;
    if (preamble_size + header_len <= n) {
        header.assign(first + preamble_size, header_len);
    } else {
        header.resize(header_len);
        ssize_t more = pread_full(fd, header.data(), header_len, preamble_size);
        if (more < 0) throw_io("cannot read '" + InvalidKey::printable(rel) + "'", expected_key, errno);
        if (static_cast<std::size_t>(more) != header_len) throw_corrupt(rel, expected_key, "truncated header");
    }
    Record r;
    HeaderReader in(header);
    std::uint64_t ns = 0;
    std::uint32_t count = 0;
    bool ok = in.u64(r.size) && in.u64(ns) && in.str(r.key) && in.str(r.etag) && in.str(r.content_type) && in.u32(count);
    for (std::uint32_t i = 0; ok && i < count; ++i) {
        std::string k, v;
        ok = in.str(k) && in.str(v);
        if (ok) r.metadata.emplace(std::move(k), std::move(v));
    }
    if (!ok || !in.done()) throw_corrupt(rel, expected_key, "malformed header");
    if (r.key != expected_key) throw_corrupt(rel, expected_key, "it holds key '" + InvalidKey::printable(r.key) + "'");
    r.last_modified = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(static_cast<std::int64_t>(ns))));
    r.body_offset = preamble_size + header_len;
    // Compared by subtraction: a body size near 2^64 must not wrap around to a match.
    if (r.size != file_size - r.body_offset) throw_corrupt(rel, expected_key, "its size does not match its header");
    return r;
}

S3DB_DECL Fd open_beneath(int root, const std::string& rel, int flags) {
    flags |= O_CLOEXEC;
    const char* path = rel.empty() ? "." : rel.c_str();
#if defined(SYS_openat2) && defined(RESOLVE_BENEATH)
    static std::atomic<bool> have_openat2{true};
    if (have_openat2.load(std::memory_order_relaxed)) {
        open_how how{};
        how.flags = static_cast<std::uint64_t>(flags);
        how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
        long fd;
        do fd = ::syscall(SYS_openat2, root, path, &how, sizeof how);
        while (fd < 0 && (errno == EINTR || errno == EAGAIN));
        if (fd >= 0) return Fd(static_cast<int>(fd));
        if (errno == ENOSYS || errno == E2BIG) have_openat2.store(false, std::memory_order_relaxed);
        else if (errno != EPERM) return Fd();  // EPERM may be a seccomp filter: try the portable way
    }
#endif
    Fd cur;
    int at = root;
    std::string_view rest = path;
    for (;;) {
        auto slash = rest.find('/');
        std::string part(rest.substr(0, slash));
        bool last = slash == std::string_view::npos;
        int fd = ::openat(at, part.c_str(), last ? flags | O_NOFOLLOW : O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            int err = errno;
            cur.reset();
            errno = err;
            return Fd();
        }
        cur = Fd(fd);
        at = fd;
        if (last) return cur;
        rest.remove_prefix(slash + 1);
    }
}

S3DB_DECL void sync_or_throw(int fd, const std::string& what, const std::string& key) {
    if (::fsync(fd) != 0 && errno != EINVAL && errno != EROFS) throw_io("cannot fsync " + what, key, errno);
}

S3DB_DECL FileLock::FileLock(int fd, const std::string& key) : fd_(fd) {
    while (::flock(fd_, LOCK_EX) != 0)
        if (errno != EINTR) throw_io("cannot lock a directory", key, errno);
}

S3DB_DECL FileLock::~FileLock() { ::flock(fd_, LOCK_UN); }

S3DB_DECL std::string temp_name() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    std::string name(temp_prefix);
    name += std::to_string(::getpid());
    name += '.';
    name += detail::hex_u64(rng());
    return name;
}

S3DB_DECL bool sweep_temp(int dir, const char* name, std::chrono::nanoseconds older_than) {
    struct stat st;
    if (::fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) return false;
    auto mtime = std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
        std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
    if (std::chrono::system_clock::now() - mtime < older_than) return false;
    Fd f(::openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!f || ::flock(f.get(), LOCK_EX | LOCK_NB) != 0) return false;
    struct stat now;
    return ::fstatat(dir, name, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_ino == st.st_ino && now.st_dev == st.st_dev &&
           ::unlinkat(dir, name, 0) == 0;
}

}  // namespace detail::fs

struct Filesystem::Walk {
    Filesystem& fs;
    const ListOptions& opts;
    detail::ListBuilder& page;
    std::string seg_{}, key_{};  // scratch, reused for every entry

    enum class Step { next, stop, found };

    struct Child {
        std::string order;     // the key text after the level's own: "seg", "seg/", or a segment piece
        std::string file;      // its name on disk
        std::uint32_t parent;  // which of the level's physical directories holds it
        detail::fs::EntryKind kind;
    };
    struct Later {
        bool operator()(const Child& a, const Child& b) const { return a.order > b.order; }
    };
    struct Earlier {
        bool operator()(const Child& a, const Child& b) const { return a.order < b.order; }
    };

    static std::string join(const std::string& dir, std::string_view name) {
        return dir.empty() ? std::string(name) : dir + '/' + std::string(name);
    }

    /// Keys whose first delimiter lies inside `dir_key` all roll up into one common prefix.
    bool rolls_up(std::string_view dir_key) const {
        if (opts.delimiter.empty() || !dir_key.starts_with(opts.prefix)) return false;
        return dir_key.substr(opts.prefix.size()).find(opts.delimiter) != std::string_view::npos;
    }

    /// Whether the page would return `key` as an object (so its header is worth reading).
    bool wants_object(std::string_view key) const {
        if (!key.starts_with(opts.prefix) || key < page.seek()) return false;
        return opts.delimiter.empty() || key.substr(opts.prefix.size()).find(opts.delimiter) == std::string_view::npos;
    }

    /// How many of one directory's objects a page can use, the smallest first (0: all). Each object
    /// returned takes a slot and at most one (the start-after key) is skipped, unless objects can
    /// roll up into a shared common prefix, which only a delimiter other than '/' allows. A level
    /// whose keys all roll up needs its first taken key only.
    std::size_t object_cap(bool first_only) const {
        if (first_only) return 2;
        if (opts.delimiter.empty() || opts.delimiter == "/") return std::min(opts.max_keys, max_list_keys) + 2;
        return 0;
    }

    /// Adds the entries of `dirs[which]` the page may use to `out`. `piece` is the segment text a
    /// continuation directory stands for. Keeps only the `cap` smallest objects (0: all) and, with
    /// `after`, only objects ordered after it (and nothing else). Returns the largest kept object's
    /// order when objects were left out.
    std::optional<std::string> read(const std::string& dir_key, const std::vector<std::string>& dirs,
                                    std::uint32_t which, std::string_view piece, std::vector<Child>& out,
                                    std::size_t cap, const std::string* after) {
        using detail::fs::EntryKind;
        auto fd = detail::fs::open_beneath(fs.root(), dirs[which], O_RDONLY | O_DIRECTORY);
        if (!fd) {
            if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;  // removed meanwhile: nothing there
            detail::fs::throw_io("cannot open a directory to list it", dir_key, errno);
        }
        DIR* d = ::fdopendir(fd.get());
        if (!d) detail::fs::throw_io("cannot list a directory", dir_key, errno);
        fd.release();
        std::unique_ptr<DIR, int (*)(DIR*)> guard(d, ::closedir);
        fs.state_->directories_read.fetch_add(1, std::memory_order_relaxed);
        std::uint64_t entries = 0;
        std::vector<Child> objects;  // with a cap: a max-heap of the smallest objects seen
        bool left_out = false;
        for (;;) {
            errno = 0;
            dirent* e = ::readdir(d);
            if (!e) {
                if (errno) detail::fs::throw_io("cannot read a directory", dir_key, errno);
                break;
            }
            std::string_view name = e->d_name;
            if (name == "." || name == "..") continue;
            ++entries;
            auto kind = detail::fs::classify(name, seg_);
            if (kind == EntryKind::other) continue;
            if (kind == EntryKind::temp) {
                detail::fs::sweep_temp(::dirfd(d), e->d_name, detail::fs::stale_temp_age);
                continue;
            }
            bool is_object = kind == EntryKind::object;
            if (after && !is_object) continue;
            key_.assign(dir_key).append(piece).append(seg_);
            if (kind == EntryKind::directory) key_ += '/';
            std::string_view order = std::string_view(key_).substr(dir_key.size());
            if (is_object) {
                if (!key_.starts_with(opts.prefix) || key_ < page.seek()) continue;
                if (after && order <= *after) continue;
            } else if (page.skips_all_under(key_)) {
                continue;
            }
            if (!entry_type_fits(d, e, is_object)) continue;
            if (is_object && cap) {
                if (objects.size() == cap) {
                    left_out = true;
                    if (order >= objects.front().order) continue;
                    std::pop_heap(objects.begin(), objects.end(), Earlier{});
                    objects.pop_back();
                }
                objects.push_back({std::string(order), std::string(name), which, kind});
                std::push_heap(objects.begin(), objects.end(), Earlier{});
                continue;
            }
            out.push_back({std::string(order), std::string(name), which, kind});
        }
        fs.state_->entries_read.fetch_add(entries, std::memory_order_relaxed);
        std::optional<std::string> boundary;
        if (left_out) boundary = objects.front().order;
        for (auto& c : objects) out.push_back(std::move(c));
        return boundary;
    }

    /// Objects are regular files and the rest directories; anything else (a planted symlink) is not ours.
    static bool entry_type_fits(DIR* d, const dirent* e, bool is_object) {
        unsigned char type = e->d_type;
        if (type == DT_UNKNOWN) {
            struct stat st;
            if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) return false;
            type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
        }
        return type == (is_object ? DT_REG : DT_DIR);
    }

    /// Feeds the keys under `dir_key` (physically `rel`) in byte order. With `first_only`, stops at
    /// the first key the page takes (every key there rolls up into the same common prefix).
    Step level(const std::string& dir_key, const std::string& rel, bool first_only) {
        std::vector<std::string> dirs{rel};  // this directory, then its continuation directories
        std::vector<Child> heap;
        auto cap = object_cap(first_only);
        auto boundary = read(dir_key, dirs, 0, {}, heap, cap, nullptr);
        std::make_heap(heap.begin(), heap.end(), Later{});
        for (;;) {
            if (boundary && (heap.empty() || heap.front().order > *boundary)) {
                // Objects past the cap were left out and the page still has room (some kept ones
                // vanished meanwhile): read the ones after the last kept.
                auto from = std::move(*boundary);
                boundary = read(dir_key, dirs, 0, {}, heap, cap, &from);
                std::make_heap(heap.begin(), heap.end(), Later{});
                continue;
            }
            if (heap.empty()) return Step::next;
            std::pop_heap(heap.begin(), heap.end(), Later{});
            Child c = std::move(heap.back());
            heap.pop_back();
            Step s = Step::next;
            switch (c.kind) {
                case detail::fs::EntryKind::continuation: {
                    // Its entries all sort at or after its piece: merging them into the heap keeps order.
                    dirs.push_back(join(dirs[c.parent], c.file));
                    auto before = heap.size();
                    read(dir_key, dirs, static_cast<std::uint32_t>(dirs.size() - 1), c.order, heap, 0, nullptr);
                    for (auto i = before; i < heap.size(); ++i)
                        std::push_heap(heap.begin(), heap.begin() + static_cast<std::ptrdiff_t>(i) + 1, Later{});
                    break;
                }
                case detail::fs::EntryKind::object:
                    s = object(dir_key + c.order, join(dirs[c.parent], c.file), first_only);
                    break;
                case detail::fs::EntryKind::directory: {
                    std::string sub = dir_key + c.order;
                    s = level(sub, join(dirs[c.parent], c.file), first_only || rolls_up(sub));
                    if (s == Step::found && !first_only) s = Step::next;  // that common prefix is done
                    break;
                }
                default:
                    break;
            }
            if (s != Step::next) return s;
        }
    }

    Step object(const std::string& key, const std::string& rel, bool first_only) {
        // A file not where its key would be stored (put there by hand) is not an object of this store.
        if (detail::fs::locate(key).rel() != rel) return Step::next;
        bool fits;
        if (wants_object(key)) {
            auto f = detail::fs::open_beneath(fs.root(), rel, O_RDONLY);
            if (!f) {
                if (errno == ENOENT || errno == ENOTDIR) return Step::next;  // deleted meanwhile
                detail::fs::throw_io("cannot open the object to list it", key, errno);
            }
            std::optional<detail::fs::Record> r;
            try {
                r = detail::fs::read_header(f.get(), rel, key);
            } catch (const CorruptObject&) {
                // Listed all the same, with no ETag, as S3 lists what it holds without reading
                // it: one damaged object does not hide the others. Reading it throws.
            }
            fits = page.add(key, [&] {
                return r ? ListEntry{key, r->etag, r->size, r->last_modified} : ListEntry{key, {}, 0, {}};
            });
        } else {
            fits = page.add(key, [&] { return ListEntry{key, {}, 0, {}}; });  // rolled up or skipped: never built
        }
        if (!fits) return Step::stop;
        return first_only && key > page.seek() ? Step::found : Step::next;
    }
};

template <class WriteBody>
void Filesystem::write_object(detail::fs::Record& r, WriteBody&& write_body, const std::string& if_match, bool if_none_match) {
    using detail::fs::Fd;
    const auto& key = r.key;
    auto where = detail::fs::locate(key);
    for (int attempt = 0; attempt < 1000; ++attempt) {
        Fd dir = open_dir_creating(where.dir, key);
        if (!dir) continue;
        std::string tmp = detail::fs::temp_name();
        Fd out(::openat(dir.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666));
        if (!out) {
            if (errno == ENOENT || errno == EEXIST) continue;  // directory deleted meanwhile, or a name clash
            detail::fs::throw_io("cannot create a temp file", key, errno);
        }
        struct Cleanup {
            int dir;
            const std::string& name;
            bool armed = true;
            ~Cleanup() {
                if (armed) ::unlinkat(dir, name.c_str(), 0);
            }
        } cleanup{dir.get(), tmp};
        // Held until the rename, so a sweep of stale temp files never takes a live one.
        while (::flock(out.get(), LOCK_EX) != 0)
            if (errno != EINTR) detail::fs::throw_io("cannot lock a temp file", key, errno);
        r.last_modified = std::chrono::system_clock::now();
        detail::fs::write_full(out.get(), detail::fs::encode_header(r), key);
        write_body(out.get());
        if (opts_.durable && ::fdatasync(out.get()) != 0) detail::fs::throw_io("cannot fsync a temp file", key, errno);
        {
            detail::fs::FileLock lock(dir.get(), key);
            if (!if_match.empty() || if_none_match) {
                auto current = current_etag(dir.get(), where, key);
                if (if_none_match && current) throw PreconditionFailed(key);
                if (!if_match.empty() && (!current || !detail::etag_equal(if_match, *current)))
                    throw PreconditionFailed(key);
            }
            if (::renameat(dir.get(), tmp.c_str(), dir.get(), where.file.c_str()) != 0) {
                if (errno == ENOENT) continue;  // the temp file was swept as stale: write it again
                detail::fs::throw_io("cannot rename a temp file over the object", key, errno);
            }
            cleanup.armed = false;
        }
        if (opts_.durable) detail::fs::sync_or_throw(dir.get(), "a directory", key);
        return;
    }
    throw TransportError("filesystem: the object's directory kept vanishing during the write", {0, {}, {}, key, true});
}

S3DB_DECL Filesystem::Filesystem(Options o) : opts_(std::move(o)), prefix_(opts_.prefix), state_(std::make_shared<State>()) {
    if (opts_.root.empty()) throw ConfigError("filesystem store: the root folder is not set");
    std::error_code ec;
    std::filesystem::create_directories(opts_.root, ec);
    if (ec) throw ConfigError("filesystem store: cannot create '" + opts_.root.string() + "': " + ec.message());
    int fd = ::open(opts_.root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        throw ConfigError("filesystem store: cannot open '" + opts_.root.string() + "': " +
                          std::system_category().message(errno));
    state_->root = detail::fs::Fd(fd);
    // Writers killed mid-write leave temp files in folders no listing may ever visit.
    if (opts_.clean_temp_files_on_open) cleanup_temp_files(detail::fs::stale_temp_age);
}

S3DB_DECL std::size_t Filesystem::cleanup_temp_files(std::chrono::seconds older_than) {
    using detail::fs::EntryKind;
    std::size_t removed = 0;
    std::string seg;
    std::vector<std::string> pending{""};  // directories to read, relative to the root
    while (!pending.empty()) {
        std::string rel = std::move(pending.back());
        pending.pop_back();
        auto fd = detail::fs::open_beneath(root(), rel, O_RDONLY | O_DIRECTORY);
        if (!fd) continue;  // removed meanwhile
        DIR* d = ::fdopendir(fd.get());
        if (!d) continue;
        fd.release();
        std::unique_ptr<DIR, int (*)(DIR*)> guard(d, ::closedir);
        while (dirent* e = ::readdir(d)) {
            std::string_view name = e->d_name;
            if (name == "." || name == "..") continue;
            auto kind = detail::fs::classify(name, seg);
            if (kind == EntryKind::temp) {
                removed += detail::fs::sweep_temp(::dirfd(d), e->d_name, older_than);
            } else if (kind == EntryKind::directory || kind == EntryKind::continuation) {
                unsigned char type = e->d_type;
                if (type == DT_UNKNOWN) {
                    struct stat st;
                    if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) type = DT_DIR;
                }
                if (type == DT_DIR) pending.push_back(rel.empty() ? std::string(name) : rel + '/' + std::string(name));
            }
        }
    }
    return removed;
}

S3DB_DECL PutResult Filesystem::put(std::string_view key, std::string_view body, PutOptions o) {
    auto full = prefix_.apply(key);
    check_storage_class(full, o.storage_class);  // one tier: checked, not kept
    detail::fs::Record r;
    r.metadata = detail::normalize_metadata(std::move(o.metadata), full, opts_.metadata_limit);
    r.etag = detail::etag_of(body);
    r.content_type = std::move(o.content_type);
    r.size = body.size();
    r.key = full;
    write_object(r, [&](int fd) { detail::fs::write_full(fd, body, full); }, o.if_match, o.if_none_match);
    return {r.etag};
}

S3DB_DECL std::optional<Object> Filesystem::get(std::string_view key, GetOptions o) {
    auto full = prefix_.apply(key);
    auto where = detail::fs::locate(full);
    auto f = open_object(where, full);
    if (!f) {
        if (!o.if_match.empty()) throw PreconditionFailed(full);
        return std::nullopt;
    }
    auto rec = detail::fs::read_header(f.get(), where.rel(), full);
    if (!o.if_match.empty() && !detail::etag_equal(o.if_match, rec.etag)) throw PreconditionFailed(full);
    if (!o.if_none_match.empty() && (o.if_none_match == "*" || detail::etag_equal(o.if_none_match, rec.etag)))
        throw NotModified(full);
    std::size_t first = 0, count = rec.size;
    if (o.range) std::tie(first, count) = detail::resolve_range(*o.range, rec.size, full);
    Object out{info(std::string(key), rec), std::string(count, '\0')};
    auto got = detail::fs::pread_full(f.get(), out.body.data(), count, rec.body_offset + first);
    if (got < 0) detail::fs::throw_io("cannot read the object", full, errno);
    if (static_cast<std::size_t>(got) != count) detail::fs::throw_corrupt(where.rel(), full, "body cut short");
    return out;
}

S3DB_DECL std::optional<ObjectInfo> Filesystem::head(std::string_view key) {
    auto full = prefix_.apply(key);
    auto where = detail::fs::locate(full);
    auto f = open_object(where, full);
    if (!f) return std::nullopt;
    return info(std::string(key), detail::fs::read_header(f.get(), where.rel(), full));
}

S3DB_DECL PutResult Filesystem::copy(std::string_view from, std::string_view to, CopyOptions o) {
    auto src_key = prefix_.apply(from), dst_key = prefix_.apply(to);
    std::optional<Metadata> replaced;
    if (o.directive == MetadataDirective::replace)
        replaced = detail::normalize_metadata(std::move(o.metadata), dst_key, opts_.metadata_limit);
    auto where = detail::fs::locate(src_key);
    auto src = open_object(where, src_key);  // an open file is a fixed version: copy exactly that one
    if (!src) throw NotFound(src_key);
    auto rec = detail::fs::read_header(src.get(), where.rel(), src_key);
    if (!o.source_if_match.empty() && !detail::etag_equal(o.source_if_match, rec.etag))
        throw PreconditionFailed(src_key);
    if (replaced) {
        rec.metadata = std::move(*replaced);
        if (!o.content_type.empty()) rec.content_type = std::move(o.content_type);
    }
    rec.key = dst_key;
    auto offset = rec.body_offset;
    write_object(rec, [&](int out) { copy_range(src.get(), offset, rec.size, out, dst_key); }, {}, false);
    return {rec.etag};
}

S3DB_DECL RemoveManyResult Filesystem::remove_many(std::span<const std::string> keys) {
    std::vector<std::string> full;
    full.reserve(keys.size());
    for (auto& k : keys) full.push_back(prefix_.apply(k));
    RemoveManyResult r;
    for (std::size_t i = 0; i < keys.size(); ++i) {
        try {
            remove_full(full[i]);
            r.removed.push_back(keys[i]);
        } catch (const TransportError& e) {
            r.failed.push_back({keys[i], e.code().empty() ? "InternalError" : e.code(), e.what()});
        }
    }
    return r;
}

S3DB_DECL ListPage Filesystem::list(ListOptions o) {
    auto opts = prefix_.apply(std::move(o));
    detail::ListBuilder page(opts);
    Walk walk{*this, opts, page};
    // Every key under the prefix lies below the directory of the prefix's complete segments.
    std::string base_key = opts.prefix.substr(0, opts.prefix.rfind('/') + 1);
    walk.level(base_key, detail::fs::directory_of(base_key), false);
    return prefix_.strip(std::move(page).finish());
}

S3DB_DECL detail::fs::Fd Filesystem::open_object(const detail::fs::Location& where, const std::string& full) const {
    auto f = detail::fs::open_beneath(root(), where.rel(), O_RDONLY);
    if (!f && errno != ENOENT && errno != ENOTDIR) detail::fs::throw_io("cannot open the object", full, errno);
    return f;
}

S3DB_DECL detail::fs::Fd Filesystem::open_dir_creating(const std::string& rel, const std::string& key) const {
    using detail::fs::Fd;
    auto fd = detail::fs::open_beneath(root(), rel, O_RDONLY | O_DIRECTORY);
    if (fd) return fd;
    if (errno != ENOENT) detail::fs::throw_io("cannot open a directory", key, errno);
    Fd cur = detail::fs::open_beneath(root(), "", O_RDONLY | O_DIRECTORY);
    if (!cur) detail::fs::throw_io("cannot open the root folder", key, errno);
    std::string_view rest = rel;
    while (!rest.empty()) {
        auto slash = rest.find('/');
        std::string part(rest.substr(0, slash));
        rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
        for (;;) {
            int next = ::openat(cur.get(), part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (next >= 0) {
                cur = Fd(next);
                break;
            }
            if (errno != ENOENT) detail::fs::throw_io("cannot open a directory", key, errno);
            if (::mkdirat(cur.get(), part.c_str(), 0777) == 0) {
                if (opts_.durable) detail::fs::sync_or_throw(cur.get(), "a directory", key);
            } else if (errno == ENOENT) {
                return Fd();  // `cur` itself was removed
            } else if (errno != EEXIST) {
                detail::fs::throw_io("cannot create a directory", key, errno);
            }
        }
    }
    return cur;
}

S3DB_DECL std::optional<std::string> Filesystem::current_etag(int dir, const detail::fs::Location& where, const std::string& key) const {
    detail::fs::Fd f(::openat(dir, where.file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!f) {
        if (errno == ENOENT) return std::nullopt;
        detail::fs::throw_io("cannot open the object", key, errno);
    }
    return detail::fs::read_header(f.get(), where.rel(), key).etag;
}

S3DB_DECL void Filesystem::copy_range(int in, std::uint64_t offset, std::uint64_t size, int out, const std::string& key) {
    auto off = static_cast<off_t>(offset);
    while (size > 0) {
        ssize_t n = ::copy_file_range(in, &off, out, nullptr, static_cast<std::size_t>(std::min<std::uint64_t>(size, 1u << 30)), 0);
        if (n > 0) {
            size -= static_cast<std::uint64_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n == 0 || errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP) break;
        detail::fs::throw_io("cannot copy the object's body", key, errno);
    }
    // Where the kernel cannot copy between these files, copy through a buffer.
    std::string buf(std::min<std::uint64_t>(size, 1 << 20), '\0');
    while (size > 0) {
        auto want = static_cast<std::size_t>(std::min<std::uint64_t>(size, buf.size()));
        auto got = detail::fs::pread_full(in, buf.data(), want, static_cast<std::uint64_t>(off));
        if (got < 0) detail::fs::throw_io("cannot read the source object", key, errno);
        if (static_cast<std::size_t>(got) != want)
            throw TransportError("filesystem: the source object was cut short", {0, "InternalError", {}, key, false});
        detail::fs::write_full(out, std::string_view(buf.data(), want), key);
        off += static_cast<off_t>(want);
        size -= want;
    }
}

S3DB_DECL void Filesystem::remove_full(const std::string& full) {
    auto where = detail::fs::locate(full);
    auto dir = detail::fs::open_beneath(root(), where.dir, O_RDONLY | O_DIRECTORY);
    if (!dir) {
        if (errno == ENOENT || errno == ENOTDIR) return;
        detail::fs::throw_io("cannot open a directory", full, errno);
    }
    {
        detail::fs::FileLock lock(dir.get(), full);
        if (::unlinkat(dir.get(), where.file.c_str(), 0) != 0) {
            if (errno == ENOENT) return;
            detail::fs::throw_io("cannot delete the object", full, errno);
        }
    }
    if (opts_.durable) detail::fs::sync_or_throw(dir.get(), "a directory", full);
    // Remove directories left empty, deepest first; a writer that loses its directory retries.
    std::string path = where.dir;
    while (!path.empty()) {
        auto cut = path.rfind('/');
        std::string parent = cut == std::string::npos ? std::string() : path.substr(0, cut);
        std::string name = cut == std::string::npos ? path : path.substr(cut + 1);
        auto p = detail::fs::open_beneath(root(), parent, O_RDONLY | O_DIRECTORY);
        if (!p || ::unlinkat(p.get(), name.c_str(), AT_REMOVEDIR) != 0) break;
        path = std::move(parent);
    }
}

S3DB_DECL ObjectInfo Filesystem::info(std::string key, const detail::fs::Record& r) {
    return ObjectInfo{std::move(key), r.etag, r.size, r.content_type, r.last_modified, r.metadata};
}

}  // namespace s3db
#endif  // S3DB_DEFINE_BODIES
