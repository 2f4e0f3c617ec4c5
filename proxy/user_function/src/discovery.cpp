// Discovery: the EntitySpec is computed once at start (the registry is fixed by then) and handed out on every
// `discover`, which the proxy repeats after each of its restarts. Descriptors come from the generated pool, i.e.
// exactly the definitions the handlers were compiled against.
#include <set>
#include <string_view>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>

#include "actorstate/ops/log.hpp"
#include "actorstate/user_function.hpp"
#include "services.hpp"

#ifndef ACTORSTATE_VERSION
#define ACTORSTATE_VERSION "0.0.0"
#endif

namespace actorstate::uf {

namespace {

#if defined(__clang__)
constexpr std::string_view compiler = "clang++ " __clang_version__;
#elif defined(__GNUC__)
constexpr std::string_view compiler = "g++ " __VERSION__;
#else
constexpr std::string_view compiler = "unknown compiler";
#endif

// Post-order, so every file follows its dependencies: a proxy can then build the files in the order given.
void collect(const google::protobuf::FileDescriptor* file, std::set<std::string>& seen,
             google::protobuf::FileDescriptorSet& out) {
  if (!seen.insert(file->name()).second)
    return;
  for (int i = 0; i < file->dependency_count(); ++i)
    collect(file->dependency(i), seen, out);
  auto* proto = out.add_file();
  file->CopyTo(proto);
  // protoc writes json names into descriptor sets; HTTP/JSON transcoding in the proxy relies on them.
  file->CopyJsonNameTo(proto);
}

}  // namespace

const char* entity_type(detail::entity_kind kind) {
  switch (kind) {
    case detail::entity_kind::event_sourced:
      return "cloudstate.eventsourced.EventSourced";
    case detail::entity_kind::value:
      return "cloudstate.valueentity.ValueEntity";
    case detail::entity_kind::crdt:
      return "cloudstate.crdt.Crdt";
    case detail::entity_kind::action:
      break;
  }
  return "cloudstate.action.ActionProtocol";
}

std::string descriptor_set(const registry& reg) {
  google::protobuf::FileDescriptorSet files;
  std::set<std::string> seen;
  for (const auto& model : reg.all)
    collect(model->service->file(), seen, files);
  return files.SerializeAsString();
}

cloudstate::EntitySpec entity_spec(const registry& reg, const user_function_options& opts) {
  cloudstate::EntitySpec spec;
  spec.set_proto(descriptor_set(reg));
  for (const auto& model : reg.all) {
    auto* entity = spec.add_entities();
    entity->set_entity_type(entity_type(model->kind));
    entity->set_service_name(model->service_name);
    if (model->kind != detail::entity_kind::action)
      entity->set_persistence_id(model->persistence_id);
    if (model->settings.passivation_timeout.count() > 0)
      entity->mutable_passivation_strategy()->mutable_timeout()->set_timeout(
          model->settings.passivation_timeout.count());
  }
  auto* info = spec.mutable_service_info();
  info->set_service_name(opts.service_name);
  info->set_service_version(opts.service_version);
  info->set_service_runtime("C++ (" + std::string{compiler} + ")");
  info->set_support_library_name("actorstate-cpp");
  info->set_support_library_version(ACTORSTATE_VERSION);
  info->set_protocol_major_version(0);
  info->set_protocol_minor_version(2);
  return spec;
}

grpc::ServerUnaryReactor* discovery_service::discover(grpc::CallbackServerContext* ctx,
                                                      const cloudstate::ProxyInfo* info, cloudstate::EntitySpec* spec) {
  std::string types;
  for (const auto& t : info->supported_entity_types())
    types += (types.empty() ? "" : ",") + t;
  log::info("discovery by proxy", {{"proxy", info->proxy_name()},
                                   {"proxy_version", info->proxy_version()},
                                   {"protocol", std::to_string(info->protocol_major_version()) + "." +
                                                    std::to_string(info->protocol_minor_version())},
                                   {"supported_entity_types", types}});
  if (info->protocol_major_version() != 0 || info->protocol_minor_version() != 2)
    log::warn("the proxy speaks another protocol version than 0.2",
              {{"protocol", std::to_string(info->protocol_major_version()) + "." +
                                std::to_string(info->protocol_minor_version())}});
  std::set<std::string> supported{info->supported_entity_types().begin(), info->supported_entity_types().end()};
  for (const auto& model : reg_.all)
    if (!supported.count(entity_type(model->kind)))
      log::warn("the proxy does not support the entity type of a registered service",
                {{"service", model->service_name}, {"entity_type", entity_type(model->kind)}});
  *spec = spec_;
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* discovery_service::reportError(grpc::CallbackServerContext* ctx,
                                                         const cloudstate::UserFunctionError* error,
                                                         google::protobuf::Empty*) {
  log::error("the proxy reported an error", {{"message", error->message()}});
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace actorstate::uf
