// One HTTP request's call, whatever carries it: HTTP/1.1 (http_server.hpp, libmicrohttpd) or HTTP/2 (h2_server.hpp,
// nghttp2). A transport gathers a request (its head and its whole body), hands it to `exchange_handler::start`, and
// writes out what arrives at the request's `response_sink`. The exchange answers:
//   - CORS preflights (OPTIONS with an Origin), and CORS headers on every answer for the origins configured;
//   - gRPC-web (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-WEB.md; binary and text, unary and streaming
//     methods): its status travels in a trailers frame inside the body, so it works over any HTTP version;
//   - plain gRPC, when the transport can send trailers (HTTP/2 only: a connection whose first request was not gRPC
//     is served here rather than by the gRPC server, and a client may still send gRPC calls on it);
//   - everything else as `google.api.http` transcoding (http/transcoder.hpp), with the implicit
//     `POST /<package.Service>/<Method>` route for methods without a rule.
// Every call goes through the same router as a gRPC client's call (frontend::calls::call, or the route's stream for
// streaming actions), with the request headers as metadata.
//
// Errors: a user failure is 500 with its description as text/plain (what Cloudstate's TCK checks); other failures
// are the gRPC-HTTP mapping of their status with a JSON body {"code": <grpc code>, "message": "..."}; gRPC-web and
// gRPC calls always answer 200 and carry their status in trailers (or in the headers, "trailers-only", when no
// message was sent).
//
// Thread rules: `start` from any thread. A sink is called from the thread the runtime answers on (or from `start`'s
// caller, for an answer known at once), never concurrently for one exchange, and in this order: `answer` once, or
// `head` once, `data` any number of times and `end` once. `exchange::close` from any thread, once the transport is
// done with the request (answered, or the client went away); it must not hold a lock the sink takes.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "actorstate/frontend/http_options.hpp"
#include "actorstate/messages.hpp"
#include "actorstate/status.hpp"

namespace actorstate::frontend {
class calls;
}  // namespace actorstate::frontend

namespace actorstate::http {

class transcoder;

using header_list = std::vector<std::pair<std::string, std::string>>;

/// The HTTP status of a call that ended with `code` (the gRPC-HTTP mapping, with the contract's 404 for
/// UNIMPLEMENTED and 413 for RESOURCE_EXHAUSTED).
int http_status(status_code code);

/// What an exchange reads of a request besides its body.
struct request_head {
  std::string method;  ///< "GET", "POST", ...
  std::string uri;     ///< path and query
  std::string content_type;
  std::string accept;
  std::string origin;
  std::string cors_request_headers;  ///< Access-Control-Request-Headers (a preflight's)
  std::vector<metadata_entry> metadata;
};

/// Adds one request header field: the ones the exchange reads go to their member, and every field a call passes on
/// as metadata (not those about this hop or this message's framing, nor gRPC's own) to `metadata`, its name
/// lowercased. HTTP/2 pseudo-header fields (":path", ...) are not header fields: transports read them themselves.
void add_request_header(request_head& head, std::string_view name, std::string value);

/// An answer, or the head of a streamed answer (then without body).
struct response {
  unsigned status = 200;
  std::string content_type;
  std::string body;
  header_list headers;
};

class response_sink {
public:
  virtual ~response_sink() = default;
  /// The whole answer.
  virtual void answer(response r) = 0;
  /// The status and headers of an answer whose body follows in `data` calls.
  virtual void head(response r) = 0;
  virtual void data(std::string bytes) = 0;
  /// The end of the body, with the trailers to send (empty but for plain gRPC).
  virtual void end(header_list trailers) = 0;
};

/// A running exchange, as its transport holds it.
class exchange {
public:
  virtual ~exchange() = default;
  /// The transport is done with the request: a stream still running is cancelled, and the call is counted out of
  /// the frontend's drain count. Idempotent.
  virtual void close() = 0;
};

class exchange_handler {
public:
  /// `fe` routes the calls and `tc` transcodes them; both must outlive the handler and its exchanges.
  exchange_handler(frontend::calls& fe, const transcoder& tc, http_options opts);

  /// Starts answering one request. `too_large`: the body was over `max_message_size` and is not in `body`.
  /// `trailers`: the transport can send trailers (HTTP/2), so plain gRPC calls are served.
  std::shared_ptr<exchange> start(request_head head, std::string body, bool too_large,
                                  std::shared_ptr<response_sink> sink, bool trailers);

  /// The answer of a failed call over HTTP/JSON (the transports answer their own refusals with it). Like every
  /// answer to a client, it carries `client_code` of the status.
  static response error(const status& why);

  const http_options& options() const { return opts_; }

private:
  friend class exchange_impl;
  header_list cors_headers(const std::string& origin) const;

  frontend::calls& fe_;
  const transcoder& tc_;
  http_options opts_;
};

}  // namespace actorstate::http
