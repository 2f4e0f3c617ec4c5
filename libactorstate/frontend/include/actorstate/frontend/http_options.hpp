// The options of the client port's HTTP/1.1 side (JSON transcoding, gRPC-web, CORS), as the node hands them to
// `grpc_frontend::start`. The HTTP server itself is private to the frontend.
//
// Thread rules: a plain value, copied into the server when it starts.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace actorstate::http {

struct http_options {
  std::vector<std::string> cors_origins;  ///< Origins allowed to call from a browser; "*" allows any.
  size_t max_message_size = 12 * 1024 * 1024;
  unsigned threads = 2;
};

}  // namespace actorstate::http
