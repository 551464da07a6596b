#include "net/overlay/plumbing.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include "net/netlink/addr.hpp"
#include "net/netlink/link.hpp"
#include "net/netlink/netns.hpp"
#include "net/netlink/route.hpp"

namespace overlayd::overlay {

std::string veth_host_name(uint32_t pid, const std::string& tag) {
  return "veth-" + std::to_string(pid) + "-" + tag;
}

status create_bridge(host::mutator& host, const std::string& name, const net::cidr& gateway) {
  OVERLAYD_TRY(host.create_bridge(name));
  auto& nl = host.netlink();
  if (auto f = netlink::flush_addresses(nl, name); !f)
    spdlog::warn("flush addresses on {}: {} (non-fatal)", name, f.err().message);
  if (auto a = host.add_address(name, gateway); !a) {
    (void)host.delete_link(name);
    return a;
  }
  if (auto u = netlink::set_link_up(nl, name); !u) {
    (void)host.delete_link(name);
    return u;
  }
  return {};
}

namespace {
// Inside the container: address, up, lo up, default route.
status configure_inside(int ns, const veth_attach& a) {
  return netlink::run_in_netns(ns, [&]() -> status {
    auto s = netlink::socket::open();
    if (!s) return std::move(s).err();
    OVERLAYD_TRY(netlink::add_address(*s, a.container_iface, net::cidr(a.ip, a.prefix)));
    OVERLAYD_TRY(netlink::set_link_up(*s, a.container_iface));
    OVERLAYD_TRY(netlink::set_link_up(*s, "lo"));
    if (a.gateway) OVERLAYD_TRY(netlink::add_default_route(*s, *a.gateway));
    return {};
  });
}

status attach_steps(host::mutator& host, const veth_attach& a, int ns, const std::string& veth_host,
                    const std::string& pending) {
  auto& nl = host.netlink();
  OVERLAYD_TRY(host.create_veth(veth_host, pending));
  OVERLAYD_TRY(host.move_to_netns(pending, ns, a.container_iface));
  if (auto r = configure_inside(ns, a); !r)
    return error(r.err().code, "container netns ops: " + r.err().message, r.err().sys_errno);
  OVERLAYD_TRY(netlink::set_link_up(nl, veth_host));
  if (a.bridge) {
    OVERLAYD_TRY(netlink::set_master(nl, veth_host, *a.bridge));
  } else {
    const net::cidr host_route(a.ip, a.ip.bits());
    OVERLAYD_TRY(host.replace_route(host_route, veth_host, a.route_src));
  }
  // A host that will not let us write ip_forward (a read-only /proc/sys, a
  // policy) may already forward: warn and go on, as the seed does.
  if (auto f = host.enable_ipv4_forwarding(); !f)
    spdlog::warn("attach pid {}: enabling IPv4 forwarding failed ({}); containers reach other hosts "
                 "only if the host already forwards",
                 a.pid, f.err().message);
  if (a.ip.is_v6()) {
    (void)host.enable_ipv6_forwarding(veth_host);
    if (a.bridge) (void)host.enable_ipv6_forwarding(*a.bridge);
  }
  return {};
}
}  // namespace

status attach_veth(host::mutator& host, const veth_attach& a) {
  const std::string veth_host = veth_host_name(a.pid, a.tag);
  const std::string pending = "vc-" + std::to_string(a.pid) + "-" + a.tag;
  auto ns = netlink::netns_fd::of_pid(static_cast<int>(a.pid));
  if (!ns) return error(ns.err().code, "Failed to open /proc/" + std::to_string(a.pid) +
                                           "/ns/net: " + ns.err().message);
  // A process in our own namespace (a mistaken pid, a host-network
  // container) would get "eth0" and a default route via the bridge in the
  // host's namespace — replacing the host's own default route.
  // Likewise a process still in init's namespace (the host's; a container
  // runtime that has not yet moved it): its eth0 would land on the host.
  struct stat own {}, init {}, theirs {};
  const bool known = ::fstat(ns->get(), &theirs) == 0;
  auto same = [&](const struct stat& x) { return x.st_dev == theirs.st_dev && x.st_ino == theirs.st_ino; };
  if (known && ::stat("/proc/thread-self/ns/net", &own) == 0 && same(own))
    return error(errc::invalid_argument, "pid " + std::to_string(a.pid) +
                                             " is in the daemon's own network namespace; attach needs a "
                                             "container with a network namespace of its own");
  if (known && ::stat("/proc/1/ns/net", &init) == 0 && same(init))
    return error(errc::invalid_argument, "pid " + std::to_string(a.pid) +
                                             " is in the host's (pid 1's) network namespace; attach needs a "
                                             "container with a network namespace of its own");
  // Leftovers of an earlier attempt for this pid.
  OVERLAYD_TRY(netlink::delete_link(host.netlink(), veth_host));
  OVERLAYD_TRY(netlink::delete_link(host.netlink(), pending));
  auto r = attach_steps(host, a, ns->get(), veth_host, pending);
  if (!r) {
    (void)host.delete_link(veth_host);
    (void)host.delete_link(pending);
  }
  return r;
}

void detach_veths(host::mutator& host, uint32_t pid) {
  for (const char* tag : {"s", "g"}) {
    const std::string name = veth_host_name(pid, tag);
    if (auto d = host.delete_link(name); !d)
      spdlog::warn("detach {}: {}", name, d.err().message);
  }
}

}  // namespace overlayd::overlay
