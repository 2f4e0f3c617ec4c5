#include "harness.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/util/message_differencer.h>

extern char** environ;

namespace tck {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::string read_file(const fs::path& path) {
  std::ifstream in{path, std::ios::binary};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline)
      return done();
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// The exit code (128 + signal for a signalled process) if `pid` ends within `timeout`, else nullopt.
std::optional<int> wait_for_exit(pid_t pid, std::chrono::milliseconds timeout) {
  std::optional<int> code;
  wait_until(
      [&] {
        int status = 0;
        pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid && WIFEXITED(status))
          code = WEXITSTATUS(status);
        else if (r == pid && WIFSIGNALED(status))
          code = 128 + WTERMSIG(status);
        else if (r < 0 && errno != EINTR)
          code = -1;  // not our child (any more): nothing left to wait for
        return code.has_value();
      },
      timeout);
  return code;
}

// posix_spawn, because this process already runs gRPC threads. The child gets default signal dispositions and an
// empty mask (doctest and gRPC may have changed ours), stdin from /dev/null and stdout+stderr in `log`.
pid_t spawn(const std::vector<std::string>& argv, const fs::path& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD})
    sigaddset(&defaults, sig);
  sigset_t empty;
  sigemptyset(&empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0)
    throw std::runtime_error("posix_spawn " + argv[0] + ": " + std::strerror(rc));
  return pid;
}

}  // namespace

// tck-model in a fresh temporary directory (port file and log); SIGTERM (then SIGKILL) and cleanup at the end.
struct user_function::process {
  fs::path dir;
  pid_t pid = -1;

  process() {
    const char* base = std::getenv("TMPDIR");
    std::string templ = std::string{base != nullptr && *base != '\0' ? base : "/tmp"} + "/actorstate-tck-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr)
      throw std::runtime_error(std::string{"mkdtemp: "} + std::strerror(errno));
    dir = templ;
  }

  fs::path port_file() const { return dir / "port"; }
  fs::path log_file() const { return dir / "tck-model.log"; }

  std::string log_tail(size_t bytes = 4000) const {
    auto text = read_file(log_file());
    return text.size() <= bytes ? text : "..." + text.substr(text.size() - bytes);
  }

  // Returns the bound port once the port file is written; throws with the log if the process exits or is late.
  uint16_t start() {
    pid = spawn({ACTORSTATE_TCK_MODEL, "--host", "127.0.0.1", "--port", "0", "--port-file", port_file().string()},
                log_file());
    std::optional<int> exited;
    unsigned long port = 0;
    bool listening = wait_until(
        [&] {
          if ((exited = wait_for_exit(pid, 0ms)))
            return true;
          port = std::strtoul(read_file(port_file()).c_str(), nullptr, 10);
          return port > 0 && port <= 65535;
        },
        start_timeout);
    if (exited) {
      pid = -1;
      throw std::runtime_error("tck-model exited with code " + std::to_string(*exited) + "\n" + log_tail());
    }
    if (!listening)
      throw std::runtime_error("tck-model wrote no port file within " + std::to_string(start_timeout.count()) + " s\n" +
                               log_tail());
    return static_cast<uint16_t>(port);
  }

  ~process() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      if (!wait_for_exit(pid, 10s)) {
        ::kill(pid, SIGKILL);
        wait_for_exit(pid, 10s);
      }
    }
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }
};

user_function& user_function::get() {
  static std::unique_ptr<user_function> instance;
  static std::string start_error;
  if (!instance && start_error.empty()) {
    std::unique_ptr<user_function> uf{new user_function};
    try {
      uf->start();
      instance = std::move(uf);
    } catch (const std::exception& e) {
      start_error = e.what();
    }
  }
  // A user function that did not start fails every test at once instead of each waiting for it again.
  REQUIRE_MESSAGE(instance != nullptr, "the TCK user function is not available: " << start_error);
  return *instance;
}

user_function::~user_function() {
  // Channels go before the process, so nothing reconnects to a dying server.
  discovery_.reset();
  event_sourced_.reset();
  value_entity_.reset();
  actions_.reset();
  crdt_.reset();
  channel_.reset();
  process_.reset();
}

void user_function::start() {
  std::string target;
  if (const char* external = std::getenv("ACTORSTATE_TCK_SERVICE"); external != nullptr && *external != '\0') {
    target = external;
  } else {
    process_ = std::make_unique<process>();
    target = "127.0.0.1:" + std::to_string(process_->start());
  }
  channel_ = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  discovery_ = cloudstate::EntityDiscovery::NewStub(channel_);
  event_sourced_ = cloudstate::eventsourced::EventSourced::NewStub(channel_);
  value_entity_ = cloudstate::valueentity::ValueEntity::NewStub(channel_);
  actions_ = cloudstate::action::ActionProtocol::NewStub(channel_);
  crdt_ = cloudstate::crdt::Crdt::NewStub(channel_);

  cloudstate::ProxyInfo info;
  info.set_protocol_major_version(0);
  info.set_protocol_minor_version(2);
  info.set_proxy_name("actorstate-tck");
  info.set_proxy_version("0.1.0");
  for (const char* type : {"cloudstate.eventsourced.EventSourced", "cloudstate.valueentity.ValueEntity",
                           "cloudstate.action.ActionProtocol", "cloudstate.crdt.Crdt"})
    info.add_supported_entity_types(type);
  grpc::ClientContext ctx;
  // An external user function may still be starting; as the TCK does, wait for it (bounded).
  ctx.set_wait_for_ready(true);
  ctx.set_deadline(std::chrono::system_clock::now() + start_timeout);
  auto status = discovery_->discover(&ctx, info, &spec_);
  if (!status.ok())
    throw std::runtime_error("discover at " + target + " failed: " + status.error_message() +
                             (process_ ? "\n" + process_->log_tail() : std::string{}));
}

std::chrono::system_clock::time_point deadline() {
  return std::chrono::system_clock::now() + call_timeout;
}

const cloudstate::Entity* discovered_entity(const std::string& service) {
  for (const auto& entity : user_function::get().spec().entities())
    if (entity.service_name() == service)
      return &entity;
  return nullptr;
}

std::vector<std::string> discovered_services() {
  google::protobuf::FileDescriptorSet files;
  REQUIRE(files.ParseFromString(user_function::get().spec().proto()));
  std::vector<std::string> services;
  for (const auto& file : files.file())
    for (const auto& service : file.service())
      services.push_back(file.package() + "." + service.name());
  return services;
}

}  // namespace tck
