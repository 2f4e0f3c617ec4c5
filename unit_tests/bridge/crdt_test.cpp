// CRDT entities through the bridge, against a fake user function that speaks the CRDT protocol: the replica's state
// is stored and a new stream starts from it (also after the node restarts on the same store), and a change that does
// not fit the entity (another CRDT type, an ORMap entry without a key) is a protocol error that fails its command, is
// reported, and restarts the entity while the proxy keeps serving. Streamed commands: a cancellation that the user
// function's own end of the stream crosses is told once and answered without a protocol error; a stream-cancelled
// response for a command that was not cancelled is a protocol error.
#include <doctest/doctest.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "actorstate/bridge.hpp"
#include "actorstate/node.hpp"
#include "bridged_node.hpp"
#include "cloudstate/crdt.grpc.pb.h"
#include "fake_discovery.hpp"
#include "streamtest/stream_test.grpc.pb.h"

namespace {

namespace st = actorstate::streamtest;
namespace pb = cloudstate::crdt;
using bridge_tests::discovery;

template <class Pred>
bool eventually(Pred pred) {
  for (int i = 0; i < 500; ++i) {
    if (pred())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  return pred();
}

/// Misbehaving.Call as a GCounter: each command increments it by one and replies with the value the user function
/// holds; while `wrong_type` is set, it answers with a PNCounter change instead. Records, per stream, "init:<value>"
/// (or "init:none"), "delta:<increment>" and "command:<id>".
class counter_function final : public pb::Crdt::Service {
public:
  std::atomic<bool> wrong_type{false};
  std::atomic<bool> entity_failure{false};  ///< Answer the next command with a failure of the whole entity.

  grpc::Status handle(grpc::ServerContext*,
                      grpc::ServerReaderWriter<pb::CrdtStreamOut, pb::CrdtStreamIn>* stream) override {
    size_t index = open_stream();
    uint64_t value = 0;
    pb::CrdtStreamIn in;
    while (stream->Read(&in)) {
      if (in.has_init()) {
        value = in.init().has_delta() ? in.init().delta().gcounter().increment() : 0;
        record(index, in.init().has_delta() ? "init:" + std::to_string(value) : "init:none");
        continue;
      }
      if (in.has_delta()) {
        value += in.delta().gcounter().increment();
        record(index, "delta:" + std::to_string(in.delta().gcounter().increment()));
        continue;
      }
      if (!in.has_command())
        continue;
      record(index, "command:" + std::to_string(in.command().id()));
      pb::CrdtStreamOut out;
      if (entity_failure.exchange(false)) {
        out.mutable_failure()->set_description("the entity broke");  // command id 0: the entity, not a command
        stream->Write(out);
        continue;
      }
      auto* reply = out.mutable_reply();
      reply->set_command_id(in.command().id());
      if (wrong_type.load()) {
        reply->mutable_state_action()->mutable_update()->mutable_pncounter()->set_change(-1);
      } else {
        reply->mutable_state_action()->mutable_update()->mutable_gcounter()->set_increment(1);
        ++value;
      }
      st::Chunk chunk;
      chunk.set_text(std::to_string(value));
      reply->mutable_client_action()->mutable_reply()->mutable_payload()->set_type_url(
          "type.googleapis.com/actorstate.streamtest.Chunk");
      reply->mutable_client_action()->mutable_reply()->mutable_payload()->set_value(chunk.SerializeAsString());
      stream->Write(out);
    }
    return grpc::Status::OK;
  }

  std::vector<std::vector<std::string>> seen() {
    std::lock_guard<std::mutex> guard{mtx_};
    return streams_;
  }

private:
  size_t open_stream() {
    std::lock_guard<std::mutex> guard{mtx_};
    streams_.emplace_back();
    return streams_.size() - 1;
  }
  void record(size_t index, std::string what) {
    std::lock_guard<std::mutex> guard{mtx_};
    streams_[index].push_back(std::move(what));
  }

  std::mutex mtx_;
  std::vector<std::vector<std::string>> streams_;
};

/// Watched as the tests script it: Call replies "Call" (or, per `mode`, with an ORMap change whose entry has no key,
/// or with a stream-cancelled response for it instead of a reply); Watch replies "Watch" and stays open. A
/// cancellation is answered as a user function that had not seen it yet would: it ends that stream itself first,
/// then answers the cancellation. Records, per stream, "init", "<method>:<id>" and "cancelled:<id>".
class watched_function final : public pb::Crdt::Service {
public:
  enum class mode { normal, ormap_without_key, stray_cancelled_response };
  std::atomic<mode> answer{mode::normal};

  grpc::Status handle(grpc::ServerContext*,
                      grpc::ServerReaderWriter<pb::CrdtStreamOut, pb::CrdtStreamIn>* stream) override {
    size_t index = open_stream();
    pb::CrdtStreamIn in;
    while (stream->Read(&in)) {
      if (in.has_init()) {
        record(index, "init");
      } else if (in.has_stream_cancelled()) {
        auto id = in.stream_cancelled().id();
        record(index, "cancelled:" + std::to_string(id));
        pb::CrdtStreamOut end;
        end.mutable_streamed_message()->set_command_id(id);
        *end.mutable_streamed_message()->mutable_client_action()->mutable_reply()->mutable_payload() = chunk("late");
        end.mutable_streamed_message()->set_end_stream(true);
        stream->Write(end);
        pb::CrdtStreamOut answered;
        answered.mutable_stream_cancelled_response()->set_command_id(id);
        stream->Write(answered);
      } else if (in.has_command()) {
        const auto& c = in.command();
        record(index, c.name() + ":" + std::to_string(c.id()));
        pb::CrdtStreamOut out;
        auto* reply = out.mutable_reply();
        reply->set_command_id(c.id());
        *reply->mutable_client_action()->mutable_reply()->mutable_payload() = chunk(c.name());
        if (c.streamed()) {
          reply->set_streamed(true);
        } else if (answer.load() == mode::ormap_without_key) {
          auto* entry = reply->mutable_state_action()->mutable_update()->mutable_ormap()->add_updated();
          entry->mutable_delta()->mutable_gcounter()->set_increment(1);
        } else if (answer.load() == mode::stray_cancelled_response) {
          out.Clear();
          out.mutable_stream_cancelled_response()->set_command_id(c.id());
        }
        stream->Write(out);
      }
    }
    return grpc::Status::OK;
  }

  std::vector<std::vector<std::string>> seen() {
    std::lock_guard<std::mutex> guard{mtx_};
    return streams_;
  }

  /// `what` was recorded on some stream.
  bool saw(const std::string& what) {
    std::lock_guard<std::mutex> guard{mtx_};
    for (const auto& s : streams_)
      for (const auto& w : s)
        if (w == what)
          return true;
    return false;
  }

private:
  static google::protobuf::Any chunk(const std::string& text) {
    st::Chunk c;
    c.set_text(text);
    google::protobuf::Any any;
    any.set_type_url("type.googleapis.com/actorstate.streamtest.Chunk");
    any.set_value(c.SerializeAsString());
    return any;
  }
  size_t open_stream() {
    std::lock_guard<std::mutex> guard{mtx_};
    streams_.emplace_back();
    return streams_.size() - 1;
  }
  void record(size_t index, std::string what) {
    std::lock_guard<std::mutex> guard{mtx_};
    streams_[index].push_back(std::move(what));
  }

  std::mutex mtx_;
  std::vector<std::vector<std::string>> streams_;
};

struct crdt_fixture {
  crdt_fixture() { disco.entity_type = "cloudstate.crdt.Crdt"; }

  /// A node on the SQLite store `db`, serving the fake user function.
  std::unique_ptr<actorstate::testing::bridged_node> start(const std::filesystem::path& db) {
    auto n = std::make_unique<actorstate::testing::bridged_node>(
        std::vector<grpc::Service*>{&disco, &function},
        [&](actorstate::node_options& o) { o.store = "sqlite:" + db.string(); });
    n->serve();
    return n;
  }

  static grpc::Status call(actorstate::testing::bridged_node& n, const std::string& id, std::string* text = nullptr) {
    auto stub = st::Misbehaving::NewStub(n.channel());
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds{10});
    st::Key k;
    k.set_id(id);
    st::Chunk out;
    auto s = stub->Call(&ctx, k, &out);
    if (text != nullptr)
      *text = out.text();
    return s;
  }

  discovery disco;
  counter_function function;
};

std::filesystem::path temp_db(const char* name) {
  auto dir = std::filesystem::temp_directory_path() / ("actorstate-bridge-crdt-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto db = dir / name;
  std::filesystem::remove(db);
  return db;
}

}  // namespace

TEST_CASE_FIXTURE(crdt_fixture, "crdt_updates_are_durable_and_a_restarted_node_starts_the_entity_from_them") {
  auto db = temp_db("durable.db");
  {
    auto n = start(db);
    std::string text;
    for (int i = 1; i <= 3; ++i) {
      REQUIRE(call(*n, "counter", &text).ok());
      CHECK(text == std::to_string(i));
    }
  }
  auto n = start(db);
  std::string text;
  REQUIRE(call(*n, "counter", &text).ok());
  CHECK(text == "4");
  auto streams = function.seen();
  REQUIRE(streams.size() == 2);
  CHECK(streams[0] == std::vector<std::string>{"init:none", "command:1", "command:2", "command:3"});
  CHECK(streams[1] == std::vector<std::string>{"init:3", "command:1"});
}

TEST_CASE_FIXTURE(crdt_fixture,
                  "a_change_of_the_wrong_crdt_type_fails_its_command_is_reported_and_restarts_the_entity") {
  auto n = start(temp_db("wrong-type.db"));
  REQUIRE(call(*n, "counter").ok());
  function.wrong_type = true;
  auto failed = call(*n, "counter");
  CHECK(failed.error_code() == grpc::StatusCode::INTERNAL);
  CHECK(failed.error_message().find("does not fit") != std::string::npos);
  CHECK(eventually([&] { return disco.reported("does not fit the entity"); }));
  function.wrong_type = false;
  // The proxy keeps serving: a new stream starts from the replica's state, which the bad change did not touch.
  std::string text;
  REQUIRE(call(*n, "counter", &text).ok());
  CHECK(text == "2");
  auto streams = function.seen();
  REQUIRE(streams.size() == 2);
  CHECK(streams[1] == std::vector<std::string>{"init:1", "command:1"});
}

TEST_CASE_FIXTURE(crdt_fixture, "a_failure_of_the_whole_entity_fails_what_it_had_and_the_next_command_opens_a_new_stream") {
  auto n = start(temp_db("entity-failure.db"));
  REQUIRE(call(*n, "counter").ok());
  function.entity_failure = true;
  auto failed = call(*n, "counter");
  CHECK(failed.error_code() == grpc::StatusCode::UNKNOWN);
  CHECK(failed.error_message().find("the entity broke") != std::string::npos);
  std::string text;
  REQUIRE(call(*n, "counter", &text).ok());
  CHECK(text == "2");
  auto streams = function.seen();
  REQUIRE(streams.size() == 2);
  CHECK(streams[1] == std::vector<std::string>{"init:1", "command:1"});
}

TEST_CASE_FIXTURE(crdt_fixture, "crdt_entities_of_a_user_function_that_states_no_protocol_version_are_refused_clearly") {
  // npm cloudstate 0.0.3 states no version and speaks the CRDT protocol from before 0.2: its CRDT entities are
  // reported, not served (every command would hang), and its other entities are served.
  disco.minor = 0;
  disco.more = {{"actorstate.streamtest.Restarting", "cloudstate.eventsourced.EventSourced"}};
  auto n = start(temp_db("unversioned.db"));
  CHECK(eventually([&] { return disco.reported("states no protocol version are not served"); }));
  auto refused = call(*n, "counter");
  CHECK(refused.error_code() == grpc::StatusCode::UNIMPLEMENTED);
}

TEST_CASE_FIXTURE(crdt_fixture, "crdt_entities_are_listed_in_proxy_info_and_served_next_to_other_kinds") {
  disco.more = {{"actorstate.streamtest.Restarting", "cloudstate.eventsourced.EventSourced"}};
  auto n = start(temp_db("listed.db"));
  REQUIRE(call(*n, "a").ok());
  CHECK(disco.errors.empty());
}

namespace {

struct watched_fixture {
  watched_fixture() {
    disco.entity_type = "cloudstate.crdt.Crdt";
    disco.service = "actorstate.streamtest.Watched";
    node = std::make_unique<actorstate::testing::bridged_node>(std::vector<grpc::Service*>{&disco, &function});
    node->serve();
    stub = st::Watched::NewStub(node->channel());
  }

  grpc::Status call(const std::string& id, std::string* text = nullptr) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds{10});
    st::Key k;
    k.set_id(id);
    st::Chunk out;
    auto s = stub->Call(&ctx, k, &out);
    if (text != nullptr)
      *text = out.text();
    return s;
  }

  discovery disco;
  watched_function function;
  std::unique_ptr<actorstate::testing::bridged_node> node;
  std::unique_ptr<st::Watched::Stub> stub;
};

}  // namespace

TEST_CASE_FIXTURE(watched_fixture,
                  "an_ormap_entry_without_a_key_fails_its_command_is_reported_and_restarts_the_entity") {
  REQUIRE(call("map").ok());
  function.answer = watched_function::mode::ormap_without_key;
  auto failed = call("map");
  CHECK(failed.error_code() == grpc::StatusCode::INTERNAL);
  CHECK_MESSAGE(failed.error_message().find("entry without a key") != std::string::npos, failed.error_message());
  CHECK(eventually([&] { return disco.reported("entry without a key"); }));
  function.answer = watched_function::mode::normal;
  // The proxy keeps serving: a new stream, from a replica the bad change did not touch (nothing to tell in init).
  std::string text;
  REQUIRE(call("map", &text).ok());
  CHECK(text == "Call");
  auto streams = function.seen();
  REQUIRE(streams.size() == 2);
  CHECK(streams[0] == std::vector<std::string>{"init", "Call:1", "Call:2"});
  CHECK(streams[1] == std::vector<std::string>{"init", "Call:1"});
}

TEST_CASE_FIXTURE(watched_fixture,
                  "a_streamed_command_cancelled_by_the_client_and_ended_by_the_user_function_is_cancelled_once") {
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds{10});
    st::Key k;
    k.set_id("watched");
    auto reader = stub->Watch(&ctx, k);
    st::Chunk chunk;
    REQUIRE(reader->Read(&chunk));
    CHECK(chunk.text() == "Watch");
    // Cancelled twice by the client; the user function then ends the stream on its own as well (a streamed message
    // with end_stream for a command the proxy is cancelling) before it answers the cancellation.
    ctx.TryCancel();
    ctx.TryCancel();
    while (reader->Read(&chunk)) {
    }
    CHECK(reader->Finish().error_code() == grpc::StatusCode::CANCELLED);
  }
  REQUIRE(eventually([&] { return function.saw("cancelled:1"); }));
  // The proxy keeps serving on the same stream (no restart): the late end and the answer were taken, not errors.
  std::string text;
  REQUIRE(call("watched", &text).ok());
  CHECK(text == "Call");
  auto streams = function.seen();
  REQUIRE(streams.size() == 1);
  CHECK(streams[0] == std::vector<std::string>{"init", "Watch:1", "cancelled:1", "Call:2"});
  {
    std::lock_guard<std::mutex> guard{disco.mtx};
    CHECK(disco.errors.empty());
  }
  // The fixture's teardown then shuts the node down, which requires the cancelled call to have been finished for its
  // client: the cancellation used to end the call without telling the frontend, whose gRPC reactor then never
  // finished, so the server's shutdown waited for it forever (this test timed out).
}

TEST_CASE_FIXTURE(watched_fixture, "a_stream_cancelled_response_for_a_command_not_cancelled_is_a_protocol_error") {
  REQUIRE(call("stray").ok());
  function.answer = watched_function::mode::stray_cancelled_response;
  auto failed = call("stray");
  // The command the stray answer names fails with the restart (the answer is not a reply to it).
  CHECK(failed.error_code() == grpc::StatusCode::UNAVAILABLE);
  CHECK_MESSAGE(failed.error_message().find("which was not cancelled") != std::string::npos, failed.error_message());
  CHECK(eventually([&] { return disco.reported("stream-cancelled response for command 2, which was not cancelled"); }));
  function.answer = watched_function::mode::normal;
  std::string text;
  REQUIRE(call("stray", &text).ok());
  CHECK(text == "Call");
  auto streams = function.seen();
  REQUIRE(streams.size() == 2);
  CHECK(streams[0] == std::vector<std::string>{"init", "Call:1", "Call:2"});
  CHECK(streams[1] == std::vector<std::string>{"init", "Call:1"});
}
