// The persistence plugin interface: an event journal, a snapshot store and a value store behind one asynchronous
// API. Every operation returns immediately; its callback runs later on a thread owned by the plugin (never on the
// caller's thread, so a caller may hold locks or be a CAF actor). Callbacks must be short and must not block: the
// runtime only posts a message to an actor from them. Callbacks of operations that touch the same persistence id
// run in the order the operations were issued.
//
// Single-writer safety lives here, not in the runtime: an append states the sequence number it expects to follow
// (`events.front().seq == highest + 1`) and a value write states the version it replaces. A second writer, a stale
// writer or a gap is rejected with `status_code::conflict` and writes nothing. A write whose outcome the plugin cannot
// know (connection cut after sending) reports `status_code::unknown_outcome`; the caller must re-read before its next
// write. A plugin may batch writes from many callers into one durable transaction (group commit); a write's
// callback runs only after the transaction that holds it is durable.
//
// Shard fencing (the cluster): an append, a snapshot save, a value put or delete may carry a `write_fence`, the shard
// and ownership epoch its writer holds (see coordination.hpp). Inside the write's transaction the store checks that
// the shard is still at that epoch; if it moved (another member claimed it), the write is refused with
// `status_code::conflict` and writes nothing, whatever its sequence number or version. A refused write never fails
// the writes batched with it. `unfenced` writes are checked as before and cost nothing extra. Deletions
// (delete_up_to, delete_snapshots) carry no fence: the runtime issues none.
//
// Idempotency keys (retries without double application): an append, a value put or delete may carry an
// `applied_command`, the key a client gave the command that caused the write and the reply that command got. The store
// keeps it in the write's own transaction, so it exists exactly when the write committed: a refused or failed write
// records nothing. `find_applied` answers the reply stored for a key of one entity (the persistence id of a journal,
// the key of a value) while it is younger than `store_options::idempotency_retention` by the store's clock; older
// records are never answered and are deleted lazily, a bounded batch at a time, by later writes that carry one. A
// retention of zero stores no records. A lookup is ordered with the writes of its entity like any read: it sees every
// write issued before it.
//
// Thread safety: all methods may be called from any thread concurrently. `close()` waits for every accepted
// operation to finish (and its callback to run) and is idempotent; operations issued after it fail with
// `status_code::unavailable`.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "actorstate/status.hpp"

namespace actorstate::persistence {

/// One journal entry. `type` names the payload's format (a protobuf type URL for native and Cloudstate entities).
struct event {
  int64_t seq = 0;
  std::string type;
  std::string payload;
  std::string metadata;  ///< Opaque to the store; round-trips unchanged.

  friend bool operator==(const event&, const event&) = default;
};

struct snapshot {
  int64_t seq = 0;  ///< Sequence number of the last event the snapshot includes.
  std::string type;
  std::string payload;

  friend bool operator==(const snapshot&, const snapshot&) = default;
};

struct stored_value {
  std::string type;
  std::string payload;
  int64_t version = 0;  ///< 1 after the first put, incremented by each put; 0 means "absent".

  friend bool operator==(const stored_value&, const stored_value&) = default;
};

template <class T>
using callback = std::function<void(T)>;

/// What a fenced write carries: the shard of its entity and the ownership epoch its writer obtained from
/// `coordination::claim_shard`. The shard is looked up in the cluster named by `store_options::cluster`.
struct write_fence {
  uint32_t shard = 0;
  int64_t epoch = 0;

  friend bool operator==(const write_fence&, const write_fence&) = default;
};

/// The fence argument of a write that is not fenced (a node that runs alone).
inline constexpr std::optional<write_fence> unfenced = std::nullopt;

/// The record of a command applied under an idempotency key (see "Idempotency keys" above).
struct applied_command {
  std::string key;    ///< The client's idempotency key; any bytes.
  std::string reply;  ///< What a retry is answered; opaque to the store.

  friend bool operator==(const applied_command&, const applied_command&) = default;
};

/// What a write's transaction carries besides the write: its fence and the record of the command that caused it.
/// Converts from a fence (or `unfenced`), so a write that carries only a fence reads as before.
struct write_options {
  std::optional<write_fence> fence;
  std::optional<applied_command> applied;

  write_options() = default;
  write_options(std::nullopt_t) {}                                  // NOLINT(google-explicit-constructor)
  write_options(write_fence f) : fence(f) {}                        // NOLINT(google-explicit-constructor)
  write_options(const std::optional<write_fence>& f) : fence(f) {}  // NOLINT(google-explicit-constructor)
  write_options(std::optional<write_fence> f, std::optional<applied_command> a) : fence(f), applied(std::move(a)) {}
};

/// Which records an idempotency key is looked up among: those of a journal (by persistence id) or of a value (by key).
enum class applied_scope : uint8_t { journal, value };

class coordination;

/// Append-only event log per persistence id.
class journal {
public:
  virtual ~journal() = default;

  /// Appends `events` atomically (all or none). Their `seq` must be consecutive and the first must be
  /// highest_seq(pid) + 1, otherwise `status_code::conflict`. An empty batch is `status_code::invalid_argument`.
  /// `options`: see "Shard fencing" and "Idempotency keys" above.
  virtual void append(std::string pid, std::vector<event> events, write_options options, callback<status> done) = 0;

  /// Events with from <= seq <= to, ascending, at most `max` of them (0 means none). Deleted events are skipped.
  virtual void replay(std::string pid, int64_t from, int64_t to, uint64_t max,
                      callback<result<std::vector<event>>> done) = 0;

  /// The highest sequence number ever appended for `pid` (0 if none); not lowered by deletion.
  virtual void highest_seq(std::string pid, callback<result<int64_t>> done) = 0;

  /// Deletes events with seq <= to (clamped to the highest sequence number).
  virtual void delete_up_to(std::string pid, int64_t to, callback<status> done) = 0;
};

/// Snapshots per persistence id; an optimization, never a dependency.
class snapshot_store {
public:
  virtual ~snapshot_store() = default;

  /// Saves `s`, replacing a snapshot with the same sequence number. `fence`: see "Shard fencing" above.
  virtual void save_snapshot(std::string pid, snapshot s, std::optional<write_fence> fence, callback<status> done) = 0;

  /// The snapshot with the highest sequence number, or nullopt if there is none.
  virtual void load_snapshot(std::string pid, callback<result<std::optional<snapshot>>> done) = 0;

  /// Deletes snapshots with seq <= to.
  virtual void delete_snapshots(std::string pid, int64_t to, callback<status> done) = 0;
};

/// One value per key with optimistic versioning.
class value_store {
public:
  virtual ~value_store() = default;

  virtual void get_value(std::string key, callback<result<std::optional<stored_value>>> done) = 0;

  /// Stores `type`/`payload` if the current version equals `expected_version` (0: the key must be absent);
  /// reports the new version. A mismatch is `status_code::conflict`. `options`: see "Shard fencing" and
  /// "Idempotency keys" above.
  virtual void put_value(std::string key, std::string type, std::string payload, int64_t expected_version,
                         write_options options, callback<result<int64_t>> done) = 0;

  /// Deletes the key if its version equals `expected_version`; deleting an absent key with expected 0 is ok.
  virtual void delete_value(std::string key, int64_t expected_version, write_options options,
                            callback<status> done) = 0;
};

/// A complete plugin. Obtain one from `open_store`.
class store : public journal, public snapshot_store, public value_store {
public:
  /// Plugin name for logs and metrics ("memory", "sqlite", ...).
  virtual std::string name() const = 0;

  /// The reply recorded for idempotency key `key` of `entity` (a persistence id for `applied_scope::journal`, a value
  /// key for `applied_scope::value`), or nullopt if none is younger than the retention. A read, ordered with the
  /// entity's writes (see "Idempotency keys" above).
  virtual void find_applied(applied_scope scope, std::string entity, std::string key,
                            callback<result<std::optional<std::string>>> done) = 0;

  /// Checks that the store answers (used by readiness probes).
  virtual void ping(callback<status> done) = 0;

  /// Finishes every accepted operation, makes it durable, then releases resources. Blocks; idempotent.
  virtual void close() = 0;

  /// The cluster coordination kept in this store (coordination.hpp), or null if it keeps none (a test double). Every
  /// plugin keeps one; the memory plugin's can only serve nodes in one process. Owned by the store and valid as long
  /// as it is; its operations fail with `status_code::unavailable` after close(), like the store's.
  virtual coordination* cluster_coordination() { return nullptr; }
};

/// Options shared by the plugins; each ignores what does not apply to it.
struct store_options {
  /// SQLite `synchronous` pragma: "FULL" (default; every commit is fsynced), "NORMAL" or "OFF".
  std::string sqlite_synchronous = "FULL";
  /// Whether opening a SQLite store first runs `PRAGMA quick_check` over the whole file, so a damaged database is
  /// refused at start-up instead of failing the reads that reach a damaged page (with `status_code::data_loss`). It
  /// reads every page: about 4 s for 300 MiB with a cold page cache.
  bool sqlite_quick_check = true;
  /// Upper bound of operations folded into one group-commit transaction.
  size_t max_batch = 1024;
  /// SQLite VFS name; tests register a fault-injecting VFS and name it here. Empty: the default VFS.
  std::string sqlite_vfs;
  /// The cluster whose shard epochs fence this store's fenced writes (coordination.hpp). Empty: no cluster, and a
  /// fenced write is `status_code::invalid_argument`.
  std::string cluster;
  /// How long the record of a command applied under an idempotency key is answered (store clock), after which it is
  /// deleted lazily. Zero: records are not stored (writes ignore `write_options::applied`).
  std::chrono::milliseconds idempotency_retention = std::chrono::hours{24};
};

/// Opens a store from a URI: "memory", "sqlite:PATH" or "postgres://..." (also "postgresql://...", as libpq takes
/// it). Reports `status_code::invalid_argument` for an unknown scheme, `status_code::data_loss` for a database that is
/// not usable (the message names it) and `status_code::unavailable` for a server that cannot be reached.
result<std::shared_ptr<store>> open_store(const std::string& uri, const store_options& options = {});

/// `uri` with any password replaced by "***" (the user info's and a `password=` parameter's), for logs.
std::string redact_uri(const std::string& uri);

}  // namespace actorstate::persistence
