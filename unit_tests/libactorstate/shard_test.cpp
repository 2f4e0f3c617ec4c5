// The shard life cycle under CAF's deterministic test_coordinator (see stepped.hpp): handover while writes are
// pending, commands that arrive during a handover, a shard started again, failed writes while stopping, the active
// cap shared by a type's shards, and shutdown.
#include <doctest/doctest.h>

#include "stepped.hpp"

using namespace actorstate;
using namespace actorstate::testing;

namespace {

using shard_fixture = deterministic_fixture;

}  // namespace

TEST_CASE_FIXTURE(shard_fixture, "shard.handover_waits_until_pending_writes_are_durable") {
  spawn_region(std::chrono::seconds{30}, 4);
  auto r = send(append_cmd("a", "x"));
  until_appended(1);
  auto h = handover(shard_of("a"));
  run_actors();
  // The instance is stopping but its write is not durable yet: neither the reply nor the handover may leave.
  CHECK_FALSE(r->has_value());
  CHECK_FALSE(h->has_value());
  CHECK(active() == 1);
  settle();
  CHECK(reply_text(*r) == "x");
  REQUIRE(h->has_value());
  CHECK(**h == 1);
  CHECK(active() == 0);
  CHECK(metrics->passivations.value() == 1);
  CHECK(store->journal_size("text-log|a") == 1);
}

TEST_CASE_FIXTURE(shard_fixture, "shard.handover_of_an_empty_shard_answers_at_once") {
  spawn_region(std::chrono::seconds{30}, 4);
  auto h = handover(2);
  run_actors();
  REQUIRE(h->has_value());
  CHECK(**h == 0);
  // A shard that is already stopped has nothing left to stop.
  auto again = handover(2);
  run_actors();
  REQUIRE(again->has_value());
  CHECK(**again == 0);
}

TEST_CASE_FIXTURE(shard_fixture, "shard.commands_during_handover_wait_for_start_and_see_durable_state") {
  spawn_region(std::chrono::seconds{30}, 4);
  auto s = shard_of("a");
  auto r1 = send(append_cmd("a", "x"));
  until_appended(1);
  auto h = handover(s);
  auto r2 = send(append_cmd("a", "y"));
  auto other = send(append_cmd(id_in_shard((s + 1) % 4), "z"));
  settle();
  CHECK(reply_text(*r1) == "x");
  REQUIRE(h->has_value());
  // Held by the stopped shard: not run, not failed. Other shards keep serving.
  CHECK_FALSE(r2->has_value());
  CHECK(reply_text(*other) == "z");
  CHECK(store->journal_size("text-log|a") == 1);
  start(s);
  settle();
  // The new instance recovered "x" from the store before running the held command.
  CHECK(reply_text(*r2) == "xy");
  CHECK(store->journal_size("text-log|a") == 2);
}

TEST_CASE_FIXTURE(shard_fixture, "shard.started_again_after_handover_recovers_its_entities") {
  spawn_region(std::chrono::seconds{30}, 4);
  auto s = shard_of("a");
  auto r0 = send(append_cmd("a", "x"));
  settle();
  REQUIRE(reply_text(*r0) == "x");
  auto h = handover(s);
  settle();
  REQUIRE(h->has_value());
  CHECK(**h == 1);
  start(s);
  auto r = send(get_cmd("a"));
  settle();
  CHECK(reply_text(*r) == "x");
  CHECK(metrics->recoveries.value() == 2);
}

TEST_CASE_FIXTURE(shard_fixture, "shard.a_write_that_fails_during_handover_fails_its_command_and_the_shard_stops") {
  spawn_region(std::chrono::seconds{30}, 4);
  auto s = shard_of("a");
  store->fail_appends(1);
  auto r1 = send(append_cmd("a", "x"));
  until_appended(1);
  auto h = handover(s);
  settle();
  REQUIRE(r1->has_value());
  CHECK((*r1)->status.code() == status_code::unavailable);
  REQUIRE(h->has_value());
  CHECK(**h == 1);
  CHECK(active() == 0);
  CHECK(store->journal_size("text-log|a") == 0);
  // Started again, the entity has nothing of the failed write.
  start(s);
  auto r2 = send(get_cmd("a"));
  settle();
  REQUIRE(r2->has_value());
  CHECK((*r2)->ok());
  CHECK(reply_text(*r2) == "");
}

TEST_CASE_FIXTURE(shard_fixture, "shard.every_handover_request_is_answered") {
  spawn_region(std::chrono::seconds{30}, 4);
  auto s = shard_of("a");
  auto r = send(append_cmd("a", "x"));
  until_appended(1);
  auto h1 = handover(s);
  auto h2 = handover(s);
  settle();
  REQUIRE(h1->has_value());
  REQUIRE(h2->has_value());
  CHECK(**h1 == 1);
  CHECK(**h2 == 1);
  CHECK(reply_text(*r) == "x");
}

TEST_CASE_FIXTURE(shard_fixture, "shard.start_during_handover_serves_once_the_last_instance_is_down") {
  spawn_region(std::chrono::seconds{30}, 4);
  auto s = shard_of("a");
  auto r1 = send(append_cmd("a", "x"));
  until_appended(1);
  auto h = handover(s);
  run_actors();
  start(s);
  auto r2 = send(append_cmd("a", "y"));
  run_actors();
  CHECK_FALSE(r2->has_value());
  settle();
  REQUIRE(h->has_value());
  CHECK(reply_text(*r1) == "x");
  CHECK(reply_text(*r2) == "xy");
  CHECK(active() == 1);
}

TEST_CASE_FIXTURE(shard_fixture, "shard.start_on_a_serving_shard_changes_nothing") {
  spawn_region(std::chrono::seconds{30}, 4);
  auto r1 = send(append_cmd("a", "x"));
  settle();
  start(shard_of("a"));
  auto r2 = send(append_cmd("a", "y"));
  settle();
  CHECK(reply_text(*r1) == "x");
  CHECK(reply_text(*r2) == "xy");
  CHECK(metrics->recoveries.value() == 1);
}

TEST_CASE_FIXTURE(shard_fixture, "shard.shutdown_fails_held_commands_and_waits_for_writes") {
  spawn_region(std::chrono::seconds{30}, 4);
  auto s = shard_of("a");
  auto b = id_in_shard((s + 1) % 4);
  auto pending = send(append_cmd(b, "p"));
  until_appended(1);
  auto h = handover(s);
  run_actors();
  auto held = send(append_cmd("a", "x"));
  run_actors();
  CHECK_FALSE(held->has_value());
  region->stop();
  run_actors();
  REQUIRE(held->has_value());
  CHECK((*held)->status.code() == status_code::unavailable);
  CHECK((*held)->status.message() == "node is shutting down");
  // The other shard's instance still finishes its write before it stops.
  CHECK_FALSE(pending->has_value());
  settle();
  CHECK(reply_text(*pending) == "p");
  CHECK(store->journal_size("text-log|" + b) == 1);
}

TEST_CASE_FIXTURE(shard_fixture, "shard.commands_for_a_stopping_instance_go_to_its_successor") {
  spawn_region(std::chrono::seconds{1}, 4);
  auto r1 = send(append_cmd("a", "x"));
  until_appended(1);
  // Idle past the timeout while the write is pending: the instance stops as soon as the write is durable.
  sched->advance_time(std::chrono::seconds{2});
  run_actors();
  auto r2 = send(append_cmd("a", "y"));
  run_actors();
  CHECK_FALSE(r2->has_value());
  settle();
  CHECK(reply_text(*r1) == "x");
  CHECK(reply_text(*r2) == "xy");
  CHECK(metrics->passivations.value() == 1);
  CHECK(metrics->recoveries.value() == 2);
  CHECK(active() == 1);
}

TEST_CASE_FIXTURE(shard_fixture, "shard.active_cap_passivates_the_least_recently_used_instance_of_the_shard") {
  spawn_region(std::chrono::seconds{30}, 1, 2);
  for (auto id : {"a", "b"})
    send(append_cmd(id, id));
  settle();
  send(get_cmd("a"));  // "b" is now the least recently used
  settle();
  send(append_cmd("c", "c"));
  settle();
  CHECK(active() == 2);
  CHECK(metrics->passivations.value() == 1);
  CHECK(metrics->recoveries.value() == 3);
  // "a" was still live (no recovery); "b" comes back from the store.
  auto a = send(get_cmd("a"));
  settle();
  CHECK(reply_text(*a) == "a");
  CHECK(metrics->recoveries.value() == 3);
  auto b = send(get_cmd("b"));
  settle();
  CHECK(reply_text(*b) == "b");
  CHECK(metrics->recoveries.value() == 4);
}

TEST_CASE_FIXTURE(shard_fixture, "shard.active_cap_is_shared_by_the_shards_of_a_type") {
  spawn_region(std::chrono::seconds{30}, 2, 1);
  auto first = id_in_shard(0);
  auto second = id_in_shard(1);
  send(append_cmd(first, "1"));
  settle();
  CHECK(active() == 1);
  // Shard 1 has no other instance to give up, so it asks the fullest shard (0) to shed one.
  send(append_cmd(second, "2"));
  settle();
  CHECK(active() == 1);
  CHECK(metrics->passivations.value() == 1);
  auto again = send(get_cmd(first));
  settle();
  CHECK(reply_text(*again) == "1");
  CHECK(active() == 1);
  CHECK(metrics->passivations.value() == 2);
}

TEST_CASE_FIXTURE(shard_fixture, "shard.an_idle_shard_keeps_no_timer") {
  spawn_region(std::chrono::milliseconds{100}, 4);
  send(append_cmd("a", "x"));
  settle();
  sched->advance_time(std::chrono::seconds{1});
  settle();
  CHECK(active() == 0);
  // Once its last instance is gone the shard stops ticking: no timeout stays scheduled.
  sched->advance_time(std::chrono::seconds{1});
  settle();
  CHECK_FALSE(sched->has_pending_timeout());
}

TEST_CASE_FIXTURE(shard_fixture, "shard.a_fenced_write_fails_its_command_and_is_counted_apart_from_faults") {
  spawn_region(std::chrono::seconds{30}, 4);
  store->fail_appends(1, status_code::conflict);
  auto r1 = send(append_cmd("a", "x"));
  settle();
  REQUIRE(r1->has_value());
  CHECK((*r1)->status.code() == status_code::unavailable);
  CHECK(metrics->fenced.value() == 1);
  CHECK(metrics->persist_failures.value() == 1);
  // The instance restarted from the store; the shard keeps serving it.
  auto r2 = send(append_cmd("a", "y"));
  settle();
  CHECK(reply_text(*r2) == "y");
  // An ordinary storage fault is not a fence.
  store->fail_appends(1, status_code::unavailable);
  auto r3 = send(append_cmd("a", "z"));
  settle();
  CHECK((*r3)->status.code() == status_code::unavailable);
  CHECK(metrics->fenced.value() == 1);
}
