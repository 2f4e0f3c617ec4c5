// node::invoke's completion thread: every completion runs exactly once, in push order, off the pushing thread; a
// burst queued while the thread works runs as one batch; stopping runs what is queued, and later pushes run inline.
#include <doctest/doctest.h>

#include <atomic>
#include <future>
#include <thread>
#include <vector>

#include "invoke_completions.hpp"

using actorstate::command_result;
using actorstate::invoke_completions;

TEST_CASE("invoke_completions.run_once_in_push_order_off_the_pushing_thread") {
  invoke_completions q;
  std::vector<std::string> seen;
  std::atomic<int> on_pusher{0};
  auto pusher = std::this_thread::get_id();
  std::promise<void> all;
  for (int i = 0; i < 100; ++i)
    q.push(
        [&, i](command_result r) {
          if (std::this_thread::get_id() == pusher)
            ++on_pusher;
          seen.push_back(r.payload);
          if (i == 99)
            all.set_value();
        },
        command_result::success(std::to_string(i)));
  all.get_future().wait();
  CHECK(on_pusher.load() == 0);
  REQUIRE(seen.size() == 100);
  for (int i = 0; i < 100; ++i)
    CHECK(seen[i] == std::to_string(i));
}

TEST_CASE("invoke_completions.a_burst_queued_while_the_thread_works_waits_for_it_and_then_runs") {
  invoke_completions q;
  std::promise<void> entered;
  std::promise<void> release;
  auto gate = release.get_future().share();
  std::atomic<int> ran{0};
  q.push(
      [&](command_result) {
        entered.set_value();
        gate.wait();
        ++ran;
      },
      command_result::success(""));
  entered.get_future().wait();
  // The thread is busy: these queue behind the first and run only after it.
  for (int i = 0; i < 50; ++i)
    q.push([&](command_result) { ++ran; }, command_result::success(""));
  CHECK(ran.load() == 0);
  release.set_value();
  q.stop();
  CHECK(ran.load() == 51);
}

TEST_CASE("invoke_completions.stop_runs_what_is_queued_and_later_pushes_run_inline") {
  invoke_completions q;
  std::atomic<int> ran{0};
  for (int i = 0; i < 1000; ++i)
    q.push([&](command_result) { ++ran; }, command_result::failure(actorstate::status_code::unavailable, "x"));
  q.stop();
  CHECK(ran.load() == 1000);
  auto pusher = std::this_thread::get_id();
  bool inline_run = false;
  auto wrapped = q.wrap([&](command_result r) {
    inline_run = std::this_thread::get_id() == pusher && r.status.code() == actorstate::status_code::unavailable;
  });
  wrapped(command_result::failure(actorstate::status_code::unavailable, "late"));
  CHECK(inline_run);
  q.stop();  // idempotent
}

TEST_CASE("invoke_completions.a_completion_may_push_the_next_one") {
  invoke_completions q;
  std::promise<int> last;
  std::function<void(int)> chain = [&](int n) {
    q.push(
        [&, n](command_result) {
          if (n == 200)
            last.set_value(n);
          else
            chain(n + 1);
        },
        command_result::success(""));
  };
  chain(1);
  CHECK(last.get_future().get() == 200);
}
