// The CRDT example entity type (com.example.crdts.CrdtExample, persistence id "crdt-example"): each key is one CRDT
// whose type the first method that touches it chooses, and a method of another type fails on it.
//  - IncrementGCounter / GetGCounter: a GCounter; a negative increment fails ("Cannot decrement gcounter").
//  - UpdatePNCounter / GetPNCounter: a PNCounter; both answer the (new) value.
//  - MutateGSet / GetGSet, MutateORSet / GetORSet: a GSet or ORSet of SomeValue messages; a mutation applies `clear`,
//    then `remove`, then `add` (a GSet only adds: it ignores `clear` and `remove`, as the reference example does) and
//    answers the size after it.
//  - Connect(User): a streamed call that keeps the user's Vote "yes" on this member while it stays open, and votes
//    "no" when the client goes away and it was the member's last open Connect of that user (the reference example's
//    connection count).
//  - Monitor(User): streams OnlineStatus{online = at least one member votes yes} at once and whenever it changes.
#pragma once

#include <actorstate/crdt_entity.hpp>

#include "crdts/crdt-example.pb.h"

namespace crdt_example {

actorstate::crdt_entity make_entity();

}  // namespace crdt_example
