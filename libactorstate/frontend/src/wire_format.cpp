#include "wire_format.hpp"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/wire_format_lite.h>

namespace actorstate::wire_format {

bool valid_utf8(std::string_view text) {
  const auto* p = reinterpret_cast<const uint8_t*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    uint8_t c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int len = 0;
    uint32_t cp = 0;
    if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (end - p < len)
      return false;
    for (int i = 1; i < len; ++i) {
      if ((p[i] & 0xc0) != 0x80)
        return false;
      cp = (cp << 6) | (p[i] & 0x3f);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
    static constexpr uint32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_for_len[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    p += len;
  }
  return true;
}

using fd = google::protobuf::FieldDescriptor;

wire_type wire_type_of(const fd* field) {
  switch (field->type()) {
    case fd::TYPE_DOUBLE:
    case fd::TYPE_FIXED64:
    case fd::TYPE_SFIXED64:
      return wire_fixed64;
    case fd::TYPE_FLOAT:
    case fd::TYPE_FIXED32:
    case fd::TYPE_SFIXED32:
      return wire_fixed32;
    case fd::TYPE_STRING:
    case fd::TYPE_BYTES:
    case fd::TYPE_MESSAGE:
      return wire_length;
    case fd::TYPE_GROUP:
      return wire_start_group;
    default:
      return wire_varint;
  }
}

bool integer_text(const fd* field, uint64_t value, std::string& out) {
  switch (field->type()) {
    case fd::TYPE_INT32:
    case fd::TYPE_SFIXED32:
      out = std::to_string(static_cast<int32_t>(static_cast<uint32_t>(value)));
      return true;
    case fd::TYPE_SINT32:
      out = std::to_string(google::protobuf::internal::WireFormatLite::ZigZagDecode32(static_cast<uint32_t>(value)));
      return true;
    case fd::TYPE_UINT32:
    case fd::TYPE_FIXED32:
      out = std::to_string(static_cast<uint32_t>(value));
      return true;
    case fd::TYPE_INT64:
    case fd::TYPE_SFIXED64:
      out = std::to_string(static_cast<int64_t>(value));
      return true;
    case fd::TYPE_SINT64:
      out = std::to_string(google::protobuf::internal::WireFormatLite::ZigZagDecode64(value));
      return true;
    case fd::TYPE_UINT64:
    case fd::TYPE_FIXED64:
      out = std::to_string(value);
      return true;
    case fd::TYPE_BOOL:
      out = value != 0 ? "true" : "false";
      return true;
    default:
      return false;
  }
}

}  // namespace actorstate::wire_format
