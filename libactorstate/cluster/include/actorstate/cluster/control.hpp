// What a member does with its shards, decided from one reading of the shared store: which shards to claim, which to
// start serving, which to hand over, which to drop at once, and where every other shard's commands go. The member
// (cluster/member.hpp) reads the store on every renewal, calls `decide`, and carries the plan out; keeping the
// decision a pure function of what was read makes every rule here testable without a store, a clock or a network.
//
// The rules:
//   - A member is alive while its incarnation is the current one and its last renewal is younger than the failure
//     timeout (the store's clock measured the age). Members that are leaving are alive (they still hand over) but
//     are not placement candidates; nor is this member once it leaves.
//   - A shard whose owner is not alive goes to its preferred member (cluster/placement.hpp), which claims it at the
//     epoch it read. The store only lets the claim through once the old owner's renewal is older than the takeover
//     time (the failure timeout plus a margin), so an owner that could not renew has stopped serving first.
//   - A shard owned by this member's incarnation is served (after a fresh claim if it is not served here yet, which
//     moves its epoch past any write still queued from an earlier serving). The member hands it over when it leaves,
//     or when a live candidate is preferred for it (rebalancing), at most `max_rebalance` handovers at a time,
//     counting those under way. The preferred member claims it once it is released.
//   - A shard this member serves but the store gives to someone else (its incarnation was superseded, or it was
//     declared dead and taken over) is dropped at once: its writes would be refused anyway, and it must not answer
//     from memory.
//   - Commands for a shard go to the owner's address when the owner is alive and not handing it over; otherwise
//     they wait (an empty route) until the shard has an owner again.
//
// Thread rules: pure functions.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace actorstate::cluster {

struct member_reading {
  std::string id;
  int64_t incarnation = 0;
  std::string address;
  bool leaving = false;
  int64_t age_ms = 0;  ///< Store clock now minus the last renewal.
};

struct shard_reading {
  uint32_t shard = 0;
  std::string owner;  ///< empty: none
  int64_t owner_incarnation = 0;
  int64_t epoch = 0;
};

/// What this member does with a shard locally.
enum class local_shard {
  none,          ///< not served here
  serving,       ///< started at the epoch it claimed
  handing_over,  ///< its instances are stopping; released in the store once they are down
};

struct decide_input {
  std::string self;
  int64_t incarnation = 0;
  bool leaving = false;
  std::chrono::milliseconds failure_timeout{3000};
  size_t max_rebalance = 4;
  std::vector<member_reading> members;
  std::vector<shard_reading> shards;  ///< every shard, in any order
  std::vector<local_shard> local;     ///< by shard index; shorter means `none` for the rest
};

struct shard_claim {
  uint32_t shard = 0;
  int64_t expected_epoch = 0;

  friend bool operator==(const shard_claim&, const shard_claim&) = default;
};

struct shard_route {
  uint32_t shard = 0;
  std::string owner;    ///< empty: no owner to send to yet; commands wait
  std::string address;  ///< the owner's transport address (self's own address when served here)
};

struct decision {
  /// Claim at this epoch, then serve at the epoch the claim returns: shards without a live owner that prefer this
  /// member, and shards the store says this incarnation owns but that are not served here (after a self-fence): the
  /// claim moves their epoch on, so a write still queued from before can no longer land.
  std::vector<shard_claim> claim;
  std::vector<uint32_t> hand_over;  ///< served here: stop the instances, then release
  std::vector<uint32_t> drop;       ///< served here but no longer ours: stop at once
  std::vector<shard_route> routes;  ///< one per shard, in shard order
  std::vector<std::string> live;    ///< ids of the live members, in id order
};

/// The plan for one reading (see the top of this file).
decision decide(const decide_input& in);

}  // namespace actorstate::cluster
