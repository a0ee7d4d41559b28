// expect: s3db: an argument after the DatabaseOptions is not one of the plugins named in Database
// Only the database's own plugins can be passed to its constructor.
#include <s3db/core/any_database.hpp>

struct Mine : s3db::Plugin<Mine> {
    static constexpr std::string_view name = "Mine";
};
struct Other : s3db::Plugin<Other> {
    static constexpr std::string_view name = "Other";
};

int main() {
#ifdef S3DB_COMPILE_OK
    s3db::Database<Mine> db("memory://compile-check", {}, Mine{});
#else
    s3db::Database<Mine> db("memory://compile-check", {}, Other{});
#endif
    (void)db;
}
