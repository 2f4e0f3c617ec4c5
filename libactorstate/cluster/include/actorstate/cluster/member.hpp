// A cluster member: this node's part in a cluster. It keeps the node's membership in the shared store alive, decides
// from each reading of the store what to do with every shard (cluster/control.hpp) and carries the decision out on
// the node's shards (runtime/shard_control.hpp): claim, serve, hand over, release, drop, and route commands for
// shards owned elsewhere to their owner's address.
//
// Contract:
//  - `member::start` records the cluster's shard count (or checks it against the recorded one: a mismatch is
//    FAILED_PRECONDITION naming both counts), joins as a new incarnation of `id`, and starts the member's loop. Until
//    its first decision is carried out every shard holds its commands.
//  - The loop renews the membership every `failure_timeout / 3`, then reads members and shard owners and decides.
//    It also reads and decides at once when a shard's write was fenced (`fenced`), a peer was lost (`peer_lost`), a
//    handover finished, or a silent member's shards become claimable. A lost peer whose process the store confirms
//    gone (coordination::confirm_gone) is removed at once, so its shards move without waiting out the timeout.
//  - Self-fencing: a renewal counts from when it was sent. When no renewal was confirmed for `failure_timeout` minus
//    `self_fence_margin`, the member drops every shard it serves (nothing more is answered from memory) before any
//    other member may take them over (claims wait `failure_timeout + takeover_margin` after the last renewal, by the
//    store's clock). Once renewals get through again it claims its shards anew, at new epochs.
//  - A member whose incarnation was superseded (the store answers `conflict` to its renewal) drops everything and
//    joins again as a new incarnation.
//  - `leave` hands every shard over (a bounded number at a time, each released once its writes are durable), leaves
//    the membership and returns; after `within` it drops what is left and leaves anyway.
//
// Thread rules: every method from any thread except `start`, `leave` and `stop`, which block and must not run on an
// actor thread. `stop` (also the destructor) must run before the actor system and the shard control are destroyed.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actorstate/status.hpp"

namespace caf {
class actor_system;
}  // namespace caf

namespace actorstate::persistence {
class coordination;
}  // namespace actorstate::persistence

namespace actorstate::runtime {
class lease;
class shard_control;
}  // namespace actorstate::runtime

namespace actorstate::cluster {

struct member_options {
  std::string cluster;  ///< The cluster's name (rows of other clusters in the same store are not seen).
  std::string id;       ///< This member's id (--node-id); a restart is a new incarnation of it.
  std::string address;  ///< Where other members reach this one's transport ("host:port").
  uint32_t shards = 128;
  std::chrono::milliseconds failure_timeout{3000};
  /// A member stops serving this long before its lease would run out (covers the time the drop takes to reach the
  /// shards). Default: failure_timeout / 6.
  std::chrono::milliseconds self_fence_margin{0};
  /// Others wait this long beyond the failure timeout before they take a silent member's shards. Default:
  /// failure_timeout / 3.
  std::chrono::milliseconds takeover_margin{0};
  size_t max_rebalance = 4;  ///< Handovers under way at once (rebalancing and leaving).
  /// A member not renewed for this long is asked about (`coordination::confirm_gone`, once per this interval): if its
  /// process is gone, the store removes it and the cluster stops listing it as down. Crashes whose connection closed
  /// are confirmed at once anyway; this catches the rest (the connection never opened, the peer died before this
  /// member started). Default: 10 x failure_timeout, at least 30 s.
  std::chrono::milliseconds forget_down_after{0};
  /// How long `start` waits for the store to answer (init, join).
  std::chrono::milliseconds store_timeout{10000};
  /// Where the member publishes its lease for the entities to check before they answer (runtime/lease.hpp); the
  /// same object as `shard_hooks::member_lease`. Optional.
  std::shared_ptr<runtime::lease> lease;
  /// Asks the member at `address` to read the store now (after this one released a shard placement gives it), so a
  /// handover does not wait for the next owner's renewal tick. Optional; must not block.
  std::function<void(const std::string& address)> nudge;
};

/// What `member::view` reports (for /cluster): the last reading of the store.
struct cluster_view {
  struct member {
    std::string id;
    std::string address;
    int64_t incarnation = 0;
    std::string status;  ///< "up", "leaving" or "down" (not renewed within the failure timeout)
    size_t shards = 0;   ///< shards it owns
  };
  std::string cluster;
  std::string self;
  int64_t incarnation = 0;
  uint32_t shards = 0;
  bool joined = false;  ///< the member carried out its first decision
  std::vector<member> members;
  size_t serving = 0;  ///< shards served here now
};

/// Counters the member keeps (read from any thread).
struct member_counters {
  uint64_t claims = 0;       ///< shards this member claimed and started serving
  uint64_t takeovers = 0;    ///< of which taken from a member that was not alive
  uint64_t handovers = 0;    ///< shards handed over and released
  uint64_t drops = 0;        ///< shards dropped (taken over, self-fence, superseded)
  uint64_t self_fences = 0;  ///< times the lease ran out before a renewal was confirmed
  /// peers whose connection closed and whose process the store confirmed gone (their shards taken at once)
  uint64_t crashes_confirmed = 0;
  uint64_t down_members_forgotten = 0;  ///< Members down for forget_down_after whose process was found gone.
  /// The last takeover: from the first reading that showed the shard without a live owner to serving it, in ms.
  int64_t last_takeover_ms = -1;
};

class member {
public:
  /// Joins the cluster (see the contract). `coordination` and `shards` must outlive the member.
  static result<std::unique_ptr<member>> start(caf::actor_system& sys, persistence::coordination& coordination,
                                               runtime::shard_control& shards, member_options opts);
  ~member();
  member(const member&) = delete;
  member& operator=(const member&) = delete;

  /// A write of shard `index` was refused by the fence: read the store again now.
  void fenced(uint32_t index);
  /// A peer's connection was lost: read the store again now (it may be gone).
  void peer_lost(const std::string& address);
  /// Another member says the store changed (it released a shard this one may claim): read it now.
  void reread();

  /// Hands every shard over and leaves; blocks up to `within`. Idempotent.
  status leave(std::chrono::milliseconds within);
  /// Stops the loop without leaving (the shards stay owned until the failure timeout; a crash looks like this).
  void stop();

  cluster_view view() const;
  member_counters counters() const;
  int64_t incarnation() const;

  struct impl;

private:
  explicit member(std::shared_ptr<impl> impl);
  std::shared_ptr<impl> impl_;
};

}  // namespace actorstate::cluster
