#include <doctest/doctest.h>

#include <google/protobuf/descriptor.pb.h>

#include "grpc/reflection/v1alpha/reflection.pb.h"
#include "reflection.hpp"
#include "testing/test_entities.pb.h"

using namespace actorstate;
namespace rv = grpc::reflection::v1alpha;

namespace {

frontend::reflection make() {
  const auto* file = testing::TextReply::descriptor()->file();
  return frontend::reflection{{file->FindServiceByName("TextLog"), file->FindServiceByName("Echo")}};
}

}  // namespace

TEST_CASE("reflection.lists_reflection_then_sorted_services") {
  auto r = make();
  for (auto query : {"", "nonsense.blabla."}) {
    rv::ServerReflectionRequest req;
    req.set_list_services(query);
    rv::ServerReflectionResponse resp;
    r.answer(req, resp);
    REQUIRE(resp.has_list_services_response());
    const auto& s = resp.list_services_response().service();
    REQUIRE(s.size() == 3);
    CHECK(s[0].name() == "grpc.reflection.v1alpha.ServerReflection");
    CHECK(s[1].name() == "actorstate.testing.Echo");
    CHECK(s[2].name() == "actorstate.testing.TextLog");
  }
}

TEST_CASE("reflection.file_containing_symbol_with_dependencies") {
  auto r = make();
  rv::ServerReflectionRequest req;
  req.set_file_containing_symbol("actorstate.testing.TextLog.Append");
  rv::ServerReflectionResponse resp;
  r.answer(req, resp);
  REQUIRE(resp.has_file_descriptor_response());
  const auto& files = resp.file_descriptor_response().file_descriptor_proto();
  REQUIRE(files.size() >= 2);
  google::protobuf::FileDescriptorProto first;
  REQUIRE(first.ParseFromString(files[0]));
  CHECK(first.name() == "testing/test_entities.proto");
  bool has_key_option_file = false;
  for (const auto& bytes : files) {
    google::protobuf::FileDescriptorProto f;
    REQUIRE(f.ParseFromString(bytes));
    has_key_option_file = has_key_option_file || f.name() == "cloudstate/entity_key.proto";
  }
  CHECK(has_key_option_file);
  CHECK(resp.original_request().file_containing_symbol() == "actorstate.testing.TextLog.Append");
}

TEST_CASE("reflection.unknown_symbol_is_an_empty_file_response") {
  auto r = make();
  rv::ServerReflectionRequest req;
  req.set_file_containing_symbol("nonsense.blabla.Void");
  rv::ServerReflectionResponse resp;
  r.answer(req, resp);
  REQUIRE(resp.has_file_descriptor_response());
  CHECK(resp.file_descriptor_response().file_descriptor_proto().empty());
}

TEST_CASE("reflection.file_by_name_and_extensions") {
  auto r = make();
  rv::ServerReflectionRequest req;
  req.set_file_by_filename("cloudstate/entity_key.proto");
  rv::ServerReflectionResponse resp;
  r.answer(req, resp);
  REQUIRE(resp.file_descriptor_response().file_descriptor_proto_size() >= 1);
  rv::ServerReflectionRequest ext;
  ext.set_all_extension_numbers_of_type("google.protobuf.FieldOptions");
  rv::ServerReflectionResponse ext_resp;
  r.answer(ext, ext_resp);
  REQUIRE(ext_resp.has_all_extension_numbers_response());
  const auto& numbers = ext_resp.all_extension_numbers_response().extension_number();
  CHECK(std::find(numbers.begin(), numbers.end(), 1080) != numbers.end());
  rv::ServerReflectionRequest bad;
  bad.set_all_extension_numbers_of_type("no.such.Type");
  rv::ServerReflectionResponse bad_resp;
  r.answer(bad, bad_resp);
  CHECK(bad_resp.error_response().error_code() == 5);
}
