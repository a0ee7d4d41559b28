#pragma once
// Random bytes for ids, IVs, salts and ETag stamps: OpenSSL's CSPRNG, drawn a block at a time into a
// per-thread buffer.
//
// Why a buffer: every RAND_bytes call makes a getpid() system call (OpenSSL's fork check), over 1 µs
// on a virtual machine; a default 22-character id cost 3 µs that way, more than the whole insert it
// was for. A draw here costs a copy, and one RAND_bytes call per `block` bytes.
//
// Why it stays safe: bytes are handed out once and wiped from the buffer as they go, so a later read
// of the buffer cannot recover earlier ids or IVs; and a fork empties every buffer (pthread_atfork),
// so a child never hands out bytes its parent already has. Processes made with a raw clone() that
// skips the fork handlers are not covered, as they are not by arc4random either.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "s3db/errors.hpp"
#include "s3db/detail/config.hpp"

namespace s3db::detail {

inline std::atomic<std::uint64_t>& fork_generation() noexcept {
    static std::atomic<std::uint64_t> generation{0};
    return generation;
}

/// Straight from OpenSSL, for requests bigger than a buffer.
S3DB_DECL void openssl_random(unsigned char* out, std::size_t n);

inline constexpr std::size_t random_block = 512;

struct RandomBuffer {
    unsigned char bytes[random_block];
    std::size_t used = random_block;  // bytes[used, random_block) are fresh; the rest are zero
    std::uint64_t generation = 0;
};

/// This thread's buffer. It starts empty, so a thread's first draw takes the slow path, which
/// installs the fork handler before any byte is buffered.
inline RandomBuffer& random_buffer() noexcept {
    thread_local RandomBuffer buffer;
    return buffer;
}

/// random_fill's every case but a draw the buffer can serve: big requests, a forked child's
/// buffer, refills.
S3DB_DECL void random_fill_slow(unsigned char* out, std::size_t n);

/// `n` bytes from the CSPRNG.
inline void random_fill(unsigned char* out, std::size_t n) {
    RandomBuffer& buffer = random_buffer();
    if (n <= random_block / 4 && n <= random_block - buffer.used &&
        buffer.generation == fork_generation().load(std::memory_order_relaxed)) {
        std::memcpy(out, buffer.bytes + buffer.used, n);
        std::memset(buffer.bytes + buffer.used, 0, n);
        buffer.used += n;
        return;
    }
    random_fill_slow(out, n);
}

inline std::uint64_t random_u64() {
    std::uint64_t v = 0;
    random_fill(reinterpret_cast<unsigned char*>(&v), sizeof v);
    return v;
}

inline std::string random_bytes(std::size_t n) {
    std::string out(n, '\0');
    random_fill(reinterpret_cast<unsigned char*>(out.data()), n);
    return out;
}

}  // namespace s3db::detail

#if S3DB_DEFINE_BODIES
#include <openssl/rand.h>
#include <pthread.h>

namespace s3db::detail {

S3DB_DECL void openssl_random(unsigned char* out, std::size_t n) {
    while (n > 0) {
        const int chunk = n > (1u << 20) ? (1 << 20) : static_cast<int>(n);
        if (RAND_bytes(out, chunk) != 1) throw Error("OpenSSL's random generator failed to produce bytes");
        out += chunk;
        n -= static_cast<std::size_t>(chunk);
    }
}

S3DB_DECL void random_fill_slow(unsigned char* out, std::size_t n) {
    static constexpr std::size_t block = random_block;
    static const bool fork_handler = [] {
        pthread_atfork(nullptr, nullptr, [] { fork_generation().fetch_add(1, std::memory_order_relaxed); });
        return true;
    }();
    (void)fork_handler;
    if (n > block / 4) return openssl_random(out, n);
    RandomBuffer& buffer = random_buffer();
    const std::uint64_t generation = fork_generation().load(std::memory_order_relaxed);
    if (buffer.generation != generation) {  // this is a forked child: its copy is the parent's
        std::memset(buffer.bytes, 0, block);
        buffer.used = block;
        buffer.generation = generation;
    }
    while (n > 0) {
        if (buffer.used == block) {
            openssl_random(buffer.bytes, block);
            buffer.used = 0;
        }
        const std::size_t take = std::min(n, block - buffer.used);
        std::memcpy(out, buffer.bytes + buffer.used, take);
        std::memset(buffer.bytes + buffer.used, 0, take);
        buffer.used += take;
        out += take;
        n -= take;
    }
}

}  // namespace s3db::detail
#endif  // S3DB_DEFINE_BODIES
