// One client test for every polyglot sample (samples/polyglot/<language>): the language's own Cloudstate support
// library serves the shopping cart as a user function, actorstate-proxy serves it to clients, and the same sequence
// runs against every language: the gRPC session and its failures, the HTTP/JSON session and its bad input, a
// SIGKILL of the user function between commands with nothing acknowledged lost, and `buf curl` through reflection.
// ctest runs one entry per language ("polyglot.<language>.shopping_cart", after "polyglot.<language>.build").
//   polyglot_tests -tc=<language>   (the test case is named by the language)
#include <doctest/doctest.h>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>

#include "cart_client.hpp"
#include "http_cart.hpp"
#include "node_process.hpp"

namespace it = actorstate::it;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

bool accepts_connections(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

/// The language's user function: `samples/polyglot/<language>/run.sh` on HOST=127.0.0.1 PORT=`port`.
class polyglot_function {
public:
  polyglot_function(std::string language, fs::path work_dir)
      : language_(std::move(language)), dir_(std::move(work_dir)) {
    fs::create_directories(dir_);
  }
  ~polyglot_function() { kill(); }

  void start(uint16_t port) {
    port_ = port;
    log_ = dir_ / ("uf-" + std::to_string(++starts_) + ".log");
    auto script = fs::path{ACTORSTATE_POLYGLOT_SAMPLES} / language_ / "run.sh";
    pid_ = it::spawn_process({"/bin/bash", script.string()}, log_, log_,
                             {"HOST=127.0.0.1", "PORT=" + std::to_string(port)});
    // A JVM takes a while; every wait is bounded.
    bool up = it::wait_until([&] { return accepts_connections(port); }, 90s, 50ms);
    REQUIRE_MESSAGE(up, language_ << " user function did not listen on " << port << " within 90 s:\n" << log());
  }

  /// SIGKILL: the crash the proxy must survive. run.sh execs, so its pid is the user function's.
  void kill() {
    if (pid_ <= 0)
      return;
    ::kill(pid_, SIGKILL);
    it::wait_for_exit(pid_, 10s);
    pid_ = -1;
  }

  uint16_t port() const { return port_; }
  std::string log() const { return it::read_file(log_); }

private:
  std::string language_;
  fs::path dir_;
  fs::path log_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  int starts_ = 0;
};

void check_grpc_session(it::cart_api::ShoppingCart::Stub& stub, const std::string& user) {
  CHECK(it::cart_text(stub, user) == "");
  REQUIRE(it::add_item(stub, user, "p1", "Pen", 2).ok());
  REQUIRE(it::add_item(stub, user, "p2", "Paper", 3).ok());
  REQUIRE(it::add_item(stub, user, "p1", "Pen", 1).ok());
  CHECK(it::cart_text(stub, user) == "p1 Pen 3; p2 Paper 3");
  REQUIRE(it::remove_item(stub, user, "p1").ok());
  CHECK(it::cart_text(stub, user) == "p2 Paper 3");
  auto zero = it::add_item(stub, user, "p4", "Clip", 0);
  CHECK(zero.error_code() == grpc::StatusCode::UNKNOWN);
  CHECK(zero.error_message() == "Cannot add negative quantity to item p4");
  auto absent = it::remove_item(stub, user, "p9");
  CHECK(absent.error_code() == grpc::StatusCode::UNKNOWN);
  CHECK(absent.error_message() == "Item p9 not in cart");
  CHECK(it::cart_text(stub, user) == "p2 Paper 3");
}

void run_language(const std::string& language) {
  it::temp_dir dir{"actorstate-polyglot"};
  polyglot_function uf{language, dir.path() / "uf"};
  uf.start(it::pick_free_port());
  it::node_process proxy{it::proxy_binary(),
                         dir.path() / "proxy",
                         {"--user-function-port", std::to_string(uf.port()), "--store",
                          "sqlite:" + (dir.path() / "proxy" / "cart.db").string()}};
  proxy.start(60s);
  INFO("proxy log tail:\n" << proxy.log_tail() << "\n" << language << " user function log:\n" << uf.log());
  auto stub = it::make_cart_stub(proxy.target());

  check_grpc_session(*stub, "grpc-user");
  it::cart_session(proxy.port(), "http-user");
  it::cart_bad_input(proxy.port(), "http-user");

  // The user function dies between commands and comes back on the same port: nothing acknowledged is lost, and the
  // cart keeps working.
  REQUIRE(it::add_item(*stub, "restart-user", "r1", "Rope", 4).ok());
  uf.kill();
  uf.start(uf.port());
  bool back = it::wait_until([&] { return it::cart_text(*stub, "restart-user") == "r1 Rope 4"; }, 30s, 100ms);
  CHECK_MESSAGE(back, "after the restart the cart reads " << it::cart_text(*stub, "restart-user"));
  REQUIRE(it::add_item(*stub, "restart-user", "r2", "Reel", 1).ok());
  CHECK(it::cart_text(*stub, "restart-user") == "r1 Rope 4; r2 Reel 1");
  CHECK(it::cart_text(*stub, "grpc-user") == "p2 Paper 3");

  // Reflection: buf curl lists the cart's service without a schema file.
  auto out = dir.path() / "buf.out";
  auto pid = it::spawn_process({ACTORSTATE_BUF, "curl", "--protocol", "grpc", "--http2-prior-knowledge",
                                "--list-services", "http://" + proxy.target()},
                               out, out);
  CHECK(it::wait_for_exit(pid, 60s) == 0);
  CHECK_MESSAGE(it::read_file(out).find("com.example.shoppingcart.ShoppingCart") != std::string::npos,
                it::read_file(out));
  CHECK(proxy.terminate() == 0);
}

}  // namespace

TEST_CASE("python") {
  run_language("python");
}

TEST_CASE("go") {
  run_language("go");
}

TEST_CASE("java") {
  run_language("java");
}

TEST_CASE("javascript") {
  run_language("javascript");
}
