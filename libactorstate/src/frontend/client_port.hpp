// One listening socket for every client protocol. Each accepted connection is told apart by its first bytes: the
// HTTP/2 connection preface ("PRI * HTTP/2.0...") goes to the gRPC server, anything else (HTTP/1.1: JSON
// transcoding, gRPC-web, CORS preflights) to the HTTP server. The listener never blocks on a slow client: it polls
// the listening socket and the connections still being told apart in one thread, and drops a connection that has
// sent nothing it can decide on within `sniff_timeout`.
//
// Thread rules: `open`, `start` and `stop` from one thread; the hand-offs run on the listener's thread and must
// not block. Each hand-off takes ownership of the socket.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

namespace actorstate::frontend {

class client_port {
public:
  using handoff = std::function<void(int fd, const sockaddr* addr, socklen_t addr_len)>;

  client_port() = default;
  ~client_port();
  client_port(const client_port&) = delete;
  client_port& operator=(const client_port&) = delete;

  /// Binds and listens on `bind`:`port` (0: a free port); returns the bound port, or 0 with `error` set.
  uint16_t open(const std::string& bind, uint16_t port, std::string& error);

  /// Starts accepting; `http2` gets connections that open with the HTTP/2 preface, `http1` all others.
  void start(handoff http2, handoff http1, std::chrono::milliseconds sniff_timeout = std::chrono::seconds{10});

  /// Stops accepting and closes the listening socket and the connections not handed off yet.
  void stop();

private:
  void run(handoff http2, handoff http1, std::chrono::milliseconds sniff_timeout);

  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  std::thread thread_;
};

}  // namespace actorstate::frontend
