// The HTTP/1.1 side of the client port (frontend/client_port.hpp hands it the connections that are not HTTP/2):
// `google.api.http` transcoding (http/transcoder.hpp), gRPC-web (binary and text; unary and server-streaming
// calls), and CORS for the origins configured. Every call goes through the same router as a gRPC client's call
// (grpc_frontend::call, or the route's stream for streaming actions), with the request headers as metadata.
//
// Framing: a request whose body length is ambiguous (RFC 9112 §6.3: Content-Length values that disagree or are not
// digits, Content-Length with Transfer-Encoding, a Transfer-Encoding other than one "chunked", a header name that
// is not a token) is answered 400 and its connection closed before its body is read, so nothing after it on the
// connection runs as a request of its own (request smuggling).
//
// Errors: a user failure is 500 with its description as text/plain (what Cloudstate's TCK checks); other failures
// are the gRPC-HTTP mapping of their status with a JSON body {"code": <grpc code>, "message": "..."}; gRPC-web
// calls always answer 200 and carry their status in trailers.
//
// Thread rules: built and started on one thread; `add_connection` from the port's listener thread; requests run
// on libmicrohttpd's threads and wait for the runtime without blocking them (the connection is suspended until
// the result arrives, from whatever thread). `stop` ends every open call before it stops the server.
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

/// The HTTP status of a call that ended with `code` (the gRPC-HTTP mapping, with the contract's 404 for
/// UNIMPLEMENTED and 413 for RESOURCE_EXHAUSTED).
int http_status(status_code code);

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
