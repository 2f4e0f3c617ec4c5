// What every bridge actor of one user function shares: the channel and protocol stubs, and the descriptor pool
// built from the user function's FileDescriptorSet (with the factory that makes its messages). Immutable after
// discovery; kept alive by the entity models that capture it.
#pragma once

#include <memory>
#include <string>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor_database.h>
#include <google/protobuf/dynamic_message.h>
#include <grpcpp/channel.h>

#include "actorstate/entity.hpp"
#include "cloudstate/action.grpc.pb.h"
#include "cloudstate/crdt.grpc.pb.h"
#include "cloudstate/entity.grpc.pb.h"
#include "cloudstate/event_sourced.grpc.pb.h"
#include "cloudstate/value_entity.grpc.pb.h"

namespace actorstate::bridge {

struct uf_context {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<cloudstate::EntityDiscovery::Stub> discovery;
  std::unique_ptr<cloudstate::eventsourced::EventSourced::Stub> event_sourced;
  std::unique_ptr<cloudstate::valueentity::ValueEntity::Stub> value_entity;
  std::unique_ptr<cloudstate::action::ActionProtocol::Stub> action;
  std::unique_ptr<cloudstate::crdt::Crdt::Stub> crdt;

  // Declaration order is destruction order in reverse: the pool must die before the databases it reads.
  google::protobuf::SimpleDescriptorDatabase user_files;
  std::unique_ptr<google::protobuf::DescriptorPoolDatabase> linked_files;
  std::unique_ptr<google::protobuf::MergedDescriptorDatabase> files;
  std::unique_ptr<google::protobuf::DescriptorPool> pool;
  std::unique_ptr<google::protobuf::DynamicMessageFactory> factory;

  /// Tells the user function about a problem it caused (best effort, asynchronous).
  void report_error(const std::string& message) const;
};

}  // namespace actorstate::bridge
