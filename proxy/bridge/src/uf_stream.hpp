// One bidirectional protocol stream to the user function (e.g. EventSourced/handle for one entity instance), as a
// gRPC callback reactor. Writes may be issued from any thread and go out one at a time in order; every message read
// and the final status are handed to callbacks (which post them to the owning actor). The stream keeps itself
// alive until gRPC reports it done, so the owner may drop its reference at any time; `close` half-closes after
// the queued writes, `cancel` aborts.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <mutex>

#include <grpcpp/client_context.h>
#include <grpcpp/support/client_callback.h>
#include <grpcpp/support/status.h>

namespace actorstate::bridge {

template <class In, class Out>
class uf_stream final : public grpc::ClientBidiReactor<In, Out> {
public:
  using read_handler = std::function<void(Out)>;
  using done_handler = std::function<void(grpc::Status)>;

  /// Starts the call; `start_call(context, reactor)` is the stub's async method, e.g.
  /// `[stub](auto* ctx, auto* r) { stub->async()->handle(ctx, r); }`.
  template <class StartCall>
  static std::shared_ptr<uf_stream> open(StartCall start_call, read_handler on_read, done_handler on_done) {
    std::shared_ptr<uf_stream> s{new uf_stream(std::move(on_read), std::move(on_done))};
    s->self_ = s;
    start_call(&s->context_, s.get());
    s->StartRead(&s->incoming_);
    s->StartCall();
    return s;
  }

  void write(In msg) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (closing_ || done_)
      return;
    outgoing_.push_back(std::move(msg));
    if (!writing_)
      start_next_write();
  }

  /// Half-closes once every queued message is written (the user function then ends its side).
  void close() {
    std::lock_guard<std::mutex> guard{mtx_};
    if (closing_ || done_)
      return;
    closing_ = true;
    if (!writing_)
      this->StartWritesDone();
  }

  void cancel() { context_.TryCancel(); }

  void OnReadDone(bool ok) override {
    if (!ok)
      return;  // OnDone follows with the status.
    on_read_(std::move(incoming_));
    incoming_ = Out{};
    this->StartRead(&incoming_);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> guard{mtx_};
    writing_ = false;
    if (!ok)
      return;  // The call failed; OnDone reports it.
    outgoing_.pop_front();
    if (!outgoing_.empty())
      start_next_write();
    else if (closing_)
      this->StartWritesDone();
  }

  void OnDone(const grpc::Status& status) override {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      done_ = true;
    }
    on_done_(status);
    self_.reset();  // May delete this.
  }

private:
  uf_stream(read_handler on_read, done_handler on_done) : on_read_(std::move(on_read)), on_done_(std::move(on_done)) {}

  // Requires mtx_.
  void start_next_write() {
    writing_ = true;
    this->StartWrite(&outgoing_.front());
  }

  grpc::ClientContext context_;
  read_handler on_read_;
  done_handler on_done_;
  Out incoming_;
  std::mutex mtx_;
  std::deque<In> outgoing_;
  bool writing_ = false;
  bool closing_ = false;
  bool done_ = false;
  std::shared_ptr<uf_stream> self_;
};

}  // namespace actorstate::bridge
