#include "actorstate/persistence/store.hpp"

namespace actorstate::persistence {

const char* to_string(code c) {
  switch (c) {
    case code::ok:
      return "ok";
    case code::conflict:
      return "conflict";
    case code::unavailable:
      return "unavailable";
    case code::unknown_outcome:
      return "unknown_outcome";
    case code::corrupt:
      return "corrupt";
    case code::invalid_argument:
      return "invalid_argument";
  }
  return "invalid_code";
}

std::string status::to_string() const {
  std::string out = persistence::to_string(code_);
  if (!message_.empty()) {
    out += ": ";
    out += message_;
  }
  return out;
}

}  // namespace actorstate::persistence
