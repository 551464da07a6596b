// Per-source-IP admission of handshake work under load, as WireGuard's
// ratelimiter: a token bucket per source address (IPv6 by /64: one host
// holds a whole /64), handshake_rate per second with a burst of
// handshake_burst. Under load every handshake message, answered with a
// cookie reply or with the Noise work, first takes a token from its source's
// bucket; a flood from one address (or one /64) gets that much of our CPU
// and no more, whatever cookie it holds. Plain data: the caller passes now.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "net/ip.hpp"
#include "net/wg/clock.hpp"

namespace overlayd::wg {

inline constexpr double handshake_rate = 20;   // per second per source
inline constexpr double handshake_burst = 5;
inline constexpr size_t handshake_limiter_max_sources = 8192;

class handshake_limiter {
 public:
  bool allow(const net::ip_address& src, time_point now);
  size_t sources() const noexcept { return buckets_.size(); }

 private:
  struct bucket {
    double tokens = handshake_burst;
    time_point last{};
  };
  std::unordered_map<std::string, bucket> buckets_;
};

}  // namespace overlayd::wg
