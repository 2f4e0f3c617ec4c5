#include "actorstate/cluster/member.hpp"

#include <algorithm>
#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <optional>

#include <caf/all.hpp>

#include "actorstate/cluster/control.hpp"
#include "actorstate/cluster/placement.hpp"
#include "actorstate/ops/log.hpp"
#include "actorstate/persistence/coordination.hpp"
#include "actorstate/runtime/lease.hpp"
#include "actorstate/runtime/post.hpp"
#include "actorstate/runtime/shard_control.hpp"

namespace actorstate::cluster {

namespace {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

/// What this member does with one shard; `claiming` and `handing_over` wait for the store.
enum class shard_state { none, claiming, serving, handing_over };

/// What the member last told the shard control about a shard it does not serve, so a reading that changes nothing
/// sends nothing.
struct route_applied {
  enum class kind { unknown, hold, route } what = kind::unknown;
  std::string address;
  friend bool operator==(const route_applied&, const route_applied&) = default;
};

int64_t ms_between(clock::time_point from, clock::time_point to) {
  return std::chrono::duration_cast<milliseconds>(to - from).count();
}

/// Waits for one store answer on a thread that is not the store's (start-up only).
template <class T>
std::optional<T> wait_for(std::future<T>& answer, milliseconds within) {
  if (answer.wait_for(within) != std::future_status::ready)
    return std::nullopt;
  return answer.get();
}

}  // namespace

struct member::impl : std::enable_shared_from_this<member::impl> {
  impl(persistence::coordination& c, runtime::shard_control& s, member_options o)
      : coord(c), control(s), opts(std::move(o)) {}

  persistence::coordination& coord;
  runtime::shard_control& control;
  member_options opts;
  caf::actor loop;
  caf::event_based_actor* self = nullptr;  // the loop's own pointer, used only on its thread
  std::atomic<bool> stopped{false};

  // The loop's state: touched only on the loop actor's thread (every store callback posts back to it).
  int64_t incarnation_ = 0;
  std::vector<shard_state> local_;
  std::vector<int64_t> epoch_;  // the epoch a shard serves (or hands over) at
  std::vector<route_applied> applied_;
  std::vector<std::optional<clock::time_point>> ownerless_since_;
  clock::time_point lease_until_;
  bool renewing_ = false;
  bool reading_ = false;
  bool read_again_ = false;
  bool leaving_ = false;
  bool left_ = false;
  bool rejoining_ = false;
  bool renew_failing_ = false;
  bool lease_expired_ = false;  // the lease ran out and the member has not renewed since
  std::vector<persistence::member_record> last_members_;  // the last reading's members (for nudges)
  std::optional<clock::time_point> extra_read_at_;        // a read scheduled for when a takeover becomes possible
  std::vector<std::shared_ptr<std::promise<status>>> leave_waiters_;
  size_t claims_in_flight_ = 0;  // claims sent, not answered yet
  bool claimed_since_nudge_ = false;
  bool announced_ = false;  // the others were told to read after this incarnation's first reading
  // forget_long_down: per member id, the incarnation last asked about and when it may be asked again.
  std::map<std::string, std::pair<int64_t, clock::time_point>> asked_gone_;

  // Shared with readers on other threads.
  mutable std::mutex mtx_;
  cluster_view view_;
  member_counters counters_;

  milliseconds renew_interval() const { return std::max(milliseconds{10}, opts.failure_timeout / 3); }
  milliseconds takeover_after() const { return opts.failure_timeout + opts.takeover_margin; }

  /// Runs `fn` on the loop's thread (from a store callback, a shard's completion or a public method).
  template <class F>
  void post(F fn) {
    std::weak_ptr<impl> weak = shared_from_this();
    detail::post(loop, [weak, fn = std::move(fn)]() mutable {
      if (auto me = weak.lock(); me && !me->stopped.load())
        fn(*me);
    });
  }

  void schedule_tick() {
    // Also after leaving: the node still drains its calls, and commands held for shards it handed over go to their
    // new owners only once a reading names them.
    if (self == nullptr)
      return;
    std::weak_ptr<impl> weak = shared_from_this();
    self->delayed_send(self, renew_interval(), detail::continuation{[weak] {
                         if (auto me = weak.lock(); me && !me->stopped.load())
                           me->tick();
                       }});
  }

  void tick() {
    if (left_) {
      read();
    } else {
      check_lease();
      if (!renewing_ && !rejoining_)
        renew();
    }
    schedule_tick();
  }

  void renew() {
    renewing_ = true;
    auto sent = clock::now();
    auto inc = incarnation_;
    coord.renew(opts.cluster, opts.id, inc, [this_ = shared_from_this(), sent, inc](status st) {
      this_->post([sent, inc, st = std::move(st)](impl& me) { me.on_renewed(sent, inc, st); });
    });
  }

  void on_renewed(clock::time_point sent, int64_t inc, const status& st) {
    renewing_ = false;
    if (inc != incarnation_)
      return;  // an answer for an incarnation that was replaced meanwhile
    if (st.ok()) {
      // A lease that ran out before this answer came is not revived for what was served under it.
      check_lease();
      // Counted from when the renewal was sent, which is no later than when the store stamped it: the others count
      // from the stamp, so this member stops serving first.
      extend_lease(sent + opts.failure_timeout - opts.self_fence_margin);
      if (renew_failing_) {
        log::info("cluster membership renewed again", {{"member", opts.id}});
        renew_failing_ = false;
      }
      read();
      return;
    }
    if (st.code() == status_code::conflict) {
      superseded(st);
      return;
    }
    if (!renew_failing_) {
      log::warn("cannot renew the cluster membership; serving until the lease runs out",
                {{"member", opts.id}, {"error", st.to_string()}});
      renew_failing_ = true;
    }
  }

  void extend_lease(clock::time_point until) {
    lease_until_ = std::max(lease_until_, until);
    lease_expired_ = false;
    if (opts.lease)
      opts.lease->extend(lease_until_);
  }

  /// The lease ran out before a renewal got through: others may take the shards soon, so serve none of them.
  void check_lease() {
    if (clock::now() < lease_until_ || lease_expired_)
      return;
    lease_expired_ = true;
    // The entities stop answering at the lease's end by themselves (they check it); expiring it here makes sure a
    // later renewal does not revive what was served before.
    if (opts.lease)
      opts.lease->expire();
    bool dropped = false;
    for (uint32_t i = 0; i < local_.size(); ++i) {
      if (local_[i] == shard_state::serving || local_[i] == shard_state::handing_over) {
        drop(i);
        dropped = true;
      }
    }
    if (dropped) {
      log::error("cluster lease ran out before a renewal was confirmed; stopped serving every shard",
                 {{"member", opts.id}, {"failure_timeout_ms", std::to_string(opts.failure_timeout.count())}});
      std::lock_guard<std::mutex> guard{mtx_};
      ++counters_.self_fences;
    }
  }

  void drop(uint32_t i) {
    control.drop(i);
    local_[i] = shard_state::none;
    applied_[i] = {route_applied::kind::hold, {}};
    std::lock_guard<std::mutex> guard{mtx_};
    ++counters_.drops;
  }

  /// The store answered `conflict` to a renewal: a newer incarnation of this id joined, or this one was removed.
  void superseded(const status& why) {
    for (uint32_t i = 0; i < local_.size(); ++i)
      if (local_[i] == shard_state::serving || local_[i] == shard_state::handing_over)
        drop(i);
    if (leaving_) {
      finish_leave(status{});
      return;
    }
    log::error("this cluster member was superseded; joining again as a new incarnation",
               {{"member", opts.id}, {"error", why.message()}});
    rejoining_ = true;
    auto sent = clock::now();
    coord.join(opts.cluster, opts.id, opts.address, [this_ = shared_from_this(), sent](result<int64_t> r) {
      this_->post([sent, r = std::move(r)](impl& me) mutable {
        me.rejoining_ = false;
        if (!r.ok()) {
          log::warn("cannot join the cluster again; retrying",
                    {{"member", me.opts.id}, {"error", r.error().to_string()}});
          return;  // the next tick renews, fails with conflict, and tries again
        }
        me.incarnation_ = r.value();
        me.announced_ = false;
        me.extend_lease(sent + me.opts.failure_timeout - me.opts.self_fence_margin);
        {
          std::lock_guard<std::mutex> guard{me.mtx_};
          me.view_.incarnation = me.incarnation_;
        }
        log::info("joined the cluster", {{"member", me.opts.id}, {"incarnation", std::to_string(me.incarnation_)}});
        me.read();
      });
    });
  }

  void read() {
    if (reading_) {
      read_again_ = true;
      return;
    }
    reading_ = true;
    read_again_ = false;
    coord.members(opts.cluster, [this_ = shared_from_this()](result<std::vector<persistence::member_record>> m) {
      if (!m.ok()) {
        this_->post([m = std::move(m)](impl& me) { me.on_read_failed(m.error()); });
        return;
      }
      this_->coord.shard_owners(this_->opts.cluster, [this_, members = std::move(m.value())](
                                                         result<std::vector<persistence::shard_owner>> s) {
        this_->post([members, s = std::move(s)](impl& me) mutable {
          if (!s.ok()) {
            me.on_read_failed(s.error());
            return;
          }
          me.on_read(members, s.value());
        });
      });
    });
  }

  /// A member whose renewal is older than the failure timeout but not yet older than the takeover time holds shards
  /// nobody may claim yet: read again the moment the store will let a claim through, rather than at the next tick
  /// (up to a renewal interval later).
  void schedule_takeover_read(const std::vector<persistence::member_record>& members,
                              const std::vector<persistence::shard_owner>& owners) {
    std::optional<milliseconds> soonest;
    for (const auto& m : members) {
      if (m.id == opts.id || m.age_ms < opts.failure_timeout.count() || m.age_ms >= takeover_after().count())
        continue;
      bool owns = std::any_of(owners.begin(), owners.end(),
                              [&](const auto& o) { return o.owner == m.id && o.owner_incarnation == m.incarnation; });
      if (!owns)
        continue;
      auto wait = milliseconds{takeover_after().count() - m.age_ms} + milliseconds{20};
      if (!soonest || wait < *soonest)
        soonest = wait;
    }
    if (!soonest || self == nullptr)
      return;
    auto at = clock::now() + *soonest;
    if (extra_read_at_ && *extra_read_at_ <= at && *extra_read_at_ > clock::now())
      return;  // one is scheduled already, sooner
    extra_read_at_ = at;
    std::weak_ptr<impl> weak = shared_from_this();
    self->delayed_send(self, *soonest, detail::continuation{[weak] {
                         if (auto me = weak.lock(); me && !me->stopped.load()) {
                           me->extra_read_at_.reset();
                           me->read();
                         }
                       }});
  }

  /// A peer's node-to-node connection closed. If its process is gone (the store finds its liveness token free), the
  /// store removes it and its shards can be claimed now rather than after the failure timeout; a peer that is only
  /// cut off or paused still holds its token and waits it out. Either way, read again.
  void on_peer_lost(const std::string& address, int attempt = 0) {
    const persistence::member_record* lost = nullptr;
    for (const auto& m : last_members_)
      if (m.address == address && m.id != opts.id)
        lost = &m;
    if (lost == nullptr || leaving_) {
      read();
      return;
    }
    auto id = lost->id;
    auto inc = lost->incarnation;
    coord.confirm_gone(
        opts.cluster, id, inc, [this_ = shared_from_this(), id, inc, address, attempt](result<bool> gone) {
          this_->post([id, inc, address, attempt, gone = std::move(gone)](impl& me) {
            if (gone.ok() && gone.value()) {
              log::warn("cluster member gone: its process no longer holds its liveness token; taking its shards now",
                        {{"member", me.opts.id}, {"gone", id}, {"incarnation", std::to_string(inc)}});
              std::lock_guard<std::mutex> guard{me.mtx_};
              ++me.counters_.crashes_confirmed;
            } else if (attempt < 4 && me.self != nullptr) {
              // The connection closed before the database noticed the process's own connection close (its server
              // process exits a moment later and only then frees the token): ask again shortly, five times in 1.5 s.
              std::weak_ptr<impl> weak = me.shared_from_this();
              me.self->delayed_send(me.self, milliseconds{100 * (attempt + 1)},
                                    detail::continuation{[weak, address, attempt] {
                                      if (auto again = weak.lock(); again && !again->stopped.load())
                                        again->on_peer_lost(address, attempt + 1);
                                    }});
            }
            me.read();
          });
        });
  }

  /// Members not renewed for forget_down_after are asked about, each incarnation once per that interval: if the
  /// process is gone (its liveness token is free), the store removes it, so /cluster stops listing a crashed member
  /// forever. on_peer_lost confirms most crashes at once; this catches members whose connection this one never saw
  /// close. A member that is only cut off keeps its token and stays listed as down.
  void forget_long_down(const std::vector<persistence::member_record>& members) {
    auto now = clock::now();
    // Ids no longer listed are forgotten here too, so the map stays bounded.
    std::erase_if(asked_gone_, [&](const auto& asked) {
      return std::none_of(members.begin(), members.end(), [&](const auto& m) { return m.id == asked.first; });
    });
    for (const auto& m : members) {
      if (m.id == opts.id || m.age_ms < opts.forget_down_after.count())
        continue;
      auto& entry = asked_gone_[m.id];
      if (entry.first == m.incarnation && now < entry.second)
        continue;
      entry = {m.incarnation, now + opts.forget_down_after};
      coord.confirm_gone(opts.cluster, m.id, m.incarnation,
                         [this_ = shared_from_this(), id = m.id, inc = m.incarnation](result<bool> gone) {
                           if (!gone.ok() || !gone.value())
                             return;
                           this_->post([id, inc](impl& me) {
                             log::info("forgot a cluster member that stopped renewing long ago: its process is gone",
                                       {{"member", me.opts.id}, {"forgot", id}, {"incarnation", std::to_string(inc)}});
                             {
                               std::lock_guard<std::mutex> guard{me.mtx_};
                               ++me.counters_.down_members_forgotten;
                             }
                             me.read();
                           });
                         });
    }
  }

  /// After releasing a shard: tell the member placement prefers for it to read now, so it claims the shard at once
  /// instead of at its next tick.
  void nudge_next_owner(uint32_t i) {
    if (!opts.nudge)
      return;
    std::vector<std::string> candidates;
    for (const auto& m : last_members_)
      if (m.id != opts.id && m.status == persistence::member_status::up && m.age_ms < opts.failure_timeout.count())
        candidates.push_back(m.id);
    auto next = preferred_owner(i, candidates);
    for (const auto& m : last_members_)
      if (m.id == next && !next.empty())
        opts.nudge(m.address);
  }

  void on_read_failed(const status& why) {
    reading_ = false;
    log::debug("cannot read the cluster's state", {{"member", opts.id}, {"error", why.to_string()}});
    if (read_again_)
      read();
  }

  void on_read(const std::vector<persistence::member_record>& members,
               const std::vector<persistence::shard_owner>& owners) {
    reading_ = false;
    decide_input in;
    in.self = opts.id;
    in.incarnation = incarnation_;
    in.leaving = leaving_;
    in.failure_timeout = opts.failure_timeout;
    in.max_rebalance = opts.max_rebalance;
    for (const auto& m : members)
      in.members.push_back({m.id, m.incarnation, m.address, m.status == persistence::member_status::leaving, m.age_ms});
    for (const auto& s : owners)
      in.shards.push_back({s.shard, s.owner, s.owner_incarnation, s.epoch});
    in.local.resize(local_.size(), local_shard::none);
    for (uint32_t i = 0; i < local_.size(); ++i) {
      if (local_[i] == shard_state::serving)
        in.local[i] = local_shard::serving;
      else if (local_[i] == shard_state::handing_over)
        in.local[i] = local_shard::handing_over;
    }
    auto plan = decide(in);
    apply(plan, owners);
    publish(members, owners);
    forget_long_down(members);
    last_members_ = members;
    if (!announced_) {
      // A member that just joined: the others read now and start handing shards over to it, rather than at their
      // next renewal.
      announced_ = true;
      nudge_peers();
    }
    schedule_takeover_read(members, owners);
    if (leaving_)
      maybe_finish_leave(owners);
    if (read_again_)
      read();
  }

  void apply(const decision& plan, const std::vector<persistence::shard_owner>& owners) {
    auto now = clock::now();
    bool lease_valid = now < lease_until_;
    for (auto i : plan.drop) {
      log::warn("shard taken over by another member; dropped it", {{"member", opts.id}, {"shard", std::to_string(i)}});
      drop(i);
    }
    for (auto i : plan.hand_over) {
      if (local_[i] != shard_state::serving)
        continue;
      local_[i] = shard_state::handing_over;
      auto epoch = epoch_[i];
      control.hand_over(i, [this_ = shared_from_this(), i, epoch] {
        this_->post([i, epoch](impl& me) { me.on_handed_over(i, epoch); });
      });
    }
    for (const auto& c : plan.claim) {
      if (!lease_valid || local_[c.shard] != shard_state::none)
        continue;
      // A shard claimed has no live owner to send its commands to (placement routes it nowhere): they wait here until
      // the claim is back. Left routed as it was, a shard taken from a silent member kept forwarding to it through the
      // refused claims (the store lets one through only at the takeover time, up to a renewal interval after the
      // first), and each such forward waited on the dead link: in flight until the link was known lost, or in a dial
      // that had to fail first (about a second for a stopped process), even after the shard was served here.
      set_route(c.shard, {route_applied::kind::hold, {}});
      local_[c.shard] = shard_state::claiming;
      ++claims_in_flight_;
      bool takeover = false;
      for (const auto& o : owners)
        if (o.shard == c.shard)
          takeover = !o.owner.empty() && o.owner != opts.id;
      auto i = c.shard;
      coord.claim_shard(
          opts.cluster, i, opts.id, incarnation_, c.expected_epoch, takeover_after(),
          [this_ = shared_from_this(), i, takeover, inc = incarnation_](result<int64_t> r) {
            this_->post([i, takeover, inc, r = std::move(r)](impl& me) { me.on_claimed(i, inc, takeover, r); });
          });
    }
    for (const auto& r : plan.routes) {
      auto i = r.shard;
      if (i >= local_.size())
        continue;
      if (r.owner.empty()) {
        if (!ownerless_since_[i])
          ownerless_since_[i] = now;
      } else if (r.owner != opts.id) {
        ownerless_since_[i].reset();
      }
      if (local_[i] != shard_state::none)
        continue;  // served, being claimed or handed over: the shard's own state says what happens to commands
      if (r.owner.empty() || r.owner == opts.id)
        set_route(i, {route_applied::kind::hold, {}});
      else
        set_route(i, {route_applied::kind::route, r.address});
    }
  }

  /// Tells the shard where its commands go (held here, or forwarded to an address), unless it was told so already.
  void set_route(uint32_t i, route_applied want) {
    if (want == applied_[i])
      return;
    if (want.what == route_applied::kind::hold)
      control.hold(i);
    else
      control.route(i, want.address);
    applied_[i] = std::move(want);
  }

  void on_claimed(uint32_t i, int64_t inc, bool takeover, const result<int64_t>& r) {
    --claims_in_flight_;
    serve_claimed(i, inc, takeover, r);
    if (claims_in_flight_ == 0 && claimed_since_nudge_) {
      claimed_since_nudge_ = false;
      nudge_peers();
    }
  }

  /// After a reading's claims are answered and some succeeded: every other live member reads now, so that its routes
  /// name this member at once instead of after its next renewal (until then it holds the shard's commands, or sends
  /// them to the old owner, which holds them too). Without it, a takeover or a handover stalled the shard's clients
  /// on the other members for up to a renewal interval (about 0.9 s of a 1 s interval in the kill9 scenario).
  void nudge_peers() {
    if (!opts.nudge)
      return;
    for (const auto& m : last_members_)
      if (m.id != opts.id && m.age_ms < opts.failure_timeout.count())
        opts.nudge(m.address);
  }

  void serve_claimed(uint32_t i, int64_t inc, bool takeover, const result<int64_t>& r) {
    if (local_[i] != shard_state::claiming)
      return;
    local_[i] = shard_state::none;
    if (!r.ok()) {
      // Someone else got it, or the old owner is not silent long enough yet: the next reading tells.
      log::debug("shard claim refused",
                 {{"member", opts.id}, {"shard", std::to_string(i)}, {"error", r.error().to_string()}});
      return;
    }
    if (inc != incarnation_ || clock::now() >= lease_until_) {
      // Claimed for an incarnation that is gone, or the lease ran out meanwhile: do not serve. The store says this
      // member owns it; the next reading claims it again (at a new epoch) once renewals get through.
      return;
    }
    local_[i] = shard_state::serving;
    epoch_[i] = r.value();
    applied_[i] = {};
    control.serve(i, r.value());
    claimed_since_nudge_ = true;
    std::lock_guard<std::mutex> guard{mtx_};
    ++counters_.claims;
    if (takeover)
      ++counters_.takeovers;
    if (ownerless_since_[i]) {
      if (takeover)
        counters_.last_takeover_ms = ms_between(*ownerless_since_[i], clock::now());
      ownerless_since_[i].reset();
    }
  }

  void on_handed_over(uint32_t i, int64_t epoch) {
    if (local_[i] != shard_state::handing_over || epoch_[i] != epoch)
      return;  // dropped meanwhile
    coord.release_shard(opts.cluster, i, opts.id, incarnation_, epoch,
                        [this_ = shared_from_this(), i, epoch](result<int64_t> r) {
                          this_->post([i, epoch, r = std::move(r)](impl& me) { me.on_released(i, epoch, r); });
                        });
  }

  void on_released(uint32_t i, int64_t epoch, const result<int64_t>& r) {
    if (local_[i] != shard_state::handing_over || epoch_[i] != epoch)
      return;
    // Released or not (conflict: taken over meanwhile), the shard's instances are down and it holds its commands.
    local_[i] = shard_state::none;
    applied_[i] = {route_applied::kind::hold, {}};
    if (!r.ok())
      log::warn("cannot release a handed-over shard",
                {{"member", opts.id}, {"shard", std::to_string(i)}, {"error", r.error().to_string()}});
    {
      std::lock_guard<std::mutex> guard{mtx_};
      ++counters_.handovers;
    }
    if (r.ok())
      nudge_next_owner(i);
    read();  // the next handover, and the new owner's route
  }

  void begin_leave(std::shared_ptr<std::promise<status>> waiter) {
    if (left_) {
      waiter->set_value(status{});
      return;
    }
    leave_waiters_.push_back(std::move(waiter));
    if (leaving_)
      return;
    leaving_ = true;
    log::info("leaving the cluster: handing shards over", {{"member", opts.id}});
    coord.leave(opts.cluster, opts.id, incarnation_, [this_ = shared_from_this()](status st) {
      this_->post([st = std::move(st)](impl& me) {
        if (!st.ok())
          log::warn("cannot mark this member leaving", {{"member", me.opts.id}, {"error", st.to_string()}});
        me.read();
      });
    });
  }

  void maybe_finish_leave(const std::vector<persistence::shard_owner>& owners) {
    if (left_)
      return;
    for (auto s : local_)
      if (s != shard_state::none)
        return;
    for (const auto& o : owners)
      if (o.owner == opts.id && o.owner_incarnation == incarnation_)
        return;
    coord.leave(opts.cluster, opts.id, incarnation_, [this_ = shared_from_this()](status st) {
      this_->post([st = std::move(st)](impl& me) {
        if (!st.ok()) {
          log::warn("cannot leave the cluster", {{"member", me.opts.id}, {"error", st.to_string()}});
          return;  // the next reading tries again
        }
        me.finish_leave(status{});
      });
    });
  }

  void finish_leave(status st) {
    if (!left_)
      log::info("left the cluster", {{"member", opts.id}});
    left_ = true;
    for (auto& w : leave_waiters_)
      w->set_value(st);
    leave_waiters_.clear();
  }

  /// The leave took too long: give up what is left (the others take it over after the failure timeout).
  void abandon_leave() {
    for (uint32_t i = 0; i < local_.size(); ++i)
      if (local_[i] == shard_state::serving || local_[i] == shard_state::handing_over)
        drop(i);
    left_ = true;
    leave_waiters_.clear();
  }

  void publish(const std::vector<persistence::member_record>& members,
               const std::vector<persistence::shard_owner>& owners) {
    std::map<std::string, size_t> owned;
    for (const auto& o : owners)
      if (!o.owner.empty())
        ++owned[o.owner + "#" + std::to_string(o.owner_incarnation)];
    std::vector<cluster_view::member> out;
    for (const auto& m : members) {
      cluster_view::member v;
      v.id = m.id;
      v.address = m.address;
      v.incarnation = m.incarnation;
      if (m.age_ms >= opts.failure_timeout.count())
        v.status = "down";
      else
        v.status = m.status == persistence::member_status::leaving ? "leaving" : "up";
      v.shards = owned[m.id + "#" + std::to_string(m.incarnation)];
      out.push_back(std::move(v));
    }
    size_t serving = std::count(local_.begin(), local_.end(), shard_state::serving);
    std::lock_guard<std::mutex> guard{mtx_};
    view_.members = std::move(out);
    view_.serving = serving;
    view_.joined = true;
  }
};

result<std::unique_ptr<member>> member::start(caf::actor_system& sys, persistence::coordination& coordination,
                                              runtime::shard_control& shards, member_options opts) {
  if (opts.cluster.empty() || opts.id.empty() || opts.address.empty() || opts.shards == 0)
    return status{status_code::invalid_argument, "a cluster member needs a cluster name, an id, an address and shards"};
  if (opts.failure_timeout.count() <= 0)
    return status{status_code::invalid_argument, "the failure timeout must be longer than 0"};
  if (opts.self_fence_margin.count() == 0)
    opts.self_fence_margin = opts.failure_timeout / 6;
  if (opts.takeover_margin.count() == 0)
    opts.takeover_margin = opts.failure_timeout / 3;
  if (opts.forget_down_after.count() == 0)
    opts.forget_down_after = std::max(std::chrono::milliseconds{30'000}, opts.failure_timeout * 10);
  if (opts.self_fence_margin >= opts.failure_timeout)
    return status{status_code::invalid_argument, "the self-fence margin must be shorter than the failure timeout"};

  auto recorded = std::make_shared<std::promise<result<uint32_t>>>();
  auto recorded_answer = recorded->get_future();
  coordination.init_cluster(opts.cluster, opts.shards,
                            [recorded](result<uint32_t> r) { recorded->set_value(std::move(r)); });
  auto count = wait_for(recorded_answer, opts.store_timeout);
  if (!count)
    return status{status_code::unavailable, "the store did not answer within " +
                                                std::to_string(opts.store_timeout.count()) + " ms (cluster start-up)"};
  if (!count->ok())
    return status{count->error().code(), "cannot record the cluster in the store: " + count->error().message()};
  if (count->value() != opts.shards)
    return status{status_code::failed_precondition,
                  "cluster " + opts.cluster + " has " + std::to_string(count->value()) +
                      " shards (recorded by its first member); this member was started with --shards " +
                      std::to_string(opts.shards) + ". The shard count is fixed for a cluster's life"};

  auto joined = std::make_shared<std::promise<result<int64_t>>>();
  auto joined_answer = joined->get_future();
  auto sent = clock::now();
  coordination.join(opts.cluster, opts.id, opts.address,
                    [joined](result<int64_t> r) { joined->set_value(std::move(r)); });
  auto inc = wait_for(joined_answer, opts.store_timeout);
  if (!inc)
    return status{status_code::unavailable,
                  "the store did not answer the join within " + std::to_string(opts.store_timeout.count()) + " ms"};
  if (!inc->ok())
    return status{inc->error().code(), "cannot join the cluster: " + inc->error().message()};

  auto state = std::make_shared<impl>(coordination, shards, opts);
  state->incarnation_ = inc->value();
  state->local_.assign(opts.shards, shard_state::none);
  state->epoch_.assign(opts.shards, 0);
  state->applied_.assign(opts.shards, route_applied{});
  state->ownerless_since_.assign(opts.shards, std::nullopt);
  state->extend_lease(sent + opts.failure_timeout - opts.self_fence_margin);
  state->view_.cluster = opts.cluster;
  state->view_.self = opts.id;
  state->view_.incarnation = inc->value();
  state->view_.shards = opts.shards;
  log::info("joined the cluster", {{"cluster", opts.cluster},
                                   {"member", opts.id},
                                   {"incarnation", std::to_string(inc->value())},
                                   {"address", opts.address}});

  // The loop actor holds the state only weakly (through the closures it runs): the member object owns it.
  state->loop = sys.spawn([raw = state.get()](caf::event_based_actor* self) -> caf::behavior {
    raw->self = self;
    return {[](detail::continuation& c) { c.fn(); }};
  });
  state->post([](impl& me) {
    me.read();
    me.schedule_tick();
  });
  return std::unique_ptr<member>{new member(std::move(state))};
}

member::member(std::shared_ptr<impl> impl) : impl_(std::move(impl)) {}

member::~member() {
  stop();
}

void member::fenced(uint32_t) {
  impl_->post([](impl& me) { me.read(); });
}

void member::peer_lost(const std::string& address) {
  impl_->post([address](impl& me) { me.on_peer_lost(address); });
}

void member::reread() {
  impl_->post([](impl& me) { me.read(); });
}

status member::leave(std::chrono::milliseconds within) {
  if (impl_->stopped.load())
    return status{status_code::failed_precondition, "the cluster member was stopped"};
  auto waiter = std::make_shared<std::promise<status>>();
  auto answer = waiter->get_future();
  impl_->post([waiter](impl& me) { me.begin_leave(waiter); });
  if (answer.wait_for(within) == std::future_status::ready)
    return answer.get();
  impl_->post([](impl& me) { me.abandon_leave(); });
  log::warn("leaving the cluster took longer than the drain timeout; the others take the rest over",
            {{"member", impl_->opts.id}});
  return status{status_code::deadline_exceeded,
                "leaving the cluster took longer than " + std::to_string(within.count()) + " ms"};
}

void member::stop() {
  if (impl_->stopped.exchange(true))
    return;
  caf::anon_send_exit(impl_->loop, caf::exit_reason::user_shutdown);
}

cluster_view member::view() const {
  std::lock_guard<std::mutex> guard{impl_->mtx_};
  return impl_->view_;
}

member_counters member::counters() const {
  std::lock_guard<std::mutex> guard{impl_->mtx_};
  return impl_->counters_;
}

int64_t member::incarnation() const {
  std::lock_guard<std::mutex> guard{impl_->mtx_};
  return impl_->view_.incarnation;
}

}  // namespace actorstate::cluster
