// expect: s3db: a plugin needs a name
// A plugin must say its name (it keys its storage, its status and run-time lookups).
#include <s3db/core/any_database.hpp>

struct Unnamed : s3db::Plugin<Unnamed> {
#ifdef S3DB_COMPILE_OK
    static constexpr std::string_view name = "Unnamed";
#endif
};

int main() {
    s3db::Database<Unnamed> db("memory://compile-check");
    (void)db;
}
