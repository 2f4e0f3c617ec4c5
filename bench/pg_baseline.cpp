// Raw PostgreSQL baseline of the native entity path on the postgres store: the same journal table as the store
// (created fresh as actorstate_bench_baseline, dropped afterwards) written by one connection, one multi-row INSERT
// per group of `clients` rows (one round trip and one durable commit: synchronous_commit as the server has it, on by
// default), as baseline_loop.hpp describes. Measures durable rows/s and the p50/p99 time from submission to commit.
//   pg_baseline --uri postgres://postgres@127.0.0.1:5432/postgres [--seconds 3] [--clients 1,32,256]
//               [--entities 1000,1] [--json]
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <libpq-fe.h>

#include <CLI/CLI.hpp>

#include "baseline_loop.hpp"

namespace {

constexpr const char* table = "actorstate_bench_baseline";

bool exec(PGconn* conn, const std::string& sql) {
  std::unique_ptr<PGresult, decltype(&PQclear)> r{PQexec(conn, sql.c_str()), &PQclear};
  auto st = PQresultStatus(r.get());
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    std::fprintf(stderr, "pg_baseline: %s: %s\n", sql.c_str(), PQerrorMessage(conn));
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"raw PostgreSQL group-commit insert loop (the native path's baseline on the postgres store)"};
  std::string uri;
  int seconds = 3;
  std::vector<size_t> clients{1, 32, 256};
  std::vector<size_t> entities{1000, 1};
  uint64_t max_rows = 5'000'000;
  bool json = false;
  app.add_option("--uri", uri, "libpq connection URI")->required();
  app.add_option("--seconds", seconds)->capture_default_str()->check(CLI::Range(1, 600));
  app.add_option("--clients", clients)->delimiter(',')->capture_default_str()->check(CLI::Range(1, 10000));
  app.add_option("--entities", entities)->delimiter(',')->capture_default_str()->check(CLI::Range(1, 100000000));
  app.add_option("--max-rows", max_rows, "Upper bound of rows per scenario")->capture_default_str();
  app.add_flag("--json", json, "One JSON record per scenario instead of a table");
  CLI11_PARSE(app, argc, argv);

  std::unique_ptr<PGconn, decltype(&PQfinish)> conn{PQconnectdb(uri.c_str()), &PQfinish};
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    std::fprintf(stderr, "pg_baseline: cannot connect: %s\n", PQerrorMessage(conn.get()));
    return 2;
  }
  std::string create = std::string{"DROP TABLE IF EXISTS "} + table + "; CREATE TABLE " + table +
                       " (ordering bigint GENERATED ALWAYS AS IDENTITY, persistence_id text NOT NULL, seq bigint NOT "
                       "NULL, type text NOT NULL, payload bytea NOT NULL, metadata bytea NOT NULL, PRIMARY KEY "
                       "(persistence_id, seq)); CREATE UNIQUE INDEX " +
                       table + "_ordering ON " + table + " (ordering);";
  if (!exec(conn.get(), "SET client_min_messages = warning") || !exec(conn.get(), create))
    return 2;

  if (!json)
    bench::print_loop_header();
  int run = 0;
  for (size_t e : entities)
    for (size_t c : clients) {
      // One statement for the whole group, prepared once per scenario.
      std::string sql = std::string{"INSERT INTO "} + table + " (persistence_id, seq, type, payload, metadata) VALUES ";
      for (size_t i = 0; i < c; ++i) {
        auto p = [&](size_t k) { return "$" + std::to_string(i * 5 + k); };
        sql += (i ? ", (" : "(") + p(1) + ", " + p(2) + "::bigint, " + p(3) + ", " + p(4) + "::bytea, " + p(5) +
               "::bytea)";
      }
      auto name = "ins" + std::to_string(run);
      std::unique_ptr<PGresult, decltype(&PQclear)> prep{
          PQprepare(conn.get(), name.c_str(), sql.c_str(), static_cast<int>(c * 5), nullptr), &PQclear};
      if (PQresultStatus(prep.get()) != PGRES_COMMAND_OK) {
        std::fprintf(stderr, "pg_baseline: prepare: %s\n", PQerrorMessage(conn.get()));
        return 2;
      }
      auto prefix = "r" + std::to_string(run++) + "-";  // the table is fresh
      std::vector<const char*> values(c * 5);
      std::vector<int> lengths(c * 5);
      std::vector<int> formats(c * 5, 1);  // binary: text columns take the raw bytes, bigint needs 8 bytes BE
      std::vector<char> seq_bin(c * 8);
      auto r = bench::group_commit_loop(
          c, e, prefix, std::chrono::seconds{seconds}, max_rows, [&](const std::vector<bench::journal_row>& rows) {
            for (size_t i = 0; i < rows.size(); ++i) {
              const auto& row = rows[i];
              auto seq = static_cast<uint64_t>(row.seq);
              for (int b = 0; b < 8; ++b)
                seq_bin[i * 8 + b] = static_cast<char>((seq >> (56 - 8 * b)) & 0xff);
              values[i * 5 + 0] = row.persistence_id.data();
              lengths[i * 5 + 0] = static_cast<int>(row.persistence_id.size());
              values[i * 5 + 1] = &seq_bin[i * 8];
              lengths[i * 5 + 1] = 8;
              values[i * 5 + 2] = row.type.data();
              lengths[i * 5 + 2] = static_cast<int>(row.type.size());
              values[i * 5 + 3] = row.payload.data();
              lengths[i * 5 + 3] = static_cast<int>(row.payload.size());
              values[i * 5 + 4] = "";
              lengths[i * 5 + 4] = 0;
            }
            std::unique_ptr<PGresult, decltype(&PQclear)> res{
                PQexecPrepared(conn.get(), name.c_str(), static_cast<int>(rows.size() * 5), values.data(),
                               lengths.data(), formats.data(), 0),
                &PQclear};
            if (PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
              std::fprintf(stderr, "pg_baseline: insert: %s\n", PQerrorMessage(conn.get()));
              return false;
            }
            return true;
          });
      bench::print_loop_result("pg_baseline", c, e, r, json);
    }
  exec(conn.get(), std::string{"DROP TABLE IF EXISTS "} + table);
  return 0;
}
