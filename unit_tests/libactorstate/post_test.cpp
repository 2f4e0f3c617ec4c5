// Sending from here (runtime/post.hpp): a message sent by code an actor runs through a plain function reaches its
// receiver whether or not the actor marked its worker, and the mark ends with its scope.
#include <doctest/doctest.h>

#include <future>

#include <caf/all.hpp>

#include "actorstate/runtime/messages.hpp"
#include "actorstate/runtime/post.hpp"

using namespace actorstate;

TEST_CASE("post.send_here_reaches_the_receiver_from_a_marked_worker_and_from_any_thread") {
  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::actorstate>();
  caf::actor_system sys{cfg};
  std::promise<int> got;
  auto count = std::make_shared<int>(0);
  auto receiver = sys.spawn([&got, count]() -> caf::behavior {
    return {[&got, count](detail::continuation& c) {
      c.fn();
      if (++*count == 2)
        got.set_value(*count);
    }};
  });
  bool mark_seen = false;
  bool mark_cleared = false;
  std::promise<void> sender_done;
  auto sender = sys.spawn([&](caf::event_based_actor* self) -> caf::behavior {
    return {[&, self](detail::continuation& c) {
      {
        detail::at_worker here{self->context()};
        mark_seen = detail::current_worker() == self->context();
        c.fn();  // sends from "here"
      }
      mark_cleared = detail::current_worker() == nullptr;
      sender_done.set_value();
    }};
  });
  detail::post(sender, [receiver] { detail::post(receiver, [] {}); });
  detail::post(receiver, [] {});  // from a thread that is no worker
  CHECK(got.get_future().get() == 2);
  sender_done.get_future().wait();
  CHECK(mark_seen);
  CHECK(mark_cleared);
  caf::anon_send_exit(sender, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(receiver, caf::exit_reason::user_shutdown);
}
