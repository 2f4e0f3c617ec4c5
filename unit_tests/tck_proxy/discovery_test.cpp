// Cloudstate TCK proxy scenarios of ProxyTCK: the discovery the proxy makes (intercepted ProxyInfo, exactly one
// call) and the gRPC server reflection (v1alpha) it serves over the discovered services.
#include <algorithm>
#include <set>
#include <thread>

#include <grpcpp/impl/codegen/client_unary_call.h>
#include <grpcpp/impl/codegen/rpc_method.h>
#include <grpcpp/impl/codegen/sync_stream.h>

#include "cloudstate/entity.pb.h"
#include "fixture.hpp"
#include "grpc/reflection/v1alpha/reflection.pb.h"

namespace {

namespace refl = grpc::reflection::v1alpha;
using tck_proxy::fixture;

// The one intercepted discover call (the test fails if there is not exactly one).
std::shared_ptr<tck_proxy::recorded_call> discovery_call() {
  auto& ic = fixture::get().intercepted();
  auto call = ic.claim(
      tck_proxy::protocol::discovery,
      [](const google::protobuf::Message& first) {
        return dynamic_cast<const cloudstate::ProxyInfo*>(&first) != nullptr;
      },
      tck_proxy::message_timeout, false);
  REQUIRE_MESSAGE(call != nullptr, "no discover call was intercepted");
  return call;
}

std::vector<std::string> user_services() {
  auto call = discovery_call();
  auto spec = fixture::get().intercepted().message(call, tck_proxy::direction::out, 0, tck_proxy::message_timeout);
  REQUIRE_MESSAGE(spec != nullptr, "the user function did not answer discover");
  std::vector<std::string> names;
  for (const auto& entity : dynamic_cast<const cloudstate::EntitySpec&>(*spec).entities())
    names.push_back(entity.service_name());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST_CASE("discovery.proxy_info") {
  auto& f = fixture::scenario();
  INFO(f.diagnostics());
  auto call = discovery_call();
  auto first = f.intercepted().message(call, tck_proxy::direction::in, 0, tck_proxy::message_timeout);
  REQUIRE(first != nullptr);
  const auto& info = dynamic_cast<const cloudstate::ProxyInfo&>(*first);
  CHECK(info.protocol_major_version() == 0);
  CHECK(info.protocol_minor_version() == 2);
  CHECK(info.proxy_name() == "actorstate-proxy");
  CHECK(!info.proxy_version().empty());
  std::multiset<std::string> types{info.supported_entity_types().begin(), info.supported_entity_types().end()};
  CHECK(types == std::multiset<std::string>{"cloudstate.eventsourced.EventSourced",
                                            "cloudstate.valueentity.ValueEntity", "cloudstate.crdt.Crdt",
                                            "cloudstate.action.ActionProtocol"});
  CHECK(f.intercepted().wait_finished(call, tck_proxy::message_timeout));
  CHECK(call->status.ok());
  CHECK(f.intercepted().count(call, tck_proxy::direction::out) == 1);
  // Exactly one discovery: no second call, not even a while later.
  std::this_thread::sleep_for(std::chrono::milliseconds{200});
  CHECK(f.intercepted().calls_of(tck_proxy::protocol::discovery) == 1);
  tck_proxy::check_no_more_interactions();
}

TEST_CASE("discovery.reflection") {
  auto& f = fixture::scenario();
  INFO(f.diagnostics());
  std::vector<std::string> expected{"grpc.reflection.v1alpha.ServerReflection"};
  auto services = user_services();
  expected.insert(expected.end(), services.begin(), services.end());

  // No generated stub for reflection in this project: the generic sync bidi stream the generated code would use.
  grpc::internal::RpcMethod method{"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                                   grpc::internal::RpcMethod::BIDI_STREAMING};
  auto ctx = tck_proxy::client_context();
  std::unique_ptr<grpc::ClientReaderWriter<refl::ServerReflectionRequest, refl::ServerReflectionResponse>> stream{
      grpc::internal::ClientReaderWriterFactory<refl::ServerReflectionRequest, refl::ServerReflectionResponse>::Create(
          f.proxy_channel().get(), method, ctx.get())};

  auto list_services = [&](const std::string& query) {
    refl::ServerReflectionRequest request;
    request.set_list_services(query);
    REQUIRE(stream->Write(request));
    refl::ServerReflectionResponse response;
    REQUIRE(stream->Read(&response));
    INFO("response: " << response.ShortDebugString());
    REQUIRE(response.has_list_services_response());
    std::vector<std::string> names;
    for (const auto& s : response.list_services_response().service())
      names.push_back(s.name());
    return names;
  };
  CHECK(list_services("") == expected);
  CHECK(list_services("nonsense.blabla.") == expected);

  refl::ServerReflectionRequest request;
  request.set_file_containing_symbol("nonsense.blabla.Void");
  REQUIRE(stream->Write(request));
  refl::ServerReflectionResponse response;
  REQUIRE(stream->Read(&response));
  INFO("response: " << response.ShortDebugString());
  CHECK(response.has_file_descriptor_response());
  CHECK(response.file_descriptor_response().file_descriptor_proto_size() == 0);

  stream->WritesDone();
  CHECK(!stream->Read(&response));
  auto status = stream->Finish();
  CHECK_MESSAGE(status.ok(), status.error_code() << " " << status.error_message());
  tck_proxy::check_no_more_interactions();
}
