// A node: one actor system serving registered entity types to gRPC clients, with its persistence store, a
// management endpoint (/alive, /ready, /metrics) and clean shutdown on SIGTERM/SIGINT (stop accepting, finish
// in-flight commands, flush the store).
//
// Typical use from main(): parse options with `parse_node_options` (flags > environment > config file > defaults;
// main returns its exit code after --help or a bad flag), `add` entity types, then `run()`, which blocks until a
// signal arrives or `stop()` is called. `add` must happen before `run`/`start`. `start`, `stop` and `invoke` are
// thread-safe; `run` is called once. What can fail (`add`, `open`, `serve`, `start`, `run`) returns a status that
// says what failed, and logs it too; main turns a failed one into its exit code.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "actorstate/detail/model.hpp"
#include "actorstate/messages.hpp"
#include "actorstate/persistence/store.hpp"
#include "actorstate/status.hpp"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace actorstate {

struct node_options {
  std::string bind = "0.0.0.0";
  uint16_t port = 9000;             ///< Client-facing port (gRPC, gRPC-web, HTTP/JSON); 0 picks a free port.
  uint16_t management_port = 9099;  ///< /alive, /ready, /metrics; 0 picks a free port.
  std::string port_file;            ///< Where to write the chosen client port (for tests with port 0).
  std::string data_dir = "./actorstate-data";
  std::string store;  ///< "memory", "sqlite:PATH"; empty: sqlite:<data_dir>/actorstate.db.
  std::string sqlite_synchronous = "FULL";
  bool sqlite_quick_check = true;  ///< Check the whole SQLite file when opening it (see persistence::store_options).
  std::chrono::milliseconds passivation_timeout{30000};
  size_t max_active_entities = 100000;  ///< Per entity type; least recently used instances are passivated first.
  uint32_t shards = 128;                ///< Shards: the unit of ownership (a stable hash of the entity id picks one).
  std::chrono::milliseconds command_timeout{60000};  ///< A command not answered by then fails DEADLINE_EXCEEDED.
  std::chrono::milliseconds drain_timeout{10000};    ///< Longest wait at shutdown for calls, then for entities.
  /// How long a command's idempotency key is honoured (docs/architecture.md, "Retries and idempotency keys"); 0: keys
  /// are ignored and not stored.
  std::chrono::milliseconds idempotency_retention{std::chrono::hours{24}};
  size_t max_message_size = 12 * 1024 * 1024;
  std::vector<std::string> cors_allow_origins;  ///< Browser origins allowed to call ("*": any); none by default.
  std::string log_level = "info";
  size_t scheduler_threads = 0;  ///< CAF worker threads; 0: one per core (at least 2).
  // Clustering (docs/cluster.md); the node runs alone when `cluster` is empty.
  std::string cluster;           ///< The cluster's name; members share it and the store.
  uint16_t cluster_port = 9300;  ///< Node-to-node port (CAF remoting); 0 picks a free one.
  std::string advertise_host;    ///< What other members dial; default the bind address, or the host's address.
  std::string node_id;           ///< This member's name; default host name plus a random suffix.
  std::chrono::milliseconds failure_timeout{3000};  ///< A member silent this long is dead; its shards move.
  /// A seam for tests: wraps the opened store (e.g. in a persistence::faulty_store) before the node uses it.
  std::function<std::shared_ptr<persistence::store>(std::shared_ptr<persistence::store>)> wrap_store;

  /// The store URI after applying the defaults.
  std::string store_uri() const;
};

/// Helpers for programs that add flags of their own in the same style as `node_flags`.
namespace flags {
using env_list = std::vector<std::pair<CLI::Option*, std::string>>;
/// Sets each option from its environment variable unless the command line gave it, so the environment overrides a
/// config file but not a flag.
void apply_environment(const env_list& options, int argc, char** argv);
/// Parses a duration ("100ms", "30s", "2m"); throws CLI::ValidationError naming `flag`.
std::chrono::milliseconds duration(const std::string& flag, const std::string& text);
}  // namespace flags

/// The node's flags on a CLI11 app, for programs that add flags of their own. Construct before `app.parse`, call
/// `apply` after it. Every flag has an environment variable (shown in --help); `--config FILE` (TOML or INI, keys
/// are flag names) is registered too. Precedence: flag > environment > config file > default.
class node_flags {
public:
  node_flags(CLI::App& app, node_options& opts);
  /// Applies environment overrides and converts durations and sizes; throws CLI::ValidationError on bad values.
  void apply(int argc, char** argv);

private:
  node_options& opts_;
  flags::env_list env_;
  std::string passivation_timeout_ = "30s";
  std::string command_timeout_ = "60s";
  std::string drain_timeout_ = "10s";
  std::string idempotency_retention_ = "24h";
  std::string max_message_size_ = "12MiB";
  std::string failure_timeout_ = "3s";
};

/// What `parse_node_options` made of argv: the options to run with, or the code the program exits with at once.
struct parsed_node_options {
  node_options options;
  /// Set when the program must not start a node: 0 after --help (CLI11 printed the usage), CLI11's non-zero code
  /// after a bad flag or value (CLI11 printed the error). main returns it; the library never exits the process.
  std::optional<int> exit_code;
};

/// Parses argv for a program that only has node flags (flags > environment > config file > defaults):
///
///     auto parsed = actorstate::parse_node_options(argc, argv, "my node");
///     if (parsed.exit_code)
///       return *parsed.exit_code;
///     actorstate::node node{std::move(parsed.options)};
parsed_node_options parse_node_options(int argc, char** argv, const std::string& description);

class node {
public:
  explicit node(node_options options);
  ~node();
  node(const node&) = delete;
  node& operator=(const node&) = delete;

  /// Registers an entity type built with the SDK (anything with a `model()`), or a model directly. A model the node
  /// cannot take is logged and refused: invalid_argument (service not linked, handler type mismatch, missing
  /// persistence id), already_exists (service registered twice) or failed_precondition (the node already serves).
  template <class Entity>
  status add(const Entity& entity) {
    return add_model(entity.model());
  }
  status add_model(std::shared_ptr<detail::model_base> model);

  /// Opens the store, starts the actor system, the gRPC frontend and the management endpoint (`open` + `serve`).
  /// If any of them cannot start, logs why and returns the status of `open` or `serve`.
  status start();

  /// The first half of `start`: the management endpoint (not ready yet), the store and the actor system. Entity
  /// types may still be added afterwards, e.g. once a user function has told which it has. Fails with the store's
  /// code ("cannot open the store: ..."; unavailable, data_loss or invalid_argument) or the management endpoint's
  /// (invalid_argument for a bind address it cannot parse, unavailable). Later calls return the first call's status.
  status open();
  /// The second half: spawns the regions of all added entity types and opens the client-facing port (`open`s
  /// first if needed). Fails with invalid_argument for an entity type that cannot be served (a method without a
  /// usable entity key, an invalid google.api.http rule) or a bind address it cannot parse, unavailable when the
  /// port, a server or the port file cannot be had. Later calls return the first call's status.
  status serve();
  /// Whether `stop()` was requested or a signal arrived (for callers that wait for something before `serve`).
  bool stopping();

  /// Blocks until SIGTERM/SIGINT or `stop()`, then shuts down cleanly and returns ok. Calls `start()` first if
  /// needed; if that fails, shuts down what did start and returns its status.
  status run();

  /// Requests shutdown; `run()` returns once it is complete.
  void stop();

  /// Sends a command to an entity without going through gRPC (for in-process callers and tests). `done` runs once,
  /// on the node's completion thread (never on the entity's), one completion at a time: it must not block. It may
  /// call `invoke` again. Completions still queued when the node stops run before `run()` returns. A call that
  /// fails at once (unknown service, node not serving) runs `done` on the calling thread before `invoke` returns.
  void invoke(const std::string& service_name, command cmd, std::function<void(command_result)> done);

  /// Ports actually bound (after `start`).
  uint16_t port() const;
  uint16_t management_port() const;

  struct impl;

private:
  std::unique_ptr<impl> impl_;
};

}  // namespace actorstate
