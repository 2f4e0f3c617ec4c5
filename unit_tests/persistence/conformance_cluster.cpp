// The cluster coordination contract (coordination.hpp) and shard fencing (store.hpp's write_fence).
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "conformance.hpp"

using namespace actorstate;
using namespace actorstate::persistence;
using namespace actorstate::persistence::testing;
using namespace std::chrono_literals;

namespace {

const std::string cluster_name = "c1";

store_options clustered() {
  store_options options;
  options.cluster = cluster_name;
  return options;
}

/// A store of the fixture's environment that fences by cluster "c1", and that cluster's coordination. For memory it is
/// a store of its own, apart from the fixture's.
struct cluster_fixture {
  explicit cluster_fixture(fixture& f) : s(f.env->open(clustered())), c(s, cluster_name) {}

  /// The start most cases need: `shards` shards, and members "a" and "b" at incarnation 1.
  void start(uint32_t shards) {
    REQUIRE(value_of(c.init(shards)) == shards);
    REQUIRE(value_of(c.join("a")) == 1);
    REQUIRE(value_of(c.join("b")) == 1);
  }

  sync_store s;
  sync_cluster c;
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

member_record member(sync_cluster& c, const std::string& id) {
  for (auto& m : value_of(c.members()))
    if (m.id == id)
      return m;
  FAIL("no member '" << id << "'");
  return {};
}

}  // namespace

// -- Membership -------------------------------------------------------------------------------------------------------

CONFORMANCE_TEST(cluster, init_records_the_first_shard_count) {
  cluster_fixture x{f};
  CHECK(value_of(x.c.init(8)) == 8);
  // A later member with another count learns the recorded one, and nothing changes.
  CHECK(value_of(x.c.init(16)) == 8);
  auto shards = value_of(x.c.shard_owners());
  REQUIRE(shards.size() == 8);
  for (uint32_t i = 0; i < 8; ++i)
    CHECK(shards[i] == shard_owner{i, "", 0, 0});
  // Clusters are apart; an uninitialised one has no shards.
  sync_cluster other{x.s, "c2"};
  CHECK(value_of(other.shard_owners()).empty());
  CHECK_CODE(other.init(0), status_code::invalid_argument);
  CHECK(value_of(other.init(3)) == 3);
  CHECK(value_of(x.c.init(8)) == 8);
}

CONFORMANCE_TEST(cluster, join_increments_incarnations) {
  cluster_fixture x{f};
  CHECK(value_of(x.c.join("b", "10.0.0.2:9300")) == 1);
  CHECK(value_of(x.c.join("a", "10.0.0.1:9300")) == 1);
  CHECK(value_of(x.c.join("a", "10.0.0.3:9300")) == 2);
  auto members = value_of(x.c.members());
  REQUIRE(members.size() == 2);
  // Ordered by id; the latest incarnation with its address.
  CHECK(members[0].id == "a");
  CHECK(members[0].incarnation == 2);
  CHECK(members[0].address == "10.0.0.3:9300");
  CHECK(members[0].status == member_status::up);
  CHECK(members[1].id == "b");
  CHECK(members[1].incarnation == 1);
  CHECK(members[1].address == "10.0.0.2:9300");
  for (const auto& m : members) {
    CHECK(m.age_ms >= 0);
    CHECK(m.age_ms < 10000);
  }
  CHECK(value_of(sync_cluster(x.s, "c2").members()).empty());
}

CONFORMANCE_TEST(cluster, renew_of_a_superseded_incarnation_conflicts) {
  cluster_fixture x{f};
  REQUIRE(value_of(x.c.join("a")) == 1);
  REQUIRE(value_of(x.c.join("a")) == 2);
  auto st = x.c.renew("a", 1);
  CHECK_CODE(st, status_code::conflict);
  CHECK_MESSAGE(contains(st.message(), "superseded by incarnation 2"), st.message());
  REQUIRE_OK(x.c.renew("a", 2));
  CHECK_CODE(x.c.renew("a", 3), status_code::conflict);
  CHECK_CODE(x.c.renew("ghost", 1), status_code::conflict);
}

CONFORMANCE_TEST(cluster, ages_grow_by_the_store_clock) {
  cluster_fixture x{f};
  REQUIRE(value_of(x.c.join("a")) == 1);
  REQUIRE(eventually([&] { return member(x.c, "a").age_ms >= 50; }));
  auto before = member(x.c, "a").age_ms;
  REQUIRE_OK(x.c.renew("a", 1));
  CHECK(member(x.c, "a").age_ms < before);
}

CONFORMANCE_TEST(cluster, leave_marks_leaving_then_removes) {
  cluster_fixture x{f};
  x.start(4);
  REQUIRE(value_of(x.c.claim(0, "a", 1, 0)) == 1);
  // "a" still owns a shard: it is leaving, and keeps renewing while it hands the shard over.
  REQUIRE_OK(x.c.leave("a", 1));
  CHECK(member(x.c, "a").status == member_status::leaving);
  REQUIRE_OK(x.c.renew("a", 1));
  // Nobody takes its shard over meanwhile, and it claims nothing new.
  CHECK_CODE(x.c.claim(0, "b", 1, 1), status_code::conflict);
  CHECK_CODE(x.c.claim(1, "a", 1, 0), status_code::conflict);
  REQUIRE(value_of(x.c.release(0, "a", 1, 1)) == 2);
  // Owning nothing, it is removed.
  REQUIRE_OK(x.c.leave("a", 1));
  auto members = value_of(x.c.members());
  REQUIRE(members.size() == 1);
  CHECK(members[0].id == "b");
  REQUIRE_OK(x.c.leave("a", 1));  // again: harmless
  CHECK_CODE(x.c.renew("a", 1), status_code::conflict);
  // A member that owns nothing is removed at once.
  REQUIRE_OK(x.c.leave("b", 1));
  CHECK(value_of(x.c.members()).empty());
  // Incarnation numbers are never reused, so a stale process of incarnation 1 stays out.
  CHECK(value_of(x.c.join("a")) == 2);
  CHECK_CODE(x.c.renew("a", 1), status_code::conflict);
  CHECK_CODE(x.c.leave("a", 1), status_code::conflict);
}

// -- Shards -----------------------------------------------------------------------------------------------------------

CONFORMANCE_TEST(cluster, claim_is_a_compare_and_set) {
  cluster_fixture x{f};
  x.start(4);
  CHECK(value_of(x.c.claim(2, "a", 1, 0)) == 1);
  // The wrong epoch fails whoever asks.
  auto wrong = x.c.claim(2, "a", 1, 0);
  CHECK_CODE(wrong, status_code::conflict);
  CHECK_MESSAGE(contains(wrong.error().message(), "epoch 1"), wrong.error().message());
  // A live owner keeps its shard; the message names it and the epoch.
  auto live = x.c.claim(2, "b", 1, 1, 60s);
  CHECK_CODE(live, status_code::conflict);
  CHECK_MESSAGE(contains(live.error().message(), "'a' incarnation 1 at epoch 1"), live.error().message());
  // The owner's own incarnation may claim again: a new epoch, as for a fresh start.
  CHECK(value_of(x.c.claim(2, "a", 1, 1)) == 2);
  // Only a current incarnation that is up claims.
  CHECK_CODE(x.c.claim(3, "ghost", 1, 0), status_code::conflict);
  CHECK_CODE(x.c.claim(3, "a", 7, 0), status_code::conflict);
  // No such shard, or no such cluster.
  CHECK_CODE(x.c.claim(4, "a", 1, 0), status_code::invalid_argument);
  CHECK_CODE(sync_cluster(x.s, "c2").claim(0, "a", 1, 0), status_code::invalid_argument);
  auto shards = value_of(x.c.shard_owners());
  REQUIRE(shards.size() == 4);
  CHECK(shards[2] == shard_owner{2, "a", 1, 2});
  CHECK(shards[3] == shard_owner{3, "", 0, 0});
}

CONFORMANCE_TEST(cluster, expired_owner_is_taken_over) {
  cluster_fixture x{f};
  x.start(2);
  REQUIRE(value_of(x.c.claim(0, "a", 1, 0)) == 1);
  // "a" stops renewing; once its renewal is older than the takeover time, "b" may take the shard.
  REQUIRE(eventually([&] { return member(x.c, "a").age_ms > 100; }));
  CHECK_CODE(x.c.claim(0, "b", 1, 1, 60s), status_code::conflict);
  CHECK(value_of(x.c.claim(0, "b", 1, 1, 100ms)) == 2);
  CHECK(value_of(x.c.shard_owners())[0] == shard_owner{0, "b", 1, 2});
  // A renewed owner is live again.
  REQUIRE_OK(x.c.renew("b", 1));
  CHECK_CODE(x.c.claim(0, "a", 1, 2, 100ms), status_code::conflict);
}

CONFORMANCE_TEST(cluster, superseded_owner_is_taken_over_at_once) {
  cluster_fixture x{f};
  x.start(2);
  REQUIRE(value_of(x.c.claim(0, "a", 1, 0)) == 1);
  REQUIRE(value_of(x.c.claim(1, "a", 1, 0)) == 1);
  // "a" restarted: its old incarnation serves nothing any more.
  REQUIRE(value_of(x.c.join("a")) == 2);
  CHECK(value_of(x.c.claim(0, "b", 1, 1, 60s)) == 2);
  CHECK(value_of(x.c.claim(1, "a", 2, 1, 60s)) == 2);
  CHECK(value_of(x.c.shard_owners()) == std::vector<shard_owner>{{0, "b", 1, 2}, {1, "a", 2, 2}});
}

CONFORMANCE_TEST(cluster, release_clears_the_owner) {
  cluster_fixture x{f};
  x.start(2);
  REQUIRE(value_of(x.c.claim(0, "a", 1, 0)) == 1);
  CHECK_CODE(x.c.release(0, "a", 1, 0), status_code::conflict);  // wrong epoch
  CHECK_CODE(x.c.release(0, "b", 1, 1), status_code::conflict);  // not the owner
  CHECK_CODE(x.c.release(0, "a", 2, 1), status_code::conflict);  // another incarnation
  CHECK_CODE(x.c.release(2, "a", 1, 1), status_code::invalid_argument);
  CHECK(value_of(x.c.release(0, "a", 1, 1)) == 2);
  CHECK(value_of(x.c.shard_owners())[0] == shard_owner{0, "", 0, 2});
  CHECK_CODE(x.c.release(0, "a", 1, 2), status_code::conflict);
  // Without an owner, any member that is up claims it at once.
  CHECK(value_of(x.c.claim(0, "b", 1, 2, 60s)) == 3);
}

// -- Fencing ----------------------------------------------------------------------------------------------------------

CONFORMANCE_TEST(cluster, fenced_writes_at_the_current_epoch_succeed) {
  cluster_fixture x{f};
  REQUIRE(value_of(x.c.init(4)) == 4);
  REQUIRE(value_of(x.c.join("a")) == 1);
  write_fence fence{1, value_of(x.c.claim(1, "a", 1, 0))};
  REQUIRE_OK(x.s.append("p", evs(1, 2), fence));
  REQUIRE_OK(x.s.save_snapshot("p", snapshot{2, "t", "s"}, fence));
  CHECK(value_of(x.s.put_value("k", "t", "v", 0, fence)) == 1);
  CHECK(value_of(x.s.put_value("gone", "t", "v", 0, fence)) == 1);
  REQUIRE_OK(x.s.delete_value("gone", 1, fence));
  CHECK(value_of(x.s.replay("p")) == evs(1, 2));
  CHECK(value_of(x.s.load_snapshot("p")) == std::optional<snapshot>{snapshot{2, "t", "s"}});
  CHECK(value_of(x.s.get_value("k")) == std::optional<stored_value>{stored_value{"t", "v", 1}});
  CHECK_FALSE(value_of(x.s.get_value("gone")).has_value());
  // The sequence and version fences still hold for fenced writes.
  CHECK_CODE(x.s.append("p", {ev(2)}, fence), status_code::conflict);
  CHECK_CODE(x.s.put_value("k", "t", "w", 0, fence), status_code::conflict);
}

CONFORMANCE_TEST(cluster, fenced_writes_at_a_stale_epoch_are_refused) {
  cluster_fixture x{f};
  x.start(4);
  auto old = value_of(x.c.claim(1, "a", 1, 0));
  REQUIRE_OK(x.s.append("p", evs(1, 1), write_fence{1, old}));
  REQUIRE(value_of(x.s.put_value("k", "t", "v", 0, write_fence{1, old})) == 1);
  auto released = value_of(x.c.release(1, "a", 1, old));
  auto current = value_of(x.c.claim(1, "b", 1, released));
  write_fence stale{1, old};
  auto st = x.s.append("p", {ev(2)}, stale);
  CHECK_CODE(st, status_code::conflict);
  CHECK(st.message() ==
        "shard 1 moved to epoch " + std::to_string(current) + "; this write carries epoch " + std::to_string(old));
  CHECK_CODE(x.s.save_snapshot("p", snapshot{1, "t", "s"}, stale), status_code::conflict);
  CHECK_CODE(x.s.put_value("k", "t", "w", 1, stale), status_code::conflict);
  CHECK_CODE(x.s.delete_value("k", 1, stale), status_code::conflict);
  // A future epoch is no better.
  CHECK_CODE(x.s.append("p", {ev(2)}, write_fence{1, current + 1}), status_code::conflict);
  // Nothing was written.
  CHECK(value_of(x.s.highest("p")) == 1);
  CHECK(value_of(x.s.replay("p")) == evs(1, 1));
  CHECK_FALSE(value_of(x.s.load_snapshot("p")).has_value());
  CHECK(value_of(x.s.get_value("k")) == std::optional<stored_value>{stored_value{"t", "v", 1}});
  // The new owner's epoch writes; other shards and unfenced writes are not concerned.
  REQUIRE_OK(x.s.append("p", {ev(2)}, write_fence{1, current}));
  REQUIRE(value_of(x.c.claim(2, "a", 1, 0)) == 1);
  REQUIRE_OK(x.s.append("q", evs(1, 1), write_fence{2, 1}));
  REQUIRE_OK(x.s.append("p", {ev(3)}));
  CHECK(value_of(x.s.replay("p")) == evs(1, 3));
}

CONFORMANCE_TEST(cluster, stale_fenced_writes_among_batched_writes) {
  // Queued without waiting, so the SQL plugins fold them into few transactions (their own tests make it one).
  cluster_fixture x{f};
  fenced_group group;
  group.prepare(x.s, x.c);
  group.queue(x.s);
  group.check_outcomes();
  group.check_stored(x.s);
}

CONFORMANCE_TEST(cluster, fenced_write_without_a_cluster_is_invalid) {
  // The fixture's store was opened without a cluster name.
  write_fence fence{0, 1};
  CHECK_CODE(f.s.append("p", evs(1, 1), fence), status_code::invalid_argument);
  CHECK_CODE(f.s.save_snapshot("p", snapshot{1, "t", "s"}, fence), status_code::invalid_argument);
  CHECK_CODE(f.s.put_value("k", "t", "v", 0, fence), status_code::invalid_argument);
  CHECK_CODE(f.s.delete_value("k", 0, fence), status_code::invalid_argument);
  CHECK(value_of(f.s.highest("p")) == 0);
  CHECK_FALSE(value_of(f.s.get_value("k")).has_value());
  // A cluster name, but no such shard in it.
  cluster_fixture x{f};
  CHECK_CODE(x.s.append("p", evs(1, 1), write_fence{0, 0}), status_code::invalid_argument);
  REQUIRE(value_of(x.c.init(2)) == 2);
  CHECK_CODE(x.s.append("p", evs(1, 1), write_fence{2, 0}), status_code::invalid_argument);
  CHECK(value_of(x.s.highest("p")) == 0);
}

// -- The whole store --------------------------------------------------------------------------------------------------

CONFORMANCE_TEST(cluster, callbacks_never_on_caller_thread_and_unavailable_after_close) {
  cluster_fixture x{f};
  auto caller = std::this_thread::get_id();
  waiter<std::thread::id> joined;
  waiter<std::thread::id> listed;
  x.c->join(cluster_name, "a", "addr", [cb = joined.cb()](result<int64_t>) { cb(std::this_thread::get_id()); });
  x.c->members(cluster_name,
               [cb = listed.cb()](result<std::vector<member_record>>) { cb(std::this_thread::get_id()); });
  CHECK(joined.get() != caller);
  CHECK(listed.get() != caller);
  x.s->close();
  CHECK_CODE(x.c.init(2), status_code::unavailable);
  CHECK_CODE(x.c.join("a"), status_code::unavailable);
  CHECK_CODE(x.c.renew("a", 1), status_code::unavailable);
  CHECK_CODE(x.c.leave("a", 1), status_code::unavailable);
  CHECK_CODE(x.c.members(), status_code::unavailable);
  CHECK_CODE(x.c.shard_owners(), status_code::unavailable);
  CHECK_CODE(x.c.claim(0, "a", 1, 0), status_code::unavailable);
  CHECK_CODE(x.c.release(0, "a", 1, 1), status_code::unavailable);
  CHECK_CODE(x.s.append("p", evs(1, 1), write_fence{0, 1}), status_code::unavailable);
}

DURABLE_CONFORMANCE_TEST(cluster, stores_on_shared_data_see_each_others_members_and_claims) {
  // Two stores on the same data, as two member processes.
  sync_store s1{f.env->open(clustered())};
  sync_store s2{f.env->open(clustered())};
  sync_cluster c1{s1, cluster_name};
  sync_cluster c2{s2, cluster_name};
  REQUIRE(value_of(c1.init(4)) == 4);
  CHECK(value_of(c2.init(8)) == 4);
  REQUIRE(value_of(c1.join("a")) == 1);
  REQUIRE(value_of(c2.join("b")) == 1);
  for (auto* c : {&c1, &c2}) {
    auto members = value_of(c->members());
    REQUIRE(members.size() == 2);
    CHECK(members[0].id == "a");
    CHECK(members[1].id == "b");
  }
  auto epoch = value_of(c1.claim(0, "a", 1, 0));
  CHECK(value_of(c2.shard_owners())[0] == shard_owner{0, "a", 1, epoch});
  CHECK_CODE(c2.claim(0, "b", 1, epoch, 60s), status_code::conflict);
  REQUIRE_OK(s1.append("p", evs(1, 1), write_fence{0, epoch}));
  // "a" stops renewing; "b" takes the shard over, and from then on the store refuses "a"'s writes to it.
  REQUIRE(eventually([&] { return member(c2, "a").age_ms > 100; }));
  auto taken = value_of(c2.claim(0, "b", 1, epoch, 100ms));
  CHECK(taken == epoch + 1);
  CHECK_CODE(s1.append("p", {ev(2, "stale")}, write_fence{0, epoch}), status_code::conflict);
  CHECK_CODE(s1.put_value("k", "t", "stale", 0, write_fence{0, epoch}), status_code::conflict);
  REQUIRE_OK(s2.append("p", {ev(2)}, write_fence{0, taken}));
  CHECK(value_of(s1.replay("p")) == evs(1, 2));
  // "a" restarts: the other store sees the old incarnation superseded.
  REQUIRE(value_of(c1.join("a")) == 2);
  CHECK_CODE(c2.renew("a", 1), status_code::conflict);
  CHECK(member(c2, "a").incarnation == 2);
}

DURABLE_CONFORMANCE_TEST(cluster, a_member_whose_process_is_gone_is_confirmed_gone_and_removed) {
  // Two stores on the same data, as two member processes; closing one is its process ending.
  auto s1 = std::make_unique<sync_store>(f.env->open(clustered()));
  sync_store s2{f.env->open(clustered())};
  auto c1 = std::make_unique<sync_cluster>(*s1, cluster_name);
  sync_cluster c2{s2, cluster_name};
  REQUIRE(value_of(c1->init(4)) == 4);
  REQUIRE(value_of(c1->join("a")) == 1);
  REQUIRE(value_of(c2.join("b")) == 1);
  auto epoch = value_of(c1->claim(0, "a", 1, 0));
  REQUIRE_OK(c1->renew("a", 1));
  // Alive (its store holds the token): not gone, whatever asks, and its shard stays its own.
  CHECK_FALSE(value_of(c2.confirm_gone("a", 1)));
  CHECK_CODE(c2.claim(0, "b", 1, epoch, 60s), status_code::conflict);
  // Not current, or unknown: never gone.
  CHECK_FALSE(value_of(c2.confirm_gone("a", 7)));
  CHECK_FALSE(value_of(c2.confirm_gone("ghost", 1)));
  // The process ends without leaving: its token goes with it, and the store removes it at once.
  c1.reset();
  s1.reset();
  CHECK(value_of(c2.confirm_gone("a", 1)));
  for (const auto& m : value_of(c2.members()))
    CHECK(m.id != "a");
  // Its shard is claimed long before the failure timeout (60 s here) would allow.
  CHECK(value_of(c2.claim(0, "b", 1, epoch, 60s)) == epoch + 1);
  CHECK_FALSE(value_of(c2.confirm_gone("a", 1)));  // already removed
  // A renewal of the removed incarnation (a process that was alive after all) is refused: it joins again.
  sync_store s3{f.env->open(clustered())};
  sync_cluster c3{s3, cluster_name};
  CHECK_CODE(c3.renew("a", 1), status_code::conflict);
  CHECK(value_of(c3.join("a")) == 2);
  CHECK_FALSE(value_of(c2.confirm_gone("a", 2)));
}

CONFORMANCE_TEST(cluster, a_member_that_left_takes_its_token_along) {
  cluster_fixture x{f};
  x.start(2);
  REQUIRE_OK(x.c.leave("a", 1));  // owns nothing: removed
  CHECK_FALSE(value_of(x.c.confirm_gone("a", 1)));
  CHECK_FALSE(value_of(x.c.confirm_gone("b", 1)));  // alive, or (memory) cannot tell
}
