// expect: s3db: plugin hook on_resource_created has a signature the database cannot call
// on_resource_created gets the resource itself, not its name.
#include <s3db/core/any_database.hpp>

#include <string>

struct Watcher : s3db::Plugin<Watcher> {
    static constexpr std::string_view name = "Watcher";
#ifdef S3DB_COMPILE_OK
    template <class Res>
    void on_resource_created(Res& r) { last = r.name(); }
#else
    void on_resource_created(const std::string& resource) { last = resource; }
#endif
    std::string last;
};

int main() {
    s3db::Database<Watcher> db("memory://compile-check");
    (void)db;
}
