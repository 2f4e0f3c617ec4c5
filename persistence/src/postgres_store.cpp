#include "postgres_store.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <iterator>
#include <mutex>
#include <optional>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include "checks.hpp"
#include "queued_store.hpp"

namespace actorstate::persistence::detail {

namespace {

const std::string plugin_name = "postgres";

using clock_type = std::chrono::steady_clock;

/// Reconnection attempts after a failed one wait this long at first, doubling up to max_backoff.
constexpr std::chrono::milliseconds min_backoff{100};
constexpr std::chrono::milliseconds max_backoff{2000};

constexpr size_t reader_count = 2;

/// PostgreSQL refuses single values above 1 GiB.
constexpr size_t max_field_size = (size_t{1} << 30) - 1;

/// Serializes schema creation and migration across nodes (pg_advisory_xact_lock); "ACSTPG" and a version byte.
constexpr const char* schema_lock_sql = "SELECT pg_advisory_xact_lock(71849981577985)";

// OIDs of the built-in types the statements bind (catalog/pg_type.dat).
constexpr Oid bytea_oid = 17;
constexpr Oid int8_oid = 20;
constexpr Oid text_oid = 25;

// -- libpq handles ----------------------------------------------------------------------------------------------------

struct result_clear {
  void operator()(PGresult* r) const { PQclear(r); }
};

struct connection_finish {
  void operator()(PGconn* c) const { PQfinish(c); }
};

using pg_result = std::unique_ptr<PGresult, result_clear>;
using pg_conn = std::unique_ptr<PGconn, connection_finish>;

/// libpq messages end in a newline and may span lines; log lines and statuses want one line.
std::string one_line(std::string_view text) {
  std::string out;
  for (char ch : text) {
    if (ch == '\n') {
      out += "; ";
    } else if (ch != '\r' && ch != '\t') {
      out += ch;
    }
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == ';'))
    out.pop_back();
  return out;
}

/// The parameters of one statement, all in binary format: text and bytea as their bytes, int8 big-endian. The values
/// point into the caller's strings, which must outlive the statement.
class params {
public:
  params& text(std::string_view v) { return add(text_oid, v); }

  params& bytes(std::string_view v) { return add(bytea_oid, v); }

  /// A fence's shard and epoch, or two NULLs for an unfenced write.
  params& fence(const std::optional<write_fence>& f) {
    return f ? int64(f->shard).int64(f->epoch) : null(int8_oid).null(int8_oid);
  }

  params& null(Oid type) {
    types_.push_back(type);
    values_.push_back(nullptr);
    lengths_.push_back(0);
    formats_.push_back(1);
    return *this;
  }

  params& int64(int64_t v) {
    // A deque never moves its elements, so the pointers taken below stay valid.
    auto& buf = ints_.emplace_back();
    auto u = static_cast<uint64_t>(v);
    for (size_t i = buf.size(); i-- > 0;) {
      buf[i] = static_cast<char>(u & 0xff);
      u >>= 8;
    }
    return add(int8_oid, std::string_view{buf.data(), buf.size()});
  }

  int size() const { return static_cast<int>(types_.size()); }
  const Oid* types() const { return types_.data(); }
  const char* const* values() const { return values_.data(); }
  const int* lengths() const { return lengths_.data(); }
  const int* formats() const { return formats_.data(); }
  bool oversized() const { return oversized_; }

private:
  params& add(Oid type, std::string_view v) {
    types_.push_back(type);
    // A null pointer would be SQL NULL; an empty value needs a valid one.
    values_.push_back(v.data() != nullptr ? v.data() : "");
    if (v.size() > max_field_size)
      oversized_ = true;
    lengths_.push_back(static_cast<int>(std::min(v.size(), max_field_size)));
    formats_.push_back(1);
    return *this;
  }

  std::vector<Oid> types_;
  std::vector<const char*> values_;
  std::vector<int> lengths_;
  std::vector<int> formats_;
  std::deque<std::array<char, 8>> ints_;
  bool oversized_ = false;
};

/// Reads one row of a binary-format result; a NULL or a value of the wrong size marks the row bad.
class row_reader {
public:
  row_reader(const PGresult* r, int row) : r_(r), row_(row) {}

  int64_t int64(int col) {
    if (PQgetisnull(r_, row_, col) != 0 || PQgetlength(r_, row_, col) != 8) {
      bad_ = true;
      return 0;
    }
    auto* p = reinterpret_cast<const unsigned char*>(PQgetvalue(r_, row_, col));
    uint64_t u = 0;
    for (int i = 0; i < 8; ++i)
      u = (u << 8) | p[i];
    return static_cast<int64_t>(u);
  }

  std::string bytes(int col) {
    if (PQgetisnull(r_, row_, col) != 0) {
      bad_ = true;
      return {};
    }
    return std::string(PQgetvalue(r_, row_, col), static_cast<size_t>(PQgetlength(r_, row_, col)));
  }

  bool bad() const { return bad_; }

private:
  const PGresult* r_;
  int row_;
  bool bad_ = false;
};

status bad_row(const std::string& what) {
  return {status_code::data_loss, what + ": unexpected NULL or column type (was the schema altered?)"};
}

int64_t affected_rows(const pg_result& r) {
  return std::strtoll(PQcmdTuples(r.get()), nullptr, 10);
}

// Server errors that reject the request alone; the transaction stays usable after ROLLBACK TO SAVEPOINT.
status_code code_of(std::string_view sqlstate) {
  if (sqlstate == "23505" || sqlstate == "23P01")  // unique_violation, exclusion_violation: a fence held
    return status_code::conflict;
  if (sqlstate.starts_with("22") || sqlstate == "54000")  // data exception (bad UTF-8, NUL); key too long for an index
    return status_code::invalid_argument;
  if (sqlstate == "XX001" || sqlstate == "XX002")  // data_corrupted, index_corrupted
    return status_code::data_loss;
  if (sqlstate == "42P01" || sqlstate == "42703")  // a table or column of the schema is missing
    return status_code::data_loss;
  // Deadlocks, serialization failures, disk full, shutdown, ...: nothing was written, a retry may succeed.
  return status_code::unavailable;
}

// Errors after which the session is gone: connection exceptions and the server terminating the backend.
bool ends_session(std::string_view sqlstate) {
  return sqlstate.starts_with("08") || sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03";
}

// -- Statements -------------------------------------------------------------------------------------------------------

enum class stmt : size_t {
  highest,
  insert_highest,
  advance_highest,
  insert_event,
  replay,
  delete_events,
  save_snapshot,
  load_snapshot,
  delete_snapshots,
  get_value,
  value_version,
  insert_value,
  update_value,
  delete_value,
  append_first,
  append_next,
  ping,
  lock_shard_epochs,
  insert_cluster,
  insert_shards,
  cluster_shards,
  shard_for_update,
  set_shard,
  list_shards,
  count_owned,
  get_member,
  member_for_update,
  join_member,
  renew_member,
  set_member_status,
  list_members,
  record_applied,
  find_applied,
  prune_applied,
  count,  ///< Not a statement: the number of statements.
};

struct statement_def {
  stmt id;
  const char* name;
  const char* sql;
  std::array<Oid, 7> types;
  int param_count;
};

// $1 is always the persistence id or key. Prepared once per connection.
constexpr statement_def statements[] = {
    {stmt::highest, "highest", "SELECT highest_seq FROM journal_highest WHERE persistence_id = $1", {text_oid}, 1},
    // The fence, in two forms. A concurrent writer of the same persistence id blocks on the row (or on the inserted
    // key) until the first commits and then finds no row to change.
    {stmt::insert_highest,
     "insert_highest",
     "INSERT INTO journal_highest (persistence_id, highest_seq) VALUES ($1, $2) ON CONFLICT (persistence_id) DO "
     "NOTHING",
     {text_oid, int8_oid},
     2},
    {stmt::advance_highest,
     "advance_highest",
     "UPDATE journal_highest SET highest_seq = $3 WHERE persistence_id = $1 AND highest_seq = $2",
     {text_oid, int8_oid, int8_oid},
     3},
    {stmt::insert_event,
     "insert_event",
     "INSERT INTO journal (persistence_id, seq, type, payload, metadata, shard, epoch)"
     " VALUES ($1, $2, $3, $4, $5, $6, $7)",
     {text_oid, int8_oid, text_oid, bytea_oid, bytea_oid, int8_oid, int8_oid},
     7},
    {stmt::replay,
     "replay",
     "SELECT seq, type, payload, metadata FROM journal WHERE persistence_id = $1 AND seq >= $2 AND seq <= $3"
     " ORDER BY seq LIMIT $4",
     {text_oid, int8_oid, int8_oid, int8_oid},
     4},
    {stmt::delete_events,
     "delete_events",
     "DELETE FROM journal WHERE persistence_id = $1 AND seq <= $2",
     {text_oid, int8_oid},
     2},
    {stmt::save_snapshot,
     "save_snapshot",
     "INSERT INTO snapshots (persistence_id, seq, type, payload) VALUES ($1, $2, $3, $4)"
     " ON CONFLICT (persistence_id, seq) DO UPDATE SET type = excluded.type, payload = excluded.payload",
     {text_oid, int8_oid, text_oid, bytea_oid},
     4},
    {stmt::load_snapshot,
     "load_snapshot",
     "SELECT seq, type, payload FROM snapshots WHERE persistence_id = $1 ORDER BY seq DESC LIMIT 1",
     {text_oid},
     1},
    {stmt::delete_snapshots,
     "delete_snapshots",
     "DELETE FROM snapshots WHERE persistence_id = $1 AND seq <= $2",
     {text_oid, int8_oid},
     2},
    {stmt::get_value, "get_value", "SELECT type, payload, version FROM kv WHERE key = $1", {text_oid}, 1},
    {stmt::value_version, "value_version", "SELECT version FROM kv WHERE key = $1", {text_oid}, 1},
    {stmt::insert_value,
     "insert_value",
     "INSERT INTO kv (key, type, payload, version) VALUES ($1, $2, $3, 1) ON CONFLICT (key) DO NOTHING",
     {text_oid, text_oid, bytea_oid},
     3},
    {stmt::update_value,
     "update_value",
     "UPDATE kv SET type = $2, payload = $3, version = version + 1 WHERE key = $1 AND version = $4",
     {text_oid, text_oid, bytea_oid, int8_oid},
     4},
    {stmt::delete_value, "delete_value", "DELETE FROM kv WHERE key = $1 AND version = $2", {text_oid, int8_oid}, 2},
    // One-event appends with their fence in one statement, for pipelining: the event is inserted only if the fence
    // let it through, and the affected row count tells which happened.
    {stmt::append_first,
     "append_first",
     "WITH fence AS (INSERT INTO journal_highest (persistence_id, highest_seq) VALUES ($1, $2)"
     " ON CONFLICT (persistence_id) DO NOTHING RETURNING 1)"
     " INSERT INTO journal (persistence_id, seq, type, payload, metadata, shard, epoch)"
     " SELECT $1, $2, $3, $4, $5, $6, $7 FROM fence",
     {text_oid, int8_oid, text_oid, bytea_oid, bytea_oid, int8_oid, int8_oid},
     7},
    {stmt::append_next,
     "append_next",
     "WITH fence AS (UPDATE journal_highest SET highest_seq = $2 WHERE persistence_id = $1 AND highest_seq = $2 - 1"
     " RETURNING 1)"
     " INSERT INTO journal (persistence_id, seq, type, payload, metadata, shard, epoch)"
     " SELECT $1, $2, $3, $4, $5, $6, $7 FROM fence",
     {text_oid, int8_oid, text_oid, bytea_oid, bytea_oid, int8_oid, int8_oid},
     7},
    {stmt::ping, "ping", "SELECT 1", {}, 0},
    // Cluster coordination: $1 is the cluster. Ages are computed by the server's clock_timestamp(), the time the
    // statement runs (now() would be the transaction's start).
    // The fence check of a batch (refuse_stale_writes): the shard rows stay share-locked until the transaction ends,
    // so a claim or release (which locks the row for update) waits until the batch's writes have committed, and the
    // new owner then recovers state that includes them. $2 is a text array ("{1,2}").
    {stmt::lock_shard_epochs,
     "lock_shard_epochs",
     "SELECT shard, epoch FROM cluster_shards WHERE cluster = $1 AND shard = ANY ($2::int8[]) ORDER BY shard"
     " FOR SHARE",
     {text_oid, text_oid},
     2},
    {stmt::insert_cluster,
     "insert_cluster",
     "INSERT INTO cluster_meta (cluster, shards) VALUES ($1, $2) ON CONFLICT (cluster) DO NOTHING",
     {text_oid, int8_oid},
     2},
    {stmt::insert_shards,
     "insert_shards",
     "INSERT INTO cluster_shards (cluster, shard, owner, owner_incarnation, epoch)"
     " SELECT $1, s, '', 0, 0 FROM generate_series(0, $2 - 1) AS s",
     {text_oid, int8_oid},
     2},
    {stmt::cluster_shards, "cluster_shards", "SELECT shards FROM cluster_meta WHERE cluster = $1", {text_oid}, 1},
    {stmt::shard_for_update,
     "shard_for_update",
     "SELECT owner, owner_incarnation, epoch FROM cluster_shards WHERE cluster = $1 AND shard = $2 FOR UPDATE",
     {text_oid, int8_oid},
     2},
    // A change of owner, and its line in the shard's history (schema v4). The marks are numbers of the journal's and
    // applied_commands' orderings taken here, after shard_for_update locked the row: every write of the old epoch was
    // numbered below them, every write of the new one will be above.
    {stmt::set_shard,
     "set_shard",
     "WITH changed AS (UPDATE cluster_shards SET owner = $3, owner_incarnation = $4, epoch = $5"
     " WHERE cluster = $1 AND shard = $2 RETURNING 1)"
     " INSERT INTO cluster_shard_history (cluster, shard, epoch, owner, owner_incarnation, changed_at, journal_mark,"
     " applied_mark) SELECT $1, $2, $5, $3, $4, clock_timestamp(),"
     " nextval(pg_get_serial_sequence('journal', 'ordering')),"
     " nextval(pg_get_serial_sequence('applied_commands', 'ordering')) FROM changed",
     {text_oid, int8_oid, text_oid, int8_oid, int8_oid},
     5},
    {stmt::list_shards,
     "list_shards",
     "SELECT shard, owner, owner_incarnation, epoch FROM cluster_shards WHERE cluster = $1 ORDER BY shard",
     {text_oid},
     1},
    {stmt::count_owned,
     "count_owned",
     "SELECT count(*) FROM cluster_shards WHERE cluster = $1 AND owner = $2 AND owner_incarnation = $3",
     {text_oid, text_oid, int8_oid},
     3},
    {stmt::get_member,
     "get_member",
     "SELECT incarnation, status, greatest(0, extract(epoch FROM clock_timestamp() - renewed_at) * 1000)::int8"
     " FROM cluster_members WHERE cluster = $1 AND id = $2",
     {text_oid, text_oid},
     2},
    // Renew and leave decide on the row they then change: locked, so a concurrent join of the same id (another
    // process superseding this one) cannot come in between.
    {stmt::member_for_update,
     "member_for_update",
     "SELECT incarnation, status, 0::int8 FROM cluster_members WHERE cluster = $1 AND id = $2 FOR UPDATE",
     {text_oid, text_oid},
     2},
    {stmt::join_member,
     "join_member",
     "INSERT INTO cluster_members (cluster, id, incarnation, address, status, renewed_at)"
     " VALUES ($1, $2, 1, $3, 'up', clock_timestamp()) ON CONFLICT (cluster, id) DO UPDATE"
     " SET incarnation = cluster_members.incarnation + 1, address = excluded.address, status = 'up',"
     " renewed_at = clock_timestamp() RETURNING incarnation",
     {text_oid, text_oid, text_oid},
     3},
    {stmt::renew_member,
     "renew_member",
     "UPDATE cluster_members SET renewed_at = clock_timestamp() WHERE cluster = $1 AND id = $2",
     {text_oid, text_oid},
     2},
    {stmt::set_member_status,
     "set_member_status",
     "UPDATE cluster_members SET status = $3 WHERE cluster = $1 AND id = $2",
     {text_oid, text_oid, text_oid},
     3},
    // Byte order of ids, as the other plugins list them.
    {stmt::list_members,
     "list_members",
     "SELECT id, incarnation, address, status,"
     " greatest(0, extract(epoch FROM clock_timestamp() - renewed_at) * 1000)::int8"
     " FROM cluster_members WHERE cluster = $1 AND status <> 'left' ORDER BY id COLLATE \"C\"",
     {text_oid},
     1},
    // Idempotency keys: $1 is the entity, $2 the scope, $3 the key; ages by the server's clock_timestamp().
    {stmt::record_applied,
     "record_applied",
     "INSERT INTO applied_commands (entity, scope, key, reply, applied_at, shard, epoch)"
     " VALUES ($1, $2, $3, $4, clock_timestamp(), $5, $6)"
     " ON CONFLICT (entity, scope, key) DO UPDATE SET reply = excluded.reply, applied_at = excluded.applied_at,"
     " shard = excluded.shard, epoch = excluded.epoch, ordering = DEFAULT",
     {text_oid, int8_oid, bytea_oid, bytea_oid, int8_oid, int8_oid},
     6},
    {stmt::find_applied,
     "find_applied",
     "SELECT reply FROM applied_commands WHERE entity = $1 AND scope = $2 AND key = $3"
     " AND applied_at > clock_timestamp() - $4 * interval '1 millisecond'",
     {text_oid, int8_oid, bytea_oid, int8_oid},
     4},
    // $1: the retention in milliseconds; $2: the most rows deleted at once.
    {stmt::prune_applied,
     "prune_applied",
     "DELETE FROM applied_commands WHERE ctid = ANY (ARRAY (SELECT ctid FROM applied_commands"
     " WHERE applied_at <= clock_timestamp() - $1 * interval '1 millisecond' LIMIT $2))",
     {int8_oid, int8_oid},
     2},
};

constexpr bool statements_in_enum_order() {
  for (size_t i = 0; i < std::size(statements); ++i)
    if (static_cast<size_t>(statements[i].id) != i)
      return false;
  return std::size(statements) == static_cast<size_t>(stmt::count);
}

static_assert(statements_in_enum_order(), "statements[] is indexed by stmt");

const statement_def& definition(stmt s) {
  return statements[static_cast<size_t>(s)];
}

// -- Schema -----------------------------------------------------------------------------------------------------------

// Version 1. Never edit a released migration; add {2, "..."} below instead and bump postgres_schema_version. Tables
// are created in the connection's current schema (the first of its search_path).
constexpr const char* schema_v1 = R"sql(
CREATE TABLE schema_version (
  version bigint NOT NULL
);
INSERT INTO schema_version (version) VALUES (0);
CREATE TABLE journal (
  -- Global append order for future event-stream consumers.
  ordering bigint GENERATED ALWAYS AS IDENTITY,
  persistence_id text NOT NULL,
  seq bigint NOT NULL,
  type text NOT NULL,
  payload bytea NOT NULL,
  metadata bytea NOT NULL,
  -- The single-writer fence: two writers can never both store a sequence number.
  PRIMARY KEY (persistence_id, seq)
);
CREATE UNIQUE INDEX journal_ordering ON journal (ordering);
-- The highest sequence number ever appended: deletion never lowers it, and appends advance it only from the value
-- they expect.
CREATE TABLE journal_highest (
  persistence_id text PRIMARY KEY,
  highest_seq bigint NOT NULL
);
CREATE TABLE snapshots (
  persistence_id text NOT NULL,
  seq bigint NOT NULL,
  type text NOT NULL,
  payload bytea NOT NULL,
  PRIMARY KEY (persistence_id, seq)
);
CREATE TABLE kv (
  key text PRIMARY KEY,
  type text NOT NULL,
  payload bytea NOT NULL,
  version bigint NOT NULL
);
)sql";

// Version 2: cluster coordination (coordination.hpp). renewed_at is the server's clock_timestamp(): every member reads
// ages off the one server clock, never its own.
constexpr const char* schema_v2 = R"sql(
CREATE TABLE cluster_meta (
  cluster text PRIMARY KEY,
  shards bigint NOT NULL
);
CREATE TABLE cluster_members (
  cluster text NOT NULL,
  id text NOT NULL,
  incarnation bigint NOT NULL,
  address text NOT NULL,
  -- 'left' rows are removed members, kept so that incarnation numbers are never reused.
  status text NOT NULL CHECK (status IN ('up', 'leaving', 'left')),
  renewed_at timestamptz NOT NULL,
  PRIMARY KEY (cluster, id)
);
CREATE TABLE cluster_shards (
  cluster text NOT NULL,
  shard bigint NOT NULL,
  owner text NOT NULL,  -- '' for none
  owner_incarnation bigint NOT NULL,
  epoch bigint NOT NULL,
  PRIMARY KEY (cluster, shard)
);
)sql";

// Version 3: idempotency keys (store.hpp). applied_at is the server's clock_timestamp(), like renewed_at.
constexpr const char* schema_v3 = R"sql(
CREATE TABLE applied_commands (
  entity text NOT NULL,     -- the persistence id (scope 0) or value key (scope 1) whose write recorded it
  scope bigint NOT NULL,
  key bytea NOT NULL,       -- the client's idempotency key, any bytes
  reply bytea NOT NULL,
  applied_at timestamptz NOT NULL,
  PRIMARY KEY (entity, scope, key)
);
CREATE INDEX applied_commands_age ON applied_commands (applied_at);
)sql";

// Version 4: an audit trail of shard ownership. Each fenced write stores the shard and epoch its writer held (NULL
// when unfenced), and each change of a shard's owner adds a line to cluster_shard_history; nothing reads either at run
// time. scripts/check-single-writer.sh proves from them, from the store alone, that no shard ever had two writers:
// every write of epoch e of a shard is numbered (`ordering`) between the marks of the change that began e and of the
// one that ended it. The numbers follow commit order across owners because a fenced batch share-locks its shard rows
// before it inserts anything (lock_shard_epochs) and a change of owner takes the marks after locking the row for
// update, so after every batch of the old epoch committed. A re-recorded idempotency key takes a new number
// (ordering = DEFAULT). History rows are a few per change of owner and are not pruned.
constexpr const char* schema_v4 = R"sql(
ALTER TABLE journal ADD COLUMN shard bigint, ADD COLUMN epoch bigint;
ALTER TABLE applied_commands ADD COLUMN shard bigint, ADD COLUMN epoch bigint,
  ADD COLUMN ordering bigint GENERATED ALWAYS AS IDENTITY;
CREATE TABLE cluster_shard_history (
  cluster text NOT NULL,
  shard bigint NOT NULL,
  epoch bigint NOT NULL,              -- the epoch this change began
  owner text NOT NULL,                -- '' for a release
  owner_incarnation bigint NOT NULL,
  changed_at timestamptz NOT NULL,
  journal_mark bigint NOT NULL,       -- journal.ordering: writes of this epoch are numbered above it
  applied_mark bigint NOT NULL,       -- applied_commands.ordering: likewise
  PRIMARY KEY (cluster, shard, epoch)
);
)sql";

constexpr migration migrations[] = {
    {1, schema_v1},
    {2, schema_v2},
    {3, schema_v3},
    {4, schema_v4},
};

static_assert(std::size(migrations) == postgres_schema_version, "one migration per schema version");

// -- Connections ------------------------------------------------------------------------------------------------------

/// One libpq connection with its prepared statements, used by exactly one thread at a time. Once a call finds the
/// session gone, lost() stays true and the owner replaces the connection.
class connection {
public:
  explicit connection(pg_conn conn) : conn_(std::move(conn)) {}

  /// Where the connection goes, for the session it opens beside itself for the liveness tokens.
  std::string uri;
  std::string where;
  /// Liveness tokens (session advisory locks) held for the member by `token_session`, a session of their own opened
  /// beside this one; they end with it (and it with this connection), so a reopened connection starts without any and
  /// the next renewal takes its member's back.
  std::set<uint64_t> liveness;
  std::unique_ptr<connection> token_session;

  /// Runs a prepared statement with binary parameters and results.
  result<pg_result> run(stmt s, const params& p, const std::string& what) {
    if (p.oversized())
      return status{status_code::invalid_argument, what + ": a value is larger than PostgreSQL's limit of 1 GiB"};
    pg_result r{PQexecPrepared(conn_.get(), definition(s).name, p.size(), p.values(), p.lengths(), p.formats(), 1)};
    return check(std::move(r), what);
  }

  /// Runs SQL text without parameters (the simple protocol; several statements may be given); text results.
  result<pg_result> exec(const char* sql, const std::string& what) {
    return check(pg_result{PQexec(conn_.get(), sql)}, what);
  }

  /// Runs SQL text with binary parameters, unprepared; text results.
  result<pg_result> exec(const char* sql, const params& p, const std::string& what) {
    pg_result r{PQexecParams(conn_.get(), sql, p.size(), p.types(), p.values(), p.lengths(), p.formats(), 0)};
    return check(std::move(r), what);
  }

  // Pipeline mode (run_batch): statements are queued with `send`, then `sync` ends the pipeline, then the results are
  // read in the same order with `receive_count`, then `end_pipeline` reads the sync point and leaves pipeline mode.

  bool begin_pipeline() { return PQenterPipelineMode(conn_.get()) == 1 || note_lost(); }

  /// Queues a prepared statement with binary parameters; false if it could not be queued.
  bool send(stmt s, const params& p) {
    if (p.oversized())
      return false;
    return PQsendQueryPrepared(conn_.get(), definition(s).name, p.size(), p.values(), p.lengths(), p.formats(), 1) ==
               1 ||
           note_lost();
  }

  bool sync() { return PQpipelineSync(conn_.get()) == 1 || note_lost(); }

  /// Queues BEGIN (pipeline mode takes only the extended protocol).
  bool send_begin() {
    return PQsendQueryParams(conn_.get(), "BEGIN", 0, nullptr, nullptr, nullptr, nullptr, 0) == 1 || note_lost();
  }

  /// The rows one queued statement affected, or nothing if it failed or was skipped after an earlier failure.
  std::optional<int64_t> receive_count() {
    std::optional<int64_t> rows;
    // Each statement's results end with a null result; a lost connection yields an error, then nulls.
    for (int results = 0;; ++results) {
      pg_result r{PQgetResult(conn_.get())};
      if (!r) {
        if (results == 0)
          note_lost();
        return rows;
      }
      auto rs = PQresultStatus(r.get());
      if (rs == PGRES_COMMAND_OK || rs == PGRES_TUPLES_OK) {
        rows = affected_rows(r);
      } else {
        rows.reset();
        if (rs != PGRES_PIPELINE_ABORTED)
          (void)check(std::move(r), "pipelined statement");
      }
      if (lost())
        return std::nullopt;
    }
  }

  /// Leaves pipeline mode when nothing was queued.
  bool end_pipeline_unused() { return PQexitPipelineMode(conn_.get()) == 1 || note_lost(); }

  /// Reads the sync point and leaves pipeline mode; false if the session did not survive.
  bool end_pipeline() {
    for (int nulls = 0; !lost() && nulls < 2;) {
      pg_result r{PQgetResult(conn_.get())};
      if (!r) {
        ++nulls;
        continue;
      }
      if (PQresultStatus(r.get()) == PGRES_PIPELINE_SYNC)
        return PQexitPipelineMode(conn_.get()) == 1 || note_lost();
      (void)check(std::move(r), "pipeline");
    }
    return note_lost();
  }

  status prepare_all(const std::string& where) {
    for (const auto& def : statements) {
      pg_result r{PQprepare(conn_.get(), def.name, def.sql, def.param_count, def.types.data())};
      if (auto checked = check(std::move(r), where + ": prepare '" + def.sql + "'"); !checked.ok())
        return checked.error();
    }
    return {};
  }

  bool lost() const { return lost_ || PQstatus(conn_.get()) != CONNECTION_OK; }

  /// The writer's: when record_applied next deletes expired idempotency records.
  clock_type::time_point next_prune{};

  PGconn* get() const { return conn_.get(); }

private:
  bool note_lost() {
    lost_ = true;
    return false;
  }

  result<pg_result> check(pg_result r, const std::string& what) {
    auto rs = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (rs == PGRES_COMMAND_OK || rs == PGRES_TUPLES_OK)
      return result<pg_result>{std::move(r)};
    const char* field = r ? PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) : nullptr;
    std::string_view sqlstate = field != nullptr ? field : "";
    std::string detail = r ? one_line(PQresultErrorMessage(r.get())) : std::string{};
    if (detail.empty())
      detail = one_line(PQerrorMessage(conn_.get()));
    if (detail.empty())
      detail = "unexpected result " + std::string{PQresStatus(rs)};
    if (PQstatus(conn_.get()) != CONNECTION_OK || ends_session(sqlstate))
      lost_ = true;
    return status{lost_ ? status_code::unavailable : code_of(sqlstate), what + ": " + detail};
  }

  pg_conn conn_;
  bool lost_ = false;
};

/// What a store says about itself in messages: the server and database, never the password.
result<std::string> describe(const std::string& uri) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(uri.c_str(), &error);
  if (options == nullptr) {
    std::string message = error != nullptr ? one_line(error) : "out of memory";
    PQfreemem(error);
    return status{status_code::invalid_argument, "postgres store: cannot parse the connection URI: " + message};
  }
  std::string host, port, dbname, user;
  for (auto* o = options; o->keyword != nullptr; ++o) {
    std::string_view key = o->keyword;
    std::string value = o->val != nullptr ? o->val : "";
    if (key == "host" || (key == "hostaddr" && host.empty()))
      host = value;
    else if (key == "port")
      port = value;
    else if (key == "dbname")
      dbname = value;
    else if (key == "user")
      user = value;
  }
  PQconninfoFree(options);
  std::string out = "postgres store 'postgres://";
  if (!user.empty())
    out += user + "@";
  out += host;
  if (!port.empty())
    out += ":" + port;
  if (!dbname.empty())
    out += "/" + dbname;
  return out + "'";
}

status with_where(const std::string& where, const status& st) {
  return {st.code(), where + ": " + st.message()};
}

// Creates or migrates the schema in one transaction. Nodes starting together serialize on an advisory lock; the
// later ones then find the schema current.
status migrate(connection& c, const std::string& where) {
  auto fail = [&](const status& st) {
    // Best effort: the migration already failed with `st`; a failed ROLLBACK ends the session, which rolls back too.
    if (!c.lost())
      static_cast<void>(c.exec("ROLLBACK", "rollback"));
    return with_where(where, st);
  };
  if (auto r = c.exec("BEGIN", "begin schema migration"); !r.ok())
    return with_where(where, r.error());
  // A node that holds the lock and hangs must not block every other one forever.
  if (auto r = c.exec("SET LOCAL lock_timeout = '60s'", "set lock_timeout"); !r.ok())
    return fail(r.error());
  if (auto r = c.exec(schema_lock_sql, "lock the schema"); !r.ok())
    return fail(r.error());
  // After the lock, in a new statement: READ COMMITTED sees what a node that held the lock before has committed.
  // Only the current schema counts: that is where the tables are created and where the statements find them first.
  auto found = c.exec(
      "SELECT to_regclass(format('%I.schema_version', s)) IS NOT NULL, EXISTS (SELECT 1 FROM pg_tables"
      " WHERE schemaname = s AND tablename IN ('journal', 'journal_highest', 'snapshots', 'kv'))"
      " FROM current_schema() AS s",
      "look for the schema");
  if (!found.ok())
    return fail(found.error());
  bool has_version = std::string_view{PQgetvalue(found.value().get(), 0, 0)} == "t";
  bool has_tables = std::string_view{PQgetvalue(found.value().get(), 0, 1)} == "t";
  int64_t version = 0;
  if (has_version) {
    auto r = c.exec("SELECT coalesce(max(version), 0) FROM schema_version", "read the schema version");
    if (!r.ok())
      return fail(r.error());
    version = std::strtoll(PQgetvalue(r.value().get(), 0, 0), nullptr, 10);
    if (version > postgres_schema_version)
      return fail({status_code::data_loss, "schema version " + std::to_string(version) +
                                               " is newer than this build supports (" +
                                               std::to_string(postgres_schema_version) + "); use a newer actorstate"});
  } else if (has_tables) {
    return fail({status_code::data_loss,
                 "not an actorstate database (it has a journal, journal_highest, snapshots or kv table but no "
                 "schema_version table)"});
  }
  for (const auto& m : migrations) {
    if (m.version <= version)
      continue;
    auto what = "migrate to schema version " + std::to_string(m.version);
    if (auto r = c.exec(m.sql, what); !r.ok())
      return fail(r.error());
    if (auto r = c.exec("UPDATE schema_version SET version = $1", params{}.int64(m.version), what); !r.ok())
      return fail(r.error());
  }
  auto r = c.exec("COMMIT", "commit schema migration");
  if (!r.ok())
    return with_where(where, r.error());
  if (std::string_view{PQcmdStatus(r.value().get())} != "COMMIT")
    return {status_code::unavailable, where + ": the schema migration was rolled back"};
  return {};
}

result<std::unique_ptr<connection>> connect_once(const std::string& uri, const std::string& where, bool writer);

/// Opens a connection: the writer's creates or migrates the schema first, a reader's is read-only. Fails with
/// `status_code::data_loss` for a schema this build cannot use and `status_code::unavailable` otherwise.
result<std::unique_ptr<connection>> connect(const std::string& uri, const std::string& where, bool writer) {
  auto c = connect_once(uri, where, writer);
  if (!c.ok() && c.error().code() != status_code::data_loss && c.error().code() != status_code::unavailable)
    return status{status_code::unavailable, c.error().message()};
  return c;
}

/// A bare session: connected, named `application_name`, nothing set up in it.
result<std::unique_ptr<connection>> open_session(const std::string& uri, const std::string& where,
                                                 const char* application_name) {
  // Defaults first so that the URI can override them; client_encoding last so that it cannot: text parameters are
  // sent as UTF-8.
  const char* keywords[] = {"connect_timeout",  "keepalives_idle", "keepalives_interval", "keepalives_count",
                            "application_name", "dbname",          "client_encoding",     nullptr};
  const char* values[] = {"5", "30", "10", "3", application_name, uri.c_str(), "UTF8", nullptr};
  pg_conn raw{PQconnectdbParams(keywords, values, 1)};
  if (!raw)
    return status{status_code::unavailable, where + ": cannot connect: out of memory"};
  if (PQstatus(raw.get()) != CONNECTION_OK)
    return status{status_code::unavailable, where + ": cannot connect: " + one_line(PQerrorMessage(raw.get()))};
  // Notices and warnings would otherwise go to stderr, in the middle of the node's logfmt lines.
  PQsetNoticeProcessor(
      raw.get(), [](void*, const char*) {}, nullptr);
  auto c = std::make_unique<connection>(std::move(raw));
  c->uri = uri;
  c->where = where;
  return c;
}

result<std::unique_ptr<connection>> connect_once(const std::string& uri, const std::string& where, bool writer) {
  auto opened = open_session(uri, where, "actorstate");
  if (!opened.ok())
    return opened.error();
  auto c = std::move(opened.value());
  // Our transactions never wait on the client between statements (a group commit is sent in one go), so a session
  // idle inside one has lost its client: a process cut off from the network mid-transaction, whose connection the
  // server would otherwise keep (with its row locks) until TCP keepalive gives up, minutes later. In a cluster those
  // locks (a fenced write's share lock on its shard row, a renewal's member row) would hold every other member's
  // claim, and with it their writes, until the partition heals. The server ends such a session after 2 s.
  if (auto r = c->exec("SET SESSION idle_in_transaction_session_timeout = '2s'", "set the idle transaction timeout");
      !r.ok())
    return with_where(where, r.error());
  if (writer) {
    if (auto st = migrate(*c, where); !st.ok())
      return st;
  } else if (auto r = c->exec("SET SESSION default_transaction_read_only = on", "make the session read-only");
             !r.ok()) {
    return with_where(where, r.error());
  }
  if (auto st = c->prepare_all(where); !st.ok())
    return st;
  return c;
}

/// One thread's connection, re-opened when lost. A failed attempt makes the next one wait (100 ms, doubling to 2 s);
/// until then operations fail at once instead of queueing behind a server that is down.
class connection_slot {
public:
  connection_slot(std::string uri, std::string where, bool writer, std::unique_ptr<connection> initial)
      : uri_(std::move(uri)), where_(std::move(where)), writer_(writer), conn_(std::move(initial)) {}

  /// The open connection, or null with the reason in `error`. `reused` tells whether it was open before this call.
  connection* acquire(status& error, bool& reused) {
    reused = false;
    if (conn_ && !conn_->lost()) {
      reused = true;
      return conn_.get();
    }
    conn_.reset();
    auto now = clock_type::now();
    if (now < next_attempt_) {
      auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_attempt_ - now).count();
      error = status{status_code::unavailable,
                     last_error_ + " (not connected; next attempt in " + std::to_string(wait) + " ms)"};
      return nullptr;
    }
    auto c = connect(uri_, where_, writer_);
    if (!c.ok()) {
      last_error_ = c.error().message();
      next_attempt_ = clock_type::now() + backoff_;
      backoff_ = std::min(backoff_ * 2, max_backoff);
      // A newer schema or foreign tables stay unusable (DATA_LOSS); anything else is worth another attempt later.
      error = c.error().code() == status_code::data_loss ? c.error() : status{status_code::unavailable, last_error_};
      return nullptr;
    }
    backoff_ = min_backoff;
    conn_ = std::move(c.value());
    return conn_.get();
  }

  /// Forgets a lost connection; the next acquire() opens a new one at once.
  void drop() { conn_.reset(); }

private:
  std::string uri_;
  std::string where_;
  bool writer_;
  std::unique_ptr<connection> conn_;
  std::string last_error_;
  clock_type::time_point next_attempt_{};
  std::chrono::milliseconds backoff_ = min_backoff;
};

// -- Operations -------------------------------------------------------------------------------------------------------

result<int64_t> read_highest(connection& c, const std::string& pid) {
  auto what = "read highest seq of '" + pid + "'";
  auto r = c.run(stmt::highest, params{}.text(pid), what);
  if (!r.ok())
    return r.error();
  if (PQntuples(r.value().get()) == 0)
    return int64_t{0};
  row_reader row{r.value().get(), 0};
  auto highest = row.int64(0);
  if (row.bad())
    return bad_row(what);
  return highest;
}

status append_events(connection& c, const std::string& pid, const std::vector<event>& events,
                     const std::optional<write_fence>& fence) {
  if (auto st = check_batch(pid, events); !st.ok())
    return st;
  auto expected = events.front().seq - 1;
  auto last = events.back().seq;
  auto what = "append to '" + pid + "'";
  auto advanced = expected == 0 ? c.run(stmt::insert_highest, params{}.text(pid).int64(last), what)
                                : c.run(stmt::advance_highest, params{}.text(pid).int64(expected).int64(last), what);
  if (!advanced.ok())
    return advanced.error();
  if (affected_rows(advanced.value()) != 1) {
    // Rejected: re-read for a message that names the expected sequence number.
    auto highest = read_highest(c, pid);
    if (!highest.ok())
      return highest.error();
    if (auto st = check_next(pid, events, highest.value()); !st.ok())
      return st;
    return {status_code::conflict, what + ": another writer appended concurrently"};
  }
  for (const auto& e : events) {
    auto r = c.run(stmt::insert_event,
                   params{}.text(pid).int64(e.seq).text(e.type).bytes(e.payload).bytes(e.metadata).fence(fence),
                   what + " at seq " + std::to_string(e.seq));
    if (!r.ok())
      return r.error();
  }
  return {};
}

// Pipelined forms of the common writes (see postgres_core::run_batch). A send returns false when the operation has
// another shape (several events, a version to check first), so it runs alone with its exact error messages; a
// receive returns nothing when the operation must run alone after all (a fence rejected it, a statement failed).

bool send_append_events(connection& c, const std::string& pid, const std::vector<event>& events,
                        const std::optional<write_fence>& fence) {
  if (events.size() != 1 || !check_batch(pid, events).ok())
    return false;
  const auto& e = events.front();
  return c.send(e.seq == 1 ? stmt::append_first : stmt::append_next,
                params{}.text(pid).int64(e.seq).text(e.type).bytes(e.payload).bytes(e.metadata).fence(fence));
}

std::optional<status> receive_append_events(connection& c, const std::string&, const std::vector<event>&) {
  if (c.receive_count() != 1)
    return std::nullopt;
  return status{};
}

bool send_save_snapshot_row(connection& c, const std::string& pid, const snapshot& s) {
  return c.send(stmt::save_snapshot, params{}.text(pid).int64(s.seq).text(s.type).bytes(s.payload));
}

std::optional<status> receive_save_snapshot_row(connection& c, const std::string&, const snapshot&) {
  if (c.receive_count() != 1)
    return std::nullopt;
  return status{};
}

bool send_put_value_row(connection& c, const std::string& key, const std::string& type, const std::string& payload,
                        int64_t expected) {
  if (expected < 0)
    return false;
  return expected == 0 ? c.send(stmt::insert_value, params{}.text(key).text(type).bytes(payload))
                       : c.send(stmt::update_value, params{}.text(key).text(type).bytes(payload).int64(expected));
}

std::optional<result<int64_t>> receive_put_value_row(connection& c, const std::string&, const std::string&,
                                                     const std::string&, int64_t expected) {
  if (c.receive_count() != 1)
    return std::nullopt;
  return result<int64_t>{expected + 1};
}

result<std::vector<event>> replay_events(connection& c, const std::string& pid, int64_t from, int64_t to,
                                         uint64_t max) {
  std::vector<event> out;
  auto limit = replay_limit(from, to, max);
  if (limit == 0)
    return out;
  auto what = "replay '" + pid + "'";
  auto r = c.run(stmt::replay, params{}.text(pid).int64(from).int64(to).int64(limit), what);
  if (!r.ok())
    return r.error();
  auto* res = r.value().get();
  auto n = PQntuples(res);
  out.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    row_reader row{res, i};
    event e;
    e.seq = row.int64(0);
    e.type = row.bytes(1);
    e.payload = row.bytes(2);
    e.metadata = row.bytes(3);
    if (row.bad())
      return bad_row(what);
    out.push_back(std::move(e));
  }
  return out;
}

status delete_events(connection& c, const std::string& pid, int64_t to) {
  auto highest = read_highest(c, pid);
  if (!highest.ok())
    return highest.error();
  auto upto = std::min(to, highest.value());
  if (upto <= 0)
    return {};
  // journal_highest keeps its row: deletion never lowers the fence.
  if (auto r = c.run(stmt::delete_events, params{}.text(pid).int64(upto), "delete events of '" + pid + "'"); !r.ok())
    return r.error();
  return {};
}

status save_snapshot_row(connection& c, const std::string& pid, const snapshot& s) {
  auto r = c.run(stmt::save_snapshot, params{}.text(pid).int64(s.seq).text(s.type).bytes(s.payload),
                 "save snapshot of '" + pid + "'");
  return r.ok() ? status{} : r.error();
}

result<std::optional<snapshot>> load_snapshot_row(connection& c, const std::string& pid) {
  auto what = "load snapshot of '" + pid + "'";
  auto r = c.run(stmt::load_snapshot, params{}.text(pid), what);
  if (!r.ok())
    return r.error();
  if (PQntuples(r.value().get()) == 0)
    return std::optional<snapshot>{};
  row_reader row{r.value().get(), 0};
  snapshot s;
  s.seq = row.int64(0);
  s.type = row.bytes(1);
  s.payload = row.bytes(2);
  if (row.bad())
    return bad_row(what);
  return std::optional<snapshot>{std::move(s)};
}

status delete_snapshot_rows(connection& c, const std::string& pid, int64_t to) {
  auto r = c.run(stmt::delete_snapshots, params{}.text(pid).int64(to), "delete snapshots of '" + pid + "'");
  return r.ok() ? status{} : r.error();
}

result<std::optional<stored_value>> get_value_row(connection& c, const std::string& key) {
  auto what = "get value '" + key + "'";
  auto r = c.run(stmt::get_value, params{}.text(key), what);
  if (!r.ok())
    return r.error();
  if (PQntuples(r.value().get()) == 0)
    return std::optional<stored_value>{};
  row_reader row{r.value().get(), 0};
  stored_value v;
  v.type = row.bytes(0);
  v.payload = row.bytes(1);
  v.version = row.int64(2);
  if (row.bad())
    return bad_row(what);
  return std::optional<stored_value>{std::move(v)};
}

result<int64_t> read_version(connection& c, const std::string& key) {
  auto what = "read version of '" + key + "'";
  auto r = c.run(stmt::value_version, params{}.text(key), what);
  if (!r.ok())
    return r.error();
  if (PQntuples(r.value().get()) == 0)
    return int64_t{0};
  row_reader row{r.value().get(), 0};
  auto version = row.int64(0);
  if (row.bad())
    return bad_row(what);
  return version;
}

// After a conditional write changed no row: the conflict, with the version actually found.
status version_conflict(connection& c, const char* what, const std::string& key, int64_t expected) {
  auto current = read_version(c, key);
  if (!current.ok())
    return current.error();
  if (auto st = check_version(what, key, expected, current.value()); !st.ok())
    return st;
  return {status_code::conflict, std::string{what} + " '" + key + "': another writer changed the value concurrently"};
}

result<int64_t> put_value_row(connection& c, const std::string& key, const std::string& type,
                              const std::string& payload, int64_t expected) {
  if (expected < 0)
    return check_version("put", key, expected, 0);
  auto what = "put value '" + key + "'";
  auto r = expected == 0
               ? c.run(stmt::insert_value, params{}.text(key).text(type).bytes(payload), what)
               : c.run(stmt::update_value, params{}.text(key).text(type).bytes(payload).int64(expected), what);
  if (!r.ok())
    return r.error();
  if (affected_rows(r.value()) != 1)
    return version_conflict(c, "put", key, expected);
  return expected + 1;
}

status delete_value_row(connection& c, const std::string& key, int64_t expected) {
  if (expected < 0)
    return check_version("delete", key, expected, 0);
  if (expected == 0) {
    // Deleting an absent key is a no-op, but only if it is absent.
    auto current = read_version(c, key);
    if (!current.ok())
      return current.error();
    return check_version("delete", key, expected, current.value());
  }
  auto r = c.run(stmt::delete_value, params{}.text(key).int64(expected), "delete value '" + key + "'");
  if (!r.ok())
    return r.error();
  if (affected_rows(r.value()) != 1)
    return version_conflict(c, "delete", key, expected);
  return {};
}

// -- Idempotency keys -------------------------------------------------------------------------------------------------

// Pruning deletes at most this many expired records per write that records one, and runs again with the next such write
// while it finds a full batch, otherwise after prune_interval: the cost is bounded per write, and the table is bounded
// by what the retention keeps plus what arrives between two prunes.
constexpr int64_t prune_batch = 1000;
constexpr std::chrono::milliseconds prune_interval{60'000};

status record_applied(connection& c, applied_scope scope, const std::string& entity, const applied_command& applied,
                      std::chrono::milliseconds retention, const std::optional<write_fence>& fence) {
  auto now = clock_type::now();
  if (now >= c.next_prune) {
    auto r = c.run(stmt::prune_applied, params{}.int64(retention.count()).int64(prune_batch),
                   "delete expired idempotency keys");
    if (!r.ok())
      return r.error();
    c.next_prune = affected_rows(r.value()) >= prune_batch ? now : now + std::min(prune_interval, retention);
  }
  auto r = c.run(
      stmt::record_applied,
      params{}.text(entity).int64(static_cast<int64_t>(scope)).bytes(applied.key).bytes(applied.reply).fence(fence),
      "record idempotency key of '" + entity + "'");
  return r.ok() ? status{} : r.error();
}

result<std::optional<std::string>> find_applied_row(connection& c, applied_scope scope, const std::string& entity,
                                                    const std::string& key, std::chrono::milliseconds retention) {
  auto what = "find idempotency key of '" + entity + "'";
  auto r = c.run(stmt::find_applied,
                 params{}.text(entity).int64(static_cast<int64_t>(scope)).bytes(key).int64(retention.count()), what);
  if (!r.ok())
    return r.error();
  if (PQntuples(r.value().get()) == 0)
    return std::optional<std::string>{};
  row_reader row{r.value().get(), 0};
  auto reply = row.bytes(0);
  if (row.bad())
    return bad_row(what);
  return std::optional<std::string>{std::move(reply)};
}

status ping_db(connection& c) {
  auto r = c.run(stmt::ping, params{}, "ping");
  return r.ok() ? status{} : r.error();
}

// -- Cluster coordination ---------------------------------------------------------------------------------------------

std::string shard_what(const char* verb, const std::string& cluster, uint32_t shard) {
  return std::string{verb} + " shard " + std::to_string(shard) + " of cluster '" + cluster + "'";
}

// The writer's fence check (refuse_stale_writes); see stmt::lock_shard_epochs.
result<shard_epochs> read_shard_epochs(connection& c, const std::string& cluster, const std::vector<uint32_t>& shards) {
  std::string list = "{";
  for (auto shard : shards) {
    if (list.size() > 1)
      list += ',';
    list += std::to_string(shard);
  }
  list += "}";
  auto what = "check the shard epochs of cluster '" + cluster + "'";
  auto r = c.run(stmt::lock_shard_epochs, params{}.text(cluster).text(list), what);
  if (!r.ok())
    return r.error();
  shard_epochs out;
  auto* res = r.value().get();
  for (int i = 0; i < PQntuples(res); ++i) {
    row_reader row{res, i};
    auto shard = row.int64(0);
    auto epoch = row.int64(1);
    if (row.bad())
      return bad_row(what);
    out.emplace_back(static_cast<uint32_t>(shard), epoch);
  }
  return out;
}

// Claims and releases lock the shard row first (FOR UPDATE): they wait for the batches that hold it share-locked for
// their fence checks, and for each other, and decide on the row as those left it. Member rows are read unlocked: a
// renewal that commits right after a claim's decision changes nothing the fencing of writes depends on.
result<std::optional<shard_row>> lock_shard_row(connection& c, const std::string& cluster, uint32_t shard) {
  auto what = shard_what("lock", cluster, shard);
  auto r = c.run(stmt::shard_for_update, params{}.text(cluster).int64(shard), what);
  if (!r.ok())
    return r.error();
  if (PQntuples(r.value().get()) == 0)
    return std::optional<shard_row>{};
  row_reader row{r.value().get(), 0};
  shard_row out{row.bytes(0), row.int64(1), row.int64(2)};
  if (row.bad())
    return bad_row(what);
  return std::optional<shard_row>{std::move(out)};
}

status write_shard_row(connection& c, const std::string& cluster, uint32_t shard, const shard_row& row) {
  auto r = c.run(stmt::set_shard,
                 params{}.text(cluster).int64(shard).text(row.owner).int64(row.owner_incarnation).int64(row.epoch),
                 shard_what("update", cluster, shard));
  return r.ok() ? status{} : r.error();
}

/// A member's row by `s` (get_member or member_for_update).
result<std::optional<member_row>> member_row_of(connection& c, stmt s, const std::string& cluster,
                                                const std::string& id) {
  auto what = "read member '" + id + "' of cluster '" + cluster + "'";
  auto r = c.run(s, params{}.text(cluster).text(id), what);
  if (!r.ok())
    return r.error();
  if (PQntuples(r.value().get()) == 0)
    return std::optional<member_row>{};
  row_reader row{r.value().get(), 0};
  auto incarnation = row.int64(0);
  auto state = parse_state(row.bytes(1));
  auto age = row.int64(2);
  if (row.bad() || !state)
    return bad_row(what);
  return std::optional<member_row>{member_row{incarnation, *state, age}};
}

result<std::optional<member_row>> read_member_row(connection& c, const std::string& cluster, const std::string& id) {
  return member_row_of(c, stmt::get_member, cluster, id);
}

// Renew and leave decide on the row they then change: see stmt::member_for_update.
result<std::optional<member_row>> lock_member_row(connection& c, const std::string& cluster, const std::string& id) {
  return member_row_of(c, stmt::member_for_update, cluster, id);
}

result<int64_t> count_of(connection& c, stmt s, const params& p, const std::string& what) {
  auto r = c.run(s, p, what);
  if (!r.ok())
    return r.error();
  row_reader row{r.value().get(), 0};
  auto n = PQntuples(r.value().get()) == 1 ? row.int64(0) : 0;
  if (PQntuples(r.value().get()) != 1 || row.bad())
    return bad_row(what);
  return n;
}

result<uint32_t> init_cluster_rows(connection& c, const std::string& cluster, uint32_t shards) {
  if (auto st = check_shard_count(cluster, shards); !st.ok())
    return st;
  auto what = "init cluster '" + cluster + "'";
  // A concurrent first init waits on the key, then inserts nothing; the read below, a statement of its own, sees
  // what the other one committed.
  auto inserted = c.run(stmt::insert_cluster, params{}.text(cluster).int64(shards), what);
  if (!inserted.ok())
    return inserted.error();
  if (affected_rows(inserted.value()) == 1) {
    if (auto r = c.run(stmt::insert_shards, params{}.text(cluster).int64(shards), what); !r.ok())
      return r.error();
  }
  auto recorded = count_of(c, stmt::cluster_shards, params{}.text(cluster), what);
  if (!recorded.ok())
    return recorded.error();
  return static_cast<uint32_t>(recorded.value());
}

result<int64_t> join_member(connection& c, const std::string& cluster, const std::string& id,
                            const std::string& address) {
  return count_of(c, stmt::join_member, params{}.text(cluster).text(id).text(address),
                  "join '" + id + "' to cluster '" + cluster + "'");
}

status stamp_renewal(connection& c, const std::string& cluster, const std::string& id) {
  auto r =
      c.run(stmt::renew_member, params{}.text(cluster).text(id), "renew '" + id + "' in cluster '" + cluster + "'");
  return r.ok() ? status{} : r.error();
}

// Only the incarnation itself claims shards for itself, and its operations run one at a time: the answer cannot turn
// from no to yes before leave has acted on it. (Others may take its shards meanwhile; then it just owns fewer.)
result<bool> owns_shards(connection& c, const std::string& cluster, const std::string& id, int64_t incarnation) {
  auto owned = count_of(c, stmt::count_owned, params{}.text(cluster).text(id).int64(incarnation),
                        "read the shards of '" + id + "' in cluster '" + cluster + "'");
  if (!owned.ok())
    return owned.error();
  return owned.value() > 0;
}

status set_member_state(connection& c, const std::string& cluster, const std::string& id, member_state state) {
  auto r = c.run(stmt::set_member_status, params{}.text(cluster).text(id).text(state_text(state)),
                 "update member '" + id + "' of cluster '" + cluster + "'");
  return r.ok() ? status{} : r.error();
}

// Liveness tokens: session advisory locks (coordination.hpp) on a session of their own beside the writing connection,
// never inside a transaction. Not on the writing connection itself: a member stopped (SIGSTOP, a VM paused) or cut off
// in the middle of a transaction has that session ended by the server 2 s later (idle_in_transaction_session_timeout,
// which keeps its row locks from holding everyone's claims), and with it the token, although the process lives and
// its lease may still run: the others would confirm it gone and take its shards while it could still answer reads.
// An idle session is only ended when the process dies (its kernel closes the socket) or the server goes. The key is
// the 64-bit name reinterpreted as a bigint.
namespace {
int64_t advisory_key(uint64_t key) {
  return static_cast<int64_t>(key);
}

/// The one boolean an advisory-lock function answers ("t" or "f" in the text result), or why it could not.
result<bool> advisory(connection& c, const char* sql, uint64_t key, const std::string& what) {
  auto r = c.exec(sql, params{}.int64(advisory_key(key)), what);
  if (!r.ok())
    return r.error();
  if (PQntuples(r.value().get()) != 1)
    return bad_row(what);
  return std::string_view{PQgetvalue(r.value().get(), 0, 0)} == "t";
}
}  // namespace

void hold_liveness(connection& c, uint64_t key) {
  // An idle session looks open until it is used, also after the server restarted or ended it: ask it (once per
  // renewal), so a token lost with its session is taken back within one renewal interval.
  if (c.token_session &&
      (c.token_session->lost() || !c.token_session->exec("SELECT 1", "check the liveness token session").ok())) {
    c.token_session.reset();  // its tokens went with it
    c.liveness.clear();
  }
  if (c.liveness.count(key) != 0)
    return;
  if (!c.token_session) {
    // Best effort, as the token itself: without it a crash costs the failure timeout. A bare session (it only
    // takes advisory locks, outside any transaction), named so that operators (and tests) tell it apart.
    auto opened = open_session(c.uri, c.where + " (liveness token session)", "actorstate liveness");
    if (!opened.ok())
      return;
    c.token_session = std::move(opened.value());
  }
  // Session-level: held until unlocked or the session ends; autocommit, so the session never idles in a transaction.
  auto held = advisory(*c.token_session, "SELECT pg_try_advisory_lock($1)", key, "take a liveness token");
  if (held.ok() && held.value())
    c.liveness.insert(key);
}

void release_liveness(connection& c, uint64_t key) {
  if (c.liveness.erase(key) == 0 || !c.token_session)
    return;
  static_cast<void>(advisory(*c.token_session, "SELECT pg_advisory_unlock($1)", key, "return a liveness token"));
}

// Transaction-level: taken only to learn that nobody holds the session lock, and gone at commit.
result<bool> liveness_free(connection& c, uint64_t key) {
  if (c.liveness.count(key) != 0)
    return false;  // this very member holds it (a member asking about itself)
  return advisory(c, "SELECT pg_try_advisory_xact_lock($1)", key, "probe a liveness token");
}

result<std::vector<member_record>> read_members(connection& c, const std::string& cluster) {
  auto what = "read the members of cluster '" + cluster + "'";
  auto r = c.run(stmt::list_members, params{}.text(cluster), what);
  if (!r.ok())
    return r.error();
  std::vector<member_record> out;
  auto* res = r.value().get();
  for (int i = 0; i < PQntuples(res); ++i) {
    row_reader row{res, i};
    member_record m;
    m.id = row.bytes(0);
    m.incarnation = row.int64(1);
    m.address = row.bytes(2);
    auto state = parse_state(row.bytes(3));
    m.age_ms = row.int64(4);
    if (row.bad() || !state)
      return bad_row(what);
    m.status = public_status(*state);
    out.push_back(std::move(m));
  }
  return out;
}

result<std::vector<shard_owner>> read_shard_owners(connection& c, const std::string& cluster) {
  auto what = "read the shards of cluster '" + cluster + "'";
  auto r = c.run(stmt::list_shards, params{}.text(cluster), what);
  if (!r.ok())
    return r.error();
  std::vector<shard_owner> out;
  auto* res = r.value().get();
  for (int i = 0; i < PQntuples(res); ++i) {
    row_reader row{res, i};
    shard_owner o;
    o.shard = static_cast<uint32_t>(row.int64(0));
    o.owner = row.bytes(1);
    o.owner_incarnation = row.int64(2);
    o.epoch = row.int64(3);
    if (row.bad())
      return bad_row(what);
    out.push_back(std::move(o));
  }
  return out;
}

// -- The engine -------------------------------------------------------------------------------------------------------

/// The connections of the shared engine: one writer and reader_count readers, each re-opened when lost.
class postgres_core : public queued_engine<postgres_core, connection> {
public:
  postgres_core(size_t max_batch, std::string cluster, std::unique_ptr<connection_slot> writer,
                std::vector<std::unique_ptr<connection_slot>> readers)
      : queued_engine(plugin_name, max_batch, readers.size(), std::move(cluster)),
        writer_slot_(std::move(writer)),
        reader_slots_(std::move(readers)) {}

private:
  friend queued_engine;

  void release_connections(std::unique_lock<std::mutex>& lock) {
    auto writer = std::move(writer_slot_);
    auto readers = std::move(reader_slots_);
    lock.unlock();
    writer.reset();
    readers.clear();
  }

  void run_read(size_t index, op& o) { run_read(*reader_slots_[index], o); }

  // A read that finds its connection gone (the server restarted since its last use) is retried once on a new one:
  // reads have no effect, so running one twice is harmless.
  static void run_read(connection_slot& slot, op& o) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      status error;
      bool reused = false;
      auto* c = slot.acquire(error, reused);
      if (c == nullptr) {
        o.fail(std::move(error));
        return;
      }
      static_cast<void>(o.execute(*c));  // the outcome stays in the operation, which completes with it
      if (!c->lost())
        return;
      slot.drop();
      if (!reused)
        return;
    }
  }

  // Group commit: one transaction for the batch. The common writes are pipelined: sent together, their results read
  // together, one round trip for all of them. Other writes run one at a time, each in a savepoint, so a rejected one
  // is undone alone. If a pipelined write is rejected or fails, the transaction is rolled back and the same writes run
  // again one at a time, for their exact outcomes. A lost connection ends the transaction: its operations fail
  // (unavailable before COMMIT was sent, unknown_outcome after), and the rest of the batch continues in a new
  // transaction on a new connection.
  void run_batch(std::vector<op*>& batch) {
    auto& slot = *writer_slot_;
    size_t i = 0;
    bool retried = false;
    bool pipelining = true;
    while (i < batch.size()) {
      status error;
      bool reused = false;
      auto* c = slot.acquire(error, reused);
      if (c == nullptr) {
        for (; i < batch.size(); ++i)
          batch[i]->fail(error);
        return;
      }
      // A connection that died while idle shows up in the transaction's first round, before any COMMIT: it is then
      // replaced once, transparently.
      auto retry_on_new_connection = [&] {
        slot.drop();
        if (!reused || retried)
          return false;
        retried = true;
        return true;
      };
      auto first = i;
      std::optional<status> broken;
      std::optional<status> begin_failed;
      bool redo = false;
      bool begun = false;
      // Fenced writes need their shards' epochs, read and share-locked inside the transaction before they run
      // (refuse_stale_writes, stmt::lock_shard_epochs): BEGIN then goes alone instead of with the first round.
      bool fenced = has_fenced_write(batch, i);
      if (!pipelining || fenced) {
        if (auto r = c->exec("BEGIN", "begin transaction"); !r.ok()) {
          if (c->lost() && retry_on_new_connection())
            continue;
          for (; i < batch.size(); ++i)
            batch[i]->fail(r.error());
          return;
        }
        begun = true;
      }
      if (fenced) {
        auto st = refuse_stale_writes(batch, i, fence_cluster(), [&](const std::vector<uint32_t>& shards) {
          return read_shard_epochs(*c, fence_cluster(), shards);
        });
        if (!st.ok()) {
          if (c->lost() && retry_on_new_connection())
            continue;
          bool lost = c->lost();
          if (lost || !c->exec("ROLLBACK", "rollback").ok())
            slot.drop();
          if (lost) {
            for (; i < batch.size(); ++i)
              batch[i]->fail(st);
            return;
          }
          // The server refused the read itself (a cluster name that is not UTF-8, a lock timeout): the fenced writes
          // fail with its error, and the others run in a new transaction.
          fail_fenced_writes(batch, i, st);
          continue;
        }
      }
      while (i < batch.size() && !broken && !redo && !begin_failed) {
        size_t sent = 0;
        if (pipelining) {
          // BEGIN travels in the first round, with the writes.
          auto round = run_pipelined(*c, batch, i, !begun, broken, redo);
          if (round.begin_failed) {
            begin_failed = round.begin_failed;
            break;
          }
          begun = true;
          sent = round.ran;
        }
        if (sent > 0)
          i += sent;
        else if (!broken)
          broken = run_in_savepoint(*c, *batch[i++]);
      }
      if (begin_failed) {
        if (c->lost() && retry_on_new_connection())
          continue;
        if (c->lost())
          slot.drop();
        for (; i < batch.size(); ++i)
          batch[i]->fail(*begin_failed);
        return;
      }
      if (redo && !broken) {
        if (c->lost() || !c->exec("ROLLBACK", "rollback").ok())
          slot.drop();
        i = first;
        pipelining = false;
        continue;
      }
      if (broken) {
        status rolled_back{status_code::unavailable,
                           "rolled back with a failed write in the same transaction: " + broken->message()};
        for (auto j = first; j < i; ++j)
          if (batch[j]->ok())
            batch[j]->fail(rolled_back);
        // A session that cannot roll back is not trusted with the next transaction.
        if (c->lost() || !c->exec("ROLLBACK", "rollback").ok())
          slot.drop();
        continue;
      }
      commit(slot, *c, batch, first, i);
    }
  }

  static constexpr size_t pipeline_depth = 256;

  struct pipeline_round {
    size_t ran = 0;                      ///< Writes sent and read (their outcomes are set).
    /// The round that opened the transaction failed before COMMIT could be sent (the session died, or BEGIN was
    /// refused): nothing committed, and the writes' outcomes are unset.
    std::optional<status> begin_failed;
  };

  // Pipelines the writes from batch[from] on that have a pipelined form (up to pipeline_depth of them), preceded by
  // BEGIN if `begin`; runs none if batch[from] has no pipelined form. Sets `redo` if one of them must run alone, and
  // `broken` (as every one's outcome) if the session died after BEGIN answered.
  static pipeline_round run_pipelined(connection& c, std::vector<op*>& batch, size_t from, bool begin,
                                      std::optional<status>& broken, bool& redo) {
    pipeline_round round;
    auto begin_lost = [&] {
      round.begin_failed =
          status{status_code::unavailable, "connection lost in the transaction's first round, before COMMIT"};
      return round;
    };
    size_t n = 0;
    if (c.begin_pipeline() && (!begin || c.send_begin())) {
      // libpq blocks while sending; the server must meanwhile have room to write the results it has not sent yet.
      // A few dozen bytes per statement and at most `pipeline_depth` statements stay far below any socket buffer.
      while (from + n < batch.size() && n < pipeline_depth && batch[from + n]->send(c))
        ++n;
      if (n == 0 && !begin && !c.lost()) {
        // Nothing was queued, so leaving pipeline mode cannot fail on a live session.
        if (c.end_pipeline_unused())
          return round;
      }
      if (!c.lost() && c.sync()) {
        if (begin && !c.receive_count()) {
          if (c.lost())
            return begin_lost();
          // A refused BEGIN skips everything queued after it; read it all, then report.
          for (size_t k = 0; k < n && !c.lost(); ++k)
            (void)c.receive_count();
          if (!c.lost())
            c.end_pipeline();
          round.begin_failed = status{status_code::unavailable, "the server refused BEGIN"};
          return round;
        }
        for (size_t k = 0; k < n; ++k)
          if (!batch[from + k]->receive(c))
            redo = true;  // keep reading: every statement's results must be consumed
        if (!c.lost())
          c.end_pipeline();
      }
    }
    if (c.lost()) {
      if (begin)
        return begin_lost();  // no COMMIT was sent, so nothing of it can have committed
      broken = status{status_code::unavailable, "connection lost during a pipelined transaction"};
      n = std::max<size_t>(n, 1);
      for (size_t k = 0; k < n; ++k)
        batch[from + k]->fail(*broken);
    }
    round.ran = n;
    return round;
  }

  // Returns the failure that broke the transaction (connection lost or a savepoint command failed), after setting it
  // as the operation's outcome; a rejected operation is rolled back alone and counts as handled.
  static std::optional<status> run_in_savepoint(connection& c, op& o) {
    auto broken = [&](status st) {
      if (st.code() != status_code::unavailable)
        st = status{status_code::unavailable, st.message()};
      o.fail(st);
      return std::optional<status>{std::move(st)};
    };
    if (auto r = c.exec("SAVEPOINT op", "savepoint"); !r.ok())
      return broken(r.error());
    auto st = o.execute(c);
    if (c.lost())
      return broken(st);
    if (!st.ok()) {
      if (auto r = c.exec("ROLLBACK TO SAVEPOINT op", "rollback to savepoint"); !r.ok())
        return broken(r.error());
    }
    if (auto r = c.exec("RELEASE SAVEPOINT op", "release savepoint"); !r.ok())
      return broken(r.error());
    return std::nullopt;
  }

  static void commit(connection_slot& slot, connection& c, std::vector<op*>& batch, size_t first, size_t end) {
    auto r = c.exec("COMMIT", "commit");
    status failure;
    if (r.ok()) {
      if (std::string_view{PQcmdStatus(r.value().get())} == "COMMIT")
        return;
      failure = status{status_code::unavailable, "commit: the server rolled the transaction back"};
    } else if (c.lost()) {
      // COMMIT was sent; whether the server received and executed it cannot be known now.
      failure = status{status_code::unknown_outcome, r.error().message() + " (connection lost after sending COMMIT)"};
      slot.drop();
    } else {
      // The server answered: a failed COMMIT ends the transaction without committing it.
      failure = status{status_code::unavailable, r.error().message()};
    }
    for (auto j = first; j < end; ++j)
      if (batch[j]->ok())
        batch[j]->fail(failure);
  }

  std::unique_ptr<connection_slot> writer_slot_;
  std::vector<std::unique_ptr<connection_slot>> reader_slots_;
};

using postgres_store = queued_store<postgres_core>;

}  // namespace

result<std::shared_ptr<store>> open_postgres_store(const std::string& uri, const store_options& options) {
  auto where = describe(uri);
  if (!where.ok())
    return where.error();
  auto writer = connect(uri, where.value(), true);
  if (!writer.ok())
    return writer.error();
  auto writer_slot = std::make_unique<connection_slot>(uri, where.value(), true, std::move(writer.value()));
  std::vector<std::unique_ptr<connection_slot>> reader_slots;
  for (size_t i = 0; i < reader_count; ++i) {
    auto reader = connect(uri, where.value(), false);
    if (!reader.ok())
      return reader.error();
    reader_slots.push_back(std::make_unique<connection_slot>(uri, where.value(), false, std::move(reader.value())));
  }
  auto core = std::make_shared<postgres_core>(options.max_batch, options.cluster, std::move(writer_slot),
                                              std::move(reader_slots));
  core->start();
  return std::shared_ptr<store>{std::make_shared<postgres_store>(std::move(core), options.idempotency_retention)};
}

}  // namespace actorstate::persistence::detail
