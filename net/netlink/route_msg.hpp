// Route request builders (pure, unit-tested). Families must already agree
// (route.cpp checks before building).
#pragma once

#include <optional>
#include <vector>

#include "net/ip.hpp"
#include "net/netlink/socket.hpp"

namespace overlayd::netlink {

enum class route_op { replace, remove };

struct route_spec {
  net::cidr dst;
  std::optional<net::ip_address> gateway;
  std::optional<net::ip_address> src;  // preferred source (RTA_PREFSRC)
  int oif = 0;                         // 0 = any device
};

request build_route(route_op op, const route_spec& r);

// A dump of the routes of one family (RTM_GETROUTE).
request build_dump_routes(net::family fam);
// The output interfaces of a default route (dst length 0, main table) in
// one dumped message: RTA_OIF, or every hop of RTA_MULTIPATH. Empty for
// any other route.
std::vector<int> default_route_oifs(const nlmsghdr* nlh);

}  // namespace overlayd::netlink
