// Validation shared by the plugins, so every plugin rejects the same requests with the same code and a message
// that names the persistence id (or key) and the expected and actual numbers. Pure functions; any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "actorstate/persistence/coordination.hpp"
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

// -- Cluster coordination (coordination.hpp) --------------------------------------------------------------------------
// The plugins store the rows and run the decisions below inside one transaction; the decisions themselves live here,
// once, so every plugin grants and refuses the same requests with the same messages.

/// A member row's status as stored. `left` is a removed incarnation: its row stays (hidden from `members`) so that
/// the next join continues its incarnation count instead of reusing a number a stale process may still hold.
enum class member_state { up, leaving, left };

/// "up", "leaving", "left": the stored text.
const char* state_text(member_state s);

/// The state a stored text names; nullopt for anything else (a damaged row).
std::optional<member_state> parse_state(std::string_view text);

/// The public status of a listed (not `left`) member.
member_status public_status(member_state s);

/// A member's row as a decision needs it; `age_ms` by the store's clock.
struct member_row {
  int64_t incarnation = 0;
  member_state state = member_state::up;
  int64_t age_ms = 0;
};

/// A shard's row; `owner` empty: none.
struct shard_row {
  std::string owner;
  int64_t owner_incarnation = 0;
  int64_t epoch = 0;
};

/// init_cluster's argument: at least one shard.
status check_shard_count(const std::string& cluster, uint32_t shards);

/// Whether `incarnation` of `id` may renew, given its current row (nullopt: none).
status check_renew(const std::string& cluster, const std::string& id, int64_t incarnation,
                   const std::optional<member_row>& current);

/// What leave does to the row: nothing (already removed), mark it leaving, or remove it (mark it `left`).
enum class leave_action { none, mark_leaving, remove };

/// leave's decision, given the incarnation's current row and whether it still owns a shard.
result<leave_action> decide_leave(const std::string& cluster, const std::string& id, int64_t incarnation,
                                  const std::optional<member_row>& current, bool owns_shards);

/// claim_shard's decision (see coordination.hpp), given the shard's row (nullopt: no such shard), the claimant's row
/// and the current owner's row (nullopt: none, or no owner).
status check_claim(const std::string& cluster, uint32_t shard, const std::optional<shard_row>& current,
                   const std::string& id, int64_t incarnation, int64_t expected_epoch,
                   std::chrono::milliseconds takeover_after, const std::optional<member_row>& claimant,
                   const std::optional<member_row>& owner);

/// release_shard's decision, given the shard's row (nullopt: no such shard).
status check_release(const std::string& cluster, uint32_t shard, const std::optional<shard_row>& current,
                     const std::string& id, int64_t incarnation, int64_t epoch);

/// A fenced write's check, given the shard's current epoch in the store's cluster (nullopt: no such shard). `cluster`
/// empty: the store was opened without one.
status check_fence(const std::string& cluster, const write_fence& fence, std::optional<int64_t> epoch);

}  // namespace actorstate::persistence::detail
