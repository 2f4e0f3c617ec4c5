#include "runtime/gateway.hpp"

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

caf::behavior gateway(caf::event_based_actor* self, std::chrono::milliseconds timeout) {
  return {
      [self, timeout](dispatch_msg& d) {
        auto done = std::move(d.done);
        self->request(d.region, timeout, std::move(d.cmd))
            .then([done](command_result& r) { done(std::move(r)); },
                  [done](caf::error& err) { done(to_command_result(err)); });
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
