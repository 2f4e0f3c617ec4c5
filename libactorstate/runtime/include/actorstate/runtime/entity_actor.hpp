// The life cycle every stateful entity actor shares: one command at a time in arrival order, recovery before the
// first command, replies held back until the writes they depend on are durable (pipelining: the next command may
// run against state that includes writes not yet durable), restart after a failure, and passivation.
//
// Writes are numbered per incarnation (`begin_write`). A reply depends on every write issued before it; it leaves
// when all of those are durable. A failed write fails every reply still waiting (each of them saw the failed
// write's effects), then the entity drops its state and, once its outstanding writes have returned, recovers from
// the store before the next command. Single-writer fencing in the store makes writes issued after a failed one
// fail too, so the stored history never has gaps. A restart a command caused (its handler failed, or the user
// function asked for one in its reply) recovers as soon as the outstanding writes have returned instead (`restart`).
//
// Idempotency keys (store.hpp, "Idempotency keys"): a command whose metadata carries `idempotency-key` is first looked
// up in the store (one read, after the entity's earlier writes, which the store orders before it); if the entity
// already applied that key, the stored reply answers it and nothing runs. Otherwise it runs, and a write it causes
// carries the record (`applied_record`), committed in the same transaction. A command that writes nothing records
// nothing. Commands without a key cost nothing extra.
//
// This is the runtime interface the Cloudstate bridge builds on (proxy/bridge: bridged entity actors derive from
// `entity_actor`; a model's `spawn_instance` is an `instance_factory`).
//
// Thread rules: runs entirely inside the actor; persistence callbacks come back through `post`.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <caf/event_based_actor.hpp>

#include "actorstate/detail/model.hpp"
#include "actorstate/ops/metrics.hpp"
#include "actorstate/persistence/store.hpp"
#include "actorstate/runtime/effects.hpp"
#include "actorstate/runtime/fifo.hpp"
#include "actorstate/runtime/lease.hpp"
#include "actorstate/runtime/messages.hpp"
#include "actorstate/runtime/post.hpp"
#include "actorstate/runtime/reply.hpp"

namespace actorstate::runtime {

/// What every entity instance of one type shares; in a cluster, of one type in one shard served at one epoch.
struct entity_env {
  std::shared_ptr<const detail::model_base> model;
  std::shared_ptr<persistence::store> store;
  std::shared_ptr<metrics::entity_metrics> metrics;
  route_fn route;             ///< Where forwards and side effects go (the node's frontend router).
  size_t max_pipeline = 256;  ///< Most writes in flight per entity before it stops taking commands.
  /// What every write of the instances carries: unfenced on a node that runs alone; in a cluster the shard's index and
  /// the epoch it is served at (the shard gives its instances a copy of the type's env with it, so an idle instance
  /// carries no fence of its own and the fence costs the command path nothing).
  std::optional<persistence::write_fence> fence;
  /// In a cluster: the member's lease and the generation the shard began serving in (runtime/lease.hpp). An answer
  /// leaves only while it is valid; null on a node that runs alone.
  std::shared_ptr<const runtime::lease> member_lease;
  uint64_t lease_generation = 0;
  /// Whether commands' idempotency keys are honoured (the node's `--idempotency-retention` is not zero).
  bool idempotency_keys = true;
};

/// The code a caller hears for a failed store operation: `client_code` of the store's code, and `INTERNAL` for a
/// request the store refused as malformed (the runtime's fault, not the caller's).
status_code store_failure_code(const status& st);

/// Spawns the instances of an entity type whose handlers run outside the runtime (the Cloudstate bridge); set as the
/// model's `spawn_instance`. The actor it spawns derives from `entity_actor` below.
class instance_factory {
public:
  virtual ~instance_factory() = default;
  virtual caf::actor spawn(caf::local_actor* parent, std::shared_ptr<const entity_env> env,
                           const std::string& entity_id) const = 0;
};

class entity_actor : public detail::worker_marked_actor {
public:
  entity_actor(caf::actor_config& cfg, std::shared_ptr<const entity_env> env, std::string entity_id);
  ~entity_actor() override;

  caf::behavior make_behavior() override;
  void on_exit() override;
  const char* name() const override { return "actorstate.entity"; }

protected:
  using clock = std::chrono::steady_clock;

  struct pending_command {
    command cmd;
    reply_to reply;
    clock::time_point arrived;
  };

  /// Starts loading state; must end in exactly one call of `recovered` or `recovery_failed`.
  virtual void recover() = 0;
  /// Handles one command synchronously: it ends in `respond` (possibly after `begin_write`s) or `fail_and_restart`.
  virtual void handle(pending_command& pc) = 0;
  /// Drops in-memory state (before a re-recovery).
  virtual void reset() = 0;

  void recovered();
  void recovery_failed(status_code code, const std::string& message);

  /// Registers a write about to be issued; returns its number for `write_done`.
  uint64_t begin_write();
  /// Appends `events` to this entity's journal as the next write. `snapshot`, if given, is saved once the append is
  /// durable, so a snapshot never includes events that might not exist (a lost snapshot only costs replay time).
  /// `applied`: the record of the command that caused the append (`applied_record`), committed with it.
  void append_events(std::vector<persistence::event> events, std::optional<persistence::snapshot> snapshot,
                     std::optional<persistence::applied_command> applied = std::nullopt);
  /// Whether `pc` carries an idempotency key this entity honours.
  bool keyed(const pending_command& pc) const;
  /// The record a write caused by `pc` carries, so that a retry of `pc` is answered what `plan` describes (its result
  /// and forward; side effects are not made again); nullopt if `pc` is not `keyed`.
  std::optional<persistence::applied_command> applied_record(const pending_command& pc, const reply_plan& plan) const;
  /// What a write of this instance carries: its fence, and `applied`.
  persistence::write_options options_of(std::optional<persistence::applied_command> applied = std::nullopt) const {
    return {fence(), std::move(applied)};
  }
  /// Reports the outcome of write `n`; outcomes must arrive in issue order (the store guarantees it per pid).
  void write_done(uint64_t n, const status& st);
  /// Replies once every write issued so far is durable.
  void respond(pending_command& pc, command_result result);
  /// The same for a reply that comes with forwards or side effects; they run once the writes are durable.
  void respond(pending_command& pc, reply_plan plan);

  /// A forward or side effect could not be delivered (the command already failed); bridges tell the user function.
  virtual void on_effect_error(const detail::effect_call& call, const command_result& error, const char* role);
  /// When a restarted entity recovers. Either way it first waits until every write of the failed incarnation has
  /// returned (recovery then reads final state), and an entity asked to stop stops instead of recovering.
  enum class recovery {
    /// At once: for a restart a command caused, so that the user function's recovery (init, replay) is paid in the
    /// background rather than by the next caller, as the Cloudstate proxy does. This cannot loop: every eager
    /// restart follows a failed command, and a recovery that fails leaves the entity idle (no retry), so a user
    /// function that fails every init costs one recovery per command at most.
    eager,
    /// On the next command: for a restart no command caused. An idle stream that ended or a protocol violation with
    /// nothing in flight would otherwise let the user function restart the entity without bound, and a failed
    /// write must not be retried eagerly either: a `conflict` means another node owns the entity, and a storage
    /// fault should not make the entity spin.
    lazy,
  };

  /// Fails `pc` and restarts the entity, recovering at once (handler threw, state could not be applied).
  void fail_and_restart(pending_command& pc, status_code code, const std::string& message);
  /// Drops state and recovers `when` asked, without failing anything (a restart the entity asked for). A write
  /// failure before the recovery began makes it lazy.
  void restart(recovery when);

  /// For handlers that answer later: no further command is taken until `end_async`.
  void begin_async() { busy_ = true; }
  void end_async();
  /// The entity is restarting (from `reset`) or stopping (from `on_stop`) while an asynchronous handler still had
  /// `pc`: fail it at once, since it ran against state that is being dropped, and take commands again once recovered.
  void abandon_async(pending_command& pc, status_code code, const std::string& message);

  /// Called once before the actor stops (passivation, shutdown, crash): release external resources here.
  virtual void on_stop() {}

  /// A store callback that runs `fn(value)` inside this actor (the store calls back on its own threads).
  template <class T, class F>
  persistence::callback<T> in_actor(F fn);

  /// A store callback for write `n` that reports its outcome through `write_done`. Successes are coalesced: the store's
  /// thread records the highest durable write number and posts at most one notice at a time, so a hot entity whose
  /// writes complete in batches of hundreds gets one message per batch. After a failure in an incarnation, outcomes
  /// travel one by one, which keeps them in issue order.
  template <class T>
  persistence::callback<T> write_callback(uint64_t n);

  /// Runs the user's command handler. Returns false if it threw (the command has then failed and the entity
  /// restarts), or if the output needs no write (the command has then been answered).
  template <class F>
  bool run_handler(pending_command& pc, F&& handler, detail::handler_output& out);

  const entity_env& env() const { return *env_; }
  /// The fence every write of this instance carries (fixed for its life: a shard served at a new epoch spawns new
  /// instances).
  const std::optional<persistence::write_fence>& fence() const { return env_->fence; }
  const std::string& entity_id() const { return entity_id_; }
  /// The persistence id of this instance: "<persistence_id>|<entity_id>".
  /// Built on each use rather than kept: it is mostly copied into a store call anyway, and an idle entity then does
  /// not carry a second, usually heap-allocated, copy of its id.
  std::string pid() const { return env_->model->persistence_id + "|" + entity_id_; }

private:
  enum class phase { idle, recovering, ready, failed };

  struct waiting_reply {
    uint64_t needs;  ///< Write number that must be durable first.
    reply_to reply;
    reply_plan plan;
    clock::time_point arrived;
  };

  struct durable_signal {
    std::atomic<uint64_t> upto{0};    ///< Highest write number known durable (coalesced successes only).
    std::atomic<bool> posted{false};  ///< A notice is on its way to the actor.
    std::atomic<bool> failed{false};  ///< A write of this incarnation failed: later outcomes are posted one by one.
    uint64_t noticed = 0;             ///< The actor's: writes up to this number came through notices.
  };

  void on_durable_notice(const std::shared_ptr<durable_signal>& signal);
  void record_write(uint64_t n, const status& st);
  void after_writes();
  void enqueue(command& cmd, reply_to reply);
  void process();
  void deliver(reply_to& reply, command_result result, clock::time_point arrived);
  void deliver(reply_to& reply, reply_plan plan, clock::time_point arrived);
  void release_durable();
  void maybe_restart();
  void start_recovery();
  void maybe_stop();
  void look_up(pending_command pc, std::string key);
  void on_looked_up(uint64_t lookup, result<std::optional<std::string>> found);
  void requeue_lookup();

  std::shared_ptr<const entity_env> env_;
  std::string entity_id_;
  caf::actor_addr shard_;  ///< The shard that spawned this instance (weak); told when the store fences a write.
  phase phase_ = phase::idle;
  fifo<pending_command> queue_;
  fifo<waiting_reply> waiting_;
  uint64_t issued_ = 0;
  uint64_t durable_ = 0;
  uint64_t outstanding_ = 0;
  bool stopping_ = false;
  bool recover_eagerly_ = false;  ///< In phase failed: recover once the writes are back, without waiting for a command.
  bool busy_ = false;
  bool stopped_ = false;
  size_t effects_running_ = 0;
  /// Snapshots to save once their write is durable, by write number (ascending, as writes complete in order).
  fifo<std::pair<uint64_t, persistence::snapshot>> snapshot_after_;
  std::shared_ptr<durable_signal> signal_;  ///< This incarnation's; made at its first write.
  /// The command whose idempotency key is being looked up (busy_ meanwhile). A restart puts it back at the front of the
  /// queue, to be looked up again once recovered. On the heap: held in place it made every instance about 250 bytes
  /// bigger (a command and its reply destination) for what only an instance looking up a key needs, briefly.
  std::unique_ptr<pending_command> looking_up_;
  uint64_t lookups_ = 0;  ///< Numbers the lookups; the answer of one that was put back is dropped.
  clock::time_point recovery_started_;
};

}  // namespace actorstate::runtime

#include <caf/actor_cast.hpp>

namespace actorstate::runtime {

template <class T, class F>
persistence::callback<T> entity_actor::in_actor(F fn) {
  return [self = caf::actor_cast<caf::actor>(this), fn = std::move(fn)](T value) mutable {
    detail::post(self, [fn = std::move(fn), value = std::move(value)]() mutable { fn(std::move(value)); });
  };
}

namespace detail_status {
inline const status& of(const status& st) {
  return st;
}
template <class T>
const status& of(const result<T>& res) {
  return res.error();
}
}  // namespace detail_status

template <class T>
persistence::callback<T> entity_actor::write_callback(uint64_t n) {
  if (!signal_)
    signal_ = std::make_shared<durable_signal>();
  // `self` keeps this actor, and with it env_ and its metrics, alive until the callback has run.
  return [this, self = caf::actor_cast<caf::actor>(this), signal = signal_, metrics = env_->metrics.get(), n,
          issued = clock::now()](T outcome) {
    metrics->persist_latency.observe(clock::now() - issued);
    const auto& st = detail_status::of(outcome);
    if (st.ok() && !signal->failed.load()) {
      signal->upto.store(n);
      if (!signal->posted.exchange(true))
        detail::post(self, [this, signal] { on_durable_notice(signal); });
      return;
    }
    if (!st.ok())
      signal->failed.store(true);
    detail::post(self, [this, n, st = st] { write_done(n, st); });
  };
}

template <class F>
bool entity_actor::run_handler(pending_command& pc, F&& handler, detail::handler_output& out) {
  try {
    out = handler();
  } catch (const std::exception& e) {
    fail_and_restart(pc, status_code::internal, std::string{"command handler threw: "} + e.what());
    return false;
  } catch (...) {
    fail_and_restart(pc, status_code::internal, "command handler threw");
    return false;
  }
  if (!out.status.ok()) {
    respond(pc, command_result::failure(std::move(out.status)));
    return false;
  }
  return true;
}

}  // namespace actorstate::runtime
