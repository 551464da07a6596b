// net/wg/timers.hpp — one peer's timer state machine (the five WireGuard
// timers), driven by events and an explicit `now`; it never does I/O. The
// caller (peer_protocol) turns the returned actions into messages.
//
// Event                               effect
//   handshake_initiated(now)          arm retransmit at now + REKEY_TIMEOUT + jitter(0..333ms)
//   handshake_complete()              disarm retransmit; attempts = 0
//   session_derived(now)              arm zero_keys at now + 3 * REJECT_AFTER_TIME
//   data_sent(now)                    arm new_handshake at now + KEEPALIVE + REKEY_TIMEOUT + jitter
//                                     (if not armed: "sent data, heard nothing")
//   data_received(now)                arm keepalive at now + KEEPALIVE_TIMEOUT (if armed:
//                                     remember to send another one after it)
//   authenticated_sent()              disarm keepalive (our packet carries liveness)
//   authenticated_received()          disarm new_handshake (peer is alive)
//   authenticated_traversal(now)      re-arm persistent keepalive (if configured)
//   stop_all()                        peer removed / key changed
//
// poll(now) fires every expired timer and returns what to do:
//   retransmit: attempts < MAX_TIMER_HANDSHAKES (18 = 90 s / 5 s) → send a new
//     initiation (attempts++); else give up: drop staged packets, disarm
//     keepalive, arm zero_keys at now + 3 * REJECT if not armed.
//   keepalive → send keepalive;  new_handshake → initiate;
//   zero_keys → wipe keypairs and handshake;  persistent → send keepalive.
// Not thread-safe (guarded by the peer's mutex). Namespace overlayd::wg.
#pragma once

#include <chrono>
#include <optional>

#include "net/wg/clock.hpp"

namespace overlayd::wg {

struct timer_actions {
  bool send_initiation = false;  // retransmit or new handshake
  bool is_retry = false;         // initiation is a retransmission (no rate limit)
  bool send_keepalive = false;
  bool zero_keys = false;
  bool give_up = false;          // retransmits exhausted: drop queued packets
  bool any() const noexcept { return send_initiation || send_keepalive || zero_keys || give_up; }
};

class peer_timers {
 public:
  void set_persistent_keepalive(std::chrono::seconds interval, time_point now);
  std::chrono::seconds persistent_keepalive() const noexcept { return persistent_; }

  void handshake_initiated(time_point now);
  void reset_attempts() noexcept { attempts_ = 0; }  // a fresh (non-retry) initiation
  void handshake_complete();
  void session_derived(time_point now);
  void data_sent(time_point now);
  void data_received(time_point now);
  void authenticated_sent();
  void authenticated_received();
  void authenticated_traversal(time_point now);
  void stop_all();

  timer_actions poll(time_point now);
  std::optional<time_point> next_deadline() const noexcept;

  unsigned handshake_attempts() const noexcept { return attempts_; }
  bool retransmit_armed() const noexcept { return retransmit_.has_value(); }
  bool keepalive_armed() const noexcept { return keepalive_.has_value(); }
  bool new_handshake_armed() const noexcept { return new_handshake_.has_value(); }
  bool zero_keys_armed() const noexcept { return zero_keys_.has_value(); }
  bool persistent_armed() const noexcept { return persistent_at_.has_value(); }

 private:
  std::optional<time_point> retransmit_, keepalive_, new_handshake_, zero_keys_, persistent_at_;
  unsigned attempts_ = 0;
  bool need_another_keepalive_ = false;
  std::chrono::seconds persistent_{0};
};

// Uniform random jitter in [0, REKEY_TIMEOUT_JITTER_MAX].
duration rekey_jitter() noexcept;

}  // namespace overlayd::wg
