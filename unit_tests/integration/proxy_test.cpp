// End-to-end tests of actorstate-proxy as a real process in front of the shopping cart running as a Cloudstate user
// function (`shopping-cart --user-function`): the cart session and the bad-input contract through the proxy,
// readiness only after discovery, a user function killed and restarted under the proxy, graceful shutdown, and
// passivation with recovery replayed into the user function. Everything runs on free ports.
#include <doctest/doctest.h>

#include <future>

#include <grpcpp/generic/generic_stub.h>

#include "bad_input_checks.hpp"
#include "cart_client.hpp"
#include "node_process.hpp"

namespace it = actorstate::it;
namespace api = it::cart_api;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

using it::cart_text;
using it::metric_sample;
using it::raw_call;
using it::status_text;

namespace {

// The proxy's flags for a user function on 127.0.0.1:`port`, then `more`.
std::vector<std::string> proxy_args(uint16_t port, std::vector<std::string> more = {}) {
  std::vector<std::string> args{"--user-function-host", "127.0.0.1", "--user-function-port", std::to_string(port)};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

long long ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TEST_CASE("proxy.shopping_cart_session") {
  it::temp_dir dir{"actorstate-px"};
  it::user_function_process uf{it::shopping_cart_binary(), dir.path() / "uf"};
  uf.start();
  // SQLite under the temp dir (the proxy's default store is sqlite:<data-dir>/actorstate.db; named explicitly here).
  auto db = dir.path() / "proxy" / "data" / "actorstate.db";
  it::node_process proxy{it::proxy_binary(), dir.path() / "proxy",
                         proxy_args(uf.port(), {"--store", "sqlite:" + db.string()})};
  proxy.start();
  INFO("proxy log tail:\n" << proxy.log_tail() << "\nuser function log tail:\n" << uf.log_tail());
  CHECK(fs::exists(db));
  auto stub = it::make_cart_stub(proxy.target());

  CHECK(cart_text(*stub, "alice") == "");
  REQUIRE(it::add_item(*stub, "alice", "p1", "Pen", 2).ok());
  REQUIRE(it::add_item(*stub, "alice", "p2", "Paper", 3).ok());
  REQUIRE(it::add_item(*stub, "alice", "p1", "Pen", 1).ok());
  CHECK(cart_text(*stub, "alice") == "p1 Pen 3; p2 Paper 3");
  REQUIRE(it::add_item(*stub, "bob", "p9", "Glue", 1).ok());
  CHECK(cart_text(*stub, "bob") == "p9 Glue 1");

  REQUIRE(it::remove_item(*stub, "alice", "p1").ok());
  CHECK(cart_text(*stub, "alice") == "p2 Paper 3");
  REQUIRE(it::add_item(*stub, "alice", "p3", "Ink", 4).ok());
  CHECK(cart_text(*stub, "alice") == "p2 Paper 3; p3 Ink 4");

  {
    auto zero = it::add_item(*stub, "alice", "p4", "Clip", 0);
    CHECK_MESSAGE(zero.error_code() == grpc::StatusCode::UNKNOWN, status_text(zero));
    CHECK(zero.error_message() == "Cannot add negative quantity to item p4");
    auto negative = it::add_item(*stub, "alice", "p2", "Paper", -1);
    CHECK_MESSAGE(negative.error_code() == grpc::StatusCode::UNKNOWN, status_text(negative));
    CHECK(negative.error_message() == "Cannot add negative quantity to item p2");
    auto absent = it::remove_item(*stub, "alice", "p1");
    CHECK_MESSAGE(absent.error_code() == grpc::StatusCode::UNKNOWN, status_text(absent));
    CHECK(absent.error_message() == "Item p1 not in cart");
    auto never = it::remove_item(*stub, "carol", "p7");
    CHECK_MESSAGE(never.error_code() == grpc::StatusCode::UNKNOWN, status_text(never));
    CHECK(never.error_message() == "Item p7 not in cart");
  }
  // Rejected commands emit no events: the carts are as before and the entities keep working.
  CHECK(cart_text(*stub, "alice") == "p2 Paper 3; p3 Ink 4");
  CHECK(cart_text(*stub, "carol") == "");
  REQUIRE(it::add_item(*stub, "alice", "p2", "Paper", 1).ok());
  CHECK(cart_text(*stub, "alice") == "p2 Paper 4; p3 Ink 4");

  // Bad input, sent as raw bytes through the proxy.
  it::check_bad_input(proxy.target());

  CHECK(it::http_get(proxy.management_port(), "/alive").status == 200);
  CHECK(it::http_get(proxy.management_port(), "/ready").status == 200);
  auto metrics = it::http_get(proxy.management_port(), "/metrics");
  CHECK(metrics.status == 200);
  INFO("metrics:\n" << metrics.body.substr(0, 3000));
  auto commands = it::metric_value(metrics.body, metric_sample("actorstate_commands_total"));
  REQUIRE(commands.has_value());
  // 16 successful commands went through the proxy above (failures may or may not count).
  CHECK(*commands >= 16);

  CHECK(proxy.terminate() == 0);
  CHECK(uf.terminate() == 0);
}

TEST_CASE("proxy.ready_only_after_discovery") {
  it::temp_dir dir{"actorstate-px"};
  // The user function's port is chosen before it runs; the proxy is pointed at it while nothing listens there.
  const uint16_t uf_port = it::pick_free_port();
  it::node_process proxy{it::proxy_binary(), dir.path() / "proxy",
                         proxy_args(uf_port, {"--discovery-backoff-min", "100ms", "--discovery-backoff-max", "500ms"})};
  it::user_function_process uf{it::shopping_cart_binary(), dir.path() / "uf"};
  proxy.spawn();
  INFO("user function port " << uf_port);
  auto management = proxy.wait_for_management_port(20s);
  REQUIRE_MESSAGE(management != 0, "no management port logged; proxy log:\n" << proxy.log_tail());

  CHECK(it::http_get(management, "/alive").status == 200);
  CHECK(it::http_get(management, "/ready").status == 503);
  // For a second: still running, still not ready, and no client port.
  std::string broke;
  it::wait_until(
      [&] {
        if (!proxy.running() || proxy.wait_exit(0ms).has_value())
          broke = "the proxy exited";
        else if (fs::exists(proxy.port_file()))
          broke = "the port file appeared";
        else if (auto ready = it::http_get(management, "/ready").status; ready != 503)
          broke = "/ready answered " + std::to_string(ready);
        return !broke.empty();
      },
      1s, 50ms);
  CHECK_MESSAGE(broke.empty(), broke << " without a user function; proxy log:\n" << proxy.log_tail());
  CHECK(proxy.log().find("listening on grpc") == std::string::npos);

  uf.start(uf_port);
  auto started = std::chrono::steady_clock::now();
  REQUIRE_NOTHROW(proxy.wait_serving(10s));
  auto ready_ms = ms_since(started);
  MESSAGE("ready_only_after_discovery: ready " << ready_ms << " ms after the user function started");
  INFO("proxy log tail:\n" << proxy.log_tail() << "\nuser function log tail:\n" << uf.log_tail());
  CHECK(ready_ms < 10000);
  CHECK(management == proxy.management_port());
  CHECK(it::http_get(management, "/ready").status == 200);
  CHECK(proxy.log().find("discovery succeeded") != std::string::npos);
  auto stub = it::make_cart_stub(proxy.target());
  auto added = it::add_item(*stub, "gina", "g1", "Glue", 2);
  CHECK_MESSAGE(added.ok(), status_text(added));
  CHECK(cart_text(*stub, "gina") == "g1 Glue 2");
  CHECK(proxy.terminate() == 0);
}

TEST_CASE("proxy.user_function_killed_and_restarted") {
  it::temp_dir dir{"actorstate-px"};
  it::user_function_process uf{it::shopping_cart_binary(), dir.path() / "uf"};
  uf.start();
  const uint16_t uf_port = uf.port();
  it::node_process proxy{it::proxy_binary(), dir.path() / "proxy", proxy_args(uf_port)};
  proxy.start();
  INFO("proxy log tail:\n" << proxy.log_tail() << "\nuser function log tail:\n" << uf.log_tail());
  auto stub = it::make_cart_stub(proxy.target());

  // Six events for kate (past the snapshot at five) and one for liam.
  std::string kate;
  for (int i = 1; i <= 6; ++i) {
    auto product = "k" + std::to_string(i);
    auto status = it::add_item(*stub, "kate", product, "Item" + std::to_string(i), i);
    REQUIRE_MESSAGE(status.ok(), status_text(status));
    kate += (i == 1 ? "" : "; ") + product + " Item" + std::to_string(i) + " " + std::to_string(i);
  }
  REQUIRE(it::add_item(*stub, "liam", "l1", "Lamp", 1).ok());
  REQUIRE(cart_text(*stub, "kate") == kate);

  uf.kill();
  // The proxy learns of the loss when the entity's stream breaks; the first call may race with that.
  grpc::Status outage;
  int attempts = 0;
  bool unavailable = it::wait_until(
      [&] {
        ++attempts;
        api::Cart cart;
        outage = it::get_cart(*stub, "kate", cart);
        return outage.error_code() == grpc::StatusCode::UNAVAILABLE;
      },
      10s, 50ms);
  CHECK_MESSAGE(unavailable, "GetCart with the user function gone: " << status_text(outage));
  auto add_during_outage = it::add_item(*stub, "kate", "kx", "Lost", 1);
  CHECK_MESSAGE(add_during_outage.error_code() == grpc::StatusCode::UNAVAILABLE, status_text(add_during_outage));
  auto fresh_during_outage = it::add_item(*stub, "mona", "m0", "Lost", 1);
  CHECK_MESSAGE(fresh_during_outage.error_code() == grpc::StatusCode::UNAVAILABLE, status_text(fresh_during_outage));
  CHECK(it::http_get(proxy.management_port(), "/alive").status == 200);
  MESSAGE("user_function_killed_and_restarted: UNAVAILABLE after "
          << attempts << " GetCart attempt(s): " << status_text(outage)
          << "; /ready during outage: " << it::http_get(proxy.management_port(), "/ready").status);

  uf.start(uf_port);
  auto restarted = std::chrono::steady_clock::now();
  std::string seen;
  bool recovered = it::wait_until(
      [&] {
        seen = cart_text(*stub, "kate");
        return seen == kate;
      },
      10s, 50ms);
  auto recovered_ms = ms_since(restarted);
  MESSAGE("user_function_killed_and_restarted: cart replayed into the new user function after " << recovered_ms
                                                                                                << " ms");
  CHECK_MESSAGE(recovered, "kate's cart 10 s after the user function came back: " << seen);
  CHECK(cart_text(*stub, "liam") == "l1 Lamp 1");
  CHECK(cart_text(*stub, "mona") == "");
  auto added = it::add_item(*stub, "kate", "k7", "Item7", 7);
  CHECK_MESSAGE(added.ok(), status_text(added));
  CHECK(cart_text(*stub, "kate") == kate + "; k7 Item7 7");
  CHECK(proxy.terminate() == 0);
  CHECK(uf.terminate() == 0);
}

TEST_CASE("proxy.sigterm_clean_exit") {
  it::temp_dir dir{"actorstate-px"};
  it::user_function_process uf{it::shopping_cart_binary(), dir.path() / "uf"};
  uf.start();

  SUBCASE("serving") {
    it::node_process proxy{it::proxy_binary(), dir.path() / "serving", proxy_args(uf.port())};
    proxy.start();
    auto stub = it::make_cart_stub(proxy.target());
    REQUIRE(it::add_item(*stub, "nina", "n1", "Nut", 1).ok());
    REQUIRE(cart_text(*stub, "nina") == "n1 Nut 1");
    auto signalled = std::chrono::steady_clock::now();
    auto code = proxy.terminate(15s);
    MESSAGE("sigterm_clean_exit (serving): exit=" << code.value_or(-1) << " after " << ms_since(signalled) << " ms");
    INFO("proxy log tail:\n" << proxy.log_tail());
    CHECK(code == 0);
    // The next start finds what the first one stored.
    proxy.start();
    auto again = it::make_cart_stub(proxy.target());
    CHECK(cart_text(*again, "nina") == "n1 Nut 1");
    CHECK(proxy.terminate(15s) == 0);
  }

  SUBCASE("still_discovering") {
    // A proxy whose user function never shows up must stop on SIGTERM as well, from its discovery loop.
    it::node_process proxy{
        it::proxy_binary(), dir.path() / "discovering",
        proxy_args(it::pick_free_port(), {"--discovery-backoff-min", "100ms", "--discovery-backoff-max", "500ms"})};
    proxy.spawn();
    REQUIRE_MESSAGE(proxy.wait_for_management_port(20s) != 0, "proxy log:\n" << proxy.log_tail());
    auto signalled = std::chrono::steady_clock::now();
    auto code = proxy.terminate(15s);
    MESSAGE("sigterm_clean_exit (discovering): exit=" << code.value_or(-1) << " after " << ms_since(signalled)
                                                      << " ms");
    INFO("proxy log tail:\n" << proxy.log_tail());
    CHECK(code == 0);
  }
  CHECK(uf.terminate() == 0);
}

TEST_CASE("proxy.passivation_replays_into_user_function") {
  it::temp_dir dir{"actorstate-px"};
  it::user_function_process uf{it::shopping_cart_binary(), dir.path() / "uf"};
  uf.start();
  it::node_process proxy{it::proxy_binary(), dir.path() / "proxy",
                         proxy_args(uf.port(), {"--passivation-timeout", "100ms"})};
  proxy.start();
  INFO("proxy log tail:\n" << proxy.log_tail() << "\nuser function log tail:\n" << uf.log_tail());
  auto stub = it::make_cart_stub(proxy.target());

  // Seven events: the entity snapshots after the fifth, so recovery needs the snapshot plus two events.
  const char* names[] = {"Apple", "Bread", "Cheese", "Dates", "Eggs", "Flour", "Grapes"};
  std::string expected;
  for (int i = 0; i < 7; ++i) {
    auto product = "q" + std::to_string(i + 1);
    auto status = it::add_item(*stub, "erin", product, names[i], i + 1);
    REQUIRE_MESSAGE(status.ok(), status_text(status));
    expected += (i == 0 ? "" : "; ") + product + " " + names[i] + " " + std::to_string(i + 1);
  }

  std::string metrics;
  bool passivated = it::wait_until(
      [&] {
        metrics = it::http_get(proxy.management_port(), "/metrics").body;
        return it::metric_value(metrics, metric_sample("actorstate_passivations_total")).value_or(0) >= 1;
      },
      10s, 50ms);
  {
    INFO("metrics:\n" << metrics.substr(0, 3000));
    REQUIRE(passivated);
  }
  // The read reactivates the entity: the proxy replays snapshot and events into a new stream to the user function.
  CHECK(cart_text(*stub, "erin") == expected);
  auto recoveries = it::metric_value(it::http_get(proxy.management_port(), "/metrics").body,
                                     metric_sample("actorstate_recoveries_total"));
  MESSAGE("passivation_replays_into_user_function: recoveries_total=" << recoveries.value_or(-1));

  // And from the store alone, after a restart of the proxy.
  CHECK(proxy.terminate() == 0);
  proxy.start();
  auto fresh = it::make_cart_stub(proxy.target());
  CHECK(cart_text(*fresh, "erin") == expected);
  CHECK(proxy.terminate() == 0);
  CHECK(uf.terminate() == 0);
}
