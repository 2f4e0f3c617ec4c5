// The discovery side of the bridge tests' fake user functions: offers one entity of streamtest/stream_test.proto
// (the event-sourced Misbehaving unless told otherwise) and records what the proxy reports. Served from a
// gRPC sync server in the test process; its methods run on gRPC's threads, so the recorded errors are guarded.
// `add_file` builds the descriptor set any fake discovery sends.
#pragma once

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <google/protobuf/descriptor.pb.h>

#include "cloudstate/entity.grpc.pb.h"
#include "streamtest/stream_test.pb.h"

namespace bridge_tests {

inline void add_file(const google::protobuf::FileDescriptor* f, std::set<std::string>& seen,
                     google::protobuf::FileDescriptorSet& set) {
  if (!seen.insert(f->name()).second)
    return;
  for (int i = 0; i < f->dependency_count(); ++i)
    add_file(f->dependency(i), seen, set);
  f->CopyTo(set.add_file());
}

/// Discovery that offers `service` as an entity of `entity_type` (or, when `invalid`, a service that is not in the
/// descriptors) and records what the proxy reports.
class discovery final : public cloudstate::EntityDiscovery::Service {
public:
  std::atomic<bool> invalid{false};
  std::string service = "actorstate.streamtest.Misbehaving";
  std::string entity_type = "cloudstate.eventsourced.EventSourced";
  /// More entities offered after the first: service name and entity type.
  std::vector<std::pair<std::string, std::string>> more;
  /// The protocol minor version the user function states (0: none, as old support libraries send).
  std::atomic<int> minor{2};
  std::mutex mtx;
  std::vector<std::string> errors;

  grpc::Status discover(grpc::ServerContext*, const cloudstate::ProxyInfo*, cloudstate::EntitySpec* spec) override {
    google::protobuf::FileDescriptorSet set;
    std::set<std::string> seen;
    add_file(actorstate::streamtest::Chunk::descriptor()->file(), seen, set);
    spec->set_proto(set.SerializeAsString());
    auto* e = spec->add_entities();
    e->set_entity_type(entity_type);
    e->set_service_name(invalid ? "actorstate.streamtest.Missing" : service);
    e->set_persistence_id("misbehaving");
    for (const auto& [name, type] : more) {
      auto* other = spec->add_entities();
      other->set_entity_type(type);
      other->set_service_name(name);
      other->set_persistence_id(name);
    }
    spec->mutable_service_info()->set_protocol_minor_version(minor.load());
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

}  // namespace bridge_tests
