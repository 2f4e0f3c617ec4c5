#include "node_process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace actorstate::it {

namespace {

std::string errno_text(const char* what, int err) {
  return std::string{what} + ": " + std::strerror(err);
}

// Variables the node reads as flag defaults; a developer's shell must not be able to change what a test runs.
bool node_setting(std::string_view entry) {
  for (std::string_view prefix : {"ACTORSTATE_", "HTTP_PORT=", "MANAGEMENT_PORT=", "LOG_LEVEL="})
    if (entry.substr(0, prefix.size()) == prefix)
      return true;
  return false;
}

class spawn_actions {
public:
  spawn_actions() { posix_spawn_file_actions_init(&actions_); }
  ~spawn_actions() { posix_spawn_file_actions_destroy(&actions_); }
  spawn_actions(const spawn_actions&) = delete;
  spawn_actions& operator=(const spawn_actions&) = delete;
  posix_spawn_file_actions_t* get() { return &actions_; }

private:
  posix_spawn_file_actions_t actions_;
};

class spawn_attributes {
public:
  spawn_attributes() { posix_spawnattr_init(&attr_); }
  ~spawn_attributes() { posix_spawnattr_destroy(&attr_); }
  spawn_attributes(const spawn_attributes&) = delete;
  spawn_attributes& operator=(const spawn_attributes&) = delete;
  posix_spawnattr_t* get() { return &attr_; }

private:
  posix_spawnattr_t attr_;
};

std::optional<uint16_t> parse_port(std::string_view text) {
  unsigned value = 0;
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9' && digits < 6)
    value = value * 10 + static_cast<unsigned>(text[digits++] - '0');
  if (digits == 0 || value == 0 || value > 65535)
    return std::nullopt;
  return static_cast<uint16_t>(value);
}

// The port in the node's `listening on management <host>:<port>` log line (the host may be IPv6, so the port is
// whatever follows the last colon of the address token).
std::optional<uint16_t> logged_management_port(const std::string& log) {
  static constexpr std::string_view marker = "listening on management ";
  auto at = log.find(marker);
  if (at == std::string::npos)
    return std::nullopt;
  auto begin = at + marker.size();
  auto end = log.find_first_of("\" \n", begin);
  if (end == std::string::npos)
    return std::nullopt;  // the line is still being written
  auto address = std::string_view{log}.substr(begin, end - begin);
  auto colon = address.rfind(':');
  if (colon == std::string_view::npos)
    return std::nullopt;
  return parse_port(address.substr(colon + 1));
}

}  // namespace

temp_dir::temp_dir(const std::string& tag) {
  const char* base = std::getenv("TMPDIR");
  std::string templ = std::string{base != nullptr && *base != '\0' ? base : "/tmp"} + "/" + tag + "-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr)
    throw std::runtime_error(errno_text("mkdtemp", errno));
  path_ = templ;
}

temp_dir::~temp_dir() {
  const char* keep = std::getenv("ACTORSTATE_IT_KEEP");
  if (keep != nullptr && std::string_view{keep} == "1")
    return;
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

pid_t spawn_process(const std::vector<std::string>& argv, const fs::path& stdout_path, const fs::path& stderr_path) {
  return spawn_process(argv, stdout_path, stderr_path, {});
}

pid_t spawn_process(const std::vector<std::string>& argv, const fs::path& stdout_path, const fs::path& stderr_path,
                    const std::vector<std::string>& env_changes) {
  spawn_actions actions;
  posix_spawn_file_actions_addopen(actions.get(), STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  auto redirect = [&](int fd, const fs::path& path) {
    if (path.empty())
      posix_spawn_file_actions_addopen(actions.get(), fd, "/dev/null", O_WRONLY, 0);
    else
      posix_spawn_file_actions_addopen(actions.get(), fd, path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  };
  redirect(STDOUT_FILENO, stdout_path);
  redirect(STDERR_FILENO, stderr_path);

  // gRPC and doctest may have changed dispositions or masks in this process; the child must see plain defaults,
  // or SIGTERM could be ignored and the drain test would test nothing.
  spawn_attributes attr;
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2})
    sigaddset(&defaults, sig);
  sigset_t empty_mask;
  sigemptyset(&empty_mask);
  posix_spawnattr_setsigdefault(attr.get(), &defaults);
  posix_spawnattr_setsigmask(attr.get(), &empty_mask);
  posix_spawnattr_setflags(attr.get(), POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  auto changed = [&](std::string_view entry) {
    auto name = entry.substr(0, entry.find('='));
    for (std::string_view change : env_changes)
      if (change.substr(0, change.find('=')) == name)
        return true;
    return false;
  };
  std::vector<char*> env;
  for (char** e = environ; *e != nullptr; ++e)
    if (!node_setting(*e) && !changed(*e))
      env.push_back(*e);
  for (const auto& change : env_changes)
    if (change.find('=') != std::string::npos)
      env.push_back(const_cast<char*>(change.c_str()));
  env.push_back(nullptr);

  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv.at(0).c_str(), actions.get(), attr.get(), args.data(), env.data());
  if (rc != 0)
    throw std::runtime_error(errno_text(("posix_spawn " + argv[0]).c_str(), rc));
  return pid;
}

std::optional<int> wait_for_exit(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto interval = 1ms;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (WIFEXITED(status))
        return WEXITSTATUS(status);
      if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
      continue;  // stopped/continued: keep waiting for the real exit
    }
    if (r < 0 && errno != EINTR)
      throw std::runtime_error(errno_text("waitpid", errno));
    if (std::chrono::steady_clock::now() >= deadline)
      return std::nullopt;
    std::this_thread::sleep_for(interval);
    interval = std::min<std::chrono::milliseconds>(interval * 2, 20ms);
  }
}

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (done())
      return true;
    if (std::chrono::steady_clock::now() >= deadline)
      return done();
    std::this_thread::sleep_for(interval);
  }
}

std::string read_file(const fs::path& path) {
  std::ifstream in{path, std::ios::binary};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

uint16_t pick_free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    throw std::runtime_error(errno_text("socket", errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int err = errno;
    ::close(fd);
    throw std::runtime_error(errno_text("bind/getsockname", err));
  }
  ::close(fd);  // never listened on, so no TIME_WAIT is left behind
  return ntohs(addr.sin_port);
}

std::string http_response::header(const std::string& name) const {
  for (const auto& [k, v] : headers)
    if (k == name)
      return v;
  return {};
}

namespace {

/// A blocking loopback connection whose sends and receives give up after `timeout`; -1 (errno set) on failure.
int connect_loopback(uint16_t port, std::chrono::milliseconds timeout) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int saved = errno;
    ::close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

}  // namespace

raw_connection::raw_connection(uint16_t port, std::chrono::milliseconds timeout) {
  fd_ = connect_loopback(port, timeout);
  if (fd_ < 0)
    throw std::runtime_error("connect to port " + std::to_string(port) + ": " + std::strerror(errno));
}

raw_connection::~raw_connection() {
  close();
}

bool raw_connection::send(const std::string& bytes) {
  return fd_ >= 0 && ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
}

std::string raw_connection::receive_all(bool& closed) {
  std::string out;
  closed = false;
  char buf[4096];
  while (fd_ >= 0) {
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) {
      closed = true;
      break;
    }
    if (n < 0)
      break;  // timed out with the connection still open
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

void raw_connection::close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

http_response http_request(uint16_t port, const std::string& method, const std::string& path,
                           const std::vector<std::string>& headers, const std::string& body,
                           std::chrono::milliseconds timeout) {
  http_response response;
  int fd = connect_loopback(port, timeout);
  if (fd < 0)
    return response;
  std::string raw;
  std::string request = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  for (const auto& h : headers)
    request += h + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH")
    request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  request += "\r\n" + body;
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0)
        break;  // the server closes after answering; an error or timeout leaves what we have
      raw.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  // "HTTP/1.x NNN reason\r\nName: value\r\n...\r\n\r\nbody"
  auto end = raw.find("\r\n\r\n");
  if (raw.compare(0, 5, "HTTP/") != 0 || end == std::string::npos)
    return response;
  std::istringstream head{raw.substr(0, end)};
  std::string line;
  std::getline(head, line);
  auto space = line.find(' ');
  response.status = space == std::string::npos ? 0 : std::atoi(line.c_str() + space + 1);
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    auto colon = line.find(':');
    if (colon == std::string::npos)
      continue;
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    auto value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    response.headers.emplace_back(std::move(name), std::move(value));
  }
  auto rest = raw.substr(end + 4);
  if (response.header("transfer-encoding") != "chunked") {
    response.body = std::move(rest);
    return response;
  }
  size_t pos = 0;
  for (;;) {
    auto eol = rest.find("\r\n", pos);
    if (eol == std::string::npos)
      break;
    auto size = std::strtoul(rest.c_str() + pos, nullptr, 16);
    if (size == 0 || eol + 2 + size > rest.size())
      break;
    response.body += rest.substr(eol + 2, size);
    pos = eol + 2 + size + 2;
  }
  return response;
}

http_response http_get(uint16_t port, const std::string& path, std::chrono::milliseconds timeout) {
  return http_request(port, "GET", path, {}, {}, timeout);
}

std::optional<double> metric_value(const std::string& text, const std::string& sample) {
  std::istringstream in{text};
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > sample.size() && line.compare(0, sample.size(), sample) == 0 && line[sample.size()] == ' ')
      return std::strtod(line.c_str() + sample.size() + 1, nullptr);
  }
  return std::nullopt;
}

node_process::node_process(fs::path binary, fs::path work_dir, std::vector<std::string> extra_args)
    : binary_(std::move(binary)),
      work_dir_(std::move(work_dir)),
      data_dir_(work_dir_ / "data"),
      port_file_(work_dir_ / "port"),
      extra_args_(std::move(extra_args)) {
  fs::create_directories(data_dir_);
}

node_process::~node_process() {
  try {
    kill();
  } catch (const std::exception&) {
    // A destructor must not throw; a process that outlives SIGKILL is beyond what a test can clean up.
  }
}

void node_process::spawn() {
  if (running())
    throw std::runtime_error("node_process::spawn: already running as pid " + std::to_string(pid_));
  // A stale port file from the previous run would make start() talk to a dead port.
  std::error_code ignored;
  fs::remove(port_file_, ignored);
  port_ = 0;
  management_port_ = 0;
  log_path_ = work_dir_ / ("node-" + std::to_string(++starts_) + ".log");
  std::vector<std::string> argv{
      binary_.string(),    "--bind", "127.0.0.1",  "--port",          "0", "--port-file", port_file_.string(),
      "--management-port", "0",      "--data-dir", data_dir_.string()};
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
  pid_ = spawn_process(argv, {}, log_path_);
}

void node_process::start(std::chrono::milliseconds timeout) {
  spawn();
  wait_serving(timeout);
}

uint16_t node_process::wait_for_management_port(std::chrono::milliseconds timeout) {
  if (!running())
    return 0;
  wait_until(
      [&] {
        if (auto port = logged_management_port(log())) {
          management_port_ = *port;
          return true;
        }
        if (!wait_for_exit(pid_, 0ms))
          return false;
        pid_ = -1;  // exited (and reaped) without logging it
        return true;
      },
      timeout);
  return management_port_;
}

void node_process::wait_serving(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto fail = [&](const std::string& why) -> void {
    if (running())
      kill();
    throw std::runtime_error("node " + binary_.string() + " did not start: " + why + "\n--- " + log_path_.string() +
                             " (tail) ---\n" + log_tail());
  };
  auto left = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  };
  std::optional<int> exited;
  bool listening = wait_until(
      [&] {
        if ((exited = wait_for_exit(pid_, 0ms)))
          return true;
        if (!fs::exists(port_file_))
          return false;
        auto port = parse_port(read_file(port_file_));
        auto management = logged_management_port(log());
        if (!port || !management)
          return false;
        port_ = *port;
        management_port_ = *management;
        return true;
      },
      left());
  if (exited) {
    pid_ = -1;
    fail("exited with code " + std::to_string(*exited));
  }
  if (!listening)
    fail("no port file / management log line within " + std::to_string(timeout.count()) + " ms");
  // The port file is written just before the node flags itself as serving; /ready is the authoritative signal.
  bool ready =
      wait_until([&] { return http_get(management_port_, "/ready", 1s).status == 200; }, std::max(left(), 0ms));
  if (!ready)
    fail("/ready did not answer 200 within " + std::to_string(timeout.count()) + " ms");
}

void node_process::kill() {
  if (!running())
    return;
  ::kill(pid_, SIGKILL);
  // SIGKILL cannot be caught; only a process stuck in the kernel would outlast this.
  auto code = wait_for_exit(pid_, 10s);
  if (!code)
    throw std::runtime_error("pid " + std::to_string(pid_) + " survived SIGKILL for 10 s");
  pid_ = -1;
}

std::optional<int> node_process::terminate(std::chrono::milliseconds timeout) {
  if (!running())
    return std::nullopt;
  ::kill(pid_, SIGTERM);
  auto code = wait_exit(timeout);
  if (!code)
    kill();
  return code;
}

std::optional<int> node_process::wait_exit(std::chrono::milliseconds timeout) {
  if (!running())
    return std::nullopt;
  auto code = wait_for_exit(pid_, timeout);
  if (code)
    pid_ = -1;
  return code;
}

void node_process::restart(std::chrono::milliseconds timeout) {
  kill();
  start(timeout);
}

std::string node_process::target() const {
  return "127.0.0.1:" + std::to_string(port_);
}

std::string node_process::log() const {
  return log_path_.empty() ? std::string{} : read_file(log_path_);
}

std::string node_process::log_tail(size_t bytes) const {
  auto text = log();
  return text.size() <= bytes ? text : "..." + text.substr(text.size() - bytes);
}

user_function_process::user_function_process(fs::path binary, fs::path work_dir, std::vector<std::string> extra_args)
    : binary_(std::move(binary)),
      work_dir_(std::move(work_dir)),
      port_file_(work_dir_ / "uf-port"),
      extra_args_(std::move(extra_args)) {
  fs::create_directories(work_dir_);
}

user_function_process::~user_function_process() {
  try {
    kill();
  } catch (const std::exception&) {
    // As for node_process: nothing more a destructor can do.
  }
}

void user_function_process::start(uint16_t port, std::chrono::milliseconds timeout) {
  if (running())
    throw std::runtime_error("user_function_process::start: already running as pid " + std::to_string(pid_));
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string why;
  for (;;) {
    std::error_code ignored;
    fs::remove(port_file_, ignored);
    log_path_ = work_dir_ / ("uf-" + std::to_string(++starts_) + ".log");
    std::vector<std::string> argv{binary_.string(),     "--user-function", "--port",
                                  std::to_string(port), "--port-file",     port_file_.string()};
    argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
    // HOST/PORT are the Cloudstate convention the user function reads; only the explicit flags may count here.
    pid_ = spawn_process(argv, {}, log_path_, {"HOST=127.0.0.1", "PORT"});
    std::optional<int> exited;
    std::optional<uint16_t> bound;
    wait_until(
        [&] {
          if ((exited = wait_for_exit(pid_, 0ms)))
            return true;
          if (!fs::exists(port_file_) || log().find("listening on user-function ") == std::string::npos)
            return false;
          bound = parse_port(read_file(port_file_));
          return bound.has_value();
        },
        std::max(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()),
                 0ms));
    if (bound) {
      port_ = *bound;
      return;
    }
    if (!exited) {
      kill();
      why = "no port file / listening log line within " + std::to_string(timeout.count()) + " ms";
      break;
    }
    pid_ = -1;
    why = "exited with code " + std::to_string(*exited);
    // A fixed port may still be held for a moment by the process just killed; a free-port start has no excuse.
    if (port == 0 || std::chrono::steady_clock::now() + 100ms >= deadline)
      break;
    std::this_thread::sleep_for(100ms);
  }
  throw std::runtime_error("user function " + binary_.string() + " did not start on port " + std::to_string(port) +
                           ": " + why + "\n--- " + log_path_.string() + " (tail) ---\n" + log_tail());
}

void user_function_process::kill() {
  if (!running())
    return;
  ::kill(pid_, SIGKILL);
  if (!wait_for_exit(pid_, 10s))
    throw std::runtime_error("pid " + std::to_string(pid_) + " survived SIGKILL for 10 s");
  pid_ = -1;
}

std::optional<int> user_function_process::terminate(std::chrono::milliseconds timeout) {
  if (!running())
    return std::nullopt;
  ::kill(pid_, SIGTERM);
  auto code = wait_for_exit(pid_, timeout);
  if (code)
    pid_ = -1;
  else
    kill();
  return code;
}

std::string user_function_process::log() const {
  return log_path_.empty() ? std::string{} : read_file(log_path_);
}

std::string user_function_process::log_tail(size_t bytes) const {
  auto text = log();
  return text.size() <= bytes ? text : "..." + text.substr(text.size() - bytes);
}

}  // namespace actorstate::it
