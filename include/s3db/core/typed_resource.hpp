#pragma once
// TypedResource<Res, Record>: a view of a Resource that speaks a user struct instead of JSON, through
// nlohmann's to_json/from_json (NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE or hand-written). The record's
// `id` travels as a member named `id` in its JSON form.

#include <concepts>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "s3db/core/resource.hpp"

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
    std::optional<Record> get_or_null(std::string_view id) {
        auto j = r_->get_or_null(id);
        if (!j) return std::nullopt;
        return j->template get<Record>();
    }
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
    void remove(std::string_view id) { r_->remove(id); }
    std::vector<Record> list(const ListQuery& q = {}) {
        std::vector<Record> out;
        for (auto& j : r_->list(q)) out.push_back(j.template get<Record>());
        return out;
    }
    std::size_t count(const ListQuery& q = {}) { return r_->count(q); }

private:
    /// A default-constructed struct has an empty id: let the resource generate one.
    static json drop_empty_id(json j) {
        if (auto it = j.find("id"); it != j.end() && it->is_string() && it->template get_ref<const std::string&>().empty())
            j.erase(it);
        return j;
    }

    Res* r_;
};

}  // namespace s3db
