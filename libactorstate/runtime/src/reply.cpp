#include "actorstate/runtime/reply.hpp"

#include <vector>

#include <caf/send.hpp>

#include "actorstate/runtime/post.hpp"

namespace actorstate::runtime {

call_slot::call_slot(std::function<void(command_result)> done, clock::time_point deadline, uint32_t hops)
    : deadline_(deadline), hops_(hops), done_(std::move(done)) {}

call_slot::~call_slot() {
  // The last reference went without an answer: the command's message was dropped by an actor that had stopped, or
  // its actor stopped with it queued. Telling the caller now beats letting it wait for the deadline (a shutting-down
  // node would otherwise hold its drain for the whole command timeout).
  if (!finished_.load(std::memory_order_acquire) && done_) {
    try {
      done_(command_result::failure(status_code::unavailable, "the entity stopped before answering"));
    } catch (...) {
      // A completion that throws from a destructor would terminate the process; the caller is gone anyway.
    }
  }
}

bool call_slot::finish(command_result r) {
  if (finished_.exchange(true, std::memory_order_acq_rel))
    return false;
  // Only the winner touches done_; releasing it frees what the caller captured (a reactor, a connection) now rather
  // than when the deadline FIFO lets go of the slot.
  auto done = std::move(done_);
  done_ = nullptr;
  done(std::move(r));
  return true;
}

void reply_to::deliver(command_result r) {
  if (slot_) {
    slot_->finish(std::move(r));
    return;
  }
  if (promise_.pending())
    promise_.deliver(std::move(r));
}

void reply_to::pass_on(const caf::actor& to, command cmd) && {
  if (slot_)
    detail::send_here(to, local_command{std::move(cmd), std::move(slot_)});
  else
    promise_.delegate(to, std::move(cmd));
}

void reply_to::pass_on_after(const caf::actor& to, command cmd, std::chrono::milliseconds delay) && {
  if (!slot_) {
    // A response promise can only be delegated now; its requester has a timeout of its own.
    std::move(*this).pass_on(to, std::move(cmd));
    return;
  }
  caf::delayed_anon_send(to, delay, local_command{std::move(cmd), std::move(slot_)});
}

reply_to reply_to::answerable_anywhere(const caf::actor& owner) && {
  if (slot_)
    return reply_to{std::move(slot_)};
  return reply_to{std::make_shared<call_slot>([owner, promise = std::move(promise_)](command_result r) mutable {
    detail::post(owner, [promise = std::move(promise), r = std::move(r)]() mutable {
      if (promise.pending())
        promise.deliver(std::move(r));
    });
  })};
}

call_slot::clock::time_point reply_to::deadline() const {
  return slot_ ? slot_->deadline() : call_slot::clock::time_point::max();
}

uint32_t reply_to::hops() const {
  return slot_ ? slot_->hops() : 0;
}

bool reply_to::pending() const {
  if (slot_)
    return !slot_->finished();
  return promise_.pending();
}

call_deadlines::call_deadlines(std::chrono::milliseconds timeout, manual_tag) : timeout_(timeout) {}

call_deadlines::call_deadlines(std::chrono::milliseconds timeout) : timeout_(timeout) {
  timer_ = std::thread{[this] { run(); }};
}

std::unique_ptr<call_deadlines> call_deadlines::manual(std::chrono::milliseconds timeout) {
  return std::unique_ptr<call_deadlines>{new call_deadlines(timeout, manual_tag{})};
}

call_deadlines::~call_deadlines() {
  stop();
}

std::shared_ptr<call_slot> call_deadlines::open(std::function<void(command_result)> done, uint32_t hops) {
  auto deadline = clock::now() + timeout_;
  // Not make_shared: the FIFO's weak reference would keep the whole object's memory until the entry leaves the FIFO.
  std::shared_ptr<call_slot> slot{new call_slot(std::move(done), deadline, hops)};
  // The timer thread is not woken: it needs no news of a deadline that is never earlier than its next wake-up (see
  // `run`). Waking it would cost a context switch per call whenever the FIFO was empty, i.e. on every call of a
  // lightly loaded node.
  std::lock_guard<std::mutex> guard{mtx_};
  drop_released_front();
  by_deadline_.push_back({slot, deadline});
  return slot;
}

void call_deadlines::drop_released_front() {
  // Only `expired`, never `lock`: a slot locked here could become ours to destroy, and its destructor runs the
  // caller's completion, which must not run under the mutex. A finished slot is dropped by its holder right after.
  while (!by_deadline_.empty() && by_deadline_.front().slot.expired())
    by_deadline_.pop_front();
}

void call_deadlines::call(const caf::actor& target, command cmd, std::function<void(command_result)> done,
                          uint32_t hops) {
  // A target that has stopped drops the message, and with it the slot, which then answers UNAVAILABLE.
  detail::send_here(target, local_command{std::move(cmd), open(std::move(done), hops)});
}

size_t call_deadlines::expire_due(clock::time_point now) {
  std::vector<std::weak_ptr<call_slot>> due;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    while (!by_deadline_.empty() && by_deadline_.front().deadline <= now) {
      due.push_back(std::move(by_deadline_.front().slot));
      by_deadline_.pop_front();
    }
  }
  // Completions run outside the lock: they may open calls themselves.
  size_t failed = 0;
  for (auto& weak : due)
    if (auto slot = weak.lock())
      if (slot->finish(command_result::failure(status_code::deadline_exceeded, "the command timed out")))
        ++failed;
  return failed;
}

void call_deadlines::run() {
  std::unique_lock<std::mutex> lock{mtx_};
  while (!stopping_) {
    drop_released_front();
    if (by_deadline_.empty()) {
      // Every deadline is its call's opening time plus the one timeout, so a call opened while this thread sleeps
      // falls due after the sleep ends: one wake-up per timeout when idle instead of one per call.
      wake_.wait_for(lock, timeout_);
      continue;
    }
    auto deadline = by_deadline_.front().deadline;
    if (deadline > clock::now()) {
      wake_.wait_until(lock, deadline);
      continue;
    }
    lock.unlock();
    expire_due(clock::now());
    lock.lock();
  }
}

void call_deadlines::stop() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stopping_ = true;
  }
  wake_.notify_all();
  if (timer_.joinable())
    timer_.join();
  std::deque<entry> open;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    open.swap(by_deadline_);
  }
  for (auto& e : open)
    if (auto slot = e.slot.lock())
      slot->finish(command_result::failure(status_code::unavailable, "the node is shutting down"));
}

}  // namespace actorstate::runtime
