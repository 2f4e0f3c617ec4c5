// CRDT entities through the bridge, against a fake user function that speaks the CRDT protocol: the replica's state
// is stored and a new stream starts from it (also after the node restarts on the same store), and a change that does
// not fit the entity is a protocol error that fails its command, is reported, and restarts the entity while the proxy
// keeps serving.
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

  grpc::Status handle(grpc::ServerContext*, grpc::ServerReaderWriter<pb::CrdtStreamOut, pb::CrdtStreamIn>* stream) override {
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

TEST_CASE_FIXTURE(crdt_fixture, "a_change_of_the_wrong_crdt_type_fails_its_command_is_reported_and_restarts_the_entity") {
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

TEST_CASE_FIXTURE(crdt_fixture, "crdt_entities_are_listed_in_proxy_info_and_served_next_to_other_kinds") {
  disco.more = {{"actorstate.streamtest.Restarting", "cloudstate.eventsourced.EventSourced"}};
  auto n = start(temp_db("listed.db"));
  REQUIRE(call(*n, "a").ok());
  CHECK(disco.errors.empty());
}
