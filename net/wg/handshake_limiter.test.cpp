#include "net/wg/handshake_limiter.hpp"

#include <doctest/doctest.h>

#include <array>

#include "net/wg/handshake_queue.hpp"

using namespace overlayd;
using namespace overlayd::wg;

namespace {
net::ip_address IP(const char* s) { return *net::ip_address::parse(s); }
}  // namespace

TEST_CASE("under load a source gets a burst of 5 handshakes, then 20 per second") {
  handshake_limiter l;
  const time_point t0 = time_point{} + std::chrono::hours(1);
  int allowed = 0;
  for (int i = 0; i < 1000; ++i) allowed += l.allow(IP("192.0.2.7"), t0);
  CHECK(allowed == 5);
  // Another source is unaffected.
  CHECK(l.allow(IP("192.0.2.8"), t0));
  // Over one second of a steady flood (1000 tries spread over it): 20 more.
  allowed = 0;
  for (int i = 1; i <= 1000; ++i) allowed += l.allow(IP("192.0.2.7"), t0 + std::chrono::milliseconds(i));
  CHECK(allowed >= 19);  // 20 tokens accrue; the sum of 0.02-token steps may round one away
  CHECK(allowed <= 20);
  // IPv6 sources share a bucket per /64.
  for (int i = 0; i < 5; ++i) CHECK(l.allow(IP("2001:db8:1:2::1"), t0));
  CHECK_FALSE(l.allow(IP("2001:db8:1:2:ffff::9"), t0));
  CHECK(l.allow(IP("2001:db8:1:3::1"), t0));
}

TEST_CASE("a spoofed-source flood cannot grow the limiter past its bound") {
  handshake_limiter l;
  const time_point t0 = time_point{} + std::chrono::hours(1);
  for (uint32_t i = 0; i < 3 * handshake_limiter_max_sources; ++i) {
    std::array<uint8_t, 4> b{10, uint8_t(i >> 16), uint8_t(i >> 8), uint8_t(i)};
    for (int k = 0; k < 6; ++k) (void)l.allow(net::ip_address::v4(b), t0);  // bucket drained
  }
  CHECK(l.sources() <= handshake_limiter_max_sources + 1);
}

TEST_CASE("the handshake queue serves the priority lane first and bounds each lane") {
  handshake_queue<int> q(3, 2);
  for (int i = 0; i < 10; ++i) q.push(i, false);  // a flood fills the normal lane
  CHECK(q.normal_size() == 3);
  CHECK(q.push(100, true));  // ours still gets in
  CHECK(q.push(101, true));
  CHECK_FALSE(q.push(102, true));
  CHECK(q.pop() == 100);
  CHECK(q.pop() == 101);
  CHECK(q.pop() == 0);
  CHECK(q.pop() == 1);
  CHECK(q.pop() == 2);
  CHECK_FALSE(q.pop().has_value());
  CHECK(q.empty());
}
