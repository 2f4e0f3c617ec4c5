// EventSourced/handle driven like the proxy: init (+ snapshot) and journal events for recovery, then one command
// at a time, each answered by exactly one reply carrying the events to persist.
#include <google/protobuf/empty.pb.h>

#include "fixture.hpp"
#include "shoppingcart/persistence/domain.pb.h"
#include "shoppingcart/shoppingcart.pb.h"

namespace uf_test {

namespace {

namespace api = com::example::shoppingcart;
namespace domain = com::example::shoppingcart::persistence;
namespace es = cloudstate::eventsourced;
namespace t = actorstate::uftest;

es::EventSourcedStreamIn in_command(const cloudstate::Command& cmd) {
  es::EventSourcedStreamIn in;
  *in.mutable_command() = cmd;
  return in;
}

es::EventSourcedStreamIn add_item(int64_t id, const std::string& user, const std::string& product, int32_t qty) {
  api::AddLineItem add;
  add.set_user_id(user);
  add.set_product_id(product);
  add.set_name("name of " + product);
  add.set_quantity(qty);
  return in_command(command(id, user, "AddItem", add));
}

es::EventSourcedStreamIn get_cart(int64_t id, const std::string& user) {
  api::GetShoppingCart get;
  get.set_user_id(user);
  return in_command(command(id, user, "GetCart", get));
}

es::EventSourcedStreamIn event(int64_t seq, const google::protobuf::Message& payload) {
  es::EventSourcedStreamIn in;
  in.mutable_event()->set_sequence(seq);
  *in.mutable_event()->mutable_payload() = pack(payload);
  return in;
}

// The reply to command `id`; fails the test if the server sent anything else.
es::EventSourcedReply reply_to(es_stream& s, int64_t id) {
  auto out = s.read();
  REQUIRE_MESSAGE(out.has_reply(), out.DebugString());
  CHECK(out.reply().command_id() == id);
  return out.reply();
}

const cloudstate::Failure& client_failure(const es::EventSourcedReply& reply) {
  REQUIRE_MESSAGE(reply.client_action().has_failure(), reply.DebugString());
  return reply.client_action().failure();
}

std::string items_of(const api::Cart& cart) {
  std::string text;
  for (const auto& item : cart.items())
    text += item.product_id() + "=" + std::to_string(item.quantity()) + ";";
  return text;
}

es::EventSourcedStreamIn journal_init(const std::string& id) {
  es::EventSourcedStreamIn in;
  in.mutable_init()->set_service_name("actorstate.uftest.Journal");
  in.mutable_init()->set_entity_id(id);
  return in;
}

es::EventSourcedStreamIn append(int64_t id, const std::string& entity, t::AppendRequest req) {
  req.set_id(entity);
  return in_command(command(id, entity, "Append", req));
}

}  // namespace

TEST_CASE_FIXTURE(fixture, "event_sourced.commands_emit_events") {
  auto s = open_event_sourced();
  s.write(cart_init("alice"));

  s.write(add_item(1, "alice", "A14362347", 7));
  auto r1 = reply_to(s, 1);
  REQUIRE(r1.client_action().has_reply());
  unpack<google::protobuf::Empty>(r1.client_action().reply().payload());
  REQUIRE(r1.events_size() == 1);
  auto added = unpack<domain::ItemAdded>(r1.events(0));
  CHECK(added.item().productid() == "A14362347");
  CHECK(added.item().name() == "name of A14362347");
  CHECK(added.item().quantity() == 7);
  CHECK_FALSE(r1.has_snapshot());
  CHECK(r1.side_effects_size() == 0);

  s.write(add_item(2, "alice", "A14362347", 1));
  CHECK(reply_to(s, 2).events_size() == 1);

  s.write(get_cart(3, "alice"));
  auto r3 = reply_to(s, 3);
  CHECK(r3.events_size() == 0);
  auto cart = unpack<api::Cart>(r3.client_action().reply().payload());
  CHECK(items_of(cart) == "A14362347=8;");

  api::RemoveLineItem remove;
  remove.set_user_id("alice");
  remove.set_product_id("A14362347");
  s.write(in_command(command(4, "alice", "RemoveItem", remove)));
  auto r4 = reply_to(s, 4);
  REQUIRE(r4.events_size() == 1);
  CHECK(unpack<domain::ItemRemoved>(r4.events(0)).productid() == "A14362347");

  s.write(get_cart(5, "alice"));
  CHECK(unpack<api::Cart>(reply_to(s, 5).client_action().reply().payload()).items_size() == 0);
  CHECK(s.close().ok());
}

TEST_CASE_FIXTURE(fixture, "event_sourced.recovery_from_snapshot_and_events") {
  auto s = open_event_sourced();
  auto init = cart_init("bob");
  domain::Cart snapshot;
  auto* item = snapshot.add_items();
  item->set_productid("A");
  item->set_name("a");
  item->set_quantity(2);
  init.mutable_init()->mutable_snapshot()->set_snapshot_sequence(5);
  *init.mutable_init()->mutable_snapshot()->mutable_snapshot() = pack(snapshot);
  s.write(init);
  domain::ItemAdded b;
  b.mutable_item()->set_productid("B");
  b.mutable_item()->set_quantity(1);
  s.write(event(6, b));
  domain::ItemAdded more_a;
  more_a.mutable_item()->set_productid("A");
  more_a.mutable_item()->set_quantity(3);
  s.write(event(7, more_a));

  s.write(get_cart(1, "bob"));
  CHECK(items_of(unpack<api::Cart>(reply_to(s, 1).client_action().reply().payload())) == "A=5;B=1;");

  // Sequence 7 after recovery: events 8 and 9 carry no snapshot, event 10 crosses the next multiple of 5.
  s.write(add_item(2, "bob", "C", 1));
  CHECK_FALSE(reply_to(s, 2).has_snapshot());
  s.write(add_item(3, "bob", "D", 1));
  CHECK_FALSE(reply_to(s, 3).has_snapshot());
  s.write(add_item(4, "bob", "E", 1));
  auto r4 = reply_to(s, 4);
  REQUIRE(r4.has_snapshot());
  CHECK(unpack<domain::Cart>(r4.snapshot()).items_size() == 5);
  CHECK(s.close().ok());
}

TEST_CASE_FIXTURE(fixture, "event_sourced.snapshot_when_crossing_snapshot_every") {
  auto s = open_event_sourced();
  s.write(cart_init("carol"));
  for (int i = 1; i <= 4; ++i) {
    s.write(add_item(i, "carol", "P" + std::to_string(i), i));
    auto r = reply_to(s, i);
    CHECK(r.events_size() == 1);
    CHECK_FALSE(r.has_snapshot());
  }
  s.write(add_item(5, "carol", "P5", 5));
  auto r5 = reply_to(s, 5);
  CHECK(r5.events_size() == 1);
  REQUIRE(r5.has_snapshot());
  // The snapshot is the state after this reply's events.
  auto snap = unpack<domain::Cart>(r5.snapshot());
  REQUIRE(snap.items_size() == 5);
  CHECK(snap.items(4).productid() == "P5");
  CHECK(snap.items(4).quantity() == 5);

  s.write(add_item(6, "carol", "P6", 1));
  CHECK_FALSE(reply_to(s, 6).has_snapshot());
  // A command without events never carries a snapshot.
  s.write(get_cart(7, "carol"));
  CHECK_FALSE(reply_to(s, 7).has_snapshot());
  CHECK(s.close().ok());
}

TEST_CASE_FIXTURE(fixture, "event_sourced.snapshot_when_several_events_cross") {
  // The journal snapshots every 10 events; what counts is crossing a multiple, not landing on one.
  auto s = open_event_sourced();
  s.write(journal_init("j-many"));
  t::AppendRequest req;
  req.set_text("x");
  req.set_times(12);
  s.write(append(1, "j-many", req));
  auto r1 = reply_to(s, 1);
  CHECK(r1.events_size() == 12);
  for (const auto& ev : r1.events())
    CHECK(unpack<t::Appended>(ev).text() == "x");
  REQUIRE(r1.has_snapshot());
  CHECK(unpack<t::JournalState>(r1.snapshot()).text() == std::string(12, 'x'));

  req.set_times(7);  // 13..19
  s.write(append(2, "j-many", req));
  CHECK_FALSE(reply_to(s, 2).has_snapshot());
  req.set_times(1);  // 20
  s.write(append(3, "j-many", req));
  auto r3 = reply_to(s, 3);
  REQUIRE(r3.has_snapshot());
  CHECK(unpack<t::JournalState>(r3.snapshot()).text() == std::string(20, 'x'));
  CHECK(s.close().ok());
}

TEST_CASE_FIXTURE(fixture, "event_sourced.user_failure") {
  auto s = open_event_sourced();
  s.write(cart_init("dave"));
  s.write(add_item(1, "dave", "A", 0));
  auto r1 = reply_to(s, 1);
  const auto& failure = client_failure(r1);
  CHECK(failure.command_id() == 1);
  CHECK(failure.description() == "Cannot add negative quantity to item A");
  CHECK_FALSE(failure.restart());
  CHECK(r1.events_size() == 0);
  CHECK_FALSE(r1.has_snapshot());

  api::RemoveLineItem remove;
  remove.set_user_id("dave");
  remove.set_product_id("B");
  s.write(in_command(command(2, "dave", "RemoveItem", remove)));
  CHECK(client_failure(reply_to(s, 2)).description() == "Item B not in cart");

  // The stream stays usable and the state untouched.
  s.write(get_cart(3, "dave"));
  CHECK(unpack<api::Cart>(reply_to(s, 3).client_action().reply().payload()).items_size() == 0);
  CHECK(s.close().ok());
}

TEST_CASE_FIXTURE(fixture, "event_sourced.unknown_method_and_bad_payload") {
  auto s = open_event_sourced();
  s.write(journal_init("j1"));
  t::GetRequest get;
  get.set_id("j1");
  s.write(in_command(command(1, "j1", "NoSuchMethod", get)));
  auto r1 = reply_to(s, 1);
  CHECK(client_failure(r1).command_id() == 1);
  CHECK(client_failure(r1).description().find("NoSuchMethod") != std::string::npos);
  CHECK(r1.events_size() == 0);

  // In the service, but the entity registered no handler for it.
  s.write(in_command(command(2, "j1", "Unregistered", get)));
  CHECK(client_failure(reply_to(s, 2)).description().find("Unregistered") != std::string::npos);

  auto bad = command(3, "j1", "Append", get);
  bad.mutable_payload()->set_value("\xff\xff\xff");
  s.write(in_command(bad));
  auto r3 = reply_to(s, 3);
  CHECK(client_failure(r3).command_id() == 3);
  CHECK(r3.events_size() == 0);

  t::AppendRequest ok;
  ok.set_text("fine");
  s.write(append(4, "j1", ok));
  CHECK(reply_to(s, 4).events_size() == 1);
  CHECK(s.close().ok());
}

TEST_CASE_FIXTURE(fixture, "event_sourced.handler_exception_asks_for_restart") {
  auto s = open_event_sourced();
  s.write(journal_init("j2"));
  t::AppendRequest req;
  req.set_text("boom");
  req.set_throw_in_handler(true);
  s.write(append(1, "j2", req));
  auto r1 = reply_to(s, 1);
  const auto& failure = client_failure(r1);
  CHECK(failure.command_id() == 1);
  CHECK(failure.restart());
  CHECK(failure.description().find("handler bug") != std::string::npos);
  CHECK(r1.events_size() == 0);
  CHECK(s.close().ok());
}

TEST_CASE_FIXTURE(fixture, "event_sourced.unappliable_event_asks_for_restart") {
  auto s = open_event_sourced();
  s.write(journal_init("j3"));
  t::AppendRequest req;
  req.set_text("half");
  req.set_unappliable(true);
  s.write(append(1, "j3", req));
  auto r1 = reply_to(s, 1);
  CHECK(client_failure(r1).restart());
  CHECK(r1.events_size() == 0);
  CHECK_FALSE(r1.has_snapshot());
  // The local state may hold half of the command's events: later commands fail too until the proxy restarts.
  t::GetRequest get;
  get.set_id("j3");
  s.write(in_command(command(2, "j3", "Get", get)));
  CHECK(client_failure(reply_to(s, 2)).restart());
  CHECK(s.close().ok());
}

TEST_CASE_FIXTURE(fixture, "event_sourced.recovery_event_failure_ends_stream") {
  auto s = open_event_sourced();
  s.write(journal_init("j4"));
  s.write(event(1, t::Unhandled{}));
  auto out = s.read();
  REQUIRE(out.has_failure());
  CHECK(out.failure().command_id() == 0);
  s.expect_end();
  CHECK(s.finish().ok());
}

TEST_CASE_FIXTURE(fixture, "event_sourced.first_message_not_init") {
  auto s = open_event_sourced();
  s.write(get_cart(1, "erin"));
  auto out = s.read();
  REQUIRE(out.has_failure());
  CHECK(out.failure().command_id() == 0);
  CHECK(out.failure().description().find("init") != std::string::npos);
  s.expect_end();
  CHECK(s.finish().ok());
}

TEST_CASE_FIXTURE(fixture, "event_sourced.init_for_unknown_service") {
  auto s = open_event_sourced();
  es::EventSourcedStreamIn init;
  init.mutable_init()->set_service_name("no.such.Service");
  init.mutable_init()->set_entity_id("x");
  s.write(init);
  auto out = s.read();
  REQUIRE(out.has_failure());
  CHECK(out.failure().description().find("no.such.Service") != std::string::npos);
  s.expect_end();
  CHECK(s.finish().ok());
}

TEST_CASE_FIXTURE(fixture, "event_sourced.snapshot_of_wrong_type") {
  auto s = open_event_sourced();
  auto init = cart_init("frank");
  init.mutable_init()->mutable_snapshot()->set_snapshot_sequence(5);
  *init.mutable_init()->mutable_snapshot()->mutable_snapshot() = pack(t::JournalState{});
  s.write(init);
  auto out = s.read();
  REQUIRE(out.has_failure());
  CHECK(out.failure().command_id() == 0);
  s.expect_end();
  CHECK(s.finish().ok());
}

TEST_CASE_FIXTURE(fixture, "event_sourced.streams_are_independent") {
  auto a = open_event_sourced();
  auto b = open_event_sourced();
  a.write(journal_init("ja"));
  b.write(journal_init("jb"));
  t::AppendRequest req;
  req.set_text("a");
  a.write(append(1, "ja", req));
  req.set_text("b");
  b.write(append(1, "jb", req));
  CHECK(reply_to(a, 1).events_size() == 1);
  CHECK(reply_to(b, 1).events_size() == 1);
  t::GetRequest get;
  get.set_id("ja");
  a.write(in_command(command(2, "ja", "Get", get)));
  get.set_id("jb");
  b.write(in_command(command(2, "jb", "Get", get)));
  CHECK(unpack<t::TextReply>(reply_to(a, 2).client_action().reply().payload()).text() == "a");
  CHECK(unpack<t::TextReply>(reply_to(b, 2).client_action().reply().payload()).text() == "b");
  CHECK(a.close().ok());
  CHECK(b.close().ok());
}

}  // namespace uf_test
