// CRDT entity instances and their manager (entities.hpp has the contract).
#include "actorstate/crdt/entities.hpp"

#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>

#include <google/protobuf/descriptor.h>
#include <caf/all.hpp>

#include "actorstate/crdt/protocol_actions.hpp"
#include "actorstate/crdt/replicated.hpp"
#include "actorstate/entity.hpp"
#include "actorstate/ops/log.hpp"
#include "actorstate/runtime/effects.hpp"
#include "actorstate/runtime/messages.hpp"
#include "actorstate/runtime/post.hpp"
#include "actorstate/runtime/reply.hpp"
#include "cloudstate/crdt.pb.h"

namespace actorstate::crdt {

namespace pb = cloudstate::crdt;

namespace messages {

class stream_call;

/// What a manager hands an instance: a command and where its answer goes, or a streamed command's call.
struct delivery {
  command cmd;
  runtime::reply_to reply;
  std::shared_ptr<stream_call> call;
};

/// The client of streamed command `id` went away. `call` tells it from a later command that got the same id on a
/// newer stream (ids count per stream) while this notice was on its way; it is compared, never dereferenced.
struct client_cancelled {
  int64_t id = 0;
  const void* call = nullptr;
};

/// A replica message from another member (replication.hpp).
struct replica_in {
  std::string entity_id;
  std::string message;
  std::function<void(status)> done;
};

/// The live members changed (for Vote, and where deltas go).
struct membership {
  std::vector<replica_peer> peers;
};

/// A streamed command's call, shared by the frontend (which sends its one message and may cancel it) and the
/// instance (which answers it). Elements and the end are passed on to the frontend's sink, the end exactly once.
class stream_call final : public ::actorstate::detail::action_stream, public std::enable_shared_from_this<stream_call> {
public:
  stream_call(caf::actor manager, std::string method, key_reader key, std::vector<metadata_entry> metadata,
              ::actorstate::detail::action_stream_sink sink)
      : manager_(std::move(manager)),
        method_(std::move(method)),
        key_(std::move(key)),
        metadata_(std::move(metadata)),
        sink_(std::move(sink)) {}

  void send(std::string payload) override {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (sent_ || ended_)
        return;  // a server-streaming method takes one message
      sent_ = true;
    }
    auto id = key_(payload);
    if (!id.ok()) {
      end(command_result::failure(id.error()));
      return;
    }
    if (id->empty()) {
      end(command_result::failure(status_code::invalid_argument, "the entity key is empty"));
      return;
    }
    command cmd;
    cmd.entity_id = std::move(id).value();
    cmd.method = method_;
    cmd.payload = std::move(payload);
    cmd.metadata = metadata_;
    ::actorstate::detail::send_here(manager_, delivery{std::move(cmd), {}, shared_from_this()});
  }

  void half_close() override {}

  void cancel() override {
    caf::actor instance;
    int64_t id = 0;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (ended_ || cancelled_)
        return;
      cancelled_ = true;
      ended_ = true;  // nothing more reaches a client that went away
      instance = instance_;
      id = id_;
    }
    // The frontend's call still needs its one end: a gRPC reactor is done only after it finished (even when the
    // client cancelled), so without it the call leaks, the drain waits for it and the server's shutdown never
    // returns. `ended_` is set, so nothing else ends it again.
    sink_.end(command_result::failure(status_code::cancelled, "the client cancelled the call"));
    if (instance)
      ::actorstate::detail::send_here(instance, client_cancelled{id, this});
  }

  /// The instance took the call as command `id`; true if the client had cancelled it already.
  bool bind(caf::actor instance, int64_t id) {
    std::lock_guard<std::mutex> guard{mtx_};
    instance_ = std::move(instance);
    id_ = id;
    return cancelled_;
  }

  void element(std::string payload) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (ended_)
        return;
    }
    sink_.element(std::move(payload));
  }

  void end(command_result result) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (ended_)
        return;
      ended_ = true;
      instance_ = nullptr;
    }
    sink_.end(std::move(result));
  }

private:
  caf::actor manager_;
  std::string method_;
  key_reader key_;
  std::vector<metadata_entry> metadata_;
  ::actorstate::detail::action_stream_sink sink_;
  std::mutex mtx_;
  bool sent_ = false;
  bool cancelled_ = false;
  bool ended_ = false;
  caf::actor instance_;
  int64_t id_ = 0;
};

}  // namespace messages
}  // namespace actorstate::crdt

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actorstate::crdt::messages::delivery)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actorstate::crdt::messages::client_cancelled)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actorstate::crdt::messages::replica_in)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actorstate::crdt::messages::membership)

namespace actorstate::crdt {

namespace {

using messages::client_cancelled;
using messages::delivery;
using messages::membership;
using messages::replica_in;
using messages::stream_call;
using clock = std::chrono::steady_clock;

/// Where a command's answer goes: its streamed call (which it ends) if it has one, else its reply destination.
void answer(runtime::reply_to& reply, const std::shared_ptr<stream_call>& call, command_result r) {
  if (call)
    call->end(std::move(r));
  else
    reply.deliver(std::move(r));
}

/// The type URL under which a replica's state is stored (the value's `type`).
constexpr const char* stored_type = "actorstate.crdt.replicated";
/// How often a manager looks at the membership (a member that died stops counting in Votes within this).
constexpr std::chrono::milliseconds membership_poll{250};
/// A write that failed for a reason other than a conflict is tried again after this long.
constexpr std::chrono::seconds write_retry{1};

/// What every instance of one type shares.
struct shared_config {
  type_config cfg;
  const ::actorstate::detail::crdt_model* model = nullptr;

  int64_t now_ms() const {
    if (cfg.wall_clock_ms)
      return cfg.wall_clock_ms();
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  void report(const std::string& message) const {
    if (model->report_error)
      model->report_error(message);
  }
};

class instance final : public ::actorstate::detail::worker_marked_actor {
public:
  /// `replica` and `peers`: this member's replica id and the live members as the manager last read them (an
  /// instance does not read the membership itself: spawning many must not cost a reading each).
  instance(caf::actor_config& cfg, std::shared_ptr<const shared_config> shared, std::string id, caf::actor manager,
           std::string replica, std::vector<replica_peer> peers)
      : ::actorstate::detail::worker_marked_actor(cfg),
        shared_(std::move(shared)),
        id_(std::move(id)),
        manager_(std::move(manager)),
        replica_(std::move(replica)) {
    set_peers(std::move(peers));
  }

  const char* name() const override { return "actorstate.crdt.entity"; }

  caf::behavior make_behavior() override {
    env().metrics->active.add(1);
    last_active_ = clock::now();
    start_load();
    arm_idle_timer();
    if (shared_->cfg.peers)
      arm_sync_timer();
    return {
        [this](delivery& d) {
          ++received_;
          take(std::move(d));
        },
        [this](client_cancelled c) { on_client_cancelled(c.id, c.call); },
        [this](::actorstate::detail::continuation& c) { c.fn(); },
        [this](tick_atom) { on_idle_tick(); },
        [this](passivate_atom) { stop(); },
        [this](replica_in& r) { on_replica(r); },
        [this](membership& m) {
          set_peers(std::move(m.peers));
          unseen_ = true;  // a Vote's view counts the live members
          push_changes();
        },
    };
  }

  void on_exit() override {
    // Killed (the manager's stop timeout) or stopped: nothing that is still owed may be left waiting.
    fail_everything(status{status_code::unavailable, "the entity stopped"});
    close_conversation();
    env().metrics->active.add(-1);
  }

private:
  struct pending {
    std::string method;
    runtime::reply_to reply;
    std::shared_ptr<stream_call> call;  ///< Streamed commands.
    bool cancelled = false;             ///< The client went away before the first reply.
    clock::time_point arrived;
  };

  /// Something a client sees (a reply, a streamed element, the end of a call) or a side effect: released in order,
  /// once the state that includes every change made before it is durable.
  /// The acknowledgements a change's write consistency (MAJORITY, ALL) waits for.
  struct ack_gate {
    size_t need = 0;  ///< From other members.
    size_t sent = 0;
    size_t acked = 0;
    size_t answered = 0;
    std::string consistency;
    bool settled() const { return acked >= need || answered >= sent; }
    bool met() const { return acked >= need; }
  };

  struct outgoing {
    uint64_t needs;
    std::function<void()> run;
    std::function<void(const status&)> fail;  ///< The write it waits for failed, or its acknowledgements.
    std::shared_ptr<ack_gate> gate;           ///< Null: durability is all it waits for.
  };

  const runtime::entity_env& env() const { return *shared_->cfg.env; }
  const ::actorstate::detail::crdt_model& model() const { return *shared_->model; }
  std::string key() const { return env().model->persistence_id + "|" + id_; }
  caf::actor me() { return caf::actor_cast<caf::actor>(this); }

  /// Runs `fn(value)` inside this actor (store callbacks come on the store's threads).
  template <class T, class F>
  persistence::callback<T> in_actor(F fn) {
    return [self = me(), fn = std::move(fn)](T value) mutable {
      ::actorstate::detail::post(self,
                                 [fn = std::move(fn), value = std::move(value)]() mutable { fn(std::move(value)); });
    };
  }

  // --- loading and writing ------------------------------------------------------------------------------------------

  void start_load() {
    loading_ = true;
    env().store->get_value(key(), in_actor<result<std::optional<persistence::stored_value>>>(
                                      [this](result<std::optional<persistence::stored_value>> r) { on_loaded(r); }));
  }

  /// Parses what the store holds into a replica state; `data_loss` if it is not one.
  result<replicated> parse_stored(const persistence::stored_value& v) const {
    if (v.type != stored_type)
      return status{status_code::data_loss, "the stored value " + key() + " is a " + v.type + ", not a CRDT"};
    auto parsed = parse(v.payload);
    if (!parsed.ok())
      return status{status_code::data_loss,
                    "the stored CRDT state of " + key() + " does not parse: " + parsed.error().message()};
    return parsed;
  }

  void on_loaded(result<std::optional<persistence::stored_value>>& r) {
    loading_ = false;
    status problem;
    if (!r.ok()) {
      problem = status{runtime::store_failure_code(r.error()), r.error().message()};
    } else if (r.value()) {
      auto parsed = parse_stored(*r.value());
      if (parsed.ok()) {
        if (auto st = merge(state_, parsed.value()); !st.ok())
          problem = status{status_code::data_loss, st.message()};
        else
          version_ = r.value()->version;
      } else {
        problem = parsed.error();
      }
    }
    if (!problem.ok()) {
      log::warn("cannot load a CRDT entity",
                {{"entity_type", env().model->service_name}, {"entity_id", id_}, {"error", problem.message()}});
      auto queued = std::move(queued_);
      queued_.clear();
      for (auto& d : queued)
        refuse(d, problem);
      loaded_ = false;  // the next command tries again
      maybe_stop();
      return;
    }
    loaded_ = true;
    auto queued = std::move(queued_);
    queued_.clear();
    for (auto& d : queued)
      take(std::move(d));
    write();  // changes made while loading (none today), and a merge that went beyond what is stored
  }

  /// The replica changed in a way that must become durable.
  void changed() {
    ++changes_;
    write();
  }

  void write() {
    if (writing_ || !loaded_ || durable_ == changes_ || retry_pending_)
      return;
    writing_ = true;
    auto upto = changes_;
    auto started = clock::now();
    env().store->put_value(key(), stored_type, serialize(state_), version_, persistence::unfenced,
                           in_actor<result<int64_t>>([this, upto, started](result<int64_t> r) {
                             env().metrics->persist_latency.observe(clock::now() - started);
                             on_written(upto, r);
                           }));
  }

  void on_written(uint64_t upto, result<int64_t>& r) {
    writing_ = false;
    if (r.ok()) {
      env().metrics->persisted_events.inc();
      version_ = r.value();
      durable_ = upto;
      release();
      write();
      maybe_stop();
      return;
    }
    const auto& err = r.error();
    if (err.code() == status_code::conflict || err.code() == status_code::unknown_outcome) {
      // Another member wrote the entity since we read it (or our write may or may not have landed): read what is
      // stored, merge it in and write again. Merging is idempotent, so a write of ours that did land is not counted
      // twice, and what another member stored is kept.
      writing_ = true;
      env().store->get_value(key(), in_actor<result<std::optional<persistence::stored_value>>>(
                                        [this](result<std::optional<persistence::stored_value>> got) {
                                          writing_ = false;
                                          on_reread(got);
                                        }));
      return;
    }
    env().metrics->persist_failures.inc();
    log::warn("cannot store a CRDT entity's state; retrying",
              {{"entity_type", env().model->service_name}, {"entity_id", id_}, {"error", err.message()}});
    // What waits for this write fails now (its change stays in the replica and is written by a later attempt, so the
    // caller's answer is "unknown outcome" in effect); the write is retried after a pause rather than at once.
    fail_waiting(status{runtime::store_failure_code(err), err.message()});
    retry_write_later();
  }

  /// Writes again after `write_retry` (a store that fails should not be hammered).
  void retry_write_later() {
    retry_pending_ = true;
    delayed_send(this, write_retry, ::actorstate::detail::continuation{[this] {
                   retry_pending_ = false;
                   write();
                   maybe_stop();
                 }});
  }

  void on_reread(result<std::optional<persistence::stored_value>>& got) {
    if (!got.ok()) {
      env().metrics->persist_failures.inc();
      fail_waiting(status{runtime::store_failure_code(got.error()), got.error().message()});
      retry_write_later();
      return;
    }
    if (got.value()) {
      auto parsed = parse_stored(*got.value());
      if (parsed.ok()) {
        absorb(parsed.value());
        version_ = got.value()->version;
      } else {
        // Not ours to repair: overwrite it only if nobody changes it again (version check).
        log::error("the stored CRDT state is not readable; overwriting it",
                   {{"key", key()}, {"error", parsed.error().message()}});
        version_ = got.value()->version;
      }
    } else {
      version_ = 0;
    }
    write();
  }

  /// Merges a state that came from elsewhere (the store, later another member) into the replica.
  void absorb(const replicated& other) {
    auto before_deleted = state_.deleted();
    if (auto st = merge(state_, other); !st.ok()) {
      log::error("cannot merge another replica's state of a CRDT entity",
                 {{"entity_type", env().model->service_name}, {"entity_id", id_}, {"error", st.message()}});
      return;
    }
    if (!before_deleted && state_.deleted()) {
      deleted_elsewhere();
      return;
    }
    unseen_ = true;
    push_changes();
  }

  /// Runs `run` once every change made so far is durable (and `gate` met, if given), after everything released
  /// before it.
  void after_durable(std::function<void()> run, std::function<void(const status&)> fail,
                     std::shared_ptr<ack_gate> gate = nullptr) {
    if (waiting_.empty() && durable_ == changes_ && (!gate || gate->met())) {
      run();
      return;
    }
    waiting_.push_back({changes_, std::move(run), std::move(fail), std::move(gate)});
  }

  void release() {
    while (!waiting_.empty() && waiting_.front().needs <= durable_ &&
           (!waiting_.front().gate || waiting_.front().gate->settled())) {
      auto o = std::move(waiting_.front());
      waiting_.pop_front();
      if (!o.gate || o.gate->met()) {
        o.run();
      } else if (o.fail) {
        // The change stays (it is durable here and reaches the others with the next full state); the caller hears
        // that the write consistency it asked for was not met in time.
        o.fail(status{status_code::unavailable, "the change reached " + std::to_string(o.gate->acked) + " of the " +
                                                    std::to_string(o.gate->need) +
                                                    " other members that write consistency " + o.gate->consistency +
                                                    " needs within " +
                                                    std::to_string(shared_->cfg.write_timeout.count()) + " ms"});
      }
    }
  }

  void fail_waiting(const status& why) {
    auto waiting = std::move(waiting_);
    waiting_.clear();
    for (auto& o : waiting)
      if (o.fail)
        o.fail(why);
  }

  // --- commands ------------------------------------------------------------------------------------------------------

  void refuse(delivery& d, const status& why) {
    env().metrics->command_failures.inc();
    answer(d.reply, d.call, command_result::failure(why));
  }

  void take(delivery d) {
    last_active_ = clock::now();
    env().metrics->commands.inc();
    if (stopping_) {
      refuse(d, status{status_code::unavailable, "the entity is stopping"});
      return;
    }
    if (!loaded_) {
      queued_.push_back(std::move(d));
      if (!loading_)
        start_load();
      return;
    }
    if (state_.deleted()) {
      refuse(d, status{status_code::not_found, "Entity deleted"});
      return;
    }
    open_conversation();
    const auto* method = env().model->service->FindMethodByName(d.cmd.method);
    if (method == nullptr) {
      refuse(d, status{status_code::unimplemented, "no method " + d.cmd.method + " in " + env().model->service_name});
      return;
    }
    auto id = ++next_command_;
    pb::CrdtStreamIn in;
    auto* c = in.mutable_command();
    c->set_entity_id(id_);
    c->set_id(id);
    c->set_name(d.cmd.method);
    c->mutable_payload()->set_type_url(type_url(method->input_type()));
    c->mutable_payload()->set_value(std::move(d.cmd.payload));
    if (d.call)
      c->set_streamed(true);
    pending p{d.cmd.method, std::move(d.reply), std::move(d.call), false, clock::now()};
    if (p.call && p.call->bind(me(), id))
      p.cancelled = true;
    pending_.emplace(id, std::move(p));
    conversation_->send(in);
  }

  void open_conversation() {
    if (conversation_)
      return;
    auto generation = ++generation_;
    ::actorstate::detail::crdt_sink sink;
    auto self = caf::weak_actor_ptr{ctrl()};
    auto in_this = [this, self, generation](auto fn) {
      if (auto alive = caf::actor_cast<caf::actor>(self))
        ::actorstate::detail::post(alive, [this, generation, fn = std::move(fn)]() mutable {
          if (generation == generation_)
            fn();
        });
    };
    sink.message = [this, in_this](pb::CrdtStreamOut out) {
      in_this([this, out = std::move(out)]() mutable { on_message(out); });
    };
    sink.ended = [this, in_this](status why) {
      in_this([this, why] {
        conversation_.reset();  // ended on its own: nothing to close
        restart("the entity's handler side ended its stream" + (why.ok() ? std::string{} : ": " + why.message()),
                status_code::unavailable, false);
      });
    };
    next_command_ = 0;  // ids count per stream, from 1
    conversation_ = model().open(id_, std::move(sink));
    pb::CrdtStreamIn in;
    auto* init = in.mutable_init();
    init->set_service_name(env().model->service_name);
    init->set_entity_id(id_);
    if (auto full = full_delta(state_, voters_))
      *init->mutable_delta() = std::move(*full);
    seen_ = state_;
    seen_voters_ = voters_;
    unseen_ = false;
    conversation_->send(in);
  }

  void close_conversation() {
    ++generation_;
    if (conversation_) {
      auto c = std::move(conversation_);
      c->close();
    }
  }

  size_t outstanding() const { return pending_.size() + cancelling_.size(); }

  void on_message(pb::CrdtStreamOut& out) {
    switch (out.message_case()) {
      case pb::CrdtStreamOut::kReply:
        on_reply(*out.mutable_reply());
        break;
      case pb::CrdtStreamOut::kStreamedMessage:
        on_streamed(*out.mutable_streamed_message());
        break;
      case pb::CrdtStreamOut::kStreamCancelledResponse:
        on_cancelled_response(*out.mutable_stream_cancelled_response());
        break;
      case pb::CrdtStreamOut::kFailure:
        on_failure(out.failure());
        break;
      case pb::CrdtStreamOut::MESSAGE_NOT_SET:
        protocol_error("a message with nothing in it", 0);
        break;
    }
    push_changes();
    maybe_stop();
  }

  /// Applies a state action of the handler side and sends the change to the other members; an error names what did
  /// not fit. `gate`: what the answer must wait for besides durability (its write consistency).
  status apply_state_action(const pb::CrdtStateAction& action, bool& deletes, std::shared_ptr<ack_gate>& gate) {
    deletes = false;
    if (action.has_update()) {
      auto delta = apply_change(state_, action.update(), {replica_, shared_->now_ms()});
      if (!delta.ok())
        return delta.error();
      // The handler side applied the change to its own value already.
      (void)merge(seen_, delta.value());
      changed();
      gate = publish(delta.value(), action.write_consistency());
      return {};
    }
    if (action.has_delete_()) {
      auto tombstone = deletion();
      (void)merge(state_, tombstone);
      changed();
      gate = publish(tombstone, action.write_consistency());
      deletes = true;
    }
    return {};
  }

  // --- replication ---------------------------------------------------------------------------------------------------

  void set_peers(std::vector<replica_peer> peers) {
    peers_ = std::move(peers);
    voters_.self = replica_;
    voters_.live = {replica_};
    for (const auto& p : peers_)
      voters_.live.push_back(p.replica);
  }

  /// Sends `delta` to every other member; returns what an answer at `consistency` must wait for (null: nothing).
  std::shared_ptr<ack_gate> publish(const replicated& delta, pb::CrdtWriteConsistency consistency) {
    changed_since_round_ = true;
    std::shared_ptr<ack_gate> gate;
    size_t need = 0;
    if (consistency == pb::MAJORITY)
      need = (peers_.size() + 1) / 2;  // a majority of all members, this one included
    else if (consistency == pb::ALL)
      need = peers_.size();
    if (need > 0) {
      gate = std::make_shared<ack_gate>();
      gate->need = need;
      gate->sent = peers_.size();
      gate->consistency = consistency == pb::MAJORITY ? "MAJORITY" : "ALL";
    }
    if (!peers_.empty())
      send_to(peers_, serialize(delta), gate);
    return gate;
  }

  void send_to(const std::vector<replica_peer>& peers, const std::string& message, std::shared_ptr<ack_gate> gate,
               bool full_state = false) {
    auto deadline = clock::now() + shared_->cfg.write_timeout;
    auto& metrics = *env().metrics;
    (full_state ? metrics.replica_full_states_sent : metrics.replica_deltas_sent).inc(peers.size());
    metrics.replica_bytes_sent.inc(peers.size() * message.size());
    for (const auto& p : peers)
      shared_->cfg.peers->send(p.address, env().model->service_name, id_, message, deadline,
                               [self = me(), this, gate, address = p.address](status st) {
                                 ::actorstate::detail::post(self,
                                                            [this, gate, address, st] { on_sent(gate, address, st); });
                               });
  }

  void on_sent(const std::shared_ptr<ack_gate>& gate, const std::string& address, const status& st) {
    if (!st.ok()) {
      env().metrics->replica_send_failures.inc();
      missed_.insert(address);  // gets the whole state with the next sync round
    }
    if (!gate)
      return;
    ++gate->answered;
    if (st.ok())
      ++gate->acked;
    release();
  }

  void arm_sync_timer() {
    delayed_send(this, shared_->cfg.sync_interval, ::actorstate::detail::continuation{[this] { on_sync(); }});
  }

  /// Repairs what deltas missed: the whole state to members a send failed to, and every tenth round to all members
  /// if the entity changed here since the last such round.
  void on_sync() {
    if (stopping_)
      return;
    arm_sync_timer();
    if (!loaded_ || state_.empty())
      return;
    std::vector<replica_peer> targets;
    if (++sync_rounds_ % 10 == 0 && changed_since_round_) {
      targets = peers_;
      changed_since_round_ = false;
    } else {
      for (const auto& p : peers_)
        if (missed_.contains(p.address))
          targets.push_back(p);
    }
    missed_.clear();
    if (!targets.empty())
      send_to(targets, serialize(state_), nullptr, true);
  }

  void on_replica(replica_in& r) {
    auto parsed = parse(r.message);
    if (!parsed.ok()) {
      r.done(status{status_code::invalid_argument, "not a CRDT replica message: " + parsed.error().message()});
      return;
    }
    if (!state_.empty() && parsed->type() && state_.type() && parsed->type() != state_.type()) {
      r.done(status{status_code::failed_precondition, "another member holds " + id_ + " as a " +
                                                          std::string{to_string(*parsed->type())} + ", this one as a " +
                                                          std::string{to_string(*state_.type())}});
      return;
    }
    env().metrics->replica_merges.inc();
    absorb(parsed.value());
    r.done({});
  }

  void on_reply(pb::CrdtReply& reply) {
    auto it = pending_.find(reply.command_id());
    if (it == pending_.end()) {
      protocol_error("a reply for unknown command id " + std::to_string(reply.command_id()), 0);
      return;
    }
    if (reply.streamed() && !it->second.call) {
      protocol_error("a streamed reply to command " + std::to_string(reply.command_id()) + ", which is not streamed",
                     reply.command_id());
      return;
    }
    auto p = std::move(it->second);
    pending_.erase(it);
    auto id = reply.command_id();
    bool failed = reply.client_action().has_failure();
    bool deletes = false;
    std::shared_ptr<ack_gate> gate;
    if (!failed && reply.has_state_action()) {
      if (auto st = apply_state_action(reply.state_action(), deletes, gate); !st.ok()) {
        auto problem = "command " + std::to_string(id) + " (" + p.method +
                       ") answered with a change that does not fit the entity: " + st.message();
        pending_.emplace(id, std::move(p));  // failed INTERNAL by protocol_error
        protocol_error(problem, id);
        return;
      }
    }
    auto plan = plan_of(reply.client_action(), reply.side_effects(), p.method);
    bool answers = reply.client_action().action_case() != cloudstate::ClientAction::ACTION_NOT_SET;
    if (p.call) {
      auto call = p.call;
      bool open = reply.streamed() && !failed && !deletes;
      if (open) {
        streams_.emplace(id, call);
        if (p.cancelled)
          cancel_stream(id);
      }
      deliver_to_stream(call, std::move(plan), answers, /*end=*/!open, gate);
    } else {
      auto arrived = p.arrived;
      after_durable(
          [this, reply_to = p.reply, plan = std::move(plan), arrived]() mutable {
            execute(std::move(plan), [this, reply_to, arrived](command_result r) mutable {
              if (!r.ok())
                env().metrics->command_failures.inc();
              env().metrics->command_latency.observe(clock::now() - arrived);
              reply_to.deliver(std::move(r));
            });
          },
          [reply_to = p.reply](const status& why) mutable { reply_to.deliver(command_result::failure(why)); }, gate);
    }
    if (deletes)
      after_durable([this] { deleted_here(); }, {});
  }

  /// Sends a streamed call's element (a reply, a forward's answer, or a failure, which ends it) once durable, and
  /// ends the call after it when `end`.
  void deliver_to_stream(const std::shared_ptr<stream_call>& call, runtime::reply_plan plan, bool has_element, bool end,
                         std::shared_ptr<ack_gate> gate = nullptr) {
    after_durable(
        [this, call, plan = std::move(plan), end, has_element]() mutable {
          if (!has_element && !plan.has_calls()) {
            if (end)
              call->end(command_result::success({}));
            return;
          }
          bool emit = has_element;
          execute(std::move(plan), [call, end, emit](command_result r) {
            if (!r.ok()) {
              call->end(std::move(r));
              return;
            }
            if (emit)
              call->element(std::move(r.payload));
            if (end)
              call->end(command_result::success({}));
          });
        },
        [call](const status& why) { call->end(command_result::failure(why)); }, std::move(gate));
  }

  void on_streamed(pb::CrdtStreamedMessage& msg) {
    auto id = msg.command_id();
    auto it = streams_.find(id);
    if (it == streams_.end()) {
      if (cancelling_.contains(id))
        return;  // the client went away meanwhile
      auto problem = "a streamed message for unknown command id " + std::to_string(id);
      log::warn("protocol error of a CRDT entity's handler side",
                {{"entity_type", env().model->service_name}, {"entity_id", id_}, {"error", problem}});
      shared_->report(problem);
      return;
    }
    auto call = it->second;
    if (msg.end_stream())
      streams_.erase(it);
    auto plan = plan_of(msg.client_action(), msg.side_effects(), {});
    bool answers = msg.client_action().action_case() != cloudstate::ClientAction::ACTION_NOT_SET;
    deliver_to_stream(call, std::move(plan), answers, msg.end_stream());
  }

  void on_client_cancelled(int64_t id, const void* call) {
    auto p = pending_.find(id);
    if (p != pending_.end()) {
      if (p->second.call.get() == call)
        p->second.cancelled = true;  // told once its first reply keeps the stream open
      return;
    }
    if (auto st = streams_.find(id); st != streams_.end() && st->second.get() == call)
      cancel_stream(id);
  }

  /// Tells the handler side that the client of streamed command `id` went away; it answers with side effects and
  /// possibly a last change, an operation like a command's.
  void cancel_stream(int64_t id) {
    streams_.erase(id);
    if (!conversation_)
      return;
    cancelling_.insert(id);
    pb::CrdtStreamIn in;
    in.mutable_stream_cancelled()->set_entity_id(id_);
    in.mutable_stream_cancelled()->set_id(id);
    conversation_->send(in);
  }

  void on_cancelled_response(pb::CrdtStreamCancelledResponse& response) {
    auto id = response.command_id();
    if (cancelling_.erase(id) == 0) {
      protocol_error("a stream-cancelled response for command " + std::to_string(id) + ", which was not cancelled", 0);
      return;
    }
    bool deletes = false;
    std::shared_ptr<ack_gate> gate;
    if (response.has_state_action()) {
      if (auto st = apply_state_action(response.state_action(), deletes, gate); !st.ok()) {
        protocol_error("the answer to the cancellation of command " + std::to_string(id) +
                           " carries a change that does not fit the entity: " + st.message(),
                       0);
        return;
      }
    }
    runtime::reply_plan plan;
    for (const auto& e : response.side_effects())
      plan.side_effects.push_back(effect_of(e));
    if (plan.has_calls())
      after_durable([this, plan = std::move(plan)]() mutable { execute(std::move(plan), [](command_result) {}); }, {});
    if (deletes)
      after_durable([this] { deleted_here(); }, {});
  }

  void on_failure(const cloudstate::Failure& failure) {
    auto id = failure.command_id();
    if (auto it = pending_.find(id); id != 0 && it != pending_.end()) {
      auto p = std::move(it->second);
      pending_.erase(it);
      env().metrics->command_failures.inc();
      answer(p.reply, p.call, command_result::failure(status_code::unknown, failure.description()));
      return;
    }
    if (auto it = streams_.find(id); id != 0 && it != streams_.end()) {
      auto call = it->second;
      streams_.erase(it);
      call->end(command_result::failure(status_code::unknown, failure.description()));
      return;
    }
    if (id != 0 && cancelling_.erase(id) > 0) {
      // The answer to a stream cancellation was a failure: that cancellation is over (its client is gone already);
      // the entity goes on, as the reference proxy does.
      log::warn("the handler side failed a stream cancellation",
                {{"entity_type", env().model->service_name}, {"entity_id", id_}, {"description", failure.description()}});
      return;
    }
    log::warn("the handler side of a CRDT entity failed",
              {{"entity_type", env().model->service_name}, {"entity_id", id_}, {"description", failure.description()}});
    restart("the entity failed: " + failure.description(), status_code::unknown, true);
  }

  /// The handler side broke the protocol: reported, the command that did it (if any) fails INTERNAL, and the
  /// conversation restarts (the others fail UNAVAILABLE; the next command opens a new one with the replica's state).
  void protocol_error(const std::string& problem, int64_t culprit) {
    log::warn("protocol error of a CRDT entity's handler side",
              {{"entity_type", env().model->service_name}, {"entity_id", id_}, {"error", problem}});
    shared_->report(problem);
    if (auto it = pending_.find(culprit); culprit != 0 && it != pending_.end()) {
      auto p = std::move(it->second);
      pending_.erase(it);
      answer(p.reply, p.call, command_result::failure(status_code::internal, "protocol error: " + problem));
    }
    restart(problem, status_code::unavailable, true);
  }

  /// Ends the conversation (closing it unless it ended by itself) and fails what was at the handler side.
  void restart(const std::string& why, status_code code, bool close) {
    env().metrics->restarts.inc();
    if (close)
      close_conversation();
    else
      ++generation_;
    fail_outstanding(status{code, "the entity restarted: " + why});
  }

  /// Fails every command at the handler side and ends every open streamed call; what waits for durability stays.
  void fail_outstanding(const status& why) {
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto& [id, p] : pending) {
      env().metrics->command_failures.inc();
      answer(p.reply, p.call, command_result::failure(why));
    }
    auto streams = std::move(streams_);
    streams_.clear();
    for (auto& [id, call] : streams)
      call->end(command_result::failure(why));
    cancelling_.clear();
  }

  void fail_everything(const status& why) {
    fail_outstanding(why);
    fail_waiting(why);
    auto queued = std::move(queued_);
    queued_.clear();
    for (auto& d : queued)
      refuse(d, why);
  }

  /// The handler side deleted the entity and the tombstone is durable: the conversation ends, later commands fail.
  void deleted_here() {
    close_conversation();
    fail_outstanding(status{status_code::not_found, "Entity deleted"});
  }

  /// A replica elsewhere deleted the entity: the handler side is told, then the conversation ends.
  void deleted_elsewhere() {
    if (conversation_) {
      pb::CrdtStreamIn in;
      in.mutable_delete_();
      conversation_->send(in);
    }
    close_conversation();
    fail_outstanding(status{status_code::not_found, "Entity deleted"});
  }

  /// Tells the handler side about changes made elsewhere, when nothing is outstanding (the protocol's rule: the
  /// handler side may change its value only while handling a command or a cancellation, and must not see a delta
  /// in between).
  void push_changes() {
    if (!conversation_ || outstanding() > 0 || !unseen_)
      return;
    unseen_ = false;
    auto before = seen_;
    seen_ = state_;
    if (auto d = diff(before, seen_, seen_voters_, voters_)) {
      pb::CrdtStreamIn in;
      *in.mutable_delta() = std::move(*d);
      conversation_->send(in);
    }
    seen_voters_ = voters_;
  }

  void execute(runtime::reply_plan plan, std::function<void(command_result)> done) {
    runtime::execute(
        ::actorstate::detail::poster(me()), env().route, std::move(plan), std::move(done),
        [this](const ::actorstate::detail::effect_call& call, const command_result& error, const char* role) {
          auto problem = error.status.message() + " (" + role + " " + env().model->service_name + " entity " + id_ +
                         ", calling " + call.service_name + "/" + call.method + ")";
          log::warn("a forward or side effect of a CRDT entity failed", {{"error", problem}});
          shared_->report(problem);
        });
  }

  /// The client part of a reply: a reply (payload), a forward, a failure or nothing, and its side effects.
  runtime::reply_plan plan_of(const cloudstate::ClientAction& action,
                              const google::protobuf::RepeatedPtrField<cloudstate::SideEffect>& side_effects,
                              const std::string& method) const {
    runtime::reply_plan plan = crdt::plan_of(action, side_effects);
    if (action.has_reply() && !method.empty()) {
      const auto* m = env().model->service->FindMethodByName(method);
      const auto& type = action.reply().payload().type_url();
      if (m != nullptr && !type.empty() && type != type_url(m->output_type()))
        shared_->report("Warning: reply of " + m->full_name() + " has type " + type + ", expected " +
                        type_url(m->output_type()));
    }
    return plan;
  }

  // --- passivation and stopping --------------------------------------------------------------------------------------

  void arm_idle_timer() {
    auto timeout = env().model->settings.passivation_timeout.count() > 0 ? env().model->settings.passivation_timeout
                                                                         : shared_->cfg.passivation_timeout;
    idle_after_ = timeout;
    delayed_send(this, std::max(timeout / 2, std::chrono::milliseconds{10}), tick_atom_v);
  }

  void on_idle_tick() {
    if (stopping_)
      return;
    bool idle = pending_.empty() && streams_.empty() && cancelling_.empty() && queued_.empty() &&
                clock::now() - last_active_ >= idle_after_;
    if (idle)
      send(manager_, passivate_atom_v, id_, received_);
    arm_idle_timer();
  }

  /// The manager will send nothing more: finish the writes, then go.
  void stop() {
    if (stopping_)
      return;
    stopping_ = true;
    env().metrics->passivations.inc();
    // Members a delta did not reach get the whole state now: after this the entity is only in the store here.
    if (shared_->cfg.peers && !missed_.empty() && loaded_ && !state_.empty()) {
      std::vector<replica_peer> targets;
      for (const auto& p : peers_)
        if (missed_.contains(p.address))
          targets.push_back(p);
      send_to(targets, serialize(state_), nullptr, true);
    }
    fail_outstanding(status{status_code::unavailable, "the entity is stopping"});
    auto queued = std::move(queued_);
    queued_.clear();
    for (auto& d : queued)
      refuse(d, status{status_code::unavailable, "the entity is stopping"});
    close_conversation();
    maybe_stop();
  }

  void maybe_stop() {
    // A store that never comes back keeps a pending retry forever: the manager's stop timeout bounds that.
    if (!stopping_ || writing_ || loading_ || retry_pending_)
      return;
    if (loaded_ && durable_ != changes_) {
      write();
      return;
    }
    release();
    quit();
  }

  std::shared_ptr<const shared_config> shared_;
  std::string id_;
  caf::actor manager_;
  std::string replica_;  ///< This member's replica id.
  std::vector<replica_peer> peers_;
  voters voters_;
  std::set<std::string> missed_;      ///< Members a send failed to since the last sync round.
  bool changed_since_round_ = false;  ///< A change made here since the last round to every member.
  uint64_t sync_rounds_ = 0;

  replicated state_;     ///< This member's replica.
  int64_t version_ = 0;  ///< The stored value's version that `state_` includes.
  bool loaded_ = false;
  bool loading_ = false;
  std::deque<delivery> queued_;  ///< Commands that came while loading.
  uint64_t changes_ = 0;         ///< Changes made to the replica that must become durable, counted.
  uint64_t durable_ = 0;         ///< Changes known durable.
  bool writing_ = false;
  bool retry_pending_ = false;
  std::deque<outgoing> waiting_;

  std::unique_ptr<::actorstate::detail::crdt_conversation> conversation_;
  uint64_t generation_ = 0;
  replicated seen_;  ///< What the handler side holds.
  voters seen_voters_;
  bool unseen_ = false;  ///< The replica has changes the handler side was not told.
  int64_t next_command_ = 0;
  std::map<int64_t, pending> pending_;
  std::map<int64_t, std::shared_ptr<stream_call>> streams_;
  std::set<int64_t> cancelling_;

  uint64_t received_ = 0;  ///< Deliveries from the manager, for the passivation handshake.
  clock::time_point last_active_;
  std::chrono::milliseconds idle_after_{30000};
  bool stopping_ = false;
};

/// Finds or spawns instances; holds an id's commands while its previous instance stops.
class manager final : public ::actorstate::detail::worker_marked_actor {
public:
  manager(caf::actor_config& cfg, std::shared_ptr<const shared_config> shared)
      : ::actorstate::detail::worker_marked_actor(cfg), shared_(std::move(shared)) {}

  const char* name() const override { return "actorstate.crdt.manager"; }

  caf::behavior make_behavior() override {
    if (shared_->cfg.peers) {
      peers_ = shared_->cfg.peers->peers();
      watch_members();
    }
    set_down_handler([this](caf::down_msg& msg) { on_down(msg); });
    set_exit_handler([this](caf::exit_msg& msg) { on_exit_request(msg); });
    return {
        [this](command& cmd) {
          auto id = cmd.entity_id;
          route(id, delivery{std::move(cmd), runtime::reply_to{make_response_promise()}, nullptr});
        },
        [this](runtime::local_command& lc) {
          auto id = lc.cmd.entity_id;
          route(id, delivery{std::move(lc.cmd), runtime::reply_to{std::move(lc.slot)}, nullptr});
        },
        [this](delivery& d) {
          auto id = d.cmd.entity_id;
          route(id, std::move(d));
        },
        [this](passivate_atom, const std::string& id, uint64_t seen) { on_idle(id, seen); },
        [this](replica_in& r) { on_replica(r); },
        [this](stats_atom) { return static_cast<uint64_t>(entries_.size()); },
        [](::actorstate::detail::continuation& c) { c.fn(); },
    };
  }

private:
  struct entry {
    caf::actor actor;
    uint64_t sent = 0;
    bool stopping = false;
    std::deque<delivery> held;  ///< For the next instance, once this one is gone.
  };

  void route(const std::string& id, delivery d) {
    if (shutting_down_) {
      refuse(d, status{status_code::unavailable, "the node is shutting down"});
      return;
    }
    auto& e = entries_[id];
    if (!e.actor)
      spawn_for(id, e);
    if (e.stopping) {
      e.held.push_back(std::move(d));
      return;
    }
    ++e.sent;
    ::actorstate::detail::send_here(e.actor, std::move(d));
  }

  void spawn_for(const std::string& id, entry& e) {
    if (self_.empty()) {
      // The member joined before any command could come (the node serves only then): read once what the watch loop
      // keeps up to date from now on.
      self_ = shared_->cfg.peers ? shared_->cfg.peers->self() : shared_->cfg.replica;
      if (shared_->cfg.peers)
        peers_ = shared_->cfg.peers->peers();
    }
    e.actor = spawn<instance>(shared_, id, caf::actor_cast<caf::actor>(this), self_, peers_);
    e.sent = 0;
    e.stopping = false;
    monitor(e.actor);
    by_addr_[e.actor.address()] = id;
  }

  /// A replica message goes to the instance if one is in memory (and not stopping); a member that does not hold the
  /// entity takes it as it is (replication.hpp).
  void on_replica(replica_in& r) {
    auto it = entries_.find(r.entity_id);
    if (shutting_down_ || it == entries_.end() || it->second.stopping || !it->second.actor) {
      r.done({});
      return;
    }
    ++it->second.sent;
    ::actorstate::detail::send_here(it->second.actor, std::move(r));
  }

  /// Reads the live members every `membership_poll` and tells the instances when they changed (Vote counts them,
  /// deltas go to them).
  void watch_members() {
    delayed_send(this, membership_poll, ::actorstate::detail::continuation{[this] {
                   if (shutting_down_)
                     return;
                   auto now = shared_->cfg.peers->peers();
                   if (now != peers_) {
                     peers_ = now;
                     for (auto& [id, e] : entries_)
                       if (e.actor && !e.stopping)
                         ::actorstate::detail::send_here(e.actor, membership{peers_});
                   }
                   watch_members();
                 }});
  }

  static void refuse(delivery& d, const status& why) { answer(d.reply, d.call, command_result::failure(why)); }

  void on_idle(const std::string& id, uint64_t seen) {
    auto it = entries_.find(id);
    if (it == entries_.end() || it->second.stopping || it->second.sent != seen)
      return;  // something is on its way to the instance: it is not idle after all
    it->second.stopping = true;
    send(it->second.actor, passivate_atom_v);
  }

  void on_down(const caf::down_msg& msg) {
    auto a = by_addr_.find(msg.source);
    if (a == by_addr_.end())
      return;
    auto id = a->second;
    by_addr_.erase(a);
    auto it = entries_.find(id);
    if (it == entries_.end())
      return;
    auto held = std::move(it->second.held);
    entries_.erase(it);
    if (shutting_down_) {
      for (auto& d : held)
        refuse(d, status{status_code::unavailable, "the node is shutting down"});
      if (entries_.empty())
        quit();
      return;
    }
    for (auto& d : held)
      route(id, std::move(d));
  }

  void on_exit_request(const caf::exit_msg& msg) {
    if (msg.reason == caf::exit_reason::kill || shutting_down_) {
      quit(msg.reason);
      return;
    }
    shutting_down_ = true;
    for (auto& [id, e] : entries_) {
      for (auto& d : e.held)
        refuse(d, status{status_code::unavailable, "the node is shutting down"});
      e.held.clear();
      if (!e.stopping) {
        e.stopping = true;
        send(e.actor, passivate_atom_v);
      }
    }
    if (entries_.empty()) {
      quit();
      return;
    }
    // An instance whose store never answers would keep the node up: after the stop timeout the rest are killed.
    delayed_send(this, shared_->cfg.stop_timeout, ::actorstate::detail::continuation{[this] {
                   for (auto& [id, e] : entries_)
                     send_exit(e.actor, caf::exit_reason::kill);
                   quit();
                 }});
  }

  std::shared_ptr<const shared_config> shared_;
  std::unordered_map<std::string, entry> entries_;
  std::unordered_map<caf::actor_addr, std::string> by_addr_;
  bool shutting_down_ = false;
  std::vector<replica_peer> peers_;  ///< As last told to the instances.
  std::string self_;                 ///< This member's replica id.
};

}  // namespace

caf::actor spawn_manager(caf::actor_system& sys, type_config cfg) {
  auto shared = std::make_shared<shared_config>();
  shared->model = static_cast<const ::actorstate::detail::crdt_model*>(cfg.env->model.get());
  shared->cfg = std::move(cfg);
  return sys.spawn<manager>(std::move(shared));
}

void deliver_replica(const caf::actor& manager, std::string entity_id, std::string message,
                     std::function<void(status)> done) {
  ::actorstate::detail::send_here(manager, replica_in{std::move(entity_id), std::move(message), std::move(done)});
}

std::shared_ptr<::actorstate::detail::action_stream> open_streamed_command(
    caf::actor manager, std::string method, key_reader key, std::vector<metadata_entry> metadata,
    ::actorstate::detail::action_stream_sink sink) {
  return std::make_shared<stream_call>(std::move(manager), std::move(method), std::move(key), std::move(metadata),
                                       std::move(sink));
}

}  // namespace actorstate::crdt
