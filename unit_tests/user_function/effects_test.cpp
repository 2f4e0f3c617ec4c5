// Forwards and side effects as the user function reports them: `client_action.forward` in place of a reply and
// `side_effects` in the order the handler asked for them, for every kind. Entities drop side effects (and events or
// state changes) on failure; actions keep them. The entity types here reuse the uftest services with handlers of
// their own, on a server of their own.
#include <google/protobuf/util/message_differencer.h>

#include "fixture.hpp"

namespace uf_test {

namespace {

namespace es = cloudstate::eventsourced;
namespace ve = cloudstate::valueentity;
namespace ac = cloudstate::action;
namespace t = actorstate::uftest;

const std::string journal = "actorstate.uftest.Journal";
const std::string registry = "actorstate.uftest.Register";
const std::string echo = "actorstate.uftest.Echo";

t::Shout shout(const std::string& text) {
  t::Shout s;
  s.set_text(text);
  return s;
}

t::GetRequest get_request(const std::string& id) {
  t::GetRequest req;
  req.set_id(id);
  return req;
}

// Append: emits Appended{text}; `times` side effects Echo.Say(text + i), every odd one synchronous; text "forward"
// forwards to Echo.Say; `fail` asks for a side effect and emits before failing.
actorstate::event_sourced_entity<t::JournalState> forwarding_journal() {
  actorstate::event_sourced_entity<t::JournalState> entity{journal, "journal"};
  entity.snapshot_every(2)
      .on_command<t::AppendRequest, t::TextReply>(
          "Append",
          [](const t::JournalState& state, const t::AppendRequest& req,
             actorstate::event_context& ctx) -> actorstate::outcome<t::TextReply> {
            t::Appended ev;
            ev.set_text(req.text());
            ctx.emit(ev);
            for (int i = 0; i < req.times(); ++i)
              ctx.side_effect(echo, "Say", shout(req.text() + std::to_string(i)), i % 2 == 1);
            if (req.fail()) {
              ctx.side_effect(echo, "Say", shout("never"));
              return actorstate::failure{"append refused"};
            }
            if (req.text() == "forward")
              return actorstate::forward_to{echo, "Say", shout(state.text())};
            t::TextReply reply;
            reply.set_text(state.text() + req.text());
            return reply;
          })
      .on_event<t::Appended>(
          [](t::JournalState& state, const t::Appended& ev) { state.set_text(state.text() + ev.text()); });
  return entity;
}

// Set: stores the value and asks for a synchronous side effect Journal.Get(id); `remove` forwards to
// Journal.Get(id) instead of replying (the state is still stored); `fail` fails after both.
actorstate::value_entity<t::RegisterState> forwarding_register() {
  actorstate::value_entity<t::RegisterState> entity{registry, "register"};
  entity.on_command<t::SetRequest, t::RegisterReply>(
      "Set",
      [](const t::RegisterState&, const t::SetRequest& req,
         actorstate::value_context& ctx) -> actorstate::outcome<t::RegisterReply> {
        t::RegisterState next;
        next.set_value(req.value());
        ctx.update_state(next);
        ctx.side_effect(journal, "Get", get_request(req.id()), true);
        if (req.fail())
          return actorstate::failure{"set refused"};
        if (req.remove())
          return actorstate::forward_to{journal, "Get", get_request(req.id())};
        t::RegisterReply reply;
        reply.set_value(req.value());
        reply.set_present(true);
        return reply;
      });
  return entity;
}

// Say: one side effect Register.Read(text), then a failure when `fail`, a forward to Register.Read(text) for text
// "forward", else a reply.
actorstate::action forwarding_echo() {
  actorstate::action action{echo};
  action.on_call<t::Shout, t::Shout>(
      "Say", [](const t::Shout& req, actorstate::action_context& ctx) -> actorstate::outcome<t::Shout> {
        ctx.side_effect(registry, "Read", get_request(req.text()));
        if (req.fail())
          return actorstate::failure{"echo refused"};
        if (req.text() == "forward")
          return actorstate::forward_to{registry, "Read", get_request(req.text())};
        return shout(req.text() + "!");
      });
  return action;
}

class effects_fixture {
public:
  effects_fixture() {
    actorstate::user_function_options opts;
    opts.port = 0;
    opts.service_name = "uf-effects-test";
    opts.drain_timeout = 2s;
    server = std::make_unique<actorstate::user_function_server>(opts);
    REQUIRE(server->add(forwarding_journal()).ok());
    REQUIRE(server->add(forwarding_register()).ok());
    REQUIRE(server->add(forwarding_echo()).ok());
    REQUIRE(server->start().ok());
    auto channel = channel_to(server->port());
    event_sourced = cloudstate::eventsourced::EventSourced::NewStub(channel);
    values = cloudstate::valueentity::ValueEntity::NewStub(channel);
    actions = cloudstate::action::ActionProtocol::NewStub(channel);
  }

  es_stream open_event_sourced() {
    return es_stream{[this](grpc::ClientContext* ctx) { return event_sourced->handle(ctx); }};
  }
  ve_stream open_value_entity() {
    return ve_stream{[this](grpc::ClientContext* ctx) { return values->handle(ctx); }};
  }

  std::unique_ptr<actorstate::user_function_server> server;
  std::unique_ptr<cloudstate::eventsourced::EventSourced::Stub> event_sourced;
  std::unique_ptr<cloudstate::valueentity::ValueEntity::Stub> values;
  std::unique_ptr<cloudstate::action::ActionProtocol::Stub> actions;
};

void check_equal(const google::protobuf::Message& actual, const google::protobuf::Message& expected) {
  CHECK_MESSAGE(google::protobuf::util::MessageDifferencer::Equals(actual, expected),
                "expected: " << expected.ShortDebugString() << "\nactual:   " << actual.ShortDebugString());
}

cloudstate::SideEffect effect(const std::string& service, const std::string& method,
                              const google::protobuf::Message& payload, bool synchronous) {
  cloudstate::SideEffect e;
  e.set_service_name(service);
  e.set_command_name(method);
  *e.mutable_payload() = pack(payload);
  e.set_synchronous(synchronous);
  return e;
}

void set_forward(cloudstate::Forward& fwd, const std::string& service, const std::string& method,
                 const google::protobuf::Message& payload) {
  fwd.set_service_name(service);
  fwd.set_command_name(method);
  *fwd.mutable_payload() = pack(payload);
}

t::Appended appended(const std::string& text) {
  t::Appended ev;
  ev.set_text(text);
  return ev;
}

t::JournalState journal_state(const std::string& text) {
  t::JournalState s;
  s.set_text(text);
  return s;
}

es::EventSourcedStreamIn append(int64_t id, const std::string& entity, const std::string& text, int times = 0,
                                bool fail = false) {
  t::AppendRequest req;
  req.set_id(entity);
  req.set_text(text);
  req.set_times(times);
  req.set_fail(fail);
  es::EventSourcedStreamIn in;
  *in.mutable_command() = command(id, entity, "Append", req);
  return in;
}

es::EventSourcedStreamIn journal_init(const std::string& id) {
  es::EventSourcedStreamIn in;
  in.mutable_init()->set_service_name(journal);
  in.mutable_init()->set_entity_id(id);
  return in;
}

ve::ValueEntityStreamIn register_init(const std::string& id) {
  ve::ValueEntityStreamIn in;
  in.mutable_init()->set_service_name(registry);
  in.mutable_init()->set_entity_id(id);
  in.mutable_init()->mutable_state();
  return in;
}

ve::ValueEntityStreamIn set(int64_t cmd_id, const std::string& id, int64_t value, bool remove, bool fail) {
  t::SetRequest req;
  req.set_id(id);
  req.set_value(value);
  req.set_remove(remove);
  req.set_fail(fail);
  ve::ValueEntityStreamIn in;
  *in.mutable_command() = command(cmd_id, id, "Set", req);
  return in;
}

ac::ActionResponse say(effects_fixture& f, const std::string& text, bool fail = false) {
  t::Shout req = shout(text);
  req.set_fail(fail);
  ac::ActionCommand cmd;
  cmd.set_service_name(echo);
  cmd.set_name("Say");
  *cmd.mutable_payload() = pack(req);
  grpc::ClientContext ctx;
  ctx.set_deadline(deadline());
  ac::ActionResponse response;
  auto status = f.actions->handleUnary(&ctx, cmd, &response);
  REQUIRE_MESSAGE(status.ok(), status.error_message());
  return response;
}

}  // namespace

TEST_CASE_FIXTURE(effects_fixture, "effects.event_sourced_side_effects_in_order") {
  auto s = open_event_sourced();
  s.write(journal_init("j1"));
  s.write(append(1, "j1", "ab", 3));
  es::EventSourcedStreamOut expected;
  auto* reply = expected.mutable_reply();
  reply->set_command_id(1);
  t::TextReply text;
  text.set_text("ab");
  *reply->mutable_client_action()->mutable_reply()->mutable_payload() = pack(text);
  *reply->add_side_effects() = effect(echo, "Say", shout("ab0"), false);
  *reply->add_side_effects() = effect(echo, "Say", shout("ab1"), true);
  *reply->add_side_effects() = effect(echo, "Say", shout("ab2"), false);
  *reply->add_events() = pack(appended("ab"));
  check_equal(s.read(), expected);
  CHECK(s.close().ok());
}

TEST_CASE_FIXTURE(effects_fixture, "effects.event_sourced_forward_with_events_and_snapshot") {
  auto s = open_event_sourced();
  s.write(journal_init("j2"));
  s.write(append(1, "j2", "x"));
  CHECK(s.read().reply().client_action().has_reply());
  // The second event crosses snapshot_every(2): the forward carries the events, the snapshot and a side effect;
  // its payload is built from the state the handler saw (before this command's event).
  s.write(append(2, "j2", "forward", 1));
  es::EventSourcedStreamOut expected;
  auto* reply = expected.mutable_reply();
  reply->set_command_id(2);
  set_forward(*reply->mutable_client_action()->mutable_forward(), echo, "Say", shout("x"));
  *reply->add_side_effects() = effect(echo, "Say", shout("forward0"), false);
  *reply->add_events() = pack(appended("forward"));
  *reply->mutable_snapshot() = pack(journal_state("xforward"));
  check_equal(s.read(), expected);
  CHECK(s.close().ok());
}

TEST_CASE_FIXTURE(effects_fixture, "effects.event_sourced_failure_drops_side_effects_and_events") {
  auto s = open_event_sourced();
  s.write(journal_init("j3"));
  s.write(append(1, "j3", "a", 2, true));
  es::EventSourcedStreamOut expected;
  auto* reply = expected.mutable_reply();
  reply->set_command_id(1);
  auto* failure = reply->mutable_client_action()->mutable_failure();
  failure->set_command_id(1);
  failure->set_description("append refused");
  check_equal(s.read(), expected);
  // Nothing of the failed command reached the local state either.
  s.write(append(2, "j3", "b"));
  auto r2 = s.read();
  CHECK(unpack<t::TextReply>(r2.reply().client_action().reply().payload()).text() == "b");
  CHECK(s.close().ok());
}

TEST_CASE_FIXTURE(effects_fixture, "effects.value_entity_forward_with_state_and_side_effect") {
  auto s = open_value_entity();
  s.write(register_init("r1"));
  s.write(set(1, "r1", 7, true, false));
  ve::ValueEntityStreamOut expected;
  auto* reply = expected.mutable_reply();
  reply->set_command_id(1);
  set_forward(*reply->mutable_client_action()->mutable_forward(), journal, "Get", get_request("r1"));
  *reply->add_side_effects() = effect(journal, "Get", get_request("r1"), true);
  t::RegisterState stored;
  stored.set_value(7);
  *reply->mutable_state_action()->mutable_update()->mutable_value() = pack(stored);
  check_equal(s.read(), expected);

  s.write(set(2, "r1", 8, false, false));
  ve::ValueEntityStreamOut expected2;
  auto* reply2 = expected2.mutable_reply();
  reply2->set_command_id(2);
  t::RegisterReply answer;
  answer.set_value(8);
  answer.set_present(true);
  *reply2->mutable_client_action()->mutable_reply()->mutable_payload() = pack(answer);
  *reply2->add_side_effects() = effect(journal, "Get", get_request("r1"), true);
  stored.set_value(8);
  *reply2->mutable_state_action()->mutable_update()->mutable_value() = pack(stored);
  check_equal(s.read(), expected2);
  CHECK(s.close().ok());
}

TEST_CASE_FIXTURE(effects_fixture, "effects.value_entity_failure_drops_side_effects_and_state") {
  auto s = open_value_entity();
  s.write(register_init("r2"));
  s.write(set(1, "r2", 3, false, true));
  ve::ValueEntityStreamOut expected;
  auto* reply = expected.mutable_reply();
  reply->set_command_id(1);
  auto* failure = reply->mutable_client_action()->mutable_failure();
  failure->set_command_id(1);
  failure->set_description("set refused");
  check_equal(s.read(), expected);
  CHECK(s.close().ok());
}

TEST_CASE_FIXTURE(effects_fixture, "effects.action_reply_forward_and_failure_with_side_effects") {
  ac::ActionResponse replied;
  *replied.mutable_reply()->mutable_payload() = pack(shout("hi!"));
  *replied.add_side_effects() = effect(registry, "Read", get_request("hi"), false);
  check_equal(say(*this, "hi"), replied);

  ac::ActionResponse forwarded;
  set_forward(*forwarded.mutable_forward(), registry, "Read", get_request("forward"));
  *forwarded.add_side_effects() = effect(registry, "Read", get_request("forward"), false);
  check_equal(say(*this, "forward"), forwarded);

  // Unlike an entity's, an action's failure keeps its side effects.
  ac::ActionResponse failed;
  failed.mutable_failure()->set_description("echo refused");
  *failed.add_side_effects() = effect(registry, "Read", get_request("no"), false);
  check_equal(say(*this, "no", true), failed);
}

}  // namespace uf_test
