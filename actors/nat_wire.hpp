// The plain logic between the NAT library (net/nat/) and the engine: the
// agent's NatConfigSpec to the resolved nat_config, candidates between wire
// and library form, the library's snapshot to NatStatusWire, the device's
// handshake time to the planner's clock, and the attempt log as JSON. No
// actors, no sockets: unit-tested in nat_wire.test.cpp.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "ipc/types.hpp"
#include "net/nat/nat_traversal.hpp"

namespace overlayd::actors {

// setup_global_overlay's `nat` (filled with defaults by resolve_nat_config),
// or, when absent, NAT enabled unless the legacy `nat_enabled` is false. The
// seed's absent-spec default also enabled NAT (with Google STUN); ours keeps
// the default STUN list empty so nothing leaves the host unless configured.
net::nat::nat_config nat_config_from_spec(const std::optional<ipc::nat_config_spec>& spec,
                                          std::optional<bool> legacy_nat_enabled);

// A peer's advertised candidates; a bad entry is an error naming it.
result<std::vector<net::nat::candidate>> candidates_from_wire(const std::vector<ipc::nat_candidate_wire>& w);

// What the device knows of one peer, in the planner's terms: a wall-clock
// handshake time becomes the steady time that long before `now`.
net::nat::handshake_info handshake_info_of(std::optional<std::chrono::system_clock::time_point> last_handshake,
                                           std::optional<net::endpoint> current, const net::nat::nat_clock& now);

// NatStatusWire from the library snapshot: peers appear once their first
// attempt has an outcome (as the seed records connection types only after a
// connect). remote_endpoint is the device's current endpoint for the peer
// when it has one (seed), else the planner's.
using endpoint_lookup = std::function<std::optional<net::endpoint>(const std::string& peer)>;
ipc::nat_status_wire nat_status_to_wire(const net::nat::nat_status_view& v, const endpoint_lookup& device_endpoint);

// The per-peer connect-attempt log as a JSON array:
// [{"peer", "connection_type"|null, "remote_endpoint"|null,
//   "attempts":[{"age_secs", "pairs_tried":[...], "outcome", "reason"}]}]
std::string nat_attempts_json(const net::nat::nat_status_view& v, net::nat::steady::time_point now);
// GET /v1/nat/mapping: {"mapping": "endpoint-independent" | "endpoint-dependent"
// | "unknown", "problems": ["STUN 192.0.2.1:3478: timeout", ...]}. The mapping
// needs answers from two STUN servers (same reflexive address = independent).
std::string nat_mapping_json(const net::nat::nat_status_view& v);

}  // namespace overlayd::actors
