// faulty_store: injected failures, held write completions and garbled snapshots, over the memory plugin.
#include <chrono>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "actorstate/persistence/fault_injection.hpp"

#include "test_support.hpp"

using namespace actorstate;
using namespace actorstate::persistence;
using namespace actorstate::persistence::testing;

namespace {

struct faulty_fixture {
  faulty_fixture() {
    auto inner = open_store("memory");
    REQUIRE(inner.ok());
    faulty = std::make_shared<faulty_store>(inner.value());
    s.reset(faulty);
  }

  // Bypasses the decorator, to see what really reached the inner store.
  int64_t inner_highest(const std::string& pid) {
    waiter<result<int64_t>> w;
    faulty->inner()->highest_seq(pid, w.cb());
    return value_of(w.get());
  }

  std::shared_ptr<faulty_store> faulty;
  sync_store s{nullptr};
};

}  // namespace

TEST_CASE("faulty.fail_writes_counted") {
  faulty_fixture f;
  f.faulty->fail_writes(status_code::unavailable, 2);
  CHECK_CODE(f.s.append("p", {ev(1)}), status_code::unavailable);
  CHECK_CODE(f.s.put_value("k", "t", "v", 0), status_code::unavailable);
  // The failed writes never reached the inner store; reads are unaffected.
  CHECK(value_of(f.s.highest("p")) == 0);
  CHECK_FALSE(value_of(f.s.get_value("k")).has_value());
  REQUIRE_OK(f.s.append("p", {ev(1)}));
  CHECK(value_of(f.s.highest("p")) == 1);
}

TEST_CASE("faulty.fail_writes_until_cleared") {
  faulty_fixture f;
  f.faulty->fail_writes(status_code::unknown_outcome);
  for (int i = 0; i < 5; ++i)
    CHECK_CODE(f.s.append("p", {ev(1)}), status_code::unknown_outcome);
  CHECK_CODE(f.s.save_snapshot("p", snapshot{1, "t", "s"}), status_code::unknown_outcome);
  CHECK_CODE(f.s.delete_up_to("p", 1), status_code::unknown_outcome);
  CHECK_CODE(f.s.delete_snapshots("p", 1), status_code::unknown_outcome);
  CHECK_CODE(f.s.delete_value("k", 0), status_code::unknown_outcome);
  REQUIRE_OK(f.s.ping());
  f.faulty->clear_faults();
  REQUIRE_OK(f.s.append("p", {ev(1)}));
}

TEST_CASE("faulty.fail_reads") {
  faulty_fixture f;
  REQUIRE_OK(f.s.append("p", evs(1, 3)));
  f.faulty->fail_reads(status_code::data_loss, 5);
  CHECK_CODE(f.s.replay("p"), status_code::data_loss);
  CHECK_CODE(f.s.highest("p"), status_code::data_loss);
  CHECK_CODE(f.s.load_snapshot("p"), status_code::data_loss);
  CHECK_CODE(f.s.get_value("k"), status_code::data_loss);
  // Writes are unaffected and do not use up the count.
  REQUIRE_OK(f.s.append("p", {ev(4)}));
  CHECK_CODE(f.s.ping(), status_code::data_loss);
  CHECK(value_of(f.s.replay("p")) == evs(1, 4));
  f.faulty->fail_reads(status_code::unavailable);
  CHECK_CODE(f.s.ping(), status_code::unavailable);
  f.faulty->clear_faults();
  REQUIRE_OK(f.s.ping());
}

TEST_CASE("faulty.hold_writes_delays_callbacks_not_writes") {
  faulty_fixture f;
  f.faulty->hold_writes();
  waiter<status> first;
  waiter<status> second;
  f.s->append("p", {ev(1)}, unfenced, first.cb());
  f.s->append("p", {ev(2)}, unfenced, second.cb());
  REQUIRE(eventually([&] { return f.faulty->held_writes() == 2; }));
  // The inner store has done the writes; only the replies wait.
  CHECK(f.inner_highest("p") == 2);
  CHECK_FALSE(first.ready());
  CHECK_FALSE(second.ready());
  // Another persistence id is not held up by reads.
  CHECK(value_of(f.s.highest("other")) == 0);
  f.faulty->release_writes();
  CHECK_OK(first.get());
  CHECK_OK(second.get());
  CHECK(f.faulty->held_writes() == 0);
  // No longer holding.
  REQUIRE_OK(f.s.append("p", {ev(3)}));
}

TEST_CASE("faulty.hold_keeps_per_pid_order") {
  faulty_fixture f;
  f.faulty->hold_writes();
  std::mutex mtx;
  std::vector<int> order;
  auto push = [&](int n) {
    std::lock_guard guard{mtx};
    order.push_back(n);
  };
  waiter<bool> read_done;
  f.s->append("p", {ev(1)}, unfenced, [&](status) { push(1); });
  f.s->highest_seq("p", [&, done = read_done.cb()](result<int64_t>) {
    push(2);
    done(true);
  });
  REQUIRE(eventually([&] { return f.faulty->held_writes() == 1; }));
  // An injected failure on the same id also waits behind the held write.
  f.faulty->fail_writes(status_code::unavailable, 1);
  waiter<status> injected;
  f.s->append("p", {ev(2)}, unfenced, injected.cb());
  CHECK_FALSE(read_done.ready());
  CHECK_FALSE(injected.ready());
  f.faulty->release_writes();
  CHECK(read_done.get());
  CHECK_CODE(injected.get(), status_code::unavailable);
  std::lock_guard guard{mtx};
  CHECK(order == std::vector<int>{1, 2});
}

TEST_CASE("faulty.corrupt_snapshots") {
  faulty_fixture f;
  REQUIRE_OK(f.s.save_snapshot("p", snapshot{3, "t", "good state"}));
  f.faulty->corrupt_snapshots(true);
  auto bad = value_of(f.s.load_snapshot("p"));
  REQUIRE(bad.has_value());
  CHECK(bad->seq == 3);
  CHECK(bad->type == "t");
  CHECK(bad->payload != "good state");
  CHECK(bad->payload.size() >= 16);
  CHECK_FALSE(value_of(f.s.load_snapshot("none")).has_value());
  f.faulty->corrupt_snapshots(false);
  CHECK(value_of(f.s.load_snapshot("p"))->payload == "good state");
}

TEST_CASE("faulty.hold_reads_delays_read_callbacks_and_keeps_writes_going") {
  faulty_fixture f;
  REQUIRE_OK(f.s.append("p", {ev(1)}));
  f.faulty->hold_reads();
  waiter<result<std::optional<snapshot>>> loaded;
  waiter<result<int64_t>> highest;
  f.s->load_snapshot("p", loaded.cb());
  f.s->highest_seq("p", highest.cb());
  REQUIRE(eventually([&] { return f.faulty->held_reads() == 2; }));
  CHECK_FALSE(loaded.ready());
  CHECK_FALSE(highest.ready());
  // Another persistence id's writes are not held, nor are injected read failures.
  REQUIRE_OK(f.s.append("other", {ev(1)}));
  f.faulty->fail_reads(status_code::unavailable, 1);
  CHECK_CODE(f.s.highest("other"), status_code::unavailable);
  // release_writes() leaves reads held.
  f.faulty->release_writes();
  CHECK_FALSE(loaded.ready());
  f.faulty->release_reads();
  CHECK_FALSE(value_of(loaded.get()).has_value());
  CHECK(value_of(highest.get()) == 1);
  CHECK(f.faulty->held_reads() == 0);
  CHECK(value_of(f.s.highest("p")) == 1);  // no longer holding
}

TEST_CASE("faulty.close_releases_held_writes") {
  faulty_fixture f;
  f.faulty->hold_writes();
  waiter<status> held;
  f.s->append("p", {ev(1)}, unfenced, held.cb());
  REQUIRE(eventually([&] { return f.faulty->held_writes() == 1; }));
  f.faulty->close();
  REQUIRE(held.ready());
  CHECK_OK(held.get());
  CHECK_CODE(f.s.ping(), status_code::unavailable);
}

TEST_CASE("faulty.callbacks_run_on_its_worker") {
  faulty_fixture f;
  f.faulty->fail_writes(status_code::unavailable, 1);
  waiter<std::thread::id> injected;
  waiter<std::thread::id> forwarded;
  f.s->append("p", {ev(1)}, unfenced, [cb = injected.cb()](status) { cb(std::this_thread::get_id()); });
  f.s->append("p", {ev(1)}, unfenced, [cb = forwarded.cb()](status) { cb(std::this_thread::get_id()); });
  auto a = injected.get();
  auto b = forwarded.get();
  CHECK(a != std::this_thread::get_id());
  CHECK(a == b);
}

namespace {

// The callback owns the last reference once the test lets go, so the store is destroyed on its own worker thread.
void release_in_own_callback(bool decorated) {
  auto s = open_store_or_fail("memory");
  if (decorated)
    s = std::make_shared<faulty_store>(s);
  check_released_in_own_callback(std::move(s));
}

}  // namespace

TEST_CASE("memory.released_in_own_callback") {
  release_in_own_callback(false);
}

TEST_CASE("faulty.released_in_own_callback") {
  release_in_own_callback(true);
}
