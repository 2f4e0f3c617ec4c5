// The HTTP/1.1 side of the client port (frontend/client_port.hpp hands it the connections that are not HTTP/2),
// on libmicrohttpd: it gathers each request and serves it through an exchange (http/exchange.hpp: transcoding,
// gRPC-web, CORS).
//
// Framing: a request whose body length is ambiguous (RFC 9112 §6.3: Content-Length values that disagree or are not
// digits, Content-Length with Transfer-Encoding, a Transfer-Encoding other than one "chunked", a header name that
// is not a token) is answered 400 and its connection closed before its body is read, so nothing after it on the
// connection runs as a request of its own (request smuggling).
//
// Thread rules: built and started on one thread; `add_connection` from the port's listener thread; requests run
// on libmicrohttpd's threads and wait for the runtime without blocking them (the connection is suspended until
// the answer arrives, from whatever thread). `stop` ends every open call before it stops the server.
#pragma once

#include <sys/socket.h>

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

  void stop();

  struct impl;

private:
  std::unique_ptr<impl> impl_;
};

}  // namespace actorstate::http
