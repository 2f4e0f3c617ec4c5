// actorstate::crdt: the replicas of CRDT entities (Cloudstate's GCounter, PNCounter, GSet, ORSet, LWWRegister, Flag,
// ORMap and Vote) as delta-state CRDTs (Almeida, Shoker, Baquero, "Delta State Replicated Data Types").
//
// What it is. A `replicated` is one CRDT's state at one replica together with the causal metadata that merging needs
// (dots and a causal context). The handler side (user code) never sees it: it holds a plain value and speaks
// Cloudstate's `cloudstate.crdt.CrdtDelta`. This library translates between the two: `apply_change` turns a change the
// handler made into a new local state and a delta for the other replicas, `merge` joins deltas and states received
// from other replicas, and `full_delta`/`diff` say what the handler must be told.
//
// Guarantees.
//  - `merge` is a join: commutative, associative and idempotent, for states and deltas alike (a delta is a
//    `replicated` too). Replicas that have merged the same deltas, in any order, any number of times, are `==`.
//  - The delta `apply_change` returns is small: its size depends on what changed, not on the size of the state (an
//    add to a 10,000-element ORSet is a few dozen bytes).
//  - Failing calls (`apply_change`, `merge`) leave the state exactly as it was.
//  - Deletion is final: `deletion()` merged into any state gives the deleted state, which absorbs every merge.
//  - `serialize` is deterministic and its format is versioned (stable across versions); `parse` rejects garbage with
//    `invalid_argument` and never crashes.
//
// Dots. Every dot (replica, counter) a replica makes, at any nesting level of an ORMap, comes from one counter per
// replica per entity: the next dot is one above the highest dot of that replica in the state's causal context, and
// every dot made is added to that context at once. A dot's meaning (its element, key or value) is fixed when it is
// made. So a replica never makes the same dot twice provided that (the caller's duty):
//  - its id is unique per process incarnation (the runtime passes "<node-id>#<incarnation>"), and
//  - it applies changes only to a state that holds every dot it made for that entity: a runtime that drops a
//    replica's state (passivation, eviction) and starts again from empty must use a new replica id for it, or
//    merge back a state holding all its old dots before its first change. Breaking this makes two meanings for one
//    dot and replicas silently diverge.
//
// Delivery. Deltas and states may be merged in any order, late, twice or never (a later full state covers lost
// deltas). Out of causal order a view can be briefly stale: a replica's superseded contribution (an older LWW write,
// a counter's older part) lingers until the delta that replaced it arrives; counters never count one replica twice.
//
// Costs. Merging a delta from apply_change (or a join of such deltas) costs O(delta * log size): the delta carries a
// hint of the keys its removals touch (not part of its value; == ignores it). A merge of anything else (a full state,
// a cleared ORSet or ORMap) walks the whole state. A change costs O(change * log size) plus, for an ORMap, a copy of
// the entries it names (it can fail halfway). Counters, LWW and Vote keep a leaf per replica that ever wrote (replica
// ids of dead incarnations stay), and every such merge walks those leaves.
//
// Semantics worth knowing (the rest is Cloudstate's).
//  - ORSet and ORMap keys are add-wins (observed-remove). An ORMap key's value is the join of every replica's
//    contribution; removing a key drops the contributions it observed, so a concurrent update survives with only the
//    updating replica's contribution (a counter restarts from that replica's part of it, for instance).
//  - LWWRegister: a write replaces every write the writer had seen; concurrent writes are ordered by
//    (timestamp, replica id), the greater wins.
//  - ORMap `updated` of an absent key creates it (add-wins, as if `added`; Cloudstate ignores it, but with this
//    runtime the handler's view is the local state, so the key was removed by a merge the handler was not yet told
//    about and the update wins). `added` of a present key of the same type applies the change to it (as Cloudstate
//    does). A nested change whose type differs from the entry's type is `invalid_argument` (Cloudstate crashes or
//    drops it). Two replicas that concurrently give one ORMap key different types cannot be merged
//    (`failed_precondition`).
//  - Vote: each replica's latest vote; the view counts only the live replicas passed in `voters`.
//
// Threads. There is no shared state: `replicated` is a plain value type (copyable, movable, `==`), every function
// here is pure apart from its reference arguments, and any thread may call anything on values it owns. Concurrent
// calls on one `replicated` need the caller's own synchronization (like std::string).
#pragma once

#include <cloudstate/crdt.pb.h>

#include <actorstate/status.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace actorstate::crdt {

/// A replica's id: unique per process incarnation ("<node-id>#<incarnation>").
using replica_id = std::string;

enum class crdt_type { gcounter, pncounter, gset, orset, lwwregister, flag, ormap, vote };

/// Cloudstate's name of the type: "GCounter", "PNCounter", "GSet", "ORSet", "LWWRegister", "Flag", "ORMap", "Vote".
std::string_view to_string(crdt_type t);

namespace detail {
struct state;
}

/// One CRDT's state at one replica with its causal metadata, or a delta (deltas are states too: merge joins either).
class replicated {
public:
  /// No state yet: no type.
  replicated();
  ~replicated();
  replicated(const replicated& other);
  replicated(replicated&& other) noexcept;
  replicated& operator=(const replicated& other);
  replicated& operator=(replicated&& other) noexcept;

  /// No type and not deleted.
  bool empty() const;
  /// The CRDT's type; nullopt when empty or deleted.
  std::optional<crdt_type> type() const;
  /// Deleted for good (a tombstone; deletion wins every merge).
  bool deleted() const;

  /// Equal states: same type, same contents and the same causal context (converged replicas are equal).
  friend bool operator==(const replicated& a, const replicated& b);

  /// Size hints for metrics: the number of dots (ORSet elements' tags, counters' entries, ...) held, and the bytes
  /// `serialize` would write.
  std::size_t dot_count() const;
  std::size_t serialized_size() const;

  /// For the implementation only.
  const detail::state& impl() const { return *state_; }
  detail::state& impl() { return *state_; }

private:
  std::unique_ptr<detail::state> state_;
};

/// Who is changing the state: the replica and its wall clock (for LWW's DEFAULT and REVERSE clocks).
struct change_context {
  replica_id self;
  int64_t now_ms = 0;
};

/// Whom a Vote's view counts: this replica and the live members' replica ids (empty `live` = only `self`).
struct voters {
  replica_id self;
  std::vector<replica_id> live;
};

/// Applies a change the handler side made at replica `ctx.self`. On success `state` is the new state (an empty state
/// takes the change's type) and the result is the delta to send to the other replicas. A change that does not fit is
/// `invalid_argument` naming the problem, with `state` left as it was: another type than the state's (also nested in
/// ORMap entries), an empty CrdtDelta at any level, a GCounter increment above INT64_MAX, switching an enabled Flag
/// off, an ORMap entry without key or delta, a change to a deleted state.
result<replicated> apply_change(replicated& state, const cloudstate::crdt::CrdtDelta& change,
                                const change_context& ctx);

/// The delta that deletes an entity: merged into any state, it is deleted for good.
replicated deletion();

/// Joins `other` (a state or a delta) into `state`: commutative, associative, idempotent. Different types (at the top
/// or in an ORMap entry: two replicas created it with different types) is `failed_precondition` naming both, and
/// `state` is left as it was. Such a conflict is a partial join: whether it shows can depend on the order of merges
/// (a third replica that saw both and removed the key resolves it), so it is the handler's bug to report, not a
/// state to repair.
status merge(replicated& state, const replicated& other);

/// The whole state as the handler side sees it, as a delta from empty (CrdtInit.delta); nullopt when empty or
/// deleted.
std::optional<cloudstate::crdt::CrdtDelta> full_delta(const replicated& state, const voters& v);

/// What the handler side must be told when its view went from `before` (seen with `before_v`) to `after` (with
/// `after_v`); nullopt when nothing it sees changed. Counters by difference, GSet new elements, ORSet removed/added
/// (or cleared + all when that is shorter), LWW the new value, Flag on, ORMap removed/updated/added (an entry whose
/// type changed, or whose change cannot be said as a delta, such as a counter that went down after a concurrent
/// removal, is removed and added again), Vote the whole recomputed view. Both must be states of one entity: an empty
/// `before` gives full_delta(after); when `after` is empty or deleted, or the types differ, the result is nullopt
/// (deletion is told otherwise). Counter changes wrap modulo 2^64 as the handler's int64/uint64 arithmetic does.
std::optional<cloudstate::crdt::CrdtDelta> diff(const replicated& before, const replicated& after,
                                                const voters& before_v, const voters& after_v);

/// States and deltas as bytes, deterministic and stable across versions.
std::string serialize(const replicated& state);
/// The state `serialize` wrote; `invalid_argument` on anything else, never a crash.
result<replicated> parse(std::string_view bytes);

}  // namespace actorstate::crdt
