// The runtime's message vocabulary inside the actor system: the public command values (actorstate/messages.hpp) and
// the runtime's atoms, registered with CAF under actorstate's own block of type ids, and the mapping of CAF's
// transport errors to the status a caller sees.
//
// A shard answers a `command` request with exactly one `command_result`; transport-level failures (the actor is
// gone, the request timed out) arrive as a `caf::error` instead and are mapped by `to_command_result`.
//
// Type ids: actorstate's block starts at `caf::first_custom_type_id + 1000`, not at `first_custom_type_id`, where an
// application that embeds the runtime would start its own block (CAF's examples do): two blocks that overlap give
// two types one id, and CAF then deserializes one as the other. The range is documented in docs/architecture.md and
// a test registers a user block at `first_custom_type_id` next to this one.
//
// Thread rules: plain values and compile-time ids; the actor system registers the block once at start-up.
#pragma once

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/meta/load_callback.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/type_id.hpp>

#include "actorstate/messages.hpp"

namespace actorstate {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, metadata_entry& x) {
  return f(caf::meta::type_name("actorstate.metadata_entry"), x.key, x.value);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, command& x) {
  return f(caf::meta::type_name("actorstate.command"), x.entity_id, x.method, x.payload, x.metadata);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, command_result& x) {
  // A status keeps its fields private (it is built whole): save copies of them, and build it whole after loading.
  auto code = x.status.code();
  auto message = x.status.message();
  return f(caf::meta::type_name("actorstate.command_result"), code, message, x.payload, x.metadata,
           caf::meta::load_callback([&]() -> caf::error {
             x.status = status{code, std::move(message)};
             return caf::none;
           }));
}

/// Maps a CAF transport error (timeout, dead actor, ...) to the status a client sees.
command_result to_command_result(const caf::error& err);

/// The first CAF type id of actorstate's block.
constexpr caf::type_id_t first_type_id = caf::first_custom_type_id + 1000;

}  // namespace actorstate

CAF_BEGIN_TYPE_ID_BLOCK(actorstate, actorstate::first_type_id)
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
CAF_ADD_ATOM(actorstate, actorstate, drop_atom, "drop")
CAF_ADD_ATOM(actorstate, actorstate, hold_atom, "hold")
CAF_ADD_ATOM(actorstate, actorstate, route_atom, "route")
CAF_END_TYPE_ID_BLOCK(actorstate)
