#include "pg_test_support.hpp"

#include <libpq-fe.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

#include <unistd.h>

namespace actorstate::persistence::testing {

namespace {

struct result_clear {
  void operator()(PGresult* r) const { PQclear(r); }
};

using pg_result = std::unique_ptr<PGresult, result_clear>;

pg_result run(PGconn* conn, const std::string& sql, const std::vector<std::string>& args) {
  std::vector<const char*> values;
  for (const auto& a : args)
    values.push_back(a.c_str());
  return pg_result{
      PQexecParams(conn, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr, 0)};
}

bool succeeded(const pg_result& r) {
  auto rs = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  return rs == PGRES_COMMAND_OK || rs == PGRES_TUPLES_OK;
}

std::string unique_database_name() {
  static std::atomic<int> counter{0};
  static const auto salt = std::random_device{}();
  std::ostringstream name;
  name << "actorstate_test_" << ::getpid() << "_" << std::hex << salt << "_" << std::dec << ++counter;
  return name.str();
}

}  // namespace

std::string pg_server_uri() {
  std::string file = std::string{ACTORSTATE_PG_TEST_DIR} + "/uri";
  std::ifstream in{file};
  std::string uri;
  std::getline(in, uri);
  if (uri.empty())
    FAIL("no PostgreSQL test server: " << file << " is missing. Run the test through ctest (the fixture "
                                       << "postgres.server.start starts one) or scripts/pg-throwaway.sh start "
                                       << ACTORSTATE_PG_TEST_DIR);
  return uri;
}

pg_private_server::pg_private_server() {
  REQUIRE_MESSAGE(script("start") == 0, "pg-throwaway.sh start failed");
  std::ifstream in{dir_.file("uri")};
  std::getline(in, uri_);
  REQUIRE(!uri_.empty());
}

pg_private_server::~pg_private_server() {
  script("stop");
}

void pg_private_server::restart() {
  REQUIRE(script("restart") == 0);
}

void pg_private_server::pause() {
  REQUIRE(script("pause") == 0);
}

void pg_private_server::resume() {
  REQUIRE(script("start") == 0);
}

int pg_private_server::script(const char* command) {
  auto line = std::string{ACTORSTATE_PG_THROWAWAY} + " " + command + " '" + dir_.path().string() + "'";
  return std::system(line.c_str());
}

std::string pg_uri(const std::string& server_uri, const std::string& database, const std::string& query) {
  auto scheme_end = server_uri.find("://");
  REQUIRE(scheme_end != std::string::npos);
  auto path = server_uri.find('/', scheme_end + 3);
  auto base = path == std::string::npos ? server_uri : server_uri.substr(0, path);
  auto uri = base + "/" + database;
  if (!query.empty())
    uri += "?" + query;
  return uri;
}

pg_admin::pg_admin(const std::string& uri) : conn_(PQconnectdb(uri.c_str())) {
  REQUIRE_MESSAGE(PQstatus(conn_) == CONNECTION_OK, "cannot connect to " << uri << ": " << PQerrorMessage(conn_));
  PQsetNoticeProcessor(
      conn_, [](void*, const char*) {}, nullptr);
}

pg_admin::~pg_admin() {
  PQfinish(conn_);
}

void pg_admin::exec(const std::string& sql, const std::vector<std::string>& args) {
  auto r = run(conn_, sql, args);
  REQUIRE_MESSAGE(succeeded(r), sql << ": " << PQerrorMessage(conn_));
}

std::string pg_admin::try_exec(const std::string& sql, const std::vector<std::string>& args) {
  auto r = run(conn_, sql, args);
  if (succeeded(r))
    return {};
  const char* state = r ? PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) : nullptr;
  return state != nullptr ? state : "unknown";
}

std::string pg_admin::text(const std::string& sql, const std::vector<std::string>& args) {
  auto r = run(conn_, sql, args);
  REQUIRE_MESSAGE(succeeded(r), sql << ": " << PQerrorMessage(conn_));
  if (PQntuples(r.get()) == 0 || PQgetisnull(r.get(), 0, 0) != 0)
    return {};
  return PQgetvalue(r.get(), 0, 0);
}

pg_temp_database::pg_temp_database() : pg_temp_database(pg_server_uri()) {}

pg_temp_database::pg_temp_database(std::string server_uri)
    : server_uri_(std::move(server_uri)), name_(unique_database_name()) {
  // The name is made of [a-z0-9_] above; identifiers cannot be bound as parameters.
  pg_admin{server_uri_}.exec("CREATE DATABASE \"" + name_ + "\"");
}

pg_temp_database::~pg_temp_database() {
  PGconn* conn = PQconnectdb(server_uri_.c_str());
  if (PQstatus(conn) == CONNECTION_OK) {
    // FORCE: a store that a failed test left open must not keep the database alive.
    pg_result r{PQexec(conn, ("DROP DATABASE IF EXISTS \"" + name_ + "\" WITH (FORCE)").c_str())};
    if (!succeeded(r))
      std::cerr << "cannot drop test database " << name_ << ": " << PQerrorMessage(conn);
  } else {
    std::cerr << "cannot drop test database " << name_ << ": " << PQerrorMessage(conn);
  }
  PQfinish(conn);
}

}  // namespace actorstate::persistence::testing
