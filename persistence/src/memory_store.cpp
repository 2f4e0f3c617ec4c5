#include "memory_store.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "checks.hpp"
#include "serial_executor.hpp"

namespace actorstate::persistence::detail {

namespace {

struct journal_data {
  std::map<int64_t, event> events;
  /// Kept apart from `events` because deletion must not lower it.
  int64_t highest = 0;
};

struct member_data {
  int64_t incarnation = 0;
  std::string address;
  member_state state = member_state::up;
  int64_t renewed_at_ms = 0;  ///< By clock_ms().
};

struct cluster_data {
  std::map<std::string, member_data> members;  ///< By id, so `members` lists them in id order.
  std::vector<shard_row> shards;               ///< Empty: not initialised.
};

/// The memory store's clock: this process's steady clock, which never jumps.
int64_t clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// An idempotency record: the reply and when it was stored (clock_ms()).
struct applied_record {
  std::string reply;
  int64_t at_ms = 0;
};

/// The records of one entity, by idempotency key.
using applied_key = std::pair<applied_scope, std::string>;

struct applied_key_hash {
  size_t operator()(const applied_key& k) const {
    return std::hash<std::string>{}(k.second) ^ static_cast<size_t>(k.first);
  }
};

/// One stored record in storage order, for pruning: its entity, key and time.
struct applied_entry {
  applied_key entity;
  std::string key;
  int64_t at_ms;
};

struct data {
  data(std::string cluster_name, std::chrono::milliseconds retention)
      : cluster(std::move(cluster_name)), retention_ms(retention.count()) {}

  const std::string cluster;  ///< store_options::cluster: the cluster whose epochs fence writes.
  const int64_t retention_ms;  ///< store_options::idempotency_retention; 0: no records.
  std::mutex mtx;
  std::unordered_map<std::string, journal_data> journals;
  std::unordered_map<std::string, std::map<int64_t, snapshot>> snapshots;
  std::unordered_map<std::string, stored_value> values;
  std::unordered_map<std::string, cluster_data> clusters;
  std::unordered_map<applied_key, std::unordered_map<std::string, applied_record>, applied_key_hash> applied;
  /// Every record in the order stored (the steady clock makes that age order); an entry whose record was replaced
  /// since is skipped when pruned.
  std::deque<applied_entry> applied_order;

  // Called with the write it belongs to, after that write succeeded and under the same lock: the pair is atomic.
  void record(applied_scope scope, const std::string& entity, const std::optional<applied_command>& applied_cmd) {
    if (!applied_cmd || retention_ms <= 0)
      return;
    auto now = clock_ms();
    prune(now);
    applied_key id{scope, entity};
    applied[id].insert_or_assign(applied_cmd->key, applied_record{applied_cmd->reply, now});
    applied_order.push_back(applied_entry{std::move(id), applied_cmd->key, now});
  }

  // Deletes the records older than the retention, oldest first.
  void prune(int64_t now) {
    while (!applied_order.empty() && now - applied_order.front().at_ms >= retention_ms) {
      auto& e = applied_order.front();
      auto records = applied.find(e.entity);
      if (records != applied.end()) {
        auto r = records->second.find(e.key);
        if (r != records->second.end() && r->second.at_ms == e.at_ms)
          records->second.erase(r);
        if (records->second.empty())
          applied.erase(records);
      }
      applied_order.pop_front();
    }
  }

  std::optional<std::string> find(applied_scope scope, const std::string& entity, const std::string& key) const {
    auto records = applied.find(applied_key{scope, entity});
    if (records == applied.end())
      return std::nullopt;
    auto r = records->second.find(key);
    if (r == records->second.end() || clock_ms() - r->second.at_ms >= retention_ms)
      return std::nullopt;
    return r->second.reply;
  }

  std::optional<member_row> member(const std::string& cluster_name, const std::string& id) const {
    auto c = clusters.find(cluster_name);
    if (c == clusters.end())
      return std::nullopt;
    auto m = c->second.members.find(id);
    if (m == c->second.members.end())
      return std::nullopt;
    return member_row{m->second.incarnation, m->second.state, clock_ms() - m->second.renewed_at_ms};
  }

  shard_row* shard(const std::string& cluster_name, uint32_t n) {
    auto c = clusters.find(cluster_name);
    if (c == clusters.end() || n >= c->second.shards.size())
      return nullptr;
    return &c->second.shards[n];
  }

  // Every write runs this first, under the data lock, so no claim can come between the check and the write.
  status check(const std::optional<write_fence>& fence) {
    if (!fence)
      return {};
    auto* row = shard(cluster, fence->shard);
    return check_fence(cluster, *fence, row != nullptr ? std::optional<int64_t>{row->epoch} : std::nullopt);
  }
};

std::optional<shard_row> row_of(const shard_row* row) {
  return row != nullptr ? std::optional<shard_row>{*row} : std::nullopt;
}

class memory_store final : public store, public coordination {
public:
  memory_store(std::string cluster, std::chrono::milliseconds retention)
      : data_(std::make_shared<data>(std::move(cluster), retention)) {}

  ~memory_store() override { close(); }

  std::string name() const override { return "memory"; }

  void append(std::string pid, std::vector<event> events, write_options options, callback<status> done) override {
    submit<status>(
        std::move(done),
        [pid = std::move(pid), events = std::move(events), options = std::move(options)](data& d) mutable -> status {
          if (auto st = d.check(options.fence); !st.ok())
            return st;
          if (auto st = check_batch(pid, events); !st.ok())
            return st;
          auto& j = d.journals[pid];
          if (auto st = check_next(pid, events, j.highest); !st.ok())
            return st;
          j.highest = events.back().seq;
          for (auto& e : events) {
            auto seq = e.seq;
            j.events.emplace(seq, std::move(e));
          }
          d.record(applied_scope::journal, pid, options.applied);
          return {};
        });
  }

  void replay(std::string pid, int64_t from, int64_t to, uint64_t max,
              callback<result<std::vector<event>>> done) override {
    using result_type = result<std::vector<event>>;
    submit<result_type>(std::move(done), [pid = std::move(pid), from, to, max](data& d) -> result_type {
      std::vector<event> out;
      auto j = d.journals.find(pid);
      if (j == d.journals.end() || max == 0 || from > to)
        return out;
      for (auto i = j->second.events.lower_bound(from); i != j->second.events.end() && i->first <= to; ++i) {
        out.push_back(i->second);
        if (out.size() == max)
          break;
      }
      return out;
    });
  }

  void highest_seq(std::string pid, callback<result<int64_t>> done) override {
    submit<result<int64_t>>(std::move(done), [pid = std::move(pid)](data& d) -> result<int64_t> {
      auto j = d.journals.find(pid);
      return j == d.journals.end() ? int64_t{0} : j->second.highest;
    });
  }

  void delete_up_to(std::string pid, int64_t to, callback<status> done) override {
    submit<status>(std::move(done), [pid = std::move(pid), to](data& d) -> status {
      auto j = d.journals.find(pid);
      if (j != d.journals.end()) {
        auto& events = j->second.events;
        events.erase(events.begin(), events.upper_bound(to));
      }
      return {};
    });
  }

  void save_snapshot(std::string pid, snapshot s, std::optional<write_fence> fence, callback<status> done) override {
    submit<status>(std::move(done), [pid = std::move(pid), s = std::move(s), fence](data& d) mutable -> status {
      if (auto st = d.check(fence); !st.ok())
        return st;
      auto seq = s.seq;
      d.snapshots[pid].insert_or_assign(seq, std::move(s));
      return {};
    });
  }

  void load_snapshot(std::string pid, callback<result<std::optional<snapshot>>> done) override {
    using result_type = result<std::optional<snapshot>>;
    submit<result_type>(std::move(done), [pid = std::move(pid)](data& d) -> result_type {
      auto i = d.snapshots.find(pid);
      if (i == d.snapshots.end() || i->second.empty())
        return std::optional<snapshot>{};
      return std::optional<snapshot>{i->second.rbegin()->second};
    });
  }

  void delete_snapshots(std::string pid, int64_t to, callback<status> done) override {
    submit<status>(std::move(done), [pid = std::move(pid), to](data& d) -> status {
      auto i = d.snapshots.find(pid);
      if (i != d.snapshots.end()) {
        i->second.erase(i->second.begin(), i->second.upper_bound(to));
        if (i->second.empty())
          d.snapshots.erase(i);
      }
      return {};
    });
  }

  void get_value(std::string key, callback<result<std::optional<stored_value>>> done) override {
    using result_type = result<std::optional<stored_value>>;
    submit<result_type>(std::move(done), [key = std::move(key)](data& d) -> result_type {
      auto i = d.values.find(key);
      if (i == d.values.end())
        return std::optional<stored_value>{};
      return std::optional<stored_value>{i->second};
    });
  }

  void put_value(std::string key, std::string type, std::string payload, int64_t expected_version,
                 write_options options, callback<result<int64_t>> done) override {
    submit<result<int64_t>>(
        std::move(done),
        [key = std::move(key), type = std::move(type), payload = std::move(payload), expected_version,
         options = std::move(options)](data& d) mutable -> result<int64_t> {
          if (auto st = d.check(options.fence); !st.ok())
            return st;
          auto i = d.values.find(key);
          int64_t current = i == d.values.end() ? 0 : i->second.version;
          if (auto st = check_version("put", key, expected_version, current); !st.ok())
            return st;
          d.values.insert_or_assign(key, stored_value{std::move(type), std::move(payload), current + 1});
          d.record(applied_scope::value, key, options.applied);
          return current + 1;
        });
  }

  void delete_value(std::string key, int64_t expected_version, write_options options, callback<status> done) override {
    submit<status>(std::move(done),
                   [key = std::move(key), expected_version, options = std::move(options)](data& d) -> status {
                     if (auto st = d.check(options.fence); !st.ok())
                       return st;
                     auto i = d.values.find(key);
                     int64_t current = i == d.values.end() ? 0 : i->second.version;
                     if (auto st = check_version("delete", key, expected_version, current); !st.ok())
                       return st;
                     if (i != d.values.end())
                       d.values.erase(i);
                     d.record(applied_scope::value, key, options.applied);
                     return {};
                   });
  }

  void find_applied(applied_scope scope, std::string entity, std::string key,
                    callback<result<std::optional<std::string>>> done) override {
    using result_type = result<std::optional<std::string>>;
    submit<result_type>(std::move(done),
                        [scope, entity = std::move(entity), key = std::move(key)](data& d) -> result_type {
                          return d.find(scope, entity, key);
                        });
  }

  void ping(callback<status> done) override {
    submit<status>(std::move(done), [](data&) { return status{}; });
  }

  void close() override {
    {
      std::lock_guard guard{closed_mtx_};
      closed_ = true;
    }
    worker_.drain();
  }

  coordination* cluster_coordination() override { return this; }

  // -- coordination ---------------------------------------------------------------------------------------------------

  void init_cluster(std::string cluster, uint32_t shards, callback<result<uint32_t>> done) override {
    submit<result<uint32_t>>(std::move(done), [cluster = std::move(cluster), shards](data& d) -> result<uint32_t> {
      if (auto st = check_shard_count(cluster, shards); !st.ok())
        return st;
      auto& c = d.clusters[cluster];
      if (c.shards.empty())
        c.shards.resize(shards);
      return static_cast<uint32_t>(c.shards.size());
    });
  }

  void join(std::string cluster, std::string id, std::string address, callback<result<int64_t>> done) override {
    submit<result<int64_t>>(std::move(done),
                            [cluster = std::move(cluster), id = std::move(id),
                             address = std::move(address)](data& d) mutable -> result<int64_t> {
                              auto& m = d.clusters[cluster].members[id];
                              m = member_data{m.incarnation + 1, std::move(address), member_state::up, clock_ms()};
                              return m.incarnation;
                            });
  }

  void renew(std::string cluster, std::string id, int64_t incarnation, callback<status> done) override {
    submit<status>(std::move(done), [cluster = std::move(cluster), id = std::move(id), incarnation](data& d) -> status {
      if (auto st = check_renew(cluster, id, incarnation, d.member(cluster, id)); !st.ok())
        return st;
      d.clusters[cluster].members[id].renewed_at_ms = clock_ms();
      return {};
    });
  }

  void leave(std::string cluster, std::string id, int64_t incarnation, callback<status> done) override {
    submit<status>(std::move(done), [cluster = std::move(cluster), id = std::move(id), incarnation](data& d) -> status {
      auto current = d.member(cluster, id);
      bool owns = false;
      if (current) {
        const auto& shards = d.clusters[cluster].shards;
        owns = std::any_of(shards.begin(), shards.end(), [&](const shard_row& row) {
          return row.owner == id && row.owner_incarnation == incarnation;
        });
      }
      auto action = decide_leave(cluster, id, incarnation, current, owns);
      if (!action.ok())
        return action.error();
      if (action.value() != leave_action::none)
        d.clusters[cluster].members[id].state =
            action.value() == leave_action::remove ? member_state::left : member_state::leaving;
      return {};
    });
  }

  // Members sharing a memory store share a process: no token can tell one of them gone (coordination.hpp).
  void confirm_gone(std::string, std::string, int64_t, callback<result<bool>> done) override {
    submit<result<bool>>(std::move(done), [](data&) -> result<bool> { return false; });
  }

  void members(std::string cluster, callback<result<std::vector<member_record>>> done) override {
    using result_type = result<std::vector<member_record>>;
    submit<result_type>(std::move(done), [cluster = std::move(cluster)](data& d) -> result_type {
      std::vector<member_record> out;
      auto c = d.clusters.find(cluster);
      if (c == d.clusters.end())
        return out;
      auto now = clock_ms();
      for (const auto& [id, m] : c->second.members)
        if (m.state != member_state::left)
          out.push_back(member_record{id, m.incarnation, m.address, public_status(m.state), now - m.renewed_at_ms});
      return out;
    });
  }

  void shard_owners(std::string cluster, callback<result<std::vector<shard_owner>>> done) override {
    using result_type = result<std::vector<shard_owner>>;
    submit<result_type>(std::move(done), [cluster = std::move(cluster)](data& d) -> result_type {
      std::vector<shard_owner> out;
      auto c = d.clusters.find(cluster);
      if (c == d.clusters.end())
        return out;
      uint32_t n = 0;
      for (const auto& row : c->second.shards)
        out.push_back(shard_owner{n++, row.owner, row.owner_incarnation, row.epoch});
      return out;
    });
  }

  void claim_shard(std::string cluster, uint32_t shard, std::string id, int64_t incarnation, int64_t expected_epoch,
                   std::chrono::milliseconds takeover_after, callback<result<int64_t>> done) override {
    submit<result<int64_t>>(std::move(done),
                            [cluster = std::move(cluster), shard, id = std::move(id), incarnation, expected_epoch,
                             takeover_after](data& d) -> result<int64_t> {
                              auto* row = d.shard(cluster, shard);
                              std::optional<member_row> owner;
                              if (row != nullptr && !row->owner.empty())
                                owner = d.member(cluster, row->owner);
                              if (auto st = check_claim(cluster, shard, row_of(row), id, incarnation, expected_epoch,
                                                        takeover_after, d.member(cluster, id), owner);
                                  !st.ok())
                                return st;
                              *row = shard_row{id, incarnation, row->epoch + 1};
                              return row->epoch;
                            });
  }

  void release_shard(std::string cluster, uint32_t shard, std::string id, int64_t incarnation, int64_t epoch,
                     callback<result<int64_t>> done) override {
    submit<result<int64_t>>(
        std::move(done),
        [cluster = std::move(cluster), shard, id = std::move(id), incarnation, epoch](data& d) -> result<int64_t> {
          auto* row = d.shard(cluster, shard);
          if (auto st = check_release(cluster, shard, row_of(row), id, incarnation, epoch); !st.ok())
            return st;
          *row = shard_row{{}, 0, epoch + 1};
          return row->epoch;
        });
  }

private:
  // Runs `op` on the worker under the data lock, then `done` outside of it. Posting while holding closed_mtx_ orders
  // every accepted operation before close()'s drain.
  template <class R, class F>
  void submit(callback<R> done, F op) {
    std::lock_guard guard{closed_mtx_};
    if (closed_) {
      worker_.post([done = std::move(done)] {
        if (done)
          done(R(closed_status("memory")));
      });
      return;
    }
    worker_.post([d = data_, op = std::move(op), done = std::move(done)]() mutable {
      auto outcome = [&] {
        std::lock_guard data_guard{d->mtx};
        return R(op(*d));
      }();
      if (done)
        done(std::move(outcome));
    });
  }

  std::shared_ptr<data> data_;
  std::mutex closed_mtx_;
  bool closed_ = false;
  // Last member: destroyed (joined) first, while the rest is still alive.
  serial_executor worker_;
};

}  // namespace

std::shared_ptr<store> make_memory_store(const store_options& options) {
  return std::make_shared<memory_store>(options.cluster, options.idempotency_retention);
}

}  // namespace actorstate::persistence::detail
