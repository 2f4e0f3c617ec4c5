// Shutdown while the user function does not answer a command: the real actorstate-proxy on SIGTERM after the user
// function ended the stream of a command that had timed out (it used to wait forever for that entity). The user
// function is a fake served from this process on a free port.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "cart_client.hpp"
#include "cloudstate/event_sourced.grpc.pb.h"
#include "fake_discovery.hpp"
#include "node_process.hpp"
#include "streamtest/stream_test.grpc.pb.h"

namespace {

namespace es = cloudstate::eventsourced;
namespace st = actorstate::streamtest;
namespace it = actorstate::it;
using namespace std::chrono_literals;

/// Misbehaving's entities in a user function that does not answer commands. With `end_after`, it ends the stream
/// (status OK, no reply) that long after a command arrived; otherwise it holds the command until `release`, then
/// answers it. Either way it stops waiting once the proxy cancels the stream, and every wait is bounded.
class silent_entity final : public es::EventSourced::Service {
public:
  std::optional<std::chrono::milliseconds> end_after;
  std::atomic<int> commands{0};
  std::atomic<int> ended{0};  ///< Streams this side ended without answering.

  grpc::Status handle(grpc::ServerContext* ctx,
                      grpc::ServerReaderWriter<es::EventSourcedStreamOut, es::EventSourcedStreamIn>* stream) override {
    es::EventSourcedStreamIn in;
    while (stream->Read(&in)) {
      if (!in.has_command())
        continue;
      ++commands;
      auto until = std::chrono::steady_clock::now() + (end_after ? *end_after : std::chrono::milliseconds{60s});
      {
        std::unique_lock<std::mutex> lock{mtx_};
        while (std::chrono::steady_clock::now() < until && !ctx->IsCancelled() && (end_after || !released_))
          released_cv_.wait_for(lock, 20ms);
      }
      if (ctx->IsCancelled())
        return grpc::Status::OK;
      if (end_after) {
        ++ended;
        return grpc::Status::OK;
      }
      es::EventSourcedStreamOut out;
      out.mutable_reply()->set_command_id(in.command().id());
      out.mutable_reply()->mutable_client_action()->mutable_reply()->mutable_payload()->set_value(
          st::Chunk{}.SerializeAsString());
      stream->Write(out);
    }
    return grpc::Status::OK;
  }

  void release() {
    std::lock_guard<std::mutex> guard{mtx_};
    released_ = true;
    released_cv_.notify_all();
  }

private:
  std::mutex mtx_;
  std::condition_variable released_cv_;
  bool released_ = false;
};

/// The fake user function: discovery (Misbehaving) and `entity`, on 127.0.0.1 and a free port.
struct fake_user_function {
  explicit fake_user_function(std::optional<std::chrono::milliseconds> end_after) {
    entity.end_after = end_after;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&disco);
    builder.RegisterService(&entity);
    server = builder.BuildAndStart();
    REQUIRE(server);
  }
  ~fake_user_function() {
    entity.release();
    server->Shutdown(std::chrono::system_clock::now() + 2s);
  }

  bridge_tests::discovery disco;
  silent_entity entity;
  int port = 0;
  std::unique_ptr<grpc::Server> server;
};

}  // namespace

TEST_CASE("proxy_exits_on_sigterm_after_the_user_function_ended_a_timed_out_command") {
  // The scenario of the report: the user function ends the entity's stream 3 s after the command, which timed out
  // after 1 s; passivation (2 s) was requested while the command was still in flight.
  fake_user_function uf{3s};
  it::temp_dir dir{"actorstate-bridge"};
  it::node_process proxy{
      it::proxy_binary(),
      dir.path() / "proxy",
      {"--user-function-host", "127.0.0.1", "--user-function-port", std::to_string(uf.port), "--store", "memory",
       "--command-timeout", "1s", "--passivation-timeout", "2s", "--drain-timeout", "3s"}};
  proxy.start();
  INFO("proxy log tail:\n" << proxy.log_tail());
  auto added = it::http_request(proxy.port(), "POST", "/actorstate.streamtest.Misbehaving/Call",
                                {"Content-Type: application/json"}, R"({"id": "a"})", 10s);
  CHECK_MESSAGE(added.status == 504, added.body);
  CHECK(it::wait_until([&] { return uf.entity.ended.load() == 1; }, 10s));
  // The entity fails the command it still held, restarts and, having been asked to passivate, stops.
  const std::string active = "actorstate_active_entities{entity_type=\"actorstate.streamtest.Misbehaving\"}";
  std::optional<double> left;
  bool passivated = it::wait_until(
      [&] {
        left = it::metric_value(it::http_get(proxy.management_port(), "/metrics").body, active);
        return left == 0.0;
      },
      5s, 50ms);
  CHECK_MESSAGE(passivated, "active entities: " << left.value_or(-1));
  auto code = proxy.terminate(15s);
  CHECK_MESSAGE(code == 0, "the proxy " << (code ? "exited with " + std::to_string(*code) : "did not exit in 15 s"));
}
