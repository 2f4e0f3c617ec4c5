#include "management_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include <microhttpd.h>

#include "actorstate/frontend/client_port.hpp"

namespace actorstate::ops {

namespace {

MHD_Result respond(MHD_Connection* conn, unsigned status, const std::string& body, const char* content_type) {
  auto* resp = MHD_create_response_from_buffer(body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(resp, "Content-Type", content_type);
  auto rc = MHD_queue_response(conn, status, resp);
  MHD_destroy_response(resp);
  return rc;
}

MHD_Result handle(void* cls, MHD_Connection* conn, const char* url, const char* method, const char*, const char*,
                  size_t*, void**) {
  auto* self = static_cast<management_server*>(cls);
  if (std::strcmp(method, "GET") != 0 && std::strcmp(method, "HEAD") != 0)
    return respond(conn, 405, "method not allowed\n", "text/plain");
  std::string path{url};
  if (path == "/alive")
    return respond(conn, 200, "alive\n", "text/plain");
  if (path == "/ready")
    return self->ready() ? respond(conn, 200, "ready\n", "text/plain")
                         : respond(conn, 503, "not ready\n", "text/plain");
  if (path == "/metrics")
    return respond(conn, 200, self->metrics(), "text/plain; version=0.0.4");
  if (path == "/cluster" && self->cluster())
    return respond(conn, 200, self->cluster()(), "application/json");
  return respond(conn, 404, "not found\n", "text/plain");
}

}  // namespace

management_server::management_server(std::function<bool()> ready, std::function<std::string()> metrics,
                                     std::function<std::string()> cluster)
    : ready_(std::move(ready)), metrics_(std::move(metrics)), cluster_(std::move(cluster)) {}

management_server::~management_server() {
  stop();
}

result<uint16_t> management_server::start(const std::string& bind, uint16_t port) {
  sockaddr_in addr{};
  if (inet_pton(AF_INET, bind.c_str(), &addr.sin_addr) != 1)
    return status{status_code::invalid_argument, "management endpoint: cannot parse bind address " + bind};
  // epoll: a connection's descriptor may be above FD_SETSIZE in a process with many connections open.
  daemon_ = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ERROR_LOG, 0, nullptr,
                             nullptr, &handle, this, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
  if (daemon_ == nullptr)
    return status{status_code::unavailable, "management endpoint: cannot start the HTTP server"};
  port_ = std::make_unique<frontend::client_port>("management");
  auto bound = port_->open(bind, port);
  if (!bound.ok()) {
    stop();
    return status{bound.error().code(), "management endpoint: " + bound.error().message()};
  }
  auto serve = [daemon = daemon_](int fd, const sockaddr* peer, socklen_t len) {
    // libmicrohttpd closes the socket when it refuses it.
    MHD_add_connection(daemon, fd, peer, len);
  };
  port_->start(serve, serve);
  return bound.value();
}

void management_server::stop() {
  // The port first: nothing is handed to the daemon once it is stopping.
  if (port_ != nullptr) {
    port_->stop();
    port_.reset();
  }
  if (daemon_ != nullptr) {
    MHD_stop_daemon(daemon_);
    daemon_ = nullptr;
  }
}

}  // namespace actorstate::ops
