#include "net/netlink/addr_msg.hpp"

#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

namespace overlayd::netlink {

request build_address(bool add, int index, const net::cidr& addr, bool nodad) {
  request r(add ? RTM_NEWADDR : RTM_DELADDR, add ? (NLM_F_CREATE | NLM_F_EXCL) : 0);
  auto* ifa = r.family_header<ifaddrmsg>();
  ifa->ifa_family = addr.address().is_v4() ? AF_INET : AF_INET6;
  ifa->ifa_prefixlen = static_cast<uint8_t>(addr.prefix_len());
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  ifa->ifa_index = static_cast<uint32_t>(index);
  // IFA_LOCAL is the interface's own address; IFA_ADDRESS the peer on
  // point-to-point links and equal to IFA_LOCAL otherwise (what `ip` sends).
  r.put_bytes(IFA_LOCAL, addr.address().data(), addr.address().size());
  r.put_bytes(IFA_ADDRESS, addr.address().data(), addr.address().size());
  if (add && nodad && addr.address().is_v6()) r.put_u32(IFA_FLAGS, IFA_F_NODAD);
  return r;
}

request build_dump_addresses(int family) {
  request r(RTM_GETADDR, 0);
  auto* ifa = r.family_header<ifaddrmsg>();
  ifa->ifa_family = static_cast<uint8_t>(family);
  return r;
}

namespace {

struct addr_attrs {
  const nlattr* tb[IFA_MAX + 1] = {};
};

int collect(const nlattr* attr, void* data) {
  auto* a = static_cast<addr_attrs*>(data);
  uint16_t type = mnl_attr_get_type(attr);
  if (type <= IFA_MAX) a->tb[type] = attr;
  return MNL_CB_OK;
}

}  // namespace

std::optional<parsed_address> parse_address(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != RTM_NEWADDR) return std::nullopt;
  if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(ifaddrmsg))) return std::nullopt;
  const auto* ifa = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(nlh));
  addr_attrs a;
  if (mnl_attr_parse(nlh, sizeof(ifaddrmsg), collect, &a) < 0) return std::nullopt;
  const nlattr* at = a.tb[IFA_LOCAL] != nullptr ? a.tb[IFA_LOCAL] : a.tb[IFA_ADDRESS];
  if (at == nullptr) return std::nullopt;
  size_t len = mnl_attr_get_payload_len(at);
  const auto* p = static_cast<const uint8_t*>(mnl_attr_get_payload(at));
  net::ip_address ip;
  if (ifa->ifa_family == AF_INET && len == 4) {
    ip = net::ip_address::v4(std::array<uint8_t, 4>{p[0], p[1], p[2], p[3]});
  } else if (ifa->ifa_family == AF_INET6 && len == 16) {
    std::array<uint8_t, 16> b{};
    std::copy(p, p + 16, b.begin());
    ip = net::ip_address::v6(b);
  } else {
    return std::nullopt;
  }
  if (ifa->ifa_prefixlen > ip.bits()) return std::nullopt;
  return parsed_address{static_cast<int>(ifa->ifa_index), net::cidr(ip, ifa->ifa_prefixlen)};
}

}  // namespace overlayd::netlink
