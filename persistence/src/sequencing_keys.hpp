// The sequencing keys under which the plugins and the fault-injecting decorator order operations: the journal and
// the snapshots of one persistence id share a key; values have their own namespace, so a value key never meets a
// persistence id, and so have the coordination operations of a cluster. Pure functions; any thread.
#pragma once

#include <string>

#include "actorstate/persistence/store.hpp"

namespace actorstate::persistence::detail {

inline std::string pid_key(const std::string& pid) {
  return "p:" + pid;
}

inline std::string value_key(const std::string& key) {
  return "v:" + key;
}

/// An idempotency lookup shares the key of the entity whose writes record it, so it sees every write issued before it.
inline std::string applied_key(applied_scope scope, const std::string& entity) {
  return scope == applied_scope::journal ? pid_key(entity) : value_key(entity);
}

inline std::string cluster_key(const std::string& cluster) {
  return "c:" + cluster;
}

}  // namespace actorstate::persistence::detail
