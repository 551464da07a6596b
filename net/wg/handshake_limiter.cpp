#include "net/wg/handshake_limiter.hpp"

#include <algorithm>

namespace overlayd::wg {

bool handshake_limiter::allow(const net::ip_address& src, time_point now) {
  std::string key(reinterpret_cast<const char*>(src.data()), src.is_v4() ? 4 : 8);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= handshake_limiter_max_sources) {
      // Forget sources whose buckets have refilled: they hold nothing.
      for (auto b = buckets_.begin(); b != buckets_.end();) {
        const double dt = std::chrono::duration<double>(now - b->second.last).count();
        b = b->second.tokens + dt * handshake_rate >= handshake_burst ? buckets_.erase(b) : std::next(b);
      }
      // Still full of active sources (a spoofed-source flood): the newcomers
      // share one bucket, so the table cannot grow.
      if (buckets_.size() >= handshake_limiter_max_sources) key.clear();
    }
    it = buckets_.try_emplace(key, bucket{handshake_burst, now}).first;
  }
  bucket& b = it->second;
  const double dt = std::max(0.0, std::chrono::duration<double>(now - b.last).count());
  b.tokens = std::min(handshake_burst, b.tokens + dt * handshake_rate);
  b.last = now;
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

}  // namespace overlayd::wg
