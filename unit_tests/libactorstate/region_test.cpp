#include <doctest/doctest.h>

#include <atomic>
#include <mutex>

#include "runtime/gateway.hpp"
#include "test_entities.hpp"

using namespace actorstate;
using namespace actorstate::testing;

TEST_CASE("region.shard_hash_is_stable") {
  // FNV-1a: these values must never change, or entities would move between shards across versions.
  CHECK(runtime::shard_of("", 100) == 14695981039346656037ull % 100);
  CHECK(runtime::shard_of("alice", 100) == runtime::shard_of(std::string{"alice"}, 100));
  CHECK(runtime::shard_of("a", 1000) == 12638187200555641996ull % 1000);
  CHECK(runtime::shard_of("anything", 1) == 0);
}

TEST_CASE("region.one_instance_per_entity_id") {
  harness h;
  auto region = h.region(text_log().model());
  std::vector<std::future<command_result>> results;
  for (int i = 0; i < 50; ++i) {
    AppendText a;
    a.set_id("same");
    a.set_text("x");
    results.push_back(h.call_async(region, make_command("same", "Append", a)));
  }
  for (auto& r : results)
    CHECK(r.get().ok());
  CHECK(h.active(region) == 1);
  GetText g;
  g.set_id("same");
  TextReply reply;
  REQUIRE(reply.ParseFromString(h.call(region, make_command("same", "Get", g)).payload));
  CHECK(reply.value() == std::string(50, 'x'));
}

TEST_CASE("region.lru_cap_passivates_least_recently_used") {
  harness h;
  auto region = h.region(text_log().model(), std::chrono::seconds{30}, 2);
  for (auto id : {"e1", "e2", "e3", "e4"}) {
    AppendText a;
    a.set_id(id);
    a.set_text(id);
    REQUIRE(h.call(region, make_command(id, "Append", a)).ok());
  }
  CHECK(eventually([&] { return h.active(region) <= 2; }));
  CHECK(h.metrics->passivations.value() >= 2);
  // Passivated entities come back with their state.
  GetText g;
  g.set_id("e1");
  TextReply reply;
  REQUIRE(reply.ParseFromString(h.call(region, make_command("e1", "Get", g)).payload));
  CHECK(reply.value() == "e1");
}

TEST_CASE("region.shutdown_finishes_entities") {
  harness h;
  auto region = h.region(text_log().model());
  AppendText a;
  a.set_id("z");
  a.set_text("z");
  REQUIRE(h.call(region, make_command("z", "Append", a)).ok());
  caf::scoped_actor self{*h.sys};
  for (const auto& shard : region->shards())
    self->monitor(shard);
  region->stop();
  size_t down = 0;
  for (size_t i = 0; i < region->shards().size(); ++i)
    self->receive([&](caf::down_msg&) { ++down; }, caf::after(std::chrono::seconds{10}) >> [] {});
  CHECK(down == region->shards().size());
}

TEST_CASE("region.gateway_fails_unanswered_commands_at_the_deadline_and_each_call_once") {
  harness h;
  auto region = h.region(text_log().model());
  runtime::gateway_pool gateways{*h.sys, 1, std::chrono::milliseconds{300}};
  std::mutex mu;
  std::vector<command_result> results;
  std::atomic<int> calls{0};
  auto dispatch = [&](const std::string& id) {
    AppendText a;
    a.set_id(id);
    a.set_text("x");
    gateways.dispatch(region->target(id), make_command(id, "Append", a), [&](command_result r) {
      std::lock_guard<std::mutex> lock{mu};
      results.push_back(std::move(r));
      ++calls;
    });
  };
  // Answered calls finish normally and are not failed again when their deadline passes.
  for (int i = 0; i < 20; ++i)
    dispatch("quick-" + std::to_string(i));
  REQUIRE(eventually([&] { return calls.load() == 20; }));
  // A write that never becomes durable holds its reply back: the caller gets DEADLINE_EXCEEDED.
  h.store->hold_writes();
  auto t0 = std::chrono::steady_clock::now();
  dispatch("stuck");
  REQUIRE(eventually([&] { return calls.load() == 21; }));
  auto waited = std::chrono::steady_clock::now() - t0;
  CHECK(waited >= std::chrono::milliseconds{250});
  h.store->release_writes();
  std::this_thread::sleep_for(std::chrono::milliseconds{700});  // past every deadline: nothing runs twice
  dispatch("after");
  REQUIRE(eventually([&] { return calls.load() == 22; }));
  std::this_thread::sleep_for(std::chrono::milliseconds{400});
  std::lock_guard<std::mutex> lock{mu};
  REQUIRE(results.size() == 22);
  for (int i = 0; i < 20; ++i)
    CHECK(results[static_cast<size_t>(i)].ok());
  CHECK(results[20].code == status_code::deadline_exceeded);
  CHECK(results[21].ok());
  gateways.stop();
}
