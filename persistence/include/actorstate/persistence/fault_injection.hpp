// A store decorator for tests: it forwards every operation to an inner store and, on demand, fails operations before
// they reach it, holds back the callbacks of writes the inner store has completed (to observe replies waiting for
// durability) or of reads (to let a read's answer arrive late), or garbles loaded snapshots (to exercise the fallback
// to a full replay).
//
// Writes are append, delete_up_to, save_snapshot, delete_snapshots, put_value and delete_value; reads are replay,
// highest_seq, load_snapshot, get_value, find_applied and ping. An injected failure never reaches the inner store; a
// lost outcome does (the write happens, its caller is told the outcome is unknown).
//
// Cluster coordination (cluster_coordination()) is the inner store's, untouched: no fault reaches it, and it is not
// held.
//
// Thread rules: every method may be called from any thread. Every callback, forwarded or injected, runs on one worker
// thread owned by the faulty_store (never on the caller's thread), and callbacks of the same persistence id (or value
// key) keep their issue order: an injected failure waits for earlier operations still in flight, and everything behind
// a held operation waits with it. close() releases held writes and reads, then closes the inner store.
#pragma once

#include <cstddef>
#include <memory>

#include "actorstate/persistence/store.hpp"

namespace actorstate::persistence {

class faulty_store final : public store {
public:
  explicit faulty_store(std::shared_ptr<store> inner);
  ~faulty_store() override;

  faulty_store(const faulty_store&) = delete;
  faulty_store& operator=(const faulty_store&) = delete;

  /// The next `n` writes (-1: every write until clear_faults()) fail with `c` without reaching the inner store.
  void fail_writes(status_code c, int n = -1);

  /// The next `n` reads (-1: every read until clear_faults()) fail with `c` without reaching the inner store.
  void fail_reads(status_code c, int n = -1);

  /// The next `n` writes (-1: every write until clear_faults()) reach the inner store, but whatever their outcome,
  /// they report `status_code::unknown_outcome`: a connection cut after the commit was sent.
  void lose_write_outcomes(int n = -1);

  /// Ends fail_writes, fail_reads and corrupt_snapshots; a hold stays until release_writes() / release_reads().
  void clear_faults();

  /// From now on, the callback of a write the inner store has completed is held until release_writes(). Writes that
  /// fail by injection are not held.
  void hold_writes();

  /// Stops holding and runs the held callbacks in order.
  void release_writes();

  /// Writes the inner store has completed whose callbacks are held.
  size_t held_writes() const;

  /// The same for reads: from now on, the callback of a read the inner store has completed is held until
  /// release_reads(). Reads that fail by injection are not held.
  void hold_reads();

  /// Stops holding reads and runs their held callbacks in order (a read behind a held write still waits for it).
  void release_reads();

  /// Reads the inner store has completed whose callbacks are held.
  size_t held_reads() const;

  /// While on, load_snapshot reports a found snapshot with its payload replaced by bytes that decode as nothing.
  void corrupt_snapshots(bool on);

  const std::shared_ptr<store>& inner() const { return inner_; }

  std::string name() const override;
  void append(std::string pid, std::vector<event> events, write_options options, callback<status> done) override;
  void replay(std::string pid, int64_t from, int64_t to, uint64_t max,
              callback<result<std::vector<event>>> done) override;
  void highest_seq(std::string pid, callback<result<int64_t>> done) override;
  void delete_up_to(std::string pid, int64_t to, callback<status> done) override;
  void save_snapshot(std::string pid, snapshot s, std::optional<write_fence> fence, callback<status> done) override;
  void load_snapshot(std::string pid, callback<result<std::optional<snapshot>>> done) override;
  void delete_snapshots(std::string pid, int64_t to, callback<status> done) override;
  void get_value(std::string key, callback<result<std::optional<stored_value>>> done) override;
  void put_value(std::string key, std::string type, std::string payload, int64_t expected_version,
                 write_options options, callback<result<int64_t>> done) override;
  void delete_value(std::string key, int64_t expected_version, write_options options, callback<status> done) override;
  void find_applied(applied_scope scope, std::string entity, std::string key,
                    callback<result<std::optional<std::string>>> done) override;
  void ping(callback<status> done) override;
  void close() override;
  coordination* cluster_coordination() override;

private:
  struct state;

  template <class R, class Forward>
  void route(std::string key, bool write, callback<R> done, Forward forward);

  // Shared with the callbacks handed to the inner store, which may outlive this object by a moment.
  std::shared_ptr<state> state_;
  std::shared_ptr<store> inner_;
};

}  // namespace actorstate::persistence
