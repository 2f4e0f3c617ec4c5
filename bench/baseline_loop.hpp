// The closed-loop group-commit loop shared by the raw store baselines (sqlite_baseline, pg_baseline): `clients`
// simulated clients each have one journal row outstanding; a single writer folds all of them into one transaction,
// commits it durably, and every client then issues its next row at once. That is the best a group-commit writer can
// do with that many concurrent clients: every transaction carries exactly `clients` rows and nothing else. Rows spread
// over `entities` persistence ids the way native_bench spreads its commands, each with the next sequence number of
// its id, and carry the shopping cart's ItemAdded event as native_bench's commands do.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "shoppingcart/persistence/domain.pb.h"

namespace bench {

struct journal_row {
  std::string persistence_id;
  int64_t seq = 0;
  std::string type;
  std::string payload;
};

/// `rate` counts durable rows per second.
struct loop_result : throughput {
  uint64_t rows = 0;
  uint64_t transactions = 0;
};

/// Runs the loop until `duration` or `max_rows`; `commit` writes one batch in one durable transaction and returns
/// false on failure, which ends the loop (the batch's rows count as errors).
inline loop_result group_commit_loop(size_t clients, size_t entities, const std::string& prefix,
                                     std::chrono::seconds duration, uint64_t max_rows,
                                     const std::function<bool(const std::vector<journal_row>&)>& commit) {
  com::example::shoppingcart::persistence::ItemAdded added;
  added.mutable_item()->set_productid("p");
  added.mutable_item()->set_name("bench");
  added.mutable_item()->set_quantity(1);
  const std::string type = "type.googleapis.com/" + added.GetDescriptor()->full_name();
  const std::string payload = added.SerializeAsString();
  std::vector<int64_t> seqs(entities, 0);
  std::vector<uint64_t> per_client(clients, 0);
  std::vector<journal_row> batch(clients);
  std::vector<double> latencies;
  loop_result r;
  auto t0 = clock_type::now();
  while (clock_type::now() - t0 < duration && r.rows + r.errors + clients <= max_rows) {
    auto start = clock_type::now();
    for (size_t c = 0; c < clients; ++c) {
      auto e = (c + per_client[c]++ * clients) % entities;
      batch[c] = {prefix + std::to_string(e), ++seqs[e], type, payload};
    }
    bool ok = commit(batch);
    ++r.transactions;
    if (!ok) {  // a raw baseline does not retry: the scenario ends with its errors counted
      r.errors += clients;
      break;
    }
    // Every client of the batch waited from the batch's start to its commit.
    latencies.push_back(micros_since(start));
    r.rows += clients;
  }
  r.seconds = seconds_since(t0);
  r.rate = static_cast<double>(r.rows) / r.seconds;
  r.p50_us = percentile(latencies, 0.50);
  r.p99_us = percentile(latencies, 0.99);
  return r;
}

/// The header of the table that print_loop_result's rows belong to.
inline void print_loop_header() {
  std::printf("| scenario | clients | rows/s | p50 µs | p99 µs | errors |\n|---|---|---|---|---|---|\n");
}

/// Prints `r` as bench/run.sh's record or as a table row.
inline void print_loop_result(const char* name, size_t clients, size_t entities, const loop_result& r, bool json) {
  print_throughput(name, entities_label(entities), entities, clients, r,
                   {{"rows", r.rows}, {"transactions", r.transactions}}, json);
}

}  // namespace bench
