// Spawning entity actors of each kind; the region calls these when a command arrives for an inactive entity.
#pragma once

#include <memory>
#include <string>

#include <caf/fwd.hpp>

#include "actorstate/runtime/entity_actor.hpp"

namespace actorstate::runtime {

/// Spawns the actor for one instance of `env.model` (event-sourced or value); linked to nothing, monitored by
/// the caller.
caf::actor spawn_entity(caf::local_actor* parent, std::shared_ptr<const entity_env> env, const std::string& id);

/// Runs one action call and answers it (actions are stateless, so any worker may run any call).
detail::handler_output run_action(const detail::action_model& model, const command& cmd);

}  // namespace actorstate::runtime
