// Forwards and side effects: what a handler asked the runtime to call on its behalf once its writes are durable.
// Order, as the Cloudstate protocol defines it: synchronous side effects one after another, then the client action
// (the reply, or the forward whose result becomes the reply), then the asynchronous side effects, fire and forget.
// Replies of side effects are discarded, but a synchronous side effect that cannot be routed or delivered (unknown
// target, unavailable, timeout) fails the command. Every call goes through `route`, the same path a client's call
// takes, so the target may be any served entity or action.
//
// `execute` runs in its caller's context and returns there through `post` (an actor posts to itself, so its state
// needs no locks; a stream's serial queue runs continuations inline); `done` and `on_error` run there too.
//
// Thread rules: `execute` and its callbacks run in the caller's context (see above); the route may be called from
// any thread.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actorstate/detail/model.hpp"
#include "actorstate/messages.hpp"

namespace actorstate::runtime {

/// Routes one call like a client's ("pkg.Service", "Method", request bytes); `done` may run on any thread.
using route_fn = detail::call_router;

/// What a command's client receives, and the calls to make around it.
struct reply_plan {
  command_result result;
  std::optional<detail::effect_call> forward;
  std::vector<detail::effect_call> side_effects;

  bool has_calls() const { return forward.has_value() || !side_effects.empty(); }
};

/// Builds the plan of a handler's output (a failure keeps side effects only if `keep_effects_on_failure`).
reply_plan plan_of(detail::handler_output& out, bool keep_effects_on_failure);

/// Called when a forward or side effect could not be routed or failed in transport; `role` is "forwarded from" or
/// "side effect of".
using effect_error_fn =
    std::function<void(const detail::effect_call& call, const command_result& error, const char* role)>;

/// Gets back into the caller's context: runs the closure there (possibly later, on another thread).
using post_fn = std::function<void(std::function<void()>)>;

void execute(post_fn post, const route_fn& route, reply_plan plan, std::function<void(command_result)> done,
             effect_error_fn on_error);

/// How an action reports a forward or side effect it could not deliver: a log line, and the model's
/// `report_error` (a user function hears of it).
effect_error_fn action_effect_errors(std::shared_ptr<const detail::action_model> model);

}  // namespace actorstate::runtime
