// Key codecs and X25519 (libsodium crypto_scalarmult).
#include "crypto/keys.hpp"

#include <sodium.h>

namespace overlayd::crypto {
namespace {

constexpr char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64_value(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

error bad_key(std::string_view what) { return error(errc::invalid_argument, "key: " + std::string(what)); }

template <class T, class F>
result<T> secret_from(F decode, std::string_view text) {
  auto r = decode(text);
  if (!r) return std::move(r).err();
  T out{std::span<const uint8_t, 32>(*r)};
  wipe(r->data(), r->size());
  return out;
}

}  // namespace

bool crypto_init() noexcept { return sodium_init() >= 0; }

std::string key_to_base64(std::span<const uint8_t, 32> key) {
  std::string out;
  out.reserve(44);
  uint32_t acc = 0;
  int bits = 0;
  for (uint8_t b : key) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(b64_alphabet[(acc >> bits) & 63]);
    }
  }
  // 256 bits = 42 sextets + 4 bits: one more char (low 2 bits zero) and '='.
  out.push_back(b64_alphabet[(acc << (6 - bits)) & 63]);
  out.push_back('=');
  return out;
}

result<std::array<uint8_t, 32>> key_from_base64(std::string_view text) {
  if (text.size() != 44 || text[43] != '=') return bad_key("base64 key must be 44 characters ending in '='");
  std::array<uint8_t, 32> out{};
  uint32_t acc = 0;
  int bits = 0;
  size_t n = 0;
  for (size_t i = 0; i < 43; ++i) {
    const int v = b64_value(text[i]);
    if (v < 0) return bad_key("invalid base64 character");
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = uint8_t(acc >> bits);
    }
  }
  // 43 chars = 258 bits: the 2 leftover bits must be zero (canonical form).
  if (n != 32 || (acc & ((1u << bits) - 1)) != 0) {
    wipe(out.data(), out.size());
    return bad_key("non-canonical base64 key");
  }
  return out;
}

std::string key_to_hex(std::span<const uint8_t, 32> key) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (uint8_t b : key) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 15]);
  }
  return out;
}

result<std::array<uint8_t, 32>> key_from_hex(std::string_view text) {
  if (text.size() != 64) return bad_key("hex key must be 64 characters");
  std::array<uint8_t, 32> out{};
  for (size_t i = 0; i < 32; ++i) {
    const int hi = hex_value(text[2 * i]);
    const int lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      wipe(out.data(), out.size());
      return bad_key("invalid hex character");
    }
    out[i] = uint8_t(hi << 4 | lo);
  }
  return out;
}

result<public_key> public_key_from_base64(std::string_view text) {
  auto r = key_from_base64(text);
  if (!r) return std::move(r).err();
  return public_key{*r};
}

result<public_key> public_key_from_hex(std::string_view text) {
  auto r = key_from_hex(text);
  if (!r) return std::move(r).err();
  return public_key{*r};
}

result<private_key> private_key_from_base64(std::string_view text) {
  auto r = secret_from<private_key>(key_from_base64, text);
  if (r) clamp(*r);
  return r;
}

result<private_key> private_key_from_hex(std::string_view text) {
  auto r = secret_from<private_key>(key_from_hex, text);
  if (r) clamp(*r);
  return r;
}

result<preshared_key> preshared_key_from_base64(std::string_view text) {
  return secret_from<preshared_key>(key_from_base64, text);
}

result<preshared_key> preshared_key_from_hex(std::string_view text) {
  return secret_from<preshared_key>(key_from_hex, text);
}

// RFC 7748 §5: clear the 3 low bits, clear bit 255, set bit 254.
void clamp(private_key& sk) noexcept {
  sk.data()[0] &= 248;
  sk.data()[31] = uint8_t((sk.data()[31] & 127) | 64);
}

private_key generate_private_key() noexcept {
  private_key sk;
  randombytes_buf(sk.data(), sk.size());
  clamp(sk);
  return sk;
}

public_key public_from_private(const private_key& sk) noexcept {
  crypto_init();
  public_key pk;
  crypto_scalarmult_base(pk.bytes.data(), sk.data());
  return pk;
}

result<shared_secret> x25519(const private_key& sk, const public_key& pk) noexcept {
  crypto_init();
  shared_secret out;
  // libsodium returns -1 for an all-zero result (a low-order point); check
  // ourselves as well so the rule does not depend on the library version.
  if (crypto_scalarmult(out.data(), sk.data(), pk.bytes.data()) != 0 || out.is_zero())
    return error(errc::protocol, "x25519: low-order public key (all-zero shared secret)");
  return out;
}

}  // namespace overlayd::crypto
