#include "crash_loop.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <map>
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

namespace actorstate::it {

void crash_loop(const std::vector<std::string>& node_args) {
  const auto iterations = env_number("ACTORSTATE_CRASH_ITERATIONS", 20);
  const auto seed = env_number("ACTORSTATE_CRASH_SEED", std::random_device{}());
  MESSAGE("crash loop: seed=" << seed << " iterations=" << iterations << " (ACTORSTATE_CRASH_SEED to replay)");
  std::mt19937 rng{static_cast<std::mt19937::result_type>(seed)};
  std::uniform_int_distribution<int> delay_ms{50, 400};

  it::temp_dir dir;
  it::node_process node{it::shopping_cart_binary(), dir.path(), node_args};
  const std::vector<std::string> users{"u0", "u1", "u2", "u3"};
  std::map<std::string, std::vector<std::string>> acknowledged;
  size_t total_acked = 0;
  size_t total_lost = 0;
  size_t total_duplicated = 0;
  size_t unacked_stored = 0;

  node.start();
  for (unsigned long i = 0; i < iterations; ++i) {
    auto delay = std::chrono::milliseconds{delay_ms(rng)};
    auto began = std::chrono::steady_clock::now();
    it::cart_load load{node.target(), users, 4, "i" + std::to_string(i)};
    // The delay counts from the first acknowledgement, so the kill always lands while commands are flowing.
    bool flowing = load.wait_for_acks(1, 10s);
    std::this_thread::sleep_for(delay);
    node.kill();
    load.stop();  // in-flight calls fail on the reset connection, at worst at their 5 s deadline
    auto killed_log = node.log_tail();
    REQUIRE_MESSAGE(flowing, "no AddItem was acknowledged within 10 s; first failure: " << load.first_failure()
                                                                                        << "\nnode log:\n"
                                                                                        << killed_log);
    for (const auto& [user, products] : load.acknowledged())
      acknowledged[user].insert(acknowledged[user].end(), products.begin(), products.end());
    total_acked += load.acknowledged_count();

    node.start();
    auto stub = it::make_cart_stub(node.target());
    auto report = it::check_durability(*stub, acknowledged, users);
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - began);
    MESSAGE("crash iteration " << i << ": delay=" << delay.count() << "ms acknowledged=" << load.acknowledged_count()
                               << " in_flight_failed=" << load.failed_count() << " lost=" << report.lost
                               << " duplicated=" << report.duplicated << " stored_unacknowledged(total)="
                               << report.unacknowledged << " elapsed=" << elapsed.count() << "ms");
    {
      std::string problems;
      for (const auto& p : report.problems)
        problems += "\n  " + p;
      INFO("iteration " << i << problems << "\nkilled run's log tail:\n"
                        << killed_log << "\nrestarted node's log tail:\n"
                        << node.log_tail());
      CHECK(report.read_ok);
      CHECK(report.lost == 0);
      CHECK(report.duplicated == 0);
      CHECK(report.acknowledged == total_acked);
    }
    total_lost = report.lost;
    total_duplicated = report.duplicated;
    unacked_stored = report.unacknowledged;
  }
  MESSAGE("crash loop: iterations=" << iterations << " acknowledged=" << total_acked << " lost=" << total_lost
                                    << " duplicated=" << total_duplicated
                                    << " stored_unacknowledged=" << unacked_stored);
  CHECK(node.terminate() == 0);
}

}  // namespace actorstate::it
