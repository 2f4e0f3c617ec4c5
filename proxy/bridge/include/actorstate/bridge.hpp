// The Cloudstate protocol bridge: entity types whose code runs in a user function (any language with a Cloudstate
// 0.2 support library) served by an actorstate node. `discover` asks the user function which services and entities
// it has (retrying with backoff until it answers), builds their descriptors, validates them and registers one
// entity type per entity with the node; the node's regions then spawn bridge actors that hold one protocol stream
// per active entity instance. Invalid specs are reported to the user function (reportError) and logged.
//
// `discover` blocks the calling thread (call it before `node::serve`, never from an actor); everything else runs in
// actors and gRPC callbacks.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace actorstate {

class node;

namespace bridge {

struct bridge_options {
  std::string user_function_host = "127.0.0.1";
  uint16_t user_function_port = 8080;
  std::chrono::milliseconds backoff_min{1000};  ///< First retry delay of discovery; doubles up to backoff_max.
  std::chrono::milliseconds backoff_max{10000};
  size_t max_message_size = 12 * 1024 * 1024;  ///< Largest message to or from the user function.
};

/// Registers the bridge's flags (`--user-function-host`, `--user-function-port`, discovery backoff) on `app`.
class bridge_flags {
public:
  bridge_flags(CLI::App& app, bridge_options& opts);
  /// Applies environment variables (USER_FUNCTION_HOST, USER_FUNCTION_PORT, ACTORSTATE_DISCOVERY_BACKOFF_MIN/MAX)
  /// where no flag was given and converts durations; throws CLI::ValidationError on bad values.
  void apply(int argc, char** argv);

private:
  bridge_options& opts_;
  std::vector<std::pair<CLI::Option*, std::string>> env_;
  std::string backoff_min_ = "1s";
  std::string backoff_max_ = "10s";
};

/// Runs discovery until the user function answers with a valid spec (then registers its entities with `n` and
/// returns true) or `stop()` returns true (then returns false).
bool discover(node& n, const bridge_options& opts, const std::function<bool()>& stop);

}  // namespace bridge
}  // namespace actorstate
