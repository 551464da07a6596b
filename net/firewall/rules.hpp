// The nftables text of overlayd's own table, rendered from domain values.
// Pure functions, no context: firewall.cpp runs what these return, and the
// unit tests check it. Layout of `table inet <T>`:
//
//   map iso_src4/iso_dst4 (ipv4_addr : verdict), iso_src6/iso_dst6 (ipv6)
//        member address -> jump to its network's chain (src side / dst side)
//   set  m4_<net> / m6_<net>   the members of one isolation network
//   chain s4_<net>  daddr in own set / node IP -> accept; daddr in cluster -> drop
//   chain d4_<net>  the mirror on saddr (so non-members cannot reach in)
//   chain subnet_in, subnet_fwd   cluster CIDR accepts (ensure_subnet_rules)
//   chain masq                    overlay-sourced egress masquerade
//   base chains input / forward / postrouting (policy accept) jump to them;
//   forward consults the isolation maps before the cluster accepts.
//
// `table bridge <T>` twins the isolation part (maps, sets, s/d chains and a
// forward hook) for frames bridged between ports of one bridge, which never
// reach the inet forward hook (no br_netfilter needed).
//
// Adding a member to an existing network is six element adds in one
// transaction (its set and the two maps, in both tables), never a rule per
// pair.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "net/ip.hpp"

namespace overlayd::firewall {

// Table names: [A-Za-z0-9_-], 1..32 chars, starting with a letter.
status check_table_name(std::string_view name);

// A chain/set-safe id for an isolation network name: the name itself when
// it is short and [A-Za-z0-9_], else "h" + 16 hex digits of its FNV-1a hash.
std::string network_id(std::string_view network);

std::string render_table_exists_probe(std::string_view table);
std::string render_skeleton(std::string_view table);

std::string render_subnet_rules(std::string_view table, const std::vector<net::cidr>& cidrs);
std::string render_clear_subnet_rules(std::string_view table);
std::string render_masquerade(std::string_view table, const std::vector<net::cidr>& cidrs);
std::string render_clear_masquerade(std::string_view table);

// Set + both chains of one network in one family, with their rules.
std::string render_network(std::string_view table, std::string_view net_id, net::family fam,
                           const net::ip_address& node_ip, const net::cidr& cluster);
std::string render_network_probe(std::string_view table, std::string_view net_id,
                                 net::family fam);
std::string render_member_add(std::string_view table, std::string_view net_id,
                              const net::ip_address& member);
// The element deletes (both tables), one command each (so each can fail alone).
std::vector<std::string> render_member_remove(std::string_view table, std::string_view net_id,
                                              const net::ip_address& member);

// Validates that member, node IP and cluster are of one family and the
// cluster prefix is sane.
status check_isolation_args(const net::ip_address& member, const net::ip_address& node_ip,
                            const net::cidr& cluster);

}  // namespace overlayd::firewall
