// Cloudstate TCK, event-sourced entity model scenarios (EventSourcedEntityTCK "verify ..." model tests): the user
// function's EventSourced/handle stream driven as the TCK drives it, every reply compared exactly.
#include <algorithm>
#include <initializer_list>
#include <optional>

#include "cloudstate/tck/model/eventsourced.pb.h"
#include "harness.hpp"
#include "model_requests.hpp"

namespace {

namespace pes = cloudstate::eventsourced;
namespace m = cloudstate::tck::model;
using namespace tck::es_model;

const std::string protocol = "cloudstate.eventsourced.EventSourced";
const std::string service = "cloudstate.tck.model.EventSourcedTckModel";
const std::string service_two = "cloudstate.tck.model.EventSourcedTwo";
const std::string service_configured = "cloudstate.tck.model.EventSourcedConfigured";

using es_connection = tck::connection<pes::EventSourcedStreamIn, pes::EventSourcedStreamOut>;

es_connection connect() {
  return es_connection{[](grpc::ClientContext* ctx) { return tck::user_function::get().event_sourced().handle(ctx); }};
}

// Request actions.

// What a reply carries besides its client action.
struct effects {
  std::vector<std::string> events;
  std::optional<std::string> snapshot;
  std::vector<cloudstate::SideEffect> side_effects;

  effects operator+(const effects& other) const {
    effects sum = *this;
    sum.events.insert(sum.events.end(), other.events.begin(), other.events.end());
    if (!sum.snapshot)
      sum.snapshot = other.snapshot;
    sum.side_effects.insert(sum.side_effects.end(), other.side_effects.begin(), other.side_effects.end());
    return sum;
  }
};

effects events(std::initializer_list<std::string> values) {
  return effects{values, std::nullopt, {}};
}

effects snapshot_and_events(const std::string& snapshot, std::initializer_list<std::string> values) {
  return effects{values, snapshot, {}};
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

// Stream messages in.
pes::EventSourcedStreamIn init(const std::string& service_name, const std::string& entity_id,
                               std::optional<pes::EventSourcedSnapshot> snapshot = std::nullopt) {
  pes::EventSourcedStreamIn in;
  in.mutable_init()->set_service_name(service_name);
  in.mutable_init()->set_entity_id(entity_id);
  if (snapshot)
    *in.mutable_init()->mutable_snapshot() = *snapshot;
  return in;
}

pes::EventSourcedSnapshot snapshot(int64_t sequence, const google::protobuf::Any& payload) {
  pes::EventSourcedSnapshot s;
  s.set_snapshot_sequence(sequence);
  *s.mutable_snapshot() = payload;
  return s;
}

pes::EventSourcedStreamIn event(int64_t sequence, const google::protobuf::Any& payload) {
  pes::EventSourcedStreamIn in;
  in.mutable_event()->set_sequence(sequence);
  *in.mutable_event()->mutable_payload() = payload;
  return in;
}

pes::EventSourcedStreamIn command(int64_t id, const std::string& entity_id, const std::string& name,
                                  const google::protobuf::Message& payload) {
  pes::EventSourcedStreamIn in;
  *in.mutable_command() = tck::command(id, entity_id, name, payload);
  return in;
}

// Stream messages out.
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
  *action.mutable_reply()->mutable_payload() = tck::pack(payload);
  return reply_action(id, action, e);
}

pes::EventSourcedStreamOut forward(int64_t id, const std::string& service_name, const std::string& command_name,
                                   const google::protobuf::Message& payload, const effects& e = {}) {
  cloudstate::ClientAction action;
  auto* fwd = action.mutable_forward();
  fwd->set_service_name(service_name);
  fwd->set_command_name(command_name);
  *fwd->mutable_payload() = tck::pack(payload);
  return reply_action(id, action, e);
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

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

TEST_CASE("eventsourced.discovery") {
  auto services = tck::discovered_services();
  CHECK(contains(services, service));
  CHECK(contains(services, service_two));
  const auto* model = tck::discovered_entity(service);
  const auto* two = tck::discovered_entity(service_two);
  REQUIRE(model != nullptr);
  REQUIRE(two != nullptr);
  CHECK(model->entity_type() == protocol);
  CHECK(two->entity_type() == protocol);
  CHECK(model->persistence_id() == "event-sourced-tck-model");
}

TEST_CASE("eventsourced.configured_entity") {
  CHECK(contains(tck::discovered_services(), service_configured));
  const auto* configured = tck::discovered_entity(service_configured);
  REQUIRE(configured != nullptr);
  CHECK(configured->entity_type() == protocol);
  CHECK(configured->persistence_id() == "event-sourced-configured");
  cloudstate::EntityPassivationStrategy expected;
  expected.mutable_timeout()->set_timeout(100);
  REQUIRE(configured->has_passivation_strategy());
  tck::check_equal(configured->passivation_strategy(), expected);
}

TEST_CASE("eventsourced.initial_empty_state") {
  const std::string id = "es-initial-empty";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id)))
      .expect(reply(1, response()))
      .passivate();
}

TEST_CASE("eventsourced.single_emitted_event") {
  const std::string id = "es-single-event";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, emit_events({"A"}))))
      .expect(reply(1, response("A"), events({"A"})))
      .send(command(2, id, "Process", request(id)))
      .expect(reply(2, response("A")))
      .passivate();
}

TEST_CASE("eventsourced.multiple_emitted_events") {
  const std::string id = "es-multiple-events";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, emit_events({"A", "B", "C"}))))
      .expect(reply(1, response("ABC"), events({"A", "B", "C"})))
      .send(command(2, id, "Process", request(id)))
      .expect(reply(2, response("ABC")))
      .passivate();
}

TEST_CASE("eventsourced.multiple_emitted_events_and_snapshots") {
  const std::string id = "es-events-and-snapshots";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, emit_events({"A"}))))
      .expect(reply(1, response("A"), events({"A"})))
      .send(command(2, id, "Process", request(id, emit_events({"B"}))))
      .expect(reply(2, response("AB"), events({"B"})))
      .send(command(3, id, "Process", request(id, emit_events({"C"}))))
      .expect(reply(3, response("ABC"), events({"C"})))
      .send(command(4, id, "Process", request(id, emit_events({"D"}))))
      .expect(reply(4, response("ABCD"), events({"D"})))
      .send(command(5, id, "Process", request(id, emit_events({"E"}))))
      .expect(reply(5, response("ABCDE"), snapshot_and_events("ABCDE", {"E"})))
      .send(command(6, id, "Process", request(id, emit_events({"F", "G", "H"}))))
      .expect(reply(6, response("ABCDEFGH"), events({"F", "G", "H"})))
      .send(command(7, id, "Process", request(id, emit_events({"I", "J"}))))
      .expect(reply(7, response("ABCDEFGHIJ"), snapshot_and_events("ABCDEFGHIJ", {"I", "J"})))
      .send(command(8, id, "Process", request(id, emit_events({"K"}))))
      .expect(reply(8, response("ABCDEFGHIJK"), events({"K"})))
      .send(command(9, id, "Process", request(id)))
      .expect(reply(9, response("ABCDEFGHIJK")))
      .passivate();
}

TEST_CASE("eventsourced.initial_snapshot") {
  const std::string id = "es-initial-snapshot";
  connect()
      .send(init(service, id, snapshot(5, persisted("ABCDE"))))
      .send(command(1, id, "Process", request(id)))
      .expect(reply(1, response("ABCDE")))
      .passivate();
}

TEST_CASE("eventsourced.initial_snapshot_and_events") {
  const std::string id = "es-initial-snapshot-and-events";
  connect()
      .send(init(service, id, snapshot(5, persisted("ABCDE"))))
      .send(event(6, persisted("F")))
      .send(event(7, persisted("G")))
      .send(command(1, id, "Process", request(id)))
      .expect(reply(1, response("ABCDEFG")))
      .passivate();
}

TEST_CASE("eventsourced.rehydration_after_passivation") {
  const std::string id = "es-rehydration";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, emit_events({"A", "B", "C"}))))
      .expect(reply(1, response("ABC"), events({"A", "B", "C"})))
      .send(command(2, id, "Process", request(id, emit_events({"D", "E"}))))
      .expect(reply(2, response("ABCDE"), snapshot_and_events("ABCDE", {"D", "E"})))
      .send(command(3, id, "Process", request(id, emit_events({"F"}))))
      .expect(reply(3, response("ABCDEF"), events({"F"})))
      .send(command(4, id, "Process", request(id, emit_events({"G"}))))
      .expect(reply(4, response("ABCDEFG"), events({"G"})))
      .passivate();
  connect()
      .send(init(service, id, snapshot(5, persisted("ABCDE"))))
      .send(event(6, persisted("F")))
      .send(event(7, persisted("G")))
      .send(command(1, id, "Process", request(id)))
      .expect(reply(1, response("ABCDEFG")))
      .passivate();
}

TEST_CASE("eventsourced.forward_to_second_service") {
  const std::string id = "es-forward";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, emit_events({"A", "B", "C"}))))
      .expect(reply(1, response("ABC"), events({"A", "B", "C"})))
      .send(command(2, id, "Process", request(id, {forward_to(id)})))
      .expect(forward(2, service_two, "Call", request(id)))
      .send(command(3, id, "Process", request(id)))
      .expect(reply(3, response("ABC")))
      .passivate();
}

TEST_CASE("eventsourced.forward_with_emitted_events") {
  const std::string id = "es-forward-with-events";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, {emit_event("A"), forward_to(id)})))
      .expect(forward(1, service_two, "Call", request(id), events({"A"})))
      .passivate();
}

TEST_CASE("eventsourced.forward_with_emitted_events_and_snapshot") {
  const std::string id = "es-forward-with-snapshot";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, emit_events({"A", "B", "C"}))))
      .expect(reply(1, response("ABC"), events({"A", "B", "C"})))
      .send(command(2, id, "Process", request(id, {emit_event("D"), emit_event("E"), forward_to(id)})))
      .expect(forward(2, service_two, "Call", request(id), snapshot_and_events("ABCDE", {"D", "E"})))
      .passivate();
}

TEST_CASE("eventsourced.reply_with_side_effect_to_second_service") {
  const std::string id = "es-side-effect";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, emit_events({"A", "B", "C"}))))
      .expect(reply(1, response("ABC"), events({"A", "B", "C"})))
      .send(command(2, id, "Process", request(id, {side_effect_to(id)})))
      .expect(reply(2, response("ABC"), side_effects({id})))
      .send(command(3, id, "Process", request(id)))
      .expect(reply(3, response("ABC")))
      .passivate();
}

TEST_CASE("eventsourced.synchronous_side_effect") {
  const std::string id = "es-synchronous-side-effect";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, {side_effect_to(id, true)})))
      .expect(reply(1, response(), synchronous_side_effects({id})))
      .passivate();
}

TEST_CASE("eventsourced.forward_and_side_effect") {
  const std::string id = "es-forward-and-side-effect";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, {side_effect_to(id), forward_to(id)})))
      .expect(forward(1, service_two, "Call", request(id), side_effects({id})))
      .passivate();
}

TEST_CASE("eventsourced.multiple_side_effects") {
  const std::string id = "es-multiple-side-effects";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, side_effects_to({"1", "2", "3"}))))
      .expect(reply(1, response(), side_effects({"1", "2", "3"})))
      .passivate();
}

TEST_CASE("eventsourced.multiple_side_effects_events_and_snapshot") {
  const std::string id = "es-side-effects-events-snapshot";
  auto acts = emit_events({"A", "B", "C", "D", "E"}) + side_effects_to({"1", "2", "3"});
  auto expected = snapshot_and_events("ABCDE", {"A", "B", "C", "D", "E"}) + side_effects({"1", "2", "3"});
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, acts)))
      .expect(reply(1, response("ABCDE"), expected))
      .passivate();
}

TEST_CASE("eventsourced.failure_action") {
  const std::string id = "es-failure";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, {fail_with("expected failure")})))
      .expect(action_failure(1, "expected failure"))
      .passivate();
}

TEST_CASE("eventsourced.connection_after_failure_action") {
  const std::string id = "es-after-failure";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, {emit_event("A")})))
      .expect(reply(1, response("A"), events({"A"})))
      .send(command(2, id, "Process", request(id, {fail_with("expected failure")})))
      .expect(action_failure(2, "expected failure"))
      .send(command(3, id, "Process", request(id)))
      .expect(reply(3, response("A")))
      .passivate();
}

// The TCK accepts both ways of not retaining the events of a failed command: asking the proxy to restart the
// entity (it then replays the journal on a new stream), or rolling back locally and keeping the stream.
TEST_CASE("eventsourced.failure_does_not_retain_emitted_events") {
  const std::string id = "es-failure-drops-events";
  auto connection = connect();
  connection.send(init(service, id))
      .send(command(1, id, "Process", request(id, emit_events({"A", "B", "C"}))))
      .expect(reply(1, response("ABC"), events({"A", "B", "C"})))
      .send(command(2, id, "Process", request(id, {emit_event("4"), emit_event("5"), fail_with("failure 1")})));
  auto out = connection.expect_message();
  REQUIRE_MESSAGE(out.has_reply(), out.ShortDebugString());
  REQUIRE_MESSAGE(out.reply().client_action().has_failure(), out.ShortDebugString());
  const auto& failure = out.reply().client_action().failure();
  CHECK(failure.command_id() == 2);
  CHECK(failure.description() == "failure 1");
  if (failure.restart()) {
    tck::check_equal(out, action_failure(2, "failure 1", true));
    connection.passivate();
    connect()
        .send(init(service, id))
        .send(event(1, persisted("A")))
        .send(event(2, persisted("B")))
        .send(event(3, persisted("C")))
        .send(command(1, id, "Process", request(id, emit_events({"D"}))))
        .expect(reply(1, response("ABCD"), events({"D"})))
        .send(command(2, id, "Process", request(id, {emit_event("6"), fail_with("failure 2"), emit_event("7")})))
        .expect(action_failure(2, "failure 2", true))
        .passivate();
    connect()
        .send(init(service, id))
        .send(event(1, persisted("A")))
        .send(event(2, persisted("B")))
        .send(event(3, persisted("C")))
        .send(event(4, persisted("D")))
        .send(command(1, id, "Process", request(id, emit_events({"E"}))))
        .expect(reply(1, response("ABCDE"), snapshot_and_events("ABCDE", {"E"})))
        .passivate();
  } else {
    tck::check_equal(out, action_failure(2, "failure 1"));
    connection.send(command(3, id, "Process", request(id, emit_events({"D"}))))
        .expect(reply(3, response("ABCD"), events({"D"})))
        .send(command(4, id, "Process", request(id, {emit_event("6"), fail_with("failure 2"), emit_event("7")})))
        .expect(action_failure(4, "failure 2"))
        .send(command(5, id, "Process", request(id, emit_events({"E"}))))
        .expect(reply(5, response("ABCDE"), snapshot_and_events("ABCDE", {"E"})))
        .passivate();
  }
}

TEST_CASE("eventsourced.failure_does_not_allow_side_effects") {
  const std::string id = "es-failure-no-side-effects";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, {side_effect_to(id), fail_with("expected failure")})))
      .expect(action_failure(1, "expected failure"))
      .passivate();
}
