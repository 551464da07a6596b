#include "net/firewall/iptables.hpp"

#include <fstream>

#include "net/firewall/spawn.hpp"

namespace overlayd::firewall {

namespace {

// Upper bound on duplicate copies removed per rule (someone ran setup
// with an older build that did not check first, say).
constexpr int max_duplicate_removals = 16;

bool legacy_filter_present(net::family fam) {
  std::ifstream in(fam == net::family::v4 ? "/proc/net/ip_tables_names"
                                          : "/proc/net/ip6_tables_names");
  std::string line;
  while (std::getline(in, line))
    if (line == "filter") return true;
  return false;
}

// iptables-nft creates built-in chains lazily: a filter table made by
// `-P FORWARD DROP` has no INPUT chain, and even `-C INPUT` would create
// one. A missing chain filters nothing, so there is nothing to open in it;
// skipping it keeps the ruleset exactly as we found it. Legacy tables
// always have their built-in chains.
bool chain_present(nft_context& nft, const std::string& tool, const std::string& chain) {
  if (tool.find("legacy") != std::string::npos) return true;
  const char* fam = tool.rfind("ip6", 0) == 0 ? "ip6" : "ip";
  return nft.run(std::string("list chain ") + fam + " filter " + chain).ok();
}

}  // namespace

std::vector<iptables_rule> accept_rules_for(const net::cidr& cluster) {
  std::string n = cluster.normalized().to_string();
  return {
      {"INPUT", {"-s", n}},
      {"FORWARD", {"-s", n}},
      {"FORWARD", {"-d", n}},
  };
}

std::vector<std::string> iptables_argv(const std::string& tool, const char* op,
                                       const iptables_rule& r, const std::string& tag) {
  std::vector<std::string> a{tool, "-w", "5", op, r.chain};
  a.insert(a.end(), r.match.begin(), r.match.end());
  a.insert(a.end(), {"-m", "comment", "--comment", tag, "-j", "ACCEPT"});
  return a;
}

std::vector<std::string> filter_table_tools(nft_context& nft, net::family fam) {
  std::vector<std::string> tools;
  bool v4 = fam == net::family::v4;
  if (nft.run(v4 ? "list table ip filter" : "list table ip6 filter"))
    tools.push_back(v4 ? "iptables-nft" : "ip6tables-nft");
  if (legacy_filter_present(fam)) tools.push_back(v4 ? "iptables-legacy" : "ip6tables-legacy");
  return tools;
}

status ensure_iptables_accepts(nft_context& nft, const std::vector<net::cidr>& cidrs,
                               const std::string& tag) {
  for (const auto& c : cidrs) {
    for (const auto& tool : filter_table_tools(nft, c.fam())) {
      for (const auto& r : accept_rules_for(c)) {
        if (!chain_present(nft, tool, r.chain)) continue;
        auto check = run_tool(iptables_argv(tool, "-C", r, tag));
        if (!check) return std::move(check).err();
        if (*check == 0) continue;  // already there
        auto ins = run_tool(iptables_argv(tool, "-I", r, tag));
        if (!ins) return std::move(ins).err();
        if (*ins != 0)
          return error(errc::system, tool + " -I " + r.chain + " for " + c.to_string() +
                                         " exited with " + std::to_string(*ins));
      }
    }
  }
  return {};
}

status remove_iptables_accepts(nft_context& nft, const std::vector<net::cidr>& cidrs,
                               const std::string& tag) {
  status first_error;
  for (const auto& c : cidrs) {
    for (const auto& tool : filter_table_tools(nft, c.fam())) {
      for (const auto& r : accept_rules_for(c)) {
        if (!chain_present(nft, tool, r.chain)) continue;
        for (int i = 0; i < max_duplicate_removals; ++i) {
          auto check = run_tool(iptables_argv(tool, "-C", r, tag));
          if (!check || *check != 0) break;  // gone (or the tool is): done
          auto del = run_tool(iptables_argv(tool, "-D", r, tag));
          if (!del || *del != 0) {
            if (first_error)
              first_error = error(errc::system, tool + " -D " + r.chain + " for " + c.to_string() +
                                                    " failed");
            break;
          }
        }
      }
    }
  }
  return first_error;
}

}  // namespace overlayd::firewall
