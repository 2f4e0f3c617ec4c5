// Deterministic runtime tests: CAF's test_coordinator runs every actor step on the test thread, a stepped store
// completes operations only when the test says so, and the test moves the clock. Nothing sleeps or polls, so the
// order of events in a test is the order it spells out.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <doctest/doctest.h>
#include <caf/all.hpp>

#include "actorstate/runtime/shard_control.hpp"
#include "test_entities.hpp"

namespace actorstate::testing {

/// A store whose operations complete only when the test says so (`complete_one`, `complete_all`), on the test
/// thread, in issue order (which is what the contract asks per persistence id). It keeps the contract's fencing:
/// an append must continue the journal exactly and a value write must name the version it replaces, otherwise
/// `conflict` and nothing is written. Faults are injected per kind of operation: a failed write writes nothing; a lost
/// outcome writes and then reports `unknown_outcome`; a failed read returns the error. Shard fences are recorded per
// write and checked against the epochs the test moved (`move_epoch`), as a cluster's store checks them. Idempotency
// records are kept with the writes that carry them, when those are carried out, and never expire unless the test says
// so (`expire_applied`).
class stepped_store final : public persistence::store {
public:
  void append(std::string pid, std::vector<persistence::event> events, persistence::write_options options,
              persistence::callback<status> done) override {
    ++appends_;
    auto fence = options.fence;
    fences_.push_back(fence);
    pending_.push_back([this, pid, events = std::move(events), fence, applied = std::move(options.applied),
                        done = std::move(done)]() mutable {
      if (auto failure = next_write_failure(failing_appends_, append_failure_)) {
        done(*failure);
        return;
      }
      if (auto refused = refuse_fenced(fence)) {
        done(*refused);
        return;
      }
      // Fencing as the contract asks: an append must continue the journal exactly.
      auto& highest = highest_[pid];
      if (!events.empty() && events.front().seq != highest + 1) {
        done(status{status_code::conflict, "sequence number mismatch"});
        return;
      }
      auto& log = journal_[pid];
      for (auto& e : events)
        log.push_back(std::move(e));
      highest = log.empty() ? highest : log.back().seq;
      record(persistence::applied_scope::journal, pid, applied);
      done(write_outcome());
    });
  }
  void replay(std::string pid, int64_t from, int64_t to, uint64_t max,
              persistence::callback<result<std::vector<persistence::event>>> done) override {
    pending_.push_back([this, pid, from, to, max, done = std::move(done)] {
      if (auto failure = next_read_failure()) {
        done(*failure);
        return;
      }
      replayed_from_.push_back(from);
      std::vector<persistence::event> out;
      for (auto& e : journal_[pid])
        if (e.seq >= from && e.seq <= to && out.size() < max)
          out.push_back(e);
      done(std::move(out));
    });
  }
  void highest_seq(std::string pid, persistence::callback<result<int64_t>> done) override {
    pending_.push_back([this, pid, done = std::move(done)] { done(highest_[pid]); });
  }
  void delete_up_to(std::string pid, int64_t to, persistence::callback<status> done) override {
    pending_.push_back([this, pid, to, done = std::move(done)] {
      // Deletion never lowers the highest sequence number: the fence stays where it was.
      std::erase_if(journal_[pid], [to](const persistence::event& e) { return e.seq <= to; });
      done({});
    });
  }
  void save_snapshot(std::string pid, persistence::snapshot s, std::optional<persistence::write_fence> fence,
                     persistence::callback<status> done) override {
    fences_.push_back(fence);
    pending_.push_back([this, pid, s = std::move(s), fence, done = std::move(done)]() mutable {
      if (auto refused = refuse_fenced(fence)) {
        done(*refused);
        return;
      }
      ++snapshot_saves_;
      snapshots_[pid][s.seq] = std::move(s);
      done({});
    });
  }
  void load_snapshot(std::string pid,
                     persistence::callback<result<std::optional<persistence::snapshot>>> done) override {
    pending_.push_back([this, pid, done = std::move(done)] {
      if (auto failure = next_read_failure()) {
        done(*failure);
        return;
      }
      auto& saved = snapshots_[pid];
      done(saved.empty() ? std::optional<persistence::snapshot>{} : saved.rbegin()->second);
    });
  }
  void delete_snapshots(std::string pid, int64_t to, persistence::callback<status> done) override {
    pending_.push_back([this, pid, to, done = std::move(done)] {
      std::erase_if(snapshots_[pid], [to](const auto& entry) { return entry.first <= to; });
      done({});
    });
  }
  void get_value(std::string key,
                 persistence::callback<result<std::optional<persistence::stored_value>>> done) override {
    pending_.push_back([this, key, done = std::move(done)] {
      if (auto failure = next_read_failure()) {
        done(*failure);
        return;
      }
      done(value(key));
    });
  }
  void put_value(std::string key, std::string type, std::string payload, int64_t expected_version,
                 persistence::write_options options, persistence::callback<result<int64_t>> done) override {
    ++value_writes_;
    auto fence = options.fence;
    fences_.push_back(fence);
    pending_.push_back([this, key, type = std::move(type), payload = std::move(payload), expected_version, fence,
                        applied = std::move(options.applied), done = std::move(done)]() mutable {
      if (auto refused = refuse_value_write(key, expected_version, fence)) {
        done(*refused);
        return;
      }
      values_[key] = persistence::stored_value{std::move(type), std::move(payload), expected_version + 1};
      record(persistence::applied_scope::value, key, applied);
      auto outcome = write_outcome();
      if (!outcome.ok())
        done(outcome);
      else
        done(expected_version + 1);
    });
  }
  void delete_value(std::string key, int64_t expected_version, persistence::write_options options,
                    persistence::callback<status> done) override {
    ++value_writes_;
    auto fence = options.fence;
    fences_.push_back(fence);
    pending_.push_back(
        [this, key, expected_version, fence, applied = std::move(options.applied), done = std::move(done)] {
          if (auto refused = refuse_value_write(key, expected_version, fence)) {
            done(*refused);
            return;
          }
          values_.erase(key);
          record(persistence::applied_scope::value, key, applied);
          done(write_outcome());
        });
  }
  void find_applied(persistence::applied_scope scope, std::string entity, std::string key,
                    persistence::callback<result<std::optional<std::string>>> done) override {
    ++applied_lookups_;
    pending_.push_back([this, scope, entity, key, done = std::move(done)] {
      if (auto failure = next_read_failure()) {
        done(*failure);
        return;
      }
      auto i = applied_.find({scope, entity, key});
      done(i == applied_.end() ? std::nullopt : std::optional{i->second});
    });
  }
  std::string name() const override { return "stepped"; }
  void ping(persistence::callback<status> done) override { done({}); }
  void close() override {}

  size_t complete_all() {
    size_t n = 0;
    while (complete_one())
      ++n;
    return n;
  }
  /// Completes the oldest pending operation; false if there was none.
  bool complete_one() {
    if (pending_.empty())
      return false;
    auto op = std::move(pending_.front());
    pending_.pop_front();
    op();
    return true;
  }
  size_t pending() const { return pending_.size(); }
  /// The next `n` appends to complete fail with `code` and write nothing.
  void fail_appends(size_t n, status_code code = status_code::unavailable) {
    failing_appends_ = n;
    append_failure_ = code;
  }
  /// The next `n` value writes (puts and deletes) to complete fail with `code` and write nothing.
  void fail_value_writes(size_t n, status_code code = status_code::unavailable) {
    failing_value_writes_ = n;
    value_failure_ = code;
  }
  /// The next `n` writes to complete that do not fail are written, but report `unknown_outcome`.
  void lose_write_outcomes(size_t n) { losing_outcomes_ = n; }
  /// The next `n` reads (snapshot loads, replays, value gets) to complete fail with `code`.
  void fail_reads(size_t n, status_code code = status_code::unavailable) {
    failing_reads_ = n;
    read_failure_ = code;
  }
  size_t appends() const { return appends_; }
  size_t value_writes() const { return value_writes_; }
  size_t snapshot_saves() const { return snapshot_saves_; }
  size_t journal_size(const std::string& pid) { return journal_[pid].size(); }
  const std::vector<persistence::event>& journal(const std::string& pid) { return journal_[pid]; }
  /// The sequence number of the newest snapshot of `pid`, 0 if it has none.
  int64_t snapshot_seq(const std::string& pid) {
    auto& saved = snapshots_[pid];
    return saved.empty() ? 0 : saved.rbegin()->first;
  }
  /// The `from` of every replay that completed, in order: where each recovery started reading the journal.
  const std::vector<int64_t>& replayed_from() const { return replayed_from_; }
  std::optional<persistence::stored_value> value(const std::string& key) const {
    auto i = values_.find(key);
    return i == values_.end() ? std::nullopt : std::optional{i->second};
  }
  /// The fence of every write issued (appends, snapshot saves, value puts and deletes), in issue order.
  const std::vector<std::optional<persistence::write_fence>>& fences() const { return fences_; }
  /// Idempotency lookups issued.
  size_t applied_lookups() const { return applied_lookups_; }
  /// Idempotency records kept (one per entity and key).
  size_t applied_records() const { return applied_.size(); }
  /// Every idempotency record passes its retention.
  void expire_applied() { applied_.clear(); }
  /// Shard `shard` moved to `epoch` (another member claimed it): a write fenced for it at another epoch that completes
  /// from now on is refused with `conflict` and writes nothing. Unfenced writes are not checked.
  void move_epoch(uint32_t shard, int64_t epoch) { epochs_[shard] = epoch; }

private:
  std::optional<status> next_write_failure(size_t& failing, status_code code) {
    if (failing == 0)
      return std::nullopt;
    --failing;
    return status{code, "injected write failure"};
  }
  /// Why a value write must write nothing: an injected failure, or fencing (the version it replaces is not current).
  std::optional<status> refuse_value_write(const std::string& key, int64_t expected_version,
                                           const std::optional<persistence::write_fence>& fence) {
    if (auto failure = next_write_failure(failing_value_writes_, value_failure_))
      return failure;
    if (auto refused = refuse_fenced(fence))
      return refused;
    auto current = values_.find(key);
    if ((current == values_.end() ? 0 : current->second.version) != expected_version)
      return status{status_code::conflict, "version mismatch"};
    return std::nullopt;
  }
  std::optional<status> refuse_fenced(const std::optional<persistence::write_fence>& fence) const {
    if (!fence)
      return std::nullopt;
    auto i = epochs_.find(fence->shard);
    if (i == epochs_.end() || i->second == fence->epoch)
      return std::nullopt;
    return status{status_code::conflict, "shard " + std::to_string(fence->shard) + " moved to epoch " +
                                             std::to_string(i->second) + "; this write carries epoch " +
                                             std::to_string(fence->epoch)};
  }
  std::optional<status> next_read_failure() {
    if (failing_reads_ == 0)
      return std::nullopt;
    --failing_reads_;
    return status{read_failure_, "injected read failure"};
  }
  void record(persistence::applied_scope scope, const std::string& entity,
              const std::optional<persistence::applied_command>& applied) {
    if (applied)
      applied_[{scope, entity, applied->key}] = applied->reply;
  }
  /// The outcome a write that was carried out reports.
  status write_outcome() {
    if (losing_outcomes_ == 0)
      return {};
    --losing_outcomes_;
    return status{status_code::unknown_outcome, "injected lost outcome"};
  }

  std::deque<std::function<void()>> pending_;
  std::map<std::string, std::vector<persistence::event>> journal_;
  std::map<std::string, int64_t> highest_;  ///< Not lowered by deletion, as the contract says.
  std::map<std::string, std::map<int64_t, persistence::snapshot>> snapshots_;
  std::map<std::string, persistence::stored_value> values_;
  std::vector<int64_t> replayed_from_;
  std::vector<std::optional<persistence::write_fence>> fences_;
  std::map<uint32_t, int64_t> epochs_;  ///< Shards whose epoch the test moved.
  std::map<std::tuple<persistence::applied_scope, std::string, std::string>, std::string> applied_;
  size_t applied_lookups_ = 0;
  size_t failing_appends_ = 0;
  status_code append_failure_ = status_code::unavailable;
  size_t failing_value_writes_ = 0;
  status_code value_failure_ = status_code::unavailable;
  size_t losing_outcomes_ = 0;
  size_t failing_reads_ = 0;
  status_code read_failure_ = status_code::unavailable;
  size_t appends_ = 0;
  size_t value_writes_ = 0;
  size_t snapshot_saves_ = 0;
};

struct deterministic_fixture {
  deterministic_fixture() {
    cfg.set("scheduler.policy", caf::atom("testing"));
    cfg.add_message_types<caf::id_block::actorstate>();
    sys = std::make_unique<caf::actor_system>(cfg);
    sched = &dynamic_cast<caf::scheduler::test_coordinator&>(sys->scheduler());
    store = std::make_shared<stepped_store>();
    metrics = std::make_shared<metrics::entity_metrics>();
  }

  ~deterministic_fixture() {
    if (region)
      region->stop();
    settle();
  }

  /// A region of `text_log` (or `model`) with `shards` shards and an active cap of `max_active`.
  void spawn_region(std::chrono::milliseconds passivation, uint32_t shards = 128, size_t max_active = 1000,
                    std::shared_ptr<detail::model_base> model = nullptr) {
    auto env = std::make_shared<runtime::entity_env>();
    env->model = model ? std::move(model) : text_log().model();
    env->store = store;
    env->metrics = metrics;
    env->route = route;
    env->max_pipeline = max_pipeline;
    env->idempotency_keys = idempotency_keys;
    runtime::region_config rc;
    rc.env = env;
    rc.shards = shards;
    rc.passivation_timeout = passivation;
    rc.max_active = max_active;
    rc.stop_timeout = stop_timeout;
    rc.hooks = hooks;
    region = runtime::spawn_region(*sys, rc);
    settle();
  }

  /// Runs actors and store operations until neither has anything left to do.
  void settle() {
    while (sched->run() > 0 || store->complete_all() > 0) {
    }
  }

  /// Runs actors only: store operations stay pending until `store->complete_*` or `settle`.
  void run_actors() {
    while (sched->run() > 0) {
    }
  }

  template <class T>
  using answer = std::shared_ptr<std::optional<T>>;

  /// Sends a command from a fresh actor; the result is available after the actors ran.
  answer<command_result> send(command cmd) {
    auto result = std::make_shared<std::optional<command_result>>();
    sys->spawn(
        [result, target = region->target(cmd.entity_id), cmd = std::move(cmd)](caf::event_based_actor* self) mutable {
          self->request(target, caf::infinite, std::move(cmd))
              .then([result](command_result& r) { *result = std::move(r); },
                    [result](caf::error& e) { *result = to_command_result(e); });
        });
    return result;
  }

  /// Asks shard `index` to hand over; the answer is the number of instances it stopped (or an error: nullopt).
  answer<uint64_t> handover(uint32_t index) {
    auto result = std::make_shared<std::optional<uint64_t>>();
    sys->spawn([result, shard = region->shards().at(index)](caf::event_based_actor* self) {
      self->request(shard, caf::infinite, handover_atom_v)
          .then([result](uint64_t n) { *result = n; }, [](caf::error&) {});
    });
    return result;
  }

  void start(uint32_t index) { caf::anon_send(region->shards().at(index), start_atom_v); }

  /// Runs actors and completes store operations one at a time until `done()` holds; operations issued by then that
  /// it does not need stay pending.
  template <class Pred>
  void until(Pred done) {
    for (int guard = 0; guard < 1000; ++guard) {
      run_actors();
      if (done())
        return;
      if (!store->complete_one())
        break;
    }
    FAIL("the awaited state was never reached");
  }

  /// `until` `n` appends were issued; the last one stays pending.
  void until_appended(size_t n) {
    until([this, n] { return store->appends() >= n; });
  }

  /// The first id of the form "<prefix><n>" that hashes onto shard `index`.
  std::string id_in_shard(uint32_t index, const std::string& prefix = "e") const {
    for (int n = 0;; ++n) {
      auto id = prefix + std::to_string(n);
      if (shard_of(id) == index)
        return id;
    }
  }

  uint32_t shard_of(const std::string& id) const {
    return runtime::shard_of(id, static_cast<uint32_t>(region->shards().size()));
  }

  /// Instances in memory over all shards.
  uint64_t active() {
    auto n = std::make_shared<uint64_t>(0);
    for (const auto& shard : region->actors())
      sys->spawn([shard, n](caf::event_based_actor* self) {
        self->request(shard, caf::infinite, stats_atom_v).then([n](uint64_t x) { *n += x; });
      });
    run_actors();
    return *n;
  }

  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::scheduler::test_coordinator* sched = nullptr;
  std::shared_ptr<stepped_store> store;
  std::shared_ptr<metrics::entity_metrics> metrics;
  std::shared_ptr<const runtime::region> region;
  /// Where the region's forwards and side effects go (set before `spawn_region`); none by default.
  runtime::route_fn route;
  /// Writes in flight per entity (set before `spawn_region`).
  size_t max_pipeline = 256;
  /// Whether instances honour idempotency keys (set before `spawn_region`).
  bool idempotency_keys = true;
  /// At shutdown: how long shards wait for instances before killing them (set before `spawn_region`).
  std::chrono::milliseconds stop_timeout{10000};
  /// A cluster member's forwarder and fencing callback (set before `spawn_region`); none by default.
  std::shared_ptr<const runtime::shard_hooks> hooks;
};

/// The text of a successful reply ("" for failures).
inline std::string reply_text(const std::optional<command_result>& r) {
  TextReply reply;
  if (!r || !r->ok() || !reply.ParseFromString(r->payload))
    return "";
  return reply.value();
}

/// The status of a reply, or nullopt while none arrived: a missing reply never passes for an expected failure.
inline std::optional<status_code> code_of(const std::optional<command_result>& r) {
  return r ? std::optional{r->status.code()} : std::nullopt;
}

inline command append_cmd(const std::string& id, const std::string& text) {
  AppendText a;
  a.set_id(id);
  a.set_text(text);
  return make_command(id, "Append", a);
}

/// An append whose command handler throws (the entity then restarts).
inline command throwing_append_cmd(const std::string& id, const std::string& text) {
  AppendText a;
  a.set_id(id);
  a.set_text(text);
  a.set_throw_in_handler(true);
  return make_command(id, "Append", a);
}

inline command get_cmd(const std::string& id) {
  GetText g;
  g.set_id(id);
  return make_command(id, "Get", g);
}

/// The state a register's reply carries (absent: `present` is false; failures too).
inline NumberState number_of(const std::optional<command_result>& r) {
  NumberState n;
  if (r && r->ok())
    n.ParseFromString(r->payload);
  return n;
}

inline command set_cmd(const std::string& id, int64_t value, bool remove = false) {
  SetNumber s;
  s.set_id(id);
  s.set_value(value);
  s.set_remove(remove);
  return make_command(id, "Set", s);
}

/// A register's read takes the same request as a text log's `Get`.
inline command read_cmd(const std::string& id) {
  auto cmd = get_cmd(id);
  cmd.method = "Read";
  return cmd;
}

}  // namespace actorstate::testing
