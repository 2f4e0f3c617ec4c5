// The representation behind `replicated`: every type is a dot store (Almeida et al. §5-6) under one causal context
// per entity, so ORMap values of any type nest without special cases.
//  - GCounter, PNCounter, LWWRegister, Vote: a DotFun dot -> leaf. Each replica's latest contribution sits at a fresh
//    dot whose context replaces the replica's older one (LWW: every older write it saw), so a key removal in an ORMap
//    that observed a contribution drops it and a concurrent update survives.
//  - GSet, ORSet: a DotMap element -> DotSet. Flag: a DotFun whose leaves carry nothing (on iff non-empty).
//  - ORMap: a DotMap key -> entry {presence DotSet, nested store}. Every update of a key by a replica makes a fresh
//    presence dot (replacing its older one): the key is visible iff a presence dot survives.
// A dot's leaf never changes after the dot is made, so a dot held by both sides of a join holds the same leaf.
#pragma once

#include <actorstate/crdt/replicated.hpp>

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

namespace actorstate::crdt::detail {

struct dot {
  std::string replica;
  uint64_t counter = 0;
  friend auto operator<=>(const dot&, const dot&) = default;
};

using dot_set = std::set<dot>;

/// A version vector plus the dots beyond it (the dot cloud), kept compacted so equal contexts are equal values.
struct causal_context {
  std::map<std::string, uint64_t> vv;
  std::set<dot> cloud;

  bool contains(const dot& d) const;
  void insert(const dot& d);  // then compact()
  void join(const causal_context& other);
  void compact();
  /// The highest counter of `replica` held.
  uint64_t max_of(const std::string& replica) const;
  bool empty() const { return vv.empty() && cloud.empty(); }
  friend bool operator==(const causal_context&, const causal_context&) = default;
};

/// A google.protobuf.Any compared by (type_url, value bytes).
struct element {
  std::string type_url;
  std::string value;
  friend auto operator<=>(const element&, const element&) = default;
};

struct leaf {
  uint64_t p = 0;     // GCounter count; PNCounter increments
  uint64_t n = 0;     // PNCounter decrements
  bool vote = false;  // Vote
  element value;      // LWWRegister
  int64_t timestamp = 0;
  friend bool operator==(const leaf&, const leaf&) = default;
};

struct entry;

struct store {
  crdt_type type = crdt_type::gcounter;
  std::map<dot, leaf> fun;              // GCounter, PNCounter, LWWRegister, Flag, Vote
  std::map<element, dot_set> elements;  // GSet, ORSet
  std::map<element, entry> entries;     // ORMap

  bool bottom() const { return fun.empty() && elements.empty() && entries.empty(); }
  friend bool operator==(const store&, const store&);
};

struct entry {
  dot_set presence;
  store value;
  friend bool operator==(const entry& a, const entry& b) { return a.presence == b.presence && a.value == b.value; }
};

inline bool operator==(const store& a, const store& b) {
  return a.type == b.type && a.fun == b.fun && a.elements == b.elements && a.entries == b.entries;
}

struct state {
  bool deleted = false;
  bool typed = false;  // false: empty (or deleted)
  store value;
  causal_context context;
  // A hint, not part of the value (== ignores it): when set, every dot the context holds but the store does not
  // (what merging this drops elsewhere) sits in `fun` or under one of these keys or the store's own keys, so a merge
  // needs to visit only those. Deltas from apply_change carry it; merging into a replica's state clears it.
  std::optional<std::set<element>> touched;
  friend bool operator==(const state& a, const state& b) {
    return a.deleted == b.deleted && a.typed == b.typed && a.value == b.value && a.context == b.context;
  }
};

}  // namespace actorstate::crdt::detail
