#include "net/wg/tun_netlink.hpp"

#include "net/netlink/addr.hpp"
#include "net/netlink/link.hpp"
#include "net/netlink/socket.hpp"

namespace overlayd::wg {

status configure_tun_link(std::string_view name, uint32_t mtu, const std::vector<net::cidr>& addrs) {
  auto s = netlink::socket::open();
  if (!s) return s.err();
  OVERLAYD_TRY(netlink::set_mtu(*s, name, mtu));
  for (const auto& a : addrs) OVERLAYD_TRY(netlink::add_address(*s, name, a));
  return netlink::set_link_up(*s, name, true);
}

status add_tun_alias(std::string_view name, const net::ip_address& ip) {
  auto s = netlink::socket::open();
  if (!s) return s.err();
  return netlink::add_alias(*s, name, ip);
}

status remove_tun_alias(std::string_view name, const net::ip_address& ip) {
  auto s = netlink::socket::open();
  if (!s) return s.err();
  return netlink::remove_alias(*s, name, ip);
}

}  // namespace overlayd::wg
