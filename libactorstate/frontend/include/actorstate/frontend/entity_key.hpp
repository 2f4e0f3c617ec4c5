// Entity keys: the request fields marked `(cloudstate.entity_key) = true` (option 1080) or the legacy option 50002
// select the entity instance. Several key fields are joined with "-" in field-number order; strings are used as
// they are, integers in decimal, bools as "true"/"false". Other field types are rejected when a service is loaded.
// Options are recognised both as parsed extensions (generated descriptors) and as unknown fields (descriptors
// built at run time from a FileDescriptorSet).
//
// Thread rules: key field lists are computed once per method when services load; the scan is a pure function of
// the request bytes and may run on any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "actorstate/status.hpp"

namespace google::protobuf {
class Descriptor;
class FieldDescriptor;
}  // namespace google::protobuf

namespace actorstate::frontend {

/// The key fields of `input`, sorted by number (none if it has none). Returns invalid_argument naming the field if a
/// key field has an unsupported type or is repeated.
result<std::vector<const google::protobuf::FieldDescriptor*>> key_fields(const google::protobuf::Descriptor* input);

/// Checks that `wire` is a well-formed encoding of `type` and extracts the entity id from it in one pass, without
/// building a message: tags, lengths and varints are checked at every depth (up to protobuf's 100 levels), nested
/// messages against their own types, proto3 strings for UTF-8, packed fields for whole elements; the key fields are
/// read from the top level (the last occurrence wins, absent fields read as their defaults, as in a parse) into
/// `key` (the command's entity id, filled in place). Returns invalid_argument ("request does not parse as <type>")
/// if the bytes would not parse. A gRPC call's request gets no other parse on its way in: the handler parses it
/// once more anyway (or the user function does).
status scan_request(const google::protobuf::Descriptor* type, std::string_view wire,
                    const std::vector<const google::protobuf::FieldDescriptor*>& key_fields, std::string& key);

}  // namespace actorstate::frontend
