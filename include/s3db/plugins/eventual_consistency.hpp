#pragma once
// EventualConsistency: counters and balances (a numeric field of a resource) changed by appending
// transactions, folded into the record by a consolidation that is exact across processes, faults
// and crashes.
//
//   BasicDatabase<S3, EventualConsistency> db(s3, {}, EventualConsistency({.resources = {{"wallets", {"balance"}}}}));
//   auto& ec = db.plugin<EventualConsistency>();
//   ec.add("wallets", "w1", "balance", 10);        // 1 PUT: the transaction is durable now
//   ec.consolidate("wallets", "balance");          // folds every pending transaction into the records
//   ec.get_consolidated_value("wallets", "w1", "balance");   // 10
//
// Layout, per (resource, field):
//   resource `plg_<res>_tx_<field>` (s3db.js's name and fields: id, originalId, field, value,
//     operation add|sub|set, timestamp ISO, cohortDate/Hour/Week/Month, source, applied; body-overflow,
//     without createdAt/updatedAt, whose date partitions would cost 2 PUTs more). The id is s3db.js's `tx-<13-digit ms>-<9 chars>` followed by `~<op><value>~<originalId>`
//     (op a|s|t for add|sub|set), so ONE LIST of the resource's data keys tells consolidation and GC
//     everything they need: no GET per transaction. The records are never rewritten: `applied` stays
//     as written (false); what is applied is the ledger's word (below). No partitions: s3db.js's seven
//     cost 7 PUTs per transaction and 7 moves per apply, and the key listing does their work.
//   PluginStorage `resource=<res>/plugin=eventual-consistency/ledger/<field>`: the ledger, the source
//     of truth: per record the value (`v`) and the value before its oldest kept transaction (`b`), the
//     ids of applied transactions still in the bucket, and the records whose value is not yet copied
//     into the target record (`unprojected`).
//     It also holds `fence`, the fencing token of its last writer.
//   lease `eventual-consistency/<res>/<field>` of the coordination service (core/lease.hpp, key
//     `plugin=coordination/leases/…`, ttl lock_ttl), held by consolidate, recalculate and gc. It is
//     never deleted (not even by a purge): its token only grows, and records keep tokens (below).
//   record field `ecfence` of each target record: `<field>~<token>` per field, '/'-separated, the
//     fencing token of the consolidation that last wrote the field.
//   resource `plg_<res>_an_<field>` (with enable_analytics): one record per period and cohort, id
//     `<period>-<cohort>` (hour-2026-03-01T14, day-2026-03-01, week-2026-W09, month-2026-03).
//
// Consolidation: take the lease (fencing token t); read the ledger (its ETag E; FencedOut if its
// fence is newer than t); LIST the transactions; pending = listed
// minus applied; fold them per record in id (= time) order onto the ledger value (a record seen for the
// first time starts from its field, else initial_value); write the ledger conditionally on E (on 412:
// read, list and fold again). Then copy each unprojected value into its record with Resource::update
// (a CAS; a record that does not exist is inserted as {id, field}) and clear `unprojected` (a PUT
// conditional on the ledger written). Why it is exact:
//   - a transaction is applied iff its id is in the ledger, and the ledger changes only by CAS from a
//     version read BEFORE the listing: a replay (a consolidator killed after the ledger write, a lost
//     answer retried, two consolidators racing past an expired lease) finds the ids applied and adds
//     nothing; a listing never misses a transaction the ledger does not have, and a GC that deleted
//     transactions changed the ledger, so a commit based on an older listing fails and is redone;
//   - the record gets an absolute value from the ledger, so copying it again is harmless; a consolidator
//     killed before copying leaves the record in `unprojected`, and the next consolidation copies it.
//   - fencing: a consolidator paused (SIGSTOP, a GC pause, a slow disk) past its lease must not write
//     an older value over a newer holder's. Every ledger write and record copy first checks the lease
//     on the holder's steady clock (no request), the ledger write is a CAS and carries t, and each
//     record copy is a CAS (Resource::update) that refuses to replace a record whose `ecfence` for
//     the field is newer than t (FencedOut). So per record, copies land in token order even when the
//     lease's clock assumptions break and two processes both believe they hold it.
// Analytics: the ledger write of a batch also holds the batch's rollup deltas (per period and cohort);
// they are merged into the analytics records by CAS, each record keeping the last 64 batch ids it
// took, and then cleared from the ledger: a batch merged again after a crash adds nothing.
// The target field belongs to the plugin: a direct update of it is overwritten by the next copy (use
// set()).
//
// Costs: a transaction is 1 PUT (insert with If-None-Match; a lost answer is settled with 1 HEAD).
// A consolidation is 1 GET + 1 PUT to take the lease and 1 PUT to release it (1 GET when another
// holds it), 1 GET + 1 PUT of the ledger (+1 PUT to clear `unprojected`), 1 LIST per 1000 kept
// transactions, and per record changed 1 GET + 1 PUT (+1 GET the first time a record is seen); the
// fence adds no request (it rides in the record's CAS). 100 transactions over 10 records: 100 + 28 =
// 1.28 requests per transaction; 1.35 measured with a GC per batch, on RGW too
// (bench/eventual_consistency.cpp), where s3db.js's own plugin sends 52 (its reference figure, ~2.5,
// leaves out its 7 partition refs per transaction and its 24 hourly queries per consolidation). Analytics add 1 GET + 1 PUT per
// period and cohort a batch touches (8 for a batch within one hour). GC: the lease, 1 LIST per 1000,
// 1 DeleteObjects per 1000 deleted, 1 GET + 1 PUT of the ledger.
//
// Thread safety: every member may be called from many threads and processes at once (the lease and
// the CAS order them); the plugin's counters are guarded by a mutex. Exactness never rests on the
// lease (the ledger's CAS gives it); the lease keeps consolidators from repeating each other's work,
// and its fencing token keeps the records' copies in order.
//
// Modes: sync — add() writes the transaction, then consolidates (the call returns the new value);
// async — add() writes the transaction (durable: it is in the bucket when the call returns, there is no
// in-memory buffer to lose) and a timer thread, started by on_start and stopped by on_stop, consolidates
// every consolidation_interval and collects garbage every gc_interval.
//
// Limits: a transaction written late with an older timestamp than one already applied is applied
// after it (arrival order); recalculate() replays kept transactions in id order. The ledger keeps the
// ids of applied transactions until GC deletes them (transaction_retention), so its size grows with the
// transactions kept. A write retried (by Retry) after GC deleted its transaction would be applied again:
// retention must exceed any retry horizon (it does by days with the defaults).

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "s3db/detail/config.hpp"
#include "s3db/detail/time.hpp"
#include "s3db/errors.hpp"
#include "s3db/core/catalogue.hpp"
#include "s3db/core/ids.hpp"
#include "s3db/core/layout.hpp"
#include "s3db/core/plugin.hpp"
#include "s3db/core/resource_ref.hpp"
#include "s3db/core/lease.hpp"
#include "s3db/core/plugin_storage.hpp"
#include "s3db/core/resource.hpp"
#include "s3db/transport/transport.hpp"
#include "s3db/transport/transport_ref.hpp"

namespace s3db {

enum class ConsistencyMode { sync, async };

struct EventualConsistencyOptions {
    /// Resource -> its fields kept by transactions.
    std::map<std::string, std::vector<std::string>, std::less<>> resources{};
    ConsistencyMode mode = ConsistencyMode::async;
    /// Async mode: the timer consolidates this often (and only with auto_consolidate).
    std::chrono::milliseconds consolidation_interval{60'000};
    bool auto_consolidate = true;
    /// Applied transactions younger than this are kept (GC deletes the older ones).
    std::chrono::milliseconds transaction_retention{std::chrono::hours(24 * 7)};
    /// The timer collects garbage this often (0: never on its own).
    std::chrono::milliseconds gc_interval{std::chrono::hours(1)};
    /// The value of a record the plugin meets for the first time without the field.
    double initial_value = 0;
    /// The lease of a consolidation (core/lease.hpp); it must exceed the time one takes.
    std::chrono::seconds lock_ttl{300};
    /// The lease's bound on wall-clock differences between processes: a lease is taken over only
    /// this long after its stored expiry. The holder gives it up min(1 s, lock_ttl / 4) early.
    std::chrono::milliseconds max_clock_skew{1'000};
    /// How long consolidate() waits for another's lease (0: one try; it then reports `locked`).
    std::chrono::milliseconds lock_timeout{0};
    std::string worker_id = "eventual-consistency";
    /// Hour/day/week/month rollups in `plg_<res>_an_<field>` (see analytics below).
    bool enable_analytics = false;
    /// Transaction timestamps and retention (tests move it); the system clock when unset.
    std::function<std::chrono::system_clock::time_point()> clock{};
};

/// What a write answered: the transaction's id, and in sync mode the record's value after it.
struct TransactionWrite {
    std::string transaction_id;
    std::optional<double> value;
};

struct ConsolidationResult {
    bool locked = false;             // another consolidator held the lease: nothing was done
    std::size_t transactions = 0;    // applied by this consolidation
    std::size_t records = 0;         // whose value changed
    std::size_t projected = 0;       // records written with their value
};

struct GcResult {
    bool locked = false;
    std::vector<std::string> deleted;  // the transactions' ids
};

/// One transaction, as its id tells it.
struct ParsedTransaction {
    std::string id;
    std::int64_t ms = 0;
    char op = 'a';  // 'a' add, 's' sub, 't' set
    double value = 0;
    std::string original_id;
    bool applied = false;  // filled by transactions(), from the ledger
};

/// A transaction write whose outcome S3 could not tell: it may be applied once or never.
class TransactionOutcomeUnknown : public OutcomeUnknown {
public:
    TransactionOutcomeUnknown(const std::string& resource, std::string transaction_id, const std::string& cause)
        : OutcomeUnknown(resource, transaction_id, "insert", cause), transaction_id_(std::move(transaction_id)) {}
    const std::string& transaction_id() const noexcept { return transaction_id_; }

private:
    std::string transaction_id_;
};

namespace detail {

inline std::string ec_format_number(double v) {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
}

inline std::string ec_pad(std::int64_t v, int width) {
    // Into a buffer, not string::insert: GCC 12 at -O1 sees an insert of 2^31 bytes that cannot be.
    char buf[32];
    const int n = std::snprintf(buf, sizeof buf, "%0*lld", width, static_cast<long long>(v));
    return std::string(buf, static_cast<std::size_t>(n > 0 ? n : 0));
}

/// s3db.js's cohort fields of a UTC time: date, hour, ISO week, month.
struct Cohorts {
    std::string date, hour, week, month;
};

inline Cohorts ec_cohorts(std::int64_t ms) {
    const std::int64_t days = floor_div(ms, ms_per_day);
    const auto c = civil_from_days(days);
    const std::int64_t hour = floor_div(ms - days * ms_per_day, 3'600'000);
    Cohorts out;
    out.month = ec_pad(c.year, 4) + "-" + ec_pad(c.month, 2);
    out.date = out.month + "-" + ec_pad(c.day, 2);
    out.hour = out.date + "T" + ec_pad(hour, 2);
    const std::int64_t wd = (days + 3) - floor_div(days + 3, 7) * 7 + 1;  // ISO weekday: Monday 1 (1970-01-01: 4)
    const std::int64_t thursday = days - wd + 4;
    const auto tc = civil_from_days(thursday);
    const std::int64_t week = (thursday - days_from_civil(tc.year, 1, 1)) / 7 + 1;
    out.week = ec_pad(tc.year, 4) + "-W" + ec_pad(week, 2);
    return out;
}

inline constexpr std::size_t ec_id_head = 26;  // "tx-" + 13 digits + "-" + 9 chars

inline std::optional<ParsedTransaction> ec_parse_id(std::string_view id) {
    if (id.size() < ec_id_head + 4 || !id.starts_with("tx-") || id[16] != '-' || id[ec_id_head] != '~') return std::nullopt;
    ParsedTransaction t;
    t.id = std::string(id);
    auto ms = id.substr(3, 13);
    if (std::from_chars(ms.data(), ms.data() + ms.size(), t.ms).ec != std::errc{}) return std::nullopt;
    t.op = id[ec_id_head + 1];
    if (t.op != 'a' && t.op != 's' && t.op != 't') return std::nullopt;
    const auto rest = id.substr(ec_id_head + 2);
    const auto sep = rest.find('~');
    if (sep == std::string_view::npos || sep + 1 >= rest.size()) return std::nullopt;
    auto value = rest.substr(0, sep);
    auto r = std::from_chars(value.data(), value.data() + value.size(), t.value);
    if (r.ec != std::errc{} || r.ptr != value.data() + value.size()) return std::nullopt;
    t.original_id = std::string(rest.substr(sep + 1));
    return t;
}

/// The 9 characters after the time: 4 of a sequence that restarts each millisecond (digits, then
/// upper, then lower case: ASCII order, so a process's transactions of one millisecond sort in the
/// order it wrote them) and 5 random ones (apart from other processes).
inline std::string ec_id_tail(std::int64_t ms) {
    static constexpr std::string_view ordered = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    static std::mutex mutex;
    static std::int64_t last_ms = -1;
    static std::uint64_t seq = 0;
    std::uint64_t n;
    {
        std::lock_guard lock(mutex);
        if (ms != last_ms) last_ms = ms, seq = 0;
        n = seq++;
    }
    std::string out(4, '0');
    for (int i = 3; i >= 0; --i, n /= 62) out[static_cast<std::size_t>(i)] = ordered[n % 62];
    return out + random_id(5, ordered);
}

/// Adds one transaction to a rollup delta: transactionCount, totalValue (add +, sub -; a set is
/// counted but changes no total), min/max of the signed amounts, and per operation count and sum.
inline void ec_add_to_rollup(json& d, const ParsedTransaction& t) {
    const char* op = t.op == 'a' ? "add" : t.op == 's' ? "sub" : "set";
    const double signed_value = t.op == 'a' ? t.value : t.op == 's' ? -t.value : 0.0;
    d["transactionCount"] = d.value("transactionCount", 0) + 1;
    d["totalValue"] = d.value("totalValue", 0.0) + signed_value;
    const double x = t.op == 't' ? t.value : signed_value;
    d["minValue"] = d.contains("minValue") ? std::min(d["minValue"].get<double>(), x) : x;
    d["maxValue"] = d.contains("maxValue") ? std::max(d["maxValue"].get<double>(), x) : x;
    json& o = d["operations"][op];
    if (!o.is_object()) o = json::object();
    o["count"] = o.value("count", 0) + 1;
    o["sum"] = o.value("sum", 0.0) + t.value;
}

inline constexpr std::size_t ec_batches_kept = 64;

/// Merges a batch's delta into an analytics record, once: the record keeps the last batch ids it took.
inline void ec_merge_rollup(json& rec, const std::string& batch, const json& delta) {
    json& seen = rec["batches"];
    if (!seen.is_array()) seen = json::array();
    for (auto& b : seen)
        if (b == batch) return;
    rec["period"] = delta["period"];
    rec["cohort"] = delta["cohort"];
    const auto count = rec.value("transactionCount", 0) + delta.value("transactionCount", 0);
    rec["transactionCount"] = count;
    rec["totalValue"] = rec.value("totalValue", 0.0) + delta.value("totalValue", 0.0);
    rec["avgValue"] = count ? rec["totalValue"].get<double>() / count : 0.0;
    for (auto [k, pick_min] : {std::pair{"minValue", true}, {"maxValue", false}}) {
        if (!delta.contains(k)) continue;
        const double x = delta[k].get<double>();
        rec[k] = !rec.contains(k) || !rec[k].is_number() ? x
                 : pick_min                               ? std::min(rec[k].get<double>(), x)
                                                          : std::max(rec[k].get<double>(), x);
    }
    json& ops = rec["operations"];
    if (!ops.is_object()) ops = json::object();
    const json delta_ops = delta.value("operations", json::object());  // kept alive for the loop
    for (auto& [op, v] : delta_ops.items()) {
        if (!ops[op].is_object()) ops[op] = json::object();
        ops[op]["count"] = ops[op].value("count", 0) + v.value("count", 0);
        ops[op]["sum"] = ops[op].value("sum", 0.0) + v.value("sum", 0.0);
    }
    seen.push_back(batch);
    if (seen.size() > ec_batches_kept) seen.erase(seen.begin());
}

inline double ec_fold(double v, const ParsedTransaction& t) {
    if (t.op == 't') return t.value;
    return t.op == 'a' ? v + t.value : v - t.value;
}

}  // namespace detail

class EventualConsistency : public Plugin<EventualConsistency> {
public:
    static constexpr std::string_view name = "EventualConsistency";
    static constexpr std::string_view storage_slug = "eventual-consistency";
    /// The record field where projections leave their fencing token per field, as text
    /// `<field>~<token>/<field>~<token>` (no field name holds '~' or '/'; plain text, so every
    /// behavior and store keeps it as written; lower case and without a leading `_`, which
    /// metadata keys lose; letters only, as RGW turns a `_` in a header name into `-`).
    static constexpr std::string_view fence_field = "ecfence";
    /// The fencing tokens a record carries, per field ({} when none).
    static json fences_of(const json& record) {
        json out = json::object();
        auto it = record.find(fence_field);
        if (it == record.end() || !it->is_string()) return out;
        const std::string& text = it->get_ref<const std::string&>();
        for (std::size_t at = 0; at < text.size();) {
            auto end = text.find('/', at);
            if (end == std::string::npos) end = text.size();
            const std::string_view part(text.data() + at, end - at);
            const auto tilde = part.rfind('~');
            std::uint64_t token = 0;
            if (tilde != std::string_view::npos &&
                std::from_chars(part.data() + tilde + 1, part.data() + part.size(), token).ec == std::errc{})
                out[std::string(part.substr(0, tilde))] = token;
            at = end + 1;
        }
        return out;
    }
    static std::string fences_text(const json& fences) {
        std::string out;
        for (auto& [f, t] : fences.items()) out += (out.empty() ? "" : "/") + f + "~" + std::to_string(t.get<std::uint64_t>());
        return out;
    }

    explicit EventualConsistency(EventualConsistencyOptions options = {}, PluginOptions plugin_options = {})
        : Plugin<EventualConsistency>(plugin_options), state_(std::make_shared<State>()) {
        state_->options = std::move(options);
    }

    const EventualConsistencyOptions& options() const noexcept { return state_->options; }

    /// The name of the consolidation lease of (resource, field) in the coordination service:
    /// `eventual-consistency/<res>/<field>`, bytes a lease name cannot hold written `_xx` (hex).
    static std::string lease_name(std::string_view resource, std::string_view field) {
        auto part = [](std::string_view s) {
            static constexpr char hex[] = "0123456789abcdef";
            std::string out;
            for (char c : s) {
                const auto u = static_cast<unsigned char>(c);
                if (std::isalnum(u) || c == '-' || c == '.') out += c;
                else out += {'_', hex[u >> 4], hex[u & 15]};
            }
            return out;
        };
        return "eventual-consistency/" + part(resource) + "/" + part(field);
    }

private:
    /// Runs fn(lease) holding the consolidation lease of (resource, field); nullopt when another
    /// holds it past `timeout`. Releases it after (a release that fails leaves it to expire).
    template <class F>
    auto with_lease(std::string_view resource, std::string_view field, F&& fn, std::chrono::milliseconds timeout)
        -> std::optional<std::invoke_result_t<F&, Lease&>> {
        auto b = backend_or_throw();
        const auto lname = lease_name(resource, field);
        auto lease = timeout.count() > 0
                         ? b->leases->acquire(lname, timeout, std::min(std::chrono::milliseconds(200), timeout))
                         : b->leases->try_acquire(lname);
        if (!lease) return std::nullopt;
        try {
            auto r = fn(*lease);
            release_quietly(*b, *lease);
            return r;
        } catch (...) {
            release_quietly(*b, *lease);
            throw;
        }
    }
    template <class F>
    auto with_lease(std::string_view resource, std::string_view field, F&& fn) {
        return with_lease(resource, field, std::forward<F>(fn), state_->options.lock_timeout);
    }
    static void release_quietly(const auto& b, Lease& lease) {
        try {
            b.leases->release(lease);
        } catch (const std::exception&) {  // it expires on its own
        }
    }
    /// Before a write that must not land once the lease moved on: the holder's own clock says.
    static void require_valid(const Lease& lease) {
        if (!lease.valid()) throw LeaseLost(lease.name, lease.token, "its validity ran out on the holder's clock");
    }

public:

    /// s3db.js's name of the transactions resource.
    static std::string transactions_resource(std::string_view resource, std::string_view field) {
        return "plg_" + std::string(resource) + "_tx_" + std::string(field);
    }

    // ---- lifecycle ----

    void validate() const {
        const auto& o = state_->options;
        if (o.resources.empty()) throw ConfigError("EventualConsistency: no resource named in `resources`");
        for (auto& [r, fields] : o.resources) {
            if (fields.empty()) throw ConfigError("EventualConsistency: no field named for resource '" + r + "'");
            for (auto& f : fields)
                if (f.empty() || f.find_first_of("/\\=%~") != std::string::npos)
                    throw ConfigError("EventualConsistency: field '" + f + "' of resource '" + r +
                                      "' must be a non-empty name without / \\ = % ~");
        }
        if (o.consolidation_interval.count() <= 0) throw ConfigError("EventualConsistency: consolidation_interval must be positive");
        if (o.lock_ttl.count() <= 0) throw ConfigError("EventualConsistency: lock_ttl must be positive");
    }

    /// Opens (or creates) each transactions resource, and keeps the database's resources at hand.
    template <class Db>
    void on_install(Db& db) {
        auto b = std::make_shared<Backend>();
        b->store = std::make_unique<TransportRef>(db.store());
        const auto& o = state_->options;
        const auto ttl = std::chrono::duration_cast<std::chrono::milliseconds>(o.lock_ttl);
        LeaseOptions lo{.ttl = ttl, .max_clock_skew = o.max_clock_skew,
                        .safety_margin = std::min<std::chrono::milliseconds>(std::chrono::milliseconds(1'000), ttl / 4),
                        .holder = o.worker_id + "-" + detail::default_lease_holder(), .wall_clock = o.clock};
        b->leases = std::make_unique<LeaseService>(*b->store, std::move(lo));
        for (auto& [r, fields] : state_->options.resources)
            for (auto& f : fields) {
                const auto tx = transactions_resource(r, f);
                if (!db.has_resource(tx)) db.create_resource(transactions_config(tx));
                const auto an = analytics_resource(r, f);
                if (state_->options.enable_analytics && !db.has_resource(an)) db.create_resource(analytics_config(an));
            }
        b->db = DatabaseRef(db);
        std::unique_lock lock(state_->mutex);
        state_->backend = std::move(b);
    }

    void on_start() {
        // The plugin lives in the database's slot until it is destroyed, after on_stop joined the timer.
        state_->tick = [self = this](bool with_gc) {
            try {
                self->consolidate_all();
            } catch (const std::exception&) {  // reported (health, event); the timer goes on
            }
            if (with_gc) try {
                    self->gc_all();
                } catch (const std::exception&) {
                }
        };
        const auto& o = state_->options;
        emit("plg:eventual-consistency:started", json{{"mode", o.mode == ConsistencyMode::sync ? "sync" : "async"}});
        if (o.mode != ConsistencyMode::async || !o.auto_consolidate) return;
        std::lock_guard lock(state_->timer_mutex);
        if (state_->timer.joinable()) return;
        state_->stopping = false;
        state_->timer = std::thread([s = state_] { timer_loop(*s); });
    }

    void on_stop() {
        {
            std::lock_guard lock(state_->timer_mutex);
            state_->stopping = true;
        }
        state_->timer_cv.notify_all();
        if (state_->timer.joinable()) state_->timer.join();
        emit("plg:eventual-consistency:stopped");
    }

    /// With purge_data: deletes the transactions resources' keys and the ledgers and locks.
    void on_uninstall(const UninstallOptions& o) {
        on_stop();
        auto b = backend();
        if (!o.purge_data || !b) return;
        std::size_t n = 0;
        const auto names = b->catalogue();
        for (auto& [r, fields] : state_->options.resources)
            for (auto& f : fields) {
                n += remove_resource_keys(*b->store, transactions_resource(r, f), names);
                n += remove_resource_keys(*b->store, analytics_resource(r, f), names);
            }
        n += storage().remove_all();
        state_->purged = n;
    }

    PluginHealth health() const {
        if (!backend()) return {false, "not installed"};
        std::lock_guard lock(state_->stats_mutex);
        std::string d = std::to_string(state_->consolidations) + " consolidations, " +
                        std::to_string(state_->applied) + " transactions applied, " + std::to_string(state_->collected) +
                        " collected";
        if (state_->last_failed) return {false, d + "; last run failed: " + state_->last_error};
        return {true, d};
    }

    /// Counters of this process, for status pages.
    json status() const {
        std::lock_guard lock(state_->stats_mutex);
        return json{{"mode", state_->options.mode == ConsistencyMode::sync ? "sync" : "async"},
                    {"consolidations", state_->consolidations},
                    {"transactions_applied", state_->applied},
                    {"transactions_collected", state_->collected},
                    {"errors", state_->errors},
                    {"last_error", state_->last_error},
                    {"timer_running", state_->timer.joinable()}};
    }

    std::size_t purged() const noexcept { return state_->purged; }

    // ---- writes ----

    TransactionWrite add(std::string_view resource, std::string_view id, std::string_view field, double amount,
                         std::string_view source = "add") {
        return write(resource, id, field, amount < 0 ? 's' : 'a', std::fabs(amount), source);
    }
    TransactionWrite sub(std::string_view resource, std::string_view id, std::string_view field, double amount,
                         std::string_view source = "sub") {
        return write(resource, id, field, amount < 0 ? 'a' : 's', std::fabs(amount), source);
    }
    TransactionWrite set(std::string_view resource, std::string_view id, std::string_view field, double value,
                         std::string_view source = "set") {
        return write(resource, id, field, 't', value, source);
    }
    TransactionWrite increment(std::string_view resource, std::string_view id, std::string_view field) {
        return write(resource, id, field, 'a', 1, "increment");
    }
    TransactionWrite decrement(std::string_view resource, std::string_view id, std::string_view field) {
        return write(resource, id, field, 's', 1, "decrement");
    }

    // ---- consolidation ----

    /// Applies every pending transaction of (resource, field), under the lease.
    ConsolidationResult consolidate(std::string_view resource, std::string_view field) {
        check(resource, field, std::nullopt);
        try {
            auto r = with_lease(resource, field, [&](Lease& lease) { return consolidate_locked(resource, field, std::nullopt, lease); });
            if (!r) return ConsolidationResult{.locked = true};
            {
                std::lock_guard lock(state_->stats_mutex);
                ++state_->consolidations;
                state_->last_failed = false;
                state_->applied += r->transactions;
            }
            emit("plg:eventual-consistency:consolidation-completed",
                 json{{"resource", resource}, {"field", field}, {"transactions", r->transactions}, {"records", r->records}});
            return *r;
        } catch (const std::exception& e) {
            failed("consolidation", resource, field, e);
            throw;
        }
    }

    /// Every configured (resource, field).
    ConsolidationResult consolidate_all() {
        ConsolidationResult total;
        for (auto& [r, fields] : state_->options.resources)
            for (auto& f : fields) {
                auto one = consolidate(r, f);
                total.locked = total.locked || one.locked;
                total.transactions += one.transactions;
                total.records += one.records;
                total.projected += one.projected;
            }
        return total;
    }

    /// The record's field (1 GET), or initial_value when the record or field is missing.
    double get_consolidated_value(std::string_view resource, std::string_view id, std::string_view field) {
        check(resource, field, id);
        auto rec = backend_or_throw()->get(std::string(resource), std::string(id));
        if (!rec || !rec->contains(field) || !(*rec)[std::string(field)].is_number()) return state_->options.initial_value;
        return (*rec)[std::string(field)].get<double>();
    }

    /// Replays the record's kept transactions in id order from the value before the oldest kept one,
    /// marks them all applied and writes the result. Returns it. nullopt when the lease is held.
    std::optional<double> recalculate(std::string_view resource, std::string_view id, std::string_view field) {
        check(resource, field, id);
        auto r = with_lease(resource, field, [&](Lease& lease) { return consolidate_locked(resource, field, std::string(id), lease); });
        if (!r) return std::nullopt;
        return get_consolidated_value(resource, id, field);
    }

    /// The pending transactions of (resource, field): listed and not applied, in id order. 1 GET + LIST.
    std::vector<ParsedTransaction> pending_transactions(std::string_view resource, std::string_view field) {
        check(resource, field, std::nullopt);
        auto ledger = read_ledger(resource, field);
        std::vector<ParsedTransaction> out;
        for (auto& t : list_transactions(resource, field))
            if (!ledger.applied.count(t.id)) out.push_back(std::move(t));
        return out;
    }

    /// Every transaction kept, pending and applied, in id (= time) order: 1 GET + 1 LIST per 1000.
    /// `applied` comes from the ledger (+1 GET): the records' own `applied` field stays false.
    std::vector<ParsedTransaction> transactions(std::string_view resource, std::string_view field) {
        check(resource, field, std::nullopt);
        auto ledger = read_ledger(resource, field);
        auto out = list_transactions(resource, field);
        for (auto& t : out) t.applied = ledger.applied.count(t.id) > 0;
        return out;
    }

    // ---- garbage collection ----

    /// Deletes the applied transactions older than transaction_retention (1 DeleteObjects per 1000) and
    /// forgets them in the ledger (their effect folded into each record's base). Unapplied ones, and
    /// those within retention, stay.
    GcResult gc(std::string_view resource, std::string_view field) {
        check(resource, field, std::nullopt);
        try {
            auto r = with_lease(resource, field, [&](Lease& lease) { return gc_locked(resource, field, lease); });
            if (!r) return GcResult{.locked = true, .deleted = {}};
            {
                std::lock_guard lock(state_->stats_mutex);
                state_->collected += r->deleted.size();
                state_->last_failed = false;
            }
            emit("plg:eventual-consistency:gc-completed",
                 json{{"resource", resource}, {"field", field}, {"deleted", r->deleted.size()}});
            return *r;
        } catch (const std::exception& e) {
            failed("gc", resource, field, e);
            throw;
        }
    }

    GcResult gc_all() {
        GcResult total;
        for (auto& [r, fields] : state_->options.resources)
            for (auto& f : fields) {
                auto one = gc(r, f);
                total.locked = total.locked || one.locked;
                total.deleted.insert(total.deleted.end(), one.deleted.begin(), one.deleted.end());
            }
        return total;
    }

    // ---- analytics (enable_analytics) ----
    //
    // Records of `plg_<res>_an_<field>`, id `<period>-<cohort>` (hour-2026-03-01T14, day-2026-03-01,
    // week-2026-W09, month-2026-03): period, cohort, transactionCount, totalValue (net: add +, sub -),
    // avgValue, minValue, maxValue, operations {add|sub|set: {count, sum}}. Updated by consolidation,
    // each batch exactly once (by CAS, the record keeping the batch ids it took). Missing cohorts of
    // the day/month/year views are filled with zeros, as s3db.js's fillGaps does.

    static std::string analytics_resource(std::string_view resource, std::string_view field) {
        return "plg_" + std::string(resource) + "_an_" + std::string(field);
    }

    /// The analytics records of `period` (hour, day, week, month) whose cohort is in [from, to]
    /// (inclusive; empty: open). 1 LIST per 1000 analytics records + 1 GET per record returned.
    std::vector<json> get_analytics(std::string_view resource, std::string_view field, std::string_view period,
                                    std::string_view from = {}, std::string_view to = {}) {
        check(resource, field, std::nullopt);
        if (period != "hour" && period != "day" && period != "week" && period != "month")
            throw PluginError(name, "analytics period '" + std::string(period) + "' is not hour, day, week or month");
        if (!state_->options.enable_analytics)
            throw PluginError(name, "analytics of '" + std::string(resource) + "." + std::string(field) +
                                        "' need enable_analytics");
        auto b = backend_or_throw();
        const auto an = analytics_resource(resource, field);
        const std::string head = std::string(period) + "-";
        std::vector<std::string> ids;
        for (auto& id : b->analytics_ids(an)) {
            if (!id.starts_with(head)) continue;
            const auto cohort = std::string_view(id).substr(head.size());
            if ((!from.empty() && cohort < from) || (!to.empty() && cohort.substr(0, std::min(cohort.size(), to.size())) > to))
                continue;
            ids.push_back(id);
        }
        std::sort(ids.begin(), ids.end());
        std::vector<json> out;
        for (auto& r : b->analytics_get(an, ids))
            if (r) out.push_back(std::move(*r));
        return out;
    }

    /// The 24 hours of `date` (YYYY-MM-DD), oldest first.
    std::vector<json> get_day_by_hour(std::string_view resource, std::string_view field, std::string_view date) {
        std::vector<std::string> cohorts;
        for (int h = 0; h < 24; ++h) cohorts.push_back(std::string(date) + "T" + detail::ec_pad(h, 2));
        return filled(get_analytics(resource, field, "hour", cohorts.front(), cohorts.back()), "hour", cohorts);
    }

    /// The last `n` days up to today (the plugin's clock), oldest first.
    std::vector<json> get_last_n_days(std::string_view resource, std::string_view field, int n) {
        const std::int64_t today = detail::floor_div(detail::epoch_ms(now()), detail::ms_per_day);
        std::vector<std::string> cohorts;
        for (std::int64_t d = today - n + 1; d <= today; ++d) cohorts.push_back(detail::ec_cohorts(d * detail::ms_per_day).date);
        if (cohorts.empty()) return {};
        return filled(get_analytics(resource, field, "day", cohorts.front(), cohorts.back()), "day", cohorts);
    }

    /// The days of `month` (YYYY-MM), oldest first.
    std::vector<json> get_month_by_day(std::string_view resource, std::string_view field, std::string_view month) {
        int y = 0, m = 0;
        std::from_chars(month.data(), month.data() + std::min<std::size_t>(4, month.size()), y);
        if (month.size() >= 7) std::from_chars(month.data() + 5, month.data() + 7, m);
        if (month.size() != 7 || m < 1 || m > 12) throw PluginError(name, "month '" + std::string(month) + "' is not YYYY-MM");
        const auto first = detail::days_from_civil(y, static_cast<unsigned>(m), 1);
        const auto next = m == 12 ? detail::days_from_civil(y + 1, 1, 1) : detail::days_from_civil(y, static_cast<unsigned>(m + 1), 1);
        std::vector<std::string> cohorts;
        for (auto d = first; d < next; ++d) cohorts.push_back(detail::ec_cohorts(d * detail::ms_per_day).date);
        return filled(get_analytics(resource, field, "day", cohorts.front(), cohorts.back()), "day", cohorts);
    }

    /// The 12 months of `year`, oldest first.
    std::vector<json> get_year_by_month(std::string_view resource, std::string_view field, int year) {
        std::vector<std::string> cohorts;
        for (int m = 1; m <= 12; ++m) cohorts.push_back(detail::ec_pad(year, 4) + "-" + detail::ec_pad(m, 2));
        return filled(get_analytics(resource, field, "month", cohorts.front(), cohorts.back()), "month", cohorts);
    }

    /// The records with the most transactions (or the largest net change, by_value) among the kept
    /// transactions whose time starts with `cohort` (a date, hour or month prefix; empty: all), as
    /// {recordId, transactionCount, totalValue}. 1 LIST per 1000 transactions, no GET.
    std::vector<json> get_top_records(std::string_view resource, std::string_view field, std::string_view cohort = {},
                                      std::size_t limit = 10, bool by_value = false) {
        check(resource, field, std::nullopt);
        std::map<std::string, std::pair<std::size_t, double>> per;
        for (auto& t : list_transactions(resource, field)) {
            const auto c = detail::ec_cohorts(t.ms);
            if (!cohort.empty() && !c.hour.starts_with(cohort)) continue;
            auto& [count, total] = per[t.original_id];
            ++count;
            total += t.op == 'a' ? t.value : t.op == 's' ? -t.value : 0.0;
        }
        std::vector<json> out;
        for (auto& [id, ct] : per) out.push_back(json{{"recordId", id}, {"transactionCount", ct.first}, {"totalValue", ct.second}});
        std::stable_sort(out.begin(), out.end(), [&](const json& a, const json& c) {
            return by_value ? a["totalValue"].get<double>() > c["totalValue"].get<double>()
                            : a["transactionCount"].get<std::size_t>() > c["transactionCount"].get<std::size_t>();
        });
        if (out.size() > limit) out.resize(limit);
        return out;
    }

    static ResourceConfig analytics_config(std::string name) {
        ResourceConfig c;
        c.name = std::move(name);
        c.attributes = {{"id", "string|required"},           {"period", "string|required"},
                        {"cohort", "string|required"},       {"transactionCount", "number|required"},
                        {"totalValue", "number|required"},   {"avgValue", "number|optional"},
                        {"minValue", "number|optional"},     {"maxValue", "number|optional"},
                        {"operations", "json|optional"},     {"batches", "json|optional"}};
        c.behavior = "body-overflow";
        c.created_by = "EventualConsistencyPlugin";
        return c;
    }

    /// s3db.js's transactions resource definition.
    static ResourceConfig transactions_config(std::string name) {
        ResourceConfig c;
        c.name = std::move(name);
        c.attributes = {{"id", "string|required"},        {"originalId", "string|required"},
                        {"field", "string|required"},     {"fieldPath", "string|optional"},
                        {"value", "number|required"},     {"operation", "string|required"},
                        {"timestamp", "string|required"}, {"cohortDate", "string|required"},
                        {"cohortHour", "string|required"}, {"cohortWeek", "string|optional"},
                        {"cohortMonth", "string|optional"}, {"source", "string|optional"},
                        {"applied", "boolean|optional"}};
        c.behavior = "body-overflow";
        // No timestamps: they bring the byCreatedDate/byUpdatedDate partitions, 2 PUTs more per
        // transaction; `timestamp` already says when.
        c.timestamps = false;
        c.created_by = "EventualConsistencyPlugin";
        return c;
    }

private:
    struct Backend {
        DatabaseRef db;
        std::unique_ptr<TransportRef> store;
        std::unique_ptr<LeaseService> leases;

        void insert(const std::string& r, json rec) const { db.resource(r).insert(std::move(rec)); }
        bool has(const std::string& r) const { return db.has_resource(r); }
        std::optional<json> get(const std::string& r, const std::string& id) const {
            return db.resource(r).get_or_null(id, ReadOptions{.cache = false});
        }
        std::vector<std::string> catalogue() const { return db.resources(); }
        std::vector<std::string> analytics_ids(const std::string& r) const { return db.resource(r).list_ids(); }
        std::vector<std::optional<json>> analytics_get(const std::string& r, const std::vector<std::string>& ids) const {
            return db.resource(r).get_many(ids, ReadOptions{.cache = false});
        }

        /// Writes a consolidated value under the lease: a CAS on the target record, or its insert.
        void project(const std::string& r, const std::string& id, const std::string& field, double v, const Lease& lease) const {
            auto res = db.resource(r);
            for (int attempt = 0;; ++attempt) {
                try {
                    // The fence: checked on the version the If-Match PUT replaces, so a holder the
                    // lease has moved past never overwrites a newer holder's value (see the header).
                    res.update(id, [&](json& rec) {
                        json fences = fences_of(rec);
                        const auto newer = fences.contains(field) && fences[field].is_number_unsigned()
                                               ? fences[field].get<std::uint64_t>() : 0;
                        if (newer > lease.token) throw FencedOut(lease.name, r + "/" + id, lease.token, newer);
                        require_valid(lease);
                        fences[field] = lease.token;
                        rec[std::string(fence_field)] = fences_text(fences);
                        rec[field] = v;
                    });
                    return;
                } catch (const RecordNotFound&) {
                }
                try {
                    require_valid(lease);
                    res.insert(json{{"id", id}, {field, v}, {std::string(fence_field), fences_text(json{{field, lease.token}})}});
                    return;
                } catch (const AlreadyExists&) {
                    if (attempt >= 3) throw;
                }
            }
        }

        /// Adds a batch's rollup to an analytics record: a CAS, or its insert.
        void roll(const std::string& r, const std::string& an_id, const std::string& batch, const json& delta) const {
            auto res = db.resource(r);
            for (int attempt = 0;; ++attempt) {
                try {
                    res.update(an_id, [&](json& rec) { detail::ec_merge_rollup(rec, batch, delta); });
                    return;
                } catch (const RecordNotFound&) {
                }
                json rec{{"id", an_id}};
                detail::ec_merge_rollup(rec, batch, delta);
                try {
                    res.insert(std::move(rec));
                    return;
                } catch (const AlreadyExists&) {
                    if (attempt >= 3) throw;
                }
            }
        }
    };
    static std::vector<json> filled(const std::vector<json>& found, const char* period, const std::vector<std::string>& cohorts) {
        std::map<std::string, json> by;
        for (auto& r : found) by[r.value("cohort", "")] = r;
        std::vector<json> out;
        for (auto& c : cohorts) {
            auto it = by.find(c);
            out.push_back(it != by.end() ? it->second
                                         : json{{"id", std::string(period) + "-" + c}, {"period", period}, {"cohort", c},
                                                {"transactionCount", 0}, {"totalValue", 0}, {"avgValue", 0},
                                                {"minValue", 0}, {"maxValue", 0}, {"operations", json::object()}});
        }
        return out;
    }
    static void add_rollup(json& batch, const ParsedTransaction& t) {
        const auto c = detail::ec_cohorts(t.ms);
        for (auto [period, cohort] : {std::pair{"hour", &c.hour}, {"day", &c.date}, {"week", &c.week}, {"month", &c.month}}) {
            json& d = batch[std::string(period) + "-" + *cohort];
            if (d.is_null()) d = json{{"period", period}, {"cohort", *cohort}};
            detail::ec_add_to_rollup(d, t);
        }
    }
    struct State {
        EventualConsistencyOptions options;
        mutable std::shared_mutex mutex;
        std::shared_ptr<const Backend> backend;
        std::function<void(std::string_view, const json&)> emit;
        std::mutex timer_mutex;
        std::condition_variable timer_cv;
        bool stopping = false;
        std::thread timer;
        mutable std::mutex stats_mutex;
        std::uint64_t consolidations = 0, applied = 0, collected = 0, errors = 0;
        bool last_failed = false;
        std::string last_error;
        std::atomic<std::size_t> purged{0};
        std::function<void(bool)> tick;  // the timer's work (true: also GC), set by on_start
    };
    /// The ledger as read: its data and the ETag of that version (empty: absent).
    struct Ledger {
        std::map<std::string, std::pair<double, double>> records;  // id -> (value, base)
        std::set<std::string> applied;
        std::set<std::string> unprojected;
        json rollups = json::object();  // batch id -> {analytics id -> delta}: not yet in the analytics
        std::uint64_t fence = 0;        // the fencing token of its last writer
        std::string etag;
        json to_json() const {
            json recs = json::object();
            for (auto& [id, vb] : records) recs[id] = json{{"v", vb.first}, {"b", vb.second}};
            return json{{"records", recs}, {"applied", applied}, {"unprojected", unprojected}, {"rollups", rollups},
                        {"fence", fence}};
        }
    };

    std::shared_ptr<const Backend> backend() const {
        std::shared_lock lock(state_->mutex);
        return state_->backend;
    }
    std::shared_ptr<const Backend> backend_or_throw() const {
        auto b = backend();
        if (!b) throw PluginError(name, "not installed yet (db.connect())");
        return b;
    }

    std::chrono::system_clock::time_point now() const {
        return state_->options.clock ? state_->options.clock() : std::chrono::system_clock::now();
    }

    /// Throws before any write for a resource or field not configured, or an id S3 cannot key.
    void check(std::string_view resource, std::string_view field, std::optional<std::string_view> id) const {
        auto it = state_->options.resources.find(resource);
        if (it == state_->options.resources.end())
            throw PluginError(name, "resource '" + std::string(resource) + "' is not configured");
        if (std::find(it->second.begin(), it->second.end(), field) == it->second.end())
            throw PluginError(name, "field '" + std::string(field) + "' of resource '" + std::string(resource) +
                                        "' is not configured");
        if (id) {
            validate_id(resource, *id);
            validate_id(transactions_resource(resource, field), "tx-0000000000000-000000000~a0~" + std::string(*id));
        }
    }

    TransactionWrite write(std::string_view resource, std::string_view id, std::string_view field, char op, double value,
                           std::string_view source) {
        check(resource, field, id);
        if (!std::isfinite(value))
            throw PluginError(name, "the amount for field '" + std::string(field) + "' of record '" +
                                  std::string(id) + "' of resource '" + std::string(resource) + "' is not finite");
        auto b = backend_or_throw();
        const std::int64_t ms = detail::epoch_ms(now());
        const std::string tx_id = "tx-" + detail::ec_pad(ms, 13) + "-" + detail::ec_id_tail(ms) + "~" + op +
                                  detail::ec_format_number(value) + "~" + std::string(id);
        const auto c = detail::ec_cohorts(ms);
        json rec{{"id", tx_id},
                 {"originalId", id},
                 {"field", field},
                 {"value", value},
                 {"operation", op == 'a' ? "add" : op == 's' ? "sub" : "set"},
                 {"timestamp", detail::iso_string(ms)},
                 {"cohortDate", c.date},
                 {"cohortHour", c.hour},
                 {"cohortWeek", c.week},
                 {"cohortMonth", c.month},
                 {"source", source},
                 {"applied", false}};
        const auto tx_resource = transactions_resource(resource, field);
        try {
            b->insert(tx_resource, std::move(rec));
        } catch (const OutcomeUnknown& e) {
            throw TransactionOutcomeUnknown(tx_resource, tx_id, e.what());
        }
        TransactionWrite out{tx_id, std::nullopt};
        if (state_->options.mode == ConsistencyMode::sync) {
            auto r = with_lease(resource, field, [&](Lease& lease) { return consolidate_locked(resource, field, std::nullopt, lease); },
                                std::max(state_->options.lock_timeout, std::chrono::milliseconds(30'000)));
            if (r) out.value = get_consolidated_value(resource, id, field);
        }
        return out;
    }

    std::string ledger_key(std::string_view resource, std::string_view field) {
        return storage().plugin_key(resource, "ledger", field);
    }


    Ledger read_ledger(std::string_view resource, std::string_view field) {
        Ledger l;
        auto v = storage().get_with_version(ledger_key(resource, field));
        if (!v) return l;
        l.etag = v->etag;
        const json& d = v->data;
        if (auto it = d.find("records"); it != d.end() && it->is_object())
            for (auto& [id, vb] : it->items()) l.records[id] = {vb.value("v", 0.0), vb.value("b", 0.0)};
        if (auto it = d.find("applied"); it != d.end() && it->is_array())
            for (auto& id : *it) l.applied.insert(id.get<std::string>());
        if (auto it = d.find("unprojected"); it != d.end() && it->is_array())
            for (auto& id : *it) l.unprojected.insert(id.get<std::string>());
        if (auto it = d.find("rollups"); it != d.end() && it->is_object()) l.rollups = *it;
        if (auto it = d.find("fence"); it != d.end() && it->is_number_unsigned()) l.fence = it->get<std::uint64_t>();
        return l;
    }

    /// The ledger, for the holder of `lease`: FencedOut when a newer holder has written it.
    Ledger read_ledger(std::string_view resource, std::string_view field, const Lease& lease) {
        Ledger l = read_ledger(resource, field);
        if (l.fence > lease.token) throw FencedOut(lease.name, ledger_key(resource, field), lease.token, l.fence);
        return l;
    }

    /// Writes `l` conditionally on the version it was read at, stamped with the lease's token; its
    /// new ETag, or nullopt on conflict. LeaseLost, without a request, once the lease ran out.
    std::optional<std::string> write_ledger(std::string_view resource, std::string_view field, Ledger l, const Lease& lease) {
        require_valid(lease);
        l.fence = lease.token;
        const auto key = ledger_key(resource, field);
        const SetOptions so{.behavior = StorageBehavior::body_only};
        return l.etag.empty() ? storage().set_if_absent(key, l.to_json(), so)
                              : storage().set_if_version(key, l.to_json(), l.etag, so);
    }

    /// Every transaction of (resource, field) in the bucket, in id order: 1 LIST per 1000.
    std::vector<ParsedTransaction> list_transactions(std::string_view resource, std::string_view field) {
        auto b = backend_or_throw();
        const std::string prefix = record_key(transactions_resource(resource, field), "");
        std::vector<ParsedTransaction> out;
        ListOptions o{.prefix = prefix};
        for (;;) {
            auto page = b->store->list(o);
            for (auto& e : page.objects)
                if (auto t = detail::ec_parse_id(std::string_view(e.key).substr(prefix.size()))) out.push_back(std::move(*t));
            if (!page.truncated()) break;
            o.continuation_token = page.next_continuation_token;
        }
        std::sort(out.begin(), out.end(), [](auto& a, auto& c) { return a.id < c.id; });
        return out;
    }

    /// The ledger step and the copy into the records. With `only`: recalculate that record.
    ConsolidationResult consolidate_locked(std::string_view resource, std::string_view field,
                                           const std::optional<std::string>& only, const Lease& lease) {
        auto b = backend_or_throw();
        const std::string res(resource), fld(field);
        ConsolidationResult result;
        Ledger l;
        for (int attempt = 1;; ++attempt) {
            // The ledger first, then the listing: see the header (a GC in between fails the commit).
            l = read_ledger(resource, field, lease);
            const auto listed = list_transactions(resource, field);
            std::map<std::string, std::vector<const ParsedTransaction*>> by_record;
            for (auto& t : listed)
                if (only ? t.original_id == *only : !l.applied.count(t.id)) by_record[t.original_id].push_back(&t);
            if (only && !l.records.count(*only) && by_record.empty()) return result;
            if (only) by_record[*only];  // recalculated even with no transaction kept: its base
            if (by_record.empty() && l.unprojected.empty() && l.rollups.empty()) return result;
            result.transactions = 0;
            result.records = 0;
            json batch = json::object();
            for (auto& [id, txs] : by_record) {
                auto it = l.records.find(id);
                if (it == l.records.end()) {
                    double start = state_->options.initial_value;
                    if (auto rec = b->get(res, id); rec && rec->contains(fld) && (*rec)[fld].is_number())
                        start = (*rec)[fld].get<double>();
                    it = l.records.emplace(id, std::pair{start, start}).first;
                }
                double v = only ? it->second.second : it->second.first;
                for (auto* t : txs) {
                    v = detail::ec_fold(v, *t);
                    if (l.applied.insert(t->id).second) {
                        ++result.transactions;
                        if (state_->options.enable_analytics) add_rollup(batch, *t);
                    }
                }
                it->second.first = v;
                l.unprojected.insert(id);
                ++result.records;
            }
            if (!batch.empty()) l.rollups[detail::ec_pad(detail::epoch_ms(now()), 13) + "-" + random_id(8)] = batch;
            if (by_record.empty()) break;  // only unprojected records to copy
            if (auto etag = write_ledger(resource, field, l, lease)) {
                l.etag = *etag;
                break;
            }
            if (attempt >= 50) throw PluginError(name, "the ledger of '" + res + "." + fld + "' kept changing");
        }
        // Copy the values into the records; a failure leaves the record unprojected for next time.
        std::set<std::string> done;
        std::optional<std::string> first_error;
        for (auto& id : l.unprojected) {
            try {
                b->project(res, id, fld, l.records.at(id).first, lease);
                done.insert(id);
            } catch (const LeaseLost&) {
                throw;  // a newer holder copies them
            } catch (const std::exception& e) {
                if (!first_error) first_error = e.what();
            } 
        }
        result.projected = done.size();
        // The rollups of each batch into the analytics; each analytics record remembers the batches
        // it has, so one applied again (a consolidator killed before clearing it) adds nothing.
        std::set<std::string> rolled;
        for (auto& [batch_id, deltas] : l.rollups.items()) {
            try {
                require_valid(lease);
                for (auto& [an_id, delta] : deltas.items()) b->roll(analytics_resource(resource, field), an_id, batch_id, delta);
                rolled.insert(batch_id);
            } catch (const std::exception& e) {
                if (!first_error) first_error = e.what();
            }
        }
        if (!done.empty() || !rolled.empty()) {
            Ledger next = l;
            for (auto& id : done) next.unprojected.erase(id);
            for (auto& id : rolled) next.rollups.erase(id);
            // Conditional on the version we wrote: if it moved, someone else redid the work.
            write_ledger(resource, field, next, lease);
        }
        if (first_error)
            throw PluginError(name, "copying values of '" + res + "." + fld + "' into records: " + *first_error);
        return result;
    }

    GcResult gc_locked(std::string_view resource, std::string_view field, const Lease& lease) {
        auto b = backend_or_throw();
        const std::int64_t cutoff = detail::epoch_ms(now()) - state_->options.transaction_retention.count();
        const auto tx_resource = transactions_resource(resource, field);
        GcResult result;
        for (int attempt = 1;; ++attempt) {
            Ledger l = read_ledger(resource, field, lease);
            const auto listed = list_transactions(resource, field);
            std::set<std::string> listed_ids;
            std::vector<const ParsedTransaction*> doomed;
            for (auto& t : listed) {
                listed_ids.insert(t.id);
                if (t.ms < cutoff && l.applied.count(t.id)) doomed.push_back(&t);
            }
            // Ids applied, older than the cutoff and no longer listed: deleted by a GC killed before it
            // could forget them.
            std::vector<std::string> gone;
            for (auto& id : l.applied)
                if (!listed_ids.count(id))
                    if (auto t = detail::ec_parse_id(id); t && t->ms < cutoff) gone.push_back(id);
            if (doomed.empty() && gone.empty()) return result;
            std::vector<std::string> keys;
            for (auto* t : doomed) keys.push_back(record_key(tx_resource, t->id));
            if (!keys.empty()) require_valid(lease);
            for (std::size_t i = 0; i < keys.size(); i += max_list_keys) {
                std::vector<std::string> chunk(keys.begin() + static_cast<std::ptrdiff_t>(i),
                                               keys.begin() + static_cast<std::ptrdiff_t>(std::min(keys.size(), i + max_list_keys)));
                auto r = b->store->remove_many(chunk);
                if (!r.failed.empty())
                    throw PluginError(name, "GC of '" + tx_resource + "': deleting '" + r.failed.front().key +
                                                "' failed: " + r.failed.front().message);
            }
            // Deleted: fold them into the base, forget their ids.
            for (auto* t : doomed) {
                l.applied.erase(t->id);
                auto it = l.records.find(t->original_id);
                if (it != l.records.end()) it->second.second = detail::ec_fold(it->second.second, *t);
            }
            // Those gone were deleted by a GC whose ledger write did not land (killed, or beaten by a
            // consolidation's write): folded now, as they would have been then.
            for (auto& id : gone) {
                l.applied.erase(id);
                auto t = detail::ec_parse_id(id);
                auto it = l.records.find(t->original_id);
                if (it != l.records.end()) it->second.second = detail::ec_fold(it->second.second, *t);
            }
            std::vector<std::string> now_deleted;
            for (auto* t : doomed) now_deleted.push_back(t->id);
            if (write_ledger(resource, field, l, lease)) {
                result.deleted.insert(result.deleted.end(), now_deleted.begin(), now_deleted.end());
                return result;
            }
            // The ledger moved: read again; what we deleted is now listed as gone.
            result.deleted.insert(result.deleted.end(), now_deleted.begin(), now_deleted.end());
            if (attempt >= 50) throw PluginError(name, "the ledger of '" + std::string(resource) + "." + std::string(field) + "' kept changing");
        }
    }

    void failed(const char* what, std::string_view resource, std::string_view field, const std::exception& e) {
        {
            std::lock_guard lock(state_->stats_mutex);
            ++state_->errors;
            state_->last_failed = true;
            state_->last_error = std::string(what) + " of " + std::string(resource) + "." + std::string(field) + ": " + e.what();
        }
        emit(std::string("plg:eventual-consistency:") + (what == std::string_view("gc") ? "gc-error" : "consolidation-error"),
             json{{"resource", resource}, {"field", field}, {"error", e.what()}});
    }

    static void timer_loop(State& s) {
        auto next_gc = std::chrono::steady_clock::now() + s.options.gc_interval;
        std::unique_lock lock(s.timer_mutex);
        while (!s.stopping) {
            s.timer_cv.wait_for(lock, s.options.consolidation_interval, [&] { return s.stopping; });
            if (s.stopping) break;
            lock.unlock();
            if (s.tick) {
                const bool do_gc = s.options.gc_interval.count() > 0 && std::chrono::steady_clock::now() >= next_gc;
                if (do_gc) next_gc = std::chrono::steady_clock::now() + s.options.gc_interval;
                s.tick(do_gc);
            }
            lock.lock();
        }
    }

    std::shared_ptr<State> state_;
};

}  // namespace s3db
