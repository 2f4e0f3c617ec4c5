// Cloudstate TCK, value entity model scenarios (EntityTCK "verify ..." model tests): the user function's
// ValueEntity/handle stream driven as the TCK drives it, every reply compared exactly.
#include <algorithm>
#include <initializer_list>
#include <optional>

#include "cloudstate/tck/model/valueentity.pb.h"
#include "harness.hpp"
#include "model_requests.hpp"

namespace {

namespace pve = cloudstate::valueentity;
namespace m = cloudstate::tck::model::valueentity;
using namespace tck::ve_model;

const std::string protocol = "cloudstate.valueentity.ValueEntity";
const std::string service = "cloudstate.tck.model.valueentity.ValueEntityTckModel";
const std::string service_two = "cloudstate.tck.model.valueentity.ValueEntityTwo";
const std::string service_configured = "cloudstate.tck.model.valueentity.ValueEntityConfigured";

using ve_connection = tck::connection<pve::ValueEntityStreamIn, pve::ValueEntityStreamOut>;

ve_connection connect() {
  return ve_connection{[](grpc::ClientContext* ctx) { return tck::user_function::get().value_entity().handle(ctx); }};
}

// Request actions.

// What a reply carries besides its client action.
struct effects {
  std::vector<cloudstate::SideEffect> side_effects;
  std::optional<pve::ValueEntityAction> state_action;

  effects with_update(const std::string& value) const {
    effects e = *this;
    e.state_action.emplace();
    *e.state_action->mutable_update()->mutable_value() = persisted(value);
    return e;
  }
};

effects update(const std::string& value) {
  return effects{}.with_update(value);
}

effects delete_action() {
  effects e;
  e.state_action.emplace();
  e.state_action->mutable_delete_();
  return e;
}

effects create_side_effects(bool synchronous, std::initializer_list<std::string> ids) {
  effects e;
  for (const auto& id : ids)
    e.side_effects.push_back(tck::side_effect(service_two, "Call", request(id), synchronous));
  return e;
}

effects side_effects(std::initializer_list<std::string> ids) {
  return create_side_effects(false, ids);
}

effects synchronous_side_effects(std::initializer_list<std::string> ids) {
  return create_side_effects(true, ids);
}

// Stream messages in. A proxy always sends the init state, with no value when nothing is stored.
pve::ValueEntityStreamIn init(const std::string& service_name, const std::string& entity_id,
                              const std::optional<google::protobuf::Any>& state = std::nullopt) {
  pve::ValueEntityStreamIn in;
  in.mutable_init()->set_service_name(service_name);
  in.mutable_init()->set_entity_id(entity_id);
  auto* init_state = in.mutable_init()->mutable_state();
  if (state)
    *init_state->mutable_value() = *state;
  return in;
}

pve::ValueEntityStreamIn command(int64_t id, const std::string& entity_id, const std::string& name,
                                 const google::protobuf::Message& payload) {
  pve::ValueEntityStreamIn in;
  *in.mutable_command() = tck::command(id, entity_id, name, payload);
  return in;
}

// Stream messages out.
pve::ValueEntityStreamOut reply_action(int64_t id, const cloudstate::ClientAction& action, const effects& e) {
  pve::ValueEntityStreamOut out;
  auto* reply = out.mutable_reply();
  reply->set_command_id(id);
  *reply->mutable_client_action() = action;
  for (const auto& se : e.side_effects)
    *reply->add_side_effects() = se;
  if (e.state_action)
    *reply->mutable_state_action() = *e.state_action;
  return out;
}

pve::ValueEntityStreamOut reply(int64_t id, const m::Response& payload, const effects& e = {}) {
  cloudstate::ClientAction action;
  *action.mutable_reply()->mutable_payload() = tck::pack(payload);
  return reply_action(id, action, e);
}

pve::ValueEntityStreamOut forward(int64_t id, const std::string& service_name, const std::string& command_name,
                                  const google::protobuf::Message& payload, const effects& e = {}) {
  cloudstate::ClientAction action;
  auto* fwd = action.mutable_forward();
  fwd->set_service_name(service_name);
  fwd->set_command_name(command_name);
  *fwd->mutable_payload() = tck::pack(payload);
  return reply_action(id, action, e);
}

pve::ValueEntityStreamOut action_failure(int64_t id, const std::string& description) {
  pve::ValueEntityStreamOut out;
  out.mutable_reply()->set_command_id(id);
  auto* failure = out.mutable_reply()->mutable_client_action()->mutable_failure();
  failure->set_command_id(id);
  failure->set_description(description);
  return out;
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

TEST_CASE("valueentity.discovery") {
  auto services = tck::discovered_services();
  CHECK(contains(services, service));
  CHECK(contains(services, service_two));
  const auto* model = tck::discovered_entity(service);
  const auto* two = tck::discovered_entity(service_two);
  REQUIRE(model != nullptr);
  REQUIRE(two != nullptr);
  CHECK(model->entity_type() == protocol);
  CHECK(two->entity_type() == protocol);
  CHECK(model->persistence_id() == "value-entity-tck-model");
  CHECK(two->persistence_id() == "value-entity-tck-model-two");
}

TEST_CASE("valueentity.configured_entity") {
  CHECK(contains(tck::discovered_services(), service_configured));
  const auto* configured = tck::discovered_entity(service_configured);
  REQUIRE(configured != nullptr);
  CHECK(configured->entity_type() == protocol);
  CHECK(configured->persistence_id() == "value-entity-configured");
  cloudstate::EntityPassivationStrategy expected;
  expected.mutable_timeout()->set_timeout(100);
  REQUIRE(configured->has_passivation_strategy());
  tck::check_equal(configured->passivation_strategy(), expected);
}

TEST_CASE("valueentity.initial_empty_state") {
  const std::string id = "ve-initial-empty";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id)))
      .expect(reply(1, response()))
      .passivate();
}

TEST_CASE("valueentity.update_state") {
  const std::string id = "ve-update";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, update_states({"A"}))))
      .expect(reply(1, response("A"), update("A")))
      .send(command(2, id, "Process", request(id)))
      .expect(reply(2, response("A")))
      .passivate();
}

TEST_CASE("valueentity.delete_state") {
  const std::string id = "ve-delete";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, update_states({"A"}))))
      .expect(reply(1, response("A"), update("A")))
      .send(command(2, id, "Process", request(id, {delete_state()})))
      .expect(reply(2, response(), delete_action()))
      .send(command(3, id, "Process", request(id)))
      .expect(reply(3, response()))
      .passivate();
}

TEST_CASE("valueentity.multiple_update_states") {
  const std::string id = "ve-multiple-updates";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, update_states({"A", "B", "C"}))))
      .expect(reply(1, response("C"), update("C")))
      .send(command(2, id, "Process", request(id)))
      .expect(reply(2, response("C")))
      .passivate();
}

TEST_CASE("valueentity.multiple_update_states_and_delete") {
  const std::string id = "ve-updates-and-delete";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, update_states({"A", "B"}) + actions{delete_state()})))
      .expect(reply(1, response(), delete_action()))
      .send(command(2, id, "Process", request(id)))
      .expect(reply(2, response()))
      .passivate();
}

TEST_CASE("valueentity.update_delete_update") {
  const std::string id = "ve-update-delete-update";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, {update_state("A"), delete_state(), update_state("B")})))
      .expect(reply(1, response("B"), update("B")))
      .send(command(2, id, "Process", request(id)))
      .expect(reply(2, response("B")))
      .passivate();
}

TEST_CASE("valueentity.rehydration_after_passivation") {
  const std::string id = "ve-rehydration";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, update_states({"A"}))))
      .expect(reply(1, response("A"), update("A")))
      .send(command(2, id, "Process", request(id, update_states({"B"}))))
      .expect(reply(2, response("B"), update("B")))
      .send(command(3, id, "Process", request(id, update_states({"C"}))))
      .expect(reply(3, response("C"), update("C")))
      .send(command(4, id, "Process", request(id, update_states({"D"}))))
      .expect(reply(4, response("D"), update("D")))
      .passivate();
  connect()
      .send(init(service, id, persisted("D")))
      .send(command(1, id, "Process", request(id, update_states({"E"}))))
      .expect(reply(1, response("E"), update("E")))
      .send(command(2, id, "Process", request(id)))
      .expect(reply(2, response("E")))
      .passivate();
}

TEST_CASE("valueentity.multiple_side_effects") {
  const std::string id = "ve-multiple-side-effects";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, side_effects_to({"1", "2", "3"}))))
      .expect(reply(1, response(), side_effects({"1", "2", "3"})))
      .passivate();
}

TEST_CASE("valueentity.side_effect_to_second_service") {
  const std::string id = "ve-side-effect";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, update_states({"X"}))))
      .expect(reply(1, response("X"), update("X")))
      .send(command(2, id, "Process", request(id, {side_effect_to(id)})))
      .expect(reply(2, response("X"), side_effects({id})))
      .send(command(3, id, "Process", request(id)))
      .expect(reply(3, response("X")))
      .passivate();
}

TEST_CASE("valueentity.multiple_side_effects_and_state") {
  const std::string id = "ve-side-effects-and-state";
  auto acts = update_states({"A", "B", "C", "D", "E"}) + side_effects_to({"1", "2", "3"});
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, acts)))
      .expect(reply(1, response("E"), side_effects({"1", "2", "3"}).with_update("E")))
      .passivate();
}

TEST_CASE("valueentity.synchronous_side_effect") {
  const std::string id = "ve-synchronous-side-effect";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, {side_effect_to(id, true)})))
      .expect(reply(1, response(), synchronous_side_effects({id})))
      .passivate();
}

TEST_CASE("valueentity.forward_to_second_service") {
  const std::string id = "ve-forward";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, update_states({"X"}))))
      .expect(reply(1, response("X"), update("X")))
      .send(command(2, id, "Process", request(id, {forward_to(id)})))
      .expect(forward(2, service_two, "Call", request(id)))
      .send(command(3, id, "Process", request(id)))
      .expect(reply(3, response("X")))
      .passivate();
}

TEST_CASE("valueentity.forward_with_updated_state") {
  const std::string id = "ve-forward-with-state";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, {update_state("A"), forward_to(id)})))
      .expect(forward(1, service_two, "Call", request(id), update("A")))
      .passivate();
}

TEST_CASE("valueentity.forward_and_side_effect") {
  const std::string id = "ve-forward-and-side-effect";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, {side_effect_to(id), forward_to(id)})))
      .expect(forward(1, service_two, "Call", request(id), side_effects({id})))
      .passivate();
}

TEST_CASE("valueentity.failure_action") {
  const std::string id = "ve-failure";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, {fail_with("expected failure")})))
      .expect(action_failure(1, "expected failure"))
      .passivate();
}

TEST_CASE("valueentity.connection_after_failure_action") {
  const std::string id = "ve-after-failure";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, {update_state("A")})))
      .expect(reply(1, response("A"), update("A")))
      .send(command(2, id, "Process", request(id, {fail_with("expected failure")})))
      .expect(action_failure(2, "expected failure"))
      .send(command(3, id, "Process", request(id)))
      .expect(reply(3, response("A")))
      .passivate();
}

TEST_CASE("valueentity.failure_does_not_allow_side_effects") {
  const std::string id = "ve-failure-no-side-effects";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, {side_effect_to(id), fail_with("expected failure")})))
      .expect(action_failure(1, "expected failure"))
      .passivate();
}
