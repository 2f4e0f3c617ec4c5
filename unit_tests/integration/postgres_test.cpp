// The shopping-cart node on PostgreSQL: the kill -9 loop (every acknowledged command present exactly once after each
// crash), and the database itself restarted under load (the node reconnects, in-flight commands fail cleanly with
// UNAVAILABLE, nothing acknowledged is lost). The loop uses a database of its own on the suite's throwaway server (the
// postgres_server ctest fixture); the restart test starts a server of its own, since it restarts it.
#include <doctest/doctest.h>

#include "cart_client.hpp"
#include "crash_loop.hpp"
#include "node_process.hpp"
#include "pg_test_support.hpp"

namespace it = actorstate::it;
namespace pg = actorstate::persistence::testing;
using namespace std::chrono_literals;

TEST_CASE("postgres.kill9_keeps_acknowledged_changes") {
  pg::pg_temp_database db;
  it::crash_loop({"--store", db.uri()});
}

TEST_CASE("postgres.restart_under_load_loses_nothing") {
  it::temp_dir dir;
  pg::pg_private_server pg;
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
