// Idempotency keys of commands (store.hpp, "Idempotency keys"): where a command's key is found, and the stored form of
// the reply a retry gets. The stored form is private to the runtime (the store keeps it as opaque bytes) and carries a
// version byte, so a later release can read what an earlier one stored.
//
// Thread rules: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "actorstate/messages.hpp"
#include "actorstate/runtime/effects.hpp"

namespace actorstate::runtime::idempotency {

/// The metadata entry that carries a command's key (HTTP header and gRPC metadata `idempotency-key`).
inline constexpr std::string_view header = "idempotency-key";

/// The command's idempotency key (the first such entry, its name compared without case), or empty if it has none.
std::string_view key_of(const command& cmd);

/// The stored form of what a retry is answered: the plan's result and its forward; side effects are left out (they ran
/// with the command and are not made again).
std::string encode(const reply_plan& plan);

/// The plan a stored form describes, or nullopt if the bytes are not one (damaged, or written by a newer release).
std::optional<reply_plan> decode(std::string_view stored);

}  // namespace actorstate::runtime::idempotency
