// The few link operations a device needs on its TUN, over rtnetlink (libmnl,
// through net/netlink/): MTU, addresses, link up, and /32 or /128 aliases.
// Each call opens its own netlink socket in the caller's namespace.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "net/ip.hpp"

namespace overlayd::wg {

// Sets the MTU, adds every address, brings the link up (in that order, so
// the kernel adds the prefix routes once the link is up).
status configure_tun_link(std::string_view name, uint32_t mtu, const std::vector<net::cidr>& addrs);
status add_tun_alias(std::string_view name, const net::ip_address& ip);
status remove_tun_alias(std::string_view name, const net::ip_address& ip);

}  // namespace overlayd::wg
