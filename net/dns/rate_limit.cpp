#include "net/dns/rate_limit.hpp"

#include <algorithm>
#include <string>

namespace overlayd::net::dns {

response_limiter::verdict response_limiter::check(const ip_address& client, time now) {
  if (rate_ <= 0 || client.is_loopback()) return verdict::send;
  const unsigned bits = client.is_v4() ? limits::rrl_prefix_v4 : limits::rrl_prefix_v6;
  std::string key(reinterpret_cast<const char*>(client.data()), bits / 8);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= limits::rrl_max_prefixes) {
      // Full: forget buckets that have refilled (they hold no state worth
      // keeping); if none has, new prefixes share the limit of "unknown".
      for (auto b = buckets_.begin(); b != buckets_.end();) {
        const double refill = std::chrono::duration<double>(now - b->second.last).count() * rate_;
        b = b->second.tokens + refill >= burst_ ? buckets_.erase(b) : std::next(b);
      }
      if (buckets_.size() >= limits::rrl_max_prefixes) key.clear();
    }
    it = buckets_.try_emplace(key, bucket{burst_, now, 0}).first;
  }
  bucket& b = it->second;
  const double dt = std::chrono::duration<double>(now - b.last).count();
  b.tokens = std::min(burst_, b.tokens + std::max(0.0, dt) * rate_);
  b.last = now;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return verdict::send;
  }
  return ++b.over % limits::rrl_slip == 0 ? verdict::slip : verdict::drop;
}

}  // namespace overlayd::net::dns
