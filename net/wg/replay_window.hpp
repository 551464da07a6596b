// net/wg/replay_window.hpp — sliding-window replay protection for transport
// counters (RFC 6479 style: a ring of 64-bit words, whole words are cleared as
// the window advances, so the cost per packet is O(1) amortised).
//
//   replay_window w;
//   w.check(counter)     would `counter` be accepted? (no state change)
//   w.update(counter)    accept it: returns false if it is a replay, too old,
//                        or >= reject_after_messages; true marks it seen.
// Call check() before decrypting (cheap reject) and update() only after the
// packet authenticated. Window: the highest counter seen and the
// replay_window_bits - 64 counters below it are tracked; anything older is
// rejected. Not thread-safe (keypair guards it with a mutex).
// Namespace overlayd::wg.
#pragma once

#include <array>
#include <cstdint>

#include "net/wg/constants.hpp"

namespace overlayd::wg {

class replay_window {
 public:
  static constexpr uint64_t word_bits = 64;
  static constexpr uint64_t words = replay_window_bits / word_bits;
  // Counters strictly below highest - window_size are rejected.
  static constexpr uint64_t window_size = replay_window_bits - word_bits;

  bool check(uint64_t counter) const noexcept;
  bool update(uint64_t counter) noexcept;
  void reset() noexcept;
  uint64_t highest() const noexcept { return next_ == 0 ? 0 : next_ - 1; }

 private:
  uint64_t next_ = 0;  // highest accepted counter + 1 (0 = nothing seen yet)
  std::array<uint64_t, words> bitmap_{};
};

}  // namespace overlayd::wg
