// Crash durability through actorstate-proxy: an AddItem the proxy acknowledged must survive a SIGKILL of the proxy
// at an arbitrary moment under load — and, every other round, a SIGKILL of the user function as well — and no
// command may be applied twice. After each round the user function is back on its port and the proxy restarts on
// the same data directory, so every cart is replayed from the journal into the user function. The kill delay is
// random; the seed is printed and can be pinned with ACTORSTATE_CRASH_SEED, the number of rounds set with
// ACTORSTATE_PROXY_CRASH_ITERATIONS (default 20).
#include <doctest/doctest.h>

#include <cstdlib>
#include <random>
#include <thread>

#include "cart_client.hpp"
#include "node_process.hpp"

namespace it = actorstate::it;
using namespace std::chrono_literals;

namespace {

unsigned long env_number(const char* name, unsigned long fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0')
    return fallback;
  return std::strtoul(text, nullptr, 10);
}

}  // namespace

TEST_CASE("proxy.kill9_keeps_acknowledged_changes") {
  const auto iterations = std::max(env_number("ACTORSTATE_PROXY_CRASH_ITERATIONS", 20), 1ul);
  const auto seed = env_number("ACTORSTATE_CRASH_SEED", std::random_device{}());
  MESSAGE("proxy crash loop: seed=" << seed << " iterations=" << iterations << " (ACTORSTATE_CRASH_SEED to replay)");
  std::mt19937 rng{static_cast<std::mt19937::result_type>(seed)};
  std::uniform_int_distribution<int> delay_ms{50, 400};
  std::bernoulli_distribution uf_first{0.5};

  it::temp_dir dir{"actorstate-pxcrash"};
  it::user_function_process uf{it::shopping_cart_binary(), dir.path() / "uf"};
  uf.start();
  const uint16_t uf_port = uf.port();
  it::node_process proxy{it::proxy_binary(),
                         dir.path() / "proxy",
                         {"--user-function-host", "127.0.0.1", "--user-function-port", std::to_string(uf_port)}};
  const std::vector<std::string> users{"u0", "u1", "u2", "u3"};
  std::map<std::string, std::vector<std::string>> acknowledged;
  size_t total_acked = 0;
  size_t lost = 0;
  size_t duplicated = 0;
  size_t unacked_stored = 0;
  int uf_kills = 0;
  auto loop_began = std::chrono::steady_clock::now();

  proxy.start();
  for (unsigned long i = 0; i < iterations; ++i) {
    auto delay = std::chrono::milliseconds{delay_ms(rng)};
    const bool kill_uf = i % 2 == 1;
    const bool uf_killed_first = kill_uf && uf_first(rng);
    auto began = std::chrono::steady_clock::now();
    it::cart_load load{proxy.target(), users, 4, "i" + std::to_string(i)};
    // The delay counts from the first acknowledgement, so the kill always lands while commands are flowing.
    bool flowing = load.wait_for_acks(1, 10s);
    std::this_thread::sleep_for(delay);
    if (uf_killed_first)
      uf.kill();
    proxy.kill();
    if (kill_uf && !uf_killed_first)
      uf.kill();
    load.stop();  // in-flight calls fail on the reset connection, at worst at their 5 s deadline
    auto killed_log = proxy.log_tail();
    auto killed_uf_log = uf.log_tail(2000);
    REQUIRE_MESSAGE(
        flowing, "no AddItem was acknowledged within 10 s; first failure: " << load.first_failure() << "\nproxy log:\n"
                                                                            << killed_log << "\nuser function log:\n"
                                                                            << killed_uf_log);
    for (const auto& [user, products] : load.acknowledged())
      acknowledged[user].insert(acknowledged[user].end(), products.begin(), products.end());
    total_acked += load.acknowledged_count();

    if (kill_uf) {
      ++uf_kills;
      uf.start(uf_port);
    }
    proxy.start();
    auto stub = it::make_cart_stub(proxy.target());
    auto report = it::check_durability(*stub, acknowledged, users);
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - began);
    const std::string killed = kill_uf ? (uf_killed_first ? "uf+proxy" : "proxy+uf") : "proxy";
    MESSAGE("proxy crash iteration " << i << ": killed=" << killed << " delay=" << delay.count()
                                     << "ms acknowledged=" << load.acknowledged_count()
                                     << " in_flight_failed=" << load.failed_count() << " [" << load.failure_codes()
                                     << "] lost=" << report.lost << " duplicated=" << report.duplicated
                                     << " stored_unacknowledged(total)=" << report.unacknowledged
                                     << " elapsed=" << elapsed.count() << "ms");
    {
      std::string problems;
      for (const auto& p : report.problems)
        problems += "\n  " + p;
      INFO("iteration " << i << problems << "\nkilled proxy's log tail:\n"
                        << killed_log << "\nrestarted proxy's log tail:\n"
                        << proxy.log_tail() << "\nuser function log tail:\n"
                        << uf.log_tail(2000));
      CHECK(report.read_ok);
      CHECK(report.lost == 0);
      CHECK(report.duplicated == 0);
      CHECK(report.acknowledged == total_acked);
    }
    lost = report.lost;
    duplicated = report.duplicated;
    unacked_stored = report.unacknowledged;
  }
  auto loop_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - loop_began).count();
  MESSAGE("proxy crash loop: iterations=" << iterations << " acknowledged=" << total_acked << " lost=" << lost
                                          << " duplicated=" << duplicated << " stored_unacknowledged=" << unacked_stored
                                          << " user_function_kills=" << uf_kills << " elapsed=" << loop_ms << "ms");
  CHECK(total_acked > 0);
  CHECK(proxy.terminate() == 0);
  CHECK(uf.terminate() == 0);
}
