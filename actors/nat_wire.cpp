#include "actors/nat_wire.hpp"

#include <nlohmann/json.hpp>

namespace overlayd::actors {

namespace nn = net::nat;

nn::nat_config nat_config_from_spec(const std::optional<ipc::nat_config_spec>& spec,
                                    std::optional<bool> legacy_nat_enabled) {
  if (!spec) {
    auto c = nn::default_nat_config();
    c.enabled = legacy_nat_enabled.value_or(true);
    return c;
  }
  nn::nat_config_input in;
  in.enabled = spec->enabled;
  in.stun_servers = spec->stun_servers;
  for (const auto& t : spec->turn_servers) in.turn_servers.push_back({t.addr, t.username, t.credential});
  in.hole_punch_timeout_secs = spec->hole_punch_timeout_secs;
  in.stun_refresh_interval_secs = spec->stun_refresh_interval_secs;
  in.max_candidate_pairs = spec->max_candidate_pairs;
  if (spec->relay_server) {
    const auto& r = *spec->relay_server;
    in.relay_server = nn::relay_server_config{r.listen_port, r.external_addr, static_cast<size_t>(r.max_sessions),
                                              r.auth_credential.value_or("")};
  }
  return nn::resolve_nat_config(std::move(in));
}

result<std::vector<nn::candidate>> candidates_from_wire(const std::vector<ipc::nat_candidate_wire>& w) {
  if (w.size() > nn::max_peer_candidates)
    return error(errc::invalid_argument, "too many candidates (" + std::to_string(w.size()) + " > " +
                                             std::to_string(nn::max_peer_candidates) + ")");
  std::vector<nn::candidate> out;
  for (const auto& c : w) {
    auto r = nn::candidate_from_wire({c.candidate_type, c.address, c.priority});
    if (!r) return error(errc::invalid_argument, "bad candidate " + c.candidate_type + " " + c.address + ": " +
                                                     r.err().message);
    out.push_back(*r);
  }
  return out;
}

nn::handshake_info handshake_info_of(std::optional<std::chrono::system_clock::time_point> last_handshake,
                                     std::optional<net::endpoint> current, const nn::nat_clock& now) {
  nn::handshake_info h;
  h.current = std::move(current);
  if (last_handshake) {
    // A handshake "in the future" (wall clock stepped back) counts as now.
    auto age = std::max(now.wall - *last_handshake, std::chrono::system_clock::duration::zero());
    h.last_handshake = now.mono - std::chrono::duration_cast<nn::steady::duration>(age);
  }
  return h;
}

ipc::nat_status_wire nat_status_to_wire(const nn::nat_status_view& v, const endpoint_lookup& device_endpoint) {
  ipc::nat_status_wire w;
  for (const auto& c : v.candidates) {
    auto cw = nn::candidate_to_wire(c);
    w.candidates.push_back({cw.candidate_type, cw.address, cw.priority});
  }
  for (const auto& p : v.peers) {
    if (!p.type) continue;
    ipc::nat_peer_wire pw;
    pw.node_id = p.peer;
    pw.connection_type = std::string(nn::to_string(*p.type));
    auto ep = device_endpoint ? device_endpoint(p.peer) : std::nullopt;
    if (!ep) ep = p.remote_endpoint;
    if (ep) pw.remote_endpoint = ep->to_string();
    w.peers.push_back(std::move(pw));
  }
  if (v.last_refresh)
    w.last_refresh = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(v.last_refresh->time_since_epoch()).count());
  return w;
}

std::string nat_attempts_json(const nn::nat_status_view& v, nn::steady::time_point now) {
  auto out = nlohmann::json::array();
  for (const auto& p : v.peers) {
    nlohmann::json jp;
    jp["peer"] = p.peer;
    jp["connection_type"] = p.type ? nlohmann::json(std::string(nn::to_string(*p.type))) : nlohmann::json(nullptr);
    jp["remote_endpoint"] = p.remote_endpoint ? nlohmann::json(p.remote_endpoint->to_string()) : nlohmann::json(nullptr);
    auto attempts = nlohmann::json::array();
    for (const auto& a : p.log) {
      nlohmann::json ja;
      ja["age_secs"] = std::chrono::duration_cast<std::chrono::seconds>(now - a.started).count();
      ja["pairs_tried"] = a.pairs_tried;
      ja["outcome"] = std::string(nn::to_string(a.outcome));
      ja["reason"] = a.reason;
      attempts.push_back(std::move(ja));
    }
    jp["attempts"] = std::move(attempts);
    out.push_back(std::move(jp));
  }
  return out.dump();
}

std::string nat_mapping_json(const nn::nat_status_view& v) {
  nlohmann::json j;
  j["mapping"] = std::string(nn::to_string(v.mapping));
  j["problems"] = v.problems;
  return j.dump();
}

}  // namespace overlayd::actors
