// A program using every plugin on the store a connection string picks: what a user's TU pays.
#include <cstdio>

#include "s3db/s3db.hpp"

int main() {
    s3db::Database<s3db::Cache<s3db::Memory>, s3db::Audit, s3db::Costs, s3db::Metrics> db("memory://compile-bench");
    auto& users = db.create_resource({.name = "users", .attributes = {{"name", "string|required"}, {"age", "number"}}});
    auto id = users.insert({{"name", "Ada"}, {"age", 36}})["id"].get<std::string>();
    users.update(id, {{"age", 37}});
    std::printf("%s %zu\n", users.get(id).dump().c_str(), users.count());
    users.remove(id);
}
