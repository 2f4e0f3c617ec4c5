#include "frontend/entity_key.hpp"

#include <algorithm>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/message.h>
#include <google/protobuf/unknown_field_set.h>

#include "cloudstate/entity_key.pb.h"
#include "cloudstate/legacy_entity_key.pb.h"

namespace actorstate::frontend {

namespace {

bool unknown_flag(const google::protobuf::FieldOptions& options, int number) {
  const auto& unknown = options.GetReflection()->GetUnknownFields(options);
  for (int i = 0; i < unknown.field_count(); ++i) {
    const auto& f = unknown.field(i);
    if (f.number() == number && f.type() == google::protobuf::UnknownField::TYPE_VARINT)
      return f.varint() != 0;
  }
  return false;
}

bool is_key(const google::protobuf::FieldDescriptor* field) {
  const auto& options = field->options();
  if (options.GetExtension(cloudstate::entity_key) || options.GetExtension(cloudstate::legacy_entity_key))
    return true;
  return unknown_flag(options, 1080) || unknown_flag(options, 50002);
}

}  // namespace

bool key_fields(const google::protobuf::Descriptor* input, std::vector<const google::protobuf::FieldDescriptor*>& out,
                std::string& error) {
  using fd = google::protobuf::FieldDescriptor;
  out.clear();
  for (int i = 0; i < input->field_count(); ++i) {
    auto* field = input->field(i);
    if (!is_key(field))
      continue;
    bool supported = false;
    switch (field->cpp_type()) {
      case fd::CPPTYPE_STRING:
      case fd::CPPTYPE_INT32:
      case fd::CPPTYPE_INT64:
      case fd::CPPTYPE_UINT32:
      case fd::CPPTYPE_UINT64:
      case fd::CPPTYPE_BOOL:
        supported = !field->is_repeated() && field->type() != fd::TYPE_BYTES;
        break;
      default:
        break;
    }
    if (!supported) {
      error = "entity key field " + field->full_name() + " has unsupported type " +
              (field->is_repeated() ? std::string{"repeated "} : std::string{}) + field->type_name() +
              " (use string, an integer type or bool)";
      return false;
    }
    out.push_back(field);
  }
  std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return a->number() < b->number(); });
  return true;
}

std::string extract_key(const google::protobuf::Message& msg,
                        const std::vector<const google::protobuf::FieldDescriptor*>& fields) {
  using fd = google::protobuf::FieldDescriptor;
  const auto* refl = msg.GetReflection();
  std::string key;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0)
      key += '-';
    auto* f = fields[i];
    switch (f->cpp_type()) {
      case fd::CPPTYPE_STRING:
        key += refl->GetString(msg, f);
        break;
      case fd::CPPTYPE_INT32:
        key += std::to_string(refl->GetInt32(msg, f));
        break;
      case fd::CPPTYPE_INT64:
        key += std::to_string(refl->GetInt64(msg, f));
        break;
      case fd::CPPTYPE_UINT32:
        key += std::to_string(refl->GetUInt32(msg, f));
        break;
      case fd::CPPTYPE_UINT64:
        key += std::to_string(refl->GetUInt64(msg, f));
        break;
      case fd::CPPTYPE_BOOL:
        key += refl->GetBool(msg, f) ? "true" : "false";
        break;
      default:
        break;
    }
  }
  return key;
}

}  // namespace actorstate::frontend
