#include "actors/trace.hpp"

#include <algorithm>

namespace overlayd::actors {

trace_ring::trace_ring(size_t capacity) : slots_(std::max<size_t>(capacity, 1)) {}

void trace_ring::record(trace_record r) {
  std::lock_guard lock(mu_);
  r.seq = next_seq_++;
  slots_[r.seq % slots_.size()] = r;
}

uint64_t trace_ring::last_seq() const {
  std::lock_guard lock(mu_);
  return next_seq_ - 1;
}

std::vector<trace_record> trace_ring::read(uint64_t since, size_t limit,
                                           std::optional<uint64_t> correlation) const {
  std::vector<trace_record> out;
  std::lock_guard lock(mu_);
  const uint64_t last = next_seq_ - 1;
  const uint64_t oldest = last >= slots_.size() ? last - slots_.size() + 1 : 1;
  for (uint64_t s = std::max(since + 1, oldest); s <= last && out.size() < limit; ++s) {
    const auto& r = slots_[s % slots_.size()];
    if (correlation && r.correlation != *correlation) continue;
    out.push_back(r);
  }
  return out;
}

}  // namespace overlayd::actors
