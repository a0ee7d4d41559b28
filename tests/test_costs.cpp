// The Costs plugin: every request counted by command exactly as the transport sends it (checked
// against Counting<T>), bytes written and read, prices by class and by tier, attribution to
// resources, plugins and the catalogue, thread safety, reset, the seed's JSON, and the same counts
// on a real S3 server (RGW).

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "s3db/plugins/costs.hpp"
#include "s3db/s3db.hpp"
#include "support/stores.hpp"

using namespace s3db;

namespace {

constexpr double gb = 1024.0 * 1024.0 * 1024.0;

/// Forwards to T and sums the bytes that go out (bodies + user metadata) and come back (GET
/// bodies), independently of the plugin, to check its storage and transfer figures.
template <Transport T>
class Metered {
public:
    explicit Metered(T inner) : inner_(std::move(inner)) {}
    Metered(Metered&& o) noexcept : inner_(std::move(o.inner_)), sent_(o.sent_.load()), received_(o.received_.load()) {}

    std::uint64_t sent() const { return sent_; }
    std::uint64_t received() const { return received_; }
    void reset() { sent_ = received_ = 0; }

    PutResult put(std::string_view key, std::string_view body, PutOptions o = {}) {
        sent_ += body.size() + metadata_bytes(o.metadata);
        return inner_.put(key, body, std::move(o));
    }
    std::optional<Object> get(std::string_view key, GetOptions o = {}) {
        auto r = inner_.get(key, std::move(o));
        if (r) received_ += r->body.size();
        return r;
    }
    std::optional<ObjectInfo> head(std::string_view key) { return inner_.head(key); }
    PutResult copy(std::string_view from, std::string_view to, CopyOptions o = {}) {
        sent_ += metadata_bytes(o.metadata);
        return inner_.copy(from, to, std::move(o));
    }
    void remove(std::string_view key) { inner_.remove(key); }
    RemoveManyResult remove_many(std::span<const std::string> keys) { return inner_.remove_many(keys); }
    ListPage list(ListOptions o = {}) { return inner_.list(std::move(o)); }

private:
    static std::uint64_t metadata_bytes(const Metadata& m) {
        std::uint64_t n = 0;
        for (auto& [k, v] : m) n += k.size() + v.size();
        return n;
    }
    T inner_;
    std::atomic<std::uint64_t> sent_{0}, received_{0};
};

/// The list prices, written out here rather than read from the plugin.
double list_price(const RequestCounts& c) {
    return static_cast<double>(c.put + c.copy + c.remove_many + c.list) * (0.005 / 1000) +
           static_cast<double>(c.get + c.head) * (0.0004 / 1000);
}

RequestCounts plus(RequestCounts a, const RequestCounts& b) {
    a.put += b.put, a.get += b.get, a.head += b.head, a.copy += b.copy;
    a.remove += b.remove, a.remove_many += b.remove_many, a.list += b.list;
    return a;
}

ResourceConfig users_config() {
    return {.name = "users",
            .attributes = {{"name", "string|required"}, {"region", "string|optional"}, {"visits", "number|optional"}},
            .partitions = {{"byRegion", {{"fields", {{"region", "string"}}}}}}};
}
ResourceConfig docs_config() {
    return {.name = "docs", .attributes = {{"title", "string|required"}, {"text", "string|optional"}},
            .behavior = "body-only"};
}

ResourceConfig tags_config() {
    return {.name = "tags", .attributes = {{"label", "string|required"}, {"uses", "number|optional"}},
            .behavior = "enforce-limits"};
}

/// insert, get, update, patch (HEAD + PUT; HEAD + COPY in place for a record with content), list,
/// count, pages, exists, delete and remove_many on three resources.
template <class Db>
void mixed_workload(Db& db) {
    auto& users = db.create_resource(users_config());
    auto& docs = db.create_resource(docs_config());
    auto& tags = db.create_resource(tags_config());
    std::vector<json> batch;
    for (int i = 0; i < 24; ++i) batch.push_back({{"name", "user" + std::to_string(i)}, {"region", i % 2 ? "eu" : "us"}});
    auto inserted = users.insert_many(batch);  // on the pool: requests from several threads
    std::vector<std::string> ids;
    for (auto& r : users.list_ids()) ids.push_back(r);
    ASSERT_EQ(ids.size(), 24u);
    std::vector<std::string> doc_ids;
    for (int i = 0; i < 4; ++i)
        doc_ids.push_back(docs.insert({{"title", "doc" + std::to_string(i)}, {"text", std::string(3000 + i, 'x')}})["id"]);

    users.get(ids[0]);
    EXPECT_FALSE(users.get_or_null("missing-id"));  // a 404 GET is billed too
    for (auto& id : doc_ids) docs.get(id);
    users.update(ids[1], json{{"visits", 3}});
    users.update(ids[2], [](json& u) { u["region"] = "eu"; });  // moves a partition ref
    users.patch(ids[3], json{{"visits", 1}});
    docs.update(doc_ids[0], json{{"title", "renamed"}});
    std::string tag = tags.insert({{"label", "new"}})["id"];
    tags.patch(tag, json{{"uses", 2}});
    EXPECT_EQ(tags.get(tag)["uses"], 2);
    tags.set_content(tag, "an icon", "image/png");
    tags.patch(tag, json{{"uses", 3}});  // keeps the content: COPY onto itself
    std::size_t in_eu = 0;
    for (auto& u : users.list()) in_eu += u.value("region", "") == "eu";
    EXPECT_EQ(users.list({.partition = "byRegion", .values = {{"region", "eu"}}}).size(), in_eu);
    EXPECT_EQ(docs.list().size(), 4u);
    EXPECT_EQ(users.count(), 24u);
    auto page = users.page(10);
    EXPECT_EQ(page.items.size(), 10u);
    EXPECT_TRUE(users.exists(ids[4]));
    users.remove(ids[5]);
    users.remove_many({ids[6], ids[7], ids[8]});
    docs.remove_many({doc_ids[1], doc_ids[2]});
    EXPECT_EQ(users.count(), 20u);
}

TEST(Costs, CountsEveryRequestByCommandExactlyAsTheTransportSendsIt) {
    using Store = Counting<Metered<Memory>>;
    BasicDatabase<Store, Costs> db(Store(Metered<Memory>(test::make_store<Memory>())));
    db.connect();
    auto& costs = db.plugin<Costs>();
    // connect() reads s3db.json (1 GET) before plugins install: the one request Costs cannot see.
    EXPECT_EQ(db.transport().counts().get, 1u);
    EXPECT_EQ(costs.requests().total(), 0u);
    db.transport().reset();
    db.transport().inner().reset();

    mixed_workload(db);

    auto sent = db.transport().counts();
    auto c = costs.costs();
    EXPECT_EQ(c.requests.counts(), sent);
    EXPECT_EQ(costs.requests(), sent);
    EXPECT_EQ(c.requests.total, sent.total());
    EXPECT_EQ(c.events.total, sent.total());
    EXPECT_EQ(c.usage.total_events, sent.total());  // no DeleteObjects above 1000 keys here
    for (auto n : {sent.put, sent.get, sent.head, sent.copy, sent.remove, sent.remove_many, sent.list}) EXPECT_GT(n, 0u);

    // Requests priced at the list prices, DELETE free.
    EXPECT_DOUBLE_EQ(c.requests_subtotal, list_price(sent));
    // Storage: every byte written; transfer out: every GET body byte.
    EXPECT_EQ(c.storage.total_bytes, db.transport().inner().sent());
    EXPECT_EQ(c.data_transfer.in_bytes, db.transport().inner().sent());
    EXPECT_EQ(c.data_transfer.out_bytes, db.transport().inner().received());
    EXPECT_GT(c.data_transfer.out_bytes, 4 * 3000u);  // the body-only docs came back
    EXPECT_DOUBLE_EQ(c.storage.subtotal, static_cast<double>(c.storage.total_bytes) / gb * 0.023);
    EXPECT_DOUBLE_EQ(c.data_transfer.subtotal, static_cast<double>(c.data_transfer.out_bytes) / gb * 0.09);
    EXPECT_EQ(c.data_transfer.in_cost, 0.0);
    EXPECT_DOUBLE_EQ(c.total, list_price(sent) + c.storage.subtotal + c.data_transfer.subtotal);
    EXPECT_DOUBLE_EQ(costs.total(), c.total);
}

TEST(Costs, EachRequestHasOneOwnerAndTheOwnersAddUpToTheTotals) {
    using Store = Counting<Memory>;
    BasicDatabase<Store, Costs> db(Store(test::make_store<Memory>()));
    db.connect();
    db.transport().reset();
    mixed_workload(db);
    auto c = db.plugin<Costs>().costs();
    ASSERT_EQ(c.usage.by_resource.size(), 3u);
    EXPECT_TRUE(c.usage.by_plugin.empty());
    RequestCounts sum = plus(c.usage.database.requests, c.usage.other.requests);
    std::uint64_t in = c.usage.database.in_bytes + c.usage.other.in_bytes;
    std::uint64_t out = c.usage.database.out_bytes + c.usage.other.out_bytes;
    for (auto& [_, u] : c.usage.by_resource) {
        sum = plus(sum, u.requests);
        in += u.in_bytes;
        out += u.out_bytes;
        EXPECT_DOUBLE_EQ(u.request_cost, list_price(u.requests));
    }
    EXPECT_EQ(sum, c.requests.counts());
    EXPECT_EQ(in, c.storage.total_bytes);
    EXPECT_EQ(out, c.data_transfer.out_bytes);
    // Three create_resource: each reads and conditionally rewrites s3db.json.
    EXPECT_EQ(c.usage.database.requests, (RequestCounts{.put = 3, .get = 3}));
    EXPECT_EQ(c.usage.other.requests.total(), 0u);
    EXPECT_GT(c.usage.by_resource.at("docs").out_bytes, 4 * 3000u);
}

/// A plugin that writes to its storage when told: globally and per resource.
struct Notes : Plugin<Notes> {
    static constexpr std::string_view name = "Notes";
    void note(std::string_view text) { storage().set("last", json{{"text", text}}); }
    void note_for(std::string_view resource, std::string_view text) {
        storage().set(storage().plugin_key(resource, "last"), json{{"text", text}});
    }
    std::optional<json> read(std::string_view resource) { return storage().get(storage().plugin_key(resource, "last")); }
};

TEST(Costs, AttributesRequestsToTheirResourceOrPluginByKey) {
    using Store = Counting<Memory>;
    BasicDatabase<Store, Costs, Notes> db(Store(test::make_store<Memory>()));
    db.connect();
    auto& costs = db.plugin<Costs>();
    auto& notes = db.plugin<Notes>();
    auto& store = db.transport();
    auto& users = db.create_resource(users_config());
    auto& orders = db.create_resource({.name = "orders", .attributes = {{"total", "number|required"}}});
    auto delta = [&, last = store.counts()]() mutable {
        auto now = store.counts();
        auto d = now - last;
        last = now;
        return d;
    };
    delta();

    std::string ada = users.insert({{"name", "Ada"}, {"region", "eu"}})["id"];
    users.get(ada);
    users.list();
    auto by_users = delta();
    orders.insert({{"total", 12}});
    orders.count();
    auto by_orders = delta();
    notes.note("global");
    auto by_notes = delta();
    notes.note_for("users", "per resource");  // resource=users/plugin=notes/...: the plugin's
    EXPECT_TRUE(notes.read("users"));
    by_notes = plus(by_notes, delta());

    auto c = costs.costs();
    EXPECT_EQ(c.usage.by_resource.at("users").requests, by_users);
    EXPECT_EQ(c.usage.by_resource.at("orders").requests, by_orders);
    ASSERT_EQ(c.usage.by_plugin.size(), 1u);
    EXPECT_EQ(c.usage.by_plugin.at("notes").requests, by_notes);
    EXPECT_EQ(by_notes, (RequestCounts{.put = 2, .get = 1}));
    EXPECT_GT(c.usage.by_plugin.at("notes").in_bytes, 0u);
    EXPECT_DOUBLE_EQ(c.usage.by_plugin.at("notes").request_cost, 2 * 0.005 / 1000 + 0.0004 / 1000);
    EXPECT_EQ(c.usage.database.requests, (RequestCounts{.put = 2, .get = 2}));

    auto j = c.to_json();
    EXPECT_EQ(j["usage"]["byResource"]["users"], by_users.total());
    EXPECT_EQ(j["usage"]["byPlugin"]["notes"], 3);
    EXPECT_EQ(j["usage"]["plugins"]["notes"]["counts"]["put"], 2);
}

TEST(Costs, OwnerOfAKeyFollowsTheBucketLayout) {
    using K = CostOwner::Kind;
    EXPECT_EQ(Costs::owner_of("s3db.json"), (CostOwner{K::database, {}}));
    EXPECT_EQ(Costs::owner_of("resource=users/data/id=abc"), (CostOwner{K::resource, "users"}));
    EXPECT_EQ(Costs::owner_of("resource=users/partition=byRegion/region=eu/id=abc"), (CostOwner{K::resource, "users"}));
    EXPECT_EQ(Costs::owner_of("resource=users"), (CostOwner{K::resource, "users"}));  // a LIST prefix
    EXPECT_EQ(Costs::owner_of("resource=users/plugin=cache/k"), (CostOwner{K::plugin, "cache"}));
    EXPECT_EQ(Costs::owner_of("plugin=audit/2024/x"), (CostOwner{K::plugin, "audit"}));
    EXPECT_EQ(Costs::owner_of("plugin=audit/"), (CostOwner{K::plugin, "audit"}));
    EXPECT_EQ(Costs::owner_of(""), (CostOwner{K::other, {}}));
    EXPECT_EQ(Costs::owner_of("resource="), (CostOwner{K::other, {}}));
    EXPECT_EQ(Costs::owner_of("resources=users/x"), (CostOwner{K::other, {}}));
    EXPECT_EQ(Costs::owner_of("s3db.json.bak"), (CostOwner{K::other, {}}));
}

TEST(Costs, DeleteObjectsOfMoreThanAThousandKeysIsOneRequestPerThousand) {
    using Store = Counting<Memory>;
    BasicDatabase<Store, Costs> db(Store(test::make_store<Memory>()));
    db.connect();
    db.transport().reset();
    std::vector<std::string> keys;
    for (int i = 0; i < 2500; ++i) keys.push_back("resource=bulk/data/id=" + std::to_string(i));
    db.store().remove_many(keys);
    auto c = db.plugin<Costs>().costs();
    EXPECT_EQ(c.requests.counts(), db.transport().counts());
    EXPECT_EQ(c.requests.post, 3u);
    EXPECT_EQ(c.events.delete_objects, 3u);  // one DeleteObjectsCommand per 1000 keys, as s3db.js sends them
    EXPECT_EQ(c.usage.total_events, 1u);     // one transport call
    EXPECT_DOUBLE_EQ(c.requests_subtotal, 3 * 0.005 / 1000);
    EXPECT_EQ(c.usage.by_resource.at("bulk").requests.remove_many, 3u);
}

TEST(Costs, DeleteIsFreeAndEveryOtherClassHasItsListPrice) {
    Costs costs;
    auto send = [&](std::string_view command, int n) {
        for (int i = 0; i < n; ++i) costs.on_response(RequestEvent{command, "resource=r/data/id=x"});
    };
    send("DELETE", 1000);
    EXPECT_EQ(costs.costs().requests.remove, 1000u);
    EXPECT_EQ(costs.total(), 0.0);
    send("PUT", 1000), send("COPY", 1000), send("LIST", 1000), send("GET", 1000), send("HEAD", 1000);
    auto c = costs.costs();
    EXPECT_DOUBLE_EQ(c.requests_subtotal, 3 * 0.005 + 2 * 0.0004);
    EXPECT_DOUBLE_EQ(c.total, 3 * 0.005 + 2 * 0.0004);
}

TEST(Costs, PricesAndTiersComeFromTheOptions) {
    // Cloudflare R2-like: class A $4.50, class B $0.36 per million, storage $0.015, no egress.
    CostsOptions o;
    o.prices = {.put = 4.5e-6, .copy = 4.5e-6, .post = 4.5e-6, .list = 4.5e-6, .get = 3.6e-7, .head = 3.6e-7, .remove = 0};
    o.storage_tiers = {{CostsOptions::unbounded, 0.015}};
    o.transfer_out_tiers = {{CostsOptions::unbounded, 0.0}};
    Costs costs(o);
    costs.on_response(RequestEvent{"PUT", "k", {}, static_cast<std::uint64_t>(10 * gb)});
    costs.on_response(RequestEvent{"GET", "k", {}, 0, static_cast<std::uint64_t>(5 * gb)});
    auto c = costs.costs();
    EXPECT_DOUBLE_EQ(c.requests_subtotal, 4.5e-6 + 3.6e-7);
    EXPECT_DOUBLE_EQ(c.storage.subtotal, 10 * 0.015);
    EXPECT_EQ(c.data_transfer.subtotal, 0.0);
    EXPECT_DOUBLE_EQ(c.total, 4.5e-6 + 3.6e-7 + 0.15);
}

TEST(Costs, StorageIsPricedPerGigabyteMonthByTier) {
    Costs costs;
    auto tb = static_cast<std::uint64_t>(1024 * gb);
    costs.on_response(RequestEvent{"PUT", "k", {}, 40 * tb});
    auto c = costs.costs();
    EXPECT_DOUBLE_EQ(c.storage.total_gb, 40 * 1024.0);
    EXPECT_DOUBLE_EQ(c.storage.subtotal, 40 * 1024 * 0.023);
    EXPECT_EQ(c.storage.current_tier, 0u);
    costs.on_response(RequestEvent{"COPY", "k", {}, 20 * tb});  // 60 TB: 50 at $0.023, 10 at $0.022
    c = costs.costs();
    EXPECT_DOUBLE_EQ(c.storage.subtotal, 50 * 1024 * 0.023 + 10 * 1024 * 0.022);
    EXPECT_EQ(c.storage.current_tier, 1u);
    costs.on_response(RequestEvent{"PUT", "k", {}, 500 * tb});  // 560 TB
    c = costs.costs();
    EXPECT_DOUBLE_EQ(c.storage.subtotal, 50 * 1024 * 0.023 + 450 * 1024 * 0.022 + 60 * 1024 * 0.021);
    EXPECT_EQ(c.storage.current_tier, 2u);
}

TEST(Costs, TransferOutIsPricedByTierAfterTheOptionalFreeAllowance) {
    auto tb = static_cast<std::uint64_t>(1024 * gb);
    Costs costs;
    costs.on_response(RequestEvent{"GET", "k", {}, 0, 11 * tb});  // 10 TB at $0.09, 1 TB at $0.085
    auto c = costs.costs();
    EXPECT_DOUBLE_EQ(c.data_transfer.subtotal, 10 * 1024 * 0.09 + 1024 * 0.085);
    EXPECT_EQ(c.data_transfer.current_tier, 1u);
    EXPECT_EQ(c.data_transfer.free_tier_used, 0.0);
    costs.on_response(RequestEvent{"GET", "k", {}, 0, 189 * tb});  // 200 TB: every band
    c = costs.costs();
    EXPECT_DOUBLE_EQ(c.data_transfer.subtotal, 10 * 1024 * 0.09 + 40 * 1024 * 0.085 + 100 * 1024 * 0.07 + 50 * 1024 * 0.05);
    EXPECT_EQ(c.data_transfer.current_tier, 3u);

    Costs free(CostsOptions{.consider_free_tier = true});
    free.on_response(RequestEvent{"GET", "k", {}, 0, static_cast<std::uint64_t>(50 * gb)});
    c = free.costs();
    EXPECT_EQ(c.data_transfer.subtotal, 0.0);
    EXPECT_DOUBLE_EQ(c.data_transfer.free_tier_used, 50);
    free.on_response(RequestEvent{"GET", "k", {}, 0, static_cast<std::uint64_t>(100 * gb)});
    c = free.costs();
    EXPECT_DOUBLE_EQ(c.data_transfer.free_tier_used, 100);
    EXPECT_DOUBLE_EQ(c.data_transfer.subtotal, 50 * 0.09);
    EXPECT_DOUBLE_EQ(c.total, c.requests_subtotal + 50 * 0.09);
}

TEST(Costs, CountsNothingLostWhenManyThreadsReportAtOnce) {
    Costs costs;
    constexpr int threads = 8, each = 5000;
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&costs, t] {
            std::string key = "resource=r" + std::to_string(t % 4) + "/data/id=x";
            for (int i = 0; i < each; ++i)
                costs.on_response(RequestEvent{i % 2 ? "GET" : "PUT", key, {}, i % 2 ? 0u : 10u, i % 2 ? 7u : 0u});
        });
    for (auto& t : pool) t.join();
    auto c = costs.costs();
    EXPECT_EQ(c.requests.counts(), (RequestCounts{.put = threads * each / 2, .get = threads * each / 2}));
    EXPECT_EQ(c.storage.total_bytes, 10u * threads * each / 2);
    EXPECT_EQ(c.data_transfer.out_bytes, 7u * threads * each / 2);
    ASSERT_EQ(c.usage.by_resource.size(), 4u);
    for (auto& [_, u] : c.usage.by_resource) EXPECT_EQ(u.requests.total(), 2u * each);
}

TEST(Costs, ResetForgetsEverythingCountedSoFar) {
    using Store = Counting<Memory>;
    BasicDatabase<Store, Costs> db(Store(test::make_store<Memory>()));
    db.connect();
    auto& users = db.create_resource(users_config());
    users.insert({{"name", "Ada"}});
    auto& costs = db.plugin<Costs>();
    EXPECT_GT(costs.total(), 0.0);
    costs.reset();
    auto c = costs.costs();
    EXPECT_EQ(c.requests.total, 0u);
    EXPECT_EQ(c.total, 0.0);
    EXPECT_EQ(c.storage.total_bytes, 0u);
    EXPECT_TRUE(c.usage.by_resource.empty());
    db.transport().reset();
    users.list();
    EXPECT_EQ(costs.requests(), db.transport().counts());
}

TEST(Costs, AFailedWriteIsBilledAsARequestButStoresNothing) {
    using Store = Counting<Memory>;
    BasicDatabase<Store, Costs> db(Store(test::make_store<Memory>()));
    db.connect();
    auto& users = db.create_resource(users_config());
    users.insert({{"id", "ada"}, {"name", "Ada"}});
    auto& costs = db.plugin<Costs>();
    auto before = costs.costs();
    EXPECT_THROW(users.insert({{"id", "ada"}, {"name", "Ada again"}}), AlreadyExists);  // PUT answered 412
    auto after = costs.costs();
    EXPECT_EQ(after.requests.put, before.requests.put + 1);
    EXPECT_EQ(after.storage.total_bytes, before.storage.total_bytes);
    EXPECT_EQ(after.data_transfer.in_bytes, before.data_transfer.in_bytes);
}

TEST(Costs, AddedAtRunTimeCountsFromTheMomentItIsInstalled) {
    using Store = Counting<Memory>;
    BasicDatabase<Store> db(Store(test::make_store<Memory>()));
    db.connect();
    auto& users = db.create_resource(users_config());
    users.insert({{"name", "before"}});
    auto& costs = db.use_plugin(Costs{});
    db.transport().reset();
    users.insert({{"name", "Ada"}, {"region", "eu"}});
    users.list({.partition = "byRegion", .values = {{"region", "eu"}}});
    users.count();
    auto c = costs.costs();
    EXPECT_EQ(c.requests.counts(), db.transport().counts());
    EXPECT_DOUBLE_EQ(c.requests_subtotal, list_price(db.transport().counts()));
    EXPECT_EQ(&db.plugin<Costs>(), &costs);
    db.uninstall_plugin("Costs");
    users.count();
    EXPECT_EQ(costs.costs().requests.counts(), c.requests.counts());  // uninstalled: no longer counting
}

TEST(Costs, RefusesPricesAndTiersThatCannotBeRight) {
    auto refused = [](CostsOptions o) {
        BasicDatabase<Memory> db(Memory{});
        try {
            db.use_plugin(Costs(std::move(o)));
        } catch (const PluginError& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    EXPECT_NE(refused({.prices = {.get = -1}}).find("prices.get"), std::string::npos);
    EXPECT_NE(refused({.storage_tiers = {}}).find("storage_tiers needs at least one tier"), std::string::npos);
    EXPECT_NE(refused({.transfer_out_tiers = {{100, 0.09}, {50, 0.08}}}).find("transfer_out_tiers[1].limit_gb"),
              std::string::npos);
    EXPECT_NE(refused({.free_tier_gb = NAN}).find("free_tier_gb"), std::string::npos);
    EXPECT_EQ(refused({}), "");
    // In the type: refused when the database is built.
    EXPECT_THROW((BasicDatabase<Memory, Costs>(Memory{}, {}, Costs(CostsOptions{.prices = {.put = INFINITY}}))),
                 PluginError);
}

TEST(Costs, ReportsTheSeedsCostObjectAsJson) {
    Costs costs;
    costs.on_response(RequestEvent{"PUT", "resource=users/data/id=1", {}, 100});
    costs.on_response(RequestEvent{"GET", "resource=users/data/id=1", {}, 0, 40});
    costs.on_response(RequestEvent{"HEAD", "s3db.json"});
    std::vector<std::string> keys{"plugin=audit/a", "plugin=audit/b"};
    costs.on_response(RequestEvent{"POST", keys[0], keys});
    costs.on_response(RequestEvent{"DELETE", "x"});
    costs.on_response(RequestEvent{"LIST", "resource=users/"});
    costs.on_response(RequestEvent{"COPY", "resource=users/data/id=1", {}, 10});
    costs.on_response(RequestEvent{"GET", "resource=users/data/id=2"});
    auto j = costs.costs().to_json();

    // The seed's shape: {total, prices, requests{total, <class>...}, events{total, <Command>...}}.
    EXPECT_DOUBLE_EQ(j["total"].get<double>(), costs.total());
    const double put = 0.005 / 1000, get = 0.0004 / 1000;
    EXPECT_EQ(j["prices"],
              (json{{"put", put}, {"copy", put}, {"post", put}, {"list", put}, {"get", get}, {"head", get}, {"delete", 0.0}}));
    EXPECT_EQ(j["requests"], (json{{"total", 8}, {"put", 1}, {"copy", 1}, {"post", 1}, {"list", 1}, {"get", 2},
                                   {"head", 1}, {"delete", 1}}));
    EXPECT_EQ(j["events"], (json{{"total", 8}, {"PutObjectCommand", 1}, {"GetObjectCommand", 2},
                                 {"CopyObjectCommand", 1}, {"HeadObjectCommand", 1}, {"DeleteObjectCommand", 1},
                                 {"DeleteObjectsCommand", 1}, {"ListObjectsV2Command", 1}}));
    // The seed prices each entry of `requests` other than `total` with `prices[entry]`: that must add up.
    double priced = 0;
    for (auto& [klass, count] : j["requests"].items())
        if (klass != "total") priced += count.get<double>() * j["prices"].at(klass).get<double>();
    EXPECT_DOUBLE_EQ(priced, 4 * put + 3 * get);
    EXPECT_DOUBLE_EQ(j["requestsSubtotal"].get<double>(), priced);

    // The extras: storage and data transfer as s3db.js 21 has them, and usage by owner.
    EXPECT_EQ(j["storage"]["totalBytes"], 110);
    EXPECT_EQ(j["storage"]["tiers"][0], (json{{"limit", 50 * 1024.0}, {"pricePerGB", 0.023}}));
    EXPECT_TRUE(j["storage"]["tiers"][2]["limit"].is_null());  // unbounded
    EXPECT_EQ(j["dataTransfer"]["inBytes"], 110);
    EXPECT_EQ(j["dataTransfer"]["outBytes"], 40);
    EXPECT_EQ(j["dataTransfer"]["freeTierGB"], 100.0);
    EXPECT_EQ(j["dataTransfer"]["inCost"], 0.0);
    EXPECT_EQ(j["usage"]["totalEvents"], 8);
    EXPECT_EQ(j["usage"]["byResource"], (json{{"users", 5}}));
    EXPECT_EQ(j["usage"]["byPlugin"], (json{{"audit", 1}}));
    EXPECT_EQ(j["usage"]["database"]["counts"]["head"], 1);
    EXPECT_EQ(j["usage"]["other"]["counts"]["delete"], 1);
    EXPECT_EQ(j["usage"]["resources"]["users"]["outBytes"], 40);
    std::vector<std::string> top;
    for (auto& [k, _] : j.items()) top.push_back(k);
    EXPECT_EQ(top, (std::vector<std::string>{"dataTransfer", "events", "prices", "requests", "requestsSubtotal",
                                             "storage", "total", "usage"}));
}

TEST(Costs, ReportsEachRequestUnderItsClassAndItsCommand) {
    Costs costs;
    auto send = [&](std::string_view command, int n, std::size_t keys = 0) {
        std::vector<std::string> batch(keys, "k");
        for (int i = 0; i < n; ++i) costs.on_response(RequestEvent{command, "k", batch});
    };
    send("PUT", 1), send("GET", 2), send("HEAD", 3), send("COPY", 4), send("DELETE", 5), send("LIST", 6);
    send("POST", 1, 2001);  // one DeleteObjects call of 2001 keys: 3 requests
    auto c = costs.costs();
    EXPECT_EQ(c.requests.put, 1u);
    EXPECT_EQ(c.requests.get, 2u);
    EXPECT_EQ(c.requests.head, 3u);
    EXPECT_EQ(c.requests.copy, 4u);
    EXPECT_EQ(c.requests.remove, 5u);
    EXPECT_EQ(c.requests.list, 6u);
    EXPECT_EQ(c.requests.post, 3u);
    EXPECT_EQ(c.requests.total, 24u);
    EXPECT_EQ(c.events.put_object, 1u);
    EXPECT_EQ(c.events.get_object, 2u);
    EXPECT_EQ(c.events.head_object, 3u);
    EXPECT_EQ(c.events.copy_object, 4u);
    EXPECT_EQ(c.events.delete_object, 5u);
    EXPECT_EQ(c.events.list_objects_v2, 6u);
    EXPECT_EQ(c.events.delete_objects, 3u);
    EXPECT_EQ(c.events.total, 24u);
    EXPECT_EQ(c.usage.total_events, 22u);  // transport calls
    EXPECT_EQ(c.requests.counts(), costs.requests());
    EXPECT_EQ(c.prices, CostsOptions{}.prices);
    EXPECT_DOUBLE_EQ(c.requests_subtotal, c.prices.of(c.requests.counts()));
}

TEST(Costs, CountsOnARealS3ServerEqualWhatTheTransportSent) {
    using Store = Counting<Metered<S3>>;
    BasicDatabase<Store, Costs> db(Store(Metered<S3>(test::make_store<S3>())));
    db.connect();
    db.transport().reset();
    db.transport().inner().reset();
    mixed_workload(db);
    auto c = db.plugin<Costs>().costs();
    auto sent = db.transport().counts();
    EXPECT_EQ(c.requests.counts(), sent);
    EXPECT_GT(sent.total(), 50u);
    EXPECT_DOUBLE_EQ(c.requests_subtotal, list_price(sent));
    EXPECT_EQ(c.storage.total_bytes, db.transport().inner().sent());
    EXPECT_EQ(c.data_transfer.out_bytes, db.transport().inner().received());
    EXPECT_EQ(c.usage.database.requests, (RequestCounts{.put = 3, .get = 3}));
    EXPECT_EQ(plus(plus(c.usage.by_resource.at("users").requests, c.usage.by_resource.at("docs").requests),
                   c.usage.by_resource.at("tags").requests),
              sent - c.usage.database.requests);
}

}  // namespace
