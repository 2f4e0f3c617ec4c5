// The member's decisions from one reading of the store: claims of orphaned shards after the failure timeout, drops of
// shards taken over, bounded rebalancing, bounded handover when leaving, routes, and nothing served once the member
// itself is no longer alive in the store's eyes.
#include <doctest/doctest.h>

#include <algorithm>

#include "actorstate/cluster/control.hpp"
#include "actorstate/cluster/placement.hpp"

namespace {

using namespace actorstate::cluster;
using namespace std::chrono_literals;

constexpr uint32_t shards = 16;

member_reading member(const std::string& id, int64_t incarnation = 1, int64_t age_ms = 100, bool leaving = false) {
  return {id, incarnation, id + ":9300", leaving, age_ms};
}

/// Every shard owned as `preferred_owner` over `members` would have it, at epoch 3.
std::vector<shard_reading> placed(const std::vector<std::string>& members) {
  std::vector<shard_reading> out;
  for (uint32_t s = 0; s < shards; ++s)
    out.push_back({s, preferred_owner(s, members), 1, 3});
  return out;
}

decide_input input_for(const std::string& self, std::vector<member_reading> members, std::vector<shard_reading> s) {
  decide_input in;
  in.self = self;
  in.incarnation = 1;
  in.failure_timeout = 3000ms;
  in.members = std::move(members);
  in.shards = std::move(s);
  return in;
}

/// `local` with `serving` for the shards `self` owns in `s`.
std::vector<local_shard> serving(const std::string& self, const std::vector<shard_reading>& s) {
  std::vector<local_shard> out(shards, local_shard::none);
  for (const auto& r : s)
    if (r.owner == self)
      out[r.shard] = local_shard::serving;
  return out;
}

bool has(const std::vector<uint32_t>& v, uint32_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

}  // namespace

TEST_CASE("control.a_settled_cluster_changes_nothing_and_routes_to_the_owners") {
  auto s = placed({"a", "b", "c"});
  auto in = input_for("a", {member("a"), member("b"), member("c")}, s);
  in.local = serving("a", s);
  auto d = decide(in);
  CHECK(d.claim.empty());
  CHECK(d.hand_over.empty());
  CHECK(d.drop.empty());
  REQUIRE(d.routes.size() == shards);
  for (const auto& r : d.routes) {
    CHECK(r.owner == s[r.shard].owner);
    CHECK(r.address == r.owner + ":9300");
  }
  CHECK(d.live == std::vector<std::string>{"a", "b", "c"});
}

TEST_CASE("control.a_dead_members_shards_are_claimed_by_their_next_preferred_member") {
  auto s = placed({"a", "b", "c"});
  // "c" stopped renewing 3.5 s ago: dead for a 3 s failure timeout.
  std::vector<member_reading> members{member("a"), member("b"), member("c", 1, 3500)};
  auto in = input_for("a", members, s);
  in.local = serving("a", s);
  auto d = decide(in);
  CHECK(d.live == std::vector<std::string>{"a", "b"});
  for (const auto& r : s) {
    bool to_a = r.owner == "c" && preferred_owner(r.shard, {"a", "b"}) == "a";
    auto claimed = std::find(d.claim.begin(), d.claim.end(), shard_claim{r.shard, 3}) != d.claim.end();
    CHECK(claimed == to_a);
    if (r.owner == "c")
      CHECK(d.routes[r.shard].owner.empty());  // commands wait until the claim is through
  }
  // Not dead yet at 2.9 s: nothing moves.
  members[2].age_ms = 2900;
  auto patient = input_for("a", members, s);
  patient.local = serving("a", s);
  CHECK(decide(patient).claim.empty());
}

TEST_CASE("control.a_superseded_incarnation_counts_as_gone") {
  auto s = placed({"a", "b"});
  // "b" restarted: the store holds incarnation 2, the shards still name incarnation 1.
  auto in = input_for("a", {member("a"), member("b", 2)}, s);
  in.local = serving("a", s);
  auto d = decide(in);
  for (const auto& r : s)
    if (r.owner == "b") {
      CHECK(d.routes[r.shard].owner.empty());
      // "b" is alive and preferred: it reclaims its own shards; "a" does not.
      CHECK(std::none_of(d.claim.begin(), d.claim.end(), [&](const auto& c) { return c.shard == r.shard; }));
    }
  auto b = input_for("b", {member("a"), member("b", 2)}, s);
  b.incarnation = 2;
  auto db = decide(b);
  size_t owned_by_b = std::count_if(s.begin(), s.end(), [](const auto& r) { return r.owner == "b"; });
  CHECK(db.claim.size() == owned_by_b);
}

TEST_CASE("control.a_shard_taken_over_is_dropped_at_once") {
  auto s = placed({"a", "b"});
  auto local = serving("a", s);
  // Shard owned by "a" is now recorded for "b" (a took too long to renew earlier).
  uint32_t taken = 0;
  while (s[taken].owner != "a")
    ++taken;
  s[taken] = {taken, "b", 1, 4};
  auto in = input_for("a", {member("a"), member("b")}, s);
  in.local = local;
  auto d = decide(in);
  CHECK(d.drop == std::vector<uint32_t>{taken});
  CHECK(d.routes[taken].owner == "b");
}

TEST_CASE("control.an_owned_shard_not_served_here_is_claimed_again_to_move_its_epoch") {
  auto s = placed({"a", "b"});
  auto in = input_for("a", {member("a"), member("b")}, s);
  in.local.assign(shards, local_shard::none);  // after a self-fence nothing is served
  auto d = decide(in);
  for (const auto& r : s)
    if (r.owner == "a")
      CHECK(std::find(d.claim.begin(), d.claim.end(), shard_claim{r.shard, 3}) != d.claim.end());
}

TEST_CASE("control.a_joining_member_gets_its_shards_in_bounded_handovers") {
  auto s = placed({"a", "b"});
  std::vector<member_reading> members{member("a"), member("b"), member("c")};
  auto in = input_for("a", members, s);
  in.local = serving("a", s);
  in.max_rebalance = 2;
  auto d = decide(in);
  CHECK(d.hand_over.size() <= 2);
  for (auto shard : d.hand_over) {
    CHECK(preferred_owner(shard, {"a", "b", "c"}) == "c");
    CHECK(d.routes[shard].owner.empty());
  }
  // With both handovers under way, no further one starts.
  for (auto shard : d.hand_over)
    in.local[shard] = local_shard::handing_over;
  auto next = decide(in);
  CHECK(next.hand_over.empty());
  // "c" claims only what has no owner: nothing yet.
  auto c = input_for("c", members, s);
  CHECK(decide(c).claim.empty());
  // Once released (no owner), "c" claims it.
  if (!d.hand_over.empty()) {
    auto released = s;
    released[d.hand_over.front()] = {d.hand_over.front(), "", 0, 4};
    auto c2 = input_for("c", members, released);
    CHECK(decide(c2).claim == std::vector<shard_claim>{{d.hand_over.front(), 4}});
  }
}

TEST_CASE("control.a_leaving_member_hands_everything_over_and_claims_nothing") {
  auto s = placed({"a", "b"});
  s[0] = {0, "", 0, 5};  // an orphan that would prefer "a"? It must not claim while leaving.
  auto in = input_for("a", {member("a", 1, 100, true), member("b")}, s);
  in.leaving = true;
  in.local = serving("a", s);
  in.max_rebalance = 100;
  auto d = decide(in);
  CHECK(d.claim.empty());
  for (const auto& r : s)
    CHECK(has(d.hand_over, r.shard) == (r.owner == "a"));
  // A bounded number at a time, like rebalancing.
  in.max_rebalance = 2;
  CHECK(decide(in).hand_over.size() == 2);
  // "b" sees "a" leaving: not a candidate, so "b" claims the orphan; "a"'s shards stay routed to "a" until released.
  auto b = input_for("b", {member("a", 1, 100, true), member("b")}, s);
  b.local = serving("b", s);
  auto db = decide(b);
  CHECK(db.claim == std::vector<shard_claim>{{0, 5}});
  for (const auto& r : s)
    if (r.owner == "a")
      CHECK(db.routes[r.shard].owner == "a");
}

TEST_CASE("control.a_member_the_store_counts_dead_serves_and_claims_nothing") {
  auto s = placed({"a", "b"});
  auto in = input_for("a", {member("a", 1, 3100), member("b")}, s);
  in.local = serving("a", s);
  auto d = decide(in);
  CHECK(d.claim.empty());
  for (const auto& r : s)
    CHECK(has(d.drop, r.shard) == (r.owner == "a"));
}
