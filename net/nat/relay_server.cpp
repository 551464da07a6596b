#include "net/nat/relay_server.hpp"

#include <sodium.h>

#include <algorithm>

#include "net/nat/nat_constants.hpp"

namespace overlayd::net::nat {

using relay::control;
using relay::error_code;
using relay::msg_type;

relay_server::relay_server(relay_server_options opts)
    : opts_(std::move(opts)), key_(relay::derive_auth_key(opts_.credential)), guard_(relay_replay_window),
      keyed_(!opts_.credential.empty()) {
  sodium_memzero(opts_.credential.data(), opts_.credential.size());
  opts_.credential.clear();
}

relay_server::~relay_server() = default;

std::vector<outgoing_datagram> relay_server::on_datagram(const endpoint& from, byte_span d,
                                                         wall::time_point now) {
  if (d.empty()) return {};
  if (!keyed_) {
    ++stats_.dropped_auth;
    return {};
  }
  if (d[0] == uint8_t(msg_type::data)) return on_data(from, d);
  return on_control(from, d, now);
}

std::vector<outgoing_datagram> relay_server::on_control(const endpoint& from, byte_span d,
                                                        wall::time_point now) {
  auto req = relay::decode_control(d, key_);
  if (!req) {
    ++stats_.dropped_auth;
    return {};
  }
  switch (guard_.check(req->timestamp_ms, req->nonce, relay::unix_ms(now))) {
    case relay::replay_guard::verdict::fresh: break;
    case relay::replay_guard::verdict::stale: ++stats_.dropped_stale; return {};
    case relay::replay_guard::verdict::replayed:
    case relay::replay_guard::verdict::full: ++stats_.dropped_replay; return {};
  }
  std::vector<outgoing_datagram> out;
  control resp;
  if (req->type == msg_type::allocate) {
    resp = handle_allocate(from, *req, now);
  } else if (req->type == msg_type::refresh || req->type == msg_type::bind || req->type == msg_type::release) {
    session* s = find_owned(*req);
    if (!s) resp = refuse(*req, error_code::unknown_session, now);
    else if (req->type == msg_type::refresh) resp = handle_refresh(*s, from, *req, now);
    else if (req->type == msg_type::bind) resp = handle_bind(*s, *req, out, now);
    else resp = handle_release(*s);
    if (resp.timestamp_ms == 0) resp = answer(*req, resp.type, now);
  } else {
    return {};  // answers are never requests; ignore them
  }
  out.insert(out.begin(), outgoing_datagram{from, relay::encode_control(resp, key_)});
  return out;
}

relay_server::session* relay_server::find_owned(const control& req) {
  auto it = sessions_.find(req.session_id);
  if (it == sessions_.end() || it->second.token != req.token) return nullptr;
  return &it->second;
}

control relay_server::answer(const control& req, msg_type t, wall::time_point now) const {
  control c;
  c.type = t;
  c.session_id = req.session_id;
  c.timestamp_ms = relay::unix_ms(now);
  randombytes_buf(&c.nonce, sizeof c.nonce);
  c.echo = req.nonce;
  c.token = req.token;
  return c;
}

control relay_server::refuse(const control& req, error_code e, wall::time_point now) {
  ++stats_.refused;
  control c = answer(req, msg_type::error, now);
  c.code = e;
  return c;
}

uint16_t relay_server::pick_port() {
  const uint32_t span = uint32_t(relay_port_last) - relay_port_first + 1;
  for (int tries = 0; tries < 64; ++tries) {
    auto p = uint16_t(relay_port_first + randombytes_uniform(span));
    if (p != opts_.listen_port && !by_port_.count(p)) return p;
  }
  for (uint32_t p = relay_port_first; p <= relay_port_last; ++p)
    if (p != opts_.listen_port && !by_port_.count(uint16_t(p))) return uint16_t(p);
  return 0;
}

control relay_server::handle_allocate(const endpoint& from, const control& req, wall::time_point now) {
  if (req.token == 0) return refuse(req, error_code::bad_request, now);
  // A retransmitted allocate (same client, same token) gets the same session:
  // the answer to the first may have been lost.
  session* s = nullptr;
  for (auto& [id, cand] : sessions_)
    if (cand.client == from && cand.token == req.token) s = &cand;
  if (!s) {
    if (sessions_.size() >= opts_.max_sessions) return refuse(req, error_code::exhausted, now);
    session fresh;
    do randombytes_buf(&fresh.id, sizeof fresh.id);
    while (fresh.id == 0 || sessions_.count(fresh.id));
    fresh.port = pick_port();
    if (fresh.port == 0) return refuse(req, error_code::exhausted, now);
    fresh.token = req.token;
    fresh.client = from;
    by_port_[fresh.port] = fresh.id;
    s = &(sessions_[fresh.id] = fresh);
    ++stats_.allocations;
  }
  auto want = std::chrono::seconds(req.lifetime_secs ? req.lifetime_secs : relay_default_lifetime.count());
  auto life = std::clamp(want, std::chrono::seconds(relay_min_lifetime), std::chrono::seconds(relay_max_lifetime));
  s->expires = now + life;
  control c = answer(req, msg_type::allocate_ok, now);
  c.session_id = s->id;
  c.port = s->port;
  c.lifetime_secs = uint32_t(life.count());
  c.relayed = endpoint(opts_.external_ip, s->port);
  c.reflexive = from;
  return c;
}

control relay_server::handle_refresh(session& s, const endpoint& from, const control& req, wall::time_point now) {
  if (req.lifetime_secs == 0) return handle_release(s);
  auto life = std::clamp(std::chrono::seconds(req.lifetime_secs), std::chrono::seconds(relay_min_lifetime),
                         std::chrono::seconds(relay_max_lifetime));
  s.expires = now + life;
  s.client = from;  // follows a NAT rebinding; the MAC and the token vouch for it
  control c = answer(req, msg_type::refresh_ok, now);
  c.lifetime_secs = uint32_t(life.count());
  c.port = s.port;
  c.relayed = endpoint(opts_.external_ip, s.port);
  c.reflexive = from;
  return c;
}

control relay_server::handle_bind(session& s, const control& req, std::vector<outgoing_datagram>& out,
                                  wall::time_point now) {
  auto peer = by_port_.find(req.port);
  if (peer == by_port_.end() || req.port == s.port) return refuse(req, error_code::unknown_peer, now);
  if (!s.binds.count(req.port) && s.binds.size() >= relay_max_binds_per_session)
    return refuse(req, error_code::too_many_binds, now);
  s.binds.insert(req.port);
  control c = answer(req, msg_type::bind_ok, now);
  c.port = req.port;
  session& other = sessions_.at(peer->second);
  if (paired(s, other)) {
    c.flags = relay::flag_paired;
    // Tell the other side its bind is now paired (unsolicited, echo 0).
    control note = answer(req, msg_type::bind_ok, now);
    note.echo = 0;
    note.session_id = other.id;
    note.token = other.token;
    note.port = s.port;
    note.flags = relay::flag_paired;
    out.push_back({other.client, relay::encode_control(note, key_)});
  }
  return c;
}

control relay_server::handle_release(session& s) {
  control c;
  c.type = msg_type::release_ok;
  by_port_.erase(s.port);
  sessions_.erase(s.id);  // s dangles from here on
  return c;
}

bool relay_server::paired(const session& a, const session& b) const {
  return a.binds.count(b.port) && b.binds.count(a.port);
}

std::vector<outgoing_datagram> relay_server::on_data(const endpoint& from, byte_span d) {
  auto f = relay::decode_data(d);
  auto it = f ? sessions_.find(f->session_id) : sessions_.end();
  if (it == sessions_.end() || it->second.token != f->token || it->second.client != from) {
    ++stats_.dropped_data;
    return {};
  }
  auto peer = by_port_.find(f->peer_port);
  if (peer == by_port_.end()) {
    ++stats_.dropped_data;
    return {};
  }
  const session& src = it->second;
  const session& dst = sessions_.at(peer->second);
  if (!paired(src, dst)) {
    ++stats_.dropped_data;
    return {};
  }
  ++stats_.forwarded;
  return {{dst.client, relay::encode_data(src.port, dst.id, dst.token, f->payload)}};
}

void relay_server::expire(wall::time_point now) {
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    if (it->second.expires <= now) {
      by_port_.erase(it->second.port);
      it = sessions_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace overlayd::net::nat
