#include "net/netlink/link_msg.hpp"

#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sys/socket.h>

namespace overlayd::netlink {

namespace {

request link_req(uint16_t type, uint16_t flags, int index) {
  request r(type, flags);
  auto* ifi = r.family_header<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = index;
  return r;
}

}  // namespace

request build_get_link(std::string_view name, int index) {
  request r = link_req(RTM_GETLINK, 0, index);
  if (index == 0) r.put_str(IFLA_IFNAME, name);
  // Skip per-VF stats and the like; we only read the basics.
  r.put_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  return r;
}

request build_dump_links() {
  request r = link_req(RTM_GETLINK, 0, 0);
  r.put_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  return r;
}

request build_set_flags(int index, uint32_t flags, uint32_t change) {
  request r(RTM_NEWLINK, 0);
  auto* ifi = r.family_header<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = index;
  ifi->ifi_flags = flags;
  ifi->ifi_change = change;
  return r;
}

request build_set_mtu(int index, uint32_t mtu) {
  request r = link_req(RTM_NEWLINK, 0, index);
  r.put_u32(IFLA_MTU, mtu);
  return r;
}

request build_delete_link(std::string_view name) {
  request r = link_req(RTM_DELLINK, 0, 0);
  r.put_str(IFLA_IFNAME, name);
  return r;
}

request build_new_bridge(std::string_view name, bool exclusive) {
  request r = link_req(RTM_NEWLINK, exclusive ? (NLM_F_CREATE | NLM_F_EXCL) : 0, 0);
  r.put_str(IFLA_IFNAME, name);
  void* info = r.begin_nest(IFLA_LINKINFO);
  r.put_str(IFLA_INFO_KIND, "bridge");
  void* data = r.begin_nest(IFLA_INFO_DATA);
  r.put_u32(IFLA_BR_STP_STATE, 0);
  r.end_nest(data);
  r.end_nest(info);
  return r;
}

request build_new_veth(std::string_view name, std::string_view peer) {
  request r = link_req(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
  r.put_str(IFLA_IFNAME, name);
  void* info = r.begin_nest(IFLA_LINKINFO);
  r.put_str(IFLA_INFO_KIND, "veth");
  void* data = r.begin_nest(IFLA_INFO_DATA);
  // VETH_INFO_PEER carries a whole ifinfomsg followed by the peer's attrs.
  void* peer_nest = r.begin_nest(VETH_INFO_PEER);
  auto* pifi = static_cast<ifinfomsg*>(r.put_extra(sizeof(ifinfomsg)));
  pifi->ifi_family = AF_UNSPEC;
  r.put_str(IFLA_IFNAME, peer);
  r.end_nest(peer_nest);
  r.end_nest(data);
  r.end_nest(info);
  return r;
}

request build_move_netns(int index, int netns_fd, std::string_view new_name) {
  // The kernel applies IFLA_IFNAME as the link's name in the target
  // namespace as part of the move (do_setlink -> __dev_change_net_namespace).
  request r = link_req(RTM_NEWLINK, 0, index);
  r.put_u32(IFLA_NET_NS_FD, static_cast<uint32_t>(netns_fd));
  r.put_str(IFLA_IFNAME, new_name);
  return r;
}

request build_set_master(int index, int master_index) {
  request r = link_req(RTM_NEWLINK, 0, index);
  r.put_u32(IFLA_MASTER, static_cast<uint32_t>(master_index));
  return r;
}

// ---- parsing --------------------------------------------------------------

namespace {

struct link_attrs {
  const nlattr* tb[IFLA_MAX + 1] = {};
};

int collect_attr(const nlattr* attr, void* data) {
  auto* a = static_cast<link_attrs*>(data);
  uint16_t type = mnl_attr_get_type(attr);
  if (type <= IFLA_MAX) a->tb[type] = attr;
  return MNL_CB_OK;
}

struct info_attrs {
  const nlattr* tb[IFLA_INFO_MAX + 1] = {};
};

int collect_info(const nlattr* attr, void* data) {
  auto* a = static_cast<info_attrs*>(data);
  uint16_t type = mnl_attr_get_type(attr);
  if (type <= IFLA_INFO_MAX) a->tb[type] = attr;
  return MNL_CB_OK;
}

bool is_u32(const nlattr* a) { return a != nullptr && mnl_attr_validate(a, MNL_TYPE_U32) >= 0; }

}  // namespace

std::optional<link_info> parse_link(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != RTM_NEWLINK) return std::nullopt;
  if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(ifinfomsg))) return std::nullopt;
  const auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
  link_attrs a;
  if (mnl_attr_parse(nlh, sizeof(ifinfomsg), collect_attr, &a) < 0) return std::nullopt;

  link_info li;
  li.index = ifi->ifi_index;
  li.flags = ifi->ifi_flags;
  const nlattr* name = a.tb[IFLA_IFNAME];
  if (name == nullptr || mnl_attr_validate(name, MNL_TYPE_NUL_STRING) < 0) return std::nullopt;
  li.name = mnl_attr_get_str(name);
  if (is_u32(a.tb[IFLA_MTU])) li.mtu = mnl_attr_get_u32(a.tb[IFLA_MTU]);
  if (is_u32(a.tb[IFLA_MASTER])) li.master = static_cast<int>(mnl_attr_get_u32(a.tb[IFLA_MASTER]));
  if (const nlattr* linfo = a.tb[IFLA_LINKINFO];
      linfo != nullptr && mnl_attr_validate(linfo, MNL_TYPE_NESTED) >= 0) {
    info_attrs ia;
    if (mnl_attr_parse_nested(linfo, collect_info, &ia) >= 0 && ia.tb[IFLA_INFO_KIND] != nullptr &&
        mnl_attr_validate(ia.tb[IFLA_INFO_KIND], MNL_TYPE_STRING) >= 0) {
      const nlattr* k = ia.tb[IFLA_INFO_KIND];
      // The kind is NUL-terminated in practice; bound it by the payload anyway.
      const char* p = static_cast<const char*>(mnl_attr_get_payload(k));
      size_t n = mnl_attr_get_payload_len(k);
      while (n > 0 && p[n - 1] == '\0') --n;
      li.kind.assign(p, n);
    }
  }
  return li;
}

}  // namespace overlayd::netlink
