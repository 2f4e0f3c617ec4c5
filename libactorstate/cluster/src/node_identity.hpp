// A random CAF node id for this process (contract: transport.hpp, "Node identity"; docs/cluster.md, "Transport").
//
// Thread rules: `load_node_identity` before the actor system is built; `is_random_node_id` any time.
#pragma once

namespace caf {
class actor_system;
class actor_system_config;
}  // namespace caf

namespace actorstate::cluster::detail {

/// Adds the module that gives the actor system built from `cfg` a random node id. After caf::io::middleman.
void load_node_identity(caf::actor_system_config& cfg);

/// Whether `sys` runs with an id from `load_node_identity` (the transport refuses to start without one).
bool has_random_node_id(const caf::actor_system& sys);

}  // namespace actorstate::cluster::detail
