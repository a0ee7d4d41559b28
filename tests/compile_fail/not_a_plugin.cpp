// expect: s3db: every type in Database<...> must be a plugin
// A type that does not derive from s3db::Plugin<Self> cannot be named in a database's type.
#include <s3db/core/any_database.hpp>

struct NotAPlugin {
    static constexpr std::string_view name = "NotAPlugin";
};
struct Fine : s3db::Plugin<Fine> {
    static constexpr std::string_view name = "Fine";
};

int main() {
#ifdef S3DB_COMPILE_OK
    s3db::Database<Fine> db("memory://compile-check");
#else
    s3db::Database<NotAPlugin> db("memory://compile-check");
#endif
    (void)db;
}
