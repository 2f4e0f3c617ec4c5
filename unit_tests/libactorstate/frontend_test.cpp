#include <doctest/doctest.h>

#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>

#include "frontend/entity_key.hpp"
#include "testing/test_entities.pb.h"

using namespace actorstate;

TEST_CASE("frontend.entity_key_joins_fields_in_number_order") {
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  std::string error;
  REQUIRE(frontend::key_fields(testing::CompositeKey::descriptor(), fields, error));
  REQUIRE(fields.size() == 3);
  testing::CompositeKey k;
  k.set_tenant("acme");
  k.set_number(-42);
  k.set_flag(true);
  k.set_other("ignored");
  CHECK(frontend::extract_key(k, fields) == "-42-acme-true");
}

TEST_CASE("frontend.entity_key_rejects_unsupported_types") {
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  std::string error;
  CHECK_FALSE(frontend::key_fields(testing::BadKey::descriptor(), fields, error));
  CHECK(error.find("actorstate.testing.BadKey.ratio") != std::string::npos);
}

TEST_CASE("frontend.entity_key_found_in_runtime_descriptors") {
  // A descriptor built at run time from a FileDescriptorProto (as a polyglot user function sends it) carries the
  // option as an unknown field when the pool does not know the extension.
  google::protobuf::FileDescriptorProto file;
  testing::GetText::descriptor()->file()->CopyTo(&file);
  file.clear_dependency();
  for (auto& msg : *file.mutable_message_type())
    for (auto& field : *msg.mutable_field())
      if (field.has_options()) {
        auto bytes = field.options().SerializeAsString();
        field.mutable_options()->Clear();
        field.mutable_options()->ParseFromString(bytes);
      }
  file.set_name("runtime_copy.proto");
  google::protobuf::DescriptorPool pool;
  const auto* fd = pool.BuildFile(file);
  REQUIRE(fd != nullptr);
  const auto* desc = pool.FindMessageTypeByName("actorstate.testing.GetText");
  REQUIRE(desc != nullptr);
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  std::string error;
  REQUIRE(frontend::key_fields(desc, fields, error));
  REQUIRE(fields.size() == 1);
  google::protobuf::DynamicMessageFactory factory{&pool};
  std::unique_ptr<google::protobuf::Message> msg{factory.GetPrototype(desc)->New()};
  REQUIRE(msg->ParseFromString(testing::GetText{}.SerializeAsString()));
  testing::GetText g;
  g.set_id("dyn");
  REQUIRE(msg->ParseFromString(g.SerializeAsString()));
  CHECK(frontend::extract_key(*msg, fields) == "dyn");
}
