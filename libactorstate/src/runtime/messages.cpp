#include "actorstate/messages.hpp"

#include <caf/all.hpp>

#include "actorstate/detail/model.hpp"

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
  }
  return "UNKNOWN";
}

command_result to_command_result(const caf::error& err) {
  if (err == caf::sec::request_timeout)
    return command_result::failure(status_code::deadline_exceeded, "the entity did not answer in time");
  return command_result::failure(status_code::unavailable, "entity unavailable: " + caf::to_string(err));
}

namespace detail {

std::string_view to_string(entity_kind kind) {
  switch (kind) {
    case entity_kind::event_sourced:
      return "event-sourced";
    case entity_kind::value:
      return "value";
    case entity_kind::action:
      return "action";
  }
  return "unknown";
}

}  // namespace detail

}  // namespace actorstate
