#include "net/host/sweep.hpp"

#include <charconv>

#include "net/host/files.hpp"
#include "net/netlink/link.hpp"

namespace overlayd::host {

bool is_orphan_service_bridge(std::string_view name, const std::set<std::string, std::less<>>& live,
                              const std::set<std::string, std::less<>>& protected_) {
  if (!name.starts_with("zl-")) return false;
  if (!(name.ends_with("-b") || name.ends_with("-d"))) return false;
  return !live.contains(name) && !protected_.contains(name);
}

std::optional<int> veth_owner_pid(std::string_view name) {
  std::string_view rest;
  if (name.starts_with("veth-"))
    rest = name.substr(5);
  else if (name.starts_with("vc-"))
    rest = name.substr(3);
  else
    return std::nullopt;
  auto dash = rest.find('-');
  std::string_view digits = rest.substr(0, dash);
  if (digits.empty()) return std::nullopt;
  int pid = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), pid);
  if (ec != std::errc() || end != digits.data() + digits.size() || pid <= 0) return std::nullopt;
  return pid;
}

bool process_alive(int pid, std::string_view proc_root) {
  return path_exists(std::string(proc_root) + "/" + std::to_string(pid));
}

result<std::vector<std::string>> sweep_orphan_veths(netlink::socket& s,
                                                    const std::function<bool(int)>& alive) {
  auto links = netlink::list_links(s);
  if (!links) return std::move(links).err();
  std::vector<std::string> deleted;
  for (const auto& l : *links) {
    auto pid = veth_owner_pid(l.name);
    if (!pid || alive(*pid)) continue;
    // Deleting one end of a pair removes the other too; a later iteration
    // then finds it gone, which delete_link treats as success.
    if (netlink::delete_link(s, l.name)) deleted.push_back(l.name);
  }
  return deleted;
}

}  // namespace overlayd::host
