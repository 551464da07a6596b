// crypto/keys.hpp — 32-byte WireGuard keys, their text codecs, and X25519.
//
//   public_key           32 public bytes; == is constant time; std::hash-able
//   private_key          secret<32> (wiped); always stored clamped
//   preshared_key        secret<32> (all zero = "no PSK", as WireGuard)
//   key_to_base64(bytes) -> 44 chars;  key_from_base64(text) -> 32 bytes or
//                           error (strict: 44 chars, '=' pad, canonical last
//                           char, exactly 32 bytes)
//   key_to_hex(bytes)   -> 64 lowercase chars (UAPI); key_from_hex(text) strict
//   private_key_from_*   the same, returning a clamped private_key
//   generate_private_key()  random, clamped (RFC 7748 §5)
//   public_from_private(sk) X25519 base-point multiplication
//   x25519(sk, pk)       -> shared secret, error if all zero (low-order point)
//
// libsodium must be initialised: every function here calls crypto_init()
// (idempotent, thread-safe) where needed. Namespace overlayd::crypto.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "crypto/secret.hpp"

namespace overlayd::crypto {

inline constexpr size_t key_size = 32;

// sodium_init(); returns false only if libsodium cannot initialise.
bool crypto_init() noexcept;

struct public_key {
  std::array<uint8_t, key_size> bytes{};

  const uint8_t* data() const noexcept { return bytes.data(); }
  static constexpr size_t size() noexcept { return key_size; }
  std::span<const uint8_t, 32> span() const noexcept { return std::span<const uint8_t, 32>(bytes); }
  bool is_zero() const noexcept { return is_zero_ct(bytes.data(), key_size); }
  friend bool operator==(const public_key& a, const public_key& b) noexcept {
    return equal_ct(a.bytes.data(), b.bytes.data(), key_size);
  }
};

using private_key = secret<key_size>;
using preshared_key = secret<key_size>;
using shared_secret = secret<key_size>;

std::string key_to_base64(std::span<const uint8_t, 32> key);
std::string key_to_hex(std::span<const uint8_t, 32> key);
result<std::array<uint8_t, 32>> key_from_base64(std::string_view text);
result<std::array<uint8_t, 32>> key_from_hex(std::string_view text);

result<public_key> public_key_from_base64(std::string_view text);
result<public_key> public_key_from_hex(std::string_view text);
result<private_key> private_key_from_base64(std::string_view text);  // clamped
result<private_key> private_key_from_hex(std::string_view text);     // clamped
result<preshared_key> preshared_key_from_base64(std::string_view text);
result<preshared_key> preshared_key_from_hex(std::string_view text);

void clamp(private_key& sk) noexcept;
private_key generate_private_key() noexcept;
public_key public_from_private(const private_key& sk) noexcept;
// DH(sk, pk); errc::protocol if the result is all zero.
result<shared_secret> x25519(const private_key& sk, const public_key& pk) noexcept;

}  // namespace overlayd::crypto

template <>
struct std::hash<overlayd::crypto::public_key> {
  size_t operator()(const overlayd::crypto::public_key& k) const noexcept {
    size_t h;
    std::memcpy(&h, k.bytes.data(), sizeof h);  // keys are uniformly random
    return h;
  }
};
