#pragma once
// StateMachine's configuration (s3db.js's `stateMachines`, `actions`, `guards`, `retryConfig`,
// triggers), what send() returns, and its typed errors. See s3db/plugins/state_machine.hpp for what the plugin does.

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "s3db/errors.hpp"

namespace s3db {

/// What a guard or an action sees. `context` is the entity's stored context before the transition
/// (after it, for entry actions), `payload` the context given to send().
struct StateMachineCall {
    const nlohmann::json& context;
    const nlohmann::json& payload;
    std::string_view machine;
    std::string_view entity;
    std::string_view event;
    std::string_view from;
    std::string_view to;
};

/// true lets the transition happen; false (or an exception) blocks it: TransitionBlocked.
using StateGuard = std::function<bool(const StateMachineCall&)>;
/// An entry or exit action. An exception is an action failure (retried per RetryConfig).
using StateAction = std::function<void(const StateMachineCall&)>;
/// The entity's context after a transition, from the one before and send()'s payload. The default
/// merges an object payload into the context (one level, as update does) and keeps it otherwise.
using ContextAssign = std::function<nlohmann::json(const nlohmann::json& context, const nlohmann::json& payload,
                                                   std::string_view event)>;

/// s3db.js's retryConfig of actions.
struct RetryConfig {
    int max_attempts = 1;  // 1: no retry
    std::chrono::milliseconds backoff{100};
    double backoff_multiplier = 2.0;
    std::chrono::milliseconds max_backoff{5'000};
    /// Whether an error is worth another attempt (s3db.js's retryableErrors / nonRetriableErrors);
    /// empty: every error is.
    std::function<bool(const std::exception&)> retryable{};
    std::function<void(int attempt, const std::exception&)> on_retry{};
};

enum class TriggerKind {
    after,     // `after` since the entity entered the state
    at,        // at the date the entity's context holds in `date_field` (ms since epoch or ISO text)
    on_event,  // when a plugin event named `event_name` names the entity (data "entityId")
};

/// A trigger of a state: when it fires, the machine event `send_event` is sent to the entity, at
/// most once per (entity, trigger, entry into the state).
struct TriggerConfig {
    std::string name;
    TriggerKind kind = TriggerKind::after;
    std::chrono::milliseconds after{0};
    std::string date_field{};
    std::string event_name{};
    std::string send_event;
    int max_triggers = 0;  // > 0: fires at most this many times per entity over its life (triggerCounts)
};

struct StateConfig {
    std::map<std::string, std::string> on{};           // event -> target state
    std::map<std::string, std::string> guards{};       // event -> guard name (the machine's, else the plugin's)
    std::map<std::string, StateGuard> guard_fns{};     // event -> guard callable
    std::string entry{};                               // action name run on entering the state
    std::string exit{};                                // action name run on leaving it
    std::string type{};                                // "final": no event is accepted
    std::optional<RetryConfig> retry{};                // this state's actions; else the machine's
    std::vector<TriggerConfig> triggers{};
};

struct MachineConfig {
    std::string initial_state;
    std::map<std::string, StateConfig> states;
    std::map<std::string, StateGuard> guards{};    // named guards of this machine
    std::map<std::string, StateAction> actions{};  // named actions of this machine
    std::optional<RetryConfig> retry{};            // its actions; else the plugin's action_retry
    ContextAssign assign{};
};

struct StateMachineOptions {
    std::map<std::string, MachineConfig> state_machines;
    std::map<std::string, StateAction> actions{};  // shared by every machine (s3db.js's `actions`)
    std::map<std::string, StateGuard> guards{};    // shared by every machine (s3db.js's `guards`)
    bool persist_transitions = true;               // false: no log, no history
    // The log's partitions. byDate {createdAt} as s3db.js (1 PUT per send). s3db.js's byMachine
    // {machineId} is off by default: log ids start with `<machine>_<entity>_`, so one LIST by id
    // prefix finds a machine's or an entity's entries without it, and it would cost 1 more PUT.
    bool transition_partitions = true;             // false: no partition at all (3 requests a send)
    bool by_machine_partition = false;             // true: s3db.js's byMachine too (5 requests a send)
    std::string transitions_resource = "plg_state_transitions";
    std::string states_resource = "plg_entity_states";
    RetryConfig action_retry{};
    std::chrono::milliseconds trigger_check_interval{60'000};
    int max_send_attempts = 64;  // compare-and-swap rounds before TransitionConflict
};

/// What send() did.
struct TransitionResult {
    std::string id;  // the log entry's id
    std::string machine, entity, event, from, to;
    nlohmann::json context;  // the entity's context after the transition
    std::int64_t timestamp = 0;
    std::uint64_t seq = 0;   // the entity's transitions so far, this one included
    std::vector<std::string> action_errors;  // actions that failed after their retries
};

struct HistoryOptions {
    std::size_t limit = 0;  // 0: all
    std::size_t offset = 0;
};

/// A send that names no machine, an event the entity's state does not accept, a final state.
class InvalidTransition : public Error {
public:
    InvalidTransition(std::string machine, std::string entity, std::string state, std::string event, const std::string& why)
        : Error("plugin 'StateMachine': machine '" + machine + "', entity '" + entity + "': event '" + event +
                "' in state '" + state + "': " + why),
          machine_(std::move(machine)), entity_(std::move(entity)), state_(std::move(state)), event_(std::move(event)) {}
    const std::string& machine() const noexcept { return machine_; }
    const std::string& entity() const noexcept { return entity_; }
    const std::string& state() const noexcept { return state_; }
    const std::string& event() const noexcept { return event_; }

private:
    std::string machine_, entity_, state_, event_;
};

/// The event is valid in the entity's state but its guard said no.
class TransitionBlocked : public InvalidTransition {
public:
    TransitionBlocked(std::string machine, std::string entity, std::string state, std::string event, std::string guard)
        : InvalidTransition(std::move(machine), std::move(entity), std::move(state), std::move(event),
                            "transition blocked by guard '" + guard + "'"),
          guard_(std::move(guard)) {}
    const std::string& guard() const noexcept { return guard_; }

private:
    std::string guard_;
};

/// Other writers kept winning the entity's compare-and-swap: nothing was applied.
class TransitionConflict : public Error {
public:
    TransitionConflict(const std::string& machine, const std::string& entity, int attempts)
        : Error("plugin 'StateMachine': machine '" + machine + "', entity '" + entity + "': " +
                std::to_string(attempts) + " attempts lost to concurrent transitions; nothing applied") {}
};

/// The transition's log entry could not be written (its state was not touched): nothing applied.
class TransitionFailed : public Error {
public:
    TransitionFailed(const std::string& machine, const std::string& entity, const std::string& event, const std::string& why)
        : Error("plugin 'StateMachine': machine '" + machine + "', entity '" + entity + "': event '" + event +
                "' not applied: " + why) {}
};

}  // namespace s3db
