#include "net/host/replay_policy.hpp"

#include <algorithm>

#include "net/host/sysctl.hpp"
#include "net/ip.hpp"
#include "net/names.hpp"

namespace overlayd::host {

namespace {

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         c == '.';
}

bool small_number(std::string_view v) {
  return !v.empty() && v.size() <= 2 && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The device of a per-interface v6 forwarding key we write, if `key` is one.
std::optional<std::string> v6_forwarding_dev(const std::string& key) {
  constexpr std::string_view prefix = "net.ipv6.conf.";
  if (key.rfind(prefix, 0) != 0) return std::nullopt;
  for (std::string_view leaf : {".forwarding", ".force_forwarding"}) {
    if (key.size() <= prefix.size() + leaf.size() || key.compare(key.size() - leaf.size(), leaf.size(), leaf) != 0)
      continue;
    std::string dev = key.substr(prefix.size(), key.size() - prefix.size() - leaf.size());
    std::replace(dev.begin(), dev.end(), '/', '.');  // sysctl(8) notation
    if (key == ipv6_forwarding_key(dev) || key == ipv6_force_forwarding_key(dev)) return dev;
  }
  return std::nullopt;
}

}  // namespace

bool is_our_link_name(std::string_view name) {
  if (name.size() > net::max_ifname_len || !std::all_of(name.begin(), name.end(), name_char)) return false;
  if (name.rfind("zl-", 0) == 0) return name.size() > 3;
  if (name.rfind("veth-", 0) != 0) return false;
  auto rest = name.substr(5);
  auto dash = rest.find('-');
  if (dash == 0 || dash == std::string_view::npos || dash + 1 == rest.size()) return false;
  return std::all_of(rest.begin(), rest.begin() + static_cast<long>(dash), [](char c) { return c >= '0' && c <= '9'; });
}

replay_policy replay_policy::for_config(std::string table, const manager_dirs& dirs) {
  return {std::move(table),
          {dirs.networkd + "/" + networkd_dropin_name, dirs.network_manager + "/" + nm_dropin_name}};
}

std::optional<std::string> replay_policy::reject(const change& c) const {
  auto need_link = [&](const std::string& key) -> std::optional<std::string> {
    if (is_our_link_name(c.param(key))) return std::nullopt;
    return key + " '" + c.param(key) + "' is not a link name of ours";
  };
  switch (c.kind) {
    case change_kind::link:
      return need_link("name");
    case change_kind::address:
      if (auto r = need_link("dev")) return r;
      if (!net::cidr::parse(c.param("cidr"))) return "cidr does not parse";
      return std::nullopt;
    case change_kind::route:
      if (auto r = need_link("dev")) return r;
      if (!net::cidr::parse(c.param("dst"))) return "dst does not parse";
      return std::nullopt;
    case change_kind::sysctl: {
      const std::string key = c.param("key");
      bool ours = key == ipv4_forward_key;
      if (!ours)
        if (auto dev = v6_forwarding_dev(key)) ours = is_our_link_name(*dev);
      if (!ours) return "sysctl '" + key + "' is not one we set";
      if (!small_number(c.param("prev"))) return "sysctl prev value '" + c.param("prev") + "' is not one we saved";
      return std::nullopt;
    }
    case change_kind::file:
      if (std::find(files.begin(), files.end(), c.param("path")) == files.end())
        return "file '" + c.param("path") + "' is not one of our drop-ins";
      return std::nullopt;
    case change_kind::nft_table:
    case change_kind::nft_masquerade:
    case change_kind::nft_subnet:
    case change_kind::nft_member:
      if (c.param("table") != table) return "nft table '" + c.param("table") + "' is not ours ('" + table + "')";
      if (c.kind == change_kind::nft_subnet && !net::parse_cidr_list(c.param("cidrs"))) return "cidrs do not parse";
      if (c.kind == change_kind::nft_member) {
        if (!net::ip_address::parse(c.param("ip"))) return "ip does not parse";
        const std::string n = c.param("network");  // as ensure_member_isolation accepts it
        if (n.empty() || n.size() > 128 || !std::all_of(n.begin(), n.end(), [](char ch) { return ch >= 0x20 && ch < 0x7f; }))
          return "isolation network name is not one we write";
      }
      return std::nullopt;
  }
  return "unknown kind";
}

}  // namespace overlayd::host
