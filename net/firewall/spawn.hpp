// Runs a helper tool (iptables) without a shell and waits for it, bounded.
#pragma once

#include <string>
#include <vector>

#include "core/error.hpp"

namespace overlayd::firewall {

// Runs argv[0] (looked up on PATH) with stdout/stderr discarded; returns its
// exit status (0..255), or an error when it cannot be started or is killed.
result<int> run_tool(const std::vector<std::string>& argv);

}  // namespace overlayd::firewall
