#include "net/nat/turn_client.hpp"

#include <sodium.h>

#include <algorithm>

#include "net/nat/nat_constants.hpp"

namespace overlayd::net::nat {
namespace {
constexpr uint32_t transport_udp = 17u << 24;  // REQUESTED-TRANSPORT: protocol 17, RFFU zero
constexpr std::chrono::seconds permission_refresh{240};
}  // namespace

bool looks_like_channel_data(byte_span d) noexcept { return d.size() >= 4 && (d[0] & 0xC0) == 0x40; }

bytes encode_channel_data(uint16_t channel, byte_span payload) {
  bytes b;
  b.reserve(4 + payload.size());
  put_u16(b, channel);
  put_u16(b, uint16_t(payload.size()));
  put_bytes(b, payload);
  return b;
}

std::optional<channel_data> decode_channel_data(byte_span d) {
  if (!looks_like_channel_data(d)) return std::nullopt;
  uint16_t ch = get_u16(d, 0), len = get_u16(d, 2);
  if (ch < turn_channel_first || ch > turn_channel_last) return std::nullopt;
  // Over UDP the datagram may carry up to 3 bytes of padding after the data.
  if (size_t(len) + 4 > d.size() || d.size() - 4 - len > 3) return std::nullopt;
  return channel_data{ch, d.subspan(4, len)};
}

turn_client::turn_client(turn_client_options opts) : opts_(std::move(opts)) {}

turn_client::~turn_client() {
  sodium_memzero(opts_.password.data(), opts_.password.size());
  if (key_) sodium_memzero(key_->data(), key_->size());
}

void turn_client::fail(std::string why) {
  state_ = turn_state::failed;
  last_error_ = std::move(why);
  pending_.clear();
}

void turn_client::start(steady::time_point now) {
  pending_.clear();
  peers_.clear();
  relayed_.reset();
  key_.reset();
  authenticated_ = false;
  realm_.clear();
  nonce_.clear();
  state_ = turn_state::allocating;
  send_request(stun_method::allocate, {}, 0, uint32_t(opts_.lifetime.count()), now);
}

void turn_client::send_request(stun_method m, const endpoint& peer, uint16_t channel, uint32_t lifetime,
                               steady::time_point now, unsigned auth_retries) {
  transaction t;
  t.method = m;
  t.peer = peer;
  t.channel = channel;
  t.lifetime = lifetime;
  t.txn = random_transaction_id();
  t.rto = stun_initial_rto;
  t.next = now;
  t.auth_retries = auth_retries;
  build(t);
  pending_.push_back(std::move(t));
}

void turn_client::build(transaction& t) {
  stun_builder b(t.method, stun_class::request, t.txn);
  switch (t.method) {
    case stun_method::allocate:
      b.add_u32(stun_attr::requested_transport, transport_udp);
      b.add_u32(stun_attr::lifetime, t.lifetime);
      break;
    case stun_method::refresh:
      b.add_u32(stun_attr::lifetime, t.lifetime);
      break;
    case stun_method::create_permission:
      b.add_xor_address(stun_attr::xor_peer_address, t.peer);
      break;
    case stun_method::channel_bind:
      b.add_u32(stun_attr::channel_number, uint32_t(t.channel) << 16);
      b.add_xor_address(stun_attr::xor_peer_address, t.peer);
      break;
    default:
      break;
  }
  if (key_) {
    // Long-term credentials (RFC 8489 section 9.2.3): USERNAME, REALM,
    // NONCE, then MESSAGE-INTEGRITY over everything before it.
    b.add_string(stun_attr::username, opts_.username);
    b.add_string(stun_attr::realm, realm_);
    b.add_string(stun_attr::nonce, nonce_);
    t.wire = b.finish(byte_span(*key_), true);
  } else {
    t.wire = b.finish(std::nullopt, true);
  }
}

std::vector<outgoing_datagram> turn_client::poll(steady::time_point now) {
  std::vector<outgoing_datagram> out;
  if (state_ == turn_state::allocated) {
    if (now >= refresh_at_) {
      send_request(stun_method::refresh, {}, 0, uint32_t(opts_.lifetime.count()), now);
      refresh_at_ = now + opts_.lifetime;  // re-armed by the answer
    }
    for (auto& [peer, ps] : peers_)
      if (now >= ps.refresh_at) {
        send_request(stun_method::create_permission, peer, 0, 0, now);
        send_request(stun_method::channel_bind, peer, ps.channel, 0, now);
        ps.refresh_at = now + permission_refresh;
      }
  }
  for (auto& t : pending_) {
    if (now < t.next) continue;
    if (t.sent >= stun_max_transmissions) {
      fail("TURN server " + opts_.server.to_string() + " did not answer " + std::string(to_string(t.method)));
      return {};
    }
    out.push_back({opts_.server, t.wire});
    ++t.sent;
    t.next = now + t.rto;
    t.rto = std::min(t.rto * 2, stun_max_rto);
  }
  return out;
}

std::optional<turn_client::delivered> turn_client::on_datagram(const endpoint& from, byte_span d,
                                                               steady::time_point now) {
  if (from != opts_.server) return std::nullopt;
  if (auto cd = decode_channel_data(d)) {
    for (const auto& [peer, ps] : peers_)
      if (ps.bound && ps.channel == cd->channel) return delivered{peer, bytes(cd->payload.begin(), cd->payload.end())};
    return std::nullopt;
  }
  auto m = parse_stun(d);
  if (!m) return std::nullopt;
  if (m->cls == stun_class::indication && m->method == stun_method::data) {
    auto peer = m->xor_address(stun_attr::xor_peer_address);
    const auto* data = m->find(stun_attr::data);
    if (peer && data && peers_.count(*peer)) return delivered{*peer, data->value};
    return std::nullopt;
  }
  if (m->cls == stun_class::success || m->cls == stun_class::error) on_response(*m, now);
  return std::nullopt;
}

void turn_client::on_response(const stun_message& m, steady::time_point now) {
  auto it = std::find_if(pending_.begin(), pending_.end(), [&](const transaction& t) { return t.txn == m.txn; });
  if (it == pending_.end()) return;
  // Once the server has proved it holds our key (an answer with a valid
  // MESSAGE-INTEGRITY), every answer must: an attacker who saw or guessed a
  // transaction id could otherwise fail our allocation or confirm a channel
  // that does not exist. The one exception is a challenge (401, or 438 Stale
  // Nonce): the server sends it when it could not check ours, so it cannot
  // carry one; it may make us retry with the new nonce (bounded by
  // auth_retries), never end the transaction. Before that proof, a refusal
  // without integrity is how a wrong password looks, and it ends the
  // allocation with the server's reason.
  const bool verified = key_ && m.integrity_offset && m.check_integrity(*key_);
  if (key_ && m.integrity_offset && !verified) {
    ++dropped_unauthenticated_;
    return;
  }
  if (verified) authenticated_ = true;
  if (authenticated_ && !verified) {
    const auto ec = m.error_code();
    const unsigned code = ec ? ec->code : 0;
    const bool challenge = m.cls == stun_class::error && (code == 401 || code == 438);
    if (!challenge || it->auth_retries >= 2) {
      ++dropped_unauthenticated_;
      return;
    }
  }
  transaction t = std::move(*it);
  pending_.erase(it);
  if (m.cls == stun_class::success) return on_success(t, m, now);

  auto ec = m.error_code();
  unsigned code = ec ? ec->code : 0;
  if ((code == 401 || code == 438) && t.auth_retries < 2) {
    // 401: first contact, learn REALM and NONCE. 438: the nonce went stale.
    auto realm = m.string_attr(stun_attr::realm);
    auto nonce = m.string_attr(stun_attr::nonce);
    if (nonce) nonce_ = *nonce;
    if (realm && *realm != realm_) {
      realm_ = *realm;
      key_ = stun_long_term_key(opts_.username, realm_, opts_.password);
    }
    if (key_ && nonce) return send_request(t.method, t.peer, t.channel, t.lifetime, now, t.auth_retries + 1);
  }
  std::string why = std::string(to_string(t.method)) + " refused: " +
                    (ec ? std::to_string(ec->code) + " " + ec->reason : std::string("error response"));
  if (t.method == stun_method::allocate || t.method == stun_method::refresh) {
    if (t.method == stun_method::refresh && t.lifetime == 0) return;
    return fail(why);
  }
  last_error_ = why;
}

void turn_client::on_success(const transaction& t, const stun_message& m, steady::time_point now) {
  switch (t.method) {
    case stun_method::allocate: {
      relayed_ = m.xor_address(stun_attr::xor_relayed_address);
      reflexive_ = m.xor_address(stun_attr::xor_mapped_address);
      if (!relayed_) return fail("Allocate answer without XOR-RELAYED-ADDRESS");
      auto life = std::chrono::seconds(m.u32_attr(stun_attr::lifetime).value_or(uint32_t(opts_.lifetime.count())));
      refresh_at_ = now + life / 2;
      state_ = turn_state::allocated;
      for (auto& [peer, ps] : peers_) ps.refresh_at = now;  // peers added while allocating
      break;
    }
    case stun_method::refresh: {
      auto life = std::chrono::seconds(m.u32_attr(stun_attr::lifetime).value_or(uint32_t(opts_.lifetime.count())));
      refresh_at_ = now + life / 2;
      break;
    }
    case stun_method::create_permission:
      if (auto p = peers_.find(t.peer); p != peers_.end()) p->second.permitted = true;
      break;
    case stun_method::channel_bind:
      if (auto p = peers_.find(t.peer); p != peers_.end() && p->second.channel == t.channel) p->second.bound = true;
      break;
    default:
      break;
  }
}

status turn_client::add_peer(const endpoint& peer, steady::time_point now) {
  if (peers_.count(peer)) return {};
  if (peers_.size() >= turn_max_channels) return error(errc::exhausted, "TURN client: too many peers");
  peer_state ps;
  ps.channel = next_channel_++;
  ps.refresh_at = state_ == turn_state::allocated ? now : steady::time_point::max();
  peers_.emplace(peer, ps);
  return {};
}

std::vector<std::pair<endpoint, uint16_t>> turn_client::channels() const {
  std::vector<std::pair<endpoint, uint16_t>> out;
  for (const auto& [peer, ps] : peers_) out.push_back({peer, ps.channel});
  return out;
}

bool turn_client::channel_bound(const endpoint& peer) const {
  auto it = peers_.find(peer);
  return it != peers_.end() && it->second.bound;
}

std::optional<outgoing_datagram> turn_client::wrap(const endpoint& peer, byte_span payload) const {
  auto it = peers_.find(peer);
  if (state_ != turn_state::allocated || it == peers_.end()) return std::nullopt;
  if (it->second.bound) return outgoing_datagram{opts_.server, encode_channel_data(it->second.channel, payload)};
  if (!it->second.permitted) return std::nullopt;
  auto wire = stun_builder(stun_method::send, stun_class::indication, random_transaction_id())
                  .add_xor_address(stun_attr::xor_peer_address, peer)
                  .add(stun_attr::data, payload)
                  .finish(std::nullopt, false);
  return outgoing_datagram{opts_.server, std::move(wire)};
}

std::optional<outgoing_datagram> turn_client::release(steady::time_point now) {
  if (state_ != turn_state::allocated) return std::nullopt;
  pending_.clear();
  send_request(stun_method::refresh, {}, 0, 0, now);
  outgoing_datagram d{opts_.server, pending_.back().wire};
  pending_.clear();
  peers_.clear();
  state_ = turn_state::idle;
  return d;
}

}  // namespace overlayd::net::nat
