// Noise_IKpsk2 as WireGuard specifies it (whitepaper §5.4.2–5.4.5).
// Notation in comments: C chaining key, H hash, k AEAD key; e/s ephemeral and
// static keys; the token list of each step is the Noise pattern's.
#include "net/wg/noise.hpp"

#include <cstring>

#include "crypto/aead.hpp"

namespace overlayd::wg {
namespace {

using crypto::secret;

error fail(const char* why) { return error(errc::protocol, std::string("noise: ") + why); }

// H = HASH(H || data)
void mix_hash(secret<32>& h, bytes_view data) noexcept { crypto::hash(h.span(), h.span(), data); }

// C = KDF1(C, data)
void mix_key(secret<32>& c, bytes_view data) noexcept { crypto::kdf1(c.span(), data, c.span()); }

// (C, k) = KDF2(C, DH(sk, pk)); false on an all-zero DH result.
bool mix_dh(secret<32>& c, secret<32>* k, const crypto::private_key& sk, const crypto::public_key& pk) noexcept {
  auto dh = crypto::x25519(sk, pk);
  if (!dh) return false;
  if (k != nullptr) {
    crypto::kdf2(c.span(), dh->span(), c.span(), k->span());
  } else {
    crypto::kdf1(c.span(), dh->span(), c.span());
  }
  return true;
}

// (C, k) = KDF2(C, precomputed) — the ss step with a cached DH.
void mix_precomputed(secret<32>& c, secret<32>& k, const secret<32>& dh) noexcept {
  crypto::kdf2(c.span(), dh.span(), c.span(), k.span());
}

// out = AEAD(k, 0, plain, H); H = HASH(H || out)
void seal_and_hash(uint8_t* out, const uint8_t* plain, size_t len, const secret<32>& k, secret<32>& h) noexcept {
  crypto::aead_seal(out, plain, len, h.span(), 0, k.span());
  mix_hash(h, bytes_view(out, len + aead_tag_size));
}

// plain = AEAD-open(k, 0, in, H); H = HASH(H || in)
bool open_and_hash(uint8_t* plain, const uint8_t* in, size_t len_with_tag, const secret<32>& k,
                   secret<32>& h) noexcept {
  if (!crypto::aead_open(plain, in, len_with_tag, h.span(), 0, k.span())) return false;
  mix_hash(h, bytes_view(in, len_with_tag));
  return true;
}

void start_chain(secret<32>& c, secret<32>& h, const crypto::public_key& responder_static) noexcept {
  const chain_init& init = noise_chain_init();
  std::memcpy(c.data(), init.chaining_key.data(), 32);
  std::memcpy(h.data(), init.hash.data(), 32);
  // H = HASH(H || S_pub_responder)
  mix_hash(h, responder_static.span());
}

}  // namespace

static_identity static_identity::from_private(crypto::private_key sk) {
  crypto::clamp(sk);
  static_identity id;
  id.public_key = crypto::public_from_private(sk);
  id.private_key = std::move(sk);
  return id;
}

void handshake::clear() noexcept {
  state = handshake_state::zeroed;
  ephemeral_private.clear();
  remote_ephemeral = {};
  hash.clear();
  chaining_key.clear();
  local_index = 0;
  remote_index = 0;
}

const chain_init& noise_chain_init() noexcept {
  static const chain_init v = [] {
    chain_init r{};
    const auto* cons = reinterpret_cast<const uint8_t*>(noise_construction.data());
    const auto* ident = reinterpret_cast<const uint8_t*>(noise_identifier.data());
    // C = HASH(CONSTRUCTION); H = HASH(C || IDENTIFIER)
    crypto::hash(r.chaining_key, bytes_view(cons, noise_construction.size()));
    crypto::hash(r.hash, r.chaining_key, bytes_view(ident, noise_identifier.size()));
    return r;
  }();
  return v;
}

status precompute_static(handshake& hs, const static_identity& id) {
  auto dh = crypto::x25519(id.private_key, hs.remote_static);
  if (!dh) {
    hs.precomputed_static_static.clear();
    return std::move(dh).err();
  }
  hs.precomputed_static_static = std::move(*dh);
  return {};
}

result<msg_initiation> create_initiation(handshake& hs, const static_identity& id, uint32_t local_index,
                                         wall_time now) {
  return create_initiation(hs, id, local_index, now, crypto::generate_private_key());
}

result<msg_initiation> create_initiation(handshake& hs, const static_identity& id, uint32_t local_index,
                                         wall_time now, crypto::private_key e) {
  if (hs.precomputed_static_static.is_zero()) return fail("no usable static-static DH for this peer");
  msg_initiation msg{};
  set_type(msg.type, message_type::initiation);
  store_le32(msg.sender, local_index);

  secret<32> c, h, k;
  start_chain(c, h, hs.remote_static);

  // e: a fresh ephemeral; C = KDF1(C, E_pub); H = HASH(H || E_pub)
  crypto::clamp(e);
  const crypto::public_key e_pub = crypto::public_from_private(e);
  std::memcpy(msg.ephemeral, e_pub.bytes.data(), 32);
  mix_key(c, e_pub.span());
  mix_hash(h, e_pub.span());

  // es: (C, k) = KDF2(C, DH(e, S_pub_r))
  if (!mix_dh(c, &k, e, hs.remote_static)) return fail("es: low-order peer key");

  // s: encrypted_static = AEAD(k, 0, S_pub_i, H)
  seal_and_hash(msg.encrypted_static, id.public_key.bytes.data(), 32, k, h);

  // ss: (C, k) = KDF2(C, DH(s_i, S_pub_r)), precomputed
  mix_precomputed(c, k, hs.precomputed_static_static);

  // {t}: encrypted_timestamp = AEAD(k, 0, TAI64N, H)
  const crypto::tai64n ts = crypto::tai64n_from(now);
  seal_and_hash(msg.encrypted_timestamp, ts.data(), ts.size(), k, h);

  hs.clear();
  hs.ephemeral_private = std::move(e);
  hs.chaining_key = std::move(c);
  hs.hash = std::move(h);
  hs.local_index = local_index;
  hs.state = handshake_state::created_initiation;
  return msg;
}

result<initiation_opened> open_initiation(const msg_initiation& msg, const static_identity& id) {
  initiation_opened out;
  secret<32> k;
  start_chain(out.chaining_key, out.hash, id.public_key);

  // e: C = KDF1(C, E_pub_i); H = HASH(H || E_pub_i)
  std::memcpy(out.remote_ephemeral.bytes.data(), msg.ephemeral, 32);
  mix_key(out.chaining_key, out.remote_ephemeral.span());
  mix_hash(out.hash, out.remote_ephemeral.span());

  // es: (C, k) = KDF2(C, DH(s_r, E_pub_i))
  if (!mix_dh(out.chaining_key, &k, id.private_key, out.remote_ephemeral))
    return fail("es: low-order ephemeral");

  // s: S_pub_i = AEAD-open(k, 0, encrypted_static, H)
  if (!open_and_hash(out.initiator_static.bytes.data(), msg.encrypted_static, sizeof msg.encrypted_static, k,
                     out.hash))
    return fail("initiation: static key does not authenticate");

  out.sender_index = msg.sender_index();
  std::memcpy(out.encrypted_timestamp, msg.encrypted_timestamp, sizeof out.encrypted_timestamp);
  return out;
}

status finish_initiation(handshake& hs, const initiation_opened& opened, time_point now) {
  if (!(hs.remote_static == opened.initiator_static)) return fail("initiation: wrong peer");
  if (hs.precomputed_static_static.is_zero()) return fail("no usable static-static DH for this peer");
  secret<32> c = opened.chaining_key;
  secret<32> h = opened.hash;
  secret<32> k;

  // ss: (C, k) = KDF2(C, DH(s_r, S_pub_i)), precomputed
  mix_precomputed(c, k, hs.precomputed_static_static);

  // {t}: timestamp = AEAD-open(k, 0, encrypted_timestamp, H)
  crypto::tai64n ts{};
  if (!open_and_hash(ts.data(), opened.encrypted_timestamp, sizeof opened.encrypted_timestamp, k, h))
    return fail("initiation: timestamp does not authenticate");

  // Replay: the timestamp must grow; flood: at most 50 initiations/s per peer.
  if (!crypto::tai64n_after(ts, hs.latest_timestamp)) return fail("initiation: replayed timestamp");
  if (hs.last_initiation_consumption && now - *hs.last_initiation_consumption < min_initiation_interval)
    return fail("initiation: too many from this peer");

  hs.clear();
  hs.remote_ephemeral = opened.remote_ephemeral;
  hs.latest_timestamp = ts;
  hs.last_initiation_consumption = now;
  hs.chaining_key = std::move(c);
  hs.hash = std::move(h);
  hs.remote_index = opened.sender_index;
  hs.state = handshake_state::consumed_initiation;
  return {};
}

result<msg_response> create_response(handshake& hs, uint32_t local_index) {
  return create_response(hs, local_index, crypto::generate_private_key());
}

result<msg_response> create_response(handshake& hs, uint32_t local_index, crypto::private_key e) {
  if (hs.state != handshake_state::consumed_initiation) return fail("response: no initiation consumed");
  msg_response msg{};
  set_type(msg.type, message_type::response);
  store_le32(msg.sender, local_index);
  store_le32(msg.receiver, hs.remote_index);

  secret<32> c = hs.chaining_key;
  secret<32> h = hs.hash;
  secret<32> k, tau;

  // e: C = KDF1(C, E_pub_r); H = HASH(H || E_pub_r)
  crypto::clamp(e);
  const crypto::public_key e_pub = crypto::public_from_private(e);
  std::memcpy(msg.ephemeral, e_pub.bytes.data(), 32);
  mix_key(c, e_pub.span());
  mix_hash(h, e_pub.span());

  // ee: C = KDF1(C, DH(e_r, E_pub_i))
  if (!mix_dh(c, nullptr, e, hs.remote_ephemeral)) return fail("ee: low-order ephemeral");
  // se: C = KDF1(C, DH(e_r, S_pub_i))
  if (!mix_dh(c, nullptr, e, hs.remote_static)) return fail("se: low-order peer key");

  // psk: (C, tau, k) = KDF3(C, Q); H = HASH(H || tau)
  crypto::kdf3(c.span(), hs.preshared.span(), c.span(), tau.span(), k.span());
  mix_hash(h, tau.span());

  // {}: encrypted_nothing = AEAD(k, 0, empty, H)
  seal_and_hash(msg.encrypted_nothing, nullptr, 0, k, h);

  hs.ephemeral_private = std::move(e);
  hs.chaining_key = std::move(c);
  hs.hash = std::move(h);
  hs.local_index = local_index;
  hs.state = handshake_state::created_response;
  return msg;
}

status consume_response(handshake& hs, const static_identity& id, const msg_response& msg) {
  if (hs.state != handshake_state::created_initiation || msg.receiver_index() != hs.local_index)
    return fail("response: no matching initiation");
  secret<32> c = hs.chaining_key;
  secret<32> h = hs.hash;
  secret<32> k, tau;
  crypto::public_key e_pub;
  std::memcpy(e_pub.bytes.data(), msg.ephemeral, 32);

  // e: C = KDF1(C, E_pub_r); H = HASH(H || E_pub_r)
  mix_key(c, e_pub.span());
  mix_hash(h, e_pub.span());

  // ee: C = KDF1(C, DH(e_i, E_pub_r))
  if (!mix_dh(c, nullptr, hs.ephemeral_private, e_pub)) return fail("ee: low-order ephemeral");
  // se: C = KDF1(C, DH(s_i, E_pub_r))
  if (!mix_dh(c, nullptr, id.private_key, e_pub)) return fail("se: low-order ephemeral");

  // psk: (C, tau, k) = KDF3(C, Q); H = HASH(H || tau)
  crypto::kdf3(c.span(), hs.preshared.span(), c.span(), tau.span(), k.span());
  mix_hash(h, tau.span());

  // {}: the empty payload must authenticate
  uint8_t nothing[1];
  if (!open_and_hash(nothing, msg.encrypted_nothing, sizeof msg.encrypted_nothing, k, h))
    return fail("response: does not authenticate");

  hs.remote_ephemeral = e_pub;
  hs.remote_index = msg.sender_index();
  hs.chaining_key = std::move(c);
  hs.hash = std::move(h);
  hs.state = handshake_state::consumed_response;
  return {};
}

result<session_keys> derive_keys(handshake& hs) {
  const bool initiator = hs.state == handshake_state::consumed_response;
  if (!initiator && hs.state != handshake_state::created_response) return fail("keys: handshake incomplete");
  session_keys keys;
  // (T_i->r, T_r->i) = KDF2(C, empty)
  secret<32> t1, t2;
  crypto::kdf2(hs.chaining_key.span(), {}, t1.span(), t2.span());
  keys.send = initiator ? std::move(t1) : std::move(t2);
  keys.recv = initiator ? std::move(t2) : std::move(t1);
  keys.local_index = hs.local_index;
  keys.remote_index = hs.remote_index;
  keys.initiator = initiator;
  hs.clear();
  return keys;
}

}  // namespace overlayd::wg
