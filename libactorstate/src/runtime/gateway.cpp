#include "runtime/gateway.hpp"

#include <deque>
#include <memory>

#include <caf/all.hpp>

namespace actorstate::runtime {

namespace {

struct dispatch_msg {
  caf::actor region;
  command cmd;
  std::function<void(command_result)> done;
};

}  // namespace

}  // namespace actorstate::runtime

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actorstate::runtime::dispatch_msg)

namespace actorstate::runtime {

namespace {

/// One call waiting for its region; whichever comes first, the reply or the deadline, finishes it.
struct pending_call {
  std::function<void(command_result)> done;
  caf::actor_clock::time_point deadline;
  bool finished = false;

  void finish(command_result r) {
    if (finished)
      return;
    finished = true;
    done(std::move(r));
  }
};

struct gateway_state {
  // A request with a timeout costs CAF's clock thread a wake-up per call; with one timeout for every call, deadlines
  // come in dispatch order, so a FIFO and one timer at a time do the same job.
  std::deque<std::shared_ptr<pending_call>> by_deadline;
  bool timer_armed = false;
};

caf::behavior gateway(caf::stateful_actor<gateway_state>* self, std::chrono::milliseconds timeout) {
  auto drop_finished = [self] {
    auto& q = self->state.by_deadline;
    while (!q.empty() && q.front()->finished)
      q.pop_front();
  };
  auto arm = [self] {
    auto& st = self->state;
    if (st.timer_armed || st.by_deadline.empty())
      return;
    st.timer_armed = true;
    auto wait = st.by_deadline.front()->deadline - self->clock().now();
    self->delayed_send(self, std::max(wait, decltype(wait)::zero()), tick_atom_v);
  };
  return {
      [self, timeout, drop_finished, arm](dispatch_msg& d) {
        auto call = std::make_shared<pending_call>();
        call->done = std::move(d.done);
        call->deadline = self->clock().now() + timeout;
        self->state.by_deadline.push_back(call);
        arm();
        self->request(d.region, caf::infinite, std::move(d.cmd))
            .then(
                [call, drop_finished](command_result& r) {
                  call->finish(std::move(r));
                  drop_finished();
                },
                [call, drop_finished](caf::error& err) {
                  call->finish(to_command_result(err));
                  drop_finished();
                });
      },
      [self, drop_finished, arm](tick_atom) {
        auto& st = self->state;
        st.timer_armed = false;
        auto now = self->clock().now();
        while (!st.by_deadline.empty() && st.by_deadline.front()->deadline <= now) {
          st.by_deadline.front()->finish(to_command_result(caf::make_error(caf::sec::request_timeout)));
          st.by_deadline.pop_front();
        }
        drop_finished();
        arm();
      },
  };
}

}  // namespace

gateway_pool::gateway_pool(caf::actor_system& sys, size_t size, std::chrono::milliseconds timeout) {
  for (size_t i = 0; i < std::max<size_t>(1, size); ++i)
    gateways_.push_back(sys.spawn(gateway, timeout));
}

void gateway_pool::dispatch(const caf::actor& region, command cmd, std::function<void(command_result)> done) {
  auto& gw = gateways_[next_.fetch_add(1, std::memory_order_relaxed) % gateways_.size()];
  caf::anon_send(gw, dispatch_msg{region, std::move(cmd), std::move(done)});
}

void gateway_pool::stop() {
  for (auto& gw : gateways_)
    caf::anon_send_exit(gw, caf::exit_reason::user_shutdown);
}

}  // namespace actorstate::runtime
