#include "messages.hpp"

#include <doctest/doctest.h>
#include <google/protobuf/util/message_differencer.h>

namespace tck {

google::protobuf::Any pack(const google::protobuf::Message& msg) {
  google::protobuf::Any any;
  any.set_type_url("type.googleapis.com/" + msg.GetDescriptor()->full_name());
  any.set_value(msg.SerializeAsString());
  return any;
}

cloudstate::Command command(int64_t id, const std::string& entity_id, const std::string& name,
                            const google::protobuf::Message& payload) {
  cloudstate::Command cmd;
  cmd.set_entity_id(entity_id);
  cmd.set_id(id);
  cmd.set_name(name);
  *cmd.mutable_payload() = pack(payload);
  return cmd;
}

cloudstate::SideEffect side_effect(const std::string& service, const std::string& command,
                                   const google::protobuf::Message& payload, bool synchronous) {
  cloudstate::SideEffect effect;
  effect.set_service_name(service);
  effect.set_command_name(command);
  *effect.mutable_payload() = pack(payload);
  effect.set_synchronous(synchronous);
  return effect;
}

void check_equal(const google::protobuf::Message& actual, const google::protobuf::Message& expected) {
  if (google::protobuf::util::MessageDifferencer::Equals(actual, expected)) {
    // The differencer unpacks `Any` payloads and compares them as messages; Cloudstate's TCK compares their bytes
    // (a user function may sign, hash or cache them), so the same fields in another order fail here too.
    CHECK_MESSAGE(actual.SerializeAsString() == expected.SerializeAsString(),
                  "same message, other bytes (field order inside a payload?)\n  expected: "
                      << expected.ShortDebugString() << "\n  actual:   " << actual.ShortDebugString());
    return;
  }
  std::string differences;
  google::protobuf::util::MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&differences);
  differencer.Compare(actual, expected);
  FAIL_CHECK("message differs from the expected one\n  expected: " << expected.ShortDebugString() << "\n  actual:   "
                                                                   << actual.ShortDebugString() << "\n  differences:\n"
                                                                   << differences);
}

}  // namespace tck
