// expect: s3db: a plugin in Database<...> has no default constructor
// Plugins left out of the constructor are default-constructed: one that cannot be must be given.
#include <s3db/core/any_database.hpp>

#include <string>

struct Quiet : s3db::Plugin<Quiet> {
    static constexpr std::string_view name = "Quiet";
};
struct Keyed : s3db::Plugin<Keyed> {
    static constexpr std::string_view name = "Keyed";
    explicit Keyed(std::string k) : key(std::move(k)) {}
    std::string key;
};

int main() {
#ifdef S3DB_COMPILE_OK
    s3db::Database<Quiet, Keyed> db("memory://compile-check", {}, Keyed("k"));
#else
    s3db::Database<Quiet, Keyed> db("memory://compile-check", {}, Quiet{});
#endif
    (void)db;
}
