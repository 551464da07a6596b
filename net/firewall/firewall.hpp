// overlayd's firewall: one nftables table of our own (`inet <table>`), plus
// accept rules in a pre-existing iptables filter table when there is one
// (see iptables.hpp). The seed's ensure_/remove_ functions map to:
//
//   ensure_overlay_subnet_rules  -> ensure_subnet_rules / remove_subnet_rules
//   ensure_overlay_masquerade    -> ensure_masquerade / remove_masquerade
//   ensure_member_isolation      -> ensure_member_isolation
//   remove_member_isolation      -> remove_member_isolation
//   remove_overlay_isolation     -> remove_overlay_isolation
//
// Every call is idempotent. remove_table() plus remove_subnet_rules() leave
// the ruleset as it was before the first ensure. Not thread-safe: one owner
// (an actor, the host mutator) per instance.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "net/firewall/nft.hpp"
#include "net/ip.hpp"

namespace overlayd::firewall {

struct firewall_config {
  std::string table = "overlayd";  // distinct per daemon / per test
  bool iptables_compat = true;     // also open a pre-existing iptables filter table
};

class firewall {
 public:
  static result<firewall> open(firewall_config cfg = {});

  const std::string& table() const noexcept { return cfg_.table; }
  // The comment tag on our iptables rules: "overlayd:<table>".
  std::string iptables_tag() const { return "overlayd:" + cfg_.table; }

  result<bool> table_exists();
  // Creates the table skeleton if it is missing (no-op when present).
  status ensure_table();
  // Deletes our table (absent = success). Does not touch iptables: call
  // remove_subnet_rules for that.
  status remove_table();

  // Accept the cluster CIDR(s) in input and forward: our table, and the
  // iptables filter table when present. Replaces a previous set of CIDRs.
  status ensure_subnet_rules(const std::vector<net::cidr>& cluster);
  status remove_subnet_rules(const std::vector<net::cidr>& cluster);

  // Masquerade traffic from the cluster CIDR(s) to anything outside them.
  status ensure_masquerade(const std::vector<net::cidr>& cluster);
  status remove_masquerade();

  // Fences `member` into `network`: it reaches the network's members, the
  // node IP and non-overlay destinations; no other overlay address reaches
  // it or is reached by it.
  status ensure_member_isolation(std::string_view network, const net::ip_address& member,
                                 const net::ip_address& node_ip, const net::cidr& cluster);
  status remove_member_isolation(std::string_view network, const net::ip_address& member);
  // Drops every network's set and chains (full overlay teardown).
  status remove_overlay_isolation();

  nft_context& nft() noexcept { return nft_; }
  // Forget what this instance believes exists (drift repair: someone else
  // changed our table, so probe everything again).
  void forget_cache() noexcept;

 private:
  firewall(firewall_config cfg, nft_context nft) : cfg_(std::move(cfg)), nft_(std::move(nft)) {}
  status run(const std::string& commands);

  status ensure_member_once(std::string_view network, const net::ip_address& member,
                            const net::ip_address& node_ip, const net::cidr& cluster);

  firewall_config cfg_;
  nft_context nft_;
  // What this instance created or saw, to skip nft probes on the hot path
  // (a member add is then one transaction). If someone else deletes our
  // objects, the transaction fails, the cache is dropped and we retry once.
  bool table_known_ = false;
  std::set<std::string> networks_known_;  // "<id>/<4|6>"
};

}  // namespace overlayd::firewall
