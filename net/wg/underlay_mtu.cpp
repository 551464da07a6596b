#include "net/wg/underlay_mtu.hpp"

#include <algorithm>

#include "net/netlink/route.hpp"
#include "net/netlink/socket.hpp"

namespace overlayd::wg {

uint32_t device_mtu_for(uint32_t underlay_mtu) noexcept {
  const uint32_t m = underlay_mtu > wg_overhead ? underlay_mtu - wg_overhead : 0;
  return std::clamp(m, min_device_mtu, max_device_mtu);
}

underlay_choice underlay_mtu(const std::vector<net::ip_address>& peers) {
  underlay_choice c;
  auto s = netlink::socket::open();
  if (!s) {
    c.source = "fallback (no netlink: " + s.err().message + ")";
    return c;
  }
  uint32_t best = 0;
  for (const auto& p : peers) {
    auto m = netlink::route_mtu(*s, p);
    if (m && *m > best) {
      best = *m;
      c.source = "route to " + p.to_string();
    }
  }
  if (!best) {
    for (bool v6 : {false, true}) {
      if (auto m = netlink::default_route_mtu(*s, v6); m && *m) {
        best = *m;
        c.source = v6 ? "IPv6 default route" : "IPv4 default route";
        break;
      }
    }
  }
  if (best) c.mtu = best;
  else c.source = "fallback (no route toward the peers, no default route)";
  return c;
}

}  // namespace overlayd::wg
