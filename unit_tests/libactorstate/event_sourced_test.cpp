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
  REQUIRE_MESSAGE(r.ok(), r.status.message());
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
  auto highest = wait<result<int64_t>>([&](auto cb) { inner(h)->highest_seq("text-log|a", cb); });
  REQUIRE(highest.ok());
  CHECK(highest.value() == 2);
}

TEST_CASE("event_sourced.user_failure_persists_nothing") {
  harness h;
  auto region = h.region(text_log().model());
  REQUIRE(h.call(region, make_command("f", "Append", append("f", "a"))).ok());
  auto cmd = append("f", "b");
  cmd.set_fail(true);
  auto r = h.call(region, make_command("f", "Append", cmd));
  CHECK(r.status.code() == status_code::unknown);
  CHECK(r.status.message() == "refused b");
  CHECK(get(h, region, "f") == "a");
  auto highest = wait<result<int64_t>>([&](auto cb) { inner(h)->highest_seq("text-log|f", cb); });
  CHECK(highest.value() == 1);
}

TEST_CASE("event_sourced.multiple_events_from_one_command") {
  harness h;
  auto region = h.region(text_log().model());
  auto cmd = append("m", "ab");
  cmd.set_times(3);
  CHECK(text_of(h.call(region, make_command("m", "Append", cmd))) == "ababab");
  auto highest = wait<result<int64_t>>([&](auto cb) { inner(h)->highest_seq("text-log|m", cb); });
  CHECK(highest.value() == 3);
}

TEST_CASE("event_sourced.handler_exception_fails_only_that_command") {
  harness h;
  auto region = h.region(text_log().model());
  REQUIRE(h.call(region, make_command("t", "Append", append("t", "a"))).ok());
  auto cmd = append("t", "b");
  cmd.set_throw_in_handler(true);
  auto r = h.call(region, make_command("t", "Append", cmd));
  CHECK(r.status.code() == status_code::internal);
  CHECK(get(h, region, "t") == "a");
  CHECK(text_of(h.call(region, make_command("t", "Append", append("t", "c")))) == "ac");
}

TEST_CASE("event_sourced.bad_request_bytes_and_unknown_method") {
  harness h;
  auto region = h.region(text_log().model());
  auto bad = h.call(region, command{"x", "Append", std::string{"\xff\xff\xff", 3}});
  CHECK(bad.status.code() == status_code::invalid_argument);
  auto unknown = h.call(region, command{"x", "Nope", ""});
  CHECK(unknown.status.code() == status_code::unimplemented);
}
