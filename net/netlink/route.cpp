#include "net/netlink/route.hpp"

#include <algorithm>
#include <linux/rtnetlink.h>

#include <cerrno>
#include <optional>
#include <string>

#include "net/netlink/link.hpp"
#include "net/netlink/route_msg.hpp"

namespace overlayd::netlink {

status check_route_families(const net::cidr& dst, const std::optional<net::ip_address>& gateway,
                            const std::optional<net::ip_address>& src) {
  if (dst.prefix_len() > dst.address().bits())
    return error(errc::invalid_argument, "route " + dst.to_string() + ": prefix too long");
  if (gateway && gateway->fam() != dst.fam())
    return error(errc::invalid_argument, "route " + dst.to_string() + ": gateway " +
                                             gateway->to_string() + " is another address family");
  if (src && src->fam() != dst.fam())
    return error(errc::invalid_argument, "route " + dst.to_string() + ": source " +
                                             src->to_string() + " is another address family");
  return {};
}

namespace {

result<int> oif_of(socket& s, std::string_view dev) {
  if (dev.empty()) return 0;
  auto li = get_link(s, dev);
  if (!li) return std::move(li).err();
  return li->index;
}

}  // namespace

status add_default_route(socket& s, const net::ip_address& gateway, std::string_view dev) {
  route_spec r;
  r.dst = net::cidr(gateway.is_v4() ? net::ip_address() : net::ip_address::v6({}), 0);
  r.gateway = gateway;
  OVERLAYD_TRY(check_route_families(r.dst, r.gateway, r.src));
  auto oif = oif_of(s, dev);
  if (!oif) return std::move(oif).err();
  r.oif = *oif;
  auto req = build_route(route_op::replace, r);
  return s.transact(req, "add default route", "via " + gateway.to_string());
}

status replace_dev_route(socket& s, const net::cidr& dst, std::string_view dev,
                         std::optional<net::ip_address> src) {
  OVERLAYD_TRY(check_route_families(dst, std::nullopt, src));
  if (dev.empty()) return error(errc::invalid_argument, "route " + dst.to_string() + ": no device");
  route_spec r{dst, std::nullopt, src, 0};
  auto oif = oif_of(s, dev);
  if (!oif) return std::move(oif).err();
  r.oif = *oif;
  auto req = build_route(route_op::replace, r);
  return s.transact(req, "replace route", dst.to_string() + " dev " + std::string(dev));
}

result<bool> restore_dev_route(socket& s, const net::cidr& dst, std::string_view dev,
                               std::optional<net::ip_address> src) {
  OVERLAYD_TRY(check_route_families(dst, std::nullopt, src));
  auto oif = oif_of(s, dev);
  if (!oif) {
    if (oif.err().code == errc::not_found) return false;
    return std::move(oif).err();
  }
  route_spec r{dst, std::nullopt, src, *oif};
  auto req = build_route(route_op::add_new, r);
  auto st = s.transact(req, "restore route", dst.to_string() + " dev " + std::string(dev));
  if (st) return true;
  if (st.err().sys_errno == EEXIST) return false;
  return std::move(st).err();
}

status delete_route(socket& s, const net::cidr& dst, std::string_view dev) {
  OVERLAYD_TRY(check_route_families(dst, std::nullopt, std::nullopt));
  route_spec r{dst, std::nullopt, std::nullopt, 0};
  auto oif = oif_of(s, dev);
  if (!oif) {
    // The device is gone, and every route through it went with it.
    if (oif.err().code == errc::not_found) return {};
    return std::move(oif).err();
  }
  r.oif = *oif;
  auto req = build_route(route_op::remove, r);
  auto st = s.transact(req, "delete route", dst.to_string());
  if (!st && st.err().sys_errno == ESRCH) return {};
  return st;
}

result<std::vector<std::string>> default_route_devices(socket& s, net::family fam) {
  auto req = build_dump_routes(fam == net::family::v4 ? AF_INET : AF_INET6);
  std::vector<int> oifs;
  auto st = s.dump_stable(req, "list routes", [&] { oifs.clear(); }, [&](const nlmsghdr* nlh) {
    for (int i : default_route_oifs(nlh))
      if (oifs.size() < 64 && std::find(oifs.begin(), oifs.end(), i) == oifs.end()) oifs.push_back(i);
  });
  if (!st) return std::move(st).err();
  std::vector<std::string> names;
  for (int i : oifs)
    if (auto l = get_link(s, i)) names.push_back(l->name);
  return names;
}

namespace {

result<uint32_t> mtu_of(socket& s, const parsed_route& r, std::string_view what) {
  if (r.mtu) return r.mtu;
  if (r.oif <= 0) return error(errc::not_found, std::string(what) + ": the route has no single device");
  auto li = get_link(s, r.oif);
  if (!li) return std::move(li).err();
  return li->mtu;
}

}  // namespace

result<uint32_t> route_mtu(socket& s, const net::ip_address& dst) {
  auto req = build_get_route(dst);
  std::optional<parsed_route> found;
  auto st = s.transact(req, "get route", dst.to_string(), [&](const nlmsghdr* nlh) {
    if (!found) found = parse_route(nlh);
  });
  if (!st) {
    if (st.err().sys_errno == ENETUNREACH || st.err().sys_errno == EHOSTUNREACH)
      return error(errc::not_found, "no route to " + dst.to_string());
    return std::move(st).err();
  }
  if (!found || (found->type != RTN_UNICAST && found->type != RTN_LOCAL))
    return error(errc::not_found, "no unicast route to " + dst.to_string());
  return mtu_of(s, *found, "route to " + dst.to_string());
}

result<uint32_t> default_route_mtu(socket& s, bool v6) {
  auto req = build_dump_routes(v6 ? AF_INET6 : AF_INET);
  std::optional<parsed_route> found;
  auto st = s.dump_stable(req, "list routes", [&] { found.reset(); }, [&](const nlmsghdr* nlh) {
    if (found) return;
    auto r = parse_route(nlh);
    if (r && r->dst_len == 0 && r->table == RT_TABLE_MAIN && r->type == RTN_UNICAST) found = r;
  });
  if (!st) return std::move(st).err();
  const char* what = v6 ? "IPv6 default route" : "IPv4 default route";
  if (!found) return error(errc::not_found, std::string("no ") + what);
  return mtu_of(s, *found, what);
}

}  // namespace overlayd::netlink
