// Writes to a server-streaming gRPC callback reactor from any thread: messages go out one at a time in the order
// given, then the call finishes with the status given to `end`. A failed write means the peer is gone: the rest is
// dropped and the call finishes at once, because gRPC reports a reactor done only after Finish. The queue is shared
// with whoever produces the messages and outlives the reactor, which detaches it in OnDone; from then on
// everything is dropped.
//
// Thread rules: every method from any thread; the reactor's callbacks (OnWriteDone, OnDone) on gRPC's threads.
#pragma once

#include <deque>
#include <mutex>
#include <optional>
#include <utility>

#include <grpcpp/support/status.h>

namespace actorstate::frontend {

template <class Reactor, class Message>
class write_queue {
public:
  explicit write_queue(Reactor* call) : call_(call) {}

  void push(Message msg) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (call_ == nullptr || ending_)
      return;
    outgoing_.push_back(std::move(msg));
    pump();
  }

  /// Finishes with `status` once every message pushed before is written; later pushes and ends are dropped.
  void end(grpc::Status status) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (call_ == nullptr || ending_)
      return;
    ending_ = std::move(status);
    pump();
  }

  /// The reactor's OnWriteDone.
  void write_done(bool ok) {
    std::lock_guard<std::mutex> guard{mtx_};
    writing_ = false;
    if (ok) {
      outgoing_.pop_front();
    } else {
      outgoing_.clear();
      if (!ending_)
        ending_ = grpc::Status{grpc::StatusCode::CANCELLED, "the peer went away"};
    }
    pump();
  }

  /// The reactor's OnDone.
  void detach() {
    std::lock_guard<std::mutex> guard{mtx_};
    call_ = nullptr;
  }

private:
  // Requires mtx_.
  void pump() {
    if (call_ == nullptr || writing_ || finished_)
      return;
    if (!outgoing_.empty()) {
      writing_ = true;
      call_->StartWrite(&outgoing_.front());
      return;
    }
    if (ending_) {
      finished_ = true;
      call_->Finish(*ending_);
    }
  }

  std::mutex mtx_;
  Reactor* call_;
  std::deque<Message> outgoing_;  // the front one is being written while writing_
  bool writing_ = false;
  std::optional<grpc::Status> ending_;
  bool finished_ = false;
};

}  // namespace actorstate::frontend
