// A gate that calls pass through, so that a shutdown can close it and wait for the ones inside. A call `enter`s
// before it starts and `leave`s once answered; after `close`, `enter` refuses. Counting first and checking second
// means a call that was let in is always waited for: the close cannot slip between its check and its count. A refused
// call is not counted at all, so a client's stream of refused calls cannot hold a drain up until its timeout.
//
// Thread rules: every member from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace actorstate::runtime {

class drain_gate {
public:
  using clock = std::chrono::steady_clock;

  /// Counts a call in; false (and not counted) once closed.
  bool enter() {
    inside_.fetch_add(1);
    if (!closed_.load())
      return true;
    leave();
    return false;
  }

  /// Counts an entered call out.
  void leave() {
    if (inside_.fetch_sub(1) == 1) {
      std::lock_guard<std::mutex> guard{mtx_};
      empty_.notify_all();
    }
  }

  void close() { closed_ = true; }

  bool empty() const { return inside_.load() == 0; }

  /// Waits until no call is inside or `until` passed; true if none is.
  bool wait_empty(clock::time_point until) {
    std::unique_lock<std::mutex> lock{mtx_};
    return empty_.wait_until(lock, until, [this] { return empty(); });
  }

private:
  std::atomic<bool> closed_{false};
  std::atomic<int64_t> inside_{0};
  std::mutex mtx_;
  std::condition_variable empty_;
};

}  // namespace actorstate::runtime
