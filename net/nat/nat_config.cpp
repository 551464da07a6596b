#include "net/nat/nat_config.hpp"

#include "net/nat/nat_constants.hpp"

namespace overlayd::net::nat {

nat_config default_nat_config() {
  nat_config c;
  c.enabled = false;
  c.hole_punch_timeout = default_hole_punch_timeout;
  c.stun_refresh_interval = default_stun_refresh_interval;
  c.max_candidate_pairs = default_max_candidate_pairs;
  return c;
}

nat_config resolve_nat_config(nat_config_input in) {
  nat_config c = default_nat_config();
  c.enabled = in.enabled;
  c.stun_servers = std::move(in.stun_servers);
  c.turn_servers = std::move(in.turn_servers);
  if (in.hole_punch_timeout_secs) c.hole_punch_timeout = std::chrono::seconds(in.hole_punch_timeout_secs);
  if (in.stun_refresh_interval_secs)
    c.stun_refresh_interval = std::chrono::seconds(in.stun_refresh_interval_secs);
  if (in.max_candidate_pairs) c.max_candidate_pairs = in.max_candidate_pairs;
  if (in.relay_server) {
    c.relay_server = std::move(in.relay_server);
    if (c.relay_server->max_sessions == 0) c.relay_server->max_sessions = default_relay_max_sessions;
  }
  return c;
}

result<std::vector<endpoint>> parse_server_list(const std::vector<std::string>& servers) {
  std::vector<endpoint> out;
  for (const auto& s : servers) {
    auto ep = endpoint::parse(s);
    if (!ep) return error(errc::invalid_argument, "bad server address '" + s + "': " + ep.err().message);
    out.push_back(*ep);
  }
  return out;
}

}  // namespace overlayd::net::nat
