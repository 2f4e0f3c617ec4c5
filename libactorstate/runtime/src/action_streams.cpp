#include "actorstate/runtime/action_streams.hpp"

#include <atomic>
#include <deque>
#include <mutex>

#include <google/protobuf/descriptor.h>

#include "actorstate/runtime/effects.hpp"

namespace actorstate::runtime {

namespace {

class streamed_call final : public detail::action_stream, public std::enable_shared_from_this<streamed_call> {
public:
  /// Runs one step of the call; the step calls `next` (from any thread, at most once) when it is done.
  using step_fn = std::function<void(std::function<void()> next)>;

  streamed_call(std::shared_ptr<const detail::action_model> model, const google::protobuf::MethodDescriptor* method,
                detail::action_stream_sink sink, detail::call_router route)
      : model_(std::move(model)),
        client_streaming_(method->client_streaming()),
        sink_(std::move(sink)),
        route_(std::move(route)),
        errors_(action_effect_errors(model_)) {}

  ~streamed_call() override {
    if (inner_)
      inner_->cancel();
  }

  void start(const google::protobuf::MethodDescriptor* method, std::vector<metadata_entry> metadata) {
    std::weak_ptr<streamed_call> weak = shared_from_this();
    detail::action_response_sink responses;
    responses.response = [weak](detail::handler_output out) {
      if (auto self = weak.lock())
        self->enqueue_response(std::move(out));
    };
    responses.end = [weak](command_result r) {
      if (auto self = weak.lock())
        self->enqueue([self, r = std::move(r)](std::function<void()> next) mutable {
          self->finish(std::move(r));
          next();
        });
    };
    auto inner = model_->open_stream(method, std::move(metadata), std::move(responses));
    std::lock_guard<std::mutex> guard{mtx_};
    inner_ = std::move(inner);
    if (ended_)
      inner_->cancel();
  }

  void send(std::string payload) override {
    auto inner = current();
    if (!inner)
      return;
    if (client_streaming_) {
      inner->send(std::move(payload));
      return;
    }
    // A server-streaming method takes exactly one request; the call is complete once it is in.
    if (got_request_.exchange(true))
      return;
    inner->send(std::move(payload));
    inner->half_close();
  }

  void half_close() override {
    auto inner = current();
    if (!inner)
      return;
    if (client_streaming_) {
      inner->half_close();
    } else if (!got_request_.exchange(true)) {
      fail(command_result::failure(status_code::invalid_argument, "the call ended without its request message"));
    }
  }

  void cancel() override {
    if (auto inner = current())
      inner->cancel();
  }

private:
  std::shared_ptr<detail::action_stream> current() {
    std::lock_guard<std::mutex> guard{mtx_};
    return ended_ ? nullptr : inner_;
  }

  void enqueue_response(detail::handler_output out) {
    auto self = shared_from_this();
    enqueue([self, out = std::move(out)](std::function<void()> next) mutable {
      if (self->ended()) {
        next();
        return;
      }
      bool element = out.status.ok() && !(out.no_reply && !out.forward);
      // Actions keep a failure's side effects (Cloudstate's "failure with side effect").
      execute([](std::function<void()> fn) { fn(); }, self->route_, plan_of(out, true),
              [self, element, next](command_result r) {
                if (!r.ok())
                  self->fail(std::move(r));
                else if (element && !self->ended())
                  self->sink_.element(std::move(r.payload));
                next();
              },
              self->errors_);
    });
  }

  bool ended() {
    std::lock_guard<std::mutex> guard{mtx_};
    return ended_;
  }

  /// Ends the call early: the client gets `r` and the model's stream is cancelled.
  void fail(command_result r) {
    std::shared_ptr<detail::action_stream> inner;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      inner = inner_;
    }
    finish(std::move(r));
    if (inner)
      inner->cancel();
  }

  void finish(command_result r) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (ended_)
        return;
      ended_ = true;
    }
    sink_.end(std::move(r));
  }

  void enqueue(step_fn step) {
    {
      std::lock_guard<std::mutex> guard{steps_mtx_};
      steps_.push_back(std::move(step));
      if (running_)
        return;
      running_ = true;
    }
    run_steps();
  }

  /// Runs queued steps one after another. A step that completes inline continues the loop here rather than
  /// recursing, so a long burst of responses does not grow the stack.
  void run_steps() {
    for (;;) {
      step_fn step;
      {
        std::lock_guard<std::mutex> guard{steps_mtx_};
        if (steps_.empty()) {
          running_ = false;
          return;
        }
        step = std::move(steps_.front());
        steps_.pop_front();
      }
      // 0: running; 1: completed while running; 2: returned before completing.
      auto state = std::make_shared<std::atomic<int>>(0);
      auto self = shared_from_this();
      step([self, state] {
        if (state->exchange(1) == 2)
          self->run_steps();
      });
      if (state->exchange(2) != 1)
        return;
    }
  }

  std::shared_ptr<const detail::action_model> model_;
  const bool client_streaming_;
  detail::action_stream_sink sink_;
  detail::call_router route_;
  effect_error_fn errors_;
  std::atomic<bool> got_request_{false};

  std::mutex mtx_;
  std::shared_ptr<detail::action_stream> inner_;
  bool ended_ = false;

  std::mutex steps_mtx_;
  std::deque<step_fn> steps_;
  bool running_ = false;
};

}  // namespace

std::shared_ptr<detail::action_stream> open_streamed_call(std::shared_ptr<const detail::action_model> model,
                                                          const google::protobuf::MethodDescriptor* method,
                                                          std::vector<metadata_entry> metadata,
                                                          detail::action_stream_sink sink, detail::call_router route) {
  auto call = std::make_shared<streamed_call>(std::move(model), method, std::move(sink), std::move(route));
  call->start(method, std::move(metadata));
  return call;
}

}  // namespace actorstate::runtime
