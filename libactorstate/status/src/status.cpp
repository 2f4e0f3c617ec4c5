#include "actorstate/status.hpp"

namespace actorstate {

std::string_view to_string(status_code code) {
  switch (code) {
    case status_code::ok:
      return "OK";
    case status_code::cancelled:
      return "CANCELLED";
    case status_code::unknown:
      return "UNKNOWN";
    case status_code::invalid_argument:
      return "INVALID_ARGUMENT";
    case status_code::deadline_exceeded:
      return "DEADLINE_EXCEEDED";
    case status_code::not_found:
      return "NOT_FOUND";
    case status_code::already_exists:
      return "ALREADY_EXISTS";
    case status_code::permission_denied:
      return "PERMISSION_DENIED";
    case status_code::resource_exhausted:
      return "RESOURCE_EXHAUSTED";
    case status_code::failed_precondition:
      return "FAILED_PRECONDITION";
    case status_code::aborted:
      return "ABORTED";
    case status_code::out_of_range:
      return "OUT_OF_RANGE";
    case status_code::unimplemented:
      return "UNIMPLEMENTED";
    case status_code::internal:
      return "INTERNAL";
    case status_code::unavailable:
      return "UNAVAILABLE";
    case status_code::data_loss:
      return "DATA_LOSS";
    case status_code::unauthenticated:
      return "UNAUTHENTICATED";
    case status_code::conflict:
      return "CONFLICT";
    case status_code::unknown_outcome:
      return "UNKNOWN_OUTCOME";
  }
  return "UNKNOWN";
}

status_code client_code(status_code code) {
  switch (code) {
    case status_code::conflict:
    case status_code::unknown_outcome:
      return status_code::unavailable;
    default:
      // A value outside the enumerators (a cast from a peer's number) is no code a client understands either.
      return static_cast<int32_t>(code) >= 0 && static_cast<int32_t>(code) <= 16 ? code : status_code::unknown;
  }
}

std::string status::to_string() const {
  std::string out{actorstate::to_string(code_)};
  if (!message_.empty()) {
    out += ": ";
    out += message_;
  }
  return out;
}

}  // namespace actorstate
