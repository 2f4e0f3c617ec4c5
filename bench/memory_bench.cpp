// Memory of the native path, with the counter sample's value entity (state: one int64):
//  `active`: a child process first creates --entities counters (Add) in a fresh SQLite store; then a fresh node on
//    that store (no passivation: --max-active-entities above N, passivation timeout 1 h) is warmed up on 1000 other
//    counters, and the VmRSS before and after activating the N counters (Get, closed loop) gives the resident bytes
//    per active entity, also shown without the growth of SQLite's own allocations (page cache of the rows read).
//  `churn`: a node with --max-active 10000 creates --entities counters (one Add each, closed loop), so all but the
//    last 10000 are passivated on the way; reports VmRSS along the way, at the end and after malloc_trim(0) (without
//    what the allocator holds unused), and the time it took.
// Both check the node's actorstate_active_entities gauge and are bounded by --max-seconds.
//   memory_bench active [--entities 100000] [--json]
//   memory_bench churn [--entities 1000000] [--max-active 10000] [--json]
#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include <actorstate/node.hpp>

#include "bench_common.hpp"
#include "bench_node.hpp"
#include "counter_entity.hpp"

namespace {

namespace c = actorstate::samples::counter;
using bench::clock_type;
const std::string service = "actorstate.samples.counter.Counter";

struct load_result {
  uint64_t ok = 0;
  uint64_t errors = 0;
  double seconds = 0;
  bool complete = false;  ///< Every key was done before the deadline.
};

/// Sends one command per key `prefix + i` (i from `first`, `count` keys) with `clients` in flight; `on_progress` is
/// called about every 100 ms from the calling thread with the number of replies so far.
load_result per_key(actorstate::node& node, const std::string& method, const std::string& prefix, uint64_t first,
                    uint64_t count, size_t clients, std::chrono::seconds max_time,
                    const std::function<void(uint64_t)>& on_progress = {}) {
  std::atomic<uint64_t> next_key{0};
  std::atomic<uint64_t> ok{0}, errors{0};
  std::atomic<size_t> finished{0};
  auto t0 = clock_type::now();
  auto deadline = t0 + max_time;
  std::function<void()> next = [&] {
    auto i = next_key.fetch_add(1);
    if (i >= count || clock_type::now() > deadline) {
      ++finished;
      return;
    }
    auto key = prefix + std::to_string(first + i);
    std::string payload;
    if (method == "Add") {
      c::AddRequest add;
      add.set_key(key);
      add.set_delta(1);
      payload = add.SerializeAsString();
    } else {
      c::GetRequest get;
      get.set_key(key);
      payload = get.SerializeAsString();
    }
    node.invoke(service, {key, method, payload, {}}, [&](actorstate::command_result r) {
      ++(r.ok() ? ok : errors);
      next();
    });
  };
  for (size_t i = 0; i < clients; ++i)
    next();
  while (finished.load() < clients) {
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
    if (on_progress)
      on_progress(ok.load() + errors.load());
  }
  load_result r;
  r.ok = ok.load();
  r.errors = errors.load();
  r.seconds = bench::seconds_since(t0);
  r.complete = r.ok + r.errors == count;
  return r;
}

/// The sum of the actorstate_active_entities gauge from the management endpoint's /metrics, or -1.
double active_entities(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string body;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    std::string req = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (::send(fd, req.data(), req.size(), 0) == static_cast<ssize_t>(req.size())) {
      char buf[8192];
      ssize_t n;
      while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0 && body.size() < 16 * 1024 * 1024)
        body.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  std::istringstream in{body};
  std::string line;
  double sum = -1;
  while (std::getline(in, line)) {
    if (line.rfind("actorstate_active_entities", 0) != 0)
      continue;
    auto space = line.rfind(' ');
    if (space == std::string::npos)
      continue;
    sum = (sum < 0 ? 0 : sum) + std::stod(line.substr(space + 1));
  }
  return sum;
}

actorstate::node_options node_opts(const std::string& store, size_t max_active, std::chrono::milliseconds passivation) {
  auto opts = bench::local_node_options(store);
  opts.max_active_entities = max_active;
  opts.passivation_timeout = passivation;
  return opts;
}

double mib(uint64_t bytes) {
  return static_cast<double>(bytes) / (1024.0 * 1024.0);
}

int run_active(const std::string& dir, uint64_t entities, size_t clients, std::chrono::seconds max_time, bool json) {
  auto store = "sqlite:" + dir + "/active.db";
  const uint64_t warmup = 1000;
  // Create the counters in a child process, so that none of its allocations are in this one's heap.
  std::fflush(stdout);
  pid_t child = ::fork();
  if (child < 0)
    return 2;
  if (child == 0) {
    actorstate::node node{node_opts(store, 20000, std::chrono::seconds{30})};
    if (!bench::start_node(node, counter::make_entity()))
      ::_exit(2);
    auto r = per_key(node, "Add", "m-", 0, entities + warmup, 256, max_time);
    bench::stop_node(node);
    ::_exit(r.complete && r.errors == 0 ? 0 : 1);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "memory_bench: creating the counters failed or timed out\n");
    return 1;
  }

  actorstate::node node{node_opts(store, entities * 2 + 2 * warmup, std::chrono::hours{1})};
  if (!bench::start_node(node, counter::make_entity()))
    return 2;
  // Warm up on other counters: thread stacks, regions, connections, arenas.
  per_key(node, "Get", "m-", entities, warmup, clients, max_time);
  std::this_thread::sleep_for(std::chrono::milliseconds{300});
  auto rss0 = bench::rss_bytes();
  auto sql0 = static_cast<uint64_t>(sqlite3_memory_used());
  auto active0 = active_entities(node.management_port());
  auto r = per_key(node, "Get", "m-", 0, entities, clients, max_time);
  std::this_thread::sleep_for(std::chrono::milliseconds{300});
  auto rss1 = bench::rss_bytes();
  auto sql1 = static_cast<uint64_t>(sqlite3_memory_used());
  auto active1 = active_entities(node.management_port());
  bench::stop_node(node);
  auto n = static_cast<double>(r.ok);
  double per = n > 0 ? (static_cast<double>(rss1) - static_cast<double>(rss0)) / n : 0;
  double sqlite_per = n > 0 ? (static_cast<double>(sql1) - static_cast<double>(sql0)) / n : 0;
  if (json)
    bench::record{}
        .add("bench", "memory_active")
        .add("entities", r.ok)
        .add("errors", r.errors)
        .add("bytes_per_entity", per)
        .add("sqlite_bytes_per_entity", sqlite_per)
        .add("rss_before_mib", mib(rss0))
        .add("rss_after_mib", mib(rss1))
        .add("active_before", active0)
        .add("active_after", active1)
        .add("activate_s", r.seconds)
        .add("complete", uint64_t{r.complete ? 1u : 0u})
        .print();
  else
    std::printf(
        "%llu active counters: VmRSS %.1f -> %.1f MiB, %.0f B per entity (%.0f B of it SQLite's own "
        "allocations); active gauge %.0f -> %.0f; activated in %.1f s, %llu errors\n",
        static_cast<unsigned long long>(r.ok), mib(rss0), mib(rss1), per, sqlite_per, active0, active1, r.seconds,
        static_cast<unsigned long long>(r.errors));
  return r.complete && r.errors == 0 ? 0 : 1;
}

int run_churn(const std::string& dir, uint64_t entities, size_t max_active, size_t clients,
              std::chrono::seconds max_time, bool json) {
  actorstate::node node{node_opts("sqlite:" + dir + "/churn.db", max_active, std::chrono::seconds{30})};
  if (!bench::start_node(node, counter::make_entity()))
    return 2;
  auto rss_start = bench::rss_bytes();
  uint64_t rss_tenth = 0, rss_peak = rss_start;
  auto r = per_key(node, "Add", "c-", 0, entities, clients, max_time, [&](uint64_t done) {
    auto rss = bench::rss_bytes();
    rss_peak = std::max(rss_peak, rss);
    if (rss_tenth == 0 && done >= entities / 10)
      rss_tenth = rss;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds{300});
  auto rss_end = bench::rss_bytes();
  auto sql = static_cast<uint64_t>(sqlite3_memory_used());
  auto active = active_entities(node.management_port());
  // Without what the allocator holds only because it has not returned freed memory to the system.
  ::malloc_trim(0);
  auto rss_trimmed = bench::rss_bytes();
  bench::stop_node(node);
  if (json)
    bench::record{}
        .add("bench", "memory_churn")
        .add("entities", r.ok)
        .add("errors", r.errors)
        .add("max_active", uint64_t{max_active})
        .add("seconds", r.seconds)
        .add("rate", static_cast<double>(r.ok) / r.seconds)
        .add("rss_start_mib", mib(rss_start))
        .add("rss_tenth_mib", mib(rss_tenth))
        .add("rss_peak_mib", mib(rss_peak))
        .add("rss_end_mib", mib(rss_end))
        .add("rss_trimmed_mib", mib(rss_trimmed))
        .add("sqlite_mib", mib(sql))
        .add("active_end", active)
        .add("complete", uint64_t{r.complete ? 1u : 0u})
        .print();
  else
    std::printf(
        "%llu counters created (%llu errors) in %.1f s (%.0f/s) with at most %zu active: VmRSS %.1f MiB at "
        "start, %.1f MiB after a tenth, %.1f MiB peak, %.1f MiB at the end, %.1f MiB after malloc_trim "
        "(SQLite's allocations %.1f MiB); active gauge %.0f%s\n",
        static_cast<unsigned long long>(r.ok), static_cast<unsigned long long>(r.errors), r.seconds,
        static_cast<double>(r.ok) / r.seconds, max_active, mib(rss_start), mib(rss_tenth), mib(rss_peak), mib(rss_end),
        mib(rss_trimmed), mib(sql), active, r.complete ? "" : " (stopped at --max-seconds)");
  return r.errors == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"memory per active entity and under passivation churn (native path, counter value entity)"};
  app.require_subcommand(1);
  std::string dir;
  uint64_t entities = 0;
  size_t max_active = 10000;
  size_t clients = 256;
  int max_seconds = 0;
  bool json = false;
  auto* active = app.add_subcommand("active", "RSS per active entity");
  auto* churn = app.add_subcommand("churn", "RSS after creating many entities with passivation");
  for (auto* sub : {active, churn}) {
    sub->add_option("--dir", dir, "Directory of the SQLite store (default: temporary, removed)");
    sub->add_option("--clients", clients, "Commands in flight")->capture_default_str()->check(CLI::Range(1, 10000));
    sub->add_option("--max-seconds", max_seconds, "Upper bound of each load phase (default 120 / 180)");
    sub->add_flag("--json", json, "One JSON record instead of text");
  }
  active->add_option("--entities", entities, "Active entities (default 100000)")->check(CLI::Range(1, 10'000'000));
  churn->add_option("--entities", entities, "Entities created (default 1000000)")->check(CLI::Range(1, 100'000'000));
  churn->add_option("--max-active", max_active, "Most active entities")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  bool own_dir = dir.empty();
  if (own_dir)
    dir = (std::filesystem::temp_directory_path() / ("actorstate-memory-" + std::to_string(::getpid()))).string();
  std::filesystem::create_directories(dir);
  int rc;
  if (active->parsed())
    rc = run_active(dir, entities ? entities : 100000, clients, std::chrono::seconds{max_seconds ? max_seconds : 120},
                    json);
  else
    rc = run_churn(dir, entities ? entities : 1000000, max_active, clients,
                   std::chrono::seconds{max_seconds ? max_seconds : 180}, json);
  if (own_dir)
    std::filesystem::remove_all(dir);
  return rc;
}
