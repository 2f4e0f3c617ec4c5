#include "actorstate/runtime/messages.hpp"

#include <google/protobuf/descriptor.h>
#include <caf/all.hpp>

#include "actorstate/detail/model.hpp"
#include "actorstate/ops/log.hpp"

namespace actorstate {

std::string_view to_string(status_code code) {
  switch (code) {
    case status_code::ok:
      return "OK";
    case status_code::cancelled:
      return "CANCELLED";
    case status_code::unknown:
      return "UNKNOWN";
    case status_code::invalid_argument:
      return "INVALID_ARGUMENT";
    case status_code::deadline_exceeded:
      return "DEADLINE_EXCEEDED";
    case status_code::not_found:
      return "NOT_FOUND";
    case status_code::already_exists:
      return "ALREADY_EXISTS";
    case status_code::permission_denied:
      return "PERMISSION_DENIED";
    case status_code::resource_exhausted:
      return "RESOURCE_EXHAUSTED";
    case status_code::failed_precondition:
      return "FAILED_PRECONDITION";
    case status_code::aborted:
      return "ABORTED";
    case status_code::out_of_range:
      return "OUT_OF_RANGE";
    case status_code::unimplemented:
      return "UNIMPLEMENTED";
    case status_code::internal:
      return "INTERNAL";
    case status_code::unavailable:
      return "UNAVAILABLE";
    case status_code::data_loss:
      return "DATA_LOSS";
    case status_code::unauthenticated:
      return "UNAUTHENTICATED";
  }
  return "UNKNOWN";
}

command_result to_command_result(const caf::error& err) {
  if (err == caf::sec::request_timeout)
    return command_result::failure(status_code::deadline_exceeded, "the entity did not answer in time");
  return command_result::failure(status_code::unavailable, "entity unavailable: " + caf::to_string(err));
}

namespace detail {

std::string_view to_string(entity_kind kind) {
  switch (kind) {
    case entity_kind::event_sourced:
      return "event-sourced";
    case entity_kind::value:
      return "value";
    case entity_kind::action:
      return "action";
  }
  return "unknown";
}

bool check_handlers(const model_base& model, std::string& error) {
  for (const auto& [name, sig] : model.methods) {
    const auto* method = model.service->FindMethodByName(name);
    if (method == nullptr) {
      error = "service " + model.service_name + " has no method " + name;
      return false;
    }
    if (method->input_type() != sig.input || method->output_type() != sig.output) {
      error = "method " + method->full_name() + " takes " + method->input_type()->full_name() + " and returns " +
              method->output_type()->full_name() + ", but its handler was registered for " + sig.input->full_name() +
              " -> " + sig.output->full_name();
      return false;
    }
    bool streams = method->client_streaming() || method->server_streaming();
    if (streams != sig.streamed) {
      error = "method " + method->full_name() +
              (streams ? " streams, but its handler was registered for unary calls"
                       : " is unary, but its handler was registered for streams");
      return false;
    }
  }
  for (int i = 0; i < model.service->method_count(); ++i) {
    const auto* method = model.service->method(i);
    if (!model.methods.count(method->name()))
      log::warn("method has no handler; calls will fail with UNIMPLEMENTED", {{"method", method->full_name()}});
  }
  return true;
}

}  // namespace detail

}  // namespace actorstate
