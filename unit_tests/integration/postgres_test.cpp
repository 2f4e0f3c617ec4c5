// The shopping-cart node on PostgreSQL: the kill -9 loop (every acknowledged command present exactly once after each
// crash), and the database itself restarted under load (the node reconnects, in-flight commands fail cleanly with
// UNAVAILABLE, nothing acknowledged is lost). The loop uses the suite's throwaway server (the postgres_server ctest
// fixture, its URI in ACTORSTATE_PG_URI_FILE) with a database of its own; the restart test starts a server of its
// own, since it restarts it.
#include <doctest/doctest.h>

#include <unistd.h>

#include "cart_client.hpp"
#include "crash_loop.hpp"
#include "node_process.hpp"

namespace it = actorstate::it;
using namespace std::chrono_literals;

namespace {

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' '))
    s.pop_back();
  return s;
}

/// Runs a program to completion (bounded); its output on failure.
void run(const std::vector<std::string>& argv, const it::fs::path& log, std::chrono::seconds timeout = 60s) {
  auto pid = it::spawn_process(argv, log, log);
  auto code = it::wait_for_exit(pid, timeout);
  REQUIRE_MESSAGE(code == 0, argv[0] << " " << (argv.size() > 1 ? argv[1] : "") << " failed:\n" << it::read_file(log));
}

/// `uri` with its database name replaced by `database`.
std::string with_database(const std::string& uri, const std::string& database) {
  return uri.substr(0, uri.rfind('/') + 1) + database;
}

/// A PostgreSQL server of a test's own, from scripts/pg-throwaway.sh.
class own_server {
public:
  explicit own_server(it::fs::path dir) : dir_(std::move(dir)) {
    run({ACTORSTATE_PG_SCRIPT, "start", dir_.string()}, log());
    uri_ = trimmed(it::read_file(dir_ / "uri"));
  }
  ~own_server() {
    auto pid = it::spawn_process({ACTORSTATE_PG_SCRIPT, "stop", dir_.string()}, {}, {});
    it::wait_for_exit(pid, 60s);
  }
  void restart() { run({ACTORSTATE_PG_SCRIPT, "restart", dir_.string()}, log()); }
  const std::string& uri() const { return uri_; }

private:
  it::fs::path log() const { return dir_.parent_path() / "pg-script.log"; }
  it::fs::path dir_;
  std::string uri_;
};

}  // namespace

TEST_CASE("postgres.kill9_keeps_acknowledged_changes") {
  auto admin = trimmed(it::read_file(ACTORSTATE_PG_URI_FILE));
  REQUIRE_MESSAGE(!admin.empty(), "no PostgreSQL URI in " ACTORSTATE_PG_URI_FILE " (the postgres_server fixture)");
  it::temp_dir dir;
  auto database = "crash_" + std::to_string(::getpid());
  run({"/usr/bin/psql", admin, "-v", "ON_ERROR_STOP=1", "-c", "DROP DATABASE IF EXISTS " + database, "-c",
       "CREATE DATABASE " + database},
      dir.path() / "psql.log");
  it::crash_loop({"--store", with_database(admin, database)});
}

TEST_CASE("postgres.restart_under_load_loses_nothing") {
  it::temp_dir dir;
  own_server pg{dir.path() / "pg"};
  it::node_process node{it::shopping_cart_binary(), dir.path() / "node", {"--store", pg.uri()}};
  node.start();
  INFO("node log tail:\n" << node.log_tail());
  const std::vector<std::string> users{"r0", "r1", "r2", "r3"};
  std::map<std::string, std::vector<std::string>> acknowledged;
  auto record = [&](const it::cart_load& load) {
    for (const auto& [user, products] : load.acknowledged())
      acknowledged[user].insert(acknowledged[user].end(), products.begin(), products.end());
  };

  it::cart_load before{node.target(), users, 4, "before"};
  REQUIRE(before.wait_for_acks(200, 30s));
  pg.restart();  // fast shutdown: every connection of the node is cut, mid-transaction or not
  // Clients stop at their first failed call; those that ran into the restart saw a clean status.
  it::cart_load during{node.target(), users, 4, "during"};
  during.wait_for_acks(1, 30s);
  before.stop();
  during.stop();
  record(before);
  record(during);
  for (const auto* load : {&before, &during})
    for (const auto& [user, failures] : load->failed())
      for (const auto& [product, code] : failures)
        CHECK_MESSAGE((code == static_cast<int>(grpc::StatusCode::UNAVAILABLE) ||
                       code == static_cast<int>(grpc::StatusCode::DEADLINE_EXCEEDED)),
                      product << " failed with " << code);

  // The node reconnected: new commands succeed.
  it::cart_load after{node.target(), users, 4, "after"};
  CHECK_MESSAGE(after.wait_for_acks(50, 30s), "no command succeeded after the restart: " << after.first_failure());
  after.stop();
  record(after);
  MESSAGE("postgres restart: acknowledged before="
          << before.acknowledged_count() << " during=" << during.acknowledged_count() << " after="
          << after.acknowledged_count() << " failed=" << before.failure_codes() << " " << during.failure_codes());

  // Nothing acknowledged is lost, nothing is applied twice: read back through a fresh node as well.
  auto stub = it::make_cart_stub(node.target());
  auto report = it::check_durability(*stub, acknowledged, users);
  CHECK(report.read_ok);
  CHECK(report.lost == 0);
  CHECK(report.duplicated == 0);
  node.kill();
  node.start();
  auto stub2 = it::make_cart_stub(node.target());
  auto again = it::check_durability(*stub2, acknowledged, users);
  CHECK(again.lost == 0);
  CHECK(again.duplicated == 0);
}
