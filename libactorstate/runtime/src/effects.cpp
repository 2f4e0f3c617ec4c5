#include "actorstate/runtime/effects.hpp"

#include <memory>

#include "actorstate/ops/log.hpp"

namespace actorstate::runtime {

namespace {

/// A transport or routing failure, as opposed to the target's own answer (a user failure is an answer).
bool undeliverable(const command_result& r) {
  switch (r.status.code()) {
    case status_code::unimplemented:
    case status_code::unavailable:
    case status_code::deadline_exceeded:
    case status_code::invalid_argument:
      return true;
    default:
      return false;
  }
}

struct run {
  post_fn post;
  route_fn route;
  reply_plan plan;
  std::function<void(command_result)> done;
  effect_error_fn on_error;
  size_t next = 0;

  void step(const std::shared_ptr<run>& me) {
    while (next < plan.side_effects.size()) {
      auto& effect = plan.side_effects[next++];
      if (!effect.synchronous)
        continue;
      route(effect.service_name, effect.method, effect.payload.payload, [me, effect](command_result r) {
        me->post([me, effect, r = std::move(r)] {
          if (undeliverable(r)) {
            me->on_error(effect, r, "side effect of");
            me->finish(command_result::failure(r.status.code(), "synchronous side effect " + effect.service_name + "/" +
                                                                    effect.method + " failed: " + r.status.message()));
            return;
          }
          me->step(me);
        });
      });
      return;
    }
    if (!plan.forward) {
      finish(std::move(plan.result));
      return;
    }
    auto forward = *plan.forward;
    route(forward.service_name, forward.method, forward.payload.payload, [me, forward](command_result r) {
      me->post([me, forward, r = std::move(r)]() mutable {
        if (undeliverable(r))
          me->on_error(forward, r, "forwarded from");
        me->finish(std::move(r));
      });
    });
  }

  void finish(command_result r) {
    done(std::move(r));
    for (auto& effect : plan.side_effects)
      if (!effect.synchronous)
        route(effect.service_name, effect.method, effect.payload.payload, [](command_result) {});
  }
};

}  // namespace

reply_plan plan_of(detail::handler_output& out, bool keep_effects_on_failure) {
  reply_plan plan;
  if (out.status.ok()) {
    plan.result = command_result::success(std::move(out.reply));
    plan.result.metadata = std::move(out.metadata);
    plan.forward = std::move(out.forward);
    plan.side_effects = std::move(out.side_effects);
  } else {
    plan.result = command_result::failure(std::move(out.status));
    if (keep_effects_on_failure)
      plan.side_effects = std::move(out.side_effects);
  }
  return plan;
}

void execute(post_fn post, const route_fn& route, reply_plan plan, std::function<void(command_result)> done,
             effect_error_fn on_error) {
  if (!plan.has_calls() || !route) {
    if (plan.has_calls() && !route) {
      done(command_result::failure(status_code::unimplemented, "forwards and side effects are not available here"));
      return;
    }
    done(std::move(plan.result));
    return;
  }
  auto r = std::make_shared<run>(run{std::move(post), route, std::move(plan), std::move(done), std::move(on_error)});
  r->step(r);
}

effect_error_fn action_effect_errors(std::shared_ptr<const detail::action_model> model) {
  return [model = std::move(model)](const detail::effect_call& call, const command_result& error, const char* role) {
    log::warn("forward or side effect of an action failed",
              {{"target", call.service_name + "/" + call.method}, {"role", role}, {"error", error.status.message()}});
    if (model->report_error)
      model->report_error(error.status.message() + " (" + role + " " + model->service_name + ", calling " +
                          call.service_name + "/" + call.method + ")");
  };
}

}  // namespace actorstate::runtime
