// Crdt/handle driven like a proxy: init (with or without state), deltas, commands, stream cancellations and delete,
// against the TCK's CRDT model entities (unit_tests/tck/crdt_model.cpp, the contract in cloudstate/tck/model/
// crdt.proto) and a test entity served as CrdtConfigured; every answer is compared exactly. Then the conversation
// in-process (crdt_model::open), as the native runtime talks to it, for what the wire cannot show.
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include <actorstate/crdt_entity.hpp>

#include "cloudstate/crdt.grpc.pb.h"
#include "cloudstate/tck/model/crdt.pb.h"
#include "crdt_model.hpp"
#include "fixture.hpp"

namespace uf_test {

namespace {

namespace pb = cloudstate::crdt;
namespace cr = cloudstate::tck::model::crdt;
namespace crdt = actorstate::crdt;

using crdt_stream = bidi_stream<pb::CrdtStreamIn, pb::CrdtStreamOut>;

constexpr const char* model = "cloudstate.tck.model.crdt.CrdtTckModel";
constexpr const char* two = "cloudstate.tck.model.crdt.CrdtTwo";
constexpr const char* configured = "cloudstate.tck.model.crdt.CrdtConfigured";

/// Served as CrdtConfigured here: a GCounter that `Call` increments by each update's gcounter increment, then fails
/// at a fail action (or throws, if its message is "throw").
actorstate::crdt_entity make_counter() {
  actorstate::crdt_entity e{configured, "crdt-configured"};
  e.passivation_timeout(100ms).on_command<cr::Request, cr::Response>(
      "Call", [](const cr::Request& req, actorstate::crdt_context& ctx) -> actorstate::outcome<cr::Response> {
        auto counter = ctx.state_or_create<crdt::gcounter>();
        for (const auto& a : req.actions()) {
          if (a.has_update())
            counter.increment(a.update().gcounter().increment());
          if (a.has_fail()) {
            if (a.fail().message() == "throw")
              throw std::runtime_error("boom");
            return actorstate::failure{a.fail().message()};
          }
        }
        cr::Response r;
        r.mutable_state()->mutable_gcounter()->set_value(counter.value());
        return r;
      });
  return e;
}

class crdt_fixture {
public:
  crdt_fixture() {
    actorstate::user_function_options opts;
    opts.port = 0;
    opts.service_name = "uf-crdt-test";
    opts.drain_timeout = 2s;
    server = std::make_unique<actorstate::user_function_server>(opts);
    REQUIRE(server->add(tck::crdt_tck_model()).ok());
    REQUIRE(server->add(tck::crdt_two_model()).ok());
    REQUIRE(server->add(make_counter()).ok());
    REQUIRE(server->start().ok());
    channel = channel_to(server->port());
    stub = pb::Crdt::NewStub(channel);
  }

  crdt_stream open() {
    return crdt_stream{[this](grpc::ClientContext* ctx) { return stub->handle(ctx); }};
  }

  std::unique_ptr<actorstate::user_function_server> server;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::Crdt::Stub> stub;
};

// --- messages in ------------------------------------------------------------------------------------------------

google::protobuf::Any str(const std::string& s) {
  auto v = crdt::of_string(s);
  google::protobuf::Any any;
  any.set_type_url(v.type);
  any.set_value(v.payload);
  return any;
}

pb::CrdtStreamIn init(const std::string& service, const std::string& id,
                      std::optional<pb::CrdtDelta> delta = std::nullopt) {
  pb::CrdtStreamIn in;
  in.mutable_init()->set_service_name(service);
  in.mutable_init()->set_entity_id(id);
  if (delta)
    *in.mutable_init()->mutable_delta() = *delta;
  return in;
}

pb::CrdtStreamIn delta_in(const pb::CrdtDelta& d) {
  pb::CrdtStreamIn in;
  *in.mutable_delta() = d;
  return in;
}

cr::Request request(const std::string& id, std::vector<cr::RequestAction> actions = {}) {
  cr::Request r;
  r.set_id(id);
  for (auto& a : actions)
    *r.add_actions() = std::move(a);
  return r;
}

pb::CrdtStreamIn process(int64_t cmd, const std::string& id, std::vector<cr::RequestAction> actions = {}) {
  pb::CrdtStreamIn in;
  *in.mutable_command() = command(cmd, id, "Process", request(id, std::move(actions)));
  return in;
}

pb::CrdtStreamIn call(int64_t cmd, const std::string& id, std::vector<cr::RequestAction> actions = {}) {
  pb::CrdtStreamIn in;
  *in.mutable_command() = command(cmd, id, "Call", request(id, std::move(actions)));
  return in;
}

pb::CrdtStreamIn process_streamed(int64_t cmd, const std::string& id, cr::StreamedRequest req) {
  req.set_id(id);
  pb::CrdtStreamIn in;
  *in.mutable_command() = command(cmd, id, "ProcessStreamed", req);
  in.mutable_command()->set_streamed(true);
  return in;
}

pb::CrdtStreamIn cancelled(int64_t cmd, const std::string& id) {
  pb::CrdtStreamIn in;
  in.mutable_stream_cancelled()->set_entity_id(id);
  in.mutable_stream_cancelled()->set_id(cmd);
  return in;
}

// Deltas.
pb::CrdtDelta gcounter_delta(uint64_t n) {
  pb::CrdtDelta d;
  d.mutable_gcounter()->set_increment(n);
  return d;
}
pb::CrdtDelta pncounter_delta(int64_t n) {
  pb::CrdtDelta d;
  d.mutable_pncounter()->set_change(n);
  return d;
}
pb::CrdtDelta gset_delta(const std::vector<std::string>& added) {
  pb::CrdtDelta d;
  d.mutable_gset();
  for (const auto& e : added)
    *d.mutable_gset()->add_added() = str(e);
  return d;
}
pb::CrdtDelta orset_delta(bool cleared, const std::vector<std::string>& removed,
                          const std::vector<std::string>& added) {
  pb::CrdtDelta d;
  d.mutable_orset()->set_cleared(cleared);
  for (const auto& e : removed)
    *d.mutable_orset()->add_removed() = str(e);
  for (const auto& e : added)
    *d.mutable_orset()->add_added() = str(e);
  return d;
}
pb::CrdtDelta lww_delta(const std::string& v, pb::CrdtClock clock = pb::DEFAULT, int64_t custom = 0) {
  pb::CrdtDelta d;
  *d.mutable_lwwregister()->mutable_value() = str(v);
  d.mutable_lwwregister()->set_clock(clock);
  d.mutable_lwwregister()->set_custom_clock_value(custom);
  return d;
}
pb::CrdtDelta flag_delta(bool v) {
  pb::CrdtDelta d;
  d.mutable_flag()->set_value(v);
  return d;
}
pb::CrdtDelta vote_delta(bool self, int32_t votes_for = 0, int32_t total = 0) {
  pb::CrdtDelta d;
  d.mutable_vote()->set_self_vote(self);
  d.mutable_vote()->set_votes_for(votes_for);
  d.mutable_vote()->set_total_voters(total);
  return d;
}
using entries = std::vector<std::pair<std::string, pb::CrdtDelta>>;
pb::CrdtDelta ormap_delta(bool cleared, const std::vector<std::string>& removed, const entries& updated,
                          const entries& added) {
  pb::CrdtDelta d;
  auto* m = d.mutable_ormap();
  m->set_cleared(cleared);
  for (const auto& k : removed)
    *m->add_removed() = str(k);
  for (const auto& [k, v] : updated) {
    auto* e = m->add_updated();
    *e->mutable_key() = str(k);
    *e->mutable_delta() = v;
  }
  for (const auto& [k, v] : added) {
    auto* e = m->add_added();
    *e->mutable_key() = str(k);
    *e->mutable_delta() = v;
  }
  return d;
}

// Request actions.
cr::RequestAction update(cr::Update u, cr::UpdateWriteConsistency wc = cr::LOCAL) {
  u.set_write_consistency(wc);
  cr::RequestAction a;
  *a.mutable_update() = std::move(u);
  return a;
}
cr::Update gc_inc(uint64_t n) {
  cr::Update u;
  u.mutable_gcounter()->set_increment(n);
  return u;
}
cr::Update pn_change(int64_t n) {
  cr::Update u;
  u.mutable_pncounter()->set_change(n);
  return u;
}
cr::Update gset_add(const std::string& e) {
  cr::Update u;
  u.mutable_gset()->set_add(e);
  return u;
}
cr::Update orset_add(const std::string& e) {
  cr::Update u;
  u.mutable_orset()->set_add(e);
  return u;
}
cr::Update orset_remove(const std::string& e) {
  cr::Update u;
  u.mutable_orset()->set_remove(e);
  return u;
}
cr::Update orset_clear() {
  cr::Update u;
  u.mutable_orset()->set_clear(true);
  return u;
}
cr::Update lww_set(const std::string& v, std::optional<cr::LWWRegisterClockType> clock = std::nullopt,
                   int64_t custom = 0) {
  cr::Update u;
  u.mutable_lwwregister()->set_value(v);
  if (clock) {
    u.mutable_lwwregister()->mutable_clock()->set_clocktype(*clock);
    u.mutable_lwwregister()->mutable_clock()->set_customclockvalue(custom);
  }
  return u;
}
cr::Update flag_enable() {
  cr::Update u;
  u.mutable_flag();
  return u;
}
cr::Update ormap_add(const std::string& key) {
  cr::Update u;
  u.mutable_ormap()->set_add(key);
  return u;
}
cr::Update ormap_update(const std::string& key, cr::Update entry) {
  cr::Update u;
  u.mutable_ormap()->mutable_update()->set_key(key);
  *u.mutable_ormap()->mutable_update()->mutable_update() = std::move(entry);
  return u;
}
cr::Update ormap_remove(const std::string& key) {
  cr::Update u;
  u.mutable_ormap()->set_remove(key);
  return u;
}
cr::Update ormap_clear() {
  cr::Update u;
  u.mutable_ormap()->set_clear(true);
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
cr::RequestAction forward_action(const std::string& id) {
  cr::RequestAction a;
  a.mutable_forward()->set_id(id);
  return a;
}
cr::RequestAction effect_action(const std::string& id, bool synchronous = false) {
  cr::RequestAction a;
  a.mutable_effect()->set_id(id);
  a.mutable_effect()->set_synchronous(synchronous);
  return a;
}
cr::RequestAction fail_action(const std::string& message) {
  cr::RequestAction a;
  a.mutable_fail()->set_message(message);
  return a;
}

// --- states and messages out ------------------------------------------------------------------------------------

cr::State gc_state(uint64_t v) {
  cr::State s;
  s.mutable_gcounter()->set_value(v);
  return s;
}
cr::State pn_state(int64_t v) {
  cr::State s;
  s.mutable_pncounter()->set_value(v);
  return s;
}
cr::State gset_state(const std::vector<std::string>& elements) {
  cr::State s;
  s.mutable_gset();
  for (const auto& e : elements)
    s.mutable_gset()->add_elements(e);
  return s;
}
cr::State orset_state(const std::vector<std::string>& elements) {
  cr::State s;
  s.mutable_orset();
  for (const auto& e : elements)
    s.mutable_orset()->add_elements(e);
  return s;
}
cr::State lww_state(const std::string& v) {
  cr::State s;
  s.mutable_lwwregister()->set_value(v);
  return s;
}
cr::State flag_state(bool v) {
  cr::State s;
  s.mutable_flag()->set_value(v);
  return s;
}
cr::State vote_state(bool self, int32_t votes_for, int32_t total) {
  cr::State s;
  s.mutable_vote()->set_self_vote(self);
  s.mutable_vote()->set_votes_for(votes_for);
  s.mutable_vote()->set_total_voters(total);
  return s;
}
cr::State ormap_state(const std::vector<std::pair<std::string, cr::State>>& entries) {
  cr::State s;
  s.mutable_ormap();
  for (const auto& [k, v] : entries) {
    auto* e = s.mutable_ormap()->add_entries();
    e->set_key(k);
    *e->mutable_value() = v;
  }
  return s;
}

google::protobuf::Any response(const cr::State& state) {
  cr::Response r;
  *r.mutable_state() = state;
  return pack(r);
}

pb::CrdtStreamOut reply(int64_t id, const cr::State& state, std::optional<pb::CrdtDelta> delta = std::nullopt,
                        pb::CrdtWriteConsistency wc = pb::LOCAL) {
  pb::CrdtStreamOut out;
  auto* r = out.mutable_reply();
  r->set_command_id(id);
  *r->mutable_client_action()->mutable_reply()->mutable_payload() = response(state);
  if (delta) {
    *r->mutable_state_action()->mutable_update() = *delta;
    r->mutable_state_action()->set_write_consistency(wc);
  }
  return out;
}

pb::CrdtStreamOut deleted_reply(int64_t id, const cr::State& state) {
  auto out = reply(id, state);
  out.mutable_reply()->mutable_state_action()->mutable_delete_();
  return out;
}

pb::CrdtStreamOut failure_reply(int64_t id, const std::string& description) {
  pb::CrdtStreamOut out;
  out.mutable_reply()->set_command_id(id);
  out.mutable_reply()->mutable_client_action()->mutable_failure()->set_command_id(id);
  out.mutable_reply()->mutable_client_action()->mutable_failure()->set_description(description);
  return out;
}

cloudstate::SideEffect side_effect(const std::string& id, bool synchronous = false) {
  cloudstate::SideEffect e;
  e.set_service_name(two);
  e.set_command_name("Call");
  *e.mutable_payload() = pack(request(id));
  e.set_synchronous(synchronous);
  return e;
}

pb::CrdtStreamOut streamed(int64_t id, const cr::State& state, bool end = false,
                           std::vector<cloudstate::SideEffect> effects = {}) {
  pb::CrdtStreamOut out;
  auto* m = out.mutable_streamed_message();
  m->set_command_id(id);
  *m->mutable_client_action()->mutable_reply()->mutable_payload() = response(state);
  for (auto& e : effects)
    *m->add_side_effects() = std::move(e);
  m->set_end_stream(end);
  return out;
}

pb::CrdtStreamOut cancel_response(int64_t id, std::optional<pb::CrdtDelta> delta = std::nullopt) {
  pb::CrdtStreamOut out;
  auto* r = out.mutable_stream_cancelled_response();
  r->set_command_id(id);
  if (delta)
    *r->mutable_state_action()->mutable_update() = *delta;
  return out;
}

void expect(const pb::CrdtStreamOut& actual, const pb::CrdtStreamOut& expected) {
  // Serialization is deterministic for these messages (no maps), and unlike MessageDifferencer it does not try to
  // resolve the Any payloads' types.
  CHECK_MESSAGE(actual.SerializeAsString() == expected.SerializeAsString(), "expected:\n"
                                                                                << expected.DebugString() << "got:\n"
                                                                                << actual.DebugString());
}

void expect(crdt_stream& s, const pb::CrdtStreamOut& expected) {
  expect(s.read(), expected);
}

/// The stream failed at the protocol level: a Failure, then the end.
void expect_protocol_failure(crdt_stream& s, const std::string& mentions) {
  auto out = s.read();
  REQUIRE_MESSAGE(out.has_failure(), out.DebugString());
  CHECK(out.failure().command_id() == 0);
  CHECK_MESSAGE(out.failure().description().find(mentions) != std::string::npos, out.failure().description());
  s.expect_end();
  CHECK(s.finish().ok());
}

}  // namespace

// --- each CRDT type -------------------------------------------------------------------------------------------------

TEST_CASE_FIXTURE(crdt_fixture, "crdt.gcounter") {
  auto s = open();
  s.write(init(model, "GCounter-1"));
  s.write(process(1, "GCounter-1"));
  expect(s, reply(1, gc_state(0)));  // created, but nothing changed
  s.write(process(2, "GCounter-1", {update(gc_inc(40)), update(gc_inc(2))}));
  expect(s, reply(2, gc_state(42), gcounter_delta(42)));
  s.write(delta_in(gcounter_delta(8)));
  s.write(process(3, "GCounter-1", {update(gc_inc(1))}));
  expect(s, reply(3, gc_state(51), gcounter_delta(1)));
  CHECK(s.close().ok());

  // Rehydrated from the proxy's state.
  auto again = open();
  again.write(init(model, "GCounter-1", gcounter_delta(51)));
  again.write(process(1, "GCounter-1"));
  expect(again, reply(1, gc_state(51)));
  CHECK(again.close().ok());
}

TEST_CASE_FIXTURE(crdt_fixture, "crdt.pncounter_and_write_consistency") {
  auto s = open();
  s.write(init(model, "PNCounter-1", pncounter_delta(42)));
  s.write(process(1, "PNCounter-1", {update(pn_change(-123), cr::MAJORITY)}));
  expect(s, reply(1, pn_state(-81), pncounter_delta(-123), pb::MAJORITY));
  s.write(process(2, "PNCounter-1", {update(pn_change(+1)), update(pn_change(-1), cr::ALL)}));
  expect(s, reply(2, pn_state(-81)));  // no net change: no state action, whatever the consistency
  s.write(process(3, "PNCounter-1", {update(pn_change(+5), cr::ALL)}));
  expect(s, reply(3, pn_state(-76), pncounter_delta(5), pb::ALL));
  s.write(delta_in(pncounter_delta(-4)));
  s.write(process(4, "PNCounter-1"));
  expect(s, reply(4, pn_state(-80)));
  CHECK(s.close().ok());
}

TEST_CASE_FIXTURE(crdt_fixture, "crdt.gset") {
  auto s = open();
  s.write(init(model, "GSet-1"));
  s.write(delta_in(gset_delta({"x", "y"})));  // creates the state before any command
  s.write(process(1, "GSet-1", {update(gset_add("a")), update(gset_add("x")), update(gset_add("b"))}));
  expect(s, reply(1, gset_state({"a", "b", "x", "y"}), gset_delta({"a", "b"})));
  s.write(process(2, "GSet-1", {update(gset_add("a"))}));
  expect(s, reply(2, gset_state({"a", "b", "x", "y"})));
  CHECK(s.close().ok());
}

TEST_CASE_FIXTURE(crdt_fixture, "crdt.orset") {
  auto s = open();
  s.write(init(model, "ORSet-1", orset_delta(false, {}, {"a", "b", "c"})));
  s.write(process(1, "ORSet-1", {update(orset_remove("c")), update(orset_add("d")), update(orset_remove("z"))}));
  expect(s, reply(1, orset_state({"a", "b", "d"}), orset_delta(false, {"c"}, {"d"})));
  // Removing and re-adding within one command cancels out; adding and removing too.
  s.write(
      process(2, "ORSet-1",
              {update(orset_remove("a")), update(orset_add("a")), update(orset_add("e")), update(orset_remove("e"))}));
  expect(s, reply(2, orset_state({"a", "b", "d"})));
  s.write(process(3, "ORSet-1", {update(orset_add("q")), update(orset_clear()), update(orset_add("x"))}));
  expect(s, reply(3, orset_state({"x"}), orset_delta(true, {}, {"x"})));
  // Removing the last element reports a clear.
  s.write(process(4, "ORSet-1", {update(orset_remove("x"))}));
  expect(s, reply(4, orset_state({}), orset_delta(true, {}, {})));
  s.write(delta_in(orset_delta(false, {}, {"p", "q", "r"})));
  s.write(delta_in(orset_delta(false, {"q"}, {})));
  s.write(delta_in(orset_delta(true, {}, {"z"})));
  s.write(process(5, "ORSet-1"));
  expect(s, reply(5, orset_state({"z"})));
  CHECK(s.close().ok());
}

TEST_CASE_FIXTURE(crdt_fixture, "crdt.lww_register") {
  auto s = open();
  s.write(init(model, "LWWRegister-1"));
  s.write(process(1, "LWWRegister-1"));
  expect(s, reply(1, lww_state(""), lww_delta("")));  // the model creates it holding ""
  s.write(process(2, "LWWRegister-1", {update(lww_set("A", cr::REVERSE))}));
  expect(s, reply(2, lww_state("A"), lww_delta("A", pb::REVERSE)));
  s.write(process(3, "LWWRegister-1", {update(lww_set("A", cr::CUSTOM, 123))}));
  expect(s, reply(3, lww_state("A"), lww_delta("A", pb::CUSTOM, 123)));
  s.write(process(4, "LWWRegister-1", {update(lww_set("A", cr::CUSTOM_AUTO_INCREMENT, 456))}));
  expect(s, reply(4, lww_state("A"), lww_delta("A", pb::CUSTOM_AUTO_INCREMENT, 456)));
  s.write(process(5, "LWWRegister-1", {update(lww_set("A"))}));
  expect(s, reply(5, lww_state("A")));  // same value, default clock: nothing to write
  s.write(delta_in(lww_delta("B")));
  s.write(process(6, "LWWRegister-1"));
  expect(s, reply(6, lww_state("B")));
  CHECK(s.close().ok());

  // A replicated value before any command: no write of "" follows.
  auto other = open();
  other.write(init(model, "LWWRegister-2"));
  other.write(delta_in(lww_delta("one")));
  other.write(process(1, "LWWRegister-2"));
  expect(other, reply(1, lww_state("one")));
  CHECK(other.close().ok());
}

TEST_CASE_FIXTURE(crdt_fixture, "crdt.flag") {
  auto s = open();
  s.write(init(model, "Flag-1", flag_delta(false)));
  s.write(process(1, "Flag-1"));
  expect(s, reply(1, flag_state(false)));
  s.write(process(2, "Flag-1", {update(flag_enable())}));
  expect(s, reply(2, flag_state(true), flag_delta(true)));
  s.write(delta_in(flag_delta(false)));  // a flag never switches off
  s.write(process(3, "Flag-1", {update(flag_enable())}));
  expect(s, reply(3, flag_state(true)));
  CHECK(s.close().ok());
}

TEST_CASE_FIXTURE(crdt_fixture, "crdt.vote") {
  auto s = open();
  s.write(init(model, "Vote-1"));
  s.write(process(1, "Vote-1"));
  expect(s, reply(1, vote_state(false, 0, 1)));
  s.write(process(2, "Vote-1", {update(vote_self(true))}));
  expect(s, reply(2, vote_state(true, 1, 1), vote_delta(true)));
  s.write(process(3, "Vote-1", {update(vote_self(false)), update(vote_self(true))}));
  expect(s, reply(3, vote_state(true, 1, 1)));  // voted back within the command
  s.write(delta_in(vote_delta(true, 4, 6)));
  s.write(process(4, "Vote-1", {update(vote_self(false))}));
  expect(s, reply(4, vote_state(false, 3, 6), vote_delta(false)));
  CHECK(s.close().ok());
}

TEST_CASE_FIXTURE(crdt_fixture, "crdt.ormap") {
  auto s = open();
  s.write(init(model, "ORMap-1"));
  s.write(process(1, "ORMap-1",
                  {update(ormap_add("PNCounter-1")), update(ormap_update("LWWRegister-1", lww_set("zero")))}));
  expect(s, reply(1, ormap_state({{"LWWRegister-1", lww_state("zero")}, {"PNCounter-1", pn_state(0)}}),
                  ormap_delta(false, {}, {},
                              {{"PNCounter-1", pncounter_delta(0)}, {"LWWRegister-1", lww_delta("zero")}})));
  s.write(process(2, "ORMap-1",
                  {update(ormap_update("PNCounter-1", pn_change(42))), update(ormap_remove("LWWRegister-1")),
                   update(ormap_update("Flag-1", flag_enable()))}));
  expect(s, reply(2, ormap_state({{"Flag-1", flag_state(true)}, {"PNCounter-1", pn_state(42)}}),
                  ormap_delta(false, {"LWWRegister-1"}, {{"PNCounter-1", pncounter_delta(42)}},
                              {{"Flag-1", flag_delta(true)}})));
  // Changes from elsewhere, nested maps included.
  s.write(delta_in(
      ormap_delta(false, {"Flag-1"}, {}, {{"ORMap-2", ormap_delta(false, {}, {}, {{"GSet-1", gset_delta({"a"})}})}})));
  s.write(
      delta_in(ormap_delta(false, {}, {{"ORMap-2", ormap_delta(false, {}, {{"GSet-1", gset_delta({"b"})}}, {})}}, {})));
  s.write(process(3, "ORMap-1", {update(ormap_update("ORMap-2", ormap_update("GSet-1", gset_add("c"))))}));
  expect(s,
         reply(3,
               ormap_state({{"ORMap-2", ormap_state({{"GSet-1", gset_state({"a", "b", "c"})}})},
                            {"PNCounter-1", pn_state(42)}}),
               ormap_delta(false, {}, {{"ORMap-2", ormap_delta(false, {}, {{"GSet-1", gset_delta({"c"})}}, {})}}, {})));
  s.write(process(4, "ORMap-1", {update(ormap_add("GCounter-9")), update(ormap_clear()), update(ormap_add("Vote-1"))}));
  expect(s, reply(4, ormap_state({{"Vote-1", vote_state(false, 0, 1)}}),
                  ormap_delta(true, {}, {}, {{"Vote-1", vote_delta(false)}})));
  CHECK(s.close().ok());
}

TEST_CASE_FIXTURE(crdt_fixture, "crdt.ormap_mix_of_local_and_replicated_changes") {
  // Cloudstate's TCK scenario of the same name (CrdtEntityTCK.scala). Its lists are in this side's order: updated
  // entries in key order (value_less: by encoded bytes, so shorter strings first), added ones in creation order.
  auto s = open();
  s.write(init(model, "ORMap-mix"));
  s.write(process(1, "ORMap-mix", {update(ormap_add("PNCounter-1"))}));
  expect(s, reply(1, ormap_state({{"PNCounter-1", pn_state(0)}}),
                  ormap_delta(false, {}, {}, {{"PNCounter-1", pncounter_delta(0)}})));
  s.write(delta_in(ormap_delta(false, {}, {}, {{"ORSet-1", orset_delta(false, {}, {"x"})}})));
  s.write(delta_in(ormap_delta(false, {}, {{"ORSet-1", orset_delta(false, {}, {"y", "z"})}},
                               {{"LWWRegister-1", lww_delta("one")}})));
  s.write(
      process(2, "ORMap-mix", {update(ormap_add("ORSet-2")), update(ormap_update("LWWRegister-2", lww_set("two")))}));
  expect(s, reply(2,
                  ormap_state({{"LWWRegister-1", lww_state("one")},
                               {"LWWRegister-2", lww_state("two")},
                               {"ORSet-1", orset_state({"x", "y", "z"})},
                               {"ORSet-2", orset_state({})},
                               {"PNCounter-1", pn_state(0)}}),
                  ormap_delta(false, {}, {},
                              {{"ORSet-2", orset_delta(false, {}, {})}, {"LWWRegister-2", lww_delta("two")}})));
  s.write(process(
      3, "ORMap-mix",
      {update(ormap_update("PNCounter-1", pn_change(42))), update(ormap_update("LWWRegister-1", lww_set("ONE")))}));
  expect(s, reply(3,
                  ormap_state({{"LWWRegister-1", lww_state("ONE")},
                               {"LWWRegister-2", lww_state("two")},
                               {"ORSet-1", orset_state({"x", "y", "z"})},
                               {"ORSet-2", orset_state({})},
                               {"PNCounter-1", pn_state(42)}}),
                  ormap_delta(false, {}, {{"PNCounter-1", pncounter_delta(42)}, {"LWWRegister-1", lww_delta("ONE")}},
                              {})));
  s.write(delta_in(ormap_delta(false, {"LWWRegister-2"}, {},
                               {{"ORMap-1", ormap_delta(false, {}, {}, {{"PNCounter-1", pncounter_delta(123)}})}})));
  s.write(delta_in(ormap_delta(false, {"ORSet-1"},
                               {{"ORSet-2", orset_delta(false, {}, {"a", "b", "c"})},
                                {"ORMap-1", ormap_delta(false, {}, {}, {{"LWWRegister-1", lww_delta("ABC")}})}},
                               {})));
  s.write(process(4, "ORMap-mix", {update(ormap_update("ORMap-1", ormap_update("PNCounter-1", pn_change(-456))))}));
  expect(s,
         reply(4,
               ormap_state(
                   {{"LWWRegister-1", lww_state("ONE")},
                    {"ORMap-1", ormap_state({{"LWWRegister-1", lww_state("ABC")}, {"PNCounter-1", pn_state(-333)}})},
                    {"ORSet-2", orset_state({"a", "b", "c"})},
                    {"PNCounter-1", pn_state(42)}}),
               ormap_delta(false, {},
                           {{"ORMap-1", ormap_delta(false, {}, {{"PNCounter-1", pncounter_delta(-456)}}, {})}}, {})));
  s.write(delta_in(ormap_delta(true, {}, {}, {{"GSet-1", gset_delta({"1", "2", "3"})}})));
  s.write(process(5, "ORMap-mix",
                  {update(ormap_remove("PNCounter-1")), update(ormap_remove("LWWRegister-1")),
                   update(ormap_update("GSet-1", gset_add("2"))), update(ormap_update("GSet-1", gset_add("4"))),
                   update(ormap_update("GSet-1", gset_add("6")))}));
  expect(s, reply(5, ormap_state({{"GSet-1", gset_state({"1", "2", "3", "4", "6"})}}),
                  ormap_delta(false, {}, {{"GSet-1", gset_delta({"4", "6"})}}, {})));
  s.write(process(6, "ORMap-mix", {update(ormap_clear()), update(ormap_add("GCounter-1"))}));
  expect(s, reply(6, ormap_state({{"GCounter-1", gc_state(0)}}),
                  ormap_delta(true, {}, {}, {{"GCounter-1", gcounter_delta(0)}})));
  s.write(delta_in(ormap_delta(false, {"GSet-1"}, {}, {{"GCounter-1", gcounter_delta(42)}})));
  s.write(process(7, "ORMap-mix", {update(ormap_update("GCounter-1", gc_inc(7)))}));
  expect(s, reply(7, ormap_state({{"GCounter-1", gc_state(49)}}),
                  ormap_delta(false, {}, {{"GCounter-1", gcounter_delta(7)}}, {})));
  CHECK(s.close().ok());
}

// --- deletion, forwards, side effects, failures -----------------------------------------------------------------

TEST_CASE_FIXTURE(crdt_fixture, "crdt.delete_from_entity") {
  auto s = open();
  s.write(init(model, "GCounter-del"));
  s.write(process(1, "GCounter-del", {update(gc_inc(42))}));
  expect(s, reply(1, gc_state(42), gcounter_delta(42)));
  s.write(process(2, "GCounter-del", {update(gc_inc(1)), delete_action()}));
  expect(s, deleted_reply(2, gc_state(43)));  // the delete wins over the update
  // The proxy would not send more; if it did, the entity is gone.
  s.write(process(3, "GCounter-del"));
  expect(s, failure_reply(3, "Entity deleted"));
  CHECK(s.close().ok());

  auto t = open();
  t.write(init(two, "GCounter-two"));
  t.write(call(1, "GCounter-two", {delete_action()}));
  pb::CrdtStreamOut out;
  out.mutable_reply()->set_command_id(1);
  *out.mutable_reply()->mutable_client_action()->mutable_reply()->mutable_payload() = pack(cr::Response{});
  out.mutable_reply()->mutable_state_action()->mutable_delete_();
  expect(t, out);
  CHECK(t.close().ok());
}

TEST_CASE_FIXTURE(crdt_fixture, "crdt.delete_from_proxy") {
  auto s = open();
  s.write(init(model, "ORSet-del", orset_delta(false, {}, {"a"})));
  pb::CrdtStreamIn del;
  del.mutable_delete_();
  s.write(del);
  CHECK(s.close().ok());  // nothing answered
}

TEST_CASE_FIXTURE(crdt_fixture, "crdt.forward_and_side_effects") {
  auto s = open();
  s.write(init(model, "PNCounter-fwd"));
  s.write(process(1, "PNCounter-fwd", {update(pn_change(-42)), effect_action("B", true), forward_action("A")}));
  pb::CrdtStreamOut fwd;
  auto* r = fwd.mutable_reply();
  r->set_command_id(1);
  auto* f = r->mutable_client_action()->mutable_forward();
  f->set_service_name(two);
  f->set_command_name("Call");
  *f->mutable_payload() = pack(request("A"));
  *r->add_side_effects() = side_effect("B", true);
  *r->mutable_state_action()->mutable_update() = pncounter_delta(-42);
  expect(s, fwd);

  s.write(process(2, "PNCounter-fwd", {effect_action("1"), effect_action("2")}));
  auto effects = reply(2, pn_state(-42));
  *effects.mutable_reply()->add_side_effects() = side_effect("1");
  *effects.mutable_reply()->add_side_effects() = side_effect("2");
  expect(s, effects);
  CHECK(s.close().ok());
}

TEST_CASE_FIXTURE(crdt_fixture, "crdt.failure_rolls_back") {
  auto s = open();
  s.write(init(model, "GSet-fail"));
  s.write(process(1, "GSet-fail", {update(gset_add("a"))}));
  expect(s, reply(1, gset_state({"a"}), gset_delta({"a"})));
  // A failure after changes: no delta, no side effects, and the changes are undone locally.
  s.write(process(2, "GSet-fail", {update(gset_add("b")), effect_action("x"), fail_action("expected failure")}));
  expect(s, failure_reply(2, "expected failure"));
  s.write(process(3, "GSet-fail", {update(gset_add("c"))}));
  expect(s, reply(3, gset_state({"a", "c"}), gset_delta({"c"})));
  CHECK(s.close().ok());

  // A failure before the state exists leaves none.
  auto t = open();
  t.write(init(model, "ORMap-fail"));
  t.write(process(1, "ORMap-fail", {update(ormap_add("Flag-1")), fail_action("no")}));
  expect(t, failure_reply(1, "no"));
  t.write(process(2, "ORMap-fail"));
  expect(t, reply(2, ormap_state({})));
  CHECK(t.close().ok());
}

TEST_CASE_FIXTURE(crdt_fixture, "crdt.handler_throws") {
  auto s = open();
  s.write(init(configured, "c1"));
  cr::RequestAction inc = update(gc_inc(5));
  s.write(call(1, "c1", {inc}));
  pb::CrdtStreamOut one;
  one.mutable_reply()->set_command_id(1);
  cr::Response five;
  *five.mutable_state() = gc_state(5);
  *one.mutable_reply()->mutable_client_action()->mutable_reply()->mutable_payload() = pack(five);
  *one.mutable_reply()->mutable_state_action()->mutable_update() = gcounter_delta(5);
  expect(s, one);
  s.write(call(2, "c1", {inc, fail_action("throw")}));
  expect(s, failure_reply(2, "command handler threw: boom"));
  // The command failed alone: the stream goes on, without its increment.
  s.write(call(3, "c1", {inc}));
  auto out = s.read();
  REQUIRE(out.has_reply());
  CHECK(out.reply().state_action().update().gcounter().increment() == 5);
  CHECK(s.close().ok());
}

TEST_CASE_FIXTURE(crdt_fixture, "crdt.wrong_type_fails_the_command") {
  // The model picks the CRDT type by the id's prefix; a delta of another type made the state an ORSet.
  auto s = open();
  s.write(init(model, "GSet-wrong", orset_delta(false, {}, {"a"})));
  s.write(process(1, "GSet-wrong"));
  auto out = s.read();
  REQUIRE(out.has_reply());
  REQUIRE(out.reply().client_action().has_failure());
  CHECK(out.reply().client_action().failure().description().find("ORSet") != std::string::npos);
  CHECK(s.close().ok());
}

// --- streamed commands ---------------------------------------------------------------------------------------------

TEST_CASE_FIXTURE(crdt_fixture, "crdt.streamed_changes_and_end") {
  auto s = open();
  s.write(init(model, "GCounter-s"));
  cr::StreamedRequest req;
  *req.mutable_end_state() = gc_state(3);
  s.write(process_streamed(1, "GCounter-s", req));
  auto first = reply(1, gc_state(0));
  first.mutable_reply()->set_streamed(true);
  expect(s, first);
  s.write(process(2, "GCounter-s", {update(gc_inc(1))}));
  expect(s, reply(2, gc_state(1), gcounter_delta(1)));
  expect(s, streamed(1, gc_state(1)));
  // Changes from elsewhere reach the stream too.
  s.write(delta_in(gcounter_delta(2)));
  expect(s, streamed(1, gc_state(3), true));  // the end state ends the stream
  s.write(process(3, "GCounter-s", {update(gc_inc(3))}));
  expect(s, reply(3, gc_state(6), gcounter_delta(3)));  // nothing more for the ended stream
  // The proxy's cancellation may cross the end: answered, bare.
  s.write(cancelled(1, "GCounter-s"));
  expect(s, cancel_response(1));
  CHECK(s.close().ok());
}

TEST_CASE_FIXTURE(crdt_fixture, "crdt.streamed_cancellation_and_effects") {
  auto s = open();
  s.write(init(model, "PNCounter-s"));
  cr::StreamedRequest watch;
  *watch.mutable_cancel_update() = pn_change(-42);
  s.write(process_streamed(1, "PNCounter-s", watch));
  auto first = reply(1, pn_state(0));
  first.mutable_reply()->set_streamed(true);
  expect(s, first);
  cr::StreamedRequest quiet;
  quiet.set_empty(true);
  *quiet.add_effects() = [] {
    cr::Effect e;
    e.set_id("one");
    e.set_synchronous(true);
    return e;
  }();
  s.write(process_streamed(2, "PNCounter-s", quiet));
  pb::CrdtStreamOut second;
  second.mutable_reply()->set_command_id(2);
  second.mutable_reply()->set_streamed(true);
  expect(s, second);  // no element, but subscribed
  s.write(process(3, "PNCounter-s", {update(pn_change(10))}));
  expect(s, reply(3, pn_state(10), pncounter_delta(10)));
  expect(s, streamed(1, pn_state(10)));
  pb::CrdtStreamOut effects_only;
  effects_only.mutable_streamed_message()->set_command_id(2);
  *effects_only.mutable_streamed_message()->add_side_effects() = side_effect("one", true);
  expect(s, effects_only);
  // Cancelling the first stream applies its cancel update, which the second hears of.
  s.write(cancelled(1, "PNCounter-s"));
  expect(s, cancel_response(1, pncounter_delta(-42)));
  expect(s, effects_only);
  s.write(process(4, "PNCounter-s"));
  expect(s, reply(4, pn_state(-32)));
  s.write(cancelled(2, "PNCounter-s"));
  expect(s, cancel_response(2));
  CHECK(s.close().ok());
}

TEST_CASE_FIXTURE(crdt_fixture, "crdt.unstreamed_call_of_a_streaming_method") {
  // Command.streamed false (e.g. a unary HTTP call): the reply ends the call, nothing subscribes.
  auto s = open();
  s.write(init(model, "GCounter-u"));
  auto in = process_streamed(1, "GCounter-u", cr::StreamedRequest{});
  in.mutable_command()->set_streamed(false);
  s.write(in);
  expect(s, reply(1, gc_state(0)));
  s.write(process(2, "GCounter-u", {update(gc_inc(1))}));
  expect(s, reply(2, gc_state(1), gcounter_delta(1)));
  CHECK(s.close().ok());
}

// --- protocol errors -------------------------------------------------------------------------------------------------

TEST_CASE_FIXTURE(crdt_fixture, "crdt.protocol_errors") {
  SUBCASE("first message not init") {
    auto s = open();
    s.write(process(1, "GCounter-p"));
    expect_protocol_failure(s, "init");
  }
  SUBCASE("unknown entity type") {
    auto s = open();
    s.write(init("cloudstate.tck.model.crdt.Nope", "x"));
    expect_protocol_failure(s, "Nope");
  }
  SUBCASE("init twice") {
    auto s = open();
    s.write(init(model, "GCounter-p"));
    s.write(init(model, "GCounter-p"));
    expect_protocol_failure(s, "init");
  }
  SUBCASE("delta of another type") {
    auto s = open();
    s.write(init(model, "GCounter-p", gcounter_delta(1)));
    s.write(delta_in(flag_delta(true)));
    expect_protocol_failure(s, "Flag");
  }
  SUBCASE("empty delta") {
    auto s = open();
    s.write(init(model, "GCounter-p"));
    s.write(delta_in(pb::CrdtDelta{}));
    expect_protocol_failure(s, "empty");
  }
  SUBCASE("cancellation of an unknown stream") {
    auto s = open();
    s.write(init(model, "GCounter-p"));
    s.write(process(1, "GCounter-p"));
    expect(s, reply(1, gc_state(0)));
    s.write(cancelled(1, "GCounter-p"));  // command 1 never streamed
    expect_protocol_failure(s, "unknown command 1");
  }
}

// --- registration and discovery -------------------------------------------------------------------------------------

TEST_CASE_FIXTURE(crdt_fixture, "crdt.discovery") {
  grpc::ClientContext ctx;
  ctx.set_deadline(deadline());
  cloudstate::ProxyInfo info;
  info.set_protocol_major_version(0);
  info.set_protocol_minor_version(2);
  info.add_supported_entity_types("cloudstate.crdt.Crdt");
  cloudstate::EntitySpec spec;
  auto discovery = cloudstate::EntityDiscovery::NewStub(channel);
  REQUIRE(discovery->discover(&ctx, info, &spec).ok());
  REQUIRE(spec.entities_size() == 3);
  CHECK(spec.entities(0).entity_type() == "cloudstate.crdt.Crdt");
  CHECK(spec.entities(0).service_name() == model);
  CHECK(spec.entities(0).persistence_id() == "crdt-tck-model");
  CHECK(spec.entities(1).persistence_id() == "crdt-tck-model-two");
  CHECK(spec.entities(2).service_name() == configured);
  CHECK(spec.entities(2).passivation_strategy().timeout().timeout() == 100);
}

TEST_CASE("crdt.registration") {
  namespace t = actorstate::uftest;
  actorstate::user_function_server server{actorstate::user_function_options{}};
  SUBCASE("no stream of requests") {
    actorstate::crdt_entity e{"actorstate.uftest.Tally", "tally"};
    auto added = server.add(e);
    CHECK(added.code() == actorstate::status_code::invalid_argument);
    CHECK_MESSAGE(added.message().find("Feed") != std::string::npos, added.message());
  }
  SUBCASE("needs a persistence id") {
    actorstate::crdt_entity e{model, ""};
    CHECK(server.add(e).code() == actorstate::status_code::invalid_argument);
  }
  SUBCASE("unary handler for the streaming method") {
    actorstate::crdt_entity e{model, "m"};
    e.on_command<cr::StreamedRequest, cr::Response>(
        "ProcessStreamed", [](const cr::StreamedRequest&, actorstate::crdt_context&) { return cr::Response{}; });
    CHECK(server.add(e).code() == actorstate::status_code::invalid_argument);
  }
}

// --- in process ---------------------------------------------------------------------------------------------------

namespace {

/// A conversation opened the way the runtime opens one, recording what it answers.
struct local_conversation {
  explicit local_conversation(const actorstate::crdt_entity& entity, const std::string& id = "GCounter-l") {
    auto m = std::static_pointer_cast<actorstate::detail::crdt_model>(entity.model());
    actorstate::detail::crdt_sink sink;
    sink.message = [this](pb::CrdtStreamOut out) { outs.push_back(std::move(out)); };
    sink.ended = [this](actorstate::status why) { ended = why; };
    conversation = m->open(id, std::move(sink));
  }
  void send(const pb::CrdtStreamIn& in) { conversation->send(in); }
  pb::CrdtStreamOut take() {
    REQUIRE(!outs.empty());
    auto out = std::move(outs.front());
    outs.erase(outs.begin());
    return out;
  }

  std::vector<pb::CrdtStreamOut> outs;
  std::optional<actorstate::status> ended;
  std::unique_ptr<actorstate::detail::crdt_conversation> conversation;
};

}  // namespace

TEST_CASE("crdt.local.answers_inside_send") {
  local_conversation c{tck::crdt_tck_model()};
  c.send(init(model, "GCounter-l"));
  CHECK(c.outs.empty());
  c.send(process(1, "GCounter-l", {update(gc_inc(2))}));
  REQUIRE(c.outs.size() == 1);
  expect(c.take(), reply(1, gc_state(2), gcounter_delta(2)));
  c.conversation->close();
  c.send(process(2, "GCounter-l"));  // nothing after close
  CHECK(c.outs.empty());
  CHECK_FALSE(c.ended);
}

TEST_CASE("crdt.local.protocol_error_ends") {
  local_conversation c{tck::crdt_tck_model()};
  c.send(delta_in(gcounter_delta(1)));
  REQUIRE(c.outs.size() == 1);
  CHECK(c.outs[0].has_failure());
  REQUIRE(c.ended);
  CHECK_FALSE(c.ended->ok());
  c.send(init(model, "GCounter-l"));
  CHECK(c.outs.size() == 1);
}

TEST_CASE("crdt.local.change_handlers_cannot_change_the_state") {
  actorstate::crdt_entity e{model, "m"};
  e.on_command<cr::Request, cr::Response>("Process",
                                          [](const cr::Request&, actorstate::crdt_context& ctx) {
                                            ctx.state_or_create<crdt::gcounter>().increment(1);
                                            return cr::Response{};
                                          })
      .on_stream<cr::StreamedRequest, cr::Response>(
          "ProcessStreamed",
          [](const cr::StreamedRequest&,
             actorstate::crdt_stream_context<cr::Response>& ctx) -> actorstate::outcome<cr::Response> {
            ctx.on_change([](actorstate::crdt_change_context& change) -> actorstate::outcome<cr::Response> {
              change.state<crdt::gcounter>()->increment(1);
              return cr::Response{};
            });
            return actorstate::no_reply;
          });
  local_conversation c{e};
  c.send(init(model, "GCounter-l"));
  c.send(process_streamed(1, "GCounter-l", cr::StreamedRequest{}));
  auto first = c.take();
  CHECK(first.reply().streamed());
  c.send(process(2, "GCounter-l"));
  auto r = c.take();
  CHECK(r.reply().state_action().update().gcounter().increment() == 1);
  auto failed = c.take();
  REQUIRE(failed.has_streamed_message());
  CHECK(failed.streamed_message().client_action().has_failure());
  // The failed stream is over: later changes are not its business.
  c.send(process(3, "GCounter-l"));
  c.take();
  CHECK(c.outs.empty());
}

TEST_CASE("crdt.primitives") {
  CHECK(crdt::of_string("").payload.empty());  // the default is omitted, as in Cloudstate's encoding
  CHECK(crdt::of_string("a").type == "p.cloudstate.io/string");
  CHECK(crdt::as_string(crdt::of_string("hello")) == "hello");
  CHECK(crdt::as_int64(crdt::of_int64(-5)) == -5);
  CHECK(crdt::as_int32(crdt::of_int32(7)) == 7);
  CHECK(crdt::as_bool(crdt::of_bool(true)) == true);
  CHECK(crdt::as_double(crdt::of_double(1.5)) == 1.5);
  CHECK(crdt::as_float(crdt::of_float(2.5f)) == 2.5f);
  CHECK(crdt::as_bytes(crdt::of_bytes("\x01\x02")) == std::string{"\x01\x02"});
  CHECK_FALSE(crdt::as_int64(crdt::of_string("x")));
  cr::Request r = request("id");
  CHECK(crdt::as_message<cr::Request>(crdt::of_message(r))->id() == "id");
  // The bytes of field 1, as Cloudstate's Java support writes them.
  CHECK(crdt::of_string("a").payload == std::string{"\x0a\x01"
                                                    "a"});
  CHECK(crdt::of_int64(1).payload == std::string{"\x08\x01"});
}

}  // namespace uf_test
