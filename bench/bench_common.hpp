// Helpers shared by the benchmark programs: latency percentiles, the process's resident set size, the one-line JSON
// records that bench/run.sh reads (one object per line on stdout, numbers only, no nesting), and the throughput row
// every closed-loop program prints.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

namespace bench {

using clock_type = std::chrono::steady_clock;

inline double micros_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::micro>(clock_type::now() - start).count();
}

inline double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

/// The q-quantile (0..1) of `v` (sorted in place, once for several quantiles); 0 when empty.
inline double percentile(std::vector<double>& v, double q) {
  if (v.empty())
    return 0;
  if (!std::is_sorted(v.begin(), v.end()))
    std::sort(v.begin(), v.end());
  auto i = static_cast<size_t>(q * static_cast<double>(v.size()));
  return v[std::min(i, v.size() - 1)];
}

/// VmRSS of this process in bytes (0 if /proc is unavailable).
inline uint64_t rss_bytes() {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stoull(line.substr(6)) * 1024;  // "VmRSS:   12345 kB"
  }
  return 0;
}

/// One JSON object on one line: {"k": "text", "n": 1.5, ...}. Keys and text values must not need escaping.
class record {
public:
  record& add(const std::string& key, const std::string& value) {
    fields_.emplace_back(key, "\"" + value + "\"");
    return *this;
  }
  record& add(const std::string& key, const char* value) { return add(key, std::string{value}); }
  record& add(const std::string& key, double value) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3f", value);
    fields_.emplace_back(key, buf);
    return *this;
  }
  record& add(const std::string& key, uint64_t value) {
    fields_.emplace_back(key, std::to_string(value));
    return *this;
  }
  void print() const {
    std::string out = "{";
    for (size_t i = 0; i < fields_.size(); ++i)
      out += (i ? ", \"" : "\"") + fields_[i].first + "\": " + fields_[i].second;
    out += "}\n";
    std::fputs(out.c_str(), stdout);
    std::fflush(stdout);
  }

private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

/// What a closed-loop scenario measured: successful operations per second and their latency percentiles.
struct throughput {
  double rate = 0;
  double p50_us = 0;
  double p99_us = 0;
  uint64_t errors = 0;
  double seconds = 0;
};

/// The first column of the entity-spread tables: "1 hot entity" or "N entities".
inline std::string entities_label(size_t entities) {
  return entities == 1 ? std::string{"1 hot entity"} : std::to_string(entities) + " entities";
}

/// Prints one scenario: bench/run.sh's record, with `counts` (such as {"commands", n}) between the latencies and the
/// errors, or a table row whose first column is `label`.
inline void print_throughput(const std::string& bench, const std::string& label, size_t entities, size_t clients,
                             const throughput& t, std::initializer_list<std::pair<const char*, uint64_t>> counts,
                             bool json) {
  if (json) {
    record r;
    r.add("bench", bench)
        .add("entities", uint64_t{entities})
        .add("clients", uint64_t{clients})
        .add("rate", t.rate)
        .add("p50_us", t.p50_us)
        .add("p99_us", t.p99_us);
    for (const auto& [key, value] : counts)
      r.add(key, value);
    r.add("errors", t.errors).add("seconds", t.seconds).print();
  } else {
    std::printf("| %s | %zu | %.0f | %.0f | %.0f | %llu |\n", label.c_str(), clients, t.rate, t.p50_us, t.p99_us,
                static_cast<unsigned long long>(t.errors));
    std::fflush(stdout);
  }
}

}  // namespace bench
