#include "net/nat/stun_message.hpp"

#include <nettle/hmac.h>
#include <nettle/md5.h>
#include <sodium.h>

#include <algorithm>
#include <cstring>

#include "net/nat/crc32.hpp"
#include "net/nat/nat_constants.hpp"

namespace overlayd::net::nat {
namespace {

// Message type bits interleave method and class (RFC 8489 section 5):
//   M11..M7 C1 M6..M4 C0 M3..M0
uint16_t encode_type(stun_method m, stun_class c) {
  auto mv = static_cast<uint16_t>(m);
  auto cv = static_cast<uint16_t>(c);
  return uint16_t((mv & 0x000F) | ((mv & 0x0070) << 1) | ((mv & 0x0F80) << 2) | ((cv & 1) << 4) |
                  ((cv & 2) << 7));
}

void decode_type(uint16_t t, stun_method& m, stun_class& c) {
  m = static_cast<stun_method>((t & 0x000F) | ((t >> 1) & 0x0070) | ((t >> 2) & 0x0F80));
  c = static_cast<stun_class>(((t >> 4) & 1) | ((t >> 7) & 2));
}

size_t padded(size_t n) { return (n + 3) & ~size_t(3); }

error malformed(std::string_view why) {
  return error(errc::protocol, "malformed STUN message: " + std::string(why));
}

bool known_attribute(uint16_t t) {
  switch (t) {
    case stun_attr::mapped_address: case stun_attr::username: case stun_attr::message_integrity:
    case stun_attr::error_code: case stun_attr::unknown_attributes: case stun_attr::channel_number:
    case stun_attr::lifetime: case stun_attr::xor_peer_address: case stun_attr::data:
    case stun_attr::realm: case stun_attr::nonce: case stun_attr::xor_relayed_address:
    case stun_attr::requested_transport: case stun_attr::xor_mapped_address:
    case stun_attr::priority:
      return true;
    default:
      return false;
  }
}

}  // namespace

bool looks_like_stun(byte_span d) noexcept {
  return d.size() >= stun_header_size && (d[0] & 0xC0) == 0 && get_u32(d, 4) == stun_magic_cookie;
}

result<stun_message> parse_stun(byte_span d) {
  if (d.size() < stun_header_size) return malformed("shorter than the 20-byte header");
  if (d.size() > stun_max_message) return malformed("longer than 1500 bytes");
  if ((d[0] & 0xC0) != 0) return malformed("top two bits of the type are set");
  if (get_u32(d, 4) != stun_magic_cookie) return malformed("no magic cookie");
  uint16_t len = get_u16(d, 2);
  if (len % 4 != 0) return malformed("length not a multiple of 4");
  if (stun_header_size + len != d.size()) return malformed("length does not match the datagram");

  stun_message m;
  decode_type(get_u16(d, 0), m.method, m.cls);
  std::memcpy(m.txn.data(), d.data() + 8, 12);
  m.raw.assign(d.begin(), d.end());

  size_t pos = stun_header_size;
  while (pos < d.size()) {
    if (m.has_fingerprint) return malformed("attribute after FINGERPRINT");
    if (d.size() - pos < 4) return malformed("truncated attribute header");
    uint16_t type = get_u16(d, pos);
    uint16_t alen = get_u16(d, pos + 2);
    if (padded(alen) > d.size() - pos - 4) return malformed("attribute overruns the message");
    byte_span value = d.subspan(pos + 4, alen);
    if (type == stun_attr::fingerprint) {
      if (alen != 4) return malformed("FINGERPRINT is not 4 bytes");
      uint32_t want = crc32(d.first(pos)) ^ stun_fingerprint_xor;
      if (get_u32(value, 0) != want) return malformed("FINGERPRINT does not match");
      m.has_fingerprint = true;
    } else if (m.integrity_offset) {
      // Section 14.5: everything after MESSAGE-INTEGRITY but FINGERPRINT is ignored.
    } else {
      if (type == stun_attr::message_integrity) {
        if (alen != 20) return malformed("MESSAGE-INTEGRITY is not 20 bytes");
        m.integrity_offset = pos;
      }
      if (m.attributes.size() >= stun_max_attributes) return malformed("too many attributes");
      m.attributes.push_back({type, bytes(value.begin(), value.end())});
    }
    pos += 4 + padded(alen);
  }
  return m;
}

const stun_attribute* stun_message::find(uint16_t type) const noexcept {
  for (const auto& a : attributes)
    if (a.type == type) return &a;
  return nullptr;
}

std::optional<std::string> stun_message::string_attr(uint16_t type) const {
  const auto* a = find(type);
  if (!a) return std::nullopt;
  return std::string(a->value.begin(), a->value.end());
}

std::optional<uint32_t> stun_message::u32_attr(uint16_t type) const {
  const auto* a = find(type);
  if (!a || a->value.size() != 4) return std::nullopt;
  return get_u32(a->value, 0);
}

std::optional<endpoint> stun_message::xor_address(uint16_t type) const {
  const auto* a = find(type);
  if (!a) return std::nullopt;
  return decode_xor_address(a->value, txn);
}

std::optional<endpoint> stun_message::mapped_address() const {
  if (auto x = xor_address(stun_attr::xor_mapped_address)) return x;
  if (const auto* a = find(stun_attr::mapped_address)) return decode_plain_address(a->value);
  return std::nullopt;
}

std::optional<stun_error_code> stun_message::error_code() const {
  const auto* a = find(stun_attr::error_code);
  if (!a || a->value.size() < 4) return std::nullopt;
  unsigned cls = a->value[2] & 0x07;
  unsigned num = a->value[3];
  if (cls < 3 || cls > 6 || num > 99) return std::nullopt;
  return stun_error_code{cls * 100 + num, std::string(a->value.begin() + 4, a->value.end())};
}

std::vector<uint16_t> stun_message::unknown_required() const {
  std::vector<uint16_t> out;
  for (const auto& a : attributes)
    if (a.type < 0x8000 && !known_attribute(a.type)) out.push_back(a.type);
  return out;
}

bool stun_message::check_integrity(byte_span key) const {
  if (!integrity_offset) return false;
  size_t off = *integrity_offset;
  bytes covered(raw.begin(), raw.begin() + off);
  // The length field counts up to and including MESSAGE-INTEGRITY.
  set_u16(covered, 2, uint16_t(off - stun_header_size + 24));
  uint8_t mac[SHA1_DIGEST_SIZE];
  hmac_sha1_ctx ctx;
  hmac_sha1_set_key(&ctx, key.size(), key.data());
  hmac_sha1_update(&ctx, covered.size(), covered.data());
  hmac_sha1_digest(&ctx, sizeof mac, mac);
  sodium_memzero(&ctx, sizeof ctx);
  return sodium_memcmp(mac, raw.data() + off + 4, sizeof mac) == 0;
}

bytes encode_xor_address(const endpoint& ep, const transaction_id& txn) {
  // Section 14.2: port XOR the cookie's top 16 bits; address XOR cookie||txn.
  bytes mask;
  put_u32(mask, stun_magic_cookie);
  mask.insert(mask.end(), txn.begin(), txn.end());
  bytes v;
  put_u8(v, 0);
  put_u8(v, ep.ip().is_v4() ? 0x01 : 0x02);
  put_u16(v, uint16_t(ep.port() ^ (stun_magic_cookie >> 16)));
  for (size_t i = 0; i < ep.ip().size(); ++i) v.push_back(ep.ip().data()[i] ^ mask[i]);
  return v;
}

std::optional<endpoint> decode_xor_address(byte_span v, const transaction_id& txn) {
  if (v.size() < 4) return std::nullopt;
  size_t n = v[1] == 0x01 ? 4 : v[1] == 0x02 ? 16 : 0;
  if (n == 0 || v.size() != 4 + n) return std::nullopt;
  uint16_t port = uint16_t(get_u16(v, 2) ^ (stun_magic_cookie >> 16));
  bytes mask;
  put_u32(mask, stun_magic_cookie);
  mask.insert(mask.end(), txn.begin(), txn.end());
  if (n == 4) {
    std::array<uint8_t, 4> a{};
    for (size_t i = 0; i < 4; ++i) a[i] = v[4 + i] ^ mask[i];
    return endpoint(ip_address::v4(a), port);
  }
  std::array<uint8_t, 16> a{};
  for (size_t i = 0; i < 16; ++i) a[i] = v[4 + i] ^ mask[i];
  return endpoint(ip_address::v6(a), port);
}

std::optional<endpoint> decode_plain_address(byte_span v) {
  if (v.size() < 4) return std::nullopt;
  size_t n = v[1] == 0x01 ? 4 : v[1] == 0x02 ? 16 : 0;
  if (n == 0 || v.size() != 4 + n) return std::nullopt;
  uint16_t port = get_u16(v, 2);
  if (n == 4) return endpoint(ip_address::v4({v[4], v[5], v[6], v[7]}), port);
  std::array<uint8_t, 16> a{};
  std::memcpy(a.data(), v.data() + 4, 16);
  return endpoint(ip_address::v6(a), port);
}

stun_builder::stun_builder(stun_method m, stun_class c, const transaction_id& txn) : txn_(txn) {
  put_u16(buf_, encode_type(m, c));
  put_u16(buf_, 0);
  put_u32(buf_, stun_magic_cookie);
  buf_.insert(buf_.end(), txn.begin(), txn.end());
}

stun_builder& stun_builder::add(uint16_t type, byte_span value) {
  put_u16(buf_, type);
  put_u16(buf_, uint16_t(value.size()));
  put_bytes(buf_, value);
  buf_.resize(buf_.size() + padded(value.size()) - value.size(), 0);
  return *this;
}

stun_builder& stun_builder::add_string(uint16_t type, std::string_view value) {
  return add(type, byte_span(reinterpret_cast<const uint8_t*>(value.data()), value.size()));
}

stun_builder& stun_builder::add_u32(uint16_t type, uint32_t value) {
  bytes v;
  put_u32(v, value);
  return add(type, v);
}

stun_builder& stun_builder::add_xor_address(uint16_t type, const endpoint& ep) {
  return add(type, encode_xor_address(ep, txn_));
}

stun_builder& stun_builder::add_address(uint16_t type, const endpoint& ep) {
  bytes v;
  put_u8(v, 0);
  put_u8(v, ep.ip().is_v4() ? 0x01 : 0x02);
  put_u16(v, ep.port());
  put_bytes(v, byte_span(ep.ip().data(), ep.ip().size()));
  return add(type, v);
}

stun_builder& stun_builder::add_error(unsigned code, std::string_view reason) {
  bytes v(4 + reason.size());
  v[2] = uint8_t(code / 100);
  v[3] = uint8_t(code % 100);
  std::copy(reason.begin(), reason.end(), v.begin() + 4);
  return add(stun_attr::error_code, v);
}

bytes stun_builder::finish(std::optional<byte_span> key, bool fingerprint) {
  if (key) {
    // Section 14.5: the length covers MESSAGE-INTEGRITY itself while hashing.
    set_u16(buf_, 2, uint16_t(buf_.size() - stun_header_size + 24));
    uint8_t mac[SHA1_DIGEST_SIZE];
    hmac_sha1_ctx ctx;
    hmac_sha1_set_key(&ctx, key->size(), key->data());
    hmac_sha1_update(&ctx, buf_.size(), buf_.data());
    hmac_sha1_digest(&ctx, sizeof mac, mac);
    sodium_memzero(&ctx, sizeof ctx);
    add(stun_attr::message_integrity, byte_span(mac, sizeof mac));
  }
  if (fingerprint) {
    set_u16(buf_, 2, uint16_t(buf_.size() - stun_header_size + 8));
    uint32_t crc = crc32(buf_) ^ stun_fingerprint_xor;
    add_u32(stun_attr::fingerprint, crc);
  }
  set_u16(buf_, 2, uint16_t(buf_.size() - stun_header_size));
  return std::move(buf_);
}

std::array<uint8_t, 16> stun_long_term_key(std::string_view username, std::string_view realm,
                                           std::string_view password) {
  std::string s;
  s.reserve(username.size() + realm.size() + password.size() + 2);
  s.append(username).append(":").append(realm).append(":").append(password);
  std::array<uint8_t, 16> out{};
  md5_ctx ctx;
  md5_init(&ctx);
  md5_update(&ctx, s.size(), reinterpret_cast<const uint8_t*>(s.data()));
  md5_digest(&ctx, out.size(), out.data());
  sodium_memzero(s.data(), s.size());
  return out;
}

transaction_id random_transaction_id() {
  transaction_id t{};
  randombytes_buf(t.data(), t.size());
  return t;
}

std::string_view to_string(stun_method m) noexcept {
  switch (m) {
    case stun_method::binding: return "Binding";
    case stun_method::allocate: return "Allocate";
    case stun_method::refresh: return "Refresh";
    case stun_method::send: return "Send";
    case stun_method::data: return "Data";
    case stun_method::create_permission: return "CreatePermission";
    case stun_method::channel_bind: return "ChannelBind";
  }
  return "unknown";
}

}  // namespace overlayd::net::nat
