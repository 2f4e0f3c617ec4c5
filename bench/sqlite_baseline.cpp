// Raw SQLite baseline of the native entity path: the same durability as the SQLite store (WAL, synchronous=FULL,
// the same page cache size and the same journal table with its (persistence_id, seq) uniqueness), written by one
// thread with plain prepared INSERTs, one transaction per group of `clients` rows (baseline_loop.hpp). Measures
// durable rows/s and the p50/p99 time from a row's submission to its commit.
//   sqlite_baseline [--path /tmp/baseline.db] [--seconds 3] [--clients 1,32,256] [--entities 1000,1] [--json]
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <sqlite3.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "baseline_loop.hpp"

namespace {

constexpr const char* schema = R"sql(
CREATE TABLE IF NOT EXISTS journal (
  ordering INTEGER PRIMARY KEY AUTOINCREMENT,
  persistence_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  type TEXT NOT NULL,
  payload BLOB NOT NULL,
  metadata BLOB NOT NULL,
  UNIQUE (persistence_id, seq)
);
)sql";

bool exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::fprintf(stderr, "sqlite_baseline: %s: %s\n", sql, err ? err : "?");
    sqlite3_free(err);
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"raw SQLite group-commit insert loop (the native path's baseline)"};
  auto dir = std::filesystem::temp_directory_path() / ("actorstate-baseline-" + std::to_string(::getpid()));
  std::string path;
  int seconds = 3;
  std::vector<size_t> clients{1, 32, 256};
  std::vector<size_t> entities{1000, 1};
  uint64_t max_rows = 5'000'000;
  std::string synchronous = "FULL";
  bool json = false;
  app.add_option("--path", path, "Database file (default: a fresh one in a temporary directory, removed after)");
  app.add_option("--seconds", seconds)->capture_default_str()->check(CLI::Range(1, 600));
  app.add_option("--clients", clients)->delimiter(',')->capture_default_str();
  app.add_option("--entities", entities)->delimiter(',')->capture_default_str();
  app.add_option("--max-rows", max_rows, "Upper bound of rows per scenario")->capture_default_str();
  app.add_option("--synchronous", synchronous)->capture_default_str()->check(CLI::IsMember({"FULL", "NORMAL", "OFF"}));
  app.add_flag("--json", json, "One JSON record per scenario instead of a table");
  CLI11_PARSE(app, argc, argv);
  for (auto e : entities)
    if (e == 0) {
      std::fprintf(stderr, "--entities must be positive\n");
      return 2;
    }
  bool own_dir = path.empty();
  if (own_dir) {
    std::filesystem::create_directories(dir);
    path = (dir / "baseline.db").string();
  }

  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK) {
    std::fprintf(stderr, "sqlite_baseline: cannot open %s\n", path.c_str());
    return 2;
  }
  auto pragmas = "PRAGMA journal_mode = WAL; PRAGMA synchronous = " + synchronous + "; PRAGMA cache_size = -65536;";
  if (!exec(db, pragmas.c_str()) || !exec(db, schema))
    return 2;
  sqlite3_stmt *insert = nullptr, *begin = nullptr, *commit = nullptr, *rollback = nullptr;
  sqlite3_prepare_v2(db,
                     "INSERT INTO journal (persistence_id, seq, type, payload, metadata) VALUES (?1, ?2, ?3, ?4, ?5)",
                     -1, &insert, nullptr);
  sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, nullptr);
  sqlite3_prepare_v2(db, "COMMIT", -1, &commit, nullptr);
  sqlite3_prepare_v2(db, "ROLLBACK", -1, &rollback, nullptr);
  if (!insert || !begin || !commit || !rollback) {
    std::fprintf(stderr, "sqlite_baseline: prepare: %s\n", sqlite3_errmsg(db));
    return 2;
  }
  auto step = [](sqlite3_stmt* s) {
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE;
  };

  if (!json)
    bench::print_loop_header();
  int run = 0;
  for (size_t e : entities)
    for (size_t c : clients) {
      // A distinct id prefix per scenario: the rows of earlier scenarios stay in the table, as in native_bench.
      auto prefix = "r" + std::to_string(::getpid()) + "-" + std::to_string(run++) + "-";
      auto r = bench::group_commit_loop(
          c, e, prefix, std::chrono::seconds{seconds}, max_rows, [&](const std::vector<bench::journal_row>& rows) {
            if (!step(begin))
              return false;
            for (const auto& row : rows) {
              sqlite3_bind_text(insert, 1, row.persistence_id.data(), static_cast<int>(row.persistence_id.size()),
                                SQLITE_STATIC);
              sqlite3_bind_int64(insert, 2, row.seq);
              sqlite3_bind_text(insert, 3, row.type.data(), static_cast<int>(row.type.size()), SQLITE_STATIC);
              sqlite3_bind_blob(insert, 4, row.payload.data(), static_cast<int>(row.payload.size()), SQLITE_STATIC);
              sqlite3_bind_blob(insert, 5, "", 0, SQLITE_STATIC);
              if (!step(insert)) {
                std::fprintf(stderr, "sqlite_baseline: insert: %s\n", sqlite3_errmsg(db));
                step(rollback);
                return false;
              }
            }
            if (!step(commit)) {
              std::fprintf(stderr, "sqlite_baseline: commit: %s\n", sqlite3_errmsg(db));
              step(rollback);
              return false;
            }
            return true;
          });
      bench::print_loop_result("sqlite_baseline", c, e, r, json);
    }
  for (auto* s : {insert, begin, commit, rollback})
    sqlite3_finalize(s);
  sqlite3_close(db);
  if (own_dir)
    std::filesystem::remove_all(dir);
  return 0;
}
