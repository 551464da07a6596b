#include "net/dns/rate_limit.hpp"

#include <doctest/doctest.h>

using namespace overlayd::net;
using namespace overlayd::net::dns;

namespace {
ip_address IP(const char* s) { return ip_address::parse(s).value(); }
}  // namespace

TEST_CASE("responses to one prefix are limited to the burst, then the rate; slips are every 2nd over") {
  response_limiter rl(10, 5);
  const auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  int sent = 0, slipped = 0, dropped = 0;
  for (int i = 0; i < 25; ++i) {
    // Different hosts of one /24 share the bucket.
    auto v = rl.check(IP(i % 2 ? "198.51.100.7" : "198.51.100.200"), t0);
    sent += v == response_limiter::verdict::send;
    slipped += v == response_limiter::verdict::slip;
    dropped += v == response_limiter::verdict::drop;
  }
  CHECK(sent == 5);
  CHECK(slipped == 10);
  CHECK(dropped == 10);
  // Another prefix is not affected; loopback is never limited.
  CHECK(rl.check(IP("198.51.101.7"), t0) == response_limiter::verdict::send);
  for (int i = 0; i < 100; ++i) CHECK(rl.check(IP("127.0.0.1"), t0) == response_limiter::verdict::send);
  // A second later, 10 more tokens.
  const auto t1 = t0 + std::chrono::seconds(1);
  sent = 0;
  for (int i = 0; i < 20; ++i) sent += rl.check(IP("198.51.100.9"), t1) == response_limiter::verdict::send;
  CHECK(sent == 5);  // capped by the burst, not 10
}

TEST_CASE("IPv6 clients share a bucket per /56; a rate of 0 turns limiting off") {
  response_limiter rl(1, 1);
  const auto t = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  CHECK(rl.check(IP("2001:db8:0:100::1"), t) == response_limiter::verdict::send);
  CHECK(rl.check(IP("2001:db8:0:1ff::2"), t) != response_limiter::verdict::send);
  CHECK(rl.check(IP("2001:db8:0:200::2"), t) == response_limiter::verdict::send);
  response_limiter off(0, 0);
  for (int i = 0; i < 100; ++i) CHECK(off.check(IP("198.51.100.1"), t) == response_limiter::verdict::send);
}
