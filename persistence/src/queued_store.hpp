// What the SQL plugins (sqlite, postgres) share: operations queued as closures over a row function, the engine that
// sequences them per key and runs them on one writer thread (group commit) and one or more reader threads, and the
// store class that turns every store call into such an operation. A plugin supplies only its connection type, its row
// functions (found by argument-dependent lookup, see queued_store) and the parts of its engine that differ: how a batch
// of writes runs in one transaction, how a read acquires its connection, and how the connections close.
//
// Cluster: the store implements coordination.hpp with the plugin's coordination row functions, and checks the fences of
// a batch's writes (store.hpp) at the start of the transaction that holds them, once per distinct shard
// (refuse_stale_writes). A coordination write runs in a transaction of its own.
//
// Threads: submit() and close() may be called from any thread, callbacks included; an operation runs and completes
// (its callback runs) on the engine's writer thread (writes, and with several readers the operations refused after
// close) or on a reader thread (reads, and with one reader the refused operations), never on the caller's. Per key,
// consecutive writes may be in flight together (the writer keeps FIFO order); consecutive reads too when there is
// a single reader, otherwise reads of one key run one at a time. A switch between reading and writing waits until the
// previous run has completed, which keeps callbacks in issue order and lets a read see every write issued before it.
// Each thread co-owns the engine, so a callback may drop the last reference to the store: the threads then finish the
// accepted work and the last one out destroys the engine.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "actorstate/persistence/coordination.hpp"
#include "actorstate/persistence/store.hpp"
#include "checks.hpp"
#include "sequencing_keys.hpp"

namespace actorstate::persistence::detail {

// -- Queued operations ------------------------------------------------------------------------------------------------

template <class Connection>
class queued_op {
public:
  queued_op(std::string key, bool write) : key_(std::move(key)), write_(write) {}
  virtual ~queued_op() = default;

  /// Runs the operation and keeps its outcome; returns the outcome's status.
  virtual status execute(Connection& c) = 0;

  /// Replaces the outcome (the transaction holding the operation did not commit, or the store is closed).
  virtual void fail(status st) = 0;

  /// Whether the current outcome is a success.
  virtual bool ok() const = 0;

  /// Invokes the callback with the outcome and destroys the callback.
  virtual void complete() = 0;

  /// Pipelining, for plugins that pay a network round trip per statement: queues the operation's statements without
  /// waiting for their results. False if the operation has no pipelined form (nothing was sent).
  virtual bool send(Connection&) { return false; }

  /// Reads the results of what `send` queued and keeps the outcome. False if the operation must run alone instead
  /// (a fence rejected it or a statement failed): the transaction holding it is then void.
  virtual bool receive(Connection&) { return false; }

  const std::string& key() const { return key_; }
  bool write() const { return write_; }

  /// Refused after close(): completes without running and without being counted.
  bool rejected = false;

  /// A fenced write's fence (store.hpp), checked by refuse_stale_writes before the operation runs.
  std::optional<write_fence> fence;

  /// Runs in a transaction of its own (a coordination write): the writer never batches it with other writes.
  bool alone = false;

private:
  std::string key_;
  bool write_;
};

inline const status& status_of(const status& st) {
  return st;
}

template <class T>
const status& status_of(const result<T>& r) {
  return r.error();
}

/// An operation whose `Call` has `run(c) -> R` (R: the callback's argument) and a pipelined form, `send(c) -> bool`
/// and `receive(c) -> std::optional<R>` (see queued_op), which may answer "none".
template <class Connection, class R, class Call>
class basic_op final : public queued_op<Connection> {
public:
  basic_op(std::string key, bool write, Call call, callback<R> done)
      : queued_op<Connection>(std::move(key), write), call_(std::move(call)), done_(std::move(done)) {}

  status execute(Connection& c) override {
    outcome_.emplace(call_.run(c));
    return status_of(*outcome_);
  }

  bool send(Connection& c) override { return call_.send(c); }

  bool receive(Connection& c) override {
    auto outcome = call_.receive(c);
    if (!outcome)
      return false;
    outcome_.emplace(std::move(*outcome));
    return true;
  }

  void fail(status st) override { outcome_.emplace(std::move(st)); }

  bool ok() const override { return outcome_ && status_of(*outcome_).ok(); }

  void complete() override {
    auto done = std::move(done_);
    done_ = nullptr;
    if (done)
      done(std::move(*outcome_));
  }

private:
  Call call_;
  callback<R> done_;
  std::optional<R> outcome_;
};

/// A row function bound to its arguments, with no pipelined form.
template <class R, class F>
struct closure_call {
  F body;

  template <class C>
  R run(C& c) const {
    return body(c);
  }
  template <class C>
  bool send(C&) const {
    return false;
  }
  template <class C>
  std::optional<R> receive(C&) const {
    return std::nullopt;
  }
};

// The writes that may be pipelined: each runs the plugin's row function, and its pipelined pair when the plugin has
// one (send_<row function>, receive_<row function>, found by argument-dependent lookup like the row functions).
struct append_call {
  std::string pid;
  std::vector<event> events;
  std::optional<write_fence> fence;  ///< Recorded with the events (checked before, by refuse_stale_writes).

  template <class C>
  status run(C& c) const {
    return append_events(c, pid, events, fence);
  }
  template <class C>
  bool send(C& c) const {
    if constexpr (requires { send_append_events(c, pid, events, fence); })
      return send_append_events(c, pid, events, fence);
    return false;
  }
  template <class C>
  std::optional<status> receive(C& c) const {
    if constexpr (requires { receive_append_events(c, pid, events); })
      return receive_append_events(c, pid, events);
    return std::nullopt;
  }
};

struct save_snapshot_call {
  std::string pid;
  snapshot s;

  template <class C>
  status run(C& c) const {
    return save_snapshot_row(c, pid, s);
  }
  template <class C>
  bool send(C& c) const {
    if constexpr (requires { send_save_snapshot_row(c, pid, s); })
      return send_save_snapshot_row(c, pid, s);
    return false;
  }
  template <class C>
  std::optional<status> receive(C& c) const {
    if constexpr (requires { receive_save_snapshot_row(c, pid, s); })
      return receive_save_snapshot_row(c, pid, s);
    return std::nullopt;
  }
};

struct put_value_call {
  std::string key;
  std::string type;
  std::string payload;
  int64_t expected;

  template <class C>
  result<int64_t> run(C& c) const {
    return put_value_row(c, key, type, payload, expected);
  }
  template <class C>
  bool send(C& c) const {
    if constexpr (requires { send_put_value_row(c, key, type, payload, expected); })
      return send_put_value_row(c, key, type, payload, expected);
    return false;
  }
  template <class C>
  std::optional<result<int64_t>> receive(C& c) const {
    if constexpr (requires { receive_put_value_row(c, key, type, payload, expected); })
      return receive_put_value_row(c, key, type, payload, expected);
    return std::nullopt;
  }
};

/// A write that also records the command that caused it (store.hpp, "Idempotency keys"): the plugin's
/// record_applied(c, scope, entity, applied, retention, fence) runs right after the write, in its transaction (and its
/// savepoint), and only if the write succeeded; a failure to record fails the write, which is then rolled back with it.
/// No pipelined form: such writes carry a client's key, and running them alone keeps the pipelined forms simple.
template <class Call>
struct recording_call {
  Call write;
  applied_scope scope;
  std::string entity;
  applied_command applied;
  std::chrono::milliseconds retention;
  std::optional<write_fence> fence;  ///< Recorded with the command (checked before, by refuse_stale_writes).

  template <class C>
  auto run(C& c) const -> decltype(write.run(c)) {
    auto outcome = write.run(c);
    if (!status_of_ok(outcome))
      return outcome;
    if (auto st = record_applied(c, scope, entity, applied, retention, fence); !st.ok())
      return st;
    return outcome;
  }
  template <class C>
  bool send(C&) const {
    return false;
  }
  template <class C>
  std::optional<decltype(write.run(std::declval<C&>()))> receive(C&) const {
    return std::nullopt;
  }

private:
  static bool status_of_ok(const status& st) { return st.ok(); }
  template <class T>
  static bool status_of_ok(const result<T>& r) {
    return r.ok();
  }
};

// -- Fencing ----------------------------------------------------------------------------------------------------------

/// The shard epochs that `read_epochs(shards)` found, as (shard, epoch) pairs; a shard it did not find is absent.
using shard_epochs = std::vector<std::pair<uint32_t, int64_t>>;

/// Whether one of the writes batch[from..] is fenced.
template <class Op>
bool has_fenced_write(const std::vector<Op*>& batch, size_t from) {
  return std::any_of(batch.begin() + static_cast<std::ptrdiff_t>(from), batch.end(),
                     [](const Op* o) { return o->fence.has_value(); });
}

/// Removes from batch[from..], keeping the order of the rest, every write for which `verdict(op) -> status` is not ok,
/// after making that its outcome.
template <class Op, class Verdict>
void drop_failed_writes(std::vector<Op*>& batch, size_t from, Verdict verdict) {
  auto kept = batch.begin() + static_cast<std::ptrdiff_t>(from);
  for (auto i = kept; i != batch.end(); ++i) {
    if (auto st = verdict(**i); !st.ok()) {
      (*i)->fail(std::move(st));
      continue;
    }
    *kept++ = *i;
  }
  batch.erase(kept, batch.end());
}

/// Checks the fences of the writes batch[from..] at the start of the transaction that will hold them: the epoch of each
/// distinct shard they name is read once, by `read_epochs(shards) -> result<shard_epochs>`, which must keep those
/// epochs from changing until the transaction ends (SQLite: the transaction's write lock does; PostgreSQL: the rows
/// are locked). A write whose fence fails gets its outcome and leaves `batch`, so it neither runs nor fails its
/// neighbours; the others run as if unfenced. With no fenced write this reads nothing. Returns the read's failure,
/// with `batch` unchanged. `cluster` is store_options::cluster.
///
/// Once per batch is correct because nothing else can move an epoch before the transaction ends: claims and releases
/// of this store run in transactions of their own (queued_op::alone), and those of another store wait for the lock.
template <class Op, class ReadEpochs>
status refuse_stale_writes(std::vector<Op*>& batch, size_t from, const std::string& cluster, ReadEpochs read_epochs) {
  if (!has_fenced_write(batch, from))
    return {};
  std::vector<uint32_t> shards;
  for (auto i = from; i < batch.size(); ++i)
    if (batch[i]->fence)
      shards.push_back(batch[i]->fence->shard);
  std::sort(shards.begin(), shards.end());
  shards.erase(std::unique(shards.begin(), shards.end()), shards.end());
  shard_epochs epochs;
  // Without a cluster name every fenced write is refused as invalid (check_fence): there is nothing to read.
  if (!cluster.empty()) {
    auto found = read_epochs(shards);
    if (!found.ok())
      return found.error();
    epochs = std::move(found.value());
    std::sort(epochs.begin(), epochs.end());
  }
  auto epoch_of = [&](uint32_t shard) -> std::optional<int64_t> {
    auto i = std::lower_bound(epochs.begin(), epochs.end(), shard,
                              [](const std::pair<uint32_t, int64_t>& e, uint32_t s) { return e.first < s; });
    return i != epochs.end() && i->first == shard ? std::optional<int64_t>{i->second} : std::nullopt;
  };
  drop_failed_writes(batch, from, [&](const Op& o) {
    return o.fence ? check_fence(cluster, *o.fence, epoch_of(o.fence->shard)) : status{};
  });
  return {};
}

/// For a plugin whose fence check failed in a way that concerns only the fenced writes (the server refused the read
/// itself): fails them with `st` and removes them from batch[from..]; the others can run in a new transaction.
template <class Op>
void fail_fenced_writes(std::vector<Op*>& batch, size_t from, const status& st) {
  drop_failed_writes(batch, from, [&](const Op& o) { return o.fence ? st : status{}; });
}

// -- The engine -------------------------------------------------------------------------------------------------------

/// Owns the queues and threads; `Derived` owns the connections and provides, privately with this class as a friend:
///  - `void run_batch(std::vector<op*>& batch)`: on the writer thread, runs the writes (none refused) as one group
///    commit and fails those that did not commit; it calls refuse_stale_writes (with fence_cluster()) at the start of
///    every transaction it opens;
///  - `void run_read(size_t reader, op& o)`: on reader thread `reader`, runs one accepted read;
///  - `void release_connections(std::unique_lock<std::mutex>& lock)`: called with `lock` held once nothing is accepted
///    any more; takes the connections, unlocks, and closes them in the order the plugin needs.
template <class Derived, class Connection>
class queued_engine : public std::enable_shared_from_this<Derived> {
public:
  using connection_type = Connection;
  using op = queued_op<Connection>;

  queued_engine(std::string plugin, size_t max_batch, size_t reader_count, std::string cluster)
      : plugin_(std::move(plugin)),
        max_batch_(std::max<size_t>(max_batch, 1)),
        reader_count_(reader_count),
        fifo_reads_(reader_count == 1),
        cluster_(std::move(cluster)) {}

  const std::string& plugin() const { return plugin_; }

  /// store_options::cluster: the cluster whose shard epochs fence this store's writes.
  const std::string& fence_cluster() const { return cluster_; }

  void start() {
    auto self = this->shared_from_this();
    writer_ = std::thread([self] { self->writer_loop(); });
    writer_id_ = writer_.get_id();
    for (size_t i = 0; i < reader_count_; ++i) {
      readers_.emplace_back([self, i] { self->reader_loop(i); });
      reader_ids_.push_back(readers_.back().get_id());
    }
  }

  void submit(std::unique_ptr<op> o) {
    std::lock_guard guard{mtx_};
    if (closed_) {
      // Still answered on a store thread, never on the caller's, by a thread whose queue keeps them in issue order.
      o->fail(closed_status(plugin_));
      o->rejected = true;
      if (fifo_reads_) {
        read_q_.push_back(std::move(o));
        read_cv_.notify_one();
      } else {
        write_q_.push_back(std::move(o));
        write_cv_.notify_one();
      }
      return;
    }
    ++accepted_;
    // Consecutive reads of a key may be in flight together only when a single reader keeps them in FIFO order: two
    // reader threads could otherwise finish them out of order.
    auto& ks = keys_[o->key()];
    if (ks.in_flight == 0 || (ks.waiting.empty() && ks.writing == o->write() && (o->write() || fifo_reads_))) {
      ks.writing = o->write();
      ++ks.in_flight;
      dispatch(std::move(o));
    } else {
      ks.waiting.push_back(std::move(o));
    }
  }

  void close() {
    std::unique_lock lock{mtx_};
    closed_ = true;
    // A callback cannot wait for the thread it runs on; the connections then close with the engine.
    if (on_own_thread())
      return;
    idle_cv_.wait(lock, [&] { return accepted_ == 0; });
    // Nothing is accepted any more, so no thread touches the connections again.
    static_cast<Derived*>(this)->release_connections(lock);
  }

  void shutdown() {
    close();
    {
      std::lock_guard guard{mtx_};
      stop_ = true;
    }
    write_cv_.notify_all();
    read_cv_.notify_all();
    bool own = on_own_thread();
    auto finish_thread = [own](std::thread& t) {
      if (own)
        t.detach();
      else
        t.join();
    };
    finish_thread(writer_);
    for (auto& t : readers_)
      finish_thread(t);
  }

private:
  struct key_state {
    size_t in_flight = 0;
    bool writing = false;
    std::deque<std::unique_ptr<op>> waiting;
  };

  bool on_own_thread() const {
    auto self = std::this_thread::get_id();
    return self == writer_id_ || std::find(reader_ids_.begin(), reader_ids_.end(), self) != reader_ids_.end();
  }

  // Threads exit only once every accepted operation is done: a finishing write may still dispatch a waiting read.
  bool drained() const { return stop_ && accepted_ == 0; }

  // Requires mtx_.
  void dispatch(std::unique_ptr<op> o) {
    if (o->write()) {
      write_q_.push_back(std::move(o));
      write_cv_.notify_one();
    } else {
      read_q_.push_back(std::move(o));
      read_cv_.notify_one();
    }
  }

  // Called after the callbacks of `ops` ran.
  void finish(std::vector<std::unique_ptr<op>>& ops) {
    std::lock_guard guard{mtx_};
    for (auto& o : ops) {
      auto i = keys_.find(o->key());
      auto& ks = i->second;
      if (--ks.in_flight == 0) {
        if (ks.waiting.empty()) {
          keys_.erase(i);
        } else {
          ks.writing = ks.waiting.front()->write();
          do {
            ++ks.in_flight;
            dispatch(std::move(ks.waiting.front()));
            ks.waiting.pop_front();
          } while ((ks.writing || fifo_reads_) && !ks.waiting.empty() && ks.waiting.front()->write() == ks.writing);
        }
      }
      --accepted_;
    }
    if (accepted_ == 0) {
      idle_cv_.notify_all();
      if (stop_) {
        write_cv_.notify_all();
        read_cv_.notify_all();
      }
    }
  }

  void writer_loop() {
    std::vector<std::unique_ptr<op>> batch;
    std::vector<std::unique_ptr<op>> accepted;
    std::vector<op*> to_run;
    for (;;) {
      {
        std::unique_lock lock{mtx_};
        write_cv_.wait(lock, [&] { return !write_q_.empty() || drained(); });
        if (write_q_.empty())
          return;
        while (!write_q_.empty() && batch.size() < max_batch_) {
          if (!batch.empty() && (batch.back()->alone || write_q_.front()->alone))
            break;
          batch.push_back(std::move(write_q_.front()));
          write_q_.pop_front();
        }
      }
      for (auto& o : batch)
        if (!o->rejected)
          to_run.push_back(o.get());
      if (!to_run.empty())
        static_cast<Derived*>(this)->run_batch(to_run);
      // Only now, after COMMIT returned (or failed), may anyone learn the outcome.
      for (auto& o : batch) {
        o->complete();
        if (!o->rejected)
          accepted.push_back(std::move(o));
      }
      if (!accepted.empty())
        finish(accepted);
      batch.clear();
      accepted.clear();
      to_run.clear();
    }
  }

  void reader_loop(size_t index) {
    for (;;) {
      std::unique_ptr<op> o;
      {
        std::unique_lock lock{mtx_};
        read_cv_.wait(lock, [&] { return !read_q_.empty() || drained(); });
        if (read_q_.empty())
          return;
        o = std::move(read_q_.front());
        read_q_.pop_front();
      }
      if (o->rejected) {
        o->complete();
        continue;
      }
      // Only accepted operations get here, so close() has not released the connections yet.
      static_cast<Derived*>(this)->run_read(index, *o);
      o->complete();
      std::vector<std::unique_ptr<op>> done;
      done.push_back(std::move(o));
      finish(done);
    }
  }

  const std::string plugin_;
  const size_t max_batch_;
  const size_t reader_count_;
  // One reader thread runs its queue in FIFO order, like the writer.
  const bool fifo_reads_;
  const std::string cluster_;

  std::mutex mtx_;
  std::condition_variable write_cv_;
  std::condition_variable read_cv_;
  std::condition_variable idle_cv_;
  std::deque<std::unique_ptr<op>> write_q_;
  std::deque<std::unique_ptr<op>> read_q_;
  std::unordered_map<std::string, key_state> keys_;
  size_t accepted_ = 0;
  bool closed_ = false;
  bool stop_ = false;

  std::thread writer_;
  std::vector<std::thread> readers_;
  std::thread::id writer_id_;
  std::vector<std::thread::id> reader_ids_;
};

// -- The plugin -------------------------------------------------------------------------------------------------------

/// One step of a plugin's versioned schema: the SQL that takes the schema to `version`. Released steps never change.
struct migration {
  int version;
  const char* sql;
};

// -- Coordination flows -----------------------------------------------------------------------------------------------
// The read-decide-write of coordination.hpp's writes, once for the SQL plugins, each in the transaction of its own
// operation and decided by the rules of checks.hpp. They use the plugin's row primitives (argument-dependent lookup):
//   lock_shard_row(c, cluster, shard) -> result<optional<shard_row>>;
//   write_shard_row(c, cluster, shard, row) -> status;
//   read_member_row(c, cluster, id) -> result<optional<member_row>>;  lock_member_row(c, cluster, id) -> the same;
//   stamp_renewal(c, cluster, id) -> status;  owns_shards(c, cluster, id, incarnation) -> result<bool>;
//   set_member_state(c, cluster, id, state) -> status;
//   hold_liveness(c, key), release_liveness(c, key) (best effort: without a token a crash costs the failure timeout);
//   liveness_free(c, key) -> result<bool>.
// "Lock" reads a row so that no other writer changes it before the transaction ends (a plugin whose transactions
// exclude every other writer just reads it).

/// The name of an incarnation's liveness token: FNV-1a 64 of cluster, id and incarnation (a collision only makes a
/// crash wait out the failure timeout: a token held by another looks alive).
inline uint64_t liveness_key(const std::string& cluster, const std::string& id, int64_t incarnation) {
  uint64_t h = 14695981039346656037ull;
  auto mix = [&h](std::string_view bytes) {
    for (unsigned char ch : bytes) {
      h ^= ch;
      h *= 1099511628211ull;
    }
    h ^= 0xff;  // a separator no UTF-8 text contains
    h *= 1099511628211ull;
  };
  mix("actorstate.liveness");
  mix(cluster);
  mix(id);
  mix(std::to_string(incarnation));
  return h;
}

template <class C>
result<int64_t> join_flow(C& c, const std::string& cluster, const std::string& id, const std::string& address) {
  auto incarnation = join_member(c, cluster, id, address);
  if (incarnation.ok())
    hold_liveness(c, liveness_key(cluster, id, incarnation.value()));
  return incarnation;
}

template <class C>
status renew_flow(C& c, const std::string& cluster, const std::string& id, int64_t incarnation) {
  auto current = lock_member_row(c, cluster, id);
  if (!current.ok())
    return current.error();
  if (auto st = check_renew(cluster, id, incarnation, current.value()); !st.ok())
    return st;
  if (auto st = stamp_renewal(c, cluster, id); !st.ok())
    return st;
  // Again on every renewal: a token lost with a connection (a server restart) is taken back within one interval.
  hold_liveness(c, liveness_key(cluster, id, incarnation));
  return {};
}

template <class C>
result<bool> confirm_gone_flow(C& c, const std::string& cluster, const std::string& id, int64_t incarnation) {
  auto current = lock_member_row(c, cluster, id);
  if (!current.ok())
    return current.error();
  const auto& row = current.value();
  if (!row || row->incarnation != incarnation || row->state == member_state::left)
    return false;
  auto free = liveness_free(c, liveness_key(cluster, id, incarnation));
  if (!free.ok())
    return free.error();
  if (!free.value())
    return false;
  if (auto st = set_member_state(c, cluster, id, member_state::left); !st.ok())
    return st;
  return true;
}

template <class C>
status leave_flow(C& c, const std::string& cluster, const std::string& id, int64_t incarnation) {
  auto current = lock_member_row(c, cluster, id);
  if (!current.ok())
    return current.error();
  auto owns = owns_shards(c, cluster, id, incarnation);
  if (!owns.ok())
    return owns.error();
  auto action = decide_leave(cluster, id, incarnation, current.value(), owns.value());
  if (!action.ok())
    return action.error();
  if (action.value() == leave_action::none)
    return {};
  bool removed = action.value() == leave_action::remove;
  if (auto st = set_member_state(c, cluster, id, removed ? member_state::left : member_state::leaving); !st.ok())
    return st;
  if (removed)
    release_liveness(c, liveness_key(cluster, id, incarnation));
  return {};
}

template <class C>
result<int64_t> claim_flow(C& c, const std::string& cluster, uint32_t shard, const std::string& id, int64_t incarnation,
                           int64_t expected_epoch, std::chrono::milliseconds takeover_after) {
  auto current = lock_shard_row(c, cluster, shard);
  if (!current.ok())
    return current.error();
  auto claimant = read_member_row(c, cluster, id);
  if (!claimant.ok())
    return claimant.error();
  result<std::optional<member_row>> owner{std::optional<member_row>{}};
  if (current.value() && !current.value()->owner.empty())
    owner = read_member_row(c, cluster, current.value()->owner);
  if (!owner.ok())
    return owner.error();
  if (auto st = check_claim(cluster, shard, current.value(), id, incarnation, expected_epoch, takeover_after,
                            claimant.value(), owner.value());
      !st.ok())
    return st;
  auto epoch = current.value()->epoch + 1;
  if (auto st = write_shard_row(c, cluster, shard, shard_row{id, incarnation, epoch}); !st.ok())
    return st;
  return epoch;
}

template <class C>
result<int64_t> release_flow(C& c, const std::string& cluster, uint32_t shard, const std::string& id,
                             int64_t incarnation, int64_t epoch) {
  auto current = lock_shard_row(c, cluster, shard);
  if (!current.ok())
    return current.error();
  if (auto st = check_release(cluster, shard, current.value(), id, incarnation, epoch); !st.ok())
    return st;
  if (auto st = write_shard_row(c, cluster, shard, shard_row{{}, 0, epoch + 1}); !st.ok())
    return st;
  return epoch + 1;
}

/// The store of a plugin whose engine `Engine` derives from queued_engine. Every call becomes an operation on a
/// sequencing key (pid_key, value_key or cluster_key) that calls one of the plugin's row functions on a connection
/// `c`; they are found by argument-dependent lookup, so they live in the namespace of the plugin's connection type:
///   append_events(c, pid, events, fence) -> status;             replay_events(c, pid, from, to, max) -> result<...>;
///   read_highest(c, pid) -> result<int64_t>;                    delete_events(c, pid, to) -> status;
///   save_snapshot_row(c, pid, snapshot) -> status;              load_snapshot_row(c, pid) -> result<optional<...>>;
///   delete_snapshot_rows(c, pid, to) -> status;                 get_value_row(c, key) -> result<optional<...>>;
///   put_value_row(c, key, type, payload, expected) -> result<int64_t>;
///   delete_value_row(c, key, expected) -> status;               ping_db(c) -> status;
/// for idempotency keys (store.hpp), with retention = store_options::idempotency_retention (never zero here):
///   record_applied(c, scope, entity, applied, retention, fence) -> status (also deletes expired records, a bounded
///   batch at a time);                                                       find_applied_row(c, scope, entity, key,
///   retention)
///   -> result<optional<string>>;
/// and for coordination.hpp:
///   init_cluster_rows(c, cluster, shards) -> result<uint32_t>;
///   join_member(c, cluster, id, address) -> result<int64_t>;
///   read_members(c, cluster) -> result<vector<member_record>>;  read_shard_owners(c, cluster) -> result<vector<...>>;
///   read_shard_epochs(c, cluster, shards) -> result<shard_epochs> (the engine's, see refuse_stale_writes);
///   and the row primitives of the coordination flows above.
/// The engine checks fences before any row function runs (refuse_stale_writes). append_events and record_applied still
/// get the fence, only to store its shard and epoch with what they write (NULL when unfenced): the write history then
/// shows, from the store alone, that no shard ever had two writers (scripts/check-single-writer.sh).
template <class Engine>
class queued_store final : public store, public coordination {
  using connection = typename Engine::connection_type;

public:
  /// `retention`: store_options::idempotency_retention.
  queued_store(std::shared_ptr<Engine> engine, std::chrono::milliseconds retention)
      : engine_(std::move(engine)), retention_(retention) {}

  ~queued_store() override { engine_->shutdown(); }

  std::string name() const override { return engine_->plugin(); }

  void append(std::string pid, std::vector<event> events, write_options options, callback<status> done) override {
    auto key = pid_key(pid);
    append_call call{pid, std::move(events), options.fence};
    submit_write<status>(std::move(key), applied_scope::journal, std::move(pid), std::move(call), std::move(done),
                         std::move(options));
  }

  void replay(std::string pid, int64_t from, int64_t to, uint64_t max,
              callback<result<std::vector<event>>> done) override {
    auto key = pid_key(pid);
    submit<result<std::vector<event>>>(
        std::move(key), false,
        [pid = std::move(pid), from, to, max](connection& c) { return replay_events(c, pid, from, to, max); },
        std::move(done));
  }

  void highest_seq(std::string pid, callback<result<int64_t>> done) override {
    auto key = pid_key(pid);
    submit<result<int64_t>>(
        std::move(key), false, [pid = std::move(pid)](connection& c) { return read_highest(c, pid); }, std::move(done));
  }

  void delete_up_to(std::string pid, int64_t to, callback<status> done) override {
    auto key = pid_key(pid);
    submit<status>(
        std::move(key), true, [pid = std::move(pid), to](connection& c) { return delete_events(c, pid, to); },
        std::move(done));
  }

  void save_snapshot(std::string pid, snapshot s, std::optional<write_fence> fence, callback<status> done) override {
    auto key = pid_key(pid);
    submit_call<status>(std::move(key), true, save_snapshot_call{std::move(pid), std::move(s)}, std::move(done), fence);
  }

  void load_snapshot(std::string pid, callback<result<std::optional<snapshot>>> done) override {
    auto key = pid_key(pid);
    submit<result<std::optional<snapshot>>>(
        std::move(key), false, [pid = std::move(pid)](connection& c) { return load_snapshot_row(c, pid); },
        std::move(done));
  }

  void delete_snapshots(std::string pid, int64_t to, callback<status> done) override {
    auto key = pid_key(pid);
    submit<status>(
        std::move(key), true, [pid = std::move(pid), to](connection& c) { return delete_snapshot_rows(c, pid, to); },
        std::move(done));
  }

  void get_value(std::string key, callback<result<std::optional<stored_value>>> done) override {
    auto seq_key = value_key(key);
    submit<result<std::optional<stored_value>>>(
        std::move(seq_key), false, [key = std::move(key)](connection& c) { return get_value_row(c, key); },
        std::move(done));
  }

  void put_value(std::string key, std::string type, std::string payload, int64_t expected_version,
                 write_options options, callback<result<int64_t>> done) override {
    auto seq_key = value_key(key);
    put_value_call call{key, std::move(type), std::move(payload), expected_version};
    submit_write<result<int64_t>>(std::move(seq_key), applied_scope::value, std::move(key), std::move(call),
                                  std::move(done), std::move(options));
  }

  void delete_value(std::string key, int64_t expected_version, write_options options, callback<status> done) override {
    auto seq_key = value_key(key);
    auto body = [key, expected_version](connection& c) { return delete_value_row(c, key, expected_version); };
    submit_write<status>(std::move(seq_key), applied_scope::value, std::move(key),
                         closure_call<status, decltype(body)>{std::move(body)}, std::move(done), std::move(options));
  }

  void find_applied(applied_scope scope, std::string entity, std::string key,
                    callback<result<std::optional<std::string>>> done) override {
    auto seq_key = applied_key(scope, entity);
    submit<result<std::optional<std::string>>>(
        std::move(seq_key), false,
        [scope, entity = std::move(entity), key = std::move(key), retention = retention_](connection& c) {
          return find_applied_row(c, scope, entity, key, retention);
        },
        std::move(done));
  }

  void ping(callback<status> done) override {
    // Pings share one key among themselves only; they are ordered with no persistence id.
    submit<status>(
        std::string{}, false, [](connection& c) { return ping_db(c); }, std::move(done));
  }

  void close() override { engine_->close(); }

  coordination* cluster_coordination() override { return this; }

  // -- coordination ---------------------------------------------------------------------------------------------------
  // One sequencing key per cluster keeps its operations in issue order; each write runs alone (queued_op::alone).

  void init_cluster(std::string cluster, uint32_t shards, callback<result<uint32_t>> done) override {
    auto key = cluster_key(cluster);
    submit_alone<result<uint32_t>>(
        std::move(key),
        [cluster = std::move(cluster), shards](connection& c) { return init_cluster_rows(c, cluster, shards); },
        std::move(done));
  }

  void join(std::string cluster, std::string id, std::string address, callback<result<int64_t>> done) override {
    auto key = cluster_key(cluster);
    submit_alone<result<int64_t>>(
        std::move(key),
        [cluster = std::move(cluster), id = std::move(id), address = std::move(address)](connection& c) {
          return join_flow(c, cluster, id, address);
        },
        std::move(done));
  }

  void renew(std::string cluster, std::string id, int64_t incarnation, callback<status> done) override {
    auto key = cluster_key(cluster);
    submit_alone<status>(
        std::move(key),
        [cluster = std::move(cluster), id = std::move(id), incarnation](connection& c) {
          return renew_flow(c, cluster, id, incarnation);
        },
        std::move(done));
  }

  void leave(std::string cluster, std::string id, int64_t incarnation, callback<status> done) override {
    auto key = cluster_key(cluster);
    submit_alone<status>(
        std::move(key),
        [cluster = std::move(cluster), id = std::move(id), incarnation](connection& c) {
          return leave_flow(c, cluster, id, incarnation);
        },
        std::move(done));
  }

  void confirm_gone(std::string cluster, std::string id, int64_t incarnation, callback<result<bool>> done) override {
    auto key = cluster_key(cluster);
    submit_alone<result<bool>>(
        std::move(key),
        [cluster = std::move(cluster), id = std::move(id), incarnation](connection& c) {
          return confirm_gone_flow(c, cluster, id, incarnation);
        },
        std::move(done));
  }

  void members(std::string cluster, callback<result<std::vector<member_record>>> done) override {
    auto key = cluster_key(cluster);
    submit<result<std::vector<member_record>>>(
        std::move(key), false, [cluster = std::move(cluster)](connection& c) { return read_members(c, cluster); },
        std::move(done));
  }

  void shard_owners(std::string cluster, callback<result<std::vector<shard_owner>>> done) override {
    auto key = cluster_key(cluster);
    submit<result<std::vector<shard_owner>>>(
        std::move(key), false, [cluster = std::move(cluster)](connection& c) { return read_shard_owners(c, cluster); },
        std::move(done));
  }

  void claim_shard(std::string cluster, uint32_t shard, std::string id, int64_t incarnation, int64_t expected_epoch,
                   std::chrono::milliseconds takeover_after, callback<result<int64_t>> done) override {
    auto key = cluster_key(cluster);
    submit_alone<result<int64_t>>(
        std::move(key),
        [cluster = std::move(cluster), shard, id = std::move(id), incarnation, expected_epoch, takeover_after](
            connection& c) { return claim_flow(c, cluster, shard, id, incarnation, expected_epoch, takeover_after); },
        std::move(done));
  }

  void release_shard(std::string cluster, uint32_t shard, std::string id, int64_t incarnation, int64_t epoch,
                     callback<result<int64_t>> done) override {
    auto key = cluster_key(cluster);
    submit_alone<result<int64_t>>(
        std::move(key),
        [cluster = std::move(cluster), shard, id = std::move(id), incarnation, epoch](connection& c) {
          return release_flow(c, cluster, shard, id, incarnation, epoch);
        },
        std::move(done));
  }

private:
  template <class R, class F>
  void submit(std::string key, bool write, F body, callback<R> done, std::optional<write_fence> fence = std::nullopt) {
    submit_call<R>(std::move(key), write, closure_call<R, F>{std::move(body)}, std::move(done), fence);
  }

  // A coordination write: it changes shard epochs, which the fence check of a batch reads once per transaction.
  template <class R, class F>
  void submit_alone(std::string key, F body, callback<R> done) {
    auto o = make_op<R>(std::move(key), true, closure_call<R, F>{std::move(body)}, std::move(done));
    o->alone = true;
    engine_->submit(std::move(o));
  }

  // A write of an entity that may record the command that caused it (with a retention of zero it records nothing).
  template <class R, class Call>
  void submit_write(std::string key, applied_scope scope, std::string entity, Call call, callback<R> done,
                    write_options options) {
    if (!options.applied || retention_.count() <= 0) {
      submit_call<R>(std::move(key), true, std::move(call), std::move(done), options.fence);
      return;
    }
    submit_call<R>(std::move(key), true,
                   recording_call<Call>{std::move(call), scope, std::move(entity), std::move(*options.applied),
                                        retention_, options.fence},
                   std::move(done), options.fence);
  }

  template <class R, class Call>
  void submit_call(std::string key, bool write, Call call, callback<R> done, std::optional<write_fence> fence) {
    auto o = make_op<R>(std::move(key), write, std::move(call), std::move(done));
    o->fence = fence;
    engine_->submit(std::move(o));
  }

  template <class R, class Call>
  static std::unique_ptr<queued_op<connection>> make_op(std::string key, bool write, Call call, callback<R> done) {
    return std::make_unique<basic_op<connection, R, Call>>(std::move(key), write, std::move(call), std::move(done));
  }

  std::shared_ptr<Engine> engine_;
  const std::chrono::milliseconds retention_;
};

}  // namespace actorstate::persistence::detail
