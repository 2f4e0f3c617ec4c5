// Reading the protobuf wire format without building messages: the one reader behind the request scan that finds an
// entity key (frontend/entity_key.hpp) and the HTTP transcoder's byte-level helpers (http/wire.hpp). It accepts
// exactly what protobuf's own parser accepts where the two could differ (a tag's bits past 32, a tenth varint
// byte's bits past 64), so a scan never refuses bytes a handler would parse.
//
// Thread rules: a reader is a cursor over bytes its caller keeps alive; the functions are pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace google::protobuf {
class FieldDescriptor;
}  // namespace google::protobuf

namespace actorstate::wire_format {

enum wire_type : uint32_t {
  wire_varint = 0,
  wire_fixed64 = 1,
  wire_length = 2,
  wire_start_group = 3,
  wire_end_group = 4,
  wire_fixed32 = 5,
};

class reader {
public:
  explicit reader(std::string_view bytes)
      : p_(reinterpret_cast<const uint8_t*>(bytes.data())), end_(p_ + bytes.size()) {}

  bool at_end() const noexcept { return p_ == end_; }
  size_t left() const noexcept { return static_cast<size_t>(end_ - p_); }

  /// A varint of at most ten bytes; a tenth byte's bits past the 64th are dropped, as protobuf's parser does.
  bool varint(uint64_t& out) {
    out = 0;
    for (int i = 0; i < 10; ++i) {
      if (p_ == end_)
        return false;
      uint8_t b = *p_++;
      out |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
      if ((b & 0x80) == 0)
        return true;
    }
    return false;
  }

  /// A field tag: a varint of at most five bytes whose bits past the 32nd are dropped. False for field number 0.
  bool tag(uint32_t& number, uint32_t& type) {
    const auto* start = p_;
    uint64_t t = 0;
    if (!varint(t) || p_ - start > 5)
      return false;
    t &= 0xffffffffu;
    number = static_cast<uint32_t>(t >> 3);
    type = static_cast<uint32_t>(t & 7);
    return number != 0;
  }

  bool fixed(int size, uint64_t& out) {
    if (end_ - p_ < size)
      return false;
    out = 0;
    for (int i = 0; i < size; ++i)
      out |= static_cast<uint64_t>(p_[i]) << (8 * i);
    p_ += size;
    return true;
  }

  /// A length-delimited payload.
  bool bytes(std::string_view& out) {
    uint64_t len = 0;
    if (!varint(len) || len > left())
      return false;
    out = {reinterpret_cast<const char*>(p_), static_cast<size_t>(len)};
    p_ += len;
    return true;
  }

private:
  const uint8_t* p_;
  const uint8_t* end_;
};

/// Whether `text` is UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool valid_utf8(std::string_view text);

/// The wire type a field of `field`'s type is written with when not packed.
wire_type wire_type_of(const google::protobuf::FieldDescriptor* field);

/// The decimal text of an integer field's wire `value` (sign and zigzag as its type says), or "true"/"false" for a
/// bool. False for other types.
bool integer_text(const google::protobuf::FieldDescriptor* field, uint64_t value, std::string& out);

}  // namespace actorstate::wire_format
