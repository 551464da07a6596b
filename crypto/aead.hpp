// crypto/aead.hpp — AEAD wrappers over libsodium.
//
// ChaCha20-Poly1305 (IETF), nonce = 32 zero bits || 64-bit little-endian
// counter (WireGuard). XChaCha20-Poly1305 with a 24-byte nonce (cookies).
// Ciphertext = encrypted plaintext || 16-byte tag. In-place operation
// (out == in) is allowed. `open` returns false on authentication failure and
// then leaves `out` unspecified (never use it).
//
//   aead_seal(out[len+16], in[len], ad, counter, key)
//   aead_open(out[len-16], in[len], ad, counter, key) -> bool   (len >= 16)
//   xaead_seal / xaead_open   the same with nonce24
//
// Thread-safe, allocation-free. Namespace overlayd::crypto.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace overlayd::crypto {

inline constexpr size_t aead_tag_size = 16;
inline constexpr size_t xaead_nonce_size = 24;

void aead_seal(uint8_t* out, const uint8_t* in, size_t len, std::span<const uint8_t> ad,
               uint64_t counter, std::span<const uint8_t, 32> key) noexcept;
bool aead_open(uint8_t* out, const uint8_t* in, size_t len, std::span<const uint8_t> ad,
               uint64_t counter, std::span<const uint8_t, 32> key) noexcept;
void xaead_seal(uint8_t* out, const uint8_t* in, size_t len, std::span<const uint8_t> ad,
                std::span<const uint8_t, 24> nonce, std::span<const uint8_t, 32> key) noexcept;
bool xaead_open(uint8_t* out, const uint8_t* in, size_t len, std::span<const uint8_t> ad,
                std::span<const uint8_t, 24> nonce, std::span<const uint8_t, 32> key) noexcept;

}  // namespace overlayd::crypto
