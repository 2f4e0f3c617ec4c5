// Protocol messages as a proxy builds them, and exact comparison, for both TCK suites (model and proxy). Stateless
// functions; `check_equal` reports through doctest, so call it from a test.
#pragma once

#include <cstdint>
#include <string>

#include <google/protobuf/any.pb.h>
#include <google/protobuf/message.h>

#include "cloudstate/entity.pb.h"

namespace tck {

/// Any with the type URL a proxy uses: "type.googleapis.com/<full name>".
google::protobuf::Any pack(const google::protobuf::Message& msg);

cloudstate::Command command(int64_t id, const std::string& entity_id, const std::string& name,
                            const google::protobuf::Message& payload);

cloudstate::SideEffect side_effect(const std::string& service, const std::string& command,
                                   const google::protobuf::Message& payload, bool synchronous);

/// Fails the current test, showing both messages, unless `actual` equals `expected` exactly: the same fields, and the
/// same bytes once serialized (payload bytes in field order, as the TCK compares them).
void check_equal(const google::protobuf::Message& actual, const google::protobuf::Message& expected);

}  // namespace tck
