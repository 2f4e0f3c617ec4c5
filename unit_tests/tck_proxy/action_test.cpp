// Cloudstate TCK proxy scenarios of ActionTCK for unary calls ("verify unary command processing", "... unary
// forwards and side effects", "... unary failures"): ActionTckModel.ProcessUnary called through the proxy and the
// intercepted ActionProtocol/handleUnary calls compared exactly, except for the command metadata, which the TCK
// strips (the proxy may pass request headers on). Streamed actions are not served by the proxy yet.
#include "cloudstate/action.pb.h"
#include "fixture.hpp"
#include "model_requests.hpp"

namespace {

namespace pac = cloudstate::action;
namespace m = cloudstate::tck::model::action;
using namespace tck::action_model;
using tck_proxy::connection;
using tck_proxy::fixture;

const std::string service = "cloudstate.tck.model.action.ActionTckModel";
const std::string service_two = "cloudstate.tck.model.action.ActionTwo";

pac::ActionCommand command(const std::string& service_name, const std::string& name,
                           const google::protobuf::Message& payload) {
  pac::ActionCommand cmd;
  cmd.set_service_name(service_name);
  cmd.set_name(name);
  *cmd.mutable_payload() = tck_proxy::pack(payload);
  return cmd;
}

pac::ActionResponse reply(const m::Response& payload, const std::vector<cloudstate::SideEffect>& effects = {}) {
  pac::ActionResponse r;
  *r.mutable_reply()->mutable_payload() = tck_proxy::pack(payload);
  for (const auto& e : effects)
    *r.add_side_effects() = e;
  return r;
}

pac::ActionResponse forwarded(const std::string& id) {
  pac::ActionResponse r;
  auto* fwd = r.mutable_forward();
  fwd->set_service_name(service_two);
  fwd->set_command_name("Call");
  *fwd->mutable_payload() = tck_proxy::pack(other_request(id));
  return r;
}

pac::ActionResponse failure(const std::string& description) {
  pac::ActionResponse r;
  r.mutable_failure()->set_description(description);
  return r;
}

cloudstate::SideEffect effect_to_two(const std::string& id, bool synchronous = false) {
  return tck_proxy::side_effect(service_two, "Call", other_request(id), synchronous);
}

grpc::Status process_unary(const m::Request& req, m::Response& resp) {
  return fixture::get().action().ProcessUnary(tck_proxy::client_context().get(), req, &resp);
}

void check_process_unary(const m::Request& req, const std::string& expected) {
  m::Response resp;
  auto status = process_unary(req, resp);
  REQUIRE_MESSAGE(status.ok(), status.error_code() << " " << status.error_message());
  tck_proxy::check_equal(resp, response(expected));
}

// The next intercepted unary call of `service_name`/`name`: its command (metadata stripped) and its response.
void expect_unary(const std::string& service_name, const std::string& name, const pac::ActionCommand& cmd,
                  const pac::ActionResponse& expected) {
  auto conn = connection::action(service_name, name);
  if (conn.valid())
    CHECK_MESSAGE(conn.call()->method == "handleUnary",
                  "a unary method must be called with ActionProtocol/handleUnary");
  if (auto in = conn.next_in()) {
    auto& actual = dynamic_cast<pac::ActionCommand&>(*in);
    actual.clear_metadata();
    tck_proxy::check_equal(actual, cmd);
  }
  conn.expect_out(expected);
  conn.expect_closed();
  if (conn.valid())
    CHECK(conn.call()->status.ok());
  conn.expect_no_more();
}

}  // namespace

TEST_CASE("action.unary") {
  auto& f = fixture::scenario();
  INFO(f.diagnostics());
  check_process_unary(single({reply_with("one")}), "one");
  expect_unary(service, "ProcessUnary", command(service, "ProcessUnary", single({reply_with("one")})),
               reply(response("one")));
  tck_proxy::check_no_more_interactions();
}

TEST_CASE("action.unary_forwards_and_side_effects") {
  auto& f = fixture::scenario();
  INFO(f.diagnostics());
  check_process_unary(single({forward_to("other")}), "");
  expect_unary(service, "ProcessUnary", command(service, "ProcessUnary", single({forward_to("other")})),
               forwarded("other"));
  expect_unary(service_two, "Call", command(service_two, "Call", other_request("other")), reply(response()));

  check_process_unary(single({reply_with(""), side_effect_to("another")}), "");
  expect_unary(service, "ProcessUnary",
               command(service, "ProcessUnary", single({reply_with(""), side_effect_to("another")})),
               reply(response(), {effect_to_two("another")}));
  expect_unary(service_two, "Call", command(service_two, "Call", other_request("another")), reply(response()));

  check_process_unary(single({reply_with("sync"), side_effect_to("third", true)}), "sync");
  expect_unary(service, "ProcessUnary",
               command(service, "ProcessUnary", single({reply_with("sync"), side_effect_to("third", true)})),
               reply(response("sync"), {effect_to_two("third", true)}));
  expect_unary(service_two, "Call", command(service_two, "Call", other_request("third")), reply(response()));
  tck_proxy::check_no_more_interactions();
}

TEST_CASE("action.unary_failures") {
  auto& f = fixture::scenario();
  INFO(f.diagnostics());
  m::Response resp;
  tck_proxy::check_failure(process_unary(single({fail_with("expected failure")}), resp), "expected failure");
  expect_unary(service, "ProcessUnary", command(service, "ProcessUnary", single({fail_with("expected failure")})),
               failure("expected failure"));
  tck_proxy::check_no_more_interactions();
}
