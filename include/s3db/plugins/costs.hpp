#pragma once
// Costs: what the database's S3 requests would cost on Amazon S3, counted as they happen.
//
//   s3db::BasicDatabase<s3db::Any, s3db::Costs> db(url);   // or db.use_plugin(s3db::Costs{})
//   ...
//   auto c = db.plugin<s3db::Costs>().costs();  // c.total, c.requests.put, c.events, c.to_json()
//
// What it measures (from install on; connect() reads s3db.json before plugins install, so that one
// GET is not seen):
//   requests      every request the database and its plugins send, once its answer is in (failed
//                 and 404 requests included: S3 bills them too), by command. A DeleteObjects of n
//                 keys is ceil(n / 1000) POSTs, as the transports send it. Retries inside a
//                 transport (the S3 transport's own) are one request here.
//   storage       bytes written: PUT bodies + user metadata, and the metadata a COPY writes (its
//                 body is copied server-side, unseen). Never decreased: a DELETE or an overwrite does
//                 not say how many bytes it frees without a HEAD first. Priced per GB-month by tier,
//                 it is what keeping everything this session wrote would cost per month: an upper
//                 bound of the storage the session added, not the bucket's bill.
//   data transfer in = the bytes written (free); out = GET body bytes (LIST answers and response
//                 headers are not counted), priced by tier, optionally less the 100 GB free tier.
//                 Transfer to EC2 in the same region is free on AWS; this prices transfer to the
//                 internet.
// Prices are us-east-1 S3 Standard list prices (PUT/COPY/POST/LIST $0.005 per 1000, GET/HEAD
// $0.0004 per 1000, DELETE free; storage $0.023/$0.022/$0.021 per GB-month past 50 TB and 500 TB;
// transfer out $0.09/$0.085/$0.07/$0.05 per GB past 10, 50 and 150 TB); every one is an option.
// A GB is 2^30 bytes and a TB 1024 GB, as in s3db.js. Costs are computed from the counts when asked
// (count x price), so they do not drift however long the session runs.
//
// Attribution, by the request's key (a LIST by its prefix, a DeleteObjects by its first key), each
// request to exactly one owner: `resource=<r>/plugin=<slug>/…` and `plugin=<slug>/…` -> plugin
// <slug>; other `resource=<r>/…` -> resource <r>; `s3db.json` -> the database; anything else -> other.
//
// Thread-safe: requests arrive from every thread of the pool; one mutex guards the tallies (a few
// additions per request, far below the cost of the request itself).

#include <cstdint>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "s3db/detail/config.hpp"
#include "s3db/core/hooks.hpp"
#include "s3db/core/plugin.hpp"
#include "s3db/transport/counting.hpp"
#include "s3db/transport/transport.hpp"

namespace s3db {

/// One price band. `limit_gb` is where the band ends, counted from zero (the seed's cumulative
/// limits); bytes beyond the last band's limit are priced at the last band's price.
struct PriceTier {
    double limit_gb = std::numeric_limits<double>::infinity();
    double price_per_gb = 0;
    friend bool operator==(const PriceTier&, const PriceTier&) = default;
};

/// USD per request, by S3 request class. `post` is DeleteObjects (a POST request); `remove` is DELETE.
struct RequestPrices {
    double put = 0.005 / 1000;
    double copy = 0.005 / 1000;
    double post = 0.005 / 1000;
    double list = 0.005 / 1000;
    double get = 0.0004 / 1000;
    double head = 0.0004 / 1000;
    double remove = 0;  // AWS does not charge DELETE (s3db.js charges it at the GET price)

    /// The requests of `c` priced: sum of count x price.
    S3DB_DECL double of(const RequestCounts& c) const noexcept;
    friend bool operator==(const RequestPrices&, const RequestPrices&) = default;
};

struct CostsOptions {
    static constexpr double unbounded = std::numeric_limits<double>::infinity();
    RequestPrices prices{};
    // GB-month: first 50 TB, next 450 TB, above 500 TB.
    std::vector<PriceTier> storage_tiers{{50 * 1024.0, 0.023}, {500 * 1024.0, 0.022}, {unbounded, 0.021}};
    // GB out to the internet: first 10 TB, next 40 TB, next 100 TB, above 150 TB.
    std::vector<PriceTier> transfer_out_tiers{
        {10 * 1024.0, 0.09}, {50 * 1024.0, 0.085}, {150 * 1024.0, 0.07}, {unbounded, 0.05}};
    bool consider_free_tier = false;  // take the monthly free transfer-out allowance off first
    double free_tier_gb = 100;        // AWS: 100 GB a month, summed over all AWS services
};
/// One owner's share: its requests by command, bytes in and out, and the requests priced.
struct CostUsage {
    RequestCounts requests{};
    std::uint64_t in_bytes = 0;
    std::uint64_t out_bytes = 0;
    double request_cost = 0;
};

/// The seed's `costs` object (`{total, prices, requests, events}`), read from code: field for field,
/// with `to_json()` giving its JSON. Storage, data transfer and usage are extras (s3db.js's later
/// CostsPlugin has the first two).
struct CostReport {
    double total = 0;  // requests + storage + data transfer, USD

    RequestPrices prices{};  // USD per request, by class

    /// S3 requests by class, named as `prices` is: post = DeleteObjects, remove = DELETE.
    struct Requests {
        std::uint64_t total = 0;
        std::uint64_t put = 0, copy = 0, post = 0, list = 0, get = 0, head = 0, remove = 0;

        /// The same counts as the transports count them (Counting<T>::counts()).
        RequestCounts counts() const noexcept {
            return {.put = put, .get = get, .head = head, .copy = copy, .remove = remove, .remove_many = post,
                    .list = list};
        }
    } requests;

    /// The same requests by S3 command (a DeleteObjects of n keys is ceil(n / 1000) commands).
    struct Events {
        std::uint64_t total = 0;
        std::uint64_t put_object = 0, get_object = 0, copy_object = 0, head_object = 0, delete_object = 0,
                      delete_objects = 0, list_objects_v2 = 0;
    } events;

    double requests_subtotal = 0;  // the requests priced, USD

    struct Storage {
        std::uint64_t total_bytes = 0;  // bytes written (see the header comment)
        double total_gb = 0;
        std::vector<PriceTier> tiers{};
        std::size_t current_tier = 0;  // the band the last GB falls in
        double subtotal = 0;           // per month
    } storage;

    struct DataTransfer {
        std::uint64_t in_bytes = 0;
        double in_gb = 0;
        double in_cost = 0;  // always free
        std::uint64_t out_bytes = 0;
        double out_gb = 0;
        std::vector<PriceTier> tiers{};
        double free_tier_gb = 0;
        double free_tier_used = 0;  // GB of the allowance taken (0 unless consider_free_tier)
        std::size_t current_tier = 0;
        double subtotal = 0;
    } data_transfer;

    struct Usage {
        std::uint64_t total_events = 0;  // transport calls (a DeleteObjects of > 1000 keys is one)
        std::map<std::string, CostUsage, std::less<>> by_resource{};
        std::map<std::string, CostUsage, std::less<>> by_plugin{};
        CostUsage database{};  // s3db.json
        CostUsage other{};     // keys of no resource or plugin (e.g. a LIST of the whole prefix)
    } usage;

    /// The seed's JSON: {total, prices{put, copy, post, list, get, head, delete}, requests{total,
    /// put, copy, post, list, get, head, delete}, events{total, PutObjectCommand, GetObjectCommand,
    /// CopyObjectCommand, HeadObjectCommand, DeleteObjectCommand, DeleteObjectsCommand,
    /// ListObjectsV2Command}}: every key of `requests` but `total` is a key of `prices`, as the
    /// seed's examples that price each entry need. Extras after it: requestsSubtotal,
    /// storage{totalBytes, totalGB, tiers, currentTier, subtotal}, dataTransfer{inBytes, inGB,
    /// inCost, outBytes, outGB, tiers, freeTierGB, freeTierUsed, currentTier, subtotal} (as s3db.js
    /// 21 has them; an unbounded tier's limit is null) and usage{totalEvents, byResource, byPlugin,
    /// resources, plugins, database, other}: each owner's requests, bytes and request cost.
    S3DB_DECL json to_json() const;
};

/// Who a request's key belongs to (see the header comment).
struct CostOwner {
    enum class Kind { database, resource, plugin, other };
    Kind kind = Kind::other;
    std::string_view name{};  // the resource or the plugin slug
    friend bool operator==(const CostOwner&, const CostOwner&) = default;
};

namespace detail {

inline constexpr double bytes_per_gb = 1024.0 * 1024.0 * 1024.0;

struct TierPrice {
    double cost = 0;
    std::size_t tier = 0;
};

/// `gb` priced band by band; beyond the last band's limit at its price.
S3DB_DECL TierPrice price_by_tier(double gb, const std::vector<PriceTier>& tiers);

/// The first `/`-separated segment of `key` if it is `<label>=<value>`: its value, else nullopt.
S3DB_DECL std::optional<std::string_view> key_segment(std::string_view key, std::string_view label);

}  // namespace detail

struct Costs : Plugin<Costs> {
    static constexpr std::string_view name = "Costs";

    Costs() = default;
    explicit Costs(CostsOptions options, PluginOptions plugin = {})
        : Plugin<Costs>(plugin), options_(std::move(options)) {}
    S3DB_DECL Costs(Costs&& o) noexcept;

    /// Negative or non-finite prices, empty tier lists or limits that do not grow are refused.
    S3DB_DECL void validate() const;

    /// Counts one answered request (every request is answered, with or without an error).
    S3DB_DECL void on_response(const RequestEvent& e);

    /// The costs so far, computed now from the counts and the prices.
    S3DB_DECL CostReport costs() const;

    /// Total cost so far, USD.
    S3DB_DECL double total() const;
    /// Requests so far, by command (cheaper than costs()).
    S3DB_DECL RequestCounts requests() const;

    /// Forgets everything counted so far.
    S3DB_DECL void reset();

    const CostsOptions& options() const noexcept { return options_; }

    /// Who a key belongs to: see the header comment.
    S3DB_DECL static CostOwner owner_of(std::string_view key) noexcept;

private:
    struct Tally {
        RequestCounts requests{};
        std::uint64_t in_bytes = 0, out_bytes = 0;
    };
    struct State {
        std::uint64_t events = 0;
        Tally all{}, database{}, other{};
        std::map<std::string, Tally, std::less<>> resources{}, plugins{};
    };

    S3DB_DECL static void add(Tally& t, const RequestCounts& n, const RequestEvent& e) noexcept;
    S3DB_DECL static Tally& tally_of(std::map<std::string, Tally, std::less<>>& m, std::string_view name);

    CostsOptions options_{};
    mutable std::mutex mutex_;
    State state_{};
};

}  // namespace s3db

#if S3DB_DEFINE_BODIES
#include <algorithm>
#include <cmath>

namespace s3db {

S3DB_DECL double RequestPrices::of(const RequestCounts& c) const noexcept {
    return static_cast<double>(c.put) * put + static_cast<double>(c.copy) * copy +
           static_cast<double>(c.remove_many) * post + static_cast<double>(c.list) * list +
           static_cast<double>(c.get) * get + static_cast<double>(c.head) * head +
           static_cast<double>(c.remove) * remove;
}

S3DB_DECL json CostReport::to_json() const {
    auto tiers_json = [](const std::vector<PriceTier>& tiers) {
        json out = json::array();
        for (auto& t : tiers)
            out.push_back({{"limit", std::isfinite(t.limit_gb) ? json(t.limit_gb) : json(nullptr)},
                           {"pricePerGB", t.price_per_gb}});
        return out;
    };
    auto counts_json = [](const RequestCounts& c) {
        return json{{"put", c.put}, {"post", c.remove_many}, {"copy", c.copy}, {"list", c.list},
                    {"get", c.get}, {"delete", c.remove}, {"head", c.head}};
    };
    auto usage_json = [&](const CostUsage& u) {
        return json{{"requests", u.requests.total()}, {"counts", counts_json(u.requests)},
                    {"inBytes", u.in_bytes}, {"outBytes", u.out_bytes}, {"requestCost", u.request_cost}};
    };
    json by_resource = json::object(), by_plugin = json::object(), resources = json::object(),
         plugins = json::object();
    for (auto& [name, u] : usage.by_resource) {
        by_resource[name] = u.requests.total();
        resources[name] = usage_json(u);
    }
    for (auto& [name, u] : usage.by_plugin) {
        by_plugin[name] = u.requests.total();
        plugins[name] = usage_json(u);
    }
    const auto& p = prices;
    const auto& r = requests;
    const auto& e = events;
    return json{
        {"total", total},
        {"prices",
         {{"put", p.put}, {"copy", p.copy}, {"post", p.post}, {"list", p.list}, {"get", p.get}, {"head", p.head},
          {"delete", p.remove}}},
        {"requests",
         {{"total", r.total}, {"put", r.put}, {"copy", r.copy}, {"post", r.post}, {"list", r.list}, {"get", r.get},
          {"head", r.head}, {"delete", r.remove}}},
        {"events",
         {{"total", e.total}, {"PutObjectCommand", e.put_object}, {"GetObjectCommand", e.get_object},
          {"CopyObjectCommand", e.copy_object}, {"HeadObjectCommand", e.head_object},
          {"DeleteObjectCommand", e.delete_object}, {"DeleteObjectsCommand", e.delete_objects},
          {"ListObjectsV2Command", e.list_objects_v2}}},
        {"requestsSubtotal", requests_subtotal},
        {"storage",
         {{"totalBytes", storage.total_bytes}, {"totalGB", storage.total_gb}, {"tiers", tiers_json(storage.tiers)},
          {"currentTier", storage.current_tier}, {"subtotal", storage.subtotal}}},
        {"dataTransfer",
         {{"inBytes", data_transfer.in_bytes}, {"inGB", data_transfer.in_gb}, {"inCost", data_transfer.in_cost},
          {"outBytes", data_transfer.out_bytes}, {"outGB", data_transfer.out_gb},
          {"tiers", tiers_json(data_transfer.tiers)}, {"freeTierGB", data_transfer.free_tier_gb},
          {"freeTierUsed", data_transfer.free_tier_used}, {"currentTier", data_transfer.current_tier},
          {"subtotal", data_transfer.subtotal}}},
        {"usage",
         {{"totalEvents", usage.total_events}, {"byResource", by_resource}, {"byPlugin", by_plugin},
          {"resources", resources}, {"plugins", plugins}, {"database", usage_json(usage.database)},
          {"other", usage_json(usage.other)}}},
    };
}

namespace detail {

S3DB_DECL TierPrice price_by_tier(double gb, const std::vector<PriceTier>& tiers) {
    TierPrice out;
    double floor = 0;
    for (std::size_t i = 0; i < tiers.size() && gb > floor; ++i) {
        double top = i + 1 == tiers.size() ? std::numeric_limits<double>::infinity() : tiers[i].limit_gb;
        out.cost += (std::min(gb, top) - floor) * tiers[i].price_per_gb;
        out.tier = i;
        floor = top;
    }
    return out;
}

S3DB_DECL std::optional<std::string_view> key_segment(std::string_view key, std::string_view label) {
    if (!key.starts_with(label) || key.size() <= label.size() || key[label.size()] != '=') return std::nullopt;
    auto rest = key.substr(label.size() + 1);
    return rest.substr(0, rest.find('/'));
}
}  // namespace detail

S3DB_DECL Costs::Costs(Costs&& o) noexcept : Plugin<Costs>(std::move(o)), options_(std::move(o.options_)) {
    std::lock_guard lock(o.mutex_);
    state_ = std::move(o.state_);
}

S3DB_DECL void Costs::validate() const {
    auto price = [](std::string_view what, double v) {
        if (!std::isfinite(v) || v < 0)
            throw PluginError(name, std::string(what) + " must be a finite price >= 0, not " + std::to_string(v));
    };
    const auto& p = options_.prices;
    for (auto [what, v] : {std::pair{"prices.put", p.put}, {"prices.copy", p.copy}, {"prices.post", p.post},
                           {"prices.list", p.list}, {"prices.get", p.get}, {"prices.head", p.head},
                           {"prices.remove", p.remove}})
        price(what, v);
    for (auto [what, tiers] : {std::pair{"storage_tiers", &options_.storage_tiers},
                               std::pair{"transfer_out_tiers", &options_.transfer_out_tiers}}) {
        if (tiers->empty()) throw PluginError(name, std::string(what) + " needs at least one tier");
        double previous = 0;
        for (std::size_t i = 0; i < tiers->size(); ++i) {
            const auto& t = (*tiers)[i];
            auto at = std::string(what) + "[" + std::to_string(i) + "]";
            price(at + ".price_per_gb", t.price_per_gb);
            if (!(t.limit_gb > previous))
                throw PluginError(name, at + ".limit_gb must be above " + std::to_string(previous) + " GB, not " +
                                            std::to_string(t.limit_gb));
            previous = t.limit_gb;
        }
    }
    if (!std::isfinite(options_.free_tier_gb) || options_.free_tier_gb < 0)
        throw PluginError(name, "free_tier_gb must be finite and >= 0, not " + std::to_string(options_.free_tier_gb));
}

S3DB_DECL void Costs::on_response(const RequestEvent& e) {
    RequestCounts n;
    if (e.command == "PUT") n.put = 1;
    else if (e.command == "GET") n.get = 1;
    else if (e.command == "HEAD") n.head = 1;
    else if (e.command == "COPY") n.copy = 1;
    else if (e.command == "DELETE") n.remove = 1;
    else if (e.command == "POST") n.remove_many = (e.keys.size() + max_delete_keys - 1) / max_delete_keys;
    else if (e.command == "LIST") n.list = 1;
    else return;  // a command S3 does not bill
    auto owner = owner_of(e.key);

    std::lock_guard lock(mutex_);
    ++state_.events;
    add(state_.all, n, e);
    switch (owner.kind) {
        case CostOwner::Kind::database: add(state_.database, n, e); break;
        case CostOwner::Kind::resource: add(tally_of(state_.resources, owner.name), n, e); break;
        case CostOwner::Kind::plugin: add(tally_of(state_.plugins, owner.name), n, e); break;
        case CostOwner::Kind::other: add(state_.other, n, e); break;
    }
}

S3DB_DECL CostReport Costs::costs() const {
    State s;
    {
        std::lock_guard lock(mutex_);
        s = state_;
    }
    const auto& o = options_;
    CostReport r;
    const auto& n = s.all.requests;
    r.prices = o.prices;
    r.requests = {.total = n.total(), .put = n.put, .copy = n.copy, .post = n.remove_many, .list = n.list,
                  .get = n.get, .head = n.head, .remove = n.remove};
    r.events = {.total = n.total(), .put_object = n.put, .get_object = n.get, .copy_object = n.copy,
                .head_object = n.head, .delete_object = n.remove, .delete_objects = n.remove_many,
                .list_objects_v2 = n.list};
    r.requests_subtotal = o.prices.of(n);

    r.storage.total_bytes = s.all.in_bytes;
    r.storage.total_gb = static_cast<double>(s.all.in_bytes) / detail::bytes_per_gb;
    r.storage.tiers = o.storage_tiers;
    auto stored = detail::price_by_tier(r.storage.total_gb, o.storage_tiers);
    r.storage.current_tier = stored.tier;
    r.storage.subtotal = stored.cost;

    auto& t = r.data_transfer;
    t.in_bytes = s.all.in_bytes;
    t.in_gb = r.storage.total_gb;
    t.out_bytes = s.all.out_bytes;
    t.out_gb = static_cast<double>(s.all.out_bytes) / detail::bytes_per_gb;
    t.tiers = o.transfer_out_tiers;
    t.free_tier_gb = o.free_tier_gb;
    t.free_tier_used = o.consider_free_tier ? std::min(t.out_gb, o.free_tier_gb) : 0.0;
    auto sent = detail::price_by_tier(t.out_gb - t.free_tier_used, o.transfer_out_tiers);
    t.current_tier = sent.tier;
    t.subtotal = sent.cost;

    r.total = r.requests_subtotal + r.storage.subtotal + t.subtotal;

    auto usage = [&](const Tally& x) {
        return CostUsage{x.requests, x.in_bytes, x.out_bytes, o.prices.of(x.requests)};
    };
    r.usage.total_events = s.events;
    for (auto& [k, x] : s.resources) r.usage.by_resource.emplace(k, usage(x));
    for (auto& [k, x] : s.plugins) r.usage.by_plugin.emplace(k, usage(x));
    r.usage.database = usage(s.database);
    r.usage.other = usage(s.other);
    return r;
}

S3DB_DECL double Costs::total() const { return costs().total; }

S3DB_DECL RequestCounts Costs::requests() const {
    std::lock_guard lock(mutex_);
    return state_.all.requests;
}

S3DB_DECL void Costs::reset() {
    std::lock_guard lock(mutex_);
    state_ = {};
}

S3DB_DECL CostOwner Costs::owner_of(std::string_view key) noexcept {
    using K = CostOwner::Kind;
    if (key == "s3db.json") return {K::database, {}};
    if (auto plugin = detail::key_segment(key, "plugin"); plugin && !plugin->empty()) return {K::plugin, *plugin};
    if (auto resource = detail::key_segment(key, "resource"); resource && !resource->empty()) {
        auto rest = key.substr(std::string_view("resource=").size() + resource->size());
        if (rest.starts_with('/'))
            if (auto plugin = detail::key_segment(rest.substr(1), "plugin"); plugin && !plugin->empty())
                return {K::plugin, *plugin};
        return {K::resource, *resource};
    }
    return {K::other, {}};
}

S3DB_DECL void Costs::add(Tally& t, const RequestCounts& n, const RequestEvent& e) noexcept {
    t.requests += n;  // a failed request is billed too
    if (!e.error) t.in_bytes += e.bytes_sent;  // but what it sent was not stored
    t.out_bytes += e.bytes_received;
}

S3DB_DECL Costs::Tally& Costs::tally_of(std::map<std::string, Tally, std::less<>>& m, std::string_view name) {
    auto it = m.find(name);
    if (it == m.end()) it = m.emplace(std::string(name), Tally{}).first;
    return it->second;
}

}  // namespace s3db
#endif  // S3DB_DEFINE_BODIES
