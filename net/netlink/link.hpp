// Links: lookup, list, up/down, MTU, delete, bridges, veth pairs, moving a
// link into another network namespace, bridge membership.
//
// Every call works in the namespace the socket was opened in. Names longer
// than IFNAMSIZ-1 are rejected before the kernel sees them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "net/netlink/socket.hpp"

namespace overlayd::netlink {

struct link_info {
  int index = 0;
  std::string name;
  std::string kind;   // IFLA_INFO_KIND: "bridge", "veth", "tun", "" if none
  int master = 0;     // index of the bridge this link is enslaved to, 0 = none
  uint32_t flags = 0; // IFF_* (IFF_UP, IFF_LOWER_UP, ...)
  uint32_t mtu = 0;

  bool up() const noexcept;
};

// Validates an interface name: 1..15 bytes, no '/', no whitespace.
status check_ifname(std::string_view name);

// errc::not_found when there is no such link.
result<link_info> get_link(socket& s, std::string_view name);
result<link_info> get_link(socket& s, int index);
// Every link in the namespace (multi-part dump).
result<std::vector<link_info>> list_links(socket& s);

status set_link_up(socket& s, std::string_view name, bool up = true);
status set_mtu(socket& s, std::string_view name, uint32_t mtu);
// A link that does not exist is success.
status delete_link(socket& s, std::string_view name);

// Creates a bridge with STP off. An existing bridge of that name is success
// (STP is switched off on it too); an existing non-bridge is already_exists.
status create_bridge(socket& s, std::string_view name);
// Creates the pair `name` <-> `peer`, both in this namespace, both down.
status create_veth(socket& s, std::string_view name, std::string_view peer);
// Moves `name` into the namespace behind `netns_fd` and renames it to
// `new_name` there, in one request (no window where a half-configured link
// is visible under the old name in the target).
status move_to_netns(socket& s, std::string_view name, int netns_fd,
                     std::string_view new_name);
// Enslaves `name` to `bridge` (IFLA_MASTER).
status set_master(socket& s, std::string_view name, std::string_view bridge);
// Number of links whose master is `bridge`; not_found if no such bridge.
result<size_t> bridge_member_count(socket& s, std::string_view bridge);

}  // namespace overlayd::netlink
