// The node-to-node transport of a cluster: one member calls another over CAF remoting (caf::io, BASP). It carries
// forwarded client calls and their results, nothing else: who the members are and which one owns a shard is decided
// elsewhere (the store, placement, routing); this layer only reaches an address.
//
// Contract:
//  - `transport::start` publishes one gateway actor on `bind:port` (0: the OS picks; `port()` reports it). Every
//    inbound call reaches the `inbound` handler given at start, with a reply function.
//  - `call(peer, call, deadline, done)` sends a call to the member at `peer` ("host:port", "[v6]:port"). The transport
//    keeps one connection per peer, dials it on demand (the first call, and the first call after it was lost) with
//    `connect_timeout` (never through CAF's blocking `remote_actor`/`connect`: an unreachable host must not hold up
//    dials to others), and watches it: a peer that stops answering CAF's heartbeats, closes the connection or stops
//    its transport is *lost*, and `peer_lost` is told once per loss.
//  - Every call ends exactly once, through `done`: with the peer's result; UNAVAILABLE when the peer cannot be
//    reached, is lost with the call in flight, the call was forwarded `max_hops` times already, or the transport
//    stops; DEADLINE_EXCEEDED at `deadline`; INVALID_ARGUMENT for an address that is not "host:port". (CAF 0.17 never
//    fails an in-flight request when a node is lost and drops messages to a dead proxy silently, so the transport
//    keeps every call until one of these ends it.)
//  - Each call counts a hop: the receiving member sees `hops` one higher than the sender passed, so a call bounced
//    between members that disagree on an owner ends after `max_hops` forwards instead of looping.
//  - Node identity: CAF 0.17 derives a node's id from its MAC addresses, root file system UUID and pid, so two
//    sidecar containers in one network namespace (both pid 1) get the same id and cannot talk. `configure_remoting`
//    replaces it with a random one (docs/cluster.md, "Transport"); a peer that still has this node's id is refused
//    with a message that says so.
//
// Thread rules: `call`, `port` from any thread. `done`, `inbound` and `peer_lost` run on CAF worker threads and must
// not block; `done` may run before `call` returns (bad address, hop limit, stopped transport). The reply function an
// inbound handler gets may be called from any thread, once; a reply function dropped without a call answers
// UNAVAILABLE; call or drop it before the actor system is destroyed (it holds a handle into it). `stop` (and the
// destructor) must not run on an actor thread or in a callback of this transport, and must run before the actor
// system is destroyed: the system waits for the transport's actors, which only `stop` ends.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "actorstate/messages.hpp"
#include "actorstate/status.hpp"

namespace caf {
class actor_system;
class actor_system_config;
}  // namespace caf

namespace actorstate::cluster {

/// A client call one member forwards to another: what the first member's client port made of the request.
struct cluster_call {
  std::string service;  ///< The full service name, e.g. "com.example.shoppingcart.ShoppingCart".
  /// The entity id (already scanned from the request by the first member, so the next one routes without a second
  /// scan; empty for actions), the method, the request bytes and the request headers.
  command cmd;
  uint32_t hops = 0;  ///< How many times the call was forwarded before; `call` counts it up on the way.
  /// Inbound only: how long the caller was still willing to wait when the call left it (the time on the wire is
  /// not taken off; clocks of two hosts are not compared). Set by the transport; ignored by `call`.
  std::chrono::milliseconds time_left{0};
};

/// CAF's remoting settings every member must share (a member without heartbeats is declared lost by its peers).
struct remoting_options {
  /// How often BASP sends a heartbeat on an idle connection. Keep it well above the time a connect and a BASP
  /// handshake take (CAF 0.17 kills an outgoing connection whose handshake has not arrived by the next tick), and
  /// below every member's `connection_timeout`.
  std::chrono::milliseconds heartbeat_interval{250};
  /// A connection silent for this long is closed and its peer lost; a hung peer is noticed after between this and
  /// this plus `heartbeat_interval`. Must exceed `heartbeat_interval`.
  std::chrono::milliseconds connection_timeout{1000};
};

/// Prepares an actor system's configuration for the transport, before the system is built: loads caf::io's
/// middleman and the node-id module, registers the transport's message types and sets the middleman's settings
/// (heartbeats, no BASP worker threads, actorstate's application id). INVALID_ARGUMENT for inconsistent options.
status configure_remoting(caf::actor_system_config& cfg, const remoting_options& opts = {});

struct transport_options {
  std::string bind = "0.0.0.0";  ///< The address the gateway listens on.
  uint16_t port = 0;             ///< 0: the OS picks one (`transport::port`).
  /// The longest a dial (TCP connect and BASP handshake) may take before the calls waiting for it fail.
  std::chrono::milliseconds connect_timeout{2000};
  uint32_t max_hops = 3;  ///< A call already forwarded this many times is not forwarded again.
  /// Calls to one peer that queue up behind each other travel as one BASP message, and so do results to one peer:
  /// 1.6-4.5x the throughput with 16-256 calls in flight, the same sequential round trip (docs/cluster.md). Off only
  /// to measure without it.
  bool batching = true;
  /// Answers one inbound call: call the reply function once, from any thread.
  std::function<void(cluster_call, std::function<void(command_result)>)> inbound;
  /// A peer this transport had connected to was lost (address as given to `call`, and why).
  std::function<void(const std::string& peer, const status& why)> peer_lost;
};

class transport {
public:
  using clock = std::chrono::steady_clock;

  /// Publishes the gateway on an actor system prepared with `configure_remoting`. FAILED_PRECONDITION when it was
  /// not, UNAVAILABLE when the port cannot be opened, INVALID_ARGUMENT without an inbound handler.
  static result<std::unique_ptr<transport>> start(caf::actor_system& sys, transport_options opts);

  ~transport();
  transport(const transport&) = delete;
  transport& operator=(const transport&) = delete;

  /// The port the gateway listens on.
  uint16_t port() const;

  /// Sends `call` to the member at `peer`; `done` hears its one outcome (see the contract above).
  void call(const std::string& peer, cluster_call call, clock::time_point deadline,
            std::function<void(command_result)> done);

  /// Whether a plain TCP connection to `address` ("host:port") opens within `within`: a member checks its own
  /// advertised address with it at start-up, so an address the others could not dial is refused with a clear message
  /// instead of taking shards nobody can forward to. Blocks up to `within`; any thread but an actor's. UNAVAILABLE
  /// naming why not, INVALID_ARGUMENT for an address that is not "host:port".
  static status probe(const std::string& address, std::chrono::milliseconds within);

  /// Whether a call's outcome says it never reached the peer (the dial failed), so sending it again elsewhere or
  /// later cannot run it twice. A call lost with its connection may have run: that is not `never_sent`.
  static bool never_sent(const status& outcome);
  /// The answer to an inbound call that this member refused without running it (it is shutting down): `never_sent`
  /// is true for it at the caller, which may then send the command elsewhere. `why` names the member and the reason.
  static status not_run(const std::string& why);

  /// Closes the port, fails every call still open with UNAVAILABLE and ends the transport's actors (waiting a
  /// bounded time for them). Idempotent.
  void stop();

  struct impl;

private:
  explicit transport(std::unique_ptr<impl> impl);
  std::unique_ptr<impl> impl_;
};

}  // namespace actorstate::cluster
