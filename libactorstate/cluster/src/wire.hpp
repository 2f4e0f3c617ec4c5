// What travels between two members' transports, and the messages inside one transport.
//
// On the wire (CAF-serialized, registered on every member by `configure_remoting`):
//   caller's peer link --wire_call--> callee's gateway;  callee (any thread) --wire_result--> caller's peer link.
// The result is a plain message, not a CAF response: the callee's reply function may run on any thread, and a CAF
// response promise may only be delivered from its actor's thread; the id pairs the result with its call.
// The batched forms carry several calls or results of one peer in one BASP message.
//
// Type ids: the cluster's block follows the runtime's (`actorstate::first_type_id`), so an application block at
// `caf::first_custom_type_id` collides with neither (see runtime/messages.hpp).
//
// Thread rules: plain values.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/meta/load_callback.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/type_id.hpp>

#include "actorstate/cluster/transport.hpp"
#include "actorstate/runtime/messages.hpp"
#include "actorstate/runtime/reply.hpp"

namespace actorstate::cluster {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_call& x) {
  // Milliseconds as a plain integer: the wire format does not depend on how CAF serializes a duration.
  auto time_left = static_cast<int64_t>(x.time_left.count());
  return f(caf::meta::type_name("actorstate.cluster.call"), x.service, x.cmd, x.hops, time_left,
           caf::meta::load_callback([&]() -> caf::error {
             x.time_left = std::chrono::milliseconds{time_left};
             return caf::none;
           }));
}

namespace detail {

struct wire_call {
  uint64_t id = 0;  ///< Unique per peer link of the caller.
  cluster_call call;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, wire_call& x) {
  return f(caf::meta::type_name("actorstate.cluster.wire_call"), x.id, x.call);
}

struct wire_result {
  uint64_t id = 0;
  command_result result;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, wire_result& x) {
  return f(caf::meta::type_name("actorstate.cluster.wire_result"), x.id, x.result);
}

/// A call entering the transport, from `transport::call` to the peer's link actor; never leaves the node. The
/// slot ends the call exactly once, and with UNAVAILABLE if the message is dropped (the link actor stopped).
struct outbound_call {
  cluster_call call;
  std::chrono::steady_clock::time_point deadline;
  std::shared_ptr<runtime::call_slot> slot;
};

}  // namespace detail

}  // namespace actorstate::cluster

CAF_BEGIN_TYPE_ID_BLOCK(actorstate_cluster, caf::id_block::actorstate::end)
CAF_ADD_TYPE_ID(actorstate_cluster, (actorstate::cluster::detail::wire_call))
CAF_ADD_TYPE_ID(actorstate_cluster, (actorstate::cluster::detail::wire_result))
CAF_ADD_TYPE_ID(actorstate_cluster, (std::vector<actorstate::cluster::detail::wire_call>))
CAF_ADD_TYPE_ID(actorstate_cluster, (std::vector<actorstate::cluster::detail::wire_result>))
CAF_ADD_ATOM(actorstate_cluster, actorstate::cluster, expire_atom, "cl_expire")
CAF_ADD_ATOM(actorstate_cluster, actorstate::cluster, flush_atom, "cl_flush")
CAF_END_TYPE_ID_BLOCK(actorstate_cluster)

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actorstate::cluster::detail::outbound_call)
