// gRPC server reflection v1alpha over the descriptors of the services a node serves (compiled-in or built from a
// user function's FileDescriptorSet), so `buf curl` and grpcurl work without a schema file. It lists the
// reflection service and the served services (sorted); a symbol or file it does not know gets an empty
// FileDescriptorResponse, as the Cloudstate TCK expects. Immutable after construction; thread-safe.
#pragma once

#include <string>
#include <vector>

namespace google::protobuf {
class DescriptorPool;
class ServiceDescriptor;
}  // namespace google::protobuf

namespace grpc::reflection::v1alpha {
class ServerReflectionRequest;
class ServerReflectionResponse;
}  // namespace grpc::reflection::v1alpha

namespace actorstate::frontend {

inline constexpr const char* reflection_path = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

class reflection {
public:
  explicit reflection(const std::vector<const google::protobuf::ServiceDescriptor*>& services);

  void answer(const grpc::reflection::v1alpha::ServerReflectionRequest& request,
              grpc::reflection::v1alpha::ServerReflectionResponse& response) const;

private:
  std::vector<std::string> service_names_;
  std::vector<const google::protobuf::DescriptorPool*> pools_;
};

}  // namespace actorstate::frontend
