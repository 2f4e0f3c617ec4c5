// A small HTTP/2 client for the tests (nghttp2): requests over one cleartext connection with prior knowledge (h2c),
// one after another, as a browser or a proxy in front of the node would send gRPC-web, JSON or gRPC calls. Every
// socket operation is bounded by the timeout.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace actorstate::it {

using namespace std::chrono_literals;

struct h2_request {
  std::string method = "POST";
  std::string path;
  std::vector<std::pair<std::string, std::string>> headers;  // names in lower case
  std::string body;
};

struct h2_response {
  int status = 0;  // 0: no answer (connection refused, reset, timeout)
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<std::pair<std::string, std::string>> trailers;
  std::string body;
  std::string error;  // why there is no answer

  // The first header (or trailer) called `name`, or "".
  std::string header(const std::string& name) const;
  std::string trailer(const std::string& name) const;
};

// Sends `requests` in order on one connection to 127.0.0.1:`port`, each after the previous one's answer.
std::vector<h2_response> h2_exchange(uint16_t port, const std::vector<h2_request>& requests,
                                     std::chrono::milliseconds timeout = 10s);

}  // namespace actorstate::it
