// Test members: an actor system prepared with `configure_remoting` and a transport on 127.0.0.1, and a collector of
// call outcomes. Every wait here is bounded.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "actorstate/cluster/transport.hpp"

namespace actorstate::cluster::test {

using namespace std::chrono_literals;
using clock = transport::clock;

/// Short heartbeats so a lost peer is noticed within a test's patience.
inline remoting_options fast_remoting() {
  remoting_options r;
  r.heartbeat_interval = 100ms;
  r.connection_timeout = 500ms;
  return r;
}

/// One member in this process. Destroyed in order: the transport (its actors end), then the actor system.
class member {
public:
  explicit member(transport_options opts, remoting_options remoting = fast_remoting()) {
    REQUIRE(configure_remoting(cfg_, remoting).ok());
    // As the node runs: no sleep-poll phase in the scheduler, few threads (the test shares 2 cores).
    cfg_.set("scheduler.max-threads", size_t{2});
    cfg_.set("work-stealing.aggressive-poll-attempts", size_t{0});
    cfg_.set("work-stealing.moderate-poll-attempts", size_t{0});
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    opts.bind = "127.0.0.1";
    auto started = transport::start(*sys_, std::move(opts));
    REQUIRE_MESSAGE(started.ok(), started.error().to_string());
    transport_ = std::move(started.value());
  }
  ~member() { shut_down(); }

  transport& net() { return *transport_; }
  caf::actor_system& system() { return *sys_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_or_zero()); }
  /// Stops the transport and the actor system, as a process exit would.
  void shut_down() {
    if (transport_)
      transport_->stop();
    transport_.reset();
    sys_.reset();
  }

private:
  uint16_t port_or_zero() const { return transport_ ? transport_->port() : 0; }

  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  std::unique_ptr<transport> transport_;
};

/// Collects the outcomes of calls; shared with the callbacks, so it outlives a transport that ends calls late.
class outcomes : public std::enable_shared_from_this<outcomes> {
public:
  std::function<void(command_result)> done() {
    return [self = shared_from_this()](command_result r) {
      std::lock_guard<std::mutex> guard{self->mtx_};
      self->results_.push_back(std::move(r));
      self->at_.push_back(clock::now());
      self->cv_.notify_all();
    };
  }
  /// Waits until `n` outcomes arrived or `timeout` passed; true if they did.
  bool wait(size_t n, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock<std::mutex> lock{mtx_};
    return cv_.wait_for(lock, timeout, [&] { return results_.size() >= n; });
  }
  size_t count() {
    std::lock_guard<std::mutex> guard{mtx_};
    return results_.size();
  }
  command_result at(size_t i) {
    std::lock_guard<std::mutex> guard{mtx_};
    return results_.at(i);
  }
  clock::time_point time_of(size_t i) {
    std::lock_guard<std::mutex> guard{mtx_};
    return at_.at(i);
  }
  std::vector<command_result> all() {
    std::lock_guard<std::mutex> guard{mtx_};
    return results_;
  }

private:
  std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<command_result> results_;
  std::vector<clock::time_point> at_;
};

/// Polls `done` every 5 ms until it holds or `timeout` passes; its last answer.
inline bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s) {
  auto until = clock::now() + timeout;
  while (!done()) {
    if (clock::now() >= until)
      return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

inline cluster_call make_call(std::string payload, std::string entity = "e1") {
  cluster_call c;
  c.service = "test.Echo";
  c.cmd.entity_id = std::move(entity);
  c.cmd.method = "Echo";
  c.cmd.payload = std::move(payload);
  c.cmd.metadata.push_back({"x-test", "1"});
  return c;
}

/// An inbound handler that answers at once with the payload, prefixed.
inline transport_options echo_member() {
  transport_options o;
  o.inbound = [](cluster_call c, std::function<void(command_result)> reply) {
    auto r = command_result::success("echo:" + c.cmd.payload);
    r.metadata.push_back({"hops", std::to_string(c.hops)});
    reply(std::move(r));
  };
  return o;
}

}  // namespace actorstate::cluster::test
