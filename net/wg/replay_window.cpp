// RFC 6479 replay window: bitmap_[ (counter / 64) % words ] bit (counter % 64).
// When the highest counter advances, the words between the old and new
// highest block are cleared (at most all of them), so stale bits of counters
// that fell out of the window never look "seen".
#include "net/wg/replay_window.hpp"

namespace overlayd::wg {

bool replay_window::check(uint64_t counter) const noexcept {
  if (counter >= reject_after_messages) return false;
  if (next_ == 0 || counter > highest()) return true;
  if (highest() - counter >= window_size) return false;  // too old
  const uint64_t word = (counter / word_bits) % words;
  return ((bitmap_[word] >> (counter % word_bits)) & 1) == 0;
}

bool replay_window::update(uint64_t counter) noexcept {
  if (!check(counter)) return false;
  const uint64_t block = counter / word_bits;
  if (next_ == 0 || counter > highest()) {
    const uint64_t old_block = next_ == 0 ? block : highest() / word_bits;
    if (next_ == 0) {
      bitmap_.fill(0);
    } else {
      uint64_t diff = block - old_block;
      if (diff > words) diff = words;
      for (uint64_t i = 1; i <= diff; ++i) bitmap_[(old_block + i) % words] = 0;
    }
    next_ = counter + 1;
  }
  bitmap_[block % words] |= uint64_t{1} << (counter % word_bits);
  return true;
}

void replay_window::reset() noexcept {
  next_ = 0;
  bitmap_.fill(0);
}

}  // namespace overlayd::wg
