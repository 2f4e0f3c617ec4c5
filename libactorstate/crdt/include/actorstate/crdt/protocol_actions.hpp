// What a Cloudstate protocol answer asks the runtime to do for the client: a `ClientAction` (reply, forward or
// failure) and `SideEffect`s become a runtime::reply_plan, executed by runtime/effects.hpp once the writes are durable.
// Shared by every place that reads the protocol's answers (CRDT entities here; the bridge's entity kinds).
//
// Thread rules: pure functions.
#pragma once

#include <vector>

#include <google/protobuf/repeated_ptr_field.h>

#include "actorstate/detail/model.hpp"
#include "actorstate/messages.hpp"
#include "actorstate/runtime/effects.hpp"
#include "cloudstate/entity.pb.h"

namespace actorstate::crdt {

::actorstate::detail::effect_call effect_of(const cloudstate::Forward& forward);
::actorstate::detail::effect_call effect_of(const cloudstate::SideEffect& effect);

/// The text entries of a protocol Metadata (binary values cannot become gRPC text headers).
std::vector<metadata_entry> metadata_of(const cloudstate::Metadata& m);

/// The plan of `action` with `side_effects`: a reply's payload bytes (and metadata) as the result, a forward, a
/// failure (UNKNOWN with its description; side effects are kept, the caller decides whether they run), or, with no
/// action, an empty result (the reply type's empty message for a unary caller).
runtime::reply_plan plan_of(const cloudstate::ClientAction& action,
                            const google::protobuf::RepeatedPtrField<cloudstate::SideEffect>& side_effects);

}  // namespace actorstate::crdt
