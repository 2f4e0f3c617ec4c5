// The HTTP/2 side of the client port (frontend/client_port.hpp hands it every connection that opens with the
// HTTP/2 preface). gRPC C++ serves plain gRPC only: it refuses a gRPC-web call ("Missing :te header") or a JSON
// request. So each connection's first request decides who serves it:
//   - plain gRPC ("application/grpc[+...]") → the gRPC server gets the socket, with every byte still unread;
//   - anything else (gRPC-web, HTTP/JSON, a CORS preflight) → this server, on nghttp2, which serves every request of
//     the connection through an exchange (http/exchange.hpp), plain gRPC included.
// The bytes up to that first request are only peeked at (MSG_PEEK), and nghttp2 parses them. Before anything else
// the server sends an empty SETTINGS frame: gRPC clients (gRPC C++, Go, Java) wait for the server's SETTINGS before
// they send their first request, so without it they would never say what they are. An empty SETTINGS changes no
// setting, so the gRPC server's own SETTINGS that follow are the ones in force; gRPC's transport takes the client's
// acknowledgement of the extra frame like any other. A connection whose first request has not arrived within
// `probe_timeout` (an idle gRPC channel), or whose bytes before it exceed what one peek sees, goes to the gRPC server.
//
// Going away (`go_away`, at shutdown once no new connection can arrive): each connection gets a GOAWAY naming the
// last request it will serve (RFC 9113 §6.8), so the client sends later requests on a new connection (to another
// member of a cluster) and retries any it sent meanwhile, which were not processed; the requests already under way
// are served, and each connection is closed once it has none. A connection whose first request has not arrived yet
// is closed at once.
//
// Thread rules: built and started on one thread; `add_connection` from the port's listener thread. One thread runs
// every connection (nghttp2 sessions are single-threaded); answers arrive from the runtime's threads and are posted
// to it. `go_away` and `open_connections` from any thread. `stop` closes every connection and cancels the calls
// still running; the gRPC hand-off runs on the server's thread and must not block.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>

#include "actorstate/frontend/http_options.hpp"
#include "actorstate/status.hpp"

namespace actorstate::frontend {
class calls;
}  // namespace actorstate::frontend

namespace actorstate::http {

class transcoder;

class h2_server {
public:
  using grpc_handoff = std::function<void(int fd)>;

  /// `fe` routes the calls and `tc` transcodes them; both must outlive the server. `to_grpc` takes the sockets of
  /// plain-gRPC connections.
  h2_server(frontend::calls& fe, const transcoder& tc, http_options opts, grpc_handoff to_grpc,
            std::chrono::milliseconds probe_timeout = std::chrono::seconds{10});
  ~h2_server();
  h2_server(const h2_server&) = delete;
  h2_server& operator=(const h2_server&) = delete;

  /// Starts the server's thread; unavailable if it cannot.
  status start();

  /// Serves one accepted connection (non-blocking, the preface not consumed); takes ownership of `fd`.
  void add_connection(int fd);

  /// Sends every connection a GOAWAY and closes each once its requests are answered (see above).
  void go_away();
  /// Connections this server still serves (not those handed to the gRPC server).
  size_t open_connections() const;

  void stop();

  struct impl;

private:
  std::shared_ptr<impl> impl_;
};

}  // namespace actorstate::http
