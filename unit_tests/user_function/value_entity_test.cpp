// ValueEntity/handle driven like the proxy: init always carries `state` (its value unset when nothing is stored);
// replies say whether to update or delete the stored value.
#include "fixture.hpp"

namespace uf_test {

namespace {

namespace ve = cloudstate::valueentity;
namespace t = actorstate::uftest;

ve::ValueEntityStreamIn init(const std::string& id, const google::protobuf::Any* value = nullptr) {
  ve::ValueEntityStreamIn in;
  in.mutable_init()->set_service_name("actorstate.uftest.Register");
  in.mutable_init()->set_entity_id(id);
  auto* state = in.mutable_init()->mutable_state();
  if (value != nullptr)
    *state->mutable_value() = *value;
  return in;
}

ve::ValueEntityStreamIn set(int64_t cmd_id, const std::string& id, int64_t value, bool remove = false,
                            bool fail = false) {
  t::SetRequest req;
  req.set_id(id);
  req.set_value(value);
  req.set_remove(remove);
  req.set_fail(fail);
  ve::ValueEntityStreamIn in;
  *in.mutable_command() = command(cmd_id, id, "Set", req);
  return in;
}

ve::ValueEntityStreamIn read(int64_t cmd_id, const std::string& id) {
  t::GetRequest req;
  req.set_id(id);
  ve::ValueEntityStreamIn in;
  *in.mutable_command() = command(cmd_id, id, "Read", req);
  return in;
}

ve::ValueEntityReply reply_to(ve_stream& s, int64_t id) {
  auto out = s.read();
  REQUIRE_MESSAGE(out.has_reply(), out.DebugString());
  CHECK(out.reply().command_id() == id);
  return out.reply();
}

t::RegisterReply payload(const ve::ValueEntityReply& r) {
  REQUIRE_MESSAGE(r.client_action().has_reply(), r.DebugString());
  return unpack<t::RegisterReply>(r.client_action().reply().payload());
}

}  // namespace

TEST_CASE_FIXTURE(fixture, "value_entity.init_without_state_update_delete") {
  auto s = open_value_entity();
  s.write(init("r1"));

  s.write(read(1, "r1"));
  auto r1 = reply_to(s, 1);
  CHECK_FALSE(payload(r1).present());
  CHECK_FALSE(r1.has_state_action());

  s.write(set(2, "r1", 5));
  auto r2 = reply_to(s, 2);
  CHECK(payload(r2).value() == 5);
  REQUIRE(r2.state_action().has_update());
  CHECK(unpack<t::RegisterState>(r2.state_action().update().value()).value() == 5);

  s.write(read(3, "r1"));
  auto r3 = reply_to(s, 3);
  CHECK(payload(r3).present());
  CHECK(payload(r3).value() == 5);
  CHECK_FALSE(r3.has_state_action());

  s.write(set(4, "r1", 0, true));
  auto r4 = reply_to(s, 4);
  CHECK(r4.state_action().has_delete_());
  CHECK(r4.client_action().has_reply());

  s.write(read(5, "r1"));
  auto r5 = reply_to(s, 5);
  CHECK_FALSE(payload(r5).present());
  CHECK(payload(r5).value() == 0);
  CHECK(s.close().ok());
}

TEST_CASE_FIXTURE(fixture, "value_entity.init_with_state") {
  auto s = open_value_entity();
  t::RegisterState stored;
  stored.set_value(7);
  auto any = pack(stored);
  s.write(init("r2", &any));
  s.write(read(1, "r2"));
  auto r1 = payload(reply_to(s, 1));
  CHECK(r1.present());
  CHECK(r1.value() == 7);
  CHECK(s.close().ok());
}

TEST_CASE_FIXTURE(fixture, "value_entity.init_with_state_of_wrong_type") {
  auto s = open_value_entity();
  auto any = pack(t::JournalState{});
  s.write(init("r3", &any));
  auto out = s.read();
  REQUIRE(out.has_failure());
  CHECK(out.failure().command_id() == 0);
  s.expect_end();
  CHECK(s.finish().ok());
}

TEST_CASE_FIXTURE(fixture, "value_entity.user_failure") {
  auto s = open_value_entity();
  s.write(init("r4"));
  s.write(set(1, "r4", 9, false, true));
  auto r1 = reply_to(s, 1);
  REQUIRE(r1.client_action().has_failure());
  CHECK(r1.client_action().failure().command_id() == 1);
  CHECK(r1.client_action().failure().description() == "set refused");
  CHECK_FALSE(r1.has_state_action());
  s.write(read(2, "r4"));
  CHECK_FALSE(payload(reply_to(s, 2)).present());
  CHECK(s.close().ok());
}

TEST_CASE_FIXTURE(fixture, "value_entity.first_message_not_init") {
  auto s = open_value_entity();
  s.write(read(1, "r5"));
  auto out = s.read();
  REQUIRE(out.has_failure());
  CHECK(out.failure().command_id() == 0);
  s.expect_end();
  CHECK(s.finish().ok());
}

}  // namespace uf_test
