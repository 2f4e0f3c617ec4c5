// Idempotency keys in the entity actor (entity_actor.hpp), stepped (see stepped.hpp): a retried key is answered the
// stored reply and runs nothing; the record commits with the command's write, so a failed write leaves none and a
// recovered entity still honours the key; a retry that arrives while the first attempt's write is in flight waits for
// its outcome.
#include <doctest/doctest.h>

#include "stepped.hpp"

using namespace actorstate;
using namespace actorstate::testing;

namespace {

command with_key(command cmd, const std::string& key, const std::string& header = "idempotency-key") {
  cmd.metadata.push_back({header, key});
  return cmd;
}

/// A text log whose appends forward to Echo.Say with the appended text, and ask for an asynchronous side effect too.
event_sourced_entity<TextState> forwarding_log() {
  event_sourced_entity<TextState> e{"actorstate.testing.TextLog", "forwarding-log"};
  e.on_command<AppendText, TextReply>(
       "Append",
       [](const TextState&, const AppendText& cmd, event_context& ctx) -> outcome<TextReply> {
         TextAppended ev;
         ev.set_text(cmd.text());
         ctx.emit(ev);
         Shout shout;
         shout.set_text(cmd.text());
         ctx.side_effect("actorstate.testing.Echo", "Say", shout, false);
         return forward_to{"actorstate.testing.Echo", "Say", shout};
       })
      .on_event<TextAppended>(
          [](TextState& state, const TextAppended& ev) { state.set_value(state.value() + ev.text()); });
  return e;
}

}  // namespace

TEST_CASE_FIXTURE(deterministic_fixture, "deterministic.idempotency.a_retried_key_gets_the_stored_reply") {
  spawn_region(std::chrono::seconds{30});
  auto first = send(with_key(append_cmd("a", "x"), "k1"));
  settle();
  REQUIRE(reply_text(*first) == "x");
  CHECK(store->applied_records() == 1);
  // The retry (its request may even differ) runs no handler and writes nothing.
  auto retry = send(with_key(append_cmd("a", "other"), "k1"));
  settle();
  CHECK(reply_text(*retry) == "x");
  CHECK(store->appends() == 1);
  CHECK(store->journal_size("text-log|a") == 1);
  CHECK(metrics->idempotent_replays.value() == 1);
  // Another key runs; the header's name is compared without case.
  auto second = send(with_key(append_cmd("a", "y"), "k2", "Idempotency-Key"));
  settle();
  CHECK(reply_text(*second) == "xy");
  auto second_retry = send(with_key(append_cmd("a", "y"), "k2"));
  settle();
  CHECK(reply_text(*second_retry) == "xy");
  CHECK(store->appends() == 2);
  // Keys are per entity: "k1" of another entity is its own.
  auto elsewhere = send(with_key(append_cmd("b", "z"), "k1"));
  settle();
  CHECK(reply_text(*elsewhere) == "z");
  CHECK(store->appends() == 3);
  // Commands without a key look nothing up.
  auto lookups = store->applied_lookups();
  auto plain = send(append_cmd("a", "w"));
  settle();
  CHECK(reply_text(*plain) == "xyw");
  CHECK(store->applied_lookups() == lookups);
}

TEST_CASE_FIXTURE(deterministic_fixture, "deterministic.idempotency.a_command_that_writes_nothing_records_nothing") {
  spawn_region(std::chrono::seconds{30});
  auto read = send(with_key(get_cmd("a"), "k1"));
  settle();
  REQUIRE(code_of(*read) == status_code::ok);
  CHECK(store->applied_records() == 0);
  // Nothing was recorded, so the same key runs again, and sees the newer state.
  auto write = send(append_cmd("a", "x"));
  auto again = send(with_key(get_cmd("a"), "k1"));
  settle();
  REQUIRE(reply_text(*write) == "x");
  CHECK(reply_text(*again) == "x");
  // A user failure writes nothing either.
  AppendText refused;
  refused.set_id("a");
  refused.set_text("no");
  refused.set_fail(true);
  auto failed = send(with_key(make_command("a", "Append", refused), "k2"));
  settle();
  CHECK(code_of(*failed) == status_code::unknown);
  CHECK(store->applied_records() == 0);
}

TEST_CASE_FIXTURE(deterministic_fixture,
                  "deterministic.idempotency.a_failed_write_records_nothing_and_the_retry_runs") {
  spawn_region(std::chrono::seconds{30});
  REQUIRE(reply_text(*[&] {
            auto r = send(append_cmd("a", "x"));
            settle();
            return r;
          }()) == "x");
  store->fail_appends(1);
  auto first = send(with_key(append_cmd("a", "y"), "k1"));
  settle();
  CHECK(code_of(*first) == status_code::unavailable);
  CHECK(store->applied_records() == 0);
  auto retry = send(with_key(append_cmd("a", "y"), "k1"));
  settle();
  CHECK(reply_text(*retry) == "xy");
  CHECK(store->journal("text-log|a").size() == 2);
  CHECK(store->applied_records() == 1);
}

TEST_CASE_FIXTURE(deterministic_fixture, "deterministic.idempotency.a_retry_in_flight_waits_for_the_first_outcome") {
  spawn_region(std::chrono::seconds{30});
  // Both arrive before the first's write completes: the retry's lookup is ordered after that write.
  auto first = send(with_key(append_cmd("a", "x"), "k1"));
  auto retry = send(with_key(append_cmd("a", "x"), "k1"));
  settle();
  CHECK(reply_text(*first) == "x");
  CHECK(reply_text(*retry) == "x");
  CHECK(store->appends() == 1);
  // The same when the first write fails: the retry then runs, after the entity recovered.
  store->fail_appends(1);
  auto failing = send(with_key(append_cmd("a", "y"), "k2"));
  auto retried = send(with_key(append_cmd("a", "y"), "k2"));
  settle();
  CHECK(code_of(*failing) == status_code::unavailable);
  CHECK(reply_text(*retried) == "xy");
  CHECK(store->journal("text-log|a").size() == 2);
}

TEST_CASE_FIXTURE(deterministic_fixture,
                  "deterministic.idempotency.a_lookup_interrupted_by_a_failed_write_runs_after_the_recovery") {
  spawn_region(std::chrono::seconds{30});
  store->fail_appends(1);
  // "x" is written first; the keyed command's lookup waits behind that write, which fails and restarts the entity.
  auto plain = send(append_cmd("a", "x"));
  auto keyed = send(with_key(append_cmd("a", "y"), "k1"));
  until([&] { return store->applied_lookups() == 1; });
  CHECK(store->pending() == 2);  // the append, then the lookup
  settle();
  CHECK(code_of(*plain) == status_code::unavailable);
  // The keyed command had not run: it kept its place and ran on the recovered state.
  CHECK(reply_text(*keyed) == "y");
  CHECK(store->applied_lookups() == 2);
  CHECK(store->journal("text-log|a").size() == 1);
}

TEST_CASE_FIXTURE(deterministic_fixture, "deterministic.idempotency.a_failed_lookup_fails_only_its_command") {
  spawn_region(std::chrono::seconds{30});
  auto warm = send(append_cmd("a", "x"));
  settle();
  REQUIRE(reply_text(*warm) == "x");
  store->fail_reads(1);
  auto failed = send(with_key(append_cmd("a", "y"), "k1"));
  settle();
  CHECK(code_of(*failed) == status_code::unavailable);
  CHECK(store->appends() == 1);
  auto retry = send(with_key(append_cmd("a", "y"), "k1"));
  settle();
  CHECK(reply_text(*retry) == "xy");
}

TEST_CASE_FIXTURE(deterministic_fixture, "deterministic.idempotency.keys_survive_passivation_and_recovery") {
  spawn_region(std::chrono::seconds{1});
  auto first = send(with_key(append_cmd("a", "x"), "k1"));
  settle();
  REQUIRE(reply_text(*first) == "x");
  sched->advance_time(std::chrono::seconds{2});
  settle();
  REQUIRE(active() == 0);
  auto retry = send(with_key(append_cmd("a", "x"), "k1"));
  settle();
  CHECK(reply_text(*retry) == "x");
  CHECK(store->journal_size("text-log|a") == 1);
  // Past the retention the key is forgotten and the command runs again.
  store->expire_applied();
  auto late = send(with_key(append_cmd("a", "x"), "k1"));
  settle();
  CHECK(reply_text(*late) == "xx");
}

TEST_CASE_FIXTURE(deterministic_fixture, "deterministic.idempotency.value_entities_record_puts_and_deletes") {
  spawn_region(std::chrono::seconds{30}, 128, 1000, number_register().model());
  auto set = send(with_key(set_cmd("n", 7), "k1"));
  settle();
  REQUIRE(number_of(*set).value() == 7);
  auto later = send(set_cmd("n", 8));
  auto retry = send(with_key(set_cmd("n", 7), "k1"));
  settle();
  CHECK(number_of(*retry).value() == 7);  // the stored reply, not a new write
  CHECK(store->value("register|n")->payload == number_of(*later).SerializeAsString());
  CHECK(store->value_writes() == 2);
  auto removed = send(with_key(set_cmd("n", 0, true), "k2"));
  settle();
  REQUIRE(code_of(*removed) == status_code::ok);
  auto again = send(set_cmd("n", 9));
  auto removed_retry = send(with_key(set_cmd("n", 0, true), "k2"));
  settle();
  CHECK(code_of(*removed_retry) == status_code::ok);
  CHECK(store->value("register|n")->version == 1);  // still 9: the retried delete deleted nothing
  CHECK(number_of(*again).value() == 9);
  CHECK(store->value_writes() == 4);
}

TEST_CASE_FIXTURE(deterministic_fixture, "deterministic.idempotency.disabled_keys_are_ignored") {
  idempotency_keys = false;
  spawn_region(std::chrono::seconds{30});
  auto first = send(with_key(append_cmd("a", "x"), "k1"));
  auto retry = send(with_key(append_cmd("a", "x"), "k1"));
  settle();
  CHECK(reply_text(*first) == "x");
  CHECK(reply_text(*retry) == "xx");
  CHECK(store->applied_lookups() == 0);
  CHECK(store->applied_records() == 0);
}

TEST_CASE_FIXTURE(deterministic_fixture,
                  "deterministic.idempotency.a_stored_forward_is_made_again_without_side_effects") {
  std::vector<std::string> calls;
  route = [&calls](const std::string&, const std::string& method, std::string payload,
                   std::function<void(command_result)> done) {
    Shout s;
    s.ParseFromString(payload);
    calls.push_back(method + ":" + s.text());
    s.set_text(s.text() + "!");
    done(command_result::success(s.SerializeAsString()));
  };
  spawn_region(std::chrono::seconds{30}, 128, 1000, forwarding_log().model());
  auto first = send(with_key(append_cmd("a", "x"), "k1"));
  settle();
  REQUIRE(code_of(*first) == status_code::ok);
  Shout answer;
  REQUIRE(answer.ParseFromString((*first)->payload));
  CHECK(answer.text() == "x!");
  CHECK(calls.size() == 2);  // the forward and the side effect
  auto retry = send(with_key(append_cmd("a", "x"), "k1"));
  settle();
  REQUIRE(code_of(*retry) == status_code::ok);
  REQUIRE(answer.ParseFromString((*retry)->payload));
  CHECK(answer.text() == "x!");
  // The forward was made again (its answer is the reply); the side effect was not; nothing was appended.
  CHECK(calls == std::vector<std::string>{"Say:x", "Say:x", "Say:x"});
  CHECK(store->appends() == 1);
}
