#include "frontend/client_port.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <vector>

namespace actorstate::frontend {

namespace {

constexpr std::string_view preface = "PRI * HTTP/2.0\r\n";

struct pending {
  int fd;
  sockaddr_storage addr;
  socklen_t addr_len;
  std::chrono::steady_clock::time_point deadline;
};

enum class verdict { http2, http1, undecided, gone };

/// Looks at what the client sent so far without consuming it.
verdict sniff(int fd) {
  char buf[preface.size()];
  auto n = ::recv(fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0)
    return verdict::gone;
  if (n < 0)
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? verdict::undecided : verdict::gone;
  std::string_view seen{buf, static_cast<size_t>(n)};
  if (preface.substr(0, seen.size()) != seen)
    return verdict::http1;
  // "PRI " is no HTTP/1.1 method, so four bytes decide.
  return seen.size() >= 4 ? verdict::http2 : verdict::undecided;
}

}  // namespace

client_port::~client_port() {
  stop();
}

uint16_t client_port::open(const std::string& bind, uint16_t port, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
  addrinfo* found = nullptr;
  auto service = std::to_string(port);
  if (int rc = ::getaddrinfo(bind.c_str(), service.c_str(), &hints, &found); rc != 0) {
    error = "cannot parse bind address " + bind + ": " + ::gai_strerror(rc);
    return 0;
  }
  int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int one = 1;
  // SO_REUSEADDR only: restarting on a port in TIME_WAIT is fine, sharing a port with a live process is not.
  if (fd < 0 || ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      ::bind(fd, found->ai_addr, found->ai_addrlen) != 0 || ::listen(fd, 1024) != 0) {
    error = "cannot listen on " + bind + ":" + service + ": " + std::strerror(errno);
    if (fd >= 0)
      ::close(fd);
    ::freeaddrinfo(found);
    return 0;
  }
  ::freeaddrinfo(found);
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  listen_fd_ = fd;
  auto net_port = bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                              : reinterpret_cast<sockaddr_in*>(&bound)->sin_port;
  return ntohs(net_port);
}

void client_port::start(handoff http2, handoff http1, std::chrono::milliseconds sniff_timeout) {
  if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0)
    wake_[0] = wake_[1] = -1;
  thread_ = std::thread{
      [this, http2 = std::move(http2), http1 = std::move(http1), sniff_timeout] { run(http2, http1, sniff_timeout); }};
}

void client_port::stop() {
  if (thread_.joinable()) {
    char c = 0;
    [[maybe_unused]] auto n = ::write(wake_[1], &c, 1);
    thread_.join();
  }
  for (int& fd : {std::ref(listen_fd_), std::ref(wake_[0]), std::ref(wake_[1])})
    if (fd >= 0) {
      ::close(fd);
      fd = -1;
    }
}

void client_port::run(handoff http2, handoff http1, std::chrono::milliseconds sniff_timeout) {
  std::vector<pending> waiting;
  std::vector<pollfd> fds;
  for (;;) {
    fds.clear();
    fds.push_back({listen_fd_, POLLIN, 0});
    fds.push_back({wake_[0], POLLIN, 0});
    for (const auto& p : waiting)
      fds.push_back({p.fd, POLLIN, 0});
    int timeout = -1;
    auto now = std::chrono::steady_clock::now();
    for (const auto& p : waiting) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(p.deadline - now).count();
      timeout = timeout < 0 ? static_cast<int>(std::max<int64_t>(left, 0))
                            : std::min(timeout, static_cast<int>(std::max<int64_t>(left, 0)));
    }
    if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR)
      break;
    if (fds[1].revents != 0)
      break;
    now = std::chrono::steady_clock::now();
    // Decide on the connections that sent something (or went away, or took too long).
    std::vector<pending> still;
    for (size_t i = 0; i < waiting.size(); ++i) {
      auto& p = waiting[i];
      auto v = fds[i + 2].revents != 0 ? sniff(p.fd) : verdict::undecided;
      if (v == verdict::undecided && now >= p.deadline)
        v = verdict::gone;
      switch (v) {
        case verdict::http2:
          http2(p.fd, reinterpret_cast<const sockaddr*>(&p.addr), p.addr_len);
          break;
        case verdict::http1:
          http1(p.fd, reinterpret_cast<const sockaddr*>(&p.addr), p.addr_len);
          break;
        case verdict::gone:
          ::close(p.fd);
          break;
        case verdict::undecided:
          still.push_back(p);
          break;
      }
    }
    waiting.swap(still);
    if (fds[0].revents == 0)
      continue;
    // Accept everything queued; the listening socket is non-blocking.
    for (;;) {
      pending p{};
      p.addr_len = sizeof p.addr;
      p.fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&p.addr), &p.addr_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (p.fd < 0)
        break;
      int one = 1;
      ::setsockopt(p.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      p.deadline = now + sniff_timeout;
      waiting.push_back(p);
    }
  }
  for (const auto& p : waiting)
    ::close(p.fd);
}

}  // namespace actorstate::frontend
