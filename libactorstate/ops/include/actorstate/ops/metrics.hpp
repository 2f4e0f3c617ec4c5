// Prometheus metrics: counters, gauges and histograms registered once (at entity-type registration) and then
// updated lock-free from any thread. `render` produces the text exposition format for /metrics.
//
// Thread rules: register before serving (one thread); update and render from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace actorstate::metrics {

class counter {
public:
  void inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<uint64_t> value_{0};
};

class gauge {
public:
  void add(int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  void set(int64_t n) { value_.store(n, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<int64_t> value_{0};
};

/// Latency histogram with fixed buckets from 50 µs to 10 s.
class histogram {
public:
  static const std::vector<double>& bounds();
  histogram();
  void observe(std::chrono::nanoseconds d);
  void render(std::string& out, const std::string& name, const std::string& labels) const;

private:
  std::vector<std::atomic<uint64_t>> buckets_;
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_ns_{0};
};

/// Per entity type: what /metrics reports about commands, persistence, recovery and passivation.
struct entity_metrics {
  std::string entity_type;
  counter commands;           ///< Commands handled (any outcome).
  counter command_failures;   ///< User failures (UNKNOWN) and system errors.
  histogram command_latency;  ///< Arrival at the entity until the reply left.
  counter persisted_events;   ///< Events or values written.
  counter persist_failures;
  histogram persist_latency;
  counter recoveries;
  counter recovery_failures;
  histogram recovery_latency;
  counter passivations;
  counter restarts;  ///< Entity restarts after a handler or persistence failure.
  counter fenced;    ///< Writes the store refused because another writer owns the entity (conflict).
  counter idempotent_replays;  ///< Commands answered with the stored reply of their idempotency key (nothing ran).
  // CRDT entities: what their replicas send each other (crdt/entities.hpp).
  counter replica_deltas_sent;       ///< Deltas sent to other members (one per member).
  counter replica_full_states_sent;  ///< Whole states sent to repair what deltas missed (one per member).
  counter replica_bytes_sent;        ///< Bytes of the two above (the serialized states, without transport framing).
  counter replica_send_failures;     ///< Sends another member did not acknowledge (unreachable, deadline).
  counter replica_merges;            ///< Deltas and states from other members merged into an instance here.
  gauge active;      ///< Live entity actors.
};

class registry {
public:
  std::shared_ptr<entity_metrics> entity(const std::string& type);
  std::string render() const;

private:
  mutable std::mutex mtx_;
  std::vector<std::shared_ptr<entity_metrics>> entities_;
};

}  // namespace actorstate::metrics
