// The TCK model test harness: Cloudstate's model scenarios drive a TCK user function directly over the protocol,
// the way Cloudstate's TCK (TestProtocol) does, with no proxy in between, and compare every message the user
// function sends with the exact message expected (MessageDifferencer::Equals, so field presence counts).
//
// The user function is `tck-model`, started once per test binary run (posix_spawn, port 0, --port-file) on first
// use and killed when the binary exits; ACTORSTATE_TCK_SERVICE=host:port tests an already-running TCK user
// function instead (another SDK's, say). Tests run on doctest's single thread. Every wait is bounded: the start by
// `start_timeout`, every call and stream by a `call_timeout` deadline, so a silent user function fails a test
// instead of hanging it.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <google/protobuf/any.pb.h>
#include <google/protobuf/message.h>
#include <grpcpp/grpcpp.h>

#include "cloudstate/action.grpc.pb.h"
#include "cloudstate/crdt.grpc.pb.h"
#include "cloudstate/entity.grpc.pb.h"
#include "cloudstate/event_sourced.grpc.pb.h"
#include "cloudstate/value_entity.grpc.pb.h"
#include "messages.hpp"

namespace tck {

inline constexpr std::chrono::seconds call_timeout{10};
inline constexpr std::chrono::seconds start_timeout{20};

/// The user function under test and stubs of the protocol services it serves.
class user_function {
public:
  /// Starts (or finds) the user function on first use; fails the calling test if it cannot.
  static user_function& get();

  ~user_function();
  user_function(const user_function&) = delete;
  user_function& operator=(const user_function&) = delete;

  /// What `discover` answers to a proxy speaking protocol 0.2 (the TCK's discovery runs before every scenario).
  const cloudstate::EntitySpec& spec() const { return spec_; }

  cloudstate::EntityDiscovery::Stub& discovery() { return *discovery_; }
  cloudstate::eventsourced::EventSourced::Stub& event_sourced() { return *event_sourced_; }
  cloudstate::valueentity::ValueEntity::Stub& value_entity() { return *value_entity_; }
  cloudstate::action::ActionProtocol::Stub& actions() { return *actions_; }
  cloudstate::crdt::Crdt::Stub& crdt() { return *crdt_; }

  struct process;

private:
  user_function() = default;
  void start();

  std::unique_ptr<process> process_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<cloudstate::EntityDiscovery::Stub> discovery_;
  std::unique_ptr<cloudstate::eventsourced::EventSourced::Stub> event_sourced_;
  std::unique_ptr<cloudstate::valueentity::ValueEntity::Stub> value_entity_;
  std::unique_ptr<cloudstate::action::ActionProtocol::Stub> actions_;
  std::unique_ptr<cloudstate::crdt::Crdt::Stub> crdt_;
  cloudstate::EntitySpec spec_;
};

std::chrono::system_clock::time_point deadline();

/// The entity in the discovered spec serving `service`, or nullptr.
const cloudstate::Entity* discovered_entity(const std::string& service);

/// "<package>.<Service>" of every service in the discovered FileDescriptorSet.
std::vector<std::string> discovered_services();

/// One `handle` stream, as a proxy opens per entity instance; mirrors the TCK's `connect()` connection.
template <class In, class Out>
class connection {
public:
  template <class Open>
  explicit connection(Open open) {
    ctx_.set_deadline(deadline());
    rw_ = open(&ctx_);
  }
  ~connection() {
    if (!finished_)
      ctx_.TryCancel();
  }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  connection& send(const In& msg) {
    REQUIRE_MESSAGE(rw_->Write(msg), "the user function closed the stream; sending " << msg.ShortDebugString());
    return *this;
  }

  /// The next message; fails the test if the stream ended instead.
  Out expect_message() {
    Out msg;
    if (!rw_->Read(&msg)) {
      finished_ = true;
      auto status = rw_->Finish();
      FAIL("the stream ended while a message was expected, with status " << status.error_code() << ": "
                                                                         << status.error_message());
    }
    return msg;
  }

  connection& expect(const Out& expected) {
    check_equal(expect_message(), expected);
    return *this;
  }

  /// The TCK's `expect(message, transformReceived)`: the next message, transformed (a deterministic normalisation,
  /// such as sorting the elements of an unordered set), must equal `expected` exactly.
  template <class Transform>
  connection& expect(const Out& expected, Transform transform) {
    check_equal(transform(expect_message()), expected);
    return *this;
  }

  /// Completes the request stream, as a proxy does on passivation: the user function must end the stream
  /// without sending anything more, with status OK.
  void passivate() {
    rw_->WritesDone();
    Out extra;
    bool more = rw_->Read(&extra);
    CHECK_MESSAGE(!more, "unexpected message after passivation: " << extra.ShortDebugString());
    finished_ = true;
    auto status = rw_->Finish();
    CHECK_MESSAGE(status.ok(), "stream ended with " << status.error_code() << ": " << status.error_message());
  }

private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<In, Out>> rw_;
  bool finished_ = false;
};

}  // namespace tck
