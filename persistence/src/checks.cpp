#include "checks.hpp"

#include <algorithm>
#include <limits>

namespace actorstate::persistence::detail {

status check_batch(const std::string& pid, const std::vector<event>& events) {
  if (events.empty())
    return {status_code::invalid_argument, "append to '" + pid + "': empty batch"};
  for (size_t i = 1; i < events.size(); ++i) {
    auto want = events.front().seq + static_cast<int64_t>(i);
    if (events[i].seq != want)
      return {status_code::conflict, "append to '" + pid + "': sequence numbers are not consecutive (event " +
                                         std::to_string(i) + " has seq " + std::to_string(events[i].seq) +
                                         ", expected " + std::to_string(want) + ")"};
  }
  return {};
}

status check_next(const std::string& pid, const std::vector<event>& events, int64_t highest) {
  if (events.front().seq != highest + 1)
    return {status_code::conflict, "append to '" + pid + "': expected seq " + std::to_string(highest + 1) + ", got " +
                                       std::to_string(events.front().seq) + " (highest is " + std::to_string(highest) +
                                       ")"};
  return {};
}

status check_version(const char* what, const std::string& key, int64_t expected, int64_t current) {
  if (expected < 0)
    return {status_code::invalid_argument,
            std::string{what} + " '" + key + "': negative expected version " + std::to_string(expected)};
  if (expected != current)
    return {status_code::conflict, std::string{what} + " '" + key + "': expected version " + std::to_string(expected) +
                                       ", found " + std::to_string(current)};
  return {};
}

int64_t replay_limit(int64_t from, int64_t to, uint64_t max) {
  if (max == 0 || from > to)
    return 0;
  return static_cast<int64_t>(std::min<uint64_t>(max, std::numeric_limits<int64_t>::max()));
}

status closed_status(const std::string& plugin) {
  return {status_code::unavailable, plugin + " store is closed"};
}

}  // namespace actorstate::persistence::detail
