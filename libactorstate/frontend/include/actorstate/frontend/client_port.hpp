// One listening socket for every client protocol. Each accepted connection is told apart by its first bytes: the
// HTTP/2 connection preface ("PRI * HTTP/2.0...") goes to the `http2` hand-off (the frontend's HTTP/2 server, which
// passes plain-gRPC connections on to the gRPC server), anything else (HTTP/1.1: JSON transcoding, gRPC-web, CORS
// preflights) to the `http1` hand-off. The listener never blocks on a slow client: it polls
// the listening socket and the connections still being told apart in one thread, and drops a connection that has
// sent nothing it can decide on within `sniff_timeout`.
//
// When accept(2) fails for want of resources (EMFILE, ENFILE, ENOBUFS, ENOMEM) the queued connections stay queued
// and the listening socket stays readable, so retrying at once would spin: the listener stops watching the socket
// for a backoff that starts at 10 ms and doubles up to 1 s (reset by the next accepted connection), warns at most
// once every 5 s (with the number of failures it did not log), and `accept_healthy()` answers false until a
// connection is accepted again, so readiness can report it. Errors that concern one connection only (ECONNABORTED,
// EPROTO, network errors the kernel passes on) are skipped and the next connection is accepted.
//
// The management endpoint uses the same listener (both hand-offs to its HTTP server) for the same pacing.
//
// Thread rules: `open`, `start` and `stop` from one thread; the hand-offs run on the listener's thread and must
// not block. Each hand-off takes ownership of the socket. `accept_healthy` from any thread.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "actorstate/status.hpp"

namespace actorstate::frontend {

class client_port {
public:
  using handoff = std::function<void(int fd, const sockaddr* addr, socklen_t addr_len)>;

  /// `name` tells the port apart in log lines ("client", "management").
  explicit client_port(std::string name = "client") : name_(std::move(name)) {}
  ~client_port();
  client_port(const client_port&) = delete;
  client_port& operator=(const client_port&) = delete;

  /// Binds and listens on `bind`:`port` (0: a free port); returns the bound port. invalid_argument if `bind` is no
  /// numeric address, unavailable if the port cannot be bound or listened on.
  result<uint16_t> open(const std::string& bind, uint16_t port);

  /// Starts accepting; `http2` gets connections that open with the HTTP/2 preface, `http1` all others.
  void start(handoff http2, handoff http1, std::chrono::milliseconds sniff_timeout = std::chrono::seconds{10});

  /// Stops accepting and closes the listening socket and the connections not handed off yet.
  void stop();

  /// false while accepting fails for want of resources (out of file descriptors or memory): the port cannot take
  /// new clients although it is open. true again once a connection is accepted.
  bool accept_healthy() const { return !accept_failing_.load(std::memory_order_relaxed); }

private:
  void run(handoff http2, handoff http1, std::chrono::milliseconds sniff_timeout);

  std::string name_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  std::thread thread_;
  std::atomic<bool> accept_failing_{false};
};

}  // namespace actorstate::frontend
