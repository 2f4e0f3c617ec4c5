// Bad input and faults at the bridge: an invalid entity spec, a reply for the wrong command, an oversized message.
#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include <google/protobuf/descriptor.pb.h>
#include <grpcpp/grpcpp.h>

#include "actorstate/bridge.hpp"
#include "actorstate/node.hpp"
#include "cloudstate/entity.grpc.pb.h"
#include "cloudstate/event_sourced.grpc.pb.h"
#include "streamtest/stream_test.grpc.pb.h"

namespace {

namespace st = actorstate::streamtest;
namespace es = cloudstate::eventsourced;

void add_file(const google::protobuf::FileDescriptor* f, std::set<std::string>& seen,
              google::protobuf::FileDescriptorSet& set) {
  if (!seen.insert(f->name()).second)
    return;
  for (int i = 0; i < f->dependency_count(); ++i)
    add_file(f->dependency(i), seen, set);
  f->CopyTo(set.add_file());
}

/// Discovery that offers Misbehaving (or, when `invalid`, a service that is not in the descriptors) and records
/// what the proxy reports.
class discovery final : public cloudstate::EntityDiscovery::Service {
public:
  std::atomic<bool> invalid{false};
  std::string service = "actorstate.streamtest.Misbehaving";
  std::mutex mtx;
  std::vector<std::string> errors;

  grpc::Status discover(grpc::ServerContext*, const cloudstate::ProxyInfo*, cloudstate::EntitySpec* spec) override {
    google::protobuf::FileDescriptorSet set;
    std::set<std::string> seen;
    add_file(st::Chunk::descriptor()->file(), seen, set);
    spec->set_proto(set.SerializeAsString());
    auto* e = spec->add_entities();
    e->set_entity_type("cloudstate.eventsourced.EventSourced");
    e->set_service_name(invalid ? "actorstate.streamtest.Missing" : service);
    e->set_persistence_id("misbehaving");
    spec->mutable_service_info()->set_protocol_minor_version(2);
    return grpc::Status::OK;
  }
  grpc::Status reportError(grpc::ServerContext*, const cloudstate::UserFunctionError* e,
                           google::protobuf::Empty*) override {
    std::lock_guard<std::mutex> guard{mtx};
    errors.push_back(e->message());
    return grpc::Status::OK;
  }
  bool reported(const std::string& part) {
    std::lock_guard<std::mutex> guard{mtx};
    for (auto& e : errors)
      if (e.find(part) != std::string::npos)
        return true;
    return false;
  }
};

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

/// Restarting.Do: emits an event per command; "restart" fails with restart = true after emitting one. Records,
/// per stream, what the proxy sent ("init", "event:<seq>", "command:<id>").
class restarter final : public es::EventSourced::Service {
public:
  std::mutex mtx;
  std::vector<std::vector<std::string>> streams;

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
  faults_fixture() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &uf_port);
    builder.RegisterService(&disco);
    builder.RegisterService(&entity);
    uf = builder.BuildAndStart();
    REQUIRE(uf);
    actorstate::node_options opts;
    opts.store = "memory";
    opts.port = 0;
    opts.management_port = 0;
    opts.bind = "127.0.0.1";
    opts.log_level = "error";
    opts.max_message_size = 1024 * 1024;
    n = std::make_unique<actorstate::node>(opts);
    REQUIRE(n->open() == 0);
    bo.user_function_port = static_cast<uint16_t>(uf_port);
    bo.backoff_min = std::chrono::milliseconds{50};
    bo.backoff_max = std::chrono::milliseconds{100};
  }
  ~faults_fixture() {
    n->stop();
    n->run();
    uf->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds{2});
  }
  void serve() {
    REQUIRE(actorstate::bridge::discover(*n, bo, [] { return false; }));
    REQUIRE(n->serve() == 0);
    stub = st::Misbehaving::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(n->port()), grpc::InsecureChannelCredentials()));
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

  int uf_port = 0;
  discovery disco;
  wrong_ids entity;
  std::unique_ptr<grpc::Server> uf;
  std::unique_ptr<actorstate::node> n;
  actorstate::bridge::bridge_options bo;
  std::unique_ptr<st::Misbehaving::Stub> stub;
};

}  // namespace

TEST_CASE_FIXTURE(faults_fixture, "invalid_spec_is_reported_and_not_served") {
  disco.invalid = true;
  std::atomic<bool> stop{false};
  std::atomic<bool> served{true};
  std::thread t{[&] { served = actorstate::bridge::discover(*n, bo, [&] { return stop.load(); }); }};
  CHECK(eventually([&] { return disco.reported("Service actorstate.streamtest.Missing not found in descriptors"); }));
  stop = true;
  t.join();
  CHECK_FALSE(served.load());
  CHECK(n->port() == 0);  // the client port never opened
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
  grpc::ServerBuilder builder;
  int uf_port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &uf_port);
  builder.RegisterService(&disco);
  builder.RegisterService(&entity);
  auto uf = builder.BuildAndStart();
  REQUIRE(uf);
  actorstate::node_options opts;
  opts.store = "memory";
  opts.port = 0;
  opts.management_port = 0;
  opts.bind = "127.0.0.1";
  opts.log_level = "error";
  actorstate::node n{opts};
  REQUIRE(n.open() == 0);
  actorstate::bridge::bridge_options bo;
  bo.user_function_port = static_cast<uint16_t>(uf_port);
  REQUIRE(actorstate::bridge::discover(n, bo, [] { return false; }));
  REQUIRE(n.serve() == 0);
  auto stub = st::Restarting::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(n.port()), grpc::InsecureChannelCredentials()));
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
  n.stop();
  n.run();
  uf->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds{2});
}
