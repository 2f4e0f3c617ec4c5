// Rendezvous placement of shards over members: the same answer whatever the list order, an even enough spread, and
// membership changes that move only the shards they must.
#include <doctest/doctest.h>

#include <map>

#include "actorstate/cluster/placement.hpp"

namespace {

using actorstate::cluster::preferred_owner;

constexpr uint32_t shards = 128;

/// The preferred owner of every shard, by shard.
std::vector<std::string> placement(const std::vector<std::string>& members) {
  std::vector<std::string> out;
  for (uint32_t s = 0; s < shards; ++s)
    out.push_back(preferred_owner(s, members));
  return out;
}

std::map<std::string, int> counts(const std::vector<std::string>& p) {
  std::map<std::string, int> out;
  for (const auto& owner : p)
    ++out[owner];
  return out;
}

}  // namespace

TEST_CASE("placement.does_not_depend_on_the_order_of_members") {
  std::vector<std::string> a{"node-a", "node-b", "node-c"};
  std::vector<std::string> b{"node-c", "node-a", "node-b"};
  for (uint32_t s = 0; s < shards; ++s)
    CHECK(preferred_owner(s, a) == preferred_owner(s, b));
  CHECK(preferred_owner(7, {}).empty());
}

TEST_CASE("placement.spreads_shards_over_members") {
  std::vector<std::string> members{"shopping-cart-0", "shopping-cart-1", "shopping-cart-2"};
  auto c = counts(placement(members));
  REQUIRE(c.size() == 3);
  // 128 over 3 is 42.7 each; rendezvous hashing is a random spread, so allow what chance allows.
  for (const auto& [member, n] : c) {
    INFO(member << " owns " << n);
    CHECK(n >= 28);
    CHECK(n <= 58);
  }
}

TEST_CASE("placement.a_member_that_joins_takes_shards_only_for_itself") {
  std::vector<std::string> three{"a", "b", "c"};
  std::vector<std::string> four{"a", "b", "c", "d"};
  auto before = placement(three);
  auto after = placement(four);
  int moved = 0;
  for (uint32_t s = 0; s < shards; ++s) {
    if (before[s] != after[s]) {
      ++moved;
      CHECK(after[s] == "d");
    }
  }
  // About a quarter of the shards.
  CHECK(moved >= 16);
  CHECK(moved <= 50);
}

TEST_CASE("placement.a_member_that_leaves_gives_up_only_its_own_shards") {
  auto before = placement({"a", "b", "c"});
  auto after = placement({"a", "c"});
  for (uint32_t s = 0; s < shards; ++s)
    if (before[s] != "b")
      CHECK(after[s] == before[s]);
}
