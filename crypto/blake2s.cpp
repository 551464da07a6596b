// BLAKE2s (RFC 7693) from libb2, the BLAKE2 authors' library (Debian's
// libb2-dev); HMAC (RFC 2104) and the WireGuard KDF on top.
#include "crypto/blake2s.hpp"

#include <blake2.h>

#include <algorithm>
#include <cstring>

#include <sodium.h>

namespace overlayd::crypto {
namespace {

// The opaque state in the header holds libb2's.
static_assert(sizeof(blake2s_state) <= blake2s::state_bytes);
static_assert(alignof(blake2s_state) <= alignof(std::max_align_t));
static_assert(BLAKE2S_BLOCKBYTES == blake2s_block_size && BLAKE2S_OUTBYTES == blake2s_max_out &&
              BLAKE2S_KEYBYTES == blake2s_max_key);

void wipe(void* p, size_t n) noexcept { sodium_memzero(p, n); }

}  // namespace

blake2s::blake2s(size_t outlen, bytes_view key) noexcept {
  outlen_ = std::clamp<size_t>(outlen, 1, blake2s_max_out);
  const size_t keylen = std::min(key.size(), blake2s_max_key);
  auto* st = reinterpret_cast<blake2s_state*>(state_);
  // libb2 fails only on out-of-range lengths or a null key with keylen > 0,
  // which the clamps above rule out.
  if (keylen > 0)
    ::blake2s_init_key(st, outlen_, key.data(), keylen);
  else
    ::blake2s_init(st, outlen_);
}

blake2s::~blake2s() { wipe(state_, sizeof state_); }

void blake2s::update(bytes_view in) noexcept {
  if (!in.empty()) ::blake2s_update(reinterpret_cast<blake2s_state*>(state_), in.data(), in.size());
}

void blake2s::final(std::span<uint8_t> out) noexcept {
  uint8_t digest[blake2s_max_out];
  ::blake2s_final(reinterpret_cast<blake2s_state*>(state_), digest, outlen_);
  std::memcpy(out.data(), digest, std::min(outlen_, out.size()));
  wipe(digest, sizeof digest);
}

void blake2s_hash(std::span<uint8_t> out, bytes_view in, bytes_view key) noexcept {
  blake2s h(out.size(), key);
  h.update(in);
  h.final(out);
}

void hash(std::span<uint8_t, 32> out, bytes_view a, bytes_view b) noexcept {
  blake2s h(32);
  h.update(a);
  h.update(b);
  h.final(out);
}

void hmac(std::span<uint8_t, 32> out, bytes_view key, bytes_view in) noexcept {
  uint8_t k[blake2s_block_size] = {};
  if (key.size() > blake2s_block_size) {
    blake2s_hash(std::span<uint8_t>(k, 32), key);
  } else {
    std::memcpy(k, key.data(), key.size());
  }
  uint8_t pad[blake2s_block_size];
  uint8_t inner[32];
  for (size_t i = 0; i < sizeof pad; ++i) pad[i] = k[i] ^ 0x36;
  {
    blake2s h(32);
    h.update(pad);
    h.update(in);
    h.final(inner);
  }
  for (size_t i = 0; i < sizeof pad; ++i) pad[i] = k[i] ^ 0x5c;
  {
    blake2s h(32);
    h.update(pad);
    h.update(inner);
    h.final(out);
  }
  wipe(k, sizeof k);
  wipe(pad, sizeof pad);
  wipe(inner, sizeof inner);
}

namespace {

// WireGuard's HKDF: t0 = HMAC(key, in); t1 = HMAC(t0, 0x1); ti = HMAC(t0, t(i-1) || i).
void kdf(std::span<const uint8_t, 32> key, bytes_view in, std::span<uint8_t, 32>* outs, int n) noexcept {
  uint8_t t0[32];
  uint8_t prev[33];
  hmac(t0, key, in);
  size_t prevlen = 0;
  for (int i = 0; i < n; ++i) {
    prev[prevlen] = uint8_t(i + 1);
    uint8_t ti[32];
    hmac(ti, t0, bytes_view(prev, prevlen + 1));
    std::memcpy(prev, ti, 32);
    prevlen = 32;
    std::memcpy(outs[i].data(), ti, 32);
    wipe(ti, sizeof ti);
  }
  wipe(t0, sizeof t0);
  wipe(prev, sizeof prev);
}

}  // namespace

void kdf1(std::span<const uint8_t, 32> key, bytes_view in, std::span<uint8_t, 32> t1) noexcept {
  std::span<uint8_t, 32> outs[] = {t1};
  kdf(key, in, outs, 1);
}

void kdf2(std::span<const uint8_t, 32> key, bytes_view in, std::span<uint8_t, 32> t1,
          std::span<uint8_t, 32> t2) noexcept {
  std::span<uint8_t, 32> outs[] = {t1, t2};
  kdf(key, in, outs, 2);
}

void kdf3(std::span<const uint8_t, 32> key, bytes_view in, std::span<uint8_t, 32> t1,
          std::span<uint8_t, 32> t2, std::span<uint8_t, 32> t3) noexcept {
  std::span<uint8_t, 32> outs[] = {t1, t2, t3};
  kdf(key, in, outs, 3);
}

void mac(std::span<uint8_t, 16> out, bytes_view key, bytes_view in) noexcept {
  blake2s h(16, key);
  h.update(in);
  h.final(out);
}

}  // namespace overlayd::crypto
