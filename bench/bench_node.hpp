// For the benchmark programs that run a node in their own process (native_bench, recovery_bench, memory_bench): the
// node options they share. Kept apart from bench_common.hpp, which programs without libactorstate include too.
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

}  // namespace bench
