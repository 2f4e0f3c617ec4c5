#include "runtime/shard_region.hpp"

#include <list>
#include <unordered_map>
#include <vector>

#include <caf/all.hpp>

#include "ops/log.hpp"
#include "runtime/entity_kinds.hpp"
#include "runtime/post.hpp"

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
caf::behavior action_worker(caf::event_based_actor* self, std::shared_ptr<const detail::action_model> model,
                            route_fn route) {
  // Actions keep their side effects even when they fail (unlike entities).
  auto finish = [self, route, errors = action_effect_errors(model)](caf::response_promise rp,
                                                                    detail::handler_output out) {
    execute(
        detail::poster(caf::actor_cast<caf::actor>(self)), route, plan_of(out, true),
        [rp](command_result r) mutable { rp.deliver(std::move(r)); }, errors);
  };
  return {
      [self, model, finish](command& cmd) {
        auto rp = self->make_response_promise();
        if (!model->handle_async) {
          finish(rp, run_action(*model, cmd));
          return;
        }
        auto me = caf::actor_cast<caf::actor>(self);
        model->handle_async(std::move(cmd), [me, rp, finish](detail::handler_output out) mutable {
          detail::post(me, [rp, finish, out = std::move(out)]() mutable { finish(rp, std::move(out)); });
        });
      },
      [](detail::continuation& c) { c.fn(); },
  };
}

struct buffered_command {
  command cmd;
  caf::response_promise promise;
};

struct instance {
  caf::actor handle;
  bool stopping = false;
  caf::actor_clock::time_point last_used;
  std::list<const std::string*>::iterator lru_pos;
  std::vector<buffered_command> buffered;
};

/// Who serves a shard. Only local ownership exists yet; a remote owner will hold the peer region's handle.
struct shard_owner {
  bool local = true;
};

class region_actor : public caf::event_based_actor {
public:
  region_actor(caf::actor_config& cfg, region_config rc)
      : caf::event_based_actor(cfg), cfg_(std::move(rc)), shards_(cfg_.shards == 0 ? 1 : cfg_.shards) {
    auto configured = cfg_.env->model->settings.passivation_timeout;
    if (configured.count() > 0)
      cfg_.passivation_timeout = configured;
  }

  const char* name() const override { return "actorstate.region"; }

  caf::behavior make_behavior() override {
    set_down_handler([this](caf::down_msg& dm) { on_down(dm); });
    set_exit_handler([this](caf::exit_msg& em) { on_exit_requested(em); });
    if (cfg_.env->model->kind == detail::entity_kind::action) {
      auto model = std::static_pointer_cast<const detail::action_model>(cfg_.env->model);
      for (size_t i = 0; i < std::max<size_t>(1, cfg_.action_workers); ++i)
        workers_.push_back(spawn<caf::linked>(action_worker, model, cfg_.env->route));
    } else {
      schedule_tick();
    }
    return {
        [this](command& cmd) { route(cmd); },
        [this](tick_atom) {
          passivate_idle();
          schedule_tick();
        },
        [this](stats_atom) { return static_cast<uint64_t>(instances_.size()); },
    };
  }

private:
  void route(command& cmd) {
    auto rp = make_response_promise();
    if (shutting_down_) {
      rp.deliver(command_result::failure(status_code::unavailable, "node is shutting down"));
      return;
    }
    if (!workers_.empty()) {
      rp.delegate(workers_[next_worker_++ % workers_.size()], std::move(cmd));
      return;
    }
    auto& owner = shards_[shard_of(cmd.entity_id, static_cast<uint32_t>(shards_.size()))];
    if (!owner.local) {
      rp.deliver(command_result::failure(status_code::unavailable, "shard is owned by another node"));
      return;
    }
    auto now = clock().now();
    auto i = instances_.find(cmd.entity_id);
    if (i == instances_.end()) {
      i = activate(cmd.entity_id, now);
    } else if (i->second.stopping) {
      i->second.buffered.push_back(buffered_command{std::move(cmd), std::move(rp)});
      return;
    } else {
      touch(i->second, now);
    }
    rp.delegate(i->second.handle, std::move(cmd));
    enforce_cap();
  }

  std::unordered_map<std::string, instance>::iterator activate(const std::string& id,
                                                               caf::actor_clock::time_point now) {
    auto handle = spawn_entity(this, cfg_.env, id);
    monitor(handle);
    auto i = instances_.emplace(id, instance{handle, false, now, lru_.end(), {}}).first;
    // Map keys do not move when the map rehashes, so the LRU list and the down-message index point at them
    // instead of copying ids (an idle entity's bookkeeping is most of what it costs).
    by_actor_id_.emplace(handle.id(), &i->first);
    lru_.push_back(&i->first);
    i->second.lru_pos = std::prev(lru_.end());
    return i;
  }

  void touch(instance& inst, caf::actor_clock::time_point now) {
    inst.last_used = now;
    lru_.splice(lru_.end(), lru_, inst.lru_pos);
  }

  void passivate(instance& inst) {
    if (inst.stopping)
      return;
    inst.stopping = true;
    lru_.erase(inst.lru_pos);
    inst.lru_pos = lru_.end();
    send(inst.handle, passivate_atom_v);
  }

  void enforce_cap() {
    while (lru_.size() > cfg_.max_active) {
      auto& victim = instances_.at(*lru_.front());
      passivate(victim);
    }
  }

  void passivate_idle() {
    auto deadline = clock().now() - cfg_.passivation_timeout;
    while (!lru_.empty()) {
      auto& oldest = instances_.at(*lru_.front());
      if (oldest.last_used > deadline)
        break;
      passivate(oldest);
    }
  }

  void schedule_tick() {
    auto interval =
        std::clamp(cfg_.passivation_timeout / 4, std::chrono::milliseconds{10}, std::chrono::milliseconds{1000});
    delayed_send(this, interval, tick_atom_v);
  }

  void on_down(const caf::down_msg& dm) {
    auto a = by_actor_id_.find(dm.source.id());
    if (a == by_actor_id_.end())
      return;
    auto id = *a->second;
    by_actor_id_.erase(a);
    auto i = instances_.find(id);
    if (i == instances_.end())
      return;
    if (dm.reason && dm.reason != caf::exit_reason::normal)
      log::warn("entity actor terminated abnormally",
                {{"entity_type", cfg_.env->model->service_name}, {"entity_id", id}, {"reason", to_string(dm.reason)}});
    auto buffered = std::move(i->second.buffered);
    if (i->second.lru_pos != lru_.end())
      lru_.erase(i->second.lru_pos);
    instances_.erase(i);
    if (!buffered.empty()) {
      if (shutting_down_) {
        for (auto& b : buffered)
          b.promise.deliver(command_result::failure(status_code::unavailable, "node is shutting down"));
      } else {
        auto j = activate(id, clock().now());
        for (auto& b : buffered)
          b.promise.delegate(j->second.handle, std::move(b.cmd));
      }
    }
    if (shutting_down_ && instances_.empty())
      quit(exit_reason_);
  }

  void on_exit_requested(const caf::exit_msg& em) {
    if (shutting_down_)
      return;
    shutting_down_ = true;
    exit_reason_ = em.reason;
    for (auto& w : workers_)
      send_exit(w, em.reason);
    for (auto& [id, inst] : instances_)
      passivate(inst);
    if (instances_.empty())
      quit(em.reason);
  }

  region_config cfg_;
  std::vector<shard_owner> shards_;
  std::unordered_map<std::string, instance> instances_;
  std::unordered_map<caf::actor_id, const std::string*> by_actor_id_;  ///< Keys of `instances_`.
  std::list<const std::string*> lru_;  ///< Keys of `instances_`: active, not stopping; least recently used first.
  std::vector<caf::actor> workers_;
  size_t next_worker_ = 0;
  bool shutting_down_ = false;
  caf::error exit_reason_;
};

}  // namespace

caf::actor spawn_region(caf::actor_system& sys, region_config cfg) {
  return sys.spawn<region_actor>(std::move(cfg));
}

}  // namespace actorstate::runtime
