// The TCP half of a dial, done here rather than by CAF's middleman actor: in CAF 0.17.6 that actor resolves and
// connects with a *blocking* connect() on its one thread (middleman_actor_impl::connect), so a peer host that drops
// packets (powered off, partitioned) holds it for the kernel's SYN retries, about two minutes, and every other dial
// of this process, to healthy peers too, waits behind it (measured: a call to a member on loopback failed with the
// connect timeout while a dial to a blackholed address was under way). Here each dial gets its own short-lived
// thread (a detached actor) with a non-blocking connect bounded by the connect timeout; the connected socket goes
// to the BASP broker as CAF's own dial would hand it over.
//
// Thread rules: `tcp_connect` blocks (resolver, poll) and is for the dialer's own thread only.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/behavior.hpp>
#include <caf/fwd.hpp>

namespace actorstate::cluster::detail {

/// A socket that closes itself unless released: a dial whose caller gave up must not leak it.
class owned_socket {
public:
  explicit owned_socket(int fd) : fd_(fd) {}
  ~owned_socket() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  owned_socket(const owned_socket&) = delete;
  owned_socket& operator=(const owned_socket&) = delete;
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

private:
  int fd_;
};

struct dial_request {
  std::string host;
  uint16_t port = 0;
  std::chrono::steady_clock::time_point until;
};

/// A connected socket, or why there is none.
struct dial_outcome {
  std::shared_ptr<owned_socket> socket;
  std::string error;
};

/// Resolves `host` and connects to the first address that answers before `until`.
dial_outcome tcp_connect(const std::string& host, uint16_t port, std::chrono::steady_clock::time_point until);

/// A detached actor that answers one `dial_request` with a `dial_outcome`, then ends.
caf::behavior dialer(caf::event_based_actor* self);

}  // namespace actorstate::cluster::detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actorstate::cluster::detail::dial_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actorstate::cluster::detail::dial_outcome)
