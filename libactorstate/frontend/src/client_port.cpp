#include "actorstate/frontend/client_port.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string_view>
#include <vector>

#include "actorstate/ops/log.hpp"

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

using clock = std::chrono::steady_clock;

/// Errors of accept(2) that concern the connection it tried to take, not the listening socket (Linux passes pending
/// network errors of the new socket on through accept): the next connection may well be fine.
bool connection_error(int err) {
  switch (err) {
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
    case EPERM:  // refused by a firewall rule
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
    case ETIMEDOUT:
      return true;
    default:
      return false;
  }
}

/// Paces accept(2) after it failed for the listening socket (out of descriptors or memory, or worse): the socket
/// is not watched until `resume`, and one warning per `log_interval` tells how many failures went unlogged.
class accept_backoff {
public:
  static constexpr std::chrono::milliseconds first{10};
  static constexpr std::chrono::milliseconds longest{1000};
  static constexpr std::chrono::seconds log_interval{5};

  explicit accept_backoff(const std::string& name) : name_(name) {}

  bool waiting(clock::time_point now) const { return now < resume_; }
  clock::time_point resume() const { return resume_; }

  void failed(int err, clock::time_point now) {
    delay_ = delay_.count() == 0 ? first : std::min(delay_ * 2, longest);
    resume_ = now + delay_;
    ++failures_;
    if (now < next_log_) {
      ++unlogged_;
      return;
    }
    log::warn("cannot accept " + name_ + " connections; backing off",
              {{"error", std::strerror(err)},
               {"backoff_ms", std::to_string(delay_.count())},
               {"failures_not_logged", std::to_string(unlogged_)}});
    unlogged_ = 0;
    next_log_ = now + log_interval;
    warned_ = true;
  }

  void succeeded() {
    if (failures_ == 0)
      return;
    // Only an episode that was warned about is closed in the log: a port that flaps at the limit logs no more
    // than the warnings' rate.
    if (warned_)
      log::info("accepting " + name_ + " connections again", {{"failures", std::to_string(failures_)}});
    warned_ = false;
    failures_ = 0;
    delay_ = std::chrono::milliseconds{0};
    resume_ = {};
  }

private:
  const std::string& name_;
  std::chrono::milliseconds delay_{0};
  clock::time_point resume_{};
  clock::time_point next_log_{};
  uint64_t failures_ = 0;  // since the last accepted connection
  uint64_t unlogged_ = 0;  // since the last warning
  bool warned_ = false;
};

}  // namespace

client_port::~client_port() {
  stop();
}

result<uint16_t> client_port::open(const std::string& bind, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
  addrinfo* found = nullptr;
  auto service = std::to_string(port);
  if (int rc = ::getaddrinfo(bind.c_str(), service.c_str(), &hints, &found); rc != 0)
    return status{status_code::invalid_argument, "cannot parse bind address " + bind + ": " + ::gai_strerror(rc)};
  int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int one = 1;
  // SO_REUSEADDR only: restarting on a port in TIME_WAIT is fine, sharing a port with a live process is not.
  if (fd < 0 || ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      ::bind(fd, found->ai_addr, found->ai_addrlen) != 0 || ::listen(fd, 1024) != 0) {
    // The message first: close and freeaddrinfo may change errno.
    status failed{status_code::unavailable, "cannot listen on " + bind + ":" + service + ": " + std::strerror(errno)};
    if (fd >= 0)
      ::close(fd);
    ::freeaddrinfo(found);
    return failed;
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
  accept_backoff backoff{name_};
  for (;;) {
    auto now = clock::now();
    // While backing off the listening socket is left out (poll skips negative descriptors): it stays readable as
    // long as connections are queued, and watching it would wake the loop at once.
    bool watch_listener = !backoff.waiting(now);
    fds.clear();
    fds.push_back({watch_listener ? listen_fd_ : -1, POLLIN, 0});
    fds.push_back({wake_[0], POLLIN, 0});
    for (const auto& p : waiting)
      fds.push_back({p.fd, POLLIN, 0});
    std::optional<clock::time_point> wake_at;
    if (!watch_listener)
      wake_at = backoff.resume();
    for (const auto& p : waiting)
      wake_at = wake_at ? std::min(*wake_at, p.deadline) : p.deadline;
    int timeout = -1;
    if (wake_at) {
      // Rounded up, so the loop does not wake just before the deadline and poll again with 0.
      auto left = std::chrono::ceil<std::chrono::milliseconds>(*wake_at - now).count();
      timeout = static_cast<int>(std::clamp<int64_t>(left, 0, 60'000));
    }
    if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR)
      break;
    if (fds[1].revents != 0)
      break;
    now = clock::now();
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
    // After a backoff the socket is tried once without waiting for poll: queued connections make it readable.
    if (!watch_listener ? backoff.waiting(now) : fds[0].revents == 0)
      continue;
    // Accept everything queued; the listening socket is non-blocking.
    for (;;) {
      pending p{};
      p.addr_len = sizeof p.addr;
      p.fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&p.addr), &p.addr_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (p.fd < 0) {
        int err = errno;
        if (err == EAGAIN || err == EWOULDBLOCK)
          break;
        if (connection_error(err))
          continue;
        // Out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM), or the socket itself is broken: nothing
        // changes by retrying now.
        backoff.failed(err, now);
        accept_failing_.store(true, std::memory_order_relaxed);
        break;
      }
      backoff.succeeded();
      accept_failing_.store(false, std::memory_order_relaxed);
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
