// The five per-peer timers of WireGuard (whitepaper §6.2–6.5), as deadlines.
#include "net/wg/timers.hpp"

#include "crypto/secret.hpp"
#include "net/wg/constants.hpp"

namespace overlayd::wg {

duration rekey_jitter() noexcept {
  const auto max_ms = uint32_t(rekey_timeout_jitter_max.count());
  return std::chrono::milliseconds(crypto::random_uniform(max_ms + 1));
}

void peer_timers::set_persistent_keepalive(std::chrono::seconds interval, time_point now) {
  persistent_ = interval;
  if (interval.count() == 0) {
    persistent_at_.reset();
  } else {
    // Setting it starts it at once, like `wg set ... persistent-keepalive`.
    persistent_at_ = now;
  }
}

void peer_timers::handshake_initiated(time_point now) { retransmit_ = now + rekey_timeout + rekey_jitter(); }

void peer_timers::handshake_complete() {
  retransmit_.reset();
  attempts_ = 0;
}

void peer_timers::session_derived(time_point now) { zero_keys_ = now + 3 * reject_after_time; }

void peer_timers::data_sent(time_point now) {
  if (!new_handshake_) new_handshake_ = now + keepalive_timeout + rekey_timeout + rekey_jitter();
}

void peer_timers::data_received(time_point now) {
  if (!keepalive_) {
    keepalive_ = now + keepalive_timeout;
  } else {
    need_another_keepalive_ = true;
  }
}

void peer_timers::authenticated_sent() { keepalive_.reset(); }

void peer_timers::authenticated_received() { new_handshake_.reset(); }

void peer_timers::authenticated_traversal(time_point now) {
  if (persistent_.count() > 0) persistent_at_ = now + persistent_;
}

void peer_timers::stop_all() {
  retransmit_.reset();
  keepalive_.reset();
  new_handshake_.reset();
  zero_keys_.reset();
  persistent_at_.reset();
  attempts_ = 0;
  need_another_keepalive_ = false;
}

timer_actions peer_timers::poll(time_point now) {
  timer_actions a;
  auto expired = [now](std::optional<time_point>& t) {
    if (!t || *t > now) return false;
    t.reset();
    return true;
  };

  if (expired(retransmit_)) {
    if (attempts_ >= max_timer_handshakes) {
      // Gave up after REKEY_ATTEMPT_TIME: drop what waits for a session, stop
      // keepalives, and make sure the old keys die eventually.
      a.give_up = true;
      keepalive_.reset();
      if (!zero_keys_) zero_keys_ = now + 3 * reject_after_time;
    } else {
      ++attempts_;
      a.send_initiation = true;
      a.is_retry = true;
    }
  }
  if (expired(keepalive_)) {
    a.send_keepalive = true;
    if (need_another_keepalive_) {
      need_another_keepalive_ = false;
      keepalive_ = now + keepalive_timeout;
    }
  }
  if (expired(new_handshake_)) {
    // Sent data, heard nothing for KEEPALIVE + REKEY_TIMEOUT: the session may be dead.
    a.send_initiation = true;
  }
  if (expired(zero_keys_)) a.zero_keys = true;
  if (expired(persistent_at_)) a.send_keepalive = true;
  return a;
}

std::optional<time_point> peer_timers::next_deadline() const noexcept {
  std::optional<time_point> best;
  for (const auto* t : {&retransmit_, &keepalive_, &new_handshake_, &zero_keys_, &persistent_at_})
    if (*t && (!best || **t < *best)) best = **t;
  return best;
}

}  // namespace overlayd::wg
