// Helpers shared by the benchmark programs: latency percentiles, the process's resident set size, and the one-line
// JSON records that bench/run.sh reads (one object per line on stdout, numbers only, no nesting).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
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

/// The q-quantile (0..1) of `v` (sorted in place); 0 when empty.
inline double percentile(std::vector<double>& v, double q) {
  if (v.empty())
    return 0;
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

}  // namespace bench
