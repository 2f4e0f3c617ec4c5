#include "actorstate/runtime/entity_actor.hpp"

#include <utility>

#include <caf/all.hpp>

#include "actorstate/ops/log.hpp"
#include "idempotency.hpp"

namespace actorstate::runtime {

status_code store_failure_code(const status& st) {
  // A request the store refused as malformed is the runtime's fault, not the caller's.
  return st.code() == status_code::invalid_argument ? status_code::internal : client_code(st.code());
}

entity_actor::entity_actor(caf::actor_config& cfg, std::shared_ptr<const entity_env> env, std::string entity_id)
    : detail::worker_marked_actor(cfg), env_(std::move(env)), entity_id_(std::move(entity_id)) {
  if (cfg.parent != nullptr)
    shard_ = cfg.parent->address();
  env_->metrics->active.add(1);
}

entity_actor::~entity_actor() {
  env_->metrics->active.add(-1);
}

caf::behavior entity_actor::make_behavior() {
  // An exception escaping our own code (not a handler's: those are caught in `handle`) must not leave promises
  // unanswered; on_exit answers them.
  set_exception_handler([this](caf::scheduled_actor*, std::exception_ptr& ep) -> caf::error {
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      log::error("entity actor crashed",
                 {{"entity_type", env_->model->service_name}, {"entity_id", entity_id_}, {"error", e.what()}});
    } catch (...) {
      log::error("entity actor crashed", {{"entity_type", env_->model->service_name}, {"entity_id", entity_id_}});
    }
    return caf::make_error(caf::sec::runtime_error);
  });
  return {
      [this](command& cmd) { enqueue(cmd, reply_to{make_response_promise()}); },
      [this](local_command& lc) { enqueue(lc.cmd, reply_to{std::move(lc.slot)}); },
      [this](passivate_atom) {
        stopping_ = true;
        maybe_stop();
      },
      [](detail::continuation& c) { c.fn(); },
  };
}

void entity_actor::on_exit() {
  if (!stopped_) {
    stopped_ = true;
    on_stop();
  }
  auto gone = command_result::failure(status_code::unavailable, "entity stopped before answering");
  if (looking_up_) {
    looking_up_->reply.deliver(gone);
    looking_up_.reset();
  }
  for (auto& w : waiting_)
    w.reply.deliver(gone);
  for (auto& pc : queue_)
    pc.reply.deliver(gone);
  waiting_.clear();
  queue_.clear();
}

void entity_actor::enqueue(command& cmd, reply_to reply) {
  queue_.push_back(pending_command{std::move(cmd), std::move(reply), clock::now()});
  if (phase_ == phase::idle) {
    start_recovery();
    return;
  }
  process();
}

void entity_actor::start_recovery() {
  phase_ = phase::recovering;
  recovery_started_ = clock::now();
  recover();
}

void entity_actor::recovered() {
  env_->metrics->recoveries.inc();
  env_->metrics->recovery_latency.observe(clock::now() - recovery_started_);
  phase_ = phase::ready;
  process();
}

void entity_actor::recovery_failed(status_code code, const std::string& message) {
  env_->metrics->recovery_failures.inc();
  log::warn("entity recovery failed",
            {{"entity_type", env_->model->service_name}, {"entity_id", entity_id_}, {"error", message}});
  reset();
  phase_ = phase::idle;
  // Nothing was processed, so every queued command fails; the next one retries recovery.
  for (auto& pc : queue_.take_all())
    deliver(pc.reply, command_result::failure(code, message), pc.arrived);
  maybe_stop();
}

void entity_actor::process() {
  while (phase_ == phase::ready && !busy_ && !queue_.empty() && outstanding_ < env_->max_pipeline) {
    auto pc = queue_.take_front();
    env_->metrics->commands.inc();
    if (keyed(pc)) {
      auto key = std::string{idempotency::key_of(pc.cmd)};
      look_up(std::move(pc), std::move(key));
      continue;  // busy until the answer
    }
    handle(pc);
  }
  maybe_stop();
}

bool entity_actor::keyed(const pending_command& pc) const {
  return env_->idempotency_keys && !idempotency::key_of(pc.cmd).empty();
}

std::optional<persistence::applied_command> entity_actor::applied_record(const pending_command& pc,
                                                                         const reply_plan& plan) const {
  if (!keyed(pc))
    return std::nullopt;
  return persistence::applied_command{std::string{idempotency::key_of(pc.cmd)}, idempotency::encode(plan)};
}

void entity_actor::look_up(pending_command pc, std::string key) {
  // The store orders the read after this entity's earlier writes, so a retry that arrives while the first attempt's
  // write is in flight sees its record once that write committed, and none if it failed.
  busy_ = true;
  looking_up_ = std::make_unique<pending_command>(std::move(pc));
  auto n = ++lookups_;
  auto scope = env_->model->kind == detail::entity_kind::value ? persistence::applied_scope::value
                                                               : persistence::applied_scope::journal;
  using found = result<std::optional<std::string>>;
  env_->store->find_applied(scope, pid(), std::move(key),
                            in_actor<found>([this, n](found res) { on_looked_up(n, std::move(res)); }));
}

void entity_actor::on_looked_up(uint64_t lookup, result<std::optional<std::string>> found) {
  if (lookup != lookups_ || !looking_up_)
    return;  // put back by a restart; it is looked up again after the recovery
  auto pc = std::move(*looking_up_);
  looking_up_.reset();
  busy_ = false;
  if (!found.ok()) {
    deliver(pc.reply,
            command_result::failure(store_failure_code(found.error()),
                                    "could not look up the idempotency key: " + found.error().message()),
            pc.arrived);
  } else if (!found.value()) {
    handle(pc);
  } else if (auto plan = idempotency::decode(*found.value())) {
    env_->metrics->idempotent_replays.inc();
    respond(pc, std::move(*plan));
  } else {
    deliver(pc.reply,
            command_result::failure(status_code::data_loss, "the stored reply of idempotency key '" +
                                                                std::string{idempotency::key_of(pc.cmd)} + "' of " +
                                                                pid() + " does not decode"),
            pc.arrived);
  }
  process();
}

void entity_actor::requeue_lookup() {
  if (!looking_up_)
    return;
  // The command has not run: it keeps its place, ahead of the commands that came after it.
  ++lookups_;
  queue_.push_front(std::move(*looking_up_));
  looking_up_.reset();
  busy_ = false;
}

uint64_t entity_actor::begin_write() {
  ++outstanding_;
  return ++issued_;
}

void entity_actor::append_events(std::vector<persistence::event> events, std::optional<persistence::snapshot> snapshot,
                                 std::optional<persistence::applied_command> applied) {
  auto n = begin_write();
  if (snapshot)
    snapshot_after_.push_back({n, std::move(*snapshot)});
  env_->metrics->persisted_events.inc(events.size());
  env_->store->append(pid(), std::move(events), options_of(std::move(applied)), write_callback<status>(n));
}

void entity_actor::write_done(uint64_t n, const status& st) {
  record_write(n, st);
  after_writes();
}

void entity_actor::on_durable_notice(const std::shared_ptr<durable_signal>& signal) {
  // A notice of an earlier incarnation comes after all of its writes were accounted for (a restart waits for them).
  if (signal != signal_)
    return;
  signal->posted.store(false);
  auto upto = signal->upto.load();
  if (signal->noticed >= upto)
    return;
  status ok;
  while (signal->noticed < upto)
    record_write(++signal->noticed, ok);
  after_writes();
}

void entity_actor::record_write(uint64_t n, const status& st) {
  --outstanding_;
  if (!snapshot_after_.empty() && snapshot_after_.front().first == n) {
    auto snap = snapshot_after_.take_front().second;
    if (st.ok()) {
      auto seq = snap.seq;
      auto p = pid();
      env_->store->save_snapshot(p, std::move(snap), fence(), [p, seq](status saved) {
        if (!saved.ok())
          log::warn("snapshot not saved",
                    {{"persistence_id", p}, {"seq", std::to_string(seq)}, {"error", saved.to_string()}});
      });
    }
  }
  if (st.ok()) {
    if (n > durable_)
      durable_ = n;
    release_durable();
  } else if (n > durable_) {
    env_->metrics->persist_failures.inc();
    // Also when a command's restart already waits for this write: recovering without a command would be wrong after
    // a conflict (another node owns the entity) and would make a failing store spin.
    recover_eagerly_ = false;
    if (st.code() == status_code::conflict && phase_ != phase::failed) {
      // Not a storage fault: another writer owns this entity. Its shard decides what that means (a cluster member
      // gives the shard up); the instance restarts from the store like after any failed write.
      env_->metrics->fenced.inc();
      if (auto shard = caf::actor_cast<caf::actor>(shard_))
        send(shard, fenced_atom_v, entity_id_);
    }
    requeue_lookup();
    if (phase_ != phase::failed) {
      log::warn("entity write failed; restarting entity",
                {{"entity_type", env_->model->service_name}, {"entity_id", entity_id_}, {"error", st.to_string()}});
      env_->metrics->restarts.inc();
      phase_ = phase::failed;
      reset();
    }
    // Every waiting reply depends on this write (or a later one, which the store's fencing rejects as well).
    auto code = store_failure_code(st);
    for (auto& w : waiting_.take_all())
      deliver(w.reply, command_result::failure(code, "could not persist: " + st.message()), w.arrived);
  }
}

void entity_actor::after_writes() {
  maybe_restart();
  if (phase_ == phase::ready)
    process();
  else
    maybe_stop();
}

void entity_actor::respond(pending_command& pc, command_result result) {
  reply_plan plan;
  plan.result = std::move(result);
  respond(pc, std::move(plan));
}

void entity_actor::respond(pending_command& pc, reply_plan plan) {
  if (durable_ >= issued_ && waiting_.empty()) {
    deliver(pc.reply, std::move(plan), pc.arrived);
    return;
  }
  waiting_.push_back(waiting_reply{issued_, std::move(pc.reply), std::move(plan), pc.arrived});
}

void entity_actor::fail_and_restart(pending_command& pc, status_code code, const std::string& message) {
  log::warn("entity handler failed; restarting entity",
            {{"entity_type", env_->model->service_name}, {"entity_id", entity_id_}, {"error", message}});
  deliver(pc.reply, command_result::failure(code, message), pc.arrived);
  restart(recovery::eager);
}

void entity_actor::restart(recovery when) {
  env_->metrics->restarts.inc();
  busy_ = false;
  requeue_lookup();
  // A restart while an earlier one still waits for writes keeps the earlier one's laziness (a failed write's).
  recover_eagerly_ = when == recovery::eager && (phase_ != phase::failed || recover_eagerly_);
  phase_ = phase::failed;
  reset();
  maybe_restart();
  // A passivation that arrived while the command was in flight could not stop the entity then; the shard never
  // asks again (at shutdown it only waits, then kills), so a restart that leaves the entity idle must finish it now.
  maybe_stop();
}

void entity_actor::end_async() {
  busy_ = false;
  process();
}

void entity_actor::abandon_async(pending_command& pc, status_code code, const std::string& message) {
  busy_ = false;
  deliver(pc.reply, command_result::failure(code, message), pc.arrived);
}

void entity_actor::deliver(reply_to& reply, reply_plan plan, clock::time_point arrived) {
  if (!plan.has_calls()) {
    deliver(reply, std::move(plan.result), arrived);
    return;
  }
  ++effects_running_;
  execute(
      detail::poster(caf::actor_cast<caf::actor>(this)), env_->route, std::move(plan),
      [this, reply, arrived](command_result r) mutable {
        --effects_running_;
        deliver(reply, std::move(r), arrived);
        maybe_stop();
      },
      [this](const detail::effect_call& call, const command_result& error, const char* role) {
        on_effect_error(call, error, role);
      });
}

void entity_actor::on_effect_error(const detail::effect_call& call, const command_result& error, const char* role) {
  log::warn("forward or side effect failed", {{"target", call.service_name + "/" + call.method},
                                              {"role", role},
                                              {"entity_type", env_->model->service_name},
                                              {"entity_id", entity_id_},
                                              {"error", error.status.message()}});
}

void entity_actor::deliver(reply_to& reply, command_result result, clock::time_point arrived) {
  // A member whose lease ran out (it was paused, or cut off from the store) may have lost this entity's shard to
  // another member that changed it since: nothing leaves from this instance's memory then. The caller retries and
  // reaches the owner. (A write that committed is not lost by this: the fence let it through, so it is durable.)
  if (result.ok() && env_->member_lease && !env_->member_lease->valid(env_->lease_generation))
    result = command_result::failure(status_code::unavailable,
                                     "this cluster member's lease ran out before it could answer; retry");
  if (!result.ok())
    env_->metrics->command_failures.inc();
  env_->metrics->command_latency.observe(clock::now() - arrived);
  reply.deliver(std::move(result));
}

void entity_actor::release_durable() {
  while (!waiting_.empty() && waiting_.front().needs <= durable_) {
    auto w = waiting_.take_front();
    deliver(w.reply, std::move(w.plan), w.arrived);
  }
}

void entity_actor::maybe_restart() {
  // A restart waits until every write of the failed incarnation has come back, so recovery reads final state.
  if (phase_ != phase::failed || outstanding_ > 0)
    return;
  issued_ = 0;
  durable_ = 0;
  signal_.reset();
  phase_ = phase::idle;
  // An entity asked to stop stops (maybe_stop) rather than recover for commands it will not get.
  bool eager = std::exchange(recover_eagerly_, false) && !stopping_;
  if (eager || !queue_.empty())
    start_recovery();
}

void entity_actor::maybe_stop() {
  // stopped_: a restart inside `process` may already have stopped the entity.
  if (stopping_ && !stopped_ && !busy_ && effects_running_ == 0 && queue_.empty() && waiting_.empty() &&
      outstanding_ == 0 && (phase_ == phase::ready || phase_ == phase::idle)) {
    env_->metrics->passivations.inc();
    stopped_ = true;
    on_stop();
    quit();
  }
}

}  // namespace actorstate::runtime
