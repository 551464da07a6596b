#include "net/netlink/addr.hpp"

#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cerrno>

#include "net/netlink/addr_msg.hpp"
#include "net/netlink/limits.hpp"
#include "net/netlink/link.hpp"

namespace overlayd::netlink {

namespace {

status check_prefix(const net::cidr& addr) {
  if (addr.prefix_len() > addr.address().bits())
    return error(errc::invalid_argument, "address " + addr.to_string() + ": prefix too long");
  return {};
}

net::cidr host_cidr(const net::ip_address& ip) { return net::cidr(ip, ip.bits()); }

}  // namespace

status add_address(socket& s, std::string_view ifname, const net::cidr& addr, address_options opts) {
  OVERLAYD_TRY(check_prefix(addr));
  auto li = get_link(s, ifname);
  if (!li) return std::move(li).err();
  auto req = build_address(true, li->index, addr, opts.nodad);
  auto st = s.transact(req, "add address", addr.to_string() + " on " + std::string(ifname));
  if (!st && st.err().sys_errno == EEXIST) return {};
  return st;
}

status remove_address(socket& s, std::string_view ifname, const net::cidr& addr) {
  OVERLAYD_TRY(check_prefix(addr));
  auto li = get_link(s, ifname);
  if (!li) return std::move(li).err();
  auto req = build_address(false, li->index, addr, false);
  auto st = s.transact(req, "remove address", addr.to_string() + " on " + std::string(ifname));
  // EADDRNOTAVAIL: not there (or removed with its primary) = done.
  if (!st && st.err().sys_errno == EADDRNOTAVAIL) return {};
  return st;
}

status add_alias(socket& s, std::string_view ifname, const net::ip_address& ip) {
  return add_address(s, ifname, host_cidr(ip));
}

status remove_alias(socket& s, std::string_view ifname, const net::ip_address& ip) {
  return remove_address(s, ifname, host_cidr(ip));
}

result<std::vector<net::cidr>> list_addresses(socket& s, std::string_view ifname) {
  auto li = get_link(s, ifname);
  if (!li) return std::move(li).err();
  auto req = build_dump_addresses(AF_UNSPEC);
  std::vector<net::cidr> out;
  auto st = s.dump_stable(req, "list addresses", [&] { out.clear(); }, [&](const nlmsghdr* nlh) {
    auto pa = parse_address(nlh);
    if (pa && pa->index == li->index && out.size() < limits::max_dump_entries)
      out.push_back(pa->addr);
  });
  if (!st) return std::move(st).err();
  return out;
}

status flush_addresses(socket& s, std::string_view ifname) {
  auto addrs = list_addresses(s, ifname);
  if (!addrs) return std::move(addrs).err();
  // Removing a primary v4 address may take its secondaries with it; the
  // later removals then answer EADDRNOTAVAIL, which remove_address accepts.
  for (const auto& a : *addrs) OVERLAYD_TRY(remove_address(s, ifname, a));
  return {};
}

}  // namespace overlayd::netlink
