#include "crypto/tai64n.hpp"

namespace overlayd::crypto {

tai64n tai64n_from(std::chrono::system_clock::time_point t) noexcept {
  using namespace std::chrono;
  const auto since = t.time_since_epoch();
  const auto secs = duration_cast<seconds>(since);
  auto nanos = duration_cast<nanoseconds>(since - secs).count();
  if (nanos < 0) nanos = 0;  // pre-1970 clocks: clamp, never underflow
  // Coarsen to 2^24 ns so the timestamp is not a fine-grained timing oracle.
  const uint32_t ns = uint32_t(nanos) & ~((uint32_t{1} << 24) - 1);
  const uint64_t label = (uint64_t{1} << 62) + 10 + uint64_t(secs.count());
  tai64n out{};
  for (int i = 0; i < 8; ++i) out[i] = uint8_t(label >> (56 - 8 * i));
  for (int i = 0; i < 4; ++i) out[8 + i] = uint8_t(ns >> (24 - 8 * i));
  return out;
}

}  // namespace overlayd::crypto
