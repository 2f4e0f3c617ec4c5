// Region and entity behaviour under CAF's deterministic test_coordinator: the test thread runs every actor step,
// completes store operations and moves the clock itself, so timing-dependent behaviour (idle passivation) is
// checked without sleeping.
#include <doctest/doctest.h>

#include "stepped.hpp"

using namespace actorstate;
using namespace actorstate::testing;

TEST_CASE_FIXTURE(deterministic_fixture, "deterministic.reply_waits_for_the_store") {
  spawn_region(std::chrono::seconds{30});
  auto r = send(append_cmd("a", "x"));
  // Recovery reads complete, the command runs, the append is issued: no reply before the append completes.
  sched->run();
  store->complete_all();  // snapshot load
  sched->run();
  store->complete_all();  // replay
  sched->run();
  CHECK_FALSE(r->has_value());
  CHECK(store->journal_size("text-log|a") == 0);
  settle();
  REQUIRE(r->has_value());
  CHECK((*r)->ok());
  CHECK(store->journal_size("text-log|a") == 1);
}

TEST_CASE_FIXTURE(deterministic_fixture, "deterministic.idle_entities_passivate_after_the_timeout") {
  spawn_region(std::chrono::seconds{1});
  auto r1 = send(append_cmd("a", "x"));
  auto r2 = send(append_cmd("b", "y"));
  settle();
  REQUIRE(r1->has_value());
  REQUIRE(r2->has_value());
  CHECK(active() == 2);
  // Half the timeout: both still idle for less than a second.
  sched->advance_time(std::chrono::milliseconds{500});
  settle();
  CHECK(active() == 2);
  // Touch "a" only; then let "b" exceed the timeout.
  auto r3 = send(append_cmd("a", "z"));
  settle();
  sched->advance_time(std::chrono::milliseconds{600});
  settle();
  CHECK(active() == 1);
  sched->advance_time(std::chrono::milliseconds{1000});
  settle();
  CHECK(active() == 0);
  CHECK(metrics->passivations.value() == 2);
  // The passivated entity comes back with its events.
  GetText g;
  g.set_id("a");
  auto r4 = send(make_command("a", "Get", g));
  settle();
  REQUIRE(r4->has_value());
  TextReply reply;
  REQUIRE(reply.ParseFromString((*r4)->payload));
  CHECK(reply.value() == "xz");
}

// Was a thread-polling test in event_sourced_test.cpp that failed when "c" reached the entity only after "b"'s
// failure had restarted it; stepped, both commands are handled before any write completes.
TEST_CASE_FIXTURE(deterministic_fixture, "deterministic.failed_write_fails_dependent_commands_and_restarts") {
  spawn_region(std::chrono::seconds{30});
  auto ra = send(append_cmd("w", "a"));
  settle();
  REQUIRE(reply_text(*ra) == "a");
  store->fail_appends(1);
  auto rb = send(append_cmd("w", "b"));
  auto rc = send(append_cmd("w", "c"));
  run_actors();
  // Both ran against state that includes the other's events; neither write is durable, so neither replied.
  CHECK(store->pending() == 2);
  CHECK_FALSE(rb->has_value());
  CHECK_FALSE(rc->has_value());
  settle();
  REQUIRE(rb->has_value());
  REQUIRE(rc->has_value());
  CHECK((*rb)->status.code() == status_code::unavailable);
  // "c" saw "b"'s event, and the store's fence refused it after "b" failed.
  CHECK((*rc)->status.code() == status_code::unavailable);
  CHECK(metrics->restarts.value() == 1);
  // A write refused because an earlier one of the same instance failed is not a fence by another writer.
  CHECK(metrics->fenced.value() == 0);
  // The entity restarted and recovered what is durable: only "a".
  auto get = send(get_cmd("w"));
  settle();
  CHECK(reply_text(*get) == "a");
  auto rd = send(append_cmd("w", "d"));
  settle();
  CHECK(reply_text(*rd) == "ad");
  CHECK(store->journal_size("text-log|w") == 2);
}

// Was a thread-polling test in event_sourced_test.cpp (it waited for the held writes, then for a reply that must
// not come); stepped, the replies are checked after each completed write.
TEST_CASE_FIXTURE(deterministic_fixture, "deterministic.replies_wait_for_durability_while_commands_pipeline") {
  spawn_region(std::chrono::seconds{30});
  auto r0 = send(append_cmd("p", "0"));
  settle();
  REQUIRE(reply_text(*r0) == "0");
  auto r1 = send(append_cmd("p", "1"));
  auto r2 = send(append_cmd("p", "2"));
  auto r3 = send(get_cmd("p"));
  run_actors();
  // Both appends were handled and issued without waiting for the first to become durable ...
  CHECK(store->appends() == 3);
  CHECK(store->pending() == 2);
  // ... but no reply left, not even the read that saw their events.
  CHECK_FALSE(r1->has_value());
  CHECK_FALSE(r2->has_value());
  CHECK_FALSE(r3->has_value());
  store->complete_one();
  run_actors();
  CHECK(reply_text(*r1) == "01");
  CHECK_FALSE(r2->has_value());
  CHECK_FALSE(r3->has_value());
  store->complete_one();
  run_actors();
  CHECK(reply_text(*r2) == "012");
  CHECK(reply_text(*r3) == "012");
}

// Was a thread-polling test in event_sourced_test.cpp. Successes reach the entity coalesced; once a write of the
// incarnation failed, outcomes travel one by one. Here all three outcomes are posted before the entity runs: the
// middle write commits but reports unknown_outcome, and the write after it succeeds.
TEST_CASE_FIXTURE(deterministic_fixture,
                  "deterministic.outcomes_keep_issue_order_when_a_lost_outcome_is_followed_by_a_success") {
  spawn_region(std::chrono::seconds{30});
  auto ra = send(append_cmd("o", "a"));
  settle();
  REQUIRE(reply_text(*ra) == "a");
  auto rb = send(append_cmd("o", "b"));
  auto rc = send(append_cmd("o", "c"));
  auto rd = send(append_cmd("o", "d"));
  run_actors();
  REQUIRE(store->pending() == 3);
  store->complete_one();
  store->lose_write_outcomes(1);
  store->complete_one();
  store->complete_one();
  run_actors();
  CHECK(reply_text(*rb) == "ab");
  // "c" may or may not be stored as far as the entity knows, so neither it nor "d", which saw it, is confirmed.
  CHECK(code_of(*rc) == status_code::unavailable);
  CHECK(code_of(*rd) == status_code::unavailable);
  CHECK(metrics->restarts.value() == 1);
  CHECK(store->journal_size("text-log|o") == 4);
  // Recovery reads what the store holds: all four committed.
  auto get = send(get_cmd("o"));
  settle();
  CHECK(reply_text(*get) == "abcd");
  auto re = send(append_cmd("o", "e"));
  settle();
  CHECK(reply_text(*re) == "abcde");
}

// Was a thread-polling test in storage_faults_test.cpp (SQLite, but nothing in it needed real I/O).
TEST_CASE_FIXTURE(deterministic_fixture, "deterministic.unknown_outcome_rereads_before_the_next_write") {
  spawn_region(std::chrono::seconds{30});
  auto r1 = send(append_cmd("u", "1"));
  settle();
  REQUIRE(reply_text(*r1) == "1");
  // The write commits, but the entity never learns it did.
  store->lose_write_outcomes(1);
  auto r2 = send(append_cmd("u", "2"));
  settle();
  CHECK(code_of(*r2) == status_code::unavailable);
  CHECK(store->journal_size("text-log|u") == 2);
  // The next write follows what is durable ("12"), not what the entity last knew ("1"): the entity read the journal
  // again before it, so its expected sequence number passes the fence.
  auto r3 = send(append_cmd("u", "3"));
  settle();
  CHECK(reply_text(*r3) == "123");
  CHECK(metrics->recoveries.value() == 2);
  CHECK(store->replayed_from() == std::vector<int64_t>{1, 1});
  CHECK(store->journal_size("text-log|u") == 3);
  CHECK(metrics->fenced.value() == 0);
}

// Was a thread-polling test in event_sourced_test.cpp (it waited for passivation).
TEST_CASE_FIXTURE(deterministic_fixture, "deterministic.unavailable_store_at_recovery_fails_commands_then_recovers") {
  spawn_region(std::chrono::seconds{1});
  auto ra = send(append_cmd("u", "a"));
  settle();
  REQUIRE(reply_text(*ra) == "a");
  sched->advance_time(std::chrono::seconds{2});
  settle();
  REQUIRE(active() == 0);
  store->fail_reads(1);
  auto get = send(get_cmd("u"));
  auto rb = send(append_cmd("u", "b"));
  settle();
  // Nothing ran: both commands waited for the recovery that failed.
  CHECK(code_of(*get) == status_code::unavailable);
  CHECK((*get)->status.message() == "could not load snapshot: injected read failure");
  CHECK(code_of(*rb) == status_code::unavailable);
  CHECK(metrics->recovery_failures.value() == 1);
  CHECK(store->journal_size("text-log|u") == 1);
  // The next command retries the recovery.
  auto again = send(get_cmd("u"));
  settle();
  CHECK(reply_text(*again) == "a");
}

// Was a thread-polling test in event_sourced_test.cpp (it polled the store for the snapshot).
TEST_CASE_FIXTURE(deterministic_fixture, "deterministic.a_snapshot_is_saved_once_its_append_is_durable") {
  spawn_region(std::chrono::seconds{1}, 128, 1000, text_log(2).model());
  const std::string pid = "text-log|s";
  auto r1 = send(append_cmd("s", "1"));
  settle();
  REQUIRE(reply_text(*r1) == "1");
  auto r2 = send(append_cmd("s", "2"));
  run_actors();
  REQUIRE(store->pending() == 1);
  // The append that crosses the boundary is not durable yet: no snapshot may contain its event.
  CHECK(store->snapshot_saves() == 0);
  store->complete_one();
  run_actors();
  CHECK(reply_text(*r2) == "12");
  CHECK(store->pending() == 1);  // the snapshot save, issued only now
  settle();
  CHECK(store->snapshot_seq(pid) == 2);
  for (auto t : {"3", "4", "5"})
    send(append_cmd("s", t));
  settle();
  CHECK(store->snapshot_seq(pid) == 4);
  CHECK(store->snapshot_saves() == 2);
  sched->advance_time(std::chrono::seconds{2});
  settle();
  REQUIRE(active() == 0);
  // Recovery starts from the snapshot and replays only the event after it.
  auto get = send(get_cmd("s"));
  settle();
  CHECK(reply_text(*get) == "12345");
  CHECK(store->replayed_from().back() == 5);
}

TEST_CASE_FIXTURE(deterministic_fixture, "deterministic.a_failed_append_across_a_snapshot_boundary_saves_no_snapshot") {
  spawn_region(std::chrono::seconds{30}, 128, 1000, text_log(2).model());
  const std::string pid = "text-log|n";
  auto r1 = send(append_cmd("n", "1"));
  settle();
  REQUIRE(reply_text(*r1) == "1");
  store->fail_appends(1);
  auto r2 = send(append_cmd("n", "2"));
  settle();
  CHECK(code_of(*r2) == status_code::unavailable);
  CHECK(store->snapshot_saves() == 0);
  // The restarted entity crosses the boundary with the next append; its snapshot holds durable events only.
  auto r3 = send(append_cmd("n", "3"));
  settle();
  CHECK(reply_text(*r3) == "13");
  REQUIRE(store->snapshot_seq(pid) == 2);
  auto state = std::make_shared<TextState>();
  store->load_snapshot(pid, [state](result<std::optional<persistence::snapshot>> r) {
    REQUIRE(r.ok());
    REQUIRE(r.value());
    state->ParseFromString(r.value()->payload);
  });
  store->complete_all();
  CHECK(state->value() == "13");
}

// Was a thread-polling test in event_sourced_test.cpp (it waited for passivation).
TEST_CASE_FIXTURE(deterministic_fixture, "deterministic.an_undecodable_snapshot_falls_back_to_a_full_replay") {
  spawn_region(std::chrono::seconds{1}, 128, 1000, text_log(1).model());
  for (auto t : {"p", "q", "r"})
    send(append_cmd("c", t));
  settle();
  REQUIRE(store->snapshot_seq("text-log|c") == 3);
  // Replace the newest snapshot by one of a type the entity does not know.
  store->save_snapshot("text-log|c", persistence::snapshot{3, "type.googleapis.com/nobody.Knows", "\x01"},
                       persistence::unfenced, [](status st) { REQUIRE(st.ok()); });
  store->complete_all();
  sched->advance_time(std::chrono::seconds{2});
  settle();
  REQUIRE(active() == 0);
  auto get = send(get_cmd("c"));
  settle();
  CHECK(reply_text(*get) == "pqr");
  CHECK(store->replayed_from().back() == 1);
}

TEST_CASE_FIXTURE(deterministic_fixture,
                  "deterministic.a_handler_that_throws_while_a_write_is_pending_keeps_the_earlier_reply") {
  spawn_region(std::chrono::seconds{30});
  auto ra = send(append_cmd("t", "a"));
  AppendText b;
  b.set_id("t");
  b.set_text("b");
  b.set_throw_in_handler(true);
  auto rb = send(make_command("t", "Append", b));
  auto rc = send(append_cmd("t", "c"));
  until_appended(1);
  // "b" failed at once; "a" waits for its write, "c" for the restart's recovery.
  CHECK(code_of(*rb) == status_code::internal);
  CHECK_FALSE(ra->has_value());
  CHECK_FALSE(rc->has_value());
  CHECK(store->pending() == 1);
  settle();
  // The write "a" issued before the restart is still durable and still answered; "c" ran on recovered state.
  CHECK(reply_text(*ra) == "a");
  CHECK(reply_text(*rc) == "ac");
  CHECK(metrics->restarts.value() == 1);
  CHECK(metrics->recoveries.value() == 2);
  CHECK(store->journal_size("text-log|t") == 2);
}

// The Cloudstate proxy re-creates an entity as soon as a command made it fail, so the next caller does not wait for
// the recovery; it still waits for the writes the failed incarnation issued, so that recovery reads final state.
TEST_CASE_FIXTURE(deterministic_fixture,
                  "deterministic.a_restart_a_command_caused_recovers_without_a_further_command") {
  spawn_region(std::chrono::seconds{30});
  auto ra = send(append_cmd("e", "a"));
  until_appended(1);
  auto rb = send(throwing_append_cmd("e", "b"));
  run_actors();
  CHECK(code_of(*rb) == status_code::internal);
  CHECK(metrics->restarts.value() == 1);
  // Only "a"'s append is pending: the recovery waits for it.
  CHECK(store->pending() == 1);
  store->complete_one();
  run_actors();
  CHECK(reply_text(*ra) == "a");
  // No command is queued, yet the recovery started: its snapshot load is pending.
  CHECK(store->pending() == 1);
  settle();
  CHECK(metrics->recoveries.value() == 2);
  CHECK(store->replayed_from() == std::vector<int64_t>{1, 1});
  // The next command runs on the recovered state without another recovery.
  auto rc = send(append_cmd("e", "c"));
  settle();
  CHECK(reply_text(*rc) == "ac");
  CHECK(metrics->recoveries.value() == 2);
}

// A failed write is no command's doing: recovering at once would be wrong after a conflict (another node owns the
// entity) and would make a failing store spin. Not even a command's restart waiting for that write recovers eagerly.
TEST_CASE_FIXTURE(deterministic_fixture, "deterministic.a_restart_after_a_failed_write_waits_for_the_next_command") {
  spawn_region(std::chrono::seconds{30});
  store->fail_appends(1);
  auto ra = send(append_cmd("w", "a"));
  settle();
  CHECK(code_of(*ra) == status_code::unavailable);
  CHECK(metrics->restarts.value() == 1);
  CHECK(metrics->recoveries.value() == 1);
  CHECK(store->pending() == 0);
  // The handler of "c" throws while "b"'s write, which another writer will have fenced, is pending.
  auto rb = send(append_cmd("w", "b"));
  until_appended(2);
  CHECK(metrics->recoveries.value() == 2);
  store->fail_appends(1, status_code::conflict);
  auto rc = send(throwing_append_cmd("w", "c"));
  run_actors();
  CHECK(code_of(*rc) == status_code::internal);
  settle();
  CHECK(code_of(*rb) == status_code::unavailable);
  CHECK(metrics->restarts.value() == 2);
  CHECK(metrics->recoveries.value() == 2);
  CHECK(store->pending() == 0);
  // The next command recovers.
  auto get = send(get_cmd("w"));
  settle();
  CHECK(code_of(*get) == status_code::ok);
  CHECK(metrics->recoveries.value() == 3);
}

TEST_CASE_FIXTURE(deterministic_fixture, "deterministic.a_user_failure_waits_for_the_writes_it_saw") {
  spawn_region(std::chrono::seconds{30});
  AppendText refused;
  refused.set_id("f");
  refused.set_text("b");
  refused.set_fail(true);
  auto ra = send(append_cmd("f", "a"));
  auto rb = send(make_command("f", "Append", refused));
  until_appended(1);
  run_actors();
  // The refusal was decided against state that includes "a", so it may not overtake "a"'s reply.
  CHECK_FALSE(rb->has_value());
  store->complete_one();
  run_actors();
  CHECK(reply_text(*ra) == "a");
  CHECK(code_of(*rb) == status_code::unknown);
  CHECK((*rb)->status.message() == "refused b");
  // When the write it saw fails, the refusal is not answered as if that write had happened.
  store->fail_appends(1);
  auto rc = send(append_cmd("f", "c"));
  auto rd = send(make_command("f", "Append", refused));
  settle();
  CHECK(code_of(*rc) == status_code::unavailable);
  CHECK(code_of(*rd) == status_code::unavailable);
  CHECK(store->journal_size("text-log|f") == 1);
}

TEST_CASE_FIXTURE(deterministic_fixture, "deterministic.the_pipeline_limit_holds_commands_until_a_write_is_durable") {
  max_pipeline = 2;
  spawn_region(std::chrono::seconds{30});
  auto r0 = send(append_cmd("l", "0"));
  settle();
  REQUIRE(reply_text(*r0) == "0");
  auto r1 = send(append_cmd("l", "1"));
  auto r2 = send(append_cmd("l", "2"));
  auto r3 = send(append_cmd("l", "3"));
  run_actors();
  // Two writes in flight: the third command is not handled yet.
  CHECK(store->appends() == 3);
  store->complete_one();
  run_actors();
  CHECK(reply_text(*r1) == "01");
  CHECK(store->appends() == 4);
  settle();
  CHECK(reply_text(*r2) == "012");
  CHECK(reply_text(*r3) == "0123");
}

// Was a thread-polling test in value_and_action_test.cpp (it waited for passivation).
TEST_CASE_FIXTURE(deterministic_fixture, "deterministic.value_update_delete_and_recover") {
  spawn_region(std::chrono::seconds{1}, 128, 1000, number_register().model());
  auto passivate = [this] {
    sched->advance_time(std::chrono::seconds{2});
    settle();
    REQUIRE(active() == 0);
  };
  auto r0 = send(read_cmd("n"));
  auto r1 = send(set_cmd("n", 7));
  auto r2 = send(set_cmd("n", 8));
  settle();
  REQUIRE(code_of(*r0) == status_code::ok);
  CHECK_FALSE(number_of(*r0).present());
  CHECK(number_of(*r1).value() == 7);
  CHECK(number_of(*r2).value() == 8);
  passivate();
  auto after = send(read_cmd("n"));
  settle();
  CHECK(number_of(*after).present());
  CHECK(number_of(*after).value() == 8);
  auto removed = send(set_cmd("n", 0, true));
  auto gone = send(read_cmd("n"));
  settle();
  CHECK(code_of(*removed) == status_code::ok);
  CHECK_FALSE(store->value("register|n"));
  REQUIRE(code_of(*gone) == status_code::ok);
  CHECK_FALSE(number_of(*gone).present());
  passivate();
  auto still_gone = send(read_cmd("n"));
  auto again = send(set_cmd("n", 3));
  settle();
  REQUIRE(code_of(*still_gone) == status_code::ok);
  CHECK_FALSE(number_of(*still_gone).present());
  CHECK(number_of(*again).value() == 3);
  // A deleted key starts again at version 1.
  REQUIRE(store->value("register|n"));
  CHECK(store->value("register|n")->version == 1);
}

// Was a thread-polling test in value_and_action_test.cpp.
TEST_CASE_FIXTURE(deterministic_fixture, "deterministic.value_pipelined_updates_wait_for_durability") {
  spawn_region(std::chrono::seconds{30}, 128, 1000, number_register().model());
  auto r1 = send(set_cmd("v", 1));
  settle();
  REQUIRE(number_of(*r1).value() == 1);
  auto r2 = send(set_cmd("v", 2));
  auto r3 = send(set_cmd("v", 3));
  auto read = send(read_cmd("v"));
  run_actors();
  CHECK(store->value_writes() == 3);
  CHECK(store->pending() == 2);
  CHECK_FALSE(r2->has_value());
  store->complete_one();
  run_actors();
  CHECK(number_of(*r2).value() == 2);
  CHECK(store->value("register|v")->version == 2);
  CHECK_FALSE(r3->has_value());
  CHECK_FALSE(read->has_value());
  store->complete_one();
  run_actors();
  CHECK(number_of(*r3).value() == 3);
  CHECK(number_of(*read).value() == 3);
  CHECK(store->value("register|v")->version == 3);
}

// Was a thread-polling test in value_and_action_test.cpp.
TEST_CASE_FIXTURE(deterministic_fixture, "deterministic.value_failed_write_restarts_from_the_stored_value") {
  spawn_region(std::chrono::seconds{30}, 128, 1000, number_register().model());
  auto r1 = send(set_cmd("f", 1));
  settle();
  REQUIRE(number_of(*r1).value() == 1);
  store->fail_value_writes(1);
  auto r2 = send(set_cmd("f", 2));
  auto read = send(read_cmd("f"));
  settle();
  CHECK(code_of(*r2) == status_code::unavailable);
  // The read saw the value of the failed write: it fails with it.
  CHECK(code_of(*read) == status_code::unavailable);
  CHECK(metrics->restarts.value() == 1);
  auto reread = send(read_cmd("f"));
  auto r5 = send(set_cmd("f", 5));
  settle();
  CHECK(number_of(*reread).value() == 1);
  CHECK(number_of(*r5).value() == 5);
  CHECK(store->value("register|f")->version == 2);
}

TEST_CASE_FIXTURE(deterministic_fixture, "deterministic.value_write_fenced_by_another_writer_rereads_its_value") {
  spawn_region(std::chrono::seconds{30}, 128, 1000, number_register().model());
  auto r1 = send(set_cmd("x", 1));
  settle();
  REQUIRE(number_of(*r1).value() == 1);
  // Another writer replaces version 1 behind the entity's back.
  NumberState theirs;
  theirs.set_value(9);
  theirs.set_present(true);
  auto stored = store->value("register|x");
  REQUIRE(stored);
  store->put_value("register|x", stored->type, theirs.SerializeAsString(), 1, persistence::unfenced,
                   [](result<int64_t> r) { REQUIRE(r.ok()); });
  store->complete_all();
  auto r2 = send(set_cmd("x", 2));
  settle();
  CHECK(code_of(*r2) == status_code::unavailable);
  CHECK(metrics->fenced.value() == 1);
  CHECK(store->value("register|x")->version == 2);
  auto read = send(read_cmd("x"));
  settle();
  CHECK(number_of(*read).value() == 9);
}
