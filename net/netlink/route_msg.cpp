#include "net/netlink/route_msg.hpp"

#include <libmnl/libmnl.h>
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

std::vector<int> default_route_oifs(const nlmsghdr* nlh) {
  std::vector<int> out;
  if (nlh->nlmsg_type != RTM_NEWROUTE || nlh->nlmsg_len < mnl_nlmsg_size(sizeof(rtmsg))) return out;
  const auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(nlh));
  if (rtm->rtm_dst_len != 0 || rtm->rtm_type != RTN_UNICAST) return out;
  uint32_t table = rtm->rtm_table;
  const auto* tail = static_cast<const char*>(mnl_nlmsg_get_payload_tail(nlh));
  for (auto* attr = static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(nlh, sizeof(rtmsg)));
       mnl_attr_ok(attr, static_cast<int>(tail - reinterpret_cast<const char*>(attr))); attr = mnl_attr_next(attr)) {
    const auto type = mnl_attr_get_type(attr);
    if (type == RTA_TABLE && mnl_attr_validate(attr, MNL_TYPE_U32) >= 0) table = mnl_attr_get_u32(attr);
    if (type == RTA_OIF && mnl_attr_validate(attr, MNL_TYPE_U32) >= 0)
      out.push_back(static_cast<int>(mnl_attr_get_u32(attr)));
    if (type == RTA_MULTIPATH) {
      // A list of rtnexthop, each followed by its own attributes.
      const auto* p = static_cast<const uint8_t*>(mnl_attr_get_payload(attr));
      size_t left = mnl_attr_get_payload_len(attr);
      while (left >= sizeof(rtnexthop)) {
        const auto* nh = reinterpret_cast<const rtnexthop*>(p);
        if (nh->rtnh_len < sizeof(rtnexthop) || nh->rtnh_len > left) break;
        out.push_back(nh->rtnh_ifindex);
        const size_t step = RTNH_ALIGN(nh->rtnh_len);
        if (step >= left) break;
        p += step;
        left -= step;
      }
    }
  }
  if (table != RT_TABLE_MAIN) out.clear();
  return out;
}

request build_get_route(const net::ip_address& dst) {
  request q(RTM_GETROUTE, 0);
  auto* rtm = q.family_header<rtmsg>();
  rtm->rtm_family = dst.is_v4() ? AF_INET : AF_INET6;
  rtm->rtm_dst_len = static_cast<uint8_t>(dst.bits());
  q.put_bytes(RTA_DST, dst.data(), dst.size());
  return q;
}

request build_dump_routes(int family) {
  request q(RTM_GETROUTE, NLM_F_DUMP);
  auto* rtm = q.family_header<rtmsg>();
  rtm->rtm_family = static_cast<uint8_t>(family);
  return q;
}

namespace {

struct route_attrs {
  const nlattr* tb[RTA_MAX + 1] = {};
};

int collect_route_attr(const nlattr* attr, void* data) {
  auto* a = static_cast<route_attrs*>(data);
  const uint16_t type = mnl_attr_get_type(attr);
  if (type <= RTA_MAX) a->tb[type] = attr;
  return MNL_CB_OK;
}

int find_mtu_metric(const nlattr* attr, void* data) {
  if (mnl_attr_get_type(attr) == RTAX_MTU && mnl_attr_validate(attr, MNL_TYPE_U32) >= 0)
    *static_cast<uint32_t*>(data) = mnl_attr_get_u32(attr);
  return MNL_CB_OK;
}

}  // namespace

std::optional<parsed_route> parse_route(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != RTM_NEWROUTE) return std::nullopt;
  if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(rtmsg))) return std::nullopt;
  const auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(nlh));
  route_attrs a;
  if (mnl_attr_parse(nlh, sizeof(rtmsg), collect_route_attr, &a) < 0) return std::nullopt;
  parsed_route r;
  r.dst_len = rtm->rtm_dst_len;
  r.type = rtm->rtm_type;
  r.table = rtm->rtm_table;
  if (a.tb[RTA_TABLE] && mnl_attr_validate(a.tb[RTA_TABLE], MNL_TYPE_U32) >= 0)
    r.table = mnl_attr_get_u32(a.tb[RTA_TABLE]);
  if (a.tb[RTA_OIF] && mnl_attr_validate(a.tb[RTA_OIF], MNL_TYPE_U32) >= 0)
    r.oif = static_cast<int>(mnl_attr_get_u32(a.tb[RTA_OIF]));
  if (a.tb[RTA_METRICS] && mnl_attr_validate(a.tb[RTA_METRICS], MNL_TYPE_NESTED) >= 0)
    mnl_attr_parse_nested(a.tb[RTA_METRICS], find_mtu_metric, &r.mtu);
  return r;
}

}  // namespace overlayd::netlink
