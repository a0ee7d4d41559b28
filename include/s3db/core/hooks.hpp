#pragma once
// What resources tell the outside about their operations: the hook points (the same list for
// per-resource hook functions and for plugins), the contexts hooks receive, `NoHost`, the host of a
// resource that has no plugins, and `HostRef`, through which a resource calls its host.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

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

namespace detail {

/// What a resource calls on its host, behind one pointer and a table made once per host type (as
/// TransportRef does for stores), so the resource's code does not depend on the host's type. Empty
/// (false) for a resource without a host. A host provides: wants(Hook) (anything listening at that
/// point?), fire<Hook>(OperationContext&), wants_deleted_record() (must a delete read the record
/// first?), intercepts_reads() and around_read(ReadContext, compute) (the cache),
/// observes_operations() and on_operation(OperationEvent) (Metrics), observes_requests(),
/// on_request(RequestEvent) and on_response(RequestEvent) (Costs; called by the observed store).
class HostRef {
public:
    HostRef() = default;
    template <class Host>
    static HostRef of(Host* host) noexcept {
        HostRef r;
        if constexpr (!std::is_same_v<Host, NoHost>) {
            r.self_ = host;
            r.table_ = host ? &table_for<Host> : nullptr;
        }
        return r;
    }

    explicit operator bool() const noexcept { return table_ != nullptr; }
    bool wants(Hook h) const { return table_->wants(self_, h); }
    void fire(Hook h, OperationContext& ctx) const { table_->fire[static_cast<std::size_t>(h)](self_, ctx); }
    bool wants_deleted_record() const { return table_->wants_deleted_record(self_); }
    bool intercepts_reads() const { return table_->intercepts_reads(self_); }
    json around_read(const ReadContext& rc, const std::function<json()>& compute) const {
        return table_->around_read(self_, rc, compute);
    }
    bool observes_operations() const { return table_->observes_operations(self_); }
    void on_operation(const OperationEvent& e) const { table_->on_operation(self_, e); }
    bool observes_requests() const { return table_->observes_requests(self_); }
    void on_request(const RequestEvent& e) const { table_->on_request(self_, e); }
    void on_response(const RequestEvent& e) const { table_->on_response(self_, e); }

private:
    using Fire = void (*)(void*, OperationContext&);
    struct Table {
        bool (*wants)(void*, Hook);
        std::array<Fire, static_cast<std::size_t>(Hook::hook_count)> fire;
        bool (*wants_deleted_record)(void*);
        bool (*intercepts_reads)(void*);
        json (*around_read)(void*, const ReadContext&, const std::function<json()>&);
        bool (*observes_operations)(void*);
        void (*on_operation)(void*, const OperationEvent&);
        bool (*observes_requests)(void*);
        void (*on_request)(void*, const RequestEvent&);
        void (*on_response)(void*, const RequestEvent&);
    };

    template <class Host, std::size_t... I>
    static constexpr std::array<Fire, sizeof...(I)> fires(std::index_sequence<I...>) {
        return {[](void* h, OperationContext& ctx) { static_cast<Host*>(h)->template fire<static_cast<Hook>(I)>(ctx); }...};
    }

    template <class Host>
    static constexpr Table table_for{
        [](void* h, Hook hook) { return static_cast<Host*>(h)->wants(hook); },
        fires<Host>(std::make_index_sequence<static_cast<std::size_t>(Hook::hook_count)>()),
        [](void* h) { return static_cast<Host*>(h)->wants_deleted_record(); },
        [](void* h) { return static_cast<Host*>(h)->intercepts_reads(); },
        [](void* h, const ReadContext& rc, const std::function<json()>& compute) {
            return static_cast<Host*>(h)->around_read(rc, compute);
        },
        [](void* h) { return static_cast<Host*>(h)->observes_operations(); },
        [](void* h, const OperationEvent& e) { static_cast<Host*>(h)->on_operation(e); },
        [](void* h) { return static_cast<Host*>(h)->observes_requests(); },
        [](void* h, const RequestEvent& e) { static_cast<Host*>(h)->on_request(e); },
        [](void* h, const RequestEvent& e) { static_cast<Host*>(h)->on_response(e); },
    };

    void* self_ = nullptr;
    const Table* table_ = nullptr;
};

}  // namespace detail

}  // namespace s3db
