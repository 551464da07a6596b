// supervisor: the root of the engine's actors.
//
// Owns: the global overlay (the cluster WireGuard transport, once it lands),
// the node's identity (node id, local WireGuard public key), and the children
// — allocator, dns and nat_orchestrator — which it spawns, monitors and restarts (a restarted
// allocator is re-configured with the current node slice; the gateway is told
// the new handles). Serves every engine operation no narrower actor owns.
// On `stop` it reverts every host change in reverse order, then replies.
// Host changes go through one host::mutator (journaled under the data dir); a
// journal left by a crashed run is reverted when the supervisor starts.
// Timers: none yet.
#pragma once

#include <caf/fwd.hpp>

#include "actors/dns.hpp"
#include "actors/messages.hpp"
#include "actors/observability.hpp"

namespace overlayd::actors {

struct supervisor_config {
  std::string data_dir;
  std::string uapi_dir;
  std::string firewall_table = "overlayd";  // one per daemon on a host
  dns_config dns;
};

// Spawned detached: its handlers make blocking netlink/nftables calls, which
// must not stall the scheduler threads the other actors run on.
supervisor_actor spawn_supervisor(caf::actor_system& sys, observability* obs,
                                  supervisor_config cfg);

}  // namespace overlayd::actors
