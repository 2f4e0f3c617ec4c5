#include "actorstate/runtime/messages.hpp"

#include <caf/all.hpp>

namespace actorstate {

command_result to_command_result(const caf::error& err) {
  if (err == caf::sec::request_timeout)
    return command_result::failure(status_code::deadline_exceeded, "the entity did not answer in time");
  return command_result::failure(status_code::unavailable, "entity unavailable: " + caf::to_string(err));
}

}  // namespace actorstate
