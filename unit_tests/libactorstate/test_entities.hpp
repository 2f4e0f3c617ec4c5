// Entity types for the runtime tests and a harness that runs shard regions on a real actor system over a
// fault-injecting memory store, answering commands synchronously for the test thread.
#pragma once

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include <caf/all.hpp>

#include "actorstate/entity.hpp"
#include "actorstate/node.hpp"
#include "actorstate/ops/metrics.hpp"
#include "actorstate/persistence/fault_injection.hpp"
#include "actorstate/runtime/shard_region.hpp"
#include "testing/test_entities.pb.h"

namespace actorstate::testing {

event_sourced_entity<TextState> text_log(int64_t snapshot_every = 0);
value_entity<NumberState> number_register();
action echo();

/// A node on `store` on loopback, both ports picked free, logging at `log_level` and above.
inline node_options local_node_options(const std::string& store = "memory", const std::string& log_level = "error") {
  node_options opts;
  opts.store = store;
  opts.port = 0;
  opts.management_port = 0;
  opts.bind = "127.0.0.1";
  opts.log_level = log_level;
  return opts;
}

/// Serializes a request.
template <class Message>
command make_command(const std::string& id, const std::string& method, const Message& msg) {
  return command{id, method, msg.SerializeAsString()};
}

using region_ptr = std::shared_ptr<const runtime::region>;

class harness {
public:
  /// Over the memory store.
  harness();
  /// Over `inner` (e.g. SQLite on a fault-injecting VFS); `store` still wraps it.
  explicit harness(std::shared_ptr<persistence::store> inner);
  ~harness();

  /// Spawns a region for `model` with the given settings (after resolving the model's service descriptor).
  region_ptr region(std::shared_ptr<detail::model_base> model,
                    std::chrono::milliseconds passivation = std::chrono::seconds{30}, size_t max_active = 1000);

  /// Sends `cmd` and waits (up to 10 s) for the result.
  command_result call(const region_ptr& region, command cmd);

  /// Sends without waiting; the result arrives in the returned future.
  std::future<command_result> call_async(const region_ptr& region, command cmd);

  /// Instances in memory over all of the region's shards.
  uint64_t active(const region_ptr& region);

  std::shared_ptr<persistence::faulty_store> store;
  std::shared_ptr<metrics::entity_metrics> metrics;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::vector<region_ptr> regions;
};

/// Waits up to `limit` for `pred` to hold.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds{10}) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  }
  return pred();
}

}  // namespace actorstate::testing
