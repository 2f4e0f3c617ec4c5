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

  status append(const std::string& pid, std::vector<event> events) {
    waiter<status> w;
    s_->append(pid, std::move(events), w.cb());
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

  status save_snapshot(const std::string& pid, snapshot s) {
    waiter<status> w;
    s_->save_snapshot(pid, std::move(s), w.cb());
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

  result<int64_t> put_value(const std::string& key, std::string type, std::string payload, int64_t expected) {
    waiter<result<int64_t>> w;
    s_->put_value(key, std::move(type), std::move(payload), expected, w.cb());
    return w.get();
  }

  status delete_value(const std::string& key, int64_t expected) {
    waiter<status> w;
    s_->delete_value(key, expected, w.cb());
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

/// Unwraps an ok result or fails the test with the store's message.
template <class T>
T value_of(result<T> r) {
  REQUIRE_MESSAGE(r.ok(), r.error().to_string());
  return std::move(r.value());
}

/// The writes the plugins' group-commit tests queue behind a stalled writer: `n` good two-event appends and, among
/// them, an append the fence rejects and a put with a stale version. Needs journal "seeded" to hold events 1 to 3.
struct mixed_group {
  static constexpr int n = 50;
  std::vector<waiter<status>> good = std::vector<waiter<status>>(n);
  waiter<status> bad;
  waiter<result<int64_t>> stale_value;

  void queue(sync_store& s) {
    for (int i = 0; i < n; ++i) {
      s->append("pid-" + std::to_string(i), evs(1, 2), good[static_cast<size_t>(i)].cb());
      if (i == n / 2) {
        s->append("seeded", {ev(2)}, bad.cb());
        s->put_value("k", "t", "v", 7, stale_value.cb());
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
  s->append("p", {ev(1)}, [keep = s, dropped_future, ran](status) {
    dropped_future.wait_for(timeout);
    ran->set_value();
  });
  s.reset();
  dropped->set_value();
  REQUIRE(ran->get_future().wait_for(timeout) == std::future_status::ready);
  CHECK(eventually([&] { return weak.expired(); }));
}

}  // namespace actorstate::persistence::testing
