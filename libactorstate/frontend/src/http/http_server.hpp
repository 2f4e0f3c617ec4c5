// The HTTP/1.1 side of the client port (frontend/client_port.hpp hands it the connections that are not HTTP/2),
// on libmicrohttpd: it gathers each request and serves it through an exchange (http/exchange.hpp: transcoding,
// gRPC-web, CORS).
//
// Framing: a request whose body length is ambiguous (RFC 9112 §6.3: Content-Length values that disagree or are not
// digits, Content-Length with Transfer-Encoding, a Transfer-Encoding other than one "chunked", a header name that
// is not a token) is answered 400 and its connection closed before its body is read, so nothing after it on the
// connection runs as a request of its own (request smuggling).
//
// Going away (`go_away`, at shutdown once no new connection can arrive): requests keep being served, but every
// answer from then on says "Connection: close" and its connection is closed after it, and connections between
// requests are closed at once, so clients move on (to another member of a cluster) while nothing in flight fails.
// A client that sent a request on an idle connection just as it was closed sees it closed without an answer, the
// same race as an idle timeout, which HTTP clients retry (RFC 9112 §9.3.1).
//
// Thread rules: built and started on one thread; `add_connection` from the port's listener thread; requests run
// on libmicrohttpd's threads and wait for the runtime without blocking them (the connection is suspended until
// the answer arrives, from whatever thread). `go_away` and `open_connections` from any thread. `stop` ends every
// open call before it stops the server.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "actorstate/frontend/http_options.hpp"
#include "actorstate/status.hpp"

namespace actorstate::frontend {
class calls;
}  // namespace actorstate::frontend

namespace actorstate::http {

class transcoder;

class http_server {
public:
  /// `fe` routes the calls and `tc` transcodes them; both must outlive the server.
  http_server(frontend::calls& fe, const transcoder& tc, http_options opts);
  ~http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  /// Starts libmicrohttpd's threads (the server has no listening socket: connections come from `add_connection`);
  /// unavailable if it cannot.
  status start();

  /// Serves one accepted connection; takes ownership of `fd`.
  void add_connection(int fd, const sockaddr* addr, socklen_t addr_len);

  /// From now on every connection is closed once it has no request (see above).
  void go_away();
  /// Connections still open (a drain waits for none to be left).
  size_t open_connections() const;

  void stop();

  struct impl;

private:
  std::unique_ptr<impl> impl_;
};

}  // namespace actorstate::http
