// expect: s3db: plugin hook before_insert has a signature the database cannot call
// Resource hooks take the OperationContext (the record is its `data`), not the record.
#include <s3db/core/any_database.hpp>

struct Stamp : s3db::Plugin<Stamp> {
    static constexpr std::string_view name = "Stamp";
#ifdef S3DB_COMPILE_OK
    void before_insert(s3db::OperationContext& ctx) { ctx.data["stamped"] = true; }
#else
    void before_insert(s3db::json& record) { record["stamped"] = true; }
#endif
};

int main() {
    s3db::Database<Stamp> db("memory://compile-check");
    (void)db;
}
