// Cluster coordination kept in the store that every member shares (PostgreSQL, or one SQLite file for members on one
// host), in the manner of Orleans' membership table: who is a member, how many shards the cluster has, and who owns
// each shard at which epoch. Reach it through `store::cluster_coordination()`.
//
// Clock: every age and every takeover deadline is computed by the store's clock when the operation runs (PostgreSQL's
// clock_timestamp(); for SQLite the clock of the host the file lives on; for memory this process's steady clock).
// Members' own clocks are never compared, so clock skew between members does not matter.
//
// Membership: `join` makes a new incarnation of a member id (the previous one + 1; a restarted process is a new
// incarnation) and stamps its renewal; `renew` stamps it again. A member that stops renewing is not removed by
// anyone: its age just grows, and the cluster reads that as death once the age exceeds its failure timeout.
// `leave` marks an incarnation `leaving` while it still owns shards (it keeps renewing while it hands them over,
// so nobody takes them over by timeout meanwhile) and removes it once it owns none: a draining member calls it when
// it starts and again after releasing its last shard. A removed or superseded incarnation can no longer renew, leave
// or claim; incarnation numbers are never reused, not even after removal.
//
// Liveness: a member's process holds a token for its incarnation from `join` on (PostgreSQL: a session advisory lock
// on the plugin's writing connection, released by the server the moment that connection closes; SQLite: an flock on
// a file beside the database, released by the kernel when the process dies). `confirm_gone` proves a crash without
// waiting out the failure timeout: if nobody holds the token, the process is gone, and the store removes the
// incarnation so its shards may be claimed at once. The token can also vanish while the process lives (the server
// restarted, the connection was cut): the member re-takes it on its next renewal, and the cluster asks only about a
// member whose node-to-node connection closed as well. A removed member that was alive after all finds its renewal
// refused and joins again. The memory store has no tokens: `confirm_gone` answers false.
//
// Shards: `init_cluster` records the shard count once, with every shard at epoch 0 and without an owner. Every
// change of a shard's owner, `claim_shard` or `release_shard`, increments its epoch; both are compare-and-set
// operations on the epoch the caller last saw, decided inside one transaction. A claim of a shard whose owner is a
// live member fails until that owner's last renewal is older than the claimant's `takeover_after` (store clock): the
// cluster passes its failure timeout plus a margin, so an owner that cannot renew has stopped serving first. The
// epoch a claim returns goes with every write of the shard's entities (`write_fence`, store.hpp); the store refuses a
// write whose epoch is no longer the shard's, so a member that lost a shard cannot write to it, even if it does not
// know yet.
//
// Errors: a refused compare-and-set, or an incarnation that is no longer current, is `status_code::conflict` with a
// message that names what the store found (owner, incarnation, epoch). An unknown cluster or shard, or a shard count
// of 0, is `status_code::invalid_argument`. The write operations may report `status_code::unknown_outcome` like any
// store write; the caller then reads (members, shard_owners) before it acts on the outcome.
//
// Threads: as for the store (store.hpp): every method may be called from any thread; each returns at once and its
// callback runs later on a thread owned by the plugin, never on the caller's. Callbacks of one cluster's operations
// run in the order they were issued, and a read sees every write whose callback ran before it was issued. After the
// store's close() every operation fails with `status_code::unavailable`.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "actorstate/persistence/store.hpp"

namespace actorstate::persistence {

enum class member_status {
  up,       ///< Joined and serving.
  leaving,  ///< Handing its shards over; still renews.
};

/// One member incarnation as `members` reports it.
struct member_record {
  std::string id;
  int64_t incarnation = 0;
  std::string address;
  member_status status = member_status::up;
  /// The store's clock now minus the member's last renewal (join or renew), in milliseconds, when the read ran.
  int64_t age_ms = 0;

  friend bool operator==(const member_record&, const member_record&) = default;
};

/// One shard as `shard_owners` reports it.
struct shard_owner {
  uint32_t shard = 0;
  std::string owner;  ///< Member id; empty: no owner.
  int64_t owner_incarnation = 0;
  int64_t epoch = 0;  ///< 0 until the first claim; every claim and release increments it.

  friend bool operator==(const shard_owner&, const shard_owner&) = default;
};

class coordination {
public:
  virtual ~coordination() = default;

  /// Records `shards` as the shard count of `cluster` unless one is recorded already, and reports the recorded count:
  /// the caller compares it with its own and refuses to start on a mismatch, naming both. `shards` = 0 is
  /// `status_code::invalid_argument`.
  virtual void init_cluster(std::string cluster, uint32_t shards, callback<result<uint32_t>> done) = 0;

  /// Joins `id` as a new incarnation (the previous incarnation of `id` + 1, or 1), status up, renewed now; reports
  /// the incarnation. A previous incarnation is superseded: its shards may be claimed at once.
  virtual void join(std::string cluster, std::string id, std::string address, callback<result<int64_t>> done) = 0;

  /// Stamps the renewal of `id`'s `incarnation` (up or leaving) with the store's clock. `status_code::conflict` if
  /// that incarnation was superseded or removed: the caller is no longer a member and must stop serving.
  virtual void renew(std::string cluster, std::string id, int64_t incarnation, callback<status> done) = 0;

  /// Marks `incarnation` leaving if it still owns shards, otherwise removes it (see the top of this file). Leaving an
  /// incarnation that is already removed is ok; a superseded one is `status_code::conflict`.
  virtual void leave(std::string cluster, std::string id, int64_t incarnation, callback<status> done) = 0;

  /// True, and the incarnation removed, if `id`'s `incarnation` is current and its process holds no liveness token
  /// (see the top of this file); false if it holds one, is not current, or the plugin cannot tell.
  virtual void confirm_gone(std::string cluster, std::string id, int64_t incarnation, callback<result<bool>> done) = 0;

  /// The current incarnation of every member that has not been removed, ordered by id, ages by the store's clock.
  virtual void members(std::string cluster, callback<result<std::vector<member_record>>> done) = 0;

  /// Every shard of `cluster` in shard order; empty if the cluster is not initialised.
  virtual void shard_owners(std::string cluster, callback<result<std::vector<shard_owner>>> done) = 0;

  /// Makes `id`'s `incarnation` (which must be up) the owner of `shard` and reports the new epoch (the current one
  /// + 1), if the shard is at `expected_epoch` and it has no owner, or its owner is this incarnation, or its owner's
  /// incarnation was superseded or removed, or its owner's last renewal is older than `takeover_after` by the store's
  /// clock. Otherwise `status_code::conflict`, naming the current owner and epoch.
  virtual void claim_shard(std::string cluster, uint32_t shard, std::string id, int64_t incarnation,
                           int64_t expected_epoch, std::chrono::milliseconds takeover_after,
                           callback<result<int64_t>> done) = 0;

  /// Clears the owner of `shard` and reports the new epoch (`epoch` + 1), if `id`'s `incarnation` owns it at
  /// `epoch`; otherwise `status_code::conflict`. Its entities' writes must be durable first: the next owner recovers
  /// them from the store.
  virtual void release_shard(std::string cluster, uint32_t shard, std::string id, int64_t incarnation, int64_t epoch,
                             callback<result<int64_t>> done) = 0;
};

}  // namespace actorstate::persistence
