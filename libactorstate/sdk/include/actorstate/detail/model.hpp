// Type-erased entity models: what the runtime's entity actors call. The typed SDK in entity.hpp builds these from
// user lambdas; the Cloudstate bridge builds others whose instances talk to a user function. Models are immutable after
// registration and shared by all instances of an entity type, so every method is const and thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "actorstate/messages.hpp"
#include "actorstate/status.hpp"

namespace google::protobuf {
class Descriptor;
class Message;
class MessageFactory;
class MethodDescriptor;
class ServiceDescriptor;
}  // namespace google::protobuf

namespace actorstate::runtime {
class instance_factory;
}  // namespace actorstate::runtime

namespace cloudstate::crdt {
class CrdtStreamIn;
class CrdtStreamOut;
}  // namespace cloudstate::crdt

namespace actorstate::detail {

/// A serialized protobuf message together with its type URL.
struct any_bytes {
  std::string type;  ///< "type.googleapis.com/<full message name>".
  std::string payload;
};

/// A call to another served service and method, made on the handler's behalf once its writes are durable.
struct effect_call {
  std::string service_name;  ///< Fully qualified gRPC service name.
  std::string method;
  any_bytes payload;         ///< The target method's request.
  bool synchronous = false;  ///< Side effects only: completes before the reply or forward leaves.
};

/// What a command handler produced: a reply, a forward, a failure or (actions only) no reply, plus (for stateful
/// kinds) what to persist.
struct handler_output {
  actorstate::status status;  ///< ok, unknown (user failure), invalid_argument, unimplemented or internal.
  std::string reply;  ///< Serialized reply when ok.
  /// Actions, when ok and not forwarded: the handler answered nothing. A streamed call then sends no element; a
  /// unary caller gets the reply type's empty message (the protocol leaves that case open).
  bool no_reply = false;
  std::vector<any_bytes> events;       ///< Event-sourced: events to persist, in order.
  std::optional<any_bytes> new_value;  ///< Value entity: state to store.
  bool delete_value = false;           ///< Value entity: delete the stored state.

  /// When ok: the caller gets whatever this call replies, instead of `reply`.
  std::optional<effect_call> forward;
  /// Calls to make after the writes, in order; entities produce none on failure, actions may.
  std::vector<effect_call> side_effects;
  /// Headers for the client's response (user functions may set them on a reply).
  std::vector<metadata_entry> metadata;
};

/// Settings every stateful kind shares; zero/empty means "use the node default".
struct entity_settings {
  std::chrono::milliseconds passivation_timeout{0};
};

enum class entity_kind { event_sourced, value, crdt, action };

std::string_view to_string(entity_kind kind);

/// The request and reply types a handler was registered with; checked against the service definition.
struct method_signature {
  const google::protobuf::Descriptor* input = nullptr;
  const google::protobuf::Descriptor* output = nullptr;
  bool streamed = false;  ///< Registered as a stream handler; must match the method's streaming flags.
};

struct model_base;

/// Checks the registered handlers against `model.service` (resolved): each names a method of the service, with its
/// request and reply types, registered for streams exactly when the method streams. Methods without a handler are
/// logged; calls to them fail with UNIMPLEMENTED. A mismatch is `invalid_argument`, naming the method.
status check_handlers(const model_base& model);

/// What a node and a user-function server check before they take a model: its service among the linked protobuf
/// descriptors (resolved here if the model has none yet; a user function's models from discovery arrive resolved),
/// a persistence id for an entity type, no second model for the same service (`service_taken`), then
/// `check_handlers`. `invalid_argument` or `already_exists`, naming the service.
status check_model(model_base& model, bool service_taken);

/// Common part of all models.
struct model_base {
  entity_kind kind;
  std::string service_name;    ///< Fully qualified gRPC service name; the entity type.
  std::string persistence_id;  ///< Prefix of journal/value keys; empty for actions.
  entity_settings settings;
  const google::protobuf::ServiceDescriptor* service = nullptr;  ///< Resolved when the node registers the model.
  std::map<std::string, method_signature> methods;               ///< Method name -> registered handler types.

  // Extension points for entity types whose code runs elsewhere (the Cloudstate bridge); native SDK models leave
  // them empty.
  /// Makes request prototypes for the frontend; null: the generated factory (compiled-in services).
  google::protobuf::MessageFactory* message_factory = nullptr;
  /// Spawns instances; null: the runtime's own actor for `kind`.
  /// Defined by the runtime (runtime/entity_actor.hpp): this header stays free of the actor framework.
  std::shared_ptr<const runtime::instance_factory> spawn_instance;

  explicit model_base(entity_kind k) : kind(k) {}
  virtual ~model_base() = default;
};

/// Event-sourced entity: state is a protobuf message that doubles as the snapshot.
struct event_sourced_model : model_base {
  event_sourced_model() : model_base(entity_kind::event_sourced) {}
  int64_t snapshot_every = 0;  ///< 0: never snapshot.

  /// A fresh, empty state.
  std::function<std::unique_ptr<google::protobuf::Message>()> make_state;
  /// Runs the handler of `method` against `state`; `events` in the output are not yet applied.
  std::function<handler_output(const google::protobuf::Message& state, const std::string& entity_id,
                               const std::string& method, const std::string& payload)>
      handle;
  /// Applies one event; a non-ok status (`invalid_argument`: unknown type, bad bytes) if it cannot be applied.
  std::function<status(google::protobuf::Message& state, const any_bytes& event)> apply;
};

/// Value entity: state is a protobuf message stored whole on every update.
struct value_model : model_base {
  value_model() : model_base(entity_kind::value) {}
  std::function<std::unique_ptr<google::protobuf::Message>()> make_state;
  std::function<handler_output(const google::protobuf::Message* state, const std::string& entity_id,
                               const std::string& method, const std::string& payload)>
      handle;
};

/// The handler side of one CRDT entity instance, spoken to in the Cloudstate CRDT protocol (cloudstate/crdt.proto):
/// the runtime keeps the replicated state (merging, clocks, replication between members) and sends `CrdtStreamIn`
/// messages: `init` first (the whole state as a delta from empty, or no delta when there is none), then commands
/// (each with its own id; `streamed` for a server-streaming method), deltas of changes made elsewhere, stream
/// cancellations and `delete`. The handler side keeps only the value its handlers see and answers through the sink
/// it was opened with: a reply per command (with at most one state action: an update as a delta, or delete, at a
/// write consistency), streamed messages of streamed commands, a response per stream cancellation, or a failure.
/// The native SDK answers in-process; the Cloudstate bridge relays to a user function over gRPC. One protocol
/// serves both, so the runtime's side of it (libactorstate/crdt) exists once.
///
/// Thread rules: `send` and `close` are called from one thread at a time (the entity's actor); the sink may be
/// called from any thread, including from inside `send`, and keeps the order of the messages.
class crdt_conversation {
public:
  virtual ~crdt_conversation() = default;
  virtual void send(const cloudstate::crdt::CrdtStreamIn& in) = 0;
  /// The runtime is done with this instance (passivation, restart, delete, shutdown): nothing more is sent, and the
  /// sink is not called once `close` has returned.
  virtual void close() = 0;
};

/// Where a CRDT conversation's answers go, from any thread.
struct crdt_sink {
  std::function<void(cloudstate::crdt::CrdtStreamOut out)> message;
  /// The handler side ended the conversation on its own: ok when it completed it, else why it broke (a user
  /// function's stream that failed). Not called after `close`.
  std::function<void(actorstate::status why)> ended;
};

/// CRDT entity: not sharded; every member that is asked runs its own replica, and replicas converge.
struct crdt_model : model_base {
  crdt_model() : model_base(entity_kind::crdt) {}
  /// Opens the handler side of the instance `entity_id`.
  std::function<std::unique_ptr<crdt_conversation>(const std::string& entity_id, crdt_sink sink)> open;
  /// Told (besides the log) of a protocol error of the handler side, or a forward or side effect that could not be
  /// delivered; a user function hears of it this way (reportError). May be empty.
  std::function<void(const std::string& message)> report_error;
};

/// One streamed action call (client-, server- or bidi-streaming method) in progress. Thread-safe.
class action_stream {
public:
  virtual ~action_stream() = default;
  virtual void send(std::string payload) = 0;  ///< One message from the client.
  virtual void half_close() = 0;               ///< The client sent its last message.
  virtual void cancel() = 0;                   ///< The client went away, or the call ended early.
};

/// Where a streamed call's handlers report, from any thread: responses in order (each a reply, forward, failure or
/// nothing, with side effects: Cloudstate's ActionResponse), then exactly one end. A failure response does not end
/// the stream by itself; whoever runs the responses decides (the runtime ends the client's call with it).
struct action_response_sink {
  std::function<void(handler_output response)> response;
  std::function<void(command_result end)> end;  ///< ok, or why the handlers' side broke (unavailable, ...).
};

/// Where the runtime reports a streamed call to its client, from any thread: elements, then exactly one end.
struct action_stream_sink {
  std::function<void(std::string payload)> element;
  std::function<void(command_result end)> end;  ///< ok, or the status that fails the call.
};

/// Routes a call like a client's (for forwards and side effects inside streams).
using call_router = std::function<void(const std::string& service, const std::string& method, std::string payload,
                                       std::function<void(command_result)> done)>;

/// Stateless action.
struct action_model : model_base {
  action_model() : model_base(entity_kind::action) {}
  std::function<handler_output(const std::string& method, const std::string& payload)> handle;
  /// Asynchronous alternative to `handle`: must call `done` exactly once, from any thread.
  std::function<void(command cmd, std::function<void(handler_output)> done)> handle_async;
  /// Told (besides the log) when a forward or side effect of this action cannot be delivered; user functions
  /// hear about it this way (reportError).
  std::function<void(const std::string& message)> report_error;
  /// Opens a streamed call of `method` (one of `service`'s streaming methods); empty when the action has none. The
  /// runtime executes the responses (runtime/action_streams.hpp).
  std::function<std::shared_ptr<action_stream>(const google::protobuf::MethodDescriptor* method,
                                               std::vector<metadata_entry> metadata, action_response_sink sink)>
      open_stream;
};

}  // namespace actorstate::detail
