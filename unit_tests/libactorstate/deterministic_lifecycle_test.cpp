// Instance and shard life cycles under CAF's deterministic test_coordinator (see stepped.hpp), where they meet
// what is still in flight: passivation and handover with writes pending or side effects running, a restart while a
// side effect runs, commands that race a passivation, and a local call's deadline passing while a write is pending.
#include <doctest/doctest.h>

#include "actorstate/runtime/reply.hpp"
#include "stepped.hpp"

using namespace actorstate;
using namespace actorstate::testing;

namespace {

/// A text log whose appends ask for a synchronous side effect (Echo.Say with the appended text): it runs once the
/// append is durable, and the reply leaves after it.
event_sourced_entity<TextState> effect_log() {
  event_sourced_entity<TextState> e{"actorstate.testing.TextLog", "effect-log"};
  e.on_command<AppendText, TextReply>("Append", [](const TextState& state, const AppendText& cmd, event_context& ctx) {
     TextAppended ev;
     ev.set_text(cmd.text());
     ctx.emit(ev);
     Shout effect;
     effect.set_text(cmd.text());
     ctx.side_effect("actorstate.testing.Echo", "Say", effect, true);
     TextReply reply;
     reply.set_value(state.value() + cmd.text());
     return reply;
   }).on_event<TextAppended>([](TextState& state, const TextAppended& ev) {
    state.set_value(state.value() + ev.text());
  });
  return e;
}

/// The router of side effects: records each call and answers it only when the test says so.
struct held_effects {
  std::vector<std::string> texts;
  std::vector<std::function<void(command_result)>> answers;

  runtime::route_fn router() {
    return
        [this](const std::string&, const std::string&, std::string payload, std::function<void(command_result)> done) {
          Shout s;
          s.ParseFromString(payload);
          texts.push_back(s.text());
          answers.push_back(std::move(done));
        };
  }
  void answer(size_t i) { answers.at(i)(command_result::success("")); }
};

struct effects_fixture : deterministic_fixture {
  effects_fixture() { route = effects.router(); }
  held_effects effects;
};

}  // namespace

TEST_CASE_FIXTURE(deterministic_fixture,
                  "deterministic.a_write_that_fails_while_passivating_fails_its_command_and_loses_nothing") {
  spawn_region(std::chrono::seconds{1}, 4);
  auto ra = send(append_cmd("a", "x"));
  settle();
  REQUIRE(reply_text(*ra) == "x");
  store->fail_appends(1);
  auto rb = send(append_cmd("a", "y"));
  until_appended(2);
  // Idle past the timeout with the write pending: the instance is told to stop, and a command for it waits.
  sched->advance_time(std::chrono::seconds{2});
  run_actors();
  auto rc = send(append_cmd("a", "z"));
  run_actors();
  CHECK(active() == 1);
  CHECK_FALSE(rb->has_value());
  CHECK_FALSE(rc->has_value());
  store->complete_one();
  run_actors();
  CHECK(code_of(*rb) == status_code::unavailable);
  CHECK(metrics->passivations.value() == 1);
  CHECK(metrics->restarts.value() == 1);
  // The successor recovered what is durable ("x") before the waiting command ran.
  settle();
  CHECK(reply_text(*rc) == "xz");
  CHECK(metrics->recoveries.value() == 2);
  CHECK(store->journal_size("text-log|a") == 2);
  CHECK(active() == 1);
}

// A restart a command caused recovers at once, except in an instance asked to stop: it would recover for commands
// it will not get, and delay the stop the shard waits for.
TEST_CASE_FIXTURE(deterministic_fixture,
                  "deterministic.a_restart_a_command_caused_while_passivating_stops_instead_of_recovering") {
  max_pipeline = 1;
  spawn_region(std::chrono::seconds{1}, 4);
  auto ra = send(append_cmd("a", "x"));
  auto rb = send(throwing_append_cmd("a", "y"));
  until_appended(1);
  // "x"'s write is pending, and holds "y" back (pipeline limit) until the instance has been told to stop.
  sched->advance_time(std::chrono::seconds{2});
  run_actors();
  CHECK(active() == 1);
  CHECK_FALSE(rb->has_value());
  store->complete_one();
  run_actors();
  CHECK(reply_text(*ra) == "x");
  CHECK(code_of(*rb) == status_code::internal);
  CHECK(metrics->restarts.value() == 1);
  CHECK(metrics->passivations.value() == 1);
  CHECK(active() == 0);
  CHECK(store->pending() == 0);
  CHECK(metrics->recoveries.value() == 1);
  // The next command gets a fresh instance, with what is durable.
  auto rc = send(get_cmd("a"));
  settle();
  CHECK(reply_text(*rc) == "x");
  CHECK(metrics->recoveries.value() == 2);
}

TEST_CASE_FIXTURE(deterministic_fixture, "deterministic.a_command_racing_a_passivation_runs_on_the_successor") {
  spawn_region(std::chrono::seconds{1}, 4);
  auto ra = send(append_cmd("a", "x"));
  settle();
  REQUIRE(reply_text(*ra) == "x");
  // The idle tick reaches the shard before the command does: the instance is already stopping when it arrives.
  sched->advance_time(std::chrono::seconds{2});
  auto rb = send(get_cmd("a"));
  settle();
  CHECK(reply_text(*rb) == "x");
  CHECK(metrics->passivations.value() == 1);
  CHECK(metrics->recoveries.value() == 2);
  CHECK(active() == 1);
}

TEST_CASE_FIXTURE(deterministic_fixture, "deterministic.a_handover_while_an_instance_recovers_runs_its_command_first") {
  spawn_region(std::chrono::seconds{30}, 4);
  auto s = shard_of("a");
  auto ra = send(append_cmd("a", "x"));
  run_actors();
  REQUIRE(store->pending() == 1);  // the snapshot load of the recovery
  auto h = handover(s);
  run_actors();
  CHECK_FALSE(h->has_value());
  settle();
  // The command reached the instance before the handover: it ran and is durable, then the instance stopped.
  CHECK(reply_text(*ra) == "x");
  REQUIRE(h->has_value());
  CHECK(**h == 1);
  CHECK(active() == 0);
  CHECK(store->journal_size("text-log|a") == 1);
}

TEST_CASE_FIXTURE(deterministic_fixture,
                  "deterministic.a_handover_of_several_instances_answers_once_the_last_write_returned") {
  spawn_region(std::chrono::seconds{30}, 1);
  auto ra = send(append_cmd("a", "x"));
  settle();
  REQUIRE(reply_text(*ra) == "x");
  auto rb = send(append_cmd("b", "y"));
  auto rc = send(append_cmd("c", "z"));
  until_appended(3);
  run_actors();
  REQUIRE(store->pending() == 2);  // "b"'s append, then "c"'s
  auto h = handover(0);
  run_actors();
  // "a" had nothing in flight and is down; "b" and "c" wait for their writes.
  CHECK(active() == 2);
  store->fail_appends(1);
  store->complete_one();
  run_actors();
  CHECK(code_of(*rb) == status_code::unavailable);
  CHECK(active() == 1);
  CHECK_FALSE(h->has_value());
  store->complete_one();
  run_actors();
  CHECK(reply_text(*rc) == "z");
  REQUIRE(h->has_value());
  CHECK(**h == 3);
  CHECK(active() == 0);
  CHECK(metrics->passivations.value() == 3);
  // Started again, each comes back with exactly what is durable.
  start(0);
  auto ga = send(get_cmd("a"));
  auto gb = send(get_cmd("b"));
  auto gc = send(get_cmd("c"));
  settle();
  CHECK(reply_text(*ga) == "x");
  CHECK(code_of(*gb) == status_code::ok);
  CHECK(reply_text(*gb) == "");
  CHECK(reply_text(*gc) == "z");
}

TEST_CASE_FIXTURE(deterministic_fixture, "deterministic.a_shard_hands_over_and_starts_again_more_than_once") {
  spawn_region(std::chrono::seconds{30}, 4);
  auto s = shard_of("a");
  auto r1 = send(append_cmd("a", "x"));
  settle();
  REQUIRE(reply_text(*r1) == "x");
  auto h1 = handover(s);
  auto r2 = send(append_cmd("a", "y"));
  settle();
  REQUIRE(h1->has_value());
  CHECK_FALSE(r2->has_value());
  start(s);
  settle();
  CHECK(reply_text(*r2) == "xy");
  // The second round: the held command again sees everything durable, and the journal continues without a gap.
  auto h2 = handover(s);
  auto r3 = send(append_cmd("a", "z"));
  settle();
  REQUIRE(h2->has_value());
  CHECK(**h2 == 1);
  CHECK_FALSE(r3->has_value());
  start(s);
  settle();
  CHECK(reply_text(*r3) == "xyz");
  CHECK(metrics->recoveries.value() == 3);
  CHECK(metrics->passivations.value() == 2);
  CHECK(store->journal_size("text-log|a") == 3);
  CHECK(metrics->fenced.value() == 0);
}

TEST_CASE_FIXTURE(effects_fixture,
                  "deterministic.a_restart_while_a_side_effect_runs_keeps_its_reply_and_runs_it_once") {
  spawn_region(std::chrono::seconds{30}, 4, 1000, effect_log().model());
  auto ra = send(append_cmd("e", "a"));
  until_appended(1);
  // Not before the write is durable.
  CHECK(effects.texts.empty());
  store->complete_one();
  run_actors();
  REQUIRE(effects.texts == std::vector<std::string>{"a"});
  CHECK_FALSE(ra->has_value());
  // While "a"'s side effect runs, "b"'s write fails and the entity restarts.
  store->fail_appends(1);
  auto rb = send(append_cmd("e", "b"));
  settle();
  CHECK(code_of(*rb) == status_code::unavailable);
  CHECK(metrics->restarts.value() == 1);
  // A failed command runs no side effect; the durable one's still completes and its reply leaves.
  CHECK(effects.texts == std::vector<std::string>{"a"});
  CHECK_FALSE(ra->has_value());
  effects.answer(0);
  run_actors();
  CHECK(reply_text(*ra) == "a");
  auto rc = send(append_cmd("e", "c"));
  settle();
  CHECK(effects.texts == std::vector<std::string>{"a", "c"});
  effects.answer(1);
  run_actors();
  CHECK(reply_text(*rc) == "ac");
  CHECK(store->journal_size("effect-log|e") == 2);
}

TEST_CASE_FIXTURE(effects_fixture, "deterministic.a_handover_waits_for_a_running_side_effect") {
  spawn_region(std::chrono::seconds{30}, 4, 1000, effect_log().model());
  auto s = shard_of("e");
  auto ra = send(append_cmd("e", "a"));
  settle();
  REQUIRE(effects.texts.size() == 1);
  auto h = handover(s);
  auto rb = send(append_cmd("e", "b"));
  settle();
  // The instance may not stop while its side effect runs: the reply it owes would be lost.
  CHECK_FALSE(h->has_value());
  CHECK(active() == 1);
  effects.answer(0);
  run_actors();
  CHECK(reply_text(*ra) == "a");
  REQUIRE(h->has_value());
  CHECK(**h == 1);
  CHECK(active() == 0);
  CHECK_FALSE(rb->has_value());
  start(s);
  settle();
  CHECK(effects.texts == std::vector<std::string>{"a", "b"});
  effects.answer(1);
  run_actors();
  CHECK(reply_text(*rb) == "ab");
}

// Was a test in region_test.cpp that slept past real deadlines of 300 ms and needed 20 calls to be answered within
// one of them, which a loaded machine need not do.
TEST_CASE_FIXTURE(deterministic_fixture,
                  "deterministic.the_call_deadline_passes_while_the_write_is_pending_and_each_call_ends_once") {
  using clock = runtime::call_slot::clock;
  spawn_region(std::chrono::seconds{30}, 4);
  auto deadlines = runtime::call_deadlines::manual(std::chrono::seconds{1});
  std::vector<command_result> results;
  auto dispatch = [&](command cmd) {
    const auto& target = region->target(cmd.entity_id);
    deadlines->call(target, std::move(cmd), [&results](command_result r) { results.push_back(std::move(r)); });
  };
  // Answered calls end normally and are not failed again when their deadline passes.
  for (auto id : {"q1", "q2", "q3"})
    dispatch(append_cmd(id, "q"));
  settle();
  REQUIRE(results.size() == 3);
  for (const auto& r : results)
    CHECK(reply_text(r) == "q");
  CHECK(deadlines->expire_due(clock::now() + std::chrono::seconds{1}) == 0);
  CHECK(results.size() == 3);
  // A write that stays pending holds its reply back: the caller gets DEADLINE_EXCEEDED at the deadline, not before.
  auto before = clock::now();
  dispatch(append_cmd("g", "x"));
  auto after = clock::now();
  until_appended(4);
  CHECK(deadlines->expire_due(before + std::chrono::milliseconds{999}) == 0);
  CHECK(results.size() == 3);
  CHECK(deadlines->expire_due(after + std::chrono::seconds{1}) == 1);
  REQUIRE(results.size() == 4);
  CHECK(results[3].status.code() == status_code::deadline_exceeded);
  // The write still completes, and the entity's late reply does not reach the caller a second time.
  settle();
  CHECK(results.size() == 4);
  CHECK(store->journal_size("text-log|g") == 1);
  dispatch(get_cmd("g"));
  settle();
  REQUIRE(results.size() == 5);
  CHECK(reply_text(results[4]) == "x");
}

// The protocol says a shard that answered a handover holds commands and runs nothing. A start that was waiting for
// the handover to finish used to survive a later handover request, so the shard answered both handovers and then
// served anyway.
TEST_CASE_FIXTURE(deterministic_fixture, "deterministic.a_handover_after_a_pending_start_keeps_the_shard_stopped") {
  spawn_region(std::chrono::seconds{30}, 4);
  auto s = shard_of("a");
  auto ra = send(append_cmd("a", "x"));
  until_appended(1);
  auto h1 = handover(s);
  run_actors();
  start(s);
  run_actors();
  auto h2 = handover(s);
  run_actors();
  auto rb = send(append_cmd("a", "y"));
  settle();
  CHECK(reply_text(*ra) == "x");
  REQUIRE(h1->has_value());
  REQUIRE(h2->has_value());
  CHECK(**h1 == 1);
  CHECK(**h2 == 1);
  // The last word was the handover: the command waits, and no instance runs.
  CHECK_FALSE(rb->has_value());
  CHECK(active() == 0);
  start(s);
  settle();
  CHECK(reply_text(*rb) == "xy");
}
