#include "crypto/aead.hpp"

#include <doctest/doctest.h>
#include <sodium.h>

#include <vector>

#include "crypto/secret.hpp"
#include "crypto/test_util.hpp"

using namespace overlayd::crypto;
using namespace overlayd::crypto::testing;

TEST_CASE("ChaCha20-Poly1305 uses the nonce 0x00000000 || little-endian counter") {
  std::array<uint8_t, 32> key{};
  random_bytes(key.data(), key.size());
  const auto msg = bytes_of("attack at dawn");
  const auto ad = bytes_of("ad");
  const uint64_t counter = 0x0102030405060708ull;
  std::vector<uint8_t> ours(msg.size() + 16), ref(msg.size() + 16);
  aead_seal(ours.data(), msg.data(), msg.size(), ad, counter, key);
  const uint8_t nonce[12] = {0, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1};
  crypto_aead_chacha20poly1305_ietf_encrypt(ref.data(), nullptr, msg.data(), msg.size(), ad.data(), ad.size(),
                                            nullptr, nonce, key.data());
  CHECK(ours == ref);
}

TEST_CASE("AEAD round-trips in place and rejects any tampering") {
  std::array<uint8_t, 32> key{};
  random_bytes(key.data(), key.size());
  for (size_t len : {0, 1, 15, 16, 17, 1420}) {
    std::vector<uint8_t> buf(len + 16);
    for (size_t i = 0; i < len; ++i) buf[i] = uint8_t(i * 7);
    const std::vector<uint8_t> plain(buf.begin(), buf.begin() + long(len));
    aead_seal(buf.data(), buf.data(), len, {}, 42, key);
    auto copy = buf;
    REQUIRE(aead_open(copy.data(), copy.data(), copy.size(), {}, 42, key));
    CHECK(std::vector<uint8_t>(copy.begin(), copy.begin() + long(len)) == plain);
    CHECK(!aead_open(copy.data(), buf.data(), buf.size(), {}, 43, key));  // wrong counter
    auto bad = buf;
    bad[bad.size() / 2] ^= 1;
    CHECK(!aead_open(bad.data(), bad.data(), bad.size(), {}, 42, key));
  }
  uint8_t tiny[15] = {};
  CHECK(!aead_open(tiny, tiny, sizeof tiny, {}, 0, key));
}

TEST_CASE("XChaCha20-Poly1305 round-trips and binds the additional data") {
  std::array<uint8_t, 32> key{};
  std::array<uint8_t, 24> nonce{};
  random_bytes(key.data(), key.size());
  random_bytes(nonce.data(), nonce.size());
  const auto msg = bytes_of("0123456789abcdef");
  const auto ad = bytes_of("mac1 of the message");
  std::vector<uint8_t> ct(msg.size() + 16), pt(msg.size());
  xaead_seal(ct.data(), msg.data(), msg.size(), ad, nonce, key);
  REQUIRE(xaead_open(pt.data(), ct.data(), ct.size(), ad, nonce, key));
  CHECK(pt == msg);
  CHECK(!xaead_open(pt.data(), ct.data(), ct.size(), bytes_of("other"), nonce, key));
}
