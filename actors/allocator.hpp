// allocator: every address and port pool of the node.
//
// Owns: every address pool of the node (net::node_pools): the node slice (node
// IP = first usable host, never handed out), the service-subnet registry, and
// one pool per bridge (gateway reserved). The agent's allocate_ip/release_ip
// come straight here; the supervisor drives the rest with pool_request.
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
