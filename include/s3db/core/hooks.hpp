#pragma once
// What resources tell the outside about their operations: the hook points (the same list for
// per-resource hook functions and for plugins), the contexts hooks receive, and `NoHost`, the host
// of a resource that has no plugins, for which every hook point compiles to nothing.

#include <chrono>
#include <cstdint>
#include <exception>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace s3db {

using json = nlohmann::json;

// Every hook point of a resource operation, as X(name). Before hooks may change `data` or throw to
// reject the operation (nothing is written then); after hooks see the result and may change what
// the caller gets back.
#define S3DB_RESOURCE_HOOKS(X)                                                                               \
    X(before_insert) X(after_insert) X(before_update) X(after_update) X(before_replace) X(after_replace)    \
    X(before_delete) X(after_delete) X(before_get) X(after_get) X(before_exists) X(after_exists)           \
    X(before_get_many) X(after_get_many) X(before_list) X(after_list) X(before_count) X(after_count)       \
    X(before_query) X(after_query) X(before_page) X(after_page)

enum class Hook {
#define S3DB_DETAIL_ENUM(name) name,
    S3DB_RESOURCE_HOOKS(S3DB_DETAIL_ENUM)
#undef S3DB_DETAIL_ENUM
        hook_count
};

inline constexpr std::string_view hook_name(Hook h) noexcept {
    switch (h) {
#define S3DB_DETAIL_NAME(name) \
    case Hook::name: return #name;
        S3DB_RESOURCE_HOOKS(S3DB_DETAIL_NAME)
#undef S3DB_DETAIL_NAME
        default: return "?";
    }
}

/// What a hook or listener sees of an operation. For writes `data` is the record going in (before)
/// or as stored (after) and `before` the stored record an update or delete replaces; for reads
/// `data` holds the request (before: {"query": …} or {"ids": …}) and then the result (after).
struct OperationContext {
    std::string_view resource;
    std::string_view operation;  // "insert", "update", "replace", "delete", "get", "list", …
    std::string id;
    json data;
    const json* before = nullptr;
    /// The caller's context of the operation (`{.context = …}` in its options): who, from where.
    /// Null when the call gave none.
    const json* context = nullptr;
};

/// A read a plugin may answer in place of the store (the cache): which operation, on which id, with
/// which parameters. `params` is null for reads by id.
struct ReadContext {
    std::string_view resource;
    std::string_view operation;  // "get", "list", "list_ids", "count", "page", "query"
    std::string_view id;
    const json* params = nullptr;
    const json* context = nullptr;  // the caller's context (see OperationContext)
};

/// One finished public operation, for plugins that measure (Metrics).
struct OperationEvent {
    std::string_view resource;
    std::string_view operation;
    std::string_view id;
    std::chrono::nanoseconds duration{};
    const std::exception* error = nullptr;  // set when the operation failed
    const json* context = nullptr;          // the caller's context (see OperationContext)
};

/// One S3 request, seen before it is sent and after its answer (Costs). `keys` lists the keys of a
/// DeleteObjects; `key` is the object key, or the prefix of a LIST.
struct RequestEvent {
    std::string_view command;  // "PUT", "GET", "HEAD", "COPY", "DELETE", "POST" (DeleteObjects), "LIST"
    std::string_view key;
    std::span<const std::string> keys{};
    std::uint64_t bytes_sent = 0;      // body + metadata going out
    std::uint64_t bytes_received = 0;  // body coming back (after the answer)
    bool found = true;                 // false on a 404 (after the answer)
    const std::exception* error = nullptr;  // the failure (after the answer)
};

/// The host of a resource without plugins: nothing to call, nothing compiled in.
struct NoHost {
    template <class Tag>
    static constexpr bool has = false;
    static constexpr bool dynamic = false;
};

}  // namespace s3db
