#include "actors/trace.hpp"

#include <algorithm>
#include <utility>

namespace overlayd::actors {

trace_ring::trace_ring(size_t capacity) : slots_(std::max<size_t>(capacity, 1)) {}

void trace_ring::commit(trace_record r) {
  std::lock_guard lock(mu_);
  auto& slot = slots_[r.seq % slots_.size()];
  // A slow handler must not overwrite a newer record that lapped it. Moved
  // in: the record it replaces leaves with `r` (freed after the lock).
  if (slot.seq < r.seq) std::swap(slot, r);
}

uint64_t trace_ring::last_seq() const { return next_seq_.load(std::memory_order_relaxed) - 1; }

std::vector<trace_record> trace_ring::read(uint64_t since, size_t limit,
                                           std::optional<uint64_t> correlation) const {
  std::vector<trace_record> out;
  const uint64_t last = last_seq();
  std::lock_guard lock(mu_);
  const uint64_t oldest = last >= slots_.size() ? last - slots_.size() + 1 : 1;
  for (uint64_t s = std::max(since + 1, oldest); s <= last && out.size() < limit; ++s) {
    const auto& r = slots_[s % slots_.size()];
    if (r.seq != s) continue;  // reserved, still being handled
    if (correlation && r.correlation != *correlation) continue;
    out.push_back(r);
  }
  return out;
}

}  // namespace overlayd::actors
