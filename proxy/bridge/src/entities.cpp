// Entity instances whose handlers run in the user function. Each instance owns one protocol stream: recovery
// opens it and sends `init` (plus, for event-sourced entities, the events after the snapshot); each command is
// sent with the next per-stream id and answered by exactly one reply, whose events or state are persisted before
// the client sees the reply. Commands pipeline as native ones do (contracts.md): the next command goes to the user
// function as soon as the previous reply is in, before its writes are durable; replies and side effects still wait
// for durability. A failed write fails every command that saw its effects (those waiting for durability and the one
// at the user function), closes the stream and recovers: the new stream starts from durable state (init with the
// last durable snapshot, then the events after it). A broken stream or a protocol violation fails the command in
// flight and restarts the instance the same way. (The reference proxy sends one command at a time and waits for
// durability in between, which bounds a hot entity to one round trip plus one commit per command.)
//
// As in the reference proxy, a restart a command caused (`failure` with `restart`, a `failure` message, a broken
// stream or a protocol violation while the command is in flight) opens the new stream at once, before any further
// command; a restart with nothing in flight, and one after a failed write, waits for the next command (see
// `entity_actor::recovery`).
#include "entities.hpp"

#include <limits>
#include <optional>
#include <type_traits>

#include <caf/all.hpp>

#include "actorstate/crdt/protocol_actions.hpp"
#include "actorstate/ops/log.hpp"
#include "actorstate/runtime/entity_actor.hpp"
#include "uf_stream.hpp"

namespace actorstate::bridge {

namespace {

constexpr uint64_t replay_page = 10000;

using crdt::effect_of;
using crdt::metadata_of;

google::protobuf::Any to_any(std::string type, std::string payload) {
  google::protobuf::Any any;
  any.set_type_url(std::move(type));
  any.set_value(std::move(payload));
  return any;
}

/// The life cycle both entity kinds share on top of entity_actor: the stream, the command in flight, replies.
template <class In, class Out>
class bridged_entity : public runtime::entity_actor {
public:
  bridged_entity(caf::actor_config& cfg, std::shared_ptr<const runtime::entity_env> env, std::string id,
                 std::shared_ptr<const uf_context> ctx)
      : runtime::entity_actor(cfg, std::move(env), std::move(id)), ctx_(std::move(ctx)) {}

protected:
  using stream = uf_stream<In, Out>;

  /// Opens a new stream; messages and the end of a stale stream are ignored.
  template <class StartCall>
  void open_stream(StartCall start_call) {
    close_stream();
    auto generation = ++generation_;
    // The stream outlives this actor until gRPC reports it done, which a user function that never ends its side
    // delays forever: a weak handle keeps the stream from holding the actor (and its system) alive, and what
    // arrives after the actor stopped is dropped. `in_this_stream` runs `fn` inside this actor, unless the actor
    // stopped or the stream was replaced meanwhile.
    auto in_this_stream = [this, self = caf::weak_actor_ptr{ctrl()}, generation](auto fn) {
      if (auto alive = caf::actor_cast<caf::actor>(self))
        detail::post(alive, [this, generation, fn = std::move(fn)]() mutable {
          if (generation == generation_)
            fn();
        });
    };
    stream_ = stream::open(
        std::move(start_call),
        [this, in_this_stream](Out msg) {
          in_this_stream([this, msg = std::move(msg)]() mutable { on_message(std::move(msg)); });
        },
        [this, in_this_stream](grpc::Status status) { in_this_stream([this, status] { on_stream_end(status); }); });
  }

  /// Half-closes the stream (the user function then ends its side), or cancels it when a command is still waiting
  /// for its reply: that reply would go nowhere, and a user function that never sends it never ends the stream.
  void close_stream() {
    ++generation_;
    if (stream_) {
      if (in_flight_)
        stream_->cancel();
      else
        stream_->close();
      stream_.reset();
    }
  }

  void send(In msg) {
    if (stream_)
      stream_->write(std::move(msg));
  }

  /// Sends a command for `pc` and waits for its reply.
  cloudstate::Command make_command(pending_command& pc) {
    cloudstate::Command cmd;
    cmd.set_entity_id(entity_id());
    cmd.set_id(++command_id_);
    cmd.set_name(pc.cmd.method);
    const auto* method = env().model->service->FindMethodByName(pc.cmd.method);
    cmd.mutable_payload()->set_type_url(type_url(method->input_type()));
    cmd.mutable_payload()->set_value(pc.cmd.payload);
    in_flight_ = std::move(pc);
    begin_async();
    return cmd;
  }

  void reset() override {
    // A command still at the user function when the entity restarts (an earlier write failed) ran against events
    // that are not durable: it fails, and its stream is cancelled, so no reply comes.
    end_stream("an earlier write of this entity failed; the entity restarts");
    command_id_ = 0;
    recovering_ = false;
  }

  void on_stop() override {
    // Only a killed entity stops with a command in flight (a passivated one waits for the reply first).
    end_stream("entity stopped before answering");
  }

  /// A store callback of the recovery whose stream was just opened: runs `fn(value)` inside this actor unless that
  /// stream was closed or replaced meanwhile. `recovering_` cannot tell recovery attempts apart: a load of an
  /// abandoned attempt (its stream broke, or a restart came first) may arrive during a later one and would send a
  /// second init on the new stream.
  template <class T, class F>
  persistence::callback<T> in_recovery(F fn) {
    return in_actor<T>([this, generation = generation_, fn = std::move(fn)](T value) mutable {
      if (generation == generation_)
        fn(std::move(value));
    });
  }

  /// Cancels the stream and fails the command still at the user function, if any, with `why`.
  void end_stream(const char* why) {
    close_stream();
    if (in_flight_) {
      auto pc = take_in_flight();
      abandon_async(pc, status_code::unavailable, why);
    }
  }

  virtual void on_message(Out msg) = 0;

  void on_stream_end(const grpc::Status& status) {
    stream_.reset();
    auto why = status.ok() ? std::string{"the user function ended the entity's stream"}
                           : "the user function's stream broke: " + status.error_message();
    if (recovering_) {
      recovering_ = false;
      recovery_failed(status_code::unavailable, why);
      return;
    }
    if (in_flight_) {
      auto pc = take_in_flight();
      fail_and_restart(pc, status_code::unavailable, why);
      return;
    }
    // Idle: reopen on the next command, so that a user function ending every stream does not keep the proxy
    // reopening them.
    restart(recovery::lazy);
  }

  /// The reply (or failure) for the command in flight arrived with `id`; false (after restarting) if it is not the
  /// one we wait for.
  bool expect_reply(int64_t id) {
    if (in_flight_ && id == command_id_)
      return true;
    protocol_violation("reply for command " + std::to_string(id) + " while waiting for " +
                       (in_flight_ ? std::to_string(command_id_) : std::string{"none"}));
    return false;
  }

  void protocol_violation(const std::string& what) {
    auto message = "protocol violation by the user function for " + env().model->service_name + " entity " +
                   entity_id() + ": " + what;
    log::error(message);
    ctx_->report_error(message);
    constexpr const char* why = "the user function violated the protocol";
    if (recovering_) {
      // Not a restart: with commands queued it would recover again at once, and a user function that answers
      // every init so would loop the proxy. The queued commands fail; the next one recovers again.
      recovering_ = false;
      recovery_failed(status_code::internal, why);
    } else if (in_flight_) {
      auto pc = take_in_flight();
      fail_and_restart(pc, status_code::internal, why);
    } else {
      restart(recovery::lazy);
    }
  }

  /// A `failure` on the stream: the entity crashed in the user function.
  void on_entity_failure(const cloudstate::Failure& failure) {
    log::warn("user function reported an entity failure", {{"entity_type", env().model->service_name},
                                                           {"entity_id", entity_id()},
                                                           {"description", failure.description()}});
    if (in_flight_ && failure.command_id() == command_id_) {
      auto pc = take_in_flight();
      fail_and_restart(pc, status_code::unknown, "Unexpected entity failure");
      return;
    }
    protocol_violation("stream failure for command " + std::to_string(failure.command_id()));
  }

  /// Answers the command in flight from a ClientAction and its side effects (which run once the writes are
  /// durable; a failure drops them); returns false if the entity restarted instead.
  bool answer(const cloudstate::ClientAction& action,
              const google::protobuf::RepeatedPtrField<cloudstate::SideEffect>& side_effects) {
    auto pc = take_in_flight();
    if (action.has_failure()) {
      respond(pc, command_result::failure(status_code::unknown, action.failure().description()));
      if (action.failure().restart()) {
        restart(recovery::eager);
        return false;
      }
      end_async();
      return true;
    }
    respond(pc, plan_for(pc, action, side_effects, true));
    end_async();
    return true;
  }

  /// The record the write of the command in flight carries (entity_actor::applied_record), for a successful reply
  /// `action`; nullopt if the command has no idempotency key.
  std::optional<persistence::applied_command> applied_record_of(
      const cloudstate::ClientAction& action,
      const google::protobuf::RepeatedPtrField<cloudstate::SideEffect>& side_effects) const {
    if (!in_flight_ || !keyed(*in_flight_))
      return std::nullopt;
    return applied_record(*in_flight_, plan_for(*in_flight_, action, side_effects, false));
  }

  /// The plan of a successful reply `action` to `pc`; `report`: tell the user function of a reply of the wrong type.
  runtime::reply_plan plan_for(const pending_command& pc, const cloudstate::ClientAction& action,
                               const google::protobuf::RepeatedPtrField<cloudstate::SideEffect>& side_effects,
                               bool report) const {
    runtime::reply_plan plan;
    if (action.has_forward()) {
      plan.forward = effect_of(action.forward());
    } else if (action.has_reply()) {
      const auto& payload = action.reply().payload();
      const auto* method = env().model->service->FindMethodByName(pc.cmd.method);
      if (report && !payload.type_url().empty() && payload.type_url() != type_url(method->output_type()))
        ctx_->report_error("Warning: reply of " + method->full_name() + " has type " + payload.type_url() +
                           ", expected " + type_url(method->output_type()));
      plan.result = command_result::success(payload.value());
      plan.result.metadata = metadata_of(action.reply().metadata());
    } else {
      plan.result = command_result::success({});
    }
    for (const auto& effect : side_effects)
      plan.side_effects.push_back(effect_of(effect));
    return plan;
  }

  void on_effect_error(const detail::effect_call& call, const command_result& error, const char* role) override {
    runtime::entity_actor::on_effect_error(call, error, role);
    ctx_->report_error(error.status.message() + " (" + role + " " + env().model->service_name + " entity " +
                       entity_id() + ", calling " + call.service_name + "/" + call.method + ")");
  }

  pending_command take_in_flight() {
    auto pc = std::move(*in_flight_);
    in_flight_.reset();
    return pc;
  }

  std::shared_ptr<const uf_context> ctx_;
  std::shared_ptr<stream> stream_;
  uint64_t generation_ = 0;
  int64_t command_id_ = 0;
  bool recovering_ = false;
  std::optional<pending_command> in_flight_;
};

namespace es = cloudstate::eventsourced;

class event_sourced_entity final : public bridged_entity<es::EventSourcedStreamIn, es::EventSourcedStreamOut> {
public:
  using bridged_entity::bridged_entity;

  const char* name() const override { return "actorstate.bridge.event_sourced"; }

protected:
  void recover() override {
    reset();
    recovering_ = true;
    open_stream([ctx = ctx_](grpc::ClientContext* c, auto* r) { ctx->event_sourced->async()->handle(c, r); });
    using loaded = result<std::optional<persistence::snapshot>>;
    env().store->load_snapshot(pid(), in_recovery<loaded>([this](loaded res) { on_snapshot(std::move(res)); }));
  }

  void reset() override {
    bridged_entity::reset();
    seq_ = 0;
  }

  void handle(pending_command& pc) override {
    es::EventSourcedStreamIn in;
    *in.mutable_command() = make_command(pc);
    send(std::move(in));
  }

  void on_message(es::EventSourcedStreamOut msg) override {
    if (msg.has_failure()) {
      on_entity_failure(msg.failure());
      return;
    }
    if (!msg.has_reply()) {
      protocol_violation("empty message on the event-sourced stream");
      return;
    }
    auto& reply = *msg.mutable_reply();
    if (!expect_reply(reply.command_id()))
      return;
    // Events of a failed command are never persisted; a restart request drops them along with the state.
    bool failed = reply.client_action().has_failure();
    if (!failed && reply.events_size() > 0) {
      std::vector<persistence::event> events;
      for (auto& ev : *reply.mutable_events())
        events.push_back({seq_ + 1 + static_cast<int64_t>(events.size()),
                          std::move(*ev.mutable_type_url()),
                          std::move(*ev.mutable_value()),
                          {}});
      seq_ += static_cast<int64_t>(events.size());
      std::optional<persistence::snapshot> snapshot;
      if (reply.has_snapshot())
        snapshot = persistence::snapshot{seq_, std::move(*reply.mutable_snapshot()->mutable_type_url()),
                                         std::move(*reply.mutable_snapshot()->mutable_value())};
      append_events(std::move(events), std::move(snapshot),
                    applied_record_of(reply.client_action(), reply.side_effects()));
    }
    answer(reply.client_action(), reply.side_effects());
  }

private:
  void on_snapshot(result<std::optional<persistence::snapshot>> res) {
    if (!res.ok()) {
      recovering_ = false;
      recovery_failed(runtime::store_failure_code(res.error()), "could not load snapshot: " + res.error().message());
      return;
    }
    es::EventSourcedStreamIn in;
    auto* init = in.mutable_init();
    init->set_service_name(env().model->service_name);
    init->set_entity_id(entity_id());
    if (res.value()) {
      auto& snap = *res.value();
      seq_ = snap.seq;
      init->mutable_snapshot()->set_snapshot_sequence(snap.seq);
      *init->mutable_snapshot()->mutable_snapshot() = to_any(std::move(snap.type), std::move(snap.payload));
    }
    send(std::move(in));
    replay_from(seq_ + 1);
  }

  void replay_from(int64_t from) {
    using replayed = result<std::vector<persistence::event>>;
    env().store->replay(pid(), from, std::numeric_limits<int64_t>::max(), replay_page,
                        in_recovery<replayed>([this](replayed res) { on_events(std::move(res)); }));
  }

  void on_events(result<std::vector<persistence::event>> res) {
    if (!res.ok()) {
      recovering_ = false;
      recovery_failed(runtime::store_failure_code(res.error()), "could not replay events: " + res.error().message());
      return;
    }
    for (auto& ev : res.value()) {
      es::EventSourcedStreamIn in;
      in.mutable_event()->set_sequence(ev.seq);
      *in.mutable_event()->mutable_payload() = to_any(std::move(ev.type), std::move(ev.payload));
      seq_ = ev.seq;
      send(std::move(in));
    }
    if (res.value().size() == replay_page) {
      replay_from(seq_ + 1);
      return;
    }
    recovering_ = false;
    recovered();
  }

  int64_t seq_ = 0;
};

namespace ve = cloudstate::valueentity;

class value_entity final : public bridged_entity<ve::ValueEntityStreamIn, ve::ValueEntityStreamOut> {
public:
  using bridged_entity::bridged_entity;

  const char* name() const override { return "actorstate.bridge.value_entity"; }

protected:
  void recover() override {
    reset();
    recovering_ = true;
    open_stream([ctx = ctx_](grpc::ClientContext* c, auto* r) { ctx->value_entity->async()->handle(c, r); });
    using loaded = result<std::optional<persistence::stored_value>>;
    env().store->get_value(pid(), in_recovery<loaded>([this](loaded res) { on_loaded(std::move(res)); }));
  }

  void reset() override {
    bridged_entity::reset();
    version_ = 0;
  }

  void handle(pending_command& pc) override {
    ve::ValueEntityStreamIn in;
    *in.mutable_command() = make_command(pc);
    send(std::move(in));
  }

  void on_message(ve::ValueEntityStreamOut msg) override {
    if (msg.has_failure()) {
      on_entity_failure(msg.failure());
      return;
    }
    if (!msg.has_reply()) {
      protocol_violation("empty message on the value entity stream");
      return;
    }
    auto& reply = *msg.mutable_reply();
    if (!expect_reply(reply.command_id()))
      return;
    if (!reply.client_action().has_failure() && reply.has_state_action()) {
      auto& action = *reply.mutable_state_action();
      env().metrics->persisted_events.inc();
      auto options = options_of(applied_record_of(reply.client_action(), reply.side_effects()));
      if (action.has_update()) {
        auto& value = *action.mutable_update()->mutable_value();
        env().store->put_value(pid(), std::move(*value.mutable_type_url()), std::move(*value.mutable_value()), version_,
                               std::move(options), write_callback<result<int64_t>>(begin_write()));
        ++version_;
      } else if (action.has_delete_()) {
        env().store->delete_value(pid(), version_, std::move(options), write_callback<status>(begin_write()));
        version_ = 0;
      }
    }
    answer(reply.client_action(), reply.side_effects());
  }

private:
  void on_loaded(result<std::optional<persistence::stored_value>> res) {
    if (!res.ok()) {
      recovering_ = false;
      recovery_failed(runtime::store_failure_code(res.error()), "could not load value: " + res.error().message());
      return;
    }
    ve::ValueEntityStreamIn in;
    auto* init = in.mutable_init();
    init->set_service_name(env().model->service_name);
    init->set_entity_id(entity_id());
    auto* state = init->mutable_state();  // Always present, with the value unset when nothing is stored.
    if (res.value()) {
      version_ = res.value()->version;
      *state->mutable_value() = to_any(std::move(res.value()->type), std::move(res.value()->payload));
    }
    send(std::move(in));
    recovering_ = false;
    recovered();
  }

  int64_t version_ = 0;
};

}  // namespace

namespace {

/// Spawns bridged instances of `Entity` talking to the user function of `ctx`.
template <class Entity>
class bridged_factory final : public runtime::instance_factory {
public:
  explicit bridged_factory(std::shared_ptr<const uf_context> ctx) : ctx_(std::move(ctx)) {}
  caf::actor spawn(caf::local_actor* parent, std::shared_ptr<const runtime::entity_env> env,
                   const std::string& entity_id) const override {
    return parent->spawn<Entity>(std::move(env), entity_id, ctx_);
  }

private:
  std::shared_ptr<const uf_context> ctx_;
};

}  // namespace

std::shared_ptr<const runtime::instance_factory> event_sourced_spawner(std::shared_ptr<const uf_context> ctx) {
  return std::make_shared<bridged_factory<event_sourced_entity>>(std::move(ctx));
}

std::shared_ptr<const runtime::instance_factory> value_entity_spawner(std::shared_ptr<const uf_context> ctx) {
  return std::make_shared<bridged_factory<value_entity>>(std::move(ctx));
}

detail::handler_output output_of(const cloudstate::action::ActionResponse& response) {
  detail::handler_output out;
  switch (response.response_case()) {
    case cloudstate::action::ActionResponse::kFailure:
      out.status = status{status_code::unknown, response.failure().description()};
      break;
    case cloudstate::action::ActionResponse::kForward:
      out.forward = effect_of(response.forward());
      break;
    case cloudstate::action::ActionResponse::kReply:
      out.reply = response.reply().payload().value();
      out.metadata = metadata_of(response.reply().metadata());
      break;
    case cloudstate::action::ActionResponse::RESPONSE_NOT_SET:
      out.no_reply = true;
      break;
  }
  for (const auto& effect : response.side_effects())
    out.side_effects.push_back(effect_of(effect));
  return out;
}

void call_unary_action(const std::shared_ptr<const uf_context>& ctx, const std::string& service_name,
                       const google::protobuf::MethodDescriptor* method, command cmd,
                       std::function<void(detail::handler_output)> done) {
  struct call {
    grpc::ClientContext client;
    cloudstate::action::ActionCommand request;
    cloudstate::action::ActionResponse response;
  };
  auto c = std::make_shared<call>();
  c->request.set_service_name(service_name);
  c->request.set_name(method->name());
  *c->request.mutable_payload() = to_any(type_url(method->input_type()), std::move(cmd.payload));
  for (auto& entry : cmd.metadata) {
    auto* e = c->request.mutable_metadata()->add_entries();
    e->set_key(std::move(entry.key));
    e->set_string_value(std::move(entry.value));
  }
  ctx->action->async()->handleUnary(
      &c->client, &c->request, &c->response, [c, done = std::move(done)](grpc::Status call) {
        detail::handler_output out;
        if (!call.ok()) {
          out.status = status{status_code::unavailable, "user function call failed: " + call.error_message()};
          done(std::move(out));
          return;
        }
        out = output_of(c->response);
        done(std::move(out));
      });
}

}  // namespace actorstate::bridge
