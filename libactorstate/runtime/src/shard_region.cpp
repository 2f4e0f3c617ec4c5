#include "actorstate/runtime/shard_region.hpp"

#include <algorithm>

#include <caf/all.hpp>

#include "actorstate/runtime/post.hpp"
#include "actorstate/runtime/reply.hpp"
#include "entity_kinds.hpp"
#include "shard.hpp"

namespace actorstate::runtime {

uint32_t shard_of(std::string_view entity_id, uint32_t shards) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : entity_id) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return static_cast<uint32_t>(h % (shards == 0 ? 1 : shards));
}

namespace {

/// Runs action calls; an asynchronous handler answers through a continuation posted back to the worker.
caf::behavior action_worker(detail::worker_marked_actor* self, std::shared_ptr<const detail::action_model> model,
                            route_fn route) {
  // Actions keep their side effects even when they fail (unlike entities).
  auto finish = [self, route, errors = action_effect_errors(model)](reply_to reply, detail::handler_output out) {
    execute(
        detail::poster(caf::actor_cast<caf::actor>(self)), route, plan_of(out, true),
        [reply](command_result r) mutable { reply.deliver(std::move(r)); }, errors);
  };
  auto run = [self, model, finish](command& cmd, reply_to reply) {
    if (!model->handle_async) {
      finish(std::move(reply), run_action(*model, cmd));
      return;
    }
    auto me = caf::actor_cast<caf::actor>(self);
    model->handle_async(std::move(cmd), [me, reply, finish](detail::handler_output out) mutable {
      detail::post(me, [reply, finish, out = std::move(out)]() mutable { finish(std::move(reply), std::move(out)); });
    });
  };
  return {
      [self, run](command& cmd) { run(cmd, reply_to{self->make_response_promise()}); },
      [run](local_command& lc) { run(lc.cmd, reply_to{std::move(lc.slot)}); },
      [](detail::continuation& c) { c.fn(); },
      [](stats_atom) { return uint64_t{0}; },
  };
}

}  // namespace

region::region(caf::actor_system& sys, region_config cfg) : cfg_(std::move(cfg)) {
  if (cfg_.single_target) {
    workers_.push_back(cfg_.single_target);
    return;
  }
  if (cfg_.env->model->kind == detail::entity_kind::action) {
    auto model = std::static_pointer_cast<const detail::action_model>(cfg_.env->model);
    for (size_t i = 0; i < std::max<size_t>(1, cfg_.action_workers); ++i)
      workers_.push_back(sys.spawn(action_worker, model, cfg_.env->route));
    return;
  }
  auto count = std::max<uint32_t>(1, cfg_.shards);
  // Shared by the type's shards, which keep it alive.
  auto budget = std::make_shared<active_budget>(cfg_.max_active, count);
  shards_.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    shard_config sc;
    sc.env = cfg_.env;
    sc.index = i;
    sc.count = count;
    sc.passivation_timeout = cfg_.passivation_timeout;
    sc.budget = budget;
    sc.stop_timeout = cfg_.stop_timeout;
    sc.hooks = cfg_.hooks;
    sc.start_holding = cfg_.start_holding;
    shards_.push_back(spawn_shard(sys, std::move(sc)));
  }
}

const caf::actor& region::target(std::string_view entity_id) const {
  if (!workers_.empty())
    return workers_[next_worker_.fetch_add(1, std::memory_order_relaxed) % workers_.size()];
  return shards_[shard_of(entity_id, static_cast<uint32_t>(shards_.size()))];
}

void region::stop() const {
  for (const auto& a : actors())
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

std::shared_ptr<const region> spawn_region(caf::actor_system& sys, region_config cfg) {
  return std::make_shared<const region>(sys, std::move(cfg));
}

}  // namespace actorstate::runtime
