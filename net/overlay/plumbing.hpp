// Host plumbing of service overlays: bridges and container veths, the seed's
// create_service_bridge / attach_to_interface / detach_container_linux.
// Everything that outlives a container goes through host::mutator (journaled);
// what is configured inside a container's namespace dies with it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/error.hpp"
#include "net/host/mutator.hpp"
#include "net/ip.hpp"

namespace overlayd::overlay {

// A bridge `name` (STP off) with `gateway/prefix`, up. An existing bridge is
// reused (its addresses replaced by the gateway).
status create_bridge(host::mutator& host, const std::string& name, const net::cidr& gateway);

struct veth_attach {
  uint32_t pid = 0;            // the container's process: /proc/<pid>/ns/net
  net::ip_address ip;          // the container's address
  unsigned prefix = 0;         // on its interface
  std::string tag;             // "s" (service bridge) or "g" (global)
  std::string container_iface; // "eth0" / "eth1"
  // Bridge attach: enslave the host end; default route via the gateway inside.
  std::optional<std::string> bridge;
  std::optional<net::ip_address> gateway;
  // Routed attach (no bridge): /32 or /128 host route via the host end, with
  // this preferred source.
  std::optional<net::ip_address> route_src;
};

// veth-<pid>-<tag> on the host, vc-<pid>-<tag> moved into the container and
// renamed; address, lo up, default route; host end up and enslaved (or
// routed); forwarding enabled. Any failure removes what was made.
status attach_veth(host::mutator& host, const veth_attach& a);

// Deletes veth-<pid>-s and veth-<pid>-g by name (their container ends go with
// them). Idempotent: missing links are fine.
void detach_veths(host::mutator& host, uint32_t pid);

std::string veth_host_name(uint32_t pid, const std::string& tag);

}  // namespace overlayd::overlay
