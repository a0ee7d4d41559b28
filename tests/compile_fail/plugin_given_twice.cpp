// expect: s3db: a plugin is given twice to the database's constructor
// Each plugin of the type is given at most once.
#include <s3db/core/any_database.hpp>

struct Mine : s3db::Plugin<Mine> {
    static constexpr std::string_view name = "Mine";
};
struct Other : s3db::Plugin<Other> {
    static constexpr std::string_view name = "Other";
};

int main() {
#ifdef S3DB_COMPILE_OK
    s3db::Database<Mine, Other> db("memory://compile-check", {}, Other{}, Mine{});
#else
    s3db::Database<Mine, Other> db("memory://compile-check", {}, Mine{}, Mine{});
#endif
    (void)db;
}
