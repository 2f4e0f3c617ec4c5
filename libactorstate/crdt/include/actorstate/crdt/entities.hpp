// CRDT entity types on one member (Cloudstate's CRDT entities). They are not sharded: every member that is asked about
// an entity runs its own replica of it, and replicas converge by exchanging deltas (replicated.hpp has the CRDTs).
//
// Per entity type and member one manager actor (`spawn_manager`, the target of the type's region) finds or spawns
// the instance of an entity id and hands it the command. An instance holds the member's replica of that entity and
// talks to the handler side in the Cloudstate CRDT protocol (::actorstate::detail::crdt_conversation: the native SDK
// in-process, or a user function through the bridge):
//  - It loads its replica from the store first (the state every replica of the entity wrote, merged), and opens the
//    conversation on the first command with `init` carrying the whole state.
//  - Commands go to the handler side as they come, each with its own id, several outstanding at once. A reply's state
//    action (a change, or delete) is applied to the replica at once; the reply, its forward and its side effects
//    leave once the state that includes the change is durable, in the order the replies came. A change that does not
//    fit the entity (another CRDT type, a counter decrement, an empty delta) is a protocol error: that command fails,
//    the error is reported to the handler side (`crdt_model::report_error`), and the conversation restarts.
//  - Changes that come from elsewhere (a write of another replica found in the store) are told to the handler side
//    as deltas, only while no command or stream cancellation is outstanding, as the protocol requires.
//  - Streamed commands (server-streaming methods) stay open: the first reply, then every streamed message the handler
//    side sends for it, until it ends the stream or the client cancels (the handler side is told, and may answer with
//    a last change and side effects).
//  - Durability: the replica's state is kept in the store's value of the entity ("<persistence id>|<entity id>", the
//    value entity key format) and written back whole after changes, at most one write in flight per entity, changes
//    made meanwhile folded into the next one. Another member's write in between (a version conflict) is merged in and
//    the write retried: merging is idempotent, so nothing a replica acknowledged is lost and nothing is counted twice.
//  - Between members (`type_config::peers`, replication.hpp): every change goes as a delta to every live member,
//    merged there into the entity if it is in memory; an answer at MAJORITY or ALL also waits for that many
//    acknowledgements, within `write_timeout`, and fails UNAVAILABLE saying how many took it (the change stays).
//    Members a send missed get the whole state every `sync_interval` until they take it; every tenth interval every
//    member gets it, if it changed here since. Replica messages from others arrive through `deliver_replica`.
//  - Passivation: after `passivation_timeout` without commands and with no streamed call open, the instance asks its
//    manager to stop it; the manager agrees only if it sent nothing since, and holds later commands for that id until
//    the instance is gone (two instances of one id on one member would be two replicas with one replica id).
//  - Deletion is final: the state becomes a tombstone, stored like any state; later commands fail "Entity deleted".
//
// Thread rules: the actors run in the actor system; `open_streamed_command` and the stream it returns may be used from
// any thread (the frontend's gRPC and HTTP threads).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include "actorstate/crdt/replication.hpp"
#include "actorstate/detail/model.hpp"
#include "actorstate/messages.hpp"
#include "actorstate/runtime/entity_actor.hpp"

namespace actorstate::crdt {

struct type_config {
  /// The type (its model is a ::actorstate::detail::crdt_model), the store, the metrics and where forwards and side
  /// effects go.
  std::shared_ptr<const runtime::entity_env> env;
  /// This member's replica id: unique per process incarnation, so that no two processes ever make the same dot.
  /// Ignored when `peers` is set (it names the replica then).
  std::string replica;
  /// The other members' replicas (a cluster); null when this node runs alone.
  std::shared_ptr<replication> peers;
  /// How long a change waits for the acknowledgements its write consistency (MAJORITY, ALL) asks for before its
  /// command fails.
  std::chrono::milliseconds write_timeout{5000};
  /// A member that missed a delta (the send failed) gets the entity's whole state this soon after; every tenth round
  /// every member gets it, if the entity changed since the last one (repairs what was lost without an error).
  std::chrono::milliseconds sync_interval{1000};
  std::chrono::milliseconds passivation_timeout{30000};
  /// At shutdown: the longest wait for instances (their writes) before they are killed.
  std::chrono::milliseconds stop_timeout{10000};
  /// Wall clock in milliseconds for LWWRegister's DEFAULT and REVERSE clocks; empty: the system clock.
  std::function<int64_t()> wall_clock_ms;
};

/// Spawns the manager of one CRDT entity type on this member; it takes `command` requests and `local_command`s
/// (runtime/reply.hpp) and stops, after its instances, on an exit.
caf::actor spawn_manager(caf::actor_system& sys, type_config cfg);

/// A replica message from another member (replication.hpp) for entity `entity_id` of the type `manager` serves: merged
/// into the instance if it is in memory; `done` hears ok, or why the message could not be merged.
void deliver_replica(const caf::actor& manager, std::string entity_id, std::string message,
                     std::function<void(status)> done);

/// The entity id a request's bytes address, or why they address none (`invalid_argument`).
using key_reader = std::function<result<std::string>(const std::string& payload)>;

/// A streamed command of a server-streaming method `method`, as the frontend drives it (route::open_stream): the one
/// client message goes to the entity that `key` names, elements and the end come back through `sink`.
std::shared_ptr<::actorstate::detail::action_stream> open_streamed_command(
    caf::actor manager, std::string method, key_reader key, std::vector<metadata_entry> metadata,
    ::actorstate::detail::action_stream_sink sink);

}  // namespace actorstate::crdt
