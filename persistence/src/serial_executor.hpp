// One worker thread that runs posted tasks in FIFO order; the plugins run callbacks on it so that no callback ever
// runs on the caller's thread and callbacks keep their issue order.
//
// The queue lives in state that the thread co-owns, so the executor may be destroyed from inside one of its own tasks
// (a callback that drops the last reference to a store): the thread is then detached and finishes the queue on its
// own instead of joining itself. post() and drain() may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace actorstate::persistence::detail {

class serial_executor {
public:
  serial_executor();
  ~serial_executor();

  serial_executor(const serial_executor&) = delete;
  serial_executor& operator=(const serial_executor&) = delete;

  void post(std::function<void()> task);

  /// Blocks until every task posted before the call has run and been destroyed. Returns at once when called on the
  /// worker thread, which cannot wait for itself.
  void drain();

  bool on_worker_thread() const { return std::this_thread::get_id() == id_; }

private:
  struct state {
    std::mutex mtx;
    std::condition_variable work_cv;
    std::condition_variable done_cv;
    std::deque<std::function<void()>> tasks;
    uint64_t posted = 0;
    uint64_t done = 0;
    bool stop = false;
  };

  static void run(const std::shared_ptr<state>& st);

  std::shared_ptr<state> state_;
  std::thread thread_;
  std::thread::id id_;
};

}  // namespace actorstate::persistence::detail
