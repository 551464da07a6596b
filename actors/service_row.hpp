// One service as GET /v1/services and `overlayctl services` show it: what
// the node made for it. Plain data, no CAF (the embedding API returns it).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

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

}  // namespace overlayd::actors
