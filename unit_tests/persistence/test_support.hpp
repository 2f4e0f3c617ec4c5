// Helpers shared by the persistence test binaries: unique temporary directories, bounded waits for callbacks and
// conditions, racing threads, and a blocking facade over the asynchronous store API so that test bodies read top to
// bottom.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <latch>
#include <limits>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <stdlib.h>

#include "actorstate/persistence/coordination.hpp"
#include "actorstate/persistence/store.hpp"

namespace actorstate::persistence {}  // namespace actorstate::persistence

namespace actorstate {

// Lets doctest print codes and statuses in failed checks (found by argument-dependent lookup).
inline std::ostream& operator<<(std::ostream& out, status_code c) {
  return out << to_string(c);
}

inline std::ostream& operator<<(std::ostream& out, const status& st) {
  return out << st.to_string();
}

}  // namespace actorstate

namespace actorstate::persistence {

inline std::ostream& operator<<(std::ostream& out, const event& e) {
  return out << "event{" << e.seq << ", " << e.type << ", " << e.payload.size() << " bytes, " << e.metadata.size()
             << " bytes}";
}

}  // namespace actorstate::persistence

namespace actorstate::persistence::testing {

/// Every wait in these tests is bounded by this.
inline constexpr std::chrono::seconds timeout{10};

inline const status& status_of(const status& st) {
  return st;
}

template <class T>
const status& status_of(const result<T>& r) {
  return r.error();
}

// The macros bind the expression first: status_of() returns a reference into it.

/// Fails the test (with the store's message) unless the status or result is ok.
#define REQUIRE_OK(expr)                                                                       \
  do {                                                                                         \
    const auto& actorstate_r_ = (expr);                                                        \
    const auto& actorstate_st_ = ::actorstate::persistence::testing::status_of(actorstate_r_); \
    REQUIRE_MESSAGE(actorstate_st_.ok(), actorstate_st_.to_string());                          \
  } while (false)

#define CHECK_OK(expr)                                                                         \
  do {                                                                                         \
    const auto& actorstate_r_ = (expr);                                                        \
    const auto& actorstate_st_ = ::actorstate::persistence::testing::status_of(actorstate_r_); \
    CHECK_MESSAGE(actorstate_st_.ok(), actorstate_st_.to_string());                            \
  } while (false)

/// Checks that a status or result failed with the given code.
#define CHECK_CODE(expr, expected_code)                                                        \
  do {                                                                                         \
    const auto& actorstate_r_ = (expr);                                                        \
    const auto& actorstate_st_ = ::actorstate::persistence::testing::status_of(actorstate_r_); \
    CHECK_MESSAGE(actorstate_st_.code() == (expected_code), actorstate_st_.to_string());       \
  } while (false)

/// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction; unique per process, so
/// `ctest -j` can run tests side by side.
class temp_dir {
public:
  temp_dir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern =
        std::string{base != nullptr && *base != '\0' ? base : "/tmp"} + "/actorstate-persistence-XXXXXX";
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    if (::mkdtemp(buffer.data()) == nullptr)
      FAIL("mkdtemp failed for " << pattern);
    path_ = buffer.data();
  }

  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }

  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

private:
  std::filesystem::path path_;
};

/// Receives one callback; get() waits for it at most `timeout` and fails the test otherwise. A second invocation of
/// the callback throws std::future_error on the store's thread, which ends the test run loudly.
template <class T>
class waiter {
public:
  waiter() : promise_(std::make_shared<std::promise<T>>()), future_(promise_->get_future()) {}

  callback<T> cb() {
    return [p = promise_](T value) { p->set_value(std::move(value)); };
  }

  bool ready() const { return future_.wait_for(std::chrono::seconds{0}) == std::future_status::ready; }

  T get() {
    if (future_.wait_for(timeout) != std::future_status::ready)
      FAIL("timed out waiting for a store callback");
    return future_.get();
  }

private:
  std::shared_ptr<std::promise<T>> promise_;
  std::future<T> future_;
};

inline event ev(int64_t seq, std::string payload = {}) {
  if (payload.empty())
    payload = "payload-" + std::to_string(seq);
  return event{seq, "test.event", std::move(payload), "meta-" + std::to_string(seq)};
}

/// Events from..to inclusive, as ev() makes them.
inline std::vector<event> evs(int64_t from, int64_t to) {
  std::vector<event> out;
  for (auto seq = from; seq <= to; ++seq)
    out.push_back(ev(seq));
  return out;
}

inline std::vector<int64_t> seqs(const std::vector<event>& events) {
  std::vector<int64_t> out;
  for (const auto& e : events)
    out.push_back(e.seq);
  return out;
}

inline constexpr int64_t max_seq = std::numeric_limits<int64_t>::max();
inline constexpr uint64_t no_limit = std::numeric_limits<uint64_t>::max();

/// A blocking view of a store; closes it on destruction.
class sync_store {
public:
  explicit sync_store(std::shared_ptr<store> s) : s_(std::move(s)) {}
  ~sync_store() {
    if (s_)
      s_->close();
  }

  sync_store(const sync_store&) = delete;
  sync_store& operator=(const sync_store&) = delete;

  store* operator->() const { return s_.get(); }
  const std::shared_ptr<store>& get() const { return s_; }

  /// Closes the current store and continues with `s`.
  void reset(std::shared_ptr<store> s) {
    if (s_)
      s_->close();
    s_ = std::move(s);
  }

  status append(const std::string& pid, std::vector<event> events, write_options options = {}) {
    waiter<status> w;
    s_->append(pid, std::move(events), std::move(options), w.cb());
    return w.get();
  }

  result<std::vector<event>> replay(const std::string& pid, int64_t from = 1, int64_t to = max_seq,
                                    uint64_t max = no_limit) {
    waiter<result<std::vector<event>>> w;
    s_->replay(pid, from, to, max, w.cb());
    return w.get();
  }

  result<int64_t> highest(const std::string& pid) {
    waiter<result<int64_t>> w;
    s_->highest_seq(pid, w.cb());
    return w.get();
  }

  status delete_up_to(const std::string& pid, int64_t to) {
    waiter<status> w;
    s_->delete_up_to(pid, to, w.cb());
    return w.get();
  }

  status save_snapshot(const std::string& pid, snapshot s, std::optional<write_fence> fence = unfenced) {
    waiter<status> w;
    s_->save_snapshot(pid, std::move(s), fence, w.cb());
    return w.get();
  }

  result<std::optional<snapshot>> load_snapshot(const std::string& pid) {
    waiter<result<std::optional<snapshot>>> w;
    s_->load_snapshot(pid, w.cb());
    return w.get();
  }

  status delete_snapshots(const std::string& pid, int64_t to) {
    waiter<status> w;
    s_->delete_snapshots(pid, to, w.cb());
    return w.get();
  }

  result<std::optional<stored_value>> get_value(const std::string& key) {
    waiter<result<std::optional<stored_value>>> w;
    s_->get_value(key, w.cb());
    return w.get();
  }

  result<int64_t> put_value(const std::string& key, std::string type, std::string payload, int64_t expected,
                            write_options options = {}) {
    waiter<result<int64_t>> w;
    s_->put_value(key, std::move(type), std::move(payload), expected, std::move(options), w.cb());
    return w.get();
  }

  status delete_value(const std::string& key, int64_t expected, write_options options = {}) {
    waiter<status> w;
    s_->delete_value(key, expected, std::move(options), w.cb());
    return w.get();
  }

  result<std::optional<std::string>> find_applied(applied_scope scope, const std::string& entity,
                                                  const std::string& key) {
    waiter<result<std::optional<std::string>>> w;
    s_->find_applied(scope, entity, key, w.cb());
    return w.get();
  }

  status ping() {
    waiter<status> w;
    s_->ping(w.cb());
    return w.get();
  }

private:
  std::shared_ptr<store> s_;
};

/// A blocking view of a store's cluster coordination, for one cluster; the store must have one.
class sync_cluster {
public:
  sync_cluster(const sync_store& s, std::string cluster)
      : c_(s->cluster_coordination()), keep_(s.get()), cluster_(std::move(cluster)) {
    REQUIRE(c_ != nullptr);
  }

  coordination* operator->() const { return c_; }
  const std::string& name() const { return cluster_; }

  result<uint32_t> init(uint32_t shards) {
    waiter<result<uint32_t>> w;
    c_->init_cluster(cluster_, shards, w.cb());
    return w.get();
  }

  result<int64_t> join(const std::string& id, const std::string& address = "127.0.0.1:9300") {
    waiter<result<int64_t>> w;
    c_->join(cluster_, id, address, w.cb());
    return w.get();
  }

  status renew(const std::string& id, int64_t incarnation) {
    waiter<status> w;
    c_->renew(cluster_, id, incarnation, w.cb());
    return w.get();
  }

  status leave(const std::string& id, int64_t incarnation) {
    waiter<status> w;
    c_->leave(cluster_, id, incarnation, w.cb());
    return w.get();
  }

  result<bool> confirm_gone(const std::string& id, int64_t incarnation) {
    waiter<result<bool>> w;
    c_->confirm_gone(cluster_, id, incarnation, w.cb());
    return w.get();
  }

  result<std::vector<member_record>> members() {
    waiter<result<std::vector<member_record>>> w;
    c_->members(cluster_, w.cb());
    return w.get();
  }

  result<std::vector<shard_owner>> shard_owners() {
    waiter<result<std::vector<shard_owner>>> w;
    c_->shard_owners(cluster_, w.cb());
    return w.get();
  }

  result<int64_t> claim(uint32_t shard, const std::string& id, int64_t incarnation, int64_t expected_epoch,
                        std::chrono::milliseconds takeover_after = std::chrono::seconds{60}) {
    waiter<result<int64_t>> w;
    c_->claim_shard(cluster_, shard, id, incarnation, expected_epoch, takeover_after, w.cb());
    return w.get();
  }

  result<int64_t> release(uint32_t shard, const std::string& id, int64_t incarnation, int64_t epoch) {
    waiter<result<int64_t>> w;
    c_->release_shard(cluster_, shard, id, incarnation, epoch, w.cb());
    return w.get();
  }

private:
  coordination* c_;
  std::shared_ptr<store> keep_;
  std::string cluster_;
};

/// Unwraps an ok result or fails the test with the store's message.
template <class T>
T value_of(result<T> r) {
  REQUIRE_MESSAGE(r.ok(), r.error().to_string());
  return std::move(r.value());
}

/// The audit trail's sample history (schema v4, both SQL plugins' "fenced_writes_record_their_shard_and_epoch"), on a
/// store opened with cluster "c1": shard 3 of 4 claimed by a (epoch `first`), journal "p" events 1-2 (key k1) and
/// value "v" (key k2) written at it, an unfenced journal "unfenced" (key k3), the shard released and claimed by b
/// (epoch `second`, with the release's epoch between), and event 3 of "p" (key k4) written at that.
struct audit_sample {
  int64_t first = 0;
  int64_t second = 0;

  explicit audit_sample(sync_store& s) {
    sync_cluster c{s, "c1"};
    REQUIRE(value_of(c.init(4)) == 4);
    REQUIRE(value_of(c.join("a")) == 1);
    REQUIRE(value_of(c.join("b")) == 1);
    first = value_of(c.claim(3, "a", 1, 0));
    REQUIRE_OK(s.append("p", evs(1, 2), write_options{write_fence{3, first}, applied_command{"k1", "r1"}}));
    REQUIRE_OK(s.put_value("v", "t", "x", 0, write_options{write_fence{3, first}, applied_command{"k2", "r2"}}));
    REQUIRE_OK(s.append("unfenced", evs(1, 1), write_options{unfenced, applied_command{"k3", "r3"}}));
    second = value_of(c.claim(3, "b", 1, value_of(c.release(3, "a", 1, first))));
    REQUIRE(second > first);
    REQUIRE_OK(s.append("p", {ev(3)}, write_options{write_fence{3, second}, applied_command{"k4", "r4"}}));
  }
};

/// The writes the plugins' group-commit tests queue behind a stalled writer: `n` good two-event appends and, among
/// them, an append the fence rejects and a put with a stale version. Needs journal "seeded" to hold events 1 to 3.
struct mixed_group {
  static constexpr int n = 50;
  std::vector<waiter<status>> good = std::vector<waiter<status>>(n);
  waiter<status> bad;
  waiter<result<int64_t>> stale_value;

  void queue(sync_store& s) {
    for (int i = 0; i < n; ++i) {
      s->append("pid-" + std::to_string(i), evs(1, 2), unfenced, good[static_cast<size_t>(i)].cb());
      if (i == n / 2) {
        s->append("seeded", {ev(2)}, unfenced, bad.cb());
        s->put_value("k", "t", "v", 7, unfenced, stale_value.cb());
      }
    }
  }

  /// Only the two stale writes failed.
  void check_outcomes() {
    for (auto& w : good)
      CHECK_OK(w.get());
    CHECK_CODE(bad.get(), status_code::conflict);
    CHECK_CODE(stale_value.get(), status_code::conflict);
  }

  /// The good writes are stored, the rejected append is not.
  void check_stored(sync_store& s) {
    for (int i = 0; i < n; ++i)
      CHECK(value_of(s.highest("pid-" + std::to_string(i))) == 2);
    CHECK(value_of(s.replay("seeded")) == evs(1, 3));
  }
};

/// The writes the fencing tests queue together (in one group commit where a plugin's test stalls the writer first):
/// `n` one-event appends that must succeed, unfenced or fenced at their shard's current epoch, and among them a write
/// of each kind fenced at an epoch that shard 1 has left, which must be refused and write nothing. Needs a store
/// opened with the cluster of `c`; prepare() sets the cluster up.
struct fenced_group {
  static constexpr int n = 60;
  std::vector<waiter<status>> good = std::vector<waiter<status>>(n);
  waiter<status> stale_append;
  waiter<status> stale_snapshot;
  waiter<result<int64_t>> stale_put;
  waiter<status> stale_delete;
  int64_t epoch0 = 0;  ///< Shard 0's epoch, owned by "a".
  int64_t epoch1 = 0;  ///< Shard 1's epoch, owned by "b".
  int64_t stale = 0;   ///< An epoch shard 1 has left.

  void prepare(sync_store& s, sync_cluster& c) {
    REQUIRE(value_of(c.init(4)) == 4);
    auto a = value_of(c.join("a"));
    auto b = value_of(c.join("b"));
    epoch0 = value_of(c.claim(0, "a", a, 0));
    stale = value_of(c.claim(1, "a", a, 0));
    auto released = value_of(c.release(1, "a", a, stale));
    epoch1 = value_of(c.claim(1, "b", b, released));
    REQUIRE_OK(s.put_value("stale-key", "t", "v1", 0));
  }

  void queue(sync_store& s) {
    for (int i = 0; i < n; ++i) {
      std::optional<write_fence> fence;
      if (i % 3 == 1)
        fence = write_fence{0, epoch0};
      else if (i % 3 == 2)
        fence = write_fence{1, epoch1};
      s->append("pid-" + std::to_string(i), {ev(1)}, fence, good[static_cast<size_t>(i)].cb());
      if (i == n / 2) {
        write_fence old{1, stale};
        s->append("stale", {ev(1)}, old, stale_append.cb());
        s->save_snapshot("stale", snapshot{1, "t", "s"}, old, stale_snapshot.cb());
        s->put_value("stale-key", "t", "v2", 1, old, stale_put.cb());
        s->delete_value("stale-key", 1, old, stale_delete.cb());
      }
    }
  }

  /// Only the stale writes failed, each with the fence's conflict.
  void check_outcomes() {
    for (auto& w : good)
      CHECK_OK(w.get());
    auto expected =
        "shard 1 moved to epoch " + std::to_string(epoch1) + "; this write carries epoch " + std::to_string(stale);
    auto append = stale_append.get();
    CHECK_CODE(append, status_code::conflict);
    CHECK(append.message() == expected);
    CHECK_CODE(stale_snapshot.get(), status_code::conflict);
    CHECK_CODE(stale_put.get(), status_code::conflict);
    CHECK_CODE(stale_delete.get(), status_code::conflict);
  }

  /// The good writes are stored, the stale ones are not.
  void check_stored(sync_store& s) {
    for (int i = 0; i < n; ++i)
      CHECK(value_of(s.highest("pid-" + std::to_string(i))) == 1);
    CHECK(value_of(s.highest("stale")) == 0);
    CHECK_FALSE(value_of(s.load_snapshot("stale")).has_value());
    CHECK(value_of(s.get_value("stale-key")) == std::optional<stored_value>{stored_value{"t", "v1", 1}});
  }
};

/// Opens a store on `uri` or fails the test with the store's message.
inline std::shared_ptr<store> open_store_or_fail(const std::string& uri, const store_options& options = {}) {
  return value_of(open_store(uri, options));
}

/// Polls a condition the test cannot wait on directly until it holds or `limit` passed; returns whether it held.
template <class Predicate>
bool eventually(Predicate done, std::chrono::milliseconds limit = timeout) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  }
  return true;
}

/// Runs `a` and `b` on two threads released at the same moment, and waits for both.
template <class A, class B>
void race(A&& a, B&& b) {
  std::latch start{2};
  std::thread ta{[&] {
    start.arrive_and_wait();
    a();
  }};
  std::thread tb{[&] {
    start.arrive_and_wait();
    b();
  }};
  ta.join();
  tb.join();
}

/// Drops the caller's only reference to `s` while one of its callbacks holds another: the store must then be destroyed
/// by that callback, on the store's own thread, without deadlocking.
inline void check_released_in_own_callback(std::shared_ptr<store> s) {
  std::weak_ptr<store> weak = s;
  auto dropped = std::make_shared<std::promise<void>>();
  auto ran = std::make_shared<std::promise<void>>();
  auto dropped_future = dropped->get_future().share();
  s->append("p", {ev(1)}, unfenced, [keep = s, dropped_future, ran](status) {
    dropped_future.wait_for(timeout);
    ran->set_value();
  });
  s.reset();
  dropped->set_value();
  REQUIRE(ran->get_future().wait_for(timeout) == std::future_status::ready);
  CHECK(eventually([&] { return weak.expired(); }));
}

}  // namespace actorstate::persistence::testing
