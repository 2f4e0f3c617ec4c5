// A user function and the node that serves it, for the bridge's tests: the user function's services run on a
// loopback port the OS picks; the node (memory store, loopback ports the OS picks) opens at construction and serves
// once `serve` has run discovery. Destruction stops the node, then the user function.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <grpcpp/grpcpp.h>

#include "actorstate/bridge.hpp"
#include "actorstate/node.hpp"

namespace actorstate::testing {

class bridged_node {
public:
  /// `tweak` may change the node's options (log level, store seam, timeouts) before it opens.
  explicit bridged_node(
      std::vector<grpc::Service*> services, const std::function<void(node_options&)>& tweak = [](node_options&) {}) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &uf_port_);
    for (auto* s : services)
      builder.RegisterService(s);
    uf_ = builder.BuildAndStart();
    REQUIRE(uf_);
    node_options opts;
    opts.store = "memory";
    opts.port = 0;
    opts.management_port = 0;
    opts.bind = "127.0.0.1";
    opts.log_level = "error";
    tweak(opts);
    node_ = std::make_unique<node>(opts);
    REQUIRE(node_->open().ok());
    bridge_.user_function_port = static_cast<uint16_t>(uf_port_);
  }

  ~bridged_node() {
    node_->stop();
    CHECK(node_->run().ok());
    uf_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds{2});
  }

  /// Runs discovery and opens the client port.
  void serve() {
    REQUIRE(bridge::discover(*node_, bridge_, [] { return false; }));
    REQUIRE(node_->serve().ok());
  }

  std::shared_ptr<grpc::Channel> channel() const {
    return grpc::CreateChannel("127.0.0.1:" + std::to_string(node_->port()), grpc::InsecureChannelCredentials());
  }

  node& get() { return *node_; }
  bridge::bridge_options& bridge_options() { return bridge_; }

private:
  int uf_port_ = 0;
  std::unique_ptr<grpc::Server> uf_;
  std::unique_ptr<node> node_;
  bridge::bridge_options bridge_;
};

}  // namespace actorstate::testing
