// The journal contract, adapted from Akka's JournalSpec.
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "conformance.hpp"

using namespace actorstate;
using namespace actorstate::persistence;
using namespace actorstate::persistence::testing;

namespace {

// Five events 1..5 on "p", as most JournalSpec cases start.
void seed(fixture& f) {
  REQUIRE_OK(f.s.append("p", evs(1, 5)));
}

}  // namespace

CONFORMANCE_TEST(journal, replay_all) {
  seed(f);
  auto events = value_of(f.s.replay("p"));
  CHECK(seqs(events) == std::vector<int64_t>{1, 2, 3, 4, 5});
  CHECK(events == evs(1, 5));
}

CONFORMANCE_TEST(journal, replay_lower_bound) {
  seed(f);
  CHECK(seqs(value_of(f.s.replay("p", 3))) == std::vector<int64_t>{3, 4, 5});
}

CONFORMANCE_TEST(journal, replay_upper_bound) {
  seed(f);
  CHECK(seqs(value_of(f.s.replay("p", 1, 3))) == std::vector<int64_t>{1, 2, 3});
}

CONFORMANCE_TEST(journal, replay_count_limit) {
  seed(f);
  CHECK(seqs(value_of(f.s.replay("p", 2, max_seq, 2))) == std::vector<int64_t>{2, 3});
  CHECK(seqs(value_of(f.s.replay("p", 2, 4, 7))) == std::vector<int64_t>{2, 3, 4});
}

CONFORMANCE_TEST(journal, replay_single_when_lower_equals_upper) {
  seed(f);
  CHECK(seqs(value_of(f.s.replay("p", 3, 3))) == std::vector<int64_t>{3});
}

CONFORMANCE_TEST(journal, replay_max_zero_returns_nothing) {
  seed(f);
  CHECK(value_of(f.s.replay("p", 1, max_seq, 0)).empty());
}

CONFORMANCE_TEST(journal, replay_lower_above_upper_returns_nothing) {
  seed(f);
  CHECK(value_of(f.s.replay("p", 3, 2)).empty());
}

CONFORMANCE_TEST(journal, unknown_pid_is_empty) {
  seed(f);
  CHECK(value_of(f.s.highest("unknown")) == 0);
  CHECK(value_of(f.s.replay("unknown")).empty());
}

CONFORMANCE_TEST(journal, deleted_events_not_replayed) {
  seed(f);
  REQUIRE_OK(f.s.delete_up_to("p", 3));
  CHECK(seqs(value_of(f.s.replay("p"))) == std::vector<int64_t>{4, 5});
  CHECK(value_of(f.s.replay("p", 1, 3)).empty());
}

CONFORMANCE_TEST(journal, highest_not_reset_by_delete) {
  seed(f);
  REQUIRE_OK(f.s.delete_up_to("p", 3));
  CHECK(value_of(f.s.highest("p")) == 5);
}

CONFORMANCE_TEST(journal, highest_not_reset_by_deleting_everything) {
  seed(f);
  REQUIRE_OK(f.s.delete_up_to("p", 5));
  CHECK(value_of(f.s.highest("p")) == 5);
  CHECK(value_of(f.s.replay("p")).empty());
  // The fence still counts from the deleted events.
  CHECK_CODE(f.s.append("p", {ev(1)}), status_code::conflict);
  REQUIRE_OK(f.s.append("p", {ev(6)}));
  CHECK(seqs(value_of(f.s.replay("p"))) == std::vector<int64_t>{6});
}

CONFORMANCE_TEST(journal, delete_beyond_highest_is_clamped) {
  seed(f);
  REQUIRE_OK(f.s.delete_up_to("p", 1000));
  CHECK(value_of(f.s.highest("p")) == 5);
  CHECK_CODE(f.s.append("p", {ev(1001)}), status_code::conflict);
  REQUIRE_OK(f.s.append("p", {ev(6)}));
}

CONFORMANCE_TEST(journal, delete_unknown_pid_is_harmless) {
  REQUIRE_OK(f.s.delete_up_to("ghost", 10));
  CHECK(value_of(f.s.highest("ghost")) == 0);
  REQUIRE_OK(f.s.append("ghost", {ev(1)}));
}

CONFORMANCE_TEST(journal, rejected_append_among_concurrent_appends) {
  seed(f);
  constexpr int threads = 5;
  constexpr int per_thread = 10;
  std::vector<waiter<status>> good(threads * per_thread);
  waiter<status> bad;
  std::latch start{threads};
  std::vector<std::thread> issuers;
  for (int t = 0; t < threads; ++t)
    issuers.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < per_thread; ++i) {
        auto n = t * per_thread + i;
        f.s->append("pid-" + std::to_string(n), {ev(1), ev(2)}, unfenced, good[n].cb());
        if (t == threads / 2 && i == per_thread / 2)
          f.s->append("p", {ev(3)}, unfenced, bad.cb());  // "p" is at 5: a stale writer
      }
    });
  for (auto& t : issuers)
    t.join();
  for (auto& w : good)
    CHECK_OK(w.get());
  CHECK_CODE(bad.get(), status_code::conflict);
  for (int n = 0; n < threads * per_thread; ++n)
    CHECK(value_of(f.s.highest("pid-" + std::to_string(n))) == 2);
  CHECK(value_of(f.s.replay("p")) == evs(1, 5));
}

CONFORMANCE_TEST(journal, multi_event_append_is_all_or_nothing) {
  REQUIRE_OK(f.s.append("p", evs(1, 2)));
  // The third event collides with the stored seq 2.
  CHECK_CODE(f.s.append("p", {ev(3), ev(4), ev(2)}), status_code::conflict);
  // The third event leaves a gap.
  CHECK_CODE(f.s.append("p", {ev(3), ev(4), ev(6)}), status_code::conflict);
  CHECK(value_of(f.s.highest("p")) == 2);
  CHECK(value_of(f.s.replay("p")) == evs(1, 2));
  REQUIRE_OK(f.s.append("p", evs(3, 5)));
  CHECK(value_of(f.s.replay("p")) == evs(1, 5));
}

CONFORMANCE_TEST(journal, binary_fields_round_trip) {
  std::string all_bytes;
  for (int b = 0; b < 256; ++b)
    all_bytes += static_cast<char>(b);
  std::string pid = "pid with spaces/\xc3\xbc/\x01";
  std::vector<event> events{
      {1, "type.googleapis.com/acme.Event", all_bytes, std::string{"\0meta\0", 6}},
      {2, "", "", ""},
      {3, "t", std::string(200000, '\0'), all_bytes},
  };
  REQUIRE_OK(f.s.append(pid, events));
  auto back = value_of(f.s.replay(pid));
  REQUIRE(back.size() == 3);
  for (size_t i = 0; i < back.size(); ++i) {
    CHECK(back[i] == events[i]);
  }
}

CONFORMANCE_TEST(journal, second_writer_conflicts) {
  waiter<status> first;
  waiter<status> second;
  race([&] { f.s->append("p", {ev(1, "from a")}, unfenced, first.cb()); },
       [&] { f.s->append("p", {ev(1, "from b")}, unfenced, second.cb()); });
  auto sa = first.get();
  auto sb = second.get();
  CHECK(sa.ok() != sb.ok());
  CHECK_CODE((sa.ok() ? sb : sa), status_code::conflict);
  auto events = value_of(f.s.replay("p"));
  REQUIRE(events.size() == 1);
  CHECK(events[0].payload == (sa.ok() ? "from a" : "from b"));
}

CONFORMANCE_TEST(journal, gap_conflicts) {
  seed(f);
  auto st = f.s.append("p", {ev(7)});
  CHECK_CODE(st, status_code::conflict);
  // The message names the persistence id and the expected sequence number.
  CHECK(st.message().find("'p'") != std::string::npos);
  CHECK(st.message().find('6') != std::string::npos);
  CHECK(value_of(f.s.highest("p")) == 5);
}

CONFORMANCE_TEST(journal, stale_writer_conflicts) {
  seed(f);
  CHECK_CODE(f.s.append("p", {ev(5)}), status_code::conflict);
  CHECK_CODE(f.s.append("p", {ev(1)}), status_code::conflict);
  CHECK(value_of(f.s.replay("p")) == evs(1, 5));
}

CONFORMANCE_TEST(journal, empty_batch_is_invalid) {
  seed(f);
  CHECK_CODE(f.s.append("p", {}), status_code::invalid_argument);
  CHECK(value_of(f.s.highest("p")) == 5);
}

CONFORMANCE_TEST(journal, non_consecutive_batch_rejected) {
  seed(f);
  auto st = f.s.append("p", {ev(6), ev(8)});
  CHECK((st.code() == status_code::conflict || st.code() == status_code::invalid_argument));
  CHECK_CODE(f.s.append("p", {ev(6), ev(6)}), status_code::conflict);
  CHECK(value_of(f.s.highest("p")) == 5);
  CHECK(value_of(f.s.replay("p")) == evs(1, 5));
}

CONFORMANCE_TEST(journal, journals_are_independent) {
  REQUIRE_OK(f.s.append("a", evs(1, 3)));
  REQUIRE_OK(f.s.append("b", evs(1, 2)));
  REQUIRE_OK(f.s.delete_up_to("a", 3));
  CHECK(value_of(f.s.replay("b")) == evs(1, 2));
  CHECK(value_of(f.s.highest("a")) == 3);
  CHECK(value_of(f.s.highest("b")) == 2);
}

CONFORMANCE_TEST(journal, racing_batches_one_wins_whole) {
  // Two writers that both believe the journal is at `base` race with batches of different lengths, so the longer
  // batch's tail overlaps nothing of the shorter one: the loser must still store none of its events.
  int64_t base = 0;
  for (int round = 0; round < 10; ++round) {
    auto a = evs(base + 1, base + 2);
    auto b = evs(base + 1, base + 4);
    for (auto& e : a)
      e.payload = "a" + std::to_string(e.seq);
    for (auto& e : b)
      e.payload = "b" + std::to_string(e.seq);
    waiter<status> wa;
    waiter<status> wb;
    race([&] { f.s->append("p", a, unfenced, wa.cb()); }, [&] { f.s->append("p", b, unfenced, wb.cb()); });
    auto sa = wa.get();
    auto sb = wb.get();
    REQUIRE_MESSAGE(sa.ok() != sb.ok(), "round " << round << ": " << sa.to_string() << " / " << sb.to_string());
    CHECK_CODE((sa.ok() ? sb : sa), status_code::conflict);
    const auto& winner = sa.ok() ? a : b;
    CHECK(value_of(f.s.replay("p", base + 1)) == winner);
    base = winner.back().seq;
    CHECK(value_of(f.s.highest("p")) == base);
  }
}

// A store may remember the highest sequence number it wrote itself instead of reading it before every append (the
// SQLite plugin does). Another store on the same data, as a second node or a stale owner, must still be fenced.

DURABLE_CONFORMANCE_TEST(journal, stale_store_on_same_data_conflicts) {
  sync_store other{f.env->open()};
  REQUIRE_OK(f.s.append("p", evs(1, 2)));
  REQUIRE_OK(other.append("p", {ev(3, "other")}));
  // f.s last wrote 2 and has seen nothing since.
  CHECK_CODE(f.s.append("p", {ev(3, "stale")}), status_code::conflict);
  CHECK_CODE(f.s.append("p", {ev(3, "stale"), ev(4, "stale")}), status_code::conflict);
  // It recovers by reading, and may then append after what it read.
  REQUIRE(value_of(f.s.highest("p")) == 3);
  CHECK(value_of(f.s.replay("p", 3)) == std::vector<event>{ev(3, "other")});
  REQUIRE_OK(f.s.append("p", {ev(4)}));
  CHECK(value_of(other.replay("p")) == std::vector<event>{ev(1), ev(2), ev(3, "other"), ev(4)});
}

DURABLE_CONFORMANCE_TEST(journal, stale_store_conflicts_after_other_deleted) {
  // The other store appends past what f.s wrote and deletes all of it, so no stored event collides with a stale
  // append: the fence must hold all the same.
  sync_store other{f.env->open()};
  REQUIRE_OK(f.s.append("p", evs(1, 2)));
  REQUIRE_OK(other.append("p", evs(3, 4)));
  REQUIRE_OK(other.delete_up_to("p", 4));
  CHECK_CODE(f.s.append("p", {ev(3, "stale")}), status_code::conflict);
  REQUIRE(value_of(f.s.highest("p")) == 4);
  CHECK(value_of(f.s.replay("p")).empty());
  REQUIRE_OK(f.s.append("p", {ev(5)}));
  CHECK(value_of(other.replay("p")) == evs(5, 5));
}

DURABLE_CONFORMANCE_TEST(journal, append_after_reading_other_stores_events) {
  // A writer that re-read after another store's appends (without a refused append of its own in between) is right.
  sync_store other{f.env->open()};
  REQUIRE_OK(f.s.append("p", evs(1, 2)));
  REQUIRE_OK(other.append("p", evs(3, 4)));
  REQUIRE(value_of(f.s.highest("p")) == 4);
  REQUIRE_OK(f.s.append("p", evs(5, 6)));
  CHECK(value_of(other.replay("p")) == evs(1, 6));
}
