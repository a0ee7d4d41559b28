#pragma once
// Observed<T>: the transport a database's resources and plugins use. It forwards every call to T
// and, only while some plugin listens for requests (Costs), tells the host about each one before it
// is sent and after its answer. With no listener the cost is one indirect call per request. The
// host is reached through a HostRef, so every database over the same store shares one Observed<T>.

#include <optional>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>

#include "s3db/core/hooks.hpp"
#include "s3db/transport/transport.hpp"

namespace s3db::detail {

template <Transport T>
class Observed {
public:
    Observed(T& inner, HostRef host) noexcept : inner_(&inner), host_(host) {}

    PutResult put(std::string_view key, std::string_view body, PutOptions o = {}) {
        if (!host_.observes_requests()) return inner_->put(key, body, std::move(o));
        RequestEvent e{"PUT", key, {}, body.size() + metadata_bytes(o.metadata)};
        return observe(e, [&] { return inner_->put(key, body, std::move(o)); });
    }
    std::optional<Object> get(std::string_view key, GetOptions o = {}) {
        if (!host_.observes_requests()) return inner_->get(key, std::move(o));
        RequestEvent e{"GET", key};
        return observe(e, [&] {
            auto r = inner_->get(key, std::move(o));
            if (r) e.bytes_received = r->body.size();
            else e.found = false;
            return r;
        });
    }
    /// In place only while no plugin listens for requests: a listener is told of the GET's answer,
    /// which it then sees whole, before `fn` runs, as for get().
    template <class Fn>
        requires ReadsInPlace<T>
    std::optional<std::invoke_result_t<Fn&, const ObjectView&>> read(std::string_view key, Fn&& fn) {
        if (!host_.observes_requests()) return inner_->read(key, fn);
        return read_copied(*this, key, fn);
    }
    std::optional<ObjectInfo> head(std::string_view key) {
        if (!host_.observes_requests()) return inner_->head(key);
        RequestEvent e{"HEAD", key};
        return observe(e, [&] {
            auto r = inner_->head(key);
            e.found = r.has_value();
            return r;
        });
    }
    PutResult copy(std::string_view from, std::string_view to, CopyOptions o = {}) {
        if (!host_.observes_requests()) return inner_->copy(from, to, std::move(o));
        RequestEvent e{"COPY", to, {}, metadata_bytes(o.metadata)};
        return observe(e, [&] { return inner_->copy(from, to, std::move(o)); });
    }
    void remove(std::string_view key) {
        if (!host_.observes_requests()) return inner_->remove(key);
        RequestEvent e{"DELETE", key};
        observe(e, [&] {
            inner_->remove(key);
            return 0;
        });
    }
    RemoveManyResult remove_many(std::span<const std::string> keys) {
        if (!host_.observes_requests()) return inner_->remove_many(keys);
        RequestEvent e{"POST", keys.empty() ? std::string_view{} : std::string_view(keys.front()), keys};
        return observe(e, [&] { return inner_->remove_many(keys); });
    }
    ListPage list(ListOptions o = {}) {
        if (!host_.observes_requests()) return inner_->list(std::move(o));
        std::string prefix = o.prefix;
        RequestEvent e{"LIST", prefix};
        return observe(e, [&] { return inner_->list(std::move(o)); });
    }

    T& inner() noexcept { return *inner_; }

private:
    static std::uint64_t metadata_bytes(const Metadata& m) noexcept {
        std::uint64_t n = 0;
        for (auto& [k, v] : m) n += k.size() + v.size();
        return n;
    }

    template <class Call>
    auto observe(RequestEvent& e, Call&& call) {
        host_.on_request(e);
        try {
            auto r = call();
            host_.on_response(e);
            return r;
        } catch (const std::exception& ex) {
            e.error = &ex;
            if (dynamic_cast<const NotFound*>(&ex)) e.found = false;
            host_.on_response(e);
            throw;
        }
    }

    T* inner_;
    HostRef host_;
};

}  // namespace s3db::detail
