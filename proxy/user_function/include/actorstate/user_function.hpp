// Serves entity types built with the C++ SDK (entity.hpp, crdt_entity.hpp) as a Cloudstate 0.2 user function: a gRPC
// server that a Cloudstate proxy discovers (`cloudstate.EntityDiscovery`) and then drives over one `handle` stream
// per entity instance (`cloudstate.eventsourced.EventSourced`, `cloudstate.valueentity.ValueEntity`,
// `cloudstate.crdt.Crdt`) and over
// `cloudstate.action.ActionProtocol`. The proxy owns persistence: the server keeps each instance's state only for
// the lifetime of its stream, rebuilt from what the proxy sends at init, and reports what to persist in each reply.
//
// Threads: `add`/`add_model` must happen before `start`. `start`, `stop` and `port` are thread-safe; `run` is
// called once, from the thread that owns the process's signals. Handlers run synchronously on gRPC's threads,
// one message at a time per stream, so a handler must not block for long. `start` blocks SIGINT and SIGTERM in
// the calling thread (and so in every thread created afterwards, gRPC's included) for `run` to take them, and
// ignores SIGPIPE.
//
// What can fail (`add`, `start`, `run`) logs why and returns a status that says what failed; a program's main turns
// a failed one into its exit code.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "actorstate/detail/model.hpp"
#include "actorstate/status.hpp"

namespace actorstate {

struct user_function_options {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;      ///< 0 picks a free port.
  std::string port_file;     ///< Written (atomically, tmp + rename) with the bound port once listening.
  std::string service_name;  ///< ServiceInfo.service_name reported at discovery (e.g. the program name).
  std::string service_version = "0.1.0";
  std::chrono::milliseconds drain_timeout{5000};  ///< Longest wait for open calls at shutdown.
  size_t max_message_size = 12 * 1024 * 1024;     ///< Largest message received or sent.
  std::string log_level;  ///< "debug", "info", "warn" or "error"; empty leaves the process's level alone.
};

class user_function_server {
public:
  explicit user_function_server(user_function_options opts);
  /// Stops serving (as `stop` + shutdown) if still running.
  ~user_function_server();
  user_function_server(const user_function_server&) = delete;
  user_function_server& operator=(const user_function_server&) = delete;

  /// Registers an entity type built with the SDK (anything with a `model()`).
  template <class Entity>
  status add(const Entity& entity) {
    return add_model(entity.model());
  }
  /// Validates the model as a node does (the service is linked, handler types match its methods, a persistence
  /// id for entities) plus what a proxy would reject at discovery (entity methods without an entity key or with
  /// streaming, except server streaming for CRDTs); on error logs why and returns invalid_argument (already_exists for
  /// a service registered twice, failed_precondition once the server has started).
  status add_model(std::shared_ptr<detail::model_base> model);

  /// Binds and starts serving. Fails (logged) with invalid_argument for an unknown log level, unavailable when the
  /// port or the port file cannot be had; later calls return the first call's status.
  status start();

  /// Calls `start` if needed, blocks until SIGTERM/SIGINT or `stop()`, then shuts down gracefully: open calls get
  /// up to `drain_timeout` to finish before they are cancelled. Returns ok after that, or `start`'s failure.
  status run();

  /// Requests shutdown; `run` returns once it is complete.
  void stop();

  /// The bound port (after a successful `start`), 0 before.
  uint16_t port() const;

  struct impl;

private:
  std::unique_ptr<impl> impl_;
};

}  // namespace actorstate
