// BLAKE2s per RFC 7693 §3 (our own code), then HMAC (RFC 2104) and the
// WireGuard KDF on top.
#include "crypto/blake2s.hpp"

#include <algorithm>
#include <cstring>

#include "crypto/secret.hpp"

namespace overlayd::crypto {
namespace {

constexpr uint32_t iv[8] = {0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
                            0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19};

constexpr uint8_t sigma[10][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
};

inline uint32_t rotr(uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }
inline uint32_t load32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

// RFC 7693 §3.1 mixing function G with rotations (16, 12, 8, 7).
inline void g(uint32_t* v, int a, int b, int c, int d, uint32_t x, uint32_t y) {
  v[a] = v[a] + v[b] + x;
  v[d] = rotr(v[d] ^ v[a], 16);
  v[c] = v[c] + v[d];
  v[b] = rotr(v[b] ^ v[c], 12);
  v[a] = v[a] + v[b] + y;
  v[d] = rotr(v[d] ^ v[a], 8);
  v[c] = v[c] + v[d];
  v[b] = rotr(v[b] ^ v[c], 7);
}

}  // namespace

blake2s::blake2s(size_t outlen, bytes_view key) noexcept {
  outlen = std::clamp<size_t>(outlen, 1, blake2s_max_out);
  const size_t keylen = std::min(key.size(), blake2s_max_key);
  outlen_ = outlen;
  std::memcpy(h_, iv, sizeof h_);
  // Parameter block: digest length, key length, fanout 1, depth 1.
  h_[0] ^= 0x01010000u ^ uint32_t(keylen << 8) ^ uint32_t(outlen);
  t_[0] = t_[1] = 0;
  buflen_ = 0;
  std::memset(buf_, 0, sizeof buf_);
  if (keylen > 0) {
    // The key, zero-padded to a full block, is the first block.
    std::memcpy(buf_, key.data(), keylen);
    buflen_ = blake2s_block_size;
  }
}

blake2s::~blake2s() {
  wipe(h_, sizeof h_);
  wipe(buf_, sizeof buf_);
}

void blake2s::compress(const uint8_t* block, bool last) noexcept {
  uint32_t m[16];
  uint32_t v[16];
  for (int i = 0; i < 16; ++i) m[i] = load32(block + 4 * i);
  for (int i = 0; i < 8; ++i) {
    v[i] = h_[i];
    v[i + 8] = iv[i];
  }
  v[12] ^= t_[0];
  v[13] ^= t_[1];
  if (last) v[14] = ~v[14];
  for (int r = 0; r < 10; ++r) {
    const uint8_t* s = sigma[r];
    g(v, 0, 4, 8, 12, m[s[0]], m[s[1]]);
    g(v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
    g(v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
    g(v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
    g(v, 0, 5, 10, 15, m[s[8]], m[s[9]]);
    g(v, 1, 6, 11, 12, m[s[10]], m[s[11]]);
    g(v, 2, 7, 8, 13, m[s[12]], m[s[13]]);
    g(v, 3, 4, 9, 14, m[s[14]], m[s[15]]);
  }
  for (int i = 0; i < 8; ++i) h_[i] ^= v[i] ^ v[i + 8];
  wipe(m, sizeof m);
  wipe(v, sizeof v);
}

void blake2s::update(bytes_view in) noexcept {
  const uint8_t* p = in.data();
  size_t n = in.size();
  while (n > 0) {
    // Keep the last block buffered: it must be compressed with the final flag.
    if (buflen_ == blake2s_block_size) {
      t_[0] += blake2s_block_size;
      if (t_[0] < blake2s_block_size) ++t_[1];
      compress(buf_, false);
      buflen_ = 0;
    }
    const size_t take = std::min(n, blake2s_block_size - buflen_);
    std::memcpy(buf_ + buflen_, p, take);
    buflen_ += take;
    p += take;
    n -= take;
  }
}

void blake2s::final(std::span<uint8_t> out) noexcept {
  t_[0] += uint32_t(buflen_);
  if (t_[0] < buflen_) ++t_[1];
  std::memset(buf_ + buflen_, 0, blake2s_block_size - buflen_);
  compress(buf_, true);
  uint8_t digest[32];
  for (int i = 0; i < 8; ++i)
    for (int j = 0; j < 4; ++j) digest[4 * i + j] = uint8_t(h_[i] >> (8 * j));
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
