// expect: s3db: plugin hook on_install has a signature the database cannot call
// on_install takes the database: one declared without it would never run.
#include <s3db/core/any_database.hpp>

struct Setup : s3db::Plugin<Setup> {
    static constexpr std::string_view name = "Setup";
#ifdef S3DB_COMPILE_OK
    template <class Db>
    void on_install(Db&) {}
#else
    void on_install() {}
#endif
};

int main() {
    s3db::Database<Setup> db("memory://compile-check");
    (void)db;
}
