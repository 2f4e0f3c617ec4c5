// Cloudstate TCK proxy scenarios of EntityTCK (value entities: "verify state changes", "... forwards and side
// effects", "... failures", "... HTTP API", "... passivation timeout"): ValueEntityTckModel, ValueEntityTwo and
// ValueEntityConfigured called through the proxy (gRPC, or HTTP/JSON on the same port), every message of the
// intercepted ValueEntity/handle streams compared exactly (init always carries `state`, without `value` while nothing
// is stored).
#include <optional>

#include "cloudstate/value_entity.pb.h"
#include "fixture.hpp"
#include "http_client.hpp"
#include "model_requests.hpp"

namespace {

namespace pve = cloudstate::valueentity;
namespace m = cloudstate::tck::model::valueentity;
using namespace tck::ve_model;
using tck_proxy::connection;
using tck_proxy::fixture;
using tck_proxy::protocol;
using namespace std::chrono_literals;

const std::string service = "cloudstate.tck.model.valueentity.ValueEntityTckModel";
const std::string service_two = "cloudstate.tck.model.valueentity.ValueEntityTwo";
const std::string service_configured = "cloudstate.tck.model.valueentity.ValueEntityConfigured";

pve::ValueEntityStreamIn init(const std::string& service_name, const std::string& entity_id,
                              const std::optional<std::string>& state = std::nullopt) {
  pve::ValueEntityStreamIn in;
  in.mutable_init()->set_service_name(service_name);
  in.mutable_init()->set_entity_id(entity_id);
  auto* init_state = in.mutable_init()->mutable_state();
  if (state)
    *init_state->mutable_value() = persisted(*state);
  return in;
}

pve::ValueEntityStreamIn command(int64_t id, const std::string& entity_id, const std::string& name,
                                 const m::Request& payload) {
  pve::ValueEntityStreamIn in;
  *in.mutable_command() = tck_proxy::command(id, entity_id, name, payload);
  return in;
}

// What a reply does to the state: nothing, update to a value, or delete.
struct state_change {
  enum { none, update, remove } kind = none;
  std::string value;
};
const state_change no_change{};
state_change updated(const std::string& value) {
  return {state_change::update, value};
}
const state_change deleted{state_change::remove, ""};

pve::ValueEntityStreamOut reply_action(int64_t id, const cloudstate::ClientAction& action, const state_change& change,
                                       const std::vector<cloudstate::SideEffect>& effects) {
  pve::ValueEntityStreamOut out;
  auto* reply = out.mutable_reply();
  reply->set_command_id(id);
  *reply->mutable_client_action() = action;
  for (const auto& se : effects)
    *reply->add_side_effects() = se;
  if (change.kind == state_change::update)
    *reply->mutable_state_action()->mutable_update()->mutable_value() = persisted(change.value);
  else if (change.kind == state_change::remove)
    reply->mutable_state_action()->mutable_delete_();
  return out;
}

pve::ValueEntityStreamOut reply(int64_t id, const m::Response& payload, const state_change& change = no_change,
                                const std::vector<cloudstate::SideEffect>& effects = {}) {
  cloudstate::ClientAction action;
  *action.mutable_reply()->mutable_payload() = tck_proxy::pack(payload);
  return reply_action(id, action, change, effects);
}

pve::ValueEntityStreamOut forward(int64_t id, const std::string& service_name, const std::string& command_name,
                                  const google::protobuf::Message& payload) {
  cloudstate::ClientAction action;
  auto* fwd = action.mutable_forward();
  fwd->set_service_name(service_name);
  fwd->set_command_name(command_name);
  *fwd->mutable_payload() = tck_proxy::pack(payload);
  return reply_action(id, action, no_change, {});
}

pve::ValueEntityStreamOut action_failure(int64_t id, const std::string& description) {
  pve::ValueEntityStreamOut out;
  out.mutable_reply()->set_command_id(id);
  auto* failure = out.mutable_reply()->mutable_client_action()->mutable_failure();
  failure->set_command_id(id);
  failure->set_description(description);
  return out;
}

cloudstate::SideEffect effect_to_two(const std::string& id, bool synchronous = false) {
  return tck_proxy::side_effect(service_two, "Call", request(id), synchronous);
}

grpc::Status process(const m::Request& req, m::Response& resp) {
  return fixture::get().value_entity().Process(tck_proxy::client_context().get(), req, &resp);
}

void check_process(const m::Request& req, const std::string& expected) {
  m::Response resp;
  auto status = process(req, resp);
  REQUIRE_MESSAGE(status.ok(), status.error_code() << " " << status.error_message());
  tck_proxy::check_equal(resp, response(expected));
}

connection entity_connection(const std::string& service_name, const std::string& id) {
  return connection::entity(protocol::value_entity, service_name, id);
}

}  // namespace

TEST_CASE("valueentity.state_changes") {
  auto& f = fixture::scenario();
  INFO(f.diagnostics());
  const std::string id = "ve-proxy-state-changes";
  check_process(request(id), "");
  auto conn = entity_connection(service, id);
  conn.expect_in(init(service, id)).expect_in(command(1, id, "Process", request(id))).expect_out(reply(1, response()));

  check_process(request(id, {update_state("one")}), "one");
  conn.expect_in(command(2, id, "Process", request(id, {update_state("one")})))
      .expect_out(reply(2, response("one"), updated("one")));
  check_process(request(id), "one");
  conn.expect_in(command(3, id, "Process", request(id))).expect_out(reply(3, response("one")));
  check_process(request(id, {delete_state()}), "");
  conn.expect_in(command(4, id, "Process", request(id, {delete_state()}))).expect_out(reply(4, response(), deleted));
  check_process(request(id), "");
  conn.expect_in(command(5, id, "Process", request(id))).expect_out(reply(5, response()));
  check_process(request(id, {update_state("two")}), "two");
  conn.expect_in(command(6, id, "Process", request(id, {update_state("two")})))
      .expect_out(reply(6, response("two"), updated("two")));
  check_process(request(id, {delete_state()}), "");
  conn.expect_in(command(7, id, "Process", request(id, {delete_state()}))).expect_out(reply(7, response(), deleted));
  conn.expect_no_more();
  tck_proxy::check_no_more_interactions();
}

TEST_CASE("valueentity.forwards_and_side_effects") {
  auto& f = fixture::scenario();
  INFO(f.diagnostics());
  const std::string id = "ve-proxy-forwards";
  check_process(request(id, {update_state("one")}), "one");
  auto conn = entity_connection(service, id);
  conn.expect_in(init(service, id))
      .expect_in(command(1, id, "Process", request(id, {update_state("one")})))
      .expect_out(reply(1, response("one"), updated("one")));

  check_process(request(id, {forward_to(id)}), "");
  conn.expect_in(command(2, id, "Process", request(id, {forward_to(id)})))
      .expect_out(forward(2, service_two, "Call", request(id)));
  auto two = entity_connection(service_two, id);
  two.expect_in(init(service_two, id)).expect_in(command(1, id, "Call", request(id))).expect_out(reply(1, response()));

  check_process(request(id, {side_effect_to(id)}), "one");
  conn.expect_in(command(3, id, "Process", request(id, {side_effect_to(id)})))
      .expect_out(reply(3, response("one"), no_change, {effect_to_two(id)}));
  two.expect_in(command(2, id, "Call", request(id))).expect_out(reply(2, response()));

  check_process(request(id, {side_effect_to(id, true)}), "one");
  conn.expect_in(command(4, id, "Process", request(id, {side_effect_to(id, true)})))
      .expect_out(reply(4, response("one"), no_change, {effect_to_two(id, true)}));
  two.expect_in(command(3, id, "Call", request(id))).expect_out(reply(3, response()));

  conn.expect_no_more();
  two.expect_no_more();
  tck_proxy::check_no_more_interactions();
}

TEST_CASE("valueentity.failures") {
  auto& f = fixture::scenario();
  INFO(f.diagnostics());
  const std::string id = "ve-proxy-failures";
  m::Response resp;
  tck_proxy::check_failure(process(request(id, {fail_with("expected failure")}), resp), "expected failure");
  auto conn = entity_connection(service, id);
  conn.expect_in(init(service, id))
      .expect_in(command(1, id, "Process", request(id, {fail_with("expected failure")})))
      .expect_out(action_failure(1, "expected failure"));

  // The stream stays; a failure after an update carries no state action, so nothing is stored.
  auto failing = request(id, {update_state("A"), fail_with("another failure")});
  tck_proxy::check_failure(process(failing, resp), "another failure");
  conn.expect_in(command(2, id, "Process", failing)).expect_out(action_failure(2, "another failure"));
  check_process(request(id), "");
  conn.expect_in(command(3, id, "Process", request(id))).expect_out(reply(3, response()));
  conn.expect_no_more();
  tck_proxy::check_no_more_interactions();
}

TEST_CASE("valueentity.passivation") {
  auto& f = fixture::scenario();
  INFO(f.diagnostics());
  const std::string id = "ve-proxy-passivation";
  m::Response resp;
  auto status = f.value_entity_configured().Call(tck_proxy::client_context().get(), request(id), &resp);
  REQUIRE_MESSAGE(status.ok(), status.error_code() << " " << status.error_message());
  tck_proxy::check_equal(resp, response());
  auto conn = entity_connection(service_configured, id);
  // Passivation after 100 ms (the entity's passivation_strategy): the proxy completes the stream within 2 s.
  conn.expect_in(init(service_configured, id))
      .expect_in(command(1, id, "Call", request(id)))
      .expect_out(reply(1, response()))
      .expect_closed(2s);
  conn.expect_no_more();
  CHECK_MESSAGE(conn.call()->status.ok(), "the stream ended with " << conn.call()->status.error_code() << " "
                                                                   << conn.call()->status.error_message()
                                                                   << " (a passivation half-closes it)");
  status = f.value_entity_configured().Call(tck_proxy::client_context().get(), request(id), &resp);
  REQUIRE_MESSAGE(status.ok(), status.error_code() << " " << status.error_message());
  auto again = entity_connection(service_configured, id);
  again.expect_in(init(service_configured, id))
      .expect_in(command(1, id, "Call", request(id)))
      .expect_out(reply(1, response()))
      .expect_closed(2s);
  tck_proxy::check_no_more_interactions();
}

TEST_CASE("valueentity.http_api") {
  auto& f = fixture::scenario();
  INFO(f.diagnostics());
  const std::string id = "ve-proxy-http";
  const std::string path = "tck/model/entity/" + id;
  // The path's {id} fills Request.id, the JSON body (body: "*") the rest.
  tck_proxy::check_http_request(path, "{}", R"({"message":""})");
  auto conn = entity_connection(service, id);
  conn.expect_in(init(service, id)).expect_in(command(1, id, "Process", request(id))).expect_out(reply(1, response()));

  tck_proxy::check_http_request(path, R"({"actions": [{"update": {"value": "one"}}]})", R"({"message":"one"})");
  conn.expect_in(command(2, id, "Process", request(id, {update_state("one")})))
      .expect_out(reply(2, response("one"), updated("one")));

  tck_proxy::check_http_error(path, R"({"actions": [{"fail": {"message": "expected failure"}}]})", "expected failure");
  conn.expect_in(command(3, id, "Process", request(id, {fail_with("expected failure")})))
      .expect_out(action_failure(3, "expected failure"));

  tck_proxy::check_http_request(path, R"({"actions": [{"update": {"value": "two"}}]})", R"({"message":"two"})");
  conn.expect_in(command(4, id, "Process", request(id, {update_state("two")})))
      .expect_out(reply(4, response("two"), updated("two")));

  tck_proxy::check_http_request(path, "{}", R"({"message":"two"})");
  conn.expect_in(command(5, id, "Process", request(id))).expect_out(reply(5, response("two")));
  conn.expect_no_more();

  // A method without a google.api.http rule has the implicit POST /<package.Service>/<Method> with body "*".
  tck_proxy::check_http_request("cloudstate.tck.model.valueentity.ValueEntityTwo/Call", R"({"id": ")" + id + R"("})",
                                R"({"message":""})");
  auto two = entity_connection(service_two, id);
  two.expect_in(init(service_two, id)).expect_in(command(1, id, "Call", request(id))).expect_out(reply(1, response()));
  two.expect_no_more();
  tck_proxy::check_no_more_interactions();
}

// Not a TCK scenario: a retried idempotency key is answered by the proxy from the store; the user function sees the
// command once, for an update and for a delete.
TEST_CASE("valueentity.idempotency_key") {
  auto& f = fixture::scenario();
  INFO(f.diagnostics());
  const std::string id = "ve-proxy-idempotency";
  auto keyed_process = [](const m::Request& req, const std::string& key, const std::string& expected) {
    m::Response resp;
    auto ctx = tck_proxy::client_context();
    ctx->AddMetadata("idempotency-key", key);
    auto status = fixture::get().value_entity().Process(ctx.get(), req, &resp);
    REQUIRE_MESSAGE(status.ok(), status.error_code() << " " << status.error_message());
    tck_proxy::check_equal(resp, response(expected));
  };
  auto update = request(id, {update_state("one")});
  keyed_process(update, "k1", "one");
  keyed_process(update, "k1", "one");
  auto conn = entity_connection(service, id);
  conn.expect_in(init(service, id))
      .expect_in(command(1, id, "Process", update))
      .expect_out(reply(1, response("one"), updated("one")));
  auto remove = request(id, {delete_state()});
  keyed_process(remove, "k2", "");
  keyed_process(remove, "k2", "");
  conn.expect_in(command(2, id, "Process", remove)).expect_out(reply(2, response(), deleted));
  check_process(request(id), "");
  conn.expect_in(command(3, id, "Process", request(id))).expect_out(reply(3, response()));
  conn.expect_no_more();
  tck_proxy::check_no_more_interactions();
}
