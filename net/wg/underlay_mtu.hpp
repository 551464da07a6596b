// The device's default MTU follows the underlay, as wg-quick computes it:
// the largest path MTU toward the peers' endpoints (else the default route's
// device), minus WireGuard's worst-case overhead. A fixed 1420 over a 1400
// underlay made every full-sized packet a fragment or an EMSGSIZE: pings
// passed, TCP crawled (issue 12).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "net/ip.hpp"

namespace overlayd::wg {

// Outer IPv6 header 40 + UDP 8 + transport header 16 + AEAD tag 16.
inline constexpr uint32_t wg_overhead = 80;
// wg-quick's answer when no route says anything.
inline constexpr uint32_t fallback_underlay_mtu = 1500;
inline constexpr uint32_t min_device_mtu = 576, max_device_mtu = 9000;

// underlay - wg_overhead, held to [min_device_mtu, max_device_mtu].
uint32_t device_mtu_for(uint32_t underlay_mtu) noexcept;

struct underlay_choice {
  uint32_t mtu = fallback_underlay_mtu;
  std::string source;  // "route to 10.0.0.2", "IPv4 default route", "fallback"
};
// Largest route MTU toward any of `peers`; with none routable, the default
// route's (IPv4, then IPv6); with none, fallback_underlay_mtu. Looks the
// routes up over rtnetlink in the caller's namespace (sends no packet).
underlay_choice underlay_mtu(const std::vector<net::ip_address>& peers);

}  // namespace overlayd::wg
