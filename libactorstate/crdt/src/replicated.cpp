// The CRDTs themselves: joins of dot stores (merge), the handler's changes as deltas (apply_change) and the handler's
// view of a state (full_delta, diff). state.hpp describes the representation.
#include "state.hpp"

#include <algorithm>
#include <limits>
#include <set>
#include <utility>
#include <variant>

namespace actorstate::crdt {

using detail::causal_context;
using detail::dot;
using detail::dot_set;
using detail::element;
using detail::entry;
using detail::leaf;
using detail::store;
namespace pb = cloudstate::crdt;

std::string_view to_string(crdt_type t) {
  switch (t) {
    case crdt_type::gcounter:
      return "GCounter";
    case crdt_type::pncounter:
      return "PNCounter";
    case crdt_type::gset:
      return "GSet";
    case crdt_type::orset:
      return "ORSet";
    case crdt_type::lwwregister:
      return "LWWRegister";
    case crdt_type::flag:
      return "Flag";
    case crdt_type::ormap:
      return "ORMap";
    case crdt_type::vote:
      return "Vote";
  }
  return "unknown";
}

// ---- replicated, the value type ----

replicated::replicated() : state_(std::make_unique<detail::state>()) {}
replicated::~replicated() = default;
replicated::replicated(const replicated& other) : state_(std::make_unique<detail::state>(*other.state_)) {}
// A moved-from replicated is empty, not null: every member function stays valid on it.
replicated::replicated(replicated&& other) noexcept
    : state_(std::exchange(other.state_, std::make_unique<detail::state>())) {}
replicated& replicated::operator=(const replicated& other) {
  if (this != &other)
    *state_ = *other.state_;
  return *this;
}
replicated& replicated::operator=(replicated&& other) noexcept {
  if (this != &other)
    std::swap(state_, other.state_);
  return *this;
}

bool replicated::empty() const {
  return !state_->typed && !state_->deleted;
}
std::optional<crdt_type> replicated::type() const {
  if (!state_->typed || state_->deleted)
    return std::nullopt;
  return state_->value.type;
}
bool replicated::deleted() const {
  return state_->deleted;
}
bool operator==(const replicated& a, const replicated& b) {
  return *a.state_ == *b.state_;
}

namespace {

std::size_t count_dots(const store& s) {
  std::size_t n = s.fun.size();
  for (const auto& [e, dots] : s.elements)
    n += dots.size();
  for (const auto& [k, en] : s.entries)
    n += en.presence.size() + count_dots(en.value);
  return n;
}

}  // namespace

std::size_t replicated::dot_count() const {
  return count_dots(state_->value);
}
std::size_t replicated::serialized_size() const {
  return serialize(*this).size();
}

namespace {

// ---- arithmetic that never overflows: counters saturate ----

uint64_t sat_add(uint64_t a, uint64_t b) {
  return a > std::numeric_limits<uint64_t>::max() - b ? std::numeric_limits<uint64_t>::max() : a + b;
}

int64_t sat_add(int64_t a, int64_t b) {
  int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r))
    return b > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
  return r;
}

// p - n as an int64, clamped.
int64_t signed_difference(uint64_t p, uint64_t n) {
  constexpr auto max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (p >= n)
    return static_cast<int64_t>(std::min(p - n, max));
  uint64_t d = n - p;
  return d > max ? std::numeric_limits<int64_t>::min() : -static_cast<int64_t>(d);
}

// Calls f(dot, leaf) for each replica's latest leaf. A replica's newer leaf supersedes its older ones; an older one can
// linger until the delta that dropped it arrives (deltas may arrive out of causal order), and must not count twice.
template <class F>
void for_latest(const store& s, F f) {
  for (auto it = s.fun.begin(); it != s.fun.end(); ++it) {
    auto next = std::next(it);
    if (next == s.fun.end() || next->first.replica != it->first.replica)
      f(it->first, it->second);
  }
}

uint64_t gcounter_value(const store& s) {
  uint64_t sum = 0;
  for_latest(s, [&](const dot&, const leaf& l) { sum = sat_add(sum, l.p); });
  return sum;
}

int64_t pncounter_value(const store& s) {
  uint64_t p = 0;
  uint64_t n = 0;
  for_latest(s, [&](const dot&, const leaf& l) {
    p = sat_add(p, l.p);
    n = sat_add(n, l.n);
  });
  return signed_difference(p, n);
}

// The register's winning write: of each replica's latest write, the greatest (timestamp, replica).
const std::pair<const dot, leaf>* lww_winner(const store& s) {
  const std::pair<const dot, leaf>* best = nullptr;
  for (auto it = s.fun.begin(); it != s.fun.end(); ++it) {
    auto next = std::next(it);
    if (next != s.fun.end() && next->first.replica == it->first.replica)
      continue;
    if (!best ||
        std::tie(it->second.timestamp, it->first.replica) > std::tie(best->second.timestamp, best->first.replica))
      best = &*it;
  }
  return best;
}

std::optional<element> lww_value(const store& s) {
  if (const auto* w = lww_winner(s))
    return w->second.value;
  return std::nullopt;
}

element to_element(const google::protobuf::Any& any) {
  return element{any.type_url(), any.value()};
}

void to_any(const element& e, google::protobuf::Any* out) {
  out->set_type_url(e.type_url);
  out->set_value(e.value);
}

std::string describe(const element& e) {
  std::string s = e.type_url.empty() ? std::string("(no type)") : e.type_url;
  s += " (" + std::to_string(e.value.size()) + " bytes)";
  return s;
}

std::optional<crdt_type> type_of(const pb::CrdtDelta& d) {
  switch (d.delta_case()) {
    case pb::CrdtDelta::kGcounter:
      return crdt_type::gcounter;
    case pb::CrdtDelta::kPncounter:
      return crdt_type::pncounter;
    case pb::CrdtDelta::kGset:
      return crdt_type::gset;
    case pb::CrdtDelta::kOrset:
      return crdt_type::orset;
    case pb::CrdtDelta::kLwwregister:
      return crdt_type::lwwregister;
    case pb::CrdtDelta::kFlag:
      return crdt_type::flag;
    case pb::CrdtDelta::kOrmap:
      return crdt_type::ormap;
    case pb::CrdtDelta::kVote:
      return crdt_type::vote;
    case pb::CrdtDelta::DELTA_NOT_SET:
      break;
  }
  return std::nullopt;
}

// ---- joins ----

// Whether any dot of the store (or entry) is outside `ctx`, i.e. would survive a join with a side whose context is
// `ctx` that does not hold it.
bool survives(const store& s, const causal_context& ctx);

bool survives(const dot_set& dots, const causal_context& ctx) {
  return std::any_of(dots.begin(), dots.end(), [&](const dot& d) { return !ctx.contains(d); });
}

bool survives(const entry& e, const causal_context& ctx) {
  return survives(e.presence, ctx) || survives(e.value, ctx);
}

bool survives(const store& s, const causal_context& ctx) {
  for (const auto& [d, l] : s.fun)
    if (!ctx.contains(d))
      return true;
  for (const auto& [el, dots] : s.elements)
    if (survives(dots, ctx))
      return true;
  for (const auto& [k, en] : s.entries)
    if (survives(en, ctx))
      return true;
  return false;
}

// The only way a join can fail: one ORMap key holding values of two types on both sides after the join. Checked
// before anything changes, so merge is all-or-nothing without copying the state.
status check_join(const store& a, const causal_context& ca, const store& b, const causal_context& cb,
                  const std::string& path) {
  for (const auto& [key, eb] : b.entries) {
    auto it = a.entries.find(key);
    if (it == a.entries.end())
      continue;
    const entry& ea = it->second;
    if (ea.value.type != eb.value.type) {
      if (survives(ea, cb) && survives(eb, ca))
        return status{status_code::failed_precondition, "cannot merge: ORMap entry " + path + describe(key) + " is a " +
                                                            std::string(to_string(ea.value.type)) + " here and a " +
                                                            std::string(to_string(eb.value.type)) +
                                                            " at another replica"};
    } else if (ea.value.type == crdt_type::ormap) {
      if (auto st = check_join(ea.value, ca, eb.value, cb, path + describe(key) + " / "); !st.ok())
        return st;
    }
  }
  return {};
}

void join_dots(dot_set& a, const causal_context& ca, const dot_set* b, const causal_context& cb) {
  for (auto it = a.begin(); it != a.end();) {
    if ((!b || !b->count(*it)) && cb.contains(*it))
      it = a.erase(it);
    else
      ++it;
  }
  if (b)
    for (const auto& d : *b)
      if (!ca.contains(d))
        a.insert(d);
}

void join_store(store& a, const causal_context& ca, const store* b, const causal_context& cb);

// DotFun: a dot both hold keeps its (identical) leaf; a dot one side holds survives unless the other has seen it.
void join_fun(store& a, const causal_context& ca, const store* b, const causal_context& cb) {
  for (auto it = a.fun.begin(); it != a.fun.end();) {
    if ((!b || !b->fun.count(it->first)) && cb.contains(it->first))
      it = a.fun.erase(it);
    else
      ++it;
  }
  if (b)
    for (const auto& [d, l] : b->fun)
      if (!ca.contains(d))
        a.fun.emplace(d, l);
}

bool bottom(const entry& e) {
  return e.presence.empty() && e.value.bottom();
}

// ea := (ea, ca) ⊔ (eb, cb); `eb` null is bottom.
void join_entry(entry& ea, const causal_context& ca, const entry* eb, const causal_context& cb) {
  if (eb && eb->value.type != ea.value.type) {
    // check_join: at most one side survives. Filter ours; if nothing is left, take theirs.
    join_dots(ea.presence, ca, nullptr, cb);
    join_store(ea.value, ca, nullptr, cb);
    if (bottom(ea)) {
      ea = entry{};
      ea.value.type = eb->value.type;
      join_dots(ea.presence, ca, &eb->presence, cb);
      join_store(ea.value, ca, &eb->value, cb);
    }
    return;
  }
  join_dots(ea.presence, ca, eb ? &eb->presence : nullptr, cb);
  join_store(ea.value, ca, eb ? &eb->value : nullptr, cb);
}

// A key only b holds: what of it survives a's context.
void insert_entry(store& a, const element& key, const causal_context& ca, const entry& eb, const causal_context& cb) {
  entry joined;
  joined.value.type = eb.value.type;
  join_dots(joined.presence, ca, &eb.presence, cb);
  join_store(joined.value, ca, &eb.value, cb);
  if (!bottom(joined))
    a.entries.emplace(key, std::move(joined));
}

// a := (a, ca) ⊔ (b, cb) for the store part; `b` null is the bottom of a's type. check_join passed.
void join_store(store& a, const causal_context& ca, const store* b, const causal_context& cb) {
  join_fun(a, ca, b, cb);

  // DotMap element -> DotSet.
  for (auto it = a.elements.begin(); it != a.elements.end();) {
    const dot_set* other = nullptr;
    if (b)
      if (auto f = b->elements.find(it->first); f != b->elements.end())
        other = &f->second;
    join_dots(it->second, ca, other, cb);
    it = it->second.empty() ? a.elements.erase(it) : std::next(it);
  }
  if (b)
    for (const auto& [el, dots] : b->elements) {
      if (a.elements.count(el))
        continue;
      dot_set joined;
      join_dots(joined, ca, &dots, cb);
      if (!joined.empty())
        a.elements.emplace(el, std::move(joined));
    }

  // DotMap key -> entry.
  for (auto it = a.entries.begin(); it != a.entries.end();) {
    const entry* eb = nullptr;
    if (b)
      if (auto f = b->entries.find(it->first); f != b->entries.end())
        eb = &f->second;
    join_entry(it->second, ca, eb, cb);
    it = bottom(it->second) ? a.entries.erase(it) : std::next(it);
  }
  if (b)
    for (const auto& [key, eb] : b->entries)
      if (!a.entries.count(key))
        insert_entry(a, key, ca, eb, cb);
}

// a := (a, ca) ⊔ (b, cb) visiting only `fun` and the keys in `keys` or in b's store (b's hint says nothing else of
// a's can be dropped). check_join passed.
void join_restricted(store& a, const causal_context& ca, const store& b, const causal_context& cb,
                     const std::set<element>& keys) {
  join_fun(a, ca, &b, cb);
  auto visit_element = [&](const element& el) {
    auto ia = a.elements.find(el);
    auto ib = b.elements.find(el);
    const dot_set* other = ib == b.elements.end() ? nullptr : &ib->second;
    if (ia != a.elements.end()) {
      join_dots(ia->second, ca, other, cb);
      if (ia->second.empty())
        a.elements.erase(ia);
    } else if (other) {
      dot_set joined;
      join_dots(joined, ca, other, cb);
      if (!joined.empty())
        a.elements.emplace(el, std::move(joined));
    }
  };
  auto visit_entry = [&](const element& key) {
    auto ia = a.entries.find(key);
    auto ib = b.entries.find(key);
    const entry* other = ib == b.entries.end() ? nullptr : &ib->second;
    if (ia != a.entries.end()) {
      join_entry(ia->second, ca, other, cb);
      if (bottom(ia->second))
        a.entries.erase(ia);
    } else if (other) {
      insert_entry(a, key, ca, *other, cb);
    }
  };
  for (const auto& key : keys) {
    visit_element(key);
    visit_entry(key);
  }
  for (const auto& [el, dots] : b.elements)
    if (!keys.count(el))
      visit_element(el);
  for (const auto& [key, en] : b.entries)
    if (!keys.count(key))
      visit_entry(key);
}

// a := a ⊔ b when b drops nothing of a's, i.e. every dot of b's context is in b's store (a delta that only adds: an
// ORSet add, a first increment): visits b only, so merging such a delta into a large state is cheap.
void join_adding(store& a, const causal_context& ca, const store& b, const causal_context& cb) {
  for (const auto& [d, l] : b.fun)
    if (!ca.contains(d))
      a.fun.emplace(d, l);
  for (const auto& [el, dots] : b.elements) {
    auto it = a.elements.find(el);
    if (it != a.elements.end()) {
      join_dots(it->second, ca, &dots, cb);
      continue;
    }
    dot_set joined;
    join_dots(joined, ca, &dots, cb);
    if (!joined.empty())
      a.elements.emplace(el, std::move(joined));
  }
  for (const auto& [key, eb] : b.entries) {
    auto it = a.entries.find(key);
    if (it == a.entries.end()) {
      insert_entry(a, key, ca, eb, cb);
    } else if (it->second.value.type == eb.value.type) {
      join_dots(it->second.presence, ca, &eb.presence, cb);
      join_adding(it->second.value, ca, eb.value, cb);
    }
    // Another type: ours survives whole (nothing is dropped), so by check_join nothing of theirs does.
  }
}

uint64_t sat_count(const causal_context& c) {
  uint64_t n = c.cloud.size();
  for (const auto& [r, counter] : c.vv)
    n = sat_add(n, counter);
  return n;
}

// ---- changes ----

status invalid(std::string message) {
  return status{status_code::invalid_argument, std::move(message)};
}

// One change being applied: the working copy's context (every dot made or dropped goes in), the delta's context, and
// the replica making it.
struct change_run {
  causal_context& work;
  causal_context& delta;
  const change_context& ctx;

  dot make_dot() {
    dot d{ctx.self, work.max_of(ctx.self) + 1};
    work.insert(d);
    delta.insert(d);
    return d;
  }
  // The delta tells the others that `d`, which the working copy held, is gone.
  void drop(const dot& d) { delta.insert(d); }
};

void drop_all(change_run& run, const store& s) {
  for (const auto& [d, l] : s.fun)
    run.drop(d);
  for (const auto& [el, dots] : s.elements)
    for (const auto& d : dots)
      run.drop(d);
  for (const auto& [k, en] : s.entries) {
    for (const auto& d : en.presence)
      run.drop(d);
    drop_all(run, en.value);
  }
}

// Drops every leaf of `s` (and of the delta `ds`) that `pred` selects.
template <class Pred>
void drop_leaves(change_run& run, store& s, store& ds, Pred pred) {
  for (auto it = s.fun.begin(); it != s.fun.end();) {
    if (pred(it->first, it->second)) {
      run.drop(it->first);
      ds.fun.erase(it->first);
      it = s.fun.erase(it);
    } else {
      ++it;
    }
  }
}

const leaf* own_leaf(const store& s, const replica_id& self) {
  const leaf* found = nullptr;
  for (const auto& [d, l] : s.fun)
    if (d.replica == self)
      found = &l;  // the latest: dots of one replica are ordered by counter
  return found;
}

void put_leaf(change_run& run, store& s, store& ds, leaf l) {
  dot d = run.make_dot();
  s.fun.emplace(d, l);
  ds.fun.emplace(d, std::move(l));
}

void drop_element(change_run& run, store& s, store& ds, const element& el) {
  auto it = s.elements.find(el);
  if (it == s.elements.end())
    return;
  for (const auto& d : it->second)
    run.drop(d);
  s.elements.erase(it);
  ds.elements.erase(el);
}

void add_element(change_run& run, store& s, store& ds, const element& el) {
  drop_element(run, s, ds, el);  // the new dot replaces the element's old ones
  dot d = run.make_dot();
  s.elements[el] = {d};
  ds.elements[el] = {d};
}

status apply(change_run& run, store& s, store& ds, const pb::CrdtDelta& change, const std::string& where);

status apply_entry(change_run& run, store& s, store& ds, const pb::ORMapEntryDelta& ed, const std::string& where,
                   std::string_view list) {
  if (!ed.has_key())
    return invalid(where + "an ORMap `" + std::string(list) + "` entry without a key");
  if (!ed.has_delta())
    return invalid(where + "an ORMap `" + std::string(list) + "` entry without a delta");
  // A key is told apart by its type URL and bytes; one without a type URL is not a value any support library
  // sends (primitives are "p.cloudstate.io/...", messages "type.googleapis.com/..."), so its type is not supported.
  if (ed.key().type_url().empty())
    return invalid(where + "an ORMap `" + std::string(list) +
                   "` entry whose key has no type URL (an unsupported key type)");
  element key = to_element(ed.key());
  std::string inner = where + "ORMap entry " + describe(key) + ": ";
  auto type = type_of(ed.delta());
  if (!type)
    return invalid(inner + "an empty CrdtDelta (no delta set)");
  auto it = s.entries.find(key);
  if (it == s.entries.end()) {
    it = s.entries.emplace(key, entry{}).first;
    it->second.value.type = *type;
  }
  entry& e = it->second;
  entry& de = ds.entries[key];
  de.value.type = e.value.type;
  if (auto st = apply(run, e.value, de.value, ed.delta(), inner); !st.ok())
    return st;
  // A fresh presence dot replaces this replica's older one: the key survives removals that did not see this update.
  for (auto d = e.presence.begin(); d != e.presence.end();) {
    if (d->replica == run.ctx.self) {
      run.drop(*d);
      d = e.presence.erase(d);
    } else {
      ++d;
    }
  }
  dot p = run.make_dot();
  e.presence.insert(p);
  de.presence = {p};
  return {};
}

status apply(change_run& run, store& s, store& ds, const pb::CrdtDelta& change, const std::string& where) {
  auto type = type_of(change);
  if (!type)
    return invalid(where + "an empty CrdtDelta (no delta set)");
  if (*type != s.type)
    return invalid(where + "a " + std::string(to_string(*type)) + " change to a " + std::string(to_string(s.type)) +
                   " CRDT");
  const auto& self = run.ctx.self;
  switch (*type) {
    case crdt_type::gcounter: {
      uint64_t inc = change.gcounter().increment();
      if (inc > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        return invalid(where + "a GCounter increment of " + std::to_string(inc) +
                       " (a negative number sent as uint64?); a GCounter cannot be decremented");
      if (inc == 0)
        return {};
      const leaf* own = own_leaf(s, self);
      leaf l{.p = sat_add(own ? own->p : 0, inc)};
      drop_leaves(run, s, ds, [&](const dot& d, const leaf&) { return d.replica == self; });
      put_leaf(run, s, ds, l);
      return {};
    }
    case crdt_type::pncounter: {
      int64_t c = change.pncounter().change();
      if (c == 0)
        return {};
      const leaf* own = own_leaf(s, self);
      leaf l = own ? *own : leaf{};
      if (c > 0)
        l.p = sat_add(l.p, static_cast<uint64_t>(c));
      else
        l.n = sat_add(l.n, uint64_t{0} - static_cast<uint64_t>(c));  // |c| without overflowing at INT64_MIN
      drop_leaves(run, s, ds, [&](const dot& d, const leaf&) { return d.replica == self; });
      put_leaf(run, s, ds, l);
      return {};
    }
    case crdt_type::gset:
      for (const auto& any : change.gset().added()) {
        element el = to_element(any);
        if (!s.elements.count(el))  // a grow-only set never loses an element but to an ORMap removal
          add_element(run, s, ds, el);
      }
      return {};
    case crdt_type::orset: {
      const auto& o = change.orset();
      if (o.cleared())
        while (!s.elements.empty()) {
          element el = s.elements.begin()->first;
          drop_element(run, s, ds, el);
        }
      for (const auto& any : o.removed())
        drop_element(run, s, ds, to_element(any));
      for (const auto& any : o.added())
        add_element(run, s, ds, to_element(any));
      return {};
    }
    case crdt_type::lwwregister: {
      const auto& w = change.lwwregister();
      const auto* current = lww_winner(s);
      std::optional<int64_t> cur;
      if (current)
        cur = current->second.timestamp;
      int64_t now = run.ctx.now_ms;
      int64_t ts = 0;
      switch (w.clock()) {
        case pb::DEFAULT:
          ts = cur ? std::max(now, sat_add(*cur, int64_t{1})) : now;
          break;
        case pb::REVERSE: {
          int64_t neg = now == std::numeric_limits<int64_t>::min() ? std::numeric_limits<int64_t>::max() : -now;
          ts = cur ? std::min(neg, sat_add(*cur, int64_t{-1})) : neg;
          break;
        }
        case pb::CUSTOM:
          ts = w.custom_clock_value();
          break;
        case pb::CUSTOM_AUTO_INCREMENT:
          ts = cur ? std::max(w.custom_clock_value(), sat_add(*cur, int64_t{1})) : w.custom_clock_value();
          break;
        default:
          return invalid(where + "an LWWRegister change with unknown clock " + std::to_string(w.clock()));
      }
      leaf l{.value = w.has_value() ? to_element(w.value()) : element{}, .timestamp = ts};
      // The write replaces every write this replica has seen; only concurrent ones compete by (timestamp, replica).
      drop_leaves(run, s, ds, [](const dot&, const leaf&) { return true; });
      put_leaf(run, s, ds, std::move(l));
      return {};
    }
    case crdt_type::flag:
      if (change.flag().value()) {
        if (s.fun.empty())
          put_leaf(run, s, ds, leaf{});
      } else if (!s.fun.empty()) {
        return invalid(where + "switching an enabled Flag off");
      }
      return {};
    case crdt_type::vote: {
      bool v = change.vote().self_vote();
      const leaf* own = own_leaf(s, self);
      if (own && own->vote == v)
        return {};
      drop_leaves(run, s, ds, [&](const dot& d, const leaf&) { return d.replica == self; });
      put_leaf(run, s, ds, leaf{.vote = v});
      return {};
    }
    case crdt_type::ormap: {
      const auto& m = change.ormap();
      // Cloudstate's order: cleared, removed, updated, added.
      auto remove_key = [&](const element& key) {
        auto it = s.entries.find(key);
        if (it == s.entries.end())
          return;
        for (const auto& d : it->second.presence)
          run.drop(d);
        drop_all(run, it->second.value);
        s.entries.erase(it);
        ds.entries.erase(key);
      };
      if (m.cleared())
        while (!s.entries.empty()) {
          element key = s.entries.begin()->first;
          remove_key(key);
        }
      for (const auto& any : m.removed())
        remove_key(to_element(any));
      for (const auto& ed : m.updated())
        if (auto st = apply_entry(run, s, ds, ed, where, "updated"); !st.ok())
          return st;
      for (const auto& ed : m.added())
        if (auto st = apply_entry(run, s, ds, ed, where, "added"); !st.ok())
          return st;
      return {};
    }
  }
  return invalid(where + "an unknown CRDT type");
}

}  // namespace

result<replicated> apply_change(replicated& state, const pb::CrdtDelta& change, const change_context& ctx) {
  if (state.deleted())
    return invalid("cannot change a deleted CRDT");
  auto type = type_of(change);
  if (!type)
    return invalid("an empty CrdtDelta (no delta set)");
  if (ctx.self.empty())
    return invalid("a change without a replica id");
  if (state.impl().typed && state.impl().value.type != *type)
    return invalid("a " + std::string(to_string(*type)) + " change to a " +
                   std::string(to_string(state.impl().value.type)) + " CRDT");
  replicated delta;
  auto& d = delta.impl();
  d.typed = true;
  d.value.type = *type;
  auto& current = state.impl();
  if (*type != crdt_type::ormap) {
    // Every other type refuses a change before touching anything, so it changes the state in place (no copy of a
    // large set for each add).
    bool was_empty = !current.typed;
    if (was_empty) {
      current.typed = true;
      current.value = store{};
      current.value.type = *type;
    }
    change_run run{current.context, d.context, ctx};
    if (auto st = apply(run, current.value, d.value, change, ""); !st.ok()) {
      if (was_empty)
        current = detail::state{};
      return st;
    }
    current.touched.reset();
    // The delta's hint: an ORSet's removed elements (an added one is in the delta's store; a clear drops everything:
    // no hint); other types drop only in `fun` (GSet never drops).
    if (*type != crdt_type::orset || !change.orset().cleared()) {
      d.touched.emplace();
      if (*type == crdt_type::orset)
        for (const auto& any : change.orset().removed())
          d.touched->insert(to_element(any));
    }
    return delta;
  }
  // An ORMap change can turn out invalid halfway (its third entry, say): it is made on a copy of the entries it names
  // (all of them when it clears) and of the context, then those entries replace the state's.
  const auto& m = change.ormap();
  std::set<element> named;
  for (const auto& key : m.removed())
    named.insert(to_element(key));
  for (const auto* list : {&m.updated(), &m.added()})
    for (const auto& ed : *list)
      if (ed.has_key())
        named.insert(to_element(ed.key()));
  store part;
  part.type = crdt_type::ormap;
  if (current.typed && m.cleared()) {
    part = current.value;
  } else if (current.typed) {
    for (const auto& key : named)
      if (auto it = current.value.entries.find(key); it != current.value.entries.end())
        part.entries.emplace(key, it->second);
  }
  causal_context context = current.context;
  change_run run{context, d.context, ctx};
  if (auto st = apply(run, part, d.value, change, ""); !st.ok())
    return st;
  if (!current.typed) {
    current.typed = true;
    current.value = std::move(part);
  } else if (m.cleared()) {
    current.value = std::move(part);
  } else {
    for (const auto& key : named) {
      auto it = part.entries.find(key);
      if (it == part.entries.end())
        current.value.entries.erase(key);
      else
        current.value.entries.insert_or_assign(key, std::move(it->second));
    }
  }
  current.context = std::move(context);
  current.touched.reset();
  if (!m.cleared()) {
    // Every dot the change drops sits under a key it names; updated and added keys are in the delta's store.
    d.touched.emplace();
    for (const auto& key : m.removed())
      d.touched->insert(to_element(key));
  }
  return delta;
}

replicated deletion() {
  replicated r;
  r.impl().deleted = true;
  return r;
}

status merge(replicated& state, const replicated& other) {
  if (&state == &other)
    return {};  // idempotent, and the joins below must not read what they write
  auto& a = state.impl();
  const auto& b = other.impl();
  if (a.deleted)
    return {};
  if (b.deleted) {
    a = detail::state{};
    a.deleted = true;
    return {};
  }
  if (!b.typed)
    return {};
  if (!a.typed) {
    a = b;
    return {};
  }
  if (a.value.type != b.value.type)
    return status{status_code::failed_precondition, "cannot merge a " + std::string(to_string(b.value.type)) +
                                                        " into a " + std::string(to_string(a.value.type)) +
                                                        " (the entity was created with both types)"};
  if (auto st = check_join(a.value, a.context, b.value, b.context, ""); !st.ok())
    return st;
  // Store dots are distinct and inside the context (parse checks it), so equal counts mean b's context holds only
  // the dots b's store holds.
  // Two deltas joined (a delta group) keep a hint: what either drops sits in `fun`, where its hint says or under a key
  // its store held before the join (the join may empty and erase one). Anything else joined clears it.
  bool group = a.touched && b.touched;
  if (group) {
    for (const store* s : {static_cast<const store*>(&a.value), &b.value}) {
      for (const auto& [el, dots] : s->elements)
        a.touched->insert(el);
      for (const auto& [key, en] : s->entries)
        a.touched->insert(key);
    }
    a.touched->insert(b.touched->begin(), b.touched->end());
  } else {
    a.touched.reset();
  }
  if (sat_count(b.context) == count_dots(b.value))
    join_adding(a.value, a.context, b.value, b.context);
  else if (b.touched)
    join_restricted(a.value, a.context, b.value, b.context, *b.touched);
  else
    join_store(a.value, a.context, &b.value, b.context);
  a.context.join(b.context);
  return {};
}

// ---- the handler's view ----

namespace {

pb::VoteDelta vote_view(const store& s, const voters& v) {
  std::map<std::string, const std::pair<const dot, leaf>*> latest;
  for (const auto& kv : s.fun) {
    auto& slot = latest[kv.first.replica];
    if (!slot || slot->first.counter < kv.first.counter)
      slot = &kv;
  }
  auto vote_of = [&](const std::string& r) {
    auto it = latest.find(r);
    return it != latest.end() && it->second->second.vote;
  };
  std::set<std::string> live(v.live.begin(), v.live.end());
  if (live.empty())
    live.insert(v.self);
  pb::VoteDelta out;
  out.set_self_vote(vote_of(v.self));
  out.set_total_voters(static_cast<int32_t>(std::min<std::size_t>(live.size(), std::numeric_limits<int32_t>::max())));
  int32_t votes_for = 0;
  for (const auto& r : live)
    if (vote_of(r))
      ++votes_for;
  out.set_votes_for(votes_for);
  return out;
}

void full(const store& s, const voters& v, pb::CrdtDelta& out) {
  switch (s.type) {
    case crdt_type::gcounter:
      out.mutable_gcounter()->set_increment(gcounter_value(s));
      return;
    case crdt_type::pncounter:
      out.mutable_pncounter()->set_change(pncounter_value(s));
      return;
    case crdt_type::gset: {
      auto* g = out.mutable_gset();
      for (const auto& [el, dots] : s.elements)
        to_any(el, g->add_added());
      return;
    }
    case crdt_type::orset: {
      auto* o = out.mutable_orset();
      for (const auto& [el, dots] : s.elements)
        to_any(el, o->add_added());
      return;
    }
    case crdt_type::lwwregister: {
      auto* l = out.mutable_lwwregister();
      if (auto value = lww_value(s))
        to_any(*value, l->mutable_value());
      return;
    }
    case crdt_type::flag:
      out.mutable_flag()->set_value(!s.fun.empty());
      return;
    case crdt_type::ormap: {
      auto* m = out.mutable_ormap();
      for (const auto& [key, en] : s.entries) {
        if (en.presence.empty())
          continue;  // contributions whose key was removed, waiting for a presence dot that may never come
        auto* ed = m->add_added();
        to_any(key, ed->mutable_key());
        full(en.value, v, *ed->mutable_delta());
      }
      return;
    }
    case crdt_type::vote:
      *out.mutable_vote() = vote_view(s, v);
      return;
  }
}

struct unchanged {};
struct reset {};  // the change cannot be said as a delta of this type: remove and add again
using change_t = std::variant<unchanged, reset, pb::CrdtDelta>;

change_t diff_store(const store& b, const store& a, const voters& bv, const voters& av) {
  pb::CrdtDelta out;
  switch (a.type) {
    case crdt_type::gcounter: {
      uint64_t before = gcounter_value(b);
      uint64_t after = gcounter_value(a);
      if (before == after)
        return unchanged{};
      if (after < before)
        return reset{};  // only after an ORMap removal raced an increment
      out.mutable_gcounter()->set_increment(after - before);
      return out;
    }
    case crdt_type::pncounter: {
      int64_t before = pncounter_value(b);
      int64_t after = pncounter_value(a);
      if (before == after)
        return unchanged{};
      // The difference modulo 2^64: a handler adding it in int64 two's complement (Java's long, Go's int64) lands
      // exactly on `after`, even when the true difference is beyond int64.
      out.mutable_pncounter()->set_change(
          static_cast<int64_t>(static_cast<uint64_t>(after) - static_cast<uint64_t>(before)));
      return out;
    }
    case crdt_type::gset: {
      auto* g = out.mutable_gset();
      for (const auto& [el, dots] : b.elements)
        if (!a.elements.count(el))
          return reset{};
      for (const auto& [el, dots] : a.elements)
        if (!b.elements.count(el))
          to_any(el, g->add_added());
      if (g->added_size() == 0)
        return unchanged{};
      return out;
    }
    case crdt_type::orset: {
      std::vector<const element*> removed;
      std::vector<const element*> added;
      for (const auto& [el, dots] : b.elements)
        if (!a.elements.count(el))
          removed.push_back(&el);
      for (const auto& [el, dots] : a.elements)
        if (!b.elements.count(el))
          added.push_back(&el);
      if (removed.empty() && added.empty())
        return unchanged{};
      auto* o = out.mutable_orset();
      if (a.elements.size() < removed.size() + added.size()) {
        o->set_cleared(true);
        for (const auto& [el, dots] : a.elements)
          to_any(el, o->add_added());
      } else {
        for (const auto* el : removed)
          to_any(*el, o->add_removed());
        for (const auto* el : added)
          to_any(*el, o->add_added());
      }
      return out;
    }
    case crdt_type::lwwregister: {
      auto before = lww_value(b);
      auto after = lww_value(a);
      if (before == after)
        return unchanged{};
      if (!after)
        return reset{};
      to_any(*after, out.mutable_lwwregister()->mutable_value());
      return out;
    }
    case crdt_type::flag: {
      bool before = !b.fun.empty();
      bool after = !a.fun.empty();
      if (before == after)
        return unchanged{};
      if (!after)
        return reset{};
      out.mutable_flag()->set_value(true);
      return out;
    }
    case crdt_type::vote: {
      auto before = vote_view(b, bv);
      auto after = vote_view(a, av);
      if (before.self_vote() == after.self_vote() && before.votes_for() == after.votes_for() &&
          before.total_voters() == after.total_voters())
        return unchanged{};
      *out.mutable_vote() = after;
      return out;
    }
    case crdt_type::ormap: {
      auto* m = out.mutable_ormap();
      auto visible = [](const store& s, const element& key) -> const entry* {
        auto it = s.entries.find(key);
        return it == s.entries.end() || it->second.presence.empty() ? nullptr : &it->second;
      };
      std::size_t after_size = 0;
      std::size_t removed = 0;
      for (const auto& [key, en] : b.entries)
        if (!en.presence.empty() && !visible(a, key)) {
          to_any(key, m->add_removed());
          ++removed;
        }
      for (const auto& [key, en] : a.entries) {
        if (en.presence.empty())
          continue;
        ++after_size;
        const entry* old = visible(b, key);
        if (old && old->value.type == en.value.type) {
          auto c = diff_store(old->value, en.value, bv, av);
          if (std::holds_alternative<unchanged>(c))
            continue;
          if (auto* d = std::get_if<pb::CrdtDelta>(&c)) {
            auto* ed = m->add_updated();
            to_any(key, ed->mutable_key());
            *ed->mutable_delta() = std::move(*d);
            continue;
          }
        }
        if (old) {  // another type now, or a change a delta cannot say: remove and add again
          to_any(key, m->add_removed());
          ++removed;
        }
        auto* ed = m->add_added();
        to_any(key, ed->mutable_key());
        full(en.value, av, *ed->mutable_delta());
      }
      if (m->removed_size() == 0 && m->updated_size() == 0 && m->added_size() == 0)
        return unchanged{};
      if (after_size < removed) {  // shorter as cleared + everything
        pb::CrdtDelta all;
        all.mutable_ormap()->set_cleared(true);
        for (const auto& [key, en] : a.entries) {
          if (en.presence.empty())
            continue;
          auto* ed = all.mutable_ormap()->add_added();
          to_any(key, ed->mutable_key());
          full(en.value, av, *ed->mutable_delta());
        }
        return all;
      }
      return out;
    }
  }
  return unchanged{};
}

}  // namespace

std::optional<pb::CrdtDelta> full_delta(const replicated& state, const voters& v) {
  const auto& s = state.impl();
  if (!s.typed || s.deleted)
    return std::nullopt;
  pb::CrdtDelta out;
  full(s.value, v, out);
  return out;
}

std::optional<pb::CrdtDelta> diff(const replicated& before, const replicated& after, const voters& before_v,
                                  const voters& after_v) {
  const auto& b = before.impl();
  const auto& a = after.impl();
  if (!a.typed || a.deleted || b.deleted)
    return std::nullopt;
  if (!b.typed)
    return full_delta(after, after_v);
  if (a.value.type != b.value.type)
    return std::nullopt;
  auto c = diff_store(b.value, a.value, before_v, after_v);
  if (auto* d = std::get_if<pb::CrdtDelta>(&c))
    return std::move(*d);
  // `reset` cannot happen at the top: without an ORMap around it no removal takes a counter, set element or flag back.
  return std::nullopt;
}

}  // namespace actorstate::crdt
