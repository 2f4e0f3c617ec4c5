// The cluster member over a shared memory store, several members in one process, each with a shard control that
// records what it was told. The store answers on its own threads, so convergence is awaited (bounded) rather than
// stepped; the assertions are about the order of events (drop before a takeover's serve), not about timing.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <doctest/doctest.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "actorstate/cluster/member.hpp"
#include "actorstate/cluster/placement.hpp"
#include "actorstate/persistence/coordination.hpp"
#include "actorstate/persistence/store.hpp"
#include "actorstate/runtime/lease.hpp"
#include "actorstate/runtime/messages.hpp"
#include "actorstate/runtime/shard_control.hpp"

namespace actorstate::cluster {
namespace {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;

/// Records every call, per shard; hand_over completes on a thread of its own (as the real one does on an actor).
class recording_control final : public runtime::shard_control {
public:
  struct shard {
    enum class state { holding, serving, routing } what = state::holding;
    int64_t epoch = 0;
    std::string address;
  };

  explicit recording_control(uint32_t shards) : shards_(shards) {}
  ~recording_control() override {
    for (auto& t : threads_)
      t.join();
  }

  void serve(uint32_t i, int64_t epoch) override {
    std::lock_guard<std::mutex> guard{mtx_};
    shards_[i] = {shard::state::serving, epoch, {}};
    served_at_[i] = clock::now();
    history_[i].push_back("serve");
  }
  void hand_over(uint32_t i, std::function<void()> done) override {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      shards_[i] = {shard::state::holding, 0, {}};
      ++handovers_;
      history_[i].push_back("hand_over");
    }
    threads_.emplace_back([done = std::move(done)] { done(); });
  }
  void drop(uint32_t i) override {
    std::lock_guard<std::mutex> guard{mtx_};
    shards_[i] = {shard::state::holding, 0, {}};
    dropped_at_[i] = clock::now();
    history_[i].push_back("drop");
  }
  void route(uint32_t i, std::string address) override {
    std::lock_guard<std::mutex> guard{mtx_};
    history_[i].push_back("route " + address);
    shards_[i] = {shard::state::routing, 0, std::move(address)};
  }
  void hold(uint32_t i) override {
    std::lock_guard<std::mutex> guard{mtx_};
    shards_[i] = {shard::state::holding, 0, {}};
    history_[i].push_back("hold");
  }

  std::vector<shard> snapshot() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return shards_;
  }
  size_t serving() const {
    auto s = snapshot();
    return std::count_if(s.begin(), s.end(), [](const shard& x) { return x.what == shard::state::serving; });
  }
  std::map<uint32_t, clock::time_point> served_at() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return served_at_;
  }
  std::map<uint32_t, clock::time_point> dropped_at() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return dropped_at_;
  }
  size_t handovers() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return handovers_;
  }
  /// Every call for shard `i`, in order: "serve", "hand_over", "drop", "hold", "route ADDRESS".
  std::vector<std::string> history(uint32_t i) const {
    std::lock_guard<std::mutex> guard{mtx_};
    auto h = history_.find(i);
    return h == history_.end() ? std::vector<std::string>{} : h->second;
  }

private:
  mutable std::mutex mtx_;
  std::vector<shard> shards_;
  std::map<uint32_t, clock::time_point> served_at_;
  std::map<uint32_t, clock::time_point> dropped_at_;
  std::map<uint32_t, std::vector<std::string>> history_;
  size_t handovers_ = 0;
  std::vector<std::thread> threads_;
};

/// Passes everything to the store's coordination, but fails renewals while `fail_renewals` is set, and counts the
/// `confirm_gone` questions; with `processes_gone` it answers them as a store that finds every asked-about process
/// gone (the memory store has no liveness tokens): it removes the member (`leave`, which removes one owning no shards).
class flaky_coordination final : public persistence::coordination {
public:
  explicit flaky_coordination(persistence::coordination& inner) : inner_(inner) {}
  std::atomic<bool> fail_renewals{false};
  std::atomic<bool> processes_gone{false};
  std::atomic<int> gone_asked{0};

  void init_cluster(std::string c, uint32_t n, persistence::callback<result<uint32_t>> done) override {
    inner_.init_cluster(std::move(c), n, std::move(done));
  }
  void join(std::string c, std::string id, std::string a, persistence::callback<result<int64_t>> done) override {
    inner_.join(std::move(c), std::move(id), std::move(a), std::move(done));
  }
  void renew(std::string c, std::string id, int64_t inc, persistence::callback<status> done) override {
    if (fail_renewals.load()) {
      std::thread{[done = std::move(done)] {
        done(status{status_code::unavailable, "injected: store unreachable"});
      }}.detach();
      return;
    }
    inner_.renew(std::move(c), std::move(id), inc, std::move(done));
  }
  void leave(std::string c, std::string id, int64_t inc, persistence::callback<status> done) override {
    inner_.leave(std::move(c), std::move(id), inc, std::move(done));
  }
  void confirm_gone(std::string c, std::string id, int64_t inc, persistence::callback<result<bool>> done) override {
    ++gone_asked;
    if (processes_gone.load()) {
      inner_.leave(std::move(c), std::move(id), inc,
                   [done = std::move(done)](status st) { done(st.ok() ? result<bool>{true} : result<bool>{st}); });
      return;
    }
    inner_.confirm_gone(std::move(c), std::move(id), inc, std::move(done));
  }
  void members(std::string c, persistence::callback<result<std::vector<persistence::member_record>>> done) override {
    inner_.members(std::move(c), std::move(done));
  }
  void shard_owners(std::string c, persistence::callback<result<std::vector<persistence::shard_owner>>> done) override {
    inner_.shard_owners(std::move(c), std::move(done));
  }
  void claim_shard(std::string c, uint32_t s, std::string id, int64_t inc, int64_t e, std::chrono::milliseconds t,
                   persistence::callback<result<int64_t>> done) override {
    inner_.claim_shard(std::move(c), s, std::move(id), inc, e, t, std::move(done));
  }
  void release_shard(std::string c, uint32_t s, std::string id, int64_t inc, int64_t e,
                     persistence::callback<result<int64_t>> done) override {
    inner_.release_shard(std::move(c), s, std::move(id), inc, e, std::move(done));
  }

private:
  persistence::coordination& inner_;
};

constexpr uint32_t shard_count = 32;

/// One member in the shared actor system: its shard control and its member.
struct test_member {
  std::string id;
  std::unique_ptr<recording_control> control = std::make_unique<recording_control>(shard_count);
  std::unique_ptr<member> m;
};

struct fixture {
  fixture() {
    cfg.set("scheduler.max-threads", size_t{2});
    cfg.add_message_types<caf::id_block::actorstate>();
    sys = std::make_unique<caf::actor_system>(cfg);
    store = persistence::open_store("memory").value();
    flaky = std::make_unique<flaky_coordination>(*store->cluster_coordination());
  }
  ~fixture() {
    {
      std::lock_guard<std::mutex> guard{nudge_mtx};
      by_address.clear();
    }
    for (auto& m : members)
      if (m->m)
        m->m->stop();
    members.clear();
    sys.reset();
  }

  member_options options(const std::string& id) {
    member_options o;
    o.cluster = "test";
    o.id = id;
    o.address = id + ":9300";
    o.shards = shard_count;
    o.failure_timeout = failure_timeout;
    o.max_rebalance = 4;
    o.forget_down_after = forget_after;
    if (wire_nudges)
      o.nudge = [this](const std::string& address) {
        std::lock_guard<std::mutex> guard{nudge_mtx};
        if (auto i = by_address.find(address); i != by_address.end())
          i->second->reread();
      };
    return o;
  }

  test_member& add(const std::string& id, persistence::coordination* coord = nullptr,
                   std::shared_ptr<runtime::lease> lease = nullptr) {
    auto tm = std::make_unique<test_member>();
    tm->id = id;
    auto o = options(id);
    o.lease = std::move(lease);
    auto started = member::start(*sys, coord != nullptr ? *coord : *store->cluster_coordination(), *tm->control, o);
    REQUIRE_MESSAGE(started.ok(), started.error().to_string());
    tm->m = std::move(started.value());
    if (wire_nudges) {
      std::lock_guard<std::mutex> guard{nudge_mtx};
      by_address[id + ":9300"] = tm->m.get();
    }
    members.push_back(std::move(tm));
    return *members.back();
  }

  /// Every shard served by exactly one of the running members, the others routing it to the server's address.
  bool settled() {
    std::vector<test_member*> running;
    for (auto& m : members)
      if (m->m)
        running.push_back(m.get());
    for (uint32_t i = 0; i < shard_count; ++i) {
      std::string server;
      for (auto* m : running) {
        auto s = m->control->snapshot()[i];
        if (s.what == recording_control::shard::state::serving) {
          if (!server.empty())
            return false;
          server = m->id;
        }
      }
      if (server.empty())
        return false;
      for (auto* m : running) {
        auto s = m->control->snapshot()[i];
        if (m->id != server && (s.what != recording_control::shard::state::routing || s.address != server + ":9300"))
          return false;
      }
    }
    return true;
  }

  /// Settled, and every running member serves exactly the shards placement prefers it for (rebalancing is over).
  bool balanced() {
    if (!settled())
      return false;
    std::vector<std::string> ids;
    for (auto& m : members)
      if (m->m)
        ids.push_back(m->id);
    for (auto& m : members) {
      if (!m->m)
        continue;
      size_t preferred = 0;
      for (uint32_t i = 0; i < shard_count; ++i)
        preferred += preferred_owner(i, ids) == m->id ? 1 : 0;
      if (m->control->serving() != preferred)
        return false;
    }
    return true;
  }

  template <class Pred>
  bool eventually(Pred pred, std::chrono::milliseconds within = 10s) {
    auto until = clock::now() + within;
    while (clock::now() < until) {
      if (pred())
        return true;
      std::this_thread::sleep_for(20ms);
    }
    return pred();
  }

  /// member_options of the members added: the failure timeout, and forget_down_after (0: the default, 30 s here).
  std::chrono::milliseconds failure_timeout{1500};
  std::chrono::milliseconds forget_after{0};
  /// Whether the members nudge each other (as the node wires member_options::nudge over the transport): a member
  /// stays reachable for nudges until the test takes it out of `by_address`.
  bool wire_nudges = false;
  std::mutex nudge_mtx;
  std::map<std::string, member*> by_address;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::shared_ptr<persistence::store> store;
  std::unique_ptr<flaky_coordination> flaky;
  std::vector<std::unique_ptr<test_member>> members;
};

TEST_CASE_FIXTURE(fixture, "member.three_members_split_the_shards_and_route_to_each_other") {
  add("a");
  add("b");
  add("c");
  REQUIRE(eventually([&] { return balanced(); }));
  // A view is the member's last reading, which may predate the last claims: the next readings catch up.
  auto views_agree = [&] {
    for (auto& m : members) {
      auto view = m->m->view();
      size_t owned = 0, up = 0;
      for (const auto& v : view.members) {
        owned += v.shards;
        up += v.status == "up" ? 1 : 0;
      }
      if (!view.joined || view.members.size() != 3 || up != 3 || owned != shard_count)
        return false;
    }
    return true;
  };
  CHECK(eventually(views_agree));
  for (auto& m : members)
    CHECK(m->control->serving() > 0);
}

TEST_CASE_FIXTURE(fixture, "member.a_member_with_another_shard_count_is_refused_naming_both") {
  add("a");
  recording_control control{16};
  auto o = options("b");
  o.shards = 16;
  auto started = member::start(*sys, *store->cluster_coordination(), control, o);
  REQUIRE_FALSE(started.ok());
  CHECK(started.error().code() == status_code::failed_precondition);
  CHECK(started.error().message().find("32") != std::string::npos);
  CHECK(started.error().message().find("16") != std::string::npos);
}

TEST_CASE_FIXTURE(fixture, "member.a_joining_member_takes_shards_over_in_bounded_steps") {
  add("a");
  REQUIRE(eventually([&] { return members[0]->control->serving() == shard_count; }));
  add("b");
  REQUIRE(eventually([&] { return balanced(); }));
  CHECK(members[1]->control->serving() > 0);
  // Every shard that moved was handed over (its writes durable first), not dropped.
  CHECK(members[0]->control->handovers() == members[1]->control->serving());
  CHECK(members[0]->control->dropped_at().empty());
}

TEST_CASE_FIXTURE(fixture, "member.a_crashed_members_shards_are_taken_over_after_the_failure_timeout") {
  add("a");
  add("b");
  add("c");
  REQUIRE(eventually([&] { return balanced(); }));
  auto lost = members[2]->control->serving();
  members[2]->m->stop();  // as a crash: no leave, no handover
  auto stopped_at = clock::now();
  members[2]->m.reset();
  REQUIRE(eventually([&] { return balanced(); }));
  auto took = clock::now() - stopped_at;
  // Not before the failure timeout plus the margin (the lease a silent member may still be serving under).
  CHECK(took >= 1500ms);
  auto counters_a = members[0]->m->counters();
  auto counters_b = members[1]->m->counters();
  CHECK(counters_a.takeovers + counters_b.takeovers == lost);
  auto view = members[0]->m->view();
  bool c_down = false;
  for (const auto& v : view.members)
    if (v.id == "c")
      c_down = v.status == "down" && v.shards == 0;
  CHECK(c_down);
}

TEST_CASE_FIXTURE(fixture, "member.a_shard_claimed_from_a_silent_member_holds_its_commands_until_served") {
  add("a");
  add("b");
  REQUIRE(eventually([&] { return balanced(); }));
  auto b_had = members[1]->control->snapshot();
  members[1]->m->stop();  // silent from now on: no leave, no handover
  members[1]->m.reset();
  REQUIRE(eventually([&] { return members[0]->control->serving() == shard_count; }));
  // From the first reading that finds b silent, a claims b's shards, and the store refuses the claims until the
  // takeover time: meanwhile the commands wait on a, instead of going to b, whose link would keep them until it is
  // known lost, or until a dial to it fails.
  size_t moved = 0;
  for (uint32_t i = 0; i < shard_count; ++i) {
    if (b_had[i].what != recording_control::shard::state::serving)
      continue;
    ++moved;
    auto h = members[0]->control->history(i);
    auto routed = std::find(h.rbegin(), h.rend(), "route b:9300");
    REQUIRE_MESSAGE(routed != h.rend(), "shard " << i << " was never routed to b");
    std::string after;
    for (auto e = routed.base(); e != h.end(); ++e)
      after += (after.empty() ? "" : ", ") + *e;
    CHECK_MESSAGE(after == "hold, serve", "shard " << i << " after its route to b: " << after);
  }
  CHECK(moved > 0);
}

/// Whether `observer`'s last reading lists member `id` (as up, leaving or down).
bool lists(const test_member& observer, const std::string& id) {
  auto view = observer.m->view();
  return std::any_of(view.members.begin(), view.members.end(), [&](const auto& v) { return v.id == id; });
}

TEST_CASE_FIXTURE(fixture, "member.a_member_down_long_whose_process_is_gone_is_forgotten") {
  // Well past the takeover (failure timeout + margin, 2 s), so that a slow host still sees c listed after it.
  forget_after = 6s;
  flaky->processes_gone = true;
  add("a", flaky.get());
  add("b", flaky.get());
  add("c", flaky.get());
  REQUIRE(eventually([&] { return balanced(); }));
  members[2]->m->stop();  // as a crash whose connection nobody saw close
  members[2]->m.reset();
  REQUIRE(eventually([&] { return balanced(); }));
  // Taken over after the failure timeout, but still listed (down) until forget_down_after.
  CHECK(lists(*members[0], "c"));
  CHECK(flaky->gone_asked.load() == 0);
  REQUIRE(eventually([&] { return !lists(*members[0], "c") && !lists(*members[1], "c"); }, 15s));
  CHECK(members[0]->m->counters().down_members_forgotten + members[1]->m->counters().down_members_forgotten >= 1);
  // Each survivor asks about the incarnation once; the first answer removes it, so nobody asks again.
  CHECK(flaky->gone_asked.load() <= 2);
  CHECK(balanced());
}

TEST_CASE_FIXTURE(fixture, "member.a_member_down_long_whose_process_lives_stays_listed_and_is_asked_rarely") {
  forget_after = 2s;
  add("a", flaky.get());
  add("b", flaky.get());
  REQUIRE(eventually([&] { return balanced(); }));
  members[1]->m->stop();  // silent; the memory store never confirms a process gone
  members[1]->m.reset();
  REQUIRE(eventually([&] { return balanced(); }));
  REQUIRE(eventually([&] { return flaky->gone_asked.load() >= 1; }, 5s));
  // a reads the store every 500 ms; over the next 4 s it asks again at most about every 2 s (at most 4 questions in
  // all, counting one before this wait began), not at every reading (8 or more), and b stays listed as down.
  std::this_thread::sleep_for(4s);
  CHECK(flaky->gone_asked.load() <= 4);
  auto view = members[0]->m->view();
  bool b_down = false;
  for (const auto& v : view.members)
    b_down = b_down || (v.id == "b" && v.status == "down");
  CHECK(b_down);
}

TEST_CASE_FIXTURE(fixture, "member.members_tell_each_other_to_read_so_placement_does_not_wait_for_renewals") {
  // Renewals, and the readings after them, every 10 s: a join, the bounded handover steps that follow it, and a
  // leave would each take one or more of them. With the nudges (a new member's, a releaser's to the next owner, a
  // claimer's to everyone) they take well under one.
  failure_timeout = 30s;
  wire_nudges = true;
  add("a");
  add("b");
  add("c");
  CHECK(eventually([&] { return balanced(); }, 8s));
  auto left = members[2]->m->leave(8s);
  CHECK_MESSAGE(left.ok(), left.to_string());
  {
    std::lock_guard<std::mutex> guard{nudge_mtx};
    by_address.erase("c:9300");
  }
  members[2]->m->stop();
  members[2]->m.reset();
  CHECK(eventually([&] { return balanced(); }, 8s));
}

TEST_CASE_FIXTURE(fixture, "member.a_leaving_member_hands_every_shard_over_and_is_removed") {
  add("a");
  add("b");
  REQUIRE(eventually([&] { return balanced(); }));
  auto had = members[1]->control->serving();
  REQUIRE(had > 0);
  auto left = members[1]->m->leave(10s);
  CHECK_MESSAGE(left.ok(), left.to_string());
  CHECK(members[1]->control->serving() == 0);
  CHECK(members[1]->control->handovers() == had);
  CHECK(members[1]->control->dropped_at().empty());
  members[1]->m->stop();
  members[1]->m.reset();
  REQUIRE(eventually([&] { return members[0]->control->serving() == shard_count; }));
  REQUIRE(eventually([&] { return members[0]->m->view().members.size() == 1; }));
}

TEST_CASE_FIXTURE(fixture, "member.a_member_that_cannot_renew_stops_serving_before_anyone_takes_over") {
  auto b_lease = std::make_shared<runtime::lease>();
  add("a");
  add("b", flaky.get(), b_lease);
  REQUIRE(eventually([&] { return balanced(); }));
  auto generation = b_lease->generation();
  CHECK(b_lease->valid(generation));
  auto b_had = members[1]->control->snapshot();
  flaky->fail_renewals = true;
  // The entities stop answering when the lease ends, whether or not the member's timer has run yet.
  REQUIRE(eventually([&] { return !b_lease->valid(generation); }));
  REQUIRE(eventually([&] { return members[0]->control->serving() == shard_count; }));
  CHECK(members[1]->control->serving() == 0);
  CHECK(members[1]->m->counters().self_fences >= 1);
  auto dropped = members[1]->control->dropped_at();
  auto served = members[0]->control->served_at();
  for (uint32_t i = 0; i < shard_count; ++i) {
    if (b_had[i].what != recording_control::shard::state::serving)
      continue;
    REQUIRE(dropped.count(i) == 1);
    CHECK_MESSAGE(dropped[i] < served[i], "shard " << i << " served by a before b stopped serving it");
  }
  // Renewals get through again: b claims shards anew, at new epochs.
  flaky->fail_renewals = false;
  REQUIRE(eventually([&] { return balanced(); }));
  // Renewed, but what was served under the lease that ran out is not revived: only the new generation answers.
  CHECK_FALSE(b_lease->valid(generation));
  CHECK(b_lease->valid(b_lease->generation()));
  for (const auto& s : members[1]->control->snapshot())
    if (s.what == recording_control::shard::state::serving)
      CHECK(s.epoch >= 3);  // claimed, taken over by a, claimed back
}

TEST_CASE_FIXTURE(fixture, "member.a_superseded_incarnation_drops_its_shards_and_joins_again") {
  add("a");
  REQUIRE(eventually([&] { return members[0]->control->serving() == shard_count; }));
  auto first = members[0]->m->incarnation();
  // Another process joins under the same id (a restarted pod whose predecessor still runs).
  std::promise<result<int64_t>> joined;
  store->cluster_coordination()->join("test", "a", "elsewhere:9300",
                                      [&](result<int64_t> r) { joined.set_value(std::move(r)); });
  auto newer = joined.get_future().get();
  REQUIRE(newer.ok());
  REQUIRE(eventually([&] { return members[0]->m->incarnation() > newer.value(); }));
  CHECK(members[0]->m->incarnation() > first);
  REQUIRE(eventually([&] { return members[0]->control->serving() == shard_count; }));
  CHECK(members[0]->control->dropped_at().size() == shard_count);
}

}  // namespace
}  // namespace actorstate::cluster
