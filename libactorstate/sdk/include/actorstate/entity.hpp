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
//   auto added = node.add(cart);  // a status: ok, or why the node refused the entity type
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
//
// Actions may also serve streaming methods (client-, server- and bidi-streaming) with `action::on_stream`: per
// call, a fresh pair of handlers sees each client message and the client's end, and answers through a
// `stream_context` any number of times (a client-streaming method exactly once). An action handler may answer
// `no_reply`: a streamed call then sends nothing for it, a unary caller gets the reply type's empty message.
//
// CRDT entities, whose replicated state the runtime merges, are in crdt_entity.hpp.
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
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

/// What an action handler answers when it has nothing to answer; its side effects still run.
struct no_reply_t {
  explicit constexpr no_reply_t() = default;
};
inline constexpr no_reply_t no_reply{};

/// What a command handler returns: a reply, a forward, a failure or (actions) no reply.
template <class Reply>
class outcome {
public:
  outcome(Reply reply) : reply_(std::move(reply)) {}
  outcome(failure f) : failed_(true), description_(std::move(f.description)) {}
  outcome(forward_to fwd) : forward_(std::move(fwd)) {}
  outcome(no_reply_t) : no_reply_(true) {}

  bool failed() const { return failed_; }
  /// Set when the handler answered nothing (`reply()` is then the empty message).
  bool no_reply() const { return no_reply_; }
  const std::string& description() const { return description_; }
  const Reply& reply() const { return reply_; }
  /// Set when the command was forwarded (`reply()` is then meaningless).
  const std::optional<forward_to>& forward() const { return forward_; }

private:
  Reply reply_;
  bool failed_ = false;
  bool no_reply_ = false;
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
  out.status = status{status_code::invalid_argument, "request does not parse as " + Request::descriptor()->full_name()};
  return false;
}

template <class Reply>
void set_reply(const outcome<Reply>& result, handler_output& out) {
  if (result.failed()) {
    out.status = status{status_code::unknown, result.description()};
  } else if (const auto& fwd = result.forward()) {
    out.forward = effect_call{fwd->service_name, fwd->method, fwd->payload, false};
  } else {
    out.reply = result.reply().SerializeAsString();
    out.no_reply = result.no_reply();
  }
}

/// The non-template core of stream_context: orders a streamed call's responses and hands them to the runtime's
/// sink one at a time, never under its own lock (the sink may cancel the call from within).
class stream_responder {
public:
  stream_responder(action_response_sink sink, bool single_response, std::vector<metadata_entry> metadata)
      : sink_(std::move(sink)), single_response_(single_response), metadata_(std::move(metadata)) {}

  /// Sends `out` with the side effects gathered so far; a single-response call ends with it.
  void respond(handler_output out);
  void add_side_effect(effect_call call);
  /// Completes the call (see stream_context::end).
  void end();
  /// The call is over from the other side: drop whatever comes later.
  void cancel();
  bool ended() const;
  const std::vector<metadata_entry>& metadata() const { return metadata_; }

private:
  void deliver(std::unique_lock<std::mutex> lock);

  action_response_sink sink_;
  const bool single_response_;
  const std::vector<metadata_entry> metadata_;
  mutable std::mutex mtx_;
  std::vector<effect_call> side_effects_;
  std::deque<handler_output> queue_;
  bool responded_ = false;
  bool ending_ = false;     // end() accepted: queued responses go out, then the sink's end
  bool cancelled_ = false;  // nothing more goes out
  bool delivering_ = false;
  bool end_sent_ = false;
};

}  // namespace detail

/// A streamed action call as its handlers see it: a copyable handle, usable from any thread until the call is over,
/// so a handler may keep it and answer later.
template <class Reply>
class stream_context {
public:
  explicit stream_context(std::shared_ptr<detail::stream_responder> r) : r_(std::move(r)) {}

  /// Sends one response: a reply, a forward (the client gets the target's reply), a failure (which ends the client's
  /// call) or `no_reply`; side effects asked for since the previous response go with it. A client-streaming call
  /// answers once: its first response ends it.
  void respond(outcome<Reply> response) {
    detail::handler_output out;
    detail::set_reply(response, out);
    r_->respond(std::move(out));
  }

  /// Completes the call. Side effects not sent yet go out with a final `no_reply`, as does the one answer of a
  /// client-streaming call that has not answered.
  void end() { r_->end(); }

  /// Asks for a call of `method` on the served service `service` with `msg`, made with the next response (see
  /// side_effect_collector).
  template <class Message>
  void side_effect(std::string service, std::string method, const Message& msg, bool synchronous = false) {
    r_->add_side_effect({std::move(service),
                         std::move(method),
                         {type_url(Message::descriptor()), msg.SerializeAsString()},
                         synchronous});
  }

  /// The call's request headers.
  const std::vector<metadata_entry>& metadata() const { return r_->metadata(); }

  /// Whether the call is over (ended, failed or the client went away); later responses are dropped.
  bool ended() const { return r_->ended(); }

private:
  std::shared_ptr<detail::stream_responder> r_;
};

/// The handlers of one streamed call, made fresh for each call (so they may hold the call's own state).
template <class Request, class Reply>
struct stream_handlers {
  /// Each client message; a server-streaming method gets exactly one.
  std::function<void(const Request&, stream_context<Reply>&)> on_message;
  /// The client sent its last message. Empty: end the call.
  std::function<void(stream_context<Reply>&)> on_end;
};

namespace detail {

/// Runs user code of a streamed call; an exception fails and ends the call.
template <class Reply, class F>
void run_stream_handler(stream_context<Reply>& ctx, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    ctx.respond(failure{std::string{"action handler threw: "} + e.what()});
    ctx.end();
  } catch (...) {
    ctx.respond(failure{"action handler threw"});
    ctx.end();
  }
}

/// One streamed call of SDK handlers, as the runtime drives it. Calls its handlers one at a time.
template <class Request, class Reply>
class handler_stream final : public action_stream {
public:
  handler_stream(stream_handlers<Request, Reply> handlers, std::shared_ptr<stream_responder> responder)
      : handlers_(std::move(handlers)), responder_(responder), ctx_(std::move(responder)) {}

  void send(std::string payload) override {
    std::lock_guard<std::mutex> guard{mtx_};
    if (responder_->ended())
      return;
    Request request;
    handler_output out;
    if (!parse_request(request, payload, out)) {
      responder_->respond(std::move(out));
      return;
    }
    if (handlers_.on_message)
      run_stream_handler(ctx_, [&] { handlers_.on_message(request, ctx_); });
  }

  void half_close() override {
    std::lock_guard<std::mutex> guard{mtx_};
    if (responder_->ended())
      return;
    if (handlers_.on_end)
      run_stream_handler(ctx_, [&] { handlers_.on_end(ctx_); });
    else
      ctx_.end();
  }

  void cancel() override { responder_->cancel(); }

private:
  std::mutex mtx_;
  stream_handlers<Request, Reply> handlers_;
  std::shared_ptr<stream_responder> responder_;
  stream_context<Reply> ctx_;
};

/// A call that is over before it starts (no handler for its method).
class ended_stream final : public action_stream {
public:
  void send(std::string) override {}
  void half_close() override {}
  void cancel() override {}
};

inline handler_output unknown_method(const std::string& method) {
  handler_output out;
  out.status = status{status_code::unimplemented, "no handler for method " + method};
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
    model_->apply = [evs = events_](google::protobuf::Message& state, const detail::any_bytes& ev) -> status {
      auto i = evs->find(ev.type);
      if (i == evs->end())
        return {status_code::invalid_argument, "no event handler for " + ev.type};
      if (!i->second(static_cast<State&>(state), ev.payload))
        return {status_code::invalid_argument, "event does not parse as " + ev.type};
      return {};
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
  using stream_opener =
      std::function<std::shared_ptr<detail::action_stream>(std::shared_ptr<detail::stream_responder>)>;

  explicit action(std::string service_name)
      : model_(std::make_shared<detail::action_model>()),
        calls_(std::make_shared<std::map<std::string, call_handler>>()),
        streams_(std::make_shared<std::map<std::string, stream_opener>>()) {
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

  /// Serves the streaming method `method`: `make_handlers()` returns the `stream_handlers<Request, Reply>` of each
  /// new call.
  template <class Request, class Reply, class F>
  action& on_stream(const std::string& method, F make_handlers) {
    model_->methods[method] = {Request::descriptor(), Reply::descriptor(), true};
    (*streams_)[method] = [f = std::move(make_handlers)](std::shared_ptr<detail::stream_responder> responder) {
      stream_handlers<Request, Reply> handlers = f();
      return std::make_shared<detail::handler_stream<Request, Reply>>(std::move(handlers), std::move(responder));
    };
    if (!model_->open_stream)
      model_->open_stream = [streams = streams_](
                                const google::protobuf::MethodDescriptor* m, std::vector<metadata_entry> metadata,
                                detail::action_response_sink sink) -> std::shared_ptr<detail::action_stream> {
        bool single = m->client_streaming() && !m->server_streaming();
        auto responder = std::make_shared<detail::stream_responder>(std::move(sink), single, std::move(metadata));
        auto i = streams->find(m->name());
        if (i == streams->end()) {
          responder->respond(detail::unknown_method(m->name()));
          responder->end();
          return std::make_shared<detail::ended_stream>();
        }
        return i->second(std::move(responder));
      };
    return *this;
  }

  std::shared_ptr<detail::model_base> model() const { return model_; }

private:
  std::shared_ptr<detail::action_model> model_;
  std::shared_ptr<std::map<std::string, call_handler>> calls_;
  std::shared_ptr<std::map<std::string, stream_opener>> streams_;
};

}  // namespace actorstate
