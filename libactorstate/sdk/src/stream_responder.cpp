#include "actorstate/entity.hpp"

namespace actorstate::detail {

void stream_responder::respond(handler_output out) {
  std::unique_lock<std::mutex> lock{mtx_};
  if (cancelled_ || ending_)
    return;
  out.side_effects.insert(out.side_effects.begin(), std::make_move_iterator(side_effects_.begin()),
                          std::make_move_iterator(side_effects_.end()));
  side_effects_.clear();
  responded_ = true;
  queue_.push_back(std::move(out));
  if (single_response_)
    ending_ = true;
  deliver(std::move(lock));
}

void stream_responder::add_side_effect(effect_call call) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!cancelled_ && !ending_)
    side_effects_.push_back(std::move(call));
}

void stream_responder::end() {
  std::unique_lock<std::mutex> lock{mtx_};
  if (cancelled_ || ending_)
    return;
  if ((single_response_ && !responded_) || !side_effects_.empty()) {
    handler_output out;
    out.no_reply = true;
    out.side_effects = std::move(side_effects_);
    side_effects_.clear();
    queue_.push_back(std::move(out));
  }
  ending_ = true;
  deliver(std::move(lock));
}

void stream_responder::cancel() {
  std::lock_guard<std::mutex> guard{mtx_};
  cancelled_ = true;
  queue_.clear();
  side_effects_.clear();
}

bool stream_responder::ended() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return cancelled_ || ending_;
}

void stream_responder::deliver(std::unique_lock<std::mutex> lock) {
  // One thread delivers at a time, in queue order; others only enqueue.
  if (delivering_)
    return;
  delivering_ = true;
  for (;;) {
    if (cancelled_)
      break;
    if (!queue_.empty()) {
      auto out = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      sink_.response(std::move(out));
      lock.lock();
      continue;
    }
    if (ending_ && !end_sent_) {
      end_sent_ = true;
      lock.unlock();
      sink_.end(command_result::success({}));
      lock.lock();
      continue;
    }
    break;
  }
  delivering_ = false;
}

}  // namespace actorstate::detail
