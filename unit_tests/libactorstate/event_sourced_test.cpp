#include <doctest/doctest.h>

#include <future>

#include "test_entities.hpp"

using namespace actorstate;
using namespace actorstate::testing;

namespace {

AppendText append(const std::string& id, const std::string& text) {
  AppendText a;
  a.set_id(id);
  a.set_text(text);
  return a;
}

std::string text_of(const command_result& r) {
  TextReply reply;
  REQUIRE(r.ok());
  REQUIRE(reply.ParseFromString(r.payload));
  return reply.value();
}

std::string get(harness& h, const region_ptr& region, const std::string& id) {
  GetText g;
  g.set_id(id);
  auto r = h.call(region, make_command(id, "Get", g));
  REQUIRE_MESSAGE(r.ok(), r.message);
  return text_of(r);
}

std::shared_ptr<persistence::store> inner(harness& h) {
  return h.store;
}

template <class T>
T wait(std::function<void(persistence::callback<T>)> op) {
  auto p = std::make_shared<std::promise<T>>();
  auto f = p->get_future();
  op([p](T v) { p->set_value(std::move(v)); });
  REQUIRE(f.wait_for(std::chrono::seconds{10}) == std::future_status::ready);
  return f.get();
}

}  // namespace

TEST_CASE("event_sourced.commands_apply_events_in_order") {
  harness h;
  auto region = h.region(text_log().model());
  CHECK(text_of(h.call(region, make_command("a", "Append", append("a", "x")))) == "x");
  CHECK(text_of(h.call(region, make_command("a", "Append", append("a", "y")))) == "xy");
  CHECK(text_of(h.call(region, make_command("b", "Append", append("b", "z")))) == "z");
  CHECK(get(h, region, "a") == "xy");
  CHECK(get(h, region, "b") == "z");
  auto highest = wait<persistence::result<int64_t>>([&](auto cb) { inner(h)->highest_seq("text-log|a", cb); });
  REQUIRE(highest.ok());
  CHECK(highest.value() == 2);
}

TEST_CASE("event_sourced.recovers_state_after_passivation") {
  harness h;
  auto region = h.region(text_log().model(), std::chrono::milliseconds{50});
  for (auto t : {"a", "b", "c"})
    h.call(region, make_command("r", "Append", append("r", t)));
  CHECK(eventually([&] { return h.active(region) == 0; }));
  CHECK(h.metrics->passivations.value() >= 1);
  CHECK(get(h, region, "r") == "abc");
  CHECK(h.metrics->recoveries.value() >= 2);
}

TEST_CASE("event_sourced.snapshot_every_n_events_and_recovery_from_it") {
  harness h;
  auto region = h.region(text_log(2).model(), std::chrono::milliseconds{50});
  for (auto t : {"1", "2", "3", "4", "5"})
    h.call(region, make_command("s", "Append", append("s", t)));
  CHECK(eventually([&] {
    auto snap = wait<persistence::result<std::optional<persistence::snapshot>>>(
        [&](auto cb) { inner(h)->load_snapshot("text-log|s", cb); });
    return snap.ok() && snap.value() && snap.value()->seq == 4;
  }));
  CHECK(eventually([&] { return h.active(region) == 0; }));
  CHECK(get(h, region, "s") == "12345");
}

TEST_CASE("event_sourced.unreadable_snapshot_falls_back_to_full_replay") {
  harness h;
  auto region = h.region(text_log(1).model(), std::chrono::milliseconds{50});
  for (auto t : {"p", "q", "r"})
    h.call(region, make_command("c", "Append", append("c", t)));
  CHECK(eventually([&] { return h.active(region) == 0; }));
  h.store->corrupt_snapshots(true);
  CHECK(get(h, region, "c") == "pqr");
}

TEST_CASE("event_sourced.user_failure_persists_nothing") {
  harness h;
  auto region = h.region(text_log().model());
  h.call(region, make_command("f", "Append", append("f", "a")));
  auto cmd = append("f", "b");
  cmd.set_fail(true);
  auto r = h.call(region, make_command("f", "Append", cmd));
  CHECK(r.code == status_code::unknown);
  CHECK(r.message == "refused b");
  CHECK(get(h, region, "f") == "a");
  auto highest = wait<persistence::result<int64_t>>([&](auto cb) { inner(h)->highest_seq("text-log|f", cb); });
  CHECK(highest.value() == 1);
}

TEST_CASE("event_sourced.multiple_events_from_one_command") {
  harness h;
  auto region = h.region(text_log().model());
  auto cmd = append("m", "ab");
  cmd.set_times(3);
  CHECK(text_of(h.call(region, make_command("m", "Append", cmd))) == "ababab");
  auto highest = wait<persistence::result<int64_t>>([&](auto cb) { inner(h)->highest_seq("text-log|m", cb); });
  CHECK(highest.value() == 3);
}

TEST_CASE("event_sourced.replies_wait_for_durability_while_commands_pipeline") {
  harness h;
  auto region = h.region(text_log().model());
  h.call(region, make_command("p", "Append", append("p", "0")));
  h.store->hold_writes();
  GetText g;
  g.set_id("p");
  auto rs = h.call_in_order(region, {make_command("p", "Append", append("p", "1")),
                                     make_command("p", "Append", append("p", "2")), make_command("p", "Get", g)});
  auto& r1 = rs[0];
  auto& r2 = rs[1];
  auto& r3 = rs[2];
  // Both appends were handled and written without waiting for the first to become durable ...
  CHECK(eventually([&] { return h.store->held_writes() == 2; }));
  // ... but no reply left, not even the read that saw their events.
  CHECK(r3.wait_for(std::chrono::milliseconds{200}) == std::future_status::timeout);
  CHECK(r1.wait_for(std::chrono::milliseconds{0}) == std::future_status::timeout);
  h.store->release_writes();
  CHECK(text_of(r1.get()) == "01");
  CHECK(text_of(r2.get()) == "012");
  CHECK(text_of(r3.get()) == "012");
}

TEST_CASE("event_sourced.outcomes_keep_issue_order_when_a_lost_outcome_is_followed_by_a_success") {
  // Successes reach the entity coalesced; once a write of the incarnation failed, outcomes travel one by one. Here the
  // middle of three pipelined writes commits but reports unknown_outcome, and the write after it succeeds.
  harness h;
  auto region = h.region(text_log().model());
  h.call(region, make_command("o", "Append", append("o", "a")));
  h.store->hold_writes();
  auto rb = h.call_async(region, make_command("o", "Append", append("o", "b")));
  REQUIRE(eventually([&] { return h.store->held_writes() == 1; }));
  h.store->lose_write_outcomes(1);
  auto rc = h.call_async(region, make_command("o", "Append", append("o", "c")));
  REQUIRE(eventually([&] { return h.store->held_writes() == 2; }));
  auto rd = h.call_async(region, make_command("o", "Append", append("o", "d")));
  REQUIRE(eventually([&] { return h.store->held_writes() == 3; }));
  h.store->release_writes();
  CHECK(text_of(rb.get()) == "ab");
  // "c" may or may not be stored, so neither it nor "d", which saw it, is confirmed.
  CHECK(rc.get().code == status_code::unavailable);
  CHECK(rd.get().code == status_code::unavailable);
  // Recovery reads what the store holds: all four committed.
  CHECK(get(h, region, "o") == "abcd");
  CHECK(text_of(h.call(region, make_command("o", "Append", append("o", "e")))) == "abcde");
}

TEST_CASE("event_sourced.handler_exception_fails_only_that_command") {
  harness h;
  auto region = h.region(text_log().model());
  h.call(region, make_command("t", "Append", append("t", "a")));
  auto cmd = append("t", "b");
  cmd.set_throw_in_handler(true);
  auto r = h.call(region, make_command("t", "Append", cmd));
  CHECK(r.code == status_code::internal);
  CHECK(get(h, region, "t") == "a");
  CHECK(text_of(h.call(region, make_command("t", "Append", append("t", "c")))) == "ac");
}

TEST_CASE("event_sourced.unavailable_store_at_recovery_fails_command_then_recovers") {
  harness h;
  auto region = h.region(text_log().model(), std::chrono::milliseconds{50});
  h.call(region, make_command("u", "Append", append("u", "a")));
  CHECK(eventually([&] { return h.active(region) == 0; }));
  h.store->fail_reads(persistence::code::unavailable, 1);
  GetText g;
  g.set_id("u");
  auto r = h.call(region, make_command("u", "Get", g));
  CHECK(r.code == status_code::unavailable);
  CHECK(get(h, region, "u") == "a");
}

TEST_CASE("event_sourced.bad_request_bytes_and_unknown_method") {
  harness h;
  auto region = h.region(text_log().model());
  auto bad = h.call(region, command{"x", "Append", std::string{"\xff\xff\xff", 3}});
  CHECK(bad.code == status_code::invalid_argument);
  auto unknown = h.call(region, command{"x", "Nope", ""});
  CHECK(unknown.code == status_code::unimplemented);
}
