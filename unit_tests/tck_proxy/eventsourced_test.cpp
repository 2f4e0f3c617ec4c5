// Cloudstate TCK proxy scenarios of EventSourcedEntityTCK ("verify state changes", "... forwards and side effects",
// "... failures", "... HTTP API", "... passivation timeout"): EventSourcedTckModel, EventSourcedTwo and
// EventSourcedConfigured called through the proxy (gRPC, or HTTP/JSON on the same port), every message of the
// intercepted EventSourced/handle streams compared exactly.
#include <initializer_list>
#include <optional>

#include "cloudstate/event_sourced.pb.h"
#include "fixture.hpp"
#include "http_client.hpp"
#include "model_requests.hpp"

namespace {

namespace pes = cloudstate::eventsourced;
namespace m = cloudstate::tck::model;
using namespace tck::es_model;
using tck_proxy::connection;
using tck_proxy::fixture;
using tck_proxy::protocol;
using namespace std::chrono_literals;

const std::string service = "cloudstate.tck.model.EventSourcedTckModel";
const std::string service_two = "cloudstate.tck.model.EventSourcedTwo";
const std::string service_configured = "cloudstate.tck.model.EventSourcedConfigured";

pes::EventSourcedStreamIn init(const std::string& service_name, const std::string& entity_id,
                               std::optional<std::pair<int64_t, std::string>> snapshot = std::nullopt) {
  pes::EventSourcedStreamIn in;
  in.mutable_init()->set_service_name(service_name);
  in.mutable_init()->set_entity_id(entity_id);
  if (snapshot) {
    in.mutable_init()->mutable_snapshot()->set_snapshot_sequence(snapshot->first);
    *in.mutable_init()->mutable_snapshot()->mutable_snapshot() = persisted(snapshot->second);
  }
  return in;
}

pes::EventSourcedStreamIn event(int64_t sequence, const std::string& value) {
  pes::EventSourcedStreamIn in;
  in.mutable_event()->set_sequence(sequence);
  *in.mutable_event()->mutable_payload() = persisted(value);
  return in;
}

pes::EventSourcedStreamIn command(int64_t id, const std::string& entity_id, const std::string& name,
                                  const m::Request& payload) {
  pes::EventSourcedStreamIn in;
  *in.mutable_command() = tck_proxy::command(id, entity_id, name, payload);
  return in;
}

struct effects {
  std::vector<std::string> events;
  std::optional<std::string> snapshot;
  std::vector<cloudstate::SideEffect> side_effects;
};

pes::EventSourcedStreamOut reply_action(int64_t id, const cloudstate::ClientAction& action, const effects& e) {
  pes::EventSourcedStreamOut out;
  auto* reply = out.mutable_reply();
  reply->set_command_id(id);
  *reply->mutable_client_action() = action;
  for (const auto& se : e.side_effects)
    *reply->add_side_effects() = se;
  for (const auto& ev : e.events)
    *reply->add_events() = persisted(ev);
  if (e.snapshot)
    *reply->mutable_snapshot() = persisted(*e.snapshot);
  return out;
}

pes::EventSourcedStreamOut reply(int64_t id, const m::Response& payload, const effects& e = {}) {
  cloudstate::ClientAction action;
  *action.mutable_reply()->mutable_payload() = tck_proxy::pack(payload);
  return reply_action(id, action, e);
}

pes::EventSourcedStreamOut forward(int64_t id, const std::string& service_name, const std::string& command_name,
                                   const google::protobuf::Message& payload) {
  cloudstate::ClientAction action;
  auto* fwd = action.mutable_forward();
  fwd->set_service_name(service_name);
  fwd->set_command_name(command_name);
  *fwd->mutable_payload() = tck_proxy::pack(payload);
  return reply_action(id, action, {});
}

pes::EventSourcedStreamOut action_failure(int64_t id, const std::string& description, bool restart = false) {
  pes::EventSourcedStreamOut out;
  out.mutable_reply()->set_command_id(id);
  auto* failure = out.mutable_reply()->mutable_client_action()->mutable_failure();
  failure->set_command_id(id);
  failure->set_description(description);
  failure->set_restart(restart);
  return out;
}

cloudstate::SideEffect effect_to_two(const std::string& id, bool synchronous = false) {
  return tck_proxy::side_effect(service_two, "Call", request(id), synchronous);
}

struct result {
  grpc::Status status;
  m::Response response;
};

result process(const m::Request& req) {
  result r;
  r.status = fixture::get().event_sourced().Process(tck_proxy::client_context().get(), req, &r.response);
  return r;
}

// A successful call answering `expected`.
void check_process(const m::Request& req, const std::string& expected) {
  auto r = process(req);
  REQUIRE_MESSAGE(r.status.ok(), r.status.error_code() << " " << r.status.error_message());
  tck_proxy::check_equal(r.response, response(expected));
}

connection entity_connection(const std::string& service_name, const std::string& id) {
  return connection::entity(protocol::event_sourced, service_name, id);
}

}  // namespace

TEST_CASE("eventsourced.state_changes") {
  auto& f = fixture::scenario();
  INFO(f.diagnostics());
  const std::string id = "es-proxy-state-changes";
  check_process(request(id), "");
  auto conn = entity_connection(service, id);
  conn.expect_in(init(service, id)).expect_in(command(1, id, "Process", request(id))).expect_out(reply(1, response()));

  check_process(request(id, emit_events({"A"})), "A");
  conn.expect_in(command(2, id, "Process", request(id, emit_events({"A"}))))
      .expect_out(reply(2, response("A"), {{"A"}}));
  check_process(request(id, emit_events({"B", "C", "D"})), "ABCD");
  conn.expect_in(command(3, id, "Process", request(id, emit_events({"B", "C", "D"}))))
      .expect_out(reply(3, response("ABCD"), {{"B", "C", "D"}}));
  // The model snapshots every 5 events: at E, then at J.
  check_process(request(id, emit_events({"E"})), "ABCDE");
  conn.expect_in(command(4, id, "Process", request(id, emit_events({"E"}))))
      .expect_out(reply(4, response("ABCDE"), {{"E"}, "ABCDE"}));
  check_process(request(id, emit_events({"F", "G", "H", "I", "J"})), "ABCDEFGHIJ");
  conn.expect_in(command(5, id, "Process", request(id, emit_events({"F", "G", "H", "I", "J"}))))
      .expect_out(reply(5, response("ABCDEFGHIJ"), {{"F", "G", "H", "I", "J"}, "ABCDEFGHIJ"}));
  check_process(request(id, emit_events({"K"})), "ABCDEFGHIJK");
  conn.expect_in(command(6, id, "Process", request(id, emit_events({"K"}))))
      .expect_out(reply(6, response("ABCDEFGHIJK"), {{"K"}}));
  check_process(request(id), "ABCDEFGHIJK");
  conn.expect_in(command(7, id, "Process", request(id))).expect_out(reply(7, response("ABCDEFGHIJK")));

  // A failure after an emitted event: the model either asks for a restart (the proxy then re-creates the entity at
  // once from the latest snapshot and the later event) or rolls back locally and keeps the stream; L is never kept.
  auto failing = request(id, emit_events({"L"}) + actions{fail_with("restart please")});
  auto r = process(failing);
  tck_proxy::check_failure(r.status, "restart please");
  conn.expect_in(command(8, id, "Process", failing));
  auto out = conn.next_out();
  REQUIRE(out != nullptr);
  const auto& failure = dynamic_cast<const pes::EventSourcedStreamOut&>(*out);
  if (failure.reply().client_action().failure().restart()) {
    tck_proxy::check_equal(failure, action_failure(8, "restart please", true));
    conn.expect_closed();
    conn.expect_no_more();
    conn = entity_connection(service, id);
    conn.expect_in(init(service, id, std::pair<int64_t, std::string>{10, "ABCDEFGHIJ"})).expect_in(event(11, "K"));
  } else {
    tck_proxy::check_equal(failure, action_failure(8, "restart please"));
  }
  // Recovery after passivation (the proxy's default timeout is 4 s here): the new stream's init carries the latest
  // snapshot (at sequence 10), then the later event (11), and command ids start at 1 again.
  conn.expect_closed(10s);
  conn.expect_no_more();
  CHECK(conn.call()->status.ok());
  check_process(request(id), "ABCDEFGHIJK");
  auto recovered = entity_connection(service, id);
  recovered.expect_in(init(service, id, std::pair<int64_t, std::string>{10, "ABCDEFGHIJ"}))
      .expect_in(event(11, "K"))
      .expect_in(command(1, id, "Process", request(id)))
      .expect_out(reply(1, response("ABCDEFGHIJK")));
  recovered.expect_no_more();
  tck_proxy::check_no_more_interactions();
}

TEST_CASE("eventsourced.forwards_and_side_effects") {
  auto& f = fixture::scenario();
  INFO(f.diagnostics());
  const std::string id = "es-proxy-forwards";
  check_process(request(id, {forward_to(id)}), "");
  auto conn = entity_connection(service, id);
  conn.expect_in(init(service, id))
      .expect_in(command(1, id, "Process", request(id, {forward_to(id)})))
      .expect_out(forward(1, service_two, "Call", request(id)));
  auto two = entity_connection(service_two, id);
  two.expect_in(init(service_two, id)).expect_in(command(1, id, "Call", request(id))).expect_out(reply(1, response()));

  check_process(request(id, {side_effect_to(id)}), "");
  conn.expect_in(command(2, id, "Process", request(id, {side_effect_to(id)})))
      .expect_out(reply(2, response(), {{}, std::nullopt, {effect_to_two(id)}}));
  two.expect_in(command(2, id, "Call", request(id))).expect_out(reply(2, response()));

  check_process(request(id, {side_effect_to(id, true)}), "");
  conn.expect_in(command(3, id, "Process", request(id, {side_effect_to(id, true)})))
      .expect_out(reply(3, response(), {{}, std::nullopt, {effect_to_two(id, true)}}));
  two.expect_in(command(3, id, "Call", request(id))).expect_out(reply(3, response()));

  conn.expect_no_more();
  two.expect_no_more();
  tck_proxy::check_no_more_interactions();
}

TEST_CASE("eventsourced.failures") {
  auto& f = fixture::scenario();
  INFO(f.diagnostics());
  const std::string id = "es-proxy-failures";
  auto r = process(request(id, {fail_with("expected failure")}));
  tck_proxy::check_failure(r.status, "expected failure");
  auto conn = entity_connection(service, id);
  conn.expect_in(init(service, id))
      .expect_in(command(1, id, "Process", request(id, {fail_with("expected failure")})))
      .expect_out(action_failure(1, "expected failure"));

  // A plain failure keeps the stream.
  check_process(request(id, emit_events({"A", "B", "C"})), "ABC");
  conn.expect_in(command(2, id, "Process", request(id, emit_events({"A", "B", "C"}))))
      .expect_out(reply(2, response("ABC"), {{"A", "B", "C"}}));

  // Emit then fail: either branch of the model is accepted, but the events must not be retained.
  auto failing = request(id, emit_events({"D", "E"}) + actions{fail_with("another failure")});
  r = process(failing);
  tck_proxy::check_failure(r.status, "another failure");
  conn.expect_in(command(3, id, "Process", failing));
  auto out = conn.next_out();
  REQUIRE(out != nullptr);
  const auto& failure = dynamic_cast<const pes::EventSourcedStreamOut&>(*out);
  if (failure.reply().client_action().failure().restart()) {
    tck_proxy::check_equal(failure, action_failure(3, "another failure", true));
    conn.expect_closed();
    conn.expect_no_more();
    // The restart is immediate: the new stream and its replay come before any further command.
    auto restarted = entity_connection(service, id);
    restarted.expect_in(init(service, id)).expect_in(event(1, "A")).expect_in(event(2, "B")).expect_in(event(3, "C"));
    check_process(request(id), "ABC");
    restarted.expect_in(command(1, id, "Process", request(id))).expect_out(reply(1, response("ABC")));
    restarted.expect_no_more();
  } else {
    tck_proxy::check_equal(failure, action_failure(3, "another failure"));
    check_process(request(id), "ABC");
    conn.expect_in(command(4, id, "Process", request(id))).expect_out(reply(4, response("ABC")));
    conn.expect_no_more();
  }
  tck_proxy::check_no_more_interactions();
}

TEST_CASE("eventsourced.passivation") {
  auto& f = fixture::scenario();
  INFO(f.diagnostics());
  const std::string id = "es-proxy-passivation";
  m::Response resp;
  auto status = f.event_sourced_configured().Call(tck_proxy::client_context().get(), request(id), &resp);
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
  // The next command re-activates the entity on a new stream, ids from 1 again.
  status = f.event_sourced_configured().Call(tck_proxy::client_context().get(), request(id), &resp);
  REQUIRE_MESSAGE(status.ok(), status.error_code() << " " << status.error_message());
  auto again = entity_connection(service_configured, id);
  again.expect_in(init(service_configured, id))
      .expect_in(command(1, id, "Call", request(id)))
      .expect_out(reply(1, response()))
      .expect_closed(2s);
  tck_proxy::check_no_more_interactions();
}

TEST_CASE("eventsourced.http_api") {
  auto& f = fixture::scenario();
  INFO(f.diagnostics());
  const std::string id = "es-proxy-http";
  const std::string path = "tck/model/eventsourced/" + id;
  // The path's {id} fills Request.id, the JSON body (body: "*") the rest.
  tck_proxy::check_http_request(path, "{}", R"({"message":""})");
  auto conn = entity_connection(service, id);
  conn.expect_in(init(service, id)).expect_in(command(1, id, "Process", request(id))).expect_out(reply(1, response()));

  tck_proxy::check_http_request(path, R"({"actions": [{"emit": {"value": "x"}}]})", R"({"message":"x"})");
  conn.expect_in(command(2, id, "Process", request(id, emit_events({"x"}))))
      .expect_out(reply(2, response("x"), {{"x"}}));

  tck_proxy::check_http_error(path, R"({"actions": [{"fail": {"message": "expected failure"}}]})", "expected failure");
  conn.expect_in(command(3, id, "Process", request(id, {fail_with("expected failure")})))
      .expect_out(action_failure(3, "expected failure"));

  tck_proxy::check_http_request(path, R"({"actions": [{"emit": {"value": "y"}}]})", R"({"message":"xy"})");
  conn.expect_in(command(4, id, "Process", request(id, emit_events({"y"}))))
      .expect_out(reply(4, response("xy"), {{"y"}}));

  // Emit then fail: z is never kept. The branch is the failure's `restart` flag: Cloudstate's TCK expects a restart
  // (the proxy closes the stream and re-creates the entity at once from its journal); the C++ SDK rolls a user
  // failure back locally instead (restart = false, no events) and the stream goes on.
  auto failing = request(id, {emit_event("z"), fail_with("emit then fail")});
  tck_proxy::check_http_error(
      path, R"({"actions": [{"emit": {"value": "z"}}, {"fail": {"message": "emit then fail"}}]})", "emit then fail");
  conn.expect_in(command(5, id, "Process", failing));
  auto out = conn.next_out();
  REQUIRE(out != nullptr);
  const auto& failure = dynamic_cast<const pes::EventSourcedStreamOut&>(*out);
  if (failure.reply().client_action().failure().restart()) {
    tck_proxy::check_equal(failure, action_failure(5, "emit then fail", true));
    conn.expect_closed();
    conn.expect_no_more();
    auto restarted = entity_connection(service, id);
    restarted.expect_in(init(service, id)).expect_in(event(1, "x")).expect_in(event(2, "y"));
    tck_proxy::check_http_request(path, R"({"actions": [{"emit": {"value": "z"}}]})", R"({"message":"xyz"})");
    restarted.expect_in(command(1, id, "Process", request(id, emit_events({"z"}))))
        .expect_out(reply(1, response("xyz"), {{"z"}}));
    restarted.expect_no_more();
  } else {
    tck_proxy::check_equal(failure, action_failure(5, "emit then fail"));
    tck_proxy::check_http_request(path, R"({"actions": [{"emit": {"value": "z"}}]})", R"({"message":"xyz"})");
    conn.expect_in(command(6, id, "Process", request(id, emit_events({"z"}))))
        .expect_out(reply(6, response("xyz"), {{"z"}}));
    conn.expect_no_more();
  }

  // A method without a google.api.http rule has the implicit POST /<package.Service>/<Method> with body "*".
  tck_proxy::check_http_request("cloudstate.tck.model.EventSourcedTwo/Call", R"({"id": ")" + id + R"("})",
                                R"({"message":""})");
  auto two = entity_connection(service_two, id);
  two.expect_in(init(service_two, id)).expect_in(command(1, id, "Call", request(id))).expect_out(reply(1, response()));
  two.expect_no_more();
  tck_proxy::check_no_more_interactions();
}

// Not a TCK scenario: a retried idempotency key is answered by the proxy from the store; the user function sees the
// command once.
TEST_CASE("eventsourced.idempotency_key") {
  auto& f = fixture::scenario();
  INFO(f.diagnostics());
  const std::string id = "es-proxy-idempotency";
  auto keyed_process = [](const m::Request& req, const std::string& key) {
    result r;
    auto ctx = tck_proxy::client_context();
    ctx->AddMetadata("idempotency-key", key);
    r.status = fixture::get().event_sourced().Process(ctx.get(), req, &r.response);
    return r;
  };
  auto req = request(id, emit_events({"A"}));
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto r = keyed_process(req, "k1");
    REQUIRE_MESSAGE(r.status.ok(), r.status.error_code() << " " << r.status.error_message());
    tck_proxy::check_equal(r.response, response("A"));
  }
  auto conn = entity_connection(service, id);
  conn.expect_in(init(service, id))
      .expect_in(command(1, id, "Process", req))
      .expect_out(reply(1, response("A"), {{"A"}}));
  // Another key runs.
  auto r = keyed_process(req, "k2");
  REQUIRE(r.status.ok());
  tck_proxy::check_equal(r.response, response("AA"));
  conn.expect_in(command(2, id, "Process", req)).expect_out(reply(2, response("AA"), {{"A"}}));
  conn.expect_no_more();
  tck_proxy::check_no_more_interactions();
}
