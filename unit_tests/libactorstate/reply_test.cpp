// Local calls: the reply leaves from the actor that produces it, through the caller's slot; the deadline, a dropped
// command and shutdown each finish a call exactly once. Deterministic: manual deadlines and the stepped fixture.
#include <doctest/doctest.h>

#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "actorstate/runtime/reply.hpp"
#include "stepped.hpp"

using namespace actorstate;
using namespace actorstate::testing;

namespace {

using namespace std::chrono_literals;

/// Collects every completion of the calls it opens.
struct recorder {
  std::shared_ptr<std::vector<command_result>> results = std::make_shared<std::vector<command_result>>();
  std::function<void(command_result)> done() {
    return [r = results](command_result x) { r->push_back(std::move(x)); };
  }
};

struct local_fixture : deterministic_fixture {
  std::unique_ptr<runtime::call_deadlines> deadlines = runtime::call_deadlines::manual(1000ms);
  recorder calls;

  /// Sends `cmd` as the frontend does: straight to its shard with a slot, from no actor.
  void call(command cmd) {
    const auto& target = region->target(cmd.entity_id);
    deadlines->call(target, std::move(cmd), calls.done());
  }
  const std::vector<command_result>& results() const { return *calls.results; }
};

}  // namespace

TEST_CASE("reply.a_slot_finishes_once_whichever_comes_first") {
  auto deadlines = runtime::call_deadlines::manual(1000ms);
  recorder r;
  auto slot = deadlines->open(r.done());
  CHECK(slot->finish(command_result::success("first")));
  CHECK_FALSE(slot->finish(command_result::success("second")));
  CHECK(deadlines->expire_due(runtime::call_slot::clock::now() + 2000ms) == 0);
  slot.reset();  // dropping an answered slot says nothing more
  REQUIRE(r.results->size() == 1);
  CHECK(r.results->front().payload == "first");
}

TEST_CASE("reply.unanswered_calls_fail_at_their_deadline_in_order") {
  auto deadlines = runtime::call_deadlines::manual(1000ms);
  recorder r;
  auto t0 = runtime::call_slot::clock::now();
  auto a = deadlines->open(r.done());
  auto b = deadlines->open(r.done());
  CHECK(deadlines->expire_due(t0) == 0);  // not yet
  b->finish(command_result::success("b"));
  CHECK(deadlines->expire_due(runtime::call_slot::clock::now() + 1000ms) == 1);  // only a was still open
  REQUIRE(r.results->size() == 2);
  CHECK(r.results->at(0).payload == "b");
  CHECK(r.results->at(1).status.code() == status_code::deadline_exceeded);
  CHECK_FALSE(a->finish(command_result::success("late")));  // a late result is dropped
  CHECK(r.results->size() == 2);
}

TEST_CASE("reply.the_timer_thread_fails_a_call_opened_while_it_slept") {
  // `open` never wakes the timer thread (one wake-up per call saved): a call opened while it sleeps with nothing to
  // time must still fail at its deadline. The real thread, bounded waits.
  runtime::call_deadlines deadlines{200ms};
  std::this_thread::sleep_for(50ms);  // the thread is asleep with an empty FIFO (the state under test, not a sync)
  std::mutex mtx;
  std::condition_variable cv;
  std::optional<command_result> result;
  auto opened = runtime::call_slot::clock::now();
  auto slot = deadlines.open([&](command_result r) {
    std::lock_guard<std::mutex> guard{mtx};
    result = std::move(r);
    cv.notify_all();
  });
  {
    std::unique_lock<std::mutex> lock{mtx};
    REQUIRE(cv.wait_for(lock, 5s, [&] { return result.has_value(); }));
  }
  CHECK(result->status.code() == status_code::deadline_exceeded);
  CHECK(runtime::call_slot::clock::now() - opened >= 200ms);
}

TEST_CASE("reply.a_slot_dropped_unanswered_tells_its_caller") {
  auto deadlines = runtime::call_deadlines::manual(1000ms);
  recorder r;
  deadlines->open(r.done()).reset();
  REQUIRE(r.results->size() == 1);
  CHECK(r.results->front().status.code() == status_code::unavailable);
  CHECK(deadlines->expire_due(runtime::call_slot::clock::now() + 2000ms) == 0);
}

TEST_CASE("reply.stop_fails_the_calls_still_open") {
  auto deadlines = runtime::call_deadlines::manual(1000ms);
  recorder r;
  auto open = deadlines->open(r.done());
  auto answered = deadlines->open(r.done());
  answered->finish(command_result::success("done"));
  deadlines->stop();
  REQUIRE(r.results->size() == 2);
  CHECK(r.results->at(1).status.code() == status_code::unavailable);
  CHECK(r.results->at(1).status.message() == "the node is shutting down");
}

TEST_CASE("reply.the_timer_thread_fails_a_call_nobody_answers") {
  runtime::call_deadlines deadlines{50ms};
  std::atomic<int> calls{0};
  std::atomic<int> code{-1};
  auto slot = deadlines.open([&](command_result r) {
    code = static_cast<int>(r.status.code());
    ++calls;
  });
  REQUIRE(eventually([&] { return calls.load() == 1; }));
  CHECK(code.load() == static_cast<int>(status_code::deadline_exceeded));
  // The timer goes back to sleep and wakes for the next call too.
  auto again = deadlines.open([&](command_result) { ++calls; });
  REQUIRE(eventually([&] { return calls.load() == 2; }));
}

TEST_CASE_FIXTURE(local_fixture, "reply.a_local_call_is_answered_by_the_entity_once_durable") {
  spawn_region(10s);
  call(append_cmd("a", "x"));
  run_actors();
  CHECK(results().empty());  // the write is still pending: no reply yet
  settle();
  REQUIRE(results().size() == 1);
  TextReply reply;
  REQUIRE(reply.ParseFromString(results().front().payload));
  CHECK(reply.value() == "x");
}

TEST_CASE_FIXTURE(local_fixture, "reply.a_local_call_held_by_a_handed_over_shard_runs_after_start") {
  spawn_region(10s, 4);
  call(append_cmd("a", "x"));
  settle();
  auto shard = shard_of("a");
  auto stopped = handover(shard);
  settle();
  REQUIRE(*stopped == std::optional<uint64_t>{1});
  call(append_cmd("a", "y"));
  settle();
  CHECK(results().size() == 1);  // held by the shard
  start(shard);
  settle();
  REQUIRE(results().size() == 2);
  TextReply reply;
  REQUIRE(reply.ParseFromString(results().back().payload));
  CHECK(reply.value() == "xy");
}

TEST_CASE_FIXTURE(local_fixture, "reply.a_held_call_whose_deadline_passed_does_not_run_after_start") {
  spawn_region(10s, 4);
  call(append_cmd("a", "x"));
  settle();
  auto shard = shard_of("a");
  handover(shard);
  settle();
  call(append_cmd("a", "late"));
  settle();
  CHECK(deadlines->expire_due(runtime::call_slot::clock::now() + 1000ms) == 1);
  start(shard);
  settle();
  REQUIRE(results().size() == 2);
  CHECK(results().back().status.code() == status_code::deadline_exceeded);
  CHECK(store->journal_size("text-log|a") == 1);  // the late append never ran
}

TEST_CASE_FIXTURE(local_fixture, "reply.a_local_call_to_a_stopped_region_answers_unavailable_at_once") {
  spawn_region(10s, 2);
  region->stop();
  settle();
  call(append_cmd("a", "x"));
  settle();
  REQUIRE(results().size() == 1);
  CHECK(results().front().status.code() == status_code::unavailable);
}

TEST_CASE_FIXTURE(local_fixture, "reply.local_calls_to_an_action_are_answered_by_its_worker") {
  spawn_region(10s, 1, 1000, echo().model());
  Shout s;
  s.set_text("hi");
  call(make_command("", "Say", s));
  settle();
  REQUIRE(results().size() == 1);
  CHECK(results().front().ok());
}
