#include "invoke_completions.hpp"

namespace actorstate {

invoke_completions::invoke_completions() : thread_([this] { run(); }) {}

invoke_completions::~invoke_completions() {
  stop();
}

void invoke_completions::push(completion done, command_result r) {
  std::unique_lock<std::mutex> guard{mtx_};
  if (stopped_) {
    guard.unlock();
    done(std::move(r));
    return;
  }
  items_.push_back(item{std::move(done), std::move(r)});
  // Only the push that finds the thread asleep pays for the wake-up; the rest of a burst rides along.
  bool wake = idle_;
  idle_ = false;
  guard.unlock();
  if (wake)
    cv_.notify_one();
}

invoke_completions::completion invoke_completions::wrap(completion done) {
  return [this, done = std::move(done)](command_result r) mutable { push(std::move(done), std::move(r)); };
}

void invoke_completions::stop() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (stopping_)
      return;
    stopping_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void invoke_completions::run() {
  std::vector<item> batch;
  std::unique_lock<std::mutex> guard{mtx_};
  for (;;) {
    if (items_.empty()) {
      if (stopping_) {
        // Later pushes run inline: nothing is left behind unrun.
        stopped_ = true;
        return;
      }
      idle_ = true;
      cv_.wait(guard, [this] { return !items_.empty() || stopping_; });
      idle_ = false;
      continue;
    }
    batch.swap(items_);
    guard.unlock();
    for (auto& i : batch)
      i.done(std::move(i.result));
    batch.clear();
    guard.lock();
  }
}

}  // namespace actorstate
