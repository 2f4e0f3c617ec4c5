// For the benchmark programs that run a node in their own process (native_bench, recovery_bench, memory_bench): the
// node options they share, and starting and stopping a node. Kept apart from bench_common.hpp, which programs without libactorstate include too.
#pragma once

#include <string>

#include <actorstate/node.hpp>

namespace bench {

/// A node on `store` with both ports picked free on loopback and warnings-only logging.
inline actorstate::node_options local_node_options(const std::string& store) {
  actorstate::node_options opts;
  opts.store = store;
  opts.port = 0;
  opts.management_port = 0;
  opts.bind = "127.0.0.1";
  opts.log_level = "warn";
  return opts;
}

/// Registers `entity` and starts `node`; false if either fails (the node has logged why).
template <class Entity>
bool start_node(actorstate::node& node, const Entity& entity) {
  return node.add(entity).ok() && node.start().ok();
}

/// Shuts a started node down here (calls drained, the store flushed and closed) rather than in its destructor.
inline void stop_node(actorstate::node& node) {
  node.stop();
  // After stop(), run() only shuts down; it fails only for a node that did not start, which the caller checked.
  (void)node.run();
}

}  // namespace bench
