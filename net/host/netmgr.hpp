// Drop-ins that tell systemd-networkd and NetworkManager to leave our `zl-*`
// links alone. With a permissive default match they would bring them up,
// run DHCP on them, and (seen on a CI runner) networkd hit its watchdog
// processing a `zl-*` link. Written only where the manager's config dir
// exists; the directories are injectable so tests use temp dirs.
#pragma once

#include <string>
#include <vector>

namespace overlayd::host {

struct manager_dirs {
  std::string networkd = "/etc/systemd/network";
  std::string network_manager = "/etc/NetworkManager/conf.d";
};

struct dropin {
  std::string path;
  std::string content;
};

// The drop-ins to write for the directories that exist (pure apart from
// the existence check).
std::vector<dropin> unmanaged_dropins(const manager_dirs& dirs);

inline constexpr const char* networkd_dropin_name = "00-overlayd-unmanaged.network";
inline constexpr const char* nm_dropin_name = "99-overlayd-unmanaged.conf";

}  // namespace overlayd::host
