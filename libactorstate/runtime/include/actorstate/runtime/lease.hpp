// A cluster member's lease as its entities see it. The member renews its membership in the store; once a renewal
// has not been confirmed for the failure timeout (less a margin), other members may take its shards over. A process
// that was paused (SIGSTOP, a long GC-like stall, a VM migration) wakes up with commands already inside its entities,
// and the member's timer has not run yet: the entities check the lease before an answer leaves, so nothing is
// answered from memory that another member may have changed meanwhile.
//
// Generations: a lease that ran out is not revived by a later renewal for what was served under it. The member bumps
// the generation when it finds the lease expired (and drops its shards); a shard records the generation it began
// serving in, and its instances' answers count only while that generation is current and unexpired.
//
// Thread rules: `valid` and `generation` from any thread (atomics; an answer costs one clock read); `extend` and
// `expire` from the member only.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace actorstate::runtime {

class lease {
public:
  using clock = std::chrono::steady_clock;

  /// Whether an answer of something served in `generation` may leave now.
  bool valid(uint64_t generation) const {
    return generation == generation_.load(std::memory_order_acquire) &&
           clock::now().time_since_epoch().count() < until_.load(std::memory_order_acquire);
  }
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  /// A renewal was confirmed: valid until `until` (never shortened).
  void extend(clock::time_point until) {
    auto ticks = until.time_since_epoch().count();
    auto current = until_.load(std::memory_order_relaxed);
    while (current < ticks && !until_.compare_exchange_weak(current, ticks, std::memory_order_release)) {
    }
  }
  /// The lease ran out: what was served under it stays invalid; the next `extend` applies to a new generation.
  void expire() {
    generation_.fetch_add(1, std::memory_order_acq_rel);
    until_.store(0, std::memory_order_release);
  }

private:
  std::atomic<uint64_t> generation_{1};
  std::atomic<clock::rep> until_{0};
};

}  // namespace actorstate::runtime
