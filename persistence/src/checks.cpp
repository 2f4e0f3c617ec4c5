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

// -- Cluster coordination ---------------------------------------------------------------------------------------------

namespace {

std::string member_name(const std::string& id, int64_t incarnation) {
  return "'" + id + "' incarnation " + std::to_string(incarnation);
}

std::string shard_name(const std::string& cluster, uint32_t shard) {
  return "shard " + std::to_string(shard) + " of cluster '" + cluster + "'";
}

std::string owner_text(const shard_row& row) {
  return row.owner.empty() ? std::string{"no owner"} : "owner " + member_name(row.owner, row.owner_incarnation);
}

status no_such_shard(const std::string& cluster, uint32_t shard) {
  return {status_code::invalid_argument,
          "cluster '" + cluster + "' has no shard " + std::to_string(shard) + " (init_cluster records the shards)"};
}

// Why `incarnation` of `id` is not the current member, given its row; empty if it is (up or leaving).
std::string not_current(const std::string& id, int64_t incarnation, const std::optional<member_row>& current) {
  if (!current)
    return member_name(id, incarnation) + " never joined";
  if (current->incarnation > incarnation)
    return member_name(id, incarnation) + " was superseded by incarnation " + std::to_string(current->incarnation);
  if (current->incarnation < incarnation)
    return "'" + id + "' has no incarnation " + std::to_string(incarnation) + " (the current one is " +
           std::to_string(current->incarnation) + ")";
  if (current->state == member_state::left)
    return member_name(id, incarnation) + " has left";
  return {};
}

}  // namespace

const char* state_text(member_state s) {
  switch (s) {
    case member_state::up:
      return "up";
    case member_state::leaving:
      return "leaving";
    case member_state::left:
      return "left";
  }
  return "up";
}

std::optional<member_state> parse_state(std::string_view text) {
  for (auto s : {member_state::up, member_state::leaving, member_state::left})
    if (text == state_text(s))
      return s;
  return std::nullopt;
}

member_status public_status(member_state s) {
  return s == member_state::up ? member_status::up : member_status::leaving;
}

status check_shard_count(const std::string& cluster, uint32_t shards) {
  if (shards == 0)
    return {status_code::invalid_argument, "init cluster '" + cluster + "': a cluster needs at least one shard"};
  return {};
}

status check_renew(const std::string& cluster, const std::string& id, int64_t incarnation,
                   const std::optional<member_row>& current) {
  if (auto why = not_current(id, incarnation, current); !why.empty())
    return {status_code::conflict, "renew in cluster '" + cluster + "': " + why};
  return {};
}

result<leave_action> decide_leave(const std::string& cluster, const std::string& id, int64_t incarnation,
                                  const std::optional<member_row>& current, bool owns_shards) {
  // Leaving twice is harmless: a retry after an unknown outcome must not fail.
  if (!current || (current->incarnation == incarnation && current->state == member_state::left))
    return leave_action::none;
  if (auto why = not_current(id, incarnation, current); !why.empty())
    return status{status_code::conflict, "leave cluster '" + cluster + "': " + why};
  return owns_shards ? leave_action::mark_leaving : leave_action::remove;
}

status check_claim(const std::string& cluster, uint32_t shard, const std::optional<shard_row>& current,
                   const std::string& id, int64_t incarnation, int64_t expected_epoch,
                   std::chrono::milliseconds takeover_after, const std::optional<member_row>& claimant,
                   const std::optional<member_row>& owner) {
  if (!current)
    return no_such_shard(cluster, shard);
  auto what = "claim " + shard_name(cluster, shard) + " for " + member_name(id, incarnation) + ": ";
  if (auto why = not_current(id, incarnation, claimant); !why.empty())
    return {status_code::conflict, what + why};
  if (claimant->state != member_state::up)
    return {status_code::conflict, what + "the member is leaving"};
  if (current->epoch != expected_epoch)
    return {status_code::conflict, what + "the shard is at epoch " + std::to_string(current->epoch) + " (" +
                                       owner_text(*current) + "), not " + std::to_string(expected_epoch)};
  if (current->owner.empty() || (current->owner == id && current->owner_incarnation == incarnation))
    return {};
  // The owner's incarnation is gone (superseded, removed, or its row deleted): it serves nothing any more.
  if (!owner || owner->incarnation != current->owner_incarnation || owner->state == member_state::left)
    return {};
  if (owner->age_ms > takeover_after.count())
    return {};
  return {status_code::conflict, what + "owned by " + member_name(current->owner, current->owner_incarnation) +
                                     (owner->state == member_state::leaving ? " (leaving)" : "") + " at epoch " +
                                     std::to_string(current->epoch) + ", renewed " + std::to_string(owner->age_ms) +
                                     " ms ago (takeover after " + std::to_string(takeover_after.count()) + " ms)"};
}

status check_release(const std::string& cluster, uint32_t shard, const std::optional<shard_row>& current,
                     const std::string& id, int64_t incarnation, int64_t epoch) {
  if (!current)
    return no_such_shard(cluster, shard);
  if (current->owner != id || current->owner_incarnation != incarnation || current->epoch != epoch)
    return {status_code::conflict, "release " + shard_name(cluster, shard) + " by " + member_name(id, incarnation) +
                                       " at epoch " + std::to_string(epoch) + ": the shard is at epoch " +
                                       std::to_string(current->epoch) + " (" + owner_text(*current) + ")"};
  return {};
}

status check_fence(const std::string& cluster, const write_fence& fence, std::optional<int64_t> epoch) {
  if (cluster.empty())
    return {status_code::invalid_argument,
            "a write fenced by shard " + std::to_string(fence.shard) + " on a store opened without a cluster name"};
  if (!epoch)
    return no_such_shard(cluster, fence.shard);
  if (*epoch != fence.epoch)
    return {status_code::conflict, "shard " + std::to_string(fence.shard) + " moved to epoch " +
                                       std::to_string(*epoch) + "; this write carries epoch " +
                                       std::to_string(fence.epoch)};
  return {};
}

}  // namespace actorstate::persistence::detail
