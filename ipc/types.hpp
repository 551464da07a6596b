// The IPC contract as plain C++ values (docs/ipc-contract.md).
//
// Header-only on purpose: actors/ uses these structs as the typed payload of
// requests without linking the JSON codec. Only ipc/codec.* knows how they look
// on the wire. Naming: one struct per request op / response result, named as
// the wire tag; `std::variant` for every internally tagged enum.
//
// Field types follow "parse, then validate": IP addresses are decoded into
// net::ip_address (serde's IpAddr is strict too); CIDRs, endpoints and keys
// stay strings exactly as sent (so an encode reproduces the bytes) and are
// checked by ipc::validate() before a request reaches an actor.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "net/ip.hpp"

namespace overlayd::ipc {

// ---- shared types -----------------------------------------------------------

enum class overlay_mode { auto_, shared, dedicated, isolated };

constexpr bool uses_shared_bridge(overlay_mode m) { return m == overlay_mode::shared; }
constexpr bool uses_per_service_wg(overlay_mode m) { return m == overlay_mode::dedicated; }
constexpr bool uses_isolation_scope(overlay_mode m) { return m == overlay_mode::isolated; }
constexpr const char* to_string(overlay_mode m) {
  switch (m) {
    case overlay_mode::auto_: return "auto";
    case overlay_mode::shared: return "shared";
    case overlay_mode::dedicated: return "dedicated";
    case overlay_mode::isolated: return "isolated";
  }
  return "auto";
}

// AttachHandle, tag "platform".
struct linux_pid {
  uint32_t pid = 0;
  bool operator==(const linux_pid&) const = default;
};
struct windows_container {
  std::string container_id;
  std::optional<net::ip_address> ip;
  bool operator==(const windows_container&) const = default;
};
struct host_shared {
  std::string id;
  bool operator==(const host_shared&) const = default;
};
struct guest_managed {
  std::string id;
  bool operator==(const guest_managed&) const = default;
};
using attach_handle = std::variant<linux_pid, windows_container, host_shared, guest_managed>;

// PeerScope, tag "scope": global | service{service}. nullopt = global.
struct peer_scope {
  std::optional<std::string> service;
  bool is_global() const { return !service.has_value(); }
  bool operator==(const peer_scope&) const = default;
};

struct nat_candidate_wire {
  std::string candidate_type;  // "host" | "server-reflexive" | "relay"
  std::string address;         // "ip:port"
  uint32_t priority = 0;
  bool operator==(const nat_candidate_wire&) const = default;
};

struct peer_spec {
  std::string public_key;  // base64 of 32 bytes
  std::string endpoint;    // "ip:port" | "[v6]:port"
  std::string allowed_ips; // comma-separated CIDRs
  uint64_t persistent_keepalive_secs = 0;
  std::vector<nat_candidate_wire> candidates;  // [d = empty]
  bool operator==(const peer_spec&) const = default;
};

struct turn_server_spec {
  std::string addr;
  std::string username;
  std::string credential;
  bool operator==(const turn_server_spec&) const = default;
};

struct relay_server_spec {
  uint16_t listen_port = 0;
  std::string external_addr;
  uint64_t max_sessions = 0;
  std::optional<std::string> auth_credential;
  bool operator==(const relay_server_spec&) const = default;
};

// NatConfigSpec: every field defaulted on decode.
struct nat_config_spec {
  bool enabled = false;
  std::vector<std::string> stun_servers;
  std::vector<turn_server_spec> turn_servers;
  uint64_t hole_punch_timeout_secs = 0;
  uint64_t stun_refresh_interval_secs = 0;
  uint64_t max_candidate_pairs = 0;
  std::optional<relay_server_spec> relay_server;
  bool operator==(const nat_config_spec&) const = default;
};

struct peer_status {
  std::string public_key;
  std::string endpoint;
  std::string allowed_ips;  // comma-joined
  int64_t last_handshake_unix_secs = 0;
  bool operator==(const peer_status&) const = default;
};

struct dedicated_service_status {
  std::string service;
  std::string interface;
  std::string public_key;
  uint16_t listen_port = 0;
  net::ip_address overlay_ip;
  std::string subnet;
  uint32_t peer_count = 0;
  bool operator==(const dedicated_service_status&) const = default;
};

struct status_snapshot {
  std::optional<std::string> interface;
  std::optional<net::ip_address> node_ip;
  std::optional<std::string> public_key;
  std::optional<std::string> overlay_cidr;
  std::optional<std::string> slice_cidr;
  uint32_t peer_count = 0;
  uint32_t service_count = 0;
  std::vector<peer_status> peers;                          // [d]; omitted when empty
  std::vector<dedicated_service_status> dedicated_services; // [d]; omitted when empty
  bool operator==(const status_snapshot&) const = default;
};

struct service_overlay_info {
  std::string name;  // the container-attach handle: bridge name
  overlay_mode mode = overlay_mode::auto_;
  std::optional<std::string> wg_public_key;  // dedicated only
  std::optional<uint16_t> wg_port;
  std::optional<net::ip_address> overlay_ip;
  std::optional<std::string> subnet;
  bool operator==(const service_overlay_info&) const = default;
};

struct attach_result {
  net::ip_address ip;
  std::optional<std::string> namespace_guid;
  bool operator==(const attach_result&) const = default;
};

struct guest_overlay_config {
  net::ip_address overlay_ip;
  uint8_t prefix_len = 0;
  std::string private_key;
  std::string public_key;
  uint16_t listen_port = 0;
  std::vector<peer_spec> peers;
  std::optional<net::ip_address> dns_server;
  std::optional<std::string> dns_domain;
  bool operator==(const guest_overlay_config&) const = default;
};

struct nat_peer_wire {
  std::string node_id;
  std::string connection_type;  // "direct" | "hole-punched" | "relayed" | "unreachable"
  std::optional<std::string> remote_endpoint;
  bool operator==(const nat_peer_wire&) const = default;
};

struct nat_status_wire {
  std::vector<nat_candidate_wire> candidates;
  std::vector<nat_peer_wire> peers;
  uint64_t last_refresh = 0;
  bool operator==(const nat_status_wire&) const = default;
};

// ---- requests (tag "op") ---------------------------------------------------

namespace req {
struct set_local_node_id {
  uint64_t node_id = 0;
  bool operator==(const set_local_node_id&) const = default;
};
struct set_local_wg_pubkey {
  std::string pubkey;
  bool operator==(const set_local_wg_pubkey&) const = default;
};
struct setup_global_overlay {
  std::string deployment;
  std::string instance_id;
  std::string cluster_cidr;
  std::optional<std::string> slice_cidr;
  uint16_t wg_port = 0;
  std::optional<nat_config_spec> nat;
  bool host_adapter_mandatory = false;  // [d=false]
  // Legacy field, accepted on decode only when present; never re-encoded
  // unless it was present (so a round trip is exact). When `nat` is absent and
  // this is false, NAT is disabled.
  std::optional<bool> nat_enabled;
  bool operator==(const setup_global_overlay&) const = default;
};
struct teardown_global_overlay {
  bool operator==(const teardown_global_overlay&) const = default;
};
struct setup_service_overlay {
  std::string service;
  overlay_mode mode = overlay_mode::auto_;  // [d=auto]
  bool operator==(const setup_service_overlay&) const = default;
};
struct teardown_service_overlay {
  std::string service;
  bool operator==(const teardown_service_overlay&) const = default;
};
struct allocate_ip {
  std::string service;
  bool join_global = false;  // [d]
  bool operator==(const allocate_ip&) const = default;
};
struct release_ip {
  net::ip_address ip;
  bool operator==(const release_ip&) const = default;
};
struct attach_container {
  attach_handle handle;
  std::string service;
  bool join_global = false;  // [d]
  std::optional<net::ip_address> dns_server;
  std::optional<std::string> dns_domain;
  bool ephemeral = false;  // [d]
  std::optional<std::string> isolation_network;
  bool operator==(const attach_container&) const = default;
};
struct detach_container {
  attach_handle handle;
  bool operator==(const detach_container&) const = default;
};
// PeerSpec flattened into the request object, plus scope.
struct add_peer {
  peer_spec peer;
  peer_scope scope;  // [d=global]
  // Whether "scope" was on the wire: the encoder writes it only then, so the
  // spec's example frames (global scope omitted) round-trip byte for byte.
  bool scope_present = false;
  bool operator==(const add_peer& o) const { return peer == o.peer && scope == o.scope; }
};
struct remove_peer {
  std::string pubkey;
  peer_scope scope;
  bool scope_present = false;
  bool operator==(const remove_peer& o) const { return pubkey == o.pubkey && scope == o.scope; }
};
struct add_allowed_ip {
  std::string pubkey;
  std::string cidr;
  peer_scope scope;
  bool scope_present = false;
  bool operator==(const add_allowed_ip& o) const {
    return pubkey == o.pubkey && cidr == o.cidr && scope == o.scope;
  }
};
struct remove_allowed_ip {
  std::string pubkey;
  std::string cidr;
  peer_scope scope;
  bool scope_present = false;
  bool operator==(const remove_allowed_ip& o) const {
    return pubkey == o.pubkey && cidr == o.cidr && scope == o.scope;
  }
};
struct register_dns {
  std::string name;
  net::ip_address ip;
  bool operator==(const register_dns&) const = default;
};
struct unregister_dns {
  std::string name;
  bool operator==(const unregister_dns&) const = default;
};
struct write_scoped_resolver {
  std::string zone;
  net::ip_address node_ip;
  std::optional<uint16_t> port;
  bool operator==(const write_scoped_resolver&) const = default;
};
struct remove_scoped_resolver {
  std::string zone;
  bool operator==(const remove_scoped_resolver&) const = default;
};
struct prune_orphan_bridges {
  std::vector<std::string> live_bridge_names;
  bool operator==(const prune_orphan_bridges&) const = default;
};
struct status {
  bool operator==(const status&) const = default;
};
struct nat_tick {
  bool operator==(const nat_tick&) const = default;
};
struct nat_status {
  bool operator==(const nat_status&) const = default;
};
struct shutdown {
  bool operator==(const shutdown&) const = default;
};
}  // namespace req

using request =
    std::variant<req::set_local_node_id, req::set_local_wg_pubkey, req::setup_global_overlay,
                 req::teardown_global_overlay, req::setup_service_overlay,
                 req::teardown_service_overlay, req::allocate_ip, req::release_ip,
                 req::attach_container, req::detach_container, req::add_peer, req::remove_peer,
                 req::add_allowed_ip, req::remove_allowed_ip, req::register_dns,
                 req::unregister_dns, req::write_scoped_resolver, req::remove_scoped_resolver,
                 req::prune_orphan_bridges, req::status, req::nat_tick, req::nat_status,
                 req::shutdown>;

// The wire name ("op") of a request, e.g. "allocate_ip". Defined in codec.cpp.
const char* op_name(const request& r);

// ---- responses (tag "result") ----------------------------------------------

namespace resp {
struct ok {
  bool operator==(const ok&) const = default;
};
struct bridge_name {
  std::string name;
  bool operator==(const bridge_name&) const = default;
};
struct service_overlay {  // newtype: fields merged next to "result"
  service_overlay_info info;
  bool operator==(const service_overlay&) const = default;
};
struct ip {
  bool operator==(const ip&) const = default;  // declared first: the member below hides the name
  net::ip_address ip;
};
struct attached {
  attach_result result;
  bool operator==(const attached&) const = default;
};
struct guest_config {
  guest_overlay_config config;
  bool operator==(const guest_config&) const = default;
};
struct pruned_bridges {
  std::vector<std::string> reclaimed;
  bool operator==(const pruned_bridges&) const = default;
};
struct status {
  status_snapshot snapshot;
  bool operator==(const status&) const = default;
};
struct nat_status {
  nat_status_wire snapshot;
  bool operator==(const nat_status&) const = default;
};
struct err {
  std::string message;
  bool operator==(const err&) const = default;
};
}  // namespace resp

using response = std::variant<resp::ok, resp::bridge_name, resp::service_overlay, resp::ip,
                              resp::attached, resp::guest_config, resp::pruned_bridges,
                              resp::status, resp::nat_status, resp::err>;

// The wire name ("result") of a response. Defined in codec.cpp.
const char* result_name(const response& r);

// ---- events (tag "event") and frames (tag "frame") ---------------------------

namespace ev {
struct peer_health_changed {
  std::string pubkey;
  bool healthy = false;
  bool operator==(const peer_health_changed&) const = default;
};
struct nat_endpoint_changed {
  std::string pubkey;
  std::string endpoint;
  bool operator==(const nat_endpoint_changed&) const = default;
};
}  // namespace ev
using event = std::variant<ev::peer_health_changed, ev::nat_endpoint_changed>;

struct request_frame {
  uint64_t id = 0;
  request body;
  bool operator==(const request_frame&) const = default;
};
struct response_frame {
  uint64_t id = 0;
  response body;
  bool operator==(const response_frame&) const = default;
};
struct event_frame {
  event body;
  bool operator==(const event_frame&) const = default;
};
using frame = std::variant<request_frame, response_frame, event_frame>;

}  // namespace overlayd::ipc
