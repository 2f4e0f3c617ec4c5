// The stored form of a retry's reply (runtime/src/idempotency.hpp) and where a command's key is found.
#include <doctest/doctest.h>

#include "idempotency.hpp"

using namespace actorstate;
using namespace actorstate::runtime;

TEST_CASE("idempotency.key_is_found_without_case_and_empty_is_none") {
  command cmd;
  CHECK(idempotency::key_of(cmd).empty());
  cmd.metadata = {{"x-other", "v"}, {"Idempotency-KEY", "k1"}, {"idempotency-key", "k2"}};
  CHECK(idempotency::key_of(cmd) == "k1");
  cmd.metadata = {{"idempotency-key", ""}};
  CHECK(idempotency::key_of(cmd).empty());
}

TEST_CASE("idempotency.a_reply_round_trips_with_its_metadata_and_forward") {
  reply_plan plan;
  plan.result = command_result::success(std::string{"\0reply\xff", 7});
  plan.result.metadata = {{"a", "1"}, {"b", std::string(300, 'x')}};
  plan.forward = detail::effect_call{"pkg.Service", "Method", {"type.googleapis.com/pkg.In", "bytes"}, false};
  plan.side_effects.push_back(detail::effect_call{"pkg.Other", "Effect", {}, true});
  auto decoded = idempotency::decode(idempotency::encode(plan));
  REQUIRE(decoded);
  CHECK(decoded->result.ok());
  CHECK(decoded->result.payload == plan.result.payload);
  REQUIRE(decoded->result.metadata.size() == 2);
  CHECK(decoded->result.metadata[1].value == std::string(300, 'x'));
  REQUIRE(decoded->forward);
  CHECK(decoded->forward->service_name == "pkg.Service");
  CHECK(decoded->forward->method == "Method");
  CHECK(decoded->forward->payload.type == "type.googleapis.com/pkg.In");
  CHECK(decoded->forward->payload.payload == "bytes");
  // Side effects ran with the first attempt: a retry does not make them again.
  CHECK(decoded->side_effects.empty());
}

TEST_CASE("idempotency.damaged_or_newer_forms_do_not_decode") {
  reply_plan plan;
  plan.result = command_result::success("payload");
  auto stored = idempotency::encode(plan);
  REQUIRE(idempotency::decode(stored));
  CHECK_FALSE(idempotency::decode(""));
  CHECK_FALSE(idempotency::decode(stored.substr(0, stored.size() - 1)));
  CHECK_FALSE(idempotency::decode(stored + "x"));
  auto newer = stored;
  newer[0] = 2;
  CHECK_FALSE(idempotency::decode(newer));
}
