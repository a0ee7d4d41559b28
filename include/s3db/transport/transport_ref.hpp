#pragma once
// TransportRef: a non-owning, type-erased reference to any Transport. Code that keeps a store
// without knowing its type (a resource's engine, PluginStorage, cache drivers) holds one; a call
// costs one indirect jump, which next to an S3 request is nothing. The referenced transport must
// outlive it.

#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>

#include "s3db/transport/transport.hpp"

namespace s3db {

class TransportRef {
public:
    template <Transport T>
        requires(!std::same_as<std::remove_cv_t<T>, TransportRef>)
    TransportRef(T& transport) noexcept  // NOLINT: implicit, like a reference
        : self_(std::addressof(transport)), vtable_(&vtable_for<T>) {}

    PutResult put(std::string_view key, std::string_view body, PutOptions o = {}) {
        return vtable_->put(self_, key, body, std::move(o));
    }
    std::optional<Object> get(std::string_view key, GetOptions o = {}) { return vtable_->get(self_, key, std::move(o)); }
    std::optional<ObjectInfo> head(std::string_view key) { return vtable_->head(self_, key); }
    PutResult copy(std::string_view from, std::string_view to, CopyOptions o = {}) {
        return vtable_->copy(self_, from, to, std::move(o));
    }
    void remove(std::string_view key) { vtable_->remove(self_, key); }
    RemoveManyResult remove_many(std::span<const std::string> keys) { return vtable_->remove_many(self_, keys); }
    ListPage list(ListOptions o = {}) { return vtable_->list(self_, std::move(o)); }

    /// `fn(view)` of the object at `key` (one GET): in place where the store can (ReadsInPlace),
    /// from get()'s copy otherwise; nullopt when there is none.
    template <class Fn>
    std::optional<std::invoke_result_t<Fn&, const ObjectView&>> read(std::string_view key, Fn&& fn) {
        std::optional<std::invoke_result_t<Fn&, const ObjectView&>> out;
        auto visit = [&](const ObjectView& v) { out.emplace(fn(v)); };
        vtable_->read(self_, key, &visit, [](void* f, const ObjectView& v) { (*static_cast<decltype(visit)*>(f))(v); });
        return out;
    }

private:
    struct VTable {
        PutResult (*put)(void*, std::string_view, std::string_view, PutOptions);
        std::optional<Object> (*get)(void*, std::string_view, GetOptions);
        std::optional<ObjectInfo> (*head)(void*, std::string_view);
        PutResult (*copy)(void*, std::string_view, std::string_view, CopyOptions);
        void (*remove)(void*, std::string_view);
        RemoveManyResult (*remove_many)(void*, std::span<const std::string>);
        ListPage (*list)(void*, ListOptions);
        void (*read)(void*, std::string_view, void*, void (*)(void*, const ObjectView&));
    };

    template <class T>
    static constexpr VTable vtable_for{
        [](void* t, std::string_view k, std::string_view b, PutOptions o) { return static_cast<T*>(t)->put(k, b, std::move(o)); },
        [](void* t, std::string_view k, GetOptions o) { return static_cast<T*>(t)->get(k, std::move(o)); },
        [](void* t, std::string_view k) { return static_cast<T*>(t)->head(k); },
        [](void* t, std::string_view f, std::string_view to, CopyOptions o) {
            return static_cast<T*>(t)->copy(f, to, std::move(o));
        },
        [](void* t, std::string_view k) { static_cast<T*>(t)->remove(k); },
        [](void* t, std::span<const std::string> ks) { return static_cast<T*>(t)->remove_many(ks); },
        [](void* t, ListOptions o) { return static_cast<T*>(t)->list(std::move(o)); },
        [](void* t, std::string_view k, void* f, void (*visit)(void*, const ObjectView&)) {
            auto call = [&](const ObjectView& v) {
                visit(f, v);
                return true;
            };
            if constexpr (ReadsInPlace<T>) static_cast<T*>(t)->read(k, call);
            else detail::read_copied(*static_cast<T*>(t), k, call);
        },
    };

    void* self_;
    const VTable* vtable_;
};

static_assert(Transport<TransportRef>);

}  // namespace s3db
