// Everything NAT traversal needs for one WireGuard socket, as one plain
// class for the nat_orchestrator actor and the WireGuard device to drive:
// candidate gathering (host + STUN + our relay + TURN), the datagram hooks
// of the shared socket, and the connect planner. No sockets, no threads:
//
//   device receive path:  non-WireGuard datagram -> on_datagram(); when it
//                         returns a packet, hand it to WireGuard as if it came
//                         from `packet->from` (a relay candidate address)
//   device send path:     wrap(to, packet) -> send the frame instead, when set
//   device timer (~50 ms) and after on_datagram: poll() -> raw sends
//   actor timer:          refresh() every stun_refresh_interval; connect_tick()
//                         every second with the device's handshake oracle
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "net/nat/candidate.hpp"
#include "net/nat/connect_planner.hpp"
#include "net/nat/nat_config.hpp"
#include "net/nat/relay_client.hpp"
#include "net/nat/relay_routes.hpp"
#include "net/nat/stun_client.hpp"
#include "net/nat/turn_client.hpp"

namespace overlayd::net::nat {

struct nat_clock {
  steady::time_point mono;
  std::chrono::system_clock::time_point wall;
  static nat_clock now() { return {steady::now(), std::chrono::system_clock::now()}; }
};

struct nat_traversal_options {
  nat_config config;
  uint16_t listen_port = 0;  // the WireGuard port: host candidates use it
  // Our relay to use as a client ("ip:port" of its control socket) and the
  // cluster credential. Unset = no relay candidate from our relay.
  std::optional<endpoint> relay;
  std::string relay_credential;
};

struct nat_status_view {
  std::vector<candidate> candidates;
  std::vector<peer_connect_status> peers;
  nat_mapping mapping = nat_mapping::unknown;
  std::optional<std::chrono::system_clock::time_point> last_refresh;
  std::vector<std::string> problems;  // "STUN 192.0.2.1:3478: timeout", "relay ...: ..."
};

class nat_traversal {
 public:
  // Parses the configured STUN and TURN addresses ("ip:port").
  static result<std::unique_ptr<nat_traversal>> create(nat_traversal_options opts);

  // Re-gathers: host candidates from `ifs`, a new STUN round, and starts the
  // relay/TURN allocations if they are not up. Results arrive via poll() and
  // on_datagram(); local_candidates() reflects them as they come.
  void refresh(const std::vector<interface_address>& ifs, const nat_clock& now);

  std::vector<outgoing_datagram> poll(const nat_clock& now);

  struct packet {
    endpoint from;  // the peer's relay candidate address (what WireGuard should see)
    bytes data;
  };
  std::optional<packet> on_datagram(const endpoint& from, byte_span d, const nat_clock& now);
  std::optional<outgoing_datagram> wrap(const endpoint& to, byte_span packet) const;

  std::vector<candidate> local_candidates() const;
  // The relayed data path as it stands: one route per peer bound on our
  // relay or given a TURN channel (for relay_routes::set, i.e. the device).
  std::vector<relay_route> relay_routes() const;

  status set_peer(const std::string& peer, std::vector<candidate> remote);
  void remove_peer(const std::string& peer);
  // Runs the planner; bind_relay actions are carried out here (our relay or
  // TURN) and also returned so the caller can log them.
  std::vector<connect_action> connect_tick(const nat_clock& now, const handshake_oracle& handshake);

  nat_status_view snapshot() const;

 private:
  explicit nat_traversal(nat_traversal_options opts, std::vector<endpoint> stun, std::vector<turn_server_config> turn,
                         std::vector<endpoint> turn_eps);
  bool relay_usable(const endpoint& relay_candidate) const;
  std::string relay_problem() const;  // why a relay client is not allocated ("" = all are)

  nat_traversal_options opts_;
  std::vector<endpoint> stun_servers_;
  std::vector<candidate> host_;
  stun_client stun_;
  std::vector<stun_probe_result> stun_results_;
  std::unique_ptr<relay_client> relay_;
  std::vector<std::unique_ptr<turn_client>> turn_;
  connect_planner planner_;
  std::optional<std::chrono::system_clock::time_point> last_refresh_;
};

}  // namespace overlayd::net::nat
