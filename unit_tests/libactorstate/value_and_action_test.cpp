#include <doctest/doctest.h>

#include "test_entities.hpp"

using namespace actorstate;
using namespace actorstate::testing;

namespace {

NumberState number_of(const command_result& r) {
  NumberState n;
  REQUIRE_MESSAGE(r.ok(), r.message);
  REQUIRE(n.ParseFromString(r.payload));
  return n;
}

command set(const std::string& id, int64_t v, bool remove = false) {
  SetNumber s;
  s.set_id(id);
  s.set_value(v);
  s.set_remove(remove);
  return make_command(id, "Set", s);
}

command read(const std::string& id) {
  GetText g;
  g.set_id(id);
  return make_command(id, "Read", g);
}

}  // namespace

TEST_CASE("value.update_read_delete_and_recover") {
  harness h;
  auto region = h.region(number_register().model(), std::chrono::milliseconds{50});
  CHECK_FALSE(number_of(h.call(region, read("n"))).present());
  CHECK(number_of(h.call(region, set("n", 7))).value() == 7);
  CHECK(number_of(h.call(region, set("n", 8))).value() == 8);
  CHECK(eventually([&] { return h.active(region) == 0; }));
  auto after = number_of(h.call(region, read("n")));
  CHECK(after.present());
  CHECK(after.value() == 8);
  number_of(h.call(region, set("n", 0, true)));
  CHECK_FALSE(number_of(h.call(region, read("n"))).present());
  CHECK(eventually([&] { return h.active(region) == 0; }));
  CHECK_FALSE(number_of(h.call(region, read("n"))).present());
  CHECK(number_of(h.call(region, set("n", 3))).value() == 3);
}

TEST_CASE("value.pipelined_updates_wait_for_durability") {
  harness h;
  auto region = h.region(number_register().model());
  h.call(region, set("v", 1));
  h.store->hold_writes();
  auto rs = h.call_in_order(region, {set("v", 2), set("v", 3)});
  auto& a = rs[0];
  auto& b = rs[1];
  CHECK(eventually([&] { return h.store->held_writes() == 2; }));
  CHECK(a.wait_for(std::chrono::milliseconds{100}) == std::future_status::timeout);
  h.store->release_writes();
  CHECK(number_of(a.get()).value() == 2);
  CHECK(number_of(b.get()).value() == 3);
  CHECK(number_of(h.call(region, read("v"))).value() == 3);
}

TEST_CASE("value.failed_write_restarts_from_stored_value") {
  harness h;
  auto region = h.region(number_register().model());
  h.call(region, set("f", 1));
  h.store->fail_writes(persistence::code::unavailable, 1);
  CHECK(h.call(region, set("f", 2)).code == status_code::unavailable);
  h.store->clear_faults();
  CHECK(number_of(h.call(region, read("f"))).value() == 1);
  CHECK(number_of(h.call(region, set("f", 5))).value() == 5);
}

TEST_CASE("action.calls_run_statelessly") {
  harness h;
  auto region = h.region(echo().model());
  Shout s;
  s.set_text("hi");
  auto r = h.call(region, make_command("", "Say", s));
  REQUIRE(r.ok());
  Shout out;
  REQUIRE(out.ParseFromString(r.payload));
  CHECK(out.text() == "hi!");
  s.set_text("");
  auto failed = h.call(region, make_command("", "Say", s));
  CHECK(failed.code == status_code::unknown);
  CHECK(failed.message == "nothing to say");
}
