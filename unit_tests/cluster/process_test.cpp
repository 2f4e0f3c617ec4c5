// Two member processes (cluster_peer, started twice): the caller notices a hung peer (SIGSTOP) by CAF's heartbeats
// within connection timeout + heartbeat interval, fails its calls in flight with UNAVAILABLE, and reaches the peer
// again once it runs (SIGCONT). Every wait is bounded; processes are killed on any way out.
#include <signal.h>

#include <doctest/doctest.h>

#include <sstream>

#include "node_process.hpp"

namespace {

using namespace actorstate::it;
using clock_type = std::chrono::steady_clock;

long long now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now().time_since_epoch()).count();
}

/// SIGKILLs the process when the test leaves, however it leaves (a stopped process dies of SIGKILL too).
struct process_guard {
  pid_t pid;
  ~process_guard() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      (void)wait_for_exit(pid, 5s);
    }
  }
  /// SIGTERM and a bounded wait; the exit code, or nullopt (then killed by the destructor).
  std::optional<int> terminate() {
    ::kill(pid, SIGTERM);
    auto code = wait_for_exit(pid, 10s);
    if (code)
      pid = -1;
    return code;
  }
};

/// The first line of `text` that starts with `prefix`, or "".
std::string line_with(const std::string& text, const std::string& prefix) {
  std::istringstream in{text};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(prefix, 0) == 0)
      return line;
  return {};
}

}  // namespace

TEST_CASE("process.a_hung_peer_is_noticed_by_heartbeat_and_its_calls_fail_unavailable") {
  constexpr int heartbeat_ms = 100;
  constexpr int timeout_ms = 500;
  temp_dir dir{"actorstate-cluster"};
  auto out = [&](const char* name) { return dir.path() / name; };
  auto logs = [&] {
    return "client:\n" + read_file(out("client.out")) + read_file(out("client.err")) + "server:\n" +
           read_file(out("server.out")) + read_file(out("server.err"));
  };
  process_guard server{
      spawn_process({ACTORSTATE_CLUSTER_PEER, "--role", "serve", "--port-file", out("port").string(), "--heartbeat-ms",
                     std::to_string(heartbeat_ms), "--timeout-ms", std::to_string(timeout_ms)},
                    out("server.out"), out("server.err"))};
  REQUIRE_MESSAGE(wait_until([&] { return fs::exists(out("port")); }, 10s), read_file(out("server.err")));
  auto port = std::stoi(read_file(out("port")));
  process_guard client{
      spawn_process({ACTORSTATE_CLUSTER_PEER, "--role", "call", "--peer", "127.0.0.1:" + std::to_string(port), "--hold",
                     "8", "--heartbeat-ms", std::to_string(heartbeat_ms), "--timeout-ms", std::to_string(timeout_ms)},
                    out("client.out"), out("client.err"))};
  REQUIRE_MESSAGE(wait_until([&] { return !line_with(read_file(out("server.out")), "held 8").empty(); }, 15s), logs());
  REQUIRE(!line_with(read_file(out("client.out")), "ready").empty());

  auto stopped_at = now_ms();
  REQUIRE(::kill(server.pid, SIGSTOP) == 0);
  REQUIRE_MESSAGE(wait_until([&] { return !line_with(read_file(out("client.out")), "ended").empty(); }, 10s), logs());
  auto client_out = read_file(out("client.out"));
  auto lost = line_with(client_out, "lost ");
  REQUIRE(!lost.empty());
  auto noticed_after = std::stoll(lost.substr(5)) - stopped_at;
  MESSAGE("hung peer noticed after " << noticed_after << " ms (heartbeat " << heartbeat_ms << " ms, timeout "
                                     << timeout_ms << " ms): " << lost);
  CHECK(noticed_after >= timeout_ms - heartbeat_ms);
  // Between the timeout and timeout + interval, plus slack for a loaded 2-core machine.
  CHECK(noticed_after <= timeout_ms + heartbeat_ms + 700);
  CHECK(line_with(client_out, "ended") == "ended 8 unavailable=8");

  REQUIRE(::kill(server.pid, SIGCONT) == 0);
  REQUIRE_MESSAGE(wait_until([&] { return !line_with(read_file(out("client.out")), "recovered").empty(); }, 15s),
                  logs());
  CHECK(client.terminate() == std::optional<int>{0});
  CHECK(server.terminate() == std::optional<int>{0});
}
