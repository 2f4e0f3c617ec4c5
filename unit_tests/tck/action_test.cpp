// Cloudstate TCK, action model scenarios (ActionTCK "verify ..." model tests) for unary calls: handleUnary driven
// as the TCK drives it, every response compared exactly. Not ported: the "no reply" scenarios (a unary SDK handler
// always replies, forwards or fails) and the streamed-in, streamed-out and bidi ones (the SDK has unary actions
// only).
#include <algorithm>
#include <initializer_list>

#include "cloudstate/tck/model/action.pb.h"
#include "harness.hpp"
#include "model_requests.hpp"

namespace {

namespace pac = cloudstate::action;
namespace m = cloudstate::tck::model::action;
using namespace tck::action_model;

const std::string protocol = "cloudstate.action.ActionProtocol";
const std::string service = "cloudstate.tck.model.action.ActionTckModel";
const std::string service_two = "cloudstate.tck.model.action.ActionTwo";

pac::ActionCommand process_unary(const m::Request& request) {
  pac::ActionCommand cmd;
  cmd.set_service_name(service);
  cmd.set_name("ProcessUnary");
  *cmd.mutable_payload() = tck::pack(request);
  return cmd;
}

using side_effects_t = std::vector<cloudstate::SideEffect>;

side_effects_t create_side_effects(bool synchronous, std::initializer_list<std::string> ids) {
  side_effects_t effects;
  for (const auto& id : ids)
    effects.push_back(tck::side_effect(service_two, "Call", other_request(id), synchronous));
  return effects;
}

side_effects_t side_effects(std::initializer_list<std::string> ids) {
  return create_side_effects(false, ids);
}

side_effects_t synchronous_side_effects(std::initializer_list<std::string> ids) {
  return create_side_effects(true, ids);
}

void add(pac::ActionResponse& response, const side_effects_t& effects) {
  for (const auto& e : effects)
    *response.add_side_effects() = e;
}

pac::ActionResponse reply(const m::Response& payload, const side_effects_t& effects = {}) {
  pac::ActionResponse r;
  *r.mutable_reply()->mutable_payload() = tck::pack(payload);
  add(r, effects);
  return r;
}

pac::ActionResponse forwarded(const std::string& id, const side_effects_t& effects = {}) {
  pac::ActionResponse r;
  auto* fwd = r.mutable_forward();
  fwd->set_service_name(service_two);
  fwd->set_command_name("Call");
  *fwd->mutable_payload() = tck::pack(other_request(id));
  add(r, effects);
  return r;
}

pac::ActionResponse failure(const std::string& description, const side_effects_t& effects = {}) {
  pac::ActionResponse r;
  r.mutable_failure()->set_description(description);
  add(r, effects);
  return r;
}

// The TCK's `protocol.action.unary.send(cmd).expect(response)`.
void expect_unary(const pac::ActionCommand& cmd, const pac::ActionResponse& expected) {
  grpc::ClientContext ctx;
  ctx.set_deadline(tck::deadline());
  pac::ActionResponse actual;
  auto status = tck::user_function::get().actions().handleUnary(&ctx, cmd, &actual);
  REQUIRE_MESSAGE(status.ok(), "handleUnary failed: " << status.error_message());
  tck::check_equal(actual, expected);
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

TEST_CASE("action.discovery") {
  auto services = tck::discovered_services();
  CHECK(contains(services, service));
  CHECK(contains(services, service_two));
  const auto* model = tck::discovered_entity(service);
  const auto* two = tck::discovered_entity(service_two);
  REQUIRE(model != nullptr);
  REQUIRE(two != nullptr);
  CHECK(model->entity_type() == protocol);
  CHECK(two->entity_type() == protocol);
}

TEST_CASE("action.unary_reply") {
  expect_unary(process_unary(single({reply_with("one")})), reply(response("one")));
}

TEST_CASE("action.unary_reply_with_side_effect") {
  expect_unary(process_unary(single({reply_with("two"), side_effect_to("other")})),
               reply(response("two"), side_effects({"other"})));
}

TEST_CASE("action.unary_reply_with_synchronous_side_effect") {
  expect_unary(process_unary(single({reply_with("three"), side_effect_to("another", true)})),
               reply(response("three"), synchronous_side_effects({"another"})));
}

TEST_CASE("action.unary_reply_with_multiple_side_effects") {
  expect_unary(
      process_unary(single({reply_with("four"), side_effect_to("a"), side_effect_to("b"), side_effect_to("c")})),
      reply(response("four"), side_effects({"a", "b", "c"})));
}

TEST_CASE("action.unary_forward") {
  expect_unary(process_unary(single({forward_to("one")})), forwarded("one"));
}

TEST_CASE("action.unary_forward_with_side_effect") {
  expect_unary(process_unary(single({forward_to("two"), side_effect_to("other")})),
               forwarded("two", side_effects({"other"})));
}

TEST_CASE("action.unary_forward_with_synchronous_side_effect") {
  expect_unary(process_unary(single({forward_to("three"), side_effect_to("another", true)})),
               forwarded("three", synchronous_side_effects({"another"})));
}

TEST_CASE("action.unary_forward_with_multiple_side_effects") {
  expect_unary(
      process_unary(single({forward_to("four"), side_effect_to("a"), side_effect_to("b"), side_effect_to("c")})),
      forwarded("four", side_effects({"a", "b", "c"})));
}

TEST_CASE("action.unary_failure") {
  expect_unary(process_unary(single({fail_with("one")})), failure("one"));
}

TEST_CASE("action.unary_failure_with_side_effect") {
  expect_unary(process_unary(single({fail_with("two"), side_effect_to("other")})),
               failure("two", side_effects({"other"})));
}

TEST_CASE("action.unary_failure_with_synchronous_side_effect") {
  expect_unary(process_unary(single({fail_with("three"), side_effect_to("another", true)})),
               failure("three", synchronous_side_effects({"another"})));
}

TEST_CASE("action.unary_failure_with_multiple_side_effects") {
  expect_unary(
      process_unary(single({fail_with("four"), side_effect_to("a"), side_effect_to("b"), side_effect_to("c")})),
      failure("four", side_effects({"a", "b", "c"})));
}

// Beyond the TCK's scenarios: later steps replace earlier ones, and the second service answers `Call` with an
// empty Response, as the model's contract says.
TEST_CASE("action.unary_later_steps_win") {
  expect_unary(process_unary(single({fail_with("first"), forward_to("x"), reply_with("last")})),
               reply(response("last")));
  expect_unary(process_unary(single({reply_with("first"), fail_with("last")})), failure("last"));
}

TEST_CASE("action.second_service_call") {
  pac::ActionCommand cmd;
  cmd.set_service_name(service_two);
  cmd.set_name("Call");
  *cmd.mutable_payload() = tck::pack(other_request("x"));
  expect_unary(cmd, reply(response()));
}
