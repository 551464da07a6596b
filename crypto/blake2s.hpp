// crypto/blake2s.hpp — BLAKE2s (RFC 7693, from libb2) and the WireGuard
// constructions built on it.
//
//   blake2s h(outlen, key); h.update(bytes); h.final(out);   streaming
//   blake2s_hash(out, in, key = {})      one shot; out.size() = digest length 1..32
//   hash(out32, a, b = {})               HASH(a || b), 32-byte digest (Noise HASH)
//   hmac(out32, key, in)                 HMAC-BLAKE2s (RFC 2104, block 64)
//   kdf1/kdf2/kdf3(key32, in, t1[, t2[, t3]])  WireGuard's HKDF:
//        t0 = HMAC(key, in); t1 = HMAC(t0, 0x1); ti = HMAC(t0, t(i-1) || i)
//   mac(out16, key, in)                  keyed BLAKE2s-128 (MAC1/MAC2);
//                                        key is 32 bytes (MAC1) or 16 (cookie)
//
// All functions are pure, allocation-free, thread-safe; intermediate state is
// wiped. Namespace overlayd::crypto.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace overlayd::crypto {

inline constexpr size_t blake2s_block_size = 64;
inline constexpr size_t blake2s_max_out = 32;
inline constexpr size_t blake2s_max_key = 32;
inline constexpr size_t hash_size = 32;
inline constexpr size_t mac_size = 16;

using bytes_view = std::span<const uint8_t>;

class blake2s {
 public:
  // outlen in 1..32, key.size() in 0..32; out-of-range values are clamped so
  // the object is always usable (callers pass constants).
  explicit blake2s(size_t outlen = 32, bytes_view key = {}) noexcept;
  ~blake2s();
  blake2s(const blake2s&) = delete;
  blake2s& operator=(const blake2s&) = delete;

  void update(bytes_view in) noexcept;
  // Writes outlen bytes to out (out.size() >= outlen). Call once.
  void final(std::span<uint8_t> out) noexcept;

  // Room for libb2's blake2s_state (checked in blake2s.cpp); opaque here so
  // that <blake2.h>'s C names (a function called blake2s) stay out of every
  // includer.
  static constexpr size_t state_bytes = 192;

 private:
  alignas(std::max_align_t) unsigned char state_[state_bytes];
  size_t outlen_;
};

void blake2s_hash(std::span<uint8_t> out, bytes_view in, bytes_view key = {}) noexcept;
void hash(std::span<uint8_t, 32> out, bytes_view a, bytes_view b = {}) noexcept;
void hmac(std::span<uint8_t, 32> out, bytes_view key, bytes_view in) noexcept;
void kdf1(std::span<const uint8_t, 32> key, bytes_view in, std::span<uint8_t, 32> t1) noexcept;
void kdf2(std::span<const uint8_t, 32> key, bytes_view in, std::span<uint8_t, 32> t1,
          std::span<uint8_t, 32> t2) noexcept;
void kdf3(std::span<const uint8_t, 32> key, bytes_view in, std::span<uint8_t, 32> t1,
          std::span<uint8_t, 32> t2, std::span<uint8_t, 32> t3) noexcept;
void mac(std::span<uint8_t, 16> out, bytes_view key, bytes_view in) noexcept;

}  // namespace overlayd::crypto
