// crypto/tai64n.hpp — TAI64N timestamps as WireGuard uses them.
//
// 12 bytes: big-endian (2^62 + 10 + unix seconds) then big-endian nanoseconds.
// (WireGuard labels this TAI64N; like the reference implementations we add
// the 10 s TAI offset and no leap seconds. Only monotonicity matters to the
// protocol: the responder accepts an initiation only if its timestamp is
// greater than the last one from that peer.) Nanoseconds are rounded down to
// a multiple of 2^24 ns (~16.8 ms) so the value does not leak fine timing.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>

namespace overlayd::crypto {

inline constexpr size_t tai64n_size = 12;
using tai64n = std::array<uint8_t, tai64n_size>;

tai64n tai64n_from(std::chrono::system_clock::time_point t) noexcept;
// Big-endian fields make byte order the time order.
inline bool tai64n_after(const tai64n& a, const tai64n& b) noexcept {
  return std::memcmp(a.data(), b.data(), tai64n_size) > 0;
}

}  // namespace overlayd::crypto
