// Cloudstate TCK, CRDT entity model scenarios (CrdtEntityTCK.scala, verifyCrdtEntityModel): the user function's
// Crdt/handle stream driven as the TCK drives it (testkit TestCrdtProtocol), every message compared exactly. Where the
// TCK sorts the set and map deltas of a reply before comparing (`Delta.sorted`), so does `sorted` here; the expected
// messages are written in that sorted order, as in the TCK. The builders mirror the TCK's CrdtEntityTCKModel objects
// (GCounter, PNCounter, ...) and the testkit's CrdtMessages; each test names its Scala scenario.
#include <algorithm>
#include <initializer_list>
#include <optional>
#include <utility>
#include <vector>

#include <google/protobuf/wrappers.pb.h>

#include "cloudstate/crdt.pb.h"
#include "cloudstate/tck/model/crdt.pb.h"
#include "harness.hpp"

namespace {

namespace pcr = cloudstate::crdt;
namespace m = cloudstate::tck::model::crdt;
using google::protobuf::Any;

const std::string protocol = "cloudstate.crdt.Crdt";
const std::string service = "cloudstate.tck.model.crdt.CrdtTckModel";
const std::string service_two = "cloudstate.tck.model.crdt.CrdtTwo";
const std::string service_configured = "cloudstate.tck.model.crdt.CrdtConfigured";

using crdt_connection = tck::connection<pcr::CrdtStreamIn, pcr::CrdtStreamOut>;

crdt_connection connect() {
  return crdt_connection{[](grpc::ClientContext* ctx) { return tck::user_function::get().crdt().handle(ctx); }};
}

// Cloudstate's primitive encoding of a string (testkit EntityMessages.primitiveString): the bytes of a StringValue.
constexpr const char* primitive_string_url = "p.cloudstate.io/string";

Any primitive_string(const std::string& value) {
  google::protobuf::StringValue wrapped;
  wrapped.set_value(value);
  Any any;
  any.set_type_url(primitive_string_url);
  any.set_value(wrapped.SerializeAsString());
  return any;
}

// EntityMessages.readPrimitiveString: "" for anything but a primitive string.
std::string read_primitive_string(const Any& any) {
  google::protobuf::StringValue wrapped;
  if (any.type_url() != primitive_string_url || !wrapped.ParseFromString(any.value()))
    return {};
  return wrapped.value();
}

// Model requests.

using actions = std::vector<m::RequestAction>;

actions operator+(actions a, const actions& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

actions operator+(actions a, const m::RequestAction& b) {
  a.push_back(b);
  return a;
}

m::Request request(const std::string& id, const actions& acts = {}) {
  m::Request r;
  r.set_id(id);
  for (const auto& a : acts)
    *r.add_actions() = a;
  return r;
}

m::RequestAction request_update(const m::Update& update) {
  m::RequestAction action;
  *action.mutable_update() = update;
  return action;
}

m::RequestAction request_delete() {
  m::RequestAction action;
  action.mutable_delete_();
  return action;
}

m::RequestAction forward_to(const std::string& id) {
  m::RequestAction action;
  action.mutable_forward()->set_id(id);
  return action;
}

m::RequestAction side_effect_to(const std::string& id, bool synchronous = false) {
  m::RequestAction action;
  action.mutable_effect()->set_id(id);
  action.mutable_effect()->set_synchronous(synchronous);
  return action;
}

actions side_effects_to(std::initializer_list<std::string> ids) {
  actions result;
  for (const auto& id : ids)
    result.push_back(side_effect_to(id));
  return result;
}

m::RequestAction fail_with(const std::string& message) {
  m::RequestAction action;
  action.mutable_fail()->set_message(message);
  return action;
}

m::Effect effect(const std::string& id, bool synchronous = false) {
  m::Effect e;
  e.set_id(id);
  e.set_synchronous(synchronous);
  return e;
}

m::Response response(const m::State& state) {
  m::Response r;
  *r.mutable_state() = state;
  return r;
}

// What a reply, streamed message or stream cancelled response carries besides its client action (CrdtMessages.Effects).
struct effects {
  std::optional<pcr::CrdtStateAction> state_action;
  std::vector<cloudstate::SideEffect> side_effects;
  bool streamed = false;
  bool end_stream = false;

  effects operator+(const effects& other) const {
    effects sum = *this;
    if (!sum.state_action)
      sum.state_action = other.state_action;
    sum.side_effects.insert(sum.side_effects.end(), other.side_effects.begin(), other.side_effects.end());
    sum.streamed = streamed || other.streamed;
    sum.end_stream = end_stream || other.end_stream;
    return sum;
  }
};

effects crdt_update(const pcr::CrdtDelta& delta,
                    pcr::CrdtWriteConsistency write_consistency = pcr::CrdtWriteConsistency::LOCAL) {
  effects e;
  e.state_action.emplace();
  *e.state_action->mutable_update() = delta;
  e.state_action->set_write_consistency(write_consistency);
  return e;
}

effects delete_crdt() {
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

// Effects(streamed = true): the reply to a streamed command.
effects streamed_reply() {
  effects e;
  e.streamed = true;
  return e;
}

// Effects(endStream = true): the last streamed message.
effects end_stream() {
  effects e;
  e.end_stream = true;
  return e;
}

// Stream messages in.

pcr::CrdtStreamIn init(const std::string& service_name, const std::string& entity_id,
                       const std::optional<pcr::CrdtDelta>& delta = std::nullopt) {
  pcr::CrdtStreamIn in;
  in.mutable_init()->set_service_name(service_name);
  in.mutable_init()->set_entity_id(entity_id);
  if (delta)
    *in.mutable_init()->mutable_delta() = *delta;
  return in;
}

// A delta replicated from elsewhere.
pcr::CrdtStreamIn delta(const pcr::CrdtDelta& d) {
  pcr::CrdtStreamIn in;
  *in.mutable_delta() = d;
  return in;
}

// The entity was deleted elsewhere (CrdtMessages.delete).
pcr::CrdtStreamIn deleted() {
  pcr::CrdtStreamIn in;
  in.mutable_delete_();
  return in;
}

pcr::CrdtStreamIn command(int64_t id, const std::string& entity_id, const std::string& name,
                          const google::protobuf::Message& payload, bool streamed = false) {
  pcr::CrdtStreamIn in;
  *in.mutable_command() = tck::command(id, entity_id, name, payload);
  in.mutable_command()->set_streamed(streamed);
  return in;
}

pcr::CrdtStreamIn stream_cancelled(int64_t id, const std::string& entity_id) {
  pcr::CrdtStreamIn in;
  in.mutable_stream_cancelled()->set_entity_id(entity_id);
  in.mutable_stream_cancelled()->set_id(id);
  return in;
}

// Stream messages out.

pcr::CrdtStreamOut crdt_reply(int64_t id, const std::optional<cloudstate::ClientAction>& action, const effects& e) {
  pcr::CrdtStreamOut out;
  auto* reply = out.mutable_reply();
  reply->set_command_id(id);
  if (action)
    *reply->mutable_client_action() = *action;
  for (const auto& se : e.side_effects)
    *reply->add_side_effects() = se;
  if (e.state_action)
    *reply->mutable_state_action() = *e.state_action;
  reply->set_streamed(e.streamed);
  return out;
}

cloudstate::ClientAction client_action_reply(const google::protobuf::Message& payload) {
  cloudstate::ClientAction action;
  *action.mutable_reply()->mutable_payload() = tck::pack(payload);
  return action;
}

pcr::CrdtStreamOut reply(int64_t id, const m::Response& payload, const effects& e = {}) {
  return crdt_reply(id, client_action_reply(payload), e);
}

pcr::CrdtStreamOut forward(int64_t id, const std::string& service_name, const std::string& command_name,
                           const google::protobuf::Message& payload, const effects& e = {}) {
  cloudstate::ClientAction action;
  auto* fwd = action.mutable_forward();
  fwd->set_service_name(service_name);
  fwd->set_command_name(command_name);
  *fwd->mutable_payload() = tck::pack(payload);
  return crdt_reply(id, action, e);
}

pcr::CrdtStreamOut forwarded(int64_t id, const std::string& entity_id, const effects& e = {}) {
  return forward(id, service_two, "Call", request(entity_id), e);
}

pcr::CrdtStreamOut failure(int64_t id, const std::string& description) {
  cloudstate::ClientAction action;
  action.mutable_failure()->set_command_id(id);
  action.mutable_failure()->set_description(description);
  action.mutable_failure()->set_restart(false);
  return crdt_reply(id, action, {});
}

pcr::CrdtStreamOut streamed(int64_t id, const m::Response& payload, const effects& e = {}) {
  pcr::CrdtStreamOut out;
  auto* msg = out.mutable_streamed_message();
  msg->set_command_id(id);
  *msg->mutable_client_action() = client_action_reply(payload);
  for (const auto& se : e.side_effects)
    *msg->add_side_effects() = se;
  msg->set_end_stream(e.end_stream);
  return out;
}

pcr::CrdtStreamOut stream_cancelled_response(int64_t id, const effects& e = {}) {
  pcr::CrdtStreamOut out;
  auto* msg = out.mutable_stream_cancelled_response();
  msg->set_command_id(id);
  for (const auto& se : e.side_effects)
    *msg->add_side_effects() = se;
  if (e.state_action)
    *msg->mutable_state_action() = *e.state_action;
  return out;
}

// The TCK's Delta.sorted: the elements of the set and map deltas in a reply's state update, sorted by their string
// value (map entries by key, their own deltas sorted too). Stable, as Scala's sortBy, so equal keys keep their order.
template <class T, class Key>
void stable_sort_by(google::protobuf::RepeatedPtrField<T>* items, Key key) {
  std::vector<T> sorted_items(items->begin(), items->end());
  std::stable_sort(sorted_items.begin(), sorted_items.end(), [&](const T& a, const T& b) { return key(a) < key(b); });
  items->Clear();
  for (auto& item : sorted_items)
    *items->Add() = std::move(item);
}

void sort_delta(pcr::CrdtDelta& delta) {
  auto by_string = [](const Any& any) { return read_primitive_string(any); };
  // Scala's Option ordering: entries without a key first.
  auto by_key = [](const pcr::ORMapEntryDelta& entry) {
    return std::make_pair(entry.has_key(), entry.has_key() ? read_primitive_string(entry.key()) : std::string{});
  };
  auto sort_entries = [&](google::protobuf::RepeatedPtrField<pcr::ORMapEntryDelta>* entries) {
    for (auto& entry : *entries)
      if (entry.has_delta())
        sort_delta(*entry.mutable_delta());
    stable_sort_by(entries, by_key);
  };
  switch (delta.delta_case()) {
    case pcr::CrdtDelta::kGset:
      stable_sort_by(delta.mutable_gset()->mutable_added(), by_string);
      break;
    case pcr::CrdtDelta::kOrset:
      stable_sort_by(delta.mutable_orset()->mutable_removed(), by_string);
      stable_sort_by(delta.mutable_orset()->mutable_added(), by_string);
      break;
    case pcr::CrdtDelta::kOrmap:
      stable_sort_by(delta.mutable_ormap()->mutable_removed(), by_string);
      sort_entries(delta.mutable_ormap()->mutable_updated());
      sort_entries(delta.mutable_ormap()->mutable_added());
      break;
    default:
      break;
  }
}

pcr::CrdtStreamOut sorted(pcr::CrdtStreamOut out) {
  if (out.has_reply() && out.reply().has_state_action() && out.reply().state_action().has_update())
    sort_delta(*out.mutable_reply()->mutable_state_action()->mutable_update());
  return out;
}

// The TCK model's CRDTs, as the TCK's CrdtEntityTCKModel objects: `state` (the model's Response), the request
// actions changing it, `update` (the reply's effects) and `delta` (a protocol delta).

namespace gcounter {

m::Response state(uint64_t value) {
  m::State s;
  s.mutable_gcounter()->set_value(value);
  return response(s);
}

m::Update update_with(uint64_t increment) {
  m::Update u;
  u.mutable_gcounter()->set_increment(increment);
  return u;
}

actions increment_by(std::initializer_list<uint64_t> increments) {
  actions result;
  for (auto increment : increments)
    result.push_back(request_update(update_with(increment)));
  return result;
}

pcr::CrdtDelta delta(uint64_t value) {
  pcr::CrdtDelta d;
  d.mutable_gcounter()->set_increment(value);
  return d;
}

effects update(uint64_t value) {
  return crdt_update(delta(value));
}

}  // namespace gcounter

namespace pncounter {

m::Response state(int64_t value) {
  m::State s;
  s.mutable_pncounter()->set_value(value);
  return response(s);
}

m::Update update_with(int64_t change) {
  m::Update u;
  u.mutable_pncounter()->set_change(change);
  return u;
}

actions change_by(std::initializer_list<int64_t> changes) {
  actions result;
  for (auto change : changes)
    result.push_back(request_update(update_with(change)));
  return result;
}

pcr::CrdtDelta delta(int64_t value) {
  pcr::CrdtDelta d;
  d.mutable_pncounter()->set_change(value);
  return d;
}

effects update(int64_t value) {
  return crdt_update(delta(value));
}

}  // namespace pncounter

namespace gset {

m::Response state(std::initializer_list<std::string> elements = {}) {
  m::State s;
  auto* value = s.mutable_gset();
  for (const auto& e : elements)
    value->add_elements(e);
  return response(s);
}

m::Update update_with(const std::string& element) {
  m::Update u;
  u.mutable_gset()->set_add(element);
  return u;
}

actions add(std::initializer_list<std::string> elements) {
  actions result;
  for (const auto& e : elements)
    result.push_back(request_update(update_with(e)));
  return result;
}

pcr::CrdtDelta delta(std::initializer_list<std::string> added) {
  pcr::CrdtDelta d;
  auto* gset = d.mutable_gset();
  for (const auto& e : added)
    *gset->add_added() = primitive_string(e);
  return d;
}

effects update(std::initializer_list<std::string> added) {
  return crdt_update(delta(added));
}

}  // namespace gset

namespace orset {

m::Response state(std::initializer_list<std::string> elements = {}) {
  m::State s;
  auto* value = s.mutable_orset();
  for (const auto& e : elements)
    value->add_elements(e);
  return response(s);
}

m::RequestAction action(const m::ORSetUpdate& update) {
  m::Update u;
  *u.mutable_orset() = update;
  return request_update(u);
}

actions add(std::initializer_list<std::string> elements) {
  actions result;
  for (const auto& e : elements) {
    m::ORSetUpdate update;
    update.set_add(e);
    result.push_back(action(update));
  }
  return result;
}

actions remove(std::initializer_list<std::string> elements) {
  actions result;
  for (const auto& e : elements) {
    m::ORSetUpdate update;
    update.set_remove(e);
    result.push_back(action(update));
  }
  return result;
}

actions clear(bool value = true) {
  m::ORSetUpdate update;
  update.set_clear(value);
  return {action(update)};
}

// ORSet.delta / ORSet.update's named arguments.
struct change {
  bool cleared = false;
  std::vector<std::string> removed;
  std::vector<std::string> added;
};

pcr::CrdtDelta delta(const change& c = {}) {
  pcr::CrdtDelta d;
  auto* orset = d.mutable_orset();
  orset->set_cleared(c.cleared);
  for (const auto& e : c.removed)
    *orset->add_removed() = primitive_string(e);
  for (const auto& e : c.added)
    *orset->add_added() = primitive_string(e);
  return d;
}

effects update(const change& c = {}) {
  return crdt_update(delta(c));
}

}  // namespace orset

namespace lwwregister {

m::Response state(const std::string& value) {
  m::State s;
  s.mutable_lwwregister()->set_value(value);
  return response(s);
}

actions set_to(const std::string& value, m::LWWRegisterClockType clock_type = m::LWWRegisterClockType::DEFAULT,
               int64_t custom_clock_value = 0) {
  m::Update u;
  auto* update = u.mutable_lwwregister();
  update->set_value(value);
  update->mutable_clock()->set_clocktype(clock_type);
  update->mutable_clock()->set_customclockvalue(custom_clock_value);
  return {request_update(u)};
}

pcr::CrdtDelta delta(const std::string& value, pcr::CrdtClock clock = pcr::CrdtClock::DEFAULT,
                     int64_t custom_clock_value = 0) {
  pcr::CrdtDelta d;
  auto* reg = d.mutable_lwwregister();
  *reg->mutable_value() = primitive_string(value);
  reg->set_clock(clock);
  reg->set_custom_clock_value(custom_clock_value);
  return d;
}

effects update(const std::string& value, pcr::CrdtClock clock = pcr::CrdtClock::DEFAULT,
               int64_t custom_clock_value = 0) {
  return crdt_update(delta(value, clock, custom_clock_value));
}

}  // namespace lwwregister

namespace flag {

m::Response state(bool value) {
  m::State s;
  s.mutable_flag()->set_value(value);
  return response(s);
}

actions enable() {
  m::Update u;
  u.mutable_flag();
  return {request_update(u)};
}

pcr::CrdtDelta delta(bool value) {
  pcr::CrdtDelta d;
  d.mutable_flag()->set_value(value);
  return d;
}

effects update(bool value) {
  return crdt_update(delta(value));
}

}  // namespace flag

namespace ormap {

m::Response state(std::initializer_list<std::pair<std::string, m::Response>> entries = {}) {
  m::State s;
  auto* value = s.mutable_ormap();
  for (const auto& [key, entry_value] : entries) {
    auto* entry = value->add_entries();
    entry->set_key(key);
    if (entry_value.has_state())
      *entry->mutable_value() = entry_value.state();
  }
  return response(s);
}

m::RequestAction action(const m::ORMapUpdate& update) {
  m::Update u;
  *u.mutable_ormap() = update;
  return request_update(u);
}

actions add(std::initializer_list<std::string> keys) {
  actions result;
  for (const auto& key : keys) {
    m::ORMapUpdate update;
    update.set_add(key);
    result.push_back(action(update));
  }
  return result;
}

// One map update per request action of each entry's value.
actions update_with(std::initializer_list<std::pair<std::string, actions>> entries) {
  actions result;
  for (const auto& [key, value_actions] : entries)
    for (const auto& a : value_actions) {
      m::ORMapUpdate update;
      update.mutable_update()->set_key(key);
      *update.mutable_update()->mutable_update() = a.update();
      result.push_back(action(update));
    }
  return result;
}

actions remove(std::initializer_list<std::string> keys) {
  actions result;
  for (const auto& key : keys) {
    m::ORMapUpdate update;
    update.set_remove(key);
    result.push_back(action(update));
  }
  return result;
}

actions clear(bool value = true) {
  m::ORMapUpdate update;
  update.set_clear(value);
  return {action(update)};
}

// A map entry's delta, given as a delta (ORMap.delta) or as the update effects of the value's CRDT (ORMap.update).
struct entry {
  std::string key;
  pcr::CrdtDelta delta;

  entry(std::string k, pcr::CrdtDelta d) : key(std::move(k)), delta(std::move(d)) {}
  entry(std::string k, const effects& e) : key(std::move(k)) {
    REQUIRE((e.state_action && e.state_action->has_update()));
    delta = e.state_action->update();
  }
};

// ORMap.delta / ORMap.update's named arguments.
struct change {
  bool cleared = false;
  std::vector<std::string> removed;
  std::vector<entry> updated;
  std::vector<entry> added;
};

pcr::CrdtDelta delta(const change& c = {}) {
  pcr::CrdtDelta d;
  auto* ormap = d.mutable_ormap();
  ormap->set_cleared(c.cleared);
  for (const auto& key : c.removed)
    *ormap->add_removed() = primitive_string(key);
  for (const auto& e : c.updated) {
    auto* updated = ormap->add_updated();
    *updated->mutable_key() = primitive_string(e.key);
    *updated->mutable_delta() = e.delta;
  }
  for (const auto& e : c.added) {
    auto* added = ormap->add_added();
    *added->mutable_key() = primitive_string(e.key);
    *added->mutable_delta() = e.delta;
  }
  return d;
}

effects update(const change& c = {}) {
  return crdt_update(delta(c));
}

}  // namespace ormap

namespace vote {

m::Response state(bool self_vote, int32_t votes_for, int32_t total_voters) {
  m::State s;
  auto* value = s.mutable_vote();
  value->set_self_vote(self_vote);
  value->set_votes_for(votes_for);
  value->set_total_voters(total_voters);
  return response(s);
}

m::Update update_with(bool vote) {
  m::Update u;
  u.mutable_vote()->set_self_vote(vote);
  return u;
}

actions self(bool vote) {
  return {request_update(update_with(vote))};
}

pcr::CrdtDelta delta(bool self_vote, int32_t votes_for = 0, int32_t total_voters = 0) {
  pcr::CrdtDelta d;
  auto* value = d.mutable_vote();
  value->set_self_vote(self_vote);
  value->set_votes_for(votes_for);
  value->set_total_voters(total_voters);
  return d;
}

effects update(bool self_vote) {
  return crdt_update(delta(self_vote));
}

}  // namespace vote

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

// "verify CRDT entity discovery"
TEST_CASE("crdt.discovery") {
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

// "verify CRDT configured entity"
TEST_CASE("crdt.configured_entity") {
  CHECK(contains(tck::discovered_services(), service_configured));
  const auto* configured = tck::discovered_entity(service_configured);
  REQUIRE(configured != nullptr);
  CHECK(configured->entity_type() == protocol);
  cloudstate::EntityPassivationStrategy expected;
  expected.mutable_timeout()->set_timeout(100);
  REQUIRE(configured->has_passivation_strategy());
  tck::check_equal(configured->passivation_strategy(), expected);
}

// GCounter

// "verify GCounter initial empty state"
TEST_CASE("crdt.gcounter.initial_empty_state") {
  const std::string id = "GCounter-initial-empty-state";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id)))
      .expect(reply(1, gcounter::state(0)))
      .passivate();
}

// "verify GCounter state changes"
TEST_CASE("crdt.gcounter.state_changes") {
  const std::string id = "GCounter-state-changes";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, gcounter::increment_by({42}))))
      .expect(reply(1, gcounter::state(42), gcounter::update(42)))
      .send(command(2, id, "Process", request(id, gcounter::increment_by({1, 2, 3}))))
      .expect(reply(2, gcounter::state(48), gcounter::update(6)))
      .passivate();
}

// "verify GCounter initial delta in init"
TEST_CASE("crdt.gcounter.initial_delta_in_init") {
  const std::string id = "GCounter-initial-delta-in-init";
  connect()
      .send(init(service, id, gcounter::delta(42)))
      .send(command(1, id, "Process", request(id, gcounter::increment_by({123}))))
      .expect(reply(1, gcounter::state(165), gcounter::update(123)))
      .passivate();
}

// "verify GCounter initial empty state with replicated initial delta"
TEST_CASE("crdt.gcounter.replicated_initial_delta") {
  const std::string id = "GCounter-replicated-initial-delta";
  connect()
      .send(init(service, id))
      .send(delta(gcounter::delta(42)))
      .send(command(1, id, "Process", request(id, gcounter::increment_by({123}))))
      .expect(reply(1, gcounter::state(165), gcounter::update(123)))
      .passivate();
}

// "verify GCounter mix of local and replicated state changes"
TEST_CASE("crdt.gcounter.local_and_replicated_changes") {
  const std::string id = "GCounter-local-and-replicated-changes";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, gcounter::increment_by({1}))))
      .expect(reply(1, gcounter::state(1), gcounter::update(1)))
      .send(delta(gcounter::delta(2)))
      .send(delta(gcounter::delta(3)))
      .send(command(2, id, "Process", request(id)))
      .expect(reply(2, gcounter::state(6)))
      .send(command(3, id, "Process", request(id, gcounter::increment_by({4}))))
      .expect(reply(3, gcounter::state(10), gcounter::update(4)))
      .send(delta(gcounter::delta(5)))
      .send(command(4, id, "Process", request(id, gcounter::increment_by({6}))))
      .expect(reply(4, gcounter::state(21), gcounter::update(6)))
      .passivate();
}

// "verify GCounter rehydration after passivation"
TEST_CASE("crdt.gcounter.rehydration_after_passivation") {
  const std::string id = "GCounter-rehydration-after-passivation";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, gcounter::increment_by({1}))))
      .expect(reply(1, gcounter::state(1), gcounter::update(1)))
      .send(delta(gcounter::delta(2)))
      .send(command(2, id, "Process", request(id)))
      .expect(reply(2, gcounter::state(3)))
      .send(command(3, id, "Process", request(id, gcounter::increment_by({3}))))
      .expect(reply(3, gcounter::state(6), gcounter::update(3)))
      .passivate();
  connect()
      .send(init(service, id, gcounter::delta(6)))
      .send(command(1, id, "Process", request(id)))
      .expect(reply(1, gcounter::state(6)))
      .send(delta(gcounter::delta(4)))
      .send(command(2, id, "Process", request(id, gcounter::increment_by({5}))))
      .expect(reply(2, gcounter::state(15), gcounter::update(5)))
      .passivate();
}

// "verify GCounter delete action received from entity"
TEST_CASE("crdt.gcounter.delete_from_entity") {
  const std::string id = "GCounter-delete-from-entity";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, gcounter::increment_by({42}))))
      .expect(reply(1, gcounter::state(42), gcounter::update(42)))
      .send(command(2, id, "Process", request(id, {request_delete()})))
      .expect(reply(2, gcounter::state(42), delete_crdt()))
      .passivate();
}

// "verify GCounter delete action sent to entity"
TEST_CASE("crdt.gcounter.delete_sent_to_entity") {
  const std::string id = "GCounter-delete-sent-to-entity";
  connect().send(init(service, id)).send(deleted()).passivate();
}

// PNCounter

// "verify PNCounter initial empty state"
TEST_CASE("crdt.pncounter.initial_empty_state") {
  const std::string id = "PNCounter-initial-empty-state";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id)))
      .expect(reply(1, pncounter::state(0)))
      .passivate();
}

// "verify PNCounter state changes"
TEST_CASE("crdt.pncounter.state_changes") {
  const std::string id = "PNCounter-state-changes";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, pncounter::change_by({+1, -2, +3}))))
      .expect(reply(1, pncounter::state(+2), pncounter::update(+2)))
      .send(command(2, id, "Process", request(id, pncounter::change_by({-4, +5, -6}))))
      .expect(reply(2, pncounter::state(-3), pncounter::update(-5)))
      .passivate();
}

// "verify PNCounter initial delta in init"
TEST_CASE("crdt.pncounter.initial_delta_in_init") {
  const std::string id = "PNCounter-initial-delta-in-init";
  connect()
      .send(init(service, id, pncounter::delta(42)))
      .send(command(1, id, "Process", request(id, pncounter::change_by({-123}))))
      .expect(reply(1, pncounter::state(-81), pncounter::update(-123)))
      .passivate();
}

// "verify PNCounter initial empty state with replicated initial delta"
TEST_CASE("crdt.pncounter.replicated_initial_delta") {
  const std::string id = "PNCounter-replicated-initial-delta";
  connect()
      .send(init(service, id))
      .send(delta(pncounter::delta(-42)))
      .send(command(1, id, "Process", request(id, pncounter::change_by({+123}))))
      .expect(reply(1, pncounter::state(81), pncounter::update(+123)))
      .passivate();
}

// "verify PNCounter mix of local and replicated state changes"
TEST_CASE("crdt.pncounter.local_and_replicated_changes") {
  const std::string id = "PNCounter-local-and-replicated-changes";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, pncounter::change_by({+1}))))
      .expect(reply(1, pncounter::state(+1), pncounter::update(+1)))
      .send(delta(pncounter::delta(-2)))
      .send(delta(pncounter::delta(+3)))
      .send(command(2, id, "Process", request(id)))
      .expect(reply(2, pncounter::state(+2)))
      .send(command(3, id, "Process", request(id, pncounter::change_by({-4}))))
      .expect(reply(3, pncounter::state(-2), pncounter::update(-4)))
      .send(delta(pncounter::delta(+5)))
      .send(command(4, id, "Process", request(id, pncounter::change_by({-6}))))
      .expect(reply(4, pncounter::state(-3), pncounter::update(-6)))
      .passivate();
}

// "verify PNCounter rehydration after passivation"
TEST_CASE("crdt.pncounter.rehydration_after_passivation") {
  const std::string id = "PNCounter-rehydration-after-passivation";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, pncounter::change_by({+1}))))
      .expect(reply(1, pncounter::state(+1), pncounter::update(+1)))
      .send(delta(pncounter::delta(-2)))
      .send(command(2, id, "Process", request(id)))
      .expect(reply(2, pncounter::state(-1)))
      .send(command(3, id, "Process", request(id, pncounter::change_by({+3}))))
      .expect(reply(3, pncounter::state(+2), pncounter::update(+3)))
      .passivate();
  connect()
      .send(init(service, id, pncounter::delta(+2)))
      .send(command(1, id, "Process", request(id)))
      .expect(reply(1, pncounter::state(+2)))
      .send(delta(pncounter::delta(-4)))
      .send(command(2, id, "Process", request(id, pncounter::change_by({+5}))))
      .expect(reply(2, pncounter::state(+3), pncounter::update(+5)))
      .passivate();
}

// "verify PNCounter delete action received from entity"
TEST_CASE("crdt.pncounter.delete_from_entity") {
  const std::string id = "PNCounter-delete-from-entity";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, pncounter::change_by({+42}))))
      .expect(reply(1, pncounter::state(+42), pncounter::update(+42)))
      .send(command(2, id, "Process", request(id, {request_delete()})))
      .expect(reply(2, pncounter::state(+42), delete_crdt()))
      .passivate();
}

// "verify PNCounter delete action sent to entity"
TEST_CASE("crdt.pncounter.delete_sent_to_entity") {
  const std::string id = "PNCounter-delete-sent-to-entity";
  connect().send(init(service, id)).send(deleted()).passivate();
}

// GSet

// "verify GSet initial empty state"
TEST_CASE("crdt.gset.initial_empty_state") {
  const std::string id = "GSet-initial-empty-state";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id)))
      .expect(reply(1, gset::state()))
      .passivate();
}

// "verify GSet state changes"
TEST_CASE("crdt.gset.state_changes") {
  const std::string id = "GSet-state-changes";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, gset::add({"a", "b"}))))
      .expect(reply(1, gset::state({"a", "b"}), gset::update({"a", "b"})), sorted)
      .send(command(2, id, "Process", request(id, gset::add({"b", "c"}))))
      .expect(reply(2, gset::state({"a", "b", "c"}), gset::update({"c"})))
      .send(command(3, id, "Process", request(id, gset::add({"c", "a"}))))
      .expect(reply(3, gset::state({"a", "b", "c"})))
      .passivate();
}

// "verify GSet initial delta in init"
TEST_CASE("crdt.gset.initial_delta_in_init") {
  const std::string id = "GSet-initial-delta-in-init";
  connect()
      .send(init(service, id, gset::delta({"a", "b", "c"})))
      .send(command(1, id, "Process", request(id, gset::add({"c", "d", "e"}))))
      .expect(reply(1, gset::state({"a", "b", "c", "d", "e"}), gset::update({"d", "e"})), sorted)
      .passivate();
}

// "verify GSet initial empty state with replicated initial delta"
TEST_CASE("crdt.gset.replicated_initial_delta") {
  const std::string id = "GSet-replicated-initial-delta";
  connect()
      .send(init(service, id))
      .send(delta(gset::delta({"x", "y"})))
      .send(command(1, id, "Process", request(id, gset::add({"z"}))))
      .expect(reply(1, gset::state({"x", "y", "z"}), gset::update({"z"})))
      .passivate();
}

// "verify GSet mix of local and replicated state changes"
TEST_CASE("crdt.gset.local_and_replicated_changes") {
  const std::string id = "GSet-local-and-replicated-changes";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, gset::add({"a"}))))
      .expect(reply(1, gset::state({"a"}), gset::update({"a"})))
      .send(delta(gset::delta({"a"})))
      .send(delta(gset::delta({"b"})))
      .send(delta(gset::delta({"c"})))
      .send(command(2, id, "Process", request(id)))
      .expect(reply(2, gset::state({"a", "b", "c"})))
      .send(command(3, id, "Process", request(id, gset::add({"c", "d", "e"}))))
      .expect(reply(3, gset::state({"a", "b", "c", "d", "e"}), gset::update({"d", "e"})), sorted)
      .send(delta(gset::delta({"f"})))
      .send(command(4, id, "Process", request(id, gset::add({"g", "d", "b"}))))
      .expect(reply(4, gset::state({"a", "b", "c", "d", "e", "f", "g"}), gset::update({"g"})))
      .passivate();
}

// "verify GSet rehydration after passivation"
TEST_CASE("crdt.gset.rehydration_after_passivation") {
  const std::string id = "GSet-rehydration-after-passivation";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, gset::add({"a"}))))
      .expect(reply(1, gset::state({"a"}), gset::update({"a"})))
      .send(delta(gset::delta({"b"})))
      .send(command(2, id, "Process", request(id)))
      .expect(reply(2, gset::state({"a", "b"})))
      .send(command(3, id, "Process", request(id, gset::add({"c"}))))
      .expect(reply(3, gset::state({"a", "b", "c"}), gset::update({"c"})))
      .passivate();
  connect()
      .send(init(service, id, gset::delta({"a", "b", "c"})))
      .send(command(1, id, "Process", request(id)))
      .expect(reply(1, gset::state({"a", "b", "c"})))
      .send(delta(gset::delta({"d"})))
      .send(command(2, id, "Process", request(id, gset::add({"e"}))))
      .expect(reply(2, gset::state({"a", "b", "c", "d", "e"}), gset::update({"e"})))
      .passivate();
}

// "verify GSet delete action received from entity"
TEST_CASE("crdt.gset.delete_from_entity") {
  const std::string id = "GSet-delete-from-entity";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, gset::add({"x"}))))
      .expect(reply(1, gset::state({"x"}), gset::update({"x"})))
      .send(command(2, id, "Process", request(id, {request_delete()})))
      .expect(reply(2, gset::state({"x"}), delete_crdt()))
      .passivate();
}

// "verify GSet delete action sent to entity"
TEST_CASE("crdt.gset.delete_sent_to_entity") {
  const std::string id = "GSet-delete-sent-to-entity";
  connect().send(init(service, id)).send(deleted()).passivate();
}

// ORSet

// "verify ORSet initial empty state"
TEST_CASE("crdt.orset.initial_empty_state") {
  const std::string id = "ORSet-initial-empty-state";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id)))
      .expect(reply(1, orset::state()))
      .passivate();
}

// "verify ORSet state changes"
TEST_CASE("crdt.orset.state_changes") {
  const std::string id = "ORSet-state-changes";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, orset::add({"a", "b"}))))
      .expect(reply(1, orset::state({"a", "b"}), orset::update({.added = {"a", "b"}})), sorted)
      .send(command(2, id, "Process", request(id, orset::add({"b", "c"}))))
      .expect(reply(2, orset::state({"a", "b", "c"}), orset::update({.added = {"c"}})))
      .send(command(3, id, "Process", request(id, orset::add({"c", "a"}))))
      .expect(reply(3, orset::state({"a", "b", "c"})))
      .send(command(4, id, "Process", request(id, orset::remove({"b", "d"}))))
      .expect(reply(4, orset::state({"a", "c"}), orset::update({.removed = {"b"}})))
      .send(command(5, id, "Process", request(id, orset::remove({"c", "d"}) + orset::add({"b", "c"}))))
      .expect(reply(5, orset::state({"a", "b", "c"}), orset::update({.added = {"b"}})))
      .send(command(6, id, "Process", request(id, orset::clear())))
      .expect(reply(6, orset::state(), orset::update({.cleared = true})))
      .send(command(7, id, "Process", request(id, orset::add({"a"}) + orset::clear() + orset::add({"x"}))))
      .expect(reply(7, orset::state({"x"}), orset::update({.cleared = true, .added = {"x"}})))
      .passivate();
}

// "verify ORSet initial delta in init"
TEST_CASE("crdt.orset.initial_delta_in_init") {
  const std::string id = "ORSet-initial-delta-in-init";
  connect()
      .send(init(service, id, orset::delta({.added = {"a", "b", "c"}})))
      .send(command(1, id, "Process", request(id, orset::remove({"c"}) + orset::add({"d"}))))
      .expect(reply(1, orset::state({"a", "b", "d"}), orset::update({.removed = {"c"}, .added = {"d"}})))
      .passivate();
}

// "verify ORSet initial empty state with replicated initial delta"
TEST_CASE("crdt.orset.replicated_initial_delta") {
  const std::string id = "ORSet-replicated-initial-delta";
  connect()
      .send(init(service, id))
      .send(delta(orset::delta({.added = {"x", "y"}})))
      .send(command(1, id, "Process", request(id, orset::remove({"x"}) + orset::add({"z"}))))
      .expect(reply(1, orset::state({"y", "z"}), orset::update({.removed = {"x"}, .added = {"z"}})))
      .passivate();
}

// "verify ORSet mix of local and replicated state changes"
TEST_CASE("crdt.orset.local_and_replicated_changes") {
  const std::string id = "ORSet-local-and-replicated-changes";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, orset::add({"a"}))))
      .expect(reply(1, orset::state({"a"}), orset::update({.added = {"a"}})))
      .send(delta(orset::delta({.added = {"a", "b"}})))
      .send(delta(orset::delta({.added = {"c", "d"}})))
      .send(delta(orset::delta({.removed = {"b", "d"}})))
      .send(command(2, id, "Process", request(id)))
      .expect(reply(2, orset::state({"a", "c"})))
      .send(command(3, id, "Process", request(id, orset::add({"c", "d", "e"}))))
      .expect(reply(3, orset::state({"a", "c", "d", "e"}), orset::update({.added = {"d", "e"}})), sorted)
      .send(delta(orset::delta({.removed = {"a", "c"}, .added = {"f"}})))
      .send(command(4, id, "Process", request(id, orset::add({"g"}) + orset::remove({"a", "d"}))))
      .expect(reply(4, orset::state({"e", "f", "g"}), orset::update({.removed = {"d"}, .added = {"g"}})))
      .send(delta(orset::delta({.cleared = true, .added = {"x", "y", "z"}})))
      .send(command(5, id, "Process", request(id, orset::add({"q", "x"}) + orset::remove({"z"}))))
      .expect(reply(5, orset::state({"q", "x", "y"}), orset::update({.removed = {"z"}, .added = {"q"}})))
      .send(delta(orset::delta({.removed = {"x", "y"}, .added = {"r", "p"}})))
      .send(command(6, id, "Process", request(id, orset::add({"s"}))))
      .expect(reply(6, orset::state({"p", "q", "r", "s"}), orset::update({.added = {"s"}})))
      .send(delta(orset::delta({.added = {"a", "b", "c"}})))
      .send(command(7, id, "Process", request(id, orset::clear() + orset::add({"abc"}))))
      .expect(reply(7, orset::state({"abc"}), orset::update({.cleared = true, .added = {"abc"}})))
      .passivate();
}

// "verify ORSet rehydration after passivation"
TEST_CASE("crdt.orset.rehydration_after_passivation") {
  const std::string id = "ORSet-rehydration-after-passivation";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, orset::add({"a"}))))
      .expect(reply(1, orset::state({"a"}), orset::update({.added = {"a"}})))
      .send(delta(orset::delta({.removed = {"a"}, .added = {"b"}})))
      .send(command(2, id, "Process", request(id)))
      .expect(reply(2, orset::state({"b"})))
      .send(command(3, id, "Process", request(id, orset::add({"c"}))))
      .expect(reply(3, orset::state({"b", "c"}), orset::update({.added = {"c"}})))
      .passivate();
  connect()
      .send(init(service, id, orset::delta({.added = {"b", "c"}})))
      .send(command(1, id, "Process", request(id)))
      .expect(reply(1, orset::state({"b", "c"})))
      .send(delta(orset::delta({.cleared = true, .added = {"p", "q"}})))
      .send(command(2, id, "Process", request(id, orset::add({"x", "y"}) + orset::remove({"x"}))))
      .expect(reply(2, orset::state({"p", "q", "y"}), orset::update({.added = {"y"}})))
      .passivate();
}

// "verify ORSet delete action received from entity"
TEST_CASE("crdt.orset.delete_from_entity") {
  const std::string id = "ORSet-delete-from-entity";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, orset::add({"x"}))))
      .expect(reply(1, orset::state({"x"}), orset::update({.added = {"x"}})))
      .send(command(2, id, "Process", request(id, {request_delete()})))
      .expect(reply(2, orset::state({"x"}), delete_crdt()))
      .passivate();
}

// "verify ORSet delete action sent to entity"
TEST_CASE("crdt.orset.delete_sent_to_entity") {
  const std::string id = "ORSet-delete-sent-to-entity";
  connect().send(init(service, id)).send(deleted()).passivate();
}

// LWWRegister

// "verify LWWRegister initial empty state"
TEST_CASE("crdt.lwwregister.initial_empty_state") {
  const std::string id = "LWWRegister-initial-empty-state";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id)))
      .expect(reply(1, lwwregister::state(""), lwwregister::update("")))
      .passivate();
}

// "verify LWWRegister state changes"
TEST_CASE("crdt.lwwregister.state_changes") {
  const std::string id = "LWWRegister-state-changes";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, lwwregister::set_to("one"))))
      .expect(reply(1, lwwregister::state("one"), lwwregister::update("one")))
      .send(command(2, id, "Process", request(id, lwwregister::set_to("two"))))
      .expect(reply(2, lwwregister::state("two"), lwwregister::update("two")))
      .passivate();
}

// "verify LWWRegister initial delta in init"
TEST_CASE("crdt.lwwregister.initial_delta_in_init") {
  const std::string id = "LWWRegister-initial-delta-in-init";
  connect()
      .send(init(service, id, lwwregister::delta("one")))
      .send(command(1, id, "Process", request(id)))
      .expect(reply(1, lwwregister::state("one")))
      .passivate();
}

// "verify LWWRegister initial empty state with replicated initial delta"
TEST_CASE("crdt.lwwregister.replicated_initial_delta") {
  const std::string id = "LWWRegister-replicated-initial-delta";
  connect()
      .send(init(service, id))
      .send(delta(lwwregister::delta("one")))
      .send(command(1, id, "Process", request(id)))
      .expect(reply(1, lwwregister::state("one")))
      .passivate();
}

// "verify LWWRegister mix of local and replicated state changes"
TEST_CASE("crdt.lwwregister.local_and_replicated_changes") {
  const std::string id = "LWWRegister-local-and-replicated-changes";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, lwwregister::set_to("A"))))
      .expect(reply(1, lwwregister::state("A"), lwwregister::update("A")))
      .send(delta(lwwregister::delta("B")))
      .send(delta(lwwregister::delta("C")))
      .send(command(2, id, "Process", request(id)))
      .expect(reply(2, lwwregister::state("C")))
      .send(command(3, id, "Process", request(id, lwwregister::set_to("D"))))
      .expect(reply(3, lwwregister::state("D"), lwwregister::update("D")))
      .send(delta(lwwregister::delta("D")))
      .send(command(4, id, "Process", request(id, lwwregister::set_to("E"))))
      .expect(reply(4, lwwregister::state("E"), lwwregister::update("E")))
      .passivate();
}

// "verify LWWRegister state changes with clock settings" (the TCK reuses command id 2 for the third command; so
// does this port)
TEST_CASE("crdt.lwwregister.state_changes_with_clock_settings") {
  const std::string id = "LWWRegister-state-changes-with-clock-settings";
  using clock_type = m::LWWRegisterClockType;
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, lwwregister::set_to("A", clock_type::REVERSE))))
      .expect(reply(1, lwwregister::state("A"), lwwregister::update("A", pcr::CrdtClock::REVERSE)))
      .send(command(2, id, "Process", request(id, lwwregister::set_to("A", clock_type::CUSTOM, 123))))
      .expect(reply(2, lwwregister::state("A"), lwwregister::update("A", pcr::CrdtClock::CUSTOM, 123)))
      .send(command(2, id, "Process", request(id, lwwregister::set_to("A", clock_type::CUSTOM_AUTO_INCREMENT, 456))))
      .expect(reply(2, lwwregister::state("A"), lwwregister::update("A", pcr::CrdtClock::CUSTOM_AUTO_INCREMENT, 456)))
      .passivate();
}

// "verify LWWRegister rehydration after passivation"
TEST_CASE("crdt.lwwregister.rehydration_after_passivation") {
  const std::string id = "LWWRegister-rehydration-after-passivation";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, lwwregister::set_to("A"))))
      .expect(reply(1, lwwregister::state("A"), lwwregister::update("A")))
      .send(delta(lwwregister::delta("B")))
      .send(command(2, id, "Process", request(id)))
      .expect(reply(2, lwwregister::state("B")))
      .send(command(3, id, "Process", request(id, lwwregister::set_to("C"))))
      .expect(reply(3, lwwregister::state("C"), lwwregister::update("C")))
      .passivate();
  connect()
      .send(init(service, id, lwwregister::delta("C")))
      .send(command(1, id, "Process", request(id)))
      .expect(reply(1, lwwregister::state("C")))
      .send(delta(lwwregister::delta("D")))
      .send(command(2, id, "Process", request(id, lwwregister::set_to("E"))))
      .expect(reply(2, lwwregister::state("E"), lwwregister::update("E")))
      .passivate();
}

// "verify LWWRegister delete action received from entity"
TEST_CASE("crdt.lwwregister.delete_from_entity") {
  const std::string id = "LWWRegister-delete-from-entity";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, lwwregister::set_to("one"))))
      .expect(reply(1, lwwregister::state("one"), lwwregister::update("one")))
      .send(command(2, id, "Process", request(id, {request_delete()})))
      .expect(reply(2, lwwregister::state("one"), delete_crdt()))
      .passivate();
}

// "verify LWWRegister delete action sent to entity"
TEST_CASE("crdt.lwwregister.delete_sent_to_entity") {
  const std::string id = "LWWRegister-delete-sent-to-entity";
  connect().send(init(service, id)).send(deleted()).passivate();
}

// Flag

// "verify Flag initial empty state"
TEST_CASE("crdt.flag.initial_empty_state") {
  const std::string id = "Flag-initial-empty-state";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id)))
      .expect(reply(1, flag::state(false)))
      .passivate();
}

// "verify Flag state changes"
TEST_CASE("crdt.flag.state_changes") {
  const std::string id = "Flag-state-changes";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, flag::enable())))
      .expect(reply(1, flag::state(true), flag::update(true)))
      .passivate();
}

// "verify Flag initial delta in init"
TEST_CASE("crdt.flag.initial_delta_in_init") {
  const std::string id = "Flag-initial-delta-in-init";
  connect()
      .send(init(service, id, flag::delta(false)))
      .send(command(1, id, "Process", request(id)))
      .expect(reply(1, flag::state(false)))
      .passivate();
  connect()
      .send(init(service, id, flag::delta(true)))
      .send(command(1, id, "Process", request(id)))
      .expect(reply(1, flag::state(true)))
      .passivate();
}

// "verify Flag initial empty state with replicated initial delta"
TEST_CASE("crdt.flag.replicated_initial_delta") {
  const std::string id = "Flag-replicated-initial-delta";
  connect()
      .send(init(service, id))
      .send(delta(flag::delta(false)))
      .send(command(1, id, "Process", request(id)))
      .expect(reply(1, flag::state(false)))
      .passivate();
  connect()
      .send(init(service, id))
      .send(delta(flag::delta(true)))
      .send(command(1, id, "Process", request(id)))
      .expect(reply(1, flag::state(true)))
      .passivate();
}

// "verify Flag mix of local and replicated state changes"
TEST_CASE("crdt.flag.local_and_replicated_changes") {
  const std::string id = "Flag-local-and-replicated-changes";
  connect()
      .send(init(service, id))
      .send(delta(flag::delta(false)))
      .send(command(1, id, "Process", request(id)))
      .expect(reply(1, flag::state(false)))
      .send(command(2, id, "Process", request(id, flag::enable())))
      .expect(reply(2, flag::state(true), flag::update(true)))
      .send(delta(flag::delta(true)))
      .send(delta(flag::delta(false)))
      .send(command(3, id, "Process", request(id)))
      .expect(reply(3, flag::state(true)))
      .passivate();
  connect()
      .send(init(service, id))
      .send(delta(flag::delta(true)))
      .send(command(1, id, "Process", request(id)))
      .expect(reply(1, flag::state(true)))
      .send(command(2, id, "Process", request(id, flag::enable())))
      .expect(reply(2, flag::state(true)))
      .send(delta(flag::delta(true)))
      .send(delta(flag::delta(false)))
      .send(command(3, id, "Process", request(id)))
      .expect(reply(3, flag::state(true)))
      .passivate();
}

// "verify Flag rehydration after passivation"
TEST_CASE("crdt.flag.rehydration_after_passivation") {
  const std::string id = "Flag-rehydration-after-passivation";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id)))
      .expect(reply(1, flag::state(false)))
      .send(command(2, id, "Process", request(id, flag::enable())))
      .expect(reply(2, flag::state(true), flag::update(true)))
      .passivate();
  connect()
      .send(init(service, id, flag::delta(true)))
      .send(command(1, id, "Process", request(id)))
      .expect(reply(1, flag::state(true)))
      .passivate();
}

// "verify Flag delete action received from entity"
TEST_CASE("crdt.flag.delete_from_entity") {
  const std::string id = "Flag-delete-from-entity";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, flag::enable())))
      .expect(reply(1, flag::state(true), flag::update(true)))
      .send(command(2, id, "Process", request(id, {request_delete()})))
      .expect(reply(2, flag::state(true), delete_crdt()))
      .passivate();
}

// "verify Flag delete action sent to entity"
TEST_CASE("crdt.flag.delete_sent_to_entity") {
  const std::string id = "Flag-delete-sent-to-entity";
  connect().send(init(service, id)).send(deleted()).passivate();
}

// ORMap

// "verify ORMap initial empty state"
TEST_CASE("crdt.ormap.initial_empty_state") {
  const std::string id = "ORMap-initial-empty-state";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id)))
      .expect(reply(1, ormap::state()))
      .passivate();
}

// "verify ORMap state changes"
TEST_CASE("crdt.ormap.state_changes") {
  const std::string id = "ORMap-state-changes";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, ormap::add({"PNCounter-1", "ORSet-1"}))))
      .expect(reply(1, ormap::state({{"ORSet-1", orset::state()}, {"PNCounter-1", pncounter::state(0)}}),
                    ormap::update({.added = {{"ORSet-1", orset::update()}, {"PNCounter-1", pncounter::update(0)}}})),
              sorted)
      .send(command(
          2, id, "Process",
          request(id, ormap::add({"ORSet-1"}) + ormap::update_with({{"LWWRegister-1", lwwregister::set_to("zero")}}))))
      .expect(reply(2,
                    ormap::state({{"LWWRegister-1", lwwregister::state("zero")},
                                  {"ORSet-1", orset::state()},
                                  {"PNCounter-1", pncounter::state(0)}}),
                    ormap::update({.added = {{"LWWRegister-1", lwwregister::update("zero")}}})),
              sorted)
      .send(command(3, id, "Process",
                    request(id, ormap::update_with({{"PNCounter-1", pncounter::change_by({+42})},
                                                    {"LWWRegister-1", lwwregister::set_to("one")}}))))
      .expect(reply(3,
                    ormap::state({{"LWWRegister-1", lwwregister::state("one")},
                                  {"ORSet-1", orset::state()},
                                  {"PNCounter-1", pncounter::state(+42)}}),
                    ormap::update({.updated = {{"LWWRegister-1", lwwregister::update("one")},
                                               {"PNCounter-1", pncounter::update(+42)}}})),
              sorted)
      .send(command(4, id, "Process", request(id, ormap::update_with({{"ORSet-1", orset::add({"a", "b", "c"})}}))))
      .expect(reply(4,
                    ormap::state({{"LWWRegister-1", lwwregister::state("one")},
                                  {"ORSet-1", orset::state({"a", "b", "c"})},
                                  {"PNCounter-1", pncounter::state(+42)}}),
                    ormap::update({.updated = {{"ORSet-1", orset::update({.added = {"a", "b", "c"}})}}})),
              sorted)
      .send(command(5, id, "Process",
                    request(id, ormap::update_with({{"ORSet-1", orset::remove({"b"}) + orset::add({"d"})},
                                                    {"PNCounter-1", pncounter::change_by({-123})},
                                                    {"LWWRegister-1", lwwregister::set_to("two")}}))))
      .expect(reply(5,
                    ormap::state({{"LWWRegister-1", lwwregister::state("two")},
                                  {"ORSet-1", orset::state({"a", "c", "d"})},
                                  {"PNCounter-1", pncounter::state(-81)}}),
                    ormap::update({.updated = {{"LWWRegister-1", lwwregister::update("two")},
                                               {"ORSet-1", orset::update({.removed = {"b"}, .added = {"d"}})},
                                               {"PNCounter-1", pncounter::update(-123)}}})),
              sorted)
      .send(command(6, id, "Process", request(id, ormap::remove({"ORSet-1"}))))
      .expect(
          reply(6, ormap::state({{"LWWRegister-1", lwwregister::state("two")}, {"PNCounter-1", pncounter::state(-81)}}),
                ormap::update({.removed = {"ORSet-1"}})),
          sorted)
      .send(command(7, id, "Process",
                    request(id, ormap::remove({"LWWRegister-1"}) + ormap::update_with({{"Flag-1", flag::enable()}}))))
      .expect(reply(7, ormap::state({{"Flag-1", flag::state(true)}, {"PNCounter-1", pncounter::state(-81)}}),
                    ormap::update({.removed = {"LWWRegister-1"}, .added = {{"Flag-1", flag::update(true)}}})),
              sorted)
      .send(command(8, id, "Process", request(id, ormap::clear())))
      .expect(reply(8, ormap::state(), ormap::update({.cleared = true})))
      .send(command(9, id, "Process",
                    request(id, ormap::add({"PNCounter-2"}) + ormap::clear() +
                                    ormap::update_with({{"GCounter-1", gcounter::increment_by({123})}}))))
      .expect(reply(9, ormap::state({{"GCounter-1", gcounter::state(123)}}),
                    ormap::update({.cleared = true, .added = {{"GCounter-1", gcounter::update(123)}}})),
              sorted)
      .passivate();
}

// "verify ORMap initial delta in init"
TEST_CASE("crdt.ormap.initial_delta_in_init") {
  const std::string id = "ORMap-initial-delta-in-init";
  connect()
      .send(init(service, id,
                 ormap::delta({.added = {{"PNCounter-1", pncounter::delta(+123)},
                                         {"LWWRegister-1", lwwregister::delta("one")},
                                         {"GSet-1", gset::delta({"a", "b", "c"})}}})))
      .send(command(1, id, "Process", request(id)))
      .expect(reply(1, ormap::state({{"GSet-1", gset::state({"a", "b", "c"})},
                                     {"LWWRegister-1", lwwregister::state("one")},
                                     {"PNCounter-1", pncounter::state(+123)}})))
      .send(command(2, id, "Process",
                    request(id, ormap::remove({"LWWRegister-1"}) +
                                    ormap::update_with({{"PNCounter-1", pncounter::change_by({-42})}}))))
      .expect(
          reply(2, ormap::state({{"GSet-1", gset::state({"a", "b", "c"})}, {"PNCounter-1", pncounter::state(+81)}}),
                ormap::update({.removed = {"LWWRegister-1"}, .updated = {{"PNCounter-1", pncounter::update(-42)}}})),
          sorted)
      .passivate();
}

// "verify ORMap initial empty state with replicated initial delta"
TEST_CASE("crdt.ormap.replicated_initial_delta") {
  const std::string id = "ORMap-replicated-initial-delta";
  connect()
      .send(init(service, id))
      .send(delta(ormap::delta({.added = {{"GCounter-1", gcounter::delta(42)},
                                          {"ORSet-1", orset::delta({.added = {"a", "b", "c"}})},
                                          {"Flag-1", flag::delta(false)}}})))
      .send(command(1, id, "Process", request(id)))
      .expect(reply(1, ormap::state({{"Flag-1", flag::state(false)},
                                     {"GCounter-1", gcounter::state(42)},
                                     {"ORSet-1", orset::state({"a", "b", "c"})}})))
      .passivate();
}

// "verify ORMap mix of local and replicated state changes"
TEST_CASE("crdt.ormap.local_and_replicated_changes") {
  const std::string id = "ORMap-local-and-replicated-changes";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, ormap::add({"PNCounter-1"}))))
      .expect(reply(1, ormap::state({{"PNCounter-1", pncounter::state(0)}}),
                    ormap::update({.added = {{"PNCounter-1", pncounter::update(0)}}})),
              sorted)
      .send(delta(ormap::delta({.added = {{"ORSet-1", orset::delta({.added = {"x"}})}}})))
      .send(delta(ormap::delta({.updated = {{"ORSet-1", orset::delta({.added = {"y", "z"}})}},
                                .added = {{"LWWRegister-1", lwwregister::delta("one")}}})))
      .send(command(
          2, id, "Process",
          request(id, ormap::add({"ORSet-2"}) + ormap::update_with({{"LWWRegister-2", lwwregister::set_to("two")}}))))
      .expect(reply(2,
                    ormap::state({{"LWWRegister-1", lwwregister::state("one")},
                                  {"LWWRegister-2", lwwregister::state("two")},
                                  {"ORSet-1", orset::state({"x", "y", "z"})},
                                  {"ORSet-2", orset::state()},
                                  {"PNCounter-1", pncounter::state(0)}}),
                    ormap::update(
                        {.added = {{"LWWRegister-2", lwwregister::update("two")}, {"ORSet-2", orset::update()}}})),
              sorted)
      .send(command(3, id, "Process",
                    request(id, ormap::update_with({{"PNCounter-1", pncounter::change_by({+42})},
                                                    {"LWWRegister-1", lwwregister::set_to("ONE")}}))))
      .expect(reply(3,
                    ormap::state({{"LWWRegister-1", lwwregister::state("ONE")},
                                  {"LWWRegister-2", lwwregister::state("two")},
                                  {"ORSet-1", orset::state({"x", "y", "z"})},
                                  {"ORSet-2", orset::state()},
                                  {"PNCounter-1", pncounter::state(+42)}}),
                    ormap::update({.updated = {{"LWWRegister-1", lwwregister::update("ONE")},
                                               {"PNCounter-1", pncounter::update(+42)}}})),
              sorted)
      .send(delta(
          ormap::delta({.removed = {"LWWRegister-2"},
                        .added = {{"ORMap-1", ormap::delta({.added = {{"PNCounter-1", pncounter::delta(+123)}}})}}})))
      .send(delta(ormap::delta(
          {.removed = {"ORSet-1"},
           .updated = {{"ORSet-2", orset::delta({.added = {"a", "b", "c"}})},
                       {"ORMap-1", ormap::delta({.added = {{"LWWRegister-1", lwwregister::delta("ABC")}}})}}})))
      .send(
          command(4, id, "Process",
                  request(id, ormap::update_with(
                                  {{"ORMap-1", ormap::update_with({{"PNCounter-1", pncounter::change_by({-456})}})}}))))
      .expect(
          reply(4,
                ormap::state({{"LWWRegister-1", lwwregister::state("ONE")},
                              {"ORMap-1", ormap::state({{"LWWRegister-1", lwwregister::state("ABC")},
                                                        {"PNCounter-1", pncounter::state(-333)}})},
                              {"ORSet-2", orset::state({"a", "b", "c"})},
                              {"PNCounter-1", pncounter::state(+42)}}),
                ormap::update({.updated = {{"ORMap-1",
                                            ormap::update({.updated = {{"PNCounter-1", pncounter::update(-456)}}})}}})),
          sorted)
      .send(delta(ormap::delta({.cleared = true, .added = {{"GSet-1", gset::delta({"1", "2", "3"})}}})))
      .send(command(5, id, "Process",
                    request(id, ormap::remove({"PNCounter-1", "LWWRegister-1"}) +
                                    ormap::update_with({{"GSet-1", gset::add({"2", "4", "6"})}}))))
      .expect(reply(5, ormap::state({{"GSet-1", gset::state({"1", "2", "3", "4", "6"})}}),
                    ormap::update({.updated = {{"GSet-1", gset::update({"4", "6"})}}})),
              sorted)
      .send(command(6, id, "Process", request(id, ormap::clear() + ormap::add({"GCounter-1"}))))
      .expect(reply(6, ormap::state({{"GCounter-1", gcounter::state(0)}}),
                    ormap::update({.cleared = true, .added = {{"GCounter-1", gcounter::update(0)}}})))
      .send(delta(ormap::delta({.removed = {"GSet-1"}, .added = {{"GCounter-1", gcounter::delta(42)}}})))
      .send(command(7, id, "Process", request(id, ormap::update_with({{"GCounter-1", gcounter::increment_by({7})}}))))
      .expect(reply(7, ormap::state({{"GCounter-1", gcounter::state(49)}}),
                    ormap::update({.updated = {{"GCounter-1", gcounter::update(7)}}})))
      .passivate();
}

// "verify ORMap rehydration after passivation"
TEST_CASE("crdt.ormap.rehydration_after_passivation") {
  const std::string id = "ORMap-rehydration-after-passivation";
  connect()
      .send(init(service, id))
      .send(delta(ormap::delta({.added = {{"PNCounter-1", pncounter::delta(+123)}}})))
      .send(command(1, id, "Process", request(id, ormap::update_with({{"PNCounter-1", pncounter::change_by({+321})}}))))
      .expect(reply(1, ormap::state({{"PNCounter-1", pncounter::state(+444)}}),
                    ormap::update({.updated = {{"PNCounter-1", pncounter::update(+321)}}})))
      .passivate();
  connect()
      .send(init(service, id, ormap::delta({.added = {{"PNCounter-1", pncounter::delta(+444)}}})))
      .send(command(1, id, "Process", request(id)))
      .expect(reply(1, ormap::state({{"PNCounter-1", pncounter::state(+444)}})))
      .send(delta(ormap::delta({.updated = {{"PNCounter-1", pncounter::delta(-42)}}})))
      .send(command(2, id, "Process", request(id, ormap::update_with({{"PNCounter-1", pncounter::change_by({-360})}}))))
      .expect(reply(2, ormap::state({{"PNCounter-1", pncounter::state(+42)}}),
                    ormap::update({.updated = {{"PNCounter-1", pncounter::update(-360)}}})))
      .passivate();
}

// "verify ORMap delete action received from entity"
TEST_CASE("crdt.ormap.delete_from_entity") {
  const std::string id = "ORMap-delete-from-entity";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, ormap::add({"Flag-1"}))))
      .expect(reply(1, ormap::state({{"Flag-1", flag::state(false)}}),
                    ormap::update({.added = {{"Flag-1", flag::update(false)}}})))
      .send(command(2, id, "Process", request(id, ormap::update_with({{"Flag-1", flag::enable()}}) + request_delete())))
      .expect(reply(2, ormap::state({{"Flag-1", flag::state(true)}}), delete_crdt()))
      .passivate();
}

// "verify ORMap delete action sent to entity"
TEST_CASE("crdt.ormap.delete_sent_to_entity") {
  const std::string id = "ORMap-delete-sent-to-entity";
  connect().send(init(service, id)).send(deleted()).passivate();
}

// Vote

// "verify Vote initial empty state"
TEST_CASE("crdt.vote.initial_empty_state") {
  const std::string id = "Vote-initial-empty-state";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id)))
      .expect(reply(1, vote::state(false, 0, 1)))
      .passivate();
}

// "verify Vote state changes"
TEST_CASE("crdt.vote.state_changes") {
  const std::string id = "Vote-state-changes";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, vote::self(true))))
      .expect(reply(1, vote::state(true, 1, 1), vote::update(true)))
      .send(command(2, id, "Process", request(id, vote::self(true))))
      .expect(reply(2, vote::state(true, 1, 1)))
      .send(command(3, id, "Process", request(id, vote::self(false))))
      .expect(reply(3, vote::state(false, 0, 1), vote::update(false)))
      .send(command(4, id, "Process", request(id, vote::self(false))))
      .expect(reply(4, vote::state(false, 0, 1)))
      .passivate();
}

// "verify Vote initial delta in init"
TEST_CASE("crdt.vote.initial_delta_in_init") {
  const std::string id = "Vote-initial-delta-in-init";
  connect()
      .send(init(service, id, vote::delta(true, 2, 3)))
      .send(command(1, id, "Process", request(id)))
      .expect(reply(1, vote::state(true, 2, 3)))
      .send(command(2, id, "Process", request(id, vote::self(false))))
      .expect(reply(2, vote::state(false, 1, 3), vote::update(false)))
      .passivate();
}

// "verify Vote initial empty state with replicated initial delta"
TEST_CASE("crdt.vote.replicated_initial_delta") {
  const std::string id = "Vote-replicated-initial-delta";
  connect()
      .send(init(service, id))
      .send(delta(vote::delta(false, 3, 5)))
      .send(command(1, id, "Process", request(id)))
      .expect(reply(1, vote::state(false, 3, 5)))
      .send(command(2, id, "Process", request(id, vote::self(true))))
      .expect(reply(2, vote::state(true, 4, 5), vote::update(true)))
      .passivate();
}

// "verify Vote mix of local and replicated state changes"
TEST_CASE("crdt.vote.local_and_replicated_changes") {
  const std::string id = "Vote-local-and-replicated-changes";
  connect()
      .send(init(service, id))
      .send(delta(vote::delta(false, 2, 4)))
      .send(command(1, id, "Process", request(id)))
      .expect(reply(1, vote::state(false, 2, 4)))
      .send(command(2, id, "Process", request(id, vote::self(true))))
      .expect(reply(2, vote::state(true, 3, 4), vote::update(true)))
      .send(delta(vote::delta(true, 5, 7)))
      .send(delta(vote::delta(true, 4, 6)))
      .send(command(3, id, "Process", request(id, vote::self(false))))
      .expect(reply(3, vote::state(false, 3, 6), vote::update(false)))
      .passivate();
}

// "verify Vote rehydration after passivation"
TEST_CASE("crdt.vote.rehydration_after_passivation") {
  const std::string id = "Vote-rehydration-after-passivation";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id)))
      .expect(reply(1, vote::state(false, 0, 1)))
      .send(delta(vote::delta(false, 2, 5)))
      .send(command(2, id, "Process", request(id, vote::self(true))))
      .expect(reply(2, vote::state(true, 3, 5), vote::update(true)))
      .passivate();
  connect()
      .send(init(service, id, vote::delta(true, 3, 5)))
      .send(command(1, id, "Process", request(id)))
      .expect(reply(1, vote::state(true, 3, 5)))
      .send(command(2, id, "Process", request(id, vote::self(false))))
      .expect(reply(2, vote::state(false, 2, 5), vote::update(false)))
      .passivate();
}

// "verify Vote delete action received from entity"
TEST_CASE("crdt.vote.delete_from_entity") {
  const std::string id = "Vote-delete-from-entity";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, vote::self(true))))
      .expect(reply(1, vote::state(true, 1, 1), vote::update(true)))
      .send(command(2, id, "Process", request(id, {request_delete()})))
      .expect(reply(2, vote::state(true, 1, 1), delete_crdt()))
      .passivate();
}

// "verify Vote delete action sent to entity"
TEST_CASE("crdt.vote.delete_sent_to_entity") {
  const std::string id = "Vote-delete-sent-to-entity";
  connect().send(init(service, id)).send(deleted()).passivate();
}

// Forwards and side effects

// "verify forward to second service"
TEST_CASE("crdt.forward_to_second_service") {
  const std::string id = "GCounter-forward-to-second-service";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, gcounter::increment_by({42}))))
      .expect(reply(1, gcounter::state(42), gcounter::update(42)))
      .send(command(2, id, "Process", request(id, {forward_to("X-" + id)})))
      .expect(forwarded(2, "X-" + id))
      .send(command(3, id, "Process", request(id)))
      .expect(reply(3, gcounter::state(42)))
      .passivate();
}

// "verify forward with state changes"
TEST_CASE("crdt.forward_with_state_changes") {
  const std::string id = "PNCounter-forward-with-state-changes";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, pncounter::change_by({-42}) + forward_to("X-" + id))))
      .expect(forwarded(1, "X-" + id, pncounter::update(-42)))
      .passivate();
}

// "verify reply with side effect to second service"
TEST_CASE("crdt.reply_with_side_effect_to_second_service") {
  const std::string id = "GSet-reply-with-side-effect";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, gset::add({"one"}))))
      .expect(reply(1, gset::state({"one"}), gset::update({"one"})))
      .send(command(2, id, "Process", request(id, {side_effect_to("X-" + id)})))
      .expect(reply(2, gset::state({"one"}), side_effects({"X-" + id})))
      .send(command(3, id, "Process", request(id)))
      .expect(reply(3, gset::state({"one"})))
      .passivate();
}

// "verify synchronous side effect to second service"
TEST_CASE("crdt.synchronous_side_effect_to_second_service") {
  const std::string id = "ORSet-synchronous-side-effect";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, {side_effect_to("X-" + id, true)})))
      .expect(reply(1, orset::state(), synchronous_side_effects({"X-" + id})))
      .passivate();
}

// "verify forward and side effect to second service": an empty register's first reply writes its empty value.
TEST_CASE("crdt.forward_and_side_effect_to_second_service") {
  const std::string id = "LWWRegister-forward-and-side-effect";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, {side_effect_to("B-" + id), forward_to("A-" + id)})))
      .expect(forwarded(1, "A-" + id, lwwregister::update("") + side_effects({"B-" + id})))
      .passivate();
}

// "verify reply with multiple side effects"
TEST_CASE("crdt.reply_with_multiple_side_effects") {
  const std::string id = "Flag-reply-with-multiple-side-effects";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, side_effects_to({"1", "2", "3"}))))
      .expect(reply(1, flag::state(false), side_effects({"1", "2", "3"})))
      .passivate();
}

// "verify reply with multiple side effects and state changes"
TEST_CASE("crdt.reply_with_multiple_side_effects_and_state_changes") {
  const std::string id = "ORMap-multiple-side-effects-and-state-changes";
  auto crdt_actions = ormap::add({"PNCounter-1"}) + ormap::update_with({{"GSet-1", gset::add({"a", "b", "c"})}});
  auto acts = crdt_actions + side_effects_to({"1", "2", "3"});
  auto expected_state = ormap::state({{"GSet-1", gset::state({"a", "b", "c"})}, {"PNCounter-1", pncounter::state(0)}});
  auto crdt_updates =
      ormap::update({.added = {{"GSet-1", gset::update({"a", "b", "c"})}, {"PNCounter-1", pncounter::update(0)}}});
  auto expected_effects = crdt_updates + side_effects({"1", "2", "3"});
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, acts)))
      .expect(reply(1, expected_state, expected_effects), sorted)
      .passivate();
}

// Failures

// "verify failure action"
TEST_CASE("crdt.failure_action") {
  const std::string id = "GCounter-failure-action";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, {fail_with("expected failure")})))
      .expect(failure(1, "expected failure"))
      .passivate();
}

// "verify connection after failure action"
TEST_CASE("crdt.connection_after_failure_action") {
  const std::string id = "PNCounter-connection-after-failure";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, pncounter::change_by({+42}))))
      .expect(reply(1, pncounter::state(+42), pncounter::update(+42)))
      .send(command(2, id, "Process", request(id, {fail_with("expected failure")})))
      .expect(failure(2, "expected failure"))
      .send(command(3, id, "Process", request(id)))
      .expect(reply(3, pncounter::state(+42)))
      .passivate();
}

// Streamed responses

namespace {

m::StreamedRequest streamed_request(const std::string& id) {
  m::StreamedRequest r;
  r.set_id(id);
  return r;
}

}  // namespace

// "verify streamed responses"
TEST_CASE("crdt.streamed_responses") {
  const std::string id = "GCounter-streamed-responses";
  connect()
      .send(init(service, id))
      .send(command(1, id, "ProcessStreamed", streamed_request(id), true))
      .expect(reply(1, gcounter::state(0), streamed_reply()))
      .send(command(2, id, "Process", request(id, gcounter::increment_by({1}))))
      .expect(reply(2, gcounter::state(1), gcounter::update(1)))
      .expect(streamed(1, gcounter::state(1)))
      .send(command(3, id, "Process", request(id, gcounter::increment_by({2}))))
      .expect(reply(3, gcounter::state(3), gcounter::update(2)))
      .expect(streamed(1, gcounter::state(3)))
      .send(command(4, id, "Process", request(id, gcounter::increment_by({3}))))
      .expect(reply(4, gcounter::state(6), gcounter::update(3)))
      .expect(streamed(1, gcounter::state(6)))
      .passivate();
}

// "verify streamed responses with stream ending action"
TEST_CASE("crdt.streamed_responses_with_stream_ending_action") {
  const std::string id = "GCounter-streamed-responses-with-end";
  auto ending = streamed_request(id);
  *ending.mutable_end_state() = gcounter::state(3).state();
  connect()
      .send(init(service, id))
      .send(command(1, id, "ProcessStreamed", ending, true))
      .expect(reply(1, gcounter::state(0), streamed_reply()))
      .send(command(2, id, "Process", request(id, gcounter::increment_by({1}))))
      .expect(reply(2, gcounter::state(1), gcounter::update(1)))
      .expect(streamed(1, gcounter::state(1)))
      .send(command(3, id, "Process", request(id, gcounter::increment_by({2}))))
      .expect(reply(3, gcounter::state(3), gcounter::update(2)))
      .expect(streamed(1, gcounter::state(3), end_stream()))
      .send(command(4, id, "Process", request(id, gcounter::increment_by({3}))))
      .expect(reply(4, gcounter::state(6), gcounter::update(3)))
      .passivate();
}

// "verify streamed responses with cancellation"
TEST_CASE("crdt.streamed_responses_with_cancellation") {
  const std::string id = "PNCounter-streamed-responses-with-cancellation";
  auto cancelling = streamed_request(id);
  *cancelling.mutable_cancel_update() = pncounter::update_with(-42);
  connect()
      .send(init(service, id))
      .send(command(1, id, "ProcessStreamed", cancelling, true))
      .expect(reply(1, pncounter::state(0), streamed_reply()))
      .send(command(2, id, "Process", request(id, pncounter::change_by({+10}))))
      .expect(reply(2, pncounter::state(+10), pncounter::update(+10)))
      .expect(streamed(1, pncounter::state(+10)))
      .send(command(3, id, "Process", request(id, pncounter::change_by({+20}))))
      .expect(reply(3, pncounter::state(+30), pncounter::update(+20)))
      .expect(streamed(1, pncounter::state(+30)))
      .send(stream_cancelled(1, id))
      .expect(stream_cancelled_response(1, pncounter::update(-42)))
      .send(command(4, id, "Process", request(id)))
      .expect(reply(4, pncounter::state(-12)))
      .send(command(5, id, "Process", request(id, pncounter::change_by({+30}))))
      .expect(reply(5, pncounter::state(+18), pncounter::update(+30)))
      .passivate();
}

// "verify empty streamed responses with cancellation": the reply to an `empty` streamed command has no client action.
TEST_CASE("crdt.empty_streamed_responses_with_cancellation") {
  const std::string id = "PNCounter-empty-streamed-responses-with-cancellation";
  auto empty = streamed_request(id);
  *empty.mutable_cancel_update() = pncounter::update_with(-42);
  empty.set_empty(true);
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, pncounter::change_by({+10}))))
      .expect(reply(1, pncounter::state(+10), pncounter::update(+10)))
      .send(command(2, id, "ProcessStreamed", empty, true))
      .expect(crdt_reply(2, std::nullopt, streamed_reply()))
      .send(stream_cancelled(2, id))
      .expect(stream_cancelled_response(2, pncounter::update(-42)))
      .send(command(3, id, "Process", request(id)))
      .expect(reply(3, pncounter::state(-32)))
      .passivate();
}

// "verify streamed responses with side effects"
TEST_CASE("crdt.streamed_responses_with_side_effects") {
  const std::string id = "GSet-streamed-responses-with-side-effects";
  auto with_effects = streamed_request(id);
  *with_effects.add_effects() = effect("one");
  *with_effects.add_effects() = effect("two", true);
  connect()
      .send(init(service, id))
      .send(command(1, id, "ProcessStreamed", with_effects, true))
      .expect(reply(1, gset::state(), streamed_reply()))
      .send(command(2, id, "Process", request(id, gset::add({"a"}))))
      .expect(reply(2, gset::state({"a"}), gset::update({"a"})))
      .expect(streamed(1, gset::state({"a"}), side_effects({"one"}) + synchronous_side_effects({"two"})))
      .send(command(3, id, "Process", request(id, gset::add({"b"}))))
      .expect(reply(3, gset::state({"a", "b"}), gset::update({"b"})))
      .expect(streamed(1, gset::state({"a", "b"}), side_effects({"one"}) + synchronous_side_effects({"two"})))
      .passivate();
}

// Write consistency

namespace {

actions increment_with(uint64_t increment, m::UpdateWriteConsistency write_consistency) {
  auto update = gcounter::update_with(increment);
  update.set_write_consistency(write_consistency);
  return {request_update(update)};
}

effects update_with(uint64_t value, pcr::CrdtWriteConsistency write_consistency) {
  return crdt_update(gcounter::delta(value), write_consistency);
}

}  // namespace

// "verify write consistency can be configured"
TEST_CASE("crdt.write_consistency_can_be_configured") {
  const std::string id = "GCounter-write-consistency";
  connect()
      .send(init(service, id))
      .send(command(1, id, "Process", request(id, increment_with(1, m::UpdateWriteConsistency::LOCAL))))
      .expect(reply(1, gcounter::state(1), update_with(1, pcr::CrdtWriteConsistency::LOCAL)))
      .send(command(2, id, "Process", request(id, increment_with(2, m::UpdateWriteConsistency::MAJORITY))))
      .expect(reply(2, gcounter::state(3), update_with(2, pcr::CrdtWriteConsistency::MAJORITY)))
      .send(command(3, id, "Process", request(id, increment_with(3, m::UpdateWriteConsistency::ALL))))
      .expect(reply(3, gcounter::state(6), update_with(3, pcr::CrdtWriteConsistency::ALL)))
      .passivate();
}
