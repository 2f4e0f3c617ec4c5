// Cloudstate TCK, action model scenarios (ActionTCK "verify ..." model tests): handleUnary, handleStreamedIn,
// handleStreamedOut and handleStreamed driven as the TCK drives them, every response compared exactly.
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

pac::ActionCommand process(const std::string& method, const m::Request& request) {
  pac::ActionCommand cmd;
  cmd.set_service_name(service);
  cmd.set_name(method);
  *cmd.mutable_payload() = tck::pack(request);
  return cmd;
}

pac::ActionCommand process_unary(const m::Request& request) {
  return process("ProcessUnary", request);
}

/// The first command of a streamed-in or bidi call: names only.
pac::ActionCommand header(const std::string& method) {
  pac::ActionCommand cmd;
  cmd.set_service_name(service);
  cmd.set_name(method);
  return cmd;
}

/// A following command of a streamed-in or bidi call: payload only.
pac::ActionCommand command(const m::Request& request) {
  pac::ActionCommand cmd;
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

pac::ActionResponse no_reply(const side_effects_t& effects = {}) {
  pac::ActionResponse r;
  add(r, effects);
  return r;
}

side_effects_t operator+(side_effects_t a, const side_effects_t& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
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

// The TCK's `connectIn().send(processStreamedIn).send(...).complete().expect(response)`.
void expect_streamed_in(const std::vector<m::Request>& requests, const pac::ActionResponse& expected) {
  grpc::ClientContext ctx;
  ctx.set_deadline(tck::deadline());
  pac::ActionResponse actual;
  auto writer = tck::user_function::get().actions().handleStreamedIn(&ctx, &actual);
  REQUIRE(writer->Write(header("ProcessStreamedIn")));
  for (const auto& request : requests)
    REQUIRE_MESSAGE(writer->Write(command(request)), "the user function closed the stream early");
  writer->WritesDone();
  auto status = writer->Finish();
  REQUIRE_MESSAGE(status.ok(), "handleStreamedIn failed: " << status.error_message());
  tck::check_equal(actual, expected);
}

// The TCK's `connectOut().send(processStreamedOut(request)).expect(...)...expectClosed()`.
void expect_streamed_out(const m::Request& request, const std::vector<pac::ActionResponse>& expected) {
  grpc::ClientContext ctx;
  ctx.set_deadline(tck::deadline());
  auto reader = tck::user_function::get().actions().handleStreamedOut(&ctx, process("ProcessStreamedOut", request));
  for (const auto& e : expected) {
    pac::ActionResponse actual;
    REQUIRE_MESSAGE(reader->Read(&actual), "the stream ended while " << e.ShortDebugString() << " was expected");
    tck::check_equal(actual, e);
  }
  pac::ActionResponse extra;
  CHECK_MESSAGE(!reader->Read(&extra), "unexpected response: " << extra.ShortDebugString());
  auto status = reader->Finish();
  CHECK_MESSAGE(status.ok(), "handleStreamedOut failed: " << status.error_message());
}

// The TCK's `connect().send(processStreamed)` connection: each request is sent, then its responses expected.
class bidi {
public:
  bidi() : conn_([](grpc::ClientContext* ctx) { return tck::user_function::get().actions().handleStreamed(ctx); }) {
    conn_.send(header("ProcessStreamed"));
  }

  bidi& send(const m::Request& request) {
    conn_.send(command(request));
    return *this;
  }

  bidi& expect(const pac::ActionResponse& response) {
    conn_.expect(response);
    return *this;
  }

  /// Completes the request stream; the user function must complete its response stream with nothing more.
  void complete() { conn_.passivate(); }

private:
  tck::connection<pac::ActionCommand, pac::ActionResponse> conn_;
};

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

TEST_CASE("action.unary_no_reply") {
  expect_unary(process_unary(single({})), no_reply());
}

TEST_CASE("action.unary_no_reply_with_side_effect") {
  expect_unary(process_unary(single({side_effect_to("other")})), no_reply(side_effects({"other"})));
}

TEST_CASE("action.unary_no_reply_with_synchronous_side_effect") {
  expect_unary(process_unary(single({side_effect_to("another", true)})),
               no_reply(synchronous_side_effects({"another"})));
}

TEST_CASE("action.unary_no_reply_with_multiple_side_effects") {
  expect_unary(process_unary(single({side_effect_to("a"), side_effect_to("b"), side_effect_to("c")})),
               no_reply(side_effects({"a", "b", "c"})));
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

// Streamed-in: the steps of all requests combine into one response after the stream completes.
namespace {

// The three requests of the "... with side effects" streamed-in scenarios, after a first step of their own.
std::vector<m::Request> with_side_effects(const m::ProcessStep& first) {
  return {single({first, side_effect_to("a")}), single({side_effect_to("b", true)}),
          single({side_effect_to("c"), side_effect_to("d")})};
}

side_effects_t merged_side_effects() {
  return side_effects({"a"}) + synchronous_side_effects({"b"}) + side_effects({"c", "d"});
}

}  // namespace

TEST_CASE("action.streamed_in_reply") {
  expect_streamed_in({single({reply_with("one")})}, reply(response("one")));
}

TEST_CASE("action.streamed_in_reply_with_side_effects") {
  expect_streamed_in(with_side_effects(reply_with("two")), reply(response("two"), merged_side_effects()));
}

TEST_CASE("action.streamed_in_no_reply_no_requests") {
  expect_streamed_in({}, no_reply());
}

TEST_CASE("action.streamed_in_no_reply") {
  expect_streamed_in({single({})}, no_reply());
}

TEST_CASE("action.streamed_in_no_reply_with_side_effects") {
  expect_streamed_in({single({side_effect_to("a")}), single({side_effect_to("b", true)}),
                      single({side_effect_to("c"), side_effect_to("d")})},
                     no_reply(merged_side_effects()));
}

TEST_CASE("action.streamed_in_forward") {
  expect_streamed_in({single({forward_to("one")})}, forwarded("one"));
}

TEST_CASE("action.streamed_in_forward_with_side_effects") {
  expect_streamed_in(with_side_effects(forward_to("two")), forwarded("two", merged_side_effects()));
}

TEST_CASE("action.streamed_in_failure") {
  expect_streamed_in({single({fail_with("one")})}, failure("one"));
}

TEST_CASE("action.streamed_in_failure_with_side_effects") {
  expect_streamed_in(with_side_effects(fail_with("two")), failure("two", merged_side_effects()));
}

// Streamed-out: one response per group, then the stream completes.
TEST_CASE("action.streamed_out_replies_and_side_effects") {
  expect_streamed_out(
      request({group({reply_with("one")}), group({reply_with("two"), side_effect_to("other")}),
               group({reply_with("three"), side_effect_to("another", true)}),
               group({reply_with("four"), side_effect_to("a"), side_effect_to("b"), side_effect_to("c")})}),
      {reply(response("one")), reply(response("two"), side_effects({"other"})),
       reply(response("three"), synchronous_side_effects({"another"})),
       reply(response("four"), side_effects({"a", "b", "c"}))});
}

TEST_CASE("action.streamed_out_no_replies_and_side_effects") {
  expect_streamed_out(request({group({}), group({side_effect_to("other")}), group({side_effect_to("another", true)}),
                               group({side_effect_to("a"), side_effect_to("b"), side_effect_to("c")})}),
                      {no_reply(), no_reply(side_effects({"other"})), no_reply(synchronous_side_effects({"another"})),
                       no_reply(side_effects({"a", "b", "c"}))});
}

TEST_CASE("action.streamed_out_forwards_and_side_effects") {
  expect_streamed_out(
      request({group({forward_to("one")}), group({forward_to("two"), side_effect_to("other")}),
               group({forward_to("three"), side_effect_to("another", true)}),
               group({forward_to("four"), side_effect_to("a"), side_effect_to("b"), side_effect_to("c")})}),
      {forwarded("one"), forwarded("two", side_effects({"other"})),
       forwarded("three", synchronous_side_effects({"another"})), forwarded("four", side_effects({"a", "b", "c"}))});
}

TEST_CASE("action.streamed_out_failures_and_side_effects") {
  expect_streamed_out(
      request({group({fail_with("one")}), group({fail_with("two"), side_effect_to("other")}),
               group({fail_with("three"), side_effect_to("another", true)}),
               group({fail_with("four"), side_effect_to("a"), side_effect_to("b"), side_effect_to("c")})}),
      {failure("one"), failure("two", side_effects({"other"})), failure("three", synchronous_side_effects({"another"})),
       failure("four", side_effects({"a", "b", "c"}))});
}

// Streamed (bidi): each request answered as it arrives, one response per group.
TEST_CASE("action.streamed_replies_and_side_effects") {
  bidi{}
      .send(single({reply_with("one")}))
      .expect(reply(response("one")))
      .send(single({reply_with("two"), side_effect_to("other")}))
      .expect(reply(response("two"), side_effects({"other"})))
      .send(single({reply_with("three"), side_effect_to("another", true)}))
      .expect(reply(response("three"), synchronous_side_effects({"another"})))
      .send(single({reply_with("four"), side_effect_to("a"), side_effect_to("b"), side_effect_to("c")}))
      .expect(reply(response("four"), side_effects({"a", "b", "c"})))
      .send(request({group({reply_with("five")}), group({reply_with("six"), side_effect_to("other")})}))
      .expect(reply(response("five")))
      .expect(reply(response("six"), side_effects({"other"})))
      .complete();
}

TEST_CASE("action.streamed_no_replies_and_side_effects") {
  bidi{}
      .send(single({}))
      .expect(no_reply())
      .send(single({side_effect_to("other")}))
      .expect(no_reply(side_effects({"other"})))
      .send(single({side_effect_to("another", true)}))
      .expect(no_reply(synchronous_side_effects({"another"})))
      .send(single({side_effect_to("a"), side_effect_to("b"), side_effect_to("c")}))
      .expect(no_reply(side_effects({"a", "b", "c"})))
      .send(request({group({}), group({side_effect_to("other")})}))
      .expect(no_reply())
      .expect(no_reply(side_effects({"other"})))
      .complete();
}

TEST_CASE("action.streamed_forwards_and_side_effects") {
  bidi{}
      .send(single({forward_to("one")}))
      .expect(forwarded("one"))
      .send(single({forward_to("two"), side_effect_to("other")}))
      .expect(forwarded("two", side_effects({"other"})))
      .send(single({forward_to("three"), side_effect_to("another", true)}))
      .expect(forwarded("three", synchronous_side_effects({"another"})))
      .send(single({forward_to("four"), side_effect_to("a"), side_effect_to("b"), side_effect_to("c")}))
      .expect(forwarded("four", side_effects({"a", "b", "c"})))
      .send(request({group({forward_to("five")}), group({forward_to("six"), side_effect_to("other")})}))
      .expect(forwarded("five"))
      .expect(forwarded("six", side_effects({"other"})))
      .complete();
}

TEST_CASE("action.streamed_failures_and_side_effects") {
  bidi{}
      .send(single({fail_with("one")}))
      .expect(failure("one"))
      .send(single({fail_with("two"), side_effect_to("other")}))
      .expect(failure("two", side_effects({"other"})))
      .send(single({fail_with("three"), side_effect_to("another", true)}))
      .expect(failure("three", synchronous_side_effects({"another"})))
      .send(single({fail_with("four"), side_effect_to("a"), side_effect_to("b"), side_effect_to("c")}))
      .expect(failure("four", side_effects({"a", "b", "c"})))
      .send(request({group({fail_with("five")}), group({fail_with("six"), side_effect_to("other")})}))
      .expect(failure("five"))
      .expect(failure("six", side_effects({"other"})))
      .complete();
}

// Beyond the TCK: a streamed call naming a method the service lacks, or a unary one, is answered with a failure.
TEST_CASE("action.streamed_unknown_method") {
  tck::connection<pac::ActionCommand, pac::ActionResponse> conn{
      [](grpc::ClientContext* ctx) { return tck::user_function::get().actions().handleStreamed(ctx); }};
  auto cmd = header("ProcessUnary");
  conn.send(cmd);
  auto response = conn.expect_message();
  CHECK(response.has_failure());
  CHECK(response.failure().description().find("unary") != std::string::npos);
}
