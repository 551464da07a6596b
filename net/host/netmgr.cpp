#include "net/host/netmgr.hpp"

#include "net/host/files.hpp"

namespace overlayd::host {

std::vector<dropin> unmanaged_dropins(const manager_dirs& dirs) {
  std::vector<dropin> out;
  // networkd: the lexically first matching .network file wins, hence "00-".
  if (!dirs.networkd.empty() && is_directory(dirs.networkd))
    out.push_back({dirs.networkd + "/" + networkd_dropin_name,
                   "# Written by overlayd; removed on teardown.\n"
                   "[Match]\nName=zl-*\n\n[Link]\nUnmanaged=yes\n"});
  if (!dirs.network_manager.empty() && is_directory(dirs.network_manager))
    out.push_back({dirs.network_manager + "/" + nm_dropin_name,
                   "# Written by overlayd; removed on teardown.\n"
                   "[keyfile]\nunmanaged-devices=interface-name:zl-*\n"});
  return out;
}

}  // namespace overlayd::host
