// The hand-off from threads that are not actors (gRPC reactors, in-process callers) into the actor system. A
// caller posts a command with a completion callback; a gateway actor sends it to the region as a request and runs the
// callback exactly once, with the result or, if none came within the command timeout, DEADLINE_EXCEEDED (a late
// result is dropped). No caller ever blocks on an actor. Transport errors (dead region) reach the callback as a
// `command_result` with the matching status.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <vector>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include "actorstate/messages.hpp"

namespace actorstate::runtime {

class gateway_pool {
public:
  gateway_pool(caf::actor_system& sys, size_t size, std::chrono::milliseconds timeout);

  /// Thread-safe; `done` runs on an actor thread and must not block.
  void dispatch(const caf::actor& region, command cmd, std::function<void(command_result)> done);

  /// Stops the gateways (pending requests still complete).
  void stop();

private:
  std::vector<caf::actor> gateways_;
  std::atomic<size_t> next_{0};
};

}  // namespace actorstate::runtime
