// expect: s3db: two plugins in Database<...> have the same name
// Two plugins with one name would share storage and status: they cannot coexist.
#include <s3db/core/any_database.hpp>

struct A : s3db::Plugin<A> {
    static constexpr std::string_view name = "Twin";
};
struct B : s3db::Plugin<B> {
#ifdef S3DB_COMPILE_OK
    static constexpr std::string_view name = "Other";
#else
    static constexpr std::string_view name = "Twin";
#endif
};

int main() {
    s3db::Database<A, B> db("memory://compile-check");
    (void)db;
}
