#pragma once
// StateMachine's engine: sends as compare-and-swap rounds, actions, history, triggers and the timer
// thread, over the two resources type-erased (StateMachineBackend). The plugin (state_machine.hpp)
// owns one through a shared_ptr, so the timer thread and event listeners outlive a move of it.
// Layout, costs and guarantees: see s3db/plugins/state_machine.hpp.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "s3db/errors.hpp"
#include "s3db/core/resource_ref.hpp"
#include "s3db/core/write_tokens.hpp"
#include "s3db/detail/time.hpp"
#include "s3db/plugins/state_machine/config.hpp"
#include "s3db/transport/s3/retry.hpp"

namespace s3db {

namespace detail {

/// The two resources, type-erased at install (the plugin is not a template).
struct StateMachineBackend {
    DatabaseRef db;
    ResourceRef states;
    ResourceRef log;       // unset without persist_transitions
    std::string log_data;  // the prefix of the log's record keys

    std::optional<nlohmann::json> get_state(const std::string& id) const {
        return states.get_or_null(id, ReadOptions{.cache = false});
    }
    nlohmann::json update_state(const std::string& id, const std::function<void(nlohmann::json&)>& change) const {
        return states.update(id, change);
    }
    nlohmann::json insert_state(nlohmann::json r) const { return states.insert(std::move(r)); }
    void remove_state(const std::string& id) const { states.remove(id); }
    std::vector<nlohmann::json> list_states() const { return states.list(ListQuery{.cache = false}); }
    void insert_log(nlohmann::json r) const { log.insert(std::move(r)); }
    void remove_log(const std::string& id) const { log.remove(id); }
    /// The log's ids that start with `prefix`. Ids sort by entity (`<machine>_<entity>_<ms>_<token>`):
    /// one LIST by prefix of the log's record keys (per 1000 entries) finds an entity's entries,
    /// with no partition.
    std::vector<std::string> log_ids(const std::string& prefix) const {
        std::vector<std::string> ids;
        ListOptions lo{.prefix = log_data + prefix};
        auto store = db.store();
        for (;;) {
            auto page = store.list(lo);
            for (auto& e : page.objects)
                if (e.key.starts_with(log_data)) ids.push_back(e.key.substr(log_data.size()));
            if (!page.truncated()) break;
            lo.continuation_token = page.next_continuation_token;
        }
        return ids;
    }
    std::vector<std::optional<nlohmann::json>> get_logs(const std::vector<std::string>& ids) const {
        return log.get_many(ids, ReadOptions{.cache = false});
    }
};

/// Thrown inside a state CAS whose trigger is no longer due (the entity left that state entry).
struct TriggerStale {};

inline std::string sm_date(std::int64_t ms) { return iso_string(ms).substr(0, 10); }

inline std::uint64_t sm_seq(const nlohmann::json& state) {
    auto it = state.find("seq");
    return it != state.end() && it->is_number() ? it->get<std::uint64_t>() : 0;
}
inline std::string sm_text(const nlohmann::json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

/// `<ms>_<token>`: what follows `<machine>_<entity>_` in the id of an entry send() wrote.
inline bool sm_sent_suffix(std::string_view s) {
    const auto us = s.find('_');
    if (us == 0 || us == std::string_view::npos || us + 1 == s.size()) return false;
    const auto digit = [](char c) { return c >= '0' && c <= '9'; };
    return std::all_of(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(us), digit) &&
           s.find('_', us + 1) == std::string_view::npos;
}

inline std::string sm_state_id(std::string_view machine, std::string_view entity) {
    return std::string(machine) + "_" + std::string(entity);
}

/// Everything the plugin does, shared with the timer thread and event listeners (which outlive
/// a move of the plugin object).
struct StateMachineCore {
    using json = nlohmann::json;
    struct Counters {
        std::atomic<std::uint64_t> transitions{0}, rejected{0}, conflicts{0}, orphans_removed{0}, action_errors{0},
            triggers_fired{0}, trigger_scans{0};
    };

    /// A trigger's condition on the CAS: the entity is still in the state entry it was found in.
    struct TriggerFire {
        const TriggerConfig* trigger;
        std::uint64_t entry_seq;
    };

    StateMachineOptions options;
    std::mutex mutex;
    std::shared_ptr<detail::StateMachineBackend> backend;
    std::function<void(std::string_view, const json&)> emit;
    Counters counters;
    std::thread timer;
    std::mutex timer_mutex;
    std::condition_variable timer_cv;
    bool stopping = false;

    ~StateMachineCore() { stop_timer(); }

    const detail::StateMachineBackend& backend_ref() {
        std::lock_guard lock(mutex);
        if (!backend) throw PluginError("StateMachine", "not installed");
        return *backend;
    }

    const MachineConfig& machine(const std::string& m, const std::string& entity, bool check_entity = true) const {
        auto it = options.state_machines.find(m);
        if (it == options.state_machines.end())
            throw InvalidTransition(m, entity, "", "", "no state machine named '" + m + "'");
        if (check_entity && (entity.empty() || entity.find('/') != std::string::npos))
            throw InvalidTransition(m, entity, "", "", "an entity id is not empty and has no '/'");
        return it->second;
    }

    /// A state record of another machine's entity under the same id (`m` + `_x_y` vs `m_x` +
    /// `_y`) is never taken for this one's.
    static void check_owner(const json& record, const std::string& m, const std::string& entity) {
        const std::string rm = detail::sm_text(record, "machineId"), re = detail::sm_text(record, "entityId");
        if ((!rm.empty() && rm != m) || (!re.empty() && re != entity))
            throw InvalidTransition(m, entity, detail::sm_text(record, "currentState"), "",
                                    "its state id '" + sm_state_id(m, entity) + "' holds machine '" + rm + "', entity '" + re + "'");
    }

    StateGuard find_guard(const MachineConfig& m, const StateConfig& s, const std::string& event, std::string& gname) const {
        if (auto f = s.guard_fns.find(event); f != s.guard_fns.end()) {
            gname = "<callable>";
            return f->second;
        }
        auto g = s.guards.find(event);
        if (g == s.guards.end()) return {};
        gname = g->second;
        if (auto x = m.guards.find(g->second); x != m.guards.end()) return x->second;
        return options.guards.at(g->second);  // validate() checked it exists
    }

    static json next_context(const MachineConfig& m, const json& context, const json& payload, const std::string& event) {
        if (m.assign) return m.assign(context, payload, event);
        json out = context.is_object() ? context : json::object();
        if (payload.is_object())
            for (auto it = payload.begin(); it != payload.end(); ++it) out[it.key()] = it.value();
        return out;
    }

    /// One transition planned on one version of the state record: its log entry.
    struct Plan {
        std::uint64_t base_seq;
        std::string base_last;
        json entry;
        json context;
    };

    std::optional<TransitionResult> send(const std::string& mname, const std::string& entity, const std::string& event,
                                         const json& payload, const TriggerFire* fire) {
        const auto& m = machine(mname, entity);
        const auto& b = backend_ref();
        const std::string sid = sm_state_id(mname, entity);
        std::vector<std::string> orphans;
        std::optional<Plan> plan;
        auto cleanup = [&] {
            for (auto& id : orphans) {
                try {
                    if (b.log) b.remove_log(id);
                    counters.orphans_removed.fetch_add(1, std::memory_order_relaxed);
                } catch (const std::exception&) {  // readers skip it anyway
                }
            }
            orphans.clear();
        };
        // Checks the event on one version of the record (null: none yet) and writes its log
        // entry; the same version seen again (after an unanswered write that did not land)
        // keeps the entry already written.
        auto plan_on = [&](const json* record) -> const Plan& {
            const std::uint64_t seq = record ? detail::sm_seq(*record) : 0;
            const std::string last = record ? detail::sm_text(*record, "lastTransition") : std::string{};
            if (plan && plan->base_seq == seq && plan->base_last == last) return *plan;
            if (plan) {
                orphans.push_back(plan->entry["id"].get<std::string>());
                counters.conflicts.fetch_add(1, std::memory_order_relaxed);
                plan.reset();
            }
            if (fire && seq != fire->entry_seq) throw detail::TriggerStale{};
            if (record) check_owner(*record, mname, entity);
            const std::string from = record ? detail::sm_text(*record, "currentState") : m.initial_state;
            const json context = record && record->contains("context") && (*record)["context"].is_object()
                                     ? (*record)["context"] : json::object();
            auto st = m.states.find(from);
            if (st == m.states.end()) throw InvalidTransition(mname, entity, from, event, "the state is not one of the machine's");
            if (st->second.type == "final") throw InvalidTransition(mname, entity, from, event, "the state is final");
            auto on = st->second.on.find(event);
            if (on == st->second.on.end()) throw InvalidTransition(mname, entity, from, event, "the state does not accept it");
            const std::string& to = on->second;
            std::string gname;
            if (auto guard = find_guard(m, st->second, event, gname)) {
                bool ok = false;
                try {
                    ok = guard(StateMachineCall{context, payload, mname, entity, event, from, to});
                } catch (const std::exception&) {
                    ok = false;
                }
                if (!ok) throw TransitionBlocked(mname, entity, from, event, gname);
            }
            const std::int64_t now = detail::epoch_ms(std::chrono::system_clock::now());
            json entry{{"id", mname + "_" + entity + "_" + std::to_string(now) + "_" + detail::new_write_token()},
                       {"machineId", mname}, {"entityId", entity}, {"fromState", from}, {"toState", to},
                       {"event", event}, {"context", payload}, {"timestamp", now}, {"createdAt", detail::sm_date(now)},
                       {"seq", seq + 1}};
            if (!last.empty()) entry["previousId"] = last;
            // Before the CAS: once the state names it, it is there.
            if (options.persist_transitions) {
                try {
                    b.insert_log(entry);
                } catch (const OutcomeUnknown& e) {  // an orphan at worst: the state is untouched
                    orphans.push_back(entry["id"].get<std::string>());
                    throw TransitionFailed(mname, entity, event, std::string("writing its log entry: ") + e.what());
                }
            }
            plan = Plan{seq, last, std::move(entry), next_context(m, context, payload, event)};
            return *plan;
        };
        auto apply = [&](json& record, const Plan& p) {
            const auto& e = p.entry;
            record["machineId"] = mname;
            record["entityId"] = entity;
            record["currentState"] = e["toState"];
            record["context"] = p.context;
            record["lastTransition"] = e["id"];
            record["seq"] = e["seq"];
            record["enteredAt"] = e["timestamp"];
            record["updatedAt"] = detail::iso_string(e["timestamp"].get<std::int64_t>());
            if (!record.contains("triggerCounts") || !record["triggerCounts"].is_object()) record["triggerCounts"] = json::object();
            if (fire) {
                auto& n = record["triggerCounts"][fire->trigger->name];
                n = (n.is_number() ? n.get<std::int64_t>() : 0) + 1;
            }
        };

        json stored;
        for (int attempt = 1;; ++attempt) {
            const auto round_start = std::chrono::steady_clock::now();
            try {
                try {
                    stored = b.update_state(sid, [&](json& record) { apply(record, plan_on(&record)); });
                    break;
                } catch (const RecordNotFound&) {
                }
                json record{{"id", sid}};
                apply(record, plan_on(nullptr));
                stored = b.insert_state(record);
                break;
            } catch (const AlreadyExists&) {  // created meanwhile: our entry is an orphan
                if (plan) orphans.push_back(plan->entry["id"].get<std::string>());
                plan.reset();
                counters.conflicts.fetch_add(1, std::memory_order_relaxed);
            } catch (const UpdateConflict&) {  // Resource::update lost all its rounds
            } catch (const InvalidTransition&) {
                counters.rejected.fetch_add(1, std::memory_order_relaxed);
                cleanup();
                throw;
            } catch (const detail::TriggerStale&) {
                cleanup();
                return std::nullopt;
            } catch (const OutcomeUnknown&) {
                cleanup();  // the planned entry stays: the state may name it
                throw;
            } catch (...) {
                // The state's write did not land (a definite failure): the entry is an orphan.
                if (plan) orphans.push_back(plan->entry["id"].get<std::string>());
                cleanup();
                throw;
            }
            if (attempt >= options.max_send_attempts) {
                if (plan) orphans.push_back(plan->entry["id"].get<std::string>());
                cleanup();
                throw TransitionConflict(mname, entity, attempt);
            }
            detail::contention_pause(static_cast<std::size_t>(attempt), std::chrono::microseconds(500),
                                     std::chrono::milliseconds(64), detail::elapsed_since(round_start));
        }
        // Entries planned on versions before the one that landed are orphans.
        const std::string landed = detail::sm_text(stored, "lastTransition");
        if (plan && plan->entry["id"] != landed) orphans.push_back(plan->entry["id"].get<std::string>());
        cleanup();
        counters.transitions.fetch_add(1, std::memory_order_relaxed);
        if (fire) counters.triggers_fired.fetch_add(1, std::memory_order_relaxed);

        const json& e = plan->entry;
        TransitionResult r{landed, mname, entity, event, e["fromState"], e["toState"], stored.value("context", json::object()),
                           e["timestamp"].get<std::int64_t>(), e["seq"].get<std::uint64_t>(), {}};
        run_actions(m, r, payload);
        emit_event("plg:state-machine:transition",
             json{{"machineId", mname}, {"entityId", entity}, {"from", r.from}, {"to", r.to}, {"event", event},
                  {"context", payload}, {"transitionId", r.id}, {"seq", r.seq}, {"timestamp", r.timestamp}});
        return r;
    }

    void run_actions(const MachineConfig& m, TransitionResult& r, const json& payload) {
        const auto& from = m.states.at(r.from);
        const auto& to = m.states.at(r.to);
        run_action(m, from, from.exit, r, payload);
        run_action(m, to, to.entry, r, payload);
    }

    void run_action(const MachineConfig& m, const StateConfig& s, const std::string& aname, TransitionResult& r,
                    const json& payload) {
        if (aname.empty()) return;
        auto it = m.actions.find(aname);
        const StateAction& action = it != m.actions.end() ? it->second : options.actions.at(aname);
        const RetryConfig& rc = s.retry ? *s.retry : m.retry ? *m.retry : options.action_retry;
        auto pause = rc.backoff;
        for (int attempt = 1;; ++attempt) {
            try {
                action(StateMachineCall{r.context, payload, r.machine, r.entity, r.event, r.from, r.to});
                return;
            } catch (const std::exception& e) {
                const bool again = attempt < rc.max_attempts && (!rc.retryable || rc.retryable(e));
                if (!again) {
                    counters.action_errors.fetch_add(1, std::memory_order_relaxed);
                    r.action_errors.push_back(aname + ": " + e.what());
                    emit_event("plg:state-machine:action-error",
                         json{{"machineId", r.machine}, {"entityId", r.entity}, {"action", aname},
                              {"transitionId", r.id}, {"attempts", attempt}, {"error", e.what()}});
                    return;
                }
                if (rc.on_retry) rc.on_retry(attempt, e);
                std::this_thread::sleep_for(pause);
                pause = std::min(rc.max_backoff, std::chrono::duration_cast<std::chrono::milliseconds>(pause * rc.backoff_multiplier));
            }
        }
    }

    json initialize(const std::string& mname, const std::string& entity, const json& context) {
        const auto& m = machine(mname, entity);
        const auto& b = backend_ref();
        const std::int64_t now = detail::epoch_ms(std::chrono::system_clock::now());
        json record{{"id", sm_state_id(mname, entity)}, {"machineId", mname}, {"entityId", entity},
                    {"currentState", m.initial_state}, {"context", context.is_object() ? context : json::object()},
                    {"triggerCounts", json::object()}, {"updatedAt", detail::iso_string(now)}, {"seq", 0},
                    {"enteredAt", now}};
        try {
            record = b.insert_state(record);
        } catch (const AlreadyExists&) {
            if (auto s = b.get_state(sm_state_id(mname, entity))) return *s;
            throw;
        }
        const auto& s = m.states.at(m.initial_state);
        TransitionResult r{"", mname, entity, "", "", m.initial_state, record["context"], now, 0, {}};
        run_action(m, s, s.entry, r, json::object());
        return record;
    }

    std::vector<json> history(const std::string& mname, const std::string& entity, const HistoryOptions& o) {
        machine(mname, entity);
        const auto& b = backend_ref();
        std::vector<json> out;
        if (!b.log) return out;
        auto state = b.get_state(sm_state_id(mname, entity));
        if (!state) return out;
        std::string head = detail::sm_text(*state, "lastTransition");
        if (head.empty()) return out;
        auto entries = entity_entries(b, mname, entity, true);
        std::map<std::string, json> by_id;
        for (auto& e : entries) by_id.emplace(detail::sm_text(e, "id"), std::move(e));
        for (std::string id = head; !id.empty();) {
            auto it = by_id.find(id);
            if (it == by_id.end()) break;  // deleted by hand: the path stops there
            id = detail::sm_text(it->second, "previousId");
            out.push_back(std::move(it->second));
            by_id.erase(it);  // a cycle (a hand-made log) cannot loop
        }
        std::reverse(out.begin(), out.end());
        if (o.offset >= out.size()) return {};
        out.erase(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(o.offset));
        if (o.limit && out.size() > o.limit) out.resize(o.limit);
        return out;
    }

    /// The log entries of one entity (orphans included): 1 LIST of the ids that start with
    /// `<machine>_<entity>_`, then 1 GET each, kept when machineId and entityId match. `sent_only`:
    /// only ids as send() makes them (`<ms>_<token>` after the prefix), so entity `e_1`'s
    /// entries (`…_e_1_<ms>_<token>`) are not read for entity `e` — what history needs; deleting
    /// reads them all (an s3db.js entry `<machine>_<entity>_<ms>` included).
    static std::vector<json> entity_entries(const detail::StateMachineBackend& b, const std::string& mname,
                                            const std::string& entity, bool sent_only) {
        const std::string prefix = mname + "_" + entity + "_";
        std::vector<std::string> ids;
        for (auto& id : b.log_ids(prefix))
            if (id.starts_with(prefix) && (!sent_only || sm_sent_suffix(std::string_view(id).substr(prefix.size()))))
                ids.push_back(std::move(id));
        std::vector<json> out;
        for (auto& e : b.get_logs(ids))
            if (e && detail::sm_text(*e, "entityId") == entity && detail::sm_text(*e, "machineId") == mname)
                out.push_back(std::move(*e));
        return out;
    }

    void delete_entity(const std::string& mname, const std::string& entity) {
        machine(mname, entity);
        const auto& b = backend_ref();
        b.remove_state(sm_state_id(mname, entity));  // first: no chain names the entries any more
        if (!b.log) return;
        for (auto& e : entity_entries(b, mname, entity, false)) b.remove_log(detail::sm_text(e, "id"));
    }

    // ---- triggers -----------------------------------------------------------------------------

    bool has_time_triggers() const {
        for (const auto& [mname, m] : options.state_machines)
            for (const auto& [sname, s] : m.states)
                for (const auto& t : s.triggers)
                    if (t.kind != TriggerKind::on_event) return true;
        return false;
    }

    static bool under_limit(const TriggerConfig& t, const json& record) {
        if (t.max_triggers <= 0) return true;
        auto tc = record.find("triggerCounts");
        if (tc == record.end() || !tc->is_object() || !tc->contains(t.name)) return true;
        const auto& n = (*tc)[t.name];
        return !n.is_number() || n.get<std::int64_t>() < t.max_triggers;
    }

    /// Fires `t` on the entity unless it left the state entry `record` shows.
    bool fire(const std::string& mname, const std::string& entity, const TriggerConfig& t, const json& record,
              const json& payload) {
        TriggerFire f{&t, detail::sm_seq(record)};
        try {
            return send(mname, entity, t.send_event, payload, &f).has_value();
        } catch (const InvalidTransition&) {
            return false;  // left the state meanwhile (or a guard said no)
        }
    }

    std::optional<std::int64_t> due_at(const TriggerConfig& t, const json& record) const {
        if (t.kind == TriggerKind::after) {
            auto entered = record.find("enteredAt");
            if (entered == record.end() || !entered->is_number()) return std::nullopt;
            return entered->get<std::int64_t>() + t.after.count();
        }
        auto cx = record.find("context");
        if (cx == record.end() || !cx->is_object()) return std::nullopt;
        auto v = cx->find(t.date_field);
        if (v == cx->end()) return std::nullopt;
        if (v->is_number()) return v->get<std::int64_t>();
        if (v->is_string()) return detail::parse_js_date(v->get<std::string>());
        return std::nullopt;
    }

    std::size_t check_triggers() {
        if (!has_time_triggers()) return 0;
        const auto& b = backend_ref();
        counters.trigger_scans.fetch_add(1, std::memory_order_relaxed);
        std::size_t fired = 0;
        const std::int64_t now = detail::epoch_ms(std::chrono::system_clock::now());
        for (const auto& record : b.list_states()) {
            auto mit = options.state_machines.find(detail::sm_text(record, "machineId"));
            if (mit == options.state_machines.end()) continue;
            auto sit = mit->second.states.find(detail::sm_text(record, "currentState"));
            if (sit == mit->second.states.end()) continue;
            for (const auto& t : sit->second.triggers) {
                if (t.kind == TriggerKind::on_event || !under_limit(t, record)) continue;
                auto due = due_at(t, record);
                if (!due || *due > now) continue;
                try {
                    if (fire(mit->first, detail::sm_text(record, "entityId"), t, record,
                             json{{"trigger", t.name}})) {
                        ++fired;
                        break;  // the entity left this state entry
                    }
                } catch (const std::exception&) {  // the next scan tries again
                }
            }
        }
        return fired;
    }

    void on_plugin_event(const std::string& event_name, const json& data) {
        if (!data.is_object() || !data.contains("entityId") || !data["entityId"].is_string()) return;
        const std::string entity = data["entityId"];
        const std::string only = data.contains("machineId") && data["machineId"].is_string() ? data["machineId"].get<std::string>() : "";
        for (const auto& [mname, m] : options.state_machines) {
            if (!only.empty() && only != mname) continue;
            bool listens = false;
            for (const auto& [sname, s] : m.states)
                for (const auto& t : s.triggers) listens |= t.kind == TriggerKind::on_event && t.event_name == event_name;
            if (!listens) continue;
            try {
                auto record = backend_ref().get_state(sm_state_id(mname, entity));
                if (!record) continue;
                auto sit = m.states.find(detail::sm_text(*record, "currentState"));
                if (sit == m.states.end()) continue;
                for (const auto& t : sit->second.triggers)
                    if (t.kind == TriggerKind::on_event && t.event_name == event_name && under_limit(t, *record) &&
                        fire(mname, entity, t, *record, data))
                        break;
            } catch (const std::exception&) {  // an event listener never throws into the emitter
            }
        }
    }

    void start_timer() {
        if (!has_time_triggers() || timer.joinable()) return;
        {
            std::lock_guard lock(timer_mutex);
            stopping = false;
        }
        timer = std::thread([this] {
            std::unique_lock lock(timer_mutex);
            while (!timer_cv.wait_for(lock, options.trigger_check_interval, [this] { return stopping; })) {
                lock.unlock();
                try {
                    check_triggers();
                } catch (const std::exception&) {
                }
                lock.lock();
            }
        });
    }
    void stop_timer() {
        {
            std::lock_guard lock(timer_mutex);
            stopping = true;
        }
        timer_cv.notify_all();
        if (timer.joinable()) timer.join();
    }
    bool timer_running() const { return timer.joinable(); }

    void emit_event(std::string_view event, const json& data) {
        if (emit) emit(event, data);
    }
};

}  // namespace detail

}  // namespace s3db
