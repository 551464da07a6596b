#include "crypto/blake2s.hpp"

#include <doctest/doctest.h>
#include <sodium.h>

#include <array>

#include "crypto/test_util.hpp"

using namespace overlayd::crypto;
using namespace overlayd::crypto::testing;

namespace {

// RFC 7693 Appendix E: deterministic input sequence.
std::vector<uint8_t> selftest_seq(size_t len, uint32_t seed) {
  std::vector<uint8_t> out(len);
  uint32_t a = 0xDEAD4BADu * seed, b = 1;
  for (size_t i = 0; i < len; ++i) {
    const uint32_t t = a + b;
    a = b;
    b = t;
    out[i] = uint8_t(t >> 24);
  }
  return out;
}

std::string b2s(bytes_view in, size_t outlen = 32, bytes_view key = {}) {
  std::vector<uint8_t> out(outlen);
  blake2s_hash(out, in, key);
  return tohex(out);
}

}  // namespace

TEST_CASE("BLAKE2s-256 of \"abc\" matches RFC 7693 Appendix C") {
  CHECK(b2s(bytes_of("abc")) == "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982");
}

TEST_CASE("BLAKE2b-512 of \"abc\" (RFC 7693 Appendix B) through libsodium, the BLAKE2b we rely on") {
  std::array<uint8_t, 64> out{};
  const auto in = bytes_of("abc");
  REQUIRE(crypto_generichash(out.data(), out.size(), in.data(), in.size(), nullptr, 0) == 0);
  CHECK(tohex(out) ==
        "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
        "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923");
}

TEST_CASE("BLAKE2s passes the RFC 7693 Appendix E keyed and unkeyed self-test") {
  blake2s ctx(32);
  for (size_t outlen : {16, 20, 28, 32}) {
    for (size_t inlen : {0, 3, 64, 65, 255, 1024}) {
      const auto in = selftest_seq(inlen, uint32_t(inlen));
      std::vector<uint8_t> md(outlen);
      blake2s_hash(md, in);
      ctx.update(md);
      const auto key = selftest_seq(outlen, uint32_t(outlen));
      blake2s_hash(md, in, key);
      ctx.update(md);
    }
  }
  std::array<uint8_t, 32> result{};
  ctx.final(result);
  CHECK(tohex(result) == "6a411f08ce25adcdfb02aba641451cec53c598b24f4fc787fbdc88797f4c1dfe");
}

TEST_CASE("BLAKE2s streaming in odd chunks equals one-shot hashing") {
  const auto in = selftest_seq(1000, 7);
  for (size_t chunk : {1, 7, 63, 64, 65, 200}) {
    blake2s h(32);
    for (size_t off = 0; off < in.size(); off += chunk)
      h.update(bytes_view(in).subspan(off, std::min(chunk, in.size() - off)));
    std::array<uint8_t, 32> a{};
    h.final(a);
    CHECK(tohex(a) == b2s(in));
  }
}

TEST_CASE("HMAC-BLAKE2s matches Python's hmac(hashlib.blake2s)") {
  std::array<uint8_t, 32> out{};
  hmac(out, bytes_of("key"), bytes_of("The quick brown fox jumps over the lazy dog"));
  CHECK(tohex(out) == "f93215bb90d4af4c3061cd932fb169fb8bb8a91d0b4022baea1271e1323cd9a0");
  std::vector<uint8_t> key(100), msg(200);
  for (size_t i = 0; i < key.size(); ++i) key[i] = uint8_t(i);
  for (size_t i = 0; i < msg.size(); ++i) msg[i] = uint8_t(i);
  hmac(out, key, msg);  // key longer than a block is hashed first
  CHECK(tohex(out) == "c4c95271905c6f69c1dd7c6fbc0cb3735457a660ccc2c4370f28825e7abef5af");
}

TEST_CASE("KDF1/KDF2/KDF3 produce the HKDF chain t1, t2, t3 and agree with each other") {
  std::array<uint8_t, 32> key{};
  for (size_t i = 0; i < 32; ++i) key[i] = uint8_t(i);
  const auto in = bytes_of("input keying material");
  std::array<uint8_t, 32> a1{}, b1{}, b2{}, c1{}, c2{}, c3{};
  kdf1(key, in, a1);
  kdf2(key, in, b1, b2);
  kdf3(key, in, c1, c2, c3);
  CHECK(tohex(a1) == "d49ec1ae587b690ec2d4c38d1802dd052d26ab3338bc0b665629ece5dfc61ae1");
  CHECK(tohex(b1) == tohex(a1));
  CHECK(tohex(c1) == tohex(a1));
  CHECK(tohex(b2) == "46d705e3e5cbc140bbfdf613d3733a0c3905bf21d5e1b34213c5a2a883b10553");
  CHECK(tohex(c2) == tohex(b2));
  CHECK(tohex(c3) == "17e6966e3a04136a899866a1650d1a323fdcdcb19956e0e97c6be5291850b302");
}

TEST_CASE("KDF output may overwrite its own key, as the Noise chaining key does") {
  std::array<uint8_t, 32> key{};
  for (size_t i = 0; i < 32; ++i) key[i] = uint8_t(i);
  std::array<uint8_t, 32> expect{}, k2{};
  kdf2(key, bytes_of("x"), expect, k2);
  kdf2(key, bytes_of("x"), key, k2);
  CHECK(tohex(key) == tohex(expect));
}

TEST_CASE("keyed BLAKE2s-128 MAC matches Python for 32- and 16-byte keys") {
  std::array<uint8_t, 32> k32{};
  for (size_t i = 0; i < 32; ++i) k32[i] = uint8_t(i);
  std::array<uint8_t, 16> out{};
  mac(out, k32, bytes_of("hello"));
  CHECK(tohex(out) == "1f946dc212a39570bc06fd378517a91e");
  mac(out, bytes_view(k32).first(16), bytes_of("hello"));
  CHECK(tohex(out) == "6a25fa5a331f36d9bda9c0aeca70bc0b");
}

TEST_CASE("HASH(a || b) chains from the Noise construction to WireGuard's initial hash") {
  std::array<uint8_t, 32> c{}, h{};
  hash(c, bytes_of("Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"));
  CHECK(tohex(c) == "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36");
  hash(h, c, bytes_of("WireGuard v1 zx2c4 Jason@zx2c4.com"));
  CHECK(tohex(h) == "2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3");
}
