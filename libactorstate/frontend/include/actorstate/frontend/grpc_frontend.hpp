// The client-facing server: gRPC, and on the same port HTTP/1.1 and the HTTP/2 connections gRPC cannot serve
// (frontend/client_port.hpp tells HTTP/1.1 and HTTP/2 apart; http/h2_server.hpp hands plain-gRPC connections to the
// gRPC server; http/http_server.hpp and http/h2_server.hpp serve JSON transcoding and gRPC-web through `call`). gRPC
// serves services that are only known at run time through `grpc::CallbackGenericService`: the method path selects a
// route (entity type + method), the request bytes are scanned once against the method's input descriptor to validate
// them and find the entity key (frontend/entity_key.hpp), and the command goes straight to its shard with a call slot
// (runtime/reply.hpp): the entity instance that produces the reply completes the call on its own thread. The reply
// bytes go back unchanged.
//
// Thread rules: routes are fixed before `start`; afterwards the route table is read-only and shared by gRPC's threads.
// Errors: unknown path → UNIMPLEMENTED; bytes that do not parse → INVALID_ARGUMENT; empty key → INVALID_ARGUMENT;
// streaming methods (not supported for entities yet) → UNIMPLEMENTED; over the size limit → RESOURCE_EXHAUSTED.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <caf/actor.hpp>

#include "actorstate/frontend/calls.hpp"
#include "actorstate/frontend/http_options.hpp"
#include "actorstate/runtime/drain_gate.hpp"
#include "actorstate/runtime/reply.hpp"
#include "actorstate/status.hpp"

namespace google::protobuf {
class FieldDescriptor;
class Message;
class MessageFactory;
class MethodDescriptor;
}  // namespace google::protobuf

namespace grpc {
class Server;
}  // namespace grpc

namespace actorstate::http {
class h2_server;
class http_server;
class transcoder;
}  // namespace actorstate::http

namespace actorstate::frontend {

class client_port;
class reflection;

class grpc_frontend final : public calls {
public:
  grpc_frontend(runtime::call_deadlines& deadlines, size_t max_message_size);
  ~grpc_frontend();

  /// Adds (or replaces) the route of `r.descriptor`, "/<service>/<method>". Returns invalid_argument naming the
  /// method or field if the method cannot be served (a keyed route without a usable entity key).
  status add_route(route r);

  /// Binds and starts serving gRPC, and HTTP/1.1 (JSON transcoding, gRPC-web) on the same port; returns the bound
  /// port. Fails with invalid_argument for an invalid google.api.http rule (naming the method) or bind address,
  /// unavailable if the port cannot be listened on or a server cannot start.
  result<uint16_t> start(const std::string& bind, uint16_t port, const http::http_options& http);

  /// Stops within `drain`, failing as few calls as it can. First it goes away: no new connection is accepted, and
  /// the clients' connections are closed as soon as they have no call left (HTTP/1.1: "Connection: close" on every
  /// answer, idle connections closed; HTTP/2 and gRPC: GOAWAY), while every call that arrives on them meanwhile is
  /// still served (a cluster member that has handed its shards over forwards them). Once no connection is left, or
  /// `drain` has passed, later calls are answered UNAVAILABLE, the calls still in flight are waited for within what
  /// is left of `drain`, and the servers stop (cancelling what still runs). A cancelled call (client gone, or
  /// cancelled here) finishes at once and stops counting as in flight; the runtime's late answer to it is dropped.
  void shutdown(std::chrono::milliseconds drain);

  /// false while the client port cannot accept connections (out of file descriptors or memory); for readiness.
  /// Any thread; true before `start`.
  bool accept_healthy() const;

  const route* find(const std::string& path) const override;
  const route* find(const google::protobuf::MethodDescriptor* method) const override;
  /// The route of a service and method name; null if none.
  const route* find(std::string_view service, std::string_view method) const;

  void call(const route& r, std::string payload, std::vector<metadata_entry> metadata,
            std::function<void(command_result)> done) override;
  /// Valid while the frontend lives.
  detail::call_router router() override;
  /// The same by service and method name; an unknown target answers UNIMPLEMENTED.
  void call(const std::string& service, const std::string& method, std::string payload,
            std::function<void(command_result)> done);

  /// The reflection service over the served services (after `start`).
  const reflection* reflection_service() const { return reflection_.get(); }

  bool begin_call() override;
  void end_call() override;

private:
  class service;
  /// Finds routes by name without building a path per call (forwards and side effects name their target).
  struct name_hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using by_name = std::unordered_map<std::string, route*, name_hash, std::equal_to<>>;

  runtime::call_deadlines& deadlines_;
  size_t max_message_size_;
  std::deque<route> routes_;  ///< Where the routes live (a deque never moves them); found through the two indexes.
  std::unordered_map<std::string, by_name, name_hash, std::equal_to<>> by_service_;
  std::unordered_map<const google::protobuf::MethodDescriptor*, const route*> by_method_;
  std::unique_ptr<service> service_;
  std::unique_ptr<reflection> reflection_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<http::transcoder> transcoder_;
  std::unique_ptr<http::http_server> http_;
  std::unique_ptr<http::h2_server> h2_;
  std::unique_ptr<client_port> port_;
  runtime::drain_gate calls_;  ///< Every call passes through it; shutdown closes it and waits.
};

}  // namespace actorstate::frontend
