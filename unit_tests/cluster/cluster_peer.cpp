// A member for the multi-process tests (process_test.cpp): one transport in its own process, in one of two roles.
//   --role serve: answers "Echo" at once and holds every "Hold" call unanswered, printing "held N" as they arrive.
//   --role call --peer HOST:PORT --hold N: calls "Echo" until it works ("ready"), sends N "Hold" calls, prints
//     "lost <t>" when the peer is lost and "ended N unavailable=K" once all N ended, then calls "Echo" again every
//     100 ms until one works ("recovered <t>").
//   --role probe --peer HOST:PORT --blackhole HOST:PORT: calls the blackholed address, then (while that dial is
//     under way) the peer, and prints "healthy <status> <ms>" and "blackholed <status> <ms>" as they end.
// Times <t> are steady-clock milliseconds, which on Linux is CLOCK_MONOTONIC, the same clock in every process, so
// the test compares them with its own. Lines go to stdout, flushed. The process ends on SIGTERM or after
// --max-seconds.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "actorstate/cluster/transport.hpp"
#include "actorstate/ops/process.hpp"

namespace {

using namespace actorstate;
using namespace actorstate::cluster;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

std::mutex out_mtx;

template <class... Ts>
void say(const char* fmt, Ts... xs) {
  std::lock_guard<std::mutex> guard{out_mtx};
  std::printf(fmt, xs...);
  std::printf("\n");
  std::fflush(stdout);
}

long long now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now().time_since_epoch()).count();
}

/// True once SIGTERM/SIGINT arrived (blocked in every thread, taken here) or `until` passed; waits at most `step`.
bool should_stop(clock_type::time_point until, std::chrono::milliseconds step) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  timespec ts{0, static_cast<long>(std::chrono::nanoseconds{step}.count())};
  if (sigtimedwait(&set, nullptr, &ts) > 0)
    return true;
  return clock_type::now() >= until;
}

cluster_call make_call(const std::string& method) {
  cluster_call c;
  c.service = "test.Peer";
  c.cmd.entity_id = "e";
  c.cmd.method = method;
  c.cmd.payload = method;
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cluster transport test member"};
  std::string role;
  std::string port_file;
  std::string peer;
  std::string blackhole;
  int hold = 8;
  int hb_ms = 100;
  int timeout_ms = 500;
  int max_seconds = 60;
  app.add_option("--role", role)->required()->check(CLI::IsMember({"serve", "call", "probe"}));
  app.add_option("--port-file", port_file);
  app.add_option("--peer", peer);
  app.add_option("--blackhole", blackhole);
  app.add_option("--hold", hold);
  app.add_option("--heartbeat-ms", hb_ms);
  app.add_option("--timeout-ms", timeout_ms);
  app.add_option("--max-seconds", max_seconds);
  CLI11_PARSE(app, argc, argv);
  ops::block_termination_signals();
  auto until = clock_type::now() + std::chrono::seconds{max_seconds};

  caf::actor_system_config cfg;
  remoting_options remoting;
  remoting.heartbeat_interval = std::chrono::milliseconds{hb_ms};
  remoting.connection_timeout = std::chrono::milliseconds{timeout_ms};
  if (auto st = configure_remoting(cfg, remoting); !st.ok()) {
    std::fprintf(stderr, "%s\n", st.to_string().c_str());
    return 2;
  }
  cfg.set("scheduler.max-threads", size_t{2});
  cfg.set("work-stealing.aggressive-poll-attempts", size_t{0});
  cfg.set("work-stealing.moderate-poll-attempts", size_t{0});
  caf::actor_system sys{cfg};

  std::mutex held_mtx;
  std::vector<std::function<void(command_result)>> held;
  std::mutex state_mtx;
  bool lost = false;
  transport_options opts;
  opts.bind = "127.0.0.1";
  opts.inbound = [&](cluster_call c, std::function<void(command_result)> reply) {
    if (c.cmd.method != "Hold") {
      reply(command_result::success("echo"));
      return;
    }
    size_t n;
    {
      std::lock_guard<std::mutex> guard{held_mtx};
      held.push_back(std::move(reply));
      n = held.size();
    }
    say("held %zu", n);
  };
  opts.peer_lost = [&](const std::string& who, const status& why) {
    {
      std::lock_guard<std::mutex> guard{state_mtx};
      lost = true;
    }
    say("lost %lld %s %s", now_ms(), who.c_str(), why.to_string().c_str());
  };
  auto started = transport::start(sys, opts);
  if (!started.ok()) {
    std::fprintf(stderr, "%s\n", started.error().to_string().c_str());
    return 2;
  }
  auto& net = *started.value();
  if (!port_file.empty() && !ops::write_port_file(port_file, net.port()))
    return 2;

  // One Echo call, waited for up to 2 s; whether it worked.
  auto echo_once = [&] {
    auto done = std::make_shared<std::promise<bool>>();
    auto answer = done->get_future();
    net.call(peer, make_call("Echo"), clock_type::now() + 1s, [done](command_result r) { done->set_value(r.ok()); });
    return answer.wait_for(2s) == std::future_status::ready && answer.get();
  };

  if (role == "probe") {
    auto t0 = clock_type::now();
    auto since = [t0] {
      return static_cast<long long>(
          std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t0).count());
    };
    auto left = std::make_shared<std::atomic<int>>(2);
    auto report = [&, left](const char* what) {
      return [&, left, what](command_result r) {
        say("%s %s %lld", what, std::string{to_string(r.status.code())}.c_str(), since());
        --*left;
      };
    };
    net.call(blackhole, make_call("Echo"), clock_type::now() + 10s, report("blackholed"));
    std::this_thread::sleep_for(50ms);
    net.call(peer, make_call("Echo"), clock_type::now() + 10s, report("healthy"));
    while (*left > 0 && !should_stop(until, 10ms)) {
    }
  } else if (role == "call") {
    bool ready = false;
    while (!ready && !should_stop(until, 100ms))
      ready = echo_once();
    if (!ready)
      return 3;
    say("ready");
    auto ended = std::make_shared<std::atomic<int>>(0);
    auto unavailable = std::make_shared<std::atomic<int>>(0);
    for (int i = 0; i < hold; ++i)
      net.call(peer, make_call("Hold"), clock_type::now() + 60s, [=](command_result r) {
        if (r.status.code() == status_code::unavailable)
          ++*unavailable;
        if (++*ended == hold)
          say("ended %d unavailable=%d", hold, unavailable->load());
      });
    bool recovered = false;
    while (!should_stop(until, 100ms)) {
      bool was_lost;
      {
        std::lock_guard<std::mutex> guard{state_mtx};
        was_lost = lost;
      }
      if (was_lost && !recovered && echo_once()) {
        recovered = true;
        say("recovered %lld", now_ms());
      }
    }
  } else {
    while (!should_stop(until, 100ms)) {
    }
  }
  net.stop();
  {
    std::lock_guard<std::mutex> guard{held_mtx};
    held.clear();  // before the actor system their peer links' proxies live in
  }
  return 0;
}
