#include "shard.hpp"

#include <algorithm>
#include <list>
#include <unordered_map>
#include <variant>

#include <caf/all.hpp>

#include "actorstate/ops/log.hpp"
#include "actorstate/runtime/post.hpp"
#include "actorstate/runtime/reply.hpp"
#include "actorstate/runtime/shard_region.hpp"
#include "entity_kinds.hpp"

namespace actorstate::runtime {

active_budget::active_budget(size_t cap, size_t shards)
    : cap_(cap), per_shard_(new std::atomic<int64_t>[shards]), shards_(shards), handles_(shards) {
  for (size_t i = 0; i < shards; ++i)
    per_shard_[i].store(0);
}

int64_t active_budget::change(uint32_t index, int delta) {
  per_shard_[index].fetch_add(delta, std::memory_order_relaxed);
  return live_.fetch_add(delta, std::memory_order_relaxed) + delta;
}

int64_t active_budget::fullest(uint32_t except) const {
  int64_t best = -1;
  int64_t most = 0;
  for (size_t i = 0; i < shards_; ++i) {
    auto n = per_shard_[i].load(std::memory_order_relaxed);
    if (i != except && n > most) {
      most = n;
      best = static_cast<int64_t>(i);
    }
  }
  return best;
}

void active_budget::attach(uint32_t index, const caf::actor& shard) {
  std::lock_guard<std::mutex> guard{mtx_};
  handles_[index] = caf::actor_cast<caf::weak_actor_ptr>(shard);
}

caf::actor active_budget::shard(uint32_t index) const {
  std::lock_guard<std::mutex> guard{mtx_};
  return caf::actor_cast<caf::actor>(handles_[index].lock());
}

namespace {

struct buffered_command {
  command cmd;
  reply_to reply;
};

struct instance {
  caf::actor handle;
  bool stopping = false;
  caf::actor_clock::time_point last_used;
  std::list<const std::string*>::iterator lru_pos;
  std::vector<buffered_command> buffered;  ///< Commands for the successor of a stopping instance.
};

class shard_actor : public detail::worker_marked_actor {
public:
  shard_actor(caf::actor_config& cfg, shard_config sc)
      : detail::worker_marked_actor(cfg),
        cfg_(std::move(sc)),
        env_(cfg_.env),
        phase_(cfg_.start_holding ? phase::stopped : phase::serving) {
    auto configured = cfg_.env->model->settings.passivation_timeout;
    if (configured.count() > 0)
      cfg_.passivation_timeout = configured;
  }

  const char* name() const override { return "actorstate.shard"; }

  caf::behavior make_behavior() override {
    set_down_handler([this](caf::down_msg& dm) { on_down(dm); });
    set_exit_handler([this](caf::exit_msg& em) { on_exit_requested(em); });
    return {
        [this](command& cmd) { route(cmd, reply_to{make_response_promise()}); },
        [this](local_command& lc) { route(lc.cmd, reply_to{std::move(lc.slot)}); },
        [this](handover_atom) { return handover(); },
        [this](start_atom) {
          serve(persistence::unfenced);
          return true;
        },
        [this](start_atom, int64_t epoch) {
          serve(persistence::write_fence{cfg_.index, epoch});
        },
        [this](hold_atom) { hold(); },
        [this](route_atom, std::string& address) { forward_to(std::move(address)); },
        [this](drop_atom) { drop(); },
        [this](shed_atom) {
          if (cfg_.budget->live() > static_cast<int64_t>(cfg_.budget->cap()) && !lru_.empty())
            passivate(instances_.at(*lru_.front()));
        },
        [this](tick_atom) {
          if (phase_ == phase::shutting_down) {
            // Only the tick scheduled for the stop deadline matters now (an idle tick armed earlier may come first).
            if (clock().now() >= kill_at_)
              kill_remaining();
            return;
          }
          tick_armed_ = false;
          passivate_idle();
          arm_tick();
        },
        [this](stats_atom) { return static_cast<uint64_t>(instances_.size()); },
        [this](fenced_atom, const std::string& entity_id) { on_fenced(entity_id); },
        // A forwarded command's answer to a CAF requester, posted back here (reply_to::answerable_anywhere).
        [](detail::continuation& c) { c.fn(); },
    };
  }

private:
  enum class phase { serving, handing_over, stopped, forwarding, shutting_down };
  using fence_type = std::optional<persistence::write_fence>;
  /// What a handover under way turns into once the last instance is down (the latest request wins).
  struct serve_next {
    fence_type fence;
  };
  struct route_next {
    std::string address;
  };
  using next_state = std::variant<std::monostate, serve_next, route_next>;

  void route(command& cmd, reply_to reply) {
    // An instance lives in its entity's shard and writes with that shard's fence; one in another shard would write
    // under a fence that does not guard it. A cheap hash per command keeps a caller's mistake from becoming that.
    if (shard_of(cmd.entity_id, cfg_.count) != cfg_.index) {
      reply.deliver(command_result::failure(
          status_code::internal,
          "entity " + cmd.entity_id + " reached shard " + std::to_string(cfg_.index) + ", which is not its shard"));
      return;
    }
    switch (phase_) {
      case phase::shutting_down:
        reply.deliver(command_result::failure(status_code::unavailable, "node is shutting down"));
        return;
      case phase::handing_over:
      case phase::stopped:
        // Not ours to run now; whoever serves the shard next (this actor after `start`) gets them.
        held_.push_back(buffered_command{std::move(cmd), std::move(reply)});
        return;
      case phase::forwarding:
        forward(std::move(cmd), std::move(reply));
        return;
      case phase::serving:
        break;
    }
    deliver(std::move(cmd), std::move(reply));
  }

  void forward(command cmd, reply_to reply) {
    // As in `deliver`: a caller already answered DEADLINE_EXCEEDED while its command was held wants nothing more.
    if (!reply.pending())
      return;
    if (!cfg_.hooks || !cfg_.hooks->forward) {
      reply.deliver(command_result::failure(status_code::unavailable, "this node has no route to the shard's owner"));
      return;
    }
    // The forwarder answers from the transport's threads, where only a call slot may be finished.
    cfg_.hooks->forward(address_, cfg_.env->model->service_name, std::move(cmd),
                        std::move(reply).answerable_anywhere(caf::actor_cast<caf::actor>(this)));
  }

  void deliver(command cmd, reply_to reply) {
    // A caller whose deadline passed while its command waited here (the shard handing over, the instance stopping)
    // has been told DEADLINE_EXCEEDED; running the command now would spend a backlog on answers nobody reads.
    if (!reply.pending())
      return;
    auto now = clock().now();
    auto i = instances_.find(cmd.entity_id);
    if (i == instances_.end()) {
      i = activate(cmd.entity_id, now);
    } else if (i->second.stopping) {
      i->second.buffered.push_back(buffered_command{std::move(cmd), std::move(reply)});
      return;
    } else {
      touch(i->second, now);
    }
    // The instance answers the caller itself: a local caller through its slot, a requester through the delegated
    // promise. The shard never sees the result.
    std::move(reply).pass_on(i->second.handle, std::move(cmd));
  }

  std::unordered_map<std::string, instance>::iterator activate(const std::string& id,
                                                               caf::actor_clock::time_point now) {
    auto handle = spawn_entity(this, env_, id);
    monitor(handle);
    auto i = instances_.emplace(id, instance{handle, false, now, lru_.end(), {}}).first;
    // Map keys do not move when the map rehashes, so the LRU list and the down-message index point at them
    // instead of copying ids (an idle entity's bookkeeping is most of what it costs).
    by_actor_id_.emplace(handle.id(), &i->first);
    lru_.push_back(&i->first);
    i->second.lru_pos = std::prev(lru_.end());
    arm_tick();
    if (cfg_.budget->change(cfg_.index, +1) > static_cast<int64_t>(cfg_.budget->cap()))
      shed_one(i->second);
    return i;
  }

  /// Over the type's cap after activating `fresh`: the least recently used instance here goes, or, when `fresh`
  /// is the only one here, one of the fullest shard's.
  void shed_one(instance& fresh) {
    auto& oldest = instances_.at(*lru_.front());
    if (&oldest != &fresh) {
      passivate(oldest);
      return;
    }
    auto other = cfg_.budget->fullest(cfg_.index);
    if (other < 0)
      return;  // Every other live instance is already stopping; the cap holds once they are down.
    if (auto target = cfg_.budget->shard(static_cast<uint32_t>(other)))
      send(target, shed_atom_v);
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
    cfg_.budget->change(cfg_.index, -1);
    send(inst.handle, passivate_atom_v);
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

  /// The idle timer runs only while instances are live: an idle shard (most of them, on most nodes) costs no
  /// wake-ups.
  void arm_tick() {
    if (tick_armed_ || lru_.empty() || phase_ == phase::shutting_down)
      return;
    tick_armed_ = true;
    auto interval =
        std::clamp(cfg_.passivation_timeout / 4, std::chrono::milliseconds{10}, std::chrono::milliseconds{1000});
    delayed_send(this, interval, tick_atom_v);
  }

  caf::result<uint64_t> handover() {
    auto rp = make_response_promise();
    if (phase_ == phase::shutting_down) {
      rp.deliver(caf::make_error(caf::sec::request_receiver_down));
      return rp;
    }
    if (phase_ == phase::stopped || phase_ == phase::forwarding) {
      phase_ = phase::stopped;
      rp.deliver(uint64_t{0});  // Nothing left to stop.
      return rp;
    }
    begin_handover();
    // A handover asked after a start that still waits for the previous handover supersedes that start: its answer
    // tells the caller the shard holds commands and runs nothing, so it must not serve again once it is empty.
    after_handover_ = std::monostate{};
    handovers_.push_back(rp);
    finish_handover_if_empty();
    return rp;
  }

  void begin_handover() {
    if (phase_ != phase::serving)
      return;
    phase_ = phase::handing_over;
    handed_over_ = instances_.size();
    log::debug("shard handing over", {{"entity_type", cfg_.env->model->service_name},
                                      {"shard", std::to_string(cfg_.index)},
                                      {"instances", std::to_string(instances_.size())}});
    for (auto& [id, inst] : instances_)
      passivate(inst);
  }

  void hold() {
    switch (phase_) {
      case phase::serving:
        begin_handover();
        finish_handover_if_empty();
        return;
      case phase::handing_over:
        after_handover_ = std::monostate{};
        return;
      case phase::forwarding:
        phase_ = phase::stopped;
        return;
      case phase::stopped:
      case phase::shutting_down:
        return;
    }
  }

  void forward_to(std::string address) {
    switch (phase_) {
      case phase::shutting_down:
        return;
      case phase::handing_over:
        after_handover_ = route_next{std::move(address)};
        return;
      case phase::serving:
        // The member routes a shard elsewhere only once it lost it: its instances' writes would be refused.
        drop_instances();
        break;
      case phase::stopped:
      case phase::forwarding:
        break;
    }
    phase_ = phase::forwarding;
    address_ = std::move(address);
    auto held = std::exchange(held_, {});
    for (auto& b : held)
      forward(std::move(b.cmd), std::move(b.reply));
  }

  void drop() {
    if (phase_ == phase::shutting_down)
      return;
    if (phase_ == phase::serving || phase_ == phase::handing_over)
      drop_instances();
    phase_ = phase::stopped;
    after_handover_ = std::monostate{};
  }

  /// Kills every instance at once and forgets it; the shard holds afterwards. The exit goes ahead of the commands in
  /// an instance's mailbox (high priority), so nothing more is answered from its memory: what it owed fails
  /// UNAVAILABLE (entity_actor::on_exit). A handover under way ends here, its requesters answered.
  void drop_instances() {
    if (!instances_.empty())
      log::info("shard dropped", {{"entity_type", cfg_.env->model->service_name},
                                  {"shard", std::to_string(cfg_.index)},
                                  {"instances", std::to_string(instances_.size())}});
    // Commands buffered for a stopping instance arrived before any held one for the same entity.
    std::vector<buffered_command> held;
    for (auto& [id, inst] : instances_) {
      inst.handle->eq_impl(caf::make_message_id(caf::message_priority::high), ctrl(), context(),
                           caf::exit_msg{address(), caf::exit_reason::kill});
      if (inst.lru_pos != lru_.end())
        cfg_.budget->change(cfg_.index, -1);
      for (auto& b : inst.buffered)
        held.push_back(std::move(b));
    }
    for (auto& b : held_)
      held.push_back(std::move(b));
    held_ = std::move(held);
    instances_.clear();
    by_actor_id_.clear();  // Their down messages find nothing.
    lru_.clear();
    phase_ = phase::stopped;
    for (auto& rp : handovers_)
      rp.deliver(handed_over_);
    handovers_.clear();
    env_ = cfg_.env;
  }

  void finish_handover_if_empty() {
    if (phase_ != phase::handing_over || !instances_.empty())
      return;
    phase_ = phase::stopped;
    env_ = cfg_.env;
    for (auto& rp : handovers_)
      rp.deliver(handed_over_);
    handovers_.clear();
    auto next = std::exchange(after_handover_, std::monostate{});
    if (auto* s = std::get_if<serve_next>(&next))
      serve(s->fence);
    else if (auto* r = std::get_if<route_next>(&next))
      forward_to(std::move(r->address));
  }

  void serve(fence_type fence) {
    switch (phase_) {
      case phase::shutting_down:
        return;
      case phase::handing_over:
        after_handover_ = serve_next{fence};  // Serve again as soon as every instance is down.
        return;
      case phase::serving:
        if (env_->fence == fence)
          return;
        // Served at another epoch: the instances' writes carry the old one and would be refused, and their memory
        // may predate writes the owner of the epochs in between made.
        drop_instances();
        break;
      case phase::stopped:
      case phase::forwarding:
        break;
    }
    if (fence != cfg_.env->fence) {
      auto env = std::make_shared<entity_env>(*cfg_.env);
      env->fence = fence;
      if (cfg_.hooks && cfg_.hooks->member_lease) {
        env->member_lease = cfg_.hooks->member_lease;
        env->lease_generation = cfg_.hooks->member_lease->generation();
      }
      env_ = std::move(env);
    } else {
      env_ = cfg_.env;
    }
    phase_ = phase::serving;
    fenced_reported_ = false;
    auto held = std::exchange(held_, {});
    for (auto& b : held)
      deliver(std::move(b.cmd), std::move(b.reply));
  }

  /// The store refused a write of `entity_id` because another writer owns it. On a single node that is a second
  /// process on the same store (a misconfiguration: logged once per shard); in a cluster it means this member's
  /// ownership of the shard is stale.
  void on_fenced(const std::string& entity_id) {
    ++fenced_;
    // Once per serving period: the member re-reads the store on the first refusal; more add nothing.
    if (!fenced_reported_ && phase_ != phase::shutting_down && cfg_.hooks && cfg_.hooks->fenced) {
      fenced_reported_ = true;
      cfg_.hooks->fenced(cfg_.index);
    }
    if (fenced_ == 1)
      log::warn("shard fenced: another writer owns an entity of this shard",
                {{"entity_type", cfg_.env->model->service_name},
                 {"shard", std::to_string(cfg_.index)},
                 {"entity_id", entity_id}});
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
    // Instances killed at the stop deadline were already reported together (kill_remaining).
    bool killed = phase_ == phase::shutting_down && dm.reason == caf::exit_reason::kill;
    if (dm.reason && dm.reason != caf::exit_reason::normal && !killed)
      log::warn("entity actor terminated abnormally",
                {{"entity_type", cfg_.env->model->service_name}, {"entity_id", id}, {"reason", to_string(dm.reason)}});
    auto buffered = std::move(i->second.buffered);
    if (i->second.lru_pos != lru_.end()) {
      // Went down without being passivated (crashed): it was still counted live.
      lru_.erase(i->second.lru_pos);
      cfg_.budget->change(cfg_.index, -1);
    }
    instances_.erase(i);
    for (auto& b : buffered) {
      switch (phase_) {
        case phase::serving:
          deliver(std::move(b.cmd), std::move(b.reply));
          break;
        case phase::handing_over:
        case phase::stopped:
          held_.push_back(std::move(b));
          break;
        case phase::forwarding:  // Not reached: a forwarding shard has no instances.
          forward(std::move(b.cmd), std::move(b.reply));
          break;
        case phase::shutting_down:
          b.reply.deliver(command_result::failure(status_code::unavailable, "node is shutting down"));
          break;
      }
    }
    finish_handover_if_empty();
    if (phase_ == phase::shutting_down && instances_.empty())
      quit(exit_reason_);
  }

  void on_exit_requested(const caf::exit_msg& em) {
    if (phase_ == phase::shutting_down)
      return;
    phase_ = phase::shutting_down;
    exit_reason_ = em.reason;
    for (auto& b : held_)
      b.reply.deliver(command_result::failure(status_code::unavailable, "node is shutting down"));
    held_.clear();
    for (auto& rp : handovers_)
      rp.deliver(caf::make_error(caf::sec::request_receiver_down));
    handovers_.clear();
    for (auto& [id, inst] : instances_)
      passivate(inst);
    if (instances_.empty()) {
      quit(em.reason);
      return;
    }
    kill_at_ = clock().now() + cfg_.stop_timeout;
    delayed_send(this, cfg_.stop_timeout, tick_atom_v);
  }

  /// Instances still running at the stop deadline wait for something that may never come (a user function that does
  /// not answer); killing them fails what they hold (entity_actor::on_exit) and lets the shard, and shutdown, finish.
  void kill_remaining() {
    if (instances_.empty())
      return;
    log::warn("entities did not stop in time; killing them", {{"entity_type", cfg_.env->model->service_name},
                                                              {"shard", std::to_string(cfg_.index)},
                                                              {"count", std::to_string(instances_.size())}});
    for (auto& [id, inst] : instances_)
      send_exit(inst.handle, caf::exit_reason::kill);
  }

  shard_config cfg_;
  /// The env the shard's instances get: the type's (`cfg_.env`) unless served fenced, then a copy with the fence.
  std::shared_ptr<const entity_env> env_;
  phase phase_ = phase::serving;
  std::string address_;  ///< Forwarding: the owner's address.
  std::unordered_map<std::string, instance> instances_;
  std::unordered_map<caf::actor_id, const std::string*> by_actor_id_;  ///< Keys of `instances_`.
  std::list<const std::string*> lru_;   ///< Keys of `instances_`: live, not stopping; least recently used first.
  std::vector<buffered_command> held_;  ///< Commands that arrived while the shard was not serving.
  std::vector<caf::response_promise> handovers_;
  uint64_t handed_over_ = 0;
  next_state after_handover_;
  bool tick_armed_ = false;
  uint64_t fenced_ = 0;                   ///< Writes of this shard's instances that the store refused (conflict).
  bool fenced_reported_ = false;          ///< `shard_hooks::fenced` was called since the shard last began serving.
  caf::actor_clock::time_point kill_at_;  ///< At shutdown: when instances still running are killed.
  caf::error exit_reason_;
};

}  // namespace

caf::actor spawn_shard(caf::actor_system& sys, shard_config cfg) {
  auto budget = cfg.budget;
  auto index = cfg.index;
  auto handle = sys.spawn<shard_actor>(std::move(cfg));
  budget->attach(index, handle);
  return handle;
}

}  // namespace actorstate::runtime
