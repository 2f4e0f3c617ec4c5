// Test-side control of real actorstate processes. `node_process` starts a node binary with posix_spawn (the test
// process runs gRPC threads, so fork-without-exec is off limits), on free ports only (`--port 0`,
// `--management-port 0`), with stderr captured in a log file per start and a data directory that outlives restarts.
// `start()` returns once the port file exists, the management port was logged and /ready answers 200, or fails the
// test with the log attached; every wait in this file is bounded and polls instead of sleeping a fixed time.
// `spawn_process()`/`wait_for_exit()` run any other program (the CLI client, a node expected to refuse to start).
// A `node_process` or `temp_dir` going out of scope SIGKILLs the process and removes its files, so a failed REQUIRE
// never leaks processes; set ACTORSTATE_IT_KEEP=1 to keep the temp directories for a post-mortem.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace actorstate::it {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// A fresh directory under $TMPDIR (or /tmp), created with mkdtemp; removed recursively on destruction.
class temp_dir {
public:
  explicit temp_dir(const std::string& tag = "actorstate-it");
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const fs::path& path() const { return path_; }

private:
  fs::path path_;
};

// Starts `argv[0]` with `argv[1..]`; stdout and stderr go to the given files (appended; empty path: /dev/null).
// The child gets default signal dispositions, an empty signal mask and an environment without the node's
// ACTORSTATE_*/HTTP_PORT/MANAGEMENT_PORT/LOG_LEVEL variables, so the caller's shell cannot change the flags.
// Throws std::runtime_error when posix_spawn fails.
pid_t spawn_process(const std::vector<std::string>& argv, const fs::path& stdout_path, const fs::path& stderr_path);
// The same with environment changes applied last: "NAME=value" sets NAME (replacing an inherited one), a bare
// "NAME" removes it.
pid_t spawn_process(const std::vector<std::string>& argv, const fs::path& stdout_path, const fs::path& stderr_path,
                    const std::vector<std::string>& env_changes);

// A port that was free a moment ago: bound on 127.0.0.1 with port 0 and closed again. For a process that must be
// started on a port known in advance (a user function the proxy is already waiting for).
uint16_t pick_free_port();

// Reaps `pid` if it exits within `timeout`: the exit code, or 128 + signal number for a signalled process.
// nullopt when it is still running at the deadline (it is left running).
std::optional<int> wait_for_exit(pid_t pid, std::chrono::milliseconds timeout);

// Polls `done` every `interval` until it returns true or `timeout` passes; returns its last answer.
bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval = 10ms);

std::string read_file(const fs::path& path);

struct http_response {
  int status = 0;                                            // 0: no answer (connection refused, timeout, garbage)
  std::vector<std::pair<std::string, std::string>> headers;  // names in lower case, in the order received
  std::string body;                                          // de-chunked

  // The first header called `name` (lower case), or "".
  std::string header(const std::string& name) const;
};

// One HTTP/1.1 request to 127.0.0.1:port with "Connection: close", so the answer ends with the connection;
// `headers` are "Name: value" lines; a body gets its Content-Length. Never blocks longer than `timeout` per socket
// operation.
http_response http_request(uint16_t port, const std::string& method, const std::string& path,
                           const std::vector<std::string>& headers = {}, const std::string& body = {},
                           std::chrono::milliseconds timeout = 5s);

// A GET with no headers.
http_response http_get(uint16_t port, const std::string& path, std::chrono::milliseconds timeout = 2s);

// A plain TCP connection to 127.0.0.1:port, for what http_request() does not send: malformed framing, pipelined
// requests, clients that connect and send nothing. Socket operations time out after `timeout`; closed on
// destruction.
class raw_connection {
public:
  // Throws std::runtime_error when it cannot connect.
  explicit raw_connection(uint16_t port, std::chrono::milliseconds timeout = 5s);
  ~raw_connection();
  raw_connection(const raw_connection&) = delete;
  raw_connection& operator=(const raw_connection&) = delete;

  bool send(const std::string& bytes);
  // Everything received until the peer closes the connection (then `closed` is true) or nothing arrives for the
  // socket timeout.
  std::string receive_all(bool& closed);
  void close();

private:
  int fd_ = -1;
};

// The value of the Prometheus sample `name{labels}` in `text` (labels written exactly as the node renders them),
// or nullopt when there is no such line.
std::optional<double> metric_value(const std::string& text, const std::string& sample);

class node_process {
public:
  // `work_dir` holds the data directory (work_dir/data), the port file and one log per start (node-<n>.log).
  node_process(fs::path binary, fs::path work_dir, std::vector<std::string> extra_args = {});
  ~node_process();
  node_process(const node_process&) = delete;
  node_process& operator=(const node_process&) = delete;

  // Spawns the node and waits (bounded) until it is serving; throws std::runtime_error carrying the log's tail if
  // it exits or does not get ready in time.
  void start(std::chrono::milliseconds timeout = 20s);
  // Only spawns; for a node that is expected not to start (pair with wait_exit()), or to be waited for in steps.
  void spawn();
  // After spawn(): waits (bounded) for the `listening on management` log line and returns that port (0 when the
  // node exited or did not log it in time); management_port() answers it from then on.
  uint16_t wait_for_management_port(std::chrono::milliseconds timeout);
  // After spawn(): the rest of start() — port file, management port, /ready 200 — or throws like start().
  void wait_serving(std::chrono::milliseconds timeout = 20s);
  // SIGKILL and reap: the crash the durability tests are about.
  void kill();
  // SIGTERM and wait up to `timeout` for the exit; returns the exit code, or nullopt (after a SIGKILL) when the
  // node did not stop in time.
  std::optional<int> terminate(std::chrono::milliseconds timeout = 15s);
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  // kill() if needed, then start() again on the same data directory.
  void restart(std::chrono::milliseconds timeout = 20s);

  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  uint16_t port() const { return port_; }
  uint16_t management_port() const { return management_port_; }
  // host:port for a gRPC channel.
  std::string target() const;
  const fs::path& data_dir() const { return data_dir_; }
  const fs::path& log_path() const { return log_path_; }
  // Where `--port-file` points; it exists only once the node serves its client port.
  const fs::path& port_file() const { return port_file_; }
  // The current start's log; log_tail() keeps the last `bytes` for failure messages.
  std::string log() const;
  std::string log_tail(size_t bytes = 4000) const;

private:
  fs::path binary_;
  fs::path work_dir_;
  fs::path data_dir_;
  fs::path port_file_;
  fs::path log_path_;
  std::vector<std::string> extra_args_;
  pid_t pid_ = -1;
  int starts_ = 0;
  uint16_t port_ = 0;
  uint16_t management_port_ = 0;
};

// A Cloudstate user function (`<binary> --user-function`, e.g. the shopping cart) for the proxy to connect to. It is
// stateless, so it has no data directory; the listen host is forced to 127.0.0.1 (HOST) whatever the caller's shell
// says. start(0) lets it pick a free port; start(port) binds that port (retried while it is briefly still taken),
// which is how a killed user function comes back where the proxy expects it. Logs go to work_dir/uf-<n>.log.
class user_function_process {
public:
  user_function_process(fs::path binary, fs::path work_dir, std::vector<std::string> extra_args = {});
  ~user_function_process();
  user_function_process(const user_function_process&) = delete;
  user_function_process& operator=(const user_function_process&) = delete;

  // Spawns it and waits (bounded) for the port file and the `listening on user-function` log line; throws
  // std::runtime_error with the log's tail otherwise.
  void start(uint16_t port = 0, std::chrono::milliseconds timeout = 20s);
  // SIGKILL and reap.
  void kill();
  // SIGTERM, then SIGKILL after `timeout`; the exit code or nullopt like node_process::terminate().
  std::optional<int> terminate(std::chrono::milliseconds timeout = 15s);

  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // The port of the current (or last) start.
  uint16_t port() const { return port_; }
  const fs::path& log_path() const { return log_path_; }
  std::string log() const;
  std::string log_tail(size_t bytes = 4000) const;

private:
  fs::path binary_;
  fs::path work_dir_;
  fs::path port_file_;
  fs::path log_path_;
  std::vector<std::string> extra_args_;
  pid_t pid_ = -1;
  int starts_ = 0;
  uint16_t port_ = 0;
};

}  // namespace actorstate::it
