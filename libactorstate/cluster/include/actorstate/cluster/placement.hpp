// Where shards live in a cluster: rendezvous (highest-random-weight) hashing of each shard over the live members'
// ids. Every member computes the same answer from the same member list without talking to the others, a member
// that joins takes about 1/N of the shards (each from whoever had it) and one that leaves gives up only its own, and
// a member that restarts under the same id gets the same shards back. Ownership itself is claimed in the store with
// an epoch (persistence/coordination.hpp); this only says who *should* own what (cluster/control.hpp decides what a
// member does about it).
//
// Thread rules: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace actorstate::cluster {

/// The member of `members` (ids) that should own `shard`; empty if there are none. Independent of the list's order.
std::string preferred_owner(uint32_t shard, const std::vector<std::string>& members);

}  // namespace actorstate::cluster
