// CRDT entities in the C++ SDK. The runtime (or a Cloudstate proxy, when served as a user function) owns the
// replicated CRDT: merging, clocks, replication. The entity keeps only the plain value its handlers see, learns
// changes made elsewhere as deltas, and reports its own changes as a delta with each reply:
//
//   actorstate::crdt_entity likes{"com.example.Likes", "likes"};
//   likes.on_command<Like, Count>("Like", [](const Like&, actorstate::crdt_context& ctx)
//                                             -> actorstate::outcome<Count> {
//          auto counter = ctx.state_or_create<actorstate::crdt::gcounter>();
//          counter.increment(1);
//          ctx.write_consistency(actorstate::crdt::write_consistency::majority);
//          Count reply;
//          reply.set_value(counter.value());
//          return reply;
//        })
//       .on_stream<Watch, Count>("Watch", [](const Watch&, actorstate::crdt_stream_context<Count>& ctx)
//                                             -> actorstate::outcome<Count> {
//          if (ctx.streamed())
//            ctx.on_change([](actorstate::crdt_change_context& change) -> actorstate::outcome<Count> {
//              Count now;
//              now.set_value(change.state<actorstate::crdt::gcounter>()->value());
//              return now;
//            });
//          return actorstate::no_reply;
//        });
//
// The CRDT's type is chosen by the handler, at run time: an entity has no state until a handler creates it
// (`state_or_create<T>`) or a delta from elsewhere brings it; its type never changes afterwards. The typed views
// (`crdt::gcounter`, `crdt::orset`, ...) read and mutate the state; each mutation is recorded in the delta the
// command's reply carries (at the write consistency the handler chose), unless the command fails: a `failure` or
// a handler that throws replies with the failure only (no state change, no side effects), the local state rolls
// back to what it was before the command, and the entity goes on serving. `ctx.delete_entity()` deletes the
// entity once the reply is out. Side effects and forwards work as for the other kinds (entity.hpp).
//
// Server-streaming methods (`on_stream`): the handler's reply is the call's first element (or none, with
// `no_reply`); if the call is streamed and the handler subscribed (`on_change`, `on_cancel`), the call stays open:
// `on_change` runs after every later change of the state (deltas from elsewhere and other commands' updates) and
// may answer an element, end the stream or ask for side effects; `on_cancel` runs when the client goes away and
// may change the state and ask for side effects. A failure from `on_change` (or one that throws) fails the stream.
//
// Elements, register values and map keys are `crdt::value`s: a serialized value and its type URL, compared byte-
// wise (equal values must serialize equally). Helpers make them from protobuf messages and from Cloudstate's
// primitive encodings ("p.cloudstate.io/string" etc.), which other Cloudstate support libraries use for plain
// strings and numbers.
//
// Threads: handlers run one at a time per entity instance, inside the instance's actor (or the user function's
// stream), and must not block. Views and contexts are valid only during the call they were handed to; callbacks
// get fresh ones.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "actorstate/detail/model.hpp"
#include "actorstate/entity.hpp"

namespace actorstate {

namespace detail {
struct crdt_node;
class crdt_instance;
}  // namespace detail

namespace crdt {

/// An element, register value or map key: a serialized value with its type URL.
using value = detail::any_bytes;

/// Byte-wise order of values (type URL, then payload): sets and maps keep their contents in this order.
struct value_less {
  bool operator()(const value& a, const value& b) const {
    return a.type != b.type ? a.type < b.type : a.payload < b.payload;
  }
};
inline bool same_value(const value& a, const value& b) {
  return a.type == b.type && a.payload == b.payload;
}

/// A protobuf message as a value ("type.googleapis.com/<full name>").
template <class Message>
value of_message(const Message& msg) {
  return {type_url(Message::descriptor()), msg.SerializeAsString()};
}
/// The message in `v`, if `v` holds one of type `Message` that parses.
template <class Message>
std::optional<Message> as_message(const value& v) {
  Message msg;
  if (v.type != type_url(Message::descriptor()) || !msg.ParseFromString(v.payload))
    return std::nullopt;
  return msg;
}

// Cloudstate's primitive encodings: type URL "p.cloudstate.io/<type>", payload a message whose field 1 holds the
// value (omitted when it is the default), i.e. the bytes of the matching google.protobuf wrapper.
value of_string(std::string_view s);
value of_bytes(std::string_view b);
value of_int32(int32_t i);
value of_int64(int64_t i);
value of_bool(bool b);
value of_float(float f);
value of_double(double d);
/// The primitive in `v`, if `v` has that primitive type and parses.
std::optional<std::string> as_string(const value& v);
std::optional<std::string> as_bytes(const value& v);
std::optional<int32_t> as_int32(const value& v);
std::optional<int64_t> as_int64(const value& v);
std::optional<bool> as_bool(const value& v);
std::optional<float> as_float(const value& v);
std::optional<double> as_double(const value& v);

enum class type { gcounter, pncounter, gset, orset, lww_register, flag, ormap, vote };
std::string_view to_string(type t);

enum class write_consistency { local, majority, all };

/// How the runtime times a register write. default_clock: its wall clock; reverse: earlier writes win; custom: the
/// given value; custom_auto_increment: the given value, or one more than the current clock if that is not greater.
enum class clock { default_clock, reverse, custom, custom_auto_increment };

/// What the typed views share: a handle to one CRDT of the entity's state (the root or an ORMap's value).
class view {
public:
  explicit view(detail::crdt_node* node) : node_(node) {}
  crdt::type type() const;

protected:
  detail::crdt_node* node_;
};

/// Grow-only counter.
class gcounter : public view {
public:
  static constexpr crdt::type kind = crdt::type::gcounter;
  using view::view;
  uint64_t value() const;
  void increment(uint64_t by);
};

/// Counter that goes up and down.
class pncounter : public view {
public:
  static constexpr crdt::type kind = crdt::type::pncounter;
  using view::view;
  int64_t value() const;
  void increment(int64_t by);
  void decrement(int64_t by);
};

/// Grow-only set.
class gset : public view {
public:
  static constexpr crdt::type kind = crdt::type::gset;
  using view::view;
  std::vector<crdt::value> elements() const;  ///< In value_less order.
  bool contains(const crdt::value& e) const;
  size_t size() const;
  /// False if `e` was there already.
  bool add(crdt::value e);
};

/// Observed-remove set.
class orset : public view {
public:
  static constexpr crdt::type kind = crdt::type::orset;
  using view::view;
  std::vector<crdt::value> elements() const;  ///< In value_less order.
  bool contains(const crdt::value& e) const;
  size_t size() const;
  bool add(crdt::value e);            ///< False if `e` was there already.
  bool remove(const crdt::value& e);  ///< False if `e` was not there.
  void clear();
};

/// Last-write-wins register. A register made by `state_or_create`/`get_or_create` holds no value (an empty type
/// and payload) until it is set; the creating `init` callback may set one.
class lww_register : public view {
public:
  static constexpr crdt::type kind = crdt::type::lww_register;
  using view::view;
  const crdt::value& value() const;
  /// Records a write unless it changes nothing (same value, and the same clock as this command's earlier write).
  void set(crdt::value v, crdt::clock c = crdt::clock::default_clock, int64_t custom_clock_value = 0);
};

/// A flag that can be switched on, never off.
class flag : public view {
public:
  static constexpr crdt::type kind = crdt::type::flag;
  using view::view;
  bool enabled() const;
  void enable();
};

/// This member's vote and the tally the runtime reports (a fresh vote: no, 0 for, 1 voter).
class vote : public view {
public:
  static constexpr crdt::type kind = crdt::type::vote;
  using view::view;
  bool self_vote() const;
  int32_t votes_for() const;
  int32_t total_voters() const;
  bool at_least_one() const { return votes_for() > 0; }
  bool majority() const { return votes_for() > total_voters() / 2; }
  bool all() const { return votes_for() == total_voters(); }
  void cast(bool in_favour);  ///< Sets this member's vote (Cloudstate's `vote(bool)`).
};

/// Any CRDT; `as<T>()` gives the typed view.
class any_crdt : public view {
public:
  using view::view;
  any_crdt(const view& v) : view(v) {}  // NOLINT: every view is an any_crdt
  /// The typed view; std::logic_error if the CRDT is of another type.
  template <class T>
  T as() const {
    check(T::kind);
    return T{node_};
  }

private:
  void check(crdt::type expected) const;
};

/// Observed-remove map from values to CRDTs (of any types, fixed per entry once created).
class ormap : public view {
public:
  static constexpr crdt::type kind = crdt::type::ormap;
  using view::view;
  std::vector<crdt::value> keys() const;  ///< In value_less order.
  bool contains(const crdt::value& key) const;
  size_t size() const;
  std::optional<any_crdt> get(const crdt::value& key) const;
  /// The entry's typed view (std::logic_error if it has another type), or a new entry of type T, which `init`
  /// may set up (its changes are part of the new entry).
  template <class T, class Init = void (*)(T&)>
  T get_or_create(
      const crdt::value& key, Init init = [](T&) {}) {
    bool created = false;
    T view{entry(key, T::kind, created)};
    if (created)
      init(view);
    return view;
  }
  bool remove(const crdt::value& key);  ///< False if there was no such entry.
  void clear();

private:
  detail::crdt_node* entry(const crdt::value& key, crdt::type t, bool& created);
};

}  // namespace crdt

namespace detail {

/// What every CRDT handler context shares: the entity, and read access to its state.
class crdt_context_base {
public:
  crdt_context_base(crdt_instance& instance, const std::string& entity_id)
      : instance_(instance), entity_id_(entity_id) {}

  const std::string& entity_id() const { return entity_id_; }
  /// The state; empty while the entity has none.
  std::optional<crdt::any_crdt> state() const;
  /// The state as T; empty while the entity has none, std::logic_error if it has another type.
  template <class T>
  std::optional<T> state() const {
    auto s = state();
    if (!s)
      return std::nullopt;
    return s->template as<T>();
  }

protected:
  crdt_instance& instance_;
  const std::string& entity_id_;
};

/// A context that may change the state (command handlers and stream cancellations).
class crdt_writing_context : public crdt_context_base, public side_effect_collector {
public:
  using crdt_context_base::crdt_context_base;

  /// The state as T, created (and set up by `init`) if the entity has none yet; std::logic_error if it has
  /// another type.
  template <class T, class Init = void (*)(T&)>
  T state_or_create(Init init = [](T&) {}) {
    bool created = false;
    T view{create_state(T::kind, created)};
    if (created)
      init(view);
    return view;
  }
  /// Deletes the entity (everywhere) once this call is answered; its state is gone from then on.
  void delete_entity() { delete_ = true; }
  /// How widely this call's changes are written before it is answered (local by default).
  void write_consistency(crdt::write_consistency wc) { consistency_ = wc; }

  bool deleted() const { return delete_; }
  crdt::write_consistency consistency() const { return consistency_; }

private:
  crdt_node* create_state(crdt::type t, bool& created);

  bool delete_ = false;
  crdt::write_consistency consistency_ = crdt::write_consistency::local;
};

}  // namespace detail

/// Context of a CRDT command handler.
class crdt_context : public detail::crdt_writing_context {
public:
  crdt_context(detail::crdt_instance& instance, const std::string& entity_id, int64_t command_id)
      : crdt_writing_context(instance, entity_id), command_id_(command_id) {}
  int64_t command_id() const { return command_id_; }

private:
  int64_t command_id_;
};

/// Context of `on_change`: reads the state (it must not change it), may end the stream and ask for side effects.
class crdt_change_context : public detail::crdt_context_base, public detail::side_effect_collector {
public:
  crdt_change_context(detail::crdt_instance& instance, const std::string& entity_id, int64_t command_id)
      : crdt_context_base(instance, entity_id), command_id_(command_id) {}
  int64_t command_id() const { return command_id_; }
  /// Ends the stream after this callback's answer (if any).
  void end_stream() { ended_ = true; }
  bool ended() const { return ended_; }

private:
  int64_t command_id_;
  bool ended_ = false;
};

/// Context of `on_cancel`: the client went away; may change the state and ask for side effects.
class crdt_cancel_context : public detail::crdt_writing_context {
public:
  crdt_cancel_context(detail::crdt_instance& instance, const std::string& entity_id, int64_t command_id)
      : crdt_writing_context(instance, entity_id), command_id_(command_id) {}
  int64_t command_id() const { return command_id_; }

private:
  int64_t command_id_;
};

namespace detail {

/// The type-erased subscription a streamed command's handler leaves behind.
struct crdt_subscription {
  std::function<handler_output(crdt_change_context&)> on_change;
  std::function<void(crdt_cancel_context&)> on_cancel;
};

}  // namespace detail

/// Context of a streamed (server-streaming) command's handler.
template <class Reply>
class crdt_stream_context : public crdt_context {
public:
  crdt_stream_context(detail::crdt_instance& instance, const std::string& entity_id, int64_t command_id, bool streamed,
                      detail::crdt_subscription& subscription)
      : crdt_context(instance, entity_id, command_id), streamed_(streamed), subscription_(subscription) {}

  /// Whether the caller streams (only then do subscriptions take effect; else the call ends with the reply).
  bool streamed() const { return streamed_; }

  /// `f(crdt_change_context&)` returns `outcome<Reply>`: an element (a reply or forward), `no_reply`, or a
  /// failure that fails the stream; runs after every later change of the state.
  template <class F>
  void on_change(F f) {
    subscription_.on_change = [f = std::move(f)](crdt_change_context& ctx) {
      detail::handler_output out;
      outcome<Reply> result = f(ctx);
      detail::set_reply(result, out);
      return out;
    };
  }
  /// `f(crdt_cancel_context&)` runs when the client cancels the call.
  template <class F>
  void on_cancel(F f) {
    subscription_.on_cancel = std::move(f);
  }

private:
  bool streamed_;
  detail::crdt_subscription& subscription_;
};

namespace detail {

/// One command's run of a handler: what the conversation hands in, and what the handler's context collected.
struct crdt_call {
  crdt_instance& instance;
  const std::string& entity_id;
  int64_t command_id;
  bool streamed;                                                         ///< The caller streams (Command.streamed).
  crdt_subscription subscription;                                        ///< Out: what a streamed handler subscribed.
  crdt::write_consistency consistency = crdt::write_consistency::local;  ///< Out.
};

/// Moves what `ctx` collected into the handler's output (side effects, delete) and `call` (consistency).
inline void collect(crdt_writing_context& ctx, handler_output& out, crdt_call& call) {
  out.side_effects = std::move(ctx.side_effects());
  out.delete_value = ctx.deleted();
  call.consistency = ctx.consistency();
}

/// One registered handler of a CRDT entity, type-erased.
struct crdt_handler {
  std::string output_type;  ///< Type URL of the method's reply.
  bool streams = false;     ///< Registered with on_stream.
  /// Parses the payload and runs the user's handler.
  std::function<handler_output(const std::string& payload, crdt_call& call)> run;
};

using crdt_handlers = std::map<std::string, crdt_handler>;

/// Opens the in-process conversation of one instance (crdt_entity.cpp).
std::unique_ptr<crdt_conversation> open_crdt_conversation(std::shared_ptr<const crdt_handlers> handlers,
                                                          std::string service_name, std::string entity_id,
                                                          crdt_sink sink);

}  // namespace detail

/// A CRDT entity type: one handler per method of its service.
class crdt_entity {
public:
  crdt_entity(std::string service_name, std::string persistence_id);

  /// Idle time after which an instance is passivated; overrides the node's default.
  crdt_entity& passivation_timeout(std::chrono::milliseconds timeout) {
    model_->settings.passivation_timeout = timeout;
    return *this;
  }

  /// `handler(const Request&, crdt_context&)` returns `outcome<Reply>` (or a `Reply`).
  template <class Request, class Reply, class F>
  crdt_entity& on_command(const std::string& method, F handler) {
    model_->methods[method] = {Request::descriptor(), Reply::descriptor()};
    auto& h = (*handlers_)[method];
    h.output_type = type_url(Reply::descriptor());
    h.streams = false;
    h.run = [f = std::move(handler)](const std::string& payload, detail::crdt_call& call) {
      detail::handler_output out;
      Request request;
      if (!detail::parse_request(request, payload, out))
        return out;
      crdt_context ctx{call.instance, call.entity_id, call.command_id};
      outcome<Reply> result = f(request, ctx);
      detail::set_reply(result, out);
      detail::collect(ctx, out, call);
      return out;
    };
    return *this;
  }

  /// Serves the server-streaming method `method`: `handler(const Request&, crdt_stream_context<Reply>&)` returns
  /// `outcome<Reply>`, the call's first element (`no_reply` for none).
  template <class Request, class Reply, class F>
  crdt_entity& on_stream(const std::string& method, F handler) {
    model_->methods[method] = {Request::descriptor(), Reply::descriptor(), true};
    auto& h = (*handlers_)[method];
    h.output_type = type_url(Reply::descriptor());
    h.streams = true;
    h.run = [f = std::move(handler)](const std::string& payload, detail::crdt_call& call) {
      detail::handler_output out;
      Request request;
      if (!detail::parse_request(request, payload, out))
        return out;
      crdt_stream_context<Reply> ctx{call.instance, call.entity_id, call.command_id, call.streamed, call.subscription};
      outcome<Reply> result = f(request, ctx);
      detail::set_reply(result, out);
      detail::collect(ctx, out, call);
      return out;
    };
    return *this;
  }

  std::shared_ptr<detail::model_base> model() const { return model_; }

private:
  std::shared_ptr<detail::crdt_model> model_;
  std::shared_ptr<detail::crdt_handlers> handlers_;
};

}  // namespace actorstate
