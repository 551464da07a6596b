#include "net/nat/relay_client.hpp"

#include <sodium.h>

#include <algorithm>

#include "net/nat/nat_constants.hpp"

namespace overlayd::net::nat {

using relay::control;
using relay::msg_type;

relay_client::relay_client(relay_client_options opts)
    : opts_(std::move(opts)), key_(relay::derive_auth_key(opts_.credential)), guard_(relay_replay_window) {
  sodium_memzero(opts_.credential.data(), opts_.credential.size());
  opts_.credential.clear();
}

relay_client::~relay_client() = default;

void relay_client::start(wall::time_point now) {
  pending_.clear();
  peers_.clear();
  relayed_.reset();
  session_ = 0;
  port_ = 0;
  do randombytes_buf(&token_, sizeof token_);
  while (token_ == 0);
  state_ = relay_client_state::allocating;
  last_error_.clear();
  queue(msg_type::allocate, 0, now);
}

void relay_client::fail(std::string why) {
  state_ = relay_client_state::failed;
  last_error_ = std::move(why);
  pending_.clear();
}

control relay_client::request(msg_type t, wall::time_point now, uint64_t nonce) const {
  control c;
  c.type = t;
  c.session_id = session_;
  c.timestamp_ms = relay::unix_ms(now);
  c.nonce = nonce;
  c.token = token_;
  if (t == msg_type::allocate || t == msg_type::refresh) c.lifetime_secs = uint32_t(opts_.lifetime.count());
  return c;
}

void relay_client::queue(msg_type t, uint16_t port, wall::time_point now) {
  for (const auto& p : pending_)
    if (p.type == t && p.port == port) return;
  pending_.push_back({t, port, 0, 0, now});
}

std::vector<outgoing_datagram> relay_client::poll(wall::time_point now) {
  std::vector<outgoing_datagram> out;
  if (state_ == relay_client_state::allocated && now >= refresh_at_) {
    queue(msg_type::refresh, 0, now);
    refresh_at_ = now + granted_;  // re-armed when the answer arrives
  }
  for (auto& p : pending_) {
    if (now < p.next) continue;
    if (p.sent >= relay_request_max_transmissions) {
      fail(std::string("relay ") + opts_.server.to_string() + " did not answer (wrong credential, or unreachable)");
      return {};
    }
    // Every transmission is a new message (fresh nonce and timestamp): the
    // server drops exact replays, so a plain retransmission could never
    // get through after a lost answer.
    randombytes_buf(&p.nonce, sizeof p.nonce);
    control c = request(p.type, now, p.nonce);
    c.port = p.port;
    out.push_back({opts_.server, relay::encode_control(c, key_)});
    p.next = now + opts_.rto * (1u << std::min(p.sent, 4u));
    ++p.sent;
  }
  return out;
}

std::optional<relay_client::delivered> relay_client::on_datagram(const endpoint& from, byte_span d,
                                                                 wall::time_point now) {
  if (from != opts_.server || d.empty()) return std::nullopt;
  if (d[0] == uint8_t(msg_type::data)) {
    auto f = relay::decode_data(d);
    if (!f || state_ != relay_client_state::allocated || f->session_id != session_ || f->token != token_)
      return std::nullopt;
    auto it = peers_.find(f->peer_port);
    if (it == peers_.end()) return std::nullopt;
    return delivered{endpoint(relayed_->ip(), f->peer_port), bytes(f->payload.begin(), f->payload.end())};
  }
  auto c = relay::decode_control(d, key_);
  if (!c || c->token != token_) return std::nullopt;
  if (guard_.check(c->timestamp_ms, c->nonce, relay::unix_ms(now)) != relay::replay_guard::verdict::fresh)
    return std::nullopt;
  on_control(*c, now);
  return std::nullopt;
}

void relay_client::on_control(const control& c, wall::time_point now) {
  // Unsolicited pairing notice from the relay.
  if (c.echo == 0) {
    if (c.type == msg_type::bind_ok && c.session_id == session_ && peers_.count(c.port))
      peers_[c.port].paired = (c.flags & relay::flag_paired) != 0;
    return;
  }
  auto it = std::find_if(pending_.begin(), pending_.end(), [&](const pending& p) { return p.nonce == c.echo; });
  if (it == pending_.end()) return;
  pending p = *it;
  pending_.erase(it);
  if (c.type == msg_type::error) {
    if (p.type == msg_type::bind) {
      peers_.erase(p.port);
      last_error_ = "bind to relay port " + std::to_string(p.port) + " refused: " + std::string(to_string(c.code));
      return;
    }
    fail("relay refused " + std::string(p.type == msg_type::allocate ? "allocation" : "request") + ": " +
         std::string(to_string(c.code)));
    return;
  }
  switch (c.type) {
    case msg_type::allocate_ok:
      if (p.type != msg_type::allocate || !c.relayed) return;
      session_ = c.session_id;
      port_ = c.port;
      relayed_ = c.relayed;
      reflexive_ = c.reflexive;
      granted_ = std::chrono::seconds(c.lifetime_secs);
      refresh_at_ = now + granted_ / 2;
      state_ = relay_client_state::allocated;
      for (auto& [port, peer] : peers_) queue(msg_type::bind, port, now);
      break;
    case msg_type::refresh_ok:
      granted_ = std::chrono::seconds(c.lifetime_secs);
      refresh_at_ = now + granted_ / 2;
      reflexive_ = c.reflexive;
      break;
    case msg_type::bind_ok:
      if (auto pe = peers_.find(c.port); pe != peers_.end()) {
        pe->second.confirmed = true;
        pe->second.paired = (c.flags & relay::flag_paired) != 0;
      }
      break;
    default:
      break;
  }
}

status relay_client::bind_peer(const endpoint& peer_relayed, wall::time_point now) {
  if (relayed_ && peer_relayed.ip() != relayed_->ip())
    return error(errc::invalid_argument, "relay candidate " + peer_relayed.to_string() + " is not on relay " +
                                             opts_.server.to_string());
  if (!peers_.count(peer_relayed.port()) && peers_.size() >= max_peers)
    return error(errc::exhausted, "relay client: more than 64 relayed peers");
  peers_.emplace(peer_relayed.port(), peer{});
  if (state_ == relay_client_state::allocated) queue(msg_type::bind, peer_relayed.port(), now);
  return {};
}

void relay_client::unbind_peer(const endpoint& peer_relayed) { peers_.erase(peer_relayed.port()); }

unsigned relay_client::allocate_transmissions() const {
  for (const auto& p : pending_)
    if (p.type == msg_type::allocate) return p.sent;
  return 0;
}

std::vector<uint16_t> relay_client::peer_ports() const {
  std::vector<uint16_t> out;
  for (const auto& [port, p] : peers_) out.push_back(port);
  return out;
}

bool relay_client::is_relayed_peer(const endpoint& ep) const {
  return relayed_ && ep.ip() == relayed_->ip() && peers_.count(ep.port());
}

bool relay_client::paired(const endpoint& ep) const {
  auto it = relayed_ && ep.ip() == relayed_->ip() ? peers_.find(ep.port()) : peers_.end();
  return it != peers_.end() && it->second.paired;
}

std::optional<outgoing_datagram> relay_client::wrap(const endpoint& to, byte_span payload) const {
  if (state_ != relay_client_state::allocated || !is_relayed_peer(to) || payload.size() > relay::max_payload)
    return std::nullopt;
  return outgoing_datagram{opts_.server, relay::encode_data(to.port(), session_, token_, payload)};
}

std::optional<outgoing_datagram> relay_client::release(wall::time_point now) {
  if (state_ != relay_client_state::allocated) return std::nullopt;
  uint64_t nonce = 0;
  randombytes_buf(&nonce, sizeof nonce);
  auto d = relay::encode_control(request(msg_type::release, now, nonce), key_);
  state_ = relay_client_state::idle;
  pending_.clear();
  peers_.clear();
  relayed_.reset();
  return outgoing_datagram{opts_.server, std::move(d)};
}

std::optional<endpoint> relay_client::relayed_endpoint() const { return relayed_; }

}  // namespace overlayd::net::nat
