// The messages that travel between the frontend, shard regions and entity actors. They carry serialized protobuf
// bytes rather than message objects so that a region can forward them to another node unchanged; every type here is
// registered with CAF (see `actorstate_type_ids`) for that reason.
//
// A region answers a `command` request with exactly one `command_result`; transport-level failures (the actor is
// gone, the request timed out) arrive as a `caf::error` instead and are mapped by `to_command_result`.
#pragma once

#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/type_id.hpp>

#include "actorstate/status_code.hpp"

namespace actorstate {

/// One header of a call or reply (gRPC metadata; text values only).
struct metadata_entry {
  std::string key;
  std::string value;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, metadata_entry& x) {
  return f(caf::meta::type_name("actorstate.metadata_entry"), x.key, x.value);
}

/// One client call addressed to an entity: the entity type is implied by the region that receives it.
struct command {
  std::string entity_id;
  std::string method;                    ///< Simple method name as in the service definition, e.g. "AddItem".
  std::string payload;                   ///< The serialized request message.
  std::vector<metadata_entry> metadata;  ///< The call's request headers (actions receive them).
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, command& x) {
  return f(caf::meta::type_name("actorstate.command"), x.entity_id, x.method, x.payload, x.metadata);
}

/// The outcome of a command: a reply payload (code ok) or a status code and message.
struct command_result {
  status_code code = status_code::ok;
  std::string message;
  std::string payload;                   ///< The serialized reply message when code is ok.
  std::vector<metadata_entry> metadata;  ///< Headers for the client's response.

  bool ok() const { return code == status_code::ok; }
  static command_result success(std::string payload) { return {status_code::ok, {}, std::move(payload), {}}; }
  static command_result failure(status_code code, std::string message) { return {code, std::move(message), {}, {}}; }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, command_result& x) {
  return f(caf::meta::type_name("actorstate.command_result"), x.code, x.message, x.payload, x.metadata);
}

/// Maps a CAF transport error (timeout, dead actor, ...) to the status a client sees.
command_result to_command_result(const caf::error& err);

}  // namespace actorstate

CAF_BEGIN_TYPE_ID_BLOCK(actorstate, caf::first_custom_type_id)
CAF_ADD_TYPE_ID(actorstate, (actorstate::metadata_entry))
CAF_ADD_TYPE_ID(actorstate, (actorstate::command))
CAF_ADD_TYPE_ID(actorstate, (actorstate::command_result))
CAF_ADD_ATOM(actorstate, actorstate, passivate_atom, "passivate")
CAF_ADD_ATOM(actorstate, actorstate, tick_atom, "tick")
CAF_ADD_ATOM(actorstate, actorstate, stats_atom, "stats")
CAF_ADD_ATOM(actorstate, actorstate, handover_atom, "handover")
CAF_ADD_ATOM(actorstate, actorstate, start_atom, "start")
CAF_ADD_ATOM(actorstate, actorstate, shed_atom, "shed")
CAF_ADD_ATOM(actorstate, actorstate, fenced_atom, "fenced")
CAF_END_TYPE_ID_BLOCK(actorstate)
