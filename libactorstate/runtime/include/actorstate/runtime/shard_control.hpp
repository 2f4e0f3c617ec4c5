// The runtime's part of shard ownership: what a cluster member drives, one shard index across every entity type at
// once (shard `i` of every type moves together, docs/cluster.md). The member decides (libactorstate/cluster/control);
// this carries a decision out on the node's shard actors (runtime/shard.hpp), and the shards tell the member when the
// store fenced one of their writes (`shard_hooks::fenced`).
//
// A shard index is in one of these states on a node; every call moves it to the state it names, from any state:
//   serving(epoch)    its entity instances run here and every write they make carries write_fence{index, epoch}, which
//                     the store refuses once the shard's epoch moved on. Commands held meanwhile run, in arrival
//                     order. A node that runs alone never calls anything: its shards serve unfenced from the start.
//                     Serving at another epoch than the one served drops the instances first (their writes carry the
//                     old epoch and would be refused; their memory may be stale).
//   holding           commands wait in the shard (owner unknown, or the shard is moving); a call's deadline still
//                     applies (a held command whose caller was answered DEADLINE_EXCEEDED is not run later).
//   forwarding(addr)  commands, held ones first in arrival order, go to the member at `addr` through the `forwarder`;
//                     its answer goes straight to the caller.
// `hand_over` leaves serving gracefully: every instance stops once its writes are durable, then the shard holds;
// `done` runs when every type's shard is down (at once if none served). `drop` leaves it at once: the instances are
// killed without waiting for their writes (a new owner's epoch refuses them anyway) and nothing more is answered from
// their memory (replies they still owed fail UNAVAILABLE); the shard holds. `hold` on a serving shard hands over
// without telling anyone; `route` on a serving shard drops it first (the member routes only shards it lost). A
// `serve`, `route` or `hold` that arrives while a handover is under way takes effect once the last instance is down
// (the latest request wins); a `drop` ends the handover at once.
//
// Thread rules: every method from any thread, never blocking: each sends one message to the shard `index` of every
// entity type. Calls from one thread reach each shard in call order; the member must not call from several threads
// at once for one index. `done`, the forwarder and `fenced` run on actor threads and must not block.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "actorstate/messages.hpp"
#include "actorstate/runtime/lease.hpp"
#include "actorstate/runtime/reply.hpp"

namespace actorstate::runtime {

class region;

/// Sends a command for entity type `service` to the member at `address` (the cluster layer implements it with its
/// transport) and answers `reply` exactly once, from any thread. A `reply` dropped unanswered tells the caller
/// UNAVAILABLE.
using forwarder =
    std::function<void(const std::string& address, const std::string& service, command cmd, reply_to reply)>;

/// What the shards of a node in a cluster call; shared by every region of the node (`region_config::hooks`).
struct shard_hooks {
  /// Where a forwarding shard sends its commands.
  forwarder forward;
  /// The store refused a write of shard `index` with `conflict`: another member owns it now, and the member should
  /// re-read the store. Called once per shard and entity type each time the shard starts serving, on the shard's
  /// actor thread.
  std::function<void(uint32_t index)> fenced;
  /// The member's lease: a shard that starts serving records its generation, and its instances answer only while it
  /// is valid (runtime/lease.hpp). Null: answers are not checked.
  std::shared_ptr<const lease> member_lease;
};

class shard_control {
public:
  virtual ~shard_control() = default;
  /// Serve shard `index`: its instances' writes carry write_fence{index, epoch}; held commands run.
  virtual void serve(uint32_t index, int64_t epoch) = 0;
  /// Stop serving: instances stop once their writes are durable; `done` (any thread) once every type's shard is
  /// down; afterwards commands are held.
  virtual void hand_over(uint32_t index, std::function<void()> done) = 0;
  /// The shard was taken over: stop at once without waiting for writes (they would be refused by the fence) and
  /// hold commands; answers nothing from memory.
  virtual void drop(uint32_t index) = 0;
  /// Commands for `index` (held ones first, in arrival order) go to the member at `address` through the forwarder.
  virtual void route(uint32_t index, std::string address) = 0;
  /// Commands for `index` wait (owner unknown or moving); their call deadlines still apply.
  virtual void hold(uint32_t index) = 0;
};

/// A shard_control over the shards of `regions` (action types have none and are skipped). The regions must have
/// been spawned with `hooks` for forwarding and fencing to reach the member. `sys` runs `hand_over`'s helper.
std::unique_ptr<shard_control> make_shard_control(caf::actor_system& sys,
                                                  std::vector<std::shared_ptr<const region>> regions);

}  // namespace actorstate::runtime
