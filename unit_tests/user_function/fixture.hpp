// Test support: a user_function_server on a free port in this process, serving the shopping cart and the small
// test entities below, plus gRPC client stubs that talk to it the way a Cloudstate proxy does. Every client call
// carries a deadline, so a server that never answers fails the test instead of hanging it.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <doctest/doctest.h>
#include <google/protobuf/any.pb.h>
#include <google/protobuf/message.h>
#include <grpcpp/grpcpp.h>

#include <actorstate/entity.hpp>
#include <actorstate/user_function.hpp>

#include "cloudstate/action.grpc.pb.h"
#include "cloudstate/entity.grpc.pb.h"
#include "cloudstate/event_sourced.grpc.pb.h"
#include "cloudstate/value_entity.grpc.pb.h"
#include "uftest/uf_test.pb.h"

namespace uf_test {

using namespace std::chrono_literals;

inline constexpr std::chrono::seconds call_timeout{10};

inline std::chrono::system_clock::time_point deadline() {
  return std::chrono::system_clock::now() + call_timeout;
}

/// "Journal" (event-sourced, persistence id "journal", snapshot every 10, passivation 1234 ms): Append emits Appended
/// events (or fails, throws, or emits an event it cannot apply, on request); Get returns the text.
actorstate::event_sourced_entity<actorstate::uftest::JournalState> make_journal();
/// "Register" (value entity, persistence id "register"): Set updates or deletes; Read reports value and presence.
actorstate::value_entity<actorstate::uftest::RegisterState> make_register();
/// "Echo" (action): Say replies text + "!" or fails on request.
actorstate::action make_echo();

/// Any with the type URL a proxy uses: "type.googleapis.com/<full name>".
google::protobuf::Any pack(const google::protobuf::Message& msg);

/// Parses `any` as `T` after checking its type URL; fails the test otherwise.
template <class T>
T unpack(const google::protobuf::Any& any) {
  REQUIRE(any.type_url() == "type.googleapis.com/" + T::descriptor()->full_name());
  T msg;
  REQUIRE(msg.ParseFromString(any.value()));
  return msg;
}

cloudstate::Command command(int64_t id, const std::string& entity_id, const std::string& name,
                            const google::protobuf::Message& payload);

/// One bidi `handle` stream, as the proxy opens per entity instance.
template <class In, class Out>
class bidi_stream {
public:
  template <class Open>
  explicit bidi_stream(Open open) {
    ctx_.set_deadline(deadline());
    rw_ = open(&ctx_);
  }
  ~bidi_stream() {
    if (!finished_)
      ctx_.TryCancel();
  }
  bidi_stream(const bidi_stream&) = delete;
  bidi_stream& operator=(const bidi_stream&) = delete;

  void write(const In& msg) { REQUIRE(rw_->Write(msg)); }

  /// The next message; fails the test if the stream ended instead.
  Out read() {
    Out msg;
    REQUIRE(rw_->Read(&msg));
    return msg;
  }

  /// Reads once more and expects the server to have ended the stream.
  void expect_end() {
    Out msg;
    CHECK_FALSE(rw_->Read(&msg));
  }

  /// Half-closes as the proxy does on passivation; the server must end the stream without sending more.
  grpc::Status close() {
    rw_->WritesDone();
    expect_end();
    return finish();
  }

  grpc::Status finish() {
    finished_ = true;
    return rw_->Finish();
  }

private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<In, Out>> rw_;
  bool finished_ = false;
};

using es_stream =
    bidi_stream<cloudstate::eventsourced::EventSourcedStreamIn, cloudstate::eventsourced::EventSourcedStreamOut>;
using ve_stream =
    bidi_stream<cloudstate::valueentity::ValueEntityStreamIn, cloudstate::valueentity::ValueEntityStreamOut>;

std::shared_ptr<grpc::Channel> channel_to(uint16_t port);

class fixture {
public:
  fixture();
  ~fixture();

  es_stream open_event_sourced();
  ve_stream open_value_entity();

  /// The `init` message for the shopping cart of `user`.
  static cloudstate::eventsourced::EventSourcedStreamIn cart_init(const std::string& user);

  std::unique_ptr<actorstate::user_function_server> server;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<cloudstate::EntityDiscovery::Stub> discovery;
  std::unique_ptr<cloudstate::eventsourced::EventSourced::Stub> event_sourced;
  std::unique_ptr<cloudstate::valueentity::ValueEntity::Stub> values;
  std::unique_ptr<cloudstate::action::ActionProtocol::Stub> actions;
};

}  // namespace uf_test
