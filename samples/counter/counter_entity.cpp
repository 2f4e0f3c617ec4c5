#include "counter_entity.hpp"

namespace counter {

namespace c = actorstate::samples::counter;

actorstate::value_entity<c::Value> make_entity() {
  actorstate::value_entity<c::Value> entity{"actorstate.samples.counter.Counter", "counter"};
  entity
      .on_command<c::AddRequest, c::Value>(
          "Add",
          [](const c::Value& state, const c::AddRequest& cmd, actorstate::value_context& ctx) {
            c::Value next;
            next.set_value(state.value() + cmd.delta());
            ctx.update_state(next);
            return next;
          })
      .on_command<c::GetRequest, c::Value>(
          "Get", [](const c::Value& state, const c::GetRequest&, actorstate::value_context&) { return state; });
  return entity;
}

}  // namespace counter
