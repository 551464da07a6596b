// STUN message codec (RFC 8489, formerly 5389) plus the TURN methods and
// attributes (RFC 8656) the TURN client needs. Plain data in, plain data out.
//
// Parsing is strict: the header must be well formed (top bits zero, magic
// cookie, length a multiple of 4 that matches the datagram), every attribute
// must fit, and a FINGERPRINT, when present, must be last and must verify.
// Attributes after MESSAGE-INTEGRITY other than FINGERPRINT are ignored
// (section 14.5); unknown attributes are kept as raw values and skipped by
// callers (comprehension-required ones are reported, see unknown_required()).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "net/ip.hpp"
#include "net/nat/byte_io.hpp"

namespace overlayd::net::nat {

inline constexpr uint32_t stun_magic_cookie = 0x2112A442;
inline constexpr uint32_t stun_fingerprint_xor = 0x5354554E;
inline constexpr size_t stun_header_size = 20;

using transaction_id = std::array<uint8_t, 12>;

enum class stun_method : uint16_t {
  binding = 0x001,
  allocate = 0x003,
  refresh = 0x004,
  send = 0x006,
  data = 0x007,
  create_permission = 0x008,
  channel_bind = 0x009,
};

enum class stun_class : uint8_t { request = 0, indication = 1, success = 2, error = 3 };

namespace stun_attr {
inline constexpr uint16_t mapped_address = 0x0001;
inline constexpr uint16_t username = 0x0006;
inline constexpr uint16_t message_integrity = 0x0008;
inline constexpr uint16_t error_code = 0x0009;
inline constexpr uint16_t unknown_attributes = 0x000A;
inline constexpr uint16_t channel_number = 0x000C;
inline constexpr uint16_t lifetime = 0x000D;
inline constexpr uint16_t xor_peer_address = 0x0012;
inline constexpr uint16_t data = 0x0013;
inline constexpr uint16_t realm = 0x0014;
inline constexpr uint16_t nonce = 0x0015;
inline constexpr uint16_t xor_relayed_address = 0x0016;
inline constexpr uint16_t requested_transport = 0x0019;
inline constexpr uint16_t xor_mapped_address = 0x0020;
inline constexpr uint16_t priority = 0x0024;
inline constexpr uint16_t software = 0x8022;
inline constexpr uint16_t fingerprint = 0x8028;
inline constexpr uint16_t ice_controlled = 0x8029;
}  // namespace stun_attr

struct stun_attribute {
  uint16_t type = 0;
  bytes value;
};

struct stun_error_code {
  unsigned code = 0;  // 300..699
  std::string reason;
};

// A decoded message. `raw` keeps the bytes for MESSAGE-INTEGRITY checks.
struct stun_message {
  stun_method method = stun_method::binding;
  stun_class cls = stun_class::request;
  transaction_id txn{};
  std::vector<stun_attribute> attributes;  // in wire order, after-MI ones dropped
  bool has_fingerprint = false;
  std::optional<size_t> integrity_offset;  // offset of the MI attribute in raw
  bytes raw;

  const stun_attribute* find(uint16_t type) const noexcept;
  std::optional<std::string> string_attr(uint16_t type) const;
  // XOR-MAPPED-ADDRESS, falling back to MAPPED-ADDRESS (RFC 3489 servers).
  std::optional<endpoint> mapped_address() const;
  std::optional<endpoint> xor_address(uint16_t type) const;
  std::optional<stun_error_code> error_code() const;
  std::optional<uint32_t> u32_attr(uint16_t type) const;
  // Comprehension-required (type < 0x8000) attributes we do not know.
  std::vector<uint16_t> unknown_required() const;
  // HMAC-SHA1 over the message up to MESSAGE-INTEGRITY with the length field
  // adjusted as section 14.5 says. False when there is no MI attribute.
  bool check_integrity(byte_span key) const;
};

// True when the datagram looks like STUN: top two bits zero and the magic
// cookie at offset 4. This is how a shared socket demultiplexes STUN from
// WireGuard (whose first byte is 1..4) and from our relay frames.
bool looks_like_stun(byte_span datagram) noexcept;

result<stun_message> parse_stun(byte_span datagram);

// Builds a message attribute by attribute; finish() appends the optional
// MESSAGE-INTEGRITY and FINGERPRINT with correct lengths.
class stun_builder {
 public:
  stun_builder(stun_method m, stun_class c, const transaction_id& txn);
  stun_builder& add(uint16_t type, byte_span value);
  stun_builder& add_string(uint16_t type, std::string_view value);
  stun_builder& add_u32(uint16_t type, uint32_t value);
  stun_builder& add_xor_address(uint16_t type, const endpoint& ep);
  stun_builder& add_address(uint16_t type, const endpoint& ep);  // plain MAPPED-ADDRESS
  stun_builder& add_error(unsigned code, std::string_view reason);
  bytes finish(std::optional<byte_span> integrity_key, bool fingerprint);

 private:
  bytes buf_;
  transaction_id txn_;
};

// XOR-*-ADDRESS value codec (section 14.2), exposed for tests.
bytes encode_xor_address(const endpoint& ep, const transaction_id& txn);
std::optional<endpoint> decode_xor_address(byte_span value, const transaction_id& txn);
std::optional<endpoint> decode_plain_address(byte_span value);

// Long-term credential key (section 9.2.2): MD5(username ":" realm ":" password).
// The password must already be SASLprep'd (we accept ASCII passwords as is).
std::array<uint8_t, 16> stun_long_term_key(std::string_view username, std::string_view realm,
                                           std::string_view password);

// A fresh random transaction id (libsodium randombytes).
transaction_id random_transaction_id();

std::string_view to_string(stun_method m) noexcept;

}  // namespace overlayd::net::nat
