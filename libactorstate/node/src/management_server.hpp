// The management endpoint: GET /alive (the process answers), /ready (the node serves clients and its store
// answers), /metrics (Prometheus text) and, on a cluster member, /cluster (JSON: members and shards). Served by
// libmicrohttpd on its own thread, so probes keep working when the actor system is busy. The callbacks run on that
// thread and must be thread-safe. Connections are accepted by a frontend::client_port rather than by libmicrohttpd,
// whose accept busy-waits (and logs every failure) when the process is out of file descriptors and it has no connection
// open: the port backs off and logs once per interval.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "actorstate/status.hpp"

struct MHD_Daemon;

namespace actorstate::frontend {
class client_port;
}  // namespace actorstate::frontend

namespace actorstate::ops {

class management_server {
public:
  /// `cluster`: the body of GET /cluster; null on a node that runs alone (404).
  management_server(std::function<bool()> ready, std::function<std::string()> metrics,
                    std::function<std::string()> cluster = nullptr);
  ~management_server();
  management_server(const management_server&) = delete;
  management_server& operator=(const management_server&) = delete;

  /// Binds and starts; returns the bound port, or `invalid_argument` (a bind address that is no IPv4 address) or
  /// `unavailable` (the port or the HTTP server cannot be had).
  result<uint16_t> start(const std::string& bind, uint16_t port);
  void stop();

  // Used by the request handler.
  bool ready() const { return ready_(); }
  std::string metrics() const { return metrics_(); }
  const std::function<std::string()>& cluster() const { return cluster_; }

private:
  std::function<bool()> ready_;
  std::function<std::string()> metrics_;
  std::function<std::string()> cluster_;
  MHD_Daemon* daemon_ = nullptr;
  std::unique_ptr<frontend::client_port> port_;
};

}  // namespace actorstate::ops
