// The byte-level helpers of the HTTP transcoder. Requests are built directly in the protobuf wire format: a JSON
// body becomes bytes through protobuf's own JSON converter, and every path or query parameter is appended as one
// more encoded field. Parsers merge repeated occurrences (the last scalar wins, sub-messages merge), so appending
// gives "path over query over body"; the transcoder then parses and serializes the result once to put the fields in
// protobuf's order. Replies are scanned the same way where a
// single scalar is rendered, and a compact JSON document is cut into its members for `response_body`.
//
// Thread rules: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "actorstate/status.hpp"
#include "wire_format.hpp"

namespace google::protobuf {
class FieldDescriptor;
}  // namespace google::protobuf

namespace actorstate::http::detail {

using wire_format::wire_fixed32;
using wire_format::wire_fixed64;
using wire_format::wire_length;
using wire_format::wire_type;
using wire_format::wire_varint;

void put_varint(std::string& out, uint64_t value);
void put_tag(std::string& out, int number, wire_type type);
void put_length_delimited(std::string& out, int number, std::string_view bytes);

/// Parses `text` as a value of the scalar `field` (an enum by name or number; bytes as base64, standard or URL-safe)
/// and appends it to `out` (the request being built) as one occurrence of the field. Returns invalid_argument saying
/// what is wrong with the text ("is not a valid int32"), `out` then holding no part of the field.
status encode_scalar(const google::protobuf::FieldDescriptor* field, std::string_view text, std::string& out);

/// Decodes standard or URL-safe base64, padding optional (a ' ' counts as '+', since query strings turn '+' into
/// ' '). False if `text` is not base64.
bool base64_decode(std::string_view text, std::string& out);

using wire_format::valid_utf8;

/// The outcome of looking for one top-level field in encoded message bytes.
enum class scan_result {
  ok,           ///< Well-formed; `value` holds the field's last occurrence (untouched if absent).
  malformed,    ///< Not a protobuf encoding.
  unsupported,  ///< Well-formed but not as expected (groups, another wire type): take the general path.
};

/// Finds the last occurrence of the scalar field `number` (varint, fixed32 or fixed64 encoded).
scan_result scan_scalar(std::string_view bytes, int number, wire_type type, uint64_t& value);

/// Concatenates the payloads of every occurrence of the length-delimited field `number`; for a singular message
/// field this is the merged sub-message.
scan_result scan_length_delimited(std::string_view bytes, int number, std::string& out);

/// The canonical JSON of an integer or bool field's wire `value` (64-bit integers as quoted strings, as protobuf's
/// JSON mapping prints them). False for other types.
bool integer_json(const google::protobuf::FieldDescriptor* field, uint64_t value, std::string& out);

/// The text of member `key` in a JSON object as printed by protobuf (compact, well-formed). False if absent.
bool json_member(std::string_view object, std::string_view key, std::string_view& value);

/// Whether `content_type` is application/json (any case, parameters such as "; charset=utf-8" allowed).
bool is_json_content_type(std::string_view content_type);

/// `text` without leading and trailing JSON whitespace.
std::string_view trim(std::string_view text);

}  // namespace actorstate::http::detail
