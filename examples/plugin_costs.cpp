// The Costs plugin: what a workload would cost on Amazon S3 (us-east-1 list prices), request by
// request, here on the embedded filesystem store. The same code prices a real bucket with an s3://
// connection string. Exits non-zero if the report does not add up.

#include <s3db/plugins/costs.hpp>
#include <s3db/s3db.hpp>

#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>

int main() {
    std::filesystem::remove_all("costs-db");  // a fresh database on every run
    s3db::Database<s3db::Costs> db("file://./costs-db");
    db.connect();

    auto& products = db.create_resource({
        .name = "products",
        .attributes = {{"name", "string|required"}, {"price", "number|required"}, {"description", "string|optional"}},
        .behavior = "body-overflow",  // long descriptions spill into the object body
    });
    for (int i = 0; i < 20; ++i)
        products.insert({{"name", "Widget " + std::to_string(i)}, {"price", 10 + i},
                         {"description", std::string(i % 4 == 0 ? 3000 : 40, 'd')}});
    auto all = products.list();
    products.count();
    std::string id = all.front()["id"];
    products.update(id, [](s3db::json& p) { p["price"] = p["price"].get<double>() * 0.9; });
    products.remove(id);

    const auto c = db.plugin<s3db::Costs>().costs();
    const auto& n = c.requests;  // by class, priced by c.prices (s3db.js's names: post, delete = remove)
    std::cout << std::fixed << std::setprecision(8);
    std::cout << "requests   " << n.total << " (PUT " << n.put << ", GET " << n.get << ", HEAD " << n.head
              << ", COPY " << n.copy << ", LIST " << n.list << ", DELETE " << n.remove << ", DeleteObjects "
              << n.post << ")  $" << c.requests_subtotal << "\n";
    std::cout << "storage    " << c.storage.total_bytes << " bytes written, priced per month  $" << c.storage.subtotal
              << "\n";
    std::cout << "transfer   " << c.data_transfer.out_bytes << " bytes out  $" << c.data_transfer.subtotal << "\n";
    std::cout << "total      $" << c.total << "\n";
    for (const auto& [name, u] : c.usage.by_resource)
        std::cout << "  resource " << name << ": " << u.requests.total() << " requests  $" << u.request_cost << "\n";
    std::cout << "  s3db.json: " << c.usage.database.requests.total() << " requests  $" << c.usage.database.request_cost
              << "\n";
    std::cout << c.to_json().dump(2) << "\n";

    // The figures must add up: list prices per request class, DELETE free, GB = 2^30 bytes.
    const double gb = 1024.0 * 1024 * 1024;
    const double requests = static_cast<double>(n.put + n.copy + n.list + n.post) * 0.005 / 1000 +
                            static_cast<double>(n.get + n.head) * 0.0004 / 1000;
    const double storage = static_cast<double>(c.storage.total_bytes) / gb * 0.023;
    const double transfer = static_cast<double>(c.data_transfer.out_bytes) / gb * 0.09;
    auto same = [](double a, double b) { return std::abs(a - b) <= 1e-12 * std::max(1.0, std::abs(b)); };
    bool ok = n.put >= 20 && n.remove == 1 && c.data_transfer.out_bytes >= 5 * 3000 &&
              n.total == n.counts().total() && c.events.total == n.total && same(c.requests_subtotal, requests) &&
              same(c.storage.subtotal, storage) && same(c.data_transfer.subtotal, transfer) &&
              same(c.total, requests + storage + transfer) &&
              c.usage.by_resource.at("products").requests.total() + c.usage.database.requests.total() == n.total;
    std::cout << (ok ? "the report adds up\n" : "the report does NOT add up\n");
    return ok ? 0 : 1;
}
