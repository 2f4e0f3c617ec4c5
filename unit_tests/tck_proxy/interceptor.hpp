// The TCK interceptor: a gRPC server (127.0.0.1, port 0) that the proxy takes for its user function. It serves the
// Cloudstate protocol services (EntityDiscovery discover/reportError, EventSourced/handle, ValueEntity/handle,
// Crdt/handle, ActionProtocol/handleUnary, handleStreamedIn, handleStreamedOut and handleStreamed), forwards every call
// and every stream message to the real user function and records each message in both directions, per call: `in` is
// what the proxy sent (towards the user function), `out` what the user function answered, plus how each direction
// ended (the proxy half-closing or cancelling; the user function's status). Recording happens before forwarding, so a
// test that saw a client reply finds the messages that produced it. Tests read the record only through the waiting
// accessors below, which are bounded by their timeout. Calls are "claimed" by a test once it has matched them, so what
// nobody claimed shows up as an unexpected interaction. Cancellation is relayed both ways; a user function ending a
// stream while the proxy's side is still open cancels the proxy's side (the sync API cannot finish a stream that is
// still being read), so the proxy then sees CANCELLED rather than the user function's status.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <google/protobuf/message.h>
#include <grpcpp/grpcpp.h>

namespace tck_proxy {

enum class protocol { discovery, event_sourced, value_entity, crdt, action };

const char* protocol_name(protocol p);

enum class direction { in, out };

// One intercepted call (a unary call or a whole stream).
struct recorded_call {
  protocol kind = protocol::discovery;
  std::string method;  // "discover", "reportError", "handle", "handleUnary", "handleStreamedIn", ...
  std::vector<std::shared_ptr<const google::protobuf::Message>> in;
  std::vector<std::shared_ptr<const google::protobuf::Message>> out;
  bool in_closed = false;     // no more `in`: the proxy half-closed or cancelled, or the call ended
  bool in_completed = false;  // ... and it was the proxy half-closing (a unary request counts as complete)
  bool finished = false;      // the call is over, `status` is final
  grpc::Status status;
  bool claimed = false;
};

class interceptor {
public:
  // Starts serving at once; `upstream` is host:port of the user function.
  explicit interceptor(const std::string& upstream);
  ~interceptor();
  interceptor(const interceptor&) = delete;
  interceptor& operator=(const interceptor&) = delete;

  uint16_t port() const { return port_; }

  // Waits until an unclaimed call of `kind` whose first `in` message satisfies `match` exists, claims and returns
  // it (unless `mark` is false: a look that leaves it unclaimed); nullptr after `timeout`.
  std::shared_ptr<recorded_call> claim(protocol kind,
                                       const std::function<bool(const google::protobuf::Message&)>& match,
                                       std::chrono::milliseconds timeout, bool mark = true);
  // A copy of message `index` of `dir` once recorded; nullptr if the call finished without it or after `timeout`.
  std::unique_ptr<google::protobuf::Message> message(const std::shared_ptr<recorded_call>& call, direction dir,
                                                     size_t index, std::chrono::milliseconds timeout);
  // Whether the proxy's side was closed (`in_closed`) within `timeout`.
  bool wait_in_closed(const std::shared_ptr<recorded_call>& call, std::chrono::milliseconds timeout);
  // Whether the call finished within `timeout`.
  bool wait_finished(const std::shared_ptr<recorded_call>& call, std::chrono::milliseconds timeout);
  size_t count(const std::shared_ptr<recorded_call>& call, direction dir);
  // All calls of `kind`, claimed or not (shared, read them under no assumption of completeness).
  size_t calls_of(protocol kind);
  // A description of every unclaimed call (discover calls aside), which claims them; empty when there is none.
  std::vector<std::string> unclaimed();
  // Every call and message recorded so far, for failure messages.
  std::string dump();

  // Used by the service implementations.
  std::shared_ptr<recorded_call> open(protocol kind, std::string method);
  void record(const std::shared_ptr<recorded_call>& call, direction dir, const google::protobuf::Message& msg);
  // `completed`: the proxy half-closed, rather than cancelling or being cut off.
  void close_in(const std::shared_ptr<recorded_call>& call, bool completed);
  void finish(const std::shared_ptr<recorded_call>& call, const grpc::Status& status);

  struct services;

private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::shared_ptr<recorded_call>> calls_;
  std::unique_ptr<services> services_;
  std::unique_ptr<grpc::Server> server_;
  uint16_t port_ = 0;
};

}  // namespace tck_proxy
