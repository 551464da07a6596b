// dedicated_transport: one per Dedicated service. Owns the service's second
// WireGuard device (net/overlay/dedicated.hpp), its port from the dedicated
// band and its identity in the marker file (agent_network.json), so a
// restarted daemon — or a restarted actor — comes back with the same key,
// port and interface. Serves the service-scoped peer operations.
//
// State that outlives the actor (dedicated_state) belongs to the supervisor:
// when this actor crashes, the supervisor spawns a new one over the same
// state, which shuts whatever device the crash left behind and brings the
// device up again from the marker with every peer it had.
//
// Detached: bring-up makes blocking netlink calls.
// Timers: none.
#pragma once

#include <caf/fwd.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "actors/messages.hpp"
#include "actors/observability.hpp"
#include "actors/pool_client.hpp"
#include "ipc/marker_store.hpp"
#include "net/overlay/dedicated.hpp"

namespace overlayd::host {
class mutator;
}

namespace overlayd::actors {

struct dedicated_state {
  dedicated_state(std::string svc, std::shared_ptr<ipc::marker_store> m)
      : service(std::move(svc)), marker(std::move(m)) {}

  const std::string service;
  // The engine's one marker owner, shared by every dedicated_transport.
  const std::shared_ptr<ipc::marker_store> marker;
  // Set while the device should exist (what a restart rebuilds).
  std::optional<service_context> up_with;
  // Service-scoped peers as installed (add_allowed_ip / remove_allowed_ip
  // applied), keyed by base64 public key: replayed onto a rebuilt device.
  std::map<std::string, overlay::peer_config> peers;
  std::atomic<uint32_t> restarts{0};

  // The device, published for status and guest attach. Only the actor
  // creates and destroys it (see shut_device in the .cpp); readers copy the
  // pointer under `mu` and use the device's thread-safe API.
  std::shared_ptr<overlay::dedicated_overlay> published() const {
    std::lock_guard lk(mu);
    return device;
  }

  mutable std::mutex mu;  // guards device
  std::shared_ptr<overlay::dedicated_overlay> device;
};

// Limit on service-scoped peers per dedicated device (add_peer beyond it errs).
inline constexpr size_t max_dedicated_peers = 4096;

// `host` is this actor's view of the host mutator (its own netlink socket),
// created by the supervisor on its thread; `pools` reaches the allocator.
dedicated_transport_actor spawn_dedicated_transport(caf::actor_system& sys, observability* obs,
                                                    std::shared_ptr<dedicated_state> st,
                                                    std::shared_ptr<host::mutator> host,
                                                    std::shared_ptr<const pool_client> pools);

}  // namespace overlayd::actors
