#include "actorstate/ops/metrics.hpp"

#include <cstdio>

namespace actorstate::metrics {

const std::vector<double>& histogram::bounds() {
  static const std::vector<double> b{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                     0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10};
  return b;
}

histogram::histogram() : buckets_(bounds().size()) {}

void histogram::observe(std::chrono::nanoseconds d) {
  double secs = static_cast<double>(d.count()) / 1e9;
  const auto& b = bounds();
  for (size_t i = 0; i < b.size(); ++i) {
    if (secs <= b[i]) {
      buckets_[i].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<uint64_t>(d.count() < 0 ? 0 : d.count()), std::memory_order_relaxed);
}

void histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  const auto& b = bounds();
  uint64_t cumulative = 0;
  char buf[64];
  for (size_t i = 0; i < b.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    std::snprintf(buf, sizeof(buf), "%g", b[i]);
    out += name + "_bucket{" + labels + ",le=\"" + buf + "\"} " + std::to_string(cumulative) + "\n";
  }
  auto count = count_.load(std::memory_order_relaxed);
  out += name + "_bucket{" + labels + ",le=\"+Inf\"} " + std::to_string(count) + "\n";
  std::snprintf(buf, sizeof(buf), "%.9f", static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9);
  out += name + "_sum{" + labels + "} " + buf + "\n";
  out += name + "_count{" + labels + "} " + std::to_string(count) + "\n";
}

std::shared_ptr<entity_metrics> registry::entity(const std::string& type) {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& e : entities_)
    if (e->entity_type == type)
      return e;
  auto e = std::make_shared<entity_metrics>();
  e->entity_type = type;
  entities_.push_back(e);
  return e;
}

namespace {

template <class Get>
void family(std::string& out, const std::vector<std::shared_ptr<entity_metrics>>& all, const char* name,
            const char* type, const char* help, Get get) {
  out += std::string{"# HELP "} + name + " " + help + "\n";
  out += std::string{"# TYPE "} + name + " " + type + "\n";
  for (auto& e : all)
    out += std::string{name} + "{entity_type=\"" + e->entity_type + "\"} " + std::to_string(get(*e)) + "\n";
}

void hist_family(std::string& out, const std::vector<std::shared_ptr<entity_metrics>>& all, const char* name,
                 const char* help, histogram entity_metrics::*member) {
  out += std::string{"# HELP "} + name + " " + help + "\n";
  out += std::string{"# TYPE "} + name + " histogram\n";
  for (auto& e : all)
    ((*e).*member).render(out, name, "entity_type=\"" + e->entity_type + "\"");
}

}  // namespace

std::string registry::render() const {
  std::vector<std::shared_ptr<entity_metrics>> all;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    all = entities_;
  }
  std::string out;
  family(out, all, "actorstate_commands_total", "counter", "Commands handled by entities.",
         [](const entity_metrics& m) { return m.commands.value(); });
  family(out, all, "actorstate_command_failures_total", "counter", "Commands that did not succeed.",
         [](const entity_metrics& m) { return m.command_failures.value(); });
  hist_family(out, all, "actorstate_command_duration_seconds", "Time from arrival at the entity to the reply.",
              &entity_metrics::command_latency);
  family(out, all, "actorstate_persisted_total", "counter", "Events or values written to the store.",
         [](const entity_metrics& m) { return m.persisted_events.value(); });
  family(out, all, "actorstate_persist_failures_total", "counter", "Writes the store rejected or failed.",
         [](const entity_metrics& m) { return m.persist_failures.value(); });
  hist_family(out, all, "actorstate_persist_duration_seconds", "Time until a write was durable.",
              &entity_metrics::persist_latency);
  family(out, all, "actorstate_recoveries_total", "counter", "Entity activations that loaded state.",
         [](const entity_metrics& m) { return m.recoveries.value(); });
  family(out, all, "actorstate_recovery_failures_total", "counter", "Activations that could not load state.",
         [](const entity_metrics& m) { return m.recovery_failures.value(); });
  hist_family(out, all, "actorstate_recovery_duration_seconds", "Time to load snapshot and events.",
              &entity_metrics::recovery_latency);
  family(out, all, "actorstate_passivations_total", "counter", "Entities stopped after idling or by the LRU cap.",
         [](const entity_metrics& m) { return m.passivations.value(); });
  family(out, all, "actorstate_entity_restarts_total", "counter", "Restarts after handler or store failures.",
         [](const entity_metrics& m) { return m.restarts.value(); });
  family(out, all, "actorstate_fenced_writes_total", "counter",
         "Writes refused by the store because another writer owns the entity (its shard is fenced).",
         [](const entity_metrics& m) { return m.fenced.value(); });
  family(out, all, "actorstate_idempotent_replays_total", "counter",
         "Commands answered with the stored reply of an idempotency key the entity had already applied.",
         [](const entity_metrics& m) { return m.idempotent_replays.value(); });
  family(out, all, "actorstate_crdt_deltas_sent_total", "counter",
         "CRDT deltas sent to other members, one per member and change.",
         [](const entity_metrics& m) { return m.replica_deltas_sent.value(); });
  family(out, all, "actorstate_crdt_full_states_sent_total", "counter",
         "Whole CRDT states sent to other members to repair what deltas missed.",
         [](const entity_metrics& m) { return m.replica_full_states_sent.value(); });
  family(out, all, "actorstate_crdt_replica_bytes_sent_total", "counter",
         "Bytes of CRDT deltas and states sent to other members (serialized, without transport framing).",
         [](const entity_metrics& m) { return m.replica_bytes_sent.value(); });
  family(out, all, "actorstate_crdt_replica_send_failures_total", "counter",
         "CRDT replica messages another member did not acknowledge.",
         [](const entity_metrics& m) { return m.replica_send_failures.value(); });
  family(out, all, "actorstate_crdt_replica_merges_total", "counter",
         "CRDT deltas and states from other members merged into an instance here.",
         [](const entity_metrics& m) { return m.replica_merges.value(); });
  family(out, all, "actorstate_active_entities", "gauge", "Entity instances currently in memory.",
         [](const entity_metrics& m) { return m.active.value(); });
  return out;
}

}  // namespace actorstate::metrics
