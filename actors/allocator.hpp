// allocator: every address and port pool of the node.
//
// Owns: every address pool of the node (net::node_pools): the node slice (node
// IP = first usable host, never handed out), the service-subnet registry, and
// one pool per bridge (gateway reserved). The agent's allocate_ip/release_ip
// come straight here; the supervisor drives the rest with pool_request.
// The pools themselves belong to the supervisor (like the dns record store):
// a restarted allocator carries on with every pool, binding and assignment.
// Only the allocator touches them while it runs. It also owns the file the
// service-subnet assignments persist in (net/subnet_file.hpp): loaded when
// the registry is made, rewritten whole after every change.
// Timers: none.
#pragma once

#include <caf/fwd.hpp>

#include <memory>
#include <string>

#include "actors/messages.hpp"
#include "actors/observability.hpp"

namespace overlayd::net {
class node_pools;
}

namespace overlayd::actors {

// The seed's slice before any setup_global_overlay.
net::cidr default_node_slice();

// `data_dir`: where the service-subnet assignments persist (empty: nowhere).
allocator_actor spawn_allocator(caf::actor_system& sys, observability* obs,
                                std::shared_ptr<net::node_pools> pools, std::string data_dir);

}  // namespace overlayd::actors
