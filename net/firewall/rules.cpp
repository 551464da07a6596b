#include "net/firewall/rules.hpp"

#include <cstdio>

namespace overlayd::firewall {

namespace {

char fam_digit(net::family f) { return f == net::family::v4 ? '4' : '6'; }
const char* fam_kw(net::family f) { return f == net::family::v4 ? "ip" : "ip6"; }
const char* fam_type(net::family f) { return f == net::family::v4 ? "ipv4_addr" : "ipv6_addr"; }

std::string T(std::string_view table) { return "inet " + std::string(table); }

bool ident_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

}  // namespace

status check_table_name(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 32 &&
            ((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z'));
  for (char c : name) ok = ok && (ident_char(c) || c == '-');
  if (!ok)
    return error(errc::invalid_argument,
                 "nft table name '" + std::string(name) + "': want [A-Za-z][A-Za-z0-9_-]{0,31}");
  return {};
}

std::string network_id(std::string_view network) {
  bool plain = !network.empty() && network.size() <= 40;
  for (char c : network) plain = plain && ident_char(c);
  if (plain) return "n_" + std::string(network);
  uint64_t h = 1469598103934665603ull;  // FNV-1a 64
  for (unsigned char c : network) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[24];
  std::snprintf(buf, sizeof buf, "h%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string render_table_exists_probe(std::string_view table) { return "list table " + T(table); }

std::string render_skeleton(std::string_view table) {
  std::string t = "table " + T(table) + " {\n";
  for (const char* dir : {"src", "dst"}) {
    for (net::family f : {net::family::v4, net::family::v6})
      t += std::string("  map iso_") + dir + fam_digit(f) + " { type " + fam_type(f) +
           " : verdict; }\n";
  }
  t += "  chain subnet_in { }\n  chain subnet_fwd { }\n  chain masq { }\n";
  t += "  chain input {\n    type filter hook input priority filter; policy accept;\n"
       "    jump subnet_in\n  }\n";
  t += "  chain forward {\n    type filter hook forward priority filter; policy accept;\n"
       "    ip saddr vmap @iso_src4\n    ip daddr vmap @iso_dst4\n"
       "    ip6 saddr vmap @iso_src6\n    ip6 daddr vmap @iso_dst6\n"
       "    jump subnet_fwd\n  }\n";
  t += "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n"
       "    jump masq\n  }\n";
  t += "}\n";
  // The bridge twin: frames between two ports of one bridge (a shared
  // bridge) never reach the inet forward hook, so isolation is applied to
  // bridged traffic here, with the same maps, sets and chains.
  t += "table bridge " + std::string(table) + " {\n";
  for (const char* dir : {"src", "dst"}) {
    for (net::family f : {net::family::v4, net::family::v6})
      t += std::string("  map iso_") + dir + fam_digit(f) + " { type " + fam_type(f) +
           " : verdict; }\n";
  }
  t += "  chain forward {\n    type filter hook forward priority filter; policy accept;\n"
       "    ip saddr vmap @iso_src4\n    ip daddr vmap @iso_dst4\n"
       "    ip6 saddr vmap @iso_src6\n    ip6 daddr vmap @iso_dst6\n  }\n";
  t += "}\n";
  return t;
}

std::string render_clear_subnet_rules(std::string_view table) {
  return "flush chain " + T(table) + " subnet_in\nflush chain " + T(table) + " subnet_fwd\n";
}

std::string render_subnet_rules(std::string_view table, const std::vector<net::cidr>& cidrs) {
  std::string t = render_clear_subnet_rules(table);
  for (const auto& c : cidrs) {
    std::string kw = fam_kw(c.fam()), n = c.normalized().to_string();
    t += "add rule " + T(table) + " subnet_in " + kw + " saddr " + n + " accept\n";
    t += "add rule " + T(table) + " subnet_fwd " + kw + " saddr " + n + " accept\n";
    t += "add rule " + T(table) + " subnet_fwd " + kw + " daddr " + n + " accept\n";
  }
  return t;
}

std::string render_clear_masquerade(std::string_view table) {
  return "flush chain " + T(table) + " masq\n";
}

std::string render_masquerade(std::string_view table, const std::vector<net::cidr>& cidrs) {
  std::string t = render_clear_masquerade(table);
  for (const auto& c : cidrs) {
    // Overlay source leaving for a non-overlay destination: SNAT to the
    // egress interface's address so replies route back to this node.
    std::string kw = fam_kw(c.fam()), n = c.normalized().to_string();
    t += "add rule " + T(table) + " masq " + kw + " saddr " + n + " " + kw + " daddr != " + n +
         " masquerade\n";
  }
  return t;
}

std::string render_network_probe(std::string_view table, std::string_view net_id,
                                 net::family fam) {
  return "list set " + T(table) + " m" + fam_digit(fam) + "_" + std::string(net_id);
}

std::string render_network(std::string_view table, std::string_view net_id, net::family fam,
                           const net::ip_address& node_ip, const net::cidr& cluster) {
  const std::string d(1, fam_digit(fam)), id(net_id), kw = fam_kw(fam);
  const std::string set = "m" + d + "_" + id, s = "s" + d + "_" + id, dd = "d" + d + "_" + id;
  const std::string node = node_ip.to_string(), cl = cluster.normalized().to_string();
  std::string t;
  for (const std::string tf : {"inet ", "bridge "}) {
    const std::string tt = tf + std::string(table);
    t += "add set " + tt + " " + set + " { type " + fam_type(fam) + "; }\n";
    t += "add chain " + tt + " " + s + "\n";
    t += "add chain " + tt + " " + dd + "\n";
    t += "flush chain " + tt + " " + s + "\n";
    t += "flush chain " + tt + " " + dd + "\n";
    // Source side: own network, the node IP (DNS, gateway) and egress pass;
    // any other overlay address is dropped.
    t += "add rule " + tt + " " + s + " " + kw + " daddr @" + set + " accept\n";
    t += "add rule " + tt + " " + s + " " + kw + " daddr " + node + " accept\n";
    t += "add rule " + tt + " " + s + " " + kw + " daddr " + cl + " drop\n";
    // Destination side, the mirror: only own network and the node reach in.
    t += "add rule " + tt + " " + dd + " " + kw + " saddr @" + set + " accept\n";
    t += "add rule " + tt + " " + dd + " " + kw + " saddr " + node + " accept\n";
    t += "add rule " + tt + " " + dd + " " + kw + " saddr " + cl + " drop\n";
  }
  return t;
}

std::string render_member_add(std::string_view table, std::string_view net_id,
                              const net::ip_address& member) {
  const std::string d(1, fam_digit(member.fam())), id(net_id), m = member.to_string();
  std::string t;
  for (const std::string tf : {"inet ", "bridge "}) {
    const std::string tt = tf + std::string(table);
    t += "add element " + tt + " m" + d + "_" + id + " { " + m + " }\n";
    t += "add element " + tt + " iso_src" + d + " { " + m + " : jump s" + d + "_" + id + " }\n";
    t += "add element " + tt + " iso_dst" + d + " { " + m + " : jump d" + d + "_" + id + " }\n";
  }
  return t;
}

std::vector<std::string> render_member_remove(std::string_view table, std::string_view net_id,
                                              const net::ip_address& member) {
  const std::string d(1, fam_digit(member.fam())), id(net_id), m = member.to_string();
  std::vector<std::string> out;
  for (const std::string tf : {"inet ", "bridge "}) {
    const std::string tt = tf + std::string(table);
    out.push_back("delete element " + tt + " iso_src" + d + " { " + m + " }\n");
    out.push_back("delete element " + tt + " iso_dst" + d + " { " + m + " }\n");
    out.push_back("delete element " + tt + " m" + d + "_" + id + " { " + m + " }\n");
  }
  return out;
}

status check_isolation_args(const net::ip_address& member, const net::ip_address& node_ip,
                            const net::cidr& cluster) {
  if (member.fam() != node_ip.fam() || member.fam() != cluster.fam())
    return error(errc::invalid_argument, "isolation of " + member.to_string() + ": node IP " +
                                             node_ip.to_string() + " and cluster " +
                                             cluster.to_string() + " must be the same family");
  if (cluster.prefix_len() > cluster.address().bits())
    return error(errc::invalid_argument, "cluster " + cluster.to_string() + ": bad prefix");
  return {};
}

}  // namespace overlayd::firewall
