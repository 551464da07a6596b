// net/wg/cookie.hpp — MAC1/MAC2 and cookie replies (whitepaper §5.4.4, §5.4.7).
//
// Responder side (device-wide), `cookie_checker`:
//   set_identity(our_public)             precomputes the MAC1 key HASH("mac1----"||S)
//                                        and the cookie key HASH("cookie--"||S)
//   check(msg_bytes, src) -> mac_check   MAC1 always; MAC2 against the cookie
//                                        for `src` (ip||port) under the current
//                                        secret (rotated every 120 s, clock-driven)
//   make_reply(msg_bytes, sender_index, src) -> msg_cookie_reply
//        cookie = MAC(secret, ip||port), sealed with XChaCha20-Poly1305 under the
//        cookie key, random 24-byte nonce, the message's MAC1 as AD.
//   Policy (the device's): drop on mac_check::invalid; when under load, process
//   only mac_check::valid_cookie and answer valid_mac1 with make_reply().
//   Thread-safe (internal mutex; handshake messages only).
//
// Initiator side (one per peer, guarded by the peer's lock), `cookie_maker`:
//   set_remote(peer_public)              MAC1 key and cookie key for that peer
//   add_macs(msg_bytes, now)             writes MAC1; MAC2 if we hold a cookie
//                                        younger than 120 s - 5 s; remembers MAC1
//   consume_reply(reply, now) -> status  opens the cookie with the last MAC1 sent
//                                        as AD; one reply per MAC1
// msg_bytes are a whole initiation (148) or response (92) message.
// Namespace overlayd::wg.
#pragma once

#include <array>
#include <mutex>
#include <optional>
#include <span>

#include "core/error.hpp"
#include "crypto/keys.hpp"
#include "crypto/secret.hpp"
#include "net/ip.hpp"
#include "net/wg/clock.hpp"
#include "net/wg/messages.hpp"

namespace overlayd::wg {

enum class mac_check : uint8_t {
  invalid,       // bad length or MAC1: drop silently
  valid_mac1,    // MAC1 ok, no valid MAC2 (fine unless under load)
  valid_cookie,  // MAC1 and MAC2 ok: the source proved it owns its address
};

// MAC1 offset of a handshake message, by size; 0 if not a handshake message.
size_t mac1_offset_for(size_t msg_size) noexcept;

class cookie_checker {
 public:
  explicit cookie_checker(const clock& clk);
  void set_identity(const crypto::public_key& local_public);
  mac_check check(bytes_view msg, const net::endpoint& src) const;
  msg_cookie_reply make_reply(bytes_view msg, uint32_t sender_index, const net::endpoint& src) const;

 private:
  std::array<uint8_t, 16> cookie_for(const net::endpoint& src) const;  // mu_ held

  const clock& clock_;
  mutable std::mutex mu_;  // guards everything below
  crypto::secret<32> mac1_key_;
  crypto::secret<32> cookie_key_;
  mutable crypto::secret<32> secret_;
  mutable std::optional<time_point> secret_birth_;
};

class cookie_maker {
 public:
  void set_remote(const crypto::public_key& remote_public);
  void add_macs(std::span<uint8_t> msg, time_point now);
  status consume_reply(const msg_cookie_reply& reply, time_point now);
  bool has_fresh_cookie(time_point now) const noexcept;

 private:
  crypto::secret<32> mac1_key_;
  crypto::secret<32> cookie_key_;
  crypto::secret<16> cookie_;
  std::optional<time_point> cookie_birth_;
  std::array<uint8_t, 16> last_mac1_{};
  bool have_last_mac1_ = false;
};

}  // namespace overlayd::wg
