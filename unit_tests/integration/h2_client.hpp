// A small HTTP/2 client for the tests (nghttp2): requests over one cleartext connection with prior knowledge (h2c),
// one after another, as a browser or a proxy in front of the node would send gRPC-web, JSON or gRPC calls. Every
// wait is bounded by the timeout, every send by a socket timeout.
//
// `h2_connection` is the same client taken apart, for what `h2_exchange` hides: several requests in flight on one
// connection, the GOAWAY frames the server sends, and the server closing the connection. Nothing happens on its
// socket outside a `wait`, which sends what is pending and reads what arrives until a condition holds, the connection
// ends or the wait's timeout passes (sends are bounded by a socket timeout). One thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
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

// One connection to 127.0.0.1:`port` (see above); closed on destruction.
class h2_connection {
public:
  struct goaway {
    int32_t last_stream_id = 0;
    uint32_t error_code = 0;
  };

  // Connects and queues the preface; `closed()` (with `error()`) at once when it cannot connect.
  explicit h2_connection(uint16_t port);
  ~h2_connection();
  h2_connection(const h2_connection&) = delete;
  h2_connection& operator=(const h2_connection&) = delete;

  // Queues a request (sent by the next wait); its stream id, or -1 when the connection has ended or nghttp2 refuses
  // the request.
  int32_t start(const h2_request& request);

  // Exchanges frames until `done()` holds, the connection ends or `timeout` passes; returns `done()`. `done` is
  // checked at least every 10 ms, so it may wait for something other than this connection.
  bool wait(const std::function<bool()>& done, std::chrono::milliseconds timeout);
  bool wait_for_response(int32_t stream, std::chrono::milliseconds timeout) {
    return wait([&] { return answered(stream); }, timeout);
  }
  bool wait_for_goaway(std::chrono::milliseconds timeout) {
    return wait([&] { return !goaways().empty(); }, timeout);
  }
  bool wait_for_close(std::chrono::milliseconds timeout) {
    return wait([&] { return closed(); }, timeout);
  }

  // Whether `stream` has ended (answered, or reset: its response's error says so). A stream the connection ended
  // under is not answered; its response's error is the connection's.
  bool answered(int32_t stream) const;
  // The stream's response so far (empty for an unknown stream).
  const h2_response& response(int32_t stream) const;
  // The GOAWAY frames received, in order.
  const std::vector<goaway>& goaways() const;
  // Whether the connection has ended: the server closed or reset it, or it broke (`error` says which).
  bool closed() const;
  const std::string& error() const;

private:
  struct state;
  std::unique_ptr<state> s_;
};

}  // namespace actorstate::it
