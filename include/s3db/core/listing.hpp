#pragma once
// The parts of a resource's listing that need no Resource: the options and pages of list /
// list_ids / count / page / query (ListQuery, Page); the walk over the LIST pages of the data prefix
// or of a partition's refs (ListState, list_state, scan_page); the checks that keep partition
// listings and query's plan right (matches_partition, plan_partition); and RecordRange, the lazy
// range of Resource::records. Resource (resource.hpp) binds them to its store and partitions, and
// reads the listed records through its hooks and events.

#include <cstddef>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "s3db/core/partitions.hpp"
#include "s3db/detail/config.hpp"
#include "s3db/transport/transport.hpp"

namespace s3db {

using json = nlohmann::json;

/// Options of list, list_ids, count and stream.
struct ListQuery {
    std::string partition{};             // list through this partition's refs
    json values = json::object();        // partition field -> value
    std::size_t limit = 0;               // 0: no limit
    std::string cursor{};                // from a previous page
    bool cache = true;                   // false: plugins that answer reads (the cache) are bypassed
    // Records that cannot be decoded (CorruptRecord): skipped and reported by default (the resource's
    // "skipped" event and skipped_records()); true throws instead.
    bool strict_decoding = false;
    json context{};  // the caller's context for this read (see WriteOptions); not part of the query

    json to_json() const {
        json j{{"partition", partition}, {"values", values}, {"limit", limit}, {"cursor", cursor}};
        if (strict_decoding) j["strict_decoding"] = true;  // only then, so cache keys stay as they were
        return j;
    }
};

struct Page {
    std::vector<json> items;
    std::string next_cursor;  // empty on the last page
};

namespace detail {

/// Where a listing stands: the prefix it reads, the partition it filters on, the next LIST.
struct ListState {
    std::string prefix;
    std::optional<PartitionPrefix> part;
    ListOptions options;
    bool done = false;
    std::size_t lists = 0;  // LIST requests so far
};

/// The start of a listing of `q` over the records of resource `resource` (keys under
/// `data_prefix`), or over the refs of the partition `q` names. `hint` (0: none) lets the first
/// LIST ask for no more keys than the caller wants.
S3DB_DECL ListState list_state(const Partitions& partitions, std::string_view resource, std::string_view data_prefix,
                               const ListQuery& q, std::size_t hint);

/// One LIST of the listing; visits each id with its position until `visit` says stop.
template <class T, class Visit>
bool scan_page(T& transport, const Partitions& partitions, ListState& st, Visit&& visit) {
    auto page = transport.list(st.options);
    ++st.lists;
    for (auto& e : page.objects) {
        if (st.part) {
            auto ref = partitions.parse_ref(e.key);
            if (!ref || !st.part->matches(*ref)) continue;
            if (!visit(std::string_view(ref->id), std::string_view(e.key).substr(st.prefix.size()))) return false;
            continue;
        }
        auto id = std::string_view(e.key).substr(st.prefix.size());
        // Ids hold no '/': such a key is another resource's (one named `<name>/data/id=<x>/...`).
        if (id.find('/') != std::string_view::npos) continue;
        if (!visit(id, id)) return false;
    }
    if (!page.truncated()) st.done = true;
    st.options.continuation_token = page.next_continuation_token;
    return true;
}

/// The refs of a one-field date partition (`byDate {createdAt}`, values YYYY-MM-DD or ISO text)
/// in key order, which is day order: from the first key of day `from` (empty: the start), each
/// visited as (ref key, id, day) until `visit` returns false. Plugins that keep dated logs (Audit's
/// range reads, Metrics' retention) stop at the first day past what they want, so a scan costs the
/// LIST pages of the days it covers. Returns false when the resource has no such partition.
template <class T, class Visit>
bool scan_days(T& transport, const Partitions& partitions, std::string_view partition, std::string_view from,
               Visit&& visit) {
    const Partition* p = partitions.find(partition);
    if (!p || p->fields.size() != 1) return false;
    const std::string& field = p->fields[0].name;
    const std::string root = partitions.prefix(partition).key;
    ListOptions o{.prefix = root};
    if (!from.empty()) o.start_after = root + field + "=" + std::string(from);  // every key of that day sorts after
    for (;;) {
        auto page = transport.list(o);
        for (auto& e : page.objects) {
            auto ref = partitions.parse_ref(e.key);
            const std::string* day = ref ? ref->value(field) : nullptr;
            if (!day) continue;
            if (!visit(e.key, std::move(ref->id), std::string_view(*day))) return true;
        }
        if (!page.truncated()) return true;
        o.continuation_token = page.next_continuation_token;
    }
}

/// A partition listing can meet refs left by replace (or by a crash between writes): keep only
/// records whose current values still put them in the partition.
S3DB_DECL bool matches_partition(const Partitions& partitions, const ListQuery& q, const json& record);

/// For a query that names no partition: the partition whose fields `filter` covers best, with its
/// values from the filter.
S3DB_DECL void plan_partition(const Partitions& partitions, const json& filter, ListQuery& q);

}  // namespace detail

/// The records of a resource (or of a partition), read lazily: one LIST page at a time (up to 1000
/// keys), its records fetched on the pool, at most one page held. An input range: iterate it once.
template <class Res>
class RecordRange {
public:
    RecordRange(Res& resource, ListQuery q, std::size_t page_size)
        : resource_(&resource), query_(std::move(q)), page_size_(page_size) {}

    class iterator {
    public:
        using value_type = json;
        using difference_type = std::ptrdiff_t;
        using reference = json&;
        using iterator_category = std::input_iterator_tag;

        iterator() = default;
        explicit iterator(RecordRange* r) noexcept : r_(r) {}
        json& operator*() const { return r_->batch_[r_->position_]; }
        json* operator->() const { return &**this; }
        iterator& operator++() {
            r_->advance();
            return *this;
        }
        void operator++(int) { ++*this; }
        friend bool operator==(const iterator& i, std::default_sentinel_t) noexcept { return i.at_end(); }

    private:
        bool at_end() const noexcept { return !r_ || r_->done_; }
        RecordRange* r_ = nullptr;
    };

    iterator begin() {
        if (!state_) {
            state_.emplace(resource_->list_state(query_, page_size_));
            fill();
        }
        return iterator(this);
    }
    std::default_sentinel_t end() const noexcept { return {}; }

    /// LIST requests made so far.
    std::size_t pages_read() const noexcept { return state_ ? state_->lists : 0; }

private:
    void advance() {
        ++delivered_;
        if (query_.limit && delivered_ >= query_.limit) done_ = true;
        else if (++position_ >= batch_.size()) fill();
    }
    void fill() {
        batch_.clear();
        position_ = 0;
        if (!state_->done) batch_ = resource_->next_records(*state_, query_);
        done_ = batch_.empty();
    }

    Res* resource_;
    ListQuery query_;
    std::size_t page_size_;
    std::optional<detail::ListState> state_;
    std::vector<json> batch_;
    std::size_t position_ = 0;
    std::size_t delivered_ = 0;
    bool done_ = false;
};

}  // namespace s3db

#if S3DB_DEFINE_BODIES
#include <algorithm>

#include "s3db/detail/encoding.hpp"
#include "s3db/errors.hpp"

namespace s3db {

S3DB_DECL detail::ListState detail::list_state(const Partitions& partitions, std::string_view resource,
                                               std::string_view data_prefix, const ListQuery& q, std::size_t hint) {
    ListState st;
    st.prefix = std::string(data_prefix) + "id=";
    if (!q.partition.empty()) {
        st.part = partitions.prefix(q.partition, q.values);
        st.prefix = st.part->key;
    }
    st.options.prefix = st.prefix;
    if (hint) st.options.max_keys = std::min(hint, max_list_keys);
    if (!q.cursor.empty()) {
        auto after = detail::base64_decode(q.cursor);
        if (!after)
            throw ConfigError("resource '" + std::string(resource) + "': the cursor is not one this resource issued");
        st.options.start_after = st.prefix + *after;
    }
    return st;
}

S3DB_DECL bool detail::matches_partition(const Partitions& partitions, const ListQuery& q, const json& record) {
    if (q.partition.empty()) return true;
    auto prefix = partitions.prefix(q.partition, q.values);
    std::optional<std::string> key;
    try {
        key = partitions.key(q.partition, record, record.at("id").template get<std::string>());
    } catch (const Error&) {  // a value no partition key can hold (stored by another tool): not in it
        return false;
    }
    if (!key || !key->starts_with(prefix.key)) return false;
    if (prefix.exact()) return true;
    auto ref = partitions.parse_ref(*key);
    return ref && prefix.matches(*ref);
}

S3DB_DECL void detail::plan_partition(const Partitions& partitions, const json& filter, ListQuery& q) {
    std::size_t best = 0;
    for (const auto& p : partitions.partitions()) {
        bool covered = !p.fields.empty();
        for (const auto& f : p.fields)
            if (!filter.contains(f.name)) covered = false;
        if (covered && p.fields.size() > best) {
            best = p.fields.size();
            q.partition = p.name;
            q.values = json::object();
            for (const auto& f : p.fields) q.values[f.name] = filter[f.name];
        }
    }
}

}  // namespace s3db
#endif  // S3DB_DEFINE_BODIES
