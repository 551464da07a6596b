// Which journal entries a restart may replay. The journal sits in the data
// dir and is replayed as root, so an entry is trusted only when it has a
// shape the mutator itself writes (see the table in mutator.hpp):
//
//   link            name by our scheme: `zl-*`, or `veth-<pid>-<tag>`
//   address, route  on such a link; the CIDR parses
//   sysctl          net.ipv4.ip_forward, or net.ipv6.conf.<our link>.
//                   {forwarding,force_forwarding}; "prev" a small number
//   file            exactly one of our network-manager drop-in paths
//   nft_*           our own table; its CIDRs / IP parse
//
// Anything else (a planted `sysctl kernel.core_pattern`, a `file /etc/...`,
// a `link eth0`, someone else's nft table) is skipped and logged, never run.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/host/journal.hpp"
#include "net/host/netmgr.hpp"

namespace overlayd::host {

struct replay_policy {
  std::string table;                // our nftables table
  std::vector<std::string> files;   // the drop-in paths we write

  static replay_policy for_config(std::string table, const manager_dirs& dirs);
  // Why `c` is not ours to replay; nullopt when it is.
  std::optional<std::string> reject(const change& c) const;
};

// `zl-` + name characters, or `veth-<digits>-<tag>`; at most 15 bytes.
bool is_our_link_name(std::string_view name);

}  // namespace overlayd::host
