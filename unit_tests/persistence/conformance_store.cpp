// The snapshot store, value store and whole-store contracts: ordering, threads, close(), durability.
#include <latch>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "conformance.hpp"

using namespace actorstate;
using namespace actorstate::persistence;
using namespace actorstate::persistence::testing;

namespace {

snapshot snap(int64_t seq, std::string payload = {}) {
  if (payload.empty())
    payload = "state-at-" + std::to_string(seq);
  return snapshot{seq, "test.state", std::move(payload)};
}

std::optional<int64_t> loaded_seq(fixture& f, const std::string& pid) {
  auto s = value_of(f.s.load_snapshot(pid));
  return s ? std::optional<int64_t>{s->seq} : std::nullopt;
}

}  // namespace

// -- Snapshots
// ---------------------------------------------------------------------------------------------------------

CONFORMANCE_TEST(snapshot, none_is_nullopt) {
  CHECK_FALSE(value_of(f.s.load_snapshot("p")).has_value());
}

CONFORMANCE_TEST(snapshot, latest_wins) {
  REQUIRE_OK(f.s.save_snapshot("p", snap(1)));
  REQUIRE_OK(f.s.save_snapshot("p", snap(5)));
  REQUIRE_OK(f.s.save_snapshot("p", snap(3)));
  REQUIRE_OK(f.s.save_snapshot("other", snap(9)));
  auto s = value_of(f.s.load_snapshot("p"));
  REQUIRE(s.has_value());
  CHECK(*s == snap(5));
}

CONFORMANCE_TEST(snapshot, same_seq_replaces) {
  REQUIRE_OK(f.s.save_snapshot("p", snap(4, "old")));
  REQUIRE_OK(f.s.save_snapshot("p", snapshot{4, "other.type", "new"}));
  auto s = value_of(f.s.load_snapshot("p"));
  REQUIRE(s.has_value());
  CHECK(*s == snapshot{4, "other.type", "new"});
}

CONFORMANCE_TEST(snapshot, delete_up_to) {
  for (int64_t seq : {1, 3, 5})
    REQUIRE_OK(f.s.save_snapshot("p", snap(seq)));
  REQUIRE_OK(f.s.delete_snapshots("p", 3));
  CHECK(loaded_seq(f, "p") == 5);
  REQUIRE_OK(f.s.save_snapshot("p", snap(2)));
  REQUIRE_OK(f.s.delete_snapshots("p", 5));
  CHECK_FALSE(loaded_seq(f, "p").has_value());
  REQUIRE_OK(f.s.delete_snapshots("unknown", 5));
}

CONFORMANCE_TEST(snapshot, binary_payload_round_trips) {
  std::string bytes{"\0\x01\xff\0", 4};
  REQUIRE_OK(f.s.save_snapshot("p", snapshot{7, "t", bytes}));
  auto s = value_of(f.s.load_snapshot("p"));
  REQUIRE(s.has_value());
  CHECK(s->payload == bytes);
}

// -- Values
// ------------------------------------------------------------------------------------------------------------

CONFORMANCE_TEST(value, absent_is_nullopt) {
  CHECK_FALSE(value_of(f.s.get_value("k")).has_value());
}

CONFORMANCE_TEST(value, put_with_zero_creates_version_one) {
  CHECK(value_of(f.s.put_value("k", "test.value", std::string{"v\0\1", 3}, 0)) == 1);
  auto v = value_of(f.s.get_value("k"));
  REQUIRE(v.has_value());
  CHECK(*v == stored_value{"test.value", std::string{"v\0\1", 3}, 1});
}

CONFORMANCE_TEST(value, wrong_version_conflicts) {
  REQUIRE_OK(f.s.put_value("k", "t", "one", 0));
  CHECK_CODE(f.s.put_value("k", "t", "stale", 0), status_code::conflict);
  CHECK_CODE(f.s.put_value("k", "t", "future", 5), status_code::conflict);
  CHECK_CODE(f.s.put_value("absent", "t", "x", 1), status_code::conflict);
  CHECK(value_of(f.s.get_value("k"))->payload == "one");
  CHECK_FALSE(value_of(f.s.get_value("absent")).has_value());
}

CONFORMANCE_TEST(value, version_increments) {
  for (int64_t version = 0; version < 5; ++version)
    CHECK(value_of(f.s.put_value("k", "t", "v" + std::to_string(version), version)) == version + 1);
  auto v = value_of(f.s.get_value("k"));
  REQUIRE(v.has_value());
  CHECK(v->version == 5);
  CHECK(v->payload == "v4");
}

CONFORMANCE_TEST(value, delete_with_right_version) {
  REQUIRE_OK(f.s.put_value("k", "t", "a", 0));
  REQUIRE_OK(f.s.put_value("k", "t", "b", 1));
  CHECK_CODE(f.s.delete_value("k", 1), status_code::conflict);
  CHECK(value_of(f.s.get_value("k")).has_value());
  REQUIRE_OK(f.s.delete_value("k", 2));
  CHECK_FALSE(value_of(f.s.get_value("k")).has_value());
  // Deleted means absent: the next put starts again from 0.
  CHECK(value_of(f.s.put_value("k", "t", "c", 0)) == 1);
}

CONFORMANCE_TEST(value, delete_absent_with_zero_is_ok) {
  REQUIRE_OK(f.s.delete_value("k", 0));
  CHECK_CODE(f.s.delete_value("k", 1), status_code::conflict);
}

// -- The whole store
// ---------------------------------------------------------------------------------------------------

CONFORMANCE_TEST(store, name_and_ping) {
  CHECK_FALSE(f.s->name().empty());
  REQUIRE_OK(f.s.ping());
}

CONFORMANCE_TEST(store, callbacks_per_pid_in_issue_order) {
  std::mutex mtx;
  std::vector<int> order;
  std::vector<std::string> failures;
  auto record = [&](int n, bool ok_expected) {
    return [&, n, ok_expected](const status& st) {
      std::lock_guard guard{mtx};
      order.push_back(n);
      if (st.ok() != ok_expected)
        failures.push_back(std::to_string(n) + ": " + st.to_string());
    };
  };
  // Reads and writes of one persistence id interleaved, with another id's traffic in between. Each read checks that it
  // saw exactly the writes issued before it.
  waiter<bool> all_done;
  auto* s = f.s.operator->();
  s->append("p", {ev(1)}, unfenced, record(0, true));
  s->highest_seq("p", [&, r = record(1, true)](result<int64_t> h) {
    r(h.ok() && h.value() == 1 ? status{} : status{status_code::data_loss, "highest should be 1"});
  });
  s->append("q", {ev(1)}, unfenced, [](status) {});
  s->append("p", {ev(2)}, unfenced, record(2, true));
  s->append("p", {ev(3)}, unfenced, record(3, true));
  s->replay("p", 1, max_seq, no_limit, [&, r = record(4, true)](result<std::vector<event>> e) {
    r(e.ok() && e.value().size() == 3 ? status{} : status{status_code::data_loss, "replay should see 3 events"});
  });
  s->save_snapshot("p", snap(3), unfenced, record(5, true));
  s->load_snapshot("p", [&, r = record(6, true)](result<std::optional<snapshot>> l) {
    r(l.ok() && l.value() && l.value()->seq == 3 ? status{} : status{status_code::data_loss, "snapshot 3 expected"});
  });
  s->append("p", {ev(3)}, unfenced, record(7, false));
  s->delete_up_to("p", 2, record(8, true));
  s->replay("p", 1, max_seq, no_limit, [&, r = record(9, true)](result<std::vector<event>> e) {
    r(e.ok() && e.value().size() == 1 ? status{} : status{status_code::data_loss, "replay should see 1 event"});
  });
  s->append("p", {ev(4)}, unfenced, record(10, true));
  s->highest_seq("p", [&, r = record(11, true), done = all_done.cb()](result<int64_t> h) {
    r(h.ok() && h.value() == 4 ? status{} : status{status_code::data_loss, "highest should be 4"});
    done(true);
  });
  CHECK(all_done.get());
  std::lock_guard guard{mtx};
  CHECK(order == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  for (const auto& failure : failures)
    FAIL_CHECK(failure);
}

CONFORMANCE_TEST(store, value_callbacks_in_issue_order) {
  std::mutex mtx;
  std::vector<int> order;
  auto push = [&](int n) {
    std::lock_guard guard{mtx};
    order.push_back(n);
  };
  waiter<bool> all_done;
  auto* s = f.s.operator->();
  s->put_value("k", "t", "a", 0, unfenced, [&](result<int64_t> v) { push(v.ok() && v.value() == 1 ? 0 : -1); });
  s->get_value("k", [&](result<std::optional<stored_value>> v) { push(v.ok() && v.value() ? 1 : -1); });
  s->put_value("k", "t", "b", 1, unfenced, [&](result<int64_t> v) { push(v.ok() && v.value() == 2 ? 2 : -1); });
  s->delete_value("k", 2, unfenced, [&](status st) { push(st.ok() ? 3 : -1); });
  s->get_value("k", [&, done = all_done.cb()](result<std::optional<stored_value>> v) {
    push(v.ok() && !v.value() ? 4 : -1);
    done(true);
  });
  CHECK(all_done.get());
  std::lock_guard guard{mtx};
  CHECK(order == std::vector<int>{0, 1, 2, 3, 4});
}

CONFORMANCE_TEST(store, callbacks_never_on_caller_thread) {
  auto caller = std::this_thread::get_id();
  waiter<std::thread::id> w1;
  waiter<std::thread::id> w2;
  waiter<std::thread::id> w3;
  waiter<std::thread::id> w4;
  f.s->append("p", {ev(1)}, unfenced, [cb = w1.cb()](status) { cb(std::this_thread::get_id()); });
  f.s->highest_seq("p", [cb = w2.cb()](result<int64_t>) { cb(std::this_thread::get_id()); });
  f.s->append("p", {}, unfenced, [cb = w3.cb()](status) { cb(std::this_thread::get_id()); });
  f.s->ping([cb = w4.cb()](status) { cb(std::this_thread::get_id()); });
  CHECK(w1.get() != caller);
  CHECK(w2.get() != caller);
  CHECK(w3.get() != caller);
  CHECK(w4.get() != caller);
}

CONFORMANCE_TEST(store, close_waits_for_accepted_operations) {
  constexpr int n = 200;
  std::vector<waiter<status>> appends(n);
  for (int i = 0; i < n; ++i)
    f.s->append("p", {ev(i + 1)}, unfenced, appends[i].cb());
  waiter<result<std::vector<event>>> replay;
  f.s->replay("p", 1, max_seq, no_limit, replay.cb());
  f.s->close();
  for (auto& w : appends) {
    REQUIRE(w.ready());
    CHECK_OK(w.get());
  }
  REQUIRE(replay.ready());
  CHECK(value_of(replay.get()).size() == n);
}

CONFORMANCE_TEST(store, operations_after_close_are_unavailable) {
  REQUIRE_OK(f.s.append("p", {ev(1)}));
  f.s->close();
  f.s->close();  // idempotent
  auto caller = std::this_thread::get_id();
  waiter<std::thread::id> thread;
  f.s->append("p", {ev(2)}, unfenced, [cb = thread.cb()](status st) {
    CHECK_CODE(st, status_code::unavailable);
    cb(std::this_thread::get_id());
  });
  CHECK(thread.get() != caller);
  CHECK_CODE(f.s.append("p", {ev(2)}), status_code::unavailable);
  CHECK_CODE(f.s.replay("p"), status_code::unavailable);
  CHECK_CODE(f.s.highest("p"), status_code::unavailable);
  CHECK_CODE(f.s.delete_up_to("p", 1), status_code::unavailable);
  CHECK_CODE(f.s.save_snapshot("p", snap(1)), status_code::unavailable);
  CHECK_CODE(f.s.load_snapshot("p"), status_code::unavailable);
  CHECK_CODE(f.s.delete_snapshots("p", 1), status_code::unavailable);
  CHECK_CODE(f.s.get_value("k"), status_code::unavailable);
  CHECK_CODE(f.s.put_value("k", "t", "v", 0), status_code::unavailable);
  CHECK_CODE(f.s.delete_value("k", 0), status_code::unavailable);
  CHECK_CODE(f.s.ping(), status_code::unavailable);
}

DURABLE_CONFORMANCE_TEST(store, data_survives_reopen) {
  REQUIRE_OK(f.s.append("p", evs(1, 5)));
  REQUIRE_OK(f.s.delete_up_to("p", 5));
  REQUIRE_OK(f.s.append("q", evs(1, 3)));
  REQUIRE_OK(f.s.save_snapshot("q", snap(3)));
  REQUIRE_OK(f.s.put_value("k", "t", std::string{"\0v", 2}, 0));
  f.s.reset(f.env->open());
  CHECK(value_of(f.s.highest("p")) == 5);
  CHECK(value_of(f.s.replay("p")).empty());
  CHECK(value_of(f.s.replay("q")) == evs(1, 3));
  CHECK(value_of(f.s.load_snapshot("q")) == std::optional<snapshot>{snap(3)});
  CHECK(value_of(f.s.get_value("k")) == std::optional<stored_value>{stored_value{"t", std::string{"\0v", 2}, 1}});
  // The fences hold across the reopen too.
  CHECK_CODE(f.s.append("p", {ev(1)}), status_code::conflict);
  REQUIRE_OK(f.s.append("p", {ev(6)}));
  CHECK_CODE(f.s.put_value("k", "t", "x", 0), status_code::conflict);
  CHECK(value_of(f.s.put_value("k", "t", "x", 1)) == 2);
}

CONFORMANCE_TEST(value, racing_puts_one_wins) {
  for (int round = 0; round < 10; ++round) {
    auto key = "k" + std::to_string(round);
    // Two creations, then two updates of version 1, then a delete racing an update of version 2.
    for (int64_t expected : {0, 1}) {
      waiter<result<int64_t>> wa;
      waiter<result<int64_t>> wb;
      race([&] { f.s->put_value(key, "t", "a", expected, unfenced, wa.cb()); },
           [&] { f.s->put_value(key, "t", "b", expected, unfenced, wb.cb()); });
      auto ra = wa.get();
      auto rb = wb.get();
      REQUIRE_MESSAGE(ra.ok() != rb.ok(), "round " << round << ", expected " << expected);
      CHECK_CODE((ra.ok() ? rb : ra), status_code::conflict);
      CHECK((ra.ok() ? ra : rb).value() == expected + 1);
      auto stored = value_of(f.s.get_value(key));
      REQUIRE(stored.has_value());
      CHECK(*stored == stored_value{"t", ra.ok() ? "a" : "b", expected + 1});
    }
    waiter<status> deleted;
    waiter<result<int64_t>> updated;
    race([&] { f.s->delete_value(key, 2, unfenced, deleted.cb()); },
         [&] { f.s->put_value(key, "t", "c", 2, unfenced, updated.cb()); });
    auto sd = deleted.get();
    auto ru = updated.get();
    REQUIRE(sd.ok() != ru.ok());
    CHECK_CODE((sd.ok() ? status_of(ru) : sd), status_code::conflict);
    auto stored = value_of(f.s.get_value(key));
    if (sd.ok())
      CHECK_FALSE(stored.has_value());
    else
      CHECK(stored == std::optional<stored_value>{stored_value{"t", "c", 3}});
  }
}

DURABLE_CONFORMANCE_TEST(store, second_store_on_same_data_is_fenced) {
  // Two stores on the same data, as two nodes that both believe they own an entity: every race has exactly one
  // winner, and the loser writes nothing.
  sync_store other{f.env->open()};
  int64_t base = 0;
  for (int round = 0; round < 10; ++round) {
    std::vector<event> a{ev(base + 1, "a"), ev(base + 2, "a")};
    std::vector<event> b{ev(base + 1, "b"), ev(base + 2, "b"), ev(base + 3, "b")};
    waiter<status> wa;
    waiter<status> wb;
    waiter<result<int64_t>> va;
    waiter<result<int64_t>> vb;
    race(
        [&] {
          f.s->append("p", a, unfenced, wa.cb());
          f.s->put_value("k", "t", "a", round, unfenced, va.cb());
        },
        [&] {
          other->append("p", b, unfenced, wb.cb());
          other->put_value("k", "t", "b", round, unfenced, vb.cb());
        });
    auto sa = wa.get();
    auto sb = wb.get();
    REQUIRE_MESSAGE(sa.ok() != sb.ok(), "round " << round << ": " << sa.to_string() << " / " << sb.to_string());
    CHECK_CODE((sa.ok() ? sb : sa), status_code::conflict);
    const auto& winner = sa.ok() ? a : b;
    // Both stores see the winner's events and nothing of the loser's.
    CHECK(value_of(f.s.replay("p", base + 1)) == winner);
    CHECK(value_of(other.replay("p", base + 1)) == winner);
    base = winner.back().seq;
    CHECK(value_of(other.highest("p")) == base);
    auto ra = va.get();
    auto rb = vb.get();
    REQUIRE_MESSAGE(ra.ok() != rb.ok(), "round " << round << ": " << status_of(ra) << " / " << status_of(rb));
    CHECK_CODE((ra.ok() ? rb : ra), status_code::conflict);
    CHECK(value_of(other.get_value("k")) ==
          std::optional<stored_value>{stored_value{"t", ra.ok() ? "a" : "b", round + 1}});
  }
  // A stale writer stays fenced out.
  CHECK_CODE(other.append("p", {ev(base)}), status_code::conflict);
  CHECK_CODE(f.s.put_value("k", "t", "stale", 0), status_code::conflict);
}
