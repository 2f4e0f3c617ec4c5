// The merge laws as properties: random histories of changes at 2-4 replicas, with deltas delivered at random (late,
// twice, out of order), for every CRDT type and for ORMaps nesting all of them.
#include "helpers.hpp"

#include <doctest/doctest.h>
#include <rapidcheck.h>

#include <algorithm>
#include <random>
#include <vector>

using namespace crdt_test;

namespace {

// ---- changes ----

const std::vector<std::string> element_names = {"a", "b", "c", "d", "e"};

rc::Gen<std::string> gen_element() {
  return rc::gen::elementOf(element_names);
}

// ORMap keys have a fixed type each (k0 GCounter, k1 ORSet, ...), so replicas never give one key two types.
constexpr int key_types = 8;

pb::CrdtDelta gen_change(crdt_type t, int depth);

pb::CrdtDelta gen_for_key(int k, int depth) {
  static const crdt_type types[key_types] = {crdt_type::gcounter,    crdt_type::orset, crdt_type::ormap,
                                             crdt_type::lwwregister, crdt_type::flag,  crdt_type::pncounter,
                                             crdt_type::vote,        crdt_type::gset};
  return gen_change(types[k], depth + 1);
}

pb::CrdtDelta gen_change(crdt_type t, int depth) {
  switch (t) {
    case crdt_type::gcounter:
      return gcounter(*rc::gen::weightedOneOf<uint64_t>(
          {{8, rc::gen::inRange<uint64_t>(0, 20)}, {1, rc::gen::just<uint64_t>(uint64_t{1} << 62)}}));
    case crdt_type::pncounter:
      return pncounter(*rc::gen::weightedOneOf<int64_t>(
          {{8, rc::gen::inRange<int64_t>(-20, 20)},
           {1, rc::gen::element<int64_t>(std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max())}}));
    case crdt_type::gset: {
      pb::CrdtDelta d;
      d.mutable_gset();
      for (const auto& e :
           *rc::gen::container<std::vector<std::string>>(*rc::gen::inRange<std::size_t>(0, 3), gen_element()))
        *d.mutable_gset()->add_added() = any(e);
      return d;
    }
    case crdt_type::orset: {
      pb::CrdtDelta d;
      auto* o = d.mutable_orset();
      o->set_cleared(*rc::gen::weightedOneOf<bool>({{9, rc::gen::just(false)}, {1, rc::gen::just(true)}}));
      for (const auto& e :
           *rc::gen::container<std::vector<std::string>>(*rc::gen::inRange<std::size_t>(0, 3), gen_element()))
        *o->add_removed() = any(e);
      for (const auto& e :
           *rc::gen::container<std::vector<std::string>>(*rc::gen::inRange<std::size_t>(0, 3), gen_element()))
        *o->add_added() = any(e);
      return d;
    }
    case crdt_type::lwwregister: {
      auto clock = static_cast<pb::CrdtClock>(*rc::gen::inRange(0, 4));
      return lww(*gen_element(), clock, *rc::gen::inRange<int64_t>(-3, 3));
    }
    case crdt_type::flag:
      return flag(*rc::gen::weightedOneOf<bool>({{4, rc::gen::just(true)}, {1, rc::gen::just(false)}}));
    case crdt_type::vote:
      return vote(*rc::gen::arbitrary<bool>());
    case crdt_type::ormap: {
      pb::CrdtDelta d;
      auto* m = d.mutable_ormap();
      m->set_cleared(*rc::gen::weightedOneOf<bool>({{12, rc::gen::just(false)}, {1, rc::gen::just(true)}}));
      // Nesting stops at depth 2 (an ORMap in an ORMap in an ORMap): deeper keys avoid k2.
      auto gen_key = depth >= 2 ? rc::gen::suchThat(rc::gen::inRange(0, key_types), [](int k) { return k != 2; })
                                : rc::gen::inRange(0, key_types);
      for (int k : *rc::gen::container<std::vector<int>>(*rc::gen::inRange<std::size_t>(0, 2), gen_key))
        *m->add_removed() = any("k" + std::to_string(k));
      for (int k : *rc::gen::container<std::vector<int>>(*rc::gen::inRange<std::size_t>(0, 3), gen_key)) {
        auto* ed = *rc::gen::arbitrary<bool>() ? m->add_updated() : m->add_added();
        *ed->mutable_key() = any("k" + std::to_string(k));
        *ed->mutable_delta() = gen_for_key(k, depth);
      }
      return d;
    }
  }
  return {};
}

// ---- histories ----

struct step;
std::ostream& operator<<(std::ostream& os, const step& s);
struct step {
  bool change = true;     // else: deliver a delta made so far
  int replica = 0;        // taken modulo the number of replicas
  std::size_t which = 0;  // delta index, modulo the number made
  int64_t now = 0;
  pb::CrdtDelta delta;
};

std::ostream& operator<<(std::ostream& os, const step& s) {
  if (s.change)
    return os << "change at " << s.replica << " (now " << s.now << "): " << text(s.delta);
  return os << "deliver delta " << s.which << " to " << s.replica;
}

rc::Gen<step> gen_step(crdt_type t) {
  return rc::gen::exec([t] {
    step s;
    s.change = *rc::gen::weightedOneOf<bool>({{3, rc::gen::just(true)}, {2, rc::gen::just(false)}});
    s.replica = *rc::gen::inRange(0, 4);
    s.which = *rc::gen::inRange<std::size_t>(0, 1000);
    s.now = *rc::gen::inRange<int64_t>(1000, 1005);  // few distinct clocks: LWW ties are broken by replica id
    if (s.change)
      s.delta = gen_change(t, 0);
    return s;
  });
}

struct history {
  std::vector<replicated> replicas;
  std::vector<std::vector<std::size_t>> seen;  // per replica: the deltas it merged or made, in order
  std::vector<replicated> deltas;
  std::vector<replicated> snapshots;  // states along the way, for the laws
};

replica_id name(int r) {
  return "node-" + std::to_string(r) + "#1";
}

voters voters_of(int r, int n) {
  voters v{name(r), {}};
  for (int i = 0; i < n; ++i)
    v.live.push_back(name(i));
  return v;
}

// Runs the steps, checking on the way: a failed change leaves the state as it was, a change's delta merged into the
// old state gives the new one, and every merge's diff carries the handler's view from before to after.
history run(int n, const std::vector<step>& steps) {
  history h;
  h.replicas.resize(static_cast<std::size_t>(n));
  h.seen.resize(static_cast<std::size_t>(n));
  for (const auto& s : steps) {
    int r = s.replica % n;
    auto& state = h.replicas[static_cast<std::size_t>(r)];
    if (s.change) {
      replicated before = state;
      auto delta = apply_change(state, s.delta, change_context{name(r), s.now});
      if (!delta.ok()) {
        RC_ASSERT(delta.error().code() == actorstate::status_code::invalid_argument);
        RC_ASSERT(state == before);
        continue;
      }
      replicated rebuilt = before;
      RC_ASSERT(merge(rebuilt, delta.value()).ok());
      RC_ASSERT(rebuilt == state);
      h.deltas.push_back(std::move(delta).value());
      h.seen[static_cast<std::size_t>(r)].push_back(h.deltas.size() - 1);
    } else {
      if (h.deltas.empty())
        continue;
      std::size_t which = s.which % h.deltas.size();
      replicated before = state;
      RC_ASSERT(merge(state, h.deltas[which]).ok());
      h.seen[static_cast<std::size_t>(r)].push_back(which);
      auto v = voters_of(r, n);
      auto told = diff(before, state, v, v);
      view handler = view_of(full_delta(before, v));
      view expected = view_of(full_delta(state, v));
      if (told) {
        RC_ASSERT(apply_to_view(handler, *told));
        RC_ASSERT(handler == expected);
      } else {
        RC_ASSERT(handler == expected);
      }
    }
    h.snapshots.push_back(state);
  }
  return h;
}

bool check_history(crdt_type t) {
  return rc::check(std::string("histories of ") + std::string(to_string(t)), [t] {
    int n = *rc::gen::inRange(2, 5);
    auto steps = *rc::gen::container<std::vector<step>>(gen_step(t));
    if (steps.size() > 60)
      steps.resize(60);
    history h = run(n, steps);

    // A replica's state is the join of the deltas it made or merged.
    for (int r = 0; r < n; ++r) {
      replicated rebuilt;
      for (auto i : h.seen[static_cast<std::size_t>(r)])
        RC_ASSERT(merge(rebuilt, h.deltas[i]).ok());
      RC_ASSERT(rebuilt == h.replicas[static_cast<std::size_t>(r)]);
    }

    // Merging all the full states equals merging all the deltas.
    replicated from_states;
    for (const auto& s : h.replicas)
      RC_ASSERT(merge(from_states, s).ok());
    replicated from_deltas;
    for (const auto& d : h.deltas)
      RC_ASSERT(merge(from_deltas, d).ok());
    RC_ASSERT(from_states == from_deltas);

    // Every replica converges once it has every delta, whatever the order (and with duplicates).
    for (int r = 0; r < n; ++r) {
      std::vector<std::size_t> order(h.deltas.size());
      for (std::size_t i = 0; i < order.size(); ++i)
        order[i] = i;
      std::mt19937 shuffler(*rc::gen::arbitrary<uint32_t>());
      std::shuffle(order.begin(), order.end(), shuffler);
      if (!order.empty())
        order.push_back(order[*rc::gen::inRange<std::size_t>(0, order.size())]);  // and one twice
      auto& state = h.replicas[static_cast<std::size_t>(r)];
      for (auto i : order)
        RC_ASSERT(merge(state, h.deltas[i]).ok());
      RC_ASSERT(state == from_deltas);
    }
    for (int r = 0; r < n; ++r)
      RC_ASSERT(view_of(full_delta(h.replicas[static_cast<std::size_t>(r)], voters_of(0, n))) ==
                view_of(full_delta(from_deltas, voters_of(0, n))));

    // The laws, on states and deltas from along the way.
    std::vector<replicated> pool = h.snapshots;
    pool.insert(pool.end(), h.deltas.begin(), h.deltas.end());
    pool.emplace_back();  // empty
    pool.push_back(from_deltas);
    auto pick = [&] { return pool[*rc::gen::inRange<std::size_t>(0, pool.size())]; };
    for (int i = 0; i < 5; ++i) {
      replicated a = pick(), b = pick(), c = pick();
      replicated ab = a, ba = b;
      RC_ASSERT(merge(ab, b).ok());
      RC_ASSERT(merge(ba, a).ok());
      RC_ASSERT(ab == ba);  // commutative
      replicated ab_c = ab, bc = b;
      RC_ASSERT(merge(ab_c, c).ok());
      RC_ASSERT(merge(bc, c).ok());
      replicated a_bc = a;
      RC_ASSERT(merge(a_bc, bc).ok());
      RC_ASSERT(ab_c == a_bc);  // associative
      replicated aa = a;
      RC_ASSERT(merge(aa, a).ok());
      RC_ASSERT(aa == a);  // idempotent
    }

    // Bytes round-trip, for states and deltas.
    for (const auto& x : pool) {
      auto bytes = serialize(x);
      auto back = parse(bytes);
      RC_ASSERT(back.ok());
      RC_ASSERT(back.value() == x);
      RC_ASSERT(serialize(back.value()) == bytes);
    }
  });
}

}  // namespace

// rc::check prints the failing history and the seed to replay it (RC_PARAMS="replay=...").
TEST_SUITE("properties") {
  TEST_CASE("GCounter") {
    CHECK(check_history(crdt_type::gcounter));
  }
  TEST_CASE("PNCounter") {
    CHECK(check_history(crdt_type::pncounter));
  }
  TEST_CASE("GSet") {
    CHECK(check_history(crdt_type::gset));
  }
  TEST_CASE("ORSet") {
    CHECK(check_history(crdt_type::orset));
  }
  TEST_CASE("LWWRegister") {
    CHECK(check_history(crdt_type::lwwregister));
  }
  TEST_CASE("Flag") {
    CHECK(check_history(crdt_type::flag));
  }
  TEST_CASE("Vote") {
    CHECK(check_history(crdt_type::vote));
  }
  TEST_CASE("ORMap") {
    CHECK(check_history(crdt_type::ormap));
  }
}
