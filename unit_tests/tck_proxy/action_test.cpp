// Cloudstate TCK proxy scenarios of ActionTCK (verifyActionProxy): ActionTckModel called through the proxy, unary
// and with each kind of stream, and over HTTP/JSON (same port), and the intercepted ActionProtocol calls compared
// exactly, except for the command metadata, which the TCK strips (the proxy may pass request headers on). Streamed
// calls are checked per direction, as the TCK's probes do: the proxy's commands and its half-close, the user function's
// responses and its completion. Every client call carries the call deadline, so a proxy that never answers fails, not
// hangs.
#include "cloudstate/action.pb.h"
#include "fixture.hpp"
#include "http_client.hpp"
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

// A streamed-in or bidi call's first command names the method; each client message follows as a payload-only command.
pac::ActionCommand command(const std::string& service_name, const std::string& name) {
  pac::ActionCommand cmd;
  cmd.set_service_name(service_name);
  cmd.set_name(name);
  return cmd;
}

pac::ActionCommand command(const google::protobuf::Message& payload) {
  pac::ActionCommand cmd;
  *cmd.mutable_payload() = tck_proxy::pack(payload);
  return cmd;
}

pac::ActionResponse no_reply(const std::vector<cloudstate::SideEffect>& effects = {}) {
  pac::ActionResponse r;
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

// The next command the proxy sent on `conn`, compared without its metadata.
void expect_command(connection& conn, const pac::ActionCommand& expected) {
  if (auto in = conn.next_in()) {
    auto& actual = dynamic_cast<pac::ActionCommand&>(*in);
    actual.clear_metadata();
    tck_proxy::check_equal(actual, expected);
  }
}

// Claims the intercepted call of `service_name`/`name` and checks that the proxy chose `rpc` for it.
connection expect_call(const std::string& service_name, const std::string& name, const std::string& rpc) {
  auto conn = connection::action(service_name, name);
  if (conn.valid())
    CHECK_MESSAGE(conn.call()->method == rpc, service_name << "/" << name << " must be called with ActionProtocol/"
                                                           << rpc << ", not " << conn.call()->method);
  return conn;
}

// The next intercepted unary call of `service_name`/`name`: its command (metadata stripped) and its response.
void expect_unary(const std::string& service_name, const std::string& name, const pac::ActionCommand& cmd,
                  const pac::ActionResponse& expected) {
  auto conn = expect_call(service_name, name, "handleUnary");
  expect_command(conn, cmd);
  conn.expect_out(expected);
  conn.expect_closed();
  if (conn.valid())
    CHECK(conn.call()->status.ok());
  conn.expect_no_more();
}

void check_ok(const grpc::Status& status) {
  CHECK_MESSAGE(status.ok(), status.error_code() << " " << status.error_message());
}

// The next response of a client stream (a ClientReader or ClientReaderWriter; bounded by the call's deadline).
template <class Stream>
void expect_next(Stream& stream, const m::Response& expected) {
  m::Response actual;
  if (stream.Read(&actual))
    tck_proxy::check_equal(actual, expected);
  else
    CHECK_MESSAGE(false, "the responses ended before " << expected.ShortDebugString());
}

// The client stream's responses end here.
template <class Stream>
void expect_end(Stream& stream) {
  m::Response extra;
  CHECK_MESSAGE(!stream.Read(&extra), "unexpected response " << extra.ShortDebugString());
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

TEST_CASE("action.streamed_in") {
  auto& f = fixture::scenario();
  INFO(f.diagnostics());
  auto ctx = tck_proxy::client_context();
  m::Response resp;
  auto requests = f.action().ProcessStreamedIn(ctx.get(), &resp);
  CHECK(requests->Write(single({reply_with("two")})));
  CHECK(requests->WritesDone());
  check_ok(requests->Finish());
  tck_proxy::check_equal(resp, response("two"));

  auto conn = expect_call(service, "ProcessStreamedIn", "handleStreamedIn");
  expect_command(conn, command(service, "ProcessStreamedIn"));
  expect_command(conn, command(single({reply_with("two")})));
  conn.expect_in_complete();
  conn.expect_out(reply(response("two")));
  conn.expect_out_complete();
  conn.expect_no_more();
  tck_proxy::check_no_more_interactions();
}

TEST_CASE("action.streamed_out") {
  auto& f = fixture::scenario();
  INFO(f.diagnostics());
  auto req = request({group({reply_with("A")}), group({reply_with("B")}), group({reply_with("C")})});
  auto ctx = tck_proxy::client_context();
  auto responses = f.action().ProcessStreamedOut(ctx.get(), req);
  for (const char* message : {"A", "B", "C"})
    expect_next(*responses, response(message));
  expect_end(*responses);
  check_ok(responses->Finish());

  auto conn = expect_call(service, "ProcessStreamedOut", "handleStreamedOut");
  expect_command(conn, command(service, "ProcessStreamedOut", req));
  for (const char* message : {"A", "B", "C"})
    conn.expect_out(reply(response(message)));
  conn.expect_out_complete();
  conn.expect_no_more();
  tck_proxy::check_no_more_interactions();
}

// The client waits for each response before sending the next request (the TCK sends all three first), so a proxy
// that held responses back until the client completes fails here.
TEST_CASE("action.streamed") {
  auto& f = fixture::scenario();
  INFO(f.diagnostics());
  auto ctx = tck_proxy::client_context();
  auto stream = f.action().ProcessStreamed(ctx.get());
  for (const char* message : {"X", "Y", "Z"}) {
    CHECK(stream->Write(single({reply_with(message)})));
    expect_next(*stream, response(message));
  }
  CHECK(stream->WritesDone());
  expect_end(*stream);
  check_ok(stream->Finish());

  auto conn = expect_call(service, "ProcessStreamed", "handleStreamed");
  expect_command(conn, command(service, "ProcessStreamed"));
  for (const char* message : {"X", "Y", "Z"}) {
    expect_command(conn, command(single({reply_with(message)})));
    conn.expect_out(reply(response(message)));
  }
  conn.expect_complete();
  conn.expect_no_more();
  tck_proxy::check_no_more_interactions();
}

TEST_CASE("action.streamed_forwards_and_side_effects") {
  auto& f = fixture::scenario();
  INFO(f.diagnostics());
  auto ctx = tck_proxy::client_context();
  auto stream = f.action().ProcessStreamed(ctx.get());

  CHECK(stream->Write(single({forward_to("one")})));
  expect_next(*stream, response());
  auto conn = expect_call(service, "ProcessStreamed", "handleStreamed");
  expect_command(conn, command(service, "ProcessStreamed"));
  expect_command(conn, command(single({forward_to("one")})));
  conn.expect_out(forwarded("one"));
  expect_unary(service_two, "Call", command(service_two, "Call", other_request("one")), reply(response()));

  // No reply: nothing for the client, but the side effect still reaches ActionTwo.
  CHECK(stream->Write(single({side_effect_to("two")})));
  expect_command(conn, command(single({side_effect_to("two")})));
  conn.expect_out(no_reply({effect_to_two("two")}));
  expect_unary(service_two, "Call", command(service_two, "Call", other_request("two")), reply(response()));

  CHECK(stream->WritesDone());
  expect_end(*stream);
  check_ok(stream->Finish());
  conn.expect_complete();
  conn.expect_no_more();
  tck_proxy::check_no_more_interactions();
}

TEST_CASE("action.streamed_failures") {
  auto& f = fixture::scenario();
  INFO(f.diagnostics());
  auto ctx = tck_proxy::client_context();
  auto stream = f.action().ProcessStreamed(ctx.get());
  // As in the TCK, the user function's stream is open before the client sent anything.
  auto conn = expect_call(service, "ProcessStreamed", "handleStreamed");
  expect_command(conn, command(service, "ProcessStreamed"));

  CHECK(stream->Write(single({fail_with("expected failure")})));
  expect_end(*stream);
  // The call failed while the client's requests were still open (the TCK's requests.expectCancellation()): a late
  // request must reach nobody. Whether this write reports that depends on timing, so only the record is checked.
  static_cast<void>(stream->Write(single({reply_with("too late")})));
  tck_proxy::check_failure(stream->Finish(), "expected failure");

  expect_command(conn, command(single({fail_with("expected failure")})));
  conn.expect_out(failure("expected failure"));
  // The failure ends the user function's stream too (the proxy cancels it): nothing is left open.
  conn.expect_closed();
  conn.expect_no_more();
  tck_proxy::check_no_more_interactions();
}

TEST_CASE("action.http_api") {
  auto& f = fixture::scenario();
  INFO(f.diagnostics());
  tck_proxy::check_http_request("tck/model/action/unary", R"({"groups": [{"steps": [{"reply": {"message": "foo"}}]}]})",
                                R"({"message":"foo"})");
  expect_unary(service, "ProcessUnary", command(service, "ProcessUnary", single({reply_with("foo")})),
               reply(response("foo")));

  tck_proxy::check_http_error("tck/model/action/unary", R"({"groups": [{"steps": [{"fail": {"message": "boom"}}]}]})",
                              "boom");
  expect_unary(service, "ProcessUnary", command(service, "ProcessUnary", single({fail_with("boom")})), failure("boom"));

  // A method without a google.api.http rule has the implicit POST /<package.Service>/<Method> with body "*".
  tck_proxy::check_http_request("cloudstate.tck.model.action.ActionTwo/Call", R"({"id": "http"})", R"({"message":""})");
  expect_unary(service_two, "Call", command(service_two, "Call", other_request("http")), reply(response()));
  tck_proxy::check_no_more_interactions();
}
