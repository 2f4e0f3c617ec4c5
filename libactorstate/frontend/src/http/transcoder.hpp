// HTTP/JSON transcoding by `google.api.http` rules: which method an HTTP/1.1 request calls, the request message it
// carries, and how the method's reply is rendered back. The rules follow Cloudstate's proxy (HttpApi.scala) with
// the contract's choices (canonical JSON with lowerCamel names and default values printed):
// - each method's rule plus one level of `additional_bindings`; a method without a rule gets the implicit
//   `POST /<package.Service>/<Method>` with `body: "*"`; later bindings win where paths overlap;
// - path templates with literals, `{field}`, `{field=pattern}`, `*`, `**` (last segment only), `:verb`, nested field
//   paths; path variables of enum or message type, nested or duplicated variables, `**` before the end and
//   deeper `additional_bindings` are rejected by `add`, with a message naming the method;
// - `body: ""` fills the request from path variables and query parameters; `body: "*"` from the JSON body and
//   path variables (the query is ignored); `body: "<field>"` parses the JSON body into that field, plus query and
//   path; a `google.api.HttpBody` body field takes the raw bytes and their content type;
// - `response_body: "<field>"` renders only that field; a `google.api.HttpBody` reply is returned raw with its
//   content type.
//
// Thread rules: built (`add`) on one thread before serving, then read-only: `match` and `render` are const and
// called concurrently from the HTTP server's threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "actorstate/status.hpp"

namespace google::protobuf {
class Message;
class MessageFactory;
class MethodDescriptor;
}  // namespace google::protobuf

namespace actorstate::http {

/// An HTTP/1.1 request as the server received it.
struct request {
  std::string method;        ///< "GET", "POST", ... (upper case)
  std::string path;          ///< The request target's path, still percent-encoded, without the query.
  std::string query;         ///< The raw query string, without '?'.
  std::string content_type;  ///< The Content-Type header, empty if absent.
  std::string body;
};

/// One HTTP binding of one method (the method's rule or one of its additional bindings).
struct binding;

/// What a matched request calls.
struct call {
  const binding* rule = nullptr;
  const google::protobuf::MethodDescriptor* method = nullptr;
  std::string payload;  ///< The serialized request message.
};

/// A rendered reply body.
struct rendered {
  std::string content_type;  ///< "application/json" unless the reply (or its response_body field) is an HttpBody.
  std::string body;
};

class transcoder {
public:
  transcoder();
  ~transcoder();
  transcoder(const transcoder&) = delete;
  transcoder& operator=(const transcoder&) = delete;

  /// Adds the bindings of `method` (its `google.api.http` option, read also from descriptors built at run time, or
  /// the implicit rule). `factory` makes its request and reply messages and must outlive the transcoder. Returns
  /// invalid_argument naming the method if a rule is invalid (internal if `factory` cannot make the request or reply
  /// type);
  /// a rejected method adds none of its bindings.
  status add(const google::protobuf::MethodDescriptor* method, google::protobuf::MessageFactory* factory);

  /// The call `r` makes. Why not, with a message for the client: not_found (HTTP 404) if no rule matches (a wrong
  /// verb for a known path too, like the reference), invalid_argument (HTTP 400) if the request is malformed
  /// ("Malformed request" for bad JSON, "Content-type must be application/json!" for a body rule with another
  /// content type).
  result<call> match(const request& r) const;

  /// Renders the reply bytes of a call made through `rule` (for a server-streaming method: one element); internal
  /// if the bytes do not parse as the reply type.
  result<rendered> render(const binding& rule, std::string_view reply) const;

  /// Whether the binding's method streams its replies (the HTTP server then answers with server-sent events or
  /// newline-delimited JSON).
  static bool server_streaming(const binding& rule);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace actorstate::http
