// One service as GET /v1/services and `overlayctl services` show it: what
// the node made for it. Plain data, no CAF (the embedding API returns it).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "net/ip.hpp"

namespace overlayd::actors {

struct service_row {
  std::string service;
  std::string mode;    // the contract's mode name: auto, shared, isolated, dedicated
  std::string bridge;  // empty while the service has none
  std::optional<net::cidr> subnet;
  std::optional<net::ip_address> gateway;  // first usable host of the subnet
  uint64_t members = 0;                    // addresses handed out on its bridge
  std::string dedicated_interface;         // dedicated mode: its WireGuard device
  uint16_t dedicated_port = 0;
  std::string dedicated_public_key;
};

// The overlay DNS as GET /v1/dns and `overlayctl dns` show it: the domains
// served (the node-wide one first) and every registered name.
struct dns_view {
  std::vector<std::string> domains;
  std::vector<std::pair<std::string, std::vector<net::ip_address>>> records;  // sorted by name
};

// One peer of one of the node's WireGuard devices, as GET /v1/peers and
// `overlayctl peers` show it (the wire status has no byte counters).
struct peer_row {
  std::string device;   // the interface
  std::string service;  // empty: the global device; else the dedicated service
  std::string public_key;
  std::string endpoint;  // empty: none yet
  std::string allowed_ips;
  int64_t last_handshake_unix = 0;  // 0 = never
  uint64_t rx_bytes = 0;
  uint64_t tx_bytes = 0;
};

}  // namespace overlayd::actors
