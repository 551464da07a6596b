// Accept rules in an existing iptables filter table.
//
// Hosts running Docker, UFW or firewalld often have `FORWARD` policy DROP in
// the iptables filter table. Netfilter runs every table's hooks and a DROP
// in any of them is final, so an accept in our own nft table does not let
// overlay traffic through theirs: we must also insert accepts *there*.
// There is no library API for iptables rules (libiptc is internal and
// unstable), so we run the `iptables-nft` / `iptables-legacy` tools, with a
// comment tag that makes our rules ours: check (-C) before insert (-I),
// delete (-D) until the check fails on teardown. We never create a filter
// table that is not there, never touch policies or anyone else's rules.
// Only chains that already exist are touched (iptables-nft creates built-in
// chains lazily; an absent chain filters nothing).
#pragma once

#include <string>
#include <vector>

#include "core/error.hpp"
#include "net/firewall/nft.hpp"
#include "net/ip.hpp"

namespace overlayd::firewall {

struct iptables_rule {
  std::string chain;               // INPUT or FORWARD
  std::vector<std::string> match;  // e.g. {"-s", "10.200.0.0/16"}
};

// The accept rules for one cluster CIDR (pure; unit-tested).
std::vector<iptables_rule> accept_rules_for(const net::cidr& cluster);
// argv for `<tool> -w 5 <op> <chain> <match> -m comment --comment <tag> -j ACCEPT`.
std::vector<std::string> iptables_argv(const std::string& tool, const char* op,
                                       const iptables_rule& r, const std::string& tag);

// The iptables tools whose filter table exists in this namespace for
// `fam`: "iptables-nft" when nft holds `table ip filter`, "iptables-legacy"
// when /proc/net/ip_tables_names lists filter (ip6* for v6).
std::vector<std::string> filter_table_tools(nft_context& nft, net::family fam);

status ensure_iptables_accepts(nft_context& nft, const std::vector<net::cidr>& cidrs,
                               const std::string& tag);
// Best-effort: removes every copy of our tagged rules; errors are returned
// after trying everything.
status remove_iptables_accepts(nft_context& nft, const std::vector<net::cidr>& cidrs,
                               const std::string& tag);

}  // namespace overlayd::firewall
