// Event-sourced entity instance: recovery = latest snapshot + the events after it (a snapshot that cannot be
// decoded is skipped in favour of a full replay); each command's events are applied, then appended to the journal
// with the next sequence numbers; a snapshot is saved once the append that crossed a `snapshot_every` boundary is
// durable, so a snapshot never includes events that might not exist.
#include <limits>

#include <google/protobuf/message.h>
#include <caf/all.hpp>

#include "actorstate/entity.hpp"
#include "actorstate/ops/log.hpp"
#include "entity_kinds.hpp"

namespace actorstate::runtime {

namespace {

constexpr uint64_t replay_page = 10000;

class event_sourced_actor : public entity_actor {
public:
  event_sourced_actor(caf::actor_config& cfg, std::shared_ptr<const entity_env> env, std::string id)
      : entity_actor(cfg, std::move(env), std::move(id)),
        model_(static_cast<const detail::event_sourced_model&>(*this->env().model)) {}

protected:
  void recover() override {
    reset();
    using loaded = result<std::optional<persistence::snapshot>>;
    env().store->load_snapshot(pid(), in_actor<loaded>([this](loaded res) { on_snapshot(std::move(res)); }));
  }

  void reset() override {
    state_ = model_.make_state();
    seq_ = 0;
  }

  void handle(pending_command& pc) override {
    detail::handler_output out;
    if (!run_handler(
            pc, [&] { return model_.handle(*state_, entity_id(), pc.cmd.method, pc.cmd.payload); }, out))
      return;
    if (out.events.empty()) {
      respond(pc, plan_of(out, false));
      return;
    }
    // Apply first: an event the entity cannot apply is never persisted.
    std::vector<persistence::event> events;
    events.reserve(out.events.size());
    auto first = seq_ + 1;
    for (auto& ev : out.events) {
      if (auto applied = apply(ev); !applied.ok()) {
        fail_and_restart(pc, status_code::internal, applied.message());
        return;
      }
      events.push_back(persistence::event{
          first + static_cast<int64_t>(events.size()), std::move(ev.type), std::move(ev.payload), {}});
    }
    auto before = seq_;
    seq_ += static_cast<int64_t>(events.size());
    std::optional<persistence::snapshot> snapshot;
    if (model_.snapshot_every > 0 && seq_ / model_.snapshot_every > before / model_.snapshot_every)
      snapshot = persistence::snapshot{seq_, type_url(state_->GetDescriptor()), state_->SerializeAsString()};
    auto plan = plan_of(out, false);
    append_events(std::move(events), std::move(snapshot), applied_record(pc, plan));
    respond(pc, std::move(plan));
  }

private:
  /// Applies one event to the state. An event handler that throws fails like an event that cannot be applied
  /// (`internal`): the state may be half changed, so the caller gives it up either way.
  status apply(const detail::any_bytes& ev) {
    try {
      return model_.apply(*state_, ev);
    } catch (const std::exception& e) {
      return {status_code::internal, std::string{"event handler threw: "} + e.what()};
    }
  }

  void on_snapshot(result<std::optional<persistence::snapshot>> res) {
    if (!res.ok()) {
      recovery_failed(store_failure_code(res.error()), "could not load snapshot: " + res.error().message());
      return;
    }
    if (res.value()) {
      auto& snap = *res.value();
      if (snap.type == type_url(state_->GetDescriptor()) && state_->ParseFromString(snap.payload)) {
        seq_ = snap.seq;
      } else {
        log::warn("snapshot cannot be decoded; replaying all events",
                  {{"persistence_id", pid()}, {"snapshot_seq", std::to_string(snap.seq)}, {"type", snap.type}});
        state_ = model_.make_state();
        seq_ = 0;
      }
    }
    replay_from(seq_ + 1);
  }

  void replay_from(int64_t from) {
    using replayed = result<std::vector<persistence::event>>;
    env().store->replay(pid(), from, std::numeric_limits<int64_t>::max(), replay_page,
                        in_actor<replayed>([this](replayed res) { on_events(std::move(res)); }));
  }

  void on_events(result<std::vector<persistence::event>> res) {
    if (!res.ok()) {
      recovery_failed(store_failure_code(res.error()), "could not replay events: " + res.error().message());
      return;
    }
    for (auto& ev : res.value()) {
      if (auto applied = apply(detail::any_bytes{std::move(ev.type), std::move(ev.payload)}); !applied.ok()) {
        recovery_failed(status_code::internal,
                        "cannot apply event " + std::to_string(ev.seq) + " of " + pid() + ": " + applied.message());
        return;
      }
      seq_ = ev.seq;
    }
    if (res.value().size() == replay_page) {
      replay_from(seq_ + 1);
      return;
    }
    recovered();
  }

  const detail::event_sourced_model& model_;
  std::unique_ptr<google::protobuf::Message> state_;
  int64_t seq_ = 0;
};

class value_actor : public entity_actor {
public:
  value_actor(caf::actor_config& cfg, std::shared_ptr<const entity_env> env, std::string id)
      : entity_actor(cfg, std::move(env), std::move(id)),
        model_(static_cast<const detail::value_model&>(*this->env().model)) {}

protected:
  void recover() override {
    reset();
    using loaded = result<std::optional<persistence::stored_value>>;
    env().store->get_value(pid(), in_actor<loaded>([this](loaded res) { on_loaded(std::move(res)); }));
  }

  void reset() override {
    state_.reset();
    version_ = 0;
  }

  void handle(pending_command& pc) override {
    detail::handler_output out;
    if (!run_handler(
            pc, [&] { return model_.handle(state_.get(), entity_id(), pc.cmd.method, pc.cmd.payload); }, out))
      return;
    if (!out.new_value && !out.delete_value) {
      respond(pc, plan_of(out, false));
      return;
    }
    std::unique_ptr<google::protobuf::Message> next;
    if (!out.delete_value) {
      next = model_.make_state();
      if (!next->ParseFromString(out.new_value->payload)) {
        fail_and_restart(pc, status_code::internal, "new state does not parse as " + next->GetTypeName());
        return;
      }
    }
    env().metrics->persisted_events.inc();
    auto plan = plan_of(out, false);
    auto options = options_of(applied_record(pc, plan));
    if (out.delete_value) {
      env().store->delete_value(pid(), version_, std::move(options), write_callback<status>(begin_write()));
      state_.reset();
      version_ = 0;
    } else {
      env().store->put_value(pid(), std::move(out.new_value->type), std::move(out.new_value->payload), version_,
                             std::move(options), write_callback<result<int64_t>>(begin_write()));
      state_ = std::move(next);
      ++version_;
    }
    respond(pc, std::move(plan));
  }

private:
  void on_loaded(result<std::optional<persistence::stored_value>> res) {
    if (!res.ok()) {
      recovery_failed(store_failure_code(res.error()), "could not load value: " + res.error().message());
      return;
    }
    if (res.value()) {
      auto& stored = *res.value();
      auto state = model_.make_state();
      if (stored.type != type_url(state->GetDescriptor()) || !state->ParseFromString(stored.payload)) {
        recovery_failed(status_code::data_loss,
                        "stored value of " + pid() + " does not decode as " + state->GetTypeName());
        return;
      }
      state_ = std::move(state);
      version_ = stored.version;
    }
    recovered();
  }

  const detail::value_model& model_;
  std::unique_ptr<google::protobuf::Message> state_;
  int64_t version_ = 0;
};

}  // namespace

caf::actor spawn_entity(caf::local_actor* parent, std::shared_ptr<const entity_env> env, const std::string& id) {
  if (env->model->spawn_instance)
    return env->model->spawn_instance->spawn(parent, std::move(env), id);
  switch (env->model->kind) {
    case detail::entity_kind::event_sourced:
      return parent->spawn<event_sourced_actor>(std::move(env), id);
    case detail::entity_kind::value:
      return parent->spawn<value_actor>(std::move(env), id);
    case detail::entity_kind::crdt:  // served by libactorstate/crdt, not by shards
    case detail::entity_kind::action:
      break;
  }
  return {};
}

detail::handler_output run_action(const detail::action_model& model, const command& cmd) {
  try {
    return model.handle(cmd.method, cmd.payload);
  } catch (const std::exception& e) {
    detail::handler_output out;
    out.status = status{status_code::internal, std::string{"action handler threw: "} + e.what()};
    return out;
  }
}

}  // namespace actorstate::runtime
