#include "reflection.hpp"

#include <algorithm>
#include <set>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>

#include "grpc/reflection/v1alpha/reflection.pb.h"

namespace actorstate::frontend {

namespace rv = grpc::reflection::v1alpha;
using google::protobuf::FileDescriptor;

namespace {

/// `file` and everything it imports, each once, the file itself first.
void add_with_dependencies(const FileDescriptor* file, std::set<std::string>& seen, rv::FileDescriptorResponse& out) {
  if (file == nullptr || !seen.insert(file->name()).second)
    return;
  google::protobuf::FileDescriptorProto proto;
  file->CopyTo(&proto);
  file->CopyJsonNameTo(&proto);
  out.add_file_descriptor_proto(proto.SerializeAsString());
  for (int i = 0; i < file->dependency_count(); ++i)
    add_with_dependencies(file->dependency(i), seen, out);
}

}  // namespace

reflection::reflection(const std::vector<const google::protobuf::ServiceDescriptor*>& services) {
  std::set<std::string> names;
  for (const auto* s : services) {
    names.insert(s->full_name());
    const auto* pool = s->file()->pool();
    if (std::find(pools_.begin(), pools_.end(), pool) == pools_.end())
      pools_.push_back(pool);
  }
  service_names_.push_back("grpc.reflection.v1alpha.ServerReflection");
  service_names_.insert(service_names_.end(), names.begin(), names.end());
  const auto* generated = google::protobuf::DescriptorPool::generated_pool();
  if (std::find(pools_.begin(), pools_.end(), generated) == pools_.end())
    pools_.push_back(generated);
}

void reflection::answer(const rv::ServerReflectionRequest& request, rv::ServerReflectionResponse& response) const {
  response.set_valid_host(request.host());
  *response.mutable_original_request() = request;
  auto find_file = [&](auto lookup) -> const FileDescriptor* {
    for (const auto* pool : pools_)
      if (const auto* f = lookup(pool))
        return f;
    return nullptr;
  };
  std::set<std::string> seen;
  switch (request.message_request_case()) {
    case rv::ServerReflectionRequest::kListServices:
      for (const auto& name : service_names_)
        response.mutable_list_services_response()->add_service()->set_name(name);
      break;
    case rv::ServerReflectionRequest::kFileByFilename:
      add_with_dependencies(find_file([&](auto* p) { return p->FindFileByName(request.file_by_filename()); }), seen,
                            *response.mutable_file_descriptor_response());
      break;
    case rv::ServerReflectionRequest::kFileContainingSymbol:
      add_with_dependencies(
          find_file([&](auto* p) { return p->FindFileContainingSymbol(request.file_containing_symbol()); }), seen,
          *response.mutable_file_descriptor_response());
      break;
    case rv::ServerReflectionRequest::kFileContainingExtension: {
      const auto& ext = request.file_containing_extension();
      add_with_dependencies(find_file([&](auto* p) -> const FileDescriptor* {
                              const auto* type = p->FindMessageTypeByName(ext.containing_type());
                              const auto* field =
                                  type != nullptr ? p->FindExtensionByNumber(type, ext.extension_number()) : nullptr;
                              return field != nullptr ? field->file() : nullptr;
                            }),
                            seen, *response.mutable_file_descriptor_response());
      break;
    }
    case rv::ServerReflectionRequest::kAllExtensionNumbersOfType: {
      const auto& name = request.all_extension_numbers_of_type();
      for (const auto* pool : pools_) {
        const auto* type = pool->FindMessageTypeByName(name);
        if (type == nullptr)
          continue;
        std::vector<const google::protobuf::FieldDescriptor*> extensions;
        pool->FindAllExtensions(type, &extensions);
        auto* out = response.mutable_all_extension_numbers_response();
        out->set_base_type_name(name);
        for (const auto* e : extensions)
          out->add_extension_number(e->number());
        return;
      }
      response.mutable_error_response()->set_error_code(5);  // NOT_FOUND
      response.mutable_error_response()->set_error_message("type not found: " + name);
      break;
    }
    case rv::ServerReflectionRequest::MESSAGE_REQUEST_NOT_SET:
      response.mutable_error_response()->set_error_code(3);  // INVALID_ARGUMENT
      response.mutable_error_response()->set_error_message("empty reflection request");
      break;
  }
  // An unknown file or symbol answers with an empty FileDescriptorResponse (set above), not an error.
}

}  // namespace actorstate::frontend
