// Status codes of command results. They are gRPC's codes, so the frontend maps them one to one and HTTP mapping
// (later) follows the gRPC-HTTP table. Plain value types; safe to share between threads.
#pragma once

#include <cstdint>
#include <string_view>

namespace actorstate {

enum class status_code : int32_t {
  ok = 0,
  cancelled = 1,
  unknown = 2,  ///< A user failure: the entity rejected the command; the message is the user's description.
  invalid_argument = 3,
  deadline_exceeded = 4,
  not_found = 5,
  already_exists = 6,
  permission_denied = 7,
  resource_exhausted = 8,
  failed_precondition = 9,
  aborted = 10,
  out_of_range = 11,
  unimplemented = 12,
  internal = 13,
  unavailable = 14,
  data_loss = 15,
  unauthenticated = 16,
};

std::string_view to_string(status_code code);

}  // namespace actorstate
