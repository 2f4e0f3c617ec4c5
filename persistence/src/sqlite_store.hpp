// The "sqlite" plugin, the embedded default. Durability is the product: a write's callback runs only after the
// transaction holding it has committed with the configured `synchronous` level (FULL by default: fsynced).
//
// Threads: one writer thread with its own connection folds every queued write (up to max_batch) into one
// transaction (group commit); each write runs inside its own SAVEPOINT so that a rejected write is undone alone while
// its neighbours commit. One reader thread with a second connection serves reads; WAL mode lets it read while the
// writer commits, so a long replay never delays commits. Callbacks run on those two threads. Operations on the same
// persistence id (or value key) are sequenced: a read waits for the writes issued before it and vice versa, so
// callbacks keep their issue order and a read sees every write whose callback has run.
//
// Cluster coordination (coordination.hpp) serves members that share the file, hence one host: the store's clock is
// that host's wall clock. A write transaction (BEGIN IMMEDIATE) holds the file's write lock from its start, so the
// epochs a batch's fence check reads cannot change before it commits: another process's claim waits for the lock.
#pragma once

#include <memory>
#include <string>

#include "actorstate/persistence/store.hpp"

namespace actorstate::persistence::detail {

/// The schema version this build writes (`PRAGMA user_version`); files with a higher version are refused.
inline constexpr int sqlite_schema_version = 4;

/// Identifies actorstate files (`PRAGMA application_id`, "ACST").
inline constexpr int sqlite_application_id = 0x41435354;

/// Opens (creating if needed) the database at `path`. Fails with `status_code::data_loss` for a file that is not an
/// actorstate database, fails `PRAGMA quick_check` or has a newer schema; the message names the path.
result<std::shared_ptr<store>> open_sqlite_store(const std::string& path, const store_options& options);

}  // namespace actorstate::persistence::detail
