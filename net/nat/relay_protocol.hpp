// Wire format of our relay (docs/relay-protocol.md). Two kinds of datagram:
//
//  * control messages (allocate, refresh, bind, release and their answers):
//    fixed 104 bytes, authenticated with keyed BLAKE2b-128 under a key
//    derived from the cluster relay credential, carrying a Unix-ms timestamp
//    and a random nonce so the receiver can drop replays;
//  * data frames: a 16-byte header (peer port, session id, session token)
//    then the opaque payload (a WireGuard packet, already authenticated).
//
// First bytes 0xC1..0xCE never collide with WireGuard (types 1..4) or STUN
// (top two bits zero), so one UDP socket can carry all three.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <unordered_set>
#include <string_view>

#include "core/error.hpp"
#include "crypto/secret.hpp"
#include "net/ip.hpp"
#include "net/nat/byte_io.hpp"

namespace overlayd::net::nat::relay {

inline constexpr uint8_t version = 1;
inline constexpr size_t control_size = 104;
inline constexpr size_t mac_offset = 88;
inline constexpr size_t mac_size = 16;
inline constexpr size_t data_header_size = 16;
inline constexpr size_t max_payload = 65535 - 8 - 40 - data_header_size;

enum class msg_type : uint8_t {
  allocate = 0xC1,
  allocate_ok = 0xC2,
  refresh = 0xC3,
  refresh_ok = 0xC4,
  bind = 0xC5,
  bind_ok = 0xC6,
  release = 0xC7,
  release_ok = 0xC8,
  data = 0xCD,
  error = 0xCE,
};

enum class error_code : uint16_t {
  none = 0,
  exhausted = 1,        // max_sessions reached
  unknown_session = 2,  // no such session, or wrong token
  bad_request = 3,      // a field out of range
  unknown_peer = 4,     // bind to a port with no session
  too_many_binds = 5,   // relay_max_binds_per_session reached
};
std::string_view to_string(error_code e) noexcept;

inline constexpr uint16_t flag_paired = 0x0001;  // bind_ok: both sides bound

// One control message, all fields; which ones matter depends on `type`
// (see docs/relay-protocol.md).
struct control {
  msg_type type = msg_type::allocate;
  uint16_t flags = 0;
  uint32_t session_id = 0;
  uint64_t timestamp_ms = 0;  // Unix time of the sender
  uint64_t nonce = 0;         // random, never reused within the replay window
  uint64_t echo = 0;          // responses: the request's nonce; 0 otherwise
  uint32_t lifetime_secs = 0;
  uint16_t port = 0;          // allocate_ok: own relay port; bind*: peer's port
  error_code code = error_code::none;
  uint64_t token = 0;         // the session's data token (client-chosen at allocate)
  std::optional<endpoint> relayed;    // allocate_ok: relay ip : own relay port
  std::optional<endpoint> reflexive;  // allocate_ok/refresh_ok: client as the relay sees it
};

// The cluster relay key, crypto::relay_auth_key(credential) (BLAKE2b, see
// crypto/relay_auth.hpp); wiped on destruction.
using auth_key = crypto::secret<32>;
auth_key derive_auth_key(std::string_view credential);

bytes encode_control(const control& c, const auth_key& key);
// Checks size, version, type and MAC (constant time). Freshness and replay
// are the caller's business (replay_guard), since they need a clock.
result<control> decode_control(byte_span d, const auth_key& key);

struct data_frame {
  uint16_t peer_port = 0;  // client->relay: destination; relay->client: source
  uint32_t session_id = 0; // client->relay: sender's; relay->client: receiver's
  uint64_t token = 0;
  byte_span payload;
};
bytes encode_data(uint16_t peer_port, uint32_t session_id, uint64_t token, byte_span payload);
std::optional<data_frame> decode_data(byte_span d);

// True for any relay datagram (control or data), by its first two bytes.
bool looks_like_relay(byte_span d) noexcept;

uint64_t unix_ms(std::chrono::system_clock::time_point t) noexcept;

// Drops stale and replayed control messages: a timestamp more than the
// window away from now, or a nonce already seen within the window. The
// seen-set is bounded (relay_max_seen_nonces); when full, new messages are
// refused rather than evicting live entries, so a replay can never slip in.
class replay_guard {
 public:
  explicit replay_guard(std::chrono::milliseconds window);
  enum class verdict { fresh, stale, replayed, full };
  verdict check(uint64_t timestamp_ms, uint64_t nonce, uint64_t now_ms);
  size_t size() const noexcept;

 private:
  struct seen { uint64_t expires_ms; uint64_t nonce; };
  std::chrono::milliseconds window_;
  std::deque<seen> fifo_;              // in arrival order, expiry non-decreasing-ish
  std::unordered_set<uint64_t> nonces_;  // the nonces in fifo_
  void expire(uint64_t now_ms);
};

}  // namespace overlayd::net::nat::relay
