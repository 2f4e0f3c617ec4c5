#include "serial_executor.hpp"

#include <utility>

namespace actorstate::persistence::detail {

serial_executor::serial_executor() : state_(std::make_shared<state>()) {
  thread_ = std::thread([st = state_] { run(st); });
  id_ = thread_.get_id();
}

serial_executor::~serial_executor() {
  {
    std::lock_guard guard{state_->mtx};
    state_->stop = true;
  }
  state_->work_cv.notify_one();
  if (on_worker_thread())
    thread_.detach();
  else
    thread_.join();
}

void serial_executor::post(std::function<void()> task) {
  {
    std::lock_guard guard{state_->mtx};
    state_->tasks.push_back(std::move(task));
    ++state_->posted;
  }
  state_->work_cv.notify_one();
}

void serial_executor::drain() {
  if (on_worker_thread())
    return;
  std::unique_lock lock{state_->mtx};
  auto target = state_->posted;
  state_->done_cv.wait(lock, [&] { return state_->done >= target; });
}

void serial_executor::run(const std::shared_ptr<state>& st) {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock{st->mtx};
      st->work_cv.wait(lock, [&] { return st->stop || !st->tasks.empty(); });
      if (st->tasks.empty())
        return;
      task = std::move(st->tasks.front());
      st->tasks.pop_front();
    }
    task();
    // Destroy the captures before counting the task as done: drain() promises they are gone too.
    task = nullptr;
    {
      std::lock_guard guard{st->mtx};
      ++st->done;
    }
    st->done_cv.notify_all();
  }
}

}  // namespace actorstate::persistence::detail
