#include "actorstate/detail/model.hpp"

#include <google/protobuf/descriptor.h>

#include "actorstate/ops/log.hpp"

namespace actorstate::detail {

std::string_view to_string(entity_kind kind) {
  switch (kind) {
    case entity_kind::event_sourced:
      return "event-sourced";
    case entity_kind::value:
      return "value";
    case entity_kind::crdt:
      return "crdt";
    case entity_kind::action:
      return "action";
  }
  return "unknown";
}

status check_model(model_base& model, bool service_taken) {
  if (model.service == nullptr)
    model.service = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(model.service_name);
  if (model.service == nullptr)
    return {status_code::invalid_argument,
            "service " + model.service_name + " is not among the linked protobuf descriptors"};
  if (model.kind != entity_kind::action && model.persistence_id.empty())
    return {status_code::invalid_argument, "entity type " + model.service_name + " needs a persistence id"};
  if (service_taken)
    return {status_code::already_exists, "service " + model.service_name + " is registered twice"};
  return check_handlers(model);
}

status check_handlers(const model_base& model) {
  for (const auto& [name, sig] : model.methods) {
    const auto* method = model.service->FindMethodByName(name);
    if (method == nullptr)
      return {status_code::invalid_argument, "service " + model.service_name + " has no method " + name};
    if (method->input_type() != sig.input || method->output_type() != sig.output)
      return {status_code::invalid_argument,
              "method " + method->full_name() + " takes " + method->input_type()->full_name() + " and returns " +
                  method->output_type()->full_name() + ", but its handler was registered for " +
                  sig.input->full_name() + " -> " + sig.output->full_name()};
    bool streams = method->client_streaming() || method->server_streaming();
    if (streams != sig.streamed)
      return {status_code::invalid_argument, "method " + method->full_name() +
                                                 (streams ? " streams, but its handler was registered for unary calls"
                                                          : " is unary, but its handler was registered for streams")};
  }
  for (int i = 0; i < model.service->method_count(); ++i) {
    const auto* method = model.service->method(i);
    if (!model.methods.count(method->name()))
      log::warn("method has no handler; calls will fail with UNIMPLEMENTED", {{"method", method->full_name()}});
  }
  return {};
}

}  // namespace actorstate::detail
