#include "actorstate/runtime/shard_control.hpp"

#include <set>

#include <caf/all.hpp>

#include "actorstate/runtime/messages.hpp"
#include "actorstate/runtime/shard_region.hpp"

namespace actorstate::runtime {

namespace {

/// Waits for every shard of one handover to answer (or to be gone), then calls `done` once and quits.
caf::behavior handover_waiter(caf::event_based_actor* self, std::vector<caf::actor> shards,
                              std::function<void()> done) {
  auto left = std::make_shared<std::set<caf::actor_addr>>();
  for (const auto& s : shards) {
    left->insert(s.address());
    // A shard that stops (node shutdown) never answers; without the monitor this actor would outlive it and hold up
    // the actor system's shutdown.
    self->monitor(s);
  }
  auto one_down = [self, left, done](const caf::actor_addr& shard) {
    if (left->erase(shard) == 0 || !left->empty())
      return;
    done();
    self->quit();
  };
  self->set_down_handler([one_down](caf::down_msg& dm) { one_down(dm.source); });
  return {
      [self, one_down](uint64_t) { one_down(caf::actor_cast<caf::actor_addr>(self->current_sender())); },
      [self, one_down](caf::error&) { one_down(caf::actor_cast<caf::actor_addr>(self->current_sender())); },
  };
}

class region_shard_control final : public shard_control {
public:
  region_shard_control(caf::actor_system& sys, std::vector<std::shared_ptr<const region>> regions) : sys_(sys) {
    for (auto& r : regions)
      if (!r->shards().empty())
        regions_.push_back(std::move(r));
  }

  void serve(uint32_t index, int64_t epoch) override { send_all(index, start_atom_v, epoch); }

  void hand_over(uint32_t index, std::function<void()> done) override {
    auto shards = shards_at(index);
    if (shards.empty()) {
      done();
      return;
    }
    auto waiter = sys_.spawn(handover_waiter, shards, std::move(done));
    // Sent from here rather than by the waiter, so that the handover reaches each shard before any call this thread
    // makes next (a `serve` right after it must not overtake it). The shard's answer goes to the waiter.
    for (const auto& s : shards)
      caf::send_as(waiter, s, handover_atom_v);
  }

  void drop(uint32_t index) override { send_all(index, drop_atom_v); }

  void route(uint32_t index, std::string address) override { send_all(index, route_atom_v, address); }

  void hold(uint32_t index) override { send_all(index, hold_atom_v); }

private:
  std::vector<caf::actor> shards_at(uint32_t index) const {
    std::vector<caf::actor> out;
    for (const auto& r : regions_)
      if (index < r->shards().size())
        out.push_back(r->shards()[index]);
    return out;
  }

  template <class... Ts>
  void send_all(uint32_t index, const Ts&... xs) {
    for (const auto& s : shards_at(index))
      caf::anon_send(s, xs...);
  }

  caf::actor_system& sys_;
  std::vector<std::shared_ptr<const region>> regions_;
};

}  // namespace

std::unique_ptr<shard_control> make_shard_control(caf::actor_system& sys,
                                                  std::vector<std::shared_ptr<const region>> regions) {
  return std::make_unique<region_shard_control>(sys, std::move(regions));
}

}  // namespace actorstate::runtime
