// The counter entity type (actorstate.samples.counter.Counter), a value entity with persistence id "counter": `Add`
// adds the delta to the key's value and answers the new value, `Get` answers the value (0 for a key never added to).
#pragma once

#include <actorstate/entity.hpp>

#include "counter/counter.pb.h"

namespace counter {

actorstate::value_entity<actorstate::samples::counter::Value> make_entity();

}  // namespace counter
