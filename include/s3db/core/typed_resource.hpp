#pragma once
// TypedResource<Res, Record>: a view of a Resource that speaks a user struct instead of JSON, through
// nlohmann's to_json/from_json (NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE or hand-written). The record's
// `id` travels as a member named `id` in its JSON form. Members of chrono types and byte vectors map
// to datetime, dateonly, duration and buffer/bits attributes (typed_values.hpp).

#include <concepts>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "s3db/core/resource.hpp"
#include "s3db/core/typed_values.hpp"

namespace s3db {

/// A type nlohmann can turn into JSON and back.
template <class R>
concept JsonRecord = requires(const R& r, const json& j) {
    { json(r) };
    { j.get<R>() } -> std::same_as<R>;
};

template <class Res, class Record>
class TypedResource {
    static_assert(JsonRecord<Record>,
                  "s3db: a typed resource needs to_json/from_json for its record type "
                  "(e.g. NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Record, id, field...))");

public:
    explicit TypedResource(Res& r) noexcept : r_(&r) {}

    Res& untyped() const noexcept { return *r_; }

    Record insert(const Record& record) { return r_->insert(drop_empty_id(json(record))).template get<Record>(); }
    Record get(std::string_view id) { return r_->get(id).template get<Record>(); }
    std::optional<Record> get_or_null(std::string_view id) { return maybe_struct(r_->get_or_null(id)); }
    bool exists(std::string_view id) { return r_->exists(id); }
    /// Compare-and-swap update with a function over the struct. The struct's fields are written over
    /// the stored record, so fields it does not model (timestamps, attributes added later) stay; a
    /// field its to_json wrote before the change and omits after it (a cleared optional) is removed.
    template <class Fn>
        requires std::invocable<Fn&, Record&>
    Record update(std::string_view id, Fn&& change) {
        return r_->update(id, [&](json& j) {
                     Record rec = j.template get<Record>();
                     const json before(rec);
                     change(rec);
                     json after(rec);
                     for (auto& [field, value] : before.items())
                         if (!after.contains(field)) j.erase(field);
                     for (auto& [field, value] : after.items()) j[field] = std::move(value);
                 }).template get<Record>();
    }
    Record replace(std::string id, const Record& record) {
        return r_->replace(std::move(id), json(record)).template get<Record>();
    }
    /// Insert, or write the struct's fields over the stored record when its id exists.
    Record upsert(const Record& record) { return r_->upsert(drop_empty_id(json(record))).template get<Record>(); }
    void remove(std::string_view id) { r_->remove(id); }
    void remove_many(const std::vector<std::string>& ids) { r_->remove_many(ids); }

    /// One result per input, in order: the stored record, or why its insert failed.
    struct BulkResult {
        std::optional<Record> record;
        std::string error;
    };
    std::vector<BulkResult> insert_many(const std::vector<Record>& records) {
        std::vector<json> items;
        items.reserve(records.size());
        for (auto& r : records) items.push_back(drop_empty_id(json(r)));
        std::vector<BulkResult> out;
        out.reserve(records.size());
        for (auto& r : r_->insert_many(std::move(items))) out.push_back({maybe_struct(r.record), std::move(r.error)});
        return out;
    }
    /// nullopt where a record does not exist.
    std::vector<std::optional<Record>> get_many(const std::vector<std::string>& ids) {
        std::vector<std::optional<Record>> out;
        out.reserve(ids.size());
        for (auto& j : r_->get_many(ids)) out.push_back(maybe_struct(j));
        return out;
    }

    std::vector<Record> list(const ListQuery& q = {}) { return structs(r_->list(q)); }
    std::size_t count(const ListQuery& q = {}) { return r_->count(q); }

    struct Page {
        std::vector<Record> items;
        std::string next_cursor;  // empty on the last page
    };
    Page page(std::size_t size, const std::string& cursor = {}, ListQuery q = {}) {
        auto p = r_->page(size, cursor, std::move(q));
        return {structs(std::move(p.items)), std::move(p.next_cursor)};
    }
    /// Records whose fields equal `filter`'s (see Resource::query).
    std::vector<Record> query(const json& filter, ListQuery q = {}) { return structs(r_->query(filter, {}, std::move(q))); }
    /// ... and whose struct satisfies `predicate`.
    template <class Pred>
        requires std::predicate<Pred&, const Record&>
    std::vector<Record> query(const json& filter, Pred predicate, ListQuery q = {}) {
        return structs(r_->query(filter, [&](const json& j) { return predicate(j.template get<Record>()); }, std::move(q)));
    }
    /// Every record (or a partition's) as a struct, one LIST page at a time (see Resource::records).
    template <class Fn>
        requires std::invocable<Fn&, Record&&>
    void for_each(Fn&& fn, ListQuery q = {}) {
        r_->for_each([&](json&& j) { fn(j.template get<Record>()); }, std::move(q));
    }

private:
    static std::optional<Record> maybe_struct(const std::optional<json>& j) {
        if (!j) return std::nullopt;
        return j->template get<Record>();
    }
    static std::vector<Record> structs(std::vector<json> records) {
        std::vector<Record> out;
        out.reserve(records.size());
        for (auto& j : records) out.push_back(j.template get<Record>());
        return out;
    }

    /// A default-constructed struct has an empty id: let the resource generate one.
    static json drop_empty_id(json j) {
        if (auto it = j.find("id"); it != j.end() && it->is_string() && it->template get_ref<const std::string&>().empty())
            j.erase(it);
        return j;
    }

    Res* r_;
};

}  // namespace s3db
