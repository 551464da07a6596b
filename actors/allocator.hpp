// allocator: every address and port pool of the node.
//
// Owns: the node-slice pool (node IP = first usable host, never handed out),
// and — as the engine lands — per-bridge pools, the service-subnet registry
// and the dedicated port band (net/ipam.hpp holds the logic; this is the shell).
// Timers: none.
#pragma once

#include <caf/fwd.hpp>

#include "actors/messages.hpp"
#include "actors/observability.hpp"

namespace overlayd::actors {

// The seed's slice before any setup_global_overlay.
net::cidr default_node_slice();

allocator_actor spawn_allocator(caf::actor_system& sys, observability* obs, net::cidr slice);

}  // namespace overlayd::actors
