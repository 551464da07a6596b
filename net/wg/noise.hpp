// net/wg/noise.hpp — the Noise_IKpsk2 handshake exactly as WireGuard uses it
// (whitepaper §5.4). Pure functions over a per-peer `handshake` struct; no
// locking, no I/O, no index allocation (callers pass indices in).
//
// Initiator                                 Responder
//   create_initiation(hs, id, idx, wall) ->   open_initiation(msg, id)  [no peer state]
//                                             ...look up peer by .initiator_static...
//                                             finish_initiation(hs, opened, now) [peer locked]
//                                        <-   create_response(hs, idx)
//   consume_response(hs, id, msg, now)
//   derive_keys(hs) -> session_keys           derive_keys(hs) -> session_keys
//
// MAC1/MAC2 are NOT handled here (cookie.hpp adds and checks them); the
// message structs returned carry zero MACs. Every failure is errc::protocol
// and leaves `hs` unchanged. Secrets live in crypto::secret (wiped).
// Namespace overlayd::wg.
#pragma once

#include <optional>

#include "core/error.hpp"
#include "crypto/blake2s.hpp"
#include "crypto/keys.hpp"
#include "crypto/tai64n.hpp"
#include "net/wg/clock.hpp"
#include "net/wg/messages.hpp"

namespace overlayd::wg {

// The device's own static key pair.
struct static_identity {
  crypto::private_key private_key;
  crypto::public_key public_key;
  static static_identity from_private(crypto::private_key sk);  // clamps
};

enum class handshake_state : uint8_t {
  zeroed,
  created_initiation,   // initiator: waiting for the response
  consumed_initiation,  // responder: checked, response not yet built
  created_response,     // responder: sent response, keys derivable
  consumed_response,    // initiator: got response, keys derivable
};

// One peer's handshake (noise.c's noise_handshake).
struct handshake {
  handshake_state state = handshake_state::zeroed;
  crypto::public_key remote_static;
  crypto::preshared_key preshared;                 // zero = none
  crypto::secret<32> precomputed_static_static;    // DH(s_local, S_remote); zero = unusable
  crypto::private_key ephemeral_private;
  crypto::public_key remote_ephemeral;
  crypto::secret<32> hash;
  crypto::secret<32> chaining_key;
  crypto::tai64n latest_timestamp{};               // greatest accepted from this peer
  std::optional<time_point> last_initiation_consumption;
  uint32_t local_index = 0;
  uint32_t remote_index = 0;

  // Forget the in-flight handshake; keeps the peer's identity, PSK,
  // precomputation, and the replay/flood memory (latest_timestamp etc.).
  void clear() noexcept;
};

// The transport keys of a completed handshake.
struct session_keys {
  crypto::secret<32> send;
  crypto::secret<32> recv;
  uint32_t local_index = 0;
  uint32_t remote_index = 0;
  bool initiator = false;
};

// Responder stage 1 output: what the initiation revealed before we know the peer.
struct initiation_opened {
  crypto::public_key initiator_static;
  crypto::public_key remote_ephemeral;
  crypto::secret<32> hash;
  crypto::secret<32> chaining_key;
  uint32_t sender_index = 0;
  uint8_t encrypted_timestamp[12 + 16];
};

// The hash chain's starting values: C = HASH(CONSTRUCTION), H = HASH(C || IDENTIFIER).
struct chain_init {
  std::array<uint8_t, 32> chaining_key;
  std::array<uint8_t, 32> hash;
};
const chain_init& noise_chain_init() noexcept;

// (Re)computes hs.precomputed_static_static for `id`; errc::protocol if the DH
// is all zero (then every handshake with this peer fails, as it should).
status precompute_static(handshake& hs, const static_identity& id);

result<msg_initiation> create_initiation(handshake& hs, const static_identity& id,
                                         uint32_t local_index, wall_time now);
result<initiation_opened> open_initiation(const msg_initiation& msg, const static_identity& id);
// Checks ss, decrypts the timestamp, enforces timestamp > latest and the
// per-peer initiation rate, then commits into hs (state consumed_initiation).
status finish_initiation(handshake& hs, const initiation_opened& opened, time_point now);
result<msg_response> create_response(handshake& hs, uint32_t local_index);
// The same with a caller-chosen ephemeral key (known-answer tests only).
result<msg_initiation> create_initiation(handshake& hs, const static_identity& id, uint32_t local_index,
                                         wall_time now, crypto::private_key ephemeral);
result<msg_response> create_response(handshake& hs, uint32_t local_index, crypto::private_key ephemeral);
// Requires hs.state == created_initiation and msg.receiver == hs.local_index.
status consume_response(handshake& hs, const static_identity& id, const msg_response& msg);
// Requires created_response or consumed_response; clears the handshake.
result<session_keys> derive_keys(handshake& hs);

}  // namespace overlayd::wg
