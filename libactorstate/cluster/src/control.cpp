#include "actorstate/cluster/control.hpp"

#include <algorithm>
#include <map>

#include "actorstate/cluster/placement.hpp"

namespace actorstate::cluster {

decision decide(const decide_input& in) {
  decision out;
  std::map<std::string, const member_reading*> alive;
  std::vector<std::string> candidates;
  for (const auto& m : in.members) {
    if (m.age_ms >= in.failure_timeout.count())
      continue;
    alive[m.id] = &m;
    bool leaving = m.leaving || (m.id == in.self && in.leaving);
    if (!leaving)
      candidates.push_back(m.id);
  }
  for (const auto& [id, m] : alive)
    out.live.push_back(id);

  auto local = [&](uint32_t shard) { return shard < in.local.size() ? in.local[shard] : local_shard::none; };
  // The store no longer counts this member as alive (its renewals stopped reaching the store, or a newer incarnation
  // of its id joined): others may take its shards at any moment, so it serves none and claims none.
  bool self_alive = false;
  if (auto i = alive.find(in.self); i != alive.end())
    self_alive = i->second->incarnation == in.incarnation;

  auto sorted = in.shards;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.shard < b.shard; });

  // Handovers under way count against the rebalancing budget.
  size_t rebalancing = 0;
  for (const auto& s : sorted)
    if (local(s.shard) == local_shard::handing_over)
      ++rebalancing;

  for (const auto& s : sorted) {
    shard_route route{s.shard, {}, {}};
    auto here = local(s.shard);
    bool mine = s.owner == in.self && s.owner_incarnation == in.incarnation;
    const member_reading* owner = nullptr;
    if (auto i = alive.find(s.owner); i != alive.end() && i->second->incarnation == s.owner_incarnation)
      owner = i->second;
    auto preferred = preferred_owner(s.shard, candidates);

    if (!self_alive) {
      if (here != local_shard::none)
        out.drop.push_back(s.shard);
      if (owner != nullptr && !mine)
        route = {s.shard, owner->id, owner->address};
      out.routes.push_back(std::move(route));
      continue;
    }

    if (mine) {
      route.owner = in.self;
      if (auto i = alive.find(in.self); i != alive.end())
        route.address = i->second->address;
      if (here == local_shard::none) {
        out.claim.push_back({s.shard, s.epoch});
        route = {s.shard, {}, {}};  // served once the claim is back
      } else if (here == local_shard::serving) {
        // Leaving hands over as rebalancing does, a bounded number at a time: the member starts the next one as
        // soon as one is done, so the bound costs no idle time, and the members taking over are not flooded.
        bool preferred_elsewhere = !preferred.empty() && preferred != in.self;
        if ((in.leaving || preferred_elsewhere) && rebalancing < in.max_rebalance) {
          ++rebalancing;
          out.hand_over.push_back(s.shard);
        }
      }
      if (here == local_shard::handing_over || (!out.hand_over.empty() && out.hand_over.back() == s.shard))
        route = {s.shard, {}, {}};  // commands wait for the next owner
      out.routes.push_back(std::move(route));
      continue;
    }

    // Not ours (any more).
    if (here != local_shard::none)
      out.drop.push_back(s.shard);
    if (owner != nullptr) {
      route.owner = owner->id;
      route.address = owner->address;
    } else if (preferred == in.self && !in.leaving) {
      out.claim.push_back({s.shard, s.epoch});
    }
    out.routes.push_back(std::move(route));
  }
  return out;
}

}  // namespace actorstate::cluster
