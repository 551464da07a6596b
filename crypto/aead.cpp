// AEAD wrappers: WireGuard's nonce layout (4 zero bytes || LE64 counter).
#include "crypto/aead.hpp"

#include <sodium.h>

namespace overlayd::crypto {
namespace {

void counter_nonce(uint8_t (&n)[12], uint64_t counter) noexcept {
  for (int i = 0; i < 4; ++i) n[i] = 0;
  for (int i = 0; i < 8; ++i) n[4 + i] = uint8_t(counter >> (8 * i));
}

}  // namespace

void aead_seal(uint8_t* out, const uint8_t* in, size_t len, std::span<const uint8_t> ad,
               uint64_t counter, std::span<const uint8_t, 32> key) noexcept {
  uint8_t nonce[12];
  counter_nonce(nonce, counter);
  crypto_aead_chacha20poly1305_ietf_encrypt(out, nullptr, in, len, ad.data(), ad.size(), nullptr,
                                            nonce, key.data());
}

bool aead_open(uint8_t* out, const uint8_t* in, size_t len, std::span<const uint8_t> ad,
               uint64_t counter, std::span<const uint8_t, 32> key) noexcept {
  if (len < aead_tag_size) return false;
  uint8_t nonce[12];
  counter_nonce(nonce, counter);
  return crypto_aead_chacha20poly1305_ietf_decrypt(out, nullptr, nullptr, in, len, ad.data(), ad.size(),
                                                   nonce, key.data()) == 0;
}

void xaead_seal(uint8_t* out, const uint8_t* in, size_t len, std::span<const uint8_t> ad,
                std::span<const uint8_t, 24> nonce, std::span<const uint8_t, 32> key) noexcept {
  crypto_aead_xchacha20poly1305_ietf_encrypt(out, nullptr, in, len, ad.data(), ad.size(), nullptr,
                                             nonce.data(), key.data());
}

bool xaead_open(uint8_t* out, const uint8_t* in, size_t len, std::span<const uint8_t> ad,
                std::span<const uint8_t, 24> nonce, std::span<const uint8_t, 32> key) noexcept {
  if (len < aead_tag_size) return false;
  return crypto_aead_xchacha20poly1305_ietf_decrypt(out, nullptr, nullptr, in, len, ad.data(),
                                                    ad.size(), nonce.data(), key.data()) == 0;
}

}  // namespace overlayd::crypto
