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
  CHECK((*rb)->code == status_code::unavailable);
  // "c" saw "b"'s event, and the store's fence refused it after "b" failed.
  CHECK((*rc)->code == status_code::unavailable);
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
