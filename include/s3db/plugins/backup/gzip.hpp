#pragma once
// GzipCompression: the Backup plugin's gzip policy. This is the one s3db header that includes
// <zlib.h>; a program that includes it links zlib (CMake: `s3db::gzip`, which links ZLIB::ZLIB).
//
//   #include <s3db/plugins/backup/gzip.hpp>
//   using Bk = s3db::Backup<s3db::FilesystemBackup, s3db::GzipCompression>;
//   Bk backup(s3db::FilesystemBackup{"./backups/{date}/"}, {}, s3db::GzipCompression{.level = 6});
//
// Each archive file but the manifest is one gzip member (RFC 1952, `gzip -d` reads it) named
// `<file>.gz`; the manifest says `"compression": {"algorithm": "gzip", "level": n}` and gives each
// file's `size` and `sha256` of the stored bytes and its `plainSize`. With a passphrase the gzip
// member is what gets encrypted. Compression and decompression go through zlib in chunks of
// at most 1 MiB of input, so no size limit of zlib's 32-bit counters applies; a file is held
// plain and packed while it is written or read, nothing more. The functions are `inline` in both
// of s3db's compilation modes (s3db/implementation.hpp does not include this header, so a program
// that never names gzip never needs zlib).

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <zlib.h>

#include "s3db/errors.hpp"
#include "s3db/plugins/backup.hpp"

namespace s3db {

struct GzipCompression {
    static constexpr std::string_view algorithm = "gzip";
    static constexpr std::string_view suffix = ".gz";
    int level = 6;  // zlib's: 0 (stored) to 9 (smallest), -1 its default (6)

    void validate() const {
        if (level < -1 || level > 9) throw ConfigError("GzipCompression: level must be -1 to 9, not " + std::to_string(level));
    }

    json describe() const { return {{"algorithm", algorithm}, {"level", level}}; }

    /// One gzip member holding `plain`.
    std::string compress(std::string_view plain) const {
        z_stream z{};
        // windowBits 15 + 16: a gzip header and trailer (CRC-32, size) around the deflate stream.
        if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            throw Error("GzipCompression: zlib could not start a deflate stream");
        std::string out;
        out.reserve(plain.size() / 3 + 64);
        int rc = Z_OK;
        std::size_t at = 0;
        do {
            const std::size_t n = std::min(plain.size() - at, chunk);
            z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(plain.data() + at));
            z.avail_in = static_cast<uInt>(n);
            at += n;
            const int flush = at == plain.size() ? Z_FINISH : Z_NO_FLUSH;
            do {
                rc = pump(z, out, [&](z_stream& s) { return deflate(&s, flush); });
            } while (z.avail_out == 0 && rc != Z_STREAM_END);
        } while (at < plain.size());
        deflateEnd(&z);
        if (rc != Z_STREAM_END) throw Error("GzipCompression: deflate failed (zlib " + std::to_string(rc) + ")");
        return out;
    }

    /// The contents of one gzip member, or nullopt unless it is exactly one well-formed member
    /// (CRC-32 and length checked by zlib) of `size` bytes with nothing after it. Never holds
    /// more than `size` bytes of output, whatever the input claims.
    std::optional<std::string> decompress(std::string_view packed, std::size_t size) const {
        z_stream z{};
        if (inflateInit2(&z, 15 + 16) != Z_OK) throw Error("GzipCompression: zlib could not start an inflate stream");
        std::string out(size, '\0');
        std::size_t at = 0, made = 0;
        int rc = Z_OK;
        while (rc == Z_OK) {
            if (z.avail_in == 0 && at < packed.size()) {
                const std::size_t n = std::min(packed.size() - at, chunk);
                z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(packed.data() + at));
                z.avail_in = static_cast<uInt>(n);
                at += n;
            }
            // One spare byte past `size`: a member that decodes to more shows itself there.
            char spare = 0;
            const bool full = made == size;
            z.next_out = reinterpret_cast<Bytef*>(full ? &spare : out.data() + made);
            z.avail_out = full ? 1u : static_cast<uInt>(std::min(size - made, chunk));
            const uInt before = z.avail_out;
            rc = inflate(&z, Z_NO_FLUSH);
            const std::size_t produced = before - z.avail_out;
            if (full && produced > 0) rc = Z_DATA_ERROR;
            made += full ? 0 : produced;
            if (rc == Z_BUF_ERROR && z.avail_in == 0 && at == packed.size()) break;  // truncated
            if (rc == Z_BUF_ERROR) rc = Z_OK;  // no progress possible this round: more input or room comes next
        }
        const bool whole = rc == Z_STREAM_END && z.avail_in == 0 && at == packed.size() && made == size;
        inflateEnd(&z);
        if (!whole) return std::nullopt;
        return out;
    }

private:
    static constexpr std::size_t chunk = std::size_t{1} << 20;

    /// Runs `step` once with a fresh 64 KiB of output space appended to `out`, keeps what it wrote.
    template <class Step>
    static int pump(z_stream& z, std::string& out, Step&& step) {
        constexpr std::size_t room = 64 * 1024;
        const std::size_t used = out.size();
        out.resize(used + room);
        z.next_out = reinterpret_cast<Bytef*>(out.data() + used);
        z.avail_out = static_cast<uInt>(room);
        const int rc = step(z);
        out.resize(used + room - z.avail_out);
        return rc;
    }
};

static_assert(BackupCompression<GzipCompression>);

}  // namespace s3db
