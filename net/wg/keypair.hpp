// net/wg/keypair.hpp — one transport session (a keypair) and the
// current/previous/next slots of a peer.
//
// keypair (shared_ptr; immutable keys, atomic send counter):
//   encrypt(buf, payload_len, now) -> wire length or 0
//       buf = [16 bytes header room][payload_len bytes plaintext, already
//       padded by the caller (padding_for())][16 bytes tag room];
//       writes header + ciphertext in place. 0 = this keypair may no longer
//       send (age >= REJECT_AFTER_TIME or counter exhausted): handshake needed.
//       Thread-safe: any number of threads may encrypt concurrently; each
//       call reserves its own counter (fetch_add).
//   decrypt(datagram, now) -> plaintext length (plaintext at datagram+16) or
//       error. The datagram must be a transport message for this keypair's
//       local index. In place. Replay window checked before and updated after
//       authentication (under a small internal mutex). Thread-safe.
//   wants_rekey_on_send(now)  initiator && (counter >= REKEY_AFTER_MESSAGES or
//                             age >= REKEY_AFTER_TIME)
//   wants_rekey_on_receive(now) initiator && age >= REJECT - KEEPALIVE - REKEY_TIMEOUT
//
// keypair_set (NOT thread-safe; peer_protocol guards it with its mutex):
//   add(new)      initiator's keypair becomes current at once (old current ->
//                 previous); responder's goes to next and waits for confirmation
//   confirm(kp)   first data received on `next` promotes it (current ->
//                 previous); returns true if it did
//   find(local_index), clear()
// Namespace overlayd::wg.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "core/error.hpp"
#include "net/wg/clock.hpp"
#include "net/wg/noise.hpp"
#include "net/wg/replay_window.hpp"

namespace overlayd::wg {

class keypair {
 public:
  keypair(session_keys keys, time_point created);

  uint32_t local_index() const noexcept { return local_index_; }
  uint32_t remote_index() const noexcept { return remote_index_; }
  bool initiator() const noexcept { return initiator_; }
  time_point created() const noexcept { return created_; }
  uint64_t messages_sent() const noexcept { return send_counter_.load(std::memory_order_relaxed); }

  size_t encrypt(std::span<uint8_t> buf, size_t payload_len, time_point now) noexcept;
  result<size_t> decrypt(std::span<uint8_t> datagram, time_point now) noexcept;

  bool can_send(time_point now) const noexcept;
  bool can_receive(time_point now) const noexcept;
  bool wants_rekey_on_send(time_point now) const noexcept;
  bool wants_rekey_on_receive(time_point now) const noexcept;

  // Marks the keypair dead: every later encrypt/decrypt fails. The keys are
  // wiped by the destructor, when the last reference (a thread mid-packet)
  // lets go, so no thread ever reads half-wiped keys.
  void zero() noexcept;

  // Test hook: jump the send counter (e.g. to just below REKEY/REJECT limits).
  void set_send_counter_for_test(uint64_t v) noexcept { send_counter_.store(v); }

 private:
  crypto::secret<32> send_key_;
  crypto::secret<32> recv_key_;
  uint32_t local_index_;
  uint32_t remote_index_;
  bool initiator_;
  time_point created_;
  std::atomic<uint64_t> send_counter_{0};
  std::atomic<bool> valid_{true};
  std::mutex replay_mu_;  // guards replay_
  replay_window replay_;
};

class keypair_set {
 public:
  using ptr = std::shared_ptr<keypair>;
  // Returns the keypairs pushed out (so the caller can free their indices).
  std::vector<ptr> add(ptr kp);
  // Promotes `next` if kp is it; returns the keypair pushed out (may be null).
  ptr confirm(const keypair* kp, bool* promoted);
  ptr find(uint32_t local_index) const noexcept;
  std::vector<ptr> clear();

  const ptr& current() const noexcept { return current_; }
  const ptr& previous() const noexcept { return previous_; }
  const ptr& next() const noexcept { return next_; }

 private:
  ptr current_, previous_, next_;
};

}  // namespace overlayd::wg
