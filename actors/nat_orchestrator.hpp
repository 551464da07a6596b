// nat_orchestrator: NAT traversal for the global overlay. Owns one
// net::nat::nat_traversal (candidates, STUN, the connect planner) and, when
// configured, the built-in relay server on its own thread.
//
// Told by the supervisor: the global overlay came up or goes down (nat_setup:
// the NatConfigSpec, the WireGuard port and a link to the device), and each
// global peer's candidates (nat_peer, from add_peer/remove_peer). Asked by
// the gateway: nat_tick and nat_status.
//
// nat_tick (seed nat_maintenance_tick): with NAT disabled or no global
// overlay, a no-op answered ok. Otherwise NAT starts on the first tick (the
// relay server too, once, when relay_server is configured), then every tick
// re-gathers candidates and starts a STUN round; the connect step runs on the
// poll timer. STUN goes out of the device's own UDP socket (send_raw) and its
// answers come back through the device's foreign-datagram handler, so the
// reflexive address is the mapping peers will see.
//
// Timers while NAT runs: nat_poll every poll_interval (feed received
// datagrams to the library, send what it wants sent, run the connect step and
// carry out its actions on the device), nat_rfsh every stun_refresh_interval
// (the same as a nat_tick). Both carry a generation number so timers of a
// torn-down overlay die out.
//
// Relays: with relay_server configured the node runs the built-in relay
// server (once, on listen_port) AND uses the cluster relay named by
// relay_server.external_addr as a client with auth_credential (the agent
// gives every node the same spec; the node at external_addr is the relay
// everyone uses; a standalone overlay-relayd works the same). With
// turn_servers it allocates on each TURN server (long-term credentials).
// Allocations go out of the device's socket and are refreshed at half their
// lifetime; each yields a relay candidate (priority 10). When no direct pair
// completes a handshake within hole_punch_timeout and the peer offers a
// relay candidate we can use, the connect step binds it (our relay: bind;
// TURN: permission + ChannelBind), the routes go to the device's relay hook
// (net/nat/relay_routes.hpp) and the peer's endpoint becomes that relay
// candidate; connection type "relayed", reason in GET /v1/nat/attempts.
// Relayed peers retry direct every direct_retry_interval (connect_planner).
#pragma once

#include <caf/fwd.hpp>

#include <cstddef>
#include <deque>
#include <mutex>

#include "actors/messages.hpp"
#include "actors/observability.hpp"
#include "net/nat/byte_io.hpp"

namespace overlayd::wg {
class device;
}

namespace overlayd::actors {

// The device as the orchestrator may use it. The supervisor owns the device
// and clears `device` (under `mu`) before destroying it; the orchestrator
// holds `mu` for every call it makes on it. Datagrams the device hands to
// its foreign-datagram handler (on the device's receive thread) wait in
// `inbox` for the orchestrator's poll timer.
struct nat_device_link {
  std::mutex mu;
  wg::device* device = nullptr;  // guarded by mu

  struct datagram {
    net::endpoint from;
    net::nat::bytes data;
  };
  static constexpr size_t inbox_capacity = 1024;  // beyond it datagrams are dropped
  std::mutex inbox_mu;
  std::deque<datagram> inbox;  // guarded by inbox_mu
  void push(datagram d) {
    std::lock_guard lock(inbox_mu);
    if (inbox.size() < inbox_capacity) inbox.push_back(std::move(d));
  }
  std::deque<datagram> take() {
    std::lock_guard lock(inbox_mu);
    return std::exchange(inbox, {});
  }
};

// Spawned detached: starting NAT lists interfaces and joins the relay
// server's thread on teardown.
nat_orchestrator_actor spawn_nat_orchestrator(caf::actor_system& sys, observability* obs);

}  // namespace overlayd::actors
