#include <doctest/doctest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "actorstate/bridge.hpp"

using namespace actorstate::bridge;

namespace {

bridge_options parse(std::vector<std::string> args) {
  bridge_options opts;
  CLI::App app{"test"};
  bridge_flags flags{app, opts};
  std::vector<char*> argv;
  static std::string prog = "proxy";
  argv.push_back(prog.data());
  for (auto& a : args)
    argv.push_back(a.data());
  app.parse(static_cast<int>(argv.size()), argv.data());
  flags.apply(static_cast<int>(argv.size()), argv.data());
  return opts;
}

}  // namespace

TEST_CASE("flags.discovery_backoff_from_flag_or_environment") {
  auto defaults = parse({});
  CHECK(defaults.backoff_min == std::chrono::seconds{1});
  CHECK(defaults.backoff_max == std::chrono::seconds{10});
  ::setenv("ACTORSTATE_DISCOVERY_BACKOFF_MIN", "250ms", 1);
  ::setenv("ACTORSTATE_DISCOVERY_BACKOFF_MAX", "3s", 1);
  auto from_env = parse({});
  auto flag_wins = parse({"--discovery-backoff-max", "2s"});
  ::unsetenv("ACTORSTATE_DISCOVERY_BACKOFF_MIN");
  ::unsetenv("ACTORSTATE_DISCOVERY_BACKOFF_MAX");
  CHECK(from_env.backoff_min == std::chrono::milliseconds{250});
  CHECK(from_env.backoff_max == std::chrono::seconds{3});
  CHECK(flag_wins.backoff_min == std::chrono::milliseconds{250});
  CHECK(flag_wins.backoff_max == std::chrono::seconds{2});
  CHECK_THROWS(parse({"--discovery-backoff-min", "soon"}));
}
