#include "net/nat/nat_traversal.hpp"

#include <algorithm>

#include "net/nat/demux.hpp"

namespace overlayd::net::nat {

result<std::unique_ptr<nat_traversal>> nat_traversal::create(nat_traversal_options opts) {
  auto stun = parse_server_list(opts.config.stun_servers);
  if (!stun) return std::move(stun).err();
  std::vector<endpoint> turn_eps;
  for (const auto& t : opts.config.turn_servers) {
    auto ep = endpoint::parse(t.address);
    if (!ep) return error(errc::invalid_argument, "bad TURN server address '" + t.address + "'");
    turn_eps.push_back(*ep);
  }
  auto turn = opts.config.turn_servers;
  return std::unique_ptr<nat_traversal>(new nat_traversal(std::move(opts), std::move(*stun), std::move(turn),
                                                          std::move(turn_eps)));
}

namespace {
connect_params planner_params(const nat_config& c) {
  connect_params p{c.max_candidate_pairs, c.hole_punch_timeout};
  p.direct_retry = c.direct_retry;
  return p;
}
}  // namespace

nat_traversal::nat_traversal(nat_traversal_options opts, std::vector<endpoint> stun,
                             std::vector<turn_server_config> turn, std::vector<endpoint> turn_eps)
    : opts_(std::move(opts)),
      stun_servers_(std::move(stun)),
      planner_(planner_params(opts_.config)) {
  if (opts_.relay)
    relay_ = std::make_unique<relay_client>(relay_client_options{*opts_.relay, opts_.relay_credential});
  for (size_t i = 0; i < turn.size(); ++i)
    turn_.push_back(std::make_unique<turn_client>(
        turn_client_options{turn_eps[i], turn[i].username, turn[i].credential}));
}

void nat_traversal::refresh(const std::vector<interface_address>& ifs, const nat_clock& now) {
  host_ = host_candidates(ifs, opts_.listen_port);
  // With no STUN server configured nothing is sent anywhere.
  if (!stun_servers_.empty()) stun_.start(stun_servers_, now.mono);
  if (relay_ && (relay_->state() == relay_client_state::idle || relay_->state() == relay_client_state::failed))
    relay_->start(now.wall);
  for (auto& t : turn_)
    if (t->state() == turn_state::idle || t->state() == turn_state::failed) t->start(now.mono);
  last_refresh_ = now.wall;
  planner_.set_local_candidates(local_candidates());
}

std::vector<outgoing_datagram> nat_traversal::poll(const nat_clock& now) {
  auto out = stun_.poll(now.mono);
  // Results replace the previous round's only once the round is over, so
  // candidates stay stable while a refresh is in flight.
  if (!stun_servers_.empty() && stun_.done()) stun_results_ = stun_.results();
  if (relay_)
    for (auto& d : relay_->poll(now.wall)) out.push_back(std::move(d));
  for (auto& t : turn_)
    for (auto& d : t->poll(now.mono)) out.push_back(std::move(d));
  return out;
}

std::optional<nat_traversal::packet> nat_traversal::on_datagram(const endpoint& from, byte_span d,
                                                                const nat_clock& now) {
  switch (classify_datagram(d)) {
    case datagram_kind::stun:
      if (stun_.on_datagram(from, d)) {
        if (stun_.done()) stun_results_ = stun_.results();
        return std::nullopt;
      }
      for (auto& t : turn_)
        if (auto p = t->on_datagram(from, d, now.mono)) return packet{p->peer, std::move(p->payload)};
      return std::nullopt;
    case datagram_kind::relay:
      if (relay_)
        if (auto p = relay_->on_datagram(from, d, now.wall)) return packet{p->from, std::move(p->payload)};
      return std::nullopt;
    case datagram_kind::turn_channel_data:
      for (auto& t : turn_)
        if (auto p = t->on_datagram(from, d, now.mono)) return packet{p->peer, std::move(p->payload)};
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

std::optional<outgoing_datagram> nat_traversal::wrap(const endpoint& to, byte_span pkt) const {
  if (relay_ && relay_->is_relayed_peer(to)) return relay_->wrap(to, pkt);
  for (const auto& t : turn_)
    if (auto w = t->wrap(to, pkt)) return w;
  return std::nullopt;
}

std::vector<candidate> nat_traversal::local_candidates() const {
  std::vector<candidate> out = host_;
  // Several STUN servers usually report the same mapping (that is what
  // endpoint-independent means): one candidate per address.
  for (const auto& r : stun_results_)
    if (r.reflexive && std::none_of(out.begin(), out.end(), [&](const candidate& c) {
          return c.type == candidate_type::server_reflexive && c.address == *r.reflexive;
        }))
      out.push_back(make_candidate(candidate_type::server_reflexive, *r.reflexive));
  if (relay_ && relay_->relayed_endpoint()) out.push_back(make_candidate(candidate_type::relay, *relay_->relayed_endpoint()));
  for (const auto& t : turn_)
    if (t->relayed_endpoint()) out.push_back(make_candidate(candidate_type::relay, *t->relayed_endpoint()));
  sort_candidates(out);
  return out;
}

std::vector<relay_route> nat_traversal::relay_routes() const {
  std::vector<relay_route> out;
  if (relay_ && relay_->state() == relay_client_state::allocated && relay_->relayed_endpoint()) {
    for (uint16_t port : relay_->peer_ports()) {
      relay_route r;
      r.how = relay_route::kind::ours;
      r.peer = endpoint(relay_->relayed_endpoint()->ip(), port);
      r.server = relay_->server();
      r.session_id = relay_->session_id();
      r.token = relay_->token();
      out.push_back(r);
    }
  }
  for (const auto& t : turn_) {
    if (t->state() != turn_state::allocated) continue;
    for (const auto& [peer, channel] : t->channels()) {
      relay_route r;
      r.how = relay_route::kind::turn;
      r.peer = peer;
      r.server = t->server();
      r.channel = channel;
      out.push_back(r);
    }
  }
  return out;
}

status nat_traversal::set_peer(const std::string& peer, std::vector<candidate> remote) {
  return planner_.set_peer(peer, std::move(remote));
}

void nat_traversal::remove_peer(const std::string& peer) { planner_.remove_peer(peer); }

std::string nat_traversal::relay_problem() const {
  std::string out;
  auto add = [&](const std::string& s) { out += (out.empty() ? "" : "; ") + s; };
  if (relay_) {
    if (relay_->state() == relay_client_state::failed)
      add("relay " + relay_->server().to_string() + ": " + relay_->last_error());
    else if (unsigned n = relay_->allocate_transmissions(); n >= 2)
      add("relay " + relay_->server().to_string() + ": allocation unanswered after " + std::to_string(n) +
          " tries (wrong credential, or unreachable)");
    else if (relay_->state() != relay_client_state::allocated)
      add("relay " + relay_->server().to_string() + ": no allocation yet");
  }
  for (const auto& t : turn_) {
    if (t->state() == turn_state::failed) add("TURN " + t->server().to_string() + ": " + t->last_error());
    else if (t->state() != turn_state::allocated) add("TURN " + t->server().to_string() + ": no allocation yet");
  }
  return out;
}

bool nat_traversal::relay_usable(const endpoint& c) const {
  // A relay candidate on our relay (same IP as our own relayed address) goes
  // through our relay client; any other through a TURN allocation, if any.
  if (relay_ && relay_->relayed_endpoint() && relay_->relayed_endpoint()->ip() == c.ip()) return true;
  for (const auto& t : turn_)
    if (t->state() == turn_state::allocated) return true;
  return false;
}

std::vector<connect_action> nat_traversal::connect_tick(const nat_clock& now, const handshake_oracle& handshake) {
  planner_.set_local_candidates(local_candidates());
  planner_.set_relay_problem(relay_problem());
  auto acts = planner_.tick(now.mono, handshake, [this](const endpoint& c) { return relay_usable(c); });
  for (const auto& a : acts) {
    if (a.what != connect_action::kind::bind_relay) continue;
    if (relay_ && relay_->relayed_endpoint() && relay_->relayed_endpoint()->ip() == a.to.ip()) {
      (void)relay_->bind_peer(a.to, now.wall);
      continue;
    }
    for (auto& t : turn_)
      if (t->state() == turn_state::allocated) {
        (void)t->add_peer(a.to, now.mono);
        break;
      }
  }
  return acts;
}

nat_status_view nat_traversal::snapshot() const {
  nat_status_view v;
  v.candidates = local_candidates();
  v.peers = planner_.snapshot();
  v.mapping = classify_mapping(stun_results_);
  v.last_refresh = last_refresh_;
  for (const auto& r : stun_results_)
    if (!r.reflexive) v.problems.push_back("STUN " + r.server.to_string() + ": " + r.error);
  if (relay_ && relay_->state() == relay_client_state::failed)
    v.problems.push_back("relay " + relay_->server().to_string() + ": " + relay_->last_error());
  for (const auto& t : turn_)
    if (t->state() == turn_state::failed) v.problems.push_back("TURN: " + t->last_error());
  return v;
}

}  // namespace overlayd::net::nat
