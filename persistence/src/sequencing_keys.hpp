// The sequencing keys under which the plugins and the fault-injecting decorator order operations: the journal and
// the snapshots of one persistence id share a key; values have their own namespace, so a value key never meets a
// persistence id, and so have the coordination operations of a cluster. Pure functions; any thread.
#pragma once

#include <string>

namespace actorstate::persistence::detail {

inline std::string pid_key(const std::string& pid) {
  return "p:" + pid;
}

inline std::string value_key(const std::string& key) {
  return "v:" + key;
}

inline std::string cluster_key(const std::string& cluster) {
  return "c:" + cluster;
}

}  // namespace actorstate::persistence::detail
