// Who is on the other end of an IPC connection, as the kernel says
// (SO_PEERCRED: taken when the client connected, cannot be forged by it).
// Shown in the trace (the requests a connection made) and in /metrics.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace overlayd::ipc {

struct peer_cred {
  int32_t pid = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
};

// The credentials of a connected AF_UNIX socket's peer; nullopt when the
// kernel gives none (not a Unix socket).
std::optional<peer_cred> peer_cred_of(int fd) noexcept;

}  // namespace overlayd::ipc
