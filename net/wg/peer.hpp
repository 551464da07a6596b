// net/wg/peer.hpp — peer_protocol: one peer's handshake + keypairs + timers,
// the unit the device drives. No sockets, no threads; the device owns the
// endpoint (roaming = set it to the source of every packet for which this
// returns success), the staged-packet queue, byte counters and I/O.
//
// Create with peer_protocol::create(remote_public, index_table, clock); it
// registers/unregisters its own receiver indices in the (device-wide)
// index_table, which holds weak references.
// LIFETIME: the index_table and the clock must outlive every peer_protocol
// (the destructor frees the peer's indices). In a class that holds peers in
// a snapshot, declare the index_table and clock BEFORE the snapshot member,
// or drop the snapshot explicitly in the destructor.
//
// Device flows:
//  TUN packet → allowed_ips lookup → peer
//      r = peer->encrypt(buf, padded_len)       buf = [16 hdr][payload][16 tag]
//      r.wire_len > 0: send buf[0..wire_len) to the endpoint
//      r.wire_len == 0: no usable session → stage the packet
//      r.initiation: send it (a handshake was due: none yet, or rekey)
//  UDP datagram → message_type_of():
//    initiation: cookie_checker.check (+ make_reply when under load), then
//      opened = open_initiation(msg, identity); peer = by opened.initiator_static;
//      resp = peer->consume_initiation(opened) → send resp; update endpoint
//    response: cookie check; index_table.lookup(msg.receiver) (kind handshake)
//      → peer->consume_response(msg) ok → update endpoint; flush staged
//      packets, or send a keepalive (encrypt(buf, 0)) if none, to confirm
//    cookie reply: index_table.lookup(receiver) (any kind: a reply to our
//      response names an index that already belongs to a keypair)
//      → peer->consume_cookie_reply
//    transport: index_table.lookup(receiver) (kind keypair) → peer->decrypt(dgram)
//      ok → plaintext at dgram+16, length plaintext_len (0 = keepalive);
//      source check via allowed_ips (inner source must map to this peer);
//      update endpoint; if session_confirmed flush staged; if initiation, send it
//  Timer: every ~100 ms or at next_deadline(): t = peer->poll();
//      t.initiation → send; t.send_keepalive → encrypt(buf, 0) and send;
//      t.drop_staged → drop the staged queue.
//
// Thread safety: every public method may be called from any thread,
// concurrently. Handshake, keypair slots and timers are guarded by one mutex
// per peer (held only for short, bounded work: at most two X25519 operations
// when an initiation/response is built). Per data packet: encrypt takes the
// mutex once; decrypt twice (lookup, then confirm+timers); the AEAD work runs
// outside the mutex; send counters are atomic and the replay window has its
// own small mutex. Per-batch callers may instead use send_keypair() once and
// keypair::encrypt per packet, then note_sent(data) once; likewise
// receive_keypair(), keypair::decrypt per packet, note_received() once.
// Namespace overlayd::wg.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <span>

#include "core/error.hpp"
#include "crypto/keys.hpp"
#include "net/wg/clock.hpp"
#include "net/wg/cookie.hpp"
#include "net/wg/index_table.hpp"
#include "net/wg/keypair.hpp"
#include "net/wg/messages.hpp"
#include "net/wg/noise.hpp"
#include "net/wg/timers.hpp"

namespace overlayd::wg {

class peer_protocol : public std::enable_shared_from_this<peer_protocol> {
 public:
  struct send_result {
    size_t wire_len = 0;                      // 0: nothing sent, stage the packet
    std::optional<msg_initiation> initiation;  // send this handshake now
  };
  struct recv_result {
    size_t plaintext_len = 0;                  // at datagram + 16; 0 = keepalive
    bool session_confirmed = false;            // responder: first data on the new keypair
    std::optional<msg_initiation> initiation;  // last-minute rekey due
  };
  struct tick {
    std::optional<msg_initiation> initiation;
    bool send_keepalive = false;
    bool drop_staged = false;
  };

  static std::shared_ptr<peer_protocol> create(const crypto::public_key& remote, index_table& indices,
                                               const clock& clk);
  ~peer_protocol();
  peer_protocol(const peer_protocol&) = delete;
  peer_protocol& operator=(const peer_protocol&) = delete;

  const crypto::public_key& remote_static() const noexcept { return remote_; }

  // --- configuration ---
  // The device's key (null = none). A change drops handshake and sessions.
  void set_identity(std::shared_ptr<const static_identity> id);
  void set_preshared_key(const crypto::preshared_key& psk);  // zero = none
  void set_persistent_keepalive(std::chrono::seconds interval);
  std::chrono::seconds persistent_keepalive() const;

  // --- handshake ---
  // Initiator: a complete initiation (MAC1, and MAC2 if we hold a cookie), or
  // nullopt if there is no identity or (unless is_retry) one was sent less
  // than REKEY_TIMEOUT ago.
  // probe: a NAT-traversal probe of a new path (device::initiate_handshake
  // with an address), which the planner already paces (reinitiate_interval,
  // only while trying a pair): not held to one per REKEY_TIMEOUT, or the
  // protocol's own retransmission through the current path would use up the
  // slot of the probe.
  std::optional<msg_initiation> create_initiation(bool is_retry = false, bool probe = false);
  result<msg_response> consume_initiation(const initiation_opened& opened);
  status consume_response(const msg_response& msg);
  status consume_cookie_reply(const msg_cookie_reply& msg);

  // --- data path ---
  send_result encrypt(std::span<uint8_t> buf, size_t payload_len);
  result<recv_result> decrypt(std::span<uint8_t> datagram);
  std::shared_ptr<keypair> send_keypair();
  // After sending with send_keypair() directly: timers + rekey check.
  send_result note_sent(const keypair& kp, bool data);
  // Batch receive: look the keypair up once (null if the index is not one of
  // this peer's live keypairs), keypair::decrypt each datagram, then report
  // once per batch with the keypair used and whether any carried data
  // (plaintext_len in the result is 0). decrypt() == these three steps.
  std::shared_ptr<keypair> receive_keypair(uint32_t local_index);
  recv_result note_received(const keypair& kp, bool data);

  // --- timers ---
  tick poll();
  std::optional<time_point> next_deadline() const;

  // --- status ---
  std::optional<wall_time> last_handshake() const;  // wall time of the last session derived
  bool has_session() const;                         // a current keypair that can send
  unsigned handshake_attempts() const;
  // Test/inspection: the keypair slots (copies of the pointers).
  std::shared_ptr<keypair> current_keypair() const;
  std::shared_ptr<keypair> next_keypair() const;
  std::shared_ptr<keypair> previous_keypair() const;

 private:
  peer_protocol(const crypto::public_key& remote, index_table& indices, const clock& clk);

  // All below: mu_ held.
  std::optional<msg_initiation> initiation_locked(bool is_retry, time_point now, bool probe = false);
  void install_keypair_locked(session_keys keys, time_point now);
  void drop_keypairs(std::vector<std::shared_ptr<keypair>> gone);
  void clear_handshake_index_locked();
  void zero_all_locked();
  void after_send_locked(const keypair& kp, bool data, time_point now, send_result& out);

  const crypto::public_key remote_;
  index_table& indices_;
  const clock& clock_;

  mutable std::mutex mu_;  // guards everything below
  std::shared_ptr<const static_identity> identity_;
  handshake hs_;
  cookie_maker cookies_;
  keypair_set keypairs_;
  peer_timers timers_;
  std::optional<time_point> last_initiation_sent_;
  std::optional<wall_time> last_handshake_;
  bool sent_lastminute_handshake_ = false;
};

}  // namespace overlayd::wg
