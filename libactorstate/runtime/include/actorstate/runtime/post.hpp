// Running a closure inside an actor: threads that are not actors (persistence callbacks, gRPC reactors) hand work
// to an actor by posting a `continuation`; the actor runs it in its own context, so actor state needs no locks.
// If the actor has terminated, the message is dropped and the closure never runs.
//
// Sending from here: a message sent without an execution unit (CAF's `anon_send`) goes to the scheduler's central
// queue, which hands it to the next worker in turn and wakes that worker if it sleeps: a context switch per hand-off
// even when the sending worker is about to be free. Code that runs inside an actor but sends through plain functions
// (a call slot's completion, a shard passing a command on, a forward) runs with its worker marked (`at_worker`, for
// every message of a `worker_marked_actor`); `send_here` then queues the receiver on that worker (CAF's `exec_later`, as `self->send` does),
// where it runs as soon as the sender yields, unless an idle worker steals it first.
//
// Thread rules: `post` and `send_here` from any thread; the closure runs on the actor's thread, one message at a time.
// `at_worker` only on a scheduler thread, with the execution unit of the actor running on it (`self->context()`).
#pragma once

#include <functional>
#include <utility>

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/execution_unit.hpp>
#include <caf/message.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/message_id.hpp>

namespace actorstate::detail {

/// The execution unit of the actor running on this thread, while it marked itself (`at_worker`); else null.
inline caf::execution_unit*& current_worker() {
  thread_local caf::execution_unit* eu = nullptr;
  return eu;
}

/// Marks this thread as running an actor on `eu` for the scope (nests: restores the previous mark).
class at_worker {
public:
  explicit at_worker(caf::execution_unit* eu) : saved_(current_worker()) { current_worker() = eu; }
  ~at_worker() { current_worker() = saved_; }
  at_worker(const at_worker&) = delete;
  at_worker& operator=(const at_worker&) = delete;

private:
  caf::execution_unit* saved_;
};

/// An event-based actor that marks its worker for everything it runs, so what its code sends through plain
/// functions (`send_here`, `post`, a call slot's completion) is queued on that worker. The shards, the entity actors
/// and the action workers are such actors.
class worker_marked_actor : public caf::event_based_actor {
public:
  using caf::event_based_actor::event_based_actor;

  resume_result resume(caf::execution_unit* ctx, size_t max_throughput) override {
    at_worker here{ctx};
    return caf::event_based_actor::resume(ctx, max_throughput);
  }
};

/// `anon_send`, queued on this thread's worker when an actor marked it.
template <class... Ts>
void send_here(const caf::actor& target, Ts&&... xs) {
  if (target)
    target->enqueue(nullptr, caf::make_message_id(), caf::make_message(std::forward<Ts>(xs)...), current_worker());
}

struct continuation {
  std::function<void()> fn;
};

template <class F>
void post(const caf::actor& target, F fn) {
  send_here(target, continuation{std::move(fn)});
}

/// `post` to `target` as a function object (runtime::post_fn).
inline std::function<void(std::function<void()>)> poster(caf::actor target) {
  return [target = std::move(target)](std::function<void()> fn) { post(target, std::move(fn)); };
}

}  // namespace actorstate::detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actorstate::detail::continuation)
