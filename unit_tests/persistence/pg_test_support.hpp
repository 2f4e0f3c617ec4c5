// Helpers for the PostgreSQL tests: the throwaway server that the ctest fixture `postgres_server` started
// (scripts/pg-throwaway.sh writes its URI to ACTORSTATE_PG_TEST_DIR/uri), a fresh database per test, a server of a
// test's own for tests that restart or stop it, and a plain libpq connection for looking at or tampering with a
// store's database from outside.
//
// Each object is used by one thread at a time; failures fail the current doctest case (destructors only log).
#pragma once

#include <string>
#include <vector>

#include "test_support.hpp"

struct pg_conn;

namespace actorstate::persistence::testing {

/// The URI of the fixture's server; fails the test when no server was started.
std::string pg_server_uri();

/// `server_uri` ("postgres://user@host:port/db") with its database replaced by `database`; `query` (e.g.
/// "sslmode=disable") is appended as the URI's query string.
std::string pg_uri(const std::string& server_uri, const std::string& database, const std::string& query = {});

/// A server of the test's own (scripts/pg-throwaway.sh in a temporary directory), for tests that restart or stop it.
class pg_private_server {
public:
  pg_private_server();
  ~pg_private_server();

  pg_private_server(const pg_private_server&) = delete;
  pg_private_server& operator=(const pg_private_server&) = delete;

  const std::string& uri() const { return uri_; }

  /// `pg_ctl restart -m fast`: every connection is cut.
  void restart();
  /// Stops the server, keeping its data; resume() starts it again.
  void pause();
  void resume();

private:
  int script(const char* command);

  temp_dir dir_;
  std::string uri_;
};

/// A plain libpq connection. Arguments are passed as text parameters ($1, $2, ...), never spliced into the SQL.
class pg_admin {
public:
  explicit pg_admin(const std::string& uri);
  ~pg_admin();

  pg_admin(const pg_admin&) = delete;
  pg_admin& operator=(const pg_admin&) = delete;

  /// Runs `sql`; fails the test on error.
  void exec(const std::string& sql, const std::vector<std::string>& args = {});

  /// Runs `sql`; returns "" on success and the SQLSTATE otherwise.
  std::string try_exec(const std::string& sql, const std::vector<std::string>& args = {});

  /// The first column of the first row as text ("" for no row or NULL); fails the test on error.
  std::string text(const std::string& sql, const std::vector<std::string>& args = {});

private:
  pg_conn* conn_ = nullptr;
};

/// A database of its own, created on construction (on the fixture's server unless another server URI is given) and
/// dropped on destruction, connections and all.
class pg_temp_database {
public:
  pg_temp_database();
  explicit pg_temp_database(std::string server_uri);
  ~pg_temp_database();

  pg_temp_database(const pg_temp_database&) = delete;
  pg_temp_database& operator=(const pg_temp_database&) = delete;

  const std::string& name() const { return name_; }
  const std::string& server_uri() const { return server_uri_; }

  /// The database's URI, with `query` appended.
  std::string uri(const std::string& query = {}) const { return pg_uri(server_uri_, name_, query); }

private:
  std::string server_uri_;
  std::string name_;
};

}  // namespace actorstate::persistence::testing
