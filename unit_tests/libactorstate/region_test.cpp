#include <doctest/doctest.h>

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
