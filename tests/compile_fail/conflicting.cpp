// expect: s3db: Database<...> names two plugins that cannot coexist
// A plugin can declare the plugins it cannot run with.
#include <s3db/core/any_database.hpp>

struct Loner;
struct Crowd : s3db::Plugin<Crowd> {
    static constexpr std::string_view name = "Crowd";
};
struct Loner : s3db::Plugin<Loner> {
    static constexpr std::string_view name = "Loner";
    using conflicts_with = std::tuple<Crowd>;
};

int main() {
#ifdef S3DB_COMPILE_OK
    s3db::Database<Loner> db("memory://compile-check");
#else
    s3db::Database<Crowd, Loner> db("memory://compile-check");
#endif
    (void)db;
}
