// The second of "parse, validate, act": a decoded request is checked here,
// before any actor sees it. The codec only guarantees types and ranges; this
// checks meaning — CIDRs, endpoints, WireGuard keys, candidates, names.
// Every error is errc::invalid_argument and names the field and the value,
// with the seed's wording where it has one ("invalid cluster CIDR 10.0.0/33:
// bad address", "invalid peer endpoint x: ...", "invalid CIDR x: ...").
#pragma once

#include <cstddef>
#include <string_view>

#include "core/error.hpp"
#include "ipc/types.hpp"

namespace overlayd::ipc {

status validate(const request& r);

// Names (service, deployment, instance_id, isolation_network, handle ids,
// DNS names, zones) are at most this many bytes, without control characters.
inline constexpr size_t max_name_bytes = 253;
// The subnet-registry key of the node-wide shared bridge (the supervisor's
// shared_bridge_key): never accepted as a service name.
inline constexpr std::string_view reserved_shared_bridge_key = "__zlayer_shared_bridge__";
// The node slice when setup_global_overlay carries none (the seed's default
// allocator; actors/allocator.cpp default_node_slice()).
inline constexpr std::string_view default_node_slice = "10.200.0.0/16";

// Building blocks, exposed for other edges (HTTP, tests). `field` is the wire
// name used in the message.
status validate_wg_key(std::string_view field, std::string_view base64);  // base64 of 32 bytes
status validate_peer_spec(const peer_spec& p, std::string_view prefix = "");

}  // namespace overlayd::ipc
