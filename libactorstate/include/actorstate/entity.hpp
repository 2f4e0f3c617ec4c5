// The C++ SDK for native entities. A developer describes an entity type by its gRPC service (generated protobuf
// code linked into the program) and registers one handler per method:
//
//   actorstate::event_sourced_entity<Cart> cart{"com.example.shoppingcart.ShoppingCart", "shopping-cart"};
//   cart.snapshot_every(5)
//       .on_command<AddLineItem, google::protobuf::Empty>(
//           "AddItem", [](const Cart& state, const AddLineItem& cmd, actorstate::event_context& ctx)
//                          -> actorstate::outcome<google::protobuf::Empty> {
//             if (cmd.quantity() < 1) return actorstate::failure{"Cannot add negative quantity"};
//             ctx.emit(item_added(cmd));
//             return google::protobuf::Empty{};
//           })
//       .on_event<ItemAdded>([](Cart& state, const ItemAdded& ev) { add(state, ev); });
//   node.add(cart);
//
// Handlers run inside the entity's actor, one command at a time per entity instance, and must not block. A command
// handler sees the current state read-only and decides: a reply (with events to persist, for event-sourced
// entities, or a new value, for value entities), a forward (`forward_to`: the caller gets whatever another
// service's method replies, after this command's writes) or a failure, which persists nothing. Any handler may also
// ask for side effects (`ctx.side_effect(...)`): calls to other services made after the writes are durable, whose
// replies are ignored; synchronous ones complete before the reply or forward leaves. A failed entity command runs no
// side effects; a failed action call still runs its own. The runtime applies emitted events through the event
// handlers and sends the reply only after the events are durable. A handler that throws fails its command and
// restarts the entity, which then recovers from the store. Forwards and side effects go through the node's router
// (any served entity or action may be the target), or through the Cloudstate proxy's when the entities are served
// as a user function (user_function.hpp).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include "actorstate/detail/model.hpp"

namespace actorstate {

/// "type.googleapis.com/<full name>" for a protobuf message type.
std::string type_url(const google::protobuf::Descriptor* descriptor);

/// A user-level rejection of a command: the client sees status UNKNOWN (HTTP 500) with this description.
struct failure {
  std::string description;
};

/// Hands a command on to `method` of the served service `service` (fully qualified) with `msg` as its request: the
/// caller gets whatever that method replies, so it should reply with the type the caller expects.
struct forward_to {
  template <class Message>
  forward_to(std::string service, std::string method_name, const Message& msg)
      : service_name(std::move(service)),
        method(std::move(method_name)),
        payload{type_url(Message::descriptor()), msg.SerializeAsString()} {}

  std::string service_name, method;
  detail::any_bytes payload;
};

/// What a command handler returns: a reply, a forward or a failure.
template <class Reply>
class outcome {
public:
  outcome(Reply reply) : reply_(std::move(reply)) {}
  outcome(failure f) : failed_(true), description_(std::move(f.description)) {}
  outcome(forward_to fwd) : forward_(std::move(fwd)) {}

  bool failed() const { return failed_; }
  const std::string& description() const { return description_; }
  const Reply& reply() const { return reply_; }
  /// Set when the command was forwarded (`reply()` is then meaningless).
  const std::optional<forward_to>& forward() const { return forward_; }

private:
  Reply reply_;
  bool failed_ = false;
  std::string description_;
  std::optional<forward_to> forward_;
};

namespace detail {

/// The side-effect part every handler context shares.
class side_effect_collector {
public:
  /// Asks for a call of `method` on the served service `service` (fully qualified) with `msg` as its request, made
  /// after the command's writes; `synchronous` ones complete before the reply or forward leaves. Replies are ignored.
  template <class Message>
  void side_effect(std::string service, std::string method, const Message& msg, bool synchronous = false) {
    side_effects_.push_back({std::move(service),
                             std::move(method),
                             {type_url(Message::descriptor()), msg.SerializeAsString()},
                             synchronous});
  }

  std::vector<effect_call>& side_effects() { return side_effects_; }

private:
  std::vector<effect_call> side_effects_;
};

}  // namespace detail

/// Context of an event-sourced command handler.
class event_context : public detail::side_effect_collector {
public:
  explicit event_context(const std::string& entity_id) : entity_id_(entity_id) {}

  const std::string& entity_id() const { return entity_id_; }

  /// Records an event; it is applied and persisted only if the handler does not fail.
  template <class Event>
  void emit(const Event& event) {
    events_.push_back({type_url(Event::descriptor()), event.SerializeAsString()});
  }

  std::vector<detail::any_bytes>& events() { return events_; }

private:
  const std::string& entity_id_;
  std::vector<detail::any_bytes> events_;
};

/// Context of a value entity's command handler.
class value_context : public detail::side_effect_collector {
public:
  value_context(const std::string& entity_id, bool has_state) : entity_id_(entity_id), has_state_(has_state) {}

  const std::string& entity_id() const { return entity_id_; }
  /// Whether a value is stored; when not, handlers see a default-constructed state.
  bool has_state() const { return has_state_; }

  template <class State>
  void update_state(const State& state) {
    new_value_ = detail::any_bytes{type_url(State::descriptor()), state.SerializeAsString()};
    delete_ = false;
  }
  void delete_state() {
    new_value_.reset();
    delete_ = true;
  }

  std::optional<detail::any_bytes>& new_value() { return new_value_; }
  bool deleted() const { return delete_; }

private:
  const std::string& entity_id_;
  bool has_state_;
  std::optional<detail::any_bytes> new_value_;
  bool delete_ = false;
};

/// Context of an action handler (stateless).
class action_context : public detail::side_effect_collector {};

namespace detail {

template <class Request>
bool parse_request(Request& request, const std::string& payload, handler_output& out) {
  if (request.ParseFromString(payload))
    return true;
  out.code = status_code::invalid_argument;
  out.message = "request does not parse as " + Request::descriptor()->full_name();
  return false;
}

template <class Reply>
void set_reply(const outcome<Reply>& result, handler_output& out) {
  if (result.failed()) {
    out.code = status_code::unknown;
    out.message = result.description();
  } else if (const auto& fwd = result.forward()) {
    out.forward = effect_call{fwd->service_name, fwd->method, fwd->payload, false};
  } else {
    out.reply = result.reply().SerializeAsString();
  }
}

inline handler_output unknown_method(const std::string& method) {
  handler_output out;
  out.code = status_code::unimplemented;
  out.message = "no handler for method " + method;
  return out;
}

}  // namespace detail

/// An event-sourced entity type whose state (and snapshot) is the protobuf message `State`.
template <class State>
class event_sourced_entity {
public:
  using command_handler = std::function<detail::handler_output(const State&, const std::string&, const std::string&)>;
  using event_handler = std::function<bool(State&, const std::string&)>;

  event_sourced_entity(std::string service_name, std::string persistence_id)
      : model_(std::make_shared<detail::event_sourced_model>()),
        commands_(std::make_shared<std::map<std::string, command_handler>>()),
        events_(std::make_shared<std::map<std::string, event_handler>>()) {
    model_->service_name = std::move(service_name);
    model_->persistence_id = std::move(persistence_id);
    model_->make_state = [] { return std::make_unique<State>(); };
    model_->handle = [cmds = commands_](const google::protobuf::Message& state, const std::string& id,
                                        const std::string& method, const std::string& payload) {
      auto i = cmds->find(method);
      return i == cmds->end() ? detail::unknown_method(method)
                              : i->second(static_cast<const State&>(state), id, payload);
    };
    model_->apply = [evs = events_](google::protobuf::Message& state, const detail::any_bytes& ev, std::string& error) {
      auto i = evs->find(ev.type);
      if (i == evs->end()) {
        error = "no event handler for " + ev.type;
        return false;
      }
      if (!i->second(static_cast<State&>(state), ev.payload)) {
        error = "event does not parse as " + ev.type;
        return false;
      }
      return true;
    };
  }

  /// Saves the state as a snapshot whenever the sequence number crosses a multiple of `n` (0: never).
  event_sourced_entity& snapshot_every(int64_t n) {
    model_->snapshot_every = n;
    return *this;
  }

  /// Idle time after which an instance is passivated; overrides the node's default.
  event_sourced_entity& passivation_timeout(std::chrono::milliseconds timeout) {
    model_->settings.passivation_timeout = timeout;
    return *this;
  }

  /// `handler(const State&, const Request&, event_context&)` returns `outcome<Reply>` (or a `Reply`).
  template <class Request, class Reply, class F>
  event_sourced_entity& on_command(const std::string& method, F handler) {
    model_->methods[method] = {Request::descriptor(), Reply::descriptor()};
    (*commands_)[method] = [f = std::move(handler)](const State& state, const std::string& id,
                                                    const std::string& payload) {
      detail::handler_output out;
      Request request;
      if (!detail::parse_request(request, payload, out))
        return out;
      event_context ctx{id};
      outcome<Reply> result = f(state, request, ctx);
      detail::set_reply(result, out);
      if (!result.failed()) {
        out.events = std::move(ctx.events());
        out.side_effects = std::move(ctx.side_effects());
      }
      return out;
    };
    return *this;
  }

  /// `handler(State&, const Event&)` applies one event to the state.
  template <class Event, class F>
  event_sourced_entity& on_event(F handler) {
    (*events_)[type_url(Event::descriptor())] = [f = std::move(handler)](State& state, const std::string& payload) {
      Event event;
      if (!event.ParseFromString(payload))
        return false;
      f(state, event);
      return true;
    };
    return *this;
  }

  std::shared_ptr<detail::model_base> model() const { return model_; }

private:
  std::shared_ptr<detail::event_sourced_model> model_;
  std::shared_ptr<std::map<std::string, command_handler>> commands_;
  std::shared_ptr<std::map<std::string, event_handler>> events_;
};

/// A value entity type whose state is the protobuf message `State`, stored whole on every update.
template <class State>
class value_entity {
public:
  using command_handler = std::function<detail::handler_output(const State*, const std::string&, const std::string&)>;

  value_entity(std::string service_name, std::string persistence_id)
      : model_(std::make_shared<detail::value_model>()),
        commands_(std::make_shared<std::map<std::string, command_handler>>()) {
    model_->service_name = std::move(service_name);
    model_->persistence_id = std::move(persistence_id);
    model_->make_state = [] { return std::make_unique<State>(); };
    model_->handle = [cmds = commands_](const google::protobuf::Message* state, const std::string& id,
                                        const std::string& method, const std::string& payload) {
      auto i = cmds->find(method);
      return i == cmds->end() ? detail::unknown_method(method)
                              : i->second(static_cast<const State*>(state), id, payload);
    };
  }

  value_entity& passivation_timeout(std::chrono::milliseconds timeout) {
    model_->settings.passivation_timeout = timeout;
    return *this;
  }

  /// `handler(const State&, const Request&, value_context&)` returns `outcome<Reply>` (or a `Reply`). When no
  /// value is stored the handler sees a default-constructed `State` and `ctx.has_state()` is false.
  template <class Request, class Reply, class F>
  value_entity& on_command(const std::string& method, F handler) {
    model_->methods[method] = {Request::descriptor(), Reply::descriptor()};
    (*commands_)[method] = [f = std::move(handler)](const State* state, const std::string& id,
                                                    const std::string& payload) {
      detail::handler_output out;
      Request request;
      if (!detail::parse_request(request, payload, out))
        return out;
      value_context ctx{id, state != nullptr};
      outcome<Reply> result = state != nullptr ? f(*state, request, ctx) : f(State::default_instance(), request, ctx);
      detail::set_reply(result, out);
      if (!result.failed()) {
        out.new_value = std::move(ctx.new_value());
        out.delete_value = ctx.deleted();
        out.side_effects = std::move(ctx.side_effects());
      }
      return out;
    };
    return *this;
  }

  std::shared_ptr<detail::model_base> model() const { return model_; }

private:
  std::shared_ptr<detail::value_model> model_;
  std::shared_ptr<std::map<std::string, command_handler>> commands_;
};

/// A stateless action: each call runs its handler once, concurrently with other calls.
class action {
public:
  using call_handler = std::function<detail::handler_output(const std::string&)>;

  explicit action(std::string service_name)
      : model_(std::make_shared<detail::action_model>()),
        calls_(std::make_shared<std::map<std::string, call_handler>>()) {
    model_->service_name = std::move(service_name);
    model_->handle = [calls = calls_](const std::string& method, const std::string& payload) {
      auto i = calls->find(method);
      return i == calls->end() ? detail::unknown_method(method) : i->second(payload);
    };
  }

  /// `handler(const Request&, action_context&)` returns `outcome<Reply>` (or a `Reply`).
  template <class Request, class Reply, class F>
  action& on_call(const std::string& method, F handler) {
    model_->methods[method] = {Request::descriptor(), Reply::descriptor()};
    (*calls_)[method] = [f = std::move(handler)](const std::string& payload) {
      detail::handler_output out;
      Request request;
      if (!detail::parse_request(request, payload, out))
        return out;
      action_context ctx;
      outcome<Reply> result = f(request, ctx);
      detail::set_reply(result, out);
      // Unlike an entity's, a failed action's side effects still run (Cloudstate's "failure with side effect").
      out.side_effects = std::move(ctx.side_effects());
      return out;
    };
    return *this;
  }

  std::shared_ptr<detail::model_base> model() const { return model_; }

private:
  std::shared_ptr<detail::action_model> model_;
  std::shared_ptr<std::map<std::string, call_handler>> calls_;
};

}  // namespace actorstate
