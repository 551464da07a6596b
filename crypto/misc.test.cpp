#include <doctest/doctest.h>

#include "crypto/relay_auth.hpp"
#include "crypto/secret.hpp"
#include "crypto/tai64n.hpp"
#include "crypto/test_util.hpp"

using namespace overlayd::crypto;
using namespace overlayd::crypto::testing;
using namespace std::chrono;

TEST_CASE("TAI64N encodes 2^62 + 10 + unix seconds and coarse nanoseconds, big-endian") {
  const system_clock::time_point t{seconds(1'700'000'000) + nanoseconds(123'456'789)};
  const auto ts = tai64n_from(t);
  // 2^62 + 10 + 1700000000 = 0x400000006553f10a
  CHECK(tohex(ts) == "400000006553f10a07000000");  // 123456789 ns rounded down to 2^24 ns
  const auto later = tai64n_from(t + milliseconds(20));
  CHECK(tai64n_after(later, ts));
  CHECK(!tai64n_after(ts, later));
  CHECK(!tai64n_after(ts, ts));
  const system_clock::time_point whole{seconds(1'700'000'001)};
  CHECK(tai64n_after(tai64n_from(whole), tai64n_from(whole - milliseconds(1))));
}

TEST_CASE("relay auth key and MAC match BLAKE2b computed independently (Python hashlib)") {
  const auto key = relay_auth_key("secret-cred");
  CHECK(tohex(key.span()) == "fccb62bcbe3b37eebfef6f56ed3c5ee3d9e7fa89ff4f06dfaffef00a94e99700");
  const auto m = relay_mac(key, bytes_of("frame"));
  CHECK(tohex(m) == "06c75d0573ce6dae86d40dda578aa06d");
  CHECK(!(relay_auth_key("") == key));
}

TEST_CASE("a secret is wiped when moved from and compares in constant time") {
  std::array<uint8_t, 32> raw{};
  raw.fill(0xab);
  secret<32> a{std::span<const uint8_t, 32>(raw)};
  secret<32> b = a;
  CHECK(a == b);
  secret<32> c = std::move(a);
  CHECK(a.is_zero());
  CHECK(c == b);
  c.clear();
  CHECK(c.is_zero());
}
