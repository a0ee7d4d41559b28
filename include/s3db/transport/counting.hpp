#pragma once
// Counting<T>: counts the requests each operation sends, so tests can hold every database operation
// to its request budget and benchmarks can print requests per operation. Thread-safe.

#include <atomic>
#include <concepts>
#include <type_traits>
#include <utility>

#include "s3db/transport/transport.hpp"

namespace s3db {

/// Requests sent, by S3 operation. `remove_many` counts DeleteObjects requests (1000 keys each).
struct RequestCounts {
    std::uint64_t put = 0, get = 0, head = 0, copy = 0, remove = 0, remove_many = 0, list = 0;

    std::uint64_t total() const noexcept { return put + get + head + copy + remove + remove_many + list; }
    friend bool operator==(const RequestCounts&, const RequestCounts&) = default;
    RequestCounts operator-(const RequestCounts& o) const noexcept {
        return {put - o.put, get - o.get, head - o.head, copy - o.copy,
                remove - o.remove, remove_many - o.remove_many, list - o.list};
    }
    RequestCounts& operator+=(const RequestCounts& o) noexcept {
        put += o.put, get += o.get, head += o.head, copy += o.copy, remove += o.remove, remove_many += o.remove_many,
            list += o.list;
        return *this;
    }
};

template <Transport T>
class Counting {
public:
    template <class... Args>
        requires std::constructible_from<T, Args&&...>
    explicit Counting(Args&&... args) : inner_(std::forward<Args>(args)...) {}
    /// Moves the transport along with the counts so far (a database can take a Counting by value).
    Counting(Counting&& o) noexcept(std::is_nothrow_move_constructible_v<T>) : inner_(std::move(o.inner_)) {
        for (auto [to, from] : {std::pair{&put_, &o.put_}, {&get_, &o.get_}, {&head_, &o.head_}, {&copy_, &o.copy_},
                                {&remove_, &o.remove_}, {&remove_many_, &o.remove_many_}, {&list_, &o.list_}})
            to->store(from->load());
    }

    T& inner() noexcept { return inner_; }
    const T& inner() const noexcept { return inner_; }

    RequestCounts counts() const noexcept {
        return {load(put_), load(get_), load(head_), load(copy_), load(remove_), load(remove_many_), load(list_)};
    }
    void reset() noexcept {
        for (auto* c : {&put_, &get_, &head_, &copy_, &remove_, &remove_many_, &list_}) c->store(0);
    }

    PutResult put(std::string_view key, std::string_view body, PutOptions o = {}) {
        bump(put_);
        return inner_.put(key, body, std::move(o));
    }
    std::optional<Object> get(std::string_view key, GetOptions o = {}) {
        bump(get_);
        return inner_.get(key, std::move(o));
    }
    template <class Fn>
        requires ReadsInPlace<T>
    auto read(std::string_view key, Fn&& fn) {
        bump(get_);
        return inner_.read(key, fn);
    }
    std::optional<ObjectInfo> head(std::string_view key) {
        bump(head_);
        return inner_.head(key);
    }
    PutResult copy(std::string_view from, std::string_view to, CopyOptions o = {}) {
        bump(copy_);
        return inner_.copy(from, to, std::move(o));
    }
    void remove(std::string_view key) {
        bump(remove_);
        inner_.remove(key);
    }
    RemoveManyResult remove_many(std::span<const std::string> keys) {
        bump(remove_many_, (keys.size() + max_delete_keys - 1) / max_delete_keys);
        return inner_.remove_many(keys);
    }
    ListPage list(ListOptions o = {}) {
        bump(list_);
        return inner_.list(std::move(o));
    }

private:
    using Counter = std::atomic<std::uint64_t>;
    static void bump(Counter& c, std::uint64_t n = 1) noexcept { c.fetch_add(n, std::memory_order_relaxed); }
    static std::uint64_t load(const Counter& c) noexcept { return c.load(std::memory_order_relaxed); }

    T inner_;
    Counter put_{0}, get_{0}, head_{0}, copy_{0}, remove_{0}, remove_many_{0}, list_{0};
};

}  // namespace s3db
