#include "actorstate/crdt/protocol_actions.hpp"

namespace actorstate::crdt {

::actorstate::detail::effect_call effect_of(const cloudstate::Forward& forward) {
  return {
      forward.service_name(), forward.command_name(), {forward.payload().type_url(), forward.payload().value()}, false};
}

::actorstate::detail::effect_call effect_of(const cloudstate::SideEffect& effect) {
  return {effect.service_name(),
          effect.command_name(),
          {effect.payload().type_url(), effect.payload().value()},
          effect.synchronous()};
}

std::vector<metadata_entry> metadata_of(const cloudstate::Metadata& m) {
  std::vector<metadata_entry> out;
  for (const auto& e : m.entries())
    if (e.has_string_value())
      out.push_back({e.key(), e.string_value()});
  return out;
}

runtime::reply_plan plan_of(const cloudstate::ClientAction& action,
                            const google::protobuf::RepeatedPtrField<cloudstate::SideEffect>& side_effects) {
  runtime::reply_plan plan;
  if (action.has_forward()) {
    plan.forward = effect_of(action.forward());
  } else if (action.has_reply()) {
    plan.result = command_result::success(action.reply().payload().value());
    plan.result.metadata = metadata_of(action.reply().metadata());
  } else if (action.has_failure()) {
    plan.result = command_result::failure(status_code::unknown, action.failure().description());
  } else {
    plan.result = command_result::success({});
  }
  for (const auto& effect : side_effects)
    plan.side_effects.push_back(effect_of(effect));
  return plan;
}

}  // namespace actorstate::crdt
