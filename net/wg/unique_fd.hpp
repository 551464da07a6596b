// The device's fds use the daemon's one fd owner (core/unique_fd.hpp).
#pragma once

#include "core/unique_fd.hpp"

namespace overlayd::wg {
using overlayd::unique_fd;
}  // namespace overlayd::wg
