// The values a command is made of: a call addressed to an entity and its outcome. They carry serialized protobuf
// bytes rather than message objects, so that the runtime can hand them to another node (or a user function)
// unchanged. The runtime registers them with its actor system itself (`runtime/messages.hpp`); nothing here depends
// on the actor framework.
//
// Thread rules: plain values.
#pragma once

#include <string>
#include <vector>

#include "actorstate/status.hpp"

namespace actorstate {

/// One header of a call or reply (gRPC metadata; text values only).
struct metadata_entry {
  std::string key;
  std::string value;
};

/// One client call addressed to an entity: the entity type is implied by where it is sent.
struct command {
  std::string entity_id;
  std::string method;                    ///< Simple method name as in the service definition, e.g. "AddItem".
  std::string payload;                   ///< The serialized request message.
  std::vector<metadata_entry> metadata;  ///< The call's request headers (actions receive them).
};

/// The outcome of a command: a reply payload (status ok) or why it failed. [[nodiscard]]: an outcome nobody looks
/// at is a lost failure.
struct [[nodiscard]] command_result {
  actorstate::status status;             ///< ok, or the code and message the caller hears.
  std::string payload;                   ///< The serialized reply message when the status is ok.
  std::vector<metadata_entry> metadata;  ///< Headers for the client's response.

  bool ok() const { return status.ok(); }
  static command_result success(std::string payload) { return {{}, std::move(payload), {}}; }
  static command_result failure(actorstate::status why) { return {std::move(why), {}, {}}; }
  static command_result failure(status_code code, std::string message) {
    return {actorstate::status{code, std::move(message)}, {}, {}};
  }
};

}  // namespace actorstate
