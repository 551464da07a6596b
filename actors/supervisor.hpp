// supervisor: the root of the engine's actors.
//
// Owns: the global overlay (the cluster WireGuard transport, once it lands),
// the node's identity (node id, local WireGuard public key), and the children
// — allocator and dns — which it spawns, monitors and restarts (a restarted
// allocator is re-configured with the current node slice; the gateway is told
// the new handles). Serves every engine operation no narrower actor owns.
// On `stop` it reverts every host change in reverse order, then replies.
// Timers: none yet.
#pragma once

#include <caf/fwd.hpp>

#include "actors/messages.hpp"
#include "actors/observability.hpp"

namespace overlayd::actors {

supervisor_actor spawn_supervisor(caf::actor_system& sys, observability* obs);

}  // namespace overlayd::actors
