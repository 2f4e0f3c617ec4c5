#include "memory_store.hpp"

#include <algorithm>
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

struct data {
  std::mutex mtx;
  std::unordered_map<std::string, journal_data> journals;
  std::unordered_map<std::string, std::map<int64_t, snapshot>> snapshots;
  std::unordered_map<std::string, stored_value> values;
};

class memory_store final : public store {
public:
  memory_store() : data_(std::make_shared<data>()) {}

  ~memory_store() override { close(); }

  std::string name() const override { return "memory"; }

  void append(std::string pid, std::vector<event> events, callback<status> done) override {
    submit<status>(std::move(done), [pid = std::move(pid), events = std::move(events)](data& d) mutable -> status {
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

  void save_snapshot(std::string pid, snapshot s, callback<status> done) override {
    submit<status>(std::move(done), [pid = std::move(pid), s = std::move(s)](data& d) mutable -> status {
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
                 callback<result<int64_t>> done) override {
    submit<result<int64_t>>(
        std::move(done),
        [key = std::move(key), type = std::move(type), payload = std::move(payload),
         expected_version](data& d) mutable -> result<int64_t> {
          auto i = d.values.find(key);
          int64_t current = i == d.values.end() ? 0 : i->second.version;
          if (auto st = check_version("put", key, expected_version, current); !st.ok())
            return st;
          d.values.insert_or_assign(key, stored_value{std::move(type), std::move(payload), current + 1});
          return current + 1;
        });
  }

  void delete_value(std::string key, int64_t expected_version, callback<status> done) override {
    submit<status>(std::move(done), [key = std::move(key), expected_version](data& d) -> status {
      auto i = d.values.find(key);
      int64_t current = i == d.values.end() ? 0 : i->second.version;
      if (auto st = check_version("delete", key, expected_version, current); !st.ok())
        return st;
      if (i != d.values.end())
        d.values.erase(i);
      return {};
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

std::shared_ptr<store> make_memory_store() {
  return std::make_shared<memory_store>();
}

}  // namespace actorstate::persistence::detail
