// Orphan predicates from the seed, and the PID-keyed veth sweep.
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "net/netlink/socket.hpp"

namespace overlayd::host {

// True iff `name` is one of our per-service bridges (`zl-…-b`) or dedicated
// devices (`zl-…-d`) and is neither `live` (should exist) nor `protected_`
// (the global `-g` device, the `-sh` shared bridge, live in-memory ones).
// The `zl-` gate keeps it off unrelated host links; the `-b`/`-d` gate off
// the global/shared devices and the veth namespace (swept by PID below).
bool is_orphan_service_bridge(std::string_view name, const std::set<std::string, std::less<>>& live,
                              const std::set<std::string, std::less<>>& protected_);

// The container PID in a `veth-<pid>-<tag>` / `vc-<pid>-<tag>` name.
std::optional<int> veth_owner_pid(std::string_view name);

// Whether a process exists (by /proc/<pid> under `proc_root`).
bool process_alive(int pid, std::string_view proc_root = "/proc");

// Deletes every `veth-<pid>-*` / `vc-<pid>-*` link whose PID is not alive;
// returns the names deleted. `alive` is injectable for tests.
result<std::vector<std::string>> sweep_orphan_veths(
    netlink::socket& s, const std::function<bool(int)>& alive = [](int pid) {
      return process_alive(pid);
    });

}  // namespace overlayd::host
