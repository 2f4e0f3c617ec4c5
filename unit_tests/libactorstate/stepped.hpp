// Deterministic runtime tests: CAF's test_coordinator runs every actor step on the test thread, a stepped store
// completes operations only when the test says so, and the test moves the clock. Nothing sleeps or polls, so the
// order of events in a test is the order it spells out.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include <caf/all.hpp>

#include "test_entities.hpp"

namespace actorstate::testing {

/// A store whose operations complete only when the test calls `complete_all`, on the test thread. Enough of the
/// contract for one event-sourced entity: journal, no snapshots.
class stepped_store final : public persistence::store {
public:
  void append(std::string pid, std::vector<persistence::event> events,
              persistence::callback<persistence::status> done) override {
    ++appends_;
    pending_.push_back([this, pid, events = std::move(events), done = std::move(done)]() mutable {
      if (failing_appends_ > 0) {
        --failing_appends_;
        done(persistence::status{failure_code_, "injected append failure"});
        return;
      }
      auto& log = journal_[pid];
      // Fencing as the contract asks: an append must continue the journal exactly.
      int64_t highest = log.empty() ? 0 : log.back().seq;
      if (!events.empty() && events.front().seq != highest + 1) {
        done(persistence::status{persistence::code::conflict, "sequence number mismatch"});
        return;
      }
      for (auto& e : events)
        log.push_back(std::move(e));
      done({});
    });
  }
  void replay(std::string pid, int64_t from, int64_t to, uint64_t max,
              persistence::callback<persistence::result<std::vector<persistence::event>>> done) override {
    pending_.push_back([this, pid, from, to, max, done = std::move(done)] {
      std::vector<persistence::event> out;
      for (auto& e : journal_[pid])
        if (e.seq >= from && e.seq <= to && out.size() < max)
          out.push_back(e);
      done(std::move(out));
    });
  }
  void highest_seq(std::string pid, persistence::callback<persistence::result<int64_t>> done) override {
    pending_.push_back(
        [this, pid, done = std::move(done)] { done(journal_[pid].empty() ? int64_t{0} : journal_[pid].back().seq); });
  }
  void delete_up_to(std::string, int64_t, persistence::callback<persistence::status> done) override {
    pending_.push_back([done = std::move(done)] { done({}); });
  }
  void save_snapshot(std::string, persistence::snapshot, persistence::callback<persistence::status> done) override {
    pending_.push_back([done = std::move(done)] { done({}); });
  }
  void load_snapshot(std::string,
                     persistence::callback<persistence::result<std::optional<persistence::snapshot>>> done) override {
    pending_.push_back([done = std::move(done)] { done(std::optional<persistence::snapshot>{}); });
  }
  void delete_snapshots(std::string, int64_t, persistence::callback<persistence::status> done) override {
    pending_.push_back([done = std::move(done)] { done({}); });
  }
  void get_value(std::string,
                 persistence::callback<persistence::result<std::optional<persistence::stored_value>>> done) override {
    pending_.push_back([done = std::move(done)] { done(std::optional<persistence::stored_value>{}); });
  }
  void put_value(std::string, std::string, std::string, int64_t,
                 persistence::callback<persistence::result<int64_t>> done) override {
    pending_.push_back([done = std::move(done)] { done(int64_t{1}); });
  }
  void delete_value(std::string, int64_t, persistence::callback<persistence::status> done) override {
    pending_.push_back([done = std::move(done)] { done({}); });
  }
  std::string name() const override { return "stepped"; }
  void ping(persistence::callback<persistence::status> done) override { done({}); }
  void close() override {}

  size_t complete_all() {
    size_t n = 0;
    while (!pending_.empty()) {
      auto op = std::move(pending_.front());
      pending_.pop_front();
      op();
      ++n;
    }
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
  void fail_appends(size_t n, persistence::code code = persistence::code::unavailable) {
    failing_appends_ = n;
    failure_code_ = code;
  }
  size_t appends() const { return appends_; }
  size_t journal_size(const std::string& pid) { return journal_[pid].size(); }

private:
  std::deque<std::function<void()>> pending_;
  std::map<std::string, std::vector<persistence::event>> journal_;
  size_t failing_appends_ = 0;
  persistence::code failure_code_ = persistence::code::unavailable;
  size_t appends_ = 0;
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
    runtime::region_config rc;
    rc.env = env;
    rc.shards = shards;
    rc.passivation_timeout = passivation;
    rc.max_active = max_active;
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
    sys->spawn([result, target = region->target(cmd.entity_id), cmd = std::move(cmd)](caf::event_based_actor* self) mutable {
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
};

/// The text of a successful reply ("" for failures).
inline std::string reply_text(const std::optional<command_result>& r) {
  TextReply reply;
  if (!r || !r->ok() || !reply.ParseFromString(r->payload))
    return "";
  return reply.value();
}

inline command append_cmd(const std::string& id, const std::string& text) {
  AppendText a;
  a.set_id(id);
  a.set_text(text);
  return make_command(id, "Append", a);
}

inline command get_cmd(const std::string& id) {
  GetText g;
  g.set_id(id);
  return make_command(id, "Get", g);
}

}  // namespace actorstate::testing
