// Response rate limiting per client prefix, as BIND's RRL: a UDP server
// answering anyone is a reflector for whoever spoofs a victim's address; a
// token bucket per /24 (IPv4) or /56 (IPv6) caps what one network receives.
// Over the limit every rrl_slip-th response is sent truncated (TC, a few
// dozen octets: a genuine client retries over TCP, which cannot be spoofed)
// and the rest are dropped. Plain data, no clock of its own: callers pass now.
#pragma once

#include <chrono>
#include <cstdint>
#include <unordered_map>

#include "net/dns/limits.hpp"
#include "net/ip.hpp"

namespace overlayd::net::dns {

class response_limiter {
 public:
  enum class verdict { send, slip, drop };
  using time = std::chrono::steady_clock::time_point;

  // per_second <= 0 turns limiting off.
  explicit response_limiter(double per_second = limits::rrl_default_per_second,
                            double burst = limits::rrl_default_burst)
      : rate_(per_second), burst_(burst) {}

  verdict check(const ip_address& client, time now);
  size_t prefixes() const noexcept { return buckets_.size(); }

 private:
  struct bucket {
    double tokens = 0;
    time last{};
    unsigned over = 0;  // responses over the limit so far (for the slip)
  };
  double rate_, burst_;
  std::unordered_map<std::string, bucket> buckets_;
};

}  // namespace overlayd::net::dns
