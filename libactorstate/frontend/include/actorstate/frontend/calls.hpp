// What a client-facing server needs from the frontend: the routes (a served method and the region its calls go to)
// and one way to start a call. The gRPC server implements it (frontend/grpc_frontend.hpp) and owns the HTTP server,
// which sees only this interface: HTTP depends on the call path, not on the gRPC server, so the two do not include
// each other.
//
// Thread rules: routes are fixed before serving starts and read-only afterwards; every method may be called from any
// thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actorstate/detail/model.hpp"
#include "actorstate/messages.hpp"
#include "actorstate/runtime/shard_region.hpp"

namespace google::protobuf {
class FieldDescriptor;
class MessageFactory;
class MethodDescriptor;
}  // namespace google::protobuf

namespace actorstate::frontend {

struct route {
  std::shared_ptr<const runtime::region> region;
  std::string method;  ///< Simple method name, as the entity's handlers know it.
  const google::protobuf::MethodDescriptor* descriptor = nullptr;
  google::protobuf::MessageFactory* factory = nullptr;  ///< Makes the method's messages (HTTP transcoding).
  std::vector<const google::protobuf::FieldDescriptor*> key_fields;
  bool keyed = true;  ///< false for actions: no entity key.
  /// Streamed methods: opens the call (set for actions that stream); unary methods leave it empty.
  std::function<std::shared_ptr<detail::action_stream>(std::vector<metadata_entry> metadata,
                                                       detail::action_stream_sink sink, detail::call_router route)>
      open_stream;
};

class calls {
public:
  /// The route of "/<service>/<method>", or of a method; null if none.
  virtual const route* find(const std::string& path) const = 0;
  virtual const route* find(const google::protobuf::MethodDescriptor* method) const = 0;

  /// Routes one call (request scanned, entity key extracted, sent to its shard); `done` runs once, on the thread of
  /// the actor that answers (or the deadline thread).
  virtual void call(const route& r, std::string payload, std::vector<metadata_entry> metadata,
                    std::function<void(command_result)> done) = 0;
  /// `call` by service and method name, as forwards and side effects name their target.
  virtual detail::call_router router() = 0;

  /// Every call counts itself in and out, so that shutdown can drain them. `begin_call` returns false once draining
  /// started: the call is then answered UNAVAILABLE and is not counted, so it must not call `end_call` (refused calls
  /// must not hold the drain up: a busy client's stream of them would keep the count above zero until the timeout).
  virtual bool begin_call() = 0;
  virtual void end_call() = 0;

protected:
  ~calls() = default;
};

}  // namespace actorstate::frontend
