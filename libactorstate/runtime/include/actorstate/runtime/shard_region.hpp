// A shard region: how one entity type is reached on this node. It is not an actor and takes no part in a command's
// path beyond picking the target: `target(entity_id)` hashes the id onto one of the type's shards (stable FNV-1a
// modulo the shard count, identical on every node and across restarts) and returns that shard's actor, which finds
// or spawns the instance and delegates the command to it (runtime/shard.hpp). Actions have no key and no shards:
// `target` spreads their calls over the type's worker actors. CRDT entities are not sharded either: one actor of
// their own per member (libactorstate/crdt) takes every command of the type (`region_config::single_target`).
//
// Shards are owned per index across entity types: owning, handing over or starting shard `i` means doing so for
// `shards()[i]` of every region; runtime/shard_control.hpp does it (the protocol is in runtime/shard.hpp).
//
// Thread rules: built once by `spawn_region`, then read-only; `target` is safe from any thread. `stop` (node
// shutdown) sends each actor an exit; each shard passivates its instances and stops when all have finished, killing
// those that have not within `stop_timeout` (see runtime/shard.hpp).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include "actorstate/runtime/entity_actor.hpp"

namespace actorstate::runtime {

struct shard_hooks;

struct region_config {
  std::shared_ptr<const entity_env> env;
  uint32_t shards = 128;
  std::chrono::milliseconds passivation_timeout{30000};
  size_t max_active = 100000;  ///< Live instances of this type on this node, over all its shards.
  size_t action_workers = 2;   ///< Actions: calls are spread over this many worker actors.
  std::chrono::milliseconds stop_timeout{10000};  ///< At shutdown: longest wait for instances before killing them.
  /// In a cluster: where forwarding shards send commands and whom a fenced write tells (runtime/shard_control.hpp).
  /// Null on a node that runs alone.
  std::shared_ptr<const shard_hooks> hooks;
  /// In a cluster: the shards hold their commands until the member tells them to serve (at an epoch) or where to
  /// route, so nothing ever runs unfenced. A node that runs alone starts them serving.
  bool start_holding = false;
  /// An entity type that is not sharded (CRDT entities): this actor, spawned by its owner, takes every command of the
  /// type. The region then has no shards and spawns nothing.
  caf::actor single_target;
};

/// The shard of `entity_id`; stable across processes and platforms.
uint32_t shard_of(std::string_view entity_id, uint32_t shards);

class region {
public:
  region(caf::actor_system& sys, region_config cfg);
  region(const region&) = delete;
  region& operator=(const region&) = delete;

  /// The actor that takes a command for `entity_id` (a shard, or for actions the next worker).
  const caf::actor& target(std::string_view entity_id) const;
  /// The shard actors, by index (empty for actions).
  const std::vector<caf::actor>& shards() const { return shards_; }
  /// Every actor of the region (shards or workers).
  const std::vector<caf::actor>& actors() const { return shards_.empty() ? workers_ : shards_; }

  /// Sends every actor of the region an exit (node shutdown).
  void stop() const;

private:
  region_config cfg_;
  std::vector<caf::actor> shards_;
  std::vector<caf::actor> workers_;
  mutable std::atomic<size_t> next_worker_{0};
};

std::shared_ptr<const region> spawn_region(caf::actor_system& sys, region_config cfg);

}  // namespace actorstate::runtime
