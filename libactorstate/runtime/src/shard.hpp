// A shard: the unit of ownership. Entity ids hash onto `--shards` shards (`shard_of`); one shard actor per entity
// type and shard index owns the live instances of that type in that shard, their passivation bookkeeping and the
// commands buffered for them. A node (and later a cluster member) owns a shard index for every entity type at once;
// handing a shard over or starting it is done per index by `region`'s callers, one message to each type's shard.
//
// Protocol (all messages from runtime/messages; every request gets exactly one answer):
//   command            -> command_result, sent by the entity instance directly to the requester (the shard
//                         delegates). Commands for an instance that is stopping wait for its successor; commands
//                         that arrive while the shard is handing over or stopped wait in the shard until `start`.
//   local_command      -> (no CAF answer) the same, answered through the call slot it carries (runtime/reply.hpp);
//                         what every local caller (gRPC, HTTP, node::invoke, forwards) sends.
//   handover_atom      -> uint64_t (instances stopped). Every instance stops once its writes are durable; the answer
//                         leaves when the last one is down. Afterwards the shard holds commands and runs nothing.
//                         A forwarding shard holds from now on and answers 0.
//   start_atom         -> bool (true). Serves again, unfenced: held commands run, each instance recovering from the
//                         store. During a handover it takes effect once the last instance is down, unless a handover,
//                         hold or route is asked before that (the later request wins).
//   start_atom, epoch  -> (no answer) the same, fenced: instances get an env whose `fence` is {index, epoch}. Served
//                         at another fence already: the instances are dropped first (see drop_atom).
//   hold_atom          -> (no answer) commands wait in the shard; a serving shard hands over first (as above).
//   route_atom, addr   -> (no answer) commands, held ones first, go to `addr` through `shard_hooks::forward`; a
//                         serving shard drops its instances first.
//   drop_atom          -> (no answer) every instance is killed at once (a high-priority exit, so it runs nothing
//                         more from its mailbox; what it owed fails UNAVAILABLE); commands buffered for them and later
//                         ones are held. Ends a handover under way (its requesters get their answer).
//   stats_atom         -> uint64_t, the instances in memory (stopping ones included).
//   fenced_atom, id    -> (no answer) from an instance: the store refused its write because another writer owns
//                         the entity (`conflict`). The shard logs it and calls `shard_hooks::fenced` once per serving
//                         period: in a cluster it means another member owns the shard now.
// runtime/shard_control.hpp drives these per shard index across the node's regions.
//   shed_atom          -> (no answer) another shard of the type is over the active cap: passivate the least
//                         recently used instance here if the type is still over it.
//   exit (shutdown)    -> every instance passivates, held commands fail UNAVAILABLE, the shard quits when empty.
//                         Instances still running `stop_timeout` later are killed (one waiting for a user function
//                         that never answers would otherwise keep the shard, and the actor system, up forever);
//                         a killed instance fails what it still holds (entity_actor::on_exit).
//
// The active cap (`--max-active-entities`) is per entity type and node, shared by the type's shards through an
// `active_budget`: a shard that activates an instance past the cap passivates its own least recently used instance,
// or, if it has no other, asks the shard with the most live instances to shed one. The victim is therefore the least
// recently used of one shard rather than of the whole node, which keeps every command's path free of shared state.
//
// Runs entirely inside its actor; `active_budget` is the only state shared between shards (atomics).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>
#include <caf/weak_intrusive_ptr.hpp>

#include "actorstate/runtime/entity_actor.hpp"
#include "actorstate/runtime/shard_control.hpp"

namespace actorstate::runtime {

/// The live-instance budget of one entity type on this node, shared by its shards.
class active_budget {
public:
  active_budget(size_t cap, size_t shards);

  size_t cap() const { return cap_; }
  /// Live instances (active and not stopping) over all shards.
  int64_t live() const { return live_.load(std::memory_order_relaxed); }
  /// Shard `index` gained (+1) or lost (-1) a live instance; returns the type's new live count.
  int64_t change(uint32_t index, int delta);
  /// The shard with the most live instances, other than `except`; -1 if none has any.
  int64_t fullest(uint32_t except) const;

  /// Shards register themselves so that others can ask them to shed (weak: the budget must not keep them alive).
  void attach(uint32_t index, const caf::actor& shard);
  caf::actor shard(uint32_t index) const;

private:
  size_t cap_;
  std::atomic<int64_t> live_{0};
  std::unique_ptr<std::atomic<int64_t>[]> per_shard_;
  size_t shards_;
  mutable std::mutex mtx_;  ///< Guards `handles_` (written once per shard at spawn, read on shed only).
  std::vector<caf::weak_actor_ptr> handles_;
};

struct shard_config {
  std::shared_ptr<const entity_env> env;
  uint32_t index = 0;
  uint32_t count = 1;  ///< Shards of the type: a command whose entity hashes elsewhere is refused.
  std::chrono::milliseconds passivation_timeout{30000};
  std::shared_ptr<active_budget> budget;
  std::chrono::milliseconds stop_timeout{10000};  ///< At shutdown: longest wait for instances before killing them.
  std::shared_ptr<const shard_hooks> hooks;       ///< In a cluster: forwarding and fencing; null on a node alone.
  bool start_holding = false;                     ///< region_config::start_holding
};

caf::actor spawn_shard(caf::actor_system& sys, shard_config cfg);

}  // namespace actorstate::runtime
