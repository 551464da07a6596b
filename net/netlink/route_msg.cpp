#include "net/netlink/route_msg.hpp"

#include <linux/rtnetlink.h>
#include <sys/socket.h>

namespace overlayd::netlink {

request build_route(route_op op, const route_spec& r) {
  const bool add = op != route_op::remove;
  const int add_flags = op == route_op::add_new ? (NLM_F_CREATE | NLM_F_EXCL) : (NLM_F_CREATE | NLM_F_REPLACE);
  request q(add ? RTM_NEWROUTE : RTM_DELROUTE, add ? add_flags : 0);
  auto* rtm = q.family_header<rtmsg>();
  rtm->rtm_family = r.dst.address().is_v4() ? AF_INET : AF_INET6;
  rtm->rtm_dst_len = static_cast<uint8_t>(r.dst.prefix_len());
  rtm->rtm_table = RT_TABLE_MAIN;
  rtm->rtm_protocol = add ? RTPROT_STATIC : RTPROT_UNSPEC;
  // Via a gateway the route is universe scope; straight out of a device
  // (no next hop) it is link scope, as `ip route add X dev Y` makes it.
  rtm->rtm_scope = add ? (r.gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK) : RT_SCOPE_NOWHERE;
  rtm->rtm_type = add ? RTN_UNICAST : RTN_UNSPEC;
  if (r.dst.prefix_len() > 0) {
    auto net = r.dst.network();
    q.put_bytes(RTA_DST, net.data(), net.size());
  }
  if (r.gateway) q.put_bytes(RTA_GATEWAY, r.gateway->data(), r.gateway->size());
  if (r.src) q.put_bytes(RTA_PREFSRC, r.src->data(), r.src->size());
  if (r.oif > 0) q.put_u32(RTA_OIF, static_cast<uint32_t>(r.oif));
  return q;
}

}  // namespace overlayd::netlink
