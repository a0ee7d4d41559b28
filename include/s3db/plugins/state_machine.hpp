#pragma once
// StateMachine: finite state machines over entities (an order, a ticket), with guards, entry/exit
// actions, final states, triggers, a transition log and the entity states kept in the bucket, in
// the resources s3db.js's StateMachinePlugin uses.
//
//   BasicDatabase<S3, StateMachine> db(s3, {}, StateMachine({.state_machines = {{"order", {
//       .initial_state = "pending",
//       .states = {{"pending", {.on = {{"PAY", "paid"}}, .guards = {{"PAY", "canPay"}}}},
//                  {"paid", {.type = "final"}}}}}}, .guards = {{"canPay", …}}}));
//   auto t = db.plugin<StateMachine>().send("order", "o1", "PAY", {{"amount", 10}});  // t.to == "paid"
//
// Resources (body-overflow, so large contexts fit):
//   plg_state_transitions  id `<machine>_<entity>_<ms>_<8 random>`, machineId, entityId, fromState,
//                          toState, event, context (json), timestamp (ms), createdAt (YYYY-MM-DD),
//                          + seq (1, 2, … per entity) and previousId (the entity's transition before);
//                          partition byDate {createdAt}. The ids sort by entity, so one LIST by
//                          the prefix `<machine>_<entity>_` (or `<machine>_`) of the data keys
//                          finds an entity's (a machine's) entries: s3db.js's byMachine partition
//                          would cost 1 PUT per send for what that prefix gives, and is only
//                          written with `by_machine_partition` (or when the bucket's resource,
//                          made by s3db.js, has it: then it is kept up to date)
//   plg_entity_states      id `<machine>_<entity>`, machineId, entityId, currentState, context,
//                          lastTransition (the id of the entity's newest transition), triggerCounts,
//                          updatedAt, + seq and enteredAt (ms the current state was entered)
//
// A send is a compare-and-swap on the entity's state record, with no lock: Resource::update reads
// the record (1 GET, its ETag and write tokens), the event is checked against the state it read and
// the guard run on it, the transition's log entry is written, and the record is written back with
// If-Match. When another writer got there first (412) the record is read again and everything is
// checked again on the new state: the event may no longer be valid (InvalidTransition) or allowed
// (TransitionBlocked). A write whose answer was lost is settled by Resource::update's write tokens:
// applied once, not applied, or OutcomeUnknown — never applied twice.
//
// The log is written *before* the state's CAS, with a fresh id, and each entry names the entry
// before it (previousId); the state record names the newest (lastTransition). The history is the
// chain walked back from the state record, so it is always a valid path from the initial state,
// and every transition the CAS accepted is on it exactly once, even when a process dies between the
// two writes. An entry whose CAS lost (or never ran) is an orphan no chain names: readers skip it,
// and the writer that lost deletes it. s3db.js writes the log after the state and loses the entry
// when it dies in between.
//
// Actions run after the CAS won, on the sender's thread: exit of the state left, then entry of the
// state entered, each retried per its RetryConfig. So no action runs for a transition that lost a
// race (s3db.js runs exit before persisting). An action that still fails does not undo the
// transition (it is committed): it is reported in TransitionResult::action_errors, in status and
// as the event `plg:state-machine:action-error`.
//
// Costs per send with no contention: 1 GET + 1 PUT of the state, 1 PUT of the log entry + 1 PUT
// of its byDate ref: 4 requests (tests/test_state_machine.cpp counts them); 3 with
// `transition_partitions = false`, 5 with `by_machine_partition` (s3db.js: ~11 — a lock object, 3
// GETs, a HEAD, 2 PUTs, partition refs, the lock's release). A new entity: 1 GET (404) + the log
// entry and its ref + 1 PUT If-None-Match: 4 too. Each lost round adds 1 GET + the log entry, and
// deleting the orphan (GET + DELETE + 1 per partition).
// get_state: 1 GET. get_transition_history: 1 GET of the state + 1 LIST by the entity's id prefix
// (per 1000 entries) + 1 GET per entry of that entity (on the pool). delete_entity: the same + 1
// DELETE of the state + the entries' removals. Triggers that fire on time scan the entity states
// every trigger_check_interval (LIST + 1 GET per entity) from one thread started in on_start.
//
// Triggers act on entities that have a state record (initialize_entity, or any accepted send). A
// trigger fires by sending its event with a condition on the CAS: the entity is still in the state
// entry the trigger saw (the record's seq). So two processes' timers, or a timer and an event,
// fire it once per (entity, trigger, state entry); triggerCounts counts the fires. Its payload
// (stored as the entry's context, and merged into the entity's by default) is {"trigger": name}
// for time triggers and the plugin event's data for on_event ones.
//
// Thread-safety: every member may be called from any thread once the plugin is installed.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "s3db/errors.hpp"
#include "s3db/core/catalogue.hpp"
#include "s3db/core/ids.hpp"
#include "s3db/core/listing.hpp"
#include "s3db/core/plugin.hpp"
#include "s3db/core/resource.hpp"
#include "s3db/plugins/state_machine/config.hpp"
#include "s3db/plugins/state_machine/engine.hpp"
#include "s3db/transport/transport.hpp"

namespace s3db {

class StateMachine : public Plugin<StateMachine> {
public:
    static constexpr std::string_view name = "StateMachine";
    using json = nlohmann::json;

    explicit StateMachine(StateMachineOptions options = {}, PluginOptions plugin_options = {})
        : Plugin<StateMachine>(plugin_options), core_(std::make_shared<Core>()) {
        core_->options = std::move(options);
    }

    const StateMachineOptions& options() const noexcept { return core_->options; }

    // ---- lifecycle ------------------------------------------------------------------------------

    /// Every machine's initial state, targets, guard and action names and triggers must exist.
    void validate() const {
        const auto& o = core_->options;
        auto fail = [](const std::string& machine, const std::string& why) {
            throw PluginError(name, "machine '" + machine + "': " + why);
        };
        for (const auto& [mname, m] : o.state_machines) {
            if (mname.empty() || mname.find('/') != std::string::npos) fail(mname, "a machine name is not empty and has no '/'");
            if (!m.states.contains(m.initial_state)) fail(mname, "initial_state '" + m.initial_state + "' is not one of its states");
            for (const auto& [sname, s] : m.states) {
                if (!s.type.empty() && s.type != "final") fail(mname, "state '" + sname + "': type '" + s.type + "' (only \"final\")");
                if (s.type == "final" && !s.on.empty()) fail(mname, "final state '" + sname + "' accepts no events");
                for (const auto& [event, target] : s.on)
                    if (!m.states.contains(target))
                        fail(mname, "state '" + sname + "': event '" + event + "' goes to '" + target + "', which is not a state");
                for (const auto& [event, g] : s.guards) {
                    if (!s.on.contains(event)) fail(mname, "state '" + sname + "': guard for event '" + event + "' it does not accept");
                    if (!m.guards.contains(g) && !o.guards.contains(g)) fail(mname, "state '" + sname + "': no guard named '" + g + "'");
                }
                for (const auto* a : {&s.entry, &s.exit})
                    if (!a->empty() && !m.actions.contains(*a) && !o.actions.contains(*a))
                        fail(mname, "state '" + sname + "': no action named '" + *a + "'");
                for (const auto& t : s.triggers) {
                    if (t.name.empty()) fail(mname, "state '" + sname + "': a trigger needs a name");
                    if (!s.on.contains(t.send_event))
                        fail(mname, "state '" + sname + "': trigger '" + t.name + "' sends '" + t.send_event + "', which the state does not accept");
                    if (t.kind == TriggerKind::at && t.date_field.empty()) fail(mname, "trigger '" + t.name + "' needs a date_field");
                    if (t.kind == TriggerKind::on_event && t.event_name.empty()) fail(mname, "trigger '" + t.name + "' needs an event_name");
                }
            }
        }
        // State ids are `<machine>_<entity>` as in s3db.js: machines "a" and "a_b" could share one.
        for (const auto& [a, ma] : o.state_machines)
            for (const auto& [b, mb] : o.state_machines)
                if (a != b && b.starts_with(a + "_"))
                    fail(b, "its name starts with machine '" + a + "_': their entities' state ids `<machine>_<entity>` could collide");
        if (o.max_send_attempts < 1) throw PluginError(name, "max_send_attempts must be at least 1");
        if (o.trigger_check_interval <= std::chrono::milliseconds(0)) throw PluginError(name, "trigger_check_interval must be positive");
    }

    /// Opens the two resources (creating them as s3db.js defines them, or adopting the bucket's)
    /// and listens for the plugin events on_event triggers name.
    template <class Db>
    void on_install(Db& db) {
        auto& o = core_->options;
        auto& states = db.has_resource(o.states_resource) ? db.resource(o.states_resource)
                                                          : db.create_resource(states_config());
        auto* log = o.persist_transitions ? (db.has_resource(o.transitions_resource) ? &db.resource(o.transitions_resource)
                                                                                      : &db.create_resource(transitions_config()))
                                          : nullptr;
        auto b = std::make_shared<detail::StateMachineBackend>();
        b->db = DatabaseRef(db);
        b->states = ResourceRef(states);
        if (log) {
            b->log = ResourceRef(*log);
            b->log_data = record_key(log->name(), "");
        }
        core_->emit = [this](std::string_view event, const json& data) {
            if (listened(event)) emit(event, data);
        };
        {
            std::lock_guard lock(core_->mutex);
            core_->backend = std::move(b);
        }
        // on_event triggers: a plugin event naming the entity fires them (from the emitter's thread).
        std::set<std::string> names;
        for (const auto& [mname, m] : o.state_machines)
            for (const auto& [sname, s] : m.states)
                for (const auto& t : s.triggers)
                    if (t.kind == TriggerKind::on_event) names.insert(t.event_name);
        std::weak_ptr<Core> weak = core_;
        for (const auto& n : names)
            db.on_plugin_event(n, [weak, n](const json& data) {
                if (auto core = weak.lock()) core->on_plugin_event(n, data);
            });
    }

    /// Starts the trigger thread when a machine has a trigger that fires on time.
    void on_start() { core_->start_timer(); }
    void on_stop() { core_->stop_timer(); }

    /// Unhealthy when time triggers need the timer thread and it is not running.
    PluginHealth health() const {
        const bool timer_ok = !core_->has_time_triggers() || core_->timer_running();
        return {timer_ok, (timer_ok ? std::string{} : std::string("trigger timer not running; ")) + status().dump()};
    }

    /// Counters since install: sends accepted, rejected, CAS rounds lost, orphans removed, action
    /// failures, triggers fired, trigger scans.
    json status() const {
        const auto& c = core_->counters;
        return {{"transitions", c.transitions.load()}, {"rejected", c.rejected.load()},
                {"conflicts", c.conflicts.load()},     {"orphansRemoved", c.orphans_removed.load()},
                {"actionErrors", c.action_errors.load()}, {"triggersFired", c.triggers_fired.load()},
                {"triggerScans", c.trigger_scans.load()}, {"timerRunning", core_->timer_running()}};
    }

    // ---- the API --------------------------------------------------------------------------------

    /// Sends `event` to the entity: its state moves along the event's transition when the event is
    /// valid there and its guard allows it. InvalidTransition / TransitionBlocked otherwise, before
    /// anything is written; TransitionConflict after max_send_attempts lost rounds; TransitionFailed
    /// when the log entry could not be written (the state untouched); OutcomeUnknown when the store
    /// cannot tell whether the state's write landed (then it landed once or not at all).
    TransitionResult send(std::string_view machine, std::string_view entity, std::string_view event,
                          const json& payload = json::object()) {
        return *core_->send(std::string(machine), std::string(entity), std::string(event), payload, nullptr);
    }

    /// The entity's current state (its machine's initial state when it has none yet): 1 GET.
    std::string get_state(std::string_view machine, std::string_view entity) const {
        const auto& m = core_->machine(std::string(machine), std::string(entity));
        auto s = core_->backend_ref().get_state(state_id(machine, entity));
        if (s) Core::check_owner(*s, std::string(machine), std::string(entity));
        return s ? detail::sm_text(*s, "currentState") : m.initial_state;
    }

    /// The entity's state record (currentState, context, lastTransition, triggerCounts, seq, …);
    /// nullopt when it has none yet.
    std::optional<json> get_entity(std::string_view machine, std::string_view entity) const {
        core_->machine(std::string(machine), std::string(entity));
        return core_->backend_ref().get_state(state_id(machine, entity));
    }

    /// The events the entity's current state accepts (none in a final state): 1 GET.
    std::vector<std::string> get_valid_events(std::string_view machine, std::string_view entity) const {
        return valid_events_in(machine, get_state(machine, entity));
    }

    /// The events `state` accepts, without a request.
    std::vector<std::string> valid_events_in(std::string_view machine, std::string_view state) const {
        const auto& m = core_->machine(std::string(machine), "", false);
        auto it = m.states.find(std::string(state));
        std::vector<std::string> out;
        if (it == m.states.end()) return out;
        for (const auto& [event, target] : it->second.on) out.push_back(event);
        return out;
    }

    /// Creates the entity's state record in the initial state (1 PUT If-None-Match); an entity that
    /// already has one keeps it. Returns the record. Entry action of the initial state: run when
    /// this call created it.
    json initialize_entity(std::string_view machine, std::string_view entity, const json& context = json::object()) {
        return core_->initialize(std::string(machine), std::string(entity), context);
    }

    /// The entity's transitions, oldest first: the chain the state record names, so a valid path
    /// from the initial state with every accepted transition once; orphans are skipped.
    std::vector<json> get_transition_history(std::string_view machine, std::string_view entity,
                                             const HistoryOptions& o = {}) const {
        return core_->history(std::string(machine), std::string(entity), o);
    }

    /// Deletes the entity's state record and its log entries (orphans included).
    void delete_entity(std::string_view machine, std::string_view entity) {
        core_->delete_entity(std::string(machine), std::string(entity));
    }

    /// Checks every time trigger now (the timer thread does this every trigger_check_interval);
    /// returns how many fired.
    std::size_t check_triggers() { return core_->check_triggers(); }

    /// `<machine>_<entity>`, as s3db.js names the entity's state record.
    static std::string state_id(std::string_view machine, std::string_view entity) {
        return detail::sm_state_id(machine, entity);
    }

    /// s3db.js's definitions of the two resources.
    ResourceConfig transitions_config() const {
        ResourceConfig c{.name = core_->options.transitions_resource,
                         .attributes = {{"machineId", "string|required"}, {"entityId", "string|required"},
                                        {"fromState", "string|optional"}, {"toState", "string|required"},
                                        {"event", "string|required"}, {"context", "json|optional"},
                                        {"timestamp", "number|required"}, {"createdAt", "string|required"},
                                        {"seq", "number|optional"}, {"previousId", "string|optional"}},
                         .behavior = "body-overflow",
                         .created_by = "StateMachinePlugin"};
        if (core_->options.transition_partitions) {
            if (core_->options.by_machine_partition) c.partitions["byMachine"] = {{"fields", {{"machineId", "string"}}}};
            c.partitions["byDate"] = {{"fields", {{"createdAt", "string|maxlength:10"}}}};
        }
        return c;
    }
    ResourceConfig states_config() const {
        return {.name = core_->options.states_resource,
                .attributes = {{"machineId", "string|required"}, {"entityId", "string|required"},
                               {"currentState", "string|required"}, {"context", "json|optional"},
                               {"lastTransition", "string|optional"}, {"triggerCounts", "json|optional"},
                               {"updatedAt", "string|required"}, {"seq", "number|optional"},
                               {"enteredAt", "number|optional"}},
                .behavior = "body-overflow",
                .created_by = "StateMachinePlugin"};
    }

private:
    using Core = detail::StateMachineCore;

    std::shared_ptr<Core> core_;
};

}  // namespace s3db
