// The causal context: a version vector plus a dot cloud, compacted after every change so that two contexts holding
// the same dots are equal values (converged replicas compare equal).
#include "state.hpp"

#include <algorithm>
#include <limits>

namespace actorstate::crdt::detail {

bool causal_context::contains(const dot& d) const {
  if (auto it = vv.find(d.replica); it != vv.end() && d.counter <= it->second)
    return true;
  return cloud.count(d) != 0;
}

void causal_context::insert(const dot& d) {
  if (contains(d))
    return;
  cloud.insert(d);
  compact();
}

void causal_context::join(const causal_context& other) {
  for (const auto& [replica, counter] : other.vv) {
    auto& mine = vv[replica];
    mine = std::max(mine, counter);
  }
  cloud.insert(other.cloud.begin(), other.cloud.end());
  compact();
}

void causal_context::compact() {
  // The cloud is ordered by (replica, counter), so one pass moves every run that continues the vector into it.
  for (auto it = cloud.begin(); it != cloud.end();) {
    auto found = vv.find(it->replica);
    uint64_t have = found == vv.end() ? 0 : found->second;
    if (it->counter <= have) {
      it = cloud.erase(it);
    } else if (it->counter == have + 1) {
      vv[it->replica] = it->counter;
      it = cloud.erase(it);
    } else {
      ++it;
    }
  }
}

uint64_t causal_context::max_of(const std::string& replica) const {
  uint64_t best = 0;
  if (auto it = vv.find(replica); it != vv.end())
    best = it->second;
  auto it = cloud.upper_bound(dot{replica, std::numeric_limits<uint64_t>::max()});
  if (it != cloud.begin()) {
    --it;
    if (it->replica == replica)
      best = std::max(best, it->counter);
  }
  return best;
}

}  // namespace actorstate::crdt::detail
