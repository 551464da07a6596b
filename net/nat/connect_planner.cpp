#include "net/nat/connect_planner.hpp"

#include <algorithm>

namespace overlayd::net::nat {

std::string_view to_string(connection_type t) noexcept {
  switch (t) {
    case connection_type::direct: return "direct";
    case connection_type::hole_punched: return "hole-punched";
    case connection_type::relayed: return "relayed";
    case connection_type::unreachable: return "unreachable";
  }
  return "unreachable";
}

std::vector<candidate_pair> form_pairs(const std::vector<candidate>& local, const std::vector<candidate>& remote,
                                       size_t max_pairs) {
  std::vector<candidate_pair> pairs;
  for (const auto& r : remote) {
    if (r.type == candidate_type::relay) continue;
    for (const auto& l : local) {
      if (l.type == candidate_type::relay || l.address.ip().fam() != r.address.ip().fam()) continue;
      uint64_t g = l.priority, d = r.priority;
      uint64_t prio = (uint64_t(1) << 32) * std::min(g, d) + 2 * std::max(g, d) + (g > d ? 1 : 0);
      pairs.push_back({l, r, prio});
    }
  }
  std::stable_sort(pairs.begin(), pairs.end(),
                   [](const candidate_pair& a, const candidate_pair& b) { return a.priority > b.priority; });
  std::vector<candidate_pair> out;
  for (auto& p : pairs) {
    if (out.size() >= max_pairs) break;
    bool seen = std::any_of(out.begin(), out.end(),
                            [&](const candidate_pair& q) { return q.remote.address == p.remote.address; });
    if (!seen) out.push_back(p);
  }
  return out;
}

connect_planner::connect_planner(connect_params p) : params_(p) {}

connection_type connect_planner::classify(const peer_state& p, const endpoint& ep) const {
  for (const auto& c : p.remote) {
    if (c.address != ep) continue;
    if (c.type == candidate_type::host) return connection_type::direct;
    if (c.type == candidate_type::relay) return connection_type::relayed;
  }
  return connection_type::hole_punched;
}

void connect_planner::set_local_candidates(std::vector<candidate> local) {
  sort_candidates(local);
  if (local.size() > max_local_candidates) local.resize(max_local_candidates);
  local_ = std::move(local);
}

status connect_planner::set_peer(const std::string& peer, std::vector<candidate> remote) {
  if (!peers_.count(peer) && peers_.size() >= max_peers)
    return error(errc::exhausted, "connect planner: more than 4096 peers");
  if (remote.size() > max_peer_candidates)
    return error(errc::invalid_argument, "peer " + peer + ": more than 64 candidates");
  auto& p = peers_[peer];
  if (p.remote != remote) {
    p.remote = std::move(remote);
    // An attempt in progress is abandoned for one with the new candidates:
    // its log entry says so rather than staying "in progress".
    if (p.ph == phase::punching && !p.log.empty()) p.log.back().reason = "superseded by new candidates";
    if (p.ph != phase::connected) p.ph = phase::idle;  // new candidates: try again now
    p.next_attempt = {};
  }
  return {};
}

void connect_planner::remove_peer(const std::string& peer) { peers_.erase(peer); }

steady::duration connect_planner::pair_budget(const peer_state& p) const {
  auto n = std::max<size_t>(p.pairs.size(), 1);
  steady::duration rest = params_.hole_punch_timeout - std::min<steady::duration>(params_.punch_lead, params_.hole_punch_timeout);
  steady::duration share = rest / n;
  return std::max<steady::duration>(share, std::chrono::seconds(1));
}

std::vector<connect_action> connect_planner::tick(steady::time_point now, const handshake_oracle& handshake,
                                                  const relay_oracle& relay_usable) {
  std::vector<connect_action> out;
  for (auto& [id, p] : peers_) tick_peer(id, p, now, handshake(id), relay_usable, out);
  return out;
}

void connect_planner::tick_peer(const std::string& id, peer_state& p, steady::time_point now,
                                const handshake_info& hs, const relay_oracle& relay_usable,
                                std::vector<connect_action>& out) {
  bool fresh = hs.last_handshake && now - *hs.last_handshake < params_.fresh_for;
  bool since_attempt = hs.last_handshake && *hs.last_handshake >= p.attempt_start;
  switch (p.ph) {
    case phase::idle:
    case phase::unreachable:
      if (fresh && (p.ph == phase::idle || since_attempt)) {
        // Already talking (static endpoint, or the peer reached us).
        p.ph = phase::connected;
        p.type = hs.current ? classify(p, *hs.current) : connection_type::direct;
        p.remote_endpoint = hs.current;
        p.next_attempt = now + params_.direct_retry;
        return;
      }
      if (now >= p.next_attempt) begin_attempt(id, p, now, false, out);
      return;
    case phase::connected:
      p.remote_endpoint = hs.current ? hs.current : p.remote_endpoint;
      if (!hs.last_handshake || now - *hs.last_handshake >= params_.lost_after) {
        p.ph = phase::idle;
        p.next_attempt = {};
        return tick_peer(id, p, now, hs, relay_usable, out);
      }
      if (p.type == connection_type::relayed && now >= p.next_attempt) begin_attempt(id, p, now, true, out);
      return;
    case phase::punching:
      if (since_attempt && hs.current && !(p.relay_endpoint && *hs.current == *p.relay_endpoint)) {
        finish(p, classify(p, *hs.current), hs.current,
               "handshake completed via " + hs.current->to_string(), now);
        return;
      }
      if (!p.pair_started && now >= p.pair_deadline) {
        start_pair(id, p, now, out);  // the punch lead is over
        return;
      }
      if (now >= p.pair_deadline) {
        ++p.pair_index;
        if (p.pair_index < p.pairs.size()) start_pair(id, p, now, out);
        else after_pairs(id, p, now, relay_usable, out);
        return;
      }
      if (now >= p.next_punch) {
        for (const auto& pr : p.pairs) out.push_back({connect_action::kind::punch, id, pr.remote.address});
        p.next_punch = now + params_.punch_interval;
      }
      if (p.pair_started && now >= p.next_initiate) {
        out.push_back({connect_action::kind::initiate_handshake, id, p.pairs[p.pair_index].remote.address});
        p.next_initiate = now + params_.reinitiate;
      }
      return;
    case phase::relaying:
      if (since_attempt) {
        finish(p, connection_type::relayed, p.relay_endpoint, "direct pairs failed; handshake through relay " +
                                                                  p.relay_endpoint->to_string(), now);
        return;
      }
      if (now >= p.next_initiate && now < p.pair_deadline) {
        out.push_back({connect_action::kind::initiate_handshake, id, *p.relay_endpoint});
        p.next_initiate = now + params_.reinitiate;
      }
      if (now >= p.pair_deadline) {
        finish(p, connection_type::unreachable, std::nullopt,
               "no handshake on " + std::to_string(p.pairs.size()) + " direct pair(s) nor through relay " +
                   p.relay_endpoint->to_string(), now);
      }
      return;
  }
}

void connect_planner::begin_attempt(const std::string& id, peer_state& p, steady::time_point now, bool retry_direct,
                                    std::vector<connect_action>& out) {
  p.pairs = form_pairs(local_, p.remote, params_.max_pairs);
  p.retrying_direct = retry_direct;
  p.attempt_start = now;
  p.pair_index = 0;
  p.log.push_back({now, {}, connection_type::unreachable, "in progress"});
  while (p.log.size() > connect_log_depth) p.log.pop_front();
  if (p.pairs.empty()) {
    p.pair_deadline = now;
    p.pair_started = true;
    p.ph = phase::punching;
    return;  // the next tick goes straight to the relay decision
  }
  p.ph = phase::punching;
  p.pair_started = false;
  p.pair_deadline = now + params_.punch_lead;
  p.next_punch = now + params_.punch_interval;
  for (const auto& q : p.pairs) out.push_back({connect_action::kind::punch, id, q.remote.address});
}

void connect_planner::start_pair(const std::string& id, peer_state& p, steady::time_point now,
                                 std::vector<connect_action>& out) {
  const auto& pr = p.pairs[p.pair_index];
  p.pair_started = true;
  p.log.back().pairs_tried.push_back(std::string(to_string(pr.remote.type)) + " " + pr.remote.address.to_string());
  p.pair_deadline = now + pair_budget(p);
  p.next_punch = now + params_.punch_interval;
  // Retrying direct for a relayed peer, traffic stays on the relay: the
  // initiation goes to the pair's address and only its answer (WireGuard
  // roaming on the authenticated response) moves the endpoint.
  if (!(p.retrying_direct && p.relay_endpoint))
    out.push_back({connect_action::kind::set_endpoint, id, pr.remote.address});
  for (const auto& q : p.pairs) out.push_back({connect_action::kind::punch, id, q.remote.address});
  out.push_back({connect_action::kind::initiate_handshake, id, pr.remote.address});
  p.next_initiate = now + params_.reinitiate;
}

void connect_planner::after_pairs(const std::string& id, peer_state& p, steady::time_point now,
                                  const relay_oracle& relay_usable, std::vector<connect_action>& out) {
  std::string why = p.pairs.empty() ? "no usable direct pair"
                                    : "no handshake on " + std::to_string(p.pairs.size()) + " direct pair(s) within " +
                                          std::to_string(params_.hole_punch_timeout.count()) + " s";
  if (p.retrying_direct && p.relay_endpoint) {
    // Direct still does not work: go back to the relay we had.
    out.push_back({connect_action::kind::set_endpoint, id, *p.relay_endpoint});
    finish(p, connection_type::relayed, p.relay_endpoint, why + "; staying on relay", now);
    return;
  }
  for (const auto& c : p.remote) {
    if (c.type != candidate_type::relay || !relay_usable || !relay_usable(c.address)) continue;
    p.relay_endpoint = c.address;
    p.ph = phase::relaying;
    p.attempt_start = now;
    p.pair_deadline = now + std::max(params_.hole_punch_timeout, params_.relay_window);
    p.log.back().pairs_tried.push_back("relay " + c.address.to_string());
    out.push_back({connect_action::kind::bind_relay, id, c.address});
    out.push_back({connect_action::kind::set_endpoint, id, c.address});
    out.push_back({connect_action::kind::initiate_handshake, id, c.address});
    p.next_initiate = now + params_.reinitiate;
    return;
  }
  const bool offered = std::any_of(p.remote.begin(), p.remote.end(),
                                   [](const candidate& c) { return c.type == candidate_type::relay; });
  why += offered ? "; no usable relay candidate" : "; the peer offers no relay candidate";
  if (!relay_problem_.empty()) why += " (" + relay_problem_ + ")";
  finish(p, connection_type::unreachable, std::nullopt, why, now);
}

void connect_planner::finish(peer_state& p, connection_type t, std::optional<endpoint> ep, std::string reason,
                             steady::time_point now) {
  p.type = t;
  p.remote_endpoint = std::move(ep);
  p.log.back().outcome = t;
  p.log.back().reason = std::move(reason);
  p.retrying_direct = false;
  if (t == connection_type::unreachable) {
    p.ph = phase::unreachable;
    p.next_attempt = now + 2 * params_.hole_punch_timeout;
  } else {
    p.ph = phase::connected;
    p.next_attempt = now + params_.direct_retry;
    if (t != connection_type::relayed) p.relay_endpoint.reset();
  }
}

std::vector<peer_connect_status> connect_planner::snapshot() const {
  std::vector<peer_connect_status> out;
  for (const auto& [id, p] : peers_)
    out.push_back({id, p.type, p.remote_endpoint, std::vector<connect_attempt>(p.log.begin(), p.log.end())});
  return out;
}

}  // namespace overlayd::net::nat
