#include "sqlite_store.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <mutex>
#include <optional>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "checks.hpp"
#include "queued_store.hpp"

namespace actorstate::persistence::detail {

namespace {

const std::string plugin_name = "sqlite";

constexpr int busy_timeout_ms = 5000;

// -- SQLite handles ---------------------------------------------------------------------------------------------------

struct db_closer {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};

struct stmt_finalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};

using db_ptr = std::unique_ptr<sqlite3, db_closer>;
using stmt_ptr = std::unique_ptr<sqlite3_stmt, stmt_finalizer>;

status_code code_of(int rc) {
  switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
      return status_code::conflict;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return status_code::data_loss;
    default:
      // FULL, IOERR, BUSY, NOMEM, READONLY, ...: the statement did not take effect.
      return status_code::unavailable;
  }
}

status db_error(sqlite3* db, int rc, const std::string& what) {
  std::string message = what + ": ";
  message += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return {code_of(rc), std::move(message)};
}

/// A cached statement in use. It is reset on scope exit so that it neither keeps a read transaction open (the reader
/// would stop seeing new commits) nor points into a caller's buffer bound with SQLITE_STATIC.
class use {
public:
  explicit use(const stmt_ptr& s) : s_(s.get()) {}
  ~use() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }

  use(const use&) = delete;
  use& operator=(const use&) = delete;

  use& text(int i, std::string_view v) {
    return check(sqlite3_bind_text64(s_, i, v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8));
  }

  // An empty std::string still has a non-null data(), so this binds a zero-length blob rather than NULL.
  use& blob(int i, std::string_view v) { return check(sqlite3_bind_blob64(s_, i, v.data(), v.size(), SQLITE_STATIC)); }

  use& int64(int i, int64_t v) { return check(sqlite3_bind_int64(s_, i, v)); }

  int step() { return bind_rc_ != SQLITE_OK ? bind_rc_ : sqlite3_step(s_); }

  int64_t int64_at(int i) const { return sqlite3_column_int64(s_, i); }

  // Reads TEXT and BLOB alike, byte for byte (NULs included).
  std::string bytes_at(int i) const {
    auto* p = static_cast<const char*>(sqlite3_column_blob(s_, i));
    auto n = sqlite3_column_bytes(s_, i);
    return p == nullptr ? std::string{} : std::string(p, static_cast<size_t>(n));
  }

private:
  use& check(int rc) {
    if (bind_rc_ == SQLITE_OK)
      bind_rc_ = rc;
    return *this;
  }

  sqlite3_stmt* s_;
  int bind_rc_ = SQLITE_OK;
};

int step_once(const stmt_ptr& s) {
  use u{s};
  return u.step();
}

// -- Schema -----------------------------------------------------------------------------------------------------------

// Version 1. Never edit a released migration; add {2, "..."} below instead and bump sqlite_schema_version.
constexpr const char* schema_v1 = R"sql(
CREATE TABLE journal (
  -- Global append order for future event-stream consumers; AUTOINCREMENT so deletion never lets a value repeat.
  ordering INTEGER PRIMARY KEY AUTOINCREMENT,
  persistence_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  type TEXT NOT NULL,
  payload BLOB NOT NULL,
  metadata BLOB NOT NULL,
  -- The single-writer fence: two writers can never both store a sequence number.
  UNIQUE (persistence_id, seq)
);
-- Remembers how far a journal was deleted, so that highest_seq is not lowered by deletion.
CREATE TABLE journal_meta (
  persistence_id TEXT PRIMARY KEY,
  deleted_to INTEGER NOT NULL
);
CREATE TABLE snapshots (
  persistence_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  type TEXT NOT NULL,
  payload BLOB NOT NULL,
  PRIMARY KEY (persistence_id, seq)
);
CREATE TABLE kv (
  key TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  payload BLOB NOT NULL,
  version INTEGER NOT NULL
);
)sql";

// Version 2: cluster coordination (coordination.hpp). renewed_at is in milliseconds since the Unix epoch by the clock
// of the host that wrote it: members that share a SQLite file share its host, hence its clock.
constexpr const char* schema_v2 = R"sql(
CREATE TABLE cluster_meta (
  cluster TEXT PRIMARY KEY,
  shards INTEGER NOT NULL
);
CREATE TABLE cluster_members (
  cluster TEXT NOT NULL,
  id TEXT NOT NULL,
  incarnation INTEGER NOT NULL,
  address TEXT NOT NULL,
  -- 'left' rows are removed members, kept so that incarnation numbers are never reused.
  status TEXT NOT NULL CHECK (status IN ('up', 'leaving', 'left')),
  renewed_at INTEGER NOT NULL,
  PRIMARY KEY (cluster, id)
) WITHOUT ROWID;
CREATE TABLE cluster_shards (
  cluster TEXT NOT NULL,
  shard INTEGER NOT NULL,
  owner TEXT NOT NULL,  -- '' for none
  owner_incarnation INTEGER NOT NULL,
  epoch INTEGER NOT NULL,
  PRIMARY KEY (cluster, shard)
) WITHOUT ROWID;
)sql";

// Version 3: idempotency keys (store.hpp). applied_at is in milliseconds since the Unix epoch by the host's clock, like
// renewed_at. A rowid table, so that pruning can delete a bounded batch by rowid.
constexpr const char* schema_v3 = R"sql(
CREATE TABLE applied_commands (
  entity TEXT NOT NULL,     -- the persistence id (scope 0) or value key (scope 1) whose write recorded it
  scope INTEGER NOT NULL,
  key BLOB NOT NULL,        -- the client's idempotency key, any bytes
  reply BLOB NOT NULL,
  applied_at INTEGER NOT NULL,
  PRIMARY KEY (entity, scope, key)
);
CREATE INDEX applied_commands_age ON applied_commands (applied_at);
)sql";

// Version 4: an audit trail of shard ownership, as in the PostgreSQL plugin (see its schema_v4): each fenced write
// stores the shard and epoch its writer held (NULL when unfenced), each change of owner adds a line to
// cluster_shard_history. Here the numbers are the journal's `ordering` and applied_commands' rowid, in commit order
// since one write transaction runs at a time; a change's marks are the highest numbers when it ran, so writes of the
// epoch it began are numbered above them and writes of earlier epochs at or below.
constexpr const char* schema_v4 = R"sql(
ALTER TABLE journal ADD COLUMN shard INTEGER;
ALTER TABLE journal ADD COLUMN epoch INTEGER;
ALTER TABLE applied_commands ADD COLUMN shard INTEGER;
ALTER TABLE applied_commands ADD COLUMN epoch INTEGER;
CREATE TABLE cluster_shard_history (
  cluster TEXT NOT NULL,
  shard INTEGER NOT NULL,
  epoch INTEGER NOT NULL,
  owner TEXT NOT NULL,                -- '' for a release
  owner_incarnation INTEGER NOT NULL,
  changed_at INTEGER NOT NULL,        -- milliseconds since the Unix epoch, like renewed_at
  journal_mark INTEGER NOT NULL,
  applied_mark INTEGER NOT NULL,
  PRIMARY KEY (cluster, shard, epoch)
) WITHOUT ROWID;
)sql";

constexpr migration migrations[] = {
    {1, schema_v1},
    {2, schema_v2},
    {3, schema_v3},
    {4, schema_v4},
};

static_assert(std::size(migrations) == sqlite_schema_version, "one migration per schema version");

// -- Connections ------------------------------------------------------------------------------------------------------

/// Entries of connection::known_highest at most; see remember_highest.
constexpr size_t known_highest_limit = size_t{1} << 16;

/// A liveness token (coordination.hpp) of members on one host: an exclusive flock on a file of its own, which the
/// kernel releases when the process that holds it dies, whatever way it dies.
class liveness_file {
public:
  liveness_file(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~liveness_file() {
    ::close(fd_);  // releases the lock
  }
  liveness_file(const liveness_file&) = delete;
  liveness_file& operator=(const liveness_file&) = delete;
  /// Returned for good (the member left): the file goes too.
  void discard() { ::unlink(path_.c_str()); }

private:
  std::string path_;
  int fd_;
};

/// A connection and its cached statements, used by exactly one thread at a time.
struct connection {
  // Declared first so that it is destroyed last, after every statement is finalized.
  db_ptr db;
  stmt_ptr begin, commit, rollback, savepoint, release, rollback_to;
  stmt_ptr highest, insert_event, insert_event_fenced, delete_events, mark_deleted, replay;
  stmt_ptr save_snapshot, load_snapshot, delete_snapshots;
  stmt_ptr get_value, value_version, insert_value, update_value, delete_value;
  stmt_ptr ping;
  stmt_ptr insert_cluster, cluster_shards, insert_shard, get_shard, set_shard, record_shard_change, list_shards,
      owns_shards;
  stmt_ptr get_member, join_member, renew_member, set_member_status, list_members;
  stmt_ptr record_applied, find_applied, prune_applied;

  // The writer's: when record_applied next deletes expired idempotency records (clock_ms()).
  int64_t next_prune_ms = 0;

  // The writer's: per persistence id, the highest sequence number this connection has itself inserted, either
  // committed or inserted by the open group transaction (a hot entity's appends pipeline into one group), so that an
  // append need not read the fence first. It is only ever what this writer saw succeed; run_batch forgets all of it on
  // any failure (see forget_highest). Lives and dies with the connection, so a reopened store starts without it.
  std::unordered_map<std::string, int64_t> known_highest;

  // The writer's: where liveness token files live (beside the database), and the tokens this process holds.
  std::string liveness_dir;
  std::unordered_map<uint64_t, std::unique_ptr<liveness_file>> liveness;
};

struct statement_def {
  stmt_ptr connection::*member;
  const char* sql;
};

// ?1 is always the persistence id or key.
constexpr statement_def statements[] = {
    {&connection::begin, "BEGIN IMMEDIATE"},
    {&connection::commit, "COMMIT"},
    {&connection::rollback, "ROLLBACK"},
    {&connection::savepoint, "SAVEPOINT op"},
    {&connection::release, "RELEASE op"},
    {&connection::rollback_to, "ROLLBACK TO op"},
    // One statement, hence one consistent read even on the reader connection.
    {&connection::highest,
     "SELECT max(coalesce((SELECT max(seq) FROM journal WHERE persistence_id = ?1), 0),"
     " coalesce((SELECT deleted_to FROM journal_meta WHERE persistence_id = ?1), 0))"},
    // ?6, ?7: the fence's shard and epoch, NULL (unbound) when unfenced.
    {&connection::insert_event,
     "INSERT INTO journal (persistence_id, seq, type, payload, metadata, shard, epoch)"
     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"},
    // The first event of an append that trusts known_highest: inserted only if no deletion reached its sequence
    // number (see append_events); no row inserted means another writer got there.
    {&connection::insert_event_fenced,
     "INSERT INTO journal (persistence_id, seq, type, payload, metadata, shard, epoch)"
     " SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7"
     " WHERE NOT EXISTS (SELECT 1 FROM journal_meta WHERE persistence_id = ?1 AND deleted_to >= ?2)"},
    {&connection::delete_events, "DELETE FROM journal WHERE persistence_id = ?1 AND seq <= ?2"},
    {&connection::mark_deleted,
     "INSERT INTO journal_meta (persistence_id, deleted_to) VALUES (?1, ?2) ON CONFLICT (persistence_id)"
     " DO UPDATE SET deleted_to = max(deleted_to, excluded.deleted_to)"},
    {&connection::replay,
     "SELECT seq, type, payload, metadata FROM journal WHERE persistence_id = ?1 AND seq >= ?2 AND seq <= ?3"
     " ORDER BY seq LIMIT ?4"},
    {&connection::save_snapshot,
     "INSERT INTO snapshots (persistence_id, seq, type, payload) VALUES (?1, ?2, ?3, ?4)"
     " ON CONFLICT (persistence_id, seq) DO UPDATE SET type = excluded.type, payload = excluded.payload"},
    {&connection::load_snapshot,
     "SELECT seq, type, payload FROM snapshots WHERE persistence_id = ?1 ORDER BY seq DESC LIMIT 1"},
    {&connection::delete_snapshots, "DELETE FROM snapshots WHERE persistence_id = ?1 AND seq <= ?2"},
    {&connection::get_value, "SELECT type, payload, version FROM kv WHERE key = ?1"},
    {&connection::value_version, "SELECT version FROM kv WHERE key = ?1"},
    {&connection::insert_value, "INSERT INTO kv (key, type, payload, version) VALUES (?1, ?2, ?3, ?4)"},
    {&connection::update_value, "UPDATE kv SET type = ?2, payload = ?3, version = ?4 WHERE key = ?1"},
    {&connection::delete_value, "DELETE FROM kv WHERE key = ?1"},
    {&connection::ping, "PRAGMA user_version"},
    // Cluster coordination: ?1 is the cluster.
    {&connection::insert_cluster,
     "INSERT INTO cluster_meta (cluster, shards) VALUES (?1, ?2) ON CONFLICT (cluster) DO NOTHING"},
    {&connection::cluster_shards, "SELECT shards FROM cluster_meta WHERE cluster = ?1"},
    {&connection::insert_shard,
     "INSERT INTO cluster_shards (cluster, shard, owner, owner_incarnation, epoch) VALUES (?1, ?2, '', 0, 0)"},
    {&connection::get_shard,
     "SELECT owner, owner_incarnation, epoch FROM cluster_shards WHERE cluster = ?1 AND shard = ?2"},
    {&connection::set_shard,
     "UPDATE cluster_shards SET owner = ?3, owner_incarnation = ?4, epoch = ?5 WHERE cluster = ?1 AND shard = ?2"},
    {&connection::record_shard_change,
     "INSERT INTO cluster_shard_history (cluster, shard, epoch, owner, owner_incarnation, changed_at, journal_mark,"
     " applied_mark) VALUES (?1, ?2, ?5, ?3, ?4, ?6, (SELECT coalesce(max(ordering), 0) FROM journal),"
     " (SELECT coalesce(max(rowid), 0) FROM applied_commands))"},
    {&connection::list_shards,
     "SELECT shard, owner, owner_incarnation, epoch FROM cluster_shards WHERE cluster = ?1 ORDER BY shard"},
    {&connection::owns_shards,
     "SELECT EXISTS (SELECT 1 FROM cluster_shards WHERE cluster = ?1 AND owner = ?2 AND owner_incarnation = ?3)"},
    {&connection::get_member,
     "SELECT incarnation, status, renewed_at FROM cluster_members WHERE cluster = ?1 AND id = ?2"},
    {&connection::join_member,
     "INSERT INTO cluster_members (cluster, id, incarnation, address, status, renewed_at)"
     " VALUES (?1, ?2, 1, ?3, 'up', ?4) ON CONFLICT (cluster, id) DO UPDATE SET incarnation = incarnation + 1,"
     " address = excluded.address, status = 'up', renewed_at = excluded.renewed_at RETURNING incarnation"},
    {&connection::renew_member, "UPDATE cluster_members SET renewed_at = ?3 WHERE cluster = ?1 AND id = ?2"},
    {&connection::set_member_status, "UPDATE cluster_members SET status = ?3 WHERE cluster = ?1 AND id = ?2"},
    {&connection::list_members,
     "SELECT id, incarnation, address, status, renewed_at FROM cluster_members WHERE cluster = ?1"
     " AND status <> 'left' ORDER BY id"},
    // Idempotency keys: ?1 is the entity, ?2 the scope, ?3 the key.
    {&connection::record_applied,
     "INSERT INTO applied_commands (entity, scope, key, reply, applied_at, shard, epoch)"
     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (entity, scope, key) DO UPDATE SET reply = excluded.reply,"
     " applied_at = excluded.applied_at, shard = excluded.shard, epoch = excluded.epoch"},
    {&connection::find_applied,
     "SELECT reply FROM applied_commands WHERE entity = ?1 AND scope = ?2 AND key = ?3 AND applied_at > ?4"},
    // ?1: the newest applied_at that has expired; ?2: the most rows deleted at once.
    {&connection::prune_applied,
     "DELETE FROM applied_commands WHERE rowid IN"
     " (SELECT rowid FROM applied_commands WHERE applied_at <= ?1 LIMIT ?2)"},
};

// Runs a statement once (open-time only) and collects the first column of every row.
int query(sqlite3* db, const std::string& sql, std::vector<std::string>* rows = nullptr) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &raw, nullptr);
  stmt_ptr s{raw};
  if (rc != SQLITE_OK)
    return rc;
  while ((rc = sqlite3_step(raw)) == SQLITE_ROW)
    if (rows != nullptr) {
      auto* text = reinterpret_cast<const char*>(sqlite3_column_text(raw, 0));
      rows->emplace_back(text == nullptr ? "" : text);
    }
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

// Refuses files that belong to someone else or to a newer actorstate. Runs once before touching the file (so a foreign
// file is not switched to WAL) and again inside the migration transaction (another process may have migrated).
result<int64_t> check_identity(sqlite3* db, const std::string& where) {
  // One statement, so one snapshot: read one by one, another process's schema creation could commit in between,
  // and its tables would show beside the version read before it ("tables but no schema version": members started
  // together on one new file).
  std::vector<std::string> rows;
  const char* sql =
      "SELECT (SELECT user_version FROM pragma_user_version) || ' ' || (SELECT application_id FROM "
      "pragma_application_id) || ' ' || (SELECT count(*) FROM sqlite_master)";
  if (int rc = query(db, sql, &rows); rc != SQLITE_OK)
    return db_error(db, rc, where + ": read the schema version");
  long long version_value = 0, app_value = 0, objects_value = 0;
  if (rows.empty() ||
      std::sscanf(rows.front().c_str(), "%lld %lld %lld", &version_value, &app_value, &objects_value) != 3)
    return status{status_code::data_loss, where + ": cannot read the schema version"};
  auto version = static_cast<int64_t>(version_value);
  auto app = static_cast<int64_t>(app_value);
  if (version > sqlite_schema_version)
    return status{status_code::data_loss, where + ": schema version " + std::to_string(version) +
                                              " is newer than this build supports (" +
                                              std::to_string(sqlite_schema_version) + "); use a newer actorstate"};
  if (version == 0) {
    if (objects_value != 0)
      return status{status_code::data_loss,
                    where + ": not an actorstate database (it has tables but no schema version)"};
  } else if (app != sqlite_application_id) {
    return status{status_code::data_loss,
                  where + ": not an actorstate database (application_id " + std::to_string(app) + ")"};
  }
  return version;
}

status migrate(sqlite3* db, const std::string& where) {
  if (int rc = query(db, "BEGIN IMMEDIATE"); rc != SQLITE_OK)
    return db_error(db, rc, where + ": begin schema migration");
  auto fail = [&](status st) {
    query(db, "ROLLBACK");
    return st;
  };
  auto version = check_identity(db, where);
  if (!version.ok())
    return fail(version.error());
  for (const auto& m : migrations) {
    if (m.version <= version.value())
      continue;
    if (int rc = sqlite3_exec(db, m.sql, nullptr, nullptr, nullptr); rc != SQLITE_OK)
      return fail(db_error(db, rc, where + ": migrate to schema version " + std::to_string(m.version)));
    auto set = "PRAGMA user_version = " + std::to_string(m.version) +
               "; PRAGMA application_id = " + std::to_string(sqlite_application_id);
    if (int rc = sqlite3_exec(db, set.c_str(), nullptr, nullptr, nullptr); rc != SQLITE_OK)
      return fail(db_error(db, rc, where + ": record schema version " + std::to_string(m.version)));
  }
  if (int rc = query(db, "COMMIT"); rc != SQLITE_OK)
    return fail(db_error(db, rc, where + ": commit schema migration"));
  return {};
}

// Turns SQLite's open-time failures into the codes open_store promises: a file that is not a database is DATA_LOSS.
status open_error(sqlite3* db, int rc, const std::string& where, const std::string& what) {
  auto st = db_error(db, rc, where + ": " + what);
  if (st.code() == status_code::conflict)
    return {status_code::unavailable, st.message()};
  return st;
}

result<std::unique_ptr<connection>> open_connection(const std::string& path, const std::string& where,
                                                    const std::string& synchronous, const store_options& options,
                                                    bool writer) {
  sqlite3* raw = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw, flags, options.sqlite_vfs.empty() ? nullptr : options.sqlite_vfs.c_str());
  // SQLite allocates a handle even when opening fails; it must be closed either way.
  auto c = std::make_unique<connection>();
  c->db.reset(raw);
  if (rc != SQLITE_OK)
    return open_error(raw, rc, where, "cannot open");
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, busy_timeout_ms);
  if (writer) {
    // The first statement reads the header: this is where a file that is not a database fails.
    if (auto version = check_identity(raw, where); !version.ok())
      return version.error();
    std::vector<std::string> rows;
    if (options.sqlite_quick_check) {
      if (rc = query(raw, "PRAGMA quick_check", &rows); rc != SQLITE_OK)
        return open_error(raw, rc, where, "quick_check");
      if (rows.empty() || rows.front() != "ok")
        return status{status_code::data_loss,
                      where + ": quick_check failed: " + (rows.empty() ? std::string{"no result"} : rows.front())};
      rows.clear();
    }
    // Switching a new file to WAL needs the file to itself, and SQLite does not wait for that (the busy handler is not
    // called for a lock upgrade that could deadlock): a process that opens the file at the same moment, as cluster
    // members on one host started together do, gets SQLITE_BUSY at once. Asked again until the busy timeout.
    for (auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds{busy_timeout_ms};;) {
      rows.clear();
      rc = query(raw, "PRAGMA journal_mode = WAL", &rows);
      if ((rc & 0xff) != SQLITE_BUSY || std::chrono::steady_clock::now() >= until)
        break;
      std::this_thread::sleep_for(std::chrono::milliseconds{5});
    }
    if (rc != SQLITE_OK)
      return open_error(raw, rc, where, "enable WAL");
    // The reader relies on WAL to read while the writer commits; a VFS without shared memory cannot do WAL.
    if (rows.empty() || rows.front() != "wal")
      return status{status_code::unavailable, where + ": cannot enable WAL journal mode"};
    if (auto st = migrate(raw, where); !st.ok())
      return st;
  }
  // cache_size is negative: KiB, i.e. 64 MiB.
  auto pragmas = "PRAGMA synchronous = " + synchronous + "; PRAGMA cache_size = -65536;" +
                 (writer ? "" : " PRAGMA query_only = 1;");
  if (rc = sqlite3_exec(raw, pragmas.c_str(), nullptr, nullptr, nullptr); rc != SQLITE_OK)
    return open_error(raw, rc, where, "configure connection");
  for (const auto& def : statements) {
    sqlite3_stmt* s = nullptr;
    rc = sqlite3_prepare_v3(raw, def.sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr);
    ((*c).*def.member).reset(s);
    if (rc != SQLITE_OK)
      return open_error(raw, rc, where, std::string{"prepare '"} + def.sql + "'");
  }
  return c;
}

// -- Operations -------------------------------------------------------------------------------------------------------

result<int64_t> read_highest(connection& c, const std::string& pid) {
  use s{c.highest};
  s.text(1, pid);
  if (int rc = s.step(); rc != SQLITE_ROW)
    return db_error(c.db.get(), rc, "read highest seq of '" + pid + "'");
  return s.int64_at(0);
}

// Forgets every known highest sequence number. Called on any failure of the writer: a refused write, a failed
// statement, a rolled-back savepoint or group, a failed COMMIT. Telling which entries a failure made wrong (an insert
// the rollback undid, a commit that may or may not have happened) is where bugs would hide, and failures are rare;
// forgetting everything costs each persistence id one fence read on its next append.
void forget_highest(connection& c) {
  c.known_highest.clear();
}

// Bounded: with millions of entities the map would otherwise keep one entry per entity ever written, though a
// passivated entity's entry is worthless and the store cannot tell which are. When full it starts over, which costs
// each active persistence id one fence read; an LRU would keep the hot ones but pay for its bookkeeping on every
// append.
void remember_highest(connection& c, const std::string& pid, int64_t seq) {
  auto known = c.known_highest.find(pid);
  if (known != c.known_highest.end()) {
    known->second = seq;
    return;
  }
  if (c.known_highest.size() >= known_highest_limit)
    c.known_highest.clear();
  c.known_highest.emplace(pid, seq);
}

// The fence: the batch must continue the journal exactly. When this writer knows the highest sequence number (it
// inserted it), a batch that continues it is inserted without reading the fence. The belief can be too low (the
// highest sequence number never falls, but another store on the same file, e.g. a stale owner, may have appended
// since), never too high, and the database still fences such a batch:
//  - the rows of a journal are consecutive from deleted_to + 1 up to its highest (appends continue it exactly,
//    deletion removes a prefix), so if another writer appended past the belief without deleting, the first event's
//    sequence number is taken and UNIQUE (persistence_id, seq) refuses the insert: conflict;
//  - if it also deleted those events, journal_meta's deleted_to has reached the first event's sequence number, which
//    insert_event_fenced checks in the same statement.
// This writer's own deletion lowers neither the highest sequence number nor the belief, and leaves it true.
status append_events(connection& c, const std::string& pid, const std::vector<event>& events,
                     const std::optional<write_fence>& fence) {
  if (auto st = check_batch(pid, events); !st.ok())
    return st;
  auto known = c.known_highest.find(pid);
  bool trusted = known != c.known_highest.end() && events.front().seq == known->second + 1;
  // A batch that does not continue the belief is judged by the fence itself: if the belief is too low, the batch may
  // be right (its caller re-read after another writer's appends).
  if (!trusted) {
    auto highest = read_highest(c, pid);
    if (!highest.ok())
      return highest.error();
    if (auto st = check_next(pid, events, highest.value()); !st.ok())
      return st;
  }
  auto what = [&](const event& e) { return "append to '" + pid + "' at seq " + std::to_string(e.seq); };
  for (const auto& e : events) {
    bool fenced = trusted && &e == &events.front();
    use s{fenced ? c.insert_event_fenced : c.insert_event};
    s.text(1, pid).int64(2, e.seq).text(3, e.type).blob(4, e.payload).blob(5, e.metadata);
    if (fence)
      s.int64(6, fence->shard).int64(7, fence->epoch);
    int rc = s.step();
    if (fenced && (rc == SQLITE_DONE ? sqlite3_changes(c.db.get()) != 1 : (rc & 0xff) == SQLITE_CONSTRAINT))
      return {status_code::conflict, what(e) + ": another writer has appended since this one last did"};
    if (rc != SQLITE_DONE)
      return db_error(c.db.get(), rc, what(e));
  }
  if (trusted)
    known->second = events.back().seq;  // nothing touched the map since the lookup above
  else
    remember_highest(c, pid, events.back().seq);
  return {};
}

result<std::vector<event>> replay_events(connection& c, const std::string& pid, int64_t from, int64_t to,
                                         uint64_t max) {
  std::vector<event> out;
  auto limit = replay_limit(from, to, max);
  if (limit == 0)
    return out;
  use s{c.replay};
  s.text(1, pid).int64(2, from).int64(3, to).int64(4, limit);
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    out.push_back(event{s.int64_at(0), s.bytes_at(1), s.bytes_at(2), s.bytes_at(3)});
  if (rc != SQLITE_DONE)
    return db_error(c.db.get(), rc, "replay '" + pid + "'");
  return out;
}

status delete_events(connection& c, const std::string& pid, int64_t to) {
  auto highest = read_highest(c, pid);
  if (!highest.ok())
    return highest.error();
  auto upto = std::min(to, highest.value());
  if (upto <= 0)
    return {};
  {
    use s{c.delete_events};
    s.text(1, pid).int64(2, upto);
    if (int rc = s.step(); rc != SQLITE_DONE)
      return db_error(c.db.get(), rc, "delete events of '" + pid + "'");
  }
  use s{c.mark_deleted};
  s.text(1, pid).int64(2, upto);
  if (int rc = s.step(); rc != SQLITE_DONE)
    return db_error(c.db.get(), rc, "delete events of '" + pid + "'");
  return {};
}

status save_snapshot_row(connection& c, const std::string& pid, const snapshot& snap) {
  use s{c.save_snapshot};
  s.text(1, pid).int64(2, snap.seq).text(3, snap.type).blob(4, snap.payload);
  if (int rc = s.step(); rc != SQLITE_DONE)
    return db_error(c.db.get(), rc, "save snapshot of '" + pid + "'");
  return {};
}

result<std::optional<snapshot>> load_snapshot_row(connection& c, const std::string& pid) {
  use s{c.load_snapshot};
  s.text(1, pid);
  int rc = s.step();
  if (rc == SQLITE_DONE)
    return std::optional<snapshot>{};
  if (rc != SQLITE_ROW)
    return db_error(c.db.get(), rc, "load snapshot of '" + pid + "'");
  return std::optional<snapshot>{snapshot{s.int64_at(0), s.bytes_at(1), s.bytes_at(2)}};
}

status delete_snapshot_rows(connection& c, const std::string& pid, int64_t to) {
  use s{c.delete_snapshots};
  s.text(1, pid).int64(2, to);
  if (int rc = s.step(); rc != SQLITE_DONE)
    return db_error(c.db.get(), rc, "delete snapshots of '" + pid + "'");
  return {};
}

result<std::optional<stored_value>> get_value_row(connection& c, const std::string& key) {
  use s{c.get_value};
  s.text(1, key);
  int rc = s.step();
  if (rc == SQLITE_DONE)
    return std::optional<stored_value>{};
  if (rc != SQLITE_ROW)
    return db_error(c.db.get(), rc, "get value '" + key + "'");
  return std::optional<stored_value>{stored_value{s.bytes_at(0), s.bytes_at(1), s.int64_at(2)}};
}

result<int64_t> read_version(connection& c, const std::string& key) {
  use s{c.value_version};
  s.text(1, key);
  int rc = s.step();
  if (rc == SQLITE_DONE)
    return int64_t{0};
  if (rc != SQLITE_ROW)
    return db_error(c.db.get(), rc, "read version of '" + key + "'");
  return s.int64_at(0);
}

result<int64_t> put_value_row(connection& c, const std::string& key, const std::string& type,
                              const std::string& payload, int64_t expected) {
  auto current = read_version(c, key);
  if (!current.ok())
    return current;
  if (auto st = check_version("put", key, expected, current.value()); !st.ok())
    return st;
  auto next = current.value() + 1;
  use s{current.value() == 0 ? c.insert_value : c.update_value};
  s.text(1, key).text(2, type).blob(3, payload).int64(4, next);
  if (int rc = s.step(); rc != SQLITE_DONE)
    return db_error(c.db.get(), rc, "put value '" + key + "'");
  return next;
}

status delete_value_row(connection& c, const std::string& key, int64_t expected) {
  auto current = read_version(c, key);
  if (!current.ok())
    return current.error();
  if (auto st = check_version("delete", key, expected, current.value()); !st.ok())
    return st;
  if (current.value() == 0)
    return {};
  use s{c.delete_value};
  s.text(1, key);
  if (int rc = s.step(); rc != SQLITE_DONE)
    return db_error(c.db.get(), rc, "delete value '" + key + "'");
  return {};
}

status ping_db(connection& c) {
  use s{c.ping};
  if (int rc = s.step(); rc != SQLITE_ROW)
    return db_error(c.db.get(), rc, "ping");
  return {};
}

// -- Cluster coordination ---------------------------------------------------------------------------------------------

/// The store's clock: this host's wall clock in milliseconds since the Unix epoch. Every process on the host reads the
/// same clock, and unlike a monotonic clock it keeps counting across reboots, which the file outlives. A step of the
/// host's clock shifts every age by as much (backwards: takeovers come later; forwards: sooner).
int64_t clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// The age of a renewal stamped at `renewed_at`; never negative, even after the host's clock stepped back.
int64_t age_ms(int64_t now, int64_t renewed_at) {
  return std::max<int64_t>(0, now - renewed_at);
}

status bad_cluster_row(const std::string& what) {
  return {status_code::data_loss, what + ": a cluster row holds an unknown member status"};
}

// A write transaction (BEGIN IMMEDIATE) holds the file's write lock, which keeps every other writer out until it ends:
// locking a row (lock_shard_row, lock_member_row) is reading it.
result<std::optional<shard_row>> lock_shard_row(connection& c, const std::string& cluster, uint32_t shard) {
  use s{c.get_shard};
  s.text(1, cluster).int64(2, shard);
  int rc = s.step();
  if (rc == SQLITE_DONE)
    return std::optional<shard_row>{};
  if (rc != SQLITE_ROW)
    return db_error(c.db.get(), rc, "read shard " + std::to_string(shard) + " of cluster '" + cluster + "'");
  return std::optional<shard_row>{shard_row{s.bytes_at(0), s.int64_at(1), s.int64_at(2)}};
}

status write_shard_row(connection& c, const std::string& cluster, uint32_t shard, const shard_row& row) {
  auto what = "update shard " + std::to_string(shard) + " of cluster '" + cluster + "'";
  for (const auto* statement : {&c.set_shard, &c.record_shard_change}) {
    use s{*statement};
    s.text(1, cluster).int64(2, shard).text(3, row.owner).int64(4, row.owner_incarnation).int64(5, row.epoch);
    if (statement == &c.record_shard_change)
      s.int64(6, clock_ms());
    if (int rc = s.step(); rc != SQLITE_DONE)
      return db_error(c.db.get(), rc, what);
  }
  return {};
}

result<std::optional<member_row>> read_member_row(connection& c, const std::string& cluster, const std::string& id) {
  auto what = "read member '" + id + "' of cluster '" + cluster + "'";
  use s{c.get_member};
  s.text(1, cluster).text(2, id);
  int rc = s.step();
  if (rc == SQLITE_DONE)
    return std::optional<member_row>{};
  if (rc != SQLITE_ROW)
    return db_error(c.db.get(), rc, what);
  auto state = parse_state(s.bytes_at(1));
  if (!state)
    return bad_cluster_row(what);
  return std::optional<member_row>{member_row{s.int64_at(0), *state, age_ms(clock_ms(), s.int64_at(2))}};
}

result<std::optional<member_row>> lock_member_row(connection& c, const std::string& cluster, const std::string& id) {
  return read_member_row(c, cluster, id);
}

// The writer's fence check (refuse_stale_writes): the transaction's write lock keeps every other writer of the file,
// claims included, out until it ends.
result<shard_epochs> read_shard_epochs(connection& c, const std::string& cluster, const std::vector<uint32_t>& shards) {
  shard_epochs out;
  for (auto shard : shards) {
    auto row = lock_shard_row(c, cluster, shard);
    if (!row.ok())
      return row.error();
    if (row.value())
      out.emplace_back(shard, row.value()->epoch);
  }
  return out;
}

result<uint32_t> init_cluster_rows(connection& c, const std::string& cluster, uint32_t shards) {
  if (auto st = check_shard_count(cluster, shards); !st.ok())
    return st;
  auto what = "init cluster '" + cluster + "'";
  {
    use s{c.insert_cluster};
    s.text(1, cluster).int64(2, shards);
    if (int rc = s.step(); rc != SQLITE_DONE)
      return db_error(c.db.get(), rc, what);
  }
  if (sqlite3_changes(c.db.get()) == 1) {
    for (uint32_t shard = 0; shard < shards; ++shard) {
      use s{c.insert_shard};
      s.text(1, cluster).int64(2, shard);
      if (int rc = s.step(); rc != SQLITE_DONE)
        return db_error(c.db.get(), rc, what);
    }
  }
  use s{c.cluster_shards};
  s.text(1, cluster);
  if (int rc = s.step(); rc != SQLITE_ROW)
    return db_error(c.db.get(), rc, what);
  return static_cast<uint32_t>(s.int64_at(0));
}

result<int64_t> join_member(connection& c, const std::string& cluster, const std::string& id,
                            const std::string& address) {
  use s{c.join_member};
  s.text(1, cluster).text(2, id).text(3, address).int64(4, clock_ms());
  if (int rc = s.step(); rc != SQLITE_ROW)
    return db_error(c.db.get(), rc, "join '" + id + "' to cluster '" + cluster + "'");
  return s.int64_at(0);
}

status stamp_renewal(connection& c, const std::string& cluster, const std::string& id) {
  use s{c.renew_member};
  s.text(1, cluster).text(2, id).int64(3, clock_ms());
  if (int rc = s.step(); rc != SQLITE_DONE)
    return db_error(c.db.get(), rc, "renew '" + id + "' in cluster '" + cluster + "'");
  return {};
}

result<bool> owns_shards(connection& c, const std::string& cluster, const std::string& id, int64_t incarnation) {
  use s{c.owns_shards};
  s.text(1, cluster).text(2, id).int64(3, incarnation);
  if (int rc = s.step(); rc != SQLITE_ROW)
    return db_error(c.db.get(), rc, "read the shards of '" + id + "' in cluster '" + cluster + "'");
  return s.int64_at(0) != 0;
}

status set_member_state(connection& c, const std::string& cluster, const std::string& id, member_state state) {
  use s{c.set_member_status};
  s.text(1, cluster).text(2, id).text(3, state_text(state));
  if (int rc = s.step(); rc != SQLITE_DONE)
    return db_error(c.db.get(), rc, "update member '" + id + "' of cluster '" + cluster + "'");
  return {};
}

namespace {
std::string liveness_path(const connection& c, uint64_t key) {
  char name[32];
  std::snprintf(name, sizeof name, "%016llx.lock", static_cast<unsigned long long>(key));
  return c.liveness_dir + "/" + name;
}
}  // namespace

void hold_liveness(connection& c, uint64_t key) {
  if (c.liveness_dir.empty() || c.liveness.count(key) != 0)
    return;
  std::error_code ec;
  std::filesystem::create_directories(c.liveness_dir, ec);
  auto path = liveness_path(c, key);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return;
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return;
  }
  c.liveness.emplace(key, std::make_unique<liveness_file>(std::move(path), fd));
}

void release_liveness(connection& c, uint64_t key) {
  auto i = c.liveness.find(key);
  if (i == c.liveness.end())
    return;
  i->second->discard();
  c.liveness.erase(i);
}

result<bool> liveness_free(connection& c, uint64_t key) {
  if (c.liveness_dir.empty() || c.liveness.count(key) != 0)
    return false;
  auto path = liveness_path(c, key);
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return false;  // never taken (a member that joined before tokens existed, or another host's): cannot tell
  // flock locks belong to the open file, so this conflicts with the holder even within one process.
  bool free = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
  if (free)
    ::unlink(path.c_str());
  ::close(fd);
  return free;
}

result<std::vector<member_record>> read_members(connection& c, const std::string& cluster) {
  auto what = "read the members of cluster '" + cluster + "'";
  std::vector<member_record> out;
  use s{c.list_members};
  s.text(1, cluster);
  auto now = clock_ms();
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    auto state = parse_state(s.bytes_at(3));
    if (!state)
      return bad_cluster_row(what);
    out.push_back(
        member_record{s.bytes_at(0), s.int64_at(1), s.bytes_at(2), public_status(*state), age_ms(now, s.int64_at(4))});
  }
  if (rc != SQLITE_DONE)
    return db_error(c.db.get(), rc, what);
  return out;
}

result<std::vector<shard_owner>> read_shard_owners(connection& c, const std::string& cluster) {
  std::vector<shard_owner> out;
  use s{c.list_shards};
  s.text(1, cluster);
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    out.push_back(shard_owner{static_cast<uint32_t>(s.int64_at(0)), s.bytes_at(1), s.int64_at(2), s.int64_at(3)});
  if (rc != SQLITE_DONE)
    return db_error(c.db.get(), rc, "read the shards of cluster '" + cluster + "'");
  return out;
}

// -- Idempotency keys -------------------------------------------------------------------------------------------------

// Pruning deletes at most this many expired records per write that records one, and runs again with the next such write
// while it finds a full batch, otherwise after prune_interval: the cost is bounded per write, and the table is bounded
// by what the retention keeps plus what arrives between two prunes.
constexpr int64_t prune_batch = 1000;
constexpr int64_t prune_interval_ms = 60'000;

status record_applied(connection& c, applied_scope scope, const std::string& entity, const applied_command& applied,
                      std::chrono::milliseconds retention, const std::optional<write_fence>& fence) {
  auto what = "record idempotency key of '" + entity + "'";
  auto now = clock_ms();
  if (now >= c.next_prune_ms) {
    use s{c.prune_applied};
    s.int64(1, now - retention.count()).int64(2, prune_batch);
    if (int rc = s.step(); rc != SQLITE_DONE)
      return db_error(c.db.get(), rc, "delete expired idempotency keys");
    c.next_prune_ms = sqlite3_changes(c.db.get()) >= prune_batch
                          ? now
                          : now + std::min<int64_t>(prune_interval_ms, retention.count());
  }
  use s{c.record_applied};
  s.text(1, entity).int64(2, static_cast<int64_t>(scope)).blob(3, applied.key).blob(4, applied.reply).int64(5, now);
  if (fence)
    s.int64(6, fence->shard).int64(7, fence->epoch);
  if (int rc = s.step(); rc != SQLITE_DONE)
    return db_error(c.db.get(), rc, what);
  return {};
}

result<std::optional<std::string>> find_applied_row(connection& c, applied_scope scope, const std::string& entity,
                                                    const std::string& key, std::chrono::milliseconds retention) {
  use s{c.find_applied};
  s.text(1, entity).int64(2, static_cast<int64_t>(scope)).blob(3, key).int64(4, clock_ms() - retention.count());
  int rc = s.step();
  if (rc == SQLITE_DONE)
    return std::optional<std::string>{};
  if (rc != SQLITE_ROW)
    return db_error(c.db.get(), rc, "find idempotency key of '" + entity + "'");
  return std::optional<std::string>{s.bytes_at(0)};
}

// A rejected request leaves the transaction usable; anything else (I/O, full disk, corruption) dooms it.
bool is_rejection(status_code c) {
  return c == status_code::conflict || c == status_code::invalid_argument;
}

// -- The engine -------------------------------------------------------------------------------------------------------

/// The connections of the shared engine: one writer and one reader.
class sqlite_core : public queued_engine<sqlite_core, connection> {
public:
  sqlite_core(size_t max_batch, std::string cluster, std::unique_ptr<connection> writer,
              std::unique_ptr<connection> reader)
      : queued_engine(plugin_name, max_batch, 1, std::move(cluster)),
        writer_db_(std::move(writer)),
        reader_db_(std::move(reader)) {}

private:
  friend queued_engine;

  void release_connections(std::unique_lock<std::mutex>& lock) {
    auto reader = std::move(reader_db_);
    auto writer = std::move(writer_db_);
    lock.unlock();
    reader.reset();
    // Closed last: the last connection checkpoints the WAL into the database file.
    writer.reset();
  }

  // The outcome stays in the operation, which completes with it.
  void run_read(size_t, op& o) { static_cast<void>(o.execute(*reader_db_)); }

  // Group commit: one transaction for the whole batch, one savepoint per operation. A storage error dooms the
  // transaction; its operations then report `unavailable` and the rest of the batch continues in a new one.
  void run_batch(std::vector<op*>& batch) {
    auto& c = *writer_db_;
    auto* db = c.db.get();
    size_t i = 0;
    while (i < batch.size()) {
      auto first = i;
      if (int rc = step_once(c.begin); rc != SQLITE_DONE) {
        forget_highest(c);
        auto st = db_error(db, rc, "begin transaction");
        for (; i < batch.size(); ++i)
          batch[i]->fail(st);
        return;
      }
      auto fences = refuse_stale_writes(batch, i, fence_cluster(), [&](const std::vector<uint32_t>& shards) {
        return read_shard_epochs(c, fence_cluster(), shards);
      });
      if (!fences.ok()) {
        // Nothing ran in this transaction yet; the rest of the batch fails as if BEGIN had.
        step_once(c.rollback);
        for (; i < batch.size(); ++i)
          batch[i]->fail(fences);
        return;
      }
      bool doomed = false;
      for (; i < batch.size() && !doomed; ++i) {
        if (auto st = run_in_savepoint(c, *batch[i]); !st.ok()) {
          // The group's earlier inserts are rolled back with it.
          forget_highest(c);
          if (sqlite3_get_autocommit(db) == 0)
            step_once(c.rollback);
          status rolled_back{status_code::unavailable,
                             "rolled back with a failed write in the same transaction: " + st.message()};
          for (auto j = first; j < i; ++j)
            batch[j]->fail(rolled_back);
          doomed = true;
        }
      }
      if (doomed)
        continue;
      if (int rc = step_once(c.commit); rc != SQLITE_DONE) {
        // An I/O error during COMMIT may strike after the commit frame reached the WAL (e.g. a failed fsync): WAL
        // recovery would then apply it on the next open. SQLite cannot tell us, so the caller must re-read. Any other
        // failure (full disk, busy) means the transaction did not commit.
        // The group's inserts may or may not be durable: what this writer believes of them is void.
        forget_highest(c);
        auto st = db_error(db, rc, "commit");
        if ((rc & 0xff) == SQLITE_IOERR)
          st = status{status_code::unknown_outcome, st.message()};
        if (sqlite3_get_autocommit(db) == 0)
          step_once(c.rollback);
        for (auto j = first; j < i; ++j)
          batch[j]->fail(st);
      }
    }
  }

  // Returns non-ok only for a storage failure; a rejected operation is rolled back alone and counts as handled.
  static status run_in_savepoint(connection& c, op& o) {
    auto* db = c.db.get();
    auto storage_error = [&](int rc, const char* what) {
      auto st = db_error(db, rc, what);
      if (is_rejection(st.code()))
        st = status{status_code::unavailable, st.message()};
      o.fail(st);
      return st;
    };
    if (int rc = step_once(c.savepoint); rc != SQLITE_DONE)
      return storage_error(rc, "savepoint");
    auto st = o.execute(c);
    if (!st.ok() && !is_rejection(st.code()))
      return st;  // a failure: the group fails, and run_batch forgets what this writer knew
    if (!st.ok()) {
      // Refused (a conflict may mean another writer has appended): forget before the next write runs.
      forget_highest(c);
      if (int rc = step_once(c.rollback_to); rc != SQLITE_DONE)
        return storage_error(rc, "rollback to savepoint");
    }
    if (int rc = step_once(c.release); rc != SQLITE_DONE)
      return storage_error(rc, "release savepoint");
    return {};
  }

  // Writer before reader: members are destroyed in reverse, and the writer must close last.
  std::unique_ptr<connection> writer_db_;
  std::unique_ptr<connection> reader_db_;
};

using sqlite_store = queued_store<sqlite_core>;

std::optional<std::string> normalize_synchronous(const std::string& value) {
  std::string upper;
  for (char ch : value)
    upper += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (upper.empty())
    return "FULL";
  if (upper == "OFF" || upper == "NORMAL" || upper == "FULL" || upper == "EXTRA")
    return upper;
  return std::nullopt;
}

}  // namespace

result<std::shared_ptr<store>> open_sqlite_store(const std::string& path, const store_options& options) {
  auto where = "sqlite store '" + path + "'";
  // Two connections must reach the same file, which rules out in-memory and URI names.
  if (path.empty() || path == ":memory:" || path.starts_with("file:"))
    return status{status_code::invalid_argument, where + ": expected a file path"};
  auto synchronous = normalize_synchronous(options.sqlite_synchronous);
  if (!synchronous)
    return status{
        status_code::invalid_argument,
        where + ": sqlite_synchronous must be OFF, NORMAL, FULL or EXTRA, not '" + options.sqlite_synchronous + "'"};
  if (!options.sqlite_vfs.empty() && sqlite3_vfs_find(options.sqlite_vfs.c_str()) == nullptr)
    return status{status_code::invalid_argument, where + ": no SQLite VFS named '" + options.sqlite_vfs + "'"};
  if (auto parent = std::filesystem::path{path}.parent_path(); !parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec)
      return status{status_code::unavailable,
                    where + ": cannot create directory '" + parent.string() + "': " + ec.message()};
  }
  auto writer = open_connection(path, where, *synchronous, options, true);
  if (!writer.ok())
    return writer.error();
  writer.value()->liveness_dir = path + ".liveness";
  auto reader = open_connection(path, where, *synchronous, options, false);
  if (!reader.ok())
    return reader.error();
  auto core = std::make_shared<sqlite_core>(options.max_batch, options.cluster, std::move(writer.value()),
                                            std::move(reader.value()));
  core->start();
  return std::shared_ptr<store>{std::make_shared<sqlite_store>(std::move(core), options.idempotency_retention)};
}

}  // namespace actorstate::persistence::detail
