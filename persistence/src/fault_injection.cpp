#include "actorstate/persistence/fault_injection.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "checks.hpp"
#include "sequencing_keys.hpp"
#include "serial_executor.hpp"

namespace actorstate::persistence {

namespace {

struct fault {
  status_code c = status_code::ok;
  int remaining = 0;

  // Consumes one use of the fault, if it is armed.
  std::optional<status_code> take() {
    if (c == status_code::ok || remaining == 0)
      return std::nullopt;
    if (remaining > 0)
      --remaining;
    return c;
  }
};

using detail::applied_key;
using detail::pid_key;
using detail::value_key;

}  // namespace

struct faulty_store::state {
  // Held while taking a ticket and forwarding, so the inner store sees operations in ticket order.
  std::mutex issue_mtx;
  // Everything below; never held while calling the inner store or a callback.
  mutable std::mutex mtx;
  fault write_fault;
  fault read_fault;
  fault lost_outcomes;
  bool corrupt = false;
  bool closed = false;

  /// What completed: an injected failure is never held, a forwarded read or write while holding that kind.
  enum class kind { injected, read, write };

  /// The hold of one kind of operation.
  struct hold_state {
    bool on = false;
    size_t held = 0;  ///< Completed operations whose callbacks are held.
  };
  hold_state write_hold;
  hold_state read_hold;

  struct pending {
    std::function<void()> deliver;
    bool held = false;
    kind what = kind::injected;
  };

  // Tickets per key: completions are delivered strictly in ticket (issue) order.
  struct key_order {
    uint64_t next_ticket = 0;
    uint64_t next_delivery = 0;
    std::map<uint64_t, pending> done;
  };

  std::unordered_map<std::string, key_order> keys;

  // Last member: destroyed first, after it ran every delivery already posted.
  detail::serial_executor worker;

  // Requires mtx.
  uint64_t ticket(const std::string& key) { return keys[key].next_ticket++; }

  // Requires mtx.
  hold_state& hold_of(kind what) { return what == kind::write ? write_hold : read_hold; }

  void hold(kind what) {
    std::lock_guard guard{mtx};
    // close() must be able to finish every accepted operation.
    if (!closed)
      hold_of(what).on = true;
  }

  size_t held(kind what) {
    std::lock_guard guard{mtx};
    return hold_of(what).held;
  }

  void complete(const std::string& key, uint64_t ticket, kind what, std::function<void()> deliver) {
    std::lock_guard guard{mtx};
    bool hold = what != kind::injected && hold_of(what).on;
    if (hold)
      ++hold_of(what).held;
    auto i = keys.find(key);
    i->second.done.emplace(ticket, pending{std::move(deliver), hold, what});
    flush(i);
  }

  // Requires mtx. Posting under the lock keeps the worker's queue in delivery order.
  void flush(std::unordered_map<std::string, key_order>::iterator i) {
    auto& ko = i->second;
    while (!ko.done.empty() && ko.done.begin()->first == ko.next_delivery && !ko.done.begin()->second.held) {
      worker.post(std::move(ko.done.begin()->second.deliver));
      ko.done.erase(ko.done.begin());
      ++ko.next_delivery;
    }
    if (ko.done.empty() && ko.next_delivery == ko.next_ticket)
      keys.erase(i);
  }

  /// Stops holding `what` (reads or writes) and delivers what no longer waits.
  void release(kind what) {
    std::lock_guard guard{mtx};
    hold_of(what) = {};
    std::vector<std::string> names;
    for (auto& [key, ko] : keys) {
      for (auto& [ticket, p] : ko.done)
        if (p.what == what)
          p.held = false;
      names.push_back(key);
    }
    for (const auto& key : names)
      flush(keys.find(key));
  }
};

faulty_store::faulty_store(std::shared_ptr<store> inner)
    : state_(std::make_shared<state>()), inner_(std::move(inner)) {}

faulty_store::~faulty_store() {
  close();
}

void faulty_store::fail_writes(status_code c, int n) {
  std::lock_guard guard{state_->mtx};
  state_->write_fault = fault{c, n};
}

void faulty_store::fail_reads(status_code c, int n) {
  std::lock_guard guard{state_->mtx};
  state_->read_fault = fault{c, n};
}

void faulty_store::lose_write_outcomes(int n) {
  std::lock_guard guard{state_->mtx};
  state_->lost_outcomes = fault{status_code::unknown_outcome, n};
}

void faulty_store::clear_faults() {
  std::lock_guard guard{state_->mtx};
  state_->lost_outcomes = fault{};
  state_->write_fault = fault{};
  state_->read_fault = fault{};
  state_->corrupt = false;
}

void faulty_store::hold_writes() {
  state_->hold(state::kind::write);
}

void faulty_store::release_writes() {
  state_->release(state::kind::write);
}

size_t faulty_store::held_writes() const {
  return state_->held(state::kind::write);
}

void faulty_store::hold_reads() {
  state_->hold(state::kind::read);
}

void faulty_store::release_reads() {
  state_->release(state::kind::read);
}

size_t faulty_store::held_reads() const {
  return state_->held(state::kind::read);
}

void faulty_store::corrupt_snapshots(bool on) {
  std::lock_guard guard{state_->mtx};
  state_->corrupt = on;
}

std::string faulty_store::name() const {
  return "faulty:" + inner_->name();
}

template <class R, class Forward>
void faulty_store::route(std::string key, bool write, callback<R> done, Forward forward) {
  std::lock_guard issue{state_->issue_mtx};
  uint64_t ticket = 0;
  std::optional<status> injected;
  bool lose_outcome = false;
  {
    std::lock_guard guard{state_->mtx};
    ticket = state_->ticket(key);
    if (state_->closed) {
      injected = detail::closed_status(name());
    } else if (auto c = (write ? state_->write_fault : state_->read_fault).take()) {
      injected = status{*c, std::string{"injected "} + (write ? "write" : "read") + " fault"};
    } else if (write) {
      lose_outcome = state_->lost_outcomes.take().has_value();
    }
  }
  if (injected) {
    state_->complete(key, ticket, state::kind::injected, [done = std::move(done), st = std::move(*injected)] {
      if (done)
        done(R(st));
    });
    return;
  }
  forward([st = state_, key, ticket, write, lose_outcome, done = std::move(done)](R outcome) mutable {
    if (lose_outcome)
      outcome = R(status{status_code::unknown_outcome, "injected: the write's outcome was lost"});
    auto what = write ? state::kind::write : state::kind::read;
    st->complete(key, ticket, what, [done = std::move(done), outcome = std::move(outcome)]() mutable {
      if (done)
        done(std::move(outcome));
    });
  });
}

void faulty_store::append(std::string pid, std::vector<event> events, write_options options, callback<status> done) {
  route<status>(pid_key(pid), true, std::move(done), [&](callback<status> cb) {
    inner_->append(std::move(pid), std::move(events), std::move(options), std::move(cb));
  });
}

void faulty_store::replay(std::string pid, int64_t from, int64_t to, uint64_t max,
                          callback<result<std::vector<event>>> done) {
  route<result<std::vector<event>>>(pid_key(pid), false, std::move(done), [&](callback<result<std::vector<event>>> cb) {
    inner_->replay(std::move(pid), from, to, max, std::move(cb));
  });
}

void faulty_store::highest_seq(std::string pid, callback<result<int64_t>> done) {
  route<result<int64_t>>(pid_key(pid), false, std::move(done),
                         [&](callback<result<int64_t>> cb) { inner_->highest_seq(std::move(pid), std::move(cb)); });
}

void faulty_store::delete_up_to(std::string pid, int64_t to, callback<status> done) {
  route<status>(pid_key(pid), true, std::move(done),
                [&](callback<status> cb) { inner_->delete_up_to(std::move(pid), to, std::move(cb)); });
}

void faulty_store::save_snapshot(std::string pid, snapshot s, std::optional<write_fence> fence, callback<status> done) {
  route<status>(pid_key(pid), true, std::move(done), [&](callback<status> cb) {
    inner_->save_snapshot(std::move(pid), std::move(s), fence, std::move(cb));
  });
}

void faulty_store::load_snapshot(std::string pid, callback<result<std::optional<snapshot>>> done) {
  using result_type = result<std::optional<snapshot>>;
  bool garble = false;
  {
    std::lock_guard guard{state_->mtx};
    garble = state_->corrupt;
  }
  if (garble) {
    // 0xff bytes form an unterminated varint, so a protobuf decoder rejects them whatever the message type.
    done = [done = std::move(done)](result_type r) {
      if (r.ok() && r.value())
        r.value()->payload = std::string(std::max<size_t>(r.value()->payload.size(), 16), '\xff');
      if (done)
        done(std::move(r));
    };
  }
  route<result_type>(pid_key(pid), false, std::move(done),
                     [&](callback<result_type> cb) { inner_->load_snapshot(std::move(pid), std::move(cb)); });
}

void faulty_store::delete_snapshots(std::string pid, int64_t to, callback<status> done) {
  route<status>(pid_key(pid), true, std::move(done),
                [&](callback<status> cb) { inner_->delete_snapshots(std::move(pid), to, std::move(cb)); });
}

void faulty_store::get_value(std::string key, callback<result<std::optional<stored_value>>> done) {
  using result_type = result<std::optional<stored_value>>;
  route<result_type>(value_key(key), false, std::move(done),
                     [&](callback<result_type> cb) { inner_->get_value(std::move(key), std::move(cb)); });
}

void faulty_store::put_value(std::string key, std::string type, std::string payload, int64_t expected_version,
                             write_options options, callback<result<int64_t>> done) {
  route<result<int64_t>>(value_key(key), true, std::move(done), [&](callback<result<int64_t>> cb) {
    inner_->put_value(std::move(key), std::move(type), std::move(payload), expected_version, std::move(options),
                      std::move(cb));
  });
}

void faulty_store::delete_value(std::string key, int64_t expected_version, write_options options,
                                callback<status> done) {
  route<status>(value_key(key), true, std::move(done), [&](callback<status> cb) {
    inner_->delete_value(std::move(key), expected_version, std::move(options), std::move(cb));
  });
}

void faulty_store::find_applied(applied_scope scope, std::string entity, std::string key,
                                callback<result<std::optional<std::string>>> done) {
  using result_type = result<std::optional<std::string>>;
  // Ordered with the entity's writes, as the inner store orders it.
  auto seq_key = applied_key(scope, entity);
  route<result_type>(std::move(seq_key), false, std::move(done), [&](callback<result_type> cb) {
    inner_->find_applied(scope, std::move(entity), std::move(key), std::move(cb));
  });
}

void faulty_store::ping(callback<status> done) {
  route<status>(std::string{}, false, std::move(done), [&](callback<status> cb) { inner_->ping(std::move(cb)); });
}

coordination* faulty_store::cluster_coordination() {
  return inner_->cluster_coordination();
}

void faulty_store::close() {
  {
    std::lock_guard guard{state_->mtx};
    state_->closed = true;
  }
  state_->release(state::kind::write);
  state_->release(state::kind::read);
  // Afterwards every inner callback has run, so every completion is delivered or posted.
  inner_->close();
  state_->worker.drain();
}

}  // namespace actorstate::persistence
