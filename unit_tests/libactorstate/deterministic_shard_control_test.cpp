// The runtime's part of shard ownership (runtime/shard_control.hpp) under CAF's deterministic test_coordinator (see
// stepped.hpp): serving at an epoch fences every write, holding and serving again, forwarding to the owner, dropping
// a shard that was taken over, handing over across entity types, and the member hearing of a refused fenced write.
#include <doctest/doctest.h>

#include "actorstate/runtime/reply.hpp"
#include "actorstate/runtime/shard_control.hpp"
#include "stepped.hpp"

using namespace actorstate;
using namespace actorstate::testing;

namespace {

using namespace std::chrono_literals;
using persistence::write_fence;

/// One forwarded command, as the forwarder got it.
struct forwarded {
  std::string address;
  std::string service;
  command cmd;
  runtime::reply_to reply;
};

struct control_fixture : deterministic_fixture {
  control_fixture() {
    auto h = std::make_shared<runtime::shard_hooks>();
    h->forward = [this](const std::string& address, const std::string& service, command cmd, runtime::reply_to reply) {
      sent.push_back(forwarded{address, service, std::move(cmd), std::move(reply)});
    };
    h->fenced = [this](uint32_t index) { fenced.push_back(index); };
    hooks = h;
  }

  /// A region of `text_log` with 4 shards and a shard_control over it (and `more` regions).
  void spawn(std::vector<std::shared_ptr<const runtime::region>> more = {}) {
    spawn_region(30s, 4);
    more.insert(more.begin(), region);
    control = runtime::make_shard_control(*sys, std::move(more));
  }

  /// After `spawn_region`: a second entity type, `number_register` with 4 shards, and a shard_control over both.
  std::shared_ptr<const runtime::region> spawn_registers() {
    auto env = std::make_shared<runtime::entity_env>();
    env->model = number_register().model();
    env->store = store;
    env->metrics = std::make_shared<metrics::entity_metrics>();
    runtime::region_config rc;
    rc.env = env;
    rc.shards = 4;
    rc.hooks = hooks;
    auto registers = runtime::spawn_region(*sys, rc);
    control = runtime::make_shard_control(*sys, {region, registers});
    return registers;
  }

  /// Spawns, serves shard `index` at `epoch` and appends "x" to an entity of it, whose id it returns.
  std::string serve_with_x(uint32_t index, int64_t epoch) {
    spawn();
    auto id = id_in_shard(index);
    control->serve(index, epoch);
    auto r = send(append_cmd(id, "x"));
    settle();
    REQUIRE(reply_text(*r) == "x");
    return id;
  }

  /// Sends `cmd` as the frontend does: straight to its shard with a slot, from no actor.
  void call(command cmd) {
    const auto& target = region->target(cmd.entity_id);
    deadlines->call(target, std::move(cmd), [r = calls](command_result x) { r->push_back(std::move(x)); });
  }

  std::vector<forwarded> sent;
  std::vector<uint32_t> fenced;
  std::unique_ptr<runtime::shard_control> control;
  std::unique_ptr<runtime::call_deadlines> deadlines = runtime::call_deadlines::manual(1000ms);
  std::shared_ptr<std::vector<command_result>> calls = std::make_shared<std::vector<command_result>>();
};

/// Sends `cmd` to `r`'s target from a fresh actor; the result is available after the actors ran.
std::shared_ptr<std::optional<command_result>> send_to(caf::actor_system& sys, const runtime::region& r, command cmd) {
  auto result = std::make_shared<std::optional<command_result>>();
  sys.spawn([result, target = r.target(cmd.entity_id), cmd = std::move(cmd)](caf::event_based_actor* self) mutable {
    self->request(target, caf::infinite, std::move(cmd))
        .then([result](command_result& x) { *result = std::move(x); },
              [result](caf::error& e) { *result = to_command_result(e); });
  });
  return result;
}

}  // namespace

TEST_CASE_FIXTURE(control_fixture, "shard_control.a_served_shard_fences_every_write_with_its_epoch") {
  spawn();
  auto a = id_in_shard(1);
  auto other = id_in_shard(2);
  control->serve(1, 7);
  auto r1 = send(append_cmd(a, "x"));
  auto r2 = send(append_cmd(a, "y"));
  // Shard 2 was never told anything: it serves unfenced, as on a node that runs alone.
  auto r3 = send(append_cmd(other, "z"));
  settle();
  CHECK(reply_text(*r1) == "x");
  CHECK(reply_text(*r2) == "xy");
  CHECK(reply_text(*r3) == "z");
  REQUIRE(store->fences().size() == 3);
  size_t fenced_writes = 0;
  for (const auto& f : store->fences())
    if (f) {
      CHECK(*f == write_fence{1, 7});
      ++fenced_writes;
    }
  CHECK(fenced_writes == 2);
  CHECK(fenced.empty());
}

TEST_CASE_FIXTURE(control_fixture, "shard_control.value_writes_and_snapshots_carry_the_fence") {
  // A text log that snapshots every event, and a register: every kind of write a shard's instances make.
  spawn_region(30s, 4, 1000, text_log(1).model());
  auto registers = spawn_registers();
  control->serve(3, 2);
  auto r1 = send(append_cmd(id_in_shard(3), "x"));
  auto n = id_in_shard(3, "n");
  auto r2 = send_to(*sys, *registers, set_cmd(n, 5));
  auto r3 = send_to(*sys, *registers, set_cmd(n, 0, true));
  settle();
  CHECK(reply_text(*r1) == "x");
  CHECK(code_of(*r2) == status_code::ok);
  CHECK(code_of(*r3) == status_code::ok);
  CHECK(store->snapshot_saves() == 1);
  REQUIRE(store->fences().size() == 4);  // the append, its snapshot, the put and the delete
  for (const auto& f : store->fences())
    CHECK(f == std::optional{write_fence{3, 2}});
  registers->stop();
}

TEST_CASE_FIXTURE(control_fixture, "shard_control.held_commands_run_in_order_once_served") {
  spawn();
  auto a = id_in_shard(0);
  control->hold(0);
  auto r1 = send(append_cmd(a, "x"));
  auto r2 = send(append_cmd(a, "y"));
  run_actors();  // the senders' requests are in the shard before the local call
  call(append_cmd(a, "z"));
  settle();
  CHECK_FALSE(r1->has_value());
  CHECK_FALSE(r2->has_value());
  CHECK(calls->empty());
  CHECK(store->appends() == 0);
  control->serve(0, 4);
  settle();
  CHECK(reply_text(*r1) == "x");
  CHECK(reply_text(*r2) == "xy");
  REQUIRE(calls->size() == 1);
  CHECK(reply_text(calls->front()) == "xyz");
  for (const auto& f : store->fences())
    CHECK(f == std::optional{write_fence{0, 4}});
}

TEST_CASE_FIXTURE(control_fixture, "shard_control.a_held_command_past_its_deadline_is_not_run") {
  spawn();
  auto a = id_in_shard(0);
  control->hold(0);
  call(append_cmd(a, "late"));
  settle();
  CHECK(deadlines->expire_due(runtime::call_slot::clock::now() + 2000ms) == 1);
  REQUIRE(calls->size() == 1);
  CHECK(calls->front().status.code() == status_code::deadline_exceeded);
  control->serve(0, 1);
  settle();
  CHECK(store->appends() == 0);
}

TEST_CASE_FIXTURE(control_fixture, "shard_control.routed_commands_go_to_the_owner_in_order") {
  spawn();
  auto a = id_in_shard(2);
  control->hold(2);
  auto r1 = send(append_cmd(a, "1"));
  run_actors();
  call(append_cmd(a, "2"));
  settle();
  CHECK(sent.empty());
  control->route(2, "10.0.0.2:7000");
  auto r3 = send(append_cmd(a, "3"));
  run_actors();
  call(append_cmd(a, "4"));
  settle();
  REQUIRE(sent.size() == 4);
  std::vector<std::string> texts;
  for (auto& f : sent) {
    CHECK(f.address == "10.0.0.2:7000");
    CHECK(f.service == "actorstate.testing.TextLog");
    CHECK(f.cmd.entity_id == a);
    AppendText cmd;
    REQUIRE(cmd.ParseFromString(f.cmd.payload));
    texts.push_back(cmd.text());
  }
  // Held ones first, in arrival order, then the later ones.
  CHECK(texts == std::vector<std::string>{"1", "2", "3", "4"});
  CHECK(store->appends() == 0);
  CHECK(active() == 0);
  // The owner's answers go straight to the callers, whichever thread gives them.
  TextReply reply;
  reply.set_value("one");
  sent[0].reply.deliver(command_result::success(reply.SerializeAsString()));
  reply.set_value("two");
  sent[1].reply.deliver(command_result::success(reply.SerializeAsString()));
  reply.set_value("three");
  std::thread{[&] { sent[2].reply.deliver(command_result::success(reply.SerializeAsString())); }}.join();
  sent[3].reply = {};  // dropped unanswered: the caller hears UNAVAILABLE
  sent.clear();
  settle();
  CHECK(reply_text(*r1) == "one");
  CHECK(reply_text(*r3) == "three");
  REQUIRE(calls->size() == 2);
  CHECK(reply_text(calls->at(0)) == "two");
  CHECK(calls->at(1).status.code() == status_code::unavailable);
  // Routed elsewhere later, or served here again: the route follows.
  control->route(2, "10.0.0.3:7000");
  auto r5 = send(append_cmd(a, "5"));
  settle();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].address == "10.0.0.3:7000");
  sent[0].reply.deliver(command_result::success(""));
  sent.clear();
  control->serve(2, 9);
  auto r6 = send(append_cmd(a, "6"));
  settle();
  CHECK(sent.empty());
  CHECK(reply_text(*r6) == "6");
}

TEST_CASE_FIXTURE(control_fixture, "shard_control.a_command_held_past_its_deadline_is_not_forwarded") {
  spawn();
  control->hold(2);
  call(append_cmd(id_in_shard(2), "late"));
  settle();
  CHECK(deadlines->expire_due(runtime::call_slot::clock::now() + 2000ms) == 1);
  control->route(2, "10.0.0.2:7000");
  settle();
  CHECK(sent.empty());
  REQUIRE(calls->size() == 1);
  CHECK(calls->front().status.code() == status_code::deadline_exceeded);
}

TEST_CASE_FIXTURE(control_fixture, "shard_control.a_dropped_shard_forgets_its_instances_and_recovers_from_the_store") {
  auto a = serve_with_x(1, 1);
  // A second append whose write is still in flight when another member takes the shard over.
  auto r2 = send(append_cmd(a, "y"));
  until_appended(2);
  store->move_epoch(1, 2);
  control->drop(1);
  run_actors();
  CHECK(active() == 0);  // gone at once, without waiting for the write
  // Its reply depended on a write that is not durable: it fails, nothing is answered from memory.
  CHECK(code_of(*r2) == status_code::unavailable);
  auto r3 = send(get_cmd(a));
  settle();  // the stale write completes now: refused by the fence
  CHECK_FALSE(r3->has_value());
  CHECK(store->journal_size("text-log|" + a) == 1);
  // This member claims the shard again at the next epoch: the held read recovers what the store has.
  control->serve(1, 3);
  store->move_epoch(1, 3);
  auto r4 = send(append_cmd(a, "z"));
  settle();
  CHECK(reply_text(*r3) == "x");
  CHECK(reply_text(*r4) == "xz");
  CHECK(store->fences().back() == std::optional{write_fence{1, 3}});
  CHECK(fenced.empty());  // the stale instance was gone before its write was refused
}

TEST_CASE_FIXTURE(control_fixture, "shard_control.serving_at_a_new_epoch_replaces_the_instances") {
  auto a = serve_with_x(3, 1);
  control->serve(3, 2);
  auto r2 = send(append_cmd(a, "y"));
  settle();
  CHECK(reply_text(*r2) == "xy");
  CHECK(metrics->recoveries.value() == 2);
  CHECK(store->fences().back() == std::optional{write_fence{3, 2}});
}

TEST_CASE_FIXTURE(control_fixture, "shard_control.a_hand_over_is_done_once_every_types_writes_are_durable") {
  spawn_region(30s, 4);
  auto registers = spawn_registers();
  control->serve(1, 5);
  auto a = id_in_shard(1);
  auto n = id_in_shard(1, "n");
  auto r1 = send(append_cmd(a, "x"));
  auto r2 = send_to(*sys, *registers, set_cmd(n, 1));
  settle();
  REQUIRE(reply_text(*r1) == "x");
  REQUIRE(code_of(*r2) == status_code::ok);
  // Both types have a write in flight when the handover starts.
  auto r3 = send(append_cmd(a, "y"));
  auto r4 = send_to(*sys, *registers, set_cmd(n, 2));
  run_actors();
  REQUIRE(store->pending() == 2);
  auto done = std::make_shared<int>(0);
  control->hand_over(1, [done] { ++*done; });
  // A serve right after the hand_over call reaches the shards after it: it takes effect once they are down.
  run_actors();
  CHECK(*done == 0);
  auto r5 = send(append_cmd(a, "z"));
  REQUIRE(store->complete_one());
  run_actors();
  CHECK(*done == 0);  // the register's write is still in flight
  REQUIRE(store->complete_one());
  run_actors();
  CHECK(*done == 1);
  CHECK(reply_text(*r3) == "xy");
  CHECK(code_of(*r4) == status_code::ok);
  settle();
  CHECK_FALSE(r5->has_value());  // held
  control->serve(1, 6);
  settle();
  CHECK(reply_text(*r5) == "xyz");
  CHECK(*done == 1);
  // Handing over a shard that serves nothing is done at once; a later serve in the same breath follows it.
  control->hand_over(1, [done] { ++*done; });
  control->serve(1, 7);
  auto r6 = send(append_cmd(a, "!"));
  settle();
  CHECK(*done == 2);
  CHECK(reply_text(*r6) == "xyz!");
  CHECK(store->fences().back() == std::optional{write_fence{1, 7}});
  registers->stop();
}

TEST_CASE_FIXTURE(control_fixture, "shard_control.a_refused_fenced_write_tells_the_member_the_shard") {
  spawn();
  auto a = id_in_shard(2);
  auto b = id_in_shard(2, "b");
  control->serve(2, 1);
  store->move_epoch(2, 2);  // another member claimed the shard
  auto r1 = send(append_cmd(a, "x"));
  auto r2 = send(append_cmd(b, "y"));
  settle();
  CHECK(code_of(*r1) == status_code::unavailable);
  CHECK(code_of(*r2) == status_code::unavailable);
  CHECK(metrics->fenced.value() == 2);
  // Once per serving period: the member re-reads the store on the first.
  CHECK(fenced == std::vector<uint32_t>{2});
  CHECK(store->journal_size("text-log|" + a) == 0);
}

TEST_CASE_FIXTURE(deterministic_fixture, "shard_control.a_node_without_a_cluster_writes_unfenced") {
  spawn_region(30s, 4);
  auto r1 = send(append_cmd("a", "x"));
  settle();
  CHECK(reply_text(*r1) == "x");
  REQUIRE(store->fences().size() == 1);
  CHECK_FALSE(store->fences().front().has_value());
}

TEST_CASE_FIXTURE(control_fixture, "shard_control.a_route_during_a_hand_over_follows_it_and_a_drop_ends_it") {
  auto a = serve_with_x(0, 1);
  // The handover waits for a write in flight; a route asked meanwhile takes effect once the instance is down.
  auto r1 = send(append_cmd(a, "y"));
  until_appended(2);
  auto done = std::make_shared<int>(0);
  control->hand_over(0, [done] { ++*done; });
  control->route(0, "10.0.0.2:7000");
  auto r2 = send(append_cmd(a, "z"));
  run_actors();
  CHECK(*done == 0);
  CHECK(sent.empty());
  settle();
  CHECK(*done == 1);
  CHECK(reply_text(*r1) == "xy");
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].address == "10.0.0.2:7000");
  sent[0].reply.deliver(command_result::success(""));
  sent.clear();
  settle();
  CHECK(code_of(*r2) == status_code::ok);
  // Served again, then handed over with a write in flight, and dropped before it returns: the handover is done at
  // once, and the shard holds.
  control->serve(0, 2);
  auto r3 = send(append_cmd(a, "!"));
  until_appended(3);
  control->hand_over(0, [done] { ++*done; });
  run_actors();
  CHECK(*done == 1);
  control->drop(0);
  run_actors();
  CHECK(*done == 2);
  CHECK(active() == 0);
  CHECK(code_of(*r3) == status_code::unavailable);
  auto r4 = send(get_cmd(a));
  settle();
  CHECK_FALSE(r4->has_value());
  CHECK(sent.empty());
}

TEST_CASE_FIXTURE(control_fixture, "shard_control.the_member_hears_of_a_fenced_write_again_after_serving_again") {
  spawn();
  auto a = id_in_shard(1);
  control->serve(1, 1);
  store->move_epoch(1, 2);
  auto r1 = send(append_cmd(a, "x"));
  settle();
  CHECK(code_of(*r1) == status_code::unavailable);
  CHECK(fenced == std::vector<uint32_t>{1});
  // The member re-read the store and claimed the shard again, but another member was quicker once more.
  control->serve(1, 2);
  store->move_epoch(1, 3);
  auto r2 = send(append_cmd(a, "y"));
  settle();
  CHECK(code_of(*r2) == status_code::unavailable);
  CHECK(fenced == std::vector<uint32_t>{1, 1});
}

TEST_CASE_FIXTURE(deterministic_fixture, "shard_control.a_node_without_a_forwarder_fails_routed_commands") {
  spawn_region(30s, 4);
  auto control = runtime::make_shard_control(*sys, {region});
  control->route(0, "10.0.0.2:7000");
  auto r = send(append_cmd(id_in_shard(0), "x"));
  settle();
  CHECK(code_of(*r) == status_code::unavailable);
  CHECK(store->appends() == 0);
}
