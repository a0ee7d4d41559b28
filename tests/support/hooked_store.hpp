#pragma once
// A store that forwards every request to `inner`, with hooks before PUTs and LISTs: tests use them
// to fail or hold a write, to act as another process in between, to slow a request or to stop the
// process at a chosen key. The hooks are shared, so the copy a database makes of its store runs the
// hooks a test sets afterwards.

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "s3db/transport/transport.hpp"

namespace s3db::test {

template <class Inner>
struct Hooked {
    using PutHook = std::function<void(std::string_view key, std::string_view body, const PutOptions&, Inner& inner)>;

    Inner inner;
    std::shared_ptr<PutHook> before_put = std::make_shared<PutHook>();
    std::shared_ptr<std::function<void()>> before_list = std::make_shared<std::function<void()>>();

    PutResult put(std::string_view key, std::string_view body, PutOptions o = {}) {
        if (*before_put) (*before_put)(key, body, o, inner);
        return inner.put(key, body, std::move(o));
    }
    std::optional<Object> get(std::string_view key, GetOptions o = {}) { return inner.get(key, std::move(o)); }
    std::optional<ObjectInfo> head(std::string_view key) { return inner.head(key); }
    PutResult copy(std::string_view from, std::string_view to, CopyOptions o = {}) { return inner.copy(from, to, std::move(o)); }
    void remove(std::string_view key) { inner.remove(key); }
    RemoveManyResult remove_many(std::span<const std::string> keys) { return inner.remove_many(keys); }
    ListPage list(ListOptions o = {}) {
        if (*before_list) (*before_list)();
        return inner.list(std::move(o));
    }
};

}  // namespace s3db::test
