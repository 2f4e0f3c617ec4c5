// Bad input and faults at the bridge: an invalid entity spec, a reply for the wrong command, an oversized message;
// restarts the user function asks for or causes, and recoveries that overlap.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <optional>
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
#include "cloudstate/value_entity.grpc.pb.h"
#include "fake_discovery.hpp"
#include "streamtest/stream_test.grpc.pb.h"

namespace {

namespace st = actorstate::streamtest;
namespace es = cloudstate::eventsourced;
namespace ve = cloudstate::valueentity;
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

template <class Pred>
bool eventually(Pred pred) {
  for (int i = 0; i < 500; ++i) {
    if (pred())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  return pred();
}

/// What the entity streams of a fake user function saw: per stream, what the proxy sent, in order. Commands whose
/// text starts with "wait:" are answered only once the gate is open; `hang_up_next` makes the next streams end at
/// once, unread.
class stream_log {
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
  void hang_up_next(int n) {
    std::lock_guard<std::mutex> guard{mtx};
    hang_ups_ = n;
  }
  std::vector<std::vector<std::string>> seen() {
    std::lock_guard<std::mutex> guard{mtx};
    return streams;
  }
  /// Waits (bounded) until stream `index` saw as many messages as `expected` holds; true if they are those.
  bool stream_is(size_t index, const std::vector<std::string>& expected) {
    eventually([&] {
      auto now = seen();
      return now.size() > index && now[index].size() >= expected.size();
    });
    auto now = seen();
    return now.size() > index && now[index] == expected;
  }

protected:
  /// Registers a new stream: its index, or nullopt if it is to end at once.
  std::optional<size_t> begin_stream() {
    std::lock_guard<std::mutex> guard{mtx};
    streams.emplace_back();
    if (hang_ups_ > 0) {
      --hang_ups_;
      return std::nullopt;
    }
    return streams.size() - 1;
  }
  void record(size_t index, std::string what) {
    std::lock_guard<std::mutex> guard{mtx};
    streams[index].push_back(std::move(what));
  }
  void wait_for_gate(const st::Step& step) {
    if (step.text().rfind("wait:", 0) != 0)
      return;
    std::unique_lock<std::mutex> lock{mtx};
    gate_changed.wait_for(lock, std::chrono::seconds{10}, [this] { return gate_open; });
  }

  /// The answer to `step` (command `id`): "restart" fails with restart = true, anything else replies with `chunk`.
  static cloudstate::ClientAction action_for(const st::Step& step, int64_t id, const st::Chunk& chunk) {
    cloudstate::ClientAction action;
    if (step.text() == "restart") {
      action.mutable_failure()->set_command_id(id);
      action.mutable_failure()->set_description("restarting");
      action.mutable_failure()->set_restart(true);
    } else {
      action.mutable_reply()->mutable_payload()->set_value(chunk.SerializeAsString());
    }
    return action;
  }
  /// `chunk` as the Any a user function sends.
  static google::protobuf::Any any_of(const st::Chunk& chunk) {
    google::protobuf::Any any;
    any.set_type_url("type.googleapis.com/actorstate.streamtest.Chunk");
    any.set_value(chunk.SerializeAsString());
    return any;
  }

private:
  int hang_ups_ = 0;
};

/// Restarting.Do: emits an event per command; "restart" fails with restart = true after emitting one; "crash"
/// answers with a failure message (the entity crashed in the user function) instead of a reply. Records, per
/// stream, "init", "event:<seq>" and "command:<id>".
class restarter final : public es::EventSourced::Service, public stream_log {
public:
  grpc::Status handle(grpc::ServerContext*,
                      grpc::ServerReaderWriter<es::EventSourcedStreamOut, es::EventSourcedStreamIn>* stream) override {
    auto index = begin_stream();
    if (!index)
      return grpc::Status::OK;
    es::EventSourcedStreamIn in;
    while (stream->Read(&in)) {
      record(*index, in.has_init()    ? "init"
                     : in.has_event() ? "event:" + std::to_string(in.event().sequence())
                                      : "command:" + std::to_string(in.command().id()));
      if (!in.has_command())
        continue;
      st::Step step;
      step.ParseFromString(in.command().payload().value());
      wait_for_gate(step);
      es::EventSourcedStreamOut out;
      if (step.text() == "crash") {
        out.mutable_failure()->set_command_id(in.command().id());
        out.mutable_failure()->set_description("crashed");
        stream->Write(out);
        continue;
      }
      auto* reply = out.mutable_reply();
      reply->set_command_id(in.command().id());
      st::Chunk ev;
      ev.set_text(step.text());
      *reply->add_events() = any_of(ev);
      *reply->mutable_client_action() = action_for(step, in.command().id(), ev);
      stream->Write(out);
    }
    return grpc::Status::OK;
  }
};

/// ValueRestarting.Do: stores the step's text as the state and replies with it; "restart" fails with
/// restart = true after updating the state. Records, per stream, "init:<stored text>" and "command:<id>".
class value_restarter final : public ve::ValueEntity::Service, public stream_log {
public:
  grpc::Status handle(grpc::ServerContext*,
                      grpc::ServerReaderWriter<ve::ValueEntityStreamOut, ve::ValueEntityStreamIn>* stream) override {
    auto index = begin_stream();
    if (!index)
      return grpc::Status::OK;
    ve::ValueEntityStreamIn in;
    while (stream->Read(&in)) {
      if (in.has_init()) {
        st::Chunk stored;
        stored.ParseFromString(in.init().state().value().value());
        record(*index, "init:" + stored.text());
        continue;
      }
      record(*index, "command:" + std::to_string(in.command().id()));
      st::Step step;
      step.ParseFromString(in.command().payload().value());
      ve::ValueEntityStreamOut out;
      auto* reply = out.mutable_reply();
      reply->set_command_id(in.command().id());
      st::Chunk state;
      state.set_text(step.text());
      *reply->mutable_state_action()->mutable_update()->mutable_value() = any_of(state);
      *reply->mutable_client_action() = action_for(step, in.command().id(), state);
      stream->Write(out);
    }
    return grpc::Status::OK;
  }
};

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

TEST_CASE_FIXTURE(faults_fixture, "an_entity_the_proxy_cannot_serve_is_reported_and_the_others_are_served") {
  // One unknown entity type and one service missing from the descriptors: both reported, Misbehaving served.
  disco.more = {{"actorstate.streamtest.Restarting", "cloudstate.nosuch.Kind"},
                {"actorstate.streamtest.Missing", "cloudstate.valueentity.ValueEntity"}};
  serve();
  CHECK(node.get().port() != 0);
  CHECK(eventually([&] {
    return disco.reported(
        "Service actorstate.streamtest.Restarting has unsupported entity type cloudstate.nosuch.Kind");
  }));
  CHECK(eventually([&] { return disco.reported("Service actorstate.streamtest.Missing not found in descriptors"); }));
  // The served entity answers (this fake user function answers with the wrong command id, which the proxy reports
  // as an internal error: what matters here is that the call reached it).
  auto st = call("served");
  CHECK(st.error_code() != grpc::StatusCode::UNIMPLEMENTED);
  CHECK(entity.inits.load() >= 1);
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

namespace {

/// A node serving `Service` (Restarting or ValueRestarting) from `Entity` over a memory store the test can hold and
/// fail operations of.
template <class Entity, class Service>
struct restarting_fixture {
  explicit restarting_fixture(const char* entity_type) {
    disco.service = Service::service_full_name();
    disco.entity_type = entity_type;
    node = std::make_unique<actorstate::testing::bridged_node>(
        std::vector<grpc::Service*>{&disco, &entity}, [this](actorstate::node_options& o) {
          o.wrap_store = [this](std::shared_ptr<actorstate::persistence::store> inner) {
            store = std::make_shared<actorstate::persistence::faulty_store>(std::move(inner));
            return store;
          };
        });
    node->serve();
    stub = Service::NewStub(node->channel());
  }
  ~restarting_fixture() {
    entity.open_gate();
    store->release_writes();
    store->release_reads();
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
  Entity entity;
  std::shared_ptr<actorstate::persistence::faulty_store> store;
  std::unique_ptr<actorstate::testing::bridged_node> node;
  std::unique_ptr<typename Service::Stub> stub;
};

struct event_sourced_fixture : restarting_fixture<restarter, st::Restarting> {
  event_sourced_fixture() : restarting_fixture("cloudstate.eventsourced.EventSourced") {}

  /// After a durable event, the command `failing` fails with `code` and `message` and restarts the entity. As in the
  /// Cloudstate proxy, the new stream comes at once: its init and the replay of the durable event come before any
  /// further command, and the next command is its command 1.
  void check_restart_at_once(const std::string& failing, grpc::StatusCode code, const std::string& message) {
    REQUIRE(step("one").get().first.ok());
    auto failed = step(failing).get().first;
    CHECK(failed.error_code() == code);
    CHECK(failed.error_message() == message);
    CHECK(entity.stream_is(1, {"init", "event:1"}));
    auto two = step("two").get();
    CHECK(two.first.ok());
    CHECK(two.second == "two");
    auto streams = entity.seen();
    REQUIRE(streams.size() == 2);
    CHECK(streams[0] == std::vector<std::string>{"init", "command:1", "command:2"});
    CHECK(streams[1] == std::vector<std::string>{"init", "event:1", "command:1"});
  }
};

struct value_fixture : restarting_fixture<value_restarter, st::ValueRestarting> {
  value_fixture() : restarting_fixture("cloudstate.valueentity.ValueEntity") {}
};

bool pending(std::future<std::pair<grpc::Status, std::string>>& f) {
  return f.wait_for(std::chrono::milliseconds{0}) != std::future_status::ready;
}

}  // namespace

// The restart's event is never persisted: the new stream replays only event 1.
TEST_CASE_FIXTURE(event_sourced_fixture, "restart_requested_by_the_user_function_drops_events_and_replays") {
  check_restart_at_once("restart", grpc::StatusCode::UNKNOWN, "restarting");
}

// A failure message (the entity crashed in the user function) restarts the entity as a restart request does.
TEST_CASE_FIXTURE(event_sourced_fixture, "a_failure_message_restarts_the_entity_at_once") {
  check_restart_at_once("crash", grpc::StatusCode::UNKNOWN, "Unexpected entity failure");
}

TEST_CASE_FIXTURE(value_fixture, "restart_requested_by_a_value_entity_reinitializes_it_at_once") {
  REQUIRE(step("one").get().first.ok());
  auto failed = step("restart").get().first;
  CHECK(failed.error_code() == grpc::StatusCode::UNKNOWN);
  CHECK(failed.error_message() == "restarting");
  // The new stream's init holds the last durable state, not the restart's dropped update.
  CHECK(entity.stream_is(1, {"init:one"}));
  auto two = step("two").get();
  CHECK(two.first.ok());
  CHECK(two.second == "two");
  auto streams = entity.seen();
  REQUIRE(streams.size() == 2);
  CHECK(streams[0] == std::vector<std::string>{"init:", "command:1", "command:2"});
  CHECK(streams[1] == std::vector<std::string>{"init:one", "command:1"});
}

// A recovery whose stream ends before its snapshot load returns fails, and the next command's recovery opens
// another stream; the first load, answered only then, must send nothing on it (a second init, a second replay).
TEST_CASE_FIXTURE(event_sourced_fixture, "a_snapshot_load_of_an_abandoned_recovery_sends_nothing") {
  entity.hang_up_next(1);
  store->hold_reads();
  auto a = step("a").get();
  CHECK(a.first.error_code() == grpc::StatusCode::UNAVAILABLE);
  REQUIRE(eventually([&] { return store->held_reads() == 1; }));
  auto b = step("b");
  // The second load is held as well (behind the first: a persistence id's callbacks keep their order).
  REQUIRE(eventually([&] { return store->held_reads() == 2; }));
  store->release_reads();
  auto rb = b.get();
  CHECK(rb.first.ok());
  CHECK(rb.second == "b");
  auto streams = entity.seen();
  REQUIRE(streams.size() == 2);
  CHECK(streams[0].empty());
  CHECK(streams[1] == std::vector<std::string>{"init", "command:1"});
}

TEST_CASE_FIXTURE(event_sourced_fixture,
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
    event_sourced_fixture,
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
