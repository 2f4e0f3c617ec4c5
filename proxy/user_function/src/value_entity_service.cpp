// One reactor per `ValueEntity/handle` stream. The proxy loads the stored value and sends it at init (the state
// message is always there; an unset value means nothing is stored); each reply says whether to update or delete
// the stored value, and the local copy follows it so the next command sees what the proxy will have stored. A reply
// carries the handler's reply or its forward, with its side effects; a failure carries no state action and no side
// effects.
#include <google/protobuf/message.h>

#include "actorstate/entity.hpp"
#include "actorstate/ops/log.hpp"
#include "services.hpp"
#include "stream_support.hpp"

namespace actorstate::uf {

namespace {

namespace ve = cloudstate::valueentity;

class value_entity_stream final : public serial_stream<ve::ValueEntityStreamIn, ve::ValueEntityStreamOut> {
public:
  explicit value_entity_stream(const registry& reg) : reg_(reg) { next(); }

private:
  void on_message() override {
    switch (in_.message_case()) {
      case ve::ValueEntityStreamIn::kInit:
        on_init(in_.init());
        return;
      case ve::ValueEntityStreamIn::kCommand:
        on_command(in_.command());
        return;
      case ve::ValueEntityStreamIn::MESSAGE_NOT_SET:
        break;
    }
    protocol_failure("empty ValueEntityStreamIn message");
  }

  void on_init(const ve::ValueEntityInit& init) {
    if (model_ != nullptr) {
      protocol_failure("init received twice on one stream");
      return;
    }
    auto i = reg_.values.find(init.service_name());
    if (i == reg_.values.end()) {
      protocol_failure("unknown value entity type " + init.service_name());
      return;
    }
    model_ = i->second;
    entity_id_ = init.entity_id();
    if (init.state().has_value()) {
      auto state = parse_state(init.state().value());
      if (!state.ok()) {
        protocol_failure("stored value of " + entity_id_ + ": " + state.error().message());
        return;
      }
      state_ = std::move(state).value();
    }
    log::debug("value entity activated",
               {{"service", init.service_name()}, {"entity_id", entity_id_}, {"has_state", state_ ? "true" : "false"}});
    next();
  }

  void on_command(const cloudstate::Command& cmd) {
    if (model_ == nullptr) {
      protocol_failure("expected init as the first message, got a command");
      return;
    }
    out_.Clear();
    auto* reply = out_.mutable_reply();
    reply->set_command_id(cmd.id());
    detail::handler_output result;
    const auto& entity_id = cmd.entity_id().empty() ? entity_id_ : cmd.entity_id();
    auto ran =
        run_guarded([&] { result = model_->handle(state_.get(), entity_id, cmd.name(), cmd.payload().value()); });
    if (!ran.ok()) {
      // As for event-sourced entities, ask for a restart; the local state is untouched, so nothing is lost if the
      // proxy (which has no restart for value entities) keeps the stream.
      log::error("value entity command handler threw", {{"service", model_->service_name},
                                                        {"entity_id", entity_id_},
                                                        {"command", cmd.name()},
                                                        {"error", ran.message()}});
      client_failure(*reply, cmd, "command handler threw: " + ran.message(), true);
      return;
    }
    if (!result.status.ok()) {
      client_failure(*reply, cmd, result.status.message());
      return;
    }
    if (result.delete_value) {
      reply->mutable_state_action()->mutable_delete_();
      state_.reset();
    } else if (result.new_value) {
      auto next_state = parse_state(*result.new_value);
      if (!next_state.ok()) {
        client_failure(*reply, cmd, "new state: " + next_state.error().message());
        return;
      }
      state_ = std::move(next_state).value();
      set_any(*reply->mutable_state_action()->mutable_update()->mutable_value(), std::move(result.new_value->type),
              std::move(result.new_value->payload));
    }
    if (result.forward) {
      set_forward(*reply->mutable_client_action()->mutable_forward(), std::move(*result.forward));
    } else {
      const auto* output = output_type(*model_, cmd.name());
      set_any(*reply->mutable_client_action()->mutable_reply()->mutable_payload(),
              output != nullptr ? type_url(output) : std::string{}, std::move(result.reply));
    }
    add_side_effects(*reply->mutable_side_effects(), result.side_effects);
    send();
  }

  // The state type is fixed by the model; a value of another type is never stored or accepted.
  result<std::unique_ptr<google::protobuf::Message>> parse_state(const google::protobuf::Any& any) {
    return parse_state(detail::any_bytes{any.type_url(), any.value()});
  }

  result<std::unique_ptr<google::protobuf::Message>> parse_state(const detail::any_bytes& value) {
    auto state = model_->make_state();
    auto expected = type_url(state->GetDescriptor());
    if (value.type != expected)
      return status{status_code::invalid_argument, "value has type " + value.type + ", expected " + expected};
    if (!state->ParseFromString(value.payload))
      return status{status_code::invalid_argument, "value does not parse as " + state->GetTypeName()};
    return state;
  }

  void client_failure(ve::ValueEntityReply& reply, const cloudstate::Command& cmd, std::string description,
                      bool restart = false) {
    reply.clear_state_action();
    reply.clear_client_action();
    reply.clear_side_effects();
    auto* failure = reply.mutable_client_action()->mutable_failure();
    failure->set_command_id(cmd.id());
    failure->set_description(std::move(description));
    failure->set_restart(restart);
    send();
  }

  void protocol_failure(std::string description) {
    log::warn("value entity stream failed", {{"service", model_ != nullptr ? model_->service_name : std::string{}},
                                             {"entity_id", entity_id_},
                                             {"error", description}});
    out_.Clear();
    auto* failure = out_.mutable_failure();
    failure->set_command_id(0);
    failure->set_description(std::move(description));
    send_and_finish();
  }

  const registry& reg_;
  std::shared_ptr<const detail::value_model> model_;
  std::string entity_id_;
  std::unique_ptr<google::protobuf::Message> state_;
};

}  // namespace

grpc::ServerBidiReactor<ve::ValueEntityStreamIn, ve::ValueEntityStreamOut>* value_entity_service::handle(
    grpc::CallbackServerContext*) {
  return new value_entity_stream(reg_);
}

}  // namespace actorstate::uf
