// Streamed actions through the bridge: an in-process fake user function (sync gRPC services) serves a streaming
// action, an in-process node discovers it through actorstate::bridge, and a client calls the node.
#include <doctest/doctest.h>

#include <set>
#include <thread>

#include <google/protobuf/descriptor.pb.h>
#include <grpcpp/grpcpp.h>

#include "actorstate/bridge.hpp"
#include "actorstate/node.hpp"
#include "bridged_node.hpp"
#include "cloudstate/action.grpc.pb.h"
#include "cloudstate/entity.grpc.pb.h"
#include "fake_discovery.hpp"
#include "streamtest/stream_test.grpc.pb.h"

namespace {

namespace st = actorstate::streamtest;
namespace ca = cloudstate::action;

using bridge_tests::add_file;

ca::ActionResponse reply(const std::string& text) {
  st::Chunk c;
  c.set_text(text);
  ca::ActionResponse r;
  r.mutable_reply()->mutable_payload()->set_type_url("type.googleapis.com/actorstate.streamtest.Chunk");
  r.mutable_reply()->mutable_payload()->set_value(c.SerializeAsString());
  return r;
}

std::string text_of(const ca::ActionCommand& cmd) {
  st::Chunk c;
  c.ParseFromString(cmd.payload().value());
  return c.text();
}

class fake_discovery final : public cloudstate::EntityDiscovery::Service {
  grpc::Status discover(grpc::ServerContext*, const cloudstate::ProxyInfo*, cloudstate::EntitySpec* spec) override {
    google::protobuf::FileDescriptorSet set;
    std::set<std::string> seen;
    add_file(st::Chunk::descriptor()->file(), seen, set);
    spec->set_proto(set.SerializeAsString());
    auto* e = spec->add_entities();
    e->set_entity_type("cloudstate.action.ActionProtocol");
    e->set_service_name("actorstate.streamtest.Streamer");
    spec->mutable_service_info()->set_protocol_major_version(0);
    spec->mutable_service_info()->set_protocol_minor_version(2);
    return grpc::Status::OK;
  }
  grpc::Status reportError(grpc::ServerContext*, const cloudstate::UserFunctionError*,
                           google::protobuf::Empty*) override {
    return grpc::Status::OK;
  }
};

class fake_actions final : public ca::ActionProtocol::Service {
public:
  std::string first_name;  // what the first command of a streamed-in call named

  grpc::Status handleStreamedIn(grpc::ServerContext*, grpc::ServerReader<ca::ActionCommand>* reader,
                                ca::ActionResponse* response) override {
    ca::ActionCommand cmd;
    std::string all;
    bool first = true;
    while (reader->Read(&cmd)) {
      if (first) {
        first_name = cmd.service_name() + "/" + cmd.name() + (cmd.has_payload() ? "+payload" : "");
        first = false;
        continue;
      }
      all += text_of(cmd);
    }
    *response = reply(all);
    return grpc::Status::OK;
  }

  grpc::Status handleStreamedOut(grpc::ServerContext*, const ca::ActionCommand* cmd,
                                 grpc::ServerWriter<ca::ActionResponse>* writer) override {
    for (char c : text_of(*cmd))
      writer->Write(reply(std::string(1, c)));
    return grpc::Status::OK;
  }

  grpc::Status handleStreamed(grpc::ServerContext*,
                              grpc::ServerReaderWriter<ca::ActionResponse, ca::ActionCommand>* stream) override {
    ca::ActionCommand cmd;
    stream->Read(&cmd);  // the header: service and method only
    bool fail = cmd.name() == "Fail";
    while (stream->Read(&cmd)) {
      auto text = text_of(cmd);
      if (fail) {
        stream->Write(reply(text));
        ca::ActionResponse failure;
        failure.mutable_failure()->set_description("boom");
        stream->Write(failure);
        return grpc::Status::OK;
      }
      if (text == "forward") {
        ca::ActionResponse fwd;
        fwd.mutable_forward()->set_service_name("actorstate.streamtest.Streamer");
        fwd.mutable_forward()->set_command_name("Collect");
        fwd.mutable_forward()->mutable_payload()->set_value(cmd.payload().value());
        stream->Write(fwd);
        continue;
      }
      stream->Write(reply(text));
      stream->Write(ca::ActionResponse{});  // no reply: emits nothing
    }
    return grpc::Status::OK;
  }

  grpc::Status handleUnary(grpc::ServerContext*, const ca::ActionCommand* cmd, ca::ActionResponse* r) override {
    if (cmd->name() != "Hello") {
      *r = reply("unary");
      return grpc::Status::OK;
    }
    std::string user;
    for (const auto& e : cmd->metadata().entries())
      if (e.key() == "x-user")
        user = e.string_value();
    *r = reply(user);
    auto* echoed = r->mutable_reply()->mutable_metadata()->add_entries();
    echoed->set_key("echo-x-user");
    echoed->set_string_value(user);
    return grpc::Status::OK;
  }
};

struct fixture {
  fixture() : node({&discovery, &actions}, [](actorstate::node_options& o) { o.log_level = "warn"; }) {
    node.serve();
    stub = st::Streamer::NewStub(node.channel());
  }
  static void deadline(grpc::ClientContext& ctx) {
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds{10});
  }
  static st::Chunk chunk(const std::string& text) {
    st::Chunk c;
    c.set_text(text);
    return c;
  }

  fake_discovery discovery;
  fake_actions actions;
  actorstate::testing::bridged_node node;
  std::unique_ptr<st::Streamer::Stub> stub;
};

}  // namespace

TEST_CASE_FIXTURE(fixture, "streamed_in_action") {
  grpc::ClientContext ctx;
  deadline(ctx);
  st::Chunk result;
  auto writer = stub->Collect(&ctx, &result);
  for (auto t : {"a", "b", "c"})
    REQUIRE(writer->Write(chunk(t)));
  writer->WritesDone();
  auto status = writer->Finish();
  REQUIRE_MESSAGE(status.ok(), status.error_message());
  CHECK(result.text() == "abc");
  CHECK(actions.first_name == "actorstate.streamtest.Streamer/Collect");
}

TEST_CASE_FIXTURE(fixture, "streamed_out_action") {
  grpc::ClientContext ctx;
  deadline(ctx);
  auto reader = stub->Split(&ctx, chunk("xyz"));
  std::string got;
  st::Chunk c;
  while (reader->Read(&c))
    got += c.text() + ",";
  auto status = reader->Finish();
  REQUIRE_MESSAGE(status.ok(), status.error_message());
  CHECK(got == "x,y,z,");
}

TEST_CASE_FIXTURE(fixture, "bidi_action_with_forward_and_no_reply") {
  grpc::ClientContext ctx;
  deadline(ctx);
  auto stream = stub->Echo(&ctx);
  std::vector<std::string> got;
  st::Chunk c;
  REQUIRE(stream->Write(chunk("one")));
  REQUIRE(stream->Read(&c));
  got.push_back(c.text());
  REQUIRE(stream->Write(chunk("forward")));
  REQUIRE(stream->Read(&c));
  got.push_back(c.text());
  stream->WritesDone();
  CHECK_FALSE(stream->Read(&c));
  auto status = stream->Finish();
  REQUIRE_MESSAGE(status.ok(), status.error_message());
  // The forward is routed like a client call (to the user function's handleUnary here); its reply becomes the
  // stream's element, and the response without a reply emitted nothing in between.
  REQUIRE(got.size() == 2);
  CHECK(got[0] == "one");
  CHECK(got[1] == "unary");
}

TEST_CASE_FIXTURE(fixture, "bidi_failure_ends_the_call_with_the_description") {
  grpc::ClientContext ctx;
  deadline(ctx);
  auto stream = stub->Fail(&ctx);
  REQUIRE(stream->Write(chunk("first")));
  st::Chunk c;
  REQUIRE(stream->Read(&c));
  CHECK(c.text() == "first");
  CHECK_FALSE(stream->Read(&c));
  auto status = stream->Finish();
  CHECK(status.error_code() == grpc::StatusCode::UNKNOWN);
  CHECK(status.error_message() == "boom");
}

TEST_CASE_FIXTURE(fixture, "request_headers_reach_the_action_and_reply_metadata_comes_back") {
  grpc::ClientContext ctx;
  deadline(ctx);
  ctx.AddMetadata("x-user", "alice");
  st::Chunk out;
  auto status = stub->Hello(&ctx, chunk("hi"), &out);
  REQUIRE_MESSAGE(status.ok(), status.error_message());
  CHECK(out.text() == "alice");
  auto headers = ctx.GetServerInitialMetadata();
  auto echoed = headers.find("echo-x-user");
  REQUIRE(echoed != headers.end());
  CHECK(std::string(echoed->second.data(), echoed->second.size()) == "alice");
}
