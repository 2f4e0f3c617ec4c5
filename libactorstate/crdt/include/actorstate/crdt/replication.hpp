// How CRDT instances reach the replicas of the other members of a cluster. The node implements it on the cluster's
// membership and transport (a member alone, or a node without a cluster, has no peers).
//
// What travels: a `replica_message` per entity, a delta (after a change) or a full state (repair), sent to every live
// member. A member merges it into its instance of the entity if that is in memory, and answers either way: a member
// that does not hold the entity loads it from the store when asked, and the store holds every replica's durable state
// (entities.hpp, "Durability"); a change not yet durable reaches it with the sender's next full state.
//
// Thread rules: every method from any thread; `done` may run on any thread, exactly once.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actorstate/status.hpp"

namespace actorstate::crdt {

/// A live member as the replicas see it: where to send, and its replica id (for Vote).
struct replica_peer {
  std::string address;
  std::string replica;

  friend bool operator==(const replica_peer&, const replica_peer&) = default;
};

class replication {
public:
  using clock = std::chrono::steady_clock;

  virtual ~replication() = default;

  /// This member's replica id; fixed once the node serves (the member joined).
  virtual std::string self() const = 0;
  /// The other live members, as last read from the membership.
  virtual std::vector<replica_peer> peers() const = 0;
  /// Sends `message` (a serialized replica_message) about entity `entity_id` of the CRDT entity type `service` to the
  /// member at `address`; `done` hears ok once that member took it, or why not (unreachable, deadline).
  virtual void send(const std::string& address, const std::string& service, const std::string& entity_id,
                    std::string message, clock::time_point deadline, std::function<void(status)> done) = 0;
};

/// The name under which replica messages travel between members (the transport's service field), followed by the
/// entity type: "actorstate.crdt.replica/<service>".
inline constexpr const char* replica_service_prefix = "actorstate.crdt.replica/";

}  // namespace actorstate::crdt
