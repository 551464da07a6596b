// Interface addresses (v4 and v6, with prefix).
#pragma once

#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "net/ip.hpp"
#include "net/netlink/socket.hpp"

namespace overlayd::netlink {

struct address_options {
  // IPv6 only: skip duplicate address detection so the address is usable at
  // once (overlay addresses are allocated, never auto-configured).
  bool nodad = true;
};

// Adds `addr` (address + prefix length) to `ifname`. Already present = success.
status add_address(socket& s, std::string_view ifname, const net::cidr& addr,
                   address_options opts = {});
// Removes `addr`; absent = success.
status remove_address(socket& s, std::string_view ifname, const net::cidr& addr);
// The alias pair the seed uses for a node /32 (or /128): add / remove an
// extra address, both idempotent. Same as add_address/remove_address with a
// host prefix.
status add_alias(socket& s, std::string_view ifname, const net::ip_address& ip);
status remove_alias(socket& s, std::string_view ifname, const net::ip_address& ip);
// Every address on `ifname` (both families).
result<std::vector<net::cidr>> list_addresses(socket& s, std::string_view ifname);
// Removes every address on `ifname` (both families, link-local included).
status flush_addresses(socket& s, std::string_view ifname);

}  // namespace overlayd::netlink
