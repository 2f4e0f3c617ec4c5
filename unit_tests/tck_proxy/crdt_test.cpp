// Cloudstate TCK proxy scenarios of CrdtEntityTCK (verifyCrdtEntityProxy: "verify state changes", "... forwards and
// side effects", "... failures", "... streamed responses for connection tracking", "... HTTP API", "... passivation
// timeout"): CrdtTckModel, CrdtTwo and CrdtConfigured called through the proxy (gRPC, or HTTP/JSON on the same port),
// every message of the intercepted Crdt/handle streams compared exactly. The CRDT type is the entity id's prefix up
// to the first '-', as in the TCK model; sets hold Cloudstate primitive strings ("p.cloudstate.io/string").
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <google/protobuf/wrappers.pb.h>

#include "cloudstate/crdt.pb.h"
#include "fixture.hpp"
#include "http_client.hpp"

namespace {

namespace pb = cloudstate::crdt;
namespace cr = cloudstate::tck::model::crdt;
using tck_proxy::connection;
using tck_proxy::fixture;
using tck_proxy::protocol;
using namespace std::chrono_literals;

const std::string service = "cloudstate.tck.model.crdt.CrdtTckModel";
const std::string service_two = "cloudstate.tck.model.crdt.CrdtTwo";
const std::string service_configured = "cloudstate.tck.model.crdt.CrdtConfigured";

// --- what the proxy sends --------------------------------------------------------------------------------------------

pb::CrdtStreamIn init(const std::string& service_name, const std::string& entity_id) {
  pb::CrdtStreamIn in;
  in.mutable_init()->set_service_name(service_name);
  in.mutable_init()->set_entity_id(entity_id);
  return in;
}

pb::CrdtStreamIn command(int64_t id, const std::string& entity_id, const std::string& name,
                         const google::protobuf::Message& payload, bool streamed = false) {
  pb::CrdtStreamIn in;
  *in.mutable_command() = tck_proxy::command(id, entity_id, name, payload);
  if (streamed)
    in.mutable_command()->set_streamed(true);
  return in;
}

pb::CrdtStreamIn stream_cancelled(int64_t id, const std::string& entity_id) {
  pb::CrdtStreamIn in;
  in.mutable_stream_cancelled()->set_entity_id(entity_id);
  in.mutable_stream_cancelled()->set_id(id);
  return in;
}

// --- requests --------------------------------------------------------------------------------------------------------

cr::RequestAction update(cr::Update u) {
  cr::RequestAction a;
  *a.mutable_update() = std::move(u);
  return a;
}
cr::Update pn_change(int64_t n) {
  cr::Update u;
  u.mutable_pncounter()->set_change(n);
  return u;
}
cr::Update gc_increment(uint64_t n) {
  cr::Update u;
  u.mutable_gcounter()->set_increment(n);
  return u;
}
cr::Update gset_add(const std::string& element) {
  cr::Update u;
  u.mutable_gset()->set_add(element);
  return u;
}
cr::Update vote_self(bool v) {
  cr::Update u;
  u.mutable_vote()->set_self_vote(v);
  return u;
}
cr::RequestAction delete_action() {
  cr::RequestAction a;
  a.mutable_delete_();
  return a;
}
cr::RequestAction forward_to(const std::string& id) {
  cr::RequestAction a;
  a.mutable_forward()->set_id(id);
  return a;
}
cr::RequestAction side_effect_to(const std::string& id, bool synchronous = false) {
  cr::RequestAction a;
  a.mutable_effect()->set_id(id);
  a.mutable_effect()->set_synchronous(synchronous);
  return a;
}
cr::RequestAction fail_with(const std::string& message) {
  cr::RequestAction a;
  a.mutable_fail()->set_message(message);
  return a;
}

cr::Request request(const std::string& id, const std::vector<cr::RequestAction>& actions = {}) {
  cr::Request r;
  r.set_id(id);
  for (const auto& a : actions)
    *r.add_actions() = a;
  return r;
}
// PNCounter.changeBy(...): one update action per change.
std::vector<cr::RequestAction> change_by(std::initializer_list<int64_t> changes) {
  std::vector<cr::RequestAction> actions;
  for (auto c : changes)
    actions.push_back(update(pn_change(c)));
  return actions;
}

// --- states and what the user function answers -----------------------------------------------------------------------

cr::State pn_state(int64_t v) {
  cr::State s;
  s.mutable_pncounter()->set_value(v);
  return s;
}
cr::State gc_state(uint64_t v) {
  cr::State s;
  s.mutable_gcounter()->set_value(v);
  return s;
}
cr::State gset_state(const std::vector<std::string>& elements) {
  cr::State s;
  s.mutable_gset();
  for (const auto& e : elements)
    s.mutable_gset()->add_elements(e);
  return s;
}
cr::State vote_state(bool self, int32_t votes_for, int32_t total) {
  cr::State s;
  s.mutable_vote()->set_self_vote(self);
  s.mutable_vote()->set_votes_for(votes_for);
  s.mutable_vote()->set_total_voters(total);
  return s;
}
cr::Response response(const std::optional<cr::State>& state = std::nullopt) {
  cr::Response r;
  if (state)
    *r.mutable_state() = *state;
  return r;
}

// A Cloudstate primitive string, as sets and registers hold them.
google::protobuf::Any primitive_string(const std::string& s) {
  google::protobuf::StringValue v;
  v.set_value(s);
  google::protobuf::Any any;
  any.set_type_url("p.cloudstate.io/string");
  any.set_value(v.SerializeAsString());
  return any;
}

pb::CrdtDelta pn_delta(int64_t n) {
  pb::CrdtDelta d;
  d.mutable_pncounter()->set_change(n);
  return d;
}
pb::CrdtDelta gc_delta(uint64_t n) {
  pb::CrdtDelta d;
  d.mutable_gcounter()->set_increment(n);
  return d;
}
pb::CrdtDelta gset_delta(const std::string& added) {
  pb::CrdtDelta d;
  *d.mutable_gset()->add_added() = primitive_string(added);
  return d;
}
pb::CrdtDelta vote_delta(bool self) {
  pb::CrdtDelta d;
  d.mutable_vote()->set_self_vote(self);
  return d;
}

// The TCK's Effects: a state action (an update or delete), side effects, and whether the reply opens a stream.
struct effects {
  std::optional<pb::CrdtDelta> update;
  bool remove = false;
  std::vector<cloudstate::SideEffect> side_effects;
  bool streamed = false;
};
const effects no_effects{};
effects updated(pb::CrdtDelta d) {
  return {std::move(d), false, {}, false};
}
const effects deleted{std::nullopt, true, {}, false};

pb::CrdtStreamOut crdt_reply(int64_t id, const std::optional<cloudstate::ClientAction>& action, const effects& e) {
  pb::CrdtStreamOut out;
  auto* r = out.mutable_reply();
  r->set_command_id(id);
  if (action)
    *r->mutable_client_action() = *action;
  for (const auto& se : e.side_effects)
    *r->add_side_effects() = se;
  if (e.update)
    *r->mutable_state_action()->mutable_update() = *e.update;
  else if (e.remove)
    r->mutable_state_action()->mutable_delete_();
  if (e.streamed)
    r->set_streamed(true);
  return out;
}

cloudstate::ClientAction reply_action(const cr::Response& payload) {
  cloudstate::ClientAction action;
  *action.mutable_reply()->mutable_payload() = tck_proxy::pack(payload);
  return action;
}

pb::CrdtStreamOut reply(int64_t id, const cr::Response& payload, const effects& e = no_effects) {
  return crdt_reply(id, reply_action(payload), e);
}

pb::CrdtStreamOut forward(int64_t id, const std::string& service_name, const std::string& command_name,
                          const google::protobuf::Message& payload) {
  cloudstate::ClientAction action;
  auto* fwd = action.mutable_forward();
  fwd->set_service_name(service_name);
  fwd->set_command_name(command_name);
  *fwd->mutable_payload() = tck_proxy::pack(payload);
  return crdt_reply(id, action, no_effects);
}

pb::CrdtStreamOut failure(int64_t id, const std::string& description) {
  cloudstate::ClientAction action;
  action.mutable_failure()->set_command_id(id);
  action.mutable_failure()->set_description(description);
  return crdt_reply(id, action, no_effects);
}

pb::CrdtStreamOut streamed(int64_t id, const cr::Response& payload) {
  pb::CrdtStreamOut out;
  out.mutable_streamed_message()->set_command_id(id);
  *out.mutable_streamed_message()->mutable_client_action() = reply_action(payload);
  return out;
}

pb::CrdtStreamOut stream_cancelled_response(int64_t id, const std::optional<pb::CrdtDelta>& update = std::nullopt) {
  pb::CrdtStreamOut out;
  out.mutable_stream_cancelled_response()->set_command_id(id);
  if (update)
    *out.mutable_stream_cancelled_response()->mutable_state_action()->mutable_update() = *update;
  return out;
}

cloudstate::SideEffect effect_to_two(const std::string& id, bool synchronous = false) {
  return tck_proxy::side_effect(service_two, "Call", request(id), synchronous);
}

// --- client calls ----------------------------------------------------------------------------------------------------

grpc::Status process(const cr::Request& req, cr::Response& resp) {
  return fixture::get().crdt().Process(tck_proxy::client_context().get(), req, &resp);
}

void check_process(const cr::Request& req, const cr::Response& expected) {
  cr::Response resp;
  auto status = process(req, resp);
  REQUIRE_MESSAGE(status.ok(), status.error_code() << " " << status.error_message());
  tck_proxy::check_equal(resp, expected);
}

void check_call_two(const cr::Request& req) {
  cr::Response resp;
  auto status = fixture::get().crdt_two().Call(tck_proxy::client_context().get(), req, &resp);
  REQUIRE_MESSAGE(status.ok(), status.error_code() << " " << status.error_message());
  tck_proxy::check_equal(resp, response());
}

connection entity_connection(const std::string& service_name, const std::string& id) {
  return connection::entity(protocol::crdt, service_name, id);
}

// A ProcessStreamed call read on its own thread, so that the test waits for its elements (bounded) and cancels it
// as the TCK's TestSink probe does.
class streamed_call {
public:
  explicit streamed_call(const cr::StreamedRequest& req) : ctx_{tck_proxy::client_context()} {
    reader_ = fixture::get().crdt().ProcessStreamed(ctx_.get(), req);
    reading_ = std::thread{[this] {
      cr::Response r;
      while (reader_->Read(&r)) {
        std::lock_guard lock{mutex_};
        received_.push_back(r);
        changed_.notify_all();
      }
      auto status = reader_->Finish();
      std::lock_guard lock{mutex_};
      status_ = status;
      done_ = true;
      changed_.notify_all();
    }};
  }
  ~streamed_call() {
    ctx_->TryCancel();
    reading_.join();
  }
  streamed_call(const streamed_call&) = delete;
  streamed_call& operator=(const streamed_call&) = delete;

  // expectNext: the next element, within message_timeout.
  void expect_next(const cr::Response& expected) {
    std::unique_lock lock{mutex_};
    bool got = changed_.wait_for(lock, tck_proxy::message_timeout, [&] { return !received_.empty() || done_; });
    if (!got || received_.empty()) {
      CHECK_MESSAGE(false, "no streamed element came" << (done_ ? " (the call ended: " + status_.error_message() + ")"
                                                                : std::string{" in time"}));
      return;
    }
    auto next = std::move(received_.front());
    received_.pop_front();
    lock.unlock();
    tck_proxy::check_equal(next, expected);
  }

  // expectNoMessage(for): no element (and no end) within `timeout`.
  void expect_no_message(std::chrono::milliseconds timeout) {
    std::unique_lock lock{mutex_};
    bool came = changed_.wait_for(lock, timeout, [&] { return !received_.empty() || done_; });
    CHECK_MESSAGE(!came, "the streamed call sent an element or ended");
  }

  void cancel() { ctx_->TryCancel(); }

private:
  std::unique_ptr<grpc::ClientContext> ctx_;
  std::unique_ptr<grpc::ClientReader<cr::Response>> reader_;
  std::thread reading_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<cr::Response> received_;
  bool done_ = false;
  grpc::Status status_;
};

}  // namespace

TEST_CASE("crdt.state_changes") {
  auto& f = fixture::scenario();
  INFO(f.diagnostics());
  const std::string id = "PNCounter-proxy-state-changes";
  check_process(request(id), response(pn_state(0)));
  auto conn = entity_connection(service, id);
  conn.expect_in(init(service, id))
      .expect_in(command(1, id, "Process", request(id)))
      .expect_out(reply(1, response(pn_state(0))));

  check_process(request(id, change_by({+1, -2, +3})), response(pn_state(+2)));
  conn.expect_in(command(2, id, "Process", request(id, change_by({+1, -2, +3}))))
      .expect_out(reply(2, response(pn_state(+2)), updated(pn_delta(+2))));

  check_process(request(id, change_by({+4, -5, +6})), response(pn_state(+7)));
  conn.expect_in(command(3, id, "Process", request(id, change_by({+4, -5, +6}))))
      .expect_out(reply(3, response(pn_state(+7)), updated(pn_delta(+5))));

  check_process(request(id, {delete_action()}), response(pn_state(+7)));
  conn.expect_in(command(4, id, "Process", request(id, {delete_action()})))
      .expect_out(reply(4, response(pn_state(+7)), deleted))
      .expect_closed();
  conn.expect_no_more();
  tck_proxy::check_no_more_interactions();
}

TEST_CASE("crdt.forwards_and_side_effects") {
  auto& f = fixture::scenario();
  INFO(f.diagnostics());
  const std::string id = "GSet-proxy-forwards";
  check_process(request(id, {update(gset_add("one"))}), response(gset_state({"one"})));
  auto conn = entity_connection(service, id);
  conn.expect_in(init(service, id))
      .expect_in(command(1, id, "Process", request(id, {update(gset_add("one"))})))
      .expect_out(reply(1, response(gset_state({"one"})), updated(gset_delta("one"))));

  check_process(request(id, {forward_to(id)}), response());
  conn.expect_in(command(2, id, "Process", request(id, {forward_to(id)})))
      .expect_out(forward(2, service_two, "Call", request(id)));
  auto two = entity_connection(service_two, id);
  two.expect_in(init(service_two, id)).expect_in(command(1, id, "Call", request(id))).expect_out(reply(1, response()));

  check_process(request(id, {side_effect_to(id)}), response(gset_state({"one"})));
  effects with_effect;
  with_effect.side_effects = {effect_to_two(id)};
  conn.expect_in(command(3, id, "Process", request(id, {side_effect_to(id)})))
      .expect_out(reply(3, response(gset_state({"one"})), with_effect));
  two.expect_in(command(2, id, "Call", request(id))).expect_out(reply(2, response()));

  check_process(request(id, {delete_action()}), response(gset_state({"one"})));
  conn.expect_in(command(4, id, "Process", request(id, {delete_action()})))
      .expect_out(reply(4, response(gset_state({"one"})), deleted))
      .expect_closed();

  check_call_two(request(id, {delete_action()}));
  two.expect_in(command(3, id, "Call", request(id, {delete_action()})))
      .expect_out(reply(3, response(), deleted))
      .expect_closed();
  conn.expect_no_more();
  two.expect_no_more();
  tck_proxy::check_no_more_interactions();
}

TEST_CASE("crdt.failures") {
  auto& f = fixture::scenario();
  INFO(f.diagnostics());
  const std::string id = "GCounter-proxy-failures";
  check_process(request(id, {update(gc_increment(42))}), response(gc_state(42)));
  auto conn = entity_connection(service, id);
  conn.expect_in(init(service, id))
      .expect_in(command(1, id, "Process", request(id, {update(gc_increment(42))})))
      .expect_out(reply(1, response(gc_state(42)), updated(gc_delta(42))));

  cr::Response resp;
  tck_proxy::check_failure(process(request(id, {fail_with("expected failure")}), resp), "expected failure");
  conn.expect_in(command(2, id, "Process", request(id, {fail_with("expected failure")})))
      .expect_out(failure(2, "expected failure"));

  check_process(request(id, {delete_action()}), response(gc_state(42)));
  conn.expect_in(command(3, id, "Process", request(id, {delete_action()})))
      .expect_out(reply(3, response(gc_state(42)), deleted))
      .expect_closed();
  conn.expect_no_more();
  tck_proxy::check_no_more_interactions();
}

TEST_CASE("crdt.streamed_responses_for_connection_tracking") {
  auto& f = fixture::scenario();
  INFO(f.diagnostics());
  const std::string id = "Vote-proxy-connection-tracking";
  const auto state0 = vote_state(false, 0, 1);
  const auto state1 = vote_state(true, 1, 1);

  cr::StreamedRequest monitor_request;
  monitor_request.set_id(id);
  streamed_call monitor{monitor_request};
  monitor.expect_next(response(state0));
  auto conn = entity_connection(service, id);
  effects streamed_reply;
  streamed_reply.streamed = true;
  conn.expect_in(init(service, id))
      .expect_in(command(1, id, "ProcessStreamed", monitor_request, true))
      .expect_out(reply(1, response(state0), streamed_reply));

  cr::StreamedRequest connect_request;
  connect_request.set_id(id);
  *connect_request.mutable_initial_update() = vote_self(true);
  *connect_request.mutable_cancel_update() = vote_self(false);
  connect_request.set_empty(true);
  streamed_call connect{connect_request};
  connect.expect_no_message(100ms);
  monitor.expect_next(response(state1));
  effects connected = updated(vote_delta(true));
  connected.streamed = true;
  conn.expect_in(command(2, id, "ProcessStreamed", connect_request, true))
      .expect_out(crdt_reply(2, std::nullopt, connected))
      .expect_out(streamed(1, response(state1)));

  connect.cancel();
  monitor.expect_next(response(state0));
  conn.expect_in(stream_cancelled(2, id))
      .expect_out(stream_cancelled_response(2, vote_delta(false)))
      .expect_out(streamed(1, response(state0)));

  monitor.cancel();
  conn.expect_in(stream_cancelled(1, id)).expect_out(stream_cancelled_response(1));

  check_process(request(id, {delete_action()}), response(state0));
  conn.expect_in(command(3, id, "Process", request(id, {delete_action()})))
      .expect_out(reply(3, response(state0), deleted))
      .expect_closed();
  conn.expect_no_more();
  tck_proxy::check_no_more_interactions();
}

TEST_CASE("crdt.http_api") {
  auto& f = fixture::scenario();
  INFO(f.diagnostics());
  const std::string id = "PNCounter-proxy-http";
  const std::string path = "tck/model/crdt/" + id;
  tck_proxy::check_http_request(path, "{}", R"({"state":{"pncounter":{"value":"0"}}})");
  auto conn = entity_connection(service, id);
  conn.expect_in(init(service, id))
      .expect_in(command(1, id, "Process", request(id)))
      .expect_out(reply(1, response(pn_state(0))));

  // A method without a google.api.http rule has the implicit POST /<package.Service>/<Method> with body "*".
  tck_proxy::check_http_request("cloudstate.tck.model.crdt.CrdtTwo/Call", R"({"id": ")" + id + R"("})", "{}");
  auto two = entity_connection(service_two, id);
  two.expect_in(init(service_two, id)).expect_in(command(1, id, "Call", request(id))).expect_out(reply(1, response()));

  tck_proxy::check_http_request(path, R"({"actions": [{"update": {"pncounter": {"change": 42} }}]})",
                                R"({"state":{"pncounter":{"value":"42"}}})");
  conn.expect_in(command(2, id, "Process", request(id, change_by({+42}))))
      .expect_out(reply(2, response(pn_state(+42)), updated(pn_delta(+42))));

  tck_proxy::check_http_error(path, R"({"actions": [{"fail": {"message": "expected failure"}}]})", "expected failure");
  conn.expect_in(command(3, id, "Process", request(id, {fail_with("expected failure")})))
      .expect_out(failure(3, "expected failure"));

  tck_proxy::check_http_request(path, R"({"actions": [{"update": {"pncounter": {"change": -123} }}]})",
                                R"({"state":{"pncounter":{"value":"-81"}}})");
  conn.expect_in(command(4, id, "Process", request(id, change_by({-123}))))
      .expect_out(reply(4, response(pn_state(-81)), updated(pn_delta(-123))));

  tck_proxy::check_http_request(path, R"({"actions": [{"delete": {}}]})", R"({"state":{"pncounter":{"value":"-81"}}})");
  conn.expect_in(command(5, id, "Process", request(id, {delete_action()})))
      .expect_out(reply(5, response(pn_state(-81)), deleted))
      .expect_closed();
  conn.expect_no_more();
  two.expect_no_more();
  tck_proxy::check_no_more_interactions();
}

TEST_CASE("crdt.passivation") {
  auto& f = fixture::scenario();
  INFO(f.diagnostics());
  const std::string id = "crdt-proxy-passivation";
  cr::Response resp;
  auto status = f.crdt_configured().Call(tck_proxy::client_context().get(), request(id), &resp);
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
  tck_proxy::check_no_more_interactions();
}
