// One peer's protocol state: the glue between noise, keypairs and timers.
// Every public method takes mu_; the AEAD work on the data path runs outside it.
#include "net/wg/peer.hpp"

namespace overlayd::wg {

std::shared_ptr<peer_protocol> peer_protocol::create(const crypto::public_key& remote, index_table& indices,
                                                     const clock& clk) {
  return std::shared_ptr<peer_protocol>(new peer_protocol(remote, indices, clk));
}

peer_protocol::peer_protocol(const crypto::public_key& remote, index_table& indices, const clock& clk)
    : remote_(remote), indices_(indices), clock_(clk) {
  hs_.remote_static = remote;
  cookies_.set_remote(remote);
}

peer_protocol::~peer_protocol() {
  // weak_ptr entries already fail to resolve; free the slots too.
  if (hs_.local_index != 0) indices_.remove(hs_.local_index);
  for (const auto* p : {&keypairs_.current(), &keypairs_.previous(), &keypairs_.next()})
    if (*p) indices_.remove((*p)->local_index());
}

// --- configuration ---

void peer_protocol::set_identity(std::shared_ptr<const static_identity> id) {
  std::lock_guard lock(mu_);
  zero_all_locked();
  timers_.stop_all();
  identity_ = std::move(id);
  hs_.precomputed_static_static.clear();
  if (identity_) (void)precompute_static(hs_, *identity_);  // zero on failure: handshakes then fail
}

void peer_protocol::set_preshared_key(const crypto::preshared_key& psk) {
  std::lock_guard lock(mu_);
  hs_.preshared = psk;
}

void peer_protocol::set_persistent_keepalive(std::chrono::seconds interval) {
  std::lock_guard lock(mu_);
  timers_.set_persistent_keepalive(interval, clock_.now());
}

std::chrono::seconds peer_protocol::persistent_keepalive() const {
  std::lock_guard lock(mu_);
  return timers_.persistent_keepalive();
}

// --- handshake ---

std::optional<msg_initiation> peer_protocol::create_initiation(bool is_retry, bool probe) {
  std::lock_guard lock(mu_);
  return initiation_locked(is_retry, clock_.now(), probe);
}

std::optional<msg_initiation> peer_protocol::initiation_locked(bool is_retry, time_point now, bool probe) {
  if (!identity_) return std::nullopt;
  // At most one initiation per REKEY_TIMEOUT (retries come no sooner anyway);
  // probes are paced by their caller (see create_initiation).
  if (!probe && last_initiation_sent_ && now - *last_initiation_sent_ < rekey_timeout) return std::nullopt;
  if (!is_retry) timers_.reset_attempts();
  clear_handshake_index_locked();
  auto idx = indices_.insert(weak_from_this(), index_kind::handshake);
  if (!idx) return std::nullopt;
  auto msg = wg::create_initiation(hs_, *identity_, *idx, clock_.wall_now());
  if (!msg) {
    indices_.remove(*idx);
    return std::nullopt;
  }
  cookies_.add_macs(msg->mutable_bytes(), now);
  last_initiation_sent_ = now;
  timers_.authenticated_traversal(now);
  timers_.authenticated_sent();
  timers_.handshake_initiated(now);
  return *msg;
}

result<msg_response> peer_protocol::consume_initiation(const initiation_opened& opened) {
  std::lock_guard lock(mu_);
  if (!identity_) return error(errc::precondition, "peer: no private key");
  const time_point now = clock_.now();
  const uint32_t old_index = hs_.local_index;
  OVERLAYD_TRY(finish_initiation(hs_, opened, now));
  // Our own pending initiation (if any) is superseded by the peer's.
  if (old_index != 0) indices_.remove(old_index);
  timers_.authenticated_received();
  timers_.authenticated_traversal(now);

  auto idx = indices_.insert(weak_from_this(), index_kind::handshake);
  if (!idx) {
    hs_.clear();
    return std::move(idx).err();
  }
  auto msg = create_response(hs_, *idx);
  if (!msg) {
    indices_.remove(*idx);
    hs_.clear();
    return std::move(msg).err();
  }
  cookies_.add_macs(msg->mutable_bytes(), now);
  auto keys = derive_keys(hs_);
  if (!keys) {
    indices_.remove(*idx);
    return std::move(keys).err();
  }
  install_keypair_locked(std::move(*keys), now);
  timers_.authenticated_traversal(now);
  timers_.authenticated_sent();
  return *msg;
}

status peer_protocol::consume_response(const msg_response& msg) {
  std::lock_guard lock(mu_);
  if (!identity_) return error(errc::precondition, "peer: no private key");
  const time_point now = clock_.now();
  OVERLAYD_TRY(wg::consume_response(hs_, *identity_, msg));
  auto keys = derive_keys(hs_);
  if (!keys) return std::move(keys).err();
  timers_.authenticated_received();
  timers_.authenticated_traversal(now);
  timers_.handshake_complete();
  install_keypair_locked(std::move(*keys), now);
  last_handshake_ = clock_.wall_now();
  sent_lastminute_handshake_ = false;
  return {};
}

status peer_protocol::consume_cookie_reply(const msg_cookie_reply& msg) {
  std::lock_guard lock(mu_);
  return cookies_.consume_reply(msg, clock_.now());
}

void peer_protocol::install_keypair_locked(session_keys keys, time_point now) {
  auto kp = std::make_shared<keypair>(std::move(keys), now);
  indices_.replace(kp->local_index(), index_kind::keypair);
  drop_keypairs(keypairs_.add(std::move(kp)));
  timers_.session_derived(now);
}

void peer_protocol::drop_keypairs(std::vector<std::shared_ptr<keypair>> gone) {
  for (auto& kp : gone) {
    indices_.remove(kp->local_index());
    kp->zero();
  }
}

void peer_protocol::clear_handshake_index_locked() {
  // A non-zero local index in the handshake is always a handshake-kind entry:
  // derive_keys() zeroes it when the index passes to the keypair.
  if (hs_.local_index != 0) indices_.remove(hs_.local_index);
  hs_.local_index = 0;
}

void peer_protocol::zero_all_locked() {
  drop_keypairs(keypairs_.clear());
  clear_handshake_index_locked();
  hs_.clear();
}

// --- data path ---

void peer_protocol::after_send_locked(const keypair& kp, bool data, time_point now, send_result& out) {
  timers_.authenticated_traversal(now);
  timers_.authenticated_sent();
  if (data) timers_.data_sent(now);
  // Keep the key fresh: REKEY_AFTER_MESSAGES, or REKEY_AFTER_TIME as initiator.
  if (kp.wants_rekey_on_send(now)) out.initiation = initiation_locked(false, now);
}

peer_protocol::send_result peer_protocol::encrypt(std::span<uint8_t> buf, size_t payload_len) {
  send_result out;
  std::shared_ptr<keypair> kp;
  const time_point now = clock_.now();
  {
    std::lock_guard lock(mu_);
    kp = keypairs_.current();
    if (!kp || !kp->can_send(now)) {
      out.initiation = initiation_locked(false, now);
      return out;
    }
    after_send_locked(*kp, payload_len > 0, now, out);
  }
  out.wire_len = kp->encrypt(buf, payload_len, now);
  if (out.wire_len == 0 && !out.initiation) {
    // Lost a race to the counter limit, or a too-small buffer.
    std::lock_guard lock(mu_);
    out.initiation = initiation_locked(false, now);
  }
  return out;
}

std::shared_ptr<keypair> peer_protocol::send_keypair() {
  std::lock_guard lock(mu_);
  const auto& kp = keypairs_.current();
  if (kp && kp->can_send(clock_.now())) return kp;
  return nullptr;
}

peer_protocol::send_result peer_protocol::note_sent(const keypair& kp, bool data) {
  send_result out;
  std::lock_guard lock(mu_);
  after_send_locked(kp, data, clock_.now(), out);
  return out;
}

std::shared_ptr<keypair> peer_protocol::receive_keypair(uint32_t local_index) {
  std::lock_guard lock(mu_);
  return keypairs_.find(local_index);
}

result<peer_protocol::recv_result> peer_protocol::decrypt(std::span<uint8_t> datagram) {
  if (datagram.size() < transport_min_size) return error(errc::protocol, "transport: too short");
  auto kp = receive_keypair(load_le32(datagram.data() + 4));
  if (!kp) return error(errc::not_found, "transport: no keypair for this index");
  auto len = kp->decrypt(datagram, clock_.now());
  if (!len) return std::move(len).err();
  recv_result out = note_received(*kp, *len > 0);
  out.plaintext_len = *len;
  return out;
}

peer_protocol::recv_result peer_protocol::note_received(const keypair& kp, bool data) {
  recv_result out;
  std::lock_guard lock(mu_);
  const time_point now = clock_.now();
  bool promoted = false;
  if (auto gone = keypairs_.confirm(&kp, &promoted)) drop_keypairs({std::move(gone)});
  if (promoted) {
    // Responder: the initiator used the new keys, so the handshake is complete.
    out.session_confirmed = true;
    timers_.handshake_complete();
    last_handshake_ = clock_.wall_now();
    sent_lastminute_handshake_ = false;
  }
  timers_.authenticated_received();
  timers_.authenticated_traversal(now);
  if (data) timers_.data_received(now);
  // One last-minute rekey when our (initiator) session nears REJECT_AFTER_TIME.
  if (&kp == keypairs_.current().get() && kp.wants_rekey_on_receive(now) && !sent_lastminute_handshake_) {
    sent_lastminute_handshake_ = true;
    out.initiation = initiation_locked(false, now);
  }
  return out;
}

// --- timers ---

peer_protocol::tick peer_protocol::poll() {
  tick t;
  std::lock_guard lock(mu_);
  const time_point now = clock_.now();
  const timer_actions a = timers_.poll(now);
  if (a.zero_keys) zero_all_locked();
  if (a.give_up) t.drop_staged = true;
  if (a.send_initiation) t.initiation = initiation_locked(a.is_retry, now);
  t.send_keepalive = a.send_keepalive;
  return t;
}

std::optional<time_point> peer_protocol::next_deadline() const {
  std::lock_guard lock(mu_);
  return timers_.next_deadline();
}

// --- status ---

std::optional<wall_time> peer_protocol::last_handshake() const {
  std::lock_guard lock(mu_);
  return last_handshake_;
}

bool peer_protocol::has_session() const {
  std::lock_guard lock(mu_);
  const auto& kp = keypairs_.current();
  return kp && kp->can_send(clock_.now());
}

unsigned peer_protocol::handshake_attempts() const {
  std::lock_guard lock(mu_);
  return timers_.handshake_attempts();
}

std::shared_ptr<keypair> peer_protocol::current_keypair() const {
  std::lock_guard lock(mu_);
  return keypairs_.current();
}
std::shared_ptr<keypair> peer_protocol::next_keypair() const {
  std::lock_guard lock(mu_);
  return keypairs_.next();
}
std::shared_ptr<keypair> peer_protocol::previous_keypair() const {
  std::lock_guard lock(mu_);
  return keypairs_.previous();
}

}  // namespace overlayd::wg
