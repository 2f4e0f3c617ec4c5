// Validation shared by the plugins, so every plugin rejects the same requests with the same code and a message
// that names the persistence id (or key) and the expected and actual numbers. Pure functions; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "actorstate/persistence/store.hpp"

namespace actorstate::persistence::detail {

/// Checks the shape of an append batch: not empty, consecutive sequence numbers.
status check_batch(const std::string& pid, const std::vector<event>& events);

/// Checks the fence: the batch must start right after `highest`.
status check_next(const std::string& pid, const std::vector<event>& events, int64_t highest);

/// Checks an optimistic version: `current` is 0 for an absent key.
status check_version(const char* what, const std::string& key, int64_t expected, int64_t current);

/// The row limit of a replay from `from` to `to` of at most `max` events, capped to what SQL can bind; 0 when nothing
/// can match (`max` is 0 or the range is empty).
int64_t replay_limit(int64_t from, int64_t to, uint64_t max);

/// What an operation issued after close() reports.
status closed_status(const std::string& plugin);

}  // namespace actorstate::persistence::detail
