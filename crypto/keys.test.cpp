#include "crypto/keys.hpp"

#include <doctest/doctest.h>

#include "crypto/test_util.hpp"

using namespace overlayd::crypto;
using namespace overlayd::crypto::testing;

TEST_CASE("base64 and hex key codecs round-trip random keys") {
  for (int i = 0; i < 200; ++i) {
    std::array<uint8_t, 32> k{};
    random_bytes(k.data(), k.size());
    const auto b = key_to_base64(k);
    CHECK(b.size() == 44);
    auto back = key_from_base64(b);
    REQUIRE(back.ok());
    CHECK(*back == k);
    const auto h = key_to_hex(k);
    CHECK(h.size() == 64);
    auto back2 = key_from_hex(h);
    REQUIRE(back2.ok());
    CHECK(*back2 == k);
  }
}

TEST_CASE("a known base64 key decodes to its bytes") {
  // 32 bytes 0x00..0x1f
  auto k = key_from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
  REQUIRE(k.ok());
  CHECK(tohex(*k) == "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  CHECK(key_to_base64(*k) == "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
}

TEST_CASE("malformed base64 and hex keys are rejected") {
  const char* bad_b64[] = {
      "",
      "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",     // 43 chars, no pad
      "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8==",   // 45 chars
      "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=",    // non-canonical last char
      "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdH h8=",   // space
      "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8A",    // no '='
      "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd-h8=",    // url-safe alphabet
  };
  for (const char* s : bad_b64) CHECK_MESSAGE(!key_from_base64(s).ok(), s);
  CHECK(!key_from_hex("00").ok());
  CHECK(!key_from_hex(std::string(63, 'a')).ok());
  CHECK(!key_from_hex(std::string(64, 'g')).ok());
  CHECK(key_from_hex(std::string(64, 'A')).ok());  // upper case accepted
}

TEST_CASE("X25519 matches RFC 7748 section 6.1") {
  auto a = private_key_from_hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  auto b = private_key_from_hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  const auto pa = public_from_private(*a);
  const auto pb = public_from_private(*b);
  CHECK(tohex(pa.bytes) == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  CHECK(tohex(pb.bytes) == "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  auto s1 = x25519(*a, pb);
  auto s2 = x25519(*b, pa);
  REQUIRE(s1.ok());
  REQUIRE(s2.ok());
  CHECK(tohex(s1->span()) == "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
  CHECK(*s1 == *s2);
}

TEST_CASE("private keys are clamped on generation and on decode") {
  for (int i = 0; i < 50; ++i) {
    const auto sk = generate_private_key();
    CHECK((sk.data()[0] & 7) == 0);
    CHECK((sk.data()[31] & 0x80) == 0);
    CHECK((sk.data()[31] & 0x40) == 0x40);
  }
  auto sk = private_key_from_hex(std::string(64, 'f'));
  REQUIRE(sk.ok());
  CHECK(sk->data()[0] == 0xf8);
  CHECK(sk->data()[31] == 0x7f);
}

TEST_CASE("X25519 with a low-order point is rejected (all-zero shared secret)") {
  const auto sk = generate_private_key();
  public_key zero;  // the point 0 has order 4
  CHECK(!x25519(sk, zero).ok());
  public_key one;
  one.bytes[0] = 1;  // the point 1 has order 1
  CHECK(!x25519(sk, one).ok());
}

TEST_CASE("public keys compare by value and hash") {
  const auto a = public_from_private(generate_private_key());
  auto b = a;
  CHECK(a == b);
  b.bytes[31] ^= 1;
  CHECK(!(a == b));
  CHECK(std::hash<public_key>{}(a) == std::hash<public_key>{}(a));
}

TEST_CASE("public keys derived here match wireguard-tools' `wg genkey | wg pubkey`") {
  // Generated with wireguard-tools (its own Curve25519 code, not libsodium).
  auto sk = private_key_from_base64("6LM5B/weXajjBoblIfmDapu5U3JhsDAprHqU7Qa6UUY=");
  REQUIRE(sk.ok());
  CHECK(key_to_base64(public_from_private(*sk).span()) == "+9ENEprw8xXdK53RRt9uO+7/fV3DON2vPiNCdd5AUiI=");
  auto psk = preshared_key_from_base64("VioFPf+YcNHWh4eD8zVcos2G1Z/mRN0zZHCP+YMms/M=");
  REQUIRE(psk.ok());
  CHECK(key_to_base64(psk->span()) == "VioFPf+YcNHWh4eD8zVcos2G1Z/mRN0zZHCP+YMms/M=");
  CHECK(preshared_key_from_hex(key_to_hex(psk->span())).value() == *psk);
}
