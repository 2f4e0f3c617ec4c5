#include <doctest/doctest.h>

#include "test_entities.hpp"

using namespace actorstate;
using namespace actorstate::testing;

// Value entities are tested deterministically in deterministic_test.cpp.

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
  CHECK(failed.status.code() == status_code::unknown);
  CHECK(failed.status.message() == "nothing to say");
}
