// The process set of the TCK proxy scenarios, started once per test binary run on first use: `tck-model` (the TCK
// model user function) on a free port, the interceptor in this process in front of it, and `actorstate-proxy`
// (`--store memory`, `--passivation-timeout 4s` so that recovery can be observed) pointed at the interceptor; torn down
// by `fixture::shutdown()` at the end of main. Tests call the proxy with generated stubs of the TCK model services and
// check the intercepted traffic message by message (MessageDifferencer::Equals, field presence counts) through
// `connection`, which waits (bounded) for each next message of one intercepted call. Each scenario uses its own entity
// ids, so scenarios do not depend on each other and run in any order, alone (ctest runs one per process) or all in one
// run. `check_no_more_interactions()` at the end of a scenario fails it when a call nobody expected reached the user
// function.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <doctest/doctest.h>
#include <google/protobuf/any.pb.h>
#include <google/protobuf/message.h>
#include <grpcpp/grpcpp.h>

#include "cloudstate/entity.pb.h"
#include "cloudstate/tck/model/action.grpc.pb.h"
#include "cloudstate/tck/model/crdt.grpc.pb.h"
#include "cloudstate/tck/model/eventsourced.grpc.pb.h"
#include "cloudstate/tck/model/valueentity.grpc.pb.h"
#include "interceptor.hpp"
#include "messages.hpp"

namespace tck_proxy {

using namespace std::chrono_literals;

// How long a test waits for one intercepted message, a connection or a client call.
inline constexpr auto message_timeout = 5s;
inline constexpr auto call_timeout = 10s;

class fixture {
public:
  // Starts the processes on first use; fails the calling test (REQUIRE) when they cannot be started.
  static fixture& get();
  // get() for the start of a scenario: calls left unclaimed by an earlier (failed) scenario of this run are claimed
  // and dropped, so they are not blamed on this one.
  static fixture& scenario();
  // Stops everything (proxy first); called once from main after the tests.
  static void shutdown();

  ~fixture();
  fixture(const fixture&) = delete;
  fixture& operator=(const fixture&) = delete;

  interceptor& intercepted() { return *interceptor_; }
  const std::shared_ptr<grpc::Channel>& proxy_channel() { return proxy_channel_; }
  cloudstate::tck::model::EventSourcedTckModel::Stub& event_sourced() { return *event_sourced_; }
  cloudstate::tck::model::EventSourcedTwo::Stub& event_sourced_two() { return *event_sourced_two_; }
  cloudstate::tck::model::EventSourcedConfigured::Stub& event_sourced_configured() {
    return *event_sourced_configured_;
  }
  cloudstate::tck::model::valueentity::ValueEntityTckModel::Stub& value_entity() { return *value_entity_; }
  cloudstate::tck::model::valueentity::ValueEntityConfigured::Stub& value_entity_configured() {
    return *value_entity_configured_;
  }
  cloudstate::tck::model::action::ActionTckModel::Stub& action() { return *action_; }
  cloudstate::tck::model::crdt::CrdtTckModel::Stub& crdt() { return *crdt_; }
  cloudstate::tck::model::crdt::CrdtTwo::Stub& crdt_two() { return *crdt_two_; }
  cloudstate::tck::model::crdt::CrdtConfigured::Stub& crdt_configured() { return *crdt_configured_; }
  // The proxy's client port (gRPC, HTTP/JSON and gRPC-web), for the HTTP API scenarios.
  uint16_t proxy_port() const;

  // The tails of the proxy's and the user function's logs and the whole intercepted record, for INFO().
  std::string diagnostics();

  struct processes;

private:
  fixture() = default;
  void start();

  std::unique_ptr<processes> processes_;
  std::unique_ptr<interceptor> interceptor_;
  std::shared_ptr<grpc::Channel> proxy_channel_;
  std::unique_ptr<cloudstate::tck::model::EventSourcedTckModel::Stub> event_sourced_;
  std::unique_ptr<cloudstate::tck::model::EventSourcedTwo::Stub> event_sourced_two_;
  std::unique_ptr<cloudstate::tck::model::EventSourcedConfigured::Stub> event_sourced_configured_;
  std::unique_ptr<cloudstate::tck::model::valueentity::ValueEntityTckModel::Stub> value_entity_;
  std::unique_ptr<cloudstate::tck::model::valueentity::ValueEntityConfigured::Stub> value_entity_configured_;
  std::unique_ptr<cloudstate::tck::model::action::ActionTckModel::Stub> action_;
  std::unique_ptr<cloudstate::tck::model::crdt::CrdtTckModel::Stub> crdt_;
  std::unique_ptr<cloudstate::tck::model::crdt::CrdtTwo::Stub> crdt_two_;
  std::unique_ptr<cloudstate::tck::model::crdt::CrdtConfigured::Stub> crdt_configured_;
};

// A client context with the call deadline.
std::unique_ptr<grpc::ClientContext> client_context();

using tck::check_equal;
using tck::command;
using tck::pack;
using tck::side_effect;

// The client-visible result of a failed call: UNKNOWN with exactly `description`.
void check_failure(const grpc::Status& status, const std::string& description);

// One intercepted call, read in order: the next `in` (proxy → user function) and the next `out` message.
class connection {
public:
  connection() = default;
  explicit connection(std::shared_ptr<recorded_call> call) : call_{std::move(call)} {}

  // Claims the entity stream of `kind` whose init names `service` and `entity_id` (waits up to message_timeout).
  static connection entity(protocol kind, const std::string& service, const std::string& entity_id);
  // Claims the unary action call of `service`/`name` (waits up to message_timeout).
  static connection action(const std::string& service, const std::string& name);

  bool valid() const { return call_ != nullptr; }

  // The next message of that direction, or nullptr (the test failed) if none came in time.
  std::unique_ptr<google::protobuf::Message> next_in();
  std::unique_ptr<google::protobuf::Message> next_out();

  connection& expect_in(const google::protobuf::Message& expected);
  connection& expect_out(const google::protobuf::Message& expected);
  // The proxy half-closed its side (not cancelled) within message_timeout, after the `in` messages read so far.
  connection& expect_in_complete();
  // The user function ended the call with OK within message_timeout, after the `out` messages read so far.
  connection& expect_out_complete();
  // Both, as the TCK's expectComplete().
  connection& expect_complete();
  // The call ends within `timeout`.
  connection& expect_closed(std::chrono::milliseconds timeout = message_timeout);
  // No message beyond those already read (checked after a short settling time).
  void expect_no_more();

  const std::shared_ptr<recorded_call>& call() const { return call_; }

private:
  std::shared_ptr<recorded_call> call_;
  size_t in_ = 0;
  size_t out_ = 0;
};

// No intercepted call (other than discovery) that no test claimed.
void check_no_more_interactions();

}  // namespace tck_proxy
