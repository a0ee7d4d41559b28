// The StateMachine plugin: the seed's order workflow (pending -> confirmed -> shipped -> delivered),
// a guard that reads the order's context, entry/exit actions, a final state, a trigger that cancels
// an order left pending, and the transition history — kept in the bucket in s3db.js's resources
// plg_entity_states and plg_state_transitions. Each send is one compare-and-swap on the order's
// state record: no lock objects.

#include <s3db/s3db.hpp>

#include "check.hpp"
#include <s3db/plugins/state_machine.hpp>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>

int main() {
    std::filesystem::remove_all("state-machine-db");  // a fresh database on every run
    using namespace std::chrono_literals;
    s3db::StateMachineOptions options{
        .state_machines = {{"order_processing",
                            {.initial_state = "pending",
                             .states = {{"pending", {.on = {{"CONFIRM", "confirmed"}, {"EXPIRE", "cancelled"}},
                                                     .guards = {{"CONFIRM", "hasItems"}},
                                                     // an order left pending is cancelled (checked every 50 ms here)
                                                     .triggers = {{.name = "expire", .after = 200ms, .send_event = "EXPIRE"}}}},
                                        {"confirmed", {.on = {{"SHIP", "shipped"}}, .entry = "sendConfirmation"}},
                                        {"shipped", {.on = {{"DELIVER", "delivered"}}, .exit = "stopTracking"}},
                                        {"delivered", {.type = "final"}},
                                        {"cancelled", {.type = "final"}}}}}},
        .actions = {{"sendConfirmation",
                     [](const s3db::StateMachineCall& c) {
                         std::cout << "  action: confirmation mail for " << c.entity << " (" << c.context.value("items", 0)
                                   << " items)\n";
                     }},
                    {"stopTracking", [](const s3db::StateMachineCall& c) { std::cout << "  action: tracking of " << c.entity << " stopped\n"; }}},
        .guards = {{"hasItems", [](const s3db::StateMachineCall& c) { return c.payload.value("items", 0) > 0; }}},
        .trigger_check_interval = 50ms,
    };
    s3db::Database<s3db::StateMachine> db("file://./state-machine-db", {}, s3db::StateMachine(options));
    db.connect();
    auto& orders = db.plugin<s3db::StateMachine>();

    try {
        orders.send("order_processing", "order-1", "CONFIRM", {{"items", 0}});
        check(false, "an order without items cannot be confirmed");
    } catch (const s3db::TransitionBlocked& e) {
        std::cout << "refused: " << e.what() << "\n";
    }
    for (auto [event, payload] : {std::pair{"CONFIRM", s3db::json{{"items", 3}}}, {"SHIP", {}}, {"DELIVER", {}}}) {
        auto t = orders.send("order_processing", "order-1", event, payload);
        std::cout << event << ": " << t.from << " -> " << t.to << " (transition " << t.seq << ")\n";
    }
    check(orders.get_state("order_processing", "order-1") == "delivered", "order-1 is delivered");
    check(orders.get_valid_events("order_processing", "order-1").empty(), "a final state accepts no event");
    try {
        orders.send("order_processing", "order-1", "SHIP");
    } catch (const s3db::InvalidTransition& e) {
        std::cout << "refused: " << e.what() << "\n";
    }

    std::cout << "history of order-1:\n";
    auto history = orders.get_transition_history("order_processing", "order-1");
    for (auto& e : history)
        std::cout << "  " << e["seq"] << ". " << e["event"].get<std::string>() << ": " << e["fromState"].get<std::string>()
                  << " -> " << e["toState"].get<std::string>() << "\n";
    check(history.size() == 3, "three transitions");

    // order-2 is left pending: its trigger cancels it once, whichever process's timer sees it first.
    orders.initialize_entity("order_processing", "order-2");
    for (int i = 0; i < 100 && orders.get_state("order_processing", "order-2") != "cancelled"; ++i)
        std::this_thread::sleep_for(20ms);
    std::cout << "order-2 left pending: " << orders.get_state("order_processing", "order-2") << "\n";
    check(orders.get_state("order_processing", "order-2") == "cancelled", "the trigger cancelled order-2");
    check(orders.get_transition_history("order_processing", "order-2").size() == 1, "once");
    std::cout << "status: " << orders.status().dump() << "\n";
}
