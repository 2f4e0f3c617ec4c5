// A shard region: the only way to reach the instances of one entity type. It maps an entity id to a shard (stable
// FNV-1a hash modulo the shard count, identical on every node and across restarts) and the shard to its owner.
// Today every shard is owned locally; the shard table is where a cluster will record remote owners, and routing
// to one becomes delegating the command to that node's region.
//
// For local shards the region keeps one actor per active entity id, created on the first command, and passivates
// instances that were idle longer than the passivation timeout or, when more than `max_active` are in memory, the
// least recently used one. Commands for an instance that is stopping are buffered and delivered to its successor.
// On exit (node shutdown) the region passivates every instance and stops when all of them have finished.
//
// The region answers each `command` request with one `command_result` (sent by the entity directly to the
// requester). `stats_atom` answers the number of active instances.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>

#include <caf/fwd.hpp>

#include "runtime/entity_actor.hpp"

namespace actorstate::runtime {

struct region_config {
  std::shared_ptr<const entity_env> env;
  uint32_t shards = 100;
  std::chrono::milliseconds passivation_timeout{30000};
  size_t max_active = 100000;
  size_t action_workers = 2;  ///< Actions: calls are spread over this many worker actors.
};

/// The shard of `entity_id`; stable across processes and platforms.
uint32_t shard_of(std::string_view entity_id, uint32_t shards);

caf::actor spawn_region(caf::actor_system& sys, region_config cfg);

}  // namespace actorstate::runtime
