#include <doctest/doctest.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sys/socket.h>

#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include "net/netlink/addr_msg.hpp"
#include "net/netlink/link_msg.hpp"
#include "net/netlink/route.hpp"
#include "net/netlink/route_msg.hpp"

using namespace overlayd;
using namespace overlayd::netlink;

namespace {

// Top-level attributes of a request after its family header, by type.
using attr_map = std::map<uint16_t, const nlattr*>;

int collect(const nlattr* a, void* m) {
  (*static_cast<attr_map*>(m))[mnl_attr_get_type(a)] = a;
  return MNL_CB_OK;
}

attr_map attrs_of(const request& r, size_t fam_len) {
  attr_map m;
  mnl_attr_parse(r.header(), static_cast<unsigned>(fam_len), collect, &m);
  return m;
}

attr_map nested_of(const nlattr* nest) {
  attr_map m;
  REQUIRE(nest != nullptr);
  mnl_attr_parse_nested(nest, collect, &m);
  return m;
}

net::cidr C(const char* s) { return net::cidr::parse(s).value(); }
net::ip_address A(const char* s) { return net::ip_address::parse(s).value(); }

}  // namespace

TEST_CASE("interface names are checked before the kernel sees them") {
  struct row {
    const char* name;
    bool ok;
  } rows[] = {
      {"eth0", true},  {"zl-abcdef123-b", true}, {"123456789012345", true},
      {"", false},     {"1234567890123456", false}, {"a/b", false},
      {"a b", false},  {"a:b", false},          {"..", false},
  };
  for (const auto& r : rows) {
    CAPTURE(r.name);
    CHECK(check_ifname(r.name).ok() == r.ok);
  }
}

TEST_CASE("a bridge request names the link, kind bridge and STP off") {
  auto r = build_new_bridge("zl-br0", true);
  CHECK(r.header()->nlmsg_type == RTM_NEWLINK);
  CHECK((r.header()->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL | NLM_F_REQUEST)) ==
        (NLM_F_CREATE | NLM_F_EXCL | NLM_F_REQUEST));
  auto top = attrs_of(r, sizeof(ifinfomsg));
  REQUIRE(top.count(IFLA_IFNAME));
  CHECK(std::string(mnl_attr_get_str(top[IFLA_IFNAME])) == "zl-br0");
  auto info = nested_of(top[IFLA_LINKINFO]);
  CHECK(std::string(mnl_attr_get_str(info[IFLA_INFO_KIND])) == "bridge");
  auto data = nested_of(info[IFLA_INFO_DATA]);
  REQUIRE(data.count(IFLA_BR_STP_STATE));
  CHECK(mnl_attr_get_u32(data[IFLA_BR_STP_STATE]) == 0);
  CHECK((build_new_bridge("zl-br0", false).header()->nlmsg_flags & NLM_F_EXCL) == 0);
}

TEST_CASE("a veth request carries the peer's ifinfomsg and name inside VETH_INFO_PEER") {
  auto r = build_new_veth("veth-1-a", "vc-1-a");
  auto top = attrs_of(r, sizeof(ifinfomsg));
  auto info = nested_of(top[IFLA_LINKINFO]);
  CHECK(std::string(mnl_attr_get_str(info[IFLA_INFO_KIND])) == "veth");
  auto data = nested_of(info[IFLA_INFO_DATA]);
  const nlattr* peer = data[VETH_INFO_PEER];
  REQUIRE(peer != nullptr);
  // Payload: ifinfomsg, then attributes.
  const char* p = static_cast<const char*>(mnl_attr_get_payload(peer));
  size_t len = mnl_attr_get_payload_len(peer);
  REQUIRE(len > MNL_ALIGN(sizeof(ifinfomsg)));
  const auto* name = reinterpret_cast<const nlattr*>(p + MNL_ALIGN(sizeof(ifinfomsg)));
  CHECK(mnl_attr_get_type(name) == IFLA_IFNAME);
  CHECK(std::string(mnl_attr_get_str(name)) == "vc-1-a");
}

TEST_CASE("moving a link carries the namespace fd and the new name in one request") {
  auto r = build_move_netns(7, 12, "eth0");
  const auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(r.header()));
  CHECK(ifi->ifi_index == 7);
  auto top = attrs_of(r, sizeof(ifinfomsg));
  CHECK(mnl_attr_get_u32(top[IFLA_NET_NS_FD]) == 12);
  CHECK(std::string(mnl_attr_get_str(top[IFLA_IFNAME])) == "eth0");
}

TEST_CASE("set up changes only IFF_UP; set down clears it") {
  auto up = build_set_flags(3, IFF_UP, IFF_UP);
  auto down = build_set_flags(3, 0, IFF_UP);
  const auto* u = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(up.header()));
  const auto* d = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(down.header()));
  CHECK(u->ifi_change == IFF_UP);
  CHECK(u->ifi_flags == IFF_UP);
  CHECK(d->ifi_flags == 0);
}

TEST_CASE("a link message parses into index, name, kind, master, flags and mtu") {
  // Build a kernel-style RTM_NEWLINK with the request builder itself.
  request r(RTM_NEWLINK, 0);
  auto* ifi = r.family_header<ifinfomsg>();
  ifi->ifi_index = 42;
  ifi->ifi_flags = IFF_UP | IFF_LOWER_UP;
  r.put_str(IFLA_IFNAME, "zl-x-b");
  r.put_u32(IFLA_MTU, 1420);
  r.put_u32(IFLA_MASTER, 9);
  void* li = r.begin_nest(IFLA_LINKINFO);
  r.put_str(IFLA_INFO_KIND, "bridge");
  r.end_nest(li);
  auto p = parse_link(r.header());
  REQUIRE(p);
  CHECK(p->index == 42);
  CHECK(p->name == "zl-x-b");
  CHECK(p->kind == "bridge");
  CHECK(p->master == 9);
  CHECK(p->mtu == 1420);
  CHECK(p->up());
}

TEST_CASE("a link message without a name or of another type is ignored") {
  request r(RTM_NEWLINK, 0);
  r.family_header<ifinfomsg>();
  CHECK_FALSE(parse_link(r.header()));
  request q(RTM_NEWADDR, 0);
  q.family_header<ifinfomsg>();
  q.put_str(IFLA_IFNAME, "x");
  CHECK_FALSE(parse_link(q.header()));
}

TEST_CASE("address requests carry family, prefix, local address and nodad for v6") {
  struct row {
    const char* cidr;
    int family;
    bool nodad_attr;
  } rows[] = {{"10.200.0.1/24", AF_INET, false}, {"fd00::1/64", AF_INET6, true}};
  for (const auto& row : rows) {
    CAPTURE(row.cidr);
    auto r = build_address(true, 5, C(row.cidr), true);
    const auto* ifa = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(r.header()));
    CHECK(ifa->ifa_family == row.family);
    CHECK(ifa->ifa_prefixlen == C(row.cidr).prefix_len());
    CHECK(ifa->ifa_index == 5);
    auto top = attrs_of(r, sizeof(ifaddrmsg));
    CHECK(mnl_attr_get_payload_len(top[IFA_LOCAL]) == C(row.cidr).address().size());
    CHECK(top.count(IFA_FLAGS) == (row.nodad_attr ? 1u : 0u));
    // Round trip: the same message, retyped, parses back.
    auto parsed = parse_address(r.header());
    REQUIRE(parsed);
    CHECK(parsed->addr == C(row.cidr));
    CHECK(parsed->index == 5);
  }
}

TEST_CASE("route families must agree before a request is built") {
  struct row {
    const char* dst;
    const char* gw;
    const char* src;
    bool ok;
  } rows[] = {
      {"10.0.0.5/32", nullptr, "10.0.0.1", true},
      {"fd00::5/128", nullptr, "fd00::1", true},
      {"0.0.0.0/0", "10.0.0.1", nullptr, true},
      {"10.0.0.5/32", nullptr, "fd00::1", false},
      {"fd00::5/128", nullptr, "10.0.0.1", false},
      {"0.0.0.0/0", "fd00::1", nullptr, false},
      {"::/0", "10.0.0.1", nullptr, false},
  };
  for (const auto& r : rows) {
    CAPTURE(r.dst);
    std::optional<net::ip_address> gw, src;
    if (r.gw) gw = A(r.gw);
    if (r.src) src = A(r.src);
    CHECK(check_route_families(C(r.dst), gw, src).ok() == r.ok);
  }
}

TEST_CASE("a device route is link scope with oif and preferred source; a default has a gateway") {
  auto r = build_route(route_op::replace, {C("10.200.1.7/32"), std::nullopt, A("10.200.0.1"), 4});
  const auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(r.header()));
  CHECK(rtm->rtm_scope == RT_SCOPE_LINK);
  CHECK(rtm->rtm_dst_len == 32);
  CHECK((r.header()->nlmsg_flags & NLM_F_REPLACE) != 0);
  auto top = attrs_of(r, sizeof(rtmsg));
  CHECK(mnl_attr_get_u32(top[RTA_OIF]) == 4);
  CHECK(top.count(RTA_PREFSRC) == 1);
  CHECK(top.count(RTA_GATEWAY) == 0);

  auto d = build_route(route_op::replace, {C("::/0"), A("fd00::1"), std::nullopt, 0});
  const auto* drtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(d.header()));
  CHECK(drtm->rtm_family == AF_INET6);
  CHECK(drtm->rtm_scope == RT_SCOPE_UNIVERSE);
  auto dtop = attrs_of(d, sizeof(rtmsg));
  CHECK(dtop.count(RTA_DST) == 0);
  CHECK(mnl_attr_get_payload_len(dtop[RTA_GATEWAY]) == 16);
}

TEST_CASE("default routes yield their output interfaces; other routes and tables none") {
  auto route = [](uint8_t dst_len, uint8_t table, uint8_t type) {
    auto q = std::make_unique<request>(RTM_NEWROUTE, 0);
    auto* rtm = q->family_header<rtmsg>();
    rtm->rtm_family = AF_INET6;
    rtm->rtm_dst_len = dst_len;
    rtm->rtm_table = table;
    rtm->rtm_type = type;
    return q;
  };
  auto plain = route(0, RT_TABLE_MAIN, RTN_UNICAST);
  plain->put_u32(RTA_OIF, 7);
  CHECK(default_route_oifs(plain->header()) == std::vector<int>{7});

  // ECMP: every hop of RTA_MULTIPATH.
  auto multi = route(0, RT_TABLE_MAIN, RTN_UNICAST);
  uint8_t hops[2 * sizeof(rtnexthop)] = {};
  for (int i = 0; i < 2; ++i) {
    rtnexthop nh{};
    nh.rtnh_len = sizeof(rtnexthop);
    nh.rtnh_ifindex = 3 + i;
    std::memcpy(hops + i * sizeof(rtnexthop), &nh, sizeof nh);
  }
  multi->put_bytes(RTA_MULTIPATH, hops, sizeof hops);
  CHECK(default_route_oifs(multi->header()) == std::vector<int>{3, 4});

  auto specific = route(64, RT_TABLE_MAIN, RTN_UNICAST);
  specific->put_u32(RTA_OIF, 7);
  CHECK(default_route_oifs(specific->header()).empty());
  auto other_table = route(0, 100, RTN_UNICAST);
  other_table->put_u32(RTA_OIF, 7);
  CHECK(default_route_oifs(other_table->header()).empty());
  auto blackhole = route(0, RT_TABLE_MAIN, RTN_BLACKHOLE);
  CHECK(default_route_oifs(blackhole->header()).empty());
}
