// The TCK's CRDT model services (cloudstate/tck/model/crdt.proto) built with the C++ SDK: served by tck-model, and
// by the user-function tests, which drive them over the protocol. Behaviour as the contract at the top of the proto
// file says, and as Cloudstate's Java TCK model entity behaves (the TCK compares messages exactly).
#pragma once

#include <actorstate/crdt_entity.hpp>

namespace tck {

/// CrdtTckModel (persistence id "crdt-tck-model"): Process and ProcessStreamed.
actorstate::crdt_entity crdt_tck_model();
/// CrdtTwo ("crdt-tck-model-two"): Call replies with an empty Response; a delete action deletes the entity.
actorstate::crdt_entity crdt_two_model();
/// CrdtConfigured ("crdt-configured", passivation 100 ms): Call replies with an empty Response.
actorstate::crdt_entity crdt_configured_model();

}  // namespace tck
