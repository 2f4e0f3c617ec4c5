// SQLite-specific behaviour: file validation, schema versioning, pragmas, group commit and storage faults.
#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "fault_vfs.hpp"
#include "test_support.hpp"

using namespace actorstate;
using namespace actorstate::persistence;
using namespace actorstate::persistence::testing;

namespace {

std::shared_ptr<store> open_sqlite(const std::string& path, const store_options& options = {}) {
  return open_store_or_fail("sqlite:" + path, options);
}

// A plain SQLite connection for looking at or tampering with a store's file from outside.
class raw_db {
public:
  explicit raw_db(const std::string& path) {
    REQUIRE(sqlite3_open(path.c_str(), &db_) == SQLITE_OK);
    sqlite3_busy_timeout(db_, 5000);
  }
  ~raw_db() { sqlite3_close(db_); }

  raw_db(const raw_db&) = delete;
  raw_db& operator=(const raw_db&) = delete;

  int try_exec(const std::string& sql) { return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr); }

  void exec(const std::string& sql) {
    int rc = try_exec(sql);
    REQUIRE_MESSAGE(rc == SQLITE_OK, sql << ": " << sqlite3_errmsg(db_));
  }

  std::string text(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    REQUIRE(sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) == SQLITE_OK);
    std::string out;
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0) != nullptr)
      out = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return out;
  }

private:
  sqlite3* db_ = nullptr;
};

void write_new_file(const std::string& path, const std::string& bytes) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

void overwrite_at(const std::string& path, std::streamoff offset, const std::string& bytes) {
  std::fstream out{path, std::ios::binary | std::ios::in | std::ios::out};
  out.seekp(offset);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

std::string random_bytes(size_t n) {
  std::mt19937 gen{42};
  std::string out(n, '\0');
  for (auto& ch : out)
    ch = static_cast<char>(gen() & 0xff);
  return out;
}

}  // namespace

TEST_CASE("sqlite.creates_parent_directories") {
  temp_dir dir;
  auto path = dir.file("a/b/c/store.db");
  sync_store s{open_sqlite(path)};
  REQUIRE_OK(s.append("p", evs(1, 2)));
  CHECK(std::filesystem::exists(path));
}

TEST_CASE("sqlite.random_bytes_file_is_corrupt") {
  temp_dir dir;
  auto path = dir.file("garbage.db");
  write_new_file(path, random_bytes(4096));
  auto s = open_store("sqlite:" + path);
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code() == status_code::data_loss);
  CHECK_MESSAGE(s.error().message().find(path) != std::string::npos, s.error().message());
}

TEST_CASE("sqlite.damaged_page_is_corrupt") {
  temp_dir dir;
  auto path = dir.file("store.db");
  {
    sync_store s{open_sqlite(path)};
    for (int64_t seq = 1; seq <= 200; seq += 10) {
      std::vector<event> batch;
      for (int64_t i = seq; i < seq + 10; ++i)
        batch.push_back(ev(i, std::string(900, static_cast<char>('a' + i % 26))));
      REQUIRE_OK(s.append("p", std::move(batch)));
    }
  }  // closing checkpoints the WAL into the database file
  auto size = std::filesystem::file_size(path);
  REQUIRE(size > 16 * 4096);
  // Smash the b-tree page header of a page in the middle of the journal table.
  overwrite_at(path, static_cast<std::streamoff>((size / 4096 / 2) * 4096), std::string(64, '\xff'));
  SUBCASE("refused at open by the quick check") {
    auto s = open_store("sqlite:" + path);
    REQUIRE_FALSE(s.ok());
    CHECK_MESSAGE(s.error().code() == status_code::data_loss, s.error().to_string());
    CHECK_MESSAGE(s.error().message().find(path) != std::string::npos, s.error().message());
  }
  SUBCASE("without the quick check, the reads that reach it fail") {
    store_options options;
    options.sqlite_quick_check = false;
    auto opened = open_store("sqlite:" + path, options);
    REQUIRE(opened.ok());
    sync_store s{std::move(opened.value())};
    auto replayed = s.replay("p");
    REQUIRE_FALSE(replayed.ok());
    CHECK_MESSAGE(replayed.error().code() == status_code::data_loss, replayed.error().to_string());
  }
}

TEST_CASE("sqlite.schema_is_versioned_and_in_wal_mode") {
  temp_dir dir;
  auto path = dir.file("store.db");
  {
    sync_store s{open_sqlite(path)};
    REQUIRE_OK(s.append("p", evs(1, 1)));
  }
  raw_db db{path};
  CHECK(db.text("PRAGMA user_version") == "4");
  CHECK(db.text("PRAGMA application_id") == std::to_string(0x41435354));
  CHECK(db.text("PRAGMA journal_mode") == "wal");
  for (const char* table : {"journal", "journal_meta", "snapshots", "kv", "cluster_meta", "cluster_members",
                            "cluster_shards", "applied_commands", "cluster_shard_history"})
    CHECK_MESSAGE(db.text(std::string{"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '"} + table +
                          "'") == "1",
                  table);
  // The fence is a uniqueness constraint, not only a check in code.
  CHECK(db.try_exec(
            "INSERT INTO journal (persistence_id, seq, type, payload, metadata) VALUES ('p', 1, 't', x'', x'')") ==
        SQLITE_CONSTRAINT);
}

TEST_CASE("sqlite.reopening_current_schema_keeps_data") {
  temp_dir dir;
  auto path = dir.file("store.db");
  for (int round = 1; round <= 3; ++round) {
    sync_store s{open_sqlite(path)};
    REQUIRE_OK(s.append("p", {ev(round)}));
  }
  sync_store s{open_sqlite(path)};
  CHECK(value_of(s.replay("p")) == evs(1, 3));
}

TEST_CASE("sqlite.version_1_file_is_migrated") {
  // A file as the first release left it: the schema of version 1 only.
  temp_dir dir;
  auto path = dir.file("store.db");
  {
    sync_store s{open_sqlite(path)};
    REQUIRE_OK(s.append("p", evs(1, 2)));
  }
  raw_db{path}.exec(
      "DROP TABLE cluster_meta; DROP TABLE cluster_members; DROP TABLE cluster_shards;"
      " DROP TABLE applied_commands; ALTER TABLE journal DROP COLUMN shard; ALTER TABLE journal DROP COLUMN epoch;"
      " DROP TABLE cluster_shard_history;"
      " PRAGMA user_version = 1");
  store_options options;
  options.cluster = "c1";
  sync_store s{open_sqlite(path, options)};
  CHECK(raw_db{path}.text("PRAGMA user_version") == "4");
  CHECK(value_of(s.replay("p")) == evs(1, 2));
  sync_cluster c{s, "c1"};
  CHECK(value_of(c.init(2)) == 2);
  REQUIRE(value_of(c.join("a")) == 1);
  REQUIRE_OK(s.append("p", {ev(3)}, write_fence{0, value_of(c.claim(0, "a", 1, 0))}));
}

TEST_CASE("sqlite.version_2_file_is_migrated") {
  // A file as the cluster release left it: no idempotency records.
  temp_dir dir;
  auto path = dir.file("store.db");
  {
    sync_store s{open_sqlite(path)};
    REQUIRE_OK(s.append("p", evs(1, 2)));
  }
  raw_db{path}.exec(
      "DROP TABLE applied_commands; ALTER TABLE journal DROP COLUMN shard; ALTER TABLE journal DROP COLUMN epoch;"
      " DROP TABLE cluster_shard_history;"
      " PRAGMA user_version = 2");
  sync_store s{open_sqlite(path)};
  CHECK(raw_db{path}.text("PRAGMA user_version") == "4");
  CHECK(value_of(s.replay("p")) == evs(1, 2));
  REQUIRE_OK(s.append("p", {ev(3)}, write_options{unfenced, applied_command{"k1", "r"}}));
  CHECK(value_of(s.find_applied(applied_scope::journal, "p", "k1")) == std::optional<std::string>{"r"});
}

TEST_CASE("sqlite.version_3_file_is_migrated") {
  // A file as the idempotency release left it: writes do not record their fence.
  temp_dir dir;
  auto path = dir.file("store.db");
  {
    sync_store s{open_sqlite(path)};
    REQUIRE_OK(s.append("p", evs(1, 2), write_options{unfenced, applied_command{"k1", "r"}}));
  }
  raw_db{path}.exec(
      "ALTER TABLE journal DROP COLUMN shard; ALTER TABLE journal DROP COLUMN epoch;"
      " DROP TABLE cluster_shard_history;"
      " ALTER TABLE applied_commands DROP COLUMN shard; ALTER TABLE applied_commands DROP COLUMN epoch;"
      " PRAGMA user_version = 3");
  store_options options;
  options.cluster = "c1";
  sync_store s{open_sqlite(path, options)};
  CHECK(raw_db{path}.text("PRAGMA user_version") == "4");
  CHECK(value_of(s.replay("p")) == evs(1, 2));
  CHECK(value_of(s.find_applied(applied_scope::journal, "p", "k1")) == std::optional<std::string>{"r"});
  sync_cluster c{s, "c1"};
  CHECK(value_of(c.init(2)) == 2);
  REQUIRE(value_of(c.join("a")) == 1);
  auto epoch = value_of(c.claim(1, "a", 1, 0));
  REQUIRE_OK(s.append("p", {ev(3)}, write_options{write_fence{1, epoch}, applied_command{"k2", "r"}}));
  CHECK(raw_db{path}.text("SELECT shard || '/' || epoch FROM journal WHERE seq = 3") == "1/" + std::to_string(epoch));
}

TEST_CASE("sqlite.fenced_writes_record_their_shard_and_epoch") {
  temp_dir dir;
  auto path = dir.file("store.db");
  store_options options;
  options.cluster = "c1";
  sync_store s{open_sqlite(path, options)};
  audit_sample sample{s};
  auto first = sample.first, second = sample.second;
  raw_db db{path};
  auto e1 = std::to_string(first), e2 = std::to_string(second);
  CHECK(db.text("SELECT group_concat(x, ' ') FROM (SELECT seq || ':' || shard || '/' || epoch AS x FROM journal"
                " WHERE persistence_id = 'p' ORDER BY seq)") == "1:3/" + e1 + " 2:3/" + e1 + " 3:3/" + e2);
  CHECK(db.text("SELECT count(*) FROM journal WHERE persistence_id = 'unfenced' AND shard IS NULL"
                " AND epoch IS NULL") == "1");
  CHECK(db.text("SELECT group_concat(x, ' ') FROM (SELECT CAST(key AS TEXT) || ':' ||"
                " coalesce(shard || '/' || epoch, '-') AS x FROM applied_commands ORDER BY rowid)") ==
        "k1:3/" + e1 + " k2:3/" + e1 + " k3:- k4:3/" + e2);
  // Every change of owner is in the history, and its marks separate the writes of earlier epochs from later ones.
  CHECK(db.text("SELECT group_concat(x, ' ') FROM (SELECT epoch || ':' || owner || '/' || owner_incarnation AS x"
                " FROM cluster_shard_history WHERE cluster = 'c1' AND shard = 3 ORDER BY epoch)") ==
        e1 + ":a/1 " + std::to_string(first + 1) + ":/0 " + e2 + ":b/1");
  CHECK(db.text("SELECT count(*) FROM journal w JOIN cluster_shard_history h ON h.shard = w.shard"
                " WHERE (h.epoch <= w.epoch AND w.ordering <= h.journal_mark)"
                " OR (h.epoch > w.epoch AND w.ordering > h.journal_mark)") == "0");
  CHECK(db.text("SELECT count(*) FROM applied_commands w JOIN cluster_shard_history h ON h.shard = w.shard"
                " WHERE (h.epoch <= w.epoch AND w.rowid <= h.applied_mark)"
                " OR (h.epoch > w.epoch AND w.rowid > h.applied_mark)") == "0");
}

TEST_CASE("sqlite.expired_idempotency_records_are_deleted_by_later_keyed_writes") {
  temp_dir dir;
  auto path = dir.file("store.db");
  store_options options;
  options.idempotency_retention = std::chrono::milliseconds{200};
  sync_store s{open_sqlite(path, options)};
  for (int i = 1; i <= 3; ++i)
    REQUIRE_OK(s.append("p", {ev(i)}, write_options{unfenced, applied_command{"k" + std::to_string(i), "r"}}));
  CHECK(raw_db{path}.text("SELECT count(*) FROM applied_commands") == "3");
  std::this_thread::sleep_for(std::chrono::milliseconds{300});
  REQUIRE_OK(s.append("q", {ev(1)}, write_options{unfenced, applied_command{"k", "r"}}));
  CHECK(raw_db{path}.text("SELECT count(*) FROM applied_commands") == "1");
  // A write without a key prunes nothing, and costs nothing extra.
  std::this_thread::sleep_for(std::chrono::milliseconds{300});
  REQUIRE_OK(s.append("q", {ev(2)}));
  CHECK(raw_db{path}.text("SELECT count(*) FROM applied_commands") == "1");
}

TEST_CASE("sqlite.stores_opened_together_on_a_new_file_all_open") {
  // Cluster members on one host started at once: each may create the schema or find it created, never a half of it.
  for (int round = 0; round < 20; ++round) {
    temp_dir dir;
    auto path = dir.file("store.db");
    std::vector<std::future<result<std::shared_ptr<store>>>> opened;
    for (int i = 0; i < 4; ++i)
      opened.push_back(std::async(std::launch::async, [path] { return open_store("sqlite:" + path); }));
    for (auto& o : opened) {
      auto s = o.get();
      REQUIRE_MESSAGE(s.ok(), "round " << round << ": " << s.error().to_string());
      s.value()->close();
    }
  }
}

TEST_CASE("sqlite.newer_schema_version_is_refused") {
  temp_dir dir;
  auto path = dir.file("store.db");
  {
    sync_store s{open_sqlite(path)};
    REQUIRE_OK(s.append("p", evs(1, 1)));
  }
  raw_db{path}.exec("PRAGMA user_version = 99");
  auto s = open_store("sqlite:" + path);
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code() == status_code::data_loss);
  CHECK_MESSAGE(s.error().message().find("schema version 99 is newer") != std::string::npos, s.error().message());
  CHECK(s.error().message().find(path) != std::string::npos);
}

TEST_CASE("sqlite.foreign_database_is_refused") {
  temp_dir dir;
  auto path = dir.file("other.db");
  raw_db{path}.exec("CREATE TABLE accounts (id INTEGER PRIMARY KEY)");
  auto s = open_store("sqlite:" + path);
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code() == status_code::data_loss);
  CHECK_MESSAGE(s.error().message().find("not an actorstate database") != std::string::npos, s.error().message());
  // Left as it was: still in rollback-journal mode.
  CHECK(raw_db{path}.text("PRAGMA journal_mode") == "delete");
}

TEST_CASE("sqlite.invalid_options_and_uris") {
  temp_dir dir;
  store_options bad_sync;
  bad_sync.sqlite_synchronous = "SOMETIMES";
  CHECK(open_store("sqlite:" + dir.file("a.db"), bad_sync).error().code() == status_code::invalid_argument);
  store_options bad_vfs;
  bad_vfs.sqlite_vfs = "no-such-vfs";
  CHECK(open_store("sqlite:" + dir.file("b.db"), bad_vfs).error().code() == status_code::invalid_argument);
  CHECK(open_store("sqlite:").error().code() == status_code::invalid_argument);
  CHECK(open_store("sqlite::memory:").error().code() == status_code::invalid_argument);
  CHECK(open_store("mysql://localhost/db").error().code() == status_code::invalid_argument);
  store_options lower_case;
  lower_case.sqlite_synchronous = "normal";
  CHECK(open_store("sqlite:" + dir.file("c.db"), lower_case).ok());
}

TEST_CASE("sqlite.synchronous_option_controls_fsync") {
  auto& vfs = fault_vfs();
  temp_dir dir;
  auto commit_syncs = [&](const char* synchronous, const std::string& file) {
    store_options options;
    options.sqlite_vfs = fault_vfs_name;
    options.sqlite_synchronous = synchronous;
    sync_store s{open_sqlite(dir.file(file), options)};
    vfs.reset();
    for (int64_t seq = 1; seq <= 5; ++seq)
      REQUIRE_OK(s.append("p", {ev(seq)}));
    return vfs.syncs.load();
  };
  CHECK(commit_syncs("OFF", "off.db") == 0);
  CHECK(commit_syncs("FULL", "full.db") >= 5);
}

/// Queues `group` (a mixed_group or a fenced_group) behind a stalled writer, runs `while_stalled`, lets the writer go,
/// and checks the group's outcomes and that its writes took only a few commits. The store must use the fault VFS.
template <class Group, class F>
void check_group_commit(sync_store& s, const std::string& path, Group& group, F while_stalled) {
  auto& vfs = fault_vfs();
  raw_db blocker{path};
  // Hold the database's write lock so that the store's writer stalls and the following writes pile up.
  blocker.exec("BEGIN IMMEDIATE");
  group.queue(s);
  while_stalled();
  CHECK_FALSE(group.good.back().ready());
  vfs.reset();
  blocker.exec("COMMIT");
  group.check_outcomes();
  // Some 50 writes, yet only a few commits (each FULL commit syncs the WAL once).
  CHECK(vfs.syncs.load() <= 3);
  group.check_stored(s);
}

TEST_CASE("sqlite.group_commit_rejects_only_the_bad_write") {
  fault_vfs().reset();  // registers it, too
  temp_dir dir;
  auto path = dir.file("store.db");
  store_options options;
  options.sqlite_vfs = fault_vfs_name;
  sync_store s{open_sqlite(path, options)};
  REQUIRE_OK(s.append("seeded", evs(1, 3)));
  REQUIRE_OK(s.append("read-only", evs(1, 2)));
  mixed_group group;
  check_group_commit(s, path, group, [&] {
    // Reads have their own connection and thread: a stalled writer does not delay them (unless they are queued behind
    // a write to the same persistence id).
    CHECK(value_of(s.replay("read-only")) == evs(1, 2));
  });
}

TEST_CASE("sqlite.group_commit_refuses_only_the_stale_fenced_writes") {
  fault_vfs().reset();  // registers it, too
  temp_dir dir;
  auto path = dir.file("store.db");
  store_options options;
  options.sqlite_vfs = fault_vfs_name;
  options.cluster = "c1";
  sync_store s{open_sqlite(path, options)};
  sync_cluster c{s, "c1"};
  fenced_group group;
  group.prepare(s, c);
  check_group_commit(s, path, group, [] {});
}

TEST_CASE("sqlite.disk_full_is_unavailable_and_recovers") {
  auto& vfs = fault_vfs();
  vfs.reset();
  temp_dir dir;
  store_options options;
  options.sqlite_vfs = fault_vfs_name;
  sync_store s{open_sqlite(dir.file("store.db"), options)};
  REQUIRE_OK(s.append("p", evs(1, 2)));
  vfs.write_error = SQLITE_FULL;
  CHECK_CODE(s.append("p", {ev(3)}), status_code::unavailable);
  CHECK_CODE(s.put_value("k", "t", "v", 0), status_code::unavailable);
  vfs.write_error = 0;
  // Nothing was written, and the store works again once the disk has room. The writer has forgotten that it inserted
  // 3 (a store that skips the fence read for what it inserted itself must), so it judges 4 by the fence: a gap.
  CHECK_CODE(s.append("p", {ev(4)}), status_code::conflict);
  CHECK(value_of(s.highest("p")) == 2);
  REQUIRE_OK(s.append("p", {ev(3)}));
  CHECK(value_of(s.put_value("k", "t", "v", 0)) == 1);
  CHECK(value_of(s.replay("p")) == evs(1, 3));
}

TEST_CASE("sqlite.failed_fsync_on_commit_is_unknown_outcome") {
  auto& vfs = fault_vfs();
  vfs.reset();
  temp_dir dir;
  store_options options;
  options.sqlite_vfs = fault_vfs_name;
  sync_store s{open_sqlite(dir.file("store.db"), options)};
  REQUIRE_OK(s.append("p", evs(1, 2)));
  vfs.sync_error = SQLITE_IOERR_FSYNC;
  CHECK_CODE(s.append("p", {ev(3)}), status_code::unknown_outcome);
  vfs.sync_error = 0;
  // The caller re-reads before writing again; whatever it finds, the store keeps working.
  auto highest = value_of(s.highest("p"));
  CHECK((highest == 2 || highest == 3));
  REQUIRE_OK(s.append("p", {ev(highest + 1)}));
  CHECK(value_of(s.highest("p")) == highest + 1);
}

TEST_CASE("sqlite.failed_group_of_one_entity_forgets_known_highest") {
  // The writer remembers the highest sequence number it inserted instead of reading it before each append, also
  // inside the open transaction: a hot entity's appends pipelined into one group each continue the one before. A
  // group that failed to commit must make it forget, or it would accept the next append after events that do not
  // exist.
  auto& vfs = fault_vfs();
  vfs.reset();
  temp_dir dir;
  auto path = dir.file("store.db");
  store_options options;
  options.sqlite_vfs = fault_vfs_name;
  sync_store s{open_sqlite(path, options)};
  REQUIRE_OK(s.append("p", evs(1, 2)));
  raw_db blocker{path};
  blocker.exec("BEGIN IMMEDIATE");
  // The writer takes this write alone and stalls on the lock, so the appends behind it form one group. (The pause
  // only makes that likely; however the writes are grouped, none of 3..5 is stored and the checks below hold.)
  waiter<result<int64_t>> stalled;
  s->put_value("k", "t", "v", 0, unfenced, stalled.cb());
  std::this_thread::sleep_for(std::chrono::milliseconds{100});
  std::vector<waiter<status>> appends(3);
  for (int64_t i = 0; i < 3; ++i)
    s->append("p", {ev(3 + i)}, unfenced, appends[static_cast<size_t>(i)].cb());
  vfs.write_error = SQLITE_FULL;
  blocker.exec("COMMIT");
  CHECK_CODE(stalled.get(), status_code::unavailable);
  // In one group, all three fail with it; a later group would refuse 4 for the gap.
  CHECK_CODE(appends[0].get(), status_code::unavailable);
  CHECK_FALSE(appends[1].get().ok());
  CHECK_FALSE(appends[2].get().ok());
  vfs.write_error = 0;
  CHECK_CODE(s.append("p", {ev(6)}), status_code::conflict);
  REQUIRE_OK(s.append("p", evs(3, 6)));
  CHECK(value_of(s.replay("p")) == evs(1, 6));
}

TEST_CASE("sqlite.released_in_own_callback") {
  temp_dir dir;
  check_released_in_own_callback(open_sqlite(dir.file("store.db")));
}
