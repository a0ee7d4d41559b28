// Writing a plugin: a class deriving from s3db::Plugin<Self>, with a name and only the hooks it
// needs. Named in the database's type, its hooks are called directly; the hooks it lacks cost nothing.
// Shown here: a before hook that changes and rejects data, deferred setup on a resource created
// later (on_resource_created), plugin storage, status, and the same plugin added at run time.

#include <s3db/s3db.hpp>

#include <cstdlib>
#include <filesystem>
#include <iostream>

namespace {

void check(bool ok, const char* claim) {
    if (ok) return;
    std::cerr << "FAILED: " << claim << "\n";
    std::exit(1);
}

/// Keeps wallet balances non-negative and counts the wallets it has seen.
struct Guard : s3db::Plugin<Guard> {
    static constexpr std::string_view name = "Guard";
    std::string resource = "wallets";
    bool ready = false;

    void validate() const {
        if (resource.empty()) throw s3db::ConfigError("Guard needs the name of the resource it guards");
    }
    // Called for every resource that exists when the plugin installs and every one created later:
    // a plugin set up before its resource exists finishes its setup here.
    template <class Res>
    void on_resource_created(Res& r) {
        if (r.name() == resource) ready = true;
    }
    void before_insert(s3db::OperationContext& ctx) { check_balance(ctx); }
    void before_update(s3db::OperationContext& ctx) { check_balance(ctx); }
    void after_insert(s3db::OperationContext& ctx) {
        if (ctx.resource == resource) storage().increment("wallets-created");
    }

private:
    void check_balance(s3db::OperationContext& ctx) {
        if (ctx.resource != resource) return;
        if (double balance = ctx.data.value("balance", 0.0); balance < 0)
            throw s3db::ValidationError({{"balance", "numberMin", ctx.data["balance"].dump(), "0", "a balance cannot go below zero"}},
                                        "resource 'wallets', record '" + ctx.id + "'");
        ctx.data["checked"] = true;
    }
};

}  // namespace

int main() {
    std::filesystem::remove_all("plugin-custom-db");
    s3db::Database<Guard> db("file://./plugin-custom-db");
    db.connect();  // installs and starts Guard: the wallets resource does not exist yet
    check(!db.plugin<Guard>().ready, "set-up waits for the resource");

    auto& wallets = db.create_resource(
        {.name = "wallets", .attributes = {{"owner", "string"}, {"balance", "number"}, {"checked", "boolean|optional"}}});
    check(db.plugin<Guard>().ready, "set-up finishes when the resource is created");

    auto w = wallets.insert({{"id", "ada"}, {"owner", "Ada"}, {"balance", 10}});
    check(w["checked"] == true, "the before hook changed the record");
    try {
        wallets.update("ada", [](s3db::json& r) { r["balance"] = -5; });
        check(false, "a negative balance is refused");
    } catch (const s3db::ValidationError& e) {
        std::cout << "refused: " << e.what() << "\n";
    }
    check(wallets.get("ada")["balance"] == 10, "a refused update writes nothing");
    check(db.plugin<Guard>().storage().get("wallets-created") == s3db::json{{"value", 1}},
          "the plugin counted in its own storage");

    for (auto& s : db.status())
        std::cout << s.name << ": " << s3db::to_string(s.state) << (s.healthy ? ", healthy" : ", unhealthy") << "\n";

    // The same class, chosen at run time (type-erased behind one virtual interface).
    std::filesystem::remove_all("plugin-custom-db2");
    s3db::Database<> plain("file://./plugin-custom-db2");
    plain.connect();
    auto& accounts = plain.create_resource({.name = "wallets", .attributes = {{"balance", "number"}, {"checked", "boolean|optional"}}});
    plain.use_plugin(Guard{});  // the resource exists: set up at once
    check(plain.plugin<Guard>().ready, "a plugin added after the resource sets up at once");
    check(accounts.insert({{"balance", 3}})["checked"] == true, "run-time plugins run the same hooks");

    std::size_t purged = db.uninstall_plugin("Guard", {.purge_data = true});
    std::cout << "uninstalled Guard, purged " << purged << " object(s) of its storage\n";
    check(purged == 1, "purge deletes the plugin's storage");
}
