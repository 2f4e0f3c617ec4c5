// The closed loop of the native benchmarks (native_bench, crdt_bench): `clients` callers, each sending its next
// command through node::invoke (in-process, no gRPC) as soon as its previous answer is in, until `duration` has passed
// or `max_commands` were issued. Measures answered commands/s (errors excluded) and the p50/p99 latency of the
// successful ones.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <actorstate/node.hpp>

#include "bench_common.hpp"

namespace bench {

struct invoke_result : throughput {
  uint64_t commands = 0;
};

/// Client `client`'s `n`-th command: the service it goes to and the command.
using command_maker = std::function<std::pair<std::string, actorstate::command>(size_t client, uint64_t n)>;

inline invoke_result run_invoke_loop(actorstate::node& node, size_t clients, std::chrono::seconds duration,
                                     uint64_t max_commands, const command_maker& command_for) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> issued{0};
  std::atomic<uint64_t> done{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<size_t> finished{0};
  std::mutex mtx;
  std::vector<double> latencies;
  struct client {
    size_t index;
    uint64_t n = 0;
    std::vector<double> lat;
  };
  std::vector<std::unique_ptr<client>> cs;
  for (size_t i = 0; i < clients; ++i)
    cs.push_back(std::make_unique<client>(client{i}));
  std::function<void(client*)> next = [&](client* c) {
    if (stop.load() || issued.fetch_add(1) >= max_commands) {
      std::lock_guard<std::mutex> guard{mtx};
      latencies.insert(latencies.end(), c->lat.begin(), c->lat.end());
      ++finished;
      return;
    }
    auto [service, cmd] = command_for(c->index, c->n++);
    auto start = clock_type::now();
    node.invoke(service, std::move(cmd), [&, c, start](actorstate::command_result r) {
      if (r.ok())
        c->lat.push_back(micros_since(start));
      else
        ++errors;
      ++done;
      next(c);
    });
  };
  auto t0 = clock_type::now();
  for (auto& c : cs)
    next(c.get());
  // Wait for the deadline, or until every client ran out of the command budget.
  while (clock_type::now() - t0 < duration && finished.load() < clients)
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  stop = true;
  auto elapsed = seconds_since(t0);
  while (finished.load() < clients)
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  invoke_result r;
  r.commands = done.load();
  r.seconds = elapsed;
  r.rate = static_cast<double>(r.commands - errors.load()) / elapsed;
  r.p50_us = percentile(latencies, 0.50);
  r.p99_us = percentile(latencies, 0.99);
  r.errors = errors.load();
  return r;
}

}  // namespace bench
