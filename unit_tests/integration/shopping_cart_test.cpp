// End-to-end tests of the shopping-cart node as a real process: the Cloudstate session over gRPC, the bad-input
// contract, graceful shutdown, passivation and recovery, refusal of a corrupt database, and the CLI client.
#include <doctest/doctest.h>

#include <signal.h>

#include <fstream>
#include <future>
#include <random>

#include <grpcpp/generic/generic_stub.h>

#include "bad_input_checks.hpp"
#include "cart_client.hpp"
#include "node_process.hpp"

namespace it = actorstate::it;
namespace api = it::cart_api;
using namespace std::chrono_literals;

using it::cart_text;
using it::metric_sample;
using it::raw_call;
using it::status_text;

namespace {}  // namespace

TEST_CASE("shopping_cart.session") {
  it::temp_dir dir;
  it::node_process node{it::shopping_cart_binary(), dir.path()};
  node.start();
  INFO("node log tail:\n" << node.log_tail());
  auto stub = it::make_cart_stub(node.target());

  CHECK(cart_text(*stub, "alice") == "");

  REQUIRE(it::add_item(*stub, "alice", "p1", "Pen", 2).ok());
  REQUIRE(it::add_item(*stub, "alice", "p2", "Paper", 3).ok());
  REQUIRE(it::add_item(*stub, "alice", "p1", "Pen", 1).ok());
  CHECK(cart_text(*stub, "alice") == "p1 Pen 3; p2 Paper 3");
  // Another user's cart is a different entity.
  REQUIRE(it::add_item(*stub, "bob", "p9", "Glue", 1).ok());
  CHECK(cart_text(*stub, "bob") == "p9 Glue 1");

  REQUIRE(it::remove_item(*stub, "alice", "p1").ok());
  CHECK(cart_text(*stub, "alice") == "p2 Paper 3");
  REQUIRE(it::add_item(*stub, "alice", "p3", "Ink", 4).ok());
  CHECK(cart_text(*stub, "alice") == "p2 Paper 3; p3 Ink 4");

  {
    auto zero = it::add_item(*stub, "alice", "p4", "Clip", 0);
    CHECK(zero.error_code() == grpc::StatusCode::UNKNOWN);
    CHECK(zero.error_message() == "Cannot add negative quantity to item p4");
    auto negative = it::add_item(*stub, "alice", "p2", "Paper", -1);
    CHECK(negative.error_code() == grpc::StatusCode::UNKNOWN);
    CHECK(negative.error_message() == "Cannot add negative quantity to item p2");
    auto absent = it::remove_item(*stub, "alice", "p1");
    CHECK(absent.error_code() == grpc::StatusCode::UNKNOWN);
    CHECK(absent.error_message() == "Item p1 not in cart");
    auto never = it::remove_item(*stub, "carol", "p7");
    CHECK(never.error_code() == grpc::StatusCode::UNKNOWN);
    CHECK(never.error_message() == "Item p7 not in cart");
  }
  // Rejected commands emit no events: the cart is as before and the entity keeps working.
  CHECK(cart_text(*stub, "alice") == "p2 Paper 3; p3 Ink 4");
  CHECK(cart_text(*stub, "carol") == "");
  REQUIRE(it::add_item(*stub, "alice", "p2", "Paper", 1).ok());
  CHECK(cart_text(*stub, "alice") == "p2 Paper 4; p3 Ink 4");

  CHECK(it::http_get(node.management_port(), "/alive").status == 200);
  CHECK(it::http_get(node.management_port(), "/ready").status == 200);
  auto metrics = it::http_get(node.management_port(), "/metrics");
  CHECK(metrics.status == 200);
  INFO("metrics:\n" << metrics.body.substr(0, 3000));
  auto commands = it::metric_value(metrics.body, metric_sample("actorstate_commands_total"));
  REQUIRE(commands.has_value());
  // 15 successful commands were sent above (failures may or may not be counted as commands).
  CHECK(*commands >= 15);

  CHECK(node.terminate() == 0);
}

TEST_CASE("shopping_cart.bad_input") {
  it::temp_dir dir;
  it::node_process node{it::shopping_cart_binary(), dir.path()};
  node.start();
  INFO("node log tail:\n" << node.log_tail());
  it::check_bad_input(node.target());
  CHECK(node.terminate() == 0);
}

TEST_CASE("shopping_cart.sigterm_drains") {
  it::temp_dir dir;
  it::node_process node{it::shopping_cart_binary(), dir.path()};
  node.start();
  auto first_log = node.log_path();
  std::vector<std::string> users{"s0", "s1", "s2", "s3"};

  it::cart_load load{node.target(), users, 8, "drain"};
  // SIGTERM only once commands are demonstrably flowing, so that some are in flight when it lands.
  bool flowing = load.wait_for_acks(20, 10s);
  auto acked_before_signal = load.acknowledged_count();
  auto signalled = std::chrono::steady_clock::now();
  auto code = node.terminate(15s);
  auto stop_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - signalled).count();
  load.stop();
  MESSAGE("sigterm_drains: acknowledged="
          << load.acknowledged_count() << " (" << load.acknowledged_count() - acked_before_signal
          << " after SIGTERM) failed=" << load.failed_count() << " [" << load.failure_codes()
          << "] exit=" << code.value_or(-1) << " after " << stop_ms << " ms");
  {
    INFO("first run log tail:\n" << it::read_file(first_log).substr(0, 4000));
    REQUIRE(flowing);
    CHECK(code == 0);
  }

  node.start();
  auto stub = it::make_cart_stub(node.target());
  auto report = it::check_durability(*stub, load.acknowledged(), users);
  // Failed calls have an unknown outcome, so they cannot fail the test; but a non-UNAVAILABLE failure whose
  // command was applied means a command ran while its caller was told otherwise, which is worth seeing.
  std::string applied_failures;
  for (const auto& [user, failures] : load.failed()) {
    api::Cart cart;
    if (!it::get_cart(*stub, user, cart).ok())
      continue;
    for (const auto& [product, status] : failures)
      for (const auto& item : cart.items())
        if (item.product_id() == product)
          applied_failures += " " + product + "(code " + std::to_string(status) + ")";
  }
  MESSAGE("sigterm_drains: failed calls that were applied anyway:" << (applied_failures.empty() ? " none"
                                                                                                : applied_failures));
  INFO("restart log tail:\n" << node.log_tail());
  INFO("problems: " << [&] {
    std::string all;
    for (auto& p : report.problems)
      all += "\n  " + p;
    return all;
  }());
  CHECK(report.read_ok);
  CHECK(report.acknowledged == load.acknowledged_count());
  CHECK(report.lost == 0);
  CHECK(report.duplicated == 0);
  CHECK(node.terminate() == 0);
}

TEST_CASE("shopping_cart.passivation_and_recovery") {
  it::temp_dir dir;
  it::node_process node{it::shopping_cart_binary(), dir.path(), {"--passivation-timeout", "100ms"}};
  node.start();
  INFO("node log tail:\n" << node.log_tail());
  auto stub = it::make_cart_stub(node.target());

  // Seven events: the entity snapshots after the fifth, so recovery needs the snapshot plus two events.
  const char* names[] = {"Apple", "Bread", "Cheese", "Dates", "Eggs", "Flour", "Grapes"};
  std::string expected;
  for (int i = 0; i < 7; ++i) {
    auto product = "q" + std::to_string(i + 1);
    REQUIRE(it::add_item(*stub, "erin", product, names[i], i + 1).ok());
    expected += (i == 0 ? "" : "; ") + product + " " + names[i] + " " + std::to_string(i + 1);
  }

  std::string metrics;
  bool passivated = it::wait_until(
      [&] {
        metrics = it::http_get(node.management_port(), "/metrics").body;
        return it::metric_value(metrics, metric_sample("actorstate_passivations_total")).value_or(0) >= 1;
      },
      10s, 50ms);
  INFO("metrics:\n" << metrics.substr(0, 3000));
  REQUIRE(passivated);
  // The read reactivates the entity from the store.
  CHECK(cart_text(*stub, "erin") == expected);
  auto recoveries = it::metric_value(it::http_get(node.management_port(), "/metrics").body,
                                     metric_sample("actorstate_recoveries_total"));
  CHECK(recoveries.value_or(0) >= 2);

  CHECK(node.terminate() == 0);
  node.start();
  auto fresh = it::make_cart_stub(node.target());
  CHECK(cart_text(*fresh, "erin") == expected);
  CHECK(node.terminate() == 0);
}

TEST_CASE("shopping_cart.corrupt_database_refused") {
  it::temp_dir dir;
  it::node_process node{it::shopping_cart_binary(), dir.path()};
  auto db = node.data_dir() / "actorstate.db";
  {
    std::mt19937 rng{12345};
    std::string junk(8192, '\0');
    for (auto& c : junk)
      c = static_cast<char>(rng() & 0xff);
    std::ofstream out{db, std::ios::binary};
    out << junk;
  }
  node.spawn();
  auto code = node.wait_exit(10s);
  INFO("node log:\n" << node.log_tail());
  REQUIRE_MESSAGE(code.has_value(), "the node is still running 10 s after start on a corrupt database");
  CHECK(*code != 0);
  CHECK(node.log().find(db.string()) != std::string::npos);
}

TEST_CASE("shopping_cart.client_cli") {
  it::temp_dir dir;
  it::node_process node{it::shopping_cart_binary(), dir.path()};
  node.start();
  INFO("node log tail:\n" << node.log_tail());

  int runs = 0;
  auto run_client = [&](std::vector<std::string> args) {
    auto out = dir.path() / ("client-" + std::to_string(++runs) + ".out");
    auto err = dir.path() / ("client-" + std::to_string(runs) + ".err");
    args.insert(args.begin(), {it::shopping_cart_client_binary(), "--server", node.target()});
    auto pid = it::spawn_process(args, out, err);
    auto code = it::wait_for_exit(pid, 30s);
    if (!code) {
      ::kill(pid, SIGKILL);
      it::wait_for_exit(pid, 10s);
    }
    return std::pair{code, it::read_file(out) + it::read_file(err)};
  };

  auto [add_code, add_out] = run_client({"add", "frank", "p1", "Pen", "2"});
  CHECK(add_code == 0);
  CHECK(add_out == "ok\n");
  auto [get_code, get_out] = run_client({"get", "frank"});
  CHECK(get_code == 0);
  CHECK(get_out == "p1 Pen 2\n");
  auto [bad_code, bad_out] = run_client({"remove", "frank", "p9"});
  CHECK(bad_code == 1);
  CHECK(bad_out.find("Item p9 not in cart") != std::string::npos);
  CHECK(node.terminate() == 0);
}
