// Route request builders (pure, unit-tested). Families must already agree
// (route.cpp checks before building).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "net/ip.hpp"
#include "net/netlink/socket.hpp"

namespace overlayd::netlink {

// add_new: create only (NLM_F_EXCL), EEXIST when the route is there.
enum class route_op { replace, remove, add_new };

struct route_spec {
  net::cidr dst;
  std::optional<net::ip_address> gateway;
  std::optional<net::ip_address> src;  // preferred source (RTA_PREFSRC)
  int oif = 0;                         // 0 = any device
};

request build_route(route_op op, const route_spec& r);
// RTM_GETROUTE for one destination (what `ip route get DST` asks).
request build_get_route(const net::ip_address& dst);
// RTM_GETROUTE dump of one family's routes (AF_INET or AF_INET6).
request build_dump_routes(int family);

// What the path-MTU lookups need from a route message.
struct parsed_route {
  uint8_t dst_len = 0;
  uint32_t table = 0;
  uint8_t type = 0;   // RTN_*
  int oif = 0;        // 0 = none (a multipath or blackhole route)
  uint32_t mtu = 0;   // the route's mtu metric; 0 = not set (the device's applies)
};
std::optional<parsed_route> parse_route(const nlmsghdr* nlh);

// The output interfaces of a default route (dst length 0, main table) in
// one dumped message: RTA_OIF, or every hop of RTA_MULTIPATH. Empty for
// any other route.
std::vector<int> default_route_oifs(const nlmsghdr* nlh);

}  // namespace overlayd::netlink
