// Bad input and faults at the bridge: an invalid entity spec, a reply for the wrong command, an oversized message.
#include <doctest/doctest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include <google/protobuf/descriptor.pb.h>
#include <grpcpp/grpcpp.h>

#include "actorstate/bridge.hpp"
#include "actorstate/node.hpp"
#include "actorstate/persistence/fault_injection.hpp"
#include "bridged_node.hpp"
#include "cloudstate/entity.grpc.pb.h"
#include "cloudstate/event_sourced.grpc.pb.h"
#include "fake_discovery.hpp"
#include "streamtest/stream_test.grpc.pb.h"

namespace {

namespace st = actorstate::streamtest;
namespace es = cloudstate::eventsourced;
using bridge_tests::discovery;

/// Answers every command with the wrong command id; counts the streams the proxy opened.
class wrong_ids final : public es::EventSourced::Service {
public:
  std::atomic<int> inits{0};
  grpc::Status handle(grpc::ServerContext*,
                      grpc::ServerReaderWriter<es::EventSourcedStreamOut, es::EventSourcedStreamIn>* stream) override {
    es::EventSourcedStreamIn in;
    while (stream->Read(&in)) {
      if (in.has_init())
        ++inits;
      if (!in.has_command())
        continue;
      es::EventSourcedStreamOut out;
      out.mutable_reply()->set_command_id(in.command().id() + 41);
      st::Chunk c;
      out.mutable_reply()->mutable_client_action()->mutable_reply()->mutable_payload()->set_value(
          c.SerializeAsString());
      stream->Write(out);
    }
    return grpc::Status::OK;
  }
};

/// Restarting.Do: emits an event per command; "restart" fails with restart = true after emitting one; a text that
/// starts with "wait:" is answered only once the gate is open. Records, per stream, what the proxy sent ("init",
/// "event:<seq>", "command:<id>").
class restarter final : public es::EventSourced::Service {
public:
  std::mutex mtx;
  std::condition_variable gate_changed;
  bool gate_open = false;
  std::vector<std::vector<std::string>> streams;

  void open_gate() {
    std::lock_guard<std::mutex> guard{mtx};
    gate_open = true;
    gate_changed.notify_all();
  }
  std::vector<std::vector<std::string>> seen() {
    std::lock_guard<std::mutex> guard{mtx};
    return streams;
  }

  grpc::Status handle(grpc::ServerContext*,
                      grpc::ServerReaderWriter<es::EventSourcedStreamOut, es::EventSourcedStreamIn>* stream) override {
    size_t index;
    {
      std::lock_guard<std::mutex> guard{mtx};
      streams.emplace_back();
      index = streams.size() - 1;
    }
    es::EventSourcedStreamIn in;
    while (stream->Read(&in)) {
      std::string what = in.has_init()    ? "init"
                         : in.has_event() ? "event:" + std::to_string(in.event().sequence())
                                          : "command:" + std::to_string(in.command().id());
      {
        std::lock_guard<std::mutex> guard{mtx};
        streams[index].push_back(what);
      }
      if (!in.has_command())
        continue;
      st::Step step;
      step.ParseFromString(in.command().payload().value());
      if (step.text().rfind("wait:", 0) == 0) {
        std::unique_lock<std::mutex> lock{mtx};
        gate_changed.wait_for(lock, std::chrono::seconds{10}, [this] { return gate_open; });
      }
      es::EventSourcedStreamOut out;
      auto* reply = out.mutable_reply();
      reply->set_command_id(in.command().id());
      st::Chunk ev;
      ev.set_text(step.text());
      auto* any = reply->add_events();
      any->set_type_url("type.googleapis.com/actorstate.streamtest.Chunk");
      any->set_value(ev.SerializeAsString());
      if (step.text() == "restart") {
        reply->mutable_client_action()->mutable_failure()->set_command_id(in.command().id());
        reply->mutable_client_action()->mutable_failure()->set_description("restarting");
        reply->mutable_client_action()->mutable_failure()->set_restart(true);
      } else {
        reply->mutable_client_action()->mutable_reply()->mutable_payload()->set_value(ev.SerializeAsString());
      }
      stream->Write(out);
    }
    return grpc::Status::OK;
  }
};

template <class Pred>
bool eventually(Pred pred) {
  for (int i = 0; i < 500; ++i) {
    if (pred())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  return pred();
}

struct faults_fixture {
  faults_fixture() : node({&disco, &entity}, [](actorstate::node_options& o) { o.max_message_size = 1024 * 1024; }) {
    node.bridge_options().backoff_min = std::chrono::milliseconds{50};
    node.bridge_options().backoff_max = std::chrono::milliseconds{100};
  }
  void serve() {
    node.serve();
    stub = st::Misbehaving::NewStub(node.channel());
  }
  grpc::Status call(const std::string& id, size_t padding = 0) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds{10});
    st::Key k;
    k.set_id(id);
    if (padding > 0)
      k.set_id(id + std::string(padding, 'x'));
    st::Chunk out;
    return stub->Call(&ctx, k, &out);
  }

  discovery disco;
  wrong_ids entity;
  actorstate::testing::bridged_node node;
  std::unique_ptr<st::Misbehaving::Stub> stub;
};

}  // namespace

TEST_CASE_FIXTURE(faults_fixture, "invalid_spec_is_reported_and_not_served") {
  disco.invalid = true;
  std::atomic<bool> stop{false};
  std::atomic<bool> served{true};
  std::thread t{
      [&] { served = actorstate::bridge::discover(node.get(), node.bridge_options(), [&] { return stop.load(); }); }};
  CHECK(eventually([&] { return disco.reported("Service actorstate.streamtest.Missing not found in descriptors"); }));
  stop = true;
  t.join();
  CHECK_FALSE(served.load());
  CHECK(node.get().port() == 0);  // the client port never opened
}

TEST_CASE_FIXTURE(faults_fixture, "reply_with_the_wrong_command_id_restarts_the_entity") {
  serve();
  auto first = call("a");
  CHECK(first.error_code() == grpc::StatusCode::INTERNAL);
  CHECK(eventually([&] { return disco.reported("protocol violation"); }));
  // The entity restarted: the next command opens a new stream with a new init.
  auto second = call("a");
  CHECK(second.error_code() == grpc::StatusCode::INTERNAL);
  CHECK(entity.inits.load() >= 2);
}

TEST_CASE_FIXTURE(faults_fixture, "oversized_request_is_resource_exhausted") {
  serve();
  auto status = call("big", 2 * 1024 * 1024);
  CHECK(status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_CASE("restart_requested_by_the_user_function_drops_events_and_replays") {
  discovery disco;
  disco.service = "actorstate.streamtest.Restarting";
  restarter entity;
  actorstate::testing::bridged_node node{{&disco, &entity}};
  node.serve();
  auto stub = st::Restarting::NewStub(node.channel());
  auto step = [&](const std::string& text) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds{10});
    st::Step s;
    s.set_id("r");
    s.set_text(text);
    st::Chunk out;
    return stub->Do(&ctx, s, &out);
  };
  CHECK(step("one").ok());
  auto failed = step("restart");
  CHECK(failed.error_code() == grpc::StatusCode::UNKNOWN);
  CHECK(failed.error_message() == "restarting");
  CHECK(step("two").ok());
  std::lock_guard<std::mutex> guard{entity.mtx};
  REQUIRE(entity.streams.size() == 2);
  CHECK(entity.streams[0] == std::vector<std::string>{"init", "command:1", "command:2"});
  // The new stream replays only the durable event: the restart's event was never persisted; ids restart at 1.
  CHECK(entity.streams[1] == std::vector<std::string>{"init", "event:1", "command:1"});
}

namespace {

/// A node serving Restarting from `restarter` over a memory store the test can hold and fail writes of.
struct pipeline_fixture {
  pipeline_fixture() {
    disco.service = "actorstate.streamtest.Restarting";
    node = std::make_unique<actorstate::testing::bridged_node>(
        std::vector<grpc::Service*>{&disco, &entity}, [this](actorstate::node_options& o) {
          o.wrap_store = [this](std::shared_ptr<actorstate::persistence::store> inner) {
            store = std::make_shared<actorstate::persistence::faulty_store>(std::move(inner));
            return store;
          };
        });
    node->serve();
    stub = st::Restarting::NewStub(node->channel());
  }
  ~pipeline_fixture() {
    entity.open_gate();
    store->release_writes();
  }

  /// Do(id "p", text) on its own thread; the status and the reply's text arrive in the future.
  std::future<std::pair<grpc::Status, std::string>> step(const std::string& text) {
    return std::async(std::launch::async, [this, text] {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds{20});
      st::Step s;
      s.set_id("p");
      s.set_text(text);
      st::Chunk out;
      auto status = stub->Do(&ctx, s, &out);
      return std::make_pair(status, out.text());
    });
  }
  /// Whether the user function has seen `what` on stream `index`.
  bool saw(size_t index, const std::string& what) {
    auto streams = entity.seen();
    return index < streams.size() &&
           std::find(streams[index].begin(), streams[index].end(), what) != streams[index].end();
  }

  discovery disco;
  restarter entity;
  std::shared_ptr<actorstate::persistence::faulty_store> store;
  std::unique_ptr<actorstate::testing::bridged_node> node;
  std::unique_ptr<st::Restarting::Stub> stub;
};

bool pending(std::future<std::pair<grpc::Status, std::string>>& f) {
  return f.wait_for(std::chrono::milliseconds{0}) != std::future_status::ready;
}

}  // namespace

TEST_CASE_FIXTURE(pipeline_fixture,
                  "pipelining.the_next_command_reaches_the_user_function_before_the_previous_events_are_durable") {
  store->hold_writes();
  auto a = step("a");
  REQUIRE(eventually([&] { return saw(0, "command:1") && store->held_writes() == 1; }));
  auto b = step("b");
  // Strict order would hold command 2 back until write 1 is durable, and it is held.
  REQUIRE(eventually([&] { return saw(0, "command:2"); }));
  REQUIRE(eventually([&] { return store->held_writes() == 2; }));
  CHECK(pending(a));  // replies still wait for durability
  CHECK(pending(b));
  store->release_writes();
  auto ra = a.get();
  auto rb = b.get();
  CHECK(ra.first.ok());
  CHECK(ra.second == "a");
  CHECK(rb.first.ok());
  CHECK(rb.second == "b");
  CHECK(entity.seen().size() == 1);  // one stream throughout
}

TEST_CASE_FIXTURE(
    pipeline_fixture,
    "pipelining.a_failed_write_fails_the_commands_that_saw_it_and_the_stream_restarts_from_durable_state") {
  REQUIRE(step("a").get().first.ok());  // event 1, durable
  store->hold_writes();
  auto b = step("b");  // event 2: durable in the store, its outcome held
  REQUIRE(eventually([&] { return store->held_writes() == 1; }));
  store->fail_writes(actorstate::status_code::unavailable, 1);
  auto c = step("c");  // event 3: fails, after b's outcome (same entity, issue order)
  REQUIRE(eventually([&] { return saw(0, "command:3"); }));
  auto d = step("wait:d");  // goes out before c's write failed, and is at the user function when it does
  REQUIRE(eventually([&] { return saw(0, "command:4"); }));
  store->release_writes();
  auto rb = b.get();
  auto rc = c.get();
  auto rd = d.get();
  CHECK(rb.first.ok());
  CHECK(rc.first.error_code() == grpc::StatusCode::UNAVAILABLE);
  CHECK(rd.first.error_code() == grpc::StatusCode::UNAVAILABLE);  // it saw c's lost event
  entity.open_gate();
  auto re = step("e").get();
  CHECK(re.first.ok());
  auto streams = entity.seen();
  REQUIRE(streams.size() == 2);
  CHECK(streams[0] == std::vector<std::string>{"init", "command:1", "command:2", "command:3", "command:4"});
  // The new stream starts from durable state: events 1 and 2, not c's or d's.
  CHECK(streams[1] == std::vector<std::string>{"init", "event:1", "event:2", "command:1"});
}
