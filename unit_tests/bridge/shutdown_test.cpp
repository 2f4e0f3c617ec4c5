// Shutdown while the user function does not answer a command: the real actorstate-proxy on SIGTERM after the user
// function ended the stream of a command that had timed out (it used to wait forever for that entity), and an
// in-process node whose call is still in flight at shutdown or was cancelled by its client (the drain used to wait
// for the command timeout instead), and an in-process node going away from its clients' connections at shutdown
// (HTTP/1.1, HTTP/2 and gRPC) while it still serves the call under way. The user function is a fake served from this
// process on a free port.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "actorstate/node.hpp"
#include "bridged_node.hpp"
#include "cart_client.hpp"
#include "cloudstate/event_sourced.grpc.pb.h"
#include "fake_discovery.hpp"
#include "h2_client.hpp"
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
  std::atomic<int> ended{0};      ///< Streams this side ended without answering.
  std::atomic<int> cancelled{0};  ///< Streams the proxy cancelled while this side held a command.

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
      if (ctx->IsCancelled()) {
        ++cancelled;
        return grpc::Status::OK;
      }
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

/// The fake user function's services: discovery (Misbehaving) and `entity`.
struct silent_user_function {
  explicit silent_user_function(std::optional<std::chrono::milliseconds> end_after) { entity.end_after = end_after; }
  ~silent_user_function() { entity.release(); }
  std::vector<grpc::Service*> services() { return {&disco, &entity}; }

  bridge_tests::discovery disco;
  silent_entity entity;
};

/// The fake user function on its own server (127.0.0.1, a port the OS picks), for a proxy process.
struct fake_user_function : silent_user_function {
  explicit fake_user_function(std::optional<std::chrono::milliseconds> end_after) : silent_user_function(end_after) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    for (auto* s : services())
      builder.RegisterService(s);
    server = builder.BuildAndStart();
    REQUIRE(server);
  }
  ~fake_user_function() {
    entity.release();
    server->Shutdown(std::chrono::system_clock::now() + 2s);
  }

  int port = 0;
  std::unique_ptr<grpc::Server> server;
};

/// An in-process proxy (node + bridge) in front of `uf`, with a long command timeout and the given drain timeout.
struct in_process_proxy {
  in_process_proxy(silent_user_function& uf, std::chrono::milliseconds drain)
      : bridged{uf.services(), [drain](actorstate::node_options& o) {
                  o.command_timeout = 60s;
                  o.drain_timeout = drain;
                }} {
    bridged.serve();
    stub = st::Misbehaving::NewStub(bridged.channel());
  }
  /// Calls Misbehaving/Call for entity `id` on its own thread.
  std::thread call_in_background(const std::string& id, std::chrono::seconds deadline, grpc::Status& status) {
    return std::thread{[this, id, deadline, &status] {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + deadline);
      st::Key k;
      k.set_id(id);
      st::Chunk out;
      status = stub->Call(&ctx, k, &out);
    }};
  }

  /// Shuts the node down on this thread (CAF's logger must be released by the thread that opened the node) while
  /// `watch` runs on another; `watch` gets a flag that turns true once shutdown is complete.
  void shut_down_while(const std::function<void(const std::atomic<bool>& stopped)>& watch) {
    std::atomic<bool> stopped{false};
    std::thread watcher{[&watch, &stopped] { watch(stopped); }};
    bridged.get().stop();
    CHECK(bridged.get().run().ok());
    stopped = true;
    watcher.join();
  }

  /// Whether the management endpoint still answers (it stops right after the gRPC frontend's drain).
  bool management_answers() { return it::http_get(bridged.get().management_port(), "/alive", 1s).status != 0; }

  actorstate::testing::bridged_node bridged;
  std::unique_ptr<st::Misbehaving::Stub> stub;
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

namespace {

/// A call to an in-process proxy (drain timeout `drain`) whose user function holds it without answering; the client
/// gives up after `client_deadline`.
struct held_call {
  held_call(std::chrono::milliseconds drain, std::chrono::seconds client_deadline) : px{uf, drain} {
    client = px.call_in_background("held", client_deadline, status);
    REQUIRE(it::wait_until([&] { return uf.entity.commands.load() == 1; }, 10s));
  }
  ~held_call() {
    if (client.joinable())
      client.join();
  }

  silent_user_function uf{std::nullopt};
  in_process_proxy px;
  grpc::Status status;
  std::thread client;
};

}  // namespace

TEST_CASE("shutdown_cancels_a_call_the_user_function_never_answers") {
  held_call call{500ms, 60s};
  bool in_time = false;
  bool stream_cancelled = false;
  call.px.shut_down_while([&](const std::atomic<bool>& stopped) {
    // Drain (0.5 s), then the call is cancelled and the entity killed: far below the command timeout (60 s).
    in_time = it::wait_until([&] { return stopped.load(); }, 15s, 20ms);
    // The killed entity cancelled its stream: a half-close would leave the user function holding the command (and
    // the stream open) until it chose to answer.
    stream_cancelled = it::wait_until([&] { return call.uf.entity.cancelled.load() == 1; }, 5s, 20ms);
    call.uf.entity.release();  // lets a node that waits for the answer finish
  });
  CHECK_MESSAGE(in_time, "the node did not stop within 15 s");
  CHECK_MESSAGE(stream_cancelled, "the user function's stream was not cancelled");
  call.client.join();
  CHECK_MESSAGE(!call.status.ok(), "the call was answered OK after shutdown had started");
}

TEST_CASE("client_cancel_ends_the_call_for_the_drain") {
  held_call call{30s, 1s};
  call.client.join();
  CHECK(call.status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
  bool drained = false;
  bool stopped_after_answer = false;
  call.px.shut_down_while([&](const std::atomic<bool>& stopped) {
    // The cancelled call is not in flight any more, so the drain (30 s) ends at once and the management endpoint
    // stops; the entity still waits for the user function meanwhile.
    drained = it::wait_until([&] { return !call.px.management_answers(); }, 15s, 50ms);
    // The late answer finds the call gone; the entity then passivates and the node stops.
    call.uf.entity.release();
    stopped_after_answer = it::wait_until([&] { return stopped.load(); }, 20s, 20ms);
  });
  CHECK_MESSAGE(drained, "the drain still waited for the cancelled call after 15 s");
  CHECK(stopped_after_answer);
}

TEST_CASE("shutdown_goes_away_serving_the_call_under_way_and_closing_idle_connections") {
  silent_user_function uf{std::nullopt};
  in_process_proxy px{uf, 30s};
  auto port = px.bridged.get().port();
  // A keep-alive connection that had its answer (an unknown path needs no entity) and is idle, and one whose call
  // the user function holds.
  it::raw_connection idle{port, 1s};
  REQUIRE(idle.send("GET /no/such/path HTTP/1.1\r\nHost: test\r\n\r\n"));
  bool closed = false;
  REQUIRE(idle.receive_all(closed).find("HTTP/1.1 404") == 0);
  REQUIRE_FALSE(closed);
  it::raw_connection busy{port, 30s};
  std::string body = R"({"id":"held"})";
  REQUIRE(
      busy.send("POST /actorstate.streamtest.Misbehaving/Call HTTP/1.1\r\nHost: test\r\n"
                "Content-Type: application/json\r\nContent-Length: " +
                std::to_string(body.size()) + "\r\n\r\n" + body));
  REQUIRE(it::wait_until([&] { return uf.entity.commands.load() == 1; }, 10s));

  bool idle_closed = false;
  bool refused_new = false;
  bool running_while_held = false;
  std::string answer;
  bool busy_closed = false;
  bool stopped_after_answer = false;
  px.shut_down_while([&](const std::atomic<bool>& stopped) {
    // Going away: the idle connection is closed at once (not when the drain ends, 30 s away) ...
    idle_closed = it::wait_until(
        [&] {
          bool c = false;
          idle.receive_all(c);
          return c;
        },
        10s);
    // ... no new connection is taken ...
    try {
      it::raw_connection late{port, 1s};
      refused_new = !late.send("GET /no/such/path HTTP/1.1\r\nHost: test\r\n\r\n") || [&] {
        bool c = false;
        return late.receive_all(c).empty() && c;
      }();
    } catch (const std::runtime_error&) {
      refused_new = true;
    }
    // ... and the held call is still waited for, then answered, with its connection closed after it.
    running_while_held = !stopped.load();
    uf.entity.release();
    answer = busy.receive_all(busy_closed);
    stopped_after_answer = it::wait_until([&] { return stopped.load(); }, 15s, 20ms);
  });
  CHECK_MESSAGE(idle_closed, "an idle keep-alive connection stayed open while the node drained");
  CHECK_MESSAGE(refused_new, "a new connection was served after shutdown began");
  CHECK(running_while_held);
  CHECK_MESSAGE(answer.find("HTTP/1.1 200") == 0, answer);
  CHECK_MESSAGE(answer.find("Connection: close") != std::string::npos, answer);
  CHECK(busy_closed);
  CHECK(stopped_after_answer);
}

TEST_CASE("shutdown_sends_http2_connections_a_goaway_serving_the_stream_under_way") {
  silent_user_function uf{std::nullopt};
  in_process_proxy px{uf, 30s};
  auto port = px.bridged.get().port();
  // HTTP/2 with prior knowledge (JSON, served by the node's own HTTP/2 server): a connection that had its answer and
  // is idle, and one whose call the user function holds (its stream open).
  it::h2_connection idle{port};
  auto first = idle.start({"GET", "/no/such/path", {}, ""});
  REQUIRE(idle.wait_for_response(first, 10s));
  REQUIRE_MESSAGE(idle.response(first).status == 404, idle.response(first).error);
  it::h2_connection busy{port};
  auto held = busy.start(
      {"POST", "/actorstate.streamtest.Misbehaving/Call", {{"content-type", "application/json"}}, R"({"id":"held"})"});
  REQUIRE(held > 0);
  REQUIRE(busy.wait([&] { return uf.entity.commands.load() == 1; }, 10s));

  bool idle_goaway = false;
  bool idle_closed = false;
  bool busy_goaway = false;
  bool pending_at_goaway = false;
  bool running_while_held = false;
  bool answered = false;
  bool busy_closed = false;
  bool stopped_after_answer = false;
  px.shut_down_while([&](const std::atomic<bool>& stopped) {
    // Going away: the idle connection gets a GOAWAY and is closed at once (not when the drain ends, 30 s away) ...
    idle_goaway = idle.wait_for_goaway(10s);
    idle_closed = idle.wait_for_close(10s);
    // ... and so does the busy one, while its stream is still waited for ...
    busy_goaway = busy.wait_for_goaway(10s);
    pending_at_goaway = !busy.answered(held) && !busy.closed();
    running_while_held = !stopped.load();
    // ... which is answered on that connection once the user function answers; then the connection is closed, and
    // nothing is left for the drain to wait for.
    uf.entity.release();
    answered = busy.wait_for_response(held, 15s);
    busy_closed = busy.wait_for_close(10s);
    stopped_after_answer = it::wait_until([&] { return stopped.load(); }, 15s, 20ms);
  });
  CHECK_MESSAGE(idle_goaway, "the idle connection got no GOAWAY: " << idle.error());
  CHECK_MESSAGE(idle_closed, "the idle connection stayed open while the node drained");
  CHECK_MESSAGE(busy_goaway, "the busy connection got no GOAWAY: " << busy.error());
  for (const auto* c : {&idle, &busy})
    for (const auto& g : c->goaways()) {
      CHECK(g.error_code == 0);  // NO_ERROR
      CHECK(g.last_stream_id >= (c == &idle ? first : held));
    }
  CHECK_MESSAGE(pending_at_goaway, "the held stream was no longer pending when the GOAWAY arrived");
  CHECK(running_while_held);
  const auto& answer = busy.response(held);
  CHECK_MESSAGE(answered, "the held stream was not answered: " << answer.error);
  CHECK_MESSAGE(answer.status == 200, answer.error << " " << answer.body);
  CHECK_MESSAGE(busy_closed, "the busy connection stayed open after its last stream was answered");
  // Ended without a reset (a lingering close): a reset can make a client lose the GOAWAY or the last answer.
  for (const auto* c : {&idle, &busy})
    CHECK_MESSAGE(c->error().find("connection closed") == 0, c->error());
  CHECK(stopped_after_answer);
}

TEST_CASE("shutdown_sends_grpc_channels_a_goaway_serving_the_call_under_way") {
  silent_user_function uf{std::nullopt};
  in_process_proxy px{uf, 30s};
  auto channel = px.bridged.channel();
  auto stub = st::Misbehaving::NewStub(channel);
  auto call = [&stub](const std::string& id, std::chrono::seconds deadline) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + deadline);
    st::Key k;
    k.set_id(id);
    st::Chunk out;
    return stub->Call(&ctx, k, &out);
  };
  grpc::Status held_status;
  std::thread held{[&] { held_status = call("held", 60s); }};
  struct joiner {
    silent_user_function& uf;
    std::thread& t;
    ~joiner() {
      uf.entity.release();  // a failed REQUIRE must not leave the call held for its whole deadline
      if (t.joinable())
        t.join();
    }
  } join_held{uf, held};
  REQUIRE(it::wait_until([&] { return uf.entity.commands.load() == 1; }, 10s));
  REQUIRE(channel->GetState(false) == GRPC_CHANNEL_READY);

  bool went_away = false;
  bool running_while_held = false;
  grpc::Status late;
  bool stopped_after_answer = false;
  px.shut_down_while([&](const std::atomic<bool>& stopped) {
    // The server's GOAWAY takes the channel out of READY: its connection takes no new call.
    went_away = channel->WaitForStateChange(GRPC_CHANNEL_READY, std::chrono::system_clock::now() + 10s);
    running_while_held = !stopped.load();
    // A call made now needs a new connection, which the node no longer accepts (the client port closed before the
    // GOAWAY went out): it fails on the client's side, and is not refused by the node.
    late = call("late", 5s);
    // The held call is still served on the old connection.
    uf.entity.release();
    held.join();
    stopped_after_answer = it::wait_until([&] { return stopped.load(); }, 15s, 20ms);
  });
  CHECK_MESSAGE(went_away, "the channel stayed READY after shutdown began");
  CHECK(running_while_held);
  // The node's own refusal is UNAVAILABLE as well; only the client's failing to connect is going away.
  CHECK_MESSAGE(late.error_code() == grpc::StatusCode::UNAVAILABLE, late.error_code() << " " << late.error_message());
  CHECK_MESSAGE(late.error_message() != "the node is shutting down", "the late call was refused by the node");
  CHECK_MESSAGE(held_status.ok(), held_status.error_code() << " " << held_status.error_message());
  CHECK(stopped_after_answer);
}
