#include "http/wire.hpp"

#include <bit>
#include <charconv>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/wire_format_lite.h>

namespace actorstate::http::detail {

namespace {

using fd = google::protobuf::FieldDescriptor;

void put_fixed32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_fixed64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    auto y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] - 'A' + 'a') : b[i];
    if (x != y)
      return false;
  }
  return true;
}

template <class T>
bool parse_number(std::string_view text, T& out) {
  if (text.empty())
    return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && ptr == text.data() + text.size();
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+' || c == '-' || c == ' ')
    return 62;
  if (c == '/' || c == '_')
    return 63;
  return -1;
}

using wire_format::reader;

// Walks the top-level fields of `bytes`, handing every one to `visit(number, type, value, payload)`.
template <class Visit>
scan_result walk(std::string_view bytes, Visit&& visit) {
  reader in{bytes};
  while (!in.at_end()) {
    uint32_t field = 0;
    uint32_t type = 0;
    if (!in.tag(field, type))
      return scan_result::malformed;
    auto number = static_cast<int>(field);
    uint64_t value = 0;
    std::string_view payload;
    switch (type) {
      case wire_varint:
        if (!in.varint(value))
          return scan_result::malformed;
        break;
      case wire_fixed64:
        if (!in.fixed(8, value))
          return scan_result::malformed;
        break;
      case wire_length:
        if (!in.bytes(payload))
          return scan_result::malformed;
        break;
      case wire_fixed32:
        if (!in.fixed(4, value))
          return scan_result::malformed;
        break;
      case 3:
      case 4:
        return scan_result::unsupported;  // groups: proto2 only, left to the general path
      default:
        return scan_result::malformed;
    }
    if (!visit(number, type, value, payload))
      return scan_result::unsupported;
  }
  return scan_result::ok;
}

}  // namespace

void put_varint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void put_tag(std::string& out, int number, wire_type type) {
  put_varint(out, (static_cast<uint64_t>(number) << 3) | type);
}

void put_length_delimited(std::string& out, int number, std::string_view bytes) {
  put_tag(out, number, wire_length);
  put_varint(out, bytes.size());
  out.append(bytes);
}

status encode_scalar(const fd* field, std::string_view text, std::string& out) {
  const int n = field->number();
  auto bad = [](std::string_view what) { return status{status_code::invalid_argument, "is not " + std::string{what}}; };
  switch (field->type()) {
    case fd::TYPE_STRING:
      if (!valid_utf8(text))
        return bad("valid UTF-8");
      put_length_delimited(out, n, text);
      return {};
    case fd::TYPE_BYTES: {
      std::string raw;
      if (!base64_decode(text, raw))
        return bad("base64");
      put_length_delimited(out, n, raw);
      return {};
    }
    case fd::TYPE_BOOL: {
      bool v = false;
      if (iequals(text, "true"))
        v = true;
      else if (!iequals(text, "false"))
        return bad("a bool (true or false)");
      put_tag(out, n, wire_varint);
      put_varint(out, v ? 1 : 0);
      return {};
    }
    case fd::TYPE_INT32:
    case fd::TYPE_SINT32:
    case fd::TYPE_SFIXED32: {
      int32_t v = 0;
      if (!parse_number(text, v))
        return bad("a valid " + std::string{field->type_name()});
      if (field->type() == fd::TYPE_SFIXED32) {
        put_tag(out, n, wire_fixed32);
        put_fixed32(out, static_cast<uint32_t>(v));
      } else {
        put_tag(out, n, wire_varint);
        // int32 is sign-extended to 64 bits on the wire; sint32 is zigzag-encoded.
        put_varint(out, field->type() == fd::TYPE_INT32
                            ? static_cast<uint64_t>(static_cast<int64_t>(v))
                            : google::protobuf::internal::WireFormatLite::ZigZagEncode32(v));
      }
      return {};
    }
    case fd::TYPE_INT64:
    case fd::TYPE_SINT64:
    case fd::TYPE_SFIXED64: {
      int64_t v = 0;
      if (!parse_number(text, v))
        return bad("a valid " + std::string{field->type_name()});
      if (field->type() == fd::TYPE_SFIXED64) {
        put_tag(out, n, wire_fixed64);
        put_fixed64(out, static_cast<uint64_t>(v));
      } else {
        put_tag(out, n, wire_varint);
        put_varint(out, field->type() == fd::TYPE_INT64
                            ? static_cast<uint64_t>(v)
                            : google::protobuf::internal::WireFormatLite::ZigZagEncode64(v));
      }
      return {};
    }
    case fd::TYPE_UINT32:
    case fd::TYPE_FIXED32: {
      uint32_t v = 0;
      if (!parse_number(text, v))
        return bad("a valid " + std::string{field->type_name()});
      if (field->type() == fd::TYPE_FIXED32) {
        put_tag(out, n, wire_fixed32);
        put_fixed32(out, v);
      } else {
        put_tag(out, n, wire_varint);
        put_varint(out, v);
      }
      return {};
    }
    case fd::TYPE_UINT64:
    case fd::TYPE_FIXED64: {
      uint64_t v = 0;
      if (!parse_number(text, v))
        return bad("a valid " + std::string{field->type_name()});
      if (field->type() == fd::TYPE_FIXED64) {
        put_tag(out, n, wire_fixed64);
        put_fixed64(out, v);
      } else {
        put_tag(out, n, wire_varint);
        put_varint(out, v);
      }
      return {};
    }
    case fd::TYPE_FLOAT: {
      float v = 0;
      if (!parse_number(text, v))
        return bad("a valid float");
      put_tag(out, n, wire_fixed32);
      put_fixed32(out, std::bit_cast<uint32_t>(v));
      return {};
    }
    case fd::TYPE_DOUBLE: {
      double v = 0;
      if (!parse_number(text, v))
        return bad("a valid double");
      put_tag(out, n, wire_fixed64);
      put_fixed64(out, std::bit_cast<uint64_t>(v));
      return {};
    }
    case fd::TYPE_ENUM: {
      int32_t v = 0;
      if (const auto* value = field->enum_type()->FindValueByName(std::string{text}); value != nullptr)
        v = value->number();
      else if (!parse_number(text, v))
        return bad("a value of enum " + field->enum_type()->full_name());
      put_tag(out, n, wire_varint);
      put_varint(out, static_cast<uint64_t>(static_cast<int64_t>(v)));
      return {};
    }
    default:
      return bad("a scalar");
  }
}

bool base64_decode(std::string_view text, std::string& out) {
  out.clear();
  size_t len = text.size();
  size_t padding = 0;
  while (len > 0 && text[len - 1] == '=' && padding < 2) {
    --len;
    ++padding;
  }
  if (len % 4 == 1 || (padding > 0 && (len + padding) % 4 != 0))
    return false;
  out.reserve(len * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < len; ++i) {
    int v = base64_value(text[i]);
    if (v < 0)
      return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return true;
}

scan_result scan_scalar(std::string_view bytes, int number, wire_type type, uint64_t& value) {
  return walk(bytes, [&](int n, uint32_t t, uint64_t v, std::string_view) {
    if (n != number)
      return true;
    if (t != type)
      return false;
    value = v;
    return true;
  });
}

scan_result scan_length_delimited(std::string_view bytes, int number, std::string& out) {
  out.clear();
  return walk(bytes, [&](int n, uint32_t t, uint64_t, std::string_view payload) {
    if (n != number)
      return true;
    if (t != wire_length)
      return false;
    out.append(payload);
    return true;
  });
}

bool integer_json(const fd* field, uint64_t value, std::string& out) {
  if (!wire_format::integer_text(field, value, out))
    return false;
  switch (field->type()) {
    case fd::TYPE_INT64:
    case fd::TYPE_SINT64:
    case fd::TYPE_SFIXED64:
    case fd::TYPE_UINT64:
    case fd::TYPE_FIXED64:
      out = '"' + out + '"';  // protobuf's JSON mapping prints 64-bit integers as strings
      break;
    default:
      break;
  }
  return true;
}

namespace {

bool json_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

size_t skip_space(std::string_view s, size_t i) {
  while (i < s.size() && json_space(s[i]))
    ++i;
  return i;
}

// Index just past the string starting at s[i] == '"', or npos.
size_t skip_string(std::string_view s, size_t i) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\')
      ++i;
    else if (s[i] == '"')
      return i + 1;
  }
  return std::string_view::npos;
}

// Index just past the value starting at s[i], or npos.
size_t skip_value(std::string_view s, size_t i) {
  if (i >= s.size())
    return std::string_view::npos;
  if (s[i] == '"')
    return skip_string(s, i);
  if (s[i] == '{' || s[i] == '[') {
    int depth = 0;
    while (i < s.size()) {
      char c = s[i];
      if (c == '"') {
        i = skip_string(s, i);
        if (i == std::string_view::npos)
          return i;
        continue;
      }
      if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (--depth == 0)
          return i + 1;
      }
      ++i;
    }
    return std::string_view::npos;
  }
  while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && !json_space(s[i]))
    ++i;
  return i;
}

}  // namespace

bool json_member(std::string_view object, std::string_view key, std::string_view& value) {
  constexpr auto npos = std::string_view::npos;
  size_t i = skip_space(object, 0);
  if (i >= object.size() || object[i] != '{')
    return false;
  i = skip_space(object, i + 1);
  while (i < object.size() && object[i] == '"') {
    size_t key_end = skip_string(object, i);
    if (key_end == npos)
      return false;
    auto name = object.substr(i + 1, key_end - i - 2);
    i = skip_space(object, key_end);
    if (i >= object.size() || object[i] != ':')
      return false;
    i = skip_space(object, i + 1);
    size_t end = skip_value(object, i);
    if (end == npos)
      return false;
    if (name == key) {
      value = object.substr(i, end - i);
      return true;
    }
    i = skip_space(object, end);
    if (i >= object.size() || object[i] != ',')
      return false;
    i = skip_space(object, i + 1);
  }
  return false;
}

bool is_json_content_type(std::string_view content_type) {
  auto media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && (media.front() == ' ' || media.front() == '\t'))
    media.remove_prefix(1);
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t'))
    media.remove_suffix(1);
  return iequals(media, "application/json");
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && json_space(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && json_space(text.back()))
    text.remove_suffix(1);
  return text;
}

}  // namespace actorstate::http::detail
