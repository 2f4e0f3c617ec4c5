// One reactor per `EventSourced/handle` stream, i.e. per entity instance the proxy activated. Recovery comes from
// the proxy (init with an optional snapshot, then the journal's events); afterwards the entity applies its own
// events as it emits them, because the proxy never replays them on a live stream. A reply carries either the
// handler's reply or its forward, with its side effects; a user failure carries neither events nor side effects
// (Cloudstate: failures do not allow side effects), so the local state stays as it was. Protocol violations end the
// stream with a stream-level `failure`; a handler or event handler that throws, or an emitted event that cannot
// be applied, leaves the local state untrustworthy, so its command fails with `restart = true`, which makes the
// proxy re-create the entity from the journal.
#include <google/protobuf/message.h>

#include "actorstate/entity.hpp"
#include "actorstate/ops/log.hpp"
#include "services.hpp"
#include "stream_support.hpp"

namespace actorstate::uf {

namespace {

namespace es = cloudstate::eventsourced;

class event_sourced_stream final : public serial_stream<es::EventSourcedStreamIn, es::EventSourcedStreamOut> {
public:
  explicit event_sourced_stream(const registry& reg) : reg_(reg) { next(); }

private:
  void on_message() override {
    switch (in_.message_case()) {
      case es::EventSourcedStreamIn::kInit:
        on_init(in_.init());
        return;
      case es::EventSourcedStreamIn::kEvent:
        on_event(in_.event());
        return;
      case es::EventSourcedStreamIn::kCommand:
        on_command(in_.command());
        return;
      case es::EventSourcedStreamIn::MESSAGE_NOT_SET:
        break;
    }
    protocol_failure(0, "empty EventSourcedStreamIn message");
  }

  void on_init(const es::EventSourcedInit& init) {
    if (model_ != nullptr) {
      protocol_failure(0, "init received twice on one stream");
      return;
    }
    auto i = reg_.event_sourced.find(init.service_name());
    if (i == reg_.event_sourced.end()) {
      protocol_failure(0, "unknown event-sourced entity type " + init.service_name());
      return;
    }
    model_ = i->second;
    entity_id_ = init.entity_id();
    state_ = model_->make_state();
    if (init.has_snapshot()) {
      const auto& snap = init.snapshot();
      const auto& any = snap.snapshot();
      auto expected = type_url(state_->GetDescriptor());
      if (any.type_url() != expected) {
        protocol_failure(0, "snapshot of " + entity_id_ + " has type " + any.type_url() + ", expected " + expected);
        return;
      }
      if (!state_->ParseFromString(any.value())) {
        protocol_failure(0, "snapshot of " + entity_id_ + " does not parse as " + state_->GetTypeName());
        return;
      }
      sequence_ = snap.snapshot_sequence();
    }
    log::debug("event-sourced entity activated", {{"service", init.service_name()},
                                                  {"entity_id", entity_id_},
                                                  {"snapshot_sequence", std::to_string(sequence_)}});
    next();
  }

  void on_event(const es::EventSourcedEvent& event) {
    if (model_ == nullptr) {
      protocol_failure(0, "expected init as the first message, got an event");
      return;
    }
    if (auto applied = apply(detail::any_bytes{event.payload().type_url(), event.payload().value()}); !applied.ok()) {
      protocol_failure(
          0, "cannot apply event " + std::to_string(event.sequence()) + " of " + entity_id_ + ": " + applied.message());
      return;
    }
    sequence_ = event.sequence();
    next();
  }

  void on_command(const cloudstate::Command& cmd) {
    if (model_ == nullptr) {
      protocol_failure(0, "expected init as the first message, got a command");
      return;
    }
    out_.Clear();
    auto* reply = out_.mutable_reply();
    reply->set_command_id(cmd.id());
    if (broken_) {
      restart_failure(*reply, cmd, "entity state is inconsistent after an earlier failure; awaiting restart");
      return;
    }
    detail::handler_output result;
    const auto& entity_id = cmd.entity_id().empty() ? entity_id_ : cmd.entity_id();
    auto ran = run_guarded([&] { result = model_->handle(*state_, entity_id, cmd.name(), cmd.payload().value()); });
    if (!ran.ok()) {
      restart_failure(*reply, cmd, "command handler threw: " + ran.message());
      return;
    }
    if (!result.status.ok()) {
      // A user failure (unknown) or a bad request/unknown method: either way nothing is emitted or called.
      auto* failure = reply->mutable_client_action()->mutable_failure();
      failure->set_command_id(cmd.id());
      failure->set_description(result.status.message());
      send();
      return;
    }
    auto before = sequence_;
    for (auto& ev : result.events) {
      if (auto applied = apply(ev); !applied.ok()) {
        restart_failure(*reply, cmd, "cannot apply emitted event " + ev.type + ": " + applied.message());
        return;
      }
      set_any(*reply->add_events(), std::move(ev.type), std::move(ev.payload));
    }
    sequence_ += static_cast<int64_t>(result.events.size());
    if (result.forward) {
      set_forward(*reply->mutable_client_action()->mutable_forward(), std::move(*result.forward));
    } else {
      const auto* output = output_type(*model_, cmd.name());
      set_any(*reply->mutable_client_action()->mutable_reply()->mutable_payload(),
              output != nullptr ? type_url(output) : std::string{}, std::move(result.reply));
    }
    add_side_effects(*reply->mutable_side_effects(), result.side_effects);
    auto every = model_->snapshot_every;
    if (every > 0 && sequence_ / every > before / every)
      set_any(*reply->mutable_snapshot(), type_url(state_->GetDescriptor()), state_->SerializeAsString());
    send();
  }

  /// Applies one event; an event handler that throws fails like an event that cannot be applied (`internal`).
  status apply(const detail::any_bytes& event) {
    status applied;
    if (auto ran = run_guarded([&] { applied = model_->apply(*state_, event); }); !ran.ok())
      return {status_code::internal, "event handler threw: " + ran.message()};
    return applied;
  }

  // The reply carries no events: the proxy persists nothing, closes this stream and recovers the entity anew.
  void restart_failure(es::EventSourcedReply& reply, const cloudstate::Command& cmd, std::string description) {
    broken_ = true;
    log::error("event-sourced command failed; asking the proxy to restart the entity",
               {{"service", model_->service_name},
                {"entity_id", entity_id_},
                {"command", cmd.name()},
                {"error", description}});
    reply.clear_events();
    reply.clear_snapshot();
    reply.clear_side_effects();
    auto* failure = reply.mutable_client_action()->mutable_failure();
    failure->set_command_id(cmd.id());
    failure->set_description(std::move(description));
    failure->set_restart(true);
    send();
  }

  void protocol_failure(int64_t command_id, std::string description) {
    log::warn("event-sourced stream failed", {{"service", model_ != nullptr ? model_->service_name : std::string{}},
                                              {"entity_id", entity_id_},
                                              {"error", description}});
    out_.Clear();
    auto* failure = out_.mutable_failure();
    failure->set_command_id(command_id);
    failure->set_description(std::move(description));
    send_and_finish();
  }

  const registry& reg_;
  std::shared_ptr<const detail::event_sourced_model> model_;
  std::string entity_id_;
  std::unique_ptr<google::protobuf::Message> state_;
  int64_t sequence_ = 0;
  bool broken_ = false;
};

}  // namespace

grpc::ServerBidiReactor<es::EventSourcedStreamIn, es::EventSourcedStreamOut>* event_sourced_service::handle(
    grpc::CallbackServerContext*) {
  return new event_sourced_stream(reg_);
}

}  // namespace actorstate::uf
