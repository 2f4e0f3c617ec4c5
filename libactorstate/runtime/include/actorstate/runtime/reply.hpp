// How a command's one answer gets back to whoever sent it, without a hop through another actor.
//
// A caller outside the actor system (a gRPC reactor, an HTTP connection, `node::invoke`, a forward or side effect)
// calls through `call_deadlines::call`, which opens a `call_slot` and sends the command with it (`local_command`)
// straight to the shard. The
// actor that produces the result (the entity instance, an action worker) finishes the slot, which runs the caller's
// completion on that actor's thread: the reply leaves from where it is made. Callers inside the actor system
// (another node's member, tests) send a plain `command` request and get a CAF response instead; `reply_to` is either.
//
// Exactly once: a slot finishes once, whichever comes first: the result, the deadline (DEADLINE_EXCEEDED, from the
// deadline thread), or the last reference to it being dropped unanswered (UNAVAILABLE: its message reached an actor
// that had stopped, or the actor stopped with it queued). A late result is dropped.
//
// Thread rules: `call_slot::finish`, `call_deadlines::open` and `call_deadlines::call` from any thread; a completion
// must not block (it runs on an actor thread, the deadline thread, or whichever thread drops the slot last).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/response_promise.hpp>

#include "actorstate/runtime/messages.hpp"

namespace actorstate::runtime {

/// One local caller's completion.
class call_slot {
public:
  using clock = std::chrono::steady_clock;

  /// `deadline`: when the caller stops waiting (a forwarder passes what is left of it on); `hops`: how many members
  /// the command passed through before this one (a forwarder counts on from it, so a command bounced between members
  /// that disagree on an owner ends instead of looping).
  explicit call_slot(std::function<void(command_result)> done, clock::time_point deadline = clock::time_point::max(),
                     uint32_t hops = 0);
  /// Dropped unanswered: the caller hears UNAVAILABLE.
  ~call_slot();
  call_slot(const call_slot&) = delete;
  call_slot& operator=(const call_slot&) = delete;

  /// Runs the completion with `r` unless the slot is already finished; false if it was.
  bool finish(command_result r);
  bool finished() const { return finished_.load(std::memory_order_acquire); }
  clock::time_point deadline() const { return deadline_; }
  uint32_t hops() const { return hops_; }

private:
  std::atomic<bool> finished_{false};
  clock::time_point deadline_;
  uint32_t hops_;
  std::function<void(command_result)> done_;
};

/// A command from a local caller: its answer goes to `slot`, not to the message's sender. Never leaves the node.
struct local_command {
  command cmd;
  std::shared_ptr<call_slot> slot;
};

/// Where one command's answer goes: a CAF response promise or a local caller's slot. Copies share the destination.
class reply_to {
public:
  reply_to() = default;
  explicit reply_to(caf::response_promise promise) : promise_(std::move(promise)) {}
  explicit reply_to(std::shared_ptr<call_slot> slot) : slot_(std::move(slot)) {}

  /// Delivers `r` if nothing was delivered through this destination yet.
  void deliver(command_result r);
  bool pending() const;
  /// When the caller stops waiting; `time_point::max()` when unknown (a CAF requester).
  call_slot::clock::time_point deadline() const;
  /// Members the command passed through before this one (0 for a command from this member's own client).
  uint32_t hops() const;
  /// Hands `cmd` to the actor `to`, which then answers this destination itself. Consumes the destination.
  void pass_on(const caf::actor& to, command cmd) &&;
  /// As `pass_on`, `delay` later (a forwarder whose peer could not be reached waits for the member to learn a new
  /// route rather than fail the caller; the caller's deadline still applies). Consumes the destination.
  void pass_on_after(const caf::actor& to, command cmd, std::chrono::milliseconds delay) &&;
  /// A destination that may be answered from any thread (a forwarder's transport): a slot already may; a CAF promise,
  /// which only its own actor may deliver, becomes a slot whose answer is posted back to `owner`, the actor that made
  /// the promise. Consumes the destination.
  reply_to answerable_anywhere(const caf::actor& owner) &&;

private:
  caf::response_promise promise_;
  std::shared_ptr<call_slot> slot_;
};

/// The command timeout of every local call. All calls share one timeout, so deadlines come in the order calls
/// open: a FIFO and one timer at a time do the job of a timer per call. (A CAF request timeout per call costs the
/// clock thread a wake-up per command and keeps every entry until it fires, even after the reply came.) The FIFO
/// holds slots weakly, and `open` drops answered calls from its front, so it stays as long as the calls in flight.
class call_deadlines {
public:
  using clock = call_slot::clock;

  /// Runs its own timer thread.
  explicit call_deadlines(std::chrono::milliseconds timeout);
  /// No timer thread: the owner calls `expire_due` (deterministic tests).
  static std::unique_ptr<call_deadlines> manual(std::chrono::milliseconds timeout);
  ~call_deadlines();
  call_deadlines(const call_deadlines&) = delete;
  call_deadlines& operator=(const call_deadlines&) = delete;

  /// Opens a call that must finish within the timeout; any thread. `hops`: members the command passed through
  /// before this one (call_slot).
  std::shared_ptr<call_slot> open(std::function<void(command_result)> done, uint32_t hops = 0);

  /// Opens a call and sends `cmd` with its slot to `target` (a shard or an action worker), from no actor.
  void call(const caf::actor& target, command cmd, std::function<void(command_result)> done, uint32_t hops = 0);

  std::chrono::milliseconds timeout() const { return timeout_; }

  /// Fails every open call whose deadline is at or before `now` with DEADLINE_EXCEEDED; returns how many.
  size_t expire_due(clock::time_point now);

  /// Stops the timer thread and fails every call still open with UNAVAILABLE (node shutdown, after the actor system
  /// is gone: a slot still held by then is held outside it, e.g. by a user function's call, and its completion must
  /// run while the frontend that made it still exists).
  void stop();

private:
  struct manual_tag {};
  call_deadlines(std::chrono::milliseconds timeout, manual_tag);
  void run();
  void drop_released_front();  ///< With `mtx_` held.

  std::chrono::milliseconds timeout_;
  std::mutex mtx_;
  std::condition_variable wake_;
  struct entry {
    std::weak_ptr<call_slot> slot;
    clock::time_point deadline;
  };
  std::deque<entry> by_deadline_;
  bool stopping_ = false;
  std::thread timer_;
};

}  // namespace actorstate::runtime

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actorstate::runtime::local_command)
