#include "actorstate/frontend/entity_key.hpp"

#include <algorithm>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/message.h>
#include <google/protobuf/unknown_field_set.h>

#include "cloudstate/entity_key.pb.h"
#include "cloudstate/legacy_entity_key.pb.h"
#include "wire_format.hpp"

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

result<std::vector<const google::protobuf::FieldDescriptor*>> key_fields(const google::protobuf::Descriptor* input) {
  using fd = google::protobuf::FieldDescriptor;
  std::vector<const fd*> out;
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
    if (!supported)
      return status{status_code::invalid_argument,
                    "entity key field " + field->full_name() + " has unsupported type " +
                        (field->is_repeated() ? std::string{"repeated "} : std::string{}) + field->type_name() +
                        " (use string, an integer type or bool)"};
    out.push_back(field);
  }
  std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return a->number() < b->number(); });
  return out;
}

namespace {

using fd = google::protobuf::FieldDescriptor;

using namespace wire_format;

constexpr int max_depth = 100;  // protobuf's default recursion limit

bool is_proto3(const fd* f) {
  return f->file()->syntax() == google::protobuf::FileDescriptor::SYNTAX_PROTO3;
}

/// A packed run of scalars holds whole elements only.
bool valid_packed(const fd* f, std::string_view payload) {
  reader in{payload};
  switch (wire_type_of(f)) {
    case wire_fixed64:
      return in.left() % 8 == 0;
    case wire_fixed32:
      return in.left() % 4 == 0;
    case wire_varint: {
      uint64_t v;
      while (!in.at_end())
        if (!in.varint(v))
          return false;
      return true;
    }
    default:
      return false;
  }
}

/// A key field's default value as key text (proto2 may declare one; proto3's are zero and empty).
std::string default_text(const fd* f) {
  switch (f->cpp_type()) {
    case fd::CPPTYPE_STRING:
      return f->default_value_string();
    case fd::CPPTYPE_INT32:
      return std::to_string(f->default_value_int32());
    case fd::CPPTYPE_INT64:
      return std::to_string(f->default_value_int64());
    case fd::CPPTYPE_UINT32:
      return std::to_string(f->default_value_uint32());
    case fd::CPPTYPE_UINT64:
      return std::to_string(f->default_value_uint64());
    case fd::CPPTYPE_BOOL:
      return f->default_value_bool() ? "true" : "false";
    default:
      return {};
  }
}

/// The top-level key fields' last occurrences, kept as views into the request until the scan has passed: a rejected
/// request costs no key text, and a string key is copied once, into the key.
struct key_values {
  struct occurrence {
    bool seen = false;
    uint64_t raw = 0;
    std::string_view bytes;
  };
  const std::vector<const fd*>* fields = nullptr;
  std::vector<occurrence> last;

  /// Records field `number`'s value if it is a key field written with its own wire type.
  void offer(uint32_t number, uint32_t wt, uint64_t raw, std::string_view bytes) {
    for (size_t i = 0; i < fields->size(); ++i) {
      const auto* f = (*fields)[i];
      if (static_cast<uint32_t>(f->number()) != number || wire_type_of(f) != wt)
        continue;
      last[i] = occurrence{true, raw, bytes};
    }
  }

  /// Appends key field `i`'s text: its last value, or its default (what a parse reads for an absent field).
  void append(size_t i, std::string& out) const {
    const auto* f = (*fields)[i];
    const auto& o = last[i];
    if (!o.seen) {
      out += default_text(f);
    } else if (f->type() == fd::TYPE_STRING) {
      out += o.bytes;
    } else {
      std::string text;
      integer_text(f, o.raw, text);  // key_fields admits strings, integers and bools only
      out += text;
    }
  }
};

/// Checks one message (or group, ended by `end_group`'s end tag) of `type` (null: unknown, structure only).
bool check_message(reader& in, const google::protobuf::Descriptor* type, int depth, uint32_t end_group,
                   key_values* keys) {
  if (depth > max_depth)
    return false;
  while (!in.at_end()) {
    uint32_t number = 0;
    uint32_t wt = 0;
    if (!in.tag(number, wt))
      return false;
    const fd* field = type != nullptr ? type->FindFieldByNumber(static_cast<int>(number)) : nullptr;
    uint64_t raw = 0;
    std::string_view payload;
    switch (wt) {
      case wire_varint:
        if (!in.varint(raw))
          return false;
        break;
      case wire_fixed64:
        if (!in.fixed(8, raw))
          return false;
        break;
      case wire_fixed32:
        if (!in.fixed(4, raw))
          return false;
        break;
      case wire_length:
        if (!in.bytes(payload))
          return false;
        if (field != nullptr) {
          if (field->type() == fd::TYPE_MESSAGE) {
            reader nested{payload};
            if (!check_message(nested, field->message_type(), depth + 1, 0, nullptr))
              return false;
          } else if (field->type() == fd::TYPE_STRING) {
            if (is_proto3(field) && !valid_utf8(payload))
              return false;
          } else if (field->is_repeated() && field->type() != fd::TYPE_BYTES) {
            if (!valid_packed(field, payload))
              return false;
          }
        }
        break;
      case wire_start_group: {
        const auto* group_type = field != nullptr && field->type() == fd::TYPE_GROUP ? field->message_type() : nullptr;
        if (!check_message(in, group_type, depth + 1, number, nullptr))
          return false;
        continue;
      }
      case wire_end_group:
        return number == end_group;
      default:
        return false;
    }
    if (keys != nullptr)
      keys->offer(number, wt, raw, payload);
  }
  return end_group == 0;  // a group must end with its end tag
}

}  // namespace

status scan_request(const google::protobuf::Descriptor* type, std::string_view wire,
                    const std::vector<const fd*>& key_fields, std::string& key) {
  key_values keys;
  keys.fields = &key_fields;
  keys.last.resize(key_fields.size());
  reader in{wire};
  if (!check_message(in, type, 0, 0, &keys))
    return {status_code::invalid_argument, "request does not parse as " + type->full_name()};
  key.clear();
  for (size_t i = 0; i < key_fields.size(); ++i) {
    if (i > 0)
      key += '-';
    keys.append(i, key);
  }
  return {};
}

}  // namespace actorstate::frontend
