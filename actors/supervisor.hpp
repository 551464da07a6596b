// supervisor: the root of the engine's actors.
//
// Owns: the global overlay (the cluster WireGuard device), the node's
// identity (node id, local WireGuard public key), guest_managed and
// host_shared attachments (peers and aliases on the global device),
// prune_orphan_bridges, status, and the children:
//  - allocator, dns, nat_orchestrator (one each), restarted when they exit
//    (the gateway is told the new handles);
//  - one service_overlay per service and one dedicated_transport per
//    Dedicated service, spawned on first use. Requests for a service are
//    forwarded to its actor and answered when it replies; a crashed child is
//    restarted over its state (service_state / dedicated_state, which the
//    supervisor holds); a torn-down service's actors are retired.
// On `stop` it reverts every host change in reverse order, then replies.
// Host changes go through host::mutator views sharing one journal under the
// data dir; a journal left by a crashed run is reverted when it starts
// (entries outside host/replay_policy.hpp skipped, an unparsable journal
// quarantined; both reported through observability). The marker has one
// owner here (ipc::marker_store), shared by the dedicated_transports.
// Timers: an orphan-veth sweep every 60 s (and at start-up); the drift
// watch (host/drift_watch.hpp, its own thread) checks our nft tables on
// every ruleset event and every 2 s.
#pragma once

#include <caf/fwd.hpp>

#include <chrono>
#include <string>

#include "actors/dns.hpp"
#include "actors/messages.hpp"
#include "actors/observability.hpp"

namespace overlayd::actors {

struct supervisor_config {
  std::string data_dir;
  std::string uapi_dir;
  std::string firewall_table = "overlayd";  // one per daemon on a host
  dns_config dns;
  std::chrono::seconds veth_sweep_period{60};  // orphan-veth sweep timer
  std::chrono::seconds nat_direct_retry{0};    // relayed peers retry direct; 0 = 120 s
  bool wg_pin_threads = true;                  // our devices pin their packet threads
  // Dedicated devices take ports base+1 ..= base+256, whatever the global
  // wg_port (the contract's DEFAULT_WG_PORT, 51420, unless moved).
  uint16_t dedicated_port_base = 51420;
  uint32_t wg_mtu = 0;                         // our devices' MTU; 0 = the underlay's - 80
  // After a restart that found a previous run's host changes: how long the
  // agent has to claim them again (re-sent setups and attaches) before
  // what is unclaimed is reverted. 0: revert everything at start.
  std::chrono::seconds restart_grace{600};
};

// Spawned detached: its handlers make blocking netlink/nftables calls, which
// must not stall the scheduler threads the other actors run on.
supervisor_actor spawn_supervisor(caf::actor_system& sys, observability* obs,
                                  supervisor_config cfg);

}  // namespace overlayd::actors
