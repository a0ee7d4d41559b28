#pragma once
// Leases on S3 with fencing tokens, and leader election on top: the one coordination service of
// s3db (Scheduler, S3Queue, EventualConsistency use it; any code holding a TransportRef can).
//
// Layout: one JSON object per lease, `plugin=<slug>/leases/<name>` (slug "coordination" unless
// given), body
//   {"name", "holder", "nonce", "token", "acquiredAt", "renewedAt", "expiresAt", "released", "wt"}
// where `token` is the fencing token, `expiresAt` the holder's wall-clock expiry (epoch ms) and
// `wt` a random per-write stamp (every version gets a distinct body, so a distinct ETag, and a
// writer whose answer was lost recognises its own write).
//
// Protocol (every write is conditional, so two contenders can never both succeed):
//   acquire   GET the lease; missing → PUT If-None-Match:* with token 1; expired or released →
//             PUT If-Match:<etag> with token+1; live → not acquired. 1 GET + 1 PUT (1 GET if held).
//   create_at PUT If-None-Match:* at a key of the caller's layout, with a token the caller chose
//             (try_create_at: no read first; the caller's layout tells when to take over). 1 PUT.
//   take over PUT If-Match:<etag the caller read> at such a key, with a token the caller chose
//             (try_take_over_at: the caller decided from what it read that the holder is gone). 1 PUT.
//   renew     PUT If-Match:<our etag> with a new expiry. 1 PUT. 412 → the lease is lost.
//   release   PUT If-Match:<our etag> marking it released, keeping the token. 1 PUT. A released
//             lease is never deleted: the token lives in the object, so it only ever grows, across
//             holders and releases (deleting it would restart tokens at 1).
// A write whose answer is lost (no response, or a 412 after an unanswered attempt) is settled by
// one GET: our `wt` is there (it landed) or not (it did not).
//
// Clocks. Two assumptions, both bounded by options:
//   * The holder measures its lease on its own steady clock, from the moment it SENT the acquire
//     or renew request: it treats the lease as lost after `ttl - safety_margin` (valid()). Steady
//     clocks keep running while a process is stopped (SIGSTOP, a GC pause), so a process that
//     wakes up after its ttl knows at once, without a request, that it may no longer act.
//   * Others compare the stored `expiresAt` (holder's wall clock at send + ttl) with their own wall
//     clock plus `max_clock_skew`: a lease is taken over only when now > expiresAt + max_clock_skew.
//     As long as wall clocks differ by less than max_clock_skew and run at the same rate as steady
//     clocks, the takeover happens after the holder's own validity ended.
//   When those assumptions break (a clock jumps), two processes may each believe they hold the
//   lease for a while. The fencing token makes that harmless for writes that go through
//   `fenced_put`: the store refuses the older holder's writes.
//
// Fencing. Every acquisition stores token = previous token + 1 (1 for a new lease), so tokens
// strictly increase with every holder. `fenced_put(lease, key, body)` writes `key` only if
//   (1) the lease is valid on the holder's steady clock (no request: LeaseLost otherwise),
//   (2) the stored lease still carries our token and nonce (1 GET: FencedOut otherwise), and
//   (3) the object's own fence (`_fence` metadata, the token of its last fenced writer) is not
//       newer than ours; the PUT is If-Match on the version checked, so a newer holder's write in
//       between makes it check again (1 HEAD + 1 PUT).
// Guarantee: per object, fenced writes land in token order: once a holder with token t wrote an
// object, no write with a token < t ever lands on it; and a holder that finds the lease moved on
// learns it (FencedOut, a LeaseLost) before writing. 3 requests per fenced write.
//
// Using it (S3Queue, EventualConsistency, your own code):
//
//   LeaseService leases(db.store(), {.ttl = 15s, .max_clock_skew = 1s, .safety_margin = 1s});
//   if (auto l = leases.try_acquire("consolidate/wallets")) {     // 1 GET + 1 PUT
//       while (work_left()) {
//           if (!leases.renew(*l)) break;                          // 1 PUT, at least every ttl - margin
//           leases.fenced_put(*l, key, body);                      // throws FencedOut once superseded
//       }
//       leases.release(*l);                                        // 1 PUT
//   }
//   LeaderElection e(leases, "coordinator", {.on_lost = [](const Lease&) { /* stop leader work */ }});
//   e.start();  ... if (e.is_leader()) ... e.fencing_token() ...
//
// Thread-safety: LeaseService is safe from any thread (it holds no mutable state besides its
// options). A Lease is a value owned by one holder; don't renew one copy from two threads.
// LeaderElection is safe from any thread.

#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "s3db/detail/config.hpp"
#include "s3db/errors.hpp"
#include "s3db/transport/transport.hpp"
#include "s3db/transport/transport_ref.hpp"

namespace s3db {

// The errors (LeaseError, LeaseLost, FencedOut) are in s3db/errors.hpp.

// ---- options and values ----

struct LeaseOptions {
    std::chrono::milliseconds ttl{15'000};
    /// Bound on the difference between two processes' wall clocks: others wait this long past the
    /// stored expiry before taking a lease over.
    std::chrono::milliseconds max_clock_skew{1'000};
    /// The holder gives the lease up this long before its ttl (request latency, scheduling).
    std::chrono::milliseconds safety_margin{1'000};
    /// Written into the lease, for humans and for `LeaseInfo::holder`; default host-pid-random.
    std::string holder{};
    /// Wall clock for `expiresAt` and takeover decisions (tests move it). Empty: system clock.
    std::function<std::chrono::system_clock::time_point()> wall_clock{};
};

/// A held lease (a value owned by its holder).
struct Lease {
    std::string name, key, holder, nonce;
    std::uint64_t token = 0;  // the fencing token of this holding
    /// The caller's own fields (an object, or null), written into every version of the body next to
    /// the lease's: a Scheduler claim keeps its job, status and attempt there. Change it, then renew.
    nlohmann::json data{};
    std::string etag;         // the version we wrote last: renew and release are If-Match on it
    std::chrono::steady_clock::time_point valid_until{};  // ttl - margin from the last send, steady clock
    bool lost = false;        // set when an operation found it lost

    bool valid(std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now()) const noexcept {
        return !lost && !etag.empty() && now < valid_until;
    }
};

/// A lease as stored, read by anyone.
struct LeaseInfo {
    std::string holder, nonce;
    std::uint64_t token = 0;
    std::int64_t expires_at_ms = 0;
    bool released = false;
    std::string etag;
    /// Free to take for the reader (released, or past its expiry + max_clock_skew on the reader's clock).
    bool takeable = false;
};

namespace detail {
inline std::string lease_random_hex(std::size_t n) {
    static thread_local std::mt19937_64 rng{std::random_device{}() ^
                                            static_cast<std::uint64_t>(::getpid()) * 0x9E3779B97F4A7C15ull};
    static constexpr char hex[] = "0123456789abcdef";
    std::string s(n, '0');
    for (auto& c : s) c = hex[rng() & 15];
    return s;
}
inline std::string default_lease_holder() {
    char host[64] = {};
    if (::gethostname(host, sizeof host - 1) != 0) host[0] = 0;
    return std::string(host[0] ? host : "host") + "-" + std::to_string(::getpid()) + "-" + lease_random_hex(6);
}
}  // namespace detail

// ---- the service ----

class LeaseService {
public:
    /// `store` must outlive the service. Leases live under `plugin=<slug>/leases/`.
    S3DB_DECL explicit LeaseService(TransportRef store, LeaseOptions options = {}, std::string slug = "coordination");

    const LeaseOptions& options() const noexcept { return o_; }
    const std::string& holder() const noexcept { return o_.holder; }
    std::string key_of(std::string_view name) const {
        check_name(name);
        return prefix_ + std::string(name);
    }

    /// The stored lease, nullopt if there never was one. 1 GET.
    S3DB_DECL std::optional<LeaseInfo> read(std::string_view name);

    /// Takes the lease if it is free (missing, released or expired for us). nullopt if someone
    /// else holds it. 1 GET + 1 PUT (1 GET when held by another).
    S3DB_DECL std::optional<Lease> try_acquire(std::string_view name);

    /// Creates a lease at `key`, a key of the caller's own layout (S3Queue: a message's claim
    /// `q/<seq>/c=<N>`, where the attempt N is the fencing token and a takeover creates the next
    /// key), with If-None-Match and no read first: 1 PUT. nullopt when the key already exists (not
    /// ours). A lost answer is settled by one GET of our `wt`; absent, it is sent again (at most 5
    /// times, then LeaseError). The result renews, releases and fences like any lease; `name` is
    /// what the body and errors call it. Additive (S3Queue, issue 20).
    S3DB_DECL std::optional<Lease> try_create_at(std::string key, std::string_view name, std::uint64_t token = 1,
                                                 nlohmann::json data = {});

    /// Takes over the lease at `key` (a key of the caller's layout, as try_create_at's) from the
    /// version the caller read (`etag`), once the caller found it free by its own rules (Scheduler: a
    /// claim still `running` past expiresAt + max_clock_skew). `token` must exceed the stored one.
    /// If-Match: of several takers one wins; nullopt for the others (and when the key is gone).
    /// 1 PUT; a lost answer is settled by one GET of our `wt`.
    S3DB_DECL std::optional<Lease> try_take_over_at(std::string key, std::string_view name, std::string etag,
                                                    std::uint64_t token, nlohmann::json data = {});

    /// try_acquire until it succeeds or `timeout` passes (polling every `poll`).
    S3DB_DECL std::optional<Lease> acquire(std::string_view name, std::chrono::milliseconds timeout,
                                           std::chrono::milliseconds poll = std::chrono::milliseconds(200));

    /// Extends the lease by ttl from now. False (and `lease.lost`) when it was lost: our validity
    /// ran out locally, or the stored lease is no longer our version. 1 PUT (none when expired locally).
    S3DB_DECL bool renew(Lease& lease);

    /// Gives the lease up (others may take it at once; the token stays). False if it was already lost.
    /// 1 PUT.
    S3DB_DECL bool release(Lease& lease);

    /// Whether the stored lease still is ours (our token and nonce). 1 GET; marks it lost if not.
    S3DB_DECL bool check(Lease& lease);

    /// Writes `key` fenced by `lease` (see the header comment): LeaseLost when the lease ran out on
    /// our clock (no request), FencedOut when the lease or the object carries a newer token.
    /// 1 GET + 1 HEAD + 1 PUT. Returns the new ETag.
    S3DB_DECL std::string fenced_put(Lease& lease, std::string_view key, std::string_view body, PutOptions put = {});

    /// The fencing token a fenced write left on an object (0: none).
    S3DB_DECL static std::uint64_t fence_of(const Metadata& m);

private:
    enum class Put { landed, refused };

    S3DB_DECL static void check_name(std::string_view name);

    S3DB_DECL Lease new_holding(std::string key, std::string_view name, std::uint64_t token, nlohmann::json data) const;

    /// The stored version of a held lease, where it lives (try_create_at's leases are not at key_of).
    S3DB_DECL std::optional<LeaseInfo> read_held(const Lease& l);

    S3DB_DECL std::int64_t wall_ms() const;

    S3DB_DECL std::string body_of(const Lease& l, std::int64_t now, bool released, const std::string& wt) const;

    S3DB_DECL LeaseInfo parse(std::string_view name, const Object& raw) const;

    /// A conditional PUT whose lost answer is settled by reading our `wt` back. When it did not land
    /// and the object is still as the condition expects (the version we matched on, or no object
    /// for a create), nobody moved in between: it is sent again (3 times at most).
    S3DB_DECL Put conditional_put(Lease& l, const std::string& body, PutOptions put, const std::string& wt);

    S3DB_DECL static bool mark_lost(Lease& l);

    TransportRef store_;
    LeaseOptions o_;
    std::string prefix_;
};

// ---- leader election ----

struct ElectionOptions {
    /// How often the leader renews (default ttl / 3) and a follower tries to take over (default ttl / 2).
    std::chrono::milliseconds renew_every{0}, campaign_every{0};
    std::function<void(const Lease&)> on_elected{};  // called on the election thread
    std::function<void(const Lease&)> on_lost{};     // leadership lost (not called on resign/stop)
};

/// Campaigns for lease `name` on a thread of its own: followers try to take it every
/// `campaign_every`, the leader renews it every `renew_every`. `is_leader()` also checks the
/// lease's validity on the steady clock, so a leader that was paused past its ttl stops being
/// leader at once, before any request tells it. Requests: leader 1 PUT per renew; follower 1 GET
/// per campaign (+1 PUT when the lease is free).
class LeaderElection {
public:
    LeaderElection(LeaseService& service, std::string name, ElectionOptions o = {})
        : service_(service), name_(std::move(name)), o_(std::move(o)) {
        (void)service_.key_of(name_);
        auto ttl = service_.options().ttl;
        if (o_.renew_every.count() <= 0) o_.renew_every = ttl / 3;
        if (o_.campaign_every.count() <= 0) o_.campaign_every = ttl / 2;
    }
    LeaderElection(const LeaderElection&) = delete;
    LeaderElection& operator=(const LeaderElection&) = delete;
    ~LeaderElection() { stop(); }

    void start() {
        std::lock_guard g(m_);
        if (thread_.joinable()) return;
        stopping_ = false;
        thread_ = std::thread([this] { loop(); });
    }

    /// Stops campaigning and releases the lease if held.
    void stop() {
        {
            std::lock_guard g(m_);
            if (!thread_.joinable()) return;
            stopping_ = true;
        }
        cv_.notify_all();
        thread_.join();
        std::lock_guard g(m_);
        thread_ = std::thread();
        if (lease_) {
            try {
                service_.release(*lease_);
            } catch (const std::exception&) {
                // it expires on its own
            }
            lease_.reset();
        }
    }

    bool is_leader() const {
        std::lock_guard g(m_);
        return lease_ && lease_->valid();
    }
    /// The fencing token of the current leadership (0 when not leader).
    std::uint64_t fencing_token() const {
        std::lock_guard g(m_);
        return lease_ && lease_->valid() ? lease_->token : 0;
    }
    /// A copy of the held lease, for fenced writes.
    std::optional<Lease> lease() const {
        std::lock_guard g(m_);
        if (lease_ && lease_->valid()) return lease_;
        return std::nullopt;
    }
    /// One round of the loop, by hand (no thread needed): campaign or renew. Returns is_leader().
    bool step() {
        std::optional<Lease> cur;
        {
            std::lock_guard g(m_);
            cur = lease_;
        }
        if (cur) {
            bool ok = false;
            try {
                ok = service_.renew(*cur);
            } catch (const TransportError&) {
                ok = cur->valid();  // no answer: keep it while still valid locally, try again next round
            }
            std::lock_guard g(m_);
            if (ok) {
                lease_ = cur;
                return true;
            }
            lease_.reset();
            if (o_.on_lost) o_.on_lost(*cur);
            return false;
        }
        std::optional<Lease> got;
        try {
            got = service_.try_acquire(name_);
        } catch (const TransportError&) {
        }
        if (!got) return false;
        {
            std::lock_guard g(m_);
            lease_ = got;
        }
        if (o_.on_elected) o_.on_elected(*got);
        return true;
    }

private:
    void loop() {
        std::unique_lock g(m_);
        while (!stopping_) {
            g.unlock();
            bool leader = step();
            g.lock();
            cv_.wait_for(g, leader ? o_.renew_every : o_.campaign_every, [this] { return stopping_; });
        }
    }

    LeaseService& service_;
    std::string name_;
    ElectionOptions o_;
    mutable std::mutex m_;
    std::condition_variable cv_;
    std::thread thread_;
    bool stopping_ = false;
    std::optional<Lease> lease_;
};

}  // namespace s3db

#if S3DB_DEFINE_BODIES
namespace s3db {

S3DB_DECL LeaseService::LeaseService(TransportRef store, LeaseOptions options, std::string slug)
    : store_(store), o_(std::move(options)), prefix_("plugin=" + slug + "/leases/") {
    if (slug.empty() || slug.find('/') != std::string::npos) throw LeaseError(slug, "a slug is a non-empty name without '/'");
    if (o_.ttl.count() <= 0) throw LeaseError({}, "ttl must be positive");
    if (o_.safety_margin.count() < 0 || o_.max_clock_skew.count() < 0)
        throw LeaseError({}, "safety_margin and max_clock_skew cannot be negative");
    if (o_.safety_margin >= o_.ttl) throw LeaseError({}, "safety_margin must be shorter than ttl");
    if (o_.holder.empty()) o_.holder = detail::default_lease_holder();
    if (!o_.wall_clock) o_.wall_clock = [] { return std::chrono::system_clock::now(); };
}

S3DB_DECL std::optional<LeaseInfo> LeaseService::read(std::string_view name) {
    auto raw = store_.get(key_of(name));
    if (!raw) return std::nullopt;
    return parse(name, *raw);
}

S3DB_DECL std::optional<Lease> LeaseService::try_acquire(std::string_view name) {
    auto key = key_of(name);
    for (int attempt = 0; attempt < 4; ++attempt) {
        auto raw = store_.get(key);
        std::optional<LeaseInfo> cur;
        if (raw) cur = parse(name, *raw);
        if (cur && !cur->takeable) return std::nullopt;
        Lease l = new_holding(key, name, cur ? cur->token + 1 : 1, {});
        PutOptions put;
        put.content_type = "application/json";
        if (cur) put.if_match = cur->etag;
        else put.if_none_match = true;
        auto sent = std::chrono::steady_clock::now();
        auto wt = detail::lease_random_hex(16);
        auto body = body_of(l, wall_ms(), false, wt);
        switch (conditional_put(l, body, std::move(put), wt)) {
            case Put::landed:
                l.valid_until = sent + o_.ttl - o_.safety_margin;
                return l;
            case Put::refused: continue;  // someone moved first: look again
        }
    }
    return std::nullopt;
}

S3DB_DECL std::optional<Lease> LeaseService::try_create_at(std::string key, std::string_view name, std::uint64_t token,
                                                         nlohmann::json data) {
    Lease l = new_holding(std::move(key), name, token, std::move(data));
    for (int attempt = 0; attempt < 5; ++attempt) {
        auto sent = std::chrono::steady_clock::now();
        auto wt = detail::lease_random_hex(16);
        auto body = body_of(l, wall_ms(), false, wt);
        try {
            PutOptions put{.content_type = "application/json", .if_none_match = true};
            l.etag = store_.put(l.key, body, std::move(put)).etag;
            l.valid_until = sent + o_.ttl - o_.safety_margin;
            return l;
        } catch (const PreconditionFailed& e) {
            if (!e.after_unanswered_attempt()) return std::nullopt;
        } catch (const TransportError& e) {
            if (e.status() != 0) throw;  // a real answer: nothing landed
        }
        auto raw = store_.get(l.key);  // the answer was lost: did our write land?
        if (!raw) continue;             // no: send it again
        auto j = nlohmann::json::parse(raw->body, nullptr, false);
        if (!j.is_object() || j.value("wt", "") != wt) return std::nullopt;  // someone else's
        l.etag = raw->info.etag;
        l.valid_until = sent + o_.ttl - o_.safety_margin;
        return l;
    }
    throw LeaseError(l.name, "creating '" + l.key + "': five answers lost in a row");
}

S3DB_DECL std::optional<Lease> LeaseService::try_take_over_at(std::string key, std::string_view name, std::string etag,
                                                            std::uint64_t token, nlohmann::json data) {
    if (etag.empty()) throw LeaseError(std::string(name), "taking over '" + key + "' needs the ETag that was read");
    Lease l = new_holding(std::move(key), name, token, std::move(data));
    auto sent = std::chrono::steady_clock::now();
    auto wt = detail::lease_random_hex(16);
    auto body = body_of(l, wall_ms(), false, wt);
    PutOptions put{.content_type = "application/json", .if_match = std::move(etag)};
    if (conditional_put(l, body, std::move(put), wt) == Put::refused) return std::nullopt;
    l.valid_until = sent + o_.ttl - o_.safety_margin;
    return l;
}

S3DB_DECL std::optional<Lease> LeaseService::acquire(std::string_view name, std::chrono::milliseconds timeout,
                                                   std::chrono::milliseconds poll) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (auto l = try_acquire(name)) return l;
        auto now = std::chrono::steady_clock::now();
        if (now >= deadline) return std::nullopt;
        std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(poll, deadline - now));
    }
}

S3DB_DECL bool LeaseService::renew(Lease& lease) {
    if (!lease.valid()) return mark_lost(lease);
    auto sent = std::chrono::steady_clock::now();
    auto wt = detail::lease_random_hex(16);
    auto body = body_of(lease, wall_ms(), false, wt);
    PutOptions put{.content_type = "application/json", .if_match = lease.etag};
    if (conditional_put(lease, body, std::move(put), wt) == Put::refused) return mark_lost(lease);
    lease.valid_until = sent + o_.ttl - o_.safety_margin;
    return true;
}

S3DB_DECL bool LeaseService::release(Lease& lease) {
    if (lease.lost || lease.etag.empty()) return false;
    auto wt = detail::lease_random_hex(16);
    auto body = body_of(lease, wall_ms(), true, wt);
    PutOptions put{.content_type = "application/json", .if_match = lease.etag};
    bool ok = conditional_put(lease, body, std::move(put), wt) == Put::landed;
    lease.lost = true;  // not ours any more either way
    lease.etag.clear();
    return ok;
}

S3DB_DECL bool LeaseService::check(Lease& lease) {
    if (!lease.valid()) return mark_lost(lease);
    auto cur = read_held(lease);
    if (!cur || cur->token != lease.token || cur->nonce != lease.nonce || cur->released) return mark_lost(lease);
    return true;
}

S3DB_DECL std::string LeaseService::fenced_put(Lease& lease, std::string_view key, std::string_view body, PutOptions put) {
    if (!lease.valid()) {
        mark_lost(lease);
        throw LeaseLost(lease.name, lease.token, "its validity ran out on the holder's clock");
    }
    auto cur = read_held(lease);
    if (!cur || cur->token != lease.token || cur->nonce != lease.nonce || cur->released) {
        mark_lost(lease);
        throw FencedOut(lease.name, std::string(key), lease.token, cur ? cur->token : 0);
    }
    for (int attempt = 0; attempt < 16; ++attempt) {
        auto info = store_.head(key);
        if (info) {
            auto f = fence_of(info->metadata);
            if (f > lease.token) {
                mark_lost(lease);
                throw FencedOut(lease.name, std::string(key), lease.token, f);
            }
        }
        PutOptions p = put;
        p.if_match = info ? info->etag : std::string{};
        p.if_none_match = !info;
        p.metadata.insert_or_assign("_fence", lease.name + ":" + std::to_string(lease.token));
        try {
            return store_.put(key, body, std::move(p)).etag;
        } catch (const PreconditionFailed&) {
        } catch (const NotFound&) {
        }
    }
    throw LeaseError(lease.name, "fenced write to '" + std::string(key) + "' lost 16 races in a row");
}

S3DB_DECL std::uint64_t LeaseService::fence_of(const Metadata& m) {
    auto it = m.find("_fence");
    if (it == m.end()) return 0;
    auto colon = it->second.rfind(':');
    try {
        return std::stoull(it->second.substr(colon == std::string::npos ? 0 : colon + 1));
    } catch (const std::exception&) {
        return 0;
    }
}

S3DB_DECL void LeaseService::check_name(std::string_view name) {
    if (name.empty() || name.size() > 200) throw LeaseError(std::string(name), "a lease name has 1 to 200 bytes");
    for (char c : name)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == ':' || c == '/'))
            throw LeaseError(std::string(name), "a lease name may hold letters, digits and - _ . : / only");
    if (name.front() == '/' || name.back() == '/' || name.find("//") != std::string_view::npos)
        throw LeaseError(std::string(name), "a lease name has no empty segment");
}

S3DB_DECL Lease LeaseService::new_holding(std::string key, std::string_view name, std::uint64_t token,
                                         nlohmann::json data) const {
    check_name(name);
    if (key.empty()) throw LeaseError(std::string(name), "a lease key cannot be empty");
    if (!data.is_null() && !data.is_object()) throw LeaseError(std::string(name), "a lease's data is a JSON object");
    Lease l;
    l.name = std::string(name);
    l.key = std::move(key);
    l.holder = o_.holder;
    l.nonce = detail::lease_random_hex(16);
    l.token = token;
    l.data = std::move(data);
    return l;
}

S3DB_DECL std::optional<LeaseInfo> LeaseService::read_held(const Lease& l) {
    auto raw = store_.get(l.key);
    if (!raw) return std::nullopt;
    return parse(l.name, *raw);
}

S3DB_DECL std::int64_t LeaseService::wall_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(o_.wall_clock().time_since_epoch()).count();
}

S3DB_DECL std::string LeaseService::body_of(const Lease& l, std::int64_t now, bool released, const std::string& wt) const {
    nlohmann::json j = l.data.is_object() ? l.data : nlohmann::json::object();
    j.update(nlohmann::json{{"name", l.name}, {"holder", l.holder}, {"nonce", l.nonce}, {"token", l.token},
                            {"renewedAt", now}, {"expiresAt", released ? 0 : now + o_.ttl.count()},
                            {"released", released}, {"wt", wt}});
    return j.dump();
}

S3DB_DECL LeaseInfo LeaseService::parse(std::string_view name, const Object& raw) const {
    auto j = nlohmann::json::parse(raw.body, nullptr, false);
    if (!j.is_object() || !j.contains("token") || !j["token"].is_number_unsigned())
        throw LeaseError(std::string(name), "the stored lease is not a lease object (refusing to take it over: "
                                            "its fencing token is unknown)");
    LeaseInfo i;
    i.holder = j.value("holder", "");
    i.nonce = j.value("nonce", "");
    i.token = j["token"].get<std::uint64_t>();
    i.expires_at_ms = j.value("expiresAt", std::int64_t{0});
    i.released = j.value("released", false);
    i.etag = raw.info.etag;
    i.takeable = i.released || wall_ms() > i.expires_at_ms + o_.max_clock_skew.count();
    return i;
}

S3DB_DECL LeaseService::Put LeaseService::conditional_put(Lease& l, const std::string& body, PutOptions put,
                                                         const std::string& wt) {
    for (int round = 0; round < 3; ++round) {
        try {
            l.etag = store_.put(l.key, body, put).etag;
            return Put::landed;
        } catch (const PreconditionFailed& e) {
            if (!e.after_unanswered_attempt()) return Put::refused;
        } catch (const NotFound&) {
            return Put::refused;
        } catch (const TransportError& e) {
            if (e.status() != 0) throw;  // a real answer: nothing landed
        }
        auto raw = store_.get(l.key);  // the answer was lost: did our write land?
        if (raw) {
            auto j = nlohmann::json::parse(raw->body, nullptr, false);
            if (j.is_object() && j.value("wt", "") == wt) {
                l.etag = raw->info.etag;
                return Put::landed;
            }
        }
        const bool unchanged = raw ? !put.if_match.empty() && raw->info.etag == put.if_match : put.if_none_match;
        if (!unchanged) return Put::refused;
    }
    return Put::refused;
}

S3DB_DECL bool LeaseService::mark_lost(Lease& l) {
    l.lost = true;
    return false;
}

}  // namespace s3db
#endif  // S3DB_DEFINE_BODIES
