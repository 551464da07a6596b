// Route request builders (pure, unit-tested). Families must already agree
// (route.cpp checks before building).
#pragma once

#include <optional>

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

}  // namespace overlayd::netlink
