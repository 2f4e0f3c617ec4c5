#include "actorstate/cluster/placement.hpp"

namespace actorstate::cluster {

namespace {

/// A member's weight for a shard: FNV-1a of the id, mixed with the shard by splitmix64's finalizer. Both are fixed
/// functions of their inputs (no std::hash, which differs between standard libraries), so every member and every
/// version computes the same placement; the finalizer spreads the weights of ids that differ in one character.
uint64_t weight(std::string_view member, uint32_t shard) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : member) {
    h ^= c;
    h *= 1099511628211ull;
  }
  uint64_t x = h ^ (0x9e3779b97f4a7c15ull * (static_cast<uint64_t>(shard) + 1));
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

std::string preferred_owner(uint32_t shard, const std::vector<std::string>& members) {
  const std::string* best = nullptr;
  uint64_t best_weight = 0;
  for (const auto& m : members) {
    auto w = weight(m, shard);
    // Ties (practically never) go to the smaller id, so the answer does not depend on the list's order.
    if (best == nullptr || w > best_weight || (w == best_weight && m < *best)) {
      best = &m;
      best_weight = w;
    }
  }
  return best != nullptr ? *best : std::string{};
}

}  // namespace actorstate::cluster
