// The Cloudstate protocol services behind user_function_server. They share one registry of models that is fixed
// before the server starts and read-only afterwards, so gRPC's threads read it without locks. Each stream's state
// (the entity's local copy of its state and sequence number) belongs to that stream's reactor; a reactor keeps at
// most one read or write outstanding, so its callbacks never run concurrently.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "actorstate/detail/model.hpp"
#include "cloudstate/action.grpc.pb.h"
#include "cloudstate/crdt.grpc.pb.h"
#include "cloudstate/entity.grpc.pb.h"
#include "cloudstate/event_sourced.grpc.pb.h"
#include "cloudstate/value_entity.grpc.pb.h"

namespace actorstate {
struct user_function_options;
}  // namespace actorstate

namespace actorstate::uf {

struct registry {
  std::vector<std::shared_ptr<const detail::model_base>> all;  ///< In registration order (discovery lists them so).
  std::map<std::string, std::shared_ptr<const detail::event_sourced_model>> event_sourced;
  std::map<std::string, std::shared_ptr<const detail::value_model>> values;
  std::map<std::string, std::shared_ptr<const detail::crdt_model>> crdts;
  std::map<std::string, std::shared_ptr<const detail::action_model>> actions;
};

/// The protocol's name for an entity kind: the full name of the protocol service that serves it.
const char* entity_type(detail::entity_kind kind);

/// The serialized FileDescriptorSet of every registered service's file and all its transitive dependencies, each
/// file once, dependencies before dependents (what `protoc --include_imports` writes).
std::string descriptor_set(const registry& reg);

/// What `discover` answers; fixed once the registry is.
cloudstate::EntitySpec entity_spec(const registry& reg, const user_function_options& opts);

class discovery_service final : public cloudstate::EntityDiscovery::CallbackService {
public:
  discovery_service(const registry& reg, cloudstate::EntitySpec spec) : reg_(reg), spec_(std::move(spec)) {}

  grpc::ServerUnaryReactor* discover(grpc::CallbackServerContext* ctx, const cloudstate::ProxyInfo* info,
                                     cloudstate::EntitySpec* spec) override;
  grpc::ServerUnaryReactor* reportError(grpc::CallbackServerContext* ctx, const cloudstate::UserFunctionError* error,
                                        google::protobuf::Empty* reply) override;

private:
  const registry& reg_;
  const cloudstate::EntitySpec spec_;
};

class event_sourced_service final : public cloudstate::eventsourced::EventSourced::CallbackService {
public:
  explicit event_sourced_service(const registry& reg) : reg_(reg) {}

  grpc::ServerBidiReactor<cloudstate::eventsourced::EventSourcedStreamIn,
                          cloudstate::eventsourced::EventSourcedStreamOut>*
  handle(grpc::CallbackServerContext* ctx) override;

private:
  const registry& reg_;
};

class value_entity_service final : public cloudstate::valueentity::ValueEntity::CallbackService {
public:
  explicit value_entity_service(const registry& reg) : reg_(reg) {}

  grpc::ServerBidiReactor<cloudstate::valueentity::ValueEntityStreamIn, cloudstate::valueentity::ValueEntityStreamOut>*
  handle(grpc::CallbackServerContext* ctx) override;

private:
  const registry& reg_;
};

/// `Crdt/handle`: each stream relays to a conversation the model opens (crdt_service.cpp).
class crdt_service final : public cloudstate::crdt::Crdt::CallbackService {
public:
  explicit crdt_service(const registry& reg) : reg_(reg) {}

  grpc::ServerBidiReactor<cloudstate::crdt::CrdtStreamIn, cloudstate::crdt::CrdtStreamOut>* handle(
      grpc::CallbackServerContext* ctx) override;

private:
  const registry& reg_;
};

class action_service final : public cloudstate::action::ActionProtocol::CallbackService {
public:
  explicit action_service(const registry& reg) : reg_(reg) {}

  grpc::ServerUnaryReactor* handleUnary(grpc::CallbackServerContext* ctx, const cloudstate::action::ActionCommand* cmd,
                                        cloudstate::action::ActionResponse* response) override;
  grpc::ServerReadReactor<cloudstate::action::ActionCommand>* handleStreamedIn(
      grpc::CallbackServerContext* ctx, cloudstate::action::ActionResponse* response) override;
  grpc::ServerWriteReactor<cloudstate::action::ActionResponse>* handleStreamedOut(
      grpc::CallbackServerContext* ctx, const cloudstate::action::ActionCommand* cmd) override;
  grpc::ServerBidiReactor<cloudstate::action::ActionCommand, cloudstate::action::ActionResponse>* handleStreamed(
      grpc::CallbackServerContext* ctx) override;

private:
  const registry& reg_;
};

}  // namespace actorstate::uf
