#include "net/wg/keypair.hpp"

#include "crypto/aead.hpp"

namespace overlayd::wg {

keypair::keypair(session_keys keys, time_point created)
    : send_key_(std::move(keys.send)),
      recv_key_(std::move(keys.recv)),
      local_index_(keys.local_index),
      remote_index_(keys.remote_index),
      initiator_(keys.initiator),
      created_(created) {}

bool keypair::can_send(time_point now) const noexcept {
  return valid_.load(std::memory_order_acquire) && now - created_ < reject_after_time &&
         send_counter_.load(std::memory_order_relaxed) < reject_after_messages;
}

bool keypair::can_receive(time_point now) const noexcept {
  return valid_.load(std::memory_order_acquire) && now - created_ < reject_after_time;
}

bool keypair::wants_rekey_on_send(time_point now) const noexcept {
  return send_counter_.load(std::memory_order_relaxed) >= rekey_after_messages ||
         (initiator_ && now - created_ >= rekey_after_time);
}

bool keypair::wants_rekey_on_receive(time_point now) const noexcept {
  return initiator_ && now - created_ >= rekey_on_receive_age;
}

void keypair::zero() noexcept { valid_.store(false, std::memory_order_release); }

size_t keypair::encrypt(std::span<uint8_t> buf, size_t payload_len, time_point now) noexcept {
  if (buf.size() < transport_header_size + payload_len + aead_tag_size) return 0;
  if (!valid_.load(std::memory_order_acquire) || now - created_ >= reject_after_time) return 0;
  // Each packet reserves its own nonce; a counter at the limit is never used.
  const uint64_t counter = send_counter_.fetch_add(1, std::memory_order_relaxed);
  if (counter >= reject_after_messages) {
    send_counter_.store(reject_after_messages, std::memory_order_relaxed);
    return 0;
  }
  write_transport_header(buf.data(), remote_index_, counter);
  uint8_t* payload = buf.data() + transport_header_size;
  crypto::aead_seal(payload, payload, payload_len, {}, counter, send_key_.span());
  return transport_header_size + payload_len + aead_tag_size;
}

result<size_t> keypair::decrypt(std::span<uint8_t> datagram, time_point now) noexcept {
  auto v = parse_transport(datagram);
  if (!v) return std::move(v).err();
  if (v->receiver != local_index_) return error(errc::protocol, "transport: wrong receiver index");
  if (!can_receive(now)) return error(errc::protocol, "transport: keypair expired");
  {
    std::lock_guard lock(replay_mu_);
    if (!replay_.check(v->counter)) return error(errc::protocol, "transport: replayed or too old counter");
  }
  uint8_t* payload = datagram.data() + transport_header_size;
  const size_t len = datagram.size() - transport_header_size;
  if (!crypto::aead_open(payload, payload, len, {}, v->counter, recv_key_.span()))
    return error(errc::protocol, "transport: does not authenticate");
  {
    // Authenticated: now the counter may be marked (a concurrent duplicate loses here).
    std::lock_guard lock(replay_mu_);
    if (!replay_.update(v->counter)) return error(errc::protocol, "transport: replayed counter");
  }
  return len - aead_tag_size;
}

std::vector<keypair_set::ptr> keypair_set::add(ptr kp) {
  std::vector<ptr> gone;
  if (kp->initiator()) {
    // Initiator: the session is confirmed by the response, use it at once.
    if (next_) {
      // An unconfirmed responder keypair is superseded; keep it as previous
      // (the peer may already be sending on it) and drop the old current.
      if (previous_) gone.push_back(std::move(previous_));
      if (current_) gone.push_back(std::move(current_));
      previous_ = std::move(next_);
      next_.reset();
    } else {
      if (previous_) gone.push_back(std::move(previous_));
      previous_ = std::move(current_);
    }
    current_ = std::move(kp);
  } else {
    // Responder: wait for the first data packet before sending with it.
    if (next_) gone.push_back(std::move(next_));
    next_ = std::move(kp);
    if (previous_) gone.push_back(std::move(previous_));
    previous_.reset();
  }
  return gone;
}

keypair_set::ptr keypair_set::confirm(const keypair* kp, bool* promoted) {
  *promoted = false;
  if (!next_ || next_.get() != kp) return nullptr;
  ptr gone = std::move(previous_);
  previous_ = std::move(current_);
  current_ = std::move(next_);
  next_.reset();
  *promoted = true;
  return gone;
}

keypair_set::ptr keypair_set::find(uint32_t local_index) const noexcept {
  for (const ptr* p : {&current_, &next_, &previous_})
    if (*p && (*p)->local_index() == local_index) return *p;
  return nullptr;
}

std::vector<keypair_set::ptr> keypair_set::clear() {
  std::vector<ptr> gone;
  for (ptr* p : {&current_, &previous_, &next_})
    if (*p) gone.push_back(std::move(*p));
  current_.reset();
  previous_.reset();
  next_.reset();
  return gone;
}

}  // namespace overlayd::wg
