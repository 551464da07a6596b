// overlay-hostctl: drives net/netlink, net/firewall and net/host from the
// shell, for the system tests (tests/system/host_*.sh) and for poking at a
// node by hand. Not the daemon: no state beyond the journal in --data.
//
//   overlay-hostctl [--data DIR] [--table T] [--networkd DIR] [--nm DIR]
//                   [--no-iptables] COMMAND ARGS...
//   overlay-hostctl ... batch < commands   (one command per line; "sleep N",
//                                           "print TEXT" for test choreography)
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "net/host/mutator.hpp"
#include "net/host/sweep.hpp"
#include "net/netlink/addr.hpp"
#include "net/netlink/link.hpp"
#include "net/netlink/netns.hpp"
#include "net/netlink/route.hpp"

using namespace overlayd;
namespace nl = overlayd::netlink;
using args_t = std::vector<std::string>;

namespace {

struct options {
  host::mutator_config cfg;
};

struct ctx {
  options opt;
  std::optional<nl::socket> sock;
  std::optional<host::mutator> mut;

  result<nl::socket*> nls() {
    if (!sock) {
      auto s = nl::socket::open();
      if (!s) return std::move(s).err();
      sock.emplace(std::move(*s));
    }
    return &*sock;
  }
  result<host::mutator*> m() {
    if (!mut) {
      if (opt.cfg.data_dir.empty()) return error(errc::invalid_argument, "this command needs --data DIR");
      auto r = host::mutator::open(opt.cfg);
      if (!r) return std::move(r).err();
      mut.emplace(std::move(*r));
    }
    return &*mut;
  }
};

status run_command(ctx& c, const args_t& a);

#define NLS()                                \
  auto nls_r = c.nls();                      \
  if (!nls_r) return std::move(nls_r).err(); \
  nl::socket& s = **nls_r
#define MUT()                              \
  auto mut_r = c.m();                      \
  if (!mut_r) return std::move(mut_r).err(); \
  host::mutator& m = **mut_r

result<net::cidr> C(const std::string& t) { return net::cidr::parse(t); }
result<net::ip_address> A(const std::string& t) { return net::ip_address::parse(t); }

#define PARSE(var, fn, text)                 \
  auto var##_r = fn(text);                   \
  if (!var##_r) return std::move(var##_r).err(); \
  auto var = *var##_r

status cmd_links(ctx& c, const args_t& a) {
  NLS();
  const auto& op = a[0];
  if (op == "link-get") {
    auto li = nl::get_link(s, a.at(1));
    if (!li) return std::move(li).err();
    std::printf("index=%d name=%s kind=%s master=%d mtu=%u up=%d\n", li->index, li->name.c_str(),
                li->kind.c_str(), li->master, li->mtu, li->up() ? 1 : 0);
    return {};
  }
  if (op == "link-count") {
    auto l = nl::list_links(s);
    if (!l) return std::move(l).err();
    std::printf("%zu\n", l->size());
    return {};
  }
  if (op == "link-up") return nl::set_link_up(s, a.at(1), true);
  if (op == "link-down") return nl::set_link_up(s, a.at(1), false);
  if (op == "link-mtu") return nl::set_mtu(s, a.at(1), static_cast<uint32_t>(std::stoul(a.at(2))));
  if (op == "link-del") return nl::delete_link(s, a.at(1));
  if (op == "bridge") return nl::create_bridge(s, a.at(1));
  if (op == "veth") return nl::create_veth(s, a.at(1), a.at(2));
  if (op == "master") return nl::set_master(s, a.at(1), a.at(2));
  if (op == "members") {
    auto n = nl::bridge_member_count(s, a.at(1));
    if (!n) return std::move(n).err();
    std::printf("%zu\n", *n);
    return {};
  }
  if (op == "move") {
    auto ns = nl::netns_fd::of_name(a.at(2));
    if (!ns) return std::move(ns).err();
    return nl::move_to_netns(s, a.at(1), ns->get(), a.at(3));
  }
  return error(errc::invalid_argument, "unknown command " + op);
}

status cmd_addrs(ctx& c, const args_t& a) {
  NLS();
  const auto& op = a[0];
  if (op == "addr-list" || op == "addr-flush") {
    if (op == "addr-flush") return nl::flush_addresses(s, a.at(1));
    auto l = nl::list_addresses(s, a.at(1));
    if (!l) return std::move(l).err();
    for (const auto& x : *l) std::printf("%s\n", x.to_string().c_str());
    return {};
  }
  if (op == "alias-add" || op == "alias-del") {
    PARSE(ip, A, a.at(2));
    return op == "alias-add" ? nl::add_alias(s, a.at(1), ip) : nl::remove_alias(s, a.at(1), ip);
  }
  if (op == "addr-add" || op == "addr-del") {
    PARSE(cidr, C, a.at(2));
    return op == "addr-add" ? nl::add_address(s, a.at(1), cidr) : nl::remove_address(s, a.at(1), cidr);
  }
  if (op == "route-default") {
    PARSE(gw, A, a.at(1));
    return nl::add_default_route(s, gw, a.size() > 2 ? a[2] : std::string());
  }
  if (op == "route-replace") {
    PARSE(dst, C, a.at(1));
    std::optional<net::ip_address> src;
    if (a.size() > 3) {
      PARSE(sip, A, a[3]);
      src = sip;
    }
    return nl::replace_dev_route(s, dst, a.at(2), src);
  }
  if (op == "route-del") {
    PARSE(dst, C, a.at(1));
    return nl::delete_route(s, dst, a.size() > 2 ? a[2] : std::string());
  }
  return error(errc::invalid_argument, "unknown command " + op);
}

status cmd_mutator_net(ctx& c, const args_t& a) {
  MUT();
  const auto& op = a[0];
  if (op == "m-bridge") return m.create_bridge(a.at(1));
  if (op == "m-veth") return m.create_veth(a.at(1), a.at(2));
  if (op == "m-del") return m.delete_link(a.at(1));
  if (op == "m-move") {
    auto ns = nl::netns_fd::of_name(a.at(2));
    if (!ns) return std::move(ns).err();
    return m.move_to_netns(a.at(1), ns->get(), a.at(3));
  }
  if (op == "m-addr" || op == "m-unaddr") {
    PARSE(cidr, C, a.at(2));
    return op == "m-addr" ? m.add_address(a.at(1), cidr) : m.remove_address(a.at(1), cidr);
  }
  if (op == "m-route") {
    PARSE(dst, C, a.at(1));
    std::optional<net::ip_address> src;
    if (a.size() > 3) {
      PARSE(sip, A, a[3]);
      src = sip;
    }
    return m.replace_route(dst, a.at(2), src);
  }
  if (op == "m-unroute") {
    PARSE(dst, C, a.at(1));
    return m.delete_route(dst, a.at(2));
  }
  if (op == "m-fwd4") return m.enable_ipv4_forwarding();
  if (op == "m-fwd6") return m.enable_ipv6_forwarding(a.at(1));
  if (op == "m-unmanaged") return m.mark_unmanaged();
  if (op == "m-managed") return m.unmark_unmanaged();
  return error(errc::invalid_argument, "unknown command " + op);
}

status cmd_mutator_fw(ctx& c, const args_t& a) {
  MUT();
  const auto& op = a[0];
  if (op == "m-subnet" || op == "m-unsubnet" || op == "m-masq") {
    PARSE(cidrs, net::parse_cidr_list, a.at(1));
    if (op == "m-subnet") return m.ensure_subnet_rules(cidrs);
    if (op == "m-unsubnet") return m.remove_subnet_rules(cidrs);
    return m.ensure_masquerade(cidrs);
  }
  if (op == "m-unmasq") return m.remove_masquerade();
  if (op == "m-member") {
    PARSE(ip, A, a.at(2));
    PARSE(node, A, a.at(3));
    PARSE(cluster, C, a.at(4));
    return m.ensure_member_isolation(a.at(1), ip, node, cluster);
  }
  if (op == "m-unmember") {
    PARSE(ip, A, a.at(2));
    return m.remove_member_isolation(a.at(1), ip);
  }
  if (op == "m-unisolate") return m.remove_overlay_isolation();
  if (op == "revert") return m.revert_all();
  if (op == "recover") {
    bool adopt = a.size() > 1 && a[1] == "adopt";
    std::printf("leftover=%zu\n", m.leftover_changes());
    return m.recover(adopt ? host::recovery_mode::adopt : host::recovery_mode::revert);
  }
  if (op == "journal") {
    for (const auto& e : m.changes()) std::printf("%s\n", e.describe().c_str());
    return {};
  }
  return error(errc::invalid_argument, "unknown command " + op);
}

status cmd_batch(ctx& c) {
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    args_t a;
    for (std::string w; in >> w;) a.push_back(w);
    if (a.empty() || a[0][0] == '#') continue;
    if (a[0] == "sleep") {
      ::sleep(static_cast<unsigned>(std::stoul(a.at(1))));
      continue;
    }
    if (a[0] == "print") {
      std::printf("%s\n", line.substr(6).c_str());
      std::fflush(stdout);
      continue;
    }
    OVERLAYD_TRY(run_command(c, a));
  }
  return {};
}

status run_command(ctx& c, const args_t& a) {
  const auto& op = a[0];
  if (op == "batch") return cmd_batch(c);
  if (op == "in-netns") {
    // The rest runs on a thread inside the namespace, with its own socket.
    auto ns = nl::netns_fd::of_name(a.at(1));
    if (!ns) return std::move(ns).err();
    args_t rest(a.begin() + 2, a.end());
    if (rest.empty()) return error(errc::invalid_argument, "in-netns needs a command");
    options opt = c.opt;
    return nl::run_in_netns(ns->get(), [&]() -> status {
      ctx inner{opt, {}, {}};
      return run_command(inner, rest);
    });
  }
  if (op == "sweep-veths") {
    NLS();
    auto r = host::sweep_orphan_veths(s);
    if (!r) return std::move(r).err();
    for (const auto& n : *r) std::printf("deleted %s\n", n.c_str());
    return {};
  }
  if (op.starts_with("link-") || op == "bridge" || op == "veth" || op == "master" ||
      op == "members" || op == "move")
    return cmd_links(c, a);
  if (op.starts_with("addr-") || op.starts_with("alias-") || op.starts_with("route-"))
    return cmd_addrs(c, a);
  if (op == "m-subnet" || op == "m-unsubnet" || op == "m-masq" || op == "m-unmasq" ||
      op == "m-member" || op == "m-unmember" || op == "m-unisolate" || op == "revert" ||
      op == "recover" || op == "journal")
    return cmd_mutator_fw(c, a);
  if (op.starts_with("m-")) return cmd_mutator_net(c, a);
  return error(errc::invalid_argument, "unknown command " + op);
}

int usage() {
  std::fprintf(stderr,
               "usage: overlay-hostctl [--data DIR] [--table T] [--networkd DIR] [--nm DIR]\n"
               "                       [--no-iptables] COMMAND ARGS...  (see hostctl_main.cpp)\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  opt.cfg.managers = {"", ""};  // drop-ins only where asked (tests inject dirs)
  int i = 1;
  for (; i < argc && std::string(argv[i]).starts_with("--"); ++i) {
    std::string o = argv[i];
    if (o == "--no-iptables") {
      opt.cfg.firewall.iptables_compat = false;
      continue;
    }
    if (i + 1 >= argc) return usage();
    std::string v = argv[++i];
    if (o == "--data") opt.cfg.data_dir = v;
    else if (o == "--table") opt.cfg.firewall.table = v;
    else if (o == "--networkd") opt.cfg.managers.networkd = v;
    else if (o == "--nm") opt.cfg.managers.network_manager = v;
    else return usage();
  }
  if (i >= argc) return usage();
  args_t a(argv + i, argv + argc);
  ctx c{opt, {}, {}};
  status st;
  try {
    st = run_command(c, a);
  } catch (const std::exception& e) {  // std::stoul / vector::at on bad input
    std::fprintf(stderr, "overlay-hostctl: %s: bad arguments (%s)\n", a[0].c_str(), e.what());
    return 2;
  }
  if (!st) {
    std::fprintf(stderr, "overlay-hostctl: %s: %s\n", a[0].c_str(), st.err().message.c_str());
    return 1;
  }
  return 0;
}
