// net/wg/messages.hpp — the four WireGuard messages on the wire.
//
// Each message is a fixed-layout struct of byte arrays (no padding, no
// alignment needs), so a parsed message is a plain copy and serializing is a
// memcpy. `parse_*` take untrusted bytes and check the exact length and the
// type field (type byte + 3 zero bytes); they never read out of bounds.
//
//   message_type_of(bytes)   -> optional type, only if the header is valid and
//                               the length matches that type's rules
//   parse_initiation/parse_response/parse_cookie_reply(bytes) -> result<msg_*>
//   parse_transport(bytes)   -> result<transport_view> (spans into `bytes`)
//   msg.bytes()              the wire image (std::span<const uint8_t>)
//   write_transport_header(out16, receiver, counter)
//
// Offsets used by MAC1/MAC2: mac1 covers bytes [0, mac1_offset), mac2 covers
// [0, mac2_offset). Namespace overlayd::wg.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

#include "core/error.hpp"
#include "net/wg/constants.hpp"

namespace overlayd::wg {

using bytes_view = std::span<const uint8_t>;

inline uint32_t load_le32(const uint8_t* p) noexcept {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
inline void store_le32(uint8_t* p, uint32_t v) noexcept {
  for (int i = 0; i < 4; ++i) p[i] = uint8_t(v >> (8 * i));
}
inline uint64_t load_le64(const uint8_t* p) noexcept {
  return uint64_t(load_le32(p)) | uint64_t(load_le32(p + 4)) << 32;
}
inline void store_le64(uint8_t* p, uint64_t v) noexcept {
  store_le32(p, uint32_t(v));
  store_le32(p + 4, uint32_t(v >> 32));
}

// type(4) sender(4) ephemeral(32) static(32+16) timestamp(12+16) mac1(16) mac2(16)
struct msg_initiation {
  uint8_t type[4];
  uint8_t sender[4];
  uint8_t ephemeral[32];
  uint8_t encrypted_static[32 + 16];
  uint8_t encrypted_timestamp[12 + 16];
  uint8_t mac1[16];
  uint8_t mac2[16];

  static constexpr size_t mac1_offset = 116;
  static constexpr size_t mac2_offset = 132;
  uint32_t sender_index() const noexcept { return load_le32(sender); }
  bytes_view bytes() const noexcept { return {reinterpret_cast<const uint8_t*>(this), sizeof *this}; }
  std::span<uint8_t> mutable_bytes() noexcept { return {reinterpret_cast<uint8_t*>(this), sizeof *this}; }
};

// type(4) sender(4) receiver(4) ephemeral(32) empty(0+16) mac1(16) mac2(16)
struct msg_response {
  uint8_t type[4];
  uint8_t sender[4];
  uint8_t receiver[4];
  uint8_t ephemeral[32];
  uint8_t encrypted_nothing[16];
  uint8_t mac1[16];
  uint8_t mac2[16];

  static constexpr size_t mac1_offset = 60;
  static constexpr size_t mac2_offset = 76;
  uint32_t sender_index() const noexcept { return load_le32(sender); }
  uint32_t receiver_index() const noexcept { return load_le32(receiver); }
  bytes_view bytes() const noexcept { return {reinterpret_cast<const uint8_t*>(this), sizeof *this}; }
  std::span<uint8_t> mutable_bytes() noexcept { return {reinterpret_cast<uint8_t*>(this), sizeof *this}; }
};

// type(4) receiver(4) nonce(24) cookie(16+16)
struct msg_cookie_reply {
  uint8_t type[4];
  uint8_t receiver[4];
  uint8_t nonce[24];
  uint8_t encrypted_cookie[16 + 16];

  uint32_t receiver_index() const noexcept { return load_le32(receiver); }
  bytes_view bytes() const noexcept { return {reinterpret_cast<const uint8_t*>(this), sizeof *this}; }
};

static_assert(sizeof(msg_initiation) == initiation_size);
static_assert(sizeof(msg_response) == response_size);
static_assert(sizeof(msg_cookie_reply) == cookie_reply_size);
static_assert(offsetof(msg_initiation, mac1) == msg_initiation::mac1_offset);
static_assert(offsetof(msg_response, mac1) == msg_response::mac1_offset);

// A transport data message: header fields plus a view of the ciphertext
// (encrypted, padded packet || 16-byte tag) inside the caller's buffer.
struct transport_view {
  uint32_t receiver = 0;
  uint64_t counter = 0;
  bytes_view ciphertext;  // size >= 16
};

// The type of a well-formed message, judged on the header and length alone.
std::optional<message_type> message_type_of(bytes_view b) noexcept;

result<msg_initiation> parse_initiation(bytes_view b);
result<msg_response> parse_response(bytes_view b);
result<msg_cookie_reply> parse_cookie_reply(bytes_view b);
result<transport_view> parse_transport(bytes_view b);

void set_type(uint8_t (&type)[4], message_type t) noexcept;
// Writes the 16-byte transport header (type 4, receiver, counter).
void write_transport_header(uint8_t* out, uint32_t receiver, uint64_t counter) noexcept;

// Bytes of zero padding to add after a plaintext of `len` bytes so the
// encrypted payload is a multiple of 16 (never past `mtu`). Keepalives (len 0)
// stay empty.
size_t padding_for(size_t len, size_t mtu) noexcept;

}  // namespace overlayd::wg
