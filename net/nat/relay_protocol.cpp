#include "net/nat/relay_protocol.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstring>

#include "crypto/relay_auth.hpp"
#include "net/nat/nat_constants.hpp"

namespace overlayd::net::nat::relay {
namespace {

constexpr size_t addr_size = 20;  // family(1) reserved(1) port(2) ip(16)

void put_addr(bytes& b, const std::optional<endpoint>& ep) {
  size_t at = b.size();
  b.resize(at + addr_size, 0);
  if (!ep) return;
  b[at] = ep->ip().is_v4() ? 4 : 6;
  set_u16(b, at + 2, ep->port());
  std::memcpy(b.data() + at + 4, ep->ip().data(), ep->ip().size());
}

result<std::optional<endpoint>> get_addr(byte_span s) {
  uint16_t port = get_u16(s, 2);
  if (s[0] == 0) return std::optional<endpoint>{};
  if (s[0] == 4) return std::optional<endpoint>{endpoint(ip_address::v4({s[4], s[5], s[6], s[7]}), port)};
  if (s[0] == 6) {
    std::array<uint8_t, 16> a{};
    std::memcpy(a.data(), s.data() + 4, 16);
    return std::optional<endpoint>{endpoint(ip_address::v6(a), port)};
  }
  return error(errc::protocol, "relay control: bad address family");
}

void mac(const auth_key& key, byte_span covered, uint8_t out[mac_size]) {
  auto m = crypto::relay_mac(key, covered);
  std::memcpy(out, m.data(), mac_size);
}

bool known_control(uint8_t t) {
  return (t >= 0xC1 && t <= 0xC8) || t == uint8_t(msg_type::error);
}

}  // namespace

std::string_view to_string(error_code e) noexcept {
  switch (e) {
    case error_code::none: return "none";
    case error_code::exhausted: return "relay sessions exhausted";
    case error_code::unknown_session: return "unknown session";
    case error_code::bad_request: return "bad request";
    case error_code::unknown_peer: return "unknown peer port";
    case error_code::too_many_binds: return "too many binds";
  }
  return "unknown error";
}

auth_key derive_auth_key(std::string_view credential) { return crypto::relay_auth_key(credential); }

bytes encode_control(const control& c, const auth_key& key) {
  bytes b;
  b.reserve(control_size);
  put_u8(b, uint8_t(c.type));
  put_u8(b, version);
  put_u16(b, c.flags);
  put_u32(b, c.session_id);
  put_u64(b, c.timestamp_ms);
  put_u64(b, c.nonce);
  put_u64(b, c.echo);
  put_u32(b, c.lifetime_secs);
  put_u16(b, c.port);
  put_u16(b, uint16_t(c.code));
  put_u64(b, c.token);
  put_addr(b, c.relayed);
  put_addr(b, c.reflexive);
  uint8_t m[mac_size];
  mac(key, b, m);
  put_bytes(b, byte_span(m, mac_size));
  return b;
}

result<control> decode_control(byte_span d, const auth_key& key) {
  if (d.size() != control_size) return error(errc::protocol, "relay control: wrong size");
  if (!known_control(d[0]) || d[1] != version) return error(errc::protocol, "relay control: bad type or version");
  uint8_t m[mac_size];
  mac(key, d.first(mac_offset), m);
  if (sodium_memcmp(m, d.data() + mac_offset, mac_size) != 0)
    return error(errc::protocol, "relay control: authentication failed");
  control c;
  byte_reader r(d);
  uint8_t t = 0, v = 0;
  uint16_t code = 0;
  r.u8(t);
  r.u8(v);
  r.u16(c.flags);
  r.u32(c.session_id);
  r.u64(c.timestamp_ms);
  r.u64(c.nonce);
  r.u64(c.echo);
  r.u32(c.lifetime_secs);
  r.u16(c.port);
  r.u16(code);
  r.u64(c.token);
  c.type = msg_type(t);
  c.code = error_code(code);
  auto a1 = get_addr(d.subspan(48, addr_size));
  auto a2 = get_addr(d.subspan(68, addr_size));
  if (!a1) return std::move(a1).err();
  if (!a2) return std::move(a2).err();
  c.relayed = *a1;
  c.reflexive = *a2;
  return c;
}

bytes encode_data(uint16_t peer_port, uint32_t session_id, uint64_t token, byte_span payload) {
  bytes b;
  b.reserve(data_header_size + payload.size());
  put_u8(b, uint8_t(msg_type::data));
  put_u8(b, version);
  put_u16(b, peer_port);
  put_u32(b, session_id);
  put_u64(b, token);
  put_bytes(b, payload);
  return b;
}

std::optional<data_frame> decode_data(byte_span d) {
  if (d.size() < data_header_size || d[0] != uint8_t(msg_type::data) || d[1] != version) return std::nullopt;
  if (d.size() - data_header_size > max_payload) return std::nullopt;
  data_frame f;
  byte_reader r(d.subspan(2));
  r.u16(f.peer_port);
  r.u32(f.session_id);
  r.u64(f.token);
  f.payload = d.subspan(data_header_size);
  return f;
}

bool looks_like_relay(byte_span d) noexcept {
  return d.size() >= data_header_size && d[0] >= 0xC1 && d[0] <= 0xCE && d[1] == version;
}

uint64_t unix_ms(std::chrono::system_clock::time_point t) noexcept {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  return ms < 0 ? 0 : uint64_t(ms);
}

replay_guard::replay_guard(std::chrono::milliseconds window) : window_(window) {}

void replay_guard::expire(uint64_t now_ms) {
  while (!fifo_.empty() && fifo_.front().expires_ms <= now_ms) {
    nonces_.erase(fifo_.front().nonce);
    fifo_.pop_front();
  }
}

replay_guard::verdict replay_guard::check(uint64_t ts, uint64_t nonce, uint64_t now_ms) {
  auto w = uint64_t(window_.count());
  if (ts + w < now_ms || ts > now_ms + w) return verdict::stale;
  expire(now_ms);
  if (nonces_.count(nonce)) return verdict::replayed;
  if (fifo_.size() >= relay_max_seen_nonces) return verdict::full;
  // Remember until the timestamp itself goes stale; after that the stale
  // check rejects it anyway. Entries can expire out of order; an entry
  // kept a little longer than needed is harmless.
  fifo_.push_back({std::max(ts + w, now_ms) + 1, nonce});
  nonces_.insert(nonce);
  return verdict::fresh;
}

size_t replay_guard::size() const noexcept { return fifo_.size(); }

}  // namespace overlayd::net::nat::relay
