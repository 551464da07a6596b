// service_overlay: one per service. Its bridge (or its membership of the
// node-wide shared bridge), its container IP pool binding, its linux_pid
// attachments (veths into container namespaces), isolation membership of
// those containers, and the ephemeral last-leaver teardown. For a Dedicated
// service it asks the service's dedicated_transport for the device first and
// routes its bridge over it.
//
// Requests for one service arrive in order through the supervisor; requests
// for different services run in parallel, each actor on its own thread
// (detached: netlink and namespace work blocks) with its own view of the
// host mutator (its own netlink socket, the shared journal).
//
// State that outlives the actor (service_state) belongs to the supervisor:
// a crashed actor is replaced by a new one over the same state, so its
// bridge, attachments and pool binding carry on.
// Restarts: every attachment is written to <data_dir>/attachments/<hex>
// (net/attachment_file.hpp). A restarted daemon hands what a previous run
// wrote to the new actor as `adoptable`; setup re-holds their addresses, and
// the agent's re-sent attach for the same container (same pid, same network
// namespace, its veths still there) answers the same addresses without
// touching the container. What is not claimed again when the supervisor
// ends the grace period (adopt_end) is detached.
// Timers: none.
#pragma once

#include <caf/fwd.hpp>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "actors/messages.hpp"
#include "actors/observability.hpp"
#include "actors/pool_client.hpp"
#include "net/attachment_file.hpp"

namespace overlayd::host {
class mutator;
}

namespace overlayd::actors {

// One linux_pid attachment (the seed's AttachInfo).
struct attach_info {
  net::ip_address service_ip;
  std::optional<net::ip_address> global_ip;
  bool ephemeral = false;
  std::optional<std::string> isolation_network;
  std::string netns;  // "<dev>:<ino>" of the container's namespace at attach
};

// Written only by the service's actor; the supervisor reads `up` between
// requests (when the actor is idle) to retire torn-down services.
struct service_state {
  explicit service_state(std::string svc) : service(std::move(svc)) {}

  const std::string service;
  ipc::overlay_mode mode = ipc::overlay_mode::auto_;
  std::optional<bridge_info> bridge;  // its own bridge (auto, isolated, dedicated)
  std::optional<bridge_info> shared;  // shared mode: the node bridge it is bound to
  std::map<uint32_t, attach_info> attached;
  // The context of its last setup/attach: what an ephemeral teardown on
  // detach needs. Cleared at global teardown (it holds the global device).
  std::optional<service_context> last_ctx;
  // A previous run's attachments, by pid, until claimed again or the grace
  // period ends (see the header comment); their addresses are re-held at
  // the first setup (`reserved`).
  std::map<uint32_t, net::attachment_record> adoptable;
  bool adoptable_reserved = false;
  std::string attachments_path;  // empty: attachments are not persisted
  std::atomic<bool> up{false};
  std::atomic<uint32_t> restarts{0};
};

// Limit on linux_pid attachments per service (attach beyond it errs).
inline constexpr size_t max_service_attachments = 4096;

service_overlay_actor spawn_service_overlay(caf::actor_system& sys, observability* obs,
                                            std::shared_ptr<service_state> st,
                                            std::shared_ptr<host::mutator> host,
                                            std::shared_ptr<const pool_client> pools);

}  // namespace overlayd::actors
