#include "dial.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include <caf/event_based_actor.hpp>

namespace actorstate::cluster::detail {

dial_outcome tcp_connect(const std::string& host, uint16_t port, std::chrono::steady_clock::time_point until) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  auto service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0)
    return {nullptr, "cannot resolve " + host + ": " + ::gai_strerror(rc)};
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses{found, &::freeaddrinfo};
  std::string error = "no address for " + host;
  for (auto* ai = found; ai != nullptr; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
      return {nullptr, std::string{"socket: "} + std::strerror(errno)};
    auto socket = std::make_shared<owned_socket>(fd);
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
      return {std::move(socket), {}};
    if (errno != EINPROGRESS) {
      error = std::string{"connect: "} + std::strerror(errno);
      continue;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    pollfd p{fd, POLLOUT, 0};
    int ready = left.count() > 0 ? ::poll(&p, 1, static_cast<int>(left.count())) : 0;
    if (ready == 0)
      return {nullptr, "no TCP answer within the connect timeout"};
    int err = 0;
    socklen_t len = sizeof err;
    if (ready < 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
      err = errno;
    if (err == 0)
      return {std::move(socket), {}};
    error = std::string{"connect: "} + std::strerror(err);
  }
  return {nullptr, std::move(error)};
}

caf::behavior dialer(caf::event_based_actor* self) {
  return {
      [self](const dial_request& r) {
        self->quit();
        return tcp_connect(r.host, r.port, r.until);
      },
  };
}

}  // namespace actorstate::cluster::detail
