// Every message type the actors exchange, their atoms, and the typed
// interfaces of the actors — registered in one place.
//
// Convention: every request between actors is (atom, correlation id, payload)
// and every reply is (correlation id, payload). The correlation id is the one
// the gateway gave the IPC/HTTP/embedded request that caused the message, so
// the trace (actors/trace.hpp) can stitch a request's fan-out back together.
#pragma once

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include "actors/service_row.hpp"
#include "ipc/types.hpp"
#include "net/ipam.hpp"

namespace overlayd::overlay {
class global_overlay;
}

namespace overlayd::actors {

using correlation_id = uint64_t;

// ---- atoms (≤ 10 characters) -------------------------------------------------
using request_atom = caf::atom_constant<caf::atom("request")>;    // gateway: an IPC request
using serve_atom = caf::atom_constant<caf::atom("serve")>;        // supervisor: an engine op
using alloc_ip_atom = caf::atom_constant<caf::atom("alloc_ip")>;  // allocator
using release_atom = caf::atom_constant<caf::atom("release_ip")>; // allocator
using pools_atom = caf::atom_constant<caf::atom("pools")>;        // allocator: a pool operation
using services_atom = caf::atom_constant<caf::atom("services")>;  // supervisor: the service table
using peers_atom = caf::atom_constant<caf::atom("peers")>;        // supervisor: the peer table
using dns_view_atom = caf::atom_constant<caf::atom("dns_view")>;  // supervisor: domains and records
using dns_set_atom = caf::atom_constant<caf::atom("dns_set")>;    // dns
using dns_del_atom = caf::atom_constant<caf::atom("dns_del")>;    // dns
using dns_listen_atom = caf::atom_constant<caf::atom("dns_listen")>;  // dns: serve on / stop serving on
using dns_domain_atom = caf::atom_constant<caf::atom("dns_domain")>;  // dns: the zone we answer for
using dns_allow_atom = caf::atom_constant<caf::atom("dns_allow")>;    // dns: a CIDR allowed recursion
using stop_atom = caf::atom_constant<caf::atom("stop")>;          // supervisor: revert + exit
using routes_atom = caf::atom_constant<caf::atom("routes")>;      // gateway: current children
using init_atom = caf::atom_constant<caf::atom("init")>;          // supervisor: spawn children
using nat_tick_atom = caf::atom_constant<caf::atom("nat_tick")>;  // nat_orchestrator: nat_tick
using nat_stat_atom = caf::atom_constant<caf::atom("nat_stat")>;  // nat_orchestrator: nat_status
using nat_setup_atom = caf::atom_constant<caf::atom("nat_setup")>;  // nat_orchestrator: overlay up/down
using nat_peer_atom = caf::atom_constant<caf::atom("nat_peer")>;  // nat_orchestrator: peer candidates
using nat_poll_atom = caf::atom_constant<caf::atom("nat_poll")>;  // nat_orchestrator: its poll timer
using nat_rfsh_atom = caf::atom_constant<caf::atom("nat_rfsh")>;  // nat_orchestrator: its STUN timer
using svc_setup_atom = caf::atom_constant<caf::atom("svc_setup")>;  // service_overlay: set up
using svc_attach_atom = caf::atom_constant<caf::atom("svc_attach")>;  // service_overlay: linux_pid attach
using svc_detach_atom = caf::atom_constant<caf::atom("svc_detach")>;  // service_overlay: linux_pid detach
using svc_down_atom = caf::atom_constant<caf::atom("svc_down")>;  // service_overlay: tear down
using ded_up_atom = caf::atom_constant<caf::atom("ded_up")>;      // dedicated_transport: bring up
using ded_peer_atom = caf::atom_constant<caf::atom("ded_peer")>;  // dedicated_transport: a peer op
using ded_down_atom = caf::atom_constant<caf::atom("ded_down")>;  // dedicated_transport: shut down
using crash_atom = caf::atom_constant<caf::atom("crash")>;        // testing: crash a supervised child
using stall_atom = caf::atom_constant<caf::atom("stall")>;        // testing: block a service's actor
using sweep_atom = caf::atom_constant<caf::atom("sweep")>;        // supervisor: its orphan-veth timer
using adopt_end_atom = caf::atom_constant<caf::atom("adopt_end")>;  // supervisor/service_overlay: grace over
using keep_atom = caf::atom_constant<caf::atom("keep_host")>;    // supervisor: exit without teardown

// ---- payloads ------------------------------------------------------------------

// Where the gateway delivers the final response of one request. Called exactly
// once, from an actor thread: it must not block.
using reply_fn = std::function<void(ipc::response)>;

// An IPC request entering the actor system: the request, already validated by
// ipc/, and where its response goes.
struct inbound_call {
  ipc::request request;
  reply_fn reply;
};

// Pool operations the supervisor asks of the allocator (net::node_pools).
namespace pool {
struct set_slice { net::cidr slice; };                       // the node slice
struct set_cluster { net::cidr cluster; net::ip_address node_ip; };
struct assign_subnet { std::string key, node; };             // -> subnet
struct release_subnet { std::string key, node; };
struct open { std::string pool; net::cidr subnet; };         // a bridge pool
struct close { std::string pool; };
struct bind { std::string service, pool; };
struct unbind { std::string service; };
struct allocate { std::string service; };                    // -> ip, subnet (its pool's range)
struct allocate_slice {};                                    // -> ip
struct release { net::ip_address ip; };
struct reserve { net::ip_address ip; };                      // an address an adopted container holds
struct allocate_port { uint16_t base; };                     // -> port (dedicated band)
struct reserve_port { uint16_t base, port; };                // a port from the marker
struct release_port { uint16_t port; };
struct assignments {};                                       // -> the registry's (service, node, subnet)
struct set_routed { std::string owner; std::vector<net::cidr> cidrs; };  // a device's peer routes
struct route_check { std::vector<net::cidr> cidrs; std::string node; };  // failure: a conflict, named
struct bindings {};                                          // -> each bound service's bridge pool
}  // namespace pool
using pool_request =
    std::variant<pool::set_slice, pool::set_cluster, pool::assign_subnet, pool::release_subnet,
                 pool::open, pool::close, pool::bind, pool::unbind, pool::allocate,
                 pool::allocate_slice, pool::release, pool::allocate_port,
                 pool::reserve_port, pool::release_port, pool::assignments, pool::set_routed,
                 pool::route_check, pool::bindings, pool::reserve>;
struct pool_reply {
  std::optional<error> failure;  // set when the operation failed
  std::optional<net::ip_address> ip;
  std::optional<net::cidr> subnet;
  std::optional<uint16_t> port;
  std::vector<std::tuple<std::string, std::string, net::cidr>> assignments;
  std::vector<net::node_pools::binding> bindings;
};

struct nat_device_link;  // actors/nat_orchestrator.hpp

// A bridge the engine made: its name, subnet and gateway (first usable).
struct bridge_info {
  std::string name;
  net::cidr subnet;
  net::ip_address gateway;
};

// Why a service_overlay is asked to tear down.
enum class teardown_kind {
  service,  // teardown_service_overlay: bridge deleted by name, slot released, dedicated device gone
  global,   // teardown_global_overlay / shutdown: pools closed; the journal reverts the links
  pruned,   // prune_orphan_bridges already deleted the bridge and released its slot
};

// The node facts a service_overlay / dedicated_transport needs for one
// operation, as the supervisor knows them when it dispatches it. A snapshot:
// the supervisor owns the originals.
struct service_context {
  std::string deployment;
  std::string instance_id;
  std::string node_key;  // the registry's node key (local node id)
  std::string data_dir;  // the marker lives here
  std::string uapi_dir;
  uint16_t port_base = 0;  // the dedicated port band sits above it
  bool pin_threads = true;  // devices pin their packet threads (wg::device_options)
  uint32_t mtu = 0;         // devices' MTU; 0 = the underlay's (wg::device_options)
  std::optional<std::string> local_wg_pubkey;
  std::optional<net::cidr> cluster;                 // once setup_global_overlay gave it
  std::shared_ptr<overlay::global_overlay> global;  // null while the overlay is down
  std::optional<bridge_info> shared_bridge;         // the node-wide shared bridge, when made
};

// Testing concurrency: a service's actor blocks (as on a slow netlink call)
// after setting `entered`, until `release` is ready (at most 60 s).
struct stall_gate {
  std::promise<void> entered;
  std::shared_future<void> release;
};

// A dedicated device's identity, as dedicated_transport reports it.
struct dedicated_up {
  std::optional<error> failure;
  std::string interface;
  std::string public_key;  // base64
  uint16_t port = 0;
  net::ip_address overlay_ip;
  net::cidr subnet;
};

// The global overlay as the nat_orchestrator needs it, sent by the supervisor
// after every setup_global_overlay (up = true) and before teardown (up = false).
struct nat_setup {
  bool up = false;
  std::optional<ipc::nat_config_spec> nat;  // as the agent sent it
  std::optional<bool> legacy_nat_enabled;   // setup_global_overlay.nat_enabled
  std::chrono::seconds direct_retry{0};     // relayed peers retry direct this often; 0 = default
  uint16_t listen_port = 0;                 // the device's bound WireGuard port
  std::shared_ptr<nat_device_link> link;    // the device, until the supervisor clears it
};

// A global peer's advertised candidates (add_peer); empty = forget the peer.
struct nat_peer_update {
  std::string public_key;  // base64, the peer id in nat_status
  std::vector<ipc::nat_candidate_wire> candidates;
};

}  // namespace overlayd::actors

// Local-only types: never serialised, so no inspect() needed.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(overlayd::ipc::request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(overlayd::ipc::response)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(overlayd::ipc::req::allocate_ip)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(overlayd::ipc::req::release_ip)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(overlayd::ipc::req::register_dns)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(overlayd::ipc::req::unregister_dns)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(overlayd::actors::inbound_call)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(overlayd::actors::pool_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(overlayd::actors::pool_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<overlayd::actors::service_row>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<overlayd::actors::peer_row>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(overlayd::actors::dns_view)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(overlayd::net::endpoint)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(overlayd::net::cidr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(overlayd::actors::nat_setup)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(overlayd::actors::nat_peer_update)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(overlayd::actors::service_context)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(overlayd::actors::dedicated_up)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<overlayd::actors::stall_gate>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(overlayd::actors::teardown_kind)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(overlayd::ipc::req::attach_container)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(overlayd::ipc::overlay_mode)

namespace overlayd::actors {

// ---- typed interfaces ----------------------------------------------------------

// allocator: one. Every pool (node slice now; bridge subnets, ports later).
using allocator_actor = caf::typed_actor<
    caf::replies_to<alloc_ip_atom, correlation_id, ipc::req::allocate_ip>::with<correlation_id,
                                                                                ipc::response>,
    caf::replies_to<release_atom, correlation_id, ipc::req::release_ip>::with<correlation_id,
                                                                              ipc::response>,
    caf::replies_to<pools_atom, correlation_id, pool_request>::with<correlation_id, pool_reply>>;

// dns: one. Overlay DNS records (and, with net/dns, the server answering them).
using dns_actor = caf::typed_actor<
    caf::replies_to<dns_set_atom, correlation_id, ipc::req::register_dns>::with<correlation_id,
                                                                                ipc::response>,
    caf::replies_to<dns_del_atom, correlation_id, ipc::req::unregister_dns>::with<correlation_id,
                                                                                  ipc::response>,
    caf::replies_to<dns_listen_atom, correlation_id, net::endpoint, bool>::with<correlation_id,
                                                                                ipc::response>,
    caf::replies_to<dns_domain_atom, correlation_id, std::string>::with<correlation_id,
                                                                        ipc::response>,
    caf::replies_to<dns_allow_atom, correlation_id, net::cidr, bool>::with<correlation_id,
                                                                           ipc::response>>;

// nat_orchestrator: one. NAT traversal for the global overlay (see
// actors/nat_orchestrator.hpp). Its per-peer attempt log is published
// through observability (GET /v1/nat/attempts), not asked for.
using nat_orchestrator_actor = caf::typed_actor<
    caf::replies_to<nat_tick_atom, correlation_id>::with<correlation_id, ipc::response>,
    caf::replies_to<nat_stat_atom, correlation_id>::with<correlation_id, ipc::response>,
    caf::reacts_to<nat_setup_atom, nat_setup>,
    caf::reacts_to<nat_peer_atom, nat_peer_update>,
    // Timers to itself; the generation is 32-bit so the trace never takes it
    // for a correlation id.
    caf::reacts_to<nat_poll_atom, uint32_t>,
    caf::reacts_to<nat_rfsh_atom, uint32_t>>;

// dedicated_transport: one per Dedicated service (actors/dedicated_transport.hpp).
using dedicated_transport_actor = caf::typed_actor<
    caf::replies_to<ded_up_atom, correlation_id, service_context>::with<correlation_id, dedicated_up>,
    // add_peer / remove_peer / add_allowed_ip / remove_allowed_ip, service scope.
    caf::replies_to<ded_peer_atom, correlation_id, ipc::request>::with<correlation_id, ipc::response>,
    // forget_identity: also drop the marker entry (teardown_service_overlay).
    caf::replies_to<ded_down_atom, correlation_id, bool>::with<correlation_id, ipc::response>,
    caf::replies_to<crash_atom, correlation_id>::with<correlation_id, ipc::response>>;

// service_overlay: one per service (actors/service_overlay.hpp).
using service_overlay_actor = caf::typed_actor<
    caf::replies_to<svc_setup_atom, correlation_id, service_context, ipc::overlay_mode,
                    dedicated_transport_actor>::with<correlation_id, ipc::response>,
    caf::replies_to<svc_attach_atom, correlation_id, service_context,
                    ipc::req::attach_container>::with<correlation_id, ipc::response>,
    caf::replies_to<svc_detach_atom, correlation_id, uint32_t>::with<correlation_id, ipc::response>,
    caf::replies_to<adopt_end_atom, correlation_id>::with<correlation_id, std::vector<std::string>>,
    caf::replies_to<stall_atom, correlation_id, std::shared_ptr<stall_gate>>::with<correlation_id, ipc::response>,
    caf::replies_to<svc_down_atom, correlation_id, service_context, teardown_kind,
                    dedicated_transport_actor>::with<correlation_id, ipc::response>,
    caf::replies_to<crash_atom, correlation_id>::with<correlation_id, ipc::response>>;

// gateway: one. Routes each request (its correlation id is given by the
// engine) to the owning actor and hands the reply to the caller's reply_fn.
// The supervisor tells it the current children, again after every restart.
using gateway_actor = caf::typed_actor<
    caf::reacts_to<request_atom, correlation_id, inbound_call>,
    caf::reacts_to<routes_atom, allocator_actor, dns_actor, nat_orchestrator_actor>>;

// supervisor: one. Owns the global overlay, serves every engine operation not
// owned by a narrower actor, spawns and restarts the others.
using supervisor_actor = caf::typed_actor<
    caf::replies_to<serve_atom, correlation_id, ipc::request>::with<correlation_id, ipc::response>,
    caf::replies_to<stop_atom, correlation_id>::with<correlation_id, ipc::response>,
    caf::replies_to<init_atom, gateway_actor>::with<bool>,
    caf::reacts_to<sweep_atom>,
    caf::reacts_to<adopt_end_atom>,
    caf::replies_to<keep_atom>::with<bool>,
    // Testing: make the named child crash as if its handler threw
    // ("service_overlay:<svc>", "dedicated_transport:<svc>", "allocator",
    // "dns", "nat_orchestrator"); the supervisor restarts it.
    caf::replies_to<crash_atom, correlation_id, std::string>::with<correlation_id, ipc::response>,
    // Testing: block the named service's actor on a gate (see stall_gate).
    caf::replies_to<stall_atom, correlation_id, std::string, std::shared_ptr<stall_gate>>::with<correlation_id,
                                                                                               ipc::response>,
    // GET /v1/services: every service the node knows, as service_row.
    caf::replies_to<services_atom>::with<std::vector<service_row>>,
    // GET /v1/peers: every peer of every device, with byte counters.
    caf::replies_to<peers_atom>::with<std::vector<peer_row>>,
    // GET /v1/dns: the domains served and the registered names.
    caf::replies_to<dns_view_atom>::with<dns_view>>;

}  // namespace overlayd::actors
