// Forwards and side effects through a whole node (the frontend's router), in process.
#include <doctest/doctest.h>

#include <future>

#include "actorstate/node.hpp"
#include "test_entities.hpp"

using namespace actorstate;
using namespace actorstate::testing;

namespace {

action relay() {
  action a{"actorstate.testing.Relay"};
  a.on_call<AppendText, TextReply>("Append", [](const AppendText& in, action_context& ctx) -> outcome<TextReply> {
    SetNumber record;
    record.set_id(in.id());
    record.set_value(static_cast<int64_t>(in.text().size()));
    ctx.side_effect("actorstate.testing.Register", "Set", record, /*synchronous=*/true);
    if (in.fail())
      return forward_to{"actorstate.testing.Nowhere", "Append", in};
    return forward_to{"actorstate.testing.TextLog", "Append", in};
  });
  return a;
}

struct node_fixture {
  node_fixture() {
    n = std::make_unique<node>(local_node_options("memory", "warn"));
    REQUIRE(n->add(text_log()).ok());
    REQUIRE(n->add(number_register()).ok());
    REQUIRE(n->add(relay()).ok());
    REQUIRE(n->start().ok());
  }
  ~node_fixture() {
    n->stop();
    CHECK(n->run().ok());
  }
  command_result invoke(const std::string& service, command cmd) {
    auto p = std::make_shared<std::promise<command_result>>();
    auto f = p->get_future();
    n->invoke(service, std::move(cmd), [p](command_result r) { p->set_value(std::move(r)); });
    REQUIRE(f.wait_for(std::chrono::seconds{10}) == std::future_status::ready);
    return f.get();
  }
  std::unique_ptr<node> n;
};

}  // namespace

TEST_CASE_FIXTURE(node_fixture, "effects.forward_replies_with_the_target_and_sync_side_effect_ran_first") {
  AppendText a;
  a.set_id("fw");
  a.set_text("hello");
  auto r = invoke("actorstate.testing.Relay", make_command("", "Append", a));
  REQUIRE_MESSAGE(r.ok(), r.status.message());
  TextReply reply;
  REQUIRE(reply.ParseFromString(r.payload));
  CHECK(reply.value() == "hello");
  GetText g;
  g.set_id("fw");
  auto n = invoke("actorstate.testing.Register", make_command("fw", "Read", g));
  REQUIRE(n.ok());
  NumberState state;
  REQUIRE(state.ParseFromString(n.payload));
  CHECK(state.value() == 5);
}

TEST_CASE_FIXTURE(node_fixture, "effects.forward_to_an_unknown_service_fails_the_call") {
  AppendText a;
  a.set_id("nowhere");
  a.set_text("x");
  a.set_fail(true);
  auto r = invoke("actorstate.testing.Relay", make_command("", "Append", a));
  CHECK(r.status.code() == status_code::unimplemented);
}
