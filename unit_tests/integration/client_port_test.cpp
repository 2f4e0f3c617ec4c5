// The client and management ports when the node runs out of file descriptors: accepting backs off instead of
// spinning, the failures are logged once per interval rather than once per attempt, /ready answers "not ready"
// while the client port cannot accept, and everything recovers once descriptors are free again.
#include <doctest/doctest.h>

#include <sys/resource.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <thread>
#include <utility>

#include "cart_client.hpp"
#include "http_cart.hpp"
#include "node_process.hpp"

namespace it = actorstate::it;
using namespace std::chrono_literals;

namespace {

size_t open_fds(pid_t pid) {
  size_t n = 0;
  std::error_code ec;
  for (auto i = it::fs::directory_iterator{"/proc/" + std::to_string(pid) + "/fd", ec};
       !ec && i != it::fs::directory_iterator{}; i.increment(ec))
    ++n;
  return n;
}

/// User plus system CPU time of `pid` so far (/proc/PID/stat fields 14 and 15).
std::chrono::milliseconds cpu_time(pid_t pid) {
  auto stat = it::read_file("/proc/" + std::to_string(pid) + "/stat");
  std::istringstream rest{stat.substr(stat.rfind(')') + 2)};  // the command name may hold spaces
  std::string field;
  long long utime = 0;
  long long stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14)
      utime = std::stoll(field);
    if (i == 15)
      stime = std::stoll(field);
  }
  return std::chrono::milliseconds{(utime + stime) * 1000 / ::sysconf(_SC_CLK_TCK)};
}

int status_of(const std::string& response) {
  return response.rfind("HTTP/1.1 ", 0) == 0 ? std::atoi(response.c_str() + 9) : 0;
}

}  // namespace

TEST_CASE("client_port.out_of_file_descriptors_backs_off_and_is_not_ready") {
  it::temp_dir dir;
  it::node_process node{it::counter_binary(), dir.path()};
  node.start();
  INFO("node log tail:\n" << node.log_tail(2000));
  const pid_t pid = node.pid();

  // A management connection accepted while descriptors are still free: /ready can be asked over it later. Its
  // descriptor is seen once the count settled (the probes of start() may still be closing).
  size_t before = 0;
  it::wait_until(
      [&] {
        auto now = open_fds(pid);
        return std::exchange(before, now) == now;
      },
      10s, 200ms);
  it::raw_connection ready_probe{node.management_port(), 5s};
  CAPTURE(before);
  REQUIRE(it::wait_until([&] { return open_fds(pid) > before; }, 10s));

  // Leave the node a few descriptors only (the soft limit: the hard one stays, so it can be raised again).
  rlimit old{};
  REQUIRE(::prlimit(pid, RLIMIT_NOFILE, nullptr, &old) == 0);
  rlimit low = old;
  low.rlim_cur = open_fds(pid) + 16;
  REQUIRE(::prlimit(pid, RLIMIT_NOFILE, &low, nullptr) == 0);
  struct restore_limit {
    pid_t pid;
    rlimit limit;
    ~restore_limit() { ::prlimit(pid, RLIMIT_NOFILE, &limit, nullptr); }
  } restore{pid, old};

  // Slow clients that send nothing: the node accepts until it runs out, the rest wait in the listen backlog.
  std::vector<std::unique_ptr<it::raw_connection>> slow;
  for (int i = 0; i < 64; ++i)
    slow.push_back(std::make_unique<it::raw_connection>(node.port(), 5s));
  REQUIRE(it::wait_until([&] { return open_fds(pid) >= low.rlim_cur; }, 10s));

  // Health checks that connect now find the management port out of descriptors too.
  std::vector<std::unique_ptr<it::raw_connection>> probes;
  for (int i = 0; i < 3; ++i)
    probes.push_back(std::make_unique<it::raw_connection>(node.management_port(), 5s));

  // Two seconds out of descriptors: a few log lines, and the node idles instead of retrying accept(2) in a loop.
  auto log_before = it::read_file(node.log_path()).size();
  auto cpu_before = cpu_time(pid);
  std::this_thread::sleep_for(2s);
  auto log_growth = it::read_file(node.log_path()).size() - log_before;
  auto cpu_used = cpu_time(pid) - cpu_before;
  CHECK(log_growth < 4096);
  CHECK(cpu_used < 500ms);
  CHECK(node.log().find("cannot accept client connections") != std::string::npos);

  REQUIRE(ready_probe.send("GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  bool closed = false;
  auto answer = ready_probe.receive_all(closed);
  CAPTURE(answer);
  CHECK(status_of(answer) == 503);

  // The clients go away: descriptors are free again (the limit stays low), and the node is ready and serving.
  slow.clear();
  probes.clear();
  CHECK(it::wait_until([&] { return it::http_get(node.management_port(), "/ready").status == 200; }, 20s, 100ms));
  CHECK(it::post(node.port(), "/counter/k/add", "5").body == "\"5\"");
  CHECK(node.log().find("accepting client connections again") != std::string::npos);
  CHECK(node.terminate() == 0);
}
