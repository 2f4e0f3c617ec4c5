// Running a closure inside an actor: threads that are not actors (persistence callbacks, gRPC reactors) hand work
// to an actor by posting a `continuation`; the actor runs it in its own context, so actor state needs no locks.
// If the actor has terminated, the message is dropped and the closure never runs.
//
// Thread rules: `post` from any thread; the closure runs on the actor's thread, one message at a time.
#pragma once

#include <functional>
#include <utility>

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/send.hpp>

namespace actorstate::detail {

struct continuation {
  std::function<void()> fn;
};

template <class F>
void post(const caf::actor& target, F fn) {
  caf::anon_send(target, continuation{std::move(fn)});
}

/// `post` to `target` as a function object (runtime::post_fn).
inline std::function<void(std::function<void()>)> poster(caf::actor target) {
  return [target = std::move(target)](std::function<void()> fn) { post(target, std::move(fn)); };
}

}  // namespace actorstate::detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actorstate::detail::continuation)
