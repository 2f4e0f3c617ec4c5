// The shopping-cart binary in --user-function mode, as a proxy meets it: started on a free port (port file),
// discovered and used over the protocol, then stopped with SIGTERM, which must exit 0 promptly. The child is
// spawned with posix_spawn (this process runs gRPC threads) and SIGKILLed by the guard if a check fails.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string_view>
#include <thread>
#include <vector>

#include "fixture.hpp"
#include "shoppingcart/shoppingcart.pb.h"

extern char** environ;

namespace uf_test {

namespace {

namespace fs = std::filesystem;

// Variables the sample reads; the developer's shell must not change what the test runs.
bool sample_setting(std::string_view entry) {
  for (std::string_view prefix : {"ACTORSTATE_", "HTTP_PORT=", "MANAGEMENT_PORT=", "LOG_LEVEL=", "HOST=", "PORT="})
    if (entry.substr(0, prefix.size()) == prefix)
      return true;
  return false;
}

class child_process {
public:
  child_process(const std::vector<std::string>& argv, const fs::path& log) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    // gRPC and doctest may have changed this process's dispositions and mask; the child must start from defaults
    // or SIGTERM could be ignored and the test would test nothing.
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
    std::vector<char*> env;
    for (char** e = environ; *e != nullptr; ++e)
      if (!sample_setting(*e))
        env.push_back(*e);
    env.push_back(nullptr);
    int rc = posix_spawn(&pid_, argv.at(0).c_str(), &actions, &attr, args.data(), env.data());
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
      pid_ = -1;
  }

  ~child_process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  bool running() const { return pid_ > 0; }
  void signal(int sig) { ::kill(pid_, sig); }

  /// The exit code (128 + signal if signalled) if the child exits within `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      int status = 0;
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_ && (WIFEXITED(status) || WIFSIGNALED(status))) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      if (r < 0 && errno != EINTR)
        return std::nullopt;
      if (std::chrono::steady_clock::now() >= until)
        return std::nullopt;
      std::this_thread::sleep_for(10ms);
    }
  }

private:
  pid_t pid_ = -1;
};

std::string slurp(const fs::path& path) {
  std::ifstream in{path};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

fs::path make_temp_dir() {
  const char* base = std::getenv("TMPDIR");
  std::string templ = std::string{base != nullptr && *base != '\0' ? base : "/tmp"} + "/actorstate-uf-XXXXXX";
  REQUIRE(::mkdtemp(templ.data()) != nullptr);
  return templ;
}

}  // namespace

TEST_CASE("process.shopping_cart_user_function") {
  auto dir = make_temp_dir();
  struct cleanup {
    fs::path dir;
    ~cleanup() {
      std::error_code ignored;
      fs::remove_all(dir, ignored);
    }
  } remove_dir{dir};
  auto port_file = dir / "port";
  auto log = dir / "uf.log";
  child_process child{{ACTORSTATE_UF_SHOPPING_CART, "--user-function", "--port", "0", "--port-file", port_file.string(),
                       "--drain-timeout", "2s"},
                      log};
  REQUIRE(child.running());

  uint16_t port = 0;
  auto until = std::chrono::steady_clock::now() + 20s;
  while (port == 0 && std::chrono::steady_clock::now() < until) {
    if (fs::exists(port_file))
      port = static_cast<uint16_t>(std::stoul(slurp(port_file)));
    if (port == 0) {
      REQUIRE_MESSAGE(!child.wait(10ms), "exited early:\n" << slurp(log));
    }
  }
  REQUIRE_MESSAGE(port != 0, "no port file within 20 s:\n" << slurp(log));
  CHECK(slurp(log).find("listening on user-function 127.0.0.1:" + std::to_string(port)) != std::string::npos);

  {
    auto channel = channel_to(port);
    auto discovery = cloudstate::EntityDiscovery::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(deadline());
    cloudstate::ProxyInfo info;
    info.set_protocol_minor_version(2);
    info.add_supported_entity_types("cloudstate.eventsourced.EventSourced");
    cloudstate::EntitySpec spec;
    REQUIRE(discovery->discover(&ctx, info, &spec).ok());
    REQUIRE(spec.entities_size() == 1);
    CHECK(spec.entities(0).service_name() == "com.example.shoppingcart.ShoppingCart");
    CHECK(spec.entities(0).persistence_id() == "shopping-cart");
    CHECK(spec.service_info().service_name() == "shopping-cart");

    auto stub = cloudstate::eventsourced::EventSourced::NewStub(channel);
    es_stream s{[&](grpc::ClientContext* c) { return stub->handle(c); }};
    s.write(fixture::cart_init("zoe"));
    com::example::shoppingcart::AddLineItem add;
    add.set_user_id("zoe");
    add.set_product_id("P");
    add.set_quantity(2);
    cloudstate::eventsourced::EventSourcedStreamIn in;
    *in.mutable_command() = command(1, "zoe", "AddItem", add);
    s.write(in);
    auto out = s.read();
    REQUIRE(out.has_reply());
    CHECK(out.reply().events_size() == 1);
    CHECK(s.close().ok());
  }

  child.signal(SIGTERM);
  auto code = child.wait(10s);
  REQUIRE_MESSAGE(code.has_value(), "still running 10 s after SIGTERM:\n" << slurp(log));
  CHECK_MESSAGE(*code == 0, slurp(log));
}

}  // namespace uf_test
