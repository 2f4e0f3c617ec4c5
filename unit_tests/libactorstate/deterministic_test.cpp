// Region and entity behaviour under CAF's deterministic test_coordinator: the test thread runs every actor step,
// completes store operations and moves the clock itself, so timing-dependent behaviour (idle passivation) is
// checked without sleeping.
#include <doctest/doctest.h>

#include <deque>
#include <map>

#include <caf/all.hpp>

#include "test_entities.hpp"

using namespace actorstate;
using namespace actorstate::testing;

namespace {

/// A store whose operations complete only when the test calls `complete_all`, on the test thread. Enough of the
/// contract for one event-sourced entity: journal, no snapshots.
class stepped_store final : public persistence::store {
public:
  void append(std::string pid, std::vector<persistence::event> events,
              persistence::callback<persistence::status> done) override {
    pending_.push_back([this, pid, events = std::move(events), done = std::move(done)]() mutable {
      auto& log = journal_[pid];
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
  size_t journal_size(const std::string& pid) { return journal_[pid].size(); }

private:
  std::deque<std::function<void()>> pending_;
  std::map<std::string, std::vector<persistence::event>> journal_;
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
    caf::anon_send_exit(region, caf::exit_reason::user_shutdown);
    settle();
  }

  void spawn_region(std::chrono::milliseconds passivation) {
    auto env = std::make_shared<runtime::entity_env>();
    env->model = text_log().model();
    env->store = store;
    env->metrics = metrics;
    runtime::region_config rc;
    rc.env = env;
    rc.passivation_timeout = passivation;
    region = runtime::spawn_region(*sys, rc);
    settle();
  }

  /// Runs actors and store operations until neither has anything left to do.
  void settle() {
    while (sched->run() > 0 || store->complete_all() > 0) {
    }
  }

  /// Sends a command from a fresh actor; the result is available after `settle`.
  std::shared_ptr<std::optional<command_result>> send(command cmd) {
    auto result = std::make_shared<std::optional<command_result>>();
    sys->spawn([this, result, cmd = std::move(cmd)](caf::event_based_actor* self) mutable {
      self->request(region, caf::infinite, std::move(cmd))
          .then([result](command_result& r) { *result = std::move(r); },
                [result](caf::error& e) { *result = to_command_result(e); });
    });
    return result;
  }

  uint64_t active() {
    auto n = std::make_shared<uint64_t>(999);
    sys->spawn([this, n](caf::event_based_actor* self) {
      self->request(region, caf::infinite, stats_atom_v).then([n](uint64_t x) { *n = x; });
    });
    settle();
    return *n;
  }

  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::scheduler::test_coordinator* sched = nullptr;
  std::shared_ptr<stepped_store> store;
  std::shared_ptr<metrics::entity_metrics> metrics;
  caf::actor region;
};

command append_cmd(const std::string& id, const std::string& text) {
  AppendText a;
  a.set_id(id);
  a.set_text(text);
  return make_command(id, "Append", a);
}

}  // namespace

TEST_CASE_FIXTURE(deterministic_fixture, "deterministic.reply_waits_for_the_store") {
  spawn_region(std::chrono::seconds{30});
  auto r = send(append_cmd("a", "x"));
  // Recovery reads complete, the command runs, the append is issued: no reply before the append completes.
  sched->run();
  store->complete_all();  // snapshot load
  sched->run();
  store->complete_all();  // replay
  sched->run();
  CHECK_FALSE(r->has_value());
  CHECK(store->journal_size("text-log|a") == 0);
  settle();
  REQUIRE(r->has_value());
  CHECK((*r)->ok());
  CHECK(store->journal_size("text-log|a") == 1);
}

TEST_CASE_FIXTURE(deterministic_fixture, "deterministic.idle_entities_passivate_after_the_timeout") {
  spawn_region(std::chrono::seconds{1});
  auto r1 = send(append_cmd("a", "x"));
  auto r2 = send(append_cmd("b", "y"));
  settle();
  REQUIRE(r1->has_value());
  REQUIRE(r2->has_value());
  CHECK(active() == 2);
  // Half the timeout: both still idle for less than a second.
  sched->advance_time(std::chrono::milliseconds{500});
  settle();
  CHECK(active() == 2);
  // Touch "a" only; then let "b" exceed the timeout.
  auto r3 = send(append_cmd("a", "z"));
  settle();
  sched->advance_time(std::chrono::milliseconds{600});
  settle();
  CHECK(active() == 1);
  sched->advance_time(std::chrono::milliseconds{1000});
  settle();
  CHECK(active() == 0);
  CHECK(metrics->passivations.value() == 2);
  // The passivated entity comes back with its events.
  GetText g;
  g.set_id("a");
  auto r4 = send(make_command("a", "Get", g));
  settle();
  REQUIRE(r4->has_value());
  TextReply reply;
  REQUIRE(reply.ParseFromString((*r4)->payload));
  CHECK(reply.value() == "xz");
}
