// The "postgres" plugin: the journal, snapshots and values in a PostgreSQL database that several nodes may share.
// A write's callback runs only after the transaction holding it has committed (COMMIT returned); the fences are
// enforced by the database (primary keys, a conditional update of journal_highest and of the value version), so a
// second writer on another node is rejected with `status_code::conflict` just like one in this process.
//
// Threads: one writer thread with its own connection folds every queued write (up to max_batch) into one
// transaction (group commit); each write runs inside its own SAVEPOINT so that a rejected write is undone alone while
// its neighbours commit. Two reader threads with a connection each serve reads, so reads never wait behind commits.
// Callbacks run on those three threads. Operations on the same persistence id (or value key) are sequenced: a read
// waits for the writes issued before it and vice versa, and reads of one key run one at a time, so callbacks keep
// their issue order and a read sees every write whose callback has run.
//
// Connection loss: a write whose transaction was cut before COMMIT was sent reports `status_code::unavailable`; one cut
// after COMMIT was sent reports `status_code::unknown_outcome`. A lost connection is re-opened on the next operation
// that needs it; while that fails, operations fail fast with `status_code::unavailable` and attempts back off from 100
// ms to 2 s.
//
// Cluster coordination (coordination.hpp): ages are computed by the server's clock_timestamp(). A batch with fenced
// writes share-locks the rows of their shards at the start of its transaction (one statement per batch), so a claim
// or release of such a shard, which locks the row for update, waits until those writes have committed.
#pragma once

#include <memory>
#include <string>

#include "actorstate/persistence/store.hpp"

namespace actorstate::persistence::detail {

/// The schema version this build writes (table schema_version); databases with a higher version are refused.
inline constexpr int postgres_schema_version = 4;

/// Opens a store on the database named by `uri`, a libpq connection URI ("postgres://…" or "postgresql://…",
/// passed to libpq unchanged), creating or migrating the schema. Fails with `status_code::invalid_argument` for a URI
/// libpq cannot parse, `status_code::unavailable` when the server cannot be reached and `status_code::data_loss` for a
/// database with a newer schema or foreign tables of the same names. Messages name the server and database, never the
/// password.
result<std::shared_ptr<store>> open_postgres_store(const std::string& uri, const store_options& options);

}  // namespace actorstate::persistence::detail
