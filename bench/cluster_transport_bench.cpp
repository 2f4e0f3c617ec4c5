// The cluster transport between two processes on this host (docs/cluster.md, "Transport"): sequential round trip
// and pipelined throughput (16 and 256 calls in flight) of 100-byte echo calls, for CAF's default settings and for
// the transport's (configure_remoting plus the node's scheduler settings), each without and with batching. Both
// processes use the row's settings; the server is this program started again with --serve. Every loop is bounded
// in count and time.
//   cluster_transport_bench [--seconds N (3)] [--sequential N (3000)]
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "actorstate/cluster/transport.hpp"
#include "bench_common.hpp"

extern char** environ;

namespace {

using namespace actorstate;
using namespace actorstate::cluster;
using namespace std::chrono_literals;
using bench::clock_type;

struct settings {
  bool tuned = false;  ///< false: CAF's defaults for the scheduler and the middleman.
  bool batching = false;
};

/// CAF's defaults, or the transport's settings with the node's scheduler settings (libactorstate/node/src/node.cpp).
void apply(caf::actor_system_config& cfg, const settings& s) {
  (void)configure_remoting(cfg);  // types and node id are needed either way
  auto cores = std::max<size_t>(1, std::thread::hardware_concurrency());
  if (!s.tuned) {
    // What CAF 0.17.6 computes when nothing is set: min(3, cores / 4) + 1 BASP workers, no heartbeats.
    cfg.set("middleman.workers", std::min<size_t>(3, cores / 4) + 1);
    cfg.set("middleman.heartbeat-interval", caf::timespan{0});
    return;
  }
  cfg.set("scheduler.max-threads", std::max<size_t>(2, cores));
  cfg.set("work-stealing.aggressive-poll-attempts", size_t{0});
  cfg.set("work-stealing.moderate-poll-attempts", size_t{0});
}

cluster_call payload_call() {
  cluster_call c;
  c.service = "bench.Echo";
  c.cmd.entity_id = "e";
  c.cmd.method = "Echo";
  c.cmd.payload = std::string(100, 'x');
  return c;
}

/// This process's transport with the row's settings: an echo server, or a client that serves nothing.
result<std::unique_ptr<transport>> start_transport(caf::actor_system& sys, const settings& s, bool echo) {
  transport_options opts;
  opts.bind = "127.0.0.1";
  opts.batching = s.batching;
  opts.inbound = [echo](cluster_call c, std::function<void(command_result)> reply) {
    reply(echo ? command_result::success(std::move(c.cmd.payload))
               : command_result::failure(status_code::unimplemented, "the client serves nothing"));
  };
  return transport::start(sys, std::move(opts));
}

int serve(const settings& s, const std::string& port_file) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  caf::actor_system_config cfg;
  apply(cfg, s);
  caf::actor_system sys{cfg};
  auto t = start_transport(sys, s, true);
  if (!t.ok())
    return 2;
  {
    std::ofstream out{port_file + ".tmp"};
    out << t.value()->port() << "\n";
  }
  std::filesystem::rename(port_file + ".tmp", port_file);
  timespec limit{120, 0};  // never outlive a crashed client by long
  sigtimedwait(&set, nullptr, &limit);
  t.value()->stop();
  return 0;
}

struct row_result {
  std::vector<double> rtt_us;
  double sequential_rate = 0;
  double w16_rate = 0;
  double w256_rate = 0;
  uint64_t errors = 0;
};

/// Keeps `window` calls in flight until `limit` calls were issued or `seconds` passed; calls per second.
double pipelined(transport& t, const std::string& peer, size_t window, uint64_t limit, double seconds,
                 uint64_t& errors) {
  struct state {
    transport& t;
    std::string peer;
    uint64_t limit;
    clock_type::time_point end;
    std::atomic<uint64_t> issued{0};
    std::atomic<uint64_t> completed{0};
    std::atomic<uint64_t> errors{0};
    std::atomic<bool> closed{false};
    std::mutex mtx;
    std::condition_variable cv;
    cluster_call call = payload_call();

    void issue() {
      if (closed.load() || clock_type::now() >= end || issued.fetch_add(1) >= limit) {
        closed = true;
        std::lock_guard<std::mutex> guard{mtx};
        cv.notify_all();
        return;
      }
      t.call(peer, call, clock_type::now() + 10s, [this](command_result r) {
        if (!r.ok())
          ++errors;
        ++completed;
        issue();
      });
    }
  };
  auto start = clock_type::now();
  state s{t, peer, limit,
          start + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(seconds))};
  for (size_t i = 0; i < window; ++i)
    s.issue();
  {
    std::unique_lock<std::mutex> lock{s.mtx};
    s.cv.wait_for(lock, std::chrono::duration<double>(seconds + 15), [&] { return s.closed.load(); });
  }
  // The calls still in flight end within their 10 s deadline at the latest.
  auto drain_until = clock_type::now() + 12s;
  while (s.completed.load() < std::min<uint64_t>(s.issued.load(), limit) && clock_type::now() < drain_until)
    std::this_thread::sleep_for(100us);
  auto rate = static_cast<double>(s.completed.load()) / bench::seconds_since(start);
  errors += s.errors.load();
  return rate;
}

row_result measure(const settings& s, const std::string& self_exe, size_t sequential, double seconds) {
  row_result out;
  char dir_template[] = "/tmp/cluster-bench-XXXXXX";
  std::string dir = mkdtemp(dir_template);
  auto port_file = dir + "/port";
  std::vector<std::string> args{self_exe, "--serve", "--port-file", port_file};
  if (s.tuned)
    args.push_back("--tuned");
  if (s.batching)
    args.push_back("--batching");
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t server = 0;
  if (posix_spawn(&server, self_exe.c_str(), nullptr, nullptr, argv.data(), environ) != 0)
    return out;
  for (int i = 0; i < 500 && !std::filesystem::exists(port_file); ++i)
    std::this_thread::sleep_for(10ms);
  std::string port;
  std::ifstream{port_file} >> port;
  {
    caf::actor_system_config cfg;
    apply(cfg, s);
    caf::actor_system sys{cfg};
    auto t = start_transport(sys, s, false);
    if (t.ok() && !port.empty()) {
      auto& net = *t.value();
      auto peer = "127.0.0.1:" + port;
      auto call_once = [&] {
        auto p = std::make_shared<std::promise<bool>>();
        auto f = p->get_future();
        net.call(peer, payload_call(), clock_type::now() + 5s, [p](command_result r) { p->set_value(r.ok()); });
        return f.wait_for(6s) == std::future_status::ready && f.get();
      };
      for (int i = 0; i < 200; ++i)  // connect and warm up
        if (!call_once())
          ++out.errors;
      auto start = clock_type::now();
      for (size_t i = 0; i < sequential && bench::seconds_since(start) < seconds; ++i) {
        auto t0 = clock_type::now();
        if (!call_once())
          ++out.errors;
        out.rtt_us.push_back(bench::micros_since(t0));
      }
      out.sequential_rate = static_cast<double>(out.rtt_us.size()) / bench::seconds_since(start);
      out.w16_rate = pipelined(net, peer, 16, 200000, seconds, out.errors);
      out.w256_rate = pipelined(net, peer, 256, 400000, seconds, out.errors);
      net.stop();
    }
  }
  ::kill(server, SIGTERM);
  int status = 0;
  for (int i = 0; i < 500 && waitpid(server, &status, WNOHANG) == 0; ++i)
    std::this_thread::sleep_for(10ms);
  ::kill(server, SIGKILL);
  waitpid(server, &status, WNOHANG);
  std::filesystem::remove_all(dir);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cluster transport benchmark"};
  bool serve_mode = false;
  std::string port_file;
  settings s;
  double seconds = 3;
  size_t sequential = 3000;
  app.add_flag("--serve", serve_mode);
  app.add_option("--port-file", port_file);
  app.add_flag("--tuned", s.tuned);
  app.add_flag("--batching", s.batching);
  app.add_option("--seconds", seconds)->check(CLI::Range(1.0, 60.0));
  app.add_option("--sequential", sequential)->check(CLI::Range(10, 1000000));
  CLI11_PARSE(app, argc, argv);
  if (serve_mode)
    return serve(s, port_file);
  auto self_exe = std::filesystem::read_symlink("/proc/self/exe").string();
  std::printf(
      "| settings (both processes) | batching | sequential p50 µs | avg µs | p99 µs | sequential calls/s | "
      "16 in flight calls/s | 256 in flight calls/s | errors |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  std::fflush(stdout);
  for (bool tuned : {false, true})
    for (bool batching : {false, true}) {
      settings row{tuned, batching};
      auto r = measure(row, self_exe, sequential, seconds);
      double avg = 0;
      for (auto v : r.rtt_us)
        avg += v;
      avg = r.rtt_us.empty() ? 0 : avg / static_cast<double>(r.rtt_us.size());
      auto p50 = bench::percentile(r.rtt_us, 0.5);
      auto p99 = bench::percentile(r.rtt_us, 0.99);
      std::printf("| %s | %s | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %llu |\n",
                  tuned ? "transport (workers=0, heartbeats, no sleep-polling)" : "CAF defaults",
                  batching ? "on" : "off", p50, avg, p99, r.sequential_rate, r.w16_rate, r.w256_rate,
                  static_cast<unsigned long long>(r.errors));
      std::fflush(stdout);
    }
  return 0;
}
