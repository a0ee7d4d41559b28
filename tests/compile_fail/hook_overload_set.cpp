// expect: s3db: plugin hook on_operation has a signature the database cannot call
// A hook name is found in an overload set too: when no overload takes the event, it is an error.
// Plugins added at run time (use_plugin) are checked the same way.
#include <s3db/core/any_database.hpp>

#include <string>

struct Meter : s3db::Plugin<Meter> {
    static constexpr std::string_view name = "Meter";
    void on_operation(int) {}
    void on_operation(const std::string&) {}
#ifdef S3DB_COMPILE_OK
    void on_operation(const s3db::OperationEvent&) {}
#endif
};

int main() {
    s3db::Database<> db("memory://compile-check");
    db.use_plugin(Meter{});
}
